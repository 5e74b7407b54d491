"""``sagemaker-rollout``: start, watch, approve, reject, abort a canary rollout; run a shadow
evaluation.

.. code-block:: text

    sagemaker-rollout start --stack sagemaker-constructs-dev --watch
    sagemaker-rollout start --endpoint my-endpoint --input '{"steps": [10, 50, 100]}'
    sagemaker-rollout watch   <execution-arn>
    sagemaker-rollout status  <execution-arn>
    sagemaker-rollout approve <execution-arn>
    sagemaker-rollout reject  <execution-arn> --reason "latency looks off on the dashboard"
    sagemaker-rollout abort   <execution-arn> --reason "incident 4711"
    sagemaker-rollout release-canary --stack sagemaker-constructs-dev
    sagemaker-rollout shadow --stack sagemaker-constructs-dev --watch
    sagemaker-rollout shadow --endpoint my-endpoint --input '{"bake_seconds": 3600}'

A rollout is found by its state machine's ARN (``--state-machine``), by the stack output
``RolloutStateMachineArn`` (``--stack``), or by the endpoint it is bound to (``--endpoint``,
through the state machine's tags). ``watch`` draws a progress display on a terminal and prints
one plain line per change elsewhere (CI logs). ``abort`` stops the execution AND puts all
traffic back on the baseline variant, verified, then releases the endpoint's rollout lock:
stopping an execution alone would skip the rollback. ``release-canary`` prepares the deploy
that removes a rolled-back, autoscaled canary's variant: SageMaker refuses to remove a variant
that is still a scalable target, and CloudFormation deletes the removed ``ScalableTarget`` only
after it has updated the endpoint, so the command deregisters the canary's scalable target (and
its scaling policies) first; it refuses while the canary serves traffic or a rollout runs.

``shadow`` starts a shadow evaluation (``ShadowEvaluation``: the endpoint's shadow variant
judged against its production variant; no traffic moves), found by its state machine's ARN
(``--state-machine``), the stack output ``ShadowEvaluationStateMachineArn`` (``--stack``) or the
endpoint it is bound to (``--endpoint``, through its state machine's tags). ``watch``,
``status`` and ``abort`` take a shadow evaluation's execution ARN too: the display shows the
production and shadow variants and the evaluator's verdict, and ``abort`` only stops the
execution (a shadow evaluation changes nothing on the endpoint, so there is nothing to restore
and no lock to release).

The global options (``--region``, ``--profile``, ``--role-arn``, ``--debug``) may come before
the command or after it. The arguments are checked before any AWS call: the form of each ARN,
stack, endpoint and execution name, ``--interval``, and the keys ``--input`` sets, by the rules
the state machine applies to its input (the evaluator's ``rollout_input``, and ``shadow_input``
for ``shadow``; the defaults the state machine merges in are its own to check). An error is
one line on stderr, prefixed ``sagemaker-rollout:``; ``--debug`` adds the traceback.

Exit status of ``start --watch``, ``shadow --watch``, ``watch``, ``status`` and ``abort``
(``start`` and ``shadow`` without ``--watch``, ``approve``, ``reject`` and ``release-canary``
exit 0 once done), as ``contract.EXIT_STATUSES`` says:

===  ==========================================================================================
0    the rollout promoted the canary to 100 %, or the shadow evaluation passed
1    an error of the command itself (usage, a bad argument, no credentials, no rollout ...)
2    the rollout rolled back, or the shadow evaluation did not pass (FAIL or INCONCLUSIVE)
3    the rollout or the shadow evaluation was aborted
4    the rollout or the shadow evaluation failed otherwise (invalid input, rollback failed ...)
5    the rollout or the shadow evaluation is still running (status only)
130  the command was interrupted (Ctrl-C)
===  ==========================================================================================
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, NoReturn

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from .contract import (
    APPROVAL_TOKEN_KEY,
    EXIT_ABORTED,
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PROMOTED,
    EXIT_ROLLED_BACK,
    EXIT_RUNNING,
    EXIT_STATUSES,
    HOOK_EVENT_NAME,
    HOOK_EVENT_POINT,
    LOCK_HOLDER,
    LOCK_KEY,
    PHASE_OF_ENTRY,
    ROLLED_BACK_BASELINE_WEIGHT,
    ROLLED_BACK_CANARY_WEIGHT,
    ROLLED_BACK_ERRORS,
    SCALABLE_DIMENSION,
    SHADOW_CHECKS,
    SHADOW_NOT_PASSED_ERRORS,
    SHADOW_PHASE_OF_ENTRY,
    SHADOW_STACK_OUTPUT,
    SMOKE_TEST_HOOK,
    STACK_OUTPUT,
    STEP_KEY,
    STEP_PERCENT,
    STEP_STEPS,
    TAG_BASELINE,
    TAG_CANARY,
    TAG_CANARY_SCALING,
    TAG_ENDPOINT,
    TAG_INSTANCES,
    TAG_LOCK_TABLE,
    TAG_PRODUCTION_VARIANT,
    TAG_SHADOW_ENDPOINT,
    TAG_SHADOW_VARIANT,
    VERDICT_FAIL,
    Errors,
    ShadowStates,
    is_rolled_back,
    parse_scaling,
    scalable_resource_id,
)
from .rules import evaluator_module

__all__ = [
    "EXIT_ABORTED",
    "EXIT_ERROR",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PROMOTED",
    "EXIT_ROLLED_BACK",
    "EXIT_RUNNING",
    "SHADOW_STACK_OUTPUT",
    "STACK_OUTPUT",
    "TAG_BASELINE",
    "TAG_CANARY",
    "TAG_ENDPOINT",
    "TAG_LOCK_TABLE",
    "TAG_PRODUCTION_VARIANT",
    "TAG_SHADOW_ENDPOINT",
    "TAG_SHADOW_VARIANT",
    "main",
    "run",
]


class CliError(Exception):
    """A problem with the command, reported as one line and exit status 1."""


@dataclass
class Clients:
    """The AWS clients the command line uses (injectable for tests)."""

    sfn: Any
    sagemaker: Any
    cloudformation: Any
    dynamodb: Any = None
    #: Application Auto Scaling (abort restores an autoscaled canary's scaling limits)
    autoscaling: Any = None

    @classmethod
    def create(
        cls, *, region: str | None, profile: str | None, role_arn: str | None = None
    ) -> Clients:
        session = boto3.session.Session(region_name=region, profile_name=profile)
        if role_arn:
            try:
                credentials = session.client("sts").assume_role(
                    RoleArn=role_arn, RoleSessionName="sagemaker-rollout"
                )["Credentials"]
            except ClientError as error:
                raise CliError(f"could not assume {role_arn}: {_message(error)}") from None
            session = boto3.session.Session(
                region_name=region,
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
            )
        return cls(
            sfn=session.client("stepfunctions"),
            sagemaker=session.client("sagemaker"),
            cloudformation=session.client("cloudformation"),
            dynamodb=session.client("dynamodb"),
            autoscaling=session.client("application-autoscaling"),
        )


@dataclass(frozen=True)
class Target:
    """The endpoint and variants a rollout's (or a shadow evaluation's) state machine is bound
    to.

    For a shadow evaluation (``shadow``), ``baseline_variant`` is the production variant and
    ``canary_variant`` the shadow variant (the evaluator's terms); it has no lock table and
    nothing to restore.
    """

    endpoint_name: str
    baseline_variant: str
    canary_variant: str
    lock_table: str | None = None
    #: with instance scaling, the (baseline, canary) instance counts a rollback sets
    instances: tuple[int, int] | None = None
    #: with an autoscaled canary, its template's (min, max, instances) a rollback restores
    canary_scaling: tuple[int, int, int] | None = None
    #: a shadow evaluation's state machine (``ShadowEvaluation``), not a rollout's
    shadow: bool = False


@dataclass
class Progress:
    """What an execution is doing, read from its history and its endpoint."""

    status: str
    percent: int | None = None
    steps: list[int] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)
    step_started: datetime | None = None
    verdict: str | None = None
    reasons: list[str] = field(default_factory=list)
    canary_invocations: int | None = None
    baseline_invocations: int | None = None
    awaiting_approval: bool = False
    #: what the execution is doing (``contract.PHASE_OF_ENTRY``, or the hook it calls; for a
    #: shadow evaluation ``contract.SHADOW_PHASE_OF_ENTRY``)
    phase: str | None = None
    error: str | None = None
    cause: str | None = None
    #: a shadow evaluation's execution: ``step_started`` is when its window started
    shadow: bool = False
    #: when the execution ended (``DescribeExecution``'s ``stopDate``)
    ended: datetime | None = None
    #: the evaluator's checks in its last answer (``name``, ``verdict``, ...)
    checks: list[dict[str, Any]] = field(default_factory=list)

    def exit_code(self) -> int:
        if self.status == "SUCCEEDED":
            return EXIT_PROMOTED
        if self.status == "RUNNING":
            return EXIT_RUNNING
        if self.status == "ABORTED":
            return EXIT_ABORTED
        if self.status == "FAILED" and self.error in _NOT_PASSED_ERRORS:
            return EXIT_ROLLED_BACK
        return EXIT_FAILED

    def outcome(self) -> str:
        done = ("passed", "did not pass") if self.shadow else ("promoted", "rolled back")
        return {
            EXIT_PROMOTED: done[0],
            EXIT_RUNNING: "running",
            EXIT_ABORTED: "aborted",
            EXIT_ROLLED_BACK: done[1],
        }.get(self.exit_code(), "failed")

    def failed_checks(self) -> list[str]:
        """The names of the checks the evaluator's last answer FAILed."""
        return [str(c.get("name")) for c in self.checks if c.get("verdict") == VERDICT_FAIL]


#: The errors that exit ``EXIT_ROLLED_BACK`` (2): the candidate did not pass, as a rollout
#: that rolled back or as a shadow evaluation (the contract's definitions; the names differ).
_NOT_PASSED_ERRORS = ROLLED_BACK_ERRORS | SHADOW_NOT_PASSED_ERRORS


# --------------------------------------------------------------------------------------
# Finding the rollout
# --------------------------------------------------------------------------------------


def resolve_state_machine(
    clients: Clients,
    *,
    state_machine: str | None = None,
    stack: str | None = None,
    endpoint: str | None = None,
    shadow: bool = False,
) -> str:
    """The state machine ARN named by exactly one of the three options: a rollout's, or with
    ``shadow`` a shadow evaluation's (stack output ``SHADOW_STACK_OUTPUT``, endpoint tag
    ``TAG_SHADOW_ENDPOINT``)."""
    kind, plural = (
        ("shadow evaluation", "shadow evaluations") if shadow else ("rollout", "rollouts")
    )
    if state_machine:
        try:
            clients.sfn.describe_state_machine(stateMachineArn=state_machine)
        except ClientError as error:
            raise CliError(
                f"no {kind} state machine {state_machine!r}: {_message(error)}"
            ) from None
        return state_machine
    if stack:
        key = SHADOW_STACK_OUTPUT if shadow else STACK_OUTPUT
        try:
            described = clients.cloudformation.describe_stacks(StackName=stack)
        except ClientError as error:
            raise CliError(f"stack {stack!r} not found: {_message(error)}") from None
        outputs = described["Stacks"][0].get("Outputs", [])
        for output in outputs:
            if output["OutputKey"] == key or output["OutputKey"].endswith(key):
                value = str(output["OutputValue"])
                if _states_arn_problem(value, "stateMachine") is not None:
                    raise CliError(
                        f"stack {stack!r} has no {kind} to run: its output "
                        f"{output['OutputKey']} is {value!r}, not a state machine's ARN (this "
                        "deployment has no candidate model)"
                    )
                return value
        if shadow:
            raise CliError(
                f"stack {stack!r} has no shadow evaluation (no output {key}); configure a "
                "candidate model that is judged as a shadow variant first and deploy it"
            )
        raise CliError(
            f"stack {stack!r} has no canary rollout (no output {key}); configure a "
            "candidate model for its environment and deploy it"
        )
    if endpoint:
        tag = TAG_SHADOW_ENDPOINT if shadow else TAG_ENDPOINT
        found = [
            arn for arn in _state_machine_arns(clients) if _tags(clients, arn).get(tag) == endpoint
        ]
        if not found:
            raise CliError(
                f"endpoint {endpoint!r} has no {_KIND[shadow]} (no state machine tagged "
                f"{tag}={endpoint})"
            )
        if len(found) > 1:
            raise CliError(
                f"endpoint {endpoint!r} has {len(found)} {plural}; name one with "
                "--state-machine: " + ", ".join(found)
            )
        return found[0]
    raise CliError(f"name the {kind} with --state-machine, --stack or --endpoint")


#: What a state machine is, by ``shadow``.
_KIND = {False: "canary rollout", True: "shadow evaluation"}


def _state_machine_arns(clients: Clients) -> Iterator[str]:
    for page in clients.sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            yield machine["stateMachineArn"]


def _tags(clients: Clients, arn: str) -> dict[str, str]:
    tags = clients.sfn.list_tags_for_resource(resourceArn=arn).get("tags", [])
    return {tag["key"]: tag["value"] for tag in tags}


def target_of(clients: Clients, state_machine_arn: str) -> Target:
    """The endpoint and variants of a rollout, or of a shadow evaluation, from its state
    machine's tags (a rollout's: ``TAG_ENDPOINT``, ``TAG_BASELINE``, ``TAG_CANARY``; a shadow
    evaluation's: ``TAG_SHADOW_ENDPOINT``, ``TAG_PRODUCTION_VARIANT``, ``TAG_SHADOW_VARIANT``)."""
    tags = _tags(clients, state_machine_arn)
    missing = [t for t in (TAG_ENDPOINT, TAG_BASELINE, TAG_CANARY) if t not in tags]
    if missing and TAG_SHADOW_ENDPOINT in tags:
        shadow_tags = (TAG_SHADOW_ENDPOINT, TAG_PRODUCTION_VARIANT, TAG_SHADOW_VARIANT)
        absent = [t for t in shadow_tags if t not in tags]
        if absent:
            raise CliError(
                f"{state_machine_arn} is not a complete shadow evaluation (missing tags "
                f"{', '.join(absent)})"
            )
        return Target(
            tags[TAG_SHADOW_ENDPOINT],
            tags[TAG_PRODUCTION_VARIANT],
            tags[TAG_SHADOW_VARIANT],
            shadow=True,
        )
    if missing:
        raise CliError(
            f"{state_machine_arn} is not a canary rollout (missing tags {', '.join(missing)}) "
            f"nor a shadow evaluation (no tag {TAG_SHADOW_ENDPOINT})"
        )
    instances = None
    if tags.get(TAG_INSTANCES):
        baseline, canary = (int(n) for n in tags[TAG_INSTANCES].split(","))
        instances = (baseline, canary)
    return Target(
        tags[TAG_ENDPOINT],
        tags[TAG_BASELINE],
        tags[TAG_CANARY],
        tags.get(TAG_LOCK_TABLE),
        instances,
        parse_scaling(tags[TAG_CANARY_SCALING]) if tags.get(TAG_CANARY_SCALING) else None,
    )


def _state_machine_of(clients: Clients, execution_arn: str) -> tuple[str, dict[str, Any]]:
    try:
        described = clients.sfn.describe_execution(executionArn=execution_arn)
    except ClientError as error:
        raise CliError(f"no rollout execution {execution_arn!r}: {_message(error)}") from None
    return str(described["stateMachineArn"]), described


# --------------------------------------------------------------------------------------
# Reading progress
# --------------------------------------------------------------------------------------


def _history(clients: Clients, execution_arn: str) -> list[dict[str, Any]]:
    """The execution's events, newest first (by event id, whatever order the API used)."""
    events: list[dict[str, Any]] = []
    paginator = clients.sfn.get_paginator("get_execution_history")
    pages = paginator.paginate(
        executionArn=execution_arn,
        reverseOrder=True,
        PaginationConfig={"PageSize": 1000},  # the API's maximum: few calls per poll
    )
    for page in pages:
        events.extend(page["events"])
    return sorted(events, key=lambda event: int(event["id"]), reverse=True)


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _target_or_none(clients: Clients, state_machine_arn: str) -> Target | None:
    try:
        return target_of(clients, state_machine_arn)
    except (CliError, ClientError):
        return None


def read_progress(clients: Clients, execution_arn: str) -> Progress:
    """The execution's status, current step, weights and last verdict (of a shadow evaluation:
    its phase, window and last verdict)."""
    state_machine_arn, described = _state_machine_of(clients, execution_arn)
    progress = Progress(
        status=described["status"],
        error=described.get("error"),
        cause=described.get("cause"),
        ended=described.get("stopDate"),
    )
    events = _history(clients, execution_arn)
    target = _target_or_none(clients, state_machine_arn)
    progress.shadow = target is not None and target.shadow
    progress.phase = _phase(events, SHADOW_PHASE_OF_ENTRY if progress.shadow else PHASE_OF_ENTRY)
    for event in events:  # newest first
        kind = event["type"]
        if kind == "TaskSucceeded" and progress.verdict is None:
            details = event["taskSucceededEventDetails"]
            payload = _json(details.get("output"))
            if details.get("resourceType") == "lambda" and isinstance(payload, dict):
                answer = payload.get("Payload", payload)
                if isinstance(answer, dict) and "verdict" in answer:
                    progress.verdict = answer["verdict"]
                    progress.reasons = list(answer.get("reasons", []))
                    progress.canary_invocations = answer.get("canary_invocations")
                    progress.baseline_invocations = answer.get("baseline_invocations")
                    checks = answer.get(SHADOW_CHECKS)
                    if isinstance(checks, list):
                        progress.checks = [c for c in checks if isinstance(c, dict)]
            if (
                details.get("resource") == "updateEndpointWeightsAndCapacities"
                and progress.step_started is None
            ):
                progress.step_started = event["timestamp"]
        elif (
            progress.shadow
            and kind.endswith("StateEntered")
            and progress.step_started is None
            and event["stateEnteredEventDetails"].get("name") == ShadowStates.START_WINDOW
        ):
            progress.step_started = event["timestamp"]
        elif kind.endswith("StateEntered") and progress.percent is None:
            state_input = _json(event["stateEnteredEventDetails"].get("input"))
            if isinstance(state_input, dict):
                step = state_input.get(STEP_KEY)
                if isinstance(step, dict) and isinstance(step.get(STEP_PERCENT), int):
                    progress.percent = step[STEP_PERCENT]
                    if isinstance(step.get(STEP_STEPS), list):
                        progress.steps = [int(s) for s in step[STEP_STEPS]]
    if progress.status == "RUNNING":
        progress.awaiting_approval = _open_approval_token(events) is not None
    if target is None or target.shadow:  # a shadow evaluation moves no weights
        return progress
    try:
        endpoint = clients.sagemaker.describe_endpoint(EndpointName=target.endpoint_name)
        weights = {
            v["VariantName"]: float(v.get("CurrentWeight", 0.0))
            for v in endpoint.get("ProductionVariants", [])
        }
        total = sum(weights.values()) or 1.0
        progress.weights = {name: 100.0 * w / total for name, w in weights.items()}
    except ClientError:
        pass
    return progress


def _phase(events: list[dict[str, Any]], phases: Mapping[str, str]) -> str | None:
    """The phase of the newest phase entry (``phases``: the state machine's phase by entry
    state) or hook call in ``events`` (newest first)."""
    for event in events:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"].get("name")
            if name in phases:
                return phases[name]
        elif kind == "TaskScheduled":
            parameters = _json(event["taskScheduledEventDetails"].get("parameters")) or {}
            payload = parameters.get("Payload") if isinstance(parameters, dict) else None
            if isinstance(payload, dict) and HOOK_EVENT_POINT in payload:
                if payload.get(HOOK_EVENT_NAME) == SMOKE_TEST_HOOK:
                    return "smoke test: requests to the canary"
                return f"hook {payload.get(HOOK_EVENT_NAME)} ({payload[HOOK_EVENT_POINT]})"
    return None


def pending_approval_token(clients: Clients, execution_arn: str) -> str:
    """The task token of the approval the execution waits for."""
    _, described = _state_machine_of(clients, execution_arn)
    if described["status"] != "RUNNING":
        raise CliError(f"the rollout is {described['status']}; there is nothing to approve")
    token = _open_approval_token(_history(clients, execution_arn))
    if token is None:
        raise CliError("the rollout is not waiting for an approval")
    return token


def _open_approval_token(events: list[dict[str, Any]]) -> str | None:
    """The token of the newest ``waitForTaskToken`` task, unless it has ended.

    ``events`` are newest first. The rollout runs one task at a time, so a task end that is
    newer than the newest approval task ends it.
    """
    ended = False
    for event in events:
        kind = event["type"]
        if kind in ("TaskSucceeded", "TaskFailed", "TaskTimedOut", "TaskSubmitFailed"):
            ended = True
        if kind == "TaskScheduled":
            details = event["taskScheduledEventDetails"]
            if not details.get("resource", "").endswith("waitForTaskToken"):
                continue
            if ended:
                return None
            parameters = _json(details.get("parameters")) or {}
            # the approval queue's request (MessageBody); a topic message (Message) in
            # rollouts deployed before requests moved to the queue
            for key in ("MessageBody", "Message"):
                message = parameters.get(key)
                message = _json(message) if isinstance(message, str) else message
                if isinstance(message, dict) and message.get(APPROVAL_TOKEN_KEY):
                    return str(message[APPROVAL_TOKEN_KEY])
    return None


# --------------------------------------------------------------------------------------
# Display
# --------------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def describe(progress: Progress, target: Target | None, now: datetime) -> list[str]:
    """The progress display, as lines."""
    lines = [f"status   {progress.status}"]
    if progress.phase and progress.status == "RUNNING":
        lines.append(f"phase    {progress.phase}")
    if target is not None and target.shadow:
        return lines + _describe_shadow(progress, target, now)
    if progress.percent is not None:
        of = ""
        if progress.steps and progress.percent in progress.steps:
            of = f" (step {progress.steps.index(progress.percent) + 1} of {len(progress.steps)})"
        in_step = ""
        if progress.step_started is not None:
            in_step = f", {_duration((now - progress.step_started).total_seconds())} in step"
        lines.append(f"step     {progress.percent} %{of}{in_step}")
    if progress.weights:
        shares = " | ".join(f"{name} {share:.0f} %" for name, share in progress.weights.items())
        canary = progress.weights.get(target.canary_variant, 0.0) if target else 0.0
        filled = round(canary / 5)
        lines.append(f"weights  {shares}  [{'#' * filled}{'.' * (20 - filled)}]")
    if progress.verdict:
        counts = ""
        if progress.canary_invocations is not None:
            counts = (
                f" (canary {progress.canary_invocations}, baseline "
                f"{progress.baseline_invocations} invocations)"
            )
        lines.append(f"verdict  {progress.verdict}{counts}")
        lines.extend(f"         - {reason}" for reason in progress.reasons)
    if progress.awaiting_approval:
        lines.append("waiting  for approval: sagemaker-rollout approve|reject <execution-arn>")
    if progress.status != "RUNNING":
        lines.append(f"outcome  {progress.outcome()}")
        if progress.error:
            lines.append(f"error    {progress.error}: {progress.cause or ''}".rstrip())
    return lines


def _describe_shadow(progress: Progress, target: Target, now: datetime) -> list[str]:
    """The rest of a shadow evaluation's display: its variants, window, verdict and checks."""
    lines = [
        f"variants production {target.baseline_variant} | shadow {target.canary_variant} "
        f"(endpoint {target.endpoint_name}; no traffic is moved)"
    ]
    if progress.step_started is not None:
        end, since = (progress.ended, "until it ended") if progress.ended else (now, "so far")
        elapsed = _duration((end - progress.step_started).total_seconds())
        lines.append(f"window   {elapsed} {since}")
    if progress.verdict:
        counts = ""
        if progress.canary_invocations is not None:
            counts = (
                f" (shadow {progress.canary_invocations}, production "
                f"{progress.baseline_invocations} invocations)"
            )
        lines.append(f"verdict  {progress.verdict}{counts}")
        lines.extend(f"         - {reason}" for reason in progress.reasons)
    if progress.checks:
        checks = ", ".join(f"{c.get('name')} {c.get('verdict')}" for c in progress.checks)
        lines.append(f"checks   {checks}")
    if progress.status != "RUNNING":
        lines.append(f"outcome  {progress.outcome()}")
        if progress.error:
            lines.append(f"error    {progress.error}: {progress.cause or ''}".rstrip())
    return lines


def plain_line(progress: Progress, now: datetime, target: Target | None = None) -> str:
    """One line for logs (``target``: a shadow evaluation's adds its variants)."""
    parts = [f"{now:%Y-%m-%dT%H:%M:%SZ}", f"status={progress.status}"]
    if progress.phase and progress.status == "RUNNING":
        parts.append(f"phase={json.dumps(progress.phase)}")
    if target is not None and target.shadow:
        parts.append(f"production={target.baseline_variant} shadow={target.canary_variant}")
    if progress.percent is not None:
        parts.append(f"step={progress.percent}%")
    if progress.weights:
        parts.append("weights=" + ",".join(f"{n}:{s:.0f}" for n, s in progress.weights.items()))
    if progress.step_started is not None:
        end = progress.ended if progress.shadow and progress.ended else now
        elapsed = int((end - progress.step_started).total_seconds())
        parts.append(f"{'in_window' if progress.shadow else 'in_step'}={elapsed}s")
    if progress.verdict:
        parts.append(f"verdict={progress.verdict}")
    if progress.shadow and progress.failed_checks():
        parts.append("failed_checks=" + json.dumps(progress.failed_checks()))
    if progress.awaiting_approval:
        parts.append("awaiting_approval=true")
    if progress.status != "RUNNING":
        parts.append(f"outcome={progress.outcome().replace(' ', '_')}")
        if progress.error:
            parts.append(f"error={progress.error}")
    line = " ".join(parts)
    if progress.verdict == VERDICT_FAIL and progress.reasons:
        line += " reasons=" + json.dumps(progress.reasons)
    if progress.status != "RUNNING" and progress.cause:
        line += " cause=" + json.dumps(progress.cause)
    return line


def watch(
    clients: Clients,
    execution_arn: str,
    *,
    out: IO[str],
    interval: float = 10.0,
    tty: bool | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Follow an execution until it ends; the exit status says how it ended."""
    state_machine_arn, _ = _state_machine_of(clients, execution_arn)
    target = target_of(clients, state_machine_arn)
    tty = out.isatty() if tty is None else tty
    drawn = 0
    last_line = ""
    while True:
        progress = read_progress(clients, execution_arn)
        now = clock()
        if tty:
            lines = describe(progress, target, now)
            if drawn:
                out.write(f"\x1b[{drawn}F\x1b[J")  # back to the block's start, clear below
            out.write("\n".join(lines) + "\n")
            drawn = len(lines)
        else:
            line = plain_line(progress, now, target)
            # print on change (the time stamp and time in step or window aside)
            key = " ".join(
                p for p in line.split(" ")[1:] if not p.startswith(("in_step=", "in_window="))
            )
            if key != last_line:
                out.write(line + "\n")
                last_line = key
        out.flush()
        if progress.status != "RUNNING":
            return progress.exit_code()
        sleep(interval)


# --------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------


def start(
    clients: Clients, state_machine_arn: str, execution_input: dict[str, Any], name: str | None
) -> str:
    """Start a rollout; returns the execution's ARN."""
    # a clear error for a state machine that is no rollout
    if target_of(clients, state_machine_arn).shadow:
        raise CliError(
            f"{state_machine_arn} is a shadow evaluation, not a canary rollout; start it with "
            "`sagemaker-rollout shadow`"
        )
    return _start_execution(clients, state_machine_arn, execution_input, name, "the rollout")


def start_shadow(
    clients: Clients, state_machine_arn: str, execution_input: dict[str, Any], name: str | None
) -> str:
    """Start a shadow evaluation; returns the execution's ARN."""
    if not target_of(clients, state_machine_arn).shadow:
        raise CliError(
            f"{state_machine_arn} is a canary rollout, not a shadow evaluation; start it with "
            "`sagemaker-rollout start`"
        )
    return _start_execution(
        clients, state_machine_arn, execution_input, name, "the shadow evaluation"
    )


def _start_execution(
    clients: Clients,
    state_machine_arn: str,
    execution_input: dict[str, Any],
    name: str | None,
    what: str,
) -> str:
    arguments: dict[str, Any] = {
        "stateMachineArn": state_machine_arn,
        "input": json.dumps(execution_input),
    }
    if name:
        arguments["name"] = name
    try:
        response = clients.sfn.start_execution(**arguments)
    except ClientError as error:
        raise CliError(f"could not start {what}: {_message(error)}") from None
    return str(response["executionArn"])


def abort(
    clients: Clients,
    execution_arn: str,
    reason: str,
    *,
    out: IO[str],
    force: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Stop a running execution, then put all traffic on the baseline and verify it.

    With an autoscaled canary the restore also gives the canary its template's instance count
    and scaling limits back (``TAG_CANARY_SCALING``).

    Only a RUNNING execution is aborted: restoring the baseline after a promotion, or under
    another rollout that is running, would undo work that is not this execution's.
    ``force`` restores the baseline anyway (an operator's decision).

    A shadow evaluation's execution is only stopped: it changes nothing on the endpoint, so
    there are no weights to restore and no lock to release.
    """
    state_machine_arn, described = _state_machine_of(clients, execution_arn)
    target = target_of(clients, state_machine_arn)
    status = described["status"]
    if target.shadow:
        return _abort_shadow(clients, execution_arn, reason, target, status, out=out)
    if status != "RUNNING" and not force:
        raise CliError(
            f"the execution is {status}, not running: nothing to abort (pass --force to put all "
            "traffic on the baseline anyway)"
        )
    others = [
        e["executionArn"]
        for e in clients.sfn.list_executions(
            stateMachineArn=state_machine_arn, statusFilter="RUNNING"
        )["executions"]
        if e["executionArn"] != execution_arn
    ]
    if others and not force:
        raise CliError(f"another rollout of this endpoint is running; abort that one: {others[0]}")
    if status == "RUNNING":
        clients.sfn.stop_execution(
            executionArn=execution_arn, error=Errors.ABORTED, cause=f"aborted: {reason}"
        )
        out.write(f"stopped {execution_arn}\n")
    desired = [
        {
            "VariantName": target.baseline_variant,
            "DesiredWeight": float(ROLLED_BACK_BASELINE_WEIGHT),
        },
        {"VariantName": target.canary_variant, "DesiredWeight": float(ROLLED_BACK_CANARY_WEIGHT)},
    ]
    if target.instances is not None:  # instance scaling: the baseline gets its fleet back
        desired[0]["DesiredInstanceCount"] = target.instances[0]
        desired[1]["DesiredInstanceCount"] = target.instances[1]
    if target.canary_scaling is not None:  # autoscaled canary: its template count
        desired[1]["DesiredInstanceCount"] = target.canary_scaling[2]
    for _ in range(120):
        endpoint = clients.sagemaker.describe_endpoint(EndpointName=target.endpoint_name)
        if endpoint["EndpointStatus"] == "InService":
            try:
                clients.sagemaker.update_endpoint_weights_and_capacities(
                    EndpointName=target.endpoint_name, DesiredWeightsAndCapacities=desired
                )
                break
            except ClientError as error:
                if "in-progress" not in _message(error) and "Throttl" not in _message(error):
                    raise CliError(f"could not restore the baseline: {_message(error)}") from None
        sleep(5)
    else:
        raise CliError(f"endpoint {target.endpoint_name} did not become InService to restore")
    for _ in range(240):
        endpoint = clients.sagemaker.describe_endpoint(EndpointName=target.endpoint_name)
        weights = {
            v["VariantName"]: float(v.get("CurrentWeight", 0.0))
            for v in endpoint.get("ProductionVariants", [])
        }
        if endpoint["EndpointStatus"] == "InService" and is_rolled_back(
            weights, baseline=target.baseline_variant, canary=target.canary_variant
        ):
            out.write(
                f"all traffic on {target.baseline_variant} of {target.endpoint_name} (verified)\n"
            )
            _release_lock(clients, target, execution_arn, out)
            _restore_limits(clients, target, out)
            return EXIT_ABORTED
        sleep(5)
    raise CliError(f"the weights of {target.endpoint_name} were not restored in time")


def _abort_shadow(
    clients: Clients, execution_arn: str, reason: str, target: Target, status: str, *, out: IO[str]
) -> int:
    """Stop a shadow evaluation's execution; nothing on the endpoint needs restoring."""
    if status != "RUNNING":
        raise CliError(
            f"the shadow evaluation is {status}, not running: nothing to abort (it changed "
            f"nothing on endpoint {target.endpoint_name}, so there is nothing to restore either)"
        )
    clients.sfn.stop_execution(
        executionArn=execution_arn, error=Errors.ABORTED, cause=f"aborted: {reason}"
    )
    out.write(f"stopped {execution_arn}\n")
    out.write(
        f"nothing to restore: the shadow evaluation changed nothing on endpoint "
        f"{target.endpoint_name} (no weights moved, no lock taken)\n"
    )
    return EXIT_ABORTED


def release_canary(clients: Clients, state_machine_arn: str, *, out: IO[str]) -> int:
    """Deregister a rolled-back, autoscaled canary's scalable target before the deploy that
    removes its variant (see the module docstring); refuses while anything still uses it."""
    target = target_of(clients, state_machine_arn)
    if target.shadow:
        raise CliError(
            f"{state_machine_arn} is a shadow evaluation, not a canary rollout: it has no "
            "canary to release"
        )
    if target.canary_scaling is None:
        raise CliError(
            f"the canary {target.canary_variant} of this rollout is not autoscaled (no tag "
            f"{TAG_CANARY_SCALING}): a deploy can remove its variant as it is"
        )
    running = clients.sfn.list_executions(
        stateMachineArn=state_machine_arn, statusFilter="RUNNING"
    )["executions"]
    if running:
        raise CliError(
            f"a rollout is running ({running[0]['executionArn']}); let it end or abort it first"
        )
    if target.lock_table is not None and clients.dynamodb is not None:
        held = clients.dynamodb.get_item(
            TableName=target.lock_table,
            Key={LOCK_KEY: {"S": target.endpoint_name}},
            ConsistentRead=True,
        ).get("Item")
        if held:
            holder = held.get(LOCK_HOLDER, {}).get("S", "?")
            raise CliError(
                f"the rollout lock of {target.endpoint_name} is held by {holder}; wait for it "
                "(or abort that execution) first"
            )
    endpoint = clients.sagemaker.describe_endpoint(EndpointName=target.endpoint_name)
    weights = {
        v["VariantName"]: float(v.get("CurrentWeight", 0.0))
        for v in endpoint.get("ProductionVariants", [])
    }
    if not is_rolled_back(weights, baseline=target.baseline_variant, canary=target.canary_variant):
        raise CliError(
            f"{target.canary_variant} still serves traffic (weights {weights}); only a "
            "rolled-back canary is released (sagemaker-rollout abort puts all traffic on "
            f"{target.baseline_variant})"
        )
    if clients.autoscaling is None:  # pragma: no cover - Clients.create always sets it
        raise CliError("no Application Auto Scaling client")
    try:
        clients.autoscaling.deregister_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId=scalable_resource_id(target.endpoint_name, target.canary_variant),
            ScalableDimension=SCALABLE_DIMENSION,
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ObjectNotFoundException":
            raise CliError(
                f"could not deregister the scalable target of {target.canary_variant}: "
                f"{_message(error)}"
            ) from None
        out.write(f"{target.canary_variant} is not a scalable target (already released)\n")
        return EXIT_OK
    out.write(
        f"released {target.canary_variant} of {target.endpoint_name}: its scalable target and "
        "scaling policies are deregistered; deploy the template without the variant now\n"
    )
    return EXIT_OK


def _restore_limits(clients: Clients, target: Target, out: IO[str]) -> None:
    """An autoscaled canary's scalable target back to the template's limits (the rollout
    raised them before each step)."""
    if target.canary_scaling is None or clients.autoscaling is None:
        return
    low, high, _ = target.canary_scaling
    try:
        clients.autoscaling.register_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId=scalable_resource_id(target.endpoint_name, target.canary_variant),
            ScalableDimension=SCALABLE_DIMENSION,
            MinCapacity=low,
            MaxCapacity=high,
        )
    except ClientError as error:
        raise CliError(
            f"traffic is back on {target.baseline_variant}, but the scaling limits of "
            f"{target.canary_variant} could not be restored ({low}-{high}): {_message(error)}"
        ) from None
    out.write(f"scaling limits of {target.canary_variant} restored ({low}-{high} instances)\n")


def _release_lock(clients: Clients, target: Target, execution_arn: str, out: IO[str]) -> None:
    """Release the endpoint's lock if this execution holds it (a stopped execution cannot)."""
    if target.lock_table is None or clients.dynamodb is None:
        return
    try:
        clients.dynamodb.delete_item(
            TableName=target.lock_table,
            Key={LOCK_KEY: {"S": target.endpoint_name}},
            ConditionExpression=f"{LOCK_HOLDER} = :me",
            ExpressionAttributeValues={":me": {"S": execution_arn}},
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise CliError(f"could not release the rollout lock: {_message(error)}") from None
        out.write("the rollout lock was not held by this execution\n")
        return
    out.write(f"released the rollout lock of {target.endpoint_name}\n")


def _message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message") or error)


# --------------------------------------------------------------------------------------
# Arguments, checked before any AWS call
# --------------------------------------------------------------------------------------

PROG = "sagemaker-rollout"
_PARTITION = r"aws(?:-[a-z]+)*"
_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d+"
_ACCOUNT = r"\d{12}"
_STATES_ARN = re.compile(rf"arn:{_PARTITION}:states:{_REGION}:{_ACCOUNT}:(\w+):(.*)", re.DOTALL)
#: What a Step Functions name may not hold (state machines and executions alike).
_NAME_FORBIDDEN = re.compile(r'[\s<>{}\[\]?*"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]')
_NAME_RULE = (
    '1-80 characters, none of them whitespace, < > { } [ ] ? * " # % \\ ^ | ~ ` $ & , ; : / '
    "or a control character"
)
_ARN_FORMS = {
    "execution": "arn:<partition>:states:<region>:<12-digit account>:execution:"
    "<state machine name>:<execution name>",
    "stateMachine": "arn:<partition>:states:<region>:<12-digit account>:stateMachine:<name>",
}
_ARN_KINDS = {"execution": "an execution", "stateMachine": "a state machine"}
_STACK_NAME = r"[a-zA-Z][-a-zA-Z0-9]{0,127}"
_STACK = re.compile(
    rf"{_STACK_NAME}|arn:{_PARTITION}:cloudformation:{_REGION}:{_ACCOUNT}:stack/{_STACK_NAME}/"
    r"[-a-zA-Z0-9]+"
)
_ENDPOINT = re.compile(r"[a-zA-Z0-9](?:-*[a-zA-Z0-9])*")
_ROLE_ARN = re.compile(rf"arn:{_PARTITION}:iam::{_ACCOUNT}:role/[\x21-\x7e]{{1,576}}")
_INPUT_EXAMPLE = '{"steps": [10, 50, 100]}'
_SHADOW_INPUT_EXAMPLE = '{"bake_seconds": 3600}'

_input_rules = evaluator_module("rollout_input")
_shadow_input_rules = evaluator_module("shadow_input")


class UsageError(CliError):
    """The command line does not parse (argparse's usage errors): exit status 1, never 2."""


def _problem(argument: str, value: object, allowed: str, fix: str, why: str | None = None) -> str:
    """One line that names the argument, the value, the rule (and what breaks it) and the fix."""
    because = f" ({why})" if why else ""
    return f"{argument}: got {value!r}; allowed: {allowed}{because}; {fix}"


def _name_problem(name: str) -> str | None:
    """What breaks Step Functions' rule for a name (``None`` when it holds)."""
    if not 1 <= len(name) <= 80:
        return f"{len(name)} characters"
    forbidden = _NAME_FORBIDDEN.search(name)
    return None if forbidden is None else f"{forbidden.group()!r} is not allowed"


def _states_arn_problem(arn: str, kind: str) -> str | None:
    """What breaks the form of a Step Functions ARN of ``kind`` (``None`` when it holds)."""
    match = _STATES_ARN.fullmatch(arn)
    if match is None:
        return "not the ARN of a Step Functions resource"
    if match.group(1) != kind:
        found = _ARN_KINDS.get(match.group(1), f"a {match.group(1)}")
        return f"the ARN of {found}, not of {_ARN_KINDS[kind]}"
    names = match.group(2).split(":")
    labels = ("state machine name", "execution name")[: 2 if kind == "execution" else 1]
    if len(names) != len(labels):
        expected = ":".join(f"<{label}>" for label in labels)
        return f"{expected} must follow :{kind}:"
    for label, name in zip(labels, names, strict=True):
        problem = _name_problem(name)
        if problem is not None:
            return f"the {label} {name!r}: {problem}; a name holds {_NAME_RULE}"
    return None


def local_problems(args: argparse.Namespace) -> list[str]:
    """Every problem with the arguments that shows without AWS, one line each (``--input``
    aside: :func:`read_execution_input`)."""
    checks: list[str] = []
    if args.role_arn is not None and not _ROLE_ARN.fullmatch(args.role_arn):
        checks.append(
            _problem(
                "--role-arn",
                args.role_arn,
                "an IAM role's ARN, arn:<partition>:iam::<12-digit account>:role/<name>",
                "copy it from the IAM console or the stack output that names the role",
            )
        )
    if args.command == "release-canary":
        return checks + _start_problems(args)
    if args.command == "shadow":
        return checks + _start_problems(args, output=SHADOW_STACK_OUTPUT)
    if args.command != "start":
        why = _states_arn_problem(args.execution_arn, "execution")
        if why is not None:
            checks.append(
                _problem(
                    "EXECUTION_ARN",
                    args.execution_arn,
                    _ARN_FORMS["execution"],
                    "pass the execution ARN that `sagemaker-rollout start` printed",
                    why,
                )
            )
        return checks
    return checks + _start_problems(args)


def _start_problems(args: argparse.Namespace, *, output: str = STACK_OUTPUT) -> list[str]:
    """The problems of the options that name a state machine (``output``: the stack output
    that names it) and of ``--name``."""
    checks: list[str] = []
    if args.state_machine is not None:
        why = _states_arn_problem(args.state_machine, "stateMachine")
        if why is not None:
            checks.append(
                _problem(
                    "--state-machine",
                    args.state_machine,
                    _ARN_FORMS["stateMachine"],
                    f"pass the value of the stack output {output}, or use --stack",
                    why,
                )
            )
    if args.stack is not None and not _STACK.fullmatch(args.stack):
        checks.append(
            _problem(
                "--stack",
                args.stack,
                "a CloudFormation stack name (a letter, then letters, digits and hyphens, at "
                "most 128 characters) or a stack ID",
                "pass the stack's name as the CloudFormation console shows it",
            )
        )
    if args.endpoint is not None and not (
        len(args.endpoint) <= 63 and _ENDPOINT.fullmatch(args.endpoint)
    ):
        checks.append(
            _problem(
                "--endpoint",
                args.endpoint,
                "a SageMaker endpoint name: letters, digits and hyphens, beginning and ending "
                "with a letter or digit, at most 63 characters",
                "pass the name `aws sagemaker list-endpoints` shows",
            )
        )
    name = getattr(args, "name", None)
    if name is not None and _name_problem(name) is not None:
        checks.append(
            _problem(
                "--name",
                name,
                f"an execution name of {_NAME_RULE}",
                "choose another name, such as rollout-1, or leave --name out",
                _name_problem(name),
            )
        )
    return checks


def read_execution_input(
    raw: str | None, *, shadow: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """``--input`` (JSON or ``@file``) and its problems: the keys it sets are checked by the
    rules the state machine applies (the evaluator's ``rollout_input``; with ``shadow``, a
    shadow evaluation's: ``shadow_input``). The state machine merges them with the construct's
    defaults, so a rule between a given key and a default (``interval_seconds`` at most
    ``bake_seconds``, the history budget) is left to it."""
    if not raw:
        return {}, []
    text = raw
    if raw.startswith("@"):
        try:
            with open(raw[1:], encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as error:
            why = error.strerror if isinstance(error, OSError) else str(error)
            fix = "pass @<path of a JSON file> or the JSON itself"
            return {}, [_problem("--input", raw, "JSON or @<file of JSON>", fix, why)]
    allowed = f"a JSON object such as {_SHADOW_INPUT_EXAMPLE if shadow else _INPUT_EXAMPLE}"
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except ValueError as error:
        shown = raw if raw.startswith("@") else _short(text)
        return {}, [_problem("--input", shown, allowed, "correct the JSON", str(error))]
    if not isinstance(value, dict):
        which = "shadow evaluation" if shadow else "rollout"
        fix = f"pass an object ({{}} runs the {which}'s defaults)"
        return {}, [_problem("--input", value, allowed, fix)]
    problems = shadow_input_problems(value) if shadow else _input_rules.given_input_problems(value)
    return value, [f"--input: {problem}" for problem in problems]


def shadow_input_problems(raw: Mapping[str, Any]) -> list[str]:
    """Every problem of the keys a shadow evaluation's input ``raw`` sets, without the defaults
    it will be merged with: keys other than ``SHADOW_INPUT_KEYS`` (as ``check_shadow_input``
    reports them), and the rules of the keys it sets, judged as ``check_shadow_input`` judges
    them (the rollout's rules of each value, and between the keys when ``raw`` sets them all)."""
    keys: tuple[str, ...] = _shadow_input_rules.SHADOW_INPUT_KEYS
    problems = [
        f"{key}: unknown key (got {raw[key]!r}); allowed keys: {', '.join(keys)}"
        for key in raw
        if key not in keys
    ]
    given = {key: raw[key] for key in keys if key in raw}
    found: list[str] = _shadow_input_rules.given_input_problems(given)
    return problems + found


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _seconds(text: str) -> float:
    """``--interval``: a finite number of seconds greater than 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(
            f"got {text!r}; allowed: a finite number of seconds greater than 0; pass one such "
            "as 10 or 0.5"
        )
    return value


# --------------------------------------------------------------------------------------
# The parser
# --------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, except that a usage error exits 1 (2 means "rolled back") on one line."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


class _Version(argparse.Action):
    """``--version``; the distribution's metadata is read only when asked for (startup)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any, **__: Any) -> None:
        sys.stdout.write(f"{PROG} {version()}\n")
        parser.exit()


def version() -> str:
    """The installed distribution's version (the package's own when it is not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as distribution_version

    try:
        return distribution_version("sagemaker-constructs")
    except PackageNotFoundError:
        from .. import __version__  # a plain attribute: no AWS CDK

        return __version__


def exit_status_help() -> str:
    """The exit statuses, from the contract (the epilog of ``--help``)."""
    lines = [
        "exit status of start --watch, shadow --watch, watch, status and abort (start and shadow",
        "without --watch, approve, reject and release-canary exit 0 once done):",
    ]
    lines.extend(f"  {code:<4} {meaning}" for code, meaning in EXIT_STATUSES)
    return "\n".join(lines)


def _add_global_options(parser: argparse.ArgumentParser, *, default: Any) -> None:
    """Options that may come before the command or after it (``default``: SUPPRESS after, so
    an option given before is not overwritten)."""
    parser.add_argument(
        "--region", default=default, help="AWS region (default: your configuration)"
    )
    parser.add_argument(
        "--profile", default=default, help="AWS profile (default: your configuration)"
    )
    parser.add_argument(
        "--role-arn",
        default=default,
        help="assume this role first (e.g. the environment's rollout operator)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=False if default is None else default,
        help="show the traceback of an error",
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Start, watch and steer the canary rollout of a SageMaker endpoint;\n"
        "run the shadow evaluation of its shadow variant.",
        epilog=exit_status_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    _add_global_options(parser, default=None)
    after = _Parser(add_help=False)  # the same options after the command
    _add_global_options(after, default=argparse.SUPPRESS)
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_Parser
    )

    start_parser = commands.add_parser("start", parents=[after], help="start a rollout")
    which = start_parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--state-machine", help="the rollout state machine's ARN")
    which.add_argument("--stack", help=f"a stack with the output {STACK_OUTPUT}")
    which.add_argument("--endpoint", help="the endpoint the rollout is bound to")
    start_parser.add_argument(
        "--input", help="execution input as JSON or @file (steps, bake_seconds, ...)"
    )
    start_parser.add_argument("--name", help="execution name (default: generated)")
    start_parser.add_argument("--watch", action="store_true", help="follow it until it ends")
    start_parser.add_argument("--interval", type=_seconds, default=10.0, help="seconds per poll")

    release_parser = commands.add_parser(
        "release-canary",
        parents=[after],
        help="deregister a rolled-back, autoscaled canary's scaling before a deploy removes it",
    )
    which = release_parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--state-machine", help="the rollout state machine's ARN")
    which.add_argument("--stack", help=f"a stack with the output {STACK_OUTPUT}")
    which.add_argument("--endpoint", help="the endpoint the rollout is bound to")

    shadow_parser = commands.add_parser(
        "shadow",
        parents=[after],
        help="start a shadow evaluation (the shadow variant judged against production)",
        description="Start an execution of a ShadowEvaluation state machine: the endpoint's "
        "shadow variant is judged against its production variant by the rollout's evaluator; "
        "no traffic is moved. With --watch, follow it and exit 0 when it passed, 2 when it "
        "did not (FAIL or INCONCLUSIVE).",
    )
    which = shadow_parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--state-machine", help="the shadow evaluation state machine's ARN")
    which.add_argument("--stack", help=f"a stack with the output {SHADOW_STACK_OUTPUT}")
    which.add_argument("--endpoint", help="the endpoint the shadow evaluation is bound to")
    shadow_parser.add_argument(
        "--input",
        help="execution input as JSON or @file (bake_seconds, interval_seconds, "
        "max_extensions, policy)",
    )
    shadow_parser.add_argument("--name", help="execution name (default: generated)")
    shadow_parser.add_argument("--watch", action="store_true", help="follow it until it ends")
    shadow_parser.add_argument("--interval", type=_seconds, default=10.0, help="seconds per poll")

    for name, text in (
        ("watch", "follow a rollout or a shadow evaluation until it ends"),
        ("status", "show a rollout's or a shadow evaluation's state once"),
        ("approve", "approve the step the rollout waits for"),
        ("reject", "reject the step the rollout waits for (it rolls back)"),
        (
            "abort",
            "stop a rollout and put all traffic on the baseline (a shadow evaluation: stop it)",
        ),
    ):
        sub = commands.add_parser(name, parents=[after], help=text)
        sub.add_argument(
            "execution_arn", metavar="EXECUTION_ARN", help="the ARN that `start` printed"
        )
        if name == "watch":
            sub.add_argument("--interval", type=_seconds, default=10.0, help="seconds per poll")
        if name in ("reject", "abort"):
            sub.add_argument("--reason", default="by operator", help="why (recorded)")
        if name == "abort":
            sub.add_argument(
                "--force",
                action="store_true",
                help="restore the baseline even when this execution is not running",
            )
    return parser


# --------------------------------------------------------------------------------------
# Running a command
# --------------------------------------------------------------------------------------


class _Exit(Exception):  # noqa: N818 (not an error: --help and --version end here)
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _parse(argv: Sequence[str] | None, out: IO[str]) -> argparse.Namespace:
    """The arguments; ``--help`` and ``--version`` print to ``out`` and raise ``_Exit``."""
    try:
        with contextlib.redirect_stdout(out):
            return _parser().parse_args(argv)
    except SystemExit as done:  # only --help and --version: _Parser.error raises UsageError
        raise _Exit(done.code if isinstance(done.code, int) else EXIT_OK) from None


def run(
    argv: Sequence[str] | None = None,
    *,
    clients: Clients | None = None,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
) -> int:
    """The command line, with injectable clients and streams; returns the exit status.

    The arguments are checked before any AWS client exists; every error of the command
    itself is one line on ``err`` and exit status 1 (``--debug`` adds the traceback).
    """
    out = out or sys.stdout
    err = err or sys.stderr
    args: argparse.Namespace | None = None
    try:
        args = _parse(argv, out)
        execution_input: dict[str, Any] = {}
        problems: list[str] = []
        if args.command in ("start", "shadow"):
            execution_input, problems = read_execution_input(
                args.input, shadow=args.command == "shadow"
            )
        problems = local_problems(args) + problems
        if problems:
            err.writelines(f"{PROG}: {_one_line(problem)}\n" for problem in problems)
            return EXIT_ERROR
        if clients is None:
            clients = Clients.create(
                region=args.region, profile=args.profile, role_arn=args.role_arn
            )
        return _execute(args, clients, execution_input, out)
    except _Exit as done:
        return done.code
    except KeyboardInterrupt:
        err.write(f"{PROG}: interrupted; {_after_interrupt(args)}\n")
        return EXIT_INTERRUPTED
    except Exception as error:  # every error of the command: one line, exit status 1
        debug = bool(args is not None and args.debug)
        if debug:
            traceback.print_exception(error, file=err)
        err.write(f"{PROG}: {_one_line(_explain(error, debug=debug))}\n")
        return EXIT_ERROR


def _after_interrupt(args: argparse.Namespace | None) -> str:
    if args is not None and args.command == "shadow":
        return (
            "the shadow evaluation itself goes on (`sagemaker-rollout abort <execution-arn>` "
            "stops it)"
        )
    if args is not None and args.command in ("start", "watch", "status"):
        return "the rollout itself goes on (`sagemaker-rollout abort <execution-arn>` stops it)"
    return "see where the rollout stands with `sagemaker-rollout status <execution-arn>`"


def _explain(error: Exception, *, debug: bool) -> str:
    """The one line that reports ``error``."""
    if isinstance(error, CliError):
        return str(error)
    if isinstance(error, NoCredentialsError):
        return "no AWS credentials found; run `aws configure`, set AWS_PROFILE or pass --profile"
    if isinstance(error, NoRegionError):
        return "no AWS region configured; pass --region"
    if isinstance(error, ClientError | BotoCoreError):
        return f"AWS call failed: {error}"
    unexpected = f"unexpected error: {type(error).__name__}: {error}"
    return unexpected if debug else f"{unexpected} (run with --debug for the traceback)"


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())


def _execute(
    args: argparse.Namespace, clients: Clients, execution_input: dict[str, Any], out: IO[str]
) -> int:
    """Run the command whose arguments passed the local checks."""
    if args.command == "start":
        arn = resolve_state_machine(
            clients, state_machine=args.state_machine, stack=args.stack, endpoint=args.endpoint
        )
        execution_arn = start(clients, arn, execution_input, args.name)
        out.write(f"{execution_arn}\n")
        out.flush()
        if args.watch:
            return watch(clients, execution_arn, out=out, interval=args.interval)
        return EXIT_OK
    if args.command == "shadow":
        arn = resolve_state_machine(
            clients,
            state_machine=args.state_machine,
            stack=args.stack,
            endpoint=args.endpoint,
            shadow=True,
        )
        execution_arn = start_shadow(clients, arn, execution_input, args.name)
        out.write(f"{execution_arn}\n")
        out.flush()
        if args.watch:
            return watch(clients, execution_arn, out=out, interval=args.interval)
        return EXIT_OK
    if args.command == "watch":
        return watch(clients, args.execution_arn, out=out, interval=args.interval)
    if args.command == "status":
        progress = read_progress(clients, args.execution_arn)
        state_machine_arn, _ = _state_machine_of(clients, args.execution_arn)
        target = target_of(clients, state_machine_arn)
        out.write("\n".join(describe(progress, target, datetime.now(UTC))) + "\n")
        return progress.exit_code()
    if args.command == "approve":
        token = pending_approval_token(clients, args.execution_arn)
        clients.sfn.send_task_success(taskToken=token, output="true")
        out.write("approved\n")
        return EXIT_OK
    if args.command == "reject":
        token = pending_approval_token(clients, args.execution_arn)
        clients.sfn.send_task_failure(taskToken=token, error=Errors.REJECTED, cause=args.reason)
        out.write("rejected: the rollout rolls back\n")
        return EXIT_OK
    if args.command == "abort":
        return abort(clients, args.execution_arn, args.reason, out=out, force=args.force)
    if args.command == "release-canary":
        arn = resolve_state_machine(
            clients, state_machine=args.state_machine, stack=args.stack, endpoint=args.endpoint
        )
        return release_canary(clients, arn, out=out)
    raise AssertionError(f"unhandled command {args.command}")  # pragma: no cover


def main() -> None:
    """Entry point of the ``sagemaker-rollout`` console script."""
    sys.exit(run())


if __name__ == "__main__":  # python -m sagemaker_constructs.rollout.cli
    main()
