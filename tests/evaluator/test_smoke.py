"""The smoke test (``canary_evaluator/smoke.py``): requests to the canary variant and their
expectations, against a SageMaker Runtime as strict as AWS (``strict_aws.StrictRuntime``) on
moto's endpoints, and S3 bodies from moto."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from strict_aws import StrictRuntime

from canary_evaluator.hooks import ANSWER_PROCEED, ANSWER_REASON
from canary_evaluator.smoke import handler, parse_json_path, run_smoke_tests

REGION = "us-east-1"
ACCOUNT = "123456789012"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[StrictRuntime, Any]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        sagemaker.create_model(
            ModelName="m",
            ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/r",
            PrimaryContainer={"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/m:1"},
        )
        sagemaker.create_endpoint_config(
            EndpointConfigName="c",
            ProductionVariants=[
                {
                    "VariantName": name,
                    "ModelName": "m",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                    "InitialVariantWeight": weight,
                }
                for name, weight in (("Current", 1.0), ("Candidate", 0.0))
            ],
        )
        sagemaker.create_endpoint(EndpointName="ep", EndpointConfigName="c")
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="bodies")
        s3.put_object(Bucket="bodies", Key="request.csv", Body=b"1,2,3")

        from moto.sagemaker.models import sagemaker_backends

        yield StrictRuntime(lambda: sagemaker_backends[ACCOUNT][REGION]), s3


def _run(runtime: StrictRuntime, s3: Any, tests: list[dict[str, Any]], **kw: Any) -> Any:
    return run_smoke_tests(
        tests,
        endpoint_name=kw.pop("endpoint", "ep"),
        variant="Candidate",
        runtime=runtime,
        s3=s3,
        **kw,
    )


def test_a_healthy_canary_passes_and_the_request_targets_the_canary(aws: Any) -> None:
    runtime, s3 = aws
    answer = _run(
        runtime,
        s3,
        [
            {"name": "inline", "body": '{"x": 1}', "expect_json_path": "$.predictions[0]"},
            {
                "name": "csv",
                "body_s3": {"bucket": "bodies", "key": "request.csv"},
                "content_type": "text/csv",
                "accept": "application/json",
            },
        ],
    )
    assert answer[ANSWER_PROCEED] is True
    assert answer[ANSWER_REASON] == "2 smoke test(s) passed on Candidate"
    assert [r["TargetVariant"] for r in runtime.requests] == ["Candidate", "Candidate"]
    assert runtime.requests[1]["Body"] == b"1,2,3"
    assert runtime.requests[1]["ContentType"] == "text/csv"
    assert runtime.requests[1]["Accept"] == "application/json"
    assert [r["status"] for r in answer["results"]] == [200, 200]


def test_a_model_error_fails_with_the_models_status(aws: Any) -> None:
    runtime, s3 = aws
    runtime.models[("ep", "Candidate")] = lambda body, ct: (503, b"warming up")
    answer = _run(runtime, s3, [{"name": "p", "body": "{}"}])
    assert answer[ANSWER_PROCEED] is False
    assert answer[ANSWER_REASON] == (
        "1 of 1 smoke test(s) failed on Candidate: p: status 503, expected 200 (warming up)"
    )
    # an expected error status passes
    assert _run(runtime, s3, [{"name": "p", "body": "{}", "expect_status": 503}])[ANSWER_PROCEED]


def test_a_missing_json_path_or_a_non_json_answer_fails(aws: Any) -> None:
    runtime, s3 = aws
    answer = _run(runtime, s3, [{"name": "p", "body": "{}", "expect_json_path": "$.labels"}])
    assert answer[ANSWER_PROCEED] is False
    assert 'the answer holds no $.labels: {"predictions":[0.5]}' in answer[ANSWER_REASON]
    runtime.models[("ep", "Candidate")] = lambda body, ct: (200, b"<xml/>")
    answer = _run(runtime, s3, [{"name": "p", "body": "{}", "expect_json_path": "$.a"}])
    assert "the answer is not JSON, expected it to hold $.a" in answer[ANSWER_REASON]


def test_a_slow_answer_fails_its_latency_ceiling(aws: Any) -> None:
    runtime, s3 = aws
    ticks = itertools.count(step=0.75)  # each clock reading 0.75 s later: one call takes 750 ms
    answer = _run(
        runtime, s3, [{"name": "p", "body": "{}", "max_latency_ms": 500}], clock=lambda: next(ticks)
    )
    assert answer[ANSWER_PROCEED] is False
    assert "p: latency 750.0 ms, allowed at most 500 ms" in answer[ANSWER_REASON]


def test_a_request_aws_rejects_fails_with_the_error(aws: Any) -> None:
    runtime, s3 = aws
    answer = _run(runtime, s3, [{"name": "p", "body": "{}"}], endpoint="no-such-endpoint")
    assert answer[ANSWER_PROCEED] is False
    assert "p: the request failed: An error occurred (ValidationError)" in answer[ANSWER_REASON]
    missing = _run(runtime, s3, [{"name": "p", "body_s3": {"bucket": "bodies", "key": "gone.csv"}}])
    assert "p: its body could not be read: An error occurred (NoSuchKey)" in missing[ANSWER_REASON]
    assert len(runtime.requests) == 1  # a body that cannot be read is never sent


def test_the_handler_reads_the_hook_event(aws: Any) -> None:
    runtime, s3 = aws
    event = {
        "hook": "before_traffic",
        "hook_name": "smoke-test",
        "endpoint_name": "ep",
        "baseline_variant": "Current",
        "canary_variant": "Candidate",
        "config": {"smoke_tests": [{"name": "p", "body": "{}"}]},
    }
    assert handler(event, None, clients=(runtime, s3))[ANSWER_PROCEED] is True
    assert runtime.requests[0]["TargetVariant"] == "Candidate"


@pytest.mark.parametrize(
    ("path", "segments"),
    [
        ("$.predictions[0].score", ["predictions", 0, "score"]),
        ("$['label-scores'][1]", ["label-scores", 1]),
        ("$['it\\'s']", ["it's"]),
        ("$[0]", [0]),
    ],
)
def test_json_paths_of_names_and_indexes_parse(path: str, segments: list[Any]) -> None:
    assert parse_json_path(path) == segments


@pytest.mark.parametrize("path", ["$", "predictions", "$.a[*]", "$..a", "$.a[1:2]", "$.a.", 7])
def test_other_json_paths_are_rejected_with_the_rule(path: Any) -> None:
    with pytest.raises(ValueError, match=r"allowed: a JSONPath of names and indexes"):
        parse_json_path(path)
