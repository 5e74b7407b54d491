"""Model validation: every rule SageMaker or CloudFormation enforces fails at construction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_s3 as s3

from sagemaker_constructs.model import (
    ContainerDefinition,
    ContainerImage,
    ContainerMode,
    InferenceExecutionMode,
    Model,
    ModelData,
)

DLC = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.16-cpu"


def image() -> ContainerImage:
    return ContainerImage.from_registry(DLC)


def container(**kwargs: Any) -> ContainerDefinition:
    return ContainerDefinition(image=kwargs.pop("image", image()), **kwargs)


def vpc_with(stack: cdk.Stack, subnets: int, cidr: str | None = "10.0.0.0/16") -> ec2.IVpc:
    return ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-0123456789abcdef0",
        vpc_cidr_block=cidr,
        availability_zones=["us-east-1a"],
        isolated_subnet_ids=[f"subnet-{i:017x}" for i in range(subnets)],
    )


def build(**kwargs: Any) -> Model:
    stack = kwargs.pop("stack", None) or cdk.Stack()
    kwargs.setdefault("containers", [container()])
    return Model(stack, "M", **kwargs)


def test_valid_model_constructs() -> None:
    assert build().container_count == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a" * 64, r"model_name='a{64}': must be at most 63 characters"),
        ("bad_name", r"model_name='bad_name': must match"),
        ("-leading", r"model_name='-leading': must match"),
    ],
)
def test_model_name_rules(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build(model_name=name)


@pytest.mark.parametrize("count", [0, 16])
def test_container_count_is_1_to_15(count: int) -> None:
    with pytest.raises(
        ValueError, match=rf"containers='<{count} items>': must hold between 1 and 15"
    ):
        build(containers=[container() for _ in range(count)])


def test_environment_at_most_100_variables() -> None:
    env = {f"V{i}": "x" for i in range(101)}
    with pytest.raises(
        ValueError, match=r"environment='<101 variables>': a container takes at most 100"
    ):
        build(containers=[container(environment=env)])


@pytest.mark.parametrize("key", ["1STARTS_WITH_DIGIT", "HAS-HYPHEN", "A" * 1025])
def test_environment_key_pattern_and_length(key: str) -> None:
    with pytest.raises(
        ValueError, match=r"keys must match \[a-zA-Z_\]\[a-zA-Z0-9_\]\* and be at most 1024"
    ):
        build(containers=[container(environment={key: "x"})])


def test_environment_value_length() -> None:
    with pytest.raises(
        ValueError, match=r"<1025 characters>'?: values must be at most 1024 characters"
    ):
        build(containers=[container(environment={"KEY": "v" * 1025})])


@pytest.mark.parametrize("hostname", ["bad_host", "h" * 64, "-x"])
def test_container_hostname_pattern_and_length(hostname: str) -> None:
    with pytest.raises(
        ValueError,
        match=r"container_hostname=.*must match "
        r"\[a-zA-Z0-9\]\(-\*\[a-zA-Z0-9\]\)\* and be at most 63",
    ):
        build(containers=[container(container_hostname=hostname)])


def test_multi_model_container_must_be_alone() -> None:
    bucket = s3.Bucket.from_bucket_name(cdk.Stack(), "B", "bkt")
    multi = container(
        model_data=ModelData.from_bucket(bucket, "mm/"), mode=ContainerMode.MULTI_MODEL
    )
    with pytest.raises(
        ValueError, match=r"a multi-model container must be the model's only container"
    ):
        build(containers=[multi, container()])


@pytest.mark.parametrize("key", [None, "mm/model.tar.gz"])
def test_multi_model_needs_an_s3_prefix(key: str | None) -> None:
    stack = cdk.Stack()
    data = (
        ModelData.from_bucket(s3.Bucket.from_bucket_name(stack, "B", "bkt"), key) if key else None
    )
    with pytest.raises(ValueError, match=r"a multi-model container needs the S3 prefix"):
        build(stack=stack, containers=[container(model_data=data, mode=ContainerMode.MULTI_MODEL)])


def test_execution_mode_only_for_pipelines() -> None:
    with pytest.raises(
        ValueError, match=r"inference_execution_mode='Serial': applies to inference pipelines"
    ):
        build(inference_execution_mode=InferenceExecutionMode.SERIAL)


def test_direct_mode_needs_every_hostname() -> None:
    with pytest.raises(
        ValueError, match=r"Direct invocation needs a container_hostname on every container"
    ):
        build(
            containers=[container(container_hostname="a"), container()],
            inference_execution_mode=InferenceExecutionMode.DIRECT,
        )


def test_serial_pipeline_hostnames_all_or_none() -> None:
    with pytest.raises(
        ValueError,
        match=r"when one container of a pipeline has a hostname, every container needs one",
    ):
        build(containers=[container(container_hostname="a"), container()])


def test_hostnames_unique() -> None:
    with pytest.raises(ValueError, match=r"container_hostname=\['a'\]: hostnames must be unique"):
        build(containers=[container(container_hostname="a"), container(container_hostname="a")])


def test_vpc_settings_need_a_vpc() -> None:
    with pytest.raises(
        ValueError,
        match=r"vpc=None: vpc_subnets and security_groups apply only to a model in a VPC",
    ):
        build(vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED))


def test_s3_prefix_list_id_needs_a_vpc() -> None:
    with pytest.raises(
        ValueError, match=r"s3_prefix_list_id='pl-63a5400a': applies only to a model in a VPC"
    ):
        build(s3_prefix_list_id="pl-63a5400a")


def test_s3_prefix_list_id_is_a_prefix_list_id() -> None:
    stack = cdk.Stack()
    with pytest.raises(
        ValueError, match=r"s3_prefix_list_id='com.amazonaws.us-east-1.s3': must be a managed"
    ):
        build(stack=stack, vpc=vpc_with(stack, 2), s3_prefix_list_id="com.amazonaws.us-east-1.s3")


def test_s3_prefix_list_id_is_not_added_to_given_groups() -> None:
    stack = cdk.Stack()
    group = ec2.SecurityGroup.from_security_group_id(stack, "G", "sg-0123456789abcdef0")
    with pytest.raises(
        ValueError,
        match=r"s3_prefix_list_id='pl-63a5400a': applies only to the security group the model "
        r"creates",
    ):
        build(
            stack=stack,
            vpc=vpc_with(stack, 2),
            security_groups=[group],
            s3_prefix_list_id="pl-63a5400a",
        )


def test_the_created_group_needs_the_vpc_cidr() -> None:
    stack = cdk.Stack()
    with pytest.raises(
        ValueError,
        match=r"vpc='<VPC imported without vpc_cidr_block>': the security group created here "
        r"allows HTTPS to the VPC's CIDR block only .* Fix: import the VPC with vpc_cidr_block",
    ):
        build(stack=stack, vpc=vpc_with(stack, 2, cidr=None))


def test_given_groups_need_no_vpc_cidr() -> None:
    stack = cdk.Stack()
    group = ec2.SecurityGroup.from_security_group_id(stack, "G", "sg-0123456789abcdef0")
    model = build(stack=stack, vpc=vpc_with(stack, 2, cidr=None), security_groups=[group])
    assert model.security_groups == [group]


def test_at_most_16_subnets() -> None:
    stack = cdk.Stack()
    with pytest.raises(
        ValueError, match=r"vpc_subnets='<17 subnets>': a model's VpcConfig takes 1 to 16 subnets"
    ):
        build(stack=stack, vpc=vpc_with(stack, 17))


@pytest.mark.parametrize("count", [0, 6])
def test_1_to_5_security_groups(count: int) -> None:
    stack = cdk.Stack()
    groups = [
        ec2.SecurityGroup.from_security_group_id(stack, f"G{i}", f"sg-{i:017x}")
        for i in range(count)
    ]
    with pytest.raises(
        ValueError, match=rf"security_groups='<{count} items>': must hold between 1 and 5"
    ):
        build(stack=stack, vpc=vpc_with(stack, 2), security_groups=groups)


@pytest.mark.parametrize("url", ["ftp://bucket/model.tar.gz", "s3:/bucket", "s3://b/" + "k" * 1020])
def test_model_data_url_form(url: str) -> None:
    with pytest.raises(
        ValueError, match=r"model_data=.*must match \(https\|s3\)://bucket/key and be at most 1024"
    ):
        build(containers=[container(model_data=ModelData.from_url(url))])


def test_bucket_key_must_not_start_with_a_slash() -> None:
    stack = cdk.Stack()
    data = ModelData.from_bucket(s3.Bucket.from_bucket_name(stack, "B", "bkt"), "/model.tar.gz")
    with pytest.raises(
        ValueError,
        match=r"model_data.key='/model.tar.gz': "
        r"an S3 key must be 1-1000 characters and not start with '/'",
    ):
        build(stack=stack, containers=[container(model_data=data)])


@pytest.mark.parametrize("uri", ["has space/image:1", "x" * 256])
def test_image_uri_form(uri: str) -> None:
    stack = cdk.Stack()
    with pytest.raises(
        ValueError, match=r"an image URI must be 1-255 characters without whitespace"
    ):
        build(
            stack=stack,
            vpc=vpc_with(stack, 1),
            containers=[container(image=ContainerImage.from_registry(uri))],
        )


def test_ecr_tag_form() -> None:
    stack = cdk.Stack()
    repo = ecr.Repository.from_repository_name(stack, "R", "r")
    with pytest.raises(ValueError, match=r"image.tag='bad tag!': must be an image tag"):
        build(
            stack=stack,
            containers=[container(image=ContainerImage.from_ecr_repository(repo, "bad tag!"))],
        )


def test_asset_image_needs_a_dockerfile(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match=r"image.directory=.*must hold the Dockerfile 'Dockerfile'"
    ):
        build(containers=[container(image=ContainerImage.from_asset(str(tmp_path)))])


def test_asset_model_data_must_be_a_tar_gz(tmp_path: Path) -> None:
    path = tmp_path / "model.zip"
    path.write_bytes(b"zip")
    with pytest.raises(
        ValueError, match=r"model_data.path=.*must be an existing gzip-compressed tar archive"
    ):
        build(containers=[container(model_data=ModelData.from_asset(str(path)))])


def test_private_registry_needs_a_vpc() -> None:
    image = ContainerImage.from_registry("registry.example.com/team/model:1")
    with pytest.raises(
        ValueError,
        match=r"an image outside Amazon ECR must come from a private registry in the model's VPC",
    ):
        build(containers=[container(image=image)])


def test_importer_validates_the_name() -> None:
    with pytest.raises(
        ValueError, match=r"(?s)Invalid arguments for Model 'Old'.*model_name='bad_name'"
    ):
        Model.from_model_name(cdk.Stack(), "Old", "bad_name")


def test_tokens_are_skipped() -> None:
    stack = cdk.Stack()
    name = cdk.Fn.ref("NameParameter")
    value = cdk.Fn.ref("ValueParameter")
    hostname = cdk.Fn.ref("HostnameParameter")
    model = build(
        stack=stack,
        model_name=name,
        containers=[container(environment={"KEY": value}, container_hostname=hostname)],
    )
    assert model.container_count == 1


def test_every_problem_is_reported_in_one_error() -> None:
    with pytest.raises(ValueError, match=r"\(4 problems\)") as error:
        build(
            model_name="bad_name",
            containers=[container(container_hostname="bad_host", environment={"1X": "y"})],
            inference_execution_mode=InferenceExecutionMode.DIRECT,
        )
    message = str(error.value)
    assert message.startswith("Invalid arguments for Model 'M' (4 problems):")
    for argument in (
        "model_name=",
        "container_hostname=",
        "environment['1X']",
        "inference_execution_mode=",
    ):
        assert argument in message
    assert message.count("Fix:") == 4
