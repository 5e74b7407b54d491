"""AWS CDK L3 constructs that make shipping machine-learning models on SageMaker safe.

.. code-block:: python

    from sagemaker_constructs import (
        CanaryRollout, Endpoint, Model, Notebook, Pipeline, add_compliance_checks,
    )
"""

from __future__ import annotations

from .canary_rollout import CanaryRollout, IEndpointRef, InstanceScaling
from .compliance import acknowledge, add_compliance_checks
from .endpoint import (
    CapacitySize,
    CapacitySizeType,
    DataCapture,
    DeploymentGuardrails,
    Endpoint,
    EndpointBase,
    ProductionVariant,
    ServerlessVariant,
    TrafficRouting,
    TrafficRoutingType,
    VariantAutoscaling,
    VariantProperty,
)
from .model import (
    ContainerDefinition,
    ContainerImage,
    ContainerMode,
    IModel,
    InferenceExecutionMode,
    Model,
    ModelData,
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

__version__ = "0.1.0"

__all__ = [
    "CanaryRollout",
    "CapacitySize",
    "CapacitySizeType",
    "CondaPackages",
    "ContainerDefinition",
    "ContainerImage",
    "ContainerMode",
    "DataCapture",
    "DeploymentGuardrails",
    "Endpoint",
    "EndpointBase",
    "IEndpointRef",
    "IModel",
    "IdleShutdown",
    "ImportedPipeline",
    "InferenceExecutionMode",
    "InstanceScaling",
    "LifecycleScript",
    "Model",
    "ModelData",
    "Notebook",
    "PackageIndex",
    "Pipeline",
    "PipelineDefinition",
    "ProductionVariant",
    "S3Backup",
    "ServerlessVariant",
    "TrafficRouting",
    "TrafficRoutingType",
    "VariantAutoscaling",
    "VariantProperty",
    "__version__",
    "acknowledge",
    "add_compliance_checks",
]
