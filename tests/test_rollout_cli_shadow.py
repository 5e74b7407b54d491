"""``sagemaker-rollout shadow`` against moto: the real synthesized ShadowEvaluation, driven from
the command line, and ``watch``, ``status`` and ``abort`` of its executions.

GIVEN the state machine ``ShadowEvaluation`` synthesizes (read from the template with its tags,
tokens resolved to moto resources, executed by moto's Step Functions engine with the
evaluator's real handler), moto endpoints with one production and one shadow variant
(``shadow_harness``) and CloudWatch as strict as AWS (so the construct's DEFAULT policy, p99);
WHEN the command line starts evaluations (by ``--stack``, ``--endpoint`` or
``--state-machine``), watches, inspects and aborts them; THEN its exit status says how each
ended (PASS 0; FAIL or INCONCLUSIVE 2, as a rollback; aborted 3; failed otherwise 4; running
5), its output names the variants, the phase, the verdict and the failed checks, and the
endpoint is untouched. Bad arguments are refused before any AWS call, one line each.

The execution input only shortens the schedule (bake 3 s = 6 simulated minutes, interval 1 s).
"""

from __future__ import annotations

import io
import json
import logging
import re
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
    REGION,
    Inbox,
    create_shared,
    lock_holder,
    patch_moto,
)
from shadow_harness import (
    ShadowSpec,
    ShadowTraffic,
    bridge_shadow_variants,
    create_shadow_endpoint,
    find_shadow,
    synthesize_shadows,
)
from strict_aws import StrictAws, errors_5xx, healthy

from canary_evaluator.shadow_input import check_shadow_input
from sagemaker_constructs.endpoint import Endpoint
from sagemaker_constructs.rollout import cli
from sagemaker_constructs.rollout.cli import Clients, Progress, Target, describe, plain_line, run
from sagemaker_constructs.rollout.contract import (
    EXIT_ABORTED,
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PROMOTED,
    EXIT_ROLLED_BACK,
    EXIT_RUNNING,
    EXIT_STATUSES,
    ROLLED_BACK_ERRORS,
    SHADOW_NOT_PASSED_ERRORS,
    SHADOW_PHASE_OF_ENTRY,
    SHADOW_STACK_OUTPUT,
    TAG_BASELINE,
    TAG_CANARY,
    TAG_ENDPOINT,
    TAG_PRODUCTION_VARIANT,
    TAG_SHADOW_ENDPOINT,
    TAG_SHADOW_VARIANT,
    Errors,
    ShadowErrors,
    ShadowStates,
)

PRODUCTION = "Production"
SHADOW = "Shadow"
#: The endpoint the construct is synthesized for (each scenario binds its own).
SYNTH_ENDPOINT = "cli-shadow-endpoint"
#: One real second is this many simulated seconds (see tests/strict_aws.py).
TIME_FACTOR = 120.0
#: The schedule in real seconds; the policy is the construct's default.
FAST = {"bake_seconds": 3, "interval_seconds": 1, "max_extensions": 1}
#: The share of production requests SageMaker copies to the shadow (percent).
SAMPLING = 20.0
#: Too few copies for the default 100 shadow invocations in the whole window.
TRICKLE = 0.2
PREFIX = "sagemaker-rollout: "


_LOCAL = threading.local()
#: Every AWS call a command line run made: (its argv, the IAM action of the call).
CALLS: list[tuple[tuple[str, ...], str]] = []
_CALLS_LOCK = threading.Lock()
_IAM_PREFIX = {"stepfunctions": "states"}


def _record(model: Any, **_: Any) -> None:
    """botocore's before-call: note the call when a command line run makes it."""
    argv = getattr(_LOCAL, "argv", None)
    if argv is not None:
        prefix = model.service_model.endpoint_prefix
        prefix = _IAM_PREFIX.get(model.service_model.service_name, prefix)
        with _CALLS_LOCK:
            CALLS.append((argv, f"{prefix}:{model.name}"))


def _clients() -> Clients:
    """This thread's clients (made once: a session loads every service model anew)."""
    made: Clients | None = getattr(_LOCAL, "clients", None)
    if made is None:
        session = boto3.session.Session(region_name=REGION)
        made = Clients(
            sfn=session.client("stepfunctions"),
            sagemaker=session.client("sagemaker"),
            cloudformation=session.client("cloudformation"),
            dynamodb=session.client("dynamodb"),
        )
        for client in (made.sfn, made.sagemaker, made.cloudformation, made.dynamodb):
            client.meta.events.register("before-call.*.*", _record)
        _LOCAL.clients = made
    return made


@dataclass
class CliRun:
    """One command line invocation: its exit status and what it printed."""

    code: int
    out: str
    err: str


def cli_run(*argv: str, clients: Any = None) -> CliRun:
    out, err = io.StringIO(), io.StringIO()
    _LOCAL.argv = tuple(argv)
    try:
        code = run(
            list(argv), clients=clients if clients is not None else _clients(), out=out, err=err
        )
    finally:
        _LOCAL.argv = None
    return CliRun(code, out.getvalue(), err.getvalue())


def _name() -> str:
    return f"shadow-{uuid.uuid4().hex[:10]}"  # moto would name every execution "None"


def _execution_arn(result: CliRun) -> str:
    return result.out.splitlines()[0].strip()


@dataclass
class Scenario:
    """A ShadowEvaluation state machine bound to its own moto endpoint."""

    name: str
    machine_arn: str
    endpoint: str
    runs: dict[str, CliRun] = field(default_factory=dict)
    final_weights: dict[str, float] = field(default_factory=dict)
    lock_holder: str | None = None


class World:
    """The synthesized evaluation and the shared moto resources."""

    def __init__(self, template: dict[str, Any], strict: StrictAws) -> None:
        self.strict = strict
        self.shadow = find_shadow(template, "Shadow", SYNTH_ENDPOINT)
        (machine,) = (
            r
            for r in template["Resources"].values()
            if r["Type"] == "AWS::StepFunctions::StateMachine"
        )
        #: the tags the construct gives its state machine, as the template declares them
        self.tags: dict[str, str] = {t["Key"]: t["Value"] for t in machine["Properties"]["Tags"]}
        self.evaluator_arn = create_shared()

    def scenario(self, name: str) -> Scenario:
        endpoint = f"ep-{name}"
        create_shadow_endpoint(endpoint, PRODUCTION, SHADOW)
        inbox = Inbox.create(f"topic-{name}")
        definition = self.shadow.definition_for(
            state_machine_name=f"shadow-{name}",
            endpoint_name=endpoint,
            evaluator_arn=self.evaluator_arn,
            topic_arn=inbox.topic_arn,
        )
        tags = {k: v.replace(SYNTH_ENDPOINT, endpoint) for k, v in self.tags.items()}
        arn = _clients().sfn.create_state_machine(
            name=f"shadow-{name}",
            definition=definition,
            roleArn=FAKE_ROLE_ARN,
            tags=[{"key": k, "value": v} for k, v in tags.items()],
        )["stateMachineArn"]
        return Scenario(name, arn, endpoint)

    def run(
        self,
        scenario: Scenario,
        body: Callable[[], None],
        *,
        profile: Any = healthy,
        sampling: float = SAMPLING,
        traffic: bool = True,
    ) -> Scenario:
        flow = ShadowTraffic(
            self.strict, scenario.endpoint, PRODUCTION, SHADOW, profile, sampling=sampling
        )
        if traffic:
            flow.start()
        try:
            body()
        finally:
            if traffic:
                flow.stop()
            described = _clients().sagemaker.describe_endpoint(EndpointName=scenario.endpoint)
            scenario.final_weights = {
                v["VariantName"]: float(v["CurrentWeight"]) for v in described["ProductionVariants"]
            }
            scenario.lock_holder = lock_holder(scenario.endpoint)
        return scenario


def _create_stack(name: str, outputs: dict[str, str]) -> None:
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    _clients().cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))


# -- scenarios: each drives the command line as a person or a pipeline step would ------------


def scenario_passed(world: World) -> Scenario:
    """By the stack output (a key that ends with the contract's, as a nested construct's
    does), followed with --watch; then ``status`` of the finished execution."""
    scenario = world.scenario("passed")
    _create_stack("with-shadow", {f"Dev{SHADOW_STACK_OUTPUT}": scenario.machine_arn})

    def body() -> None:
        started = cli_run(
            "shadow", "--stack", "with-shadow", "--input", json.dumps(FAST), "--name", _name(),
            "--watch", "--interval", "0.5",
        )  # fmt: skip
        scenario.runs["shadow"] = started
        scenario.runs["status"] = cli_run("status", _execution_arn(started))

    return world.run(scenario, body)


def scenario_failed(world: World) -> Scenario:
    """By the endpoint's tag; the shadow answers 20 % of its copies with a 5XX."""
    scenario = world.scenario("failed")

    def body() -> None:
        scenario.runs["shadow"] = cli_run(
            "shadow", "--endpoint", scenario.endpoint, "--input", json.dumps(FAST),
            "--name", _name(), "--watch", "--interval", "0.5",
        )  # fmt: skip

    return world.run(scenario, body, profile=errors_5xx(0.2))


def scenario_inconclusive(world: World) -> Scenario:
    """By the state machine's ARN; too few copies for a verdict, even after the extension."""
    scenario = world.scenario("trickle")

    def body() -> None:
        scenario.runs["shadow"] = cli_run(
            "shadow", "--state-machine", scenario.machine_arn, "--input", json.dumps(FAST),
            "--name", _name(), "--watch", "--interval", "0.5",
        )  # fmt: skip

    return world.run(scenario, body, sampling=TRICKLE)


def scenario_invalid_input(world: World) -> Scenario:
    """An interval valid alone but longer than the construct's default bake (1800 s): only the
    state machine sees the merged input. Started without --watch, then watched."""
    scenario = world.scenario("invalid")

    def body() -> None:
        started = cli_run(
            "shadow", "--state-machine", scenario.machine_arn,
            "--input", json.dumps({"interval_seconds": 2000}), "--name", _name(),
        )  # fmt: skip
        scenario.runs["shadow"] = started
        scenario.runs["watch"] = cli_run("watch", _execution_arn(started), "--interval", "0.2")

    return world.run(scenario, body, traffic=False)


def scenario_aborted(world: World) -> Scenario:
    """A long bake, stopped while it evaluates."""
    scenario = world.scenario("aborted")

    def body() -> None:
        started = cli_run(
            "shadow", "--state-machine", scenario.machine_arn,
            "--input", json.dumps({**FAST, "bake_seconds": 120}), "--name", _name(),
        )  # fmt: skip
        scenario.runs["shadow"] = started
        arn = _execution_arn(started)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            running = cli_run("status", arn)
            if "shadow: evaluating" in running.out and "verdict" in running.out:
                break
            time.sleep(0.3)
        scenario.runs["running"] = running
        scenario.runs["abort"] = cli_run("abort", arn, "--reason", "drill")
        scenario.runs["status"] = cli_run("status", arn)
        scenario.runs["abort again"] = cli_run("abort", arn)

    return world.run(scenario, body, traffic=False)


SCENARIOS = (
    scenario_passed,
    scenario_failed,
    scenario_inconclusive,
    scenario_invalid_input,
    scenario_aborted,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    template = synthesize_shadows(
        str(tmp_path_factory.mktemp("shadow-cli")),
        "ShadowCli",
        [ShadowSpec("Shadow", SYNTH_ENDPOINT)],
        production=PRODUCTION,
        shadow=SHADOW,
    )
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
    mock.start()
    strict = StrictAws(factor=TIME_FACTOR)
    undo = patch_moto(strict.handler)
    unbridge = bridge_shadow_variants()
    try:
        yield World(template, strict)
    finally:
        unbridge()
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


def _untouched(scenario: Scenario) -> None:
    assert scenario.final_weights == {PRODUCTION: 1.0}
    assert scenario.lock_holder is None


# -- how an evaluation ends, from the command line ---------------------------------------------


def test_the_construct_tags_its_state_machine_with_the_shadow_tags(world: World) -> None:
    assert world.tags[TAG_SHADOW_ENDPOINT] == SYNTH_ENDPOINT
    assert world.tags[TAG_PRODUCTION_VARIANT] == PRODUCTION
    assert world.tags[TAG_SHADOW_VARIANT] == SHADOW
    assert not {TAG_ENDPOINT, TAG_BASELINE, TAG_CANARY} & set(world.tags)


def test_a_passing_shadow_exits_0_with_watch_found_by_its_stack(
    scenarios: dict[str, Scenario],
) -> None:
    passed = scenarios["passed"]
    result = passed.runs["shadow"]
    assert result.code == EXIT_PROMOTED == 0, result
    lines = result.out.splitlines()
    assert lines[0].startswith(f"arn:aws:states:{REGION}:{ACCOUNT}:execution:shadow-passed:")
    assert len(lines) >= 3  # the execution ARN, then a line per change
    assert all(f"production={PRODUCTION} shadow={SHADOW}" in line for line in lines[1:])
    assert any('phase="shadow: evaluating"' in line for line in lines[1:]), result.out
    assert "verdict=PASS outcome=passed" in lines[-1]
    assert "error=" not in lines[-1]
    _untouched(passed)


def test_status_of_a_finished_shadow_shows_variants_verdict_and_checks(
    scenarios: dict[str, Scenario],
) -> None:
    status = scenarios["passed"].runs["status"]
    assert status.code == EXIT_PROMOTED, status
    assert status.err == ""
    lines = status.out.splitlines()
    assert lines[0] == "status   SUCCEEDED"
    assert lines[1] == (
        f"variants production {PRODUCTION} | shadow {SHADOW} (endpoint ep-passed; no traffic "
        "is moved)"
    )
    assert re.fullmatch(r"window   00:0\d until it ended", lines[2]), lines[2]
    assert lines[3].startswith("verdict  PASS (shadow ")
    (checks,) = [line for line in lines if line.startswith("checks   ")]
    assert "error_rate PASS" in checks
    assert "latency PASS" in checks
    assert lines[-1] == "outcome  passed"
    assert "phase" not in status.out  # a finished execution has no phase


def test_a_failing_shadow_exits_2_with_the_failed_check_found_by_its_endpoint(
    scenarios: dict[str, Scenario],
) -> None:
    failed = scenarios["failed"]
    result = failed.runs["shadow"]
    assert result.code == EXIT_ROLLED_BACK == 2, result
    assert ":execution:shadow-failed:" in result.out.splitlines()[0]
    last = result.out.splitlines()[-1]
    assert f"outcome=did_not_pass error={ShadowErrors.FAILED}" in last
    assert "verdict=FAIL" in last
    assert 'failed_checks=["error_rate' in last  # the failed checks, by name
    assert "reasons=" in last
    assert f"shadow variant {SHADOW} FAILED against production variant {PRODUCTION}" in last
    _untouched(failed)


def test_an_inconclusive_shadow_exits_2(scenarios: dict[str, Scenario]) -> None:
    trickle = scenarios["trickle"]
    result = trickle.runs["shadow"]
    assert result.code == EXIT_ROLLED_BACK, result
    last = result.out.splitlines()[-1]
    assert f"outcome=did_not_pass error={ShadowErrors.INCONCLUSIVE}" in last
    assert "verdict=INCONCLUSIVE" in last
    assert "after 4 evaluations and 1 extension(s)" in last
    _untouched(trickle)


def test_an_input_the_state_machine_rejects_exits_4_when_watched(
    scenarios: dict[str, Scenario],
) -> None:
    invalid = scenarios["invalid"]
    assert invalid.runs["shadow"].code == EXIT_OK, invalid.runs["shadow"]
    assert invalid.runs["shadow"].out.count("\n") == 1  # the ARN only, without --watch
    watched = invalid.runs["watch"]
    assert watched.code == EXIT_FAILED, watched
    assert f"outcome=failed error={ShadowErrors.INVALID_INPUT}" in watched.out
    assert "at most bake_seconds (1800)" in watched.out
    _untouched(invalid)


def test_abort_stops_a_running_shadow_and_restores_nothing(
    scenarios: dict[str, Scenario],
) -> None:
    aborted = scenarios["aborted"]
    running = aborted.runs["running"]
    assert running.code == EXIT_RUNNING, running
    assert "phase    shadow: evaluating" in running.out
    assert "outcome" not in running.out
    result = aborted.runs["abort"]
    assert result.code == EXIT_ABORTED == 3, result
    arn = _execution_arn(aborted.runs["shadow"])
    assert result.out.splitlines() == [
        f"stopped {arn}",
        "nothing to restore: the shadow evaluation changed nothing on endpoint ep-aborted (no "
        "weights moved, no lock taken)",
    ]
    assert "verified" not in result.out  # no weights were touched
    assert aborted.runs["status"].code == EXIT_ABORTED
    assert "outcome  aborted" in aborted.runs["status"].out
    assert aborted.runs["abort again"].code == EXIT_ERROR
    assert "the shadow evaluation is ABORTED, not running: nothing to abort" in (
        aborted.runs["abort again"].err
    )
    _untouched(aborted)


# -- clear errors against AWS ------------------------------------------------------------------


def _rollout_machine(name: str) -> str:
    """A state machine tagged as a canary rollout (its definition is never run)."""
    definition = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}})
    tags = {TAG_ENDPOINT: "ep-rollout", TAG_BASELINE: "blue", TAG_CANARY: "green"}
    return str(
        _clients().sfn.create_state_machine(
            name=name,
            definition=definition,
            roleArn=FAKE_ROLE_ARN,
            tags=[{"key": k, "value": v} for k, v in tags.items()],
        )["stateMachineArn"]
    )


def test_shadow_and_start_refuse_each_other_s_state_machine(world: World) -> None:
    shadow = world.scenario("kinds")
    rollout = _rollout_machine("a-rollout")
    refused = cli_run("shadow", "--state-machine", rollout)
    assert refused.code == EXIT_ERROR
    assert refused.err == (
        f"{PREFIX}{rollout} is a canary rollout, not a shadow evaluation; start it with "
        "`sagemaker-rollout start`\n"
    )
    refused = cli_run("start", "--state-machine", shadow.machine_arn)
    assert refused.code == EXIT_ERROR
    assert "is a shadow evaluation, not a canary rollout" in refused.err
    refused = cli_run("release-canary", "--state-machine", shadow.machine_arn)
    assert refused.code == EXIT_ERROR
    assert "it has no canary to release" in refused.err
    # the endpoint tags are apart: a rollout's endpoint has no shadow evaluation, and back
    refused = cli_run("shadow", "--endpoint", "ep-rollout")
    assert refused.err == (
        f"{PREFIX}endpoint 'ep-rollout' has no shadow evaluation (no state machine tagged "
        f"{TAG_SHADOW_ENDPOINT}=ep-rollout)\n"
    )
    assert "has no canary rollout" in cli_run("start", "--endpoint", "ep-kinds").err
    executions = _clients().sfn.list_executions(stateMachineArn=shadow.machine_arn)
    assert executions["executions"] == []  # nothing was started


def test_a_stack_without_a_shadow_evaluation_is_a_clear_error(world: World) -> None:
    _create_stack("no-shadow", {"RolloutStateMachineArn": "arn:aws:states:x"})
    result = cli_run("shadow", "--stack", "no-shadow")
    assert result.code == EXIT_ERROR
    assert result.err == (
        f"{PREFIX}stack 'no-shadow' has no shadow evaluation (no output {SHADOW_STACK_OUTPUT}); "
        "configure a candidate model that is judged as a shadow variant first and deploy it\n"
    )
    # a deployment without a candidate keeps the output with a placeholder
    _create_stack("no-candidate", {SHADOW_STACK_OUTPUT: "none"})
    result = cli_run("shadow", "--stack", "no-candidate")
    assert result.code == EXIT_ERROR
    assert f"its output {SHADOW_STACK_OUTPUT} is 'none', not a state machine's ARN" in result.err


def test_two_evaluations_of_one_endpoint_are_named_by_state_machine(world: World) -> None:
    first = world.scenario("twice")
    second = _clients().sfn.create_state_machine(
        name="shadow-twice-again",
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}),
        roleArn=FAKE_ROLE_ARN,
        tags=[
            {"key": TAG_SHADOW_ENDPOINT, "value": first.endpoint},
            {"key": TAG_PRODUCTION_VARIANT, "value": PRODUCTION},
            {"key": TAG_SHADOW_VARIANT, "value": SHADOW},
        ],
    )["stateMachineArn"]
    result = cli_run("shadow", "--endpoint", first.endpoint)
    assert result.code == EXIT_ERROR
    assert "has 2 shadow evaluations; name one with --state-machine: " in result.err
    assert first.machine_arn in result.err
    assert second in result.err


def test_a_wrong_state_machine_arn_is_a_clear_error(world: World) -> None:
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:nope"
    result = cli_run("shadow", "--state-machine", arn)
    assert result.code == EXIT_ERROR
    assert result.err.startswith(f"{PREFIX}no shadow evaluation state machine '{arn}': ")


# -- arguments checked before any AWS call -----------------------------------------------------


class AwsTouched(BaseException):
    """Raised on any use of the clients (a BaseException: the command cannot swallow it)."""


class NoAws:
    """Clients whose every attribute access fails the test."""

    def __init__(self) -> None:
        self.touched: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.touched.append(name)
        raise AwsTouched(f"an AWS client was used before the local checks: {name}")


MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:shadow-dev"
EXECUTION = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:shadow-dev:run-1"


def refused(*argv: str) -> CliRun:
    clients = NoAws()
    result = cli_run(*argv, clients=clients)
    assert clients.touched == []
    assert result.code == EXIT_ERROR, result
    assert result.out == ""
    lines = result.err.splitlines()
    assert lines, result
    assert all(line.startswith(PREFIX) for line in lines), result.err
    assert "Traceback" not in result.err
    return result


def _input(value: object) -> str:
    return json.dumps(value)


BAD_ARGUMENTS = [
    pytest.param(("shadow", "--state-machine", EXECUTION), "--state-machine",
                 "the ARN of an execution, not of a state machine", id="state machine: execution"),
    pytest.param(("shadow", "--state-machine", "shadow-dev"), "--state-machine", "not the ARN",
                 id="state machine: a name"),
    pytest.param(("shadow", "--stack", "my_stack"), "--stack", "a CloudFormation stack name",
                 id="stack: underscore"),
    pytest.param(("shadow", "--stack", "s" * 129), "--stack", "at most 128 characters",
                 id="stack: too long"),
    pytest.param(("shadow", "--endpoint", "my_endpoint"), "--endpoint",
                 "a SageMaker endpoint name", id="endpoint: underscore"),
    pytest.param(("shadow", "--endpoint", "e" * 64), "--endpoint", "at most 63 characters",
                 id="endpoint: too long"),
    pytest.param(("shadow", "--stack", "dev", "--name", "run 1"), "--name",
                 "(' ' is not allowed)", id="name: a space"),
    pytest.param(("shadow", "--stack", "dev", "--name", "n" * 81), "--name", "(81 characters)",
                 id="name: too long"),
    pytest.param(("--role-arn", "operator", "shadow", "--stack", "dev"), "--role-arn",
                 "an IAM role's ARN", id="role: a name"),
    pytest.param(("shadow", "--stack", "dev", "--input", "{bake: 1}"), "--input",
                 "Expecting property name", id="input: not JSON"),
    pytest.param(("shadow", "--stack", "dev", "--input", "[1]"), "--input",
                 'allowed: a JSON object such as {"bake_seconds": 3600}', id="input: a list"),
    pytest.param(("shadow", "--stack", "dev", "--input", "@/no/such/input.json"), "--input",
                 "No such file or directory", id="input: a missing file"),
    pytest.param(("shadow", "--stack", "dev", "--input", _input({"steps": [5, 100]})),
                 "--input: steps", "unknown key (got [5, 100]); allowed keys: bake_seconds, "
                 "interval_seconds, max_extensions, policy", id="input: a rollout's key"),
    pytest.param(("shadow", "--stack", "dev", "--input", _input({"max_polls": 3})),
                 "--input: max_polls", "unknown key", id="input: a key of the construct"),
    pytest.param(("shadow", "--stack", "dev", "--input", _input({"bake_seconds": 0})),
                 "--input: bake_seconds", "an integer from 1 to 604800", id="input: bake range"),
    pytest.param(("shadow", "--stack", "dev", "--input", _input({"max_extensions": -1})),
                 "--input: max_extensions", "an integer from 0 to 1000",
                 id="input: extensions range"),
    pytest.param(("shadow", "--stack", "dev", "--input",
                  _input({"bake_seconds": 60, "interval_seconds": 120})),
                 "--input: interval_seconds", "at most bake_seconds (60)",
                 id="input: interval above bake"),
    pytest.param(("shadow", "--stack", "dev", "--input",
                  _input({"policy": {"latency": {"statistic": "p101"}}})),
                 "--input: policy.latency.statistic", "'p101'", id="input: policy"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "argument", "says"), BAD_ARGUMENTS)
def test_a_bad_argument_is_refused_before_any_aws_call(
    argv: tuple[str, ...], argument: str, says: str
) -> None:
    result = refused(*argv)
    matching = [line for line in result.err.splitlines() if says in line]
    assert matching, result.err
    (line,) = matching
    assert line.startswith(f"{PREFIX}{argument}")  # the argument
    assert "got " in line  # the value
    assert "allowed" in line  # the rule


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("shadow",), "one of the arguments --state-machine --stack --endpoint is required"),
        (("shadow", "--stack", "a", "--endpoint", "b"), "not allowed with"),
        (("shadow", "--stack", "a", "--interval", "0"), "argument --interval: got '0'"),
        (("shadow", "--stack", "a", "--interval", "soon"), "argument --interval: got 'soon'"),
        (("shadow", "--stack", "a", "--force"), "unrecognized arguments: --force"),
    ],
)
def test_a_usage_error_exits_1_on_one_line(argv: tuple[str, ...], says: str) -> None:
    (line,) = refused(*argv).err.splitlines()
    assert says in line
    assert line.endswith("--help`)")  # where to read the usage


def test_every_problem_is_listed_each_on_its_line() -> None:
    result = refused(
        "--role-arn", "operator", "shadow", "--stack", "my_stack", "--name", "run 1", "--input",
        _input({"steps": [5, 100], "bake_seconds": 0}),
    )  # fmt: skip
    arguments = [line.removeprefix(PREFIX).split(":")[0] for line in result.err.splitlines()]
    assert arguments == ["--role-arn", "--stack", "--name", "--input", "--input"]


def test_the_input_rules_are_the_state_machine_s() -> None:
    """Every problem the command line finds in the keys it is given, the state machine's check
    (``check_shadow_input``) finds too, whatever valid defaults they are merged with."""
    raw = {
        "steps": [5, 100],
        "bake_seconds": 60,
        "interval_seconds": 120,
        "max_extensions": 1001,
        "policy": {"min_canary_invocations": 0},
    }
    result = refused("shadow", "--stack", "dev", "--input", _input(raw))
    found = [line.removeprefix(f"{PREFIX}--input: ") for line in result.err.splitlines()]
    assert len(found) == 4
    defaults = {
        "bake_seconds": 1800,
        "interval_seconds": 60,
        "max_extensions": 5,
        "poll_seconds": 30,
        "max_polls": 60,
        "policy": {},
    }
    with pytest.raises(ValueError, match="Invalid execution input") as raised:
        check_shadow_input(raw, defaults)
    listed = [line.strip() for line in str(raised.value).splitlines()[1:]]
    assert set(found) <= set(listed), (found, listed)
    assert check_shadow_input({"bake_seconds": 600, "policy": {}}, defaults)["bake_seconds"] == 600


@pytest.mark.parametrize(
    "argv",
    [
        ("shadow", "--state-machine", MACHINE, "--name", "shadow-2026-01-15_1", "--input",
         _input({"bake_seconds": 3600, "interval_seconds": 60, "max_extensions": 0,
                 "policy": {"min_canary_invocations": 500}})),
        ("shadow", "--stack", "sagemaker-constructs-dev", "--watch", "--interval", "1e1"),
        ("shadow", "--endpoint", "my-endpoint-2", "--input", "{}"),
        # the default bake_seconds is the state machine's to judge
        ("shadow", "--endpoint", "a", "--input", _input({"interval_seconds": 3600})),
    ],
)  # fmt: skip
def test_good_arguments_reach_aws(argv: tuple[str, ...]) -> None:
    clients = NoAws()
    with pytest.raises(AwsTouched):
        cli_run(*argv, clients=clients)
    assert clients.touched


def test_help_documents_the_command() -> None:
    helped = cli_run("--help", clients=NoAws())
    assert helped.code == 0
    assert "shadow evaluation" in helped.out
    assert "exit status of start --watch, shadow --watch, watch, status and abort" in helped.out
    assert ("  2    the rollout rolled back, or the shadow evaluation did not pass "
            "(FAIL or INCONCLUSIVE)\n") in helped.out  # fmt: skip
    assert dict(EXIT_STATUSES)[EXIT_ROLLED_BACK].endswith("did not pass (FAIL or INCONCLUSIVE)")
    command = cli_run("shadow", "--help", clients=NoAws())
    assert command.code == 0
    assert command.out.startswith("usage: sagemaker-rollout shadow")
    assert SHADOW_STACK_OUTPUT in command.out
    assert "sagemaker-rollout shadow --stack" in (cli.__doc__ or "")


# -- exit statuses and the display, with stub clients ------------------------------------------


class StubSfn:
    """Step Functions that knows one shadow evaluation's execution."""

    def __init__(self, described: dict[str, Any], events: list[dict[str, Any]]) -> None:
        self.described = described
        self.events = events
        self.stopped: list[dict[str, Any]] = []

    def describe_execution(self, executionArn: str) -> dict[str, Any]:  # noqa: N803
        return {"executionArn": executionArn, "stateMachineArn": MACHINE, **self.described}

    def get_paginator(self, name: str) -> Any:
        assert name == "get_execution_history"
        return self

    def paginate(self, **_: Any) -> list[dict[str, Any]]:
        return [{"events": self.events}]

    def list_tags_for_resource(self, resourceArn: str) -> dict[str, Any]:  # noqa: N803
        assert resourceArn == MACHINE
        tags = {TAG_SHADOW_ENDPOINT: "ep", TAG_PRODUCTION_VARIANT: "prod", TAG_SHADOW_VARIANT: "sh"}
        return {"tags": [{"key": k, "value": v} for k, v in tags.items()]}

    def stop_execution(self, **kwargs: Any) -> None:
        self.stopped.append(kwargs)


def _entered(event_id: int, name: str, at: datetime) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "PassStateEntered",
        "timestamp": at,
        "stateEnteredEventDetails": {"name": name, "input": "{}"},
    }


def stub_clients(described: dict[str, Any], events: list[dict[str, Any]] | None = None) -> Clients:
    # a shadow evaluation's progress never reads the endpoint (NoAws): it moves no weights
    return Clients(
        sfn=StubSfn(described, list(events or [])), sagemaker=NoAws(), cloudformation=NoAws()
    )


ENDINGS = [
    pytest.param({"status": "SUCCEEDED"}, EXIT_PROMOTED, "passed", id="PASS"),
    pytest.param({"status": "FAILED", "error": ShadowErrors.FAILED, "cause": "latency"},
                 EXIT_ROLLED_BACK, "did not pass", id="FAIL"),
    pytest.param({"status": "FAILED", "error": ShadowErrors.INCONCLUSIVE},
                 EXIT_ROLLED_BACK, "did not pass", id="INCONCLUSIVE"),
    pytest.param({"status": "ABORTED", "error": Errors.ABORTED}, EXIT_ABORTED, "aborted",
                 id="aborted"),
    pytest.param({"status": "FAILED", "error": ShadowErrors.NOT_READY}, EXIT_FAILED, "failed",
                 id="not ready"),
    pytest.param({"status": "FAILED", "error": ShadowErrors.INVALID_INPUT}, EXIT_FAILED,
                 "failed", id="invalid input"),
    pytest.param({"status": "FAILED", "error": ShadowErrors.EVALUATION_FAILED}, EXIT_FAILED,
                 "failed", id="evaluator failed"),
    pytest.param({"status": "TIMED_OUT"}, EXIT_FAILED, "failed", id="timed out"),
]  # fmt: skip


@pytest.mark.parametrize(("described", "code", "outcome"), ENDINGS)
def test_status_and_watch_exit_with_how_the_evaluation_ended(
    described: dict[str, Any], code: int, outcome: str
) -> None:
    status = cli_run("status", EXECUTION, clients=stub_clients(described))
    assert (status.code, status.err) == (code, ""), status
    assert f"outcome  {outcome}" in status.out
    watched = cli_run("watch", EXECUTION, clients=stub_clients(described))
    assert watched.code == code, watched
    assert f"outcome={outcome.replace(' ', '_')}" in watched.out
    assert "production=prod shadow=sh" in watched.out


def test_did_not_pass_is_one_definition() -> None:
    assert {ShadowErrors.FAILED, ShadowErrors.INCONCLUSIVE} == SHADOW_NOT_PASSED_ERRORS
    assert not SHADOW_NOT_PASSED_ERRORS & ROLLED_BACK_ERRORS  # the names never collide
    for error in SHADOW_NOT_PASSED_ERRORS:
        progress = Progress(status="FAILED", error=error, shadow=True)
        assert progress.exit_code() == EXIT_ROLLED_BACK
    others = (ShadowErrors.NOT_READY, ShadowErrors.INVALID_INPUT, ShadowErrors.EVALUATION_FAILED)
    for error in others:
        assert Progress(status="FAILED", error=error, shadow=True).exit_code() == EXIT_FAILED


def test_the_phase_of_a_running_shadow_is_its_own() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    # "Load Defaults" is the rollout's first state too: the shadow's phase says no lock
    events = [_entered(1, ShadowStates.START, now)]
    status = cli_run("status", EXECUTION, clients=stub_clients({"status": "RUNNING"}, events))
    assert status.code == EXIT_RUNNING
    assert "phase    checking the input\n" in status.out
    events += [
        _entered(2, ShadowStates.BEFORE_EVALUATION, now),
        _entered(3, ShadowStates.DESCRIBE_VARIANTS, now),
    ]
    status = cli_run("status", EXECUTION, clients=stub_clients({"status": "RUNNING"}, events))
    assert "phase    checking that the endpoint lists both variants\n" in status.out
    events.append(_entered(4, ShadowStates.START_WINDOW, now - timedelta(seconds=75)))
    status = cli_run("status", EXECUTION, clients=stub_clients({"status": "RUNNING"}, events))
    assert "phase    shadow: evaluating\n" in status.out
    assert SHADOW_PHASE_OF_ENTRY[ShadowStates.BEFORE_EVALUATION] == "waiting for the endpoint"


def test_the_terminal_display_of_a_shadow_evaluation() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    progress = Progress(
        status="RUNNING",
        shadow=True,
        phase="shadow: evaluating",
        step_started=now - timedelta(seconds=252),
        verdict="FAIL",
        reasons=["error_rate: shadow 5XX rate 4.80% exceeds ..."],
        canary_invocations=600,
        baseline_invocations=3000,
        checks=[{"name": "error_rate", "verdict": "FAIL"}, {"name": "latency", "verdict": "PASS"}],
    )
    target = Target("ep", "prod", "sh", shadow=True)
    assert describe(progress, target, now) == [
        "status   RUNNING",
        "phase    shadow: evaluating",
        "variants production prod | shadow sh (endpoint ep; no traffic is moved)",
        "window   04:12 so far",
        "verdict  FAIL (shadow 600, production 3000 invocations)",
        "         - error_rate: shadow 5XX rate 4.80% exceeds ...",
        "checks   error_rate FAIL, latency PASS",
    ]
    line = plain_line(progress, now, target)
    assert line == (
        '2026-11-26T12:00:00Z status=RUNNING phase="shadow: evaluating" production=prod '
        'shadow=sh in_window=252s verdict=FAIL failed_checks=["error_rate"] '
        'reasons=["error_rate: shadow 5XX rate 4.80% exceeds ..."]'
    )


def test_abort_of_a_shadow_only_stops_it() -> None:
    clients = stub_clients({"status": "RUNNING"})
    result = cli_run("abort", EXECUTION, "--reason", "drill", clients=clients)
    assert result.code == EXIT_ABORTED, result
    assert clients.sfn.stopped == [
        {"executionArn": EXECUTION, "error": Errors.ABORTED, "cause": "aborted: drill"}
    ]
    assert "nothing to restore" in result.out


def test_grant_run_allows_every_call_of_the_commands_a_pipeline_runs(
    scenarios: dict[str, Scenario],
) -> None:
    """What ``shadow --state-machine ... --watch``, ``watch``, ``status`` and ``abort`` called
    (recorded from the runs above) is what ``ShadowEvaluation.grant_run`` allows: the promotion
    pipeline's step runs them with nothing else. (``--stack`` and ``--endpoint`` also read the
    stack's outputs or list state machines: a laptop's own permissions.)"""
    import aws_cdk as cdk
    from aws_cdk import aws_iam as iam
    from cdk_testing import imported_vpc

    from sagemaker_constructs.rollout import ShadowEvaluation

    called = {
        action
        for argv, action in CALLS
        if argv[0] in ("shadow", "watch", "status", "abort")
        and "--stack" not in argv
        and "--endpoint" not in argv
    }
    assert {"states:StartExecution", "states:GetExecutionHistory"} <= called  # recorded
    stack = cdk.Stack(cdk.App(), "Grant")
    evaluation = ShadowEvaluation(
        stack,
        "Shadow",
        endpoint=Endpoint.from_endpoint_name(stack, "Endpoint", "ep"),
        production_variant=PRODUCTION,
        shadow_variant=SHADOW,
        vpc=imported_vpc(stack),
    )
    role = iam.Role(stack, "Pipeline", assumed_by=iam.AccountRootPrincipal())
    grant = evaluation.grant_run(role)
    granted = {action for statement in grant.principal_statements for action in statement.actions}
    assert called - granted == set()
