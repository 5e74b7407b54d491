"""Pipeline: started by EventBridge events (new objects under a prefix, any event pattern).

One app is synthesized for the module (all four cdk-nag packs and the wildcard check run);
validation tests only construct, in fresh stacks; the object-created pattern is matched by
moto's EventBridge against S3 events as S3 sends them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Annotations, Match
from cdk_testing import cdk_json_context, cfn_lint
from moto import mock_aws

from sagemaker_constructs import add_compliance_checks
from sagemaker_constructs._pipeline_events import BUCKET_EVENTS_UNKNOWN_WARNING
from sagemaker_constructs.pipeline import Pipeline, PipelineDefinition
from sagemaker_constructs.roles import ScopedRole
from stacks.buckets import LoggedBucket

ENV = cdk.Environment(account="111111111111", region="us-east-1")
REGION = "us-east-1"
LANDING = "landing-111111111111"
PIPELINE_ARNS = [
    {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, f":sagemaker:us-east-1:111111111111:pipeline/{n}"],
        ]
    }
    for n in ("ingest-pipeline", "Ingest-Pipeline")
]


def definition() -> dict[str, Any]:
    return {
        "Version": "2020-12-01",
        "Parameters": [
            {"Name": "InputBucket", "Type": "String", "DefaultValue": "none"},
            {"Name": "InputKey", "Type": "String", "DefaultValue": "none"},
            {"Name": "Mode", "Type": "String", "DefaultValue": "full"},
        ],
        "Steps": [
            {
                "Name": "Prepare",
                "Type": "Processing",
                "Arguments": {
                    "Input": {
                        "Std:Join": {
                            "On": "/",
                            "Values": [
                                "s3:/",
                                {"Get": "Parameters.InputBucket"},
                                {"Get": "Parameters.InputKey"},
                            ],
                        }
                    },
                    "Mode": {"Get": "Parameters.Mode"},
                },
            }
        ],
    }


@dataclass
class Synthesized:
    raw: dict[str, Any]
    stack: cdk.Stack
    pipeline: Pipeline
    rules: dict[str, events.Rule]
    landing: s3.Bucket

    def resource(self, construct: Any) -> dict[str, Any]:
        child = construct.node.default_child or construct
        value: dict[str, Any] = self.raw["Resources"][self.stack.get_logical_id(child)]
        return value


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """GIVEN a pipeline started by new objects under a prefix and by a custom event."""
    outdir = tmp_path_factory.mktemp("pipeline-events")
    app = cdk.App(outdir=str(outdir), context=cdk_json_context())  # the app's feature flags
    stack = cdk.Stack(app, "Events", env=ENV)
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    landing = LoggedBucket(
        stack,
        "Landing",
        key=key,
        removal_policy=cdk.RemovalPolicy.RETAIN,
        replication_reason="Test data lands here once; it is not replicated.",
    ).bucket
    cfn_landing = landing.node.default_child
    assert isinstance(cfn_landing, s3.CfnBucket)
    cfn_landing.bucket_name = LANDING
    job_role = ScopedRole(
        stack,
        "JobRole",
        assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
        description="SageMaker jobs",
    )
    pipeline = Pipeline(
        stack,
        "Ingest",
        definition=PipelineDefinition.from_dict(definition()),
        pipeline_name="Ingest-Pipeline",
        job_role=job_role.role,
    )
    rules = {
        # WHEN new objects under incoming/ start it with their bucket and key
        "objects": pipeline.start_on_object_created(
            "OnNewData",
            bucket=landing,
            prefix="incoming/",
            parameters={
                "InputBucket": "$.detail.bucket.name",
                "InputKey": events.EventField.from_path("$.detail.object.key"),
                "Mode": "incremental",
            },
        ),
        # ... and a custom event does, with retries of its own
        "custom": pipeline.start_on_event(
            "OnRequest",
            event_pattern=events.EventPattern(
                source=["com.example.ml"], detail_type=["Retrain Requested"]
            ),
            parameters={"Mode": "$.detail.mode"},
            max_event_age=cdk.Duration.hours(6),
            retry_attempts=10,
        ),
    }
    add_compliance_checks(app)
    app.synth()  # raises on any unacknowledged cdk-nag finding
    raw = json.loads((outdir / "Events.template.json").read_text())
    return Synthesized(raw, stack, pipeline, rules, landing)


def test_new_objects_under_the_prefix_start_the_pipeline(synth: Synthesized) -> None:
    rule = synth.resource(synth.rules["objects"])["Properties"]
    assert rule["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [synth.stack.resolve(synth.landing.bucket_name)]},
            "object": {"key": [{"prefix": "incoming/"}]},
        },
    }
    (target,) = rule["Targets"]
    assert target["Arn"] == PIPELINE_ARNS[0]
    assert target["SageMakerPipelineParameters"] == {
        "PipelineParameterList": [
            {"Name": "InputBucket", "Value": "$.detail.bucket.name"},
            {"Name": "InputKey", "Value": "$.detail.object.key"},
            {"Name": "Mode", "Value": "incremental"},
        ]
    }
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 3}
    assert "DeadLetterConfig" in target


def test_a_custom_event_starts_the_pipeline_with_its_retries(synth: Synthesized) -> None:
    rule = synth.resource(synth.rules["custom"])["Properties"]
    assert rule["EventPattern"] == {
        "source": ["com.example.ml"],
        "detail-type": ["Retrain Requested"],
    }
    (target,) = rule["Targets"]
    assert target["SageMakerPipelineParameters"] == {
        "PipelineParameterList": [{"Name": "Mode", "Value": "$.detail.mode"}]
    }
    assert target["RetryPolicy"] == {
        "MaximumEventAgeInSeconds": 21600,
        "MaximumRetryAttempts": 10,
    }


def test_the_bucket_sends_its_events_to_eventbridge(synth: Synthesized) -> None:
    properties = synth.resource(synth.landing)["Properties"]
    assert properties["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }
    # no custom resource was needed for it
    assert not [r for r in synth.raw["Resources"].values() if r["Type"].startswith("Custom::")]


def test_eventbridge_may_start_this_pipeline_only(synth: Synthesized) -> None:
    role = synth.pipeline.node.find_child("EventsRole")
    assert isinstance(role, ScopedRole)
    policy = synth.resource(role.policy)["Properties"]["PolicyDocument"]["Statement"]
    assert policy == [
        {"Action": "sagemaker:StartPipelineExecution", "Effect": "Allow", "Resource": PIPELINE_ARNS}
    ]
    trust = synth.resource(role.role)["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [
        {
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": "111111111111"}},
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
        }
    ]
    # AND both rules use that one role
    role_arn = synth.stack.resolve(role.role.role_arn)
    for rule in synth.rules.values():
        assert synth.resource(rule)["Properties"]["Targets"][0]["RoleArn"] == role_arn


def test_undelivered_events_go_to_an_encrypted_queue_only_these_rules_may_send_to(
    synth: Synthesized,
) -> None:
    queue = synth.pipeline.node.find_child("EventDeadLetters")
    assert isinstance(queue, sqs.Queue)
    properties = synth.resource(queue)["Properties"]
    assert properties["SqsManagedSseEnabled"] is True
    assert properties["MessageRetentionPeriod"] == 14 * 24 * 3600
    queue_arn = synth.stack.resolve(queue.queue_arn)
    policies = [r for r in synth.raw["Resources"].values() if r["Type"] == "AWS::SQS::QueuePolicy"]
    (policy,) = policies
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    sends = [s for s in statements if s["Action"] == "sqs:SendMessage"]
    assert {json.dumps(s["Condition"]["ArnEquals"]["aws:SourceArn"]) for s in sends} == {
        json.dumps(synth.stack.resolve(rule.rule_arn)) for rule in synth.rules.values()
    }
    assert all(s["Principal"] == {"Service": "events.amazonaws.com"} for s in sends)
    for rule in synth.rules.values():
        target = synth.resource(rule)["Properties"]["Targets"][0]
        assert target["DeadLetterConfig"] == {"Arn": queue_arn}


def test_template_is_cfn_lint_clean(synth: Synthesized) -> None:
    assert cfn_lint(synth.raw, REGION) == []


# ------------------------------------------------------------------ in moto


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def _object_created(bucket: str, key: str) -> dict[str, Any]:
    """The event S3 sends to EventBridge for a new object (as AWS documents it)."""
    return {
        "Source": "aws.s3",
        "DetailType": "Object Created",
        "Resources": [f"arn:aws:s3:::{bucket}"],
        "Detail": json.dumps(
            {
                "version": "0",
                "bucket": {"name": bucket},
                "object": {"key": key, "size": 5, "etag": "b1946ac92492d2347c6235b4d2611184"},
                "request-id": "N4N7GDK58NMKJ12R",
                "requester": "111111111111",
                "reason": "PutObject",
            }
        ),
        "Time": datetime.now(),
    }


def test_the_synthesized_pattern_matches_new_objects_under_the_prefix_only(
    synth: Synthesized, aws: None
) -> None:
    """GIVEN the rule's pattern as synthesized (the bucket's name filled in), in moto, with a
    queue standing in for the pipeline; WHEN S3 sends Object Created events; THEN only those
    of the landing bucket under the prefix are delivered."""
    pattern = synth.resource(synth.rules["objects"])["Properties"]["EventPattern"]
    pattern["detail"]["bucket"]["name"] = [LANDING]
    eventbridge = boto3.client("events", region_name=REGION)
    sqs_client = boto3.client("sqs", region_name=REGION)
    queue_url = sqs_client.create_queue(QueueName="pipeline-starts")["QueueUrl"]
    queue_arn = sqs_client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    eventbridge.put_rule(Name="on-new-data", EventPattern=json.dumps(pattern))
    eventbridge.put_targets(Rule="on-new-data", Targets=[{"Id": "queue", "Arn": queue_arn}])

    result = eventbridge.put_events(
        Entries=[
            _object_created(LANDING, "other/ignored.csv"),
            _object_created("another-bucket", "incoming/ignored.csv"),
            _object_created(LANDING, "incoming/2024/01/data.csv"),
        ]
    )
    assert result["FailedEntryCount"] == 0
    messages = sqs_client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    delivered = [json.loads(m["Body"]) for m in messages.get("Messages", [])]
    assert [e["detail"]["object"]["key"] for e in delivered] == ["incoming/2024/01/data.csv"]


# ------------------------------------------------------------------ validation


def build() -> Pipeline:
    stack = cdk.Stack(env=ENV)
    job_role = iam.Role(stack, "Job", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    return Pipeline(
        stack,
        "Pipeline",
        definition=PipelineDefinition.from_dict(definition()),
        job_role=job_role,
    )


PATTERN = events.EventPattern(source=["com.example.ml"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"event_pattern": events.EventPattern()}, r"event_pattern='EventPattern\(\)': must match"),
        (
            {"parameters": {"Unknown": "x"}},
            r"parameters='Unknown': is not a parameter the definition declares.*InputBucket",
        ),
        (
            {"parameters": {"Mode": "$detail.mode"}},
            r"parameters\[Mode\]='\$detail.mode': is not a JSON path EventBridge resolves",
        ),
        (
            {"parameters": {"Mode": "$.detail['mode']"}},
            r"parameters\[Mode\]=.*is not a JSON path",
        ),
        (
            {"parameters": {"InputKey": "s3://b/" + events.EventField.from_path("$.detail.k")}},
            r"parameters\[InputKey\]=.*an event field must be the whole value",
        ),
        ({"parameters": {"Mode": "m" * 1025}}, r"parameters\[Mode\]='<1025 characters>'"),
        (
            {"parameters": {f"P{i}": "x" for i in range(201)}},
            r"parameters='<201 items>': EventBridge passes at most 200",
        ),
        ({"max_event_age": cdk.Duration.seconds(30)}, r"max_event_age=30: must be between 60"),
        ({"max_event_age": cdk.Duration.days(2)}, r"max_event_age=172800: must be between"),
        ({"max_event_age": cdk.Duration.millis(90_500)}, r"must be a whole number of seconds"),
        ({"retry_attempts": 186}, r"retry_attempts=186: must be between 0 and 185"),
        ({"retry_attempts": -1}, r"retry_attempts=-1: must be between 0 and 185"),
    ],
)
def test_start_on_event_fails_when_an_argument_breaks_a_rule(
    kwargs: dict[str, Any], message: str
) -> None:
    props: dict[str, Any] = {"event_pattern": PATTERN, **kwargs}
    with pytest.raises(ValueError, match=rf"(?s)Pipeline.start_on_event 'Rule'.*{message}"):
        build().start_on_event("Rule", **props)


def test_start_on_event_fails_on_a_bad_type() -> None:
    with pytest.raises(ValueError, match=r"retry_attempts='3': must be a whole number"):
        build().start_on_event("Rule", event_pattern=PATTERN, retry_attempts="3")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("prefix", "message"),
    [("", r"prefix='': must not be empty"), ("/incoming/", r"prefix='/incoming/': S3 keys do not")],
)
def test_start_on_object_created_fails_on_a_bad_prefix(prefix: str, message: str) -> None:
    pipeline = build()
    bucket = s3.Bucket.from_bucket_name(cdk.Stack.of(pipeline), "B", "landing")
    with pytest.raises(
        ValueError, match=rf"(?s)Pipeline.start_on_object_created 'Rule'.*{message}"
    ):
        pipeline.start_on_object_created("Rule", bucket=bucket, prefix=prefix)


def test_an_imported_bucket_is_a_warning() -> None:
    pipeline = build()
    stack = cdk.Stack.of(pipeline)
    bucket = s3.Bucket.from_bucket_name(stack, "B", "landing")
    pipeline.start_on_object_created("Rule", bucket=bucket)
    warnings = Annotations.from_stack(stack).find_warning(
        "*", Match.string_like_regexp(f"bucket .*B is imported.*{BUCKET_EVENTS_UNKNOWN_WARNING}")
    )
    assert len(warnings) == 1


def test_a_bucket_whose_notifications_the_cdk_manages_gets_eventbridge_there() -> None:
    pipeline = build()
    stack = cdk.Stack.of(pipeline)
    bucket = s3.Bucket(stack, "Landing")
    bucket.add_object_created_notification(s3n.SqsDestination(sqs.Queue(stack, "Q")))
    pipeline.start_on_object_created("Rule", bucket=bucket)
    template = cdk.assertions.Template.from_stack(stack)
    template.has_resource_properties(
        "Custom::S3BucketNotifications",
        {"NotificationConfiguration": Match.object_like({"EventBridgeConfiguration": {}})},
    )


def test_parameters_of_a_definition_from_s3_are_not_checked() -> None:
    stack = cdk.Stack(env=ENV)
    role = iam.Role(stack, "R", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    bucket = s3.Bucket.from_bucket_name(stack, "B", "definitions")
    pipeline = Pipeline(
        stack, "P", definition=PipelineDefinition.from_bucket(bucket, "p.json"), role=role
    )
    rule = pipeline.start_on_event("Rule", event_pattern=PATTERN, parameters={"Any": "$.detail"})
    assert rule.rule_arn
