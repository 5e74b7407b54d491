"""Phase "step": enter a step, then move traffic to its weights and verify them.

Entry: ``States.START_STEP`` (computes the step's percentages and instance counts), which hands
over to the approval phase (``States.APPROVAL``). The approval phase hands back to
``States.BEFORE_UPDATE``: wait until the endpoint is ``InService``, (with an autoscaled
variant, the capacity phase raises the canary first: ``capacity.py``), set the weights (and
instance counts), wait again and check that the endpoint reports exactly those weights. Exits:
``States.START_BAKE``, or ``States.STEP_ERROR`` (-> rollback).
"""

from __future__ import annotations

from ..contract import STEP_KEY, STEP_PERCENT, STEP_STEPS, Errors, States
from .builder import BASELINE_WEIGHT, CANARY_WEIGHT, Builder, weights_reported

__all__ = ["build_shift_traffic", "build_start_step"]


def build_start_step(b: Builder, *, instance_scaling: tuple[int, int] | None) -> str:
    """The step's canary percentage, the baseline's complement and, with instance scaling,
    both variants' instance counts; returns the entry."""
    b.add(
        States.START_STEP,
        {
            "Type": "Pass",
            "Parameters": {
                "index.$": "$.step.index",
                "approval_index.$": "$.step.approval_index",
                f"{STEP_STEPS}.$": "$.config.steps",
                f"{STEP_PERCENT}.$": "States.ArrayGetItem($.config.steps, $.step.index)",
                "baseline_weight.$": (
                    "States.ArrayGetItem($.const.complements, "
                    "States.ArrayGetItem($.config.steps, $.step.index))"
                ),
                **(
                    {
                        "canary_instances.$": (
                            "States.ArrayGetItem($.const.instances, "
                            "States.ArrayGetItem($.config.steps, $.step.index))"
                        ),
                        "baseline_instances.$": (
                            "States.ArrayGetItem($.const.instances, "
                            "States.ArrayGetItem($.const.complements, "
                            "States.ArrayGetItem($.config.steps, $.step.index)))"
                        ),
                    }
                    if instance_scaling
                    else {}
                ),
            },
            # published for other programs: see contract.STEP_KEY
            "ResultPath": f"$.{STEP_KEY}",
            "Next": States.APPROVAL,
        },
    )
    return States.START_STEP


def build_shift_traffic(
    b: Builder, *, instance_scaling: tuple[int, int] | None, capacity: bool = False
) -> str:
    """Wait for InService, (with ``capacity``: raise the canary's capacity to its share,
    ``States.RAISE_CAPACITY``), set the step's weights, verify them; returns the entry."""
    b.wait_in_service(
        States.BEFORE_UPDATE,
        with_weights=False,
        on_ready=States.RAISE_CAPACITY if capacity else States.SET_WEIGHTS,
        on_failed=States.STEP_ERROR,
    )
    b.set_weights(
        States.SET_WEIGHTS,
        baseline="$.step.baseline_weight",
        canary="$.step.percent",
        nxt="After Update",
        on_error=States.STEP_ERROR,
        baseline_count="$.step.baseline_instances" if instance_scaling else None,
        canary_count="$.step.canary_instances" if instance_scaling else None,
    )
    b.wait_in_service(
        "After Update", with_weights=True, on_ready="Weights Took?", on_failed=States.STEP_ERROR
    )
    b.add(
        "Weights Took?",
        {
            "Type": "Choice",
            "Choices": [
                {"Not": weights_reported(), "Next": "Weights Not Applied"},
                {
                    "And": [
                        {"Variable": CANARY_WEIGHT, "NumericEqualsPath": "$.step.percent"},
                        {
                            "Variable": BASELINE_WEIGHT,
                            "NumericEqualsPath": "$.step.baseline_weight",
                        },
                    ],
                    "Next": States.START_BAKE,
                },
            ],
            "Default": "Weights Not Applied",
        },
    )
    b.add(
        "Weights Not Applied",
        {
            "Type": "Pass",
            "Parameters": {
                "Error": Errors.WEIGHTS_NOT_APPLIED,
                "Cause.$": (
                    "States.Format('after the update the endpoint reports weights {} "
                    f"(baseline {b.baseline}) and {{}} (canary {b.canary}), "
                    "expected {} and {}', States.JsonToString($.endpoint.baseline_weight), "
                    "States.JsonToString($.endpoint.canary_weight), "
                    "$.step.baseline_weight, $.step.percent)"
                ),
            },
            "ResultPath": "$.error",
            "Next": States.STEP_ERROR,
        },
    )
    return States.BEFORE_UPDATE
