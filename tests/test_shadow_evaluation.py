"""ShadowEvaluation: synthesized resources, least privilege (nothing that moves traffic),
compliance, the definition's shape, and every validation rule.

One app is synthesized for the module (with the four cdk-nag packs: an unacknowledged finding
fails the fixture). Validation tests construct in a fresh stack without synthesizing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template
from cdk_testing import cfn_lint
from rollout_harness import resolve

from canary_evaluator import rollout_input, shadow_input
from canary_evaluator.handler import validate_input
from sagemaker_constructs.compliance import acknowledge_wildcard_resources, add_compliance_checks
from sagemaker_constructs.endpoint import Endpoint, ProductionVariant
from sagemaker_constructs.model import ContainerDefinition, ContainerImage, Model
from sagemaker_constructs.roles import ScopedRole
from sagemaker_constructs.rollout import CanaryRollout, ShadowEvaluation
from sagemaker_constructs.rollout.contract import (
    EVALUATOR_INVALID_EVENT,
    SHADOW_INPUT_KEYS,
    SHADOW_VALIDATE_KEY,
    TAG_BASELINE,
    TAG_CANARY,
    TAG_ENDPOINT,
    TAG_PRODUCTION_VARIANT,
    TAG_SHADOW_ENDPOINT,
    TAG_SHADOW_VARIANT,
    ShadowErrors,
    ShadowEvents,
    ShadowStates,
)
from sagemaker_constructs.rollout.definition import SAGEMAKER_UNMODELLED_ERRORS
from sagemaker_constructs.rollout.shadow.validation import shadow_history_events

ENV = cdk.Environment(account="111111111111", region="us-east-1")


@dataclass
class EndpointRef:
    endpoint_name: str
    endpoint_arn: str


@dataclass
class KnownEndpoint(EndpointRef):
    """An endpoint that knows its variants at synth time (as an ``Endpoint`` does)."""

    variant_names: list[str] = field(default_factory=list)
    shadow_variant_names: list[str] = field(default_factory=list)


def _endpoint(stack: cdk.Stack, name: str) -> EndpointRef:
    return EndpointRef(
        name, stack.format_arn(service="sagemaker", resource="endpoint", resource_name=name)
    )


def _vpc(stack: cdk.Stack, cidr: str | None = "10.0.0.0/16") -> ec2.IVpc:
    return ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-0123456789abcdef0",
        vpc_cidr_block=cidr,
        availability_zones=["us-east-1a", "us-east-1b"],
        private_subnet_ids=["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    )


@dataclass
class Synthesized:
    template: Template
    raw: dict[str, Any]
    shadow: ShadowEvaluation
    tuned: ShadowEvaluation
    run_grant: iam.Grant


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    outdir = tmp_path_factory.mktemp("shadow-evaluation")
    app = cdk.App(outdir=str(outdir))
    add_compliance_checks(app)
    stack = cdk.Stack(app, "Shadows", env=ENV)
    vpc = _vpc(stack)
    # GIVEN an evaluation with every default ...
    shadow = ShadowEvaluation(
        stack,
        "Shadow",
        endpoint=_endpoint(stack, "churn"),
        production_variant="Current",
        shadow_variant="Candidate",
        vpc=vpc,
    )
    # ... one with a given topic, an alarm and its own schedule ...
    key = kms.Key(stack, "TeamKey", enable_key_rotation=True)
    topic = sns.Topic(stack, "TeamTopic", master_key=key, enforce_ssl=True)
    business = cloudwatch.Alarm(
        stack,
        "Conversions",
        alarm_name="conversions-dropped",
        metric=cloudwatch.Metric(namespace="Shop", metric_name="Conversions"),
        threshold=1,
        evaluation_periods=1,
    )
    business.add_alarm_action(cw_actions.SnsAction(topic))
    tuned = ShadowEvaluation(
        stack,
        "Tuned",
        endpoint=_endpoint(stack, "fraud"),
        production_variant="Blue",
        shadow_variant="Green",
        vpc=vpc,
        bake_time=cdk.Duration.hours(2),
        interval=cdk.Duration.minutes(2),
        max_extensions=10,
        poll_interval=cdk.Duration.seconds(20),
        max_polls=30,
        policy={"min_canary_invocations": 500, "alarm_names": ["latency-slo"]},
        alarms=[business],
        topic=topic,
        log_retention_days=90,
        state_machine_name="fraud-shadow",
        evaluator_reserved_concurrency=2,
    )
    # ... and a rollout of the same endpoint beside them (same evaluator code)
    CanaryRollout(
        stack,
        "Rollout",
        endpoint=_endpoint(stack, "churn"),
        baseline_variant="Current",
        canary_variant="Candidate",
        vpc=vpc,
        dynamodb_prefix_list_id="pl-02cd2c6b",
    )
    pipeline = ScopedRole(
        stack, "PipelineRole", assumed_by=iam.AccountRootPrincipal(), description="pipeline"
    )
    run_grant = shadow.grant_run(pipeline.grantee)
    acknowledge_wildcard_resources(pipeline.policy, "execution names are chosen at start time")
    # WHEN the app is synthesized with the compliance packs (a finding raises here)
    app.synth()
    raw = json.loads((outdir / "Shadows.template.json").read_text())
    return Synthesized(Template.from_json(raw), raw, shadow, tuned, run_grant)


def _resources(raw: dict[str, Any], kind: str, prefix: str = "") -> dict[str, Any]:
    return {
        logical_id: resource
        for logical_id, resource in raw["Resources"].items()
        if resource["Type"] == kind and logical_id.startswith(prefix)
    }


def _logical_id(raw: dict[str, Any], prefix: str, kind: str = "AWS::CloudWatch::Alarm") -> str:
    (logical_id,) = _resources(raw, kind, prefix)
    return str(logical_id)


def _one(raw: dict[str, Any], kind: str, prefix: str) -> dict[str, Any]:
    found = _resources(raw, kind, prefix)
    assert len(found) == 1, (kind, prefix, list(found))
    return next(iter(found.values()))


class _RefNames(dict[str, str]):
    def __missing__(self, logical_id: str) -> str:
        return f"ref:{logical_id}"


class _AttributeNames(dict[tuple[str, str], str]):
    def __missing__(self, key: tuple[str, str]) -> str:
        return ".".join(key)


def _readable(value: Any) -> Any:
    """``value`` with every token written out: ``Ref`` -> ``ref:<id>``, ``GetAtt`` ->
    ``<id>.<attribute>``, pseudo parameters by their values."""
    return resolve(value, _RefNames(), _AttributeNames())


def _definition(raw: dict[str, Any], prefix: str) -> dict[str, Any]:
    machine = _one(raw, "AWS::StepFunctions::StateMachine", prefix)
    return json.loads(_readable(machine["Properties"]["DefinitionString"]))  # type: ignore[no-any-return]


def _all_states(definition: dict[str, Any]) -> dict[str, Any]:
    """Every state, those inside the one-branch Parallel states included."""
    states = dict(definition["States"])
    for name, state in list(states.items()):
        for branch in state.get("Branches", []):
            states.update({f"{name}/{k}": v for k, v in branch["States"].items()})
    return states


def _policy_statements(raw: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    policy = _one(raw, "AWS::IAM::ManagedPolicy", prefix)
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# -- the state machine ----------------------------------------------------------------------


def test_state_machine_is_standard_logged_all_traced_and_encrypted(
    synthesized: Synthesized,
) -> None:
    synthesized.template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineName": "fraud-shadow",
            "StateMachineType": "STANDARD",
            "LoggingConfiguration": {
                "Level": "ALL",
                "IncludeExecutionData": True,
                "Destinations": [{"CloudWatchLogsLogGroup": {"LogGroupArn": Match.any_value()}}],
            },
            "TracingConfiguration": {"Enabled": True},
            "EncryptionConfiguration": Match.object_like(
                {"Type": "CUSTOMER_MANAGED_KMS_KEY", "KmsKeyId": Match.any_value()}
            ),
        },
    )
    machine = _one(synthesized.raw, "AWS::StepFunctions::StateMachine", "Shadow")
    assert machine["Properties"]["StateMachineName"] == synthesized.shadow.state_machine_name
    assert any("RolePolicy" in d for d in machine["DependsOn"])


def test_definition_carries_the_construct_defaults(synthesized: Synthesized) -> None:
    defaults = _definition(synthesized.raw, "Shadow")["States"][ShadowStates.START]["Result"]
    assert defaults == {
        "defaults": {
            "bake_seconds": 1800,
            "interval_seconds": 60,
            "max_extensions": 5,
            "poll_seconds": 30,
            "max_polls": 60,
            "policy": {},
        }
    }
    tuned = _definition(synthesized.raw, "Tuned")["States"][ShadowStates.START]["Result"]
    assert tuned["defaults"] == {
        "bake_seconds": 7200,
        "interval_seconds": 120,
        "max_extensions": 10,
        "poll_seconds": 20,
        "max_polls": 30,
        "policy": {
            "min_canary_invocations": 500,
            "alarm_names": ["latency-slo", f"ref:{_logical_id(synthesized.raw, 'Conversions')}"],
        },
    }


def test_the_defaults_pass_the_check_every_execution_input_gets(synthesized: Synthesized) -> None:
    for prefix in ("Shadow", "Tuned"):
        defaults = _definition(synthesized.raw, prefix)["States"][ShadowStates.START]["Result"]
        answer = validate_input({SHADOW_VALIDATE_KEY: {}, "defaults": defaults["defaults"]})
        assert answer["config"] == defaults["defaults"]


def test_every_transition_targets_an_existing_state_and_every_state_is_reachable(
    synthesized: Synthesized,
) -> None:
    definition = _definition(synthesized.raw, "Shadow")
    states = definition["States"]
    reached: set[str] = set()
    todo = [definition["StartAt"]]
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        assert name in states, f"transition to missing state {name!r}"
        reached.add(name)
        state = states[name]
        todo += [state[k] for k in ("Next", "Default") if k in state]
        todo += [c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])]
    assert reached == set(states)


def test_every_ending_is_named(synthesized: Synthesized) -> None:
    states = _definition(synthesized.raw, "Shadow")["States"]
    errors = {s.get("Error") for s in states.values() if s["Type"] == "Fail"}
    assert errors == {
        ShadowErrors.INVALID_INPUT,
        ShadowErrors.NOT_READY,
        ShadowErrors.EVALUATION_FAILED,
        ShadowErrors.FAILED,
        ShadowErrors.INCONCLUSIVE,
    }
    (succeed,) = [s for s in states.values() if s["Type"] == "Succeed"]
    assert succeed["OutputPath"] == "$.result"  # the verdict, reasons and checks


def test_the_verdict_decides_as_the_rollouts_bake_does(synthesized: Synthesized) -> None:
    """FAIL ends at once; before the bake's end -> wait; PASS; extend; then INCONCLUSIVE."""
    verdict = _definition(synthesized.raw, "Shadow")["States"]["Verdict?"]
    fail, bake_on, passed, extend = verdict["Choices"]
    assert (fail["StringEquals"], fail["Next"]) == ("FAIL", ShadowStates.FAILED)
    assert bake_on["NumericLessThanPath"] == "$.config.bake_seconds"
    assert bake_on["Next"] == "Bake Wait"
    assert (passed["StringEquals"], passed["Next"]) == ("PASS", ShadowStates.PASSED)
    assert extend["NumericLessThanPath"] == "$.config.max_extensions"
    assert extend["Next"] == ShadowStates.EXTEND
    assert verdict["Default"] == ShadowStates.INCONCLUSIVE


def test_the_evaluator_judges_the_shadow_against_production_from_the_windows_start(
    synthesized: Synthesized,
) -> None:
    states = _definition(synthesized.raw, "Shadow")["States"]
    event = states["Set Up"]["Parameters"]["event"]
    assert (event["baseline_variant"], event["canary_variant"]) == ("Current", "Candidate")
    assert states["Set Up"]["Parameters"]["reference"] == {}  # production is always live
    window = states[ShadowStates.START_WINDOW]["Parameters"]["window"]
    assert window == {"window_start.$": "$$.State.EnteredTime"}  # no baseline_weight
    evaluate = states[ShadowStates.EVALUATE]
    assert "$.bake.window" in evaluate["Parameters"]["Payload.$"]
    assert evaluate["ResultSelector"]["checks.$"] == "$.Payload.checks"
    assert {"Lambda.ServiceException", "Lambda.TooManyRequestsException"} <= set(
        evaluate["Retry"][0]["ErrorEquals"]
    )
    assert evaluate["Catch"][0]["Next"] == "Notify Error"


def test_the_input_is_checked_by_the_evaluator_with_the_shadow_rules(
    synthesized: Synthesized,
) -> None:
    states = _definition(synthesized.raw, "Shadow")["States"]
    validate = states[ShadowStates.VALIDATE_INPUT]
    assert states[ShadowStates.START]["Next"] == ShadowStates.VALIDATE_INPUT
    assert validate["Resource"] == "arn:aws:states:::lambda:invoke"
    assert validate["Parameters"]["Payload"][f"{SHADOW_VALIDATE_KEY}.$"] == "$$.Execution.Input"
    assert validate["Catch"][0]["ErrorEquals"] == [EVALUATOR_INVALID_EVENT]
    assert states[validate["Catch"][0]["Next"]]["Error"] == ShadowErrors.INVALID_INPUT


def test_the_shadow_variant_must_be_listed_before_anything_is_judged(
    synthesized: Synthesized,
) -> None:
    """DescribeEndpoint leaves ShadowProductionVariants out of an endpoint without one; a
    JSONPath into an absent key fails the execution uncaught, so presence is tested first."""
    states = _definition(synthesized.raw, "Shadow")["States"]
    assert states[f"{ShadowStates.BEFORE_EVALUATION} InService?"]["Choices"][0]["Next"] == (
        ShadowStates.DESCRIBE_VARIANTS
    )
    listed = states["Variants Listed?"]["Choices"][0]
    assert {(r["Variable"], r["IsPresent"]) for r in listed["And"]} == {
        ("$.variants.response.ProductionVariants", True),
        ("$.variants.response.ShadowProductionVariants", True),
    }
    found = states["Find Variants"]["Parameters"]
    assert "[?(@.VariantName == 'Candidate')]" in found["shadow.$"]
    assert "[?(@.VariantName == 'Current')]" in found["production.$"]
    assert states["Variants Found?"]["Choices"][0]["Next"] == "Notify Started"
    assert states["Variants Found?"]["Default"] == "Variants Missing"
    # DescribeEndpoint's throttling is retried as the rollout's calls are
    (branch,) = states[ShadowStates.DESCRIBE_VARIANTS]["Branches"]
    call = branch["States"][branch["StartAt"]]
    assert call["Catch"][0]["ErrorEquals"] == list(SAGEMAKER_UNMODELLED_ERRORS)


def test_notifications_on_start_verdict_and_error_only(synthesized: Synthesized) -> None:
    states = _definition(synthesized.raw, "Shadow")["States"]
    messages = [
        s["Parameters"]["Message"]
        for s in states.values()
        if s["Type"] == "Task" and s["Resource"] == "arn:aws:states:::sns:publish"
    ]
    assert sorted(m["event"] for m in messages) == sorted(
        [ShadowEvents.STARTED, ShadowEvents.ERROR] + [ShadowEvents.VERDICT] * 3
    )
    for message in messages:  # the rollout's message format
        assert {"endpoint_name", "baseline_variant", "canary_variant", "execution_arn.$"} <= set(
            message
        )
    verdicts = [m for m in messages if m["event"] == ShadowEvents.VERDICT]
    assert all({"verdict.$", "reasons.$", "checks.$"} <= set(m) for m in verdicts)


# -- least privilege: nothing that moves traffic ----------------------------------------------

#: The IAM action of each Step Functions integration a shadow evaluation may use (the Step
#: Functions developer guide's IAM policies for integrated services).
TASK_ACTIONS = {
    "arn:aws:states:::lambda:invoke": "lambda:InvokeFunction",
    "arn:aws:states:::sns:publish": "sns:Publish",
    "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint": "sagemaker:DescribeEndpoint",
}
NON_TASK_SIDS = {
    "LogDeliveryAndXRay",
    "EncryptNotifications",
    "EncryptExecutionData",
    "EncryptLoggedExecutionData",
}


def _task_calls(raw: dict[str, Any], prefix: str) -> set[tuple[str, str]]:
    calls = set()
    for name, state in _all_states(_definition(raw, prefix)).items():
        if state["Type"] != "Task":
            continue
        assert state["Resource"] in TASK_ACTIONS, (name, state["Resource"])
        parameters = state["Parameters"]
        if "EndpointName" in parameters:
            resource = (
                f"arn:aws:sagemaker:{ENV.region}:{ENV.account}:endpoint/"
                + (parameters["EndpointName"])
            )
        else:
            (resource,) = (parameters[k] for k in ("FunctionName", "TopicArn") if k in parameters)
        calls.add((TASK_ACTIONS[state["Resource"]], resource))
    return calls


@pytest.mark.parametrize("prefix", ["Shadow", "Tuned"])
def test_the_role_grants_exactly_what_the_tasks_call_and_nothing_that_changes_the_endpoint(
    synthesized: Synthesized, prefix: str
) -> None:
    statements = _policy_statements(synthesized.raw, f"{prefix}RolePolicy")
    granted = {
        (action, _readable(resource))
        for statement in statements
        if statement["Sid"] not in NON_TASK_SIDS
        for action in _as_list(statement["Action"])
        for resource in _as_list(statement["Resource"])
    }
    calls = _task_calls(synthesized.raw, prefix)
    assert calls - granted == set(), "a task calls an API its role does not grant"
    assert granted - calls == set(), "the role grants a task permission no task uses"
    assert {action for action, _ in calls} == {
        "lambda:InvokeFunction",
        "sagemaker:DescribeEndpoint",
        "sns:Publish",
    }
    everything = json.dumps(statements)
    assert "UpdateEndpoint" not in everything
    assert "dynamodb:" not in everything  # no lock: nothing is changed
    unscoped = _policy_statements(synthesized.raw, f"{prefix}RoleUnscopedPolicy")
    assert [s["Sid"] for s in unscoped] == ["LogDeliveryAndXRay"]


def test_no_inline_policies_and_no_wildcard_actions(synthesized: Synthesized) -> None:
    assert _resources(synthesized.raw, "AWS::IAM::Policy") == {}
    for policy in _resources(synthesized.raw, "AWS::IAM::ManagedPolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            for action in _as_list(statement["Action"]):
                assert action != "*"
                assert not action.endswith(":*"), action


def test_the_evaluator_is_the_rollouts_code_with_its_own_least_privilege_role(
    synthesized: Synthesized,
) -> None:
    shadow = _one(synthesized.raw, "AWS::Lambda::Function", "ShadowEvaluator")["Properties"]
    rollout = _one(synthesized.raw, "AWS::Lambda::Function", "RolloutEvaluator")["Properties"]
    assert shadow["Handler"] == rollout["Handler"] == "canary_evaluator.handler.handler"
    assert shadow["Code"] == rollout["Code"]  # the same asset
    assert shadow["Runtime"] == rollout["Runtime"]
    assert shadow["ReservedConcurrentExecutions"] == 5
    tuned_function = _one(synthesized.raw, "AWS::Lambda::Function", "TunedEvaluator")
    assert tuned_function["Properties"]["ReservedConcurrentExecutions"] == 2
    assert shadow["TracingConfig"] == {"Mode": "Active"}
    assert "shadow variant" in shadow["Description"]
    unscoped = {
        s["Sid"]: s for s in _policy_statements(synthesized.raw, "ShadowEvaluatorRoleUnscoped")
    }
    assert unscoped["ReadMetrics"]["Action"] == "cloudwatch:GetMetricData"
    tuned = {s["Sid"]: s for s in _policy_statements(synthesized.raw, "TunedEvaluatorRolePolicy")}
    alarms = json.dumps(tuned["DescribeWatchedAlarms"]["Resource"])
    assert "alarm:latency-slo" in alarms
    assert "alarm:*" not in alarms


def test_grant_run_starts_and_reads_this_state_machines_executions_only(
    synthesized: Synthesized,
) -> None:
    granted = synthesized.run_grant.principal_statements
    assert len(granted) == 3
    actions = {a for statement in granted for a in statement.actions}
    assert actions == {
        "states:StartExecution",
        "states:ListExecutions",
        "states:DescribeStateMachine",
        "states:ListTagsForResource",
        "states:DescribeExecution",
        "states:GetExecutionHistory",
        "states:StopExecution",
        "kms:Decrypt",
    }
    statements = _policy_statements(synthesized.raw, "PipelineRolePolicy")
    text = json.dumps(statements)
    assert "execution:Shadows-Shadow-" in text
    assert "UpdateEndpoint" not in text


# -- tags, logs, topic, alarm -------------------------------------------------------------------


def test_tags_bind_the_state_machine_and_never_pass_it_for_a_rollout(
    synthesized: Synthesized,
) -> None:
    machine = _one(synthesized.raw, "AWS::StepFunctions::StateMachine", "Shadow")
    tags = {t["Key"]: t["Value"] for t in machine["Properties"]["Tags"]}
    assert tags[TAG_SHADOW_ENDPOINT] == "churn"
    assert tags[TAG_PRODUCTION_VARIANT] == "Current"
    assert tags[TAG_SHADOW_VARIANT] == "Candidate"
    # sagemaker-rollout --endpoint finds rollouts by these: the rollout of the same endpoint
    # must stay the only one it finds
    assert not {TAG_ENDPOINT, TAG_BASELINE, TAG_CANARY} & set(tags)


def test_log_groups_are_kms_encrypted_with_retention(synthesized: Synthesized) -> None:
    for prefix, days in (("Shadow", 365), ("Tuned", 90)):
        groups = _resources(synthesized.raw, "AWS::Logs::LogGroup", prefix)
        assert len(groups) == 2  # the state machine's and the evaluator's
        for group in groups.values():
            assert "KmsKeyId" in group["Properties"]
            assert group["Properties"]["RetentionInDays"] == days


def test_created_topic_is_encrypted_and_a_given_topic_is_used_as_is(
    synthesized: Synthesized,
) -> None:
    topic = _one(synthesized.raw, "AWS::SNS::Topic", "ShadowTopic")
    assert "KmsMasterKeyId" in topic["Properties"]
    assert _resources(synthesized.raw, "AWS::SNS::Topic", "Tuned") == {}
    assert _resources(synthesized.raw, "AWS::KMS::Key", "Shadow")
    tuned_topic = _definition(synthesized.raw, "Tuned")["States"]["Notify Started"]
    topic_id = _logical_id(synthesized.raw, "TeamTopic", "AWS::SNS::Topic")
    assert tuned_topic["Parameters"]["TopicArn"] == f"ref:{topic_id}"


def test_failed_executions_raise_an_alarm_on_the_topic(synthesized: Synthesized) -> None:
    alarm = _one(synthesized.raw, "AWS::CloudWatch::Alarm", "ShadowExecutionsFailedAlarm")
    properties = alarm["Properties"]
    assert (properties["Namespace"], properties["MetricName"]) == ("AWS/States", "ExecutionsFailed")
    assert (
        properties["AlarmActions"]
        == properties["OKActions"]
        == [{"Ref": next(iter(_resources(synthesized.raw, "AWS::SNS::Topic", "ShadowTopic")))}]
    )
    assert synthesized.shadow.alarms == [synthesized.shadow.executions_failed_alarm]


def test_template_passes_cfn_lint(synthesized: Synthesized) -> None:
    assert cfn_lint(synthesized.raw, "us-east-1") == []


def test_public_attributes(synthesized: Synthesized) -> None:
    shadow = synthesized.shadow
    assert shadow.state_machine.node.id == "Resource"
    assert shadow.grant_principal is shadow.role
    assert shadow.metric_executions_failed().metric_name == "ExecutionsFailed"
    assert shadow.metric_executions_succeeded().metric_name == "ExecutionsSucceeded"
    assert shadow.metric_executions_started().metric_name == "ExecutionsStarted"
    assert shadow.connections.security_groups
    assert (shadow.production_variant, shadow.shadow_variant) == ("Current", "Candidate")


# -- the evaluator's rules for an execution's input --------------------------------------------

_DEFAULTS = {
    "bake_seconds": 1800,
    "interval_seconds": 60,
    "max_extensions": 5,
    "poll_seconds": 30,
    "max_polls": 60,
    "policy": {"min_canary_invocations": 200},
}


def test_an_execution_input_overrides_the_defaults_and_merges_the_policy() -> None:
    config = shadow_input.check_shadow_input(
        {"bake_seconds": 600, "policy": {"latency": {"statistic": "p90"}}}, _DEFAULTS
    )
    assert config["bake_seconds"] == 600
    assert config["policy"] == {"min_canary_invocations": 200, "latency": {"statistic": "p90"}}
    assert shadow_input.check_shadow_input(None, _DEFAULTS) == _DEFAULTS
    assert SHADOW_INPUT_KEYS == ("bake_seconds", "interval_seconds", "max_extensions", "policy")


@pytest.mark.parametrize(
    ("execution_input", "problem"),
    [
        ({"steps": [5, 100]}, "steps: unknown key (got [5, 100]); allowed keys: bake_seconds"),
        ({"poll_seconds": 1}, "poll_seconds: unknown key"),
        (
            {"bake_seconds": 60, "interval_seconds": 120},
            "interval_seconds: got 120; allowed: at most bake_seconds (60)",
        ),
        ({"interval_seconds": 0}, "interval_seconds: got 0; allowed: an integer from 1 to 3600"),
        ({"max_extensions": True}, "max_extensions: got True"),
        ({"policy": "strict"}, "policy: got 'strict'; allowed: an object"),
        ({"policy": {"latency": {"statistic": "p101"}}}, "policy.latency.statistic: got 'p101'"),
        ({"bake_seconds": 7 * 86400, "interval_seconds": 60}, "history events in the worst case"),
        ([1, 2], "allowed: a JSON object"),
    ],
)
def test_an_invalid_execution_input_is_rejected_with_every_problem(
    execution_input: Any, problem: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        shadow_input.check_shadow_input(execution_input, _DEFAULTS)


def test_the_shadow_history_budget_is_the_rollouts() -> None:
    assert shadow_input.shadow_history_events(
        bake_seconds=1800, interval_seconds=60, max_extensions=5, max_polls=60
    ) == (
        rollout_input.EVENTS_FIXED
        + 60 * rollout_input.EVENTS_PER_POLL
        + (30 + 1 + 5) * rollout_input.EVENTS_PER_EVALUATION
    )
    assert (
        shadow_history_events(
            bake_seconds=1800, interval_seconds=60, max_extensions=5, max_polls=60
        )
        < rollout_input.HISTORY_EVENT_BUDGET
    )


# -- validation (fresh stack, no synth) ---------------------------------------------------------


def _build(**overrides: Any) -> ShadowEvaluation:
    stack = cdk.Stack(env=ENV)
    props: dict[str, Any] = {
        "endpoint": _endpoint(stack, "churn"),
        "production_variant": "Current",
        "shadow_variant": "Candidate",
        "vpc": _vpc(stack),
    }
    props.update(overrides)
    return ShadowEvaluation(stack, "Shadow", **props)


def test_fails_when_interval_is_below_one_minute() -> None:
    with pytest.raises(ValueError, match=r"interval=30: must be between 60 and 3600 seconds"):
        _build(interval=cdk.Duration.seconds(30))


def test_fails_when_bake_time_is_shorter_than_the_interval() -> None:
    with pytest.raises(
        ValueError, match=r"bake_time, interval='120 s, 300 s': bake_time must be at least interval"
    ):
        _build(bake_time=cdk.Duration.minutes(2), interval=cdk.Duration.minutes(5))


def test_fails_when_an_evaluation_could_outgrow_the_execution_history() -> None:
    with pytest.raises(
        ValueError,
        match=r"bake_time, interval, max_extensions, max_polls='172800 s, 60 s, 5, 60': an "
        r"evaluation could take \d+ history events, more than the 20000 allowed",
    ):
        _build(bake_time=cdk.Duration.days(2))


def test_fails_when_the_variants_are_the_same() -> None:
    with pytest.raises(ValueError, match=r"shadow_variant='Same': must differ from production"):
        _build(production_variant="Same", shadow_variant="Same")


@pytest.mark.parametrize("name", ["bad_name", "-lead", "x" * 64])
def test_fails_on_invalid_variant_names(name: str) -> None:
    with pytest.raises(ValueError, match=r"shadow_variant="):
        _build(shadow_variant=name)


def _known(stack: cdk.Stack, production: list[str], shadows: list[str]) -> KnownEndpoint:
    ref = _endpoint(stack, "known")
    return KnownEndpoint(ref.endpoint_name, ref.endpoint_arn, production, shadows)


@pytest.mark.parametrize(
    ("production", "shadows", "pattern"),
    [
        (
            ["Blue"],
            ["Candidate"],
            r"production_variant='Current': must be a production variant "
            r"of the endpoint \(Blue\)",
        ),
        (
            ["Current", "Candidate"],
            [],
            r"shadow_variant='Candidate': is a production variant of "
            "the endpoint: it serves callers",
        ),
        (
            ["Current"],
            ["Green"],
            r"shadow_variant='Candidate': must be a shadow variant of the "
            r"endpoint \(Green\)",
        ),
        (["Current"], [], r"must be a shadow variant of the endpoint \(it has none\)"),
    ],
)
def test_an_endpoint_that_knows_its_variants_is_checked(
    production: list[str], shadows: list[str], pattern: str
) -> None:
    stack = cdk.Stack(env=ENV)
    with pytest.raises(ValueError, match=pattern):
        ShadowEvaluation(
            stack,
            "Shadow",
            endpoint=_known(stack, production, shadows),
            production_variant="Current",
            shadow_variant="Candidate",
            vpc=_vpc(stack),
        )


def test_an_endpoint_with_both_variants_constructs() -> None:
    stack = cdk.Stack(env=ENV)
    shadow = ShadowEvaluation(
        stack,
        "Shadow",
        endpoint=_known(stack, ["Current"], ["Candidate"]),
        production_variant="Current",
        shadow_variant="Candidate",
        vpc=_vpc(stack),
    )
    assert shadow.shadow_variant == "Candidate"


def _endpoint_with_a_shadow(stack: cdk.Stack) -> Endpoint:
    def model(id: str) -> Model:
        image = ContainerImage.from_registry(
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3-cpu-py311"
        )
        return Model(stack, id, containers=[ContainerDefinition(image=image)])

    def variant(name: str) -> ProductionVariant:
        return ProductionVariant(variant_name=name, model=model(name), instance_type="ml.m5.large")

    return Endpoint(
        stack,
        "Classifier",
        variants=[variant("current")],
        shadow_variants=[variant("candidate")],
    )


def test_an_endpoint_with_a_shadow_variant_is_checked_by_its_variant_names() -> None:
    stack = cdk.Stack(env=ENV)
    endpoint, vpc = _endpoint_with_a_shadow(stack), _vpc(stack)
    shadow = ShadowEvaluation(
        stack,
        "Shadow",
        endpoint=endpoint,
        production_variant="current",
        shadow_variant="candidate",
        vpc=vpc,
    )
    assert shadow.endpoint is endpoint
    with pytest.raises(ValueError, match=r"shadow_variant='current': is a production variant"):
        ShadowEvaluation(
            stack,
            "Swapped",
            endpoint=endpoint,
            production_variant="candidate",
            shadow_variant="current",
            vpc=vpc,
        )


def test_fails_on_an_endpoint_of_inference_components() -> None:
    @dataclass
    class ComponentEndpoint(EndpointRef):
        hosts_inference_components: bool = True

    with pytest.raises(ValueError, match=r"is an endpoint of inference components"):
        _build(endpoint=ComponentEndpoint("c", "arn:aws:sagemaker:us-east-1:1:endpoint/c"))


def test_a_policy_the_evaluator_rejects_is_rejected_at_construction() -> None:
    with pytest.raises(ValueError, match=re.escape("policy.latency.statistic: got 'p101'")):
        _build(policy={"latency": {"statistic": "p101"}})


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({"max_extensions": -1}, r"max_extensions=-1"),
        ({"max_extensions": 1.5}, r"max_extensions=1.5: must be a whole number \(int\)"),
        ({"max_polls": 0}, r"max_polls=0"),
        ({"poll_interval": cdk.Duration.seconds(0)}, r"poll_interval=0"),
        (
            {"bake_time": cdk.Duration.millis(90500)},
            r"bake_time='1 minute 30 seconds': must be a whole number of seconds",
        ),
        ({"log_retention_days": 42}, r"log_retention_days=42"),
        ({"state_machine_name": "has spaces"}, r"state_machine_name='has spaces'"),
        ({"bake_time": cdk.Duration.days(8)}, r"bake_time=691200"),
        ({"evaluator_reserved_concurrency": 0}, r"evaluator_reserved_concurrency=0"),
    ],
)
def test_fails_on_out_of_range_settings(overrides: dict[str, Any], pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        _build(**overrides)


def test_fails_when_the_vpc_has_no_cidr_for_the_group_it_creates() -> None:
    stack = cdk.Stack(env=ENV)
    with pytest.raises(ValueError, match=r"vpc="):
        _build(vpc=_vpc(stack, cidr=None))


def test_fails_when_the_endpoint_has_no_name_and_arn() -> None:
    with pytest.raises(
        ValueError,
        match=r"endpoint=.*must be IEndpointRef \(an object with endpoint_arn, endpoint_name\)",
    ):
        _build(endpoint=object())


def test_reports_every_problem_at_once() -> None:
    with pytest.raises(ValueError, match=r"\(4 problems\)") as raised:
        _build(
            shadow_variant="Current",
            interval=cdk.Duration.seconds(10),
            log_retention_days=2,
            max_polls=0,
        )
    message = str(raised.value)
    assert message.startswith("Invalid arguments for ShadowEvaluation 'Shadow'")
    for argument in ("shadow_variant=", "interval=", "log_retention_days=", "max_polls="):
        assert argument in message


def test_valid_arguments_construct() -> None:
    shadow = _build(max_extensions=0, bake_time=cdk.Duration.minutes(1))
    assert shadow.encryption_key is not None
