"""Phase "input and lock": defaults, execution input, its validation, the lock, preflight.

Entry: ``States.START``. Exits: ``States.START_STEP`` (the first step), or a Fail state that
leaves traffic untouched (``InvalidInput``, ``StartFailed``, ``UnexpectedStartingWeights``,
``RolloutAlreadyRunning``, ``PreflightFailed``), or Succeed when the canary already serves
everything. The input's states themselves (:func:`build_input_validation`, exits named by its
caller) are the shadow evaluation's too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..contract import EVALUATOR_INVALID_EVENT, Errors, Events, States
from .builder import (
    BASELINE_WEIGHT,
    CANARY_WEIGHT,
    LAMBDA_RETRY_ERRORS,
    Builder,
    RolloutDefaults,
    catch,
    instance_counts,
    retry,
)
from .lock import LOCK, build_lock
from .notifications import notify

__all__ = ["build_input_and_lock", "build_input_validation"]


def build_input_and_lock(
    b: Builder,
    *,
    defaults: RolloutDefaults,
    approval_steps: Sequence[int],
    instance_scaling: tuple[int, int] | None,
    phases: Mapping[str, Any] | None = None,
) -> str:
    """Add the phase's states; returns its entry. ``phases``: what the start notification
    announces besides the schedule (capacity, smoke test, hooks)."""
    _load_and_validate_input(b, defaults, approval_steps, instance_scaling)
    build_lock(b, nxt="Starting Weights", held="Rollout Already Running", failed="Start Error")
    _starting_weights(b)
    _preflight(b, phases or {})
    return States.START


def _load_and_validate_input(
    b: Builder,
    defaults: RolloutDefaults,
    approval_steps: Sequence[int],
    instance_scaling: tuple[int, int] | None,
) -> None:
    """Construct defaults; the execution input validated and merged over them in Python (the
    evaluator's validate mode), before the lock or any weight change; the evaluator event's
    fixed part."""
    build_input_validation(
        b,
        States.START,
        validate="Validate Input",
        defaults=defaults.to_json(),
        constants={
            "complements": list(range(100, -1, -1)),
            "approval_steps": sorted(approval_steps),
            "approvals": len(approval_steps),
            **({"instances": instance_counts(*instance_scaling)} if instance_scaling else {}),
        },
        validate_key="validate_input",
        rules="unknown keys, types, ranges, steps, policy, history budget",
        unchanged="Traffic was not changed.",
        nxt="Set Up",
        on_error="Preflight Failed",
    )
    b.add(
        "Set Up",
        {
            "Type": "Pass",
            "Parameters": {
                "const.$": "$.const",
                "config.$": "$.validated.config",
                "event": b.evaluator_event(),
                "schedule": {"count.$": "States.ArrayLength($.validated.config.steps)"},
                "reference": {},
                "summary": {"json": ""},
            },
            "Next": LOCK,
        },
    )


def build_input_validation(
    b: Builder,
    entry: str,
    *,
    validate: str,
    defaults: Mapping[str, Any],
    constants: Mapping[str, Any] | None = None,
    validate_key: str,
    rules: str,
    unchanged: str,
    nxt: str,
    on_error: str,
) -> str:
    """``entry`` puts the construct's ``defaults`` at ``$.defaults`` (and ``constants``, when
    given, at ``$.const``); then the evaluator (state ``validate``, its event's
    ``validate_key``) checks the raw execution input against them by its ``rules`` and
    answers the merged configuration at ``$.validated.config``. Returns ``entry``.

    Exits: ``nxt``; an input the evaluator rejects -> ``Invalid Input`` (a Fail state,
    ``Errors.INVALID_INPUT``, its cause ending with ``unchanged``); the evaluator failing after
    its retries -> ``on_error``.
    """
    b.add(
        entry,
        {
            "Type": "Pass",
            "Comment": "Construct defaults; the execution input overrides them key by key.",
            "Result": {
                "defaults": defaults,
                **({"const": constants} if constants is not None else {}),
            },
            "ResultPath": "$",
            "Next": validate,
        },
    )
    b.add_task(
        validate,
        {
            "Type": "Task",
            "Comment": "The evaluator checks the raw execution input against the defaults "
            f"({rules}) and answers the merged configuration, or fails with every problem "
            "listed.",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {
                "FunctionName": b.evaluator_arn,
                "Payload": {
                    f"{validate_key}.$": "$$.Execution.Input",
                    "defaults.$": "$.defaults",
                },
            },
            "ResultSelector": {"config.$": "$.Payload.config"},
            "ResultPath": "$.validated",
            "Retry": [retry(LAMBDA_RETRY_ERRORS, attempts=4)],
            "Catch": [
                {
                    "ErrorEquals": [EVALUATOR_INVALID_EVENT],
                    "ResultPath": "$.error",
                    "Next": "Invalid Input",
                },
                catch(on_error),
            ],
            "Next": nxt,
        },
        resource_arn=b.evaluator_arn,
    )
    b.add(
        "Invalid Input",
        {
            "Type": "Fail",
            "Error": Errors.INVALID_INPUT,
            "CausePath": (
                f"States.Format('the execution input is invalid: {{}}. {unchanged}', $.error.Cause)"
            ),
        },
    )
    return entry


def _starting_weights(b: Builder) -> None:
    """Where traffic is now decides whether this rollout may move it at all."""
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
                # a canary variant the endpoint does not have: nothing to roll out to
                {
                    "Variable": CANARY_WEIGHT,
                    "IsPresent": False,
                    "Next": "Unexpected Starting Weights",
                },
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
        "Rollout Already Running",
        {
            "Type": "Fail",
            "Error": Errors.ALREADY_RUNNING,
            "Cause": (
                f"Another rollout of endpoint {b.endpoint_name} is RUNNING (it holds the "
                "endpoint's lock); only one rollout per endpoint may run at a time. Wait for it "
                "to finish, or abort it (sagemaker-rollout abort), then start again. Traffic "
                "was not changed."
            ),
        },
    )


def _preflight(b: Builder, phases: Mapping[str, Any]) -> None:
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
        fields=("verdict",),
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
        {
            "steps.$": "$.config.steps",
            "bake_seconds.$": "$.config.bake_seconds",
            **({"phases": dict(phases)} if phases else {}),
        },
        States.INIT_STEP,
    )
    b.add(
        States.INIT_STEP,
        {
            "Type": "Pass",
            "Parameters": {"index": 0, "approval_index": 0},
            "ResultPath": "$.step",
            "Next": States.START_STEP,
        },
    )
