"""``ModelPackageGroup``: a group of versioned models in the SageMaker Model Registry.

A training pipeline registers each new model as a package (version 1, 2, ...) of a group;
someone (or something) approves a version; the approval is an EventBridge event that starts
its deployment, in this account or, through the group's resource policy, in others.

.. code-block:: python

    registry = ModelPackageGroup(
        self, "Registry",
        model_package_group_name="churn",
        read_accounts=["222222222222", "333333333333"],   # test and prod deploy from it
    )
    registry.grant_register(job_role.grantee)      # the training pipeline's ScopedRole
    registry.grant_approve(reviewer_role)
    registry.on_package_approved("Approved", target=targets.CodePipeline(promotion))

    # in the test or prod account's app:
    model = Model(self, "Churn", containers=[
        ContainerDefinition.from_model_package(
            "arn:aws:sagemaker:us-east-1:111111111111:model-package/churn/7",
            artifacts_bucket=artifacts, artifacts_key="churn/",
            artifacts_encryption_key=artifacts_key)])

**Encryption.** A model package group has no encryption setting of its own
(``AWS::SageMaker::ModelPackageGroup`` and ``CreateModelPackageGroup`` take none): a group and
its packages hold metadata only (names, image URIs, S3 URIs, metrics, approval status). The
model artifacts themselves are objects in S3, encrypted by their bucket (SSE-KMS with a key you
manage is what this library's other constructs use), and a model that serves a package needs
read and decrypt on them: ``ContainerDefinition.from_model_package(...,
artifacts_bucket=..., artifacts_key=..., artifacts_encryption_key=...)`` grants both. Across
accounts the bucket policy and the key policy in the registry's account must also allow the
consuming accounts; this construct cannot change them.

**Metrics.** CloudWatch publishes no metrics for model package groups or model packages (the
``AWS/SageMaker`` namespace covers endpoints, jobs and pipelines), so this construct offers no
``metric_*`` methods. Watch the registry through its events instead:
:meth:`ModelPackageGroupBase.on_package_state_change` and
:meth:`ModelPackageGroupBase.on_package_approved`.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from . import aws_rules as aws
from ._types import checked
from ._validation import ValidationProblems, is_token
from .compliance import acknowledge_wildcard_resource
from .roles import ManagedPolicyGrantee

__all__ = [
    "EVENT_SOURCE",
    "PACKAGE_STATE_CHANGE",
    "IModelPackageGroup",
    "ModelApprovalStatus",
    "ModelPackageGroup",
    "ModelPackageGroupBase",
]

#: The ``source`` of the events SageMaker sends to EventBridge.
EVENT_SOURCE = "aws.sagemaker"
#: The ``detail-type`` of a model package's state change (registered, approved, rejected ...).
#: Its ``detail`` holds the package's description as ``DescribeModelPackage`` returns it:
#: ``ModelPackageGroupName``, ``ModelPackageVersion``, ``ModelPackageArn``,
#: ``ModelApprovalStatus``, ``ModelPackageStatus``, ``InferenceSpecification`` ...; its
#: ``resources`` the package's ARN.
PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"

#: ``arn:<partition>:sagemaker:<region>:<account>:model-package-group/<name>``
GROUP_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):sagemaker:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"model-package-group/(?P<name>[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})$"
)
ACCOUNT_ID = re.compile(r"^\d{12}$")

# What each grant allows. The Service Authorization Reference lists the resource type each
# action takes: DescribeModelPackageGroup the group, the others the group's packages
# (``model-package/<group>/<version>``).
_DESCRIBE_GROUP = ["sagemaker:DescribeModelPackageGroup"]
_READ_PACKAGES = ["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"]
#: Registering a version: CreateModelPackage, and AddTags for the tags it is created with.
_REGISTER_PACKAGES = ["sagemaker:CreateModelPackage", "sagemaker:AddTags"]
#: Approving or rejecting a version is an UpdateModelPackage (``ModelApprovalStatus``).
_APPROVE_PACKAGES = ["sagemaker:UpdateModelPackage", "sagemaker:DescribeModelPackage"]
#: What the accounts named in ``read_accounts`` may do, as AWS documents cross-account model
#: registry access (model-registry-ram.html, model-registry-deploy-xaccount.html): see the
#: group, list and describe its versions. Deploying one needs no more from the registry's
#: account (CreateModel takes only the model resource, in the deploying account).
_CROSS_ACCOUNT_READ = [*_DESCRIBE_GROUP, *_READ_PACKAGES]

_WILDCARD_REASON = (
    "The versions of a model package group are numbered by SageMaker as they are registered; "
    "the actions are limited to the packages of this one group (model-package/<group>/*)."
)


class ModelApprovalStatus(enum.Enum):
    """A model package's approval status (``ModelApprovalStatus``)."""

    APPROVED = "Approved"
    REJECTED = "Rejected"
    PENDING_MANUAL_APPROVAL = "PendingManualApproval"


@runtime_checkable
class IModelPackageGroup(Protocol):
    """A model package group: a :class:`ModelPackageGroup` or an imported one."""

    @property
    def model_package_group_name(self) -> str: ...

    @property
    def model_package_group_arn(self) -> str: ...

    @property
    def package_arn_pattern(self) -> str: ...

    def package_arn(self, version: int) -> str: ...

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant: ...


def _acknowledge(grantee: iam.IGrantable, resource_arn: str) -> None:
    """Acknowledge the package ARN pattern just granted, in the managed policy it went into
    (a construct such as a ``Pipeline`` grants through its ``grant_principal``)."""
    principal = grantee if isinstance(grantee, ManagedPolicyGrantee) else grantee.grant_principal
    if isinstance(principal, ManagedPolicyGrantee):
        acknowledge_wildcard_resource(principal.policy, resource_arn, _WILDCARD_REASON)


# --------------------------------------------------------------------------- shared base


class ModelPackageGroupBase(Construct):
    """What every model package group offers, created here or imported: grants and events.

    ARNs name the group in lower case, as SageMaker writes them (a group ``Churn`` has the
    ARN ``...:model-package-group/churn`` and versions ``...:model-package/churn/1``); IAM
    compares ARNs case-sensitively, so grants use the lower-case form.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        partition: str | None = None,
        region: str | None = None,
        account: str | None = None,
        name_case_known: bool = True,
    ) -> None:
        super().__init__(scope, id)
        stack = cdk.Stack.of(self)
        self._partition = partition or stack.partition
        self._region = region or stack.region
        self._account = account or stack.account
        self._name_case_known = name_case_known
        self._set_name(name)

    def _set_name(self, name: str) -> None:
        self._name = name
        # SageMaker lower-cases resource names in ARNs.
        self._arn_name = name if is_token(name) else name.lower()

    def _arn(self, resource: str, resource_name: str) -> str:
        return (
            f"arn:{self._partition}:sagemaker:{self._region}:{self._account}:"
            f"{resource}/{resource_name}"
        )

    @property
    def model_package_group_name(self) -> str:
        """The group's name (the name the training pipeline registers into)."""
        return self._name

    @property
    def model_package_group_arn(self) -> str:
        """The group's ARN."""
        return self._arn("model-package-group", self._arn_name)

    @property
    def package_arn_pattern(self) -> str:
        """Every version of this group: ``arn:...:model-package/<group>/*``."""
        return self._arn("model-package", f"{self._arn_name}/*")

    @property
    def account(self) -> str:
        """The account the group is in."""
        return self._account

    @checked
    def package_arn(self, version: int) -> str:
        """The ARN of one version of this group (versions start at 1)."""
        problems = ValidationProblems(f"{type(self).__name__}.package_arn")
        problems.check_range("version", version, minimum=1, maximum=999_999_999)
        problems.raise_if_any()
        return self._arn("model-package", f"{self._arn_name}/{version}")

    # -- grants --------------------------------------------------------------------------

    def _grant_packages(self, grantee: iam.IGrantable, actions: list[str]) -> iam.Grant:
        grant = iam.Grant.add_to_principal(
            grantee=grantee, actions=actions, resource_arns=[self.package_arn_pattern]
        )
        _acknowledge(grantee, self.package_arn_pattern)
        return grant

    def _grant_group(self, grantee: iam.IGrantable, actions: list[str]) -> iam.Grant:
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=actions, resource_arns=[self.model_package_group_arn]
        )

    @checked
    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to describe the group and to list and describe its versions
        (``DescribeModelPackageGroup``; ``ListModelPackages``, ``DescribeModelPackage``)."""
        return self._grant_group(grantee, _DESCRIBE_GROUP).combine(
            self._grant_packages(grantee, _READ_PACKAGES)
        )

    @checked
    def grant_register(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` (a training pipeline's role) to register new versions into this
        group: ``CreateModelPackage`` and ``AddTags`` (for the tags a version is created with)
        on the group's packages, ``DescribeModelPackageGroup`` on the group.

        Registering does not read the image or the artifacts; the model that later serves the
        version does (see ``ContainerDefinition.from_model_package``).
        """
        return self._grant_group(grantee, _DESCRIBE_GROUP).combine(
            self._grant_packages(grantee, _REGISTER_PACKAGES)
        )

    @checked
    def grant_approve(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to approve or reject this group's versions
        (``UpdateModelPackage`` with ``ModelApprovalStatus``, and ``DescribeModelPackage`` to
        see what it approves)."""
        return self._grant_packages(grantee, _APPROVE_PACKAGES)

    # -- events --------------------------------------------------------------------------

    def _group_name_filter(self) -> list[object]:
        if self._name_case_known:
            return [self._name]
        # Known from an ARN only (lower case): SageMaker names are unique whatever their case.
        return [{"equals-ignore-case": self._name}]

    @checked
    def on_package_state_change(
        self,
        id: str,
        *,
        approval_statuses: Sequence[ModelApprovalStatus] | None = None,
        target: events.IRuleTarget | None = None,
        description: str | None = None,
        rule_name: str | None = None,
    ) -> events.Rule:
        """An EventBridge rule on the ``SageMaker Model Package State Change`` events of this
        group's versions, optionally only those with one of ``approval_statuses``.

        The rule is in this stack's account, region and default event bus: SageMaker sends the
        events to the registry's, so a group of another account or region needs them
        forwarded (a warning says so).

        :param approval_statuses: Default: every state change (registered, approved,
            rejected, updated).
        :param target: Default: none (add targets with ``rule.add_target``).
        :param description: Default: one naming the group.
        :param rule_name: Default: generated by CloudFormation.
        """
        problems = ValidationProblems(f"{type(self).__name__}.on_package_state_change", id)
        if approval_statuses is not None:
            problems.check_count("approval_statuses", approval_statuses, minimum=1, maximum=3)
        if rule_name is not None and not is_token(rule_name):
            problems.check(
                0 < len(rule_name) <= 64 and bool(re.match(r"^[\.\-_A-Za-z0-9]+$", rule_name)),
                "rule_name",
                rule_name,
                "an EventBridge rule name has 1-64 characters [.-_A-Za-z0-9]",
                "shorten the name or remove other characters",
            )
        problems.raise_if_any()
        self._warn_when_cross_account()
        detail: dict[str, object] = {"ModelPackageGroupName": self._group_name_filter()}
        if approval_statuses:
            detail["ModelApprovalStatus"] = sorted({s.value for s in approval_statuses})
        return events.Rule(
            self,
            id,
            rule_name=rule_name,
            description=description
            or f"Model package state changes in the model package group {self.node.path}",
            event_pattern=events.EventPattern(
                source=[EVENT_SOURCE], detail_type=[PACKAGE_STATE_CHANGE], detail=detail
            ),
            targets=[target] if target is not None else None,
        )

    @checked
    def on_package_approved(
        self,
        id: str,
        *,
        target: events.IRuleTarget | None = None,
        description: str | None = None,
        rule_name: str | None = None,
    ) -> events.Rule:
        """An EventBridge rule on the approval of a version of this group: ``source``
        ``aws.sagemaker``, ``detail-type`` ``SageMaker Model Package State Change``,
        ``detail.ModelPackageGroupName`` this group and ``detail.ModelApprovalStatus``
        ``Approved``. The approved version's ARN is the event's ``detail.ModelPackageArn``.

        SageMaker may send more than one event for one change: targets should be idempotent.

        :param target: Default: none (add targets with ``rule.add_target``).
        :param description: Default: one naming the group.
        :param rule_name: Default: generated by CloudFormation.
        """
        return self.on_package_state_change(
            id,
            approval_statuses=[ModelApprovalStatus.APPROVED],
            target=target,
            description=description
            or f"Approved model packages in the model package group {self.node.path}",
            rule_name=rule_name,
        )

    def _warn_when_cross_account(self) -> None:
        stack = cdk.Stack.of(self)
        here = (stack.account, stack.region)
        there = (self._account, self._region)
        if is_token([*here, *there]) or here == there:
            return
        cdk.Annotations.of(self).add_warning_v2(
            "sagemaker-constructs:model-package-events-cross-account",
            f"The model package group is in account {there[0]}, region {there[1]}; SageMaker "
            f"sends its events to that account's and region's default event bus, not to "
            f"{here[0]} in {here[1]}. Forward them to this stack's event bus (a rule there with "
            "an EventBus target) for this rule to see them.",
        )


class _ImportedModelPackageGroup(ModelPackageGroupBase):
    pass


# --------------------------------------------------------------------------- ModelPackageGroup


class ModelPackageGroup(ModelPackageGroupBase):
    """A model package group (``AWS::SageMaker::ModelPackageGroup``) of the Model Registry.

    **Cross-account read.** Each account in ``read_accounts`` (the test and prod accounts a
    promotion pipeline deploys to) is allowed, by the group's resource policy
    (``ModelPackageGroupPolicy``), to describe the group and to list and describe its
    versions: what deploying a version from another account needs of the registry, as AWS
    documents it. Approving stays in this account. The consuming account's roles still need
    the same actions in their own policies (``ContainerDefinition.from_model_package`` grants
    them to a model's role), and the artifacts' bucket and key policies must allow them too.

    **Encryption and metrics.** A group has no encryption setting and CloudWatch has no
    metrics for it; see the module's documentation.

    :param model_package_group_name: 1-63 characters ``[a-zA-Z0-9](-*[a-zA-Z0-9])*``;
        replacing the group (a new name) requires it to be empty. Default: a name made from
        the construct's path.
    :param description: at most 1024 characters, no control characters (line breaks
        included). Default: none.
    :param read_accounts: 12-digit ids of the accounts that may read the group's versions.
        Default: none (no resource policy).
    :param tags: at most 50. Default: none.
    :param removal_policy: what happens to the group when it leaves the stack. CloudFormation
        cannot delete a group that still holds versions. Default: ``RETAIN`` (a registry is
        the record of what was approved).
    """

    @checked
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        model_package_group_name: str | None = None,
        description: str | None = None,
        read_accounts: Sequence[str] | None = None,
        tags: Mapping[str, str] | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        _validate_group(
            id,
            model_package_group_name=model_package_group_name,
            description=description,
            read_accounts=read_accounts,
            tags=tags,
        )
        super().__init__(scope, id, name=model_package_group_name or "")
        if model_package_group_name is None:
            self._set_name(_generated_name(self))
        name = self._name
        self.read_accounts = list(read_accounts or [])
        self.resource = sagemaker.CfnModelPackageGroup(
            self,
            "Resource",
            model_package_group_name=name,
            model_package_group_description=description,
            model_package_group_policy=(
                self._resource_policy().to_json() if self.read_accounts else None
            ),
            tags=[cdk.CfnTag(key=k, value=v) for k, v in tags.items()] if tags else None,
        )
        self.resource.apply_removal_policy(removal_policy)

    def _resource_policy(self) -> iam.PolicyDocument:
        principals = [iam.AccountPrincipal(account) for account in self.read_accounts]
        return iam.PolicyDocument(
            statements=[
                iam.PolicyStatement(
                    sid="CrossAccountRead",
                    principals=principals,
                    actions=_CROSS_ACCOUNT_READ,
                    # the policy is a property of the group: its ARN is built from the name
                    resources=[super().model_package_group_arn, self.package_arn_pattern],
                )
            ]
        )

    @property
    def model_package_group_arn(self) -> str:
        """The group's ARN (from the resource, so that grants wait for the group)."""
        return self.resource.attr_model_package_group_arn

    # -- importers -----------------------------------------------------------------------

    @staticmethod
    @checked
    def from_model_package_group_name(
        scope: Construct, id: str, model_package_group_name: str
    ) -> ModelPackageGroupBase:
        """A group of this stack's account and region that exists outside this app, by name."""
        problems = ValidationProblems("ModelPackageGroup", id)
        problems.check_name("model_package_group_name", model_package_group_name)
        problems.raise_if_any()
        return _ImportedModelPackageGroup(scope, id, name=model_package_group_name)

    @staticmethod
    @checked
    def from_model_package_group_arn(
        scope: Construct, id: str, model_package_group_arn: str
    ) -> ModelPackageGroupBase:
        """A group by ARN, of this account or another (then grants and events concern that
        account's group; its resource policy must allow this account).

        An ARN holds the group's name in lower case: the event rules then match the name
        ignoring case (SageMaker names are unique whatever their case).
        """
        problems = ValidationProblems("ModelPackageGroup", id)
        match = (
            None if is_token(model_package_group_arn) else GROUP_ARN.match(model_package_group_arn)
        )
        if is_token(model_package_group_arn):
            problems.add(
                "model_package_group_arn",
                model_package_group_arn,
                "must be known at synth time (the name, account and region are read from it)",
                "pass the ARN as text, or use from_model_package_group_name",
            )
        elif match is None:
            problems.add(
                "model_package_group_arn",
                model_package_group_arn,
                "must be arn:<partition>:sagemaker:<region>:<12-digit account>:"
                "model-package-group/<name> with a name of 1-63 characters "
                "[a-zA-Z0-9](-*[a-zA-Z0-9])*",
                "copy the ARN DescribeModelPackageGroup returns",
            )
        else:
            aws.check_region(problems, "model_package_group_arn", match["region"])
        problems.raise_if_any()
        assert match is not None
        return _ImportedModelPackageGroup(
            scope,
            id,
            name=match["name"],
            partition=match["partition"],
            region=match["region"],
            account=match["account"],
            name_case_known=False,
        )


# --------------------------------------------------------------------------- validation


def _generated_name(construct: Construct) -> str:
    """A unique name from the construct's path, as SageMaker accepts it."""
    name = cdk.Names.unique_resource_name(
        construct, max_length=63, separator="-", allowed_special_characters="-"
    )
    name = re.sub(r"[^a-zA-Z0-9-]", "", name).strip("-")
    return name[:63].rstrip("-")


def _description_ok(text: str) -> bool:
    """``[\\p{L}\\p{M}\\p{Z}\\p{S}\\p{N}\\p{P}]*``: no control, format or unassigned character."""
    return all(unicodedata.category(ch)[0] in "LMZSNP" for ch in text)


def _validate_group(
    id: str,
    *,
    model_package_group_name: str | None,
    description: str | None,
    read_accounts: Sequence[str] | None,
    tags: Mapping[str, str] | None,
) -> None:
    problems = ValidationProblems("ModelPackageGroup", id)
    problems.check_name("model_package_group_name", model_package_group_name)
    if description is not None and not is_token(description):
        if len(description) > 1024:
            problems.add(
                "description",
                f"<{len(description)} characters>",
                "must be at most 1024 characters",
                "shorten the description",
            )
        elif not _description_ok(description):
            problems.add(
                "description",
                description,
                "must match [\\p{L}\\p{M}\\p{Z}\\p{S}\\p{N}\\p{P}]*: letters, marks, spaces, "
                "symbols, numbers and punctuation only (no line break or other control "
                "character)",
                "write the description on one line without control characters",
            )
    for index, account in enumerate(read_accounts or []):
        if is_token(account):
            continue
        problems.check(
            bool(ACCOUNT_ID.match(account)),
            f"read_accounts[{index}]",
            account,
            "must be a 12-digit AWS account id",
            "pass the account id as a string of 12 digits, such as '222222222222'",
        )
    concrete = [a for a in read_accounts or [] if not is_token(a)]
    duplicates = sorted({a for a in concrete if concrete.count(a) > 1})
    if duplicates:
        problems.add(
            "read_accounts",
            duplicates,
            "each account may be listed once",
            "remove the repeated account ids",
        )
    aws.check_tags(problems, "tags", tags)
    problems.raise_if_any()
