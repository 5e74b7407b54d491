"""Composition: one :class:`EnvironmentStack` per configured environment."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import aws_cdk as cdk

from sagemaker_constructs.compliance import add_compliance_checks

from .config import (
    RESOLVE_CANDIDATE,
    AppConfig,
    ConfigError,
    configured_versions,
    load_config,
    with_releases,
)
from .environment_stack import EnvironmentStack, registry_host
from .pipeline_stack import PipelineStack
from .registry import NoApprovedPackageError, resolve_releases, sagemaker_client

__all__ = ["build_app"]


def build_app(
    app: cdk.App, *, registry_client: Callable[[str], Any] = sagemaker_client
) -> tuple[AppConfig, list[EnvironmentStack]]:
    """Add the compliance checks and every selected environment's stack to ``app``.

    When a pipeline is configured (and not left out by ``-c environments=...``), the app
    also holds the promotion pipeline's stack, which deploys every environment in turn.

    Only with ``-c resolve_candidate=latest-approved`` does the app call AWS: it asks the
    registry (a client from ``registry_client(region)``) what each environment that rolls out
    should serve: its model is the newest version promoted there (the pipeline records each
    promotion in the registry), its candidate the newest approved version newer than that.
    """
    config = _resolve_releases(load_config(app.node), registry_client)
    add_compliance_checks(app)
    stacks = [
        EnvironmentStack(
            app,
            f"{config.project}-{env.name}",
            project=config.project,
            config=env,
            pipeline_account=config.pipeline_account,
            registry=registry_host(config, env),
            candidate_phase=config.candidate_phase,
        )
        for env in config.environments
    ]
    if config.pipeline is not None:
        PipelineStack(app, f"{config.project}-pipeline", config=config)
    return config, stacks


def _resolve_releases(config: AppConfig, client: Callable[[str], Any]) -> AppConfig:
    """``config`` with each environment's model and candidate from the registry, when asked."""
    if config.resolve_candidate is None:
        return config
    env = config.registry_environment
    group = config.registry_group_arn
    assert env is not None
    assert group is not None
    source = f"context '{RESOLVE_CANDIDATE}'"
    try:
        releases = resolve_releases(
            client(env.region), group=group, configured=configured_versions(config)
        )
    except NoApprovedPackageError as error:
        raise ConfigError(f"{source}: {error}") from None
    resolved = "; ".join(
        f"{name}: model {r.model or 'from cdk.json'}, candidate {r.candidate or 'none'}"
        for name, r in releases.items()
    )
    # What the registry said, in the synth step's log.
    print(f"Model registry {group}: {resolved}", file=sys.stderr)
    return with_releases(config, releases, source=f"{source} (resolved {resolved})")
