"""One stack per environment (dev, test, prod), built from typed configuration."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from .config import EnvironmentConfig
from .foundation import Foundation

__all__ = ["EnvironmentStack"]


class EnvironmentStack(cdk.Stack):
    """Everything one environment runs, on its :class:`Foundation`.

    The stack is bound to the environment's account and region from configuration and
    performs no lookups at synth. It is tagged ``Project`` and ``Environment`` (plus any
    configured tags); stateful resources are retained when ``retain_data`` is set.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        project: str,
        config: EnvironmentConfig,
        **kwargs: Any,
    ) -> None:
        self.config = config
        super().__init__(
            scope,
            id,
            env=cdk.Environment(account=config.account, region=config.region),
            description=f"{project}: SageMaker {config.name} environment",
            termination_protection=config.retain_data,
            **kwargs,
        )
        tags = cdk.Tags.of(self)
        tags.add("Project", project)
        tags.add("Environment", config.name)
        for key, value in config.tags.items():
            tags.add(key, value)

        self.foundation = Foundation(self, "Foundation", config=config)

    @property
    def availability_zones(self) -> list[str]:
        """The configured zones, or the region's first two: never a context lookup at synth.

        Without configured zones the template selects them at deploy time
        (``Fn::Select`` over ``Fn::GetAZs``), so nothing zone-specific is hard-coded.
        """
        if self.config.vpc.availability_zones:
            return list(self.config.vpc.availability_zones)
        return [cdk.Fn.select(index, cdk.Fn.get_azs()) for index in range(2)]
