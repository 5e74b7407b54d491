"""Endpoint with asynchronous inference: the configuration, the execution role's and the
caller's grants, scaling on the queue down to zero and back, and every rule SageMaker enforces.

One app for the module (synth with the four cdk-nag packs is the slow part).
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Annotations, Match
from cdk_testing import cfn_lint

from sagemaker_constructs.compliance import add_compliance_checks
from sagemaker_constructs.endpoint import (
    AsyncInference,
    DataCapture,
    Endpoint,
    ProductionVariant,
    ServerlessVariant,
    VariantAutoscaling,
)
from sagemaker_constructs.model import (
    ContainerDefinition,
    ContainerImage,
    ContainerMode,
    Model,
    ModelData,
)
from sagemaker_constructs.roles import ScopedRole

ENV = cdk.Environment(account="111111111111", region="us-east-1")
DLC = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3-cpu-py311"


class Synthesized:
    def __init__(self, stack: cdk.Stack, template: dict[str, Any], **objects: Any) -> None:
        self.stack = stack
        self.json = template
        self.objects = objects

    def logical_id(self, construct: Any) -> str:
        return self.stack.get_logical_id(construct.node.default_child or construct)

    def props(self, construct: Any) -> dict[str, Any]:
        return self.json["Resources"][self.logical_id(construct)]["Properties"]  # type: ignore[no-any-return]

    def resources(self, type_name: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.json["Resources"].items() if r["Type"] == type_name}

    def statements(self, policy: iam.ManagedPolicy) -> list[dict[str, Any]]:
        return self.props(policy)["PolicyDocument"]["Statement"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """GIVEN an asynchronous endpoint with topics, keys, scaling and a caller, WHEN synthesized
    with every check."""
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("endpoint-async")))
    stack = cdk.Stack(app, "AsyncEndpoints", env=ENV)
    bucket_key = kms.Key(stack, "BucketKey", enable_key_rotation=True)
    bucket = s3.Bucket.from_bucket_attributes(
        stack, "Bucket", bucket_name="async-bucket", encryption_key=bucket_key
    )
    output_key = kms.Key(stack, "OutputKey", enable_key_rotation=True)
    topic_key = kms.Key(stack, "TopicKey", enable_key_rotation=True)
    success = sns.Topic(stack, "Success", master_key=topic_key, enforce_ssl=True)
    errors = sns.Topic.from_topic_arn(
        stack, "Errors", "arn:aws:sns:us-east-1:111111111111:async-errors"
    )
    model = Model(
        stack,
        "Model",
        containers=[ContainerDefinition(image=ContainerImage.from_registry(DLC))],
        network_isolation=True,
    )
    endpoint = Endpoint(
        stack,
        "Async",
        endpoint_name="async-classifier",
        variants=[
            ProductionVariant(variant_name="main", model=model, instance_type="ml.m5.xlarge")
        ],
        async_inference=AsyncInference(
            bucket=bucket,
            output_prefix="results",
            failure_prefix="failures",
            input_prefix="requests",
            kms_key=output_key,
            success_topic=success,
            error_topic=errors,
            include_response_in_notifications=True,
            max_concurrent_invocations_per_instance=4,
        ),
        data_capture=DataCapture(
            destination_bucket=bucket,
            prefix="capture",
            json_content_types=["application/json", "application/jsonlines"],
            csv_content_types=["text/csv"],
        ),
    )
    scaling = endpoint.scale_async_on_backlog("main", max_capacity=4, target_backlog_per_instance=3)
    defaults = Endpoint(
        stack,
        "Defaults",
        variants=[
            ProductionVariant(variant_name="only", model=model, instance_type="ml.c5.xlarge")
        ],
        async_inference=AsyncInference(bucket=s3.Bucket.from_bucket_name(stack, "Plain", "plain")),
    )
    defaults.scale_async_on_backlog("only", min_capacity=1, max_capacity=2, scale_up_from_zero=True)
    imported = Endpoint(
        stack,
        "ImportedModel",
        endpoint_name="imported-model",
        variants=[
            ProductionVariant(
                variant_name="only",
                model=Model.from_model_name(stack, "Existing", "existing"),
                instance_type="ml.c5.xlarge",
            )
        ],
        async_inference=AsyncInference(bucket=bucket),
        alarms=False,
        dashboard=False,
    )
    caller = ScopedRole(
        stack,
        "Caller",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description="submits asynchronous requests",
    )
    grant = endpoint.grant_invoke_async(caller.grantee)

    add_compliance_checks(app)
    assembly = app.synth()  # raises on any unacknowledged cdk-nag finding
    return Synthesized(
        stack,
        assembly.get_stack_by_name("AsyncEndpoints").template,
        endpoint=endpoint,
        defaults=defaults,
        imported=imported,
        scaling=scaling,
        model=model,
        caller=caller,
        grant=grant,
        bucket_key=bucket_key,
        output_key=output_key,
        topic_key=topic_key,
        success=success,
    )


def _ref(synth: Synthesized, construct: Any, attribute: str = "Arn") -> dict[str, Any]:
    return {"Fn::GetAtt": [synth.logical_id(construct), attribute]}


# ---------------------------------------------------------------------------- configuration


def test_async_inference_config(synth: Synthesized) -> None:
    config = synth.props(synth.objects["endpoint"].endpoint_config)["AsyncInferenceConfig"]
    assert config == {
        "OutputConfig": {
            "S3OutputPath": "s3://async-bucket/results",
            "S3FailurePath": "s3://async-bucket/failures",
            "KmsKeyId": _ref(synth, synth.objects["output_key"]),
            "NotificationConfig": {
                "SuccessTopic": {"Ref": synth.logical_id(synth.objects["success"])},
                "ErrorTopic": "arn:aws:sns:us-east-1:111111111111:async-errors",
                "IncludeInferenceResponseIn": [
                    "SUCCESS_NOTIFICATION_TOPIC",
                    "ERROR_NOTIFICATION_TOPIC",
                ],
            },
        },
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4},
    }


def test_defaults_write_under_async_inference_prefixes(synth: Synthesized) -> None:
    config = synth.props(synth.objects["defaults"].endpoint_config)["AsyncInferenceConfig"]
    assert config == {
        "OutputConfig": {
            "S3OutputPath": "s3://plain/async-inference/output",
            "S3FailurePath": "s3://plain/async-inference/failure",
        }
    }


def test_data_capture_content_types(synth: Synthesized) -> None:
    capture = synth.props(synth.objects["endpoint"].endpoint_config)["DataCaptureConfig"]
    assert capture["CaptureContentTypeHeader"] == {
        "CsvContentTypes": ["text/csv"],
        "JsonContentTypes": ["application/json", "application/jsonlines"],
    }


# ---------------------------------------------------------------------------- grants


def _objects(prefix: str) -> dict[str, Any]:
    return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":s3:::async-bucket/{prefix}/*"]]}


def _statement(statements: list[dict[str, Any]], action: str) -> dict[str, Any]:
    found = [
        s
        for s in statements
        if action == s["Action"] or (isinstance(s["Action"], list) and action in s["Action"])
    ]
    assert len(found) == 1, (action, statements)
    return found[0]


def test_the_models_role_reads_requests_and_writes_results(synth: Synthesized) -> None:
    model: Model = synth.objects["model"]
    policies = [
        p
        for p in synth.resources("AWS::IAM::ManagedPolicy").values()
        if {"Ref": synth.logical_id(model.role)} in p["Properties"].get("Roles", [])
    ]
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    read = [
        s
        for s in statements
        if s["Action"] == "s3:GetObject" and s["Resource"] == _objects("requests")
    ]
    assert len(read) == 1
    # (the model also serves the endpoint "Defaults", on the bucket "plain")
    write = [s for s in statements if s["Resource"] == [_objects("results"), _objects("failures")]]
    assert [s["Action"] for s in write] == [["s3:PutObject", "s3:AbortMultipartUpload"]]
    publish = [s for s in statements if s["Action"] == "sns:Publish"]
    assert sorted(str(s["Resource"]) for s in publish) == sorted(
        [
            str({"Ref": synth.logical_id(synth.objects["success"])}),
            "arn:aws:sns:us-east-1:111111111111:async-errors",
        ]
    )
    kms_statements = [s for s in statements if str(s["Action"]).count("kms:") > 0]
    keys = {str(s["Resource"]) for s in kms_statements}
    for key in ("bucket_key", "output_key", "topic_key"):
        assert str(_ref(synth, synth.objects[key])) in keys, key


def test_the_caller_uploads_invokes_and_reads_results(synth: Synthesized) -> None:
    caller: ScopedRole = synth.objects["caller"]
    statements = synth.statements(caller.policy)
    invoke = _statement(statements, "sagemaker:InvokeEndpointAsync")
    assert invoke["Resource"] == {"Ref": synth.logical_id(synth.objects["endpoint"].resource)}
    put = _statement(statements, "s3:PutObject")
    assert put["Resource"] == _objects("requests")
    get = _statement(statements, "s3:GetObject")
    assert get["Resource"] == [_objects("results"), _objects("failures")]
    keys = {str(s["Resource"]) for s in statements if "kms:" in str(s["Action"])}
    assert keys == {
        str(_ref(synth, synth.objects["bucket_key"])),
        str(_ref(synth, synth.objects["output_key"])),
    }
    assert synth.objects["grant"].success


def test_an_imported_models_role_is_left_to_the_user_with_a_warning(synth: Synthesized) -> None:
    annotations = Annotations.from_stack(synth.stack)
    annotations.has_warning(
        "/AsyncEndpoints/ImportedModel",
        Match.string_like_regexp("imported model cannot be granted"),
    )


# ---------------------------------------------------------------------------- scaling


def test_scaling_tracks_the_backlog_per_instance_from_zero(synth: Synthesized) -> None:
    scaling = synth.objects["scaling"]
    assert synth.props(scaling.target) == {
        "ServiceNamespace": "sagemaker",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "ResourceId": {
            "Fn::Join": [
                "",
                [
                    "endpoint/",
                    {
                        "Fn::GetAtt": [
                            synth.logical_id(synth.objects["endpoint"].resource),
                            "EndpointName",
                        ]
                    },
                    "/variant/main",
                ],
            ]
        },
        "MinCapacity": 0,
        "MaxCapacity": 4,
    }
    tracking = synth.props(scaling.backlog_policy)["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 3
    assert tracking["ScaleInCooldown"] == 600
    assert tracking["ScaleOutCooldown"] == 300
    metric = tracking["CustomizedMetricSpecification"]
    assert metric["MetricName"] == "ApproximateBacklogSizePerInstance"
    assert metric["Namespace"] == "AWS/SageMaker"
    assert metric["Statistic"] == "Average"
    assert [d["Name"] for d in metric["Dimensions"]] == ["EndpointName"]
    assert synth.objects["endpoint"].scalable_targets["main"] is scaling.target


def test_a_step_policy_on_has_backlog_without_capacity_wakes_the_endpoint(
    synth: Synthesized,
) -> None:
    scaling = synth.objects["scaling"]
    step = synth.props(scaling.wake_policy)
    assert step["PolicyType"] == "StepScaling"
    assert step["StepScalingPolicyConfiguration"] == {
        "AdjustmentType": "ChangeInCapacity",
        "MetricAggregationType": "Average",
        "Cooldown": 300,
        "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
    }
    alarm = synth.props(scaling.wake_alarm)
    assert alarm["MetricName"] == "HasBacklogWithoutCapacity"
    assert alarm["Namespace"] == "AWS/SageMaker"
    assert alarm["Statistic"] == "Average"
    assert alarm["Period"] == 60
    assert alarm["EvaluationPeriods"] == 2
    assert alarm["DatapointsToAlarm"] == 2
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "missing"
    assert alarm["AlarmActions"] == [{"Ref": synth.logical_id(scaling.wake_policy)}]


def test_no_wake_policy_when_the_minimum_is_above_zero(synth: Synthesized) -> None:
    target = synth.objects["defaults"].scalable_targets["only"]
    assert synth.props(target)["MinCapacity"] == 1
    policies = [
        p
        for p in synth.resources("AWS::ApplicationAutoScaling::ScalingPolicy").values()
        if p["Properties"]["ScalingTargetId"] == {"Ref": synth.logical_id(target)}
    ]
    assert [p["Properties"]["PolicyType"] for p in policies] == ["TargetTrackingScaling"]


# ---------------------------------------------------------------------------- operations


def test_an_async_endpoint_alarms_on_its_backlog_and_its_5xx_average(synth: Synthesized) -> None:
    endpoint = synth.objects["endpoint"]
    assert sorted(endpoint.alarms) == ["BacklogAge", "mainErrorRate", "mainModelLatency"]
    backlog = synth.props(endpoint.alarms["BacklogAge"])
    assert backlog["MetricName"] == "ApproximateAgeOfOldestRequest"
    assert backlog["Statistic"] == "Maximum"
    assert backlog["Threshold"] == 1800
    errors = synth.props(endpoint.alarms["mainErrorRate"])
    assert errors["MetricName"] == "Invocation5XXErrors"
    assert errors["Statistic"] == "Average"
    latency = synth.props(endpoint.alarms["mainModelLatency"])
    assert latency["Threshold"] == 15 * 60 * 1_000_000


def test_the_metric_helpers_of_the_queue(synth: Synthesized) -> None:
    endpoint = synth.objects["endpoint"]
    for method, name, statistic in (
        ("metric_approximate_backlog_size", "ApproximateBacklogSize", "Average"),
        (
            "metric_approximate_backlog_size_per_instance",
            "ApproximateBacklogSizePerInstance",
            "Average",
        ),
        ("metric_has_backlog_without_capacity", "HasBacklogWithoutCapacity", "Average"),
        ("metric_approximate_age_of_oldest_request", "ApproximateAgeOfOldestRequest", "Maximum"),
    ):
        metric = getattr(endpoint, method)()
        assert metric.metric_name == name
        assert metric.namespace == "AWS/SageMaker"
        assert metric.statistic == statistic
        assert metric.period.to_seconds() == 60
        assert list(synth.stack.resolve(metric.dimensions)) == ["EndpointName"]


def test_template_passes_cfn_lint(synth: Synthesized) -> None:
    assert cfn_lint(synth.json, "us-east-1") == []


# ---------------------------------------------------------------------------- rules


def _stack() -> cdk.Stack:
    return cdk.Stack(cdk.App(), "Stack", env=ENV)


def _variant(stack: cdk.Stack, name: str = "main", **kwargs: Any) -> ProductionVariant:
    if "model" not in kwargs:
        kwargs["model"] = Model.from_model_name(stack, f"M{name}", "existing")
    kwargs.setdefault("instance_type", "ml.m5.large")
    return ProductionVariant(variant_name=name, **kwargs)


def _async(stack: cdk.Stack, **kwargs: Any) -> AsyncInference:
    return AsyncInference(bucket=s3.Bucket.from_bucket_name(stack, "B", "bucket"), **kwargs)


def _endpoint(stack: cdk.Stack | None = None, **kwargs: Any) -> Endpoint:
    stack = stack or _stack()
    if "variants" not in kwargs:
        kwargs["variants"] = [_variant(stack)]
    if "async_inference" not in kwargs:
        kwargs["async_inference"] = _async(stack)
    return Endpoint(stack, "E", **kwargs)


def test_fails_with_a_serverless_variant() -> None:
    stack = _stack()
    only = ServerlessVariant(
        variant_name="only", model=Model.from_model_name(stack, "S", "existing")
    )
    with pytest.raises(
        ValueError,
        match=r"async_inference='<AsyncInference>': asynchronous inference runs on instances; "
        r"SageMaker rejects it with a serverless variant\. Fix: use a ProductionVariant",
    ):
        _endpoint(stack, variants=[only])


def test_fails_with_more_than_one_variant() -> None:
    stack = _stack()
    with pytest.raises(
        ValueError,
        match=r"async_inference, variants='<2 variants>': an asynchronous endpoint has exactly "
        r"one production variant\. Fix: host each model",
    ):
        _endpoint(stack, variants=[_variant(stack, "a"), _variant(stack, "b")])


def test_fails_with_a_multi_model_container() -> None:
    stack = _stack()
    bucket = s3.Bucket.from_bucket_name(stack, "Models", "models")
    model = Model(
        stack,
        "Multi",
        containers=[
            ContainerDefinition(
                image=ContainerImage.from_registry(DLC),
                model_data=ModelData.from_bucket(bucket, "mm/"),
                mode=ContainerMode.MULTI_MODEL,
            )
        ],
    )
    with pytest.raises(ValueError, match=r"does not run multi-model containers asynchronously"):
        _endpoint(stack, variants=[_variant(stack, model=model)])


def test_fails_with_variant_autoscaling() -> None:
    stack = _stack()
    scaled = _variant(
        stack,
        autoscaling=VariantAutoscaling(max_capacity=2, target_invocations_per_instance=10),
    )
    with pytest.raises(
        ValueError,
        match=r"variants\[0\]\.autoscaling='<VariantAutoscaling>': an asynchronous endpoint "
        r"publishes no InvocationsPerInstance.*Fix: remove autoscaling and call "
        r"endpoint\.scale_async_on_backlog",
    ):
        _endpoint(stack, variants=[scaled])


@pytest.mark.parametrize(
    ("argument", "value", "rule"),
    [
        ("output_prefix", "/results", "without a leading or trailing '/'"),
        ("failure_prefix", "failures/", "without a leading or trailing '/'"),
        ("input_prefix", "", "without a leading or trailing '/'"),
        ("output_prefix", "a\nb", "must not hold a line break"),
        ("output_prefix", "x" * 507, r"must be at most 512 characters \(this one has 519\)"),
    ],
)
def test_fails_with_a_bad_prefix(argument: str, value: str, rule: str) -> None:
    stack = _stack()
    with pytest.raises(ValueError, match=rf"async_inference\.{argument}=.*{rule}"):
        _endpoint(stack, async_inference=_async(stack, **{argument: value}))


def test_a_prefix_beside_an_unknown_bucket_name_counts_63_characters() -> None:
    stack = _stack()
    bucket = s3.Bucket.from_bucket_name(stack, "T", cdk.Fn.import_value("BucketName"))
    with pytest.raises(ValueError, match=r"this one has 513, counting a bucket name of 63"):
        _endpoint(stack, async_inference=AsyncInference(bucket=bucket, output_prefix="x" * 444))
    _endpoint(
        _stack(),
        async_inference=AsyncInference(
            bucket=s3.Bucket.from_bucket_name(_stack(), "U", cdk.Fn.import_value("B")),
            output_prefix="x" * 443,
        ),
    )


def test_fails_when_the_response_is_included_without_a_topic() -> None:
    stack = _stack()
    with pytest.raises(
        ValueError,
        match=r"async_inference\.include_response_in_notifications=True: needs a topic",
    ):
        _endpoint(stack, async_inference=_async(stack, include_response_in_notifications=True))


@pytest.mark.parametrize("value", [0, 1001])
def test_fails_with_concurrency_out_of_range(value: int) -> None:
    stack = _stack()
    with pytest.raises(
        ValueError,
        match=rf"max_concurrent_invocations_per_instance={value}: must be between 1 and 1000",
    ):
        _endpoint(
            stack, async_inference=_async(stack, max_concurrent_invocations_per_instance=value)
        )


def test_fails_with_a_wrong_type() -> None:
    stack = _stack()
    with pytest.raises(
        ValueError,
        match=r"Invalid arguments for AsyncInference.*\n  - bucket='b': must be aws_s3\.IBucket",
    ):
        AsyncInference(bucket="b")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"async_inference=7"):
        _endpoint(stack, async_inference=7)


def test_async_methods_fail_on_a_real_time_endpoint() -> None:
    stack = _stack()
    endpoint = _endpoint(stack, async_inference=None)
    role = iam.Role(stack, "R", assumed_by=iam.AccountRootPrincipal())
    with pytest.raises(ValueError, match=r"grant_invoke_async: the endpoint is real-time"):
        endpoint.grant_invoke_async(role)
    with pytest.raises(ValueError, match=r"scale_async_on_backlog: the endpoint is real-time"):
        endpoint.scale_async_on_backlog("main", max_capacity=2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_capacity": 0}, r"max_capacity=0: must be at least 1"),
        ({"max_capacity": 2, "min_capacity": -1}, r"min_capacity=-1: must be at least 0"),
        (
            {"max_capacity": 2, "min_capacity": 3},
            r"min_capacity, max_capacity='min=3, initial=1, max=2'",
        ),
        ({"max_capacity": 2, "target_backlog_per_instance": 0}, r"must be above 0"),
        (
            {"max_capacity": 2, "scale_in_cooldown": cdk.Duration.millis(1500)},
            r"scale_in_cooldown='1 second 500 millis': must be a whole number of seconds",
        ),
        (
            {"max_capacity": 2, "scale_out_cooldown": cdk.Duration.days(2)},
            r"scale_out_cooldown=172800: must be between 0 and 86400 seconds",
        ),
    ],
)
def test_backlog_scaling_rules(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _endpoint().scale_async_on_backlog("main", **kwargs)


def test_backlog_scaling_needs_room_for_the_initial_instances() -> None:
    stack = _stack()
    endpoint = _endpoint(stack, variants=[_variant(stack, initial_instance_count=3)])
    with pytest.raises(ValueError, match=r"min=0, initial=3, max=2"):
        endpoint.scale_async_on_backlog("main", max_capacity=2)


def test_backlog_scaling_fails_for_burstable_types_unknown_variants_and_twice() -> None:
    stack = _stack()
    burstable = _endpoint(stack, variants=[_variant(stack, instance_type="ml.t2.medium")])
    with pytest.raises(ValueError, match=r"cannot scale burstable types \(ml\.t2\.medium\)"):
        burstable.scale_async_on_backlog("main", max_capacity=2)
    endpoint = _endpoint()
    with pytest.raises(ValueError, match=r"variant_name='other': not a variant"):
        endpoint.scale_async_on_backlog("other", max_capacity=2)
    endpoint.scale_async_on_backlog("main", max_capacity=2)
    with pytest.raises(ValueError, match=r"the variant is scaled already"):
        endpoint.scale_async_on_backlog("main", max_capacity=3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"json_content_types": ["application json"]},
            r"json_content_types\[0\]='application json': must be a content type",
        ),
        (
            {"csv_content_types": ["text/csv+"]},
            r"csv_content_types\[0\]='text/csv\+': must be a content type",
        ),
        (
            {"csv_content_types": [f"text/c{i}" for i in range(11)]},
            r"csv_content_types='<11 items>': must hold between 0 and 10 items",
        ),
        (
            {"json_content_types": ["application/" + "j" * 250]},
            r"json_content_types\[0\]=.*at most 256 characters",
        ),
    ],
)
def test_data_capture_content_type_rules(kwargs: dict[str, Any], message: str) -> None:
    stack = _stack()
    capture = DataCapture(
        destination_bucket=s3.Bucket.from_bucket_name(stack, "C", "capture"), **kwargs
    )
    with pytest.raises(ValueError, match=message):
        _endpoint(stack, async_inference=None, data_capture=capture)
