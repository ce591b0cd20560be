"""Detectors in shards: schedulers side by side split 50 detectors by shard leases, run
each due detector once per interval, and when one dies the others take its shards over
without a gap (every window covered once) or a duplicate alert; the dead one, woken up,
cannot write. Real Elasticsearch, real scheduler objects, hand-moved clocks (no sleeps).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from soc.clock import ManualClock
from soc.context import AppContext
from soc.detection.loader import load_detectors
from soc.detection.models import Detector
from soc.detection.state import RunStateStore
from soc.es.indices import alerts_index, state_index
from soc.playbooks.loader import load_playbooks
from soc.runtime.leases import LeaseManager, lease_job_for, list_leases, shard_job, shard_of
from soc.runtime.scheduler import DetectorScheduler
from tests.eventgen import auth_failure, index, spread

REPO = Path(__file__).resolve().parent.parent
TTL, RENEW = timedelta(seconds=30), timedelta(seconds=10)
T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # a Monday; windows end every 5 minutes
SHARDS = 8
DETECTORS = 50


class Ticks:
    """A monotonic clock moved by hand (one per scheduler: its own view of lease expiry)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _detectors() -> list[Detector]:
    base = next(d for d in load_detectors(REPO / "detectors") if d.id == "failed-login-burst")
    return [base.model_copy(update={"id": f"burst-{i:02d}"}) for i in range(DETECTORS)]


def _scheduler(ctx: AppContext, name: str, ticks: Ticks, detectors: list[Detector]) -> DetectorScheduler:
    # heartbeats dated by the test's clock: a dead scheduler stops counting once it moved on
    leases = LeaseManager(ctx.es, ttl=TTL, renew=RENEW, owner=f"host-{name}:1:start", monotonic=ticks, wall=ctx.clock)
    return DetectorScheduler(
        ctx, detectors=detectors, playbooks=load_playbooks(REPO / "playbooks"), leases=leases, shards=SHARDS
    )


def _round(schedulers: list[DetectorScheduler]) -> dict[str, int]:
    """Every scheduler fires every shard (as its jobs do); runs that succeeded, by scheduler."""
    return {s.leases.owner: sum(s.shard_tick(k) for k in range(SHARDS)) for s in schedulers}


def _owners(ctx: AppContext) -> dict[str, str | None]:
    return {job: lease.owner for job, lease in list_leases(ctx.es).items() if job.startswith("detectors:")}


@pytest.mark.parametrize("count", [2, 3])
def test_schedulers_share_shards_and_take_over_a_dead_ones_without_gap_or_duplicate(
    ctx: AppContext, count: int
) -> None:
    detectors = _detectors()
    assert {shard_of(d.id, SHARDS) for d in detectors} == set(range(SHARDS))  # 50 detectors fill 8 shards
    # one attacker guessing a password every 30 s for an hour from 00:05: one alert per detector
    attack = spread(T0 + timedelta(minutes=5), 120, timedelta(seconds=30))
    index(ctx, [auth_failure(t, "a.yamada", "203.0.113.50") for t in attack])
    clock = ManualClock(T0 + timedelta(minutes=21))  # the first window due: [00:05, 00:20)
    live = AppContext(settings=ctx.settings, es=ctx.es, clock=clock)
    ticks = [Ticks() for _ in range(count)]
    scheds = [_scheduler(live, chr(ord("a") + i), ticks[i], detectors) for i in range(count)]

    # 1. they split the shards: each holds some, no shard held twice, 9 leases in all (not 51)
    for _ in range(2):
        for s in scheds:
            s.lease_tick()
    owners = _owners(ctx)
    assert set(owners) == {shard_job(k) for k in range(SHARDS)} and None not in owners.values()
    held = [sum(1 for o in owners.values() if o == s.leases.owner) for s in scheds]
    assert sum(held) == SHARDS and min(held) >= 1, held
    assert set(list_leases(ctx.es)) == {*owners, "csirt"}

    # 2. every detector runs exactly once per interval, in whichever scheduler holds its shard
    per_owner = _round(scheds)
    for s in scheds:
        mine = sum(1 for d in detectors if owners[lease_job_for(d.id, SHARDS)] == s.leases.owner)
        assert per_owner[s.leases.owner] == mine
    assert sum(per_owner.values()) == DETECTORS
    assert sum(_round(scheds).values()) == 0  # nothing due again within the interval

    # 3. the first scheduler dies (renews nothing, runs nothing); the others see its leases
    # unrenewed for a full ttl of their own clocks and take its shards over
    dead, alive, alive_ticks = scheds[0], scheds[1:], ticks[1:]
    lost = {j for j, o in owners.items() if o == dead.leases.owner}
    orphans = sum(1 for d in detectors if lease_job_for(d.id, SHARDS) in lost)

    def step() -> int:
        clock.advance(timedelta(minutes=5))
        for t in alive_ticks:
            t.t += RENEW.total_seconds() * 2
        for s in alive:
            s.lease_tick()
        return sum(_round(alive).values())

    assert step() == DETECTORS - orphans  # the dead one's detectors wait: a gap in time, not in windows
    ran = [step() for _ in range(5)]
    assert ran[-1] == DETECTORS, ran  # taken over (and rebalanced) within a few renewals
    owners = _owners(ctx)
    assert set(owners.values()) <= {s.leases.owner for s in alive}, owners

    # 4. no window missed: every detector covered every 5 minutes from 00:20, once
    last_end = T0 + timedelta(minutes=20 + 5 * 6)
    states = RunStateStore(ctx.es).all()
    assert len(states) == DETECTORS
    for state in states:
        assert state.watermark == last_end, state
        assert state.windows_covered == 7, state
        assert state.consecutive_failures == 0 and state.last_error is None

    # 5. the dead one wakes up (it was only paused) still trusting its leases: it may
    # re-evaluate, but its saves are fenced and change nothing
    tokens = {j: lease.token for j, lease in list_leases(ctx.es).items()}
    clock.advance(timedelta(minutes=5))
    victim = next(d for d in detectors if lease_job_for(d.id, SHARDS) in lost)
    assert dead.leases.holds(lease_job_for(victim.id, SHARDS))  # its own clock has not moved
    assert dead.shard_tick(shard_of(victim.id, SHARDS)) == 0
    ctx.es.refresh(state_index(ctx.es))
    body = {"size": 100, "query": {"exists": {"field": "lease_token"}}}
    for hit in ctx.es.search(state_index(ctx.es), body)["hits"]["hits"]:
        src = hit["_source"]
        job = lease_job_for(src["detector"], SHARDS)
        assert src["lease_owner"] == owners[job] and src["lease_token"] == tokens[job], src
        assert src["watermark"].startswith(last_end.isoformat()[:16]), src

    # 6. no duplicate: one alert per detector for the attack, whoever ran which window
    ctx.es.refresh(alerts_index(ctx.es))
    hits = ctx.es.search(alerts_index(ctx.es), {"size": 200, "query": {"match_all": {}}})["hits"]["hits"]
    per_detector: dict[str, int] = {}
    for h in hits:
        rule = h["_source"]["rule"]["id"]
        per_detector[rule] = per_detector.get(rule, 0) + 1
    assert per_detector == {d.id: 1 for d in detectors}


def test_a_shard_tick_reads_and_saves_its_run_states_in_one_request_each(ctx: AppContext) -> None:
    """The batch, not the detector, is the unit of state traffic: 50 detectors in one shard
    cost one _mget, one lease check and one _bulk of run state per tick."""
    detectors = _detectors()
    live = AppContext(settings=ctx.settings, es=ctx.es, clock=ManualClock(T0 + timedelta(minutes=21)))
    sched = _scheduler(live, "a", Ticks(), detectors)
    sched.lease_tick()
    calls: list[str] = []
    gw = ctx.es
    real_get, real_mget, real_bulk = gw.get, gw.mget_docs, gw.client.bulk

    def get(index: str, doc_id: str) -> object:
        calls.append(f"get {doc_id.split(':')[0]}")
        return real_get(index, doc_id)

    def mget(index: str, ids: list[str]) -> object:
        calls.append(f"mget {len(ids)}")
        return real_mget(index, ids)

    def bulk(**kwargs: object) -> object:
        calls.append(f"bulk {len(kwargs['operations']) // 2}")  # type: ignore[arg-type]
        return real_bulk(**kwargs)

    gw.get, gw.mget_docs = get, mget  # type: ignore[method-assign]
    gw.client.bulk = bulk  # type: ignore[method-assign]
    try:
        shard = shard_of(detectors[0].id, SHARDS)
        members = sum(1 for d in detectors if shard_of(d.id, SHARDS) == shard)
        assert sched.shard_tick(shard) == members
    finally:
        del gw.get, gw.mget_docs, gw.client.bulk
    assert calls.count(f"mget {members}") == 1
    assert calls.count(f"bulk {members}") == 1
    assert calls.count("get lease") == 1  # the shard's lease, checked once before the save
    state = RunStateStore(ctx.es).get(detectors[0].id)
    assert state.watermark == T0 + timedelta(minutes=20) and state.runs == 1


def test_a_re_evaluated_window_is_not_recorded_again_but_a_late_event_in_it_is(ctx: AppContext) -> None:
    """Each live run re-evaluates the windows of the last ``allowance`` (late logs): a match
    it already recorded is not recorded again (no alert search, no write), but a late event
    that changes a window's match is, and extends the alert."""
    detector = _detectors()[0]
    index(ctx, [auth_failure(t, "a.yamada", "203.0.113.50") for t in spread(T0 + timedelta(minutes=5), 30, timedelta(seconds=30))])  # fmt: skip  # noqa: E501
    clock = ManualClock(T0 + timedelta(minutes=21))
    sched = _scheduler(AppContext(settings=ctx.settings, es=ctx.es, clock=clock), "a", Ticks(), [detector])
    sched.lease_tick()
    alerts = sched.pipeline.engine.alerts
    recorded: list[tuple[datetime, int]] = []
    real_record = alerts.record

    def record(rule: object, match: Any, **kwargs: Any) -> Any:
        recorded.append((match.last_seen, match.count))
        return real_record(rule, match, **kwargs)  # type: ignore[arg-type]

    alerts.record = record  # type: ignore[method-assign]

    def run() -> list[tuple[datetime, int]]:
        recorded.clear()
        assert sched.tick(detector.id)
        clock.advance(timedelta(minutes=5))
        return sorted(recorded)

    last = T0 + timedelta(minutes=19, seconds=30)
    assert run() == [(last, 30)]  # [00:05, 00:20): the whole attack
    # windows ending 00:15, 00:20 (the same match as before: skipped) and 00:25
    assert run() == [(T0 + timedelta(minutes=14, seconds=30), 20), (last, 20)]
    assert run() == []  # 00:20 and 00:25 again (skipped), 00:30 holds 10 failures: no match
    index(ctx, [auth_failure(T0 + timedelta(minutes=19, seconds=50), "a.yamada", "203.0.113.50")])
    assert run() == [(T0 + timedelta(minutes=19, seconds=50), 21)]  # 00:25 changed by the late event
    found = alerts.search()
    assert len(found) == 1 and found[0].count == 31
