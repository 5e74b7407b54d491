"""The release loop: each promotion is recorded in the registry, and the next synth serves it.

GIVEN dev's model package group in moto; WHEN versions are registered, approved and promoted
(the pipeline's rollout step records ``promoted-<environment>`` on the version it promoted);
THEN the synth that asks the registry (``-c resolve_candidate=latest-approved``) gives each
environment the newest version promoted there as its ``model`` and the newest approved version
newer than that as its ``candidate``, or no candidate (and no rollout) when there is none, and
the variant that serves the promoted version keeps its name (and so its traffic).

**Where moto differs from AWS** (:class:`AwsDocumentedUpdates`): moto's ``UpdateModelPackage``
replaces the whole ``CustomerMetadataProperties`` map with the one sent, and sets the approval
status to nothing when the request does not name one. The API reference makes every request
parameter but the ARN optional (an update changes what it names) and removes properties with
``CustomerMetadataPropertiesToRemove``, so the properties sent are added to the others. The
recording and the resolution are tested through :class:`AwsDocumentedUpdates`, which gives
moto those two behaviours; ``test_moto_differs_from_the_api_reference_on_updates`` keeps
the difference visible (it fails once moto behaves like AWS: then the adapter goes).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from cdk_testing import SynthesizedApp, cdk_json_context
from moto import mock_aws

from stacks.app import build_app
from stacks.config import CONTEXT_KEY, ConfigError, load_config
from stacks.environment_stack import (
    NOTHING_TO_PROMOTE,
    PROMOTION_CANDIDATE_OUTPUT,
    PROMOTION_ROLLOUT_OUTPUT,
    variant_name,
)
from stacks.registry import (
    Release,
    main,
    promotion_key,
    record_promotion,
    resolve_releases,
)

REGISTRY = "111111111111"
REGION = "us-east-1"
GROUP = "sagemaker-constructs-dev-models"
GROUP_ARN = f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package-group/{GROUP}"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ENVIRONMENTS = ("dev", "test", "prod")
PIPELINE_STACK = "sagemaker-constructs-pipeline"
#: cdk.json's model (its image; the archive is classifier/v1/model.tar.gz).
IMAGE_V1 = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.16-cpu"


def package_arn(version: int, group: str = GROUP) -> str:
    return f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package/{group}/{version}"


class AwsDocumentedUpdates:
    """A moto SageMaker client whose ``update_model_package`` does what the API reference
    documents and moto does not (see the module's documentation): an omitted
    ``ModelApprovalStatus`` leaves the status as it is, and ``CustomerMetadataProperties`` are
    added to the version's others. Every other call goes to moto unchanged; ``described``
    counts ``DescribeModelPackage`` calls."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.described = 0

    def update_model_package(self, **request: Any) -> Any:
        current = self._client.describe_model_package(ModelPackageName=request["ModelPackageArn"])
        request.setdefault("ModelApprovalStatus", current.get("ModelApprovalStatus"))
        if "CustomerMetadataProperties" in request:
            request["CustomerMetadataProperties"] = {
                **(current.get("CustomerMetadataProperties") or {}),
                **request["CustomerMetadataProperties"],
            }
        return self._client.update_model_package(**request)

    def describe_model_package(self, **request: Any) -> Any:
        self.described += 1
        return self._client.describe_model_package(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.fixture(scope="module")
def registry_account() -> Iterator[None]:
    """moto, as the registry's account."""
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        patch.setenv("MOTO_ACCOUNT_ID", REGISTRY)
        yield


def sagemaker() -> AwsDocumentedUpdates:
    return AwsDocumentedUpdates(boto3.client("sagemaker", region_name=REGION))


def register(client: Any, group: str = GROUP) -> str:
    """What the training pipeline's RegisterModel step does: a version pending approval."""
    return client.create_model_package(  # type: ignore[no-any-return]
        ModelPackageGroupName=group,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://models/registry/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]


def approve(client: Any, arn: str, status: str = "Approved") -> None:
    client.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status)


def new_group(client: Any, name: str, *, registered: int, approved: tuple[int, ...]) -> str:
    client.create_model_package_group(ModelPackageGroupName=name)
    arns = [register(client, name) for _ in range(registered)]
    for version in approved:
        approve(client, arns[version - 1])
    return name


UNPROMOTED = {"dev": None, "test": None, "prod": None}


# ------------------------------------------------------------------------ moto, and AWS


def test_moto_differs_from_the_api_reference_on_updates(registry_account: None) -> None:
    """moto replaces the properties and clears the approval status; AwsDocumentedUpdates
    adds and keeps them, as the API reference documents."""
    raw = boto3.client("sagemaker", region_name=REGION)
    group = new_group(raw, "moto-differs", registered=2, approved=(1, 2))
    for client, version in ((raw, 1), (sagemaker(), 2)):
        arn = package_arn(version, group)
        client.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"a": "1"})
        client.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"b": "2"})
    moto = raw.describe_model_package(ModelPackageName=package_arn(1, group))
    assert "ModelApprovalStatus" not in moto  # cleared by an update that did not name it
    assert moto["CustomerMetadataProperties"] == {"b": "2"}  # replaced, not added to
    documented = raw.describe_model_package(ModelPackageName=package_arn(2, group))
    assert (documented["ModelApprovalStatus"], documented["CustomerMetadataProperties"]) == (
        "Approved",
        {"a": "1", "b": "2"},
    )


# ------------------------------------------------------------------------ recording


def test_a_promotion_is_one_update_of_the_version_that_keeps_everything_else(
    registry_account: None,
) -> None:
    client = sagemaker()
    group = new_group(client, "recorded", registered=1, approved=(1,))
    calls: list[dict[str, Any]] = []

    class Recording(AwsDocumentedUpdates):
        def update_model_package(self, **request: Any) -> Any:
            calls.append(request)
            return super().update_model_package(**request)

    recording = Recording(boto3.client("sagemaker", region_name=REGION))
    at = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    arn = package_arn(1, group)
    assert record_promotion(recording, package_arn=arn, environment="dev", at=at) == (
        "2025-03-04T05:06:07Z"
    )
    record_promotion(recording, package_arn=arn, environment="test", at=at)
    # exactly what the pipeline's role may do: UpdateModelPackage, with the property only
    assert calls == [
        {"ModelPackageArn": arn, "CustomerMetadataProperties": {f"promoted-{env}": recorded}}
        for env, recorded in (("dev", "2025-03-04T05:06:07Z"), ("test", "2025-03-04T05:06:07Z"))
    ]
    package = client.describe_model_package(ModelPackageName=arn)
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["CustomerMetadataProperties"] == {
        "promoted-dev": "2025-03-04T05:06:07Z",
        "promoted-test": "2025-03-04T05:06:07Z",
    }


def test_the_rollout_step_records_with_the_command_line(
    registry_account: None, capsys: pytest.CaptureFixture[str]
) -> None:
    client = sagemaker()
    group = new_group(client, "command-line", registered=1, approved=(1,))
    arn = package_arn(1, group)
    command = ["record-promotion", "--environment", "prod", "--package-arn", arn]
    assert main(command, client=client) == 0
    properties = client.describe_model_package(ModelPackageName=arn)["CustomerMetadataProperties"]
    assert list(properties) == [promotion_key("prod")] == ["promoted-prod"]
    assert datetime.strptime(properties["promoted-prod"], "%Y-%m-%dT%H:%M:%SZ")
    assert (
        f"Recorded promoted-prod={properties['promoted-prod']} on {arn}" in capsys.readouterr().out
    )


def test_the_command_line_fails_on_anything_but_a_version_arn(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["record-promotion", "--environment", "dev", "--package-arn", "none"], client=object())
    assert exit_info.value.code == 2
    assert "--package-arn: 'none' is not allowed; expected a model package version" in (
        capsys.readouterr().err
    )


# ------------------------------------------------------------------------ resolving


def test_register_3_approve_2_then_promote_in_dev(registry_account: None) -> None:
    """Versions 1 and 2 approved, 3 pending. Nothing promoted: every environment keeps
    cdk.json's model, the candidate is the newest approved (2). Version 1 promoted in dev: dev
    serves 1 and canaries 2. Version 2 promoted in dev: dev serves 2, with nothing to roll
    out; test and prod still canary 2 from cdk.json's model."""
    client = sagemaker()
    group = new_group(client, "three-versions", registered=3, approved=(1, 2))

    assert resolve_releases(client, group=group, configured=UNPROMOTED) == {
        env: Release(model=None, candidate=package_arn(2, group)) for env in ENVIRONMENTS
    }

    record_promotion(client, package_arn=package_arn(1, group), environment="dev")
    releases = resolve_releases(client, group=group, configured=UNPROMOTED)
    assert releases["dev"] == Release(model=package_arn(1, group), candidate=package_arn(2, group))
    assert (
        releases["test"] == releases["prod"] == Release(model=None, candidate=package_arn(2, group))
    )

    record_promotion(client, package_arn=package_arn(2, group), environment="dev")
    releases = resolve_releases(client, group=group, configured=UNPROMOTED)
    assert releases["dev"] == Release(model=package_arn(2, group), candidate=None)
    assert releases["test"] == Release(model=None, candidate=package_arn(2, group))


def test_a_model_already_in_the_registry_is_not_its_own_candidate(registry_account: None) -> None:
    """cdk.json's model is a version of the group: only a newer approved one is a candidate."""
    client = sagemaker()
    group = new_group(client, "configured-versions", registered=3, approved=(1, 2))
    configured = {"dev": 1, "test": 2, "prod": None}
    assert resolve_releases(client, group=group, configured=configured) == {
        "dev": Release(model=None, candidate=package_arn(2, group)),
        "test": Release(model=None, candidate=None),
        "prod": Release(model=None, candidate=package_arn(2, group)),
    }


def test_a_version_rejected_after_its_promotion_no_longer_counts(registry_account: None) -> None:
    client = sagemaker()
    group = new_group(client, "revoked", registered=3, approved=(1, 2, 3))
    for version in (1, 2):
        record_promotion(client, package_arn=package_arn(version, group), environment="prod")
    approve(client, package_arn(2, group), "Rejected")
    releases = resolve_releases(client, group=group, configured={"prod": None})
    assert releases == {
        "prod": Release(model=package_arn(1, group), candidate=package_arn(3, group))
    }


def test_versions_are_described_newest_first_until_every_promotion_is_found(
    registry_account: None,
) -> None:
    client = sagemaker()
    group = new_group(client, "many-versions", registered=8, approved=tuple(range(1, 9)))
    record_promotion(client, package_arn=package_arn(7, group), environment="dev")
    record_promotion(client, package_arn=package_arn(6, group), environment="test")
    client.described = 0
    releases = resolve_releases(client, group=group, configured={"dev": None, "test": None})
    assert client.described == 3  # versions 8, 7 and 6
    assert releases["dev"] == Release(model=package_arn(7, group), candidate=package_arn(8, group))
    assert releases["test"] == Release(model=package_arn(6, group), candidate=package_arn(8, group))


def test_resolving_needs_an_environment_that_rolls_out() -> None:
    context = cdk_json_context()
    for env in ENVIRONMENTS:
        del context[CONTEXT_KEY]["environments"][env]["candidate"]
    with pytest.raises(
        ConfigError,
        match=r"^context 'resolve_candidate': 'latest-approved' is not allowed; expected an "
        r"environment with a candidate \(and so a rollout\) to serve it: "
        r"sagemaker-constructs\.environments\.<name>\.candidate in cdk\.json$",
    ):
        load_config({**context, "resolve_candidate": "latest-approved"})


# ------------------------------------------------------------------------ the app, state by state


def synth(outdir: Path, registry_client: Any) -> SynthesizedApp:
    """The app as the promotion pipeline's synth step builds it (every check runs)."""
    context = {**cdk_json_context(), "resolve_candidate": "latest-approved"}
    app = cdk.App(context=context, outdir=str(outdir))
    _, stacks = build_app(app, registry_client=lambda region: registry_client)
    app.synth()
    return SynthesizedApp(app=app, stacks=stacks, outdir=outdir)


@pytest.fixture(scope="module")
def registry(registry_account: None) -> AwsDocumentedUpdates:
    """The registry the states below share: the group of cdk.json, created empty."""
    client = sagemaker()
    client.create_model_package_group(ModelPackageGroupName=GROUP)
    return client


@pytest.fixture(scope="module")
def nothing_promoted(
    registry: AwsDocumentedUpdates, tmp_path_factory: pytest.TempPathFactory
) -> SynthesizedApp:
    """Version 1 approved, promoted nowhere: every environment canaries it from cdk.json's
    model."""
    approve(registry, register(registry))
    return synth(tmp_path_factory.mktemp("nothing-promoted"), registry)


@pytest.fixture(scope="module")
def promoted_in_dev(
    nothing_promoted: SynthesizedApp,
    registry: AwsDocumentedUpdates,
    tmp_path_factory: pytest.TempPathFactory,
) -> SynthesizedApp:
    """Version 1 promoted in dev (the rollout succeeded there), then version 2 approved."""
    record_promotion(registry, package_arn=package_arn(1), environment="dev")
    approve(registry, register(registry))
    return synth(tmp_path_factory.mktemp("promoted-in-dev"), registry)


@pytest.fixture(scope="module")
def promoted_everywhere(
    promoted_in_dev: SynthesizedApp,
    registry: AwsDocumentedUpdates,
    tmp_path_factory: pytest.TempPathFactory,
) -> SynthesizedApp:
    """Version 2 promoted in dev, test and prod; nothing newer approved."""
    for env in ENVIRONMENTS:
        record_promotion(registry, package_arn=package_arn(2), environment=env)
    return synth(tmp_path_factory.mktemp("promoted-everywhere"), registry)


def _resources(app: SynthesizedApp, env: str, kind: str) -> list[dict[str, Any]]:
    stack = next(s for s in app.stacks if s.config.name == env)
    template = app.template_json(stack)
    return [r for r in template["Resources"].values() if r["Type"] == kind]


def _variants(app: SynthesizedApp, env: str) -> dict[str, int]:
    (config,) = _resources(app, env, "AWS::SageMaker::EndpointConfig")
    return {
        v["VariantName"]: v["InitialVariantWeight"]
        for v in config["Properties"]["ProductionVariants"]
    }


def _served(app: SynthesizedApp, env: str) -> dict[str, Any]:
    """The variant name of each model of ``env``'s endpoint, by what it serves."""
    stack = next(s for s in app.stacks if s.config.name == env)
    template = app.template_json(stack)
    models = {
        stack.get_logical_id(model.resource): model
        for model in (stack.model, stack.candidate_model)
        if model is not None
    }
    (config,) = _resources(app, env, "AWS::SageMaker::EndpointConfig")
    served = {}
    for variant in config["Properties"]["ProductionVariants"]:
        logical_id = variant["ModelName"]["Fn::GetAtt"][0]
        container = template["Resources"][logical_id]["Properties"]["PrimaryContainer"]
        served[variant["VariantName"]] = container.get("ModelPackageName", container.get("Image"))
        assert logical_id in models
    return served


def _variants_by_model(app: SynthesizedApp, env: str) -> dict[str, str]:
    """What ``env``'s endpoint serves -> the variant that serves it."""
    return {model: variant for variant, model in _served(app, env).items()}


def _outputs(app: SynthesizedApp, env: str) -> dict[str, Any]:
    stack = next(s for s in app.stacks if s.config.name == env)
    return {k: v["Value"] for k, v in app.template_json(stack)["Outputs"].items()}


def _endpoint(app: SynthesizedApp, env: str) -> dict[str, Any]:
    (endpoint,) = _resources(app, env, "AWS::SageMaker::Endpoint")
    return endpoint["Properties"]  # type: ignore[no-any-return]


def test_nothing_promoted_every_environment_canaries_the_approved_version_from_cdk_json(
    nothing_promoted: SynthesizedApp,
) -> None:
    for env in ENVIRONMENTS:
        config = nothing_promoted.stacks[ENVIRONMENTS.index(env)].config
        assert config.candidate is not None
        served = _served(nothing_promoted, env)
        assert served == {
            variant_name(config.model): IMAGE_V1,
            variant_name(config.candidate): package_arn(1),
        }, env
        assert _variants(nothing_promoted, env) == {
            variant_name(config.model): 1,
            variant_name(config.candidate): 0,
        }
        outputs = _outputs(nothing_promoted, env)
        assert outputs[PROMOTION_CANDIDATE_OUTPUT] == package_arn(1)
        assert "stateMachine" in json.dumps(outputs[PROMOTION_ROLLOUT_OUTPUT])


def test_promoted_in_dev_the_promoted_variant_keeps_its_name_and_the_old_baseline_goes(
    nothing_promoted: SynthesizedApp, promoted_in_dev: SynthesizedApp
) -> None:
    """Dev serves version 1 (promoted there) in the variant version 1 had as the candidate:
    same name, so RetainAllVariantProperties keeps the 100 % it earned; the image baseline's
    variant leaves the endpoint. Version 2 is the new candidate, at weight 0."""
    before = _variants_by_model(nothing_promoted, "dev")
    after = _variants_by_model(promoted_in_dev, "dev")
    assert sorted(after) == [package_arn(1), package_arn(2)]
    assert after[package_arn(1)] == before[package_arn(1)]
    assert before[IMAGE_V1] not in after.values()
    assert _variants(promoted_in_dev, "dev") == {after[package_arn(1)]: 1, after[package_arn(2)]: 0}
    endpoint = _endpoint(promoted_in_dev, "dev")
    assert endpoint["RetainAllVariantProperties"] is True
    assert "ExcludeRetainedVariantProperties" not in endpoint
    assert _outputs(promoted_in_dev, "dev")[PROMOTION_CANDIDATE_OUTPUT] == package_arn(2)
    # test and prod were never promoted: cdk.json's model, canarying version 2
    for env in ("test", "prod"):
        assert sorted(_served(promoted_in_dev, env).values()) == sorted(
            [
                package_arn(2),
                "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.16-cpu",
            ]
        )


def test_promoted_everywhere_each_endpoint_serves_it_alone_without_a_rollout(
    promoted_in_dev: SynthesizedApp, promoted_everywhere: SynthesizedApp
) -> None:
    """Nothing newer than the promoted version: no candidate, no rollout, one variant that
    keeps the name the candidate had (and takes its weight, 1, from the template); the
    rollout step's outputs say there is nothing to do."""
    for env in ENVIRONMENTS:
        candidate_variant = _variants_by_model(promoted_in_dev, env)[package_arn(2)]
        assert _served(promoted_everywhere, env) == {candidate_variant: package_arn(2)}, env
        assert _variants(promoted_everywhere, env) == {candidate_variant: 1}
        assert _endpoint(promoted_everywhere, env)["ExcludeRetainedVariantProperties"] == [
            {"VariantPropertyType": "DesiredWeight"}
        ]
        assert _resources(promoted_everywhere, env, "AWS::StepFunctions::StateMachine") == []
        outputs = _outputs(promoted_everywhere, env)
        assert outputs[PROMOTION_ROLLOUT_OUTPUT] == NOTHING_TO_PROMOTE
        assert outputs[PROMOTION_CANDIDATE_OUTPUT] == NOTHING_TO_PROMOTE
        assert "RolloutStateMachineArn" not in outputs  # the CLI's output: no rollout


def test_the_pipeline_keeps_a_rollout_step_per_environment_in_every_state(
    nothing_promoted: SynthesizedApp, promoted_everywhere: SynthesizedApp
) -> None:
    """The deployed pipeline does not change with the registry: its rollout steps read the
    promotion outputs, present in every deployment (CodePipeline fails on a missing one)."""
    for app in (nothing_promoted, promoted_everywhere):
        template = app.template_json(app.stack(PIPELINE_STACK))
        (pipeline,) = [
            r for r in template["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline"
        ]
        gates = [
            stage["Name"]
            for stage in pipeline["Properties"]["Stages"]
            for action in stage["Actions"]
            if action["Name"] == "CanaryRollout"
        ]
        assert gates == ["Dev", "Test", "Prod"]
