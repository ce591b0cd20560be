"""Every query builder, for every shipped detector, against its expected DSL (no cluster).

The expected bodies live in ``tests/fixtures/queries/<detector>.json``: a change of query
strategy shows up in review as a diff of those files. After an intended change, regenerate
them with ``SOC_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_query_golden.py`` and read the
diff before committing it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from soc.detection import queries
from soc.detection.kinds import REGISTRY
from soc.detection.loader import load_detectors
from soc.detection.models import Detector
from soc.detection.windows import Window

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "fixtures" / "queries"
TZ = ZoneInfo("Asia/Tokyo")
# a Tuesday, 11:45-12:00 JST: office hours of a working day
END = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
DETECTORS = load_detectors(REPO / "detectors", include_disabled=True)

Builder = Callable[[Any, Window, dict[str, str]], dict[str, Any]]


def _entity(detector: Detector) -> dict[str, str]:
    fields = list(getattr(detector, "group_by", []) or [])
    fields += getattr(detector, "terms", [])  # new_term: the terms are part of the entity
    return {f: f"<{f}>" for f in fields}


def _after(detector: Any) -> dict[str, str]:
    return {f"{queries.GROUP_PREFIX}{i}": f"<after {f}>" for i, f in enumerate(detector.group_by)}


# what each kind sends: builder name -> body, for one window and one entity
_COMMON: dict[str, Builder] = {
    "detector_query": lambda d, w, e: queries.detector_query(d, w.start, w.end, tz=TZ),
    "episode_query": lambda d, w, e: queries.episode_query(d, e, w.start, w.end, tz=TZ),
    "episode_runs_query": lambda d, w, e: queries.episode_runs_query(d, e, w.start, w.end, d.schedule.interval, tz=TZ),
}
# the one-pass plan of threshold and segment-policy detectors (soc.detection.kinds.one_pass)
_ONE_PASS: dict[str, Builder] = {
    "plan_estimate": lambda d, w, e: queries.plan_estimate(
        d, w.start - timedelta(hours=1), w.end, slot=timedelta(minutes=5), min_count=10, max_candidates=100, tz=TZ
    ),
    "slots_page": lambda d, w, e: queries.slots_page(
        d, w.start, w.end, slot=timedelta(minutes=5), narrow={d.group_by[0]: ["<a>", "<b>"]}, tz=TZ
    ),
    "fetch_page": lambda d, w, e: queries.fetch_page(d, w.start, w.end, narrow={d.group_by[0]: ["<a>"]}, tz=TZ),
    "fetch_page(pit)": lambda d, w, e: queries.fetch_page(d, w.start, w.end, pit="<pit>", after=[1, 2], tz=TZ),
}
_BY_KIND: dict[str, dict[str, Builder]] = {
    "threshold": {
        "threshold_page": lambda d, w, e: queries.threshold_page(d, w, tz=TZ),
        "threshold_page(after)": lambda d, w, e: queries.threshold_page(d, w, after=_after(d), tz=TZ),
        "threshold_page(entities)": lambda d, w, e: queries.threshold_page(d, w, tz=TZ, entities=[e, e]),
        **_ONE_PASS,
    },
    "segment_policy": {
        "threshold_page": lambda d, w, e: queries.threshold_page(d, w, tz=TZ),
        **_ONE_PASS,
    },
    "sequence": {
        "sequence_page": lambda d, w, e: queries.sequence_page(d, w, tz=TZ),
        "count_query": lambda d, w, e: queries.count_query(d, d.first.filter, e, w.start, w.end, tz=TZ),
    },
    "new_term": {
        "new_term_page": lambda d, w, e: queries.new_term_page(d, w.start, w.end, tz=TZ),
    },
    "spike": {
        "window_totals_page": lambda d, w, e: queries.window_totals_page(d, w, tz=TZ),
        "history_query": lambda d, w, e: queries.history_query(d, e, w.start - d.baseline, w.start, tz=TZ),
    },
    "volume": {
        "window_totals_page": lambda d, w, e: queries.window_totals_page(d, w, tz=TZ),
        "history_query": lambda d, w, e: queries.history_query(
            d, e, w.start - (d.condition.baseline or timedelta(days=7)), w.start, tz=TZ
        ),
    },
    "silence": {
        "silence_page": lambda d, w, e: queries.silence_page(d, w, tz=TZ),
    },
    "beacon": {
        "beacon_page": lambda d, w, e: queries.beacon_page(d, w, tz=TZ),
        "beacon_histograms": lambda d, w, e: queries.beacon_histograms(d, w, e, tz=TZ),
    },
    "impossible_travel": {
        "travel_page": lambda d, w, e: queries.travel_page(d, w, tz=TZ),
    },
}


def bodies_of(detector: Detector) -> dict[str, Any]:
    window = Window(END - detector.schedule.window, END)
    entity = _entity(detector)
    builders = {**_COMMON, **_BY_KIND[detector.kind]}
    return {name: build(detector, window, entity) for name, build in builders.items()}


@pytest.mark.parametrize("detector", DETECTORS, ids=[d.id for d in DETECTORS])
def test_queries_match_the_expected_dsl(detector: Detector) -> None:
    got = json.loads(json.dumps(bodies_of(detector), sort_keys=True, default=str))
    path = GOLDEN / f"{detector.id}.json"
    if os.environ.get("SOC_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(got, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    assert path.exists(), f"no expected DSL for {detector.id}: run with SOC_UPDATE_GOLDEN=1 and review {path}"
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert got == expected, f"the queries of {detector.id} changed: regenerate {path} and review the diff"


def test_every_kind_and_every_builder_has_expected_dsl() -> None:
    assert set(REGISTRY) <= set(_BY_KIND), f"kinds without expected queries: {set(REGISTRY) - set(_BY_KIND)}"
    covered = {name.split("(")[0] for names in [_COMMON, *_BY_KIND.values()] for name in names}
    builders = {
        name
        for name in queries.__all__
        if callable(getattr(queries, name))
        and (name.endswith(("_page", "_query", "_estimate")) or name == "beacon_histograms")
    }
    assert builders <= covered, f"builders without expected DSL: {sorted(builders - covered)}"
    stale = {p.stem for p in GOLDEN.glob("*.json")} - {d.id for d in DETECTORS}
    assert not stale, f"expected DSL of detectors that no longer exist: {sorted(stale)}"


def test_expected_dsl_reads_as_the_detector_says() -> None:
    """Spot checks that the files hold what a reviewer expects (not only what the code made)."""
    burst = json.loads((GOLDEN / "failed-login-burst.json").read_text(encoding="utf-8"))
    page = burst["threshold_page"]
    assert page["size"] == 0
    sources = page["aggs"]["groups"]["composite"]["sources"]
    assert sources == [{"g0": {"terms": {"field": "user.name"}}}, {"g1": {"terms": {"field": "source.ip"}}}]
    rng = page["query"]["bool"]["filter"][0]["range"]["@timestamp"]
    assert (rng["gte"], rng["lt"]) == ("2026-11-24T02:45:00.000Z", "2026-11-24T03:00:00.000Z")
    assert {"terms": {"event.code": ["4771", "4776"]}} in page["query"]["bool"]["must_not"]
    assert "after" in burst["threshold_page(after)"]["aggs"]["groups"]["composite"]
    spray = json.loads((GOLDEN / "password-spray.json").read_text(encoding="utf-8"))
    distinct = spray["threshold_page"]["aggs"]["groups"]["aggs"]["distinct"]["cardinality"]
    assert distinct["field"] == "user.name"
