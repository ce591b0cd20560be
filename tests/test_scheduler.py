"""The scheduler isolates failures, backs off, survives outages and resumes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.triggers.interval import IntervalTrigger

from soc.clock import ManualClock
from soc.config import Settings
from soc.context import AppContext
from soc.detection.loader import load_detectors
from soc.detection.models import Detector
from soc.detection.state import RunState, RunStateStore
from soc.es.client import EsGateway, build_client
from soc.playbooks.loader import load_playbooks
from soc.runtime.csirt import TickResult
from soc.runtime.leases import SHARDS, lease_job_for
from soc.runtime.pipeline import PipelineResult
from soc.runtime.scheduler import DetectorScheduler, backoff_delay
from tests.eventgen import auth_failure, index, spread

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


def test_backoff_grows_and_caps() -> None:
    assert [backoff_delay(n).total_seconds() for n in range(6)] == [0, 30, 60, 120, 240, 480]
    assert backoff_delay(50) == timedelta(minutes=15)


def test_unreachable_elasticsearch_is_survived_and_isolated(settings: Settings) -> None:
    dead = settings.model_copy(update={"es_url": "http://127.0.0.1:1", "es_max_retries": 0, "es_timeout": 2})
    clock = ManualClock(T0)
    ctx = AppContext(settings=dead, es=EsGateway(build_client(dead), prefix=dead.index_prefix), clock=clock)
    sched = DetectorScheduler(
        ctx, detectors=load_detectors(REPO / "detectors"), playbooks=load_playbooks(REPO / "playbooks")
    )
    ids = list(sched.detectors)
    assert all(sched.tick(i) is False for i in ids)  # every detector fails, none raises
    # backing off: a tick before retry_at does not even try
    clock.advance(timedelta(seconds=10))
    assert sched.tick(ids[0]) is False
    assert sched._health[ids[0]].failures == 1
    clock.advance(timedelta(seconds=30))
    assert sched.tick(ids[0]) is False
    assert sched._health[ids[0]].failures == 2
    ctx.es.close()


def test_scheduler_restart_mid_backfill_no_duplicate_alerts(settings: Settings, ctx: AppContext) -> None:
    attack = spread(T0 + timedelta(minutes=40), 40, timedelta(seconds=20))
    index(ctx, [auth_failure(t, "a.yamada", "203.0.113.50") for t in attack])
    detectors = [d for d in load_detectors(REPO / "detectors") if d.id == "failed-login-burst"]
    playbooks = load_playbooks(REPO / "playbooks")
    clock = ManualClock(T0 + timedelta(hours=3, minutes=1))
    # pretend the service last covered T0, then was down for three hours
    ctx1 = AppContext(settings=settings, es=ctx.es, clock=clock)
    first = DetectorScheduler(ctx1, detectors=detectors, playbooks=playbooks, max_windows_per_run=10)
    RunStateStore(ctx.es).save(RunState(detector="failed-login-burst", watermark=T0))
    assert first.tick("failed-login-burst")  # covers 00:05..00:50, then the process stops
    first.shutdown()  # and hands its leases back (a killed one's expire: tests/test_scheduler_leases.py)

    second = DetectorScheduler(ctx1, detectors=detectors, playbooks=playbooks, max_windows_per_run=10)
    second.lease_tick()  # what start() does first: take the leases that are free
    while second.pipeline.engine.state.get("failed-login-burst").watermark < T0 + timedelta(hours=3):
        assert second.tick("failed-login-burst")
    alerts = second.pipeline.engine.alerts.search()
    assert len(alerts) == 1 and alerts[0].count == 40
    assert second.pipeline.engine.state.get("failed-login-burst").windows_covered == 36


def test_jobs_csirt_every_minute_in_its_own_pool(ctx: AppContext) -> None:
    sched = DetectorScheduler(
        ctx, detectors=load_detectors(REPO / "detectors"), playbooks=load_playbooks(REPO / "playbooks")
    )
    sched.add_jobs()
    jobs = {j.id: j for j in sched._scheduler.get_jobs()}
    shards = {lease_job_for(d) for d in sched.detectors}  # one job (and lease) per shard of detectors
    assert 1 < len(shards) <= SHARDS < len(sched.detectors)
    assert set(jobs) == {"csirt", *shards}  # no [summary] cron: no summary job
    csirt = jobs["csirt"]
    assert isinstance(csirt.trigger, IntervalTrigger) and csirt.trigger.interval == timedelta(minutes=1)
    assert csirt.executor == "csirt" and csirt.misfire_grace_time == 60
    assert {j.executor for i, j in jobs.items() if i in shards} == {"default"}
    # a shard fires at the shortest interval of its detectors
    for job_id in shards:
        members = [d for d in sched.detectors.values() if lease_job_for(d.id) == job_id]
        assert jobs[job_id].trigger.interval == min(d.schedule.interval for d in members)


def test_detectors_and_the_csirt_job_do_not_block_each_other(ctx: AppContext) -> None:
    """A hung detector does not hold up deadlines, and a hung CSIRT job (a slow mail server)
    does not hold up detection: the real scheduler, real threads."""
    detectors = [d for d in load_detectors(REPO / "detectors") if d.id == "failed-login-burst"]
    playbooks = load_playbooks(REPO / "playbooks")
    release = threading.Event()
    ticked, detected = threading.Event(), threading.Event()

    hung_detection = DetectorScheduler(ctx, detectors=detectors, playbooks=playbooks)
    real_tick = hung_detection.desk.tick

    def hang(*_a: Any, **_k: Any) -> Any:
        release.wait(30)
        raise RuntimeError("released")

    def tick_and_signal(now: datetime | None = None) -> TickResult:
        result = real_tick(now)
        ticked.set()
        return result

    hung_detection.pipeline.run_live = hang  # type: ignore[method-assign]
    hung_detection.desk.tick = tick_and_signal  # type: ignore[method-assign]
    hung_detection.start()
    try:
        assert ticked.wait(20), "the CSIRT job did not run while a detector hung"
    finally:
        release.set()
        hung_detection.shutdown(wait=True)

    release.clear()
    hung_csirt = DetectorScheduler(ctx, detectors=detectors, playbooks=playbooks)
    real_run = hung_csirt.pipeline.run_live

    def run_and_signal(detector: Detector, **kwargs: Any) -> PipelineResult:
        result = real_run(detector, **kwargs)
        detected.set()
        return result

    hung_csirt.desk.tick = hang  # type: ignore[method-assign]
    hung_csirt.pipeline.run_live = run_and_signal  # type: ignore[method-assign]
    hung_csirt.start()
    try:
        assert detected.wait(20), "no detector ran while the CSIRT job hung"
    finally:
        release.set()
        hung_csirt.shutdown(wait=True)
    assert hung_csirt._csirt_health.failures == 1  # the hang ended in an error: isolated, backing off


class _Results:
    """A SchedulerObserver that keeps each detector's last result."""

    def __init__(self) -> None:
        self.results: dict[str, PipelineResult | None] = {}

    def detector_ran(self, scheduler: DetectorScheduler, detector_id: str, result: PipelineResult | None) -> None:
        self.results[detector_id] = result

    def csirt_ran(self, scheduler: DetectorScheduler, result: TickResult | None) -> None:
        pass


def test_a_shard_tick_queries_only_the_windows_that_can_alert(ctx: AppContext, monkeypatch: Any) -> None:
    """Four count detectors of one shard: the arrivals histograms of all four come in one
    ``_msearch`` (the same query: asked once); the two whose window holds fewer matching
    events than one group needs are covered without a query and alert nothing; the two
    that can alert do, exactly as before (40 failures in the window)."""
    attack = spread(T0 + timedelta(minutes=2), 40, timedelta(seconds=15))
    index(ctx, [auth_failure(t, "a.yamada", "203.0.113.50") for t in attack])
    base = next(d for d in load_detectors(REPO / "detectors") if d.id == "failed-login-burst")
    assert base.kind == "threshold" and base.condition.count is not None

    def variant(gte: int) -> Detector:
        count = base.condition.count.model_copy(update={"gte": gte})  # type: ignore[union-attr]
        return base.model_copy(
            update={"id": f"burst-{gte}", "condition": base.condition.model_copy(update={"count": count})}
        )

    detectors = [base, variant(40), variant(41), variant(500)]
    calls: list[tuple[str, str]] = []
    for name in ("search", "msearch"):
        real = getattr(ctx.es, name)

        def spy(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls.append((_name, str(kwargs.get("action"))))
            return _real(*args, **kwargs)

        monkeypatch.setattr(ctx.es, name, spy)
    runs = _Results()
    clock = ManualClock(T0 + timedelta(minutes=16))  # the latest window: [00:00, 00:15), the whole attack
    sched = DetectorScheduler(
        AppContext(settings=ctx.settings, es=ctx.es, clock=clock),
        detectors=detectors,
        playbooks=load_playbooks(REPO / "playbooks"),
        shards=1,
        observer=runs,
    )
    assert sched.shard_tick(0) == 4

    def report(detector_id: str) -> Any:
        result = runs.results[detector_id]
        assert result is not None
        return result.reports[0]

    for alerting in ("failed-login-burst", "burst-40"):
        assert [(a.entity, a.count) for a in report(alerting).created] == [
            ({"user.name": "a.yamada", "source.ip": "203.0.113.50"}, 40)
        ]
        assert report(alerting).quiet == 0 and report(alerting).windows == 1
    for quiet in ("burst-41", "burst-500"):
        assert report(quiet).created == [] and report(quiet).quiet == 1 and report(quiet).windows == 1
        assert not [c for c in calls if quiet in c[1]], calls  # never queried
    assert calls.count(("msearch", "late-arrival check")) == 1
    assert ("search", "late-arrival check") not in calls
    state = sched.pipeline.engine.state.get("burst-500")
    assert state.watermark == T0 + timedelta(minutes=15)  # covered all the same
    sched.shutdown()
