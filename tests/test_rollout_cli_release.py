"""``sagemaker-rollout release-canary`` against moto: a rolled-back, autoscaled canary's scalable
target is deregistered before the deploy that removes its variant, and only then.

GIVEN a rollout state machine tagged as ``CanaryRollout`` tags it (endpoint, variants, lock
table, the canary's template scaling), a moto endpoint whose canary is a scalable target with a
scaling policy (made as strict as AWS by ``strict_aws.StrictScaling``: deregistering deletes
the policies); WHEN the command runs; THEN it deregisters only a canary at 0 % with no rollout
running and no lock held, and says why otherwise.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from strict_aws import StrictScaling

from sagemaker_constructs.rollout.cli import Clients, run
from sagemaker_constructs.rollout.contract import (
    EXIT_ERROR,
    EXIT_OK,
    LOCK_HOLDER,
    LOCK_KEY,
    SCALABLE_DIMENSION,
    TAG_BASELINE,
    TAG_CANARY,
    TAG_CANARY_SCALING,
    TAG_ENDPOINT,
    TAG_LOCK_TABLE,
    scalable_resource_id,
)

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/r"
TABLE = "locks"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        undo = StrictScaling(ACCOUNT, REGION).install()
        try:
            names = ("stepfunctions", "sagemaker", "dynamodb", "application-autoscaling")
            made = {n: boto3.client(n, region_name=REGION) for n in names}  # type: ignore[call-overload]
            made["dynamodb"].create_table(
                TableName=TABLE,
                KeySchema=[{"AttributeName": LOCK_KEY, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": LOCK_KEY, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            yield made
        finally:
            undo()


def _rollout(aws: dict[str, Any], endpoint: str, *, autoscaled: bool = True) -> str:
    """A moto endpoint (all traffic on Blue), its canary Green a scalable target with a policy,
    and a state machine tagged as the construct tags it."""
    sm = aws["sagemaker"]
    sm.create_model(
        ModelName=f"{endpoint}-m",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/m:1"},
    )
    sm.create_endpoint_config(
        EndpointConfigName=f"{endpoint}-c",
        ProductionVariants=[
            {
                "VariantName": v,
                "ModelName": f"{endpoint}-m",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": w,
            }
            for v, w in (("Blue", 100.0), ("Green", 0.0))
        ],
    )
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=f"{endpoint}-c")
    sm.update_endpoint_weights_and_capacities(
        EndpointName=endpoint,
        DesiredWeightsAndCapacities=[
            {"VariantName": "Blue", "DesiredWeight": 100.0},
            {"VariantName": "Green", "DesiredWeight": 0.0},
        ],
    )
    scaling = aws["application-autoscaling"]
    resource_id = scalable_resource_id(endpoint, "Green")
    scaling.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=resource_id,
        ScalableDimension=SCALABLE_DIMENSION,
        MinCapacity=1,
        MaxCapacity=4,
    )
    scaling.put_scaling_policy(
        PolicyName="green-invocations",
        ServiceNamespace="sagemaker",
        ResourceId=resource_id,
        ScalableDimension=SCALABLE_DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 750.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
        },
    )
    tags = {
        TAG_ENDPOINT: endpoint,
        TAG_BASELINE: "Blue",
        TAG_CANARY: "Green",
        TAG_LOCK_TABLE: TABLE,
        **({TAG_CANARY_SCALING: "1,4,1"} if autoscaled else {}),
    }
    definition = {
        "StartAt": "Wait",
        "States": {"Wait": {"Type": "Wait", "Seconds": 30, "End": True}},
    }
    created = aws["stepfunctions"].create_state_machine(
        name=f"{endpoint}-rollout",
        definition=json.dumps(definition),
        roleArn=ROLE,
        tags=[{"key": k, "value": v} for k, v in tags.items()],
    )
    return str(created["stateMachineArn"])


#: The IAM action of every AWS call ``release-canary`` made in these tests.
CALLS: set[str] = set()
_IAM_PREFIX = {"stepfunctions": "states"}


def _record(model: Any, **_: Any) -> None:
    prefix = _IAM_PREFIX.get(model.service_model.service_name, model.service_model.signing_name)
    CALLS.add(f"{prefix}:{model.name}")


def _release(aws: dict[str, Any], *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    clients = Clients(
        sfn=aws["stepfunctions"],
        sagemaker=aws["sagemaker"],
        cloudformation=None,
        dynamodb=aws["dynamodb"],
        autoscaling=aws["application-autoscaling"],
    )
    handlers = [c.meta.events for c in aws.values()]
    for events in handlers:
        events.register("before-call.*.*", _record)
    try:
        code = run(["release-canary", *args], clients=clients, out=out, err=err)
    finally:
        for events in handlers:
            events.unregister("before-call.*.*", _record)
    return code, out.getvalue(), err.getvalue()


def _target(aws: dict[str, Any], endpoint: str) -> tuple[list[Any], list[Any]]:
    scaling = aws["application-autoscaling"]
    resource_id = scalable_resource_id(endpoint, "Green")
    targets = scaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[resource_id]
    )["ScalableTargets"]
    policies = scaling.describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=resource_id
    )["ScalingPolicies"]
    return targets, policies


def test_a_rolled_back_canary_is_released_with_its_policies(aws: dict[str, Any]) -> None:
    arn = _rollout(aws, "churn")
    code, out, err = _release(aws, "--state-machine", arn)
    assert (code, err) == (EXIT_OK, "")
    assert "released Green of churn" in out
    assert _target(aws, "churn") == ([], [])
    # a second run finds nothing to release and says so
    code, out, _ = _release(aws, "--endpoint", "churn")
    assert code == EXIT_OK
    assert "Green is not a scalable target (already released)" in out


def test_a_canary_that_serves_traffic_is_not_released(aws: dict[str, Any]) -> None:
    arn = _rollout(aws, "busy")
    aws["sagemaker"].update_endpoint_weights_and_capacities(
        EndpointName="busy",
        DesiredWeightsAndCapacities=[
            {"VariantName": "Blue", "DesiredWeight": 75.0},
            {"VariantName": "Green", "DesiredWeight": 25.0},
        ],
    )
    code, _, err = _release(aws, "--state-machine", arn)
    assert code == EXIT_ERROR
    assert "Green still serves traffic" in err
    assert len(_target(aws, "busy")[0]) == 1


def test_a_held_lock_or_a_running_rollout_blocks_the_release(aws: dict[str, Any]) -> None:
    arn = _rollout(aws, "locked")
    holder = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:locked-rollout:x"
    aws["dynamodb"].put_item(
        TableName=TABLE, Item={LOCK_KEY: {"S": "locked"}, LOCK_HOLDER: {"S": holder}}
    )
    code, _, err = _release(aws, "--state-machine", arn)
    assert code == EXIT_ERROR
    assert f"the rollout lock of locked is held by {holder}" in err
    aws["dynamodb"].delete_item(TableName=TABLE, Key={LOCK_KEY: {"S": "locked"}})
    aws["stepfunctions"].start_execution(stateMachineArn=arn, name="running")
    code, _, err = _release(aws, "--state-machine", arn)
    assert code == EXIT_ERROR
    assert "a rollout is running" in err
    assert len(_target(aws, "locked")[0]) == 1


def test_a_canary_without_autoscaling_needs_no_release(aws: dict[str, Any]) -> None:
    arn = _rollout(aws, "plain", autoscaled=False)
    code, _, err = _release(aws, "--state-machine", arn)
    assert code == EXIT_ERROR
    assert "is not autoscaled" in err
    assert "a deploy can remove its variant as it is" in err


def test_a_bad_endpoint_name_is_an_error_before_any_aws_call() -> None:
    err = io.StringIO()
    no_aws = Clients(sfn=None, sagemaker=None, cloudformation=None)
    code = run(["release-canary", "--endpoint", "churn_v2"], clients=no_aws, err=err)
    assert code == EXIT_ERROR
    assert "a SageMaker endpoint name: letters, digits and hyphens" in err.getvalue()


def test_grant_operate_allows_every_call_of_release_canary(aws: dict[str, Any]) -> None:
    """What ``release-canary --state-machine`` calls (recorded) is what ``grant_operate`` of a
    rollout with an autoscaled canary allows."""
    import aws_cdk as cdk
    from aws_cdk import aws_iam as iam
    from cdk_testing import imported_vpc

    from sagemaker_constructs.endpoint import Endpoint
    from sagemaker_constructs.rollout import CanaryRollout, VariantScalingLimits

    CALLS.clear()
    arn = _rollout(aws, "granted")
    assert _release(aws, "--state-machine", arn)[0] == EXIT_OK
    called = set(CALLS)
    assert "application-autoscaling:DeregisterScalableTarget" in called
    stack = cdk.Stack(cdk.App(), "Grant")
    rollout = CanaryRollout(
        stack,
        "Rollout",
        endpoint=Endpoint.from_endpoint_name(stack, "Endpoint", "granted"),
        baseline_variant="Blue",
        canary_variant="Green",
        vpc=imported_vpc(stack),
        dynamodb_prefix_list_id="pl-02cd2c6b",
        variant_scaling={
            "Green": VariantScalingLimits(min_capacity=1, max_capacity=4, instance_count=1)
        },
    )
    role = iam.Role(stack, "Operator", assumed_by=iam.AccountRootPrincipal())
    grant = rollout.grant_operate(role)
    granted = {action for statement in grant.principal_statements for action in statement.actions}
    assert called - granted == set()
