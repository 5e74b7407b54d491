"""``Model``: a SageMaker model however it is packaged (``AWS::SageMaker::Model``).

Three shapes, chosen by the containers you pass:

- one container (image, model data, environment, hostname);
- one multi-model container (``ContainerMode.MULTI_MODEL``) serving every ``.tar.gz`` under
  an S3 prefix;
- an inference pipeline of 2 to 15 containers, run ``Serial`` (default) or ``Direct``.

A container is an image (with model data), or a version from the SageMaker Model Registry
(``ContainerDefinition.from_model_package``), of this account or another.

.. code-block:: python

    model = Model(
        self, "Classifier",
        containers=[ContainerDefinition(
            image=ContainerImage.from_registry(
                "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.16-cpu"),
            model_data=ModelData.from_bucket(bucket, "models/classifier/model.tar.gz"),
        )],
        vpc=vpc, network_isolation=True,
    )
"""

from __future__ import annotations

import abc
import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import aws_cdk as cdk
import jsii
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from . import aws_rules as aws
from ._arns import sagemaker_arn
from ._network import allow_https_to_endpoints, check_vpc_cidr
from ._types import checked, checked_value
from ._validation import SAGEMAKER_NAME_PATTERN, ValidationProblems, is_token
from .compliance import acknowledge_wildcard_resource
from .roles import ManagedPolicyGrantee, ScopedRole, grant_unscoped

__all__ = [
    "ContainerDefinition",
    "ContainerImage",
    "ContainerMode",
    "IModel",
    "InferenceExecutionMode",
    "Model",
    "ModelData",
    "ModelPackage",
]

#: ``<account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>[:tag|@digest]``
ECR_IMAGE_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?P<cn>\.cn)?"
    r"/(?P<repository>[a-z0-9._/-]+?)(?::[\w][\w.-]{0,127}|@sha256:[a-f0-9]{64})?$"
)
MODEL_DATA_URL = re.compile(r"^(https|s3)://([^/]+)/?(.*)$")
ENV_KEY = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
IMAGE_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
#: ``arn:<partition>:sagemaker:<region>:<account>:model-package/<name>[/<version>]``: a version
#: of a model package group (``<group>/<version>``) or an unversioned package (``<name>``).
MODEL_PACKAGE_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):sagemaker:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"model-package/(?P<name>[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})(?:/(?P<version>\d{1,9}))?$"
)
#: ``ModelPackageName`` (``VersionedArnOrName``) is at most 176 characters.
MODEL_PACKAGE_NAME_MAX = 176

_ECR_PULL_ACTIONS = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
]


class ContainerMode(enum.Enum):
    """Whether a container hosts one model or many (``Mode``)."""

    SINGLE_MODEL = "SingleModel"
    MULTI_MODEL = "MultiModel"


class InferenceExecutionMode(enum.Enum):
    """How the containers of an inference pipeline are invoked."""

    #: Each request goes through every container in order.
    SERIAL = "Serial"
    #: Each request names the container (``TargetContainerHostname``) that serves it.
    DIRECT = "Direct"


@runtime_checkable
class IModel(Protocol):
    """What an endpoint needs from a model: a :class:`Model` or an imported one."""

    @property
    def model_name(self) -> str: ...

    @property
    def model_arn(self) -> str: ...

    @property
    def role(self) -> iam.IRole | None: ...


# --------------------------------------------------------------------------- images


class ContainerImage(abc.ABC):
    """Where a container's image comes from: ECR, a local Docker build, or a registry URI."""

    @staticmethod
    @checked
    def from_ecr_repository(repository: ecr.IRepository, tag: str = "latest") -> ContainerImage:
        """An image in ``repository`` by tag, or by digest when ``tag`` is ``sha256:...``.

        The model's role is granted pull on ``repository``.
        """
        return _EcrImage(repository, tag)

    @staticmethod
    @checked
    def from_asset(
        directory: str,
        *,
        file: str | None = None,
        build_args: Mapping[str, str] | None = None,
        platform: ecr_assets.Platform | None = None,
    ) -> ContainerImage:
        """An image built from ``directory`` (a ``Dockerfile``) and published as a CDK asset.

        Synthesis only stages the build context; ``cdk deploy`` runs Docker and pushes the
        image to the bootstrap repository, from which the model's role may pull.
        """
        return _AssetImage(directory, file=file, build_args=build_args, platform=platform)

    @staticmethod
    @checked
    def from_docker_image_asset(asset: ecr_assets.DockerImageAsset) -> ContainerImage:
        """An image you already declared as a ``DockerImageAsset``."""
        return _DockerImageAssetImage(asset)

    @staticmethod
    @checked
    def from_registry(image_uri: str) -> ContainerImage:
        """An image by URI, for example an AWS Deep Learning Container.

        For an ECR URI (``<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>``) the model's
        role is granted pull on that repository. Any other registry must be a private Docker
        registry reachable from the model's VPC (``RepositoryAccessMode: Vpc``), so the model
        then needs ``vpc``.
        """
        return _RegistryImage(image_uri)

    @property
    def is_ecr(self) -> bool:
        """True when SageMaker pulls the image from Amazon ECR."""
        return True

    def _validate(self, problems: ValidationProblems, argument: str) -> None:  # noqa: B027
        """Record problems with this image (nothing to check by default)."""

    @abc.abstractmethod
    def _bind(self, scope: Construct, id: str, grantee: iam.IGrantable) -> str:
        """Create what the image needs, grant pull to ``grantee``, return the image URI."""


def _grant_ecr_pull(grantee: iam.IGrantable, repository_arn: str) -> iam.Grant:
    grant = iam.Grant.add_to_principal(
        grantee=grantee, actions=_ECR_PULL_ACTIONS, resource_arns=[repository_arn]
    )
    # ecr:GetAuthorizationToken has no resource-level permissions: "*" is its only resource.
    grant_unscoped(grantee, "EcrAuthorizationToken", ["ecr:GetAuthorizationToken"])
    return grant


def _acknowledge(grantee: iam.IGrantable, resource_arn: str, reason: str) -> None:
    """Acknowledge the one wildcard ARN pattern just granted, in the policy it went into."""
    if isinstance(grantee, ManagedPolicyGrantee):
        acknowledge_wildcard_resource(grantee.policy, resource_arn, reason)


class _EcrImage(ContainerImage):
    def __init__(self, repository: ecr.IRepository, tag: str) -> None:
        self.repository = repository
        self.tag = tag

    def _validate(self, problems: ValidationProblems, argument: str) -> None:
        if is_token(self.tag):
            return
        problems.check(
            bool(IMAGE_TAG.match(self.tag) or DIGEST.match(self.tag)),
            f"{argument}.tag",
            self.tag,
            "must be an image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}) or a digest sha256:<64 hex>",
            "pass a valid tag such as 'latest' or '1.4.2', or the image digest",
        )

    def _bind(self, scope: Construct, id: str, grantee: iam.IGrantable) -> str:
        _grant_ecr_pull(grantee, self.repository.repository_arn)
        if DIGEST.match(self.tag):
            return self.repository.repository_uri_for_digest(self.tag)
        return self.repository.repository_uri_for_tag(self.tag)


class _DockerImageAssetImage(ContainerImage):
    def __init__(self, asset: ecr_assets.DockerImageAsset) -> None:
        self.asset = asset

    def _bind(self, scope: Construct, id: str, grantee: iam.IGrantable) -> str:
        _grant_ecr_pull(grantee, self.asset.repository.repository_arn)
        return self.asset.image_uri


class _AssetImage(ContainerImage):
    def __init__(
        self,
        directory: str,
        *,
        file: str | None,
        build_args: Mapping[str, str] | None,
        platform: ecr_assets.Platform | None,
    ) -> None:
        self.directory = directory
        self.file = file
        self.build_args = build_args
        self.platform = platform

    def _validate(self, problems: ValidationProblems, argument: str) -> None:
        dockerfile = Path(self.directory) / (self.file or "Dockerfile")
        problems.check(
            dockerfile.is_file(),
            f"{argument}.directory",
            self.directory,
            f"must hold the Dockerfile {dockerfile.name!r} to build the image from",
            "pass the folder of the image's build context (and file= when not 'Dockerfile')",
        )

    def _bind(self, scope: Construct, id: str, grantee: iam.IGrantable) -> str:
        asset = ecr_assets.DockerImageAsset(
            scope,
            id,
            directory=self.directory,
            file=self.file,
            build_args=dict(self.build_args) if self.build_args else None,
            platform=self.platform,
        )
        return _DockerImageAssetImage(asset)._bind(scope, id, grantee)


class _RegistryImage(ContainerImage):
    def __init__(self, image_uri: str) -> None:
        self.image_uri = image_uri

    @property
    def is_ecr(self) -> bool:
        return is_token(self.image_uri) or bool(ECR_IMAGE_URI.match(self.image_uri))

    def _validate(self, problems: ValidationProblems, argument: str) -> None:
        if is_token(self.image_uri):
            return
        problems.check(
            0 < len(self.image_uri) <= 255 and not re.search(r"\s", self.image_uri),
            argument,
            self.image_uri,
            "an image URI must be 1-255 characters without whitespace",
            "pass registry/repository[:tag] or registry/repository[@digest]",
        )

    def _bind(self, scope: Construct, id: str, grantee: iam.IGrantable) -> str:
        match = ECR_IMAGE_URI.match(self.image_uri) if not is_token(self.image_uri) else None
        if match:
            partition = "aws-cn" if match["cn"] else cdk.Aws.PARTITION
            arn = (
                f"arn:{partition}:ecr:{match['region']}:{match['account']}:"
                f"repository/{match['repository']}"
            )
            _grant_ecr_pull(grantee, arn)
        return self.image_uri


# --------------------------------------------------------------------------- model data


@dataclass(frozen=True)
class _BoundModelData:
    url: str
    is_prefix: bool


class ModelData(abc.ABC):
    """Where a container's model artifacts come from: S3, a local ``.tar.gz``, or a URL."""

    @staticmethod
    @checked
    def from_bucket(bucket: s3.IBucket, key: str) -> ModelData:
        """An object (``model.tar.gz``) or, when ``key`` ends with ``/``, a prefix in ``bucket``.

        The model's role may read exactly that object or prefix (and decrypt with the bucket's
        KMS key when it has one). A prefix is used as-is by a multi-model container and as
        uncompressed artifacts (``S3DataType: S3Prefix``) by a single-model container.
        """
        return _BucketModelData(bucket, key)

    @staticmethod
    @checked
    def from_asset(path: str) -> ModelData:
        """A local ``.tar.gz`` uploaded as a CDK asset at deploy time."""
        return _AssetModelData(path)

    @staticmethod
    @checked
    def from_url(url: str) -> ModelData:
        """``s3://bucket/key`` or an https URL; no permissions are granted for it."""
        return _UrlModelData(url)

    @property
    def is_prefix(self) -> bool:
        """True when the data is a prefix (a folder) rather than one archive."""
        return False

    @property
    def description(self) -> str:
        return type(self).__name__

    def _validate(self, problems: ValidationProblems, argument: str) -> None:  # noqa: B027
        """Record problems with this model data (nothing to check by default)."""

    @abc.abstractmethod
    def _bind(self, scope: Construct, id: str, grantee: iam.IGrantable) -> _BoundModelData:
        """Create what the data needs, grant read to ``grantee``, return its URL."""


class _BucketModelData(ModelData):
    def __init__(self, bucket: s3.IBucket, key: str) -> None:
        self.bucket = bucket
        self.key = key

    @property
    def is_prefix(self) -> bool:
        return not is_token(self.key) and self.key.endswith("/")

    @property
    def description(self) -> str:
        return f"s3://<bucket>/{self.key}"

    def _validate(self, problems: ValidationProblems, argument: str) -> None:
        if is_token(self.key):
            return
        problems.check(
            0 < len(self.key) <= 1000 and not self.key.startswith("/"),
            f"{argument}.key",
            self.key,
            "an S3 key must be 1-1000 characters and not start with '/'",
            "pass the object key (model.tar.gz) or a prefix ending with '/'",
        )
        aws.check_s3_uri_text(problems, f"{argument}.key", self.key)

    def _bind(self, scope: Construct, id: str, grantee: iam.IGrantable) -> _BoundModelData:
        object_arn = self.bucket.arn_for_objects(f"{self.key}*" if self.is_prefix else self.key)
        iam.Grant.add_to_principal(
            grantee=grantee, actions=["s3:GetObject"], resource_arns=[object_arn]
        )
        if self.is_prefix:
            _acknowledge(
                grantee,
                object_arn,
                "A multi-model container loads the archives below its model-data prefix, named "
                "at invocation time; s3:GetObject is limited to that one prefix of one bucket.",
            )
        if self.is_prefix:
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=["s3:ListBucket"],
                resource_arns=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{self.key}*"]}},
            )
        if self.bucket.encryption_key is not None:
            self.bucket.encryption_key.grant_decrypt(grantee)
        return _BoundModelData(self.bucket.s3_url_for_object(self.key), self.is_prefix)


class _AssetModelData(ModelData):
    def __init__(self, path: str) -> None:
        self.path = path

    @property
    def description(self) -> str:
        return self.path

    def _validate(self, problems: ValidationProblems, argument: str) -> None:
        problems.check(
            self.path.endswith(".tar.gz") and Path(self.path).is_file(),
            f"{argument}.path",
            self.path,
            "must be an existing gzip-compressed tar archive (*.tar.gz)",
            "package the artifacts with 'tar czf model.tar.gz ...' and pass its path",
        )

    def _bind(self, scope: Construct, id: str, grantee: iam.IGrantable) -> _BoundModelData:
        asset = s3_assets.Asset(scope, id, path=self.path)
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:GetObject"],
            resource_arns=[asset.bucket.arn_for_objects(asset.s3_object_key)],
        )
        return _BoundModelData(asset.s3_object_url, False)


class _UrlModelData(ModelData):
    def __init__(self, url: str) -> None:
        self.url = url

    @property
    def is_prefix(self) -> bool:
        return not is_token(self.url) and self.url.endswith("/")

    @property
    def description(self) -> str:
        return self.url

    def _validate(self, problems: ValidationProblems, argument: str) -> None:
        if is_token(self.url):
            return
        problems.check(
            len(self.url) <= 1024 and bool(MODEL_DATA_URL.match(self.url)),
            argument,
            self.url,
            "must match (https|s3)://bucket/key and be at most 1024 characters",
            "pass s3://my-bucket/path/model.tar.gz (or an https URL)",
        )
        aws.check_s3_uri_text(problems, argument, self.url)

    def _bind(self, scope: Construct, id: str, grantee: iam.IGrantable) -> _BoundModelData:
        return _BoundModelData(self.url, self.is_prefix)


# --------------------------------------------------------------------------- model packages


@checked_value
@dataclass(frozen=True)
class ModelPackage:
    """A model package of the SageMaker Model Registry, served by a container
    (``ModelPackageName``): build it with :meth:`ContainerDefinition.from_model_package`.

    The package names its own image and artifacts (its ``InferenceSpecification``); SageMaker
    reads them with the model's role when the model is created. So the role may describe the
    package (``sagemaker:DescribeModelPackage`` on its ARN), and, for what you name here, read
    the artifacts, decrypt them and pull the image.

    **Another account's package** (the registry in a tooling or dev account, the model in test
    or prod): its group's resource policy must allow this account
    (``ModelPackageGroup(read_accounts=[...])``), and the artifacts' bucket policy, the key's
    policy and the image repository's policy must allow this model's role; the grants made
    here are this account's half of each.

    :param model_package_arn: ``arn:<partition>:sagemaker:<region>:<account>:model-package/
        <group>/<version>`` (a registry version) or ``.../model-package/<name>``, in the
        model's region, at most 176 characters. ARNs name packages in lower case.
    :param artifacts_bucket: the bucket of the package's model artifacts. Default: none (no S3
        permissions are granted: the role must be allowed to read them some other way).
    :param artifacts_key: the artifacts' object key, or a prefix ending with ``/`` (every
        version under it). Required with ``artifacts_bucket``.
    :param artifacts_encryption_key: the KMS key the artifacts are encrypted with, when it is
        not the bucket's own ``encryption_key`` (which is granted anyway). Default: none.
    :param image_repository: the ECR repository of the package's image, to grant pull on.
        Default: none (the role gets no ECR permissions for it).
    :param inference_specification_name: which inference specification of the package to
        serve. Default: the package's main one.
    """

    model_package_arn: str
    artifacts_bucket: s3.IBucket | None = None
    artifacts_key: str | None = None
    artifacts_encryption_key: kms.IKey | None = None
    image_repository: ecr.IRepository | None = None
    inference_specification_name: str | None = None

    @property
    def description(self) -> str:
        return self.model_package_arn

    def _validate(self, problems: ValidationProblems, argument: str, region: str | None) -> None:
        arn = self.model_package_arn
        if not is_token(arn):
            match = MODEL_PACKAGE_ARN.match(arn)
            if len(arn) > MODEL_PACKAGE_NAME_MAX:
                problems.add(
                    f"{argument}.model_package_arn",
                    arn,
                    f"must be at most {MODEL_PACKAGE_NAME_MAX} characters (got {len(arn)}): "
                    "SageMaker's limit for ModelPackageName",
                    "use a shorter package or group name",
                )
            elif match is None:
                problems.add(
                    f"{argument}.model_package_arn",
                    arn,
                    "must be a model package ARN arn:<partition>:sagemaker:<region>:<12-digit "
                    "account>:model-package/<group>/<version> (or model-package/<name>), the "
                    "name 1-63 characters [a-zA-Z0-9](-*[a-zA-Z0-9])*, the version 1-9 digits",
                    "copy the ModelPackageArn that CreateModelPackage or DescribeModelPackage "
                    "returns (or use ModelPackageGroup.package_arn(version))",
                )
            else:
                aws.check_region(problems, f"{argument}.model_package_arn", match["region"])
                if match["version"] is not None and int(match["version"]) < 1:
                    problems.add(
                        f"{argument}.model_package_arn",
                        arn,
                        "versions of a model package group start at 1",
                        "name a version SageMaker registered (1, 2, ...)",
                    )
                if region is not None and not is_token(region) and match["region"] != region:
                    problems.add(
                        f"{argument}.model_package_arn",
                        arn,
                        f"is in {match['region']}, the model in {region}: SageMaker serves a "
                        "package's image and artifacts only in their own region",
                        "register the model in a group of the model's region, or deploy the "
                        "model in the package's region",
                    )
        if (self.artifacts_bucket is None) != (self.artifacts_key is None):
            problems.add(
                f"{argument}.artifacts_key",
                self.artifacts_key,
                "artifacts_bucket and artifacts_key go together: the role may read exactly that "
                "object or prefix of that bucket",
                "pass both (a key ending with '/' for a prefix), or neither",
            )
        if self.artifacts_bucket is not None and self.artifacts_key is not None:
            _BucketModelData(self.artifacts_bucket, self.artifacts_key)._validate(
                problems, f"{argument}.artifacts"
            )
        problems.check_name(
            f"{argument}.inference_specification_name", self.inference_specification_name
        )

    def _bind(self, scope: Construct, id: str, grantee: iam.IGrantable) -> None:
        """Grant ``grantee`` what SageMaker reads with the model's role."""
        arn = self.model_package_arn
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["sagemaker:DescribeModelPackage"],
            # SageMaker writes package ARNs in lower case; IAM compares them as written.
            resource_arns=[arn if is_token(arn) else arn.lower()],
        )
        if self.artifacts_bucket is not None and self.artifacts_key is not None:
            _BucketModelData(self.artifacts_bucket, self.artifacts_key)._bind(scope, id, grantee)
        if self.artifacts_encryption_key is not None:
            self.artifacts_encryption_key.grant_decrypt(grantee)
        if self.image_repository is not None:
            _grant_ecr_pull(grantee, self.image_repository.repository_arn)


# --------------------------------------------------------------------------- containers


@checked_value
@dataclass(frozen=True)
class ContainerDefinition:
    """One container of a model: an image (with model data), or a model package.

    :param image: the container image. Required unless ``model_package`` is given.
    :param model_data: the model artifacts. Default: none (the image carries the model).
    :param environment: environment variables (at most 100; keys ``[a-zA-Z_][a-zA-Z0-9_]*``,
        keys and values at most 1024 characters). Default: none.
    :param container_hostname: identifies the container in a pipeline's logs and metrics and,
        in ``Direct`` mode, the target of each request. Default: SageMaker assigns one by
        position (required for every container in ``Direct`` mode).
    :param mode: ``SINGLE_MODEL`` or ``MULTI_MODEL`` (then ``model_data`` must be an S3
        prefix ending with ``/``). Default: ``SINGLE_MODEL``.
    :param model_package: serve a model package (``ModelPackageName``) instead of an image;
        prefer :meth:`from_model_package`. The package names its image and artifacts, so
        ``image``, ``model_data`` and ``MULTI_MODEL`` cannot be given with it. Default: none.
    """

    image: ContainerImage | None = None
    model_data: ModelData | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    container_hostname: str | None = None
    mode: ContainerMode = ContainerMode.SINGLE_MODEL
    model_package: ModelPackage | None = None

    @classmethod
    @checked
    def from_model_package(
        cls,
        model_package_arn: str,
        *,
        artifacts_bucket: s3.IBucket | None = None,
        artifacts_key: str | None = None,
        artifacts_encryption_key: kms.IKey | None = None,
        image_repository: ecr.IRepository | None = None,
        inference_specification_name: str | None = None,
        environment: Mapping[str, str] | None = None,
        container_hostname: str | None = None,
    ) -> ContainerDefinition:
        """A container that serves a model package of the SageMaker Model Registry, of this
        account or another, by ARN (for a group of this app: ``group.package_arn(version)``).

        The model's role may describe the package and, for what you name, read and decrypt
        its artifacts and pull its image: see :class:`ModelPackage` for each parameter.

        :param environment: environment variables, added to the package's. Default: none.
        :param container_hostname: as for any container. Default: assigned by SageMaker.
        """
        return cls(
            model_package=ModelPackage(
                model_package_arn=model_package_arn,
                artifacts_bucket=artifacts_bucket,
                artifacts_key=artifacts_key,
                artifacts_encryption_key=artifacts_encryption_key,
                image_repository=image_repository,
                inference_specification_name=inference_specification_name,
            ),
            environment=dict(environment or {}),
            container_hostname=container_hostname,
        )


# --------------------------------------------------------------------------- imported model


class _ImportedModel(Construct):
    def __init__(self, scope: Construct, id: str, model_name: str) -> None:
        super().__init__(scope, id)
        self._model_name = model_name
        self._model_arn = sagemaker_arn(self, "model", model_name)

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def model_arn(self) -> str:
        return self._model_arn

    @property
    def role(self) -> iam.IRole | None:
        return None


# --------------------------------------------------------------------------- Model


@jsii.implements(iam.IGrantable)
class Model(Construct):
    """A SageMaker model (``AWS::SageMaker::Model``) with a least-privilege role.

    - **One container**: pass one :class:`ContainerDefinition`.
    - **Multi-model**: one container with ``mode=ContainerMode.MULTI_MODEL`` and
      ``model_data=ModelData.from_bucket(bucket, "multi-model/")``.
    - **Inference pipeline**: 2 to 15 containers; ``inference_execution_mode`` ``SERIAL``
      (default) or ``DIRECT`` (every container then needs a unique ``container_hostname``).

    When ``role`` is absent a role assumed by ``sagemaker.amazonaws.com`` is created with only
    what this model needs, in one customer-managed policy: ECR pull for its images, S3 read
    (and KMS decrypt) for its model data, CloudWatch Logs under
    ``/aws/sagemaker/Endpoints/*``, SageMaker metric publishing, and, in a VPC, the network
    interface permissions SageMaker needs to attach to your subnets. ``ecr:GetAuthorizationToken``
    and the ``ec2:Describe*`` calls have no resource-level permissions and therefore use
    ``"*"``. Each wildcard's AwsSolutions-IAM5 finding is acknowledged on the policy, one
    by one, with the reason it cannot be narrower.

    The model name is left to CloudFormation unless ``model_name`` is given: a named model
    cannot be replaced, and most changes to a model replace it.

    :param containers: 1 to 15 containers.
    :param inference_execution_mode: pipelines only. Default: ``SERIAL``.
    :param model_name: Default: generated by CloudFormation.
    :param role: execution role. Default: a new least-privilege role.
    :param vpc: place the containers in this VPC. Default: no VPC.
    :param vpc_subnets: 1 to 16 subnets of ``vpc``. Default: the VPC's private subnets.
    :param security_groups: 1 to 5 groups. Default: a new group whose only rules allow HTTPS
        out to the VPC's CIDR block (its interface endpoints: ECR, CloudWatch, ...) and, with
        ``s3_prefix_list_id``, to S3's prefix list (the S3 gateway endpoint); never 0.0.0.0/0.
        The VPC must then have a known CIDR block (a token is fine).
    :param s3_prefix_list_id: the id of the region's AWS-managed prefix list for S3
        (``com.amazonaws.<region>.s3``, ``pl-...``: ``aws ec2 describe-managed-prefix-lists``).
        SageMaker downloads the model data and the image layers from S3 through the model's
        network interfaces, so with an S3 gateway endpoint the created group needs it.
        Default: none (a warning is added: only an S3 interface endpoint in the VPC is then
        reachable).
    :param network_isolation: no network access in or out of the containers (they still get
        their image and model data). Default: False.
    """

    @checked
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        containers: Sequence[ContainerDefinition],
        inference_execution_mode: InferenceExecutionMode | None = None,
        model_name: str | None = None,
        role: iam.IRole | None = None,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
        network_isolation: bool = False,
        s3_prefix_list_id: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        containers = list(containers)
        subnet_ids = _select_subnet_ids(vpc, vpc_subnets) if vpc is not None else None
        _validate_model(
            id,
            containers=containers,
            inference_execution_mode=inference_execution_mode,
            model_name=model_name,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            subnet_ids=subnet_ids,
            security_groups=security_groups,
            network_isolation=network_isolation,
            s3_prefix_list_id=s3_prefix_list_id,
            region=cdk.Stack.of(self).region,
        )
        stack = cdk.Stack.of(self)

        self._scoped: ScopedRole | None = None
        if role is None:
            self._scoped = ScopedRole(
                self,
                "Role",
                assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
                description=f"SageMaker model {self.node.path}",
            )
            self._role: iam.IRole = self._scoped.role
            grantee: iam.IGrantable = self._scoped.grantee
        else:
            self._role = role
            grantee = role

        self.multi_model = any(c.mode is ContainerMode.MULTI_MODEL for c in containers)
        self.container_count = len(containers)
        self.network_isolation = network_isolation
        self.in_vpc = vpc is not None
        self.uses_private_registry = any(
            c.image is not None and not c.image.is_ecr for c in containers
        )

        grants: list[iam.Grant] = []
        if self._scoped is not None:
            grants.extend(self._add_service_permissions(grantee, stack))

        self.connections: ec2.Connections | None = None
        self.security_groups: list[ec2.ISecurityGroup] = []
        vpc_config: sagemaker.CfnModel.VpcConfigProperty | None = None
        if vpc is not None and subnet_ids is not None:
            if security_groups:
                self.security_groups = list(security_groups)
            else:
                group = ec2.SecurityGroup(
                    self,
                    "SecurityGroup",
                    vpc=vpc,
                    allow_all_outbound=False,
                    description=f"SageMaker model {self.node.path}",
                )
                allow_https_to_endpoints(group, vpc, s3_prefix_list_id=s3_prefix_list_id)
                if s3_prefix_list_id is None:
                    cdk.Annotations.of(self).add_warning_v2(
                        "sagemaker-constructs:model-s3-egress",
                        "SageMaker loads the model data and image layers from S3 through the "
                        "model's network interfaces; with an S3 gateway endpoint pass "
                        "s3_prefix_list_id (its managed prefix list), or allow it through "
                        "model.connections.",
                    )
                self.security_groups = [group]
            self.connections = ec2.Connections(security_groups=self.security_groups)
            vpc_config = sagemaker.CfnModel.VpcConfigProperty(
                subnets=subnet_ids,
                security_group_ids=[g.security_group_id for g in self.security_groups],
            )
            if self._scoped is not None:
                grants.extend(self._add_vpc_permissions(grantee, stack, vpc, subnet_ids))

        rendered = [
            self._render_container(index, container, grantee, pipeline=len(containers) > 1)
            for index, container in enumerate(containers)
        ]
        mode = inference_execution_mode or (
            InferenceExecutionMode.SERIAL if len(containers) > 1 else None
        )
        self.inference_execution_mode = mode

        self.resource = sagemaker.CfnModel(
            self,
            "Resource",
            execution_role_arn=self._role.role_arn,
            model_name=model_name,
            primary_container=rendered[0] if len(rendered) == 1 else None,
            containers=rendered if len(rendered) > 1 else None,
            inference_execution_config=(
                sagemaker.CfnModel.InferenceExecutionConfigProperty(mode=mode.value)
                if mode is not None
                else None
            ),
            vpc_config=vpc_config,
            enable_network_isolation=network_isolation or None,
        )
        # SageMaker checks the role's access to images and data when the model is created.
        if self._scoped is not None:
            self.resource.node.add_dependency(self._scoped.permissions)
        for grant in grants:
            grant.apply_before(self.resource)
        self._model_name = self.resource.attr_model_name
        self._model_arn = self.resource.ref

    # -- importer ------------------------------------------------------------------------

    @staticmethod
    @checked
    def from_model_name(scope: Construct, id: str, model_name: str) -> IModel:
        """A model that exists outside this app, by name."""
        problems = ValidationProblems("Model", id)
        problems.check_name("model_name", model_name)
        problems.raise_if_any()
        return _ImportedModel(scope, id, model_name)

    # -- properties ----------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        """The model's name (generated by CloudFormation unless given)."""
        return self._model_name

    @property
    def model_arn(self) -> str:
        """The model's ARN."""
        return self._model_arn

    @property
    def role(self) -> iam.IRole:
        """The execution role."""
        return self._role

    @property
    def grant_principal(self) -> iam.IPrincipal:
        """The principal to grant further permissions to (the role's managed policy)."""
        if self._scoped is not None:
            return self._scoped.grantee
        return self._role.grant_principal

    # -- rendering -----------------------------------------------------------------------

    def _render_container(
        self, index: int, container: ContainerDefinition, grantee: iam.IGrantable, *, pipeline: bool
    ) -> sagemaker.CfnModel.ContainerDefinitionProperty:
        if container.model_package is not None:
            package = container.model_package
            package._bind(self, f"ModelPackage{index}", grantee)
            return sagemaker.CfnModel.ContainerDefinitionProperty(
                model_package_name=package.model_package_arn,
                inference_specification_name=package.inference_specification_name,
                environment=dict(container.environment) or None,
                container_hostname=container.container_hostname,
            )
        assert container.image is not None  # validated: an image or a package
        image_uri = container.image._bind(self, f"Image{index}", grantee)
        model_data_url: str | None = None
        model_data_source: sagemaker.CfnModel.ModelDataSourceProperty | None = None
        if container.model_data is not None:
            bound = container.model_data._bind(self, f"ModelData{index}", grantee)
            if bound.is_prefix and container.mode is ContainerMode.SINGLE_MODEL:
                model_data_source = sagemaker.CfnModel.ModelDataSourceProperty(
                    s3_data_source=sagemaker.CfnModel.S3DataSourceProperty(
                        s3_uri=bound.url, s3_data_type="S3Prefix", compression_type="None"
                    )
                )
            else:
                model_data_url = bound.url
        return sagemaker.CfnModel.ContainerDefinitionProperty(
            image=image_uri,
            image_config=(
                None
                if container.image.is_ecr
                else sagemaker.CfnModel.ImageConfigProperty(repository_access_mode="Vpc")
            ),
            model_data_url=model_data_url,
            model_data_source=model_data_source,
            environment=dict(container.environment) or None,
            container_hostname=container.container_hostname,
            mode=container.mode.value if container.mode is ContainerMode.MULTI_MODEL else None,
        )

    # -- permissions ---------------------------------------------------------------------

    def _add_service_permissions(
        self, grantee: iam.IGrantable, stack: cdk.Stack
    ) -> list[iam.Grant]:
        logs_arn = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name="/aws/sagemaker/Endpoints/*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        grant = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:DescribeLogStreams",
                "logs:PutLogEvents",
            ],
            resource_arns=[logs_arn],
        )
        _acknowledge(
            grantee,
            logs_arn,
            "SageMaker names an endpoint's log group after the endpoint, which the model cannot "
            "know; the logs actions are limited to /aws/sagemaker/Endpoints/* of this account.",
        )
        # cloudwatch:PutMetricData has no resource-level permissions: scoped by namespace.
        grant_unscoped(
            grantee,
            "PutSageMakerMetrics",
            ["cloudwatch:PutMetricData"],
            conditions={
                "StringLike": {"cloudwatch:namespace": ["*SageMaker*", "/aws/sagemaker/*"]}
            },
        )
        return [grant]

    def _add_vpc_permissions(
        self, grantee: iam.IGrantable, stack: cdk.Stack, vpc: ec2.IVpc, subnet_ids: list[str]
    ) -> list[iam.Grant]:
        def ec2_arn(resource: str, name: str) -> str:
            return stack.format_arn(service="ec2", resource=resource, resource_name=name)

        interface_arn = ec2_arn("network-interface", "*")
        # Describe calls have no resource-level permissions.
        grant_unscoped(
            grantee,
            "DescribeNetwork",
            [
                "ec2:DescribeDhcpOptions",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSubnets",
                "ec2:DescribeVpcs",
            ],
        )
        _acknowledge(
            grantee,
            interface_arn,
            "SageMaker creates the model's network interfaces and names them; creating one is "
            "limited to this model's subnets and security groups, managing one to interfaces in "
            "this model's VPC (ec2:Vpc condition).",
        )
        return [
            # New interfaces only in this model's subnets, with this model's groups.
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=["ec2:CreateNetworkInterface"],
                resource_arns=[
                    interface_arn,
                    *(ec2_arn("subnet", s) for s in subnet_ids),
                    *(ec2_arn("security-group", g.security_group_id) for g in self.security_groups),
                ],
            ),
            # Managing interfaces only inside this model's VPC.
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=[
                    "ec2:CreateNetworkInterfacePermission",
                    "ec2:DeleteNetworkInterface",
                    "ec2:DeleteNetworkInterfacePermission",
                ],
                resource_arns=[interface_arn],
                conditions={"ArnEquals": {"ec2:Vpc": vpc.vpc_arn}},
            ),
        ]


# --------------------------------------------------------------------------- validation


def _select_subnet_ids(vpc: ec2.IVpc, selection: ec2.SubnetSelection | None) -> list[str]:
    chosen = selection or ec2.SubnetSelection()
    return vpc.select_subnets(
        availability_zones=chosen.availability_zones,
        one_per_az=chosen.one_per_az,
        subnet_filters=chosen.subnet_filters,
        subnet_group_name=chosen.subnet_group_name,
        subnet_type=chosen.subnet_type,
        subnets=chosen.subnets,
    ).subnet_ids


def _validate_model(
    id: str,
    *,
    containers: list[ContainerDefinition],
    inference_execution_mode: InferenceExecutionMode | None,
    model_name: str | None,
    vpc: ec2.IVpc | None,
    vpc_subnets: ec2.SubnetSelection | None,
    subnet_ids: list[str] | None,
    security_groups: Sequence[ec2.ISecurityGroup] | None,
    network_isolation: bool,
    s3_prefix_list_id: str | None,
    region: str | None = None,
) -> None:
    problems = ValidationProblems("Model", id)
    aws.check_prefix_list_id(problems, "s3_prefix_list_id", s3_prefix_list_id)
    problems.check_name("model_name", model_name)
    problems.check_count("containers", containers, minimum=1, maximum=15)

    for index, container in enumerate(containers):
        _validate_container(problems, f"containers[{index}]", container, vpc, region)
        data = container.model_data
        if (
            network_isolation
            and isinstance(data, _UrlModelData)
            and not is_token(data.url)
            and not data.url.startswith("s3://")
        ):
            problems.add(
                f"containers[{index}].model_data",
                data.url,
                "with network isolation SageMaker can load model data from Amazon S3 only "
                "(the container has no network to fetch a URL)",
                "upload the archive to S3 and pass ModelData.from_bucket(...) or an s3:// URL, "
                "or set network_isolation=False",
            )

    multi_model = [c for c in containers if c.mode is ContainerMode.MULTI_MODEL]
    if multi_model and len(containers) > 1:
        problems.add(
            "containers",
            f"<{len(containers)} containers, {len(multi_model)} multi-model>",
            "a multi-model container must be the model's only container",
            "host the multi-model container in a model of its own",
        )

    if len(containers) == 1 and inference_execution_mode is not None:
        problems.add(
            "inference_execution_mode",
            inference_execution_mode.value,
            "applies to inference pipelines (2 to 15 containers) only",
            "remove inference_execution_mode or add containers",
        )
    if len(containers) > 1:
        hostnames = [c.container_hostname for c in containers]
        given = [h for h in hostnames if h is not None]
        if inference_execution_mode is InferenceExecutionMode.DIRECT and len(given) < len(
            containers
        ):
            problems.add(
                "containers[*].container_hostname",
                hostnames,
                "Direct invocation needs a container_hostname on every container",
                "name each container (it is the TargetContainerHostname of requests)",
            )
        elif given and len(given) < len(containers):
            problems.add(
                "containers[*].container_hostname",
                hostnames,
                "when one container of a pipeline has a hostname, every container needs one",
                "give every container a hostname, or none",
            )
        concrete = [h for h in given if not is_token(h)]
        duplicates = sorted({h for h in concrete if concrete.count(h) > 1})
        if duplicates:
            problems.add(
                "containers[*].container_hostname",
                duplicates,
                "hostnames must be unique within a model",
                "rename the duplicated containers",
            )

    if vpc is None:
        if vpc_subnets is not None or security_groups:
            problems.add(
                "vpc",
                None,
                "vpc_subnets and security_groups apply only to a model in a VPC",
                "pass vpc as well, or remove vpc_subnets and security_groups",
            )
        problems.check(
            s3_prefix_list_id is None,
            "s3_prefix_list_id",
            s3_prefix_list_id,
            "applies only to a model in a VPC (a rule of the security group it creates)",
            "pass vpc as well, or remove s3_prefix_list_id",
        )
    elif security_groups:
        problems.check(
            s3_prefix_list_id is None,
            "s3_prefix_list_id",
            s3_prefix_list_id,
            "applies only to the security group the model creates when security_groups is "
            "not given",
            "add the S3 prefix-list rule to your own groups and remove s3_prefix_list_id",
        )
    else:
        check_vpc_cidr(problems, "vpc", vpc)
    if vpc is not None:
        if subnet_ids is not None and not is_token(subnet_ids):
            problems.check(
                1 <= len(subnet_ids) <= 16,
                "vpc_subnets",
                f"<{len(subnet_ids)} subnets>",
                "a model's VpcConfig takes 1 to 16 subnets",
                "select between 1 and 16 subnets of the VPC",
            )
        if security_groups is not None:
            problems.check_count("security_groups", security_groups, minimum=1, maximum=5)
    problems.raise_if_any()


def _validate_container(
    problems: ValidationProblems,
    argument: str,
    container: ContainerDefinition,
    vpc: ec2.IVpc | None,
    region: str | None = None,
) -> None:
    if container.model_package is not None:
        _validate_package_container(problems, argument, container, region)
    elif container.image is None:
        problems.add(
            f"{argument}.image",
            None,
            "a container needs an image (or a model package)",
            "pass image=ContainerImage...., or use ContainerDefinition.from_model_package(arn)",
        )
    else:
        container.image._validate(problems, f"{argument}.image")
        if not container.image.is_ecr and vpc is None:
            problems.add(
                f"{argument}.image",
                getattr(container.image, "image_uri", "<image>"),
                "an image outside Amazon ECR must come from a private registry in the model's VPC",
                "use an ECR image, or pass vpc so SageMaker pulls it with RepositoryAccessMode Vpc",
            )
    if container.model_data is not None:
        container.model_data._validate(problems, f"{argument}.model_data")
    hostname = container.container_hostname
    if hostname is not None and not is_token(hostname):
        problems.check(
            len(hostname) <= 63 and bool(SAGEMAKER_NAME_PATTERN.match(hostname)),
            f"{argument}.container_hostname",
            hostname,
            "must match [a-zA-Z0-9](-*[a-zA-Z0-9])* and be at most 63 characters",
            "use letters, digits and hyphens, starting and ending with a letter or digit",
        )
    _validate_environment(problems, f"{argument}.environment", container.environment)

    data = container.model_data
    if (
        container.model_package is None
        and container.mode is ContainerMode.MULTI_MODEL
        and (data is None or not data.is_prefix)
    ):
        problems.add(
            f"{argument}.model_data",
            None if data is None else data.description,
            "a multi-model container needs the S3 prefix of its model archives",
            "pass ModelData.from_bucket(bucket, 'multi-model/') (a key ending with '/')",
        )


def _validate_package_container(
    problems: ValidationProblems,
    argument: str,
    container: ContainerDefinition,
    region: str | None,
) -> None:
    """A model package names its own image and artifacts (its InferenceSpecification); the
    container adds only environment variables and a hostname, as the SageMaker Python SDK's
    ``ModelPackage`` sends it."""
    assert container.model_package is not None
    container.model_package._validate(problems, f"{argument}.model_package", region)
    taken_from_package = "a model package container takes its image and model artifacts from "
    if container.image is not None:
        problems.add(
            f"{argument}.image",
            getattr(container.image, "image_uri", type(container.image).__name__),
            taken_from_package + "the package: Image and ModelPackageName exclude each other",
            "remove image (register a new package version for a new image)",
        )
    if container.model_data is not None:
        problems.add(
            f"{argument}.model_data",
            container.model_data.description,
            taken_from_package + "the package: model data and ModelPackageName exclude each other",
            "remove model_data; to let the role read the package's artifacts pass "
            "artifacts_bucket and artifacts_key to ContainerDefinition.from_model_package",
        )
    if container.mode is ContainerMode.MULTI_MODEL:
        problems.add(
            f"{argument}.mode",
            container.mode.value,
            "a model package serves the one model it was registered with (a multi-model "
            "container needs an S3 prefix of archives)",
            "remove mode, or serve the archives from an image with ModelData.from_bucket(...)",
        )


def _validate_environment(
    problems: ValidationProblems, argument: str, environment: Mapping[str, Any]
) -> None:
    if is_token(dict(environment)):
        return
    if len(environment) > 100:
        problems.add(
            argument,
            f"<{len(environment)} variables>",
            "a container takes at most 100 environment variables",
            "move configuration into the model artifacts or an S3 object",
        )
    for key, value in environment.items():
        if is_token(key):
            continue
        if len(key) > 1024 or not ENV_KEY.match(key):
            problems.add(
                f"{argument}[{key!r}]",
                key,
                "keys must match [a-zA-Z_][a-zA-Z0-9_]* and be at most 1024 characters",
                "rename the variable (letters, digits, underscores; not starting with a digit)",
            )
        if not is_token(value) and len(value) > 1024:
            problems.add(
                f"{argument}[{key!r}]",
                f"<{len(value)} characters>",
                "values must be at most 1024 characters",
                "shorten the value or load it from S3 at start-up",
            )
