"""Run-time type checks of public arguments, read from their annotations.

Users of a Python library do not all run a type checker, and the AWS CDK's own checks are
late and cryptic: a string where a bool belongs is *true* (``root_access="Disabled"`` would
enable root access), a ``nan`` crashes the jsii runtime, a list where a mapping belongs raises
a ``TypeError`` from deep inside. So every public constructor, factory and value class checks
its arguments against its annotations before anything else, and reports every mismatch in
one ``ValueError`` (the same message :class:`ValidationProblems` writes for every rule):

- ``bool`` takes only ``True`` / ``False``; ``int`` only whole numbers (not ``bool``, not
  ``20.5``) that JavaScript holds exactly (at most 2**53 - 1 either way: the AWS CDK computes
  in JavaScript, where ``10**30`` becomes ``1e+30``, no integer to CloudFormation); ``float``
  any finite number (not ``nan``, not ``inf``, not ``bool``);
- ``str`` only text a template can hold: no DEL or C1 control character (but NEL), no
  U+FFFE / U+FFFF, no unpaired surrogate (YAML, which cfn-lint reads every template as,
  forbids them; UTF-8 cannot encode a lone surrogate);
- ``Sequence[X]`` a list or tuple of ``X``; ``Mapping[K, V]`` a mapping of ``K`` to ``V``;
- ``None`` only where the annotation allows it (``X | None``);
- classes, enums and AWS CDK interfaces (``kms.IKey``) by what the object is or implements.

Unresolved CDK tokens pass: their values are only known at deploy time.

Two entry points: :func:`checked` wraps a function or method (constructors, factories), and
:func:`checked_value` adds the check to a dataclass (the props value classes).

>>> from dataclasses import dataclass
>>> @checked_value
... @dataclass(frozen=True)
... class Disk:
...     size_in_gb: int
...     encrypted: bool = True
>>> Disk(size_in_gb=20.5, encrypted="false")
Traceback (most recent call last):
...
sagemaker_constructs._validation.InvalidArgumentsError: Invalid arguments for Disk (2 problems):
  - size_in_gb=20.5: must be a whole number (int); got float. Fix: pass an int such as 20.
  - encrypted='false': must be a bool (True or False); got str. Fix: pass True or False, not a string or a number.
"""  # noqa: E501

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import math
import os
import pathlib
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from ._validation import ValidationProblems, is_token

__all__ = ["checked", "checked_value", "type_problems"]

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)

#: Arguments that are never checked here: the receiver, and the construct scope (the AWS
#: CDK checks it, and every construct accepts any ``Construct``).
_UNCHECKED = frozenset({"self", "cls", "scope", "return"})

Problem = tuple[str, Any, str, str]
"""(argument path, value, rule, fix)."""

#: The largest integer JavaScript (and so the AWS CDK) holds exactly.
MAX_SAFE_INTEGER = 2**53 - 1

#: Characters a template cannot hold as they are (the CDK writes them raw into its JSON).
_NOT_TEMPLATE_TEXT = re.compile(r"[\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")


# --------------------------------------------------------------------------- describing types


def _name(annotation: Any) -> str:
    """A reader's name for ``annotation``: ``aws_kms.IKey``, ``ProductionVariant``, ``str``."""
    if annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_name(a) for a in args)
    if origin is not None:
        inner = ", ".join(_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    module = getattr(annotation, "__module__", "")
    name = getattr(annotation, "__qualname__", None) or repr(annotation)
    if module.startswith("aws_cdk."):
        return f"{module.removeprefix('aws_cdk.')}.{name}"
    if module == "aws_cdk":
        return f"aws_cdk.{name}"
    return str(name)


def _expected(annotation: Any) -> tuple[str, str]:
    """(rule, fix) for a value that is not an ``annotation``."""
    if annotation is bool:
        return "must be a bool (True or False)", "pass True or False, not a string or a number"
    if annotation is int:
        return "must be a whole number (int)", "pass an int such as 20"
    if annotation is float:
        return "must be a finite number", "pass an int or a float that is not nan or infinity"
    if annotation is str:
        return "must be a string", "pass a str"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        members = ", ".join(f"{annotation.__name__}.{m.name}" for m in annotation)
        return f"must be a member of {annotation.__name__}", f"pass one of {members}"
    origin = typing.get_origin(annotation)
    if origin in (Sequence, list, tuple):
        return f"must be a list of {_name(_item_type(annotation))}", "pass a list or a tuple"
    if origin in (Mapping, dict):
        key, value = typing.get_args(annotation) or (Any, Any)
        return (
            f"must be a mapping of {_name(key)} to {_name(value)}",
            'pass a dict such as {"KEY": "value"}',
        )
    name = _name(annotation)
    if _is_python_protocol(annotation):
        attributes = ", ".join(sorted(m for m in vars(annotation) if not m.startswith("_")))
        return f"must be {name} (an object with {attributes})", f"pass an object with {attributes}"
    return f"must be {name}", f"pass {name}"


def _is_python_protocol(annotation: Any) -> bool:
    return getattr(annotation, "_is_protocol", False) and not hasattr(annotation, "__jsii_type__")


def _item_type(annotation: Any) -> Any:
    args = typing.get_args(annotation)
    return args[0] if args else Any


# --------------------------------------------------------------------------- checking values


def _implements_jsii(value: Any, interface: type) -> bool:
    """True when ``value`` implements the AWS CDK (jsii) interface ``interface``.

    Classes declare their interfaces in ``__jsii_ifaces__``; objects the AWS CDK returns for
    an interface (``Vpc.from_vpc_attributes``) are proxies that delegate to the interface's
    proxy class (``_IVpcProxy``) or to one that extends it.
    """
    declared: list[type] = []
    for target in (value, *(getattr(value, "_delegates", None) or ())):
        for klass in type(target).__mro__:
            declared.append(klass)
            declared.extend(getattr(klass, "__jsii_ifaces__", None) or ())
    proxy_of = getattr(interface, "__jsii_proxy_class__", None)
    proxy = proxy_of() if callable(proxy_of) else None
    return any(d is proxy or interface in getattr(d, "__mro__", ()) for d in declared)


def _is_jsii_interface(annotation: type) -> bool:
    return hasattr(annotation, "__jsii_type__") and getattr(annotation, "_is_protocol", False)


def _matches_class(value: Any, annotation: type) -> bool:
    if annotation is pathlib.Path:
        return isinstance(value, str | os.PathLike)
    if _is_jsii_interface(annotation):
        return _implements_jsii(value, annotation)
    if getattr(annotation, "_is_protocol", False) and not getattr(
        annotation, "_is_runtime_protocol", False
    ):
        return value is not None  # a structural type that cannot be checked at run time
    return isinstance(value, annotation)


def type_problems(value: Any, annotation: Any, path: str) -> list[Problem]:
    """Every way ``value`` (at argument ``path``) fails ``annotation``; empty when it fits."""
    if annotation is Any or annotation is object:
        return []
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return _union_problems(value, annotation, path)
    if origin is typing.Literal:
        allowed = typing.get_args(annotation)
        if value in allowed:
            return []
        return [(path, value, f"must be one of {list(allowed)}", "pass one of those values")]
    fits = _fits(value, annotation, origin)
    if fits and origin in (Sequence, list, tuple):
        return [
            problem
            for index, item in enumerate(value)
            for problem in type_problems(item, _item_type(annotation), f"{path}[{index}]")
        ]
    if fits and origin in (Mapping, dict):
        key_type, value_type = typing.get_args(annotation) or (Any, Any)
        problems: list[Problem] = []
        for key, item in value.items():
            problems += type_problems(key, key_type, f"{path} key {key!r}")
            problems += type_problems(item, value_type, f"{path}[{key!r}]")
        return problems
    if fits and annotation is str:
        return _text_problems(value, path)
    if fits and annotation is int and abs(value) > MAX_SAFE_INTEGER:
        rule = f"must be between -{MAX_SAFE_INTEGER} and {MAX_SAFE_INTEGER} (2**53 - 1)"
        return [(path, value, rule, "pass a smaller number")]
    if fits or is_token(value):
        return []
    rule, fix = _expected(annotation)
    return [(path, value, f"{rule}; got {type(value).__name__}", fix)]


def _fits(value: Any, annotation: Any, origin: Any) -> bool:
    """The value's own type fits (items of containers are checked separately)."""
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    if origin in (Sequence, list, tuple):
        return isinstance(value, list | tuple)
    if origin in (Mapping, dict):
        return isinstance(value, Mapping)
    if origin is not None:
        return isinstance(value, origin)
    if isinstance(annotation, type):
        return _matches_class(value, annotation)
    return True  # a typing construct this checker does not know: the AWS CDK checks it


def _text_problems(value: str, path: str) -> list[Problem]:
    found = _NOT_TEMPLATE_TEXT.search(value)
    if found is None:
        return []
    rule = (
        f"must be text a template can hold, and U+{ord(found.group()):04X} (position "
        f"{found.start()}) is not: no DEL or C1 control character, U+FFFE, U+FFFF or unpaired "
        "surrogate"
    )
    return [(path, value, rule, "remove the character")]


def _union_problems(value: Any, annotation: Any, path: str) -> list[Problem]:
    options = typing.get_args(annotation)
    results = [type_problems(value, option, path) for option in options]
    if any(not result for result in results):
        return []
    # Report against the one option of the right kind (a list for ``Sequence[X] | None``),
    # so that the message names the offending item rather than the whole value.
    same_kind = [
        result
        for option, result in zip(options, results, strict=True)
        if option is not type(None) and _fits(value, option, typing.get_origin(option))
    ]
    if len(same_kind) == 1:
        return same_kind[0]
    others = [option for option in options if option is not type(None)]
    if len(others) == 1:  # ``X | None``: say what X wants, and that None is allowed
        rule, fix = _expected(others[0])
        return [(path, value, f"{rule} or None; got {type(value).__name__}", f"{fix}, or None")]
    names = " or ".join(_name(option) for option in options)
    return [
        (
            path,
            value,
            f"must be {names}; got {type(value).__name__}",
            f"pass {names}",
        )
    ]


# --------------------------------------------------------------------------- entry points


@functools.cache
def _hints(owner: Any) -> dict[str, Any]:
    return {k: v for k, v in typing.get_type_hints(owner).items() if k not in _UNCHECKED}


def _raise(owner: str, construct_id: Any, problems: list[Problem]) -> None:
    collected = ValidationProblems(owner, construct_id if isinstance(construct_id, str) else None)
    for path, value, rule, fix in problems:
        collected.add(path, value, rule, fix)
    collected.raise_if_any()


def checked(function: F) -> F:
    """Check the arguments of every call of ``function`` against its annotations.

    The error names the function's class (``Model``, ``Endpoint.from_endpoint_name``) and,
    when there is an ``id`` argument, the construct id.
    """
    signature = inspect.signature(function)
    qualname = function.__qualname__
    owner = qualname.removesuffix(".__init__")

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        hints = _hints(function)
        problems = [
            problem
            for name, value in bound.arguments.items()
            if name in hints
            for problem in type_problems(value, hints[name], name)
        ]
        if problems:
            _raise(owner, bound.arguments.get("id"), problems)
        return function(*args, **kwargs)

    return typing.cast(F, wrapper)


def checked_value(cls: C) -> C:
    """Check a dataclass's fields against their annotations when an instance is created."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} is not a dataclass")
    original_init = cls.__init__

    @functools.wraps(original_init)
    def checked_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        hints = _hints(cls)
        problems = [
            problem
            for field in dataclasses.fields(self)
            if field.name in hints
            for problem in type_problems(getattr(self, field.name), hints[field.name], field.name)
        ]
        if problems:
            _raise(cls.__name__, None, problems)

    cls.__init__ = checked_init  # type: ignore[method-assign]
    return cls
