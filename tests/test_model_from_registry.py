"""A Model from the registry: a container that serves a model package, of this account or
another, with a role that may read the package, its artifacts and its image.

One app for the whole module (synth with the four cdk-nag packs is the slow part).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template
from cdk_testing import cfn_lint
from moto import mock_aws

from sagemaker_constructs.compliance import add_compliance_checks
from sagemaker_constructs.model import (
    MODEL_PACKAGE_ARN,
    ContainerDefinition,
    ContainerImage,
    ContainerMode,
    Model,
    ModelData,
    ModelPackage,
)
from sagemaker_constructs.model_package_group import ModelPackageGroup

REGISTRY = "111111111111"
PROD = "333333333333"
REGION = "us-east-1"
ENV = cdk.Environment(account=PROD, region=REGION)
PACKAGE = f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package/churn-models/7"
ARTIFACTS_KEY = f"arn:aws:kms:{REGION}:{REGISTRY}:key/0b7e2c1a-3f4d-4e5f-8a9b-0c1d2e3f4a5b"
REPOSITORY = f"arn:aws:ecr:{REGION}:{REGISTRY}:repository/churn-inference"
DLC = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.16-cpu"


class Synthesized:
    def __init__(self, stack: cdk.Stack, models: dict[str, Model], template: dict[str, Any]):
        self.stack = stack
        self.models = models
        self.json = template
        self.template = Template.from_json(template)

    def props(self, name: str) -> dict[str, Any]:
        logical_id = self.stack.get_logical_id(self.models[name].resource)
        return self.json["Resources"][logical_id]["Properties"]  # type: ignore[no-any-return]

    def statements(self, name: str) -> list[dict[str, Any]]:
        scoped = self.models[name]._scoped
        assert scoped is not None
        policy_id = self.stack.get_logical_id(scoped.policy.node.default_child)  # type: ignore[arg-type]
        return self.json["Resources"][policy_id]["Properties"]["PolicyDocument"]["Statement"]  # type: ignore[no-any-return]

    def granted(self, name: str, action: str) -> list[str]:
        """The resources (flattened to text) ``action`` is allowed on."""
        return [
            flatten(resource)
            for s in self.statements(name)
            if action in _actions(s)
            for resource in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
        ]


def flatten(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        delimiter, parts = value["Fn::Join"]
        return str(delimiter).join(flatten(p) for p in parts)
    if value == {"Ref": "AWS::Partition"}:
        return "aws"
    return json.dumps(value)


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """GIVEN a prod account's stack with models served from registry packages (another
    account's, with its artifacts, key and image; this app's group; a pipeline mixing an
    image and a package), WHEN it is synthesized with every check."""
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("registry-models") / "cdk.out"))
    stack = cdk.Stack(app, "Prod", env=ENV)
    add_compliance_checks(app)

    artifacts = s3.Bucket.from_bucket_name(stack, "Artifacts", "registry-artifacts")
    key = kms.Key.from_key_arn(stack, "ArtifactsKey", ARTIFACTS_KEY)
    repository = ecr.Repository.from_repository_arn(stack, "Repository", REPOSITORY)
    local = ModelPackageGroup(stack, "Local", model_package_group_name="Local-Models")

    models = {
        "cross_account": Model(
            stack,
            "CrossAccount",
            containers=[
                ContainerDefinition.from_model_package(
                    PACKAGE,
                    artifacts_bucket=artifacts,
                    artifacts_key="churn-models/7/",
                    artifacts_encryption_key=key,
                    image_repository=repository,
                    environment={"LOG_LEVEL": "INFO"},
                    container_hostname="churn",
                )
            ],
        ),
        "local": Model(
            stack,
            "LocalPackage",
            containers=[ContainerDefinition.from_model_package(local.package_arn(3))],
        ),
        "mixed_case": Model(
            stack,
            "MixedCase",
            containers=[
                ContainerDefinition.from_model_package(
                    f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package/Churn-Models/2",
                    artifacts_bucket=artifacts,
                    artifacts_key="churn-models/2/model.tar.gz",
                    inference_specification_name="cpu",
                )
            ],
        ),
        "pipeline": Model(
            stack,
            "Pipeline",
            containers=[
                ContainerDefinition(
                    image=ContainerImage.from_registry(DLC), container_hostname="pre"
                ),
                ContainerDefinition.from_model_package(PACKAGE, container_hostname="churn"),
            ],
        ),
        "unversioned": Model(
            stack,
            "Unversioned",
            containers=[
                ContainerDefinition(
                    model_package=ModelPackage(
                        f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package/scorer"
                    )
                )
            ],
        ),
    }
    assembly = app.synth()  # raises on any unacknowledged cdk-nag finding
    return Synthesized(stack, models, assembly.get_stack_by_name("Prod").template)


# ---------------------------------------------------------------------------- containers


def test_the_container_names_the_package_and_nothing_the_package_defines(
    synth: Synthesized,
) -> None:
    assert synth.props("cross_account")["PrimaryContainer"] == {
        "ModelPackageName": PACKAGE,
        "Environment": {"LOG_LEVEL": "INFO"},
        "ContainerHostname": "churn",
    }
    assert synth.props("unversioned")["PrimaryContainer"] == {
        "ModelPackageName": f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package/scorer"
    }


def test_a_package_of_a_group_of_this_app_is_named_by_its_arn(synth: Synthesized) -> None:
    name = synth.props("local")["PrimaryContainer"]["ModelPackageName"]
    assert flatten(name) == f"arn:aws:sagemaker:{REGION}:{PROD}:model-package/local-models/3"


def test_the_inference_specification_is_passed_through(synth: Synthesized) -> None:
    container = synth.props("mixed_case")["PrimaryContainer"]
    assert container["InferenceSpecificationName"] == "cpu"
    # the ARN as given; the grant below uses SageMaker's lower-case form
    assert container["ModelPackageName"].endswith("model-package/Churn-Models/2")


def test_an_inference_pipeline_may_mix_images_and_packages(synth: Synthesized) -> None:
    props = synth.props("pipeline")
    assert props["InferenceExecutionConfig"] == {"Mode": "Serial"}
    first, second = props["Containers"]
    assert first == {"Image": DLC, "ContainerHostname": "pre"}
    assert second == {"ModelPackageName": PACKAGE, "ContainerHostname": "churn"}


# ---------------------------------------------------------------------------- IAM


def test_the_role_may_describe_its_package_only(synth: Synthesized) -> None:
    assert synth.granted("cross_account", "sagemaker:DescribeModelPackage") == [PACKAGE]
    assert synth.granted("mixed_case", "sagemaker:DescribeModelPackage") == [
        f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package/churn-models/2"
    ]
    assert synth.granted("local", "sagemaker:DescribeModelPackage") == [
        f"arn:aws:sagemaker:{REGION}:{PROD}:model-package/local-models/3"
    ]
    for name in synth.models:
        actions = {a for s in synth.statements(name) for a in _actions(s)}
        assert {a for a in actions if a.startswith("sagemaker:")} == {
            "sagemaker:DescribeModelPackage"
        }


def test_the_role_may_read_and_decrypt_the_artifacts_it_was_given(synth: Synthesized) -> None:
    assert synth.granted("cross_account", "s3:GetObject") == [
        "arn:aws:s3:::registry-artifacts/churn-models/7/*"
    ]
    listing = [s for s in synth.statements("cross_account") if "s3:ListBucket" in _actions(s)]
    assert listing[0]["Condition"] == {"StringLike": {"s3:prefix": ["churn-models/7/*"]}}
    assert synth.granted("cross_account", "kms:Decrypt") == [ARTIFACTS_KEY]
    assert synth.granted("mixed_case", "s3:GetObject") == [
        "arn:aws:s3:::registry-artifacts/churn-models/2/model.tar.gz"
    ]
    assert synth.granted("mixed_case", "kms:Decrypt") == []
    for name in ("local", "unversioned"):
        actions = {a for s in synth.statements(name) for a in _actions(s)}
        assert not {a for a in actions if a.startswith(("s3:", "kms:", "ecr:"))}, name


def test_the_role_may_pull_the_packages_image_when_its_repository_is_given(
    synth: Synthesized,
) -> None:
    assert synth.granted("cross_account", "ecr:BatchGetImage") == [REPOSITORY]
    assert synth.granted("mixed_case", "ecr:BatchGetImage") == []


def test_the_artifact_prefix_is_the_only_acknowledged_wildcard(synth: Synthesized) -> None:
    scoped = synth.models["cross_account"]._scoped
    assert scoped is not None
    entries = [
        e.data
        for e in scoped.policy.node.default_child.node.metadata  # type: ignore[union-attr]
        if e.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    ]
    findings = sorted(
        json.dumps(e) for e in entries if "AwsSolutions-IAM5[Resource::" in json.dumps(e)
    )
    assert [f for f in findings if "registry-artifacts" in f]
    assert not [f for f in findings if "model-package" in f]


def test_template_passes_cfn_lint(synth: Synthesized) -> None:
    assert cfn_lint(synth.json, REGION) == []


# ---------------------------------------------------------------------------- validation


def build(*containers: ContainerDefinition, env: cdk.Environment = ENV) -> Model:
    return Model(cdk.Stack(env=env), "M", containers=list(containers))


def package(arn: str = PACKAGE, **kwargs: Any) -> ContainerDefinition:
    return ContainerDefinition.from_model_package(arn, **kwargs)


@pytest.mark.parametrize(
    ("arn", "message"),
    [
        ("churn-models/7", r"must be a model package ARN"),
        (f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package-group/churn", r"model package ARN"),
        (f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model/churn", r"must be a model package ARN"),
        (f"arn:aws:sagemaker:{REGION}:1111:model-package/churn/1", r"must be a model package ARN"),
        (f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package/churn/v1", r"model package ARN"),
        (f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package/churn_1/1", r"model package ARN"),
        (f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package/churn/1234567890", r"1-9 digits"),
        (f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package/churn/0", r"start at 1"),
        (f"arn:aws:sagemaker:us-east-7:{REGISTRY}:model-package/churn/1", r"botocore"),
        (
            f"arn:aws:sagemaker:eu-west-1:{REGISTRY}:model-package/churn/1",
            r"is in eu-west-1, the model in us-east-1",
        ),
        (
            f"arn:aws-us-gov:sagemaker:{REGION}:{REGISTRY}:model-package/{'a' * 63}/"
            + "1" * 9
            + "x" * 60,
            r"must be at most 176 characters",
        ),
    ],
)
def test_fails_when_the_package_arn_is_not_one_sagemaker_serves(arn: str, message: str) -> None:
    with pytest.raises(
        ValueError, match=rf"containers\[0\]\.model_package\.model_package_arn=.*{message}"
    ):
        build(package(arn))


def test_fails_when_artifacts_bucket_and_key_come_alone() -> None:
    stack_bucket = s3.Bucket.from_bucket_name(cdk.Stack(), "B", "registry-artifacts")
    with pytest.raises(
        ValueError, match=r"model_package\.artifacts_key=None: artifacts_bucket and"
    ):
        build(package(artifacts_bucket=stack_bucket))
    with pytest.raises(ValueError, match=r"model_package\.artifacts_key='k': artifacts_bucket and"):
        build(package(artifacts_key="k"))


def test_fails_when_the_artifacts_key_is_not_an_s3_key() -> None:
    bucket = s3.Bucket.from_bucket_name(cdk.Stack(), "B", "registry-artifacts")
    with pytest.raises(ValueError, match=r"model_package\.artifacts\.key='/abs': an S3 key"):
        build(package(artifacts_bucket=bucket, artifacts_key="/abs"))


def test_fails_when_the_inference_specification_name_breaks_the_name_rule() -> None:
    with pytest.raises(ValueError, match=r"model_package\.inference_specification_name='g p u'"):
        build(package(inference_specification_name="g p u"))


def test_fails_when_a_package_container_also_sets_what_the_package_defines() -> None:
    with pytest.raises(ValueError, match=r"Invalid arguments for Model 'M'") as raised:
        build(
            ContainerDefinition(
                image=ContainerImage.from_registry(DLC),
                model_data=ModelData.from_url("s3://bucket/model.tar.gz"),
                mode=ContainerMode.MULTI_MODEL,
                model_package=ModelPackage(PACKAGE),
            )
        )
    message = str(raised.value)
    assert "(3 problems)" in message
    assert "containers[0].image='763104351884" in message
    assert "Image and ModelPackageName exclude each other" in message
    assert "containers[0].model_data='s3://bucket/model.tar.gz'" in message
    assert "containers[0].mode='MultiModel'" in message


def test_fails_when_a_container_has_neither_image_nor_package() -> None:
    with pytest.raises(
        ValueError, match=r"containers\[0\]\.image=None: a container needs an image"
    ):
        build(ContainerDefinition())


def test_fails_when_arguments_have_the_wrong_type() -> None:
    with pytest.raises(
        ValueError,
        match=r"(?s)ContainerDefinition\.from_model_package .*model_package_arn=42: must be a str",
    ):
        ContainerDefinition.from_model_package(42)  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"artifacts_encryption_key='alias/x': must be aws_kms.IKey"
    ):
        ContainerDefinition.from_model_package(PACKAGE, artifacts_encryption_key="alias/x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"model_package='arn:.*': must be ModelPackage or None"):
        ContainerDefinition(model_package=PACKAGE)  # type: ignore[arg-type]


def test_tokens_and_an_unresolved_region_are_left_to_deploy_time() -> None:
    model = build(package(cdk.Fn.import_value("PackageArn")), env=cdk.Environment())
    assert model.container_count == 1
    # a concrete ARN in a stack whose region is a token: no region comparison
    assert build(package(), env=cdk.Environment()).container_count == 1


# ---------------------------------------------------------------------------- in moto


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def test_the_arns_sagemaker_returns_are_accepted(aws: None) -> None:
    """GIVEN packages registered in moto (a version of a group, an unversioned package),
    THEN the ARNs SageMaker returns pass the container's validation as they are."""
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_model_package_group(ModelPackageGroupName="Churn-Models")
    spec: Any = {
        "Containers": [{"Image": DLC, "ModelDataUrl": "s3://artifacts/model.tar.gz"}],
        "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"],
    }
    versioned = sagemaker.create_model_package(
        ModelPackageGroupName="Churn-Models", InferenceSpecification=spec
    )["ModelPackageArn"]
    unversioned = sagemaker.create_model_package(
        ModelPackageName="Scorer", InferenceSpecification=spec
    )["ModelPackageArn"]
    for arn in (versioned, unversioned):
        assert MODEL_PACKAGE_ARN.match(arn), arn
        model = build(package(arn), env=cdk.Environment(account="123456789012", region=REGION))
        assert model.container_count == 1
    assert versioned.endswith(":model-package/churn-models/1")
