"""The shadow evaluation's Amazon States Language definition (pure: no CDK).

:func:`build_shadow_definition` returns the state machine that
:class:`~.construct.ShadowEvaluation` deploys, built with the rollout's blocks
(:class:`~..definition.builder.Builder`: wait for ``InService``, DescribeEndpoint with its
retries, the evaluator invocation with its retries and catches, the notifications) and two of
its phases' states with exits of its own (the input, ``definition.start``; the bake loop,
``definition.bake``). Its values may be CDK tokens. The phases:

1. **Input**: the construct's defaults; the evaluator checks the execution input against them
   (``shadow_input.py``) -> ``InvalidInput``.
2. **Ready**: wait until the endpoint is ``InService``; DescribeEndpoint must list the
   production variant (``ProductionVariants``) and the shadow variant
   (``ShadowProductionVariants``) -> ``ShadowNotReady``. Then the ``STARTED`` notification.
3. **Bake**: the window starts (``ShadowStates.START_WINDOW``); every ``interval_seconds`` the
   evaluator judges the shadow variant (as ``canary_variant``) against the production variant
   (as ``baseline_variant``, always live: it serves every request) from the window's start.
   FAIL -> end at once; PASS once ``bake_seconds`` have passed -> succeed; INCONCLUSIVE at the
   end of the bake -> one more interval, at most ``max_extensions`` times, then end
   INCONCLUSIVE. An evaluator failure after its retries -> ``ShadowEvaluationFailed``.
4. **Verdict**: a ``VERDICT`` notification, then PASS succeeds with the result as output and
   FAIL / INCONCLUSIVE fail the execution (``ShadowFailed`` / ``ShadowInconclusive``) with
   the checks and the reasons in the cause.

Nothing on the endpoint is changed: the only SageMaker call is ``DescribeEndpoint``, which is
why no lock is taken (two evaluations of one endpoint only read) and no guard is needed (a
stopped evaluation leaves nothing to restore).

The execution state (``$``): ``config`` (the validated configuration), ``event`` (the
evaluator event's fixed part: endpoint, variants, policy), ``reference`` (always ``{}``: the
production variant is always live), ``variants`` (what DescribeEndpoint listed), ``bake``
(``window``, ``elapsed``, ``extensions``, ``evaluations``), ``evaluation`` (the last answer),
``result`` (the ending's summary).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..contract import (
    SHADOW_CHECKS,
    SHADOW_REASONS,
    SHADOW_VALIDATE_KEY,
    SHADOW_VERDICT,
    VERDICT_FAIL,
    VERDICT_INCONCLUSIVE,
    VERDICT_PASS,
    ShadowErrors,
    ShadowEvents,
    ShadowStates,
)
from ..definition import Definition
from ..definition.bake import build_bake_loop
from ..definition.builder import EVALUATION_FIELDS, Bindings, Builder
from ..definition.notifications import notify
from ..definition.start import build_input_validation

__all__ = ["ShadowBindings", "ShadowDefaults", "build_shadow_definition"]


@dataclass(frozen=True, kw_only=True)
class ShadowBindings:
    """What a shadow evaluation's definition is bound to at synth time (values may be tokens)."""

    endpoint_name: str
    endpoint_arn: str
    production_variant: str
    shadow_variant: str
    evaluator_arn: str
    topic_arn: str
    state_machine_arn: str
    executions_arn: str


@dataclass(frozen=True, kw_only=True)
class ShadowDefaults:
    """The construct's defaults; an execution may override the ``SHADOW_INPUT_KEYS``."""

    bake_seconds: int
    interval_seconds: int
    max_extensions: int
    poll_seconds: int
    max_polls: int
    policy: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "bake_seconds": self.bake_seconds,
            "interval_seconds": self.interval_seconds,
            "max_extensions": self.max_extensions,
            "poll_seconds": self.poll_seconds,
            "max_polls": self.max_polls,
            "policy": dict(self.policy),
        }


def build_shadow_definition(bindings: ShadowBindings, *, defaults: ShadowDefaults) -> Definition:
    """The shadow evaluation's state machine and what its tasks call."""
    b = Builder(
        Bindings(
            endpoint_name=bindings.endpoint_name,
            endpoint_arn=bindings.endpoint_arn,
            # the evaluator's terms: the production variant is the baseline it judges against
            baseline_variant=bindings.production_variant,
            canary_variant=bindings.shadow_variant,
            evaluator_arn=bindings.evaluator_arn,
            topic_arn=bindings.topic_arn,
            state_machine_arn=bindings.state_machine_arn,
            executions_arn=bindings.executions_arn,
            # no lock (nothing is changed) and no approvals: no task uses these
            lock_table_name="",
            lock_table_arn="",
        ),
        approval_timeout_seconds=0,
    )
    _input(b, defaults)
    _ready(b)
    _bake(b)
    _verdicts(b)
    _errors(b)
    asl = {
        "Comment": (
            f"Shadow evaluation of endpoint {b.endpoint_name}: judge shadow variant {b.canary} "
            f"against production variant {b.baseline}; no traffic is moved."
        ),
        "StartAt": ShadowStates.START,
        "States": b.states,
    }
    return Definition(asl=asl, permissions=tuple(b.permissions))


def _input(b: Builder, defaults: ShadowDefaults) -> None:
    """The construct's defaults, the execution input checked and merged over them by the
    evaluator (the rollout's input states), and the evaluator event's fixed part."""
    build_input_validation(
        b,
        ShadowStates.START,
        validate=ShadowStates.VALIDATE_INPUT,
        defaults=defaults.to_json(),
        validate_key=SHADOW_VALIDATE_KEY,
        rules="unknown keys, types, ranges, policy, history budget",
        unchanged="Nothing was evaluated.",
        nxt="Set Up",
        on_error="Evaluation Failed",
    )
    b.add(
        "Set Up",
        {
            "Type": "Pass",
            "Parameters": {
                "config.$": "$.validated.config",
                "event": b.evaluator_event(),
                "reference": {},
            },
            "Next": ShadowStates.BEFORE_EVALUATION,
        },
    )


def _ready(b: Builder) -> None:
    """Wait until InService; the endpoint must list both variants; then the start notice.

    DescribeEndpoint leaves ``ShadowProductionVariants`` out of an endpoint without shadow
    variants, and a JSONPath into a missing key fails the execution with ``States.Runtime``
    (which no Catch handles): the answer is kept whole, its keys are tested with ``IsPresent``
    first, and only then is each list filtered by name.
    """
    b.wait_in_service(
        ShadowStates.BEFORE_EVALUATION,
        with_weights=False,
        on_ready=ShadowStates.DESCRIBE_VARIANTS,
        on_failed="Not Ready",
    )
    b.sagemaker_call(
        ShadowStates.DESCRIBE_VARIANTS,
        {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint",
            "Parameters": {"EndpointName": b.endpoint_name},
            "ResultSelector": {"response.$": "$"},
            "ResultPath": "$.variants",
        },
        nxt="Variants Listed?",
        on_error="Not Ready",
    )
    b.add(
        "Variants Listed?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {"Variable": "$.variants.response.ProductionVariants", "IsPresent": True},
                        {
                            "Variable": "$.variants.response.ShadowProductionVariants",
                            "IsPresent": True,
                        },
                    ],
                    "Next": "Find Variants",
                }
            ],
            "Default": "Variants Missing",
        },
    )
    b.add(
        "Find Variants",
        {
            "Type": "Pass",
            "Parameters": {
                "production.$": (
                    "$.variants.response.ProductionVariants"
                    f"[?(@.VariantName == '{b.baseline}')].VariantName"
                ),
                "shadow.$": (
                    "$.variants.response.ShadowProductionVariants"
                    f"[?(@.VariantName == '{b.canary}')]"
                ),
            },
            "ResultPath": "$.variants",
            "Next": "Variants Found?",
        },
    )
    b.add(
        "Variants Found?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {"Variable": "$.variants.production[0]", "IsPresent": True},
                        {"Variable": "$.variants.shadow[0]", "IsPresent": True},
                    ],
                    "Next": "Notify Started",
                }
            ],
            "Default": "Variants Missing",
        },
    )
    b.add(
        "Variants Missing",
        {
            "Type": "Pass",
            "Parameters": {
                "Error": ShadowErrors.VARIANTS_MISSING,
                "Cause": (
                    f"endpoint {b.endpoint_name} does not list production variant {b.baseline} "
                    f"(ProductionVariants) with shadow variant {b.canary} "
                    "(ShadowProductionVariants)"
                ),
            },
            "ResultPath": "$.error",
            "Next": "Not Ready",
        },
    )
    b.add(
        "Not Ready",
        {
            "Type": "Fail",
            "Error": ShadowErrors.NOT_READY,
            "CausePath": (
                "States.Format('the endpoint is not ready for a shadow evaluation: {}. Nothing "
                "was evaluated.', States.JsonToString($.error))"
            ),
        },
    )
    notify(
        b,
        "Notify Started",
        ShadowEvents.STARTED,
        "Shadow evaluation started",
        {
            **_variants(b),
            "shadow.$": "$.variants.shadow[0]",
            "bake_seconds.$": "$.config.bake_seconds",
            "interval_seconds.$": "$.config.interval_seconds",
        },
        ShadowStates.START_WINDOW,
    )


def _variants(b: Builder) -> dict[str, str]:
    """The variants in the shadow evaluation's own terms (the message format also carries
    them as ``baseline_variant`` and ``canary_variant``)."""
    return {"production_variant": b.baseline, "shadow_variant": b.canary}


def _bake(b: Builder) -> None:
    """Wait an interval, evaluate the window, decide: fail, bake on, pass, extend, or stop
    (the rollout's bake loop; the verdict's output carries the evaluator's checks too)."""
    build_bake_loop(
        b,
        ShadowStates.START_WINDOW,
        comment="Both variants are listed: the evaluation window starts now. The evaluator "
        "counts the whole periods from here on.",
        window={},
        evaluate=ShadowStates.EVALUATE,
        extend=ShadowStates.EXTEND,
        on_failed=ShadowStates.FAILED,
        on_passed=ShadowStates.PASSED,
        on_inconclusive=ShadowStates.INCONCLUSIVE,
        on_error="Notify Error",
        fields=(*EVALUATION_FIELDS, "checks"),
    )


def _result(b: Builder, verdict: str, extra: Mapping[str, str]) -> dict[str, Any]:
    """The summary of an ending: the verdict, the evaluator's reasons and checks, the figures
    and the window (the output of a PASS, the notification of every verdict)."""
    return {
        SHADOW_VERDICT: verdict,
        "endpoint_name": b.endpoint_name,
        **_variants(b),
        f"{SHADOW_REASONS}.$": "$.evaluation.reasons",
        f"{SHADOW_CHECKS}.$": "$.evaluation.checks",
        "production_invocations.$": "$.evaluation.baseline_invocations",
        "shadow_invocations.$": "$.evaluation.canary_invocations",
        "evaluations.$": "$.bake.evaluations",
        "extensions.$": "$.bake.extensions",
        "window_start.$": "$.bake.window.window_start",
        **extra,
    }


def _verdicts(b: Builder) -> None:
    """Each verdict: its result, the VERDICT notification, then the ending."""
    endings: tuple[tuple[str, str, dict[str, str], str], ...] = (
        (ShadowStates.PASSED, VERDICT_PASS, {}, "Passed"),
        (
            ShadowStates.FAILED,
            VERDICT_FAIL,
            {"failed_checks.$": f"$.evaluation.checks[?(@.verdict == '{VERDICT_FAIL}')].name"},
            "Failed",
        ),
        (
            ShadowStates.INCONCLUSIVE,
            VERDICT_INCONCLUSIVE,
            {
                "inconclusive_checks.$": (
                    f"$.evaluation.checks[?(@.verdict == '{VERDICT_INCONCLUSIVE}')].name"
                )
            },
            "Inconclusive",
        ),
    )
    for name, verdict, extra, ending in endings:
        result = _result(b, verdict, extra)
        b.add(
            name,
            {
                "Type": "Pass",
                "Parameters": result,
                "ResultPath": "$.result",
                "Next": f"Notify {ending}",
            },
        )
        keys = [key.removesuffix(".$") for key in result]
        notify(
            b,
            f"Notify {ending}",
            ShadowEvents.VERDICT,
            f"Shadow evaluation: {verdict}",
            {f"{key}.$": f"$.result.{key}" for key in keys},
            ending,
        )
    b.add("Passed", {"Type": "Succeed", "OutputPath": "$.result"})
    b.add(
        "Failed",
        {
            "Type": "Fail",
            "Error": ShadowErrors.FAILED,
            "CausePath": (
                f"States.Format('shadow variant {b.canary} FAILED against production variant "
                f"{b.baseline} of endpoint {b.endpoint_name} (evaluation {{}}; failed checks "
                "{}): {}', $.bake.evaluations, States.JsonToString($.result.failed_checks), "
                "States.JsonToString($.result.reasons))"
            ),
        },
    )
    b.add(
        "Inconclusive",
        {
            "Type": "Fail",
            "Error": ShadowErrors.INCONCLUSIVE,
            "CausePath": (
                f"States.Format('shadow variant {b.canary} of endpoint {b.endpoint_name} is "
                "still INCONCLUSIVE after {} evaluations and {} extension(s) (checks without a "
                "verdict: {}): {}', $.bake.evaluations, $.bake.extensions, "
                "States.JsonToString($.result.inconclusive_checks), "
                "States.JsonToString($.result.reasons))"
            ),
        },
    )


def _errors(b: Builder) -> None:
    """The evaluator failed after its retries: notify (the evaluation had started), then fail."""
    notify(
        b,
        "Notify Error",
        ShadowEvents.ERROR,
        "Shadow evaluation failed to run",
        {**_variants(b), "error.$": "$.error"},
        "Evaluation Failed",
    )
    b.add(
        "Evaluation Failed",
        {
            "Type": "Fail",
            "Error": ShadowErrors.EVALUATION_FAILED,
            "CausePath": (
                "States.Format('the evaluator could not judge the shadow variant: {}', "
                "States.JsonToString($.error))"
            ),
        },
    )
