"""Building blocks of the rollout's Amazon States Language definition (pure: no CDK).

:class:`Builder` accumulates uniquely named states and offers the blocks every phase uses:
describe the endpoint, wait until it is ``InService``, set weights, invoke the evaluator, fail
on invalid input. No ``null`` appears in the definition (moto's interpreter drops null
literals, so ``ResultPath: null`` and null parameters are avoided; results go to scratch keys
instead).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..contract import EVALUATOR_TRANSIENT_ERRORS, Errors, States
from ..rules import CAPACITY_DEFAULT, HOOKS_DEFAULT

__all__ = [
    "AUTOSCALING_RETRY_ERRORS",
    "BASELINE_COUNT",
    "BASELINE_WEIGHT",
    "CANARY_COUNT",
    "CANARY_WEIGHT",
    "EVALUATION_FIELDS",
    "LAMBDA_RETRY_ERRORS",
    "SAGEMAKER_TRANSIENT_CAUSES",
    "SAGEMAKER_UNMODELLED_ERRORS",
    "SFN_RETRY_ERRORS",
    "SNS_RETRY_ERRORS",
    "Bindings",
    "Builder",
    "Permission",
    "RolloutDefaults",
    "State",
    "catch",
    "counts_reported",
    "iam_action",
    "instance_counts",
    "retry",
    "transitions",
    "weights_reported",
]

State = dict[str, Any]


#: Errors SageMaker does not model (throttling, validation, access denied, 5xx): Step Functions
#: names them after the service's base exception (Java SDK v2 and v1 naming).
SAGEMAKER_UNMODELLED_ERRORS = ("SageMaker.SageMakerException", "SageMaker.AmazonSageMakerException")
#: Causes of unmodelled SageMaker errors that a retry may cure: throttling, an update still in
#: progress, a server-side failure (the cause ends "(Service: SageMaker, Status Code: 5xx, ...)").
SAGEMAKER_TRANSIENT_CAUSES = (
    "*Rate exceeded*",
    "*Throttl*",
    "*TooManyRequests*",
    "*in-progress*",
    "*InternalFailure*",
    "*ServiceUnavailable*",
    "*Status Code: 5*",
)
#: Transient errors of the evaluator invocation: the Lambda service's own (AWS recommends
#: retrying these, ``ClientExecutionTimeoutException`` included) and the evaluator's transient
#: CloudWatch failures (``contract.EVALUATOR_TRANSIENT_ERRORS``).
LAMBDA_RETRY_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.Unknown",
    *EVALUATOR_TRANSIENT_ERRORS,
)
SNS_RETRY_ERRORS = (
    "SNS.ThrottledException",
    "SNS.InternalErrorException",
    "SNS.SdkClientException",
)
SFN_RETRY_ERRORS = ("Sfn.ThrottlingException", "Sfn.SfnException", "Sfn.SdkClientException")
#: The fields of the evaluator's answer that an evaluation in a bake keeps (``$.evaluation``).
EVALUATION_FIELDS = (
    "verdict",
    "reasons",
    "baseline_source",
    "baseline_summary",
    "baseline_invocations",
    "canary_invocations",
)
#: Application Auto Scaling errors a retry may cure: a concurrent change of the same target,
#: a server-side failure, and the unmodelled ones (throttling) under the service's base name.
AUTOSCALING_RETRY_ERRORS = (
    "ApplicationAutoScaling.ConcurrentUpdateException",
    "ApplicationAutoScaling.InternalServiceException",
    "ApplicationAutoScaling.ApplicationAutoScalingException",
    "ApplicationAutoScaling.SdkClientException",
)


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
        capacity: bool = False,
        hook_calls: Mapping[str, int] | None = None,
    ) -> None:
        self.steps = list(steps)
        #: ``{"fixed": n, "per_step": m}``: the hook calls (their history budget applies)
        self.hook_calls = dict(hook_calls or {})
        #: the definition has the capacity phases (their history budget applies)
        self.capacity = capacity
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
            **({CAPACITY_DEFAULT: True} if self.capacity else {}),
            **({HOOKS_DEFAULT: self.hook_calls} if self.hook_calls else {}),
        }


def instance_counts(minimum: int, maximum: int) -> list[int]:
    """Instance count of a variant for each traffic percentage 0..100."""
    return [max(minimum, -(-maximum * percent // 100)) for percent in range(101)]


#: Step Functions' optimised integrations the rollout uses, and the IAM action each calls.
_OPTIMISED_INTEGRATIONS = {
    "arn:aws:states:::lambda:invoke": "lambda:InvokeFunction",
    "arn:aws:states:::sns:publish": "sns:Publish",
    "arn:aws:states:::sqs:sendMessage": "sqs:SendMessage",
    "arn:aws:states:::dynamodb:putItem": "dynamodb:PutItem",
    "arn:aws:states:::dynamodb:getItem": "dynamodb:GetItem",
    "arn:aws:states:::dynamodb:deleteItem": "dynamodb:DeleteItem",
}
#: IAM's prefix for an aws-sdk integration's service where it differs from the service name.
_IAM_PREFIXES = {"sfn": "states", "applicationautoscaling": "application-autoscaling"}
_SDK_INTEGRATION = re.compile(r"^arn:aws:states:::aws-sdk:(?P<service>[a-z0-9]+):(?P<api>\w+)$")


def iam_action(task_resource: str) -> str:
    """The IAM action a Task state's ``Resource`` calls.

    ``arn:aws:states:::aws-sdk:sagemaker:describeEndpoint`` -> ``sagemaker:DescribeEndpoint``;
    optimised integrations by their table (a ``.waitForTaskToken`` or ``.sync`` suffix calls
    the same API). Raises ``ValueError`` for an integration it does not know, so a new kind of
    task cannot reach a template without its permission.
    """
    base = re.sub(r"\.(waitForTaskToken|sync(:2)?)$", "", task_resource)
    if base in _OPTIMISED_INTEGRATIONS:
        return _OPTIMISED_INTEGRATIONS[base]
    match = _SDK_INTEGRATION.match(base)
    if match is None:
        raise ValueError(f"no IAM action known for the task resource {task_resource!r}")
    service, api = match["service"], match["api"]
    return f"{_IAM_PREFIXES.get(service, service)}:{api[0].upper()}{api[1:]}"


@dataclass(frozen=True)
class Permission:
    """One IAM action a task of the definition calls, on one resource (an ARN, maybe a token)."""

    action: str
    resource: str
    state: str


def transitions(state: State) -> Iterable[tuple[dict[str, Any], str]]:
    """(owner, key) of every transition of ``state``: ``owner[key]`` names the next state."""
    if "Next" in state:
        yield state, "Next"
    if "Default" in state:
        yield state, "Default"
    for rule in state.get("Choices", []):
        yield rule, "Next"
    for rule in state.get("Catch", []):
        yield rule, "Next"


def retry(errors: Sequence[str], *, interval: int = 2, attempts: int = 6) -> dict[str, Any]:
    """A Retry rule for ``errors``: exponential backoff from ``interval`` s, at most 60 s."""
    return {
        "ErrorEquals": list(errors),
        "IntervalSeconds": interval,
        "MaxAttempts": attempts,
        "BackoffRate": 2,
        "MaxDelaySeconds": 60,
    }


def catch(next_state: str, result_path: str | None = "$.error") -> dict[str, Any]:
    """A Catch rule that sends every error to ``next_state`` (the error at ``result_path``)."""
    return {"ErrorEquals": ["States.ALL"], "ResultPath": result_path, "Next": next_state}


@dataclass(frozen=True, kw_only=True)
class Bindings:
    """What a rollout's definition is bound to at synth time (values may be CDK tokens)."""

    endpoint_name: str
    endpoint_arn: str
    baseline_variant: str
    canary_variant: str
    evaluator_arn: str
    topic_arn: str
    state_machine_arn: str
    #: executions this rollout may describe (the lock's holder may be any rollout's)
    executions_arn: str
    lock_table_name: str
    lock_table_arn: str
    #: the encrypted queue approval requests (with their task tokens) go to, when there are
    #: approval steps
    approval_queue_url: str | None = None
    approval_queue_arn: str | None = None
    #: the scalable targets of this account and region (with an autoscaled variant): their
    #: ARNs carry an id Application Auto Scaling chooses, which no template knows
    scalable_targets_arn: str | None = None


class Builder:
    """Accumulates uniquely named states; holds what every phase binds to (names, ARNs)."""

    def __init__(self, bindings: Bindings, *, approval_timeout_seconds: int) -> None:
        self.endpoint_name = bindings.endpoint_name
        self.endpoint_arn = bindings.endpoint_arn
        self.baseline = bindings.baseline_variant
        self.canary = bindings.canary_variant
        self.evaluator_arn = bindings.evaluator_arn
        self.topic_arn = bindings.topic_arn
        self.state_machine_arn = bindings.state_machine_arn
        self.executions_arn = bindings.executions_arn
        self.lock_table_name = bindings.lock_table_name
        self.lock_table_arn = bindings.lock_table_arn
        self.approval_queue_url = bindings.approval_queue_url
        self.approval_queue_arn = bindings.approval_queue_arn
        self.scalable_targets_arn = bindings.scalable_targets_arn
        self.approval_timeout_seconds = approval_timeout_seconds
        self.states: dict[str, State] = {}
        #: what each task calls, in the order the tasks were added
        self.permissions: list[Permission] = []

    def add(self, name: str, state: State) -> str:
        """Add a state that calls no AWS API (Task states go through :meth:`add_task`)."""
        if state["Type"] == "Task":
            raise ValueError(f"state {name!r} is a Task: add it with add_task")
        return self._add(name, state)

    def add_task(self, name: str, state: State, *, resource_arn: str) -> str:
        """Add a Task state that calls its API on ``resource_arn``; records the permission."""
        self.permissions.append(Permission(iam_action(state["Resource"]), resource_arn, name))
        return self._add(name, state)

    def reroute(self, target: str, entry: str, *, keep: Iterable[str] = ()) -> None:
        """Send every transition into ``target`` to ``entry`` instead, except those of the
        states in ``keep`` (the ones that must still go on to ``target``)."""
        kept = set(keep)
        for name, state in self.states.items():
            if name in kept:
                continue
            for owner, key in transitions(state):
                if owner[key] == target:
                    owner[key] = entry

    def _add(self, name: str, state: State) -> str:
        if name in self.states:
            raise ValueError(f"duplicate state name {name!r}")
        self.states[name] = state
        return name

    # -- building blocks -------------------------------------------------------------------

    def evaluator_event(self) -> dict[str, Any]:
        """The evaluator event's fixed part (``$.event``, what :meth:`evaluate` sends): the
        endpoint, the variants and the validated configuration's policy."""
        return {
            "endpoint_name": self.endpoint_name,
            "baseline_variant": self.baseline,
            "canary_variant": self.canary,
            "policy.$": "$.validated.config.policy",
        }

    def describe(
        self, name: str, *, with_weights: bool, nxt: str, on_error: str, with_counts: bool = False
    ) -> str:
        selector: dict[str, Any] = {"status.$": "$.EndpointStatus"}
        if with_counts:  # CurrentInstanceCount of both variants (capacity before traffic)
            for key, variant in (("baseline_count", self.baseline), ("canary_count", self.canary)):
                selector[f"{key}.$"] = (
                    f"$.ProductionVariants[?(@.VariantName == '{variant}')].CurrentInstanceCount"
                )
        if with_weights:
            for key, variant in (
                ("baseline_weight", self.baseline),
                ("canary_weight", self.canary),
            ):
                selector[f"{key}.$"] = (
                    f"$.ProductionVariants[?(@.VariantName == '{variant}')].CurrentWeight"
                )
        return self.sagemaker_call(
            name,
            {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint",
                "Parameters": {"EndpointName": self.endpoint_name},
                "ResultSelector": selector,
                "ResultPath": "$.endpoint",
            },
            nxt=nxt,
            on_error=on_error,
        )

    def sagemaker_call(
        self, name: str, task: State, *, nxt: str, on_error: str, attempts: int = 6
    ) -> str:
        """A SageMaker call whose transient failures are retried and the others are not.

        SageMaker models none of ThrottlingException, ValidationException ("Cannot update
        in-progress endpoint") or AccessDeniedException, so Step Functions names them all
        ``SageMaker.SageMakerException`` and only the cause tells them apart. The call runs in
        a one-branch Parallel state: inside, a Choice reads the cause and fails with
        ``Errors.SAGEMAKER_TRANSIENT`` (which the Parallel state retries with backoff) or with
        the original error (which goes straight to ``on_error``). State names are unique across
        the whole state machine, nested branches included, so the branch's states carry the
        Parallel state's name.
        """
        inner: State = {
            **task,
            "Catch": [
                {
                    "ErrorEquals": list(SAGEMAKER_UNMODELLED_ERRORS),
                    "ResultPath": "$.error",
                    "Next": f"{name}: Transient?",
                },
                {
                    "ErrorEquals": ["States.ALL"],
                    "ResultPath": "$.error",
                    "Next": f"{name}: Give Up",
                },
            ],
            "End": True,
        }
        self.permissions.append(Permission(iam_action(task["Resource"]), self.endpoint_arn, name))
        branch = {
            "StartAt": f"{name}: Call",
            "States": {
                f"{name}: Call": inner,
                f"{name}: Transient?": {
                    "Type": "Choice",
                    "Choices": [
                        {
                            "Or": [
                                {"Variable": "$.error.Cause", "StringMatches": pattern}
                                for pattern in SAGEMAKER_TRANSIENT_CAUSES
                            ],
                            "Next": f"{name}: Try Again",
                        }
                    ],
                    "Default": f"{name}: Give Up",
                },
                f"{name}: Try Again": {
                    "Type": "Fail",
                    "Error": Errors.SAGEMAKER_TRANSIENT,
                    "CausePath": "$.error.Cause",
                },
                f"{name}: Give Up": {
                    "Type": "Fail",
                    "ErrorPath": "$.error.Error",
                    "CausePath": "$.error.Cause",
                },
            },
        }
        return self._add(
            name,
            {
                "Type": "Parallel",
                "Branches": [branch],
                "OutputPath": "$[0]",
                "Retry": [retry([Errors.SAGEMAKER_TRANSIENT], attempts=attempts)],
                "Catch": [catch(on_error)],
                "Next": nxt,
            },
        )

    def wait_in_service(
        self,
        prefix: str,
        *,
        with_weights: bool,
        on_ready: str,
        on_failed: str,
        with_counts: bool = False,
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
            with_counts=with_counts,
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
                    "Error": Errors.ENDPOINT_NOT_IN_SERVICE,
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
        baseline: str | int | None,
        canary: str | int | None,
        nxt: str,
        on_error: str,
        baseline_count: str | int | None = None,
        canary_count: str | int | None = None,
    ) -> str:
        """UpdateEndpointWeightsAndCapacities: each variant's weight and/or instance count
        (a JSONPath string or a literal); a variant with neither is left out of the call, and
        a value left out stays as it is."""

        def weight(
            variant: str, value: str | int | None, count: str | int | None
        ) -> dict[str, Any] | None:
            if value is None and count is None:
                return None
            desired: dict[str, Any] = {"VariantName": variant}
            if value is not None:
                desired["DesiredWeight.$" if isinstance(value, str) else "DesiredWeight"] = value
            if count is not None:
                key = "DesiredInstanceCount.$" if isinstance(count, str) else "DesiredInstanceCount"
                desired[key] = count
            return desired

        desired = [
            entry
            for entry in (
                weight(self.baseline, baseline, baseline_count),
                weight(self.canary, canary, canary_count),
            )
            if entry is not None
        ]

        return self.sagemaker_call(
            name,
            {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:sagemaker:updateEndpointWeightsAndCapacities",
                "Parameters": {
                    "EndpointName": self.endpoint_name,
                    "DesiredWeightsAndCapacities": desired,
                },
                "ResultSelector": {"endpoint_arn.$": "$.EndpointArn"},
                "ResultPath": "$.updated",
            },
            nxt=nxt,
            on_error=on_error,
            attempts=8,
        )

    def evaluate(
        self,
        name: str,
        window_path: str,
        nxt: str,
        *,
        result_path: str,
        fields: Sequence[str] = EVALUATION_FIELDS,
        catches: list[dict[str, Any]] | None = None,
    ) -> str:
        """Invoke the evaluator: ``$.event`` + ``$.reference`` (``{}`` or ``{baseline_reference}``)
        + the window (``{window_start}``), so no key is ever null. The answer's ``fields`` go
        to ``result_path``; errors go to ``catches`` (default: ``States.STEP_ERROR``)."""
        state: State = {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {
                "FunctionName": self.evaluator_arn,
                "Payload.$": (
                    "States.JsonMerge(States.JsonMerge($.event, $.reference, false), "
                    f"{window_path}, false)"
                ),
            },
            "Retry": [retry(LAMBDA_RETRY_ERRORS, attempts=4)],
            "Catch": catches or [catch(States.STEP_ERROR)],
            "ResultPath": result_path,
            "Next": nxt,
            "ResultSelector": {f"{field}.$": f"$.Payload.{field}" for field in fields},
        }
        return self.add_task(name, state, resource_arn=self.evaluator_arn)


#: Where a DescribeEndpoint result with counts (``$.endpoint``) holds CurrentInstanceCount.
CANARY_COUNT = "$.endpoint.canary_count[0]"
BASELINE_COUNT = "$.endpoint.baseline_count[0]"


def counts_reported() -> dict[str, Any]:
    """A Choice rule that matches when the endpoint reported both variants' instance counts
    (a comparison of an absent path would fail the execution: see ``weights_reported``)."""
    return {
        "And": [
            {"Variable": CANARY_COUNT, "IsPresent": True},
            {"Variable": BASELINE_COUNT, "IsPresent": True},
        ]
    }


#: Where a DescribeEndpoint result (``$.endpoint``) holds each variant's CurrentWeight.
CANARY_WEIGHT = "$.endpoint.canary_weight[0]"
BASELINE_WEIGHT = "$.endpoint.baseline_weight[0]"


def weights_reported() -> dict[str, Any]:
    """A Choice rule that matches when the endpoint reported both variants' weights.

    A comparison of a path that is absent fails the execution (``States.Runtime``, which no
    Catch handles); so every Choice that compares weights first sends "not reported" away
    with this rule, in a rule of its own.
    """
    return {
        "And": [
            {"Variable": CANARY_WEIGHT, "IsPresent": True},
            {"Variable": BASELINE_WEIGHT, "IsPresent": True},
        ]
    }
