"""The live scheduler: detectors in shards (one APScheduler job and one lease per shard),
the CSIRT desk every minute and the periodic summary report, each isolating its own failures.

* Detectors are split into ``SHARDS`` shards by a stable hash of their id
  (soc/runtime/leases.py). Each shard fires every (shortest) detector interval, the
  shards spread over that interval, and runs the detectors whose next window is due,
  ``batch_threads`` at a time, the slowest (by their last run) first: their run states
  are read in one ``_mget``, saved in one ``_bulk`` under one lease check
  (soc/runtime/fencing.py), and the alerts they raised are escalated once. 1,000
  detectors at one minute cost 16 leases and a few dozen state requests a minute, not
  thousands; the arrivals histograms of a shard's due detectors go in one ``_msearch``
  per dataset, and a count detector's window too quiet to alert is never queried
  (soc/detection/engine.py).
* ``coalesce=True``, ``max_instances=1`` and a misfire grace of one interval, so a slow
  shard never stacks up behind itself.
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
  detector shard, the CSIRT job, the summary) runs only in the process that holds its lease
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
from concurrent import futures
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from soc.context import AppContext
from soc.detection.engine import Arrivals
from soc.detection.models import Detector
from soc.detection.state import RunState, RunStateStore
from soc.detection.windows import align_down, live_windows
from soc.errors import ElasticsearchBusy, ElasticsearchUnavailable, SocError
from soc.es.client import translate_errors
from soc.es.indices import alerts_index, deliveries_index, ensure_ready, incidents_index, state_index
from soc.es.locks import locks_index
from soc.es.outage import OUTAGE_FILE, OutageLog
from soc.notify.service import Notifier
from soc.playbooks.models import Playbook
from soc.runtime.csirt import CsirtDesk, TickResult
from soc.runtime.fencing import FencedRunStateStore
from soc.runtime.leases import SHARDS, Lease, LeaseLost, LeaseManager, lease_job_for, shard_job, shard_of
from soc.runtime.pipeline import Pipeline, PipelineResult
from soc.runtime.summary_job import SummaryJob, SummaryRun

__all__ = [
    "CSIRT_INTERVAL",
    "CSIRT_JOB",
    "SUMMARY_JOB",
    "DetectorScheduler",
    "SchedulerObserver",
    "backoff_delay",
    "lease_job_for",
]

T = TypeVar("T")

log = logging.getLogger("soc.scheduler")

MAX_BACKOFF = timedelta(minutes=15)
BASE_BACKOFF = timedelta(seconds=30)
CSIRT_INTERVAL = timedelta(minutes=1)
SUMMARY_GRACE = timedelta(hours=1)  # a summary fire missed by up to this much still runs
CSIRT_JOB, SUMMARY_JOB = "csirt", "summary"  # lease names (detectors: "detectors:<shard>")


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

    def waiting(self, now: datetime) -> bool:
        return self.retry_at is not None and now < self.retry_at


class _Batch(RunStateStore):
    """The run states of one shard tick: read together before the runs, saved together after."""

    def __init__(self, gw: Any, states: dict[str, RunState]) -> None:
        super().__init__(gw)
        self._states = states
        self.saved: dict[str, RunState] = {}

    def get(self, detector_id: str) -> RunState:
        return self._states[detector_id]

    def save(self, state: RunState) -> None:
        self.saved[state.detector] = state


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
        shards: int = SHARDS,
        batch_threads: int = 4,
    ) -> None:
        self.ctx = ctx
        self.observer = observer
        self.detectors = {d.id: d for d in detectors}
        self.shards = shards
        self.batch_threads = batch_threads  # detectors of one shard tick run this many at a time
        self._shards: dict[int, list[Detector]] = {}
        for d in detectors:
            self._shards.setdefault(shard_of(d.id, shards), []).append(d)
        members = {shard_job(k): [d.id for d in ds] for k, ds in self._shards.items()}
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
        self._fenced = FencedRunStateStore(
            ctx.es,
            leases=self.leases,
            job_of=lambda detector_id: lease_job_for(detector_id, shards),
            members=lambda job: members.get(job, []),
        )
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

    # -- runs of detectors (also called directly by tests) ------------------------
    def tick(self, detector_id: str) -> bool:
        """Run one detector now (under its shard's lease), then announce the incidents it
        opened; True on success. Never raises: failures are isolated."""
        detector = self.detectors[detector_id]
        results = self._run_batch(shard_of(detector_id, self.shards), [detector], due_only=False)
        return results.get(detector_id) is not None

    def shard_tick(self, shard: int) -> int:
        """Run every detector of *shard* whose next window is due (the shard's job); the
        number of runs that succeeded. Never raises."""
        results = self._run_batch(shard, self._shards.get(shard, []), due_only=True)
        return sum(1 for r in results.values() if r is not None)

    def _run_batch(
        self, shard: int, detectors: Sequence[Detector], *, due_only: bool
    ) -> dict[str, PipelineResult | None]:
        """Under the shard's lease: read the run states (one request), run the detectors,
        save the states (one lease check, one request), escalate once. A detector's own
        failure is isolated and backs it off; a failure of the shard's reads or writes
        backs off the detectors of the batch (their windows are run again, idempotently)."""
        now = self.ctx.clock.now()
        ready = [d for d in detectors if not self._health[d.id].waiting(now)]
        if not ready:
            return {d.id: None for d in detectors}
        what = f"detector {ready[0].id}" if len(ready) == 1 else f"detectors of shard {shard}"
        job = shard_job(shard)
        batch = lambda: self._owned(job, lambda: self._batch(ready, due_only))  # noqa: E731
        # reset=False: a detector's health is reset by its own run (in _batch), not the batch's
        ran = self._guarded(what, [self._health[d.id] for d in ready], batch, reset=False)
        results: dict[str, PipelineResult | None] = ran if ran is not None else {d.id: None for d in ready}
        if self.observer is not None:
            for detector_id, result in results.items():
                self.observer.detector_ran(self, detector_id, result)
        behind = any(r is not None and any(x.windows >= self.max_windows for x in r.reports) for r in results.values())
        if behind and self._scheduler.running:  # catching up (after an outage or a restart): at once, not next interval
            with contextlib.suppress(Exception):
                self._scheduler.modify_job(job, next_run_time=_wall_now())
        return {d.id: results.get(d.id) for d in detectors}

    def _batch(self, detectors: Sequence[Detector], due_only: bool) -> dict[str, PipelineResult | None]:
        batch = _Batch(self.ctx.es, self._fenced.get_many([d.id for d in detectors]))
        now = self.ctx.clock.now()
        due = [
            d
            for d in detectors
            if not due_only or live_windows(d.schedule, watermark=batch.get(d.id).watermark, now=now, max_windows=1)
        ]  # the others have nothing due yet: no run, no write
        # longest first (by each one's last run): the slow runs overlap the many quick ones
        # instead of starting last and holding the whole shard (and its runs' lag) after them
        due.sort(key=lambda d: -batch.get(d.id).last_duration_s)
        arrivals = self._prefetch(due, batch)
        results: dict[str, PipelineResult | None] = {}
        away = threading.Event()  # Elasticsearch is away: the rest would only wait for timeouts

        def run(detector: Detector) -> None:
            if away.is_set():
                return
            health = self._health[detector.id]
            results[detector.id] = self._guarded(
                f"detector {detector.id}",
                [health],
                lambda: self.pipeline.run_live(
                    detector,
                    max_windows=self.max_windows,
                    states=batch,
                    escalate=False,
                    arrivals=arrivals.get(detector.id),
                ),
            )
            if results[detector.id] is None and health.failures and health.outage:
                away.set()

        if len(due) > 1 and self.batch_threads > 1:  # a slow detector does not hold up the rest of its shard
            with futures.ThreadPoolExecutor(min(self.batch_threads, len(due)), "soc-shard") as pool:
                list(pool.map(run, due))
        else:
            for detector in due:
                run(detector)
        self._fenced.save_many(batch.saved.values())
        ran = {i: r for i, r in results.items() if r is not None}
        for detector_id, result in ran.items():
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
        if ran:
            self._escalate(ran)
        return results

    def _prefetch(self, due: Sequence[Detector], batch: _Batch) -> dict[str, Arrivals]:
        """The arrivals histograms of the due detectors, in one ``_msearch`` per dataset
        instead of one search per run; on failure each run asks for its own (and meets the
        failure there, isolated as usual)."""
        if len(due) < 2:
            return {}
        try:
            return self.pipeline.engine.prefetch_arrivals(
                [(d, batch.get(d.id)) for d in due], max_windows=self.max_windows
            )
        except Exception as exc:  # noqa: BLE001 - an optimisation: the runs fall back to their own request
            log.debug("arrivals prefetch failed (%s: %s); each run asks for its own", type(exc).__name__, exc)
            return {}

    def _escalate(self, results: dict[str, PipelineResult]) -> None:
        """One escalation for the batch's alerts (and any left pending by an interrupted
        one); each detector's result gets the incidents of its own alerts."""
        combined = PipelineResult()
        for result in results.values():
            combined.alerts.update(result.alerts)
        self.pipeline.escalate_pending(combined)
        opened = set(combined.incidents_opened)
        for result in results.values():
            for alert_id in result.alerts:
                result.alerts[alert_id] = combined.alerts[alert_id]
            mine = {a.incident_id for a in result.alerts.values() if a.incident_id}
            result.incidents_opened = [i for i in combined.incidents_opened if i in mine]
            result.incidents_joined = [i for i in combined.incidents_joined if i in mine and i not in opened]
        for incident in combined.incidents_opened:
            log.info("incident %s opened", incident)
        if combined.incidents_opened:
            self._announce(combined.incidents_opened)

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
        result = self._guarded("CSIRT job", [self._csirt_health], lambda: self._owned(CSIRT_JOB, desk_tick))
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
            return self._guarded("summary report", [self._summary_health], lambda: self._owned(SUMMARY_JOB, job.run))

    # -- leases ------------------------------------------------------------------
    def jobs(self) -> list[str]:
        """The lease name of every job this scheduler can run."""
        names = [*(shard_job(k) for k in sorted(self._shards)), CSIRT_JOB]
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

    def _guarded(self, what: str, healths: Sequence[_Health], run: Callable[[], T], *, reset: bool = True) -> T | None:
        """Run *run* unless backing off; a failure is logged once and delays the next try
        of each of *healths* (a batch's detectors share the failure of its reads and writes)."""
        now = self.ctx.clock.now()
        if all(h.waiting(now) for h in healths):
            return None
        try:
            result = run()
        except LeaseLost as exc:
            log.info("%s stopped: %s (its new owner carries on)", what, exc.message)
            return None
        except (ElasticsearchUnavailable, ElasticsearchBusy) as exc:  # 429/503 storms are outages too
            self.outage.failed(what, exc.message)
            for health in healths:
                health.outage = True
            self._failed(what, healths, now, f"Elasticsearch unreachable: {exc.message}")
            return None
        except Exception as exc:  # noqa: BLE001 - one job must never stop the others
            for health in healths:
                health.outage = False
            self._failed(what, healths, now, f"{type(exc).__name__}: {exc}")
            return None
        self.outage.succeeded()
        for health in healths if reset else ():
            if health.failures and not health.outage:
                log.info("%s recovered after %d failure(s)", what, health.failures)
            health.failures, health.retry_at, health.outage = 0, None, False
        return result

    def _failed(self, what: str, healths: Sequence[_Health], now: datetime, message: str) -> None:
        # a detector whose own run failed in this batch is already backing off: counted once
        healths = [h for h in healths if not h.waiting(now)] or healths
        for health in healths:
            health.failures += 1
            health.retry_at = now + backoff_delay(health.failures)
        failures = max(h.failures for h in healths)
        delay = backoff_delay(failures)
        log.log(
            logging.DEBUG if all(h.outage for h in healths) else logging.WARNING,
            "%s failed (%d in a row), retrying in %ss: %s",
            what,
            failures,
            int(delay.total_seconds()),
            message,
        )

    # -- lifecycle -------------------------------------------------------------
    def add_jobs(self) -> None:
        """Register every job (``start`` does; tests inspect them without starting)."""
        now = _wall_now()  # catch up at once after a (re)start
        for shard, detectors in sorted(self._shards.items()):
            every = int(min(d.schedule.interval for d in detectors).total_seconds())
            # shards fire spread over the interval, not all in the same second: a shard's
            # runs wait for its own detectors, not for every other shard's
            offset = timedelta(seconds=every * shard / self.shards)
            self._scheduler.add_job(
                self.shard_tick,
                IntervalTrigger(seconds=every, start_date=align_down(now, timedelta(seconds=every)) + offset),
                args=[shard],
                id=shard_job(shard),
                name=f"{len(detectors)} detector(s) of shard {shard}",
                misfire_grace_time=every,
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

    def prepare_indices(self) -> None:
        """Create the indices every run writes (alerts, locks, run state, incidents,
        deliveries) and wait for their primaries, before the first runs: created on the
        first write instead, by 16 threads at once, a read that reached a new index before
        its shard was assigned failed with HTTP 503 ``no_shard_available`` and backed its
        detector off at warm-up. Best effort: a failure here is met again by the runs."""
        gw = self.ctx.es
        names = [alerts_index(gw), locks_index(gw), state_index(gw), incidents_index(gw), deliveries_index(gw)]
        try:
            ensure_ready(gw)
            with translate_errors("create the scheduler's indices"):
                existing = gw.client.options(ignore_status=404).indices.get_alias(index=names, ignore_unavailable=True)
                for name in names:
                    if name not in existing:  # 400: created meanwhile by another scheduler
                        gw.client.options(ignore_status=400).indices.create(index=name)
                gw.client.cluster.health(index=names, wait_for_status="yellow", timeout="30s")
        except SocError as exc:
            log.warning("indices not prepared (%s); the runs create them", exc.message)

    def start(self) -> None:
        """Take this process's share of the leases, start the summary catch-up, then the jobs."""
        self.prepare_indices()
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
            sum(len(ds) for k, ds in self._shards.items() if self.leases.holds(shard_job(k))),
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
            # with a timeout: a signal the kernel hands to another thread does not interrupt a
            # blocked wait, and Python runs its handler only when the main thread runs again
            while not self._stop.wait(0.5):
                pass
        finally:
            self.shutdown(wait=True)
