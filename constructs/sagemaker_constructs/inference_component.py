"""``InferenceComponent``: one model on an endpoint of inference components.

Each component names the compute one copy of its model needs (CPU cores, accelerators,
memory), how many copies run, and how a change reaches users: CloudFormation updates the
component in place and SageMaker replaces its copies batch by batch (the rolling update
policy), watching alarms and rolling back when one fires.

.. code-block:: python

    component = InferenceComponent(
        self, "Chat",
        endpoint=endpoint, variant_name="gpu",
        model=chat_model,
        compute=ComputeRequirements(min_memory_required_in_mb=24576,
                                    number_of_accelerator_devices_required=1),
        copy_count=2,
        rolling_update=RollingUpdate(
            maximum_batch_size=CopyCapacity.copy_count(1),
            wait_interval=cdk.Duration.minutes(5),
            rollback_alarms=[latency_alarm]),
        scaling=CopyScaling(min_copies=0, max_copies=4, target_invocations_per_copy=10),
    )
    component.grant_invoke(caller_role)     # this component only
    component.metric_model_latency()        # AWS/SageMaker, InferenceComponentName

Sources of the rules: the CloudFormation schema of ``AWS::SageMaker::InferenceComponent``
(as cfn-lint ships it), the SageMaker API model botocore ships
(``CreateInferenceComponent``, ``InferenceComponentRollingUpdatePolicy``) and the Developer
Guide's "Scale an endpoint to zero instances".
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from . import aws_rules
from ._instance_types import instance_family
from ._scaling import scalable_target, target_tracking
from ._types import checked, checked_value
from ._validation import ValidationProblems, is_token
from .component_endpoint import ComponentEndpointBase, grant_invoke_components
from .log_groups import allow_cloudwatch_logs, check_retention, retention
from .model import (
    ContainerImage,
    IModel,
    Model,
    ModelData,
    _AssetModelData,
    _BucketModelData,
    _UrlModelData,
)

__all__ = [
    "COMPONENT_NAMESPACE",
    "ComponentContainer",
    "ComputeRequirements",
    "CopyCapacity",
    "CopyCapacityType",
    "CopyScaling",
    "InferenceComponent",
    "RollingUpdate",
]

#: Invocation metrics of a component (dimension ``InferenceComponentName``) ...
INVOCATION_NAMESPACE = "AWS/SageMaker"
#: ... and its utilisation, normalised to the resources reserved for its copies.
COMPONENT_NAMESPACE = "/aws/sagemaker/InferenceComponents"
#: Where SageMaker writes a component's logs (``<prefix><component name>``).
LOG_GROUP_PREFIX = "/aws/sagemaker/InferenceComponents/"

INFERENCE_COMPONENT = aws_rules.INFERENCE_COMPONENT
_SPEC = "Specification/"
_ROLLING = "DeploymentConfig/RollingUpdatePolicy/"

#: Environment keys as CloudFormation's schema writes them (``patternProperties``): two or more
#: characters. (SageMaker's API also takes one character; cfn-lint rejects it.)
_ENV_KEY = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{1,1024}$")
_MAX_ENVIRONMENT = 16

#: Instance families with accelerators (GPUs, Inferentia, Trainium, Gaudi).
_ACCELERATED_FAMILY = re.compile(r"^(g\d|p\d|inf\d|trn\d|dl\d)")


def _is_accelerated(instance_type: str) -> bool:
    family = instance_family(instance_type)
    return family is not None and _ACCELERATED_FAMILY.match(family) is not None


# --------------------------------------------------------------------------- props


@checked_value
@dataclass(frozen=True, kw_only=True)
class ComputeRequirements:
    """What one copy of the model reserves on an instance (``ComputeResourceRequirements``).

    :param min_memory_required_in_mb: at least 128.
    :param max_memory_required_in_mb: at least ``min_memory_required_in_mb``. Default: none.
    :param number_of_cpu_cores_required: at least 0.25. Default: none.
    :param number_of_accelerator_devices_required: at least 1 (GPUs, Inferentia or Trainium
        devices); needs an accelerated instance type. Default: none.
    """

    min_memory_required_in_mb: int
    max_memory_required_in_mb: int | None = None
    number_of_cpu_cores_required: float | None = None
    number_of_accelerator_devices_required: int | None = None


@checked_value
@dataclass(frozen=True, kw_only=True)
class ComponentContainer:
    """A container the component runs without a SageMaker model (``Specification.Container``).

    The endpoint's execution role (when the endpoint was created here) is granted pull on the
    image and read on the artifacts.

    :param image: from Amazon ECR (``from_ecr_repository``, ``from_asset``,
        ``from_docker_image_asset``, or ``from_registry`` with an ECR URI).
    :param artifacts: one ``.tar.gz`` archive in S3. Default: none (the image carries the
        model).
    :param environment: at most 16 variables; keys ``[a-zA-Z_][a-zA-Z0-9_]+`` (two or more
        characters, as CloudFormation requires), values at most 1024 characters.
        Default: none.
    """

    image: ContainerImage
    artifacts: ModelData | None = None
    environment: Mapping[str, str] = field(default_factory=dict)


class CopyCapacityType(enum.Enum):
    COPY_COUNT = "COPY_COUNT"
    CAPACITY_PERCENT = "CAPACITY_PERCENT"


@checked_value
@dataclass(frozen=True)
class CopyCapacity:
    """A batch of a rolling update: a number of copies or a percentage of them."""

    type: CopyCapacityType
    value: int

    @classmethod
    @checked
    def copy_count(cls, count: int) -> CopyCapacity:
        return cls(CopyCapacityType.COPY_COUNT, count)

    @classmethod
    @checked
    def capacity_percent(cls, percent: int) -> CopyCapacity:
        return cls(CopyCapacityType.CAPACITY_PERCENT, percent)


@checked_value
@dataclass(frozen=True, kw_only=True)
class RollingUpdate:
    """How SageMaker moves the component's copies to a new specification
    (``DeploymentConfig``): in batches, baking each, rolling back on an alarm.

    It applies when a stack update changes the component (CloudFormation calls
    ``UpdateInferenceComponent``); creating the component deploys every copy at once.

    :param maximum_batch_size: copies replaced per step: 5-50 % of the copies
        (``CopyCapacity.capacity_percent``), or a number of copies that is at most half of
        ``copy_count`` (1 is always allowed).
    :param wait_interval: the bake time of each batch, while SageMaker watches the alarms
        (0-3600 s, whole seconds).
    :param maximum_execution_timeout: the whole update's time limit (600-28800 s).
        Default: SageMaker's.
    :param rollback_maximum_batch_size: copies restored per step in a rollback (at least 1;
        at most 100 %). Default: SageMaker's (all at once).
    :param rollback_alarms: 0-10 CloudWatch alarms; any in ALARM during the update rolls it
        back. Default: none (the update only stops on failed health checks).
    """

    maximum_batch_size: CopyCapacity
    wait_interval: cdk.Duration
    maximum_execution_timeout: cdk.Duration | None = None
    rollback_maximum_batch_size: CopyCapacity | None = None
    rollback_alarms: Sequence[cloudwatch.IAlarm] = ()


@checked_value
@dataclass(frozen=True, kw_only=True)
class CopyScaling:
    """Application Auto Scaling of the component's copies
    (``sagemaker:inference-component:DesiredCopyCount``), target tracking on
    ``SageMakerInferenceComponentInvocationsPerCopy``.

    With ``min_copies=0`` the component scales in to no copy when idle; a request then fails
    until a copy runs again, so a step scaling policy adds one copy when the component's
    ``NoCapacityInvocationFailures`` metric is at least 1 in a minute (an alarm on it). For the
    endpoint to release its instances too, its variant needs managed instance scaling with
    ``min_instance_count=0``.

    :param max_copies: at least 1 and at least ``copy_count``.
    :param target_invocations_per_copy: invocations per copy per minute to hold (above 0).
    :param min_copies: 0 or more, at most ``copy_count``. Default: 1.
    :param scale_in_cooldown: Default: 5 minutes.
    :param scale_out_cooldown: Default: 1 minute.
    """

    max_copies: int
    target_invocations_per_copy: float
    min_copies: int = 1
    scale_in_cooldown: cdk.Duration | None = None
    scale_out_cooldown: cdk.Duration | None = None


# --------------------------------------------------------------------------- construct


class InferenceComponent(Construct):
    """A model hosted on a :class:`~sagemaker_constructs.component_endpoint.ComponentEndpoint`
    (``AWS::SageMaker::InferenceComponent``).

    **Specification.** Either ``model`` (a :class:`Model` of one single-model container, or an
    imported one) or ``container`` (an ECR image and optional ``.tar.gz`` artifacts), never
    both; plus ``compute``, what one copy reserves.

    **Name.** Requests name the component (``InferenceComponentName``), and its scaling and
    metrics use the name, so the component is always named: ``inference_component_name`` or a
    name derived from the construct path (stable across deployments; unique within the
    account and region as long as the stack name is). Changing the specification updates the
    component in place, with ``rolling_update`` when given.

    **Copy count.** ``copy_count`` is what CloudFormation deploys. With ``scaling``,
    Application Auto Scaling changes the live count; a stack update that changes
    ``copy_count`` sets it again.

    **Permissions.** :meth:`grant_invoke` allows invoking this component only: IAM has no
    condition key for the component's name, but ``InvokeEndpoint`` and
    ``InvokeEndpointWithResponseStream`` take the inference component as a resource (the
    Service Authorization Reference lists ``inference-component`` beside ``endpoint``), so the
    grant names the endpoint's and the component's ARNs.

    **Metrics** (dimension ``InferenceComponentName``): invocations, 4XX and 5XX errors and
    ``NoCapacityInvocationFailures`` (``Sum``, 1 minute), ``ModelLatency`` and
    ``OverheadLatency`` (``Average``, 1 minute, microseconds) in ``AWS/SageMaker``; CPU,
    memory, GPU and GPU memory utilisation normalised to the reserved resources (``Average``,
    1 minute, percent) in ``/aws/sagemaker/InferenceComponents``.

    :param endpoint: a :class:`ComponentEndpoint` or ``ComponentEndpoint.from_endpoint_name``.
    :param variant_name: the endpoint's variant whose instances run the copies.
    :param compute: what one copy reserves.
    :param model: the model to serve. Default: none (then ``container`` is required).
    :param container: the container to run. Default: none (then ``model`` is required).
    :param copy_count: copies to deploy (0 or more). Default: 1.
    :param container_startup_health_check_timeout: 60-3600 s. Default: SageMaker's.
    :param model_data_download_timeout: 60-3600 s. Default: SageMaker's.
    :param inference_component_name: ``[a-zA-Z0-9](-*[a-zA-Z0-9])*``, at most 63 characters.
        Default: derived from the construct path.
    :param rolling_update: how updates replace copies. Default: SageMaker's.
    :param scaling: Default: no scaling (``copy_count`` copies).
    :param log_encryption_key: encrypts the component's log group
        ``/aws/sagemaker/InferenceComponents/<name>`` (``log_group``), created before the
        component so SageMaker never creates it unencrypted. Default: the endpoint's
        ``log_key`` (a :class:`ComponentEndpoint`), or a new rotating key for an imported one.
    :param log_retention_days: a CloudWatch Logs retention value. Default: the endpoint's, or
        365.
    """

    @checked
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoint: ComponentEndpointBase,
        variant_name: str,
        compute: ComputeRequirements,
        model: IModel | None = None,
        container: ComponentContainer | None = None,
        copy_count: int = 1,
        container_startup_health_check_timeout: cdk.Duration | None = None,
        model_data_download_timeout: cdk.Duration | None = None,
        inference_component_name: str | None = None,
        rolling_update: RollingUpdate | None = None,
        scaling: CopyScaling | None = None,
        log_encryption_key: kms.IKey | None = None,
        log_retention_days: int | None = None,
    ) -> None:
        super().__init__(scope, id)
        _validate_component(
            self,
            id,
            endpoint=endpoint,
            variant_name=variant_name,
            compute=compute,
            model=model,
            container=container,
            copy_count=copy_count,
            startup_timeout=container_startup_health_check_timeout,
            download_timeout=model_data_download_timeout,
            name=inference_component_name,
            rolling_update=rolling_update,
            scaling=scaling,
            log_retention_days=log_retention_days,
        )
        self.endpoint = endpoint
        self.variant_name = variant_name
        self._name = inference_component_name or _generated_name(self)
        self.log_group = self._log_group(endpoint, log_encryption_key, log_retention_days)

        self.resource = sagemaker.CfnInferenceComponent(
            self,
            "Resource",
            endpoint_name=endpoint.endpoint_name,
            variant_name=variant_name,
            inference_component_name=self._name,
            specification=sagemaker.CfnInferenceComponent.InferenceComponentSpecificationProperty(
                model_name=model.model_name if model is not None else None,
                container=(
                    self._render_container(container, endpoint) if container is not None else None
                ),
                compute_resource_requirements=_render_compute(compute),
                startup_parameters=_render_startup(
                    container_startup_health_check_timeout, model_data_download_timeout
                ),
            ),
            runtime_config=sagemaker.CfnInferenceComponent.InferenceComponentRuntimeConfigProperty(
                copy_count=copy_count
            ),
            deployment_config=_render_rolling_update(rolling_update) if rolling_update else None,
        )
        self.resource.node.add_dependency(self.log_group)
        self.scalable_target: appscaling.CfnScalableTarget | None = None
        self.scale_out_from_zero_alarm: cloudwatch.Alarm | None = None
        if scaling is not None:
            self._add_scaling(scaling)

    def _log_group(
        self, endpoint: ComponentEndpointBase, key: kms.IKey | None, days: int | None
    ) -> logs.LogGroup:
        """``/aws/sagemaker/InferenceComponents/<name>``: encrypted, expiring, and there before
        SageMaker writes to it."""
        if key is None:
            key = getattr(endpoint, "log_key", None)
        if key is None:
            created = kms.Key(
                self,
                "LogKey",
                description=f"Encrypts the logs of inference component {self.node.path}",
                enable_key_rotation=True,
                removal_policy=cdk.RemovalPolicy.RETAIN,
            )
            allow_cloudwatch_logs(created)
            key = created
        if days is None:
            days = getattr(endpoint, "log_retention_days", 365)
        return logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"{LOG_GROUP_PREFIX}{self._name}",
            encryption_key=key,
            retention=retention(days),
            removal_policy=getattr(endpoint, "log_removal_policy", cdk.RemovalPolicy.RETAIN),
        )

    # -- properties ----------------------------------------------------------------------

    @property
    def inference_component_name(self) -> str:
        """The component's name: what requests pass as ``InferenceComponentName``."""
        return self._name

    @property
    def inference_component_arn(self) -> str:
        return self.resource.attr_inference_component_arn

    # -- grants --------------------------------------------------------------------------

    @checked
    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to invoke this component (real time and streamed), and no other
        component of the endpoint."""
        return grant_invoke_components(
            grantee, [self.endpoint.endpoint_arn, self.inference_component_arn]
        )

    # -- metrics -------------------------------------------------------------------------

    @checked
    def metric(
        self,
        metric_name: str,
        *,
        namespace: str = INVOCATION_NAMESPACE,
        statistic: str = "Average",
        period: cdk.Duration | None = None,
    ) -> cloudwatch.Metric:
        """Any metric of this component (dimension ``InferenceComponentName``).
        Default: ``Average`` over 1 minute in ``AWS/SageMaker``."""
        return cloudwatch.Metric(
            namespace=namespace,
            metric_name=metric_name,
            dimensions_map={"InferenceComponentName": self._name},
            statistic=statistic,
            period=period or cdk.Duration.minutes(1),
        )

    @checked
    def metric_invocations(
        self, *, statistic: str = "Sum", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """Requests sent to the component. Default: ``Sum`` over 1 minute."""
        return self.metric("Invocations", statistic=statistic, period=period)

    @checked
    def metric_invocation_4xx_errors(
        self, *, statistic: str = "Sum", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """Requests answered 4XX. Default: ``Sum`` over 1 minute."""
        return self.metric("Invocation4XXErrors", statistic=statistic, period=period)

    @checked
    def metric_invocation_5xx_errors(
        self, *, statistic: str = "Sum", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """Requests answered 5XX. Default: ``Sum`` over 1 minute."""
        return self.metric("Invocation5XXErrors", statistic=statistic, period=period)

    @checked
    def metric_no_capacity_invocation_failures(
        self, *, statistic: str = "Sum", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """Requests that failed because no copy ran (after scaling to zero).
        Default: ``Sum`` over 1 minute."""
        return self.metric("NoCapacityInvocationFailures", statistic=statistic, period=period)

    @checked
    def metric_model_latency(
        self, *, statistic: str = "Average", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """Time the model took to respond, in microseconds. Default: ``Average`` over 1 min."""
        return self.metric("ModelLatency", statistic=statistic, period=period)

    @checked
    def metric_overhead_latency(
        self, *, statistic: str = "Average", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """SageMaker's own overhead, in microseconds. Default: ``Average`` over 1 minute."""
        return self.metric("OverheadLatency", statistic=statistic, period=period)

    @checked
    def metric_cpu_utilization(
        self, *, statistic: str = "Average", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """CPU use relative to the cores reserved (percent). Default: ``Average``, 1 minute."""
        return self.metric(
            "CPUUtilizationNormalized",
            namespace=COMPONENT_NAMESPACE,
            statistic=statistic,
            period=period,
        )

    @checked
    def metric_memory_utilization(
        self, *, statistic: str = "Average", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """Memory use relative to the memory reserved (percent). Default: ``Average``, 1 min."""
        return self.metric(
            "MemoryUtilizationNormalized",
            namespace=COMPONENT_NAMESPACE,
            statistic=statistic,
            period=period,
        )

    @checked
    def metric_gpu_utilization(
        self, *, statistic: str = "Average", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """GPU use relative to the GPUs reserved (percent). Default: ``Average``, 1 minute."""
        return self.metric(
            "GPUUtilizationNormalized",
            namespace=COMPONENT_NAMESPACE,
            statistic=statistic,
            period=period,
        )

    @checked
    def metric_gpu_memory_utilization(
        self, *, statistic: str = "Average", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """GPU memory use relative to the GPUs reserved (percent). Default: ``Average``, 1 min."""
        return self.metric(
            "GPUMemoryUtilizationNormalized",
            namespace=COMPONENT_NAMESPACE,
            statistic=statistic,
            period=period,
        )

    # -- wiring --------------------------------------------------------------------------

    def _render_container(
        self, container: ComponentContainer, endpoint: ComponentEndpointBase
    ) -> sagemaker.CfnInferenceComponent.InferenceComponentContainerSpecificationProperty:
        # An imported endpoint's role is not known: the grants become synth warnings that
        # name each statement the role needs ("Add statement to this resource's role").
        grantee = endpoint.execution_role_grantee or iam.UnknownPrincipal(resource=self)
        image_uri = container.image._bind(self, "Image", grantee)
        artifact_url = (
            container.artifacts._bind(self, "Artifacts", grantee).url
            if container.artifacts is not None
            else None
        )
        return sagemaker.CfnInferenceComponent.InferenceComponentContainerSpecificationProperty(
            image=image_uri,
            artifact_url=artifact_url,
            environment=dict(container.environment) or None,
        )

    def _add_scaling(self, scaling: CopyScaling) -> None:
        scope = Construct(self, "Scaling")
        target = scalable_target(
            scope,
            dimension="sagemaker:inference-component:DesiredCopyCount",
            resource_id=f"inference-component/{self._name}",
            min_capacity=scaling.min_copies,
            max_capacity=scaling.max_copies,
        )
        target.node.add_dependency(self.resource)
        target_tracking(
            scope,
            "InvocationsPerCopy",
            target=target,
            policy_name=f"{self._name}-invocations-per-copy",
            target_value=scaling.target_invocations_per_copy,
            predefined_metric="SageMakerInferenceComponentInvocationsPerCopy",
            scale_in_cooldown=scaling.scale_in_cooldown or cdk.Duration.minutes(5),
            scale_out_cooldown=scaling.scale_out_cooldown or cdk.Duration.minutes(1),
        )
        self.scalable_target = target
        if scaling.min_copies == 0:
            self._add_scale_out_from_zero(scope, target)

    def _add_scale_out_from_zero(
        self, scope: Construct, target: appscaling.CfnScalableTarget
    ) -> None:
        """At zero copies target tracking has no invocations per copy to act on: a step policy
        adds one copy when a request failed for want of one."""
        policy = appscaling.CfnScalingPolicy(
            scope,
            "ScaleOutFromZero",
            policy_name=f"{self._name}-scale-out-from-zero",
            policy_type="StepScaling",
            scaling_target_id=target.ref,
            step_scaling_policy_configuration=appscaling.CfnScalingPolicy.StepScalingPolicyConfigurationProperty(
                adjustment_type="ChangeInCapacity",
                metric_aggregation_type="Maximum",
                cooldown=60,
                step_adjustments=[
                    appscaling.CfnScalingPolicy.StepAdjustmentProperty(
                        metric_interval_lower_bound=0, scaling_adjustment=1
                    )
                ],
            ),
        )
        alarm = cloudwatch.Alarm(
            scope,
            "NoCapacity",
            alarm_description=(
                f"Requests to inference component {self._name} failed for want of a copy: "
                "add one (scale out from zero)"
            ),
            metric=self.metric_no_capacity_invocation_failures(statistic="Maximum"),
            threshold=1,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm_resource = alarm.node.default_child
        assert isinstance(alarm_resource, cloudwatch.CfnAlarm)
        alarm_resource.alarm_actions = [policy.attr_arn]
        self.scale_out_from_zero_alarm = alarm


# --------------------------------------------------------------------------- rendering


def _generated_name(component: Construct) -> str:
    """``<stack>-<path>-<hash>``, at most 63 characters, unique per construct path. CDK leaves
    the hash out for a construct whose path has one visible part (a stack named ``Default``):
    then the construct's address adds it."""
    name = cdk.Names.unique_resource_name(component, max_length=54, separator="-")
    if "-" not in name:
        name = f"{name}-{component.node.addr[:8]}"
    return name


def _seconds(duration: cdk.Duration | None) -> float | None:
    return duration.to_seconds() if duration is not None else None


def _render_compute(
    compute: ComputeRequirements,
) -> sagemaker.CfnInferenceComponent.InferenceComponentComputeResourceRequirementsProperty:
    return sagemaker.CfnInferenceComponent.InferenceComponentComputeResourceRequirementsProperty(
        min_memory_required_in_mb=compute.min_memory_required_in_mb,
        max_memory_required_in_mb=compute.max_memory_required_in_mb,
        number_of_cpu_cores_required=compute.number_of_cpu_cores_required,
        number_of_accelerator_devices_required=compute.number_of_accelerator_devices_required,
    )


def _render_startup(
    startup: cdk.Duration | None, download: cdk.Duration | None
) -> sagemaker.CfnInferenceComponent.InferenceComponentStartupParametersProperty | None:
    if startup is None and download is None:
        return None
    return sagemaker.CfnInferenceComponent.InferenceComponentStartupParametersProperty(
        container_startup_health_check_timeout_in_seconds=_seconds(startup),
        model_data_download_timeout_in_seconds=_seconds(download),
    )


def _render_capacity(
    size: CopyCapacity | None,
) -> sagemaker.CfnInferenceComponent.InferenceComponentCapacitySizeProperty | None:
    if size is None:
        return None
    return sagemaker.CfnInferenceComponent.InferenceComponentCapacitySizeProperty(
        type=size.type.value, value=size.value
    )


def _render_rolling_update(
    update: RollingUpdate,
) -> sagemaker.CfnInferenceComponent.InferenceComponentDeploymentConfigProperty:
    return sagemaker.CfnInferenceComponent.InferenceComponentDeploymentConfigProperty(
        rolling_update_policy=sagemaker.CfnInferenceComponent.InferenceComponentRollingUpdatePolicyProperty(
            maximum_batch_size=_render_capacity(update.maximum_batch_size),
            wait_interval_in_seconds=update.wait_interval.to_seconds(),
            maximum_execution_timeout_in_seconds=_seconds(update.maximum_execution_timeout),
            rollback_maximum_batch_size=_render_capacity(update.rollback_maximum_batch_size),
        ),
        auto_rollback_configuration=(
            sagemaker.CfnInferenceComponent.AutoRollbackConfigurationProperty(
                alarms=[
                    sagemaker.CfnInferenceComponent.AlarmProperty(alarm_name=a.alarm_name)
                    for a in update.rollback_alarms
                ]
            )
            if update.rollback_alarms
            else None
        ),
    )


# --------------------------------------------------------------------------- validation


def _range(
    problems: ValidationProblems,
    argument: str,
    value: int | float | None,
    prop: str,
    *,
    unit: str = "",
) -> None:
    aws_rules.check_range(problems, argument, value, INFERENCE_COMPONENT, prop, unit=unit)


def _duration(
    problems: ValidationProblems, argument: str, duration: cdk.Duration | None, prop: str
) -> None:
    _range(problems, argument, problems.whole_seconds(argument, duration), prop, unit="seconds")


def _validate_component(
    scope: Construct,
    id: str,
    *,
    endpoint: ComponentEndpointBase,
    variant_name: str,
    compute: ComputeRequirements,
    model: IModel | None,
    container: ComponentContainer | None,
    copy_count: int,
    startup_timeout: cdk.Duration | None,
    download_timeout: cdk.Duration | None,
    name: str | None,
    rolling_update: RollingUpdate | None,
    scaling: CopyScaling | None,
    log_retention_days: int | None,
) -> None:
    problems = ValidationProblems("InferenceComponent", id)
    if log_retention_days is not None:
        check_retention(problems, "log_retention_days", log_retention_days)
    problems.check_name("inference_component_name", name)
    problems.check_name("variant_name", variant_name)
    known = endpoint.variant_names
    if known is not None and not is_token(variant_name):
        problems.check(
            variant_name in known,
            "variant_name",
            variant_name,
            f"must be a variant of the endpoint ({', '.join(known)})",
            "name the variant whose instances run the copies",
        )
    variant = endpoint.variant(variant_name)

    if (model is None) == (container is None):
        problems.add(
            "model, container",
            "<both>" if model is not None else None,
            "a component runs either a SageMaker model (ModelName) or a container of its own "
            "(Container), exactly one",
            "pass model=... or container=ComponentContainer(...)",
        )
    if isinstance(model, Model) and (model.multi_model or model.container_count > 1):
        problems.add(
            "model",
            model.node.path,
            "an inference component hosts a model of one single-model container (not a "
            "multi-model container nor an inference pipeline)",
            "serve each model of the pipeline or archive as a component of its own",
        )
    if container is not None:
        _validate_container(problems, container)

    _validate_compute(problems, compute, variant)
    _range(problems, "copy_count", copy_count, "RuntimeConfig/CopyCount")
    _duration(
        problems,
        "container_startup_health_check_timeout",
        startup_timeout,
        _SPEC + "StartupParameters/ContainerStartupHealthCheckTimeoutInSeconds",
    )
    _duration(
        problems,
        "model_data_download_timeout",
        download_timeout,
        _SPEC + "StartupParameters/ModelDataDownloadTimeoutInSeconds",
    )
    if rolling_update is not None:
        _validate_rolling_update(problems, rolling_update, copy_count)
    if scaling is not None:
        _validate_scaling(problems, scaling, copy_count, variant, scope)
    problems.raise_if_any()


def _validate_container(problems: ValidationProblems, container: ComponentContainer) -> None:
    image = container.image
    image._validate(problems, "container.image")
    if not image.is_ecr:
        problems.add(
            "container.image",
            getattr(image, "image_uri", "<image>"),
            "an inference component's container image must be in Amazon ECR",
            "push the image to an ECR repository and use ContainerImage.from_ecr_repository "
            "(or from_registry with its ECR URI)",
        )
    artifacts = container.artifacts
    if artifacts is not None:
        artifacts._validate(problems, "container.artifacts")
        location = (
            artifacts.key
            if isinstance(artifacts, _BucketModelData)
            else artifacts.url
            if isinstance(artifacts, _UrlModelData)
            else None
        )
        if isinstance(artifacts, _AssetModelData):
            location = None  # checked by the asset itself: an existing .tar.gz
        if artifacts.is_prefix or (
            location is not None and not is_token(location) and not location.endswith(".tar.gz")
        ):
            problems.add(
                "container.artifacts",
                artifacts.description,
                "ArtifactUrl must name one gzip-compressed tar archive (.tar.gz), not a prefix",
                "pass the key or URL of a model.tar.gz",
            )
    environment = container.environment
    if is_token(dict(environment)):
        return
    if len(environment) > _MAX_ENVIRONMENT:
        problems.add(
            "container.environment",
            f"<{len(environment)} variables>",
            f"an inference component's container takes at most {_MAX_ENVIRONMENT} environment "
            "variables",
            "move configuration into the artifacts or an S3 object",
        )
    for key, value in environment.items():
        if not is_token(key) and not _ENV_KEY.match(key):
            problems.add(
                f"container.environment[{key!r}]",
                key,
                "keys must match [a-zA-Z_][a-zA-Z0-9_]{1,1024} (CloudFormation's pattern: two or "
                "more characters)",
                "rename the variable (letters, digits, underscores; not starting with a digit)",
            )
        if not is_token(value) and len(value) > 1024:
            problems.add(
                f"container.environment[{key!r}]",
                f"<{len(value)} characters>",
                "values must be at most 1024 characters",
                "shorten the value or load it from S3 at start-up",
            )


def _validate_compute(
    problems: ValidationProblems, compute: ComputeRequirements, variant: object
) -> None:
    prefix = _SPEC + "ComputeResourceRequirements/"
    low, high = compute.min_memory_required_in_mb, compute.max_memory_required_in_mb
    _range(problems, "compute.min_memory_required_in_mb", low, prefix + "MinMemoryRequiredInMb")
    _range(problems, "compute.max_memory_required_in_mb", high, prefix + "MaxMemoryRequiredInMb")
    if high is not None and not is_token([low, high]) and high < low:
        problems.add(
            "compute.max_memory_required_in_mb",
            high,
            f"must be at least min_memory_required_in_mb ({low})",
            "raise max_memory_required_in_mb or lower min_memory_required_in_mb",
        )
    _range(
        problems,
        "compute.number_of_cpu_cores_required",
        compute.number_of_cpu_cores_required,
        prefix + "NumberOfCpuCoresRequired",
        unit="cores",
    )
    devices = compute.number_of_accelerator_devices_required
    _range(
        problems,
        "compute.number_of_accelerator_devices_required",
        devices,
        prefix + "NumberOfAcceleratorDevicesRequired",
    )
    instance_type = getattr(variant, "instance_type", None)
    if devices is not None and instance_type is not None and not is_token(instance_type):
        problems.check(
            _is_accelerated(instance_type),
            "compute.number_of_accelerator_devices_required",
            devices,
            f"the variant's instance type {instance_type} has no accelerator (GPU, Inferentia "
            "or Trainium)",
            "remove number_of_accelerator_devices_required, or host the component on a "
            "variant of an accelerated type (ml.g*, ml.p*, ml.inf*, ml.trn*)",
        )


def _validate_rolling_update(
    problems: ValidationProblems, update: RollingUpdate, copy_count: int
) -> None:
    argument = "rolling_update.maximum_batch_size"
    size = update.maximum_batch_size
    if not is_token(size.value):
        if size.type is CopyCapacityType.CAPACITY_PERCENT:
            problems.check_range(argument, size.value, minimum=5, maximum=50, unit="%")
        else:
            problems.check_range(argument, size.value, minimum=1, unit="copies")
            if not is_token(copy_count) and size.value > max(1, copy_count // 2):
                problems.add(
                    f"{argument}, copy_count",
                    size.value,
                    f"a batch may replace at most half of the copies (copy_count is "
                    f"{copy_count}; one copy is always allowed)",
                    "use a smaller batch, or CopyCapacity.capacity_percent(5-50)",
                )
    rollback = update.rollback_maximum_batch_size
    if rollback is not None and not is_token(rollback.value):
        maximum = 100 if rollback.type is CopyCapacityType.CAPACITY_PERCENT else None
        problems.check_range(
            "rolling_update.rollback_maximum_batch_size",
            rollback.value,
            minimum=1,
            maximum=maximum,
        )
    _duration(
        problems,
        "rolling_update.wait_interval",
        update.wait_interval,
        _ROLLING + "WaitIntervalInSeconds",
    )
    _duration(
        problems,
        "rolling_update.maximum_execution_timeout",
        update.maximum_execution_timeout,
        _ROLLING + "MaximumExecutionTimeoutInSeconds",
    )
    if len(update.rollback_alarms) > 10:
        problems.add(
            "rolling_update.rollback_alarms",
            f"<{len(update.rollback_alarms)} alarms>",
            "SageMaker watches at most 10 alarms",
            "pass at most 10 alarms (a composite alarm can combine more)",
        )


def _validate_scaling(
    problems: ValidationProblems,
    scaling: CopyScaling,
    copy_count: int,
    variant: object,
    scope: Construct,
) -> None:
    low, high = scaling.min_copies, scaling.max_copies
    problems.check_range("scaling.min_copies", low, minimum=0, unit="copies")
    problems.check_range("scaling.max_copies", high, minimum=1, unit="copies")
    if not is_token([low, high, copy_count]) and not low <= copy_count <= high:
        problems.add(
            "scaling, copy_count",
            f"min={low}, copy_count={copy_count}, max={high}",
            "min_copies <= copy_count <= max_copies must hold",
            "adjust the capacities or copy_count",
        )
    if not is_token(scaling.target_invocations_per_copy):
        problems.check(
            scaling.target_invocations_per_copy > 0,
            "scaling.target_invocations_per_copy",
            scaling.target_invocations_per_copy,
            "must be above 0",
            "pass the invocations per copy per minute to hold",
        )
    for name, cooldown in (
        ("scale_in_cooldown", scaling.scale_in_cooldown),
        ("scale_out_cooldown", scaling.scale_out_cooldown),
    ):
        argument = f"scaling.{name}"
        seconds = problems.whole_seconds(argument, cooldown)
        problems.check_range(argument, seconds, minimum=0, maximum=86400, unit="seconds")
    managed = getattr(variant, "managed_instance_scaling", None)
    if (
        low == 0
        and variant is not None
        and (managed is None or not managed.enabled or managed.min_instance_count != 0)
    ):
        cdk.Annotations.of(scope).add_warning_v2(
            "sagemaker-constructs:component-scale-to-zero",
            "The component's copies can scale to zero, but the variant's instances stay: give "
            "the variant ManagedInstanceScaling(min_instance_count=0) so that the endpoint "
            "releases them too.",
        )
