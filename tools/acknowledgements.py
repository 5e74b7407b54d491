"""The README's table of acknowledged compliance findings, made from a synthesis.

Rows come from the validation report (cdk-nag's acknowledged findings, by pack) and from the
templates (checkov's ``Metadata.checkov.skip`` entries, pack ``checkov``).
``python tools/acknowledgements.py`` synthesizes the app (every stack, every pack) and rewrites
the table between the README's ``acknowledgements`` markers; ``tests/test_compliance.py``
fails when the table and the findings the app acknowledges disagree.
"""

from __future__ import annotations

import collections
import json
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
START = "<!-- acknowledgements:start -->"
END = "<!-- acknowledgements:end -->"


def templates(outdir: Path) -> list[dict[str, Any]]:
    """Every template of a cloud assembly, nested stages' included."""
    return [json.loads(path.read_text()) for path in sorted(outdir.rglob("*.template.json"))]


def checkov_skips(template: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """``(resource id, check, reason)`` of each checkov skip in ``template``."""
    return [
        (logical_id, skip["id"], skip.get("comment", ""))
        for logical_id, resource in template.get("Resources", {}).items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]


def table(report: Mapping[str, Any], outdir: Path) -> str:
    """Every acknowledged finding by pack and rule, with its count and reason."""
    counts: collections.Counter[tuple[str, str, str]] = collections.Counter()
    for plugin in report["pluginReports"]:
        for finding in plugin.get("suppressedViolations", []):
            rule = finding["ruleName"].split("[")[0]
            counts[(plugin["pluginName"], rule, finding["reason"])] += len(
                finding["violatingConstructs"]
            )
    for template in templates(outdir):
        for _, check, reason in checkov_skips(template):
            counts[("checkov", check, reason)] += 1
    rows = ["| pack | rule | count | reason |", "| --- | --- | --- | --- |"]
    for (pack, rule, reason), count in sorted(counts.items()):
        rows.append(f"| {pack} | {rule} | {count} | {reason.replace('|', '/')} |")
    return "\n".join(rows)


def readme_table(text: str) -> str:
    """The table now between the README's markers."""
    return text.split(START, 1)[1].split(END, 1)[0].strip()


def main() -> int:
    sys.path[:0] = [str(REPO / "tests"), str(REPO)]
    from cdk_testing import synth_app

    with tempfile.TemporaryDirectory() as outdir:
        report = synth_app(Path(outdir)).validation_report()
        written = table(report, Path(outdir))
    text = README.read_text()
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    README.write_text(f"{before}{START}\n{written}\n{END}{after}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
