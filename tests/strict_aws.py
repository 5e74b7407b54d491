"""AWS as strict as AWS: what the rollout's tests add where moto is kinder than the real service.

This module is the one place that models AWS behaviour moto does not have. Each model names
the documentation it follows:

- **Simulated time** (:class:`SimClock`): a rollout bakes for minutes; the tests compress time
  (one real second is ``factor`` simulated seconds) so whole 60 s metric periods exist in a
  test that runs for seconds. The state machine runs on real time in moto; the evaluator and
  the traffic see simulated time, converted at the evaluator's boundary
  (:meth:`StrictAws.handler`). The simulated origin is NOT on a minute boundary, so windows
  never happen to align with periods.
- **CloudWatch GetMetricData** (:class:`StrictCloudWatch`), per the GetMetricData API
  reference: StartTime is rounded DOWN to the period ("12:32:34 is rounded down to
  12:32:00" for a 60 s period); a data point's timestamp is its period's start and a period is
  returned when it starts before EndTime; only periods with data are returned; percentile
  statistics (``p99``, ``p99.9``) are computed from the individual requests, as SageMaker
  publishes ``ModelLatency`` as statistic sets per request; a request reaches CloudWatch
  ``publish_lag`` seconds after it was served (SageMaker publishes with a delay), so the
  latest periods are incomplete; StartTime not before EndTime and invalid statistics are
  ``ValidationError`` s; at most 500 queries per call.
- **Payload limit**: Step Functions fails an execution with ``States.DataLimitExceeded`` (which
  no Catch can handle) when a task result exceeds 256 KiB; :meth:`StrictAws.handler` records
  every evaluator answer over the limit in ``violations``.
- **History limit**: a Standard workflow's execution fails once its history holds 25,000 events
  (``HISTORY_LIMIT``); moto keeps counting. The tests compare every execution's history with it
  and with the worst case the input validation computed.

- **Application Auto Scaling and instance counts** (:class:`StrictScaling`), per the
  Application Auto Scaling API reference: ``RegisterScalableTarget`` on an existing target
  changes only the parameters given and keeps the target's scaling policies ("To update a
  scalable target, specify the parameters that you want to change ... Any parameters that you
  don't specify are not changed"; moto does this); a ``MinCapacity`` above the
  ``MaxCapacity`` (given or kept) is a ``ValidationException`` (moto accepts it);
  ``DeregisterScalableTarget`` "deletes the scaling policies and the scheduled actions that are
  associated with it" (moto keeps the policies), and of a target that is not registered is an
  ``ObjectNotFoundException`` ("thrown if the scalable target with the specified service
  namespace, resource ID, and scalable dimension does not exist"; moto: ValidationException).
  Not modelled: AWS moves a target's current capacity into a new ``[MinCapacity,
  MaxCapacity]`` ("it changes the resource's current capacity to a value that is inside of this
  range"); the rollout sets the canary's
  ``DesiredInstanceCount`` itself when it runs fewer than its share, so this model is the
  stricter one (the count rises only because the rollout raised it).
  Per the SageMaker API reference, ``UpdateEndpointWeightsAndCapacities`` takes
  ``DesiredWeight`` and ``DesiredInstanceCount`` as optional members of each
  ``DesiredWeightAndCapacity`` and a variant's value the call leaves out stays as it is (moto
  sets it to nothing, so the variant stops reporting it); an update the account cannot give
  instances for (``instance_ceiling``) leaves the endpoint ``InService`` with its previous
  configuration and a ``FailureReason`` (DescribeEndpoint: "the status is InService but update
  operation fails"). Every update is recorded with the weights, instance counts and scaling
  limits it left (``updates``), in call order, so a test can check what the canary had when
  its weight moved.

- **SageMaker Runtime InvokeEndpoint** (:class:`StrictRuntime`), per the SageMaker Runtime API
  reference: the endpoint must exist and serve, ``TargetVariant`` must be one of its
  production variants and sends the request there whatever the weights, and a model's 4xx/5xx
  arrives as ``ModelError`` (HTTP 424) with ``OriginalStatusCode`` (moto answers any endpoint
  name with a fixed body and ignores ``TargetVariant``).

Traffic (:class:`StrictTraffic`) is generated per request, at a rate in requests per simulated
second, split between the variants by the endpoint's current weights, with log-normal
latencies (median 20 ms) and a per-variant 5XX probability.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from botocore.exceptions import ClientError

from canary_evaluator.handler import dispatch

PERIOD = 60
#: Step Functions' payload limit for a task's result (bytes, UTF-8).
PAYLOAD_LIMIT = 256 * 1024
#: Events a Standard workflow's execution history holds at most.
HISTORY_LIMIT = 25_000
_STATISTIC = re.compile(r"^(SampleCount|Average|Sum|Minimum|Maximum|p(\d{1,2}(\.\d{1,2})?|100))$")


def _validation_error(message: str, operation: str = "GetMetricData") -> ClientError:
    return ClientError({"Error": {"Code": "ValidationError", "Message": message}}, operation)


class SimClock:
    """Simulated UTC time: ``origin + (real elapsed) * factor``."""

    def __init__(self, factor: float, origin: datetime | None = None) -> None:
        self.factor = factor
        # 12:00:23.456: windows never start on a minute boundary by accident
        self.origin = origin or datetime(2026, 11, 26, 12, 0, 23, 456000, tzinfo=UTC)
        self.real_origin = time.time()

    def now(self) -> datetime:
        return self.to_sim(datetime.now(UTC))

    def to_sim(self, real: datetime) -> datetime:
        elapsed = real.timestamp() - self.real_origin
        return self.origin + timedelta(seconds=elapsed * self.factor)


@dataclass
class _Requests:
    """The requests one variant served, by period start (epoch seconds)."""

    by_period: dict[int, list[np.ndarray]] = field(default_factory=dict)

    def add(self, times: np.ndarray, latencies: np.ndarray, statuses: np.ndarray) -> None:
        periods = (times // PERIOD).astype(np.int64) * PERIOD
        for period in np.unique(periods):
            mask = periods == period
            rows = np.stack([times[mask], latencies[mask], statuses[mask]])
            self.by_period.setdefault(int(period), []).append(rows)


class StrictCloudWatch:
    """GetMetricData as AWS serves it, over individual requests (see the module docstring)."""

    def __init__(self, now: Callable[[], datetime], *, publish_lag: float = 40.0) -> None:
        self.now = now
        self.publish_lag = publish_lag
        self.alarm_states: dict[str, str] = {}
        self._variants: dict[tuple[str, str], _Requests] = {}
        self._lock = threading.Lock()

    def record(
        self,
        endpoint: str,
        variant: str,
        times: np.ndarray,
        latencies_us: np.ndarray,
        statuses: np.ndarray,
    ) -> None:
        """Requests served at ``times`` (epoch seconds, simulated)."""
        with self._lock:
            requests = self._variants.setdefault((endpoint, variant), _Requests())
            requests.add(times, latencies_us, statuses)

    def _visible(self, endpoint: str, variant: str, period: int, cutoff: float) -> np.ndarray:
        requests = self._variants.get((endpoint, variant))
        chunks = [] if requests is None else requests.by_period.get(period, [])
        if not chunks:
            return np.empty((3, 0))
        rows = np.concatenate(chunks, axis=1)
        return rows[:, rows[0] <= cutoff]

    def get_metric_data(self, **request: Any) -> Mapping[str, Any]:
        queries = request["MetricDataQueries"]
        start: datetime = request["StartTime"]
        end: datetime = request["EndTime"]
        if len(queries) > 500:
            raise _validation_error("The collection MetricDataQueries must not exceed 500.")
        if start >= end:
            raise _validation_error("The parameter StartTime must be less than EndTime.")
        cutoff = self.now().timestamp() - self.publish_lag
        first = int(start.timestamp()) // PERIOD * PERIOD  # rounded DOWN to the period
        results = []
        with self._lock:
            for query in queries:
                stat = query["MetricStat"]
                if stat["Period"] != PERIOD:
                    raise _validation_error("only 60 s periods are modelled")
                if not _STATISTIC.match(stat["Stat"]):
                    raise _validation_error(f"Invalid statistic {stat['Stat']!r}.")
                results.append(self._series(query["Id"], stat, first, end, cutoff))
        return {"MetricDataResults": results, "Messages": []}

    def _series(
        self, query_id: str, stat: Mapping[str, Any], first: int, end: datetime, cutoff: float
    ) -> dict[str, Any]:
        metric = stat["Metric"]
        dims = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
        timestamps: list[datetime] = []
        values: list[float] = []
        if metric["Namespace"] == "AWS/SageMaker" and set(dims) == {"EndpointName", "VariantName"}:
            period = first
            while period < end.timestamp():
                rows = self._visible(dims["EndpointName"], dims["VariantName"], period, cutoff)
                if rows.shape[1]:
                    value = _statistic(metric["MetricName"], stat["Stat"], rows)
                    if value is not None:
                        timestamps.append(datetime.fromtimestamp(period, UTC))
                        values.append(value)
                period += PERIOD
        return {
            "Id": query_id,
            "Label": metric["MetricName"],
            "Timestamps": timestamps,
            "Values": values,
            "StatusCode": "Complete",
        }

    def describe_alarms(self, **request: Any) -> Mapping[str, Any]:
        names = request.get("AlarmNames", [])
        return {
            "MetricAlarms": [
                {"AlarmName": n, "StateValue": self.alarm_states[n]}
                for n in names
                if n in self.alarm_states
            ],
            "CompositeAlarms": [],
        }


def _statistic(metric_name: str, statistic: str, rows: np.ndarray) -> float | None:
    latencies, statuses = rows[1], rows[2]
    if metric_name == "Invocations":
        samples = np.ones(rows.shape[1])
    elif metric_name == "Invocation5XXErrors":
        samples = (statuses >= 500).astype(float)
    elif metric_name == "Invocation4XXErrors":
        samples = ((statuses >= 400) & (statuses < 500)).astype(float)
    elif metric_name == "ModelLatency":
        samples = latencies
    else:
        return None
    if statistic == "Sum":
        return float(samples.sum())
    if statistic == "SampleCount":
        return float(samples.size)
    if statistic == "Average":
        return float(samples.mean())
    if statistic == "Minimum":
        return float(samples.min())
    if statistic == "Maximum":
        return float(samples.max())
    return float(np.percentile(samples, float(statistic[1:])))


# -- traffic --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Behaviour:
    """How one variant serves: its 5XX probability and latency factor (median 20 ms)."""

    error_rate: float = 0.0
    latency_factor: float = 1.0


#: canary percent -> (baseline behaviour, canary behaviour)
RequestProfile = Callable[[float], tuple[Behaviour, Behaviour]]


def healthy(percent: float) -> tuple[Behaviour, Behaviour]:
    return Behaviour(), Behaviour()


def errors_5xx(rate: float) -> RequestProfile:
    return lambda percent: (Behaviour(), Behaviour(error_rate=rate))


def slow_from(threshold_percent: float, factor: float) -> RequestProfile:
    def profile(percent: float) -> tuple[Behaviour, Behaviour]:
        return Behaviour(), Behaviour(latency_factor=factor if percent >= threshold_percent else 1)

    return profile


class StrictTraffic(threading.Thread):
    """Requests at ``rate`` per simulated second, split by the endpoint's current weights."""

    def __init__(
        self,
        aws: StrictAws,
        endpoint: str,
        baseline: str,
        canary: str,
        profile: RequestProfile,
        weights: Callable[[str], dict[str, float]],
        *,
        rate: float = 20.0,
        tick: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__(daemon=True)
        self.aws, self.endpoint, self.baseline, self.canary = aws, endpoint, baseline, canary
        self.profile, self.weights, self.rate, self.tick = profile, weights, rate, tick
        self.rng = np.random.default_rng(seed)
        self.stopped = threading.Event()
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            last = self.aws.clock.now().timestamp()
            while not self.stopped.wait(self.tick):
                now = self.aws.clock.now().timestamp()
                self._serve(last, now)
                last = now
        except Exception as error:  # re-raised by stop(): a silent simulator would fake data
            self.error = error

    def _serve(self, start: float, end: float) -> None:
        current = self.weights(self.endpoint)
        total = sum(current.values()) or 1.0
        percent = 100.0 * current.get(self.canary, 0.0) / total
        count = int(self.rng.poisson(self.rate * (end - start)))
        to_canary = self.rng.random(count) < percent / 100.0
        times = np.sort(self.rng.uniform(start, end, count))
        for variant, behaviour, mask in zip(
            (self.baseline, self.canary),
            self.profile(percent),
            (~to_canary, to_canary),
            strict=True,
        ):
            n = int(mask.sum())
            if not n:
                continue
            latencies = 20_000.0 * behaviour.latency_factor * self.rng.lognormal(0.0, 0.25, n)
            statuses = np.where(self.rng.random(n) < behaviour.error_rate, 500, 200)
            self.aws.cloudwatch.record(self.endpoint, variant, times[mask], latencies, statuses)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)
        if self.error is not None:
            raise self.error


class StrictAws:
    """The simulated clock, the strict CloudWatch, and the evaluator as the Lambda runs it."""

    def __init__(self, factor: float = 60.0) -> None:
        self.clock = SimClock(factor)
        self.cloudwatch = StrictCloudWatch(self.clock.now)
        self.violations: list[str] = []

    def handler(self, event: Mapping[str, Any], context: object) -> dict[str, Any]:
        """The evaluator, with the event's real times converted to simulated time."""
        simulated = dict(event)
        for key in ("window_start", "window_end"):
            if isinstance(simulated.get(key), str):
                real = datetime.fromisoformat(simulated[key].replace("Z", "+00:00"))
                simulated[key] = self.clock.to_sim(real).isoformat()
        answer = dispatch(simulated, cloudwatch=self.cloudwatch, now=self.clock.now())
        size = len(json.dumps(answer).encode())
        if size > PAYLOAD_LIMIT:
            self.violations.append(f"evaluator answer of {size} bytes > 256 KiB")
        return answer


# -- Application Auto Scaling and instance counts -------------------------------------------


@dataclass(frozen=True)
class EndpointUpdate:
    """One UpdateEndpointWeightsAndCapacities as the endpoint took it (see ``StrictScaling``)."""

    endpoint: str
    #: what the call asked: variant -> {"DesiredWeight": ..., "DesiredInstanceCount": ...}
    asked: dict[str, dict[str, Any]]
    applied: bool
    #: after the call: variant -> CurrentWeight / CurrentInstanceCount
    weights: dict[str, float]
    counts: dict[str, int]
    #: after the call: variant -> (MinCapacity, MaxCapacity) of its scalable target, if any
    limits: dict[str, tuple[int, int]]


class StrictScaling:
    """Application Auto Scaling and UpdateEndpointWeightsAndCapacities as strict as AWS (see
    the module docstring); ``install`` patches moto's backends and returns the undo."""

    def __init__(self, account: str, region: str) -> None:
        self.account, self.region = account, region
        self.updates: list[EndpointUpdate] = []
        #: endpoint -> most instances an update may ask a variant for (more: the update fails
        #: and the endpoint is InService as before)
        self.instance_ceiling: dict[str, int] = {}
        #: ResourceId -> called with (MinCapacity, MaxCapacity) after each RegisterScalableTarget
        self.after_register: dict[str, Callable[[int | None, int | None], None]] = {}
        self._lock = threading.Lock()

    def updates_of(self, endpoint: str) -> list[EndpointUpdate]:
        with self._lock:
            return [u for u in self.updates if u.endpoint == endpoint]

    def _limits(self, endpoint: str) -> dict[str, tuple[int, int]]:
        from moto.applicationautoscaling.models import applicationautoscaling_backends

        backend = applicationautoscaling_backends[self.account][self.region]
        prefix = f"endpoint/{endpoint}/variant/"
        return {
            target.resource_id[len(prefix) :]: (
                int(target.min_capacity or 0),
                int(target.max_capacity or 0),
            )
            for target in backend.describe_scalable_targets("sagemaker", None, None)
            if target.resource_id.startswith(prefix)
        }

    def install(self) -> Callable[[], None]:
        from moto.applicationautoscaling import models as scaling
        from moto.applicationautoscaling.exceptions import AWSValidationException
        from moto.core.exceptions import JsonRESTError
        from moto.sagemaker.models import SageMakerModelBackend

        backend_class = scaling.ApplicationAutoscalingBackend
        original_register = backend_class.register_scalable_target
        original_deregister = backend_class.deregister_scalable_target
        original_update = SageMakerModelBackend.update_endpoint_weights_and_capacities
        strict = self

        def register(
            self: Any,
            namespace: str,
            r_id: str,
            dimension: str,
            min_capacity: int | None = None,
            max_capacity: int | None = None,
            **others: Any,
        ) -> Any:
            existing = self.targets.get(dimension, {}).get(r_id)
            low = (
                min_capacity
                if min_capacity is not None
                else getattr(existing, "min_capacity", None)
            )
            high = (
                max_capacity
                if max_capacity is not None
                else getattr(existing, "max_capacity", None)
            )
            if low is not None and high is not None and low > high:
                raise AWSValidationException(
                    f"Minimum capacity ({low}) cannot be greater than maximum capacity ({high})."
                )
            target = original_register(
                self,
                namespace,
                r_id,
                dimension,
                min_capacity=min_capacity,
                max_capacity=max_capacity,
                **others,
            )
            hook = strict.after_register.get(r_id)
            if hook is not None:
                hook(min_capacity, max_capacity)
            return target

        def deregister(self: Any, namespace: str, r_id: str, dimension: str) -> None:
            if r_id not in self.targets.get(dimension, {}):
                raise JsonRESTError(
                    "ObjectNotFoundException",
                    f"No scalable target registered for service namespace: {namespace}, "
                    f"resource ID: {r_id}, scalable dimension: {dimension}",
                )
            original_deregister(self, namespace, r_id, dimension)
            for key, policy in list(self.policies.items()):
                if (policy.service_namespace, policy.resource_id, policy.scalable_dimension) == (
                    namespace,
                    r_id,
                    dimension,
                ):
                    del self.policies[key]

        def update(
            self: Any, endpoint_name: str, desired_weights_and_capacities: list[dict[str, Any]]
        ) -> str:
            desired = desired_weights_and_capacities
            endpoint = self.endpoints.get(endpoint_name)
            asked = {str(d.get("VariantName")): dict(d) for d in desired}
            complete = []
            for entry in desired:  # a value the call leaves out stays as it is
                current: dict[str, Any] = next(
                    (
                        v
                        for v in (endpoint.production_variants if endpoint else [])
                        if v.get("VariantName") == entry.get("VariantName")
                    ),
                    {},
                )
                full = dict(entry)
                for key, kept in (
                    ("DesiredWeight", "CurrentWeight"),
                    ("DesiredInstanceCount", "CurrentInstanceCount"),
                ):
                    if full.get(key) is None and current.get(kept) is not None:
                        full[key] = current[kept]
                complete.append(full)
            ceiling = strict.instance_ceiling.get(endpoint_name)
            applied = ceiling is None or all(  # only instances the call asks for count
                (entry.get("DesiredInstanceCount") or 0) <= ceiling for entry in desired
            )
            if applied:
                arn = str(original_update(self, endpoint_name, complete))
            else:  # SageMaker takes the call, the update fails: InService, as before
                arn = str(endpoint.arn)
                endpoint.failure_reason = (
                    "Unable to provision requested ML compute capacity. Please retry using a "
                    "different ML instance type."
                )
            variants = endpoint.production_variants if endpoint else []
            with strict._lock:
                strict.updates.append(
                    EndpointUpdate(
                        endpoint=endpoint_name,
                        asked=asked,
                        applied=applied,
                        weights={
                            str(v["VariantName"]): float(v.get("CurrentWeight") or 0.0)
                            for v in variants
                        },
                        counts={
                            str(v["VariantName"]): int(v.get("CurrentInstanceCount") or 0)
                            for v in variants
                        },
                        limits=strict._limits(endpoint_name),
                    )
                )
            return arn

        backend_class.register_scalable_target = register  # type: ignore[method-assign,assignment]
        backend_class.deregister_scalable_target = deregister  # type: ignore[method-assign]
        SageMakerModelBackend.update_endpoint_weights_and_capacities = update  # type: ignore[method-assign]

        def undo() -> None:
            backend_class.register_scalable_target = original_register  # type: ignore[method-assign]
            backend_class.deregister_scalable_target = original_deregister  # type: ignore[method-assign]
            SageMakerModelBackend.update_endpoint_weights_and_capacities = original_update  # type: ignore[method-assign]

        return undo


# -- SageMaker Runtime: InvokeEndpoint ---------------------------------------------------------


#: A model: (request body, content type) -> (HTTP status, answer body).
ModelBehaviour = Callable[[bytes, str], tuple[int, bytes]]


class StrictRuntime:
    """``sagemaker-runtime`` ``InvokeEndpoint`` as AWS answers it (moto answers any endpoint
    name with a fixed body and ignores ``TargetVariant``).

    Per the SageMaker Runtime API reference: the endpoint must exist and accept requests, else
    ``ValidationError``; ``TargetVariant`` sends the request to that production variant
    whatever the weights ("overrides the default behavior for the endpoint, which is to
    distribute the invocation traffic based on the variant weights"), and a name the endpoint
    does not have is a ``ValidationError``; a model that answers 4xx/5xx arrives as
    ``ModelError`` (HTTP 424) with the model's ``OriginalStatusCode`` and
    ``OriginalMessage``. The endpoints and variants are read from moto's SageMaker backend;
    each variant answers as ``models[(endpoint, variant)]`` says (default: 200 and
    ``{"predictions": [0.5]}``). Every request is recorded in ``requests``.
    """

    def __init__(self, backend: Callable[[], Any]) -> None:
        self._backend = backend
        self.models: dict[tuple[str, str], ModelBehaviour] = {}
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def invoke_endpoint(self, **request: Any) -> dict[str, Any]:
        name = request["EndpointName"]
        with self._lock:
            self.requests.append(dict(request))
        endpoint = self._backend().endpoints.get(name)
        if endpoint is None:
            raise _runtime_error("ValidationError", f"Endpoint {name} of account not found.")
        if endpoint.endpoint_status not in ("InService", "Updating", "SystemUpdating"):
            raise _runtime_error(
                "ValidationError",
                f"Endpoint {name} is in {endpoint.endpoint_status} status and cannot serve.",
            )
        variants = [v["VariantName"] for v in endpoint.production_variants]
        target = request.get("TargetVariant")
        if target is not None and target not in variants:
            raise _runtime_error(
                "ValidationError", f"Variant {target} not found for endpoint {name}."
            )
        variant = target or variants[0]
        body = request.get("Body", b"")
        body = body.encode() if isinstance(body, str) else bytes(body)
        model = self.models.get((name, variant), _healthy_model)
        status, answer = model(body, str(request.get("ContentType", "")))
        if status >= 400:
            raise _runtime_error(
                "ModelError",
                f'Received server error ({status}) from model with message "{answer.decode()}".',
                status_code=424,
                OriginalStatusCode=status,
                OriginalMessage=answer.decode(),
            )
        return {
            "Body": _Body(answer),
            "ContentType": "application/json",
            "InvokedProductionVariant": variant,
        }


def _healthy_model(body: bytes, content_type: str) -> tuple[int, bytes]:
    return 200, b'{"predictions": [0.5]}'


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self) -> bytes:
        return self._data


def _runtime_error(code: str, message: str, status_code: int = 400, **extra: Any) -> ClientError:
    """The error botocore raises for an answer of ``status_code`` (``extra``: the error's own
    members, as botocore puts them in ``response``)."""
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status_code},
        **extra,
    }
    return ClientError(response, "InvokeEndpoint")
