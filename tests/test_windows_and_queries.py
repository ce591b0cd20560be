"""Window planning and query building are pure: tested without a cluster."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from soc.detection.loader import load_detector_file
from soc.detection.models import Detector, Schedule, SequenceDetector, SpikeDetector, ThresholdDetector
from soc.detection.queries import (
    count_query,
    detector_query,
    media_clause,
    sequence_page,
    suffix_clause,
    threshold_page,
    window_totals_page,
)
from soc.detection.windows import Window, align_down, backtest_windows, live_windows

REPO = Path(__file__).resolve().parent.parent

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


# --- the abilities of issue 9 §3: each builder's DSL, without a cluster ---------------


def _load(path: str, **over: object) -> Detector:
    base = load_detector_file(REPO / "detectors" / path)
    return type(base).model_validate(base.model_dump() | over)


def test_missing_fields_become_must_not_exists() -> None:
    d = _detector(missing=["source.ip"], group_by=["source.domain"])
    q = detector_query(d, T0, T0 + timedelta(minutes=15))["bool"]
    assert {"exists": {"field": "source.ip"}} in q["must_not"]
    assert {"exists": {"field": "source.domain"}} in q["filter"]


def test_domain_suffix_exception_matches_the_domain_and_names_under_it() -> None:
    assert suffix_clause("url.domain", ["slack.com", "push.apple.com"]) == {
        "bool": {
            "should": [
                {"terms": {"url.domain": ["slack.com", "push.apple.com"]}},
                {"wildcard": {"url.domain": {"value": "*.slack.com"}}},
                {"wildcard": {"url.domain": {"value": "*.push.apple.com"}}},
            ],
            "minimum_should_match": 1,
        }
    }
    d = _detector(exceptions=[{"match": {"user.name": {"suffix": ["city.example.lg.jp"]}}}])
    q = detector_query(d, T0, T0 + timedelta(minutes=15))["bool"]
    assert {"bool": {"filter": [suffix_clause("user.name", ["city.example.lg.jp"])]}} in q["must_not"]


def test_ends_with_exception_takes_wildcard_characters_literally() -> None:
    d = _detector(exceptions=[{"match": {"user.name": {"ends_with": ["$", "a*?\\"]}}}])
    q = detector_query(d, T0, T0 + timedelta(minutes=15))["bool"]
    ending = {
        "bool": {
            "should": [
                {"wildcard": {"user.name": {"value": "*$"}}},
                {"wildcard": {"user.name": {"value": "*a\\*\\?\\\\"}}},
            ],
            "minimum_should_match": 1,
        }
    }
    assert {"bool": {"filter": [ending]}} in q["must_not"]
    with pytest.raises(ValidationError, match="ends_with needs a keyword field"):
        _detector(exceptions=[{"match": {"source.bytes": {"ends_with": ["0"]}}}])


def test_volume_leaves_real_time_media_out_unless_asked() -> None:
    d = _load("network/large-outbound-transfer.yml")
    q = detector_query(d, T0, T0 + timedelta(hours=1))["bool"]
    media = media_clause()
    assert media in q["must_not"]
    should = media["bool"]["should"]
    assert {"range": {"destination.port": {"gte": 3478, "lte": 3481}}} in should
    assert {"range": {"destination.port": {"gte": 8801, "lte": 8810}}} in should
    assert "52.112.0.0/14" in should[-1]["terms"]["destination.ip"]
    counted = _load("network/large-outbound-transfer.yml", count_realtime_media=True)
    assert media not in detector_query(counted, T0, T0 + timedelta(hours=1))["bool"].get("must_not", [])


def test_sequence_first_step_counts_distinct_values_and_the_order_check_too() -> None:
    d = _load("auth/password-spray-success.yml")
    assert isinstance(d, SequenceDetector)
    body = sequence_page(d, Window(T0, T0 + timedelta(minutes=30)))
    first = body["aggs"]["groups"]["aggs"]["first"]
    assert first["filter"] == {"bool": {"filter": [{"term": {"event.outcome": "failure"}}]}}
    assert first["aggs"]["distinct"] == {"cardinality": {"field": "user.name", "precision_threshold": 3000}}
    check = count_query(
        d, d.first.filter, {"source.ip": "126.1.2.3"}, T0, T0 + timedelta(minutes=9), distinct="user.name"
    )
    assert check["aggs"] == {"distinct": {"cardinality": {"field": "user.name", "precision_threshold": 3000}}}
    assert {"term": {"source.ip": "126.1.2.3"}} in check["query"]["bool"]["filter"]
    assert {"terms": {"source.ip": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]}} in check["query"]["bool"][
        "must_not"
    ]


def test_organisation_wide_spike_asks_for_its_top_contributors() -> None:
    d = _load("auth/auth-failure-surge.yml")
    assert isinstance(d, SpikeDetector)
    body = window_totals_page(d, Window(T0, T0 + timedelta(minutes=15)))
    assert body["aggs"]["contributors"] == {
        "terms": {"field": "source.ip", "size": 3, "order": [{"_count": "desc"}, {"_key": "asc"}]}
    }
    plain = _load("auth/auth-failure-surge.yml", contributors=None)
    assert isinstance(plain, SpikeDetector)
    assert "contributors" not in window_totals_page(plain, Window(T0, T0 + timedelta(minutes=15)))["aggs"]


@pytest.mark.parametrize(
    ("path", "over", "message"),
    [
        ("auth/password-spray-workstation.yml", {"missing": ["source.domain"]}, "also grouped or counted"),
        ("auth/auth-failure-surge.yml", {"group_by": ["source.ip"]}, "only for organisation-wide"),
        ("network/beaconing-proxy.yml", {"prevalence": {"source": "user.name", "max_sources": 5}}, "group_by"),
        ("network/beaconing-proxy.yml", {"group_by": ["source.ip"]}, "destination in group_by"),
        (
            "network/beaconing-proxy.yml",
            {"exceptions": [{"match": {"destination.port": {"suffix": ["slack.com"]}}}]},
            "keyword field",
        ),
        (
            "auth/password-spray-success.yml",
            {"then": {"filter": {"event.outcome": "success"}, "distinct": {"field": "user.name", "gte": 2}}},
            "only the first step",
        ),
    ],
)
def test_new_abilities_reject_what_cannot_work(path: str, over: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _load(path, **over)
