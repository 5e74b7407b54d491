"""The model registry, read at synth: the newest approved version of the registry's group.

Only the promotion pipeline's synth step asks (``-c resolve_candidate=latest-approved``); a
laptop synthesizes offline from ``cdk.json`` and ``-c candidate_package=<arn>``. The boto3
client is a parameter: the tests pass one of moto's, the app one for the registry's region.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NoApprovedPackageError", "latest_approved_package", "sagemaker_client"]


class NoApprovedPackageError(LookupError):
    """The group has no approved version: there is nothing to deploy."""


def latest_approved_package(client: Any, *, group: str) -> str:
    """The ARN of the newest approved version of the model package group ``group``.

    ``group`` is the group's name or, for another account's group, its ARN (the group's
    resource policy must let the caller list its versions). "Newest" is the highest version
    number: SageMaker numbers versions as they are registered, so a version approved after a
    later one was registered is still older than it.

    :param client: a boto3 SageMaker client in the group's region.
    :raises NoApprovedPackageError: when no version of the group is approved.
    """
    newest: dict[str, Any] | None = None
    pages = client.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=group, ModelApprovalStatus="Approved", ModelPackageType="Versioned"
    )
    for page in pages:
        for summary in page.get("ModelPackageSummaryList", []):
            if summary.get("ModelApprovalStatus") != "Approved":
                continue
            if newest is None or summary["ModelPackageVersion"] > newest["ModelPackageVersion"]:
                newest = summary
    if newest is None:
        raise NoApprovedPackageError(
            f"model package group {group}: no version is approved, so there is no candidate to "
            "deploy. Fix: approve a version (aws sagemaker update-model-package "
            "--model-package-arn <arn> --model-approval-status Approved), or synthesize "
            "without -c resolve_candidate"
        )
    return str(newest["ModelPackageArn"])


def sagemaker_client(region: str) -> Any:
    """A boto3 SageMaker client for ``region`` (imported here: only a synth that asks the
    registry needs boto3)."""
    import boto3

    return boto3.client("sagemaker", region_name=region)
