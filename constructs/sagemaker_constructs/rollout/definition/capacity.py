"""Phase "capacity": the canary gets its share of the fleet before the weights move.

Present only when a variant of the rollout is autoscaled (an Application Auto Scaling scalable
target on ``sagemaker:variant:DesiredInstanceCount``). The autoscaler sizes both variants by
their traffic, so a canary that is about to take ``p`` % of the traffic first gets at least
``ceil(fleet * p / 100)`` instances, where ``fleet`` is the instances both variants run now
(together they serve all traffic).

Entry ``States.RAISE_CAPACITY`` (from the traffic phase once the endpoint is ``InService``):
read both variants' instance counts, look the canary's share up (``capacity_table``: JSONPath
cannot multiply), raise an autoscaled canary's scalable target (``MinCapacity`` to the share,
``MaxCapacity`` to at least the share: ``RegisterScalableTarget`` updates the target and keeps
its policies, and AWS moves the capacity into the new range itself), wait for ``InService``,
and when the canary still runs fewer instances, set its ``DesiredInstanceCount`` (weights
unchanged) and wait again. Exits: ``States.SET_WEIGHTS`` once the canary runs its share, or
``States.STEP_ERROR`` (``CapacityNotReached`` in the cause).

After a verified rollback (``States.RESTORE_AFTER_ROLLBACK``) the canary's scalable target gets
the template's limits back (its instance count is set with the rollback's weights). After the
promotion (``States.RESTORE_AFTER_PROMOTION``) the old baseline's scalable target is
deregistered (with its policies): it serves nothing, and SageMaker refuses to remove a variant
that is still a scalable target, while CloudFormation deletes a removed ``ScalableTarget`` only
after it has updated the endpoint, so the deploy that removes the variant would fail. The old
baseline gets its template instance count, and the canary's target the template's limits.
Each of these restores runs even when the one before it failed (a baseline target that is
already gone counts as released). A failure to restore is reported in the output and the
notification (``capacity``); it never undoes a verified rollback or a promotion.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from ..contract import SCALABLE_DIMENSION, Errors, States, scalable_resource_id
from .builder import (
    AUTOSCALING_RETRY_ERRORS,
    CANARY_COUNT,
    Builder,
    State,
    catch,
    counts_reported,
    retry,
)

__all__ = [
    "Capacity",
    "Limits",
    "build_raise_capacity",
    "build_restore_after_promotion",
    "build_restore_after_rollback",
    "capacity_table",
]


@dataclass(frozen=True)
class Limits:
    """An autoscaled variant's scalable target and instance count, as the template says."""

    min_capacity: int
    max_capacity: int
    instance_count: int


@dataclass(frozen=True)
class Capacity:
    """What the capacity phases are bound to: each variant's template limits (``None``: not
    autoscaled) and the instance counts the template gives variants without autoscaling
    (``None``: unknown, for an imported endpoint)."""

    baseline: Limits | None
    canary: Limits | None
    baseline_instances: int | None = None
    canary_instances: int | None = None

    @property
    def fleet_limit(self) -> int:
        """The most instances both variants can run (the capacity table's last column): the
        autoscaled variants' maxima plus the template counts of the others."""
        sizes = [
            limits.max_capacity if limits else count
            for limits, count in (
                (self.baseline, self.baseline_instances),
                (self.canary, self.canary_instances),
            )
        ]
        known = [size for size in sizes if size is not None]
        return sum(known) + (max(known) if len(known) < len(sizes) else 0)

    @property
    def canary_restore_count(self) -> int | None:
        """The canary's instance count after a rollback (the template's)."""
        return self.canary.instance_count if self.canary else self.canary_instances

    @property
    def baseline_restore_count(self) -> int | None:
        """The old baseline's instance count after the promotion (the template's)."""
        return self.baseline.instance_count if self.baseline else self.baseline_instances


def capacity_table(fleet_limit: int) -> list[list[int]]:
    """``table[percent][fleet]`` = ``ceil(fleet * percent / 100)``: the canary's share."""
    return [
        [-(-fleet * percent // 100) for fleet in range(fleet_limit + 1)] for percent in range(101)
    ]


def _register(b: Builder, name: str, variant: str, low: str | int, high: str | int) -> State:
    """A RegisterScalableTarget task that updates ``variant``'s limits (policies are kept)."""
    parameters: dict[str, object] = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": scalable_resource_id(b.endpoint_name, variant),
        "ScalableDimension": SCALABLE_DIMENSION,
    }
    for key, value in (("MinCapacity", low), ("MaxCapacity", high)):
        parameters[f"{key}.$" if isinstance(value, str) else key] = value
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:applicationautoscaling:registerScalableTarget",
        "Parameters": parameters,
        "ResultPath": "$.registered",
        "Retry": [retry(list(AUTOSCALING_RETRY_ERRORS), attempts=6)],
    }


def _add_autoscaling_task(b: Builder, name: str, state: State) -> str:
    if b.scalable_targets_arn is None:  # pragma: no cover - the construct binds it
        raise ValueError("an autoscaled variant needs Bindings.scalable_targets_arn")
    return b.add_task(name, state, resource_arn=b.scalable_targets_arn)


def build_raise_capacity(b: Builder, capacity: Capacity) -> str:
    """Add the phase's states; returns its entry (``States.RAISE_CAPACITY``)."""
    limit = capacity.fleet_limit
    b.describe(
        States.RAISE_CAPACITY,
        with_weights=False,
        with_counts=True,
        nxt="Counts Reported?",
        on_error=States.STEP_ERROR,
    )
    b.add(
        "Counts Reported?",
        {
            "Type": "Choice",
            "Choices": [{"Not": counts_reported(), "Next": "Capacity Not Reached"}],
            "Default": "Capacity Table",
        },
    )
    b.add(
        "Capacity Table",
        {
            "Type": "Pass",
            "Comment": "table[percent][fleet] = ceil(fleet * percent / 100): the canary's "
            "share of the instances both variants run now.",
            "Parameters": {
                "table": capacity_table(limit),
                "fleet.$": "States.MathAdd($.endpoint.baseline_count[0], "
                "$.endpoint.canary_count[0])",
            },
            "ResultPath": "$.capacity",
            "Next": "Fleet Within Table?",
        },
    )
    b.add(
        "Fleet Within Table?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.capacity.fleet",
                    "NumericGreaterThan": limit,
                    "Next": "Fleet At Table Limit",
                }
            ],
            "Default": "Canary Share",
        },
    )
    b.add(
        "Fleet At Table Limit",
        {
            "Type": "Pass",
            "Comment": f"More instances than the template's limits allow ({limit}): counted as "
            "that many.",
            "Parameters": {"table.$": "$.capacity.table", "fleet": limit},
            "ResultPath": "$.capacity",
            "Next": "Canary Share",
        },
    )
    b.add(
        "Canary Share",
        {
            "Type": "Pass",
            "Parameters": {
                "fleet.$": "$.capacity.fleet",
                "need.$": "States.ArrayGetItem(States.ArrayGetItem($.capacity.table, "
                "$.step.percent), $.capacity.fleet)",
                "raised": False,
            },
            "ResultPath": "$.capacity",
            "Next": "Canary Limits?" if capacity.canary else "Capacity Wait",
        },
    )
    if capacity.canary is not None:
        _raise_limits(b, capacity.canary)
    b.wait_in_service(
        "Capacity Wait",
        with_weights=False,
        with_counts=True,
        on_ready="Capacity Reached?",
        on_failed=States.STEP_ERROR,
    )
    b.add(
        "Capacity Reached?",
        {
            "Type": "Choice",
            "Choices": [
                {"Not": counts_reported(), "Next": "Capacity Not Reached"},
                {
                    "Variable": CANARY_COUNT,
                    "NumericGreaterThanEqualsPath": "$.capacity.need",
                    "Next": States.SET_WEIGHTS,
                },
                {
                    "Variable": "$.capacity.raised",
                    "BooleanEquals": True,
                    "Next": "Capacity Not Reached",
                },
            ],
            "Default": "Raise Canary Count",
        },
    )
    b.set_weights(
        "Raise Canary Count",
        baseline=None,
        canary=None,
        canary_count="$.capacity.need",
        nxt="Canary Count Raised",
        on_error=States.STEP_ERROR,
    )
    b.add(
        "Canary Count Raised",
        {
            "Type": "Pass",
            "Parameters": {
                "fleet.$": "$.capacity.fleet",
                "need.$": "$.capacity.need",
                "raised": True,
            },
            "ResultPath": "$.capacity",
            # the same wait goes on: its polls count against max_polls once for both
            "Next": "Capacity Wait Describe",
        },
    )
    b.add(
        "Capacity Not Reached",
        {
            "Type": "Pass",
            "Parameters": {
                "Error": Errors.CAPACITY_NOT_REACHED,
                "Cause.$": (
                    "States.Format('before the {}% step the canary {} runs {} instance(s), "
                    f"fewer than its share of the fleet', $.step.percent, '{b.canary}', "
                    "States.JsonToString($.endpoint.canary_count))"
                ),
            },
            "ResultPath": "$.error",
            "Next": States.STEP_ERROR,
        },
    )
    return States.RAISE_CAPACITY


def _raise_limits(b: Builder, canary: Limits) -> None:
    """MinCapacity to the share (at least the template's), MaxCapacity to at least the share."""
    b.add(
        "Canary Limits?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.capacity.need",
                    "NumericGreaterThan": canary.max_capacity,
                    "Next": "Limits At Share",
                },
                {
                    "Variable": "$.capacity.need",
                    "NumericGreaterThan": canary.min_capacity,
                    "Next": "Minimum At Share",
                },
            ],
            "Default": "Template Limits",
        },
    )
    for name, low, high in (
        ("Limits At Share", "$.capacity.need", "$.capacity.need"),
        ("Minimum At Share", "$.capacity.need", canary.max_capacity),
        ("Template Limits", canary.min_capacity, canary.max_capacity),
    ):
        b.add(
            name,
            {
                "Type": "Pass",
                "Parameters": {
                    "min.$" if isinstance(low, str) else "min": low,
                    "max.$" if isinstance(high, str) else "max": high,
                },
                "ResultPath": "$.limits",
                "Next": "Raise Canary Limits",
            },
        )
    _add_autoscaling_task(
        b,
        "Raise Canary Limits",
        {
            **_register(b, "Raise Canary Limits", b.canary, "$.limits.min", "$.limits.max"),
            "Catch": [catch(States.STEP_ERROR)],
            "Next": "Capacity Wait",
        },
    )


def _not_restored(b: Builder, name: str, nxt: str) -> None:
    """A failed restore is recorded (``$.capacity_restore``, the error from ``$.error``) and
    the ending goes on."""
    b.add(
        name,
        {
            "Type": "Pass",
            "Parameters": {
                "restored": False,
                "error.$": "States.JsonToString($.error)",
            },
            "ResultPath": "$.capacity_restore",
            "Next": nxt,
        },
    )


def _restored(b: Builder, name: str, nxt: str) -> None:
    b.add(
        name,
        {
            "Type": "Pass",
            "Parameters": {"restored": True},
            "ResultPath": "$.capacity_restore",
            "Next": nxt,
        },
    )


def build_restore_after_rollback(b: Builder, capacity: Capacity, *, nxt: str) -> str:
    """After a verified rollback: the canary's scalable target back to the template's limits
    (its count was set with the rollback's weights); returns the entry."""
    if capacity.canary is None:
        _restored(b, States.RESTORE_AFTER_ROLLBACK, nxt)
        return States.RESTORE_AFTER_ROLLBACK
    _add_autoscaling_task(
        b,
        States.RESTORE_AFTER_ROLLBACK,
        {
            **_register(
                b,
                States.RESTORE_AFTER_ROLLBACK,
                b.canary,
                capacity.canary.min_capacity,
                capacity.canary.max_capacity,
            ),
            "Catch": [catch("Capacity Not Restored After Rollback")],
            "Next": "Capacity Restored After Rollback",
        },
    )
    _restored(b, "Capacity Restored After Rollback", nxt)
    _not_restored(b, "Capacity Not Restored After Rollback", nxt)
    return States.RESTORE_AFTER_ROLLBACK


#: DeregisterScalableTarget of a target that is no longer registered: already released.
TARGET_GONE = "ApplicationAutoScaling.ObjectNotFoundException"


def build_restore_after_promotion(b: Builder, capacity: Capacity, *, nxt: str) -> str:
    """After the promotion: release the old baseline's scalable target, give it the template's
    instance count, and the canary's target the template's limits; returns the entry.

    Each restore runs whatever became of the one before it: a failed deregistration must not
    leave the canary's raised ``MinCapacity`` in place (a failure is recorded in
    ``$.capacity_restore``). A baseline target that is already gone counts as released."""
    steps: list[str] = []
    if capacity.baseline is not None:
        steps.append("Release Baseline Scaling")
    if capacity.baseline_restore_count is not None:
        steps.append("Baseline Count Back")
    if capacity.canary is not None:
        steps.append("Canary Limits Back")
    steps.append("Capacity Restored After Promotion")
    b.add(
        States.RESTORE_AFTER_PROMOTION,
        {
            "Type": "Pass",
            "Result": {"restored": True},
            "ResultPath": "$.capacity_restore",
            "Next": steps[0],
        },
    )
    following = dict(itertools.pairwise(steps))

    def failed(step: str) -> str:
        name = f"{step} Failed"
        _not_restored(b, name, following[step])
        return name

    if capacity.baseline is not None:
        step = "Release Baseline Scaling"
        _add_autoscaling_task(
            b,
            step,
            {
                "Type": "Task",
                "Comment": "The old baseline serves nothing; the deploy that removes its variant "
                "needs it deregistered first (its scaling policies go with it).",
                "Resource": "arn:aws:states:::aws-sdk:applicationautoscaling:"
                "deregisterScalableTarget",
                "Parameters": {
                    "ServiceNamespace": "sagemaker",
                    "ResourceId": scalable_resource_id(b.endpoint_name, b.baseline),
                    "ScalableDimension": SCALABLE_DIMENSION,
                },
                "ResultPath": "$.deregistered",
                "Retry": [retry(list(AUTOSCALING_RETRY_ERRORS), attempts=6)],
                "Catch": [
                    {
                        "ErrorEquals": [TARGET_GONE],
                        "ResultPath": "$.deregistered",
                        "Next": following[step],
                    },
                    catch(failed(step)),
                ],
                "Next": following[step],
            },
        )
    if capacity.baseline_restore_count is not None:
        step = "Baseline Count Back"
        not_back = failed(step)
        b.set_weights(
            step,
            baseline=None,
            canary=None,
            baseline_count=capacity.baseline_restore_count,
            nxt="Baseline Count Wait",
            on_error=not_back,
        )
        b.wait_in_service(
            "Baseline Count Wait",
            with_weights=False,
            on_ready=following[step],
            on_failed=not_back,
        )
    if capacity.canary is not None:
        step = "Canary Limits Back"
        _add_autoscaling_task(
            b,
            step,
            {
                **_register(
                    b,
                    step,
                    b.canary,
                    capacity.canary.min_capacity,
                    capacity.canary.max_capacity,
                ),
                "Catch": [catch(failed(step))],
                "Next": following[step],
            },
        )
    b.add("Capacity Restored After Promotion", {"Type": "Pass", "Next": nxt})
    return States.RESTORE_AFTER_PROMOTION
