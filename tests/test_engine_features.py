"""Engine behaviour added for the detector library, on the real node: suppression,
exceptions (value lists, CIDRs), late logs, a restart inside a backtest, truncation
reporting, triage, and the pure helpers behind the behavioural kinds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from soc.alerts.models import AlertStatus, CloseReason
from soc.alerts.store import TriageError
from soc.clock import ManualClock
from soc.context import AppContext
from soc.detection.engine import DetectionEngine
from soc.detection.kinds.beacon import interval_stats
from soc.detection.kinds.travel import haversine_km
from soc.detection.loader import load_detector_file
from soc.detection.models import OffHours, ThresholdDetector
from soc.detection.queries import off_hours_ranges
from soc.detection.windows import backtest_windows
from tests.eventgen import auth_failure, index, spread

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
JST = ZoneInfo("Asia/Tokyo")


def burst(**over: object) -> ThresholdDetector:
    base = load_detector_file(REPO / "detectors/auth/failed-login-burst.yml")
    return ThresholdDetector.model_validate(base.model_dump() | over)


def test_suppression_folds_a_later_episode_into_the_alert_and_counts_it(ctx: AppContext) -> None:
    first = spread(T0 + timedelta(minutes=10), 25, timedelta(seconds=10))
    again = spread(T0 + timedelta(hours=2), 25, timedelta(seconds=10))  # far beyond the 15-minute window
    index(ctx, [auth_failure(t, "a.sato", "10.20.1.5") for t in first + again])

    plain = DetectionEngine(ctx)
    plain.backtest(burst(), T0, T0 + timedelta(hours=3))
    assert len(plain.alerts.search()) == 2  # without suppression: two episodes, two alerts
    ctx.es.delete_indices(plain.alerts.index)

    engine = DetectionEngine(ctx)
    engine.backtest(burst(suppress_for="4h"), T0, T0 + timedelta(hours=3))
    (alert,) = engine.alerts.search()
    assert alert.suppressed == 1 and alert.count == 50
    assert alert.start == first[0] and alert.end == again[-1]


def test_exceptions_and_value_lists_drop_events_before_counting(ctx: AppContext, tmp_path: Path) -> None:
    times = spread(T0 + timedelta(minutes=3), 30, timedelta(seconds=10))
    index(ctx, [auth_failure(t, "svc-scan", "10.20.9.9") for t in times])  # allow-listed account
    index(ctx, [auth_failure(t, "b.ito", "10.99.0.7") for t in times])  # allow-listed network
    index(ctx, [auth_failure(t, "c.kato", "10.20.1.6") for t in times])  # the real one
    (tmp_path / "accounts.txt").write_text("# scanners\nsvc-scan\n")
    yml = (REPO / "detectors/auth/failed-login-burst.yml").read_text() + (
        "exceptions:\n"
        "  - reason: vulnerability scanner account\n"
        "    match:\n"
        "      user.name: {file: accounts.txt}\n"
        "  - reason: lab network, only for b.ito\n"
        "    match:\n"
        "      source.ip: 10.99.0.0/16\n"
        "      user.name: b.ito\n"
    )
    (tmp_path / "d.yml").write_text(yml)
    detector = load_detector_file(tmp_path / "d.yml")
    assert detector.exceptions[0].match["user.name"].values == ["svc-scan"]  # type: ignore[union-attr]
    engine = DetectionEngine(ctx)
    engine.backtest(detector, T0, T0 + timedelta(hours=1))
    assert [a.entity["user.name"] for a in engine.alerts.search()] == ["c.kato"]


def test_late_logs_are_found_by_the_allowance_without_duplicates(settings, ctx: AppContext) -> None:
    d = burst()
    attack = spread(T0 + timedelta(minutes=40), 25, timedelta(seconds=10))
    clock = ManualClock(T0 + timedelta(minutes=50, seconds=30))
    engine = DetectionEngine(AppContext(settings=settings, es=ctx.es, clock=clock))
    state = engine.state.get(d.id)
    state.watermark = T0 + timedelta(minutes=30)
    engine.state.save(state)
    engine.run_live(d)  # covers up to 00:45, the logs have not arrived yet
    assert engine.alerts.search() == []

    index(ctx, [auth_failure(t, "d.mori", "10.20.1.7") for t in attack])  # they arrive 6 minutes late
    clock.set(T0 + timedelta(minutes=51, seconds=30))
    engine.run_live(d)  # 00:50 is new; 00:40 and 00:45 are re-evaluated within the allowance
    (alert,) = engine.alerts.search()
    assert alert.count == 25
    clock.set(T0 + timedelta(minutes=56, seconds=30))
    engine.run_live(d)
    assert [a.id for a in engine.alerts.search()] == [alert.id]


def test_a_covered_window_is_re_run_only_when_its_events_changed(settings, ctx: AppContext) -> None:
    """A live run re-evaluates the windows it already covered (the late-log allowance) only
    when the detector's events in them changed since the last run — and then finds what
    arrived late; otherwise only the new window costs a search."""
    d = burst()
    clock = ManualClock(T0 + timedelta(minutes=50, seconds=30))
    engine = DetectionEngine(AppContext(settings=settings, es=ctx.es, clock=clock))
    quiet = spread(T0 + timedelta(minutes=36), 3, timedelta(seconds=20))
    index(ctx, [auth_failure(t, "k.sato", "10.20.1.9") for t in quiet])  # three mistypes: no alert
    state = engine.state.get(d.id)
    state.watermark = T0 + timedelta(minutes=30)
    engine.state.save(state)
    assert engine.run_live(d).windows == 5  # 00:25 and 00:30 again (no earlier run to compare), 00:35-00:45

    clock.set(T0 + timedelta(minutes=51, seconds=30))
    assert engine.run_live(d).windows == 1  # nothing arrived for 00:40 and 00:45: only 00:50

    # 25 failures of 00:33-00:37 arrive now: only windows already covered hold them all
    late = spread(T0 + timedelta(minutes=33), 25, timedelta(seconds=10))
    index(ctx, [auth_failure(t, "d.mori", "10.20.1.7") for t in late])
    clock.set(T0 + timedelta(minutes=56, seconds=30))
    assert engine.run_live(d).windows == 3  # 00:45 and 00:50 re-run, 00:55 new
    (alert,) = engine.alerts.search()
    assert (alert.entity["user.name"], alert.count) == ("d.mori", 25)

    clock.set(T0 + timedelta(minutes=61, seconds=30))
    assert engine.run_live(d).windows == 1  # settled again
    assert [(a.id, a.count) for a in engine.alerts.search()] == [(alert.id, 25)]

    # a changed definition (a lower threshold) re-runs the covered windows whatever the counts
    lower = burst(condition={"count": {"gte": 3}})
    clock.set(T0 + timedelta(minutes=66, seconds=30))
    assert engine.run_live(lower).windows == 3


def test_restart_in_the_middle_of_a_backtest_leaves_neither_gap_nor_duplicate(ctx: AppContext) -> None:
    d = burst()
    episodes = [T0 + timedelta(minutes=m) for m in (20, 95, 170)]
    for i, at in enumerate(episodes):
        index(ctx, [auth_failure(t, f"user{i}", "10.20.1.8") for t in spread(at, 25, timedelta(seconds=12))])
    windows = backtest_windows(d.schedule, T0, T0 + timedelta(hours=4))
    first = DetectionEngine(ctx)
    first.evaluate(d, windows[:21])  # "crashes" after 01:45, in the middle of the second episode
    second = DetectionEngine(ctx)  # a new process re-runs the whole range
    second.evaluate(d, windows[15:])
    alerts = second.alerts.search()
    assert sorted(a.entity["user.name"] for a in alerts) == ["user0", "user1", "user2"]
    assert all(a.count == 25 for a in alerts)


def test_truncation_is_reported_never_silent(ctx: AppContext) -> None:
    d = load_detector_file(REPO / "detectors/network/beaconing.yml")
    capped = type(d).model_validate(d.model_dump() | {"max_candidates": 1, "min_connections": 4})
    docs = []
    for k, dst in enumerate(["45.60.1.1", "45.60.1.2", "45.60.1.3"]):
        for t in spread(T0 + timedelta(minutes=5, seconds=k), 10, timedelta(minutes=5)):
            doc = {
                "@timestamp": t.isoformat(),
                "event": {"id": f"tr-{k}-{t.timestamp()}", "category": ["network"], "outcome": "success"},
                "source": {"ip": "10.30.0.50"},
                "destination": {"ip": dst, "port": 443},
            }
            docs.append(doc)
    index(ctx, docs, dataset="network")
    report = DetectionEngine(ctx).backtest(capped, T0, T0 + timedelta(hours=2), write=False, explain=True)
    assert report.truncated > 0
    assert any(w.truncated for w in report.per_window)


def test_triage_records_who_when_and_why_and_refuses_skipping(ctx: AppContext) -> None:
    index(ctx, [auth_failure(t, "e.abe", "10.20.1.9") for t in spread(T0, 25, timedelta(seconds=10))])
    engine = DetectionEngine(ctx)
    engine.backtest(burst(), T0, T0 + timedelta(minutes=30))
    (alert,) = engine.alerts.search()
    now = T0 + timedelta(hours=1)
    acked = engine.alerts.triage(alert.id, AlertStatus.acknowledged, by="operator1", now=now)
    assert acked.acknowledged_by == "operator1" and acked.acknowledged_at == now
    with pytest.raises(TriageError, match="needs a reason"):
        engine.alerts.triage(alert.id, AlertStatus.closed, by="operator1", now=now)
    closed = engine.alerts.triage(
        alert.id, AlertStatus.closed, by="lead", now=now, reason=CloseReason.true_positive, note="confirmed"
    )
    assert (closed.closed_by, closed.close_reason, closed.triage_note) == (
        "lead",
        CloseReason.true_positive,
        "confirmed",
    )
    with pytest.raises(TriageError, match="allowed next: none"):
        engine.alerts.triage(alert.id, AlertStatus.acknowledged, by="x", now=now)
    stored = engine.alerts.get(alert.id)
    assert stored.status is AlertStatus.closed and stored.acknowledged_by == "operator1"
    # re-running detection never reopens or resets a triaged alert
    engine.backtest(burst(), T0, T0 + timedelta(minutes=30))
    assert engine.alerts.get(alert.id).status is AlertStatus.closed


def test_alert_document_is_ecs_for_kibana(ctx: AppContext) -> None:
    index(ctx, [auth_failure(t, "f.ueda", "10.20.1.10") for t in spread(T0, 25, timedelta(seconds=10))])
    engine = DetectionEngine(ctx)
    engine.backtest(burst(), T0, T0 + timedelta(minutes=30))
    (alert,) = engine.alerts.search()
    doc = ctx.es.get(engine.alerts.index, alert.id)
    assert doc is not None
    src = doc["_source"]
    assert src["event"]["kind"] == "alert" and src["event"]["severity"] == 47 and src["event"]["risk_score"] == 47
    assert src["rule"]["id"] == "failed-login-burst" and "Failed-login burst" in src["rule"]["name"]
    assert src["threat"]["technique"]["id"] == ["T1110"] and src["threat"]["technique"]["name"] == ["Brute Force"]
    assert src["threat"]["tactic"] == {"name": ["Credential Access"], "id": ["TA0006"]}
    assert src["threat"]["technique"]["subtechnique"]["id"] == ["T1110.001"]
    assert src["related"]["user"] == ["f.ueda"] and src["related"]["ip"] == ["10.20.1.10"]
    assert "25 matching events" in src["event"]["reason"]
    assert len(alert.sample_event_ids) == 10  # a bounded evidence sample


def test_interval_stats_tolerate_jitter_and_merge_bursts() -> None:
    regular = [i * 60_000 + (3000 if i % 2 else -3000) for i in range(40)]  # 60 s +/- 5 %
    bursty = [t for t0 in regular for t in (t0, t0 + 800)]  # a retry 0.8 s after each check-in
    checkins, mean, cv = interval_stats(bursty, 10)  # type: ignore[misc]
    assert checkins == 40 and 59 < mean < 61 and cv < 0.15
    random_gaps = [0, 5_000, 130_000, 140_000, 400_000, 410_000, 700_000, 1_300_000]
    assert interval_stats(random_gaps, 1)[2] > 0.5  # type: ignore[index]


def test_haversine_and_off_hours_ranges() -> None:
    assert 9_200 < haversine_km(35.86, 139.65, 52.37, 4.90) < 9_400  # the city to Amsterdam
    assert 390 < haversine_km(35.68, 139.69, 34.69, 135.50) < 410  # Tokyo to Osaka
    day = datetime(2026, 11, 20, 0, 0, tzinfo=JST)  # a Friday
    spans = off_hours_ranges(OffHours(), day.astimezone(UTC), (day + timedelta(days=2)).astimezone(UTC), JST)
    local = [(a.astimezone(JST).strftime("%a %H:%M"), b.astimezone(JST).strftime("%a %H:%M")) for a, b in spans]
    # Friday night runs on into the whole weekend
    assert local == [("Fri 00:00", "Fri 07:30"), ("Fri 20:00", "Sun 00:00")]


def test_health_from_run_records(settings, ctx: AppContext) -> None:
    from soc.cli.status_cmd import health

    d = burst()
    clock = ManualClock(T0 + timedelta(hours=1, seconds=90))
    engine = DetectionEngine(AppContext(settings=settings, es=ctx.es, clock=clock))
    assert health(d, engine.state.get(d.id), clock.now()) == "never run"
    engine.run_live(d)
    state = engine.state.get(d.id)
    assert health(d, state, clock.now()) == "ok"
    assert state.runs == 1 and state.last_windows == 1 and state.lag_s == 90 and state.last_error is None
    clock.set(T0 + timedelta(hours=2))  # the scheduler stopped: an hour without a run
    assert health(d, engine.state.get(d.id), clock.now()) == "lagging"
    state.consecutive_failures, state.last_error = 2, "ElasticsearchUnavailable: connection refused"
    engine.state.save(state)
    assert health(d, engine.state.get(d.id), clock.now()) == "failing"


def test_definition_changes_are_dated_in_the_run_state(settings, ctx: AppContext) -> None:
    d = burst()
    clock = ManualClock(T0 + timedelta(hours=1, seconds=90))
    engine = DetectionEngine(AppContext(settings=settings, es=ctx.es, clock=clock))
    engine.run_live(d)
    first = engine.state.get(d.id)
    assert (first.definition_version, first.definition_changed_at, first.previous_version) == (1, clock.now(), None)
    clock.set(T0 + timedelta(hours=2, seconds=90))
    engine.run_live(d)  # same definition: nothing changes
    assert engine.state.get(d.id).definition_changed_at == first.definition_changed_at
    tuned = burst(version=2, condition={"count": {"gte": 30}})
    clock.set(T0 + timedelta(hours=3, seconds=90))
    engine.run_live(tuned)
    after = engine.state.get(d.id)
    assert (after.definition_version, after.previous_version, after.definition_changed_at) == (2, 1, clock.now())
    assert after.definition_hash != first.definition_hash


def test_run_states_are_listed_apart_from_new_term_baselines(settings, ctx: AppContext) -> None:
    clock = ManualClock(T0 + timedelta(hours=1, seconds=90))
    engine = DetectionEngine(AppContext(settings=settings, es=ctx.es, clock=clock))
    index(ctx, [auth_failure(T0 + timedelta(minutes=5), "g.oda", "10.20.1.11")])
    new_term = load_detector_file(REPO / "detectors/auth/new-country-logon.yml")
    engine.run_live(burst())
    engine.run_live(new_term)  # writes its baseline documents into the same index
    ctx.es.refresh(f"{ctx.es.prefix}-*")
    assert [s.detector for s in engine.state.all()] == ["failed-login-burst", "new-country-logon"]


def test_new_term_baseline_writes_only_what_changes(ctx: AppContext) -> None:
    from soc.detection.baseline import BaselineStore, Sighting

    store = BaselineStore(ctx.es, "new-country-logon")
    pair = {"user.name": "h.ito", "source.geo.country_iso_code": "JP"}
    known: dict[str, Sighting] = {}
    assert store.remember([(pair, Sighting(T0, T0))], known) == 1  # new: written
    assert store.remember([(pair, Sighting(T0, T0 + timedelta(hours=3)))], known) == 0  # last seen moved a little
    assert known[store.doc_id(pair)].last_seen == T0 + timedelta(hours=3)  # but the run knows it
    assert store.remember([(pair, Sighting(T0, T0 + timedelta(days=2)))], known) == 1  # moved a day or more
    assert store.remember([(pair, Sighting(T0 - timedelta(days=9), T0))], known) == 1  # seen earlier: written
    restarted = BaselineStore(ctx.es, "new-country-logon")  # a new process reads what was stored
    (stored,) = restarted.lookup([pair]).values()
    assert (stored.first_seen, stored.last_seen) == (T0 - timedelta(days=9), T0 + timedelta(days=2))
