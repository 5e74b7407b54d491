"""AWS CDK L3 constructs that make shipping machine-learning models on SageMaker safe.

.. code-block:: python

    from sagemaker_constructs import add_compliance_checks
"""

from __future__ import annotations

from .compliance import acknowledge, add_compliance_checks

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "acknowledge",
    "add_compliance_checks",
]
