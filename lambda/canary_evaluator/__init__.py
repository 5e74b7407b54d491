"""Canary evaluator Lambda: judges a SageMaker canary variant against its baseline.

Handler: ``canary_evaluator.handler.handler``. Pure decision logic: ``canary_evaluator.judge``.
"""
