"""The canary rollout: construct, validation, definition by phase, contract, command line.

=====================  ===============================================================
``construct.py``       ``CanaryRollout``: wiring of key, topic, evaluator, state machine
``props.py``           ``InstanceScaling``, ``VariantScalingLimits``, ``IEndpointRef``,
                       ``SmokeTest``, ``RolloutHook``, ``HookPoint``
``hooks.py``           the smoke-test function, the hooks' validation and bindings
``validation.py``      the construct's arguments, checked at construction
``evaluator.py``       the evaluator Lambda, its log group and role
``observability.py``   alarms and dashboard
``definition/``        the state machine's definition, one module per phase
``shadow/``            ``ShadowEvaluation``: a shadow variant judged, no traffic moved
``machine.py``         key, topic, log group, role and state machine of both, and their
                       base class ``StateMachineConstruct`` (grants, metrics)
``contract.py``        every name that crosses a file or process boundary
``cli.py``             ``sagemaker-rollout`` (boto3 only)
=====================  ===============================================================

The exports load lazily, so ``sagemaker_constructs.rollout.cli`` and ``.contract`` import
neither AWS CDK nor its Node.js runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .construct import CanaryRollout
    from .props import (
        HookPoint,
        IEndpointRef,
        InstanceScaling,
        RolloutHook,
        SmokeTest,
        VariantScalingLimits,
    )
    from .shadow import ShadowEvaluation

__all__ = [
    "CanaryRollout",
    "HookPoint",
    "IEndpointRef",
    "InstanceScaling",
    "RolloutHook",
    "ShadowEvaluation",
    "SmokeTest",
    "VariantScalingLimits",
]

_EXPORTS = {
    "CanaryRollout": ".construct",
    "HookPoint": ".props",
    "IEndpointRef": ".props",
    "InstanceScaling": ".props",
    "RolloutHook": ".props",
    "SmokeTest": ".props",
    "VariantScalingLimits": ".props",
    "ShadowEvaluation": ".shadow",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
