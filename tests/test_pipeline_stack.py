"""The promotion pipeline: CDK Pipelines, dev -> test -> approval -> prod, across accounts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from cdk_testing import SynthesizedApp, cfn_lint

PIPELINE_STACK = "sagemaker-constructs-pipeline"
REPOSITORY = "example-org/sagemaker-constructs"


@pytest.fixture(scope="module")
def template_json(synthesized: SynthesizedApp) -> dict[str, Any]:
    return synthesized.template_json(synthesized.stack(PIPELINE_STACK))


@pytest.fixture(scope="module")
def template(template_json: dict[str, Any]) -> Template:
    return Template.from_json(template_json)


@pytest.fixture(scope="module")
def stages(template: Template) -> list[dict[str, Any]]:
    (pipeline,) = template.find_resources("AWS::CodePipeline::Pipeline").values()
    result: list[dict[str, Any]] = pipeline["Properties"]["Stages"]
    return result


def test_pipeline_is_in_the_tooling_account(synthesized: SynthesizedApp) -> None:
    stack = synthesized.stack(PIPELINE_STACK)
    assert (stack.account, stack.region) == ("444444444444", "us-east-1")


def test_source_is_the_configured_connection(template: Template) -> None:
    template.has_resource_properties(
        "AWS::CodePipeline::Pipeline",
        {
            "PipelineType": "V2",
            "Stages": Match.array_with(
                [
                    Match.object_like(
                        {
                            "Name": "Source",
                            "Actions": [
                                Match.object_like(
                                    {
                                        "ActionTypeId": Match.object_like(
                                            {"Provider": "CodeStarSourceConnection"}
                                        ),
                                        "Configuration": Match.object_like(
                                            {
                                                "ConnectionArn": Match.string_like_regexp(
                                                    r"^arn:aws:codeconnections:us-east-1:444444444444:"
                                                ),
                                                "FullRepositoryId": REPOSITORY,
                                                "BranchName": "main",
                                            }
                                        ),
                                    }
                                )
                            ],
                        }
                    )
                ]
            ),
        },
    )


def test_synth_runs_the_projects_own_setup(template: Template) -> None:
    projects = template.find_resources("AWS::CodeBuild::Project")
    buildspecs = [
        json.loads(p["Properties"]["Source"]["BuildSpec"])
        for p in projects.values()
        if p["Properties"]["Source"]["BuildSpec"].startswith("{")
    ]
    synth = [b for b in buildspecs if "make synth" in b["phases"]["build"]["commands"]]
    assert len(synth) == 1
    assert synth[0]["artifacts"]["base-directory"] == "cdk.out"


def test_stages_promote_dev_then_test_then_prod_with_self_mutation(
    stages: list[dict[str, Any]],
) -> None:
    assert [stage["Name"] for stage in stages] == [
        "Source",
        "Build",
        "UpdatePipeline",
        "Assets",
        "Dev",
        "Test",
        "Prod",
    ]


def test_each_environment_deploys_into_its_own_account(stages: list[dict[str, Any]]) -> None:
    accounts = {"Dev": "111111111111", "Test": "222222222222", "Prod": "333333333333"}
    for stage in stages:
        if stage["Name"] not in accounts:
            continue
        deploys = [a for a in stage["Actions"] if a["ActionTypeId"]["Provider"] == "CloudFormation"]
        assert deploys, stage["Name"]
        for action in deploys:
            role = json.dumps(action["RoleArn"])
            assert f":iam::{accounts[stage['Name']]}:role/cdk-" in role
            assert action["Configuration"]["StackName"] == (
                f"sagemaker-constructs-{stage['Name'].lower()}"
            )


def test_manual_approval_comes_before_production_only(stages: list[dict[str, Any]]) -> None:
    approvals = {
        stage["Name"]: [a for a in stage["Actions"] if a["ActionTypeId"]["Provider"] == "Manual"]
        for stage in stages
    }
    assert [name for name, found in approvals.items() if found] == ["Prod"]
    prod = next(stage for stage in stages if stage["Name"] == "Prod")
    (approval,) = approvals["Prod"]
    first_deploy = min(a["RunOrder"] for a in prod["Actions"] if a is not approval)
    assert approval["RunOrder"] < first_deploy


def test_cross_account_artifacts_are_encrypted_with_a_rotating_key(template: Template) -> None:
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    Match.object_like(
                        {
                            "ServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": Match.any_value(),
                            }
                        }
                    )
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "LoggingConfiguration": Match.object_like({"LogFilePrefix": "artifacts/"}),
        },
    )


def test_stage_stacks_keep_the_laptop_stack_names(synthesized: SynthesizedApp) -> None:
    names = set()
    for manifest_path in synthesized.outdir.glob("assembly-*/manifest.json"):
        manifest = json.loads(manifest_path.read_text())
        for artifact in manifest["artifacts"].values():
            if artifact["type"] == "aws:cloudformation:stack":
                names.add(artifact["properties"].get("stackName"))
    assert names == {f"sagemaker-constructs-{env}" for env in ("dev", "test", "prod")}


def test_pipeline_template_passes_cfn_lint(template_json: dict[str, Any]) -> None:
    assert cfn_lint(template_json, "us-east-1") == []


def test_a_rollout_gate_follows_each_stage_with_a_candidate(
    stages: list[dict[str, Any]], template: Template
) -> None:
    gates = {
        stage["Name"]: [a["Name"] for a in stage["Actions"] if "CanaryRollout" in a["Name"]]
        for stage in stages
    }
    assert gates["Dev"] == ["CanaryRollout"]  # only dev configures a candidate
    assert gates["Test"] == []
    assert gates["Prod"] == []
    dev = next(stage for stage in stages if stage["Name"] == "Dev")
    gate = next(a for a in dev["Actions"] if a["Name"] == "CanaryRollout")
    deploy = next(a for a in dev["Actions"] if a["Name"].endswith("Deploy"))
    assert gate["RunOrder"] > deploy["RunOrder"]
    projects = template.find_resources("AWS::CodeBuild::Project")
    specs = [p["Properties"]["Source"]["BuildSpec"] for p in projects.values()]
    (rollout_spec,) = [s for s in specs if "sagemaker-rollout" in s]
    assert "start --state-machine" in rollout_spec
    assert "--watch" in rollout_spec
    assert "python3 -m pip install --quiet ." in rollout_spec
