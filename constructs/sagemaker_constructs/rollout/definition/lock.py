"""Phase "lock": one rollout per endpoint, through the stack's lock table (DynamoDB).

Entry: ``LOCK``. The execution puts the endpoint's item with ``attribute_not_exists`` (a
conditional write: two executions started at the same instant cannot both succeed). When the
item exists, its holder is described: a holder that still runs keeps the lock (exit ``held``);
a holder that no longer runs (it died where no state could release the lock) is replaced, again
by a conditional write that names it. Exits: ``nxt`` (lock taken), ``held``, ``failed``.

:func:`release_before` puts a release (a delete conditioned on this execution holding the
lock; a failed release never stops the execution from ending) before every terminal state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..contract import LOCK_HOLDER, LOCK_KEY, States
from .builder import SFN_RETRY_ERRORS, Builder, catch, retry

__all__ = ["DYNAMODB_RETRY_ERRORS", "LOCK", "build_lock", "release_before"]

LOCK = States.LOCK
#: Transient errors of the DynamoDB integration, all modelled by DynamoDB, so Step Functions
#: names them ``DynamoDB.<Code>``; anything else (access denied, a bad request) is not retried.
DYNAMODB_RETRY_ERRORS = (
    "DynamoDB.ThrottlingException",
    "DynamoDB.ProvisionedThroughputExceededException",
    "DynamoDB.RequestLimitExceededException",
    "DynamoDB.InternalServerErrorException",
)
_CONFLICT = "DynamoDB.ConditionalCheckFailedException"


def _key(b: Builder) -> dict[str, Any]:
    return {LOCK_KEY: {"S": b.endpoint_name}}


def _put(b: Builder, condition: str, values: dict[str, Any] | None) -> dict[str, Any]:
    parameters: dict[str, Any] = {
        "TableName": b.lock_table_name,
        "Item": {
            **_key(b),
            LOCK_HOLDER: {"S.$": "$$.Execution.Id"},
        },
        "ConditionExpression": condition,
    }
    if values:
        parameters["ExpressionAttributeValues"] = values
    return parameters


def build_lock(b: Builder, *, nxt: str, held: str, failed: str) -> str:
    """Add the lock states; returns the entry."""
    b.add_task(
        LOCK,
        {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:putItem",
            "Parameters": _put(b, f"attribute_not_exists({LOCK_KEY})", None),
            "ResultPath": "$.lock",
            "Retry": [retry(DYNAMODB_RETRY_ERRORS)],
            "Catch": [
                {"ErrorEquals": [_CONFLICT], "ResultPath": "$.lock", "Next": "Read Lock"},
                catch(failed),
            ],
            "Next": nxt,
        },
        resource_arn=b.lock_table_arn,
    )
    b.add_task(
        "Read Lock",
        {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:getItem",
            "Parameters": {
                "TableName": b.lock_table_name,
                "Key": _key(b),
                "ConsistentRead": True,
            },
            "ResultPath": "$.lock",
            "Retry": [retry(DYNAMODB_RETRY_ERRORS)],
            "Catch": [catch(failed)],
            "Next": "Lock Held?",
        },
        resource_arn=b.lock_table_arn,
    )
    holder = f"$.lock.Item.{LOCK_HOLDER}.S"
    b.add(
        "Lock Held?",
        {
            "Type": "Choice",
            "Comment": "Released in the meantime -> try again.",
            "Choices": [{"Variable": holder, "IsPresent": False, "Next": LOCK}],
            "Default": "Describe Lock Holder",
        },
    )
    b.add_task(
        "Describe Lock Holder",
        {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:sfn:describeExecution",
            "Parameters": {"ExecutionArn.$": holder},
            "ResultSelector": {"status.$": "$.Status"},
            "ResultPath": "$.lock_holder",
            "Retry": [retry(SFN_RETRY_ERRORS)],
            "Catch": [
                {  # the holder is gone (its state machine deleted, or past retention)
                    "ErrorEquals": [
                        "Sfn.ExecutionDoesNotExistException",
                        "Sfn.StateMachineDoesNotExistException",
                    ],
                    "ResultPath": "$.lock_holder_error",
                    "Next": "Take Over Lock",
                },
                catch(held),  # cannot tell (or not an execution, e.g. the guard's): fail safe
            ],
            "Next": "Lock Holder Running?",
        },
        resource_arn=b.executions_arn,
    )
    b.add(
        "Lock Holder Running?",
        {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.lock_holder.status", "StringEquals": "RUNNING", "Next": held}
            ],
            "Default": "Take Over Lock",
        },
    )
    b.add_task(
        "Take Over Lock",
        {
            "Type": "Task",
            "Comment": "The holder no longer runs: replace it, unless someone else just did.",
            "Resource": "arn:aws:states:::dynamodb:putItem",
            "Parameters": _put(b, f"{LOCK_HOLDER} = :holder", {":holder": {"S.$": holder}}),
            "ResultPath": "$.lock",
            "Retry": [retry(DYNAMODB_RETRY_ERRORS)],
            "Catch": [
                {"ErrorEquals": [_CONFLICT], "ResultPath": "$.lock", "Next": held},
                catch(failed),
            ],
            "Next": nxt,
        },
        resource_arn=b.lock_table_arn,
    )
    return LOCK


def _release(b: Builder, name: str, nxt: str) -> str:
    return b.add_task(
        name,
        {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:deleteItem",
            "Parameters": {
                "TableName": b.lock_table_name,
                "Key": _key(b),
                "ConditionExpression": f"{LOCK_HOLDER} = :me",
                "ExpressionAttributeValues": {":me": {"S.$": "$$.Execution.Id"}},
            },
            "ResultPath": "$.lock_released",
            "Retry": [retry(DYNAMODB_RETRY_ERRORS, attempts=4)],
            "Catch": [catch(nxt, "$.lock_release_error")],  # not held, or not releasable
            "Next": nxt,
        },
        resource_arn=b.lock_table_arn,
    )


def release_before(
    b: Builder,
    terminals: Iterable[str],
    *,
    keep: Iterable[str] = (),
    outputs: Mapping[str, str] | None = None,
) -> None:
    """Route every transition into each of ``terminals`` through a release of the lock.

    ``keep``: terminal states that must NOT release (they end an execution that does not
    hold the lock, such as the one that found it held). ``outputs``: for a Succeed state, the
    Pass state that builds the execution's output; the release goes before it, so the output
    holds nothing of the release.
    """
    kept = set(keep)
    for state_name in terminals:
        if state_name in kept:
            continue
        terminal = (outputs or {}).get(state_name, state_name)
        release = f"Release Lock: {terminal}"
        b.reroute(terminal, release, keep=[release])
        _release(b, release, terminal)
