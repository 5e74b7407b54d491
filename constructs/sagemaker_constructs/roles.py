"""Roles whose permissions live in one customer-managed policy.

HIPAA Security, NIST 800-53 R5 and PCI DSS 3.2.1 all reject inline IAM policies
(``AWS::IAM::Policy`` and a role's ``Policies``). CDK grants add statements to a role's
inline ``DefaultPolicy``; the constructs in this library therefore hand CDK a
:class:`ManagedPolicyGrantee` instead of the role itself, so every statement lands in the
role's own ``AWS::IAM::ManagedPolicy`` while the permissions stay exactly as narrow.

Public: use :class:`ScopedRole` for your own roles that must pass those packs too.

.. code-block:: python

    from sagemaker_constructs import ScopedRole

    job_role = ScopedRole(self, "JobRole",
        assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
        description="training jobs of the churn pipeline")
    bucket.grant_read(job_role.grantee)      # lands in the role's managed policy
    pipeline = Pipeline(self, "Pipeline", ..., job_role=job_role.role)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsii
from aws_cdk import aws_iam as iam
from constructs import Construct, DependencyGroup

from ._types import checked
from .compliance import acknowledge_checkov
from .wildcards import UNSCOPED_ACTIONS, declare_unscoped

__all__ = ["ManagedPolicyGrantee", "ScopedRole", "grant_unscoped"]


@jsii.implements(iam.IPrincipal)
class ManagedPolicyGrantee:
    """A principal that is ``role`` but adds granted statements to ``policy``."""

    @checked
    def __init__(self, role: iam.IRole, policy: iam.ManagedPolicy) -> None:
        self._role = role
        self._policy = policy

    @property
    def grant_principal(self) -> iam.IPrincipal:
        return self

    @property
    def assume_role_action(self) -> str:
        return self._role.assume_role_action

    @property
    def policy_fragment(self) -> iam.PrincipalPolicyFragment:
        return self._role.policy_fragment

    @property
    def principal_account(self) -> str | None:
        return self._role.principal_account

    def _target(self) -> iam.ManagedPolicy:
        return self._policy

    @property
    def policy(self) -> iam.ManagedPolicy:
        """The managed policy granted statements land in."""
        return self._target()

    def add_to_principal_policy(
        self, statement: iam.PolicyStatement
    ) -> iam.AddToPrincipalPolicyResult:
        policy = self._target()
        policy.add_statements(statement)
        return iam.AddToPrincipalPolicyResult(statement_added=True, policy_dependable=policy)

    def add_to_policy(self, statement: iam.PolicyStatement) -> bool:
        return self.add_to_principal_policy(statement).statement_added


class _ScopedRoleGrantee(ManagedPolicyGrantee):
    """A :class:`ScopedRole`'s grantee: the first statement granted makes the role's policy."""

    def __init__(self, scoped: ScopedRole) -> None:
        self._role = scoped.role
        self._scoped = scoped

    def _target(self) -> iam.ManagedPolicy:
        return self._scoped.policy


class ScopedRole(Construct):
    """A service role whose only permissions are one customer-managed policy.

    ``role`` is the role itself; ``grantee`` is what to pass to ``grant_*`` methods;
    ``immutable_role`` is what to hand CDK constructs that would otherwise add an inline
    policy of their own (their statements are then added explicitly to ``policy``).

    The policy is made with the first statement (``policy`` makes it when first read): a
    managed policy without statements fails synthesis, and a role that is granted nothing
    (a pipeline of Condition and Fail steps) needs none. ``permissions`` is what a resource
    that must wait for the role's permissions depends on: the policy, once there is one.
    """

    @checked
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        assumed_by: iam.IPrincipal,
        description: str,
        role_name: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.role = iam.Role(
            self, "Role", assumed_by=assumed_by, description=description, role_name=role_name
        )
        self._description = description
        self._policy: iam.ManagedPolicy | None = None
        self._unscoped: iam.ManagedPolicy | None = None
        self.permissions = DependencyGroup()
        self.grantee: ManagedPolicyGrantee = _ScopedRoleGrantee(self)
        self.immutable_role = self.role.without_policy_updates()

    @property
    def policy(self) -> iam.ManagedPolicy:
        """The role's managed policy (made now when the role has none yet)."""
        if self._policy is None:
            self._policy = iam.ManagedPolicy(
                self,
                "Policy",
                description=f"Least-privilege permissions: {self._description}",
                roles=[self.role],
            )
            self.permissions.add(self._policy)
        return self._policy

    @property
    def unscoped_policy(self) -> iam.ManagedPolicy | None:
        """The policy of actions without resource-level permissions (``None`` until one is
        added with :meth:`add_unscoped`)."""
        return self._unscoped

    def add_statements(self, *statements: iam.PolicyStatement) -> None:
        """Add statements to the role's managed policy."""
        self.policy.add_statements(*statements)

    def add_unscoped(
        self,
        sid: str,
        actions: list[str],
        *,
        conditions: Mapping[str, Any] | None = None,
    ) -> None:
        """Allow ``actions`` on ``*``: only actions that take no resource-level permission
        (:data:`~sagemaker_constructs.wildcards.UNSCOPED_ACTIONS`), in a policy of their own.

        Every other statement names its resources: a ``*`` resource anywhere else fails synth
        (:func:`~sagemaker_constructs.compliance.add_compliance_checks`), so a new wildcard
        cannot hide behind an acknowledgement of an old one.
        """
        unknown = [a for a in actions if a not in UNSCOPED_ACTIONS]
        if unknown:
            raise ValueError(
                f"actions={unknown!r}: not actions without resource-level permissions. Fix: "
                "name the resources in add_statements; only these may be unscoped: "
                f"{', '.join(sorted(UNSCOPED_ACTIONS))}."
            )
        if self._unscoped is None:
            self._unscoped = iam.ManagedPolicy(
                self,
                "UnscopedPolicy",
                description=f"Actions without resource-level permissions: {self._description}",
                roles=[self.role],
            )
            self.permissions.add(self._unscoped)
            acknowledge_checkov(
                self._unscoped,
                "CKV_AWS_111",
                "This policy holds only actions that take no resource-level permission "
                "(wildcards.UNSCOPED_ACTIONS, each with AWS's reason), with conditions where "
                "AWS offers one; every other statement of the role names its resources.",
            )
        self._unscoped.add_statements(
            iam.PolicyStatement(sid=sid, actions=actions, resources=["*"], conditions=conditions)
        )
        declare_unscoped(self._unscoped, actions)


def grant_unscoped(
    grantee: iam.IGrantable,
    sid: str,
    actions: list[str],
    *,
    conditions: Mapping[str, Any] | None = None,
) -> None:
    """Allow ``actions`` (from :data:`~sagemaker_constructs.wildcards.UNSCOPED_ACTIONS`) on ``*``.

    For a :class:`ScopedRole`'s grantee they go into the role's policy of unscoped actions;
    for any other principal into the policy its grants land in, declared there action by
    action (every other ``*`` of that policy still fails synth).
    """
    if isinstance(grantee, _ScopedRoleGrantee):
        grantee._scoped.add_unscoped(sid, actions, conditions=conditions)
        return
    result = grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(sid=sid, actions=actions, resources=["*"], conditions=conditions)
    )
    policy = result.policy_dependable
    if isinstance(policy, iam.Policy | iam.ManagedPolicy):
        declare_unscoped(policy, actions)
