"""The rollout's public argument types."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3

from .._types import checked_value
from .contract import (
    HOOK_AFTER_ROLLOUT,
    HOOK_AFTER_STEP,
    HOOK_BEFORE_PROMOTION,
    HOOK_BEFORE_TRAFFIC,
)

__all__ = [
    "HookPoint",
    "IEndpointRef",
    "InstanceScaling",
    "RolloutHook",
    "SmokeTest",
    "VariantScalingLimits",
]


@checked_value
@dataclass(frozen=True, kw_only=True)
class InstanceScaling:
    """Instance counts that follow the traffic share during a rollout.

    A variant with ``share`` percent of the traffic gets
    ``max(min_instances, ceil(max_instances * share / 100))`` instances.

    :param max_instances: the instances that serve all traffic.
    :param min_instances: the fewest a variant keeps. Default: 1.
    """

    max_instances: int
    min_instances: int = 1


@checked_value
@dataclass(frozen=True, kw_only=True)
class VariantScalingLimits:
    """An autoscaled variant as its template declares it (for an imported endpoint).

    The rollout raises the canary's scalable target before each step and gives the variants
    these values back when it ends.

    :param min_capacity: the scalable target's ``MinCapacity``.
    :param max_capacity: the scalable target's ``MaxCapacity``.
    :param instance_count: the variant's ``InitialInstanceCount``: what the losing variant's
        instance count goes back to.
    """

    min_capacity: int
    max_capacity: int
    instance_count: int


@runtime_checkable
class IEndpointRef(Protocol):
    """Anything that names a SageMaker endpoint (an ``Endpoint``, an import, a stub)."""

    @property
    def endpoint_name(self) -> str: ...

    @property
    def endpoint_arn(self) -> str: ...


class HookPoint(enum.Enum):
    """Where in a rollout a :class:`RolloutHook` is called."""

    #: once, after the start checks, before the canary gets any traffic (after the smoke test)
    BEFORE_TRAFFIC = HOOK_BEFORE_TRAFFIC
    #: after each step has passed its evaluation, before the next step's weights
    AFTER_STEP = HOOK_AFTER_STEP
    #: once, after the last (100 %) step has passed, before the promotion
    BEFORE_PROMOTION = HOOK_BEFORE_PROMOTION
    #: once, when the rollout has ended (promoted or rolled back); cannot change the outcome
    AFTER_ROLLOUT = HOOK_AFTER_ROLLOUT


@checked_value
@dataclass(frozen=True, kw_only=True)
class RolloutHook:
    """A Lambda function of yours that a rollout calls at ``point``.

    The function is invoked synchronously with the rollout's state (``hook``, ``hook_name``,
    ``endpoint_name``, the variants, ``execution_arn``, ``step``, ``evaluation`` after a step,
    ``outcome`` after the rollout, and ``config``: see the README's hook contract). The rollout
    goes on when it returns, unless it answers ``{"proceed": false, "reason": "..."}``; a
    refusal or a failure rolls back with the hook's reason (``after_rollout`` hooks are only
    reported, in a ``HOOK_FAILED`` notification). The construct lets the state machine invoke
    the function.

    :param name: unique among the rollout's hooks; 1-40 letters, digits, ``-`` or ``_`` (it
        names the hook's states and appears in causes); ``smoke-test`` is reserved.
    :param function: the function to invoke.
    :param point: where it is called.
    :param config: JSON passed to the function as ``config`` (at most 8 KiB; no key may end in
        ``.$``, which Step Functions would read as a path). Default: ``{}``.
    """

    name: str
    function: lambda_.IFunction
    point: HookPoint
    config: Mapping[str, Any] = field(default_factory=dict)


@checked_value
@dataclass(frozen=True, kw_only=True)
class SmokeTest:
    """One request sent to the canary variant before it gets any traffic.

    The rollout's smoke-test function sends it with ``InvokeEndpoint`` and ``TargetVariant``
    (so the canary answers whatever its weight) and checks the answer; any failed expectation
    ends the rollout rolled back, the canary still at 0 %, with the failures in the cause.

    :param name: unique among the rollout's smoke tests; 1-40 letters, digits, ``-`` or ``_``.
    :param body: the request body, inline (all inline bodies together at most 32 KiB: they
        travel in the state machine's definition). Exactly one of ``body`` and ``body_bucket``.
    :param body_bucket: the bucket of a request body in S3 (the function may read
        ``body_key`` there; the VPC then needs a route to S3).
    :param body_key: the object's key (with ``body_bucket``).
    :param content_type: the request's ``ContentType``. Default: ``application/json``.
    :param accept: the request's ``Accept``. Default: none (the model's default).
    :param expect_status: the HTTP status the model must answer with (100-599; a model error
        arrives as ``ModelError`` with its original status). Default: 200.
    :param max_latency: the longest round trip allowed, as the function measures it (1 ms to
        60 s, SageMaker's limit for a real-time answer). Default: no ceiling.
    :param expect_json_path: a path the answer (JSON) must hold, such as
        ``$.predictions[0].score``. Default: none.
    """

    name: str
    body: str | None = None
    body_bucket: s3.IBucket | None = None
    body_key: str | None = None
    content_type: str = "application/json"
    accept: str | None = None
    expect_status: int = 200
    max_latency: cdk.Duration | None = None
    expect_json_path: str | None = None
