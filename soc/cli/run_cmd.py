"""``soc run``: the detection scheduler in the foreground, showing what it does.

Each new alert and each incident opened is printed on stdout as it is recorded, and once
per cycle (the CSIRT job, every minute) one status line sums up the cycle::

    09:41:00 cycle: 13 detector run(s), 0 not run, lag ≤ 75 s (failed-login-burst), 2 new alert(s),
      0 extended, 1 incident(s) opened, 1 delivery(ies), 0 escalation(s)   (one line)
    alert A-3f2c9a… high failed-login-burst user.name=s.abe, source.ip=198.51.100.23 count=25
    incident INC-20261123-ab12cd34 opened (alert A-3f2c9a…)

``-q`` prints none of it (the logs on stderr stay as they are). Piped into a file or a log
collector the lines carry no colour or cursor codes; every value from a log is escaped.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from soc.cli import common
from soc.cli.common import command, safe

if TYPE_CHECKING:
    from soc.runtime.csirt import TickResult
    from soc.runtime.pipeline import PipelineResult
    from soc.runtime.scheduler import DetectorScheduler

__all__ = ["RunMonitor", "run"]


@dataclass
class _Cycle:
    ran: int = 0
    not_run: int = 0
    alerts: int = 0
    extended: int = 0
    incidents: int = 0
    lags: dict[str, float] = field(default_factory=dict)  # detector id -> seconds behind now


class RunMonitor:
    """A ``SchedulerObserver`` that prints new alerts and incidents at once and one status
    line per CSIRT cycle (thread-safe: detectors run in a pool)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._lock = threading.Lock()
        self._cycle = _Cycle()

    def detector_ran(self, scheduler: DetectorScheduler, detector_id: str, result: PipelineResult | None) -> None:
        if result is None:
            with self._lock:
                self._cycle.not_run += 1
            return
        # the watermark the run reached (no read of its run state per run)
        watermark = max((r.watermark for r in result.reports if r.watermark is not None), default=None)
        now = scheduler.ctx.clock.now()
        lines: list[str] = []
        with self._lock:
            c = self._cycle
            c.ran += 1
            if watermark is not None:
                c.lags[detector_id] = (now - watermark).total_seconds()
            for report in result.reports:
                c.alerts += len(report.created)
                c.extended += len(report.extended)
                for a in report.created:
                    who = ", ".join(f"{k}={v}" for k, v in sorted(a.entity.items())) or "(organisation)"
                    lines.append(
                        f"alert {safe(a.id)} {a.severity.value} {safe(a.detector)} {safe(who)} count={a.count}"
                    )
            c.incidents += len(result.incidents_opened)
            for incident_id in result.incidents_opened:
                alerts = [a.id for a in result.alerts.values() if a.incident_id == incident_id]
                via = f" (alert {safe(', '.join(alerts))})" if alerts else ""
                lines.append(f"incident {safe(incident_id)} opened{via}")
            for line in lines:
                self.console.print(line, soft_wrap=True)

    def csirt_ran(self, scheduler: DetectorScheduler, result: TickResult | None) -> None:
        now = scheduler.ctx.clock.now().astimezone(scheduler.ctx.settings.tz)
        with self._lock:
            c, self._cycle = self._cycle, _Cycle()
            self.console.print(self.status_line(c, result, now), soft_wrap=True)

    @staticmethod
    def status_line(c: _Cycle, result: TickResult | None, now: datetime) -> str:
        lag = ""
        if c.lags:
            worst = max(c.lags, key=lambda d: c.lags[d])
            lag = f", lag ≤ {c.lags[worst]:.0f} s ({safe(worst)})"
        desk = (
            f"{len(result.deliveries)} delivery(ies), {len(result.escalations)} escalation(s)"
            if result is not None
            else "CSIRT job did not run (see the log)"
        )
        return (
            f"{now:%H:%M:%S} cycle: {c.ran} detector run(s), {c.not_run} not run{lag}, "
            f"{c.alerts} new alert(s), {c.extended} extended, {c.incidents} incident(s) opened, {desk}"
        )


@command
def run(
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="print nothing on stdout: no status lines, alerts or incidents")
    ] = False,
) -> None:
    """Run the detection scheduler in the foreground until SIGTERM/SIGINT.

    Prints each new alert and incident as it is recorded, and one status line per cycle.

    The status line, every minute: detectors run, lag, alerts, incidents, deliveries; -q prints none."""
    from soc.runtime.service import serve

    serve(common.state.config, observer=None if quiet else RunMonitor(common.console))
