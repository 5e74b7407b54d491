"""Endpoint with a shadow variant: the configuration, the shadow's grants, scaling, metrics,
alarms and dashboard, and every rule SageMaker enforces on shadow variants.

One app for the module (synth with the four cdk-nag packs is the slow part).
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template
from cdk_testing import cfn_lint

from sagemaker_constructs import aws_rules
from sagemaker_constructs.compliance import add_compliance_checks
from sagemaker_constructs.endpoint import (
    AsyncInference,
    CapacitySize,
    DataCapture,
    DeploymentGuardrails,
    Endpoint,
    ProductionVariant,
    ServerlessVariant,
    TrafficRouting,
    VariantAutoscaling,
)
from sagemaker_constructs.model import (
    ContainerDefinition,
    ContainerImage,
    InferenceExecutionMode,
    Model,
)

ENV = cdk.Environment(account="111111111111", region="us-east-1")
DLC = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3-cpu-py311"


class Synthesized:
    def __init__(self, stack: cdk.Stack, template: dict[str, Any], **objects: Any) -> None:
        self.stack = stack
        self.json = template
        self.template = Template.from_json(template)
        self.objects = objects

    def logical_id(self, construct: Any) -> str:
        return self.stack.get_logical_id(construct.node.default_child or construct)

    def props(self, construct: Any) -> dict[str, Any]:
        return self.json["Resources"][self.logical_id(construct)]["Properties"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """GIVEN a real-time endpoint whose candidate model runs as an autoscaled shadow variant
    beside the production variant, with data capture, WHEN synthesized with every check."""
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("endpoint-shadow")))
    stack = cdk.Stack(app, "ShadowEndpoints", env=ENV)

    def model(id: str) -> Model:
        return Model(
            stack, id, containers=[ContainerDefinition(image=ContainerImage.from_registry(DLC))]
        )

    current, candidate = model("Current"), model("Candidate")
    capture_key = kms.Key(stack, "CaptureKey", enable_key_rotation=True)
    capture_bucket = s3.Bucket.from_bucket_name(stack, "CaptureBucket", "capture-bucket")
    endpoint = Endpoint(
        stack,
        "Classifier",
        endpoint_name="classifier",
        variants=[
            ProductionVariant(
                variant_name="current",
                model=current,
                instance_type="ml.m5.large",
                initial_instance_count=2,
            )
        ],
        shadow_variants=[
            ProductionVariant(
                variant_name="candidate",
                model=candidate,
                instance_type="ml.c5.xlarge",
                initial_instance_count=2,
                initial_variant_weight=0.5,
                volume_size_in_gb=40,
                model_data_download_timeout=cdk.Duration.minutes(20),
                autoscaling=VariantAutoscaling(max_capacity=4, target_invocations_per_instance=500),
            )
        ],
        data_capture=DataCapture(
            destination_bucket=capture_bucket, prefix="capture", kms_key=capture_key
        ),
    )
    add_compliance_checks(app)
    assembly = app.synth()  # raises on any unacknowledged cdk-nag finding
    return Synthesized(
        stack,
        assembly.get_stack_by_name("ShadowEndpoints").template,
        endpoint=endpoint,
        current=current,
        candidate=candidate,
        capture_key=capture_key,
    )


# ---------------------------------------------------------------------------- configuration


def test_the_shadow_variant_is_written_to_shadow_production_variants(synth: Synthesized) -> None:
    synth.template.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ProductionVariants": [
                Match.object_like(
                    {
                        "VariantName": "current",
                        "InitialInstanceCount": 2,
                        "InitialVariantWeight": 1,
                        "InstanceType": "ml.m5.large",
                    }
                )
            ],
            "ShadowProductionVariants": [
                {
                    "VariantName": "candidate",
                    "ModelName": {
                        "Fn::GetAtt": [synth.logical_id(synth.objects["candidate"]), "ModelName"]
                    },
                    "InstanceType": "ml.c5.xlarge",
                    "InitialInstanceCount": 2,
                    "InitialVariantWeight": 0.5,
                    "VolumeSizeInGB": 40,
                    "ModelDataDownloadTimeoutInSeconds": 1200,
                }
            ],
        },
    )


def test_without_shadow_variants_the_property_is_absent() -> None:
    stack = cdk.Stack()
    Endpoint(stack, "Plain", variants=[_variant(stack)], alarms=False, dashboard=False)
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::EndpointConfig", {"ShadowProductionVariants": Match.absent()}
    )


def test_names_and_traffic_share(synth: Synthesized) -> None:
    endpoint: Endpoint = synth.objects["endpoint"]
    assert endpoint.variant_names == ["current"]
    assert endpoint.shadow_variant_names == ["candidate"]
    assert endpoint.traffic_share("current") == 1.0
    with pytest.raises(
        ValueError,
        match=r"variant_name='candidate': a shadow variant of Endpoint 'Classifier' answers no "
        r"request.*Fix: ask for a production variant \(\['current'\]\)",
    ):
        endpoint.traffic_share("candidate")


# ---------------------------------------------------------------------------- grants, scaling


def test_the_shadow_models_role_may_write_captured_data(synth: Synthesized) -> None:
    captured = {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::capture-bucket/capture/*"]]
    }
    for model in ("current", "candidate"):
        synth.template.has_resource_properties(
            "AWS::IAM::ManagedPolicy",
            {
                "Roles": Match.array_with([{"Ref": synth.logical_id(synth.objects[model].role)}]),
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like({"Action": "s3:PutObject", "Resource": captured}),
                            Match.object_like(
                                {
                                    "Action": ["kms:Encrypt", "kms:GenerateDataKey"],
                                    "Resource": {
                                        "Fn::GetAtt": [
                                            synth.logical_id(synth.objects["capture_key"]),
                                            "Arn",
                                        ]
                                    },
                                }
                            ),
                        ]
                    )
                },
            },
        )


def test_the_shadow_variant_scales_on_its_own_scalable_target(synth: Synthesized) -> None:
    endpoint: Endpoint = synth.objects["endpoint"]
    target = endpoint.scalable_targets["candidate"]
    assert synth.props(target) == {
        "ServiceNamespace": "sagemaker",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "ResourceId": {
            "Fn::Join": [
                "",
                [
                    "endpoint/",
                    {"Fn::GetAtt": [synth.logical_id(endpoint.resource), "EndpointName"]},
                    "/variant/candidate",
                ],
            ]
        },
        "MinCapacity": 1,
        "MaxCapacity": 4,
    }
    synth.template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyName": "candidate-invocations-per-instance",
            "ScalingTargetId": {"Ref": synth.logical_id(target)},
            "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                {
                    "TargetValue": 500,
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
                    },
                }
            ),
        },
    )


# ---------------------------------------------------------------------------- operations


def test_the_shadow_variants_metrics_name_it_as_the_variant(synth: Synthesized) -> None:
    endpoint: Endpoint = synth.objects["endpoint"]
    for method in (
        "metric_invocations",
        "metric_invocation_5xx_errors",
        "metric_model_latency",
        "metric_cpu_utilization",
    ):
        metric = getattr(endpoint, method)("candidate")
        assert synth.stack.resolve(metric.dimensions) == {
            "EndpointName": {"Fn::GetAtt": [synth.logical_id(endpoint.resource), "EndpointName"]},
            "VariantName": "candidate",
        }
    rate = endpoint.metric_invocation_5xx_error_rate("candidate")
    assert rate.expression == (
        "IF(invocations_candidate > 0, errors_candidate / invocations_candidate, 0)"
    )
    with pytest.raises(
        ValueError,
        match=r"variant_name='other': not a variant of Endpoint 'Classifier'\. "
        r"Fix: use one of \['current', 'candidate'\]",
    ):
        endpoint.metric_invocations("other")


def test_only_the_production_variant_is_alarmed(synth: Synthesized) -> None:
    endpoint: Endpoint = synth.objects["endpoint"]
    assert sorted(endpoint.alarms) == ["currentErrorRate", "currentModelLatency"]
    alarmed = {
        str(a["Properties"].get("Dimensions") or a["Properties"].get("Metrics"))
        for a in synth.json["Resources"].values()
        if a["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert not any("candidate" in a for a in alarmed)


def test_the_dashboard_graphs_the_shadow_beside_the_production_variant(
    synth: Synthesized,
) -> None:
    endpoint: Endpoint = synth.objects["endpoint"]
    assert endpoint.dashboard is not None
    body = json.dumps(synth.props(endpoint.dashboard)["DashboardBody"])
    # invocations, p99 latency, 5XX error rate, 4XX errors, CPU, memory, disk (no GPU graphs
    # on a CPU type); the error rate's two inputs are hidden and carry no label
    assert body.count("candidate (shadow)") == 7
    assert "candidate (shadow) 5XX error rate" in body
    assert '\\"VariantName\\",\\"current\\"' in body
    assert "current (shadow)" not in body


def test_template_passes_cfn_lint(synth: Synthesized) -> None:
    assert cfn_lint(synth.json, "us-east-1") == []


# ---------------------------------------------------------------------------- rules


def _stack() -> cdk.Stack:
    return cdk.Stack(cdk.App(), "Stack", env=ENV)


def _variant(stack: cdk.Stack, name: str = "main", **kwargs: Any) -> ProductionVariant:
    if "model" not in kwargs:
        kwargs["model"] = Model.from_model_name(stack, f"M{len(stack.node.children)}", "existing")
    kwargs.setdefault("instance_type", "ml.m5.large")
    return ProductionVariant(variant_name=name, **kwargs)


def _endpoint(stack: cdk.Stack | None = None, **kwargs: Any) -> Endpoint:
    stack = stack or _stack()
    kwargs.setdefault("variants", [_variant(stack)])
    kwargs.setdefault("shadow_variants", [_variant(stack, "shadow")])
    return Endpoint(stack, "E", **kwargs)


def test_a_valid_shadow_endpoint_constructs() -> None:
    assert _endpoint().shadow_variant_names == ["shadow"]


def test_fails_with_more_than_one_shadow_variant() -> None:
    stack = _stack()
    with pytest.raises(
        ValueError,
        match=r"shadow_variants='<2 items>': must hold between 0 and 1 items",
    ):
        _endpoint(stack, shadow_variants=[_variant(stack, "s1"), _variant(stack, "s2")])


def test_fails_with_more_than_one_production_variant() -> None:
    stack = _stack()
    with pytest.raises(
        ValueError,
        match=r"variants, shadow_variants='<2 variants, 1 shadow>': with a shadow variant "
        r"SageMaker takes exactly one production variant.*Fix: keep one production variant",
    ):
        _endpoint(stack, variants=[_variant(stack, "a"), _variant(stack, "b")])


def test_fails_beside_a_serverless_variant() -> None:
    stack = _stack()
    only = ServerlessVariant(
        variant_name="only", model=Model.from_model_name(stack, "S", "existing")
    )
    with pytest.raises(
        ValueError,
        match=r"shadow_variants='<serverless endpoint>': SageMaker does not run shadow variants "
        r"beside a serverless variant\. Fix: host the production variant on instances",
    ):
        _endpoint(stack, variants=[only])


def test_a_shadow_variant_is_on_instances() -> None:
    stack = _stack()
    serverless = ServerlessVariant(
        variant_name="shadow", model=Model.from_model_name(stack, "S", "existing")
    )
    with pytest.raises(ValueError, match=r"shadow_variants\[0\]=.*must be .*ProductionVariant"):
        _endpoint(stack, shadow_variants=[serverless])


def test_fails_on_an_asynchronous_endpoint() -> None:
    stack = _stack()
    with pytest.raises(
        ValueError,
        match=r"shadow_variants, async_inference='<AsyncInference>': SageMaker does not run "
        r"shadow variants on an asynchronous endpoint\. Fix: remove shadow_variants",
    ):
        _endpoint(
            stack,
            async_inference=AsyncInference(bucket=s3.Bucket.from_bucket_name(stack, "B", "bucket")),
        )


def test_fails_when_a_name_is_taken_by_the_production_variant() -> None:
    stack = _stack()
    with pytest.raises(
        ValueError,
        match=r"shadow_variants\[\*\]\.variant_name=\['main'\]: variant names must be unique "
        r"within an endpoint, across production and shadow variants\. Fix: give the shadow",
    ):
        _endpoint(stack, shadow_variants=[_variant(stack, "main")])


def test_fails_with_a_bad_shadow_variant_name() -> None:
    stack = _stack()
    with pytest.raises(
        ValueError, match=r"shadow_variants\[0\]\.variant_name='shadow_1': must match"
    ):
        _endpoint(stack, shadow_variants=[_variant(stack, "shadow_1")])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial_variant_weight": -1.0}, r"initial_variant_weight=-1\.0: must be at least 0"),
        ({"initial_instance_count": 0}, r"initial_instance_count=0: must be at least 1"),
        ({"volume_size_in_gb": 600}, r"volume_size_in_gb=600: must be between 1 and 512 GB"),
        (
            {"model_data_download_timeout": cdk.Duration.seconds(30)},
            r"model_data_download_timeout=30: must be between 60 and 3600 seconds",
        ),
        (
            {"container_startup_health_check_timeout": cdk.Duration.hours(2)},
            r"container_startup_health_check_timeout=7200: must be between 60 and 3600",
        ),
        ({"instance_type": "ml.m5.largest"}, r"instance_type='ml\.m5\.largest': must be a"),
        (
            {
                "instance_type": "ml.t2.medium",
                "autoscaling": VariantAutoscaling(
                    max_capacity=2, target_invocations_per_instance=10
                ),
            },
            r"autoscaling, shadow_variants\[0\]\.instance_type='ml\.t2\.medium': Application "
            r"Auto Scaling cannot scale burstable",
        ),
    ],
)
def test_the_shadow_variant_takes_the_rules_of_a_variant_on_instances(
    kwargs: dict[str, Any], message: str
) -> None:
    stack = _stack()
    with pytest.raises(ValueError, match=rf"shadow_variants\[0\]\.{message}"):
        _endpoint(stack, shadow_variants=[_variant(stack, "shadow", **kwargs)])


def test_the_shadow_ranges_are_cloudformations() -> None:
    for prop in (
        "InitialInstanceCount",
        "InitialVariantWeight",
        "VolumeSizeInGB",
        "ContainerStartupHealthCheckTimeoutInSeconds",
        "ModelDataDownloadTimeoutInSeconds",
    ):
        key = (aws_rules.ENDPOINT_CONFIG, f"ShadowProductionVariants/*/{prop}")
        assert (
            aws_rules.RANGES[key]
            == aws_rules.RANGES[(aws_rules.ENDPOINT_CONFIG, f"ProductionVariants/*/{prop}")]
        )


def test_fails_with_a_multi_container_model_invoked_direct() -> None:
    stack = _stack()
    direct = Model(
        stack,
        "Direct",
        containers=[
            ContainerDefinition(image=ContainerImage.from_registry(DLC), container_hostname="a"),
            ContainerDefinition(image=ContainerImage.from_registry(DLC), container_hostname="b"),
        ],
        inference_execution_mode=InferenceExecutionMode.DIRECT,
    )
    with pytest.raises(
        ValueError,
        match=r"shadow_variants\[0\]\.model='Stack/Direct': a multi-container model invoked "
        r"Direct cannot take part in a shadow test",
    ):
        _endpoint(stack, shadow_variants=[_variant(stack, "shadow", model=direct)])


def test_fails_with_a_storage_key_and_a_shadow_on_local_nvme_storage() -> None:
    stack = _stack()
    key = kms.Key(stack, "K", enable_key_rotation=True)
    with pytest.raises(
        ValueError,
        match=r"kms_key='<kms.IKey>': SageMaker rejects a storage KmsKeyId for instance types "
        r"with local NVMe storage \(ml\.g5\.xlarge\)",
    ):
        _endpoint(
            stack,
            kms_key=key,
            shadow_variants=[_variant(stack, "shadow", instance_type="ml.g5.xlarge")],
        )


def test_a_shadow_on_local_nvme_storage_gets_no_storage_key() -> None:
    endpoint = _endpoint(
        shadow_variants=[_variant(_stack(), "shadow", instance_type="ml.g5.xlarge")]
    )
    assert endpoint.kms_key is None


def test_deployment_guardrails_are_accepted_with_a_shadow_variant() -> None:
    endpoint = _endpoint(
        deployment_guardrails=DeploymentGuardrails(traffic_routing=TrafficRouting.all_at_once())
    )
    assert endpoint.shadow_variant_names == ["shadow"]


def test_fails_with_traffic_shifting_and_a_shadow_on_inf1() -> None:
    stack = _stack()
    routing = TrafficRouting.canary(
        CapacitySize.capacity_percent(10), wait_interval=cdk.Duration.minutes(5)
    )
    with pytest.raises(
        ValueError,
        match=r"deployment_guardrails\.traffic_routing='CANARY': on Inf1 instances SageMaker "
        r"ignores traffic shifting",
    ):
        _endpoint(
            stack,
            deployment_guardrails=DeploymentGuardrails(traffic_routing=routing),
            shadow_variants=[_variant(stack, "shadow", instance_type="ml.inf1.xlarge")],
        )


def test_every_problem_is_reported_at_once() -> None:
    stack = _stack()
    with pytest.raises(ValueError, match=r"\(3 problems\)") as raised:
        _endpoint(
            stack,
            variants=[_variant(stack, "a"), _variant(stack, "b")],
            shadow_variants=[_variant(stack, "a", initial_instance_count=0)],
        )
    message = str(raised.value)
    assert "exactly one production variant" in message
    assert "across production and shadow variants" in message
    assert "initial_instance_count=0" in message


def test_shadow_variants_are_typed() -> None:
    with pytest.raises(
        ValueError,
        match=r"shadow_variants='candidate': must be a list of ProductionVariant; got str",
    ):
        _endpoint(shadow_variants="candidate")
