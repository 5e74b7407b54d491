"""Phase "approval": a person approves before the first step that reaches a threshold.

Entry: ``States.APPROVAL`` (from ``States.START_STEP``). Before the first step whose
percentage reaches each of ``approval_steps``, the execution publishes an
``APPROVAL_REQUIRED`` message with a task token and waits (``approval_timeout``). One approval
covers every threshold the step reaches, so an execution input with other ``steps`` cannot skip
an approval. Exits: ``nxt`` (the step goes on), or ``States.ROLLBACK_READY`` when the approval
is rejected or times out.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..contract import APPROVAL_TOKEN_KEY, STEP_STEPS, Errors, Events, States
from .builder import Builder
from .notifications import message

__all__ = ["build_approval"]


def build_approval(b: Builder, *, nxt: str, carry: Sequence[str] = ()) -> str:
    """Add the approval states; returns the entry.

    ``carry``: keys of ``$.step`` besides the percentages that an approval keeps (instance
    counts).
    """
    _gate(b, nxt=nxt)
    _request(b)
    _granted(b, nxt=nxt, carry=carry)
    return States.APPROVAL


def _gate(b: Builder, *, nxt: str) -> None:
    """Is an approval still pending, and does this step reach its threshold?"""
    b.add(
        States.APPROVAL,
        {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.step.approval_index",
                    "NumericGreaterThanEqualsPath": "$.const.approvals",
                    "Next": nxt,
                }
            ],
            "Default": "Approval Threshold",
        },
    )
    b.add(
        "Approval Threshold",
        {
            "Type": "Pass",
            "Parameters": {
                "threshold.$": "States.ArrayGetItem($.const.approval_steps, $.step.approval_index)"
            },
            "ResultPath": "$.approval_gate",
            "Next": "Approval Needed?",
        },
    )
    b.add(
        "Approval Needed?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.step.percent",
                    "NumericGreaterThanEqualsPath": "$.approval_gate.threshold",
                    "Next": "Request Approval",
                }
            ],
            "Default": nxt,
        },
    )


def _request(b: Builder) -> None:
    """Publish the request with its task token and wait; a rejection rolls back."""
    approve = "aws stepfunctions send-task-success --task-output true --task-token {}"
    reject = (
        f"aws stepfunctions send-task-failure --error {Errors.REJECTED} --cause <why> "
        "--task-token {}"
    )
    b.add_task(
        "Request Approval",
        {
            "Type": "Task",
            "Comment": "Waits for SendTaskSuccess (approve) or SendTaskFailure (reject).",
            "Resource": "arn:aws:states:::sns:publish.waitForTaskToken",
            "Parameters": {
                "TopicArn": b.topic_arn,
                "Subject": "Canary rollout: approval needed",
                "Message": message(
                    b,
                    Events.APPROVAL_REQUIRED,
                    {
                        "next_percent.$": "$.step.percent",
                        f"{APPROVAL_TOKEN_KEY}.$": "$$.Task.Token",
                        "approve.$": f"States.Format('{approve}', $$.Task.Token)",
                        "reject.$": f"States.Format('{reject}', $$.Task.Token)",
                        "timeout_seconds": b.approval_timeout_seconds,
                    },
                ),
            },
            "TimeoutSeconds": b.approval_timeout_seconds,
            "ResultPath": "$.approval",
            "Catch": [
                {
                    "ErrorEquals": ["States.ALL"],
                    "ResultPath": "$.error",
                    "Next": "Approval Rejected",
                }
            ],
            "Next": "Approval Granted",
        },
        resource_arn=b.topic_arn,
    )
    b.add(
        "Approval Rejected",
        {
            "Type": "Pass",
            "Parameters": {
                "reason.$": (
                    "States.Format('approval before the {}% step was rejected or timed out: {}', "
                    "$.step.percent, States.JsonToString($.error))"
                ),
                "attempts": 0,
            },
            "ResultPath": "$.rollback",
            "Next": States.ROLLBACK_READY,
        },
    )


def _granted(b: Builder, *, nxt: str, carry: Sequence[str]) -> None:
    """Count the approval; one approval covers every threshold the step reaches."""
    b.add(
        "Approval Granted",
        {
            "Type": "Pass",
            "Parameters": {
                "index.$": "$.step.index",
                "percent.$": "$.step.percent",
                "baseline_weight.$": "$.step.baseline_weight",
                "approval_index.$": "States.MathAdd($.step.approval_index, 1)",
                f"{STEP_STEPS}.$": "$.config.steps",
                # everything else "Start Step" put in $.step (instance counts) carries over
                **{f"{key}.$": f"$.step.{key}" for key in carry},
            },
            "ResultPath": "$.step",
            "Next": "Approval Covers More?",
        },
    )
    b.add(
        "Approval Covers More?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.step.approval_index",
                    "NumericGreaterThanEqualsPath": "$.const.approvals",
                    "Next": nxt,
                }
            ],
            "Default": "Next Approval Threshold",
        },
    )
    b.add(
        "Next Approval Threshold",
        {
            "Type": "Pass",
            "Parameters": {
                "threshold.$": "States.ArrayGetItem($.const.approval_steps, $.step.approval_index)"
            },
            "ResultPath": "$.approval_gate",
            "Next": "Already Approved?",
        },
    )
    b.add(
        "Already Approved?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.step.percent",
                    "NumericGreaterThanEqualsPath": "$.approval_gate.threshold",
                    "Next": "Approval Granted",
                }
            ],
            "Default": nxt,
        },
    )
