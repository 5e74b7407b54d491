"""S3 buckets that satisfy all four compliance packs: KMS, TLS only, versioned, logged."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from sagemaker_constructs.compliance import acknowledge, acknowledge_checkov

__all__ = ["LoggedBucket"]

_LOG_PACKS = ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")


class LoggedBucket(Construct):
    """A KMS-encrypted, versioned, TLS-only bucket whose access is logged to a second bucket.

    ``bucket`` holds the data; ``access_logs`` receives its server access logs (SSE-S3, as S3
    log delivery requires, expiring after ``log_retention``). Neither bucket replicates across
    regions: ``replication_reason`` says why, and is the acknowledgement's reason.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        key: kms.IKey,
        removal_policy: cdk.RemovalPolicy,
        replication_reason: str,
        log_retention: cdk.Duration | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=removal_policy,
            auto_delete_objects=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=log_retention or cdk.Duration.days(365),
                    noncurrent_version_expiration=cdk.Duration.days(30),
                )
            ],
        )
        recursion = (
            "This bucket receives another bucket's server access logs; logging its own access "
            "to itself would recurse."
        )
        acknowledge(self.access_logs, "AwsSolutions::AwsSolutions-S1", recursion)
        acknowledge_checkov(self.access_logs, "CKV_AWS_18", recursion)
        for pack in _LOG_PACKS:
            acknowledge(self.access_logs, f"{pack}::{pack}-S3BucketLoggingEnabled", recursion)
            acknowledge(
                self.access_logs,
                f"{pack}::{pack}-S3DefaultEncryptionKMS",
                "S3 server access log delivery supports only SSE-S3 on the target bucket.",
            )
            acknowledge(
                self.access_logs,
                f"{pack}::{pack}-S3BucketReplicationEnabled",
                "Access logs are kept in-region for a year; replicating them adds no recovery "
                "value.",
            )

        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"{id.lower()}/",
            removal_policy=removal_policy,
            auto_delete_objects=False,
        )
        for pack in _LOG_PACKS:
            acknowledge(
                self.bucket, f"{pack}::{pack}-S3BucketReplicationEnabled", replication_reason
            )
