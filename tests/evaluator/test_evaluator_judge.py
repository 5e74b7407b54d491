"""The judge's pure decision logic: statistics cross-checked with scipy, properties, examples."""

from __future__ import annotations

import json
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, special, stats  # type: ignore[import-untyped]

from canary_evaluator.judge import (
    EXACT_RANK_TEST_LIMIT,
    CheckResult,
    VariantFigures,
    error_rate_p_value,
    evaluate_window,
    overall_verdict,
    rank_test_p_value,
    smallest_rank_p_value,
)
from canary_evaluator.policy import ErrorRatePolicy, ExtraMetric, LatencyPolicy, Policy

FAST = settings(max_examples=200, deadline=None)
STEADY_LATENCY = tuple(100_000.0 + 1_000.0 * i for i in range(10))  # 10 periods, microseconds


def figures(
    invocations: int,
    errors_5xx: int = 0,
    latency: tuple[float, ...] = STEADY_LATENCY,
    errors_4xx: int = 0,
    extra: dict[str, tuple[float, ...]] | None = None,
) -> VariantFigures:
    return VariantFigures(invocations, errors_5xx, errors_4xx, latency, extra or {})


def scipy_farrington_manning(e_c: int, n_c: int, e_b: int, n_b: int, margin: float) -> float:
    """Independent implementation: restricted MLE by scipy's optimiser, tail by scipy."""

    def negative_log_likelihood(p_b: float) -> float:
        p_c = p_b + margin
        return -float(
            special.xlogy(e_c, p_c)
            + special.xlogy(n_c - e_c, 1 - p_c)
            + special.xlogy(e_b, p_b)
            + special.xlogy(n_b - e_b, 1 - p_b)
        )

    result = optimize.minimize_scalar(
        negative_log_likelihood,
        bounds=(0.0, 1.0 - margin),
        method="bounded",
        options={"xatol": 1e-13},
    )
    # Brent's bounded search never lands exactly on a bound: where the likelihood is largest at
    # a bound (all requests failed, say) the bound is the maximiser.
    p_b = min((float(result.x), 0.0, 1.0 - margin), key=negative_log_likelihood)
    p_c = p_b + margin
    variance = p_c * (1 - p_c) / n_c + p_b * (1 - p_b) / n_b
    z = (e_c / n_c - e_b / n_b - margin) / math.sqrt(variance)
    return float(stats.norm.sf(z))


@st.composite
def error_counts(draw: st.DrawFn, max_n: int = 20_000) -> tuple[int, int, int, int]:
    """(canary errors, canary n, baseline errors, baseline n) with realistic-to-extreme rates."""
    n_c = draw(st.integers(1, max_n))
    n_b = draw(st.integers(1, max_n))
    rate_cap_c = draw(st.sampled_from([0.0, 0.01, 0.05, 0.2, 1.0]))
    rate_cap_b = draw(st.sampled_from([0.0, 0.002, 0.01, 0.05, 1.0]))
    e_c = draw(st.integers(0, math.floor(n_c * rate_cap_c)))
    e_b = draw(st.integers(0, math.floor(n_b * rate_cap_b)))
    return e_c, n_c, e_b, n_b


# ------------------------------------------------------------------------------------------
# Statistics against scipy
# ------------------------------------------------------------------------------------------


@FAST
@given(error_counts(), st.sampled_from([0.0, 0.005, 0.01, 0.05]))
def test_error_rate_p_value_matches_scipy_reference(
    counts: tuple[int, int, int, int], margin: float
) -> None:
    e_c, n_c, e_b, n_b = counts
    if margin == 0.0 and e_c + e_b in (0, n_c + n_b):
        return  # zero pooled variance: defined as p = 1 below, scipy's formula divides by 0
    ours = error_rate_p_value(e_c, n_c, e_b, n_b, margin)
    reference = scipy_farrington_manning(e_c, n_c, e_b, n_b, margin)
    assert ours == pytest.approx(reference, rel=1e-5, abs=2e-6)


def test_error_rate_p_value_with_zero_pooled_variance_is_one() -> None:
    assert error_rate_p_value(0, 500, 0, 10_000, 0.0) == 1.0


@pytest.mark.parametrize(("m", "n"), [(1, 1), (3, 3), (4, 9), (10, 10), (12, 30), (50, 50)])
def test_rank_test_exact_p_value_matches_scipy(m: int, n: int) -> None:
    assert m * n <= EXACT_RANK_TEST_LIMIT
    rng = random.Random(m * 1000 + n)
    for shift in (-0.5, 0.0, 0.4, 1.5):
        x = [rng.gauss(shift, 1.0) for _ in range(m)]
        y = [rng.gauss(0.0, 1.0) for _ in range(n)]
        expected = stats.mannwhitneyu(x, y, alternative="greater", method="exact").pvalue
        assert rank_test_p_value(x, y) == pytest.approx(expected, rel=1e-9, abs=1e-15)


@FAST
@given(
    st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=40, unique=True),
    st.integers(1, 39),
)
def test_rank_test_p_value_matches_scipy_on_any_tie_free_split(
    values: list[float], split: int
) -> None:
    split = min(split, len(values) - 1)
    x, y = values[:split], values[split:]
    expected = stats.mannwhitneyu(x, y, alternative="greater", method="exact").pvalue
    assert rank_test_p_value(x, y) == pytest.approx(expected, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(("m", "n"), [(51, 50), (60, 90), (200, 300)])
def test_rank_test_asymptotic_p_value_matches_scipy(m: int, n: int) -> None:
    assert m * n > EXACT_RANK_TEST_LIMIT
    rng = random.Random(m + n)
    for shift in (-0.2, 0.0, 0.2, 0.6):
        x = [rng.lognormvariate(shift, 1.0) for _ in range(m)]
        y = [rng.lognormvariate(0.0, 1.0) for _ in range(n)]
        expected = stats.mannwhitneyu(
            x, y, alternative="greater", method="asymptotic", use_continuity=True
        ).pvalue
        assert rank_test_p_value(x, y) == pytest.approx(expected, rel=1e-9, abs=1e-15)


@FAST
@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=12),
    st.lists(st.integers(0, 40), min_size=1, max_size=12),
)
def test_rank_test_counts_ties_against_the_canary(x: list[int], y: list[int]) -> None:
    """Ties count against the canary: breaking every tie in its favour can only lower p."""
    strict = rank_test_p_value([float(v) for v in x], [float(v) for v in y])
    favoured = rank_test_p_value([v + 0.5 for v in x], [float(v) for v in y])
    assert favoured <= strict


def test_smallest_rank_p_value_is_one_over_binomial() -> None:
    assert smallest_rank_p_value(3, 3) == pytest.approx(1 / math.comb(6, 3))
    assert smallest_rank_p_value(2, 10) == pytest.approx(1 / math.comb(12, 2))
    assert smallest_rank_p_value(0, 10) == 1.0


# ------------------------------------------------------------------------------------------
# Error-rate properties
# ------------------------------------------------------------------------------------------


@FAST
@given(error_counts(), st.integers(1, 500))
def test_more_canary_errors_never_turn_fail_into_pass(
    counts: tuple[int, int, int, int], extra_errors: int
) -> None:
    e_c, n_c, e_b, n_b = counts
    more = min(n_c, e_c + extra_errors)
    before = evaluate_window(figures(n_b, e_b), figures(n_c, e_c))
    after = evaluate_window(figures(n_b, e_b), figures(n_c, more))
    if before.verdict == "FAIL":
        assert after.verdict == "FAIL"
    if n_c >= 100 and n_b >= 100:  # the test runs once both variants have the minimum
        p_before = before.check("error_rate").p_value
        p_after = after.check("error_rate").p_value
        assert p_before is not None
        assert p_after is not None
        assert p_after <= p_before + 1e-12


@FAST
@given(error_counts())
def test_identical_variants_never_fail_a_relative_check(counts: tuple[int, int, int, int]) -> None:
    _, _, errors, n = counts
    same = figures(n, errors)
    judgement = evaluate_window(same, same)
    assert judgement.check("error_rate").verdict != "FAIL"
    assert judgement.check("latency").verdict != "FAIL"
    if errors / n <= Policy().error_rate.max_rate:  # the absolute ceiling ignores the baseline
        assert judgement.verdict != "FAIL"


@FAST
@given(st.integers(100, 5000), st.integers(1000, 50_000))
def test_zero_errors_on_both_sides_never_fail(n_c: int, n_b: int) -> None:
    judgement = evaluate_window(figures(n_b, 0), figures(n_c, 0))
    assert judgement.verdict == "PASS"
    p_value = judgement.check("error_rate").p_value
    assert p_value is not None
    assert p_value > 0.5  # the observed increase (0) is below the allowance


def test_zero_baseline_errors() -> None:
    assert evaluate_window(figures(10_000, 0), figures(500, 0)).verdict == "PASS"
    failing = evaluate_window(figures(10_000, 0), figures(500, 30))
    assert failing.verdict == "FAIL"
    # Both the relative test and the ceiling catch 6 %: the relative one with a tiny p-value.
    assert failing.check("error_rate").verdict == "FAIL"
    assert failing.check("error_rate_ceiling").verdict == "FAIL"
    p_value = failing.check("error_rate").p_value
    assert p_value is not None
    assert p_value < 1e-6


def test_relative_error_increase_below_the_ceiling_fails_when_significant() -> None:
    # 3 % vs 0.1 %: under the 5 % ceiling, 2.9 pp above baseline, far beyond 1 pp allowed.
    judgement = evaluate_window(figures(20_000, 20), figures(3000, 90))
    assert judgement.check("error_rate_ceiling").verdict == "PASS"
    assert judgement.check("error_rate").verdict == "FAIL"
    assert judgement.verdict == "FAIL"


def test_increase_above_allowance_but_not_significant_does_not_fail() -> None:
    # 2/100 = 2 % vs 0.1 %: 1.9 pp observed, but 100 requests cannot show it exceeds 1 pp.
    judgement = evaluate_window(figures(20_000, 20), figures(100, 2))
    assert judgement.check("error_rate").verdict == "PASS"
    p_value = judgement.check("error_rate").p_value
    assert p_value is not None
    assert p_value > 0.05


def test_fail_reason_names_observed_values_and_threshold() -> None:
    judgement = evaluate_window(figures(9000, 9), figures(500, 24))
    assert judgement.verdict == "FAIL"
    reason = judgement.check("error_rate").reason
    assert "4.80% (24/500)" in reason
    assert "0.10% (9/9000)" in reason
    assert "4.70 pp > 1.00 pp allowed" in reason
    assert "alpha 0.05" in reason
    assert reason in judgement.reasons


def test_ceiling_fails_whatever_the_baseline() -> None:
    judgement = evaluate_window(figures(10_000, 900), figures(1000, 60))  # 9 % vs 6 %
    assert judgement.check("error_rate").verdict == "PASS"
    assert judgement.check("error_rate_ceiling").verdict == "FAIL"
    assert judgement.verdict == "FAIL"


@FAST
@given(st.integers(0, 99), st.integers(0, 99))
def test_too_few_canary_invocations_is_never_pass(n_c: int, errors: int) -> None:
    judgement = evaluate_window(figures(10_000, 10), figures(n_c, min(errors, n_c)))
    assert judgement.verdict == "INCONCLUSIVE"
    assert judgement.check("canary_invocations").verdict == "INCONCLUSIVE"


def test_min_canary_invocations_is_configurable() -> None:
    policy = Policy(min_canary_invocations=1000)
    assert evaluate_window(figures(10_000), figures(999), policy).verdict == "INCONCLUSIVE"
    assert evaluate_window(figures(10_000), figures(1000), policy).verdict == "PASS"


def test_client_errors_are_informational() -> None:
    judgement = evaluate_window(figures(10_000, errors_4xx=10), figures(1000, errors_4xx=900))
    check = judgement.check("client_errors")
    assert check.informational
    assert check.verdict == "PASS"
    assert check.canary == pytest.approx(0.9)
    assert judgement.verdict == "PASS"


def test_thresholds_come_from_the_policy() -> None:
    strict = Policy(error_rate=ErrorRatePolicy(max_absolute_increase=0.001, max_rate=0.5))
    lenient = Policy(error_rate=ErrorRatePolicy(max_absolute_increase=0.05, max_rate=0.5))
    base, canary = figures(20_000, 20), figures(5000, 100)  # 0.1 % vs 2 %
    assert evaluate_window(base, canary, strict).check("error_rate").verdict == "FAIL"
    assert evaluate_window(base, canary, lenient).check("error_rate").verdict == "PASS"


# ------------------------------------------------------------------------------------------
# Latency properties
# ------------------------------------------------------------------------------------------

latency_series = st.lists(st.floats(1_000.0, 5_000_000.0), min_size=0, max_size=30)


@FAST
@given(latency_series, latency_series, st.floats(1.0, 4.0), st.floats(1.0, 2.0))
def test_slower_canary_never_turns_fail_into_pass(
    baseline: list[float], canary: list[float], factor: float, more: float
) -> None:
    base = figures(10_000, latency=tuple(baseline))
    slow = evaluate_window(base, figures(1000, latency=tuple(v * factor for v in canary)))
    slower = evaluate_window(base, figures(1000, latency=tuple(v * factor * more for v in canary)))
    if slow.check("latency").verdict == "FAIL":
        assert slower.check("latency").verdict == "FAIL"
    if slow.verdict == "FAIL":
        assert slower.verdict == "FAIL"


@FAST
@given(latency_series)
def test_identical_latency_series_never_fail(series: list[float]) -> None:
    same = figures(10_000, latency=tuple(series))
    assert evaluate_window(same, same).check("latency").verdict != "FAIL"


def _noisy(rng: random.Random, median: float, periods: int) -> tuple[float, ...]:
    return tuple(median * rng.lognormvariate(0.0, 0.08) for _ in range(periods))


def test_latency_regression_fails_and_healthy_passes() -> None:
    rng = random.Random(7)
    base = figures(10_000, latency=_noisy(rng, 100_000, 10))
    healthy = evaluate_window(base, figures(1000, latency=_noisy(rng, 100_000, 10)))
    regressed = evaluate_window(base, figures(1000, latency=_noisy(rng, 200_000, 10)))
    assert healthy.check("latency").verdict == "PASS"
    assert regressed.check("latency").verdict == "FAIL"
    assert "latency" in regressed.reasons[0]
    assert "ms" in regressed.reasons[0]


def test_slightly_slower_within_tolerance_passes() -> None:
    rng = random.Random(11)
    base = figures(10_000, latency=_noisy(rng, 100_000, 15))
    judgement = evaluate_window(base, figures(1000, latency=_noisy(rng, 110_000, 15)))
    assert judgement.check("latency").verdict == "PASS"


def test_one_noisy_minute_neither_fails_nor_hides_a_regression() -> None:
    rng = random.Random(3)
    base = figures(10_000, latency=_noisy(rng, 100_000, 10))
    spike = list(_noisy(rng, 100_000, 10))
    spike[4] = 5_000_000.0  # one 50x minute (a cold start, a GC pause)
    assert evaluate_window(base, figures(1000, latency=tuple(spike))).verdict == "PASS"

    regressed = list(_noisy(rng, 200_000, 10))
    regressed[6] = 10_000.0  # one suspiciously fast minute
    judgement = evaluate_window(base, figures(1000, latency=tuple(regressed)))
    assert judgement.check("latency").verdict == "FAIL"


def test_too_few_latency_periods_are_inconclusive_not_pass() -> None:
    base = figures(10_000, latency=(100_000.0, 101_000.0))
    judgement = evaluate_window(base, figures(1000, latency=(300_000.0, 310_000.0)))
    assert judgement.check("latency").verdict == "INCONCLUSIVE"
    assert judgement.verdict == "INCONCLUSIVE"
    missing = evaluate_window(figures(10_000), figures(1000, latency=()))
    assert missing.check("latency").verdict == "INCONCLUSIVE"


def test_latency_tolerance_comes_from_the_policy() -> None:
    rng = random.Random(5)
    base = figures(10_000, latency=_noisy(rng, 100_000, 10))
    canary = figures(1000, latency=_noisy(rng, 140_000, 10))
    tight = Policy(latency=LatencyPolicy(max_relative_increase=0.1))
    loose = Policy(latency=LatencyPolicy(max_relative_increase=0.8))
    assert evaluate_window(base, canary, tight).check("latency").verdict == "FAIL"
    assert evaluate_window(base, canary, loose).check("latency").verdict == "PASS"


# ------------------------------------------------------------------------------------------
# Baseline source, alarms, extra metrics, overall verdict
# ------------------------------------------------------------------------------------------


def test_without_baseline_traffic_or_reference_relative_checks_are_inconclusive() -> None:
    judgement = evaluate_window(figures(0, latency=()), figures(6000, 6))
    assert judgement.baseline_source == "none"
    assert judgement.check("error_rate").verdict == "INCONCLUSIVE"
    assert judgement.check("latency").verdict == "INCONCLUSIVE"
    assert judgement.verdict == "INCONCLUSIVE"
    # ... but the absolute ceiling still decides.
    outage = evaluate_window(figures(0, latency=()), figures(6000, 600))
    assert outage.verdict == "FAIL"


def test_reference_replaces_an_idle_baseline() -> None:
    reference = figures(9000, 9)
    idle = figures(3, 0, latency=())
    healthy = evaluate_window(idle, figures(6000, 6), reference=reference)
    assert healthy.baseline_source == "reference"
    assert healthy.verdict == "PASS"
    worse = evaluate_window(idle, figures(6000, 150), reference=reference)  # 2.5 %
    assert worse.check("error_rate").verdict == "FAIL"
    assert "baseline reference" in worse.check("error_rate").reason
    slower = figures(6000, 6, latency=tuple(2 * v for v in STEADY_LATENCY))
    assert evaluate_window(idle, slower, reference=reference).check("latency").verdict == "FAIL"


def test_live_baseline_wins_over_reference() -> None:
    judgement = evaluate_window(figures(9000, 9), figures(6000, 6), reference=figures(10, 10))
    assert judgement.baseline_source == "live"
    assert judgement.verdict == "PASS"


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ({"a": "OK", "b": "OK"}, "PASS"),
        ({"a": "OK", "b": "INSUFFICIENT_DATA"}, "PASS"),
        ({"a": "ALARM", "b": "OK"}, "FAIL"),
        ({"a": "OK", "b": None}, "INCONCLUSIVE"),
        ({"a": "ALARM", "b": None}, "FAIL"),
    ],
)
def test_alarms(states: dict[str, str | None], expected: str) -> None:
    policy = Policy(alarm_names=("a", "b"))
    judgement = evaluate_window(figures(9000), figures(1000), policy, alarm_states=states)
    assert judgement.check("alarms").verdict == expected
    assert judgement.verdict == expected


def _extra(direction: str) -> ExtraMetric:
    return ExtraMetric(
        namespace="Shop",
        name="Conversions",
        dimensions=(("Variant", "${variant}"),),
        statistic="Average",
        direction="higher_is_better" if direction == "higher" else "lower_is_better",
        tolerance=0.1,
    )


@pytest.mark.parametrize(
    ("direction", "canary_level", "expected"),
    [
        ("higher", 0.5, "FAIL"),
        ("higher", 1.0, "PASS"),
        ("lower", 2.0, "FAIL"),
        ("lower", 1.0, "PASS"),
    ],
)
def test_extra_metric_direction(direction: str, canary_level: float, expected: str) -> None:
    metric = _extra(direction)
    rng = random.Random(1)
    base = [1.0 + rng.uniform(-0.03, 0.03) for _ in range(10)]
    canary = [canary_level + rng.uniform(-0.03, 0.03) for _ in range(10)]
    judgement = evaluate_window(
        figures(9000, extra={metric.check_name: tuple(base)}),
        figures(1000, extra={metric.check_name: tuple(canary)}),
        Policy(extra_metrics=(metric,)),
    )
    assert judgement.check(metric.check_name).verdict == expected
    assert judgement.verdict == expected


def test_extra_metric_without_data_is_inconclusive() -> None:
    metric = _extra("higher")
    judgement = evaluate_window(figures(9000), figures(1000), Policy(extra_metrics=(metric,)))
    assert judgement.check(metric.check_name).verdict == "INCONCLUSIVE"
    assert judgement.verdict == "INCONCLUSIVE"


def _check(verdict: str) -> CheckResult:
    assert verdict in ("PASS", "FAIL", "INCONCLUSIVE")
    return CheckResult("x", verdict, None, None, None, None, "")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        (["PASS", "PASS"], "PASS"),
        (["PASS", "INCONCLUSIVE"], "INCONCLUSIVE"),
        (["INCONCLUSIVE", "FAIL", "PASS"], "FAIL"),
        ([], "INCONCLUSIVE"),
    ],
)
def test_overall_verdict(verdicts: list[str], expected: str) -> None:
    assert overall_verdict([_check(v) for v in verdicts]) == expected


def test_response_is_json_and_summary_round_trips() -> None:
    judgement = evaluate_window(figures(9000, 9, errors_4xx=3), figures(1000, 2))
    body = json.loads(json.dumps(judgement.to_dict()))
    assert body["verdict"] == "PASS"
    assert body["baseline_invocations"] == 9000
    assert body["canary_invocations"] == 1000
    assert {c["name"] for c in body["checks"]} >= {"error_rate", "latency", "client_errors"}
    for check in body["checks"]:
        assert set(check) >= {"name", "verdict", "baseline", "canary", "threshold", "p_value"}
    summary = body["baseline_summary"]
    assert summary["errors_4xx"] == 3
    assert VariantFigures.from_summary(summary) == judgement.baseline


@pytest.mark.parametrize(
    ("summary", "match"),
    [
        ("nope", "baseline_reference"),
        ({"errors_5xx": 1}, r"baseline_reference\.invocations: missing"),
        ({"invocations": -1}, r"baseline_reference\.invocations: got -1"),
        ({"invocations": 10, "latency_values": "fast"}, r"latency_values: got 'fast'"),
        ({"invocations": 10, "errors_5xx": True}, r"errors_5xx: got True"),
    ],
)
def test_bad_reference_is_rejected(summary: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        VariantFigures.from_summary(summary)
