"""A rollout's alarms and dashboard (wiring; the metrics are the construct's ``metric_*``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from .contract import METRIC_NAMESPACE, Errors

if TYPE_CHECKING:
    from .construct import CanaryRollout

__all__ = [
    "add_alarms",
    "add_dashboard",
    "add_rollback_failed_filter",
    "executions_failed_alarm",
    "notify_topic",
]


def add_rollback_failed_filter(rollout: CanaryRollout, metric_name: str) -> logs.MetricFilter:
    """Count executions that ended in ``RollbackFailed``, from the execution log."""
    return logs.MetricFilter(
        rollout,
        "RollbackFailedFilter",
        log_group=rollout.log_group,
        metric_namespace=METRIC_NAMESPACE,
        metric_name=metric_name,
        filter_pattern=logs.FilterPattern.all(
            logs.FilterPattern.string_value("$.type", "=", "ExecutionFailed"),
            logs.FilterPattern.string_value("$.details.error", "=", Errors.ROLLBACK_FAILED),
        ),
        metric_value="1",
    )


def add_alarms(rollout: CanaryRollout) -> tuple[cloudwatch.Alarm, cloudwatch.Alarm]:
    """Alarms on failed executions and on failed rollbacks; both notify the topic."""
    name = rollout.state_machine_name
    executions_failed = executions_failed_alarm(
        rollout,
        rollout.metric_executions_failed(),
        f"Canary rollout {name}: an execution failed (rolled back, invalid input, "
        "or rollback failed). See the execution's error and cause.",
    )
    rollback_failed = cloudwatch.Alarm(
        rollout,
        "RollbackFailedAlarm",
        alarm_description=(
            f"CRITICAL: canary rollout {name} could not return traffic to the baseline "
            f"variant {rollout.baseline_variant}. Check endpoint "
            f"{rollout.endpoint.endpoint_name} now."
        ),
        metric=rollout.metric_rollback_failed(),
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    notify_topic(rollout.topic, executions_failed, rollback_failed)
    return executions_failed, rollback_failed


def notify_topic(topic: sns.ITopic, *alarms: cloudwatch.Alarm) -> None:
    """Each of ``alarms`` notifies ``topic`` when it goes into ALARM and back to OK."""
    action = cw_actions.SnsAction(topic)
    for alarm in alarms:
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)


def executions_failed_alarm(
    scope: Construct, metric: cloudwatch.IMetric, description: str
) -> cloudwatch.Alarm:
    """``ExecutionsFailedAlarm``: ALARM from the first failed execution in a period of
    ``metric`` (the state machine's ``ExecutionsFailed``); no data is not breaching."""
    return cloudwatch.Alarm(
        scope,
        "ExecutionsFailedAlarm",
        alarm_description=description,
        metric=metric,
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )


def add_dashboard(rollout: CanaryRollout) -> cloudwatch.Dashboard:
    """Both variants' invocations, errors and latency; the rollout's executions and alarms."""
    variants = (rollout.baseline_variant, rollout.canary_variant)

    def graph(title: str, metric_name: str, statistic: str) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(
            title=title,
            left=[rollout.metric_variant(metric_name, v, statistic=statistic) for v in variants],
            width=6,
        )

    dashboard = cloudwatch.Dashboard(rollout, "Dashboard")
    dashboard.add_widgets(
        cloudwatch.TextWidget(
            markdown=(
                f"## Canary rollout of `{rollout.endpoint.endpoint_name}`\n"
                f"baseline `{rollout.baseline_variant}` vs canary `{rollout.canary_variant}`; "
                f"steps {rollout.steps} %"
            ),
            width=24,
            height=2,
        )
    )
    dashboard.add_widgets(
        graph("Invocations (Sum)", "Invocations", "Sum"),
        graph("5XX errors (Sum)", "Invocation5XXErrors", "Sum"),
        graph("4XX errors (Sum)", "Invocation4XXErrors", "Sum"),
        graph("Model latency (p99, microseconds)", "ModelLatency", "p99"),
    )
    dashboard.add_widgets(
        cloudwatch.GraphWidget(
            title="Rollout executions",
            left=[
                rollout.metric_executions_started(),
                rollout.metric_executions_succeeded(),
                rollout.metric_executions_failed(),
                rollout.metric_rollback_failed(),
            ],
            width=12,
        ),
        cloudwatch.AlarmStatusWidget(title="Rollout alarms", alarms=list(rollout.alarms), width=12),
    )
    return dashboard
