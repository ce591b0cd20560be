"""bench/faults.py, long and short.

* ``test_faults_bench_loses_and_duplicates_nothing`` (``pytest -m slow``): the bench itself,
  a simulated half day through three real ``scheduler.py`` processes behind the fault
  proxy, on an Elasticsearch node of its own that is stopped and started once, with
  SIGKILLs, SIGSTOPs, proxy outages, a misbehaving webhook and SMTP outages.
* ``test_smoke_through_the_fault_proxy_with_one_outage`` (in ``make test``, seconds): the
  same comparison in one process — a scheduler behind the proxy (its default fault rates)
  through two simulated hours with a 20-minute outage, then a clean backtest.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.faultproxy import DEFAULT_RATES, FaultProxy
from soc.clock import ManualClock
from soc.config import Settings, load_settings
from soc.context import AppContext
from soc.detection.loader import load_detectors
from soc.detection.state import RunState, RunStateStore
from soc.es.client import EsGateway, build_client
from soc.es.indices import alerts_index, incidents_index
from soc.es.outage import quiet_transport_logs
from soc.playbooks.loader import load_playbooks
from soc.runtime.pipeline import Pipeline, PipelineResult
from soc.runtime.scheduler import DetectorScheduler
from tests.eventgen import auth_failure, index, spread

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


@pytest.mark.slow
def test_faults_bench_loses_and_duplicates_nothing() -> None:
    args = ["--hours", "12", "--kills", "15", "--outages", "3", "--node-restarts", "1", "--timeout", "1500"]
    proc = subprocess.run([sys.executable, "bench/faults.py", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=2400)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = dict(line.rsplit("  ", 1) for line in proc.stdout.splitlines() if "  " in line)
    figures = {k.strip(): v.strip() for k, v in figures.items()}
    assert figures["Elasticsearch outages: proxy refusing / node restarted"] == "3 / 1"
    assert figures["alerts missed / duplicated / extra (by id)"] == "0 / 0 / 0"
    assert figures["alerts missed / duplicated / extra (by detector+entity)"] == "0 / 0 / 0"
    assert figures["incidents missed / duplicated / extra (by alert set)"] == "0 / 0 / 0"
    assert figures["alerts in two incidents"] == "0"
    assert figures["webhook: a notification under two keys"] == "0"
    assert figures["webhook: announcements missed / extra"] == "0 / 0"
    assert figures["smtp: announcements missed"] == "0"
    assert figures["scheduler logs: tracebacks"] == "0"
    assert set(figures["scheduler exit codes on SIGTERM"].split(",")) == {"0"}


def _docs(ctx: AppContext, index: str) -> list[dict[str, Any]]:
    ctx.es.refresh(index)  # whatever the stores' refresh policy
    return [h["_source"] for h in ctx.es.search(index, {"size": 10_000, "query": {"match_all": {}}})["hits"]["hits"]]


def _alert_set(ctx: AppContext) -> Counter[tuple[str, int]]:
    return Counter((d["soc"]["alert"]["id"], d["soc"]["alert"]["count"]) for d in _docs(ctx, alerts_index(ctx.es)))


def _incident_sets(ctx: AppContext) -> Counter[frozenset[str]]:
    return Counter(frozenset(d.get("alert_ids", [])) for d in _docs(ctx, incidents_index(ctx.es)))


def test_smoke_through_the_fault_proxy_with_one_outage(
    settings: Settings, ctx: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    quiet_transport_logs(verbose=False)
    prefix = settings.index_prefix
    # one attack before the outage, one across it, one after it
    for user, ip, at in [
        ("r.hayashi", "203.0.113.77", T0 + timedelta(minutes=35)),
        ("k.mori", "198.51.100.9", T0 + timedelta(minutes=55)),
        ("a.sato", "192.0.2.44", T0 + timedelta(minutes=95)),
    ]:
        index(ctx, [auth_failure(t, user, ip) for t in spread(at, 40, timedelta(seconds=15))])
    datasets = {"auth": [f"{prefix}-events-auth*"], "network": [f"{prefix}-events-network*"]}
    detectors = [d for d in load_detectors(REPO / "detectors") if d.id in ("failed-login-burst", "password-spray")]
    playbooks = load_playbooks(REPO / "playbooks")
    for d in detectors:
        RunStateStore(ctx.es).save(RunState(detector=d.id, watermark=T0))
    end = T0 + timedelta(hours=2)

    with FaultProxy(settings.es_url, seed=11, rates=DEFAULT_RATES, latency=(0.01, 0.1)) as proxy:
        live = load_settings(es_url=proxy.url, index_prefix=prefix, datasets=datasets, out_dir=settings.out_dir,
                             detectors_dir=REPO / "detectors", es_timeout=5)  # fmt: skip
        clock = ManualClock(T0 + timedelta(minutes=6))
        through = AppContext(settings=live, es=EsGateway(build_client(live), prefix=prefix), clock=clock)
        sched = DetectorScheduler(through, detectors=detectors, playbooks=playbooks, max_windows_per_run=6)
        caplog.set_level(logging.INFO)
        try:
            while clock.now() < end + timedelta(minutes=40):
                clock.advance(timedelta(minutes=5))
                if clock.now() == T0 + timedelta(minutes=51):
                    proxy.down()  # Elasticsearch away for 20 minutes, the second attack under way
                elif clock.now() == T0 + timedelta(minutes=71):
                    proxy.up()
                for d in detectors:
                    sched.tick(d.id)
        finally:
            through.es.close()
        assert proxy.counts["outages"] == 1
        assert sum(proxy.counts[f] for f in DEFAULT_RATES) > 0, proxy.counts  # faults met besides the outage

    covered = {d.id: RunStateStore(ctx.es).get(d.id).watermark for d in detectors}
    assert all(w is not None and w >= end for w in covered.values()), covered

    clean_settings = load_settings(es_url=settings.es_url, index_prefix=f"{prefix}-clean", datasets=datasets,
                                   out_dir=settings.out_dir / "clean", detectors_dir=REPO / "detectors")  # fmt: skip
    clean = AppContext.from_settings(clean_settings, clock=ManualClock(end + timedelta(hours=1)))
    try:
        pipeline = Pipeline(clean, playbooks=playbooks)
        for d in detectors:
            pipeline.engine.backtest(d, T0, covered[d.id])
        pipeline.escalate_pending(PipelineResult())
        clean_alerts, clean_incidents = _alert_set(clean), _incident_sets(clean)
    finally:
        clean.es.close()
    live_alerts = _alert_set(ctx)
    assert len(clean_alerts) >= 3
    assert live_alerts == clean_alerts  # none missed, duplicated or extra; same episodes, same counts
    assert _incident_sets(ctx) == clean_incidents and clean_incidents

    records = caplog.records
    assert not any(r.exc_info for r in records), "a traceback reached the log"
    assert sum("Elasticsearch unreachable (" in r.getMessage() for r in records) == 1
    assert sum("Elasticsearch is back" in r.getMessage() for r in records) == 1
