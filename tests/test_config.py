"""Configuration: parsed from cdk.json context into frozen dataclasses; errors name the key."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from cdk_testing import REPO, cdk_json_context

from stacks.config import (
    CONTEXT_KEY,
    ConfigError,
    ExistingVpcConfig,
    ModelConfig,
    NewVpcConfig,
    PackageModelConfig,
    load_config,
    parse_config,
)


def raw_config() -> dict[str, Any]:
    return cdk_json_context()[CONTEXT_KEY]  # type: ignore[no-any-return]


def test_shipped_configuration_has_three_environments_with_the_seed_instance_types() -> None:
    config = load_config(cdk_json_context())

    assert [env.name for env in config.environments] == ["dev", "test", "prod"]
    assert {env.name: env.notebook.instance_type for env in config.environments} == {
        "dev": "ml.t3.medium",
        "test": "ml.m5.xlarge",
        "prod": "ml.m5.4xlarge",
    }
    # Hosting follows the same map, except that SageMaker hosting has no ml.t3 types.
    assert {env.name: env.endpoint.instance_type for env in config.environments} == {
        "dev": "ml.t2.medium",
        "test": "ml.m5.xlarge",
        "prod": "ml.m5.4xlarge",
    }


def test_a_candidate_model_is_optional() -> None:
    context = cdk_json_context()
    config = load_config(context)
    # the shipped cdk.json canaries a candidate in every account
    for env in config.environments:
        assert isinstance(env.candidate, ModelConfig), env.name
        assert env.candidate.model_data_key == "classifier/v2/model.tar.gz"
        assert env.rolls_out
    del context[CONTEXT_KEY]["environments"]["test"]["candidate"]
    test = load_config(context).environment("test")
    assert (test.candidate, test.rolls_out) == (None, False)


def test_rolls_out_is_not_a_key_of_cdk_json() -> None:
    context = cdk_json_context()
    context[CONTEXT_KEY]["environments"]["test"]["rolls_out"] = True
    with pytest.raises(ConfigError, match=r"environments\.test\.rolls_out: unknown key"):
        load_config(context)


def test_defaults_differ_by_environment_as_the_seed_says() -> None:
    config = load_config(cdk_json_context())
    dev, test, prod = config.environments

    assert dev.notebook.enabled
    assert test.notebook.enabled
    assert not prod.notebook.enabled
    # network isolation everywhere: a dev model cannot call out either
    assert all(env.network_isolation for env in (dev, test, prod))
    assert not dev.retain_data
    assert prod.retain_data
    assert dev.vpc.availability_zones == ()
    assert isinstance(dev.vpc, NewVpcConfig)
    assert dev.vpc.cidr == "10.10.0.0/16"


def test_configuration_is_frozen() -> None:
    env = load_config(cdk_json_context()).environments[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        env.region = "eu-west-1"  # type: ignore[misc]
    with pytest.raises(TypeError):
        env.tags["Owner"] = "me"  # type: ignore[index]


def test_explicit_values_override_defaults() -> None:
    raw = raw_config()
    raw["environments"]["prod"]["notebook"] = {"enabled": True, "instance_type": "ml.t3.large"}
    raw["environments"]["prod"]["tags"] = {"CostCenter": "ml-42"}

    prod = parse_config(raw).environment("prod")

    assert prod.notebook.enabled
    assert prod.notebook.instance_type == "ml.t3.large"
    assert dict(prod.tags) == {"CostCenter": "ml-42"}


def test_an_existing_vpc_is_imported_by_ids() -> None:
    raw = raw_config()
    raw["environments"]["test"]["vpc"] = {
        "vpc_id": "vpc-0123456789abcdef0",
        "cidr": "10.50.0.0/16",
        "availability_zones": ["us-east-1a", "us-east-1b"],
        "subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    }

    vpc = parse_config(raw).environment("test").vpc

    assert isinstance(vpc, ExistingVpcConfig)
    assert vpc.subnet_ids == ("subnet-0123456789abcdef0", "subnet-0123456789abcdef1")
    assert not vpc.create_endpoints
    # the VPC's owner provides the endpoints: the prefix lists are needed only for gateways
    assert vpc.s3_prefix_list_id is None
    assert vpc.dynamodb_prefix_list_id is None


def test_the_regions_prefix_lists_are_read_from_the_vpc() -> None:
    dev = load_config(cdk_json_context()).environment("dev")
    assert dev.vpc.s3_prefix_list_id == "pl-63a5400a"
    assert dev.vpc.dynamodb_prefix_list_id == "pl-02cd2c6b"


@pytest.mark.parametrize(
    ("selection", "expected"),
    [("dev", ["dev"]), ("dev,prod", ["dev", "prod"]), (["test"], ["test"])],
)
def test_environments_can_be_selected_by_context(selection: Any, expected: list[str]) -> None:
    context = {**cdk_json_context(), "environments": selection}
    assert [env.name for env in load_config(context).environments] == expected


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda raw: raw["environments"]["dev"].update(instance_type="ml.m5.large"),
            r"sagemaker-constructs\.environments\.dev\.instance_type: unknown key; allowed keys "
            r"are: account, candidate, endpoint, log_retention_days, model, ",
        ),
        (
            lambda raw: raw["environments"]["dev"]["vpc"].update(cdir="10.0.0.0/16"),
            r"environments\.dev\.vpc\.cdir: unknown key; allowed keys are: availability_zones, "
            r"cidr, dynamodb_prefix_list_id, flow_log_retention_days, s3_prefix_list_id",
        ),
        (
            lambda raw: raw["environments"]["test"].pop("account"),
            r"environments\.test\.account: missing; expected string",
        ),
        (
            lambda raw: raw["environments"]["dev"].update(retain_data="yes"),
            r"environments\.dev\.retain_data: expected true or false, got 'yes'",
        ),
        (
            lambda raw: raw["environments"]["dev"].update(notebook={"enabled": 1}),
            r"environments\.dev\.notebook\.enabled: expected true or false, got 1",
        ),
        (
            lambda raw: raw["environments"]["dev"].update(account="12345"),
            r"environments\.dev\.account: '12345' is not allowed; expected 12 digits",
        ),
        (
            lambda raw: raw["environments"]["dev"].update(region="mars-1"),
            r"environments\.dev\.region: 'mars-1' is not allowed: must be an AWS region",
        ),
        (
            lambda raw: raw["environments"]["prod"].update(endpoint={"instance_type": "m5.large"}),
            r"environments\.prod\.endpoint\.instance_type: 'm5\.large' is not allowed: must be "
            r"a SageMaker hosting instance type",
        ),
        (
            lambda raw: raw["environments"]["dev"].update(
                endpoint={"instance_type": "ml.t3.medium"}
            ),
            r"environments\.dev\.endpoint\.instance_type: 'ml\.t3\.medium' is not allowed: "
            r"must be a SageMaker hosting instance type .*did you mean ml\.t2\.medium",
        ),
        (
            lambda raw: raw["environments"]["dev"].update(
                notebook={"enabled": True, "instance_type": "ml.m5.nope"}
            ),
            r"environments\.dev\.notebook\.instance_type: 'ml\.m5\.nope' is not allowed: "
            r"must be a SageMaker notebook instance type",
        ),
        (
            lambda raw: raw["environments"]["test"].pop("model"),
            r"environments\.test\.model: missing; expected object with keys image, ",
        ),
        (
            lambda raw: raw["environments"]["dev"]["model"].update(image="docker.io/library/x"),
            r"environments\.dev\.model\.image: 'docker\.io/library/x' is not allowed; expected "
            r"an Amazon ECR image URI",
        ),
        (
            lambda raw: raw["environments"]["dev"]["candidate"].update(model_data_bucket="Bad_B"),
            r"environments\.dev\.candidate\.model_data_bucket: 'Bad_B' is not allowed: must be "
            r"an S3 bucket name",
        ),
        (
            lambda raw: raw["environments"]["dev"].update(
                candidate=raw["environments"]["dev"]["model"]
            ),
            r"environments\.dev\.candidate: 'the same model as model' is not allowed; expected a "
            r"different model",
        ),
        (
            lambda raw: raw["environments"]["dev"]["model"].update(model_data_key="/model.zip"),
            r"environments\.dev\.model\.model_data_key: '/model\.zip' is not allowed; expected "
            r"the key of a \.tar\.gz archive",
        ),
        (
            lambda raw: raw["environments"]["dev"]["vpc"].update(cidr="10.0.0.0/8"),
            r"environments\.dev\.vpc\.cidr: '10\.0\.0\.0/8' is not allowed; expected an IPv4 "
            r"CIDR block with a prefix between /16 and /24",
        ),
        (
            lambda raw: raw["environments"]["dev"]["vpc"].update(cidr="not-a-cidr"),
            r"environments\.dev\.vpc\.cidr: 'not-a-cidr' is not allowed",
        ),
        (
            lambda raw: raw["environments"]["dev"]["vpc"].update(flow_log_retention_days=42),
            r"environments\.dev\.vpc\.flow_log_retention_days: 42 is not allowed; expected one "
            r"of 1, 3, 5",
        ),
        (
            lambda raw: raw["environments"]["dev"]["vpc"].update(
                availability_zones=["eu-west-1a", "eu-west-1b"]
            ),
            r"environments\.dev\.vpc\.availability_zones\[0\]: 'eu-west-1a' is not allowed; "
            r"expected a zone of us-east-1",
        ),
        (
            lambda raw: raw["environments"]["dev"]["vpc"].pop("s3_prefix_list_id"),
            r"environments\.dev\.vpc\.s3_prefix_list_id: missing; expected the id \(pl-\.\.\.\) "
            r"of the managed prefix list com\.amazonaws\.us-east-1\.s3, .* aws ec2 "
            r"describe-managed-prefix-lists --region us-east-1 --filters "
            r"Name=prefix-list-name,Values=com\.amazonaws\.us-east-1\.s3",
        ),
        (
            lambda raw: raw["environments"]["prod"].update(vpc={"cidr": "10.30.0.0/16"}),
            r"environments\.prod\.vpc\.s3_prefix_list_id: missing",
        ),
        (
            lambda raw: raw["environments"]["dev"]["vpc"].pop("dynamodb_prefix_list_id"),
            r"environments\.dev\.vpc\.dynamodb_prefix_list_id: missing; expected the id "
            r"\(pl-\.\.\.\) of the managed prefix list com\.amazonaws\.us-east-1\.dynamodb",
        ),
        (
            lambda raw: raw["environments"]["dev"]["vpc"].update(s3_prefix_list_id="s3"),
            r"environments\.dev\.vpc\.s3_prefix_list_id: 's3' is not allowed: must be a managed "
            r"prefix-list id",
        ),
        (
            lambda raw: raw["environments"]["dev"]["vpc"].update(dynamodb_prefix_list_id=None),
            r"environments\.dev\.vpc\.dynamodb_prefix_list_id: missing",
        ),
        (
            lambda raw: raw["environments"]["dev"]["vpc"].update(s3_prefix_list_id=63),
            r"environments\.dev\.vpc\.s3_prefix_list_id: expected a non-empty string, got 63",
        ),
        (
            lambda raw: raw["environments"]["test"].update(
                vpc={
                    "vpc_id": "vpc-0123456789abcdef0",
                    "cidr": "10.50.0.0/16",
                    "availability_zones": ["us-east-1a", "us-east-1b"],
                    "subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
                    "create_endpoints": True,
                    "s3_prefix_list_id": "pl-63a5400a",
                }
            ),
            r"environments\.test\.vpc\.dynamodb_prefix_list_id: missing",
        ),
        (
            lambda raw: raw["environments"]["dev"].update(tags={"Owner": 7}),
            r"environments\.dev\.tags: expected an object of string values",
        ),
        (
            lambda raw: raw["environments"].update(staging={}),
            r"sagemaker-constructs\.environments: 'staging' is not allowed; expected environment "
            r"names among dev, test, prod",
        ),
        (
            lambda raw: raw.update(projct="x"),
            r"sagemaker-constructs\.projct: unknown key; allowed keys are: environments, "
            r"pipeline, project",
        ),
        (
            lambda raw: raw.update(environments={}),
            r"sagemaker-constructs\.environments: missing or empty",
        ),
        (
            lambda raw: raw["environments"]["test"].update(
                vpc={
                    "vpc_id": "vpc-0123456789abcdef0",
                    "cidr": "10.50.0.0/16",
                    "availability_zones": ["us-east-1a", "us-east-1b"],
                    "subnet_ids": ["subnet-0123456789abcdef0"],
                }
            ),
            r"environments\.test\.vpc\.subnet_ids: \['subnet-0123456789abcdef0'\] is not "
            r"allowed; expected one subnet id per availability zone",
        ),
    ],
)
def test_bad_configuration_fails_with_the_key_path(mutate: Any, message: str) -> None:
    raw = raw_config()
    mutate(raw)
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


def test_the_pipeline_is_configured_and_can_be_left_out() -> None:
    config = load_config(cdk_json_context())
    assert config.pipeline is not None
    assert config.pipeline.repository == "example-org/sagemaker-constructs"
    assert config.pipeline.branch == "main"

    only_dev = load_config({**cdk_json_context(), "environments": "dev"})
    assert only_dev.pipeline is None
    assert [env.name for env in only_dev.all_environments] == ["dev", "test", "prod"]

    with_pipeline = load_config({**cdk_json_context(), "environments": "dev,pipeline"})
    assert with_pipeline.pipeline is not None
    assert [env.name for env in with_pipeline.environments] == ["dev"]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("account", "4444", r"pipeline\.account: '4444' is not allowed; expected 12 digits"),
        (
            "connection_arn",
            "arn:aws:s3:::bucket",
            r"pipeline\.connection_arn: 'arn:aws:s3:::bucket' is not allowed; expected a "
            r"CodeConnections ARN",
        ),
        ("repository", "no-owner", r"pipeline\.repository: 'no-owner' is not allowed"),
        ("branch", 3, r"pipeline\.branch: expected a non-empty string, got 3"),
        ("trigger", "push", r"pipeline\.trigger: unknown key; allowed keys are: account, branch"),
    ],
)
def test_bad_pipeline_configuration_names_the_key(key: str, value: Any, message: str) -> None:
    raw = raw_config()
    raw["pipeline"][key] = value
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


def test_missing_configuration_names_the_context_key() -> None:
    with pytest.raises(ConfigError, match=r"sagemaker-constructs: missing or not an object"):
        load_config({})


def test_selecting_an_unknown_environment_fails() -> None:
    context = {**cdk_json_context(), "environments": "dev,qa"}
    with pytest.raises(ConfigError, match=r"context 'environments': 'dev,qa' is not allowed"):
        load_config(context)


def test_the_app_exits_non_zero_with_the_message_on_bad_configuration() -> None:
    context = cdk_json_context()
    context[CONTEXT_KEY]["environments"]["dev"]["region"] = 42
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context)}

    result = subprocess.run(
        [sys.executable, "app.py"], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )

    assert result.returncode == 1
    assert (
        "Configuration error: sagemaker-constructs.environments.dev.region: expected a "
        "non-empty string, got 42" in result.stderr
    )


# --------------------------------------------------------------------------- the registry

REGISTRY_GROUP = "sagemaker-constructs-dev-models"


def _package(version: int = 3, group: str = REGISTRY_GROUP, **extra: Any) -> dict[str, Any]:
    return {
        "model_package": (
            f"arn:aws:sagemaker:us-east-1:111111111111:model-package/{group}/{version}"
        ),
        "artifacts_bucket": "sagemaker-constructs-models-111111111111",
        "artifacts_key": "registry/",
        **extra,
    }


def test_a_model_or_candidate_may_be_a_model_package() -> None:
    raw = raw_config()
    raw["environments"]["prod"]["model"] = _package(1, environment={"LOG_LEVEL": "info"})
    prod = parse_config(raw).environment("prod")
    assert isinstance(prod.model, PackageModelConfig)
    assert prod.model.model_package.endswith(f"/{REGISTRY_GROUP}/1")
    assert prod.model.bucket == "sagemaker-constructs-models-111111111111"
    assert prod.model.artifacts_kms_key_arn is None
    assert dict(prod.model.environment) == {"LOG_LEVEL": "info"}


def test_the_registry_is_dev_and_its_group_the_training_pipelines() -> None:
    config = load_config(cdk_json_context())
    assert config.registry is not None
    assert config.registry.environment == "dev"
    assert config.registry_group_name == REGISTRY_GROUP
    assert config.registry_group_arn == (
        f"arn:aws:sagemaker:us-east-1:111111111111:model-package-group/{REGISTRY_GROUP}"
    )
    assert config.resolve_candidate is None  # offline unless asked


def test_candidate_package_is_the_candidate_of_every_environment_with_one() -> None:
    arn = _package(7)["model_package"]
    context = cdk_json_context()
    del context[CONTEXT_KEY]["environments"]["prod"]["candidate"]
    config = load_config({**context, "candidate_package": arn})
    dev, test, prod = config.all_environments
    for env in (dev, test):
        assert isinstance(env.candidate, PackageModelConfig)
        assert env.candidate.model_package == arn
        assert env.candidate.artifacts_key == "registry/"  # the registry's artifacts
    assert prod.candidate is None  # no rollout there
    assert config.environments == config.all_environments


def test_candidate_package_keeps_a_configured_package_candidates_artifacts() -> None:
    context = cdk_json_context()
    key = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    context[CONTEXT_KEY]["environments"]["dev"]["candidate"] = _package(
        1, artifacts_key="registry/churn/", artifacts_kms_key_arn=key
    )
    arn = _package(2)["model_package"]
    dev = load_config({**context, "candidate_package": arn}).environment("dev")
    assert isinstance(dev.candidate, PackageModelConfig)
    assert (dev.candidate.model_package, dev.candidate.artifacts_key) == (arn, "registry/churn/")
    assert dev.candidate.artifacts_kms_key_arn == key


def test_resolve_candidate_is_recorded_for_the_app_to_ask() -> None:
    config = load_config({**cdk_json_context(), "resolve_candidate": "latest-approved"})
    assert config.resolve_candidate == "latest-approved"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda raw: raw["environments"]["dev"]["candidate"].update(
                model_package=_package()["model_package"]
            ),
            r"environments\.dev\.candidate: 'image' and 'model_package' are not allowed "
            r"together; expected either image, model_data_bucket and model_data_key, or "
            r"model_package, artifacts_bucket and artifacts_key",
        ),
        (
            lambda raw: raw["environments"]["dev"].update(
                candidate={"model_package": _package()["model_package"]}
            ),
            r"environments\.dev\.candidate\.artifacts_bucket: missing; expected string",
        ),
        (
            lambda raw: raw["environments"]["dev"].update(candidate=_package(artifacts_key="/m/")),
            r"environments\.dev\.candidate\.artifacts_key: '/m/' is not allowed; expected an "
            r"object key or a prefix ending with '/', without a leading slash",
        ),
        (
            lambda raw: raw["environments"]["dev"].update(
                candidate=_package(artifacts_kms_key_arn="alias/models")
            ),
            r"environments\.dev\.candidate\.artifacts_kms_key_arn: 'alias/models' is not "
            r"allowed; expected a KMS key ARN",
        ),
        (
            lambda raw: raw["environments"]["prod"].update(
                model=_package(artifacts_bucket="Bad_Bucket")
            ),
            r"environments\.prod\.model\.artifacts_bucket: 'Bad_Bucket' is not allowed: must be "
            r"an S3 bucket name",
        ),
        (
            lambda raw: raw["environments"]["dev"].update(model=_package(), candidate=_package()),
            r"environments\.dev\.candidate: 'the same model as model' is not allowed",
        ),
        (
            lambda raw: raw["registry"].update(environment="staging"),
            r"sagemaker-constructs\.registry\.environment: 'staging' is not allowed; expected one "
            r"of the configured environments \(dev, test, prod\)",
        ),
        (
            lambda raw: raw["registry"].update(model_package_group_name="models_v2"),
            r"sagemaker-constructs\.registry\.model_package_group_name: 'models_v2' is not "
            r"allowed: must match \[a-zA-Z0-9\]\(-\*\[a-zA-Z0-9\]\)\*",
        ),
        (
            lambda raw: raw["registry"].update(artifacts_bucket="a"),
            r"sagemaker-constructs\.registry\.artifacts_bucket: 'a' is not allowed: must be an "
            r"S3 bucket name",
        ),
        (
            lambda raw: raw["registry"].update(artifacts_key="registry"),
            r"sagemaker-constructs\.registry\.artifacts_key: 'registry' is not allowed; expected "
            r"the prefix every registered model's artifacts are under, ending with '/'",
        ),
        (
            lambda raw: raw["registry"].update(artifacts_kms_key_arn="1234"),
            r"sagemaker-constructs\.registry\.artifacts_kms_key_arn: '1234' is not allowed",
        ),
        (
            lambda raw: raw["registry"].pop("artifacts_bucket"),
            r"sagemaker-constructs\.registry\.artifacts_bucket: missing; expected string",
        ),
        (
            lambda raw: raw["registry"].update(group="x"),
            r"sagemaker-constructs\.registry\.group: unknown key; allowed keys are: "
            r"artifacts_bucket, artifacts_key, artifacts_kms_key_arn, environment, "
            r"model_package_group_name",
        ),
    ],
)
def test_fails_when_a_package_or_the_registry_breaks_a_rule(mutate: Any, message: str) -> None:
    raw = raw_config()
    mutate(raw)
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (
            {"candidate_package": _package(3, group="other-models")["model_package"]},
            r"^context 'candidate_package': 'arn:aws:sagemaker:us-east-1:111111111111:"
            r"model-package/other-models/3' is not allowed; expected a version of the "
            r"registry's group sagemaker-constructs-dev-models in account 111111111111, region "
            r"us-east-1",
        ),
        (
            {
                "candidate_package": "arn:aws:sagemaker:us-east-1:999999999999:model-package/"
                f"{REGISTRY_GROUP}/3"
            },
            r"^context 'candidate_package': .* expected a version of the registry's group",
        ),
        (
            {"candidate_package": f"{REGISTRY_GROUP}/3"},
            r"^context 'candidate_package': 'sagemaker-constructs-dev-models/3' is not allowed; "
            r"expected a version of the registry's group, arn:aws:sagemaker:<region>:<account>:"
            r"model-package/sagemaker-constructs-dev-models/<version>",
        ),
        (
            {
                "candidate_package": "arn:aws:sagemaker:us-east-1:111111111111:model-package/"
                "unversioned"
            },
            r"^context 'candidate_package': .* expected a version of the registry's group,",
        ),
        (
            {"candidate_package": 7},
            r"^context 'candidate_package': 7 is not allowed; expected a model package ARN",
        ),
        (
            {"candidate_package": _package()["model_package"], "resolve_candidate": "latest"},
            r"^context 'candidate_package' and 'resolve_candidate' are not allowed together",
        ),
        (
            {"resolve_candidate": "newest"},
            r"^context 'resolve_candidate': 'newest' is not allowed; expected 'latest-approved'",
        ),
    ],
)
def test_fails_when_the_candidate_context_breaks_a_rule(
    context: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config({**cdk_json_context(), **context})


def test_fails_when_a_candidate_is_chosen_without_a_registry() -> None:
    context = cdk_json_context()
    del context[CONTEXT_KEY]["registry"]
    with pytest.raises(
        ConfigError,
        match=r"^context 'candidate_package': .* is not allowed without a model registry; "
        r"expected sagemaker-constructs\.registry in cdk\.json",
    ):
        load_config({**context, "candidate_package": _package()["model_package"]})
    with pytest.raises(
        ConfigError,
        match=r"^context 'resolve_candidate': 'latest-approved' is not allowed; expected a "
        r"model registry to resolve from",
    ):
        load_config({**context, "resolve_candidate": "latest-approved"})


def test_fails_when_no_environment_has_a_candidate_to_replace() -> None:
    context = cdk_json_context()
    for name in ("dev", "test", "prod"):
        del context[CONTEXT_KEY]["environments"][name]["candidate"]
    with pytest.raises(
        ConfigError,
        match=r"^context 'candidate_package': .* expected an environment with a candidate "
        r"\(and so a rollout\) to serve it",
    ):
        load_config({**context, "candidate_package": _package()["model_package"]})


def test_fails_when_the_candidate_package_is_already_the_model() -> None:
    context = cdk_json_context()
    context[CONTEXT_KEY]["environments"]["dev"]["model"] = _package(4)
    with pytest.raises(
        ConfigError,
        match=r"^context 'candidate_package': .* expected a version other than "
        r"sagemaker-constructs\.environments\.dev\.model, which the endpoint already serves",
    ):
        load_config({**context, "candidate_package": _package(4)["model_package"]})
