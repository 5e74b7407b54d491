"""What a rollout knows of its variants' autoscaling, and the rules that go with it.

An ``Endpoint`` says it itself: ``endpoint.scalable_targets`` (the ``CfnScalableTarget`` of each
variant with ``VariantAutoscaling``) and its endpoint configuration's ``InitialInstanceCount``
per variant. An imported endpoint says nothing, so ``CanaryRollout(variant_scaling=...)`` lists
its autoscaled variants (:class:`~.props.VariantScalingLimits`). Either way the result is the
definition's :class:`~.definition.Capacity`, or ``None`` when neither variant is autoscaled
(the state machine then has no capacity phases).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._validation import ValidationProblems, is_token
from .definition import Capacity, Limits
from .props import InstanceScaling, VariantScalingLimits

__all__ = ["variant_capacity"]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _template_counts(endpoint: object) -> dict[str, int]:
    """``InitialInstanceCount`` per variant name of an ``Endpoint``'s configuration."""
    config = getattr(endpoint, "endpoint_config", None)
    variants = getattr(config, "production_variants", None)
    counts: dict[str, int] = {}
    if isinstance(variants, list):
        for variant in variants:
            name = getattr(variant, "variant_name", None)
            count = _int(getattr(variant, "initial_instance_count", None))
            if isinstance(name, str) and count is not None:
                counts[name] = count
    return counts


def _from_endpoint(
    problems: ValidationProblems,
    targets: Mapping[str, Any],
    counts: Mapping[str, int],
    variant: str,
) -> Limits | None:
    target = targets.get(variant)
    if target is None:
        return None
    low, high = _int(target.min_capacity), _int(target.max_capacity)
    count = counts.get(variant, low)
    if low is None or high is None or count is None:
        problems.add(
            "endpoint",
            f"variant {variant}: MinCapacity {target.min_capacity!r}, MaxCapacity "
            f"{target.max_capacity!r}",
            "the scaling limits of an autoscaled variant of the rollout must be known at synth "
            "(the rollout restores them when it ends)",
            "pass literal capacities to the variant's autoscaling",
        )
        return None
    return Limits(min_capacity=low, max_capacity=high, instance_count=count)


def _from_prop(
    problems: ValidationProblems, variant: str, limits: VariantScalingLimits
) -> Limits | None:
    argument = f"variant_scaling[{variant!r}]"
    before = len(problems)
    problems.check_range(f"{argument}.min_capacity", limits.min_capacity, minimum=0)
    problems.check(
        limits.max_capacity >= max(1, limits.min_capacity),
        f"{argument}.max_capacity",
        limits.max_capacity,
        "must be at least 1 and at least min_capacity (Application Auto Scaling's rule)",
        "pass the scalable target's MaxCapacity",
    )
    problems.check(
        limits.min_capacity <= limits.instance_count <= limits.max_capacity
        and limits.instance_count >= 1,
        f"{argument}.instance_count",
        limits.instance_count,
        f"must be at least 1 and between min_capacity ({limits.min_capacity}) and "
        f"max_capacity ({limits.max_capacity})",
        "pass the variant's InitialInstanceCount",
    )
    if len(problems) > before:
        return None
    return Limits(
        min_capacity=limits.min_capacity,
        max_capacity=limits.max_capacity,
        instance_count=limits.instance_count,
    )


def variant_capacity(
    problems: ValidationProblems,
    *,
    endpoint: object,
    baseline_variant: str,
    canary_variant: str,
    variant_scaling: Mapping[str, VariantScalingLimits] | None,
    instance_scaling: InstanceScaling | None,
) -> Capacity | None:
    """The capacity phases' bindings (``None`` without an autoscaled variant); problems of
    ``variant_scaling`` and of combining autoscaling with ``instance_scaling`` are added to
    ``problems`` (the caller raises)."""
    targets = getattr(endpoint, "scalable_targets", None)
    is_endpoint = isinstance(targets, Mapping)
    counts = _template_counts(endpoint) if is_endpoint else {}
    source = "endpoint"
    limits: dict[str, Limits | None] = {}
    if variant_scaling is not None:
        source = "variant_scaling"
        if is_endpoint:
            problems.add(
                "variant_scaling, endpoint",
                sorted(variant_scaling),
                "an Endpoint's autoscaling is read from its VariantAutoscaling; variant_scaling "
                "describes an imported endpoint's autoscaled variants",
                "remove variant_scaling",
            )
            return None
        for name, given in variant_scaling.items():
            if name not in (baseline_variant, canary_variant) and not is_token(name):
                problems.add(
                    "variant_scaling",
                    name,
                    f"must name the baseline ({baseline_variant}) or the canary "
                    f"({canary_variant}) variant",
                    "list only the rollout's autoscaled variants",
                )
                continue
            limits[name] = _from_prop(problems, name, given)
    elif is_endpoint:
        assert isinstance(targets, Mapping)
        for name in (baseline_variant, canary_variant):
            limits[name] = _from_endpoint(problems, targets, counts, name)
    baseline, canary = limits.get(baseline_variant), limits.get(canary_variant)
    autoscaled = [name for name in (baseline_variant, canary_variant) if limits.get(name)]
    if not autoscaled:
        return None
    if instance_scaling is not None:
        problems.add(
            f"instance_scaling, {source}",
            f"instance_scaling={instance_scaling}, autoscaled: {', '.join(autoscaled)}",
            "instance_scaling sets the variants' instance counts from a fixed table while "
            "Application Auto Scaling sets them by traffic: they would undo each other. With "
            "autoscaled variants the rollout raises the canary's capacity before each step "
            "itself",
            "remove instance_scaling (or the variants' autoscaling)",
        )
        return None
    return Capacity(
        baseline=baseline,
        canary=canary,
        baseline_instances=counts.get(baseline_variant),
        canary_instances=counts.get(canary_variant),
    )
