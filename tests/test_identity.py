"""Identity under concurrency, against the real node: one alert per episode whichever
window (or writer) saw it first, one incident per actor however many threads and
processes escalate it at once, and locks that a crashed holder does not keep."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from soc.alerts.episodes import Run, choose, run_start
from soc.alerts.models import Alert, AlertRule, Match, alert_id
from soc.alerts.store import AlertStore
from soc.alerts.writelock import lock_id
from soc.clock import ManualClock
from soc.config import Settings
from soc.context import AppContext
from soc.detection.engine import DetectionEngine
from soc.detection.figures import DetectorEvidence, rule_for
from soc.detection.loader import load_detector_file
from soc.detection.models import Detector
from soc.errors import ElasticsearchRequestError, SocError, VersionConflict
from soc.es.locks import LockBusy, _doc_id, _take, hold, locks_index
from soc.incidents.models import OPEN_STATUSES, IncidentStatus
from soc.incidents.service import correlation_key, escalate, incident_id_for
from soc.incidents.store import IncidentStore
from soc.playbooks.loader import load_playbooks
from tests.eventgen import auth_failure, index, spread

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=6)


def detector(name: str) -> Detector:
    return load_detector_file(next((REPO / "detectors").rglob(f"{name}.yml")))


def together(jobs: list[Callable[[], object]]) -> list[BaseException]:
    """Run *jobs* in threads released at the same instant; the errors they raised."""
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job: Callable[[], object]) -> None:
        try:
            barrier.wait()
            job()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


# -- the episode policy (pure) ------------------------------------------------------------
RULE = AlertRule(detector="d", title="d", severity="high", risk_score=50, kind="threshold")  # type: ignore[arg-type]


def _alert(start_min: int, end_min: int) -> Alert:
    start = T0 + timedelta(minutes=start_min)
    return Alert(
        id=alert_id("d", {"u": "x"}, start), detector="d", title="d", severity="high", risk_score=50,
        entity={"u": "x"}, count=1, start=start, end=T0 + timedelta(minutes=end_min), created=start, updated=start,
    )  # fmt: skip


def test_a_match_joins_the_alert_it_overlaps_not_the_latest() -> None:
    old, new = _alert(0, 10), _alert(120, 130)
    at = lambda m: T0 + timedelta(minutes=m)  # noqa: E731
    assert choose(RULE, [old, new], at(5), at(8)) is old  # inside the old episode
    assert choose(RULE, [old, new], at(20), at(22)) is old  # within the 15 min window after it
    assert choose(RULE, [old, new], at(60), at(70)) is None  # a gap either side: a new episode
    assert choose(RULE, [old, new], at(110), at(112)) is new  # just before the newer one


def test_the_canonical_start_walks_back_over_the_unbroken_run_only() -> None:
    at = lambda m: T0 + timedelta(minutes=m)  # noqa: E731
    runs = [Run(at(0), at(4)), Run(at(30), at(44)), Run(at(45), at(59)), Run(at(60), at(62))]
    gap = timedelta(minutes=15)
    assert run_start(at(61), runs, gap, since=at(-60)) == (at(30), False)  # 04 -> 30 is a gap
    assert run_start(at(61), runs[1:], gap, since=at(25)) == (at(30), True)  # may go on before 25
    assert run_start(at(61), [], gap, since=at(0)) == (at(61), False)


# -- alerts: old windows, two writers -------------------------------------------------------
def test_rerunning_an_old_window_never_extends_the_newer_alert_backwards(ctx: AppContext) -> None:
    old = spread(T0 + timedelta(minutes=20), 30, timedelta(seconds=15))
    new = spread(T0 + timedelta(hours=3), 30, timedelta(seconds=15))
    index(ctx, [auth_failure(t, "h.mori", "198.51.100.30") for t in old + new])
    engine, d = DetectionEngine(ctx), detector("failed-login-burst")
    engine.backtest(d, T0 + timedelta(hours=2, minutes=30), T0 + timedelta(hours=4))
    (newer,) = engine.alerts.search()
    engine.backtest(d, T0, T0 + timedelta(hours=1))  # the older range, after the newer episode
    alerts = engine.alerts.search()
    assert [(a.start, a.end) for a in alerts] == [(old[0], old[-1]), (new[0], new[-1])]
    assert alerts[1] == newer  # untouched
    engine.backtest(d, T0, T0 + timedelta(hours=4))  # and the whole range again changes nothing
    assert engine.alerts.search() == alerts


@pytest.mark.parametrize("late_first", [True, False], ids=["late-window-first", "early-window-first"])
def test_two_writers_on_different_windows_of_one_episode_give_one_alert(ctx: AppContext, late_first: bool) -> None:
    times = spread(T0, 180, timedelta(seconds=30))  # 90 minutes of guessing
    index(ctx, [auth_failure(t, "y.abe", "203.0.113.40") for t in times])
    d = detector("failed-login-burst")
    early = (T0, T0 + timedelta(minutes=30))
    late = (T0 + timedelta(minutes=60), T0 + timedelta(minutes=95))
    for start, end in [late, early] if late_first else [early, late]:
        DetectionEngine(ctx).backtest(d, start, end)  # two separate writers
    (alert,) = DetectionEngine(ctx).alerts.search()
    entity = {"user.name": "y.abe", "source.ip": "203.0.113.40"}
    assert alert.id == alert_id(d.id, entity, times[0]) and alert.start == times[0]


def test_live_scheduler_and_backtest_at_once_end_with_one_alert(ctx: AppContext) -> None:
    base = detector("failed-login-burst")
    times = spread(T0, 120, timedelta(seconds=30))  # 60 minutes of guessing
    index(ctx, [auth_failure(t, "c.ono", "203.0.113.41") for t in times])
    ctx.clock = ManualClock(T0 + timedelta(minutes=62))  # live: only the latest window, [00:45, 01:00)
    for round_ in range(5):
        d = base.model_copy(update={"id": f"failed-login-burst-{round_}"})  # a fresh detector: no watermark
        live = partial(DetectionEngine(ctx).run_live, d)
        backtest = partial(DetectionEngine(ctx).backtest, d, T0, T0 + timedelta(minutes=25))
        assert together([live, backtest]) == []
        alerts = DetectionEngine(ctx).alerts.search(detector=d.id)
        assert len(alerts) == 1, [(a.id, a.start) for a in alerts]
        assert alerts[0].id == alert_id(d.id, {"user.name": "c.ono", "source.ip": "203.0.113.41"}, times[0])


def test_an_alert_written_where_no_search_shows_it_is_extended_not_reported_created(ctx: AppContext) -> None:
    """Another writer wrote the episode's alert and died before noting it in the lock (or
    its lock expired): not searchable yet, not in the recent writes. The run still finds
    it by the id the episode start gives, and its report says extended, not created."""
    times = spread(T0, 60, timedelta(seconds=20))
    index(ctx, [auth_failure(t, "k.sato", "203.0.113.50") for t in times])
    d = detector("failed-login-burst")
    DetectionEngine(ctx).backtest(d, T0, T0 + timedelta(minutes=12))  # the other writer's run
    store = DetectionEngine(ctx).alerts
    (written,) = store.search()
    doc = ctx.es.get(store.index, written.id)
    assert doc is not None
    ctx.es.client.indices.put_settings(index=store.index, settings={"index": {"refresh_interval": "-1"}})
    ctx.es.client.delete(index=store.index, id=written.id, refresh=True)
    ctx.es.client.delete(index=locks_index(ctx.es), id=lock_id(d.id), refresh=True)  # its note of the write: gone
    ctx.es.put(store.index, written.id, doc["_source"])  # written again, realtime only: no search shows it
    report = DetectionEngine(ctx).backtest(d, T0, T0 + timedelta(minutes=25))
    assert report.created == [], [a.id for a in report.created]
    assert {a.id for a in report.extended} == {written.id}
    ctx.es.client.indices.put_settings(index=store.index, settings={"index": {"refresh_interval": "1s"}})
    (alert,) = DetectionEngine(ctx).alerts.search()
    assert alert.id == written.id and (alert.start, alert.end) == (times[0], times[-1])


def test_flush_names_the_creates_another_writer_had_made(ctx: AppContext) -> None:
    """The race's last window: this run decided "created", then another writer (its lock
    expired under it) created the same episode's alert before this run's ``_bulk``. The
    store merges into it and names it, so a run report can count it extended."""
    times = spread(T0, 40, timedelta(seconds=15))
    index(ctx, [auth_failure(t, "r.ito", "203.0.113.51") for t in times])
    d = detector("failed-login-burst")
    store = AlertStore(ctx.es)
    rule, evidence = rule_for(d), DetectorEvidence(ctx.es, d, ctx.settings.dataset_indices(d.dataset), tz=UTC)
    entity = {"user.name": "r.ito", "source.ip": "203.0.113.51"}
    rec = store.record(
        rule, Match(entity=entity, count=40, first_seen=times[0], last_seen=times[-1]), evidence=evidence, now=NOW
    )
    assert rec.outcome == "created"
    ctx.es.put(store.index, rec.alert.id, store._doc(rec.alert.model_copy(update={"count": 39})))  # the other writer
    assert store.flush() == {rec.alert.id}
    (alert,) = store.search()
    assert alert.id == rec.alert.id  # one alert: the other writer's, which already covers the span


# -- incidents: many threads and processes, one actor ---------------------------------------
def _alerts_for(actor: str, n: int, *, mixed: bool = False) -> list[Alert]:
    """*n* alerts of one actor; *mixed*: every other one also names an account (another key)."""
    detectors = ["password-spray", "failed-login-burst", "port-scan", "off-hours-login"]
    out = []
    for i in range(n):
        start = T0 + timedelta(minutes=i)
        det = f"{detectors[i % len(detectors)]}-{i}"
        entity = {"source.ip": actor} | ({"user.name": f"user{i}@{actor}"} if mixed and i % 2 else {})
        out.append(
            Alert(
                id=alert_id(det, entity, start),
                detector=det,
                title=det,
                severity="high",
                risk_score=70,
                entity=entity,
                count=25,
                start=start,
                end=start + timedelta(minutes=5),
                mitre=["T1110"],
                segments=["external"],
                created=start,
                updated=start,
            )
        )
    return out


def _open_incidents(ctx: AppContext, actor: str) -> list[str]:
    store = IncidentStore(ctx.es)
    ctx.es.refresh(store.index)
    return sorted(i.id for i in store.list() if actor in i.entity_values and i.status.value in OPEN_STATUSES)


@pytest.mark.parametrize("mixed", [False, True], ids=["one-key", "keys-sharing-a-value"])
def test_many_threads_escalating_one_actor_open_one_incident(ctx: AppContext, mixed: bool) -> None:
    ctx.clock = ManualClock(NOW)
    playbooks = load_playbooks(REPO / "playbooks")
    for round_ in range(5):  # the old race showed in about 1 run in 5 with two threads
        actor = f"198.51.100.{100 + round_}"
        alerts = _alerts_for(actor, 8, mixed=mixed)
        placed: dict[str, str] = {}

        def place(alert: Alert, placed: dict[str, str] = placed) -> None:
            placed.update(escalate(ctx, [alert], playbooks=playbooks).assignments)

        assert together([partial(place, a) for a in alerts]) == []
        (opened,) = _open_incidents(ctx, actor)
        if mixed:  # named after the key of the alert placed first
            assert opened in {incident_id_for(correlation_key(a), NOW) for a in alerts}
        else:  # the key's id, whichever alert won
            assert opened == incident_id_for(correlation_key(alerts[0]), NOW)
        assert set(placed.values()) == {opened} and len(placed) == len(alerts)
        incident = IncidentStore(ctx.es).get(opened)
        assert sorted(incident.alert_ids) == sorted(a.id for a in alerts)
        assert [e.action for e in incident.audit].count("open") == 1


_WORKER = textwrap.dedent(
    """
    import json, sys, time
    from datetime import datetime
    from pathlib import Path
    from soc.alerts.models import Alert
    from soc.clock import ManualClock
    from soc.config import load_settings
    from soc.context import AppContext
    from soc.incidents.service import escalate
    from soc.playbooks.loader import load_playbooks

    es_url, prefix, playbooks_dir, start_at, now, rounds = sys.argv[1:7]
    ctx = AppContext.from_settings(load_settings(es_url=es_url, index_prefix=prefix))
    ctx.clock = ManualClock(datetime.fromisoformat(now))
    playbooks = load_playbooks(Path(playbooks_dir))
    out = []
    for i, line in enumerate(sys.stdin.read().splitlines()):
        alert = Alert.model_validate_json(line)
        time.sleep(max(0.0, float(start_at) + 2.0 * (i // int(rounds)) - time.time()))  # start together
        out.append(escalate(ctx, [alert], playbooks=playbooks).assignments)
    print(json.dumps(out))
    """
)


def test_several_processes_escalating_one_actor_open_one_incident(settings: Settings, ctx: AppContext) -> None:
    procs, rounds = 4, 3
    actors = [f"203.0.113.{200 + r}" for r in range(rounds)]
    per_actor = {a: _alerts_for(a, procs, mixed=True) for a in actors}
    start_at = time.time() + 6.0  # after every interpreter has started
    children = []
    for p in range(procs):
        # process p escalates alert p of every actor, all processes at the same instants
        lines = "\n".join(per_actor[a][p].model_dump_json() for a in actors)
        args = [settings.es_url, settings.index_prefix, str(REPO / "playbooks"), str(start_at), NOW.isoformat(), "1"]
        child = subprocess.Popen(
            [sys.executable, "-c", _WORKER, *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        )  # fmt: skip
        assert child.stdin is not None
        child.stdin.write(lines)
        child.stdin.close()
        children.append(child)
    for child in children:
        assert child.wait(timeout=180) == 0, child.stderr.read() if child.stderr else ""
    for actor, alerts in per_actor.items():
        (opened,) = _open_incidents(ctx, actor)
        assert opened in {incident_id_for(correlation_key(a), NOW) for a in alerts}
        assert sorted(IncidentStore(ctx.es).get(opened).alert_ids) == sorted(a.id for a in alerts)


def test_a_closed_incident_of_the_actor_gives_the_next_id_the_same_day(ctx: AppContext) -> None:
    ctx.clock = ManualClock(NOW)
    playbooks = load_playbooks(REPO / "playbooks")
    first, second = _alerts_for("192.0.2.77", 2)
    opened = escalate(ctx, [first], playbooks=playbooks).opened
    store = IncidentStore(ctx.es)
    incident, seq, term = store.get_versioned(opened[0])
    store.save(incident.model_copy(update={"status": IncidentStatus.closed}), seq_no=seq, primary_term=term)
    again = escalate(ctx, [second], playbooks=playbooks)
    assert again.opened == [opened[0] + "-2"]


# -- the lock and the conflict class ----------------------------------------------------------
def test_a_crashed_holders_lock_expires_and_a_live_one_is_waited_for(ctx: AppContext) -> None:
    """Timed against the lock's own expiry (read back), not against the test's pace: a busy
    machine slowing the test down cannot make it pass or fail."""
    _take(ctx.es, "incident:live", "live-holder", ttl=120.0, wait=1.0)  # a live holder: waited for, in vain
    with pytest.raises(LockBusy, match="held by"), hold(ctx.es, ["incident:live"], wait=0.2):
        pass
    _take(ctx.es, "incident:x", "crashed-holder", ttl=3.0, wait=1.0)  # never released
    stored = ctx.es.get(locks_index(ctx.es), _doc_id("incident:x"))
    assert stored is not None
    expires_at = float(stored["_source"]["expires_at"])
    with hold(ctx.es, ["incident:x", "incident:y"]):
        taken_at = time.time()
        assert ctx.es.get(locks_index(ctx.es), _doc_id("incident:y")) is not None
    # taken over once the crashed holder's 3 s expiry passed, never before it, and long
    # before the 120 s a waiter gives a live holder
    assert expires_at <= taken_at < expires_at + 60
    assert ctx.es.get(locks_index(ctx.es), _doc_id("incident:x")) is None  # released


def test_http_409_is_one_error_class(ctx: AppContext) -> None:
    index_ = ctx.es.index_name("conflicts")
    ctx.es.put(index_, "a", {"n": 1}, refresh=True)
    with pytest.raises(VersionConflict) as caught:
        ctx.es.put(index_, "a", {"n": 2}, if_seq_no=99, if_primary_term=1)
    assert isinstance(caught.value, ElasticsearchRequestError) and isinstance(caught.value, SocError)
    assert ctx.es.create(index_, "a", {"n": 3}) is False
