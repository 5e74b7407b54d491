"""The canary rollout: construct, validation, definition by phase, contract, command line.

=====================  ===============================================================
``construct.py``       ``CanaryRollout``: wiring of key, topic, evaluator, state machine
``props.py``           ``InstanceScaling``, ``IEndpointRef``
``validation.py``      the construct's arguments, checked at construction
``evaluator.py``       the evaluator Lambda, its log group and role
``observability.py``   alarms and dashboard
``definition/``        the state machine's definition, one module per phase
``contract.py``        every name that crosses a file or process boundary
``cli.py``             ``sagemaker-rollout`` (boto3 only)
=====================  ===============================================================

The exports load lazily, so ``sagemaker_constructs.rollout.cli`` and ``.contract`` import
neither AWS CDK nor its Node.js runtime.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .construct import CanaryRollout
    from .props import IEndpointRef, InstanceScaling

__all__ = ["CanaryRollout", "IEndpointRef", "InstanceScaling"]

_EXPORTS = {
    "CanaryRollout": ".construct",
    "IEndpointRef": ".props",
    "InstanceScaling": ".props",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
