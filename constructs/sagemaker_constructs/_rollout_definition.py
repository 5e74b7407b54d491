"""The canary rollout's Amazon States Language definition (pure: builds a dict, no CDK).

No ``null`` appears in the definition (moto's interpreter drops null literals, so
``ResultPath: null`` and null parameters are avoided; results go to scratch keys instead).

:func:`build_definition` returns the state machine that :class:`~.canary_rollout.CanaryRollout`
deploys. Its values (endpoint name, ARNs) may be CDK tokens: the construct serialises the dict
with ``Stack.to_json_string`` so the tokens become ``Fn::Join`` parts.

The execution state (``$``) holds:

``const``            ``complements`` (``[100, 99, ..., 0]``: baseline weight of a canary
                     percentage, as JSONPath cannot subtract), ``approval_steps``, ``approvals``
                     and, with instance scaling, ``instances`` (instance count per traffic
                     percentage 0-100)
``config``           the construct's defaults merged with the execution input (shallow)
``event``            the evaluator event's fixed part: endpoint, variants and ``policy`` (the
                     construct's policy merged with ``input.policy``, top-level keys)
``step``             ``index``, ``percent``, ``baseline_weight``, ``approval_index``
``bake``             ``window`` (``{window_start}``), ``elapsed``, ``extensions``, ``evaluations``
``evaluation``       the last evaluator answer (verdict, reasons, baseline figures)
``reference``        ``{}``, then ``{baseline_reference}``: the last live ``baseline_summary``
``summary``          ``json``: the passed steps as comma-separated JSON objects
``rollback``         ``reason`` (the execution's failure cause)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "LAMBDA_RETRY_ERRORS",
    "SAGEMAKER_RETRY_ERRORS",
    "RolloutDefaults",
    "build_definition",
    "instance_counts",
]

State = dict[str, Any]

#: Errors of the aws-sdk SageMaker tasks that are retried with backoff. Step Functions names
#: aws-sdk errors ``<Service>.<ErrorCode>`` (``Exception`` appended when missing):
#: ``ThrottlingException``; ``ValidationException`` is what "Cannot update in-progress
#: endpoint" is; unmodelled service errors surface as ``SageMaker.SageMakerException`` /
#: ``SageMaker.AmazonSageMakerException``.
SAGEMAKER_RETRY_ERRORS = (
    "SageMaker.ThrottlingException",
    "SageMaker.ValidationException",
    "SageMaker.SageMakerException",
    "SageMaker.AmazonSageMakerException",
    "SageMaker.InternalFailureException",
    "SageMaker.ServiceUnavailableException",
)
#: Transient errors of the evaluator invocation (the Lambda service, or CloudWatch errors that
#: the evaluator re-raised after its own retries).
LAMBDA_RETRY_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.Unknown",
    "ClientError",
    "MetricDataError",
)
_SNS_RETRY_ERRORS = (
    "SNS.ThrottledException",
    "SNS.InternalErrorException",
    "SNS.SdkClientException",
)
_SFN_RETRY_ERRORS = ("Sfn.ThrottlingException", "Sfn.SfnException", "Sfn.SdkClientException")


class RolloutDefaults:
    """Construct-level defaults of the rollout; every one may be overridden per execution."""

    def __init__(
        self,
        *,
        steps: Sequence[int],
        bake_seconds: int,
        interval_seconds: int,
        max_extensions: int,
        poll_seconds: int,
        max_polls: int,
        policy: Mapping[str, Any],
    ) -> None:
        self.steps = list(steps)
        self.bake_seconds = bake_seconds
        self.interval_seconds = interval_seconds
        self.max_extensions = max_extensions
        self.poll_seconds = poll_seconds
        self.max_polls = max_polls
        self.policy = dict(policy)

    def to_json(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "bake_seconds": self.bake_seconds,
            "interval_seconds": self.interval_seconds,
            "max_extensions": self.max_extensions,
            "poll_seconds": self.poll_seconds,
            "max_polls": self.max_polls,
            "policy": self.policy,
        }


def instance_counts(minimum: int, maximum: int) -> list[int]:
    """Instance count of a variant for each traffic percentage 0..100."""
    return [max(minimum, -(-maximum * percent // 100)) for percent in range(101)]


def _retry(errors: Sequence[str], *, interval: int = 2, attempts: int = 6) -> dict[str, Any]:
    return {
        "ErrorEquals": list(errors),
        "IntervalSeconds": interval,
        "MaxAttempts": attempts,
        "BackoffRate": 2,
        "MaxDelaySeconds": 60,
    }


def _catch(next_state: str, result_path: str | None = "$.error") -> dict[str, Any]:
    return {"ErrorEquals": ["States.ALL"], "ResultPath": result_path, "Next": next_state}


class _Builder:
    """Accumulates uniquely named states."""

    def __init__(
        self,
        *,
        endpoint_name: str,
        baseline_variant: str,
        canary_variant: str,
        evaluator_arn: str,
        topic_arn: str,
        state_machine_arn: str,
        approval_timeout_seconds: int,
    ) -> None:
        self.endpoint_name = endpoint_name
        self.baseline = baseline_variant
        self.canary = canary_variant
        self.evaluator_arn = evaluator_arn
        self.topic_arn = topic_arn
        self.state_machine_arn = state_machine_arn
        self.approval_timeout_seconds = approval_timeout_seconds
        self.states: dict[str, State] = {}

    def add(self, name: str, state: State) -> str:
        if name in self.states:
            raise ValueError(f"duplicate state name {name!r}")
        self.states[name] = state
        return name

    # -- building blocks -------------------------------------------------------------------

    def notify(
        self, name: str, event: str, subject: str, extra: Mapping[str, Any], nxt: str
    ) -> str:
        """Publish one JSON notification; a failed publish never stops the rollout."""
        message: dict[str, Any] = {
            "event": event,
            "endpoint_name": self.endpoint_name,
            "baseline_variant": self.baseline,
            "canary_variant": self.canary,
            "execution_arn.$": "$$.Execution.Id",
            **extra,
        }
        return self.add(
            name,
            {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {
                    "TopicArn": self.topic_arn,
                    "Subject": subject,
                    "Message": message,
                },
                "ResultSelector": {"message_id.$": "$.MessageId"},
                "ResultPath": "$.notified",
                "Retry": [_retry(_SNS_RETRY_ERRORS, attempts=3)],
                "Catch": [_catch(nxt, "$.notify_error")],
                "Next": nxt,
            },
        )

    def describe(self, name: str, *, with_weights: bool, nxt: str, on_error: str) -> str:
        selector: dict[str, Any] = {"status.$": "$.EndpointStatus"}
        if with_weights:
            for key, variant in (
                ("baseline_weight", self.baseline),
                ("canary_weight", self.canary),
            ):
                selector[f"{key}.$"] = (
                    f"$.ProductionVariants[?(@.VariantName == '{variant}')].CurrentWeight"
                )
        return self.add(
            name,
            {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint",
                "Parameters": {"EndpointName": self.endpoint_name},
                "ResultSelector": selector,
                "ResultPath": "$.endpoint",
                "Retry": [_retry(SAGEMAKER_RETRY_ERRORS)],
                "Catch": [_catch(on_error)],
                "Next": nxt,
            },
        )

    def wait_in_service(
        self, prefix: str, *, with_weights: bool, on_ready: str, on_failed: str
    ) -> str:
        """Poll DescribeEndpoint until InService (bounded by ``config.max_polls``)."""
        start = self.add(
            prefix,
            {
                "Type": "Pass",
                "Result": {"n": 0},
                "ResultPath": "$.polls",
                "Next": f"{prefix} Describe",
            },
        )
        self.describe(
            f"{prefix} Describe",
            with_weights=with_weights,
            nxt=f"{prefix} InService?",
            on_error=on_failed,
        )
        self.add(
            f"{prefix} InService?",
            {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": "$.endpoint.status",
                        "StringEquals": "InService",
                        "Next": on_ready,
                    },
                    {
                        "Or": [
                            {"Variable": "$.endpoint.status", "StringEquals": "Failed"},
                            {"Variable": "$.endpoint.status", "StringEquals": "OutOfService"},
                            {"Variable": "$.endpoint.status", "StringEquals": "Deleting"},
                            {
                                "Variable": "$.polls.n",
                                "NumericGreaterThanEqualsPath": "$.config.max_polls",
                            },
                        ],
                        "Next": f"{prefix} NotInService",
                    },
                ],
                "Default": f"{prefix} Wait",
            },
        )
        self.add(
            f"{prefix} NotInService",
            {
                "Type": "Pass",
                "Parameters": {
                    "Error": "EndpointNotInService",
                    "Cause.$": (
                        "States.Format('endpoint {} is {} after {} polls "
                        "(max_polls {}, poll_seconds {})', "
                        f"'{self.endpoint_name}', $.endpoint.status, $.polls.n, "
                        "$.config.max_polls, $.config.poll_seconds)"
                    ),
                },
                "ResultPath": "$.error",
                "Next": on_failed,
            },
        )
        self.add(
            f"{prefix} Wait",
            {
                "Type": "Wait",
                "SecondsPath": "$.config.poll_seconds",
                "Next": f"{prefix} Count",
            },
        )
        self.add(
            f"{prefix} Count",
            {
                "Type": "Pass",
                "Parameters": {"n.$": "States.MathAdd($.polls.n, 1)"},
                "ResultPath": "$.polls",
                "Next": f"{prefix} Describe",
            },
        )
        return start

    def set_weights(
        self,
        name: str,
        *,
        baseline: str | int,
        canary: str | int,
        nxt: str,
        on_error: str,
        baseline_count: str | int | None = None,
        canary_count: str | int | None = None,
    ) -> str:
        def weight(variant: str, value: str | int, count: str | int | None) -> dict[str, Any]:
            desired: dict[str, Any] = {"VariantName": variant}
            desired["DesiredWeight.$" if isinstance(value, str) else "DesiredWeight"] = value
            if count is not None:
                key = "DesiredInstanceCount.$" if isinstance(count, str) else "DesiredInstanceCount"
                desired[key] = count
            return desired

        return self.add(
            name,
            {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:sagemaker:updateEndpointWeightsAndCapacities",
                "Parameters": {
                    "EndpointName": self.endpoint_name,
                    "DesiredWeightsAndCapacities": [
                        weight(self.baseline, baseline, baseline_count),
                        weight(self.canary, canary, canary_count),
                    ],
                },
                "ResultSelector": {"endpoint_arn.$": "$.EndpointArn"},
                "ResultPath": "$.updated",
                "Retry": [_retry(SAGEMAKER_RETRY_ERRORS, attempts=8)],
                "Catch": [_catch(on_error)],
                "Next": nxt,
            },
        )

    def fail_input(self, name: str, cause_format: str, *args: str) -> str:
        arguments = "".join(f", {a}" for a in args)
        return self.add(
            name,
            {
                "Type": "Fail",
                "Error": "InvalidInput",
                "CausePath": f"States.Format('{cause_format}'{arguments})",
            },
        )


def _integer_rules(variable: str, text_variable: str, minimum: int) -> dict[str, Any]:
    """A Choice rule that matches when ``variable`` is NOT an integer >= ``minimum``."""
    return {
        "Or": [
            {"Not": {"Variable": variable, "IsNumeric": True}},
            {"Variable": text_variable, "StringMatches": "*.*"},
            {"Variable": variable, "NumericLessThan": minimum},
        ]
    }


def build_definition(
    *,
    endpoint_name: str,
    baseline_variant: str,
    canary_variant: str,
    evaluator_arn: str,
    topic_arn: str,
    state_machine_arn: str,
    defaults: RolloutDefaults,
    approval_steps: Sequence[int] = (),
    approval_timeout_seconds: int = 86400,
    instance_scaling: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The rollout state machine as an ASL dict (see the module docstring for ``$``).

    ``instance_scaling`` = ``(minimum, maximum)`` scales each variant's instance count with
    its traffic share at every step: ``max(minimum, ceil(maximum * share / 100))``.
    """
    b = _Builder(
        endpoint_name=endpoint_name,
        baseline_variant=baseline_variant,
        canary_variant=canary_variant,
        evaluator_arn=evaluator_arn,
        topic_arn=topic_arn,
        state_machine_arn=state_machine_arn,
        approval_timeout_seconds=approval_timeout_seconds,
    )
    ep = endpoint_name

    # -- set-up: defaults, input, validation, lock ---------------------------------------
    b.add(
        "Load Defaults",
        {
            "Type": "Pass",
            "Comment": "Construct defaults; the execution input overrides them key by key.",
            "Result": {
                "defaults": defaults.to_json(),
                "const": {
                    "complements": list(range(100, -1, -1)),
                    "approval_steps": sorted(approval_steps),
                    "approvals": len(approval_steps),
                    **(
                        {"instances": instance_counts(*instance_scaling)}
                        if instance_scaling
                        else {}
                    ),
                },
            },
            "ResultPath": "$",
            "Next": "Merge Input",
        },
    )
    b.add(
        "Merge Input",
        {
            "Type": "Pass",
            "Parameters": {
                "const.$": "$.const",
                "input.$": "States.JsonMerge($.defaults, $$.Execution.Input, false)",
                "base_policy.$": "$.defaults.policy",
            },
            "Next": "Merge Policy",
        },
    )
    b.add(
        "Merge Policy",
        {
            "Type": "Pass",
            "Parameters": {
                "const.$": "$.const",
                "config.$": "$.input",
                "event": {
                    "endpoint_name": endpoint_name,
                    "baseline_variant": baseline_variant,
                    "canary_variant": canary_variant,
                    "policy.$": "States.JsonMerge($.base_policy, $.input.policy, false)",
                },
                "reference": {},
                "summary": {"json": ""},
            },
            "Next": "Validate Numbers",
        },
    )
    numbers = ("bake_seconds", "interval_seconds", "max_extensions", "poll_seconds", "max_polls")
    b.add(
        "Validate Numbers",
        {
            "Type": "Pass",
            "Parameters": {f"{k}.$": f"States.JsonToString($.config.{k})" for k in numbers},
            "ResultPath": "$.text",
            "Next": "Numbers Valid?",
        },
    )
    minimums = {
        "bake_seconds": 1,
        "interval_seconds": 1,
        "max_extensions": 0,
        "poll_seconds": 1,
        "max_polls": 1,
    }
    b.add(
        "Numbers Valid?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    **_integer_rules(f"$.config.{k}", f"$.text.{k}", minimums[k]),
                    "Next": f"Invalid {k}",
                }
                for k in numbers
            ]
            + [
                {
                    "Variable": "$.config.interval_seconds",
                    "NumericGreaterThanPath": "$.config.bake_seconds",
                    "Next": "Invalid interval_seconds",
                }
            ],
            "Default": "Validate Steps",
        },
    )
    for k in numbers:
        rule = f"an integer >= {minimums[k]}"
        if k == "interval_seconds":
            rule += " and <= bake_seconds"
        b.fail_input(f"Invalid {k}", f"{k} must be {rule} (got {{}})", f"$.text.{k}")
    steps_rule = (
        "steps must be a list of at least 2 integer percentages between 1 and 100, "
        "strictly increasing and ending at 100, such as [5, 25, 50, 100] (got {})"
    )
    b.add(
        "Validate Steps",
        {
            "Type": "Pass",
            "Parameters": {
                "steps_text.$": "States.JsonToString($.config.steps)",
                "n.$": "States.ArrayLength($.config.steps)",
                "i": 0,
                "prev": 0,
            },
            "ResultPath": "$.validate",
            "Next": "Enough Steps?",
        },
    )
    b.add(
        "Enough Steps?",
        {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.validate.n", "NumericLessThan": 2, "Next": "Invalid steps"}
            ],
            "Default": "Validate Step Item",
        },
    )
    b.add(
        "Validate Step Item",
        {
            "Type": "Pass",
            "Parameters": {
                "steps_text.$": "$.validate.steps_text",
                "n.$": "$.validate.n",
                "i.$": "$.validate.i",
                "prev.$": "$.validate.prev",
                "v.$": "States.ArrayGetItem($.config.steps, $.validate.i)",
                "v_text.$": (
                    "States.JsonToString(States.ArrayGetItem($.config.steps, $.validate.i))"
                ),
            },
            "ResultPath": "$.validate",
            "Next": "Step Item Valid?",
        },
    )
    b.add(
        "Step Item Valid?",
        {
            "Type": "Choice",
            "Choices": [
                {**_integer_rules("$.validate.v", "$.validate.v_text", 1), "Next": "Invalid steps"},
                {"Variable": "$.validate.v", "NumericGreaterThan": 100, "Next": "Invalid steps"},
                {
                    "Variable": "$.validate.v",
                    "NumericLessThanEqualsPath": "$.validate.prev",
                    "Next": "Invalid steps",
                },
            ],
            "Default": "Validate Next Step",
        },
    )
    b.add(
        "Validate Next Step",
        {
            "Type": "Pass",
            "Parameters": {
                "steps_text.$": "$.validate.steps_text",
                "n.$": "$.validate.n",
                "i.$": "States.MathAdd($.validate.i, 1)",
                "prev.$": "$.validate.v",
            },
            "ResultPath": "$.validate",
            "Next": "More Steps To Validate?",
        },
    )
    b.add(
        "More Steps To Validate?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.validate.i",
                    "NumericLessThanPath": "$.validate.n",
                    "Next": "Validate Step Item",
                },
                {"Variable": "$.validate.prev", "NumericEquals": 100, "Next": "Check Lock"},
            ],
            "Default": "Invalid steps",
        },
    )
    b.fail_input("Invalid steps", steps_rule, "$.validate.steps_text")
    b.add(
        "Check Lock",
        {
            "Type": "Task",
            "Comment": "One rollout per endpoint (this state machine is bound to one endpoint): "
            "the oldest RUNNING execution proceeds, every other one fails. ListExecutions "
            "returns the most recent first.",
            "Resource": "arn:aws:states:::aws-sdk:sfn:listExecutions",
            "Parameters": {
                "StateMachineArn": state_machine_arn,
                "StatusFilter": "RUNNING",
                "MaxResults": 100,
            },
            "ResultSelector": {
                "running.$": "States.ArrayLength($.Executions)",
                "arns.$": "$.Executions[*].ExecutionArn",
            },
            "ResultPath": "$.lock",
            "Retry": [_retry(_SFN_RETRY_ERRORS)],
            "Next": "Another Rollout Running?",
        },
    )
    b.add(
        "Another Rollout Running?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.lock.running",
                    "NumericLessThanEquals": 1,
                    "Next": "Starting Weights",
                }
            ],
            "Default": "Find Oldest Rollout",
        },
    )
    # Where traffic is now decides whether this rollout may move it at all.
    b.describe("Starting Weights", with_weights=True, nxt="Canary Idle?", on_error="Start Error")
    b.add(
        "Canary Idle?",
        {
            "Type": "Choice",
            "Comment": (
                "Canary at 0 -> roll out. Canary serving everything -> an earlier rollout "
                "promoted it: nothing to do. Anything else -> another change owns the weights."
            ),
            "Choices": [
                {
                    "Or": [
                        {"Variable": "$.endpoint.canary_weight[0]", "IsPresent": False},
                        {"Variable": "$.endpoint.canary_weight[0]", "NumericEquals": 0},
                    ],
                    "Next": "Preflight Wait",
                },
                {
                    "And": [
                        {"Variable": "$.endpoint.baseline_weight[0]", "IsPresent": True},
                        {"Variable": "$.endpoint.baseline_weight[0]", "NumericEquals": 0},
                    ],
                    "Next": "Already Promoted",
                },
            ],
            "Default": "Unexpected Starting Weights",
        },
    )
    b.add(
        "Already Promoted",
        {
            "Type": "Pass",
            "Result": {"already_promoted": True, "steps": []},
            "Next": "Nothing To Do",
        },
    )
    b.add("Nothing To Do", {"Type": "Succeed"})
    b.add(
        "Start Error",
        {
            "Type": "Fail",
            "Error": "StartFailed",
            "CausePath": (
                "States.Format('the endpoint could not be described before the rollout: {}. "
                "Traffic was not changed.', States.JsonToString($.error))"
            ),
        },
    )
    b.add(
        "Unexpected Starting Weights",
        {
            "Type": "Fail",
            "Error": "UnexpectedStartingWeights",
            "CausePath": (
                "States.Format('the canary variant already serves part of the traffic (weights: "
                "baseline {}, canary {}); finish or abort that change first, or set the canary "
                "to 0', States.JsonToString($.endpoint.baseline_weight), "
                "States.JsonToString($.endpoint.canary_weight))"
            ),
        },
    )
    b.add(
        "Find Oldest Rollout",
        {
            "Type": "Pass",
            "Parameters": {
                "me.$": "$$.Execution.Id",
                "oldest.$": "States.ArrayGetItem($.lock.arns, States.MathAdd($.lock.running, -1))",
            },
            "ResultPath": "$.lock_owner",
            "Next": "Am I The Oldest?",
        },
    )
    b.add(
        "Am I The Oldest?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.lock_owner.oldest",
                    "StringEqualsPath": "$.lock_owner.me",
                    "Next": "Starting Weights",
                }
            ],
            "Default": "Rollout Already Running",
        },
    )
    b.add(
        "Rollout Already Running",
        {
            "Type": "Fail",
            "Error": "RolloutAlreadyRunning",
            "Cause": (
                f"Another execution of this rollout state machine (endpoint {ep}) is RUNNING; "
                "only one rollout per endpoint may run at a time. Wait for it to finish, or "
                "stop it (aws stepfunctions stop-execution), then start again. Traffic was "
                "not changed."
            ),
        },
    )
    # Preflight: one evaluation before any traffic moves validates the policy, the evaluator's
    # permissions and the alarms. Its verdict is ignored.
    b.add(
        "Preflight Wait",
        {"Type": "Wait", "Seconds": 1, "Next": "Preflight Window"},
    )
    b.add(
        "Preflight Window",
        {
            "Type": "Pass",
            "Parameters": {"window_start.$": "$$.Execution.StartTime"},
            "ResultPath": "$.window",
            "Next": "Preflight Evaluation",
        },
    )
    b.add(
        "Preflight Evaluation",
        _evaluate_task(b, "$.window", "Notify Started", result_path="$.preflight")
        | {
            "Catch": [
                {"ErrorEquals": ["ValueError"], "ResultPath": "$.error", "Next": "Invalid policy"},
                {
                    "ErrorEquals": ["States.ALL"],
                    "ResultPath": "$.error",
                    "Next": "Preflight Failed",
                },
            ]
        },
    )
    b.add(
        "Invalid policy",
        {
            "Type": "Fail",
            "Error": "InvalidInput",
            "CausePath": (
                "States.Format('the evaluator rejected the event (policy or variants): {}. "
                "Traffic was not changed.', $.error.Cause)"
            ),
        },
    )
    b.add(
        "Preflight Failed",
        {
            "Type": "Fail",
            "Error": "PreflightFailed",
            "CausePath": (
                "States.Format('the evaluator could not be invoked before the rollout: {}. "
                "Traffic was not changed.', States.JsonToString($.error))"
            ),
        },
    )
    b.notify(
        "Notify Started",
        "ROLLOUT_STARTED",
        "Canary rollout started",
        {"steps.$": "$.config.steps", "bake_seconds.$": "$.config.bake_seconds"},
        "Init Step",
    )
    b.add(
        "Init Step",
        {
            "Type": "Pass",
            "Parameters": {"index": 0, "approval_index": 0},
            "ResultPath": "$.step",
            "Next": "Start Step",
        },
    )

    # -- one step --------------------------------------------------------------------------
    b.add(
        "Start Step",
        {
            "Type": "Pass",
            "Parameters": {
                "index.$": "$.step.index",
                "approval_index.$": "$.step.approval_index",
                "percent.$": "States.ArrayGetItem($.config.steps, $.step.index)",
                "baseline_weight.$": (
                    "States.ArrayGetItem($.const.complements, "
                    "States.ArrayGetItem($.config.steps, $.step.index))"
                ),
                **(
                    {
                        "canary_instances.$": (
                            "States.ArrayGetItem($.const.instances, "
                            "States.ArrayGetItem($.config.steps, $.step.index))"
                        ),
                        "baseline_instances.$": (
                            "States.ArrayGetItem($.const.instances, "
                            "States.ArrayGetItem($.const.complements, "
                            "States.ArrayGetItem($.config.steps, $.step.index)))"
                        ),
                    }
                    if instance_scaling
                    else {}
                ),
            },
            "ResultPath": "$.step",
            "Next": "Approval Pending?",
        },
    )
    _approval_states(
        b,
        nxt="Before Update",
        carry=("canary_instances", "baseline_instances") if instance_scaling else (),
    )
    b.wait_in_service(
        "Before Update", with_weights=False, on_ready="Set Weights", on_failed="Step Error"
    )
    b.set_weights(
        "Set Weights",
        baseline="$.step.baseline_weight",
        canary="$.step.percent",
        nxt="After Update",
        on_error="Step Error",
        baseline_count="$.step.baseline_instances" if instance_scaling else None,
        canary_count="$.step.canary_instances" if instance_scaling else None,
    )
    b.wait_in_service(
        "After Update", with_weights=True, on_ready="Weights Took?", on_failed="Step Error"
    )
    b.add(
        "Weights Took?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {
                            "Variable": "$.endpoint.canary_weight[0]",
                            "NumericEqualsPath": "$.step.percent",
                        },
                        {
                            "Variable": "$.endpoint.baseline_weight[0]",
                            "NumericEqualsPath": "$.step.baseline_weight",
                        },
                    ],
                    "Next": "Start Bake",
                }
            ],
            "Default": "Weights Not Applied",
        },
    )
    b.add(
        "Weights Not Applied",
        {
            "Type": "Pass",
            "Parameters": {
                "Error": "WeightsNotApplied",
                "Cause.$": (
                    "States.Format('after the update the endpoint reports weights {} "
                    f"(baseline {baseline_variant}) and {{}} (canary {canary_variant}), "
                    "expected {} and {}', States.JsonToString($.endpoint.baseline_weight), "
                    "States.JsonToString($.endpoint.canary_weight), "
                    "$.step.baseline_weight, $.step.percent)"
                ),
            },
            "ResultPath": "$.error",
            "Next": "Step Error",
        },
    )
    b.add(
        "Start Bake",
        {
            "Type": "Pass",
            "Comment": "The evaluation window of this step starts now.",
            "Parameters": {
                "window": {"window_start.$": "$$.State.EnteredTime"},
                "elapsed": 0,
                "extensions": 0,
                "evaluations": 0,
            },
            "ResultPath": "$.bake",
            "Next": "Bake Wait",
        },
    )
    b.add(
        "Bake Wait",
        {"Type": "Wait", "SecondsPath": "$.config.interval_seconds", "Next": "Count Interval"},
    )
    b.add(
        "Count Interval",
        {
            "Type": "Pass",
            "Parameters": {
                "window.$": "$.bake.window",
                "elapsed.$": "States.MathAdd($.bake.elapsed, $.config.interval_seconds)",
                "extensions.$": "$.bake.extensions",
                "evaluations.$": "States.MathAdd($.bake.evaluations, 1)",
            },
            "ResultPath": "$.bake",
            "Next": "Evaluate",
        },
    )
    b.add("Evaluate", _evaluate_task(b, "$.bake.window", "Verdict?", result_path="$.evaluation"))
    b.add(
        "Verdict?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.evaluation.verdict",
                    "StringEquals": "FAIL",
                    "Next": "Failed Check",
                },
                {
                    "Variable": "$.bake.elapsed",
                    "NumericLessThanPath": "$.config.bake_seconds",
                    "Next": "Bake Wait",
                },
                {"Variable": "$.evaluation.verdict", "StringEquals": "PASS", "Next": "Step Passed"},
                {
                    "Variable": "$.bake.extensions",
                    "NumericLessThanPath": "$.config.max_extensions",
                    "Next": "Extend Bake",
                },
            ],
            "Default": "Still Inconclusive",
        },
    )
    b.add(
        "Extend Bake",
        {
            "Type": "Pass",
            "Comment": "INCONCLUSIVE at the end of the bake: one more interval.",
            "Parameters": {
                "window.$": "$.bake.window",
                "elapsed.$": "$.bake.elapsed",
                "extensions.$": "States.MathAdd($.bake.extensions, 1)",
                "evaluations.$": "$.bake.evaluations",
            },
            "ResultPath": "$.bake",
            "Next": "Bake Wait",
        },
    )
    b.add(
        "Step Passed",
        {
            "Type": "Pass",
            "Parameters": {
                "percent.$": "$.step.percent",
                "verdict.$": "$.evaluation.verdict",
                "evaluations.$": "$.bake.evaluations",
                "extensions.$": "$.bake.extensions",
                "reasons.$": "$.evaluation.reasons",
                "baseline_source.$": "$.evaluation.baseline_source",
                "canary_invocations.$": "$.evaluation.canary_invocations",
            },
            "ResultPath": "$.step_result",
            "Next": "First Summary Item?",
        },
    )
    b.add(
        "First Summary Item?",
        {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.summary.json", "StringEquals": "", "Next": "Summary First"}
            ],
            "Default": "Summary Append",
        },
    )
    b.add(
        "Summary First",
        {
            "Type": "Pass",
            "Parameters": {"json.$": "States.JsonToString($.step_result)"},
            "ResultPath": "$.summary",
            "Next": "Live Baseline?",
        },
    )
    b.add(
        "Summary Append",
        {
            "Type": "Pass",
            "Parameters": {
                "json.$": (
                    "States.Format('{},{}', $.summary.json, States.JsonToString($.step_result))"
                )
            },
            "ResultPath": "$.summary",
            "Next": "Live Baseline?",
        },
    )
    b.add(
        "Live Baseline?",
        {
            "Type": "Choice",
            "Comment": "Keep the baseline figures of the last step that still had live baseline "
            "traffic: the 100 % step is judged against them.",
            "Choices": [
                {
                    "Variable": "$.evaluation.baseline_source",
                    "StringEquals": "live",
                    "Next": "Save Baseline Reference",
                }
            ],
            "Default": "Next Step",
        },
    )
    b.add(
        "Save Baseline Reference",
        {
            "Type": "Pass",
            "Parameters": {"baseline_reference.$": "$.evaluation.baseline_summary"},
            "ResultPath": "$.reference",
            "Next": "Next Step",
        },
    )
    b.add(
        "Next Step",
        {
            "Type": "Pass",
            "Parameters": {
                "index.$": "States.MathAdd($.step.index, 1)",
                "approval_index.$": "$.step.approval_index",
                "previous_percent.$": "$.step.percent",
            },
            "ResultPath": "$.step",
            "Next": "More Steps?",
        },
    )
    b.add(
        "More Steps?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.step.index",
                    "NumericLessThanPath": "$.validate.n",
                    "Next": "Notify Step Advanced",
                }
            ],
            "Default": "Notify Completed",
        },
    )
    b.notify(
        "Notify Step Advanced",
        "STEP_ADVANCED",
        "Canary rollout step passed",
        {
            "passed_percent.$": "$.step.previous_percent",
            "next_percent.$": "States.ArrayGetItem($.config.steps, $.step.index)",
            "verdict.$": "$.evaluation.verdict",
            "reasons.$": "$.evaluation.reasons",
        },
        "Start Step",
    )
    b.notify(
        "Notify Completed",
        "ROLLOUT_COMPLETED",
        "Canary rollout completed",
        {"steps.$": "States.StringToJson(States.Format('[{}]', $.summary.json))"},
        "Completed",
    )
    b.add(
        "Completed",
        {
            "Type": "Pass",
            "Parameters": {
                "status": "COMPLETED",
                "endpoint_name": endpoint_name,
                "baseline_variant": baseline_variant,
                "canary_variant": canary_variant,
                "canary_percent": 100,
                "steps.$": "States.StringToJson(States.Format('[{}]', $.summary.json))",
            },
            "Next": "Succeeded",
        },
    )
    b.add("Succeeded", {"Type": "Succeed"})

    # -- rollback --------------------------------------------------------------------------
    b.add(
        "Failed Check",
        {
            "Type": "Pass",
            "Parameters": {
                "reason.$": (
                    "States.Format('canary FAILED at the {}% step (evaluation {}): {}', "
                    "$.step.percent, $.bake.evaluations, "
                    "States.JsonToString($.evaluation.reasons))"
                ),
                "attempts": 0,
            },
            "ResultPath": "$.rollback",
            "Next": "Rollback Ready",
        },
    )
    b.add(
        "Still Inconclusive",
        {
            "Type": "Pass",
            "Parameters": {
                "reason.$": (
                    "States.Format('canary still INCONCLUSIVE at the {}% step after the bake "
                    "and {} extension(s), {} evaluation(s): {}', $.step.percent, "
                    "$.bake.extensions, $.bake.evaluations, "
                    "States.JsonToString($.evaluation.reasons))"
                ),
                "attempts": 0,
            },
            "ResultPath": "$.rollback",
            "Next": "Rollback Ready",
        },
    )
    b.add(
        "Step Error",
        {
            "Type": "Pass",
            "Parameters": {
                "reason.$": (
                    "States.Format('error at the {}% step: {}', $.step.percent, "
                    "States.JsonToString($.error))"
                ),
                "attempts": 0,
            },
            "ResultPath": "$.rollback",
            "Next": "Rollback Ready",
        },
    )
    # An update in flight (the step's own) must finish before the rollback's update can land;
    # if it does not within max_polls, the rollback tries anyway (its retries and catch decide).
    b.wait_in_service(
        "Rollback Ready",
        with_weights=False,
        on_ready="Rollback Set Weights",
        on_failed="Rollback Set Weights",
    )
    b.set_weights(
        "Rollback Set Weights",
        baseline=100,
        canary=0,
        nxt="Rollback Wait",
        on_error="Rollback Error",
        baseline_count=instance_scaling[1] if instance_scaling else None,
        canary_count=instance_scaling[0] if instance_scaling else None,
    )
    b.wait_in_service(
        "Rollback Wait",
        with_weights=True,
        on_ready="Rollback Took?",
        on_failed="Rollback Error",
    )
    b.add(
        "Rollback Took?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {"Variable": "$.endpoint.canary_weight[0]", "NumericEquals": 0},
                        {"Variable": "$.endpoint.baseline_weight[0]", "NumericEquals": 100},
                    ],
                    "Next": "Notify Rolled Back",
                },
                {"Variable": "$.rollback.attempts", "NumericLessThan": 2, "Next": "Rollback Again"},
            ],
            "Default": "Rollback Not Applied",
        },
    )
    b.add(
        "Rollback Again",
        {
            "Type": "Pass",
            "Parameters": {
                "reason.$": "$.rollback.reason",
                "attempts.$": "States.MathAdd($.rollback.attempts, 1)",
            },
            "ResultPath": "$.rollback",
            "Next": "Rollback Set Weights",
        },
    )
    b.add(
        "Rollback Not Applied",
        {
            "Type": "Pass",
            "Parameters": {
                "Error": "WeightsNotApplied",
                "Cause.$": (
                    "States.Format('after 3 attempts the endpoint still reports weights {} "
                    "(baseline) and {} (canary)', States.JsonToString($.endpoint.baseline_weight), "
                    "States.JsonToString($.endpoint.canary_weight))"
                ),
            },
            "ResultPath": "$.error",
            "Next": "Rollback Error",
        },
    )
    b.notify(
        "Notify Rolled Back",
        "ROLLED_BACK",
        "Canary rollout rolled back",
        {"percent.$": "$.step.percent", "reason.$": "$.rollback.reason"},
        "Rolled Back",
    )
    b.add(
        "Rolled Back",
        {"Type": "Fail", "Error": "CanaryRolledBack", "CausePath": "$.rollback.reason"},
    )
    b.add(
        "Rollback Error",
        {
            "Type": "Pass",
            "Parameters": {
                "reason.$": (
                    "States.Format('ROLLBACK FAILED: traffic could not be returned to the "
                    f"baseline variant {baseline_variant} of endpoint {ep}: {{}}. The rollback "
                    "was started because: {}', States.JsonToString($.error), $.rollback.reason)"
                ),
            },
            "ResultPath": "$.rollback_failure",
            "Next": "Notify Rollback Failed",
        },
    )
    b.notify(
        "Notify Rollback Failed",
        "ROLLBACK_FAILED",
        "CRITICAL: canary rollback failed",
        {"severity": "CRITICAL", "reason.$": "$.rollback_failure.reason"},
        "Rollback Failed",
    )
    b.add(
        "Rollback Failed",
        {"Type": "Fail", "Error": "RollbackFailed", "CausePath": "$.rollback_failure.reason"},
    )

    return {
        "Comment": (
            f"Canary rollout of endpoint {ep}: shift traffic from {baseline_variant} to "
            f"{canary_variant} step by step, evaluate, roll back on failure."
        ),
        "StartAt": "Load Defaults",
        "States": b.states,
    }


def _evaluate_task(b: _Builder, window_path: str, nxt: str, *, result_path: str) -> State:
    """Invoke the evaluator: ``$.event`` + ``$.reference`` (``{}`` or ``{baseline_reference}``)
    + the window (``{window_start}``), so no key is ever null."""
    state: State = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {
            "FunctionName": b.evaluator_arn,
            "Payload.$": (
                "States.JsonMerge(States.JsonMerge($.event, $.reference, false), "
                f"{window_path}, false)"
            ),
        },
        "Retry": [_retry(LAMBDA_RETRY_ERRORS, attempts=4)],
        "Catch": [_catch("Step Error")],
        "ResultPath": result_path,
        "Next": nxt,
    }
    if result_path == "$.preflight":
        state["ResultSelector"] = {"verdict.$": "$.Payload.verdict"}
    else:
        state["ResultSelector"] = {
            "verdict.$": "$.Payload.verdict",
            "reasons.$": "$.Payload.reasons",
            "baseline_source.$": "$.Payload.baseline_source",
            "baseline_summary.$": "$.Payload.baseline_summary",
            "baseline_invocations.$": "$.Payload.baseline_invocations",
            "canary_invocations.$": "$.Payload.canary_invocations",
        }
    return state


def _approval_states(b: _Builder, *, nxt: str, carry: Sequence[str] = ()) -> None:
    """Manual approval before the first step that reaches each of ``approval_steps``.

    One approval covers every threshold the step reaches, so an execution input with other
    ``steps`` cannot skip an approval.
    """
    b.add(
        "Approval Pending?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.step.approval_index",
                    "NumericGreaterThanEqualsPath": "$.const.approvals",
                    "Next": nxt,
                }
            ],
            "Default": "Approval Threshold",
        },
    )
    b.add(
        "Approval Threshold",
        {
            "Type": "Pass",
            "Parameters": {
                "threshold.$": "States.ArrayGetItem($.const.approval_steps, $.step.approval_index)"
            },
            "ResultPath": "$.approval_gate",
            "Next": "Approval Needed?",
        },
    )
    b.add(
        "Approval Needed?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.step.percent",
                    "NumericGreaterThanEqualsPath": "$.approval_gate.threshold",
                    "Next": "Request Approval",
                }
            ],
            "Default": nxt,
        },
    )
    approve = "aws stepfunctions send-task-success --task-output true --task-token {}"
    reject = "aws stepfunctions send-task-failure --error Rejected --cause <why> --task-token {}"
    b.add(
        "Request Approval",
        {
            "Type": "Task",
            "Comment": "Waits for SendTaskSuccess (approve) or SendTaskFailure (reject).",
            "Resource": "arn:aws:states:::sns:publish.waitForTaskToken",
            "Parameters": {
                "TopicArn": b.topic_arn,
                "Subject": "Canary rollout: approval needed",
                "Message": {
                    "event": "APPROVAL_REQUIRED",
                    "endpoint_name": b.endpoint_name,
                    "baseline_variant": b.baseline,
                    "canary_variant": b.canary,
                    "execution_arn.$": "$$.Execution.Id",
                    "next_percent.$": "$.step.percent",
                    "task_token.$": "$$.Task.Token",
                    "approve.$": f"States.Format('{approve}', $$.Task.Token)",
                    "reject.$": f"States.Format('{reject}', $$.Task.Token)",
                    "timeout_seconds": b.approval_timeout_seconds,
                },
            },
            "TimeoutSeconds": b.approval_timeout_seconds,
            "ResultPath": "$.approval",
            "Catch": [
                {
                    "ErrorEquals": ["States.ALL"],
                    "ResultPath": "$.error",
                    "Next": "Approval Rejected",
                }
            ],
            "Next": "Approval Granted",
        },
    )
    b.add(
        "Approval Rejected",
        {
            "Type": "Pass",
            "Parameters": {
                "reason.$": (
                    "States.Format('approval before the {}% step was rejected or timed out: {}', "
                    "$.step.percent, States.JsonToString($.error))"
                ),
                "attempts": 0,
            },
            "ResultPath": "$.rollback",
            "Next": "Rollback Ready",
        },
    )
    b.add(
        "Approval Granted",
        {
            "Type": "Pass",
            "Parameters": {
                "index.$": "$.step.index",
                "percent.$": "$.step.percent",
                "baseline_weight.$": "$.step.baseline_weight",
                "approval_index.$": "States.MathAdd($.step.approval_index, 1)",
                # everything else "Start Step" put in $.step (instance counts) carries over
                **{f"{key}.$": f"$.step.{key}" for key in carry},
            },
            "ResultPath": "$.step",
            "Next": "Approval Covers More?",
        },
    )
    b.add(
        "Approval Covers More?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.step.approval_index",
                    "NumericGreaterThanEqualsPath": "$.const.approvals",
                    "Next": nxt,
                }
            ],
            "Default": "Next Approval Threshold",
        },
    )
    b.add(
        "Next Approval Threshold",
        {
            "Type": "Pass",
            "Parameters": {
                "threshold.$": "States.ArrayGetItem($.const.approval_steps, $.step.approval_index)"
            },
            "ResultPath": "$.approval_gate",
            "Next": "Already Approved?",
        },
    )
    b.add(
        "Already Approved?",
        {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.step.percent",
                    "NumericGreaterThanEqualsPath": "$.approval_gate.threshold",
                    "Next": "Approval Granted",
                }
            ],
            "Default": nxt,
        },
    )
