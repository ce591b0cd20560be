"""The live scheduler: one APScheduler job per detector, the CSIRT desk every minute and
the periodic summary report, each isolating its own failures.

* ``coalesce=True``, ``max_instances=1``, a misfire grace of one interval and a little
  jitter (as ElastAlert 2 does), so a slow run never stacks up behind itself.
* Every run resumes from the watermark stored in Elasticsearch: after a restart or an
  outage the missed windows are backfilled, never skipped, and never re-alerted
  (alert ids are deterministic; see soc/alerts/store.py).
* A failing detector (Elasticsearch unreachable, a bad mapping) is logged, recorded in
  its run state and retried with exponential backoff while the others keep running.
* Incidents a detector run opens are announced at once; every minute the CSIRT job checks
  deadlines (each breach escalates and notifies once), sends what a crash left unsent and
  retries failed deliveries (see soc/runtime/csirt.py).
* The summary report (``[summary]``) fires on a crontab line in the configured time zone
  and once at start, which catches up a period missed while the service was down; its
  notification key makes that harmless when it was sent already (soc/runtime/summary_job.py).
* Detectors, the CSIRT job and the summary run in separate thread pools, so a slow
  detector never delays a deadline and a slow mail server or PDF never delays detection.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from soc.context import AppContext
from soc.detection.models import Detector
from soc.errors import ElasticsearchUnavailable
from soc.es.outage import OutageLog
from soc.notify.service import Notifier
from soc.playbooks.models import Playbook
from soc.runtime.csirt import CsirtDesk, TickResult
from soc.runtime.pipeline import Pipeline
from soc.runtime.summary_job import SummaryJob, SummaryRun

__all__ = ["CSIRT_INTERVAL", "DetectorScheduler", "backoff_delay"]

T = TypeVar("T")

log = logging.getLogger("soc.scheduler")

MAX_BACKOFF = timedelta(minutes=15)
BASE_BACKOFF = timedelta(seconds=30)
CSIRT_INTERVAL = timedelta(minutes=1)
SUMMARY_GRACE = timedelta(hours=1)  # a summary fire missed by up to this much still runs


def backoff_delay(failures: int) -> timedelta:
    """30 s, 1 min, 2 min, … capped at 15 min."""
    if failures <= 0:
        return timedelta(0)
    delay: timedelta = BASE_BACKOFF * (2 ** min(failures - 1, 10))
    return min(delay, MAX_BACKOFF)


@dataclass
class _Health:
    failures: int = 0
    retry_at: datetime | None = None
    outage: bool = False  # the failures were Elasticsearch being away: OutageLog tells those


class DetectorScheduler:
    def __init__(
        self,
        ctx: AppContext,
        *,
        detectors: Sequence[Detector],
        playbooks: Sequence[Playbook],
        notifier: Notifier | None = None,
        max_windows_per_run: int = 288,
        workers: int = 4,
    ) -> None:
        self.ctx = ctx
        self.detectors = {d.id: d for d in detectors}
        self.pipeline = Pipeline(ctx, playbooks=playbooks)
        self.max_windows = max_windows_per_run
        self.notifier = notifier or Notifier.from_context(ctx)
        self.desk = CsirtDesk(ctx, playbooks=playbooks, notifier=self.notifier)
        self.summary = SummaryJob.from_context(ctx, notifier=self.notifier)
        self._health = {d.id: _Health() for d in detectors}
        self._csirt_health = _Health()
        self._summary_health = _Health()
        self.outage = OutageLog(now=ctx.clock.now, logger=log)  # one line per outage, not per job and try
        self._stop = threading.Event()
        self._scheduler = BackgroundScheduler(
            executors={
                "default": ThreadPoolExecutor(workers),  # detectors
                "csirt": ThreadPoolExecutor(1),
                "reports": ThreadPoolExecutor(1),
            },
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone="UTC",
        )

    # -- one run of one detector (also called directly by tests) ---------------
    def tick(self, detector_id: str) -> bool:
        """Run one detector now, then announce the incidents it opened; True on success.
        Never raises: failures are isolated."""
        detector = self.detectors[detector_id]
        result = self._guarded(
            f"detector {detector_id}",
            self._health[detector_id],
            lambda: self.pipeline.run_live(detector, max_windows=self.max_windows),
        )
        if result is None:
            return False
        for report in result.reports:
            if report.windows:
                log.info(
                    "detector %s: %d window(s), %d new alert(s), %d extended, took %d ms",
                    detector_id,
                    report.windows,
                    len(report.created),
                    len(report.extended),
                    report.took_ms,
                )
        for incident in result.incidents_opened:
            log.info("incident %s opened", incident)
        if result.incidents_opened:
            self._announce(result.incidents_opened)
        return True

    def _announce(self, incident_ids: Iterable[str]) -> None:
        ids = list(incident_ids)
        try:
            self.desk.announce(ids)
        except Exception as exc:  # noqa: BLE001 - detection succeeded; the CSIRT job catches up
            log.warning(
                "announcing %s failed (%s: %s); the CSIRT job will send it", ", ".join(ids), type(exc).__name__, exc
            )

    # -- the CSIRT desk and the summary (also called directly by tests) -----------
    def csirt_tick(self) -> TickResult | None:
        """Deadlines, escalations, catch-up and retries; None if it failed (retried with backoff)."""
        result = self._guarded("CSIRT job", self._csirt_health, lambda: self.desk.tick(self.ctx.clock.now()))
        if result is not None and (result.escalations or result.deliveries):
            log.info(
                "CSIRT job: %d escalation(s), %d delivery record(s) touched",
                len(result.escalations),
                len(result.deliveries),
            )
        return result

    def summary_tick(self) -> SummaryRun | None:
        """Write and send the summary due now; None if switched off or failed."""
        job = self.summary
        if job is None:
            return None
        return self._guarded("summary report", self._summary_health, job.run)

    def _guarded(self, what: str, health: _Health, run: Callable[[], T]) -> T | None:
        """Run *run* unless backing off; a failure is logged and delays the next try."""
        now = self.ctx.clock.now()
        if health.retry_at is not None and now < health.retry_at:
            return None
        try:
            result = run()
        except ElasticsearchUnavailable as exc:
            self.outage.failed(what, exc.message)
            health.outage = True
            self._failed(what, health, now, f"Elasticsearch unreachable: {exc.message}")
            return None
        except Exception as exc:  # noqa: BLE001 - one job must never stop the others
            health.outage = False
            self._failed(what, health, now, f"{type(exc).__name__}: {exc}")
            return None
        self.outage.succeeded()
        if health.failures and not health.outage:
            log.info("%s recovered after %d failure(s)", what, health.failures)
        health.failures, health.retry_at, health.outage = 0, None, False
        return result

    def _failed(self, what: str, health: _Health, now: datetime, message: str) -> None:
        health.failures += 1
        delay = backoff_delay(health.failures)
        health.retry_at = now + delay
        log.log(
            logging.DEBUG if health.outage else logging.WARNING,
            "%s failed (%d in a row), retrying in %ss: %s",
            what,
            health.failures,
            int(delay.total_seconds()),
            message,
        )

    # -- lifecycle -------------------------------------------------------------
    def add_jobs(self) -> None:
        """Register every job (``start`` does; tests inspect them without starting)."""
        now = self.ctx.clock.now()  # catch up at once after a (re)start
        for detector in self.detectors.values():
            interval = detector.schedule.interval
            self._scheduler.add_job(
                self.tick,
                IntervalTrigger(
                    seconds=int(interval.total_seconds()),
                    jitter=min(10, int(interval.total_seconds() // 10)),
                ),
                args=[detector.id],
                id=f"detector:{detector.id}",
                name=detector.id,
                misfire_grace_time=int(interval.total_seconds()),
                next_run_time=now,
            )
        self._scheduler.add_job(
            self.csirt_tick,
            IntervalTrigger(seconds=int(CSIRT_INTERVAL.total_seconds())),
            id="csirt",
            name="CSIRT deadlines and notifications",
            executor="csirt",
            misfire_grace_time=int(CSIRT_INTERVAL.total_seconds()),
            next_run_time=now,
        )
        if self.summary is not None:
            self._scheduler.add_job(
                self.summary_tick,
                self.summary.trigger,
                id="summary",
                name="SOC summary report",
                executor="reports",
                misfire_grace_time=int(SUMMARY_GRACE.total_seconds()),
                next_run_time=now,  # a period missed while down; a no-op if it was sent
            )

    def start(self) -> None:
        self.add_jobs()
        self._scheduler.start()
        log.info(
            "scheduler started with %d detector(s), the CSIRT job every %ds%s",
            len(self.detectors),
            int(CSIRT_INTERVAL.total_seconds()),
            f" and the summary on '{self.summary.schedule.cron}' ({self.ctx.settings.timezone})"
            if self.summary is not None
            else "",
        )

    def shutdown(self, *, wait: bool = True) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)
        self._stop.set()
        log.info("scheduler stopped")

    def run_forever(self) -> None:
        """Start, then block until SIGTERM or SIGINT; finish running jobs, then return."""

        def _stop(signum: int, _frame: Any) -> None:
            log.info("received %s, shutting down", signal.Signals(signum).name)
            self._stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        self.start()
        try:
            self._stop.wait()
        finally:
            self.shutdown(wait=True)
