"""A shadow evaluation's execution input, checked before anything is judged (pure Python).

The shadow evaluation's state machine sends its raw execution input and the construct's
defaults here first (``{"validate_shadow_input": <input>, "defaults": {...}}``, see
``handler.py``); a problem raises ONE ``ValueError`` listing every problem, which the state
machine turns into ``InvalidInput``. The construct checks its own defaults with the same rules.

An execution may set :data:`SHADOW_INPUT_KEYS`; ``poll_seconds`` and ``max_polls`` are the
construct's (checked all the same). The input is merged as the rollout's is
(``rollout_input.merge_input``: unknown keys, ``policy`` key by key). Each value follows the
rollout's rule of that key
(``rollout_input.value_problems``: ranges, the policy's parser and size), and
``interval_seconds <= bake_seconds`` is the rollout's rule too
(``rollout_input.given_input_problems`` judges it); the worst case of the evaluation must fit
in a Standard workflow's execution history with the rollout's margin.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .rollout_input import (
    EVENTS_FIXED,
    EVENTS_PER_EVALUATION,
    EVENTS_PER_POLL,
    bake_evaluations,
    given_input_problems,
    history_problems,
    merge_input,
    raise_if_any,
)

__all__ = [
    "SHADOW_FIXED_KEYS",
    "SHADOW_INPUT_KEYS",
    "VALIDATE_KEY",
    "check_shadow_input",
    "shadow_history_events",
]

#: The key of the evaluator's event that asks it to check a shadow evaluation's input (the
#: rollout's is ``validate_input``).
VALIDATE_KEY = "validate_shadow_input"
#: Keys a shadow evaluation's execution input may set (each overrides the construct's default).
SHADOW_INPUT_KEYS = ("bake_seconds", "interval_seconds", "max_extensions", "policy")
#: Keys of the construct's defaults that an execution cannot set.
SHADOW_FIXED_KEYS = ("poll_seconds", "max_polls")


def shadow_history_events(
    *, bake_seconds: int, interval_seconds: int, max_extensions: int, max_polls: int
) -> int:
    """Worst-case history events of a shadow evaluation: one wait for ``InService`` polled to
    the limit, and every evaluation of a bake extended to the limit."""
    evaluations = bake_evaluations(
        bake_seconds=bake_seconds, interval_seconds=interval_seconds, max_extensions=max_extensions
    )
    return EVENTS_FIXED + max_polls * EVENTS_PER_POLL + evaluations * EVENTS_PER_EVALUATION


def _history_problems(values: Mapping[str, Any], problems: list[str]) -> list[str]:
    """The history budget, once every number it needs is valid (``problems`` names none)."""
    keys = ("bake_seconds", "interval_seconds", "max_extensions", "max_polls")
    if any(p.startswith(f"{key}:") for p in problems for key in keys):
        return []
    events = shadow_history_events(**{key: values[key] for key in keys})
    return history_problems(events, "bake_seconds or max_extensions")


def check_shadow_input(raw: object, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults merged with the execution input ``raw`` (``policy`` merged key by key at
    its top level); raises one ``ValueError`` listing every problem."""
    # unknown keys and the merge: the rollout's rules, with the shadow evaluation's keys
    merged, problems = merge_input(
        raw, defaults, keys=SHADOW_INPUT_KEYS, example='{"bake_seconds": 3600}'
    )
    keys = (*SHADOW_INPUT_KEYS, *SHADOW_FIXED_KEYS)
    # every value alone, and interval_seconds <= bake_seconds: the rollout's rules
    problems.extend(given_input_problems({key: merged.get(key) for key in keys}))
    problems.extend(_history_problems(merged, problems))
    raise_if_any(problems)
    return merged
