"""What every state machine of the rollout package has around it (``CanaryRollout``,
``ShadowEvaluation``): the key, the topic, the name, the log group, the role, the machine, and
:class:`StateMachineConstruct`, the public API both constructs share.

Each function adds its resources to ``scope`` under the construct ids the rollout has always
used (``Key``, ``Topic``, ``Logs``, ``Role``, ``Resource``): construct ids are API.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from .._types import checked
from ..log_groups import allow_cloudwatch_logs, retention
from ..roles import ScopedRole
from .definition import Definition
from .functions import encrypt_notifications, read_execution_data

__all__ = [
    "StateMachineConstruct",
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


#: The shared public methods whose arguments are checked (``checked``) under the name of the
#: subclass a caller used: ``CanaryRollout.metric_executions_failed``, never the base class.
_CHECKED_METHODS = (
    "grant_start_execution",
    "metric_executions_failed",
    "metric_executions_succeeded",
    "metric_executions_started",
)


def _checked_as_method_of(cls: type, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` with its arguments checked as if ``cls`` had defined it."""

    @functools.wraps(function)
    def method(*args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    method.__qualname__ = f"{cls.__qualname__}.{function.__name__}"
    return checked(method)


class StateMachineConstruct(Construct):
    """A construct around one logged state machine and the evaluator (``CanaryRollout``,
    ``ShadowEvaluation``): the role, the evaluator's connections, the executions, the grants
    and metrics both offer.

    A subclass sets ``encryption_key``, ``evaluator``, ``_role`` and ``state_machine`` in its
    constructor, and the name, ARN and log group with :meth:`_name_and_logs`.
    """

    #: The key of the topic (when created), the log groups and the execution data.
    encryption_key: kms.IKey
    #: The evaluator Lambda.
    evaluator: lambda_.Function
    #: The state machine's physical name, and its ARN (known before it exists).
    state_machine_name: str
    state_machine_arn: str
    #: The state machine's encrypted log group (ALL, with execution data).
    log_group: logs.LogGroup
    #: The state machine (STANDARD, logged and traced).
    state_machine: sfn.StateMachine
    _role: ScopedRole

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass checks the arguments of the shared public methods under its own name
        (``_CHECKED_METHODS``), as the methods it defines itself do."""
        super().__init_subclass__(**kwargs)
        for name in _CHECKED_METHODS:
            shared = getattr(StateMachineConstruct, name)
            if getattr(cls, name) is shared:  # not yet checked, nor overridden
                setattr(cls, name, _checked_as_method_of(cls, shared))

    def _name_and_logs(
        self,
        state_machine_name: str | None,
        log_retention_days: int,
        removal_policy: cdk.RemovalPolicy,
    ) -> None:
        """The state machine's name and ARN (known before it exists: the definition names
        it), and ``Logs``, its encrypted log group (ALL, with execution data)."""
        self.state_machine_name, self.state_machine_arn = state_machine_name_and_arn(
            self, state_machine_name
        )
        self.log_group = execution_log_group(
            self,
            encryption_key=self.encryption_key,
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
        )

    def _grant_read_execution_data(self, grantee: iam.IGrantable) -> iam.Grant:
        """``kms:Decrypt`` of the execution data, through Step Functions only."""
        statement = read_execution_data(self, self.encryption_key, self.state_machine_arn)
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=statement.actions,
            resource_arns=statement.resources,
            conditions=statement.conditions,
        )

    # -- public API -------------------------------------------------------------------------

    @property
    def grant_principal(self) -> iam.IPrincipal:
        """The state machine's role."""
        return self._role.role

    @property
    def role(self) -> iam.IRole:
        """The state machine's role (permissions in one customer-managed policy)."""
        return self._role.role

    @property
    def connections(self) -> ec2.Connections:
        """Network connections of the evaluator Lambda."""
        return self.evaluator.connections

    @property
    def executions_arn(self) -> str:
        """The ARN pattern of this state machine's executions."""
        return cdk.Stack.of(self).format_arn(
            service="states",
            resource="execution",
            resource_name=f"{self.state_machine_name}:*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )

    def grant_start_execution(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to start executions (rollouts, evaluations:
        ``states:StartExecution``)."""
        return self.state_machine.grant_start_execution(grantee)

    def metric_executions_failed(self, *, period: cdk.Duration | None = None) -> cloudwatch.Metric:
        """Failed executions (a rollout rolled back or not; an evaluation that did not pass or
        could not run). Default: Sum over 1 minute."""
        return self.state_machine.metric_failed(
            period=period or cdk.Duration.minutes(1), statistic="Sum"
        )

    def metric_executions_succeeded(
        self, *, period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """Succeeded executions (completed rollouts, passed evaluations). Default: Sum over 1
        minute."""
        return self.state_machine.metric_succeeded(
            period=period or cdk.Duration.minutes(1), statistic="Sum"
        )

    def metric_executions_started(self, *, period: cdk.Duration | None = None) -> cloudwatch.Metric:
        """Started executions. Default: Sum over 1 minute."""
        return self.state_machine.metric_started(
            period=period or cdk.Duration.minutes(1), statistic="Sum"
        )
