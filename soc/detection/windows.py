"""Which windows a detector evaluates: pure functions of the schedule and the clock.

Windows are aligned to the UTC epoch grid of the detector's interval, so the same
range always yields the same windows (re-runs are reproducible) and live runs and
backtests agree. A window is ``[end - window, end)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from soc.detection.models import Schedule
from soc.vocab import iso

__all__ = ["Window", "align_down", "align_up", "backtest_windows", "live_windows"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime

    def __str__(self) -> str:
        return f"[{iso(self.start)}, {iso(self.end)})"


def align_down(t: datetime, step: timedelta) -> datetime:
    return _EPOCH + ((t - _EPOCH) // step) * step


def align_up(t: datetime, step: timedelta) -> datetime:
    down = align_down(t, step)
    return down if down == t else down + step


def _windows(first_end: datetime, last_end: datetime, schedule: Schedule, limit: int | None) -> list[Window]:
    out: list[Window] = []
    end = first_end
    while end <= last_end and (limit is None or len(out) < limit):
        out.append(Window(end - schedule.window, end))
        end += schedule.interval
    return out


def backtest_windows(schedule: Schedule, start: datetime, end: datetime) -> list[Window]:
    """Sliding windows whose ends step by the interval through ``(start, end]``.

    Every event in ``[start, end')`` (``end'`` = *end* aligned down) is seen by at
    least ``window / interval`` windows, so an attack straddling a boundary is seen whole.
    """
    if end <= start:
        raise ValueError("the end of the range must be after its start")
    first_end = align_down(start, schedule.interval) + schedule.interval
    return _windows(first_end, align_down(end, schedule.interval), schedule, None)


def live_windows(
    schedule: Schedule, *, watermark: datetime | None, now: datetime, max_windows: int = 288
) -> list[Window]:
    """Windows due at *now*: from the watermark (the last fully covered end) minus the
    late-log ``allowance`` up to ``now - delay``, at most *max_windows* per call so a long
    outage is caught up in bounded steps; with no watermark yet, only the latest window.

    Re-evaluating the allowance is idempotent (alerts have deterministic ids) and is
    what finds an event that reached Elasticsearch after its window was first run."""
    last_end = align_down(now - schedule.delay, schedule.interval)
    if watermark is None:
        return [Window(last_end - schedule.window, last_end)]
    if last_end <= watermark:
        return []
    first_end = min(align_down(watermark - schedule.allowance, schedule.interval), watermark) + schedule.interval
    again = max(0, (watermark - first_end) // schedule.interval + 1)  # re-evaluated, on top of the cap
    return _windows(first_end, last_end, schedule, max_windows + again)
