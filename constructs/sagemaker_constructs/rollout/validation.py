"""Construction-time validation of ``CanaryRollout``'s arguments (one collected ValueError)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2

from .. import aws_rules as aws
from .._network import check_vpc_cidr
from .._validation import ValidationProblems, is_token
from ..log_groups import check_retention
from .props import InstanceScaling
from .rules import (
    HISTORY_EVENT_BUDGET,
    HISTORY_EVENT_LIMIT,
    STEPS_EXAMPLE,
    STEPS_RULE,
    check_policy,
    history_events,
    steps_problem,
)

__all__ = [
    "STATE_MACHINE_NAME_PATTERN",
    "VARIANT_NAME_PATTERN",
    "check_history_budget",
    "reject_component_endpoint",
    "seconds",
    "validate_bake",
    "validate_durations",
    "validate_network",
    "validate_policy",
    "validate_polling",
    "validate_reserved_concurrency",
    "validate_rollout",
    "validate_state_machine_name",
    "validate_variant_names",
]

#: SageMaker production variant names.
VARIANT_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
STATE_MACHINE_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,80}$")


def seconds(value: cdk.Duration) -> int | None:
    """Whole seconds of ``value``; ``None`` for a token."""
    if is_token(value.to_string()):
        return None
    return int(value.to_seconds(integral=False))  # a fraction is reported by whole_seconds


def validate_network(
    problems: ValidationProblems,
    vpc: ec2.IVpc,
    security_groups: Sequence[ec2.ISecurityGroup] | None,
    dynamodb_prefix_list_id: str | None = None,
) -> None:
    """The Lambdas' own groups need the VPC's CIDR; the prefix list is a rule of those only."""
    aws.check_prefix_list_id(problems, "dynamodb_prefix_list_id", dynamodb_prefix_list_id)
    if security_groups is None:
        check_vpc_cidr(problems, "vpc", vpc)
        return
    problems.check(
        dynamodb_prefix_list_id is None,
        "dynamodb_prefix_list_id",
        dynamodb_prefix_list_id,
        "applies only to the security group the guard gets when security_groups is not given",
        "add the DynamoDB prefix-list rule to your own groups and remove dynamodb_prefix_list_id",
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_rollout(
    problems: ValidationProblems,
    *,
    endpoint: object,
    baseline_variant: str,
    canary_variant: str,
    steps: list[Any],
    bake_time: cdk.Duration,
    interval: cdk.Duration,
    max_extensions: int,
    poll_interval: cdk.Duration,
    max_polls: int,
    policy: dict[str, Any],
    approval_steps: list[Any],
    approval_timeout: cdk.Duration,
    log_retention_days: int,
    state_machine_name: str | None,
    instance_scaling: InstanceScaling | None,
    evaluator_reserved_concurrency: int | None,
    vpc: ec2.IVpc,
    security_groups: Sequence[ec2.ISecurityGroup] | None,
    dynamodb_prefix_list_id: str | None,
    capacity: bool = False,
    hook_calls: dict[str, int] | None = None,
) -> None:
    """Collect every problem of the arguments, then raise one ValueError (``capacity``: the
    state machine has the capacity phases, ``hook_calls`` its hook calls, which the history
    budget counts)."""
    validate_network(problems, vpc, security_groups, dynamodb_prefix_list_id)
    validate_durations(
        problems,
        bake_time=bake_time,
        interval=interval,
        poll_interval=poll_interval,
        approval_timeout=approval_timeout,
    )
    _validate_instance_scaling(problems, instance_scaling)
    validate_reserved_concurrency(problems, evaluator_reserved_concurrency)
    _validate_endpoint(problems, endpoint, baseline_variant, canary_variant)
    _validate_schedule(
        problems,
        steps,
        bake_time,
        interval,
        max_extensions,
        max_polls,
        capacity=capacity,
        hook_calls=hook_calls,
    )
    _validate_limits(
        problems,
        poll_interval=poll_interval,
        max_extensions=max_extensions,
        max_polls=max_polls,
        approval_timeout=approval_timeout,
        approval_steps=approval_steps,
        steps=steps,
        log_retention_days=log_retention_days,
        state_machine_name=state_machine_name,
    )
    validate_policy(problems, policy)
    problems.raise_if_any()


def _validate_instance_scaling(
    problems: ValidationProblems, instance_scaling: InstanceScaling | None
) -> None:
    if instance_scaling is not None:
        problems.check(
            instance_scaling.min_instances >= 1,
            "instance_scaling.min_instances",
            instance_scaling.min_instances,
            "must be an integer of at least 1 (a real-time variant keeps one instance)",
            "pass min_instances=1 or more",
        )
        problems.check(
            instance_scaling.max_instances >= max(1, instance_scaling.min_instances),
            "instance_scaling.max_instances",
            instance_scaling.max_instances,
            "must be an integer of at least min_instances",
            "pass the instance count that serves all traffic",
        )


def _validate_endpoint(
    problems: ValidationProblems, endpoint: object, baseline_variant: str, canary_variant: str
) -> None:
    if reject_component_endpoint(
        problems,
        endpoint,
        "its variants carry no model and no traffic weight, so there is no weight to shift",
        "ship the new version as a change of the InferenceComponent (its RollingUpdate "
        "with rollback_alarms replaces the copies batch by batch), or roll out on an "
        "Endpoint of model variants",
    ):
        return
    known = getattr(endpoint, "variant_names", None)  # an Endpoint knows its variants
    if isinstance(known, list) and not is_token(known):
        for argument, variant in (
            ("baseline_variant", baseline_variant),
            ("canary_variant", canary_variant),
        ):
            problems.check(
                variant in known,
                argument,
                variant,
                f"must be a variant of the endpoint ({', '.join(known)})",
                "name one of the endpoint's production variants",
            )
    validate_variant_names(
        problems,
        ("baseline_variant", baseline_variant),
        ("canary_variant", canary_variant),
        "name the variant that serves the new model",
    )


def _validate_schedule(
    problems: ValidationProblems,
    steps: list[Any],
    bake_time: cdk.Duration,
    interval: cdk.Duration,
    max_extensions: int,
    max_polls: int,
    *,
    capacity: bool = False,
    hook_calls: dict[str, int] | None = None,
) -> None:
    """Steps, bake time and interval, and whether a rollout fits in the execution history
    (the rule every execution's input is checked with, ``rules.history_events``)."""
    _validate_steps(problems, steps)
    bake, every = validate_bake(problems, bake_time, interval)
    if (
        bake is not None
        and every is not None
        and every > 0
        and _is_int(max_extensions)
        and _is_int(max_polls)
        and steps_problem(steps) is None
    ):
        events = history_events(
            steps=len(steps),
            bake_seconds=bake,
            interval_seconds=every,
            max_extensions=max_extensions,
            max_polls=max_polls,
            capacity=capacity,
            hook_calls=hook_calls,
        )
        check_history_budget(
            problems,
            "bake_time, interval, max_extensions, max_polls, steps",
            f"{bake} s, {every} s, {max_extensions}, {max_polls}, {len(steps)} steps",
            events=events,
            execution="a rollout",
            fix="shorten bake_time, lengthen interval, or use fewer steps, extensions or polls",
        )


def _validate_limits(
    problems: ValidationProblems,
    *,
    poll_interval: cdk.Duration,
    max_extensions: int,
    max_polls: int,
    approval_timeout: cdk.Duration,
    approval_steps: list[Any],
    steps: list[Any],
    log_retention_days: int,
    state_machine_name: str | None,
) -> None:
    validate_polling(
        problems, poll_interval=poll_interval, max_extensions=max_extensions, max_polls=max_polls
    )
    problems.check_range(
        "approval_timeout",
        seconds(approval_timeout),
        minimum=60,
        maximum=365 * 86400,
        unit="seconds",
    )
    if len(set(map(repr, approval_steps))) != len(approval_steps) or any(
        s not in steps for s in approval_steps
    ):
        problems.add(
            "approval_steps",
            approval_steps,
            f"must be distinct percentages among steps {steps}",
            "list only percentages that are in steps",
        )
    check_retention(problems, "log_retention_days", log_retention_days)
    validate_state_machine_name(problems, state_machine_name)


def _validate_steps(problems: ValidationProblems, steps: list[Any]) -> None:
    problem = steps_problem(steps)
    if problem is not None:
        problems.add(
            "steps", steps, f"must be {STEPS_RULE} ({problem})", f"pass for example {STEPS_EXAMPLE}"
        )


def validate_policy(problems: ValidationProblems, policy: dict[str, Any]) -> None:
    """The evaluator's own parser judges the policy: what it rejects never reaches a template."""
    if is_token(policy):
        return
    for objection in check_policy(policy):
        problems.add_reported(
            objection, "change it to an allowed value, or leave the key out for its default"
        )


# -- rules every state machine of the rollout package shares ---------------------------------


def validate_durations(problems: ValidationProblems, **durations: cdk.Duration) -> None:
    """Each of ``durations`` (argument -> value) is a whole number of seconds."""
    for argument, duration in durations.items():
        problems.whole_seconds(argument, duration)


def reject_component_endpoint(
    problems: ValidationProblems, endpoint: object, rule: str, fix: str
) -> bool:
    """Whether ``endpoint`` hosts inference components (a ``ComponentEndpoint``), which a
    state machine of this package cannot judge (it is then a problem: why, ``rule``, and
    what to do instead, ``fix``)."""
    if not getattr(endpoint, "hosts_inference_components", False):
        return False
    problems.add(
        "endpoint",
        getattr(getattr(endpoint, "node", None), "path", endpoint),
        f"is an endpoint of inference components: {rule}",
        fix,
    )
    return True


def validate_variant_names(
    problems: ValidationProblems, first: tuple[str, str], second: tuple[str, str], fix: str
) -> bool:
    """Two variants, each ``(argument, name)``: valid variant names, and different (else
    ``fix`` says which the second must name). Returns whether they differ."""
    for argument, variant in (first, second):
        problems.check_name(argument, variant, pattern=VARIANT_NAME_PATTERN)
    if first[1] == second[1] and not is_token(second[1]):
        problems.add(second[0], second[1], f"must differ from {first[0]}", fix)
        return False
    return True


def check_history_budget(
    problems: ValidationProblems,
    arguments: str,
    values: str,
    *,
    events: int,
    execution: str,
    fix: str,
) -> None:
    """The worst case of an execution (``execution``: "a rollout"), ``events`` history
    events, fits the budget. A rule of several arguments together: the problem names each of
    them (``arguments``, their ``values``)."""
    if events > HISTORY_EVENT_BUDGET:
        problems.add(
            arguments,
            values,
            f"{execution} could take {events} history events, more than the "
            f"{HISTORY_EVENT_BUDGET} allowed (a Standard workflow holds {HISTORY_EVENT_LIMIT})",
            fix,
        )


def validate_bake(
    problems: ValidationProblems, bake_time: cdk.Duration, interval: cdk.Duration
) -> tuple[int | None, int | None]:
    """``interval`` 60 s - 1 h (SageMaker publishes per-minute metrics), ``bake_time`` 60 s -
    7 days and at least ``interval``; returns both in seconds (``None`` for a token)."""
    bake = seconds(bake_time)
    every = seconds(interval)
    problems.check_range("interval", every, minimum=60, maximum=3600, unit="seconds")
    problems.check_range("bake_time", bake, minimum=60, maximum=7 * 86400, unit="seconds")
    if bake is not None and every is not None and bake < every:
        problems.add(
            "bake_time, interval",
            f"{bake} s, {every} s",
            "bake_time must be at least interval",
            "lengthen bake_time or shorten interval",
        )
    return bake, every


def validate_polling(
    problems: ValidationProblems,
    *,
    poll_interval: cdk.Duration,
    max_extensions: int,
    max_polls: int,
) -> None:
    """``poll_interval`` 1 s - 1 h, ``max_extensions`` 0-1000, ``max_polls`` 1-10000."""
    poll = seconds(poll_interval)
    problems.check_range("poll_interval", poll, minimum=1, maximum=3600, unit="seconds")
    for argument, number, low, high in (
        ("max_extensions", max_extensions, 0, 1000),
        ("max_polls", max_polls, 1, 10000),
    ):
        problems.check_range(argument, number, minimum=low, maximum=high)


def validate_reserved_concurrency(
    problems: ValidationProblems, evaluator_reserved_concurrency: int | None
) -> None:
    """At least 1 when given: 0 is a valid reservation for CloudFormation, but it stops the
    evaluator from ever running (every rollout would roll back)."""
    aws.check_range(
        problems,
        "evaluator_reserved_concurrency",
        evaluator_reserved_concurrency,
        aws.LAMBDA_FUNCTION,
        "ReservedConcurrentExecutions",
        minimum=1,
    )


def validate_state_machine_name(
    problems: ValidationProblems, state_machine_name: str | None
) -> None:
    """1-80 letters, digits, '-' and '_' (skipped when absent or a token)."""
    if (
        state_machine_name is not None
        and not is_token(state_machine_name)
        and not STATE_MACHINE_NAME_PATTERN.match(state_machine_name)
    ):
        problems.add(
            "state_machine_name",
            state_machine_name,
            "must be 1-80 characters of letters, digits, '-' and '_'",
            "shorten it or remove other characters",
        )
