"""The one place that builds Elasticsearch queries for detection.

Pure functions ``(detector, window, ...) -> dict``: unit-tested against the expected
DSL without a cluster, then run against the real node. Work is pushed to
Elasticsearch: counts, distinct counts, sums, first/last seen, intervals and places
come from composite aggregations paged with ``after_key``, so no group is lost to a
top-N cut and no raw event is pulled into Python (only a bounded evidence sample per
alert).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from soc.calendar import calendar_for
from soc.detection.models import (
    BeaconDetector,
    Detector,
    EndsWith,
    FieldMatch,
    ImpossibleTravelDetector,
    NewTermDetector,
    OffHours,
    Range,
    SegmentPolicyDetector,
    SequenceDetector,
    SilenceDetector,
    SpikeDetector,
    Suffixes,
    ThresholdDetector,
    ValueList,
    VolumeDetector,
)
from soc.detection.windows import Window
from soc.network.media import MEDIA_CIDRS, MEDIA_PORT_RANGES
from soc.vocab import iso

__all__ = [
    "GROUP_PREFIX",
    "PAGE_SIZE",
    "SAMPLE_SIZE",
    "beacon_histograms",
    "beacon_page",
    "count_query",
    "detector_query",
    "ends_with_clause",
    "entity_filter",
    "episode_query",
    "episode_runs_query",
    "exception_clauses",
    "fetch_page",
    "group_key",
    "history_query",
    "match_clauses",
    "media_clause",
    "new_term_page",
    "off_hours_ranges",
    "plan_estimate",
    "sequence_page",
    "silence_page",
    "slots_page",
    "suffix_clause",
    "threshold_page",
    "time_range",
    "travel_page",
    "window_totals_page",
]

GROUP_PREFIX = "g"
SLOT_KEY = "slot"
PAGE_SIZE = 1000
SLOT_PAGE_SIZE = 10_000
FETCH_PAGE_SIZE = 10_000  # events per page of a fetch (the default index.max_result_window)
SAMPLE_SIZE = 10
# HyperLogLog++ counts are practically exact below this many distinct values.
PRECISION_THRESHOLD = 3000
UTC_ZONE = ZoneInfo("UTC")


def time_range(start: datetime, end: datetime, *, include_end: bool = False) -> dict[str, Any]:
    bounds = {"gte": iso(start), ("lte" if include_end else "lt"): iso(end)}
    return {"range": {"@timestamp": {**bounds, "format": "strict_date_optional_time"}}}


def _range_clause(field: str, r: Range) -> dict[str, Any]:
    bounds = {k: v for k, v in (("gte", r.gte), ("gt", r.gt), ("lte", r.lte), ("lt", r.lt)) if v is not None}
    return {"range": {field: bounds}}


def match_clauses(match: FieldMatch) -> list[dict[str, Any]]:
    """``{field: value}`` → term, ``{field: [a, b]}`` → terms (any of), ``{field: {gte: n}}`` → range."""
    clauses: list[dict[str, Any]] = []
    for field in sorted(match):
        value = match[field]
        if isinstance(value, Range):
            clauses.append(_range_clause(field, value))
        elif isinstance(value, list):
            clauses.append({"terms": {field: value}})
        else:
            clauses.append({"term": {field: value}})
    return clauses


def exception_clauses(detector: Detector) -> list[dict[str, Any]]:
    """One ``bool.filter`` per exception item (AND inside), to be put under ``must_not`` (OR across)."""
    out: list[dict[str, Any]] = []
    for item in detector.exceptions:
        inner: list[dict[str, Any]] = []
        for field in sorted(item.match):
            value = item.match[field]
            if isinstance(value, ValueList):
                inner.append({"terms": {field: value.values} if value.values else {"match_none": {}}})
            elif isinstance(value, Suffixes):
                inner.append(suffix_clause(field, value.suffix))
            elif isinstance(value, EndsWith):
                inner.append(ends_with_clause(field, value.ends_with))
            elif isinstance(value, list):
                inner.append({"terms": {field: value}})
            else:
                inner.append({"term": {field: value}})
        out.append({"bool": {"filter": inner}})
    return out


def suffix_clause(field: str, suffixes: list[str]) -> dict[str, Any]:
    """*field* is one of *suffixes* or a name under one (``a.slack.com``), never ``evilslack.com``."""
    under = [{"wildcard": {field: {"value": f"*.{s}"}}} for s in suffixes]
    return {"bool": {"should": [{"terms": {field: suffixes}}, *under], "minimum_should_match": 1}}


def ends_with_clause(field: str, endings: list[str]) -> dict[str, Any]:
    """*field* ends with one of *endings* (wildcard metacharacters in them taken literally)."""
    literal = [e.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?") for e in endings]
    clauses = [{"wildcard": {field: {"value": f"*{e}"}}} for e in literal]
    return clauses[0] if len(clauses) == 1 else {"bool": {"should": clauses, "minimum_should_match": 1}}


def media_clause() -> dict[str, Any]:
    """Flows of real-time media (STUN/TURN and Zoom media ports, Teams/Zoom media ranges)."""
    ports = [{"range": {"destination.port": {"gte": lo, "lte": hi}}} for lo, hi in MEDIA_PORT_RANGES]
    return {"bool": {"should": [*ports, {"terms": {"destination.ip": list(MEDIA_CIDRS)}}], "minimum_should_match": 1}}


def off_hours_ranges(spec: OffHours, start: datetime, end: datetime, tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """The parts of ``[start, end)`` outside business hours in *tz*: days the office is
    closed (weekends, holidays, the year-end closure, closed days — as *spec* asks) whole."""
    out: list[tuple[datetime, datetime]] = []
    calendar = calendar_for(spec.calendar)
    day = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    while day <= last:
        midnight = datetime.combine(day, datetime.min.time(), tzinfo=tz)
        nxt = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
        if calendar.is_closed(day, weekends=spec.weekends, holidays=spec.holidays):
            spans = [(midnight, nxt)]
        else:
            spans = [
                (midnight, datetime.combine(day, spec.start, tzinfo=tz)),
                (datetime.combine(day, spec.end, tzinfo=tz), nxt),
            ]
        for a, b in spans:
            lo, hi = max(a.astimezone(UTC), start), min(b.astimezone(UTC), end)
            if lo < hi:
                if out and out[-1][1] == lo:
                    out[-1] = (out[-1][0], hi)
                else:
                    out.append((lo, hi))
        day += timedelta(days=1)
    return out


def _kind_clauses(detector: Detector) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Extra (filter, must_not) clauses a kind adds to every query of the detector."""
    if isinstance(detector, SequenceDetector):
        either = {
            "bool": {
                "should": [
                    {"bool": {"filter": match_clauses(detector.first.filter)}},
                    {"bool": {"filter": match_clauses(detector.then.filter)}},
                ],
                "minimum_should_match": 1,
            }
        }
        return [either], []
    if isinstance(detector, SegmentPolicyDetector):
        must_not = [{"term": {"soc.local_breakout": True}}] if detector.allow_local_breakout else []
        return [
            {"terms": {"soc.source_segment": [s.value for s in detector.from_segments]}},
            {"terms": {"soc.destination_segment": [s.value for s in detector.to_segments]}},
        ], must_not
    if isinstance(detector, VolumeDetector) and not detector.count_realtime_media:
        return [], [media_clause()]
    return [], []


def detector_query(
    detector: Detector,
    start: datetime,
    end: datetime,
    *,
    entity: dict[str, str] | None = None,
    include_end: bool = False,
    tz: ZoneInfo = UTC_ZONE,
) -> dict[str, Any]:
    """The bool query of a detector over a time range, optionally narrowed to one entity."""
    filters = [time_range(start, end, include_end=include_end), *match_clauses(detector.filter)]
    # every grouped field must exist, as the composite aggregation skips missing keys
    filters += [{"exists": {"field": f}} for f in detector.matched_fields()]
    if entity:
        filters += [{"term": {field: value}} for field, value in sorted(entity.items())]
    extra, must_not = _kind_clauses(detector)
    filters += extra
    if detector.off_hours is not None:
        spans = off_hours_ranges(detector.off_hours, start, end + timedelta(milliseconds=1), tz)
        filters.append(
            {"bool": {"should": [time_range(a, b) for a, b in spans], "minimum_should_match": 1}}
            if spans
            else {"match_none": {}}
        )
    must_not = [
        *match_clauses(detector.exclude),
        *exception_clauses(detector),
        *must_not,
        *({"exists": {"field": f}} for f in detector.missing),
    ]
    query: dict[str, Any] = {"bool": {"filter": filters}}
    if must_not:
        query["bool"]["must_not"] = must_not
    return query


def _composite(fields: list[str], after: dict[str, Any] | None, size: int) -> dict[str, Any]:
    composite: dict[str, Any] = {
        "size": size,
        "sources": [{f"{GROUP_PREFIX}{i}": {"terms": {"field": field}}} for i, field in enumerate(fields)],
    }
    if after is not None:
        composite["after"] = after
    return composite


def group_key(fields: list[str], bucket_key: dict[str, Any]) -> dict[str, str]:
    """The entity of a composite bucket: ``{field: value}``."""
    return {field: str(bucket_key[f"{GROUP_PREFIX}{i}"]) for i, field in enumerate(fields)}


def _cardinality(field: str) -> dict[str, Any]:
    return {"cardinality": {"field": field, "precision_threshold": PRECISION_THRESHOLD}}


_SEEN = {"first_seen": {"min": {"field": "@timestamp"}}, "last_seen": {"max": {"field": "@timestamp"}}}


def _page(
    query: dict[str, Any], fields: list[str], sub: dict[str, Any], after: dict[str, Any] | None, size: int
) -> dict[str, Any]:
    return {
        "size": 0,
        "track_total_hits": False,
        "query": query,
        "aggs": {"groups": {"composite": _composite(fields, after, size), "aggs": sub}},
    }


def threshold_page(
    detector: ThresholdDetector | SegmentPolicyDetector,
    window: Window,
    *,
    after: dict[str, Any] | None = None,
    page_size: int = PAGE_SIZE,
    tz: ZoneInfo = UTC_ZONE,
    entities: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """One page of the per-group composite aggregation of a threshold (or segment-policy)
    detector; *entities* narrows it to those groups (a plan's confirmation step)."""
    sub: dict[str, Any] = dict(_SEEN)
    distinct = detector.distinct_field()
    if distinct is not None:
        sub["distinct"] = _cardinality(distinct)
    query = detector_query(detector, window.start, window.end, tz=tz)
    if entities is not None:
        query["bool"]["filter"].append(entity_filter(detector.group_by, entities))
    return _page(query, detector.group_by, sub, after, page_size)


def entity_filter(fields: list[str], entities: list[dict[str, str]]) -> dict[str, Any]:
    """Events of any of *entities* (``{field: value}`` over *fields*)."""
    if len(fields) == 1:
        return {"terms": {fields[0]: sorted({e[fields[0]] for e in entities})}}
    either = [{"bool": {"filter": [{"term": {f: e[f]}} for f in fields]}} for e in entities]
    return {"bool": {"should": either, "minimum_should_match": 1}}


def sequence_page(
    detector: SequenceDetector,
    window: Window,
    *,
    after: dict[str, Any] | None = None,
    page_size: int = PAGE_SIZE,
    tz: ZoneInfo = UTC_ZONE,
) -> dict[str, Any]:
    """Per key: how many ``first`` events and when they began; when the last ``then`` happened."""
    first = {"bool": {"filter": match_clauses(detector.first.filter)}}
    then = {"bool": {"filter": match_clauses(detector.then.filter)}}
    first_aggs: dict[str, Any] = {"at": {"min": {"field": "@timestamp"}}}
    if detector.first.distinct is not None:
        first_aggs["distinct"] = _cardinality(detector.first.distinct.field)
    sub = {
        "first": {"filter": first, "aggs": first_aggs},
        "then": {"filter": then, "aggs": {"at": {"max": {"field": "@timestamp"}}}},
        **_SEEN,
    }
    return _page(detector_query(detector, window.start, window.end, tz=tz), detector.group_by, sub, after, page_size)


def arrivals_histogram(
    detector: Detector, start: datetime, end: datetime, *, slot: timedelta, tz: ZoneInfo = UTC_ZONE
) -> dict[str, Any]:
    """The detector's events in ``[start, end)`` counted per *slot* (epoch-aligned, as windows
    are): a live run compares it with the previous run's to tell whether anything arrived for a
    window that run already evaluated."""
    return {
        "size": 0,
        "track_total_hits": False,
        "query": detector_query(detector, start, end, tz=tz),
        "aggs": {
            "slots": {"date_histogram": {"field": "@timestamp", "fixed_interval": _seconds(slot), "min_doc_count": 1}}
        },
    }


def count_query(
    detector: Detector,
    match: FieldMatch,
    entity: dict[str, str],
    start: datetime,
    end: datetime,
    tz: ZoneInfo = UTC_ZONE,
    *,
    distinct: str | None = None,
) -> dict[str, Any]:
    """How many events of *entity* matching *match* lie in ``[start, end)`` (and how many
    distinct values of *distinct* they hold)."""
    query = detector_query(detector, start, end, entity=entity, tz=tz)
    query["bool"]["filter"] = [*query["bool"]["filter"], *match_clauses(match)]
    body: dict[str, Any] = {"size": 0, "track_total_hits": True, "query": query}
    if distinct is not None:
        body["aggs"] = {"distinct": _cardinality(distinct)}
    return body


def new_term_page(
    detector: NewTermDetector,
    start: datetime,
    end: datetime,
    *,
    after: dict[str, Any] | None = None,
    page_size: int = PAGE_SIZE,
    tz: ZoneInfo = UTC_ZONE,
) -> dict[str, Any]:
    """Every (key, term) pair of ``[start, end)`` with its first and last sighting."""
    return _page(detector_query(detector, start, end, tz=tz), detector.group_fields(), dict(_SEEN), after, page_size)


def window_totals_page(
    detector: SpikeDetector | VolumeDetector,
    window: Window,
    *,
    after: dict[str, Any] | None = None,
    page_size: int = PAGE_SIZE,
    tz: ZoneInfo = UTC_ZONE,
) -> dict[str, Any]:
    """Per key, the window's count (and, for volume, the sum of its field): step one of a
    baseline comparison; only keys above the floor are compared with their history."""
    sub: dict[str, Any] = dict(_SEEN)
    if isinstance(detector, VolumeDetector):
        sub["total"] = {"sum": {"field": detector.field}}
    query = detector_query(detector, window.start, window.end, tz=tz)
    if not detector.group_by:  # organisation-wide: one group
        if isinstance(detector, SpikeDetector) and detector.contributors is not None:
            c = detector.contributors
            order = [{"_count": "desc"}, {"_key": "asc"}]
            sub["contributors"] = {"terms": {"field": c.field, "size": c.top, "order": order}}
        return {"size": 0, "track_total_hits": True, "query": query, "aggs": sub}
    return _page(query, detector.group_by, sub, after, page_size)


def history_query(
    detector: SpikeDetector | VolumeDetector,
    entity: dict[str, str],
    start: datetime,
    end: datetime,
    *,
    tz: ZoneInfo = UTC_ZONE,
) -> dict[str, Any]:
    """One key's count (and sum) over its baseline ``[start, end)``: step two."""
    body: dict[str, Any] = {
        "size": 0,
        "track_total_hits": True,
        "query": detector_query(detector, start, end, entity=entity, tz=tz),
    }
    if isinstance(detector, VolumeDetector):
        body["aggs"] = {"total": {"sum": {"field": detector.field}}}
    return body


def silence_page(
    detector: SilenceDetector,
    window: Window,
    *,
    after: dict[str, Any] | None = None,
    page_size: int = PAGE_SIZE,
    tz: ZoneInfo = UTC_ZONE,
) -> dict[str, Any]:
    """Per source over ``lookback`` before the window's end: how many events and the last one."""
    query = detector_query(detector, window.end - detector.lookback, window.end, tz=tz)
    return _page(query, detector.group_by, dict(_SEEN), after, page_size)


def beacon_page(
    detector: BeaconDetector,
    window: Window,
    *,
    after: dict[str, Any] | None = None,
    page_size: int = PAGE_SIZE,
    tz: ZoneInfo = UTC_ZONE,
) -> dict[str, Any]:
    """Per (source, destination): connections in the window (candidates for the interval test)."""
    return _page(
        detector_query(detector, window.start, window.end, tz=tz), detector.group_by, dict(_SEEN), after, page_size
    )


def beacon_histograms(
    detector: BeaconDetector, window: Window, entity: dict[str, str], tz: ZoneInfo = UTC_ZONE
) -> dict[str, Any]:
    """The occupied time slots of one pair, at the detector's resolution, for its intervals."""
    seconds = max(1, int(detector.resolution.total_seconds()))
    return {
        "size": 0,
        "track_total_hits": False,
        "query": detector_query(detector, window.start, window.end, entity=entity, tz=tz),
        "aggs": {
            "slots": {"date_histogram": {"field": "@timestamp", "fixed_interval": f"{seconds}s", "min_doc_count": 1}}
        },
    }


def travel_page(
    detector: ImpossibleTravelDetector,
    window: Window,
    *,
    after: dict[str, Any] | None = None,
    page_size: int = PAGE_SIZE,
    tz: ZoneInfo = UTC_ZONE,
) -> dict[str, Any]:
    """Per key: the places (geotile cells, precision ~20 km) it signed in from, each with
    its centroid and first/last sighting."""
    sub = {
        "places": {
            "geotile_grid": {"field": detector.location_field, "precision": 10, "size": 20},
            "aggs": {"centroid": {"geo_centroid": {"field": detector.location_field}}, **_SEEN},
        },
        "place_count": {"cardinality": {"field": detector.location_field}},
    }
    return _page(detector_query(detector, window.start, window.end, tz=tz), detector.group_by, sub, after, page_size)


def episode_query(
    detector: Detector, entity: dict[str, str], start: datetime, end: datetime, *, tz: ZoneInfo = UTC_ZONE
) -> dict[str, Any]:
    """Figures for one alert's whole span ``[start, end]``: count, distinct count,
    first/last seen, segments touched, and a bounded sample of source event ids."""
    aggs: dict[str, Any] = {
        **_SEEN,
        "segments": {"terms": {"field": "soc.segment", "size": 10}},
        "source_segments": {"terms": {"field": "soc.source_segment", "size": 10}},
        "destination_segments": {"terms": {"field": "soc.destination_segment", "size": 10}},
    }
    distinct = detector.distinct_field()
    if distinct is not None:
        aggs["distinct"] = _cardinality(distinct)
    return {
        "size": SAMPLE_SIZE,
        "track_total_hits": True,
        "sort": [{"@timestamp": "asc"}],
        "_source": ["event.id"],
        "query": detector_query(detector, start, end, entity=entity, include_end=True, tz=tz),
        "aggs": aggs,
    }


def plan_estimate(
    detector: ThresholdDetector | SegmentPolicyDetector,
    start: datetime,
    end: datetime,
    *,
    slot: timedelta,
    min_count: int,
    max_candidates: int,
    tz: ZoneInfo = UTC_ZONE,
) -> dict[str, Any]:
    """The cheap first look of a plan, one scan of ``[start, end)``: matching events per
    slot (with the distinct values of the distinct field, if any), and, per grouped
    field, the values that reach *min_count* over the whole range (``candidates<i>``): a
    group holding a value below it anywhere cannot reach the threshold in one window."""
    per_slot: dict[str, Any] = {
        "date_histogram": {"field": "@timestamp", "fixed_interval": _seconds(slot), "min_doc_count": 1}
    }
    distinct = detector.distinct_field()
    if distinct is not None:
        per_slot["aggs"] = {
            "distinct": {"cardinality": {"field": distinct, "precision_threshold": PRECISION_THRESHOLD}}
        }
    aggs: dict[str, Any] = {"slots": per_slot}
    for i, field in enumerate(detector.group_by):
        aggs[f"candidates{i}"] = {
            "terms": {
                "field": field,
                "min_doc_count": min_count,
                "size": max_candidates + 1,
                "shard_size": max_candidates + 1,
                # by count: every value at or above min_count is returned whenever fewer than
                # size reach it (a key order would keep the first keys only, and miss the rest)
                "order": {"_count": "desc"},
            }
        }
    return {"size": 0, "track_total_hits": True, "query": detector_query(detector, start, end, tz=tz), "aggs": aggs}


def slots_page(
    detector: ThresholdDetector | SegmentPolicyDetector,
    start: datetime,
    end: datetime,
    *,
    slot: timedelta,
    narrow: dict[str, list[Any]] | None = None,
    after: dict[str, Any] | None = None,
    page_size: int = SLOT_PAGE_SIZE,
    tz: ZoneInfo = UTC_ZONE,
) -> dict[str, Any]:
    """One page of the one-pass aggregation: per (group, time slot) of ``[start, end)``,
    the count, first and last event (and the distinct values); windows are summed from
    these slots client-side. *narrow* keeps only these values of grouped fields."""
    query = detector_query(detector, start, end, tz=tz)
    for field, values in sorted((narrow or {}).items()):
        query["bool"]["filter"].append({"terms": {field: values}})
    sub: dict[str, Any] = dict(_SEEN)
    distinct = detector.distinct_field()
    if distinct is not None:
        sub["distinct"] = {"cardinality": {"field": distinct, "precision_threshold": PRECISION_THRESHOLD}}
    composite = _composite(detector.group_by, after, page_size)
    composite["sources"].append(
        {SLOT_KEY: {"date_histogram": {"field": "@timestamp", "fixed_interval": _seconds(slot)}}}
    )
    return {
        "size": 0,
        "track_total_hits": False,
        "query": query,
        "aggs": {"groups": {"composite": composite, "aggs": sub}},
    }


def fetch_page(
    detector: ThresholdDetector | SegmentPolicyDetector,
    start: datetime,
    end: datetime,
    *,
    narrow: dict[str, list[Any]] | None = None,
    pit: str | None = None,
    after: list[Any] | None = None,
    page_size: int = FETCH_PAGE_SIZE,
    tz: ZoneInfo = UTC_ZONE,
) -> dict[str, Any]:
    """One page of the matching events of ``[start, end)`` themselves, oldest first: no
    ``_source``, only the doc values a plan sums (time, grouped fields, distinct field).
    With *pit* (a point in time, opened over the detector's indices) the pages are one
    consistent view, ``_shard_doc`` the tiebreaker; *after* is the last hit's ``sort``."""
    query = detector_query(detector, start, end, tz=tz)
    for field, values in sorted((narrow or {}).items()):
        query["bool"]["filter"].append({"terms": {field: values}})
    fields: list[Any] = [{"field": "@timestamp", "format": "epoch_millis"}, *detector.group_by]
    distinct = detector.distinct_field()
    if distinct is not None and distinct not in detector.group_by:
        fields.append(distinct)
    body: dict[str, Any] = {
        "size": page_size,
        "track_total_hits": False,
        "_source": False,
        "docvalue_fields": fields,
        "query": query,
        "sort": [{"@timestamp": "asc"}, *([{"_shard_doc": "asc"}] if pit else [])],
    }
    if pit is not None:
        body["pit"] = {"id": pit, "keep_alive": "1m"}
    if after is not None:
        body["search_after"] = after
    return body


def _seconds(span: timedelta) -> str:
    return f"{int(span.total_seconds())}s"


def episode_runs_query(
    detector: Detector,
    entity: dict[str, str],
    start: datetime,
    end: datetime,
    bucket: timedelta,
    *,
    tz: ZoneInfo = UTC_ZONE,
) -> dict[str, Any]:
    """First and last matching event of one entity per *bucket* over ``[start, end]``:
    the runs ``soc.alerts.episodes.run_start`` walks back over for the canonical start."""
    return {
        "size": 0,
        "track_total_hits": False,
        "query": detector_query(detector, start, end, entity=entity, include_end=True, tz=tz),
        "aggs": {
            "runs": {
                "date_histogram": {
                    "field": "@timestamp",
                    "fixed_interval": f"{max(int(bucket.total_seconds()), 1)}s",
                    "min_doc_count": 1,
                },
                "aggs": _SEEN,
            }
        },
    }
