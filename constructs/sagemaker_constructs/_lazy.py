"""Lazy package exports (PEP 562): a package names its exports without importing them.

The package ``__init__`` files use it so that importing one light module (the command line,
the rollout's contract) does not import AWS CDK and start its Node.js runtime.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``: ``exports`` maps each exported name
    to the relative module that defines it; a name is imported on first use, then cached in
    ``namespace`` (the package's ``globals()``)."""

    def __getattr__(name: str) -> Any:  # noqa: N807 (the module hook's own name)
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:  # noqa: N807
        return sorted({*namespace, *exports})

    return __getattr__, __dir__
