#!/usr/bin/env python3
"""The synthesized rollout, end to end in moto's Step Functions engine, against strict AWS.

    python benchmarks/rollout_fidelity.py [--runs 20] [--write]
    python benchmarks/rollout_fidelity.py --quick

What runs: the state machine ``CanaryRollout`` synthesizes with every default (steps 5, 25,
50, 100 %; bake 10 minutes; evaluation every minute; the default policy: p99, alpha 0.05, 100
canary invocations), executed by moto, with the evaluator's real code and AWS modelled as
strictly as it behaves (``tests/strict_aws.py``): time compressed 60x (one real second is one
simulated minute, so the schedule's seconds are the defaults' minutes), a simulated clock that
is NOT on a minute boundary, CloudWatch that rounds StartTime down to the period, publishes with
a delay and computes p99 from individual requests.

Scenarios: a healthy canary at 20, 100 and 500 requests/s (``--runs`` each), a 5XX regression
(0.1 % -> 5 %) and a 2x latency regression. The results (promotions, false rollbacks, where
regressions were caught) are printed and, with ``--write``, written to RESULTS_rollout.md.
Several rollouts run at once, each on its own endpoint.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for folder in ("tests", "lambda", "constructs", "."):
    sys.path.insert(0, str(ROOT / folder))
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

from moto import mock_aws  # noqa: E402
from rollout_harness import (  # noqa: E402
    RolloutSpec,
    SynthesizedRollout,
    backend_weights,
    create_endpoint,
    create_shared,
    create_state_machine,
    find_rollout,
    finish,
    patch_moto,
    start,
    synthesize_rollouts,
)
from strict_aws import (  # noqa: E402
    Behaviour,
    RequestProfile,
    StrictAws,
    StrictTraffic,
)

BASELINE, CANARY = "Baseline", "Canary"
TIME_FACTOR = 60.0
#: The construct's defaults in simulated minutes are seconds of real time here.
SCHEDULE = {"bake_seconds": 10, "interval_seconds": 1, "poll_seconds": 1}
BASE_ERROR_RATE = 0.001


def _with_errors(rate: float) -> RequestProfile:
    def profile(percent: float) -> tuple[Behaviour, Behaviour]:
        return Behaviour(error_rate=BASE_ERROR_RATE), Behaviour(error_rate=rate)

    return profile


def _slower(factor: float) -> RequestProfile:
    def profile(percent: float) -> tuple[Behaviour, Behaviour]:
        return (
            Behaviour(error_rate=BASE_ERROR_RATE),
            Behaviour(error_rate=BASE_ERROR_RATE, latency_factor=factor),
        )

    return profile


def _healthy_with_noise(percent: float) -> tuple[Behaviour, Behaviour]:
    return Behaviour(error_rate=BASE_ERROR_RATE), Behaviour(error_rate=BASE_ERROR_RATE)


@dataclass(frozen=True)
class Case:
    name: str
    profile: RequestProfile
    rate: float
    healthy: bool


@dataclass
class Result:
    case: Case
    status: str
    error: str | None
    cause: str | None
    seconds: float
    rolled_back_at: str | None


def run_one(
    case: Case, index: int, rollout: SynthesizedRollout, aws: StrictAws, evaluator: str
) -> Result:
    from rollout_harness import Inbox

    slug = "".join(ch if ch.isalnum() else "-" for ch in case.name).strip("-")
    name = f"{slug}-{index}"[:60]
    endpoint = f"ep-{name}"
    create_endpoint(endpoint, BASELINE, CANARY)
    inbox = Inbox.create(f"t-{name}")
    definition = rollout.definition_for(
        state_machine_name=f"sm-{name}",
        endpoint_name=endpoint,
        evaluator_arn=evaluator,
        topic_arn=inbox.topic_arn,
    )
    machine = create_state_machine(f"sm-{name}", definition)
    traffic = StrictTraffic(
        aws, endpoint, BASELINE, CANARY, case.profile, backend_weights, rate=case.rate,
        tick=0.05, seed=index,
    )  # fmt: skip
    traffic.start()
    began = time.monotonic()
    try:
        outcome = finish(start(machine, SCHEDULE), endpoint, inbox, timeout=600)
    finally:
        traffic.stop()
    at = None
    if outcome.cause and "% step" in outcome.cause:
        at = outcome.cause.split("% step")[0].rsplit(" ", 1)[-1] + " %"
    return Result(case, outcome.status, outcome.error, outcome.cause, time.monotonic() - began, at)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per healthy rate")
    parser.add_argument("--regression-runs", type=int, default=5)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="2 runs per healthy rate, 1 each")
    parser.add_argument("--write", action="store_true", help="record in RESULTS_rollout.md")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.regression_runs = 2, 1

    cases = [
        *(Case(f"healthy {r:g} req/s", _healthy_with_noise, r, True) for r in (20, 100, 500)),
    ]
    runs: list[tuple[Case, int]] = [(c, i) for c in cases for i in range(args.runs)]
    for case in (
        Case("5XX 0.1 % -> 5 % at 100 req/s", _with_errors(0.05), 100, False),
        Case("latency 2x at 100 req/s", _slower(2.0), 100, False),
    ):
        runs += [(case, i) for i in range(args.regression_runs)]

    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as outdir:
        template = synthesize_rollouts(
            outdir, "Fidelity", [RolloutSpec("Rollout", "fidelity-endpoint")],
            baseline=BASELINE, canary=CANARY,
        )  # fmt: skip
    rollout = find_rollout(template, "Rollout", "fidelity-endpoint")
    mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
    mock.start()
    aws = StrictAws(factor=TIME_FACTOR)
    undo = patch_moto(aws.handler)
    try:
        evaluator = create_shared()
        with ThreadPoolExecutor(max_workers=args.parallel) as pool:
            results = list(pool.map(lambda r: run_one(r[0], r[1], rollout, aws, evaluator), runs))
    finally:
        undo()
        mock.stop()
    elapsed = time.monotonic() - began
    lines = report(results, args, elapsed, aws.violations)
    print("\n".join(lines))
    if args.write:
        path = ROOT / "benchmarks" / "RESULTS_rollout.md"
        text = path.read_text()
        marker = "<!-- fidelity -->"
        head = text.split(marker)[0].rstrip() if marker in text else text.rstrip()
        path.write_text(head + "\n\n" + marker + "\n" + "\n".join(lines) + "\n")
    healthy_ok = all(r.status == "SUCCEEDED" for r in results if r.case.healthy)
    caught = all(r.error == "CanaryRolledBack" for r in results if not r.case.healthy)
    return 0 if healthy_ok and caught and not aws.violations else 1


def report(
    results: list[Result], args: argparse.Namespace, elapsed: float, violations: list[str]
) -> list[str]:
    by_case: dict[str, list[Result]] = {}
    for result in results:
        by_case.setdefault(result.case.name, []).append(result)
    lines = [
        "# End to end against strict AWS (`benchmarks/rollout_fidelity.py`)",
        "",
        f"- command: `python benchmarks/rollout_fidelity.py --runs {args.runs} "
        f"--regression-runs {args.regression_runs} --parallel {args.parallel} --write`",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {os.cpu_count()} cores, "
        f"CPython {platform.python_version()}; run time {elapsed / 60:.0f} min",
        "- the synthesized state machine with the construct's defaults (5/25/50/100 %, bake 10 "
        "min, 1-minute evaluations, default policy: p99, alpha 0.05) in moto's Step Functions "
        "engine; strict CloudWatch (StartTime rounded down, publishing delay, p99 from "
        "requests); simulated clock off the minute boundary; 0.1 % baseline 5XX noise",
        f"- payload-limit violations: {len(violations)}",
        "",
        "| scenario | runs | promoted | rolled back | where rolled back | other endings |",
        "|---|---|---|---|---|---|",
    ]
    for name, group in by_case.items():
        promoted = sum(r.status == "SUCCEEDED" for r in group)
        rolled = [r for r in group if r.error == "CanaryRolledBack"]
        where: dict[str, int] = {}
        for r in rolled:
            where[r.rolled_back_at or "?"] = where.get(r.rolled_back_at or "?", 0) + 1
        other = [
            f"{r.status}/{r.error}" for r in group if r not in rolled and r.status != "SUCCEEDED"
        ]
        lines.append(
            f"| {name} | {len(group)} | {promoted} | {len(rolled)} | "
            f"{', '.join(f'{k}: {v}' for k, v in sorted(where.items())) or '-'} | "
            f"{', '.join(other) or '-'} |"
        )
    healthy = [r for r in results if r.case.healthy]
    false = [r for r in healthy if r.status != "SUCCEEDED"]
    lines += [
        "",
        f"False rollbacks of healthy canaries: {len(false)} of {len(healthy)}.",
    ]
    for r in false[:5]:
        lines.append(f"- {r.case.name}: {r.error}: {(r.cause or '')[:300]}")
    median = statistics.median(r.seconds for r in healthy) if healthy else 0.0
    lines.append(
        f"Median real time per healthy rollout: {median:.0f} s (= simulated minutes at 60x)."
    )
    return lines


if __name__ == "__main__":
    sys.exit(main())
