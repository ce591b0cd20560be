"""The live scheduler: one APScheduler job per detector, the CSIRT desk every minute and
the periodic summary report, each isolating its own failures.

* ``coalesce=True``, ``max_instances=1``, a misfire grace of one interval and a little
  jitter (as ElastAlert 2 does), so a slow run never stacks up behind itself.
* Every run resumes from the watermark stored in Elasticsearch: after a restart or an
  outage the missed windows are backfilled, never skipped, and never re-alerted
  (alert ids are deterministic; see soc/alerts/store.py).
* A failing detector (Elasticsearch unreachable, a bad mapping) is logged, recorded in
  its run state and retried with exponential backoff while the others keep running.
  Elasticsearch away or answering 429/502/503/504 past the client's retries is one
  outage, logged once, summarised while it lasts, then its end (soc/es/outage.py).
* Incidents a detector run opens are announced at once; every minute the CSIRT job checks
  deadlines (each breach escalates and notifies once), sends what a crash left unsent and
  retries failed deliveries (see soc/runtime/csirt.py).
* The summary report (``[summary]``) fires on a crontab line in the configured time zone
  and once at start, which catches up a period missed while the service was down; its
  notification key makes that harmless when it was sent already (soc/runtime/summary_job.py).
* Detectors, the CSIRT job and the summary run in separate thread pools, so a slow
  detector never delays a deadline and a slow mail server or PDF never delays detection.
* Several scheduler processes can run side by side on one cluster: each job (every
  detector, the CSIRT job, the summary) runs only in the process that holds its lease
  (soc/runtime/leases.py), renewed every ``[scheduler] lease_renew``; a dead or hung
  process's jobs move to another within ``lease_ttl`` (plus one renewal), and run state
  is fenced so a process paused past its lease cannot write (soc/runtime/fencing.py).
* The start-up catch-up of the summary runs in a thread started before the scheduler
  reports ready, and a stop waits for it: a SIGTERM right after start never cuts it.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from soc.context import AppContext
from soc.detection.models import Detector
from soc.errors import ElasticsearchBusy, ElasticsearchUnavailable, SocError
from soc.es.outage import OUTAGE_FILE, OutageLog
from soc.notify.service import Notifier
from soc.playbooks.models import Playbook
from soc.runtime.csirt import CsirtDesk, TickResult
from soc.runtime.fencing import FencedRunStateStore
from soc.runtime.leases import Lease, LeaseLost, LeaseManager, detector_job
from soc.runtime.pipeline import Pipeline, PipelineResult
from soc.runtime.summary_job import SummaryJob, SummaryRun

__all__ = ["CSIRT_INTERVAL", "CSIRT_JOB", "SUMMARY_JOB", "DetectorScheduler", "SchedulerObserver", "backoff_delay"]

T = TypeVar("T")

log = logging.getLogger("soc.scheduler")

MAX_BACKOFF = timedelta(minutes=15)
BASE_BACKOFF = timedelta(seconds=30)
CSIRT_INTERVAL = timedelta(minutes=1)
SUMMARY_GRACE = timedelta(hours=1)  # a summary fire missed by up to this much still runs
CSIRT_JOB, SUMMARY_JOB = "csirt", "summary"  # lease names (detectors: "detector:<id>")


def _wall_now() -> datetime:
    """When APScheduler runs a job: real time, even when the services run on a replayed
    clock (``ctx.clock``: windows, deadlines and records use that one)."""
    return datetime.now(UTC)


def backoff_delay(failures: int) -> timedelta:
    """30 s, 1 min, 2 min, … capped at 15 min."""
    if failures <= 0:
        return timedelta(0)
    delay: timedelta = BASE_BACKOFF * (2 ** min(failures - 1, 10))
    return min(delay, MAX_BACKOFF)


class SchedulerObserver(Protocol):
    """Told of every detector run and CSIRT tick (``soc run`` prints its status lines from
    these); called from the job threads, after the run; must not raise."""

    def detector_ran(self, scheduler: DetectorScheduler, detector_id: str, result: PipelineResult | None) -> None: ...

    def csirt_ran(self, scheduler: DetectorScheduler, result: TickResult | None) -> None: ...


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
        leases: LeaseManager | None = None,
        observer: SchedulerObserver | None = None,
    ) -> None:
        self.ctx = ctx
        self.observer = observer
        self.detectors = {d.id: d for d in detectors}
        self.pipeline = Pipeline(ctx, playbooks=playbooks)
        self.max_windows = max_windows_per_run
        self.notifier = notifier or Notifier.from_context(ctx)
        self.desk = CsirtDesk(ctx, playbooks=playbooks, notifier=self.notifier)
        self.summary = SummaryJob.from_context(ctx, notifier=self.notifier)
        self._health = {d.id: _Health() for d in detectors}
        self._csirt_health = _Health()
        self._summary_health = _Health()
        self._summary_lock = threading.Lock()
        self._catch_up: threading.Thread | None = None
        self._renewer: threading.Thread | None = None
        self._renewing = threading.Event()  # set: stop renewing
        self._busy: set[str] = set()
        self._lease_error: str | None = None
        # one line per outage, not per job and try, nor per process of this host (they share the file)
        self.outage = OutageLog(now=ctx.clock.now, logger=log, shared=ctx.settings.data_dir / OUTAGE_FILE)
        self._stop = threading.Event()
        sched = ctx.settings.scheduler
        self.leases = leases or LeaseManager(ctx.es, ttl=sched.lease_ttl, renew=sched.lease_renew)
        self._fenced = FencedRunStateStore(ctx.es, leases=self.leases)
        self.leases.on_acquired = self._on_acquired
        self.pipeline.engine.state = self._fenced  # run state and watermarks: lease holder only
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
        job = detector_job(detector_id)
        result = self._guarded(
            f"detector {detector_id}",
            self._health[detector_id],
            lambda: self._owned(job, lambda: self.pipeline.run_live(detector, max_windows=self.max_windows)),
        )
        if self.observer is not None:
            self.observer.detector_ran(self, detector_id, result)
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
        if any(r.windows >= self.max_windows for r in result.reports) and self._scheduler.running:
            # catching up (after an outage or a restart): the next step at once, not next interval
            with contextlib.suppress(Exception):
                self._scheduler.modify_job(job, next_run_time=_wall_now())
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
        desk_tick = lambda: self.desk.tick(self.ctx.clock.now())  # noqa: E731
        result = self._guarded("CSIRT job", self._csirt_health, lambda: self._owned(CSIRT_JOB, desk_tick))
        if self.observer is not None:
            self.observer.csirt_ran(self, result)
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
        with self._summary_lock:  # the start-up catch-up and a cron fire never overlap
            return self._guarded("summary report", self._summary_health, lambda: self._owned(SUMMARY_JOB, job.run))

    # -- leases ------------------------------------------------------------------
    def jobs(self) -> list[str]:
        """The lease name of every job this scheduler can run."""
        names = [*(detector_job(d) for d in self.detectors), CSIRT_JOB]
        return [*names, SUMMARY_JOB] if self.summary is not None else names

    def lease_tick(self) -> None:
        """Renew, take over and balance the leases; start at once a job just acquired."""
        try:
            result = self.leases.sync(self.jobs(), busy=set(self._busy))
        except Exception as exc:  # noqa: BLE001 - the renewal thread must outlive any failure
            message = exc.message if isinstance(exc, SocError) else f"{type(exc).__name__}: {exc}"
            if self._lease_error is None:
                log.warning("leases cannot be renewed (%s); jobs stop when they expire", message)
            self._lease_error = message
            return
        if self._lease_error is not None:
            log.info("leases renewed again")
            self._lease_error = None
        if result.acquired or result.released or result.lost:
            log.info(
                "leases: %d held of %d (fair share %d, %d scheduler(s)); acquired %s; released %s; lost %s",
                result.held,
                len(self.jobs()),
                result.share,
                result.members,
                ", ".join(result.acquired) or "-",
                ", ".join(result.released) or "-",
                ", ".join(result.lost) or "-",
            )
        if self._scheduler.running:
            now = _wall_now()
            for job in result.acquired:
                with contextlib.suppress(Exception):  # JobLookupError: not scheduled here
                    self._scheduler.modify_job(job, next_run_time=now)

    def _renew_loop(self, every: float) -> None:
        while not self._renewing.wait(every):
            self.lease_tick()

    def _on_acquired(self, lease: Lease) -> None:
        self._fenced.fence(lease)  # a previous owner's pending write now fails

    def _owned(self, job: str, run: Callable[[], T]) -> T | None:
        """Run *run* if this process holds the lease of *job* (or takes it, never taken before)."""
        if not self.leases.ensure(job):
            log.debug("%s: held by another scheduler", job)
            return None
        with self._running(job):
            return run()

    @contextlib.contextmanager
    def _running(self, job: str) -> Iterator[None]:
        self._busy.add(job)
        try:
            yield
        finally:
            self._busy.discard(job)

    def _guarded(self, what: str, health: _Health, run: Callable[[], T]) -> T | None:
        """Run *run* unless backing off; a failure is logged and delays the next try."""
        now = self.ctx.clock.now()
        if health.retry_at is not None and now < health.retry_at:
            return None
        try:
            result = run()
        except LeaseLost as exc:
            log.info("%s stopped: %s (its new owner carries on)", what, exc.message)
            return None
        except (ElasticsearchUnavailable, ElasticsearchBusy) as exc:  # 429/503 storms are outages too
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
        now = _wall_now()  # catch up at once after a (re)start
        for detector in self.detectors.values():
            interval = detector.schedule.interval
            self._scheduler.add_job(
                self.tick,
                IntervalTrigger(
                    seconds=int(interval.total_seconds()),
                    jitter=min(10, int(interval.total_seconds() // 10)),
                ),
                args=[detector.id],
                id=detector_job(detector.id),
                name=detector.id,
                misfire_grace_time=int(interval.total_seconds()),
                next_run_time=now,
            )
        self._scheduler.add_job(
            self.csirt_tick,
            IntervalTrigger(seconds=int(CSIRT_INTERVAL.total_seconds())),
            id=CSIRT_JOB,
            name="CSIRT deadlines and notifications",
            executor="csirt",
            misfire_grace_time=int(CSIRT_INTERVAL.total_seconds()),
            next_run_time=now,
        )
        if self.summary is not None:
            self._scheduler.add_job(
                self.summary_tick,
                self.summary.trigger,
                id=SUMMARY_JOB,
                name="SOC summary report",
                executor="reports",
                misfire_grace_time=int(SUMMARY_GRACE.total_seconds()),
            )  # the catch-up of a period missed while down runs at start (see start)

    def start(self) -> None:
        """Take this process's share of the leases, start the summary catch-up, then the jobs."""
        self.lease_tick()
        if self.summary is not None:
            # a period missed while down (a no-op if it was sent); a stop waits for it
            self._catch_up = threading.Thread(target=self.summary_tick, name="soc-summary-catch-up", daemon=True)
            self._catch_up.start()
        self.add_jobs()
        self._scheduler.start()
        # leases are renewed by a thread of their own, not a job: never skipped or queued
        renew = self.ctx.settings.scheduler.lease_renew.total_seconds()
        self._renewer = threading.Thread(target=self._renew_loop, args=(renew,), name="soc-leases", daemon=True)
        self._renewer.start()
        log.info(
            "scheduler %s started with %d detector(s) (%d held), the CSIRT job every %ds%s",
            self.leases.owner,
            len(self.detectors),
            sum(1 for d in self.detectors if self.leases.holds(detector_job(d))),
            int(CSIRT_INTERVAL.total_seconds()),
            f" and the summary on '{self.summary.schedule.cron}' ({self.ctx.settings.timezone})"
            if self.summary is not None
            else "",
        )

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop the jobs (finishing running ones if *wait*), then hand the leases back."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)
        if wait and self._catch_up is not None:
            self._catch_up.join()
        self._renewing.set()
        if self._renewer is not None:
            self._renewer.join()
        self._stop.set()
        try:
            self.leases.release_all()
        except SocError as exc:
            log.warning("leases not released (%s); others take over when they expire", exc.message)
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
