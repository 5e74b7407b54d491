"""A rollout's hooks and smoke test: their validation, the smoke-test function, the bindings.

The state machine's side is ``definition/hooks.py``; the event and answer are the Lambda code's
contract (``canary_evaluator/hooks.py``); the smoke test's checks run in
``canary_evaluator/smoke.py``, which also parses ``expect_json_path`` here, so the construct
accepts exactly the paths the function can read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from .._validation import ValidationProblems, is_token
from ..compliance import acknowledge, acknowledge_checkov
from .contract import HOOK_AFTER_STEP, HOOK_BEFORE_TRAFFIC, SMOKE_TEST_HOOK
from .definition import Hook
from .functions import add_tracing_and_vpc, role_and_logs, rollout_function
from .props import IEndpointRef, RolloutHook, SmokeTest
from .rules import evaluator_module

__all__ = [
    "MAX_HOOKS_PER_POINT",
    "MAX_SMOKE_TESTS",
    "add_smoke_test",
    "hook_bindings",
    "hook_calls",
    "validate_hooks",
]

SMOKE_HANDLER = "canary_evaluator.smoke.handler"
#: Hooks per point, and smoke tests: each adds states and history events to every rollout.
MAX_HOOKS_PER_POINT = 5
MAX_SMOKE_TESTS = 10
#: Inline smoke-test bodies travel in the state machine's definition and in the function's
#: event (Step Functions' payload limit is 256 KiB): at most this much, all together.
MAX_INLINE_BODY_BYTES = 32 * 1024
MAX_HOOK_CONFIG_BYTES = 8 * 1024
#: ``InvokeEndpoint``: a real-time answer must come within 60 s; ContentType and Accept are at
#: most 1024 ASCII characters.
MAX_LATENCY_MS = 60_000
MAX_HEADER_CHARS = 1024
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_NAME_RULE = "1-40 letters, digits, '-' or '_'"


def validate_hooks(
    problems: ValidationProblems,
    hooks: Sequence[RolloutHook],
    smoke_tests: Sequence[SmokeTest],
) -> None:
    """Every rule of ``hooks`` and ``smoke_tests`` (names, counts, sizes, combinations)."""
    names: dict[str, int] = {}
    for i, hook in enumerate(hooks):
        argument = f"hooks[{i}].name"
        _check_name(problems, argument, hook.name)
        problems.check(
            hook.name != SMOKE_TEST_HOOK,
            argument,
            hook.name,
            f"'{SMOKE_TEST_HOOK}' is the built-in smoke test's name",
            "choose another name (pass smoke_tests for the built-in smoke test)",
        )
        if hook.name in names:
            problems.add(
                argument,
                hook.name,
                f"must be unique among the hooks (hooks[{names[hook.name]}] has it)",
                "rename one of them",
            )
        names.setdefault(hook.name, i)
        _check_config(problems, f"hooks[{i}].config", hook.config)
    for point in {h.point for h in hooks}:
        count = sum(1 for h in hooks if h.point == point)
        problems.check(
            count <= MAX_HOOKS_PER_POINT,
            "hooks",
            f"<{count} hooks at {point.value}>",
            f"at most {MAX_HOOKS_PER_POINT} hooks per point (each adds to every rollout's history)",
            "combine checks into fewer functions",
        )
    _validate_smoke_tests(problems, smoke_tests)


def _check_name(problems: ValidationProblems, argument: str, name: str) -> None:
    if not is_token(name):
        problems.check(
            bool(_NAME.match(name)),
            argument,
            name,
            f"must be {_NAME_RULE} (it names states of the state machine)",
            "use a short name such as 'drift-check'",
        )


def _check_config(problems: ValidationProblems, argument: str, config: Mapping[str, Any]) -> None:
    try:
        size = len(json.dumps(config, allow_nan=False).encode())
    except (TypeError, ValueError) as error:
        problems.add(argument, config, f"must be JSON ({error})", "pass JSON values only")
        return
    problems.check(
        size <= MAX_HOOK_CONFIG_BYTES,
        argument,
        f"<{size} bytes of JSON>",
        f"must be at most {MAX_HOOK_CONFIG_BYTES} bytes of JSON (it travels in every call)",
        "pass a reference (an S3 key, a parameter name) instead of the data",
    )
    paths = [key for key in _keys(config) if key.endswith(".$")]
    problems.check(
        not paths,
        argument,
        paths,
        "no key may end in '.$' (Step Functions would read its value as a path)",
        "rename the keys",
    )


def _keys(value: Any) -> list[str]:
    if isinstance(value, Mapping):
        return [str(k) for k in value] + [k for v in value.values() for k in _keys(v)]
    if isinstance(value, list | tuple):
        return [k for v in value for k in _keys(v)]
    return []


def _validate_smoke_tests(problems: ValidationProblems, tests: Sequence[SmokeTest]) -> None:
    problems.check_count("smoke_tests", tests, minimum=0, maximum=MAX_SMOKE_TESTS)
    parse_json_path = evaluator_module("smoke").parse_json_path
    seen: set[str] = set()
    inline = 0
    for i, test in enumerate(tests):
        at = f"smoke_tests[{i}]"
        _check_name(problems, f"{at}.name", test.name)
        problems.check(
            test.name not in seen,
            f"{at}.name",
            test.name,
            "must be unique among the smoke tests",
            "rename one of them",
        )
        seen.add(test.name)
        in_s3 = test.body_bucket is not None or test.body_key is not None
        problems.check(
            (test.body is None) == in_s3,
            f"{at}.body, {at}.body_bucket",
            "both" if test.body is not None and in_s3 else "neither",
            "exactly one of body (inline) and body_bucket with body_key (in S3)",
            "pass the request body inline or as an S3 object",
        )
        problems.check(
            (test.body_bucket is None) == (test.body_key is None),
            f"{at}.body_bucket, {at}.body_key",
            test.body_key,
            "an S3 body needs both the bucket and the key",
            "pass body_bucket and body_key together",
        )
        if test.body_key is not None and not is_token(test.body_key):
            problems.check(
                1 <= len(test.body_key) <= 1024,
                f"{at}.body_key",
                test.body_key,
                "must be 1-1024 characters (an S3 key)",
                "use the object's key",
            )
        if test.body is not None and not is_token(test.body):
            inline += len(test.body.encode())
        for header in ("content_type", "accept"):
            value = getattr(test, header)
            if value is not None and not is_token(value):
                problems.check(
                    0 < len(value) <= MAX_HEADER_CHARS and value.isascii(),
                    f"{at}.{header}",
                    value,
                    f"must be 1-{MAX_HEADER_CHARS} ASCII characters (InvokeEndpoint)",
                    "use a MIME type such as application/json",
                )
        problems.check_range(f"{at}.expect_status", test.expect_status, minimum=100, maximum=599)
        if test.max_latency is not None and not is_token(test.max_latency.to_string()):
            latency = test.max_latency.to_milliseconds(integral=False)
            problems.check_range(
                f"{at}.max_latency", latency, minimum=1, maximum=MAX_LATENCY_MS, unit="ms"
            )
        if test.expect_json_path is not None:
            try:
                parse_json_path(test.expect_json_path)
            except ValueError as error:
                problems.add(
                    f"{at}.expect_json_path",
                    test.expect_json_path,
                    f"must be a JSONPath the smoke test can read ({error})",
                    "use names and indexes from the root, such as $.predictions[0]",
                )
    problems.check(
        inline <= MAX_INLINE_BODY_BYTES,
        "smoke_tests",
        f"<{inline} bytes of inline bodies>",
        f"inline bodies must total at most {MAX_INLINE_BODY_BYTES} bytes (they travel in the "
        "state machine's definition and the function's event)",
        "put large bodies in S3 (body_bucket, body_key)",
    )


def hook_calls(hooks: Sequence[RolloutHook], smoke_tests: Sequence[SmokeTest]) -> dict[str, int]:
    """``{"fixed": n, "per_step": m}`` hook calls of a rollout (for the history budget);
    ``{}`` without hooks."""
    per_step = sum(1 for h in hooks if h.point.value == HOOK_AFTER_STEP)
    fixed = len(hooks) - per_step + (1 if smoke_tests else 0)
    return {"fixed": fixed, "per_step": per_step} if hooks or smoke_tests else {}


def _smoke_config(tests: Sequence[SmokeTest]) -> dict[str, Any]:
    """The smoke-test function's ``config`` (``canary_evaluator/smoke.py``)."""
    rendered = []
    for test in tests:
        item: dict[str, Any] = {
            "name": test.name,
            "content_type": test.content_type,
            "expect_status": test.expect_status,
        }
        if test.body is not None:
            item["body"] = test.body
        if test.body_bucket is not None and test.body_key is not None:
            item["body_s3"] = {"bucket": test.body_bucket.bucket_name, "key": test.body_key}
        if test.accept is not None:
            item["accept"] = test.accept
        if test.max_latency is not None:
            item["max_latency_ms"] = test.max_latency.to_milliseconds()
        if test.expect_json_path is not None:
            item["expect_json_path"] = test.expect_json_path
        rendered.append(item)
    return {"smoke_tests": rendered}


def hook_bindings(
    hooks: Sequence[RolloutHook],
    *,
    smoke_function: lambda_.IFunction | None,
    smoke_tests: Sequence[SmokeTest],
) -> list[Hook]:
    """The definition's hooks: the smoke test first, then the user's in the order given."""
    bound = []
    if smoke_function is not None:
        bound.append(
            Hook(
                point=HOOK_BEFORE_TRAFFIC,
                name=SMOKE_TEST_HOOK,
                function_arn=smoke_function.function_arn,
                config=_smoke_config(smoke_tests),
            )
        )
    bound.extend(
        Hook(
            point=hook.point.value,
            name=hook.name,
            function_arn=hook.function.function_arn,
            config=dict(hook.config),
        )
        for hook in hooks
    )
    return bound


def add_smoke_test(
    scope: Construct,
    *,
    endpoint: IEndpointRef,
    tests: Sequence[SmokeTest],
    vpc: ec2.IVpc,
    vpc_subnets: ec2.SubnetSelection | None,
    security_groups: Sequence[ec2.ISecurityGroup] | None,
    encryption_key: kms.IKey,
    log_retention_days: int,
    removal_policy: cdk.RemovalPolicy,
    reserved_concurrency: int | None,
) -> lambda_.Function:
    """The smoke-test function (``SmokeTest``, ``SmokeTestRole``, ``SmokeTestLogs``): it may
    invoke the endpoint and read the S3 bodies, nothing else."""
    role, log_group = role_and_logs(
        scope,
        "SmokeTest",
        description=f"smoke test of the canary of {scope.node.path}",
        encryption_key=encryption_key,
        log_retention_days=log_retention_days,
        removal_policy=removal_policy,
    )
    function = rollout_function(
        scope,
        "SmokeTest",
        description=f"Sends the smoke test's requests to the canary of {scope.node.path}",
        handler=SMOKE_HANDLER,
        role=role,
        log_group=log_group,
        # each request may take InvokeEndpoint's 60 s, plus reading its body
        timeout=cdk.Duration.seconds(min(900, 30 + 75 * len(tests))),
        reserved_concurrency=reserved_concurrency,
        vpc=vpc,
        vpc_subnets=vpc_subnets,
        security_groups=security_groups,
    )
    role.add_statements(
        iam.PolicyStatement(
            sid="InvokeTheEndpoint",
            actions=["sagemaker:InvokeEndpoint"],
            resources=[endpoint.endpoint_arn],
        )
    )
    add_tracing_and_vpc(role)
    bodies = [(t.body_bucket, t.body_key) for t in tests if t.body_bucket and t.body_key]
    if bodies:
        role.add_statements(
            iam.PolicyStatement(
                sid="ReadTheRequestBodies",
                actions=["s3:GetObject"],
                resources=[bucket.arn_for_objects(key) for bucket, key in bodies],
            )
        )
    keys = {id(b.encryption_key): b.encryption_key for b, _ in bodies if b.encryption_key}
    for key in keys.values():
        if key is not None:
            key.grant_decrypt(role.grantee)
    synchronous = (
        "The smoke test is only invoked synchronously by the rollout state machine "
        "(lambda:invoke, RequestResponse), which rolls back when it fails; a dead-letter "
        "queue only receives failed asynchronous invocations."
    )
    for rule in (
        "HIPAA.Security::HIPAA.Security-LambdaDLQ",
        "NIST.800.53.R5::NIST.800.53.R5-LambdaDLQ",
    ):
        acknowledge(function, rule, synchronous)
    acknowledge_checkov(function, "CKV_AWS_116", synchronous)
    return function
