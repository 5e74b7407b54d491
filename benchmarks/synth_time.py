#!/usr/bin/env python3
"""Wall time of the app's synth against the floor of any CDK Python app.

    python benchmarks/synth_time.py [--runs 5] [--write]

The floor is ``import aws_cdk`` plus an empty ``App().synth()`` (the jsii runtime's start-up
dominates it). The app is ``app.py`` with the repository's cdk.json context: every
environment, with the four cdk-nag packs. Both run as fresh processes, interleaved, in the
same session; the medians and their ratio are printed (and written to RESULTS.md with --write).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FLOOR = "import aws_cdk; aws_cdk.App().synth()"


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="record the result in RESULTS.md")
    args = parser.parse_args()

    context = json.loads((REPO / "cdk.json").read_text())["context"]
    floor_times: list[float] = []
    app_times: list[float] = []
    with tempfile.TemporaryDirectory() as outdir:
        env = {
            **os.environ,
            "CDK_CONTEXT_JSON": json.dumps(context),
            "CDK_OUTDIR": outdir,
            "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        }
        for _ in range(args.runs):
            floor_times.append(timed([sys.executable, "-c", FLOOR], env))
            app_times.append(timed([sys.executable, "app.py"], env))
        stacks = len(list(Path(outdir).glob("**/*.template.json")))  # pipeline stages too

    floor = statistics.median(floor_times)
    app = statistics.median(app_times)
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    lines = [
        f"| {datetime.now(UTC):%Y-%m-%d} | {stacks} | {args.runs} | {floor:.2f} s | "
        f"{app:.2f} s | {app / floor:.2f}x | {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, Node {node} |"
    ]
    print(f"floor (import aws_cdk + empty synth): median {floor:.2f} s over {args.runs} runs")
    print(f"app synth ({stacks} stacks, 4 nag packs):  median {app:.2f} s over {args.runs} runs")
    print(f"ratio app / floor: {app / floor:.2f}x")
    if args.write:
        results = REPO / "benchmarks" / "RESULTS.md"
        text = results.read_text()
        marker = "<!-- synth-time rows -->"
        results.write_text(text.replace(marker, marker + "\n" + "\n".join(lines)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
