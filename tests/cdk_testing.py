"""Helpers shared by the test modules: synthesize the app once, lint its templates."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import cfnlint.api
from aws_cdk import assertions
from aws_cdk import aws_ec2 as ec2

from stacks.app import build_app
from stacks.environment_stack import EnvironmentStack

REPO = Path(__file__).resolve().parents[1]
#: checkov, in its own venv (``make setup`` installs it from requirements/checkov.lock).
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"


class EndpointRef:
    """An endpoint known by name and ARN only (what a CanaryRollout binds to)."""

    endpoint_name = "ep"
    endpoint_arn = "arn:aws:sagemaker:us-east-1:111111111111:endpoint/ep"


def imported_vpc(stack: cdk.Stack) -> ec2.IVpc:
    """A VPC of one zone and one isolated subnet, with its CIDR, imported (no lookup)."""
    return ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-0123456789abcdef0",
        vpc_cidr_block="10.0.0.0/16",
        availability_zones=["us-east-1a"],
        isolated_subnet_ids=["subnet-0123456789abcdef0"],
    )


#: cfn-lint warnings that CDK's own generated resources raise and that we cannot change.
#: W3005: CDK's custom-resource providers declare a DependsOn that a GetAtt already implies.
IGNORED_CFN_LINT_RULES = frozenset({"W3005"})


def cdk_json_context() -> dict[str, Any]:
    """The context of the repository's cdk.json (a fresh copy), plus what the CDK CLI adds.

    The CLI records each resource's construct path in its metadata; cfn-lint reads that to
    recognise CDK-generated templates, so the tests synthesize exactly what the CLI would.
    """
    context = copy.deepcopy(json.loads((REPO / "cdk.json").read_text())["context"])
    context.setdefault("aws:cdk:enable-path-metadata", True)
    return context  # type: ignore[no-any-return]


@dataclass
class SynthesizedApp:
    app: cdk.App
    stacks: list[EnvironmentStack]
    outdir: Path

    def stack(self, stack_id: str) -> cdk.Stack:
        child = self.app.node.find_child(stack_id)
        assert isinstance(child, cdk.Stack)
        return child

    def template(self, environment: str) -> assertions.Template:
        for stack in self.stacks:
            if stack.config.name == environment:
                return assertions.Template.from_json(self.template_json(stack))
        raise KeyError(environment)

    def template_json(self, stack: cdk.Stack) -> dict[str, Any]:
        path = self.outdir / f"{stack.artifact_id}.template.json"
        return json.loads(path.read_text())  # type: ignore[no-any-return]

    def validation_report(self) -> dict[str, Any]:
        return json.loads((self.outdir / "validation-report.json").read_text())  # type: ignore[no-any-return]


def synth_app(outdir: Path, context: dict[str, Any] | None = None) -> SynthesizedApp:
    """Build the app from ``context`` (default: cdk.json's) and synthesize it with every check.

    Synthesis runs the four cdk-nag packs; an unacknowledged finding raises here.
    """
    app = cdk.App(
        context=context if context is not None else cdk_json_context(), outdir=str(outdir)
    )
    _, stacks = build_app(app)
    app.synth()
    return SynthesizedApp(app=app, stacks=stacks, outdir=outdir)


def cfn_lint(template: dict[str, Any], region: str) -> list[str]:
    """cfn-lint's findings for ``template`` (errors and warnings), as readable lines.

    The template is written as the CDK CLI writes it, in UTF-8: cfn-lint reads it as YAML
    first, and rejects the surrogate-pair escapes ``json.dumps`` writes for characters beyond
    U+FFFF. A template it cannot read at all is an E0000 finding (without a path).
    """
    matches = cfnlint.api.lint(json.dumps(template, ensure_ascii=False), regions=[region])
    return [
        f"{m.rule.id} {m.message} ({'/'.join(str(p) for p in getattr(m, 'path', None) or [])})"
        for m in matches
        if m.rule.id not in IGNORED_CFN_LINT_RULES and not m.rule.id.startswith("I")
    ]


def checkov(directory: Path) -> list[dict[str, Any]]:
    """checkov's CloudFormation reports for the templates under ``directory``."""
    assert CHECKOV.exists(), f"{CHECKOV} is missing: run `make setup`"
    result = subprocess.run(
        [
            str(CHECKOV),
            "--directory",
            str(directory),
            "--framework",
            "cloudformation",
            "--output",
            "json",
            "--skip-download",  # nothing leaves the machine
            "--compact",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "LOG_LEVEL": "WARNING"},
    )
    # exit status 1 means "failed checks"; anything else that is not 0 is checkov failing
    assert result.returncode in (0, 1), result.stderr
    reports = json.loads(result.stdout)
    return reports if isinstance(reports, list) else [reports]


def checkov_failures(directory: Path) -> list[str]:
    """``<check id> <resource>`` of every check checkov fails under ``directory``."""
    return [
        f"{check['check_id']} {check['resource']}"
        for report in checkov(directory)
        for check in report["results"]["failed_checks"]
    ]
