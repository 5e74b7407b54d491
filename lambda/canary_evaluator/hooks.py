"""The rollout hooks' contract: what a hook Lambda receives and what it answers (no boto3).

A ``CanaryRollout`` may call Lambda functions of its user at four points (``HOOK_POINTS``):

``before_traffic``    once, after the start checks and before the canary gets any traffic (the
                      built-in smoke test runs here too, first)
``after_step``        after each step has passed its evaluation, before the next step's weights
``before_promotion``  once, after the last (100 %) step has passed, before the rollout declares
                      the canary promoted
``after_rollout``     once, when the rollout has ended: promoted (``outcome.status``
                      ``COMPLETED``) or rolled back (``ROLLED_BACK``); informational, see below

Event (JSON object) each hook function is invoked with (synchronously, ``RequestResponse``):

====================  ==================================================================
``hook``              the point (one of ``HOOK_POINTS``)
``hook_name``         the name the hook was given in the construct (unique per rollout)
``endpoint_name``     the endpoint
``baseline_variant``  the variant serving the current model
``canary_variant``    the variant serving the new model
``execution_arn``     the rollout's execution
``step``              the rollout's step data (``contract.STEP_KEY``; see below)
``evaluation``        ``after_step`` and ``before_promotion``: the step's last evaluator answer
                      (``verdict``, ``reasons``, invocation counts)
``outcome``           ``after_rollout``: ``{"status": "COMPLETED"}`` or ``{"status":
                      "ROLLED_BACK", "reason": <the execution's cause>}``
``config``            the hook's own configuration from the construct (``{}`` by default)
====================  ==================================================================

Answer: the rollout goes on when the function returns normally, unless its answer is an object
whose ``proceed`` is ``false``; then (and when the function fails: an error raised, a time-out,
a Lambda service error after the retries) the rollout rolls back, with the answer's ``reason``
(or the error) in the cause. A ``proceed`` that is not a boolean counts as ``false``: a hook
that cannot say yes clearly is not a yes. ``after_rollout`` hooks cannot change the outcome:
their failure or refusal is published (``HOOK_FAILED``) and the rollout ends as it was going to.

The state machine reads ``proceed`` and quotes the whole answer in the cause of a refusal, so
keep answers small (``MAX_ANSWER_BYTES``): a task result over Step Functions' 256 KiB payload
limit fails the execution where no state can catch it (the rollout's guard then restores the
baseline). ``step`` holds what the rollout knows at the point: before traffic ``index`` 0 only,
after a step its ``percent``, ``steps`` and ``index``, after the rollout ``steps`` and
``previous_percent``.
"""

from __future__ import annotations

__all__ = [
    "ANSWER_PROCEED",
    "ANSWER_REASON",
    "HOOK_POINTS",
    "MAX_ANSWER_BYTES",
    "OUTCOME_COMPLETED",
    "OUTCOME_ROLLED_BACK",
]

BEFORE_TRAFFIC = "before_traffic"
AFTER_STEP = "after_step"
BEFORE_PROMOTION = "before_promotion"
AFTER_ROLLOUT = "after_rollout"
#: The points a rollout calls hooks at, in the order a rollout reaches them.
HOOK_POINTS = (BEFORE_TRAFFIC, AFTER_STEP, BEFORE_PROMOTION, AFTER_ROLLOUT)

#: Keys of a hook's answer the state machine reads.
ANSWER_PROCEED = "proceed"
ANSWER_REASON = "reason"
#: ``outcome.status`` of an ``after_rollout`` event.
OUTCOME_COMPLETED = "COMPLETED"
OUTCOME_ROLLED_BACK = "ROLLED_BACK"
#: A hook's answer should stay under this (Step Functions fails an execution, uncatchably, on
#: a task result over 256 KiB; the rollout's guard then restores the baseline).
MAX_ANSWER_BYTES = 32 * 1024
