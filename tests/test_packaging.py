"""The wheel installs on its own and a consumer app synthesizes from that install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cdk_testing import REPO

from sagemaker_constructs.rollout.contract import (
    SCALABLE_DIMENSION,
    TAG_CANARY,
    TAG_CANARY_SCALING,
    TAG_ENDPOINT,
    TAG_INSTANCES,
    States,
    parse_scaling,
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(dist), str(REPO)],
        check=True,
    )  # fmt: skip
    (built,) = dist.glob("sagemaker_constructs-*.whl")
    return built


@pytest.fixture(scope="module")
def consumer(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """GIVEN a fresh virtual environment with the wheel installed (--no-deps) that sees the
    current environment's site-packages for the dependencies, WHEN a consumer app runs."""
    root = tmp_path_factory.mktemp("consumer")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site_packages = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # Dependencies come from the current environment, appended after the fresh site-packages
    # (a plain path entry: the current environment's editable-install .pth is not processed).
    (site_packages / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", str(wheel)],
        check=True,
    )  # fmt: skip
    outdir = root / "cdk.out"
    result = subprocess.run(
        [str(python), str(REPO / "tests" / "packaging" / "consumer_app.py"), str(outdir)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    summary["venv"] = str(venv.resolve())
    return summary


def test_wheel_carries_the_package_its_types_and_the_lambda_code(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "sagemaker_constructs/__init__.py" in names
    assert "sagemaker_constructs/py.typed" in names
    assert "sagemaker_constructs/_lambda/canary_evaluator/handler.py" in names
    assert not any("__pycache__" in name for name in names)
    assert not any(name.startswith(("constructs/", "stacks/", "tests/")) for name in names)


def test_wheel_metadata_declares_the_runtime_dependencies(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (metadata_name,) = [n for n in archive.namelist() if n.endswith("/METADATA")]
        metadata = archive.read(metadata_name).decode()
    assert "Name: sagemaker-constructs" in metadata
    assert "Requires-Python: >=3.11" in metadata
    for requirement in ("aws-cdk-lib<3,>=2.275.0", "constructs<11,>=10.0.0", "cdk-nag<4,>=3.0.0"):
        assert f"Requires-Dist: {requirement}" in metadata


def test_consumer_imports_the_installed_wheel_not_the_checkout(consumer: dict[str, Any]) -> None:
    assert consumer["module"].startswith(consumer["venv"])
    assert not consumer["module"].startswith(str(REPO))


def test_lambda_code_is_found_inside_the_installed_package(consumer: dict[str, Any]) -> None:
    assert consumer["lambda_code_root"].startswith(consumer["venv"])
    assert consumer["lambda_code_root"].endswith("sagemaker_constructs/_lambda")


def test_consumer_app_synthesizes_with_the_compliance_checks(consumer: dict[str, Any]) -> None:
    assert consumer["templates"] == ["Consumer.template.json"]


def test_consumer_app_serves_a_model_from_the_registry(consumer: dict[str, Any]) -> None:
    """Version 1 of the consumer's group, by the ARN the group builds (partition resolved at
    deploy time)."""
    assert consumer["registry_model_container"] == {
        "ModelPackageName": {
            "Fn::Join": [
                "",
                [
                    "arn:",
                    {"Ref": "AWS::Partition"},
                    ":sagemaker:us-east-1:111111111111:model-package/consumer-models/1",
                ],
            ]
        }
    }


def test_consumer_app_creates_every_construct_from_the_wheel(consumer: dict[str, Any]) -> None:
    for resource_type in (
        "AWS::SageMaker::Model",
        "AWS::SageMaker::EndpointConfig",
        "AWS::SageMaker::Endpoint",
        "AWS::SageMaker::NotebookInstance",
        "AWS::SageMaker::NotebookInstanceLifecycleConfig",
        "AWS::SageMaker::Pipeline",
        "AWS::SageMaker::ModelPackageGroup",
        "AWS::SageMaker::InferenceComponent",
        "AWS::ApplicationAutoScaling::ScalableTarget",
        "AWS::StepFunctions::StateMachine",
        "AWS::Lambda::Function",
    ):
        assert resource_type in consumer["resource_types"]


def test_consumer_rollout_gives_the_autoscaled_canary_capacity_before_traffic(
    consumer: dict[str, Any],
) -> None:
    """GIVEN the consumer's endpoint whose baseline and candidate variants are autoscaled and a
    CanaryRollout on it (without ``instance_scaling``), THEN the template synthesized from the
    installed wheel holds a scalable target per variant, a state machine with the capacity
    phase, and the tag that gives a rollback the canary's template limits."""
    endpoint_name = {"Fn::GetAtt": [consumer["endpoint_logical_id"], "EndpointName"]}

    def target(variant: str, minimum: int, maximum: int) -> dict[str, Any]:
        resource_id = {"Fn::Join": ["", ["endpoint/", endpoint_name, f"/variant/{variant}"]]}
        return {
            "ServiceNamespace": "sagemaker",
            "ScalableDimension": SCALABLE_DIMENSION,
            "ResourceId": resource_id,
            "MinCapacity": minimum,
            "MaxCapacity": maximum,
        }

    assert consumer["variant_scalable_targets"] == {
        "baseline": target("baseline", 2, 4),
        "candidate": target("candidate", 1, 3),
    }
    states = set(consumer["rollout_states"])
    for state in (
        States.RAISE_CAPACITY,
        States.SET_WEIGHTS,
        States.RESTORE_AFTER_ROLLBACK,
        States.RESTORE_AFTER_PROMOTION,
    ):
        assert state in states
    tags = consumer["rollout_tags"]
    assert tags[TAG_ENDPOINT] == endpoint_name
    assert tags[TAG_CANARY] == "candidate"
    assert parse_scaling(tags[TAG_CANARY_SCALING]) == (1, 3, 1)  # (min, max, instances)
    assert TAG_INSTANCES not in tags  # instance scaling is not combined with autoscaling


def test_the_evaluator_asset_comes_from_the_installed_wheel(consumer: dict[str, Any]) -> None:
    # exactly the checkout's Lambda sources (the evaluator, guard, smoke test, hook and input
    # rules), nothing else
    sources = REPO / "lambda"
    expected = sorted(
        str(path.relative_to(sources)) for path in (sources / "canary_evaluator").glob("*.py")
    )
    assert "canary_evaluator/smoke.py" in expected
    assert consumer["evaluator_asset_files"] == expected


def test_the_command_line_runs_without_nodejs(consumer: dict[str, Any], tmp_path: Path) -> None:
    """GIVEN the installed wheel and a PATH on which there is no ``node`` at all, WHEN
    ``sagemaker-rollout --help`` runs, THEN it prints its usage: it needs boto3, not CDK."""
    script = Path(consumer["venv"]) / "bin" / "sagemaker-rollout"
    no_node = tmp_path / "bin"  # the only directory on PATH, and empty
    no_node.mkdir()
    result = subprocess.run(
        [str(script), "--help"],
        env={"PATH": str(no_node), "HOME": str(tmp_path), "PYTHONPATH": ""},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: sagemaker-rollout")
    assert result.stderr == ""  # no traceback, no Node.js end-of-life banner
    # ... and as a module of the installed package
    as_module = subprocess.run(
        [str(Path(consumer["venv"]) / "bin" / "python"), "-m", "sagemaker_constructs.rollout.cli",
         "--help"],
        env={"PATH": str(no_node), "HOME": str(tmp_path), "PYTHONPATH": ""},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert as_module.returncode == 0, as_module.stderr
    assert as_module.stdout.startswith("usage: sagemaker-rollout")
    assert as_module.stderr == ""
