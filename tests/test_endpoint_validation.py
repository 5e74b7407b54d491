"""Endpoint validation: every rule SageMaker or CloudFormation enforces fails at construction."""

from __future__ import annotations

import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from sagemaker_constructs.endpoint import (
    CapacitySize,
    CapacitySizeType,
    DataCapture,
    DeploymentGuardrails,
    Endpoint,
    ProductionVariant,
    ServerlessVariant,
    TrafficRouting,
    TrafficRoutingType,
    VariantAutoscaling,
    VariantProperty,
)
from sagemaker_constructs.model import (
    ContainerDefinition,
    ContainerImage,
    ContainerMode,
    IModel,
    Model,
    ModelData,
)

DLC = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.16-cpu"


def imported(stack: cdk.Stack, name: str = "existing") -> IModel:
    return Model.from_model_name(stack, f"Model{len(stack.node.children)}", name)


def variant(stack: cdk.Stack, name: str = "main", **kwargs: Any) -> ProductionVariant:
    kwargs.setdefault("instance_type", "ml.m5.large")
    kwargs.setdefault("model", imported(stack))
    return ProductionVariant(variant_name=name, **kwargs)


def serverless(stack: cdk.Stack, name: str = "only", **kwargs: Any) -> ServerlessVariant:
    kwargs.setdefault("model", imported(stack))
    return ServerlessVariant(variant_name=name, **kwargs)


def build(stack: cdk.Stack | None = None, **kwargs: Any) -> Endpoint:
    stack = stack or cdk.Stack()
    kwargs.setdefault("variants", [variant(stack)])
    return Endpoint(stack, "E", **kwargs)


def guardrails(routing: TrafficRouting, **kwargs: Any) -> DeploymentGuardrails:
    return DeploymentGuardrails(traffic_routing=routing, **kwargs)


def test_valid_endpoint_constructs() -> None:
    assert build().variant_names == ["main"]


# ---------------------------------------------------------------------------- logs


@pytest.mark.parametrize("days", [0, 42, 366])
def test_log_retention_is_a_cloudwatch_logs_value(days: int) -> None:
    with pytest.raises(
        ValueError,
        match=rf"log_retention_days={days}: must be a CloudWatch Logs retention value\. "
        r"Fix: choose one of 1, 3, 5, 7",
    ):
        build(endpoint_name="named", log_retention_days=days)


def test_log_encryption_key_needs_an_endpoint_name() -> None:
    stack = cdk.Stack()
    key = kms.Key.from_key_arn(
        stack, "K", "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000000"
    )
    with pytest.raises(
        ValueError, match=r"log_encryption_key='<kms.IKey>': applies only with endpoint_name"
    ):
        build(stack, log_encryption_key=key)
    # an imported key is taken as it is (its policy must already allow CloudWatch Logs)
    endpoint = Endpoint(
        stack, "Named", variants=[variant(stack)], endpoint_name="named", log_encryption_key=key
    )
    assert endpoint.log_group is not None
    assert endpoint.node.try_find_child("LogKey") is None


def test_log_arguments_are_typed() -> None:
    with pytest.raises(
        ValueError,
        match=r"(?s)log_retention_days='365': must be a whole number .*"
        r"removal_policy=.retain.: must be a member of RemovalPolicy",
    ):
        build(endpoint_name="named", log_retention_days="365", removal_policy="retain")


# ---------------------------------------------------------------------------- names, counts


@pytest.mark.parametrize(
    ("name", "message"),
    [("e" * 64, r"endpoint_name='e{64}': must be at most 63"), ("my_endpoint", r"must match")],
)
def test_endpoint_name(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build(endpoint_name=name)


@pytest.mark.parametrize("count", [0, 11])
def test_1_to_10_variants(count: int) -> None:
    stack = cdk.Stack()
    variants = [variant(stack, f"v{i}") for i in range(count)]
    with pytest.raises(
        ValueError, match=rf"variants='<{count} items>': must hold between 1 and 10"
    ):
        build(stack, variants=variants)


def test_variant_names_unique() -> None:
    stack = cdk.Stack()
    variants = [variant(stack, "a"), variant(stack, "a", model=imported(stack, "other"))]
    with pytest.raises(ValueError, match=r"variant_name=\['a'\]: variant names must be unique"):
        build(stack, variants=variants)


def test_variant_name_pattern() -> None:
    stack = cdk.Stack()
    with pytest.raises(ValueError, match=r"variants\[0\].variant_name='all_traffic': must match"):
        build(stack, variants=[variant(stack, "all_traffic")])


def test_weight_not_negative() -> None:
    stack = cdk.Stack()
    with pytest.raises(ValueError, match=r"initial_variant_weight=-1: must be at least 0"):
        build(stack, variants=[variant(stack, initial_variant_weight=-1)])


def test_weights_not_all_zero() -> None:
    stack = cdk.Stack()
    variants = [
        variant(stack, "a", initial_variant_weight=0),
        variant(stack, "b", initial_variant_weight=0),
    ]
    with pytest.raises(ValueError, match=r"at least one variant needs a weight above 0"):
        build(stack, variants=variants)


# ---------------------------------------------------------------------------- instance variants


@pytest.mark.parametrize(
    "instance_type",
    # forms SageMaker rejects, a notebook-only type, a size that does not exist
    ["m5.large", "ml.m5", "ML.M5.LARGE", "ml.t3.medium", "ml.m5.huge"],
)
def test_instance_type_is_one_sagemaker_hosting_offers(instance_type: str) -> None:
    stack = cdk.Stack()
    with pytest.raises(
        ValueError,
        match=rf"instance_type='{re.escape(instance_type)}': must be a SageMaker hosting "
        r"instance type .*ProductionVariantInstanceType",
    ):
        build(stack, variants=[variant(stack, instance_type=instance_type)])


def test_instance_count_at_least_1() -> None:
    stack = cdk.Stack()
    with pytest.raises(ValueError, match=r"initial_instance_count=0: must be at least 1"):
        build(stack, variants=[variant(stack, initial_instance_count=0)])


@pytest.mark.parametrize("size", [0, 513])
def test_volume_1_to_512_gb(size: int) -> None:
    stack = cdk.Stack()
    with pytest.raises(
        ValueError, match=rf"volume_size_in_gb={size}: must be between 1 and 512 GB"
    ):
        build(stack, variants=[variant(stack, volume_size_in_gb=size)])


def test_no_volume_size_on_local_nvme_types() -> None:
    stack = cdk.Stack()
    with pytest.raises(ValueError, match=r"ml.g4dn.xlarge uses local NVMe storage of a fixed size"):
        build(
            stack, variants=[variant(stack, instance_type="ml.g4dn.xlarge", volume_size_in_gb=50)]
        )


@pytest.mark.parametrize(
    "field", ["container_startup_health_check_timeout", "model_data_download_timeout"]
)
@pytest.mark.parametrize("seconds", [59, 3601])
def test_timeouts_60_to_3600_seconds(field: str, seconds: int) -> None:
    stack = cdk.Stack()
    kwargs: dict[str, Any] = {field: cdk.Duration.seconds(seconds)}
    with pytest.raises(
        ValueError, match=rf"{field}={seconds}: must be between 60 and 3600 seconds"
    ):
        build(stack, variants=[variant(stack, **kwargs)])


def test_no_storage_key_with_local_nvme_types() -> None:
    stack = cdk.Stack()
    key = kms.Key(stack, "K")
    with pytest.raises(
        ValueError, match=r"kms_key=.*SageMaker rejects a storage KmsKeyId .*\(ml.p4d.24xlarge\)"
    ):
        build(stack, variants=[variant(stack, instance_type="ml.p4d.24xlarge")], kms_key=key)


# ---------------------------------------------------------------------------- serverless


@pytest.mark.parametrize("memory", [512, 1500, 7168])
def test_serverless_memory_steps(memory: int) -> None:
    stack = cdk.Stack()
    with pytest.raises(
        ValueError,
        match=rf"memory_size_in_mb={memory}: must be (between 1024 and 6144 MB|1024, 2048)",
    ):
        build(stack, variants=[serverless(stack, memory_size_in_mb=memory)])


@pytest.mark.parametrize("concurrency", [0, 201])
def test_serverless_concurrency_1_to_200(concurrency: int) -> None:
    stack = cdk.Stack()
    with pytest.raises(
        ValueError, match=rf"max_concurrency={concurrency}: must be between 1 and 200"
    ):
        build(stack, variants=[serverless(stack, max_concurrency=concurrency)])


def test_provisioned_concurrency_at_most_max() -> None:
    stack = cdk.Stack()
    with pytest.raises(
        ValueError,
        match=r"provisioned_concurrency, variants\[0\]\.max_concurrency='11 > 10': "
        r"provisioned_concurrency must be at most max_concurrency",
    ):
        build(stack, variants=[serverless(stack, max_concurrency=10, provisioned_concurrency=11)])


def test_serverless_variant_must_be_alone() -> None:
    stack = cdk.Stack()
    with pytest.raises(
        ValueError, match=r"a serverless variant must be the endpoint's only variant"
    ):
        build(stack, variants=[serverless(stack), variant(stack)])


def _model(stack: cdk.Stack, **kwargs: Any) -> Model:
    kwargs.setdefault("containers", [ContainerDefinition(image=ContainerImage.from_registry(DLC))])
    return Model(stack, "Special", **kwargs)


@pytest.mark.parametrize("feature", ["multi-model", "pipeline", "vpc", "isolation"])
def test_serverless_rejects_unsupported_model_features(feature: str) -> None:
    stack = cdk.Stack()
    image = ContainerImage.from_registry(DLC)
    if feature == "multi-model":
        data = ModelData.from_bucket(s3.Bucket.from_bucket_name(stack, "B", "bkt"), "mm/")
        model = _model(
            stack,
            containers=[
                ContainerDefinition(image=image, model_data=data, mode=ContainerMode.MULTI_MODEL)
            ],
        )
        expected = "a multi-model container"
    elif feature == "pipeline":
        model = _model(
            stack, containers=[ContainerDefinition(image=image), ContainerDefinition(image=image)]
        )
        expected = "an inference pipeline"
    elif feature == "vpc":
        vpc = ec2.Vpc.from_vpc_attributes(
            stack,
            "Vpc",
            vpc_id="vpc-1",
            vpc_cidr_block="10.0.0.0/16",
            availability_zones=["a"],
            isolated_subnet_ids=["subnet-1"],
        )
        model = _model(stack, vpc=vpc)
        expected = "a VPC configuration"
    else:
        model = _model(stack, network_isolation=True)
        expected = "network isolation"
    with pytest.raises(ValueError, match=rf"serverless inference does not support {expected}"):
        build(stack, variants=[serverless(stack, model=model)])


# ---------------------------------------------------------------------------- autoscaling


def test_autoscaling_rejects_burstable_types() -> None:
    stack = cdk.Stack()
    scaling = VariantAutoscaling(max_capacity=2, target_invocations_per_instance=100)
    with pytest.raises(
        ValueError,
        match=r"autoscaling, variants\[0\]\.instance_type='ml.t2.medium': Application Auto "
        r"Scaling cannot scale burstable",
    ):
        build(stack, variants=[variant(stack, instance_type="ml.t2.medium", autoscaling=scaling)])


@pytest.mark.parametrize(("low", "initial", "high"), [(3, 2, 4), (1, 5, 4)])
def test_autoscaling_min_initial_max_order(low: int, initial: int, high: int) -> None:
    stack = cdk.Stack()
    scaling = VariantAutoscaling(
        min_capacity=low, max_capacity=high, target_invocations_per_instance=100
    )
    with pytest.raises(
        ValueError, match=r"min_capacity <= initial_instance_count <= max_capacity must hold"
    ):
        build(stack, variants=[variant(stack, initial_instance_count=initial, autoscaling=scaling)])


def test_autoscaling_min_at_least_1() -> None:
    stack = cdk.Stack()
    scaling = VariantAutoscaling(
        min_capacity=0, max_capacity=2, target_invocations_per_instance=100
    )
    with pytest.raises(ValueError, match=r"min_capacity=0: must be at least 1"):
        build(stack, variants=[variant(stack, autoscaling=scaling)])


def test_autoscaling_target_positive() -> None:
    stack = cdk.Stack()
    scaling = VariantAutoscaling(max_capacity=2, target_invocations_per_instance=0)
    with pytest.raises(ValueError, match=r"target_invocations_per_instance=0: must be above 0"):
        build(stack, variants=[variant(stack, autoscaling=scaling)])


# ---------------------------------------------------------------------------- data capture


def _capture(stack: cdk.Stack, **kwargs: Any) -> DataCapture:
    bucket = s3.Bucket.from_bucket_name(stack, "Capture", "capture-bucket")
    return DataCapture(destination_bucket=bucket, **kwargs)


@pytest.mark.parametrize("percentage", [-1, 101])
def test_capture_sampling_0_to_100(percentage: int) -> None:
    stack = cdk.Stack()
    with pytest.raises(
        ValueError, match=rf"sampling_percentage={percentage}: must be between 0 and 100"
    ):
        build(stack, data_capture=_capture(stack, sampling_percentage=percentage))


def test_capture_input_or_output() -> None:
    stack = cdk.Stack()
    with pytest.raises(ValueError, match=r"must capture the input, the output, or both"):
        build(stack, data_capture=_capture(stack, capture_input=False, capture_output=False))


@pytest.mark.parametrize("prefix", ["", "/leading", "trailing/"])
def test_capture_prefix_form(prefix: str) -> None:
    stack = cdk.Stack()
    with pytest.raises(ValueError, match=r"data_capture.prefix=.*must be 1-400 characters"):
        build(stack, data_capture=_capture(stack, prefix=prefix))


def test_no_capture_for_serverless() -> None:
    stack = cdk.Stack()
    with pytest.raises(ValueError, match=r"serverless inference does not support data capture"):
        build(stack, variants=[serverless(stack)], data_capture=_capture(stack))


# ---------------------------------------------------------------------------- guardrails

MINUTE = cdk.Duration.minutes(1)


def test_no_guardrails_for_serverless() -> None:
    stack = cdk.Stack()
    with pytest.raises(
        ValueError, match=r"deployment guardrails do not support serverless variants"
    ):
        build(
            stack,
            variants=[serverless(stack)],
            deployment_guardrails=guardrails(TrafficRouting.all_at_once()),
        )


def test_canary_needs_a_size() -> None:
    routing = TrafficRouting(type=TrafficRoutingType.CANARY, wait_interval=MINUTE)
    with pytest.raises(ValueError, match=r"traffic_routing='CANARY': CANARY needs canary_size"):
        build(deployment_guardrails=guardrails(routing))


def test_linear_needs_a_step_size() -> None:
    routing = TrafficRouting(type=TrafficRoutingType.LINEAR, wait_interval=MINUTE)
    with pytest.raises(
        ValueError, match=r"traffic_routing='LINEAR': LINEAR needs linear_step_size"
    ):
        build(deployment_guardrails=guardrails(routing))


def test_all_at_once_takes_no_size() -> None:
    routing = TrafficRouting(
        type=TrafficRoutingType.ALL_AT_ONCE, canary_size=CapacitySize.capacity_percent(10)
    )
    with pytest.raises(
        ValueError, match=r"canary_size=10: canary_size applies to CANARY only, not ALL_AT_ONCE"
    ):
        build(deployment_guardrails=guardrails(routing))


def test_canary_takes_no_step_size() -> None:
    routing = TrafficRouting(
        type=TrafficRoutingType.CANARY,
        canary_size=CapacitySize.capacity_percent(10),
        linear_step_size=CapacitySize.capacity_percent(10),
        wait_interval=MINUTE,
    )
    with pytest.raises(ValueError, match=r"linear_step_size applies to LINEAR only, not CANARY"):
        build(deployment_guardrails=guardrails(routing))


def test_canary_needs_a_wait_interval() -> None:
    routing = TrafficRouting(
        type=TrafficRoutingType.CANARY, canary_size=CapacitySize.capacity_percent(10)
    )
    with pytest.raises(
        ValueError, match=r"wait_interval=None: CANARY needs the wait between traffic shifts"
    ):
        build(deployment_guardrails=guardrails(routing))


def test_wait_interval_0_to_3600() -> None:
    routing = TrafficRouting.canary(
        CapacitySize.capacity_percent(10), wait_interval=cdk.Duration.seconds(3601)
    )
    with pytest.raises(ValueError, match=r"wait_interval=3601: must be between 0 and 3600 seconds"):
        build(deployment_guardrails=guardrails(routing))


@pytest.mark.parametrize(
    ("routing", "message"),
    [
        (
            TrafficRouting.canary(CapacitySize.capacity_percent(51), wait_interval=MINUTE),
            r"canary_size=51: must be between 1 and 50 %",
        ),
        (
            TrafficRouting.linear(CapacitySize.capacity_percent(5), wait_interval=MINUTE),
            r"linear_step_size=5: must be between 10 and 50 %",
        ),
        (
            TrafficRouting.canary(CapacitySize.instance_count(2), wait_interval=MINUTE),
            r"canary_size, variants\[0\]\.initial_instance_count=2: must be 1-50% of each "
            r"variant's instance count \(variants\[0\] starts with 3\)",
        ),
        (
            TrafficRouting.linear(CapacitySize.instance_count(2), wait_interval=MINUTE),
            r"linear_step_size, variants\[0\]\.initial_instance_count=2: must be 10-50% of "
            r"each variant's instance count",
        ),
    ],
)
def test_capacity_sizes(routing: TrafficRouting, message: str) -> None:
    stack = cdk.Stack()
    with pytest.raises(ValueError, match=message):
        build(
            stack,
            variants=[variant(stack, initial_instance_count=3)],
            deployment_guardrails=guardrails(routing),
        )


def test_capacity_size_value_at_least_1() -> None:
    size = CapacitySize(CapacitySizeType.INSTANCE_COUNT, 0)
    with pytest.raises(ValueError, match=r"canary_size=0: must be at least 1 instances"):
        build(deployment_guardrails=guardrails(TrafficRouting.canary(size, wait_interval=MINUTE)))


def test_termination_wait_0_to_3600() -> None:
    rails = guardrails(TrafficRouting.all_at_once(), termination_wait=cdk.Duration.hours(2))
    with pytest.raises(
        ValueError, match=r"termination_wait=7200: must be between 0 and 3600 seconds"
    ):
        build(deployment_guardrails=rails)


@pytest.mark.parametrize("seconds", [599, 28801])
def test_maximum_execution_timeout_600_to_28800(seconds: int) -> None:
    rails = guardrails(
        TrafficRouting.all_at_once(), maximum_execution_timeout=cdk.Duration.seconds(seconds)
    )
    with pytest.raises(
        ValueError, match=rf"maximum_execution_timeout={seconds}: must be between 600 and 28800"
    ):
        build(deployment_guardrails=rails)


def test_at_most_10_rollback_alarms() -> None:
    stack = cdk.Stack()
    alarms = [
        cloudwatch.Alarm.from_alarm_arn(
            stack, f"A{i}", f"arn:aws:cloudwatch:us-east-1:1:alarm:a{i}"
        )
        for i in range(11)
    ]
    rails = guardrails(TrafficRouting.all_at_once(), rollback_alarms=alarms)
    with pytest.raises(
        ValueError, match=r"rollback_alarms='<11 alarms>': SageMaker watches at most 10 alarms"
    ):
        build(stack, deployment_guardrails=rails)


def test_inf1_cannot_shift_traffic_gradually() -> None:
    stack = cdk.Stack()
    routing = TrafficRouting.canary(CapacitySize.capacity_percent(10), wait_interval=MINUTE)
    with pytest.raises(ValueError, match=r"on Inf1 instances SageMaker ignores traffic shifting"):
        build(
            stack,
            variants=[variant(stack, instance_type="ml.inf1.xlarge")],
            deployment_guardrails=guardrails(routing),
        )


# ---------------------------------------------------------------------------- retention, importer


def test_exclusions_need_retention() -> None:
    with pytest.raises(
        ValueError,
        match=r"update_variant_properties_from_template=\['DesiredWeight'\]: "
        r"only applies when retain_variant_properties",
    ):
        build(
            retain_variant_properties=False,
            update_variant_properties_from_template=[VariantProperty.DESIRED_WEIGHT],
        )


def test_importer_validates_the_name() -> None:
    with pytest.raises(ValueError, match=r"endpoint_name='bad_name': must match"):
        Endpoint.from_endpoint_name(cdk.Stack(), "Old", "bad_name")


def test_tokens_are_skipped() -> None:
    stack = cdk.Stack()
    endpoint = build(
        stack,
        endpoint_name=cdk.Fn.ref("EndpointNameParameter"),
        variants=[
            variant(
                stack,
                cdk.Fn.ref("VariantNameParameter"),
                instance_type=cdk.Fn.ref("InstanceTypeParameter"),
                initial_instance_count=cdk.Token.as_number(cdk.Fn.ref("CountParameter")),
            )
        ],
    )
    assert endpoint.kms_key is not None


def test_every_problem_is_reported_in_one_error() -> None:
    stack = cdk.Stack()
    with pytest.raises(ValueError, match=r"\(5 problems\)") as error:
        build(
            stack,
            endpoint_name="bad_name",
            variants=[variant(stack, "v_1", initial_instance_count=0, volume_size_in_gb=600)],
            data_capture=_capture(stack, sampling_percentage=200),
        )
    message = str(error.value)
    assert message.startswith("Invalid arguments for Endpoint 'E' (5 problems):")
    for argument in (
        "endpoint_name=",
        "variant_name=",
        "initial_instance_count=",
        "volume_size_in_gb=",
        "sampling_percentage=",
    ):
        assert argument in message
