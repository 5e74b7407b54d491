"""What AWS accepts at deploy time, written once for every construct and the app's configuration.

Public, so that an app can check its own configuration with the rules the constructs apply:
each ``check_*`` function records problems in a :class:`ValidationProblems` (the argument's
name, the value, the rule and the fix); ``raise_if_any()`` raises them as one
``InvalidArgumentsError``.

- :data:`RANGES`: the numeric ranges CloudFormation's resource schemas declare for the
  properties this library writes. A test compares the table with the schemas cfn-lint ships,
  so the two cannot drift apart.
- Instance types, from the enums of the SageMaker API model botocore ships
  (``ProductionVariantInstanceType`` for hosting, ``InstanceType`` for notebooks, and the
  training, processing and transform enums for jobs).
- Regions, from botocore's partition data.
- Tags: what every AWS service accepts, and the ``aws:`` prefix AWS reserves for itself.
- Managed prefix-list ids.

>>> problems = ValidationProblems("Endpoint", "Api")
>>> check_instance_type(problems, "instance_type", "ml.t3.medium", HOSTING)
>>> check_range(problems, "volume_size_in_gb", 600, ENDPOINT_CONFIG, VOLUME_SIZE, unit="GB")
>>> len(problems)
2
"""

from __future__ import annotations

import difflib
import functools
import re
import typing
import unicodedata
from collections.abc import Mapping
from typing import Any

import botocore.session
from botocore.model import StringShape

from ._validation import Problem, ValidationProblems, is_token

__all__ = [
    "ENDPOINT",
    "ENDPOINT_CONFIG",
    "HOSTING",
    "INFERENCE_COMPONENT",
    "LAMBDA_FUNCTION",
    "NOTEBOOKS",
    "NOTEBOOK_INSTANCE",
    "PIPELINE",
    "PROCESSING",
    "RANGES",
    "TRAINING",
    "TRANSFORM",
    "Problem",
    "ValidationProblems",
    "check_bucket_name",
    "check_instance_type",
    "check_prefix_list_id",
    "check_range",
    "check_region",
    "check_s3_uri_text",
    "check_tags",
    "instance_type_problem",
    "instance_types",
    "known_regions",
]

# --------------------------------------------------------------------------- numeric ranges

ENDPOINT_CONFIG = "AWS::SageMaker::EndpointConfig"
ENDPOINT = "AWS::SageMaker::Endpoint"
NOTEBOOK_INSTANCE = "AWS::SageMaker::NotebookInstance"
PIPELINE = "AWS::SageMaker::Pipeline"
INFERENCE_COMPONENT = "AWS::SageMaker::InferenceComponent"
LAMBDA_FUNCTION = "AWS::Lambda::Function"

_VARIANT = "ProductionVariants/*/"
_SHADOW = "ShadowProductionVariants/*/"
_BLUE_GREEN = "DeploymentConfig/BlueGreenUpdatePolicy/"
_COMPONENT_SPEC = "Specification/"
_COMPONENT_ROLLING = "DeploymentConfig/RollingUpdatePolicy/"
VOLUME_SIZE = _VARIANT + "VolumeSizeInGB"

#: ``(resource type, property path) -> (minimum, maximum)`` as CloudFormation's resource
#: schemas declare them (``None``: no bound). ``*`` stands for every item of a list.
RANGES: Mapping[tuple[str, str], tuple[float | None, float | None]] = {
    # Endpoint configurations: production variants and data capture.
    (ENDPOINT_CONFIG, _VARIANT + "InitialInstanceCount"): (1, None),
    (ENDPOINT_CONFIG, _VARIANT + "InitialVariantWeight"): (0, None),
    (ENDPOINT_CONFIG, VOLUME_SIZE): (1, 512),
    (ENDPOINT_CONFIG, _VARIANT + "ContainerStartupHealthCheckTimeoutInSeconds"): (60, 3600),
    (ENDPOINT_CONFIG, _VARIANT + "ModelDataDownloadTimeoutInSeconds"): (60, 3600),
    (ENDPOINT_CONFIG, _VARIANT + "ServerlessConfig/MemorySizeInMB"): (1024, 6144),
    (ENDPOINT_CONFIG, _VARIANT + "ServerlessConfig/MaxConcurrency"): (1, 200),
    (ENDPOINT_CONFIG, _VARIANT + "ServerlessConfig/ProvisionedConcurrency"): (1, 200),
    (ENDPOINT_CONFIG, "DataCaptureConfig/InitialSamplingPercentage"): (0, 100),
    (ENDPOINT_CONFIG, "AsyncInferenceConfig/ClientConfig/MaxConcurrentInvocationsPerInstance"): (
        1,
        1000,
    ),
    # Endpoint configurations: shadow variants (the same ProductionVariant shape).
    (ENDPOINT_CONFIG, _SHADOW + "InitialInstanceCount"): (1, None),
    (ENDPOINT_CONFIG, _SHADOW + "InitialVariantWeight"): (0, None),
    (ENDPOINT_CONFIG, _SHADOW + "VolumeSizeInGB"): (1, 512),
    (ENDPOINT_CONFIG, _SHADOW + "ContainerStartupHealthCheckTimeoutInSeconds"): (60, 3600),
    (ENDPOINT_CONFIG, _SHADOW + "ModelDataDownloadTimeoutInSeconds"): (60, 3600),
    # Endpoint configurations of inference components.
    (ENDPOINT_CONFIG, _VARIANT + "ManagedInstanceScaling/MinInstanceCount"): (0, None),
    (ENDPOINT_CONFIG, _VARIANT + "ManagedInstanceScaling/MaxInstanceCount"): (1, None),
    # Inference components.
    (
        INFERENCE_COMPONENT,
        _COMPONENT_SPEC + "ComputeResourceRequirements/NumberOfCpuCoresRequired",
    ): (
        0.25,
        None,
    ),
    (
        INFERENCE_COMPONENT,
        _COMPONENT_SPEC + "ComputeResourceRequirements/NumberOfAcceleratorDevicesRequired",
    ): (1, None),
    (INFERENCE_COMPONENT, _COMPONENT_SPEC + "ComputeResourceRequirements/MinMemoryRequiredInMb"): (
        128,
        None,
    ),
    (INFERENCE_COMPONENT, _COMPONENT_SPEC + "ComputeResourceRequirements/MaxMemoryRequiredInMb"): (
        128,
        None,
    ),
    (
        INFERENCE_COMPONENT,
        _COMPONENT_SPEC + "StartupParameters/ContainerStartupHealthCheckTimeoutInSeconds",
    ): (60, 3600),
    (
        INFERENCE_COMPONENT,
        _COMPONENT_SPEC + "StartupParameters/ModelDataDownloadTimeoutInSeconds",
    ): (60, 3600),
    (INFERENCE_COMPONENT, "RuntimeConfig/CopyCount"): (0, None),
    (INFERENCE_COMPONENT, _COMPONENT_ROLLING + "WaitIntervalInSeconds"): (0, 3600),
    (INFERENCE_COMPONENT, _COMPONENT_ROLLING + "MaximumExecutionTimeoutInSeconds"): (600, 28800),
    # Endpoints: deployment guardrails.
    (ENDPOINT, _BLUE_GREEN + "MaximumExecutionTimeoutInSeconds"): (600, 28800),
    (ENDPOINT, _BLUE_GREEN + "TerminationWaitInSeconds"): (0, 3600),
    (ENDPOINT, _BLUE_GREEN + "TrafficRoutingConfiguration/CanarySize/Value"): (1, None),
    (ENDPOINT, _BLUE_GREEN + "TrafficRoutingConfiguration/LinearStepSize/Value"): (1, None),
    (ENDPOINT, _BLUE_GREEN + "TrafficRoutingConfiguration/WaitIntervalInSeconds"): (0, 3600),
    # Notebooks and pipelines.
    (NOTEBOOK_INSTANCE, "VolumeSizeInGB"): (5, 16384),
    (PIPELINE, "ParallelismConfiguration/MaxParallelExecutionSteps"): (1, None),
    # The rollout's functions.
    (LAMBDA_FUNCTION, "ReservedConcurrentExecutions"): (0, None),
    (LAMBDA_FUNCTION, "Timeout"): (1, 5400),
    (LAMBDA_FUNCTION, "MemorySize"): (128, 32768),
    # Fixed values the library and the app write (alarms, the guard's queue and rule,
    # security-group ports): listed so that the table covers every ranged property.
    ("AWS::CloudWatch::Alarm", "EvaluationPeriods"): (1, None),
    ("AWS::CloudWatch::Alarm", "DatapointsToAlarm"): (1, None),
    ("AWS::CloudWatch::Alarm", "Metrics/*/MetricStat/Period"): (1, None),
    ("AWS::CloudWatch::Alarm", "Period"): (1, None),
    ("AWS::SQS::Queue", "MessageRetentionPeriod"): (60, 1209600),
    ("AWS::StepFunctions::StateMachine", "EncryptionConfiguration/KmsDataKeyReusePeriodSeconds"): (
        60,
        900,
    ),
    ("AWS::Events::Rule", "Targets/*/RetryPolicy/MaximumRetryAttempts"): (0, 185),
    ("AWS::EC2::SecurityGroup", "SecurityGroupEgress/*/FromPort"): (-1, None),
    ("AWS::EC2::SecurityGroup", "SecurityGroupEgress/*/ToPort"): (-1, None),
    ("AWS::EC2::SecurityGroup", "SecurityGroupIngress/*/FromPort"): (-1, None),
    ("AWS::EC2::SecurityGroup", "SecurityGroupIngress/*/ToPort"): (-1, None),
    # egress to a managed prefix list (S3, DynamoDB gateway endpoints) is a rule resource
    ("AWS::EC2::SecurityGroupEgress", "FromPort"): (-1, None),
    ("AWS::EC2::SecurityGroupEgress", "ToPort"): (-1, None),
}


def check_range(
    problems: ValidationProblems,
    argument: str,
    value: int | float | None,
    resource: str,
    prop: str,
    *,
    unit: str = "",
    minimum: float | None = None,
    maximum: float | None = None,
) -> None:
    """Check ``value`` against the range CloudFormation declares for ``resource``'s ``prop``.

    ``minimum`` / ``maximum`` narrow the schema's range where SageMaker is stricter than the
    schema (they never widen it).
    """
    low, high = RANGES[(resource, prop)]
    if minimum is not None:
        low = minimum if low is None else max(low, minimum)
    if maximum is not None:
        high = maximum if high is None else min(high, maximum)
    problems.check_range(argument, value, minimum=low, maximum=high, unit=unit)


# --------------------------------------------------------------------------- instance types

#: botocore shape names of the SageMaker instance-type enums, one per kind of compute.
HOSTING = "ProductionVariantInstanceType"
NOTEBOOKS = "InstanceType"
TRAINING = "TrainingInstanceType"
PROCESSING = "ProcessingInstanceType"
TRANSFORM = "TransformInstanceType"

_KIND = {
    HOSTING: ("a SageMaker hosting instance type", "ml.m5.large"),
    NOTEBOOKS: ("a SageMaker notebook instance type", "ml.t3.medium"),
    TRAINING: ("a SageMaker training instance type", "ml.m5.xlarge"),
    PROCESSING: ("a SageMaker processing instance type", "ml.m5.xlarge"),
    TRANSFORM: ("a SageMaker batch transform instance type", "ml.m5.xlarge"),
}


@functools.cache
def instance_types(shape: str) -> frozenset[str]:
    """The instance types of one botocore SageMaker enum (``HOSTING``, ``NOTEBOOKS`` ...)."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    return frozenset(typing.cast(StringShape, model.shape_for(shape)).enum)


def instance_type_problem(value: str, shape: str) -> tuple[str, str] | None:
    """``(rule, fix)`` when ``value`` is not an instance type of ``shape``; ``None`` when it is."""
    if value in instance_types(shape):
        return None
    kind, example = _KIND[shape]
    close = difflib.get_close_matches(value, sorted(instance_types(shape)), n=3, cutoff=0.75)
    hint = f"did you mean {' or '.join(close)}? Otherwise " if close else ""
    return (
        f"must be {kind} (one of the {len(instance_types(shape))} that botocore's SageMaker "
        f"model lists for {shape})",
        f"{hint}pass a type such as '{example}' (a type newer than your botocore needs an "
        "upgraded boto3)",
    )


def check_instance_type(
    problems: ValidationProblems, argument: str, value: str | None, shape: str
) -> None:
    """Check that ``value`` is one of the instance types SageMaker offers for ``shape``."""
    if value is None or is_token(value):
        return
    problem = instance_type_problem(value, shape)
    if problem is not None:
        problems.add(argument, value, *problem)


# --------------------------------------------------------------------------- regions


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region of every partition in botocore's endpoint data."""
    data: dict[str, Any] = botocore.session.get_session().get_data("endpoints")
    return frozenset(region for p in data["partitions"] for region in p.get("regions", {}))


def check_region(problems: ValidationProblems, argument: str, value: str | None) -> None:
    """Check that ``value`` is a region botocore knows (``us-east-1``, ``eu-central-2`` ...)."""
    if value is None or is_token(value) or value in known_regions():
        return
    close = difflib.get_close_matches(value, sorted(known_regions()), n=3, cutoff=0.7)
    hint = f"did you mean {' or '.join(close)}? Otherwise " if close else ""
    problems.add(
        argument,
        value,
        "must be an AWS region that botocore's partition data lists",
        f"{hint}pass a region such as us-east-1 (a region newer than your botocore needs an "
        "upgraded boto3)",
    )


# --------------------------------------------------------------------------- tags

_TAG_PUNCTUATION = frozenset("_.:/=+-@")


def _tag_text_ok(text: str) -> bool:
    """``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*``: letters, separators, numbers and ``_.:/=+-@``."""
    return all(ch in _TAG_PUNCTUATION or unicodedata.category(ch)[0] in "LZN" for ch in text)


def check_tags(
    problems: ValidationProblems,
    argument: str,
    tags: Mapping[str, str] | None,
    *,
    maximum: int = 50,
) -> None:
    """Tags as AWS accepts them: at most ``maximum``; keys of 1-128 characters that do not
    start with the reserved ``aws:``; values of at most 256; letters, numbers, spaces and
    ``_.:/=+-@`` only."""
    if not tags:
        return
    problems.check_count(argument, list(tags), minimum=0, maximum=maximum)
    for key, value in tags.items():
        if not is_token(key):
            if not 1 <= len(key) <= 128 or not _tag_text_ok(key):
                problems.add(
                    f"{argument} key",
                    key,
                    "tag keys must have 1-128 letters, numbers, spaces and _.:/=+-@",
                    "shorten the key or remove other characters",
                )
            elif key.lower().startswith("aws:"):
                problems.add(
                    f"{argument} key",
                    key,
                    "the aws: prefix is reserved for tags AWS sets itself",
                    "choose a key without the aws: prefix (for example cost-center)",
                )
        if not is_token(value) and (len(value) > 256 or not _tag_text_ok(value)):
            problems.add(
                f"{argument}[{key!r}]",
                value,
                "tag values must have at most 256 letters, numbers, spaces and _.:/=+-@",
                "shorten the value or remove other characters",
            )


# --------------------------------------------------------------------------- buckets

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def check_bucket_name(problems: ValidationProblems, argument: str, value: str | None) -> None:
    """Amazon S3's rules for general purpose bucket names."""
    if value is None or is_token(value):
        return
    problems.check(
        bool(_BUCKET_NAME.match(value))
        and ".." not in value
        and ".-" not in value
        and "-." not in value
        and not _IP_ADDRESS.match(value)
        and not value.startswith(_RESERVED_BUCKET_PREFIXES)
        and not value.endswith(_RESERVED_BUCKET_SUFFIXES),
        argument,
        value,
        "must be an S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens, starting "
        "and ending with a letter or digit, no '..', '.-' or '-.', not an IP address, no "
        "reserved prefix (xn--, sthree-, amzn-s3-demo-) or suffix (-s3alias, --ol-s3, .mrap, "
        "--x-s3, --table-s3)",
        "pass the name of the bucket as S3 shows it",
    )


# --------------------------------------------------------------------------- S3 URIs

#: Line terminators. SageMaker matches the S3 URIs it takes (``ModelDataUrl``, ``S3Uri``,
#: ``DestinationS3Uri``) with ``^(https|s3)://([^/]+)/?(.*)$``, a Java pattern whose ``.``
#: matches none of them.
_LINE_BREAK = re.compile("[\n\r\x85\u2028\u2029]")


def check_s3_uri_text(problems: ValidationProblems, argument: str, value: str | None) -> None:
    """Text that becomes part of an S3 URI SageMaker takes (a key, a prefix, the URI itself)
    must not hold a line break."""
    if value is None or is_token(value):
        return
    found = _LINE_BREAK.search(value)
    if found is not None:
        problems.add(
            argument,
            value,
            f"must not hold a line break (U+{ord(found.group()):04X} at position "
            f"{found.start()}): SageMaker matches S3 URIs with (https|s3)://([^/]+)/?(.*), whose "
            "'.' matches no line break",
            "remove the line break",
        )


# --------------------------------------------------------------------------- prefix lists

PREFIX_LIST_ID = re.compile(r"^pl-[0-9a-f]{8,17}$")


def check_prefix_list_id(problems: ValidationProblems, argument: str, value: str | None) -> None:
    """A managed prefix list's id: ``pl-`` and 8 to 17 hexadecimal digits."""
    if value is None or is_token(value):
        return
    problems.check(
        bool(PREFIX_LIST_ID.match(value)),
        argument,
        value,
        "must be a managed prefix-list id pl-<8 to 17 hex digits>",
        "look it up with `aws ec2 describe-managed-prefix-lists` (S3's is named "
        "com.amazonaws.<region>.s3)",
    )
