"""Phase "notifications": the JSON messages the rollout publishes to its topic.

Notifications go out on transitions only (``contract.Events``): started, step advanced,
approval required, rolled back, completed, rollback failed. Every message names the event,
the endpoint, both variants and the execution; a failed publish never stops the rollout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .builder import SNS_RETRY_ERRORS, Builder, catch, retry

__all__ = ["message", "notify"]


def message(b: Builder, event: str, extra: Mapping[str, Any]) -> dict[str, Any]:
    """The message of ``event``: what every notification carries, then ``extra``."""
    return {
        "event": event,
        "endpoint_name": b.endpoint_name,
        "baseline_variant": b.baseline,
        "canary_variant": b.canary,
        "execution_arn.$": "$$.Execution.Id",
        **extra,
    }


def notify(
    b: Builder, name: str, event: str, subject: str, extra: Mapping[str, Any], nxt: str
) -> str:
    """Add a state that publishes one notification, then goes on to ``nxt``."""
    return b.add_task(
        name,
        {
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {
                "TopicArn": b.topic_arn,
                "Subject": subject,
                "Message": message(b, event, extra),
            },
            "ResultSelector": {"message_id.$": "$.MessageId"},
            "ResultPath": "$.notified",
            "Retry": [retry(SNS_RETRY_ERRORS, attempts=3)],
            "Catch": [catch(nxt, "$.notify_error")],
            "Next": nxt,
        },
        resource_arn=b.topic_arn,
    )
