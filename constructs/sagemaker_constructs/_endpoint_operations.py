"""Operations for every :class:`~sagemaker_constructs.endpoint.Endpoint`: its alarms and its
dashboard.

The metrics are defined on the endpoint (``metric_*``); this module only wires them: an alarm
per production variant on the 5XX error rate and on model latency, on an asynchronous endpoint
one on the age of the oldest queued request, on GPU instance types one on GPU memory; and a
dashboard of the same metrics. Shadow variants get no alarm (they answer no caller: what they
do is a finding of the shadow test, and an alarm with a topic would page someone for it); the
dashboard graphs them beside the production variant, labelled ``<name> (shadow)``.

Sources: the SageMaker Developer Guide's "Amazon SageMaker AI metrics in Amazon CloudWatch"
(``GPUMemoryUtilization`` is a percentage of one GPU's memory summed over the instance's GPUs,
0-400 on four) and "Alarms and logs for tracking metrics from asynchronous endpoints" (no
``Invocations``; ``Invocation5XXErrors`` is 1 or 0 per request).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from . import aws_rules as aws
from ._instance_types import instance_family
from ._types import checked_value
from ._validation import ValidationProblems, is_token
from .compliance import acknowledge

if TYPE_CHECKING:
    from .endpoint import EndpointBase

__all__ = ["EndpointAlarms", "gpu_count"]

#: The packs that want every alarm to act (an SNS topic, a scaling policy ...).
_ALARM_ACTION_RULES = (
    "HIPAA.Security::HIPAA.Security-CloudWatchAlarmAction",
    "NIST.800.53.R5::NIST.800.53.R5-CloudWatchAlarmAction",
    "PCI.DSS.321::PCI.DSS.321-CloudWatchAlarmAction",
)

#: GPUs per hosting instance type, for the families whose sizes differ in GPU count (the
#: EC2 accelerated-computing tables); a type of another GPU family gets no GPU-memory alarm
#: (and a warning), because its threshold would be wrong.
_GPUS: dict[str, dict[str, int]] = {
    "g4dn": {"12xlarge": 4, "metal": 8},
    "g5": {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8},
    "g6": {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8},
    "g6e": {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8},
    "p3": {"2xlarge": 1, "8xlarge": 4, "16xlarge": 8},
    "p3dn": {"24xlarge": 8},
    "p4d": {"24xlarge": 8},
    "p4de": {"24xlarge": 8},
    "p5": {"4xlarge": 1, "48xlarge": 8},
    "p5e": {"48xlarge": 8},
    "p5en": {"48xlarge": 8},
}
#: Families whose other sizes have one GPU each.
_ONE_GPU_OTHERWISE = frozenset({"g4dn", "g5", "g6", "g6e"})


def is_gpu_instance_type(instance_type: str) -> bool:
    """True for the NVIDIA GPU families (``ml.g*`` and ``ml.p*``)."""
    family = instance_family(instance_type)
    return family is not None and re.fullmatch(r"[gp]\d+[a-z-]*\w*", family) is not None


def gpu_count(instance_type: str) -> int | None:
    """GPUs of a hosting instance type, ``None`` when this library does not know it."""
    family = instance_family(instance_type)
    if family is None or family not in _GPUS:
        return None
    size = instance_type.rsplit(".", 1)[-1]
    if size in _GPUS[family]:
        return _GPUS[family][size]
    return 1 if family in _ONE_GPU_OTHERWISE else None


@checked_value
@dataclass(frozen=True, kw_only=True)
class EndpointAlarms:
    """The thresholds of the alarms every :class:`Endpoint` creates (``alarms=``).

    Each alarm goes off when its metric breaches the threshold in ``datapoints_to_alarm`` of
    ``evaluation_periods`` periods of ``period``; missing data (no traffic, an asynchronous
    endpoint scaled to zero) is not a breach.

    :param max_error_rate: share of requests answered 5XX (0-1) per variant: on a real-time
        endpoint ``Invocation5XXErrors / Invocations`` (both ``Sum``), on an asynchronous one
        the ``Average`` of ``Invocation5XXErrors`` (SageMaker publishes 1 or 0 per request and
        no ``Invocations``). Default: 0.05.
    :param max_model_latency: ``ModelLatency`` per variant at ``latency_statistic``.
        Default: 1 second (for an asynchronous endpoint: 15 minutes).
    :param latency_statistic: Default: ``p99``.
    :param max_backlog_age: asynchronous endpoints: the oldest queued request's age
        (``ApproximateAgeOfOldestRequest``, ``Maximum``). Default: 30 minutes.
    :param max_gpu_memory_utilization: GPU instance types: percent of the GPUs' memory in use
        (0-100; the threshold is multiplied by the instance's GPUs, as SageMaker publishes the
        metric). Default: 90.
    :param period: 60 seconds or a multiple of 60. Default: 1 minute.
    :param evaluation_periods: Default: 5.
    :param datapoints_to_alarm: 1 to ``evaluation_periods``. Default: 3.
    :param topic: notified when an alarm goes off and when it clears. Default: no action
        (the alarms show on the dashboard and can be passed to ``DeploymentGuardrails`` or a
        rollout's policy).
    """

    max_error_rate: float = 0.05
    max_model_latency: cdk.Duration | None = None
    latency_statistic: str = "p99"
    max_backlog_age: cdk.Duration = field(default_factory=lambda: cdk.Duration.minutes(30))
    max_gpu_memory_utilization: float = 90.0
    period: cdk.Duration = field(default_factory=lambda: cdk.Duration.minutes(1))
    evaluation_periods: int = 5
    datapoints_to_alarm: int = 3
    topic: sns.ITopic | None = None


_STATISTIC = re.compile(
    r"^(Average|Minimum|Maximum|Sum|SampleCount|(p|tm|wm|tc|ts)\d{1,2}(\.\d+)?)$"
)


def validate_alarms(problems: ValidationProblems, alarms: EndpointAlarms) -> None:
    prefix = "alarms"
    problems.check_range(f"{prefix}.max_error_rate", alarms.max_error_rate, minimum=0, maximum=1)
    problems.check_range(
        f"{prefix}.max_gpu_memory_utilization",
        alarms.max_gpu_memory_utilization,
        minimum=1,
        maximum=100,
        unit="%",
    )
    if not is_token(alarms.latency_statistic):
        problems.check(
            bool(_STATISTIC.match(alarms.latency_statistic)),
            f"{prefix}.latency_statistic",
            alarms.latency_statistic,
            "must be a CloudWatch statistic (Average, Maximum, p99, tm90 ...)",
            "pass a statistic such as 'p99' or 'Average'",
        )
    for name in ("max_model_latency", "max_backlog_age"):
        duration = getattr(alarms, name)
        if duration is not None and not is_token(duration.to_string()):
            problems.check(
                duration.to_milliseconds() > 0,
                f"{prefix}.{name}",
                duration.to_human_string(),
                "must be above 0",
                "pass a positive Duration",
            )
    seconds = problems.whole_seconds(f"{prefix}.period", alarms.period)
    if seconds is not None:
        problems.check(
            seconds >= 60 and seconds % 60 == 0,
            f"{prefix}.period",
            alarms.period.to_human_string(),
            "SageMaker publishes endpoint metrics every minute: the period must be a multiple "
            "of 60 seconds",
            "use Duration.minutes(...)",
        )
        aws.check_range(problems, f"{prefix}.period", seconds, "AWS::CloudWatch::Alarm", "Period")
    aws.check_range(
        problems,
        f"{prefix}.evaluation_periods",
        alarms.evaluation_periods,
        "AWS::CloudWatch::Alarm",
        "EvaluationPeriods",
    )
    if not is_token([alarms.datapoints_to_alarm, alarms.evaluation_periods]):
        problems.check(
            1 <= alarms.datapoints_to_alarm <= alarms.evaluation_periods,
            f"{prefix}.datapoints_to_alarm",
            alarms.datapoints_to_alarm,
            f"must be between 1 and evaluation_periods ({alarms.evaluation_periods})",
            "lower datapoints_to_alarm or raise evaluation_periods",
        )


@dataclass(frozen=True)
class VariantFacts:
    """What the alarms and the dashboard need to know of a variant."""

    name: str
    instance_type: str | None  # None: serverless
    shadow: bool = False  # a shadow variant: graphed, never alarmed


def variant_key(name: str, index: int) -> str:
    """A construct id part for a variant: its name, or ``Variant<index>`` for a token."""
    return f"Variant{index}" if is_token(name) else name


_Graphed = TypeVar("_Graphed", cloudwatch.Metric, cloudwatch.MathExpression)


class EndpointOperations(Construct):
    """The alarms (``alarms``, by name) and the dashboard of one endpoint."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        endpoint: EndpointBase,
        variants: Sequence[VariantFacts],
        asynchronous: bool,
        alarms: EndpointAlarms | None,
        dashboard: bool,
    ) -> None:
        super().__init__(scope, id)
        self._endpoint = endpoint
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        if alarms is not None:
            self._add_alarms(alarms, variants, asynchronous)
        self.dashboard: cloudwatch.Dashboard | None = None
        if dashboard:
            self.dashboard = self._add_dashboard(variants, asynchronous)

    # -- alarms --------------------------------------------------------------------------

    def _alarm(
        self,
        key: str,
        settings: EndpointAlarms,
        metric: cloudwatch.IMetric,
        threshold: float,
        description: str,
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            key,
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=settings.evaluation_periods,
            datapoints_to_alarm=settings.datapoints_to_alarm,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        if settings.topic is not None:
            action = actions.SnsAction(settings.topic)
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
        else:
            for rule in _ALARM_ACTION_RULES:
                acknowledge(
                    alarm,
                    rule,
                    "No alarm topic was given (EndpointAlarms.topic): the alarm is read on the "
                    "endpoint's dashboard and by deployment guardrails or a rollout it is "
                    "passed to.",
                )
        self.alarms[key] = alarm

    def _add_alarms(
        self, settings: EndpointAlarms, variants: Sequence[VariantFacts], asynchronous: bool
    ) -> None:
        endpoint = self._endpoint
        period = settings.period
        latency = settings.max_model_latency or (
            cdk.Duration.minutes(15) if asynchronous else cdk.Duration.seconds(1)
        )
        for index, variant in enumerate(variants):
            if variant.shadow:
                continue
            name = variant.name
            key = variant_key(name, index)
            errors: cloudwatch.IMetric = (
                endpoint.metric_invocation_5xx_errors(name, statistic="Average", period=period)
                if asynchronous
                else endpoint.metric_invocation_5xx_error_rate(name, period=period)
            )
            self._alarm(
                f"{key}ErrorRate",
                settings,
                errors,
                settings.max_error_rate,
                f"Variant {name}: more than {settings.max_error_rate:.1%} of requests answered 5XX",
            )
            self._alarm(
                f"{key}ModelLatency",
                settings,
                endpoint.metric_model_latency(
                    name, statistic=settings.latency_statistic, period=period
                ),
                latency.to_seconds(integral=False) * 1_000_000,
                f"Variant {name}: ModelLatency {settings.latency_statistic} above "
                f"{latency.to_human_string()}",
            )
            instance_type = variant.instance_type
            if instance_type is None or is_token(instance_type):
                continue
            if not is_gpu_instance_type(instance_type):
                continue
            gpus = gpu_count(instance_type)
            if gpus is None:
                cdk.Annotations.of(self).add_warning_v2(
                    "sagemaker-constructs:endpoint-gpu-alarm",
                    f"No GPU-memory alarm for variant {name}: the number of GPUs of "
                    f"{instance_type} is not known to this library, and SageMaker sums the "
                    "metric over them. Create one with metric_gpu_memory_utilization().",
                )
                continue
            self._alarm(
                f"{key}GpuMemory",
                settings,
                endpoint.metric_gpu_memory_utilization(name, period=period),
                settings.max_gpu_memory_utilization * gpus,
                f"Variant {name}: more than {settings.max_gpu_memory_utilization:g}% of the "
                f"memory of its {gpus} GPU(s) in use",
            )
        if asynchronous:
            self._alarm(
                "BacklogAge",
                settings,
                endpoint.metric_approximate_age_of_oldest_request(period=period),
                settings.max_backlog_age.to_seconds(integral=False),
                f"The oldest queued request is older than "
                f"{settings.max_backlog_age.to_human_string()}",
            )

    # -- dashboard -----------------------------------------------------------------------

    def _add_dashboard(
        self, variants: Sequence[VariantFacts], asynchronous: bool
    ) -> cloudwatch.Dashboard:
        endpoint = self._endpoint
        names = [v.name for v in variants]
        on_instances = [v.name for v in variants if v.instance_type is not None]
        gpu = [
            v.name
            for v in variants
            if v.instance_type is not None
            and not is_token(v.instance_type)
            and is_gpu_instance_type(v.instance_type)
        ]
        shadows = {v.name for v in variants if v.shadow}

        def shown(name: str, metric: _Graphed) -> _Graphed:
            """``metric`` of variant ``name``; a shadow's label says ``<name> (shadow)``."""
            if name not in shadows:
                return metric
            label = metric.label or name
            return metric.with_(label=label.replace(name, f"{name} (shadow)", 1))

        dashboard = cloudwatch.Dashboard(self, "Dashboard")
        if self.alarms:
            dashboard.add_widgets(
                cloudwatch.AlarmStatusWidget(
                    title="Alarms", alarms=list(self.alarms.values()), width=24
                )
            )
        requests = (
            [shown(n, endpoint.metric_invocation_5xx_errors(n)) for n in names]
            if asynchronous
            else [shown(n, endpoint.metric_invocations(n)) for n in names]
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="5XX errors" if asynchronous else "Invocations",
                left=requests,
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Model latency p99 (microseconds)",
                left=[shown(n, endpoint.metric_model_latency(n, statistic="p99")) for n in names],
                width=12,
            ),
        )
        if not asynchronous:
            dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title="5XX error rate",
                    left=[shown(n, endpoint.metric_invocation_5xx_error_rate(n)) for n in names],
                    width=12,
                ),
                cloudwatch.GraphWidget(
                    title="4XX errors",
                    left=[shown(n, endpoint.metric_invocation_4xx_errors(n)) for n in names],
                    width=12,
                ),
            )
        if on_instances:
            dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title="CPU and memory utilisation (%)",
                    left=[shown(n, endpoint.metric_cpu_utilization(n)) for n in on_instances],
                    right=[shown(n, endpoint.metric_memory_utilization(n)) for n in on_instances],
                    width=12,
                ),
                cloudwatch.GraphWidget(
                    title="Disk utilisation (%)",
                    left=[shown(n, endpoint.metric_disk_utilization(n)) for n in on_instances],
                    width=12,
                ),
            )
        if gpu:
            dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title="GPU and GPU memory utilisation (%)",
                    left=[shown(n, endpoint.metric_gpu_utilization(n)) for n in gpu],
                    right=[shown(n, endpoint.metric_gpu_memory_utilization(n)) for n in gpu],
                    width=24,
                )
            )
        if asynchronous:
            dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title="Backlog",
                    left=[
                        endpoint.metric_approximate_backlog_size(),
                        endpoint.metric_approximate_backlog_size_per_instance(),
                    ],
                    right=[endpoint.metric_has_backlog_without_capacity(statistic="Maximum")],
                    width=12,
                ),
                cloudwatch.GraphWidget(
                    title="Oldest queued request (seconds)",
                    left=[endpoint.metric_approximate_age_of_oldest_request()],
                    width=12,
                ),
            )
        return dashboard
