"""The rollout's guard: an EventBridge rule and a Lambda for what the state machine cannot catch.

When an execution ends FAILED, TIMED_OUT or ABORTED, the rule invokes the guard
(``canary_evaluator.guard``, shipped with the evaluator's code): unless the execution ended
verified, it puts all traffic back on the baseline, verifies it, releases the lock and notifies
(``ROLLED_BACK``, or ``ROLLBACK_FAILED`` with the ``RollbackFailed`` metric that raises the
alarm). Invocations the guard could not handle land in an encrypted dead-letter queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from ..compliance import acknowledge, acknowledge_checkov, acknowledge_wildcard_resources
from ..roles import ScopedRole
from .definition import Capacity
from .functions import (
    add_tracing_and_vpc,
    encrypt_notifications,
    read_execution_data,
    role_and_logs,
    rollout_function,
)

__all__ = ["GUARD_HANDLER", "GuardParts", "add_guard"]

GUARD_HANDLER = "canary_evaluator.guard.handler"
#: Execution endings the guard looks at (SUCCEEDED needs nothing).
GUARDED_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")


@dataclass(frozen=True)
class GuardParts:
    function: lambda_.Function
    rule: events.Rule
    dead_letters: sqs.Queue


def add_guard(
    scope: Construct,
    *,
    state_machine: sfn.StateMachine,
    executions_arn: str,
    endpoint_name: str,
    endpoint_arn: str,
    baseline_variant: str,
    canary_variant: str,
    lock_table: dynamodb.ITable,
    topic: sns.ITopic,
    topic_key: kms.IKey | None,
    metric_namespace: str,
    metric_name: str,
    vpc: ec2.IVpc,
    vpc_subnets: ec2.SubnetSelection | None,
    security_groups: Sequence[ec2.ISecurityGroup] | None,
    encryption_key: kms.IKey,
    log_retention_days: int,
    removal_policy: cdk.RemovalPolicy,
    reserved_concurrency: int | None,
    instance_scaling: tuple[int, int] | None = None,
    capacity: Capacity | None = None,
    scalable_targets_arn: str | None = None,
    dynamodb_prefix_list_id: str | None = None,
) -> GuardParts:
    """Add ``GuardRole``, ``GuardLogs``, ``GuardDeadLetters``, ``Guard`` and ``GuardRule``."""
    role, log_group = role_and_logs(
        scope,
        "Guard",
        description=f"rollout guard of {scope.node.path}",
        encryption_key=encryption_key,
        log_retention_days=log_retention_days,
        removal_policy=removal_policy,
    )
    dead_letters = _dead_letters(scope)
    function = rollout_function(
        scope,
        "Guard",
        description=f"Restores the baseline when a rollout of {scope.node.path} ends unverified",
        handler=GUARD_HANDLER,
        role=role,
        log_group=log_group,
        timeout=cdk.Duration.minutes(15),  # waits for InService, up to 10 minutes
        reserved_concurrency=reserved_concurrency,
        vpc=vpc,
        vpc_subnets=vpc_subnets,
        security_groups=security_groups,
        # the lock table: through the DynamoDB gateway endpoint
        dynamodb_prefix_list_id=dynamodb_prefix_list_id,
        dead_letter_queue=dead_letters,
        environment_encryption=encryption_key,
        environment={
            "ENDPOINT_NAME": endpoint_name,
            "BASELINE_VARIANT": baseline_variant,
            "CANARY_VARIANT": canary_variant,
            "LOCK_TABLE": lock_table.table_name,
            "TOPIC_ARN": topic.topic_arn,
            "METRIC_NAMESPACE": metric_namespace,
            "METRIC_NAME": metric_name,
            **_restore_environment(instance_scaling, capacity),
        },
    )
    rule = _rule(scope, state_machine, function, dead_letters)
    _grant(
        role,
        state_machine_arn=state_machine.state_machine_arn,
        encryption_key=encryption_key,
        # the canary's scalable targets, when a restore gives an autoscaled canary its limits
        canary_limits_arn=(
            scalable_targets_arn if capacity is not None and capacity.canary is not None else None
        ),
        endpoint_arn=endpoint_arn,
        executions_arn=executions_arn,
        lock_table=lock_table,
        topic=topic,
        topic_key=topic_key,
        metric_namespace=metric_namespace,
        dead_letters=dead_letters,
    )
    acknowledge_wildcard_resources(
        role.policy,
        "The guard reads how an execution of this state machine ended; execution names are "
        "chosen at start time."
        + (
            " application-autoscaling:RegisterScalableTarget on scalable-target/*: a scalable "
            "target's ARN ends in an id Application Auto Scaling chooses at registration "
            "(CloudFormation exposes none); the guard names the canary by its ResourceId."
            if capacity is not None and capacity.canary is not None
            else ""
        ),
    )
    return GuardParts(function=function, rule=rule, dead_letters=dead_letters)


def _dead_letters(scope: Construct) -> sqs.Queue:
    """``GuardDeadLetters``: the guard's failed invocations, from Lambda and EventBridge."""
    dead_letters = sqs.Queue(
        scope,
        "GuardDeadLetters",
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=cdk.Duration.days(14),
    )
    acknowledge(
        dead_letters,
        "AwsSolutions::AwsSolutions-SQS3",
        "This queue is itself the dead-letter queue of the guard's invocations.",
    )
    acknowledge_checkov(
        dead_letters,
        "CKV_AWS_27",
        "Encrypted at rest with SSE-SQS. It receives failed invocation events from Lambda and "
        "EventBridge (execution ARNs, no payloads); a customer-managed key would need "
        "EventBridge in the key policy of a key the user may import.",
    )
    return dead_letters


def _restore_environment(
    instance_scaling: tuple[int, int] | None, capacity: Capacity | None
) -> dict[str, str]:
    """What a restore sets besides the weights: with instance scaling, the baseline's full
    count; with capacity before traffic, the canary's template count and (autoscaled) its
    template scaling limits."""
    counts = (
        {
            "BASELINE_INSTANCES": str(instance_scaling[1]),
            "CANARY_INSTANCES": str(instance_scaling[0]),
        }
        if instance_scaling
        else {}
    )
    return {**counts, **_capacity_environment(capacity)}


def _rule(
    scope: Construct,
    state_machine: sfn.StateMachine,
    function: lambda_.IFunction,
    dead_letters: sqs.Queue,
) -> events.Rule:
    """``GuardRule``: the endings of this state machine's executions the guard checks."""
    return events.Rule(
        scope,
        "GuardRule",
        description=f"Execution endings of {scope.node.path} that the guard checks",
        event_pattern=events.EventPattern(
            source=["aws.states"],
            detail_type=["Step Functions Execution Status Change"],
            detail={
                "stateMachineArn": [state_machine.state_machine_arn],
                "status": list(GUARDED_STATUSES),
            },
        ),
        targets=[
            targets.LambdaFunction(function, dead_letter_queue=dead_letters, retry_attempts=4)
        ],
    )


def _capacity_environment(capacity: Capacity | None) -> dict[str, str]:
    """``CANARY_SCALING`` ("<min>,<max>,<instances>") for an autoscaled canary, or
    ``CANARY_INSTANCES`` for a canary whose template count is known."""
    if capacity is None:
        return {}
    if capacity.canary is not None:
        limits = capacity.canary
        return {
            "CANARY_SCALING": f"{limits.min_capacity},{limits.max_capacity},{limits.instance_count}"
        }
    if capacity.canary_instances is not None:
        return {"CANARY_INSTANCES": str(capacity.canary_instances)}
    return {}


def _grant(
    role: ScopedRole,
    *,
    state_machine_arn: str,
    encryption_key: kms.IKey,
    canary_limits_arn: str | None,
    endpoint_arn: str,
    executions_arn: str,
    lock_table: dynamodb.ITable,
    topic: sns.ITopic,
    topic_key: kms.IKey | None,
    metric_namespace: str,
    dead_letters: sqs.Queue,
) -> None:
    """Exactly what the guard calls, each on its resource."""
    role.add_statements(
        read_execution_data(role, encryption_key, state_machine_arn),
        # Lambda decrypts the function's environment with its execution role
        iam.PolicyStatement(
            sid="DecryptEnvironment",
            actions=["kms:Decrypt"],
            resources=[encryption_key.key_arn],
            conditions={
                "StringEquals": {
                    "kms:ViaService": f"lambda.{cdk.Stack.of(role).region}.amazonaws.com"
                }
            },
        ),
    )
    if canary_limits_arn:
        role.add_statements(
            iam.PolicyStatement(
                sid="RestoreTheCanaryScalingLimits",
                actions=["application-autoscaling:RegisterScalableTarget"],
                resources=[canary_limits_arn],
            )
        )
    role.add_statements(
        iam.PolicyStatement(
            sid="RestoreTheBaseline",
            actions=[
                "sagemaker:DescribeEndpoint",
                "sagemaker:UpdateEndpointWeightsAndCapacities",
            ],
            resources=[endpoint_arn],
        ),
        iam.PolicyStatement(
            sid="ReadTheEnding",
            actions=["states:DescribeExecution", "states:GetExecutionHistory"],
            resources=[executions_arn],
        ),
        iam.PolicyStatement(
            sid="HoldAndReleaseTheLock",
            actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"],
            resources=[lock_table.table_arn],
        ),
        iam.PolicyStatement(sid="Notify", actions=["sns:Publish"], resources=[topic.topic_arn]),
        iam.PolicyStatement(
            sid="DeadLetters", actions=["sqs:SendMessage"], resources=[dead_letters.queue_arn]
        ),
    )
    role.add_unscoped(
        "CountRollbackFailures",
        ["cloudwatch:PutMetricData"],
        conditions={"StringEquals": {"cloudwatch:namespace": metric_namespace}},
    )
    add_tracing_and_vpc(role)
    encrypt_notifications(role, topic_key)
