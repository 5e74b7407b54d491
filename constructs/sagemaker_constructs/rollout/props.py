"""The rollout's public argument types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .._types import checked_value

__all__ = ["IEndpointRef", "InstanceScaling", "VariantScalingLimits"]


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
