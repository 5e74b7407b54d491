"""The evaluator's policy: defaults, parsing and validation (pure Python, no boto3).

``parse_policy(raw)`` turns the event's optional ``policy`` object into a frozen ``Policy``.
Every key is optional; an absent key takes the default documented on the dataclass field.
Anything unexpected (an unknown key, a wrong type, a value out of range) raises ONE
``ValueError`` that lists every problem with its key path, the value received and what is
allowed, so a caller fixes the whole policy in one go.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["lower_is_better", "higher_is_better"]

#: ``${variant}`` inside an extra metric's dimension value is replaced by the variant name.
VARIANT_PLACEHOLDER = "${variant}"

_STATISTIC = re.compile(
    r"^(SampleCount|Average|Sum|Minimum|Maximum|IQM"
    r"|p\d{1,2}(\.\d{1,4})?|p100"
    r"|(tm|wm|tc|ts|TM|WM|TC|TS)\d{1,2}(\.\d{1,4})?"
    r"|(TM|WM|TC|TS|PR)\(\s*[0-9.%]*\s*:\s*[0-9.%]*\s*\))$"
)
#: Upper bound of ``extra_metrics`` (GetMetricData takes at most 500 queries in one request).
MAX_EXTRA_METRICS = 50
_DIRECTIONS: tuple[Direction, ...] = ("lower_is_better", "higher_is_better")


@dataclass(frozen=True)
class ErrorRatePolicy:
    """Thresholds of the 5XX error-rate checks."""

    max_absolute_increase: float = 0.01
    """Canary 5XX rate may exceed the baseline's by at most this (0.01 = 1 percentage point)."""
    alpha: float = 0.05
    """A relative FAIL needs the excess over the allowance to be significant at this level."""
    max_rate: float = 0.05
    """Canary 5XX rate above this FAILs whatever the baseline does (sample minimum met)."""


@dataclass(frozen=True)
class LatencyPolicy:
    """Thresholds of the ModelLatency check."""

    statistic: str = "p99"
    """CloudWatch statistic of ``ModelLatency`` (microseconds), one value per 60 s period."""
    max_relative_increase: float = 0.25
    """Canary latency may exceed the baseline's by at most this fraction (0.25 = 25 %)."""
    alpha: float = 0.05
    """A FAIL needs the excess over the allowance to be significant across periods."""


@dataclass(frozen=True)
class ExtraMetric:
    """A further metric compared between the variants, period by period."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    """Dimension name/value pairs; ``${variant}`` in a value becomes the variant name."""
    statistic: str
    direction: Direction
    tolerance: float
    """Allowed relative worsening (0.1 = the canary may be 10 % worse)."""
    alpha: float = 0.05
    """Significance level of the FAIL (extension; default 0.05 like the built-in checks)."""

    @property
    def check_name(self) -> str:
        """Name of this metric's check, e.g. ``extra:MyApp/Conversions:Average``."""
        return f"extra:{self.namespace}/{self.name}:{self.statistic}"

    def dimensions_for(self, variant: str) -> list[dict[str, str]]:
        """CloudWatch ``Dimensions`` for one variant (placeholder substituted)."""
        return [
            {"Name": key, "Value": value.replace(VARIANT_PLACEHOLDER, variant)}
            for key, value in self.dimensions
        ]


@dataclass(frozen=True)
class Policy:
    """Thresholds of one evaluation; ``Policy()`` is the documented default policy."""

    min_canary_invocations: int = 100
    """Fewer canary invocations in the window -> never PASS."""
    error_rate: ErrorRatePolicy = field(default_factory=ErrorRatePolicy)
    latency: LatencyPolicy = field(default_factory=LatencyPolicy)
    alarm_names: tuple[str, ...] = ()
    """CloudWatch alarms (metric or composite); any in ALARM -> FAIL."""
    extra_metrics: tuple[ExtraMetric, ...] = ()


class _Problems:
    """Collects every validation problem, then raises one ValueError."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, value: object, allowed: str) -> None:
        self.items.append(f"policy.{path}: got {value!r}; allowed: {allowed}")

    def raise_if_any(self) -> None:
        if self.items:
            raise ValueError("Invalid canary policy:\n  " + "\n  ".join(self.items))


def _check_keys(
    raw: Mapping[str, object], allowed: tuple[str, ...], path: str, p: _Problems
) -> None:
    for key in raw:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            p.add(where, raw[key], f"no such key; known keys here are {', '.join(allowed)}")


def _number(
    raw: Mapping[str, object],
    key: str,
    default: float,
    path: str,
    p: _Problems,
    *,
    low: float,
    high: float,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    if key not in raw:
        return default
    value = raw[key]
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    allowed = f"a number in {lo}{low:g}, {high:g}{hi}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        p.add(f"{path}{key}", value, allowed)
        return default
    number = float(value)
    too_low = number <= low if low_open else number < low
    too_high = number >= high if high_open else number > high
    if not math.isfinite(number) or too_low or too_high:
        p.add(f"{path}{key}", value, allowed)
        return default
    return number


def _statistic(raw: Mapping[str, object], key: str, default: str, path: str, p: _Problems) -> str:
    if key not in raw:
        return default
    value = raw[key]
    if not isinstance(value, str) or not _STATISTIC.match(value):
        p.add(
            f"{path}{key}",
            value,
            "a CloudWatch statistic such as 'p99', 'p90', 'Average', 'Maximum', 'tm99'",
        )
        return default
    return value


def _sub_object(raw: Mapping[str, object], key: str, p: _Problems) -> Mapping[str, object]:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        p.add(key, value, "an object")
        return {}
    return value


def _parse_error_rate(raw: Mapping[str, object], p: _Problems) -> ErrorRatePolicy:
    d = ErrorRatePolicy()
    _check_keys(raw, ("max_absolute_increase", "alpha", "max_rate"), "error_rate", p)
    path = "error_rate."
    return ErrorRatePolicy(
        max_absolute_increase=_number(
            raw,
            "max_absolute_increase",
            d.max_absolute_increase,
            path,
            p,
            low=0,
            high=1,
            high_open=True,
        ),
        alpha=_number(raw, "alpha", d.alpha, path, p, low=0, high=0.5, low_open=True),
        max_rate=_number(raw, "max_rate", d.max_rate, path, p, low=0, high=1),
    )


def _parse_latency(raw: Mapping[str, object], p: _Problems) -> LatencyPolicy:
    d = LatencyPolicy()
    _check_keys(raw, ("statistic", "max_relative_increase", "alpha"), "latency", p)
    path = "latency."
    return LatencyPolicy(
        statistic=_statistic(raw, "statistic", d.statistic, path, p),
        max_relative_increase=_number(
            raw, "max_relative_increase", d.max_relative_increase, path, p, low=0, high=100
        ),
        alpha=_number(raw, "alpha", d.alpha, path, p, low=0, high=0.5, low_open=True),
    )


def _parse_alarm_names(raw: object, p: _Problems) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(n, str) and n for n in raw):
        p.add("alarm_names", raw, "a list of non-empty alarm names")
        return ()
    return tuple(raw)


def _parse_extra_metric(raw: object, index: int, p: _Problems) -> ExtraMetric | None:
    path = f"extra_metrics[{index}]"
    if not isinstance(raw, Mapping):
        p.add(
            path, raw, "an object with namespace, name, dimensions, statistic, direction, tolerance"
        )
        return None
    keys = ("namespace", "name", "dimensions", "statistic", "direction", "tolerance", "alpha")
    _check_keys(raw, keys, path, p)
    before = len(p.items)
    for key in ("namespace", "name", "statistic", "direction", "tolerance"):
        if key not in raw:
            p.add(f"{path}.{key}", None, "required")
    namespace, name = raw.get("namespace"), raw.get("name")
    for key, value in (("namespace", namespace), ("name", name)):
        if key in raw and (not isinstance(value, str) or not value):
            p.add(f"{path}.{key}", value, "a non-empty string")
    dims_raw = raw.get("dimensions", {})
    dims: tuple[tuple[str, str], ...] = ()
    if not isinstance(dims_raw, Mapping) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in dims_raw.items()
    ):
        p.add(f"{path}.dimensions", dims_raw, "an object of non-empty string names and values")
    else:
        dims = tuple(sorted(dims_raw.items()))
    direction = raw.get("direction")
    if "direction" in raw and direction not in _DIRECTIONS:
        p.add(f"{path}.direction", direction, " or ".join(repr(d) for d in _DIRECTIONS))
    sub = f"{path}."
    statistic = _statistic(raw, "statistic", "Average", sub, p)
    high = 1.0 if direction == "higher_is_better" else 100.0
    tolerance = _number(raw, "tolerance", 0.0, sub, p, low=0, high=high, high_open=high == 1.0)
    alpha = _number(raw, "alpha", 0.05, sub, p, low=0, high=0.5, low_open=True)
    if len(p.items) > before:
        return None
    assert isinstance(namespace, str)
    assert isinstance(name, str)
    assert direction in _DIRECTIONS
    return ExtraMetric(
        namespace=namespace,
        name=name,
        dimensions=dims,
        statistic=statistic,
        direction="lower_is_better" if direction == "lower_is_better" else "higher_is_better",
        tolerance=tolerance,
        alpha=alpha,
    )


def parse_policy(raw: object) -> Policy:
    """Parse the event's ``policy`` (``None`` or an object); raise ValueError on any problem."""
    if raw is None:
        return Policy()
    problems = _Problems()
    if not isinstance(raw, Mapping):
        problems.items.append(f"policy: got {raw!r}; allowed: an object (or leave it out)")
        problems.raise_if_any()
    assert isinstance(raw, Mapping)
    known = ("min_canary_invocations", "error_rate", "latency", "alarm_names", "extra_metrics")
    _check_keys(raw, known, "", problems)
    default = Policy()
    min_inv = raw.get("min_canary_invocations", default.min_canary_invocations)
    if isinstance(min_inv, bool) or not isinstance(min_inv, int) or min_inv < 1:
        problems.add("min_canary_invocations", min_inv, "an integer >= 1")
        min_inv = default.min_canary_invocations
    error_rate = _parse_error_rate(_sub_object(raw, "error_rate", problems), problems)
    latency = _parse_latency(_sub_object(raw, "latency", problems), problems)
    alarm_names = _parse_alarm_names(raw.get("alarm_names", []), problems)
    extra_raw = raw.get("extra_metrics", [])
    extras: list[ExtraMetric] = []
    if not isinstance(extra_raw, list):
        problems.add("extra_metrics", extra_raw, "a list of metric objects")
    elif len(extra_raw) > MAX_EXTRA_METRICS:
        problems.add("extra_metrics", f"{len(extra_raw)} metrics", f"at most {MAX_EXTRA_METRICS}")
    else:
        for index, item in enumerate(extra_raw):
            metric = _parse_extra_metric(item, index, problems)
            if metric is not None:
                extras.append(metric)
        names = [m.check_name for m in extras]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            problems.add("extra_metrics", dup, "each namespace/name/statistic at most once")
    problems.raise_if_any()
    return Policy(
        min_canary_invocations=min_inv,
        error_rate=error_rate,
        latency=latency,
        alarm_names=alarm_names,
        extra_metrics=tuple(extras),
    )
