"""What every state machine of the rollout package has around it (``CanaryRollout``,
``ShadowEvaluation``): the key, the topic, the name, the log group, the role, the machine.

Each function adds its resources to ``scope`` under the construct ids the rollout has always
used (``Key``, ``Topic``, ``Logs``, ``Role``, ``Resource``): construct ids are API.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from ..log_groups import allow_cloudwatch_logs, retention
from ..roles import ScopedRole
from .definition import Definition
from .functions import encrypt_notifications

__all__ = [
    "execution_log_group",
    "logged_state_machine",
    "new_key",
    "notification_topic",
    "state_machine_name_and_arn",
    "state_machine_role",
]


def new_key(scope: Construct, *, description: str, removal_policy: cdk.RemovalPolicy) -> kms.Key:
    """``Key``: a key with rotation for the topic and the log groups; alarms may publish
    with it."""
    key = kms.Key(
        scope,
        "Key",
        enable_key_rotation=True,
        description=description,
        removal_policy=removal_policy,
    )
    allow_cloudwatch_logs(key)
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudWatchAlarmsToPublish",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": cdk.Stack.of(scope).account}},
        )
    )
    return key


def notification_topic(
    scope: Construct, topic: sns.ITopic | None, *, key: kms.IKey, display_name: str
) -> tuple[sns.ITopic, kms.IKey | None]:
    """The given topic (and its key, when known), or ``Topic``: a new one encrypted with
    ``key`` that enforces TLS."""
    if topic is not None:
        return topic, getattr(topic, "master_key", None)
    created = sns.Topic(
        scope,
        "Topic",
        display_name=display_name,
        master_key=key,
        enforce_ssl=True,
    )
    return created, key


def state_machine_name_and_arn(scope: Construct, name: str | None) -> tuple[str, str]:
    """The state machine's name (default: derived from the construct path, deterministic) and
    its ARN, known before the state machine exists (its definition may name itself)."""
    name = name or cdk.Names.unique_resource_name(scope, max_length=80, separator="-")
    arn = cdk.Stack.of(scope).format_arn(
        service="states",
        resource="stateMachine",
        resource_name=name,
        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
    )
    return name, arn


def execution_log_group(
    scope: Construct,
    *,
    encryption_key: kms.IKey,
    log_retention_days: int,
    removal_policy: cdk.RemovalPolicy,
) -> logs.LogGroup:
    """``Logs``: the state machine's encrypted log group."""
    return logs.LogGroup(
        scope,
        "Logs",
        encryption_key=encryption_key,
        retention=retention(log_retention_days),
        removal_policy=removal_policy,
    )


def state_machine_role(
    scope: Construct,
    definition: Definition,
    *,
    description: str,
    encryption_key: kms.IKey,
    state_machine_arn: str,
    topic_key: kms.IKey | None,
) -> ScopedRole:
    """``Role``: exactly what the definition's tasks call (``Definition.statements``), log
    delivery and X-Ray, the topic's key, and the key of the execution data."""
    role = ScopedRole(
        scope,
        "Role",
        assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
        description=description,
    )
    role.add_statements(
        *(
            iam.PolicyStatement(sid=sid, actions=actions, resources=[resource])
            for sid, actions, resource in definition.statements()
        ),
    )
    role.add_unscoped(
        "LogDeliveryAndXRay",
        [
            "logs:CreateLogDelivery",
            "logs:GetLogDelivery",
            "logs:UpdateLogDelivery",
            "logs:DeleteLogDelivery",
            "logs:ListLogDeliveries",
            "logs:PutResourcePolicy",
            "logs:DescribeResourcePolicies",
            "logs:DescribeLogGroups",
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
            "xray:GetSamplingRules",
            "xray:GetSamplingTargets",
        ],
    )
    encrypt_notifications(role, topic_key)
    # Execution data (inputs, outputs, task tokens in the history) is encrypted with the
    # construct's key: the state machine reads and writes it under its own ARN as the
    # encryption context, and log delivery writes the execution data to the log group.
    stack = cdk.Stack.of(scope)
    role.add_statements(
        iam.PolicyStatement(
            sid="EncryptExecutionData",
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=[encryption_key.key_arn],
            conditions={
                "StringEquals": {
                    "kms:EncryptionContext:aws:states:stateMachineArn": state_machine_arn
                }
            },
        ),
        iam.PolicyStatement(
            sid="EncryptLoggedExecutionData",
            actions=["kms:GenerateDataKey"],
            resources=[encryption_key.key_arn],
            conditions={
                "StringEquals": {
                    "kms:EncryptionContext:SourceArn": stack.format_arn(
                        service="logs",
                        resource="*",
                        arn_format=cdk.ArnFormat.NO_RESOURCE_NAME,
                    )
                }
            },
        ),
    )
    return role


def logged_state_machine(
    scope: Construct,
    *,
    name: str,
    definition: dict[str, Any],
    role: ScopedRole,
    log_group: logs.ILogGroup,
    encryption_key: kms.IKey,
) -> sfn.StateMachine:
    """``Resource``: a STANDARD state machine, logged (ALL, with execution data) and traced,
    its execution data encrypted with ``encryption_key``; created after its role's policy."""
    state_machine = sfn.StateMachine(
        scope,
        "Resource",
        state_machine_name=name,
        state_machine_type=sfn.StateMachineType.STANDARD,
        definition_body=sfn.DefinitionBody.from_string(
            cdk.Stack.of(scope).to_json_string(definition)
        ),
        role=role.immutable_role,
        logs=sfn.LogOptions(
            destination=log_group,
            level=sfn.LogLevel.ALL,
            include_execution_data=True,
        ),
        tracing_enabled=True,
        encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(encryption_key),
    )
    state_machine.node.add_dependency(role.policy)
    return state_machine
