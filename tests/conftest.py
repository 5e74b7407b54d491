from __future__ import annotations

import os

import pytest
from cdk_testing import SynthesizedApp, synth_app
from hypothesis import settings

# CI runs the property tests with a fixed seed sequence, so a run is reproducible; local
# runs explore new examples each time (and keep failures in .hypothesis/).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# The tests never talk to AWS: any client that slips through gets fake credentials and a
# region, and nothing is configured to reach beyond 127.0.0.1.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SECURITY_TOKEN", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    """The app from the repository's cdk.json, synthesized once for the whole session.

    Synthesis runs all four cdk-nag packs: it raises on any unacknowledged finding.
    """
    return synth_app(tmp_path_factory.mktemp("app"))
