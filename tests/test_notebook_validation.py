"""Notebook: every rule SageMaker or CloudFormation enforces fails at construction.

Each test constructs in a fresh stack (no synthesis) and expects one ValueError whose
message names the argument, the value, the rule and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from sagemaker_constructs.notebook import (
    CondaPackages,
    IdleShutdown,
    LifecycleScript,
    Notebook,
    PackageIndex,
    S3Backup,
)

CODE_ARTIFACT = PackageIndex.code_artifact(domain="ml-platform", repository="pypi-store")


def make_vpc(stack: cdk.Stack, **overrides: Any) -> ec2.IVpc:
    attributes: dict[str, Any] = {
        "vpc_id": "vpc-0a1b2c3d4e5f60718",
        "vpc_cidr_block": "10.20.0.0/16",
        "availability_zones": ["us-east-1a"],
        "isolated_subnet_ids": ["subnet-0a1b2c3d4e5f60718"],
    }
    attributes.update(overrides)
    return ec2.Vpc.from_vpc_attributes(stack, "Vpc", **attributes)


def build(**props: Any) -> Notebook:
    """A notebook in a fresh stack, with a VPC unless ``vpc`` is given (or None)."""
    stack = cdk.Stack()
    if "vpc" not in props:
        props["vpc"] = make_vpc(stack)
    return Notebook(stack, "Notebook", **props)


def bucket(stack: cdk.Stack) -> s3.IBucket:
    return s3.Bucket.from_bucket_name(stack, "Bucket", "backups-bucket")


# ---- valid variants ----


def test_direct_internet_access_without_vpc_is_accepted_when_explicit() -> None:
    notebook = build(vpc=None, direct_internet_access=True)
    stack = cdk.Stack.of(notebook)
    assert stack.resolve(notebook.resource.direct_internet_access) == "Enabled"
    assert notebook.resource.subnet_id is None
    assert notebook.security_group is None


def test_every_default_can_be_changed_explicitly() -> None:
    notebook = build(
        root_access=True,
        minimum_instance_metadata_service_version="1",
        platform_identifier="notebook-al2-v3",
    )
    stack = cdk.Stack.of(notebook)
    resource = notebook.resource
    assert stack.resolve(resource.root_access) == "Enabled"
    assert stack.resolve(resource.platform_identifier) == "notebook-al2-v3"
    imds = stack.resolve(resource.instance_metadata_service_configuration)
    assert imds == {"minimumInstanceMetadataServiceVersion": "1"}


def test_grants_to_a_user_role_land_in_that_role() -> None:
    stack = cdk.Stack()
    role = iam.Role(stack, "Own", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    notebook = Notebook(stack, "Notebook", vpc=make_vpc(stack), role=role)
    notebook.grant_read_write_bucket(bucket(stack), "team-a")
    assert notebook.grant_principal is role
    document = stack.resolve(role.node.find_child("DefaultPolicy").document.to_json())  # type: ignore[attr-defined]
    granted = {
        a
        for s in document["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert {"s3:PutObject", "s3:ListBucket", "sagemaker:StopNotebookInstance"} <= granted
    assert not any("*" in a for a in granted)


def test_a_token_name_is_not_validated() -> None:
    notebook = build(notebook_instance_name=cdk.Fn.import_value("NotebookName"))
    assert cdk.Token.is_unresolved(notebook.notebook_instance_name)


# ---- names ----


@pytest.mark.parametrize("argument", ["notebook_instance_name", "lifecycle_config_name"])
def test_name_must_match_the_pattern(argument: str) -> None:
    with pytest.raises(ValueError, match=rf"{argument}='my_notebook': must match \[a-zA-Z0-9\]"):
        build(**{argument: "my_notebook"})


@pytest.mark.parametrize("argument", ["notebook_instance_name", "lifecycle_config_name"])
def test_name_must_be_at_most_63_characters(argument: str) -> None:
    with pytest.raises(
        ValueError, match=rf"{argument}='a{{64}}': must be at most 63 characters \(got 64\)"
    ):
        build(**{argument: "a" * 64})


def test_name_must_not_end_with_a_hyphen() -> None:
    with pytest.raises(ValueError, match=r"notebook_instance_name='research-': must match"):
        build(notebook_instance_name="research-")


# ---- instance ----


@pytest.mark.parametrize(
    "instance_type", ["t3.medium", "ml.t3", "ml.T3.medium", "ml.t3.huge", "ml.m5.huge"]
)
def test_instance_type_is_one_sagemaker_notebooks_offer(instance_type: str) -> None:
    with pytest.raises(
        ValueError,
        match=rf"instance_type='{instance_type}': must be a SageMaker notebook instance type",
    ):
        build(instance_type=instance_type)


@pytest.mark.parametrize("size", [4, 16385])
def test_volume_size_must_be_5_to_16384_gb(size: int) -> None:
    with pytest.raises(
        ValueError, match=rf"volume_size_in_gb={size}: must be between 5 and 16384 GB"
    ):
        build(volume_size_in_gb=size)


def test_elastic_inference_is_rejected_as_retired() -> None:
    with pytest.raises(
        ValueError,
        match=r"accelerator_types=\['ml.eia2.medium'\]: Amazon Elastic Inference .* is retired",
    ):
        build(accelerator_types=["ml.eia2.medium"])


def test_platform_identifier_must_be_one_sagemaker_accepts() -> None:
    with pytest.raises(
        ValueError,
        match=r"platform_identifier='notebook-al2023-v2': must be one of .*notebook-al2023-v1",
    ):
        build(platform_identifier="notebook-al2023-v2")


def test_imds_version_must_be_1_or_2() -> None:
    with pytest.raises(
        ValueError, match=r"minimum_instance_metadata_service_version='3': must be \"1\" or \"2\""
    ):
        build(minimum_instance_metadata_service_version="3")


# ---- network ----


def test_no_direct_internet_access_needs_a_vpc() -> None:
    with pytest.raises(
        ValueError, match=r"vpc=None: is required when direct_internet_access is False"
    ):
        build(vpc=None)


def test_security_groups_need_a_vpc() -> None:
    stack = cdk.Stack()
    group = ec2.SecurityGroup.from_security_group_id(stack, "Group", "sg-12345678")
    with pytest.raises(ValueError, match=r"security_groups='<groups>': need a vpc"):
        Notebook(stack, "Notebook", direct_internet_access=True, security_groups=[group])


def test_subnet_selection_needs_a_vpc() -> None:
    with pytest.raises(ValueError, match=r"vpc_subnets='<selection>': need a vpc"):
        build(
            vpc=None,
            direct_internet_access=True,
            vpc_subnets=ec2.SubnetSelection(subnet_group_name="x"),
        )


@pytest.mark.parametrize("count", [0, 6])
def test_security_groups_must_number_1_to_5(count: int) -> None:
    stack = cdk.Stack()
    groups = [
        ec2.SecurityGroup.from_security_group_id(stack, f"G{i}", f"sg-1234567{i}")
        for i in range(count)
    ]
    with pytest.raises(
        ValueError, match=rf"security_groups='<{count} groups>': must hold between 1 and 5"
    ):
        Notebook(stack, "Notebook", vpc=make_vpc(stack), security_groups=groups)


def test_default_subnets_must_exist() -> None:
    stack = cdk.Stack()
    vpc = make_vpc(stack, isolated_subnet_ids=None, private_subnet_ids=["subnet-0a1b2c3d4e5f60718"])
    with pytest.raises(ValueError, match=r"vpc_subnets='<selection>': selects no subnet"):
        Notebook(stack, "Notebook", vpc=vpc)


def test_vpc_without_cidr_needs_security_groups() -> None:
    stack = cdk.Stack()
    vpc = make_vpc(stack, vpc_cidr_block=None)
    with pytest.raises(ValueError, match=r"vpc='vpc-0a1b2c3d4e5f60718': has no known CIDR block"):
        Notebook(stack, "Notebook", vpc=vpc)


# ---- code repositories ----


@pytest.mark.parametrize(
    "repository", ["http://github.com/org/repo.git", "git@github.com:org/repo.git", "my_repo"]
)
def test_code_repository_must_be_a_name_or_https_url(repository: str) -> None:
    with pytest.raises(
        ValueError, match=r"default_code_repository=.*: must be a SageMaker code repository name"
    ):
        build(default_code_repository=repository)


def test_additional_code_repository_is_validated_too() -> None:
    with pytest.raises(
        ValueError, match=r"additional_code_repositories='ssh://x': must be a SageMaker code"
    ):
        build(additional_code_repositories=["ssh://x"])


def test_at_most_three_additional_code_repositories() -> None:
    with pytest.raises(
        ValueError,
        match=r"additional_code_repositories=\[.*\]: holds at most 3 repositories \(got 4\)",
    ):
        build(additional_code_repositories=["a", "b", "c", "d"])


def test_code_repositories_must_not_repeat() -> None:
    with pytest.raises(
        ValueError, match=r"additional_code_repositories=\['shared'\]: must not repeat a repository"
    ):
        build(default_code_repository="shared", additional_code_repositories=["other", "shared"])


# ---- lifecycle scripts ----


def test_script_over_the_base64_limit_reports_its_size() -> None:
    script = "#" * 12300  # 12,300 bytes + the header: over 16,384 base64 characters
    with pytest.raises(
        ValueError,
        match=r"on_create='<script of 12[0-9]{3} bytes>': is 16[0-9]{3} characters once "
        r"base64-encoded, over SageMaker's limit of 16384",
    ):
        build(on_create=LifecycleScript.from_string(script))


def test_script_just_under_the_limit_is_accepted() -> None:
    notebook = build(on_create=LifecycleScript.from_string("#" * 12200))
    assert notebook.lifecycle_config_name is not None


def test_built_in_pieces_count_towards_the_limit() -> None:
    user = "#" * 9000  # fits alone, not with the idle shutdown, conda and backup pieces
    build(on_start=LifecycleScript.from_string(user), idle_shutdown=IdleShutdown.disabled())
    with pytest.raises(
        ValueError,
        match=r"on_start='<script of [0-9]+ bytes>': is [0-9]+ characters once "
        r"base64-encoded.*built-in pieces included",
    ):
        build(on_start=LifecycleScript.from_string(user))


def test_script_must_not_be_empty() -> None:
    with pytest.raises(ValueError, match=r"on_start=' \\n': must not be empty"):
        build(on_start=LifecycleScript.from_string(" \n"))


def test_script_must_use_unix_line_endings() -> None:
    with pytest.raises(
        ValueError, match=r"on_create='<script with CR characters>': must use Unix line endings"
    ):
        build(on_create=LifecycleScript.from_string("echo hi\r\n"))


def test_script_file_must_be_readable(tmp_path: Path) -> None:
    missing = tmp_path / "missing.sh"
    with pytest.raises(ValueError, match=r"on_create='.*missing.sh': cannot be read"):
        build(on_create=LifecycleScript.from_file(missing))


def test_script_from_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "start.sh"
    path.write_text("echo from-file\n")
    notebook = build(on_start=LifecycleScript.from_file(path))
    assert notebook.lifecycle_config_name is not None


# ---- idle shutdown ----


@pytest.mark.parametrize(
    "idle", [cdk.Duration.minutes(5), cdk.Duration.days(8), cdk.Duration.seconds(630)]
)
def test_idle_time_must_be_whole_minutes_from_10_to_10080(idle: cdk.Duration) -> None:
    with pytest.raises(
        ValueError,
        match=r"idle_shutdown.idle_time='[0-9.]+ minutes': "
        r"must be whole minutes between 10 and 10080",
    ):
        build(idle_shutdown=IdleShutdown(idle_time=idle))


# ---- conda packages ----


def test_packages_must_not_be_empty() -> None:
    with pytest.raises(ValueError, match=r"conda_packages.packages=\[\]: must not be empty"):
        build(conda_packages=CondaPackages([], index=CODE_ARTIFACT))


@pytest.mark.parametrize(
    "package", ["scikit-learn", "xgboost>=2.0", "numpy==", "==1.0", "lightgbm = 4.5.0"]
)
def test_packages_must_be_pinned(package: str) -> None:
    with pytest.raises(
        ValueError, match=r"conda_packages.packages='.*': must be pinned as name==version"
    ):
        build(conda_packages=CondaPackages([package], index=CODE_ARTIFACT))


def test_pins_with_extras_are_accepted() -> None:
    build(
        conda_packages=CondaPackages(
            ["ray[tune]==2.9.0", "scikit-learn==1.5.2"], index=CODE_ARTIFACT
        )
    )


def test_packages_must_be_named_once() -> None:
    with pytest.raises(
        ValueError, match=r"conda_packages.packages=\['scikit-learn'\]: must name each package once"
    ):
        build(
            conda_packages=CondaPackages(
                ["scikit-learn==1.5.2", "scikit_learn==1.4.0"], index=CODE_ARTIFACT
            )
        )


def test_environment_name_is_validated() -> None:
    with pytest.raises(
        ValueError, match=r"conda_packages.environment='my env': must be a conda environment name"
    ):
        build(
            conda_packages=CondaPackages(
                ["xgboost==2.1.1"], environment="my env", index=CODE_ARTIFACT
            )
        )


def test_an_index_is_required_without_direct_internet_access() -> None:
    with pytest.raises(
        ValueError,
        match=r"conda_packages.index=None: is required when direct_internet_access is False"
        r".*PackageIndex.code_artifact",
    ):
        build(conda_packages=CondaPackages(["xgboost==2.1.1"]))


def test_no_index_is_needed_with_direct_internet_access() -> None:
    notebook = build(
        vpc=None, direct_internet_access=True, conda_packages=CondaPackages(["xgboost==2.1.1"])
    )
    assert notebook.lifecycle_config_name is not None


def test_index_url_must_be_https() -> None:
    with pytest.raises(
        ValueError,
        match=r"conda_packages.index.url='http://mirror/simple': must be an https:// URL",
    ):
        build(
            conda_packages=CondaPackages(
                ["xgboost==2.1.1"], index=PackageIndex.from_url("http://mirror/simple")
            )
        )


@pytest.mark.parametrize(
    ("index", "argument"),
    [
        (PackageIndex.code_artifact(domain="ML", repository="pypi-store"), "domain"),
        (PackageIndex.code_artifact(domain="ml", repository="p"), "repository"),
        (
            PackageIndex.code_artifact(domain="ml", repository="pypi", domain_owner="1234"),
            "domain_owner",
        ),
    ],
)
def test_code_artifact_names_are_validated(index: PackageIndex, argument: str) -> None:
    with pytest.raises(ValueError, match=rf"conda_packages.index.{argument}='.*': must be"):
        build(conda_packages=CondaPackages(["xgboost==2.1.1"], index=index))


# ---- backup ----


@pytest.mark.parametrize("prefix", ["/backups", "backups/", "a//b", "with space"])
def test_backup_prefix_is_validated(prefix: str) -> None:
    stack = cdk.Stack()
    with pytest.raises(ValueError, match=r"s3_backup.prefix='.*': must be an S3 key prefix"):
        Notebook(
            stack, "Notebook", vpc=make_vpc(stack), s3_backup=S3Backup(bucket(stack), prefix=prefix)
        )


@pytest.mark.parametrize(
    "interval",
    [
        cdk.Duration.minutes(7),
        cdk.Duration.minutes(90),
        cdk.Duration.hours(5),
        cdk.Duration.minutes(2),
    ],
)
def test_backup_interval_must_fit_a_cron_schedule(interval: cdk.Duration) -> None:
    stack = cdk.Stack()
    with pytest.raises(
        ValueError,
        match=r"s3_backup.interval='[0-9]+ minutes': must be 5, 10, 15, 20 or 30 minutes",
    ):
        Notebook(
            stack,
            "Notebook",
            vpc=make_vpc(stack),
            s3_backup=S3Backup(bucket(stack), interval=interval),
        )


# ---- grants ----


def test_grant_prefix_is_validated() -> None:
    notebook = build()
    with pytest.raises(ValueError, match=r"prefix='/x/': must be an S3 key prefix"):
        notebook.grant_read_write_bucket(bucket(cdk.Stack.of(notebook)), "/x/")


def test_pipeline_arn_is_validated() -> None:
    notebook = build()
    with pytest.raises(
        ValueError,
        match=r"pipeline='arn:aws:sagemaker:us-east-1:111111111111:endpoint/x': "
        r"must be a SageMaker pipeline ARN",
    ):
        notebook.grant_start_pipeline("arn:aws:sagemaker:us-east-1:111111111111:endpoint/x")


def test_endpoint_arn_is_validated() -> None:
    notebook = build()
    with pytest.raises(
        ValueError, match=r"endpoint='classifier': must be a SageMaker endpoint ARN"
    ):
        notebook.grant_invoke_endpoint("classifier")


# ---- all together ----


def test_every_problem_is_reported_in_one_error() -> None:
    with pytest.raises(ValueError, match=r"\(8 problems\)") as error:
        build(
            vpc=None,
            notebook_instance_name="bad_name",
            instance_type="t3.medium",
            volume_size_in_gb=2,
            accelerator_types=["ml.eia1.medium"],
            additional_code_repositories=["a", "b", "c", "d"],
            conda_packages=CondaPackages(["pandas"]),
        )
    message = str(error.value)
    assert message.startswith("Invalid arguments for Notebook 'Notebook' (8 problems):")
    for argument in (
        "notebook_instance_name=",
        "instance_type=",
        "volume_size_in_gb=",
        "accelerator_types=",
        "additional_code_repositories=",
        "vpc=None",
        "conda_packages.packages=",
        "conda_packages.index=None",
    ):
        assert f"\n  - {argument}" in message, argument
    assert message.count("Fix: ") == 8


def test_nothing_is_created_when_validation_fails() -> None:
    stack = cdk.Stack()
    with pytest.raises(ValueError, match=r"volume_size_in_gb=1: must be between"):
        Notebook(stack, "Notebook", vpc=make_vpc(stack), volume_size_in_gb=1)
    notebook = stack.node.find_child("Notebook")
    assert notebook.node.children == []


def test_an_empty_subnet_selection_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"vpc_subnets='<selection>': selects no subnet"):
        build(vpc_subnets=ec2.SubnetSelection(subnets=[]))
