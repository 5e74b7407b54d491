"""End-to-end harness: run the synthesized rollout state machine in moto's Step Functions engine.

What is real here: the ASL definition (read from the synthesized template and resolved to moto
resources), moto's Step Functions interpreter, moto's SageMaker endpoint (weights, status),
moto's SNS/SQS (notifications) and the evaluator's own handler code. CloudWatch, the clock
and the traffic are modelled as strictly as AWS behaves in ``strict_aws.py`` (moto's
GetMetricData neither rounds StartTime nor computes percentiles).

Four adapters, all needed because moto cannot do what AWS does:

- Lambda: moto runs no Lambda code without Docker, so ``LambdaFunction.invoke`` is routed to
  the evaluator in-process (``StrictAws.handler``) (an exception becomes an ``Unhandled``
  function error with ``errorType``, as the Lambda service reports it).
- aws-sdk error names: Step Functions names aws-sdk task errors ``<Service>.<ErrorName>``
  (PascalCase service, ``Exception`` appended) for errors the service models, and
  ``<Service>.<Service>Exception`` for the others, with the message and the status code in
  the cause: SageMaker models no throttling, validation or access-denied error, so those all
  arrive as ``SageMaker.SageMakerException``. moto does exactly this once it knows the
  service's PascalCase name, which its table lacks for ``sagemaker``; the harness adds it.
- aws-sdk parameter case: Step Functions takes PascalCase parameters and returns PascalCase
  keys even for camelCase APIs such as Step Functions' own (``StateMachineArn``,
  ``Executions``); moto 5.2 hands the PascalCase names to boto3 unchanged, so for the ``sfn``
  service the harness converts the parameters to camelCase and the answer back to PascalCase.
- Application Auto Scaling: Step Functions names the service ``applicationautoscaling`` in the
  task ARN (``arn:aws:states:::aws-sdk:applicationautoscaling:registerScalableTarget``) and its
  errors ``ApplicationAutoScaling.<ErrorName>`` (``ApplicationAutoScaling.ValidationException``);
  boto3 calls it ``application-autoscaling``, and moto's tables know neither name. The harness
  adds both (its parameters and answers are PascalCase already).
- JSONPath filters that match nothing: Step Functions evaluates paths with Jayway JsonPath,
  where an indefinite path (a filter such as ``$.ProductionVariants[?(@.VariantName ==
  'x')].CurrentWeight``) yields the array of its matches, empty when nothing matches; moto 5.2
  returns ``[]`` only for wildcards and slices and fails a filter without a match with
  ``States.Runtime``. The harness returns ``[]`` for filters too (a rollout bound to a variant
  the endpoint does not have then ends ``UnexpectedStartingWeights``, as on AWS).
- StopExecution is final: AWS marks a stopped execution ``ABORTED`` at once and for good; moto's
  interpreter stops at the end of the state it is in and may then record that state's failure
  (``FAILED``), a race that a loaded machine loses. The harness sets ``ABORTED`` on stop and
  keeps it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aws_cdk as cdk
import boto3
import boto3.session
from aws_cdk import aws_ec2 as ec2

from sagemaker_constructs import CanaryRollout, InstanceScaling
from sagemaker_constructs.rollout.contract import LOCK_KEY
from sagemaker_constructs.rollout.props import VariantScalingLimits

ACCOUNT = "123456789012"
REGION = "us-east-1"
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com",
}
FAKE_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/rollout-e2e"
#: The lock table every scenario's state machine shares (as the stack's rollouts do).
LOCK_TABLE = "rollout-locks"

#: Every evaluator invocation: (event, answer or None when it raised), in call order.
INVOCATIONS: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
_INVOCATIONS_LOCK = threading.Lock()


# -- synthesis ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RolloutSpec:
    """One CanaryRollout to synthesize, bound to a named endpoint."""

    construct_id: str
    endpoint_name: str
    approval_steps: tuple[int, ...] = ()
    instance_scaling: InstanceScaling | None = None
    #: the imported endpoint's autoscaled variants (``CanaryRollout(variant_scaling=...)``)
    variant_scaling: Mapping[str, VariantScalingLimits] | None = None


@dataclass
class _EndpointRef:
    endpoint_name: str
    endpoint_arn: str


def synthesize_rollouts(
    outdir: str, stack_id: str, specs: Sequence[RolloutSpec], *, baseline: str, canary: str
) -> dict[str, Any]:
    """Synthesize one stack with a CanaryRollout per spec; return its template."""
    app = cdk.App(outdir=outdir)
    stack = cdk.Stack(app, stack_id, env=cdk.Environment(account=ACCOUNT, region=REGION))
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-0123456789abcdef0",
        vpc_cidr_block="10.0.0.0/16",
        availability_zones=["us-east-1a", "us-east-1b"],
        private_subnet_ids=["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    )
    for spec in specs:
        arn = stack.format_arn(
            service="sagemaker", resource="endpoint", resource_name=spec.endpoint_name
        )
        CanaryRollout(
            stack,
            spec.construct_id,
            endpoint=_EndpointRef(spec.endpoint_name, arn),
            baseline_variant=baseline,
            canary_variant=canary,
            vpc=vpc,
            approval_steps=spec.approval_steps,
            instance_scaling=spec.instance_scaling,
            variant_scaling=spec.variant_scaling,
        )
    app.synth()
    with open(f"{outdir}/{stack_id}.template.json") as handle:
        template: dict[str, Any] = json.load(handle)
    return template


# -- template -> definition ---------------------------------------------------------------


def resolve(value: Any, refs: Mapping[str, str], attrs: Mapping[tuple[str, str], str]) -> Any:
    """Resolve Fn::Join / Ref / Fn::GetAtt in ``value`` with the given bindings."""
    if isinstance(value, dict):
        if "Ref" in value:
            name = value["Ref"]
            if name in PSEUDO:
                return PSEUDO[name]
            return refs[name]
        if "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            return attrs[(logical_id, attribute)]
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(str(resolve(p, refs, attrs)) for p in parts)
        return {k: resolve(v, refs, attrs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, refs, attrs) for v in value]
    return value


@dataclass(frozen=True)
class SynthesizedRollout:
    """One CanaryRollout's state machine in a synthesized template."""

    definition_string: Any  # the template's DefinitionString (Fn::Join with tokens)
    state_machine_name: str  # the template's StateMachineName
    endpoint_name: str  # the literal endpoint name the construct was bound to
    evaluator_id: str  # logical id of the evaluator function
    topic_id: str  # logical id of the topic
    lock_table_id: str  # logical id of the stack's lock table
    approval_queue_id: str | None  # logical id of the approval queue (with approval steps)

    def definition_for(
        self,
        *,
        state_machine_name: str,
        endpoint_name: str,
        evaluator_arn: str,
        topic_arn: str,
        lock_table_name: str = LOCK_TABLE,
        approval_queue: tuple[str, str] | None = None,
    ) -> str:
        """The ASL JSON bound to moto resources of one scenario (``approval_queue``: the URL
        and ARN of the queue approval requests go to)."""
        refs = {self.topic_id: topic_arn, self.lock_table_id: lock_table_name}
        attrs = {(self.evaluator_id, "Arn"): evaluator_arn}
        if self.approval_queue_id is not None and approval_queue is not None:
            refs[self.approval_queue_id] = approval_queue[0]
            attrs[(self.approval_queue_id, "Arn")] = approval_queue[1]
        text = resolve(self.definition_string, refs=refs, attrs=attrs)
        assert isinstance(text, str)
        text = text.replace(
            f":stateMachine:{self.state_machine_name}", f":stateMachine:{state_machine_name}"
        )
        return text.replace(self.endpoint_name, endpoint_name)


def find_rollout(
    template: Mapping[str, Any], construct_path_part: str, endpoint_name: str
) -> SynthesizedRollout:
    """Locate the state machine, evaluator and topic of the rollout whose ids contain ``part``."""
    resources = template["Resources"]

    def one(kind: str, part: str = "") -> str:
        ids = [
            logical_id
            for logical_id, resource in resources.items()
            if resource["Type"] == kind and logical_id.startswith(construct_path_part + part)
        ]
        assert len(ids) == 1, (kind, ids)
        return str(ids[0])

    machine = resources[one("AWS::StepFunctions::StateMachine")]["Properties"]
    queues = [
        logical_id
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::SQS::Queue"
        and logical_id.startswith(construct_path_part + "ApprovalRequests")
    ]
    return SynthesizedRollout(
        definition_string=machine["DefinitionString"],
        state_machine_name=machine["StateMachineName"],
        endpoint_name=endpoint_name,
        evaluator_id=one("AWS::Lambda::Function", "Evaluator"),
        topic_id=one("AWS::SNS::Topic"),
        lock_table_id=next(i for i, r in resources.items() if r["Type"] == "AWS::DynamoDB::Table"),
        approval_queue_id=queues[0] if queues else None,
    )


# -- moto adapters ------------------------------------------------------------------------

#: Application Auto Scaling's name in an aws-sdk task ARN.
AUTOSCALING_SFN = "applicationautoscaling"


def patch_moto(handler: Callable[[Any, Any], Any]) -> Callable[[], None]:
    """Apply the adapters described in the module docstring; returns an undo function."""
    from moto.awslambda.models import LambdaFunction
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as aws_sdk,
    )

    original_invoke = LambdaFunction.invoke
    original_eval = aws_sdk.StateTaskServiceAwsSdk._eval_service_task
    # every module starts with no recorded invocation (modules share a test worker's process,
    # and their endpoints may share names)
    with _INVOCATIONS_LOCK:
        INVOCATIONS.clear()

    def eval_service_task(
        self: Any,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> None:
        if self.resource.api_name != "sfn":
            original_eval(
                self, env, resource_runtime_part, normalised_parameters, state_credentials
            )
            return None
        camel = {k[:1].lower() + k[1:]: v for k, v in normalised_parameters.items()}
        original_eval(self, env, resource_runtime_part, camel, state_credentials)
        env.stack.append(_pascal(env.stack.pop()))
        return None

    def invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
        event = json.loads(body) if body else {}
        try:
            result = handler(event, None)
        except Exception as error:  # the Lambda service reports it as a function error
            with _INVOCATIONS_LOCK:
                INVOCATIONS.append((event, None))
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(
                {"errorMessage": str(error), "errorType": type(error).__name__, "stackTrace": []}
            ).encode()
        with _INVOCATIONS_LOCK:
            INVOCATIONS.append((event, result))
        return json.dumps(result).encode()

    LambdaFunction.invoke = invoke  # type: ignore[method-assign]
    aws_sdk.StateTaskServiceAwsSdk._eval_service_task = eval_service_task  # type: ignore[method-assign]
    aws_sdk._SERVICE_ERROR_NAMES["sagemaker"] = "SageMaker"
    aws_sdk._SERVICE_ERROR_NAMES[AUTOSCALING_SFN] = "ApplicationAutoScaling"
    boto_names = aws_sdk.StateTaskServiceAwsSdk._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES
    boto_names[AUTOSCALING_SFN] = "application-autoscaling"
    undo_stop = _stop_is_final()
    undo_filters = _filters_yield_arrays()

    def undo() -> None:
        LambdaFunction.invoke = original_invoke  # type: ignore[method-assign]
        aws_sdk.StateTaskServiceAwsSdk._eval_service_task = original_eval  # type: ignore[method-assign]
        aws_sdk._SERVICE_ERROR_NAMES.pop("sagemaker", None)
        aws_sdk._SERVICE_ERROR_NAMES.pop(AUTOSCALING_SFN, None)
        boto_names.pop(AUTOSCALING_SFN, None)
        undo_stop()
        undo_filters()

    return undo


def _filters_yield_arrays() -> Callable[[], None]:
    """A JSONPath filter without a match yields ``[]``, as Step Functions' Jayway JsonPath."""
    import sys

    # the modules that evaluate Parameters, ResultSelector and Choice paths, loaded first
    from moto.stepfunctions.parser.asl.component.common.string import string_expression  # noqa: F401
    from moto.stepfunctions.parser.asl.utils import json_path

    original = json_path.extract_json

    def extract_json(path: str, data: Any) -> Any:
        try:
            return original(path, data)
        except json_path.NoSuchJsonPathError:
            if "[?(" in path:
                return []
            raise

    patched = [
        module
        for name, module in list(sys.modules.items())
        if name.startswith("moto.stepfunctions.parser")
        and getattr(module, "extract_json", None) is original
    ]
    for module in patched:
        module.extract_json = extract_json  # type: ignore[attr-defined]

    def undo() -> None:
        for module in patched:
            module.extract_json = original  # type: ignore[attr-defined]

    return undo


def _stop_is_final() -> Callable[[], None]:
    """A stopped execution is ABORTED at once and stays so, as in AWS."""
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend import execution as backend

    original_stop = backend.Execution.stop
    original_reflect = backend.BaseExecutionWorkerCommunication._reflect_execution_status

    def stop(self: Any, stop_date: Any, error: Any, cause: Any) -> None:
        self.exec_status = ExecutionStatus.ABORTED
        self.stop_date = stop_date
        original_stop(self, stop_date, error, cause)

    def reflect(self: Any) -> None:
        if self.execution.exec_status == ExecutionStatus.ABORTED:
            return
        original_reflect(self)  # type: ignore[no-untyped-call]

    backend.Execution.stop = stop  # type: ignore[method-assign]
    backend.BaseExecutionWorkerCommunication._reflect_execution_status = reflect  # type: ignore[method-assign]

    def undo() -> None:
        backend.Execution.stop = original_stop  # type: ignore[method-assign]
        backend.BaseExecutionWorkerCommunication._reflect_execution_status = original_reflect  # type: ignore[method-assign]

    return undo


def _pascal(value: Any) -> Any:
    """Keys of an answer in PascalCase, as Step Functions returns aws-sdk results."""
    if isinstance(value, dict):
        return {k[:1].upper() + k[1:]: _pascal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_pascal(v) for v in value]
    return value


def sagemaker_backend() -> Any:
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[ACCOUNT][REGION]


def set_endpoint_status(endpoint_name: str, status: str) -> None:
    sagemaker_backend().endpoints[endpoint_name].endpoint_status = status


# -- resources of one scenario ------------------------------------------------------------


_LOCAL = threading.local()


def clients() -> dict[str, Any]:
    """This thread's clients (boto3's default session must not be shared between threads)."""
    cached: dict[str, Any] | None = getattr(_LOCAL, "clients", None)
    if cached is None:
        session = boto3.session.Session(region_name=REGION)
        cached = {
            name: session.client(name)
            for name in (
                "sagemaker",
                "stepfunctions",
                "cloudwatch",
                "sns",
                "sqs",
                "lambda",
                "iam",
                "dynamodb",
                "application-autoscaling",
            )
        }
        _LOCAL.clients = cached
    return cached


def create_shared(evaluator_name: str = "canary-evaluator") -> str:
    """The IAM role, the lock table and the Lambda function every scenario's state machine
    uses."""
    c = clients()
    c["dynamodb"].create_table(
        TableName=LOCK_TABLE,
        KeySchema=[{"AttributeName": LOCK_KEY, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": LOCK_KEY, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    c["iam"].create_role(
        RoleName="rollout-e2e",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )
    c["sagemaker"].create_model(
        ModelName="model",
        ExecutionRoleArn=FAKE_ROLE_ARN,
        PrimaryContainer={"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/model:1"},
    )
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.py", "# the harness runs canary_evaluator in-process\n")
    function = c["lambda"].create_function(
        FunctionName=evaluator_name,
        Runtime="python3.13",
        Role=FAKE_ROLE_ARN,
        Handler="canary_evaluator.handler.handler",
        Code={"ZipFile": buffer.getvalue()},
    )
    return str(function["FunctionArn"])


def create_endpoint(
    name: str, baseline: str, canary: str, *, instances: tuple[int, int] = (1, 1)
) -> None:
    """A moto endpoint with the two variants (``instances``: the baseline's and the canary's
    InitialInstanceCount); all traffic on the baseline."""
    sm = clients()["sagemaker"]
    sm.create_endpoint_config(
        EndpointConfigName=f"{name}-config",
        ProductionVariants=[
            {
                "VariantName": variant,
                "ModelName": "model",
                "InitialInstanceCount": count,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": weight,
            }
            for variant, weight, count in (
                (baseline, 100.0, instances[0]),
                (canary, 0.0, instances[1]),
            )
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")
    # SageMaker reports every variant's CurrentWeight; moto 5.2 omits it for a variant created
    # at weight 0 (a falsy check). Setting the weights once makes moto report both, as AWS does.
    sm.update_endpoint_weights_and_capacities(
        EndpointName=name,
        DesiredWeightsAndCapacities=[
            {"VariantName": baseline, "DesiredWeight": 100.0},
            {"VariantName": canary, "DesiredWeight": 0.0},
        ],
    )


def weights(endpoint_name: str) -> dict[str, float]:
    """CurrentWeight per variant (moto leaves it out while a variant was created at 0)."""
    described = clients()["sagemaker"].describe_endpoint(EndpointName=endpoint_name)
    return {
        v["VariantName"]: float(v.get("CurrentWeight", 0.0))
        for v in described["ProductionVariants"]
    }


def status_change_event(execution_arn: str) -> dict[str, Any]:
    """The EventBridge event Step Functions sends when ``execution_arn`` ended (moto sends
    none: the harness plays EventBridge for the guard)."""
    described = clients()["stepfunctions"].describe_execution(executionArn=execution_arn)
    detail = {
        "executionArn": execution_arn,
        "stateMachineArn": described["stateMachineArn"],
        "status": described["status"],
    }
    for key in ("error", "cause"):
        if described.get(key):
            detail[key] = described[key]
    return {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": detail,
    }


def lock_holder(endpoint_name: str) -> str | None:
    """The execution holding ``endpoint_name``'s lock, if any."""
    item = (
        clients()["dynamodb"]
        .get_item(TableName=LOCK_TABLE, Key={LOCK_KEY: {"S": endpoint_name}}, ConsistentRead=True)
        .get("Item")
    )
    return None if item is None else str(item["execution_arn"]["S"])


def backend_weights(endpoint_name: str) -> dict[str, float]:
    """CurrentWeight per variant, read from moto's backend (cheap enough for every tick)."""
    endpoint = sagemaker_backend().endpoints[endpoint_name]
    return {
        str(v["VariantName"]): float(v.get("CurrentWeight") or 0.0)
        for v in endpoint.production_variants
    }


@dataclass
class Inbox:
    """An SQS queue subscribed (raw delivery) to a scenario's topic, and the scenario's
    approval queue (the requests with their task tokens)."""

    topic_arn: str
    queue_url: str
    approvals_url: str
    approvals_arn: str
    seen: list[dict[str, Any]] = field(default_factory=list)
    #: the approval requests read from the approval queue
    requests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def approval_queue(self) -> tuple[str, str]:
        return self.approvals_url, self.approvals_arn

    def approval_request(self, timeout: float = 90.0) -> dict[str, Any]:
        """The next approval request of the approval queue (deleted once read)."""
        sqs = clients()["sqs"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = sqs.receive_message(QueueUrl=self.approvals_url).get("Messages", [])
            for message in batch:
                sqs.delete_message(
                    QueueUrl=self.approvals_url, ReceiptHandle=message["ReceiptHandle"]
                )
                self.requests.append(json.loads(message["Body"]))
                return self.requests[-1]
            time.sleep(0.2)
        raise TimeoutError(f"no approval request in {self.approvals_url}")

    @classmethod
    def create(cls, name: str) -> Inbox:
        c = clients()
        topic_arn = c["sns"].create_topic(Name=name)["TopicArn"]
        queue_url = c["sqs"].create_queue(QueueName=name)["QueueUrl"]
        queue_arn = c["sqs"].get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        c["sns"].subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        approvals_url = c["sqs"].create_queue(QueueName=f"{name}-approvals")["QueueUrl"]
        approvals_arn = c["sqs"].get_queue_attributes(
            QueueUrl=approvals_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        return cls(
            topic_arn=topic_arn,
            queue_url=queue_url,
            approvals_url=approvals_url,
            approvals_arn=approvals_arn,
        )

    def drain(self) -> list[dict[str, Any]]:
        sqs = clients()["sqs"]
        while True:
            answer = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            batch = answer.get("Messages", [])
            if not batch:
                return self.seen
            for message in batch:
                self.seen.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def wait_for(self, event: str, timeout: float = 90.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.drain():
                if message.get("event") == event:
                    return message
            time.sleep(0.2)
        raise TimeoutError(f"no {event} message on {self.topic_arn}: {self.seen}")

    def events(self) -> list[str]:
        return [str(m.get("event")) for m in self.drain()]


@dataclass
class Outcome:
    status: str
    error: str | None
    cause: str | None
    output: Any
    weights: dict[str, float]
    events: list[str]
    history: list[dict[str, Any]]
    messages: list[dict[str, Any]] = field(default_factory=list)
    #: the approval requests read from the scenario's approval queue
    approval_requests: list[dict[str, Any]] = field(default_factory=list)
    #: who held the endpoint's lock once the execution had ended
    lock_holder: str | None = None

    def entered(self, state_name: str) -> int:
        """How many times the execution entered ``state_name``."""
        return self.count_entered(self.history, state_name)

    @staticmethod
    def count_entered(events: list[dict[str, Any]], state_name: str) -> int:
        return sum(
            1
            for event in events
            if event.get("stateEnteredEventDetails", {}).get("name") == state_name
        )

    def task_errors(self) -> list[str]:
        return [
            str(event["taskFailedEventDetails"].get("error"))
            for event in self.history
            if "taskFailedEventDetails" in event
        ]


def create_state_machine(name: str, definition: str) -> str:
    sfn = clients()["stepfunctions"]
    return str(
        sfn.create_state_machine(name=name, definition=definition, roleArn=FAKE_ROLE_ARN)[
            "stateMachineArn"
        ]
    )


def start(state_machine_arn: str, execution_input: Any) -> str:
    sfn = clients()["stepfunctions"]
    return str(
        sfn.start_execution(
            stateMachineArn=state_machine_arn,
            name=f"rollout-{uuid.uuid4().hex[:12]}",  # moto 5.2 would name every execution "None"
            input=json.dumps(execution_input),
        )["executionArn"]
    )


def wait_until_running(execution_arn: str, timeout: float = 10.0) -> None:
    sfn = clients()["stepfunctions"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING":
            return
        time.sleep(0.05)
    raise TimeoutError(execution_arn)


def history(execution_arn: str) -> list[dict[str, Any]]:
    sfn = clients()["stepfunctions"]
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def finish(
    execution_arn: str, endpoint_name: str, inbox: Inbox | None, timeout: float = 90.0
) -> Outcome:
    """Wait for the execution to end; collect its result, the weights and the messages."""
    sfn = clients()["stepfunctions"]
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    output = described.get("output")
    messages = inbox.drain() if inbox else []
    return Outcome(
        status=str(described["status"]),
        error=described.get("error"),
        cause=described.get("cause"),
        output=json.loads(output) if output else None,
        weights=weights(endpoint_name),
        events=[str(m.get("event")) for m in messages],
        history=history(execution_arn),
        messages=list(messages),
        approval_requests=list(inbox.requests) if inbox else [],
        lock_holder=lock_holder(endpoint_name),
    )


def invocations_for(endpoint_name: str) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    with _INVOCATIONS_LOCK:
        return [(e, r) for e, r in INVOCATIONS if e.get("endpoint_name") == endpoint_name]
