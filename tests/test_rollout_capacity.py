"""CanaryRollout with autoscaled variants: capacity before traffic, synthesized and validated.

GIVEN an Endpoint whose two variants are autoscaled (``VariantAutoscaling``) and a rollout on
it, and an imported endpoint with ``variant_scaling``; WHEN synthesized with the four cdk-nag
packs, cfn-lint and checkov; THEN the state machine raises the canary's scalable target and
instance count before each step's weights, restores them when it ends, its role may call
Application Auto Scaling on scalable targets only, the guard and ``abort`` know the canary's
template limits, and every rule of combining arguments fails construction with the argument
named.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from cdk_testing import cfn_lint, checkov_failures

from canary_evaluator.rollout_input import history_events
from sagemaker_constructs.compliance import acknowledge_wildcard_resources, add_compliance_checks
from sagemaker_constructs.endpoint import Endpoint, ProductionVariant, VariantAutoscaling
from sagemaker_constructs.model import ContainerDefinition, ContainerImage, Model
from sagemaker_constructs.roles import ScopedRole
from sagemaker_constructs.rollout import CanaryRollout, InstanceScaling
from sagemaker_constructs.rollout.contract import (
    SCALABLE_DIMENSION,
    TAG_CANARY_SCALING,
    States,
    parse_scaling,
    scalable_resource_id,
)
from sagemaker_constructs.rollout.definition import capacity_table
from sagemaker_constructs.rollout.props import VariantScalingLimits

ENV = cdk.Environment(account="111111111111", region="us-east-1")
DLC = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.16-cpu"


def _vpc(stack: cdk.Stack) -> ec2.IVpc:
    return ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-0123456789abcdef0",
        vpc_cidr_block="10.0.0.0/16",
        availability_zones=["us-east-1a", "us-east-1b"],
        private_subnet_ids=["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    )


def _endpoint(
    stack: cdk.Stack,
    id: str = "Hosting",
    *,
    baseline: VariantAutoscaling | None = None,
    canary: VariantAutoscaling | None = None,
    name: str = "churn",
) -> Endpoint:
    def model(model_id: str) -> Model:
        return Model(
            stack,
            f"{id}{model_id}",
            containers=[ContainerDefinition(image=ContainerImage.from_registry(DLC))],
            network_isolation=True,
        )

    return Endpoint(
        stack,
        id,
        endpoint_name=name,
        variants=[
            ProductionVariant(
                variant_name="Current",
                model=model("Current"),
                instance_type="ml.m5.large",
                initial_instance_count=4,
                initial_variant_weight=100,
                autoscaling=baseline,
            ),
            ProductionVariant(
                variant_name="Candidate",
                model=model("Candidate"),
                instance_type="ml.m5.large",
                initial_instance_count=2,
                initial_variant_weight=0,
                autoscaling=canary,
            ),
        ],
        alarms=False,
        dashboard=False,
    )


BASELINE_SCALING = VariantAutoscaling(
    min_capacity=2, max_capacity=10, target_invocations_per_instance=750
)
CANARY_SCALING = VariantAutoscaling(
    min_capacity=1, max_capacity=8, target_invocations_per_instance=750
)


@dataclass
class Synthesized:
    raw: dict[str, Any]
    outdir: Path
    rollout: CanaryRollout
    imported: CanaryRollout


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    outdir = tmp_path_factory.mktemp("rollout-capacity")
    app = cdk.App(outdir=str(outdir))
    add_compliance_checks(app)
    stack = cdk.Stack(app, "Capacity", env=ENV)
    vpc = _vpc(stack)
    # GIVEN an Endpoint whose variants are both autoscaled, and a rollout on it ...
    endpoint = _endpoint(stack, baseline=BASELINE_SCALING, canary=CANARY_SCALING)
    rollout = CanaryRollout(
        stack,
        "Rollout",
        endpoint=endpoint,
        baseline_variant="Current",
        canary_variant="Candidate",
        vpc=vpc,
        dynamodb_prefix_list_id="pl-02cd2c6b",
    )
    # ... and an imported endpoint whose canary is autoscaled
    imported = CanaryRollout(
        stack,
        "Imported",
        endpoint=Endpoint.from_endpoint_name(stack, "Existing", "fraud"),
        baseline_variant="Blue",
        canary_variant="Green",
        vpc=vpc,
        dynamodb_prefix_list_id="pl-02cd2c6b",
        variant_scaling={
            "Green": VariantScalingLimits(min_capacity=1, max_capacity=6, instance_count=1)
        },
    )
    operator = ScopedRole(
        stack, "Operator", assumed_by=iam.AccountRootPrincipal(), description="operator"
    )
    rollout.grant_operate(operator.grantee)
    acknowledge_wildcard_resources(
        operator.policy,
        "execution names are chosen at start time; scalable target ids by Application Auto Scaling",
    )
    # WHEN the app is synthesized with the compliance packs (a finding raises here)
    app.synth()
    raw = json.loads((outdir / "Capacity.template.json").read_text())
    return Synthesized(raw, outdir, rollout, imported)


def _definition(raw: dict[str, Any], prefix: str) -> dict[str, Any]:
    machines = [
        r
        for i, r in raw["Resources"].items()
        if r["Type"] == "AWS::StepFunctions::StateMachine" and i.startswith(prefix)
    ]
    assert len(machines) == 1
    parts = machines[0]["Properties"]["DefinitionString"]["Fn::Join"][1]
    text = "".join(p if isinstance(p, str) else "TOKEN" for p in parts)
    definition: dict[str, Any] = json.loads(text)
    return definition


def _flat_states(definition: dict[str, Any]) -> dict[str, Any]:
    states: dict[str, Any] = {}
    for name, state in definition["States"].items():
        states[name] = state
        for branch in state.get("Branches", []):
            states.update(_flat_states(branch))
    return states


def test_each_step_raises_the_canary_before_its_weights(synthesized: Synthesized) -> None:
    states = _flat_states(_definition(synthesized.raw, "Rollout"))
    # THEN InService -> raise capacity -> ... -> set weights
    assert states[f"{States.BEFORE_UPDATE} InService?"]["Choices"][0]["Next"] == (
        States.RAISE_CAPACITY
    )
    assert states["Capacity Reached?"]["Choices"][1]["Next"] == States.SET_WEIGHTS
    register = states["Raise Canary Limits"]
    assert register["Resource"].endswith("applicationautoscaling:registerScalableTarget")
    assert register["Parameters"] == {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/TOKEN/variant/Candidate",  # the endpoint's name attribute
        "ScalableDimension": SCALABLE_DIMENSION,
        "MinCapacity.$": "$.limits.min",
        "MaxCapacity.$": "$.limits.max",
    }
    # the canary's share of the fleet: both variants' maxima (10 + 8) is the table's last column
    table = states["Capacity Table"]["Parameters"]["table"]
    assert table == capacity_table(18)
    assert (table[50][11], table[5][11], table[100][18]) == (6, 1, 18)
    # the raise of the count alone leaves the weights as they are
    raise_count = states["Raise Canary Count: Call"]["Parameters"]
    assert raise_count["DesiredWeightsAndCapacities"] == [
        {"VariantName": "Candidate", "DesiredInstanceCount.$": "$.capacity.need"}
    ]
    # the limits: MinCapacity to the share, MaxCapacity at least the share, never below the
    # template's
    assert states["Template Limits"]["Parameters"] == {"min": 1, "max": 8}
    assert states["Minimum At Share"]["Parameters"] == {"min.$": "$.capacity.need", "max": 8}


def test_the_endings_restore_counts_and_limits(synthesized: Synthesized) -> None:
    states = _flat_states(_definition(synthesized.raw, "Rollout"))
    # a rollback gives the canary its template count with the weights, then its limits
    rollback = states[f"{States.ROLLBACK_SET_WEIGHTS}: Call"]["Parameters"]
    assert rollback["DesiredWeightsAndCapacities"] == [
        {"VariantName": "Current", "DesiredWeight": 100},
        {"VariantName": "Candidate", "DesiredWeight": 0, "DesiredInstanceCount": 2},
    ]
    assert states["Rollback Took?"]["Choices"][1]["Next"] == States.RESTORE_AFTER_ROLLBACK
    restore = states[States.RESTORE_AFTER_ROLLBACK]["Parameters"]
    assert (restore["MinCapacity"], restore["MaxCapacity"]) == (1, 8)
    # a promotion releases the old baseline's target, gives it its template count, and the
    # canary its template limits
    assert states["More Steps?"]["Default"] == States.RESTORE_AFTER_PROMOTION
    release = states["Release Baseline Scaling"]
    assert release["Resource"].endswith("applicationautoscaling:deregisterScalableTarget")
    assert release["Parameters"]["ResourceId"] == "endpoint/TOKEN/variant/Current"
    assert states["Baseline Count Back: Call"]["Parameters"]["DesiredWeightsAndCapacities"] == [
        {"VariantName": "Current", "DesiredInstanceCount": 4}
    ]
    back = states["Canary Limits Back"]["Parameters"]
    assert (back["MinCapacity"], back["MaxCapacity"]) == (1, 8)


def test_each_restore_after_the_promotion_runs_whatever_became_of_the_one_before(
    synthesized: Synthesized,
) -> None:
    states = _flat_states(_definition(synthesized.raw, "Rollout"))
    # a baseline target that is already gone counts as released ...
    release = states["Release Baseline Scaling"]
    gone, other = release["Catch"]
    assert gone["ErrorEquals"] == ["ApplicationAutoScaling.ObjectNotFoundException"]
    assert gone["Next"] == "Baseline Count Back"
    # ... any other failure is recorded, and the next restore still runs: the canary never
    # keeps the MinCapacity of the 100 % step because the baseline could not be released
    assert other["Next"] == "Release Baseline Scaling Failed"
    assert states["Release Baseline Scaling Failed"]["Next"] == "Baseline Count Back"
    assert states["Release Baseline Scaling Failed"]["Parameters"]["restored"] is False
    assert states["Baseline Count Back Failed"]["Next"] == "Canary Limits Back"
    assert states["Canary Limits Back"]["Catch"][0]["Next"] == "Canary Limits Back Failed"
    assert states["Canary Limits Back Failed"]["Next"] == "Capacity Restored After Promotion"
    # the report starts as restored and only a failure changes it
    assert states[States.RESTORE_AFTER_PROMOTION]["Result"] == {"restored": True}
    assert "Parameters" not in states["Capacity Restored After Promotion"]


def test_a_removed_variant_loses_its_scalable_target_before_the_endpoint_update(
    synthesized: Synthesized,
) -> None:
    """README step 4. CloudFormation deletes a resource removed from the template only in the
    clean-up after every update, so the endpoint update (without the variant) would meet the
    variant's scalable target still registered, which SageMaker refuses. The scalable target
    depends on the endpoint (removing the whole endpoint deletes the target first), and the
    promotion deregisters the old baseline's target, so the update meets none."""
    resources = synthesized.raw["Resources"]
    endpoint_id = next(i for i, r in resources.items() if r["Type"] == "AWS::SageMaker::Endpoint")
    targets = {
        i: r
        for i, r in resources.items()
        if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"
    }
    assert len(targets) == 2
    for target in targets.values():
        assert endpoint_id in json.dumps(
            target["Properties"]["ResourceId"]
        )  # an implicit DependsOn
    states = _flat_states(_definition(synthesized.raw, "Rollout"))
    order: list[str] = []
    name = States.RESTORE_AFTER_PROMOTION
    while name != "Notify Completed" and len(order) < 50:  # the way without errors
        order.append(name)
        state = states[name]
        name = state["Choices"][0]["Next"] if state["Type"] == "Choice" else state["Next"]
    assert order.index("Release Baseline Scaling") < order.index("Baseline Count Back")


def test_the_role_calls_application_auto_scaling_on_scalable_targets_only(
    synthesized: Synthesized,
) -> None:
    policies = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for i, r in synthesized.raw["Resources"].items()
        if r["Type"] == "AWS::IAM::ManagedPolicy" and i.startswith("RolloutRole")
    ]
    statements = [s for p in policies for s in p]
    scaling = [s for s in statements if "application-autoscaling" in json.dumps(s["Action"])]
    assert len(scaling) == 1
    assert sorted(scaling[0]["Action"]) == [
        "application-autoscaling:DeregisterScalableTarget",
        "application-autoscaling:RegisterScalableTarget",
    ]
    resource = json.dumps(scaling[0]["Resource"])
    assert ":application-autoscaling:" in resource
    assert ":scalable-target/*" in resource


def test_the_guard_and_abort_know_the_canary_template_limits(synthesized: Synthesized) -> None:
    resources = synthesized.raw["Resources"]
    machine = next(
        r
        for i, r in resources.items()
        if r["Type"] == "AWS::StepFunctions::StateMachine" and i.startswith("Rollout")
    )
    tags = {t["Key"]: t["Value"] for t in machine["Properties"]["Tags"]}
    assert parse_scaling(tags[TAG_CANARY_SCALING]) == (1, 8, 2)
    guard = next(
        r
        for i, r in resources.items()
        if r["Type"] == "AWS::Lambda::Function" and i.startswith("RolloutGuard")
    )
    assert guard["Properties"]["Environment"]["Variables"]["CANARY_SCALING"] == "1,8,2"


def test_an_imported_endpoint_names_its_autoscaled_variants(synthesized: Synthesized) -> None:
    states = _flat_states(_definition(synthesized.raw, "Imported"))
    assert states["Raise Canary Limits"]["Parameters"]["ResourceId"] == (
        scalable_resource_id("fraud", "Green")
    )
    # the baseline is not autoscaled and its count unknown: nothing to release or set back
    assert "Release Baseline Scaling" not in states
    assert "Baseline Count Back" not in states
    # the fleet table: the canary's maximum (6) and as much again for the unknown baseline
    assert len(states["Capacity Table"]["Parameters"]["table"][0]) == 13


def test_without_autoscaling_the_definition_has_no_capacity_phase(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Plain", env=ENV)
    rollout = CanaryRollout(
        stack,
        "Rollout",
        endpoint=_endpoint(stack),
        baseline_variant="Current",
        canary_variant="Candidate",
        vpc=_vpc(stack),
        instance_scaling=InstanceScaling(max_instances=4),
    )
    assert rollout.node.id == "Rollout"
    app.synth()
    raw = json.loads((tmp_path / "Plain.template.json").read_text())
    states = _flat_states(_definition(raw, "Rollout"))
    assert States.RAISE_CAPACITY not in states
    assert "capacity_before_traffic" not in json.dumps(states["Load Defaults"])


def test_the_history_budget_counts_the_capacity_phases() -> None:
    schedule: dict[str, Any] = {
        "steps": 4,
        "bake_seconds": 600,
        "interval_seconds": 60,
        "max_extensions": 5,
        "max_polls": 60,
    }
    plain = history_events(**schedule)
    with_capacity = history_events(**schedule, capacity=True)
    # one more wait (max_polls polls of 15 events) and 40 events per step and at the end
    assert with_capacity - plain == 5 * (60 * 15 + 40)
    assert with_capacity <= 20_000  # the defaults still fit the budget


def test_template_passes_cfn_lint(synthesized: Synthesized) -> None:
    assert cfn_lint(synthesized.raw, "us-east-1") == []


def test_checkov_finds_no_failed_check(synthesized: Synthesized) -> None:
    assert checkov_failures(synthesized.outdir) == []


# -- rules --------------------------------------------------------------------------------


def _build(**kwargs: Any) -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Rules", env=ENV)
    endpoint = kwargs.pop("endpoint", None) or _endpoint(
        stack, baseline=BASELINE_SCALING, canary=CANARY_SCALING
    )
    CanaryRollout(
        stack,
        "Rollout",
        endpoint=endpoint(stack) if callable(endpoint) else endpoint,
        baseline_variant="Current",
        canary_variant="Candidate",
        vpc=_vpc(stack),
        **kwargs,
    )


def test_fails_when_instance_scaling_meets_an_autoscaled_variant() -> None:
    with pytest.raises(ValueError, match=r"instance_scaling, endpoint.*would undo each other"):
        _build(instance_scaling=InstanceScaling(max_instances=4))


def test_fails_when_instance_scaling_meets_variant_scaling() -> None:
    def imported(stack: cdk.Stack) -> Any:
        return Endpoint.from_endpoint_name(stack, "Existing", "fraud")

    with pytest.raises(ValueError, match=r"instance_scaling, variant_scaling"):
        _build(
            endpoint=imported,
            instance_scaling=InstanceScaling(max_instances=4),
            variant_scaling={
                "Candidate": VariantScalingLimits(min_capacity=1, max_capacity=4, instance_count=1)
            },
        )


def test_fails_when_variant_scaling_is_given_for_an_endpoint() -> None:
    with pytest.raises(ValueError, match=r"variant_scaling, endpoint.*remove variant_scaling"):
        _build(
            variant_scaling={
                "Candidate": VariantScalingLimits(min_capacity=1, max_capacity=4, instance_count=1)
            }
        )


def test_fails_when_variant_scaling_names_another_variant() -> None:
    def imported(stack: cdk.Stack) -> Any:
        return Endpoint.from_endpoint_name(stack, "Existing", "fraud")

    with pytest.raises(ValueError, match=r"variant_scaling.*Other.*must name the baseline"):
        _build(
            endpoint=imported,
            variant_scaling={
                "Other": VariantScalingLimits(min_capacity=1, max_capacity=4, instance_count=1)
            },
        )


@pytest.mark.parametrize(
    ("limits", "argument"),
    [
        (VariantScalingLimits(min_capacity=3, max_capacity=2, instance_count=2), "max_capacity"),
        (VariantScalingLimits(min_capacity=1, max_capacity=4, instance_count=5), "instance_count"),
        (VariantScalingLimits(min_capacity=-1, max_capacity=4, instance_count=1), "min_capacity"),
    ],
)
def test_fails_when_variant_scaling_limits_are_impossible(
    limits: VariantScalingLimits, argument: str
) -> None:
    def imported(stack: cdk.Stack) -> Any:
        return Endpoint.from_endpoint_name(stack, "Existing", "fraud")

    with pytest.raises(ValueError, match=rf"variant_scaling\['Candidate'\]\.{argument}"):
        _build(endpoint=imported, variant_scaling={"Candidate": limits})


def test_fails_when_the_capacity_phases_exceed_the_history_budget() -> None:
    with pytest.raises(ValueError, match=r"history events"):
        _build(steps=[5, 10, 25, 50, 75, 100])
