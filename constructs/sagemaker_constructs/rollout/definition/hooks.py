"""Phase "hooks": Lambda functions of the user (and the built-in smoke test) at four points.

The hook event and answer are the Lambda code's contract (``canary_evaluator/hooks.py``,
loaded into ``contract``). Each hook is a ``lambda:invoke`` task whose answer (``Payload``)
goes to ``$.hook.answer``; one Choice reads it in order: no ``proceed`` -> go on; a
``proceed`` that is not a boolean -> refused; ``true`` -> go on; otherwise refused. A failed
invocation (after the Lambda service's transient errors are retried) counts as refused.

Where the hooks go (this phase reroutes transitions the other phases built):

``before_traffic``     between ``States.INIT_STEP`` and ``States.START_STEP``: the smoke test
                       first, then the user's hooks. Refused -> ``ROLLED_BACK`` notification
                       and ``CanaryRolledBack`` without any weight change (the canary was
                       verified at 0 % by the start phase)
``after_step``         into ``States.NEXT_STEP`` (a step passed and was recorded). Refused ->
                       ``States.ROLLBACK_READY``
``before_promotion``   after the ``after_step`` hooks of the 100 % step. Refused -> rollback
``after_rollout``      before ``States.COMPLETED`` and ``States.ROLLED_BACK``; ``$.outcome``
                       says which. Refused or failed -> ``HOOK_FAILED`` notification, and the
                       outcome stands
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..contract import (
    HOOK_AFTER_ROLLOUT,
    HOOK_AFTER_STEP,
    HOOK_ANSWER_PROCEED,
    HOOK_BEFORE_PROMOTION,
    HOOK_BEFORE_TRAFFIC,
    HOOK_EVENT_NAME,
    HOOK_EVENT_POINT,
    OUTCOME_COMPLETED,
    OUTCOME_ROLLED_BACK,
    SMOKE_TEST_HOOK,
    Errors,
    Events,
    States,
)
from .builder import Builder, State, catch, retry
from .notifications import notify

__all__ = ["HOOK_RETRY_ERRORS", "Hook", "announced_phases", "build_hooks"]

#: The Lambda service's transient errors (AWS recommends retrying these); the hook's own
#: errors are not retried: a hook that fails has refused.
HOOK_RETRY_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
)

_ANSWER = "$.hook.answer"
_PROCEED = f"{_ANSWER}.{HOOK_ANSWER_PROCEED}"
#: the words that say where a refusal happened, per point (a JSONPath argument for after_step)
_WHERE = {
    HOOK_BEFORE_TRAFFIC: ("before any traffic", None),
    HOOK_AFTER_STEP: ("after the {}% step", "$.step.percent"),
    HOOK_BEFORE_PROMOTION: ("before its promotion", None),
    HOOK_AFTER_ROLLOUT: ("after the rollout", None),
}
REFUSED_BEFORE_TRAFFIC = "Refused Before Traffic"
_OUTCOME_COMPLETED = "Outcome Completed"
_OUTCOME_ROLLED_BACK = "Outcome Rolled Back"
_LAST_STEP = "Last Step Passed?"
_ENDED_HOW = "Ended How?"


@dataclass(frozen=True)
class Hook:
    """One Lambda function a rollout calls at ``point`` (values may be CDK tokens)."""

    point: str
    name: str
    function_arn: str
    config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How causes and notifications name it."""
        return "the smoke test" if self.name == SMOKE_TEST_HOOK else f"hook {self.name}"

    @property
    def state(self) -> str:
        """Its task state's name (unique: names are unique per point)."""
        if self.name == SMOKE_TEST_HOOK:
            return "Smoke Test"
        return f"Hook {self.point} {self.name}"


def announced_phases(*, capacity: bool, hooks: Sequence[Hook]) -> dict[str, Any]:
    """What the ``ROLLOUT_STARTED`` notification says a rollout will do besides its steps:
    ``capacity_before_traffic``, ``smoke_test`` and ``hooks`` (point -> names), each only
    when present."""
    phases: dict[str, Any] = {}
    if capacity:
        phases["capacity_before_traffic"] = True
    if any(h.name == SMOKE_TEST_HOOK for h in hooks):
        phases["smoke_test"] = True
    named = {
        point: [h.name for h in hooks if h.point == point and h.name != SMOKE_TEST_HOOK]
        for point in _WHERE
    }
    if any(named.values()):
        phases["hooks"] = {point: names for point, names in named.items() if names}
    return phases


def build_hooks(b: Builder, hooks: Sequence[Hook]) -> None:
    """Add the hooks' states and route the other phases' transitions through them (call it
    after every other phase, before the lock's release is routed)."""
    at = {point: [h for h in hooks if h.point == point] for point in _WHERE}
    if at[HOOK_BEFORE_TRAFFIC]:
        entry = _chain(b, at[HOOK_BEFORE_TRAFFIC], nxt=States.START_STEP)
        b.states[States.INIT_STEP]["Next"] = entry
        _refused_before_traffic(b)
    if at[HOOK_AFTER_STEP] or at[HOOK_BEFORE_PROMOTION]:
        _after_steps(b, at[HOOK_AFTER_STEP], at[HOOK_BEFORE_PROMOTION])
    if at[HOOK_AFTER_ROLLOUT]:
        _after_rollout(b, at[HOOK_AFTER_ROLLOUT])


def _after_steps(b: Builder, after_step: list[Hook], before_promotion: list[Hook]) -> None:
    """``after_step`` hooks, then (after the 100 % step) ``before_promotion`` hooks."""
    entry = after_step[0].state if after_step else _LAST_STEP
    b.reroute(States.NEXT_STEP, entry)
    gate = States.NEXT_STEP
    if before_promotion:
        gate = b.add(
            _LAST_STEP,
            {
                "Type": "Choice",
                "Comment": "The last step (100 %) has passed: the before_promotion hooks.",
                "Choices": [
                    {
                        "Variable": "$.step.percent",
                        "NumericEquals": 100,
                        "Next": before_promotion[0].state,
                    }
                ],
                "Default": States.NEXT_STEP,
            },
        )
        _chain(b, before_promotion, nxt=States.NEXT_STEP)
    if after_step:
        _chain(b, after_step, nxt=gate)


def _after_rollout(b: Builder, hooks: list[Hook]) -> None:
    """The outcome, the hooks (whose answers change nothing), then the outcome's end."""
    b.reroute(States.COMPLETED, _OUTCOME_COMPLETED)
    b.reroute(States.ROLLED_BACK, _OUTCOME_ROLLED_BACK)
    b.add(
        _OUTCOME_COMPLETED,
        {
            "Type": "Pass",
            "Result": {"status": OUTCOME_COMPLETED},
            "ResultPath": "$.outcome",
            "Next": hooks[0].state,
        },
    )
    b.add(
        _OUTCOME_ROLLED_BACK,
        {
            "Type": "Pass",
            "Parameters": {"status": OUTCOME_ROLLED_BACK, "reason.$": "$.rollback.reason"},
            "ResultPath": "$.outcome",
            "Next": hooks[0].state,
        },
    )
    _chain(b, hooks, nxt=_ENDED_HOW)
    b.add(
        _ENDED_HOW,
        {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.outcome.status",
                    "StringEquals": OUTCOME_COMPLETED,
                    "Next": States.COMPLETED,
                }
            ],
            "Default": States.ROLLED_BACK,
        },
    )


def _chain(b: Builder, hooks: Sequence[Hook], *, nxt: str) -> str:
    """The hooks one after the other, then ``nxt``; returns the entry."""
    for hook, following in zip(hooks, [*(h.state for h in hooks[1:]), nxt], strict=True):
        _hook(b, hook, following)
    return hooks[0].state


def _event(b: Builder, hook: Hook) -> dict[str, Any]:
    """The hook's event (``canary_evaluator/hooks.py``)."""
    event: dict[str, Any] = {
        HOOK_EVENT_POINT: hook.point,
        HOOK_EVENT_NAME: hook.name,
        "endpoint_name": b.endpoint_name,
        "baseline_variant": b.baseline,
        "canary_variant": b.canary,
        "execution_arn.$": "$$.Execution.Id",
        "step.$": "$.step",
        "config": dict(hook.config),
    }
    if hook.point in (HOOK_AFTER_STEP, HOOK_BEFORE_PROMOTION):
        event["evaluation.$"] = "$.evaluation"
    if hook.point == HOOK_AFTER_ROLLOUT:
        event["outcome.$"] = "$.outcome"
    return event


def _hook(b: Builder, hook: Hook, nxt: str) -> None:
    """Invoke one hook, read its answer; refused (or failed) -> the point's way out."""
    informational = hook.point == HOOK_AFTER_ROLLOUT
    refused = f"{hook.state}: Refused"
    failed = f"{hook.state}: Failed"
    b.add_task(
        hook.state,
        {
            "Type": "Task",
            "Comment": f"{hook.label} ({hook.point})",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": hook.function_arn, "Payload": _event(b, hook)},
            "ResultSelector": {"answer.$": "$.Payload"},
            "ResultPath": "$.hook",
            "Retry": [retry(HOOK_RETRY_ERRORS, attempts=4)],
            "Catch": [catch(failed)],
            "Next": f"{hook.state}: Proceed?",
        },
        resource_arn=hook.function_arn,
    )
    b.add(
        f"{hook.state}: Proceed?",
        {
            "Type": "Choice",
            # rules in order, each only reached when the ones before did not match
            "Choices": [
                {"Not": {"Variable": _PROCEED, "IsPresent": True}, "Next": nxt},
                {"Not": {"Variable": _PROCEED, "IsBoolean": True}, "Next": refused},
                {"Variable": _PROCEED, "BooleanEquals": True, "Next": nxt},
            ],
            "Default": refused,
        },
    )
    if informational:
        _published(b, hook, refused, "refused", {"answer.$": _ANSWER}, nxt)
        _published(b, hook, failed, "failed", {"error.$": "$.error"}, nxt)
        return
    way_out = REFUSED_BEFORE_TRAFFIC if hook.point == HOOK_BEFORE_TRAFFIC else States.ROLLBACK_READY
    b.add(refused, _reason(hook, "refused the canary", f"States.JsonToString({_ANSWER})", way_out))
    b.add(failed, _reason(hook, "failed", "States.JsonToString($.error)", way_out))


def _reason(hook: Hook, what: str, detail: str, nxt: str) -> State:
    """``$.rollback`` (the execution's cause) for a hook that refused or failed."""
    error = Errors.SMOKE_TEST_FAILED if hook.name == SMOKE_TEST_HOOK else Errors.HOOK_REFUSED
    where, argument = _WHERE[hook.point]
    arguments = ", ".join(a for a in (argument, detail) if a)
    return {
        "Type": "Pass",
        "Parameters": {
            "reason.$": f"States.Format('{error}: {hook.label} {what} {where}: {{}}', {arguments})",
            "attempts": 0,
        },
        "ResultPath": "$.rollback",
        "Next": nxt,
    }


def _published(
    b: Builder, hook: Hook, name: str, what: str, detail: Mapping[str, str], nxt: str
) -> None:
    """An ``after_rollout`` hook refused or failed: say so, then go on."""
    notify(
        b,
        name,
        Events.HOOK_FAILED,
        f"Canary rollout hook {what}",
        {
            HOOK_EVENT_POINT: hook.point,
            HOOK_EVENT_NAME: hook.name,
            "outcome.$": "$.outcome.status",
            **detail,
        },
        nxt,
    )


def _refused_before_traffic(b: Builder) -> None:
    """Refused before any traffic: the canary was verified at 0 % and nothing changed it, so
    the rollout ends rolled back without a weight change."""
    notify(
        b,
        REFUSED_BEFORE_TRAFFIC,
        Events.ROLLED_BACK,
        "Canary rollout rolled back",
        {"percent": 0, "reason.$": "$.rollback.reason"},
        States.ROLLED_BACK,
    )
