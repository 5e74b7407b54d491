"""``ShadowEvaluation``: judge an endpoint's shadow variant against its production variant.

A shadow variant (``ShadowProductionVariants`` of the endpoint configuration) receives copies
of a share of the production variant's requests; SageMaker returns only the production
variant's answers, so the shadow serves nobody (SageMaker Developer Guide, "Shadow tests").
This construct asks the canary rollout's evaluator Lambda, with the same policy, whether the
shadow variant is as healthy as the production variant, every ``interval`` for ``bake_time``,
and moves no traffic at all:

- FAIL -> the execution ends at once and FAILS with error ``ShadowFailed`` and a cause that
  names the failed checks;
- PASS at the end of ``bake_time`` -> the execution SUCCEEDS; its output holds the verdict,
  the evaluator's reasons and checks;
- INCONCLUSIVE at the end of ``bake_time`` (too little shadow traffic) -> the bake is
  extended by one ``interval`` at a time, at most ``max_extensions`` times, then the execution
  FAILS with ``ShadowInconclusive`` (missing data is never a pass).

A verdict other than PASS fails the execution so that a pipeline step (CodePipeline's Step
Functions action) or a script can gate on the execution's status alone; every verdict is also
published (``SHADOW_EVALUATION_VERDICT``, in the rollout's message format) to the topic.

The evaluator compares the shadow variant (its ``canary_variant``) with the production
variant (its ``baseline_variant``) over the same whole minutes, from the moment both variants
are listed by DescribeEndpoint. The shadow receives only its sampling share of the requests,
so ``policy.min_canary_invocations`` counts the shadow's copies: sample enough (or bake long
enough) to reach it. SageMaker publishes the shadow variant's metrics under its own
``VariantName`` (the shadow test's dashboard compares the two variants' ``Invocations``,
``ModelLatency``, ``Invocation4XXErrors`` and ``Invocation5XXErrors``).

Why no lock (unlike ``CanaryRollout``): the state machine's only SageMaker call is
``DescribeEndpoint``; it changes nothing, so two evaluations (or an evaluation during a
rollout) cannot undo each other, and a stopped evaluation leaves nothing to restore (no
guard). Its role can call nothing else: the evaluator, DescribeEndpoint and the topic.

Execution input (every key optional; ``{}`` runs the construct's defaults)::

    {"bake_seconds": 3600, "interval_seconds": 120, "max_extensions": 10,
     "policy": {"min_canary_invocations": 500}}

``policy`` is merged over the construct's policy key by key (top-level keys). The evaluator
checks the input first (unknown keys, types, ranges, policy, worst-case history: error
``InvalidInput`` listing every problem).

.. code-block:: python

    shadow = ShadowEvaluation(
        self, "ShadowCheck",
        endpoint=endpoint, production_variant="Current", shadow_variant="Candidate",
        vpc=vpc, bake_time=Duration.hours(1),
    )
    shadow.grant_run(pipeline_role)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from ..._types import checked
from ..._validation import ValidationProblems
from ..contract import TAG_PRODUCTION_VARIANT, TAG_SHADOW_ENDPOINT, TAG_SHADOW_VARIANT
from ..evaluator import add_evaluator
from ..machine import (
    StateMachineConstruct,
    logged_state_machine,
    new_key,
    notification_topic,
    state_machine_role,
)
from ..observability import executions_failed_alarm, notify_topic
from ..props import IEndpointRef
from ..validation import seconds
from .definition import ShadowBindings, ShadowDefaults, build_shadow_definition
from .validation import validate_shadow_evaluation

__all__ = ["ShadowEvaluation"]


@jsii.implements(iam.IGrantable)
class ShadowEvaluation(StateMachineConstruct):
    """A Step Functions evaluation of an endpoint's shadow variant; it moves no traffic.

    :param endpoint: the endpoint (any object with ``endpoint_name`` and ``endpoint_arn``; an
        ``Endpoint`` with ``shadow_variants`` has its variants checked at synth time).
    :param production_variant: the variant that serves the callers (the evaluator's baseline).
    :param shadow_variant: the shadow variant that receives the copies (the evaluator's
        canary).
    :param vpc: VPC of the evaluator Lambda. It needs CloudWatch (the ``monitoring`` interface
        endpoint); the group created by default reaches nothing else.
    :param vpc_subnets: subnets of the evaluator. Default: the VPC's private subnets.
    :param security_groups: security groups of the evaluator. Default: a new group that allows
        no inbound traffic and outbound HTTPS only to the VPC's CIDR block (its interface
        endpoints; the VPC needs a known CIDR block, a token is fine).
    :param bake_time: how long the shadow is observed before it may pass. Default: 30 minutes
        (a shadow receives only its sampling share of the requests).
    :param interval: time between evaluations (at least 60 s: SageMaker publishes per-minute
        metrics). Default: 60 seconds. Executions may pass a shorter ``interval_seconds``.
    :param max_extensions: how many extra ``interval`` s an evaluation whose verdict is still
        INCONCLUSIVE at the end of the bake may take before it ends INCONCLUSIVE. Default: 5.
    :param poll_interval: time between DescribeEndpoint polls while waiting for ``InService``.
        Default: 30 seconds.
    :param max_polls: polls before waiting for ``InService`` gives up (``ShadowNotReady``).
        Default: 60 (30 minutes at the default poll interval).
    :param policy: the evaluator's policy, passed as is (keys ``min_canary_invocations``,
        ``error_rate``, ``latency``, ``alarm_names``, ``extra_metrics``; see the evaluator).
        Default: ``{}`` (the evaluator's defaults).
    :param alarms: CloudWatch alarms that FAIL the shadow while in ALARM (added to
        ``policy.alarm_names``; the evaluator may describe exactly these). Default: none.
    :param composite_alarms: composite CloudWatch alarms that FAIL the shadow while in ALARM
        (the evaluator then gets ``cloudwatch:DescribeAlarms`` on ``*``, which composite alarms
        need). Default: none.
    :param evaluator_reserved_concurrency: concurrency reserved for the evaluator; ``None``
        where the account cannot reserve any (a concurrency limit of 10). Default: 5.
    :param topic: SNS topic for the notifications and the alarm. Default: a new topic
        encrypted with ``encryption_key`` that enforces TLS.
    :param encryption_key: KMS key of the created topic, the log groups and the execution
        data. Default: a new key with rotation (an imported key must already allow CloudWatch
        Logs and alarms).
    :param log_retention_days: retention of the log groups. Default: 365.
    :param removal_policy: what happens to the created key and log groups when the construct
        is removed. Default: ``RETAIN``.
    :param state_machine_name: physical name of the state machine. Default: derived from the
        construct path.
    """

    @checked
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoint: IEndpointRef,
        production_variant: str,
        shadow_variant: str,
        vpc: ec2.IVpc,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
        bake_time: cdk.Duration | None = None,
        interval: cdk.Duration | None = None,
        max_extensions: int = 5,
        poll_interval: cdk.Duration | None = None,
        max_polls: int = 60,
        policy: Mapping[str, Any] | None = None,
        alarms: Sequence[cloudwatch.IAlarm] = (),
        composite_alarms: Sequence[cloudwatch.IAlarm] = (),
        evaluator_reserved_concurrency: int | None = 5,
        topic: sns.ITopic | None = None,
        encryption_key: kms.IKey | None = None,
        log_retention_days: int = 365,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        state_machine_name: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        bake_time = bake_time or cdk.Duration.minutes(30)
        interval = interval or cdk.Duration.seconds(60)
        poll_interval = poll_interval or cdk.Duration.seconds(30)
        policy = dict(policy or {})
        validate_shadow_evaluation(
            ValidationProblems("ShadowEvaluation", id),
            endpoint=endpoint,
            production_variant=production_variant,
            shadow_variant=shadow_variant,
            bake_time=bake_time,
            interval=interval,
            max_extensions=max_extensions,
            poll_interval=poll_interval,
            max_polls=max_polls,
            policy=policy,
            log_retention_days=log_retention_days,
            state_machine_name=state_machine_name,
            evaluator_reserved_concurrency=evaluator_reserved_concurrency,
            vpc=vpc,
            security_groups=security_groups,
        )
        self.endpoint = endpoint
        self.production_variant = production_variant
        self.shadow_variant = shadow_variant
        self.encryption_key = encryption_key or new_key(
            self,
            description=f"Shadow evaluation {self.node.path}: topic, log groups, executions",
            removal_policy=removal_policy,
        )
        self.topic, topic_key = notification_topic(
            self, topic, key=self.encryption_key, display_name="Shadow evaluation"
        )
        evaluator = add_evaluator(
            self,
            policy=policy,
            alarms=alarms,
            composite_alarms=composite_alarms,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=security_groups,
            encryption_key=self.encryption_key,
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
            reserved_concurrency=evaluator_reserved_concurrency,
            role_description=f"shadow evaluator of {self.node.path}",
            function_description=(
                f"Judges the shadow variant of endpoint evaluation {self.node.path}"
            ),
            caller=(
                "the shadow evaluation's state machine (lambda:invoke, RequestResponse), "
                "which retries and then fails the evaluation"
            ),
        )
        #: The evaluator Lambda (the rollout's code) and its log group.
        self.evaluator = evaluator.function
        self.evaluator_log_group = evaluator.log_group
        self._name_and_logs(state_machine_name, log_retention_days, removal_policy)
        definition = build_shadow_definition(
            ShadowBindings(
                endpoint_name=endpoint.endpoint_name,
                endpoint_arn=endpoint.endpoint_arn,
                production_variant=production_variant,
                shadow_variant=shadow_variant,
                evaluator_arn=self.evaluator.function_arn,
                topic_arn=self.topic.topic_arn,
                state_machine_arn=self.state_machine_arn,
                executions_arn=self.executions_arn,
            ),
            defaults=ShadowDefaults(
                bake_seconds=seconds(bake_time) or 1800,
                interval_seconds=seconds(interval) or 60,
                max_extensions=max_extensions,
                poll_seconds=seconds(poll_interval) or 30,
                max_polls=max_polls,
                policy=evaluator.policy,
            ),
        )
        self._role = state_machine_role(
            self,
            definition,
            description=f"shadow evaluation state machine {self.state_machine_name}",
            encryption_key=self.encryption_key,
            state_machine_arn=self.state_machine_arn,
            topic_key=topic_key,
        )
        self.state_machine = logged_state_machine(
            self,
            name=self.state_machine_name,
            definition=definition.asl,
            role=self._role,
            log_group=self.log_group,
            encryption_key=self.encryption_key,
        )
        tags = cdk.Tags.of(self.state_machine)
        tags.add(TAG_SHADOW_ENDPOINT, endpoint.endpoint_name)
        tags.add(TAG_PRODUCTION_VARIANT, production_variant)
        tags.add(TAG_SHADOW_VARIANT, shadow_variant)
        self.executions_failed_alarm = self._alarm()
        #: The alarms of the evaluation itself (they notify the topic).
        self.alarms = [self.executions_failed_alarm]

    def _alarm(self) -> cloudwatch.Alarm:
        """ALARM (and OK) on the topic when an execution fails: a FAIL or INCONCLUSIVE verdict,
        an invalid input, an endpoint not ready or an evaluator that could not run."""
        alarm = executions_failed_alarm(
            self,
            self.metric_executions_failed(),
            f"Shadow evaluation {self.state_machine_name}: an execution failed (shadow FAILED "
            "or INCONCLUSIVE, invalid input, endpoint not ready, or the evaluator could not "
            "run). See the execution's error and cause.",
        )
        notify_topic(self.topic, alarm)
        return alarm

    # -- public API (besides StateMachineConstruct's) -----------------------------------------

    @checked
    def grant_run(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to run evaluations and read their verdicts: what
        ``sagemaker-rollout shadow --state-machine ... --watch``, ``watch``, ``status`` and
        ``abort`` call (a pipeline step, a script that gates on the verdict, an operator).

        On the state machine: start and list executions, describe it and read its tags (the
        command line tells an evaluation from a rollout by them); on its executions
        (``<state machine>:*``, named at start time): describe, read the history, stop; and
        decrypt their data (encrypted with the evaluation's key, through Step Functions only).
        Returns the combined grant of the three statements.
        """
        machine = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[
                "states:StartExecution",
                "states:ListExecutions",
                "states:DescribeStateMachine",
                "states:ListTagsForResource",
            ],
            resource_arns=[self.state_machine_arn],
        )
        executions = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[
                "states:DescribeExecution",
                "states:GetExecutionHistory",
                "states:StopExecution",
            ],
            resource_arns=[self.executions_arn],
        )
        data = self._grant_read_execution_data(grantee)
        return machine.combine(executions).combine(data)
