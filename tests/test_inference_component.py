"""ComponentEndpoint and InferenceComponent: templates, role, grants, scaling, metrics, checks.

One app for the whole module (synth with the four cdk-nag packs is the slow part).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match
from cdk_testing import cfn_lint, checkov_failures

from sagemaker_constructs.compliance import add_compliance_checks
from sagemaker_constructs.component_endpoint import (
    ComponentEndpoint,
    ComponentEndpointBase,
    ComponentVariant,
    ManagedInstanceScaling,
    RoutingStrategy,
)
from sagemaker_constructs.inference_component import (
    ComponentContainer,
    ComputeRequirements,
    CopyCapacity,
    CopyScaling,
    InferenceComponent,
    RollingUpdate,
)
from sagemaker_constructs.model import ContainerDefinition, ContainerImage, Model, ModelData
from sagemaker_constructs.roles import ScopedRole

ENV = cdk.Environment(account="111111111111", region="us-east-1")
DLC = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.4-gpu"


class Synthesized:
    def __init__(
        self, stack: cdk.Stack, template: dict[str, Any], outdir: Path, **objects: Any
    ) -> None:
        self.stack = stack
        self.json = template
        self.outdir = outdir
        self.objects = objects

    def logical_id(self, construct: Any) -> str:
        return self.stack.get_logical_id(construct.node.default_child or construct)

    def props(self, construct: Any) -> dict[str, Any]:
        return self.json["Resources"][self.stack.get_logical_id(construct)]["Properties"]  # type: ignore[no-any-return]

    def resources(self, type_name: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.json["Resources"].items() if r["Type"] == type_name}

    def __getitem__(self, name: str) -> Any:
        return self.objects[name]


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """GIVEN one stack with a GPU and a CPU endpoint of components, a component of each kind
    (a model, a container, on an imported endpoint), WHEN synthesized with every check."""
    outdir = tmp_path_factory.mktemp("inference-component")
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "Components", env=ENV)

    gpu = ComponentEndpoint(
        stack,
        "Llm",
        endpoint_name="llm",
        variants=[
            ComponentVariant(
                variant_name="gpu",
                instance_type="ml.g5.12xlarge",
                initial_instance_count=1,
                managed_instance_scaling=ManagedInstanceScaling(
                    min_instance_count=0, max_instance_count=4
                ),
                routing_strategy=RoutingStrategy.LEAST_OUTSTANDING_REQUESTS,
            )
        ],
    )
    cpu = ComponentEndpoint(
        stack,
        "Cpu",
        variants=[
            ComponentVariant(
                variant_name="cpu",
                instance_type="ml.m5.2xlarge",
                initial_instance_count=2,
                managed_instance_scaling=ManagedInstanceScaling(
                    min_instance_count=1, max_instance_count=6, enabled=False
                ),
                routing_strategy=RoutingStrategy.RANDOM,
                volume_size_in_gb=50,
            )
        ],
    )
    imported = ComponentEndpoint.from_endpoint_name(stack, "Existing", "Shared-Endpoint")

    chat_model = Model(
        stack,
        "ChatModel",
        containers=[ContainerDefinition(image=ContainerImage.from_registry(DLC))],
        network_isolation=True,
    )
    latency = cloudwatch.Alarm.from_alarm_arn(
        stack, "Latency", "arn:aws:cloudwatch:us-east-1:111111111111:alarm:chat-latency"
    )
    chat = InferenceComponent(
        stack,
        "Chat",
        endpoint=gpu,
        variant_name="gpu",
        model=chat_model,
        compute=ComputeRequirements(
            min_memory_required_in_mb=24576,
            max_memory_required_in_mb=32768,
            number_of_cpu_cores_required=4,
            number_of_accelerator_devices_required=1,
        ),
        copy_count=2,
        container_startup_health_check_timeout=cdk.Duration.minutes(15),
        model_data_download_timeout=cdk.Duration.minutes(20),
        rolling_update=RollingUpdate(
            maximum_batch_size=CopyCapacity.copy_count(1),
            wait_interval=cdk.Duration.minutes(5),
            maximum_execution_timeout=cdk.Duration.hours(1),
            rollback_maximum_batch_size=CopyCapacity.capacity_percent(100),
            rollback_alarms=[latency],
        ),
        scaling=CopyScaling(min_copies=0, max_copies=4, target_invocations_per_copy=10),
    )

    repository = ecr.Repository.from_repository_name(stack, "Repo", "embedder")
    artifacts = s3.Bucket.from_bucket_name(stack, "Artifacts", "model-artifacts")
    embed = InferenceComponent(
        stack,
        "Embed",
        endpoint=cpu,
        variant_name="cpu",
        inference_component_name="embedder",
        container=ComponentContainer(
            image=ContainerImage.from_ecr_repository(repository, "1.2.0"),
            artifacts=ModelData.from_bucket(artifacts, "embedder/model.tar.gz"),
            environment={"MODEL_ID": "embedder", "WORKERS": "2"},
        ),
        compute=ComputeRequirements(min_memory_required_in_mb=2048, number_of_cpu_cores_required=1),
        copy_count=2,
        rolling_update=RollingUpdate(
            maximum_batch_size=CopyCapacity.capacity_percent(50),
            wait_interval=cdk.Duration.seconds(0),
        ),
        scaling=CopyScaling(
            min_copies=1,
            max_copies=8,
            target_invocations_per_copy=300,
            scale_in_cooldown=cdk.Duration.minutes(10),
        ),
    )
    legacy = InferenceComponent(
        stack,
        "Legacy",
        endpoint=imported,
        variant_name="AllTraffic",
        container=ComponentContainer(
            image=ContainerImage.from_registry(
                "111111111111.dkr.ecr.us-east-1.amazonaws.com/legacy:3"
            )
        ),
        compute=ComputeRequirements(min_memory_required_in_mb=1024),
    )

    caller = ScopedRole(
        stack,
        "Caller",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description="calls the chat component",
    )
    chat.grant_invoke(caller.grantee)
    cpu.grant_invoke(caller.grantee)

    add_compliance_checks(app)
    assembly = app.synth()  # raises on any unacknowledged cdk-nag finding or '*' resource
    return Synthesized(
        stack,
        assembly.get_stack_by_name("Components").template,
        outdir,
        gpu=gpu,
        cpu=cpu,
        imported=imported,
        chat=chat,
        chat_model=chat_model,
        embed=embed,
        legacy=legacy,
        caller=caller,
    )


# ---------------------------------------------------------------------------- endpoint


def test_the_configuration_has_a_role_and_variants_without_models(synth: Synthesized) -> None:
    config = synth.props(synth["gpu"].endpoint_config)
    assert config["ExecutionRoleArn"] == {
        "Fn::GetAtt": [synth.logical_id(synth["gpu"].role), "Arn"]
    }
    assert config["ProductionVariants"] == [
        {
            "VariantName": "gpu",
            "InstanceType": "ml.g5.12xlarge",
            "InitialInstanceCount": 1,
            "ManagedInstanceScaling": {
                "Status": "ENABLED",
                "MinInstanceCount": 0,
                "MaxInstanceCount": 4,
            },
            "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"},
        }
    ]
    variant = synth.props(synth["cpu"].endpoint_config)["ProductionVariants"][0]
    assert variant["ManagedInstanceScaling"]["Status"] == "DISABLED"
    assert variant["RoutingConfig"] == {"RoutingStrategy": "RANDOM"}
    assert variant["VolumeSizeInGB"] == 50
    assert "ModelName" not in variant
    assert "InitialVariantWeight" not in variant


def test_endpoint_names_and_attributes(synth: Synthesized) -> None:
    gpu, cpu = synth["gpu"], synth["cpu"]
    assert synth.props(gpu.resource)["EndpointName"] == "llm"
    assert "EndpointName" not in synth.props(cpu.resource)
    assert synth.stack.resolve(cpu.endpoint_arn) == {
        "Ref": synth.stack.get_logical_id(cpu.resource)
    }
    assert synth.stack.resolve(cpu.endpoint_name) == {
        "Fn::GetAtt": [synth.stack.get_logical_id(cpu.resource), "EndpointName"]
    }
    assert gpu.variant_names == ["gpu"]
    assert gpu.hosts_inference_components is True
    imported = synth["imported"]
    assert isinstance(imported, ComponentEndpointBase)
    assert imported.variant_names is None
    assert synth.stack.resolve(imported.endpoint_arn) == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":sagemaker:us-east-1:111111111111:endpoint/shared-endpoint",
            ],
        ]
    }


def test_storage_key_only_where_ebs_volumes_exist(synth: Synthesized) -> None:
    assert synth["gpu"].kms_key is None
    assert "KmsKeyId" not in synth.props(synth["gpu"].endpoint_config)
    key_id = synth.logical_id(synth["cpu"].kms_key)
    assert synth.props(synth["cpu"].endpoint_config)["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert synth.json["Resources"][key_id]["Properties"]["EnableKeyRotation"] is True


def test_every_log_group_sagemaker_writes_is_created_encrypted_and_expiring(
    synth: Synthesized,
) -> None:
    """The named endpoint's group and each component's, before SageMaker would create them
    unencrypted and never expiring; the unnamed endpoint's cannot be, and a warning says so."""
    groups = {
        r["Properties"]["LogGroupName"]: (logical_id, r)
        for logical_id, r in synth.resources("AWS::Logs::LogGroup").items()
    }
    gpu, cpu = synth["gpu"], synth["cpu"]
    chat, embed, legacy = synth["chat"], synth["embed"], synth["legacy"]
    expected = {
        "/aws/sagemaker/Endpoints/llm": (gpu.resource, gpu.log_key),  # NVMe: a key of its own
        f"/aws/sagemaker/InferenceComponents/{chat.inference_component_name}": (
            chat.resource,
            gpu.log_key,
        ),
        "/aws/sagemaker/InferenceComponents/embedder": (embed.resource, cpu.kms_key),
        f"/aws/sagemaker/InferenceComponents/{legacy.inference_component_name}": (
            legacy.resource,
            legacy.node.find_child("LogKey"),
        ),
    }
    for name, (writer, key) in expected.items():
        logical_id, group = groups[synth.stack.resolve(name) if "${" in name else name]
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [synth.logical_id(key), "Arn"]}
        assert group["Properties"]["RetentionInDays"] == 365
        assert group["DeletionPolicy"] == "Retain"
        assert logical_id in synth.json["Resources"][synth.logical_id(writer)]["DependsOn"]
    assert not any("Endpoints" in n and n != "/aws/sagemaker/Endpoints/llm" for n in groups)
    warnings = Annotations.from_stack(synth.stack).find_warning(
        "*", Match.string_like_regexp("its log group /aws/sagemaker/Endpoints/<name> cannot")
    )
    assert [w.id for w in warnings] == [f"/{synth.stack.node.path}/Cpu"]


def test_the_configuration_waits_for_the_roles_permissions(synth: Synthesized) -> None:
    config = synth.json["Resources"][synth.stack.get_logical_id(synth["cpu"].endpoint_config)]
    policies = synth.resources("AWS::IAM::ManagedPolicy")
    own = [k for k in policies if k.startswith("CpuRole")]
    assert own
    assert set(own) <= set(config["DependsOn"])


def _statements(synth: Synthesized, prefix: str) -> list[dict[str, Any]]:
    return [
        statement
        for key, policy in synth.resources("AWS::IAM::ManagedPolicy").items()
        if key.startswith(prefix)
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _flat(value: Any) -> str:
    return json.dumps(value)


def test_the_execution_role_writes_logs_and_metrics_only(synth: Synthesized) -> None:
    statements = _statements(synth, "LlmRole")
    actions = sorted(a for s in statements for a in _as_list(s["Action"]))
    assert actions == [
        "cloudwatch:PutMetricData",
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:DescribeLogStreams",
        "logs:PutLogEvents",
    ]
    logs = next(s for s in statements if "logs:PutLogEvents" in _as_list(s["Action"]))
    assert "/aws/sagemaker/Endpoints/*" in _flat(logs["Resource"])
    assert "/aws/sagemaker/InferenceComponents/*" in _flat(logs["Resource"])


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_a_container_component_grants_the_endpoint_role_its_image_and_artifacts(
    synth: Synthesized,
) -> None:
    text = _flat(_statements(synth, "CpuRole"))
    assert "ecr:BatchGetImage" in text
    assert "repository/embedder" in text
    assert "s3:GetObject" in text
    assert "embedder/model.tar.gz" in text
    # the GPU endpoint runs a model: the model's own role reads it
    assert "ecr:BatchGetImage" not in _flat(_statements(synth, "LlmRole"))


def test_an_imported_endpoint_gets_warnings_naming_the_statements_its_role_needs(
    synth: Synthesized,
) -> None:
    warnings = Annotations.from_stack(synth.stack).find_warning(
        "/Components/Legacy", Match.string_like_regexp("Add statement to this resource's role")
    )
    assert warnings


# ---------------------------------------------------------------------------- components


def test_a_model_component(synth: Synthesized) -> None:
    props = synth.props(synth["chat"].resource)
    assert props["EndpointName"] == {
        "Fn::GetAtt": [synth.stack.get_logical_id(synth["gpu"].resource), "EndpointName"]
    }
    assert props["VariantName"] == "gpu"
    assert props["InferenceComponentName"] == synth["chat"].inference_component_name
    assert props["Specification"] == {
        "ModelName": {
            "Fn::GetAtt": [synth.stack.get_logical_id(synth["chat_model"].resource), "ModelName"]
        },
        "ComputeResourceRequirements": {
            "MinMemoryRequiredInMb": 24576,
            "MaxMemoryRequiredInMb": 32768,
            "NumberOfCpuCoresRequired": 4,
            "NumberOfAcceleratorDevicesRequired": 1,
        },
        "StartupParameters": {
            "ContainerStartupHealthCheckTimeoutInSeconds": 900,
            "ModelDataDownloadTimeoutInSeconds": 1200,
        },
    }
    assert props["RuntimeConfig"] == {"CopyCount": 2}


def test_a_generated_name_is_stable_and_valid(synth: Synthesized) -> None:
    name = synth["chat"].inference_component_name
    assert name.startswith("Components-Chat-")
    assert len(name) <= 63
    assert synth["embed"].inference_component_name == "embedder"


def test_a_container_component(synth: Synthesized) -> None:
    container = synth.props(synth["embed"].resource)["Specification"]["Container"]
    assert container["Environment"] == {"MODEL_ID": "embedder", "WORKERS": "2"}
    assert container["ArtifactUrl"] == "s3://model-artifacts/embedder/model.tar.gz"
    assert "embedder:1.2.0" in _flat(container["Image"])


def test_the_rolling_update_policy_with_alarm_rollback(synth: Synthesized) -> None:
    assert synth.props(synth["chat"].resource)["DeploymentConfig"] == {
        "RollingUpdatePolicy": {
            "MaximumBatchSize": {"Type": "COPY_COUNT", "Value": 1},
            "WaitIntervalInSeconds": 300,
            "MaximumExecutionTimeoutInSeconds": 3600,
            "RollbackMaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 100},
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "chat-latency"}]},
    }
    embed = synth.props(synth["embed"].resource)["DeploymentConfig"]
    assert embed == {
        "RollingUpdatePolicy": {
            "MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 50},
            "WaitIntervalInSeconds": 0,
        }
    }
    assert "DeploymentConfig" not in synth.props(synth["legacy"].resource)


# ---------------------------------------------------------------------------- scaling


def test_copies_scale_with_target_tracking(synth: Synthesized) -> None:
    targets = synth.resources("AWS::ApplicationAutoScaling::ScalableTarget")
    embed = next(t["Properties"] for t in targets.values() if "embedder" in _flat(t))
    assert embed == {
        "ServiceNamespace": "sagemaker",
        "ScalableDimension": "sagemaker:inference-component:DesiredCopyCount",
        "ResourceId": "inference-component/embedder",
        "MinCapacity": 1,
        "MaxCapacity": 8,
    }
    policies = synth.resources("AWS::ApplicationAutoScaling::ScalingPolicy")
    tracking = next(
        p["Properties"]
        for p in policies.values()
        if p["Properties"].get("PolicyName") == "embedder-invocations-per-copy"
    )
    config = tracking["TargetTrackingScalingPolicyConfiguration"]
    assert config["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "SageMakerInferenceComponentInvocationsPerCopy"
    }
    assert (config["TargetValue"], config["ScaleInCooldown"], config["ScaleOutCooldown"]) == (
        300,
        600,
        60,
    )


def test_the_scalable_target_waits_for_the_component(synth: Synthesized) -> None:
    target = synth["chat"].scalable_target
    resource = synth.json["Resources"][synth.stack.get_logical_id(target)]
    assert synth.stack.get_logical_id(synth["chat"].resource) in resource["DependsOn"]


def test_scale_to_zero_adds_a_step_policy_woken_by_no_capacity_failures(
    synth: Synthesized,
) -> None:
    chat = synth["chat"]
    name = chat.inference_component_name
    target = synth.json["Resources"][synth.stack.get_logical_id(chat.scalable_target)]
    assert target["Properties"]["MinCapacity"] == 0
    policies = synth.resources("AWS::ApplicationAutoScaling::ScalingPolicy")
    step_id, step = next(
        (k, p)
        for k, p in policies.items()
        if p["Properties"].get("PolicyName") == f"{name}-scale-out-from-zero"
    )
    assert step["Properties"]["StepScalingPolicyConfiguration"]["StepAdjustments"] == [
        {"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}
    ]
    alarm = synth.json["Resources"][synth.logical_id(chat.scale_out_from_zero_alarm)]
    props = alarm["Properties"]
    assert props["MetricName"] == "NoCapacityInvocationFailures"
    assert props["Namespace"] == "AWS/SageMaker"
    assert props["Dimensions"] == [{"Name": "InferenceComponentName", "Value": name}]
    assert props["AlarmActions"] == [{"Fn::GetAtt": [step_id, "Arn"]}]
    assert synth["embed"].scale_out_from_zero_alarm is None


# ---------------------------------------------------------------------------- grants


def test_grant_invoke_names_the_endpoint_and_the_component(synth: Synthesized) -> None:
    statements = _statements(synth, "CallerPolicy")
    chat = next(s for s in statements if "ChatModel" not in _flat(s) and "Chat" in _flat(s))
    assert sorted(_as_list(chat["Action"])) == [
        "sagemaker:InvokeEndpoint",
        "sagemaker:InvokeEndpointWithResponseStream",
    ]
    assert chat["Resource"] == [
        {"Ref": synth.stack.get_logical_id(synth["gpu"].resource)},
        {
            "Fn::GetAtt": [
                synth.stack.get_logical_id(synth["chat"].resource),
                "InferenceComponentArn",
            ]
        },
    ]
    endpoint_wide = next(
        s
        for s in statements
        if s["Resource"] == {"Ref": synth.stack.get_logical_id(synth["cpu"].resource)}
    )
    assert "sagemaker:InvokeEndpointAsync" not in _flat(endpoint_wide)


# ---------------------------------------------------------------------------- metrics

_IC = "/aws/sagemaker/InferenceComponents"
_SM = "AWS/SageMaker"
METRICS = [
    ("metric_invocations", _SM, "Invocations", "Sum"),
    ("metric_invocation_4xx_errors", _SM, "Invocation4XXErrors", "Sum"),
    ("metric_invocation_5xx_errors", _SM, "Invocation5XXErrors", "Sum"),
    ("metric_no_capacity_invocation_failures", _SM, "NoCapacityInvocationFailures", "Sum"),
    ("metric_model_latency", _SM, "ModelLatency", "Average"),
    ("metric_overhead_latency", _SM, "OverheadLatency", "Average"),
    ("metric_cpu_utilization", _IC, "CPUUtilizationNormalized", "Average"),
    ("metric_memory_utilization", _IC, "MemoryUtilizationNormalized", "Average"),
    ("metric_gpu_utilization", _IC, "GPUUtilizationNormalized", "Average"),
    ("metric_gpu_memory_utilization", _IC, "GPUMemoryUtilizationNormalized", "Average"),
]


@pytest.mark.parametrize(("method", "namespace", "name", "statistic"), METRICS)
def test_metrics(
    synth: Synthesized, method: str, namespace: str, name: str, statistic: str
) -> None:
    metric = getattr(synth["embed"], method)()
    assert (metric.namespace, metric.metric_name, metric.statistic) == (namespace, name, statistic)
    assert metric.dimensions == {"InferenceComponentName": "embedder"}
    assert metric.period.to_seconds() == 60
    assert getattr(synth["embed"], method)(period=cdk.Duration.minutes(5)).period.to_minutes() == 5


# ---------------------------------------------------------------------------- checks


def test_the_packs_and_the_wildcard_check_pass(synth: Synthesized) -> None:
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    failures = [
        v for plugin in report.get("pluginReports", []) for v in plugin.get("violations", [])
    ]
    assert failures == []


def test_template_passes_cfn_lint(synth: Synthesized) -> None:
    assert cfn_lint(synth.json, "us-east-1") == []


def test_checkov_finds_no_failed_check(synth: Synthesized) -> None:
    assert checkov_failures(synth.outdir) == []
