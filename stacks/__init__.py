"""The CDK app's stacks: configuration model, per-environment stack, composition."""
