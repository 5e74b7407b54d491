#!/usr/bin/env python3
"""Start-up of the command line against the floor of any boto3 program.

    python benchmarks/cli_startup.py [--runs 20] [--write]

``sagemaker-rollout --help`` (the installed console script) and ``python -c "import boto3"``
run as fresh processes, interleaved, in the same session, with a PATH on which there is no
``node``: the command line must start without Node.js. The medians and their ratio are
printed (and written to RESULTS.md with --write). Target: at most 1.5x the floor.
"""

from __future__ import annotations

import argparse
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
SCRIPT = Path(sys.executable).parent / "sagemaker-rollout"
TARGET = 1.5


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--write", action="store_true", help="record the result in RESULTS.md")
    args = parser.parse_args()

    floor_times: list[float] = []
    cli_times: list[float] = []
    with tempfile.TemporaryDirectory() as empty:
        env = {"PATH": empty, "HOME": empty}  # no node anywhere on PATH
        for command in ([str(SCRIPT), "--help"], [sys.executable, "-c", "import boto3"]):
            subprocess.run(command, env=env, check=True, capture_output=True)  # warm-up
        for _ in range(args.runs):
            floor_times.append(timed([sys.executable, "-c", "import boto3"], env))
            cli_times.append(timed([str(SCRIPT), "--help"], env))

    floor = statistics.median(floor_times)
    cli = statistics.median(cli_times)
    ratio = cli / floor
    print(f"floor (python -c 'import boto3'): median {floor * 1000:.0f} ms over {args.runs} runs")
    print(f"sagemaker-rollout --help:         median {cli * 1000:.0f} ms over {args.runs} runs")
    print(f"ratio: {ratio:.2f}x (target <= {TARGET}x)")
    if args.write:
        row = (
            f"| {datetime.now(UTC):%Y-%m-%d} | {args.runs} | {floor * 1000:.0f} ms | "
            f"{cli * 1000:.0f} ms | {ratio:.2f}x | {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, no node on PATH |"
        )
        results = REPO / "benchmarks" / "RESULTS.md"
        marker = "<!-- cli-startup rows -->"
        results.write_text(results.read_text().replace(marker, marker + "\n" + row))
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
