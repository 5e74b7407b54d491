"""Parsing and validating the evaluator's policy object."""

from __future__ import annotations

import pytest

from canary_evaluator.policy import MAX_EXTRA_METRICS, ExtraMetric, Policy, parse_policy


def test_absent_or_empty_policy_gives_documented_defaults() -> None:
    empty: tuple[dict[str, object] | None, ...] = (None, {})
    for raw in empty:
        policy = parse_policy(raw)
        assert policy == Policy()
    policy = Policy()
    assert policy.min_canary_invocations == 100
    assert policy.error_rate.max_absolute_increase == 0.01
    assert policy.error_rate.alpha == 0.05
    assert policy.error_rate.max_rate == 0.05
    assert policy.latency.statistic == "p99"
    assert policy.latency.max_relative_increase == 0.25
    assert policy.latency.alpha == 0.05
    assert policy.alarm_names == ()
    assert policy.extra_metrics == ()


def test_every_key_is_read() -> None:
    policy = parse_policy(
        {
            "min_canary_invocations": 500,
            "error_rate": {"max_absolute_increase": 0.002, "alpha": 0.01, "max_rate": 0.02},
            "latency": {"statistic": "p90", "max_relative_increase": 0.1, "alpha": 0.1},
            "alarm_names": ["cpu-high", "composite-health"],
            "extra_metrics": [
                {
                    "namespace": "Shop",
                    "name": "Conversions",
                    "dimensions": {"Variant": "${variant}", "Site": "eu"},
                    "statistic": "Average",
                    "direction": "higher_is_better",
                    "tolerance": 0.05,
                }
            ],
        }
    )
    assert policy.min_canary_invocations == 500
    assert policy.error_rate.max_absolute_increase == 0.002
    assert policy.error_rate.alpha == 0.01
    assert policy.error_rate.max_rate == 0.02
    assert policy.latency.statistic == "p90"
    assert policy.latency.max_relative_increase == 0.1
    assert policy.latency.alpha == 0.1
    assert policy.alarm_names == ("cpu-high", "composite-health")
    (metric,) = policy.extra_metrics
    assert metric.direction == "higher_is_better"
    assert metric.tolerance == 0.05
    assert metric.alpha == 0.05
    assert metric.dimensions_for("canary-v2") == [
        {"Name": "Site", "Value": "eu"},
        {"Name": "Variant", "Value": "canary-v2"},
    ]


def test_partial_sub_objects_keep_other_defaults() -> None:
    policy = parse_policy({"latency": {"statistic": "Average"}})
    assert policy.latency.statistic == "Average"
    assert policy.latency.max_relative_increase == 0.25
    assert policy.error_rate == Policy().error_rate


def test_placeholder_is_substituted_inside_a_value() -> None:
    metric = ExtraMetric("N", "M", (("Model", "model-${variant}"),), "Sum", "lower_is_better", 0.1)
    assert metric.dimensions_for("blue") == [{"Name": "Model", "Value": "model-blue"}]


_METRIC = {
    "namespace": "Shop",
    "name": "Conversions",
    "dimensions": {},
    "statistic": "Average",
    "direction": "lower_is_better",
    "tolerance": 0.1,
}


_NO_NAME = {k: v for k, v in _METRIC.items() if k != "name"}
_RATIO = {**_METRIC, "direction": "higher_is_better", "tolerance": 1.0}
_CASES: list[tuple[object, str]] = [
    ("strict", r"policy: got 'strict'; allowed: an object"),
    ({"min_canary_invocation": 5}, r"policy\.min_canary_invocation: .*no such key"),
    ({"min_canary_invocations": 0}, r"min_canary_invocations: got 0; allowed: an integer >= 1"),
    ({"min_canary_invocations": 10.5}, r"min_canary_invocations: got 10\.5"),
    ({"min_canary_invocations": True}, r"min_canary_invocations: got True"),
    ({"error_rate": 0.01}, r"policy\.error_rate: got 0\.01; allowed: an object"),
    ({"error_rate": {"max_increase": 0.01}}, r"policy\.error_rate\.max_increase: .*no such key"),
    (
        {"error_rate": {"alpha": 0.0}},
        r"error_rate\.alpha: got 0\.0; allowed: a number in \(0, 0\.5\]",
    ),
    ({"error_rate": {"alpha": "0.05"}}, r"error_rate\.alpha: got '0\.05'"),
    ({"error_rate": {"max_rate": 1.5}}, r"max_rate: got 1\.5; allowed: a number in \[0, 1\]"),
    ({"error_rate": {"max_absolute_increase": -0.01}}, r"max_absolute_increase: got -0\.01"),
    ({"error_rate": {"max_absolute_increase": float("nan")}}, r"max_absolute_increase: got nan"),
    ({"latency": {"statistic": "p999"}}, r"latency\.statistic: got 'p999'; allowed: a CloudWatch"),
    ({"latency": {"statistic": 99}}, r"latency\.statistic: got 99"),
    ({"latency": {"max_relative_increase": -1}}, r"latency\.max_relative_increase: got -1"),
    ({"latency": {"alpha": 0.9}}, r"latency\.alpha: got 0\.9"),
    ({"alarm_names": "cpu-high"}, r"policy\.alarm_names: got 'cpu-high'; allowed: a list"),
    ({"alarm_names": ["ok", ""]}, r"policy\.alarm_names"),
    ({"extra_metrics": {}}, r"policy\.extra_metrics: got \{\}; allowed: a list"),
    ({"extra_metrics": ["x"]}, r"policy\.extra_metrics\[0\]: got 'x'"),
    ({"extra_metrics": [{**_METRIC, "unit": "x"}]}, r"extra_metrics\[0\]\.unit: .*no such key"),
    ({"extra_metrics": [_NO_NAME]}, r"extra_metrics\[0\]\.name: got None; allowed: required"),
    ({"extra_metrics": [{**_METRIC, "direction": "up"}]}, r"\[0\]\.direction: got 'up'"),
    ({"extra_metrics": [{**_METRIC, "tolerance": -0.1}]}, r"\[0\]\.tolerance: got -0\.1"),
    ({"extra_metrics": [_RATIO]}, r"tolerance: got 1\.0; allowed: a number in \[0, 1\)"),
    ({"extra_metrics": [{**_METRIC, "dimensions": {"V": 3}}]}, r"dimensions: got \{'V': 3\}"),
    ({"extra_metrics": [{**_METRIC, "statistic": "Median"}]}, r"\.statistic: got 'Median'"),
    ({"extra_metrics": [_METRIC, _METRIC]}, r"each namespace/name/statistic at most once"),
    ({"extra_metrics": [_METRIC] * (MAX_EXTRA_METRICS + 1)}, rf"at most {MAX_EXTRA_METRICS}"),
]


@pytest.mark.parametrize(("raw", "match"), _CASES)
def test_invalid_policy_is_rejected_naming_the_key(raw: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_policy(raw)


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(ValueError, match="Invalid canary policy") as error:
        parse_policy({"error_rate": {"alpha": 2}, "latency": {"statistic": "x"}, "typo": 1})
    message = str(error.value)
    assert "policy.error_rate.alpha" in message
    assert "policy.latency.statistic" in message
    assert "policy.typo" in message


@pytest.mark.parametrize(
    "statistic", ["p99", "p50", "p99.9", "Average", "Maximum", "tm99", "TM(10%:90%)", "IQM"]
)
def test_cloudwatch_statistics_are_accepted(statistic: str) -> None:
    assert parse_policy({"latency": {"statistic": statistic}}).latency.statistic == statistic
