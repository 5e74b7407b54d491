"""ARNs of SageMaker resources by name: the one place that knows SageMaker writes resource
names in lower case in its ARNs (IAM compares ARNs case-sensitively)."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from ._validation import is_token

__all__ = ["sagemaker_arn"]


def sagemaker_arn(scope: Construct, resource: str, name: str) -> str:
    """The ARN of SageMaker ``resource`` (``endpoint``, ``model``, ...) named ``name`` in
    ``scope``'s account and region; a token name is used as it is."""
    return cdk.Stack.of(scope).format_arn(
        service="sagemaker",
        resource=resource,
        resource_name=name if is_token(name) else name.lower(),
    )
