"""checkov over every synthesized template: no failed check; each skip on its resource.

checkov runs from ``.venv-checkov/`` (``requirements/checkov.lock``; ``make setup`` installs
it): it pins versions of boto3 and packaging that the project's own dependencies cannot share.
A check that does not apply to a resource is skipped on that resource with
``compliance.acknowledge_checkov``; the README's Compliance table lists each such skip
(``tests/test_compliance.py`` holds the table to the templates).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cdk_testing import SynthesizedApp, checkov

from tools import acknowledgements

#: A template the scan must fail: a queue without encryption and a bucket without logging.
FAILING = {
    "Resources": {
        "Plain": {"Type": "AWS::SQS::Queue", "Properties": {"SqsManagedSseEnabled": False}},
        "Open": {"Type": "AWS::S3::Bucket", "Properties": {}},
    }
}


@pytest.fixture(scope="module")
def scans(
    synthesized: SynthesizedApp, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The app's reports and the failing template's, from one checkov run (checkov takes
    seconds to start): the app's templates are copied beside the failing one."""
    root = tmp_path_factory.mktemp("checkov")
    app, failing = root / "app", root / "failing"
    for template in synthesized.outdir.rglob("*.template.json"):
        copy = app / template.relative_to(synthesized.outdir)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, copy)
    failing.mkdir()
    (failing / "failing.template.json").write_text(json.dumps(FAILING))
    reports = checkov(root)
    assert [error for report in reports for error in report["results"]["parsing_errors"]] == []

    def of(directory: Path) -> list[dict[str, Any]]:
        return [
            {
                "results": {
                    kind: [
                        check
                        for check in report["results"][kind]
                        if Path(check["file_abs_path"]).is_relative_to(directory)
                    ]
                    for kind in ("passed_checks", "failed_checks", "skipped_checks")
                }
            }
            for report in reports
        ]

    return of(app), of(failing)


@pytest.fixture(scope="module")
def scanned(scans: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return scans[0]


def test_every_template_is_scanned(
    synthesized: SynthesizedApp, scanned: list[dict[str, Any]]
) -> None:
    templates = sorted(synthesized.outdir.rglob("*.template.json"))
    scanned_files = {
        check["file_path"]
        for report in scanned
        for kind in ("passed_checks", "failed_checks", "skipped_checks")
        for check in report["results"][kind]
    }
    # dev, test, prod, the pipeline and its four stages (prod twice: shadow, then canary)
    assert len(templates) == 8
    assert {path.name for path in templates} == {Path(f).name for f in scanned_files}
    assert sum(len(report["results"]["passed_checks"]) for report in scanned) > 1000


def test_no_check_fails(scanned: list[dict[str, Any]]) -> None:
    failed = [
        f"{check['check_id']} {check['check_name']}: {check['resource']} in "
        f"{Path(check['file_path']).name}"
        for report in scanned
        for check in report["results"]["failed_checks"]
    ]
    assert failed == []


def test_every_skip_has_its_reason_and_is_in_the_readme(
    synthesized: SynthesizedApp, scanned: list[dict[str, Any]]
) -> None:
    skipped = [check for report in scanned for check in report["results"]["skipped_checks"]]
    written = acknowledgements.readme_table(acknowledgements.README.read_text())
    assert skipped, "the app skips checks on a few resources; the scan must see them"
    for check in skipped:
        reason = check["check_result"]["suppress_comment"]
        assert len(reason) >= 20, check
        assert f"| checkov | {check['check_id']} |" in written
        assert reason.replace("|", "/") in written
    # checkov saw every skip the templates declare, and no other
    declared = sum(
        len(acknowledgements.checkov_skips(t))
        for t in acknowledgements.templates(synthesized.outdir)
    )
    assert len(skipped) == declared


def test_the_scan_reports_a_failing_resource(
    scans: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    """The harness sees failures: the failing template's queue and bucket, in the same run."""
    failed = {
        (check["check_id"], check["resource"])
        for report in scans[1]
        for check in report["results"]["failed_checks"]
    }
    assert ("CKV_AWS_27", "AWS::SQS::Queue.Plain") in failed
    assert ("CKV_AWS_18", "AWS::S3::Bucket.Open") in failed
