"""CanaryRollout with a smoke test and hooks, synthesized and validated.

GIVEN a rollout with smoke tests (inline and in S3) and a hook at each of the four points;
WHEN synthesized with the four cdk-nag packs and cfn-lint; THEN the state machine calls the
smoke test and the hooks where the contract says, may invoke exactly those functions, the
smoke-test function may invoke the endpoint and read its S3 body only, the history budget
counts the calls, and every rule of the new arguments fails construction with the argument
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
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from cdk_testing import cfn_lint

from sagemaker_constructs.compliance import add_compliance_checks
from sagemaker_constructs.endpoint import Endpoint
from sagemaker_constructs.rollout import CanaryRollout
from sagemaker_constructs.rollout.contract import (
    HOOK_AFTER_ROLLOUT,
    HOOK_AFTER_STEP,
    HOOK_BEFORE_PROMOTION,
    HOOK_BEFORE_TRAFFIC,
    SMOKE_TEST_HOOK,
    Errors,
    Events,
    States,
)
from sagemaker_constructs.rollout.props import HookPoint, RolloutHook, SmokeTest
from sagemaker_constructs.rollout.rules import history_events

ENV = cdk.Environment(account="111111111111", region="us-east-1")


def _vpc(stack: cdk.Stack) -> ec2.IVpc:
    return ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-0123456789abcdef0",
        vpc_cidr_block="10.0.0.0/16",
        availability_zones=["us-east-1a", "us-east-1b"],
        private_subnet_ids=["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    )


def _function(stack: cdk.Stack, id: str) -> lambda_.IFunction:
    return lambda_.Function.from_function_arn(
        stack, id, f"arn:aws:lambda:us-east-1:111111111111:function:{id.lower()}"
    )


@dataclass
class Synthesized:
    raw: dict[str, Any]
    outdir: Path
    rollout: CanaryRollout


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    outdir = tmp_path_factory.mktemp("rollout-hooks")
    app = cdk.App(outdir=str(outdir))
    add_compliance_checks(app)
    stack = cdk.Stack(app, "Hooks", env=ENV)
    bucket = s3.Bucket.from_bucket_name(stack, "Payloads", "smoke-payloads")
    # GIVEN a rollout with two smoke tests and a hook at each point
    rollout = CanaryRollout(
        stack,
        "Rollout",
        endpoint=Endpoint.from_endpoint_name(stack, "Existing", "churn"),
        baseline_variant="Current",
        canary_variant="Candidate",
        vpc=_vpc(stack),
        dynamodb_prefix_list_id="pl-02cd2c6b",
        smoke_tests=[
            SmokeTest(
                name="inline",
                body='{"instances": [[1, 2, 3]]}',
                max_latency=cdk.Duration.seconds(2),
                expect_json_path="$.predictions[0]",
            ),
            SmokeTest(
                name="from-s3",
                body_bucket=bucket,
                body_key="smoke/request.csv",
                content_type="text/csv",
                expect_status=200,
            ),
        ],
        hooks=[
            RolloutHook(
                name="load-test",
                function=_function(stack, "LoadTest"),
                point=HookPoint.BEFORE_TRAFFIC,
                config={"requests": 100},
            ),
            RolloutHook(
                name="drift", function=_function(stack, "Drift"), point=HookPoint.AFTER_STEP
            ),
            RolloutHook(
                name="business-kpi",
                function=_function(stack, "Kpi"),
                point=HookPoint.BEFORE_PROMOTION,
            ),
            RolloutHook(
                name="announce",
                function=_function(stack, "Announce"),
                point=HookPoint.AFTER_ROLLOUT,
            ),
        ],
    )
    # WHEN the app is synthesized with the compliance packs (a finding raises here)
    app.synth()
    raw = json.loads((outdir / "Hooks.template.json").read_text())
    return Synthesized(raw, outdir, rollout)


def _definition(raw: dict[str, Any]) -> dict[str, Any]:
    (machine,) = [
        r for r in raw["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"
    ]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    text = "".join(p if isinstance(p, str) else "TOKEN" for p in parts)
    definition: dict[str, Any] = json.loads(text)
    return definition


def _next_of(states: dict[str, Any], name: str) -> list[str]:
    state = states[name]
    found = [state[k] for k in ("Next", "Default") if k in state]
    found += [rule["Next"] for rule in state.get("Choices", [])]
    return found


def test_smoke_test_then_hooks_run_before_any_traffic(synthesized: Synthesized) -> None:
    states = _definition(synthesized.raw)["States"]
    # THEN the first step's data leads to the smoke test, then the before_traffic hook, then
    # the first step
    assert states[States.INIT_STEP]["Next"] == "Smoke Test"
    smoke = states["Smoke Test"]
    payload = smoke["Parameters"]["Payload"]
    assert payload["hook"] == HOOK_BEFORE_TRAFFIC
    assert payload["hook_name"] == SMOKE_TEST_HOOK
    assert [t["name"] for t in payload["config"]["smoke_tests"]] == ["inline", "from-s3"]
    assert payload["config"]["smoke_tests"][0]["max_latency_ms"] == 2000
    assert payload["config"]["smoke_tests"][1]["body_s3"] == {
        "bucket": "smoke-payloads",
        "key": "smoke/request.csv",
    }
    assert "Hook before_traffic load-test" in _next_of(states, "Smoke Test: Proceed?")
    assert States.START_STEP in _next_of(states, "Hook before_traffic load-test: Proceed?")
    # a refusal before traffic notifies ROLLED_BACK without touching the weights
    refused = states["Smoke Test: Refused"]
    assert refused["Parameters"]["reason.$"].startswith(
        f"States.Format('{Errors.SMOKE_TEST_FAILED}: the smoke test refused the canary before"
    )
    assert refused["Next"] == "Refused Before Traffic"
    # the start notification announces the smoke test and the hooks
    started = states[States.NOTIFY_STARTED]["Parameters"]["Message"]
    assert started["phases"] == {
        "smoke_test": True,
        "hooks": {
            HOOK_BEFORE_TRAFFIC: ["load-test"],
            HOOK_AFTER_STEP: ["drift"],
            HOOK_BEFORE_PROMOTION: ["business-kpi"],
            HOOK_AFTER_ROLLOUT: ["announce"],
        },
    }
    notice = states["Refused Before Traffic"]
    assert notice["Parameters"]["Message"]["event"] == Events.ROLLED_BACK
    assert notice["Parameters"]["Message"]["percent"] == 0


def test_after_step_and_before_promotion_hooks_gate_the_next_step(
    synthesized: Synthesized,
) -> None:
    states = _definition(synthesized.raw)["States"]
    # THEN no transition reaches "Next Step" but through the hooks
    into_next_step = {
        name
        for name in states
        if States.NEXT_STEP in _next_of(states, name) or name == States.NEXT_STEP
    }
    assert into_next_step == {
        States.NEXT_STEP,
        "Hook before_promotion business-kpi: Proceed?",
        "Last Step Passed?",
    }
    assert states["Hook after_step drift: Proceed?"]["Choices"][0]["Next"] == "Last Step Passed?"
    assert states["Last Step Passed?"]["Choices"] == [
        {
            "Variable": "$.step.percent",
            "NumericEquals": 100,
            "Next": "Hook before_promotion business-kpi",
        }
    ]
    assert states["Hook after_step drift"]["Parameters"]["Payload"]["evaluation.$"] == (
        "$.evaluation"
    )
    # a refusal rolls back
    for hook in ("Hook after_step drift", "Hook before_promotion business-kpi"):
        assert states[f"{hook}: Refused"]["Next"] == States.ROLLBACK_READY
        assert states[f"{hook}: Failed"]["Next"] == States.ROLLBACK_READY
    assert HOOK_AFTER_STEP in states["Hook after_step drift"]["Comment"]
    assert HOOK_BEFORE_PROMOTION in states["Hook before_promotion business-kpi"]["Comment"]


def test_after_rollout_hooks_run_on_both_endings_and_change_nothing(
    synthesized: Synthesized,
) -> None:
    states = _definition(synthesized.raw)["States"]
    hook = "Hook after_rollout announce"
    assert states["Outcome Completed"]["Next"] == hook
    assert states["Outcome Rolled Back"]["Next"] == hook
    assert states[hook]["Parameters"]["Payload"]["outcome.$"] == "$.outcome"
    assert states[hook]["Parameters"]["Payload"]["hook"] == HOOK_AFTER_ROLLOUT
    # a refusal or failure is published, then the rollout ends as it was going to
    for way in ("Refused", "Failed"):
        notice = states[f"{hook}: {way}"]
        assert notice["Parameters"]["Message"]["event"] == Events.HOOK_FAILED
        assert notice["Next"] == "Ended How?"
    ended = states["Ended How?"]
    assert ended["Choices"][0]["Next"] == f"Release Lock: {States.COMPLETED}"
    assert ended["Default"] == f"Release Lock: {States.ROLLED_BACK}"
    # every way into the two endings passes the outcome first
    for terminal, outcome in (
        ("Notify Completed", "Outcome Completed"),
        ("Notify Rolled Back", "Outcome Rolled Back"),
        ("Refused Before Traffic", "Outcome Rolled Back"),
    ):
        assert states[terminal]["Next"] == outcome


def _role_statements(raw: dict[str, Any], role_prefix: str) -> list[dict[str, Any]]:
    return [
        statement
        for logical_id, resource in raw["Resources"].items()
        if resource["Type"] == "AWS::IAM::ManagedPolicy" and logical_id.startswith(role_prefix)
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_state_machine_may_invoke_the_hooks_and_the_smoke_test(synthesized: Synthesized) -> None:
    statements = _role_statements(synthesized.raw, "RolloutRole")
    invoked = json.dumps(
        [s["Resource"] for s in statements if "lambda:InvokeFunction" in s["Action"]]
    )
    for name in ("loadtest", "drift", "kpi", "announce"):
        assert f"function:{name}" in invoked
    assert "SmokeTest" in invoked  # the smoke-test function's Arn


def test_smoke_test_function_may_invoke_the_endpoint_and_read_its_body(
    synthesized: Synthesized,
) -> None:
    statements = _role_statements(synthesized.raw, "RolloutSmokeTestRole")
    actions = {a for s in statements for a in _list(s["Action"])}
    assert "sagemaker:InvokeEndpoint" in actions
    assert "s3:GetObject" in actions
    (invoke,) = [s for s in statements if s.get("Sid") == "InvokeTheEndpoint"]
    assert "endpoint/churn" in json.dumps(invoke["Resource"])
    reads = [s for s in statements if "s3:GetObject" in _list(s["Action"])]
    assert "smoke-payloads/smoke/request.csv" in json.dumps(reads)
    functions = [
        r
        for i, r in synthesized.raw["Resources"].items()
        if r["Type"] == "AWS::Lambda::Function" and i.startswith("RolloutSmokeTest")
    ]
    assert functions[0]["Properties"]["Handler"] == "canary_evaluator.smoke.handler"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_history_budget_counts_the_hook_calls(synthesized: Synthesized) -> None:
    states = _definition(synthesized.raw)["States"]
    defaults = states[States.START]["Result"]["defaults"]
    # the smoke test, before_traffic, before_promotion and after_rollout once; drift per step
    assert defaults["hook_calls"] == {"fixed": 4, "per_step": 1}
    plain = history_events(
        steps=4, bake_seconds=600, interval_seconds=60, max_extensions=5, max_polls=60
    )
    with_hooks = history_events(
        steps=4,
        bake_seconds=600,
        interval_seconds=60,
        max_extensions=5,
        max_polls=60,
        hook_calls=defaults["hook_calls"],
    )
    assert with_hooks > plain


def test_template_passes_cfn_lint(synthesized: Synthesized) -> None:
    assert cfn_lint(synthesized.raw, "us-east-1") == []


# -- validation -------------------------------------------------------------------------------


def _hook(name: str = "check", point: HookPoint = HookPoint.AFTER_STEP, **kw: Any) -> Any:
    def make(stack: cdk.Stack, index: int) -> RolloutHook:
        function = _function(stack, f"Fn{index}")
        return RolloutHook(name=name, function=function, point=point, **kw)

    return make


@pytest.mark.parametrize(
    ("hooks", "smoke_tests", "match"),
    [
        ([_hook("no spaces")], [], r"hooks\[0\]\.name='no spaces': must be 1-40 letters"),
        ([_hook(SMOKE_TEST_HOOK)], [], r"'smoke-test' is the built-in smoke test's name"),
        ([_hook("a"), _hook("a")], [], r"hooks\[1\]\.name='a': must be unique"),
        ([_hook(f"h{i}") for i in range(6)], [], r"at most 5 hooks per point"),
        ([_hook(config={"x.$": "$.y"})], [], r"no key may end in '\.\$'"),
        ([_hook(config={"big": "x" * 9000})], [], r"at most 8192 bytes of JSON"),
        ([_hook(config={"n": float("nan")})], [], r"hooks\[0\]\.config=.*must be JSON"),
        ([], [SmokeTest(name="t")], r"exactly one of body \(inline\) and body_bucket"),
        ([], [SmokeTest(name="t", body="{}", body_key="k")], r"exactly one of body"),
        ([], [SmokeTest(name="t", body="{}", expect_status=700)], r"expect_status=700"),
        (
            [],
            [SmokeTest(name="t", body="{}", max_latency=cdk.Duration.minutes(2))],
            r"max_latency=120000.*between 1 and 60000 ms",
        ),
        (
            [],
            [SmokeTest(name="t", body="{}", expect_json_path="predictions[0]")],
            r"expect_json_path='predictions\[0\]': must be a JSONPath",
        ),
        (
            [],
            [SmokeTest(name="t", body="{}", expect_json_path="$.a[*]")],
            r"expect_json_path='\$\.a\[\*\]'",
        ),
        ([], [SmokeTest(name="t", body="{}", content_type="")], r"content_type='': must be 1-1024"),
        (
            [],
            [SmokeTest(name="t", body="{}"), SmokeTest(name="t", body="{}")],
            r"smoke_tests\[1\]\.name='t': must be unique",
        ),
        ([], [SmokeTest(name="t", body="x" * 40000)], r"inline bodies must total at most 32768"),
        (
            [],
            [SmokeTest(name=f"t{i}", body="{}") for i in range(11)],
            r"smoke_tests=.*between 0 and 10 items",
        ),
    ],
)
def test_fails_when_a_hook_or_smoke_test_breaks_a_rule(
    hooks: list[Any], smoke_tests: list[SmokeTest], match: str
) -> None:
    stack_hooks = hooks

    def build() -> CanaryRollout:
        stack = cdk.Stack(cdk.App(), "Bad", env=ENV)
        return CanaryRollout(
            stack,
            "Rollout",
            endpoint=Endpoint.from_endpoint_name(stack, "Existing", "churn"),
            baseline_variant="Current",
            canary_variant="Candidate",
            vpc=_vpc(stack),
            dynamodb_prefix_list_id="pl-02cd2c6b",
            smoke_tests=smoke_tests,
            hooks=[make(stack, i) for i, make in enumerate(stack_hooks)],
        )

    with pytest.raises(ValueError, match=match):
        build()


def test_fails_when_hooks_overflow_the_history_budget() -> None:
    stack = cdk.Stack(cdk.App(), "Bad", env=ENV)
    with pytest.raises(ValueError, match=r"history events, more than the 20000 allowed"):
        CanaryRollout(
            stack,
            "Rollout",
            endpoint=Endpoint.from_endpoint_name(stack, "Existing", "churn"),
            baseline_variant="Current",
            canary_variant="Candidate",
            vpc=_vpc(stack),
            dynamodb_prefix_list_id="pl-02cd2c6b",
            steps=[1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100],
            bake_time=cdk.Duration.minutes(20),
            hooks=[
                RolloutHook(name=f"h{i}", function=_function(stack, f"H{i}"), point=p)
                for i, p in enumerate([HookPoint.AFTER_STEP] * 5)
            ],
        )


def test_a_string_is_not_a_hook_point() -> None:
    stack = cdk.Stack(cdk.App(), "Bad", env=ENV)
    with pytest.raises(ValueError, match=r"point='after_step': must be a member of HookPoint"):
        RolloutHook(name="x", function=_function(stack, "X"), point="after_step")  # type: ignore[arg-type]
