"""Shadow, then canary: the app deploys a candidate as a shadow variant first.

GIVEN cdk.json's prod (``shadow_first``) as the pipeline's ProdShadow stage synthesizes it (what
a laptop's ``cdk deploy -c candidate_phase=shadow`` deploys too);
WHEN synthesized with the compliance packs; THEN the candidate is the endpoint's shadow variant
(no production variant a rollout could move traffic to), the shadow evaluation judges it and
the pipeline may run it, and the rollout and the evaluation are the same resources as in the
canary phase, so that the two deploys never replace them; configuration errors name the key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from cdk_testing import SynthesizedApp, cdk_json_context, cfn_lint

from sagemaker_constructs.rollout.contract import SHADOW_STACK_OUTPUT, STACK_OUTPUT
from stacks.app import build_app
from stacks.config import ConfigError, load_config
from stacks.environment_stack import EnvironmentStack, variant_name

PROD = "sagemaker-constructs-prod"
PIPELINE = "sagemaker-constructs-pipeline"


@pytest.fixture(scope="module")
def shadow_stack(synthesized: SynthesizedApp) -> EnvironmentStack:
    """The prod stack of the pipeline's ProdShadow stage: what ``cdk deploy
    -c candidate_phase=shadow`` deploys too (the same stack, from the same configuration)."""
    stage = synthesized.stack(PIPELINE).node.find_child("ProdShadow")
    stack = stage.node.find_child("Environment")
    assert isinstance(stack, EnvironmentStack)
    return stack


@pytest.fixture(scope="module")
def template(synthesized: SynthesizedApp, shadow_stack: EnvironmentStack) -> dict[str, Any]:
    stage = shadow_stack.node.scope
    assert isinstance(stage, cdk.Stage)
    path = Path(stage.outdir) / shadow_stack.template_file
    synthesized_template: dict[str, Any] = json.loads(path.read_text())
    return synthesized_template


def _one(template: dict[str, Any], kind: str) -> dict[str, Any]:
    (found,) = [r for r in template["Resources"].values() if r["Type"] == kind]
    resource: dict[str, Any] = found
    return resource


def test_the_candidate_is_the_endpoints_shadow(
    shadow_stack: EnvironmentStack, template: dict[str, Any]
) -> None:
    stack = shadow_stack
    config = stack.config
    assert config.candidate is not None
    assert stack.candidate_phase == "shadow"
    properties = _one(template, "AWS::SageMaker::EndpointConfig")["Properties"]
    assert [v["VariantName"] for v in properties["ProductionVariants"]] == [
        variant_name(config.model)
    ]
    (shadow,) = properties["ShadowProductionVariants"]
    assert shadow["VariantName"] == variant_name(config.candidate)
    assert shadow["InitialVariantWeight"] == 1
    # one production variant: the template's weight applies on every deploy
    endpoint = _one(template, "AWS::SageMaker::Endpoint")["Properties"]
    assert endpoint["ExcludeRetainedVariantProperties"] == [
        {"VariantPropertyType": "DesiredWeight"}
    ]


def test_the_shadow_evaluation_judges_it_and_the_pipeline_may_run_it(
    template: dict[str, Any],
) -> None:
    machines = {
        logical_id: r
        for logical_id, r in template["Resources"].items()
        if r["Type"] == "AWS::StepFunctions::StateMachine"
    }
    shadow_ids = [i for i in machines if i.startswith("ShadowEvaluation")]
    assert len(shadow_ids) == 1
    tags = {t["Key"]: t["Value"] for t in machines[shadow_ids[0]]["Properties"]["Tags"]}
    assert tags["sagemaker-constructs:shadow-evaluation-endpoint"] == PROD
    outputs = template["Outputs"]
    name = machines[shadow_ids[0]]["Properties"]["StateMachineName"]
    assert json.dumps(outputs[SHADOW_STACK_OUTPUT]["Value"]).endswith(f':stateMachine:{name}"]]}}')
    assert STACK_OUTPUT in outputs  # the rollout is there too, bound by name
    operator = json.dumps(
        [
            r
            for i, r in template["Resources"].items()
            if i.startswith("RolloutOperator") and r["Type"] == "AWS::IAM::ManagedPolicy"
        ]
    )
    assert "states:StartExecution" in operator
    assert f"stateMachine:{name}" in operator  # the evaluation's state machine


def _stage_template(synthesized: SynthesizedApp, stage_name: str) -> dict[str, Any]:
    stage = synthesized.stack(PIPELINE).node.find_child(stage_name)
    assert isinstance(stage, cdk.Stage)
    stack = stage.node.find_child("Environment")
    assert isinstance(stack, EnvironmentStack)
    synthesized_template: dict[str, Any] = json.loads(
        (Path(stage.outdir) / stack.template_file).read_text()
    )
    return synthesized_template


def test_both_phases_keep_the_same_rollout_and_evaluation(
    synthesized: SynthesizedApp, template: dict[str, Any]
) -> None:
    """The pipeline's Prod stage (the canary phase) has the same logical ids for the resources
    of the rollout and the evaluation as its ProdShadow stage: switching phases updates them.
    The one exception is the Lambda permission CDK derives from the guard rule's construct
    path, which holds the stage's name: it is replaced (by the same permission) on a switch."""
    canary = _stage_template(synthesized, "Prod")

    def judged(t: dict[str, Any]) -> set[str]:
        return {i for i in t["Resources"] if i.startswith(("CanaryRollout", "ShadowEvaluation"))}

    shadow_only, canary_only = judged(template) - judged(canary), judged(canary) - judged(template)
    assert [i[:42] for i in shadow_only] == ["CanaryRolloutGuardRuleAllowEventRulesagema"]
    assert [i[:42] for i in canary_only] == ["CanaryRolloutGuardRuleAllowEventRulesagema"]
    assert len(judged(template) & judged(canary)) > 30
    canary_config = _one(canary, "AWS::SageMaker::EndpointConfig")["Properties"]
    assert "ShadowProductionVariants" not in canary_config
    assert len(canary_config["ProductionVariants"]) == 2


def test_the_shadow_phase_template_passes_cfn_lint(template: dict[str, Any]) -> None:
    assert cfn_lint(template, "us-east-1") == []


def _config(**context: Any) -> Any:
    base = cdk_json_context()
    base.update(context)
    return load_config(base)


def test_the_candidate_phase_is_shadow_or_canary() -> None:
    assert _config().candidate_phase == "canary"
    assert _config(candidate_phase="shadow").candidate_phase == "shadow"
    # a laptop's `cdk deploy -c candidate_phase=shadow` builds the stacks in that phase
    context = cdk_json_context()
    context.update(environments="prod", candidate_phase="shadow")
    _, (stack,) = build_app(cdk.App(context=context))
    assert stack.candidate_phase == "shadow"
    candidate = stack.config.candidate
    assert candidate is not None
    assert stack.endpoint.shadow_variant_names == [variant_name(candidate)]
    with pytest.raises(ConfigError, match=r"context 'candidate_phase': 'dark' is not allowed"):
        _config(candidate_phase="dark")


def test_shadow_first_must_be_a_boolean(tmp_path: Path) -> None:
    context = cdk_json_context()
    context["sagemaker-constructs"]["environments"]["prod"]["shadow_first"] = "yes"
    with pytest.raises(ConfigError, match=r"environments\.prod\.shadow_first"):
        load_config(context)
