"""The four cdk-nag packs run at every synth, fail it on findings, and honour acknowledgements."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from cdk_testing import SynthesizedApp

from sagemaker_constructs import acknowledge, add_compliance_checks
from tools import acknowledgements

SSH_RULES = {
    "AwsSolutions": "AwsSolutions::AwsSolutions-EC23",
    "HIPAA.Security": "HIPAA.Security::HIPAA.Security-EC2RestrictedSSH",
    "NIST.800.53.R5": "NIST.800.53.R5::NIST.800.53.R5-EC2RestrictedSSH",
    "PCI.DSS.321": "PCI.DSS.321::PCI.DSS.321-EC2RestrictedSSH",
}


@pytest.fixture(scope="module")
def failed_synth(tmp_path_factory: pytest.TempPathFactory) -> str:
    """GIVEN two security groups open to the world on SSH, one of them acknowledged."""
    app = cdk.App(
        context={"@aws-cdk/core:validationReportJson": True},
        outdir=str(tmp_path_factory.mktemp("nag")),
    )
    stack = cdk.Stack(app, "Nag", env=cdk.Environment(account="111111111111", region="us-east-1"))
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-12345678",
        availability_zones=["us-east-1a"],
        isolated_subnet_ids=["subnet-12345678"],
    )
    for name in ("Open", "Acknowledged"):
        group = ec2.SecurityGroup(
            stack, name, vpc=vpc, allow_all_outbound=False, description=f"{name} SSH"
        )
        group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(22), "SSH from anywhere")
        if name == "Acknowledged":
            for rule in [*SSH_RULES.values(), "CloudFormation-Validate::W2508"]:
                acknowledge(group, rule, "Bastion reachable by design in this test fixture.")
    add_compliance_checks(app)

    # WHEN the app is synthesized
    with pytest.raises(RuntimeError, match="ValidationFailed") as failure:
        app.synth()
    return str(failure.value) + str(failure.value.__cause__)


@pytest.mark.parametrize("pack", sorted(SSH_RULES))
def test_each_pack_reports_the_unacknowledged_finding(failed_synth: str, pack: str) -> None:
    assert f"Acknowledge with '{SSH_RULES[pack]}'" in failed_synth
    assert f"({pack})" in failed_synth


def test_acknowledged_resource_is_not_reported(failed_synth: str) -> None:
    assert "Nag/Open/Resource" in failed_synth
    assert "Nag/Acknowledged/Resource" not in failed_synth


def test_acknowledge_requires_the_full_rule_id() -> None:
    stack = cdk.Stack()
    with pytest.raises(ValueError, match=r"rule='AwsSolutions-EC23': must be the full id"):
        acknowledge(stack, "AwsSolutions-EC23", "a reason that is long enough to accept")


def test_acknowledge_requires_a_reason() -> None:
    stack = cdk.Stack()
    with pytest.raises(ValueError, match=r"reason='ok': must explain why"):
        acknowledge(stack, "AwsSolutions::AwsSolutions-EC23", "ok")


def test_compliance_module_lists_four_packs(tmp_path: Path) -> None:
    packs = add_compliance_checks(cdk.App(outdir=str(tmp_path)))
    assert sorted(type(p).__name__ for p in packs) == [
        "AwsSolutionsChecks",
        "HIPAASecurityChecks",
        "NIST80053R5Checks",
        "PCIDSS321Checks",
    ]


def test_the_readme_lists_every_acknowledged_finding_with_its_count_and_reason(
    synthesized: SynthesizedApp,
) -> None:
    """The README's table is what the app acknowledges: no finding is acknowledged unseen."""
    expected = acknowledgements.table(synthesized.validation_report(), synthesized.outdir)
    written = acknowledgements.readme_table(acknowledgements.README.read_text())
    assert written == expected, "run `python tools/acknowledgements.py` and commit README.md"
