"""The Python lock files agree with pyproject.toml, pin everything with hashes, and are what runs.

Offline and fast: the lock's header records a digest of pyproject's dependency lists, and
every requirement of pyproject must be met by a pinned line. After changing a dependency in
pyproject.toml, run ``make lock`` and commit requirements/.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tools.lock import (
    CHECKOV_LOCK,
    DEV_LOCK,
    PYPROJECT,
    ROLLOUT_LOCK,
    dependency_digest,
    hashed_pins,
    pins,
    project_requirements,
    recorded_digest,
)

LOCK_TOOLS = DEV_LOCK.parent / "lock-tools.lock"
#: The platform the locks are resolved for (CodeBuild standard:7.0, the dev machines, CI).
TARGET = {
    "python_version": "3.11",
    "python_full_version": "3.11.7",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


def _applies(requirement: Requirement) -> bool:
    return requirement.marker is None or requirement.marker.evaluate(TARGET)


@pytest.mark.parametrize("lock", [DEV_LOCK, ROLLOUT_LOCK], ids=lambda p: p.name)
def test_lock_records_the_current_pyproject_dependencies(lock: Path) -> None:
    assert recorded_digest(lock) == dependency_digest(PYPROJECT), (
        f"{lock.name} was generated from other dependency lists than pyproject.toml's: "
        "run `make lock` and commit requirements/."
    )


def test_the_digest_covers_dependencies_only(tmp_path: Path) -> None:
    text = PYPROJECT.read_text()
    changed_tool = tmp_path / "tool.toml"
    changed_tool.write_text(text.replace("line-length = 100", "line-length = 99"))
    assert dependency_digest(changed_tool) == dependency_digest(PYPROJECT)
    changed_dependency = tmp_path / "dependency.toml"
    changed_dependency.write_text(text.replace('"boto3>=1.34"', '"boto3>=1.35"'))
    assert dependency_digest(changed_dependency) != dependency_digest(PYPROJECT)


def test_every_pyproject_requirement_is_met_by_a_pin_of_the_dev_lock() -> None:
    pinned = pins(DEV_LOCK)
    problems = []
    for requirement in project_requirements(PYPROJECT):
        if not _applies(requirement):
            continue
        version = pinned.get(canonicalize_name(requirement.name))
        if version is None:
            problems.append(f"{requirement}: not in {DEV_LOCK.name}")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement}: {DEV_LOCK.name} pins {version}")
    assert problems == [], "run `make lock`: " + "; ".join(problems)


def test_the_rollout_lock_pins_what_the_tests_ran() -> None:
    """The pipeline's CanaryRollout step installs the dev lock's versions, with its hashes."""
    dev, rollout = hashed_pins(DEV_LOCK), hashed_pins(ROLLOUT_LOCK)
    dev_versions, rollout_versions = pins(DEV_LOCK), pins(ROLLOUT_LOCK)
    assert {name: rollout_versions[name] for name in rollout} == {
        name: dev_versions.get(name) for name in rollout
    }
    assert all(rollout[name] <= dev[name] for name in rollout)
    # sagemaker-rollout's runtime requirement and the build backend are in it.
    needed = [r for r in project_requirements(PYPROJECT) if r.name in ("boto3", "hatchling")]
    assert {r.name for r in needed} == {"boto3", "hatchling"}
    for requirement in needed:
        assert requirement.specifier.contains(rollout_versions[canonicalize_name(requirement.name)])
    assert "aws-cdk-lib" not in rollout_versions  # the command imports nothing from CDK


@pytest.mark.parametrize(
    "lock", [DEV_LOCK, ROLLOUT_LOCK, CHECKOV_LOCK, LOCK_TOOLS], ids=lambda p: p.name
)
def test_every_pin_carries_hashes(lock: Path) -> None:
    hashed = hashed_pins(lock)
    assert hashed, f"{lock.name}: no pins"
    assert set(hashed) == set(pins(lock))
    assert [name for name, hashes in hashed.items() if not hashes] == []
    assert all(h.startswith("sha256:") for hashes in hashed.values() for h in hashes)


def test_the_environment_running_the_tests_is_the_dev_lock() -> None:
    """`make setup` installs exactly the lock: every pin at its version."""
    wrong = {}
    for name, version in pins(DEV_LOCK).items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "missing"
        if installed != str(version):
            wrong[name] = (str(version), installed)
    assert wrong == {}, "(locked, installed); run `make setup` after `make lock`"
