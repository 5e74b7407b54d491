"""The lock table: one per stack, shared by every ``CanaryRollout`` in it.

An execution takes the lock of its endpoint with a conditional put (``attribute_not_exists``
on the endpoint's name) before it moves any traffic, and releases it on every way it ends, so
two executions (of one rollout, or of two rollouts bound to the same endpoint in the stack)
never move the same endpoint's weights at once. A lock whose holder no longer runs is taken
over (checked with ``DescribeExecution``), so a holder that died cannot block the endpoint.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from ..compliance import acknowledge, acknowledge_checkov
from .contract import LOCK_KEY

__all__ = ["RolloutLockTable"]

_ID = "SageMakerConstructsRolloutLocks"


class RolloutLockTable(Construct):
    """The stack's rollout lock table (on demand, encrypted, point-in-time recovery)."""

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        self.table = dynamodb.Table(
            self,
            "Resource",
            partition_key=dynamodb.Attribute(name=LOCK_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        for pack in ("HIPAA.Security", "NIST.800.53.R5"):
            acknowledge(
                self.table,
                f"{pack}::{pack}-DynamoDBInBackupPlan",
                "The table holds only transient coordination state (one lock item per endpoint "
                "while a rollout runs, deleted when it ends); restoring it from a backup would "
                "bring back stale locks. Point-in-time recovery stays enabled.",
            )
        acknowledge_checkov(
            self.table,
            "CKV_AWS_119",
            "Encrypted at rest with the AWS-managed DynamoDB key. The items are locks only "
            "(an endpoint name and the ARN of the execution holding it), shared by every "
            "rollout in the stack, each of which has a key of its own.",
        )

    @classmethod
    def of(cls, scope: Construct) -> RolloutLockTable:
        """The lock table of ``scope``'s stack, created on first use."""
        stack = cdk.Stack.of(scope)
        existing = stack.node.try_find_child(_ID)
        if isinstance(existing, RolloutLockTable):
            return existing
        return cls(stack, _ID)
