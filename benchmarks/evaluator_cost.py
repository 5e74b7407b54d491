#!/usr/bin/env python3
"""What one evaluation costs: cold import, a warm call, CloudWatch calls, the asset's size.

    python benchmarks/evaluator_cost.py [--runs 20] [--write]

- cold import: a fresh interpreter imports ``canary_evaluator.handler`` (median of runs);
- warm call: ``evaluate`` on a realistic 10-minute window (both variants, every metric,
  10 one-minute periods each) answered by an in-process CloudWatch stand-in (median);
- CloudWatch calls per evaluation: counted on that stand-in (the contract: one GetMetricData);
- asset size: the bytes of ``lambda/canary_evaluator`` that the Lambda ships (no caches).

Targets: import plus a warm call under 200 ms; one GetMetricData call; asset under 100 KB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
LAMBDA = REPO / "lambda"
sys.path.insert(0, str(LAMBDA))

from canary_evaluator.handler import evaluate  # noqa: E402

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
FIGURES = {  # per minute: (baseline, canary)
    "Invocations": (5700.0, 300.0),
    "Invocation5XXErrors": (6.0, 0.0),
    "Invocation4XXErrors": (11.0, 1.0),
    "ModelLatency": (20_000.0, 21_000.0),
}


class CloudWatchStandIn:
    """Answers every query with ten one-minute values and counts the calls."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def get_metric_data(self, **request: Any) -> Mapping[str, Any]:
        self.calls["GetMetricData"] = self.calls.get("GetMetricData", 0) + 1
        results = []
        for query in request["MetricDataQueries"]:
            metric = query["MetricStat"]["Metric"]
            dimensions = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
            baseline, canary = FIGURES[metric["MetricName"]]
            value = canary if dimensions.get("VariantName") == "candidate" else baseline
            stamps = [NOW - timedelta(minutes=m) for m in range(10, 0, -1)]
            results.append(
                {
                    "Id": query["Id"],
                    "Timestamps": stamps,
                    "Values": [value * (1 + 0.01 * (i % 3)) for i in range(10)],
                    "StatusCode": "Complete",
                }
            )
        return {"MetricDataResults": results}

    def describe_alarms(self, **request: Any) -> Mapping[str, Any]:
        self.calls["DescribeAlarms"] = self.calls.get("DescribeAlarms", 0) + 1
        return {"MetricAlarms": [], "CompositeAlarms": []}


EVENT = {
    "endpoint_name": "bench-endpoint",
    "baseline_variant": "baseline",
    "canary_variant": "candidate",
    "window_start": (NOW - timedelta(minutes=10)).isoformat(),
    "window_end": NOW.isoformat(),
}


def cold_import_seconds() -> float:
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[1]); t = time.perf_counter(); "
        "import canary_evaluator.handler; print(time.perf_counter() - t)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(LAMBDA)], check=True, capture_output=True, text=True
    )
    return float(result.stdout.strip())


def asset_bytes() -> int:
    folder = LAMBDA / "canary_evaluator"
    return sum(p.stat().st_size for p in folder.rglob("*.py"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--write", action="store_true", help="record the result in RESULTS.md")
    args = parser.parse_args()

    imports = [cold_import_seconds() for _ in range(args.runs)]
    stand_in = CloudWatchStandIn()
    evaluate(EVENT, cloudwatch=stand_in, now=NOW)  # warm up
    calls: list[dict[str, int]] = []
    warm: list[float] = []
    verdicts = set()
    for _ in range(args.runs):
        stand_in = CloudWatchStandIn()
        start = time.perf_counter()
        answer = evaluate(EVENT, cloudwatch=stand_in, now=NOW)
        warm.append(time.perf_counter() - start)
        calls.append(stand_in.calls)
        verdicts.add(answer["verdict"])
    import_ms = statistics.median(imports) * 1000
    warm_ms = statistics.median(warm) * 1000
    metric_calls = {c.get("GetMetricData", 0) for c in calls}
    size = asset_bytes()
    print(f"cold import:            median {import_ms:.1f} ms over {args.runs} runs")
    print(f"warm evaluation:        median {warm_ms:.2f} ms over {args.runs} runs ({verdicts})")
    print(f"import + warm call:     {import_ms + warm_ms:.1f} ms (target < 200 ms)")
    print(f"GetMetricData calls:    {sorted(metric_calls)} per evaluation (target: 1)")
    print(f"asset size:             {size / 1024:.1f} KB (target < 100 KB)")
    if args.write:
        results = REPO / "benchmarks" / "RESULTS.md"
        text = results.read_text()
        marker = "<!-- evaluator-cost rows -->"
        row = (
            f"| {datetime.now(UTC):%Y-%m-%d} | {import_ms:.1f} ms | {warm_ms:.2f} ms | "
            f"{import_ms + warm_ms:.1f} ms | {sorted(metric_calls)} | {size / 1024:.1f} KB | "
            f"{os.cpu_count()} cores |"
        )
        results.write_text(text.replace(marker, marker + "\n" + row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
