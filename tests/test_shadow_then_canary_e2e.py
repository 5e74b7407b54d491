"""End to end: the app's "shadow, then canary" for prod, with the state machines it deploys.

GIVEN the two prod stacks the promotion pipeline deploys (its ProdShadow and Prod stages, from
the session's synthesized app): their ShadowEvaluation and CanaryRollout definitions resolved
to moto resources and executed by moto's Step Functions engine, the evaluator in-process,
CloudWatch and traffic as strict as AWS (``strict_aws``, ``shadow_harness``); WHEN prod's
endpoint first runs the candidate as its shadow variant, then, as CloudFormation's deploy of
the Prod stage leaves it, as a production variant at weight 0; THEN the shadow evaluation
passes the candidate without moving traffic, the rollout started in the shadow phase refuses
to touch the endpoint, the evaluation started in the canary phase finds no shadow, and the
rollout promotes the candidate to 100 %. Neither state machine changes what the other phase's
deploy set up.

moto has no UpdateEndpoint: :func:`deploy_canary_phase` applies the Prod stage's endpoint
configuration as SageMaker does for that deploy (the production variant keeps its name and
weight 1, the candidate joins at weight 0, the shadow is gone), and the state machine is
updated in place (``UpdateStateMachine``), as CloudFormation does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from cdk_testing import SynthesizedApp, cdk_json_context
from moto import mock_aws
from rollout_harness import (
    LOCK_TABLE,
    Inbox,
    Outcome,
    backend_weights,
    clients,
    create_shared,
    create_state_machine,
    finish,
    patch_moto,
    resolve,
    sagemaker_backend,
    start,
)
from shadow_harness import ShadowTraffic, bridge_shadow_variants, create_shadow_endpoint
from strict_aws import StrictAws, StrictTraffic, healthy

from sagemaker_constructs.rollout.contract import Errors, ShadowErrors
from stacks.environment_stack import EnvironmentStack, endpoint_name, variant_name

PIPELINE = "sagemaker-constructs-pipeline"
TIME_FACTOR = 120.0
SHADOW_INPUT = {"bake_seconds": 3, "interval_seconds": 1, "max_extensions": 1}
ROLLOUT_INPUT = {
    "bake_seconds": 3,
    "interval_seconds": 1,
    "poll_seconds": 1,
    "max_extensions": 2,
    "steps": [50, 100],
}


@dataclass
class Phase:
    """One stage's prod stack: its definitions (tokens unresolved) and names."""

    stack: EnvironmentStack
    template: dict[str, Any]

    def machine(self, prefix: str) -> tuple[str, Any]:
        (found,) = [
            r["Properties"]
            for i, r in self.template["Resources"].items()
            if r["Type"] == "AWS::StepFunctions::StateMachine" and i.startswith(prefix)
        ]
        return str(found["StateMachineName"]), found["DefinitionString"]

    def bindings(self, evaluator_arn: str, topic_arn: str) -> tuple[dict[str, str], dict[Any, str]]:
        """Every Ref and GetAtt of the definitions, bound to this test's moto resources."""
        refs: dict[str, str] = {}
        attrs: dict[Any, str] = {}
        endpoint = _endpoint(self.stack)
        for logical_id, resource in self.template["Resources"].items():
            kind = resource["Type"]
            if kind == "AWS::SNS::Topic":
                refs[logical_id] = topic_arn
            elif kind == "AWS::DynamoDB::Table":
                refs[logical_id] = LOCK_TABLE
            elif kind == "AWS::Lambda::Function":
                attrs[(logical_id, "Arn")] = evaluator_arn
            elif kind == "AWS::SageMaker::Endpoint":
                attrs[(logical_id, "EndpointName")] = endpoint
        return refs, attrs

    def definition(self, prefix: str, evaluator_arn: str, topic_arn: str) -> tuple[str, str]:
        name, definition = self.machine(prefix)
        refs, attrs = self.bindings(evaluator_arn, topic_arn)
        text = resolve(definition, refs=refs, attrs=attrs)
        assert isinstance(text, str)
        return name, text


def _endpoint(stack: EnvironmentStack) -> str:
    """The endpoint's name (named by the app)."""
    project = cdk_json_context()["sagemaker-constructs"]["project"]
    return endpoint_name(project, stack.config.name)


def _phase(synthesized: SynthesizedApp, stage_name: str) -> Phase:
    stage = synthesized.stack(PIPELINE).node.find_child(stage_name)
    assert isinstance(stage, cdk.Stage)
    stack = stage.node.find_child("Environment")
    assert isinstance(stack, EnvironmentStack)
    template = json.loads((Path(stage.outdir) / stack.template_file).read_text())
    return Phase(stack, template)


def deploy_canary_phase(endpoint: str, production: str, candidate: str) -> None:
    """The endpoint as the Prod stage's deploy leaves it (see the module docstring)."""
    sm = clients()["sagemaker"]
    sm.create_endpoint_config(
        EndpointConfigName=f"{endpoint}-canary",
        ProductionVariants=[
            {
                "VariantName": variant,
                "ModelName": "model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": weight,
            }
            for variant, weight in ((production, 1.0), (candidate, 0.0))
        ],
    )
    backend = sagemaker_backend()
    live = backend.endpoints[endpoint]
    live.endpoint_config_name = f"{endpoint}-canary"
    live.production_variants = live._process_production_variants(
        backend.endpoint_configs[f"{endpoint}-canary"].production_variants
    )
    if hasattr(live, "shadow_production_variants"):
        del live.shadow_production_variants
    # SageMaker reports every variant's CurrentWeight (moto omits a variant created at 0)
    sm.update_endpoint_weights_and_capacities(
        EndpointName=endpoint,
        DesiredWeightsAndCapacities=[
            {"VariantName": production, "DesiredWeight": 1.0},
            {"VariantName": candidate, "DesiredWeight": 0.0},
        ],
    )


@dataclass
class Flow:
    endpoint: str
    production: str
    candidate: str
    shadow_passed: Outcome
    rollout_in_shadow_phase: Outcome
    weights_after_shadow_phase: dict[str, float]
    shadow_in_canary_phase: Outcome
    rollout: Outcome


@pytest.fixture(scope="module")
def flow(synthesized: SynthesizedApp) -> Iterator[Flow]:
    shadow_phase, canary_phase = _phase(synthesized, "ProdShadow"), _phase(synthesized, "Prod")
    config = shadow_phase.stack.config
    assert config.candidate is not None
    assert config.shadow_first
    endpoint = _endpoint(shadow_phase.stack)
    production, candidate = variant_name(config.model), variant_name(config.candidate)
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
    mock.start()
    strict = StrictAws(factor=TIME_FACTOR)
    undo = patch_moto(strict.handler)
    unbridge = bridge_shadow_variants()
    try:
        evaluator = create_shared()
        inbox = Inbox.create("prod-notifications")
        sfn = clients()["stepfunctions"]
        # the ProdShadow stage's deploy: the candidate is the endpoint's shadow variant
        create_shadow_endpoint(endpoint, production, candidate)
        machines = {}
        for prefix in ("ShadowEvaluation", "CanaryRollout"):
            name, definition = shadow_phase.definition(prefix, evaluator, inbox.topic_arn)
            machines[prefix] = create_state_machine(name, definition)
        traffic = ShadowTraffic(strict, endpoint, production, candidate, healthy, sampling=20.0)
        traffic.start()
        try:
            shadow = finish(start(machines["ShadowEvaluation"], SHADOW_INPUT), endpoint, inbox)
        finally:
            traffic.stop()
        refused = finish(start(machines["CanaryRollout"], ROLLOUT_INPUT), endpoint, inbox)
        after_shadow = backend_weights(endpoint)
        # the Prod stage's deploy: the candidate is a production variant at weight 0, and
        # CloudFormation updates the state machines in place
        deploy_canary_phase(endpoint, production, candidate)
        for prefix in ("ShadowEvaluation", "CanaryRollout"):
            _, definition = canary_phase.definition(prefix, evaluator, inbox.topic_arn)
            sfn.update_state_machine(stateMachineArn=machines[prefix], definition=definition)
        not_ready = finish(start(machines["ShadowEvaluation"], SHADOW_INPUT), endpoint, inbox)
        live = StrictTraffic(
            strict, endpoint, production, candidate, healthy, backend_weights, rate=5.0, tick=0.1
        )
        live.start()
        try:
            rollout = finish(start(machines["CanaryRollout"], ROLLOUT_INPUT), endpoint, inbox)
        finally:
            live.stop()
        yield Flow(
            endpoint, production, candidate, shadow, refused, after_shadow, not_ready, rollout
        )
    finally:
        unbridge()
        undo()
        mock.stop()


def test_the_shadow_evaluation_passes_the_candidate_without_moving_traffic(flow: Flow) -> None:
    outcome = flow.shadow_passed
    assert outcome.status == "SUCCEEDED", (outcome.error, outcome.cause)
    assert outcome.output["verdict"] == "PASS"
    assert not [
        e
        for e in outcome.history
        if e["type"] == "TaskScheduled"
        and "updateEndpoint" in e["taskScheduledEventDetails"]["resource"]
    ]


def test_a_rollout_started_in_the_shadow_phase_leaves_the_endpoint_alone(flow: Flow) -> None:
    outcome = flow.rollout_in_shadow_phase
    assert (outcome.status, outcome.error) == ("FAILED", Errors.UNEXPECTED_STARTING_WEIGHTS), (
        outcome.cause
    )
    assert flow.weights_after_shadow_phase == {flow.production: 1.0}
    assert outcome.lock_holder is None


def test_the_evaluation_started_in_the_canary_phase_finds_no_shadow(flow: Flow) -> None:
    outcome = flow.shadow_in_canary_phase
    assert (outcome.status, outcome.error) == ("FAILED", ShadowErrors.NOT_READY)


def test_the_rollout_then_promotes_the_candidate(flow: Flow) -> None:
    outcome = flow.rollout
    assert outcome.status == "SUCCEEDED", (outcome.error, outcome.cause)
    assert outcome.weights == {flow.production: 0.0, flow.candidate: 100.0}
    assert outcome.lock_holder is None
