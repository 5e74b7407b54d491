"""Application Auto Scaling of SageMaker resources: the one place that writes scalable targets
and target-tracking policies (variants of an endpoint, asynchronous endpoints' backlog,
inference components' copies)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from constructs import Construct

__all__ = ["VARIANT_INSTANCES", "scalable_target", "target_tracking", "variant_resource_id"]

#: The scalable dimension of an endpoint variant's instance count.
VARIANT_INSTANCES = "sagemaker:variant:DesiredInstanceCount"

_Policy = appscaling.CfnScalingPolicy


def variant_resource_id(endpoint_name: str, variant_name: str) -> str:
    """Application Auto Scaling's resource id of an endpoint variant."""
    return f"endpoint/{endpoint_name}/variant/{variant_name}"


def scalable_target(
    scope: Construct,
    *,
    dimension: str,
    resource_id: str,
    min_capacity: int,
    max_capacity: int,
) -> appscaling.CfnScalableTarget:
    """``Target`` in ``scope``: a SageMaker scalable target. No ``RoleArn``: Application Auto
    Scaling uses its SageMaker service-linked role."""
    return appscaling.CfnScalableTarget(
        scope,
        "Target",
        service_namespace="sagemaker",
        scalable_dimension=dimension,
        resource_id=resource_id,
        min_capacity=min_capacity,
        max_capacity=max_capacity,
    )


def target_tracking(
    scope: Construct,
    id: str,
    *,
    target: appscaling.CfnScalableTarget,
    policy_name: str,
    target_value: float,
    scale_in_cooldown: cdk.Duration,
    scale_out_cooldown: cdk.Duration,
    predefined_metric: str | None = None,
    customized_metric: _Policy.CustomizedMetricSpecificationProperty | None = None,
    disable_scale_in: bool | None = None,
) -> appscaling.CfnScalingPolicy:
    """A target-tracking policy on ``target``: a predefined metric type or a customized one."""
    return _Policy(
        scope,
        id,
        policy_name=policy_name,
        policy_type="TargetTrackingScaling",
        scaling_target_id=target.ref,
        target_tracking_scaling_policy_configuration=_Policy.TargetTrackingScalingPolicyConfigurationProperty(
            target_value=target_value,
            predefined_metric_specification=(
                _Policy.PredefinedMetricSpecificationProperty(
                    predefined_metric_type=predefined_metric
                )
                if predefined_metric is not None
                else None
            ),
            customized_metric_specification=customized_metric,
            scale_in_cooldown=scale_in_cooldown.to_seconds(),
            scale_out_cooldown=scale_out_cooldown.to_seconds(),
            disable_scale_in=disable_scale_in,
        ),
    )
