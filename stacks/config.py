"""Typed, frozen configuration for the app, parsed from ``cdk.json`` context.

The context key ``sagemaker-constructs`` holds the project name, one object per
environment and, optionally, the promotion pipeline. Every environment key is optional except
``account``, ``region`` and ``model``; instance types follow the seed's map (dev
ml.t3.medium, test ml.m5.xlarge, prod ml.m5.4xlarge) for notebooks, and the same map for
endpoints except in dev, where SageMaker hosting offers no ml.t3 type (ml.t2.medium instead).
Values that reach the library's constructs are checked by the library's own rules: instance
types against the SageMaker API model botocore ships, regions against botocore's partition
data, tags as AWS accepts them; a construct's rule that only the construct can check is reported
at the key that fed it (:func:`from_construct_arguments`).
An unknown key, a missing value or a wrong type raises :class:`ConfigError`, whose message
names the key path (``sagemaker-constructs.environments.dev.vpc.cidr``) and what is allowed.

``-c environments=dev,test`` selects environments; the default is all of them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal, TypeVar, get_args, get_origin

from sagemaker_constructs import InvalidArgumentsError
from sagemaker_constructs import aws_rules as aws
from sagemaker_constructs.aws_rules import Problem, ValidationProblems
from sagemaker_constructs.log_groups import RETENTION_BY_DAYS
from sagemaker_constructs.model import MODEL_PACKAGE_ARN

from .registry import Release

__all__ = [
    "CONTEXT_KEY",
    "AppConfig",
    "ConfigError",
    "EndpointConfig",
    "EnvironmentConfig",
    "ExistingVpcConfig",
    "ModelConfig",
    "NewVpcConfig",
    "NotebookConfig",
    "PackageModelConfig",
    "PipelineConfig",
    "RegistryConfig",
    "configured_versions",
    "from_construct_arguments",
    "load_config",
    "registry_version",
    "with_candidate_package",
    "with_releases",
]

CONTEXT_KEY = "sagemaker-constructs"
ENVIRONMENT_NAMES = ("dev", "test", "prod")
#: ``-c candidate_package=<arn>``: a version of the registry's group, served as the candidate.
CANDIDATE_PACKAGE = "candidate_package"
#: ``-c resolve_candidate=latest-approved``: ask the registry (boto3) for the candidate.
RESOLVE_CANDIDATE = "resolve_candidate"
#: What ``resolve_candidate`` may ask for.
LATEST_APPROVED = "latest-approved"
#: ``-c candidate_phase=shadow``: deploy each candidate as a shadow variant (mirrored traffic,
#: no user impact) to judge it with a shadow evaluation; the default, ``canary``, deploys it as
#: a production variant at weight 0 for its canary rollout.
CANDIDATE_PHASE = "candidate_phase"
SHADOW = "shadow"
CANARY = "canary"
CANDIDATE_PHASES = (CANARY, SHADOW)

#: The seed's instance-type map (notebooks).
DEFAULT_INSTANCE_TYPES = {
    "dev": "ml.t3.medium",
    "test": "ml.m5.xlarge",
    "prod": "ml.m5.4xlarge",
}
#: The same map for hosting, where SageMaker offers no ml.t3 types: dev uses ml.t2.medium.
DEFAULT_ENDPOINT_INSTANCE_TYPES = {
    "dev": "ml.t2.medium",
    "test": "ml.m5.xlarge",
    "prod": "ml.m5.4xlarge",
}

_ACCOUNT = re.compile(r"^\d{12}$")
_ECR_IMAGE = re.compile(
    r"^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+"
    r"(:[\w][\w.-]{0,127}|@sha256:[a-f0-9]{64})?$"
)
_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_LOG_RETENTION_DAYS = tuple(RETENTION_BY_DAYS)
_KMS_KEY_ARN = re.compile(
    r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/([0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$"
)


class ConfigError(ValueError):
    """A configuration value is unknown, missing or of the wrong type or form.

    The message has one line per problem, each starting with the key path.
    """

    @classmethod
    def of(cls, problems: Sequence[Problem]) -> ConfigError:
        return cls("\n".join(dict.fromkeys(_line(problem) for problem in problems)))


def _line(problem: Problem) -> str:
    if problem.argument is None:
        return str(problem)
    return (
        f"{problem.argument}: {problem.value!r} is not allowed: {problem.rule}. Fix: {problem.fix}."
    )


@contextlib.contextmanager
def from_construct_arguments(keys: Mapping[str, str], where: str) -> Iterator[None]:
    """Report a construct's invalid arguments as configuration errors at ``cdk.json``'s keys.

    ``keys`` maps a construct argument (``containers[0].environment``) to the key its value
    comes from; a problem with an argument no key feeds is reported at ``where`` (the
    environment), naming the construct.
    """
    try:
        yield
    except InvalidArgumentsError as error:
        raise ConfigError.of(
            [_at_key(problem, keys, where, error.owner) for problem in error.problems]
        ) from None


def _raise_any(problems: ValidationProblems) -> None:
    """Raise the problems found with the library's rules (arguments named by key path)."""
    try:
        problems.raise_if_any()
    except InvalidArgumentsError as error:
        raise ConfigError.of(error.problems) from None


def _at_key(problem: Problem, keys: Mapping[str, str], where: str, owner: str) -> Problem:
    argument = problem.argument or ""
    for name in sorted(keys, key=len, reverse=True):
        if argument == name or argument.startswith((f"{name}[", f"{name}.")):
            return dataclasses.replace(problem, argument=keys[name] + argument[len(name) :])
    return dataclasses.replace(problem, argument=f"{where} ({owner}: {argument or 'arguments'})")


@dataclasses.dataclass(frozen=True, kw_only=True)
class NewVpcConfig:
    """A new VPC with isolated subnets only (no NAT gateway, no internet gateway)."""

    cidr: str = "10.0.0.0/16"
    #: Availability zones, by name; default: the region's first two, chosen at deploy time.
    availability_zones: tuple[str, ...] = ()
    #: Retention of the VPC flow logs, in days (a CloudWatch Logs retention value).
    flow_log_retention_days: int = 365
    #: The region's AWS-managed prefix lists ``com.amazonaws.<region>.s3`` and ``.dynamodb``
    #: (``pl-...``), required: the security groups of the models and of the rollout's guard
    #: reach the S3 and DynamoDB gateway endpoints through them (CloudFormation cannot look
    #: them up, and the app makes no lookups at synth).
    s3_prefix_list_id: str | None = None
    dynamodb_prefix_list_id: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExistingVpcConfig:
    """An existing VPC, imported by ids (no lookup at synth)."""

    vpc_id: str
    cidr: str
    availability_zones: tuple[str, ...]
    #: One isolated (or private) subnet per availability zone, in the same order.
    subnet_ids: tuple[str, ...]
    #: Create the interface endpoints this project needs (off: the VPC's owner provides them).
    create_endpoints: bool = False
    #: The region's prefix lists for S3 and DynamoDB, as for a new VPC: required with
    #: ``create_endpoints`` (the gateway endpoints are then created); otherwise needed when the
    #: VPC's owner provides S3 and DynamoDB as gateway endpoints (not as interface endpoints).
    s3_prefix_list_id: str | None = None
    dynamodb_prefix_list_id: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class NotebookConfig:
    """The exploration notebook of an environment."""

    enabled: bool
    instance_type: str = "ml.t3.medium"
    volume_size_in_gb: int = 20


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """A model the environment's endpoint serves: an ECR image and a model archive in S3."""

    #: Image URI in Amazon ECR, e.g. an AWS Deep Learning Container.
    image: str
    #: Name of the S3 bucket holding the model archive (it is granted read to the model).
    model_data_bucket: str
    #: Key of the ``model.tar.gz`` in that bucket.
    model_data_key: str
    #: Environment variables of the container.
    environment: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: types.MappingProxyType({})
    )

    @property
    def bucket(self) -> str:
        """The bucket the model is loaded from."""
        return self.model_data_bucket


@dataclasses.dataclass(frozen=True, kw_only=True)
class PackageModelConfig:
    """A model the endpoint serves from the SageMaker Model Registry: a model package version.

    The package names its image and artifacts; the model's role is granted to describe the
    package and to read (and decrypt) the artifacts named here.
    """

    #: ``arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>``, in the
    #: environment's region (of this account or, through the group's policy, another).
    model_package: str
    #: The bucket holding the package's artifacts (its ``ModelDataUrl``).
    artifacts_bucket: str
    #: The artifacts' object key, or a prefix ending with ``/`` (every version under it).
    artifacts_key: str
    #: The KMS key the artifacts are encrypted with, when it is not S3's own. Default: none.
    artifacts_kms_key_arn: str | None = None
    #: Environment variables of the container, added to the package's.
    environment: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: types.MappingProxyType({})
    )

    @property
    def bucket(self) -> str:
        """The bucket the model is loaded from."""
        return self.artifacts_bucket


#: A model by image and archive, or by model package.
AnyModelConfig = ModelConfig | PackageModelConfig


@dataclasses.dataclass(frozen=True, kw_only=True)
class EndpointConfig:
    """The environment's real-time endpoint."""

    instance_type: str
    initial_instance_count: int = 1


@dataclasses.dataclass(frozen=True, kw_only=True)
class EnvironmentConfig:
    """One deployment environment (dev, test or prod)."""

    name: str
    account: str
    region: str
    #: The model the endpoint serves (its ``baseline`` variant).
    model: ModelConfig | PackageModelConfig
    endpoint: EndpointConfig
    notebook: NotebookConfig
    #: A candidate model: when set, it is the endpoint's ``candidate`` variant (weight 0)
    #: and the environment gets a canary rollout from the baseline to it.
    candidate: ModelConfig | PackageModelConfig | None = None
    #: ``cdk.json`` gives the environment a candidate: the promotion pipeline runs a rollout
    #: step after each deployment of it. Set from ``cdk.json`` (not a key of its own); it stays
    #: set when a synth that asked the registry finds nothing to roll out this time, so the
    #: stack still has the outputs that step reads.
    rolls_out: bool = False
    #: Judge each candidate as a shadow variant before its canary rollout: the environment
    #: gets a ``ShadowEvaluation`` (in both phases), and the promotion pipeline deploys it
    #: twice per candidate: shadow (then the evaluation must PASS), then canary (the rollout).
    shadow_first: bool = False
    #: Run models with network isolation (no outbound network from the containers).
    network_isolation: bool = True
    #: Retain stateful resources (keys, logs, buckets) when the stack is deleted.
    retain_data: bool = False
    #: Retention of the log groups the environment creates for SageMaker (notebooks, jobs,
    #: endpoints) and for its custom resources, in days (a CloudWatch Logs retention value).
    log_retention_days: int = 365
    vpc: NewVpcConfig | ExistingVpcConfig = dataclasses.field(default_factory=NewVpcConfig)
    tags: Mapping[str, str] = dataclasses.field(default_factory=lambda: types.MappingProxyType({}))


@dataclasses.dataclass(frozen=True, kw_only=True)
class PipelineConfig:
    """The CDK Pipelines stack that promotes the environments dev -> test -> prod."""

    account: str
    region: str
    #: A CodeConnections (CodeStar connection) ARN with access to the repository.
    connection_arn: str
    #: ``owner/name`` of the repository.
    repository: str
    branch: str = "main"


@dataclasses.dataclass(frozen=True, kw_only=True)
class RegistryConfig:
    """The model registry: the model package group the training pipeline of one environment
    registers into, which the other environments (and the pipeline account) may read.

    Candidates chosen with ``-c candidate_package=<arn>`` (or resolved with
    ``-c resolve_candidate=latest-approved``) are versions of this group, served from the
    artifacts named here.
    """

    #: The environment whose account holds the group (where the training pipeline runs).
    environment: str = "dev"
    #: The group's name. Default: ``<project>-<environment>-models``, the group the
    #: environment's training pipeline registers into.
    model_package_group_name: str | None = None
    #: The bucket the registered models' artifacts are in (readable by every environment).
    artifacts_bucket: str
    #: The prefix of every registered model's artifacts in that bucket, ending with ``/``.
    artifacts_key: str
    #: The KMS key the artifacts are encrypted with, when it is not S3's own. Default: none.
    artifacts_kms_key_arn: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class AppConfig:
    """The whole app: the project's name, the selected environments, the pipeline."""

    project: str
    environments: tuple[EnvironmentConfig, ...]
    #: Every configured environment, in promotion order (the pipeline deploys all of them).
    all_environments: tuple[EnvironmentConfig, ...] = ()
    #: ``None`` when not configured, or when ``-c environments=...`` leaves it out.
    pipeline: PipelineConfig | None = None
    #: The configured pipeline's account, selected or not: environments trust it to run
    #: their rollouts, so a laptop deploy and a pipeline deploy build the same stack.
    pipeline_account: str | None = None
    #: The model registry, when configured.
    registry: RegistryConfig | None = None
    #: ``-c resolve_candidate=latest-approved``: the app asks the registry for the newest
    #: approved version and serves it as every environment's candidate.
    resolve_candidate: str | None = None
    #: ``-c candidate_phase=shadow``: candidates are deployed as shadow variants (default
    #: ``canary``: production variants at weight 0, for the rollout).
    candidate_phase: str = CANARY

    def environment(self, name: str) -> EnvironmentConfig:
        for env in self.environments:
            if env.name == name:
                return env
        raise KeyError(name)

    @property
    def registry_environment(self) -> EnvironmentConfig | None:
        """The (configured) environment that holds the registry."""
        if self.registry is None:
            return None
        return next(e for e in self.all_environments if e.name == self.registry.environment)

    @property
    def registry_group_name(self) -> str | None:
        """The registry's model package group name."""
        if self.registry is None:
            return None
        return self.registry.model_package_group_name or default_group_name(
            self.project, self.registry.environment
        )

    @property
    def registry_group_arn(self) -> str | None:
        """The registry's group ARN (lower case, as SageMaker writes it)."""
        env = self.registry_environment
        name = self.registry_group_name
        if env is None or name is None:
            return None
        return (
            f"arn:{_partition(env.region)}:sagemaker:{env.region}:{env.account}:"
            f"model-package-group/{name.lower()}"
        )


def default_group_name(project: str, environment: str) -> str:
    """The model package group an environment's training pipeline registers into."""
    return f"{project}-{environment}-models"


# --------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------

T = TypeVar("T")


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_describe(a) for a in get_args(tp))
    if origin is tuple:
        return f"list of {_describe(get_args(tp)[0])}"
    if origin in (Mapping, dict):
        return "object of strings"
    if dataclasses.is_dataclass(tp):
        keys = ", ".join(
            f.name for f in dataclasses.fields(tp) if f.name not in ("name", "rolls_out")
        )
        return f"object with keys {keys}"
    return {str: "string", bool: "true or false", int: "integer"}.get(tp, str(tp))


def _parse_value(tp: Any, value: Any, path: str) -> Any:
    origin = get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        # Unions of dataclasses: pick the member whose required keys are all present.
        members = tuple(m for m in get_args(tp) if m is not type(None))
        if value is None and len(members) < len(get_args(tp)):
            return None
        if len(members) == 1 and not dataclasses.is_dataclass(members[0]):
            return _parse_value(members[0], value, path)
        if isinstance(value, Mapping):
            for member in members:
                required = {
                    f.name
                    for f in dataclasses.fields(member)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                }
                if required and required <= set(value):
                    return _parse_dataclass(member, value, path)
            # None complete: report against the member the given keys point to.
            return _parse_dataclass(max(members, key=lambda m: _overlap(m, value)), value, path)
        raise ConfigError(f"{path}: expected {_describe(tp)}, got {value!r}")
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected {_describe(tp)}, got {value!r}")
        (item_type, _) = get_args(tp)
        return tuple(_parse_value(item_type, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is Mapping:
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise ConfigError(f"{path}: expected an object of string values, got {value!r}")
        return types.MappingProxyType(dict(value))
    if dataclasses.is_dataclass(tp):
        return _parse_dataclass(tp, value, path)  # type: ignore[arg-type]
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{path}: expected a non-empty string, got {value!r}")
        return value
    raise TypeError(f"unsupported configuration type {tp!r} at {path}")  # pragma: no cover


def _overlap(cls: Any, data: Mapping[str, Any]) -> int:
    """How many of ``data``'s keys are fields of ``cls`` (ties go to the first member)."""
    return len({f.name for f in dataclasses.fields(cls)} & set(data))


def _parse_dataclass(cls: type[T], data: Any, path: str, **given: Any) -> T:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected {_describe(cls)}, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    allowed = sorted(n for n in fields if n not in given)
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{path}.{unknown[0]}: unknown key; allowed keys are: {', '.join(allowed)}"
        )
    kwargs: dict[str, Any] = dict(given)
    for name, field in fields.items():
        if name in given:
            continue
        if name in data:
            kwargs[name] = _parse_value(hints[name], data[name], f"{path}.{name}")
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{path}.{name}: missing; expected {_describe(hints[name])}")
    return cls(**kwargs)


def _check(ok: bool, path: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{path}: {value!r} is not allowed; expected {allowed}")


def _check_cidr(path: str, cidr: str) -> None:
    try:
        network = ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        _check(False, path, cidr, "an IPv4 CIDR block such as 10.0.0.0/16")
        return
    _check(
        network.version == 4 and 16 <= network.prefixlen <= 24,
        path,
        cidr,
        "an IPv4 CIDR block with a prefix between /16 and /24",
    )


#: The prefix-list keys of ``vpc`` and the service each one names.
_PREFIX_LISTS = {"s3_prefix_list_id": "s3", "dynamodb_prefix_list_id": "dynamodb"}


def _check_gateway_prefix_lists(env: EnvironmentConfig, path: str) -> None:
    """Where the foundation creates the gateway endpoints, code reaches them through the
    region's prefix lists only: their ids are required."""
    vpc = env.vpc
    if isinstance(vpc, ExistingVpcConfig) and not vpc.create_endpoints:
        return
    for key, service in _PREFIX_LISTS.items():
        if getattr(vpc, key) is None:
            name = f"com.amazonaws.{env.region}.{service}"
            raise ConfigError(
                f"{path}.vpc.{key}: missing; expected the id (pl-...) of the managed prefix "
                f"list {name}, through which the environment's security groups reach its "
                f"{service} gateway endpoint: aws ec2 describe-managed-prefix-lists --region "
                f"{env.region} --filters Name=prefix-list-name,Values={name} "
                "--query 'PrefixLists[0].PrefixListId'"
            )


def _validate_environment(env: EnvironmentConfig, path: str) -> None:
    _check(bool(_ACCOUNT.match(env.account)), f"{path}.account", env.account, "12 digits")
    # The library's own rules, at the keys that feed them.
    problems = ValidationProblems("configuration")
    aws.check_region(problems, f"{path}.region", env.region)
    aws.check_instance_type(
        problems, f"{path}.endpoint.instance_type", env.endpoint.instance_type, aws.HOSTING
    )
    aws.check_instance_type(
        problems, f"{path}.notebook.instance_type", env.notebook.instance_type, aws.NOTEBOOKS
    )
    # Every resource also carries the Project and Environment tags.
    aws.check_tags(problems, f"{path}.tags", env.tags, maximum=48)
    for key, model in (("model", env.model), ("candidate", env.candidate)):
        if isinstance(model, ModelConfig):
            aws.check_bucket_name(
                problems, f"{path}.{key}.model_data_bucket", model.model_data_bucket
            )
        elif isinstance(model, PackageModelConfig):
            aws.check_bucket_name(problems, f"{path}.{key}.artifacts_bucket", model.bucket)
    for key in _PREFIX_LISTS:
        aws.check_prefix_list_id(problems, f"{path}.vpc.{key}", getattr(env.vpc, key))
    _raise_any(problems)
    _check_gateway_prefix_lists(env, path)
    _check(
        env.candidate is None or env.candidate != env.model,
        f"{path}.candidate",
        "the same model as model",
        "a different model (image, archive or environment) than the one being served",
    )
    for key, model in (("model", env.model), ("candidate", env.candidate)):
        if isinstance(model, PackageModelConfig):
            _check_package_model(model, f"{path}.{key}")
        if not isinstance(model, ModelConfig):
            continue
        _check(
            bool(_ECR_IMAGE.match(model.image)),
            f"{path}.{key}.image",
            model.image,
            "an Amazon ECR image URI <account>.dkr.ecr.<region>.amazonaws.com/<name>[:tag]",
        )
        _check(
            model.model_data_key.endswith(".tar.gz") and not model.model_data_key.startswith("/"),
            f"{path}.{key}.model_data_key",
            model.model_data_key,
            "the key of a .tar.gz archive, without a leading slash",
        )
    vpc = env.vpc
    _check_cidr(f"{path}.vpc.cidr", vpc.cidr)
    for i, zone in enumerate(vpc.availability_zones):
        _check(
            zone.startswith(env.region) and len(zone) == len(env.region) + 1,
            f"{path}.vpc.availability_zones[{i}]",
            zone,
            f"a zone of {env.region}, such as {env.region}a",
        )
    _check(
        env.log_retention_days in _LOG_RETENTION_DAYS,
        f"{path}.log_retention_days",
        env.log_retention_days,
        f"one of {', '.join(map(str, _LOG_RETENTION_DAYS))}",
    )
    if isinstance(vpc, NewVpcConfig):
        _check(
            vpc.flow_log_retention_days in _LOG_RETENTION_DAYS,
            f"{path}.vpc.flow_log_retention_days",
            vpc.flow_log_retention_days,
            f"one of {', '.join(map(str, _LOG_RETENTION_DAYS))}",
        )
        _check(
            len(vpc.availability_zones) in (0, 2, 3),
            f"{path}.vpc.availability_zones",
            list(vpc.availability_zones),
            "2 or 3 zones (or none for the region's a and b zones)",
        )
    else:
        _check(bool(_VPC_ID.match(vpc.vpc_id)), f"{path}.vpc.vpc_id", vpc.vpc_id, "vpc-<hex>")
        _check(
            len(vpc.availability_zones) >= 2,
            f"{path}.vpc.availability_zones",
            list(vpc.availability_zones),
            "at least 2 zones",
        )
        _check(
            len(vpc.subnet_ids) == len(vpc.availability_zones),
            f"{path}.vpc.subnet_ids",
            list(vpc.subnet_ids),
            "one subnet id per availability zone, in the same order",
        )
        for i, subnet in enumerate(vpc.subnet_ids):
            _check(
                bool(_SUBNET_ID.match(subnet)),
                f"{path}.vpc.subnet_ids[{i}]",
                subnet,
                "subnet-<hex>",
            )


def _check_package_model(model: PackageModelConfig, path: str) -> None:
    """What only the app knows about a package's artifacts (the package ARN itself is checked
    by the library's Model, and reported at ``model_package``)."""
    _check(
        not model.artifacts_key.startswith("/"),
        f"{path}.artifacts_key",
        model.artifacts_key,
        "an object key or a prefix ending with '/', without a leading slash",
    )
    _check_kms_key_arn(f"{path}.artifacts_kms_key_arn", model.artifacts_kms_key_arn)


def _check_kms_key_arn(path: str, arn: str | None) -> None:
    _check(
        arn is None or bool(_KMS_KEY_ARN.match(arn)),
        path,
        arn,
        "a KMS key ARN arn:aws:kms:<region>:<account>:key/<key id> (not an alias)",
    )


def _check_model_kind(data: Any, path: str) -> None:
    """A model is an image and an archive, or a model package: never both."""
    if isinstance(data, Mapping) and "model_package" in data and "image" in data:
        raise ConfigError(
            f"{path}: 'image' and 'model_package' are not allowed together; expected either "
            "image, model_data_bucket and model_data_key, or model_package, artifacts_bucket "
            "and artifacts_key. Fix: keep one of the two"
        )


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _environment_defaults(name: str) -> dict[str, Any]:
    return {
        "endpoint": {"instance_type": DEFAULT_ENDPOINT_INSTANCE_TYPES[name]},
        "notebook": {"enabled": name != "prod", "instance_type": DEFAULT_INSTANCE_TYPES[name]},
        "network_isolation": True,
        "retain_data": name == "prod",
    }


def parse_config(raw: Any, selected: Sequence[str] | None = None) -> AppConfig:
    """Parse the ``sagemaker-constructs`` context object (already JSON-decoded)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"{CONTEXT_KEY}: missing or not an object; expected an object with keys "
            "project, environments (see cdk.json)"
        )
    unknown = sorted(set(raw) - {"project", "environments", "pipeline", "registry"})
    if unknown:
        raise ConfigError(
            f"{CONTEXT_KEY}.{unknown[0]}: unknown key; allowed keys are: environments, "
            "pipeline, project, registry"
        )
    project = _parse_value(
        str, raw.get("project", "sagemaker-constructs"), f"{CONTEXT_KEY}.project"
    )
    _check(
        bool(re.match(r"^[A-Za-z][A-Za-z0-9-]{0,31}$", project)),
        f"{CONTEXT_KEY}.project",
        project,
        "1-32 letters, digits and hyphens, starting with a letter",
    )
    environments_raw = raw.get("environments")
    if not isinstance(environments_raw, Mapping) or not environments_raw:
        raise ConfigError(
            f"{CONTEXT_KEY}.environments: missing or empty; expected an object with keys "
            f"among {', '.join(ENVIRONMENT_NAMES)}"
        )
    environments = []
    for name, data in environments_raw.items():
        path = f"{CONTEXT_KEY}.environments.{name}"
        _check(name in ENVIRONMENT_NAMES, f"{CONTEXT_KEY}.environments", name,
               f"environment names among {', '.join(ENVIRONMENT_NAMES)}")  # fmt: skip
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: expected an object, got {data!r}")
        defaults = _environment_defaults(name)
        merged = {**defaults, **data}
        for section in ("model", "candidate"):
            _check_model_kind(data.get(section), f"{path}.{section}")
        for section in ("notebook", "endpoint"):
            if isinstance(data.get(section), Mapping):
                merged[section] = {**defaults[section], **data[section]}
        env = _parse_dataclass(
            EnvironmentConfig,
            merged,
            path,
            name=name,
            rolls_out=data.get("candidate") is not None,
        )
        _validate_environment(env, path)
        environments.append(env)
    order = {name: index for index, name in enumerate(ENVIRONMENT_NAMES)}
    environments.sort(key=lambda env: order[env.name])
    pipeline = None
    if "pipeline" in raw:
        pipeline = _parse_dataclass(PipelineConfig, raw["pipeline"], f"{CONTEXT_KEY}.pipeline")
        _validate_pipeline(pipeline, f"{CONTEXT_KEY}.pipeline")
    registry = None
    if "registry" in raw:
        registry = _parse_dataclass(RegistryConfig, raw["registry"], f"{CONTEXT_KEY}.registry")
        _validate_registry(registry, [env.name for env in environments])
    all_environments = tuple(environments)
    pipeline_account = pipeline.account if pipeline else None
    if selected is not None:
        known = [env.name for env in environments] + (["pipeline"] if pipeline else [])
        missing = [s for s in selected if s not in known]
        if missing or not selected:
            raise ConfigError(
                f"context 'environments': {','.join(selected)!r} is not allowed; expected a "
                f"comma-separated list of {', '.join(known)}"
            )
        environments = [env for env in environments if env.name in selected]
        if "pipeline" not in selected:
            pipeline = None
    return AppConfig(
        project=project,
        environments=tuple(environments),
        all_environments=all_environments,
        pipeline=pipeline,
        pipeline_account=pipeline_account,
        registry=registry,
    )


def _validate_registry(registry: RegistryConfig, environments: Sequence[str]) -> None:
    path = f"{CONTEXT_KEY}.registry"
    _check(
        registry.environment in environments,
        f"{path}.environment",
        registry.environment,
        f"one of the configured environments ({', '.join(environments)})",
    )
    problems = ValidationProblems("configuration")
    problems.check_name(f"{path}.model_package_group_name", registry.model_package_group_name)
    aws.check_bucket_name(problems, f"{path}.artifacts_bucket", registry.artifacts_bucket)
    _raise_any(problems)
    _check(
        registry.artifacts_key.endswith("/") and not registry.artifacts_key.startswith("/"),
        f"{path}.artifacts_key",
        registry.artifacts_key,
        "the prefix every registered model's artifacts are under, ending with '/' and "
        "without a leading slash",
    )
    _check_kms_key_arn(f"{path}.artifacts_kms_key_arn", registry.artifacts_kms_key_arn)


def with_candidate_package(config: AppConfig, arn: str, *, source: str) -> AppConfig:
    """``config`` with the registry's version ``arn`` as the candidate of every environment
    that has one (a rollout) in ``cdk.json``.

    Those environments serve it as their ``candidate`` variant (weight 0), with the canary
    rollout to it; the others keep serving their ``model`` alone (the promotion pipeline's
    structure, a rollout step after each environment with a candidate, never depends on the
    version). A candidate configured as a package keeps its artifacts and environment (only
    the version changes); an image candidate is replaced by the package, with the registry's
    artifacts. ``source`` names where the ARN came from (a context key), for errors.
    """
    registry = _registry_for(config, arn, source)
    _check_registry_version(config, arn, source)
    _check_some_environment_rolls_out(config, arn, source)

    def candidate(env: EnvironmentConfig) -> EnvironmentConfig:
        if env.candidate is None:
            return env
        package = registry_version(env, registry, arn)
        _check(
            package != env.model,
            source,
            arn,
            f"a version other than {CONTEXT_KEY}.environments.{env.name}.model, which the "
            "endpoint already serves",
        )
        return dataclasses.replace(env, candidate=package)

    return _replace_environments(config, candidate)


def registry_version(
    env: EnvironmentConfig, registry: RegistryConfig, arn: str
) -> PackageModelConfig:
    """The version ``arn`` of the registry as ``env`` serves it, whether as its candidate or,
    once promoted, as its model: always built the same way, so that the variant named after it
    (``variant_name``) keeps its name, and its traffic, when the promoted candidate becomes the
    model. A candidate configured as a package lends its artifacts and environment (only the
    version changes); otherwise the registry's artifacts, without environment variables.
    """
    configured = env.candidate
    if isinstance(configured, PackageModelConfig):
        return dataclasses.replace(configured, model_package=arn)
    return PackageModelConfig(
        model_package=arn,
        artifacts_bucket=registry.artifacts_bucket,
        artifacts_key=registry.artifacts_key,
        artifacts_kms_key_arn=registry.artifacts_kms_key_arn,
    )


def configured_versions(config: AppConfig) -> dict[str, int | None]:
    """Each environment that rolls out -> the version of the registry's group its ``cdk.json``
    ``model`` is (``None``: a model from elsewhere, an image or another group's package)."""
    group = (config.registry_group_name or "").lower()
    registry_env = config.registry_environment
    versions: dict[str, int | None] = {}
    for env in config.all_environments:
        if not env.rolls_out:
            continue
        version = None
        if isinstance(env.model, PackageModelConfig) and registry_env is not None:
            match = MODEL_PACKAGE_ARN.match(env.model.model_package)
            if (
                match is not None
                and match["version"] is not None
                and (match["name"].lower(), match["account"], match["region"])
                == (group, registry_env.account, registry_env.region)
            ):
                version = int(match["version"])
        versions[env.name] = version
    return versions


def with_releases(config: AppConfig, releases: Mapping[str, Release], *, source: str) -> AppConfig:
    """``config`` as the registry says each environment that rolls out should be deployed.

    ``releases``: environment -> its :class:`~stacks.registry.Release`. Its ``model`` (the
    newest version promoted there) replaces ``cdk.json``'s model; without one the environment
    keeps it. Its ``candidate`` (the newest approved version newer than the model) is the
    candidate; without one the environment serves its model alone and has no rollout this time
    (it still :attr:`~EnvironmentConfig.rolls_out`). Both are built by
    :func:`registry_version`, so a promoted candidate keeps its variant as the model.
    """
    for arn in {a for r in releases.values() for a in (r.model, r.candidate) if a is not None}:
        _check_registry_version(config, arn, source)
    if config.registry is None:  # pragma: no cover (load_config requires one to resolve)
        raise ConfigError(f"{source}: a model registry is required")
    registry = config.registry

    def release(env: EnvironmentConfig) -> EnvironmentConfig:
        found = releases.get(env.name)
        if found is None or not env.rolls_out:
            return env
        model = registry_version(env, registry, found.model) if found.model else env.model
        candidate = registry_version(env, registry, found.candidate) if found.candidate else None
        _check(
            candidate is None or candidate != model,
            source,
            found.candidate,
            f"a version other than the one {CONTEXT_KEY}.environments.{env.name} already serves",
        )
        return dataclasses.replace(env, model=model, candidate=candidate)

    return _replace_environments(config, release)


def _replace_environments(
    config: AppConfig, change: Callable[[EnvironmentConfig], EnvironmentConfig]
) -> AppConfig:
    return dataclasses.replace(
        config,
        environments=tuple(change(env) for env in config.environments),
        all_environments=tuple(change(env) for env in config.all_environments),
    )


def _registry_for(config: AppConfig, arn: str, source: str) -> RegistryConfig:
    if config.registry is None:
        raise ConfigError(
            f"{source}: {arn!r} is not allowed without a model registry; expected "
            f"{CONTEXT_KEY}.registry in cdk.json (the group the package belongs to and its "
            "artifacts). Fix: configure the registry, or leave the candidate to cdk.json"
        )
    return config.registry


def _check_registry_version(config: AppConfig, arn: str, source: str) -> None:
    """``arn`` is a version of the registry's group, in the registry's account and region."""
    _registry_for(config, arn, source)
    match = MODEL_PACKAGE_ARN.match(arn)
    group = config.registry_group_name or ""
    registry_env = config.registry_environment
    assert registry_env is not None
    _check(
        match is not None and match["version"] is not None,
        source,
        arn,
        "a version of the registry's group, arn:aws:sagemaker:<region>:<account>:"
        f"model-package/{group.lower()}/<version>",
    )
    assert match is not None
    expected = (group.lower(), registry_env.account, registry_env.region)
    _check(
        (match["name"].lower(), match["account"], match["region"]) == expected,
        source,
        arn,
        f"a version of the registry's group {group} in account {registry_env.account}, "
        f"region {registry_env.region} (sagemaker-constructs.registry)",
    )


def _check_some_environment_rolls_out(config: AppConfig, value: Any, source: str) -> None:
    _check(
        any(env.candidate is not None or env.rolls_out for env in config.all_environments),
        source,
        value,
        f"an environment with a candidate (and so a rollout) to serve it: {CONTEXT_KEY}."
        "environments.<name>.candidate in cdk.json",
    )


_CONNECTION_ARN = re.compile(
    r"^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection/[\w-]+$"
)
_REPOSITORY = re.compile(r"^[\w.-]+/[\w.-]+$")


def _validate_pipeline(pipeline: PipelineConfig, path: str) -> None:
    _check(bool(_ACCOUNT.match(pipeline.account)), f"{path}.account", pipeline.account, "12 digits")
    problems = ValidationProblems("configuration")
    aws.check_region(problems, f"{path}.region", pipeline.region)
    _raise_any(problems)
    _check(
        bool(_CONNECTION_ARN.match(pipeline.connection_arn)),
        f"{path}.connection_arn",
        pipeline.connection_arn,
        "a CodeConnections ARN such as "
        "arn:aws:codeconnections:us-east-1:111111111111:connection/<id>",
    )
    _check(
        bool(_REPOSITORY.match(pipeline.repository)),
        f"{path}.repository",
        pipeline.repository,
        "owner/name",
    )


def load_config(context: Mapping[str, Any] | Any) -> AppConfig:
    """Read the configuration from a CDK node's context (``app.node.try_get_context``)."""
    get = context.get if isinstance(context, Mapping) else context.try_get_context
    selected_raw = get("environments")
    selected: list[str] | None = None
    if selected_raw is not None:
        if isinstance(selected_raw, str):
            selected = [s.strip() for s in selected_raw.split(",") if s.strip()]
        elif isinstance(selected_raw, list) and all(isinstance(s, str) for s in selected_raw):
            selected = list(selected_raw)
        else:
            raise ConfigError(
                f"context 'environments': {selected_raw!r} is not allowed; expected a "
                "comma-separated string such as dev,test"
            )
    config = parse_config(get(CONTEXT_KEY), selected)
    phase = get(CANDIDATE_PHASE)
    if phase is not None:
        _check(
            phase in CANDIDATE_PHASES,
            f"context '{CANDIDATE_PHASE}'",
            phase,
            f"one of {', '.join(repr(p) for p in CANDIDATE_PHASES)} (shadow: the candidate "
            "mirrors traffic as a shadow variant; canary: it is a variant at weight 0 for the "
            "rollout)",
        )
        config = dataclasses.replace(config, candidate_phase=phase)
    package = get(CANDIDATE_PACKAGE)
    resolve = get(RESOLVE_CANDIDATE)
    if package is not None and resolve is not None:
        raise ConfigError(
            f"context '{CANDIDATE_PACKAGE}' and '{RESOLVE_CANDIDATE}' are not allowed together; "
            "expected one way of choosing the candidate. Fix: drop one of them"
        )
    if resolve is not None:
        _check(
            resolve == LATEST_APPROVED,
            f"context '{RESOLVE_CANDIDATE}'",
            resolve,
            f"{LATEST_APPROVED!r} (the newest approved version of the registry's group)",
        )
        _check(
            config.registry is not None,
            f"context '{RESOLVE_CANDIDATE}'",
            resolve,
            f"a model registry to resolve from ({CONTEXT_KEY}.registry in cdk.json)",
        )
        _check_some_environment_rolls_out(config, resolve, f"context '{RESOLVE_CANDIDATE}'")
        return dataclasses.replace(config, resolve_candidate=resolve)
    if package is not None:
        _check(
            isinstance(package, str) and bool(package),
            f"context '{CANDIDATE_PACKAGE}'",
            package,
            "a model package ARN",
        )
        return with_candidate_package(config, package, source=f"context '{CANDIDATE_PACKAGE}'")
    return config
