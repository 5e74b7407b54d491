"""Phase "approval": a person approves before the first step that reaches a threshold.

Entry: ``States.APPROVAL`` (from ``States.START_STEP``). Before the first step whose
percentage reaches each of ``approval_steps``, the execution publishes an
``APPROVAL_REQUIRED`` notification (no task token: everyone subscribed to the topic reads it),
then sends the request with its task token to the rollout's encrypted approval queue and waits
(``approval_timeout``). The token reaches only those who may read that queue or the execution
history (both encrypted with the rollout's key: ``grant_approve``). One approval covers every
threshold the step reaches, so an execution input with other ``steps`` cannot skip an
approval. Exits: ``nxt`` (the step goes on), or ``States.ROLLBACK_READY`` when the approval is
rejected or times out.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..contract import APPROVAL_TOKEN_KEY, STEP_STEPS, Events, States
from .builder import Builder
from .notifications import message, notify

__all__ = ["build_approval"]


def build_approval(b: Builder, *, nxt: str, approvals: bool, carry: Sequence[str] = ()) -> str:
    """Add the approval states; returns the entry. Without ``approvals`` (no approval steps:
    they are the construct's, never the execution input's) the entry is a Pass to ``nxt``.

    ``carry``: keys of ``$.step`` besides the percentages that an approval keeps (instance
    counts).
    """
    if not approvals:
        b.add(States.APPROVAL, {"Type": "Pass", "Comment": "No approval steps.", "Next": nxt})
        return States.APPROVAL
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
                    "Next": "Announce Approval",
                }
            ],
            "Default": nxt,
        },
    )


def _request(b: Builder) -> None:
    """Announce the request, queue it with its task token and wait; a rejection rolls back."""
    if b.approval_queue_url is None or b.approval_queue_arn is None:
        raise ValueError("approval steps need the approval queue's URL and ARN in the bindings")
    how = (
        "sagemaker-rollout approve|reject <execution_arn> (or states:SendTaskSuccess / "
        "SendTaskFailure with the task token of the approval queue's message)"
    )
    notify(
        b,
        "Announce Approval",
        Events.APPROVAL_REQUIRED,
        "Canary rollout: approval needed",
        {
            "next_percent.$": "$.step.percent",
            "how": how,
            "timeout_seconds": b.approval_timeout_seconds,
        },
        "Request Approval",
    )
    b.add_task(
        "Request Approval",
        {
            "Type": "Task",
            "Comment": "Waits for SendTaskSuccess (approve) or SendTaskFailure (reject).",
            "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {
                "QueueUrl": b.approval_queue_url,
                "MessageBody": message(
                    b,
                    Events.APPROVAL_REQUIRED,
                    {
                        "next_percent.$": "$.step.percent",
                        f"{APPROVAL_TOKEN_KEY}.$": "$$.Task.Token",
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
        resource_arn=b.approval_queue_arn,
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
