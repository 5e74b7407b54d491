"""End to end: the smoke test and the hooks, executed by moto's Step Functions engine.

GIVEN a CanaryRollout synthesized with a smoke test (an inline request that must answer 200
with ``$.predictions[0]``) and a hook at each point; the smoke-test function's own code
(``canary_evaluator.smoke``) answering the smoke test against a SageMaker Runtime as strict as
AWS (``strict_aws.StrictRuntime``: ``TargetVariant``, ``ModelError``); the hooks as in-process
functions whose answers each scenario chooses; traffic and the evaluator as in
``test_rollout_e2e`` (steps [50, 100]); WHEN four rollouts run concurrently; THEN a healthy
canary is promoted with every hook called once per point in order (a failing
``after_rollout`` hook only published), a failing smoke test ends the rollout rolled back
before any weight moved, and a hook's unclear answer or failure rolls back with its reason.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from moto import mock_aws
from rollout_harness import (
    ACCOUNT,
    FAKE_ROLE_ARN,
    LOCK_TABLE,
    REGION,
    Inbox,
    Outcome,
    backend_weights,
    clients,
    create_endpoint,
    create_shared,
    create_state_machine,
    finish,
    history,
    patch_moto,
    resolve,
    sagemaker_backend,
    start,
)
from strict_aws import StrictAws, StrictRuntime, StrictTraffic, healthy

from canary_evaluator.smoke import handler as smoke_handler
from sagemaker_constructs.rollout import CanaryRollout
from sagemaker_constructs.rollout.cli import Clients, describe, read_progress
from sagemaker_constructs.rollout.contract import (
    HOOK_AFTER_ROLLOUT,
    HOOK_AFTER_STEP,
    HOOK_BEFORE_PROMOTION,
    HOOK_BEFORE_TRAFFIC,
    OUTCOME_COMPLETED,
    OUTCOME_ROLLED_BACK,
    SMOKE_TEST_HOOK,
    Errors,
    Events,
    States,
)
from sagemaker_constructs.rollout.props import HookPoint, RolloutHook, SmokeTest

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
HOOKS = {
    "warm-up": HookPoint.BEFORE_TRAFFIC,
    "drift": HookPoint.AFTER_STEP,
    "kpi": HookPoint.BEFORE_PROMOTION,
    "announce": HookPoint.AFTER_ROLLOUT,
}


@dataclass(frozen=True)
class _EndpointRef:
    endpoint_name: str
    endpoint_arn: str


@dataclass(frozen=True)
class Synthesized:
    definition_string: Any
    refs: dict[str, str]  # logical id -> which moto resource ("topic", "lock")
    attrs: dict[tuple[str, str], str]  # (logical id, Arn) -> "evaluator" / "smoke"


def _synthesize(outdir: str) -> Synthesized:
    app = cdk.App(outdir=outdir)
    stack = cdk.Stack(app, "HooksE2E", env=cdk.Environment(account=ACCOUNT, region=REGION))
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-0123456789abcdef0",
        vpc_cidr_block="10.0.0.0/16",
        availability_zones=["us-east-1a", "us-east-1b"],
        private_subnet_ids=["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    )
    CanaryRollout(
        stack,
        "Hooked",
        endpoint=_EndpointRef(
            "hooked-endpoint",
            stack.format_arn(service="sagemaker", resource="endpoint", resource_name="hooked"),
        ),
        baseline_variant=BASELINE,
        canary_variant=CANARY,
        vpc=vpc,
        smoke_tests=[
            SmokeTest(
                name="predicts",
                body='{"instances": [[1.0, 2.0]]}',
                expect_json_path="$.predictions[0]",
            )
        ],
        hooks=[
            RolloutHook(
                name=name,
                function=lambda_.Function.from_function_arn(
                    stack, name, f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:hook-{name}"
                ),
                point=point,
                config={"owner": "ml-platform"},
            )
            for name, point in HOOKS.items()
        ],
    )
    app.synth()
    with open(f"{outdir}/HooksE2E.template.json") as handle:
        resources = json.load(handle)["Resources"]

    def one(kind: str, prefix: str) -> str:
        (found,) = [i for i, r in resources.items() if r["Type"] == kind and i.startswith(prefix)]
        return str(found)

    machine = resources[one("AWS::StepFunctions::StateMachine", "Hooked")]["Properties"]
    table = next(i for i, r in resources.items() if r["Type"] == "AWS::DynamoDB::Table")
    return Synthesized(
        definition_string=machine["DefinitionString"],
        refs={one("AWS::SNS::Topic", "Hooked"): "topic", table: "lock"},
        attrs={
            (one("AWS::Lambda::Function", "HookedEvaluator"), "Arn"): "evaluator",
            (one("AWS::Lambda::Function", "HookedSmokeTest"), "Arn"): "smoke",
        },
    )


#: A hook's behaviour in a scenario: the event -> the answer (or it raises).
Behaviour = Callable[[dict[str, Any]], Any]


def proceed(event: dict[str, Any]) -> Any:
    return {"proceed": True, "reason": f"{event['hook_name']} is content"}


@dataclass
class Hooks:
    """The hook functions: what each scenario's hooks answer, and every event they got."""

    runtime: StrictRuntime
    behaviours: dict[tuple[str, str], Behaviour] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, event: dict[str, Any]) -> Any:
        with self.lock:
            self.events.setdefault(event["endpoint_name"], []).append(event)
        if event["hook_name"] == SMOKE_TEST_HOOK:
            return smoke_handler(event, None, clients=(self.runtime, None))
        behaviour = self.behaviours.get((event["endpoint_name"], event["hook_name"]), proceed)
        return behaviour(event)


@dataclass
class Run:
    outcome: Outcome
    endpoint: str
    hook_events: list[dict[str, Any]]
    smoke_requests: list[dict[str, Any]]
    weight_updates: int


class World:
    def __init__(self, synthesized: Synthesized, strict: StrictAws, hooks: Hooks) -> None:
        self.synthesized, self.strict, self.hooks = synthesized, strict, hooks
        evaluator_arn = create_shared()
        self.arns = {"evaluator": evaluator_arn}
        for name in (*(f"hook-{n}" for n in HOOKS), "smoke-test"):
            self.arns[name] = _create_function(name)
        self.arns["smoke"] = self.arns.pop("smoke-test")

    def run(self, name: str, behaviours: dict[str, Behaviour], *, canary_model: Any = None) -> Run:
        endpoint = f"hooked-{name}"
        create_endpoint(endpoint, BASELINE, CANARY)
        for hook, behaviour in behaviours.items():
            self.hooks.behaviours[(endpoint, hook)] = behaviour
        if canary_model is not None:
            self.hooks.runtime.models[(endpoint, CANARY)] = canary_model
        inbox = Inbox.create(f"hooked-topic-{name}")
        resources = {"topic": inbox.topic_arn, "lock": LOCK_TABLE}
        text = resolve(
            self.synthesized.definition_string,
            refs={i: resources[kind] for i, kind in self.synthesized.refs.items()},
            attrs={key: self.arns[kind] for key, kind in self.synthesized.attrs.items()},
        )
        definition = text.replace("hooked-endpoint", endpoint)
        machine = create_state_machine(f"hooked-rollout-{name}", definition)
        traffic = StrictTraffic(
            self.strict, endpoint, BASELINE, CANARY, healthy, backend_weights, rate=5.0, tick=0.1
        )
        traffic.start()
        try:
            outcome = finish(start(machine, FAST), endpoint, inbox)
        finally:
            traffic.stop()
        updates = sum(
            1
            for event in outcome.history
            if event["type"] == "TaskScheduled"
            and event["taskScheduledEventDetails"]["resource"]
            == "updateEndpointWeightsAndCapacities"
        )
        return Run(
            outcome=outcome,
            endpoint=endpoint,
            hook_events=list(self.hooks.events.get(endpoint, [])),
            smoke_requests=[
                r for r in self.hooks.runtime.requests if r["EndpointName"] == endpoint
            ],
            weight_updates=updates,
        )


def _create_function(name: str) -> str:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.py", "# the harness runs the hooks in-process\n")
    created = clients()["lambda"].create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=FAKE_ROLE_ARN,
        Handler="placeholder.handler",
        Code={"ZipFile": buffer.getvalue()},
    )
    return str(created["FunctionArn"])


def _raises(message: str) -> Behaviour:
    def behaviour(event: dict[str, Any]) -> Any:
        raise RuntimeError(message)

    return behaviour


def scenario_healthy(world: World) -> Run:
    """Every hook proceeds (the warm-up answers nothing at all: it returned normally) but the
    after_rollout one, which fails (only published)."""
    return world.run(
        "healthy", {"warm-up": lambda event: None, "announce": _raises("chat service down")}
    )


def scenario_smoke_fails(world: World) -> Run:
    """The canary's model answers the smoke test with a 500."""
    return world.run(
        "smoke",
        {},
        canary_model=lambda body, content_type: (500, b"model not loaded"),
    )


def scenario_unclear(world: World) -> Run:
    """The after_step hook answers ``proceed: "yes"``: not a boolean, so not a yes."""
    return world.run("unclear", {"drift": lambda event: {"proceed": "yes"}})


def scenario_kpi_fails(world: World) -> Run:
    """The before_promotion hook raises."""
    return world.run("kpi", {"kpi": _raises("KPI service timed out")})


SCENARIOS: dict[str, Callable[[World], Run]] = {
    "healthy": scenario_healthy,
    "smoke": scenario_smoke_fails,
    "unclear": scenario_unclear,
    "kpi": scenario_kpi_fails,
}


class Runs(dict[str, Run]):
    def __init__(self) -> None:
        super().__init__()
        self.errors: dict[str, Exception] = {}

    def __missing__(self, key: str) -> Run:
        raise AssertionError(f"scenario {key!r} did not complete; harness errors: {self.errors!r}")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    synthesized = _synthesize(str(tmp_path_factory.mktemp("rollout-hooks-e2e")))
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
    mock.start()
    strict = StrictAws(factor=TIME_FACTOR)
    hooks = Hooks(runtime=StrictRuntime(sagemaker_backend))

    def lambda_handler(event: Any, context: Any) -> Any:
        if isinstance(event, dict) and "hook" in event:
            return hooks.answer(event)
        return strict.handler(event, context)

    undo = patch_moto(lambda_handler)
    try:
        world = World(synthesized, strict, hooks)
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
        undo()
        mock.stop()


def _points(run: Run) -> list[tuple[str, str]]:
    return [(e["hook"], e["hook_name"]) for e in run.hook_events]


def test_a_healthy_canary_passes_every_hook_in_order_and_is_promoted(runs: Runs) -> None:
    run = runs["healthy"]
    outcome = run.outcome
    assert outcome.status == "SUCCEEDED", (outcome.error, outcome.cause)
    assert outcome.weights == {BASELINE: 0.0, CANARY: 100.0}
    assert _points(run) == [
        (HOOK_BEFORE_TRAFFIC, SMOKE_TEST_HOOK),
        (HOOK_BEFORE_TRAFFIC, "warm-up"),
        (HOOK_AFTER_STEP, "drift"),  # after 50 %
        (HOOK_AFTER_STEP, "drift"),  # after 100 %
        (HOOK_BEFORE_PROMOTION, "kpi"),
        (HOOK_AFTER_ROLLOUT, "announce"),
    ]
    events = run.hook_events
    # each event carries the rollout's state and the hook's config
    assert all(e["endpoint_name"] == run.endpoint for e in events)
    assert all(e["canary_variant"] == CANARY and e["baseline_variant"] == BASELINE for e in events)
    assert all(e["execution_arn"].startswith("arn:aws:states:") for e in events)
    assert events[1]["config"] == {"owner": "ml-platform"}
    assert [e["step"]["percent"] for e in events[2:5]] == [50, 100, 100]
    assert events[2]["evaluation"]["verdict"] == "PASS"
    assert events[5]["outcome"] == {"status": OUTCOME_COMPLETED}
    # the smoke test went to the canary variant directly, while it had no traffic
    assert [r["TargetVariant"] for r in run.smoke_requests] == [CANARY]
    (started,) = [m for m in outcome.messages if m["event"] == Events.STARTED]
    assert started["phases"]["smoke_test"] is True
    assert started["phases"]["hooks"][HOOK_AFTER_STEP] == ["drift"]
    # the after_rollout hook failed: published, and the outcome stands
    failed = [m for m in outcome.messages if m["event"] == Events.HOOK_FAILED]
    assert len(failed) == 1
    assert failed[0]["hook_name"] == "announce"
    assert failed[0]["outcome"] == OUTCOME_COMPLETED
    assert "chat service down" in json.dumps(failed[0]["error"])
    assert outcome.events[-2:] == [Events.COMPLETED, Events.HOOK_FAILED]
    assert outcome.lock_holder is None


def test_a_failing_smoke_test_ends_the_rollout_before_any_traffic(runs: Runs) -> None:
    run = runs["smoke"]
    outcome = run.outcome
    assert outcome.status == "FAILED"
    assert outcome.error == Errors.ROLLED_BACK
    assert outcome.cause is not None
    assert outcome.cause.startswith(
        f"{Errors.SMOKE_TEST_FAILED}: the smoke test refused the canary before any traffic:"
    )
    assert "predicts: status 500, expected 200 (model not loaded)" in outcome.cause
    # no weight was ever set: the canary stayed at 0 %, and no step began
    assert run.weight_updates == 0
    assert outcome.weights == {BASELINE: 100.0, CANARY: 0.0}
    assert outcome.entered(States.START_STEP) == 0
    # the user's hooks after the smoke test did not run; after_rollout learned the outcome
    assert _points(run) == [
        (HOOK_BEFORE_TRAFFIC, SMOKE_TEST_HOOK),
        (HOOK_AFTER_ROLLOUT, "announce"),
    ]
    assert run.hook_events[-1]["outcome"]["status"] == OUTCOME_ROLLED_BACK
    assert run.hook_events[-1]["outcome"]["reason"] == outcome.cause
    rolled_back = [m for m in outcome.messages if m["event"] == Events.ROLLED_BACK]
    assert len(rolled_back) == 1
    assert rolled_back[0]["percent"] == 0
    assert outcome.lock_holder is None


def test_an_unclear_hook_answer_rolls_back_with_its_reason(runs: Runs) -> None:
    run = runs["unclear"]
    outcome = run.outcome
    assert outcome.status == "FAILED"
    assert outcome.error == Errors.ROLLED_BACK
    assert outcome.cause == (
        f"{Errors.HOOK_REFUSED}: hook drift refused the canary after the 50% step: "
        '{"proceed":"yes"}'
    )
    assert outcome.weights == {BASELINE: 100.0, CANARY: 0.0}
    assert (HOOK_BEFORE_PROMOTION, "kpi") not in _points(run)
    assert _points(run)[-1] == (HOOK_AFTER_ROLLOUT, "announce")
    assert outcome.lock_holder is None


def test_a_failing_hook_rolls_back_even_from_100_percent(runs: Runs) -> None:
    run = runs["kpi"]
    outcome = run.outcome
    assert outcome.status == "FAILED"
    assert outcome.error == Errors.ROLLED_BACK
    assert outcome.cause is not None
    assert outcome.cause.startswith(
        f"{Errors.HOOK_REFUSED}: hook kpi failed before its promotion: "
    )
    assert "KPI service timed out" in outcome.cause
    # the canary had reached 100 %: the rollback put everything back on the baseline
    assert outcome.weights == {BASELINE: 100.0, CANARY: 0.0}
    assert outcome.entered(States.ROLLBACK_SET_WEIGHTS) >= 1
    assert Events.ROLLED_BACK in outcome.events
    assert outcome.lock_holder is None


class _HistoryUpTo:
    """Step Functions as it answered while the execution was at event ``last_id``: the history
    up to that event, the execution RUNNING (the rest is moto's)."""

    def __init__(self, sfn: Any, last_id: int) -> None:
        self._sfn, self._last_id = sfn, last_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sfn, name)

    def describe_execution(self, **kwargs: Any) -> dict[str, Any]:
        described = dict(self._sfn.describe_execution(**kwargs))
        described["status"] = "RUNNING"
        for key in ("error", "cause", "output"):
            described.pop(key, None)
        return described

    def get_paginator(self, operation: str) -> Any:
        last_id = self._last_id

        class Pages:
            def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
                events = history(kwargs["executionArn"])
                yield {"events": [e for e in events if int(e["id"]) <= last_id]}

        assert operation == "get_execution_history"
        return Pages()


def test_the_command_line_shows_the_smoke_test_and_the_hook_that_runs(runs: Runs) -> None:
    run = runs["healthy"]
    execution = run.hook_events[0]["execution_arn"]
    events = run.outcome.history

    def phase_at(event: dict[str, Any]) -> list[str]:
        fake = Clients(
            sfn=_HistoryUpTo(clients()["stepfunctions"], int(event["id"])),
            sagemaker=clients()["sagemaker"],
            cloudformation=None,
        )
        progress = read_progress(fake, execution)
        return describe(progress, None, datetime.now(UTC))

    def scheduled(hook_name: str) -> dict[str, Any]:
        return next(
            e
            for e in events
            if e["type"] == "TaskScheduled"
            and json.loads(e["taskScheduledEventDetails"]["parameters"])
            .get("Payload", {})
            .get("hook_name")
            == hook_name
        )

    def entered(state: str) -> dict[str, Any]:
        return next(e for e in events if e.get("stateEnteredEventDetails", {}).get("name") == state)

    assert phase_at(scheduled(SMOKE_TEST_HOOK))[:2] == [
        "status   RUNNING",
        "phase    smoke test: requests to the canary",
    ]
    assert phase_at(scheduled("kpi"))[1] == "phase    hook kpi (before_promotion)"
    assert phase_at(entered(States.START_BAKE))[1] == "phase    bake: evaluating"
    assert phase_at(entered(States.SET_WEIGHTS))[1] == "phase    shifting traffic"
