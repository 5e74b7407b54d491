"""Property: one wrong argument is named, or it is harmless; it never crashes.

For each construct, and the value classes and factories it takes, one keyword argument (nested
fields too: ``variants[0].volume_size_in_gb``) gets a wrong-typed or boundary value. Building
the construct then either raises the library's ValueError naming that argument, or succeeds
with a template cfn-lint accepts without a single finding. Anything else fails: a TypeError or
AttributeError from inside, a jsii error at synthesis, a ``nan`` that kills the jsii kernel.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from cdk_testing import EndpointRef, cfn_lint, imported_vpc
from hypothesis import given, note, settings
from hypothesis import strategies as st
from test_argument_rules import IMAGE, PIPELINE_DEFINITION, _stack

from sagemaker_constructs import (
    CanaryRollout,
    CapacitySize,
    CapacitySizeType,
    CondaPackages,
    ContainerDefinition,
    ContainerImage,
    DataCapture,
    DeploymentGuardrails,
    Endpoint,
    IdleShutdown,
    InferenceExecutionMode,
    InstanceScaling,
    LifecycleScript,
    Model,
    ModelData,
    Notebook,
    PackageIndex,
    Pipeline,
    PipelineDefinition,
    ProductionVariant,
    S3Backup,
    ServerlessVariant,
    TrafficRouting,
    TrafficRoutingType,
    VariantAutoscaling,
)

REGION = "us-east-1"
#: Examples per construct, in a sequence fixed by ``derandomize`` so that CI is
#: reproducible. Most examples raise at once; each distinct accepted template is linted once.
MAX_EXAMPLES = 30

# ---------------------------------------------------------------------------- wrong values

INTS = (-(2**63), -1, 0, 1, 4, 5, 9, 10, 50, 51, 59, 60, 100, 101, 128, 200, 201, 512, 513,
        600, 1000, 1001, 1023, 1024, 2048, 3600, 3601, 6144, 6145, 10_000, 10_001, 16_384,
        16_385, 28_800, 28_801, 86_400, 2**31 - 1, 2**31, 2**53 + 1, 2**63, 10**30)  # fmt: skip
FLOATS = (math.nan, math.inf, -math.inf, -0.0, 0.5, 1.5, 20.5, 1e-300, 1e308)
STRINGS = ("", " ", "a", "-", "0", "x" * 64, "x" * 257, "x" * 1025, "Ärger", "名前", "a b",
           "/a/", "aws:x", "ml.m5.large", "ml.t3.medium", "ml.t2.medium", "ml.m5d.large",
           "s3://bucket/key", "https://example.com/x", "line\nbreak", "a\u2028b", "\x00",
           "del\x7f", "\ud800", "\U0001f600")  # fmt: skip
#: (factory, amount): fractional seconds, zero, and the ends of the ranges AWS allows.
DURATIONS = (("millis", 0), ("millis", 500), ("millis", 60_500), ("seconds", 0), ("seconds", 1),
             ("seconds", 59), ("seconds", 60), ("seconds", 600), ("seconds", 3600),
             ("seconds", 3601), ("seconds", 28_800), ("seconds", 28_801), ("minutes", 9),
             ("days", 7), ("days", 366), ("seconds", 2**31))  # fmt: skip

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=4))
WRONG_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(INTS),
    st.integers(),
    st.sampled_from(FLOATS),
    st.floats(),
    st.sampled_from(STRINGS),
    st.text(max_size=70),
    st.lists(_scalars, max_size=4),
    st.dictionaries(_scalars, _scalars, max_size=3),
    st.sampled_from(DURATIONS).map(lambda d: getattr(cdk.Duration, d[0])(d[1])),
)


def describe(value: Any) -> str:
    if isinstance(value, cdk.Duration):
        return f"Duration {value.to_human_string()!r}"
    return repr(value)


# ---------------------------------------------------------------------------- props trees


@dataclass(frozen=True)
class Value:
    """A value class or factory call, made from ``args`` once the override is in place.

    ``whole``: the value is one argument to the construct (every factory's object, a script),
    so a problem found later rightly names the argument it was passed as.
    """

    make: Callable[..., Any]
    args: dict[str, Any] = field(default_factory=dict)
    whole: bool = False

    @property
    def is_whole(self) -> bool:
        return self.whole or not isinstance(self.make, type)

    @property
    def owner(self) -> str:
        """How the value's own ValueError names it (``ProductionVariant``)."""
        return self.make.__qualname__


ArgumentPath = tuple[str | int, ...]


def render(path: ArgumentPath) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path).lstrip(".")


def nested_paths(tree: Any, prefix: ArgumentPath) -> list[ArgumentPath]:
    """The paths of every argument of the values in ``tree``."""
    if isinstance(tree, list):
        return [p for i, item in enumerate(tree) for p in nested_paths(item, (*prefix, i))]
    if not isinstance(tree, Value):
        return []
    names = inspect.signature(tree.make).parameters
    return [p for n in names for p in [(*prefix, n), *nested_paths(tree.args.get(n), (*prefix, n))]]


def replace(tree: Any, path: ArgumentPath, value: Any) -> Any:
    if not path:
        return value
    key, rest = path[0], path[1:]
    if isinstance(tree, Value):
        name = str(key)
        return Value(tree.make, {**tree.args, name: replace(tree.args.get(name), rest, value)})
    if isinstance(tree, list):
        return [replace(item, rest, value) if i == key else item for i, item in enumerate(tree)]
    return {**tree, key: replace(tree.get(key), rest, value)}


def make(tree: Any) -> Any:
    if isinstance(tree, Value):
        return tree.make(**{name: make(arg) for name, arg in tree.args.items()})
    if isinstance(tree, list):
        return [make(item) for item in tree]
    return tree


def _star(text: str) -> str:
    return re.sub(r"\[\d+\]", "[*]", text)


def names_argument(message: str, props: dict[str, Any], path: ArgumentPath) -> bool:
    """A problem (``argument=value: rule``, the argument maybe ``a, b`` for a rule of several)
    names the argument ``path`` stands for: the path itself (``[*]`` for every item); an
    ancestor whose rule mentions the path's last name (a rule between fields); the argument a
    whole value was passed as; or, when a value class raises itself, its field."""
    leaf = str(path[-1])
    names: list[tuple[str, str | None]] = [(render(path), None)]
    tree: Any = props
    for depth, key in enumerate(path[:-1]):
        tree = tree.args.get(str(key)) if isinstance(tree, Value) else tree[key]
        whole = isinstance(tree, Value) and tree.is_whole
        names.append((render(path[: depth + 1]), None if whole else leaf))
    if isinstance(tree, Value) and message.startswith(f"Invalid arguments for {tree.owner} "):
        names.append((leaf, None))
    return any(
        re.match(rf"{re.escape(_star(name))}(?!\w)", _star(label))
        and (word is None or re.search(rf"\b{re.escape(word)}\b", line))
        for name, word in names
        for line in message.split("\n  - ")[1:]
        for label in re.split(r"[=:]", line, maxsplit=1)[0].split(", ")
    )


# ---------------------------------------------------------------------------- constructs


def notebook_props(stack: cdk.Stack) -> dict[str, Any]:
    return {
        "vpc": imported_vpc(stack),
        "s3_prefix_list_id": "pl-63a5400a",
        # a script is one argument: its rules name on_create, whether text or path is wrong
        "on_create": Value(LifecycleScript, {"text": "echo created"}, whole=True),
        "on_start": Value(LifecycleScript.from_string, {"text": "echo started"}),
        "idle_shutdown": Value(IdleShutdown, {"idle_time": cdk.Duration.minutes(90)}),
        "conda_packages": Value(
            CondaPackages,
            {
                "packages": ["scikit-learn==1.5.2"],
                "index": Value(PackageIndex, {"domain": "ml", "repository": "pypi-store"}),
            },
        ),
        "s3_backup": Value(
            S3Backup, {"bucket": s3.Bucket.from_bucket_name(stack, "Backups", "backups")}
        ),
    }


def model_props(stack: cdk.Stack) -> dict[str, Any]:
    bucket = s3.Bucket.from_bucket_name(stack, "Models", "models")
    container = {
        "image": Value(ContainerImage.from_registry, {"image_uri": IMAGE}),
        "model_data": Value(ModelData.from_bucket, {"bucket": bucket, "key": "m/model.tar.gz"}),
        "environment": {"WORKERS": "2"},
    }
    return {"containers": [Value(ContainerDefinition, container)]}


def inference_pipeline_props(stack: cdk.Stack) -> dict[str, Any]:
    repository = ecr.Repository.from_repository_name(stack, "Repository", "models")
    first = {
        "image": Value(ContainerImage.from_ecr_repository, {"repository": repository, "tag": "1"}),
        "model_data": Value(ModelData.from_url, {"url": "s3://models/first.tar.gz"}),
        "container_hostname": "first",
    }
    second = {
        "image": Value(ContainerImage.from_registry, {"image_uri": IMAGE}),
        "container_hostname": "second",
    }
    return {
        "containers": [Value(ContainerDefinition, first), Value(ContainerDefinition, second)],
        "inference_execution_mode": InferenceExecutionMode.DIRECT,
        "network_isolation": True,
    }


def instance_endpoint_props(stack: cdk.Stack) -> dict[str, Any]:
    variant = {
        "variant_name": "main",
        "model": Model.from_model_name(stack, "Existing", "existing"),
        "instance_type": "ml.m5.large",
        "initial_instance_count": 2,
        "volume_size_in_gb": 30,
        "autoscaling": Value(
            VariantAutoscaling, {"max_capacity": 4, "target_invocations_per_instance": 100.0}
        ),
    }
    routing = {
        "type": TrafficRoutingType.CANARY,
        "canary_size": Value(CapacitySize.capacity_percent, {"percent": 10}),
        "wait_interval": cdk.Duration.minutes(5),
    }
    guardrails = {
        "traffic_routing": Value(TrafficRouting, routing),
        "termination_wait": cdk.Duration.minutes(5),
        "maximum_execution_timeout": cdk.Duration.hours(1),
    }
    bucket = s3.Bucket.from_bucket_name(stack, "Capture", "capture")
    return {
        "variants": [Value(ProductionVariant, variant)],
        "data_capture": Value(DataCapture, {"destination_bucket": bucket}),
        "deployment_guardrails": Value(DeploymentGuardrails, guardrails),
    }


def serverless_endpoint_props(stack: cdk.Stack) -> dict[str, Any]:
    variant = {
        "variant_name": "only",
        "model": Model.from_model_name(stack, "Existing", "existing"),
        "provisioned_concurrency": 2,
    }
    return {"variants": [Value(ServerlessVariant, variant)]}


def linear_endpoint_props(stack: cdk.Stack) -> dict[str, Any]:
    props = instance_endpoint_props(stack)
    size = Value(CapacitySize, {"type": CapacitySizeType.INSTANCE_COUNT, "value": 1})
    routing = Value(
        TrafficRouting.linear, {"step_size": size, "wait_interval": cdk.Duration.minutes(1)}
    )
    props["deployment_guardrails"] = Value(DeploymentGuardrails, {"traffic_routing": routing})
    return props


def pipeline_props(stack: cdk.Stack) -> dict[str, Any]:
    job_role = iam.Role(stack, "Job", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    return {
        "definition": Value(PipelineDefinition.from_dict, {"definition": PIPELINE_DEFINITION}),
        "job_role": job_role,
        "schedule": scheduler.ScheduleExpression.rate(cdk.Duration.hours(12)),
    }


def stored_pipeline_props(stack: cdk.Stack) -> dict[str, Any]:
    bucket = s3.Bucket.from_bucket_name(stack, "Definitions", "definitions")
    location = {"bucket": bucket, "key": "pipelines/training.json", "version": "3"}
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    return {"definition": Value(PipelineDefinition.from_bucket, location), "role": role}


def rollout_props(stack: cdk.Stack) -> dict[str, Any]:
    return {
        "endpoint": EndpointRef(),
        "baseline_variant": "baseline",
        "canary_variant": "canary",
        "vpc": imported_vpc(stack),
        "instance_scaling": Value(InstanceScaling, {"max_instances": 4}),
    }


@dataclass(frozen=True)
class Spec:
    name: str
    construct: type
    props: Callable[[cdk.Stack], dict[str, Any]]

    @functools.cached_property
    def paths(self) -> list[ArgumentPath]:
        """Every keyword argument of the constructor, and every argument of its values."""
        signature = inspect.signature(vars(self.construct)["__init__"]).parameters.values()
        names = [p.name for p in signature if p.kind is inspect.Parameter.KEYWORD_ONLY]
        props = self.props(_stack())
        return [p for n in names for p in [(n,), *nested_paths(props.get(n), (n,))]]


SPECS = [
    Spec("Notebook", Notebook, notebook_props),
    Spec("Model", Model, model_props),
    Spec("Model inference pipeline", Model, inference_pipeline_props),
    Spec("Endpoint on instances", Endpoint, instance_endpoint_props),
    Spec("Endpoint linear", Endpoint, linear_endpoint_props),
    Spec("Endpoint serverless", Endpoint, serverless_endpoint_props),
    Spec("Pipeline", Pipeline, pipeline_props),
    Spec("Pipeline stored in S3", Pipeline, stored_pipeline_props),
    Spec("CanaryRollout", CanaryRollout, rollout_props),
]

# ---------------------------------------------------------------------------- the property

_LINTED: dict[str, list[str]] = {}


def lint(template: dict[str, Any]) -> list[str]:
    """cfn-lint's findings, once per distinct template (most accepted values give one)."""
    key = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    if key not in _LINTED:
        _LINTED[key] = cfn_lint(template, REGION)
    return _LINTED[key]


def check(spec: Spec, path: ArgumentPath, value: Any) -> None:
    """Build ``spec``'s construct with ``value`` at ``path``: a ValueError must name the
    argument; a construct must synthesize a template cfn-lint accepts. Anything else raises."""
    stack = _stack()
    props = spec.props(stack)
    try:
        arguments = {name: make(arg) for name, arg in replace(props, path, value).items()}
        spec.construct(stack, "Subject", **arguments)
    except ValueError as error:
        message = str(error)
        assert message.startswith("Invalid arguments for "), message
        assert names_argument(message, props, path), f"{render(path)} not named in:\n{message}"
        return
    assert lint(dict(assertions.Template.from_stack(stack).to_json())) == []


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True)
@given(data=st.data())
def test_one_wrong_argument_is_named_or_harmless(spec: Spec, data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(spec.paths), label="argument")
    value = data.draw(WRONG_VALUES, label="value")
    note(f"{spec.name}: {render(path)} = {describe(value)}")
    check(spec, path, value)
