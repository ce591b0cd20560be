"""Window planning and query building are pure: tested without a cluster."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from soc.detection.models import Schedule, ThresholdDetector
from soc.detection.queries import detector_query, threshold_page
from soc.detection.windows import Window, align_down, backtest_windows, live_windows

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
SCHED = Schedule(
    interval=timedelta(minutes=5), window=timedelta(minutes=15), delay=timedelta(minutes=1), allowance=timedelta(0)
)


def _detector(**over: object) -> ThresholdDetector:
    data: dict[str, object] = {
        "id": "t-detector",
        "kind": "threshold",
        "title": {"en": "t", "ja": "t"},
        "description": {"en": "t", "ja": "t"},
        "severity": "medium",
        "risk_score": 40,
        "mitre": ["T1110"],
        "dataset": "auth",
        "filter": {"event.outcome": "failure", "event.code": ["4625", "4771"]},
        "exclude": {"user.name": ["-"]},
        "group_by": ["source.ip"],
        "condition": {"distinct": {"field": "user.name", "gte": 10}},
        "rationale": "r",
    }
    data.update(over)
    return ThresholdDetector.model_validate(data)


def test_backtest_windows_slide_by_interval_and_cover_the_range() -> None:
    wins = backtest_windows(SCHED, T0, T0 + timedelta(hours=1))
    assert len(wins) == 12
    assert wins[0] == Window(T0 + timedelta(minutes=5) - timedelta(minutes=15), T0 + timedelta(minutes=5))
    assert wins[-1].end == T0 + timedelta(hours=1)
    assert all(b.end - a.end == timedelta(minutes=5) for a, b in itertools.pairwise(wins))


def test_every_instant_is_seen_by_window_over_interval_windows() -> None:
    wins = backtest_windows(SCHED, T0, T0 + timedelta(hours=2))
    probe = T0 + timedelta(minutes=47, seconds=13)
    assert sum(w.start <= probe < w.end for w in wins) == 3


def test_unaligned_range_uses_the_same_grid() -> None:
    a = backtest_windows(SCHED, T0 + timedelta(minutes=2), T0 + timedelta(minutes=33))
    assert [w.end.minute for w in a] == [5, 10, 15, 20, 25, 30]


def test_live_windows_resume_from_watermark_and_respect_delay() -> None:
    now = T0 + timedelta(minutes=30, seconds=30)
    wins = live_windows(SCHED, watermark=T0 + timedelta(minutes=10), now=now)
    # now - delay = 00:29:30 -> last full end 00:25
    assert [w.end for w in wins] == [T0 + timedelta(minutes=m) for m in (15, 20, 25)]
    assert live_windows(SCHED, watermark=T0 + timedelta(minutes=25), now=now) == []


def test_live_windows_reevaluate_the_late_log_allowance() -> None:
    sched = SCHED.model_copy(update={"allowance": timedelta(minutes=10)})
    now = T0 + timedelta(minutes=30, seconds=30)
    wins = live_windows(sched, watermark=T0 + timedelta(minutes=20), now=now)
    # the run covers [watermark - allowance, now - delay]: ends 15, 20 again, then 25
    assert [w.end for w in wins] == [T0 + timedelta(minutes=m) for m in (15, 20, 25)]
    # nothing new is due: no re-evaluation either
    assert live_windows(sched, watermark=T0 + timedelta(minutes=25), now=now) == []


def test_live_windows_cap_catch_up_and_first_run() -> None:
    now = T0 + timedelta(days=2)
    assert len(live_windows(SCHED, watermark=T0, now=now, max_windows=10)) == 10
    first = live_windows(SCHED, watermark=None, now=now)
    assert len(first) == 1 and first[0].end == align_down(now - SCHED.delay, SCHED.interval)


def test_threshold_page_dsl() -> None:
    d = _detector()
    body = threshold_page(d, Window(T0, T0 + timedelta(minutes=15)), after={"g0": "10.0.0.1"})
    assert body["size"] == 0
    comp = body["aggs"]["groups"]["composite"]
    assert comp["sources"] == [{"g0": {"terms": {"field": "source.ip"}}}]
    assert comp["after"] == {"g0": "10.0.0.1"}
    assert body["aggs"]["groups"]["aggs"]["distinct"]["cardinality"]["field"] == "user.name"
    q = body["query"]["bool"]
    assert {"terms": {"event.code": ["4625", "4771"]}} in q["filter"]
    assert {"term": {"event.outcome": "failure"}} in q["filter"]
    assert {"exists": {"field": "user.name"}} in q["filter"]
    assert q["must_not"] == [{"terms": {"user.name": ["-"]}}]
    rng = q["filter"][0]["range"]["@timestamp"]
    assert rng["gte"] == "2026-11-23T00:00:00.000Z" and rng["lt"] == "2026-11-23T00:15:00.000Z"


def test_entity_query_narrows_to_the_entity_inclusive_end() -> None:
    q = detector_query(_detector(), T0, T0 + timedelta(minutes=1), entity={"source.ip": "1.2.3.4"}, include_end=True)
    assert {"term": {"source.ip": "1.2.3.4"}} in q["bool"]["filter"]
    assert "lte" in q["bool"]["filter"][0]["range"]["@timestamp"]


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"group_by": ["user.name"]}, "cannot also be a group_by field"),
        ({"filter": {}}, "at least one field"),
        ({"schedule": {"interval": "7m", "window": "14m"}}, "divide a day"),
        ({"risk_score": 120}, "less than or equal to 100"),
    ],
)
def test_model_rejects(over: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _detector(**over)
