"""Fault injection with a real node: Elasticsearch goes down in the middle of live
detection and comes back on the same data. The scheduler backs off, then backfills every
missed window: no gap, no duplicate alert."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

from soc.clock import ManualClock
from soc.config import load_settings
from soc.context import AppContext
from soc.detection.loader import load_detectors
from soc.detection.state import RunState, RunStateStore
from soc.es.client import EsGateway, build_client
from soc.es.localnode import down, up
from soc.playbooks.loader import load_playbooks
from soc.runtime.scheduler import DetectorScheduler
from tests.eventgen import auth_failure, index, spread

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_outage_then_recovery_backfills_without_gaps_or_duplicates(tmp_path: Path) -> None:
    port, data = _free_port(), tmp_path / "es"
    node = up(data_dir=data, port=port, heap="512m")
    try:
        settings = load_settings(es_url=node.url, index_prefix="outage", es_max_retries=0, es_timeout=3)
        clock = ManualClock(T0 + timedelta(minutes=31))
        ctx = AppContext(settings=settings, es=EsGateway(build_client(settings), prefix="outage"), clock=clock)
        # the attack runs from 00:50 to 01:10, across the outage below
        index(
            ctx,
            [
                auth_failure(t, "r.hayashi", "203.0.113.77")
                for t in spread(T0 + timedelta(minutes=50), 60, timedelta(seconds=20))
            ],
        )
        detectors = [d for d in load_detectors(REPO / "detectors") if d.id == "failed-login-burst"]
        sched = DetectorScheduler(ctx, detectors=detectors, playbooks=load_playbooks(REPO / "playbooks"))
        engine = sched.pipeline.engine
        RunStateStore(ctx.es).save(RunState(detector="failed-login-burst", watermark=T0))  # last covered before
        assert sched.tick("failed-login-burst")  # covers up to 00:30
        assert engine.state.get("failed-login-burst").watermark == T0 + timedelta(minutes=30)

        assert down(data_dir=data)  # Elasticsearch goes away
        for minutes in (45, 60, 75):
            clock.set(T0 + timedelta(minutes=minutes, seconds=30))
            assert sched.tick("failed-login-burst") is False  # fails, isolated, backs off
        assert sched._health["failed-login-burst"].failures >= 1

        node = up(data_dir=data, port=port, heap="512m")  # back, same data
        clock.set(T0 + timedelta(hours=2, minutes=1))
        assert sched.tick("failed-login-burst")
        final = engine.state.get("failed-login-burst")
        assert final.watermark == T0 + timedelta(hours=2)
        assert final.windows_covered == 24  # 00:05 … 02:00, each window exactly once
        alerts = engine.alerts.search()
        assert len(alerts) == 1 and alerts[0].count == 60
        assert alerts[0].incident_id is not None  # escalated after recovery too
        ctx.es.close()
    finally:
        down(data_dir=data)
