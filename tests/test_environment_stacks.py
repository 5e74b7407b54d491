"""The per-environment stacks: an isolated foundation, compliant and lint-clean."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template
from cdk_testing import SynthesizedApp, cdk_json_context, cfn_lint

from stacks.app import build_app
from stacks.config import CONTEXT_KEY
from stacks.environment_stack import (
    NOTHING_TO_PROMOTE,
    PROMOTION_CANDIDATE_OUTPUT,
    PROMOTION_ROLLOUT_OUTPUT,
    TRAINING_CODE_PREFIX,
    TRAINING_PIPELINE_FILE,
    variant_name,
)
from stacks.foundation import INTERFACE_ENDPOINTS, SAGEMAKER_LOG_GROUPS

ENVIRONMENTS = ("dev", "test", "prod")


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def template(request: pytest.FixtureRequest, synthesized: SynthesizedApp) -> Template:
    environment: str = request.param
    return synthesized.template(environment)


def statements(template: Template, resource_type: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for resource in template.find_resources(resource_type).values():
        document = resource["Properties"].get("PolicyDocument") or resource["Properties"].get(
            "KeyPolicy"
        )
        found.extend(document["Statement"])
    return found


def test_one_stack_per_environment_bound_to_its_account_and_region(
    synthesized: SynthesizedApp,
) -> None:
    assert [s.stack_name for s in synthesized.stacks] == [
        f"sagemaker-constructs-{name}" for name in ENVIRONMENTS
    ]
    assert [s.account for s in synthesized.stacks] == [
        "111111111111",
        "222222222222",
        "333333333333",
    ]
    assert all(s.region == "us-east-1" for s in synthesized.stacks)


def test_no_context_lookups_are_needed(synthesized: SynthesizedApp) -> None:
    manifest = json.loads((synthesized.outdir / "manifest.json").read_text())
    assert manifest.get("missing") is None


def test_vpc_has_isolated_subnets_only(template: Template) -> None:
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.resource_count_is("AWS::EC2::InternetGateway", 0)
    template.resource_count_is("AWS::EC2::Route", 0)
    template.resource_count_is("AWS::EC2::Subnet", 2)
    template.all_resources_properties("AWS::EC2::Subnet", {"MapPublicIpOnLaunch": False})


def test_interface_endpoints_for_every_service_the_project_uses(template: Template) -> None:
    endpoints = template.find_resources(
        "AWS::EC2::VPCEndpoint", {"Properties": {"VpcEndpointType": "Interface"}}
    )
    services = sorted(e["Properties"]["ServiceName"] for e in endpoints.values())
    expected = [
        "com.amazonaws.us-east-1.ecr.api",
        "com.amazonaws.us-east-1.ecr.dkr",
        "com.amazonaws.us-east-1.kms",
        "com.amazonaws.us-east-1.logs",
        "com.amazonaws.us-east-1.monitoring",
        "com.amazonaws.us-east-1.sagemaker.api",
        "com.amazonaws.us-east-1.sagemaker.runtime",
        "com.amazonaws.us-east-1.sns",
        "com.amazonaws.us-east-1.states",
        "com.amazonaws.us-east-1.sts",
    ]
    assert services == expected
    assert len(INTERFACE_ENDPOINTS) == len(expected)
    template.all_resources_properties(
        "AWS::EC2::VPCEndpoint",
        Match.object_like({"VpcEndpointType": Match.any_value()}),
    )
    for endpoint in endpoints.values():
        assert endpoint["Properties"]["PrivateDnsEnabled"] is True


@pytest.mark.parametrize("service", ["s3", "dynamodb"])
def test_s3_and_dynamodb_are_gateway_endpoints(template: Template, service: str) -> None:
    template.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {
            "VpcEndpointType": "Gateway",
            "ServiceName": {
                "Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, f".{service}"]]
            },
        },
    )


def test_interface_endpoints_admit_principals_of_this_account_only(template: Template) -> None:
    endpoints = template.find_resources(
        "AWS::EC2::VPCEndpoint", {"Properties": {"VpcEndpointType": "Interface"}}
    )
    assert len(endpoints) == len(INTERFACE_ENDPOINTS)
    for endpoint in endpoints.values():
        [statement] = endpoint["Properties"]["PolicyDocument"]["Statement"]
        assert statement["Principal"] == {"AWS": "*"}
        assert statement["Condition"] == {
            "StringEquals": {"aws:PrincipalAccount": {"Ref": "AWS::AccountId"}}
        }


def _gateway_policy(template: Template, service: str) -> list[dict[str, Any]]:
    [endpoint] = [
        e
        for e in template.find_resources("AWS::EC2::VPCEndpoint").values()
        if service in json.dumps(e["Properties"]["ServiceName"])
    ]
    return endpoint["Properties"]["PolicyDocument"]["Statement"]  # type: ignore[no-any-return]


def test_the_s3_endpoint_reaches_the_environments_buckets_and_ecr_layers_only(
    template: Template,
) -> None:
    statements = {s["Sid"]: s for s in _gateway_policy(template, ".s3")}
    assert set(statements) == {"EcrImageLayers", "EnvironmentBuckets0"}
    layers = json.dumps(statements["EcrImageLayers"]["Resource"])
    assert "starport-layer-bucket/*" in layers
    assert statements["EcrImageLayers"]["Action"] == "s3:GetObject"
    buckets = statements["EnvironmentBuckets0"]
    assert buckets["Condition"] == {
        "StringEquals": {"aws:PrincipalAccount": {"Ref": "AWS::AccountId"}}
    }
    assert all("*" not in action for action in buckets["Action"])
    # each bucket and its objects, by name: the data bucket (generated) and the model bucket
    names = [json.dumps(r) for r in buckets["Resource"]]
    assert len(names) == 4
    assert sum("DataBucket" in n for n in names) == 2
    assert sum("s3:::sagemaker-constructs-models-" in n for n in names) == 2
    assert all("*" not in n.replace("/*", "") for n in names)


def test_the_dynamodb_endpoint_reaches_tables_of_this_account_only(template: Template) -> None:
    [statement] = _gateway_policy(template, ".dynamodb")
    assert statement["Condition"] == {
        "StringEquals": {"aws:PrincipalAccount": {"Ref": "AWS::AccountId"}}
    }
    assert all(a.startswith("dynamodb:") and "*" not in a for a in statement["Action"])


def test_sagemakers_account_wide_log_groups_are_created_encrypted_with_a_retention(
    template: Template,
) -> None:
    groups = template.find_resources("AWS::Logs::LogGroup")
    by_name = {g["Properties"].get("LogGroupName"): g["Properties"] for g in groups.values()}
    for name in SAGEMAKER_LOG_GROUPS.values():
        assert name in by_name, name
        assert "KmsKeyId" in by_name[name]
        assert by_name[name]["RetentionInDays"] == 365


def test_every_log_group_is_encrypted_and_expires(template: Template) -> None:
    for group in template.find_resources("AWS::Logs::LogGroup").values():
        assert "KmsKeyId" in group["Properties"]
        assert "RetentionInDays" in group["Properties"]


def test_every_function_logs_to_a_log_group_of_the_stack(template: Template) -> None:
    """Lambda would otherwise create /aws/lambda/<name> on first run: unencrypted, forever."""
    groups = set(template.find_resources("AWS::Logs::LogGroup"))
    for function in template.find_resources("AWS::Lambda::Function").values():
        assert function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] in groups


def _job_role_statements(template: Template) -> list[dict[str, Any]]:
    [policy] = [
        p
        for lid, p in template.find_resources("AWS::IAM::ManagedPolicy").items()
        if lid.startswith("TrainingJobRolePolicy")
    ]
    return policy["Properties"]["PolicyDocument"]["Statement"]  # type: ignore[no-any-return]


def test_training_jobs_cannot_rewrite_the_code_they_run(template: Template) -> None:
    code_uris = [
        line.split('"S3Uri": "')[1].split('"')[0]
        for line in TRAINING_PIPELINE_FILE.read_text().splitlines()
        if '"S3Uri": "s3://' in line
    ]
    assert code_uris
    assert all(f"/{TRAINING_CODE_PREFIX}" in uri for uri in code_uris)
    statements = {s.get("Sid"): s for s in _job_role_statements(template)}
    deny = statements["CodeIsReadOnly"]
    assert deny["Effect"] == "Deny"
    assert set(deny["Action"]) == {"s3:PutObject", "s3:DeleteObject"}
    assert f"/{TRAINING_CODE_PREFIX}*" in json.dumps(deny["Resource"])


def test_training_jobs_create_key_grants_only_for_aws_resources(template: Template) -> None:
    grants = [s for s in _job_role_statements(template) if "kms:CreateGrant" in s["Action"]]
    assert [g["Condition"] for g in grants] == [{"Bool": {"kms:GrantIsForAWSResource": "true"}}]


def test_endpoints_accept_https_from_the_vpc_only(template: Template) -> None:
    groups = template.find_resources(
        "AWS::EC2::SecurityGroup",
        {"Properties": {"GroupDescription": Match.string_like_regexp("AWS service endpoints")}},
    )
    (group,) = groups.values()
    (ingress,) = group["Properties"]["SecurityGroupIngress"]
    assert ingress["IpProtocol"] == "tcp"
    assert (ingress["FromPort"], ingress["ToPort"]) == (443, 443)
    assert ingress["CidrIp"].startswith("10.")
    assert ingress["CidrIp"].endswith(".0.0/16")
    egress = group["Properties"]["SecurityGroupEgress"]
    assert all(rule["CidrIp"] == "255.255.255.255/32" for rule in egress)  # CDK's "no egress"


def test_no_security_group_reaches_the_internet(template: Template) -> None:
    for group in template.find_resources("AWS::EC2::SecurityGroup").values():
        for rule in group["Properties"].get("SecurityGroupEgress", []):
            assert rule.get("CidrIp") != "0.0.0.0/0"
            assert "CidrIpv6" not in rule
            if rule["CidrIp"] != "255.255.255.255/32":  # CDK's "no egress" placeholder
                assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 443, 443)
    for rule in template.find_resources("AWS::EC2::SecurityGroupEgress").values():
        assert rule["Properties"]["DestinationPrefixListId"] in {"pl-63a5400a", "pl-02cd2c6b"}
        assert rule["Properties"]["FromPort"] == rule["Properties"]["ToPort"] == 443


def _egress_of(synthesized: SynthesizedApp, stack: Any, connectable: Any) -> tuple[Any, list[str]]:
    """The inline egress destinations of the one group of ``connectable`` and the prefix lists
    of its separate egress rules."""
    [group] = connectable.connections.security_groups
    group_id = stack.get_logical_id(group.node.default_child)
    resources = synthesized.template_json(stack)["Resources"]
    inline = [r["CidrIp"] for r in resources[group_id]["Properties"]["SecurityGroupEgress"]]
    prefix_lists = [
        r["Properties"]["DestinationPrefixListId"]
        for r in resources.values()
        if r["Type"] == "AWS::EC2::SecurityGroupEgress"
        and r["Properties"]["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
    ]
    return inline, prefix_lists


def test_models_reach_s3_and_the_guard_dynamodb_through_the_gateway_endpoints_only(
    synthesized: SynthesizedApp,
) -> None:
    for stack in synthesized.stacks:
        vpc_cidr = [stack.resolve(stack.foundation.vpc.vpc_cidr_block)]
        for model in (stack.model, stack.candidate_model):
            if model is not None:
                assert _egress_of(synthesized, stack, model) == (vpc_cidr, ["pl-63a5400a"])
        if stack.rollout is not None:
            guard = _egress_of(synthesized, stack, stack.rollout.guard)
            assert guard == (vpc_cidr, ["pl-02cd2c6b"])
            assert _egress_of(synthesized, stack, stack.rollout.evaluator) == (vpc_cidr, [])
    assert synthesized.stacks[0].rollout is not None  # dev has a candidate


def test_the_endpoint_is_named_and_its_log_group_exists_before_it(
    synthesized: SynthesizedApp,
) -> None:
    for stack in synthesized.stacks:
        resources = synthesized.template_json(stack)["Resources"]
        endpoint = resources[stack.get_logical_id(stack.endpoint.resource)]
        name = f"sagemaker-constructs-{stack.config.name}"
        assert endpoint["Properties"]["EndpointName"] == name
        assert stack.endpoint.log_group is not None
        group_id = stack.get_logical_id(stack.endpoint.log_group.node.default_child)  # type: ignore[arg-type]
        assert group_id in endpoint["DependsOn"]
        group = resources[group_id]["Properties"]
        assert group["LogGroupName"] == f"/aws/sagemaker/Endpoints/{name}"
        key_id = stack.get_logical_id(stack.foundation.key.node.default_child)  # type: ignore[arg-type]
        assert group["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
        assert group["RetentionInDays"] == stack.config.log_retention_days
        # the environment's key, not a key of the endpoint's own
        assert stack.endpoint.node.try_find_child("LogKey") is None


def test_key_rotation_is_on(template: Template) -> None:
    keys = template.find_resources("AWS::KMS::Key")
    assert keys
    for key in keys.values():
        assert key["Properties"]["EnableKeyRotation"] is True


def test_flow_logs_capture_all_traffic_into_an_encrypted_log_group(template: Template) -> None:
    template.has_resource_properties(
        "AWS::EC2::FlowLog",
        {"ResourceType": "VPC", "TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"},
    )
    template.has_resource_properties(
        "AWS::Logs::LogGroup",
        {"RetentionInDays": 365, "KmsKeyId": {"Fn::GetAtt": [Match.any_value(), "Arn"]}},
    )


def test_default_security_group_is_restricted(template: Template) -> None:
    template.resource_count_is("Custom::VpcRestrictDefaultSG", 1)


def test_iam_uses_managed_policies_and_never_wildcard_actions(template: Template) -> None:
    template.resource_count_is("AWS::IAM::Policy", 0)
    for logical_id, role in template.find_resources("AWS::IAM::Role").items():
        if logical_id.startswith("CustomVpcRestrictDefaultSGCustomResourceProvider"):
            continue  # CDK's own provider for restrict_default_security_group
        assert "Policies" not in role["Properties"], logical_id
    for statement in statements(template, "AWS::IAM::ManagedPolicy"):
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        assert all(action != "*" and not action.endswith(":*") for action in actions), statement


def test_stacks_are_tagged_with_project_and_environment(synthesized: SynthesizedApp) -> None:
    for stack in synthesized.stacks:
        vpc = synthesized.template(stack.config.name).find_resources("AWS::EC2::VPC")
        (resource,) = vpc.values()
        tags = {t["Key"]: t["Value"] for t in resource["Properties"]["Tags"]}
        assert tags["Project"] == "sagemaker-constructs"
        assert tags["Environment"] == stack.config.name


def test_prod_retains_stateful_resources_and_dev_does_not(synthesized: SynthesizedApp) -> None:
    for name, policy in (("dev", "Delete"), ("test", "Delete"), ("prod", "Retain")):
        template = synthesized.template(name)
        for resource_type in ("AWS::KMS::Key", "AWS::Logs::LogGroup", "AWS::S3::Bucket"):
            resources = template.find_resources(resource_type)
            assert resources, (name, resource_type)
            for logical_id, resource in resources.items():
                assert resource["DeletionPolicy"] == policy, (name, logical_id)
    assert [s.termination_protection for s in synthesized.stacks] == [False, False, True]


def test_validation_report_shows_all_four_packs_passing(synthesized: SynthesizedApp) -> None:
    report = synthesized.validation_report()
    assert report["title"] == "Validation Report"
    by_pack = {r["pluginName"]: r for r in report["pluginReports"]}
    for pack in ("AwsSolutions", "HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321"):
        assert by_pack[pack]["conclusion"] == "success", pack
        assert by_pack[pack]["violations"] == [], pack
    failing = [
        r for r in report["pluginReports"] if r["violations"] or r["conclusion"] != "success"
    ]
    assert failing == []


def test_every_acknowledgement_carries_a_reason(synthesized: SynthesizedApp) -> None:
    report = synthesized.validation_report()
    acknowledged = [
        finding for r in report["pluginReports"] for finding in r.get("suppressedViolations", [])
    ]
    assert acknowledged
    for finding in acknowledged:
        assert len(finding["reason"]) >= 40, finding["acknowledgedId"]
        (construct,) = finding["violatingConstructs"]  # one resource per acknowledgement
        assert construct["constructPath"] == finding["acknowledgedAt"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_templates_pass_cfn_lint(synthesized: SynthesizedApp, environment: str) -> None:
    stack = next(s for s in synthesized.stacks if s.config.name == environment)
    assert cfn_lint(synthesized.template_json(stack), stack.region) == []


def test_notebook_in_dev_and_test_but_not_in_prod(synthesized: SynthesizedApp) -> None:
    counts = {
        name: len(synthesized.template(name).find_resources("AWS::SageMaker::NotebookInstance"))
        for name in ENVIRONMENTS
    }
    assert counts == {"dev": 1, "test": 1, "prod": 0}
    synthesized.template("dev").has_resource_properties(
        "AWS::SageMaker::NotebookInstance",
        {
            "InstanceType": "ml.t3.medium",
            "DirectInternetAccess": "Disabled",
            "RootAccess": "Disabled",
            "SubnetId": Match.any_value(),
            "KmsKeyId": Match.any_value(),
        },
    )


def test_endpoint_uses_the_environments_instance_type(synthesized: SynthesizedApp) -> None:
    expected = {"dev": "ml.t2.medium", "test": "ml.m5.xlarge", "prod": "ml.m5.4xlarge"}
    for name, instance_type in expected.items():
        (config,) = (
            synthesized.template(name).find_resources("AWS::SageMaker::EndpointConfig").values()
        )
        variants = config["Properties"]["ProductionVariants"]
        assert {v["InstanceType"] for v in variants} == {instance_type}
        assert "KmsKeyId" in config["Properties"]


def test_candidate_model_is_a_second_variant_at_weight_zero(synthesized: SynthesizedApp) -> None:
    """Every shipped environment has a candidate (each account canaries what it deploys)."""
    for stack in synthesized.stacks:
        config = stack.config
        assert config.candidate is not None
        (endpoint_config,) = (
            synthesized.template(config.name)
            .find_resources("AWS::SageMaker::EndpointConfig")
            .values()
        )
        weights = {
            v["VariantName"]: v["InitialVariantWeight"]
            for v in endpoint_config["Properties"]["ProductionVariants"]
        }
        assert weights == {variant_name(config.model): 1, variant_name(config.candidate): 0}
        (endpoint,) = (
            synthesized.template(config.name).find_resources("AWS::SageMaker::Endpoint").values()
        )
        assert endpoint["Properties"]["RetainAllVariantProperties"] is True
        assert "ExcludeRetainedVariantProperties" not in endpoint["Properties"]


def test_variants_are_named_after_their_models() -> None:
    # a retained weight must never pass to another model: a new model is a new variant, and
    # a promoted candidate that becomes the baseline keeps its variant (and its traffic)
    from stacks.config import ModelConfig

    image = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.16-cpu"
    v1 = ModelConfig(image=image, model_data_bucket="b", model_data_key="m/v1/model.tar.gz")
    v2 = ModelConfig(image=image, model_data_bucket="b", model_data_key="m/v2/model.tar.gz")
    same_as_v1 = ModelConfig(image=image, model_data_bucket="b", model_data_key="m/v1/model.tar.gz")
    assert variant_name(v1) == variant_name(same_as_v1)
    assert variant_name(v1) != variant_name(v2)
    assert len(variant_name(v1)) <= 63


def test_without_a_candidate_the_template_sets_the_weights(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # After a promotion, removing the candidate makes the promoted model the sole variant at
    # the template's weight, whatever weights the rollout left behind (tests/test_promotion.py
    # follows a promoted version from candidate to sole variant).
    context = cdk_json_context()
    del context[CONTEXT_KEY]["environments"]["test"]["candidate"]
    context["environments"] = "test"
    app = cdk.App(context=context, outdir=str(tmp_path_factory.mktemp("no-candidate")))
    _, (stack,) = build_app(app)
    template = Template.from_stack(stack)
    (endpoint,) = template.find_resources("AWS::SageMaker::Endpoint").values()
    assert endpoint["Properties"]["RetainAllVariantProperties"] is True
    assert endpoint["Properties"]["ExcludeRetainedVariantProperties"] == [
        {"VariantPropertyType": "DesiredWeight"}
    ]
    (endpoint_config,) = template.find_resources("AWS::SageMaker::EndpointConfig").values()
    assert [v["VariantName"] for v in endpoint_config["Properties"]["ProductionVariants"]] == [
        variant_name(stack.config.model)
    ]
    assert stack.rollout is None
    assert stack.promotion_outputs is None  # it does not roll out: no pipeline step reads it
    assert list(template.find_outputs("*")) == ["OperationsTopicArn"]  # no rollout outputs


def test_endpoint_alarms_notify_the_environments_encrypted_operations_topic(
    template: Template,
) -> None:
    (topic_id,) = template.find_resources(
        "AWS::SNS::Topic", {"Properties": {"DisplayName": Match.string_like_regexp("operations")}}
    )
    topic = template.find_resources("AWS::SNS::Topic")[topic_id]["Properties"]
    assert "KmsMasterKeyId" in topic
    alarms = [
        alarm["Properties"]
        for name, alarm in template.find_resources("AWS::CloudWatch::Alarm").items()
        if name.startswith("EndpointOperations")
    ]
    assert alarms
    for alarm in alarms:
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
        assert alarm["OKActions"] == [{"Ref": topic_id}]


def test_models_run_in_the_isolated_subnets_with_network_isolation_everywhere(
    synthesized: SynthesizedApp,
) -> None:
    for name in ENVIRONMENTS:
        for model in synthesized.template(name).find_resources("AWS::SageMaker::Model").values():
            properties = model["Properties"]
            assert len(properties["VpcConfig"]["Subnets"]) == 2
            assert properties.get("EnableNetworkIsolation", False) is True


def test_training_pipeline_is_deployed_with_its_substitutions(template: Template) -> None:
    pipelines = template.find_resources("AWS::SageMaker::Pipeline")
    (pipeline,) = pipelines.values()
    body = json.dumps(pipeline["Properties"]["PipelineDefinition"])
    for step in ("PreprocessData", "TrainModel", "EvaluateModel", "CheckEvaluation"):
        assert step in body
    assert "${" not in body.replace("${!", "")  # every placeholder was substituted


def test_a_candidate_brings_a_canary_rollout_and_its_outputs(synthesized: SynthesizedApp) -> None:
    for stack in synthesized.stacks:
        template = synthesized.template(stack.config.name)
        (machine,) = [
            m
            for m in template.find_resources("AWS::StepFunctions::StateMachine").values()
            if "sagemaker-constructs:canary-variant" in json.dumps(m["Properties"]["Tags"])
        ]
        outputs = template.find_outputs("*")
        tags = {t["Key"]: t["Value"] for t in machine["Properties"]["Tags"]}
        config = stack.config
        assert config.candidate is not None
        assert tags["sagemaker-constructs:baseline-variant"] == variant_name(config.model)
        assert tags["sagemaker-constructs:canary-variant"] == variant_name(config.candidate)
        assert "RolloutStateMachineArn" in outputs
        assert "RolloutOperatorRoleArn" in outputs
        # what the pipeline's rollout step reads: the same state machine, and no registry
        # version to record (cdk.json's candidates are images)
        assert (
            outputs[PROMOTION_ROLLOUT_OUTPUT]["Value"]
            == (outputs["RolloutStateMachineArn"]["Value"])
        )
        assert outputs[PROMOTION_CANDIDATE_OUTPUT]["Value"] == NOTHING_TO_PROMOTE


def test_the_pipeline_account_may_operate_the_rollout_and_nothing_else(
    synthesized: SynthesizedApp,
) -> None:
    template = synthesized.template("dev")
    roles = template.find_resources(
        "AWS::IAM::Role", {"Properties": {"RoleName": "sagemaker-constructs-dev-rollout-operator"}}
    )
    (role,) = roles.values()
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert ":iam::444444444444:root" in json.dumps(statement["Principal"])
    condition = json.dumps(statement["Condition"]["ArnLike"]["aws:PrincipalArn"])
    assert ":iam::444444444444:role/sagemaker-constructs-pipeline-*" in condition
    (logical_id,) = roles
    policies = [
        p
        for p in template.find_resources("AWS::IAM::ManagedPolicy").values()
        if {"Ref": logical_id} in p["Properties"]["Roles"]
    ]
    (policy,) = policies
    actions = sorted(
        a
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )
    # no states:SendTask*: the pipeline runs rollouts, it cannot approve their gates
    assert actions == sorted(
        [
            "dynamodb:DeleteItem",  # abort releases the endpoint's lock
            "dynamodb:GetItem",
            "kms:Decrypt",  # the execution history is encrypted
            "sagemaker:DescribeEndpoint",
            "sagemaker:UpdateEndpointWeightsAndCapacities",
            "states:DescribeExecution",
            "states:DescribeStateMachine",
            "states:GetExecutionHistory",
            "states:ListExecutions",
            "states:ListTagsForResource",
            "states:StartExecution",
            "states:StopExecution",
        ]
    )


def test_each_training_pipeline_registers_into_its_group_kept_under_its_logical_id(
    template: Template,
) -> None:
    groups = template.find_resources("AWS::SageMaker::ModelPackageGroup")
    # the logical id the group had before it was a ModelPackageGroup: never replaced
    assert list(groups) == ["ModelPackageGroup"]
    (group,) = groups.values()
    assert group["DeletionPolicy"] == "Retain"
    name = group["Properties"]["ModelPackageGroupName"]
    [policy] = [
        p
        for lid, p in template.find_resources("AWS::IAM::ManagedPolicy").items()
        if lid.startswith("TrainingPipelineRolePolicy")
    ]
    registers = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Action"] == ["sagemaker:CreateModelPackage", "sagemaker:AddTags"]
    ]
    assert registers
    assert all(f":model-package/{name}/*" in json.dumps(s["Resource"]) for s in registers)


def test_dev_holds_the_registry_that_test_prod_and_the_pipeline_may_read(
    synthesized: SynthesizedApp,
) -> None:
    policies = {}
    for name in ENVIRONMENTS:
        groups = synthesized.template(name).find_resources("AWS::SageMaker::ModelPackageGroup")
        (group,) = groups.values()
        policies[name] = group["Properties"].get("ModelPackageGroupPolicy")
    assert policies["test"] is None
    assert policies["prod"] is None
    (statement, recording) = policies["dev"]["Statement"]
    principals = json.dumps(statement["Principal"])
    for account in ("222222222222", "333333333333", "444444444444"):
        assert f":iam::{account}:root" in principals
    assert "111111111111" not in principals
    # the promotion pipeline's roles record promotions on the versions, and only that
    assert recording["Sid"] == "PipelineRecordsPromotions"
    assert recording["Action"] == "sagemaker:UpdateModelPackage"
    assert ":iam::444444444444:root" in json.dumps(recording["Principal"])
    assert recording["Condition"] == {
        "ArnLike": {
            "aws:PrincipalArn": {
                "Fn::Join": [
                    "",
                    [
                        "arn:",
                        {"Ref": "AWS::Partition"},
                        ":iam::444444444444:role/sagemaker-constructs-pipeline-*",
                    ],
                ]
            }
        },
        # recording only: no approval status (a pipeline role cannot approve), no removal
        "Null": {
            "sagemaker:ModelApprovalStatus": "true",
            "sagemaker:CustomerMetadataPropertiesToRemove": "true",
        },
    }
    assert json.dumps(recording["Resource"]).endswith(
        ':sagemaker:us-east-1:111111111111:model-package/sagemaker-constructs-dev-models/*"]]}'
    )


def test_dev_forwards_approvals_to_the_pipeline_accounts_event_bus_only(
    synthesized: SynthesizedApp,
) -> None:
    dev = synthesized.stacks[0]
    assert dev.approval_forwarding is not None
    assert all(s.approval_forwarding is None for s in synthesized.stacks[1:])
    resources = synthesized.template_json(dev)["Resources"]
    rule = resources[dev.get_logical_id(dev.approval_forwarding.node.default_child)]  # type: ignore[arg-type]
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {
            "ModelPackageGroupName": ["sagemaker-constructs-dev-models"],
            "ModelApprovalStatus": ["Approved"],
        },
    }
    (target,) = rule["Properties"]["Targets"]
    bus = json.dumps(target["Arn"])
    assert ":events:us-east-1:444444444444:event-bus/default" in bus
    role_id = target["RoleArn"]["Fn::GetAtt"][0]
    (policy,) = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::IAM::ManagedPolicy" and {"Ref": role_id} in r["Properties"]["Roles"]
    ]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == "events:PutEvents"
    assert json.dumps(statement["Resource"]) == bus
