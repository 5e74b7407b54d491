"""Phase "rollback": all traffic back to the baseline, verified, then the execution fails.

Entries: ``States.FAILED_CHECK`` (the evaluator said FAIL), ``States.STILL_INCONCLUSIVE`` (no
verdict after every extension), ``States.STEP_ERROR`` (a step could not be carried out) and
``States.ROLLBACK_READY`` (an approval was rejected; ``$.rollback.reason`` set). The rollback
waits for an update in flight, sets the rolled-back weights (``contract.is_rolled_back``),
verifies them (three attempts) and ends in ``CanaryRolledBack`` with the reason as cause; when
traffic cannot be restored it ends in ``RollbackFailed`` with a CRITICAL notification.
"""

from __future__ import annotations

from ..contract import (
    ROLLED_BACK_BASELINE_WEIGHT,
    ROLLED_BACK_CANARY_WEIGHT,
    Errors,
    Events,
    States,
)
from .builder import BASELINE_WEIGHT, CANARY_WEIGHT, Builder, weights_reported
from .capacity import Capacity, build_restore_after_rollback
from .notifications import notify

__all__ = ["build_rollback"]


def build_rollback(
    b: Builder, *, instance_scaling: tuple[int, int] | None, capacity: Capacity | None = None
) -> str:
    """Add the phase's states; returns the entry that restores traffic.

    With ``capacity`` the rollback's weight change also gives the canary its template
    instance count, and once the weights are verified the canary's scaling limits go back to
    the template's (``capacity.py``) before the notification.
    """
    _reasons(b)
    verified = "Notify Rolled Back"
    if capacity is not None:
        verified = build_restore_after_rollback(b, capacity, nxt="Notify Rolled Back")
    _restore(b, instance_scaling, capacity, verified=verified)
    _outcome(b, capacity is not None)
    return States.ROLLBACK_READY


def _reasons(b: Builder) -> None:
    """Why the rollout rolls back: the execution's failure cause."""
    b.add(
        States.FAILED_CHECK,
        {
            "Type": "Pass",
            "Parameters": {
                "reason.$": (
                    "States.Format('canary FAILED at the {}% step (evaluation {}): {}', "
                    "$.step.percent, $.bake.evaluations, "
                    "States.JsonToString($.evaluation.reasons))"
                ),
                "attempts": 0,
            },
            "ResultPath": "$.rollback",
            "Next": States.ROLLBACK_READY,
        },
    )
    b.add(
        States.STILL_INCONCLUSIVE,
        {
            "Type": "Pass",
            "Parameters": {
                "reason.$": (
                    "States.Format('canary still INCONCLUSIVE at the {}% step after the bake "
                    "and {} extension(s), {} evaluation(s): {}', $.step.percent, "
                    "$.bake.extensions, $.bake.evaluations, "
                    "States.JsonToString($.evaluation.reasons))"
                ),
                "attempts": 0,
            },
            "ResultPath": "$.rollback",
            "Next": States.ROLLBACK_READY,
        },
    )
    b.add(
        States.STEP_ERROR,
        {
            "Type": "Pass",
            "Parameters": {
                "reason.$": (
                    "States.Format('error at the {}% step: {}', $.step.percent, "
                    "States.JsonToString($.error))"
                ),
                "attempts": 0,
            },
            "ResultPath": "$.rollback",
            "Next": States.ROLLBACK_READY,
        },
    )


def _restore(
    b: Builder,
    instance_scaling: tuple[int, int] | None,
    capacity: Capacity | None,
    *,
    verified: str,
) -> None:
    """Set the rolled-back weights once the endpoint accepts updates; verify; retry twice."""
    # An update in flight (the step's own) must finish before the rollback's update can land;
    # if it does not within max_polls, the rollback tries anyway (its retries and catch decide).
    b.wait_in_service(
        States.ROLLBACK_READY,
        with_weights=False,
        on_ready=States.ROLLBACK_SET_WEIGHTS,
        on_failed=States.ROLLBACK_SET_WEIGHTS,
    )
    b.set_weights(
        States.ROLLBACK_SET_WEIGHTS,
        baseline=ROLLED_BACK_BASELINE_WEIGHT,
        canary=ROLLED_BACK_CANARY_WEIGHT,
        nxt="Rollback Wait",
        on_error=States.ROLLBACK_ERROR,
        baseline_count=instance_scaling[1] if instance_scaling else None,
        canary_count=(
            instance_scaling[0]
            if instance_scaling
            else capacity.canary_restore_count
            if capacity
            else None
        ),
    )
    b.wait_in_service(
        "Rollback Wait",
        with_weights=True,
        on_ready="Rollback Took?",
        on_failed=States.ROLLBACK_ERROR,
    )
    b.add(
        "Rollback Took?",
        {
            "Type": "Choice",
            "Choices": [
                {"Not": weights_reported(), "Next": "Rollback Retry?"},
                {
                    "And": [
                        {"Variable": CANARY_WEIGHT, "NumericEquals": ROLLED_BACK_CANARY_WEIGHT},
                        {
                            "Variable": BASELINE_WEIGHT,
                            "NumericEquals": ROLLED_BACK_BASELINE_WEIGHT,
                        },
                    ],
                    "Next": verified,
                },
            ],
            "Default": "Rollback Retry?",
        },
    )
    b.add(
        "Rollback Retry?",
        {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.rollback.attempts", "NumericLessThan": 2, "Next": "Rollback Again"}
            ],
            "Default": "Rollback Not Applied",
        },
    )
    b.add(
        "Rollback Again",
        {
            "Type": "Pass",
            "Parameters": {
                "reason.$": "$.rollback.reason",
                "attempts.$": "States.MathAdd($.rollback.attempts, 1)",
            },
            "ResultPath": "$.rollback",
            "Next": States.ROLLBACK_SET_WEIGHTS,
        },
    )
    b.add(
        "Rollback Not Applied",
        {
            "Type": "Pass",
            "Parameters": {
                "Error": Errors.WEIGHTS_NOT_APPLIED,
                "Cause.$": (
                    "States.Format('after 3 attempts the endpoint still reports weights {} "
                    "(baseline) and {} (canary)', States.JsonToString($.endpoint.baseline_weight), "
                    "States.JsonToString($.endpoint.canary_weight))"
                ),
            },
            "ResultPath": "$.error",
            "Next": States.ROLLBACK_ERROR,
        },
    )


def _outcome(b: Builder, capacity: bool) -> None:
    """Rolled back (verified), or the rollback failed: notify, then fail the execution."""
    notify(
        b,
        "Notify Rolled Back",
        Events.ROLLED_BACK,
        "Canary rollout rolled back",
        {
            "percent.$": "$.step.percent",
            "reason.$": "$.rollback.reason",
            **({"capacity.$": "$.capacity_restore"} if capacity else {}),
        },
        States.ROLLED_BACK,
    )
    b.add(
        States.ROLLED_BACK,
        {"Type": "Fail", "Error": Errors.ROLLED_BACK, "CausePath": "$.rollback.reason"},
    )
    b.add(
        States.ROLLBACK_ERROR,
        {
            "Type": "Pass",
            "Parameters": {
                "reason.$": (
                    "States.Format('ROLLBACK FAILED: traffic could not be returned to the "
                    f"baseline variant {b.baseline} of endpoint {b.endpoint_name}: {{}}. "
                    "The rollback "
                    "was started because: {}', States.JsonToString($.error), $.rollback.reason)"
                ),
            },
            "ResultPath": "$.rollback_failure",
            "Next": "Notify Rollback Failed",
        },
    )
    notify(
        b,
        "Notify Rollback Failed",
        Events.ROLLBACK_FAILED,
        "CRITICAL: canary rollback failed",
        {"severity": "CRITICAL", "reason.$": "$.rollback_failure.reason"},
        "Rollback Failed",
    )
    b.add(
        "Rollback Failed",
        {"Type": "Fail", "Error": Errors.ROLLBACK_FAILED, "CausePath": "$.rollback_failure.reason"},
    )
