"""Phase "bake and evaluation": observe a step, ask the evaluator, decide, move on.

Entry: ``States.START_BAKE`` (the step's evaluation window starts when its weights are
verified). Every ``interval_seconds`` the evaluator judges the window: FAIL ->
``States.FAILED_CHECK``; PASS once ``bake_seconds`` have passed -> the step is recorded and
the next one starts (``States.START_STEP``), or after the last step the execution succeeds;
INCONCLUSIVE at the end of the bake -> one more interval, at most ``max_extensions`` times,
then ``States.STILL_INCONCLUSIVE`` (fail safe: missing data is never a pass). The loop itself
(:func:`build_bake_loop`, exits named by its caller) is the shadow evaluation's too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..contract import STEP_STEPS, VERDICT_FAIL, VERDICT_PASS, Events, States
from .builder import EVALUATION_FIELDS, Builder, catch
from .notifications import notify

__all__ = ["build_bake_and_evaluation", "build_bake_loop"]


def build_bake_and_evaluation(b: Builder, *, capacity: bool = False) -> str:
    """Add the phase's states; returns its entry. With ``capacity``, a completed rollout first
    restores counts and limits (``States.RESTORE_AFTER_PROMOTION``, which goes on to
    ``Notify Completed``)."""
    _bake(b)
    _record_step(b)
    _next_step(b, capacity)
    return States.START_BAKE


def _bake(b: Builder) -> None:
    """Wait an interval, evaluate, decide: fail, bake on, pass, extend, or give up."""
    build_bake_loop(
        b,
        States.START_BAKE,
        comment="The step's weights are verified: its evaluation window starts now. The "
        "evaluator counts whole periods from here on, and knows the baseline's share (0 at "
        "100 %: stray baseline requests never count as a live baseline).",
        window={"baseline_weight.$": "$.step.baseline_weight"},
        evaluate="Evaluate",
        extend="Extend Bake",
        on_failed=States.FAILED_CHECK,
        on_passed="Step Passed",
        on_inconclusive=States.STILL_INCONCLUSIVE,
        on_error=States.STEP_ERROR,
    )


def build_bake_loop(
    b: Builder,
    entry: str,
    *,
    comment: str,
    window: Mapping[str, str],
    evaluate: str,
    extend: str,
    on_failed: str,
    on_passed: str,
    on_inconclusive: str,
    on_error: str,
    fields: Sequence[str] = EVALUATION_FIELDS,
) -> str:
    """The bake: at ``entry`` the evaluation window starts (``$.bake.window``: its start and
    ``window``); every ``$.config.interval_seconds`` the evaluator judges it (state
    ``evaluate``; the answer's ``fields`` in ``$.evaluation``). Returns ``entry``.

    Exits: FAIL -> ``on_failed`` at once; PASS once ``$.config.bake_seconds`` have passed ->
    ``on_passed``; INCONCLUSIVE at the end of the bake -> one more interval (state ``extend``),
    at most ``$.config.max_extensions`` times, then ``on_inconclusive``; the evaluator failing
    after its retries -> ``on_error``.
    """
    b.add(
        entry,
        {
            "Type": "Pass",
            "Comment": comment,
            "Parameters": {
                "window": {"window_start.$": "$$.State.EnteredTime", **window},
                "elapsed": 0,
                "extensions": 0,
                "evaluations": 0,
            },
            "ResultPath": "$.bake",
            "Next": "Bake Wait",
        },
    )
    b.add(
        "Bake Wait",
        {"Type": "Wait", "SecondsPath": "$.config.interval_seconds", "Next": "Count Interval"},
    )
    b.add(
        "Count Interval",
        {
            "Type": "Pass",
            "Parameters": {
                "window.$": "$.bake.window",
                "elapsed.$": "States.MathAdd($.bake.elapsed, $.config.interval_seconds)",
                "extensions.$": "$.bake.extensions",
                "evaluations.$": "States.MathAdd($.bake.evaluations, 1)",
            },
            "ResultPath": "$.bake",
            "Next": evaluate,
        },
    )
    b.evaluate(
        evaluate,
        "$.bake.window",
        "Verdict?",
        result_path="$.evaluation",
        fields=fields,
        catches=[catch(on_error)],
    )
    b.add(
        "Verdict?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.evaluation.verdict",
                    "StringEquals": VERDICT_FAIL,
                    "Next": on_failed,
                },
                {
                    "Variable": "$.bake.elapsed",
                    "NumericLessThanPath": "$.config.bake_seconds",
                    "Next": "Bake Wait",
                },
                {
                    "Variable": "$.evaluation.verdict",
                    "StringEquals": VERDICT_PASS,
                    "Next": on_passed,
                },
                {
                    "Variable": "$.bake.extensions",
                    "NumericLessThanPath": "$.config.max_extensions",
                    "Next": extend,
                },
            ],
            "Default": on_inconclusive,
        },
    )
    b.add(
        extend,
        {
            "Type": "Pass",
            "Comment": "INCONCLUSIVE at the end of the bake: one more interval.",
            "Parameters": {
                "window.$": "$.bake.window",
                "elapsed.$": "$.bake.elapsed",
                "extensions.$": "States.MathAdd($.bake.extensions, 1)",
                "evaluations.$": "$.bake.evaluations",
            },
            "ResultPath": "$.bake",
            "Next": "Bake Wait",
        },
    )
    return entry


def _record_step(b: Builder) -> None:
    """Append the passed step to the summary; keep the last live baseline's figures."""
    b.add(
        "Step Passed",
        {
            "Type": "Pass",
            "Parameters": {
                "percent.$": "$.step.percent",
                "verdict.$": "$.evaluation.verdict",
                "evaluations.$": "$.bake.evaluations",
                "extensions.$": "$.bake.extensions",
                "reasons.$": "$.evaluation.reasons",
                "baseline_source.$": "$.evaluation.baseline_source",
                "canary_invocations.$": "$.evaluation.canary_invocations",
            },
            "ResultPath": "$.step_result",
            "Next": "First Summary Item?",
        },
    )
    b.add(
        "First Summary Item?",
        {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.summary.json", "StringEquals": "", "Next": "Summary First"}
            ],
            "Default": "Summary Append",
        },
    )
    b.add(
        "Summary First",
        {
            "Type": "Pass",
            "Parameters": {"json.$": "States.JsonToString($.step_result)"},
            "ResultPath": "$.summary",
            "Next": "Live Baseline?",
        },
    )
    b.add(
        "Summary Append",
        {
            "Type": "Pass",
            "Parameters": {
                "json.$": (
                    "States.Format('{},{}', $.summary.json, States.JsonToString($.step_result))"
                )
            },
            "ResultPath": "$.summary",
            "Next": "Live Baseline?",
        },
    )
    b.add(
        "Live Baseline?",
        {
            "Type": "Choice",
            "Comment": "Keep the baseline figures of the last step that still had live baseline "
            "traffic: the 100 % step is judged against them.",
            "Choices": [
                {
                    "Variable": "$.evaluation.baseline_source",
                    "StringEquals": "live",
                    "Next": "Save Baseline Reference",
                }
            ],
            "Default": States.NEXT_STEP,
        },
    )
    b.add(
        "Save Baseline Reference",
        {
            "Type": "Pass",
            "Parameters": {"baseline_reference.$": "$.evaluation.baseline_summary"},
            "ResultPath": "$.reference",
            "Next": States.NEXT_STEP,
        },
    )


def _next_step(b: Builder, capacity: bool) -> None:
    """The next step, or the summary of a completed rollout."""
    b.add(
        States.NEXT_STEP,
        {
            "Type": "Pass",
            "Parameters": {
                "index.$": "States.MathAdd($.step.index, 1)",
                "approval_index.$": "$.step.approval_index",
                f"{STEP_STEPS}.$": "$.config.steps",
                "previous_percent.$": "$.step.percent",
            },
            "ResultPath": "$.step",
            "Next": "More Steps?",
        },
    )
    b.add(
        "More Steps?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.step.index",
                    "NumericLessThanPath": "$.schedule.count",
                    "Next": "Notify Step Advanced",
                }
            ],
            "Default": States.RESTORE_AFTER_PROMOTION if capacity else "Notify Completed",
        },
    )
    notify(
        b,
        "Notify Step Advanced",
        Events.STEP_ADVANCED,
        "Canary rollout step passed",
        {
            "passed_percent.$": "$.step.previous_percent",
            "next_percent.$": "States.ArrayGetItem($.config.steps, $.step.index)",
            "verdict.$": "$.evaluation.verdict",
            "reasons.$": "$.evaluation.reasons",
            # the canary's share of the fleet it got before the step's weights
            **({"capacity.$": "$.capacity"} if capacity else {}),
        },
        States.START_STEP,
    )
    notify(
        b,
        "Notify Completed",
        Events.COMPLETED,
        "Canary rollout completed",
        {
            "steps.$": "States.StringToJson(States.Format('[{}]', $.summary.json))",
            **({"capacity.$": "$.capacity_restore"} if capacity else {}),
        },
        States.COMPLETED,
    )
    b.add(
        States.COMPLETED,
        {
            "Type": "Pass",
            "Parameters": {
                "status": "COMPLETED",
                "endpoint_name": b.endpoint_name,
                "baseline_variant": b.baseline,
                "canary_variant": b.canary,
                "canary_percent": 100,
                "steps.$": "States.StringToJson(States.Format('[{}]', $.summary.json))",
                **({"capacity.$": "$.capacity_restore"} if capacity else {}),
            },
            "Next": "Succeeded",
        },
    )
    b.add("Succeeded", {"Type": "Succeed"})
