"""End to end: the synthesized ShadowEvaluation state machine, executed by moto's Step Functions.

GIVEN the definition that ``ShadowEvaluation`` synthesizes (read from the template, tokens
resolved to moto resources), moto SageMaker endpoints with one production variant and one
shadow variant (``shadow_harness.bridge_shadow_variants``: moto has no shadow variants),
traffic that the production variant serves while SageMaker copies a share of it to the shadow,
and the evaluator's real handler; WHEN evaluations run (all scenarios concurrently, short
intervals from the execution input); THEN each ends in the verdict the traffic deserves, and
nothing on the endpoint changed.

CloudWatch is as strict as AWS (tests/strict_aws.py: StartTime rounded down to the period,
publishing delay, p99 from individual requests), so the executions run the construct's
DEFAULT policy (p99, alpha 0.05, 100 shadow invocations); the execution input only shortens
the schedule (bake 3 s = 6 simulated minutes, interval 1 s).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest
from moto import mock_aws
from rollout_harness import (
    Inbox,
    Outcome,
    create_shared,
    create_state_machine,
    finish,
    invocations_for,
    patch_moto,
    sagemaker_backend,
    start,
)
from shadow_harness import (
    ShadowSpec,
    ShadowTraffic,
    bridge_shadow_variants,
    create_shadow_endpoint,
    find_shadow,
    synthesize_shadows,
)
from strict_aws import HISTORY_LIMIT, StrictAws, errors_5xx, healthy, slow_from

from canary_evaluator.shadow_input import shadow_history_events
from sagemaker_constructs.rollout.contract import (
    SHADOW_CHECKS,
    SHADOW_REASONS,
    SHADOW_VERDICT,
    ShadowErrors,
    ShadowEvents,
    ShadowStates,
)

PRODUCTION = "Production"
SHADOW = "Shadow"
#: One real second is this many simulated seconds.
TIME_FACTOR = 120.0
#: The schedule in real seconds; the policy is the construct's default.
FAST = {"bake_seconds": 3, "interval_seconds": 1, "max_extensions": 2}
#: The share of production requests SageMaker copies to the shadow (percent).
SAMPLING = 20.0
#: A share too small for the default 100 shadow invocations in the whole window.
TRICKLE = 0.2


class World:
    """Shared moto resources; ``scenario`` builds one endpoint + state machine."""

    def __init__(self, template: dict[str, Any], strict: StrictAws) -> None:
        self.strict = strict
        self.shadow = find_shadow(template, "Shadow", "e2e-shadow-endpoint")
        self.evaluator_arn = create_shared()

    def run(
        self,
        name: str,
        execution_input: Any,
        *,
        profile: Callable[[float], Any] = healthy,
        sampling: float = SAMPLING,
        with_shadow: bool = True,
    ) -> Outcome:
        endpoint = f"ep-{name}"
        create_shadow_endpoint(endpoint, PRODUCTION, SHADOW if with_shadow else None)
        inbox = Inbox.create(f"topic-{name}")
        definition = self.shadow.definition_for(
            state_machine_name=f"shadow-{name}",
            endpoint_name=endpoint,
            evaluator_arn=self.evaluator_arn,
            topic_arn=inbox.topic_arn,
        )
        machine = create_state_machine(f"shadow-{name}", definition)
        traffic = ShadowTraffic(
            self.strict, endpoint, PRODUCTION, SHADOW, profile, sampling=sampling
        )
        traffic.start()
        try:
            return finish(start(machine, execution_input), endpoint, inbox)
        finally:
            traffic.stop()


SCENARIOS: dict[str, Callable[[World], Outcome]] = {
    "healthy": lambda w: w.run("healthy", FAST),
    "5xx": lambda w: w.run("errors", FAST, profile=errors_5xx(0.2)),
    "latency": lambda w: w.run("slow", FAST, profile=slow_from(0, 3.0)),
    "trickle": lambda w: w.run("trickle", FAST, sampling=TRICKLE),
    "no_shadow": lambda w: w.run("plain", FAST, with_shadow=False),
    "bad_input": lambda w: w.run("badinput", {**FAST, "steps": [5, 100]}),
}


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
    template = synthesize_shadows(
        str(tmp_path_factory.mktemp("shadow-e2e")),
        "ShadowE2E",
        [ShadowSpec("Shadow", "e2e-shadow-endpoint")],
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
        world = World(template, strict)
        results = Outcomes()

        def run(item: tuple[str, Callable[[World], Outcome]]) -> None:
            key, scenario = item
            try:
                results[key] = scenario(world)
            except Exception as error:  # reported by the tests that need this scenario
                results.errors[key] = error

        with ThreadPoolExecutor(max_workers=len(SCENARIOS)) as pool:
            list(pool.map(run, SCENARIOS.items()))
        results.violations = strict.violations
        yield results
    finally:
        unbridge()
        undo()
        mock.stop()


def _verdicts(endpoint: str) -> list[str]:
    """The evaluator's verdicts for ``endpoint``, in order (the input check excluded)."""
    return [
        str(answer["verdict"])
        for event, answer in invocations_for(endpoint)
        if answer is not None and "verdict" in answer
    ]


def _production_untouched(outcome: Outcome) -> None:
    """No weight moved and no call could have moved one."""
    assert outcome.weights == {PRODUCTION: 1.0}
    assert outcome.lock_holder is None  # no lock either: nothing to protect
    resources = {
        event["taskScheduledEventDetails"]["resource"]
        for event in outcome.history
        if "taskScheduledEventDetails" in event
    }
    assert not any("update" in resource.lower() for resource in resources), resources


def test_a_moto_endpoint_reports_its_shadow_variant_as_aws_does(outcomes: Outcomes) -> None:
    described = sagemaker_backend().describe_endpoint("ep-healthy")
    (shadow,) = described["ShadowProductionVariants"]
    assert shadow["VariantName"] == SHADOW
    assert shadow["CurrentWeight"] == 1.0
    assert "ShadowProductionVariants" not in sagemaker_backend().describe_endpoint("ep-plain")


def test_healthy_shadow_traffic_passes_with_the_verdict_reasons_and_checks(
    outcomes: Outcomes,
) -> None:
    outcome = outcomes["healthy"]
    assert outcome.status == "SUCCEEDED", (outcome.error, outcome.cause)
    result = outcome.output
    assert result[SHADOW_VERDICT] == "PASS"
    assert result[SHADOW_REASONS]
    names = {check["name"] for check in result[SHADOW_CHECKS]}
    assert {"error_rate", "latency"} <= names
    assert {check["verdict"] for check in result[SHADOW_CHECKS]} == {"PASS"}
    assert result["production_variant"] == PRODUCTION
    assert result["shadow_variant"] == SHADOW
    # the production variant serves every request, the shadow about its sampling share
    share = result["shadow_invocations"] / result["production_invocations"]
    assert 0.1 < share < 0.3
    assert result["evaluations"] >= 3  # bake 3 s / interval 1 s
    # every evaluation judged the shadow (canary) against production (baseline), whole
    # periods from the window's start, with the default p99
    calls = [(e, a) for e, a in invocations_for("ep-healthy") if a and "verdict" in a]
    assert len(calls) == result["evaluations"]
    for event, answer in calls:
        assert (event["baseline_variant"], event["canary_variant"]) == (PRODUCTION, SHADOW)
        assert "baseline_weight" not in event  # the production variant is always live
        assert "latency" not in event["policy"]
        # a window without a whole period yet judges no data ("none"); then production is live
        assert answer["baseline_source"] == ("live" if answer["periods"] else "none")
        periods_start = datetime.fromisoformat(answer["periods_start"])
        assert periods_start >= datetime.fromisoformat(answer["window_start"])
        assert periods_start.second == 0
    assert len({event["window_start"] for event, _ in calls}) == 1  # the evaluation's start
    assert calls[-1][1]["periods"] >= 2
    _production_untouched(outcome)
    assert outcome.events == [ShadowEvents.STARTED, ShadowEvents.VERDICT]
    started, verdict = outcome.messages
    assert started["shadow"]["VariantName"] == SHADOW
    assert (started["baseline_variant"], started["canary_variant"]) == (PRODUCTION, SHADOW)
    assert verdict[SHADOW_VERDICT] == "PASS"
    assert verdict[SHADOW_CHECKS] == result[SHADOW_CHECKS]
    assert ":execution:shadow-healthy:" in verdict["execution_arn"]


def test_a_shadow_with_more_5xx_errors_fails_at_once(outcomes: Outcomes) -> None:
    outcome = outcomes["5xx"]
    assert outcome.status == "FAILED"
    assert outcome.error == ShadowErrors.FAILED
    cause = outcome.cause or ""
    assert '"error_rate"' in cause  # the failed checks, by name
    assert f"shadow variant {SHADOW} FAILED against production variant {PRODUCTION}" in cause
    # FAIL -> end at once: the first FAIL verdict is the last evaluation
    verdicts = _verdicts("ep-errors")
    assert verdicts[-1] == "FAIL"
    assert "FAIL" not in verdicts[:-1]
    assert outcome.entered(ShadowStates.EVALUATE) == len(verdicts)
    assert outcome.entered(ShadowStates.EXTEND) == 0
    _production_untouched(outcome)
    assert outcome.events == [ShadowEvents.STARTED, ShadowEvents.VERDICT]
    verdict = outcome.messages[-1]
    assert verdict[SHADOW_VERDICT] == "FAIL"
    assert "error_rate" in verdict["failed_checks"]
    assert set(verdict["failed_checks"]) <= {"error_rate", "error_rate_ceiling"}
    assert any("error_rate" in reason for reason in verdict[SHADOW_REASONS])


def test_a_slower_shadow_fails_on_p99_latency(outcomes: Outcomes) -> None:
    outcome = outcomes["latency"]
    assert outcome.status == "FAILED"
    assert outcome.error == ShadowErrors.FAILED
    assert '"latency"' in (outcome.cause or "")
    assert "error_rate" not in outcome.messages[-1]["failed_checks"]
    _production_untouched(outcome)


def test_too_little_shadow_traffic_extends_the_bake_then_ends_inconclusive(
    outcomes: Outcomes,
) -> None:
    outcome = outcomes["trickle"]
    assert outcome.status == "FAILED"
    assert outcome.error == ShadowErrors.INCONCLUSIVE
    cause = outcome.cause or ""
    assert "INCONCLUSIVE after 5 evaluations and 2 extension(s)" in cause
    assert outcome.entered(ShadowStates.EXTEND) == 2
    assert outcome.entered(ShadowStates.EVALUATE) == 5  # 3 in the bake + 2 extensions
    assert set(_verdicts("ep-trickle")) == {"INCONCLUSIVE"}
    verdict = outcome.messages[-1]
    assert verdict[SHADOW_VERDICT] == "INCONCLUSIVE"
    assert verdict["shadow_invocations"] < 100 < verdict["production_invocations"]
    _production_untouched(outcome)


def test_an_endpoint_without_the_shadow_variant_is_not_evaluated(outcomes: Outcomes) -> None:
    outcome = outcomes["no_shadow"]
    assert outcome.status == "FAILED"
    assert outcome.error == ShadowErrors.NOT_READY
    assert ShadowErrors.VARIANTS_MISSING in (outcome.cause or "")
    assert outcome.entered(ShadowStates.START_WINDOW) == 0
    assert _verdicts("ep-plain") == []
    assert outcome.events == []  # nothing started


def test_invalid_execution_input_fails_before_anything_is_evaluated(outcomes: Outcomes) -> None:
    outcome = outcomes["bad_input"]
    assert outcome.status == "FAILED"
    assert outcome.error == ShadowErrors.INVALID_INPUT
    assert "steps: unknown key" in (outcome.cause or "")
    assert outcome.entered(ShadowStates.BEFORE_EVALUATION) == 0
    assert outcome.events == []


def test_no_answer_nears_the_payload_limit_and_histories_stay_small(outcomes: Outcomes) -> None:
    assert outcomes.violations == []
    assert outcomes.errors == {}
    # the worst case the input validation computes bounds what an evaluation really takes
    worst = shadow_history_events(bake_seconds=3, interval_seconds=1, max_extensions=2,
                                  max_polls=60)  # fmt: skip
    assert worst < HISTORY_LIMIT
    for key, outcome in outcomes.items():
        assert len(outcome.history) <= worst, key
