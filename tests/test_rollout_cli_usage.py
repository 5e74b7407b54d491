"""``sagemaker-rollout`` for scripts: exit statuses, usage errors and the checks made before AWS.

GIVEN the command line with AWS clients that fail the test on first use, WHEN it gets a usage
error or an argument of the wrong form, THEN it exits 1 (never 2, which means "rolled back")
with one line per problem on stderr that names the argument, the value, the rule and the fix,
and it has made no AWS call. With stub clients, ``status`` and ``watch`` map each way an
execution ends to its exit status, an interruption exits 130 and an unexpected error is one line
(``--debug`` adds the traceback). No moto, no synth: these run in well under a second.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3.session
import pytest
from botocore.exceptions import ClientError

from sagemaker_constructs.rollout import cli
from sagemaker_constructs.rollout.contract import (
    EXIT_ABORTED,
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_PROMOTED,
    EXIT_ROLLED_BACK,
    EXIT_RUNNING,
    EXIT_STATUSES,
    TAG_BASELINE,
    TAG_CANARY,
    TAG_ENDPOINT,
    Errors,
)

REGION = "eu-west-1"
ACCOUNT = "123456789012"
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:rollout-dev"
EXECUTION = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:rollout-dev:run-1"
PREFIX = "sagemaker-rollout: "


class AwsTouched(BaseException):
    """Raised on any use of the clients: a BaseException, so the command's own error handling
    (``except Exception``) cannot turn it into an exit status."""


class NoAws:
    """Clients whose every attribute access fails the test."""

    def __init__(self) -> None:
        self.touched: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.touched.append(name)
        raise AwsTouched(f"an AWS client was used before the local checks: {name}")


@dataclass
class Result:
    code: int
    out: str
    err: str


def cli_run(*argv: str, clients: Any = None) -> Result:
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(list(argv), clients=clients, out=out, err=err)
    return Result(code, out.getvalue(), err.getvalue())


def refused(*argv: str) -> Result:
    """Run ``argv`` with clients that must not be touched; expect exit status 1."""
    clients = NoAws()
    result = cli_run(*argv, clients=clients)
    assert clients.touched == []
    assert result.code == EXIT_ERROR, result
    assert result.out == ""
    lines = result.err.splitlines()
    assert lines, result
    assert all(line.startswith(PREFIX) for line in lines), result.err
    assert "Traceback" not in result.err
    return result


# -- usage errors exit 1, never 2 ("rolled back") ------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        pytest.param((), "the following arguments are required: COMMAND", id="no arguments"),
        pytest.param(("stat", EXECUTION), "invalid choice: 'stat'", id="unknown command"),
        pytest.param(("status",), "required: EXECUTION_ARN", id="missing ARN"),
        pytest.param(("abort",), "required: EXECUTION_ARN", id="missing ARN of abort"),
        pytest.param(("start",), "one of the arguments --state-machine --stack --endpoint",
                     id="start without a rollout"),
        pytest.param(("start", "--stack", "a", "--endpoint", "b"), "not allowed with",
                     id="two rollouts"),
        pytest.param(("watch", EXECUTION, "--interval", "soon"),
                     "argument --interval: got 'soon'; allowed: a finite number of seconds",
                     id="interval not a number"),
        pytest.param(("watch", EXECUTION, "--interval", "0"), "argument --interval: got '0'",
                     id="interval zero"),
        pytest.param(("start", "--stack", "a", "--interval", "-1"), "argument --interval: got '-1'",
                     id="interval negative"),
        pytest.param(("watch", EXECUTION, "--interval", "nan"), "argument --interval: got 'nan'",
                     id="interval nan"),
        pytest.param(("watch", EXECUTION, "--interval", "inf"), "argument --interval: got 'inf'",
                     id="interval infinite"),
        pytest.param(("status", EXECUTION, "--bogus"), "unrecognized arguments: --bogus",
                     id="unknown option"),
        pytest.param(("status", EXECUTION, "--region"), "argument --region: expected one argument",
                     id="global option after the command without its value"),
        pytest.param(("--region",), "argument --region: expected one argument",
                     id="global option without its value"),
        pytest.param(("status", EXECUTION, "--version"), "unrecognized arguments: --version",
                     id="version after the command"),
    ],
)  # fmt: skip
def test_a_usage_error_exits_1_on_one_line(argv: tuple[str, ...], says: str) -> None:
    result = refused(*argv)
    (line,) = result.err.splitlines()
    assert says in line
    assert line.endswith("--help`)")  # where to read the usage


def test_the_usage_error_points_at_the_command_s_help() -> None:
    line = refused("watch", EXECUTION, "--interval", "soon").err.strip()
    assert line.endswith("(see `sagemaker-rollout watch --help`)")


# -- global options before or after the command ------------------------------------------------


@dataclass
class CreateSpy:
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        raise cli.CliError("stopped by the test")


@pytest.fixture
def create_spy(monkeypatch: pytest.MonkeyPatch) -> CreateSpy:
    spy = CreateSpy()
    monkeypatch.setattr(cli.Clients, "create", spy)
    return spy


@pytest.mark.parametrize(
    "argv",
    [
        ("--region", REGION, "--profile", "ops", "--role-arn", f"arn:aws:iam::{ACCOUNT}:role/op",
         "status", EXECUTION),
        ("status", EXECUTION, "--region", REGION, "--profile", "ops", "--role-arn",
         f"arn:aws:iam::{ACCOUNT}:role/op"),
        ("--profile", "ops", "status", "--region", REGION, EXECUTION, "--role-arn",
         f"arn:aws:iam::{ACCOUNT}:role/op"),
    ],
    ids=["before", "after", "both"],
)  # fmt: skip
def test_global_options_may_follow_the_command(
    argv: tuple[str, ...], create_spy: CreateSpy
) -> None:
    result = cli_run(*argv)
    assert result.err == f"{PREFIX}stopped by the test\n"
    assert create_spy.calls == [
        {"region": REGION, "profile": "ops", "role_arn": f"arn:aws:iam::{ACCOUNT}:role/op"}
    ]


def test_an_option_before_the_command_is_not_reset_by_the_command(create_spy: CreateSpy) -> None:
    cli_run("--region", REGION, "start", "--stack", "dev", "--profile", "ops")
    assert create_spy.calls == [{"region": REGION, "profile": "ops", "role_arn": None}]


# -- arguments checked before any AWS call ----------------------------------------------------


def _input(value: object) -> str:
    return json.dumps(value)


BAD_ARGUMENTS = [
    # execution ARNs
    pytest.param(("status", "run-1"), "EXECUTION_ARN", "not the ARN of a Step Functions resource",
                 id="execution ARN: not an ARN"),
    pytest.param(("watch", MACHINE), "EXECUTION_ARN", "the ARN of a state machine, not of an "
                 "execution", id="execution ARN: a state machine's"),
    pytest.param(("approve", EXECUTION.replace(ACCOUNT, "1234")), "EXECUTION_ARN",
                 "not the ARN", id="execution ARN: short account"),
    pytest.param(("reject", EXECUTION.replace(REGION, "europe")), "EXECUTION_ARN",
                 "not the ARN", id="execution ARN: no region"),
    pytest.param(("abort", EXECUTION.replace(":run-1", "")), "EXECUTION_ARN",
                 "<state machine name>:<execution name> must follow :execution:",
                 id="execution ARN: no execution name"),
    pytest.param(("status", EXECUTION.replace("run-1", "run 1")), "EXECUTION_ARN",
                 "the execution name 'run 1': ' ' is not allowed",
                 id="execution ARN: a space in the name"),
    pytest.param(("status", EXECUTION.replace("run-1", "r" * 81)), "EXECUTION_ARN",
                 "81 characters", id="execution ARN: a long name"),
    # state machine ARNs
    pytest.param(("start", "--state-machine", EXECUTION), "--state-machine",
                 "the ARN of an execution, not of a state machine",
                 id="state machine ARN: an execution's"),
    pytest.param(("start", "--state-machine", "rollout-dev"), "--state-machine",
                 "not the ARN", id="state machine ARN: a name"),
    pytest.param(("start", "--state-machine", MACHINE + ":1"), "--state-machine",
                 "<state machine name> must follow :stateMachine:",
                 id="state machine ARN: a version"),
    # stacks
    pytest.param(("start", "--stack", "my_stack"), "--stack", "a CloudFormation stack name",
                 id="stack: underscore"),
    pytest.param(("start", "--stack", "1stack"), "--stack", "a letter, then", id="stack: digit"),
    pytest.param(("start", "--stack", "s" * 129), "--stack", "at most 128 characters",
                 id="stack: too long"),
    pytest.param(("start", "--stack", ""), "--stack", "stack name", id="stack: empty"),
    # endpoints
    pytest.param(("start", "--endpoint", "my_endpoint"), "--endpoint",
                 "a SageMaker endpoint name", id="endpoint: underscore"),
    pytest.param(("start", "--endpoint=-endpoint"), "--endpoint", "beginning and ending",
                 id="endpoint: leading hyphen"),
    pytest.param(("start", "--endpoint", "endpoint-"), "--endpoint", "beginning and ending",
                 id="endpoint: trailing hyphen"),
    pytest.param(("start", "--endpoint", "e" * 64), "--endpoint", "at most 63 characters",
                 id="endpoint: too long"),
    # execution names
    pytest.param(("start", "--stack", "dev", "--name", "run 1"), "--name",
                 "(' ' is not allowed)", id="name: a space"),
    pytest.param(("start", "--stack", "dev", "--name", "run/1"), "--name",
                 "('/' is not allowed)", id="name: a slash"),
    pytest.param(("start", "--stack", "dev", "--name", "n" * 81), "--name", "(81 characters)",
                 id="name: too long"),
    pytest.param(("start", "--stack", "dev", "--name", ""), "--name", "(0 characters)",
                 id="name: empty"),
    # roles
    pytest.param(("--role-arn", "operator", "status", EXECUTION), "--role-arn",
                 "an IAM role's ARN", id="role: a name"),
    # the execution input: JSON, an object, the state machine's rules for the keys given
    pytest.param(("start", "--stack", "dev", "--input", "{steps: [10, 100]}"), "--input",
                 "Expecting property name", id="input: not JSON"),
    pytest.param(("start", "--stack", "dev", "--input", '{"bake_seconds": NaN}'), "--input",
                 "NaN is not JSON", id="input: NaN"),
    pytest.param(("start", "--stack", "dev", "--input", "[10, 100]"), "--input",
                 "allowed: a JSON object", id="input: a list"),
    pytest.param(("start", "--stack", "dev", "--input", "@/no/such/input.json"), "--input",
                 "No such file or directory", id="input: a missing file"),
    pytest.param(("start", "--stack", "dev", "--input", _input({"stepz": [10, 100]})),
                 "--input: stepz", "unknown key", id="input: unknown key"),
    pytest.param(("start", "--stack", "dev", "--input", _input({"steps": [5, 50]})),
                 "--input: steps", "the last step must be 100", id="input: steps"),
    pytest.param(("start", "--stack", "dev", "--input", _input({"bake_seconds": 0})),
                 "--input: bake_seconds", "an integer from 1 to 604800", id="input: bake range"),
    pytest.param(("start", "--stack", "dev", "--input", _input({"interval_seconds": 1.5})),
                 "--input: interval_seconds", "an integer from 1 to 3600",
                 id="input: interval type"),
    pytest.param(("start", "--stack", "dev", "--input",
                  _input({"bake_seconds": 60, "interval_seconds": 120})),
                 "--input: interval_seconds", "at most bake_seconds (60)",
                 id="input: interval above bake"),
    pytest.param(("start", "--stack", "dev", "--input",
                  _input({"policy": {"latency": {"statistic": "p101"}}})),
                 "--input: policy.latency.statistic", "'p101'", id="input: policy"),
    pytest.param(("start", "--stack", "dev", "--input", _input({"policy": "strict"})),
                 "--input: policy", "allowed: an object", id="input: policy not an object"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "argument", "says"), BAD_ARGUMENTS)
def test_a_bad_argument_is_refused_before_any_aws_call(
    argv: tuple[str, ...], argument: str, says: str
) -> None:
    result = refused(*argv)
    matching = [line for line in result.err.splitlines() if says in line]
    assert matching, result.err
    (line,) = matching
    assert line.startswith(f"{PREFIX}{argument}")  # the argument
    assert "got " in line  # the value
    assert "allowed" in line  # the rule


@pytest.mark.parametrize(
    ("argv", "fix"),
    [
        (("status", "run-1"), "pass the execution ARN that `sagemaker-rollout start` printed"),
        (("start", "--state-machine", EXECUTION), "pass the value of the stack output"),
        (("start", "--endpoint", "my_endpoint"), "`aws sagemaker list-endpoints`"),
        (("start", "--stack", "dev", "--name", "run 1"), "such as rollout-1"),
        (("start", "--stack", "dev", "--input", "[1]"), "pass an object"),
        (("start", "--stack", "dev", "--input", _input({"steps": [5, 50]})),
         "such as [5, 25, 50, 100]"),
    ],
)  # fmt: skip
def test_the_message_says_how_to_fix_it(argv: tuple[str, ...], fix: str) -> None:
    assert fix in refused(*argv).err


def test_every_problem_is_listed_each_on_its_line() -> None:
    result = refused(
        "--role-arn", "operator", "start", "--stack", "my_stack", "--name", "run 1", "--input",
        _input({"stepz": 1, "bake_seconds": 0}),
    )  # fmt: skip
    arguments = [line.removeprefix(PREFIX).split(":")[0] for line in result.err.splitlines()]
    assert arguments == ["--role-arn", "--stack", "--name", "--input", "--input"]


def test_the_input_rules_are_the_state_machine_s() -> None:
    """The command line reports exactly the evaluator's problems with the keys it is given."""
    from canary_evaluator.rollout_input import given_input_problems

    raw = {"steps": [5, 50], "max_polls": 0, "policy": {"min_canary_invocations": 0}}
    result = refused("start", "--stack", "dev", "--input", _input(raw))
    expected = [f"{PREFIX}--input: {problem}" for problem in given_input_problems(raw)]
    assert len(expected) == 3
    assert result.err.splitlines() == expected


def test_no_boto3_session_is_made_for_bad_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_session(*_: Any, **__: Any) -> Any:
        raise AwsTouched("a boto3 session was made")

    monkeypatch.setattr(boto3.session, "Session", no_session)
    result = cli_run("start", "--stack", "dev", "--input", _input({"steps": [5, 50]}))
    assert result.code == EXIT_ERROR
    with pytest.raises(AwsTouched):  # ... while good arguments do reach AWS
        cli_run("start", "--stack", "dev", "--input", _input({"steps": [5, 50, 100]}))


@pytest.mark.parametrize(
    "argv",
    [
        ("status", EXECUTION),
        ("watch", EXECUTION, "--interval", "0.5"),
        ("approve", f"arn:aws-cn:states:cn-north-1:{ACCOUNT}:execution:m:e"),
        ("reject", f"arn:aws-us-gov:states:us-gov-west-1:{ACCOUNT}:execution:m:e", "--reason", "x"),
        ("abort", EXECUTION, "--force", "--debug"),
        ("start", "--state-machine", MACHINE, "--name", "rollout-2026-01-15_1",
         "--input", _input({"steps": [10, 100], "bake_seconds": 300, "interval_seconds": 60,
                            "policy": {"min_canary_invocations": 50}})),
        ("start", "--stack", "sagemaker-constructs-dev", "--watch", "--interval", "1e1"),
        ("start", "--stack", f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/dev/"
         "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"),
        ("start", "--endpoint", "my-endpoint-2", "--input", ""),
        ("start", "--endpoint", "a", "--input", "{}"),
        # the default bake_seconds is the state machine's to judge
        ("start", "--endpoint", "a", "--input", _input({"interval_seconds": 3600})),
    ],
)  # fmt: skip
def test_good_arguments_reach_aws(argv: tuple[str, ...]) -> None:
    """The control of the tests above: the clients do fail when arguments pass the checks."""
    clients = NoAws()
    with pytest.raises(AwsTouched):
        cli_run(*argv, clients=clients)
    assert clients.touched


def test_an_input_file_is_read(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(_input({"steps": [20, 100]}))
    bad.write_text(_input({"steps": [20, 90]}))
    with pytest.raises(AwsTouched):
        cli_run("start", "--stack", "dev", "--input", f"@{good}", clients=NoAws())
    refusal = refused("start", "--stack", "dev", "--input", f"@{bad}")
    assert "the last step must be 100" in refusal.err
    broken = tmp_path / "broken.json"
    broken.write_text('{"steps": [20, 100]')
    refusal = refused("start", "--stack", "dev", "--input", f"@{broken}")
    assert refusal.err.startswith(f"{PREFIX}--input: got '@{broken}'; allowed: a JSON object")


# -- how an execution ended, as an exit status --------------------------------------------------


class StubSfn:
    """Step Functions that knows one execution (and may fail)."""

    def __init__(self, described: dict[str, Any], fail: BaseException | None = None) -> None:
        self.described = described
        self.fail = fail

    def describe_execution(self, executionArn: str) -> dict[str, Any]:  # noqa: N803
        if self.fail is not None:
            raise self.fail
        return {"executionArn": executionArn, "stateMachineArn": MACHINE, **self.described}

    def get_paginator(self, name: str) -> Any:
        assert name == "get_execution_history"
        return self

    def paginate(self, **_: Any) -> list[dict[str, Any]]:
        return [{"events": []}]

    def list_tags_for_resource(self, resourceArn: str) -> dict[str, Any]:  # noqa: N803
        assert resourceArn == MACHINE
        tags = {TAG_ENDPOINT: "ep", TAG_BASELINE: "baseline", TAG_CANARY: "canary"}
        return {"tags": [{"key": k, "value": v} for k, v in tags.items()]}


class StubSageMaker:
    def describe_endpoint(self, EndpointName: str) -> dict[str, Any]:  # noqa: N803
        assert EndpointName == "ep"
        variants = [("baseline", 1.0), ("canary", 0.0)]
        return {
            "EndpointStatus": "InService",
            "ProductionVariants": [{"VariantName": n, "CurrentWeight": w} for n, w in variants],
        }


def stub_clients(described: dict[str, Any], fail: BaseException | None = None) -> cli.Clients:
    return cli.Clients(
        sfn=StubSfn(described, fail), sagemaker=StubSageMaker(), cloudformation=NoAws()
    )


ENDINGS = [
    pytest.param({"status": "SUCCEEDED"}, EXIT_PROMOTED, "promoted", id="promoted"),
    pytest.param({"status": "FAILED", "error": Errors.ROLLED_BACK, "cause": "error_rate"},
                 EXIT_ROLLED_BACK, "rolled back", id="rolled back"),
    pytest.param({"status": "ABORTED"}, EXIT_ABORTED, "aborted", id="aborted"),
    pytest.param({"status": "FAILED", "error": Errors.INVALID_INPUT}, EXIT_FAILED, "failed",
                 id="invalid input"),
    pytest.param({"status": "FAILED", "error": Errors.ROLLBACK_FAILED}, EXIT_FAILED, "failed",
                 id="rollback failed"),
    pytest.param({"status": "TIMED_OUT"}, EXIT_FAILED, "failed", id="timed out"),
]  # fmt: skip


@pytest.mark.parametrize(("described", "code", "outcome"), ENDINGS)
def test_status_exits_with_how_the_rollout_ended(
    described: dict[str, Any], code: int, outcome: str
) -> None:
    result = cli_run("status", EXECUTION, clients=stub_clients(described))
    assert result.code == code, result
    assert f"outcome  {outcome}" in result.out
    assert result.err == ""


@pytest.mark.parametrize(("described", "code", "outcome"), ENDINGS)
def test_watch_exits_with_how_the_rollout_ended(
    described: dict[str, Any], code: int, outcome: str
) -> None:
    result = cli_run("watch", EXECUTION, clients=stub_clients(described))
    assert result.code == code, result
    assert f"outcome={outcome.replace(' ', '_')}" in result.out


def test_status_of_a_running_rollout_exits_5() -> None:
    result = cli_run("status", EXECUTION, clients=stub_clients({"status": "RUNNING"}))
    assert result.code == EXIT_RUNNING, result
    assert "status   RUNNING" in result.out
    assert "outcome" not in result.out


# -- interruptions and unexpected errors ------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "then"),
    [
        (("watch", EXECUTION), "the rollout itself goes on"),
        (("status", EXECUTION), "the rollout itself goes on"),
        (("abort", EXECUTION), "sagemaker-rollout status <execution-arn>"),
    ],
)
def test_an_interruption_exits_130_on_one_line(argv: tuple[str, ...], then: str) -> None:
    clients = stub_clients({"status": "RUNNING"}, fail=KeyboardInterrupt())
    try:
        result = cli_run(*argv, clients=clients)
    except KeyboardInterrupt:
        pytest.fail("the interruption escaped the command line")
    assert result.code == EXIT_INTERRUPTED == 130
    (line,) = result.err.splitlines()
    assert line.startswith(f"{PREFIX}interrupted; ")
    assert then in line


def test_an_unexpected_error_is_one_line() -> None:
    clients = stub_clients({}, fail=RuntimeError("boom"))
    result = cli_run("status", EXECUTION, clients=clients)
    assert result.code == EXIT_ERROR
    assert result.err == (
        f"{PREFIX}unexpected error: RuntimeError: boom (run with --debug for the traceback)\n"
    )


@pytest.mark.parametrize(
    "argv", [("--debug", "status", EXECUTION), ("status", EXECUTION, "--debug")]
)
def test_debug_shows_the_traceback_of_an_unexpected_error(argv: tuple[str, ...]) -> None:
    result = cli_run(*argv, clients=stub_clients({}, fail=RuntimeError("boom")))
    assert result.code == EXIT_ERROR
    assert result.err.startswith("Traceback (most recent call last):")
    assert "in describe_execution" in result.err  # where it was raised
    assert result.err.endswith(f"{PREFIX}unexpected error: RuntimeError: boom\n")


def test_debug_shows_the_traceback_of_a_command_error() -> None:
    missing = ClientError(
        {"Error": {"Code": "ExecutionDoesNotExist", "Message": "Execution does not exist"}},
        "DescribeExecution",
    )
    plain = cli_run("status", EXECUTION, clients=stub_clients({}, fail=missing))
    assert plain.err == f"{PREFIX}no rollout execution '{EXECUTION}': Execution does not exist\n"
    debug = cli_run("status", EXECUTION, "--debug", clients=stub_clients({}, fail=missing))
    assert debug.code == plain.code == EXIT_ERROR
    assert debug.err.startswith("Traceback (most recent call last):")
    assert debug.err.endswith(plain.err)


def test_a_multi_line_error_message_is_printed_on_one_line() -> None:
    clients = stub_clients({}, fail=RuntimeError("first\nsecond"))
    result = cli_run("status", EXECUTION, clients=clients)
    assert result.err.count("\n") == 1
    assert "RuntimeError: first second" in result.err


# -- help and version -------------------------------------------------------------------------


def test_help_lists_every_exit_status_from_the_contract() -> None:
    result = cli_run("--help", clients=NoAws())
    assert result.code == 0
    assert result.err == ""
    for code, meaning in EXIT_STATUSES:
        assert re.search(rf"^  {code} +{re.escape(meaning)}$", result.out, re.MULTILINE), code


def test_help_of_a_command_exits_0() -> None:
    result = cli_run("abort", "--help", clients=NoAws())
    assert result.code == 0
    assert result.out.startswith("usage: sagemaker-rollout abort")
    assert "--region" in result.out  # the global options, after the command too


def _installed_version() -> str:
    from importlib.metadata import version

    return version("sagemaker-constructs")


def test_version_names_the_installed_distribution() -> None:
    result = cli_run("--version", clients=NoAws())
    assert (result.code, result.out, result.err) == (
        0,
        f"sagemaker-rollout {_installed_version()}\n",
        "",
    )


def test_version_falls_back_to_the_package_s_own(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    import sagemaker_constructs

    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    monkeypatch.setattr(sagemaker_constructs, "__version__", "9.8.7")
    assert cli.version() == "9.8.7"


def test_the_docstring_s_exit_status_table_is_the_contract_s() -> None:
    doc = cli.__doc__ or ""
    borders = [i for i, line in enumerate(doc.splitlines()) if re.fullmatch(r"=+ +=+", line)]
    assert len(borders) == 2, borders
    rows = doc.splitlines()[borders[0] + 1 : borders[1]]
    table = [(int(row.split()[0]), row.split(None, 1)[1]) for row in rows]
    assert table == list(EXIT_STATUSES)


# -- the installed module, as a script runs it ----------------------------------------------------


def _module(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sagemaker_constructs.rollout.cli", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_module_as_a_script_answers_version_usage_errors_and_help(tmp_path: Path) -> None:
    version = _module("--version", cwd=tmp_path)
    assert (version.returncode, version.stdout, version.stderr) == (
        0,
        f"sagemaker-rollout {_installed_version()}\n",
        "",
    )
    nothing = _module(cwd=tmp_path)
    assert nothing.returncode == 1
    assert nothing.stdout == ""
    assert nothing.stderr.startswith(PREFIX)
    assert nothing.stderr.count("\n") == 1
    helped = _module("--help", cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    for code, meaning in EXIT_STATUSES:
        assert f"  {code:<4} {meaning}\n" in helped.stdout
