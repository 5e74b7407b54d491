"""What the rollout's Lambda functions (the evaluator and the guard) have in common."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from .._assets import lambda_code_root
from .._network import allow_https_to_endpoints
from ..log_groups import retention
from ..roles import ScopedRole

__all__ = [
    "RUNTIME",
    "add_tracing_and_vpc",
    "encrypt_notifications",
    "read_execution_data",
    "role_and_logs",
    "rollout_function",
]

#: The runtime of both Lambdas (their code: ``lambda/canary_evaluator``, shipped in the wheel).
RUNTIME = lambda_.Runtime.PYTHON_3_14


def role_and_logs(
    scope: Construct,
    id: str,
    *,
    description: str,
    encryption_key: kms.IKey,
    log_retention_days: int,
    removal_policy: cdk.RemovalPolicy,
) -> tuple[ScopedRole, logs.LogGroup]:
    """The role (``<id>Role``, allowed to write its own logs) and the encrypted log group
    (``<id>Logs``) of the function ``id``."""
    role = ScopedRole(
        scope,
        f"{id}Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=description,
    )
    log_group = logs.LogGroup(
        scope,
        f"{id}Logs",
        encryption_key=encryption_key,
        retention=retention(log_retention_days),
        removal_policy=removal_policy,
    )
    role.add_statements(
        iam.PolicyStatement(
            sid="WriteOwnLogs",
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            # the log group's Arn attribute ends with ":*" and so covers its streams
            resources=[log_group.log_group_arn],
        )
    )
    return role, log_group


def rollout_function(
    scope: Construct,
    id: str,
    *,
    description: str,
    handler: str,
    role: ScopedRole,
    log_group: logs.ILogGroup,
    timeout: cdk.Duration,
    reserved_concurrency: int | None,
    vpc: ec2.IVpc,
    vpc_subnets: ec2.SubnetSelection | None,
    security_groups: Sequence[ec2.ISecurityGroup] | None,
    dynamodb_prefix_list_id: str | None = None,
    **extra: Any,
) -> lambda_.Function:
    """An arm64, traced function in the VPC running the shipped Lambda code; its role's
    managed policy exists before it does.

    Without ``security_groups`` Lambda's own group (``<id>/SecurityGroup``) allows HTTPS out to
    the VPC's CIDR block (its interface endpoints) and, with ``dynamodb_prefix_list_id``, to
    DynamoDB's prefix list (the gateway endpoint), nothing else. Neither function calls S3
    (Lambda fetches the code itself, outside the VPC), so no S3 rule.
    """
    function = lambda_.Function(
        scope,
        id,
        description=description,
        runtime=RUNTIME,
        architecture=lambda_.Architecture.ARM_64,
        handler=handler,
        code=lambda_.Code.from_asset(
            str(lambda_code_root()), exclude=["__pycache__", "**/__pycache__", "*.pyc"]
        ),
        role=role.immutable_role,
        timeout=timeout,
        memory_size=256,
        reserved_concurrent_executions=reserved_concurrency,
        tracing=lambda_.Tracing.ACTIVE,
        log_group=log_group,
        vpc=vpc,
        vpc_subnets=vpc_subnets,
        security_groups=list(security_groups) if security_groups is not None else None,
        allow_all_outbound=False if security_groups is None else None,
        **extra,
    )
    if security_groups is None:
        allow_https_to_endpoints(
            function.connections.security_groups[0],
            vpc,
            dynamodb_prefix_list_id=dynamodb_prefix_list_id,
        )
    function.node.add_dependency(role.policy)
    return function


def add_tracing_and_vpc(role: ScopedRole) -> None:
    """X-Ray traces and the network interfaces of a function in a VPC, on '*' (X-Ray has no
    resource types; AWS Lambda documents its VPC actions on all resources)."""
    role.add_unscoped(
        "XRayAndVpcNetworkInterfaces",
        [
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
            "ec2:CreateNetworkInterface",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeSubnets",
            "ec2:DeleteNetworkInterface",
            "ec2:AssignPrivateIpAddresses",
            "ec2:UnassignPrivateIpAddresses",
        ],
    )


def read_execution_data(
    scope: Construct, key: kms.IKey, state_machine_arn: str
) -> iam.PolicyStatement:
    """``kms:Decrypt`` of a state machine's encrypted execution data (what DescribeExecution and
    GetExecutionHistory need), through Step Functions only and for that state machine only."""
    return iam.PolicyStatement(
        sid="ReadExecutionData",
        actions=["kms:Decrypt"],
        resources=[key.key_arn],
        conditions={
            "StringEquals": {
                "kms:ViaService": f"states.{cdk.Stack.of(scope).region}.amazonaws.com",
                "kms:EncryptionContext:aws:states:stateMachineArn": state_machine_arn,
            }
        },
    )


def encrypt_notifications(role: ScopedRole, topic_key: kms.IKey | None) -> None:
    """Let ``role`` publish to a topic encrypted with ``topic_key`` (when there is one)."""
    if topic_key is not None:
        role.add_statements(
            iam.PolicyStatement(
                sid="EncryptNotifications",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[topic_key.key_arn],
            )
        )
