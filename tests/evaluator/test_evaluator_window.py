"""Whole periods only, ``baseline_weight`` and bounded answers, against an AWS-like CloudWatch.

``StrictCloudWatch`` (tests/strict_aws.py) rounds StartTime down to the period, computes p99
from individual requests and publishes with a delay, as AWS does; moto does none of these.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strict_aws import StrictCloudWatch

from canary_evaluator.handler import MAX_RESPONSE_BYTES, bound_response, evaluate
from canary_evaluator.window import PERIOD_SECONDS, PUBLISH_DELAY_SECONDS, whole_periods

ENDPOINT, BASELINE, CANARY = "ep", "blue", "green"
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.value = now

    def __call__(self) -> datetime:
        return self.value


def _serve(
    cloudwatch: StrictCloudWatch,
    variant: str,
    start: datetime,
    seconds: float,
    rate: float,
    *,
    latency_ms: float = 20.0,
    seed: int = 0,
) -> None:
    rng = np.random.default_rng(seed)
    count = int(rate * seconds)
    times = np.sort(rng.uniform(start.timestamp(), start.timestamp() + seconds, count))
    latencies = latency_ms * 1000 * rng.lognormal(0.0, 0.25, count)
    cloudwatch.record(ENDPOINT, variant, times, latencies, np.full(count, 200))


def _event(window_start: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "endpoint_name": ENDPOINT,
        "baseline_variant": BASELINE,
        "canary_variant": CANARY,
        "window_start": window_start.isoformat(),
        **extra,
    }


# -- whole periods --------------------------------------------------------------------------


@given(
    start=st.integers(0, 10_000),
    length=st.integers(1, 5_000),
    since_end=st.integers(-200, 500),
)
def test_whole_periods_are_aligned_inside_the_window_and_published(
    start: int, length: int, since_end: int
) -> None:
    window_start = T0 + timedelta(seconds=start + 0.5)
    window_end = window_start + timedelta(seconds=length)
    now = window_end + timedelta(seconds=since_end)
    periods = whole_periods(window_start, window_end, now)
    for edge in (periods.start, periods.end):
        assert edge.timestamp() % PERIOD_SECONDS == 0
    assert periods.start >= window_start
    assert periods.end <= max(periods.start, window_end)
    assert periods.end <= max(periods.start, now - timedelta(seconds=PUBLISH_DELAY_SECONDS))
    # and no whole, published period of the window is left out
    after = periods.end + timedelta(seconds=PERIOD_SECONDS)
    assert periods.start - timedelta(seconds=PERIOD_SECONDS) < window_start
    assert after > window_end or after > now - timedelta(seconds=PUBLISH_DELAY_SECONDS)


def test_traffic_under_the_previous_weights_is_not_counted() -> None:
    """GIVEN a step that began at 12:03:30 (the baseline served alone until then), WHEN the
    window is judged, THEN the minute 12:03 (rounded down by CloudWatch) is left out."""
    clock = Clock(T0 + timedelta(minutes=10))
    cloudwatch = StrictCloudWatch(clock)
    step_start = T0 + timedelta(minutes=3, seconds=30)
    _serve(cloudwatch, BASELINE, T0, 210, rate=50)  # until 12:03:30, 100 % baseline
    _serve(cloudwatch, CANARY, step_start, 400, rate=50, seed=1)  # from 12:03:30, 100 % canary
    answer = evaluate(_event(step_start), cloudwatch=cloudwatch, now=clock.value)
    assert answer["periods_start"] == (T0 + timedelta(minutes=4)).isoformat()
    assert answer["periods_end"] == (T0 + timedelta(minutes=9)).isoformat()
    assert answer["periods"] == 5
    assert answer["baseline_invocations"] == 0  # the 12:03 sliver of baseline traffic is out
    assert 5 * 60 * 45 < answer["canary_invocations"] < 5 * 60 * 55


def test_a_window_without_a_whole_period_is_inconclusive_but_reads_cloudwatch() -> None:
    clock = Clock(T0 + timedelta(minutes=10, seconds=20))
    cloudwatch = StrictCloudWatch(clock)
    _serve(cloudwatch, CANARY, T0, 600, rate=50)
    answer = evaluate(
        _event(T0 + timedelta(minutes=9, seconds=50)), cloudwatch=cloudwatch, now=clock.value
    )
    assert answer["periods"] == 0
    assert answer["verdict"] == "INCONCLUSIVE"
    assert answer["canary_invocations"] == 0  # the probe's figures are dropped


# -- baseline_weight --------------------------------------------------------------------------


def _final_step(baseline_weight: int | None) -> dict[str, Any]:
    """The 100 % step, with 1,000 stray baseline requests in its one whole first minute."""
    clock = Clock(T0 + timedelta(minutes=40))
    cloudwatch = StrictCloudWatch(clock)
    earlier_end = T0 + timedelta(minutes=20)
    _serve(cloudwatch, BASELINE, T0, 1200, rate=50, seed=2)
    _serve(cloudwatch, CANARY, T0, 1200, rate=50, seed=3)
    earlier = evaluate(_event(T0), cloudwatch=cloudwatch, now=earlier_end + timedelta(minutes=1))
    assert earlier["verdict"] == "PASS", earlier["reasons"]
    start = T0 + timedelta(minutes=24)
    _serve(cloudwatch, BASELINE, start, 20, rate=50, seed=4)  # in-flight stragglers
    _serve(cloudwatch, CANARY, start, 900, rate=100, seed=5)
    event = _event(start, baseline_reference=earlier["baseline_summary"])
    if baseline_weight is not None:
        event["baseline_weight"] = baseline_weight
    return evaluate(event, cloudwatch=cloudwatch, now=clock.value)


def test_stray_baseline_traffic_at_100_percent_is_judged_against_the_reference() -> None:
    answer = _final_step(baseline_weight=0)
    assert answer["baseline_source"] == "reference"
    assert answer["verdict"] == "PASS", answer["reasons"]
    assert answer["baseline_weight"] == 0


def test_without_baseline_weight_the_stray_traffic_would_count_as_a_live_baseline() -> None:
    answer = _final_step(baseline_weight=None)
    assert answer["baseline_source"] == "live"
    assert answer["verdict"] == "INCONCLUSIVE"  # one baseline period: the rank test can't decide


@pytest.mark.parametrize("weight", [-1, 101, "0", True, float("nan")])
def test_baseline_weight_must_be_a_percentage(weight: object) -> None:
    cloudwatch = StrictCloudWatch(Clock(T0))
    with pytest.raises(ValueError, match=r"baseline_weight: got"):
        evaluate(
            _event(T0 - timedelta(minutes=5), baseline_weight=weight),
            cloudwatch=cloudwatch,
            now=T0,
        )


# -- bounded answers --------------------------------------------------------------------------


def test_the_answer_stays_under_32_kib_for_a_week_of_periods_and_50_extra_metrics() -> None:
    week = 7 * 24 * 60
    series = [123456.789 + i for i in range(week)]
    summary = {
        "invocations": 10**9,
        "errors_5xx": 10**6,
        "errors_4xx": 0,
        "latency_values": series,
        "extra_values": {f"Namespace/Metric{i}/p99": series for i in range(50)},
    }
    checks = [
        {"name": f"check{i}", "verdict": "PASS", "reason": "x" * 400, "baseline": 1.0,
         "canary": 1.0, "threshold": 1.0, "p_value": 0.5, "informational": False}
        for i in range(56)
    ]  # fmt: skip
    response = {
        "verdict": "PASS",
        "reasons": ["x" * 400] * 56,
        "checks": checks,
        "baseline_summary": json.loads(json.dumps(summary)),
        "canary_summary": json.loads(json.dumps(summary)),
    }
    bounded = bound_response(response)
    assert len(json.dumps(bounded).encode()) <= MAX_RESPONSE_BYTES
    kept = bounded["baseline_summary"]["latency_values"]
    assert 1 <= len(kept) == bounded["summary_periods"] < week
    assert kept == [float(f"{v:.6g}") for v in series[-len(kept) :]]  # the most recent ones
    assert bounded["baseline_summary"]["invocations"] == 10**9  # totals are never cut


def test_a_small_answer_is_only_rounded() -> None:
    response = {
        "baseline_summary": {"latency_values": [1.23456789], "extra_values": {}},
        "canary_summary": {"latency_values": [2.0], "extra_values": {}},
    }
    bounded = bound_response(response)
    assert bounded["baseline_summary"]["latency_values"] == [1.23457]
    assert bounded["summary_periods"] == 1
