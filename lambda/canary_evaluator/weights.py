"""What "rolled back" means: the one definition the state machine, the command line and the
guard share (the library re-exports it as ``sagemaker_constructs.rollout.contract``)."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["ROLLED_BACK_BASELINE_WEIGHT", "ROLLED_BACK_CANARY_WEIGHT", "is_rolled_back"]

#: Weights of a rolled-back endpoint: all traffic on the baseline, none on the canary.
ROLLED_BACK_BASELINE_WEIGHT = 100
ROLLED_BACK_CANARY_WEIGHT = 0


def is_rolled_back(weights: Mapping[str, float], *, baseline: str, canary: str) -> bool:
    """True when ``weights`` (variant name -> ``CurrentWeight``) show a finished rollback: the
    baseline at ``ROLLED_BACK_BASELINE_WEIGHT`` and the canary at
    ``ROLLED_BACK_CANARY_WEIGHT``, as the endpoint reports them."""
    return (
        weights.get(baseline) == ROLLED_BACK_BASELINE_WEIGHT
        and weights.get(canary) == ROLLED_BACK_CANARY_WEIGHT
    )
