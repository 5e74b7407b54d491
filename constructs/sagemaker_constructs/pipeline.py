"""A SageMaker Pipelines pipeline (``AWS::SageMaker::Pipeline``) with a validated definition.

.. code-block:: python

    from sagemaker_constructs import Pipeline, PipelineDefinition

    pipeline = Pipeline(
        self,
        "TrainingPipeline",
        definition=PipelineDefinition.from_file("pipelines/training_pipeline.json"),
        substitutions={"RoleArn": job_role.role_arn, "DataBucket": bucket.bucket_name},
        job_role=job_role,
        buckets=[bucket],
        schedule=scheduler.ScheduleExpression.cron(hour="3", minute="0"),
    )
    pipeline.grant_start_execution(ci_role)

The definition is the JSON the SageMaker Python SDK's ``pipeline.definition()`` returns;
it is checked at construction (see :mod:`sagemaker_constructs._pipeline_definition`).
Definitions up to :data:`INLINE_DEFINITION_MAX_LENGTH` characters are inlined into the
template (``PipelineDefinitionBody``); larger ones are uploaded as an S3 asset
(``PipelineDefinitionS3Location``) so the template stays well inside CloudFormation's 1 MB.
A definition with values known only at deploy time (tokens) is inlined whatever its length,
within the template's budget (:mod:`sagemaker_constructs._pipeline_size`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from . import _pipeline_definition as spec
from . import _pipeline_events as pipeline_events
from . import _pipeline_size as size
from . import aws_rules as aws
from ._types import checked
from ._validation import ValidationProblems, is_token
from .compliance import acknowledge_wildcard_resources
from .roles import ScopedRole

__all__ = [
    "INLINE_DEFINITION_MAX_LENGTH",
    "UNKNOWN_STEP_TYPE_WARNING",
    "ImportedPipeline",
    "Pipeline",
    "PipelineDefinition",
    "grant_start_pipeline_execution",
]

#: Definitions complete at synth up to this many characters (compact JSON) are inlined into
#: the template; larger ones go to S3 as an asset. CloudFormation accepts templates of at most
#: 1 MB for the *whole* stack; 100,000 characters leaves room for the stack's other resources
#: and for several pipelines per stack, while every definition the SDK produces for a typical
#: pipeline (10-50 KB) stays readable in place. A definition with deploy-time values is
#: inlined at any length, within :data:`~._pipeline_size.INLINE_TEMPLATE_MAX_BYTES`.
INLINE_DEFINITION_MAX_LENGTH = 100_000

#: ``PipelineName`` / ``PipelineDisplayName``: 1-256 characters.
PIPELINE_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")
_NAME_PATTERN_TEXT = "[a-zA-Z0-9](-*[a-zA-Z0-9])*"
_MAX_DESCRIPTION_LENGTH = 3072
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\(([^()]+)\)$")

#: What the pipeline's role may do for each step type: (actions, SageMaker resource types).
#: Every job the pipeline starts is tagged by SageMaker, hence ``sagemaker:AddTags``.
_STEP_PERMISSIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Processing": (
        ("CreateProcessingJob", "DescribeProcessingJob", "StopProcessingJob"),
        ("processing-job",),
    ),
    "Training": (
        ("CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob"),
        ("training-job",),
    ),
    "Tuning": (
        (
            "CreateHyperParameterTuningJob",
            "DescribeHyperParameterTuningJob",
            "StopHyperParameterTuningJob",
            "ListTrainingJobsForHyperParameterTuningJob",
        ),
        ("hyper-parameter-tuning-job",),
    ),
    "Transform": (
        ("CreateTransformJob", "DescribeTransformJob", "StopTransformJob"),
        ("transform-job",),
    ),
    "Model": (("CreateModel", "DescribeModel"), ("model",)),
    "RegisterModel": (
        ("CreateModelPackage", "DescribeModelPackage"),
        ("model-package", "model-package-group"),
    ),
    "AutoML": (
        (
            "CreateAutoMLJob",
            "CreateAutoMLJobV2",
            "DescribeAutoMLJob",
            "DescribeAutoMLJobV2",
            "StopAutoMLJob",
        ),
        ("automl-job",),
    ),
}
# Model quality and Clarify checks run processing jobs.
_STEP_PERMISSIONS["QualityCheck"] = _STEP_PERMISSIONS["Processing"]
_STEP_PERMISSIONS["ClarifyCheck"] = _STEP_PERMISSIONS["Processing"]

#: SageMaker hosting and lineage steps: actions on the resources the definition names
#: (:func:`~sagemaker_constructs._pipeline_definition.named_resources`), by step type, and
#: the resource kinds whose ARNs the statement lists. Endpoint and InferenceComponent steps
#: create or update (SageMaker picks which at run time, so both are granted).
_NAMED_PERMISSIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "EndpointConfig": (
        ("CreateEndpointConfig", "DescribeEndpointConfig"),
        ("endpoint-config",),
    ),
    "Endpoint": (
        ("CreateEndpoint", "UpdateEndpoint", "DescribeEndpoint"),
        ("endpoint", "endpoint-config"),
    ),
    "InferenceComponent": (
        (
            "CreateInferenceComponent",
            "UpdateInferenceComponent",
            "DescribeInferenceComponent",
        ),
        ("inference-component", "endpoint", "model"),
    ),
    "Lineage": ((), ("action", "artifact", "context", "lineage-arn", "association")),
}
#: A Lineage step creates (and reads back) the entities it names, then associates them.
_LINEAGE_ACTIONS = {
    "action": ("CreateAction", "DescribeAction"),
    "artifact": ("CreateArtifact", "DescribeArtifact"),
    "context": ("CreateContext", "DescribeContext"),
    "lineage-arn": (),
    "association": ("AddAssociation",),
}

#: What the pipeline's role does for an EMR step (the AWS managed policy
#: AmazonSageMakerPipelinesIntegrations, narrowed to the clusters and rules the steps use):
#: on a running cluster it adds, follows and cancels its step; on a cluster of its own it
#: also terminates the cluster. SageMaker follows the step or cluster through an EventBridge
#: rule of a fixed name, which it creates or updates.
_EMR_STEP_ACTIONS = (
    "elasticmapreduce:AddJobFlowSteps",
    "elasticmapreduce:CancelSteps",
    "elasticmapreduce:DescribeCluster",
    "elasticmapreduce:DescribeStep",
    "elasticmapreduce:ListSteps",
)
_EMR_RULE_ACTIONS = ("events:DescribeRule", "events:PutRule", "events:PutTargets")
_EMR_STEP_RULE = "SageMakerPipelineExecutionEMRStepStatusUpdateRule"
_EMR_CLUSTER_RULE = "SageMakerPipelineExecutionEMRClusterStatusUpdateRule"
#: Creating a cluster: RunJobFlow takes no resource-level permission (Service Authorization
#: Reference), so it is granted on "*" in the role's policy of such actions
#: (:data:`~sagemaker_constructs.wildcards.UNSCOPED_ACTIONS`).
_EMR_RUN_JOB_FLOW = "elasticmapreduce:RunJobFlow"

#: Warning ids (``cdk.Annotations``): acknowledge them with ``Annotations.acknowledge_warning``.
UNKNOWN_STEP_TYPE_WARNING = "sagemaker-constructs:pipeline-unknown-step-type"


def grant_start_pipeline_execution(
    grantee: iam.IGrantable, pipeline_arns: Sequence[str]
) -> iam.Grant:
    """Allow ``grantee`` to start the pipelines ``pipeline_arns`` and list their executions.

    The one place that knows which actions starting a pipeline takes; prefer
    ``pipeline.grant_start_execution(grantee)`` where the pipeline is a construct.
    """
    return iam.Grant.add_to_principal(
        grantee=grantee,
        actions=[
            "sagemaker:StartPipelineExecution",
            "sagemaker:DescribePipeline",
            "sagemaker:ListPipelineExecutions",
        ],
        resource_arns=list(pipeline_arns),
    )


class PipelineDefinition:
    """Where a pipeline's definition comes from.

    Use one of the ``from_*`` factories. Problems with the source (bad JSON, a missing file)
    are reported by :class:`Pipeline` together with every other problem.
    """

    def __init__(
        self,
        *,
        document: Any = None,
        problems: Sequence[spec.Problem] = (),
        bucket: s3.IBucket | None = None,
        key: str | None = None,
        version: str | None = None,
        origin: str = "definition",
    ) -> None:
        self._document = document
        self._problems = list(problems)
        self._bucket = bucket
        self._key = key
        self._version = version
        self._origin = origin

    @staticmethod
    @checked
    def from_dict(definition: Mapping[str, Any]) -> PipelineDefinition:
        """A definition given as a Python mapping (for example ``json.loads(...)``)."""
        try:
            document = json.loads(json.dumps(definition))
        except (TypeError, ValueError) as error:
            return PipelineDefinition(
                problems=[
                    spec.Problem(
                        "definition",
                        type(definition).__name__,
                        f"is not JSON-serializable ({error})",
                        "pass plain dicts, lists, strings, numbers and booleans",
                    )
                ]
            )
        return PipelineDefinition(document=document)

    @staticmethod
    @checked
    def from_string(definition: str) -> PipelineDefinition:
        """A definition given as JSON text, such as the SDK's ``pipeline.definition()``."""
        document, problems = spec.parse_json(definition)
        return PipelineDefinition(document=document, problems=problems)

    @staticmethod
    @checked
    def from_file(path: str | os.PathLike[str]) -> PipelineDefinition:
        """A definition read (at synth) from a local JSON file."""
        origin = f"definition (file {os.fspath(path)})"
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, ValueError) as error:  # also a NUL in the path, text not UTF-8
            return PipelineDefinition(
                problems=[
                    spec.Problem(
                        "definition",
                        os.fspath(path),
                        f"cannot be read ({getattr(error, 'strerror', None) or error})",
                        "pass the path of an existing UTF-8 JSON file",
                    )
                ],
                origin=origin,
            )
        document, problems = spec.parse_json(text, origin=origin)
        return PipelineDefinition(document=document, problems=problems, origin=origin)

    @staticmethod
    @checked
    def from_bucket(
        bucket: s3.IBucket, key: str, *, version: str | None = None
    ) -> PipelineDefinition:
        """A definition already stored in S3. SageMaker reads it at deploy time with the
        deploying principal's credentials; it cannot be checked at synth, and substitutions
        cannot be applied to it."""
        return PipelineDefinition(bucket=bucket, key=key, version=version)

    @property
    def document(self) -> Any:
        """The parsed definition, or ``None`` for an S3 object or an unreadable source."""
        return self._document


class _PipelineBase(Construct):
    """What every pipeline offers, created here or imported."""

    pipeline_name: str
    pipeline_arn: str

    def _arns_for_policies(self) -> list[str]:
        """The pipeline's ARN for IAM policies: SageMaker writes the name in lowercase in
        the ARN; when the given name has capitals, the ARN as written is granted as well so
        a grant never depends on that detail."""
        arns = [self.pipeline_arn]
        if not is_token(self.pipeline_name) and self.pipeline_name != self.pipeline_name.lower():
            arns.append(_pipeline_arn(self, self.pipeline_name, lowercase=False))
        return arns

    @checked
    def grant_start_execution(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` start this pipeline and list its executions.

        Grants ``sagemaker:StartPipelineExecution``, ``sagemaker:DescribePipeline`` and
        ``sagemaker:ListPipelineExecutions`` on the pipeline's ARN only (no wildcard).
        """
        return grant_start_pipeline_execution(grantee, self._arns_for_policies())

    @checked
    def grant_manage_executions(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` follow, stop and retry this pipeline's executions.

        Grants ``sagemaker:DescribePipelineExecution``, ``ListPipelineExecutionSteps``,
        ``StopPipelineExecution`` and ``RetryPipelineExecution`` on
        ``<pipeline ARN>/execution/*``. Execution ids are generated at run time, so the
        ARN ends in a wildcard: acknowledge ``AwsSolutions-IAM5`` for it on the grantee's
        policy (cdk-nag prints the exact id).
        """
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[
                "sagemaker:DescribePipelineExecution",
                "sagemaker:ListPipelineExecutionSteps",
                "sagemaker:StopPipelineExecution",
                "sagemaker:RetryPipelineExecution",
            ],
            resource_arns=[f"{arn}/execution/*" for arn in self._arns_for_policies()],
        )


class ImportedPipeline(_PipelineBase):
    """A pipeline defined elsewhere, known by name (see :meth:`Pipeline.from_pipeline_name`)."""

    def __init__(self, scope: Construct, id: str, *, pipeline_name: str) -> None:
        super().__init__(scope, id)
        problems = ValidationProblems("Pipeline", id)
        problems.check_name(
            "pipeline_name",
            pipeline_name,
            max_length=256,
            pattern=PIPELINE_NAME_PATTERN,
            pattern_text=_NAME_PATTERN_TEXT,
        )
        problems.raise_if_any()
        self.pipeline_name = pipeline_name
        self.pipeline_arn = _pipeline_arn(self, pipeline_name)


@jsii.implements(iam.IGrantable)
class Pipeline(_PipelineBase):
    """A SageMaker Pipelines pipeline whose definition is checked before it is deployed.

    :param definition: where the definition comes from (:class:`PipelineDefinition`). Checked
        at construction: JSON, ``Version``, at least one step, unique step names, known
        parameter types, every ``DependsOn``, condition branch and ``{"Get": ...}`` reference
        resolves, no dependency cycles, size within SageMaker's limit. The step types are
        those of the SageMaker Python SDK's ``StepTypeEnum``; a step of another type (a
        newer SDK's) is a warning (:data:`UNKNOWN_STEP_TYPE_WARNING`) and the created role
        gets no permission for it.
    :param substitutions: values for the ``${Name}`` placeholders in the definition, often
        tokens (``role.role_arn``, ``bucket.bucket_name``), resolved by CloudFormation at
        deploy time. Every placeholder needs a value and every value a placeholder; write
        ``${!Name}`` for a literal ``${Name}``. Values must not need JSON escaping. Literal
        values are substituted at synth; with a deploy-time value the definition is inlined
        into the template whatever its length (CloudFormation resolves nothing in an S3
        asset), and the inlined definitions of a stack may take at most 900,000 bytes of it
        (CloudFormation's template limit is 1,000,000 bytes): beyond, substitute literal
        values and the definition goes to S3, up to SageMaker's 1,048,576 characters.
        Default: no substitutions.
    :param pipeline_name: Default: a unique lowercase name derived from the construct path.
    :param display_name: Default: none (SageMaker shows the name).
    :param description: at most 3072 characters. Default: none.
    :param role: the role SageMaker assumes to run the pipeline. Default: a role with
        least privilege for the steps the definition holds: create, describe, stop and tag
        the corresponding jobs, models and model packages in this account and region;
        ``lambda:InvokeFunction`` on each Lambda step's function; ``sqs:SendMessage`` on
        each Callback step's queue; for EMR steps, add, follow and cancel steps on the named
        cluster (and the EventBridge rule SageMaker follows it with); create, update,
        describe and tag the endpoint configurations, endpoints and inference components
        the hosting steps name, and the lineage entities a Lineage step names;
        ``iam:PassRole`` of ``job_role`` to SageMaker only; read access to ``buckets``.
        Every function, queue, cluster and name must be written in the definition (or
        substituted): one that is a pipeline parameter or an expression is an error, since
        no role can be limited to it. An EMR step that creates its own cluster gets the
        step, termination and ``iam:PassRole`` permissions for its ``ServiceRole`` and
        ``JobFlowRole``, and ``elasticmapreduce:RunJobFlow``, which takes no resource-level
        permission, in the role's policy of such actions. A given
        role receives the ``buckets`` and ``job_role`` grants only; its step permissions
        are yours. Required when the definition comes from S3 (its steps are unknown at
        synth).
    :param job_role: the role the definition's jobs run under (the ARN you substitute
        into their ``RoleArn``); the pipeline's role may pass it, to SageMaker only.
        Required when ``role`` is not given and the definition has job steps.
        Default: none.
    :param buckets: buckets the pipeline itself reads (``s3:GetObject`` on objects,
        ``s3:ListBucket`` and ``s3:GetBucketLocation``, ``kms:Decrypt`` on the bucket's
        key): the property files ``JsonGet`` conditions read. Jobs read and write data
        with ``job_role``, not with this role. Default: none.
    :param max_parallel_execution_steps: at least 1. Default: not set (SageMaker's
        default applies).
    :param schedule: run the pipeline on this cron or rate expression with EventBridge
        Scheduler (flexible time window off, 3 retries within an hour), through a role
        that may only start this pipeline. Default: no schedule.
    :param schedule_parameters: pipeline parameters for scheduled runs; each must be
        declared in the definition. Default: the parameters' defaults.
    :param schedule_key: KMS key that encrypts the schedule. Default: an AWS owned key.
    :param tags: tags of the pipeline (at most 50). Default: none (the stack's tags apply).

    Attributes: ``pipeline_name``; ``pipeline_arn`` (the name in lowercase, as SageMaker
    writes it in ARNs); ``role`` (the pipeline's role); ``resource`` (the
    ``CfnPipeline``); ``schedule`` (the ``CfnSchedule`` or ``None``);
    ``definition_asset`` (the S3 asset of a large definition, or ``None``).

    Besides ``schedule``, :meth:`start_on_event` and :meth:`start_on_object_created` start
    the pipeline on EventBridge events, with parameters taken from the event.
    """

    @checked
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        definition: PipelineDefinition,
        substitutions: Mapping[str, str] | None = None,
        pipeline_name: str | None = None,
        display_name: str | None = None,
        description: str | None = None,
        role: iam.IRole | None = None,
        job_role: iam.IRole | None = None,
        buckets: Sequence[s3.IBucket] = (),
        max_parallel_execution_steps: int | None = None,
        schedule: scheduler.ScheduleExpression | None = None,
        schedule_parameters: Mapping[str, str] | None = None,
        schedule_key: kms.IKey | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.definition_asset: s3_assets.Asset | None = None
        #: bytes the inlined definition takes in the template (0 when it is in S3)
        self._inline_bytes = 0
        #: the definition as written (``None`` when it is an S3 object)
        self._document = definition.document if definition._bucket is None else None
        substitutions = dict(substitutions or {})
        document = definition.document
        rendered, text, named = self._validate(
            id,
            definition=definition,
            substitutions=substitutions,
            pipeline_name=pipeline_name,
            display_name=display_name,
            description=description,
            role=role,
            job_role=job_role,
            max_parallel_execution_steps=max_parallel_execution_steps,
            schedule=schedule,
            schedule_parameters=schedule_parameters,
            tags=tags,
        )

        name = (
            pipeline_name
            or cdk.Names.unique_resource_name(self, max_length=80, separator="-").lower()
        )
        self.pipeline_name = name
        self.pipeline_arn = _pipeline_arn(self, name)
        for step_type, paths in spec.unknown_step_types(document).items():
            cdk.Annotations.of(self).add_warning_v2(
                UNKNOWN_STEP_TYPE_WARNING,
                f"{', '.join(paths)}: step type {step_type!r} is not one this library knows "
                f"(the SageMaker Python SDK's StepTypeEnum: "
                f"{', '.join(sorted(spec.KNOWN_STEP_TYPES))}); its arguments are not checked "
                "and the pipeline's created role gets no permission for it. Add what it needs "
                "with add_to_role_policy, or pass your own role.",
            )

        self._scoped_role: ScopedRole | None = None
        if role is None:
            self._scoped_role = ScopedRole(
                self,
                "Role",
                assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
                description=f"SageMaker pipeline {name}",
            )
            self.role: iam.IRole = self._scoped_role.role
            self._grant_least_privilege(spec.step_types(document), named, job_role, buckets)
        else:
            self.role = role
            for bucket in buckets:
                self._grant_read(bucket, role)
            if job_role is not None:
                self._grant_pass_role(job_role, role)

        self.resource = sagemaker.CfnPipeline(
            self,
            "Resource",
            pipeline_name=name,
            pipeline_display_name=display_name,
            pipeline_description=description,
            role_arn=self.role.role_arn,
            pipeline_definition=self._definition_property(definition, rendered, text),
            parallelism_configuration=(
                {"MaxParallelExecutionSteps": max_parallel_execution_steps}
                if max_parallel_execution_steps is not None
                else None
            ),
            tags=[cdk.CfnTag(key=k, value=v) for k, v in (tags or {}).items()] or None,
        )
        if self._scoped_role is not None:
            # SageMaker checks the role's permissions when the pipeline is created (a role
            # that is granted nothing has no policy to wait for).
            self.resource.node.add_dependency(self._scoped_role.permissions)

        self.schedule: scheduler.CfnSchedule | None = None
        if schedule is not None:
            self.schedule = self._schedule(schedule, schedule_parameters or {}, schedule_key)

    # ------------------------------------------------------------------ public API

    @staticmethod
    @checked
    def from_pipeline_name(scope: Construct, id: str, pipeline_name: str) -> ImportedPipeline:
        """A pipeline defined elsewhere, by name: ``pipeline_arn`` and
        ``grant_start_execution`` work on it."""
        return ImportedPipeline(scope, id, pipeline_name=pipeline_name)

    @property
    def grant_principal(self) -> iam.IPrincipal:
        """The principal the pipeline runs as (its role)."""
        if self._scoped_role is not None:
            return self._scoped_role.grantee
        return self.role

    @checked
    def start_on_event(
        self,
        id: str,
        *,
        event_pattern: events.EventPattern,
        parameters: Mapping[str, str] | None = None,
        description: str | None = None,
        event_bus: events.IEventBus | None = None,
        dead_letter_queue: sqs.IQueue | None = None,
        max_event_age: cdk.Duration | None = None,
        retry_attempts: int = pipeline_events.DEFAULT_RETRY_ATTEMPTS,
    ) -> events.Rule:
        """Start the pipeline on every event that matches ``event_pattern`` (an EventBridge
        rule, construct id ``id``, whose target is this pipeline).

        :param event_pattern: what to match; at least one field.
        :param parameters: pipeline parameters for the executions it starts: each must be
            declared in the definition (when it is known at synth); a value is literal, or a
            JSON path into the event that is the whole value (``"$.detail.object.key"``, or
            ``events.EventField.from_path(...)``), which EventBridge resolves on delivery.
            At most 200. Default: the parameters' defaults.
        :param description: Default: "Starts SageMaker pipeline <name>".
        :param event_bus: Default: the account's default event bus.
        :param dead_letter_queue: where EventBridge puts the events it could not deliver
            (after its retries); it is allowed to send there from this rule only. A queue
            encrypted with a customer-managed key must let ``events.amazonaws.com`` use the
            key. Default: the pipeline's queue ``EventDeadLetters`` (SSE-SQS, TLS only,
            14 days), shared by its rules.
        :param max_event_age: how long EventBridge retries, 1 minute to 24 hours in whole
            seconds. Default: 1 hour.
        :param retry_attempts: 0 to 185. Default: 3.

        EventBridge assumes the pipeline's ``EventsRole`` (shared by its rules), which may
        call ``sagemaker:StartPipelineExecution`` on this pipeline only.
        """
        return pipeline_events.start_on_event(
            self,
            id,
            event_pattern=event_pattern,
            parameters=dict(parameters or {}),
            description=description,
            event_bus=event_bus,
            dead_letter_queue=dead_letter_queue,
            max_event_age=max_event_age,
            retry_attempts=retry_attempts,
        )

    @checked
    def start_on_object_created(
        self,
        id: str,
        *,
        bucket: s3.IBucket,
        prefix: str | None = None,
        parameters: Mapping[str, str] | None = None,
        description: str | None = None,
        dead_letter_queue: sqs.IQueue | None = None,
        max_event_age: cdk.Duration | None = None,
        retry_attempts: int = pipeline_events.DEFAULT_RETRY_ATTEMPTS,
    ) -> events.Rule:
        """Start the pipeline when an object is created in ``bucket`` (under ``prefix``):
        :meth:`start_on_event` on S3's ``Object Created`` events of that bucket.

        S3 sends these events to EventBridge only when the bucket's notifications say so. A
        bucket defined in the app gets them turned on (its
        ``NotificationConfiguration.EventBridgeConfiguration``, or the notifications the
        AWS CDK already manages for it; if you add CDK notifications to it later, call
        ``bucket.enable_event_bridge_notification()`` too); for an imported bucket there is
        a warning (:data:`~._pipeline_events.BUCKET_EVENTS_UNKNOWN_WARNING`): turn them on
        where it is defined.

        :param prefix: only keys that start with it (not with ``/``). Default: every key.
        :param parameters: as in :meth:`start_on_event`; the event's
            ``$.detail.bucket.name`` and ``$.detail.object.key`` are the new object's.

        The other arguments are :meth:`start_on_event`'s.
        """
        problems = ValidationProblems("Pipeline.start_on_object_created", id)
        pattern = pipeline_events.object_created_pattern(problems, bucket, prefix)
        rule = pipeline_events.start_on_event(
            self,
            id,
            event_pattern=pattern,
            parameters=dict(parameters or {}),
            description=description
            or f"Starts SageMaker pipeline {self.pipeline_name} on new objects",
            event_bus=None,
            dead_letter_queue=dead_letter_queue,
            max_event_age=max_event_age,
            retry_attempts=retry_attempts,
            problems=problems,
        )
        pipeline_events.ensure_bucket_events(self, bucket)
        return rule

    @checked
    def add_to_role_policy(self, statement: iam.PolicyStatement) -> None:
        """Add a permission the pipeline needs, for example ``lambda:InvokeFunction`` for a
        Lambda step (the created role keeps it in its one managed policy)."""
        self.grant_principal.add_to_principal_policy(statement)

    # ------------------------------------------------------------------ validation

    def _validate(
        self,
        id: str,
        *,
        definition: PipelineDefinition,
        substitutions: dict[str, str],
        pipeline_name: str | None,
        display_name: str | None,
        description: str | None,
        role: iam.IRole | None,
        job_role: iam.IRole | None,
        max_parallel_execution_steps: int | None,
        schedule: scheduler.ScheduleExpression | None,
        schedule_parameters: Mapping[str, str] | None,
        tags: Mapping[str, str] | None,
    ) -> tuple[Any, str | None, list[spec.NamedResource]]:
        """Collect every problem; return the rendered definition, its compact JSON and (for a
        role created here) the resources its steps name."""
        problems = ValidationProblems("Pipeline", id)

        def add(problem: spec.Problem) -> None:
            problems.add(problem.argument, problem.value, problem.rule, problem.fix)

        for problem in definition._problems:
            add(problem)

        for argument, value in (("pipeline_name", pipeline_name), ("display_name", display_name)):
            problems.check(
                value is None or is_token(value) or len(value) >= 1,
                argument,
                value,
                "must not be empty",
                "omit it or give 1-256 characters",
            )
            if value:
                problems.check_name(
                    argument,
                    value,
                    max_length=256,
                    pattern=PIPELINE_NAME_PATTERN,
                    pattern_text=_NAME_PATTERN_TEXT,
                )
        if description is not None and not is_token(description):
            problems.check(
                len(description) <= _MAX_DESCRIPTION_LENGTH,
                "description",
                f"<{len(description)} characters>",
                f"must be at most {_MAX_DESCRIPTION_LENGTH} characters",
                "shorten the description",
            )
        aws.check_range(
            problems,
            "max_parallel_execution_steps",
            max_parallel_execution_steps,
            aws.PIPELINE,
            "ParallelismConfiguration/MaxParallelExecutionSteps",
        )
        aws.check_tags(problems, "tags", tags)

        document = definition.document
        rendered: Any = None
        text: str | None = None
        named: list[spec.NamedResource] = []
        from_s3 = definition._bucket is not None
        if from_s3:
            problems.check(
                is_token(definition._key) or bool(definition._key),
                "definition",
                definition._key,
                "the S3 object key must not be empty",
                "pass the key of the definition object",
            )
            problems.check(
                not substitutions,
                "substitutions",
                sorted(substitutions),
                "cannot be applied to a definition stored in S3",
                "pass the definition with from_file/from_string/from_dict, or resolve the "
                "values before uploading it",
            )
            problems.check(
                role is not None,
                "role",
                None,
                "is required when the definition comes from S3 (its steps are unknown at "
                "synth, so no least-privilege role can be derived)",
                "pass a role that may run the pipeline's steps",
            )
        elif document is not None:
            for problem in spec.validate(document, substitution_names=list(substitutions)):
                add(problem)
            rendered = spec.render(document, substitutions)
            text = spec.serialize(rendered)
            for problem in spec.validate_size(text):
                add(problem)
            if is_token(rendered) and len(spec.validate_size(text)) == 0:
                self._check_inline_budget(problems, rendered, text, substitutions)
            if role is None:
                named, unknown = spec.named_resources(rendered, opaque=is_token)
                for problem in unknown:
                    add(problem)
            if role is None and job_role is None:
                jobs = sorted(spec.step_types(document) & spec.JOB_STEP_TYPES)
                problems.check(
                    not jobs,
                    "job_role",
                    None,
                    f"is required: the definition's {', '.join(jobs)} steps run under a role "
                    "the pipeline's role must be allowed to pass",
                    "pass job_role (the role whose ARN the steps' RoleArn holds), or your own role",
                )

        if schedule is not None:
            self._validate_schedule(problems, schedule, schedule_parameters, document)
        elif schedule_parameters:
            problems.add(
                "schedule_parameters",
                sorted(schedule_parameters),
                "has no effect without a schedule",
                "pass schedule, or remove schedule_parameters",
            )
        problems.raise_if_any()
        return rendered, text, named

    def _check_inline_budget(
        self,
        problems: ValidationProblems,
        rendered: Any,
        text: str,
        substitutions: Mapping[str, str],
    ) -> None:
        """A definition with values known only at deploy time is inlined, whatever its length
        (CloudFormation substitutes nothing in an S3 object): with the stack's other inlined
        definitions, it must fit :data:`~._pipeline_size.INLINE_TEMPLATE_MAX_BYTES`."""
        stack = cdk.Stack.of(self)
        own = size.inline_template_bytes(stack.resolve(stack.to_json_string(rendered)))
        self._inline_bytes = own
        if len(text) <= INLINE_DEFINITION_MAX_LENGTH:
            return
        others = sum(
            construct._inline_bytes
            for construct in stack.node.find_all()
            if isinstance(construct, Pipeline)
            and construct is not self
            and cdk.Stack.of(construct) is stack
        )
        deploy_time = sorted(name for name, value in substitutions.items() if is_token(value))
        if own + others > size.INLINE_TEMPLATE_MAX_BYTES:
            problems.add(
                "substitutions",
                deploy_time or "<tokens in the definition>",
                f"values known only at deploy time are substituted by CloudFormation, so the "
                f"definition ({len(text):,} characters) is inlined into the template, where it "
                f"takes {own:,} bytes"
                + (f" besides {others:,} bytes of the stack's other pipelines" if others else "")
                + f"; a stack's inlined definitions may take at most "
                f"{size.INLINE_TEMPLATE_MAX_BYTES:,} bytes (CloudFormation accepts templates of "
                f"at most {size.MAX_TEMPLATE_BYTES:,} bytes, and the template escapes every "
                "quote of the JSON)",
                "substitute values known at synth instead (literal strings: for a role, give it "
                "a role_name and substitute f'arn:aws:iam::{account}:role/{name}'); the "
                "definition is then uploaded to S3 as an asset and may reach SageMaker's "
                f"{spec.MAX_DEFINITION_LENGTH:,} characters. Or put the pipeline in a stack of "
                "its own, or make the definition smaller",
            )
            return
        stage = cdk.Stage.of(self)
        if stage is not None:
            size.require_template_size_check(stage)

    @staticmethod
    def _validate_schedule(
        problems: ValidationProblems,
        schedule: scheduler.ScheduleExpression,
        schedule_parameters: Mapping[str, str] | None,
        document: Any,
    ) -> None:
        expression = schedule.expression_string
        if not is_token(expression):
            rate = _RATE.match(expression)
            cron = _CRON.match(expression)
            if rate:
                count, unit = int(rate.group(1)), rate.group(2)
                problems.check(
                    count >= 1 and (count == 1) == (not unit.endswith("s")),
                    "schedule",
                    expression,
                    "a rate needs a positive value and a unit that agrees with it "
                    "(1 minute, 5 minutes)",
                    "use rate(1 hour), rate(12 hours), ...",
                )
            elif cron:
                fields = cron.group(1).split()
                ok = len(fields) == 6 and "?" in (fields[2], fields[4])
                problems.check(
                    ok,
                    "schedule",
                    expression,
                    "a cron expression needs 6 fields (minutes hours day-of-month month "
                    "day-of-week year) with '?' in day-of-month or day-of-week",
                    "use ScheduleExpression.cron(...) or, for example, cron(0 3 * * ? *)",
                )
            else:
                problems.add(
                    "schedule",
                    expression,
                    "must be a cron(...) or rate(...) expression",
                    "use ScheduleExpression.cron(...) or ScheduleExpression.rate(...)",
                )
        declared = spec.parameter_names(document)
        for name in schedule_parameters or {}:
            problems.check(
                document is None or name in declared,
                "schedule_parameters",
                name,
                "is not a parameter the definition declares",
                f"use one of: {', '.join(sorted(declared)) or 'none declared'}",
            )

    # ------------------------------------------------------------------ resources

    def _definition_property(
        self, definition: PipelineDefinition, rendered: Any, text: str | None
    ) -> dict[str, Any]:
        if definition._bucket is not None:
            location: dict[str, Any] = {
                "Bucket": definition._bucket.bucket_name,
                "Key": definition._key,
            }
            if definition._version is not None:
                location["Version"] = definition._version
            return {"PipelineDefinitionS3Location": location}
        assert text is not None
        if is_token(rendered):
            # Deploy-time values: CloudFormation substitutes them (budget checked in _validate)
            return {"PipelineDefinitionBody": cdk.Stack.of(self).to_json_string(rendered)}
        if len(text) <= INLINE_DEFINITION_MAX_LENGTH:
            self._inline_bytes = size.inline_template_bytes(text)
            return {"PipelineDefinitionBody": text}
        # Large and complete at synth (literal substitutions applied): a file asset.
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
        folder = Path(tempfile.mkdtemp(prefix=f"pipeline-definition-{digest}-"))
        path = folder / "definition.json"
        path.write_text(text, encoding="utf-8")
        self.definition_asset = s3_assets.Asset(self, "DefinitionAsset", path=str(path))
        return {
            "PipelineDefinitionS3Location": {
                "Bucket": self.definition_asset.s3_bucket_name,
                "Key": self.definition_asset.s3_object_key,
            }
        }

    def _grant_least_privilege(
        self,
        types: set[str],
        named: Sequence[spec.NamedResource],
        job_role: iam.IRole | None,
        buckets: Sequence[s3.IBucket],
    ) -> None:
        scoped = self._scoped_role
        assert scoped is not None
        stack = cdk.Stack.of(self)
        by_resources: dict[tuple[str, ...], set[str]] = {}
        for step_type in sorted(types):
            if step_type in _STEP_PERMISSIONS:
                actions, resource_types = _STEP_PERMISSIONS[step_type]
                by_resources.setdefault(resource_types, set()).update(actions)
        for resource_types, granted in sorted(by_resources.items()):
            scoped.add_statements(
                iam.PolicyStatement(
                    actions=sorted({f"sagemaker:{a}" for a in granted} | {"sagemaker:AddTags"}),
                    resources=[
                        stack.format_arn(service="sagemaker", resource=rt, resource_name="*")
                        for rt in resource_types
                    ],
                )
            )
        self._grant_named_sagemaker(scoped, named)
        self._grant_other_services(scoped, named)
        # Jobs run under job_role, and an endpoint configuration may name it as its
        # ExecutionRoleArn; lineage, Lambda, Callback and EMR steps pass no SageMaker role.
        configures = any(r.step_type == "EndpointConfig" for r in named)
        if job_role is not None and (by_resources or configures):
            self._grant_pass_role(job_role, scoped.grantee)
        for bucket in buckets:
            self._grant_read(bucket, scoped.grantee)
        if scoped.node.try_find_child("Policy") is not None:
            acknowledge_wildcard_resources(
                scoped.policy,
                "SageMaker Pipelines names each job (processing-job/, training-job/, "
                "model-package/, ...), each model a Model step creates and each output object "
                "at run time from the execution id, and EMR names a cluster an EMR step "
                "creates when it starts, so these resources cannot be named in advance; every "
                "action is listed explicitly and every ARN is limited to this account and "
                "region or to the named buckets.",
            )

    def _sagemaker_arns(self, kind: str, name: str) -> list[str]:
        """ARNs of a SageMaker resource by name: SageMaker writes names in lowercase in ARNs;
        the name as written is granted as well when it differs. An ARN is taken as it is."""
        if kind == "lineage-arn":
            return [name]
        if kind == "association":
            return []  # an association is made between the entities, it has no ARN to grant
        stack = cdk.Stack.of(self)
        names = [name] if is_token(name) else list(dict.fromkeys([name.lower(), name]))
        return [
            stack.format_arn(service="sagemaker", resource=kind, resource_name=n) for n in names
        ]

    def _grant_named_sagemaker(
        self, scoped: ScopedRole, named: Sequence[spec.NamedResource]
    ) -> None:
        """Hosting and lineage steps: their actions on the resources they name."""
        for step_type, (actions, kinds) in _NAMED_PERMISSIONS.items():
            used = [r for r in named if r.step_type == step_type and r.kind in kinds]
            if not used:
                continue
            step_actions = set(actions) | {"AddTags"}
            if step_type == "Lineage":
                for resource in used:
                    step_actions.update(_LINEAGE_ACTIONS[resource.kind])
            resources: list[str] = []
            for resource in used:
                for arn in self._sagemaker_arns(resource.kind, resource.name):
                    if arn not in resources:
                        resources.append(arn)
            scoped.add_statements(
                iam.PolicyStatement(
                    actions=sorted(f"sagemaker:{a}" for a in step_actions), resources=resources
                )
            )

    def _grant_other_services(
        self, scoped: ScopedRole, named: Sequence[spec.NamedResource]
    ) -> None:
        """Lambda, Callback and EMR steps: invoke, send, run steps on what they name."""
        stack = cdk.Stack.of(self)

        def of(kind: str) -> list[str]:
            return list(dict.fromkeys(r.name for r in named if r.kind == kind))

        functions = [_function_arn(stack, name) for name in of("lambda-function")]
        if functions:
            scoped.add_statements(
                iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=functions)
            )
        queues = [_queue_arn(stack, url) for url in of("sqs-queue")]
        if queues:
            scoped.add_statements(
                iam.PolicyStatement(actions=["sqs:SendMessage"], resources=queues)
            )
        clusters = [
            stack.format_arn(service="elasticmapreduce", resource="cluster", resource_name=c)
            for c in of("emr-cluster")
        ]
        new_clusters = of("emr-new-cluster")
        if new_clusters:
            clusters.append(
                stack.format_arn(service="elasticmapreduce", resource="cluster", resource_name="*")
            )
        if not clusters:
            return
        actions = set(_EMR_STEP_ACTIONS)
        rules = [_EMR_STEP_RULE] if of("emr-cluster") else []
        if new_clusters:
            actions.add("elasticmapreduce:TerminateJobFlows")
            rules.append(_EMR_CLUSTER_RULE)
        scoped.add_statements(iam.PolicyStatement(actions=sorted(actions), resources=clusters))
        scoped.add_statements(
            iam.PolicyStatement(
                actions=list(_EMR_RULE_ACTIONS),
                resources=[
                    stack.format_arn(service="events", resource="rule", resource_name=rule)
                    for rule in rules
                ],
            )
        )
        for kind, service in (
            ("emr-service-role", "elasticmapreduce.amazonaws.com"),
            ("emr-instance-role", "ec2.amazonaws.com"),
        ):
            roles = [_role_arn(stack, name) for name in of(kind)]
            if roles:
                scoped.add_statements(
                    iam.PolicyStatement(
                        actions=["iam:PassRole"],
                        resources=roles,
                        conditions={"StringEquals": {"iam:PassedToService": service}},
                    )
                )
        if new_clusters:
            # RunJobFlow takes no resource-level permission: the role's policy of such actions
            scoped.add_unscoped("EmrRunJobFlow", [_EMR_RUN_JOB_FLOW])

    @staticmethod
    def _grant_pass_role(job_role: iam.IRole, grantee: iam.IGrantable) -> None:
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["iam:PassRole"],
            resource_arns=[job_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )

    @staticmethod
    def _grant_read(bucket: s3.IBucket, grantee: iam.IGrantable) -> None:
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:GetObject"],
            resource_arns=[bucket.arn_for_objects("*")],
        )
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:ListBucket", "s3:GetBucketLocation"],
            resource_arns=[bucket.bucket_arn],
        )
        if bucket.encryption_key is not None:
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=["kms:Decrypt"],
                resource_arns=[bucket.encryption_key.key_arn],
            )

    def _schedule(
        self,
        schedule: scheduler.ScheduleExpression,
        parameters: Mapping[str, str],
        key: kms.IKey | None,
    ) -> scheduler.CfnSchedule:
        stack = cdk.Stack.of(self)
        scoped = ScopedRole(
            self,
            "ScheduleRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            ),
            description=f"EventBridge Scheduler starts SageMaker pipeline {self.pipeline_name}",
        )
        scoped.add_statements(
            iam.PolicyStatement(
                actions=["sagemaker:StartPipelineExecution"],
                resources=self._arns_for_policies(),
            )
        )
        if key is not None:
            key.grant_decrypt(scoped.grantee)
        target = scheduler.CfnSchedule.TargetProperty(
            arn=self.pipeline_arn,
            role_arn=scoped.role.role_arn,
            sage_maker_pipeline_parameters=(
                scheduler.CfnSchedule.SageMakerPipelineParametersProperty(
                    pipeline_parameter_list=[
                        scheduler.CfnSchedule.SageMakerPipelineParameterProperty(
                            name=name, value=value
                        )
                        for name, value in parameters.items()
                    ]
                )
                if parameters
                else None
            ),
            retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                maximum_event_age_in_seconds=3600, maximum_retry_attempts=3
            ),
        )
        resource = scheduler.CfnSchedule(
            self,
            "Schedule",
            schedule_expression=schedule.expression_string,
            schedule_expression_timezone=schedule.time_zone.timezone_name
            if schedule.time_zone
            else None,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=target,
            kms_key_arn=key.key_arn if key is not None else None,
            description=f"Starts SageMaker pipeline {self.pipeline_name}",
            state="ENABLED",
        )
        resource.node.add_dependency(self.resource)
        resource.node.add_dependency(scoped.policy)
        return resource


def _function_arn(stack: cdk.Stack, name: str) -> str:
    """A Lambda step's FunctionArn: an ARN (or a token) as it is, a name in this account."""
    if is_token(name) or name.startswith("arn:"):
        return name
    return stack.format_arn(
        service="lambda",
        resource="function",
        resource_name=name,
        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
    )


def _queue_arn(stack: cdk.Stack, url: str) -> str:
    """The ARN of the queue at ``url`` (https://sqs.<region>.amazonaws.com/<account>/<name>);
    a URL known only at deploy time is taken apart by CloudFormation."""
    parts = spec.queue_arn_parts(url) if not is_token(url) else None
    if parts is not None:
        partition, region, account, queue = parts
        return f"arn:{partition}:sqs:{region}:{account}:{queue}"
    pieces = cdk.Fn.split("/", url)
    host = cdk.Fn.split(".", cdk.Fn.select(2, pieces))
    return stack.format_arn(
        service="sqs",
        region=cdk.Fn.select(1, host),
        account=cdk.Fn.select(3, pieces),
        resource=cdk.Fn.select(4, pieces),
        arn_format=cdk.ArnFormat.NO_RESOURCE_NAME,
    )


def _role_arn(stack: cdk.Stack, name: str) -> str:
    """A role an EMR cluster runs with: an ARN (or a token) as it is, a name in this account."""
    if is_token(name) or name.startswith("arn:"):
        return name
    return stack.format_arn(service="iam", region="", resource="role", resource_name=name)


def _pipeline_arn(scope: Construct, name: str, *, lowercase: bool = True) -> str:
    """SageMaker writes pipeline names in ARNs in lowercase."""
    resource_name = name if is_token(name) or not lowercase else name.lower()
    return cdk.Stack.of(scope).format_arn(
        service="sagemaker", resource="pipeline", resource_name=resource_name
    )
