"""The rollout's execution input, checked before anything moves (pure Python, no boto3).

The state machine sends its raw execution input and the construct's defaults here first
(``{"validate_input": <input>, "defaults": {...}}``, see ``handler.py``); a problem raises ONE
``ValueError`` listing every problem, which the state machine turns into ``InvalidInput`` before
the lock or any weight change. The construct checks its own defaults with the same rules (it
loads this module from the Lambda code the library ships), so a rule lives here only.

Rules: the input is an object whose keys are known (a typo is an error, never ignored); every
number is an integer in range; ``steps`` is at least two strictly increasing percentages 1-100
ending at 100; ``interval_seconds <= bake_seconds``; ``policy`` passes the evaluator's parser
and stays small; and the worst case of the schedule fits in a Standard workflow's execution
history (25,000 events) with a margin.

``sagemaker-rollout start --input`` checks an input before it starts the execution with the same
rules (``given_input_problems``): it knows the keys it is given, not the defaults they will be
merged with, so it judges each given value alone and a rule between keys only when the input
sets all of them.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from .policy import parse_policy

__all__ = [
    "CAPACITY_DEFAULT",
    "HISTORY_EVENT_BUDGET",
    "HISTORY_EVENT_LIMIT",
    "HOOKS_DEFAULT",
    "INPUT_KEYS",
    "MAX_POLICY_BYTES",
    "STEPS_EXAMPLE",
    "STEPS_RULE",
    "bake_evaluations",
    "check_input",
    "given_input_problems",
    "history_events",
    "history_problems",
    "merge_input",
    "raise_if_any",
    "steps_problem",
    "unknown_keys",
    "value_problems",
]

INPUT_KEYS = (
    "steps",
    "bake_seconds",
    "interval_seconds",
    "max_extensions",
    "poll_seconds",
    "max_polls",
    "policy",
)
#: The smallest and largest value of each number of the input.
_RANGES = {
    "bake_seconds": (1, 7 * 86400),
    "interval_seconds": (1, 3600),
    "max_extensions": (0, 1000),
    "poll_seconds": (1, 3600),
    "max_polls": (1, 10000),
}
STEPS_RULE = (
    "a list of at least 2 integer percentages between 1 and 100, strictly increasing and "
    "ending at 100"
)
STEPS_EXAMPLE = "[5, 25, 50, 100]"
#: A Standard workflow's execution history holds at most this many events ...
HISTORY_EVENT_LIMIT = 25_000
#: ... and a rollout's worst case must stay under this, leaving room for retries.
HISTORY_EVENT_BUDGET = 20_000
#: History events of one evaluation round (wait, count, the evaluator task, the verdict).
EVENTS_PER_EVALUATION = 14
#: History events of one DescribeEndpoint poll (the call in its Parallel state, choice, wait,
#: count).
EVENTS_PER_POLL = 15
#: History events of a step besides its polls and evaluations (approval, weights, summary).
EVENTS_PER_STEP = 60
#: History events of the start (input, lock, preflight) and of the end.
EVENTS_FIXED = 150
#: The rollback sets the weights up to 3 times, each waiting for InService before and after.
ROLLBACK_ATTEMPTS = 3
#: With capacity before traffic (an autoscaled variant), each step also reads the counts, raises
#: the canary's limits and count and waits for InService (one more wait of at most max_polls
#: polls), and a rollback or a promotion restores counts and limits (one more wait): this many
#: events besides those polls.
EVENTS_PER_CAPACITY_PHASE = 40
#: The key of the construct's defaults that says the state machine has the capacity phases
#: (not an input key: an execution cannot switch them off).
CAPACITY_DEFAULT = "capacity_before_traffic"
#: History events of one hook call in the worst case: its task with every retry of a Lambda
#: service error (4 attempts), the answer's Choice, a refusal or a notification.
EVENTS_PER_HOOK_CALL = 30
#: The key of the construct's defaults that counts the hooks (the smoke test included):
#: ``{"fixed": <calls once per rollout>, "per_step": <after_step hooks>}`` (not an input key).
HOOKS_DEFAULT = "hook_calls"
#: The policy travels in every evaluation's event; the evaluator's answer is at most 32 KiB.
MAX_POLICY_BYTES = 16 * 1024


def steps_problem(steps: object) -> str | None:
    """What breaks :data:`STEPS_RULE` in ``steps`` (``None`` when it holds)."""
    if not isinstance(steps, list | tuple) or len(steps) < 2:
        return "fewer than 2 steps"
    if not all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= 100 for s in steps):
        return "every item must be an integer 1-100"
    if any(b <= a for a, b in itertools.pairwise(steps)):
        return "not strictly increasing"
    if steps[-1] != 100:
        return "the last step must be 100"
    return None


def bake_evaluations(*, bake_seconds: int, interval_seconds: int, max_extensions: int) -> int:
    """Evaluations of one bake in the worst case: one every interval, one more, and one every
    extension."""
    return bake_seconds // interval_seconds + 1 + max_extensions


def history_problems(events: int, shorten: str) -> list[str]:
    """The problem of a schedule whose worst case takes ``events`` history events, when that
    is over the budget (``shorten``: the keys that make it shorter, besides a longer
    ``interval_seconds``)."""
    if events <= HISTORY_EVENT_BUDGET:
        return []
    return [
        f"schedule: up to {events} history events in the worst case; allowed: at most "
        f"{HISTORY_EVENT_BUDGET} (a Standard workflow holds {HISTORY_EVENT_LIMIT}); "
        f"lengthen interval_seconds, or shorten {shorten}"
    ]


def history_events(
    *,
    steps: int,
    bake_seconds: int,
    interval_seconds: int,
    max_extensions: int,
    max_polls: int,
    capacity: bool = False,
    hook_calls: Mapping[str, int] | None = None,
) -> int:
    """Worst-case history events of a rollout: every bake extended to the limit, every wait
    for InService polled to the limit, and a rollback that needs all its attempts. With
    ``capacity`` (capacity before traffic), every step and the ending add a capacity phase
    with its own wait; ``hook_calls`` (:data:`HOOKS_DEFAULT`) adds every hook call."""
    evaluations = bake_evaluations(
        bake_seconds=bake_seconds, interval_seconds=interval_seconds, max_extensions=max_extensions
    )
    polls = 2 * max_polls * EVENTS_PER_POLL  # before and after each weight change
    per_step = EVENTS_PER_STEP + polls + evaluations * EVENTS_PER_EVALUATION
    rollback = ROLLBACK_ATTEMPTS * (polls + EVENTS_PER_STEP)
    if capacity:
        phase = max_polls * EVENTS_PER_POLL + EVENTS_PER_CAPACITY_PHASE
        per_step += phase
        rollback += phase  # restoring counts and limits after the rollback (or a promotion)
    hooks = dict(hook_calls or {})
    per_step += hooks.get("per_step", 0) * EVENTS_PER_HOOK_CALL
    fixed = EVENTS_FIXED + hooks.get("fixed", 0) * EVENTS_PER_HOOK_CALL
    return fixed + steps * per_step + rollback


def value_problems(key: str, value: object) -> list[str]:
    """What breaks the rule of the input key ``key`` in ``value``, judged alone (empty when it
    holds): a number's range, :data:`STEPS_RULE`, the policy's parser and size. ``key`` is one
    of :data:`INPUT_KEYS`."""
    if key in _RANGES:
        low, high = _RANGES[key]
        in_range = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        if not in_range:
            return [f"{key}: got {value!r}; allowed: an integer from {low} to {high}"]
        return []
    if key == "steps":
        problem = steps_problem(value)
        if problem is None:
            return []
        return [f"steps: got {value!r}; allowed: {STEPS_RULE}, such as {STEPS_EXAMPLE} ({problem})"]
    if key != "policy":
        raise KeyError(f"{key!r} is not an input key ({', '.join(INPUT_KEYS)})")
    if not isinstance(value, Mapping):
        return [f"policy: got {value!r}; allowed: an object"]
    problems: list[str] = []
    try:
        parse_policy(value)
    except ValueError as error:
        problems.extend(line.strip() for line in str(error).splitlines()[1:])
    size = len(json.dumps(value).encode())
    if size > MAX_POLICY_BYTES:
        problems.append(f"policy: {size} bytes of JSON; allowed: at most {MAX_POLICY_BYTES}")
    return problems


def unknown_keys(raw: Mapping[str, Any], keys: Sequence[str] = INPUT_KEYS) -> list[str]:
    """A problem for each key of ``raw`` that is not one of ``keys``."""
    return [
        f"{key}: unknown key (got {raw[key]!r}); allowed keys: {', '.join(keys)}"
        for key in raw
        if key not in keys
    ]


def _schedule_problems(values: Mapping[str, Any]) -> list[str]:
    """The rules between keys (``interval_seconds <= bake_seconds``, the history budget), for
    the keys of ``values`` that are present and valid alone (a missing one is not judged)."""
    valid = {k for k in INPUT_KEYS if k in values and not value_problems(k, values[k])}
    problems = []
    if {"interval_seconds", "bake_seconds"} <= valid and (
        values["interval_seconds"] > values["bake_seconds"]
    ):
        problems.append(
            f"interval_seconds: got {values['interval_seconds']}; allowed: at most "
            f"bake_seconds ({values['bake_seconds']})"
        )
    schedule = {"steps", "bake_seconds", "interval_seconds", "max_extensions", "max_polls"}
    if schedule <= valid:
        events = history_events(
            steps=len(values["steps"]),
            bake_seconds=values["bake_seconds"],
            interval_seconds=values["interval_seconds"],
            max_extensions=values["max_extensions"],
            max_polls=values["max_polls"],
            capacity=values.get(CAPACITY_DEFAULT) is True,
            hook_calls=hooks if isinstance(hooks := values.get(HOOKS_DEFAULT), dict) else None,
        )
        problems.extend(
            history_problems(events, "bake_seconds, steps, max_extensions or max_polls")
        )
    return problems


def given_input_problems(raw: Mapping[str, Any]) -> list[str]:
    """Every problem of the keys an execution input ``raw`` sets, without the defaults it will
    be merged with (what ``sagemaker-rollout start --input`` can check before it starts): unknown
    keys, each value alone, and the rules between keys when ``raw`` sets all the keys a rule
    involves. Whatever this finds, :func:`check_input` finds too, whatever the defaults."""
    problems = unknown_keys(raw)
    for key in INPUT_KEYS:
        if key in raw:
            problems.extend(value_problems(key, raw[key]))
    return problems + _schedule_problems(raw)


def merge_input(
    raw: object, defaults: Mapping[str, Any], *, keys: Sequence[str], example: str
) -> tuple[dict[str, Any], list[str]]:
    """The defaults merged with the execution input ``raw`` (the values of its ``keys``;
    ``policy`` merged key by key at its top level), and the problems found on the way: unknown
    keys, a policy that is not an object. An input that is not an object raises one
    ``ValueError`` at once (``example``: a valid input to show)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ValueError(
            f"Invalid execution input:\n  input: got {raw!r}; allowed: a JSON object such as "
            f"{example} (or {{}} for the defaults)"
        )
    problems = unknown_keys(raw, keys)
    merged = {**defaults, **{k: v for k, v in raw.items() if k in keys}}
    policy = raw.get("policy", {})
    if not isinstance(policy, Mapping):
        problems.extend(value_problems("policy", policy))
        policy = {}
    merged["policy"] = {**defaults.get("policy", {}), **policy}
    return merged, problems


def raise_if_any(problems: Sequence[str]) -> None:
    """One ``ValueError`` listing every problem of an execution input, if there are any."""
    if problems:
        raise ValueError("Invalid execution input:\n  " + "\n  ".join(problems))


def check_input(raw: object, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults merged with the execution input ``raw`` (``policy`` merged key by key at
    its top level); raises one ``ValueError`` listing every problem."""
    merged, problems = merge_input(
        raw, defaults, keys=INPUT_KEYS, example='{"steps": [10, 50, 100]}'
    )
    for key in INPUT_KEYS:
        problems.extend(value_problems(key, merged.get(key)))
    problems.extend(_schedule_problems(merged))
    raise_if_any(problems)
    return merged
