"""How large a pipeline definition may be where it is deployed, and the checks that say so.

A definition reaches SageMaker in one of two ways:

- **inline** (``PipelineDefinitionBody``): the template carries the JSON text, and
  CloudFormation fills in the values known only at deploy time (``role.role_arn``,
  ``bucket.bucket_name``): the only place such values can be substituted without a custom
  resource. The template carries the text as a JSON string (every ``"`` escaped), so the
  definition costs more bytes in the template than characters in SageMaker;
- **from S3** (``PipelineDefinitionS3Location``): the definition is staged as a file asset,
  complete at synth. CloudFormation does not resolve anything inside an asset, so every value
  substituted into it must be known at synth (a literal string).

CloudFormation accepts a template of at most 1 MB from S3 (the CDK CLI uploads every template
over 50 KiB; the service counts 1,000,000 bytes), which is below SageMaker's 1,048,576
characters once quotes are escaped. So:

- definitions without deploy-time values go to S3 above
  :data:`~sagemaker_constructs.pipeline.INLINE_DEFINITION_MAX_LENGTH` characters, up to
  SageMaker's limit;
- definitions with deploy-time values are inlined whatever their length, as long as the
  inlined definitions of one stack take at most :data:`INLINE_TEMPLATE_MAX_BYTES` of its
  template (checked at construction, :func:`inline_template_bytes`), and every template of
  the app stays within :data:`MAX_TEMPLATE_BYTES` (checked after synthesis,
  :class:`TemplateSizeCheck`, registered only when a stack inlines a large definition).

A custom resource that substitutes at deploy time was not chosen: a Lambda function, its role
and its logs for every stack, with the cdk-nag findings they bring, to lift a limit that
literal values (or a role of a known name, whose ARN is a literal) already lift.
"""

from __future__ import annotations

import json
import os
import weakref
from typing import Any

import aws_cdk as cdk
import jsii

__all__ = [
    "INLINE_TEMPLATE_MAX_BYTES",
    "MAX_TEMPLATE_BYTES",
    "TemplateSizeCheck",
    "inline_template_bytes",
    "require_template_size_check",
]

#: CloudFormation's limit on a template body uploaded to S3 ("1 MB"; the service rejects a
#: template over 1,000,000 bytes).
MAX_TEMPLATE_BYTES = 1_000_000

#: The bytes the inlined pipeline definitions with deploy-time values of one stack may take in
#: its template: 100,000 bytes of :data:`MAX_TEMPLATE_BYTES` stay for the stack's other
#: resources (a pipeline with its role and schedule takes 10-20 KB).
INLINE_TEMPLATE_MAX_BYTES = 900_000

#: The depth of ``PipelineDefinitionBody`` in a template (Resources > id > Properties >
#: PipelineDefinition > PipelineDefinitionBody): each line of the value is indented this much
#: more than when dumped alone (the CDK writes templates with an indent of one space).
_BODY_DEPTH = 5


def inline_template_bytes(resolved_body: Any) -> int:
    """The bytes ``resolved_body`` (a ``PipelineDefinitionBody`` as ``stack.resolve`` returns
    it: a string, or an ``Fn::Join`` of strings and references) takes in a template, written
    as the CDK writes templates (UTF-8, indent of one space)."""
    text = json.dumps(resolved_body, indent=1, ensure_ascii=False)
    return len(text.encode("utf-8")) + text.count("\n") * _BODY_DEPTH


_CHECKED_STAGES: weakref.WeakSet[cdk.Stage] = weakref.WeakSet()


def require_template_size_check(stage: cdk.Stage) -> None:
    """Add :class:`TemplateSizeCheck` to ``stage`` (once)."""
    if stage in _CHECKED_STAGES:
        return
    _CHECKED_STAGES.add(stage)
    cdk.Validations.of(stage).add_plugins(TemplateSizeCheck())


@jsii.implements(cdk.IPolicyValidationPlugin)
class TemplateSizeCheck:
    """A validation plugin: every synthesized template is at most :data:`MAX_TEMPLATE_BYTES`
    (CloudFormation would reject a larger one at deploy time)."""

    @property
    def name(self) -> str:
        return "sagemaker-constructs-template-size"

    @property
    def version(self) -> str | None:
        return None

    @property
    def rule_ids(self) -> list[str] | None:
        return ["TemplateSize"]

    def validate(self, context: cdk.IPolicyValidationContext) -> cdk.PolicyValidationPluginReport:
        violations = []
        for path in context.template_paths:
            size = os.path.getsize(path)
            if size <= MAX_TEMPLATE_BYTES:
                continue
            violations.append(
                cdk.PolicyViolation(
                    rule_name="TemplateSize",
                    description=(
                        f"the template is {size:,} bytes; CloudFormation accepts at most "
                        f"{MAX_TEMPLATE_BYTES:,} bytes (template body in S3). A pipeline "
                        "definition with deploy-time substitutions is inlined into it"
                    ),
                    fix=(
                        "move the pipeline to a stack of its own, or substitute values known "
                        "at synth (literal strings) so that the definition is uploaded to S3 "
                        "as an asset instead of inlined"
                    ),
                    violating_resources=[
                        cdk.PolicyViolatingResource(
                            resource_logical_id="Template",
                            template_path=path,
                            locations=["Resources"],
                        )
                    ],
                )
            )
        return cdk.PolicyValidationPluginReport(success=not violations, violations=violations)
