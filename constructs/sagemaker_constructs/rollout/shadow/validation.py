"""Construction-time validation of ``ShadowEvaluation``'s arguments (one collected ValueError).

The rules a shadow evaluation shares with the rollout (whole seconds, bake and interval,
polling, the evaluator's concurrency, the network, the policy, names, retention, no endpoint of
inference components, two different variant names, the history budget's limit) are the
rollout's own functions; which variants the endpoint must list and the worst case of an
evaluation are the shadow evaluation's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2

from ..._validation import ValidationProblems, is_token
from ...log_groups import check_retention
from ..rules import evaluator_module
from ..validation import (
    check_history_budget,
    reject_component_endpoint,
    validate_bake,
    validate_durations,
    validate_network,
    validate_policy,
    validate_polling,
    validate_reserved_concurrency,
    validate_state_machine_name,
    validate_variant_names,
)

__all__ = ["shadow_history_events", "validate_shadow_evaluation"]


def shadow_history_events(
    *, bake_seconds: int, interval_seconds: int, max_extensions: int, max_polls: int
) -> int:
    """Worst-case history events of a shadow evaluation (the evaluator's rule, which every
    execution's input is checked with)."""
    events: int = evaluator_module("shadow_input").shadow_history_events(
        bake_seconds=bake_seconds,
        interval_seconds=interval_seconds,
        max_extensions=max_extensions,
        max_polls=max_polls,
    )
    return events


def validate_shadow_evaluation(
    problems: ValidationProblems,
    *,
    endpoint: object,
    production_variant: str,
    shadow_variant: str,
    bake_time: cdk.Duration,
    interval: cdk.Duration,
    max_extensions: int,
    poll_interval: cdk.Duration,
    max_polls: int,
    policy: dict[str, Any],
    log_retention_days: int,
    state_machine_name: str | None,
    evaluator_reserved_concurrency: int | None,
    vpc: ec2.IVpc,
    security_groups: Sequence[ec2.ISecurityGroup] | None,
) -> None:
    """Collect every problem of the arguments, then raise one ValueError."""
    validate_network(problems, vpc, security_groups)
    validate_durations(
        problems, bake_time=bake_time, interval=interval, poll_interval=poll_interval
    )
    validate_reserved_concurrency(problems, evaluator_reserved_concurrency)
    _validate_variants(problems, endpoint, production_variant, shadow_variant)
    bake, every = validate_bake(problems, bake_time, interval)
    validate_polling(
        problems, poll_interval=poll_interval, max_extensions=max_extensions, max_polls=max_polls
    )
    _validate_history(problems, bake, every, max_extensions, max_polls)
    check_retention(problems, "log_retention_days", log_retention_days)
    validate_state_machine_name(problems, state_machine_name)
    validate_policy(problems, policy)
    problems.raise_if_any()


def _known(endpoint: object, attribute: str) -> list[str] | None:
    """The endpoint's variant names of ``attribute``, when it knows them at synth time."""
    names = getattr(endpoint, attribute, None)
    if isinstance(names, list) and not is_token(names):
        return [str(name) for name in names]
    return None


def _validate_variants(
    problems: ValidationProblems, endpoint: object, production_variant: str, shadow_variant: str
) -> None:
    """Valid, different names; with an ``Endpoint`` of this library, its one production
    variant and its shadow variant (SageMaker accepts one shadow variant beside exactly one
    production variant: CreateEndpointConfig API reference, ``ShadowProductionVariants``)."""
    if reject_component_endpoint(
        problems,
        endpoint,
        "it has no shadow variant",
        "evaluate a shadow variant of an Endpoint of model variants",
    ):
        return
    if not validate_variant_names(
        problems,
        ("production_variant", production_variant),
        ("shadow_variant", shadow_variant),
        "name the shadow variant (ShadowProductionVariants) of the endpoint",
    ):
        return
    production = _known(endpoint, "variant_names")
    shadows = _known(endpoint, "shadow_variant_names")
    if production is not None:
        problems.check(
            production_variant in production,
            "production_variant",
            production_variant,
            f"must be a production variant of the endpoint ({', '.join(production)})",
            "name the endpoint's production variant",
        )
        problems.check(
            shadow_variant not in production,
            "shadow_variant",
            shadow_variant,
            "is a production variant of the endpoint: it serves callers, it is no shadow",
            "name the endpoint's shadow variant (ShadowProductionVariants)",
        )
    if shadows is not None and shadow_variant not in (production or []):
        problems.check(
            shadow_variant in shadows,
            "shadow_variant",
            shadow_variant,
            "must be a shadow variant of the endpoint "
            f"({', '.join(shadows) if shadows else 'it has none'})",
            "give the endpoint this shadow variant (shadow_variants), or name the one it has",
        )


def _validate_history(
    problems: ValidationProblems,
    bake: int | None,
    every: int | None,
    max_extensions: int,
    max_polls: int,
) -> None:
    """The worst case of an evaluation fits the history budget (the rule every execution's
    input is checked with)."""
    if bake is None or every is None or every <= 0:
        return
    if not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0
        for n in (max_extensions, max_polls)
    ):
        return
    events = shadow_history_events(
        bake_seconds=bake,
        interval_seconds=every,
        max_extensions=max_extensions,
        max_polls=max_polls,
    )
    check_history_budget(
        problems,
        "bake_time, interval, max_extensions, max_polls",
        f"{bake} s, {every} s, {max_extensions}, {max_polls}",
        events=events,
        execution="an evaluation",
        fix="shorten bake_time, lengthen interval, or allow fewer extensions or polls",
    )
