"""The evaluator Lambda of a rollout: function, log group and least-privilege role."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from ..compliance import acknowledge, acknowledge_checkov
from ..roles import ScopedRole
from .functions import RUNTIME, add_tracing_and_vpc, role_and_logs, rollout_function

__all__ = ["EVALUATOR_HANDLER", "EVALUATOR_RUNTIME", "EvaluatorParts", "add_evaluator"]

EVALUATOR_HANDLER = "canary_evaluator.handler.handler"
EVALUATOR_RUNTIME = RUNTIME


@dataclass(frozen=True)
class EvaluatorParts:
    """What :func:`add_evaluator` created, and the policy the evaluator judges by."""

    function: lambda_.Function
    log_group: logs.LogGroup
    policy: dict[str, Any]


def add_evaluator(
    scope: Construct,
    *,
    policy: dict[str, Any],
    alarms: Sequence[cloudwatch.IAlarm],
    composite_alarms: Sequence[cloudwatch.IAlarm],
    vpc: ec2.IVpc,
    vpc_subnets: ec2.SubnetSelection | None,
    security_groups: Sequence[ec2.ISecurityGroup] | None,
    encryption_key: kms.IKey,
    log_retention_days: int,
    removal_policy: cdk.RemovalPolicy,
    reserved_concurrency: int | None,
    role_description: str | None = None,
    function_description: str | None = None,
    caller: str = (
        "the rollout state machine (lambda:invoke, RequestResponse), which retries and then "
        "rolls back"
    ),
) -> EvaluatorParts:
    """Add the evaluator (``EvaluatorRole``, ``EvaluatorLogs``, ``Evaluator``) to ``scope``.

    ``role_description`` and ``function_description`` describe the role and the function
    (default: a rollout's canary evaluator); ``caller`` says who invokes it and what happens
    when it fails (the reason a dead-letter queue is not needed).

    ``alarms`` and ``composite_alarms`` are added to the policy's ``alarm_names``; the
    evaluator may describe exactly the metric alarms the returned policy names. CloudWatch
    returns composite alarms from ``DescribeAlarms`` only to a caller allowed on ``*``
    (DescribeAlarms API reference), so composite alarms (``composite_alarms``, and any
    ``CompositeAlarm`` among ``alarms``) add a statement of their own on ``*``.
    """
    evaluator_role, log_group = role_and_logs(
        scope,
        "Evaluator",
        description=role_description or f"canary evaluator of {scope.node.path}",
        encryption_key=encryption_key,
        log_retention_days=log_retention_days,
        removal_policy=removal_policy,
    )
    function = rollout_function(
        scope,
        "Evaluator",
        description=function_description
        or f"Judges the canary of endpoint rollout {scope.node.path}",
        handler=EVALUATOR_HANDLER,
        role=evaluator_role,
        log_group=log_group,
        timeout=cdk.Duration.seconds(60),
        reserved_concurrency=reserved_concurrency,
        vpc=vpc,
        vpc_subnets=vpc_subnets,
        security_groups=security_groups,
    )
    synchronous = (
        f"The evaluator is only invoked synchronously by {caller}; a "
        "dead-letter queue only receives failed asynchronous invocations."
    )
    for rule in (
        "HIPAA.Security::HIPAA.Security-LambdaDLQ",
        "NIST.800.53.R5::NIST.800.53.R5-LambdaDLQ",
    ):
        acknowledge(function, rule, synchronous)
    acknowledge_checkov(function, "CKV_AWS_116", synchronous)
    policy = dict(policy)
    composite = [
        *composite_alarms,
        *(a for a in alarms if isinstance(a, cloudwatch.CompositeAlarm)),
    ]
    metric_alarms = [a for a in alarms if not isinstance(a, cloudwatch.CompositeAlarm)]
    alarm_names = [a.alarm_name for a in (*metric_alarms, *composite)]
    policy_alarms = [n for n in policy.get("alarm_names", []) if isinstance(n, str)]
    if alarm_names:
        policy["alarm_names"] = [*policy_alarms, *alarm_names]
    _grant_evaluator(
        scope,
        evaluator_role,
        watched=[*policy_alarms, *(a.alarm_name for a in metric_alarms)],
        composite=bool(composite),
    )
    return EvaluatorParts(function=function, log_group=log_group, policy=policy)


def _grant_evaluator(
    scope: Construct,
    evaluator_role: ScopedRole,
    *,
    watched: list[str],
    composite: bool,
) -> None:
    """Metrics, X-Ray and VPC interfaces, and the watched alarms only (its own logs come
    with the role)."""
    stack = cdk.Stack.of(scope)
    evaluator_role.add_unscoped("ReadMetrics", ["cloudwatch:GetMetricData"])
    add_tracing_and_vpc(evaluator_role)
    if watched:
        evaluator_role.add_statements(
            iam.PolicyStatement(
                sid="DescribeWatchedAlarms",
                actions=["cloudwatch:DescribeAlarms"],
                resources=[
                    stack.format_arn(
                        service="cloudwatch",
                        resource="alarm",
                        resource_name=name,
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                    for name in watched
                ],
            )
        )
    if composite:
        evaluator_role.add_unscoped("DescribeCompositeAlarms", ["cloudwatch:DescribeAlarms"])
