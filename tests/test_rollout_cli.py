"""``sagemaker-rollout`` against moto: the real synthesized rollout, driven from the command line.

GIVEN three CanaryRollout state machines synthesized once (one plain, one with an approval gate
at 50 % and instance scaling, one with instance scaling),
resolved to moto resources and executed by moto's Step Functions engine with the evaluator's
real handler and AWS modelled as strictly as it behaves (tests/strict_aws.py: compressed time,
CloudWatch rounding and p99 from requests, so the construct's default policy), WHEN the
command line starts, watches, approves, rejects and aborts rollouts, THEN its exit status and
output say how each one ended and the endpoint's weights are where they must be.
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws
from rollout_harness import (
    ACCOUNT,
    FAKE_ROLE_ARN,
    LOCK_TABLE,
    REGION,
    Inbox,
    RolloutSpec,
    backend_weights,
    create_endpoint,
    create_shared,
    find_rollout,
    history,
    lock_holder,
    patch_moto,
    synthesize_rollouts,
    weights,
)
from strict_aws import RequestProfile, StrictAws, StrictTraffic, errors_5xx, healthy

from sagemaker_constructs import InstanceScaling
from sagemaker_constructs.rollout.cli import (
    EXIT_ABORTED,
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PROMOTED,
    EXIT_ROLLED_BACK,
    EXIT_RUNNING,
    TAG_BASELINE,
    TAG_CANARY,
    TAG_ENDPOINT,
    TAG_LOCK_TABLE,
    Clients,
    Progress,
    Target,
    describe,
    plain_line,
    run,
)

BASELINE = "baseline"
CANARY = "candidate"
#: One real second is this many simulated seconds (see tests/strict_aws.py).
TIME_FACTOR = 120.0
#: The schedule in real seconds; the policy is the construct's default.
FAST = {
    "steps": [25, 50, 100],
    "bake_seconds": 3,
    "interval_seconds": 1,
    "poll_seconds": 1,
    "max_extensions": 2,
}


def _synthesize(outdir: str) -> dict[str, Any]:
    specs = (
        RolloutSpec("Open", "cli-endpoint"),
        RolloutSpec("Gated", "cli-gated-endpoint", (50,), InstanceScaling(max_instances=2)),
        RolloutSpec("Scaled", "cli-scaled-endpoint", (), InstanceScaling(max_instances=4)),
    )
    return synthesize_rollouts(outdir, "RolloutCli", specs, baseline=BASELINE, canary=CANARY)


def _clients() -> Clients:
    session = boto3.session.Session(region_name=REGION)
    return Clients(
        sfn=session.client("stepfunctions"),
        sagemaker=session.client("sagemaker"),
        cloudformation=session.client("cloudformation"),
        dynamodb=session.client("dynamodb"),
    )


@dataclass
class CliRun:
    """One command line invocation: its exit status and what it printed."""

    code: int
    out: str
    err: str


def cli(*argv: str) -> CliRun:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), clients=_clients(), out=out, err=err)
    return CliRun(code, out.getvalue(), err.getvalue())


@dataclass
class Scenario:
    """A state machine bound to its own moto endpoint, with traffic flowing."""

    name: str
    machine_arn: str
    endpoint: str
    inbox: Inbox
    runs: dict[str, CliRun] = field(default_factory=dict)
    final_weights: dict[str, float] = field(default_factory=dict)
    final_instances: dict[str, int] = field(default_factory=dict)
    instances_seen: list[dict[str, int]] = field(default_factory=list)
    status: str = ""
    lock_holder: str | None = None


class World:
    def __init__(self, template: dict[str, Any], strict: StrictAws) -> None:
        self.strict = strict
        self.open = find_rollout(template, "Open", "cli-endpoint")
        self.gated = find_rollout(template, "Gated", "cli-gated-endpoint")
        self.scaled = find_rollout(template, "Scaled", "cli-scaled-endpoint")
        self.evaluator_arn = create_shared()

    def scenario(self, name: str, *, gated: bool = False, scaled: bool = False) -> Scenario:
        endpoint = f"cli-{name}"
        create_endpoint(endpoint, BASELINE, CANARY)
        inbox = Inbox.create(f"cli-topic-{name}")
        rollout = self.gated if gated else self.scaled if scaled else self.open
        definition = rollout.definition_for(
            state_machine_name=f"cli-{name}",
            endpoint_name=endpoint,
            evaluator_arn=self.evaluator_arn,
            topic_arn=inbox.topic_arn,
            approval_queue=inbox.approval_queue,
        )
        arn = _clients().sfn.create_state_machine(
            name=f"cli-{name}",
            definition=definition,
            roleArn=FAKE_ROLE_ARN,
            tags=[
                {"key": TAG_ENDPOINT, "value": endpoint},
                {"key": TAG_BASELINE, "value": BASELINE},
                {"key": TAG_CANARY, "value": CANARY},
                {"key": TAG_LOCK_TABLE, "value": LOCK_TABLE},
            ],
        )["stateMachineArn"]
        return Scenario(name, arn, endpoint, inbox)


def _with_traffic(
    world: World, scenario: Scenario, profile: RequestProfile, body: Callable[[], None]
) -> Scenario:
    traffic = StrictTraffic(
        world.strict, scenario.endpoint, BASELINE, CANARY, profile, backend_weights, tick=0.05
    )
    traffic.start()
    try:
        body()
    finally:
        traffic.stop()
        scenario.final_weights = weights(scenario.endpoint)
        scenario.final_instances = instances(scenario.endpoint)
        executions = _clients().sfn.list_executions(stateMachineArn=scenario.machine_arn)
        scenario.status = ",".join(e["status"] for e in executions["executions"])
        scenario.lock_holder = lock_holder(scenario.endpoint)
    return scenario


def instances(endpoint_name: str) -> dict[str, int]:
    described = _clients().sagemaker.describe_endpoint(EndpointName=endpoint_name)
    return {
        v["VariantName"]: int(v.get("CurrentInstanceCount", 0))
        for v in described["ProductionVariants"]
    }


def _start(scenario: Scenario, *extra: str, execution_input: dict[str, Any] = FAST) -> CliRun:
    return cli(
        "start",
        "--state-machine",
        scenario.machine_arn,
        "--input",
        json.dumps(execution_input),
        "--name",
        f"run-{uuid.uuid4().hex[:10]}",  # moto would name every execution "None"
        *extra,
    )


def _execution_arn(run_: CliRun) -> str:
    return run_.out.splitlines()[0].strip()


def _wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise TimeoutError("condition not met in time")


# -- scenarios: each drives the command line the way a person or the pipeline would -----------


def scenario_promoted(world: World) -> Scenario:
    scenario = world.scenario("promoted")

    def body() -> None:
        scenario.runs["start"] = _start(scenario, "--watch", "--interval", "0.5")
        arn = _execution_arn(scenario.runs["start"])
        scenario.runs["status"] = cli("status", arn)

    return _with_traffic(world, scenario, healthy, body)


def scenario_rolled_back(world: World) -> Scenario:
    scenario = world.scenario("rolledback")

    def body() -> None:
        scenario.runs["start"] = _start(scenario, "--watch", "--interval", "0.5")

    return _with_traffic(world, scenario, errors_5xx(0.2), body)


def scenario_aborted(world: World) -> Scenario:
    scenario = world.scenario("aborted")

    def body() -> None:
        started = _start(scenario, execution_input={**FAST, "bake_seconds": 60})
        scenario.runs["start"] = started
        _wait_for(lambda: weights(scenario.endpoint).get(CANARY, 0) > 0)
        # baking, no approval gate: nothing to approve, and a clear error says so
        scenario.runs["approve while baking"] = cli("approve", _execution_arn(started))
        scenario.runs["abort"] = cli("abort", _execution_arn(started), "--reason", "drill")
        scenario.runs["status"] = cli("status", _execution_arn(started))
        scenario.runs["abort again"] = cli("abort", _execution_arn(started))

    return _with_traffic(world, scenario, healthy, body)


def scenario_scaled(world: World) -> Scenario:
    scenario = world.scenario("scaled", scaled=True)

    def body() -> None:
        scenario.runs["start"] = _start(scenario, "--watch", "--interval", "0.5")
        scenario.instances_seen = requested_instances(_execution_arn(scenario.runs["start"]))

    return _with_traffic(world, scenario, healthy, body)


def requested_instances(execution_arn: str) -> list[dict[str, int]]:
    """The instance counts each weights update of the execution asked for, in order."""
    requested = []
    for event in history(execution_arn):
        details = event.get("taskScheduledEventDetails")
        if not details or not details["resource"].endswith("updateEndpointWeightsAndCapacities"):
            continue
        parameters = json.loads(details["parameters"])
        requested.append(
            {
                d["VariantName"]: int(d["DesiredInstanceCount"])
                for d in parameters["DesiredWeightsAndCapacities"]
            }
        )
    return requested


def _decide(world: World, name: str, decision: str) -> Scenario:
    scenario = world.scenario(name, gated=True)

    def body() -> None:
        started = _start(scenario)
        scenario.runs["start"] = started
        arn = _execution_arn(started)
        scenario.inbox.wait_for("APPROVAL_REQUIRED")
        time.sleep(0.5)
        scenario.runs["waiting"] = cli("status", arn)
        scenario.runs["decision"] = cli(
            decision, arn, *(["--reason", "no"] * (decision == "reject"))
        )
        scenario.runs["watch"] = cli("watch", arn, "--interval", "0.5")

    return _with_traffic(world, scenario, healthy, body)


def scenario_approved(world: World) -> Scenario:
    return _decide(world, "approved", "approve")


def scenario_rejected(world: World) -> Scenario:
    return _decide(world, "rejected", "reject")


def _preset(scenario: Scenario, baseline: float, canary: float) -> None:
    _clients().sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=scenario.endpoint,
        DesiredWeightsAndCapacities=[
            {"VariantName": BASELINE, "DesiredWeight": baseline},
            {"VariantName": CANARY, "DesiredWeight": canary},
        ],
    )


def scenario_already_promoted(world: World) -> Scenario:
    scenario = world.scenario("again")
    _preset(scenario, 0.0, 100.0)  # an earlier rollout promoted the candidate

    def body() -> None:
        scenario.runs["start"] = _start(scenario, "--watch", "--interval", "0.5")

    return _with_traffic(world, scenario, healthy, body)


def scenario_weights_owned_elsewhere(world: World) -> Scenario:
    scenario = world.scenario("owned")
    _preset(scenario, 50.0, 50.0)  # someone else moved the weights

    def body() -> None:
        scenario.runs["start"] = _start(scenario, "--watch", "--interval", "0.5")

    return _with_traffic(world, scenario, healthy, body)


SCENARIOS = (
    scenario_already_promoted,
    scenario_weights_owned_elsewhere,
    scenario_promoted,
    scenario_scaled,
    scenario_rolled_back,
    scenario_aborted,
    scenario_approved,
    scenario_rejected,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    template = _synthesize(str(tmp_path_factory.mktemp("rollout-cli")))
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
    mock.start()
    strict = StrictAws(factor=TIME_FACTOR)
    undo = patch_moto(strict.handler)
    try:
        yield World(template, strict)
    finally:
        undo()
        mock.stop()


@pytest.fixture(scope="module")
def scenarios(world: World) -> dict[str, Scenario]:
    results: dict[str, Scenario] = {}
    errors: dict[str, Exception] = {}
    lock = threading.Lock()

    def drive(function: Callable[[World], Scenario]) -> None:
        try:
            scenario = function(world)
            with lock:
                results[scenario.name] = scenario
        except Exception as error:
            errors[function.__name__] = error

    with ThreadPoolExecutor(max_workers=len(SCENARIOS)) as pool:
        list(pool.map(drive, SCENARIOS))
    assert not errors, errors
    return results


# -- what a rollout's ending looks like from the command line --------------------------------


def test_start_watch_exits_0_only_when_the_canary_was_promoted(
    scenarios: dict[str, Scenario],
) -> None:
    promoted = scenarios["promoted"]
    assert promoted.runs["start"].code == EXIT_PROMOTED, promoted.runs["start"]
    assert promoted.final_weights == {BASELINE: 0.0, CANARY: 100.0}
    lines = promoted.runs["start"].out.splitlines()
    assert lines[0].startswith("arn:aws:states:us-east-1:123456789012:execution:cli-promoted:")
    assert len(lines) >= 3  # the execution ARN, then a line per change it saw
    assert "step=100%" in lines[-1]
    assert "outcome=promoted" in lines[-1]
    assert promoted.runs["status"].code == EXIT_PROMOTED
    assert "outcome  promoted" in promoted.runs["status"].out


def test_a_rollout_that_already_promoted_is_a_green_no_op(
    scenarios: dict[str, Scenario],
) -> None:
    again = scenarios["again"]
    assert again.runs["start"].code == EXIT_PROMOTED, again.runs["start"]
    assert again.final_weights == {BASELINE: 0.0, CANARY: 100.0}  # nothing moved back


def test_a_rollout_does_not_take_over_weights_set_elsewhere(
    scenarios: dict[str, Scenario],
) -> None:
    owned = scenarios["owned"]
    assert owned.runs["start"].code == EXIT_FAILED, owned.runs["start"]
    assert "error=UnexpectedStartingWeights" in owned.runs["start"].out
    assert owned.final_weights == {BASELINE: 50.0, CANARY: 50.0}  # untouched


def test_a_rolled_back_rollout_exits_2_with_the_failed_check(
    scenarios: dict[str, Scenario],
) -> None:
    rolled_back = scenarios["rolledback"]
    result = rolled_back.runs["start"]
    assert result.code == EXIT_ROLLED_BACK, result
    assert rolled_back.final_weights == {BASELINE: 100.0, CANARY: 0.0}
    assert "outcome=rolled_back error=CanaryRolledBack" in result.out
    assert "error_rate" in result.out.splitlines()[-1]  # the cause names the failed check


def test_abort_stops_the_rollout_and_leaves_all_traffic_on_the_baseline(
    scenarios: dict[str, Scenario],
) -> None:
    aborted = scenarios["aborted"]
    assert aborted.runs["approve while baking"].code == EXIT_ERROR
    assert "not waiting for an approval" in aborted.runs["approve while baking"].err
    assert aborted.runs["abort"].code == EXIT_ABORTED, aborted.runs["abort"]
    assert "(verified)" in aborted.runs["abort"].out
    # the stopped execution cannot release its lock: abort does
    assert "released the rollout lock of cli-aborted" in aborted.runs["abort"].out
    assert aborted.lock_holder is None
    assert aborted.final_weights == {BASELINE: 100.0, CANARY: 0.0}
    assert aborted.status == "ABORTED"
    assert aborted.runs["status"].code == EXIT_ABORTED
    # an execution that no longer runs is not aborted again (that could undo other work)
    assert aborted.runs["abort again"].code == EXIT_ERROR
    assert "not running: nothing to abort" in aborted.runs["abort again"].err


def test_approve_lets_a_gated_rollout_continue_to_100_percent(
    scenarios: dict[str, Scenario],
) -> None:
    approved = scenarios["approved"]
    assert approved.runs["waiting"].code == EXIT_RUNNING  # status of a running rollout
    assert "waiting  for approval" in approved.runs["waiting"].out
    # the step and the schedule, read from the key the state machine publishes (contract)
    assert "step     50 % (step 2 of 3)" in approved.runs["waiting"].out
    assert approved.runs["decision"].code == EXIT_OK
    assert approved.runs["watch"].code == EXIT_PROMOTED, approved.runs["watch"]
    assert approved.final_weights == {BASELINE: 0.0, CANARY: 100.0}
    # the gated rollout also scales instances (2 in all): the approval keeps the counts
    assert approved.final_instances == {BASELINE: 1, CANARY: 2}


def test_reject_rolls_a_gated_rollout_back(scenarios: dict[str, Scenario]) -> None:
    rejected = scenarios["rejected"]
    assert rejected.runs["decision"].code == EXIT_OK
    assert rejected.runs["watch"].code == EXIT_ROLLED_BACK, rejected.runs["watch"]
    assert rejected.final_weights == {BASELINE: 100.0, CANARY: 0.0}
    assert rejected.final_instances == {BASELINE: 2, CANARY: 1}  # the rollback restores them


def test_instance_scaling_grows_the_canary_fleet_with_its_traffic(
    scenarios: dict[str, Scenario],
) -> None:
    scaled = scenarios["scaled"]
    assert scaled.runs["start"].code == EXIT_PROMOTED, scaled.runs["start"]
    # steps 25 -> 50 -> 100 of 4 instances: 3/1, 2/2, then 4 on the canary and 1 left behind
    assert scaled.instances_seen == [
        {BASELINE: 3, CANARY: 1},
        {BASELINE: 2, CANARY: 2},
        {BASELINE: 1, CANARY: 4},
    ]
    assert scaled.final_instances == {BASELINE: 1, CANARY: 4}


# -- clear errors ----------------------------------------------------------------------------


def test_a_wrong_execution_arn_is_a_clear_error(world: World) -> None:
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:nope:missing"
    result = cli("status", arn)
    assert result.code == EXIT_ERROR
    assert f"no rollout execution '{arn}'" in result.err


def test_a_wrong_state_machine_arn_is_a_clear_error(world: World) -> None:
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:nope"
    result = cli("start", "--state-machine", arn)
    assert result.code == EXIT_ERROR
    assert f"no rollout state machine '{arn}'" in result.err


def test_an_endpoint_without_a_rollout_is_a_clear_error(world: World) -> None:
    result = cli("start", "--endpoint", "no-such-endpoint")
    assert result.code == EXIT_ERROR
    assert "endpoint 'no-such-endpoint' has no canary rollout" in result.err


def test_a_stack_without_a_rollout_is_a_clear_error(world: World) -> None:
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    _clients().cloudformation.create_stack(
        StackName="no-rollout", TemplateBody=json.dumps(template)
    )
    result = cli("start", "--stack", "no-rollout")
    assert result.code == EXIT_ERROR
    assert "stack 'no-rollout' has no canary rollout (no output RolloutStateMachineArn)" in (
        result.err
    )


def test_a_stack_output_names_the_rollout(world: World) -> None:
    scenario = world.scenario("bystack")
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"RolloutStateMachineArn": {"Value": scenario.machine_arn}},
    }
    _clients().cloudformation.create_stack(
        StackName="with-rollout", TemplateBody=json.dumps(template)
    )
    # an interval that is valid alone but longer than the construct's default bake (600 s):
    # only the state machine sees the merged input, so the execution ends with InvalidInput
    result = cli("start", "--stack", "with-rollout", "--input", '{"interval_seconds": 1200}')
    assert result.code == EXIT_OK, result
    assert ":execution:cli-bystack:" in result.out
    watched = cli("watch", _execution_arn(result), "--interval", "0.2")
    assert watched.code == EXIT_FAILED
    assert "error=InvalidInput" in watched.out
    assert "at most bake_seconds (600)" in watched.out


def test_missing_credentials_are_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in (  # every source botocore's credential chain reads from the environment
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask an instance role
    err = io.StringIO()
    code = run(
        ["--region", REGION, "status", f"arn:aws:states:{REGION}:{ACCOUNT}:execution:a:b"],
        err=err,
        out=io.StringIO(),
    )
    assert code == EXIT_ERROR
    assert "no AWS credentials found" in err.getvalue()


# -- the display -------------------------------------------------------------------------------


def test_the_terminal_display_shows_step_weights_time_and_verdict() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    progress = Progress(
        status="RUNNING",
        percent=25,
        steps=[5, 25, 50, 100],
        weights={BASELINE: 75.0, CANARY: 25.0},
        step_started=now - timedelta(seconds=252),
        verdict="PASS",
        canary_invocations=3000,
        baseline_invocations=9000,
    )
    lines = describe(progress, Target("ep", BASELINE, CANARY), now)
    assert lines == [
        "status   RUNNING",
        "step     25 % (step 2 of 4), 04:12 in step",
        "weights  baseline 75 % | candidate 25 %  [#####...............]",
        "verdict  PASS (canary 3000, baseline 9000 invocations)",
    ]


def test_the_log_line_names_the_failed_check_when_rolled_back() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    progress = Progress(
        status="FAILED",
        percent=5,
        weights={BASELINE: 100.0, CANARY: 0.0},
        verdict="FAIL",
        reasons=["error_rate: canary 5XX rate 4.80% exceeds ..."],
        error="CanaryRolledBack",
        cause="error_rate: canary 5XX rate 4.80% exceeds ...",
    )
    line = plain_line(progress, now)
    assert line.startswith("2026-11-26T12:00:00Z status=FAILED step=5% weights=baseline:100,")
    assert "outcome=rolled_back error=CanaryRolledBack" in line
    assert 'reasons=["error_rate: canary 5XX rate 4.80% exceeds ..."]' in line
    assert progress.exit_code() == EXIT_ROLLED_BACK
