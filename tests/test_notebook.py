"""Notebook: secure defaults, lifecycle scripts, scoped IAM, compliant and lint-clean.

One app is synthesized for the module (all four cdk-nag packs run: any finding fails the
fixture). Its stack holds four notebooks: defaults, every piece enabled, a user's role, and
one without any script.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template
from cdk_testing import cfn_lint

from sagemaker_constructs import add_compliance_checks
from sagemaker_constructs.notebook import (
    CondaPackages,
    IdleShutdown,
    LifecycleScript,
    Notebook,
    PackageIndex,
    S3Backup,
)

ACCOUNT = "111111111111"
REGION = "us-east-1"
VPC_CIDR = "10.20.0.0/16"
SUBNETS = ["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719"]
BUCKET_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
USER_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/data-scientist-notebook"
PIPELINE_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/training"
ENDPOINT_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/classifier"
ON_CREATE = "#!/bin/bash\necho 'created' > /home/ec2-user/SageMaker/created.txt\n"
ON_START = '#!/bin/bash\necho "started $(date)" >> /home/ec2-user/SageMaker/starts.txt\n'
PACKAGES = ["scikit-learn==1.5.2", "xgboost==2.1.1", "lightgbm==4.5.0", "matplotlib==3.9.2"]


@dataclass
class Synthesized:
    template: Template
    template_json: dict[str, Any]
    notebooks: dict[str, Notebook]
    app: cdk.App


@dataclass
class _Pipeline:
    pipeline_arn: str


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """GIVEN one stack with four notebooks, synthesized with the four nag packs."""
    outdir = tmp_path_factory.mktemp("notebook")
    on_create_file = outdir / "on_create.sh"
    on_create_file.write_text(ON_CREATE)
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "Notebooks", env=cdk.Environment(account=ACCOUNT, region=REGION))
    # The VPC is not under test: an imported isolated VPC keeps its own findings out.
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-0a1b2c3d4e5f60718",
        vpc_cidr_block=VPC_CIDR,
        availability_zones=[f"{REGION}a", f"{REGION}b"],
        isolated_subnet_ids=SUBNETS,
    )
    key = kms.Key(stack, "SharedKey", enable_key_rotation=True)
    bucket = s3.Bucket.from_bucket_attributes(
        stack,
        "Backups",
        bucket_name=cdk.Fn.import_value("BackupBucketName"),
        encryption_key=kms.Key.from_key_arn(stack, "BucketKey", BUCKET_KEY_ARN),
    )
    notebooks = {
        "Defaults": Notebook(stack, "Defaults", vpc=vpc),
        "Full": Notebook(
            stack,
            "Full",
            vpc=vpc,
            kms_key=key,
            s3_prefix_list_id="pl-63a5400a",
            instance_type="ml.m5.xlarge",
            volume_size_in_gb=50,
            notebook_instance_name="research",
            lifecycle_config_name="research-lifecycle",
            on_create=LifecycleScript.from_file(on_create_file),
            on_start=LifecycleScript.from_string(ON_START),
            idle_shutdown=IdleShutdown(idle_time=cdk.Duration.minutes(90)),
            conda_packages=CondaPackages(
                PACKAGES,
                environment="ml",
                index=PackageIndex.code_artifact(domain="ml-platform", repository="pypi-store"),
            ),
            s3_backup=S3Backup(bucket, interval=cdk.Duration.minutes(30)),
            default_code_repository="https://git-codecommit.us-east-1.amazonaws.com/v1/repos/research",
            additional_code_repositories=[
                "shared-notebooks",
                "https://github.com/aws/amazon-sagemaker-examples.git",
            ],
        ),
        "UserRole": Notebook(
            stack,
            "UserRole",
            vpc=vpc,
            kms_key=key,
            role=iam.Role.from_role_arn(stack, "ScientistRole", USER_ROLE_ARN, mutable=False),
        ),
        "NoScripts": Notebook(stack, "NoScripts", vpc=vpc, idle_shutdown=IdleShutdown.disabled()),
    }
    notebooks["Full"].grant_start_pipeline(_Pipeline(PIPELINE_ARN))
    notebooks["Full"].grant_invoke_endpoint(ENDPOINT_ARN)
    add_compliance_checks(app)

    # WHEN the app is synthesized (raises on any unacknowledged cdk-nag finding)
    app.synth()
    template_json = json.loads((outdir / "Notebooks.template.json").read_text())
    return Synthesized(Template.from_json(template_json), template_json, notebooks, app)


# ---- helpers ----


def logical_id(synthesized: Synthesized, construct: cdk.CfnResource) -> str:
    stack = cdk.Stack.of(construct)
    return str(stack.resolve(stack.get_logical_id(construct)))


def notebook_properties(synthesized: Synthesized, name: str) -> dict[str, Any]:
    resource = synthesized.notebooks[name].resource
    props: dict[str, Any] = synthesized.template_json["Resources"][
        logical_id(synthesized, resource)
    ]["Properties"]
    return props


def lifecycle_properties(synthesized: Synthesized, name: str) -> dict[str, Any]:
    ref = notebook_properties(synthesized, name)["LifecycleConfigName"]["Fn::GetAtt"][0]
    props: dict[str, Any] = synthesized.template_json["Resources"][ref]["Properties"]
    return props


def decode(content: Any) -> str:
    """The script text of a hook's Content: literal base64, or Fn::Base64 of a Fn::Join
    (deploy-time values become <placeholders>)."""
    if isinstance(content, str):
        return base64.b64decode(content, validate=True).decode()
    assert list(content) == ["Fn::Base64"]
    joined = content["Fn::Base64"]
    delimiter, parts = joined["Fn::Join"]
    return str(delimiter).join(p if isinstance(p, str) else f"<{json.dumps(p)}>" for p in parts)


def policy_statements(synthesized: Synthesized, notebook: str) -> list[dict[str, Any]]:
    """The statements of the managed policy of ``notebook``'s own role."""
    policy = synthesized.notebooks[notebook].node.find_child("Role").node.find_child("Policy")
    resource = policy.node.default_child
    assert isinstance(resource, cdk.CfnResource)
    properties = synthesized.template_json["Resources"][logical_id(synthesized, resource)][
        "Properties"
    ]
    statements: list[dict[str, Any]] = properties["PolicyDocument"]["Statement"]
    return statements


def actions(statements: list[dict[str, Any]]) -> set[str]:
    result: set[str] = set()
    for statement in statements:
        action = statement["Action"]
        result.update([action] if isinstance(action, str) else action)
    return result


def flatten(value: Any) -> str:
    return json.dumps(value)


# ---- secure defaults ----


def test_defaults_are_secure(synthesized: Synthesized) -> None:
    props = notebook_properties(synthesized, "Defaults")
    assert props["DirectInternetAccess"] == "Disabled"
    assert props["RootAccess"] == "Disabled"
    assert props["SubnetId"] == SUBNETS[0]
    assert props["InstanceMetadataServiceConfiguration"] == {
        "MinimumInstanceMetadataServiceVersion": "2"
    }
    assert props["PlatformIdentifier"] == "notebook-al2023-v1"
    assert props["InstanceType"] == "ml.t3.medium"
    assert props["VolumeSizeInGB"] == 5
    assert "AcceleratorTypes" not in props
    assert list(props["LifecycleConfigName"]) == ["Fn::GetAtt"]
    assert props["LifecycleConfigName"]["Fn::GetAtt"][1] == "NotebookInstanceLifecycleConfigName"


def test_defaults_encrypt_the_volume_with_a_new_rotating_key(synthesized: Synthesized) -> None:
    props = notebook_properties(synthesized, "Defaults")
    assert props["KmsKeyId"]["Fn::GetAtt"][1] == "Arn"
    key_id = props["KmsKeyId"]["Fn::GetAtt"][0]
    key = synthesized.template_json["Resources"][key_id]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True


def test_defaults_security_group_allows_only_https_to_the_vpc(synthesized: Synthesized) -> None:
    props = notebook_properties(synthesized, "Defaults")
    [group_ref] = props["SecurityGroupIds"]
    group = synthesized.template_json["Resources"][group_ref["Fn::GetAtt"][0]]["Properties"]
    assert group["SecurityGroupEgress"] == [
        {
            "CidrIp": VPC_CIDR,
            "Description": "HTTPS to the VPC endpoints",
            "FromPort": 443,
            "IpProtocol": "tcp",
            "ToPort": 443,
        }
    ]
    assert "SecurityGroupIngress" not in group
    notebook = synthesized.notebooks["Defaults"]
    assert notebook.security_group is not None
    assert notebook.connections.security_groups == [notebook.security_group]


def test_s3_prefix_list_gets_https_egress_when_given(synthesized: Synthesized) -> None:
    synthesized.template.has_resource_properties(
        "AWS::EC2::SecurityGroupEgress",
        {"DestinationPrefixListId": "pl-63a5400a", "FromPort": 443, "ToPort": 443},
    )
    assert len(synthesized.template.find_resources("AWS::EC2::SecurityGroupEgress")) == 1


def test_explicit_settings_reach_the_template(synthesized: Synthesized) -> None:
    props = notebook_properties(synthesized, "Full")
    assert props["NotebookInstanceName"] == "research"
    assert props["InstanceType"] == "ml.m5.xlarge"
    assert props["VolumeSizeInGB"] == 50
    assert props["DefaultCodeRepository"].startswith("https://git-codecommit.")
    assert props["AdditionalCodeRepositories"] == [
        "shared-notebooks",
        "https://github.com/aws/amazon-sagemaker-examples.git",
    ]
    shared_key = logical_id(
        synthesized,
        cdk.Stack.of(synthesized.notebooks["Full"]).node.find_child("SharedKey").node.default_child,  # type: ignore[arg-type]
    )
    assert props["KmsKeyId"] == {"Fn::GetAtt": [shared_key, "Arn"]}
    assert lifecycle_properties(synthesized, "Full")["NotebookInstanceLifecycleConfigName"] == (
        "research-lifecycle"
    )


def test_properties(synthesized: Synthesized) -> None:
    full = synthesized.notebooks["Full"]
    stack = cdk.Stack.of(full)
    assert full.notebook_instance_name == "research"
    assert full.lifecycle_config_name == "research-lifecycle"
    arn = stack.resolve(full.notebook_instance_arn)
    assert arn == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                f":sagemaker:{REGION}:{ACCOUNT}:notebook-instance/research",
            ],
        ]
    }
    assert full.kms_key.node.id == "SharedKey"
    assert synthesized.notebooks["NoScripts"].lifecycle_config_name is None
    defaults = synthesized.notebooks["Defaults"]
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*", defaults.notebook_instance_name)
    assert len(defaults.notebook_instance_name) <= 63


def test_generated_names_are_unique_and_valid(synthesized: Synthesized) -> None:
    names = [n.notebook_instance_name for n in synthesized.notebooks.values()]
    assert len(set(names)) == len(names)
    for name in names:
        assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*", name), name


def test_no_scripts_means_no_lifecycle_configuration(synthesized: Synthesized) -> None:
    props = notebook_properties(synthesized, "NoScripts")
    assert "LifecycleConfigName" not in props
    assert (
        len(synthesized.template.find_resources("AWS::SageMaker::NotebookInstanceLifecycleConfig"))
        == 3
    )
    assert "sagemaker:StopNotebookInstance" not in actions(
        policy_statements(synthesized, "NoScripts")
    )


# ---- lifecycle scripts ----


def test_on_create_round_trips_through_base64(synthesized: Synthesized) -> None:
    content = lifecycle_properties(synthesized, "Full")["OnCreate"][0]["Content"]
    assert isinstance(content, str)  # no deploy-time values: encoded at synth
    script = decode(content)
    assert script.startswith("#!/bin/bash\n")
    assert script.endswith(ON_CREATE)  # the file's text, byte for byte


def test_on_start_holds_every_piece_then_the_user_script(synthesized: Synthesized) -> None:
    script = decode(lifecycle_properties(synthesized, "Full")["OnStart"][0]["Content"])
    # idle shutdown: 90 minutes = 5400 s, Jupyter's API, stop through the CLI
    assert "smc-idle-shutdown.py 5400" in script
    assert 'api("kernels")' in script
    assert 'api("sessions")' in script
    assert '"stop-notebook-instance"' in script
    assert "crontab" in script
    # conda packages from CodeArtifact, in the background
    assert "codeartifact get-authorization-token" in script
    assert "--domain ml-platform" in script
    assert "/pypi/pypi-store/simple/" in script
    assert "--name ml --clone python3" in script
    assert "conda activate ml" in script
    assert f"nohup /usr/local/bin/smc-conda-packages-root.sh {' '.join(PACKAGES)}" in script
    # backup every 30 minutes to the bucket's default prefix
    assert "s3 sync /home/ec2-user/SageMaker" in script
    assert '"*/30 * * * *"' in script
    bucket = '<{"Fn::ImportValue": "BackupBucketName"}>'
    assert f"s3://{bucket}/notebooks/research/" in script
    # the user's script comes last, verbatim
    assert script.endswith(ON_START)


def test_default_on_start_is_only_the_idle_shutdown(synthesized: Synthesized) -> None:
    content = lifecycle_properties(synthesized, "Defaults")["OnStart"][0]["Content"]
    script = decode(content)
    assert "smc-idle-shutdown.py 3600" in script
    assert "conda" not in script
    assert "s3 sync" not in script
    assert "OnCreate" not in lifecycle_properties(synthesized, "Defaults")


@pytest.mark.parametrize("notebook", ["Defaults", "Full"])
def test_scripts_are_valid_bash_and_python(
    synthesized: Synthesized, notebook: str, tmp_path: Path
) -> None:
    script = decode(lifecycle_properties(synthesized, notebook)["OnStart"][0]["Content"])
    path = tmp_path / "on_start.sh"
    path.write_text(script)
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    embedded = script.split("<<'SMC_IDLE_EOF'\n", 1)[1].split("\nSMC_IDLE_EOF\n", 1)[0]
    compile(embedded, "smc-idle-shutdown.py", "exec")


def test_scripts_fit_sagemakers_limit(synthesized: Synthesized) -> None:
    for name in ("Defaults", "Full"):
        lifecycle = lifecycle_properties(synthesized, name)
        for hook in ("OnCreate", "OnStart"):
            if hook in lifecycle:
                encoded = base64.b64encode(decode(lifecycle[hook][0]["Content"]).encode())
                assert len(encoded) <= 16384


# ---- the idle-shutdown check, run against a fake Jupyter and a fake AWS CLI ----


class _FakeJupyter(BaseHTTPRequestHandler):
    payloads: ClassVar[dict[str, Any]] = {}

    def do_GET(self) -> None:
        body = json.dumps(self.payloads.get(self.path.removeprefix("/api/"), [])).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def jupyter() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeJupyter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/"
    server.shutdown()


def stamp(seconds_ago: float) -> str:
    return datetime.fromtimestamp(time.time() - seconds_ago, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


IDLE = {"execution_state": "idle", "last_activity": stamp(7200)}


@pytest.mark.parametrize(
    ("kernels", "terminals", "idle_since", "stops"),
    [
        pytest.param([IDLE], [], None, False, id="first check after a start: the clock starts"),
        pytest.param([IDLE], [], 4000, True, id="idle kernels for longer than the limit: stop"),
        pytest.param([], [], 4000, True, id="no kernels for longer than the limit: stop"),
        pytest.param(
            [{"execution_state": "busy", "last_activity": stamp(7200)}],
            [],
            4000,
            False,
            id="a busy kernel is activity",
        ),
        pytest.param(
            [{"execution_state": "idle", "last_activity": stamp(600)}],
            [],
            4000,
            False,
            id="recent kernel activity",
        ),
        pytest.param(
            [IDLE],
            [{"name": "1", "last_activity": stamp(60)}],
            4000,
            False,
            id="recent terminal activity",
        ),
    ],
)
def test_idle_check_stops_only_an_idle_instance(
    synthesized: Synthesized,
    jupyter: str,
    tmp_path: Path,
    kernels: list[dict[str, str]],
    terminals: list[dict[str, str]],
    idle_since: float | None,
    stops: bool,
) -> None:
    # GIVEN the idle check exactly as the default on-start script installs it (60 minutes)
    script = decode(lifecycle_properties(synthesized, "Defaults")["OnStart"][0]["Content"])
    check = tmp_path / "smc-idle-shutdown.py"
    check.write_text(script.split("<<'SMC_IDLE_EOF'\n", 1)[1].split("\nSMC_IDLE_EOF\n", 1)[0])
    metadata = tmp_path / "resource-metadata.json"
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:notebook-instance/research"
    metadata.write_text(json.dumps({"ResourceArn": arn, "ResourceName": "research"}))
    calls = tmp_path / "calls.txt"
    fake_aws = tmp_path / "aws"
    fake_aws.write_text(f'#!/bin/bash\necho "$@" >> {calls}\necho InService\n')
    fake_aws.chmod(0o755)
    state = tmp_path / "last-activity"
    if idle_since is not None:
        state.write_text(str(time.time() - idle_since))
    _FakeJupyter.payloads = {
        "kernels": kernels,
        "sessions": [{"kernel": k} for k in kernels],
        "terminals": terminals,
    }

    # WHEN the scheduled job runs
    result = subprocess.run(
        [sys.executable, str(check), "3600", str(fake_aws)],
        env={"SMC_STATE": str(state), "SMC_JUPYTER_API": jupyter, "SMC_METADATA": str(metadata)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    # THEN it stops the instance only when it has been idle for the whole limit
    assert result.returncode == 0, result.stderr
    made = calls.read_text().splitlines() if calls.exists() else []
    if stops:
        assert made == [
            "sagemaker describe-notebook-instance --region us-east-1 --notebook-instance-name "
            "research --query NotebookInstanceStatus --output text",
            "sagemaker stop-notebook-instance --region us-east-1 --notebook-instance-name research",
        ]
        assert not state.exists()  # the next start begins a fresh idle clock
    else:
        assert made == []
        assert state.exists()


# ---- IAM ----


def test_no_inline_policies_and_no_wildcard_actions(synthesized: Synthesized) -> None:
    assert synthesized.template.find_resources("AWS::IAM::Policy") == {}
    for resource in synthesized.template.find_resources("AWS::IAM::Role").values():
        assert "Policies" not in resource["Properties"]
        assert "ManagedPolicyArns" not in resource["Properties"]
    for policy in synthesized.template.find_resources("AWS::IAM::ManagedPolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            for action in actions([statement]):
                assert "*" not in action, action
            if statement["Resource"] == "*":  # only where IAM supports no resource
                assert statement["Action"] == "sts:GetServiceBearerToken"
                assert statement["Condition"] == {
                    "StringEquals": {"sts:AWSServiceName": "codeartifact.amazonaws.com"}
                }


def test_role_is_assumed_by_sagemaker_only(synthesized: Synthesized) -> None:
    synthesized.template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    {
                        "Action": "sts:AssumeRole",
                        "Effect": "Allow",
                        "Principal": {"Service": "sagemaker.amazonaws.com"},
                    }
                ]
            }
        },
    )


def test_default_role_has_logs_kms_and_stop_on_itself_only(synthesized: Synthesized) -> None:
    statements = policy_statements(synthesized, "Defaults")
    assert actions(statements) == {
        "logs:CreateLogGroup",
        "logs:DescribeLogStreams",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "kms:DescribeKey",
        "sagemaker:DescribeNotebookInstance",
        "sagemaker:StopNotebookInstance",
    }
    name = synthesized.notebooks["Defaults"].notebook_instance_name
    text = flatten(statements)
    assert f"log-group:/aws/sagemaker/NotebookInstances:log-stream:{name}/jupyter.log" in text
    assert f"notebook-instance/{name.lower()}" in text


def test_full_role_is_scoped_to_prefix_key_repository_pipeline_and_endpoint(
    synthesized: Synthesized,
) -> None:
    statements = policy_statements(synthesized, "Full")
    by_action = {a: s for s in statements for a in actions([s])}
    assert flatten(by_action["s3:PutObject"]["Resource"]).endswith('"/notebooks/research/*"]]}')
    assert by_action["s3:ListBucket"]["Condition"] == {
        "StringLike": {"s3:prefix": ["notebooks/research", "notebooks/research/*"]}
    }
    assert "s3:DeleteBucket" not in by_action
    assert BUCKET_KEY_ARN in flatten(
        [s["Resource"] for s in statements if "kms:GenerateDataKey" in actions([s])]
    )
    assert ":codeartifact:us-east-1:111111111111:repository/ml-platform/pypi-store" in flatten(
        by_action["codeartifact:ReadFromRepository"]["Resource"]
    )
    assert by_action["sagemaker:StartPipelineExecution"]["Resource"] == PIPELINE_ARN
    assert by_action["sagemaker:InvokeEndpoint"]["Resource"] == ENDPOINT_ARN
    # the same actions Endpoint.grant_invoke grants: one definition of "invoke an endpoint"
    assert set(actions([by_action["sagemaker:InvokeEndpoint"]])) == {
        "sagemaker:InvokeEndpoint",
        "sagemaker:InvokeEndpointAsync",
        "sagemaker:InvokeEndpointWithResponseStream",
    }
    assert "notebook-instance/research" in flatten(by_action["sagemaker:StopNotebookInstance"])


def test_user_role_is_used_and_no_role_is_created(synthesized: Synthesized) -> None:
    props = notebook_properties(synthesized, "UserRole")
    assert props["RoleArn"] == USER_ROLE_ARN
    notebook = synthesized.notebooks["UserRole"]
    assert notebook.node.try_find_child("Role") is None
    assert notebook.role.role_arn == USER_ROLE_ARN
    assert synthesized.notebooks["Full"].grant_principal is not synthesized.notebooks["Full"].role


# ---- compliance ----


def test_cfn_lint_is_clean(synthesized: Synthesized) -> None:
    assert cfn_lint(synthesized.template_json, REGION) == []


def test_only_iam5_wildcards_of_object_keys_and_bearer_tokens_are_acknowledged(
    synthesized: Synthesized,
) -> None:
    """SageMaker rules (SM1-SM3 and the HIPAA/NIST/PCI notebook rules) pass without any
    acknowledgement: the only ones in the tree are finding-level IAM5 on two policies."""
    key = cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    acknowledged: list[tuple[str, str]] = []
    stack = cdk.Stack.of(synthesized.notebooks["Full"])
    for construct in stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == key:
                acknowledged.extend((construct.node.path, rule) for rule in entry.data)
    assert sorted(acknowledged) == [
        (
            "Notebooks/Full/Role/Policy/Resource",
            "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::"
            "BackupBucketName/notebooks/research/*]",
        ),
        # the bearer token's '*', in the policy that holds only declared unscoped actions
        (
            "Notebooks/Full/Role/UnscopedPolicy/Resource",
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
        ),
    ]


def test_validation_report_shows_only_the_two_acknowledged_iam5_findings(
    synthesized: Synthesized,
) -> None:
    report = json.loads((Path(synthesized.app.outdir) / "validation-report.json").read_text())
    suppressed = []
    for plugin in report["pluginReports"]:
        assert plugin["violations"] == [], plugin["pluginName"]
        suppressed += [v["ruleName"] for v in plugin.get("suppressedViolations", [])]
    assert sorted(suppressed) == [
        "AwsSolutions-IAM5[Resource::*]",
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::BackupBucketName/notebooks/research/*]",
    ]
