"""The execution input's rules (``canary_evaluator/rollout_input.py``), checked in Python before
the lock or any weight change: every problem listed, nothing silently ignored."""

from __future__ import annotations

import re
from typing import Any

import pytest

from canary_evaluator.handler import dispatch
from canary_evaluator.rollout_input import (
    HISTORY_EVENT_BUDGET,
    check_input,
    given_input_problems,
    history_events,
    value_problems,
)

DEFAULTS: dict[str, Any] = {
    "steps": [5, 25, 50, 100],
    "bake_seconds": 600,
    "interval_seconds": 60,
    "max_extensions": 5,
    "poll_seconds": 30,
    "max_polls": 60,
    "policy": {"min_canary_invocations": 200, "latency": {"statistic": "p99"}},
}


def test_an_empty_input_runs_the_defaults() -> None:
    assert check_input({}, DEFAULTS) == DEFAULTS
    assert check_input(None, DEFAULTS) == DEFAULTS


def test_the_input_overrides_key_by_key_and_the_policy_at_its_top_level() -> None:
    merged = check_input({"steps": [10, 100], "policy": {"latency": {"alpha": 0.01}}}, DEFAULTS)
    assert merged["steps"] == [10, 100]
    assert merged["bake_seconds"] == 600
    assert merged["policy"] == {"min_canary_invocations": 200, "latency": {"alpha": 0.01}}


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"stepz": [10, 100]}, "stepz: unknown key"),
        ({"steps": "10,50,100"}, "steps: got '10,50,100'"),
        ({"steps": [5, 50]}, "the last step must be 100"),
        ({"steps": [50, 25, 100]}, "not strictly increasing"),
        ({"steps": [True, 100]}, "every item must be an integer 1-100"),
        ([10, 50, 100], "input: got [10, 50, 100]; allowed: a JSON object"),
        ("steps=10", "input: got 'steps=10'"),
        ({"bake_seconds": "600"}, "bake_seconds: got '600'"),
        ({"bake_seconds": 600.5}, "bake_seconds: got 600.5"),
        ({"max_polls": 0}, "max_polls: got 0; allowed: an integer from 1 to 10000"),
        ({"interval_seconds": 700}, "interval_seconds: got 700; allowed: at most bake_seconds"),
        ({"policy": {"latency": {"statistic": "p101"}}}, "policy.latency.statistic"),
        ({"policy": "strict"}, "policy: got 'strict'; allowed: an object"),
        ({"bake_seconds": 86400}, "history events in the worst case"),
        ({"interval_seconds": 1}, "history events in the worst case"),
    ],
)
def test_every_kind_of_bad_input_is_rejected_with_what_is_wrong(raw: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        check_input(raw, DEFAULTS)


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(ValueError, match=r"Invalid execution input") as raised:
        check_input({"stepz": [1], "max_polls": -1, "policy": {"min_canary_invocations": 0}},
                    DEFAULTS)  # fmt: skip
    lines = str(raised.value).splitlines()[1:]
    assert len(lines) == 3
    assert [line.strip().split(":")[0] for line in lines] == [
        "stepz",
        "max_polls",
        "policy.min_canary_invocations",
    ]


def test_the_defaults_fit_the_history_budget_with_room_to_spare() -> None:
    events = history_events(
        steps=4, bake_seconds=600, interval_seconds=60, max_extensions=5, max_polls=60
    )
    assert events < HISTORY_EVENT_BUDGET * 0.75


def test_the_validate_mode_answers_the_merged_config() -> None:
    answer = dispatch(
        {"validate_input": {"steps": [20, 100]}, "defaults": DEFAULTS},
        cloudwatch=None,  # type: ignore[arg-type]  # the validate mode reads no metrics
    )
    assert answer == {"config": {**DEFAULTS, "steps": [20, 100]}}


# -- the keys given, without the defaults (what ``sagemaker-rollout start --input`` checks) ---


@pytest.mark.parametrize(
    "raw",
    [
        {"stepz": [10, 100]},
        {"steps": [5, 50]},
        {"steps": [True, 100], "max_polls": 0},
        {"bake_seconds": 600.5},
        {"interval_seconds": 20, "bake_seconds": 10},
        {"policy": {"latency": {"statistic": "p101"}}},
        {"policy": "strict"},
        {"steps": [5, 100], "bake_seconds": 86400, "interval_seconds": 1, "max_extensions": 5,
         "max_polls": 60},
    ],
)  # fmt: skip
def test_what_the_given_keys_break_the_merged_input_breaks_too(raw: dict[str, Any]) -> None:
    given = given_input_problems(raw)
    assert given  # each of these inputs is wrong whatever the defaults
    with pytest.raises(ValueError, match="Invalid execution input") as raised:
        check_input(raw, DEFAULTS)
    merged = [line.strip() for line in str(raised.value).splitlines()[1:]]
    assert set(given) <= set(merged)


@pytest.mark.parametrize(
    "raw",
    [
        {"interval_seconds": 700},  # more than the DEFAULT bake_seconds: only the merge tells
        {"bake_seconds": 86400},  # over the history budget with the DEFAULT interval
        {},
        {"steps": [10, 50, 100], "policy": {"latency": {"alpha": 0.01}}},
    ],
)
def test_the_given_keys_are_judged_without_guessing_the_defaults(raw: dict[str, Any]) -> None:
    assert given_input_problems(raw) == []


def test_each_value_is_judged_by_the_rule_of_its_key() -> None:
    assert value_problems("max_polls", 0) == [
        "max_polls: got 0; allowed: an integer from 1 to 10000"
    ]
    assert value_problems("steps", [5, 25, 50, 100]) == []
    (problem,) = value_problems("policy", {"min_canary_invocations": 0})
    assert problem.startswith("policy.min_canary_invocations")
    with pytest.raises(KeyError, match="'stepz' is not an input key"):
        value_problems("stepz", [10, 100])
