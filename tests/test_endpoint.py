"""Endpoint: variants, encryption, data capture, guardrails, retention, autoscaling, grants.

One app for the whole module (synth with the four cdk-nag packs is the slow part).
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match
from cdk_testing import cfn_lint

from sagemaker_constructs.compliance import add_compliance_checks
from sagemaker_constructs.endpoint import (
    CapacitySize,
    DataCapture,
    DeploymentGuardrails,
    Endpoint,
    EndpointBase,
    ProductionVariant,
    ServerlessVariant,
    TrafficRouting,
    VariantAutoscaling,
    VariantProperty,
)
from sagemaker_constructs.log_groups import allow_cloudwatch_logs
from sagemaker_constructs.model import ContainerDefinition, ContainerImage, Model
from sagemaker_constructs.roles import ScopedRole

ENV = cdk.Environment(account="111111111111", region="us-east-1")
DLC = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.16-cpu"


class Synthesized:
    def __init__(self, stack: cdk.Stack, template: dict[str, Any], **objects: Any) -> None:
        self.stack = stack
        self.json = template
        self.objects = objects

    def props(self, construct: Any) -> dict[str, Any]:
        logical_id = self.stack.get_logical_id(construct)
        return self.json["Resources"][logical_id]["Properties"]  # type: ignore[no-any-return]

    def endpoint(self, name: str) -> Endpoint:
        endpoint = self.objects[name]
        assert isinstance(endpoint, Endpoint)
        return endpoint

    def resources(self, type_name: str) -> list[dict[str, Any]]:
        return [r for r in self.json["Resources"].values() if r["Type"] == type_name]


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """GIVEN one stack holding an endpoint of every kind, WHEN synthesized with every check."""
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("endpoint")))
    stack = cdk.Stack(app, "Endpoints", env=ENV)

    def model(id: str) -> Model:
        return Model(
            stack, id, containers=[ContainerDefinition(image=ContainerImage.from_registry(DLC))]
        )

    blue, green = model("Blue"), model("Green")
    imported = Model.from_model_name(stack, "Imported", "existing-model")
    capture_key = kms.Key(stack, "CaptureKey", enable_key_rotation=True)
    capture_bucket = s3.Bucket.from_bucket_name(stack, "CaptureBucket", "capture-bucket")
    own_key = kms.Key(stack, "OwnKey", enable_key_rotation=True)
    alarm = cloudwatch.Alarm.from_alarm_arn(
        stack, "Latency", "arn:aws:cloudwatch:us-east-1:111111111111:alarm:green-latency"
    )
    errors = cloudwatch.Alarm.from_alarm_arn(
        stack, "Errors", "arn:aws:cloudwatch:us-east-1:111111111111:alarm:green-errors"
    )

    canary = Endpoint(
        stack,
        "Canary",
        endpoint_name="classifier",
        variants=[
            ProductionVariant(
                variant_name="blue",
                model=blue,
                instance_type="ml.m5.large",
                initial_instance_count=2,
                initial_variant_weight=9,
                volume_size_in_gb=30,
                container_startup_health_check_timeout=cdk.Duration.minutes(10),
                model_data_download_timeout=cdk.Duration.minutes(15),
                autoscaling=VariantAutoscaling(
                    min_capacity=2, max_capacity=6, target_invocations_per_instance=750
                ),
            ),
            ProductionVariant(
                variant_name="green",
                model=green,
                instance_type="ml.m5.large",
                initial_instance_count=2,
                initial_variant_weight=1,
            ),
        ],
        kms_key=own_key,
        data_capture=DataCapture(
            destination_bucket=capture_bucket,
            prefix="capture/classifier",
            sampling_percentage=25,
            capture_output=False,
            kms_key=capture_key,
        ),
        deployment_guardrails=DeploymentGuardrails(
            traffic_routing=TrafficRouting.canary(
                CapacitySize.capacity_percent(10), wait_interval=cdk.Duration.minutes(10)
            ),
            termination_wait=cdk.Duration.minutes(5),
            maximum_execution_timeout=cdk.Duration.hours(2),
            rollback_alarms=[alarm, errors],
        ),
        update_variant_properties_from_template=[VariantProperty.DESIRED_INSTANCE_COUNT],
    )
    linear = Endpoint(
        stack,
        "Linear",
        variants=[
            ProductionVariant(
                variant_name="main",
                model=imported,
                instance_type="ml.c5.xlarge",
                initial_instance_count=4,
            )
        ],
        deployment_guardrails=DeploymentGuardrails(
            traffic_routing=TrafficRouting.linear(
                CapacitySize.instance_count(1), wait_interval=cdk.Duration.seconds(0)
            )
        ),
        retain_variant_properties=False,
    )
    logs_key = kms.Key(stack, "LogsKey", enable_key_rotation=True)
    allow_cloudwatch_logs(logs_key)
    gpu = Endpoint(
        stack,
        "Gpu",
        endpoint_name="gpu-endpoint",
        variants=[ProductionVariant(variant_name="gpu", model=blue, instance_type="ml.g5.xlarge")],
        deployment_guardrails=DeploymentGuardrails(traffic_routing=TrafficRouting.all_at_once()),
        log_encryption_key=logs_key,
        log_retention_days=30,
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
    serverless = Endpoint(
        stack,
        "Serverless",
        endpoint_name=cdk.Fn.import_value("ServerlessEndpointName"),
        variants=[
            ServerlessVariant(
                variant_name="only",
                model=imported,
                memory_size_in_mb=4096,
                max_concurrency=50,
                provisioned_concurrency=5,
            )
        ],
    )
    existing = Endpoint.from_endpoint_name(stack, "Existing", "Legacy-Endpoint")
    caller = ScopedRole(
        stack,
        "Caller",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description="calls the endpoints",
    )
    canary.grant_invoke(caller.grantee)
    existing.grant_invoke(caller.grantee)

    add_compliance_checks(app)
    assembly = app.synth()  # raises on any unacknowledged cdk-nag finding
    return Synthesized(
        stack,
        assembly.get_stack_by_name("Endpoints").template,
        canary=canary,
        linear=linear,
        gpu=gpu,
        serverless=serverless,
        existing=existing,
        caller=caller,
        blue=blue,
        green=green,
        own_key=own_key,
        capture_key=capture_key,
        logs_key=logs_key,
    )


# ---------------------------------------------------------------------------- variants


def test_production_variants_carry_every_setting(synth: Synthesized) -> None:
    config = synth.props(synth.endpoint("canary").endpoint_config)
    blue, green = config["ProductionVariants"]
    assert blue == {
        "VariantName": "blue",
        "ModelName": {
            "Fn::GetAtt": [synth.stack.get_logical_id(synth.objects["blue"].resource), "ModelName"]
        },
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 2,
        "InitialVariantWeight": 9,
        "VolumeSizeInGB": 30,
        "ContainerStartupHealthCheckTimeoutInSeconds": 600,
        "ModelDataDownloadTimeoutInSeconds": 900,
    }
    assert green["VariantName"] == "green"
    assert green["InitialVariantWeight"] == 1


def test_traffic_share_is_weight_over_sum_of_weights(synth: Synthesized) -> None:
    canary = synth.endpoint("canary")
    assert canary.traffic_share("blue") == pytest.approx(0.9)
    assert canary.traffic_share("green") == pytest.approx(0.1)
    assert canary.variant_names == ["blue", "green"]
    with pytest.raises(ValueError, match=r"variant_name='red': not a variant of Endpoint 'Canary'"):
        canary.traffic_share("red")


def test_serverless_variant(synth: Synthesized) -> None:
    config = synth.props(synth.endpoint("serverless").endpoint_config)
    assert config["ProductionVariants"] == [
        {
            "VariantName": "only",
            "ModelName": "existing-model",
            "InitialVariantWeight": 1,
            "ServerlessConfig": {
                "MemorySizeInMB": 4096,
                "MaxConcurrency": 50,
                "ProvisionedConcurrency": 5,
            },
        }
    ]


# ---------------------------------------------------------------------------- names


def test_endpoint_named_only_when_asked(synth: Synthesized) -> None:
    assert synth.props(synth.endpoint("canary").resource)["EndpointName"] == "classifier"
    assert synth.props(synth.endpoint("serverless").resource)["EndpointName"] == {
        "Fn::ImportValue": "ServerlessEndpointName"
    }
    assert "EndpointName" not in synth.props(synth.endpoint("linear").resource)
    for name in ("canary", "linear"):
        assert "EndpointConfigName" not in synth.props(synth.endpoint(name).endpoint_config)


def test_endpoint_points_at_its_config(synth: Synthesized) -> None:
    endpoint = synth.endpoint("linear")
    config_id = synth.stack.get_logical_id(endpoint.endpoint_config)
    assert synth.props(endpoint.resource)["EndpointConfigName"] == {
        "Fn::GetAtt": [config_id, "EndpointConfigName"]
    }
    assert synth.stack.resolve(endpoint.endpoint_config_name) == {
        "Fn::GetAtt": [config_id, "EndpointConfigName"]
    }
    assert synth.stack.resolve(endpoint.endpoint_arn) == {
        "Ref": synth.stack.get_logical_id(endpoint.resource)
    }


# ---------------------------------------------------------------------------- encryption


def test_given_key_encrypts_storage(synth: Synthesized) -> None:
    config = synth.props(synth.endpoint("canary").endpoint_config)
    key_id = synth.stack.get_logical_id(synth.objects["own_key"].node.default_child)
    assert config["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_a_rotating_key_is_created_when_none_is_given(synth: Synthesized) -> None:
    for name in ("linear", "serverless"):
        endpoint = synth.endpoint(name)
        key = endpoint.kms_key
        assert isinstance(key, kms.Key)
        key_id = synth.stack.get_logical_id(key.node.default_child)  # type: ignore[arg-type]
        assert synth.props(endpoint.endpoint_config)["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
        assert synth.json["Resources"][key_id]["Properties"]["EnableKeyRotation"] is True


def test_no_storage_key_for_local_nvme_instance_types(synth: Synthesized) -> None:
    endpoint = synth.endpoint("gpu")
    assert endpoint.kms_key is None
    assert "KmsKeyId" not in synth.props(endpoint.endpoint_config)
    metadata = json.dumps(
        [
            e.data
            for e in endpoint.endpoint_config.node.metadata
            if e.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
        ]
    )
    assert "SageMakerEndpointConfigurationKMSKeyConfigured" in metadata
    assert "local NVMe storage" in metadata


# ---------------------------------------------------------------------------- logs


def _log_group(synth: Synthesized, name: str) -> tuple[str, dict[str, Any]]:
    group = synth.endpoint(name).log_group
    assert group is not None
    logical_id = synth.stack.get_logical_id(group.node.default_child)  # type: ignore[arg-type]
    return logical_id, synth.json["Resources"][logical_id]


def _key_arn(synth: Synthesized, key: Any) -> dict[str, Any]:
    return {"Fn::GetAtt": [synth.stack.get_logical_id(key.node.default_child), "Arn"]}


@pytest.mark.parametrize("name", ["canary", "gpu", "serverless"])
def test_a_named_endpoint_depends_on_its_own_log_group(synth: Synthesized, name: str) -> None:
    logical_id, _ = _log_group(synth, name)
    endpoint_id = synth.stack.get_logical_id(synth.endpoint(name).resource)
    assert logical_id in synth.json["Resources"][endpoint_id]["DependsOn"]


def test_the_log_group_is_named_after_the_endpoint(synth: Synthesized) -> None:
    assert _log_group(synth, "canary")[1]["Properties"]["LogGroupName"] == (
        "/aws/sagemaker/Endpoints/classifier"
    )
    assert _log_group(synth, "gpu")[1]["Properties"]["LogGroupName"] == (
        "/aws/sagemaker/Endpoints/gpu-endpoint"
    )
    # a name known at deploy time only still names the group before the endpoint exists
    assert _log_group(synth, "serverless")[1]["Properties"]["LogGroupName"] == {
        "Fn::Join": [
            "",
            ["/aws/sagemaker/Endpoints/", {"Fn::ImportValue": "ServerlessEndpointName"}],
        ]
    }


def test_the_given_log_key_and_retention_are_used(synth: Synthesized) -> None:
    _, group = _log_group(synth, "gpu")
    assert group["Properties"]["KmsKeyId"] == _key_arn(synth, synth.objects["logs_key"])
    assert group["Properties"]["RetentionInDays"] == 30
    assert group["DeletionPolicy"] == "Delete"


def test_by_default_logs_are_kept_a_year_and_retained(synth: Synthesized) -> None:
    for name in ("canary", "serverless"):
        _, group = _log_group(synth, name)
        assert group["Properties"]["RetentionInDays"] == 365
        assert group["DeletionPolicy"] == "Retain"


def _allows_cloudwatch_logs(synth: Synthesized, key: Any) -> bool:
    key_id = synth.stack.get_logical_id(key.node.default_child)
    statements = synth.json["Resources"][key_id]["Properties"]["KeyPolicy"]["Statement"]
    return any(
        s.get("Principal") == {"Service": "logs.us-east-1.amazonaws.com"} for s in statements
    )


def test_the_endpoints_own_storage_key_encrypts_its_logs(synth: Synthesized) -> None:
    endpoint = synth.endpoint("serverless")
    _, group = _log_group(synth, "serverless")
    assert group["Properties"]["KmsKeyId"] == _key_arn(synth, endpoint.kms_key)
    assert _allows_cloudwatch_logs(synth, endpoint.kms_key)
    assert endpoint.node.try_find_child("LogKey") is None


def test_a_given_storage_key_is_not_used_for_logs(synth: Synthesized) -> None:
    # the user's key may be imported or not allow CloudWatch Logs: a key of the endpoint's own
    endpoint = synth.endpoint("canary")
    log_key = endpoint.node.find_child("LogKey")
    _, group = _log_group(synth, "canary")
    assert group["Properties"]["KmsKeyId"] == _key_arn(synth, log_key)
    assert _allows_cloudwatch_logs(synth, log_key)
    assert not _allows_cloudwatch_logs(synth, synth.objects["own_key"])
    key_id = synth.stack.get_logical_id(log_key.node.default_child)  # type: ignore[arg-type]
    assert synth.json["Resources"][key_id]["Properties"]["EnableKeyRotation"] is True


def test_an_unnamed_endpoint_gets_no_log_group_and_a_warning(synth: Synthesized) -> None:
    assert synth.endpoint("linear").log_group is None
    groups = synth.resources("AWS::Logs::LogGroup")
    assert len(groups) == 3
    warnings = Annotations.from_stack(synth.stack).find_warning(
        "*", Match.string_like_regexp("sagemaker-constructs:endpoint-log-group")
    )
    assert [w.id for w in warnings] == ["/Endpoints/Linear"]


def test_every_log_group_is_encrypted_and_expires(synth: Synthesized) -> None:
    for group in synth.resources("AWS::Logs::LogGroup"):
        assert "KmsKeyId" in group["Properties"]
        assert "RetentionInDays" in group["Properties"]


# ---------------------------------------------------------------------------- data capture


def test_data_capture(synth: Synthesized) -> None:
    config = synth.props(synth.endpoint("canary").endpoint_config)
    key_id = synth.stack.get_logical_id(synth.objects["capture_key"].node.default_child)
    assert config["DataCaptureConfig"] == {
        "EnableCapture": True,
        "DestinationS3Uri": "s3://capture-bucket/capture/classifier",
        "InitialSamplingPercentage": 25,
        "CaptureOptions": [{"CaptureMode": "Input"}],
        "KmsKeyId": {"Fn::GetAtt": [key_id, "Arn"]},
    }


def test_models_may_write_captured_data(synth: Synthesized) -> None:
    for name in ("blue", "green"):
        scoped = synth.objects[name]._scoped
        document = synth.props(scoped.policy.node.default_child)["PolicyDocument"]
        statements = document["Statement"]
        put = [s for s in statements if s["Action"] == "s3:PutObject"]
        assert len(put) == 1
        assert "capture-bucket/capture/classifier/*" in json.dumps(put[0]["Resource"])
        assert any(s["Action"] == ["kms:Encrypt", "kms:GenerateDataKey"] for s in statements)


# ---------------------------------------------------------------------------- guardrails


def test_canary_guardrails_with_alarm_rollback(synth: Synthesized) -> None:
    endpoint = synth.props(synth.endpoint("canary").resource)
    assert endpoint["DeploymentConfig"] == {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
                "WaitIntervalInSeconds": 600,
            },
            "TerminationWaitInSeconds": 300,
            "MaximumExecutionTimeoutInSeconds": 7200,
        },
        "AutoRollbackConfiguration": {
            "Alarms": [{"AlarmName": "green-latency"}, {"AlarmName": "green-errors"}]
        },
    }


def test_linear_and_all_at_once_guardrails(synth: Synthesized) -> None:
    linear = synth.props(synth.endpoint("linear").resource)["DeploymentConfig"]
    assert linear == {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "LINEAR",
                "LinearStepSize": {"Type": "INSTANCE_COUNT", "Value": 1},
                "WaitIntervalInSeconds": 0,
            }
        }
    }
    gpu = synth.props(synth.endpoint("gpu").resource)["DeploymentConfig"]
    assert gpu["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"] == {
        "Type": "ALL_AT_ONCE",
        "WaitIntervalInSeconds": 0,
    }
    assert "DeploymentConfig" not in synth.props(synth.endpoint("serverless").resource)


# ---------------------------------------------------------------------------- retention


def test_variant_properties_are_retained_by_default(synth: Synthesized) -> None:
    canary = synth.props(synth.endpoint("canary").resource)
    assert canary["RetainAllVariantProperties"] is True
    assert canary["ExcludeRetainedVariantProperties"] == [
        {"VariantPropertyType": "DesiredInstanceCount"}
    ]
    gpu = synth.props(synth.endpoint("gpu").resource)
    assert gpu["RetainAllVariantProperties"] is True
    assert "ExcludeRetainedVariantProperties" not in gpu
    assert synth.props(synth.endpoint("linear").resource)["RetainAllVariantProperties"] is False


# ---------------------------------------------------------------------------- autoscaling


def test_autoscaling_tracks_invocations_per_instance(synth: Synthesized) -> None:
    canary = synth.endpoint("canary")
    assert list(canary.scalable_targets) == ["blue"]
    target = synth.props(canary.scalable_targets["blue"])
    assert target == {
        "ServiceNamespace": "sagemaker",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "ResourceId": {
            "Fn::Join": [
                "",
                [
                    "endpoint/",
                    {"Fn::GetAtt": [synth.stack.get_logical_id(canary.resource), "EndpointName"]},
                    "/variant/blue",
                ],
            ]
        },
        "MinCapacity": 2,
        "MaxCapacity": 6,
    }
    (policy,) = synth.resources("AWS::ApplicationAutoScaling::ScalingPolicy")
    config = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert config == {
        "TargetValue": 750,
        "PredefinedMetricSpecification": {
            "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
        },
        "ScaleInCooldown": 300,
        "ScaleOutCooldown": 60,
        "DisableScaleIn": False,
    }
    assert policy["Properties"]["PolicyType"] == "TargetTrackingScaling"
    # Application Auto Scaling's service-linked role: no role of ours.
    assert "RoleARN" not in target


# ---------------------------------------------------------------------------- grants


def test_grant_invoke_is_scoped_to_the_endpoint(synth: Synthesized) -> None:
    caller = synth.objects["caller"]
    statements = synth.props(caller.policy.node.default_child)["PolicyDocument"]["Statement"]
    actions = [
        "sagemaker:InvokeEndpoint",
        "sagemaker:InvokeEndpointAsync",
        "sagemaker:InvokeEndpointWithResponseStream",
    ]
    canary_ref = {"Ref": synth.stack.get_logical_id(synth.endpoint("canary").resource)}
    assert {"Action": actions, "Effect": "Allow", "Resource": canary_ref} in statements
    imported = [s for s in statements if s["Resource"] != canary_ref]
    assert len(imported) == 1
    assert imported[0]["Action"] == actions
    assert "endpoint/legacy-endpoint" in json.dumps(imported[0]["Resource"])


def test_iam_is_scoped(synth: Synthesized) -> None:
    assert synth.resources("AWS::IAM::Policy") == []
    for policy in synth.resources("AWS::IAM::ManagedPolicy"):
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            for action in [actions] if isinstance(actions, str) else actions:
                assert "*" not in action


def test_template_passes_cfn_lint(synth: Synthesized) -> None:
    assert cfn_lint(synth.json, "us-east-1") == []


# ---------------------------------------------------------------------------- metrics

METRICS = [
    ("metric_invocations", "AWS/SageMaker", "Invocations", "Sum"),
    ("metric_invocation_4xx_errors", "AWS/SageMaker", "Invocation4XXErrors", "Sum"),
    ("metric_invocation_5xx_errors", "AWS/SageMaker", "Invocation5XXErrors", "Sum"),
    ("metric_model_latency", "AWS/SageMaker", "ModelLatency", "Average"),
    ("metric_overhead_latency", "AWS/SageMaker", "OverheadLatency", "Average"),
    ("metric_cpu_utilization", "/aws/sagemaker/Endpoints", "CPUUtilization", "Average"),
    ("metric_memory_utilization", "/aws/sagemaker/Endpoints", "MemoryUtilization", "Average"),
    ("metric_gpu_utilization", "/aws/sagemaker/Endpoints", "GPUUtilization", "Average"),
]


@pytest.mark.parametrize(("method", "namespace", "name", "statistic"), METRICS)
def test_variant_metrics(
    synth: Synthesized, method: str, namespace: str, name: str, statistic: str
) -> None:
    canary = synth.endpoint("canary")
    metric: cloudwatch.Metric = getattr(canary, method)("green")
    assert metric.namespace == namespace
    assert metric.metric_name == name
    assert metric.statistic == statistic
    assert metric.period.to_seconds() == 60
    assert synth.stack.resolve(metric.dimensions) == {
        "EndpointName": {
            "Fn::GetAtt": [synth.stack.get_logical_id(canary.resource), "EndpointName"]
        },
        "VariantName": "green",
    }


def test_metric_options_override_defaults(synth: Synthesized) -> None:
    metric = synth.endpoint("canary").metric_model_latency(
        "blue", statistic="p99", period=cdk.Duration.minutes(5)
    )
    assert metric.statistic == "p99"
    assert metric.period.to_seconds() == 300


def test_metric_of_an_unknown_variant_fails(synth: Synthesized) -> None:
    with pytest.raises(ValueError, match=r"variant_name='purple': not a variant"):
        synth.endpoint("canary").metric_invocations("purple")


def test_imported_endpoint_metrics_and_names(synth: Synthesized) -> None:
    existing = synth.objects["existing"]
    assert isinstance(existing, EndpointBase)
    assert existing.endpoint_name == "Legacy-Endpoint"
    metric = existing.metric_invocation_5xx_errors("AllTraffic")
    assert metric.dimensions == {"EndpointName": "Legacy-Endpoint", "VariantName": "AllTraffic"}
    assert metric.statistic == "Sum"
