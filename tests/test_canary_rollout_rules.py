"""CanaryRollout rules checked at construction: instance scaling, variants, history size."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from cdk_testing import EndpointRef

from sagemaker_constructs import CanaryRollout, InstanceScaling
from sagemaker_constructs.rollout.definition import instance_counts
from sagemaker_constructs.rollout.definition.builder import Bindings, Builder, iam_action


def _stack_and_vpc() -> tuple[cdk.Stack, ec2.IVpc]:
    """A fresh stack (construction only, no synth) with an imported VPC."""
    stack = cdk.Stack(env=cdk.Environment(account="111111111111", region="us-east-1"))
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-0123456789abcdef0",
        vpc_cidr_block="10.0.0.0/16",
        availability_zones=["us-east-1a"],
        private_subnet_ids=["subnet-0123456789abcdef0"],
    )
    return stack, vpc


def _rollout(stack: cdk.Stack, vpc: ec2.IVpc, **overrides: Any) -> CanaryRollout:
    """A rollout of ``EndpointRef`` with every default but ``overrides``."""
    return CanaryRollout(
        stack,
        "Rollout",
        endpoint=EndpointRef(),
        baseline_variant="baseline",
        canary_variant="candidate",
        vpc=vpc,
        **overrides,
    )


def test_instance_counts_follow_the_traffic_share_rounding_up() -> None:
    counts = instance_counts(1, 4)
    assert len(counts) == 101
    assert (counts[0], counts[5], counts[25], counts[26], counts[50], counts[100]) == (
        1,
        1,
        1,
        2,
        2,
        4,
    )
    assert counts == sorted(counts)


@pytest.mark.parametrize(
    ("scaling", "message"),
    [
        (
            InstanceScaling(max_instances=4, min_instances=0),
            r"instance_scaling\.min_instances=0: must be an integer of at least 1",
        ),
        (
            InstanceScaling(max_instances=2, min_instances=3),
            r"instance_scaling\.max_instances=2: must be an integer of at least min_instances",
        ),
    ],
)
def test_bad_instance_scaling_is_rejected(scaling: InstanceScaling, message: str) -> None:
    stack, vpc = _stack_and_vpc()
    with pytest.raises(ValueError, match=message):
        _rollout(stack, vpc, instance_scaling=scaling)


def test_variants_must_belong_to_the_endpoint() -> None:
    from sagemaker_constructs import ContainerDefinition, ContainerImage, Endpoint, Model
    from sagemaker_constructs import ProductionVariant as Variant

    stack, vpc = _stack_and_vpc()
    image = ContainerImage.from_registry(
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.16-cpu"
    )
    model = Model(stack, "Model", containers=[ContainerDefinition(image=image)])
    endpoint = Endpoint(
        stack,
        "Endpoint",
        variants=[
            Variant(variant_name="blue", model=model, instance_type="ml.m5.large"),
            Variant(variant_name="green", model=model, instance_type="ml.m5.large"),
        ],
    )
    with pytest.raises(
        ValueError,
        match=r"canary_variant='gren': must be a variant of the endpoint \(blue, green\)",
    ):
        CanaryRollout(
            stack,
            "Rollout",
            endpoint=endpoint,
            baseline_variant="blue",
            canary_variant="gren",
            vpc=vpc,
        )


def test_an_endpoint_of_inference_components_is_rejected() -> None:
    """Components have no traffic weights: their new versions ship by rolling update."""
    from sagemaker_constructs import ComponentEndpoint, ComponentVariant

    stack, vpc = _stack_and_vpc()
    endpoint = ComponentEndpoint(
        stack,
        "Components",
        endpoint_name="llm",
        variants=[ComponentVariant(variant_name="blue", instance_type="ml.g5.12xlarge")],
    )
    with pytest.raises(
        ValueError,
        match=r"endpoint='[^']*Components': is an endpoint of inference components.*RollingUpdate",
    ):
        CanaryRollout(
            stack,
            "Rollout",
            endpoint=endpoint,
            baseline_variant="blue",
            canary_variant="green",
            vpc=vpc,
        )


def test_a_rollout_must_fit_in_the_execution_history() -> None:
    stack, vpc = _stack_and_vpc()
    with pytest.raises(
        ValueError,
        match=r"bake_time, interval, max_extensions, max_polls, steps='86400 s, 60 s, 5, 60, 4 "
        r"steps': a rollout could take \d+ history events, more than the 20000 allowed \(a "
        r"Standard workflow holds 25000\)",
    ):
        _rollout(stack, vpc, bake_time=cdk.Duration.days(1))


@pytest.mark.parametrize(
    ("resource", "action"),
    [
        ("arn:aws:states:::aws-sdk:sagemaker:describeEndpoint", "sagemaker:DescribeEndpoint"),
        ("arn:aws:states:::aws-sdk:sfn:listExecutions", "states:ListExecutions"),
        ("arn:aws:states:::aws-sdk:dynamodb:putItem", "dynamodb:PutItem"),
        ("arn:aws:states:::lambda:invoke", "lambda:InvokeFunction"),
        ("arn:aws:states:::sns:publish.waitForTaskToken", "sns:Publish"),
    ],
)
def test_a_task_resource_names_its_iam_action(resource: str, action: str) -> None:
    assert iam_action(resource) == action


def test_a_task_of_an_unknown_integration_is_refused() -> None:
    with pytest.raises(ValueError, match=r"no IAM action known for the task resource"):
        iam_action("arn:aws:states:::ecs:runTask.sync")


def test_a_task_cannot_be_added_without_its_permission() -> None:
    bindings = Bindings(
        endpoint_name="ep",
        endpoint_arn="arn:aws:sagemaker:us-east-1:111111111111:endpoint/ep",
        baseline_variant="a",
        canary_variant="b",
        evaluator_arn="arn:aws:lambda:us-east-1:111111111111:function:f",
        topic_arn="arn:aws:sns:us-east-1:111111111111:t",
        state_machine_arn="arn:aws:states:us-east-1:111111111111:stateMachine:m",
        executions_arn="arn:aws:states:us-east-1:111111111111:execution:*",
        lock_table_name="locks",
        lock_table_arn="arn:aws:dynamodb:us-east-1:111111111111:table/locks",
    )
    builder = Builder(bindings, approval_timeout_seconds=60)
    task = {"Type": "Task", "Resource": "arn:aws:states:::sns:publish", "End": True}
    with pytest.raises(ValueError, match=r"is a Task: add it with add_task"):
        builder.add("Publish", task)
    builder.add_task("Publish", task, resource_arn=builder.topic_arn)
    assert [(p.action, p.resource, p.state) for p in builder.permissions] == [
        ("sns:Publish", builder.topic_arn, "Publish")
    ]


def test_with_instance_scaling_the_guard_and_abort_restore_the_baselines_fleet() -> None:
    from aws_cdk.assertions import Match, Template

    from sagemaker_constructs.rollout.contract import TAG_INSTANCES

    stack, vpc = _stack_and_vpc()
    _rollout(stack, vpc, instance_scaling=InstanceScaling(max_instances=4, min_instances=1))
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "canary_evaluator.guard.handler",
            "Environment": {
                "Variables": Match.object_like({"BASELINE_INSTANCES": "4", "CANARY_INSTANCES": "1"})
            },
        },
    )
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {"Tags": Match.array_with([{"Key": TAG_INSTANCES, "Value": "4,1"}])},
    )
