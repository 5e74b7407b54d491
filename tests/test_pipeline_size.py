"""Pipeline definitions of any size SageMaker accepts, with substitutions.

One app is synthesized for the module (all four cdk-nag packs, the wildcard check and the
template size check run): a 40-market fan-out of SDK Processing steps whose ``${RoleArn}`` is
a deploy-time value (inlined, CloudFormation substitutes), and a definition near SageMaker's
limit whose substitutions are literal (uploaded as an asset, substituted at synth).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from cdk_testing import cfn_lint

from sagemaker_constructs import _pipeline_definition as spec
from sagemaker_constructs import _pipeline_size as size
from sagemaker_constructs import add_compliance_checks
from sagemaker_constructs.pipeline import INLINE_DEFINITION_MAX_LENGTH, Pipeline, PipelineDefinition
from sagemaker_constructs.roles import ScopedRole

DATA = Path(__file__).parent / "data" / "sdk_pipelines"
ENV = cdk.Environment(account="111111111111", region="us-east-1")
#: The SDK's Processing step (tests/data/sdk_pipelines/processing.json), the unit of the fan-out.
SDK_PROCESSING = json.loads((DATA / "processing.json").read_text())
ROLE_ARN = "arn:aws:iam::111111111111:role/pipeline-jobs"
DEPLOYED_ROLE_ARN = "arn:aws:iam::111111111111:role/Sized-JobRole-ABC123"
LITERAL_ROLE_ARN = "arn:aws:iam::111111111111:role/named-pipeline-jobs"
MARKETS = [f"m{index:02d}" for index in range(40)]


def fan_out(markets: list[str], steps_per_market: int = 3, padding: int = 0) -> dict[str, Any]:
    """A fan-out as the SDK writes it: per market, ``steps_per_market`` Processing steps that
    run under ``${RoleArn}`` and read from ``${DataBucket}``; ``padding`` characters of
    environment per step make it larger."""
    document = copy.deepcopy(SDK_PROCESSING)
    template = document["Steps"][0]
    steps = []
    for market in markets:
        for index in range(steps_per_market):
            step = json.loads(
                json.dumps(template)
                .replace(ROLE_ARN, "${RoleArn}")
                .replace("sagemaker-us-east-1-111111111111", "${DataBucket}")
            )
            step["Name"] = f"Prepare-{market}-{index}"
            step["Arguments"]["Environment"] = {"MARKET": market, "PAD": "p" * padding}
            steps.append(step)
    document["Steps"] = steps
    return dict(document)


@dataclass
class Synthesized:
    raw: dict[str, Any]
    outdir: Path
    template_path: Path
    stack: cdk.Stack
    pipelines: dict[str, Pipeline]
    job_role: iam.IRole


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """GIVEN a stack with a large fan-out substituted at deploy time and a definition near
    SageMaker's limit substituted at synth."""
    outdir = tmp_path_factory.mktemp("pipeline-size")
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "Sized", env=ENV)
    job_role = ScopedRole(
        stack,
        "JobRole",
        assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
        description="SageMaker jobs",
    )
    pipelines = {
        # WHEN the role's ARN is known only at deploy time
        "FanOut": Pipeline(
            stack,
            "FanOut",
            definition=PipelineDefinition.from_dict(fan_out(MARKETS)),
            substitutions={"RoleArn": job_role.role.role_arn, "DataBucket": "data-111111111111"},
            job_role=job_role.role,
        ),
        # ... and every value is known at synth, close to SageMaker's limit
        "NearLimit": Pipeline(
            stack,
            "NearLimit",
            definition=PipelineDefinition.from_dict(fan_out(MARKETS, 6, padding=2_300)),
            substitutions={"RoleArn": LITERAL_ROLE_ARN, "DataBucket": "data-111111111111"},
            job_role=job_role.role,
        ),
    }
    add_compliance_checks(app)
    app.synth()  # raises on any cdk-nag finding, undeclared wildcard or oversized template
    template_path = outdir / "Sized.template.json"
    return Synthesized(
        json.loads(template_path.read_text()),
        outdir,
        template_path,
        stack,
        pipelines,
        job_role.role,
    )


def definition_property(synthesized: Synthesized, name: str) -> dict[str, Any]:
    logical = synthesized.stack.get_logical_id(synthesized.pipelines[name].resource)
    value: dict[str, Any] = synthesized.raw["Resources"][logical]["Properties"][
        "PipelineDefinition"
    ]
    return value


def deployed_body(body: Any, values: dict[str, str]) -> str:
    """What CloudFormation passes to SageMaker: the ``Fn::Join`` with each reference replaced
    by its deployed value (``values``: logical id -> value)."""
    if isinstance(body, str):
        return body
    delimiter, parts = body["Fn::Join"]
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        else:
            (logical, attribute) = part["Fn::GetAtt"]
            assert attribute == "Arn"
            out.append(values[logical])
    return str(delimiter).join(out)


# ------------------------------------------------------------------ deploy-time values


def test_a_large_definition_with_deploy_time_values_is_inlined(synthesized: Synthesized) -> None:
    document = fan_out(MARKETS)
    assert len(spec.serialize(document)) > INLINE_DEFINITION_MAX_LENGTH
    location = definition_property(synthesized, "FanOut")
    assert set(location) == {"PipelineDefinitionBody"}
    assert "Fn::Join" in location["PipelineDefinitionBody"]


def test_the_deployed_definition_holds_the_substituted_values(synthesized: Synthesized) -> None:
    body = definition_property(synthesized, "FanOut")["PipelineDefinitionBody"]
    role = synthesized.stack.resolve(synthesized.job_role.role_arn)["Fn::GetAtt"][0]
    # THEN with the role's ARN filled in, SageMaker receives the complete definition
    deployed = json.loads(deployed_body(body, {role: DEPLOYED_ROLE_ARN}))
    assert "${" not in json.dumps(deployed)
    steps = deployed["Steps"]
    assert len(steps) == 3 * len(MARKETS)
    assert {step["Arguments"]["RoleArn"] for step in steps} == {DEPLOYED_ROLE_ARN}
    uri = steps[0]["Arguments"]["ProcessingInputs"][1]["S3Input"]["S3Uri"]
    assert uri == "s3://data-111111111111/code/preprocess.py"  # literal, substituted at synth
    expected = spec.render(
        fan_out(MARKETS), {"RoleArn": DEPLOYED_ROLE_ARN, "DataBucket": "data-111111111111"}
    )
    assert deployed == expected


def test_the_inlined_share_is_measured_as_the_template_holds_it(synthesized: Synthesized) -> None:
    body = definition_property(synthesized, "FanOut")["PipelineDefinitionBody"]
    measured = synthesized.pipelines["FanOut"]._inline_bytes
    written = len(json.dumps(body, indent=1, ensure_ascii=False).encode("utf-8"))
    # the estimate adds the template's indentation; the body alone is what json writes
    assert written <= measured <= written * 1.05
    assert measured <= size.INLINE_TEMPLATE_MAX_BYTES


# ------------------------------------------------------------------ values known at synth


def test_a_definition_near_sagemakers_limit_with_literal_values_is_an_asset(
    synthesized: Synthesized,
) -> None:
    location = definition_property(synthesized, "NearLimit")["PipelineDefinitionS3Location"]
    asset_hash = location["Key"].removesuffix(".json")
    text = (synthesized.outdir / f"asset.{asset_hash}.json").read_text()
    # THEN the staged definition is near SageMaker's limit, complete and substituted
    assert size.INLINE_TEMPLATE_MAX_BYTES < len(text) <= spec.MAX_DEFINITION_LENGTH
    document = json.loads(text)
    assert "${" not in text
    assert {step["Arguments"]["RoleArn"] for step in document["Steps"]} == {LITERAL_ROLE_ARN}


def test_the_template_stays_within_cloudformations_limit(synthesized: Synthesized) -> None:
    assert synthesized.template_path.stat().st_size <= size.MAX_TEMPLATE_BYTES
    # AND the app checks every template's size after synthesis (app.synth() passed)
    assert cdk.Stage.of(synthesized.stack) in size._CHECKED_STAGES


def test_template_is_cfn_lint_clean(synthesized: Synthesized) -> None:
    assert cfn_lint(synthesized.raw, "us-east-1") == []


# ------------------------------------------------------------------ validation


def _pipeline(stack: cdk.Stack, id: str, document: dict[str, Any], role: iam.IRole) -> Pipeline:
    return Pipeline(
        stack,
        id,
        definition=PipelineDefinition.from_dict(document),
        substitutions={"RoleArn": role.role_arn, "DataBucket": "data"},
        job_role=role,
    )


def test_fails_when_a_deploy_time_definition_exceeds_the_templates_budget() -> None:
    stack = cdk.Stack(env=ENV)
    role = iam.Role(stack, "Job", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    document = fan_out(MARKETS, 5, padding=2_500)  # ~930 KB in a template
    with pytest.raises(
        ValueError,
        match=r"(?s)substitutions=\['RoleArn'\]: values known only at deploy time .* takes "
        r"[\d,]+ bytes; a stack's inlined definitions may take at most 900,000 bytes.*"
        r"Fix: substitute values known at synth .*role_name.*1,048,576 characters",
    ):
        _pipeline(stack, "Pipeline", document, role)


def test_fails_when_a_stacks_deploy_time_definitions_together_exceed_the_budget() -> None:
    stack = cdk.Stack(env=ENV)
    role = iam.Role(stack, "Job", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    document = fan_out(MARKETS, 3, padding=2_300)  # ~550 KB in a template: one fits
    _pipeline(stack, "First", document, role)
    with pytest.raises(ValueError, match=r"besides [\d,]+ bytes of the stack's other pipelines"):
        _pipeline(stack, "Second", document, role)


def test_fails_when_a_definition_exceeds_sagemakers_limit_whatever_its_values() -> None:
    stack = cdk.Stack(env=ENV)
    role = iam.Role(stack, "Job", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    document = fan_out(MARKETS, 8, padding=2_300)
    with pytest.raises(ValueError, match=r"definition='<\d+ characters>': must be at most"):
        Pipeline(
            stack,
            "Pipeline",
            definition=PipelineDefinition.from_dict(document),
            substitutions={"RoleArn": LITERAL_ROLE_ARN, "DataBucket": "data"},
            job_role=role,
        )


def test_synth_fails_when_the_stack_around_an_inlined_definition_is_too_large(
    tmp_path: Path,
) -> None:
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Crowded", env=ENV)
    role = iam.Role(stack, "Job", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    _pipeline(stack, "Pipeline", fan_out(MARKETS, 4, padding=2_300), role)  # ~730 KB
    for index in range(4):  # and other resources take ~300 KB more
        cdk.CfnResource(
            stack,
            f"Large{index}",
            type="AWS::SSM::Parameter",
            properties={"Type": "String", "Value": "v" * 75_000},
        )
    with pytest.raises(
        RuntimeError,
        match=r"the template is [\d,]+ bytes; CloudFormation accepts at most 1,000,000",
    ):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    (plugin,) = [
        r
        for r in report["pluginReports"]
        if r["pluginName"] == "sagemaker-constructs-template-size"
    ]
    (violation,) = plugin["violations"]
    assert "CloudFormation accepts at most 1,000,000 bytes" in violation["description"]
