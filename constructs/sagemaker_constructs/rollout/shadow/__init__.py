"""The shadow evaluation: judge an endpoint's shadow variant with the rollout's evaluator.

=====================  ===============================================================
``construct.py``       ``ShadowEvaluation``: key, topic, evaluator, state machine, alarm
``validation.py``      the construct's arguments, checked at construction
``definition.py``      the state machine's definition (the rollout's building blocks)
=====================  ===============================================================

Its names that cross a boundary (errors, events, states, tags) are in ``..contract``.
"""

from __future__ import annotations

from .construct import ShadowEvaluation

__all__ = ["ShadowEvaluation"]
