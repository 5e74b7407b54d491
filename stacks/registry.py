"""The model registry at synth, and the promotions the pipeline records in it.

**Reading** (the promotion pipeline's synth step, ``-c resolve_candidate=latest-approved``):
for each environment that rolls out, :func:`resolve_releases` finds the newest version promoted
there (its ``model``) and the newest approved version newer than that (its ``candidate``, or
none). A laptop synthesizes offline from ``cdk.json`` and ``-c candidate_package=<arn>``.

**Writing** (the pipeline's rollout step, after ``sagemaker-rollout start --watch`` exited 0):
:func:`record_promotion` marks the version promoted in that environment, as the customer
metadata property ``promoted-<environment>`` (the UTC time of the promotion) set with
``UpdateModelPackage``. Run as ``python -m stacks.registry record-promotion --environment dev
--package-arn <arn>``: this module imports boto3 and the standard library only, so the rollout
step's venv (``requirements/rollout.lock``) runs it from the checkout.

The boto3 client is a parameter everywhere: the tests pass one of moto's, the app and the
command line one for the registry's region.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "PROMOTED_PREFIX",
    "NoApprovedPackageError",
    "Release",
    "approved_versions",
    "latest_approved_package",
    "main",
    "promotion_key",
    "promotion_record_conditions",
    "record_promotion",
    "resolve_releases",
    "sagemaker_client",
]

#: The customer metadata property a promotion sets on a version: ``promoted-<environment>``.
PROMOTED_PREFIX = "promoted-"


def promotion_record_conditions(environment: str | None = None) -> dict[str, dict[str, str]]:
    """IAM conditions on ``sagemaker:UpdateModelPackage`` that let a caller record promotions
    and nothing else: the request sets no approval status (so a pipeline role cannot approve or
    reject a version) and removes no property; with ``environment``, it must set that
    environment's ``promoted-<environment>`` property."""
    null = {
        "sagemaker:ModelApprovalStatus": "true",
        "sagemaker:CustomerMetadataPropertiesToRemove": "true",
    }
    if environment is not None:
        null[f"sagemaker:CustomerMetadataProperties/{PROMOTED_PREFIX}{environment}"] = "false"
    return {"Null": null}


class NoApprovedPackageError(LookupError):
    """The group has no approved version: there is nothing to deploy."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Release:
    """What one environment deploys in a synth that asked the registry."""

    #: The newest version promoted in the environment (its ARN); ``None``: none was promoted
    #: there yet, the environment keeps the ``model`` of ``cdk.json``.
    model: str | None
    #: The newest approved version newer than the model; ``None``: nothing to roll out (the
    #: environment serves its model alone).
    candidate: str | None


def promotion_key(environment: str) -> str:
    """The customer metadata property that says a version was promoted in ``environment``."""
    return f"{PROMOTED_PREFIX}{environment}"


def approved_versions(client: Any, *, group: str) -> list[tuple[int, str]]:
    """The approved versions of the model package group ``group``, newest first, as
    ``(version, ARN)``.

    ``group`` is the group's name or, for another account's group, its ARN (the group's
    resource policy must let the caller list its versions). "Newest" is the highest version
    number: SageMaker numbers versions as they are registered, so a version approved after a
    later one was registered is still older than it.

    :param client: a boto3 SageMaker client in the group's region.
    :raises NoApprovedPackageError: when no version of the group is approved.
    """
    found: list[tuple[int, str]] = []
    pages = client.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=group, ModelApprovalStatus="Approved", ModelPackageType="Versioned"
    )
    for page in pages:
        for summary in page.get("ModelPackageSummaryList", []):
            if summary.get("ModelApprovalStatus") == "Approved":
                found.append((int(summary["ModelPackageVersion"]), str(summary["ModelPackageArn"])))
    if not found:
        raise NoApprovedPackageError(
            f"model package group {group}: no version is approved, so there is no candidate to "
            "deploy. Fix: approve a version (aws sagemaker update-model-package "
            "--model-package-arn <arn> --model-approval-status Approved), or synthesize "
            "without -c resolve_candidate"
        )
    return sorted(found, reverse=True)


def latest_approved_package(client: Any, *, group: str) -> str:
    """The ARN of the newest approved version of ``group`` (see :func:`approved_versions`).

    :raises NoApprovedPackageError: when no version of the group is approved.
    """
    return approved_versions(client, group=group)[0][1]


def resolve_releases(
    client: Any, *, group: str, configured: Mapping[str, int | None]
) -> dict[str, Release]:
    """Each environment's :class:`Release`, from the registry's approved versions.

    - ``model``: the newest approved version whose customer metadata holds
      ``promoted-<environment>`` (a version rejected after its promotion no longer counts);
    - ``candidate``: the newest approved version newer than that model or, when none was
      promoted, newer than the version ``cdk.json``'s model is (``configured``: environment ->
      its model's version in this group, ``None`` for a model from outside the registry, which
      any approved version replaces).

    Versions are described newest first, and only until every environment's promoted version
    is found (``DescribeModelPackage``: ``ListModelPackages`` does not return the metadata).

    :raises NoApprovedPackageError: when no version of the group is approved.
    """
    versions = approved_versions(client, group=group)
    promoted: dict[str, tuple[int, str]] = {}
    for version, arn in versions:
        if len(promoted) == len(configured):
            break
        package = client.describe_model_package(ModelPackageName=arn)
        properties = package.get("CustomerMetadataProperties") or {}
        for environment in configured:
            if environment not in promoted and promotion_key(environment) in properties:
                promoted[environment] = (version, arn)
    newest_version, newest_arn = versions[0]
    releases = {}
    for environment, configured_version in configured.items():
        model = promoted.get(environment)
        served = model[0] if model is not None else (configured_version or 0)
        releases[environment] = Release(
            model=model[1] if model is not None else None,
            candidate=newest_arn if newest_version > served else None,
        )
    return releases


def record_promotion(
    client: Any, *, package_arn: str, environment: str, at: datetime | None = None
) -> str:
    """Record in the registry that ``package_arn`` was promoted in ``environment``.

    One ``UpdateModelPackage`` that sets the customer metadata property
    ``promoted-<environment>`` to the UTC time of the promotion (``at``, default now), and
    nothing else: the approval status and the other properties stay as they are (the API
    adds the properties it is given; removing one takes ``CustomerMetadataPropertiesToRemove``).

    :param client: a boto3 SageMaker client in the version's region.
    :returns: the value recorded.
    """
    value = (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    client.update_model_package(
        ModelPackageArn=package_arn,
        CustomerMetadataProperties={promotion_key(environment): value},
    )
    return value


def sagemaker_client(region: str) -> Any:
    """A boto3 SageMaker client for ``region`` (imported here: only a synth that asks the
    registry, and the pipeline's rollout step, need boto3)."""
    import boto3

    return boto3.client("sagemaker", region_name=region)


def _package_region(arn: str) -> str:
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sagemaker" or not parts[5].startswith("model-package/"):
        raise ValueError(
            f"--package-arn: {arn!r} is not allowed; expected a model package version "
            "arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>"
        )
    return parts[3]


def main(argv: Sequence[str] | None = None, *, client: Any = None) -> int:
    """``record-promotion --environment <name> --package-arn <arn>``: what the pipeline's
    rollout step runs once the rollout promoted the candidate."""
    parser = argparse.ArgumentParser(prog="python -m stacks.registry")
    commands = parser.add_subparsers(dest="command", required=True)
    record = commands.add_parser(
        "record-promotion", help="mark a version promoted in an environment"
    )
    record.add_argument("--environment", required=True)
    record.add_argument("--package-arn", required=True)
    arguments = parser.parse_args(argv)
    try:
        region = _package_region(arguments.package_arn)
    except ValueError as error:
        parser.error(str(error))
    value = record_promotion(
        client if client is not None else sagemaker_client(region),
        package_arn=arguments.package_arn,
        environment=arguments.environment,
    )
    print(
        f"Recorded {promotion_key(arguments.environment)}={value} on {arguments.package_arn}",
        file=sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
