"""The evaluator handler against moto's in-process CloudWatch (and small fakes where moto can't).

moto's GetMetricData computes Sum/Average/Minimum/Maximum/SampleCount but not percentiles, so
the moto-backed tests read ModelLatency with ``Maximum`` (one datum per minute and variant,
so the maximum is that minute's value); the request for the default ``p99`` is checked with a
recording fake client.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from canary_evaluator import handler as handler_module
from canary_evaluator.handler import evaluate, handler
from canary_evaluator.metrics import (
    CloudWatchClient,
    CloudWatchRejectedError,
    CloudWatchUnavailableError,
    MetricDataError,
)
from sagemaker_constructs.rollout.contract import EVALUATOR_TRANSIENT_ERRORS
from sagemaker_constructs.rollout.definition import LAMBDA_RETRY_ERRORS

ENDPOINT = "fraud-detector"
BASELINE = "blue"
CANARY = "green"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
#: When the ten minutes before NOW are all published (the last one ended a minute ago).
LATER = NOW + timedelta(minutes=1)
MOTO_POLICY: dict[str, Any] = {"latency": {"statistic": "Maximum"}}


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def client(aws_env: None) -> Any:
    config = Config(retries={"mode": "standard", "max_attempts": 8})
    return boto3.client("cloudwatch", region_name="us-east-1", config=config)


@pytest.fixture
def get_metric_data_calls(client: Any) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(params)

    client.meta.events.register("before-call.cloudwatch.GetMetricData", record)
    return calls


def put_traffic(
    client: Any,
    variant: str,
    *,
    invocations: int = 1000,
    errors_5xx: int = 1,
    errors_4xx: int = 0,
    latency_us: float = 100_000.0,
    minutes: int = 10,
    seed: int = 0,
) -> None:
    """Per-minute SageMaker metrics of one variant over the ``minutes`` before NOW."""
    rng = random.Random(f"{variant}-{seed}")
    dims = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": variant}]
    data: list[dict[str, Any]] = []
    for minute in range(minutes):
        stamp = NOW - timedelta(minutes=minutes - minute) + timedelta(seconds=20)
        for name, value in (
            ("Invocations", invocations),
            ("Invocation5XXErrors", errors_5xx),
            ("Invocation4XXErrors", errors_4xx),
            ("ModelLatency", latency_us * rng.lognormvariate(0.0, 0.05)),
        ):
            data.append(
                {"MetricName": name, "Dimensions": dims, "Timestamp": stamp, "Value": value}
            )
    client.put_metric_data(Namespace="AWS/SageMaker", MetricData=data)


def event(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "endpoint_name": ENDPOINT,
        "baseline_variant": BASELINE,
        "canary_variant": CANARY,
        "window_start": (NOW - timedelta(minutes=10)).isoformat().replace("+00:00", "Z"),
        "policy": MOTO_POLICY,
    }
    base.update(overrides)
    return base


def run(client: Any, ev: Mapping[str, Any]) -> dict[str, Any]:
    return evaluate(ev, cloudwatch=cast(CloudWatchClient, client), now=LATER)


def verdicts(response: Mapping[str, Any]) -> dict[str, str]:
    return {c["name"]: c["verdict"] for c in response["checks"]}


# ------------------------------------------------------------------------------------------
# Verdicts end to end
# ------------------------------------------------------------------------------------------


def test_healthy_canary_passes_with_one_get_metric_data_call(
    client: Any, get_metric_data_calls: list[dict[str, Any]]
) -> None:
    put_traffic(client, BASELINE, invocations=5700, errors_5xx=6)
    put_traffic(client, CANARY, invocations=300, errors_5xx=0)
    response = run(client, event())
    assert response["verdict"] == "PASS", response["reasons"]
    assert response["baseline_invocations"] == 57_000
    assert response["canary_invocations"] == 3000
    assert response["baseline_summary"]["errors_5xx"] == 60
    assert len(response["baseline_summary"]["latency_values"]) == 10
    assert response["baseline_source"] == "live"
    assert len(get_metric_data_calls) == 1
    json.dumps(response)  # JSON-serialisable


def test_error_regression_fails_with_figures_in_the_reason(
    client: Any, get_metric_data_calls: list[dict[str, Any]]
) -> None:
    put_traffic(client, BASELINE, invocations=900, errors_5xx=1)
    put_traffic(client, CANARY, invocations=50, errors_5xx=3)  # 6 % vs 0.11 %
    response = run(client, event())
    assert response["verdict"] == "FAIL"
    assert verdicts(response)["error_rate"] == "FAIL"
    assert any("6.00% (30/500)" in r and "0.11% (10/9000)" in r for r in response["reasons"])
    check = next(c for c in response["checks"] if c["name"] == "error_rate")
    assert check["p_value"] < 0.05
    assert check["threshold"] == 0.01
    assert len(get_metric_data_calls) == 1


def test_latency_regression_fails(client: Any) -> None:
    put_traffic(client, BASELINE, latency_us=100_000)
    put_traffic(client, CANARY, latency_us=200_000)
    response = run(client, event())
    assert response["verdict"] == "FAIL"
    assert verdicts(response)["latency"] == "FAIL"


def test_too_little_canary_traffic_is_inconclusive(client: Any) -> None:
    put_traffic(client, BASELINE)
    put_traffic(client, CANARY, invocations=5, errors_5xx=0)  # 50 < 100
    response = run(client, event())
    assert response["verdict"] == "INCONCLUSIVE"
    assert verdicts(response)["canary_invocations"] == "INCONCLUSIVE"


def test_no_data_at_all_is_inconclusive_never_pass(client: Any) -> None:
    response = run(client, event())
    assert response["verdict"] == "INCONCLUSIVE"
    assert response["canary_invocations"] == 0


def test_client_errors_are_reported_but_do_not_fail(client: Any) -> None:
    put_traffic(client, BASELINE, errors_4xx=5)
    put_traffic(client, CANARY, errors_4xx=400)
    response = run(client, event())
    assert response["verdict"] == "PASS"
    check = next(c for c in response["checks"] if c["name"] == "client_errors")
    assert check["informational"] is True
    assert check["canary"] == pytest.approx(0.4)
    assert response["baseline_summary"]["errors_4xx"] == 50


def _alarm(client: Any, name: str, state: str) -> None:
    client.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10,
        ComparisonOperator="GreaterThanThreshold",
    )
    client.set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")


@pytest.mark.parametrize(
    ("states", "names", "expected"),
    [
        ({"cpu": "OK", "errors": "ALARM"}, ["cpu", "errors"], "FAIL"),
        ({"cpu": "OK", "errors": "OK"}, ["cpu", "errors"], "PASS"),
        ({"cpu": "OK"}, ["cpu", "missing-alarm"], "INCONCLUSIVE"),
    ],
)
def test_alarms(
    client: Any,
    get_metric_data_calls: list[dict[str, Any]],
    states: dict[str, str],
    names: list[str],
    expected: str,
) -> None:
    put_traffic(client, BASELINE)
    put_traffic(client, CANARY)
    for name, state in states.items():
        _alarm(client, name, state)
    response = run(client, event(policy={**MOTO_POLICY, "alarm_names": names}))
    assert verdicts(response)["alarms"] == expected
    assert response["verdict"] == expected
    assert len(get_metric_data_calls) == 1


def test_extra_metric_per_variant_is_compared(client: Any) -> None:
    put_traffic(client, BASELINE)
    put_traffic(client, CANARY)
    rng = random.Random(1)
    for variant, level in ((BASELINE, 0.30), (CANARY, 0.15)):  # conversions halve
        client.put_metric_data(
            Namespace="Shop",
            MetricData=[
                {
                    "MetricName": "Conversions",
                    "Dimensions": [{"Name": "Variant", "Value": variant}],
                    "Timestamp": NOW - timedelta(minutes=10 - m) + timedelta(seconds=20),
                    "Value": level * rng.uniform(0.95, 1.05),
                }
                for m in range(10)
            ],
        )
    metric = {
        "namespace": "Shop",
        "name": "Conversions",
        "dimensions": {"Variant": "${variant}"},
        "statistic": "Average",
        "direction": "higher_is_better",
        "tolerance": 0.1,
    }
    response = run(client, event(policy={**MOTO_POLICY, "extra_metrics": [metric]}))
    assert verdicts(response)["extra:Shop/Conversions:Average"] == "FAIL"
    assert response["verdict"] == "FAIL"
    assert len(response["baseline_summary"]["extra_values"]["extra:Shop/Conversions:Average"]) == 10


def test_final_step_uses_the_baseline_reference(client: Any) -> None:
    # A previous step (both variants live) gives the baseline's figures ...
    put_traffic(client, BASELINE, seed=1)
    put_traffic(client, CANARY, seed=1)
    earlier = evaluate(event(), cloudwatch=client, now=NOW)
    assert earlier["verdict"] == "PASS"
    reference = earlier["baseline_summary"]

    # ... then at 100 % only the canary serves.
    later = NOW + timedelta(minutes=30)
    window = event(window_start=(later - timedelta(minutes=10)).isoformat())
    put_variant_later(client, CANARY, errors_5xx=1)
    without = evaluate(window, cloudwatch=client, now=later)
    assert without["verdict"] == "INCONCLUSIVE"
    assert without["baseline_source"] == "none"
    assert verdicts(without)["error_rate"] == "INCONCLUSIVE"

    with_reference = evaluate(
        {**window, "baseline_reference": reference}, cloudwatch=client, now=later
    )
    assert with_reference["baseline_source"] == "reference"
    assert with_reference["verdict"] == "PASS", with_reference["reasons"]


def test_final_step_regression_against_the_reference_fails(client: Any) -> None:
    reference = {"invocations": 9000, "errors_5xx": 9, "errors_4xx": 0,
                 "latency_values": [100_000.0 + 500 * i for i in range(10)]}  # fmt: skip
    later = NOW + timedelta(minutes=30)
    put_variant_later(client, CANARY, errors_5xx=30)  # 3 %
    window = event(window_start=(later - timedelta(minutes=10)).isoformat())
    response = evaluate({**window, "baseline_reference": reference}, cloudwatch=client, now=later)
    assert response["verdict"] == "FAIL"
    assert verdicts(response)["error_rate"] == "FAIL"


def put_variant_later(client: Any, variant: str, *, errors_5xx: int) -> None:
    dims = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": variant}]
    data = []
    for minute in range(10):
        stamp = NOW + timedelta(minutes=20 + minute, seconds=20)
        for name, value in (
            ("Invocations", 1000.0),
            ("Invocation5XXErrors", float(errors_5xx)),
            ("Invocation4XXErrors", 0.0),
            ("ModelLatency", 100_000.0 + 700 * minute),
        ):
            data.append(
                {"MetricName": name, "Dimensions": dims, "Timestamp": stamp, "Value": value}
            )
    client.put_metric_data(Namespace="AWS/SageMaker", MetricData=data)


# ------------------------------------------------------------------------------------------
# The request, paging, failures
# ------------------------------------------------------------------------------------------


class FakeCloudWatch:
    """Records requests; answers with canned pages."""

    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages
        self.requests: list[dict[str, Any]] = []

    def get_metric_data(self, **kwargs: Any) -> Mapping[str, Any]:
        self.requests.append(kwargs)
        return self.pages[len(self.requests) - 1]

    def describe_alarms(self, **kwargs: Any) -> Mapping[str, Any]:
        raise AssertionError("no alarms configured")


def test_default_request_reads_every_metric_of_both_variants_in_one_call() -> None:
    fake = FakeCloudWatch([{"MetricDataResults": []}])
    response = evaluate(
        {k: v for k, v in event().items() if k != "policy"}, cloudwatch=fake, now=LATER
    )
    assert response["verdict"] == "INCONCLUSIVE"  # no data is never a PASS
    (request,) = fake.requests
    assert request["StartTime"] == NOW - timedelta(minutes=10)
    assert request["EndTime"] == NOW
    queries = {q["Id"]: q["MetricStat"] for q in request["MetricDataQueries"]}
    assert len(queries) == 8
    seen = set()
    for stat in queries.values():
        metric = stat["Metric"]
        assert metric["Namespace"] == "AWS/SageMaker"
        assert stat["Period"] == 60
        dims = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
        assert dims["EndpointName"] == ENDPOINT
        expected = "p99" if metric["MetricName"] == "ModelLatency" else "Sum"
        assert stat["Stat"] == expected
        seen.add((dims["VariantName"], metric["MetricName"]))
    names = ("Invocations", "Invocation5XXErrors", "Invocation4XXErrors", "ModelLatency")
    assert seen == {(v, n) for v in (BASELINE, CANARY) for n in names}


def _result(query_id: str, values: list[float], status: str = "Complete") -> dict[str, Any]:
    stamps = [NOW - timedelta(minutes=10 - i) for i in range(len(values))]
    return {"Id": query_id, "Timestamps": stamps, "Values": values, "StatusCode": status}


def test_next_token_pages_are_merged() -> None:
    first = {
        "MetricDataResults": [
            _result("b_inv", [500.0] * 5, "PartialData"),
            _result("c_inv", [60.0]),
        ],
        "NextToken": "page-2",
    }
    second = {"MetricDataResults": [_result("b_inv", [500.0] * 5), _result("c_inv", [40.0])]}
    fake = FakeCloudWatch([first, second])
    response = evaluate(event(), cloudwatch=fake, now=NOW)
    assert response["baseline_invocations"] == 5000
    assert response["canary_invocations"] == 100
    assert fake.requests[1]["NextToken"] == "page-2"
    assert "NextToken" not in fake.requests[0]


@pytest.mark.parametrize("status", ["InternalError", "Forbidden"])
def test_incomplete_results_raise_instead_of_guessing(status: str) -> None:
    fake = FakeCloudWatch([{"MetricDataResults": [_result("c_inv", [1.0], status)]}])
    with pytest.raises(MetricDataError, match=status):
        evaluate(event(), cloudwatch=fake, now=NOW)


def test_partial_data_without_next_token_raises() -> None:
    fake = FakeCloudWatch([{"MetricDataResults": [_result("c_inv", [1.0], "PartialData")]}])
    with pytest.raises(MetricDataError, match="PartialData"):
        evaluate(event(), cloudwatch=fake, now=NOW)


def _cbor_text(text: str) -> bytes:
    raw = text.encode()
    assert len(raw) < 256
    return (bytes([0x60 + len(raw)]) if len(raw) < 24 else bytes([0x78, len(raw)])) + raw


class _Body:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def _throttle_after(client: Any, throttles: int, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Answer the first ``throttles`` GetMetricData attempts with a Throttling error."""
    attempts: list[str] = []
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)  # botocore's retry back-off
    protocol = client.meta.service_model.resolved_protocol  # the one botocore speaks
    if protocol == "smithy-rpc-v2-cbor":
        body = (
            b"\xa2" + _cbor_text("__type") + _cbor_text("Throttling")
            + _cbor_text("message") + _cbor_text("Rate exceeded")
        )  # fmt: skip
        headers = {"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor"}
    else:
        assert protocol == "json", protocol
        body = json.dumps({"__type": "Throttling", "message": "Rate exceeded"}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0"}

    def hook(request: Any, **_: Any) -> AWSResponse | None:
        attempts.append("throttled" if len(attempts) < throttles else "answered")
        if attempts[-1] == "answered":
            return None  # moto answers
        http_headers = HTTPHeaders()
        for key, value in headers.items():
            http_headers[key] = value
        return AWSResponse(request.url, 400, http_headers, _Body(body))

    client.meta.events.register_first("before-send.cloudwatch.GetMetricData", hook)
    return attempts


def test_throttling_is_retried(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    put_traffic(client, BASELINE)
    put_traffic(client, CANARY)
    attempts = _throttle_after(client, 3, monkeypatch)
    response = run(client, event())
    assert response["verdict"] == "PASS"
    assert attempts == ["throttled"] * 3 + ["answered"]


def test_persistent_throttling_raises_a_transient_error(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts = _throttle_after(client, 1000, monkeypatch)
    with pytest.raises(CloudWatchUnavailableError, match="Throttling") as raised:
        run(client, event())
    assert isinstance(raised.value.__cause__, ClientError)
    assert len(attempts) == client.meta.config.retries["total_max_attempts"]
    assert len(attempts) > 1
    # the state machine retries exactly the evaluator's transient errors
    assert type(raised.value).__name__ in EVALUATOR_TRANSIENT_ERRORS
    assert set(EVALUATOR_TRANSIENT_ERRORS) <= set(LAMBDA_RETRY_ERRORS)


class _Rejecting(FakeCloudWatch):
    def __init__(self, code: str, status: int) -> None:
        super().__init__([])
        self.code, self.status = code, status

    def get_metric_data(self, **kwargs: Any) -> Mapping[str, Any]:
        response: Any = {
            "Error": {"Code": self.code, "Message": "no"},
            "ResponseMetadata": {"HTTPStatusCode": self.status},
        }
        raise ClientError(response, "GetMetricData")


@pytest.mark.parametrize(
    ("code", "status", "transient"),
    [
        ("AccessDenied", 403, False),
        ("InvalidParameterValue", 400, False),
        ("InternalServiceFault", 500, True),
        ("Throttling", 400, True),
        ("SomethingNew", 503, True),
    ],
)
def test_cloudwatch_errors_are_named_transient_or_rejected(
    code: str, status: int, transient: bool
) -> None:
    expected = CloudWatchUnavailableError if transient else CloudWatchRejectedError
    with pytest.raises(expected, match=code):
        evaluate(event(), cloudwatch=_Rejecting(code, status), now=LATER)
    assert (expected.__name__ in EVALUATOR_TRANSIENT_ERRORS) is transient


# ------------------------------------------------------------------------------------------
# The Lambda entry point and the event
# ------------------------------------------------------------------------------------------


def test_handler_uses_a_lazily_created_retrying_client_and_logs_json(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(handler_module, "_client", None)
    now_ish = datetime.now(UTC)
    ev = event(
        window_start=(now_ish - timedelta(minutes=10)).isoformat(),
        window_end=now_ish.isoformat(),
    )
    with caplog.at_level(logging.INFO, logger="canary_evaluator"):
        response = handler(ev, SimpleNamespace(aws_request_id="req-1"))
    assert response["verdict"] == "INCONCLUSIVE"  # moto has no data
    client = handler_module.default_client()
    assert client is handler_module.default_client()
    retries = cast(Any, client).meta.config.retries
    assert retries["mode"] == "standard"
    assert retries["total_max_attempts"] == 9  # max_attempts=8 retries after the first try
    logged = [json.loads(r.getMessage()) for r in caplog.records if r.name == "canary_evaluator"]
    assert logged[-1]["verdict"] == "INCONCLUSIVE"
    assert logged[-1]["request_id"] == "req-1"
    assert logged[-1]["endpoint_name"] == ENDPOINT


def test_window_end_defaults_to_now_less_the_publishing_delay() -> None:
    fake = FakeCloudWatch([{"MetricDataResults": []}])
    response = evaluate(event(), cloudwatch=fake, now=LATER)
    assert fake.requests[0]["EndTime"] == NOW  # the minute before LATER may be incomplete
    assert response["window_end"] == LATER.isoformat()
    assert response["periods_end"] == NOW.isoformat()
    assert response["periods"] == 10


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"endpoint_name": ""}, r"endpoint_name: got ''"),
        ({"canary_variant": None}, r"canary_variant: got None"),
        ({"canary_variant": BASELINE}, r"two different variants"),
        ({"window_start": "yesterday"}, r"window_start: got 'yesterday'"),
        ({"window_start": 12}, r"window_start: got 12"),
        ({"window_end": (NOW - timedelta(hours=1)).isoformat()}, r"is not after window_start"),
        ({"policy": {"latency": {"alpha": 3}}}, r"policy\.latency\.alpha: got 3"),
        ({"baseline_reference": {"invocations": "many"}}, r"baseline_reference\.invocations"),
    ],
)
def test_invalid_event_is_rejected(overrides: dict[str, Any], match: str) -> None:
    fake = FakeCloudWatch([])
    with pytest.raises(ValueError, match=match):
        evaluate(event(**overrides), cloudwatch=fake, now=NOW)
    assert fake.requests == []
