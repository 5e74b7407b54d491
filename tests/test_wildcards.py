"""Wildcard resources cannot hide: a '*' added to any construct's role fails synth.

cdk-nag names AwsSolutions-IAM5[Resource::*] once per policy, so an acknowledgement of one
'*' covered every later one. Now '*' lives only in each role's policy of actions without
resource-level permissions, declared action by action; any other '*' fails synth.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from cdk_testing import EndpointRef, imported_vpc

from sagemaker_constructs import (
    CanaryRollout,
    ContainerDefinition,
    ContainerImage,
    Model,
    Notebook,
    Pipeline,
    PipelineDefinition,
    ScopedRole,
    add_compliance_checks,
)
from sagemaker_constructs.wildcards import UNSCOPED_ACTIONS, declare_unscoped

ENV = cdk.Environment(account="111111111111", region="us-east-1")
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/xgboost-inference:1.7-1"


def _model(stack: cdk.Stack) -> Any:
    container = ContainerDefinition(image=ContainerImage.from_registry(IMAGE))
    return Model(stack, "Model", containers=[container], vpc=imported_vpc(stack))


def _notebook(stack: cdk.Stack) -> Any:
    return Notebook(stack, "Notebook", vpc=imported_vpc(stack))


def _pipeline(stack: cdk.Stack) -> Any:
    job = ScopedRole(
        stack, "Job", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"), description="j"
    )
    definition = PipelineDefinition.from_dict(
        {
            "Version": "2020-12-01",
            "Steps": [{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "x"}}],
        }
    )
    return Pipeline(stack, "Pipeline", definition=definition, job_role=job.role)


def _rollout(stack: cdk.Stack) -> Any:
    return CanaryRollout(
        stack,
        "Rollout",
        endpoint=EndpointRef(),
        baseline_variant="baseline",
        canary_variant="canary",
        vpc=imported_vpc(stack),
    )


CONSTRUCTS: dict[str, Callable[[cdk.Stack], Any]] = {
    "Model": _model,
    "Notebook": _notebook,
    "Pipeline": _pipeline,
    "CanaryRollout": _rollout,
}


def _synth(tmp_path: Path, build: Callable[[cdk.Stack], Any], *actions: str) -> None:
    app = cdk.App(outdir=str(tmp_path))
    add_compliance_checks(app)
    stack = cdk.Stack(app, "Stack", env=ENV)
    construct = build(stack)
    if actions:
        construct.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=list(actions), resources=["*"])
        )
    app.synth()


@pytest.mark.parametrize(
    ("name", "action"),
    [
        ("Model", "s3:GetObject"),
        ("Model", "ec2:DeleteNetworkInterface"),
        ("Notebook", "kms:Decrypt"),
        ("Pipeline", "logs:DeleteLogGroup"),
        ("CanaryRollout", "s3:GetObject"),
    ],
)
def test_a_star_grant_through_grant_principal_fails_synth(
    tmp_path: Path, name: str, action: str
) -> None:
    pattern = rf"(?s)allows {action} on every resource.*sagemaker-constructs-wildcards"
    with pytest.raises(Exception, match=pattern):
        _synth(tmp_path, CONSTRUCTS[name], action)


@pytest.mark.parametrize("name", sorted(CONSTRUCTS))
def test_the_constructs_own_wildcards_are_declared_and_pass(tmp_path: Path, name: str) -> None:
    _synth(tmp_path, CONSTRUCTS[name])  # the four packs and the wildcard check pass


def test_only_actions_without_resource_level_permissions_may_be_unscoped() -> None:
    stack = cdk.Stack(env=ENV)
    role = ScopedRole(stack, "R", assumed_by=iam.AccountRootPrincipal(), description="r")
    with pytest.raises(ValueError, match=r"actions=\['s3:GetObject'\]: not actions without"):
        role.add_unscoped("Read", ["s3:GetObject"])
    with pytest.raises(ValueError, match=r"actions='kms:Decrypt': not an action without"):
        declare_unscoped(role.policy, ["kms:Decrypt"])
    role.add_unscoped("Metrics", ["cloudwatch:GetMetricData"])
    assert role.unscoped_policy is not None
    assert role.unscoped_policy is not role.policy


def test_every_allowed_action_carries_an_aws_reason() -> None:
    for action, reason in UNSCOPED_ACTIONS.items():
        assert ":" in action
        assert "'*'" in reason, (action, reason)
