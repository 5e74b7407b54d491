"""Compliance checks at every synth: cdk-nag v3 packs as CDK validation plugins.

>>> import aws_cdk as cdk
>>> from sagemaker_constructs.compliance import add_compliance_checks
>>> app = cdk.App()
>>> packs = add_compliance_checks(app)
>>> sorted(type(p).__name__ for p in packs)
['AwsSolutionsChecks', 'HIPAASecurityChecks', 'NIST80053R5Checks', 'PCIDSS321Checks']

Any finding that is not acknowledged makes ``app.synth()`` (and ``cdk synth``) fail.
Acknowledge a finding with :func:`acknowledge` on the one resource it concerns, with a reason.

The templates are also scanned with checkov (``tests/test_checkov.py``); a checkov check that
does not apply to a resource is skipped on that resource with :func:`acknowledge_checkov`,
which writes checkov's own ``Metadata.checkov.skip`` entry with the reason.
"""

from __future__ import annotations

import json
import re
from typing import Any

import aws_cdk as cdk
import cdk_nag
from aws_cdk import aws_iam as iam
from constructs import IConstruct

from .wildcards import WildcardResourcesCheck

__all__ = [
    "PACK_PREFIXES",
    "acknowledge",
    "acknowledge_checkov",
    "acknowledge_wildcard_resource",
    "acknowledge_wildcard_resources",
    "add_compliance_checks",
    "nag_value",
]

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
    # A '*' resource outside a policy of actions without resource-level permissions fails
    # synth (cdk-nag names IAM5[Resource::*] once per policy, so it cannot see a new one).
    cdk.Validations.of(scope).add_plugins(*packs, WildcardResourcesCheck())
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


_CHECKOV_ID = re.compile(r"^CKV2?_AWS_[0-9]+$")


def acknowledge_checkov(resource: IConstruct, check: str, reason: str) -> None:
    """Skip one checkov check on one resource, with a reason (``Metadata.checkov.skip``).

    ``check`` is checkov's id, for example ``"CKV_AWS_116"``. The entry goes on the
    CloudFormation resource (``resource`` or its ``node.default_child``), so it covers nothing
    else; checkov reports it as skipped with ``reason``.
    """
    if not _CHECKOV_ID.match(check):
        raise ValueError(
            f"check={check!r}: must be a checkov CloudFormation check id such as 'CKV_AWS_116'."
        )
    if len(reason.strip()) < 20:
        raise ValueError(
            f"reason={reason!r}: must explain why the check does not apply (20+ characters)."
        )
    target = resource.node.default_child or resource
    if not isinstance(target, cdk.CfnResource):
        raise ValueError(
            f"resource={resource.node.path!r}: not a CloudFormation resource; pass the resource "
            "the check reports."
        )
    skips = list((target.get_metadata("checkov") or {}).get("skip", []))
    if any(skip["id"] == check for skip in skips):
        raise ValueError(f"{check} is already skipped on {resource.node.path}.")
    target.add_metadata("checkov", {"skip": [*skips, {"id": check, "comment": reason}]})


def nag_value(value: Any) -> str:
    """A resolved CloudFormation value as cdk-nag writes it in a finding id.

    cdk-nag v3 reports each wildcard of an IAM policy as its own finding, for example
    ``AwsSolutions-IAM5[Resource::<DataBucketE3889A50.Arn>/*]``, and only that exact id
    acknowledges it. This renders ``Fn::Join``/``Fn::Sub``/``Fn::GetAtt``/``Ref`` the same way.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, items = value["Fn::Join"]
            return str(delimiter).join(nag_value(item) for item in items)
        if "Fn::Sub" in value:
            return nag_value(value["Fn::Sub"])
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return f"<{nag_value(resource)}.{nag_value(attribute)}>"
        if "Fn::ImportValue" in value:
            return nag_value(value["Fn::ImportValue"])
        if "Ref" in value:
            return f"<{nag_value(value['Ref'])}>"
    return json.dumps(value, separators=(",", ":"))


def acknowledge_wildcard_resource(
    policy: iam.ManagedPolicy | iam.Policy, resource_arn: str, reason: str
) -> None:
    """Acknowledge ``AwsSolutions-IAM5`` for the one wildcard ARN pattern ``resource_arn`` in
    ``policy``, with the reason that holds for it (call it where the statement is granted)."""
    flat = nag_value(cdk.Stack.of(policy).resolve(resource_arn))
    if "*" in flat and flat != "*":
        acknowledge(policy, f"AwsSolutions::AwsSolutions-IAM5[Resource::{flat}]", reason)


def acknowledge_wildcard_resources(policy: iam.ManagedPolicy, reason: str) -> None:
    """Acknowledge ``AwsSolutions-IAM5`` for each wildcard *resource* now in ``policy``.

    For ARN patterns that cannot be narrowed (job names and object keys chosen at run time).
    Call it after the last statement is added. A bare ``*`` resource and wildcard *actions*
    are never acknowledged here: list actions explicitly, and acknowledge a ``*`` resource
    on its own with the reason that action takes no resource-level permission.
    """
    document = cdk.Stack.of(policy).resolve(policy.document)
    findings: set[str] = set()
    for statement in document.get("Statement", []):
        resources = statement.get("Resource", [])
        for resource in resources if isinstance(resources, list) else [resources]:
            flat = nag_value(resource)
            if "*" in flat and flat != "*":
                findings.add(flat)
    for flat in sorted(findings):
        acknowledge(policy, f"AwsSolutions::AwsSolutions-IAM5[Resource::{flat}]", reason)
