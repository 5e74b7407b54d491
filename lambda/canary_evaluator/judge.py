"""The canary judge: pure decision logic (standard library only; no boto3, no numpy).

``evaluate_window(baseline, canary, policy)`` compares the figures of the two variants over one
evaluation window and returns a ``Judgement`` with an overall verdict, one result per check and
human-readable reasons.

Statistical choices
-------------------
5XX error rate, relative check (``error_rate``)
    One-sided Farrington-Manning score test of the non-inferiority hypothesis
    ``H0: p_canary - p_baseline <= max_absolute_increase`` against
    ``H1: p_canary - p_baseline > max_absolute_increase``. The variance is taken at the
    maximum-likelihood estimate restricted to ``H0``'s boundary (``p_canary = p_baseline +
    margin``), found by bisection on the (monotone) score equation. Because the restricted
    estimate of the canary's rate is at least the margin, the variance stays positive when the
    baseline (or both variants) has zero errors: 0/10000 vs 0/500 gives p ~ 0.99, 0/10000 vs
    30/500 gives p ~ 1e-29. A FAIL needs ``p <= alpha``, which implies that the observed increase
    exceeds the allowance. The test only runs once the canary has ``min_canary_invocations``.
5XX error rate, absolute ceiling (``error_rate_ceiling``)
    Observed canary rate ``> max_rate`` FAILs, once the canary has ``min_canary_invocations``.
Latency (``latency``) and extra metrics (``extra:...``)
    One-sided Mann-Whitney rank test over the per-period (60 s) values: are the canary's values
    stochastically larger than the baseline's values scaled by ``1 + max_relative_increase``?
    ``U`` counts the (canary, scaled baseline) pairs where the canary is strictly larger; ties
    count as 0 (conservative, and it keeps ``U`` monotone when the canary gets slower). The
    p-value ``P(U >= u)`` comes from the exact permutation distribution (the Gaussian binomial
    coefficient, cached per sample-size pair) when ``m * n <= 2500``, else from the normal
    approximation with continuity correction. A rank test is used because per-period p99
    values are skewed and occasionally spiky: one noisy minute moves ``U`` by at most ``n`` and
    can neither FAIL a healthy canary nor hide a sustained regression. When the sample sizes
    cannot reach ``alpha`` at all (e.g. two periods each), the check is INCONCLUSIVE, not PASS.
    For ``higher_is_better`` extra metrics the roles flip: baseline scaled by
    ``1 - tolerance`` tested against the canary.
5XX/4XX client errors (``client_errors``)
    Informational: reported with verdict PASS and ``informational: true``; never FAILs.
Baseline source
    The live baseline counts when it served at least ``min_canary_invocations`` requests in the
    window. Otherwise (e.g. the final 100 % step) the relative checks use ``reference`` (the
    figures carried forward from a previous step) when given, else they are INCONCLUSIVE.

Overall verdict: any FAIL -> FAIL; else any INCONCLUSIVE -> INCONCLUSIVE; else PASS.
Missing data never yields PASS.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from .policy import ExtraMetric, Policy

Verdict = Literal["PASS", "FAIL", "INCONCLUSIVE"]
PASS: Verdict = "PASS"  # noqa: S105 (a verdict, not a password)
FAIL: Verdict = "FAIL"
INCONCLUSIVE: Verdict = "INCONCLUSIVE"

#: Largest ``m * n`` for which the rank test uses the exact distribution.
EXACT_RANK_TEST_LIMIT = 2500
_ALPHA_SLACK = 1e-12  # p == alpha (exact tests) counts as significant despite rounding


@dataclass(frozen=True)
class VariantFigures:
    """One variant's figures in a window (also the shape of ``baseline_summary``)."""

    invocations: int
    errors_5xx: int
    errors_4xx: int
    latency_values: tuple[float, ...] = ()
    """Per-period ModelLatency values (microseconds) of the policy's statistic."""
    extra_values: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    """Per-period values of each extra metric, keyed by the metric's check name."""

    def to_summary(self) -> dict[str, Any]:
        """JSON-serialisable form; ``from_summary`` reads it back."""
        return {
            "invocations": self.invocations,
            "errors_5xx": self.errors_5xx,
            "errors_4xx": self.errors_4xx,
            "latency_values": list(self.latency_values),
            "extra_values": {k: list(v) for k, v in self.extra_values.items()},
        }

    @classmethod
    def from_summary(cls, raw: object, path: str = "baseline_reference") -> VariantFigures:
        """Parse a summary object; raise ValueError naming the key on a bad value.

        Unknown keys are ignored so that summaries from newer evaluators stay readable.
        """
        if not isinstance(raw, Mapping):
            raise ValueError(f"{path}: got {raw!r}; allowed: an object like baseline_summary")
        problems: list[str] = []

        def count(key: str) -> int:
            value = raw.get(key, 0)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (math.isfinite(value) and value >= 0)
            ):
                problems.append(f"{path}.{key}: got {value!r}; allowed: a number >= 0")
                return 0
            return round(value)

        def series(key: str, value: object) -> tuple[float, ...]:
            if not isinstance(value, list) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                for v in value
            ):
                problems.append(f"{path}.{key}: got {value!r}; allowed: a list of numbers")
                return ()
            return tuple(float(v) for v in value)

        if "invocations" not in raw:
            problems.append(f"{path}.invocations: missing; allowed: a number >= 0")
        figures_inv, e5, e4 = count("invocations"), count("errors_5xx"), count("errors_4xx")
        latency = series("latency_values", raw.get("latency_values", []))
        extra_raw = raw.get("extra_values", {})
        extra: dict[str, tuple[float, ...]] = {}
        if not isinstance(extra_raw, Mapping):
            problems.append(f"{path}.extra_values: got {extra_raw!r}; allowed: an object")
        else:
            for key, value in extra_raw.items():
                extra[str(key)] = series(f"extra_values.{key}", value)
        if problems:
            raise ValueError("Invalid event:\n  " + "\n  ".join(problems))
        return cls(figures_inv, e5, e4, latency, extra)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check."""

    name: str
    verdict: Verdict
    baseline: float | None
    canary: float | None
    threshold: float | None
    p_value: float | None
    reason: str
    informational: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verdict": self.verdict,
            "baseline": self.baseline,
            "canary": self.canary,
            "threshold": self.threshold,
            "p_value": self.p_value,
            "reason": self.reason,
            "informational": self.informational,
        }


@dataclass(frozen=True)
class Judgement:
    """The overall verdict of one window."""

    verdict: Verdict
    reasons: tuple[str, ...]
    checks: tuple[CheckResult, ...]
    baseline: VariantFigures
    canary: VariantFigures
    baseline_source: Literal["live", "reference", "none"]

    def check(self, name: str) -> CheckResult:
        """The check called ``name`` (KeyError when there is none)."""
        for result in self.checks:
            if result.name == name:
                return result
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The evaluator's JSON response body (without event echo fields)."""
        return {
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "checks": [c.to_dict() for c in self.checks],
            "baseline_invocations": self.baseline.invocations,
            "canary_invocations": self.canary.invocations,
            "baseline_source": self.baseline_source,
            "baseline_summary": self.baseline.to_summary(),
            "canary_summary": self.canary.to_summary(),
        }


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def normal_sf(z: float) -> float:
    """Upper tail of the standard normal distribution, ``P(Z > z)``."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _restricted_baseline_rate(e_c: int, n_c: int, e_b: int, n_b: int, margin: float) -> float:
    """MLE of the baseline rate under ``p_canary = p_baseline + margin`` (bisection)."""

    def score(p: float) -> float:
        total = 0.0
        q = p + margin
        if e_c:
            total += e_c / q
        if n_c - e_c:
            total -= (n_c - e_c) / max(1.0 - q, 1e-300)
        if e_b:
            total += e_b / max(p, 1e-300)
        if n_b - e_b:
            total -= (n_b - e_b) / max(1.0 - p, 1e-300)
        return total

    lo, hi = 0.0, 1.0 - margin
    # The log-likelihood is concave: when the score does not change sign inside the interval
    # the maximum sits on a boundary, which bisection would only approach.
    if e_b == 0 and (e_c == 0 or margin > 0.0):
        at_lo = (e_c / margin if e_c else 0.0) - (n_c - e_c) / (1.0 - margin) - n_b
        if at_lo <= 0.0:
            return lo
    if n_c == e_c and (n_b == e_b or margin > 0.0):
        at_hi = e_c + (e_b / hi if e_b else 0.0) - ((n_b - e_b) / margin if n_b - e_b else 0.0)
        if at_hi >= 0.0:
            return hi
    for _ in range(64):
        mid = 0.5 * (lo + hi)
        if score(mid) > 0.0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def error_rate_p_value(
    canary_errors: int, canary_n: int, baseline_errors: int, baseline_n: int, margin: float
) -> float:
    """One-sided Farrington-Manning p-value of ``H0: p_canary - p_baseline <= margin``.

    Small p-values say the canary's error rate exceeds the baseline's by more than ``margin``.
    Errors are clamped to ``[0, n]``; both ``n`` must be positive and ``0 <= margin < 1``.
    """
    if canary_n <= 0 or baseline_n <= 0:
        raise ValueError("error_rate_p_value needs positive sample sizes")
    if not 0.0 <= margin < 1.0:
        raise ValueError(f"margin must be in [0, 1), got {margin!r}")
    e_c = min(max(canary_errors, 0), canary_n)
    e_b = min(max(baseline_errors, 0), baseline_n)
    p_b_tilde = _restricted_baseline_rate(e_c, canary_n, e_b, baseline_n, margin)
    p_c_tilde = p_b_tilde + margin
    variance = p_c_tilde * (1.0 - p_c_tilde) / canary_n + p_b_tilde * (1.0 - p_b_tilde) / baseline_n
    excess = e_c / canary_n - e_b / baseline_n - margin
    if variance <= 0.0:
        return 0.0 if excess > 0.0 else 1.0
    return normal_sf(excess / math.sqrt(variance))


@lru_cache(maxsize=512)
def _mann_whitney_tail(m: int, n: int) -> tuple[float, ...]:
    """``tail[u] = P(U >= u)`` under H0 for sample sizes ``m`` and ``n`` (no ties).

    The counts of ``U`` are the coefficients of the Gaussian binomial coefficient
    ``prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i)``, computed exactly with integers.
    """
    if m > n:
        m, n = n, m
    degree = m * n
    coeffs = [0] * (degree + 1)
    coeffs[0] = 1
    for i in range(1, m + 1):
        shift = n + i
        for k in range(degree, shift - 1, -1):  # multiply by (1 - q^shift), truncated
            coeffs[k] -= coeffs[k - shift]
        for k in range(i, degree + 1):  # divide by (1 - q^i)
            coeffs[k] += coeffs[k - i]
    total = sum(coeffs)
    tail = [0.0] * (degree + 2)
    running = 0
    for u in range(degree, -1, -1):
        running += coeffs[u]
        tail[u] = running / total
    return tuple(tail)


def rank_test_u(x: Sequence[float], y: Sequence[float]) -> int:
    """``U = #{(i, j): x_i > y_j}`` (ties count 0), in O((m + n) log n)."""
    ys = sorted(y)
    return sum(bisect.bisect_left(ys, value) for value in x)


def rank_test_p_value(x: Sequence[float], y: Sequence[float]) -> float:
    """One-sided Mann-Whitney p-value that ``x`` is stochastically larger than ``y``.

    Exact permutation distribution when ``len(x) * len(y) <= EXACT_RANK_TEST_LIMIT``, else the
    normal approximation with continuity correction. Ties count against ``x`` (conservative).
    """
    m, n = len(x), len(y)
    if m == 0 or n == 0:
        return 1.0
    u = rank_test_u(x, y)
    if m * n <= EXACT_RANK_TEST_LIMIT:
        return _mann_whitney_tail(m, n)[u]
    mean = m * n / 2.0
    sd = math.sqrt(m * n * (m + n + 1) / 12.0)
    return min(1.0, normal_sf((u - mean - 0.5) / sd))


def smallest_rank_p_value(m: int, n: int) -> float:
    """The smallest p-value the rank test can reach with ``m`` and ``n`` periods."""
    if m == 0 or n == 0:
        return 1.0
    if m * n <= EXACT_RANK_TEST_LIMIT:
        return _mann_whitney_tail(m, n)[m * n]
    return normal_sf((m * n / 2.0 - 0.5) / math.sqrt(m * n * (m + n + 1) / 12.0))


def _significant(p_value: float, alpha: float) -> bool:
    return p_value <= alpha + _ALPHA_SLACK


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _pct(errors: int, n: int) -> str:
    rate = errors / n if n else 0.0
    return f"{rate:.2%} ({errors}/{n})"


def _rate(errors: int, n: int) -> float | None:
    return min(errors, n) / n if n > 0 else None


def _sample_check(canary: VariantFigures, policy: Policy) -> CheckResult:
    minimum = policy.min_canary_invocations
    ok = canary.invocations >= minimum
    return CheckResult(
        name="canary_invocations",
        verdict=PASS if ok else INCONCLUSIVE,
        baseline=None,
        canary=float(canary.invocations),
        threshold=float(minimum),
        p_value=None,
        reason=(
            f"canary_invocations: {canary.invocations} {'>=' if ok else '<'} {minimum} required"
        ),
    )


def _error_ceiling_check(
    base: VariantFigures | None, canary: VariantFigures, policy: Policy
) -> CheckResult:
    ceiling = policy.error_rate.max_rate
    n, e = canary.invocations, min(canary.errors_5xx, canary.invocations)
    base_rate = _rate(base.errors_5xx, base.invocations) if base else None
    if n < policy.min_canary_invocations:
        verdict = INCONCLUSIVE
        reason = (
            f"error_rate_ceiling: only {n} canary invocations "
            f"(< {policy.min_canary_invocations}) to judge the 5XX rate"
        )
    else:
        verdict = FAIL if e / n > ceiling else PASS
        reason = (
            f"error_rate_ceiling: canary 5XX rate {_pct(e, n)} "
            f"{'exceeds' if verdict == FAIL else 'is within'} the {ceiling:.2%} ceiling"
        )
    return CheckResult(
        name="error_rate_ceiling",
        verdict=verdict,
        baseline=base_rate,
        canary=_rate(e, n),
        threshold=ceiling,
        p_value=None,
        reason=reason,
    )


def _error_rate_check(
    base: VariantFigures | None, source: str, canary: VariantFigures, policy: Policy
) -> CheckResult:
    margin, alpha = policy.error_rate.max_absolute_increase, policy.error_rate.alpha
    n_c, e_c = canary.invocations, min(canary.errors_5xx, canary.invocations)
    if base is None or base.invocations <= 0:
        return CheckResult(
            name="error_rate",
            verdict=INCONCLUSIVE,
            baseline=None,
            canary=_rate(e_c, n_c),
            threshold=margin,
            p_value=None,
            reason=(
                "error_rate: the baseline served too little traffic in the window and no "
                "baseline_reference was given, so there is nothing to compare the canary with"
            ),
        )
    n_b, e_b = base.invocations, min(base.errors_5xx, base.invocations)
    label = "baseline" if source == "live" else "baseline reference"
    if n_c < policy.min_canary_invocations:
        return CheckResult(
            name="error_rate",
            verdict=INCONCLUSIVE,
            baseline=e_b / n_b,
            canary=_rate(e_c, n_c),
            threshold=margin,
            p_value=None,
            reason=(
                f"error_rate: only {n_c} canary invocations "
                f"(< {policy.min_canary_invocations}) to compare with the {label}"
            ),
        )
    p_value = error_rate_p_value(e_c, n_c, e_b, n_b, margin)
    increase = e_c / n_c - e_b / n_b
    failed = _significant(p_value, alpha)
    if failed:
        reason = (
            f"error_rate: canary 5XX rate {_pct(e_c, n_c)} exceeds {label} {_pct(e_b, n_b)} "
            f"by {increase * 100:.2f} pp > {margin * 100:.2f} pp allowed, "
            f"p={p_value:.4f} <= alpha {alpha:g}"
        )
    else:
        reason = (
            f"error_rate: canary 5XX rate {_pct(e_c, n_c)} vs {label} {_pct(e_b, n_b)}: "
            f"increase {increase * 100:.2f} pp is not significantly above "
            f"{margin * 100:.2f} pp allowed (p={p_value:.4f} > alpha {alpha:g})"
        )
    return CheckResult(
        name="error_rate",
        verdict=FAIL if failed else PASS,
        baseline=e_b / n_b,
        canary=e_c / n_c,
        threshold=margin,
        p_value=p_value,
        reason=reason,
    )


def compare_series(
    name: str,
    baseline_values: Sequence[float] | None,
    canary_values: Sequence[float],
    *,
    tolerance: float,
    alpha: float,
    higher_is_better: bool = False,
    label: str = "baseline",
    unit_scale: float = 1.0,
    unit: str = "",
) -> CheckResult:
    """Rank-test per-period values of the canary against the (scaled) baseline's.

    ``lower_is_better``: FAIL when the canary is significantly above ``baseline * (1 + tol)``.
    ``higher_is_better``: FAIL when the canary is significantly below ``baseline * (1 - tol)``.
    Too few periods for the test to reach ``alpha`` -> INCONCLUSIVE.
    """
    canary_med = statistics.median(canary_values) if canary_values else None
    if baseline_values is None:
        return CheckResult(
            name=name,
            verdict=INCONCLUSIVE,
            baseline=None,
            canary=canary_med,
            threshold=tolerance,
            p_value=None,
            reason=(
                f"{name}: the baseline served too little traffic in the window and no "
                "baseline_reference was given, so there is nothing to compare the canary with"
            ),
        )
    base_med = statistics.median(baseline_values) if baseline_values else None
    m, n = len(canary_values), len(baseline_values)
    if smallest_rank_p_value(m, n) > alpha + _ALPHA_SLACK:
        return CheckResult(
            name=name,
            verdict=INCONCLUSIVE,
            baseline=base_med,
            canary=canary_med,
            threshold=tolerance,
            p_value=None,
            reason=(
                f"{name}: {m} canary and {n} {label} periods with data are too few for the "
                f"rank test to reach alpha {alpha:g}"
            ),
        )
    assert canary_med is not None
    assert base_med is not None
    if higher_is_better:
        p_value = rank_test_p_value([v * (1.0 - tolerance) for v in baseline_values], canary_values)
    else:
        p_value = rank_test_p_value(canary_values, [v * (1.0 + tolerance) for v in baseline_values])
    failed = _significant(p_value, alpha)
    change = (canary_med / base_med - 1.0) if base_med else math.inf
    worse = "lower" if higher_is_better else "higher"
    figures = (
        f"canary median {canary_med / unit_scale:.4g}{unit} vs {label} "
        f"{base_med / unit_scale:.4g}{unit} ({change:+.1%}; "
        f"{tolerance:.0%} {worse} allowed) over {m} canary / {n} {label} periods"
    )
    if failed:
        reason = f"{name}: {figures}; rank test p={p_value:.4f} <= alpha {alpha:g}"
    else:
        reason = f"{name}: {figures}; not significantly worse (p={p_value:.4f} > alpha {alpha:g})"
    return CheckResult(
        name=name,
        verdict=FAIL if failed else PASS,
        baseline=base_med,
        canary=canary_med,
        threshold=tolerance,
        p_value=p_value,
        reason=reason,
    )


def _client_error_check(base: VariantFigures, canary: VariantFigures) -> CheckResult:
    return CheckResult(
        name="client_errors",
        verdict=PASS,
        baseline=_rate(base.errors_4xx, base.invocations),
        canary=_rate(canary.errors_4xx, canary.invocations),
        threshold=None,
        p_value=None,
        reason=(
            f"client_errors (informational): canary 4XX rate "
            f"{_pct(min(canary.errors_4xx, canary.invocations), canary.invocations)}, "
            f"baseline {_pct(min(base.errors_4xx, base.invocations), base.invocations)}"
        ),
        informational=True,
    )


def _alarm_check(names: Sequence[str], states: Mapping[str, str | None]) -> CheckResult:
    alarming = [n for n in names if states.get(n) == "ALARM"]
    missing = [n for n in names if states.get(n) is None]
    if alarming:
        verdict, reason = FAIL, f"alarms: in ALARM: {', '.join(alarming)}"
    elif missing:
        verdict = INCONCLUSIVE
        reason = f"alarms: not found (cannot tell their state): {', '.join(missing)}"
    else:
        verdict = PASS
        reason = f"alarms: none of {len(names)} in ALARM"
    return CheckResult(
        name="alarms",
        verdict=verdict,
        baseline=None,
        canary=float(len(alarming)),
        threshold=0.0,
        p_value=None,
        reason=reason,
    )


def _extra_check(
    metric: ExtraMetric, base: VariantFigures | None, canary: VariantFigures, label: str
) -> CheckResult:
    key = metric.check_name
    base_values = None if base is None else base.extra_values.get(key, ())
    return compare_series(
        key,
        base_values,
        canary.extra_values.get(key, ()),
        tolerance=metric.tolerance,
        alpha=metric.alpha,
        higher_is_better=metric.direction == "higher_is_better",
        label=label,
    )


def overall_verdict(checks: Sequence[CheckResult]) -> Verdict:
    """Any FAIL -> FAIL; else any INCONCLUSIVE -> INCONCLUSIVE; else PASS (never on no checks)."""
    verdicts = {c.verdict for c in checks}
    if FAIL in verdicts:
        return FAIL
    if INCONCLUSIVE in verdicts or not checks:
        return INCONCLUSIVE
    return PASS


def evaluate_window(
    baseline: VariantFigures,
    canary: VariantFigures,
    policy: Policy | None = None,
    *,
    reference: VariantFigures | None = None,
    alarm_states: Mapping[str, str | None] | None = None,
    baseline_live: bool = True,
) -> Judgement:
    """Judge one window of the canary against the baseline.

    ``reference`` (figures carried forward from an earlier window) replaces the live baseline
    in the relative checks when the live baseline served fewer than ``min_canary_invocations``.
    ``alarm_states`` maps each of ``policy.alarm_names`` to its CloudWatch state value, or to
    ``None`` when the alarm does not exist. ``baseline_live=False`` (the baseline had weight 0
    in the window) never counts the live baseline, whatever stray traffic it served: the
    relative checks use ``reference`` only.
    """
    policy = policy or Policy()
    compare: VariantFigures | None
    source: Literal["live", "reference", "none"]
    if baseline_live and baseline.invocations >= policy.min_canary_invocations:
        compare, source = baseline, "live"
    elif reference is not None:
        compare, source = reference, "reference"
    else:
        compare, source = None, "none"
    label = "baseline" if source != "reference" else "baseline reference"

    checks = [
        _sample_check(canary, policy),
        _error_ceiling_check(compare, canary, policy),
        _error_rate_check(compare, source, canary, policy),
        compare_series(
            "latency",
            None if compare is None else compare.latency_values,
            canary.latency_values,
            tolerance=policy.latency.max_relative_increase,
            alpha=policy.latency.alpha,
            label=label,
            unit_scale=1000.0,
            unit=" ms",
        ),
        _client_error_check(baseline, canary),
    ]
    if policy.alarm_names:
        checks.append(_alarm_check(policy.alarm_names, alarm_states or {}))
    checks.extend(_extra_check(m, compare, canary, label) for m in policy.extra_metrics)

    verdict = overall_verdict(checks)
    if verdict == PASS:
        reasons: tuple[str, ...] = (f"all {len(checks)} checks passed",)
    else:
        reasons = tuple(c.reason for c in checks if c.verdict == verdict) + tuple(
            c.reason for c in checks if verdict == FAIL and c.verdict == INCONCLUSIVE
        )
    return Judgement(
        verdict=verdict,
        reasons=reasons,
        checks=tuple(checks),
        baseline=baseline,
        canary=canary,
        baseline_source=source,
    )
