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
validated in Python by the evaluator before the lock or any traffic moves (unknown keys,
types, ranges, steps, policy, worst-case history: error ``InvalidInput`` listing every
problem), and a preflight evaluation checks the evaluator's permissions and alarms. One
rollout per endpoint at a time: an execution takes the endpoint's lock in the stack's lock
table (``RolloutLockTable``, one per stack) with a conditional write, and releases it on every
way it ends; another execution fails at once with ``RolloutAlreadyRunning`` (traffic
untouched). The evaluator may only describe the alarms
named at synth time (``alarms``, ``composite_alarms`` and ``policy.alarm_names``); other alarm
names in an execution's policy fail the preflight.
SageMaker throttling and "Cannot update in-progress endpoint" are retried with backoff. A
rollback that cannot be completed ends in error ``RollbackFailed`` with a CRITICAL notification
and alarm.

Capacity before traffic: when the baseline or the canary is autoscaled (an ``Endpoint``
variant with ``VariantAutoscaling``, or ``variant_scaling`` for an imported endpoint), before
each step's weights move the canary gets at least its share of the instances both variants run
now (``ceil(fleet * percent / 100)``): an autoscaled canary's scalable target gets that
``MinCapacity`` (and a ``MaxCapacity`` of at least that) through Application Auto Scaling's
``RegisterScalableTarget``, which keeps its scaling policies; when the canary still runs fewer
instances its ``DesiredInstanceCount`` is set; the weights move only once the endpoint is
``InService`` with the canary at its share (else ``CapacityNotReached`` -> rollback). A
rollback (also the guard's and ``sagemaker-rollout abort``'s) gives the canary its template
instance count and scaling limits back. After the promotion the canary's limits go back to the
template's, and the old baseline's scalable target is deregistered (with its policies) and the
variant gets its template count: it serves nothing, and SageMaker refuses to remove a variant
that is still a scalable target while CloudFormation deletes a removed ``ScalableTarget`` only
after it has updated the endpoint, so this is what lets the deploy that removes the old variant
(README, step 4) succeed in one go. ``instance_scaling`` together with an autoscaled variant is
rejected (``InvalidArgumentsError`` naming both): a fixed table of counts and an autoscaler
would undo each other, and the capacity phases already give the canary its share.

Smoke test and hooks: ``smoke_tests`` are requests sent to the canary variant before it gets
any traffic; ``hooks`` are Lambda functions called at four points (``HookPoint``). Their
contract (event, answer) is ``canary_evaluator/hooks.py``'s; the state machine's side is the
phase ``definition/hooks.py``.

Manual approval (``approval_steps``): before the first step that reaches each listed
percentage, the execution publishes an ``APPROVAL_REQUIRED`` notification to the topic (without
the task token), sends the request with its token to the encrypted queue
``approval_queue``, and waits (``approval_timeout``). Approve with ``sagemaker-rollout approve
<execution-arn>``, reject with ``sagemaker-rollout reject`` (-> rollback); both need
``grant_approve``, which also lets a tool read the queue and answer with ``SendTaskSuccess`` /
``SendTaskFailure``.

.. code-block:: python

    rollout = CanaryRollout(
        self, "Rollout",
        endpoint=endpoint, baseline_variant="Current", canary_variant="Candidate",
        vpc=vpc, alarms=[business_alarm], approval_steps=[50],
    )
    rollout.grant_start_execution(deployer_role)
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
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from .._types import checked
from .._validation import ValidationProblems
from ..compliance import acknowledge, acknowledge_wildcard_resources
from ..roles import ScopedRole
from .contract import (
    METRIC_NAMESPACE,
    TAG_BASELINE,
    TAG_CANARY,
    TAG_CANARY_SCALING,
    TAG_ENDPOINT,
    TAG_INSTANCES,
    TAG_LOCK_TABLE,
)
from .definition import Bindings, Definition, Hook, RolloutDefaults, build_definition
from .evaluator import add_evaluator
from .guard import add_guard
from .hooks import add_smoke_test, hook_bindings, hook_calls, validate_hooks
from .lock_table import RolloutLockTable
from .machine import (
    StateMachineConstruct,
    logged_state_machine,
    new_key,
    notification_topic,
    state_machine_role,
)
from .observability import add_alarms, add_dashboard, add_rollback_failed_filter
from .props import IEndpointRef, InstanceScaling, RolloutHook, SmokeTest, VariantScalingLimits
from .scaling import variant_capacity
from .validation import seconds, validate_rollout

__all__ = ["CanaryRollout"]


@jsii.implements(iam.IGrantable)
class CanaryRollout(StateMachineConstruct):
    """A Step Functions canary rollout between two variants of one SageMaker endpoint.

    :param endpoint: the endpoint (any object with ``endpoint_name`` and ``endpoint_arn``).
    :param baseline_variant: variant serving the current model (gets ``100 - percent``).
    :param canary_variant: variant serving the new model (gets ``percent``).
    :param vpc: VPC of the evaluator and the guard Lambdas. The evaluator needs CloudWatch (the
        ``monitoring`` interface endpoint); the guard the SageMaker API, Step Functions, SNS,
        CloudWatch (interface endpoints) and DynamoDB (a gateway endpoint, with
        ``dynamodb_prefix_list_id``). The groups created by default reach nothing else: a route
        through NAT needs ``security_groups`` of your own.
    :param vpc_subnets: subnets of both Lambdas. Default: the VPC's private subnets.
    :param security_groups: security groups of both Lambdas. Default: a new group each that
        allows no inbound traffic and outbound HTTPS only to the VPC's CIDR block (its interface
        endpoints; the VPC needs a known CIDR block, a token is fine) and, for the guard, to
        DynamoDB's prefix list when ``dynamodb_prefix_list_id`` is given; never 0.0.0.0/0.
    :param dynamodb_prefix_list_id: the id of the region's AWS-managed prefix list for DynamoDB
        (``com.amazonaws.<region>.dynamodb``, ``pl-...``: ``aws ec2
        describe-managed-prefix-lists``), so that the guard's group lets it reach the lock table
        through a DynamoDB gateway endpoint. Default: none (a warning is added: only a DynamoDB
        interface endpoint in the VPC is then reachable).
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
    :param composite_alarms: composite CloudWatch alarms that FAIL the canary while in ALARM.
        ``DescribeAlarms`` returns composite alarms only to a caller allowed on ``*``, so the
        evaluator gets ``cloudwatch:DescribeAlarms`` on ``*`` when any are given (a
        ``CompositeAlarm`` passed in ``alarms`` counts too; an imported composite alarm cannot
        be told from a metric alarm, so pass it here). Default: none.
    :param approval_steps: percentages (among ``steps``) before which a person must approve
        (a notification on the topic; the task token in the approval queue). Default: none.
    :param approval_timeout: how long an approval may take before the rollout rolls back.
        Default: 24 hours.
    :param instance_scaling: scale each variant's instance count with its traffic share at
        every step (``UpdateEndpointWeightsAndCapacities`` sets both): the canary fleet grows
        as it takes traffic and the baseline's shrinks, down to ``min_instances`` after the
        promotion; a rollback restores ``max_instances`` on the baseline. For endpoints whose
        variants are not autoscaled: with an autoscaled baseline or canary it is an error
        (see "Capacity before traffic"). Default: instance counts are left alone.
    :param variant_scaling: for an imported endpoint, its autoscaled variants among the two
        (variant name -> ``VariantScalingLimits``: the scalable target's limits and the
        variant's template instance count). An ``Endpoint`` needs none: its
        ``VariantAutoscaling`` is read (passing both is an error). Default: none.
    :param smoke_tests: requests (:class:`SmokeTest`) sent to the canary variant directly
        (``TargetVariant``) before its first weight; any failed expectation ends the rollout
        ``CanaryRolledBack`` (cause ``SmokeTestFailed: ...``) with no weight changed. The
        function that sends them (``smoke_test``) runs in ``vpc`` and needs the
        ``runtime.sagemaker`` interface endpoint there. At most 10. Default: none.
    :param hooks: Lambda functions of yours (:class:`RolloutHook`) called before traffic, after
        each step, before the promotion and after the rollout, with the rollout's state; a
        failure or an answer whose ``proceed`` is not ``true`` rolls back with the hook's
        reason (``HookRefused: ...``); ``AFTER_ROLLOUT`` hooks are only reported
        (``HOOK_FAILED``). The state machine may invoke each function. At most 5 per point.
        Default: none.
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

    @checked
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
        composite_alarms: Sequence[cloudwatch.IAlarm] = (),
        approval_steps: Sequence[int] = (),
        approval_timeout: cdk.Duration | None = None,
        topic: sns.ITopic | None = None,
        encryption_key: kms.IKey | None = None,
        log_retention_days: int = 365,
        state_machine_name: str | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        instance_scaling: InstanceScaling | None = None,
        evaluator_reserved_concurrency: int | None = 5,
        dynamodb_prefix_list_id: str | None = None,
        variant_scaling: Mapping[str, VariantScalingLimits] | None = None,
        smoke_tests: Sequence[SmokeTest] = (),
        hooks: Sequence[RolloutHook] = (),
    ) -> None:
        super().__init__(scope, id)
        bake_time = bake_time or cdk.Duration.minutes(10)
        interval = interval or cdk.Duration.seconds(60)
        poll_interval = poll_interval or cdk.Duration.seconds(30)
        approval_timeout = approval_timeout or cdk.Duration.hours(24)
        policy = dict(policy or {})
        steps = list(steps)
        approval_steps = list(approval_steps)
        smoke_tests, hooks = list(smoke_tests), list(hooks)

        problems = ValidationProblems("CanaryRollout", id)
        capacity = variant_capacity(
            problems,
            endpoint=endpoint,
            baseline_variant=baseline_variant,
            canary_variant=canary_variant,
            variant_scaling=variant_scaling,
            instance_scaling=instance_scaling,
        )
        validate_hooks(problems, hooks, smoke_tests)
        validate_rollout(
            problems,
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
            evaluator_reserved_concurrency=evaluator_reserved_concurrency,
            vpc=vpc,
            security_groups=security_groups,
            dynamodb_prefix_list_id=dynamodb_prefix_list_id,
            capacity=capacity is not None,
            hook_calls=hook_calls(hooks, smoke_tests),
        )

        self.endpoint = endpoint
        #: the capacity phases' bindings (``None``: neither variant is autoscaled)
        self._capacity = capacity
        self._instance_scaling = (
            (instance_scaling.min_instances, instance_scaling.max_instances)
            if instance_scaling
            else None
        )
        self.baseline_variant = baseline_variant
        self.canary_variant = canary_variant
        self.steps = steps
        self.encryption_key = encryption_key or self._new_key(removal_policy)
        self.topic, topic_key = self._topic(topic)
        evaluator_policy = self._judges(
            policy=policy,
            alarms=alarms,
            composite_alarms=composite_alarms,
            smoke_tests=smoke_tests,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=security_groups,
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
            reserved_concurrency=evaluator_reserved_concurrency,
        )

        self._name_and_logs(state_machine_name, log_retention_days, removal_policy)
        self.lock_table = RolloutLockTable.of(self).table
        #: The encrypted queue approval requests go to, with their task tokens (``None``
        #: without ``approval_steps``); ``grant_approve`` lets approvers read it.
        self.approval_queue = self._approval_queue() if approval_steps else None
        definition = self._definition(
            RolloutDefaults(
                steps=steps,
                bake_seconds=seconds(bake_time) or 600,
                interval_seconds=seconds(interval) or 60,
                max_extensions=max_extensions,
                poll_seconds=seconds(poll_interval) or 30,
                max_polls=max_polls,
                policy=evaluator_policy,
                capacity=capacity is not None,
                hook_calls=hook_calls(hooks, smoke_tests),
            ),
            approval_steps=approval_steps,
            approval_timeout=approval_timeout,
            hooks=hook_bindings(hooks, smoke_function=self.smoke_test, smoke_tests=smoke_tests),
        )
        self._role = self._state_machine_role(definition, topic_key)
        self.state_machine = self._state_machine(definition.asl)

        self._rollback_failed_metric_name = f"RollbackFailed-{self.state_machine_name}"
        self.guard = self._guard(
            vpc,
            vpc_subnets,
            security_groups,
            topic_key,
            log_retention_days,
            removal_policy,
            reserved_concurrency=1 if evaluator_reserved_concurrency is not None else None,
            dynamodb_prefix_list_id=dynamodb_prefix_list_id,
        )
        self._observe()

    # -- parts ------------------------------------------------------------------------------

    def _judges(
        self,
        *,
        policy: dict[str, Any],
        alarms: Sequence[cloudwatch.IAlarm],
        composite_alarms: Sequence[cloudwatch.IAlarm],
        smoke_tests: list[SmokeTest],
        vpc: ec2.IVpc,
        vpc_subnets: ec2.SubnetSelection | None,
        security_groups: Sequence[ec2.ISecurityGroup] | None,
        log_retention_days: int,
        removal_policy: cdk.RemovalPolicy,
        reserved_concurrency: int | None,
    ) -> dict[str, Any]:
        """The evaluator (``evaluator``, ``evaluator_log_group``) and, with ``smoke_tests``,
        the smoke-test function (``smoke_test``; like the guard, it reserves one concurrent
        execution when the evaluator reserves any). Returns the policy the evaluator judges by
        (the alarms added)."""
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
            reserved_concurrency=reserved_concurrency,
        )
        self.evaluator = evaluator.function
        self.evaluator_log_group = evaluator.log_group
        #: The function that sends ``smoke_tests`` to the canary before any traffic (``None``
        #: without smoke tests).
        self.smoke_test: lambda_.Function | None = None
        if smoke_tests:
            self.smoke_test = add_smoke_test(
                self,
                endpoint=self.endpoint,
                tests=smoke_tests,
                vpc=vpc,
                vpc_subnets=vpc_subnets,
                security_groups=security_groups,
                encryption_key=self.encryption_key,
                log_retention_days=log_retention_days,
                removal_policy=removal_policy,
                reserved_concurrency=1 if reserved_concurrency is not None else None,
            )
        return evaluator.policy

    def _definition(
        self,
        defaults: RolloutDefaults,
        *,
        approval_steps: list[int],
        approval_timeout: cdk.Duration,
        hooks: list[Hook],
    ) -> Definition:
        """The state machine's definition, bound to this rollout's resources."""
        return build_definition(
            self._bindings(),
            defaults=defaults,
            approval_steps=approval_steps,
            approval_timeout_seconds=seconds(approval_timeout) or 86400,
            instance_scaling=self._instance_scaling,
            capacity=self._capacity,
            hooks=hooks,
        )

    def _observe(self) -> None:
        """The rollback-failed metric filter, the alarms and the dashboard."""
        add_rollback_failed_filter(self, self._rollback_failed_metric_name)
        self.executions_failed_alarm, self.rollback_failed_alarm = add_alarms(self)
        self.alarms = [self.executions_failed_alarm, self.rollback_failed_alarm]
        self.dashboard = add_dashboard(self)

    def _new_key(self, removal_policy: cdk.RemovalPolicy) -> kms.IKey:
        """A key with rotation for the topic and the log groups; alarms may publish with it."""
        return new_key(
            self,
            description=f"Canary rollout {self.node.path}: topic and log groups",
            removal_policy=removal_policy,
        )

    def _topic(self, topic: sns.ITopic | None) -> tuple[sns.ITopic, kms.IKey | None]:
        """The given topic (and its key, when known), or a new encrypted one that enforces TLS."""
        return notification_topic(
            self, topic, key=self.encryption_key, display_name="Canary rollout"
        )

    def _approval_queue(self) -> sqs.Queue:
        """Where the execution sends each approval request with its task token: encrypted with
        the rollout's key, TLS only, kept 14 days (SQS's longest)."""
        queue = sqs.Queue(
            self,
            "ApprovalRequests",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.encryption_key,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        acknowledge(
            queue,
            "AwsSolutions::AwsSolutions-SQS3",
            "Approvers (people or their tools) read the requests; no consumer processes them, so "
            "no message can fail processing into a dead-letter queue. A request that is never "
            "answered times out in the execution, which rolls back.",
        )
        return queue

    def _state_machine_role(self, definition: Definition, topic_key: kms.IKey | None) -> ScopedRole:
        """The state machine's role: exactly what its tasks call (derived from the definition),
        log delivery and X-Ray, and the topic's key."""
        role = state_machine_role(
            self,
            definition,
            description=f"canary rollout state machine {self.state_machine_name}",
            encryption_key=self.encryption_key,
            state_machine_arn=self.state_machine_arn,
            topic_key=topic_key,
        )
        stack = cdk.Stack.of(self)
        if self.approval_queue is not None:
            # SQS encrypts each approval request with the rollout's key, as the sender
            role.add_statements(
                iam.PolicyStatement(
                    sid="EncryptApprovalRequests",
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=[self.encryption_key.key_arn],
                    conditions={
                        "StringEquals": {
                            "kms:ViaService": f"sqs.{stack.region}.amazonaws.com",
                            "kms:EncryptionContext:aws:sqs:arn": self.approval_queue.queue_arn,
                        }
                    },
                )
            )
        acknowledge_wildcard_resources(
            role.policy,
            "states:DescribeExecution only: the endpoint's lock may be held by an execution of "
            "any CanaryRollout state machine of this stack (each names itself, custom names "
            "included, so no common ARN prefix exists), and the state machine describes that "
            "one execution to take over a lock whose holder no longer runs."
            + (
                " application-autoscaling:RegisterScalableTarget and DeregisterScalableTarget "
                "on scalable-target/*: a scalable target's ARN ends in an id Application Auto "
                "Scaling chooses at registration (CloudFormation exposes none), and the calls "
                "name the endpoint's variants by ResourceId."
                if self._capacity is not None
                else ""
            ),
        )
        return role

    def _state_machine(self, definition: dict[str, Any]) -> sfn.StateMachine:
        """The state machine, logged (ALL) and traced, tagged with its endpoint and variants."""
        state_machine = logged_state_machine(
            self,
            name=self.state_machine_name,
            definition=definition,
            role=self._role,
            log_group=self.log_group,
            encryption_key=self.encryption_key,
        )
        # The command line (``sagemaker-rollout``) finds a rollout's endpoint by these tags.
        tags = cdk.Tags.of(state_machine)
        tags.add(TAG_ENDPOINT, self.endpoint.endpoint_name)
        tags.add(TAG_BASELINE, self.baseline_variant)
        tags.add(TAG_CANARY, self.canary_variant)
        tags.add(TAG_LOCK_TABLE, self.lock_table.table_name)
        if self._instance_scaling is not None:  # what abort sets with the rolled-back weights
            tags.add(TAG_INSTANCES, f"{self._instance_scaling[1]},{self._instance_scaling[0]}")
        if self._capacity is not None and self._capacity.canary is not None:
            canary = self._capacity.canary  # what abort gives the canary back
            tags.add(
                TAG_CANARY_SCALING,
                f"{canary.min_capacity},{canary.max_capacity},{canary.instance_count}",
            )
        return state_machine

    def _bindings(self) -> Bindings:
        """What the definition is bound to: the endpoint, the variants and the ARNs."""
        return Bindings(
            endpoint_name=self.endpoint.endpoint_name,
            endpoint_arn=self.endpoint.endpoint_arn,
            baseline_variant=self.baseline_variant,
            canary_variant=self.canary_variant,
            evaluator_arn=self.evaluator.function_arn,
            topic_arn=self.topic.topic_arn,
            state_machine_arn=self.state_machine_arn,
            executions_arn=self._any_execution_arn,
            lock_table_name=self.lock_table.table_name,
            lock_table_arn=self.lock_table.table_arn,
            approval_queue_url=self.approval_queue.queue_url if self.approval_queue else None,
            approval_queue_arn=self.approval_queue.queue_arn if self.approval_queue else None,
            scalable_targets_arn=self.scalable_targets_arn if self._capacity else None,
        )

    def _guard(
        self,
        vpc: ec2.IVpc,
        vpc_subnets: ec2.SubnetSelection | None,
        security_groups: Sequence[ec2.ISecurityGroup] | None,
        topic_key: kms.IKey | None,
        log_retention_days: int,
        removal_policy: cdk.RemovalPolicy,
        *,
        reserved_concurrency: int | None,
        dynamodb_prefix_list_id: str | None,
    ) -> lambda_.Function:
        """The guard that restores the baseline when an execution ends unverified."""
        if security_groups is None and dynamodb_prefix_list_id is None:
            cdk.Annotations.of(self).add_warning_v2(
                "sagemaker-constructs:rollout-dynamodb-egress",
                "The guard releases the endpoint's lock in DynamoDB; with a DynamoDB gateway "
                "endpoint pass dynamodb_prefix_list_id (its managed prefix list), or allow it "
                "through rollout.guard.connections.",
            )
        return add_guard(
            self,
            state_machine=self.state_machine,
            executions_arn=self.executions_arn,
            endpoint_name=self.endpoint.endpoint_name,
            endpoint_arn=self.endpoint.endpoint_arn,
            baseline_variant=self.baseline_variant,
            canary_variant=self.canary_variant,
            lock_table=self.lock_table,
            topic=self.topic,
            topic_key=topic_key,
            metric_namespace=METRIC_NAMESPACE,
            metric_name=self._rollback_failed_metric_name,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=security_groups,
            encryption_key=self.encryption_key,
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
            reserved_concurrency=reserved_concurrency,
            instance_scaling=self._instance_scaling,
            capacity=self._capacity,
            scalable_targets_arn=self.scalable_targets_arn,
            dynamodb_prefix_list_id=dynamodb_prefix_list_id,
        ).function

    # -- public API (besides StateMachineConstruct's) -----------------------------------------

    @checked
    def grant_approve(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to approve or reject steps: what ``sagemaker-rollout approve`` and
        ``reject`` do (find the waiting task in the encrypted history, answer it), and to read
        and delete the approval requests of the approval queue (with their task tokens).

        Kept apart from :meth:`grant_operate` (separation of duties): whoever runs rollouts
        cannot approve their own gates.
        """
        respond = self.state_machine.grant_task_response(grantee)
        read = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["states:DescribeExecution", "states:GetExecutionHistory"],
            resource_arns=[self.executions_arn],
        )
        grant = respond.combine(read).combine(self._grant_read_execution_data(grantee))
        if self.approval_queue is not None:
            requests = iam.Grant.add_to_principal(
                grantee=grantee,
                actions=[
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueAttributes",
                ],
                resource_arns=[self.approval_queue.queue_arn],
            )
            decrypt = iam.Grant.add_to_principal(
                grantee=grantee,
                actions=["kms:Decrypt"],
                resource_arns=[self.encryption_key.key_arn],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": f"sqs.{cdk.Stack.of(self).region}.amazonaws.com",
                        "kms:EncryptionContext:aws:sqs:arn": self.approval_queue.queue_arn,
                    }
                },
            )
            grant = grant.combine(requests).combine(decrypt)
        return grant

    @property
    def scalable_targets_arn(self) -> str:
        """Application Auto Scaling's scalable targets in this account and region: a target's
        ARN ends in an id the service chooses at registration, which no template knows."""
        return cdk.Stack.of(self).format_arn(
            service="application-autoscaling",
            resource="scalable-target",
            resource_name="*",
            arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
        )

    @property
    def _any_execution_arn(self) -> str:
        """Executions of every state machine in this account and region (a lock's holder)."""
        return cdk.Stack.of(self).format_arn(
            service="states",
            resource="execution",
            resource_name="*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )

    @checked
    def grant_operate(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to run rollouts: what ``sagemaker-rollout`` does with
        ``--state-machine`` except approving.

        Start, watch (describe, history, tags, endpoint weights) and abort (stop the execution
        and put all traffic back on the baseline variant). Approving and rejecting a gate is
        :meth:`grant_approve`'s, for someone else (separation of duties). The execution ARNs
        are ``<state machine>:*``, named at start time. ``abort`` also releases the endpoint's
        lock in the stack's lock table. With an autoscaled canary, ``abort`` and
        ``release-canary`` also register and deregister its scalable target. Returns the
        combined grant of the statements (state machine, executions, execution data key,
        endpoint, lock table and, with an autoscaled canary, scalable targets).
        """
        machine = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[
                "states:StartExecution",
                "states:DescribeStateMachine",
                "states:ListExecutions",
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
        endpoint = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities"],
            resource_arns=[self.endpoint.endpoint_arn],
        )
        lock = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["dynamodb:GetItem", "dynamodb:DeleteItem"],
            resource_arns=[self.lock_table.table_arn],
        )
        data = self._grant_read_execution_data(grantee)
        grant = machine.combine(executions).combine(data).combine(endpoint).combine(lock)
        if self._capacity is not None and self._capacity.canary is not None:
            # abort gives the canary its scaling limits back; release-canary deregisters a
            # rolled-back canary's scalable target before a deploy removes its variant
            limits = iam.Grant.add_to_principal(
                grantee=grantee,
                actions=[
                    "application-autoscaling:RegisterScalableTarget",
                    "application-autoscaling:DeregisterScalableTarget",
                ],
                resource_arns=[self.scalable_targets_arn],
            )
            grant = grant.combine(limits)
        return grant

    @checked
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

    @checked
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
