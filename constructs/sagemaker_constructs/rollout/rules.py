"""Rules that the construct and the state machine share, written once in the evaluator (no CDK).

The evaluator Lambda's code (shipped in the wheel, see ``_assets``) holds the rules a rollout's
execution input must follow (``canary_evaluator/rollout_input.py``: the schedule, the history
budget, the policy) and the policy's own parser (``policy.py``). The state machine asks the
evaluator to check each execution's input; the construct checks its defaults with the very
same code, loaded here as the private package ``sagemaker_constructs._evaluator``. So the
construct accepts exactly what an execution accepts.

What "rolled back" means lives in :mod:`.contract` (``is_rolled_back``).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from functools import cache
from types import ModuleType
from typing import Any

from .._assets import lambda_code_root

__all__ = [
    "CAPACITY_DEFAULT",
    "HISTORY_EVENT_BUDGET",
    "HISTORY_EVENT_LIMIT",
    "HOOKS_DEFAULT",
    "STEPS_EXAMPLE",
    "STEPS_RULE",
    "check_policy",
    "history_events",
    "steps_problem",
]

_PACKAGE = "sagemaker_constructs._evaluator"


@cache
def evaluator_module(name: str) -> ModuleType:
    """A module of the evaluator's package (``policy``, ``rollout_input``), loaded once from
    the Lambda code the library ships."""
    if _PACKAGE not in sys.modules:
        folder = lambda_code_root() / "canary_evaluator"
        spec = importlib.util.spec_from_file_location(
            _PACKAGE, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
        if spec is None or spec.loader is None:  # pragma: no cover - lambda_code_root checked
            raise FileNotFoundError(f"the evaluator's package cannot be loaded from {folder}")
        package = importlib.util.module_from_spec(spec)
        sys.modules[_PACKAGE] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"{_PACKAGE}.{name}")


_input = evaluator_module("rollout_input")

STEPS_RULE: str = _input.STEPS_RULE
STEPS_EXAMPLE: str = _input.STEPS_EXAMPLE
HISTORY_EVENT_LIMIT: int = _input.HISTORY_EVENT_LIMIT
HISTORY_EVENT_BUDGET: int = _input.HISTORY_EVENT_BUDGET
#: The key of the construct's defaults that turns the capacity phases' history budget on.
CAPACITY_DEFAULT: str = _input.CAPACITY_DEFAULT
#: The key of the construct's defaults that counts the hooks (for the history budget).
HOOKS_DEFAULT: str = _input.HOOKS_DEFAULT


def steps_problem(steps: object) -> str | None:
    """What breaks :data:`STEPS_RULE` in ``steps`` (``None`` when it holds)."""
    problem: str | None = _input.steps_problem(steps)
    return problem


def history_events(
    *,
    steps: int,
    bake_seconds: int,
    interval_seconds: int,
    max_extensions: int,
    max_polls: int,
    capacity: bool = False,
    hook_calls: dict[str, int] | None = None,
) -> int:
    """Worst-case history events of a rollout with this schedule (the evaluator's rule);
    ``capacity``: with the capacity phases (an autoscaled variant); ``hook_calls``:
    ``{"fixed": n, "per_step": m}`` hook calls."""
    events: int = _input.history_events(
        steps=steps,
        bake_seconds=bake_seconds,
        interval_seconds=interval_seconds,
        max_extensions=max_extensions,
        max_polls=max_polls,
        capacity=capacity,
        hook_calls=hook_calls,
    )
    return events


def check_policy(policy: object) -> list[str]:
    """The evaluator's objections to ``policy`` (empty when it accepts it).

    The policy travels as JSON (the state machine passes it to the evaluator), so it is
    checked as JSON: a value JSON cannot carry (a set, ``NaN``, an object) is an objection too.
    """
    try:
        as_json = json.loads(json.dumps(policy, allow_nan=False))
    except (TypeError, ValueError) as error:
        return [f"policy: got {policy!r}; allowed: JSON values only ({error})"]
    parse: Any = evaluator_module("policy").parse_policy
    try:
        parse(as_json)
    except ValueError as error:
        lines = str(error).splitlines()
        return [line.strip() for line in lines[1:]] or [str(error)]
    return []
