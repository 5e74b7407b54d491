"""End to end: the synthesized CanaryRollout state machine, executed by moto's Step Functions.

GIVEN the definition that ``CanaryRollout`` synthesizes (read from the template, tokens resolved
to moto resources), moto SageMaker endpoints with two variants, CloudWatch metrics put by a
traffic simulator that splits requests by the endpoint's current weights, and the evaluator's
real handler; WHEN rollouts run (all scenarios concurrently, short intervals from the execution
input); THEN the endpoint ends where the behaviour contract says and the execution reports it.

AWS is modelled as strictly as AWS behaves (tests/strict_aws.py): time is compressed (one
real second is two simulated minutes, the simulated clock not on a minute boundary), CloudWatch
rounds StartTime down to the period, publishes with a delay and computes p99 from individual
requests, and every evaluator answer is checked against Step Functions' 256 KiB limit. So the
executions run the construct's DEFAULT policy (p99, alpha 0.05, 100 canary invocations): the
execution input only shortens the schedule (bake 3 s = 6 simulated minutes, interval 1 s).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest
from moto import mock_aws
from moto.core.exceptions import JsonRESTError
from moto.sagemaker.models import SageMakerModelBackend
from rollout_harness import (
    LOCK_TABLE,
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
    history,
    invocations_for,
    lock_holder,
    patch_moto,
    set_endpoint_status,
    start,
    status_change_event,
    synthesize_rollouts,
)
from strict_aws import (
    HISTORY_LIMIT,
    Behaviour,
    RequestProfile,
    StrictAws,
    StrictTraffic,
    errors_5xx,
    healthy,
    slow_from,
)

from canary_evaluator.guard import GuardConfig, guard
from canary_evaluator.rollout_input import history_events
from sagemaker_constructs.rollout.contract import LOCK_HOLDER, LOCK_KEY

BASELINE = "Baseline"
CANARY = "Canary"
#: One real second is this many simulated seconds.
TIME_FACTOR = 120.0
#: The schedule in real seconds; the policy is the construct's default.
FAST = {"bake_seconds": 3, "interval_seconds": 1, "poll_seconds": 1, "max_extensions": 2}


def no_canary_traffic(percent: float) -> tuple[Behaviour, Behaviour]:
    return Behaviour(), Behaviour()


def _synthesize(outdir: str) -> dict[str, Any]:
    specs = (
        RolloutSpec("Rollout", "e2e-endpoint"),
        RolloutSpec("Gated", "e2e-gated-endpoint", (50,)),
    )
    return synthesize_rollouts(outdir, "RolloutE2E", specs, baseline=BASELINE, canary=CANARY)


class World:
    """Shared moto resources; ``scenario`` builds one isolated endpoint + state machine."""

    def __init__(self, template: dict[str, Any], strict: StrictAws) -> None:
        self.strict = strict
        self.rollout = find_rollout(template, "Rollout", "e2e-endpoint")
        self.gated = find_rollout(template, "Gated", "e2e-gated-endpoint")
        self.evaluator_arn = create_shared()
        self.throttles: dict[str, int] = {}
        self.deny_after: dict[str, int] = {}  # endpoint -> successful updates before AccessDenied
        self.guard_results: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def scenario(self, name: str, rollout: SynthesizedRollout) -> tuple[str, str, Inbox]:
        endpoint = f"ep-{name}"
        create_endpoint(endpoint, BASELINE, CANARY)
        inbox = Inbox.create(f"topic-{name}")
        definition = rollout.definition_for(
            state_machine_name=f"rollout-{name}",
            endpoint_name=endpoint,
            evaluator_arn=self.evaluator_arn,
            topic_arn=inbox.topic_arn,
            approval_queue=inbox.approval_queue,
        )
        return create_state_machine(f"rollout-{name}", definition), endpoint, inbox


def _run(
    world: World,
    name: str,
    profile: RequestProfile,
    execution_input: Any,
    *,
    rollout: SynthesizedRollout | None = None,
    before: Callable[[str], None] | None = None,
    during: Callable[[str, Inbox], None] | None = None,
) -> Outcome:
    machine, endpoint, inbox = world.scenario(name, rollout or world.rollout)
    if before:
        before(endpoint)
    split = backend_weights
    if profile is no_canary_traffic:  # the canary's weight serves nobody

        def split(endpoint_name: str) -> dict[str, float]:
            return {BASELINE: 100.0, CANARY: 0.0}

    traffic = StrictTraffic(
        world.strict, endpoint, BASELINE, CANARY, profile, split, rate=20.0, tick=0.05
    )
    traffic.start()
    try:
        execution = start(machine, execution_input)
        if during:
            during(machine, inbox)
        return finish(execution, endpoint, inbox)
    finally:
        traffic.stop()


# -- scenarios (each returns its Outcome; they run concurrently) -----------------------------


def scenario_healthy(world: World) -> dict[str, Outcome]:
    second: dict[str, Outcome] = {}

    def start_a_second_one(machine: str, inbox: Inbox) -> None:
        deadline = time.monotonic() + 30
        while lock_holder("ep-healthy") is None:  # once the first one holds the lock
            assert time.monotonic() < deadline, "the first execution never took the lock"
            time.sleep(0.1)
        execution = start(machine, FAST)
        second["outcome"] = finish(execution, "ep-healthy", None, timeout=20)

    first = _run(world, "healthy", healthy, FAST, during=start_a_second_one)
    return {"healthy": first, "second": second["outcome"]}


def scenario_simultaneous(world: World) -> dict[str, Outcome]:
    """Two executions of one rollout started at the same instant: one takes the lock."""
    machine, endpoint, inbox = world.scenario("twins", world.rollout)
    traffic = StrictTraffic(world.strict, endpoint, BASELINE, CANARY, healthy, backend_weights)
    traffic.start()
    barrier = threading.Barrier(2)

    def go(_: int) -> str:
        barrier.wait()
        return start(machine, FAST)

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            first, second = pool.map(go, (1, 2))
        return {
            "twin_a": finish(first, endpoint, inbox),
            "twin_b": finish(second, endpoint, None),
        }
    finally:
        traffic.stop()


def scenario_stale_lock(world: World) -> dict[str, Outcome]:
    """The lock is held by an execution that no longer runs (it died without releasing)."""
    machine, endpoint, inbox = world.scenario("stale", world.rollout)
    dead = start(machine, {"stepz": [1]})  # fails at once: it never takes the lock
    finish(dead, endpoint, None)
    clients()["dynamodb"].put_item(
        TableName=LOCK_TABLE,
        Item={LOCK_KEY: {"S": endpoint}, LOCK_HOLDER: {"S": dead}},
    )
    traffic = StrictTraffic(world.strict, endpoint, BASELINE, CANARY, healthy, backend_weights)
    traffic.start()
    try:
        return {"stale_lock": finish(start(machine, {**FAST, "steps": [50, 100]}), endpoint, inbox)}
    finally:
        traffic.stop()


def scenario_stopped(world: World) -> dict[str, Outcome]:
    """A person presses "Stop execution" mid-rollout: no state of the machine runs again, and
    the guard (invoked by the execution's status change) restores the baseline."""
    machine, endpoint, inbox = world.scenario("stopped", world.rollout)
    traffic = StrictTraffic(world.strict, endpoint, BASELINE, CANARY, healthy, backend_weights)
    traffic.start()
    try:
        execution = start(machine, {**FAST, "bake_seconds": 30})
        deadline = time.monotonic() + 30
        while backend_weights(endpoint).get(CANARY, 0.0) == 0.0:
            assert time.monotonic() < deadline, "the canary never took traffic"
            time.sleep(0.2)
        clients()["stepfunctions"].stop_execution(executionArn=execution, error="Stopped")
        stopped = finish(execution, endpoint, None)
        config = GuardConfig(
            endpoint, BASELINE, CANARY, LOCK_TABLE, inbox.topic_arn, "ns", "RollbackFailed-x"
        )
        names = ("sagemaker", "dynamodb", "sns", "cloudwatch", "stepfunctions")
        world.guard_results[endpoint] = guard(
            status_change_event(execution),
            config,
            clients={n: clients()[n] for n in names},
            sleep=time.sleep,
        )
        return {"stopped_before_guard": stopped, "stopped": finish(execution, endpoint, inbox)}
    finally:
        traffic.stop()


def scenario_5xx(world: World) -> dict[str, Outcome]:
    return {"5xx": _run(world, "errors", errors_5xx(0.2), FAST)}


def scenario_latency(world: World) -> dict[str, Outcome]:
    return {"latency": _run(world, "slow", slow_from(25, 3.0), FAST)}


def scenario_no_traffic(world: World) -> dict[str, Outcome]:
    return {"no_traffic": _run(world, "quiet", no_canary_traffic, FAST)}


def scenario_updating(world: World) -> dict[str, Outcome]:
    def updating(endpoint: str) -> None:
        set_endpoint_status(endpoint, "Updating")

    def in_service_later(machine: str, inbox: Inbox) -> None:
        # flip to InService once the execution has seen "Updating" and waited twice
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            executions = clients()["stepfunctions"].list_executions(stateMachineArn=machine)
            runs = [history(e["executionArn"]) for e in executions["executions"]]
            if any(Outcome.count_entered(h, "Before Update Wait") >= 2 for h in runs):
                break
            time.sleep(0.2)
        set_endpoint_status("ep-updating", "InService")

    return {
        "updating": _run(
            world,
            "updating",
            healthy,
            {**FAST, "steps": [50, 100]},
            before=updating,
            during=in_service_later,
        )
    }


def scenario_throttled(world: World) -> dict[str, Outcome]:
    def throttle(endpoint: str) -> None:
        with world.lock:
            world.throttles[endpoint] = 2

    return {
        "throttled": _run(
            world, "throttled", healthy, {**FAST, "steps": [50, 100]}, before=throttle
        )
    }


def scenario_rollback_fails(world: World) -> dict[str, Outcome]:
    def revoke_after_first_update(endpoint: str) -> None:
        with world.lock:
            world.deny_after[endpoint] = 1

    return {
        "rollback_failed": _run(
            world, "denied", errors_5xx(0.2), FAST, before=revoke_after_first_update
        )
    }


def _approval(decision: str) -> Callable[[str, Inbox], None]:
    def decide(machine: str, inbox: Inbox) -> None:
        inbox.wait_for("APPROVAL_REQUIRED")  # the notification: no token
        request = inbox.approval_request()  # the token travels in the approval queue only
        time.sleep(1.0)  # the execution must be waiting, not moving on
        sfn = clients()["stepfunctions"]
        if decision == "approve":
            sfn.send_task_success(taskToken=request["task_token"], output="true")
        else:
            sfn.send_task_failure(
                taskToken=request["task_token"], error="Rejected", cause="dashboards look off"
            )

    return decide


def scenario_approved(world: World) -> dict[str, Outcome]:
    return {
        "approved": _run(
            world,
            "approved",
            healthy,
            {**FAST, "steps": [25, 50, 100]},
            rollout=world.gated,
            during=_approval("approve"),
        )
    }


def scenario_rejected(world: World) -> dict[str, Outcome]:
    return {
        "rejected": _run(
            world,
            "rejected",
            healthy,
            {**FAST, "steps": [25, 50, 100]},
            rollout=world.gated,
            during=_approval("reject"),
        )
    }


def scenario_invalid(world: World) -> dict[str, Outcome]:
    return {
        "bad_steps": _run(world, "badsteps", healthy, {**FAST, "steps": [5, 50]}),
        "bad_interval": _run(
            world, "badinterval", healthy, {**FAST, "bake_seconds": 2, "interval_seconds": 5}
        ),
        "bad_policy": _run(
            world,
            "badpolicy",
            healthy,
            {**FAST, "policy": {"latency": {"statistic": "p101"}}},
        ),
        "typo": _run(world, "typo", healthy, {**FAST, "stepz": [10, 100]}),
        "steps_text": _run(world, "stepstext", healthy, {**FAST, "steps": "10,50,100"}),
        "not_an_object": _run(world, "list", healthy, [10, 50, 100]),
        "history": _run(world, "history", healthy, {**FAST, "bake_seconds": 86400}),
    }


SCENARIOS = (
    scenario_healthy,
    scenario_simultaneous,
    scenario_stale_lock,
    scenario_stopped,
    scenario_5xx,
    scenario_latency,
    scenario_no_traffic,
    scenario_updating,
    scenario_throttled,
    scenario_approved,
    scenario_rejected,
    scenario_invalid,
    scenario_rollback_fails,
)


class Outcomes(dict[str, Outcome]):
    """Scenario outcomes by key; a scenario whose driver failed is reported, not hidden."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: dict[str, Exception] = {}
        self.violations: list[str] = []

    def __missing__(self, key: str) -> Outcome:
        raise AssertionError(f"scenario {key!r} did not complete; harness errors: {self.errors!r}")


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcomes]:
    template = _synthesize(str(tmp_path_factory.mktemp("rollout-e2e")))
    # moto's interpreter logs every caught error with the full state tree: keep the output readable
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
    mock.start()
    strict = StrictAws(factor=TIME_FACTOR)
    undo = patch_moto(strict.handler)
    original_update = SageMakerModelBackend.update_endpoint_weights_and_capacities
    try:
        world = World(template, strict)

        def update(self: Any, endpoint_name: str, desired_weights_and_capacities: Any) -> str:
            with world.lock:
                left = world.throttles.get(endpoint_name, 0)
                if left:
                    world.throttles[endpoint_name] = left - 1
                allowed = world.deny_after.get(endpoint_name)
                if allowed is not None:
                    world.deny_after[endpoint_name] = allowed - 1
            if left:
                raise JsonRESTError("ThrottlingException", "Rate exceeded")
            if allowed is not None and allowed <= 0:
                raise JsonRESTError(
                    "AccessDeniedException", "not authorized to perform this action"
                )
            return str(original_update(self, endpoint_name, desired_weights_and_capacities))

        SageMakerModelBackend.update_endpoint_weights_and_capacities = update  # type: ignore[method-assign]
        results = Outcomes()

        def run(scenario: Callable[[World], dict[str, Outcome]]) -> None:
            try:
                results.update(scenario(world))
            except Exception as error:  # reported by the tests that need this scenario
                results.errors[scenario.__name__] = error

        with ThreadPoolExecutor(max_workers=len(SCENARIOS)) as pool:
            list(pool.map(run, SCENARIOS))
        results.violations = strict.violations
        yield results
    finally:
        SageMakerModelBackend.update_endpoint_weights_and_capacities = original_update  # type: ignore[method-assign]
        undo()
        mock.stop()


def _steps(outcome: Outcome) -> list[dict[str, Any]]:
    assert outcome.output is not None, (outcome.status, outcome.error, outcome.cause)
    steps: list[dict[str, Any]] = outcome.output["steps"]
    return steps


def test_healthy_canary_reaches_100_percent_and_summarises_every_step(
    outcomes: Outcomes,
) -> None:
    outcome = outcomes["healthy"]
    assert outcome.status == "SUCCEEDED", (outcome.error, outcome.cause)
    assert outcome.weights == {BASELINE: 0.0, CANARY: 100.0}
    steps = _steps(outcome)
    assert [s["percent"] for s in steps] == [5, 25, 50, 100]
    assert {s["verdict"] for s in steps} == {"PASS"}
    assert all(s["evaluations"] >= 3 for s in steps)  # bake 3 s / interval 1 s
    assert all(s["reasons"] for s in steps)
    assert [s["baseline_source"] for s in steps[:-1]] == ["live"] * 3
    # 100 %: every evaluation carries the baseline figures of the last evaluation that had
    # live baseline traffic (the 50 % step's) as baseline_reference
    calls = invocations_for("ep-healthy")
    per_step = [s["evaluations"] for s in steps]
    # preflight + every step's evaluations (3 per bake; one more when a slow traffic
    # simulator leaves a window INCONCLUSIVE and the bake is extended)
    assert len(calls) == 1 + sum(per_step)
    first_step_end = 1 + per_step[0]
    assert all("baseline_reference" not in event for event, _ in calls[:first_step_end])
    last_at_50 = calls[first_step_end + per_step[1] + per_step[2] - 1][1]
    assert last_at_50 is not None
    assert last_at_50["baseline_source"] == "live"
    at_100 = calls[len(calls) - per_step[3] :]
    for event, answer in at_100:
        assert event["baseline_reference"] == last_at_50["baseline_summary"]
        assert event["baseline_weight"] == 0
        assert answer is not None
        assert answer["verdict"] != "FAIL"
        # the baseline's stray last requests never count as a live baseline at 100 %
        assert answer["baseline_source"] == "reference"
    assert at_100[-1][1] is not None
    assert at_100[-1][1]["verdict"] == "PASS"
    # every step was judged on whole periods of its own weights, with the default p99
    for event, answer in calls[1:]:
        assert answer is not None
        assert "policy" not in event or "latency" not in event["policy"]
        periods_start = datetime.fromisoformat(answer["periods_start"])
        assert periods_start >= datetime.fromisoformat(answer["window_start"])
        assert periods_start.second == 0
    assert outcomes.violations == []
    assert outcome.events == [
        "ROLLOUT_STARTED",
        "STEP_ADVANCED",
        "STEP_ADVANCED",
        "STEP_ADVANCED",
        "ROLLOUT_COMPLETED",
    ]


def test_a_second_execution_fails_fast_while_one_is_running(
    outcomes: Outcomes,
) -> None:
    second = outcomes["second"]
    assert second.status == "FAILED"
    assert second.error == "RolloutAlreadyRunning"
    assert "only one rollout per endpoint" in (second.cause or "")
    assert second.entered("Set Weights") == 0
    # ... and the first one was not disturbed
    assert outcomes["healthy"].status == "SUCCEEDED"


def test_5xx_regression_at_the_first_step_rolls_back_to_the_baseline(
    outcomes: Outcomes,
) -> None:
    outcome = outcomes["5xx"]
    assert outcome.status == "FAILED"
    assert outcome.error == "CanaryRolledBack"
    assert outcome.weights == {BASELINE: 100.0, CANARY: 0.0}
    assert "at the 5% step" in (outcome.cause or "")
    assert "error_rate" in (outcome.cause or "")
    # FAIL -> roll back at once: the first FAIL verdict is the last evaluation of the rollout
    verdicts = [answer["verdict"] for _, answer in invocations_for("ep-errors")[1:] if answer]
    assert verdicts[-1] == "FAIL"
    assert "FAIL" not in verdicts[:-1]
    assert outcome.entered("Evaluate") == len(verdicts)
    assert f"(evaluation {len(verdicts)})" in (outcome.cause or "")
    assert outcome.entered("Step Passed") == 0
    assert outcome.events == ["ROLLOUT_STARTED", "ROLLED_BACK"]
    rolled_back = outcome.messages[-1]
    assert "error_rate" in rolled_back["reason"]


def test_latency_regression_at_a_later_step_rolls_back(outcomes: Outcomes) -> None:
    outcome = outcomes["latency"]
    assert outcome.status == "FAILED"
    assert outcome.error == "CanaryRolledBack"
    assert "at the 25% step" in (outcome.cause or "")
    assert "latency" in (outcome.cause or "")
    assert outcome.weights == {BASELINE: 100.0, CANARY: 0.0}
    assert outcome.events == ["ROLLOUT_STARTED", "STEP_ADVANCED", "ROLLED_BACK"]


def test_no_canary_traffic_extends_the_bake_then_rolls_back(outcomes: Outcomes) -> None:
    outcome = outcomes["no_traffic"]
    assert outcome.status == "FAILED"
    assert outcome.error == "CanaryRolledBack"
    assert "INCONCLUSIVE" in (outcome.cause or "")
    assert "2 extension(s)" in (outcome.cause or "")
    assert outcome.entered("Extend Bake") == 2
    assert outcome.entered("Evaluate") == 5  # 3 in the bake + 2 extensions
    assert outcome.weights == {BASELINE: 100.0, CANARY: 0.0}


def test_an_updating_endpoint_is_waited_for_before_weights_change(
    outcomes: Outcomes,
) -> None:
    outcome = outcomes["updating"]
    assert outcome.status == "SUCCEEDED", (outcome.error, outcome.cause)
    assert outcome.entered("Before Update Wait") >= 2
    assert outcome.entered("Set Weights") == 2  # not before the endpoint was InService
    assert outcome.weights == {BASELINE: 0.0, CANARY: 100.0}


def test_throttled_weight_updates_are_retried(outcomes: Outcomes) -> None:
    outcome = outcomes["throttled"]
    assert outcome.status == "SUCCEEDED", (outcome.error, outcome.cause)
    # SageMaker models no throttling error: it arrives as SageMakerException, "Rate exceeded"
    assert outcome.task_errors().count("SageMaker.SageMakerException") == 2
    assert [s["percent"] for s in _steps(outcome)] == [50, 100]


def test_manual_approval_waits_then_continues_when_approved(
    outcomes: Outcomes,
) -> None:
    outcome = outcomes["approved"]
    assert outcome.status == "SUCCEEDED", (outcome.error, outcome.cause)
    assert outcome.events.count("APPROVAL_REQUIRED") == 1
    approval = next(m for m in outcome.messages if m.get("event") == "APPROVAL_REQUIRED")
    assert approval["next_percent"] == 50
    assert "sagemaker-rollout approve" in approval["how"]
    # the topic's notification carries no token: the approval queue's request does
    assert "task_token" not in approval
    assert not any("task_token" in message for message in outcome.messages)
    (request,) = outcome.approval_requests
    assert request["event"] == "APPROVAL_REQUIRED"
    assert request["next_percent"] == 50
    assert ":execution:rollout-approved:" in request["execution_arn"]
    assert request["task_token"]
    assert [s["percent"] for s in _steps(outcome)] == [25, 50, 100]


def test_manual_rejection_rolls_back(outcomes: Outcomes) -> None:
    outcome = outcomes["rejected"]
    assert outcome.status == "FAILED"
    assert outcome.error == "CanaryRolledBack"
    assert "approval before the 50% step" in (outcome.cause or "")
    assert "Rejected" in (outcome.cause or "")
    assert outcome.weights == {BASELINE: 100.0, CANARY: 0.0}


def test_invalid_execution_input_fails_before_traffic_moves(
    outcomes: Outcomes,
) -> None:
    for key, expected in (
        ("bad_steps", "steps: got [5, 50]"),
        ("bad_interval", "interval_seconds: got 5; allowed: at most bake_seconds (2)"),
        ("bad_policy", "latency.statistic"),
        ("typo", "stepz: unknown key"),
        ("steps_text", "steps: got '10,50,100'"),
        ("not_an_object", "allowed: a JSON object"),
        ("history", "history events in the worst case"),
    ):
        outcome = outcomes[key]
        assert outcome.status == "FAILED"
        assert outcome.error == "InvalidInput"
        assert expected in (outcome.cause or ""), outcome.cause
        assert outcome.entered("Check Lock") == 0  # before the lock ...
        assert outcome.entered("Set Weights") == 0  # ... and before any weight change
        assert outcome.weights == {BASELINE: 100.0, CANARY: 0.0}


def test_a_rollback_that_cannot_complete_fails_distinctly_and_critically(
    outcomes: Outcomes,
) -> None:
    outcome = outcomes["rollback_failed"]
    assert outcome.status == "FAILED"
    assert outcome.error == "RollbackFailed"
    assert "ROLLBACK FAILED" in (outcome.cause or "")
    assert "SageMaker.SageMakerException" in (outcome.cause or "")
    assert "not authorized" in (outcome.cause or "")
    # access denied is not worth retrying: one attempt, straight to the critical ending
    assert outcome.task_errors().count("SageMaker.SageMakerException") == 1
    assert "error_rate" in (outcome.cause or "")  # why the rollback was started
    assert outcome.weights == {BASELINE: 95.0, CANARY: 5.0}  # the canary still serves
    assert outcome.events == ["ROLLOUT_STARTED", "ROLLBACK_FAILED"]
    assert outcome.messages[-1]["severity"] == "CRITICAL"
    # the lock stays: no rollout may start on an endpoint in this state (the guard takes it
    # over, restores the baseline and releases it)
    assert outcome.lock_holder is not None
    assert ":execution:rollout-denied:" in outcome.lock_holder


def test_two_executions_started_at_the_same_instant_never_both_move_weights(
    outcomes: Outcomes,
) -> None:
    twins = [outcomes["twin_a"], outcomes["twin_b"]]
    moved = [t for t in twins if t.entered("Set Weights")]
    blocked = [t for t in twins if not t.entered("Set Weights")]
    assert len(moved) == 1, [(t.status, t.error) for t in twins]
    assert moved[0].status == "SUCCEEDED", (moved[0].error, moved[0].cause)
    assert blocked[0].status == "FAILED"
    assert blocked[0].error == "RolloutAlreadyRunning"
    assert moved[0].lock_holder is None  # released when it ended


def test_a_lock_whose_holder_no_longer_runs_is_taken_over(outcomes: Outcomes) -> None:
    outcome = outcomes["stale_lock"]
    assert outcome.status == "SUCCEEDED", (outcome.error, outcome.cause)
    assert outcome.entered("Take Over Lock") == 1
    assert outcome.weights == {BASELINE: 0.0, CANARY: 100.0}


def test_every_ending_releases_the_lock_it_took(outcomes: Outcomes) -> None:
    for key in ("healthy", "5xx", "latency", "no_traffic", "rejected", "bad_steps",
                "stale_lock"):  # fmt: skip
        outcome = outcomes[key]
        assert outcome.status in ("SUCCEEDED", "FAILED"), key
        assert outcome.lock_holder is None, key


def test_a_stopped_execution_is_rolled_back_by_the_guard(outcomes: Outcomes) -> None:
    before = outcomes["stopped_before_guard"]
    assert before.status == "ABORTED"
    assert before.weights[CANARY] > 0  # stopping alone strands traffic on the canary ...
    assert before.lock_holder is not None  # ... and the lock
    after = outcomes["stopped"]
    assert after.weights == {BASELINE: 100.0, CANARY: 0.0}  # ... which the guard restores
    assert after.lock_holder is None
    assert after.events[-1] == "ROLLED_BACK"
    assert "ABORTED" in after.messages[-1]["reason"]


def test_histories_stay_within_the_limit_and_the_validated_worst_case(
    outcomes: Outcomes,
) -> None:
    for key, outcome in outcomes.items():
        assert len(outcome.history) < HISTORY_LIMIT, key
    # the worst case the input validation computes bounds what a rollout really takes
    healthy = outcomes["healthy"]
    worst = history_events(steps=4, bake_seconds=3, interval_seconds=1, max_extensions=2,
                           max_polls=60)  # fmt: skip
    assert len(healthy.history) <= worst
