"""Composition: one :class:`EnvironmentStack` per configured environment."""

from __future__ import annotations

import aws_cdk as cdk

from sagemaker_constructs.compliance import add_compliance_checks

from .config import AppConfig, load_config
from .environment_stack import EnvironmentStack
from .pipeline_stack import PipelineStack

__all__ = ["build_app"]


def build_app(app: cdk.App) -> tuple[AppConfig, list[EnvironmentStack]]:
    """Add the compliance checks and every selected environment's stack to ``app``.

    When a pipeline is configured (and not left out by ``-c environments=...``), the app
    also holds the promotion pipeline's stack, which deploys every environment in turn.
    """
    config = load_config(app.node)
    add_compliance_checks(app)
    stacks = [
        EnvironmentStack(
            app,
            f"{config.project}-{env.name}",
            project=config.project,
            config=env,
            pipeline_account=config.pipeline_account,
        )
        for env in config.environments
    ]
    if config.pipeline is not None:
        PipelineStack(app, f"{config.project}-pipeline", config=config)
    return config, stacks
