"""The periodic SOC summary: a crontab line in the local time zone, files, one notification.

Each run covers the period that ends at the latest scheduled fire time (whole-day periods
end at local midnight of that day, so "0 8 * * 1" with ``7d`` reports Monday to Sunday).
The notification key is ``summary:<start>:<end>``: a re-run, a catch-up after a restart or
a second process finds the delivery records and neither rewrites the files nor sends again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from soc.config import SummarySchedule
from soc.context import AppContext
from soc.cron import crontab_trigger, previous_fire_time
from soc.es.indices import ensure_ready
from soc.notify.models import Delivery, Notification, routes_to
from soc.notify.service import Notifier
from soc.reports.batch import write_summary_report
from soc.vocab import Bilingual, Severity, iso

__all__ = ["SummaryJob", "SummaryRun", "crontab_trigger", "previous_fire_time", "summary_key"]

log = logging.getLogger("soc.summary")


def summary_key(start: datetime, end: datetime) -> str:
    """The notification key of the summary of [start, end): the same period, the same key."""
    return f"summary:{iso(start)}:{iso(end)}"


@dataclass
class SummaryRun:
    start: datetime
    end: datetime
    key: str
    paths: list[Path] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    skipped: bool = False  # delivered (or being delivered) already


class SummaryJob:
    """Writes the SOC summary into ``<out_dir>/reports/`` and tells people where it is."""

    def __init__(self, ctx: AppContext, *, notifier: Notifier, schedule: SummarySchedule) -> None:
        if schedule.cron is None:
            raise ValueError("the summary schedule has no cron line")
        self.ctx = ctx
        self.notifier = notifier
        self.schedule = schedule
        self.trigger = crontab_trigger(schedule.cron, ctx.settings.tz)
        self.out_dir = ctx.settings.out_dir / "reports"

    @classmethod
    def from_context(cls, ctx: AppContext, *, notifier: Notifier) -> SummaryJob | None:
        """The job of ``[summary]``, or None when it is switched off (no ``cron``)."""
        schedule = ctx.settings.summary
        return cls(ctx, notifier=notifier, schedule=schedule) if schedule.cron else None

    def period(self, now: datetime) -> tuple[datetime, datetime]:
        """[start, end) of the report due at *now*, in the local time zone."""
        end = previous_fire_time(self.trigger, now).astimezone(self.ctx.settings.tz)
        if self.schedule.period % timedelta(days=1) == timedelta(0):
            end = end.replace(hour=0, minute=0, second=0, microsecond=0)
        return end - self.schedule.period, end  # wall-clock arithmetic: whole local days

    def run(self, now: datetime | None = None) -> SummaryRun:
        """Write and announce the report due at *now* (default: the clock), unless done already."""
        start, end = self.period(now or self.ctx.clock.now())
        key = summary_key(start, end)
        routed = [d for d in self.notifier.destinations if routes_to(d, self._notification(key, start, end, []))]
        ensure_ready(self.ctx.es)
        if routed and all(self.notifier.get(key, d.name) is not None for d in routed):
            log.info("summary %s: delivered already", key)
            return SummaryRun(start=start, end=end, key=key, skipped=True)
        paths = write_summary_report(
            self.ctx,
            start=start,
            end=end,
            out_dir=self.out_dir,
            langs=self.schedule.langs,
            formats=self.schedule.formats,
        )
        log.info("summary %s: wrote %s", key, ", ".join(p.name for p in paths))
        deliveries = self.notifier.notify(self._notification(key, start, end, paths))
        return SummaryRun(start=start, end=end, key=key, paths=paths, deliveries=deliveries)

    def _notification(self, key: str, start: datetime, end: datetime, paths: list[Path]) -> Notification:
        tz = self.ctx.settings.tz
        first, last = start.astimezone(tz), (end - timedelta(microseconds=1)).astimezone(tz)
        span = f"{first:%Y-%m-%d} - {last:%Y-%m-%d}"
        files = "\n".join(f"- {p}" for p in paths)
        return Notification(
            key=key,
            severity=Severity.low,
            roles=("ciso", "csirt-lead"),
            subject=Bilingual(en=f"SOC summary {span}", ja=f"SOC 定期報告 {span}"),
            body=Bilingual(
                en=f"The SOC summary for {start.astimezone(tz).isoformat()} to {end.astimezone(tz).isoformat()} "
                f"({tz}) is ready:\n{files}",
                ja=f"{start.astimezone(tz).isoformat()} から {end.astimezone(tz).isoformat()} まで（{tz}）の"
                f"SOC 定期報告を作成しました:\n{files}",
            ),
        )
