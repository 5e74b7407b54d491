"""Rules that the construct, the state machine and the command line share (no AWS CDK).

- the schedule: :data:`STEPS_RULE` and :func:`steps_problem` (the construct checks its
  ``steps`` with it; the state machine fails an execution input's ``steps`` with the same text);
- the evaluator's policy: :func:`check_policy` runs the evaluator's own parser (the code the
  Lambda runs, shipped in the wheel), so the construct accepts exactly the policies the
  evaluator accepts.

What "rolled back" means lives in :mod:`.contract` (``is_rolled_back``).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
from collections.abc import Callable
from functools import cache
from types import ModuleType

from .._assets import lambda_code_root

__all__ = ["STEPS_EXAMPLE", "STEPS_RULE", "check_policy", "steps_problem"]

#: The schedule of canary percentages.
STEPS_RULE = (
    "a list of at least 2 integer percentages between 1 and 100, strictly increasing and "
    "ending at 100"
)
STEPS_EXAMPLE = "[5, 25, 50, 100]"


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


_EVALUATOR_POLICY_MODULE = "sagemaker_constructs._evaluator_policy"


@cache
def _evaluator_policy() -> ModuleType:
    """The evaluator's ``policy`` module, loaded from the Lambda code the library ships."""
    path = lambda_code_root() / "canary_evaluator" / "policy.py"
    spec = importlib.util.spec_from_file_location(_EVALUATOR_POLICY_MODULE, path)
    if spec is None or spec.loader is None:  # pragma: no cover - lambda_code_root checked it
        raise FileNotFoundError(f"the evaluator's policy module cannot be loaded from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[_EVALUATOR_POLICY_MODULE] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def check_policy(policy: object) -> list[str]:
    """The evaluator's objections to ``policy`` (empty when it accepts it).

    The policy travels as JSON (the state machine passes it to the evaluator), so it is
    checked as JSON: a value JSON cannot carry (a set, ``NaN``, an object) is an objection too.
    """
    try:
        as_json = json.loads(json.dumps(policy, allow_nan=False))
    except (TypeError, ValueError) as error:
        return [f"policy: got {policy!r}; allowed: JSON values only ({error})"]
    parse: Callable[[object], object] = _evaluator_policy().parse_policy
    try:
        parse(as_json)
    except ValueError as error:
        lines = str(error).splitlines()
        return [line.strip() for line in lines[1:]] or [str(error)]
    return []
