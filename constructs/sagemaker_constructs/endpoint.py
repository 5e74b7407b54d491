"""``Endpoint``: hosting for one or more models (``EndpointConfig`` + ``Endpoint``).

.. code-block:: python

    endpoint = Endpoint(
        self, "Classifier",
        variants=[
            ProductionVariant(variant_name="blue", model=current, instance_type="ml.m5.large",
                              initial_instance_count=2, initial_variant_weight=9),
            ProductionVariant(variant_name="green", model=candidate, instance_type="ml.m5.large",
                              initial_instance_count=2, initial_variant_weight=1),
        ],
        deployment_guardrails=DeploymentGuardrails(
            traffic_routing=TrafficRouting.canary(CapacitySize.capacity_percent(10),
                                                  wait_interval=cdk.Duration.minutes(10)),
            rollback_alarms=[latency_alarm],
        ),
    )
    endpoint.traffic_share("green")  # 0.1
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from . import aws_rules as aws
from ._arns import sagemaker_arn
from ._endpoint_async import (
    AsyncInference,
    BacklogScaling,
    add_backlog_scaling,
    grant_execution,
    grantable_models,
    render_async,
    validate_async,
    validate_backlog_scaling,
)
from ._endpoint_async import (
    grant_invoke_async as _grant_invoke_async,
)
from ._endpoint_operations import (
    EndpointAlarms,
    EndpointOperations,
    VariantFacts,
    validate_alarms,
    variant_key,
)
from ._instance_types import (
    has_local_nvme_storage,
    is_burstable,
    is_inferentia1,
)
from ._scaling import VARIANT_INSTANCES, scalable_target, target_tracking, variant_resource_id
from ._types import checked, checked_value
from ._validation import ValidationProblems, is_token
from .compliance import acknowledge, acknowledge_wildcard_resource
from .log_groups import allow_cloudwatch_logs, check_retention, retention
from .model import IModel, InferenceExecutionMode, Model
from .roles import ManagedPolicyGrantee

__all__ = [
    "AsyncInference",
    "BacklogScaling",
    "CapacitySize",
    "CapacitySizeType",
    "DataCapture",
    "DeploymentGuardrails",
    "Endpoint",
    "EndpointAlarms",
    "EndpointBase",
    "ProductionVariant",
    "ServerlessVariant",
    "TrafficRouting",
    "TrafficRoutingType",
    "VariantAutoscaling",
    "VariantProperty",
    "grant_invoke_endpoint",
]

#: Invocation metrics (counts and latencies) are published here ...
INVOCATION_NAMESPACE = "AWS/SageMaker"
#: ... and instance utilisation metrics here.
INSTANCE_NAMESPACE = "/aws/sagemaker/Endpoints"
#: SageMaker writes an endpoint's logs to the log group of this prefix and the endpoint's name.
LOG_GROUP_PREFIX = "/aws/sagemaker/Endpoints/"

_INVOKE_ACTIONS = [
    "sagemaker:InvokeEndpoint",
    "sagemaker:InvokeEndpointAsync",
    "sagemaker:InvokeEndpointWithResponseStream",
]


def grant_invoke_endpoint(grantee: iam.IGrantable, endpoint_arn: str) -> iam.Grant:
    """Allow ``grantee`` to invoke the endpoint ``endpoint_arn`` (real-time, async and
    streaming). The one place that knows which actions invoking an endpoint takes; prefer
    ``endpoint.grant_invoke(grantee)`` where the endpoint is a construct."""
    return iam.Grant.add_to_principal(
        grantee=grantee, actions=_INVOKE_ACTIONS, resource_arns=[endpoint_arn]
    )


_KMS_RULES = (
    "HIPAA.Security::HIPAA.Security-SageMakerEndpointConfigurationKMSKeyConfigured",
    "NIST.800.53.R5::NIST.800.53.R5-SageMakerEndpointConfigurationKMSKeyConfigured",
    "PCI.DSS.321::PCI.DSS.321-SageMakerEndpointConfigurationKMSKeyConfigured",
)


# --------------------------------------------------------------------------- props


@checked_value
@dataclass(frozen=True, kw_only=True)
class VariantAutoscaling:
    """Target tracking on ``SageMakerVariantInvocationsPerInstance`` for one variant.

    :param max_capacity: at least ``initial_instance_count``.
    :param target_invocations_per_instance: invocations per instance per minute to hold.
    :param min_capacity: at least 1, at most ``initial_instance_count``. Default: 1.
    :param scale_in_cooldown: Default: 5 minutes.
    :param scale_out_cooldown: Default: 1 minute.
    :param disable_scale_in: Default: False.
    """

    max_capacity: int
    target_invocations_per_instance: float
    min_capacity: int = 1
    scale_in_cooldown: cdk.Duration | None = None
    scale_out_cooldown: cdk.Duration | None = None
    disable_scale_in: bool = False


@checked_value
@dataclass(frozen=True, kw_only=True)
class ProductionVariant:
    """A variant on dedicated instances.

    :param variant_name: unique in the endpoint; ``[a-zA-Z0-9](-*[a-zA-Z0-9])*``, <= 63 chars.
    :param model: a :class:`Model` or ``Model.from_model_name(...)``.
    :param instance_type: for example ``ml.m5.large``.
    :param initial_instance_count: at least 1. Default: 1.
    :param initial_variant_weight: relative weight (>= 0); the variant's traffic share is its
        weight divided by the sum of all weights. Default: 1.
    :param volume_size_in_gb: 1-512; not for local-NVMe instance types. Default: SageMaker's.
    :param container_startup_health_check_timeout: 60-3600 s. Default: SageMaker's.
    :param model_data_download_timeout: 60-3600 s. Default: SageMaker's.
    :param autoscaling: Default: no autoscaling.
    """

    variant_name: str
    model: IModel
    instance_type: str
    initial_instance_count: int = 1
    initial_variant_weight: float = 1.0
    volume_size_in_gb: int | None = None
    container_startup_health_check_timeout: cdk.Duration | None = None
    model_data_download_timeout: cdk.Duration | None = None
    autoscaling: VariantAutoscaling | None = None


@checked_value
@dataclass(frozen=True, kw_only=True)
class ServerlessVariant:
    """A serverless variant (it must be the endpoint's only variant).

    :param memory_size_in_mb: 1024-6144 in steps of 1024. Default: 2048.
    :param max_concurrency: 1-200. Default: 10.
    :param provisioned_concurrency: 1 to ``max_concurrency``. Default: none.
    :param initial_variant_weight: Default: 1.
    """

    variant_name: str
    model: IModel
    memory_size_in_mb: int = 2048
    max_concurrency: int = 10
    provisioned_concurrency: int | None = None
    initial_variant_weight: float = 1.0


Variant = ProductionVariant | ServerlessVariant


@checked_value
@dataclass(frozen=True, kw_only=True)
class DataCapture:
    """Capture requests and responses to S3 for model monitoring.

    The models' roles (when this library created them, or you passed a mutable role) are
    granted ``s3:PutObject`` under ``prefix`` and use of the KMS key.

    :param destination_bucket: where captured data is written.
    :param prefix: key prefix. Default: ``data-capture``.
    :param sampling_percentage: 0-100. Default: 100.
    :param capture_input: Default: True.
    :param capture_output: Default: True.
    :param kms_key: encrypts captured objects. Default: the bucket's default encryption.
    :param csv_content_types: 1-10 request content types SageMaker captures as CSV
        (``CaptureContentTypeHeader``), such as ``text/csv``; callers must send one of them as
        the request's content type. Default: SageMaker's (``text/csv``).
    :param json_content_types: 1-10 content types captured as JSON, such as
        ``application/json`` or ``application/jsonlines``. Default: SageMaker's
        (``application/json``).
    """

    destination_bucket: s3.IBucket
    prefix: str = "data-capture"
    sampling_percentage: int = 100
    capture_input: bool = True
    capture_output: bool = True
    kms_key: kms.IKey | None = None
    csv_content_types: Sequence[str] = ()
    json_content_types: Sequence[str] = ()


class CapacitySizeType(enum.Enum):
    INSTANCE_COUNT = "INSTANCE_COUNT"
    CAPACITY_PERCENT = "CAPACITY_PERCENT"


@checked_value
@dataclass(frozen=True)
class CapacitySize:
    """A canary size or linear step: a number of instances or a percentage of capacity."""

    type: CapacitySizeType
    value: int

    @classmethod
    @checked
    def instance_count(cls, count: int) -> CapacitySize:
        return cls(CapacitySizeType.INSTANCE_COUNT, count)

    @classmethod
    @checked
    def capacity_percent(cls, percent: int) -> CapacitySize:
        return cls(CapacitySizeType.CAPACITY_PERCENT, percent)


class TrafficRoutingType(enum.Enum):
    ALL_AT_ONCE = "ALL_AT_ONCE"
    CANARY = "CANARY"
    LINEAR = "LINEAR"


@checked_value
@dataclass(frozen=True, kw_only=True)
class TrafficRouting:
    """How a blue/green deployment shifts traffic to the new fleet.

    ``CANARY`` needs ``canary_size`` (<= 50 % of each variant's instances) and
    ``wait_interval``; ``LINEAR`` needs ``linear_step_size`` (10-50 %) and ``wait_interval``;
    ``ALL_AT_ONCE`` takes neither size. ``wait_interval``: 0-3600 s (Default for
    ``ALL_AT_ONCE``: 0).
    """

    type: TrafficRoutingType
    canary_size: CapacitySize | None = None
    linear_step_size: CapacitySize | None = None
    wait_interval: cdk.Duration | None = None

    @classmethod
    @checked
    def all_at_once(cls, wait_interval: cdk.Duration | None = None) -> TrafficRouting:
        return cls(type=TrafficRoutingType.ALL_AT_ONCE, wait_interval=wait_interval)

    @classmethod
    @checked
    def canary(cls, size: CapacitySize, *, wait_interval: cdk.Duration) -> TrafficRouting:
        return cls(type=TrafficRoutingType.CANARY, canary_size=size, wait_interval=wait_interval)

    @classmethod
    @checked
    def linear(cls, step_size: CapacitySize, *, wait_interval: cdk.Duration) -> TrafficRouting:
        return cls(
            type=TrafficRoutingType.LINEAR, linear_step_size=step_size, wait_interval=wait_interval
        )


@checked_value
@dataclass(frozen=True, kw_only=True)
class DeploymentGuardrails:
    """SageMaker's blue/green deployment with traffic shifting and alarm rollback.

    :param traffic_routing: ALL_AT_ONCE, CANARY or LINEAR.
    :param termination_wait: keep the old fleet this long after the shift (0-3600 s).
        Default: SageMaker's (0).
    :param maximum_execution_timeout: 600-28800 s. Default: SageMaker's.
    :param rollback_alarms: 0-10 alarms; any in ALARM rolls back. Default: none.
    """

    traffic_routing: TrafficRouting
    termination_wait: cdk.Duration | None = None
    maximum_execution_timeout: cdk.Duration | None = None
    rollback_alarms: Sequence[cloudwatch.IAlarm] = ()


class VariantProperty(enum.Enum):
    """Variant properties an update may take from the template despite retention."""

    DESIRED_INSTANCE_COUNT = "DesiredInstanceCount"
    DESIRED_WEIGHT = "DesiredWeight"


# --------------------------------------------------------------------------- shared base


class EndpointBase(Construct):
    """What every endpoint offers, created here or imported: grants and metrics.

    Metrics have dimensions ``EndpointName`` and ``VariantName``. Counts (``Invocations``,
    ``InvocationsPerInstance``, ``Invocation4XXErrors``, ``Invocation5XXErrors``) default to
    ``Sum`` over 1 minute; latencies (``ModelLatency``, ``OverheadLatency``, microseconds) and
    utilisation (``CPUUtilization``, ``MemoryUtilization``, ``DiskUtilization``,
    ``GPUUtilization``, ``GPUMemoryUtilization``, percent, namespace
    ``/aws/sagemaker/Endpoints``) default to ``Average`` over 1 minute. An asynchronous
    endpoint's queue (``ApproximateBacklogSize``, ``ApproximateBacklogSizePerInstance``,
    ``HasBacklogWithoutCapacity``: ``Average``; ``ApproximateAgeOfOldestRequest``:
    ``Maximum``; 1 minute) has the dimension ``EndpointName`` only.
    """

    @property
    def endpoint_name(self) -> str:
        raise NotImplementedError

    @property
    def endpoint_arn(self) -> str:
        raise NotImplementedError

    def _check_variant(self, variant_name: str) -> None:
        """Raise when ``variant_name`` is not one of this endpoint's (when known)."""

    @checked
    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to invoke this endpoint (real-time, async and streaming)."""
        return grant_invoke_endpoint(grantee, self.endpoint_arn)

    @checked
    def metric(
        self,
        metric_name: str,
        variant_name: str,
        *,
        namespace: str = INVOCATION_NAMESPACE,
        statistic: str = "Average",
        period: cdk.Duration | None = None,
    ) -> cloudwatch.Metric:
        """Any metric of one variant. Default: ``Average`` over 1 minute."""
        self._check_variant(variant_name)
        return cloudwatch.Metric(
            namespace=namespace,
            metric_name=metric_name,
            dimensions_map={"EndpointName": self.endpoint_name, "VariantName": variant_name},
            statistic=statistic,
            period=period or cdk.Duration.minutes(1),
        )

    @checked
    def metric_invocations(
        self, variant_name: str, *, statistic: str = "Sum", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """Requests sent to the variant. Default: ``Sum`` over 1 minute."""
        return self.metric("Invocations", variant_name, statistic=statistic, period=period)

    @checked
    def metric_invocation_4xx_errors(
        self, variant_name: str, *, statistic: str = "Sum", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """Requests answered 4XX. Default: ``Sum`` over 1 minute."""
        return self.metric("Invocation4XXErrors", variant_name, statistic=statistic, period=period)

    @checked
    def metric_invocation_5xx_errors(
        self, variant_name: str, *, statistic: str = "Sum", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """Requests answered 5XX. Default: ``Sum`` over 1 minute."""
        return self.metric("Invocation5XXErrors", variant_name, statistic=statistic, period=period)

    @checked
    def metric_model_latency(
        self, variant_name: str, *, statistic: str = "Average", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """Time the model took to respond, in microseconds. Default: ``Average`` over 1 min."""
        return self.metric("ModelLatency", variant_name, statistic=statistic, period=period)

    @checked
    def metric_overhead_latency(
        self, variant_name: str, *, statistic: str = "Average", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """SageMaker's own overhead, in microseconds. Default: ``Average`` over 1 minute."""
        return self.metric("OverheadLatency", variant_name, statistic=statistic, period=period)

    @checked
    def metric_cpu_utilization(
        self, variant_name: str, *, statistic: str = "Average", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """CPU utilisation (percent, summed over cores). Default: ``Average`` over 1 minute."""
        return self.metric(
            "CPUUtilization",
            variant_name,
            namespace=INSTANCE_NAMESPACE,
            statistic=statistic,
            period=period,
        )

    @checked
    def metric_memory_utilization(
        self, variant_name: str, *, statistic: str = "Average", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """Memory utilisation (percent). Default: ``Average`` over 1 minute."""
        return self.metric(
            "MemoryUtilization",
            variant_name,
            namespace=INSTANCE_NAMESPACE,
            statistic=statistic,
            period=period,
        )

    @checked
    def metric_gpu_utilization(
        self, variant_name: str, *, statistic: str = "Average", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """GPU utilisation (percent, summed over GPUs). Default: ``Average`` over 1 minute."""
        return self.metric(
            "GPUUtilization",
            variant_name,
            namespace=INSTANCE_NAMESPACE,
            statistic=statistic,
            period=period,
        )

    @checked
    def metric_gpu_memory_utilization(
        self, variant_name: str, *, statistic: str = "Average", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """GPU memory in use by the containers (percent of one GPU's memory, summed over the
        instance's GPUs: 0-400 on four GPUs). Default: ``Average`` over 1 minute."""
        return self.metric(
            "GPUMemoryUtilization",
            variant_name,
            namespace=INSTANCE_NAMESPACE,
            statistic=statistic,
            period=period,
        )

    @checked
    def metric_disk_utilization(
        self, variant_name: str, *, statistic: str = "Average", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """Disk space in use by the containers (percent). Default: ``Average`` over 1 minute."""
        return self.metric(
            "DiskUtilization",
            variant_name,
            namespace=INSTANCE_NAMESPACE,
            statistic=statistic,
            period=period,
        )

    @checked
    def metric_invocations_per_instance(
        self, variant_name: str, *, statistic: str = "Sum", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """Requests per instance of the variant (what target tracking on
        ``SageMakerVariantInvocationsPerInstance`` holds; not published by asynchronous
        endpoints). Default: ``Sum`` over 1 minute."""
        return self.metric(
            "InvocationsPerInstance", variant_name, statistic=statistic, period=period
        )

    @checked
    def metric_invocation_5xx_error_rate(
        self, variant_name: str, *, period: cdk.Duration | None = None
    ) -> cloudwatch.MathExpression:
        """The share of requests answered 5XX (0-1): ``Invocation5XXErrors / Invocations``,
        both ``Sum`` over ``period`` (default 1 minute), 0 when there were no requests."""
        # Ids unique per variant, so that several variants' rates share a graph or an alarm.
        suffix = re.sub(r"[^a-zA-Z0-9]", "_", variant_name)
        errors, invocations = f"errors_{suffix}", f"invocations_{suffix}"
        return cloudwatch.MathExpression(
            expression=f"IF({invocations} > 0, {errors} / {invocations}, 0)",
            using_metrics={
                errors: self.metric_invocation_5xx_errors(variant_name, period=period),
                invocations: self.metric_invocations(variant_name, period=period),
            },
            label=f"{variant_name} 5XX error rate",
            period=period or cdk.Duration.minutes(1),
        )

    # -- asynchronous endpoints: the queue belongs to the endpoint, not to a variant -------

    @checked
    def endpoint_metric(
        self,
        metric_name: str,
        *,
        statistic: str = "Average",
        period: cdk.Duration | None = None,
    ) -> cloudwatch.Metric:
        """A metric of the whole endpoint (dimension ``EndpointName`` only, namespace
        ``AWS/SageMaker``), as SageMaker publishes an asynchronous endpoint's queue.
        Default: ``Average`` over 1 minute."""
        return cloudwatch.Metric(
            namespace=INVOCATION_NAMESPACE,
            metric_name=metric_name,
            dimensions_map={"EndpointName": self.endpoint_name},
            statistic=statistic,
            period=period or cdk.Duration.minutes(1),
        )

    @checked
    def metric_approximate_backlog_size(
        self, *, statistic: str = "Average", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """Requests queued or in progress on an asynchronous endpoint. Default: ``Average``
        over 1 minute."""
        return self.endpoint_metric("ApproximateBacklogSize", statistic=statistic, period=period)

    @checked
    def metric_approximate_backlog_size_per_instance(
        self, *, statistic: str = "Average", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """The backlog divided by the instances behind an asynchronous endpoint (what
        :meth:`Endpoint.scale_async_on_backlog` tracks). Default: ``Average`` over 1 minute."""
        return self.endpoint_metric(
            "ApproximateBacklogSizePerInstance", statistic=statistic, period=period
        )

    @checked
    def metric_has_backlog_without_capacity(
        self, *, statistic: str = "Average", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """1 while an asynchronous endpoint has queued requests and no instance, else 0 (what
        wakes an endpoint scaled to zero). Default: ``Average`` over 1 minute."""
        return self.endpoint_metric("HasBacklogWithoutCapacity", statistic=statistic, period=period)

    @checked
    def metric_approximate_age_of_oldest_request(
        self, *, statistic: str = "Maximum", period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """Age of the oldest queued request of an asynchronous endpoint, in seconds.
        Default: ``Maximum`` over 1 minute."""
        return self.endpoint_metric(
            "ApproximateAgeOfOldestRequest", statistic=statistic, period=period
        )


class _ImportedEndpoint(EndpointBase):
    def __init__(self, scope: Construct, id: str, endpoint_name: str) -> None:
        super().__init__(scope, id)
        self._endpoint_name = endpoint_name
        self._endpoint_arn = sagemaker_arn(self, "endpoint", endpoint_name)

    @property
    def endpoint_name(self) -> str:
        return self._endpoint_name

    @property
    def endpoint_arn(self) -> str:
        return self._endpoint_arn


# --------------------------------------------------------------------------- Endpoint


class Endpoint(EndpointBase):
    """A SageMaker endpoint: an ``EndpointConfig`` of 1-10 variants and the ``Endpoint``.

    **Traffic share.** SageMaker sends each variant ``weight / sum(weights)`` of the
    requests; :meth:`traffic_share` computes it from the initial weights.

    **Weights survive stack updates.** A canary rollout changes weights and instance counts
    with ``UpdateEndpointWeightsAndCapacities``. So that an unrelated stack update does not
    reset them to the template's initial values, the endpoint is deployed with
    ``RetainAllVariantProperties: true`` (``retain_variant_properties``); name the properties
    an update should take from the template anyway in ``update_variant_properties_from_template``
    (``ExcludeRetainedVariantProperties``).

    **Storage encryption.** Instance storage volumes are encrypted with ``kms_key`` or, when
    absent, with a new key (rotation on). Instance types with local NVMe storage
    (:data:`sagemaker_constructs._instance_types.LOCAL_NVME_FAMILIES`, e.g. ``ml.g5``,
    ``ml.p4d``, ``ml.m5d``) are encrypted by the instance's hardware and SageMaker rejects a
    ``KmsKeyId`` for them: when any variant uses one, no key is set (the compliance finding is
    acknowledged on the endpoint configuration) and passing ``kms_key`` is an error.

    **Asynchronous endpoints.** With ``async_inference`` the endpoint queues requests that
    callers put in S3 (``InvokeEndpointAsync``) and writes the responses to S3; the models' roles
    may read the requests and write the responses (:class:`AsyncInference`).
    :meth:`grant_invoke_async` lets a caller upload, invoke and read the results;
    :meth:`scale_async_on_backlog` scales the variant on its queue, down to zero instances and
    back up when a request arrives.

    **Shadow variants.** ``shadow_variants`` host a candidate model beside the production
    variant: SageMaker copies a share of the requests the production variant receives to the
    shadow variant and discards its responses, so callers only ever see the production
    variant's answers (SageMaker Developer Guide, "Create a shadow test"). SageMaker accepts one
    shadow variant beside exactly one production variant (CreateEndpointConfig API reference,
    ``ShadowProductionVariants``), only on instances (no serverless variant, no
    ``async_inference``) and not with a multi-container model invoked ``Direct`` ("Create a
    shadow test" lists serverless inference, asynchronous inference, Marketplace containers and
    multi-container endpoints as incompatible). Data capture records both variants' requests
    and responses (same page). ``deployment_guardrails`` are not rejected: SageMaker's
    guardrail "Exclusions" do not name shadow variants (their Inf1 rule counts the shadow's
    instances too). A shadow variant is a :class:`ProductionVariant`: its
    ``initial_variant_weight`` is written to ``ShadowProductionVariants`` as given. The
    documentation read for this library does not say how SageMaker turns that weight into the
    share of requests it copies (its example gives both variants weight 1; a shadow test set up
    in the console or with ``CreateInferenceExperiment`` takes a sampling percentage instead),
    so no percentage is computed from it here. Its ``autoscaling`` is wired as a production
    variant's (SageMaker's shadow-test "Best practices" recommend autoscaling the shadow
    variant; that its scalable target's resource id is ``endpoint/<name>/variant/<shadow
    name>``, the form Application Auto Scaling documents for variants, is inferred). Its
    model's role gets the grants a production variant's gets (data capture).
    :attr:`shadow_variant_names` lists the shadow variants, and every ``metric_*`` method takes
    a shadow variant's name: SageMaker publishes per-variant metrics with the dimensions
    ``EndpointName`` and ``VariantName`` (that a shadow variant's ``VariantName`` is its own
    name is inferred from the shadow-test dashboard comparing the two variants' metrics, not
    stated by the metrics reference). :attr:`variant_names` and :meth:`traffic_share` cover the
    production variants only: a shadow variant answers no request, and a rollout cannot shift
    weight to it.

    **Operations.** Unless ``alarms=False``, each production variant gets an alarm on its 5XX
    error rate and on its model latency, a production variant on GPU instances one on GPU
    memory, and an asynchronous endpoint one on the age of its oldest queued request
    (``alarms``, by construct id; the thresholds are :class:`EndpointAlarms`' and an optional
    SNS topic is notified). A shadow variant gets no alarm: it serves no caller, so its errors
    or latency are a finding of the test, not something to page anyone about; build one from
    its ``metric_*`` methods where wanted. Unless ``dashboard=False``, a CloudWatch dashboard
    shows the alarms with the requests, latencies, utilisation and (asynchronous) backlog of
    every variant, a shadow variant's graphs labelled ``<name> (shadow)`` beside the production
    variant's.

    **Names.** The endpoint is named only when ``endpoint_name`` is given; the endpoint
    configuration is always named by CloudFormation, so that a changed configuration is a new
    one and the endpoint moves to it (with ``deployment_guardrails`` as configured).

    **Logs.** SageMaker writes the endpoint's logs to ``/aws/sagemaker/Endpoints/<endpoint
    name>`` and, unless that log group exists, creates it on first use: unencrypted and kept
    forever. With ``endpoint_name`` (a literal or a token) the construct creates that group
    (``log_group``), encrypted with ``log_encryption_key`` and kept ``log_retention_days``,
    and the endpoint depends on it, so it exists before SageMaker writes. Without
    ``endpoint_name`` CloudFormation names the endpoint only when it creates it, too late to
    create its log group first: none is created, and a warning says so. (The library does not
    generate a name: naming an endpoint that CloudFormation named replaces it, and its callers
    would have to move to the new name.)

    :param variants: 1 to 10 :class:`ProductionVariant`, or one :class:`ServerlessVariant`.
    :param shadow_variants: at most one :class:`ProductionVariant` that receives copies of the
        production variant's requests (see **Shadow variants**); ``variants`` must then hold
        exactly one :class:`ProductionVariant`. Default: none.
    :param endpoint_name: Default: generated by CloudFormation (and no log group is created,
        see **Logs**). A changed name replaces the endpoint.
    :param kms_key: storage-volume key. Default: a new key (none for local-NVMe types).
    :param log_encryption_key: encrypts the endpoint's log group. Its key policy must let
        CloudWatch Logs use it (:func:`sagemaker_constructs.log_groups.allow_cloudwatch_logs`
        adds that to a key of your app; an imported key must allow it already). Default: the
        storage-volume key the endpoint creates (its policy then allows CloudWatch Logs of this
        account and region), or a new key with rotation when ``kms_key`` is given or no storage
        key applies (local NVMe). Only with ``endpoint_name``.
    :param log_retention_days: how long the endpoint's log group keeps logs, a CloudWatch Logs
        retention value (1, 3, 5, 7, 14, 30, ... 3653). Default: 365.
    :param removal_policy: what happens to the log group and the keys the endpoint creates when
        it is removed. Default: ``RETAIN``.
    :param data_capture: Default: no capture.
    :param deployment_guardrails: Default: SageMaker's default blue/green all-at-once.
    :param retain_variant_properties: Default: True.
    :param update_variant_properties_from_template: Default: none.
    :param async_inference: serve asynchronous requests through S3 (one
        :class:`ProductionVariant`; see **Asynchronous endpoints**). Default: real-time.
    :param alarms: the alarms to create (see **Operations**): an :class:`EndpointAlarms` with
        thresholds, True for its defaults, False for none. Default: True.
    :param dashboard: create a CloudWatch dashboard of the endpoint's metrics and alarms.
        Default: True.
    """

    @checked
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        variants: Sequence[Variant],
        shadow_variants: Sequence[ProductionVariant] = (),
        endpoint_name: str | None = None,
        kms_key: kms.IKey | None = None,
        data_capture: DataCapture | None = None,
        deployment_guardrails: DeploymentGuardrails | None = None,
        retain_variant_properties: bool = True,
        update_variant_properties_from_template: Sequence[VariantProperty] = (),
        log_encryption_key: kms.IKey | None = None,
        log_retention_days: int = 365,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        async_inference: AsyncInference | None = None,
        alarms: EndpointAlarms | bool = True,
        dashboard: bool = True,
    ) -> None:
        super().__init__(scope, id)
        variants = list(variants)
        shadows = list(shadow_variants)
        alarm_settings = (
            alarms if isinstance(alarms, EndpointAlarms) else EndpointAlarms() if alarms else None
        )
        _validate_endpoint(
            id,
            variants=variants,
            shadow_variants=shadows,
            endpoint_name=endpoint_name,
            kms_key=kms_key,
            log_encryption_key=log_encryption_key,
            log_retention_days=log_retention_days,
            data_capture=data_capture,
            guardrails=deployment_guardrails,
            retain_variant_properties=retain_variant_properties,
            update_from_template=update_variant_properties_from_template,
            async_inference=async_inference,
            alarms=alarm_settings,
        )
        self._variants = variants
        self._shadow_variants = shadows
        self.async_inference = async_inference
        #: The production variants' names (the variants that answer requests).
        self.variant_names = [v.variant_name for v in variants]
        #: The shadow variants' names (empty without ``shadow_variants``).
        self.shadow_variant_names = [v.variant_name for v in shadows]

        local_storage = any(
            isinstance(v, ProductionVariant) and has_local_nvme_storage(v.instance_type)
            for v in [*variants, *shadows]
        )
        self._storage_key_and_logs(
            local_storage=local_storage,
            endpoint_name=endpoint_name,
            kms_key=kms_key,
            log_encryption_key=log_encryption_key,
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
        )
        self.endpoint_config = self._config(
            variants,
            shadows,
            local_storage=local_storage,
            data_capture=data_capture,
            async_inference=async_inference,
        )
        self.resource = self._endpoint(
            endpoint_name,
            deployment_guardrails=deployment_guardrails,
            retain_variant_properties=retain_variant_properties,
            update_from_template=update_variant_properties_from_template,
        )
        self._endpoint_name = self.resource.attr_endpoint_name
        self._endpoint_arn = self.resource.ref

        self.scalable_targets: dict[str, appscaling.CfnScalableTarget] = {}
        for variant in [*variants, *shadows]:
            if isinstance(variant, ProductionVariant) and variant.autoscaling is not None:
                self._add_autoscaling(variant, variant.autoscaling)

        self.operations = EndpointOperations(
            self,
            "Operations",
            endpoint=self,
            variants=[
                VariantFacts(
                    v.variant_name,
                    v.instance_type if isinstance(v, ProductionVariant) else None,
                )
                for v in variants
            ]
            + [VariantFacts(v.variant_name, v.instance_type, shadow=True) for v in shadows],
            asynchronous=async_inference is not None,
            alarms=alarm_settings,
            dashboard=dashboard,
        )

    # -- parts ---------------------------------------------------------------------------

    def _storage_key_and_logs(
        self,
        *,
        local_storage: bool,
        endpoint_name: str | None,
        kms_key: kms.IKey | None,
        log_encryption_key: kms.IKey | None,
        log_retention_days: int,
        removal_policy: cdk.RemovalPolicy,
    ) -> None:
        """``kms_key`` (the storage key: given, created, or none for local NVMe storage) and
        ``log_group`` (with ``endpoint_name``; else a warning)."""
        self.kms_key: kms.IKey | None = None
        created_key: kms.Key | None = None
        if not local_storage and kms_key is None:
            created_key = kms.Key(
                self,
                "Key",
                description=(
                    f"Encrypts the storage volumes and logs of SageMaker endpoint {self.node.path}"
                    if endpoint_name is not None and log_encryption_key is None
                    else f"Encrypts the storage volumes of SageMaker endpoint {self.node.path}"
                ),
                enable_key_rotation=True,
                removal_policy=removal_policy,
            )
        if not local_storage:
            self.kms_key = kms_key or created_key
        self.log_group: logs.LogGroup | None = None
        if endpoint_name is not None:
            self.log_group = self._log_group(
                endpoint_name,
                log_encryption_key or self._log_key(created_key, removal_policy),
                log_retention_days,
                removal_policy,
            )
        else:
            cdk.Annotations.of(self).add_warning_v2(
                "sagemaker-constructs:endpoint-log-group",
                "Without endpoint_name CloudFormation names the endpoint when it creates it, so "
                "its log group /aws/sagemaker/Endpoints/<name> cannot be created first: SageMaker "
                "creates it on first use, unencrypted and never expiring. Pass endpoint_name to "
                "have it created encrypted, with a retention.",
            )

    def _config(
        self,
        variants: list[Variant],
        shadows: list[ProductionVariant],
        *,
        local_storage: bool,
        data_capture: DataCapture | None,
        async_inference: AsyncInference | None,
    ) -> sagemaker.CfnEndpointConfig:
        """``Config``: the variants, the storage key, data capture and asynchronous inference,
        after the models' roles may do what these need."""
        grants = self._grant_data_capture(data_capture) if data_capture else []
        if async_inference is not None:
            grants += self._grant_async_execution(async_inference)

        config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            production_variants=[_render_variant(v) for v in variants],
            shadow_production_variants=[_render_variant(v) for v in shadows] or None,
            kms_key_id=self.kms_key.key_arn if self.kms_key is not None else None,
            data_capture_config=_render_data_capture(data_capture) if data_capture else None,
            async_inference_config=render_async(async_inference) if async_inference else None,
        )
        for grant in grants:
            grant.apply_before(config)
        if local_storage:
            for rule in _KMS_RULES:
                acknowledge(
                    config,
                    rule,
                    "A variant runs on an instance type with local NVMe storage, which the "
                    "instance encrypts in hardware; SageMaker rejects a KmsKeyId for it.",
                )
        return config

    def _endpoint(
        self,
        endpoint_name: str | None,
        *,
        deployment_guardrails: DeploymentGuardrails | None,
        retain_variant_properties: bool,
        update_from_template: Sequence[VariantProperty],
    ) -> sagemaker.CfnEndpoint:
        """``Resource``: the endpoint on ``Config``, after its log group exists."""
        endpoint = sagemaker.CfnEndpoint(
            self,
            "Resource",
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
            endpoint_name=endpoint_name,
            deployment_config=(
                _render_guardrails(deployment_guardrails) if deployment_guardrails else None
            ),
            retain_all_variant_properties=retain_variant_properties,
            exclude_retained_variant_properties=[
                sagemaker.CfnEndpoint.VariantPropertyProperty(variant_property_type=p.value)
                for p in update_from_template
            ]
            or None,
        )
        if self.log_group is not None:
            # SageMaker creates the group on first use unless it exists: create it first.
            endpoint.node.add_dependency(self.log_group)
        return endpoint

    @property
    def alarms(self) -> dict[str, cloudwatch.Alarm]:
        """The alarms the endpoint created, by construct id (``<variant>ErrorRate``,
        ``<variant>ModelLatency``, ``<variant>GpuMemory``, ``BacklogAge``; a variant named by a
        token is ``Variant<index>``). A shadow variant has none (see **Operations**)."""
        return self.operations.alarms

    @property
    def dashboard(self) -> cloudwatch.Dashboard | None:
        """The endpoint's dashboard (``None`` with ``dashboard=False``)."""
        return self.operations.dashboard

    # -- importer ------------------------------------------------------------------------

    @staticmethod
    @checked
    def from_endpoint_name(scope: Construct, id: str, endpoint_name: str) -> EndpointBase:
        """An endpoint that exists outside this app, by name."""
        problems = ValidationProblems("Endpoint", id)
        problems.check_name("endpoint_name", endpoint_name)
        problems.raise_if_any()
        return _ImportedEndpoint(scope, id, endpoint_name)

    # -- properties ----------------------------------------------------------------------

    @property
    def endpoint_name(self) -> str:
        return self._endpoint_name

    @property
    def endpoint_arn(self) -> str:
        return self._endpoint_arn

    @property
    def endpoint_config_name(self) -> str:
        return self.endpoint_config.attr_endpoint_config_name

    @checked
    def traffic_share(self, variant_name: str) -> float:
        """The share of requests ``variant_name`` receives initially: weight / sum of weights.

        After a rollout has changed weights (and they are retained), the live share differs.
        A shadow variant answers no request: asking for its share is an error.
        """
        if variant_name in self.shadow_variant_names:
            raise ValueError(
                f"variant_name={variant_name!r}: a shadow variant of Endpoint '{self.node.id}' "
                "answers no request (SageMaker copies requests to it and discards its "
                f"responses). Fix: ask for a production variant ({self.variant_names})."
            )
        self._check_variant(variant_name)
        total = sum(v.initial_variant_weight for v in self._variants)
        weight = next(
            v.initial_variant_weight for v in self._variants if v.variant_name == variant_name
        )
        return weight / total

    # -- asynchronous endpoints ----------------------------------------------------------

    @checked
    def grant_invoke_async(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to call this asynchronous endpoint end to end:
        ``sagemaker:InvokeEndpointAsync`` on it, ``s3:PutObject`` of requests under the
        input prefix, ``s3:GetObject`` of responses and failures, and use of the bucket's and
        the output's keys. Input locations elsewhere are the caller's to grant; SageMaker
        reads them with the model's execution role, which then needs them too."""
        config = self._require_async("grant_invoke_async")
        return _grant_invoke_async(grantee, self.endpoint_arn, config)

    @checked
    def scale_async_on_backlog(
        self,
        variant_name: str,
        *,
        max_capacity: int,
        min_capacity: int = 0,
        target_backlog_per_instance: float = 5.0,
        scale_in_cooldown: cdk.Duration | None = None,
        scale_out_cooldown: cdk.Duration | None = None,
        scale_up_from_zero: bool = True,
    ) -> BacklogScaling:
        """Scale the variant of this asynchronous endpoint on its queue, as SageMaker documents.

        Target tracking holds ``ApproximateBacklogSizePerInstance`` at
        ``target_backlog_per_instance``, between ``min_capacity`` (0 lets the endpoint scale to
        zero when idle) and ``max_capacity``. At zero instances that metric cannot rise, so with
        ``scale_up_from_zero`` (and ``min_capacity=0``) a step-scaling policy adds one instance
        when ``HasBacklogWithoutCapacity`` is 1 for 2 minutes (an alarm triggers it; cooldown
        5 minutes).

        :param max_capacity: at least 1 and at least the variant's initial instance count.
        :param min_capacity: Default: 0.
        :param target_backlog_per_instance: queued requests per instance. Default: 5.
        :param scale_in_cooldown: Default: 10 minutes.
        :param scale_out_cooldown: Default: 5 minutes.
        :param scale_up_from_zero: Default: True.
        """
        self._require_async("scale_async_on_backlog")
        self._check_variant(variant_name)
        variant = next(v for v in self._variants if v.variant_name == variant_name)
        assert isinstance(variant, ProductionVariant)  # async_inference rules out serverless
        problems = ValidationProblems("Endpoint.scale_async_on_backlog", self.node.id)
        validate_backlog_scaling(
            problems,
            initial_instance_count=variant.initial_instance_count,
            min_capacity=min_capacity,
            max_capacity=max_capacity,
            target_backlog_per_instance=target_backlog_per_instance,
            scale_in_cooldown=scale_in_cooldown,
            scale_out_cooldown=scale_out_cooldown,
        )
        if not is_token(variant.instance_type) and is_burstable(variant.instance_type):
            problems.add(
                "variant_name",
                variant_name,
                f"Application Auto Scaling cannot scale burstable types ({variant.instance_type})",
                "choose a non-burstable instance type for the variant",
            )
        problems.check(
            variant_name not in self.scalable_targets,
            "variant_name",
            variant_name,
            "the variant is scaled already (one scalable target per variant)",
            "call scale_async_on_backlog once per variant",
        )
        problems.raise_if_any()
        index = self.variant_names.index(variant_name)
        scaling = add_backlog_scaling(
            Construct(self, f"BacklogScaling{variant_key(variant_name, index)}"),
            endpoint_name=self.endpoint_name,
            variant_name=variant_name,
            has_backlog_without_capacity=self.metric_has_backlog_without_capacity(),
            min_capacity=min_capacity,
            max_capacity=max_capacity,
            target_backlog_per_instance=target_backlog_per_instance,
            scale_in_cooldown=scale_in_cooldown or cdk.Duration.minutes(10),
            scale_out_cooldown=scale_out_cooldown or cdk.Duration.minutes(5),
            scale_up_from_zero=scale_up_from_zero,
        )
        self.scalable_targets[variant_name] = scaling.target
        return scaling

    def _require_async(self, method: str) -> AsyncInference:
        if self.async_inference is None:
            raise ValueError(
                f"Endpoint '{self.node.id}'.{method}: the endpoint is real-time. Fix: pass "
                "async_inference=AsyncInference(...) to the Endpoint, or use grant_invoke and "
                "VariantAutoscaling for a real-time endpoint."
            )
        return self.async_inference

    def _check_variant(self, variant_name: str) -> None:
        known = [*self.variant_names, *self.shadow_variant_names]
        if variant_name not in known:
            raise ValueError(
                f"variant_name={variant_name!r}: not a variant of Endpoint "
                f"'{self.node.id}'. Fix: use one of {known}."
            )

    # -- wiring --------------------------------------------------------------------------

    def _log_key(self, created_key: kms.Key | None, removal_policy: cdk.RemovalPolicy) -> kms.Key:
        """The endpoint's own key for its logs: the storage key it created, or a new one."""
        key = created_key or kms.Key(
            self,
            "LogKey",
            description=f"Encrypts the logs of SageMaker endpoint {self.node.path}",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        allow_cloudwatch_logs(key)
        return key

    def _log_group(
        self,
        endpoint_name: str,
        key: kms.IKey,
        days: int,
        removal_policy: cdk.RemovalPolicy,
    ) -> logs.LogGroup:
        """The group SageMaker writes the endpoint's logs to, encrypted and expiring."""
        return logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"{LOG_GROUP_PREFIX}{endpoint_name}",
            encryption_key=key,
            retention=retention(days),
            removal_policy=removal_policy,
        )

    def _grant_data_capture(self, capture: DataCapture) -> list[iam.Grant]:
        grants: list[iam.Grant] = []
        seen: set[str] = set()
        for variant in [*self._variants, *self._shadow_variants]:
            model = variant.model
            if not isinstance(model, Model) or model.node.path in seen:
                continue
            seen.add(model.node.path)
            grantee = model.grant_principal
            captured = capture.destination_bucket.arn_for_objects(f"{capture.prefix}/*")
            grants.append(
                iam.Grant.add_to_principal(
                    grantee=grantee, actions=["s3:PutObject"], resource_arns=[captured]
                )
            )
            if isinstance(grantee, ManagedPolicyGrantee):
                acknowledge_wildcard_resource(
                    grantee.policy,
                    captured,
                    "SageMaker names each data-capture object at run time; s3:PutObject is "
                    "limited to the data-capture prefix of the destination bucket.",
                )
            key = capture.kms_key or capture.destination_bucket.encryption_key
            if key is not None:
                grants.append(key.grant(grantee, "kms:Encrypt", "kms:GenerateDataKey"))
        return grants

    def _grant_async_execution(self, config: AsyncInference) -> list[iam.Grant]:
        principals, imported = grantable_models([v.model for v in self._variants])
        if imported:
            cdk.Annotations.of(self).add_warning_v2(
                "sagemaker-constructs:endpoint-async-imported-model",
                "The execution role of an imported model cannot be granted here: allow it "
                "s3:GetObject under the input prefix, s3:PutObject under the output and failure "
                "prefixes, the keys and sns:Publish on the topics yourself "
                f"({', '.join(imported)}).",
            )
        return [grant for principal in principals for grant in grant_execution(principal, config)]

    def _add_autoscaling(self, variant: ProductionVariant, scaling: VariantAutoscaling) -> None:
        scope = Construct(self, f"Autoscaling{variant.variant_name}")
        target = scalable_target(
            scope,
            dimension=VARIANT_INSTANCES,
            resource_id=variant_resource_id(self.endpoint_name, variant.variant_name),
            min_capacity=scaling.min_capacity,
            max_capacity=scaling.max_capacity,
        )
        target_tracking(
            scope,
            "InvocationsPerInstance",
            target=target,
            policy_name=f"{variant.variant_name}-invocations-per-instance",
            target_value=scaling.target_invocations_per_instance,
            predefined_metric="SageMakerVariantInvocationsPerInstance",
            scale_in_cooldown=scaling.scale_in_cooldown or cdk.Duration.minutes(5),
            scale_out_cooldown=scaling.scale_out_cooldown or cdk.Duration.minutes(1),
            disable_scale_in=scaling.disable_scale_in,
        )
        self.scalable_targets[variant.variant_name] = target


# --------------------------------------------------------------------------- rendering


def _seconds(duration: cdk.Duration | None) -> float | None:
    return duration.to_seconds() if duration is not None else None


def _render_variant(variant: Variant) -> sagemaker.CfnEndpointConfig.ProductionVariantProperty:
    if isinstance(variant, ServerlessVariant):
        return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
            variant_name=variant.variant_name,
            model_name=variant.model.model_name,
            initial_variant_weight=variant.initial_variant_weight,
            serverless_config=sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
                memory_size_in_mb=variant.memory_size_in_mb,
                max_concurrency=variant.max_concurrency,
                provisioned_concurrency=variant.provisioned_concurrency,
            ),
        )
    return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
        variant_name=variant.variant_name,
        model_name=variant.model.model_name,
        instance_type=variant.instance_type,
        initial_instance_count=variant.initial_instance_count,
        initial_variant_weight=variant.initial_variant_weight,
        volume_size_in_gb=variant.volume_size_in_gb,
        container_startup_health_check_timeout_in_seconds=_seconds(
            variant.container_startup_health_check_timeout
        ),
        model_data_download_timeout_in_seconds=_seconds(variant.model_data_download_timeout),
    )


def _render_data_capture(
    capture: DataCapture,
) -> sagemaker.CfnEndpointConfig.DataCaptureConfigProperty:
    modes = ["Input"] * capture.capture_input + ["Output"] * capture.capture_output
    return sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
        enable_capture=True,
        destination_s3_uri=capture.destination_bucket.s3_url_for_object(capture.prefix),
        initial_sampling_percentage=capture.sampling_percentage,
        capture_options=[
            sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode=m) for m in modes
        ],
        kms_key_id=capture.kms_key.key_arn if capture.kms_key is not None else None,
        capture_content_type_header=(
            sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
                csv_content_types=list(capture.csv_content_types) or None,
                json_content_types=list(capture.json_content_types) or None,
            )
            if capture.csv_content_types or capture.json_content_types
            else None
        ),
    )


def _render_capacity(
    size: CapacitySize | None,
) -> sagemaker.CfnEndpoint.CapacitySizeProperty | None:
    if size is None:
        return None
    return sagemaker.CfnEndpoint.CapacitySizeProperty(type=size.type.value, value=size.value)


def _render_guardrails(
    guardrails: DeploymentGuardrails,
) -> sagemaker.CfnEndpoint.DeploymentConfigProperty:
    routing = guardrails.traffic_routing
    wait = routing.wait_interval or cdk.Duration.seconds(0)
    return sagemaker.CfnEndpoint.DeploymentConfigProperty(
        blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
            traffic_routing_configuration=sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
                type=routing.type.value,
                canary_size=_render_capacity(routing.canary_size),
                linear_step_size=_render_capacity(routing.linear_step_size),
                wait_interval_in_seconds=wait.to_seconds(),
            ),
            termination_wait_in_seconds=_seconds(guardrails.termination_wait),
            maximum_execution_timeout_in_seconds=_seconds(guardrails.maximum_execution_timeout),
        ),
        auto_rollback_configuration=(
            sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
                alarms=[
                    sagemaker.CfnEndpoint.AlarmProperty(alarm_name=a.alarm_name)
                    for a in guardrails.rollback_alarms
                ]
            )
            if guardrails.rollback_alarms
            else None
        ),
    )


# --------------------------------------------------------------------------- validation

_VARIANT = "ProductionVariants/*/"
_SHADOW = "ShadowProductionVariants/*/"
#: ``CaptureContentTypeHeader`` items, as the API and CloudFormation's schema write them.
_CONTENT_TYPE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*/[a-zA-Z0-9](-*[a-zA-Z0-9.])*$")
_BLUE_GREEN = "DeploymentConfig/BlueGreenUpdatePolicy/"
_ROUTING = _BLUE_GREEN + "TrafficRoutingConfiguration/"


def _duration_range(
    problems: ValidationProblems,
    argument: str,
    duration: cdk.Duration | None,
    resource: str,
    prop: str,
) -> None:
    seconds = problems.whole_seconds(argument, duration)
    aws.check_range(problems, argument, seconds, resource, prop, unit="seconds")


def _validate_endpoint(
    id: str,
    *,
    variants: list[Variant],
    shadow_variants: list[ProductionVariant],
    endpoint_name: str | None,
    kms_key: kms.IKey | None,
    log_encryption_key: kms.IKey | None,
    log_retention_days: int,
    data_capture: DataCapture | None,
    guardrails: DeploymentGuardrails | None,
    retain_variant_properties: bool,
    update_from_template: Sequence[VariantProperty],
    async_inference: AsyncInference | None,
    alarms: EndpointAlarms | None,
) -> None:
    problems = ValidationProblems("Endpoint", id)
    problems.check_name("endpoint_name", endpoint_name)
    check_retention(problems, "log_retention_days", log_retention_days)
    problems.check(
        log_encryption_key is None or endpoint_name is not None,
        "log_encryption_key",
        "<kms.IKey>",
        "applies only with endpoint_name: without a name the endpoint's log group cannot be "
        "created before the endpoint",
        "pass endpoint_name as well, or remove log_encryption_key",
    )
    problems.check_count("variants", variants, minimum=1, maximum=10)

    names = [v.variant_name for v in variants if not is_token(v.variant_name)]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        problems.add(
            "variants[*].variant_name",
            duplicates,
            "variant names must be unique within an endpoint",
            "rename the duplicated variants",
        )
    weights = [v.initial_variant_weight for v in variants]
    if variants and not is_token(weights) and all(w == 0 for w in weights):
        problems.add(
            "variants[*].initial_variant_weight",
            weights,
            "at least one variant needs a weight above 0, or the endpoint serves nothing",
            "give the serving variant a positive weight",
        )

    serverless = [v for v in variants if isinstance(v, ServerlessVariant)]
    if serverless and len(variants) > 1:
        problems.add(
            "variants",
            f"<{len(variants)} variants, {len(serverless)} serverless>",
            "a serverless variant must be the endpoint's only variant",
            "host the serverless variant on an endpoint of its own",
        )

    local_storage_types = []
    for index, variant in enumerate(variants):
        argument = f"variants[{index}]"
        problems.check_name(f"{argument}.variant_name", variant.variant_name)
        aws.check_range(
            problems,
            f"{argument}.initial_variant_weight",
            variant.initial_variant_weight,
            aws.ENDPOINT_CONFIG,
            _VARIANT + "InitialVariantWeight",
        )
        if isinstance(variant, ServerlessVariant):
            _validate_serverless(problems, argument, variant)
        else:
            _validate_instance_variant(problems, argument, variant)
            if not is_token(variant.instance_type) and has_local_nvme_storage(
                variant.instance_type
            ):
                local_storage_types.append(variant.instance_type)
    if shadow_variants:
        local_storage_types += _validate_shadow_variants(
            problems, shadow_variants, variants, async_inference=async_inference
        )

    if kms_key is not None and local_storage_types:
        problems.add(
            "kms_key",
            "<kms.IKey>",
            "SageMaker rejects a storage KmsKeyId for instance types with local NVMe storage "
            f"({', '.join(sorted(set(local_storage_types)))}); the instance encrypts it "
            "in hardware",
            "remove kms_key, or choose EBS-backed instance types",
        )

    if data_capture is not None:
        _validate_data_capture(problems, data_capture, serverless=bool(serverless))
    if guardrails is not None:
        _validate_guardrails(problems, guardrails, variants, shadow_variants)
    if async_inference is not None:
        validate_async(
            problems,
            async_inference,
            variant_count=len(variants),
            serverless=bool(serverless),
            multi_model=any(isinstance(v.model, Model) and v.model.multi_model for v in variants),
            autoscaled=[
                index
                for index, v in enumerate(variants)
                if isinstance(v, ProductionVariant) and v.autoscaling is not None
            ],
        )
    if alarms is not None:
        validate_alarms(problems, alarms)

    if not retain_variant_properties and update_from_template:
        problems.add(
            "update_variant_properties_from_template",
            [p.value for p in update_from_template],
            "only applies when retain_variant_properties is True",
            "remove it, or set retain_variant_properties=True",
        )
    problems.raise_if_any()


def _validate_shadow_variants(
    problems: ValidationProblems,
    shadows: list[ProductionVariant],
    variants: list[Variant],
    *,
    async_inference: AsyncInference | None,
) -> list[str]:
    """The rules of ``shadow_variants``; returns their instance types with local NVMe storage.

    Sources: the CreateEndpointConfig API reference (``ShadowProductionVariants``: "you can
    only specify one variant for ProductionVariants and one variant for
    ShadowProductionVariants"), the SageMaker Developer Guide's "Create a shadow test" (one
    shadow variant and at most one production variant per endpoint; serverless inference,
    asynchronous inference, Marketplace containers and multi-container endpoints are
    incompatible) and CloudFormation's ``AWS::SageMaker::EndpointConfig`` schema (the same
    ``ProductionVariant`` shape and ranges as ``ProductionVariants``). That the "Create a
    shadow test" exclusions bind an endpoint configuration written directly (not through a
    shadow test) is inferred: shadow tests deploy the same ``ShadowProductionVariants``.
    """
    problems.check_count("shadow_variants", shadows, minimum=0, maximum=1)
    problems.check(
        len(variants) == 1,
        "variants, shadow_variants",
        f"<{len(variants)} variants, {len(shadows)} shadow>",
        "with a shadow variant SageMaker takes exactly one production variant, whose "
        "requests it copies to the shadow",
        "keep one production variant, or test the candidate as a weighted variant "
        "without shadow_variants",
    )
    if any(isinstance(v, ServerlessVariant) for v in variants):
        problems.add(
            "shadow_variants",
            "<serverless endpoint>",
            "SageMaker does not run shadow variants beside a serverless variant",
            "host the production variant on instances (ProductionVariant), or remove "
            "shadow_variants",
        )
    if async_inference is not None:
        problems.add(
            "shadow_variants, async_inference",
            "<AsyncInference>",
            "SageMaker does not run shadow variants on an asynchronous endpoint",
            "remove shadow_variants, or serve the endpoint in real time",
        )

    production = [v.variant_name for v in variants if not is_token(v.variant_name)]
    shadow_names = [v.variant_name for v in shadows if not is_token(v.variant_name)]
    clashes = sorted({n for n in shadow_names if n in production})
    clashes += sorted({n for n in shadow_names if shadow_names.count(n) > 1} - set(clashes))
    if clashes:
        problems.add(
            "shadow_variants[*].variant_name",
            clashes,
            "variant names must be unique within an endpoint, across production and shadow "
            "variants",
            "give the shadow variant a name of its own (for example '<name>-shadow')",
        )

    local_storage_types = []
    for index, shadow in enumerate(shadows):
        argument = f"shadow_variants[{index}]"
        problems.check_name(f"{argument}.variant_name", shadow.variant_name)
        aws.check_range(
            problems,
            f"{argument}.initial_variant_weight",
            shadow.initial_variant_weight,
            aws.ENDPOINT_CONFIG,
            _SHADOW + "InitialVariantWeight",
        )
        _validate_instance_variant(problems, argument, shadow, prefix=_SHADOW)
        if not is_token(shadow.instance_type) and has_local_nvme_storage(shadow.instance_type):
            local_storage_types.append(shadow.instance_type)

    for argument, variant in [
        *((f"variants[{i}]", v) for i, v in enumerate(variants)),
        *((f"shadow_variants[{i}]", v) for i, v in enumerate(shadows)),
    ]:
        model = variant.model
        if (
            isinstance(model, Model)
            and model.container_count > 1
            and model.inference_execution_mode is InferenceExecutionMode.DIRECT
        ):
            problems.add(
                f"{argument}.model",
                model.node.path,
                "a multi-container model invoked Direct cannot take part in a shadow test",
                "use a single-container model or a Serial inference pipeline, or remove "
                "shadow_variants",
            )
    return local_storage_types


def _validate_serverless(
    problems: ValidationProblems, argument: str, variant: ServerlessVariant
) -> None:
    memory = variant.memory_size_in_mb
    aws.check_range(
        problems,
        f"{argument}.memory_size_in_mb",
        memory,
        aws.ENDPOINT_CONFIG,
        _VARIANT + "ServerlessConfig/MemorySizeInMB",
        unit="MB",
    )
    if not is_token(memory):
        problems.check(
            memory % 1024 == 0,
            f"{argument}.memory_size_in_mb",
            memory,
            "must be 1024, 2048, 3072, 4096, 5120 or 6144",
            "choose a multiple of 1024 between 1024 and 6144",
        )
    aws.check_range(
        problems,
        f"{argument}.max_concurrency",
        variant.max_concurrency,
        aws.ENDPOINT_CONFIG,
        _VARIANT + "ServerlessConfig/MaxConcurrency",
    )
    provisioned = variant.provisioned_concurrency
    aws.check_range(
        problems,
        f"{argument}.provisioned_concurrency",
        provisioned,
        aws.ENDPOINT_CONFIG,
        _VARIANT + "ServerlessConfig/ProvisionedConcurrency",
    )
    if provisioned is not None and not is_token([provisioned, variant.max_concurrency]):
        problems.check(
            provisioned <= variant.max_concurrency,
            f"{argument}.provisioned_concurrency, {argument}.max_concurrency",
            f"{provisioned} > {variant.max_concurrency}",
            "provisioned_concurrency must be at most max_concurrency",
            "lower provisioned_concurrency or raise max_concurrency",
        )
    model = variant.model
    if isinstance(model, Model):
        unsupported = {
            "a multi-model container": model.multi_model,
            "an inference pipeline": model.container_count > 1,
            "a VPC configuration": model.in_vpc,
            "network isolation": model.network_isolation,
            "a private Docker registry": model.uses_private_registry,
        }
        for feature, used in unsupported.items():
            if used:
                problems.add(
                    f"{argument}.model",
                    model.node.path,
                    f"serverless inference does not support {feature}",
                    "use a ProductionVariant on instances, or a model without it",
                )


def _validate_instance_variant(
    problems: ValidationProblems,
    argument: str,
    variant: ProductionVariant,
    prefix: str = _VARIANT,
) -> None:
    """The rules of one variant on instances; ``prefix`` is its list's property path in the
    schema (``ProductionVariants/*/`` or ``ShadowProductionVariants/*/``)."""
    instance_type = variant.instance_type
    aws.check_instance_type(problems, f"{argument}.instance_type", instance_type, aws.HOSTING)
    aws.check_range(
        problems,
        f"{argument}.initial_instance_count",
        variant.initial_instance_count,
        aws.ENDPOINT_CONFIG,
        prefix + "InitialInstanceCount",
    )
    aws.check_range(
        problems,
        f"{argument}.volume_size_in_gb",
        variant.volume_size_in_gb,
        aws.ENDPOINT_CONFIG,
        prefix + "VolumeSizeInGB",
        unit="GB",
    )
    if (
        variant.volume_size_in_gb is not None
        and not is_token(instance_type)
        and has_local_nvme_storage(instance_type)
    ):
        problems.add(
            f"{argument}.volume_size_in_gb, {argument}.instance_type",
            variant.volume_size_in_gb,
            f"{instance_type} uses local NVMe storage of a fixed size; "
            "SageMaker rejects a volume size",
            "remove volume_size_in_gb, or choose an EBS-backed instance type",
        )
    _duration_range(
        problems,
        f"{argument}.container_startup_health_check_timeout",
        variant.container_startup_health_check_timeout,
        aws.ENDPOINT_CONFIG,
        prefix + "ContainerStartupHealthCheckTimeoutInSeconds",
    )
    _duration_range(
        problems,
        f"{argument}.model_data_download_timeout",
        variant.model_data_download_timeout,
        aws.ENDPOINT_CONFIG,
        prefix + "ModelDataDownloadTimeoutInSeconds",
    )

    scaling = variant.autoscaling
    if scaling is None:
        return
    if not is_token(instance_type) and is_burstable(instance_type):
        problems.add(
            f"{argument}.autoscaling, {argument}.instance_type",
            instance_type,
            "Application Auto Scaling cannot scale burstable (ml.t*) instance types",
            "choose a non-burstable instance type (e.g. ml.m5.large) or remove autoscaling",
        )
    problems.check_range(f"{argument}.autoscaling.min_capacity", scaling.min_capacity, minimum=1)
    count = variant.initial_instance_count
    if not is_token([scaling.min_capacity, scaling.max_capacity, count]) and not (
        scaling.min_capacity <= count <= scaling.max_capacity
    ):
        problems.add(
            f"{argument}.autoscaling",
            f"min={scaling.min_capacity}, initial={count}, max={scaling.max_capacity}",
            "min_capacity <= initial_instance_count <= max_capacity must hold",
            "adjust the capacities or the initial instance count",
        )
    if not is_token(scaling.target_invocations_per_instance):
        problems.check(
            scaling.target_invocations_per_instance > 0,
            f"{argument}.autoscaling.target_invocations_per_instance",
            scaling.target_invocations_per_instance,
            "must be above 0",
            "pass the invocations per instance per minute to hold",
        )
    for name, cooldown in (
        ("scale_in_cooldown", scaling.scale_in_cooldown),
        ("scale_out_cooldown", scaling.scale_out_cooldown),
    ):
        argument_name = f"{argument}.autoscaling.{name}"
        seconds = problems.whole_seconds(argument_name, cooldown)
        problems.check_range(argument_name, seconds, minimum=0, maximum=86400, unit="seconds")


def _validate_data_capture(
    problems: ValidationProblems, capture: DataCapture, *, serverless: bool
) -> None:
    if serverless:
        problems.add(
            "data_capture",
            "<DataCapture>",
            "serverless inference does not support data capture",
            "remove data_capture, or host the model on instances",
        )
    aws.check_range(
        problems,
        "data_capture.sampling_percentage",
        capture.sampling_percentage,
        aws.ENDPOINT_CONFIG,
        "DataCaptureConfig/InitialSamplingPercentage",
        unit="%",
    )
    problems.check(
        capture.capture_input or capture.capture_output,
        "data_capture",
        "capture_input=False, capture_output=False",
        "must capture the input, the output, or both",
        "set capture_input or capture_output",
    )
    prefix = capture.prefix
    if not is_token(prefix):
        problems.check(
            0 < len(prefix) <= 400 and not prefix.startswith("/") and not prefix.endswith("/"),
            "data_capture.prefix",
            prefix,
            "must be 1-400 characters without a leading or trailing '/'",
            "pass a key prefix such as 'data-capture/classifier'",
        )
        aws.check_s3_uri_text(problems, "data_capture.prefix", prefix)
    for name in ("csv_content_types", "json_content_types"):
        types = list(getattr(capture, name))
        argument = f"data_capture.{name}"
        problems.check_count(argument, types or None, minimum=0, maximum=10)
        for index, content_type in enumerate(types):
            if is_token(content_type):
                continue
            problems.check(
                len(content_type) <= 256 and bool(_CONTENT_TYPE.match(content_type)),
                f"{argument}[{index}]",
                content_type,
                "must be a content type type/subtype of at most 256 characters: letters, "
                "digits and inner hyphens (and dots in the subtype)",
                "pass a content type such as 'text/csv' or 'application/jsonlines'",
            )


def _validate_guardrails(
    problems: ValidationProblems,
    guardrails: DeploymentGuardrails,
    variants: list[Variant],
    shadow_variants: list[ProductionVariant],
) -> None:
    routing = guardrails.traffic_routing
    kind = routing.type
    arg = "deployment_guardrails.traffic_routing"
    if any(isinstance(v, ServerlessVariant) for v in variants):
        problems.add(
            "deployment_guardrails",
            kind.value,
            "SageMaker deployment guardrails do not support serverless variants",
            "remove deployment_guardrails for a serverless endpoint",
        )
    # "Exclusions" (deployment guardrails) names endpoints that use Inf1 instances: a shadow
    # variant's instances count as the endpoint's.
    inf1 = [
        v.instance_type
        for v in [*variants, *shadow_variants]
        if isinstance(v, ProductionVariant)
        and not is_token(v.instance_type)
        and is_inferentia1(v.instance_type)
    ]
    if inf1 and kind is not TrafficRoutingType.ALL_AT_ONCE:
        problems.add(
            arg,
            kind.value,
            "on Inf1 instances SageMaker ignores traffic shifting and deploys all at once",
            "use TrafficRouting.all_at_once(), or another instance type "
            "for a canary or linear shift",
        )

    if kind is TrafficRoutingType.CANARY and routing.canary_size is None:
        problems.add(
            arg, kind.value, "CANARY needs canary_size", "pass TrafficRouting.canary(size, ...)"
        )
    if kind is TrafficRoutingType.LINEAR and routing.linear_step_size is None:
        problems.add(
            arg,
            kind.value,
            "LINEAR needs linear_step_size",
            "pass TrafficRouting.linear(step_size, ...)",
        )
    if kind is not TrafficRoutingType.CANARY and routing.canary_size is not None:
        problems.add(
            f"{arg}.canary_size",
            routing.canary_size.value,
            f"canary_size applies to CANARY only, not {kind.value}",
            "remove canary_size or use TrafficRouting.canary(...)",
        )
    if kind is not TrafficRoutingType.LINEAR and routing.linear_step_size is not None:
        problems.add(
            f"{arg}.linear_step_size",
            routing.linear_step_size.value,
            f"linear_step_size applies to LINEAR only, not {kind.value}",
            "remove linear_step_size or use TrafficRouting.linear(...)",
        )
    if kind is not TrafficRoutingType.ALL_AT_ONCE and routing.wait_interval is None:
        problems.add(
            f"{arg}.wait_interval",
            None,
            f"{kind.value} needs the wait between traffic shifts",
            "pass wait_interval (0-3600 seconds)",
        )
    _duration_range(
        problems,
        f"{arg}.wait_interval",
        routing.wait_interval,
        aws.ENDPOINT,
        _ROUTING + "WaitIntervalInSeconds",
    )

    counts = [
        (index, v.initial_instance_count)
        for index, v in enumerate(variants)
        if isinstance(v, ProductionVariant) and not is_token(v.initial_instance_count)
    ]
    for name, size, low_percent in (
        ("canary_size", routing.canary_size, 1),
        ("linear_step_size", routing.linear_step_size, 10),
    ):
        if size is None or is_token(size.value):
            continue
        argument = f"{arg}.{name}"
        if size.type is CapacitySizeType.CAPACITY_PERCENT:
            problems.check_range(argument, size.value, minimum=low_percent, maximum=50, unit="%")
            continue
        aws.check_range(
            problems,
            argument,
            size.value,
            aws.ENDPOINT,
            _ROUTING + "CanarySize/Value",
            unit="instances",
        )
        for index, count in counts:
            if not (count * low_percent / 100 <= size.value <= count / 2):
                # A rule between the size and the variant's count: the problem names both.
                problems.add(
                    f"{argument}, variants[{index}].initial_instance_count",
                    size.value,
                    f"must be {low_percent}-50% of each variant's instance count "
                    f"(variants[{index}] starts with {count})",
                    "use CapacitySize.capacity_percent(...) or more instances",
                )
                break

    _duration_range(
        problems,
        "deployment_guardrails.termination_wait",
        guardrails.termination_wait,
        aws.ENDPOINT,
        _BLUE_GREEN + "TerminationWaitInSeconds",
    )
    _duration_range(
        problems,
        "deployment_guardrails.maximum_execution_timeout",
        guardrails.maximum_execution_timeout,
        aws.ENDPOINT,
        _BLUE_GREEN + "MaximumExecutionTimeoutInSeconds",
    )
    if len(guardrails.rollback_alarms) > 10:
        problems.add(
            "deployment_guardrails.rollback_alarms",
            f"<{len(guardrails.rollback_alarms)} alarms>",
            "SageMaker watches at most 10 alarms",
            "pass at most 10 alarms",
        )
