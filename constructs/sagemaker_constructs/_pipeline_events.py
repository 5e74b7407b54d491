"""Starting a pipeline on EventBridge events: the rule, its role, its dead-letter queue.

EventBridge starts a SageMaker pipeline itself (a rule target with the pipeline's ARN and
``SageMakerPipelineParameters``); a parameter's value is either literal or, when the whole
value is a JSON path such as ``$.detail.object.key``, read from the event when it is delivered
(EventBridge's dynamic path parameters: dot notation, letters, digits, ``-``, ``_``, array
indices and ``*``). ``events.EventField.from_path(path)`` writes the same path.

Every rule of a pipeline shares one role (``EventsRole``: ``sagemaker:StartPipelineExecution``
on this pipeline only) and, unless the caller brings a queue, one dead-letter queue
(``EventDeadLetters``: SSE-SQS, TLS only, 14 days) that only these rules may send to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs

from . import _pipeline_definition as spec
from ._validation import ValidationProblems, is_token
from .compliance import acknowledge, acknowledge_checkov
from .roles import ScopedRole

if TYPE_CHECKING:
    from .pipeline import Pipeline

__all__ = [
    "BUCKET_EVENTS_UNKNOWN_WARNING",
    "DEFAULT_MAX_EVENT_AGE",
    "DEFAULT_RETRY_ATTEMPTS",
    "EVENT_PATH_PATTERN",
    "MAX_PARAMETERS",
    "MAX_PARAMETER_VALUE_LENGTH",
    "object_created_pattern",
    "start_on_event",
]

#: A JSON path EventBridge resolves in a target parameter: ``$`` then ``.name`` or ``.*``
#: segments, each optionally indexed (``[0]``, ``[*]``).
EVENT_PATH_PATTERN = re.compile(r"^\$(\.([A-Za-z0-9_-]+|\*)(\[(\d+|\*)\])*)+$")
#: EventBridge's ``PipelineParameterList``: at most 200 items.
MAX_PARAMETERS = 200
#: SageMaker's ``Parameter.Value``: at most 1024 characters.
MAX_PARAMETER_VALUE_LENGTH = 1024
#: Retries: EventBridge keeps trying for an hour, 3 times (as the pipeline's schedule does).
DEFAULT_MAX_EVENT_AGE = 3600
DEFAULT_RETRY_ATTEMPTS = 3
_EVENT_AGE_RANGE = (60, 86_400)
_RETRY_RANGE = (0, 185)
_PATTERN_FIELDS = (
    "account",
    "detail",
    "detail_type",
    "id",
    "region",
    "resources",
    "source",
    "time",
    "version",
)

#: Warning id (``cdk.Annotations``): an imported bucket may not send events to EventBridge.
BUCKET_EVENTS_UNKNOWN_WARNING = "sagemaker-constructs:pipeline-bucket-events-unknown"


def _event_paths(value: str) -> list[str] | None:
    """The paths of the ``events.EventField`` tokens in ``value`` (``None``: it holds other
    text or tokens besides exactly one field)."""
    fragments = cdk.Tokenization.reverse_string(value)
    tokens = list(fragments.tokens)
    fields = [t for t in tokens if isinstance(t, events.EventField)]
    if not fields:
        return []
    if fragments.length != 1 or len(tokens) != 1:
        return None
    return [fields[0].path]


def check_parameters(
    problems: ValidationProblems,
    parameters: Mapping[str, str],
    document: Any,
    *,
    argument: str = "parameters",
) -> None:
    """Names declared in the definition (when it is known at synth); values literal or a whole
    JSON path into the event."""
    declared = spec.parameter_names(document)
    problems.check(
        len(parameters) <= MAX_PARAMETERS,
        argument,
        f"<{len(parameters)} items>",
        f"EventBridge passes at most {MAX_PARAMETERS} pipeline parameters",
        "pass fewer parameters",
    )
    for name, value in parameters.items():
        problems.check(
            document is None or name in declared,
            argument,
            name,
            "is not a parameter the definition declares",
            f"use one of: {', '.join(sorted(declared)) or 'none declared'}",
        )
        paths = _event_paths(value)
        if paths is None:
            problems.add(
                f"{argument}[{name}]",
                value,
                "an event field must be the whole value (EventBridge replaces a value that is "
                "a JSON path, never part of one)",
                "pass events.EventField.from_path(...) alone, and join the pieces in the "
                'definition (a "Std:Join" of parameters)',
            )
            continue
        if not paths and is_token(value):
            continue  # a deploy-time value (a bucket's name, ...)
        path = paths[0] if paths else value
        if path.startswith("$"):
            problems.check(
                bool(EVENT_PATH_PATTERN.match(path)),
                f"{argument}[{name}]",
                path,
                "is not a JSON path EventBridge resolves ($ then .name segments of letters, "
                "digits, '-' and '_', or .*, each optionally indexed [0])",
                "write a dot-notation path into the event, such as $.detail.object.key",
            )
        else:
            problems.check(
                len(path) <= MAX_PARAMETER_VALUE_LENGTH,
                f"{argument}[{name}]",
                f"<{len(path)} characters>",
                f"must be at most {MAX_PARAMETER_VALUE_LENGTH} characters (SageMaker's "
                "parameter value)",
                "shorten the value",
            )


def _check_delivery(
    problems: ValidationProblems, max_event_age: cdk.Duration | None, retry_attempts: int
) -> int:
    seconds = DEFAULT_MAX_EVENT_AGE
    if max_event_age is not None:
        whole = problems.whole_seconds("max_event_age", max_event_age)
        if whole is not None:
            seconds = int(whole)
            problems.check_range(
                "max_event_age",
                seconds,
                minimum=_EVENT_AGE_RANGE[0],
                maximum=_EVENT_AGE_RANGE[1],
                unit="seconds",
            )
    problems.check_range(
        "retry_attempts", retry_attempts, minimum=_RETRY_RANGE[0], maximum=_RETRY_RANGE[1]
    )
    return seconds


def _check_pattern(problems: ValidationProblems, event_pattern: events.EventPattern) -> None:
    problems.check(
        any(getattr(event_pattern, field) is not None for field in _PATTERN_FIELDS),
        "event_pattern",
        "EventPattern()",
        "must match on at least one field (an empty pattern matches nothing)",
        "give source, detail_type, detail, resources, ...",
    )


def start_on_event(
    pipeline: Pipeline,
    id: str,
    *,
    event_pattern: events.EventPattern,
    parameters: Mapping[str, str],
    description: str | None,
    event_bus: events.IEventBus | None,
    dead_letter_queue: sqs.IQueue | None,
    max_event_age: cdk.Duration | None,
    retry_attempts: int,
    problems: ValidationProblems | None = None,
) -> events.Rule:
    """See :meth:`Pipeline.start_on_event`."""
    problems = problems or ValidationProblems("Pipeline.start_on_event", id)
    _check_pattern(problems, event_pattern)
    check_parameters(problems, parameters, pipeline._document)
    age = _check_delivery(problems, max_event_age, retry_attempts)
    problems.raise_if_any()

    role = _events_role(pipeline)
    rule = events.Rule(
        pipeline,
        id,
        event_pattern=event_pattern,
        event_bus=event_bus,
        description=description or f"Starts SageMaker pipeline {pipeline.pipeline_name}",
    )
    queue = dead_letter_queue or _dead_letter_queue(pipeline)
    queue.add_to_resource_policy(
        iam.PolicyStatement(
            sid=f"EventBridge{cdk.Names.node_unique_id(rule.node)}"[:100],
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["sqs:SendMessage"],
            resources=[queue.queue_arn],
            conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}},
        )
    )
    cfn = rule.node.default_child
    assert isinstance(cfn, events.CfnRule)
    cfn.targets = [
        events.CfnRule.TargetProperty(
            id="Pipeline",
            arn=pipeline.pipeline_arn,
            role_arn=role.role.role_arn,
            sage_maker_pipeline_parameters=(
                events.CfnRule.SageMakerPipelineParametersProperty(
                    pipeline_parameter_list=[
                        events.CfnRule.SageMakerPipelineParameterProperty(name=name, value=value)
                        for name, value in parameters.items()
                    ]
                )
                if parameters
                else None
            ),
            dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=queue.queue_arn),
            retry_policy=events.CfnRule.RetryPolicyProperty(
                maximum_event_age_in_seconds=age, maximum_retry_attempts=retry_attempts
            ),
        )
    ]
    rule.node.add_dependency(pipeline.resource, role.permissions)
    return rule


def _events_role(pipeline: Pipeline) -> ScopedRole:
    """The role EventBridge assumes: it may start this pipeline, nothing else."""
    existing = pipeline.node.try_find_child("EventsRole")
    if isinstance(existing, ScopedRole):
        return existing
    stack = cdk.Stack.of(pipeline)
    role = ScopedRole(
        pipeline,
        "EventsRole",
        assumed_by=iam.ServicePrincipal(
            "events.amazonaws.com",
            conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
        ),
        description=f"EventBridge starts SageMaker pipeline {pipeline.pipeline_name}",
    )
    role.add_statements(
        iam.PolicyStatement(
            actions=["sagemaker:StartPipelineExecution"],
            resources=pipeline._arns_for_policies(),
        )
    )
    return role


def _dead_letter_queue(pipeline: Pipeline) -> sqs.IQueue:
    """Events EventBridge could not deliver (after its retries), kept 14 days."""
    existing = pipeline.node.try_find_child("EventDeadLetters")
    if isinstance(existing, sqs.Queue):
        return existing
    queue = sqs.Queue(
        pipeline,
        "EventDeadLetters",
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=cdk.Duration.days(14),
    )
    acknowledge(
        queue,
        "AwsSolutions::AwsSolutions-SQS3",
        "This queue is itself the dead-letter queue of the rules that start the pipeline.",
    )
    acknowledge_checkov(
        queue,
        "CKV_AWS_27",
        "Encrypted at rest with SSE-SQS. It receives the events EventBridge could not deliver "
        "to the pipeline; a customer-managed key would need EventBridge in the key policy "
        "(pass dead_letter_queue for a queue of your own).",
    )
    return queue


def object_created_pattern(
    problems: ValidationProblems, bucket: s3.IBucket, prefix: str | None
) -> events.EventPattern:
    """``Object Created`` events of ``bucket`` (keys starting with ``prefix`` when given)."""
    if prefix is not None and not is_token(prefix):
        problems.check(
            len(prefix) >= 1,
            "prefix",
            prefix,
            "must not be empty",
            "omit prefix to match every key",
        )
        problems.check(
            not prefix.startswith("/"),
            "prefix",
            prefix,
            "S3 keys do not start with '/', so this prefix matches nothing",
            f"write {prefix.lstrip('/')!r}",
        )
    detail: dict[str, Any] = {"bucket": {"name": [bucket.bucket_name]}}
    if prefix:
        detail["object"] = {"key": [{"prefix": prefix}]}
    return events.EventPattern(source=["aws.s3"], detail_type=["Object Created"], detail=detail)


def ensure_bucket_events(pipeline: Pipeline, bucket: s3.IBucket) -> None:
    """``Object Created`` events reach EventBridge only from a bucket whose notifications say
    so: a bucket defined in the app is switched on (on the bucket itself, or through the
    notifications the AWS CDK already manages for it); an imported one is a warning."""
    cfn = bucket.node.default_child
    if not isinstance(cfn, s3.CfnBucket):
        cdk.Annotations.of(pipeline).add_warning_v2(
            BUCKET_EVENTS_UNKNOWN_WARNING,
            f"bucket {bucket.node.path} is imported: Object Created events reach EventBridge "
            "only when its notifications have EventBridge turned on (S3 console: Properties > "
            "Event notifications > Amazon EventBridge, or PutBucketNotificationConfiguration "
            "with EventBridgeConfiguration). Turn it on where the bucket is defined.",
        )
        return
    notifications = bucket.node.try_find_child("Notifications")
    if notifications is not None and notifications.node.try_find_child("Resource") is not None:
        # the AWS CDK writes this bucket's notifications with a custom resource: add it there
        bucket.enable_event_bridge_notification()
        return
    cfn.add_property_override(
        "NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True
    )
