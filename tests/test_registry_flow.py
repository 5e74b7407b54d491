"""From the registry to production: an approved version is what every environment rolls out.

GIVEN the registry (dev's model package group) in moto with three versions, two approved and
the newest rejected; WHEN the app is synthesized as the promotion pipeline's synth step does
(``-c resolve_candidate=latest-approved``, the registry read through an injected moto client),
with a candidate (and so a rollout) in every environment and prod's own model a package too;
THEN every environment serves the newest approved version as its candidate, with the grants
to read it across accounts, and the pipeline rolls it out account by account. One synthesized
app for the module; the approval event is proven against the synthesized rules in moto.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk.assertions import Template
from cdk_testing import SynthesizedApp, cdk_json_context
from moto import mock_aws

from stacks.app import build_app
from stacks.config import CONTEXT_KEY, ConfigError
from stacks.environment_stack import variant_name
from stacks.pipeline_stack import rollout_commands
from stacks.registry import NoApprovedPackageError, latest_approved_package

REGISTRY = "111111111111"
TEST = "222222222222"
PROD = "333333333333"
PIPELINE = "444444444444"
REGION = "us-east-1"
GROUP = "sagemaker-constructs-dev-models"
GROUP_ARN = f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package-group/{GROUP}"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ARTIFACTS_BUCKET = "sagemaker-constructs-models-111111111111"
ARTIFACTS_KEY_ARN = f"arn:aws:kms:{REGION}:{REGISTRY}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PIPELINE_STACK = "sagemaker-constructs-pipeline"


def package_arn(version: int | str, group: str = GROUP) -> str:
    return f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package/{group}/{version}"


def synth_app(outdir: Path, context: dict[str, Any], registry_client: Any) -> SynthesizedApp:
    """The app from ``context``, asking the registry through ``registry_client``, synthesized
    with every check (the four cdk-nag packs raise on any unacknowledged finding)."""
    app = cdk.App(context=context, outdir=str(outdir))
    _, stacks = build_app(app, registry_client=registry_client)
    app.synth()
    return SynthesizedApp(app=app, stacks=stacks, outdir=outdir)


@pytest.fixture(scope="module")
def registry_account() -> Iterator[None]:
    """moto, as the registry's account."""
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        patch.setenv("MOTO_ACCOUNT_ID", REGISTRY)
        yield


def register(sagemaker: Any, group: str = GROUP) -> str:
    """What the training pipeline's RegisterModel step does: a version pending approval."""
    return sagemaker.create_model_package(  # type: ignore[no-any-return]
        ModelPackageGroupName=group,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [
                {"Image": IMAGE, "ModelDataUrl": f"s3://{ARTIFACTS_BUCKET}/registry/model.tar.gz"}
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]


def approve(sagemaker: Any, arn: str, status: str = "Approved") -> None:
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status)


@pytest.fixture(scope="module")
def versions(registry_account: None) -> list[str]:
    """Three versions: 1 and 2 approved, 3 (the newest) rejected; another group's newer
    approved version must not count."""
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    sagemaker.create_model_package_group(ModelPackageGroupName="another-group")
    arns = [register(sagemaker) for _ in range(3)]
    approve(sagemaker, arns[0])
    approve(sagemaker, arns[1])
    approve(sagemaker, arns[2], "Rejected")
    for _ in range(3):
        approve(sagemaker, register(sagemaker, "another-group"))
    return arns


# ------------------------------------------------------------------------ the resolution


def test_the_newest_approved_version_is_chosen(versions: list[str]) -> None:
    client = boto3.client("sagemaker", region_name=REGION)
    assert versions == [package_arn(v) for v in (1, 2, 3)]
    # by the group's ARN, as the pipeline account asks across accounts, or by its name
    assert latest_approved_package(client, group=GROUP_ARN) == package_arn(2)
    assert latest_approved_package(client, group=GROUP) == package_arn(2)


def test_fails_when_no_version_is_approved(versions: list[str]) -> None:
    client = boto3.client("sagemaker", region_name=REGION)
    client.create_model_package_group(ModelPackageGroupName="unapproved")
    register(client, "unapproved")
    with pytest.raises(
        NoApprovedPackageError,
        match=r"model package group unapproved: no version is approved, so there is no "
        r"candidate to deploy\. Fix: approve a version",
    ):
        latest_approved_package(client, group="unapproved")


def test_the_app_fails_with_a_configuration_error_when_none_is_approved(
    registry_account: None,
) -> None:
    client = boto3.client("sagemaker", region_name=REGION)
    client.create_model_package_group(ModelPackageGroupName="empty-models")
    context = cdk_json_context()
    context[CONTEXT_KEY]["registry"]["model_package_group_name"] = "empty-models"
    context["resolve_candidate"] = "latest-approved"
    with pytest.raises(
        ConfigError,
        match=r"^context 'resolve_candidate': model package group "
        rf"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package-group/empty-models: no version is "
        r"approved",
    ):
        build_app(cdk.App(context=context), registry_client=lambda region: client)


# ------------------------------------------------------------------------ the app


@pytest.fixture(scope="module")
def flow(versions: list[str], tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    """The app as the promotion pipeline's synth step builds it, every environment with a
    candidate: test's a package of its own artifacts (kept), prod's an image (replaced)."""
    context = cdk_json_context()
    environments = context[CONTEXT_KEY]["environments"]
    environments["test"]["candidate"] = {
        "model_package": package_arn(1),
        "artifacts_bucket": ARTIFACTS_BUCKET,
        "artifacts_key": "registry/",
        "artifacts_kms_key_arn": ARTIFACTS_KEY_ARN,
    }
    environments["prod"]["model"] = {
        "model_package": package_arn(1),
        "artifacts_bucket": ARTIFACTS_BUCKET,
        "artifacts_key": "registry/",
    }
    environments["prod"]["candidate"] = environments["dev"]["candidate"]
    context["resolve_candidate"] = "latest-approved"
    client = boto3.client("sagemaker", region_name=REGION)
    asked: list[str] = []

    def registry_client(region: str) -> Any:
        asked.append(region)
        return client

    app = synth_app(tmp_path_factory.mktemp("registry-flow"), context, registry_client)
    assert asked == [REGION]  # one question, in the registry's region
    return app


def _resources(flow: SynthesizedApp, environment: str) -> dict[str, Any]:
    stack = next(s for s in flow.stacks if s.config.name == environment)
    return flow.template_json(stack)["Resources"]  # type: ignore[no-any-return]


def _model(flow: SynthesizedApp, environment: str, name: str) -> dict[str, Any]:
    stack = next(s for s in flow.stacks if s.config.name == environment)
    model = stack.candidate_model if name == "candidate" else stack.model
    assert model is not None
    return _resources(flow, environment)[stack.get_logical_id(model.resource)]  # type: ignore[no-any-return]


def _statements(flow: SynthesizedApp, environment: str, prefix: str) -> list[Any]:
    return [
        statement
        for logical_id, resource in _resources(flow, environment).items()
        if logical_id.startswith(prefix) and resource["Type"] == "AWS::IAM::ManagedPolicy"
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_every_environment_serves_the_newest_approved_version_as_its_candidate(
    flow: SynthesizedApp,
) -> None:
    for environment in ("dev", "test", "prod"):
        candidate = _model(flow, environment, "candidate")
        assert candidate["Properties"]["PrimaryContainer"] == {
            "ModelPackageName": package_arn(2)
        }, environment
    # prod's own model is a version of the registry too
    prod_model = _model(flow, "prod", "model")
    assert prod_model["Properties"]["PrimaryContainer"] == {"ModelPackageName": package_arn(1)}
    # a variant per version: the candidate's is new (weight 0 from the template)
    prod = flow.stacks[2].config
    assert prod.candidate is not None
    assert variant_name(prod.candidate) != variant_name(prod.model)


def test_each_candidate_may_read_the_version_and_its_artifacts_across_accounts(
    flow: SynthesizedApp,
) -> None:
    for environment in ("dev", "test", "prod"):
        statements = _statements(flow, environment, "CandidateModelRolePolicy")
        text = json.dumps(statements)
        describe = [s for s in statements if s["Action"] == "sagemaker:DescribeModelPackage"]
        assert [s["Resource"] for s in describe] == [package_arn(2)], environment
        # the artifacts: read below the registry's prefix, in the registry's bucket
        assert f"s3:::{ARTIFACTS_BUCKET}/registry/*" in text, environment
        assert "sagemaker:CreateModelPackage" not in text
    # test's candidate keeps the key its own configuration names
    test_statements = _statements(flow, "test", "CandidateModelRolePolicy")
    decrypt = [s for s in test_statements if "kms:Decrypt" in json.dumps(s["Action"])]
    assert [s["Resource"] for s in decrypt] == [ARTIFACTS_KEY_ARN]


def test_the_artifacts_bucket_is_reachable_through_each_environments_s3_endpoint(
    flow: SynthesizedApp,
) -> None:
    for environment in ("test", "prod"):
        endpoints = [
            r
            for r in _resources(flow, environment).values()
            if r["Type"] == "AWS::EC2::VPCEndpoint" and ".s3" in json.dumps(r["Properties"])
        ]
        (endpoint,) = endpoints
        assert f"s3:::{ARTIFACTS_BUCKET}/*" in json.dumps(endpoint["Properties"]["PolicyDocument"])


def test_the_registry_is_dev_readable_by_test_prod_and_the_pipeline_account(
    flow: SynthesizedApp,
) -> None:
    groups = {
        environment: [
            r
            for r in _resources(flow, environment).values()
            if r["Type"] == "AWS::SageMaker::ModelPackageGroup"
        ]
        for environment in ("dev", "test", "prod")
    }
    (registry,) = groups["dev"]
    assert registry["Properties"]["ModelPackageGroupName"] == GROUP
    (statement, recording) = registry["Properties"]["ModelPackageGroupPolicy"]["Statement"]
    # the second statement: the pipeline's roles record promotions (tests/test_promotion.py)
    assert recording["Action"] == "sagemaker:UpdateModelPackage"
    principals = json.dumps(statement["Principal"])
    assert all(f":iam::{a}:root" in principals for a in (TEST, PROD, PIPELINE))
    assert REGISTRY not in principals
    assert sorted(statement["Action"]) == [
        "sagemaker:DescribeModelPackage",
        "sagemaker:DescribeModelPackageGroup",
        "sagemaker:ListModelPackages",
    ]
    # test's and prod's own training groups stay private
    for environment in ("test", "prod"):
        (group,) = groups[environment]
        assert "ModelPackageGroupPolicy" not in group["Properties"]


# ------------------------------------------------------------------------ the pipeline


@pytest.fixture(scope="module")
def pipeline(flow: SynthesizedApp) -> dict[str, Any]:
    return flow.template_json(flow.stack(PIPELINE_STACK))


def _stages(pipeline: dict[str, Any]) -> list[dict[str, Any]]:
    (resource,) = [
        r for r in pipeline["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline"
    ]
    return resource["Properties"]["Stages"]  # type: ignore[no-any-return]


def test_a_rolled_back_version_never_reaches_the_next_account(pipeline: dict[str, Any]) -> None:
    """Each environment's stage deploys, then runs its rollout, whose CodeBuild action fails
    unless the canary reached 100 % (``sagemaker-rollout start --watch`` exits non-zero on a
    rollback): CodePipeline stops at a failed stage, so the next account's stage never runs."""
    stages = _stages(pipeline)
    names = [stage["Name"] for stage in stages]
    # prod judges its candidates as shadows first (cdk.json: shadow_first)
    assert names == ["Source", "Build", "Assets", "Dev", "Test", "ProdShadow", "Prod"]
    projects = {
        logical_id: r["Properties"]
        for logical_id, r in pipeline["Resources"].items()
        if r["Type"] == "AWS::CodeBuild::Project"
        and r["Properties"]["Source"]["BuildSpec"].startswith("{")
    }
    for name, account in (("Dev", REGISTRY), ("Test", TEST), ("Prod", PROD)):
        actions = stages[names.index(name)]["Actions"]
        deploys = [a for a in actions if a["ActionTypeId"]["Provider"] == "CloudFormation"]
        (rollout,) = [a for a in actions if a["Name"] == "CanaryRollout"]
        assert rollout["RunOrder"] > max(a["RunOrder"] for a in deploys), name
        assert all(a["RunOrder"] < rollout["RunOrder"] for a in actions if a is not rollout)
        project = projects[rollout["Configuration"]["ProjectName"]["Ref"]]
        commands = json.loads(project["Source"]["BuildSpec"])["phases"]["build"]["commands"]
        assert tuple(commands) == rollout_commands(name.lower(), record=True)
        (start, record) = commands
        assert "start --state-machine" in start
        assert "--watch" in start
        # the promotion is recorded only after the watched rollout exited 0 (CodeBuild runs
        # no command after a failed one), on the version this deployment rolled out
        assert f"record-promotion --environment {name.lower()}" in record
        variables = rollout["Configuration"]["EnvironmentVariables"]
        assert "PromotionCandidatePackage" in variables
        assert "PromotionRolloutArn" in variables
        # in the environment's own account, through its rollout operator role
        role = f":iam::{account}:role/sagemaker-constructs-{name.lower()}-rollout-operator"
        assert role in json.dumps(project["Environment"]["EnvironmentVariables"])


def test_the_synth_step_may_read_the_registry_and_nothing_more_of_it(
    pipeline: dict[str, Any],
) -> None:
    (policy,) = [
        r
        for logical_id, r in pipeline["Resources"].items()
        if logical_id.startswith("PipelineBuildSynthCdkBuildProjectRoleDefaultPolicy")
    ]
    sagemaker = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if "sagemaker:" in json.dumps(s["Action"])
    ]
    assert sorted((json.dumps(s["Action"]), s["Resource"]) for s in sagemaker) == sorted(
        [
            ('"sagemaker:DescribeModelPackageGroup"', GROUP_ARN),
            (
                '["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"]',
                package_arn("*"),
            ),
        ]
    )


def test_the_pipeline_account_admits_the_registrys_forwarded_events_only(
    pipeline: dict[str, Any],
) -> None:
    (policy,) = [
        r["Properties"]
        for r in pipeline["Resources"].values()
        if r["Type"] == "AWS::Events::EventBusPolicy"
    ]
    assert policy["EventBusName"] == "default"
    statement = policy["Statement"]
    assert statement["Action"] == "events:PutEvents"
    assert f":iam::{REGISTRY}:root" in json.dumps(statement["Principal"])


def test_an_approval_starts_the_pipeline_through_a_role_that_may_start_it_only(
    pipeline: dict[str, Any],
) -> None:
    template = Template.from_json(pipeline)
    (pipeline_id,) = template.find_resources("AWS::CodePipeline::Pipeline")
    (rule,) = [
        r["Properties"]
        for r in pipeline["Resources"].values()
        if r["Type"] == "AWS::Events::Rule"
        and "aws.sagemaker" in json.dumps(r["Properties"]["EventPattern"])
    ]
    (target,) = rule["Targets"]
    assert {"Ref": pipeline_id} in target["Arn"]["Fn::Join"][1]
    role_id = target["RoleArn"]["Fn::GetAtt"][0]
    policies = [
        r["Properties"]
        for r in pipeline["Resources"].values()
        if r["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy")
        and {"Ref": role_id} in r["Properties"].get("Roles", [])
    ]
    (policy,) = policies
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == "codepipeline:StartPipelineExecution"
    assert {"Ref": pipeline_id} in statement["Resource"]["Fn::Join"][1]
    role = pipeline["Resources"][role_id]["Properties"]
    assert "Policies" not in role


# ------------------------------------------------------------------------ the event, in moto


def _state_change_event(package: Any) -> dict[str, Any]:
    """The event SageMaker sends for a package's state change (``detail``: the package as
    DescribeModelPackage describes it; ``resources``: its ARN)."""
    detail = {
        "ModelPackageGroupName": package["ModelPackageGroupName"],
        "ModelPackageVersion": package["ModelPackageVersion"],
        "ModelPackageArn": package["ModelPackageArn"],
        "ModelPackageStatus": package["ModelPackageStatus"],
        "ModelApprovalStatus": package["ModelApprovalStatus"],
        "InferenceSpecification": package["InferenceSpecification"],
    }
    return {
        "Source": "aws.sagemaker",
        "DetailType": "SageMaker Model Package State Change",
        "Resources": [package["ModelPackageArn"]],
        "Detail": json.dumps(detail, default=str),
        "Time": datetime.now(),
    }


def test_registering_and_approving_a_version_starts_the_promotion_pipeline(
    flow: SynthesizedApp, pipeline: dict[str, Any], registry_account: None
) -> None:
    """GIVEN dev's forwarding rule and the pipeline's starting rule, as synthesized, in moto
    (queues stand in for their targets: the pipeline account's event bus and the pipeline);
    WHEN a version is registered, then approved, then another group's version approved;
    THEN only the approval of the registry's version reaches both targets.

    Both rules run on the registry account's bus in moto: an event forwarded to another
    account keeps its ``account`` and ``region`` in AWS (the pipeline's rule filters on them),
    while moto's forwarding would rewrite them to the receiving account.
    """
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    eventbridge = boto3.client("events", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    dev = flow.stacks[0]
    assert dev.approval_forwarding is not None
    forwarding = _resources(flow, "dev")[
        dev.get_logical_id(dev.approval_forwarding.node.default_child)  # type: ignore[arg-type]
    ]["Properties"]
    (forward_target,) = forwarding["Targets"]
    assert f":events:{REGION}:{PIPELINE}:event-bus/default" in json.dumps(forward_target["Arn"])
    (starting,) = [
        r["Properties"] for r in pipeline["Resources"].values() if r["Type"] == "AWS::Events::Rule"
    ]
    queues = {}
    for name, rule in (("forwarding", forwarding), ("starting", starting)):
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        eventbridge.put_rule(Name=name, EventPattern=json.dumps(rule["EventPattern"]))
        eventbridge.put_targets(Rule=name, Targets=[{"Id": "stand-in", "Arn": arn}])
        queues[name] = url

    def emit(arn: str) -> None:
        package = sagemaker.describe_model_package(ModelPackageName=arn)
        assert (
            eventbridge.put_events(Entries=[_state_change_event(package)])["FailedEntryCount"] == 0
        )

    def delivered() -> dict[str, list[dict[str, Any]]]:
        return {
            name: [
                json.loads(m["Body"])
                for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
                    "Messages", []
                )
            ]
            for name, url in queues.items()
        }

    arn = register(sagemaker)
    emit(arn)  # registered, pending approval: nothing starts
    assert delivered() == {"forwarding": [], "starting": []}

    other = register(sagemaker, "another-group")
    approve(sagemaker, other)
    emit(other)  # approved, in another group
    assert delivered() == {"forwarding": [], "starting": []}

    approve(sagemaker, arn)
    emit(arn)
    events = delivered()
    # the starting rule matched: its pattern asks for the registry's account and region
    assert (starting["EventPattern"]["account"], starting["EventPattern"]["region"]) == (
        [REGISTRY],
        [REGION],
    )
    assert [len(found) for found in events.values()] == [1, 1]
    for (event,) in events.values():
        assert event["detail"]["ModelPackageArn"] == arn
        assert event["detail"]["ModelApprovalStatus"] == "Approved"

    approve(sagemaker, arn, "Rejected")
    emit(arn)  # rejected after all: nothing starts
    assert delivered() == {"forwarding": [], "starting": []}
