"""Pipeline: definition sources, substitutions, least privilege, schedule, validation.

One app is synthesized for the module (all four cdk-nag packs run); validation tests only
construct, in fresh stacks.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk.assertions import Annotations, Match, Template
from cdk_testing import cfn_lint

from sagemaker_constructs import _pipeline_definition as spec
from sagemaker_constructs import acknowledge, add_compliance_checks
from sagemaker_constructs.pipeline import (
    INLINE_DEFINITION_MAX_LENGTH,
    PIPELINE_NAME_PATTERN,
    Pipeline,
    PipelineDefinition,
)
from sagemaker_constructs.roles import ScopedRole

REPO = Path(__file__).resolve().parents[1]
TRAINING_PIPELINE = REPO / "pipelines" / "training_pipeline.json"
SDK_DEFINITION_TEXT = (Path(__file__).parent / "data" / "sdk_pipeline_definition.json").read_text()
ENV = cdk.Environment(account="111111111111", region="us-east-1")
PARTITION = {"Ref": "AWS::Partition"}
ARN_PREFIX = ":sagemaker:us-east-1:111111111111:pipeline/training-pipeline"
AS_GIVEN = ":sagemaker:us-east-1:111111111111:pipeline/Training-Pipeline"
PIPELINE_ARN = {"Fn::Join": ["", ["arn:", PARTITION, ARN_PREFIX]]}
#: What IAM grants name: the lowercase ARN SageMaker uses and the name as written.
PIPELINE_ARNS = [PIPELINE_ARN, {"Fn::Join": ["", ["arn:", PARTITION, AS_GIVEN]]}]
EXECUTION_ARNS = [
    {"Fn::Join": ["", ["arn:", PARTITION, prefix + "/execution/*"]]}
    for prefix in (ARN_PREFIX, AS_GIVEN)
]
LAMBDA_ARN = "arn:aws:lambda:us-east-1:111111111111:function:notify"


def small_definition(**arguments: Any) -> dict[str, Any]:
    return {
        "Version": "2020-12-01",
        "Parameters": [{"Name": "InputDataUrl", "Type": "String"}],
        "Steps": [
            {
                "Name": "Prepare",
                "Type": "Processing",
                "Arguments": {"S3Uri": {"Get": "Parameters.InputDataUrl"}, **arguments},
            }
        ],
    }


def with_steps(*steps: dict[str, Any]) -> PipelineDefinition:
    return PipelineDefinition.from_dict(
        {"Version": "2020-12-01", "Parameters": [], "Steps": list(steps)}
    )


def large_definition() -> dict[str, Any]:
    """A definition above the inline threshold (many environment variables)."""
    environment = {f"FEATURE_{i:05d}": "x" * 60 for i in range(2000)}
    document = small_definition(Environment=environment, Bucket="s3://${DataBucket}/input")
    return document


@dataclass
class Synthesized:
    template: Template
    raw: dict[str, Any]
    outdir: Path
    pipelines: dict[str, Pipeline]
    imported_arn: str


def resources(raw: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in raw["Resources"].items() if v["Type"] == type_}


def logical_id(stack: cdk.Stack, construct: Any) -> str:
    return stack.get_logical_id(construct.node.default_child or construct)


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """GIVEN one stack with a pipeline for every definition source."""
    outdir = tmp_path_factory.mktemp("pipeline")
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "Pipelines", env=ENV)
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    job_role = ScopedRole(
        stack,
        "JobRole",
        assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
        description="SageMaker jobs",
    )
    key.grant_decrypt(job_role.grantee)
    data = s3.Bucket.from_bucket_attributes(
        stack, "Data", bucket_name="training-data-111111111111", encryption_key=key
    )
    operator = ScopedRole(
        stack,
        "Operator",
        assumed_by=iam.AccountPrincipal("111111111111"),
        description="starts pipelines",
    )

    pipelines: dict[str, Pipeline] = {}
    # WHEN a file with substitutions resolved at deploy time, a schedule and buckets
    pipelines["FromFile"] = Pipeline(
        stack,
        "FromFile",
        definition=PipelineDefinition.from_file(TRAINING_PIPELINE),
        pipeline_name="Training-Pipeline",
        substitutions={
            "RoleArn": job_role.role.role_arn,
            "DataBucket": data.bucket_name,
            "ProcessingImageUri": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sklearn:1.2-1",
            "TrainingImageUri": "683313688378.dkr.ecr.us-east-1.amazonaws.com/xgboost:1.7-1",
            "ModelPackageGroupName": "churn-models",
            "KmsKeyArn": key.key_arn,
        },
        job_role=job_role.role,
        buckets=[data],
        schedule=scheduler.ScheduleExpression.cron(minute="0", hour="3"),
        schedule_parameters={"ModelApprovalStatus": "PendingManualApproval"},
        schedule_key=key,
    )
    # ... the SDK's JSON text as it is, with display name, description, parallelism, tags
    pipelines["FromString"] = Pipeline(
        stack,
        "FromString",
        definition=PipelineDefinition.from_string(SDK_DEFINITION_TEXT),
        job_role=job_role.role,
        display_name="Abalone-Training",
        description="Abalone regression, exported with pipeline.definition()",
        max_parallel_execution_steps=5,
        tags={"Team": "ml-platform"},
    )
    # ... a dict and the caller's own role
    pipelines["FromDict"] = Pipeline(
        stack,
        "FromDict",
        definition=PipelineDefinition.from_dict(small_definition()),
        role=job_role.role,
    )
    # ... an existing S3 object
    pipelines["FromBucket"] = Pipeline(
        stack,
        "FromBucket",
        definition=PipelineDefinition.from_bucket(data, "pipelines/definition.json", version="7"),
        role=job_role.role,
    )
    # ... a definition too large to inline
    pipelines["Large"] = Pipeline(
        stack,
        "Large",
        definition=PipelineDefinition.from_dict(large_definition()),
        substitutions={"DataBucket": "training-data-111111111111"},
        job_role=job_role.role,
    )
    # ... every job step type, and a Lambda step (its function is granted from the definition;
    # add_to_role_policy adds a statement of the caller's own)
    pipelines["AllJobs"] = Pipeline(
        stack,
        "AllJobs",
        definition=with_steps(
            *({"Name": t, "Type": t, "Arguments": {}} for t in sorted(spec.JOB_STEP_TYPES)),
            {"Name": "Notify", "Type": "Lambda", "Arguments": {}, "FunctionArn": LAMBDA_ARN},
        ),
        job_role=job_role.role,
    )
    pipelines["AllJobs"].add_to_role_policy(
        iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[LAMBDA_ARN])
    )
    pipelines["FromFile"].grant_start_execution(operator.grantee)
    pipelines["FromFile"].grant_manage_executions(operator.grantee)
    imported = Pipeline.from_pipeline_name(stack, "Imported", "Nightly-Batch")
    imported.grant_start_execution(operator.grantee)
    for name in ("training-pipeline", "Training-Pipeline"):
        acknowledge(
            operator.policy,
            "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:us-east-1:"
            f"111111111111:pipeline/{name}/execution/*]",
            "Execution ids are generated when an execution starts; the ARN is limited to the "
            "executions of one pipeline.",
        )

    add_compliance_checks(app)
    app.synth()  # raises on any unacknowledged cdk-nag finding
    raw = json.loads((outdir / "Pipelines.template.json").read_text())
    return Synthesized(
        Template.from_json(raw), raw, outdir, pipelines, stack.resolve(imported.pipeline_arn)
    )


def pipeline_props(synthesized: Synthesized, name: str) -> dict[str, Any]:
    stack = cdk.Stack.of(synthesized.pipelines[name])
    props: dict[str, Any] = synthesized.raw["Resources"][
        stack.get_logical_id(synthesized.pipelines[name].resource)
    ]["Properties"]
    return props


def policy_of(synthesized: Synthesized, name: str) -> list[dict[str, Any]]:
    """The statements of the managed policy created for pipeline ``name``."""
    for logical, resource in resources(synthesized.raw, "AWS::IAM::ManagedPolicy").items():
        if logical.startswith(name + "RolePolicy"):
            statements: list[dict[str, Any]] = resource["Properties"]["PolicyDocument"]["Statement"]
            return statements
    raise KeyError(name)


def actions(statements: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for statement in statements:
        value = statement["Action"]
        found.update([value] if isinstance(value, str) else value)
    return found


# ------------------------------------------------------------------ sources


def test_every_source_creates_a_pipeline(synthesized: Synthesized) -> None:
    synthesized.template.resource_count_is("AWS::SageMaker::Pipeline", 6)


def test_file_definition_is_inlined_with_substitutions_resolved_by_cloudformation(
    synthesized: Synthesized,
) -> None:
    body = pipeline_props(synthesized, "FromFile")["PipelineDefinition"]["PipelineDefinitionBody"]
    # THEN the body joins the literal JSON with deploy-time values
    delimiter, parts = body["Fn::Join"]
    assert delimiter == ""
    literals = "".join(p for p in parts if isinstance(p, str))
    references = [p for p in parts if not isinstance(p, str)]
    assert any("JobRole" in json.dumps(r) for r in references)
    assert any("Key" in json.dumps(r) for r in references)
    assert "${" not in literals  # every placeholder replaced
    assert '"ModelPackageGroupName":"churn-models"' in literals
    assert "s3://training-data-111111111111/training/code/preprocess.py" in literals
    assert '"Version":"2020-12-01"' in literals


def test_sdk_string_is_inlined_unchanged(synthesized: Synthesized) -> None:
    props = pipeline_props(synthesized, "FromString")
    body = props["PipelineDefinition"]["PipelineDefinitionBody"]
    assert isinstance(body, str)
    assert json.loads(body) == json.loads(SDK_DEFINITION_TEXT)
    assert props["PipelineDisplayName"] == "Abalone-Training"
    assert props["PipelineDescription"].startswith("Abalone regression")
    assert props["ParallelismConfiguration"] == {"MaxParallelExecutionSteps": 5}
    assert {"Key": "Team", "Value": "ml-platform"} in props["Tags"]


def test_dict_definition_uses_the_given_role(synthesized: Synthesized) -> None:
    props = pipeline_props(synthesized, "FromDict")
    assert json.loads(props["PipelineDefinition"]["PipelineDefinitionBody"]) == small_definition()
    role_id, attribute = props["RoleArn"]["Fn::GetAtt"]
    assert role_id.startswith("JobRole")
    assert attribute == "Arn"
    with pytest.raises(KeyError):
        policy_of(synthesized, "FromDict")  # no role created


def test_s3_object_definition_is_referenced_in_place(synthesized: Synthesized) -> None:
    location = pipeline_props(synthesized, "FromBucket")["PipelineDefinition"]
    assert location == {
        "PipelineDefinitionS3Location": {
            "Bucket": "training-data-111111111111",
            "Key": "pipelines/definition.json",
            "Version": "7",
        }
    }


def test_large_definition_goes_to_s3_as_an_asset(synthesized: Synthesized) -> None:
    location = pipeline_props(synthesized, "Large")["PipelineDefinition"]
    s3_location = location["PipelineDefinitionS3Location"]
    assert "PipelineDefinitionBody" not in location
    assert "cdk-hnb659fds-assets" in json.dumps(s3_location["Bucket"])
    assert s3_location["Key"].endswith(".json")
    # THEN the staged asset is the rendered definition, placeholders substituted
    asset_hash = s3_location["Key"].removesuffix(".json")
    staged = synthesized.outdir / f"asset.{asset_hash}.json"
    text = staged.read_text()
    assert len(text) > INLINE_DEFINITION_MAX_LENGTH
    document = json.loads(text)
    assert document["Steps"][0]["Arguments"]["Bucket"] == "s3://training-data-111111111111/input"
    # AND the template stays small
    assert len(json.dumps(synthesized.raw)) < INLINE_DEFINITION_MAX_LENGTH


# ------------------------------------------------------------------ names


def test_given_name_and_lowercase_arn(synthesized: Synthesized) -> None:
    pipeline = synthesized.pipelines["FromFile"]
    assert pipeline.pipeline_name == "Training-Pipeline"
    assert pipeline_props(synthesized, "FromFile")["PipelineName"] == "Training-Pipeline"
    arn = cdk.Stack.of(pipeline).resolve(pipeline.pipeline_arn)
    assert arn == {
        "Fn::Join": [
            "",
            ["arn:", PARTITION, ":sagemaker:us-east-1:111111111111:pipeline/training-pipeline"],
        ]
    }


def test_generated_names_are_valid_and_unique(synthesized: Synthesized) -> None:
    names = [p.pipeline_name for k, p in synthesized.pipelines.items() if k != "FromFile"]
    assert len(set(names)) == len(names)
    for name in names:
        assert PIPELINE_NAME_PATTERN.match(name), name
        assert name == name.lower()


# ------------------------------------------------------------------ IAM


def test_created_role_is_scoped_to_the_step_types_used(synthesized: Synthesized) -> None:
    file_actions = actions(policy_of(synthesized, "FromFile"))
    sdk_actions = actions(policy_of(synthesized, "FromString"))
    assert {
        "sagemaker:CreateProcessingJob",
        "sagemaker:CreateTrainingJob",
        "sagemaker:CreateModelPackage",
        "iam:PassRole",
        "s3:GetObject",
        "kms:Decrypt",
    } <= file_actions
    # The training pipeline creates no model and runs no batch transform; the SDK one does.
    assert "sagemaker:CreateTransformJob" not in file_actions
    assert "sagemaker:CreateModel" not in file_actions
    assert {"sagemaker:CreateTransformJob", "sagemaker:CreateModel"} <= sdk_actions
    assert actions(policy_of(synthesized, "Large")) == {
        "sagemaker:AddTags",
        "sagemaker:CreateProcessingJob",
        "sagemaker:DescribeProcessingJob",
        "sagemaker:StopProcessingJob",
        "iam:PassRole",
    }


def test_each_job_step_type_gets_its_own_permissions(synthesized: Synthesized) -> None:
    statements = policy_of(synthesized, "AllJobs")
    granted = actions(statements)
    for expected in (
        "sagemaker:CreateProcessingJob",  # Processing, QualityCheck, ClarifyCheck
        "sagemaker:CreateTrainingJob",
        "sagemaker:CreateHyperParameterTuningJob",
        "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
        "sagemaker:CreateTransformJob",
        "sagemaker:CreateModel",
        "sagemaker:CreateModelPackage",
        "sagemaker:CreateAutoMLJobV2",
        "lambda:InvokeFunction",  # from the definition, and added with add_to_role_policy
    ):
        assert expected in granted, expected
    resource_types = set(re.findall(r":111111111111:([a-z-]+)/\*", json.dumps(statements)))
    assert resource_types == {
        "automl-job",
        "hyper-parameter-tuning-job",
        "model",
        "model-package",
        "model-package-group",
        "processing-job",
        "training-job",
        "transform-job",
    }


def test_sagemaker_resources_are_this_account_and_region(synthesized: Synthesized) -> None:
    for statement in policy_of(synthesized, "FromFile"):
        if statement["Action"] == "iam:PassRole" or "sagemaker:AddTags" in statement["Action"]:
            rendered = json.dumps(statement["Resource"])
            if statement["Action"] == "iam:PassRole":
                assert "JobRole" in rendered
                assert statement["Condition"] == {
                    "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
                }
            else:
                arns = re.findall(r":sagemaker:([^:]*):([^:]*):([a-z-]+)/\*", rendered)
                assert arns
                assert all(a[:2] == ("us-east-1", "111111111111") for a in arns)


def test_no_wildcard_actions_and_no_inline_policies(synthesized: Synthesized) -> None:
    synthesized.template.resource_count_is("AWS::IAM::Policy", 0)
    for resource in resources(synthesized.raw, "AWS::IAM::ManagedPolicy").values():
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            for action in actions([statement]):
                assert "*" not in action, action
            assert statement["Resource"] != "*"
    for resource in resources(synthesized.raw, "AWS::IAM::Role").values():
        assert "Policies" not in resource["Properties"]
        assert "ManagedPolicyArns" not in resource["Properties"]


def test_pipeline_waits_for_its_role_policy(synthesized: Synthesized) -> None:
    logical = cdk.Stack.of(synthesized.pipelines["FromFile"]).get_logical_id(
        synthesized.pipelines["FromFile"].resource
    )
    depends_on = synthesized.raw["Resources"][logical]["DependsOn"]
    assert any(d.startswith("FromFileRolePolicy") for d in depends_on)


def test_grant_start_execution(synthesized: Synthesized) -> None:
    statements = next(
        r["Properties"]["PolicyDocument"]["Statement"]
        for k, r in resources(synthesized.raw, "AWS::IAM::ManagedPolicy").items()
        if k.startswith("OperatorPolicy")
    )
    assert {
        "Action": [
            "sagemaker:StartPipelineExecution",
            "sagemaker:DescribePipeline",
            "sagemaker:ListPipelineExecutions",
        ],
        "Effect": "Allow",
        "Resource": PIPELINE_ARNS,
    } in statements
    assert {
        "Action": [
            "sagemaker:DescribePipelineExecution",
            "sagemaker:ListPipelineExecutionSteps",
            "sagemaker:StopPipelineExecution",
            "sagemaker:RetryPipelineExecution",
        ],
        "Effect": "Allow",
        "Resource": EXECUTION_ARNS,
    } in statements
    # AND the imported pipeline's ARN is granted too
    imported = json.dumps(synthesized.imported_arn)
    assert "pipeline/nightly-batch" in imported
    assert imported in json.dumps(statements)


# ------------------------------------------------------------------ schedule


def test_schedule_starts_only_this_pipeline(synthesized: Synthesized) -> None:
    synthesized.template.resource_count_is("AWS::Scheduler::Schedule", 1)
    synthesized.template.has_resource_properties(
        "AWS::Scheduler::Schedule",
        {
            "ScheduleExpression": "cron(0 3 * * ? *)",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "KmsKeyArn": Match.any_value(),
            "Target": {
                "Arn": PIPELINE_ARN,
                "RoleArn": Match.any_value(),
                "SageMakerPipelineParameters": {
                    "PipelineParameterList": [
                        {"Name": "ModelApprovalStatus", "Value": "PendingManualApproval"}
                    ]
                },
            },
        },
    )
    statements = next(
        r["Properties"]["PolicyDocument"]["Statement"]
        for k, r in resources(synthesized.raw, "AWS::IAM::ManagedPolicy").items()
        if k.startswith("FromFileScheduleRolePolicy")
    )
    start = [s for s in statements if s["Action"] == "sagemaker:StartPipelineExecution"]
    assert start == [
        {
            "Action": "sagemaker:StartPipelineExecution",
            "Effect": "Allow",
            "Resource": PIPELINE_ARNS,
        }
    ]
    assert actions(statements) == {"sagemaker:StartPipelineExecution", "kms:Decrypt"}


# ------------------------------------------------------------------ lint


def test_template_is_cfn_lint_clean(synthesized: Synthesized) -> None:
    assert cfn_lint(synthesized.raw, "us-east-1") == []


# ------------------------------------------------------------------ validation


def build(**overrides: Any) -> Pipeline:
    stack = cdk.Stack(env=ENV)
    job_role = iam.Role(stack, "Job", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    props: dict[str, Any] = {
        "definition": PipelineDefinition.from_dict(small_definition()),
        "job_role": job_role,
    }
    props.update(overrides)
    return Pipeline(stack, "Pipeline", **props)


def test_valid_props_build() -> None:
    assert build().pipeline_name


def test_fails_on_bad_json() -> None:
    with pytest.raises(ValueError, match=r"definition=.*is not valid JSON: .* line 1 column"):
        build(definition=PipelineDefinition.from_string('{"Version": "2020-12-01",'))


def test_fails_on_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"definition='.*missing.json': cannot be read"):
        build(definition=PipelineDefinition.from_file(tmp_path / "missing.json"))


def test_fails_on_bad_json_in_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{\n  oops\n}")
    with pytest.raises(ValueError, match=r"definition \(file .*bad.json\)=.*line 2 column 3"):
        build(definition=PipelineDefinition.from_file(path))


def test_fails_on_unserializable_dict() -> None:
    with pytest.raises(ValueError, match="is not JSON-serializable"):
        build(definition=PipelineDefinition.from_dict({"Version": object()}))


def test_fails_on_missing_version() -> None:
    with pytest.raises(ValueError, match=r"definition.Version=None: is required"):
        build(definition=PipelineDefinition.from_dict({"Steps": small_definition()["Steps"]}))


def test_fails_without_steps() -> None:
    with pytest.raises(ValueError, match=r"definition.Steps=\[\]: must be a list with at least"):
        build(definition=with_steps())


def test_fails_on_duplicate_step_names() -> None:
    step = {"Name": "Same", "Type": "Processing", "Arguments": {}}
    with pytest.raises(ValueError, match=r"Steps\[Same\].Name='Same': is used by more than one"):
        build(definition=with_steps(step, step))


def test_warns_on_unknown_step_type() -> None:
    pipeline = build(definition=with_steps({"Name": "A", "Type": "Batch", "Arguments": {}}))
    warnings = Annotations.from_stack(cdk.Stack.of(pipeline)).find_warning(
        "*", Match.string_like_regexp(r"Steps\[A\]: step type 'Batch' is not one this library")
    )
    assert len(warnings) == 1


def test_fails_on_dangling_depends_on() -> None:
    step = {"Name": "A", "Type": "Processing", "Arguments": {}, "DependsOn": ["Ghost"]}
    with pytest.raises(ValueError, match=r"Steps\[A\].DependsOn='Ghost': names a step that"):
        build(definition=with_steps(step))


def test_fails_on_a_cycle() -> None:
    a = {"Name": "A", "Type": "Processing", "Arguments": {}, "DependsOn": ["B"]}
    b = {"Name": "B", "Type": "Training", "Arguments": {"X": {"Get": "Steps.A.Outputs"}}}
    with pytest.raises(ValueError, match=r"'A -> B -> A': is part of a dependency cycle"):
        build(definition=with_steps(a, b))


def test_fails_on_unknown_parameter() -> None:
    step = {"Name": "A", "Type": "Processing", "Arguments": {"U": {"Get": "Parameters.Url"}}}
    with pytest.raises(ValueError, match=r"Get='Parameters.Url': reads a parameter that is not"):
        build(definition=with_steps(step))


def test_fails_on_unknown_substitution() -> None:
    definition = PipelineDefinition.from_dict(small_definition(RoleArn="${RoleArn}"))
    with pytest.raises(ValueError, match=r"uses the substitution 'RoleArn', which substitutions"):
        build(definition=definition)


def test_fails_on_unused_substitution() -> None:
    with pytest.raises(ValueError, match=r"substitutions='Bucket': is not used"):
        build(substitutions={"Bucket": "data"})


@pytest.mark.parametrize(
    ("argument", "value", "rule"),
    [
        ("pipeline_name", "bad_name", r"must match \[a-zA-Z0-9\]"),
        ("pipeline_name", "-leading", r"must match"),
        ("pipeline_name", "a" * 257, r"must be at most 256 characters"),
        ("pipeline_name", "", r"must not be empty"),
        ("display_name", "Has Space", r"must match"),
        ("display_name", "d" * 257, r"must be at most 256 characters"),
        ("display_name", "", r"must not be empty"),
    ],
)
def test_fails_on_bad_names(argument: str, value: str, rule: str) -> None:
    with pytest.raises(ValueError, match=rf"{argument}=.*{rule}"):
        build(**{argument: value})


def test_accepts_longest_name() -> None:
    assert build(pipeline_name="a" * 256).pipeline_name == "a" * 256


def test_fails_on_long_description() -> None:
    with pytest.raises(ValueError, match=r"description='<3073 characters>': must be at most 3072"):
        build(description="d" * 3073)


def test_fails_on_parallelism_below_one() -> None:
    with pytest.raises(ValueError, match=r"max_parallel_execution_steps=0: must be at least 1"):
        build(max_parallel_execution_steps=0)


def test_fails_on_definition_over_sagemaker_limit() -> None:
    huge = small_definition(Blob="x" * spec.MAX_DEFINITION_LENGTH)
    with pytest.raises(ValueError, match=r"definition='<\d+ characters>': must be at most 1048576"):
        build(definition=PipelineDefinition.from_dict(huge))


def test_deploy_time_values_in_a_large_definition_are_inlined() -> None:
    # (test_pipeline_size.py: the budget, the deployed body and the limits)
    stack = cdk.Stack(env=ENV)
    role = iam.Role(stack, "Job", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    pipeline = Pipeline(
        stack,
        "Pipeline",
        definition=PipelineDefinition.from_dict(large_definition()),
        substitutions={"DataBucket": f"data-{cdk.Aws.ACCOUNT_ID}"},
        job_role=role,
    )
    assert pipeline.definition_asset is None
    body = stack.resolve(pipeline.resource.pipeline_definition)["PipelineDefinitionBody"]
    assert {"Ref": "AWS::AccountId"} in body["Fn::Join"][1]


def test_fails_on_s3_definition_without_role_or_with_substitutions() -> None:
    stack = cdk.Stack(env=ENV)
    bucket = s3.Bucket.from_bucket_name(stack, "B", "definitions")
    with pytest.raises(ValueError, match=r"(?s)substitutions=\['X'\]: cannot be.*role=None"):
        Pipeline(
            stack,
            "Pipeline",
            definition=PipelineDefinition.from_bucket(bucket, "p.json"),
            substitutions={"X": "y"},
        )


def test_fails_on_empty_s3_key() -> None:
    stack = cdk.Stack(env=ENV)
    bucket = s3.Bucket.from_bucket_name(stack, "B", "definitions")
    role = iam.Role(stack, "R", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    with pytest.raises(ValueError, match=r"definition='': the S3 object key must not be empty"):
        Pipeline(stack, "P", definition=PipelineDefinition.from_bucket(bucket, ""), role=role)


def test_fails_without_a_job_role_for_job_steps() -> None:
    with pytest.raises(ValueError, match=r"job_role=None: is required: the definition's Proc"):
        build(job_role=None)


def test_job_role_not_needed_without_job_steps() -> None:
    fail = {"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "no"}}
    assert build(definition=with_steps(fail), job_role=None).role is not None


@pytest.mark.parametrize(
    ("expression", "rule"),
    [
        (scheduler.ScheduleExpression.expression("every night"), "must be a cron"),
        (scheduler.ScheduleExpression.expression("rate(0 minutes)"), "a rate needs a positive"),
        (scheduler.ScheduleExpression.expression("rate(1 hours)"), "a rate needs a positive"),
        (scheduler.ScheduleExpression.expression("rate(5 hour)"), "a rate needs a positive"),
        (scheduler.ScheduleExpression.expression("cron(0 3 * * *)"), "needs 6 fields"),
        (scheduler.ScheduleExpression.expression("cron(0 3 * * 1 *)"), "with '\\?'"),
    ],
)
def test_fails_on_bad_schedule(expression: scheduler.ScheduleExpression, rule: str) -> None:
    with pytest.raises(ValueError, match=rf"schedule=.*{rule}"):
        build(schedule=expression)


def test_accepts_rate_schedule() -> None:
    pipeline = build(schedule=scheduler.ScheduleExpression.rate(cdk.Duration.hours(12)))
    assert pipeline.schedule is not None


def test_fails_on_undeclared_schedule_parameter() -> None:
    with pytest.raises(ValueError, match=r"schedule_parameters='Nope': is not a parameter"):
        build(
            schedule=scheduler.ScheduleExpression.rate(cdk.Duration.days(1)),
            schedule_parameters={"Nope": "x"},
        )


def test_fails_on_schedule_parameters_without_schedule() -> None:
    with pytest.raises(ValueError, match=r"schedule_parameters=\['InputDataUrl'\]: has no effect"):
        build(schedule_parameters={"InputDataUrl": "s3://b/k"})


def test_fails_on_bad_tags() -> None:
    with pytest.raises(
        ValueError, match=r"(?s)tags='<51 items>': must hold .*tags key='aws:owner': .*reserved"
    ):
        build(tags={"aws:owner": "me"} | {f"k{i}": "v" for i in range(50)})


def test_reports_every_problem_together() -> None:
    step = {"Name": "A", "Type": "", "Arguments": {}, "DependsOn": ["Z"]}
    with pytest.raises(ValueError, match="5 problems") as error:
        build(
            definition=with_steps(step),
            pipeline_name="bad_name",
            max_parallel_execution_steps=0,
            substitutions={"Unused": "x"},
        )
    message = str(error.value)
    assert "Invalid arguments for Pipeline 'Pipeline' (5 problems)" in message
    for fragment in ("Type=''", "DependsOn='Z'", "pipeline_name=", "max_parallel", "Unused"):
        assert fragment in message


def test_given_role_receives_bucket_and_pass_role_grants_only() -> None:
    stack = cdk.Stack(env=ENV)
    role = iam.Role(stack, "Own", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    job_role = iam.Role(stack, "Job", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    bucket = s3.Bucket.from_bucket_name(stack, "Data", "training-data")
    # WHEN the caller brings the pipeline's role
    pipeline = Pipeline(
        stack,
        "Pipeline",
        definition=PipelineDefinition.from_dict(small_definition()),
        role=role,
        job_role=job_role,
        buckets=[bucket],
    )
    # THEN no role is created and only the data and PassRole grants are added to it
    assert pipeline.role is role
    assert pipeline.node.try_find_child("Role") is None
    default_policy = role.node.find_child("DefaultPolicy")
    assert isinstance(default_policy, iam.Policy)
    statements = stack.resolve(default_policy.document)["Statement"]
    assert actions(statements) == {
        "s3:GetObject",
        "s3:ListBucket",
        "s3:GetBucketLocation",
        "iam:PassRole",
    }
    pass_role = next(s for s in statements if s["Action"] == "iam:PassRole")
    assert pass_role["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }
