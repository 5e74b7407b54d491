"""One rule, one place: the rules the construct, the state machine and the command line share.

- "rolled back" (``contract.is_rolled_back``): the state machine's rollback check and
  ``sagemaker-rollout abort`` both need the baseline at 100 AND the canary at 0;
- the policy schema: the construct accepts exactly the policies the evaluator accepts, and
  rejects the others with the evaluator's own message;
- the command line imports no AWS CDK (it runs where Node.js is absent).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from canary_evaluator.policy import parse_policy
from sagemaker_constructs.rollout import cli
from sagemaker_constructs.rollout.contract import (
    ROLLED_BACK_BASELINE_WEIGHT,
    ROLLED_BACK_CANARY_WEIGHT,
    TAG_BASELINE,
    TAG_CANARY,
    TAG_ENDPOINT,
    TAG_INSTANCES,
    is_rolled_back,
)
from sagemaker_constructs.rollout.rules import check_policy

BASELINE, CANARY = "blue", "green"
MACHINE = "arn:aws:states:us-east-1:111111111111:stateMachine:rollout"
EXECUTION = "arn:aws:states:us-east-1:111111111111:execution:rollout:one"


# -- "rolled back" --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ({BASELINE: 100.0, CANARY: 0.0}, True),
        ({BASELINE: 100, CANARY: 0}, True),
        ({BASELINE: 50.0, CANARY: 0.0}, False),  # canary idle, baseline not restored
        ({BASELINE: 100.0, CANARY: 5.0}, False),
        ({BASELINE: 0.0, CANARY: 0.0}, False),
        ({BASELINE: 100.0}, False),  # the canary is not reported: nothing is verified
    ],
)
def test_rolled_back_needs_the_baseline_at_100_and_the_canary_at_0(
    weights: dict[str, float], expected: bool
) -> None:
    assert is_rolled_back(weights, baseline=BASELINE, canary=CANARY) is expected
    assert (ROLLED_BACK_BASELINE_WEIGHT, ROLLED_BACK_CANARY_WEIGHT) == (100, 0)


class _Sfn:
    extra_tags: dict[str, str] = {}  # noqa: RUF012

    def describe_execution(self, **_: Any) -> dict[str, Any]:
        return {"stateMachineArn": MACHINE, "status": "RUNNING"}

    def list_tags_for_resource(self, **_: Any) -> dict[str, Any]:
        tags = {TAG_ENDPOINT: "ep", TAG_BASELINE: BASELINE, TAG_CANARY: CANARY, **self.extra_tags}
        return {"tags": [{"key": k, "value": v} for k, v in tags.items()]}

    def list_executions(self, **_: Any) -> dict[str, Any]:
        return {"executions": [{"executionArn": EXECUTION}]}

    def stop_execution(self, **_: Any) -> None:
        return None


class _SageMaker:
    """An endpoint that takes any update but then reports ``reported`` weights."""

    def __init__(self, reported: dict[str, float]) -> None:
        self.reported = reported
        self.updates: list[Any] = []

    def describe_endpoint(self, **_: Any) -> dict[str, Any]:
        variants = [{"VariantName": n, "CurrentWeight": w} for n, w in self.reported.items()]
        return {"EndpointStatus": "InService", "ProductionVariants": variants}

    def update_endpoint_weights_and_capacities(self, **kwargs: Any) -> None:
        self.updates.append(kwargs["DesiredWeightsAndCapacities"])


def _abort(
    reported: dict[str, float], tags: dict[str, str] | None = None
) -> tuple[Callable[[], int], _SageMaker, io.StringIO]:
    sagemaker = _SageMaker(reported)
    sfn = _Sfn()
    sfn.extra_tags = tags or {}
    clients = cli.Clients(sfn=sfn, sagemaker=sagemaker, cloudformation=None)
    out = io.StringIO()

    def run() -> int:
        return cli.abort(clients, EXECUTION, "test", out=out, sleep=lambda _: None)

    return run, sagemaker, out


def test_abort_verifies_the_rolled_back_weights() -> None:
    run, sagemaker, out = _abort({BASELINE: 100.0, CANARY: 0.0})
    assert run() == cli.EXIT_ABORTED
    assert "(verified)" in out.getvalue()
    assert sagemaker.updates == [
        [
            {"VariantName": BASELINE, "DesiredWeight": 100.0},
            {"VariantName": CANARY, "DesiredWeight": 0.0},
        ]
    ]


def test_abort_gives_a_scaled_baseline_its_fleet_back() -> None:
    run, sagemaker, _ = _abort({BASELINE: 100.0, CANARY: 0.0}, {TAG_INSTANCES: "4,1"})
    assert run() == cli.EXIT_ABORTED
    (desired,) = sagemaker.updates
    assert [d["DesiredInstanceCount"] for d in desired] == [4, 1]


def test_abort_does_not_call_a_canary_at_0_rolled_back_when_the_baseline_is_not_at_100() -> None:
    run, _, out = _abort({BASELINE: 50.0, CANARY: 0.0, "third": 50.0})
    with pytest.raises(cli.CliError, match=r"were not restored in time"):
        run()
    assert "(verified)" not in out.getvalue()


# -- the policy schema ----------------------------------------------------------------------

POLICIES: list[dict[str, Any]] = [
    {},
    {"min_canary_invocations": 500},
    {"min_canary_invocations": 0},
    {"min_canary_invocations": 1.5},
    {"error_rate": {"alpha": 0}},
    {"error_rate": {"alpha": 1}},
    {"error_rate": {"alpha": 0.5, "max_rate": 1, "max_absolute_increase": 0.02}},
    {"error_rate": {"max_absolute_increase": 1}},
    {"latency": {"statistic": "p101"}},
    {"latency": {"statistic": "p99.9", "max_relative_increase": 0.1}},
    {"latency": {"statistic": "Average", "alpha": 0.01}},
    {"latency": {"max_relative_increase": 101}},
    {"latency": "p99"},
    {"alarm_names": ["slo"]},
    {"alarm_names": "slo"},
    {"alarm_names": [""]},
    {"extra_metrics": [{"namespace": "Shop", "name": "Conversions"}]},
    {
        "extra_metrics": [
            {
                "namespace": "Shop",
                "name": "Conversions",
                "dimensions": {"Site": "eu"},
                "statistic": "Sum",
                "direction": "higher_is_better",
                "tolerance": 0.1,
            }
        ]
    },
    {"unknown": 1},
]


def _evaluator_accepts(policy: dict[str, Any]) -> bool:
    try:
        parse_policy(json.loads(json.dumps(policy)))
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: json.dumps(p)[:60])
def test_the_construct_accepts_exactly_the_policies_the_evaluator_accepts(
    policy: dict[str, Any],
) -> None:
    assert (check_policy(policy) == []) is _evaluator_accepts(policy)


def test_the_corpus_holds_both_kinds() -> None:
    verdicts = {_evaluator_accepts(p) for p in POLICIES}
    assert verdicts == {True, False}


def test_a_policy_json_cannot_carry_is_rejected() -> None:
    (objection,) = check_policy({"latency": {"max_relative_increase": float("nan")}})
    assert objection.startswith("policy: got")
    assert "JSON values only" in objection


# -- the command line without AWS CDK -------------------------------------------------------


def test_the_command_line_imports_no_cdk() -> None:
    code = (
        "import sys, sagemaker_constructs.rollout.cli, sagemaker_constructs.rollout.contract\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'aws_cdk', 'constructs', 'jsii', 'cdk_nag'})\n"
        "print(','.join(loaded))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
