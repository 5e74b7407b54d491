"""Asynchronous inference for :class:`~sagemaker_constructs.endpoint.Endpoint`: the
``AsyncInferenceConfig`` of the endpoint configuration, what the models' roles and the callers
need, SageMaker's rules, and scaling on the queue (to zero and back).

Sources: the ``CreateEndpointConfig`` API reference and CloudFormation's
``AWS::SageMaker::EndpointConfig`` schema (paths of at most 512 characters, 1-1000 concurrent
invocations per instance, at most two topics to include the response in); the SageMaker
Developer Guide's "Asynchronous inference" chapters: the prerequisites (the execution role reads
the request from S3, writes the response, publishes to the topics), "Alarms and logs for tracking
metrics from asynchronous endpoints" (the queue metrics carry only ``EndpointName``;
``Invocations`` and ``InvocationsPerInstance`` are not published) and "Autoscale an asynchronous
endpoint" (target tracking on ``ApproximateBacklogSizePerInstance`` with a minimum of 0, and the
step scaling on ``HasBacklogWithoutCapacity`` that scales up from zero). SageMaker rejects an
asynchronous configuration with a serverless variant, with more than one variant, and with a
multi-model container.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aws_cdk as cdk
import jsii
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from . import aws_rules as aws
from ._scaling import VARIANT_INSTANCES, scalable_target, target_tracking, variant_resource_id
from ._types import checked_value
from ._validation import ValidationProblems, is_token
from .compliance import acknowledge_wildcard_resource
from .roles import ManagedPolicyGrantee

if TYPE_CHECKING:
    from .model import IModel

__all__ = ["INVOKE_ASYNC_ACTION", "AsyncInference"]

#: The one action an asynchronous caller needs on the endpoint.
INVOKE_ASYNC_ACTION = "sagemaker:InvokeEndpointAsync"

#: Longest ``S3OutputPath`` / ``S3FailurePath`` SageMaker and CloudFormation accept.
MAX_PATH_LENGTH = 512
#: Longest bucket name: the prefix must fit beside it when the name is a token.
_MAX_BUCKET_NAME = 63

#: The documented scale-up-from-zero policy: +1 instance, 5 minutes cooldown, on an alarm of
#: ``HasBacklogWithoutCapacity`` >= 1 (Average) for 2 of 2 one-minute periods.
WAKE_COOLDOWN_SECONDS = 300
WAKE_PERIOD_SECONDS = 60
WAKE_EVALUATION_PERIODS = 2


@checked_value
@dataclass(frozen=True, kw_only=True)
class AsyncInference:
    """Asynchronous inference: requests and responses through S3, queued by SageMaker.

    Callers upload each request under ``input_prefix`` and call ``InvokeEndpointAsync`` with its
    location (:meth:`Endpoint.grant_invoke_async` allows both and reading the responses);
    SageMaker reads it with the model's execution role and writes the response under
    ``output_prefix`` (or an error under ``failure_prefix``), optionally publishing to SNS. The
    roles of the endpoint's models (those this library created, or mutable roles you passed) are
    granted exactly that: ``s3:GetObject`` under ``input_prefix``, ``s3:PutObject`` and
    ``s3:AbortMultipartUpload`` under the two output prefixes, use of the keys and
    ``sns:Publish`` on the topics.

    :param bucket: holds requests, responses and failures.
    :param output_prefix: key prefix of responses. Default: ``async-inference/output``.
    :param failure_prefix: key prefix of failed requests' errors. Default:
        ``async-inference/failure``.
    :param input_prefix: key prefix callers upload requests under (SageMaker does not configure
        it: it is the place the grants name). Default: ``async-inference/input``.
    :param kms_key: encrypts responses and failures. Default: the bucket's default encryption.
    :param success_topic: notified when a request succeeds. Default: no notification.
    :param error_topic: notified when a request fails. Default: no notification.
    :param include_response_in_notifications: include the response (up to 128 KB) in the
        notifications of the topics given. Default: False.
    :param max_concurrent_invocations_per_instance: 1-1000 requests the container receives at
        once. Default: SageMaker chooses.
    """

    bucket: s3.IBucket
    output_prefix: str = "async-inference/output"
    failure_prefix: str = "async-inference/failure"
    input_prefix: str = "async-inference/input"
    kms_key: kms.IKey | None = None
    success_topic: sns.ITopic | None = None
    error_topic: sns.ITopic | None = None
    include_response_in_notifications: bool = False
    max_concurrent_invocations_per_instance: int | None = None

    @property
    def output_key(self) -> kms.IKey | None:
        """The key responses are encrypted with (``kms_key`` or the bucket's)."""
        return self.kms_key or self.bucket.encryption_key

    def _objects(self, prefix: str) -> str:
        return self.bucket.arn_for_objects(f"{prefix}/*")


# --------------------------------------------------------------------------- validation


def validate_async(
    problems: ValidationProblems,
    config: AsyncInference,
    *,
    variant_count: int,
    serverless: bool,
    multi_model: bool,
    autoscaled: Sequence[int],
) -> None:
    """Every rule SageMaker and CloudFormation apply to an asynchronous configuration."""
    if serverless:
        problems.add(
            "async_inference",
            "<AsyncInference>",
            "asynchronous inference runs on instances; SageMaker rejects it with a serverless "
            "variant",
            "use a ProductionVariant on instances, or remove async_inference",
        )
    if variant_count > 1:
        problems.add(
            "async_inference, variants",
            f"<{variant_count} variants>",
            "an asynchronous endpoint has exactly one production variant",
            "host each model on an asynchronous endpoint of its own",
        )
    if multi_model:
        problems.add(
            "async_inference, variants[0].model",
            "<multi-model container>",
            "SageMaker does not run multi-model containers asynchronously",
            "use a single-model container, or a real-time endpoint for the multi-model one",
        )
    for index in autoscaled:
        problems.add(
            f"variants[{index}].autoscaling",
            "<VariantAutoscaling>",
            "an asynchronous endpoint publishes no InvocationsPerInstance, so target tracking on "
            "it never scales",
            "remove autoscaling and call endpoint.scale_async_on_backlog(...) instead",
        )
    bucket_name = config.bucket.bucket_name
    for name in ("output_prefix", "failure_prefix", "input_prefix"):
        prefix = getattr(config, name)
        argument = f"async_inference.{name}"
        if is_token(prefix):
            continue
        problems.check(
            len(prefix) > 0 and not prefix.startswith("/") and not prefix.endswith("/"),
            argument,
            prefix,
            "must be a key prefix without a leading or trailing '/'",
            "pass a prefix such as 'async-inference/output'",
        )
        aws.check_s3_uri_text(problems, argument, prefix)
        if name == "input_prefix":
            continue
        name_length = _MAX_BUCKET_NAME if is_token(bucket_name) else len(bucket_name)
        length = len("s3://") + name_length + len("/") + len(prefix)
        problems.check(
            length <= MAX_PATH_LENGTH,
            argument,
            prefix,
            f"the S3 path s3://<bucket>/<prefix> must be at most {MAX_PATH_LENGTH} characters "
            f"(this one has {length}"
            + (", counting a bucket name of 63" if is_token(bucket_name) else "")
            + ")",
            "shorten the prefix",
        )
    if (
        config.include_response_in_notifications
        and config.success_topic is None
        and config.error_topic is None
    ):
        problems.add(
            "async_inference.include_response_in_notifications",
            True,
            "needs a topic to include the response in",
            "pass success_topic and/or error_topic, or set it to False",
        )
    aws.check_range(
        problems,
        "async_inference.max_concurrent_invocations_per_instance",
        config.max_concurrent_invocations_per_instance,
        aws.ENDPOINT_CONFIG,
        "AsyncInferenceConfig/ClientConfig/MaxConcurrentInvocationsPerInstance",
    )


def validate_backlog_scaling(
    problems: ValidationProblems,
    *,
    initial_instance_count: int,
    min_capacity: int,
    max_capacity: int,
    target_backlog_per_instance: float,
    scale_in_cooldown: cdk.Duration | None,
    scale_out_cooldown: cdk.Duration | None,
) -> None:
    problems.check_range("min_capacity", min_capacity, minimum=0)
    problems.check_range("max_capacity", max_capacity, minimum=1)
    if not is_token([min_capacity, max_capacity, initial_instance_count]):
        problems.check(
            min_capacity <= max_capacity and initial_instance_count <= max_capacity,
            "min_capacity, max_capacity",
            f"min={min_capacity}, initial={initial_instance_count}, max={max_capacity}",
            "min_capacity <= max_capacity and initial_instance_count <= max_capacity must hold",
            "raise max_capacity or lower min_capacity",
        )
    if not is_token(target_backlog_per_instance):
        problems.check(
            target_backlog_per_instance > 0,
            "target_backlog_per_instance",
            target_backlog_per_instance,
            "must be above 0",
            "pass the queued requests per instance to hold, such as 5",
        )
    for name, cooldown in (
        ("scale_in_cooldown", scale_in_cooldown),
        ("scale_out_cooldown", scale_out_cooldown),
    ):
        seconds = problems.whole_seconds(name, cooldown)
        problems.check_range(name, seconds, minimum=0, maximum=86400, unit="seconds")


# --------------------------------------------------------------------------- rendering


def render_async(
    config: AsyncInference,
) -> sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty:
    topics = [
        kind
        for kind, topic in (
            ("SUCCESS_NOTIFICATION_TOPIC", config.success_topic),
            ("ERROR_NOTIFICATION_TOPIC", config.error_topic),
        )
        if topic is not None
    ]
    notification = (
        sagemaker.CfnEndpointConfig.AsyncInferenceNotificationConfigProperty(
            success_topic=config.success_topic.topic_arn if config.success_topic else None,
            error_topic=config.error_topic.topic_arn if config.error_topic else None,
            include_inference_response_in=(
                topics if config.include_response_in_notifications else None
            ),
        )
        if topics
        else None
    )
    client = (
        sagemaker.CfnEndpointConfig.AsyncInferenceClientConfigProperty(
            max_concurrent_invocations_per_instance=config.max_concurrent_invocations_per_instance
        )
        if config.max_concurrent_invocations_per_instance is not None
        else None
    )
    return sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty(
        output_config=sagemaker.CfnEndpointConfig.AsyncInferenceOutputConfigProperty(
            s3_output_path=config.bucket.s3_url_for_object(config.output_prefix),
            s3_failure_path=config.bucket.s3_url_for_object(config.failure_prefix),
            kms_key_id=config.kms_key.key_arn if config.kms_key is not None else None,
            notification_config=notification,
        ),
        client_config=client,
    )


# --------------------------------------------------------------------------- grants

_RUN_TIME_KEYS = (
    "SageMaker names each asynchronous request, response and failure object at run time; the "
    "statement is limited to its prefix of the asynchronous-inference bucket."
)


def _grant_objects(grantee: iam.IGrantable, actions: list[str], arns: list[str]) -> iam.Grant:
    grant = iam.Grant.add_to_principal(grantee=grantee, actions=actions, resource_arns=arns)
    principal = grantee.grant_principal
    if isinstance(principal, ManagedPolicyGrantee):
        for arn in arns:
            acknowledge_wildcard_resource(principal.policy, arn, _RUN_TIME_KEYS)
    return grant


def grant_execution(grantee: iam.IGrantable, config: AsyncInference) -> list[iam.Grant]:
    """What a model's execution role needs to serve asynchronous requests."""
    grants = [
        _grant_objects(grantee, ["s3:GetObject"], [config._objects(config.input_prefix)]),
        _grant_objects(
            grantee,
            ["s3:PutObject", "s3:AbortMultipartUpload"],
            [config._objects(config.output_prefix), config._objects(config.failure_prefix)],
        ),
    ]
    bucket_key = config.bucket.encryption_key
    if bucket_key is not None:
        grants.append(bucket_key.grant_decrypt(grantee))
    output_key = config.output_key
    if output_key is not None:
        grants.append(output_key.grant(grantee, "kms:Encrypt", "kms:GenerateDataKey"))
    for topic in (config.success_topic, config.error_topic):
        if topic is None:
            continue
        # Named actions rather than topic.grant_publish, whose key grant holds a wildcard.
        grants.append(
            iam.Grant.add_to_principal(
                grantee=grantee, actions=["sns:Publish"], resource_arns=[topic.topic_arn]
            )
        )
        if topic.master_key is not None:
            grants.append(topic.master_key.grant(grantee, "kms:Decrypt", "kms:GenerateDataKey"))
    return grants


def grant_invoke_async(
    grantee: iam.IGrantable, endpoint_arn: str, config: AsyncInference
) -> iam.Grant:
    """What a caller needs: upload requests, invoke, read responses and failures."""
    grants = [
        iam.Grant.add_to_principal(
            grantee=grantee, actions=[INVOKE_ASYNC_ACTION], resource_arns=[endpoint_arn]
        ),
        _grant_objects(grantee, ["s3:PutObject"], [config._objects(config.input_prefix)]),
        _grant_objects(
            grantee,
            ["s3:GetObject"],
            [config._objects(config.output_prefix), config._objects(config.failure_prefix)],
        ),
    ]
    bucket_key = config.bucket.encryption_key
    if bucket_key is not None:
        # Uploading under SSE-KMS generates a data key (multipart uploads decrypt it again).
        grants.append(bucket_key.grant(grantee, "kms:Decrypt", "kms:GenerateDataKey"))
    if config.kms_key is not None and config.kms_key is not bucket_key:
        grants.append(config.kms_key.grant_decrypt(grantee))
    return functools.reduce(lambda combined, grant: combined.combine(grant), grants)


def grantable_models(models: Sequence[IModel]) -> tuple[list[iam.IPrincipal], list[str]]:
    """The roles of the models that can be granted (each once), and the names of those that
    cannot (imported models)."""
    from .model import Model

    grantable: list[iam.IPrincipal] = []
    seen: set[str] = set()
    imported: list[str] = []
    for model in models:
        if not isinstance(model, Model):
            imported.append(model.model_name)
            continue
        if model.node.path not in seen:
            seen.add(model.node.path)
            grantable.append(model.grant_principal)
    return grantable, imported


# --------------------------------------------------------------------------- scaling


@jsii.implements(cloudwatch.IAlarmAction)
class _ScalingPolicyAction:
    """An alarm action that triggers an Application Auto Scaling policy (by its ARN)."""

    def __init__(self, policy: appscaling.CfnScalingPolicy) -> None:
        self._policy = policy

    def bind(self, _scope: Construct, _alarm: cloudwatch.IAlarm) -> cloudwatch.AlarmActionConfig:
        return cloudwatch.AlarmActionConfig(alarm_action_arn=self._policy.ref)


@dataclass(frozen=True)
class BacklogScaling:
    """What :meth:`Endpoint.scale_async_on_backlog` created for one variant."""

    target: appscaling.CfnScalableTarget
    backlog_policy: appscaling.CfnScalingPolicy
    wake_policy: appscaling.CfnScalingPolicy | None
    wake_alarm: cloudwatch.Alarm | None


def add_backlog_scaling(
    scope: Construct,
    *,
    endpoint_name: str,
    variant_name: str,
    has_backlog_without_capacity: cloudwatch.Metric,
    min_capacity: int,
    max_capacity: int,
    target_backlog_per_instance: float,
    scale_in_cooldown: cdk.Duration,
    scale_out_cooldown: cdk.Duration,
    scale_up_from_zero: bool,
) -> BacklogScaling:
    target = scalable_target(
        scope,
        dimension=VARIANT_INSTANCES,
        resource_id=variant_resource_id(endpoint_name, variant_name),
        min_capacity=min_capacity,
        max_capacity=max_capacity,
    )
    policy = appscaling.CfnScalingPolicy
    backlog = target_tracking(
        scope,
        "BacklogPerInstance",
        target=target,
        policy_name=f"{variant_name}-backlog-per-instance",
        target_value=target_backlog_per_instance,
        customized_metric=policy.CustomizedMetricSpecificationProperty(
            metric_name="ApproximateBacklogSizePerInstance",
            namespace="AWS/SageMaker",
            dimensions=[policy.MetricDimensionProperty(name="EndpointName", value=endpoint_name)],
            statistic="Average",
        ),
        scale_in_cooldown=scale_in_cooldown,
        scale_out_cooldown=scale_out_cooldown,
    )
    if not scale_up_from_zero or min_capacity > 0:
        return BacklogScaling(target, backlog, None, None)
    wake = policy(
        scope,
        "HasBacklogWithoutCapacity",
        policy_name=f"{variant_name}-has-backlog-without-capacity",
        policy_type="StepScaling",
        scaling_target_id=target.ref,
        step_scaling_policy_configuration=policy.StepScalingPolicyConfigurationProperty(
            adjustment_type="ChangeInCapacity",
            metric_aggregation_type="Average",
            cooldown=WAKE_COOLDOWN_SECONDS,
            step_adjustments=[
                policy.StepAdjustmentProperty(metric_interval_lower_bound=0, scaling_adjustment=1)
            ],
        ),
    )
    alarm = cloudwatch.Alarm(
        scope,
        "WakeAlarm",
        alarm_description=(
            f"Requests wait on endpoint {endpoint_name} with no instance: adds one to variant "
            f"{variant_name} (scale up from zero)"
        ),
        metric=has_backlog_without_capacity.with_(
            statistic="Average", period=cdk.Duration.seconds(WAKE_PERIOD_SECONDS)
        ),
        threshold=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluation_periods=WAKE_EVALUATION_PERIODS,
        datapoints_to_alarm=WAKE_EVALUATION_PERIODS,
        treat_missing_data=cloudwatch.TreatMissingData.MISSING,
    )
    alarm.add_alarm_action(_ScalingPolicyAction(wake))
    return BacklogScaling(target, backlog, wake, alarm)
