"""Evaluation windows hold whole metric periods only.

CloudWatch rounds ``GetMetricData``'s StartTime DOWN to the period (a 60 s period asked from
12:32:34 starts at 12:32:00), so a window that starts mid-minute would mix in traffic served
under the previous weights. And SageMaker publishes its metrics with a delay, so the latest
periods may still be incomplete. The evaluator therefore counts only the periods that

- begin at or after ``window_start`` rounded UP to the period, and
- end by ``window_end`` rounded DOWN, and at least ``PUBLISH_DELAY_SECONDS`` before now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["PERIOD_SECONDS", "PUBLISH_DELAY_SECONDS", "Periods", "whole_periods"]

#: SageMaker endpoint metrics are per minute.
PERIOD_SECONDS = 60
#: A period that ended less than this long ago may still receive data points.
PUBLISH_DELAY_SECONDS = 60

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _floor(moment: datetime) -> datetime:
    seconds = (moment - _EPOCH).total_seconds()
    return _EPOCH + timedelta(seconds=seconds - seconds % PERIOD_SECONDS)


def _ceil(moment: datetime) -> datetime:
    floor = _floor(moment)
    return floor if floor == moment else floor + timedelta(seconds=PERIOD_SECONDS)


@dataclass(frozen=True)
class Periods:
    """The whole periods of a window: ``[start, end)``, ``count`` periods (possibly 0)."""

    start: datetime
    end: datetime

    @property
    def count(self) -> int:
        return max(0, int((self.end - self.start).total_seconds()) // PERIOD_SECONDS)


def whole_periods(window_start: datetime, window_end: datetime, now: datetime) -> Periods:
    """The whole, published periods of ``[window_start, window_end)`` as of ``now``."""
    start = _ceil(window_start)
    published = now - timedelta(seconds=PUBLISH_DELAY_SECONDS)
    end = _floor(min(window_end, published))
    return Periods(start=start, end=max(start, end))
