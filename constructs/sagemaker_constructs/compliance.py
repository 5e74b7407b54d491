"""Compliance checks at every synth: cdk-nag v3 packs as CDK validation plugins.

>>> import aws_cdk as cdk
>>> from sagemaker_constructs.compliance import add_compliance_checks
>>> app = cdk.App()
>>> packs = add_compliance_checks(app)
>>> sorted(type(p).__name__ for p in packs)
['AwsSolutionsChecks', 'HIPAASecurityChecks', 'NIST80053R5Checks', 'PCIDSS321Checks']

Any finding that is not acknowledged makes ``app.synth()`` (and ``cdk synth``) fail.
Acknowledge a finding with :func:`acknowledge` on the one resource it concerns, with a reason.
"""

from __future__ import annotations

import aws_cdk as cdk
import cdk_nag
from constructs import IConstruct

__all__ = ["PACK_PREFIXES", "acknowledge", "add_compliance_checks"]

#: The rule-id prefix of each pack, as cdk-nag names its findings ("<pack>::<rule>").
PACK_PREFIXES = {
    "AwsSolutions": "AwsSolutions",
    "HIPAA.Security": "HIPAA.Security",
    "NIST.800.53.R5": "NIST.800.53.R5",
    "PCI.DSS.321": "PCI.DSS.321",
}


def add_compliance_checks(scope: IConstruct, *, verbose: bool = False) -> list[cdk_nag.NagPack]:
    """Run AwsSolutions, HIPAA Security, NIST 800-53 R5 and PCI DSS 3.2.1 at every synth."""
    packs: list[cdk_nag.NagPack] = [
        cdk_nag.AwsSolutionsChecks(verbose=verbose),
        cdk_nag.HIPAASecurityChecks(verbose=verbose),
        cdk_nag.NIST80053R5Checks(verbose=verbose),
        cdk_nag.PCIDSS321Checks(verbose=verbose),
    ]
    cdk.Validations.of(scope).add_plugins(*packs)
    return packs


def acknowledge(resource: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one finding on one resource, with a reason a reviewer would accept.

    ``rule`` is the id cdk-nag prints ("Acknowledge with '...'"), for example
    ``"AwsSolutions::AwsSolutions-IAM5"``. Pass the CloudFormation resource (an L1, or an L2
    whose ``node.default_child`` is the resource) so the acknowledgement covers nothing else.
    """
    if "::" not in rule:
        raise ValueError(
            f"rule={rule!r}: must be the full id '<pack>::<rule>' that cdk-nag prints, "
            "for example 'AwsSolutions::AwsSolutions-IAM5'."
        )
    if len(reason.strip()) < 20:
        raise ValueError(
            f"reason={reason!r}: must explain why the finding is acceptable (20+ characters)."
        )
    target = resource.node.default_child or resource
    cdk.Validations.of(target).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))
