"""The promotion pipeline: CDK Pipelines, dev -> test -> approval -> prod, across accounts."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from cdk_testing import REPO, SynthesizedApp, cfn_lint

from stacks.environment_stack import EnvironmentStack, variant_name
from stacks.pipeline_stack import (
    BUILD_LOG_RETENTION_DAYS,
    PYTHON_VERSION,
    ROLLOUT_LOCK,
    SYNTH_RESOLVING_COMMANDS,
    rollout_commands,
    shadow_commands,
)
from stacks.toolchain import npm_toolchain

PIPELINE_STACK = "sagemaker-constructs-pipeline"
REPOSITORY = "example-org/sagemaker-constructs"


@pytest.fixture(scope="module")
def template_json(synthesized: SynthesizedApp) -> dict[str, Any]:
    return synthesized.template_json(synthesized.stack(PIPELINE_STACK))


@pytest.fixture(scope="module")
def template(template_json: dict[str, Any]) -> Template:
    return Template.from_json(template_json)


@pytest.fixture(scope="module")
def buildspecs(
    template_json: dict[str, Any], synthesized: SynthesizedApp
) -> dict[str, dict[str, Any]]:
    """Every CodeBuild project's buildspec, by logical id: inline, or the file CDK Pipelines
    writes into the cloud assembly (the asset project's, read from the commit's synth output)."""
    result = {}
    for logical_id, resource in template_json["Resources"].items():
        if resource["Type"] != "AWS::CodeBuild::Project":
            continue
        spec = resource["Properties"]["Source"]["BuildSpec"]
        if not spec.lstrip().startswith("{"):
            spec = (synthesized.outdir / spec).read_text()  # JSON, a subset of YAML
        result[logical_id] = json.loads(spec)
    return result


def _commands(buildspec: dict[str, Any]) -> list[str]:
    return [
        command
        for phase in buildspec.get("phases", {}).values()
        for key in ("commands", "finally")
        for command in phase.get(key, [])
    ]


def _statements(template: Template) -> list[tuple[str, dict[str, Any]]]:
    policies = {
        **template.find_resources("AWS::IAM::Policy"),
        **template.find_resources("AWS::IAM::ManagedPolicy"),
    }
    return [
        (name, statement)
        for name, policy in policies.items()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


#: An exact npm version (what `npm install --save-exact` writes).
_EXACT_NPM = re.compile(r"^(@[^/@\s]+/)?[^@\s]+@\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")


def unpinned_installs(command: str) -> list[str]:
    """What in one shell command installs code that no exact version or hash pins."""
    problems = []
    if "@latest" in command:
        problems.append("@latest")
    words = shlex.split(command)
    if words[:2] in (["npm", "install"], ["npm", "i"]):
        for package in (w for w in words[2:] if not w.startswith("-")):
            if not _EXACT_NPM.match(package):
                problems.append(f"npm package {package!r} without an exact version")
    if words[:1] == ["npx"]:
        problems.append("npx fetches whatever is newest")
    if {"pip", "pip3"} & {Path(w).name for w in words} and "install" in words:
        if "--require-hashes" not in words and "--no-deps" not in words:
            problems.append("pip install without --require-hashes or --no-deps")
        if "--no-deps" in words and ("-r" in words or "--requirement" in words):
            problems.append("pip install -r must check hashes (--require-hashes)")
    return problems


@pytest.mark.parametrize(
    ("command", "pinned"),
    [
        ("npm install -g cdk-assets@latest", False),
        ("npm install -g aws-cdk@2", False),
        ("npm install -g aws-cdk", False),
        ("npm i -g @scope/tool@^1.2.3", False),
        ("npx cdk deploy", False),
        ("python3 -m pip install --quiet .", False),
        ("pip install -r requirements.txt", False),
        ("pip install --no-deps -r requirements.txt", False),
        ("npm install -g cdk-assets@4.7.3", True),
        ("npm i -g @scope/tool@1.2.3-rc.1", True),
        ("python3 -m pip install --quiet --require-hashes -r requirements/rollout.lock", True),
        ("/tmp/venv/bin/python -m pip install --no-deps --no-build-isolation .", True),
        ("make synth", True),
    ],
)
def test_the_install_scan_tells_pinned_from_unpinned(command: str, pinned: bool) -> None:
    assert (unpinned_installs(command) == []) is pinned


def test_no_build_installs_anything_unpinned(buildspecs: dict[str, dict[str, Any]]) -> None:
    """No @latest, no npm package without an exact version, no pip install without hashes."""
    # synth, asset publishing, a canary rollout per environment, prod's shadow evaluation
    assert len(buildspecs) == 6
    problems = {
        f"{logical_id}: {command}": unpinned_installs(command)
        for logical_id, spec in buildspecs.items()
        for command in _commands(spec)
    }
    assert {key: found for key, found in problems.items() if found} == {}
    assert "@latest" not in json.dumps(buildspecs)


def test_the_synth_steps_make_installs_only_the_locks() -> None:
    """The Synth step runs `make setup` (what `make synth` runs first): it installs
    package-lock.json and the dev lock, nothing else."""
    dry_run = subprocess.run(
        ["make", "--dry-run", "--always-make", "synth"],
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    commands = [line for line in dry_run.replace("\\\n", " ").splitlines() if line.strip()]
    assert {command: unpinned_installs(command) for command in commands} == {
        command: [] for command in commands
    }
    assert "npm ci --no-audit --no-fund --loglevel=error" in commands
    assert not [c for c in commands if c.startswith("npm install")]
    pip_installs = [c for c in commands if c.startswith(".venv/bin/python -m pip install")]
    assert len(pip_installs) == 2
    assert pip_installs[0].endswith("--require-hashes -r requirements/dev.lock")
    assert "--no-deps --no-build-isolation -e ." in pip_installs[1]


def test_npm_tools_come_from_package_json(
    synthesized: SynthesizedApp, buildspecs: dict[str, dict[str, Any]]
) -> None:
    toolchain = npm_toolchain()
    package = json.loads((REPO / "package.json").read_text())["devDependencies"]
    assert (toolchain.cdk_cli, toolchain.cdk_assets) == (package["aws-cdk"], package["cdk-assets"])
    installs = [c for spec in buildspecs.values() for c in _commands(spec) if "npm" in c]
    assert installs == [f"npm install -g cdk-assets@{toolchain.cdk_assets}"]
    pipeline = synthesized.stack(PIPELINE_STACK).node.find_child("Pipeline")
    assert pipeline.node.try_find_child("UpdatePipeline") is None  # cli_version: unused


def test_every_build_runs_the_python_the_locks_are_for(
    buildspecs: dict[str, dict[str, Any]],
) -> None:
    for logical_id, spec in buildspecs.items():
        assert spec["phases"]["install"]["runtime-versions"] == {"python": PYTHON_VERSION}, (
            logical_id
        )


def test_package_json_pins_are_exact(tmp_path: Path) -> None:
    ranged = tmp_path / "package.json"
    ranged.write_text(json.dumps({"devDependencies": {"aws-cdk": "^2.1148.1"}}))
    with pytest.raises(ValueError, match=r"devDependencies.aws-cdk='\^2.1148.1': must be an exact"):
        npm_toolchain(ranged)
    with pytest.raises(ValueError, match=r"devDependencies.cdk-assets=None: must be an exact"):
        npm_toolchain(ranged)


#: The pinned cdk-assets that cannot read aws-cdk-lib 2.275's manifests (see the test below).
_KNOWN_SCHEMA_GAP = "4.7.3"


def test_the_pinned_cdk_assets_reads_the_apps_asset_manifests_but_for_the_known_gap(
    synthesized: SynthesizedApp,
) -> None:
    """What the asset step runs, offline: the pinned cdk-assets lists every stage's assets.

    Known gap: no cdk-assets on the npm registry reads the manifests aws-cdk-lib 2.275 writes
    (cloud assembly schema 55); the newest, 4.7.3, reads schema 54 at most. While 4.7.3 is
    pinned, each manifest must be refused with exactly that error (anything else fails, and so
    does a success: then the gap is gone and this branch goes); any other pinned release must
    read them all. Close the gap by pinning a release that reads schema 55 in package.json
    (npm install --save-dev --save-exact cdk-assets@<version>).
    """
    binary = REPO / "node_modules" / ".bin" / "cdk-assets"
    assert binary.exists(), "run `make setup`: node_modules lacks the pinned cdk-assets"
    manifests = sorted(synthesized.outdir.glob("assembly-*/*.assets.json"))
    assert manifests
    known_gap = npm_toolchain().cdk_assets == _KNOWN_SCHEMA_GAP
    for manifest in manifests:
        result = subprocess.run(
            [str(binary), "--path", str(manifest), "ls"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if known_gap:
            assert result.returncode != 0, "4.7.3 reads the manifests now: drop the known gap"
            assert "Maximum schema version supported is 54.x.x, but found 55." in result.stderr
        else:
            assert result.returncode == 0, result.stderr[-2000:]


def test_codebuild_builds_are_started_on_the_pipelines_own_projects_only(
    template: Template,
) -> None:
    """The asset role's generated StartBuild/StopBuild/BatchGetBuilds on * is gone; the
    pipeline's CodeBuild action role starts each of its projects by ARN."""
    projects = set(template.find_resources("AWS::CodeBuild::Project"))
    build_actions = {"codebuild:StartBuild", "codebuild:StopBuild", "codebuild:BatchGetBuilds"}
    started = set()
    for name, statement in _statements(template):
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        if not build_actions & set(actions):
            continue
        resources = statement["Resource"]
        for resource in resources if isinstance(resources, list) else [resources]:
            assert resource != "*", name
            (logical_id, attribute) = resource["Fn::GetAtt"]
            assert (logical_id in projects, attribute) == (True, "Arn"), name
            started.add(logical_id)
        assert name.startswith("PipelineCodeBuildActionRole"), name
    assert started == projects
    (asset_policy,) = [
        p
        for name, p in template.find_resources("AWS::IAM::Policy").items()
        if name.startswith("PipelineAssetsFileRole")
    ]
    assert "sts:AssumeRole" in json.dumps(asset_policy)  # what publishing needs stays


def test_the_production_approval_precedes_every_production_change(
    stages: list[dict[str, Any]],
) -> None:
    """Every action that acts in the prod account runs after the approval: in the ProdShadow
    stage after it (prod judges its candidates as shadows first), or in the Prod stage that
    follows."""
    names = [stage["Name"] for stage in stages]
    shadow, prod = stages[names.index("ProdShadow")], stages[names.index("Prod")]
    (approval,) = [a for a in shadow["Actions"] if a["ActionTypeId"]["Provider"] == "Manual"]
    assert not [a for a in prod["Actions"] if a["ActionTypeId"]["Provider"] == "Manual"]
    acting = 0
    for stage in stages:
        for action in stage["Actions"]:
            if ":iam::333333333333:role/cdk-hnb659fds-deploy-role" in json.dumps(action):
                acting += 1
                assert stage is shadow or stage is prod, action["Name"]
                if stage is shadow:
                    assert action["RunOrder"] > approval["RunOrder"], action["Name"]
    assert acting == 4  # prepare and deploy, in each of the two stages


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
    """The laptop's set-up (`make setup`), then the laptop's `cdk synth`, asking the registry
    for its newest approved version (cdk.json configures a registry)."""
    projects = template.find_resources("AWS::CodeBuild::Project")
    buildspecs = [
        json.loads(p["Properties"]["Source"]["BuildSpec"])
        for p in projects.values()
        if p["Properties"]["Source"]["BuildSpec"].startswith("{")
    ]
    synth = [b for b in buildspecs if "make setup" in b["phases"]["build"]["commands"]]
    assert len(synth) == 1
    assert synth[0]["phases"]["build"]["commands"] == list(SYNTH_RESOLVING_COMMANDS)
    assert SYNTH_RESOLVING_COMMANDS[0] == "make setup"
    assert SYNTH_RESOLVING_COMMANDS[-1] == "cdk synth --quiet -c resolve_candidate=latest-approved"
    assert synth[0]["artifacts"]["base-directory"] == "cdk.out"


def test_stages_promote_dev_then_test_then_prod_without_self_mutation(
    stages: list[dict[str, Any]],
) -> None:
    assert [stage["Name"] for stage in stages] == [
        "Source",
        "Build",
        "Assets",
        "Dev",
        "Test",
        "ProdShadow",
        "Prod",
    ]


def test_nothing_in_the_pipeline_can_change_the_pipeline(
    template: Template, buildspecs: dict[str, dict[str, Any]]
) -> None:
    """No self-mutation: a commit cannot redeploy the pipeline (or drop the prod approval).

    No step runs the CDK CLI but the synth step's `cdk synth`, and no role the pipeline uses
    may deploy CloudFormation, change a pipeline or IAM, or assume a role in the pipeline's own
    account (its CDK deploy role). The one pipeline action allowed is starting this pipeline,
    by the role EventBridge uses when a model is approved.
    """
    cli = [
        command
        for spec in buildspecs.values()
        for command in _commands(spec)
        if command.split()[0] in ("cdk", "npx")
    ]
    assert cli == ["cdk synth --quiet -c resolve_candidate=latest-approved"]
    for name, statement in _statements(template):
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        if name.startswith("PromotionStarterPolicy"):
            assert actions == ["codepipeline:StartPipelineExecution"]
            (pipeline_id,) = template.find_resources("AWS::CodePipeline::Pipeline")
            assert {"Ref": pipeline_id} in statement["Resource"]["Fn::Join"][1]
            continue
        assert not [
            a for a in actions if a.split(":")[0] in ("cloudformation", "codepipeline", "iam")
        ], name
        if "sts:AssumeRole" in actions:
            assert ":iam::444444444444:role/cdk-" not in json.dumps(statement["Resource"]), name


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
    # prod judges its candidates as shadows first: the approval opens the first prod stage
    assert [name for name, found in approvals.items() if found] == ["ProdShadow"]
    prod = next(stage for stage in stages if stage["Name"] == "ProdShadow")
    (approval,) = approvals["ProdShadow"]
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


def test_every_codebuild_project_logs_to_an_encrypted_log_group_with_a_retention(
    template_json: dict[str, Any],
) -> None:
    resources = template_json["Resources"]
    projects = [r for r in resources.values() if r["Type"] == "AWS::CodeBuild::Project"]
    assert len(projects) >= 3  # synth, assets, the rollout step
    for project in projects:
        logs_config = project["Properties"]["LogsConfig"]["CloudWatchLogs"]
        assert logs_config["Status"] == "ENABLED"
        [group_id] = [lid for lid in resources if logs_config["GroupName"] == {"Ref": lid}]
        group = resources[group_id]
        assert group["Type"] == "AWS::Logs::LogGroup"
        assert group["Properties"]["RetentionInDays"] == BUILD_LOG_RETENTION_DAYS == 365
        assert group["DeletionPolicy"] == "Retain"
        key_id = group["Properties"]["KmsKeyId"]["Fn::GetAtt"][0]
        key = resources[key_id]
        assert key["Properties"]["EnableKeyRotation"] is True
        # CloudWatch Logs of this account and region may use the key, for log groups only
        [statement] = [
            s
            for s in key["Properties"]["KeyPolicy"]["Statement"]
            if s.get("Principal") == {"Service": "logs.us-east-1.amazonaws.com"}
        ]
        assert statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"] == {
            "Fn::Join": [
                "",
                [
                    "arn:",
                    {"Ref": "AWS::Partition"},
                    ":logs:us-east-1:444444444444:log-group:*",
                ],
            ]
        }


def test_every_log_group_of_the_pipeline_is_encrypted_and_expires(template: Template) -> None:
    groups = template.find_resources("AWS::Logs::LogGroup")
    assert groups
    for group in groups.values():
        assert "KmsKeyId" in group["Properties"]
        assert "RetentionInDays" in group["Properties"]


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
    # every environment configures a candidate: each account canaries what it deploys
    for name in ("Dev", "Test", "Prod"):
        assert gates[name] == ["CanaryRollout"], name
        stage = next(stage for stage in stages if stage["Name"] == name)
        gate = next(a for a in stage["Actions"] if a["Name"] == "CanaryRollout")
        deploy = next(a for a in stage["Actions"] if a["Name"].endswith("Deploy"))
        assert gate["RunOrder"] > deploy["RunOrder"]
    projects = template.find_resources("AWS::CodeBuild::Project")
    specs = [p["Properties"]["Source"]["BuildSpec"] for p in projects.values()]
    rollout_specs = [s for s in specs if "sagemaker-rollout" in s and " start " in s]
    assert len(rollout_specs) == 3
    for rollout_spec in rollout_specs:
        assert "start --state-machine" in rollout_spec
        assert "--watch" in rollout_spec
        install = json.loads(rollout_spec)["phases"]["install"]["commands"]
        assert any(f"--require-hashes -r {ROLLOUT_LOCK}" in command for command in install)
        assert install[-1].endswith("pip install --quiet --no-deps --no-build-isolation .")
    assert (REPO / ROLLOUT_LOCK).is_file()


def test_each_rollout_step_rolls_out_then_records_the_promotion(template: Template) -> None:
    """Two commands: the watched rollout, then the record in the registry. CodeBuild runs no
    command after a failed one, so a rolled-back version is never recorded; a deployment
    without a candidate (the outputs say ``none``) skips both and passes."""
    projects = template.find_resources("AWS::CodeBuild::Project")
    specs = [
        json.loads(p["Properties"]["Source"]["BuildSpec"])
        for p in projects.values()
        if "sagemaker-rollout" in p["Properties"]["Source"]["BuildSpec"]
        and " start " in p["Properties"]["Source"]["BuildSpec"]
    ]
    commands = sorted(tuple(spec["phases"]["build"]["commands"]) for spec in specs)
    assert commands == sorted(rollout_commands(env, record=True) for env in ("dev", "test", "prod"))
    start, record = rollout_commands("test", record=True)
    assert start.startswith('if [ "$ROLLOUT_STATE_MACHINE_ARN" = "none" ]; then echo ')
    assert start.endswith(
        '/tmp/rollout-venv/bin/sagemaker-rollout --region "$ROLLOUT_REGION" --role-arn '
        '"$ROLLOUT_ROLE_ARN" start --state-machine "$ROLLOUT_STATE_MACHINE_ARN" --watch '
        "--interval 30; fi"
    )
    assert record.startswith('if [ "$CANDIDATE_PACKAGE_ARN" = "none" ]; then echo ')
    assert record.endswith(
        "/tmp/rollout-venv/bin/python -m stacks.registry record-promotion --environment test "
        '--package-arn "$CANDIDATE_PACKAGE_ARN"; fi'
    )
    assert rollout_commands("test", record=False) == (start,)  # no registry: nothing to record


def test_a_rollout_step_may_assume_its_operator_role_and_record_promotions_only(
    template: Template,
) -> None:
    """Each rollout step's role: sts:AssumeRole on its environment's operator role, and
    sagemaker:UpdateModelPackage on the versions of the registry's group, nothing else of
    SageMaker; the dev group's policy admits these roles for that action alone."""
    versions = (
        "arn:aws:sagemaker:us-east-1:111111111111:model-package/sagemaker-constructs-dev-models/*"
    )
    policies = {
        name: policy
        for name, policy in template.find_resources("AWS::IAM::Policy").items()
        if "CanaryRollout" in name
    }
    assert len(policies) == 3
    for name, policy in policies.items():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        records = [s for s in statements if "sagemaker:" in json.dumps(s["Action"])]
        assert [(s["Action"], s["Resource"]) for s in records] == [
            ("sagemaker:UpdateModelPackage", versions)
        ], name
        # its own environment's property only; never an approval status, never a removal
        environment = next(e for e in ("dev", "test", "prod") if e.capitalize() in name)
        assert records[0]["Condition"] == {
            "Null": {
                "sagemaker:ModelApprovalStatus": "true",
                "sagemaker:CustomerMetadataPropertiesToRemove": "true",
                f"sagemaker:CustomerMetadataProperties/promoted-{environment}": "false",
            }
        }, name
        (assume,) = [s for s in statements if s["Action"] == "sts:AssumeRole"]
        assert "-rollout-operator" in json.dumps(assume["Resource"])


def test_prod_judges_its_candidate_as_a_shadow_before_the_canary(
    stages: list[dict[str, Any]], template: Template, synthesized: SynthesizedApp
) -> None:
    """shadow_first (prod in cdk.json): the ProdShadow stage deploys the prod stack (the same
    stack name) with the candidate as a shadow variant, then runs its shadow evaluation, which
    must PASS before the Prod stage deploys the candidate as a canary and rolls it out."""
    names = [stage["Name"] for stage in stages]
    shadow = stages[names.index("ProdShadow")]
    deploys = [a for a in shadow["Actions"] if a["ActionTypeId"]["Provider"] == "CloudFormation"]
    assert {a["Configuration"]["StackName"] for a in deploys} == {"sagemaker-constructs-prod"}
    (gate,) = [a for a in shadow["Actions"] if a["Name"] == "ShadowEvaluation"]
    assert gate["RunOrder"] > max(a["RunOrder"] for a in deploys)
    projects = template.find_resources("AWS::CodeBuild::Project")
    (spec,) = [
        json.loads(p["Properties"]["Source"]["BuildSpec"])
        for p in projects.values()
        if "sagemaker-rollout" in p["Properties"]["Source"]["BuildSpec"]
        and " shadow " in p["Properties"]["Source"]["BuildSpec"]
    ]
    assert spec["phases"]["build"]["commands"] == list(shadow_commands("prod"))
    (command,) = shadow_commands("prod")
    assert 'shadow --state-machine "$SHADOW_STATE_MACHINE_ARN" --watch' in command
    install = spec["phases"]["install"]["commands"]
    assert any(f"--require-hashes -r {ROLLOUT_LOCK}" in command for command in install)
    # the stage's stack: the candidate is the endpoint's shadow, judged by the evaluation
    pipeline = synthesized.stack(PIPELINE_STACK)
    stage = pipeline.node.find_child("ProdShadow")
    stack = stage.node.find_child("Environment")
    assert isinstance(stack, EnvironmentStack)
    assert stack.candidate_phase == "shadow"
    assert stack.shadow_evaluation is not None
    config = stack.config
    assert config.candidate is not None
    assert stack.endpoint.variant_names == [variant_name(config.model)]
    assert stack.endpoint.shadow_variant_names == [variant_name(config.candidate)]
    assert stack.shadow_output is not None
    # the Prod stage's stack: the same candidate as a canary, the evaluation kept (by name)
    prod = pipeline.node.find_child("Prod").node.find_child("Environment")
    assert isinstance(prod, EnvironmentStack)
    assert prod.endpoint.variant_names == [
        variant_name(config.model),
        variant_name(config.candidate),
    ]
    assert prod.endpoint.shadow_variant_names == []
    assert prod.shadow_evaluation is not None
