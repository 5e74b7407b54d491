"""Lambda entry point of the canary evaluator (``canary_evaluator.handler.handler``).

Event (JSON object)::

    endpoint_name       str      the SageMaker endpoint
    baseline_variant    str      variant serving the current model
    canary_variant      str      variant serving the new model
    window_start        str      ISO-8601 UTC start of the window (a naive time is taken as UTC)
    window_end          str      optional; default: now
    policy              object   optional thresholds, see ``policy.py`` (every key optional)
    baseline_reference  object   optional extension, same shape as ``baseline_summary``

``baseline_reference`` (extension): when given AND the baseline variant served fewer than
``policy.min_canary_invocations`` requests in the window (e.g. the final 100 % step of a
rollout, where the baseline has weight 0), the relative checks (error rate, latency, extra
metrics) compare the canary with these reference figures instead of the live baseline, and the
response says ``"baseline_source": "reference"``. Without a reference and without baseline
traffic those checks are INCONCLUSIVE (only the absolute ceiling and alarms can decide); they
never PASS. Pass the ``baseline_summary`` of the last window that had live baseline traffic.

Response (JSON object): ``verdict`` ("PASS" | "FAIL" | "INCONCLUSIVE"), ``reasons``,
``checks`` (``name``, ``verdict``, ``baseline``, ``canary``, ``threshold``, ``p_value``,
``reason``, ``informational``), ``baseline_invocations``, ``canary_invocations``,
``baseline_source`` ("live" | "reference" | "none"), ``baseline_summary`` and
``canary_summary`` (``invocations``, ``errors_5xx``, ``errors_4xx``, ``latency_values``,
``extra_values``), plus the echoed ``endpoint_name``, variants, ``window_start`` and
``window_end``. Invocation4XXErrors are informational: the ``client_errors`` check always has
verdict PASS and ``informational: true``.

Unknown event keys are ignored (callers may pass their own state along) and logged as a
warning.

CloudWatch is read with ONE GetMetricData request per evaluation (plus DescribeAlarms when the
policy names alarms). The client retries throttling (standard mode, 8 attempts); a call that
still fails raises, and an invalid event raises ``ValueError``: the state machine decides.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from .judge import VariantFigures, evaluate_window
from .metrics import CloudWatchClient, fetch_alarm_states, fetch_figures
from .policy import parse_policy

logger = logging.getLogger("canary_evaluator")
logger.setLevel(logging.INFO)

_client: CloudWatchClient | None = None
_EVENT_KEYS = (
    "endpoint_name",
    "baseline_variant",
    "canary_variant",
    "window_start",
    "window_end",
    "policy",
    "baseline_reference",
)


def default_client() -> CloudWatchClient:
    """The module's CloudWatch client, created on first use (boto3 is imported lazily)."""
    global _client
    if _client is None:
        import boto3
        from botocore.config import Config

        make_client: Any = boto3.client  # no service-specific stubs are needed at runtime
        config = Config(retries={"mode": "standard", "max_attempts": 8})
        _client = cast(CloudWatchClient, make_client("cloudwatch", config=config))
    return _client


def _parse_time(value: object, key: str) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{key}: got {value!r}; allowed: an ISO-8601 UTC time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{key}: got {value!r}; allowed: an ISO-8601 UTC time such as '2026-01-31T12:00:00Z'"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _parse_event(event: object, now: datetime) -> dict[str, Any]:
    if not isinstance(event, Mapping):
        raise ValueError(f"event: got {event!r}; allowed: an object")
    unknown = sorted(str(key) for key in event if key not in _EVENT_KEYS)
    if unknown:  # tolerated (callers may pass their own state along), but visible
        logger.warning(json.dumps({"message": "ignoring unknown event keys", "keys": unknown}))
    problems: list[str] = []
    for key in ("endpoint_name", "baseline_variant", "canary_variant"):
        value = event.get(key)
        if not isinstance(value, str) or not value:
            problems.append(f"{key}: got {value!r}; allowed: a non-empty string")
    if problems:
        raise ValueError("Invalid event:\n  " + "\n  ".join(problems))
    if event["baseline_variant"] == event["canary_variant"]:
        raise ValueError(
            f"baseline_variant and canary_variant are both {event['canary_variant']!r}; "
            "they must name two different variants"
        )
    start = _parse_time(event.get("window_start"), "window_start")
    end = now if event.get("window_end") is None else _parse_time(event["window_end"], "window_end")
    if end <= start:
        raise ValueError(
            f"window_end {end.isoformat()} is not after window_start {start.isoformat()}"
        )
    reference = event.get("baseline_reference")
    return {
        "endpoint_name": event["endpoint_name"],
        "baseline_variant": event["baseline_variant"],
        "canary_variant": event["canary_variant"],
        "start": start,
        "end": end,
        "policy": parse_policy(event.get("policy")),
        "reference": None if reference is None else VariantFigures.from_summary(reference),
    }


def evaluate(
    event: Mapping[str, Any], *, cloudwatch: CloudWatchClient, now: datetime | None = None
) -> dict[str, Any]:
    """Evaluate one window: read CloudWatch with ``cloudwatch``, judge, return the response."""
    parsed = _parse_event(event, now or datetime.now(UTC))
    policy = parsed["policy"]
    baseline, canary = fetch_figures(
        cloudwatch,
        parsed["endpoint_name"],
        parsed["baseline_variant"],
        parsed["canary_variant"],
        policy,
        parsed["start"],
        parsed["end"],
    )
    alarm_states = fetch_alarm_states(cloudwatch, policy.alarm_names) if policy.alarm_names else {}
    judgement = evaluate_window(
        baseline, canary, policy, reference=parsed["reference"], alarm_states=alarm_states
    )
    response = judgement.to_dict()
    response.update(
        endpoint_name=parsed["endpoint_name"],
        baseline_variant=parsed["baseline_variant"],
        canary_variant=parsed["canary_variant"],
        window_start=parsed["start"].isoformat(),
        window_end=parsed["end"].isoformat(),
    )
    return response


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """AWS Lambda handler: ``evaluate`` with the module's client; logs one JSON line."""
    response = evaluate(event, cloudwatch=default_client())
    logger.info(
        json.dumps(
            {
                "message": "canary evaluation",
                "request_id": getattr(context, "aws_request_id", None),
                "endpoint_name": response["endpoint_name"],
                "baseline_variant": response["baseline_variant"],
                "canary_variant": response["canary_variant"],
                "window_start": response["window_start"],
                "window_end": response["window_end"],
                "verdict": response["verdict"],
                "reasons": response["reasons"],
                "baseline_invocations": response["baseline_invocations"],
                "canary_invocations": response["canary_invocations"],
                "checks": [
                    {"name": c["name"], "verdict": c["verdict"], "p_value": c["p_value"]}
                    for c in response["checks"]
                ],
            }
        )
    )
    return response
