"""The live scheduler: one APScheduler job per detector, each isolating its own failures.

* ``coalesce=True``, ``max_instances=1``, a misfire grace of one interval and a little
  jitter (as ElastAlert 2 does), so a slow run never stacks up behind itself.
* Every run resumes from the watermark stored in Elasticsearch: after a restart or an
  outage the missed windows are backfilled, never skipped, and never re-alerted
  (alert ids are deterministic; see soc/alerts/store.py).
* A failing detector (Elasticsearch unreachable, a bad mapping) is logged, recorded in
  its run state and retried with exponential backoff while the others keep running.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from soc.context import AppContext
from soc.detection.models import Detector
from soc.errors import ElasticsearchUnavailable
from soc.playbooks.models import Playbook
from soc.runtime.pipeline import Pipeline

__all__ = ["DetectorScheduler", "backoff_delay"]

log = logging.getLogger("soc.scheduler")

MAX_BACKOFF = timedelta(minutes=15)
BASE_BACKOFF = timedelta(seconds=30)


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


class DetectorScheduler:
    def __init__(
        self,
        ctx: AppContext,
        *,
        detectors: Sequence[Detector],
        playbooks: Sequence[Playbook],
        max_windows_per_run: int = 288,
        workers: int = 4,
    ) -> None:
        self.ctx = ctx
        self.detectors = {d.id: d for d in detectors}
        self.pipeline = Pipeline(ctx, playbooks=playbooks)
        self.max_windows = max_windows_per_run
        self._health = {d.id: _Health() for d in detectors}
        self._stop = threading.Event()
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(workers)},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone="UTC",
        )

    # -- one run of one detector (also called directly by tests) ---------------
    def tick(self, detector_id: str) -> bool:
        """Run one detector now; True on success. Never raises: failures are isolated."""
        detector = self.detectors[detector_id]
        health = self._health[detector_id]
        now = self.ctx.clock.now()
        if health.retry_at is not None and now < health.retry_at:
            return False
        try:
            result = self.pipeline.run_live(detector, max_windows=self.max_windows)
        except ElasticsearchUnavailable as exc:
            self._failed(detector_id, health, now, f"Elasticsearch unreachable: {exc.message}")
            return False
        except Exception as exc:  # noqa: BLE001 - one detector must never stop the others
            self._failed(detector_id, health, now, f"{type(exc).__name__}: {exc}")
            return False
        if health.failures:
            log.info("detector %s recovered after %d failure(s)", detector_id, health.failures)
        health.failures, health.retry_at = 0, None
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
        return True

    def _failed(self, detector_id: str, health: _Health, now: datetime, message: str) -> None:
        health.failures += 1
        delay = backoff_delay(health.failures)
        health.retry_at = now + delay
        log.warning(
            "detector %s failed (%d in a row), retrying in %ss: %s",
            detector_id,
            health.failures,
            int(delay.total_seconds()),
            message,
        )

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> None:
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
                next_run_time=self.ctx.clock.now(),  # catch up at once after a (re)start
            )
        self._scheduler.start()
        log.info("scheduler started with %d detector(s)", len(self.detectors))

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
