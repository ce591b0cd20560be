"""The detection engine against the real node: thresholds, distinct counts, paging,
sliding windows, idempotent alerts and resumable live runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from soc.clock import ManualClock
from soc.context import AppContext
from soc.detection.engine import DetectionEngine
from soc.detection.loader import load_detector_file
from soc.detection.models import ThresholdDetector
from tests.eventgen import auth_failure, flow, index, spread

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


def detector(name: str) -> ThresholdDetector:
    return load_detector_file(next((REPO / "detectors").rglob(f"{name}.yml")))


def test_burst_found_once_and_rerun_is_a_noop(ctx: AppContext) -> None:
    burst = [
        auth_failure(t, "t.suzuki", "198.51.100.7")
        for t in spread(T0 + timedelta(minutes=20), 30, timedelta(seconds=15))
    ]
    noise = [auth_failure(T0 + timedelta(minutes=m), f"user{m}", "10.20.1.5") for m in range(0, 60, 7)]
    index(ctx, burst + noise)
    engine = DetectionEngine(ctx)
    d = detector("failed-login-burst")

    first = engine.backtest(d, T0, T0 + timedelta(hours=1))
    assert [a.entity for a in first.created] == [{"user.name": "t.suzuki", "source.ip": "198.51.100.7"}]
    alerts = engine.alerts.search(detector=d.id)
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.count == 30
    assert alert.start == T0 + timedelta(minutes=20)
    assert alert.end == T0 + timedelta(minutes=20, seconds=15 * 29)
    assert alert.mitre == ["T1110", "T1110.001"]
    assert len(alert.sample_event_ids) == 10

    again = engine.backtest(d, T0, T0 + timedelta(hours=1))
    assert again.created == [] and again.extended == []
    assert [a.id for a in engine.alerts.search(detector=d.id)] == [alert.id]


def test_below_threshold_near_miss_stays_silent(ctx: AppContext) -> None:
    index(ctx, [auth_failure(t, "t.tanaka", "198.51.100.8") for t in spread(T0, 19, timedelta(seconds=30))])
    report = DetectionEngine(ctx).backtest(
        detector("failed-login-burst"), T0 - timedelta(hours=1), T0 + timedelta(hours=1)
    )
    assert report.matches == 0 and report.created == []


def test_attack_straddling_a_window_boundary_is_found_whole(ctx: AppContext) -> None:
    # 12 failures just before 00:15 and 12 just after: no 5-minute bucket holds 20
    times = spread(T0 + timedelta(minutes=13), 12, timedelta(seconds=10)) + spread(
        T0 + timedelta(minutes=15), 12, timedelta(seconds=10)
    )
    index(ctx, [auth_failure(t, "k.sato", "203.0.113.9") for t in times])
    engine = DetectionEngine(ctx)
    engine.backtest(detector("failed-login-burst"), T0, T0 + timedelta(hours=1))
    (alert,) = engine.alerts.search()
    assert alert.count == 24 and alert.start == times[0] and alert.end == times[-1]


def test_ongoing_activity_is_one_extended_alert(ctx: AppContext) -> None:
    # 90 minutes of steady guessing: seen by ~20 overlapping windows, still one alert
    times = spread(T0, 180, timedelta(seconds=30))
    index(ctx, [auth_failure(t, "m.ito", "203.0.113.10") for t in times])
    engine = DetectionEngine(ctx)
    report = engine.backtest(detector("failed-login-burst"), T0, T0 + timedelta(hours=3))
    (alert,) = engine.alerts.search()
    assert len(report.created) == 1 and len(report.extended) >= 10
    assert alert.count == 180 and alert.start == times[0] and alert.end == times[-1]
    assert alert.windows == 1 + len(report.extended)


def test_a_pause_longer_than_the_window_starts_a_new_alert(ctx: AppContext) -> None:
    first = spread(T0, 25, timedelta(seconds=10))
    second = spread(T0 + timedelta(hours=2), 25, timedelta(seconds=10))
    index(ctx, [auth_failure(t, "y.kato", "203.0.113.11") for t in first + second])
    engine = DetectionEngine(ctx)
    engine.backtest(detector("failed-login-burst"), T0 - timedelta(minutes=30), T0 + timedelta(hours=3))
    alerts = engine.alerts.search()
    assert [(a.start, a.count) for a in alerts] == [(first[0], 25), (second[0], 25)]
    assert len({a.id for a in alerts}) == 2


def test_spray_found_beyond_the_first_composite_page(ctx: AppContext) -> None:
    # 2,500 sources with one failing user each (3 pages of 1,000 groups), one sprayer
    noise = [
        auth_failure(T0 + timedelta(minutes=5, milliseconds=i), f"u{i}", f"10.20.{i // 250}.{i % 250 + 1}")
        for i in range(2500)
    ]
    spray = [auth_failure(T0 + timedelta(minutes=6, seconds=i), f"staff{i:02d}", "198.51.100.99") for i in range(14)]
    index(ctx, noise + spray)
    engine = DetectionEngine(ctx, strategy="windows")  # paging is the windows path's; auto escapes to one pass
    d = detector("password-spray")
    dry = engine.backtest(d, T0, T0 + timedelta(minutes=15), write=False, explain=True)
    assert max(w.pages for w in dry.per_window) >= 3
    assert max(w.groups for w in dry.per_window) == 2501
    assert engine.alerts.search() == []  # explain writes nothing
    DetectionEngine(ctx).backtest(d, T0, T0 + timedelta(minutes=15))  # auto: the one-pass plan finds it too
    (alert,) = engine.alerts.search()
    assert alert.entity == {"source.ip": "198.51.100.99"}
    assert alert.distinct_count == 14 and alert.distinct_field == "user.name"


def test_port_scan_distinct_ports_per_source_and_target(ctx: AppContext) -> None:
    scan = [flow(T0 + timedelta(seconds=i), "10.20.3.44", "10.20.0.20", 1000 + i) for i in range(120)]
    normal = [
        flow(T0 + timedelta(seconds=i), "10.20.3.45", "10.20.0.20", p) for i, p in enumerate([445, 135, 389, 88] * 30)
    ]
    index(ctx, scan + normal, dataset="network")
    engine = DetectionEngine(ctx)
    engine.backtest(detector("port-scan"), T0, T0 + timedelta(minutes=30))
    (alert,) = engine.alerts.search()
    assert alert.entity == {"source.ip": "10.20.3.44", "destination.ip": "10.20.0.20"}
    assert alert.distinct_count == 120
    assert alert.segments == ["lgwan"]


def test_live_runs_resume_after_restart_without_gaps_or_duplicates(settings, ctx: AppContext) -> None:
    attack = spread(T0 + timedelta(minutes=50), 40, timedelta(seconds=20))
    index(ctx, [auth_failure(t, "h.kobayashi", "203.0.113.12") for t in attack])
    d = detector("failed-login-burst")
    clock = ManualClock(T0 + timedelta(hours=2, minutes=1, seconds=30))
    run1 = AppContext(settings=settings, es=ctx.es, clock=clock)
    engine1 = DetectionEngine(run1)
    state = engine1.state.get(d.id)
    state.watermark = T0
    engine1.state.save(state)

    engine1.run_live(d, max_windows=12)  # stops at 01:00, in the middle of the attack
    assert engine1.state.get(d.id).watermark == T0 + timedelta(hours=1)
    assert len(engine1.alerts.search()) == 1

    engine2 = DetectionEngine(AppContext(settings=settings, es=ctx.es, clock=clock))  # "restarted"
    report = engine2.run_live(d)
    final = engine2.state.get(d.id)
    assert final.watermark == T0 + timedelta(hours=2)
    assert final.windows_covered == 24  # every 5-minute window from 00:05 to 02:00, once
    assert report.created == []
    (alert,) = engine2.alerts.search()
    assert alert.count == 40 and alert.end == attack[-1]
    assert engine2.run_live(d).windows == 0  # nothing due until the clock moves


@pytest.mark.parametrize("path", sorted((REPO / "detectors").rglob("*.yml")), ids=lambda p: p.stem)
def test_explain_runs_every_shipped_detector_and_writes_nothing(ctx: AppContext, path: Path) -> None:
    d = load_detector_file(path)
    index(ctx, [auth_failure(T0 + timedelta(minutes=m), "x", "10.20.0.1") for m in range(0, 180, 7)])
    index(ctx, [flow(T0 + timedelta(minutes=m), "10.20.0.1", "10.20.0.20", 445) for m in range(0, 180, 7)], "network")
    ctx.es.refresh(f"{ctx.es.prefix}-*")
    before = ctx.es.count(f"{ctx.es.prefix}-*")
    report = DetectionEngine(ctx).backtest(
        d, T0 + timedelta(hours=1), T0 + timedelta(hours=3), write=False, explain=True
    )
    assert report.windows == len(report.per_window) > 0 and report.queries
    assert report.queries[0]["query"]["bool"]["filter"][0]["range"]["@timestamp"]  # the window bound comes first
    ctx.es.refresh(f"{ctx.es.prefix}-*")
    assert ctx.es.count(f"{ctx.es.prefix}-*") == before  # no alert, state or baseline document
