"""Endpoint operations: the alarms and the dashboard every endpoint creates, the metric helpers
they use, and the rules of their thresholds.

One app for the module (synth with the four cdk-nag packs is the slow part).
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Annotations, Match
from cdk_testing import cfn_lint

from sagemaker_constructs._endpoint_operations import gpu_count, is_gpu_instance_type
from sagemaker_constructs.compliance import add_compliance_checks
from sagemaker_constructs.endpoint import (
    Endpoint,
    EndpointAlarms,
    ProductionVariant,
    ServerlessVariant,
)
from sagemaker_constructs.model import Model

ENV = cdk.Environment(account="111111111111", region="us-east-1")


class Synthesized:
    def __init__(self, stack: cdk.Stack, template: dict[str, Any], **objects: Any) -> None:
        self.stack = stack
        self.json = template
        self.objects = objects

    def logical_id(self, construct: Any) -> str:
        return self.stack.get_logical_id(construct.node.default_child or construct)

    def props(self, construct: Any) -> dict[str, Any]:
        return self.json["Resources"][self.logical_id(construct)]["Properties"]  # type: ignore[no-any-return]

    def resources(self, type_name: str) -> list[dict[str, Any]]:
        return [r for r in self.json["Resources"].values() if r["Type"] == type_name]


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """GIVEN real-time endpoints on CPU and GPU instances, serverless, with and without
    operations, WHEN synthesized with every check."""
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("endpoint-operations")))
    stack = cdk.Stack(app, "Operations", env=ENV)
    model = Model.from_model_name(stack, "Existing", "existing")
    topic_key = kms.Key(stack, "TopicKey", enable_key_rotation=True)
    topic = sns.Topic(stack, "Alerts", master_key=topic_key, enforce_ssl=True)
    mixed = Endpoint(
        stack,
        "Mixed",
        endpoint_name="mixed",
        variants=[
            ProductionVariant(variant_name="cpu-main", model=model, instance_type="ml.m5.large"),
            ProductionVariant(variant_name="gpu", model=model, instance_type="ml.g5.12xlarge"),
        ],
        alarms=EndpointAlarms(
            max_error_rate=0.02,
            max_model_latency=cdk.Duration.millis(250),
            latency_statistic="p90",
            max_gpu_memory_utilization=80,
            period=cdk.Duration.minutes(2),
            evaluation_periods=4,
            datapoints_to_alarm=2,
            topic=topic,
        ),
    )
    defaults = Endpoint(
        stack,
        "Defaults",
        variants=[
            ProductionVariant(variant_name="main", model=model, instance_type="ml.p2.xlarge")
        ],
    )
    serverless = Endpoint(
        stack,
        "Serverless",
        endpoint_name="serverless",
        variants=[ServerlessVariant(variant_name="only", model=model)],
    )
    quiet = Endpoint(
        stack,
        "Quiet",
        endpoint_name="quiet",
        variants=[ProductionVariant(variant_name="main", model=model, instance_type="ml.c5.large")],
        alarms=False,
        dashboard=False,
    )
    add_compliance_checks(app)
    assembly = app.synth()  # raises on any unacknowledged cdk-nag finding
    return Synthesized(
        stack,
        assembly.get_stack_by_name("Operations").template,
        mixed=mixed,
        defaults=defaults,
        serverless=serverless,
        quiet=quiet,
        topic=topic,
    )


# ---------------------------------------------------------------------------- alarms


def test_each_variant_alarms_on_errors_and_latency_gpu_variants_on_gpu_memory(
    synth: Synthesized,
) -> None:
    assert sorted(synth.objects["mixed"].alarms) == [
        "cpu-mainErrorRate",
        "cpu-mainModelLatency",
        "gpuErrorRate",
        "gpuGpuMemory",
        "gpuModelLatency",
    ]
    assert sorted(synth.objects["serverless"].alarms) == ["onlyErrorRate", "onlyModelLatency"]
    assert synth.objects["quiet"].alarms == {}
    assert synth.objects["quiet"].dashboard is None


def test_the_error_rate_is_5xx_over_invocations(synth: Synthesized) -> None:
    mixed = synth.objects["mixed"]
    alarm = synth.props(mixed.alarms["cpu-mainErrorRate"])
    assert alarm["Threshold"] == 0.02
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["EvaluationPeriods"] == 4
    assert alarm["DatapointsToAlarm"] == 2
    assert alarm["TreatMissingData"] == "notBreaching"
    metrics = {m["Id"]: m for m in alarm["Metrics"]}
    expression = next(m for m in alarm["Metrics"] if "Expression" in m)
    assert expression["Expression"] == (
        "IF(invocations_cpu_main > 0, errors_cpu_main / invocations_cpu_main, 0)"
    )
    errors = metrics["errors_cpu_main"]["MetricStat"]
    assert errors["Metric"]["MetricName"] == "Invocation5XXErrors"
    assert errors["Stat"] == "Sum"
    assert errors["Period"] == 120
    assert metrics["invocations_cpu_main"]["MetricStat"]["Metric"]["MetricName"] == "Invocations"


def test_latency_threshold_is_in_microseconds(synth: Synthesized) -> None:
    alarm = synth.props(synth.objects["mixed"].alarms["gpuModelLatency"])
    assert alarm["MetricName"] == "ModelLatency"
    assert alarm["ExtendedStatistic"] == "p90"
    assert alarm["Threshold"] == 250_000
    assert alarm["Period"] == 120
    defaults = synth.props(synth.objects["defaults"].alarms["mainModelLatency"])
    assert defaults["ExtendedStatistic"] == "p99"
    assert defaults["Threshold"] == 1_000_000
    assert defaults["EvaluationPeriods"] == 5
    assert defaults["DatapointsToAlarm"] == 3
    assert defaults["Period"] == 60


def test_gpu_memory_threshold_counts_every_gpu(synth: Synthesized) -> None:
    alarm = synth.props(synth.objects["mixed"].alarms["gpuGpuMemory"])
    assert alarm["Namespace"] == "/aws/sagemaker/Endpoints"
    assert alarm["MetricName"] == "GPUMemoryUtilization"
    assert alarm["Threshold"] == 320  # 80 % of each of the 4 GPUs of an ml.g5.12xlarge


def test_alarms_notify_the_topic_when_they_fire_and_clear(synth: Synthesized) -> None:
    topic = {"Ref": synth.logical_id(synth.objects["topic"])}
    for alarm in synth.objects["mixed"].alarms.values():
        props = synth.props(alarm)
        assert props["AlarmActions"] == [topic]
        assert props["OKActions"] == [topic]


def test_without_a_topic_the_alarm_action_finding_is_acknowledged_on_each_alarm(
    synth: Synthesized,
) -> None:
    for alarm in synth.objects["defaults"].alarms.values():
        assert "AlarmActions" not in synth.props(alarm)
        acknowledged = json.dumps(
            [
                e.data
                for e in alarm.node.default_child.node.metadata
                if e.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
            ]
        )
        for pack in ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321"):
            assert f"{pack}-CloudWatchAlarmAction" in acknowledged


def test_an_unknown_gpu_count_gets_no_gpu_alarm_and_a_warning(synth: Synthesized) -> None:
    assert "mainGpuMemory" not in synth.objects["defaults"].alarms
    Annotations.from_stack(synth.stack).has_warning(
        "/Operations/Defaults/Operations",
        Match.string_like_regexp("number of GPUs of ml.p2.xlarge is not known"),
    )


# ---------------------------------------------------------------------------- dashboard


def test_each_endpoint_has_a_dashboard_of_its_metrics(synth: Synthesized) -> None:
    dashboards = synth.resources("AWS::CloudWatch::Dashboard")
    assert len(dashboards) == 3
    body = json.dumps(synth.props(synth.objects["mixed"].dashboard))
    for name in (
        "Invocations",
        "ModelLatency",
        "Invocation4XXErrors",
        "CPUUtilization",
        "MemoryUtilization",
        "DiskUtilization",
        "GPUUtilization",
        "GPUMemoryUtilization",
    ):
        assert name in body, name
    serverless = json.dumps(synth.props(synth.objects["serverless"].dashboard))
    assert "CPUUtilization" not in serverless


def test_template_passes_cfn_lint(synth: Synthesized) -> None:
    assert cfn_lint(synth.json, "us-east-1") == []


# ---------------------------------------------------------------------------- metrics

METRICS = [
    ("metric_invocations_per_instance", "AWS/SageMaker", "InvocationsPerInstance", "Sum"),
    ("metric_disk_utilization", "/aws/sagemaker/Endpoints", "DiskUtilization", "Average"),
    (
        "metric_gpu_memory_utilization",
        "/aws/sagemaker/Endpoints",
        "GPUMemoryUtilization",
        "Average",
    ),
    ("metric_cpu_utilization", "/aws/sagemaker/Endpoints", "CPUUtilization", "Average"),
    ("metric_memory_utilization", "/aws/sagemaker/Endpoints", "MemoryUtilization", "Average"),
]


@pytest.mark.parametrize(("method", "namespace", "name", "statistic"), METRICS)
def test_variant_metric_helpers(
    synth: Synthesized, method: str, namespace: str, name: str, statistic: str
) -> None:
    metric: cloudwatch.Metric = getattr(synth.objects["mixed"], method)("gpu")
    assert (metric.namespace, metric.metric_name, metric.statistic) == (namespace, name, statistic)
    assert metric.period.to_seconds() == 60
    endpoint_name = synth.props(synth.objects["mixed"].resource)["EndpointName"]
    assert endpoint_name == "mixed"
    assert synth.stack.resolve(metric.dimensions) == {
        "EndpointName": {
            "Fn::GetAtt": [synth.logical_id(synth.objects["mixed"].resource), "EndpointName"]
        },
        "VariantName": "gpu",
    }


def test_imported_endpoints_offer_the_same_helpers() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    existing = Endpoint.from_endpoint_name(stack, "Existing", "legacy")
    rate = existing.metric_invocation_5xx_error_rate("AllTraffic", period=cdk.Duration.minutes(5))
    assert rate.period.to_seconds() == 300
    assert existing.metric_approximate_backlog_size().dimensions == {"EndpointName": "legacy"}


def test_gpu_counts() -> None:
    assert [gpu_count(t) for t in ("ml.g5.xlarge", "ml.g5.12xlarge", "ml.g5.48xlarge")] == [1, 4, 8]
    assert gpu_count("ml.p4d.24xlarge") == 8
    assert gpu_count("ml.p2.xlarge") is None
    assert gpu_count("ml.m5.large") is None
    assert is_gpu_instance_type("ml.g6e.xlarge")
    assert is_gpu_instance_type("ml.p5.48xlarge")
    assert not is_gpu_instance_type("ml.m5.large")
    assert not is_gpu_instance_type("ml.inf2.xlarge")


# ---------------------------------------------------------------------------- rules


def _endpoint(**alarms: Any) -> Endpoint:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    return Endpoint(
        stack,
        "E",
        variants=[
            ProductionVariant(
                variant_name="main",
                model=Model.from_model_name(stack, "M", "existing"),
                instance_type="ml.m5.large",
            )
        ],
        alarms=EndpointAlarms(**alarms),
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_error_rate": 1.5}, r"alarms\.max_error_rate=1\.5: must be between 0 and 1"),
        (
            {"max_gpu_memory_utilization": 120},
            r"alarms\.max_gpu_memory_utilization=120: must be between 1 and 100 %",
        ),
        (
            {"latency_statistic": "p999.9x"},
            r"alarms\.latency_statistic='p999\.9x': must be a CloudWatch statistic",
        ),
        (
            {"max_model_latency": cdk.Duration.seconds(0)},
            r"alarms\.max_model_latency='0 seconds': must be above 0",
        ),
        (
            {"period": cdk.Duration.seconds(30)},
            r"alarms\.period='30 seconds': SageMaker publishes endpoint metrics every minute",
        ),
        ({"evaluation_periods": 0}, r"alarms\.evaluation_periods=0: must be at least 1"),
        (
            {"evaluation_periods": 2, "datapoints_to_alarm": 3},
            r"alarms\.datapoints_to_alarm=3: must be between 1 and evaluation_periods \(2\)",
        ),
    ],
)
def test_alarm_rules(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=rf"(?s)Invalid arguments for Endpoint 'E'.*{message}"):
        _endpoint(**kwargs)


def test_alarm_types_are_checked() -> None:
    with pytest.raises(ValueError, match=r"topic='alerts': must be aws_sns\.ITopic or None"):
        EndpointAlarms(topic="alerts")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"alarms='yes': must be EndpointAlarms or bool"):
        _endpoint_with_alarms("yes")


def _endpoint_with_alarms(alarms: Any) -> Endpoint:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    return Endpoint(
        stack,
        "E",
        variants=[
            ProductionVariant(
                variant_name="main",
                model=Model.from_model_name(stack, "M", "existing"),
                instance_type="ml.m5.large",
            )
        ],
        alarms=alarms,
    )


def test_a_variant_named_by_a_token_gets_alarms_by_its_index() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    endpoint = Endpoint(
        stack,
        "E",
        variants=[
            ProductionVariant(
                variant_name=cdk.Token.as_string(cdk.Aws.STACK_NAME),
                model=Model.from_model_name(stack, "M", "existing"),
                instance_type="ml.m5.large",
            )
        ],
    )
    assert sorted(endpoint.alarms) == ["Variant0ErrorRate", "Variant0ModelLatency"]
    cdk.assertions.Template.from_stack(stack)  # synthesizes
