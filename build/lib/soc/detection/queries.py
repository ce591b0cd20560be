"""The one place that builds Elasticsearch queries for detection.

Pure functions ``(detector, window, ...) -> dict``: unit-tested against the
expected DSL without a cluster, then run against the real node. Work is pushed to
Elasticsearch: counts, distinct counts and first/last seen come from a composite
aggregation paged with ``after_key``, so no group is lost to a top-N cut and no raw
event is pulled into Python (only a bounded evidence sample per alert).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from soc.detection.models import FieldMatch, ThresholdDetector
from soc.detection.windows import Window
from soc.vocab import iso

__all__ = [
    "GROUP_PREFIX",
    "PAGE_SIZE",
    "SAMPLE_SIZE",
    "detector_query",
    "episode_query",
    "match_clauses",
    "threshold_page",
    "time_range",
]

GROUP_PREFIX = "g"
PAGE_SIZE = 1000
SAMPLE_SIZE = 10
# HyperLogLog++ counts are practically exact below this many distinct values.
PRECISION_THRESHOLD = 3000


def time_range(start: datetime, end: datetime, *, include_end: bool = False) -> dict[str, Any]:
    bounds = {"gte": iso(start), ("lte" if include_end else "lt"): iso(end)}
    return {"range": {"@timestamp": {**bounds, "format": "strict_date_optional_time"}}}


def match_clauses(match: FieldMatch) -> list[dict[str, Any]]:
    """``{field: value}`` → term, ``{field: [a, b]}`` → terms (any of)."""
    clauses: list[dict[str, Any]] = []
    for field in sorted(match):
        value = match[field]
        if isinstance(value, list):
            clauses.append({"terms": {field: value}})
        else:
            clauses.append({"term": {field: value}})
    return clauses


def detector_query(
    detector: ThresholdDetector,
    start: datetime,
    end: datetime,
    *,
    entity: dict[str, str] | None = None,
    include_end: bool = False,
) -> dict[str, Any]:
    """The bool query of a detector over a time range, optionally narrowed to one entity."""
    filters = [time_range(start, end, include_end=include_end), *match_clauses(detector.filter)]
    # every grouped field must exist, as the composite aggregation skips missing keys
    filters += [{"exists": {"field": f}} for f in detector.matched_fields()]
    if entity:
        filters += [{"term": {field: value}} for field, value in sorted(entity.items())]
    query: dict[str, Any] = {"bool": {"filter": filters}}
    if detector.exclude:
        query["bool"]["must_not"] = match_clauses(detector.exclude)
    return query


def threshold_page(
    detector: ThresholdDetector, window: Window, *, after: dict[str, Any] | None = None, page_size: int = PAGE_SIZE
) -> dict[str, Any]:
    """One page of the per-group composite aggregation of a threshold detector."""
    composite: dict[str, Any] = {
        "size": page_size,
        "sources": [{f"{GROUP_PREFIX}{i}": {"terms": {"field": field}}} for i, field in enumerate(detector.group_by)],
    }
    if after is not None:
        composite["after"] = after
    sub: dict[str, Any] = {
        "first_seen": {"min": {"field": "@timestamp"}},
        "last_seen": {"max": {"field": "@timestamp"}},
    }
    if detector.condition.distinct is not None:
        sub["distinct"] = {
            "cardinality": {"field": detector.condition.distinct.field, "precision_threshold": PRECISION_THRESHOLD}
        }
    return {
        "size": 0,
        "track_total_hits": False,
        "query": detector_query(detector, window.start, window.end),
        "aggs": {"groups": {"composite": composite, "aggs": sub}},
    }


def episode_query(
    detector: ThresholdDetector, entity: dict[str, str], start: datetime, end: datetime
) -> dict[str, Any]:
    """Figures for one alert's whole span ``[start, end]``: count, distinct count,
    first/last seen, segments touched, and a bounded sample of source event ids."""
    aggs: dict[str, Any] = {
        "first_seen": {"min": {"field": "@timestamp"}},
        "last_seen": {"max": {"field": "@timestamp"}},
        "segments": {"terms": {"field": "soc.segment", "size": 10}},
        "source_segments": {"terms": {"field": "soc.source_segment", "size": 10}},
        "destination_segments": {"terms": {"field": "soc.destination_segment", "size": 10}},
    }
    if detector.condition.distinct is not None:
        aggs["distinct"] = {
            "cardinality": {"field": detector.condition.distinct.field, "precision_threshold": PRECISION_THRESHOLD}
        }
    return {
        "size": SAMPLE_SIZE,
        "track_total_hits": True,
        "sort": [{"@timestamp": "asc"}],
        "_source": ["event.id"],
        "query": detector_query(detector, start, end, entity=entity, include_end=True),
        "aggs": aggs,
    }
