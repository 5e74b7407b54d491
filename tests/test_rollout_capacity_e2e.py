"""End to end: capacity before traffic, executed by moto's Step Functions with autoscaled variants.

GIVEN a CanaryRollout synthesized for an imported endpoint whose two variants are autoscaled
(``variant_scaling``), moto endpoints whose variants are registered as scalable targets with a
target-tracking policy each (Application Auto Scaling in moto, the aws-sdk tasks run by moto's
Step Functions through the harness's adapter), AWS's stricter behaviour of Application Auto
Scaling and of UpdateEndpointWeightsAndCapacities (``strict_aws.StrictScaling``), traffic and
the evaluator as in ``test_rollout_e2e``; WHEN a healthy, a regressed and a capacity-starved
canary are rolled out (concurrently, steps [50, 100]); THEN no weight moves before the canary
has its share of the fleet (MinCapacity and instance count), and each ending gives the
variants the limits and counts the template says.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from moto import mock_aws
from rollout_harness import (
    ACCOUNT,
    LOCK_TABLE,
    REGION,
    Inbox,
    Outcome,
    RolloutSpec,
    SynthesizedRollout,
    backend_weights,
    clients,
    create_endpoint,
    create_shared,
    create_state_machine,
    find_rollout,
    finish,
    lock_holder,
    patch_moto,
    set_endpoint_status,
    start,
    status_change_event,
    synthesize_rollouts,
)
from strict_aws import (
    Behaviour,
    EndpointUpdate,
    RequestProfile,
    StrictAws,
    StrictScaling,
    StrictTraffic,
    errors_5xx,
    healthy,
)

from canary_evaluator.guard import GuardConfig, guard
from canary_evaluator.rollout_input import history_events
from sagemaker_constructs.rollout.contract import SCALABLE_DIMENSION, scalable_resource_id
from sagemaker_constructs.rollout.props import VariantScalingLimits

BASELINE = "Baseline"
CANARY = "Canary"
TIME_FACTOR = 120.0
FAST = {
    "bake_seconds": 3,
    "interval_seconds": 1,
    "poll_seconds": 1,
    "max_extensions": 2,
    "steps": [50, 100],
}
#: The template's limits (variant_scaling) and the endpoints' starting instance counts.
BASELINE_LIMITS = VariantScalingLimits(min_capacity=1, max_capacity=4, instance_count=2)
CANARY_LIMITS = VariantScalingLimits(min_capacity=1, max_capacity=4, instance_count=1)


def _register_variants(endpoint: str) -> None:
    """Both variants are scalable targets with a target-tracking policy, as the template's."""
    scaling = clients()["application-autoscaling"]
    for variant, limits in ((BASELINE, BASELINE_LIMITS), (CANARY, CANARY_LIMITS)):
        resource_id = scalable_resource_id(endpoint, variant)
        scaling.register_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId=resource_id,
            ScalableDimension=SCALABLE_DIMENSION,
            MinCapacity=limits.min_capacity,
            MaxCapacity=limits.max_capacity,
        )
        scaling.put_scaling_policy(
            PolicyName=f"{variant}-invocations",
            ServiceNamespace="sagemaker",
            ResourceId=resource_id,
            ScalableDimension=SCALABLE_DIMENSION,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 750.0,
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
                },
            },
        )


@dataclass
class Variant:
    """A variant's scalable target (``None``: not registered), policies and instance count."""

    limits: tuple[int, int] | None
    policies: list[str]
    count: int


def variant_state(endpoint: str, variant: str) -> Variant:
    scaling = clients()["application-autoscaling"]
    resource_id = scalable_resource_id(endpoint, variant)
    targets = scaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[resource_id]
    )["ScalableTargets"]
    policies = scaling.describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=resource_id
    )["ScalingPolicies"]
    described = clients()["sagemaker"].describe_endpoint(EndpointName=endpoint)
    (summary,) = [v for v in described["ProductionVariants"] if v["VariantName"] == variant]
    return Variant(
        limits=(targets[0]["MinCapacity"], targets[0]["MaxCapacity"]) if targets else None,
        policies=[p["PolicyName"] for p in policies],
        count=int(summary.get("CurrentInstanceCount", 0)),
    )


@dataclass
class Run:
    outcome: Outcome
    endpoint: str
    updates: list[EndpointUpdate]
    baseline: Variant
    canary: Variant
    #: what the guard did (scenarios that run it)
    guarded: dict[str, Any] | None = None


class World:
    def __init__(self, rollout: SynthesizedRollout, strict: StrictAws, scaling: StrictScaling):
        self.rollout, self.strict, self.scaling = rollout, strict, scaling
        self.evaluator_arn = create_shared()

    def run(
        self,
        name: str,
        profile: RequestProfile,
        *,
        before: Callable[[str], None] | None = None,
        during: Callable[[str, str, Inbox], dict[str, Any]] | None = None,
    ) -> Run:
        endpoint = f"cap-{name}"
        create_endpoint(
            endpoint,
            BASELINE,
            CANARY,
            instances=(BASELINE_LIMITS.instance_count, CANARY_LIMITS.instance_count),
        )
        _register_variants(endpoint)
        if before:
            before(endpoint)
        inbox = Inbox.create(f"cap-topic-{name}")
        definition = self.rollout.definition_for(
            state_machine_name=f"cap-rollout-{name}",
            endpoint_name=endpoint,
            evaluator_arn=self.evaluator_arn,
            topic_arn=inbox.topic_arn,
        )
        machine = create_state_machine(f"cap-rollout-{name}", definition)
        traffic = StrictTraffic(
            self.strict, endpoint, BASELINE, CANARY, profile, backend_weights, rate=5.0, tick=0.1
        )
        if profile is not unjudged:  # a scenario that ends before any evaluation needs none
            traffic.start()
        guarded: dict[str, Any] | None = None
        try:
            execution = start(machine, FAST)
            if during:
                guarded = during(endpoint, execution, inbox)
            outcome = finish(execution, endpoint, inbox)
        finally:
            if traffic.is_alive():
                traffic.stop()
        return Run(
            outcome=outcome,
            endpoint=endpoint,
            updates=self.scaling.updates_of(endpoint),
            baseline=variant_state(endpoint, BASELINE),
            canary=variant_state(endpoint, CANARY),
            guarded=guarded,
        )


def unjudged(percent: float) -> tuple[Behaviour, Behaviour]:
    """The profile of a scenario that ends before any evaluation: no traffic is simulated."""
    return Behaviour(), Behaviour()


def scenario_healthy(world: World) -> Run:
    return world.run("healthy", healthy)


def scenario_regressed(world: World) -> Run:
    return world.run("regressed", errors_5xx(0.2))


def scenario_starved(world: World) -> Run:
    """No second instance can be had for the canary: its 50 % share is out of reach."""

    def no_second_instance(endpoint: str) -> None:
        world.scaling.instance_ceiling[endpoint] = CANARY_LIMITS.instance_count

    return world.run("starved", unjudged, before=no_second_instance)


def scenario_baseline_released(world: World) -> Run:
    """The baseline's scalable target is gone before the promotion (an operator removed it)."""

    def remove_baseline_target(endpoint: str) -> None:
        clients()["application-autoscaling"].deregister_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId=scalable_resource_id(endpoint, BASELINE),
            ScalableDimension=SCALABLE_DIMENSION,
        )

    return world.run("released", healthy, before=remove_baseline_target)


def scenario_stopped_in_capacity(world: World) -> Run:
    """A person stops the execution after the canary's MinCapacity was raised, before any weight
    moved (the endpoint is still updating); the guard runs on the status change."""
    raised = threading.Event()

    def slow_update_after_raise(endpoint: str) -> None:
        def hook(low: int | None, high: int | None) -> None:
            if low is not None and low > CANARY_LIMITS.min_capacity:
                set_endpoint_status(endpoint, "Updating")  # the step waits for InService
                raised.set()

        world.scaling.after_register[scalable_resource_id(endpoint, CANARY)] = hook

    def stop_and_guard(endpoint: str, execution: str, inbox: Inbox) -> dict[str, Any]:
        assert raised.wait(30), "the canary's limits were never raised"
        time.sleep(0.5)
        clients()["stepfunctions"].stop_execution(executionArn=execution, error="Stopped")
        finish(execution, endpoint, None)
        set_endpoint_status(endpoint, "InService")  # the update it waited for is done
        config = GuardConfig(
            endpoint,
            BASELINE,
            CANARY,
            LOCK_TABLE,
            inbox.topic_arn,
            "ns",
            "RollbackFailed-x",
            canary_scaling=(
                CANARY_LIMITS.min_capacity,
                CANARY_LIMITS.max_capacity,
                CANARY_LIMITS.instance_count,
            ),
        )
        names = ("sagemaker", "dynamodb", "sns", "cloudwatch", "stepfunctions")
        return guard(
            status_change_event(execution),
            config,
            clients={n: clients()[n] for n in (*names, "application-autoscaling")},
            sleep=time.sleep,
        )

    return world.run("stopped", unjudged, before=slow_update_after_raise, during=stop_and_guard)


SCENARIOS: dict[str, Callable[[World], Run]] = {
    "healthy": scenario_healthy,
    "released": scenario_baseline_released,
    "regressed": scenario_regressed,
    "starved": scenario_starved,
    "stopped": scenario_stopped_in_capacity,
}


class Runs(dict[str, Run]):
    def __init__(self) -> None:
        super().__init__()
        self.errors: dict[str, Exception] = {}

    def __missing__(self, key: str) -> Run:
        raise AssertionError(f"scenario {key!r} did not complete; harness errors: {self.errors!r}")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    spec = RolloutSpec(
        "Autoscaled",
        "capacity-endpoint",
        variant_scaling={BASELINE: BASELINE_LIMITS, CANARY: CANARY_LIMITS},
    )
    template = synthesize_rollouts(
        str(tmp_path_factory.mktemp("rollout-capacity-e2e")),
        "RolloutCapacityE2E",
        (spec,),
        baseline=BASELINE,
        canary=CANARY,
    )
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
    mock.start()
    strict = StrictAws(factor=TIME_FACTOR)
    scaling = StrictScaling(ACCOUNT, REGION)
    undo = patch_moto(strict.handler)
    undo_scaling = scaling.install()
    try:
        world = World(find_rollout(template, "Autoscaled", "capacity-endpoint"), strict, scaling)
        results = Runs()

        def run(item: tuple[str, Callable[[World], Run]]) -> None:
            key, scenario = item
            try:
                results[key] = scenario(world)
            except Exception as error:  # reported by the tests that need this scenario
                results.errors[key] = error

        with ThreadPoolExecutor(max_workers=len(SCENARIOS)) as pool:
            list(pool.map(run, SCENARIOS.items()))
        yield results
    finally:
        undo_scaling()
        undo()
        mock.stop()


def _share(counts: dict[str, int], percent: float) -> int:
    """The canary's share of a fleet: ceil(fleet x percent / 100)."""
    return math.ceil(sum(counts.values()) * percent / 100)


def _weight_moves(run: Run) -> list[EndpointUpdate]:
    """The updates that raised the canary's weight."""
    moves = []
    last = 0.0
    for update in run.updates:
        weight = update.weights.get(CANARY, 0.0)
        if update.applied and weight > last:
            moves.append(update)
        if update.applied:
            last = weight
    return moves


def _entered_order(outcome: Outcome, *names: str) -> list[tuple[int, str]]:
    return [
        (i, str(event["stateEnteredEventDetails"]["name"]))
        for i, event in enumerate(outcome.history)
        if event.get("stateEnteredEventDetails", {}).get("name") in names
    ]


def test_a_healthy_canary_gets_its_share_before_each_step_and_is_promoted(runs: Runs) -> None:
    run = runs["healthy"]
    outcome = run.outcome
    assert outcome.status == "SUCCEEDED", (outcome.error, outcome.cause)
    assert outcome.weights == {BASELINE: 0.0, CANARY: 100.0}
    moves = _weight_moves(run)
    assert [m.weights[CANARY] for m in moves] == [50.0, 100.0]
    # before the 50 % weights moved: the canary's MinCapacity and instance count were at least
    # ceil(fleet x 50 / 100) of the 3 instances both variants ran (2 + 1)
    fifty = moves[0]
    need = _share({BASELINE: 2, CANARY: 1}, 50)
    assert need == 2
    assert fifty.limits[CANARY][0] >= need
    assert fifty.counts[CANARY] >= need
    # ... set by the rollout itself: an instance-count update without weights came first
    raise_count = run.updates[run.updates.index(fifty) - 1]
    assert raise_count.asked == {CANARY: {"VariantName": CANARY, "DesiredInstanceCount": need}}
    assert raise_count.weights == {BASELINE: 100.0, CANARY: 0.0}
    # 100 %: the canary gets the whole fleet both variants ran during the 50 % step (2 + 2)
    hundred = moves[1]
    need = _share(fifty.counts, 100)
    assert need == 4
    assert hundred.limits[CANARY][0] >= need
    assert hundred.counts[CANARY] >= need
    # the history agrees: each step's RegisterScalableTarget succeeded before its weights
    order = _entered_order(outcome, "Raise Canary Limits", "Set Weights")
    assert [name for _, name in order] == ["Raise Canary Limits", "Set Weights"] * 2
    registered = [
        i
        for i, event in enumerate(outcome.history)
        if event["type"] == "TaskSucceeded"
        and event["taskSucceededEventDetails"]["resource"] == "registerScalableTarget"
    ]
    set_weights_entered = [i for i, name in order if name == "Set Weights"]
    assert len(registered) >= 2
    assert registered[0] < set_weights_entered[0]
    assert registered[1] < set_weights_entered[1]
    # after the promotion: the canary's limits are the template's again (its policy kept),
    # the old baseline's scalable target is deregistered (its policy with it) and the old
    # baseline runs its template count
    assert run.canary.limits == (CANARY_LIMITS.min_capacity, CANARY_LIMITS.max_capacity)
    assert run.canary.policies == [f"{CANARY}-invocations"]
    assert run.baseline.limits is None
    assert run.baseline.policies == []
    assert run.baseline.count == BASELINE_LIMITS.instance_count
    assert outcome.output["capacity"] == {"restored": True}
    assert outcome.task_errors() == []
    # the notifications tell the capacity phase: announced at the start, and the share the
    # canary got before the 50 % step when it passed
    (started,) = [m for m in outcome.messages if m["event"] == "ROLLOUT_STARTED"]
    assert started["phases"] == {"capacity_before_traffic": True}
    (advanced,) = [m for m in outcome.messages if m["event"] == "STEP_ADVANCED"]
    assert advanced["capacity"] == {"fleet": 3, "need": 2, "raised": True}
    # the worst case the input validation computes bounds the capacity phases too
    worst = history_events(
        steps=2, bake_seconds=3, interval_seconds=1, max_extensions=2, max_polls=60, capacity=True
    )
    assert len(outcome.history) <= worst


def test_a_regressed_canary_is_rolled_back_with_its_template_limits_and_count(
    runs: Runs,
) -> None:
    run = runs["regressed"]
    outcome = run.outcome
    assert outcome.status == "FAILED"
    assert outcome.error == "CanaryRolledBack", outcome.cause
    assert "at the 50% step" in (outcome.cause or "")
    assert outcome.weights == {BASELINE: 100.0, CANARY: 0.0}
    # it had been given its share before the 50 % step ...
    (fifty,) = _weight_moves(run)
    assert fifty.limits[CANARY][0] >= 2
    assert fifty.counts[CANARY] >= 2
    # ... and gets the template's limits and count back, its policy kept
    assert run.canary.limits == (CANARY_LIMITS.min_capacity, CANARY_LIMITS.max_capacity)
    assert run.canary.count == CANARY_LIMITS.instance_count
    assert run.canary.policies == [f"{CANARY}-invocations"]
    # the baseline's autoscaling is untouched
    assert run.baseline.limits == (BASELINE_LIMITS.min_capacity, BASELINE_LIMITS.max_capacity)
    assert run.baseline.policies == [f"{BASELINE}-invocations"]
    rolled_back = outcome.messages[-1]
    assert rolled_back["event"] == "ROLLED_BACK"
    assert rolled_back["capacity"] == {"restored": True}


def test_a_canary_that_cannot_reach_its_share_rolls_back_before_its_weight_moves(
    runs: Runs,
) -> None:
    run = runs["starved"]
    outcome = run.outcome
    assert outcome.status == "FAILED"
    assert outcome.error == "CanaryRolledBack", outcome.cause
    assert "CapacityNotReached" in (outcome.cause or ""), outcome.cause
    assert "before the 50% step the canary Canary runs [1] instance(s)" in (outcome.cause or "")
    # traffic never moved: every applied update left the canary at weight 0
    assert all(u.weights[CANARY] == 0.0 for u in run.updates if u.applied)
    assert outcome.entered("Set Weights") == 0
    assert outcome.entered("Evaluate") == 0
    # the instances were asked for once, refused by SageMaker (endpoint InService again)
    refused = [u for u in run.updates if not u.applied]
    assert [u.asked for u in refused] == [
        {CANARY: {"VariantName": CANARY, "DesiredInstanceCount": 2}}
    ]
    assert outcome.weights == {BASELINE: 100.0, CANARY: 0.0}
    assert run.canary.limits == (CANARY_LIMITS.min_capacity, CANARY_LIMITS.max_capacity)
    assert run.canary.count == CANARY_LIMITS.instance_count
    assert run.canary.policies == [f"{CANARY}-invocations"]


def test_a_baseline_target_already_gone_still_restores_the_canary_limits(runs: Runs) -> None:
    run = runs["released"]
    outcome = run.outcome
    assert outcome.status == "SUCCEEDED", (outcome.error, outcome.cause)
    assert outcome.task_errors() == ["ApplicationAutoScaling.ObjectNotFoundException"]
    assert outcome.output["capacity"] == {"restored": True}
    assert run.baseline.limits is None
    assert run.baseline.count == BASELINE_LIMITS.instance_count
    # the canary does not keep the whole fleet as its minimum
    assert run.canary.limits == (CANARY_LIMITS.min_capacity, CANARY_LIMITS.max_capacity)


def test_a_stop_in_the_capacity_phase_is_undone_by_the_guard(runs: Runs) -> None:
    run = runs["stopped"]
    assert run.outcome.status == "ABORTED"
    assert run.outcome.entered("Set Weights") == 0  # stopped before any weight moved ...
    assert run.outcome.entered("Raise Canary Limits") == 1  # ... with the canary raised
    assert run.guarded is not None
    assert "already on the baseline" in run.guarded["action"], run.guarded
    assert "limits_error" not in run.guarded
    assert run.outcome.weights == {BASELINE: 100.0, CANARY: 0.0}
    assert run.canary.limits == (CANARY_LIMITS.min_capacity, CANARY_LIMITS.max_capacity)
    assert run.canary.count == CANARY_LIMITS.instance_count
    assert run.canary.policies == [f"{CANARY}-invocations"]
    assert lock_holder(run.endpoint) is None


def test_register_scalable_target_is_as_strict_as_aws(runs: Runs) -> None:
    """The strict layer itself: min above max is refused as Step Functions would name it."""
    import boto3
    from botocore.exceptions import ClientError

    scaling = boto3.client("application-autoscaling", region_name=REGION)
    resource_id = scalable_resource_id(runs["healthy"].endpoint, CANARY)
    with pytest.raises(ClientError) as raised:
        scaling.register_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId=resource_id,
            ScalableDimension=SCALABLE_DIMENSION,
            MinCapacity=5,
        )
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert variant_state(runs["healthy"].endpoint, CANARY).limits == (1, 4)
