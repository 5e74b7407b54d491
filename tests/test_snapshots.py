"""Construct ids are API: a changed logical id replaces a resource (and loses its data).

Each stack's resources (logical id -> type) are kept in tests/snapshots/. A change shows up in
review as a diff of those files. After an intended change, refresh them with
``UPDATE_SNAPSHOTS=1 make test`` and commit the diff with the change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cdk_testing import SynthesizedApp

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
STACKS = (
    "sagemaker-constructs-dev",
    "sagemaker-constructs-test",
    "sagemaker-constructs-prod",
    "sagemaker-constructs-pipeline",
)


@pytest.mark.parametrize("stack_id", STACKS)
def test_resources_keep_their_logical_ids(synthesized: SynthesizedApp, stack_id: str) -> None:
    template = synthesized.template_json(synthesized.stack(stack_id))
    resources = {
        logical_id: resource["Type"]
        for logical_id, resource in sorted(template["Resources"].items())
        if resource["Type"] != "AWS::CDK::Metadata"
    }
    snapshot = SNAPSHOTS / f"{stack_id}.json"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(json.dumps(resources, indent=2) + "\n")
    expected = json.loads(snapshot.read_text())
    replaced = sorted(set(expected) - set(resources))
    added = sorted(set(resources) - set(expected))
    assert (replaced, added) == ([], []), (
        f"{stack_id}: resources removed or renamed (replaced on deploy): {replaced}; new: "
        f"{added}. If intended, run UPDATE_SNAPSHOTS=1 make test and commit tests/snapshots/."
    )
    assert resources == expected  # same ids, same types
