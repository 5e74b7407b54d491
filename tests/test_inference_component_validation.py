"""ComponentEndpoint and InferenceComponent validation: each rule fails at construction."""

from __future__ import annotations

import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match

from sagemaker_constructs._validation import InvalidArgumentsError
from sagemaker_constructs.component_endpoint import (
    ComponentEndpoint,
    ComponentVariant,
    ManagedInstanceScaling,
)
from sagemaker_constructs.inference_component import (
    ComponentContainer,
    ComputeRequirements,
    CopyCapacity,
    CopyScaling,
    InferenceComponent,
    RollingUpdate,
)
from sagemaker_constructs.model import (
    ContainerDefinition,
    ContainerImage,
    ContainerMode,
    Model,
    ModelData,
)

ECR_IMAGE = "111111111111.dkr.ecr.us-east-1.amazonaws.com/server:1"


def variant(name: str = "main", **kwargs: Any) -> ComponentVariant:
    kwargs.setdefault("instance_type", "ml.m5.xlarge")
    return ComponentVariant(variant_name=name, **kwargs)


def endpoint(stack: cdk.Stack | None = None, **kwargs: Any) -> ComponentEndpoint:
    stack = stack or cdk.Stack()
    kwargs.setdefault("variants", [variant()])
    return ComponentEndpoint(stack, f"E{len(stack.node.children)}", **kwargs)


def component(**kwargs: Any) -> InferenceComponent:
    stack = kwargs.pop("stack", None) or cdk.Stack()
    target = kwargs.pop("endpoint", None) or endpoint(
        stack, variants=kwargs.pop("variants", None) or [variant()]
    )
    kwargs.setdefault("variant_name", "main")
    kwargs.setdefault("compute", ComputeRequirements(min_memory_required_in_mb=1024))
    if "model" not in kwargs and "container" not in kwargs:
        kwargs["model"] = Model.from_model_name(stack, "Imported", "existing")
    return InferenceComponent(stack, "C", endpoint=target, **kwargs)


def container(**kwargs: Any) -> ComponentContainer:
    kwargs.setdefault("image", ContainerImage.from_registry(ECR_IMAGE))
    return ComponentContainer(**kwargs)


def fails(match: str) -> Any:
    return pytest.raises(InvalidArgumentsError, match=match)


def test_valid_arguments_construct() -> None:
    name = component().inference_component_name
    assert re.fullmatch(r"C-[0-9a-f]{8}", name)


def test_an_error_names_argument_value_rule_and_fix() -> None:
    with pytest.raises(InvalidArgumentsError) as raised:
        component(copy_count=-1)
    assert str(raised.value) == (
        "Invalid arguments for InferenceComponent 'C' (1 problem):\n"
        "  - copy_count=-1: must be at least 0. Fix: choose a value in range."
    )
    problem = raised.value.problems[0]
    assert (problem.argument, problem.value) == ("copy_count", -1)


def test_types_are_checked_at_run_time() -> None:
    with fails(r"copy_count='2': must be a whole number \(int\); got str"):
        component(copy_count="2")
    with fails(r"min_instance_count=1.5: must be a whole number"):
        ManagedInstanceScaling(min_instance_count=1.5, max_instance_count=2)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- endpoint


@pytest.mark.parametrize("name", ["has_underscore", "-leading", "x" * 64])
def test_endpoint_name_is_a_sagemaker_name(name: str) -> None:
    with fails(rf"endpoint_name='{name}'"):
        endpoint(endpoint_name=name)


def test_importer_checks_the_name() -> None:
    with fails(r"endpoint_name='bad name'"):
        ComponentEndpoint.from_endpoint_name(cdk.Stack(), "I", "bad name")


@pytest.mark.parametrize("count", [0, 11])
def test_one_to_ten_variants(count: int) -> None:
    with fails(rf"variants='<{count} items>': must hold between 1 and 10 items"):
        endpoint(variants=[variant(f"v{i}") for i in range(count)])


def test_variant_names_are_unique() -> None:
    with fails(r"variants\[\*\].variant_name=\['a'\]: variant names must be unique"):
        endpoint(variants=[variant("a"), variant("a")])


def test_variant_name_is_a_sagemaker_name() -> None:
    with fails(r"variants\[0\].variant_name='a_b'"):
        endpoint(variants=[variant("a_b")])


def test_instance_type_is_a_hosting_type() -> None:
    with fails(r"variants\[0\].instance_type='ml.t3.medium': must be a SageMaker hosting"):
        endpoint(variants=[variant(instance_type="ml.t3.medium")])


def test_initial_instance_count_at_least_one() -> None:
    with fails(r"variants\[0\].initial_instance_count=0: must be at least 1"):
        endpoint(variants=[variant(initial_instance_count=0)])


def test_volume_size_range() -> None:
    with fails(r"variants\[0\].volume_size_in_gb=600: must be between 1 and 512 GB"):
        endpoint(variants=[variant(volume_size_in_gb=600)])


def test_no_volume_size_on_local_nvme_types() -> None:
    with fails(r"ml.g5.xlarge uses local NVMe storage of a fixed size"):
        endpoint(variants=[variant(instance_type="ml.g5.xlarge", volume_size_in_gb=50)])


def test_no_kms_key_on_local_nvme_types() -> None:
    stack = cdk.Stack()
    key = kms.Key(stack, "K")
    with fails(r"kms_key='<kms.IKey>': SageMaker rejects a storage KmsKeyId .*ml.g5.xlarge"):
        endpoint(stack, variants=[variant(instance_type="ml.g5.xlarge")], kms_key=key)


def test_managed_instance_scaling_ranges() -> None:
    with fails(r"min_instance_count=-1: must be at least 0") as raised:
        endpoint(
            variants=[
                variant(
                    managed_instance_scaling=ManagedInstanceScaling(
                        min_instance_count=-1, max_instance_count=0
                    )
                )
            ]
        )
    assert "max_instance_count=0: must be at least 1" in str(raised.value)


@pytest.mark.parametrize(("low", "initial", "high"), [(2, 1, 4), (1, 5, 4), (3, 3, 2)])
def test_initial_count_within_managed_scaling(low: int, initial: int, high: int) -> None:
    scaling = ManagedInstanceScaling(min_instance_count=low, max_instance_count=high)
    with fails(r"min_instance_count <= initial_instance_count <= max_instance_count must hold"):
        endpoint(
            variants=[variant(initial_instance_count=initial, managed_instance_scaling=scaling)]
        )


# ---------------------------------------------------------------------------- component


def test_component_name_is_a_sagemaker_name() -> None:
    with fails(r"inference_component_name='my_component'"):
        component(inference_component_name="my_component")


def test_variant_must_be_one_of_the_endpoints() -> None:
    with fails(r"variant_name='other': must be a variant of the endpoint \(main\)"):
        component(variant_name="other")


def test_an_imported_endpoint_takes_any_variant_name() -> None:
    stack = cdk.Stack()
    imported = ComponentEndpoint.from_endpoint_name(stack, "I", "shared")
    assert component(stack=stack, endpoint=imported, variant_name="AllTraffic")


def test_a_model_or_a_container_not_both() -> None:
    with fails(r"model, container=None: a component runs either a SageMaker model"):
        InferenceComponent(
            cdk.Stack(),
            "C",
            endpoint=endpoint(),
            variant_name="main",
            compute=ComputeRequirements(min_memory_required_in_mb=1024),
        )
    stack = cdk.Stack()
    with fails(r"model, container='<both>'"):
        component(
            stack=stack,
            model=Model.from_model_name(stack, "M", "existing"),
            container=container(),
        )


def _model(stack: cdk.Stack, containers: list[ContainerDefinition]) -> Model:
    return Model(stack, "M", containers=containers)


def test_a_pipeline_model_is_rejected() -> None:
    stack = cdk.Stack()
    image = ContainerImage.from_registry(ECR_IMAGE)
    pipeline = _model(stack, [ContainerDefinition(image=image), ContainerDefinition(image=image)])
    with fails(r"model='Default/M': an inference component hosts a model of one single-model"):
        component(stack=stack, model=pipeline)


def test_a_multi_model_container_is_rejected() -> None:
    stack = cdk.Stack()
    bucket = s3.Bucket.from_bucket_name(stack, "B", "models")
    multi = _model(
        stack,
        [
            ContainerDefinition(
                image=ContainerImage.from_registry(ECR_IMAGE),
                model_data=ModelData.from_bucket(bucket, "many/"),
                mode=ContainerMode.MULTI_MODEL,
            )
        ],
    )
    with fails(r"an inference component hosts a model of one single-model container"):
        component(stack=stack, model=multi)


def test_the_container_image_comes_from_ecr() -> None:
    with fails(r"container.image='docker.io/library/nginx:1': .* must be in Amazon ECR"):
        component(
            container=container(image=ContainerImage.from_registry("docker.io/library/nginx:1"))
        )


@pytest.mark.parametrize(
    ("key", "description"),
    [
        ("models/", r"s3://<bucket>/models/"),
        ("models/model.zip", r"s3://<bucket>/models/model.zip"),
    ],
)
def test_artifacts_are_one_tar_gz(key: str, description: str) -> None:
    stack = cdk.Stack()
    bucket = s3.Bucket.from_bucket_name(stack, "B", "models")
    with fails(rf"container.artifacts='{description}': ArtifactUrl must name one gzip"):
        component(stack=stack, container=container(artifacts=ModelData.from_bucket(bucket, key)))


def test_an_artifact_url_must_end_with_tar_gz() -> None:
    with fails(r"container.artifacts='s3://b/model.bin': ArtifactUrl must name one gzip"):
        component(container=container(artifacts=ModelData.from_url("s3://b/model.bin")))


def test_at_most_16_environment_variables() -> None:
    environment = {f"VAR_{i}": "x" for i in range(17)}
    with fails(r"container.environment='<17 variables>': .* at most 16 environment"):
        component(container=container(environment=environment))


def test_environment_keys_follow_cloudformations_pattern() -> None:
    with fails(r"container.environment\['A'\]='A': keys must match"):
        component(container=container(environment={"A": "1"}))
    with fails(r"container.environment\['1X'\]='1X': keys must match"):
        component(container=container(environment={"1X": "1"}))


def test_environment_values_at_most_1024_characters() -> None:
    with fails(r"container.environment\['LONG'\]='<1025 characters>'"):
        component(container=container(environment={"LONG": "x" * 1025}))


# ---------------------------------------------------------------------------- compute


def test_memory_at_least_128_mb() -> None:
    with fails(r"compute.min_memory_required_in_mb=64: must be at least 128"):
        component(compute=ComputeRequirements(min_memory_required_in_mb=64))
    with fails(r"compute.max_memory_required_in_mb=100: must be at least 128"):
        component(
            compute=ComputeRequirements(
                min_memory_required_in_mb=128, max_memory_required_in_mb=100
            )
        )


def test_max_memory_at_least_min_memory() -> None:
    with fails(r"compute.max_memory_required_in_mb=1024: must be at least min_memory_required"):
        component(
            compute=ComputeRequirements(
                min_memory_required_in_mb=2048, max_memory_required_in_mb=1024
            )
        )


def test_cpu_cores_at_least_a_quarter() -> None:
    with fails(r"compute.number_of_cpu_cores_required=0.1: must be at least 0.25 cores"):
        component(
            compute=ComputeRequirements(
                min_memory_required_in_mb=1024, number_of_cpu_cores_required=0.1
            )
        )


def test_accelerators_at_least_one() -> None:
    variants = [variant(instance_type="ml.g5.xlarge")]
    with fails(r"compute.number_of_accelerator_devices_required=0: must be at least 1"):
        component(
            variants=variants,
            compute=ComputeRequirements(
                min_memory_required_in_mb=1024, number_of_accelerator_devices_required=0
            ),
        )


def test_accelerators_need_an_accelerated_instance_type() -> None:
    with fails(r"the variant's instance type ml.m5.xlarge has no accelerator"):
        component(
            compute=ComputeRequirements(
                min_memory_required_in_mb=1024, number_of_accelerator_devices_required=1
            )
        )


@pytest.mark.parametrize("instance_type", ["ml.g5.xlarge", "ml.p4d.24xlarge", "ml.inf2.xlarge"])
def test_accelerated_instance_types_take_accelerators(instance_type: str) -> None:
    assert component(
        variants=[variant(instance_type=instance_type)],
        compute=ComputeRequirements(
            min_memory_required_in_mb=1024, number_of_accelerator_devices_required=1
        ),
    )


# ---------------------------------------------------------------------------- copies, startup


def test_copy_count_at_least_zero() -> None:
    with fails(r"copy_count=-1: must be at least 0"):
        component(copy_count=-1)


@pytest.mark.parametrize(
    ("argument", "duration", "message"),
    [
        ("container_startup_health_check_timeout", cdk.Duration.seconds(59), "must be between 60"),
        ("model_data_download_timeout", cdk.Duration.seconds(3601), "must be between 60"),
        ("model_data_download_timeout", cdk.Duration.millis(90500), "whole number of seconds"),
    ],
)
def test_startup_timeouts(argument: str, duration: cdk.Duration, message: str) -> None:
    with fails(rf"{argument}=.*{message}"):
        component(**{argument: duration})


# ---------------------------------------------------------------------------- rolling update


def update(**kwargs: Any) -> RollingUpdate:
    kwargs.setdefault("maximum_batch_size", CopyCapacity.capacity_percent(10))
    kwargs.setdefault("wait_interval", cdk.Duration.minutes(1))
    return RollingUpdate(**kwargs)


@pytest.mark.parametrize("percent", [4, 51])
def test_batch_percent_between_5_and_50(percent: int) -> None:
    with fails(rf"rolling_update.maximum_batch_size={percent}: must be between 5 and 50 %"):
        component(rolling_update=update(maximum_batch_size=CopyCapacity.capacity_percent(percent)))


def test_batch_of_copies_at_most_half() -> None:
    with fails(
        r"rolling_update.maximum_batch_size, copy_count=3: a batch may replace at most half"
    ):
        component(
            copy_count=4, rolling_update=update(maximum_batch_size=CopyCapacity.copy_count(3))
        )
    with fails(r"rolling_update.maximum_batch_size=0: must be at least 1 copies"):
        component(rolling_update=update(maximum_batch_size=CopyCapacity.copy_count(0)))


def test_one_copy_is_always_a_valid_batch() -> None:
    assert component(
        copy_count=1, rolling_update=update(maximum_batch_size=CopyCapacity.copy_count(1))
    )


def test_rollback_batch() -> None:
    with fails(r"rolling_update.rollback_maximum_batch_size=101: must be between 1 and 100"):
        component(
            rolling_update=update(rollback_maximum_batch_size=CopyCapacity.capacity_percent(101))
        )
    with fails(r"rolling_update.rollback_maximum_batch_size=0: must be at least 1"):
        component(rolling_update=update(rollback_maximum_batch_size=CopyCapacity.copy_count(0)))


def test_wait_interval_and_timeout_ranges() -> None:
    with fails(r"rolling_update.wait_interval=.*must be between 0 and 3600 seconds") as raised:
        component(
            rolling_update=update(
                wait_interval=cdk.Duration.seconds(3601),
                maximum_execution_timeout=cdk.Duration.seconds(599),
            )
        )
    assert "rolling_update.maximum_execution_timeout" in str(raised.value)
    assert "must be between 600 and 28800 seconds" in str(raised.value)


def test_at_most_ten_rollback_alarms() -> None:
    stack = cdk.Stack()
    alarms = [
        cloudwatch.Alarm.from_alarm_arn(
            stack, f"A{i}", f"arn:aws:cloudwatch:us-east-1:111111111111:alarm:a{i}"
        )
        for i in range(11)
    ]
    with fails(r"rolling_update.rollback_alarms='<11 alarms>': SageMaker watches at most 10"):
        component(stack=stack, rolling_update=update(rollback_alarms=alarms))


# ---------------------------------------------------------------------------- scaling


def scaling(**kwargs: Any) -> CopyScaling:
    kwargs.setdefault("max_copies", 4)
    kwargs.setdefault("target_invocations_per_copy", 10)
    return CopyScaling(**kwargs)


def test_scaling_capacities() -> None:
    with fails(r"scaling.min_copies=-1: must be at least 0 copies") as raised:
        component(scaling=scaling(min_copies=-1, max_copies=0))
    assert "scaling.max_copies=0: must be at least 1 copies" in str(raised.value)


@pytest.mark.parametrize(("low", "count", "high"), [(2, 1, 4), (0, 5, 4)])
def test_copy_count_within_scaling(low: int, count: int, high: int) -> None:
    with fails(r"min_copies <= copy_count <= max_copies must hold"):
        component(copy_count=count, scaling=scaling(min_copies=low, max_copies=high))


def test_target_above_zero() -> None:
    with fails(r"scaling.target_invocations_per_copy=0: must be above 0"):
        component(scaling=scaling(target_invocations_per_copy=0))


def test_cooldowns_within_a_day() -> None:
    with fails(r"scaling.scale_in_cooldown=86401: must be between 0 and 86400 seconds"):
        component(scaling=scaling(scale_in_cooldown=cdk.Duration.seconds(86401)))


def test_scale_to_zero_without_instance_scale_to_zero_warns() -> None:
    stack = cdk.Stack()
    component(stack=stack, scaling=scaling(min_copies=0))
    warnings = Annotations.from_stack(stack).find_warning(
        "*", Match.string_like_regexp("sagemaker-constructs:component-scale-to-zero")
    )
    assert [w.id for w in warnings] == ["/Default/C"]


def test_scale_to_zero_with_instance_scale_to_zero_does_not_warn() -> None:
    stack = cdk.Stack()
    managed = ManagedInstanceScaling(min_instance_count=0, max_instance_count=2)
    component(
        stack=stack,
        variants=[variant(managed_instance_scaling=managed)],
        scaling=scaling(min_copies=0),
    )
    warnings = Annotations.from_stack(stack).find_warning(
        "*", Match.string_like_regexp("component-scale-to-zero")
    )
    assert warnings == []


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidArgumentsError) as raised:
        component(
            copy_count=-1,
            inference_component_name="bad_name",
            compute=ComputeRequirements(min_memory_required_in_mb=1),
        )
    assert re.search(r"\(3 problems\)", str(raised.value))


def test_fails_when_the_log_retention_is_not_a_cloudwatch_logs_value() -> None:
    with fails(r"log_retention_days=366: must be a CloudWatch Logs retention value"):
        endpoint(log_retention_days=366)
    with fails(r"log_retention_days=2: must be a CloudWatch Logs retention value"):
        component(log_retention_days=2)
