"""Wildcard resources that cannot hide.

cdk-nag names ``AwsSolutions-IAM5[Resource::*]`` once per policy, so one acknowledgement of a
``*`` resource covers every ``*`` statement that policy will ever hold: a later
``s3:GetObject`` or ``kms:Decrypt`` on ``*`` would pass all four packs unseen. So this library
keeps ``*`` resources apart:

- an action that takes no resource-level permission (the Service Authorization Reference lists
  no resource type for it, or AWS documents that it must be allowed on all resources) goes
  into a policy of its own per role, which holds nothing else
  (:meth:`~sagemaker_constructs.roles.ScopedRole.add_unscoped`), each from the allow-list
  :data:`UNSCOPED_ACTIONS` with its AWS reason;
- any other ``*`` resource, in any IAM policy of the app, fails synth
  (:class:`WildcardResourcesCheck`, added by
  :func:`~sagemaker_constructs.compliance.add_compliance_checks`).

A policy that CDK generates (and that cannot be split) can declare its ``*`` actions with
:func:`declare_unscoped` and a reason for each; the check then accepts exactly those.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam

__all__ = [
    "UNSCOPED_ACTIONS",
    "WildcardResourcesCheck",
    "declare_unscoped",
    "undeclared_wildcards",
]

_NO_RESOURCE_TYPE = (
    "the Service Authorization Reference lists no resource type for it, so the only resource "
    "it takes is '*'"
)
_LAMBDA_VPC = (
    "AWS Lambda creates and deletes the function's Hyperplane network interfaces with the "
    "execution role and documents these permissions on all resources ('*') "
    "(lambda/latest/dg/configuration-vpc.html)"
)

#: Actions a statement may allow on ``*``, each with the AWS reason.
UNSCOPED_ACTIONS: Mapping[str, str] = {
    "cloudwatch:GetMetricData": _NO_RESOURCE_TYPE,
    "cloudwatch:PutMetricData": _NO_RESOURCE_TYPE + " (narrowed by cloudwatch:namespace)",
    "cloudwatch:DescribeAlarms": (
        "DescribeAlarms returns composite alarms only to a caller allowed on '*' "
        "(DescribeAlarms API reference)"
    ),
    "xray:PutTraceSegments": _NO_RESOURCE_TYPE,
    "xray:PutTelemetryRecords": _NO_RESOURCE_TYPE,
    "xray:GetSamplingRules": _NO_RESOURCE_TYPE,
    "xray:GetSamplingTargets": _NO_RESOURCE_TYPE,
    "ec2:DescribeNetworkInterfaces": _NO_RESOURCE_TYPE,
    "ec2:DescribeSubnets": _NO_RESOURCE_TYPE,
    "ec2:DescribeDhcpOptions": _NO_RESOURCE_TYPE,
    "ec2:DescribeSecurityGroups": _NO_RESOURCE_TYPE,
    "ec2:DescribeVpcs": _NO_RESOURCE_TYPE,
    "ec2:CreateNetworkInterface": _LAMBDA_VPC,
    "ec2:DeleteNetworkInterface": _LAMBDA_VPC,
    "ec2:AssignPrivateIpAddresses": _LAMBDA_VPC,
    "ec2:UnassignPrivateIpAddresses": _LAMBDA_VPC,
    "ecr:GetAuthorizationToken": _NO_RESOURCE_TYPE,
    "elasticmapreduce:RunJobFlow": _NO_RESOURCE_TYPE
    + " (a pipeline's EMR step that creates its cluster; the roles it passes stay scoped)",
    "logs:CreateLogDelivery": _NO_RESOURCE_TYPE + " (a permission-only action)",
    "logs:GetLogDelivery": _NO_RESOURCE_TYPE + " (a permission-only action)",
    "logs:UpdateLogDelivery": _NO_RESOURCE_TYPE + " (a permission-only action)",
    "logs:DeleteLogDelivery": _NO_RESOURCE_TYPE + " (a permission-only action)",
    "logs:ListLogDeliveries": _NO_RESOURCE_TYPE + " (a permission-only action)",
    "logs:PutResourcePolicy": _NO_RESOURCE_TYPE,
    "logs:DescribeResourcePolicies": _NO_RESOURCE_TYPE,
    "logs:DescribeLogGroups": _NO_RESOURCE_TYPE,
    "sts:GetServiceBearerToken": _NO_RESOURCE_TYPE + " (narrowed by sts:AWSServiceName)",
}

#: Where a policy records the ``*`` actions it may hold (in the template, for reviewers).
METADATA_KEY = "sagemaker-constructs:unscoped-actions"


def declare_unscoped(
    policy: iam.ManagedPolicy | iam.Policy, actions: Iterable[str] | Mapping[str, str]
) -> None:
    """Declare that ``policy`` may allow ``actions`` on ``*``.

    A list takes its reasons from :data:`UNSCOPED_ACTIONS` (and must be in it); a mapping of
    action to reason is for a policy that CDK generates, whose statements cannot be moved.
    The declaration is the resource's metadata, so reviewers read it in the template; cdk-nag's
    ``AwsSolutions-IAM5[Resource::*]`` is acknowledged on the policy, because
    :class:`WildcardResourcesCheck` fails synth on every undeclared ``*`` of it.
    """
    cfn = policy.node.default_child
    assert isinstance(cfn, cdk.CfnResource)
    previous = _declared(cfn)
    declared: dict[str, str] = dict(previous)
    if isinstance(actions, Mapping):
        declared.update(actions)
    else:
        for action in actions:
            if action not in UNSCOPED_ACTIONS:
                raise ValueError(
                    f"actions={action!r}: not an action without resource-level permissions. "
                    "Fix: name its resources instead."
                )
            declared[action] = UNSCOPED_ACTIONS[action]
    cfn.add_metadata(METADATA_KEY, dict(sorted(declared.items())))
    if not previous:
        cdk.Validations.of(cfn).acknowledge(
            cdk.Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                reason=(
                    "Every '*' resource of this policy belongs to an action listed with its AWS "
                    f"reason in this resource's metadata ({METADATA_KEY}); any other '*' fails "
                    "synth (the sagemaker-constructs WildcardResource check)."
                ),
            )
        )


def _declared(cfn: cdk.CfnResource) -> Mapping[str, str]:
    value = cfn.get_metadata(METADATA_KEY)
    return value if isinstance(value, Mapping) else {}


def undeclared_wildcards(resource: Mapping[str, Any]) -> list[str]:
    """The actions a template resource (an IAM policy or role) allows on ``*`` without
    declaring them in its metadata."""
    kind = resource.get("Type")
    properties = resource.get("Properties", {})
    if kind in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
        documents = [properties.get("PolicyDocument")]
    elif kind == "AWS::IAM::Role":
        documents = [p.get("PolicyDocument") for p in properties.get("Policies", [])]
    else:
        return []
    declared = resource.get("Metadata", {}).get(METADATA_KEY, {})
    undeclared: set[str] = set()
    for document in documents:
        for statement in (document or {}).get("Statement", []):
            resources = statement.get("Resource", [])
            resources = resources if isinstance(resources, list) else [resources]
            if statement.get("Effect") != "Allow" or "*" not in resources:
                continue
            actions = statement.get("Action", [])
            for action in actions if isinstance(actions, list) else [actions]:
                if action not in declared:
                    undeclared.add(action)
    return sorted(undeclared)


@jsii.implements(cdk.IPolicyValidationPlugin)
class WildcardResourcesCheck:
    """A validation plugin (it runs on every stack, stages included, like the cdk-nag packs):
    a ``*`` resource that its policy did not declare unscoped fails synth."""

    @property
    def name(self) -> str:
        return "sagemaker-constructs-wildcards"

    @property
    def version(self) -> str | None:
        return None

    @property
    def rule_ids(self) -> list[str] | None:
        return ["WildcardResource"]

    def validate(self, context: cdk.IPolicyValidationContext) -> cdk.PolicyValidationPluginReport:
        violations = []
        for path in context.template_paths:
            with open(path, encoding="utf-8") as handle:
                template = json.load(handle)
            for logical_id, resource in template.get("Resources", {}).items():
                undeclared = undeclared_wildcards(resource)
                if not undeclared:
                    continue
                violations.append(
                    cdk.PolicyViolation(
                        rule_name="WildcardResource",
                        description=(f"allows {', '.join(undeclared)} on every resource ('*')"),
                        fix=(
                            "name the resources the action needs; for an action without "
                            "resource-level permissions use ScopedRole.add_unscoped or "
                            "grant_unscoped (allowed: "
                            f"{', '.join(sorted(UNSCOPED_ACTIONS))})"
                        ),
                        violating_resources=[
                            cdk.PolicyViolatingResource(
                                resource_logical_id=logical_id,
                                template_path=path,
                                locations=["Properties"],
                            )
                        ],
                    )
                )
        return cdk.PolicyValidationPluginReport(success=not violations, violations=violations)
