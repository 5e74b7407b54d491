"""``ComponentEndpoint``: an endpoint that hosts inference components.

An endpoint for inference components differs from a model-variant endpoint
(:class:`~sagemaker_constructs.endpoint.Endpoint`) in every property: its endpoint
configuration names an execution role (``ExecutionRoleArn``) and no model; each production
variant provides instances (type, count, managed instance scaling, routing strategy) and no
traffic weight; models arrive later as :class:`~sagemaker_constructs.inference_component.
InferenceComponent` resources, each invoked by name (``InferenceComponentName``), each with
its own compute, copies and rolling update. So it is a construct of its own.

.. code-block:: python

    endpoint = ComponentEndpoint(
        self, "Llm",
        endpoint_name="llm",
        variants=[ComponentVariant(
            variant_name="gpu", instance_type="ml.g5.12xlarge", initial_instance_count=1,
            managed_instance_scaling=ManagedInstanceScaling(min_instance_count=0,
                                                            max_instance_count=4),
            routing_strategy=RoutingStrategy.LEAST_OUTSTANDING_REQUESTS,
        )],
    )

Sources of the rules: the CloudFormation schema of ``AWS::SageMaker::EndpointConfig`` (as
cfn-lint ships it) and the SageMaker API model botocore ships (``ProductionVariant``,
``ProductionVariantManagedInstanceScaling``, ``ProductionVariantRoutingConfig``).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from . import aws_rules as aws
from ._arns import sagemaker_arn
from ._instance_types import has_local_nvme_storage
from ._types import checked, checked_value
from ._validation import ValidationProblems, is_token
from .compliance import acknowledge, acknowledge_wildcard_resource
from .endpoint import _KMS_RULES
from .log_groups import allow_cloudwatch_logs, check_retention, retention
from .roles import ScopedRole, grant_unscoped

__all__ = [
    "ComponentEndpoint",
    "ComponentEndpointBase",
    "ComponentVariant",
    "ManagedInstanceScaling",
    "RoutingStrategy",
    "grant_invoke_components",
]

#: Invoking an endpoint of inference components, in real time or streamed. (Inference
#: components take no asynchronous invocation, so ``InvokeEndpointAsync`` is not granted.)
INVOKE_ACTIONS = ["sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream"]

#: Log groups SageMaker writes for an endpoint and for each of its inference components.
_LOG_GROUP_PATTERNS = ("/aws/sagemaker/Endpoints/*", "/aws/sagemaker/InferenceComponents/*")

_VARIANT = "ProductionVariants/*/"


def grant_invoke_components(grantee: iam.IGrantable, resource_arns: Sequence[str]) -> iam.Grant:
    """Allow ``grantee`` to invoke (real time and streamed) on ``resource_arns``: an endpoint's
    ARN, and the ARN of each inference component it may call. The one place that knows which
    actions invoking an endpoint of inference components takes."""
    return iam.Grant.add_to_principal(
        grantee=grantee, actions=INVOKE_ACTIONS, resource_arns=list(resource_arns)
    )


# --------------------------------------------------------------------------- props


class RoutingStrategy(enum.Enum):
    """How the endpoint routes requests to the instances of a variant (``RoutingStrategy``)."""

    #: To the instances with more capacity to process them.
    LEAST_OUTSTANDING_REQUESTS = "LEAST_OUTSTANDING_REQUESTS"
    #: To a randomly chosen instance.
    RANDOM = "RANDOM"


@checked_value
@dataclass(frozen=True, kw_only=True)
class ManagedInstanceScaling:
    """SageMaker adds and removes a variant's instances as inference component copies need them.

    :param max_instance_count: at least 1 and at least ``min_instance_count``.
    :param min_instance_count: 0 lets the endpoint release every instance when no copy runs
        (scale to zero, only for endpoints of inference components). Default: 1.
    :param enabled: ``Status`` ``ENABLED`` or ``DISABLED``. Default: True.
    """

    max_instance_count: int
    min_instance_count: int = 1
    enabled: bool = True


@checked_value
@dataclass(frozen=True, kw_only=True)
class ComponentVariant:
    """A production variant that provides instances for inference components (no model).

    :param variant_name: unique in the endpoint; ``[a-zA-Z0-9](-*[a-zA-Z0-9])*``, <= 63 chars.
    :param instance_type: for example ``ml.g5.12xlarge``.
    :param initial_instance_count: at least 1, within the managed instance scaling range.
        Default: 1.
    :param managed_instance_scaling: Default: none (the instance count stays as deployed).
    :param routing_strategy: Default: SageMaker's (``LEAST_OUTSTANDING_REQUESTS``).
    :param volume_size_in_gb: 1-512; not for local-NVMe instance types. Default: SageMaker's.
    """

    variant_name: str
    instance_type: str
    initial_instance_count: int = 1
    managed_instance_scaling: ManagedInstanceScaling | None = None
    routing_strategy: RoutingStrategy | None = None
    volume_size_in_gb: int | None = None


# --------------------------------------------------------------------------- base


class ComponentEndpointBase(Construct):
    """What every endpoint of inference components offers, created here or imported.

    ``hosts_inference_components`` is True: constructs that need model variants with traffic
    weights (``CanaryRollout``) read it to reject this endpoint.
    """

    #: Marks an endpoint whose variants host inference components, not models.
    hosts_inference_components = True

    @property
    def endpoint_name(self) -> str:
        raise NotImplementedError

    @property
    def endpoint_arn(self) -> str:
        raise NotImplementedError

    @property
    def variant_names(self) -> list[str] | None:
        """The variants' names; ``None`` when not known (an imported endpoint)."""
        return None

    @property
    def execution_role_grantee(self) -> iam.IGrantable | None:
        """What inference components grant their container's image and artifacts to (the
        endpoint's execution role); ``None`` when not known (an imported endpoint)."""
        return None

    def variant(self, variant_name: str) -> ComponentVariant | None:
        """The variant ``variant_name`` when this endpoint knows its variants."""
        return None

    @checked
    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to invoke every inference component of this endpoint (real time
        and streamed). To allow one component only, use ``component.grant_invoke``."""
        return grant_invoke_components(grantee, [self.endpoint_arn])


class _ImportedComponentEndpoint(ComponentEndpointBase):
    def __init__(self, scope: Construct, id: str, endpoint_name: str) -> None:
        super().__init__(scope, id)
        self._endpoint_name = endpoint_name
        self._endpoint_arn = sagemaker_arn(self, "endpoint", endpoint_name)

    @property
    def endpoint_name(self) -> str:
        return self._endpoint_name

    @property
    def endpoint_arn(self) -> str:
        return self._endpoint_arn


# --------------------------------------------------------------------------- construct


class ComponentEndpoint(ComponentEndpointBase):
    """A SageMaker endpoint for inference components: an ``EndpointConfig`` with an execution
    role and 1-10 variants of instances, and the ``Endpoint``.

    **Execution role.** SageMaker assumes it to run the components: without ``role`` a role
    assumed by ``sagemaker.amazonaws.com`` is created whose one managed policy allows writing
    the logs of ``/aws/sagemaker/Endpoints/*`` and ``/aws/sagemaker/InferenceComponents/*``
    (SageMaker names the groups after the endpoint and each component, and the endpoint's name
    is not known before the role exists) and ``cloudwatch:PutMetricData`` in SageMaker's
    namespaces. Each :class:`InferenceComponent` that brings its own container grants this
    role pull on its image and read on its artifacts; a component of a :class:`Model` relies on
    the model's role, as a model variant does. A role you pass is used as it is (its grants
    become an inline policy when it is mutable).

    **Storage encryption.** As for :class:`~sagemaker_constructs.endpoint.Endpoint`: ``kms_key``
    or a new rotating key, and none for instance types with local NVMe storage (the instance
    encrypts it; SageMaker rejects a ``KmsKeyId``).

    **Names.** The endpoint is named only when ``endpoint_name`` is given; the configuration is
    always named by CloudFormation.

    :param variants: 1 to 10 :class:`ComponentVariant`.
    :param endpoint_name: Default: generated by CloudFormation. A changed name replaces the
        endpoint (and every component on it).
    :param role: the execution role. Default: a new least-privilege role (above).
    :param kms_key: storage-volume key. Default: a new key (none for local-NVMe types).
    :param log_encryption_key: encrypts the log groups the endpoint and its components create
        (``log_key``). Its key policy must let CloudWatch Logs use it
        (:func:`sagemaker_constructs.log_groups.allow_cloudwatch_logs`). Default: the storage
        key the endpoint creates, or a new rotating key.
    :param log_retention_days: how long those log groups keep logs, a CloudWatch Logs retention
        value. Default: 365.
    :param removal_policy: for the keys and the log group the endpoint creates. Default:
        ``RETAIN``.
    """

    @checked
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        variants: Sequence[ComponentVariant],
        endpoint_name: str | None = None,
        role: iam.IRole | None = None,
        kms_key: kms.IKey | None = None,
        log_encryption_key: kms.IKey | None = None,
        log_retention_days: int = 365,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, id)
        variants = list(variants)
        _validate_component_endpoint(
            id,
            variants=variants,
            endpoint_name=endpoint_name,
            kms_key=kms_key,
            log_retention_days=log_retention_days,
        )
        self._variants = {v.variant_name: v for v in variants}

        self._scoped: ScopedRole | None = None
        if role is None:
            self._scoped = ScopedRole(
                self,
                "Role",
                assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
                description=f"SageMaker endpoint of inference components {self.node.path}",
            )
            self._role: iam.IRole = self._scoped.role
            self._add_service_permissions(self._scoped)
        else:
            self._role = role

        local_storage = any(has_local_nvme_storage(v.instance_type) for v in variants)
        self.kms_key: kms.IKey | None = None
        created_key: kms.Key | None = None
        if not local_storage:
            if kms_key is None:
                created_key = kms.Key(
                    self,
                    "Key",
                    description=(
                        f"Encrypts the storage volumes of SageMaker endpoint {self.node.path}"
                    ),
                    enable_key_rotation=True,
                    removal_policy=removal_policy,
                )
            self.kms_key = kms_key or created_key
        #: The key of the log groups the endpoint and its components create.
        self.log_key: kms.IKey = log_encryption_key or self._log_key(created_key, removal_policy)
        self.log_retention_days = log_retention_days
        self.log_removal_policy = removal_policy
        #: ``/aws/sagemaker/Endpoints/<endpoint_name>``, created first when the endpoint is named
        #: (without a name, SageMaker creates it on first use, unencrypted and never expiring).
        self.log_group: logs.LogGroup | None = None
        if endpoint_name is not None:
            self.log_group = logs.LogGroup(
                self,
                "Logs",
                log_group_name=f"/aws/sagemaker/Endpoints/{endpoint_name}",
                encryption_key=self.log_key,
                retention=retention(log_retention_days),
                removal_policy=removal_policy,
            )
        else:
            cdk.Annotations.of(self).add_warning_v2(
                "sagemaker-constructs:endpoint-log-group",
                "Without endpoint_name CloudFormation names the endpoint when it creates it, so "
                "its log group /aws/sagemaker/Endpoints/<name> cannot be created first: SageMaker "
                "creates it on first use, unencrypted and never expiring. Pass endpoint_name.",
            )

        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            execution_role_arn=self._role.role_arn,
            production_variants=[_render_variant(v) for v in variants],
            kms_key_id=self.kms_key.key_arn if self.kms_key is not None else None,
        )
        if self._scoped is not None:
            # SageMaker checks the role when the configuration is created.
            self.endpoint_config.node.add_dependency(self._scoped.permissions)
        if local_storage:
            for rule in _KMS_RULES:
                acknowledge(
                    self.endpoint_config,
                    rule,
                    "A variant runs on an instance type with local NVMe storage, which the "
                    "instance encrypts in hardware; SageMaker rejects a KmsKeyId for it.",
                )

        self.resource = sagemaker.CfnEndpoint(
            self,
            "Resource",
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
            endpoint_name=endpoint_name,
        )
        if self.log_group is not None:
            self.resource.node.add_dependency(self.log_group)
        self._endpoint_name = self.resource.attr_endpoint_name
        self._endpoint_arn = self.resource.ref

    def _log_key(self, created_key: kms.Key | None, removal_policy: cdk.RemovalPolicy) -> kms.Key:
        """The endpoint's own key for logs: the storage key it created, or a new one."""
        key = created_key or kms.Key(
            self,
            "LogKey",
            description=f"Encrypts the logs of SageMaker endpoint {self.node.path}",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        allow_cloudwatch_logs(key)
        return key

    # -- importer ------------------------------------------------------------------------

    @staticmethod
    @checked
    def from_endpoint_name(scope: Construct, id: str, endpoint_name: str) -> ComponentEndpointBase:
        """An endpoint of inference components that exists outside this app, by name.

        Its variants and execution role are not known: a component you add to it that brings
        its own container grants nothing, so the endpoint's role must already be allowed to
        pull the image and read the artifacts.
        """
        problems = ValidationProblems("ComponentEndpoint", id)
        problems.check_name("endpoint_name", endpoint_name)
        problems.raise_if_any()
        return _ImportedComponentEndpoint(scope, id, endpoint_name)

    # -- properties ----------------------------------------------------------------------

    @property
    def endpoint_name(self) -> str:
        return self._endpoint_name

    @property
    def endpoint_arn(self) -> str:
        return self._endpoint_arn

    @property
    def endpoint_config_name(self) -> str:
        return self.endpoint_config.attr_endpoint_config_name

    @property
    def variant_names(self) -> list[str]:
        return list(self._variants)

    @property
    def role(self) -> iam.IRole:
        """The execution role."""
        return self._role

    @property
    def execution_role_grantee(self) -> iam.IGrantable:
        """The execution role's grantee (its managed policy when the role was created here)."""
        if self._scoped is not None:
            return self._scoped.grantee
        return self._role

    @property
    def grant_principal(self) -> iam.IPrincipal:
        """The principal to grant the execution role further permissions to."""
        return self.execution_role_grantee.grant_principal

    def variant(self, variant_name: str) -> ComponentVariant | None:
        return self._variants.get(variant_name)

    # -- wiring --------------------------------------------------------------------------

    def _add_service_permissions(self, scoped: ScopedRole) -> None:
        stack = cdk.Stack.of(self)
        log_arns = [
            stack.format_arn(
                service="logs",
                resource="log-group",
                resource_name=f"{pattern}:*",
                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
            )
            for pattern in _LOG_GROUP_PATTERNS
        ]
        scoped.add_statements(
            iam.PolicyStatement(
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:DescribeLogStreams",
                    "logs:PutLogEvents",
                ],
                resources=log_arns,
            )
        )
        for arn in log_arns:
            acknowledge_wildcard_resource(
                scoped.policy,
                arn,
                "SageMaker names the log groups of an endpoint and of each inference component "
                "after them, and the role exists before the endpoint is named; the logs actions "
                "are limited to /aws/sagemaker/Endpoints/* and "
                "/aws/sagemaker/InferenceComponents/* of this account and region.",
            )
        # cloudwatch:PutMetricData has no resource-level permissions: scoped by namespace.
        grant_unscoped(
            scoped.grantee,
            "PutSageMakerMetrics",
            ["cloudwatch:PutMetricData"],
            conditions={
                "StringLike": {"cloudwatch:namespace": ["*SageMaker*", "/aws/sagemaker/*"]}
            },
        )


# --------------------------------------------------------------------------- rendering


def _render_variant(
    variant: ComponentVariant,
) -> sagemaker.CfnEndpointConfig.ProductionVariantProperty:
    scaling = variant.managed_instance_scaling
    return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
        variant_name=variant.variant_name,
        instance_type=variant.instance_type,
        initial_instance_count=variant.initial_instance_count,
        volume_size_in_gb=variant.volume_size_in_gb,
        managed_instance_scaling=(
            sagemaker.CfnEndpointConfig.ManagedInstanceScalingProperty(
                status="ENABLED" if scaling.enabled else "DISABLED",
                min_instance_count=scaling.min_instance_count,
                max_instance_count=scaling.max_instance_count,
            )
            if scaling is not None
            else None
        ),
        routing_config=(
            sagemaker.CfnEndpointConfig.RoutingConfigProperty(
                routing_strategy=variant.routing_strategy.value
            )
            if variant.routing_strategy is not None
            else None
        ),
    )


# --------------------------------------------------------------------------- validation


def _validate_component_endpoint(
    id: str,
    *,
    variants: list[ComponentVariant],
    endpoint_name: str | None,
    kms_key: kms.IKey | None,
    log_retention_days: int,
) -> None:
    problems = ValidationProblems("ComponentEndpoint", id)
    check_retention(problems, "log_retention_days", log_retention_days)
    problems.check_name("endpoint_name", endpoint_name)
    problems.check_count("variants", variants, minimum=1, maximum=10)
    names = [v.variant_name for v in variants if not is_token(v.variant_name)]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        problems.add(
            "variants[*].variant_name",
            duplicates,
            "variant names must be unique within an endpoint",
            "rename the duplicated variants",
        )
    local_storage_types = []
    for index, variant in enumerate(variants):
        _validate_variant(problems, f"variants[{index}]", variant)
        if not is_token(variant.instance_type) and has_local_nvme_storage(variant.instance_type):
            local_storage_types.append(variant.instance_type)
    if kms_key is not None and local_storage_types:
        problems.add(
            "kms_key",
            "<kms.IKey>",
            "SageMaker rejects a storage KmsKeyId for instance types with local NVMe storage "
            f"({', '.join(sorted(set(local_storage_types)))}); the instance encrypts it "
            "in hardware",
            "remove kms_key, or choose EBS-backed instance types",
        )
    problems.raise_if_any()


def _validate_variant(
    problems: ValidationProblems, argument: str, variant: ComponentVariant
) -> None:
    problems.check_name(f"{argument}.variant_name", variant.variant_name)
    instance_type = variant.instance_type
    aws.check_instance_type(problems, f"{argument}.instance_type", instance_type, aws.HOSTING)
    count = variant.initial_instance_count
    aws.check_range(
        problems,
        f"{argument}.initial_instance_count",
        count,
        aws.ENDPOINT_CONFIG,
        _VARIANT + "InitialInstanceCount",
    )
    aws.check_range(
        problems,
        f"{argument}.volume_size_in_gb",
        variant.volume_size_in_gb,
        aws.ENDPOINT_CONFIG,
        aws.VOLUME_SIZE,
        unit="GB",
    )
    if (
        variant.volume_size_in_gb is not None
        and not is_token(instance_type)
        and has_local_nvme_storage(instance_type)
    ):
        problems.add(
            f"{argument}.volume_size_in_gb, {argument}.instance_type",
            variant.volume_size_in_gb,
            f"{instance_type} uses local NVMe storage of a fixed size; "
            "SageMaker rejects a volume size",
            "remove volume_size_in_gb, or choose an EBS-backed instance type",
        )
    scaling = variant.managed_instance_scaling
    if scaling is None:
        return
    low, high = scaling.min_instance_count, scaling.max_instance_count
    prefix = _VARIANT + "ManagedInstanceScaling/"
    aws.check_range(
        problems,
        f"{argument}.managed_instance_scaling.min_instance_count",
        low,
        aws.ENDPOINT_CONFIG,
        prefix + "MinInstanceCount",
    )
    aws.check_range(
        problems,
        f"{argument}.managed_instance_scaling.max_instance_count",
        high,
        aws.ENDPOINT_CONFIG,
        prefix + "MaxInstanceCount",
    )
    if not is_token([low, high, count]) and not low <= count <= high:
        problems.add(
            f"{argument}.managed_instance_scaling, {argument}.initial_instance_count",
            f"min={low}, initial={count}, max={high}",
            "min_instance_count <= initial_instance_count <= max_instance_count must hold",
            "adjust the instance counts",
        )
