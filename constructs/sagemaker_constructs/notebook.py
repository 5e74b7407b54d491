"""A SageMaker notebook instance that is secure by default, with optional lifecycle pieces.

.. code-block:: python

    notebook = Notebook(
        self, "Notebook",
        vpc=vpc,
        idle_shutdown=IdleShutdown(idle_time=cdk.Duration.minutes(90)),
        conda_packages=CondaPackages(
            ["scikit-learn==1.5.2", "xgboost==2.1.1"],
            environment="ml",
            index=PackageIndex.code_artifact(domain="ml", repository="pypi-store"),
        ),
        s3_backup=S3Backup(bucket),
    )

Defaults: the instance sits in one of the VPC's isolated subnets with its own security group
(HTTPS egress to the VPC's CIDR only, for the VPC endpoints), without direct internet access
or root access, on a KMS-encrypted volume (a new key with rotation unless ``kms_key`` is
given), with IMDSv2 only, on the ``notebook-al2023-v1`` platform, and stops itself after 60
idle minutes. Its role (unless ``role`` is given) holds exactly what the instance and the
enabled script pieces need, in one customer-managed policy.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import aws_cdk as cdk
import jsii
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct
from jsii.errors import JSIIError

from . import _notebook_scripts as scripts
from . import aws_rules as aws
from ._arns import sagemaker_arn
from ._network import allow_https_to_endpoints
from ._types import checked, checked_value
from ._validation import ValidationProblems, is_token
from .compliance import acknowledge, nag_value
from .endpoint import EndpointBase, grant_invoke_endpoint
from .pipeline import ImportedPipeline, Pipeline, grant_start_pipeline_execution
from .roles import ScopedRole, grant_unscoped

__all__ = [
    "CondaPackages",
    "IdleShutdown",
    "LifecycleScript",
    "Notebook",
    "PackageIndex",
    "S3Backup",
]

#: SageMaker's limit on one lifecycle script: the base64-encoded ``Content`` (API and
#: CloudFormation: ``NotebookInstanceLifecycleHook.Content``, 1-16,384 characters).
MAX_SCRIPT_BASE64_CHARACTERS = 16_384
#: Accepted by AWS::SageMaker::NotebookInstance ``PlatformIdentifier``; the last is current.
PLATFORM_IDENTIFIERS = (
    "notebook-al1-v1",
    "notebook-al2-v1",
    "notebook-al2-v2",
    "notebook-al2-v3",
    "notebook-al2023-v1",
)
DEFAULT_PLATFORM_IDENTIFIER = "notebook-al2023-v1"
#: Where SageMaker writes a notebook instance's logs (streams ``<name>/<stream>``).
LOG_GROUP_NAME = "/aws/sagemaker/NotebookInstances"
LOG_STREAMS = ("jupyter.log", "LifecycleConfigOnCreate", "LifecycleConfigOnStart")
WORK_FOLDER = "/home/ec2-user/SageMaker"

_CODE_REPOSITORY = re.compile(r"^https://([^/]+)/?(.*)$|^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
_PACKAGE_PIN = re.compile(
    r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?(\[[A-Za-z0-9._,-]+\])?==[A-Za-z0-9][A-Za-z0-9.+!_-]*$"
)
_CONDA_ENVIRONMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_CODE_ARTIFACT_DOMAIN = re.compile(r"^[a-z][a-z0-9-]{0,48}[a-z0-9]$")
_CODE_ARTIFACT_REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,99}$")
_TOKEN_MARKER = re.compile(r"\$\{Token\[[^\]]+\]\}")
_ACCOUNT = re.compile(r"^[0-9]{12}$")
_S3_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$")
_PIPELINE_ARN = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:pipeline/[A-Za-z0-9-]+$"
)
_ENDPOINT_ARN = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:endpoint/[A-Za-z0-9-]+$"
)


class _HasPipelineArn(Protocol):
    @property
    def pipeline_arn(self) -> str: ...


class _HasEndpointArn(Protocol):
    @property
    def endpoint_arn(self) -> str: ...


@checked_value
@dataclass(frozen=True)
class LifecycleScript:
    """A lifecycle shell script, from a string or a file (read at construction).

    The construct base64-encodes it and checks SageMaker's limit of 16,384 characters of
    base64 content per script (about 12,288 bytes of script).
    """

    text: str | None = None
    path: Path | None = None

    @classmethod
    @checked
    def from_string(cls, text: str) -> LifecycleScript:
        return cls(text=text)

    @classmethod
    @checked
    def from_file(cls, path: str | Path) -> LifecycleScript:
        return cls(path=Path(path))

    def _read(self, argument: str, problems: ValidationProblems) -> str | None:
        if self.path is not None:
            try:
                # ``path`` may be a str: the type check takes any os.PathLike or str.
                return Path(self.path).read_text(encoding="utf-8")
            except (OSError, ValueError) as error:  # also a NUL in the path, text not UTF-8
                problems.add(
                    argument,
                    str(self.path),
                    f"cannot be read ({error})",
                    "pass a readable UTF-8 file",
                )
                return None
        return self.text


@checked_value
@dataclass(frozen=True)
class IdleShutdown:
    """Stop the instance after ``idle_time`` without Jupyter activity (checked every 5 minutes).

    Default: enabled, 60 minutes. ``IdleShutdown.disabled()`` keeps the instance running.
    """

    idle_time: cdk.Duration = field(default_factory=lambda: cdk.Duration.minutes(60))
    enabled: bool = True

    @classmethod
    def disabled(cls) -> IdleShutdown:
        return cls(enabled=False)


@checked_value
@dataclass(frozen=True)
class PackageIndex:
    """Where pip finds packages: a fixed URL, or a CodeArtifact PyPI repository.

    Use :meth:`code_artifact` for a CodeArtifact repository (reached through the
    ``com.amazonaws.<region>.codeartifact.api`` and ``...codeartifact.repositories`` VPC
    endpoints, and S3 for its assets); the script fetches a token at every start and the
    role gets ``codeartifact:GetAuthorizationToken``, ``codeartifact:ReadFromRepository``
    and ``sts:GetServiceBearerToken``.
    """

    url: str | None = None
    domain: str | None = None
    repository: str | None = None
    domain_owner: str | None = None

    @classmethod
    @checked
    def from_url(cls, url: str) -> PackageIndex:
        """A pip index (``--index-url``), e.g. an internal mirror: must be https."""
        return cls(url=url)

    @classmethod
    @checked
    def code_artifact(
        cls, *, domain: str, repository: str, domain_owner: str | None = None
    ) -> PackageIndex:
        """A CodeArtifact repository. ``domain_owner`` Default: the notebook's account."""
        return cls(domain=domain, repository=repository, domain_owner=domain_owner)


@checked_value
@dataclass(frozen=True)
class CondaPackages:
    """Pinned Python packages (``name==version``) installed with pip into a conda environment.

    ``environment`` Default: ``python3`` (the image's own; any other is cloned from it).
    ``index`` is required when direct internet access is disabled (the default): without it
    the instance cannot reach any package source. Installation runs in the background at
    every start (environments outside the work folder do not survive a stop); its log is
    ``/var/log/smc-conda-packages.log``.
    """

    packages: Sequence[str]
    environment: str = "python3"
    index: PackageIndex | None = None


@checked_value
@dataclass(frozen=True)
class S3Backup:
    """Sync the work folder (/home/ec2-user/SageMaker) to ``bucket`` on a schedule.

    ``prefix`` Default: ``notebooks/<notebook instance name>``. ``interval`` Default: 1 hour;
    whole minutes dividing an hour (5, 10, 15, 20, 30, 60) or whole hours dividing a day.
    The role gets read/write on the prefix only (and the bucket's KMS key when it has one).
    """

    bucket: s3.IBucket
    prefix: str | None = None
    interval: cdk.Duration = field(default_factory=lambda: cdk.Duration.hours(1))


@jsii.implements(iam.IGrantable)
class Notebook(Construct):
    """AWS::SageMaker::NotebookInstance with its lifecycle configuration, role, key and group.

    :param vpc: the VPC to place the instance in. Default: none, which is only allowed with
        ``direct_internet_access=True`` (SageMaker needs a subnet otherwise).
    :param vpc_subnets: where to place it; the first selected subnet is used.
        Default: the VPC's isolated subnets.
    :param security_groups: up to 5 groups. Default: a new group whose only rule is HTTPS
        egress to the VPC's CIDR (the interface endpoints), plus the S3 prefix list when
        ``s3_prefix_list_id`` is given.
    :param s3_prefix_list_id: the managed prefix list of S3 in this region
        (``com.amazonaws.<region>.s3``), for HTTPS egress to an S3 gateway endpoint, which
        backups and CodeArtifact downloads need. Default: no S3 egress rule (a warning is
        added when a piece needs S3).
    :param direct_internet_access: Default: False.
    :param root_access: root access for notebook users (lifecycle scripts always run as
        root). Default: False.
    :param kms_key: encrypts the storage volume. Default: a new key with rotation.
    :param instance_type: Default: ``ml.t3.medium``.
    :param volume_size_in_gb: 5-16,384. Default: 5.
    :param platform_identifier: Default: ``notebook-al2023-v1`` (Amazon Linux 2023).
    :param minimum_instance_metadata_service_version: ``"1"`` or ``"2"``. Default: ``"2"``.
    :param notebook_instance_name: Default: a unique name from the construct path (a name
        known at synth time lets the role's policy name the instance and its log streams).
    :param lifecycle_config_name: Default: the notebook instance's name (another namespace).
    :param on_create: runs once, when the instance is created. Default: none.
    :param on_start: runs at every start, after the built-in pieces. Default: none.
    :param idle_shutdown: Default: stop after 60 idle minutes.
    :param conda_packages: Default: none.
    :param s3_backup: Default: none.
    :param default_code_repository: a SageMaker code repository name or an https git URL.
        Default: none.
    :param additional_code_repositories: up to 3 more, no duplicates. Default: none.
    :param accelerator_types: rejected: Amazon Elastic Inference is retired.
    :param role: Default: a new role with least privilege.
    """

    @checked
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
        s3_prefix_list_id: str | None = None,
        direct_internet_access: bool = False,
        root_access: bool = False,
        kms_key: kms.IKey | None = None,
        instance_type: str = "ml.t3.medium",
        volume_size_in_gb: int = 5,
        platform_identifier: str = DEFAULT_PLATFORM_IDENTIFIER,
        minimum_instance_metadata_service_version: str = "2",
        notebook_instance_name: str | None = None,
        lifecycle_config_name: str | None = None,
        on_create: LifecycleScript | None = None,
        on_start: LifecycleScript | None = None,
        idle_shutdown: IdleShutdown | None = None,
        conda_packages: CondaPackages | None = None,
        s3_backup: S3Backup | None = None,
        default_code_repository: str | None = None,
        additional_code_repositories: Sequence[str] | None = None,
        accelerator_types: Sequence[str] | None = None,
        role: iam.IRole | None = None,
    ) -> None:
        super().__init__(scope, id)
        idle_shutdown = idle_shutdown if idle_shutdown is not None else IdleShutdown()
        problems = ValidationProblems("Notebook", id)

        # ---- validation (nothing is created before every problem is known) ----
        name = notebook_instance_name or cdk.Names.unique_resource_name(
            self, max_length=63, separator="-"
        )
        config_name = lifecycle_config_name or name
        problems.check_name("notebook_instance_name", notebook_instance_name)
        problems.check_name("lifecycle_config_name", lifecycle_config_name)
        self._validate_instance(
            problems,
            instance_type,
            volume_size_in_gb,
            platform_identifier,
            minimum_instance_metadata_service_version,
            accelerator_types,
        )
        self._validate_code_repositories(
            problems, default_code_repository, additional_code_repositories
        )
        subnet = self._validate_network(
            problems, vpc, vpc_subnets, security_groups, direct_internet_access
        )
        aws.check_prefix_list_id(problems, "s3_prefix_list_id", s3_prefix_list_id)
        idle_minutes = self._validate_idle_shutdown(problems, idle_shutdown)
        self._validate_conda(problems, conda_packages, direct_internet_access)
        backup_prefix = f"notebooks/{name}"
        backup_schedule: tuple[str, str] | None = None
        if s3_backup is not None:
            backup_prefix = s3_backup.prefix if s3_backup.prefix is not None else backup_prefix
            backup_schedule = self._validate_backup(problems, s3_backup)

        on_create_content, on_start_content = self._lifecycle_contents(
            problems,
            on_create=on_create,
            on_start=on_start,
            idle_minutes=idle_minutes,
            conda_packages=conda_packages,
            s3_backup=s3_backup,
            backup_prefix=backup_prefix,
            backup_schedule=backup_schedule,
        )
        problems.raise_if_any()

        # ---- resources ----
        self.notebook_instance_name = name
        self.notebook_instance_arn = sagemaker_arn(self, "notebook-instance", name)

        self.kms_key: kms.IKey = kms_key or self._new_key(name)
        self._scoped_role: ScopedRole | None = None
        if role is None:
            self._scoped_role = self._new_role(name)
            role = self._scoped_role.role
        self.role: iam.IRole = role

        groups = self._security_groups(vpc, security_groups, s3_prefix_list_id, name)
        self.connections = ec2.Connections(security_groups=groups)

        self._warn_without_s3_egress(
            vpc, s3_backup, conda_packages, direct_internet_access, s3_prefix_list_id
        )

        self._grant_runtime(self.kms_key, name, idle_minutes is not None)
        if conda_packages is not None and conda_packages.index is not None:
            self._grant_code_artifact(conda_packages.index)
        if s3_backup is not None:
            self.grant_read_write_bucket(s3_backup.bucket, backup_prefix)

        lifecycle = self._lifecycle_config(config_name, on_create_content, on_start_content)
        self.lifecycle_config_name: str | None = config_name if lifecycle else None

        self.resource = sagemaker.CfnNotebookInstance(
            self,
            "Resource",
            notebook_instance_name=name,
            instance_type=instance_type,
            role_arn=self.role.role_arn,
            kms_key_id=self.kms_key.key_arn,
            volume_size_in_gb=volume_size_in_gb,
            platform_identifier=platform_identifier,
            direct_internet_access="Enabled" if direct_internet_access else "Disabled",
            root_access="Enabled" if root_access else "Disabled",
            subnet_id=subnet,
            security_group_ids=[g.security_group_id for g in groups] or None,
            instance_metadata_service_configuration=sagemaker.CfnNotebookInstance.InstanceMetadataServiceConfigurationProperty(
                minimum_instance_metadata_service_version=minimum_instance_metadata_service_version
            ),
            lifecycle_config_name=(
                lifecycle.attr_notebook_instance_lifecycle_config_name if lifecycle else None
            ),
            default_code_repository=default_code_repository,
            additional_code_repositories=list(additional_code_repositories or []) or None,
        )
        # The role's permissions must exist before the instance starts its scripts.
        if self._scoped_role is not None:
            self.resource.node.add_dependency(self._scoped_role.policy)

    def _new_key(self, name: str) -> kms.IKey:
        """A key with rotation for the instance's storage volume."""
        return kms.Key(
            self,
            "Key",
            description=f"Encrypts the storage volume of notebook instance {name}",
            enable_key_rotation=True,
        )

    def _new_role(self, name: str) -> ScopedRole:
        """A role whose permissions (granted below) land in one managed policy."""
        return ScopedRole(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"SageMaker notebook instance {name}",
        )

    def _lifecycle_config(
        self, config_name: str, on_create: str | None, on_start: str | None
    ) -> sagemaker.CfnNotebookInstanceLifecycleConfig | None:
        """The lifecycle configuration, when there is a script to run."""
        if on_create is None and on_start is None:
            return None
        return sagemaker.CfnNotebookInstanceLifecycleConfig(
            self,
            "LifecycleConfig",
            notebook_instance_lifecycle_config_name=config_name,
            on_create=[{"content": on_create}] if on_create else None,
            on_start=[{"content": on_start}] if on_start else None,
        )

    def _security_groups(
        self,
        vpc: ec2.IVpc | None,
        security_groups: Sequence[ec2.ISecurityGroup] | None,
        s3_prefix_list_id: str | None,
        name: str,
    ) -> list[ec2.ISecurityGroup]:
        """The given groups, or in a VPC a new one that allows HTTPS to the VPC (and S3) only."""
        self.security_group: ec2.ISecurityGroup | None = None
        groups = list(security_groups or [])
        if vpc is not None and not groups:
            group = ec2.SecurityGroup(
                self,
                "SecurityGroup",
                vpc=vpc,
                description=f"Notebook instance {name}: HTTPS to the VPC endpoints only",
                allow_all_outbound=False,
            )
            allow_https_to_endpoints(group, vpc, s3_prefix_list_id=s3_prefix_list_id)
            self.security_group = group
            groups = [group]
        return groups

    @staticmethod
    def _lifecycle_contents(
        problems: ValidationProblems,
        *,
        on_create: LifecycleScript | None,
        on_start: LifecycleScript | None,
        idle_minutes: int | None,
        conda_packages: CondaPackages | None,
        s3_backup: S3Backup | None,
        backup_prefix: str,
        backup_schedule: tuple[str, str] | None,
    ) -> tuple[str | None, str | None]:
        """The base64 contents of the on-create and on-start scripts (``None`` when absent):
        the user's scripts, plus the fragments for idle shutdown, conda packages and backups."""
        fragments: list[str] = []
        if idle_minutes is not None:
            fragments.append(scripts.idle_shutdown_fragment(idle_minutes))
        if conda_packages is not None and conda_packages.packages:
            fragments.append(
                scripts.conda_packages_fragment(
                    conda_packages.environment,
                    list(conda_packages.packages),
                    _index_fragment(conda_packages.index),
                )
            )
        if s3_backup is not None and backup_schedule is not None:
            fragments.append(
                scripts.s3_backup_fragment(
                    s3_backup.bucket.bucket_name, backup_prefix, *backup_schedule
                )
            )
        create_text = on_create._read("on_create", problems) if on_create else None
        start_text = on_start._read("on_start", problems) if on_start else None
        on_create_content = (
            _encode_script("on_create", scripts.compose([], create_text), problems)
            if create_text is not None
            else None
        )
        on_start_content = (
            _encode_script("on_start", scripts.compose(fragments, start_text), problems)
            if fragments or start_text is not None
            else None
        )
        for argument, text in (("on_create", create_text), ("on_start", start_text)):
            if text is not None:
                problems.check(
                    bool(text.strip()), argument, text, "must not be empty", "pass a script or None"
                )
                problems.check(
                    "\r" not in text,
                    argument,
                    "<script with CR characters>",
                    "must use Unix line endings (bash fails on CRLF: $'\\r': command not found)",
                    "convert the script to LF line endings",
                )
        return on_create_content, on_start_content

    def _warn_without_s3_egress(
        self,
        vpc: ec2.IVpc | None,
        s3_backup: S3Backup | None,
        conda_packages: CondaPackages | None,
        direct_internet_access: bool,
        s3_prefix_list_id: str | None,
    ) -> None:
        """Backups and CodeArtifact reach S3: warn when the network gives them no way there."""
        needs_s3 = s3_backup is not None or (
            conda_packages is not None
            and conda_packages.index is not None
            and conda_packages.index.domain is not None
        )
        if needs_s3 and not direct_internet_access and s3_prefix_list_id is None and vpc:
            cdk.Annotations.of(self).add_warning_v2(
                "sagemaker-constructs:notebook-s3-egress",
                "S3 backups and CodeArtifact downloads reach S3; pass s3_prefix_list_id (the "
                "S3 gateway endpoint's prefix list) or allow it through notebook.connections.",
            )

    # ---- public API ----

    @property
    def grant_principal(self) -> iam.IPrincipal:
        """The principal to grant to: permissions land in the role's managed policy."""
        return self._grantee

    @property
    def _grantee(self) -> iam.IPrincipal:
        if self._scoped_role is not None:
            return self._scoped_role.grantee
        return self.role

    @checked
    def grant_read_write_bucket(self, bucket: s3.IBucket, prefix: str | None = None) -> iam.Grant:
        """Read, write and delete objects under ``prefix`` (Default: the whole bucket).

        Grants s3:ListBucket (limited to the prefix), s3:GetBucketLocation, object get, put,
        delete and multipart actions on ``prefix/*``, and decrypt/generate-data-key on the
        bucket's KMS key when it has one. No wildcard actions.
        """
        problems = ValidationProblems("Notebook.grant_read_write_bucket", self.node.id)
        if prefix is not None and not is_token(prefix):
            problems.check(
                bool(_S3_PREFIX.match(prefix)),
                "prefix",
                prefix,
                "must be an S3 key prefix without leading or trailing '/'",
                "use segments of letters, digits and !_.*'()- separated by '/'",
            )
        problems.raise_if_any()
        objects = bucket.arn_for_objects(f"{prefix}/*" if prefix else "*")
        list_conditions = {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}} if prefix else None
        grant = (
            iam.Grant.add_to_principal(
                grantee=self._grantee,
                actions=["s3:ListBucket"],
                resource_arns=[bucket.bucket_arn],
                conditions=list_conditions,
            )
            .combine(
                iam.Grant.add_to_principal(
                    grantee=self._grantee,
                    actions=["s3:GetBucketLocation"],
                    resource_arns=[bucket.bucket_arn],
                )
            )
            .combine(
                iam.Grant.add_to_principal(
                    grantee=self._grantee,
                    actions=[
                        "s3:GetObject",
                        "s3:PutObject",
                        "s3:DeleteObject",
                        "s3:AbortMultipartUpload",
                        "s3:ListMultipartUploadParts",
                    ],
                    resource_arns=[objects],
                )
            )
        )
        self._acknowledge_object_wildcard(objects, bucket)
        if bucket.encryption_key is not None:
            grant = grant.combine(
                iam.Grant.add_to_principal(
                    grantee=self._grantee,
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resource_arns=[bucket.encryption_key.key_arn],
                )
            )
        return grant

    @checked
    def grant_start_pipeline(self, pipeline: str | _HasPipelineArn) -> iam.Grant:
        """Start, describe and list executions of one pipeline (a ``Pipeline``, an ARN, or an
        object with ``pipeline_arn``). A ``Pipeline`` grants it (``grant_start_execution``)."""
        if isinstance(pipeline, Pipeline | ImportedPipeline):
            return pipeline.grant_start_execution(self)
        arn = pipeline if isinstance(pipeline, str) else pipeline.pipeline_arn
        _check_arn("Notebook.grant_start_pipeline", self.node.id, "pipeline", arn, _PIPELINE_ARN)
        return grant_start_pipeline_execution(self, [arn])

    @checked
    def grant_invoke_endpoint(self, endpoint: str | _HasEndpointArn) -> iam.Grant:
        """Invoke one endpoint (an ``Endpoint``, an ARN, or an object with ``endpoint_arn``):
        real-time, async and streaming. An ``Endpoint`` grants it (``grant_invoke``)."""
        if isinstance(endpoint, EndpointBase):
            return endpoint.grant_invoke(self)
        arn = endpoint if isinstance(endpoint, str) else endpoint.endpoint_arn
        _check_arn("Notebook.grant_invoke_endpoint", self.node.id, "endpoint", arn, _ENDPOINT_ARN)
        return grant_invoke_endpoint(self, arn)

    # ---- permissions the instance needs ----

    def _grant_runtime(self, key: kms.IKey, name: str, idle_shutdown: bool) -> None:
        stack = cdk.Stack.of(self)
        group_arn = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=LOG_GROUP_NAME,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        stream_arns = [f"{group_arn}:log-stream:{name}/{stream}" for stream in LOG_STREAMS]
        iam.Grant.add_to_principal(
            grantee=self._grantee,
            actions=["logs:CreateLogGroup", "logs:DescribeLogStreams"],
            resource_arns=[group_arn],
        )
        iam.Grant.add_to_principal(
            grantee=self._grantee,
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resource_arns=[group_arn, *stream_arns],
        )
        iam.Grant.add_to_principal(
            grantee=self._grantee,
            actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            resource_arns=[key.key_arn],
        )
        if idle_shutdown:
            iam.Grant.add_to_principal(
                grantee=self._grantee,
                actions=["sagemaker:DescribeNotebookInstance", "sagemaker:StopNotebookInstance"],
                resource_arns=[self.notebook_instance_arn],
            )

    def _grant_code_artifact(self, index: PackageIndex) -> None:
        if index.domain is None or index.repository is None:
            return
        stack = cdk.Stack.of(self)
        owner = index.domain_owner or stack.account
        iam.Grant.add_to_principal(
            grantee=self._grantee,
            actions=["codeartifact:GetAuthorizationToken"],
            resource_arns=[
                stack.format_arn(
                    service="codeartifact",
                    account=owner,
                    resource="domain",
                    resource_name=index.domain,
                )
            ],
        )
        iam.Grant.add_to_principal(
            grantee=self._grantee,
            actions=["codeartifact:GetRepositoryEndpoint", "codeartifact:ReadFromRepository"],
            resource_arns=[
                stack.format_arn(
                    service="codeartifact",
                    account=owner,
                    resource="repository",
                    resource_name=f"{index.domain}/{index.repository}",
                )
            ],
        )
        # GetAuthorizationToken needs a service bearer token; STS supports no resource here,
        # so the statement is bounded by its condition instead.
        grant_unscoped(
            self._grantee,
            "CodeArtifactBearerToken",
            ["sts:GetServiceBearerToken"],
            conditions={"StringEquals": {"sts:AWSServiceName": "codeartifact.amazonaws.com"}},
        )

    def _acknowledge_object_wildcard(self, objects_arn: str, bucket: s3.IBucket) -> None:
        if self._scoped_role is None:
            return
        flat = nag_value(cdk.Stack.of(self).resolve(objects_arn))
        acknowledge(
            self._scoped_role.policy,
            f"AwsSolutions::AwsSolutions-IAM5[Resource::{flat}]",
            "Object-level S3 actions need a key pattern: access is limited to one prefix of "
            "one bucket, and no action is a wildcard.",
        )

    # ---- validation helpers ----

    @staticmethod
    def _validate_instance(
        problems: ValidationProblems,
        instance_type: str,
        volume_size_in_gb: int,
        platform_identifier: str,
        imds_version: str,
        accelerator_types: Sequence[str] | None,
    ) -> None:
        aws.check_instance_type(problems, "instance_type", instance_type, aws.NOTEBOOKS)
        aws.check_range(
            problems,
            "volume_size_in_gb",
            volume_size_in_gb,
            aws.NOTEBOOK_INSTANCE,
            "VolumeSizeInGB",
            unit="GB",
        )
        if not is_token(platform_identifier):
            problems.check(
                platform_identifier in PLATFORM_IDENTIFIERS,
                "platform_identifier",
                platform_identifier,
                f"must be one of {', '.join(PLATFORM_IDENTIFIERS)}",
                f"use {DEFAULT_PLATFORM_IDENTIFIER} (Amazon Linux 2023, the current platform)",
            )
        if not is_token(imds_version):
            problems.check(
                imds_version in ("1", "2"),
                "minimum_instance_metadata_service_version",
                imds_version,
                'must be "1" or "2"',
                'use "2" (IMDSv2 only)',
            )
        if accelerator_types:
            problems.add(
                "accelerator_types",
                list(accelerator_types),
                "Amazon Elastic Inference (ml.eia1.*, ml.eia2.*) is retired and can no longer be "
                "attached to notebook instances",
                "remove accelerator_types; choose a GPU instance type (e.g. ml.g5.xlarge) instead",
            )

    @staticmethod
    def _validate_code_repositories(
        problems: ValidationProblems,
        default: str | None,
        additional: Sequence[str] | None,
    ) -> None:
        repositories = [("default_code_repository", default)] if default is not None else []
        repositories += [("additional_code_repositories", r) for r in additional or []]
        for argument, repository in repositories:
            if is_token(repository):
                continue
            problems.check(
                len(repository) <= 1024 and bool(_CODE_REPOSITORY.match(repository)),
                argument,
                repository,
                "must be a SageMaker code repository name ([a-zA-Z0-9](-*[a-zA-Z0-9])*) or an "
                "https:// git URL of at most 1024 characters",
                "pass a repository name or an https URL",
            )
        if additional is not None:
            problems.check(
                len(additional) <= 3,
                "additional_code_repositories",
                list(additional),
                f"holds at most 3 repositories (got {len(additional)})",
                "keep 3 or fewer additional repositories",
            )
        values = [r for _, r in repositories if not is_token(r)]
        duplicates = sorted({r for r in values if values.count(r) > 1})
        problems.check(
            not duplicates,
            "additional_code_repositories",
            duplicates,
            "must not repeat a repository (the default one included)",
            "list each repository once",
        )

    @staticmethod
    def _validate_network(
        problems: ValidationProblems,
        vpc: ec2.IVpc | None,
        vpc_subnets: ec2.SubnetSelection | None,
        security_groups: Sequence[ec2.ISecurityGroup] | None,
        direct_internet_access: bool,
    ) -> str | None:
        if vpc is None:
            problems.check(
                direct_internet_access,
                "vpc",
                None,
                "is required when direct_internet_access is False: SageMaker rejects "
                "DirectInternetAccess Disabled without a subnet",
                "pass vpc (recommended), or set direct_internet_access=True explicitly",
            )
            problems.check(
                not security_groups,
                "security_groups",
                "<groups>",
                "need a vpc (SageMaker only accepts security groups with a subnet)",
                "pass vpc as well, or drop security_groups",
            )
            problems.check(
                vpc_subnets is None,
                "vpc_subnets",
                "<selection>",
                "need a vpc",
                "pass vpc as well, or drop vpc_subnets",
            )
            return None
        if security_groups is not None:
            problems.check(
                1 <= len(security_groups) <= 5,
                "security_groups",
                f"<{len(security_groups)} groups>",
                "must hold between 1 and 5 security groups",
                "pass 1 to 5 groups, or None for a new least-privilege group",
            )
        else:
            try:
                vpc.vpc_cidr_block  # noqa: B018 - the default group's egress rule needs it
            except (RuntimeError, JSIIError):
                problems.add(
                    "vpc",
                    vpc.vpc_id,
                    "has no known CIDR block, needed for the default security group's HTTPS "
                    "egress rule",
                    "import the VPC with vpc_cidr_block, or pass security_groups",
                )
        selection = vpc_subnets or ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        try:
            subnet_ids = vpc.select_subnets(**selection._values).subnet_ids
        except (RuntimeError, JSIIError) as error:
            subnet_ids = []
            problems.add(
                "vpc_subnets",
                "<selection>",
                f"selects no subnet ({error})",
                "select at least one subnet",
            )
            return None
        if not subnet_ids:
            problems.add(
                "vpc_subnets", "<selection>", "selects no subnet", "select at least one subnet"
            )
            return None
        return subnet_ids[0]

    @staticmethod
    def _validate_idle_shutdown(problems: ValidationProblems, idle: IdleShutdown) -> int | None:
        if not idle.enabled:
            return None
        minutes = idle.idle_time.to_minutes(integral=False)
        if minutes != int(minutes) or not 10 <= minutes <= 10080:
            problems.add(
                "idle_shutdown.idle_time",
                f"{minutes:g} minutes",
                "must be whole minutes between 10 and 10080 (7 days); idleness is checked "
                "every 5 minutes",
                "choose e.g. Duration.minutes(60), or IdleShutdown.disabled()",
            )
            return None
        return int(minutes)

    @staticmethod
    def _validate_conda(
        problems: ValidationProblems, conda: CondaPackages | None, direct_internet_access: bool
    ) -> None:
        if conda is None:
            return
        packages = list(conda.packages)
        problems.check(
            bool(packages),
            "conda_packages.packages",
            packages,
            "must not be empty",
            "list pinned packages, e.g. ['scikit-learn==1.5.2']",
        )
        for package in packages:
            if not is_token(package):
                problems.check(
                    bool(_PACKAGE_PIN.match(package)),
                    "conda_packages.packages",
                    package,
                    "must be pinned as name==version",
                    "pin an exact version, e.g. 'scikit-learn==1.5.2'",
                )
        names = [re.split(r"[\[=]", p, maxsplit=1)[0].lower().replace("_", "-") for p in packages]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        problems.check(
            not duplicates,
            "conda_packages.packages",
            duplicates,
            "must name each package once",
            "remove the duplicate pins",
        )
        if not is_token(conda.environment):
            problems.check(
                bool(_CONDA_ENVIRONMENT.match(conda.environment)),
                "conda_packages.environment",
                conda.environment,
                "must be a conda environment name of letters, digits, '_', '.' and '-'",
                "use e.g. 'python3' or 'ml'",
            )
        index = conda.index
        if index is None:
            problems.check(
                direct_internet_access,
                "conda_packages.index",
                None,
                "is required when direct_internet_access is False: the instance reaches no "
                "package source without one",
                "pass index=PackageIndex.code_artifact(domain=..., repository=...) (through "
                "the CodeArtifact VPC endpoints) or PackageIndex.from_url('https://...'), or "
                "enable direct_internet_access explicitly",
            )
            return
        if index.url is not None:
            problems.check(
                is_token(index.url) or index.url.startswith("https://"),
                "conda_packages.index.url",
                index.url,
                "must be an https:// URL",
                "use the https URL of the index (pip's --index-url)",
            )
            return
        if not is_token(index.domain):
            problems.check(
                bool(_CODE_ARTIFACT_DOMAIN.match(index.domain or "")),
                "conda_packages.index.domain",
                index.domain,
                "must be a CodeArtifact domain name (2-50 lower-case letters, digits, '-')",
                "pass the domain's name",
            )
        if not is_token(index.repository):
            problems.check(
                bool(_CODE_ARTIFACT_REPOSITORY.match(index.repository or "")),
                "conda_packages.index.repository",
                index.repository,
                "must be a CodeArtifact repository name (2-100 letters, digits, '.', '_', '-')",
                "pass the repository's name",
            )
        if index.domain_owner is not None and not is_token(index.domain_owner):
            problems.check(
                bool(_ACCOUNT.match(index.domain_owner)),
                "conda_packages.index.domain_owner",
                index.domain_owner,
                "must be a 12-digit AWS account ID",
                "pass the account that owns the domain, or None for this account",
            )

    @staticmethod
    def _validate_backup(problems: ValidationProblems, backup: S3Backup) -> tuple[str, str] | None:
        if backup.prefix is not None and not is_token(backup.prefix):
            problems.check(
                bool(_S3_PREFIX.match(backup.prefix)),
                "s3_backup.prefix",
                backup.prefix,
                "must be an S3 key prefix without leading or trailing '/'",
                "use segments of letters, digits and !_.*'()- separated by '/'",
            )
        minutes = backup.interval.to_minutes(integral=False)
        if minutes == int(minutes) and 5 <= minutes < 60 and 60 % minutes == 0:
            return f"*/{int(minutes)} * * * *", f"*:0/{int(minutes)}"
        hours = minutes / 60
        if hours == int(hours) and 1 <= hours <= 24 and 24 % hours == 0:  # 0 divides nothing
            hours = int(hours)
            if hours == 24:
                return "0 0 * * *", "*-*-* 00:00:00"
            return f"0 */{hours} * * *", f"*-*-* 0/{hours}:00:00"
        problems.add(
            "s3_backup.interval",
            f"{minutes:g} minutes",
            "must be 5, 10, 15, 20 or 30 minutes, or 1, 2, 3, 4, 6, 8, 12 or 24 hours "
            "(a cron schedule that divides the hour or the day)",
            "choose e.g. Duration.hours(1)",
        )
        return None


def _index_fragment(index: PackageIndex | None) -> str:
    if index is None:
        return scripts.url_index_fragment("https://pypi.org/simple/")
    if index.url is not None:
        return scripts.url_index_fragment(index.url)
    return scripts.code_artifact_index_fragment(
        index.domain or "", index.repository or "", index.domain_owner
    )


def _encode_script(argument: str, script: str, problems: ValidationProblems) -> str:
    """Base64 content for a lifecycle hook, after checking SageMaker's size limit.

    A script with unresolved tokens (e.g. a bucket name) is encoded by CloudFormation
    (``Fn::Base64``); its size is checked with each token counted as 63 characters.
    """
    if is_token(script):
        tokens = len(cdk.Tokenization.reverse_string(script).tokens)
        literal = len(_TOKEN_MARKER.sub("", script).encode())
        raw_size = literal + 63 * tokens
        encoded: str = cdk.Fn.base64(script)
        estimated = " (estimated: each deploy-time value counted as 63 characters)"
    else:
        raw_size = len(script.encode())
        encoded = base64.b64encode(script.encode()).decode()
        estimated = ""
    encoded_size = 4 * ((raw_size + 2) // 3)
    problems.check(
        encoded_size <= MAX_SCRIPT_BASE64_CHARACTERS,
        argument,
        f"<script of {raw_size} bytes>",
        f"is {encoded_size} characters once base64-encoded{estimated}, over SageMaker's limit "
        f"of {MAX_SCRIPT_BASE64_CHARACTERS} characters of base64 content per script "
        "(built-in pieces included)",
        "shorten the script, or move long work into a file it downloads and runs with nohup",
    )
    return encoded


def _check_arn(
    construct_type: str, id: str, argument: str, arn: str, pattern: re.Pattern[str]
) -> None:
    if is_token(arn):
        return
    problems = ValidationProblems(construct_type, id)
    problems.check(
        bool(pattern.match(arn)),
        argument,
        arn,
        f"must be a SageMaker {argument} ARN",
        f"pass the {argument} construct or its ARN",
    )
    problems.raise_if_any()
