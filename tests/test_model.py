"""Model: every packaging mode, image source and data source synthesizes as SageMaker expects.

One app for the whole module (synth with the four cdk-nag packs is the slow part).
"""

from __future__ import annotations

import json
import tarfile
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match, Template
from cdk_testing import cfn_lint

from sagemaker_constructs.compliance import add_compliance_checks
from sagemaker_constructs.model import (
    ContainerDefinition,
    ContainerImage,
    ContainerMode,
    IModel,
    InferenceExecutionMode,
    Model,
    ModelData,
)

ENV = cdk.Environment(account="111111111111", region="us-east-1")
DLC = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.16-cpu"
SUBNETS = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1", "subnet-0123456789abcdef2"]


class Synthesized:
    def __init__(self, stack: cdk.Stack, models: dict[str, Model], template: dict[str, Any]):
        self.stack = stack
        self.models = models
        self.json = template
        self.template = Template.from_json(template)
        self.imported: IModel | None = None

    def logical_id(self, model: Model) -> str:
        return self.stack.get_logical_id(model.resource)

    def model_props(self, name: str) -> dict[str, Any]:
        return self.json["Resources"][self.logical_id(self.models[name])]["Properties"]  # type: ignore[no-any-return]

    def policy_statements(self, name: str) -> list[dict[str, Any]]:
        scoped = self.models[name]._scoped
        assert scoped is not None
        policy_id = self.stack.get_logical_id(scoped.policy.node.default_child)  # type: ignore[arg-type]
        document = self.json["Resources"][policy_id]["Properties"]["PolicyDocument"]
        return document["Statement"]  # type: ignore[no-any-return]

    def unscoped_statements(self, name: str) -> list[dict[str, Any]]:
        scoped = self.models[name]._scoped
        assert scoped is not None
        assert scoped.unscoped_policy is not None
        policy_id = self.stack.get_logical_id(scoped.unscoped_policy.node.default_child)  # type: ignore[arg-type]
        document = self.json["Resources"][policy_id]["Properties"]["PolicyDocument"]
        return document["Statement"]  # type: ignore[no-any-return]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """GIVEN one stack holding a model of every shape, WHEN it is synthesized with every check."""
    work = tmp_path_factory.mktemp("model")
    image_dir = work / "image"
    image_dir.mkdir()
    (image_dir / "Dockerfile").write_text("FROM public.ecr.aws/docker/library/python:3.12-slim\n")
    archive = work / "model.tar.gz"
    (work / "model.joblib").write_bytes(b"weights")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(work / "model.joblib", arcname="model.joblib")

    app = cdk.App(outdir=str(work / "cdk.out"))
    stack = cdk.Stack(app, "Models", env=ENV)
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-0123456789abcdef0",
        vpc_cidr_block="10.0.0.0/16",
        availability_zones=["us-east-1a", "us-east-1b", "us-east-1c"],
        isolated_subnet_ids=SUBNETS,
    )
    key = kms.Key(stack, "DataKey", enable_key_rotation=True)
    bucket = s3.Bucket.from_bucket_attributes(
        stack, "ModelsBucket", bucket_name="my-models-bucket", encryption_key=key
    )
    plain_bucket = s3.Bucket.from_bucket_name(stack, "PlainBucket", "plain-bucket")
    repository = ecr.Repository.from_repository_name(stack, "Repo", "classifier")
    existing_asset = ecr_assets.DockerImageAsset(stack, "Existing", directory=str(image_dir))
    user_role = iam.Role.from_role_arn(
        stack, "UserRole", "arn:aws:iam::111111111111:role/ml-execution", mutable=False
    )
    user_group = ec2.SecurityGroup.from_security_group_id(
        stack, "UserGroup", "sg-0123456789abcdef0", allow_all_outbound=False
    )

    models = {
        "single": Model(
            stack,
            "Single",
            containers=[
                ContainerDefinition(
                    image=ContainerImage.from_ecr_repository(repository, "1.4.2"),
                    model_data=ModelData.from_bucket(bucket, "classifier/model.tar.gz"),
                    environment={"SAGEMAKER_PROGRAM": "inference.py", "LOG_LEVEL": "INFO"},
                    container_hostname="classifier",
                )
            ],
        ),
        "multi": Model(
            stack,
            "Multi",
            containers=[
                ContainerDefinition(
                    image=ContainerImage.from_registry(DLC),
                    model_data=ModelData.from_bucket(plain_bucket, "multi-model/"),
                    mode=ContainerMode.MULTI_MODEL,
                )
            ],
            vpc=vpc,
            network_isolation=True,
            s3_prefix_list_id="pl-63a5400a",
        ),
        # A VPC imported with its CIDR as a token: resolved at deploy time.
        "token_cidr": Model(
            stack,
            "TokenCidr",
            containers=[
                ContainerDefinition(
                    image=ContainerImage.from_registry(DLC),
                    model_data=ModelData.from_bucket(plain_bucket, "classifier/model.tar.gz"),
                )
            ],
            vpc=ec2.Vpc.from_vpc_attributes(
                stack,
                "TokenVpc",
                vpc_id=cdk.Fn.import_value("VpcId"),
                vpc_cidr_block=cdk.Fn.import_value("VpcCidr"),
                availability_zones=["us-east-1a", "us-east-1b"],
                isolated_subnet_ids=SUBNETS[:2],
            ),
        ),
        "serial": Model(
            stack,
            "Serial",
            containers=[
                ContainerDefinition(image=ContainerImage.from_registry(DLC)),
                ContainerDefinition(
                    image=ContainerImage.from_docker_image_asset(existing_asset),
                    model_data=ModelData.from_asset(str(archive)),
                ),
                ContainerDefinition(
                    image=ContainerImage.from_ecr_repository(repository, "sha256:" + "a" * 64)
                ),
            ],
        ),
        "direct": Model(
            stack,
            "Direct",
            containers=[
                ContainerDefinition(
                    image=ContainerImage.from_asset(str(image_dir)), container_hostname="pre"
                ),
                ContainerDefinition(
                    image=ContainerImage.from_registry(DLC),
                    model_data=ModelData.from_bucket(plain_bucket, "uncompressed/"),
                    container_hostname="tf",
                ),
            ],
            inference_execution_mode=InferenceExecutionMode.DIRECT,
        ),
        "user": Model(
            stack,
            "UserRoleModel",
            containers=[
                ContainerDefinition(
                    image=ContainerImage.from_registry(
                        "registry.internal.example.com/team/model:1"
                    ),
                    model_data=ModelData.from_url("s3://elsewhere/model.tar.gz"),
                )
            ],
            role=user_role,
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnets=vpc.isolated_subnets[:2]),
            security_groups=[user_group],
            model_name="user-model",
        ),
    }
    result_stack = stack
    add_compliance_checks(app)
    imported = Model.from_model_name(stack, "Imported", "Legacy-Model")
    assembly = app.synth()  # raises on any unacknowledged cdk-nag finding
    template = assembly.get_stack_by_name("Models").template
    result = Synthesized(result_stack, models, template)
    result.imported = imported
    return result


# ---------------------------------------------------------------------------- shapes


def test_single_container_has_image_data_environment_and_hostname(synth: Synthesized) -> None:
    props = synth.model_props("single")
    container = props["PrimaryContainer"]
    assert container["ContainerHostname"] == "classifier"
    assert container["Environment"] == {"SAGEMAKER_PROGRAM": "inference.py", "LOG_LEVEL": "INFO"}
    assert container["ModelDataUrl"] == "s3://my-models-bucket/classifier/model.tar.gz"
    assert "classifier:1.4.2" in json.dumps(container["Image"])
    for absent in ("Containers", "InferenceExecutionConfig", "VpcConfig", "EnableNetworkIsolation"):
        assert absent not in props


def test_multi_model_container_serves_an_s3_prefix(synth: Synthesized) -> None:
    container = synth.model_props("multi")["PrimaryContainer"]
    assert container == {
        "Image": DLC,
        "Mode": "MultiModel",
        "ModelDataUrl": "s3://plain-bucket/multi-model/",
    }


def test_serial_pipeline_is_the_default_for_several_containers(synth: Synthesized) -> None:
    props = synth.model_props("serial")
    assert props["InferenceExecutionConfig"] == {"Mode": "Serial"}
    assert len(props["Containers"]) == 3
    assert "PrimaryContainer" not in props
    assert props["Containers"][0]["Image"] == DLC
    assert "container-assets" in json.dumps(props["Containers"][1]["Image"])
    assert props["Containers"][1]["ModelDataUrl"].startswith("s3://cdk-")
    assert props["Containers"][2]["Image"]  # resolved below by digest
    assert "@sha256:" + "a" * 64 in json.dumps(props["Containers"][2]["Image"])


def test_direct_pipeline_names_every_container(synth: Synthesized) -> None:
    props = synth.model_props("direct")
    assert props["InferenceExecutionConfig"] == {"Mode": "Direct"}
    assert [c["ContainerHostname"] for c in props["Containers"]] == ["pre", "tf"]


def test_prefix_for_a_single_model_is_uncompressed_model_data_source(synth: Synthesized) -> None:
    container = synth.model_props("direct")["Containers"][1]
    assert "ModelDataUrl" not in container
    assert container["ModelDataSource"] == {
        "S3DataSource": {
            "S3Uri": "s3://plain-bucket/uncompressed/",
            "S3DataType": "S3Prefix",
            "CompressionType": "None",
        }
    }


def test_vpc_model_gets_a_security_group_and_network_isolation(synth: Synthesized) -> None:
    props = synth.model_props("multi")
    assert props["EnableNetworkIsolation"] is True
    assert props["VpcConfig"]["Subnets"] == SUBNETS
    group = synth.models["multi"].security_groups[0]
    group_id = synth.stack.get_logical_id(group.node.default_child)  # type: ignore[arg-type]
    assert props["VpcConfig"]["SecurityGroupIds"] == [{"Fn::GetAtt": [group_id, "GroupId"]}]
    assert synth.models["multi"].connections is not None
    assert synth.models["single"].connections is None


def _egress(synth: Synthesized, name: str) -> list[dict[str, Any]]:
    group = synth.models[name].security_groups[0]
    group_id = synth.stack.get_logical_id(group.node.default_child)  # type: ignore[arg-type]
    return synth.json["Resources"][group_id]["Properties"]["SecurityGroupEgress"]  # type: ignore[no-any-return]


def test_the_created_group_reaches_the_vpc_endpoints_and_the_s3_prefix_list_only(
    synth: Synthesized,
) -> None:
    https = {"FromPort": 443, "IpProtocol": "tcp", "ToPort": 443}
    assert _egress(synth, "multi") == [
        {"CidrIp": "10.0.0.0/16", "Description": "HTTPS to the VPC endpoints", **https}
    ]
    group = synth.models["multi"].security_groups[0]
    group_id = synth.stack.get_logical_id(group.node.default_child)  # type: ignore[arg-type]
    assert "SecurityGroupIngress" not in synth.json["Resources"][group_id]["Properties"]
    # CloudFormation takes a prefix-list destination as a rule resource of its own.
    rules = synth.template.find_resources("AWS::EC2::SecurityGroupEgress")
    assert [r["Properties"] for r in rules.values()] == [
        {
            "GroupId": {"Fn::GetAtt": [group_id, "GroupId"]},
            "DestinationPrefixListId": "pl-63a5400a",
            "Description": "HTTPS to the S3 gateway endpoint",
            **https,
        }
    ]


def test_a_vpc_cidr_token_is_resolved_at_deploy_time(synth: Synthesized) -> None:
    assert _egress(synth, "token_cidr") == [
        {
            "CidrIp": {"Fn::ImportValue": "VpcCidr"},
            "Description": "HTTPS to the VPC endpoints",
            "FromPort": 443,
            "IpProtocol": "tcp",
            "ToPort": 443,
        }
    ]


def test_no_group_egress_reaches_the_internet(synth: Synthesized) -> None:
    for group in synth.template.find_resources("AWS::EC2::SecurityGroup").values():
        for rule in group["Properties"].get("SecurityGroupEgress", []):
            assert rule.get("CidrIp") != "0.0.0.0/0"
            assert "CidrIpv6" not in rule


def test_a_model_without_the_s3_prefix_list_is_warned_about(synth: Synthesized) -> None:
    warnings = Annotations.from_stack(synth.stack).find_warning(
        "*", Match.string_like_regexp("sagemaker-constructs:model-s3-egress")
    )
    assert [w.id for w in warnings] == ["/Models/TokenCidr"]


def test_user_vpc_settings_role_name_and_private_registry(synth: Synthesized) -> None:
    props = synth.model_props("user")
    assert props["ModelName"] == "user-model"
    assert props["ExecutionRoleArn"] == "arn:aws:iam::111111111111:role/ml-execution"
    assert props["VpcConfig"] == {
        "Subnets": SUBNETS[:2],
        "SecurityGroupIds": ["sg-0123456789abcdef0"],
    }
    container = props["PrimaryContainer"]
    assert container["ImageConfig"] == {"RepositoryAccessMode": "Vpc"}
    assert container["ModelDataUrl"] == "s3://elsewhere/model.tar.gz"
    assert synth.models["user"].role.role_arn == "arn:aws:iam::111111111111:role/ml-execution"


def test_imported_model_exposes_name_and_lower_case_arn(synth: Synthesized) -> None:
    imported = synth.imported
    assert imported is not None
    assert isinstance(imported, IModel)
    assert imported.model_name == "Legacy-Model"
    assert imported.role is None
    arn = synth.stack.resolve(imported.model_arn)
    assert "model/legacy-model" in json.dumps(arn)


# ---------------------------------------------------------------------------- IAM


def test_created_role_is_assumed_by_sagemaker_only(synth: Synthesized) -> None:
    synth.template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    Match.object_like(
                        {"Principal": {"Service": "sagemaker.amazonaws.com"}, "Effect": "Allow"}
                    )
                ]
            },
            "ManagedPolicyArns": Match.absent(),
            "Policies": Match.absent(),
        },
    )


def test_iam_is_scoped_no_wildcard_actions_no_inline_or_aws_managed_policies(
    synth: Synthesized,
) -> None:
    resources = synth.json["Resources"].values()
    assert not [r for r in resources if r["Type"] == "AWS::IAM::Policy"]
    for resource in resources:
        if resource["Type"] == "AWS::IAM::Role":
            assert "ManagedPolicyArns" not in resource["Properties"] or all(
                ":iam::aws:policy/" not in json.dumps(a)
                for a in resource["Properties"]["ManagedPolicyArns"]
            )
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                assert all("*" not in action for action in _actions(statement)), statement


def test_ecr_pull_for_each_image_source(synth: Synthesized) -> None:
    def pull_resources(name: str) -> list[str]:
        return [
            json.dumps(s["Resource"])
            for s in synth.policy_statements(name)
            if "ecr:BatchGetImage" in _actions(s)
        ]

    assert any("repository/classifier" in r for r in pull_resources("single"))
    # The Deep Learning Container's repository, in AWS's account, from its URI.
    assert any(
        ":ecr:us-east-1:763104351884:repository/tensorflow-inference" in r
        for r in pull_resources("multi")
    )
    assert any("container-assets" in r for r in pull_resources("direct"))
    token = [
        s for s in synth.unscoped_statements("single") if "ecr:GetAuthorizationToken" in _actions(s)
    ]
    assert token == [
        {
            "Action": "ecr:GetAuthorizationToken",
            "Effect": "Allow",
            "Resource": "*",
            "Sid": "EcrAuthorizationToken",
        }
    ]
    assert all(s["Resource"] != "*" for s in synth.policy_statements("single"))


def test_s3_read_is_limited_to_the_models_own_data_with_kms_decrypt(synth: Synthesized) -> None:
    single = synth.policy_statements("single")
    reads = [s for s in single if "s3:GetObject" in _actions(s)]
    assert len(reads) == 1
    assert json.dumps(reads[0]["Resource"]).endswith('my-models-bucket/classifier/model.tar.gz"]]}')
    decrypt = [s for s in single if _actions(s) == ["kms:Decrypt"]]
    assert len(decrypt) == 1
    multi = synth.policy_statements("multi")
    assert any(
        "plain-bucket/multi-model/*" in json.dumps(s["Resource"])
        for s in multi
        if "s3:GetObject" in _actions(s)
    )
    assert not any(a.startswith("kms:") for s in multi for a in _actions(s))
    listing = [s for s in synth.policy_statements("direct") if "s3:ListBucket" in _actions(s)]
    assert listing[0]["Condition"] == {"StringLike": {"s3:prefix": ["uncompressed/*"]}}


def test_logs_limited_to_endpoint_log_groups(synth: Synthesized) -> None:
    logs = [s for s in synth.policy_statements("single") if "logs:PutLogEvents" in _actions(s)]
    assert len(logs) == 1
    assert json.dumps(logs[0]["Resource"]).endswith(
        ':logs:us-east-1:111111111111:log-group:/aws/sagemaker/Endpoints/*"]]}'
    )


def test_vpc_permissions_only_for_models_in_a_vpc_and_scoped_to_it(synth: Synthesized) -> None:
    assert not any(
        a.startswith("ec2:") for s in synth.policy_statements("single") for a in _actions(s)
    )
    multi = synth.policy_statements("multi")
    create = next(s for s in multi if _actions(s) == ["ec2:CreateNetworkInterface"])
    resources = json.dumps(create["Resource"])
    assert all(f"subnet/{subnet}" in resources for subnet in SUBNETS)
    assert "security-group/" in resources
    manage = next(s for s in multi if "ec2:DeleteNetworkInterface" in _actions(s))
    assert "vpc/vpc-0123456789abcdef0" in json.dumps(manage["Condition"]["ArnEquals"]["ec2:Vpc"])


def test_model_waits_for_its_permissions(synth: Synthesized) -> None:
    model = synth.json["Resources"][synth.logical_id(synth.models["single"])]
    scoped = synth.models["single"]._scoped
    assert scoped is not None
    policy_id = synth.stack.get_logical_id(scoped.policy.node.default_child)  # type: ignore[arg-type]
    assert policy_id in model["DependsOn"]


def test_user_role_is_used_as_is(synth: Synthesized) -> None:
    assert synth.models["user"]._scoped is None
    policies = [
        r for r in synth.json["Resources"] if r.startswith("UserRoleModel") and "Polic" in r
    ]
    assert policies == []


def test_each_wildcard_is_acknowledged_individually_with_a_reason(synth: Synthesized) -> None:
    scoped = synth.models["multi"]._scoped
    assert scoped is not None
    entries = [
        e.data
        for e in scoped.policy.node.default_child.node.metadata  # type: ignore[union-attr]
        if e.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    ]
    text = json.dumps(entries)
    # the scoped policy: each wildcard ARN pattern on its own, with its own reason; no '*'
    assert "AwsSolutions-IAM5[Resource::*]" not in text
    assert (
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::plain-bucket/multi-model/*]" in text
    )
    assert "below its model-data prefix" in text
    assert 'AwsSolutions::AwsSolutions-IAM5"' not in text  # never the whole rule
    # the unscoped policy: '*' for the listed actions only, each with its AWS reason
    unscoped = scoped.unscoped_policy
    assert unscoped is not None
    resource = synth.json["Resources"][synth.stack.get_logical_id(unscoped.node.default_child)]  # type: ignore[arg-type]
    declared = resource["Metadata"]["sagemaker-constructs:unscoped-actions"]
    assert "Service Authorization Reference" in declared["ecr:GetAuthorizationToken"]
    assert set(declared) == {a for s in synth.unscoped_statements("multi") for a in _actions(s)}


def test_template_passes_cfn_lint(synth: Synthesized) -> None:
    assert cfn_lint(synth.json, "us-east-1") == []


def test_grant_principal_adds_to_the_managed_policy() -> None:
    stack = cdk.Stack()
    model = Model(
        stack,
        "M",
        containers=[ContainerDefinition(image=ContainerImage.from_registry(DLC))],
    )
    model.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(actions=["sqs:SendMessage"], resources=["arn:aws:sqs:us-east-1:1:q"])
    )
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::IAM::Policy", 0)
    template.has_resource_properties(
        "AWS::IAM::ManagedPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with([Match.object_like({"Action": "sqs:SendMessage"})])
            }
        },
    )


def test_asset_image_is_only_staged_at_synth(synth: Synthesized) -> None:
    # The direct pipeline's image came from a local Dockerfile: the template refers to the
    # bootstrap container-assets repository, no Docker run was needed to synthesize it.
    image = synth.model_props("direct")["Containers"][0]["Image"]
    assert "cdk-hnb659fds-container-assets-111111111111-us-east-1:" in json.dumps(image)
