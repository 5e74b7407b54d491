"""The rollout's safety net: restore the baseline when an execution ended where no state could.

Handler: ``canary_evaluator.guard.handler``, invoked by an EventBridge rule on the rollout
state machine's execution status changes (FAILED, TIMED_OUT, ABORTED). Some endings cannot be
caught inside the state machine: the 25,000-event history limit, a payload over 256 KiB
(``States.DataLimitExceeded``), ``States.Runtime``, a time-out, a person pressing "Stop
execution". The guard then

1. does nothing when the execution ended verified: rolled back and checked
   (``CanaryRolledBack``), or failed before it moved any traffic (``SAFE_ENDINGS``);
2. does nothing to the weights when the execution never asked SageMaker to change them nor
   raised the canary's scaling limits (its history holds no ``UpdateEndpointWeightsAndCapacities``
   and no ``RegisterScalableTarget`` task), or when another execution
   now holds the endpoint's lock (the weights are that rollout's); it releases a lock the
   execution left behind;
3. otherwise takes the endpoint's lock itself (``guard:<execution>``, so no new rollout starts
   meanwhile), puts all traffic back on the baseline (waiting for ``InService`` first; an
   update in progress or throttling is waited out), verifies it
   (``weights.is_rolled_back``), releases the lock and publishes ``ROLLED_BACK``. When the
   weights cannot be restored it keeps the lock (no rollout may start on an endpoint in that
   state), publishes ``ROLLBACK_FAILED`` (CRITICAL) and counts the rollout's
   ``RollbackFailed`` metric, which raises its alarm.

Configuration (environment): ``ENDPOINT_NAME``, ``BASELINE_VARIANT``, ``CANARY_VARIANT``,
``LOCK_TABLE``, ``TOPIC_ARN``, ``METRIC_NAMESPACE``, ``METRIC_NAME`` and, with instance
scaling, ``BASELINE_INSTANCES`` and ``CANARY_INSTANCES`` (the counts a rollback sets). With an
autoscaled canary, ``CANARY_SCALING`` (``"<min>,<max>,<instances>"``, :func:`parse_scaling`):
the restore also gives the canary its template's instance count and, once the weights are
verified, its scalable target's template limits back (``RegisterScalableTarget``), which the
rollout raised before each step. A canary without autoscaling whose template count is known
gets ``CANARY_INSTANCES`` only. When traffic is already on the baseline, an autoscaled canary
still gets its template limits and count back: a stop in the capacity phase raised them before
any weight moved, and a stop after a rollback's weights came before its restore of them.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .weights import ROLLED_BACK_BASELINE_WEIGHT, ROLLED_BACK_CANARY_WEIGHT, is_rolled_back

__all__ = [
    "LOCK_HOLDER",
    "LOCK_KEY",
    "SAFE_ENDINGS",
    "SCALABLE_DIMENSION",
    "GuardConfig",
    "guard",
    "handler",
    "parse_scaling",
    "scalable_resource_id",
]

logger = logging.getLogger("canary_guard")
logger.setLevel(logging.INFO)

#: Errors of executions that ended with traffic where it belongs: rolled back and verified, or
#: failed before any weight changed (names as in ``sagemaker_constructs.rollout.contract``).
SAFE_ENDINGS = frozenset(
    {
        "CanaryRolledBack",
        "InvalidInput",
        "StartFailed",
        "UnexpectedStartingWeights",
        "RolloutAlreadyRunning",
        "PreflightFailed",
    }
)
#: The lock table's partition key (the endpoint's name) and the attribute naming the holder;
#: the library's contract (``LOCK_KEY``, ``LOCK_HOLDER``) takes them from here.
LOCK_KEY = "endpoint_name"
LOCK_HOLDER = "execution_arn"
#: Application Auto Scaling's dimension of a SageMaker variant's instance count, and the id of
#: a variant's scalable target (``scalable_resource_id``); the library's contract takes them
#: from here.
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"


def scalable_resource_id(endpoint: str, variant: str) -> str:
    """The ``ResourceId`` of a variant's scalable target."""
    return f"endpoint/{endpoint}/variant/{variant}"


def parse_scaling(text: str) -> tuple[int, int, int]:
    """``"<min>,<max>,<instances>"`` -> the three integers (the format the construct writes
    for the guard and the ``sagemaker-rollout abort`` tag)."""
    low, high, count = (int(part) for part in text.split(","))
    return low, high, count


#: Messages of update failures that waiting cures (an update in flight, throttling).
_TRANSIENT_MARKS = ("in-progress", "Throttl", "Rate exceeded", "TooManyRequests")


@dataclass(frozen=True)
class GuardConfig:
    endpoint_name: str
    baseline_variant: str
    canary_variant: str
    lock_table: str
    topic_arn: str
    metric_namespace: str
    metric_name: str
    #: with instance scaling: the baseline's full count and the canary's least (a restore
    #: gives the baseline the instances that serve all traffic)
    baseline_instances: int | None = None
    canary_instances: int | None = None
    #: with an autoscaled canary: its scalable target's (min, max) and instance count as the
    #: template declares them
    canary_scaling: tuple[int, int, int] | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> GuardConfig:
        return cls(
            endpoint_name=environ["ENDPOINT_NAME"],
            baseline_variant=environ["BASELINE_VARIANT"],
            canary_variant=environ["CANARY_VARIANT"],
            lock_table=environ["LOCK_TABLE"],
            topic_arn=environ["TOPIC_ARN"],
            metric_namespace=environ["METRIC_NAMESPACE"],
            metric_name=environ["METRIC_NAME"],
            baseline_instances=int(environ["BASELINE_INSTANCES"])
            if environ.get("BASELINE_INSTANCES")
            else None,
            canary_instances=int(environ["CANARY_INSTANCES"])
            if environ.get("CANARY_INSTANCES")
            else None,
            canary_scaling=parse_scaling(environ["CANARY_SCALING"])
            if environ.get("CANARY_SCALING")
            else None,
        )


def _weights(sagemaker: Any, endpoint: str) -> tuple[str, dict[str, float]]:
    described = sagemaker.describe_endpoint(EndpointName=endpoint)
    weights = {
        str(v["VariantName"]): float(v["CurrentWeight"])
        for v in described.get("ProductionVariants", [])
        if "CurrentWeight" in v
    }
    return str(described.get("EndpointStatus")), weights


def _lock_holder(dynamodb: Any, config: GuardConfig) -> str | None:
    item = dynamodb.get_item(
        TableName=config.lock_table,
        Key={LOCK_KEY: {"S": config.endpoint_name}},
        ConsistentRead=True,
    ).get("Item")
    return None if item is None else str(item[LOCK_HOLDER]["S"])


#: The tasks that change an endpoint's weights or instance counts, or a canary's scaling limits
#: (the capacity phase raises them before the first weight change).
_CHANGING_TASKS = frozenset({"updateEndpointWeightsAndCapacities", "registerScalableTarget"})


def _moved_traffic(stepfunctions: Any, execution: str) -> bool:
    """Did the execution ever ask SageMaker to change the weights or counts, or Application
    Auto Scaling to change the canary's limits? (its history, oldest first: the first change
    comes early)."""
    request: dict[str, Any] = {"executionArn": execution, "maxResults": 1000}
    while True:
        page = stepfunctions.get_execution_history(**request)
        for event in page.get("events", []):
            details = event.get("taskScheduledEventDetails") or {}
            if details.get("resource") in _CHANGING_TASKS:
                return True
        token = page.get("nextToken")
        if not token:
            return False
        request["nextToken"] = token


def _take_lock(dynamodb: Any, config: GuardConfig, execution: str, marker: str) -> bool:
    """Hold the endpoint's lock as ``marker`` unless another rollout holds it now."""
    try:
        dynamodb.put_item(
            TableName=config.lock_table,
            Item={LOCK_KEY: {"S": config.endpoint_name}, LOCK_HOLDER: {"S": marker}},
            ConditionExpression=(
                f"attribute_not_exists({LOCK_KEY}) OR {LOCK_HOLDER} = :execution "
                f"OR {LOCK_HOLDER} = :marker"
            ),
            ExpressionAttributeValues={":execution": {"S": execution}, ":marker": {"S": marker}},
        )
    except Exception as error:
        if "ConditionalCheckFailed" in str(error):
            return False
        raise
    return True


def _release(dynamodb: Any, config: GuardConfig, holder: str) -> None:
    try:
        dynamodb.delete_item(
            TableName=config.lock_table,
            Key={LOCK_KEY: {"S": config.endpoint_name}},
            ConditionExpression=f"{LOCK_HOLDER} = :holder",
            ExpressionAttributeValues={":holder": {"S": holder}},
        )
    except Exception:  # not ours any more
        logger.exception("releasing the lock failed")


def _restore(
    sagemaker: Any, config: GuardConfig, sleep: Callable[[float], None], polls: int
) -> bool:
    """All traffic to the baseline, verified; False when it could not be done in time."""
    desired: list[dict[str, Any]] = [
        {
            "VariantName": config.baseline_variant,
            "DesiredWeight": float(ROLLED_BACK_BASELINE_WEIGHT),
        },
        {"VariantName": config.canary_variant, "DesiredWeight": float(ROLLED_BACK_CANARY_WEIGHT)},
    ]
    if config.baseline_instances is not None:
        desired[0]["DesiredInstanceCount"] = config.baseline_instances
    if config.canary_scaling is not None:
        desired[1]["DesiredInstanceCount"] = config.canary_scaling[2]
    elif config.canary_instances is not None:
        desired[1]["DesiredInstanceCount"] = config.canary_instances
    updated = False
    for _ in range(polls):
        status, weights = _weights(sagemaker, config.endpoint_name)
        if status == "InService":
            if is_rolled_back(
                weights, baseline=config.baseline_variant, canary=config.canary_variant
            ):
                return True
            if not updated:
                try:
                    sagemaker.update_endpoint_weights_and_capacities(
                        EndpointName=config.endpoint_name, DesiredWeightsAndCapacities=desired
                    )
                    updated = True
                    continue
                except Exception as error:  # another update (an abort) in flight: wait it out
                    if not any(mark in str(error) for mark in _TRANSIENT_MARKS):
                        raise
        elif status in ("Failed", "OutOfService", "Deleting"):
            return False
        sleep(10)
    return False


def _restore_limits(autoscaling: Any, config: GuardConfig) -> None:
    """The canary's scalable target back to the template's limits (the rollout raised them)."""
    if config.canary_scaling is None:
        return
    low, high, _ = config.canary_scaling
    autoscaling.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=scalable_resource_id(config.endpoint_name, config.canary_variant),
        ScalableDimension=SCALABLE_DIMENSION,
        MinCapacity=low,
        MaxCapacity=high,
    )


def _restore_canary_capacity(
    sagemaker: Any,
    autoscaling: Any,
    config: GuardConfig,
    sleep: Callable[[float], None],
    polls: int,
) -> None:
    """With traffic already on the baseline: the canary's template scaling limits, then (once
    the endpoint accepts updates) its template instance count when it runs another. Limits
    first: a count below a raised MinCapacity would be scaled out again."""
    if config.canary_scaling is None:
        return
    _restore_limits(autoscaling, config)
    count = config.canary_scaling[2]
    for _ in range(polls):
        described = sagemaker.describe_endpoint(EndpointName=config.endpoint_name)
        if described.get("EndpointStatus") == "InService":
            current = next(
                (
                    variant.get("CurrentInstanceCount")
                    for variant in described.get("ProductionVariants", [])
                    if variant.get("VariantName") == config.canary_variant
                ),
                None,
            )
            if current != count:
                sagemaker.update_endpoint_weights_and_capacities(
                    EndpointName=config.endpoint_name,
                    DesiredWeightsAndCapacities=[
                        {"VariantName": config.canary_variant, "DesiredInstanceCount": count}
                    ],
                )
            return
        sleep(10)
    raise TimeoutError(f"{config.endpoint_name} did not become InService")


def guard(
    event: Mapping[str, Any],
    config: GuardConfig,
    *,
    clients: Mapping[str, Any],
    sleep: Callable[[float], None] = time.sleep,
    polls: int = 60,
) -> dict[str, Any]:
    """Act on one execution status change; returns what was done (also logged)."""
    detail = event.get("detail", {})
    execution = str(detail.get("executionArn", ""))
    status = str(detail.get("status", ""))
    error = detail.get("error")
    if error is None and status == "FAILED" and execution:  # the event normally carries it
        described = clients["stepfunctions"].describe_execution(executionArn=execution)
        error = described.get("error")
    outcome: dict[str, Any] = {"execution_arn": execution, "status": status, "error": error}
    if status == "FAILED" and error in SAFE_ENDINGS:
        return {**outcome, "action": "none: the execution ended verified"}
    dynamodb = clients["dynamodb"]
    holder = _lock_holder(dynamodb, config)
    marker = f"guard:{execution}"
    if holder not in (None, execution, marker):
        return {**outcome, "action": f"none: the endpoint's lock is held by {holder}"}
    if not _moved_traffic(clients["stepfunctions"], execution):
        if holder == execution:
            _release(dynamodb, config, execution)
        return {**outcome, "action": "none: the execution never changed the weights"}
    if not _take_lock(dynamodb, config, execution, marker):
        return {**outcome, "action": "none: another rollout took the endpoint's lock"}
    sagemaker = clients["sagemaker"]
    _, before = _weights(sagemaker, config.endpoint_name)
    already = is_rolled_back(before, baseline=config.baseline_variant, canary=config.canary_variant)
    if already and config.canary_scaling is not None:
        # the execution may have raised the canary's limits and count before any weight moved
        # (the capacity phase), or rolled back the weights without restoring them
        try:
            _restore_canary_capacity(
                sagemaker, clients["application-autoscaling"], config, sleep, polls
            )
            done = "; the canary's scaling limits and instance count are the template's"
        except Exception as failure:  # traffic is safe: report, never keep the lock for it
            logger.exception("restoring the canary's scaling limits and count failed")
            outcome["limits_error"] = str(failure)
            done = "; restoring the canary's scaling limits and instance count failed"
        _release(dynamodb, config, marker)
        return {**outcome, "action": "none: traffic was already on the baseline" + done}
    try:
        restored = already or _restore(sagemaker, config, sleep, polls)
    except Exception as failure:  # any failure to restore is the critical case
        logger.exception("restoring the baseline failed")
        restored, outcome["restore_error"] = False, str(failure)
    if restored and not already and config.canary_scaling is not None:
        try:
            _restore_limits(clients["application-autoscaling"], config)
        except Exception as failure:  # traffic is safe: report, never undo the restore
            logger.exception("restoring the canary's scaling limits failed")
            outcome["limits_error"] = str(failure)
    if restored:
        _release(dynamodb, config, marker)
    if already:
        return {**outcome, "action": "none: traffic was already on the baseline"}
    message = {
        "event": "ROLLED_BACK" if restored else "ROLLBACK_FAILED",
        "endpoint_name": config.endpoint_name,
        "baseline_variant": config.baseline_variant,
        "canary_variant": config.canary_variant,
        "execution_arn": execution,
        "reason": f"the execution ended {status} ({error or 'no error'}) with traffic on the "
        f"canary (weights {before}); the guard "
        + ("put all traffic back on the baseline (verified)" if restored else "could NOT "
           f"put traffic back on the baseline; it keeps the endpoint's lock ({marker}) until "
           "a person restores the weights and deletes the lock item"),
    }  # fmt: skip
    if not restored:
        message["severity"] = "CRITICAL"
        clients["cloudwatch"].put_metric_data(
            Namespace=config.metric_namespace,
            MetricData=[{"MetricName": config.metric_name, "Value": 1.0, "Unit": "Count"}],
        )
    clients["sns"].publish(
        TopicArn=config.topic_arn,
        Subject="Canary rollout rolled back by its guard"
        if restored
        else "CRITICAL: canary rollback failed",
        Message=json.dumps(message),
    )
    return {**outcome, "action": message["event"], "weights_before": before}


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """AWS Lambda handler: ``guard`` with boto3 clients; logs one JSON line."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 8})
    make: Any = boto3.client
    clients = {
        name: make(name, config=config)
        for name in (
            "stepfunctions",
            "sagemaker",
            "dynamodb",
            "sns",
            "cloudwatch",
            "application-autoscaling",
        )
    }
    result = guard(event, GuardConfig.from_environment(), clients=clients)
    logger.info(json.dumps({"message": "rollout guard", **result}, default=str))
    return result
