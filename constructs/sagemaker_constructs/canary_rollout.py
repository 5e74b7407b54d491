"""``CanaryRollout``: shift an endpoint's traffic to a new variant step by step, safely.

A Step Functions state machine (STANDARD) bound to one endpoint and two of its production
variants. Each execution moves traffic from the baseline variant to the canary variant
through ``steps`` (default 5 -> 25 -> 50 -> 100 %). After every step it asks the evaluator
Lambda (``canary_evaluator``) every ``interval`` whether the canary is healthy:

- FAIL -> roll back at once: all traffic to the baseline (100/0), verified, and the execution
  FAILS with error ``CanaryRolledBack`` and a cause that names the failed check;
- PASS at the end of ``bake_time`` -> next step (``STEP_ADVANCED`` notification);
- INCONCLUSIVE at the end of ``bake_time`` (too little traffic, too few periods) -> the bake
  is extended by one ``interval`` at a time, at most ``max_extensions`` times, then rolled
  back (fail safe: missing data is never a pass).

The 100 % step: the baseline serves nothing, so the canary is judged against the baseline's
figures measured in the last step that still had live baseline traffic (the evaluator's
``baseline_summary``, passed back as ``baseline_reference``) plus the absolute ceilings and
alarms. A rollout therefore needs at least one step below 100 %.

Execution input (every key optional; ``{}`` runs the construct's defaults)::

    {"steps": [10, 50, 100], "bake_seconds": 1800, "interval_seconds": 60,
     "max_extensions": 5, "poll_seconds": 30, "max_polls": 60,
     "policy": {"min_canary_invocations": 500}}

``policy`` is merged over the construct's policy key by key (top-level keys). The input is
validated before any traffic moves (error ``InvalidInput``), and a preflight evaluation checks
the policy and the evaluator's permissions. Only one execution may run at a time: the oldest
RUNNING execution proceeds, any other fails at once with ``RolloutAlreadyRunning`` (traffic
untouched). The evaluator may only describe the alarms named at synth time (``alarms`` and
``policy.alarm_names``); other alarm names in an execution's policy fail the preflight.
SageMaker throttling and "Cannot update in-progress endpoint" are retried with backoff. A
rollback that cannot be completed ends in error ``RollbackFailed`` with a CRITICAL notification
and alarm.

Manual approval (``approval_steps``): before the first step that reaches each listed
percentage, the execution publishes an ``APPROVAL_REQUIRED`` message with a task token to the
topic and waits (``approval_timeout``). Approve with ``aws stepfunctions send-task-success
--task-token <token> --task-output true``; reject with ``send-task-failure`` (-> rollback).

.. code-block:: python

    rollout = CanaryRollout(
        self, "Rollout",
        endpoint=endpoint, baseline_variant="Current", canary_variant="Candidate",
        vpc=vpc, alarms=[business_alarm], approval_steps=[50],
    )
    rollout.grant_start_execution(deployer_role)
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from ._assets import lambda_code_root
from ._iam import ScopedRole
from ._kms import allow_cloudwatch_logs
from ._logs import RETENTION_BY_DAYS, retention
from ._rollout_definition import RolloutDefaults, build_definition
from ._validation import ValidationProblems, is_token
from .compliance import acknowledge
from .rollout_cli import TAG_BASELINE, TAG_CANARY, TAG_ENDPOINT

__all__ = ["CanaryRollout", "IEndpointRef", "InstanceScaling"]

#: SageMaker production variant names.
VARIANT_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
STATE_MACHINE_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,80}$")
POLICY_KEYS = ("min_canary_invocations", "error_rate", "latency", "alarm_names", "extra_metrics")
_POLICY_SUB_KEYS = {
    "error_rate": ("max_absolute_increase", "alpha", "max_rate"),
    "latency": ("statistic", "max_relative_increase", "alpha"),
}
METRIC_NAMESPACE = "SageMakerConstructs/CanaryRollout"
EVALUATOR_HANDLER = "canary_evaluator.handler.handler"
#: A Standard workflow keeps at most 25,000 history events; one evaluation round (wait,
#: evaluate, choices) takes about a dozen, and the rest of a rollout needs some too.
HISTORY_EVENTS_PER_EVALUATION = 14
HISTORY_EVENT_BUDGET = 20_000
EVALUATOR_RUNTIME = lambda_.Runtime.PYTHON_3_14


@dataclass(frozen=True, kw_only=True)
class InstanceScaling:
    """Instance counts that follow the traffic share during a rollout.

    A variant with ``share`` percent of the traffic gets
    ``max(min_instances, ceil(max_instances * share / 100))`` instances.

    :param max_instances: the instances that serve all traffic.
    :param min_instances: the fewest a variant keeps. Default: 1.
    """

    max_instances: int
    min_instances: int = 1


@runtime_checkable
class IEndpointRef(Protocol):
    """Anything that names a SageMaker endpoint (an ``Endpoint``, an import, a stub)."""

    @property
    def endpoint_name(self) -> str: ...

    @property
    def endpoint_arn(self) -> str: ...


def _seconds(value: cdk.Duration) -> int | None:
    """Whole seconds of ``value``; ``None`` for a token."""
    if is_token(value.to_string()):
        return None
    return int(value.to_seconds())


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class CanaryRollout(Construct):
    """A Step Functions canary rollout between two variants of one SageMaker endpoint.

    :param endpoint: the endpoint (any object with ``endpoint_name`` and ``endpoint_arn``).
    :param baseline_variant: variant serving the current model (gets ``100 - percent``).
    :param canary_variant: variant serving the new model (gets ``percent``).
    :param vpc: VPC of the evaluator Lambda (it needs a route to CloudWatch: the
        ``monitoring`` interface endpoint or NAT).
    :param vpc_subnets: subnets of the evaluator. Default: the VPC's private subnets.
    :param security_groups: security groups of the evaluator. Default: a new group that
        allows all outbound traffic and no inbound traffic.
    :param steps: canary percentages, integers 1-100, strictly increasing, ending at 100, at
        least one below 100. Default: ``[5, 25, 50, 100]``.
    :param bake_time: how long each step is observed before it may pass. Default: 10 minutes.
    :param interval: time between evaluations (at least 60 s: SageMaker publishes per-minute
        metrics). Default: 60 seconds. Executions may pass a shorter ``interval_seconds``.
    :param max_extensions: how many extra ``interval`` s a step whose verdict is still
        INCONCLUSIVE at the end of the bake may take before it is rolled back. Default: 5.
    :param poll_interval: time between DescribeEndpoint polls while waiting for
        ``InService``. Default: 30 seconds.
    :param max_polls: polls before waiting for ``InService`` gives up (-> rollback).
        Default: 60 (30 minutes at the default poll interval).
    :param policy: the evaluator's policy, passed as is (keys ``min_canary_invocations``,
        ``error_rate``, ``latency``, ``alarm_names``, ``extra_metrics``; see the evaluator).
        Default: ``{}`` (the evaluator's defaults).
    :param alarms: CloudWatch alarms that FAIL the canary while in ALARM (added to
        ``policy.alarm_names``; the evaluator may describe exactly these). Default: none.
    :param approval_steps: percentages (among ``steps``) before which a person must approve
        (task token published to the topic). Default: none.
    :param approval_timeout: how long an approval may take before the rollout rolls back.
        Default: 24 hours.
    :param instance_scaling: scale each variant's instance count with its traffic share at
        every step (``UpdateEndpointWeightsAndCapacities`` sets both): the canary fleet grows
        as it takes traffic and the baseline's shrinks, down to ``min_instances`` after the
        promotion; a rollback restores ``max_instances`` on the baseline. Do not combine with
        autoscaling on the same variants. Default: instance counts are left alone.
    :param evaluator_reserved_concurrency: concurrency reserved for the evaluator, so a busy
        account cannot starve a rollout of its judge. Accounts whose concurrency limit is 10
        (new accounts) cannot reserve any: pass ``None`` there. Default: 5.
    :param topic: SNS topic for notifications, approvals and alarms. Default: a new topic
        encrypted with ``encryption_key`` that enforces TLS.
    :param encryption_key: KMS key of the created topic and log groups. Default: a new key
        with rotation (an imported key must already allow CloudWatch Logs and alarms).
    :param log_retention_days: retention of the log groups. Default: 365.
    :param removal_policy: what happens to the created key and log groups (the audit trail
        of every rollout) when the construct is removed. Default: ``RETAIN``.
    :param state_machine_name: physical name of the state machine. Default: derived from the
        construct path (deterministic, so the state machine can refer to its own ARN).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoint: IEndpointRef,
        baseline_variant: str,
        canary_variant: str,
        vpc: ec2.IVpc,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
        steps: Sequence[int] = (5, 25, 50, 100),
        bake_time: cdk.Duration | None = None,
        interval: cdk.Duration | None = None,
        max_extensions: int = 5,
        poll_interval: cdk.Duration | None = None,
        max_polls: int = 60,
        policy: Mapping[str, Any] | None = None,
        alarms: Sequence[cloudwatch.IAlarm] = (),
        approval_steps: Sequence[int] = (),
        approval_timeout: cdk.Duration | None = None,
        topic: sns.ITopic | None = None,
        encryption_key: kms.IKey | None = None,
        log_retention_days: int = 365,
        state_machine_name: str | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        instance_scaling: InstanceScaling | None = None,
        evaluator_reserved_concurrency: int | None = 5,
    ) -> None:
        super().__init__(scope, id)
        bake_time = bake_time or cdk.Duration.minutes(10)
        interval = interval or cdk.Duration.seconds(60)
        poll_interval = poll_interval or cdk.Duration.seconds(30)
        approval_timeout = approval_timeout or cdk.Duration.hours(24)
        policy = dict(policy or {})
        steps = list(steps)
        approval_steps = list(approval_steps)

        _validate(
            ValidationProblems("CanaryRollout", id),
            endpoint=endpoint,
            baseline_variant=baseline_variant,
            canary_variant=canary_variant,
            steps=steps,
            bake_time=bake_time,
            interval=interval,
            max_extensions=max_extensions,
            poll_interval=poll_interval,
            max_polls=max_polls,
            policy=policy,
            approval_steps=approval_steps,
            approval_timeout=approval_timeout,
            log_retention_days=log_retention_days,
            state_machine_name=state_machine_name,
            instance_scaling=instance_scaling,
        )

        stack = cdk.Stack.of(self)
        self.endpoint = endpoint
        self.baseline_variant = baseline_variant
        self.canary_variant = canary_variant
        self.steps = steps

        # -- encryption, notifications -------------------------------------------------------
        if encryption_key is None:
            key = kms.Key(
                self,
                "Key",
                enable_key_rotation=True,
                description=f"Canary rollout {self.node.path}: topic and log groups",
                removal_policy=removal_policy,
            )
            allow_cloudwatch_logs(key)
            key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AllowCloudWatchAlarmsToPublish",
                    principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=["*"],
                    conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
                )
            )
            self.encryption_key: kms.IKey = key
        else:
            self.encryption_key = encryption_key
        topic_key: kms.IKey | None
        if topic is None:
            created = sns.Topic(
                self,
                "Topic",
                display_name="Canary rollout",
                master_key=self.encryption_key,
                enforce_ssl=True,
            )
            self.topic: sns.ITopic = created
            topic_key = self.encryption_key
        else:
            self.topic = topic
            topic_key = getattr(topic, "master_key", None)

        # -- evaluator Lambda ---------------------------------------------------------------
        evaluator_role = ScopedRole(
            self,
            "EvaluatorRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"canary evaluator of {self.node.path}",
        )
        self.evaluator_log_group = logs.LogGroup(
            self,
            "EvaluatorLogs",
            encryption_key=self.encryption_key,
            retention=retention(log_retention_days),
            removal_policy=removal_policy,
        )
        self.evaluator = lambda_.Function(
            self,
            "Evaluator",
            description=f"Judges the canary of endpoint rollout {self.node.path}",
            runtime=EVALUATOR_RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=EVALUATOR_HANDLER,
            code=lambda_.Code.from_asset(
                str(lambda_code_root()), exclude=["__pycache__", "**/__pycache__", "*.pyc"]
            ),
            role=evaluator_role.immutable_role,
            timeout=cdk.Duration.seconds(60),
            memory_size=256,
            reserved_concurrent_executions=evaluator_reserved_concurrency,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.evaluator_log_group,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=list(security_groups) if security_groups is not None else None,
        )
        self.evaluator.node.add_dependency(evaluator_role.policy)
        for rule in (
            "HIPAA.Security::HIPAA.Security-LambdaDLQ",
            "NIST.800.53.R5::NIST.800.53.R5-LambdaDLQ",
        ):
            acknowledge(
                self.evaluator,
                rule,
                "The evaluator is only invoked synchronously by the rollout state machine "
                "(lambda:invoke, RequestResponse), which retries and then rolls back; a "
                "dead-letter queue only receives failed asynchronous invocations.",
            )
        alarm_names = [a.alarm_name for a in alarms]
        policy_alarms = [n for n in policy.get("alarm_names", []) if isinstance(n, str)]
        if alarm_names:
            policy["alarm_names"] = [*policy_alarms, *alarm_names]
        evaluator_role.add_statements(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                # the log group's Arn attribute ends with ":*" and so covers its streams
                resources=[self.evaluator_log_group.log_group_arn],
            ),
            iam.PolicyStatement(
                sid="ReadMetrics",
                actions=["cloudwatch:GetMetricData"],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="XRayAndVpcNetworkInterfaces",
                actions=[
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                    "ec2:CreateNetworkInterface",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeSubnets",
                    "ec2:DeleteNetworkInterface",
                    "ec2:AssignPrivateIpAddresses",
                    "ec2:UnassignPrivateIpAddresses",
                ],
                resources=["*"],
            ),
        )
        watched = [*policy_alarms, *alarm_names]
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
        acknowledge(
            evaluator_role.policy,
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            "cloudwatch:GetMetricData, the X-Ray trace actions and the Lambda VPC network "
            "interface actions support no resource-level permissions, so their resource is '*'; "
            "every other statement names its resource.",
        )

        # -- state machine ------------------------------------------------------------------
        name = state_machine_name or cdk.Names.unique_resource_name(
            self, max_length=80, separator="-"
        )
        self.state_machine_name = name
        self.state_machine_arn = stack.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=name,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            encryption_key=self.encryption_key,
            retention=retention(log_retention_days),
            removal_policy=removal_policy,
        )
        role = ScopedRole(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description=f"canary rollout state machine {name}",
        )
        role.add_statements(
            iam.PolicyStatement(
                sid="ShiftTraffic",
                actions=[
                    "sagemaker:UpdateEndpointWeightsAndCapacities",
                    "sagemaker:DescribeEndpoint",
                ],
                resources=[endpoint.endpoint_arn],
            ),
            iam.PolicyStatement(
                sid="InvokeEvaluator",
                actions=["lambda:InvokeFunction"],
                resources=[self.evaluator.function_arn],
            ),
            iam.PolicyStatement(
                sid="Notify", actions=["sns:Publish"], resources=[self.topic.topic_arn]
            ),
            iam.PolicyStatement(
                sid="OneRolloutAtATime",
                actions=["states:ListExecutions"],
                resources=[self.state_machine_arn],
            ),
            iam.PolicyStatement(
                sid="LogDeliveryAndXRay",
                actions=[
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
                resources=["*"],
            ),
        )
        if topic_key is not None:
            role.add_statements(
                iam.PolicyStatement(
                    sid="EncryptNotifications",
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=[topic_key.key_arn],
                )
            )
        acknowledge(
            role.policy,
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            "CloudWatch Logs vended log delivery (logs:*LogDelivery, resource policies) and the "
            "X-Ray trace actions support no resource-level permissions, so their resource is "
            "'*'; every other statement names its resource.",
        )
        defaults = RolloutDefaults(
            steps=steps,
            bake_seconds=_seconds(bake_time) or 600,
            interval_seconds=_seconds(interval) or 60,
            max_extensions=max_extensions,
            poll_seconds=_seconds(poll_interval) or 30,
            max_polls=max_polls,
            policy=policy,
        )
        definition = build_definition(
            endpoint_name=endpoint.endpoint_name,
            baseline_variant=baseline_variant,
            canary_variant=canary_variant,
            evaluator_arn=self.evaluator.function_arn,
            topic_arn=self.topic.topic_arn,
            state_machine_arn=self.state_machine_arn,
            defaults=defaults,
            approval_steps=approval_steps,
            approval_timeout_seconds=_seconds(approval_timeout) or 86400,
            instance_scaling=(
                (instance_scaling.min_instances, instance_scaling.max_instances)
                if instance_scaling
                else None
            ),
        )
        self.state_machine = sfn.StateMachine(
            self,
            "Resource",
            state_machine_name=name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(stack.to_json_string(definition)),
            role=role.immutable_role,
            logs=sfn.LogOptions(
                destination=self.log_group,
                level=sfn.LogLevel.ALL,
                include_execution_data=True,
            ),
            tracing_enabled=True,
        )
        self.state_machine.node.add_dependency(role.policy)
        self._role = role
        # The command line (``sagemaker-rollout``) finds a rollout's endpoint by these tags.
        tags = cdk.Tags.of(self.state_machine)
        tags.add(TAG_ENDPOINT, endpoint.endpoint_name)
        tags.add(TAG_BASELINE, baseline_variant)
        tags.add(TAG_CANARY, canary_variant)
        self._endpoint = endpoint
        self._baseline_variant = baseline_variant
        self._canary_variant = canary_variant

        # -- alarms and dashboard -----------------------------------------------------------
        self._rollback_failed_metric_name = f"RollbackFailed-{name}"
        logs.MetricFilter(
            self,
            "RollbackFailedFilter",
            log_group=self.log_group,
            metric_namespace=METRIC_NAMESPACE,
            metric_name=self._rollback_failed_metric_name,
            filter_pattern=logs.FilterPattern.all(
                logs.FilterPattern.string_value("$.type", "=", "ExecutionFailed"),
                logs.FilterPattern.string_value("$.details.error", "=", "RollbackFailed"),
            ),
            metric_value="1",
        )
        alarm_action = cw_actions.SnsAction(self.topic)
        self.executions_failed_alarm = cloudwatch.Alarm(
            self,
            "ExecutionsFailedAlarm",
            alarm_description=(
                f"Canary rollout {name}: an execution failed (rolled back, invalid input, "
                "or rollback failed). See the execution's error and cause."
            ),
            metric=self.metric_executions_failed(),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.rollback_failed_alarm = cloudwatch.Alarm(
            self,
            "RollbackFailedAlarm",
            alarm_description=(
                f"CRITICAL: canary rollout {name} could not return traffic to the baseline "
                f"variant {baseline_variant}. Check endpoint {endpoint.endpoint_name} now."
            ),
            metric=self.metric_rollback_failed(),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        for alarm in (self.executions_failed_alarm, self.rollback_failed_alarm):
            alarm.add_alarm_action(alarm_action)
            alarm.add_ok_action(alarm_action)
        self.alarms: list[cloudwatch.Alarm] = [
            self.executions_failed_alarm,
            self.rollback_failed_alarm,
        ]
        self.dashboard = self._dashboard()

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

    def grant_start_execution(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to start rollouts (``states:StartExecution``)."""
        return self.state_machine.grant_start_execution(grantee)

    def grant_approve(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to approve or reject steps (SendTaskSuccess/Failure/Heartbeat)."""
        return self.state_machine.grant_task_response(grantee)

    @property
    def executions_arn(self) -> str:
        """The ARN pattern of this state machine's executions."""
        return cdk.Stack.of(self).format_arn(
            service="states",
            resource="execution",
            resource_name=f"{self.state_machine_name}:*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )

    def grant_operate(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` everything ``sagemaker-rollout`` does with ``--state-machine``.

        Start, watch (describe, history, tags, endpoint weights), approve and reject, and
        abort (stop the execution and put all traffic back on the baseline variant). The
        execution ARNs are ``<state machine>:*``, named at start time.
        """
        grant = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[
                "states:StartExecution",
                "states:DescribeStateMachine",
                "states:ListExecutions",
                "states:ListTagsForResource",
                "states:SendTaskSuccess",
                "states:SendTaskFailure",
            ],
            resource_arns=[self.state_machine_arn],
        )
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[
                "states:DescribeExecution",
                "states:GetExecutionHistory",
                "states:StopExecution",
            ],
            resource_arns=[self.executions_arn],
        )
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities"],
            resource_arns=[self._endpoint.endpoint_arn],
        )
        return grant

    def metric_executions_failed(self, *, period: cdk.Duration | None = None) -> cloudwatch.Metric:
        """Failed executions (rolled back or not). Default: Sum over 1 minute."""
        return self.state_machine.metric_failed(
            period=period or cdk.Duration.minutes(1), statistic="Sum"
        )

    def metric_executions_succeeded(
        self, *, period: cdk.Duration | None = None
    ) -> cloudwatch.Metric:
        """Completed rollouts. Default: Sum over 1 minute."""
        return self.state_machine.metric_succeeded(
            period=period or cdk.Duration.minutes(1), statistic="Sum"
        )

    def metric_executions_started(self, *, period: cdk.Duration | None = None) -> cloudwatch.Metric:
        """Started rollouts. Default: Sum over 1 minute."""
        return self.state_machine.metric_started(
            period=period or cdk.Duration.minutes(1), statistic="Sum"
        )

    def metric_rollback_failed(self, *, period: cdk.Duration | None = None) -> cloudwatch.Metric:
        """Executions that ended in ``RollbackFailed`` (from the execution log).

        Default: Sum over 1 minute.
        """
        return cloudwatch.Metric(
            namespace=METRIC_NAMESPACE,
            metric_name=self._rollback_failed_metric_name,
            statistic="Sum",
            period=period or cdk.Duration.minutes(1),
        )

    def metric_variant(
        self,
        metric_name: str,
        variant: str,
        *,
        statistic: str = "Sum",
        period: cdk.Duration | None = None,
    ) -> cloudwatch.Metric:
        """A SageMaker endpoint metric of one variant. Default: Sum over 1 minute."""
        return cloudwatch.Metric(
            namespace="AWS/SageMaker",
            metric_name=metric_name,
            dimensions_map={
                "EndpointName": self.endpoint.endpoint_name,
                "VariantName": variant,
            },
            statistic=statistic,
            period=period or cdk.Duration.minutes(1),
            label=variant,
        )

    def _dashboard(self) -> cloudwatch.Dashboard:
        variants = (self.baseline_variant, self.canary_variant)

        def graph(title: str, metric_name: str, statistic: str) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(
                title=title,
                left=[self.metric_variant(metric_name, v, statistic=statistic) for v in variants],
                width=6,
            )

        dashboard = cloudwatch.Dashboard(self, "Dashboard")
        dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=(
                    f"## Canary rollout of `{self.endpoint.endpoint_name}`\n"
                    f"baseline `{self.baseline_variant}` vs canary `{self.canary_variant}`; "
                    f"steps {self.steps} %"
                ),
                width=24,
                height=2,
            )
        )
        dashboard.add_widgets(
            graph("Invocations (Sum)", "Invocations", "Sum"),
            graph("5XX errors (Sum)", "Invocation5XXErrors", "Sum"),
            graph("4XX errors (Sum)", "Invocation4XXErrors", "Sum"),
            graph("Model latency (p99, microseconds)", "ModelLatency", "p99"),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Rollout executions",
                left=[
                    self.metric_executions_started(),
                    self.metric_executions_succeeded(),
                    self.metric_executions_failed(),
                    self.metric_rollback_failed(),
                ],
                width=12,
            ),
            cloudwatch.AlarmStatusWidget(
                title="Rollout alarms", alarms=list(self.alarms), width=12
            ),
        )
        return dashboard


def _validate(
    problems: ValidationProblems,
    *,
    endpoint: object,
    baseline_variant: str,
    canary_variant: str,
    steps: list[Any],
    bake_time: cdk.Duration,
    interval: cdk.Duration,
    max_extensions: int,
    poll_interval: cdk.Duration,
    max_polls: int,
    policy: dict[str, Any],
    approval_steps: list[Any],
    approval_timeout: cdk.Duration,
    log_retention_days: int,
    state_machine_name: str | None,
    instance_scaling: InstanceScaling | None = None,
) -> None:
    """Collect every problem of the arguments, then raise one ValueError."""
    if instance_scaling is not None:
        problems.check(
            _is_int(instance_scaling.min_instances) and instance_scaling.min_instances >= 1,
            "instance_scaling.min_instances",
            instance_scaling.min_instances,
            "must be an integer of at least 1 (a real-time variant keeps one instance)",
            "pass min_instances=1 or more",
        )
        problems.check(
            _is_int(instance_scaling.max_instances)
            and _is_int(instance_scaling.min_instances)
            and instance_scaling.max_instances >= max(1, instance_scaling.min_instances),
            "instance_scaling.max_instances",
            instance_scaling.max_instances,
            "must be an integer of at least min_instances",
            "pass the instance count that serves all traffic",
        )
    if not isinstance(endpoint, IEndpointRef):
        problems.add(
            "endpoint",
            endpoint,
            "must have endpoint_name and endpoint_arn attributes",
            "pass an Endpoint or an object with endpoint_name and endpoint_arn",
        )
    known = getattr(endpoint, "variant_names", None)  # an Endpoint knows its variants
    if isinstance(known, list) and not is_token(known):
        for argument, variant in (
            ("baseline_variant", baseline_variant),
            ("canary_variant", canary_variant),
        ):
            problems.check(
                variant in known,
                argument,
                variant,
                f"must be a variant of the endpoint ({', '.join(known)})",
                "name one of the endpoint's production variants",
            )
    for argument, variant in (
        ("baseline_variant", baseline_variant),
        ("canary_variant", canary_variant),
    ):
        problems.check_name(argument, variant, pattern=VARIANT_NAME_PATTERN)
    if baseline_variant == canary_variant and not is_token(baseline_variant):
        problems.add(
            "canary_variant",
            canary_variant,
            "must differ from baseline_variant",
            "name the variant that serves the new model",
        )
    _validate_steps(problems, steps)
    bake = _seconds(bake_time)
    every = _seconds(interval)
    problems.check_range("interval", every, minimum=60, maximum=3600, unit="seconds")
    problems.check_range("bake_time", bake, minimum=60, maximum=7 * 86400, unit="seconds")
    if bake is not None and every is not None and bake < every:
        problems.add(
            "bake_time",
            f"{bake} seconds",
            f"must be at least the interval ({every} seconds)",
            "lengthen bake_time or shorten interval",
        )
    if (
        bake is not None
        and every is not None
        and every > 0
        and _is_int(max_extensions)
        and isinstance(steps, list)
    ):
        evaluations = (bake // every + max_extensions) * max(1, len(steps))
        if evaluations * HISTORY_EVENTS_PER_EVALUATION > HISTORY_EVENT_BUDGET:
            problems.add(
                "bake_time",
                f"{bake} seconds",
                f"with interval {every} s, max_extensions {max_extensions} and {len(steps)} "
                f"steps a rollout could need {evaluations} evaluations, more than a Standard "
                "workflow's 25,000-event history holds "
                f"(at most {HISTORY_EVENT_BUDGET // HISTORY_EVENTS_PER_EVALUATION})",
                "shorten bake_time, lengthen interval, or use fewer steps or extensions",
            )
    poll = _seconds(poll_interval)
    problems.check_range("poll_interval", poll, minimum=1, maximum=3600, unit="seconds")
    for argument, number, low, high in (
        ("max_extensions", max_extensions, 0, 1000),
        ("max_polls", max_polls, 1, 10000),
    ):
        if not _is_int(number):
            problems.add(argument, number, "must be an integer", "pass a whole number")
        else:
            problems.check_range(argument, number, minimum=low, maximum=high)
    problems.check_range(
        "approval_timeout",
        _seconds(approval_timeout),
        minimum=60,
        maximum=365 * 86400,
        unit="seconds",
    )
    if len(set(map(repr, approval_steps))) != len(approval_steps) or any(
        s not in steps for s in approval_steps
    ):
        problems.add(
            "approval_steps",
            approval_steps,
            f"must be distinct percentages among steps {steps}",
            "list only percentages that are in steps",
        )
    if log_retention_days not in RETENTION_BY_DAYS:
        problems.add(
            "log_retention_days",
            log_retention_days,
            "must be a CloudWatch Logs retention value",
            f"choose one of {', '.join(str(d) for d in RETENTION_BY_DAYS)}",
        )
    if (
        state_machine_name is not None
        and not is_token(state_machine_name)
        and not STATE_MACHINE_NAME_PATTERN.match(state_machine_name)
    ):
        problems.add(
            "state_machine_name",
            state_machine_name,
            "must be 1-80 characters of letters, digits, '-' and '_'",
            "shorten it or remove other characters",
        )
    _validate_policy(problems, policy)
    problems.raise_if_any()


def _validate_steps(problems: ValidationProblems, steps: list[Any]) -> None:
    rule = (
        "must be at least 2 integer percentages between 1 and 100, strictly increasing, "
        "ending at 100"
    )
    fix = "pass for example [5, 25, 50, 100]"
    if len(steps) < 2:
        problems.add("steps", steps, rule, fix)
        return
    if not all(_is_int(s) and 1 <= s <= 100 for s in steps):
        problems.add("steps", steps, rule + " (every item an integer 1-100)", fix)
        return
    if any(b <= a for a, b in itertools.pairwise(steps)):
        problems.add("steps", steps, rule + " (strictly increasing)", fix)
    if steps[-1] != 100:
        problems.add("steps", steps, rule + " (the last step must be 100)", fix)


def _validate_policy(problems: ValidationProblems, policy: dict[str, Any]) -> None:
    if is_token(policy):
        return
    for key in policy:
        if key not in POLICY_KEYS:
            problems.add(
                f"policy[{key!r}]",
                policy[key],
                f"is not a policy key ({', '.join(POLICY_KEYS)})",
                "remove or rename the key",
            )
    minimum = policy.get("min_canary_invocations")
    if minimum is not None and (not _is_int(minimum) or minimum < 1):
        problems.add(
            "policy['min_canary_invocations']",
            minimum,
            "must be an integer >= 1",
            "pass a whole number of invocations",
        )
    for key, sub_keys in _POLICY_SUB_KEYS.items():
        section = policy.get(key)
        if section is None:
            continue
        if not isinstance(section, Mapping):
            problems.add(f"policy[{key!r}]", section, "must be an object", "pass a dict")
            continue
        for sub, value in section.items():
            where = f"policy[{key!r}][{sub!r}]"
            if sub not in sub_keys:
                problems.add(
                    where, value, f"is not a key of {key} ({', '.join(sub_keys)})", "remove it"
                )
            elif sub == "statistic":
                if not isinstance(value, str) or not value:
                    problems.add(where, value, "must be a CloudWatch statistic", "e.g. 'p99'")
            elif not _is_number(value) or value < 0:
                problems.add(where, value, "must be a number >= 0", "pass a number")
    names = policy.get("alarm_names")
    if names is not None and (
        not isinstance(names, list | tuple) or not all(isinstance(n, str) and n for n in names)
    ):
        problems.add(
            "policy['alarm_names']",
            names,
            "must be a list of alarm names",
            "pass names, or use the alarms argument",
        )
    extra = policy.get("extra_metrics")
    if extra is not None and (
        not isinstance(extra, list | tuple) or not all(isinstance(m, Mapping) for m in extra)
    ):
        problems.add(
            "policy['extra_metrics']",
            extra,
            "must be a list of metric objects",
            "pass dicts with namespace, name, dimensions, statistic, direction, tolerance",
        )
