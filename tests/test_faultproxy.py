"""bench/faultproxy.py between soc and the real node: each injected fault reaches soc as
the same fault from a real cluster would, and the client's retries ride over isolated
ones; writes whose answer was lost are recognised as the writer's own (a lock, a run
state). A 429/503 storm in the scheduler's log: tests/test_quiet_failures.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.faultproxy import FAULTS, FaultProxy
from soc.config import Settings, load_settings
from soc.context import AppContext
from soc.detection.state import RunStateStore
from soc.errors import ElasticsearchBusy, ElasticsearchUnavailable
from soc.es.client import EsGateway, build_client, translate_errors
from soc.es.locks import _doc_id, hold, locks_index
from soc.runtime.fencing import FencedRunStateStore
from soc.runtime.leases import LeaseManager, detector_job

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)


@pytest.fixture
def proxy(settings: Settings) -> Iterator[FaultProxy]:
    with FaultProxy(settings.es_url, seed=1, latency=(0.05, 0.1)) as p:
        yield p


def _gateway(settings: Settings, proxy: FaultProxy, *, retries: int) -> EsGateway:
    through = load_settings(es_url=proxy.url, index_prefix=settings.index_prefix, es_max_retries=retries, es_timeout=5)
    return EsGateway(build_client(through), prefix=settings.index_prefix)


def test_each_fault_reaches_soc_as_a_real_clusters_would(
    settings: Settings, ctx: AppContext, proxy: FaultProxy
) -> None:
    index = f"{settings.index_prefix}-probe"
    ctx.es.client.indices.create(index=index)
    bare = _gateway(settings, proxy, retries=0)
    try:
        proxy.script.extend(["429", "503"])  # overloaded, starting: busy, a transient outage
        for status in ("429", "503"):
            with pytest.raises(ElasticsearchBusy, match=f"HTTP {status}"):
                bare.search(index, {"query": {"match_all": {}}})
        proxy.script.append("reset")
        with pytest.raises(ElasticsearchUnavailable, match="unreachable"):
            bare.search(index, {"query": {"match_all": {}}})
        # the request took effect, the answer was lost: the write is there all the same
        proxy.script.append("reset-after")
        with pytest.raises(ElasticsearchUnavailable), translate_errors("index a probe"):
            bare.client.index(index=index, id="lost-answer", document={"n": 1}, refresh=True)
        assert ctx.es.get(index, "lost-answer") is not None
        proxy.down()
        with pytest.raises(ElasticsearchUnavailable):
            bare.search(index, {"query": {"match_all": {}}})
        assert not bare.ping()
        proxy.up()
        assert bare.search(index, {"query": {"match_all": {}}})["hits"]["total"]["value"] == 1

        # isolated faults: the client's retries absorb every kind
        retrying = _gateway(settings, proxy, retries=3)
        before = proxy.counts["requests"]
        for fault in FAULTS:
            proxy.script.append(fault)
            assert retrying.search(index, {"query": {"match_all": {}}})["hits"]["total"]["value"] == 1
        retries = proxy.counts["requests"] - before - len(FAULTS)
        assert retries == 4  # 429, 503, reset, reset-after each asked again; latency only waited
        assert all(proxy.counts[f] >= 2 for f in ("429", "503", "reset", "reset-after"))
        assert proxy.counts["outages"] == 1
        retrying.close()
    finally:
        bare.close()


def test_a_seeded_schedule_is_reproducible() -> None:
    rates = {"429": 0.1, "503": 0.1, "latency": 0.1, "reset": 0.05, "reset-after": 0.05}
    runs = []
    for _ in range(2):
        p = FaultProxy("http://127.0.0.1:9", seed=7, rates=rates)
        runs.append([p._decide() for _ in range(2000)])
        p.close()
    assert runs[0] == runs[1]
    drawn = {f: runs[0].count(f) / 2000 for f in FAULTS}
    assert all(abs(drawn[f] - rates[f]) < 0.03 for f in FAULTS), drawn
    with pytest.raises(ValueError, match="unknown fault"):
        FaultProxy("http://127.0.0.1:9", rates={"418": 0.1})


def test_a_lock_whose_answer_was_lost_is_ours_not_a_wait_for_its_expiry(
    settings: Settings, ctx: AppContext, proxy: FaultProxy
) -> None:
    """The create of a lock took effect but its answer was lost; the client's retry gets
    409. The holder is this very caller: it must not wait out the lock's 30 s expiry (the
    fault proxy found this: a 30 s stall of an escalation after a reset)."""
    through = _gateway(settings, proxy, retries=3)
    try:
        proxy.script.append("reset-after")
        began = time.monotonic()
        # before the fix: LockBusy after the 20 s wait (the lock's own 30 s expiry is later)
        with hold(through, ["incident:lost-answer"], wait=20.0):
            assert time.monotonic() - began < 15  # a few requests, however loaded the machine
            assert proxy.counts["reset-after"] == 1
            assert ctx.es.get(locks_index(ctx.es), _doc_id("incident:lost-answer")) is not None
        assert ctx.es.get(locks_index(ctx.es), _doc_id("incident:lost-answer")) is None  # released
    finally:
        through.close()


def test_a_run_state_save_whose_answer_was_lost_is_not_a_lost_lease(
    settings: Settings, ctx: AppContext, proxy: FaultProxy
) -> None:
    """The versioned save of a watermark took effect but its answer was lost; the retry
    meets the version it made itself (409). That is this scheduler's own write, not
    another's: the run goes on (it used to stop with 'written by another scheduler')."""
    through = _gateway(settings, proxy, retries=3)
    try:
        leases = LeaseManager(through, ttl=timedelta(seconds=30), renew=timedelta(seconds=10))
        store = FencedRunStateStore(through, leases=leases)
        leases.on_acquired = store.fence
        assert leases.ensure(detector_job("failed-login-burst"))
        state = store.get("failed-login-burst")
        state.watermark = T0
        proxy.script.extend(["forward", "reset-after"])  # the lease check passes, the write's answer is lost
        store.save(state)  # no LeaseLost
        assert proxy.counts["reset-after"] == 1
        state = store.get("failed-login-burst")
        assert state.watermark == T0
        state.watermark = T0 + timedelta(minutes=5)
        store.save(state)  # and the next save goes on from the right version
        assert RunStateStore(ctx.es).get("failed-login-burst").watermark == T0 + timedelta(minutes=5)
    finally:
        through.close()
