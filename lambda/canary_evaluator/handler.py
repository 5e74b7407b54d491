"""Lambda entry point of the canary evaluator (``canary_evaluator.handler.handler``).

Event (JSON object)::

    endpoint_name       str      the SageMaker endpoint
    baseline_variant    str      variant serving the current model
    canary_variant      str      variant serving the new model
    window_start        str      ISO-8601 UTC start of the window (a naive time is taken as UTC)
    window_end          str      optional; default: now
    policy              object   optional thresholds, see ``policy.py`` (every key optional)
    baseline_reference  object   optional extension, same shape as ``baseline_summary``
    baseline_weight     number   optional: the baseline's traffic share (percent) in the window

**Whole periods only** (``window.py``): the evaluator counts the 60 s periods that begin at or
after ``window_start`` rounded UP and end by ``window_end`` rounded DOWN, leaving out periods
that ended less than a minute ago (SageMaker publishes metrics with a delay). A window without
a whole period is judged on no data (never a PASS); CloudWatch is still read once, for the
last published period, so that missing permissions show at once, and the figures are dropped.

``baseline_weight`` 0: the baseline served nothing under the window's weights, so the live
baseline never counts (whatever stray traffic the window holds); the relative checks use
``baseline_reference`` only.

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
``window_end``, and ``periods_start``, ``periods_end``, ``periods`` (the whole periods judged).
The answer stays under ``MAX_RESPONSE_BYTES`` (32 KiB) for any window: the summaries' per-period
series keep their most recent values (``summary_periods`` says how many at most) and values
are rounded to 6 significant digits. Invocation4XXErrors are informational: the
``client_errors`` check always has verdict PASS and ``informational: true``.

Unknown event keys are ignored (callers may pass their own state along) and logged as a
warning.

**Validate mode**: an event ``{"validate_input": <execution input>, "defaults": {...}}``
answers ``{"config": <the defaults merged with the input>}`` or raises ``ValueError`` listing
every problem of the input (``rollout_input.py``); the state machine calls it first. A shadow
evaluation's input comes as ``{"validate_shadow_input": ..., "defaults": {...}}`` and follows
its own keys (``shadow_input.py``).

CloudWatch is read with ONE GetMetricData request per evaluation (plus DescribeAlarms when the
policy names alarms). The client retries throttling (standard mode, 8 attempts); a call that
still fails raises ``CloudWatchUnavailableError`` (transient: the state machine retries) or
``CloudWatchRejectedError`` (access denied, invalid: it does not), incomplete data raises
``MetricDataError``, and an invalid event raises ``ValueError``: the state machine decides.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from .judge import VariantFigures, evaluate_window
from .metrics import CloudWatchClient, classify, fetch_alarm_states, fetch_figures
from .policy import parse_policy
from .rollout_input import check_input
from .shadow_input import VALIDATE_KEY as _SHADOW_VALIDATION
from .shadow_input import check_shadow_input
from .window import PERIOD_SECONDS, whole_periods

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
    "baseline_weight",
)
#: The answer flows through Step Functions (256 KiB per payload, not catchable): keep it small.
MAX_RESPONSE_BYTES = 32 * 1024


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
    weight = event.get("baseline_weight")
    if weight is not None and (
        isinstance(weight, bool)
        or not isinstance(weight, int | float)
        or not 0 <= weight <= 100  # NaN fails this too
    ):
        raise ValueError(
            f"baseline_weight: got {weight!r}; allowed: a number of percent from 0 to 100"
        )
    return {
        "endpoint_name": event["endpoint_name"],
        "baseline_variant": event["baseline_variant"],
        "canary_variant": event["canary_variant"],
        "start": start,
        "end": end,
        "policy": parse_policy(event.get("policy")),
        "reference": None if reference is None else VariantFigures.from_summary(reference),
        "baseline_weight": weight,
    }


def evaluate(
    event: Mapping[str, Any], *, cloudwatch: CloudWatchClient, now: datetime | None = None
) -> dict[str, Any]:
    """Evaluate one window: read CloudWatch with ``cloudwatch``, judge, return the response."""
    now = now or datetime.now(UTC)
    parsed = _parse_event(event, now)
    policy = parsed["policy"]
    periods = whole_periods(parsed["start"], parsed["end"], now)
    if periods.count:
        start, end = periods.start, periods.end
    else:  # nothing to judge yet; one read still proves the permissions
        end = periods.end
        start = end - timedelta(seconds=PERIOD_SECONDS)
    try:
        baseline, canary = fetch_figures(
            cloudwatch,
            parsed["endpoint_name"],
            parsed["baseline_variant"],
            parsed["canary_variant"],
            policy,
            start,
            end,
        )
        alarm_states = (
            fetch_alarm_states(cloudwatch, policy.alarm_names) if policy.alarm_names else {}
        )
    except Exception as error:  # named for the state machine: retry, or go to rollback
        raise classify(error) from error
    if not periods.count:
        baseline = canary = VariantFigures(invocations=0, errors_5xx=0, errors_4xx=0)
    judgement = evaluate_window(
        baseline,
        canary,
        policy,
        reference=parsed["reference"],
        alarm_states=alarm_states,
        baseline_live=parsed["baseline_weight"] != 0,
    )
    response = judgement.to_dict()
    response.update(
        endpoint_name=parsed["endpoint_name"],
        baseline_variant=parsed["baseline_variant"],
        canary_variant=parsed["canary_variant"],
        window_start=parsed["start"].isoformat(),
        window_end=parsed["end"].isoformat(),
        periods_start=periods.start.isoformat(),
        periods_end=periods.end.isoformat(),
        periods=periods.count,
    )
    if parsed["baseline_weight"] is not None:
        response["baseline_weight"] = parsed["baseline_weight"]
    return bound_response(response)


def _round(value: float) -> float:
    return float(f"{value:.6g}")


def _size(response: Mapping[str, Any]) -> int:
    return len(json.dumps(response).encode())


def bound_response(response: dict[str, Any], limit: int = MAX_RESPONSE_BYTES) -> dict[str, Any]:
    """``response`` under ``limit`` bytes of JSON: summary series rounded, then cut to their most
    recent values (halving until it fits), then long reasons shortened."""
    summaries = [response[k] for k in ("baseline_summary", "canary_summary") if k in response]
    series: list[tuple[dict[str, Any], str]] = []
    for summary in summaries:
        series.append((summary, "latency_values"))
        series.extend((summary["extra_values"], key) for key in summary.get("extra_values", {}))
    for owner, key in series:
        owner[key] = [_round(v) for v in owner[key]]
    keep = max((len(owner[key]) for owner, key in series), default=0)
    while _size(response) > limit and keep > 1:
        keep //= 2
        for owner, key in series:
            owner[key] = owner[key][-keep:]
    response["summary_periods"] = keep
    if _size(response) > limit:  # only with dozens of extra metrics, each with a long reason
        for check in response.get("checks", []):
            check["reason"] = _shorten(check["reason"])
        response["reasons"] = [_shorten(reason) for reason in response.get("reasons", [])]
    return response


def _shorten(text: str, length: int = 120) -> str:
    return text if len(text) <= length else text[: length - 3] + "..."


def validate_input(event: Mapping[str, Any]) -> dict[str, Any]:
    """The ``validate_input`` mode: ``{"config": <defaults merged with the input>}``, or a
    ``ValueError`` listing every problem of the input (``rollout_input.py``; a shadow
    evaluation's ``validate_shadow_input``: ``shadow_input.py``)."""
    defaults = event.get("defaults")
    if not isinstance(defaults, Mapping):
        raise ValueError(f"defaults: got {defaults!r}; allowed: the construct's defaults")
    if _SHADOW_VALIDATION in event:
        return {"config": check_shadow_input(event[_SHADOW_VALIDATION], defaults)}
    return {"config": check_input(event["validate_input"], defaults)}


def dispatch(
    event: Mapping[str, Any], *, cloudwatch: CloudWatchClient, now: datetime | None = None
) -> dict[str, Any]:
    """Validate an execution input (``validate_input`` in the event) or evaluate a window."""
    if _is_validation(event):
        return validate_input(event)
    return evaluate(event, cloudwatch=cloudwatch, now=now)


def _is_validation(event: object) -> bool:
    return isinstance(event, Mapping) and ("validate_input" in event or _SHADOW_VALIDATION in event)


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """AWS Lambda handler: validates an input, or evaluates with the module's client (created
    only then) and logs one JSON line."""
    if _is_validation(event):
        return validate_input(event)
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
