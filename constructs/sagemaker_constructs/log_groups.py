"""Encrypted log groups with a retention: the values CloudWatch Logs accepts, and the key policy
that lets CloudWatch Logs use a KMS key.

Used by the library's constructs and by the app's stacks; public, for your own log groups too.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs

from ._validation import ValidationProblems

__all__ = ["RETENTION_BY_DAYS", "allow_cloudwatch_logs", "check_retention", "retention"]

RETENTION_BY_DAYS: dict[int, logs.RetentionDays] = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def retention(days: int) -> logs.RetentionDays:
    """The retention for ``days``; raises ``ValueError`` for a value CloudWatch rejects."""
    try:
        return RETENTION_BY_DAYS[days]
    except KeyError:
        allowed = ", ".join(str(d) for d in RETENTION_BY_DAYS)
        raise ValueError(
            f"log retention {days} days is not a CloudWatch Logs retention value; "
            f"choose one of {allowed}"
        ) from None


def check_retention(problems: ValidationProblems, argument: str, days: int) -> None:
    """Record a problem unless ``days`` is a retention CloudWatch Logs accepts."""
    if days not in RETENTION_BY_DAYS:
        problems.add(
            argument,
            days,
            "must be a CloudWatch Logs retention value",
            f"choose one of {', '.join(str(d) for d in RETENTION_BY_DAYS)}",
        )


def allow_cloudwatch_logs(key: kms.Key, *, sid: str = "AllowCloudWatchLogs") -> None:
    """Let CloudWatch Logs encrypt this account's and region's log groups with ``key``.

    The statement names each action CloudWatch Logs needs and is limited, by the encryption
    context, to log groups of the key's own account and region.
    """
    stack = cdk.Stack.of(key)
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=[
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncryptFrom",
                "kms:ReEncryptTo",
                "kms:GenerateDataKey",
                "kms:GenerateDataKeyWithoutPlaintext",
                "kms:DescribeKey",
            ],
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                }
            },
        )
    )
