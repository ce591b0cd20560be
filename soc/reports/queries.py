"""The Elasticsearch searches of the SOC summary, as pure functions ``(period) -> body``
(run by ``soc.reports.gather``, unit-tested without a cluster); their answers are read by
``soc.reports.summary``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from soc.vocab import iso

__all__ = [
    "MISSING",
    "alert_summary_query",
    "days_between",
    "event_health_query",
    "previous_period_query",
    "total_hits",
]

MISSING = "__missing__"  # the bucket key of documents without the field
_TOP_ENTITIES = 10


def _day_histogram(field: str, start: datetime, end: datetime, tz: ZoneInfo) -> dict[str, Any]:
    days = days_between(start, end, tz)
    return {
        "date_histogram": {
            "field": field,
            "calendar_interval": "1d",
            "time_zone": tz.key,
            "format": "yyyy-MM-dd",
            "min_doc_count": 0,
            "extended_bounds": {"min": days[0], "max": days[-1]},  # in "format", local days
        }
    }


def _range(field: str, start: datetime, end: datetime) -> dict[str, Any]:
    return {"range": {field: {"gte": iso(start), "lt": iso(end)}}}


def alert_summary_query(start: datetime, end: datetime, tz: ZoneInfo) -> dict[str, Any]:
    """Every alert figure of the summary in one search over alerts created in [start, end)."""
    return {
        "size": 0,
        "track_total_hits": True,
        "query": {"bool": {"filter": [_range("@timestamp", start, end)]}},
        "aggs": {
            "events": {"sum": {"field": "soc.alert.count"}},
            "by_detector": {
                "terms": {"field": "soc.alert.detector", "size": 200, "order": [{"_count": "desc"}, {"_key": "asc"}]},
                "aggs": {
                    "severity": {"terms": {"field": "soc.alert.severity", "size": 10}},
                    "events": {"sum": {"field": "soc.alert.count"}},
                },
            },
            "severity": {"terms": {"field": "soc.alert.severity", "size": 10}},
            "status": {
                "terms": {"field": "soc.alert.status", "size": 20, "missing": MISSING},
                "aggs": {"reason": {"terms": {"field": "soc.alert.close_reason", "size": 20, "missing": MISSING}}},
            },
            # mean(created - first event) = mean(created) - mean(first event): no script needed
            "mttd": {
                "filter": {"bool": {"filter": [{"exists": {"field": "soc.alert.start"}}]}},
                "aggs": {"created": {"avg": {"field": "@timestamp"}}, "first": {"avg": {"field": "soc.alert.start"}}},
            },
            "entities": {
                "terms": {
                    "field": "soc.alert.entity_key",
                    "size": _TOP_ENTITIES,
                    "order": [{"_count": "desc"}, {"_key": "asc"}],
                },
                "aggs": {"events": {"sum": {"field": "soc.alert.count"}}},
            },
            "per_day": _day_histogram("@timestamp", start, end, tz),
        },
    }


def event_health_query(start: datetime, end: datetime, tz: ZoneInfo) -> dict[str, Any]:
    """Events per ``event.dataset`` per day in [start, end)."""
    return {
        "size": 0,
        "track_total_hits": True,
        "query": {"bool": {"filter": [_range("@timestamp", start, end)]}},
        "aggs": {
            "dataset": {
                "terms": {"field": "event.dataset", "size": 200, "missing": MISSING, "order": {"_key": "asc"}},
                "aggs": {"per_day": _day_histogram("@timestamp", start, end, tz)},
            }
        },
    }


def previous_period_query(start: datetime, end: datetime) -> dict[str, Any]:
    """How many alerts the period of the same length just before [start, end) had."""
    return {
        "size": 0,
        "track_total_hits": True,
        "query": {"bool": {"filter": [_range("@timestamp", start - (end - start), start)]}},
    }


def days_between(start: datetime, end: datetime, tz: ZoneInfo) -> list[str]:
    """Local calendar days touched by [start, end), as ``YYYY-MM-DD``."""
    day = start.astimezone(tz).date()
    last = (end - timedelta(microseconds=1)).astimezone(tz).date()
    out = []
    while day <= last:
        out.append(day.isoformat())
        day += timedelta(days=1)
    return out


def total_hits(answer: dict[str, Any]) -> int:
    """The hit count of a search answer (``track_total_hits``)."""
    total = (answer.get("hits") or {}).get("total") or 0
    return int(total["value"] if isinstance(total, dict) else total)
