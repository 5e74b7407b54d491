"""mypy follows aws-cdk-lib's modules only where the project imports them (pyproject.toml):
every module the project imports must be in that list, or mypy would take it as ``Any``."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_IMPORT = re.compile(
    r"^\s*(?:from (aws_cdk(?:\.\w+)?) import (\w+)|import (aws_cdk(?:\.\w+)?))", re.MULTILINE
)


def followed() -> set[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mypy"]
    return {
        module
        for override in config["overrides"]
        if override.get("follow_imports") == "normal"
        for module in override["module"]
    }


def imported() -> set[str]:
    modules = set()
    checked = config_files()
    for path in checked:
        for from_module, name, plain in _IMPORT.findall(path.read_text()):
            if plain:
                modules.add(plain)
            elif from_module == "aws_cdk" and name.islower():
                modules.add(f"aws_cdk.{name}")  # from aws_cdk import aws_s3
            else:
                modules.add(from_module)  # from aws_cdk import Duration, from aws_cdk.x import y
    return modules


def config_files() -> list[Path]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mypy"]
    paths: list[Path] = []
    for entry in config["files"]:
        target = REPO / entry
        paths.extend([target] if target.is_file() else sorted(target.rglob("*.py")))
    return paths


def test_every_aws_cdk_module_the_project_imports_is_followed() -> None:
    modules = imported()
    assert "aws_cdk.aws_s3" in modules  # the scan sees the imports
    assert modules - followed() == set(), "add them to the follow_imports = normal list"


def test_the_list_names_only_modules_the_project_imports() -> None:
    assert followed() - imported() == set(), "remove them from the list"
