"""Construction-time validation shared by every construct.

Each construct collects *all* problems with its arguments in one pass and raises a single
``ValueError`` that names, for each problem, the argument, the value received, the rule and
how to fix it. Values that are unresolved CDK tokens are skipped: they are only known at
deploy time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aws_cdk import Token

__all__ = [
    "SAGEMAKER_NAME_PATTERN",
    "InvalidArgumentsError",
    "Problem",
    "ValidationProblems",
    "is_token",
]

#: SageMaker resource names: ``[a-zA-Z0-9](-*[a-zA-Z0-9])*``, at most 63 characters.
SAGEMAKER_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


def is_token(value: Any) -> bool:
    """True when ``value`` (or any element of it) is an unresolved CDK token."""
    if value is None:
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False  # never a token, and jsii cannot even transmit it
    if isinstance(value, str | int | float):
        return bool(Token.is_unresolved(value))
    if isinstance(value, dict):
        return any(is_token(k) or is_token(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(is_token(v) for v in value)
    return False


@dataclass(frozen=True)
class Problem:
    """One problem with one argument: what it received, the rule it breaks, how to fix it.

    ``argument`` is ``None`` for a problem another checker reported whole (``rule`` then holds
    its report).
    """

    argument: str | None
    value: Any
    rule: str
    fix: str

    def __str__(self) -> str:
        if self.argument is None:
            return f"{self.rule}. Fix: {self.fix}."
        return f"{self.argument}={self.value!r}: {self.rule}. Fix: {self.fix}."


class InvalidArgumentsError(ValueError):
    """Every problem with one construct's (or value's) arguments, in one error.

    ``problems`` holds them one by one, so that a caller can report them in its own terms (the
    app names the ``cdk.json`` key each argument came from).
    """

    def __init__(self, owner: str, problems: list[Problem]) -> None:
        count = len(problems)
        header = f"Invalid arguments for {owner} ({count} problem{'s' if count != 1 else ''}):"
        super().__init__("\n  - ".join([header, *map(str, problems)]))
        self.owner = owner
        self.problems = tuple(problems)


class ValidationProblems:
    """Collects the problems found in one construct's arguments.

    >>> problems = ValidationProblems("Model", "Classifier")
    >>> problems.add("model_name", "bad_name", "must match [a-zA-Z0-9](-*[a-zA-Z0-9])*",
    ...              "use letters, digits and hyphens only")
    >>> problems.raise_if_any()
    Traceback (most recent call last):
    ...
    sagemaker_constructs._validation.InvalidArgumentsError: Invalid arguments for Model 'Classifier' (1 problem):
      - model_name='bad_name': must match [a-zA-Z0-9](-*[a-zA-Z0-9])*. Fix: use letters, digits and hyphens only.
    """  # noqa: E501

    def __init__(self, construct_type: str, construct_id: str | None = None) -> None:
        self._construct_type = construct_type
        self._construct_id = construct_id
        self._problems: list[Problem] = []

    def __bool__(self) -> bool:
        return bool(self._problems)

    def __len__(self) -> int:
        return len(self._problems)

    def add(self, argument: str, value: Any, rule: str, fix: str) -> None:
        """Record one problem: ``argument`` received ``value``, which breaks ``rule``."""
        self._problems.append(Problem(argument, value, rule, fix))

    def add_reported(self, report: str, fix: str) -> None:
        """Record a problem another checker reported, already naming argument, value and rule
        (for example the evaluator's policy parser)."""
        self._problems.append(Problem(None, None, report, fix))

    def check(self, ok: bool, argument: str, value: Any, rule: str, fix: str) -> bool:
        """Record a problem unless ``ok``; returns ``ok`` so checks can be chained."""
        if not ok:
            self.add(argument, value, rule, fix)
        return ok

    def check_name(
        self,
        argument: str,
        value: str | None,
        *,
        max_length: int = 63,
        pattern: re.Pattern[str] = SAGEMAKER_NAME_PATTERN,
        pattern_text: str = "[a-zA-Z0-9](-*[a-zA-Z0-9])*",
    ) -> None:
        """Check a SageMaker resource name (skipped when absent or a token)."""
        if value is None or is_token(value):
            return
        if len(value) > max_length:
            self.add(
                argument,
                value,
                f"must be at most {max_length} characters (got {len(value)})",
                "shorten the name",
            )
        elif not pattern.match(value):
            self.add(
                argument,
                value,
                f"must match {pattern_text}",
                "use ASCII letters, digits and single or repeated hyphens, "
                "starting and ending with a letter or digit",
            )

    def check_range(
        self,
        argument: str,
        value: int | float | None,
        *,
        minimum: int | float | None = None,
        maximum: int | float | None = None,
        unit: str = "",
    ) -> None:
        """Check ``minimum <= value <= maximum`` (skipped when absent or a token)."""
        if value is None or is_token(value):
            return
        suffix = f" {unit}" if unit else ""
        if minimum is not None and maximum is not None:
            rule = f"must be between {minimum} and {maximum}{suffix}"
        elif minimum is not None:
            rule = f"must be at least {minimum}{suffix}"
        else:
            rule = f"must be at most {maximum}{suffix}"
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            self.add(argument, value, rule, "choose a value in range")

    def whole_seconds(self, argument: str, duration: Any) -> float | None:
        """Seconds of a ``cdk.Duration`` that must be whole (CloudFormation wants integers);
        ``None`` (and a recorded problem) when it is not, ``None`` for a token or no value."""
        if duration is None or is_token(duration.to_string()):
            return None
        seconds: float = duration.to_seconds(integral=False)
        if not float(seconds).is_integer():
            self.add(
                argument,
                duration.to_human_string(),
                "must be a whole number of seconds",
                "use Duration.seconds(...) or Duration.minutes(...)",
            )
            return None
        return seconds

    def check_count(
        self,
        argument: str,
        values: Iterable[Any] | None,
        *,
        minimum: int,
        maximum: int,
    ) -> None:
        """Check the number of items in a list (skipped when absent or a token)."""
        if values is None or is_token(values):
            return
        count = len(list(values))
        if not minimum <= count <= maximum:
            self.add(
                argument,
                f"<{count} items>",
                f"must hold between {minimum} and {maximum} items",
                f"pass {minimum} to {maximum} items",
            )

    def raise_if_any(self) -> None:
        """Raise one :class:`InvalidArgumentsError` listing every recorded problem."""
        if not self._problems:
            return
        named = f" '{self._construct_id}'" if self._construct_id is not None else ""
        raise InvalidArgumentsError(f"{self._construct_type}{named}", self._problems)
