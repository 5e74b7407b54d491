"""The npm tools the promotion pipeline installs, pinned in one place: package.json.

``devDependencies`` holds the CDK CLI (``aws-cdk``) that ``make`` installs with ``npm ci``
and the asset publisher (``cdk-assets``) that CDK Pipelines installs in its asset step. The
pipeline stack reads both here at synth, so the pipeline runs the versions package-lock.json
locks, and a version is changed in package.json only (``npm install --save-exact ...``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PACKAGE_JSON", "NpmToolchain", "npm_toolchain"]

PACKAGE_JSON = Path(__file__).resolve().parents[1] / "package.json"

#: An exact version, as `npm install --save-exact` writes it: no range, tag or URL.
_EXACT = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$")


@dataclass(frozen=True)
class NpmToolchain:
    """Exact versions of the npm tools the pipeline's generated steps install."""

    cdk_cli: str
    """``aws-cdk``: the CDK CLI (CDK Pipelines' ``cli_version``)."""
    cdk_assets: str
    """``cdk-assets``: the asset publisher (CDK Pipelines' ``cdk_assets_cli_version``)."""


def npm_toolchain(package_json: Path = PACKAGE_JSON) -> NpmToolchain:
    """Read the pinned versions from ``package_json``; a range or a missing pin is an error."""
    dev_dependencies = json.loads(package_json.read_text(encoding="utf-8")).get(
        "devDependencies", {}
    )
    problems = []
    versions = {}
    for package in ("aws-cdk", "cdk-assets"):
        version = dev_dependencies.get(package)
        if not isinstance(version, str) or not _EXACT.match(version):
            problems.append(
                f"{package_json.name}: devDependencies.{package}={version!r}: must be an "
                "exact version such as '1.2.3'. Fix: npm install --save-dev --save-exact "
                f"{package}@<version>"
            )
        else:
            versions[package] = version
    if problems:
        raise ValueError("\n".join(problems))
    return NpmToolchain(cdk_cli=versions["aws-cdk"], cdk_assets=versions["cdk-assets"])
