"""Reading the variants' metrics: ONE GetMetricData request per evaluation.

``build_request`` builds the request for every metric of both variants (namespace
``AWS/SageMaker``, dimensions ``EndpointName`` + ``VariantName``, 60 s periods):
``Invocations`` (Sum), ``Invocation5XXErrors`` (Sum), ``Invocation4XXErrors`` (Sum) and
``ModelLatency`` (the policy's statistic, microseconds), plus every extra metric of the policy.
``fetch_figures`` sends it (following ``NextToken``) with the client it is given and turns the
answer into one ``VariantFigures`` per variant. A result CloudWatch could not complete raises
``MetricDataError``; the caller never guesses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from .judge import VariantFigures
from .policy import Policy
from .window import PERIOD_SECONDS

NAMESPACE = "AWS/SageMaker"
_ROLES = ("baseline", "canary")
_SUMS = (("inv", "Invocations"), ("e5", "Invocation5XXErrors"), ("e4", "Invocation4XXErrors"))


class CloudWatchClient(Protocol):
    """The two CloudWatch calls the evaluator makes (a boto3 ``cloudwatch`` client fits)."""

    def get_metric_data(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def describe_alarms(self, **kwargs: Any) -> Mapping[str, Any]: ...


class MetricDataError(RuntimeError):
    """CloudWatch answered, but not with complete data for every query (worth retrying)."""


class CloudWatchUnavailableError(RuntimeError):
    """CloudWatch failed transiently (throttled, a 5xx, unreachable) after the client's own
    retries: the state machine retries the evaluation."""


class CloudWatchRejectedError(RuntimeError):
    """CloudWatch rejected the request (access denied, invalid): retrying cannot help, so the
    state machine goes straight to its error path."""


_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalServiceFault",
    }
)


def classify(error: Exception) -> Exception:
    """``error`` of a CloudWatch call as :class:`CloudWatchUnavailableError` (transient) or
    :class:`CloudWatchRejectedError` (permanent); other exceptions unchanged."""
    from botocore.exceptions import BotoCoreError, ClientError  # boto3 ships in the runtime

    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        code = str(details.get("Code", ""))
        text = f"CloudWatch {code}: {details.get('Message', error)}"
        if code in _TRANSIENT_CODES or status >= 500:
            return CloudWatchUnavailableError(text)
        return CloudWatchRejectedError(text)
    if isinstance(error, BotoCoreError):
        return CloudWatchUnavailableError(f"CloudWatch unreachable: {error}")
    return error


@dataclass(frozen=True)
class _Query:
    id: str
    role: str
    kind: str  # "inv", "e5", "e4", "lat" or an extra metric's check name
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str

    def to_request(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "MetricStat": {
                "Metric": {
                    "Namespace": self.namespace,
                    "MetricName": self.name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions],
                },
                "Period": PERIOD_SECONDS,
                "Stat": self.stat,
            },
            "ReturnData": True,
        }


def _queries(endpoint: str, baseline: str, canary: str, policy: Policy) -> list[_Query]:
    queries: list[_Query] = []
    for role, variant in zip(_ROLES, (baseline, canary), strict=True):
        dims = (("EndpointName", endpoint), ("VariantName", variant))
        prefix = role[0]
        for kind, name in _SUMS:
            queries.append(_Query(f"{prefix}_{kind}", role, kind, NAMESPACE, name, dims, "Sum"))
        queries.append(
            _Query(
                f"{prefix}_lat",
                role,
                "lat",
                NAMESPACE,
                "ModelLatency",
                dims,
                policy.latency.statistic,
            )
        )
        for index, metric in enumerate(policy.extra_metrics):
            extra_dims = tuple((d["Name"], d["Value"]) for d in metric.dimensions_for(variant))
            queries.append(
                _Query(
                    f"{prefix}_x{index}",
                    role,
                    metric.check_name,
                    metric.namespace,
                    metric.name,
                    extra_dims,
                    metric.statistic,
                )
            )
    return queries


def build_request(
    endpoint: str,
    baseline_variant: str,
    canary_variant: str,
    policy: Policy,
    start: datetime,
    end: datetime,
) -> dict[str, Any]:
    """Keyword arguments of the single ``GetMetricData`` call for one evaluation."""
    return {
        "MetricDataQueries": [
            q.to_request() for q in _queries(endpoint, baseline_variant, canary_variant, policy)
        ],
        "StartTime": start,
        "EndTime": end,
        "ScanBy": "TimestampAscending",
    }


def _collect(pages: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[datetime, float]]]:
    """Merge ``MetricDataResults`` of all pages: query id -> [(timestamp, value)] sorted."""
    series: dict[str, list[tuple[datetime, float]]] = {}
    for page in pages:
        for result in page.get("MetricDataResults", []):
            status = result.get("StatusCode", "Complete")
            if status not in ("Complete", "PartialData"):
                messages = result.get("Messages") or page.get("Messages") or []
                raise MetricDataError(
                    f"GetMetricData result {result.get('Id')!r} has status {status!r}: {messages}"
                )
            points = series.setdefault(str(result["Id"]), [])
            for stamp, value in zip(
                result.get("Timestamps", []), result.get("Values", []), strict=False
            ):
                if value is not None:
                    points.append((stamp, float(value)))
    for points in series.values():
        points.sort(key=lambda point: point[0])
    return series


def parse_figures(
    pages: Sequence[Mapping[str, Any]], policy: Policy
) -> tuple[VariantFigures, VariantFigures]:
    """(baseline, canary) figures from the GetMetricData answer pages."""
    series = _collect(pages)
    figures: list[VariantFigures] = []
    for role in _ROLES:
        prefix = role[0]

        def total(kind: str, prefix: str = prefix) -> int:
            return round(sum(value for _, value in series.get(f"{prefix}_{kind}", [])))

        def values(query_id: str) -> tuple[float, ...]:
            return tuple(value for _, value in series.get(query_id, []))

        extra = {
            metric.check_name: values(f"{prefix}_x{index}")
            for index, metric in enumerate(policy.extra_metrics)
        }
        figures.append(
            VariantFigures(
                invocations=total("inv"),
                errors_5xx=total("e5"),
                errors_4xx=total("e4"),
                latency_values=values(f"{prefix}_lat"),
                extra_values=extra,
            )
        )
    return figures[0], figures[1]


def fetch_figures(
    cloudwatch: CloudWatchClient,
    endpoint: str,
    baseline_variant: str,
    canary_variant: str,
    policy: Policy,
    start: datetime,
    end: datetime,
) -> tuple[VariantFigures, VariantFigures]:
    """Send the one GetMetricData request (following NextToken) and parse the answer."""
    request = build_request(endpoint, baseline_variant, canary_variant, policy, start, end)
    pages: list[Mapping[str, Any]] = []
    while True:
        page = cloudwatch.get_metric_data(**request)
        pages.append(page)
        token = page.get("NextToken")
        if not token:
            break
        request = {**request, "NextToken": token}
    partial = [
        r.get("Id")
        for r in pages[-1].get("MetricDataResults", [])
        if r.get("StatusCode") == "PartialData"
    ]
    if partial:
        raise MetricDataError(f"GetMetricData returned PartialData without NextToken: {partial}")
    return parse_figures(pages, policy)


def fetch_alarm_states(cloudwatch: CloudWatchClient, names: Sequence[str]) -> dict[str, str | None]:
    """State value of each named alarm (metric or composite); ``None`` when it does not exist."""
    states: dict[str, str | None] = dict.fromkeys(names)
    for offset in range(0, len(names), 100):
        request: dict[str, Any] = {
            "AlarmNames": list(names[offset : offset + 100]),
            "AlarmTypes": ["CompositeAlarm", "MetricAlarm"],
        }
        while True:
            page = cloudwatch.describe_alarms(**request)
            for key in ("MetricAlarms", "CompositeAlarms"):
                for alarm in page.get(key, []):
                    if alarm.get("AlarmName") in states:
                        states[str(alarm["AlarmName"])] = str(alarm.get("StateValue"))
            token = page.get("NextToken")
            if not token:
                break
            request = {**request, "NextToken": token}
    return states
