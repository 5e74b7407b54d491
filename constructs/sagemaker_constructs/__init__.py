"""AWS CDK L3 constructs that make shipping machine-learning models on SageMaker safe.

.. code-block:: python

    from sagemaker_constructs import (
        CanaryRollout, Endpoint, Model, Notebook, Pipeline, add_compliance_checks,
    )
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

if TYPE_CHECKING:
    from ._validation import InvalidArgumentsError
    from .compliance import acknowledge, add_compliance_checks
    from .component_endpoint import (
        ComponentEndpoint,
        ComponentEndpointBase,
        ComponentVariant,
        ManagedInstanceScaling,
        RoutingStrategy,
    )
    from .endpoint import (
        AsyncInference,
        BacklogScaling,
        CapacitySize,
        CapacitySizeType,
        DataCapture,
        DeploymentGuardrails,
        Endpoint,
        EndpointAlarms,
        EndpointBase,
        ProductionVariant,
        ServerlessVariant,
        TrafficRouting,
        TrafficRoutingType,
        VariantAutoscaling,
        VariantProperty,
    )
    from .inference_component import (
        ComponentContainer,
        ComputeRequirements,
        CopyCapacity,
        CopyCapacityType,
        CopyScaling,
        InferenceComponent,
        RollingUpdate,
    )
    from .model import (
        ContainerDefinition,
        ContainerImage,
        ContainerMode,
        IModel,
        InferenceExecutionMode,
        Model,
        ModelData,
        ModelPackage,
    )
    from .model_package_group import (
        IModelPackageGroup,
        ModelApprovalStatus,
        ModelPackageGroup,
        ModelPackageGroupBase,
    )
    from .notebook import (
        CondaPackages,
        IdleShutdown,
        LifecycleScript,
        Notebook,
        PackageIndex,
        S3Backup,
    )
    from .pipeline import ImportedPipeline, Pipeline, PipelineDefinition
    from .roles import ManagedPolicyGrantee, ScopedRole
    from .rollout import (
        CanaryRollout,
        HookPoint,
        IEndpointRef,
        InstanceScaling,
        RolloutHook,
        ShadowEvaluation,
        SmokeTest,
        VariantScalingLimits,
    )

__version__ = "0.1.0"

__all__ = [
    "AsyncInference",
    "BacklogScaling",
    "CanaryRollout",
    "CapacitySize",
    "CapacitySizeType",
    "ComponentContainer",
    "ComponentEndpoint",
    "ComponentEndpointBase",
    "ComponentVariant",
    "ComputeRequirements",
    "CondaPackages",
    "ContainerDefinition",
    "ContainerImage",
    "ContainerMode",
    "CopyCapacity",
    "CopyCapacityType",
    "CopyScaling",
    "DataCapture",
    "DeploymentGuardrails",
    "Endpoint",
    "EndpointAlarms",
    "EndpointBase",
    "HookPoint",
    "IEndpointRef",
    "IModel",
    "IModelPackageGroup",
    "IdleShutdown",
    "ImportedPipeline",
    "InferenceComponent",
    "InferenceExecutionMode",
    "InstanceScaling",
    "InvalidArgumentsError",
    "LifecycleScript",
    "ManagedInstanceScaling",
    "ManagedPolicyGrantee",
    "Model",
    "ModelApprovalStatus",
    "ModelData",
    "ModelPackage",
    "ModelPackageGroup",
    "ModelPackageGroupBase",
    "Notebook",
    "PackageIndex",
    "Pipeline",
    "PipelineDefinition",
    "ProductionVariant",
    "RollingUpdate",
    "RolloutHook",
    "RoutingStrategy",
    "S3Backup",
    "ScopedRole",
    "ServerlessVariant",
    "ShadowEvaluation",
    "SmokeTest",
    "TrafficRouting",
    "TrafficRoutingType",
    "VariantAutoscaling",
    "VariantProperty",
    "VariantScalingLimits",
    "__version__",
    "acknowledge",
    "add_compliance_checks",
]

#: Where each export lives. They load on first use, so a module that needs none of them
#: (``sagemaker_constructs.rollout.cli``, the command line) starts without AWS CDK or Node.js.
_EXPORTS = {
    "AsyncInference": ".endpoint",
    "BacklogScaling": ".endpoint",
    "CanaryRollout": ".rollout",
    "CapacitySize": ".endpoint",
    "CapacitySizeType": ".endpoint",
    "ComponentContainer": ".inference_component",
    "ComponentEndpoint": ".component_endpoint",
    "ComponentEndpointBase": ".component_endpoint",
    "ComponentVariant": ".component_endpoint",
    "ComputeRequirements": ".inference_component",
    "CondaPackages": ".notebook",
    "ContainerDefinition": ".model",
    "ContainerImage": ".model",
    "ContainerMode": ".model",
    "CopyCapacity": ".inference_component",
    "CopyCapacityType": ".inference_component",
    "CopyScaling": ".inference_component",
    "DataCapture": ".endpoint",
    "DeploymentGuardrails": ".endpoint",
    "Endpoint": ".endpoint",
    "EndpointAlarms": ".endpoint",
    "EndpointBase": ".endpoint",
    "IEndpointRef": ".rollout",
    "IModel": ".model",
    "IModelPackageGroup": ".model_package_group",
    "IdleShutdown": ".notebook",
    "ImportedPipeline": ".pipeline",
    "InferenceComponent": ".inference_component",
    "InferenceExecutionMode": ".model",
    "InstanceScaling": ".rollout",
    "HookPoint": ".rollout",
    "RolloutHook": ".rollout",
    "SmokeTest": ".rollout",
    "ShadowEvaluation": ".rollout",
    "InvalidArgumentsError": "._validation",
    "LifecycleScript": ".notebook",
    "ManagedInstanceScaling": ".component_endpoint",
    "ManagedPolicyGrantee": ".roles",
    "Model": ".model",
    "ModelApprovalStatus": ".model_package_group",
    "ModelData": ".model",
    "ModelPackage": ".model",
    "ModelPackageGroup": ".model_package_group",
    "ModelPackageGroupBase": ".model_package_group",
    "Notebook": ".notebook",
    "PackageIndex": ".notebook",
    "Pipeline": ".pipeline",
    "PipelineDefinition": ".pipeline",
    "ProductionVariant": ".endpoint",
    "RollingUpdate": ".inference_component",
    "RoutingStrategy": ".component_endpoint",
    "S3Backup": ".notebook",
    "ScopedRole": ".roles",
    "ServerlessVariant": ".endpoint",
    "TrafficRouting": ".endpoint",
    "TrafficRoutingType": ".endpoint",
    "VariantAutoscaling": ".endpoint",
    "VariantProperty": ".endpoint",
    "VariantScalingLimits": ".rollout",
    "acknowledge": ".compliance",
    "add_compliance_checks": ".compliance",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
