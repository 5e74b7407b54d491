"""The rollout's smoke test: requests sent to the canary variant before it gets any traffic.

Handler: ``canary_evaluator.smoke.handler``, a ``before_traffic`` hook (``hooks.py``) that the
state machine calls before the first weight change. Its ``config`` holds ``smoke_tests``, a
list of requests, each::

    name              str      shown in the answer's reason
    body              str      the request body (inline), or
    body_s3           object   {"bucket": ..., "key": ...}: the body is read from S3
    content_type      str      ContentType of the request
    accept            str      optional Accept of the request
    expect_status     int      the status the model must answer with (default 200)
    max_latency_ms    number   optional ceiling of the round trip, as this function measures it
    expect_json_path  str      optional: the answer must be JSON and hold this path
                               (``$.a.b[0]`` or ``$['a-b']``: see ``parse_json_path``)

Each request goes to the canary variant directly (``InvokeEndpoint`` with ``TargetVariant``,
which routes whatever the variants' weights are), one after the other. A model that answers
with an error comes back as ``ModelError`` whose ``OriginalStatusCode`` is the model's status;
any other error of the call (the variant missing, the endpoint not in service, access denied)
fails that request with the error's message. The answer: ``proceed`` true when every request
met its expectations, else false with a ``reason`` naming each failure; ``results`` one object
per request (``name``, ``status``, ``latency_ms``, ``passed``, ``problems``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .hooks import ANSWER_PROCEED, ANSWER_REASON

__all__ = ["JSON_PATH_RULE", "handler", "parse_json_path", "run_smoke_tests"]

#: What ``expect_json_path`` may be (the construct checks it with ``parse_json_path`` too).
JSON_PATH_RULE = (
    "a JSONPath of names and indexes from the root, such as $.predictions[0].score or "
    "$['label-scores'][1] (no wildcards, filters or slices)"
)
_SEGMENT = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\['((?:[^'\\]|\\.)*)'\]|\[(\d+)\]")
#: Reasons stay short: the state machine puts them in the execution's cause.
_MAX_REASON_CHARS = 2000
_MAX_DETAIL_CHARS = 300


def parse_json_path(text: object) -> list[str | int]:
    """``$.a['b'][0]`` -> ``["a", "b", 0]``; raises ``ValueError`` naming :data:`JSON_PATH_RULE`."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise ValueError(f"got {text!r}; allowed: {JSON_PATH_RULE}")
    segments: list[str | int] = []
    position = 1
    while position < len(text):
        match = _SEGMENT.match(text, position)
        if match is None:
            raise ValueError(
                f"got {text!r} (cannot read it from character {position + 1}); "
                f"allowed: {JSON_PATH_RULE}"
            )
        name, quoted, index = match.groups()
        if name is not None:
            segments.append(name)
        elif quoted is not None:
            segments.append(re.sub(r"\\(.)", r"\1", quoted))
        else:
            segments.append(int(index))
        position = match.end()
    if not segments:
        raise ValueError(f"got {text!r} (the root itself); allowed: {JSON_PATH_RULE}")
    return segments


def _holds(document: Any, path: Sequence[str | int]) -> bool:
    node = document
    for segment in path:
        if isinstance(segment, int):
            if not isinstance(node, list) or segment >= len(node):
                return False
        elif not isinstance(node, dict) or segment not in node:
            return False
        node = node[segment]
    return True


def _short(text: str, limit: int = _MAX_DETAIL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _body(test: Mapping[str, Any], s3: Any) -> bytes:
    if "body_s3" in test:
        location = test["body_s3"]
        answer = s3.get_object(Bucket=location["bucket"], Key=location["key"])
        return bytes(answer["Body"].read())
    return str(test.get("body", "")).encode()


def _one(
    test: Mapping[str, Any],
    *,
    endpoint_name: str,
    variant: str,
    runtime: Any,
    s3: Any,
    clock: Callable[[], float],
) -> dict[str, Any]:
    """Send one request to the variant and judge the answer."""
    name = str(test.get("name", "smoke test"))
    expected = int(test.get("expect_status", 200))
    problems: list[str] = []
    status: int | None = None
    answer_body = b""
    request: dict[str, Any] = {
        "EndpointName": endpoint_name,
        "TargetVariant": variant,
        "ContentType": test.get("content_type", "application/json"),
    }
    if test.get("accept"):
        request["Accept"] = test["accept"]
    try:
        request["Body"] = _body(test, s3)
    except Exception as error:
        return _result(name, None, None, [f"its body could not be read: {_short(str(error))}"])
    started = clock()
    try:
        answer = runtime.invoke_endpoint(**request)
        answer_body = bytes(answer["Body"].read())
        status = 200
    except Exception as error:
        response = getattr(error, "response", None) or {}
        code = response.get("Error", {}).get("Code")
        if code == "ModelError" and isinstance(response.get("OriginalStatusCode"), int):
            status = response["OriginalStatusCode"]
            answer_body = str(response.get("OriginalMessage", "")).encode()
        else:
            problems.append(f"the request failed: {_short(str(error))}")
    latency_ms = round((clock() - started) * 1000.0, 1)
    if status is not None and status != expected:
        problems.append(
            f"status {status}, expected {expected}"
            + (f" ({_short(answer_body.decode(errors='replace'))})" if answer_body else "")
        )
    ceiling = test.get("max_latency_ms")
    if status is not None and ceiling is not None and latency_ms > float(ceiling):
        problems.append(f"latency {latency_ms} ms, allowed at most {ceiling} ms")
    if status == expected and test.get("expect_json_path"):
        path = test["expect_json_path"]
        try:
            document = json.loads(answer_body)
        except ValueError:
            problems.append(f"the answer is not JSON, expected it to hold {path}")
        else:
            if not _holds(document, parse_json_path(path)):
                problems.append(
                    f"the answer holds no {path}: "
                    f"{_short(json.dumps(document, separators=(',', ':')))}"
                )
    return _result(name, status, latency_ms, problems)


def _result(
    name: str, status: int | None, latency_ms: float | None, problems: list[str]
) -> dict[str, Any]:
    return {
        "name": name,
        "status": status,
        "latency_ms": latency_ms,
        "passed": not problems,
        "problems": problems,
    }


def run_smoke_tests(
    tests: Sequence[Mapping[str, Any]],
    *,
    endpoint_name: str,
    variant: str,
    runtime: Any,
    s3: Any = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Every request of ``tests`` to ``variant``; the hook answer (``proceed``, ``reason``,
    ``results``)."""
    results = [
        _one(t, endpoint_name=endpoint_name, variant=variant, runtime=runtime, s3=s3, clock=clock)
        for t in tests
    ]
    failed = [r for r in results if not r["passed"]]
    if not failed:
        reason = f"{len(results)} smoke test(s) passed on {variant}"
    else:
        reason = f"{len(failed)} of {len(results)} smoke test(s) failed on {variant}: " + "; ".join(
            f"{r['name']}: {', '.join(r['problems'])}" for r in failed
        )
    return {
        ANSWER_PROCEED: not failed,
        ANSWER_REASON: _short(reason, _MAX_REASON_CHARS),
        "results": results,
    }


def handler(event: Mapping[str, Any], context: Any, *, clients: Any = None) -> dict[str, Any]:
    """Lambda entry point (``clients``: ``(runtime, s3)`` for tests; default boto3's)."""
    if clients is None:
        import boto3
        from botocore.config import Config

        config = Config(retries={"mode": "standard", "max_attempts": 4})
        clients = (boto3.client("sagemaker-runtime", config=config), boto3.client("s3"))
    runtime, s3 = clients
    tests = (event.get("config") or {}).get("smoke_tests") or []
    return run_smoke_tests(
        tests,
        endpoint_name=str(event["endpoint_name"]),
        variant=str(event["canary_variant"]),
        runtime=runtime,
        s3=s3,
    )
