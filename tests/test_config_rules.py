"""Every rule of the library that a value in cdk.json reaches is a configuration error.

The app's configuration feeds the library's constructs. Whatever a construct would reject is
reported as ``Configuration error: <key path>: ...`` (the loader checks with the library's own
rules, and a rule only a construct can check is reported at the key that fed it), never as a
traceback from the middle of the app.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest
from cdk_testing import REPO, cdk_json_context

from stacks.app import build_app
from stacks.config import CONTEXT_KEY, ConfigError

DEV = f"{CONTEXT_KEY}.environments.dev"
LONG_IMAGE = "111111111111.dkr.ecr.us-east-1.amazonaws.com/" + "r" * 250 + ":1"


def _dev(raw: dict[str, Any]) -> dict[str, Any]:
    return raw["environments"]["dev"]  # type: ignore[no-any-return]


PACKAGE = "arn:aws:sagemaker:us-east-1:111111111111:model-package/sagemaker-constructs-dev-models/3"


def _package(arn: str, **extra: str) -> dict[str, str]:
    """A candidate served from the registry."""
    return {
        "model_package": arn,
        "artifacts_bucket": "sagemaker-constructs-models-111111111111",
        "artifacts_key": "registry/",
        **extra,
    }


# (what is wrong, how cdk.json is changed, the key path reported, the rule's words)
CASES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    # checked by the loader, with the library's rules
    ("unknown region", lambda r: _dev(r).update(region="us-east-9"), "region", "AWS region"),
    (
        "hosting instance type",
        lambda r: _dev(r)["endpoint"].update(instance_type="ml.t3.medium"),
        "endpoint.instance_type",
        "hosting instance type",
    ),
    (
        "notebook instance type",
        lambda r: _dev(r).setdefault("notebook", {}).update(instance_type="ml.m5.huge"),
        "notebook.instance_type",
        "notebook instance type",
    ),
    (
        "reserved tag prefix",
        lambda r: _dev(r).update(tags={"aws:cost": "1"}),
        "tags key",
        "reserved",
    ),
    (
        "tag value",
        lambda r: _dev(r).update(tags={"Owner": "x" * 257}),
        "tags['Owner']",
        "at most 256",
    ),
    (
        "too many tags",
        lambda r: _dev(r).update(tags={f"k{i}": "v" for i in range(49)}),
        "tags",
        "between 0 and 48 items",
    ),
    (
        "bucket name",
        lambda r: _dev(r)["model"].update(model_data_bucket="my..bucket"),
        "model.model_data_bucket",
        "S3 bucket name",
    ),
    (
        "prefix-list id",
        lambda r: _dev(r)["vpc"].update(dynamodb_prefix_list_id="pl-xyz"),
        "vpc.dynamodb_prefix_list_id",
        "managed prefix-list id",
    ),
    # checked by the constructs, reported at the key that fed them
    (
        "environment variable name",
        lambda r: _dev(r)["model"].update(environment={"bad-key": "x"}),
        "model.environment['bad-key']",
        r"keys must match \[a-zA-Z_\]",
    ),
    (
        "candidate's environment variable name",
        lambda r: _dev(r)["candidate"].update(environment={"1ST": "x"}),
        "candidate.environment['1ST']",
        "keys must match",
    ),
    (
        "too many environment variables",
        lambda r: _dev(r)["model"].update(environment={f"V{i}": "x" for i in range(101)}),
        "model.environment",
        "at most 100 environment variables",
    ),
    (
        "environment value",
        lambda r: _dev(r)["model"].update(environment={"V": "x" * 1025}),
        "model.environment['V']",
        "at most 1024 characters",
    ),
    (
        "image URI length",
        lambda r: _dev(r)["model"].update(image=LONG_IMAGE),
        "model.image",
        "1-255 characters",
    ),
    (
        "model data key length",
        lambda r: _dev(r)["model"].update(model_data_key="k" * 1000 + ".tar.gz"),
        "model.model_data_key",
        "1-1000 characters",
    ),
    (
        "model package ARN",
        lambda r: _dev(r).update(candidate=_package("arn:aws:sagemaker:us-east-1:1:model/x")),
        "candidate.model_package",
        "must be a model package ARN",
    ),
    (
        "model package in another region",
        lambda r: _dev(r).update(
            candidate=_package(
                "arn:aws:sagemaker:eu-west-1:111111111111:model-package/sagemaker-constructs"
                "-dev-models/3"
            )
        ),
        "candidate.model_package",
        "is in eu-west-1, the model in us-east-1",
    ),
    (
        "model package artifacts key",
        lambda r: _dev(r).update(candidate=_package(PACKAGE, artifacts_key="k" * 1001)),
        "candidate.artifacts_key",
        "1-1000 characters",
    ),
    (
        "instance count",
        lambda r: _dev(r)["endpoint"].update(initial_instance_count=0),
        "endpoint.initial_instance_count",
        "at least 1",
    ),
    (
        "notebook volume",
        lambda r: _dev(r).setdefault("notebook", {}).update(volume_size_in_gb=2),
        "notebook.volume_size_in_gb",
        "between 5 and 16384 GB",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "key", "rule"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_rule_reached_from_cdk_json_names_the_key(
    mutate: Callable[[dict[str, Any]], None], key: str, rule: str
) -> None:
    context = cdk_json_context()
    _dev(context[CONTEXT_KEY]).setdefault("endpoint", {})
    mutate(context[CONTEXT_KEY])
    context["environments"] = "dev"
    with pytest.raises(ConfigError) as raised:
        build_app(cdk.App(context=context))
    first = str(raised.value).splitlines()[0]
    assert first.startswith(f"{DEV}.{key}"), first
    assert re.search(rule, first), first
    assert "Fix: " in first


def test_the_app_prints_a_construct_rule_as_a_configuration_error() -> None:
    context = cdk_json_context()
    _dev(context[CONTEXT_KEY])["model"]["environment"] = {"bad-key": "x"}
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context)}

    result = subprocess.run(
        [sys.executable, "app.py"], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        f"Configuration error: {DEV}.model.environment['bad-key']: 'bad-key' is not allowed: "
        "keys must match [a-zA-Z_][a-zA-Z0-9_]*" in result.stderr
    )
