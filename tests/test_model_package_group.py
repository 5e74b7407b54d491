"""ModelPackageGroup: the group, its cross-account policy, grants, importers and approval events.

One app for the whole module (synth with the four cdk-nag packs is the slow part); the
approval event is proven against the synthesized rule in moto's EventBridge.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Annotations, Match, Template
from cdk_testing import cfn_lint
from moto import mock_aws

from sagemaker_constructs.compliance import add_compliance_checks
from sagemaker_constructs.model_package_group import (
    EVENT_SOURCE,
    PACKAGE_STATE_CHANGE,
    IModelPackageGroup,
    ModelApprovalStatus,
    ModelPackageGroup,
    ModelPackageGroupBase,
)
from sagemaker_constructs.roles import ScopedRole

REGISTRY = "111111111111"
TEST = "222222222222"
PROD = "333333333333"
REGION = "us-east-1"
ENV = cdk.Environment(account=REGISTRY, region=REGION)
NAME = "Churn-Models"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


class Synthesized:
    def __init__(self, stack: cdk.Stack, template: dict[str, Any]) -> None:
        self.stack = stack
        self.json = template
        self.template = Template.from_json(template)
        self.groups: dict[str, ModelPackageGroupBase] = {}
        self.roles: dict[str, ScopedRole] = {}
        self.rules: dict[str, Any] = {}

    def resource(self, construct: Any) -> dict[str, Any]:
        return self.json["Resources"][self.stack.get_logical_id(construct)]  # type: ignore[no-any-return]

    def statements(self, role: str) -> list[dict[str, Any]]:
        policy = self.roles[role].policy.node.default_child
        return self.resource(policy)["Properties"]["PolicyDocument"]["Statement"]  # type: ignore[no-any-return]

    def pattern(self, rule: str) -> dict[str, Any]:
        return self.resource(self.rules[rule].node.default_child)["Properties"]["EventPattern"]  # type: ignore[no-any-return]

    def resolve(self, value: Any) -> str:
        """A value with the partition resolved as in the commercial regions."""
        return flatten(self.stack.resolve(value))


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
    """GIVEN a registry account's stack with a group, grants, importers and approval rules,
    WHEN it is synthesized with every check."""
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("registry") / "cdk.out"))
    stack = cdk.Stack(app, "Registry", env=ENV)
    add_compliance_checks(app)

    registry = ModelPackageGroup(
        stack,
        "Churn",
        model_package_group_name=NAME,
        description="Churn classifiers, one version per training run.",
        read_accounts=[TEST, PROD],
        tags={"team": "ml-platform"},
    )
    generated = ModelPackageGroup(stack, "Scratch")

    def role(id: str, principal: iam.IPrincipal) -> ScopedRole:
        return ScopedRole(stack, id, assumed_by=principal, description=f"{id} of the registry")

    roles = {
        "trainer": role("Trainer", iam.ServicePrincipal("sagemaker.amazonaws.com")),
        "approver": role("Approver", iam.ServicePrincipal("lambda.amazonaws.com")),
        "reader": role("Reader", iam.ServicePrincipal("codebuild.amazonaws.com")),
    }
    registry.grant_register(roles["trainer"].grantee)
    registry.grant_approve(roles["approver"].grantee)
    registry.grant_read(roles["reader"].grantee)

    key = kms.Key(stack, "TopicKey", enable_key_rotation=True)
    topic = sns.Topic(stack, "Approvals", master_key=key, enforce_ssl=True)
    by_name = ModelPackageGroup.from_model_package_group_name(stack, "ByName", "Legacy-Group")
    same_account = ModelPackageGroup.from_model_package_group_arn(
        stack, "ByArn", f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package-group/churn-models"
    )
    other_account = ModelPackageGroup.from_model_package_group_arn(
        stack, "OtherAccount", f"arn:aws:sagemaker:eu-west-1:{TEST}:model-package-group/shared"
    )
    rules = {
        "approved": registry.on_package_approved("Approved", target=targets.SnsTopic(topic)),
        "rejected": registry.on_package_state_change(
            "Rejected", approval_statuses=[ModelApprovalStatus.REJECTED]
        ),
        "any": registry.on_package_state_change("AnyChange", rule_name="churn-any-change"),
        "by_arn": same_account.on_package_approved("Approved"),
        "other_account": other_account.on_package_approved("Approved"),
    }

    assembly = app.synth()  # raises on any unacknowledged cdk-nag finding
    result = Synthesized(stack, assembly.get_stack_by_name("Registry").template)
    result.groups = {
        "registry": registry,
        "generated": generated,
        "by_name": by_name,
        "by_arn": same_account,
        "other_account": other_account,
    }
    result.roles = roles
    result.rules = rules
    return result


# ---------------------------------------------------------------------------- the group


def test_group_has_name_description_tags_and_is_retained(synth: Synthesized) -> None:
    resource = synth.resource(synth.groups["registry"].node.default_child)
    assert resource["Type"] == "AWS::SageMaker::ModelPackageGroup"
    props = resource["Properties"]
    assert props["ModelPackageGroupName"] == NAME
    assert (
        props["ModelPackageGroupDescription"] == "Churn classifiers, one version per training run."
    )
    assert props["Tags"] == [{"Key": "team", "Value": "ml-platform"}]
    assert resource["DeletionPolicy"] == "Retain"
    assert resource["UpdateReplacePolicy"] == "Retain"


def test_a_group_without_a_name_gets_one_sagemaker_accepts(synth: Synthesized) -> None:
    props = synth.resource(synth.groups["generated"].node.default_child)["Properties"]
    name = props["ModelPackageGroupName"]
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name), name
    assert name.startswith("Registry-Scratch")
    assert "ModelPackageGroupPolicy" not in props  # no read_accounts: no resource policy


def test_resource_policy_lets_the_named_accounts_read_the_groups_versions(
    synth: Synthesized,
) -> None:
    props = synth.resource(synth.groups["registry"].node.default_child)["Properties"]
    [statement] = props["ModelPackageGroupPolicy"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert [flatten(p) for p in statement["Principal"]["AWS"]] == [
        f"arn:aws:iam::{TEST}:root",
        f"arn:aws:iam::{PROD}:root",
    ]
    assert sorted(_actions(statement)) == [
        "sagemaker:DescribeModelPackage",
        "sagemaker:DescribeModelPackageGroup",
        "sagemaker:ListModelPackages",
    ]
    # ARNs name the group in lower case, as SageMaker writes them
    assert [flatten(r) for r in statement["Resource"]] == [
        f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package-group/churn-models",
        f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package/churn-models/*",
    ]


def test_attributes_and_package_arns(synth: Synthesized) -> None:
    registry = synth.groups["registry"]
    assert isinstance(registry, IModelPackageGroup)
    assert registry.model_package_group_name == NAME
    group_id = synth.stack.get_logical_id(registry.node.default_child)  # type: ignore[arg-type]
    assert synth.stack.resolve(registry.model_package_group_arn) == {
        "Fn::GetAtt": [group_id, "ModelPackageGroupArn"]
    }
    assert synth.resolve(registry.package_arn_pattern) == (
        f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package/churn-models/*"
    )
    assert synth.resolve(registry.package_arn(7)) == (
        f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package/churn-models/7"
    )


def test_importers_expose_the_groups_name_and_arn(synth: Synthesized) -> None:
    by_name = synth.groups["by_name"]
    assert isinstance(by_name, IModelPackageGroup)
    assert by_name.model_package_group_name == "Legacy-Group"
    assert synth.resolve(by_name.model_package_group_arn) == (
        f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package-group/legacy-group"
    )
    other = synth.groups["other_account"]
    assert other.model_package_group_name == "shared"
    assert other.account == TEST
    assert other.model_package_group_arn == (
        f"arn:aws:sagemaker:eu-west-1:{TEST}:model-package-group/shared"
    )
    assert other.package_arn(2) == f"arn:aws:sagemaker:eu-west-1:{TEST}:model-package/shared/2"


# ---------------------------------------------------------------------------- grants


def test_grant_register_allows_creating_and_tagging_packages_of_this_group(
    synth: Synthesized,
) -> None:
    statements = {tuple(_actions(s)): flatten(s["Resource"]) for s in synth.statements("trainer")}
    group_id = synth.stack.get_logical_id(synth.groups["registry"].node.default_child)  # type: ignore[arg-type]
    assert statements == {
        ("sagemaker:DescribeModelPackageGroup",): json.dumps(
            {"Fn::GetAtt": [group_id, "ModelPackageGroupArn"]}
        ),
        ("sagemaker:CreateModelPackage", "sagemaker:AddTags"): (
            f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package/churn-models/*"
        ),
    }


def test_grant_approve_allows_updating_packages_only(synth: Synthesized) -> None:
    [statement] = synth.statements("approver")
    assert _actions(statement) == ["sagemaker:UpdateModelPackage", "sagemaker:DescribeModelPackage"]
    assert flatten(statement["Resource"]).endswith(":model-package/churn-models/*")


def test_grant_read_allows_describing_and_listing(synth: Synthesized) -> None:
    actions = sorted(a for s in synth.statements("reader") for a in _actions(s))
    assert actions == [
        "sagemaker:DescribeModelPackage",
        "sagemaker:DescribeModelPackageGroup",
        "sagemaker:ListModelPackages",
    ]


def test_grants_name_their_resources_and_acknowledge_the_package_pattern_only(
    synth: Synthesized,
) -> None:
    for name, role in synth.roles.items():
        assert all(s["Resource"] != "*" for s in synth.statements(name))
        assert role.unscoped_policy is None
        entries = [
            e.data
            for e in role.policy.node.default_child.node.metadata  # type: ignore[union-attr]
            if e.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
        ]
        text = json.dumps(entries)
        assert (
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:us-east-1:111111111111:"
            "model-package/churn-models/*]" in text
        ), name
        assert "AwsSolutions-IAM5[Resource::*]" not in text
        assert "numbered by SageMaker" in text


def test_grants_return_the_grant_of_every_statement() -> None:
    stack = cdk.Stack(env=ENV)
    group = ModelPackageGroup(stack, "G", model_package_group_name="g")
    role = iam.Role(stack, "R", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    for grant in (group.grant_register(role), group.grant_read(role), group.grant_approve(role)):
        assert isinstance(grant, iam.Grant)
        assert grant.success


# ---------------------------------------------------------------------------- events


def test_on_package_approved_matches_approvals_of_this_group(synth: Synthesized) -> None:
    assert synth.pattern("approved") == {
        "source": [EVENT_SOURCE],
        "detail-type": [PACKAGE_STATE_CHANGE],
        "detail": {"ModelPackageGroupName": [NAME], "ModelApprovalStatus": ["Approved"]},
    }
    assert EVENT_SOURCE == "aws.sagemaker"
    assert PACKAGE_STATE_CHANGE == "SageMaker Model Package State Change"


def test_the_approval_rule_notifies_its_target(synth: Synthesized) -> None:
    props = synth.resource(synth.rules["approved"].node.default_child)["Properties"]
    [target] = props["Targets"]
    assert "Approvals" in json.dumps(target["Arn"])
    synth.template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Principal": {"Service": "events.amazonaws.com"}})]
                )
            }
        },
    )


def test_state_change_rules_filter_by_status_when_asked(synth: Synthesized) -> None:
    assert synth.pattern("rejected")["detail"] == {
        "ModelPackageGroupName": [NAME],
        "ModelApprovalStatus": ["Rejected"],
    }
    assert synth.pattern("any")["detail"] == {"ModelPackageGroupName": [NAME]}
    props = synth.resource(synth.rules["any"].node.default_child)["Properties"]
    assert props["Name"] == "churn-any-change"
    assert "Targets" not in props


def test_a_group_imported_by_arn_matches_its_name_ignoring_case(synth: Synthesized) -> None:
    assert synth.pattern("by_arn")["detail"] == {
        "ModelPackageGroupName": [{"equals-ignore-case": "churn-models"}],
        "ModelApprovalStatus": ["Approved"],
    }


def test_a_rule_on_another_accounts_group_is_warned_about(synth: Synthesized) -> None:
    warnings = Annotations.from_stack(synth.stack).find_warning(
        "*", Match.string_like_regexp("model-package-events-cross-account")
    )
    assert [w.id for w in warnings] == ["/Registry/OtherAccount"]


# ---------------------------------------------------------------------------- quality gates


def test_template_passes_cfn_lint(synth: Synthesized) -> None:
    assert cfn_lint(synth.json, REGION) == []


# ---------------------------------------------------------------------------- validation


def build(**kwargs: Any) -> ModelPackageGroup:
    return ModelPackageGroup(cdk.Stack(env=ENV), "G", **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"model_package_group_name": "a" * 64},
            r"model_package_group_name='a{64}': must be at most 63 characters",
        ),
        ({"model_package_group_name": "churn_models"}, r"model_package_group_name=.*must match"),
        ({"model_package_group_name": "churn-"}, r"model_package_group_name=.*must match"),
        (
            {"description": "x" * 1025},
            r"description='<1025 characters>': must be at most 1024 characters",
        ),
        ({"description": "two\nlines"}, r"description='two\\nlines': must match"),
        ({"read_accounts": ["12345"]}, r"read_accounts\[0\]='12345': must be a 12-digit"),
        ({"read_accounts": ["22222222222a"]}, r"read_accounts\[0\]=.*12-digit AWS account id"),
        ({"read_accounts": [TEST, TEST]}, r"read_accounts=\['222222222222'\]: each account"),
        ({"read_accounts": TEST}, r"read_accounts='222222222222': must be a list of str"),
        ({"tags": {"aws:owner": "x"}}, r"tags key='aws:owner': the aws: prefix is reserved"),
        ({"tags": {"k": "v" * 257}}, r"tags\['k'\]=.*tag values must have at most 256"),
        ({"removal_policy": "retain"}, r"removal_policy='retain': must be a member"),
    ],
)
def test_fails_when_an_argument_breaks_a_rule(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build(**kwargs)


def test_fails_with_every_problem_at_once() -> None:
    with pytest.raises(ValueError, match=r"\(3 problems\)") as raised:
        build(model_package_group_name="bad_name", read_accounts=["1"], description="a\tb")
    assert "Invalid arguments for ModelPackageGroup 'G'" in str(raised.value)


def test_tokens_are_left_to_deploy_time() -> None:
    stack = cdk.Stack(env=ENV)
    name = cdk.Fn.import_value("GroupName")
    group = ModelPackageGroup(
        stack, "G", model_package_group_name=name, read_accounts=[cdk.Aws.ACCOUNT_ID]
    )
    assert group.model_package_group_name == name


@pytest.mark.parametrize(
    ("arn", "message"),
    [
        ("churn-models", r"must be arn:<partition>:sagemaker:<region>"),
        (
            f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package/churn-models/1",
            r"model-package-group/<name>",
        ),
        (f"arn:aws:sagemaker:{REGION}:1111:model-package-group/g", r"12-digit account"),
        (
            f"arn:aws:sagemaker:us-east-9:{REGISTRY}:model-package-group/g",
            r"must be an AWS region that botocore",
        ),
    ],
)
def test_fails_when_an_imported_arn_is_not_a_group_arn(arn: str, message: str) -> None:
    with pytest.raises(ValueError, match=rf"model_package_group_arn=.*{message}"):
        ModelPackageGroup.from_model_package_group_arn(cdk.Stack(), "G", arn)


def test_fails_when_an_imported_arn_is_a_token() -> None:
    with pytest.raises(ValueError, match=r"must be known at synth time"):
        ModelPackageGroup.from_model_package_group_arn(
            cdk.Stack(), "G", cdk.Fn.import_value("GroupArn")
        )


def test_fails_when_an_imported_name_breaks_the_name_rule() -> None:
    with pytest.raises(ValueError, match=r"model_package_group_name='a b': must match"):
        ModelPackageGroup.from_model_package_group_name(cdk.Stack(), "G", "a b")


@pytest.mark.parametrize("version", [0, -1, 10**9])
def test_fails_when_a_version_is_out_of_range(version: int) -> None:
    group = build(model_package_group_name="g")
    with pytest.raises(ValueError, match=rf"version={version}: must be between 1 and 999999999"):
        group.package_arn(version)


def test_fails_when_a_rule_asks_for_no_status_or_a_bad_name() -> None:
    group = build(model_package_group_name="g")
    with pytest.raises(ValueError, match=r"approval_statuses='<0 items>': must hold between 1"):
        group.on_package_state_change("R", approval_statuses=[])
    with pytest.raises(ValueError, match=r"rule_name='a rule': an EventBridge rule name"):
        group.on_package_approved("R", rule_name="a rule")
    with pytest.raises(ValueError, match=r"approval_statuses\[0\]='Approved': must be a member"):
        group.on_package_state_change("R", approval_statuses=["Approved"])  # type: ignore[list-item]


def test_fails_when_a_grantee_is_not_grantable() -> None:
    group = build(model_package_group_name="g")
    with pytest.raises(ValueError, match=r"grantee='role': must be aws_iam.IGrantable"):
        group.grant_read("role")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- in moto


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def _state_change_event(package: Any) -> dict[str, Any]:
    """The event SageMaker sends for a package's state change, as AWS documents it: its
    ``detail`` is the package as DescribeModelPackage describes it, ``resources`` its ARN."""
    detail = {
        "ModelPackageGroupName": package["ModelPackageGroupName"],
        "ModelPackageVersion": package["ModelPackageVersion"],
        "ModelPackageArn": package["ModelPackageArn"],
        "CreationTime": int(package["CreationTime"].timestamp() * 1000),
        "InferenceSpecification": package["InferenceSpecification"],
        "ModelPackageStatus": package["ModelPackageStatus"],
        "CertifyForMarketplace": package["CertifyForMarketplace"],
        "ModelApprovalStatus": package["ModelApprovalStatus"],
    }
    return {
        "Source": EVENT_SOURCE,
        "DetailType": PACKAGE_STATE_CHANGE,
        "Resources": [package["ModelPackageArn"]],
        "Detail": json.dumps(detail, default=str),
        "Time": datetime.now(),
    }


def _delivered(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_registering_and_approving_a_package_emits_an_event_the_rule_matches(
    synth: Synthesized, aws: None
) -> None:
    """GIVEN the group and its approval rule, as synthesized, in moto;
    WHEN a package is registered (pending) and then approved;
    THEN only the approval's event reaches the rule's target."""
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    eventbridge = boto3.client("events", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)

    group_name = synth.resource(synth.groups["registry"].node.default_child)["Properties"][
        "ModelPackageGroupName"
    ]
    sagemaker.create_model_package_group(ModelPackageGroupName=group_name)
    sagemaker.create_model_package_group(ModelPackageGroupName="other-group")
    queue_url = sqs.create_queue(QueueName="approvals")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    for rule in ("approved", "by_arn"):
        eventbridge.put_rule(Name=rule, EventPattern=json.dumps(synth.pattern(rule)))
        eventbridge.put_targets(Rule=rule, Targets=[{"Id": "queue", "Arn": queue_arn}])

    def register(group: str) -> str:
        return sagemaker.create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={
                "Containers": [
                    {"Image": IMAGE, "ModelDataUrl": "s3://artifacts/churn/1/model.tar.gz"}
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )["ModelPackageArn"]

    def emit(arn: str) -> None:
        package = sagemaker.describe_model_package(ModelPackageName=arn)
        result = eventbridge.put_events(Entries=[_state_change_event(package)])
        assert result["FailedEntryCount"] == 0

    arn = register(group_name)
    assert arn == f"arn:aws:sagemaker:{REGION}:123456789012:model-package/churn-models/1"
    emit(arn)  # registered, pending approval
    assert _delivered(sqs, queue_url) == []

    other = register("other-group")
    sagemaker.update_model_package(ModelPackageArn=other, ModelApprovalStatus="Approved")
    emit(other)  # approved, but in another group
    assert _delivered(sqs, queue_url) == []

    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    emit(arn)
    delivered = _delivered(sqs, queue_url)
    # one event per rule: the group's own, and the one imported by (lower-case) ARN
    assert len(delivered) == 2
    for event in delivered:
        assert event["source"] == "aws.sagemaker"
        assert event["detail-type"] == "SageMaker Model Package State Change"
        assert event["detail"]["ModelApprovalStatus"] == "Approved"
        assert event["detail"]["ModelPackageGroupName"] == NAME
        assert event["detail"]["ModelPackageArn"] == arn
        assert event["resources"] == [arn]

    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected")
    emit(arn)  # rejected after all: nothing to deploy
    assert _delivered(sqs, queue_url) == []
