"""The scheduler isolates failures, backs off, survives outages and resumes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from soc.clock import ManualClock
from soc.config import Settings
from soc.context import AppContext
from soc.detection.loader import load_detectors
from soc.es.client import EsGateway, build_client
from soc.playbooks.loader import load_playbooks
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
    state = first.pipeline.engine.state.get("failed-login-burst")
    state.watermark = T0
    first.pipeline.engine.state.save(state)
    assert first.tick("failed-login-burst")  # covers 00:05..00:50, then the process "dies"

    second = DetectorScheduler(ctx1, detectors=detectors, playbooks=playbooks, max_windows_per_run=10)
    while second.pipeline.engine.state.get("failed-login-burst").watermark < T0 + timedelta(hours=3):
        assert second.tick("failed-login-burst")
    alerts = second.pipeline.engine.alerts.search()
    assert len(alerts) == 1 and alerts[0].count == 40
    assert second.pipeline.engine.state.get("failed-login-burst").windows_covered == 36
