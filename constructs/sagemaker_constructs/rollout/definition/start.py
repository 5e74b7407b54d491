"""Phase "input and lock": defaults, execution input, its validation, the lock, preflight.

Entry: ``States.START``. Exits: ``States.START_STEP`` (the first step), or a Fail state that
leaves traffic untouched (``InvalidInput``, ``StartFailed``, ``UnexpectedStartingWeights``,
``RolloutAlreadyRunning``, ``PreflightFailed``), or Succeed when the canary already serves
everything.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..contract import EVALUATOR_INVALID_EVENT, Errors, Events, States
from ..rules import STEPS_EXAMPLE, STEPS_RULE
from .builder import (
    BASELINE_WEIGHT,
    CANARY_WEIGHT,
    SFN_RETRY_ERRORS,
    Builder,
    RolloutDefaults,
    instance_counts,
    integer_rules,
    retry,
)
from .notifications import notify

__all__ = ["build_input_and_lock"]

#: The numbers of the execution input, each an integer of at least this.
_MINIMUMS = {
    "bake_seconds": 1,
    "interval_seconds": 1,
    "max_extensions": 0,
    "poll_seconds": 1,
    "max_polls": 1,
}
_NUMBERS = tuple(_MINIMUMS)
_STEPS_RULE = f"steps must be {STEPS_RULE}, such as {STEPS_EXAMPLE} (got {{}})"


def build_input_and_lock(
    b: Builder,
    *,
    defaults: RolloutDefaults,
    approval_steps: Sequence[int],
    instance_scaling: tuple[int, int] | None,
) -> str:
    """Add the phase's states; returns its entry."""
    _load_input(b, defaults, approval_steps, instance_scaling)
    _validate_numbers(b)
    _validate_steps(b)
    _lock_and_starting_weights(b)
    _preflight(b)
    return States.START


def _load_input(
    b: Builder,
    defaults: RolloutDefaults,
    approval_steps: Sequence[int],
    instance_scaling: tuple[int, int] | None,
) -> None:
    """Construct defaults, merged with the execution input; the evaluator event's fixed part."""
    b.add(
        States.START,
        {
            "Type": "Pass",
            "Comment": "Construct defaults; the execution input overrides them key by key.",
            "Result": {
                "defaults": defaults.to_json(),
                "const": {
                    "complements": list(range(100, -1, -1)),
                    "approval_steps": sorted(approval_steps),
                    "approvals": len(approval_steps),
                    **(
                        {"instances": instance_counts(*instance_scaling)}
                        if instance_scaling
                        else {}
                    ),
                },
            },
            "ResultPath": "$",
            "Next": "Merge Input",
        },
    )
    b.add(
        "Merge Input",
        {
            "Type": "Pass",
            "Parameters": {
                "const.$": "$.const",
                "input.$": "States.JsonMerge($.defaults, $$.Execution.Input, false)",
                "base_policy.$": "$.defaults.policy",
            },
            "Next": "Merge Policy",
        },
    )
    b.add(
        "Merge Policy",
        {
            "Type": "Pass",
            "Parameters": {
                "const.$": "$.const",
                "config.$": "$.input",
                "event": {
                    "endpoint_name": b.endpoint_name,
                    "baseline_variant": b.baseline,
                    "canary_variant": b.canary,
                    "policy.$": "States.JsonMerge($.base_policy, $.input.policy, false)",
                },
                "reference": {},
                "summary": {"json": ""},
            },
            "Next": "Validate Numbers",
        },
    )


def _validate_numbers(b: Builder) -> None:
    """Every number of the merged input is an integer in range."""
    b.add(
        "Validate Numbers",
        {
            "Type": "Pass",
            "Parameters": {f"{k}.$": f"States.JsonToString($.config.{k})" for k in _NUMBERS},
            "ResultPath": "$.text",
            "Next": "Numbers Valid?",
        },
    )
    b.add(
        "Numbers Valid?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    **integer_rules(f"$.config.{k}", f"$.text.{k}", _MINIMUMS[k]),
                    "Next": f"Invalid {k}",
                }
                for k in _NUMBERS
            ]
            + [
                {
                    "Variable": "$.config.interval_seconds",
                    "NumericGreaterThanPath": "$.config.bake_seconds",
                    "Next": "Invalid interval_seconds",
                }
            ],
            "Default": "Validate Steps",
        },
    )
    for k in _NUMBERS:
        rule = f"an integer >= {_MINIMUMS[k]}"
        if k == "interval_seconds":
            rule += " and <= bake_seconds"
        b.fail_input(f"Invalid {k}", f"{k} must be {rule} (got {{}})", f"$.text.{k}")


def _validate_steps(b: Builder) -> None:
    """``steps``: at least 2 integers 1-100, strictly increasing, ending at 100."""
    b.add(
        "Validate Steps",
        {
            "Type": "Pass",
            "Parameters": {
                "steps_text.$": "States.JsonToString($.config.steps)",
                "n.$": "States.ArrayLength($.config.steps)",
                "i": 0,
                "prev": 0,
            },
            "ResultPath": "$.validate",
            "Next": "Enough Steps?",
        },
    )
    b.add(
        "Enough Steps?",
        {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.validate.n", "NumericLessThan": 2, "Next": "Invalid steps"}
            ],
            "Default": "Validate Step Item",
        },
    )
    b.add(
        "Validate Step Item",
        {
            "Type": "Pass",
            "Parameters": {
                "steps_text.$": "$.validate.steps_text",
                "n.$": "$.validate.n",
                "i.$": "$.validate.i",
                "prev.$": "$.validate.prev",
                "v.$": "States.ArrayGetItem($.config.steps, $.validate.i)",
                "v_text.$": (
                    "States.JsonToString(States.ArrayGetItem($.config.steps, $.validate.i))"
                ),
            },
            "ResultPath": "$.validate",
            "Next": "Step Item Valid?",
        },
    )
    b.add(
        "Step Item Valid?",
        {
            "Type": "Choice",
            "Choices": [
                {**integer_rules("$.validate.v", "$.validate.v_text", 1), "Next": "Invalid steps"},
                {"Variable": "$.validate.v", "NumericGreaterThan": 100, "Next": "Invalid steps"},
                {
                    "Variable": "$.validate.v",
                    "NumericLessThanEqualsPath": "$.validate.prev",
                    "Next": "Invalid steps",
                },
            ],
            "Default": "Validate Next Step",
        },
    )
    b.add(
        "Validate Next Step",
        {
            "Type": "Pass",
            "Parameters": {
                "steps_text.$": "$.validate.steps_text",
                "n.$": "$.validate.n",
                "i.$": "States.MathAdd($.validate.i, 1)",
                "prev.$": "$.validate.v",
            },
            "ResultPath": "$.validate",
            "Next": "More Steps To Validate?",
        },
    )
    b.add(
        "More Steps To Validate?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.validate.i",
                    "NumericLessThanPath": "$.validate.n",
                    "Next": "Validate Step Item",
                },
                {"Variable": "$.validate.prev", "NumericEquals": 100, "Next": "Check Lock"},
            ],
            "Default": "Invalid steps",
        },
    )
    b.fail_input("Invalid steps", _STEPS_RULE, "$.validate.steps_text")


def _lock_and_starting_weights(b: Builder) -> None:
    """One rollout at a time; where traffic is now decides whether this one may move it."""
    b.add_task(
        "Check Lock",
        {
            "Type": "Task",
            "Comment": "One rollout per endpoint (this state machine is bound to one endpoint): "
            "the oldest RUNNING execution proceeds, every other one fails. ListExecutions "
            "returns the most recent first.",
            "Resource": "arn:aws:states:::aws-sdk:sfn:listExecutions",
            "Parameters": {
                "StateMachineArn": b.state_machine_arn,
                "StatusFilter": "RUNNING",
                "MaxResults": 100,
            },
            "ResultSelector": {
                "running.$": "States.ArrayLength($.Executions)",
                "arns.$": "$.Executions[*].ExecutionArn",
            },
            "ResultPath": "$.lock",
            "Retry": [retry(SFN_RETRY_ERRORS)],
            "Next": "Another Rollout Running?",
        },
        resource_arn=b.state_machine_arn,
    )
    b.add(
        "Another Rollout Running?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.lock.running",
                    "NumericLessThanEquals": 1,
                    "Next": "Starting Weights",
                }
            ],
            "Default": "Find Oldest Rollout",
        },
    )
    # Where traffic is now decides whether this rollout may move it at all.
    b.describe("Starting Weights", with_weights=True, nxt="Canary Idle?", on_error="Start Error")
    b.add(
        "Canary Idle?",
        {
            "Type": "Choice",
            "Comment": (
                "Canary at 0 -> roll out. Canary serving everything -> an earlier rollout "
                "promoted it: nothing to do. Anything else -> another change owns the weights."
            ),
            # one comparison per rule, after the rule that checks its path is present
            "Choices": [
                {"Variable": CANARY_WEIGHT, "IsPresent": False, "Next": "Preflight Wait"},
                {"Variable": CANARY_WEIGHT, "NumericEquals": 0, "Next": "Preflight Wait"},
                {
                    "Variable": BASELINE_WEIGHT,
                    "IsPresent": False,
                    "Next": "Unexpected Starting Weights",
                },
                {"Variable": BASELINE_WEIGHT, "NumericEquals": 0, "Next": "Already Promoted"},
            ],
            "Default": "Unexpected Starting Weights",
        },
    )
    b.add(
        "Already Promoted",
        {
            "Type": "Pass",
            "Result": {"already_promoted": True, "steps": []},
            "Next": "Nothing To Do",
        },
    )
    b.add("Nothing To Do", {"Type": "Succeed"})
    b.add(
        "Start Error",
        {
            "Type": "Fail",
            "Error": Errors.START_FAILED,
            "CausePath": (
                "States.Format('the endpoint could not be described before the rollout: {}. "
                "Traffic was not changed.', States.JsonToString($.error))"
            ),
        },
    )
    b.add(
        "Unexpected Starting Weights",
        {
            "Type": "Fail",
            "Error": Errors.UNEXPECTED_STARTING_WEIGHTS,
            "CausePath": (
                "States.Format('the canary variant already serves part of the traffic (weights: "
                "baseline {}, canary {}); finish or abort that change first, or set the canary "
                "to 0', States.JsonToString($.endpoint.baseline_weight), "
                "States.JsonToString($.endpoint.canary_weight))"
            ),
        },
    )
    b.add(
        "Find Oldest Rollout",
        {
            "Type": "Pass",
            "Parameters": {
                "me.$": "$$.Execution.Id",
                "oldest.$": "States.ArrayGetItem($.lock.arns, States.MathAdd($.lock.running, -1))",
            },
            "ResultPath": "$.lock_owner",
            "Next": "Am I The Oldest?",
        },
    )
    b.add(
        "Am I The Oldest?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.lock_owner.oldest",
                    "StringEqualsPath": "$.lock_owner.me",
                    "Next": "Starting Weights",
                }
            ],
            "Default": "Rollout Already Running",
        },
    )
    b.add(
        "Rollout Already Running",
        {
            "Type": "Fail",
            "Error": Errors.ALREADY_RUNNING,
            "Cause": (
                "Another execution of this rollout state machine "
                f"(endpoint {b.endpoint_name}) is RUNNING; "
                "only one rollout per endpoint may run at a time. Wait for it to finish, or "
                "stop it (aws stepfunctions stop-execution), then start again. Traffic was "
                "not changed."
            ),
        },
    )
    # Preflight: one evaluation before any traffic moves validates the policy, the evaluator's
    # permissions and the alarms. Its verdict is ignored.


def _preflight(b: Builder) -> None:
    """One evaluation before any traffic moves; then the start notification."""
    b.add(
        "Preflight Wait",
        {"Type": "Wait", "Seconds": 1, "Next": "Preflight Window"},
    )
    b.add(
        "Preflight Window",
        {
            "Type": "Pass",
            "Parameters": {"window_start.$": "$$.Execution.StartTime"},
            "ResultPath": "$.window",
            "Next": "Preflight Evaluation",
        },
    )
    b.evaluate(
        "Preflight Evaluation",
        "$.window",
        States.NOTIFY_STARTED,
        result_path="$.preflight",
        catches=[
            {
                "ErrorEquals": [EVALUATOR_INVALID_EVENT],
                "ResultPath": "$.error",
                "Next": "Invalid policy",
            },
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Preflight Failed"},
        ],
    )
    b.add(
        "Invalid policy",
        {
            "Type": "Fail",
            "Error": Errors.INVALID_INPUT,
            "CausePath": (
                "States.Format('the evaluator rejected the event (policy or variants): {}. "
                "Traffic was not changed.', $.error.Cause)"
            ),
        },
    )
    b.add(
        "Preflight Failed",
        {
            "Type": "Fail",
            "Error": Errors.PREFLIGHT_FAILED,
            "CausePath": (
                "States.Format('the evaluator could not be invoked before the rollout: {}. "
                "Traffic was not changed.', States.JsonToString($.error))"
            ),
        },
    )
    notify(
        b,
        States.NOTIFY_STARTED,
        Events.STARTED,
        "Canary rollout started",
        {"steps.$": "$.config.steps", "bake_seconds.$": "$.config.bake_seconds"},
        "Init Step",
    )
    b.add(
        "Init Step",
        {
            "Type": "Pass",
            "Parameters": {"index": 0, "approval_index": 0},
            "ResultPath": "$.step",
            "Next": States.START_STEP,
        },
    )
