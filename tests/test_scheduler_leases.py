"""Schedulers side by side: leases in Elasticsearch, fencing, ownership that moves.

The first tests drive two lease managers in one process with hand-moved monotonic clocks
(exact, no sleeps); the last one runs three real ``scheduler.py`` processes on one index
prefix, SIGKILLs one and SIGSTOPs another past its lease.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from soc.config import Settings
from soc.context import AppContext
from soc.detection.loader import load_detectors
from soc.detection.state import RunState, RunStateStore
from soc.es.indices import alerts_index, state_index
from soc.runtime.fencing import FencedRunStateStore
from soc.runtime.leases import LeaseLost, LeaseManager, detector_job, lease_job_for, list_leases
from tests.eventgen import auth_failure, index, spread

REPO = Path(__file__).resolve().parent.parent
TTL, RENEW = timedelta(seconds=30), timedelta(seconds=10)
JOB = detector_job("failed-login-burst")


class Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _manager(ctx: AppContext, name: str, ticks: Ticks) -> tuple[LeaseManager, FencedRunStateStore]:
    leases = LeaseManager(ctx.es, ttl=TTL, renew=RENEW, owner=f"host-{name}:1:start", monotonic=ticks)
    store = FencedRunStateStore(ctx.es, leases=leases)
    leases.on_acquired = store.fence
    return leases, store


def _holder_and_observer(
    ctx: AppContext,
) -> tuple[LeaseManager, FencedRunStateStore, LeaseManager, FencedRunStateStore, Ticks]:
    """*a* holds the lease of JOB; *b* (with its clock) is another scheduler."""
    a, a_store = _manager(ctx, "a", Ticks())
    tb = Ticks()
    b, b_store = _manager(ctx, "b", tb)
    assert a.ensure(JOB)
    return a, a_store, b, b_store, tb


def _take_over(b: LeaseManager, tb: Ticks) -> None:
    """*b* looks, waits a full ttl with no renewal seen, and takes the lease (fencing the run state)."""
    b.sync([JOB])
    tb.t += TTL.total_seconds()
    assert b.sync([JOB]).acquired == [JOB]


def test_one_owner_takeover_only_after_a_full_unrenewed_ttl(ctx: AppContext) -> None:
    ta, tb = Ticks(), Ticks()
    a, _ = _manager(ctx, "a", ta)
    b, _ = _manager(ctx, "b", tb)
    assert a.ensure(JOB) and a.holds(JOB)
    assert not b.ensure(JOB)  # held: never taken while live
    b.sync([JOB])
    tb.t += TTL.total_seconds() - 1
    assert b.sync([JOB]).acquired == []  # seen unchanged for less than the ttl
    ta.t += RENEW.total_seconds()
    a.sync([JOB])  # renewed: the observer starts counting again
    tb.t += 2
    assert b.sync([JOB]).acquired == []
    ta.t += TTL.total_seconds()  # a stops renewing ("hangs"); its own clock says expired
    assert not a.holds(JOB)
    tb.t += TTL.total_seconds()
    assert b.sync([JOB]).acquired == [JOB]
    assert list_leases(ctx.es)[JOB].owner == "host-b:1:start"
    with pytest.raises(LeaseLost):
        a.verify(JOB)
    assert a.sync([JOB]).lost == [JOB] or not a.holds(JOB)


def test_a_paused_owner_cannot_write_run_state_with_a_stale_lease(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, a_store, b, b_store, tb = _holder_and_observer(ctx)
    t0 = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)
    a_store.save(RunState(detector="failed-login-burst", watermark=t0))
    stale = a_store.get("failed-login-burst")  # a reads its state and starts a run...
    stale_lease = a.verify(JOB)  # ...checks its lease, and is paused (SIGSTOP) right here
    _take_over(b, tb)
    newer = b_store.get("failed-login-burst")
    newer.watermark = t0 + timedelta(hours=1)
    b_store.save(newer)

    # a wakes up: its write fails whether or not it re-checks the lease first
    stale.watermark = t0 + timedelta(minutes=5)
    with pytest.raises(LeaseLost):
        a_store.save(stale)
    monkeypatch.setattr(a, "verify", lambda job: stale_lease)  # the check passed before the pause
    with pytest.raises(LeaseLost, match="written by another scheduler"):
        a_store.save(stale)
    stored = ctx.es.get(state_index(ctx.es), "detector:failed-login-burst")
    assert stored is not None
    assert stored["_source"]["watermark"].startswith("2026-11-29T01:00")
    assert stored["_source"]["lease_owner"] == "host-b:1:start" and stored["_source"]["lease_token"] == 2


def test_a_pause_before_the_new_owners_first_write_is_fenced_too(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new owner has not run yet: its takeover alone already fences the old one."""
    a, a_store, b, _, tb = _holder_and_observer(ctx)
    stale = a_store.get("failed-login-burst")  # nothing stored yet
    stale_lease = a.verify(JOB)
    _take_over(b, tb)
    monkeypatch.setattr(a, "verify", lambda job: stale_lease)
    stale.watermark = datetime(2026, 11, 29, tzinfo=UTC)
    with pytest.raises(LeaseLost):
        a_store.save(stale)
    assert RunStateStore(ctx.es).get("failed-login-burst").watermark is None


def test_free_jobs_are_shared_and_a_clean_stop_hands_them_over(ctx: AppContext) -> None:
    jobs = [detector_job(f"d{i}") for i in range(6)] + ["csirt", "summary"]
    ta, tb, tc = Ticks(), Ticks(), Ticks()
    a, _ = _manager(ctx, "a", ta)
    b, _ = _manager(ctx, "b", tb)
    c, _ = _manager(ctx, "c", tc)
    assert a.sync(jobs).held == 8  # alone: everything
    b.sync(jobs)  # b announces itself; every job is held
    released = a.sync(jobs).released  # a sees two members and hands back its excess
    assert len(released) == 4
    assert len(b.sync(jobs).acquired) == 4
    c.sync(jobs)
    a.sync(jobs), b.sync(jobs), c.sync(jobs)
    held = [len(m.held()) for m in (a, b, c)]
    assert sum(held) == 8 and max(held) <= 3 and min(held) >= 2
    owners = {lease.owner for lease in list_leases(ctx.es).values()}
    assert owners == {a.owner, b.owner, c.owner}
    a.release_all()  # a clean stop: the others take its jobs at their next sync, no wait
    b.sync(jobs), c.sync(jobs)
    assert len(b.held()) + len(c.held()) == 8


# -- real processes -----------------------------------------------------------------
PROC_TTL, PROC_RENEW = 4.0, 1.0
ACTORS = [("a.yamada", "203.0.113.50"), ("b.sato", "203.0.113.51"), ("c.ito", "198.51.100.7")]
# every shipped detector (playbooks name them: a subset would not validate)
DETECTORS = REPO / "detectors"


def _env(settings: Settings, out: Path, detectors: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    return env | {
        "SOC_ES_URL": settings.es_url,
        "SOC_INDEX_PREFIX": settings.index_prefix,
        "SOC_OUT_DIR": str(out),
        "SOC_DETECTORS_DIR": str(detectors),
        "SOC_SUMMARY": '{"cron": "0 8 * * 1", "formats": ["md"], "langs": ["en"]}',
        "SOC_SCHEDULER": json.dumps({"lease_ttl": f"{int(PROC_TTL)}s", "lease_renew": f"{int(PROC_RENEW)}s"}),
    }


def _owners(ctx: AppContext) -> dict[str, str | None]:
    ctx.es.refresh(state_index(ctx.es))
    return {job: lease.owner for job, lease in list_leases(ctx.es).items()}


def _pid(owner: str | None) -> int:
    return int(owner.split(":")[1]) if owner else -1


def _wait(what: str, check: object, timeout: float) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if check():  # type: ignore[operator]
            return time.monotonic() - began
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


_ACQUIRED = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*acquired the lease of (\S+) \(token")


def _acquired_at(logs: list[Path], jobs: set[str], after: float) -> dict[str, float]:
    """When each of *jobs* was first taken after *after* (epoch s), as its new owner logged
    it (the scheduler's log lines carry local time to the millisecond): the takeover itself,
    not when this test's polling (a refresh and a search, slow on a loaded machine) saw it."""
    found: dict[str, float] = {}
    for log in logs:
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            m = _ACQUIRED.match(line)
            if m is None or m[2] not in jobs:
                continue
            at = datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()  # naive: local time, as logged
            if at >= after and at < found.get(m[2], math.inf):
                found[m[2]] = at
    return found


@pytest.fixture
def schedulers(settings: Settings, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    env = _env(settings, tmp_path / "out", DETECTORS)
    procs: list[subprocess.Popen[bytes]] = []
    for i in range(3):
        log = (tmp_path / f"scheduler-{i}.log").open("wb")
        procs.append(subprocess.Popen([sys.executable, "scheduler.py"], cwd=REPO, env=env, stderr=log))
    yield procs
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGCONT)
            p.kill()
            p.wait(10)


def test_three_schedulers_share_survive_sigkill_and_sigstop(
    ctx: AppContext, schedulers: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    index(ctx, [auth_failure(t, user, ip) for user, ip in ACTORS
                for t in spread(now - timedelta(minutes=15), 30, timedelta(seconds=15))])  # fmt: skip
    pids = {p.pid: p for p in schedulers}
    jobs = {lease_job_for(d.id) for d in load_detectors(DETECTORS)} | {"csirt", "summary"}
    share = math.ceil(len(jobs) / 3)

    # 1. all three start and split the jobs (none holds more than its fair share)
    def shared() -> bool:
        owners = _owners(ctx)
        held = [sum(1 for o in owners.values() if _pid(o) == pid) for pid in pids]
        return set(owners) == jobs and None not in owners.values() and max(held) <= share and min(held) >= 1

    _wait("the jobs to be shared by three schedulers", shared, 90)
    burst = lease_job_for("failed-login-burst")
    _wait("failed-login-burst to run", lambda: RunStateStore(ctx.es).get("failed-login-burst").watermark, 60)

    # 2. SIGKILL the owner of failed-login-burst: its jobs move within a lease period
    victim = pids[_pid(_owners(ctx)[burst])]
    lost = {j for j, o in _owners(ctx).items() if _pid(o) == victim.pid}
    victim.kill()
    victim.wait(10)
    killed_at, killed_wall = time.monotonic(), time.time()
    _wait(
        "the killed scheduler's jobs to move",
        lambda: all(_pid(_owners(ctx)[j]) not in (victim.pid, -1) for j in lost),
        3 * PROC_TTL + 10,
    )
    assert time.monotonic() - killed_at >= PROC_TTL - PROC_RENEW  # never before the lease ran out
    # the observers need ttl unrenewed, and look every renew interval (plus a loaded machine);
    # timed from the new owners' own log lines, not from this test's polling of the leases
    logs = [tmp_path / f"scheduler-{i}.log" for i, p in enumerate(schedulers) if p is not victim]
    taken = _acquired_at(logs, lost, killed_wall)
    assert set(taken) == lost, f"takeovers logged: {taken}, jobs lost: {lost}"
    moved = max(taken.values()) - killed_wall
    assert PROC_TTL - PROC_RENEW <= moved <= PROC_TTL + 2 * PROC_RENEW + 3, f"took {moved:.1f}s"

    # 3. SIGSTOP another past its lease: the last one takes everything; SIGCONT: no stale write
    alive = [p for p in schedulers if p is not victim]
    paused, survivor = alive
    paused.send_signal(signal.SIGSTOP)
    _wait("the paused scheduler's jobs to move", lambda: all(_pid(o) == survivor.pid for o in _owners(ctx).values()),
          3 * PROC_TTL + 10)  # fmt: skip
    tokens = {j: lease.token for j, lease in list_leases(ctx.es).items()}
    paused.send_signal(signal.SIGCONT)
    time.sleep(PROC_RENEW * 4)  # it wakes, finds its leases gone, may get some back by rebalancing
    for job, lease in list_leases(ctx.es).items():
        assert lease.token >= tokens[job]
    ctx.es.refresh(state_index(ctx.es))
    for hit in ctx.es.search(state_index(ctx.es), {"size": 100, "query": {"exists": {"field": "lease_token"}}})["hits"][
        "hits"
    ]:
        src = hit["_source"]
        job = lease_job_for(src["detector"])
        assert src["lease_token"] >= tokens[job], f"{job} written with a stale lease by {src['lease_owner']}"

    # 4. every attack alerted exactly once, whoever ran it
    ctx.es.refresh(alerts_index(ctx.es))
    hits = ctx.es.search(alerts_index(ctx.es), {"size": 100, "query": {"term": {"rule.id": "failed-login-burst"}}})[
        "hits"
    ]["hits"]
    users = sorted(h["_source"]["soc"]["alert"]["entity"]["user.name"] for h in hits)
    assert users == sorted(u for u, _ in ACTORS)

    # 5. once the two have rebalanced (a released job is free until the other takes it, within
    # a renewal), soc status names the owners; a clean stop hands the leases back
    def balanced() -> bool:
        owners = list(_owners(ctx).values())
        live = (paused.pid, survivor.pid)
        return all(_pid(o) in live for o in owners) and max(owners.count(o) for o in set(owners)) <= math.ceil(
            len(jobs) / 2
        )

    _wait("the two schedulers to rebalance", balanced, 30)
    soc = str(Path(sys.executable).parent / "soc")
    env = _env(ctx.settings, tmp_path / "out", DETECTORS)
    status = subprocess.run([soc, "status", "--json"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    rows = [json.loads(line) for line in status.stdout.splitlines()]
    assert {r["detector"] for r in rows} >= {"failed-login-burst"}
    assert all(r["owner"] and _pid(r["owner"]) in (paused.pid, survivor.pid) for r in rows), rows
    assert all(r["lease"] == "held" for r in rows)
    table = subprocess.run([soc, "status"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert "no scheduler is running" not in table.stdout
    for p in (paused, survivor):
        p.send_signal(signal.SIGTERM)
    assert [p.wait(60) for p in (paused, survivor)] == [0, 0]
    assert set(_owners(ctx).values()) == {None}
    # with every scheduler gone, soc status says so instead of a table that looks merely slow
    table = subprocess.run([soc, "status"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert "no scheduler is running" in " ".join(table.stdout.split())
    stale_logs = (tmp_path / f"scheduler-{schedulers.index(paused)}.log").read_text(encoding="utf-8")
    assert "lost the lease of" in stale_logs or "stopped: " in stale_logs


class _Interleave:
    """The gateway, with *hook* run once right after the run state of JOB is read: the
    moment a previous owner's save can slip in."""

    def __init__(self, gw: object, hook: object) -> None:
        self._gw, self._hook = gw, hook

    def __getattr__(self, name: str) -> object:
        return getattr(self._gw, name)

    def mget_docs(self, index: str, ids: list[str]) -> object:
        found = self._gw.mget_docs(index, ids)  # type: ignore[attr-defined]
        if self._hook is not None and "detector:failed-login-burst" in ids:
            hook, self._hook = self._hook, None
            hook()  # type: ignore[operator]
        return found


def test_an_old_owners_save_during_the_takeover_is_fenced_over_not_fatal(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The previous owner checked its lease just before the takeover and saves between the
    new owner's read and write of the run state: the new owner reads again and fences over
    it (this used to abort the whole lease renewal with 'written by another scheduler')."""
    a, a_store, b, b_store, tb = _holder_and_observer(ctx)
    t0 = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)
    a_store.save(RunState(detector="failed-login-burst", watermark=t0))
    stale = a_store.get("failed-login-burst")
    stale_lease = a.verify(JOB)
    monkeypatch.setattr(a, "verify", lambda job: stale_lease)  # its check passed before the takeover

    def old_owner_saves() -> None:
        stale.watermark = t0 + timedelta(minutes=5)
        a_store.save(stale)

    monkeypatch.setattr(b_store, "_gw", _Interleave(ctx.es, old_owner_saves))
    _take_over(b, tb)  # acquired, and fenced on the second read
    stored = ctx.es.get(state_index(ctx.es), "detector:failed-login-burst")
    assert stored is not None
    assert stored["_source"]["lease_owner"] == "host-b:1:start" and stored["_source"]["lease_token"] == 2
    assert stored["_source"]["watermark"].startswith("2026-11-29T00:05")  # the old owner's last save kept
    stale.watermark = t0 + timedelta(minutes=10)
    with pytest.raises(LeaseLost):
        a_store.save(stale)  # and nothing more from it
