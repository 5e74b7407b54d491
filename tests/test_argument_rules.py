"""Bad input is rejected where it is typed: argument types at run time, and AWS's deploy-time
rules (instance types, CloudFormation's numeric ranges, tags, prefix lists, network isolation)
at construction, each with one message that names the argument, the value, the rule and the fix.
"""

from __future__ import annotations

import doctest
import math
import re
from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from cdk_testing import EndpointRef, SynthesizedApp, imported_vpc
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from sagemaker_constructs import (
    CanaryRollout,
    CapacitySize,
    ContainerDefinition,
    ContainerImage,
    DataCapture,
    DeploymentGuardrails,
    Endpoint,
    InstanceScaling,
    LifecycleScript,
    Model,
    ModelData,
    Notebook,
    Pipeline,
    PipelineDefinition,
    ProductionVariant,
    S3Backup,
    ServerlessVariant,
    TrafficRouting,
    VariantAutoscaling,
    _instance_types,
    _types,
    _validation,
    aws_rules,
)

ENV = cdk.Environment(account="111111111111", region="us-east-1")
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/xgboost-inference:1.7-1"
PIPELINE_DEFINITION = {
    "Version": "2020-12-01",
    "Steps": [
        {
            "Name": "Wait",
            "Type": "Fail",
            "Arguments": {"ErrorMessage": "nothing to do"},
        }
    ],
}


@pytest.mark.parametrize("module", [_types, _validation, aws_rules, _instance_types])
def test_the_documented_examples_hold(module: Any) -> None:
    failures, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert attempted > 0
    assert failures == 0


# ---------------------------------------------------------------------------- builders


def _stack() -> cdk.Stack:
    return cdk.Stack(cdk.App(), "Stack", env=ENV)


def _bucket() -> s3.IBucket:
    return s3.Bucket.from_bucket_name(_stack(), "Bucket", "bucket")


def notebook(**overrides: Any) -> Notebook:
    stack = _stack()
    return Notebook(stack, "Notebook", **{"vpc": imported_vpc(stack), **overrides})


def container(**overrides: Any) -> ContainerDefinition:
    return ContainerDefinition(image=ContainerImage.from_registry(IMAGE), **overrides)


def model(**overrides: Any) -> Model:
    return Model(_stack(), "Model", **{"containers": [container()], **overrides})


def variant(stack: cdk.Stack, **overrides: Any) -> ProductionVariant:
    props: dict[str, Any] = {
        "variant_name": "main",
        "model": Model.from_model_name(stack, "Existing", "existing"),
        "instance_type": "ml.m5.large",
    }
    return ProductionVariant(**{**props, **overrides})


def endpoint(**overrides: Any) -> Endpoint:
    stack = _stack()
    return Endpoint(stack, "Endpoint", **{"variants": [variant(stack)], **overrides})


def pipeline(**overrides: Any) -> Pipeline:
    stack = _stack()
    job_role = iam.Role(stack, "Job", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    props: dict[str, Any] = {
        "definition": PipelineDefinition.from_dict(PIPELINE_DEFINITION),
        "job_role": job_role,
    }
    return Pipeline(stack, "Pipeline", **{**props, **overrides})


def rollout(**overrides: Any) -> CanaryRollout:
    stack = _stack()
    props: dict[str, Any] = {
        "endpoint": EndpointRef(),
        "baseline_variant": "baseline",
        "canary_variant": "canary",
        "vpc": imported_vpc(stack),
    }
    return CanaryRollout(stack, "Rollout", **{**props, **overrides})


# ---------------------------------------------------------------------------- types


TYPE_CASES: list[tuple[str, Callable[[], Any], str]] = [
    # a string is not a bool: "Disabled" and "false" would both be true
    (
        "notebook root_access",
        lambda: notebook(root_access="Disabled"),
        r"root_access='Disabled': must be a bool",
    ),
    (
        "notebook direct_internet_access",
        lambda: notebook(direct_internet_access="false"),
        r"direct_internet_access='false': must be a bool",
    ),
    (
        "model network_isolation",
        lambda: model(network_isolation=1),
        r"network_isolation=1: must be a bool",
    ),
    # numbers: finite, whole where CloudFormation wants an integer
    (
        "variant weight nan",
        lambda: variant(_stack(), initial_variant_weight=math.nan),
        r"Invalid arguments for ProductionVariant .*"
        r"initial_variant_weight=nan: must be a finite number",
    ),
    (
        "variant weight infinity",
        lambda: variant(_stack(), initial_variant_weight=math.inf),
        r"initial_variant_weight=inf: must be a finite number",
    ),
    (
        "variant volume 20.5",
        lambda: variant(_stack(), volume_size_in_gb=20.5),
        r"volume_size_in_gb=20.5: must be a whole number \(int\) or None; got float",
    ),
    (
        "variant count True",
        lambda: variant(_stack(), initial_instance_count=True),
        r"initial_instance_count=True: must be a whole number \(int\); got bool",
    ),
    (
        "notebook volume '20'",
        lambda: notebook(volume_size_in_gb="20"),
        r"volume_size_in_gb='20': must be a whole number",
    ),
    (
        "instance scaling 2.5",
        lambda: InstanceScaling(max_instances=2.5),  # type: ignore[arg-type]
        r"Invalid arguments for InstanceScaling .*max_instances=2.5: must be a whole number",
    ),
    # mappings of str to str
    (
        "environment list",
        lambda: container(environment=["WORKERS=4"]),
        r"environment=\['WORKERS=4'\]: must be a mapping of str to str; got list",
    ),
    (
        "environment None",
        lambda: container(environment=None),
        r"environment=None: must be a mapping of str to str; got NoneType",
    ),
    (
        "environment value",
        lambda: container(environment={"PORT": 8080}),
        r"environment\['PORT'\]=8080: must be a string; got int",
    ),
    (
        "substitutions value",
        lambda: pipeline(substitutions={"RoleArn": 42}),
        r"Invalid arguments for Pipeline 'Pipeline' .*"
        r"substitutions\['RoleArn'\]=42: must be a string",
    ),
    # lists of the right items
    (
        "steps item",
        lambda: rollout(steps=[5, "25", 100]),
        r"steps\[1\]='25': must be a whole number",
    ),
    (
        "containers not a list",
        lambda: model(containers=container()),
        r"containers=.*must be a list of ContainerDefinition",
    ),
    # None only where documented
    (
        "instance type None",
        lambda: variant(_stack(), instance_type=None),
        r"instance_type=None: must be a string; got NoneType",
    ),
    # interfaces and classes
    (
        "kms key as ARN",
        lambda: endpoint(kms_key="arn:aws:kms:us-east-1:111111111111:key/1"),
        r"kms_key='arn:aws:kms.*must be aws_kms.IKey or None; got str",
    ),
    (
        "role as ARN",
        lambda: model(role="arn:aws:iam::111111111111:role/x"),
        r"role='arn:aws:iam.*must be aws_iam.IRole or None",
    ),
    (
        "variant as dict",
        lambda: endpoint(variants=[{"variant_name": "a"}]),
        r"variants\[0\]=.*must be ProductionVariant or ServerlessVariant; got dict",
    ),
    (
        "autoscaling as dict",
        lambda: variant(_stack(), autoscaling={"max_capacity": 2}),
        r"autoscaling=.*must be VariantAutoscaling or None; got dict",
    ),
    # factories
    (
        "registry image",
        lambda: ContainerImage.from_registry(42),  # type: ignore[arg-type]
        r"Invalid arguments for ContainerImage.from_registry .*image_uri=42: must be a string",
    ),
    ("model data key", lambda: ModelData.from_url(None), r"url=None: must be a string"),  # type: ignore[arg-type]
    (
        "imported endpoint",
        lambda: Endpoint.from_endpoint_name(_stack(), "E", 7),  # type: ignore[arg-type]
        r"Invalid arguments for Endpoint.from_endpoint_name 'E' .*endpoint_name=7",
    ),
    # methods
    (
        "metric variant",
        lambda: endpoint().metric_invocations(7),  # type: ignore[arg-type]
        r"Invalid arguments for EndpointBase.metric_invocations .*variant_name=7: must be a string",
    ),
    (
        "metric period",
        lambda: endpoint().metric_model_latency("main", period=60),  # type: ignore[arg-type]
        r"period=60: must be aws_cdk.Duration or None; got int",
    ),
    (
        "grant a bucket name",
        lambda: notebook().grant_read_write_bucket("my-bucket"),  # type: ignore[arg-type]
        r"bucket='my-bucket': must be aws_s3.IBucket; got str",
    ),
    (
        "grant to a string",
        lambda: pipeline().grant_start_execution("arn:aws:iam::111111111111:role/x"),  # type: ignore[arg-type]
        r"grantee='arn:aws:iam.*must be aws_iam.IGrantable; got str",
    ),
    # numbers JavaScript holds exactly (10**30 became 1e+30, no integer to CloudFormation)
    (
        "int beyond 2**53",
        lambda: rollout(evaluator_reserved_concurrency=10**30),
        r"evaluator_reserved_concurrency=10{30}: must be between -9007199254740991 and "
        r"9007199254740991",
    ),
    # text a template can hold (cfn-lint could not even read the template)
    (
        "DEL in a description",
        lambda: pipeline(description="del\x7f"),
        r"description='del\\x7f': must be text a template can hold, and U\+007F \(position 3\)",
    ),
    (
        "unpaired surrogate in a tag",
        lambda: pipeline(tags={"team": "\ud800"}),
        r"tags\['team'\]='\\ud800': must be text a template can hold",
    ),
    # factories name their own arguments (not the field they fill)
    (
        "linear step size",
        lambda: TrafficRouting.linear(False, wait_interval=cdk.Duration.minutes(1)),  # type: ignore[arg-type]
        r"Invalid arguments for TrafficRouting.linear .*step_size=False: must be CapacitySize",
    ),
    (
        "script file from a number",
        lambda: LifecycleScript.from_file(5),  # type: ignore[arg-type]
        r"Invalid arguments for LifecycleScript.from_file .*path=5",
    ),
    # construct ids are strings too
    ("construct id", lambda: Notebook(_stack(), 3), r"id=3: must be a string"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(
    ("build", "message"), [(c[1], c[2]) for c in TYPE_CASES], ids=[c[0] for c in TYPE_CASES]
)
def test_a_wrong_type_is_named_with_its_argument(build: Callable[[], Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.compile(message, re.DOTALL)) as raised:
        build()
    assert "Fix: " in str(raised.value)


def test_every_wrong_type_is_listed_in_one_message() -> None:
    with pytest.raises(ValueError, match="4 problems") as raised:
        notebook(root_access="no", volume_size_in_gb=20.5, instance_type=None, kms_key="key")
    message = str(raised.value)
    assert message.startswith("Invalid arguments for Notebook 'Notebook' (4 problems):")
    for argument in ("root_access", "volume_size_in_gb", "instance_type", "kms_key"):
        assert f"\n  - {argument}=" in message


def test_unresolved_tokens_pass_the_type_checks() -> None:
    stack = _stack()
    count = cdk.CfnParameter(stack, "Count", type="Number")
    size = cdk.CfnParameter(stack, "Size", type="Number")
    built = ProductionVariant(
        variant_name=cdk.Token.as_string(cdk.Aws.STACK_NAME),
        model=Model.from_model_name(stack, "Existing", "existing"),
        instance_type="ml.m5.large",
        initial_instance_count=count.value_as_number,  # type: ignore[arg-type]
        volume_size_in_gb=size.value_as_number,  # type: ignore[arg-type]
    )
    Endpoint(stack, "Endpoint", variants=[built])
    template = cdk.assertions.Template.from_stack(stack).to_json()
    variants = next(
        r["Properties"]["ProductionVariants"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::SageMaker::EndpointConfig"
    )
    assert variants[0]["InitialInstanceCount"] == {"Ref": "Count"}
    assert variants[0]["VolumeSizeInGB"] == {"Ref": "Size"}


def test_a_type_error_is_raised_before_anything_is_added_to_the_tree() -> None:
    stack = _stack()
    with pytest.raises(ValueError, match="root_access"):
        Notebook(stack, "Notebook", vpc=imported_vpc(stack), root_access="Disabled")  # type: ignore[arg-type]
    assert stack.node.try_find_child("Notebook") is None


# ---------------------------------------------------------------------------- AWS's rules


RULE_CASES: list[tuple[str, Callable[[], Any], str]] = [
    (
        "hosting has no ml.t3",
        lambda: endpoint(variants=[variant(_stack(), instance_type="ml.t3.medium")]),
        r"instance_type='ml.t3.medium': must be a SageMaker hosting instance type",
    ),
    (
        "no such size",
        lambda: endpoint(variants=[variant(_stack(), instance_type="ml.m5.huge")]),
        r"instance_type='ml.m5.huge': .* did you mean ml.m5.large",
    ),
    (
        "notebook type",
        lambda: notebook(instance_type="ml.t2.nano"),
        r"instance_type='ml.t2.nano': must be a SageMaker notebook instance type",
    ),
    (
        "reserved concurrency below 0",
        lambda: rollout(evaluator_reserved_concurrency=-1),
        r"evaluator_reserved_concurrency=-1: must be at least 1",
    ),
    (
        "reserved concurrency 0 never runs",
        lambda: rollout(evaluator_reserved_concurrency=0),
        r"evaluator_reserved_concurrency=0: must be at least 1",
    ),
    (
        "variant volume above 512",
        lambda: endpoint(variants=[variant(_stack(), volume_size_in_gb=513)]),
        r"volume_size_in_gb=513: must be between 1 and 512 GB",
    ),
    (
        "serverless concurrency above 200",
        lambda: endpoint(
            variants=[
                ServerlessVariant(
                    variant_name="only",
                    model=Model.from_model_name(_stack(), "M", "m"),
                    max_concurrency=201,
                )
            ]
        ),
        r"max_concurrency=201: must be between 1 and 200",
    ),
    (
        "prefix list id",
        lambda: notebook(s3_prefix_list_id="s3-prefix"),
        r"s3_prefix_list_id='s3-prefix': must be a managed prefix-list id",
    ),
    (
        "reserved tag prefix",
        lambda: pipeline(tags={"aws:cost": "1"}),
        r"tags key='aws:cost': the aws: prefix is reserved",
    ),
    (
        "network isolation needs S3 model data",
        lambda: model(
            network_isolation=True,
            containers=[container(model_data=ModelData.from_url("https://example.com/m.tar.gz"))],
        ),
        r"containers\[0\].model_data='https://example.com/m.tar.gz': with network isolation "
        r"SageMaker can load model data from Amazon S3 only",
    ),
    (
        "fractional seconds",
        lambda: endpoint(
            variants=[variant(_stack(), model_data_download_timeout=cdk.Duration.millis(60_500))]
        ),
        r"model_data_download_timeout='1 minute 500 millis': must be a whole number of seconds",
    ),
    (
        "autoscaling capacity",
        lambda: VariantAutoscaling(max_capacity=2, target_invocations_per_instance=math.nan),
        r"target_invocations_per_instance=nan: must be a finite number",
    ),
    # SageMaker matches S3 URIs with (.*), whose '.' matches no line break
    (
        "line break in an S3 prefix",
        lambda: endpoint(
            data_capture=DataCapture(destination_bucket=_bucket(), prefix="line\nbreak")
        ),
        r"data_capture.prefix='line\\nbreak': must not hold a line break \(U\+000A at position 4\)",
    ),
    (
        "line separator in a model data URL",
        lambda: model(containers=[container(model_data=ModelData.from_url("s3://b/a\u2028b"))]),
        r"containers\[0\]\.model_data='s3://b/a\\u2028b': must not hold a line break",
    ),
    # what crashed before: 24 % 0, a NUL in a path
    (
        "backup every 0 minutes",
        lambda: notebook(s3_backup=S3Backup(_bucket(), interval=cdk.Duration.millis(0))),
        r"s3_backup.interval='0 minutes': must be 5, 10, 15, 20 or 30 minutes",
    ),
    (
        "script path with a NUL",
        lambda: notebook(on_create=LifecycleScript(path="bad\x00")),  # type: ignore[arg-type]
        r"on_create='bad\\x00': cannot be read",
    ),
    # a rule between arguments names each of them
    (
        "step size against the instance count",
        lambda: endpoint(
            variants=[variant(_stack(), initial_instance_count=1)],
            deployment_guardrails=DeploymentGuardrails(
                traffic_routing=TrafficRouting.linear(
                    CapacitySize.instance_count(1), wait_interval=cdk.Duration.minutes(1)
                )
            ),
        ),
        r"linear_step_size, variants\[0\]\.initial_instance_count=1: must be 10-50%",
    ),
    (
        "local NVMe storage and a volume size",
        lambda: endpoint(
            variants=[variant(_stack(), instance_type="ml.m5d.large", volume_size_in_gb=30)]
        ),
        r"variants\[0\]\.volume_size_in_gb, variants\[0\]\.instance_type=30: ml.m5d.large uses",
    ),
    (
        "history budget",
        lambda: rollout(max_polls=100),
        r"bake_time, interval, max_extensions, max_polls, steps='600 s, 60 s, 5, 100, 4 steps'",
    ),
]


@pytest.mark.parametrize(
    ("build", "message"), [(c[1], c[2]) for c in RULE_CASES], ids=[c[0] for c in RULE_CASES]
)
def test_a_deploy_time_rule_fails_at_construction(build: Callable[[], Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.compile(message, re.DOTALL)):
        build()


def test_a_pipeline_role_granted_nothing_has_no_policy() -> None:
    """Fail steps need no permissions: the role gets no policy (an empty one fails synthesis);
    a statement added later makes the policy, and the pipeline waits for it."""
    bare = cdk.assertions.Template.from_stack(cdk.Stack.of(pipeline()))
    bare.resource_count_is("AWS::IAM::ManagedPolicy", 0)

    granted = pipeline()
    granted.add_to_role_policy(
        iam.PolicyStatement(
            actions=["lambda:InvokeFunction"],
            resources=["arn:aws:lambda:us-east-1:111111111111:function:step"],
        )
    )
    template = cdk.assertions.Template.from_stack(cdk.Stack.of(granted)).to_json()
    (policy,) = [k for k, r in template["Resources"].items() if r["Type"].endswith("ManagedPolicy")]
    (resource,) = [r for r in template["Resources"].values() if r["Type"].endswith("Pipeline")]
    assert policy in resource["DependsOn"]


def test_network_isolation_accepts_s3_model_data() -> None:
    built = model(
        network_isolation=True,
        containers=[container(model_data=ModelData.from_url("s3://bucket/model.tar.gz"))],
    )
    assert built.network_isolation is True


def test_hosting_instance_types_are_botocores() -> None:
    hosting = aws_rules.instance_types(aws_rules.HOSTING)
    assert "ml.m5.large" in hosting
    assert "ml.t3.medium" not in hosting  # SageMaker hosting has no ml.t3
    assert "ml.t3.medium" in aws_rules.instance_types(aws_rules.NOTEBOOKS)


# ---------------------------------------------------------------------------- schema drift


def _schema_range(resource: str, prop: str) -> tuple[Any, Any]:
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource).schema
    node: dict[str, Any] = {"properties": schema["properties"]}
    for part in prop.split("/"):
        node = node["items"] if part == "*" else node["properties"][part]
        while "$ref" in node:
            node = schema["definitions"][node["$ref"].split("/")[-1]]
    return node.get("minimum"), node.get("maximum")


@pytest.mark.parametrize(("resource", "prop"), sorted(aws_rules.RANGES))
def test_each_range_is_the_one_cloudformation_declares(resource: str, prop: str) -> None:
    assert aws_rules.RANGES[(resource, prop)] == _schema_range(resource, prop)


def _numbers(value: Any, path: str = "") -> list[str]:
    """Property paths (``*`` for list items) of every literal number in ``value``."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [path]
    if isinstance(value, list):
        return [p for item in value for p in _numbers(item, f"{path}/*".lstrip("/"))]
    if isinstance(value, dict):
        return [
            p
            for key, item in value.items()
            if not key.startswith("Fn::") and key != "Ref"
            for p in _numbers(item, f"{path}/{key}".lstrip("/"))
        ]
    return []


def test_every_ranged_property_the_app_writes_is_checked(synthesized: SynthesizedApp) -> None:
    """A number the app writes into a property that CloudFormation's schema bounds must be
    bounded by the library's table too, so the library and the schema cannot drift."""
    missing = set()
    for stack in synthesized.stacks:
        for resource in synthesized.template_json(stack)["Resources"].values():
            kind = resource["Type"]
            if not kind.startswith("AWS::"):
                continue
            for prop in _numbers(resource.get("Properties", {})):
                if (
                    _schema_range(kind, prop) != (None, None)
                    and (kind, prop) not in aws_rules.RANGES
                ):
                    missing.add((kind, prop))
    assert not missing, f"ranges CloudFormation declares but the library does not check: {missing}"
