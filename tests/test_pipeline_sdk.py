"""Pipelines the SageMaker Python SDK writes: every step type it knows, accepted with a role
that has exactly what the steps need.

The fixtures in tests/data/sdk_pipelines/ were written by the real SDK
(tests/data/sdk_pipelines/generate.py, version in manifest.json). One app is synthesized for
the module with a pipeline per fixture (all cdk-nag packs and the wildcard check run).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Annotations, Match
from cdk_testing import cfn_lint

from sagemaker_constructs import _pipeline_definition as spec
from sagemaker_constructs import add_compliance_checks
from sagemaker_constructs.pipeline import (
    UNKNOWN_STEP_TYPE_WARNING,
    Pipeline,
    PipelineDefinition,
)
from sagemaker_constructs.roles import ScopedRole

DATA = Path(__file__).parent / "data" / "sdk_pipelines"
MANIFEST = json.loads((DATA / "manifest.json").read_text())
FIXTURES = sorted(MANIFEST["fixtures"])
ENV = cdk.Environment(account="111111111111", region="us-east-1")
SM = "arn:<P>:sagemaker:us-east-1:111111111111:"

#: Statements a SageMaker job step type gets (actions, resources), as the created role holds them.
JOBS = {
    "processing": (
        [
            "sagemaker:AddTags",
            "sagemaker:CreateProcessingJob",
            "sagemaker:DescribeProcessingJob",
            "sagemaker:StopProcessingJob",
        ],
        [SM + "processing-job/*"],
    ),
    "training": (
        [
            "sagemaker:AddTags",
            "sagemaker:CreateTrainingJob",
            "sagemaker:DescribeTrainingJob",
            "sagemaker:StopTrainingJob",
        ],
        [SM + "training-job/*"],
    ),
    "model": (
        ["sagemaker:AddTags", "sagemaker:CreateModel", "sagemaker:DescribeModel"],
        [SM + "model/*"],
    ),
}
PASS_JOB_ROLE = (["iam:PassRole"], ["<JobRole>"])

#: Exactly the statements each fixture's created role holds.
EXPECTED: dict[str, list[tuple[list[str], list[str]]]] = {
    "processing": [JOBS["processing"], PASS_JOB_ROLE],
    "training": [JOBS["processing"], JOBS["training"], PASS_JOB_ROLE],
    "tuning": [
        (
            [
                "sagemaker:AddTags",
                "sagemaker:CreateHyperParameterTuningJob",
                "sagemaker:DescribeHyperParameterTuningJob",
                "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
                "sagemaker:StopHyperParameterTuningJob",
            ],
            [SM + "hyper-parameter-tuning-job/*"],
        ),
        PASS_JOB_ROLE,
    ],
    "model_and_transform": [
        JOBS["model"],
        JOBS["processing"],
        JOBS["training"],
        (
            [
                "sagemaker:AddTags",
                "sagemaker:CreateTransformJob",
                "sagemaker:DescribeTransformJob",
                "sagemaker:StopTransformJob",
            ],
            [SM + "transform-job/*"],
        ),
        PASS_JOB_ROLE,
    ],
    "register_condition_fail": [
        (
            ["sagemaker:AddTags", "sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage"],
            [SM + "model-package/*", SM + "model-package-group/*"],
        ),
        JOBS["processing"],
        JOBS["training"],
        PASS_JOB_ROLE,
    ],
    "lambda": [
        JOBS["processing"],
        (
            ["lambda:InvokeFunction"],
            ["arn:aws:lambda:us-east-1:111111111111:function:evaluate-model"],
        ),
        PASS_JOB_ROLE,
    ],
    "callback": [
        (["sqs:SendMessage"], ["arn:aws:sqs:us-east-1:111111111111:pipeline-callbacks"]),
    ],
    "emr": [
        (
            [
                "elasticmapreduce:AddJobFlowSteps",
                "elasticmapreduce:CancelSteps",
                "elasticmapreduce:DescribeCluster",
                "elasticmapreduce:DescribeStep",
                "elasticmapreduce:ListSteps",
            ],
            ["arn:<P>:elasticmapreduce:us-east-1:111111111111:cluster/j-1ABCDEFGHIJKL"],
        ),
        (
            ["events:DescribeRule", "events:PutRule", "events:PutTargets"],
            [
                "arn:<P>:events:us-east-1:111111111111:rule/"
                "SageMakerPipelineExecutionEMRStepStatusUpdateRule"
            ],
        ),
    ],
    "emr_new_cluster": [
        (["elasticmapreduce:RunJobFlow"], ["*"]),
        (
            [
                "elasticmapreduce:AddJobFlowSteps",
                "elasticmapreduce:CancelSteps",
                "elasticmapreduce:DescribeCluster",
                "elasticmapreduce:DescribeStep",
                "elasticmapreduce:ListSteps",
                "elasticmapreduce:TerminateJobFlows",
            ],
            ["arn:<P>:elasticmapreduce:us-east-1:111111111111:cluster/*"],
        ),
        (
            ["events:DescribeRule", "events:PutRule", "events:PutTargets"],
            [
                "arn:<P>:events:us-east-1:111111111111:rule/"
                "SageMakerPipelineExecutionEMRClusterStatusUpdateRule"
            ],
        ),
        (["iam:PassRole"], ["arn:<P>:iam::111111111111:role/EMR_DefaultRole"]),
        (["iam:PassRole"], ["arn:<P>:iam::111111111111:role/EMR_EC2_DefaultRole"]),
    ],
    "quality_check": [JOBS["processing"], PASS_JOB_ROLE],
    "clarify_check": [JOBS["processing"], PASS_JOB_ROLE],
    "automl": [
        (
            [
                "sagemaker:AddTags",
                "sagemaker:CreateAutoMLJob",
                "sagemaker:CreateAutoMLJobV2",
                "sagemaker:DescribeAutoMLJob",
                "sagemaker:DescribeAutoMLJobV2",
                "sagemaker:StopAutoMLJob",
            ],
            [SM + "automl-job/*"],
        ),
        PASS_JOB_ROLE,
    ],
    "endpoint": [
        JOBS["model"],
        JOBS["processing"],
        JOBS["training"],
        (
            [
                "sagemaker:AddTags",
                "sagemaker:CreateEndpointConfig",
                "sagemaker:DescribeEndpointConfig",
            ],
            [SM + "endpoint-config/abalone-config"],
        ),
        (
            [
                "sagemaker:AddTags",
                "sagemaker:CreateEndpoint",
                "sagemaker:DescribeEndpoint",
                "sagemaker:UpdateEndpoint",
            ],
            [SM + "endpoint/abalone", SM + "endpoint-config/abalone-config"],
        ),
        PASS_JOB_ROLE,
    ],
    "inference_component": [
        JOBS["model"],
        JOBS["processing"],
        JOBS["training"],
        (
            [
                "sagemaker:AddTags",
                "sagemaker:CreateInferenceComponent",
                "sagemaker:DescribeInferenceComponent",
                "sagemaker:UpdateInferenceComponent",
            ],
            [
                SM + "inference-component/abalone-component",
                SM + "endpoint/shared-inference",
                SM + "model/*",
            ],
        ),
        PASS_JOB_ROLE,
    ],
    "lineage": [
        (
            [
                "sagemaker:AddAssociation",
                "sagemaker:AddTags",
                "sagemaker:CreateAction",
                "sagemaker:CreateArtifact",
                "sagemaker:DescribeAction",
                "sagemaker:DescribeArtifact",
            ],
            [SM + "action/abalone-training-run", SM + "artifact/abalone-model"],
        ),
    ],
}


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())
    return document


def construct_id(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


def flat(value: Any) -> str:
    """A resource ARN as text: the partition reference as <P>, the job role as <JobRole>."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return "<P>" if value["Ref"] == "AWS::Partition" else f"<{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return "<JobRole>" if value["Fn::GetAtt"][0].startswith("JobRole") else str(value)
    if "Fn::Join" in value:
        return "".join(flat(part) for part in value["Fn::Join"][1])
    return json.dumps(value)


def statements(raw: dict[str, Any], pipeline: str) -> list[tuple[list[str], list[str]]]:
    found: list[tuple[list[str], list[str]]] = []
    for logical, resource in raw["Resources"].items():
        if resource["Type"] == "AWS::IAM::ManagedPolicy" and logical.startswith(f"{pipeline}Role"):
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                action = statement["Action"]
                resources = statement["Resource"]
                found.append(
                    (
                        [action] if isinstance(action, str) else action,
                        [
                            flat(r)
                            for r in (resources if isinstance(resources, list) else [resources])
                        ],
                    )
                )
    return sorted(found)


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> tuple[cdk.Stack, dict[str, Any]]:
    """GIVEN one stack with a pipeline, and a created role, for every SDK fixture."""
    outdir = tmp_path_factory.mktemp("sdk-pipelines")
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "SdkPipelines", env=ENV)
    job_role = ScopedRole(
        stack,
        "JobRole",
        assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
        description="SageMaker jobs",
    )
    for name in FIXTURES:
        Pipeline(
            stack,
            construct_id(name),
            definition=PipelineDefinition.from_file(DATA / f"{name}.json"),
            job_role=job_role.role,
        )
    add_compliance_checks(app)
    app.synth()  # raises on any unacknowledged cdk-nag finding or undeclared '*' resource
    raw = json.loads((outdir / "SdkPipelines.template.json").read_text())
    return stack, raw


# ------------------------------------------------------------------ the SDK's step types


def test_known_step_types_are_the_sdks() -> None:
    assert set(MANIFEST["step_types"]) == spec.KNOWN_STEP_TYPES, MANIFEST["sdk_version"]


def test_the_fixtures_cover_every_sdk_step_type() -> None:
    covered = set().union(*(set(types) for types in MANIFEST["fixtures"].values()))
    assert covered == set(MANIFEST["step_types"])
    for name, types in MANIFEST["fixtures"].items():
        assert spec.step_types(load(name)) == set(types), name


@pytest.mark.parametrize("name", FIXTURES)
def test_every_sdk_definition_is_valid(name: str) -> None:
    assert spec.validate(load(name), substitution_names=[]) == []
    assert spec.named_resources(load(name))[1] == []


# ------------------------------------------------------------------ synthesized


def test_every_fixture_becomes_a_pipeline(synthesized: tuple[cdk.Stack, dict[str, Any]]) -> None:
    _, raw = synthesized
    pipelines = [r for r in raw["Resources"].values() if r["Type"] == "AWS::SageMaker::Pipeline"]
    assert len(pipelines) == len(FIXTURES) == len(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_created_role_has_exactly_what_the_steps_need(
    synthesized: tuple[cdk.Stack, dict[str, Any]], name: str
) -> None:
    _, raw = synthesized
    assert statements(raw, construct_id(name)) == sorted(EXPECTED[name])


def test_template_is_cfn_lint_clean(synthesized: tuple[cdk.Stack, dict[str, Any]]) -> None:
    _, raw = synthesized
    assert cfn_lint(raw, "us-east-1") == []


# ------------------------------------------------------------------ rules


def build(document: dict[str, Any], **overrides: Any) -> Pipeline:
    stack = cdk.Stack(env=ENV)
    job_role = iam.Role(stack, "Job", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    props: dict[str, Any] = {
        "definition": PipelineDefinition.from_dict(document),
        "job_role": job_role,
    }
    props.update(overrides)
    return Pipeline(stack, "Pipeline", **props)


def policy(pipeline: Pipeline) -> list[dict[str, Any]]:
    stack = cdk.Stack.of(pipeline)
    scoped = pipeline.node.find_child("Role")
    assert isinstance(scoped, ScopedRole)
    document: list[dict[str, Any]] = stack.resolve(scoped.policy.document)["Statement"]
    return document


def test_warns_on_an_unknown_step_type_and_grants_nothing_for_it() -> None:
    document = load("callback")
    document["Steps"].append({"Name": "Serverless", "Type": "EMRServerless", "Arguments": {}})
    pipeline = build(document)
    warnings = Annotations.from_stack(cdk.Stack.of(pipeline)).find_warning(
        "*", Match.string_like_regexp(r"Steps\[Serverless\]: step type 'EMRServerless' is not")
    )
    assert len(warnings) == 1
    assert UNKNOWN_STEP_TYPE_WARNING in json.dumps(warnings[0].entry.data)
    assert [s["Action"] for s in policy(pipeline)] == ["sqs:SendMessage"]


def test_fails_when_a_lambda_function_is_not_known_at_synth() -> None:
    document = load("lambda")
    document["Steps"][1]["FunctionArn"] = {"Get": "Parameters.InputDataUrl"}
    with pytest.raises(ValueError, match=r"Steps\[NotifyTeam\].FunctionArn=.*not known before"):
        build(document)


def test_fails_when_a_queue_url_is_not_an_sqs_url() -> None:
    document = load("callback")
    document["Steps"][0]["SqsQueueUrl"] = "https://example.com/queue"
    with pytest.raises(ValueError, match=r"SqsQueueUrl='https://example.com/queue': is not an SQS"):
        build(document)


def test_fails_when_an_emr_cluster_is_a_pipeline_parameter() -> None:
    document = load("emr")
    document["Parameters"].append({"Name": "Cluster", "Type": "String", "DefaultValue": "j-1"})
    document["Steps"][0]["Arguments"]["ClusterId"] = {"Get": "Parameters.Cluster"}
    with pytest.raises(ValueError, match=r"Arguments.ClusterId=\{'Get': 'Parameters.Cluster'\}"):
        build(document)


@pytest.mark.parametrize(
    ("fixture", "step", "key"),
    [
        ("endpoint", 3, "EndpointConfigName"),
        ("endpoint", 4, "EndpointName"),
        ("inference_component", 3, "InferenceComponentName"),
    ],
)
def test_fails_when_a_hosting_name_is_a_pipeline_parameter(
    fixture: str, step: int, key: str
) -> None:
    document = load(fixture)
    document["Steps"][step]["Arguments"][key] = {"Get": "Parameters.InputDataUrl"}
    with pytest.raises(ValueError, match=rf"Arguments.{key}=.*role created for the pipeline"):
        build(document)


def test_fails_when_a_lineage_entity_has_no_name() -> None:
    document = load("lineage")
    del document["Steps"][0]["Arguments"]["Artifacts"][0]["ArtifactName"]
    with pytest.raises(ValueError, match=r"Artifacts\[0\].ArtifactName=None: names a Lineage"):
        build(document)


def test_a_given_role_needs_no_names_known_at_synth() -> None:
    document = load("emr")
    document["Parameters"].append({"Name": "Cluster", "Type": "String"})
    document["Steps"][0]["Arguments"]["ClusterId"] = {"Get": "Parameters.Cluster"}
    stack = cdk.Stack(env=ENV)
    role = iam.Role(stack, "Own", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    assert build(document, role=role).role is not None


def test_names_and_urls_may_be_deploy_time_substitutions() -> None:
    document = load("callback")
    document["Steps"][0]["SqsQueueUrl"] = "${QueueUrl}"
    lambda_step = copy.deepcopy(load("lambda")["Steps"][1])
    lambda_step["Arguments"] = {}
    lambda_step["FunctionArn"] = "${FunctionArn}"
    document["Steps"].append(lambda_step)
    pipeline = build(
        document,
        substitutions={"QueueUrl": cdk.Aws.URL_SUFFIX, "FunctionArn": cdk.Aws.STACK_ID},
    )
    granted = {json.dumps(s["Action"]): json.dumps(s["Resource"]) for s in policy(pipeline)}
    assert "AWS::StackId" in granted['"lambda:InvokeFunction"']
    assert "Fn::Split" in granted['"sqs:SendMessage"']


def test_an_emr_step_that_creates_its_cluster_may_run_it() -> None:
    """RunJobFlow takes no resource: it goes into the role's policy of such actions, alone."""
    pipeline = build(load("emr_new_cluster"))
    scoped = pipeline.node.find_child("Role")
    assert isinstance(scoped, ScopedRole)
    assert scoped.unscoped_policy is not None
    resolved = cdk.Stack.of(pipeline).resolve(scoped.unscoped_policy.document)
    assert [s["Action"] for s in resolved["Statement"]] == ["elasticmapreduce:RunJobFlow"]
    assert resolved["Statement"][0]["Resource"] == "*"
    assert not Annotations.from_stack(cdk.Stack.of(pipeline)).find_warning(
        "*", Match.string_like_regexp("RunJobFlow")
    )
