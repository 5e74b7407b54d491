"""The guard (``canary_evaluator/guard.py``) against moto: it restores the baseline when an
execution ended where the state machine could not roll back, and only then."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from canary_evaluator.guard import SAFE_ENDINGS, GuardConfig, guard
from sagemaker_constructs.rollout.contract import LOCK_HOLDER, LOCK_KEY, Errors

REGION = "us-east-1"
ACCOUNT = "123456789012"
ENDPOINT, BASELINE, CANARY = "ep", "blue", "green"
MINE = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:rollout:mine"
OTHER = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:rollout:other"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        names = ("sagemaker", "dynamodb", "sns", "sqs", "cloudwatch", "stepfunctions")
        make: Any = boto3.client
        c: dict[str, Any] = {n: make(n, region_name=REGION) for n in names}
        c["sagemaker"].create_model(
            ModelName="m",
            ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/r",
            PrimaryContainer={"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/m:1"},
        )
        variants = [
            {"VariantName": v, "ModelName": "m", "InitialInstanceCount": 1,
             "InstanceType": "ml.m5.large", "InitialVariantWeight": w}
            for v, w in ((BASELINE, 75.0), (CANARY, 25.0))
        ]  # fmt: skip
        c["sagemaker"].create_endpoint_config(EndpointConfigName="cfg", ProductionVariants=variants)
        c["sagemaker"].create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="cfg")
        c["dynamodb"].create_table(
            TableName="locks",
            KeySchema=[{"AttributeName": LOCK_KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": LOCK_KEY, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        topic = c["sns"].create_topic(Name="t")["TopicArn"]
        queue = c["sqs"].create_queue(QueueName="q")["QueueUrl"]
        arn = c["sqs"].get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        c["sns"].subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=arn["Attributes"]["QueueArn"],
            Attributes={"RawMessageDelivery": "true"},
        )
        c["config"] = GuardConfig(
            ENDPOINT, BASELINE, CANARY, "locks", topic, "ns", "RollbackFailed-x"
        )
        c["queue"] = queue
        yield c


class _History:
    """Step Functions answering an execution's history: with or without a weight change."""

    def __init__(self, moved: bool) -> None:
        self.moved = moved

    def get_execution_history(self, **_: Any) -> dict[str, Any]:
        resource = "updateEndpointWeightsAndCapacities" if self.moved else "describeEndpoint"
        return {"events": [{"type": "TaskScheduled",
                            "taskScheduledEventDetails": {"resource": resource}}]}  # fmt: skip


def _clients(aws: dict[str, Any], *, moved: bool = True) -> dict[str, Any]:
    clients = {k: aws[k] for k in ("sagemaker", "dynamodb", "sns", "cloudwatch")}
    clients["stepfunctions"] = _History(moved)
    return clients


def _lock(aws: dict[str, Any], holder: str) -> None:
    aws["dynamodb"].put_item(
        TableName="locks", Item={LOCK_KEY: {"S": ENDPOINT}, LOCK_HOLDER: {"S": holder}}
    )


def _event(status: str, error: str | None = None) -> dict[str, Any]:
    detail = {"executionArn": MINE, "status": status}
    if error:
        detail["error"] = error
    return {"source": "aws.states", "detail-type": "Step Functions Execution Status Change",
            "detail": detail}  # fmt: skip


def _weights(aws: dict[str, Any]) -> dict[str, float]:
    described = aws["sagemaker"].describe_endpoint(EndpointName=ENDPOINT)
    return {v["VariantName"]: v["CurrentWeight"] for v in described["ProductionVariants"]}


def _messages(aws: dict[str, Any]) -> list[dict[str, Any]]:
    got = aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def _holder(aws: dict[str, Any]) -> str | None:
    item = aws["dynamodb"].get_item(TableName="locks", Key={LOCK_KEY: {"S": ENDPOINT}})
    holder = item.get("Item", {}).get(LOCK_HOLDER, {}).get("S")
    return None if holder is None else str(holder)


@pytest.mark.parametrize(
    ("status", "error"),
    [("ABORTED", None), ("TIMED_OUT", None), ("FAILED", "States.DataLimitExceeded"),
     ("FAILED", "States.Runtime"), ("FAILED", "RollbackFailed")],
)  # fmt: skip
def test_an_unverified_ending_puts_all_traffic_back_and_releases_the_lock(
    aws: dict[str, Any], status: str, error: str | None
) -> None:
    _lock(aws, MINE)
    result = guard(
        _event(status, error), aws["config"], clients=_clients(aws), sleep=lambda _: None
    )
    assert result["action"] == "ROLLED_BACK"
    assert _weights(aws) == {BASELINE: 100.0, CANARY: 0.0}
    assert _holder(aws) is None
    (message,) = _messages(aws)
    assert message["event"] == "ROLLED_BACK"
    assert status in message["reason"]


@pytest.mark.parametrize("error", sorted(SAFE_ENDINGS))
def test_an_ending_that_was_verified_is_left_alone(aws: dict[str, Any], error: str) -> None:
    result = guard(_event("FAILED", error), aws["config"], clients=_clients(aws))
    assert result["action"].startswith("none")
    assert _weights(aws) == {BASELINE: 75.0, CANARY: 25.0}
    assert _messages(aws) == []


def test_the_safe_endings_are_the_contracts_verified_errors() -> None:
    assert {
        Errors.ROLLED_BACK,
        Errors.INVALID_INPUT,
        Errors.START_FAILED,
        Errors.UNEXPECTED_STARTING_WEIGHTS,
        Errors.ALREADY_RUNNING,
        Errors.PREFLIGHT_FAILED,
    } == SAFE_ENDINGS
    assert Errors.ROLLBACK_FAILED not in SAFE_ENDINGS  # the guard tries once more


def test_weights_that_another_rollout_holds_are_not_touched(aws: dict[str, Any]) -> None:
    _lock(aws, OTHER)
    result = guard(_event("ABORTED"), aws["config"], clients=_clients(aws))
    assert "held by" in result["action"]
    assert _weights(aws) == {BASELINE: 75.0, CANARY: 25.0}
    assert _holder(aws) == OTHER


class _Denied:
    """A SageMaker client whose weight updates are denied."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def describe_endpoint(self, **kwargs: Any) -> Any:
        return self.real.describe_endpoint(**kwargs)

    def update_endpoint_weights_and_capacities(self, **kwargs: Any) -> Any:
        raise RuntimeError("AccessDeniedException: not authorized")


def test_a_restore_that_fails_is_critical_and_counted(aws: dict[str, Any]) -> None:
    _lock(aws, MINE)
    clients = _clients(aws)
    clients["sagemaker"] = _Denied(aws["sagemaker"])
    result = guard(_event("ABORTED"), aws["config"], clients=clients, sleep=lambda _: None)
    assert result["action"] == "ROLLBACK_FAILED"
    assert _holder(aws) == f"guard:{MINE}"  # no rollout may start on the endpoint now
    (message,) = _messages(aws)
    assert message["severity"] == "CRITICAL"
    metrics = aws["cloudwatch"].list_metrics(Namespace="ns")["Metrics"]
    assert [m["MetricName"] for m in metrics] == ["RollbackFailed-x"]  # raises the alarm


def test_an_execution_that_never_changed_the_weights_leaves_them_alone(
    aws: dict[str, Any],
) -> None:
    """Stopped before its first weight change (an earlier promotion, or weights a person set,
    must survive): nothing restored, its lock released."""
    _lock(aws, MINE)
    result = guard(_event("ABORTED"), aws["config"], clients=_clients(aws, moved=False))
    assert result["action"] == "none: the execution never changed the weights"
    assert _weights(aws) == {BASELINE: 75.0, CANARY: 25.0}
    assert _holder(aws) is None
    assert _messages(aws) == []


def test_the_guard_holds_the_lock_while_it_restores(aws: dict[str, Any]) -> None:
    seen: list[str | None] = []

    class Watching:
        def describe_endpoint(self, **kwargs: Any) -> Any:
            seen.append(_holder(aws))
            return aws["sagemaker"].describe_endpoint(**kwargs)

        def update_endpoint_weights_and_capacities(self, **kwargs: Any) -> Any:
            return aws["sagemaker"].update_endpoint_weights_and_capacities(**kwargs)

    _lock(aws, MINE)
    clients = _clients(aws)
    clients["sagemaker"] = Watching()
    guard(_event("ABORTED"), aws["config"], clients=clients, sleep=lambda _: None)
    assert set(seen) == {f"guard:{MINE}"}  # a new rollout cannot take over meanwhile
    assert _holder(aws) is None


def test_with_instance_scaling_the_baseline_gets_its_fleet_back(aws: dict[str, Any]) -> None:
    requests: list[Any] = []

    class Recording:
        def describe_endpoint(self, **kwargs: Any) -> Any:
            return aws["sagemaker"].describe_endpoint(**kwargs)

        def update_endpoint_weights_and_capacities(self, **kwargs: Any) -> Any:
            requests.append(kwargs["DesiredWeightsAndCapacities"])
            return aws["sagemaker"].update_endpoint_weights_and_capacities(**kwargs)

    _lock(aws, MINE)
    config = dataclasses.replace(aws["config"], baseline_instances=4, canary_instances=1)
    clients = _clients(aws)
    clients["sagemaker"] = Recording()
    result = guard(_event("ABORTED"), config, clients=clients, sleep=lambda _: None)
    assert result["action"] == "ROLLED_BACK"
    (desired,) = requests
    assert {d["VariantName"]: d["DesiredInstanceCount"] for d in desired} == {
        BASELINE: 4,
        CANARY: 1,
    }
