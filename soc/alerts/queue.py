"""The alert queue: which alerts an operator sees, newest first, filtered and paged.

One pure builder (``queue_body``) and the reads on top of it, shared by the console's queue
page and ``soc alerts list``::

    f = QueueFilter(status="open", user="alice", since=now - timedelta(hours=24))
    page = queue_page(gw, f)                 # the newest 50
    older = queue_page(gw, f, after=page.older)    # the next 50, same cost as the first
    back = queue_page(gw, f, before=older.newer)   # the page before again

* **Order**: newest recorded first — ``soc.alert.created`` descending, then the id
  (descending) so that two alerts recorded in the same millisecond keep one order.
* **Paging by cursor** (``search_after`` on that sort): a page deep in the queue costs what
  the first costs, with no ``from`` and no 10,000-hit window. A cursor is an opaque string
  (``<created ms>.<alert id>``); ``after`` gives the page older than it, ``before`` the page
  newer than it.
* **Counting**: ``total`` is exact up to ``count_limit`` (10,000 by default) and otherwise a
  lower bound with ``total_exact`` false: counting every hit of a broad filter is what made
  deep queue pages slow.
* **Time range**: ``since``/``until`` keep the alerts whose activity overlaps the range
  (last seen at or after ``since``, first seen at or before ``until``).
* **Ids**: ``resolve_alert_id`` turns a unique prefix (``A-3f2c`` or ``3f2c``) into the full
  id, or says which alerts it could be.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from soc.alerts.models import Alert, AlertStatus
from soc.errors import NotFound, SocError
from soc.es.client import EsGateway
from soc.es.indices import alerts_index
from soc.vocab import Severity

__all__ = [
    "PAGE_SIZE",
    "AmbiguousAlertId",
    "QueueFilter",
    "QueuePage",
    "arrived_since",
    "events_behind",
    "flat_fields",
    "queue_body",
    "queue_page",
    "queue_query",
    "resolve_alert_id",
]

PAGE_SIZE = 50
COUNT_LIMIT = 10_000
_SORT = ("soc.alert.created", "soc.alert.id")
_SOURCE = ["soc.alert"]  # the alert itself; the ECS copy of its fields is not read back
_LIST_HINT = "list alerts with 'soc alerts list'"


@dataclass(frozen=True)
class QueueFilter:
    """The queue's filters; an empty string or None means "any"."""

    status: str = ""
    severity: str = ""
    detector: str = ""
    segment: str = ""
    user: str = ""
    address: str = ""  # an address or a network in CIDR form
    host: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def params(self) -> dict[str, str]:
        """Query-string form (the console's paging links and live stream use it)."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                out[f.name] = value.isoformat()
            elif value:
                out[f.name] = str(value)
        return out


class AmbiguousAlertId(SocError):
    """An id prefix matches more than one alert."""

    def __init__(self, prefix: str, matches: list[str], total: int) -> None:
        shown = ", ".join(matches)
        more = f" and {total - len(matches)} more" if total > len(matches) else ""
        super().__init__(
            f"alert id prefix {prefix!r} matches {total} alerts: {shown}{more}",
            field="ALERT_ID",
            hint="type more characters of the id",
        )
        self.matches = matches
        self.total = total


@dataclass(frozen=True)
class QueuePage:
    alerts: list[Alert]
    total: int  # matching alerts: exact when total_exact, else at least this many
    total_exact: bool
    older: str | None = None  # cursor of the next (older) page, None on the last page
    newer: str | None = None  # cursor of the previous (newer) page, None on the first page


def queue_query(f: QueueFilter) -> dict[str, Any]:
    """The Elasticsearch query of the filters (pure). Raises SocError for an unknown status
    or severity and for a bad address."""
    for value, name, known in (
        (f.status, "status", [s.value for s in AlertStatus]),
        (f.severity, "severity", [s.value for s in Severity]),
    ):
        if value and value not in known:
            raise SocError(f"unknown {name} {value[:40]!r}", field=name, hint=f"one of {', '.join(known)}")
    filters: list[dict[str, Any]] = []
    for value, fld in (
        (f.status, "soc.alert.status"),
        (f.severity, "soc.alert.severity"),
        (f.detector, "soc.alert.detector"),
        (f.segment, "soc.alert.segments"),
    ):
        if value:
            filters.append({"term": {fld: value}})
    # account and host names are matched in any case: Windows says FS01, a person types fs01
    for value, fld in ((f.user, "related.user"), (f.host, "related.hosts")):
        if value:
            filters.append({"term": {fld: {"value": value, "case_insensitive": True}}})
    if f.address:
        try:
            net = ipaddress.ip_network(f.address.strip(), strict=False)
        except ValueError as exc:
            raise SocError(
                f"not an IP address or network: {f.address!r}", field="address", hint="e.g. 10.3.17.9 or 10.3.0.0/16"
            ) from exc
        value = str(net) if net.num_addresses > 1 else str(net.network_address)
        filters.append({"term": {"related.ip": value}})
    if f.since:
        filters.append({"range": {"soc.alert.end": {"gte": f.since.isoformat()}}})
    if f.until:
        filters.append({"range": {"soc.alert.start": {"lte": f.until.isoformat()}}})
    return {"bool": {"filter": filters}}


def _cursor(sort: list[Any]) -> str:
    return f"{int(sort[0])}.{sort[1]}"


def _decode(cursor: str, name: str) -> list[Any]:
    millis, sep, alert_id = cursor.partition(".")
    if not sep or not millis.isdigit() or not alert_id:
        raise SocError(f"not a queue cursor: {cursor[:80]!r}", field=name, hint="follow the queue's paging links")
    return [int(millis), alert_id]


def queue_body(
    f: QueueFilter,
    *,
    size: int = PAGE_SIZE,
    after: str | None = None,
    before: str | None = None,
    count_limit: int = COUNT_LIMIT,
) -> dict[str, Any]:
    """The search body of one page (pure): one more hit than *size* is asked for, to know
    whether a further page exists. With *before* the sort is reversed (read it backwards)."""
    if after and before:
        raise SocError("give a page cursor 'after' or 'before', not both", field="before")
    order = "asc" if before else "desc"
    body: dict[str, Any] = {
        "size": size + 1,
        "_source": _SOURCE,
        "track_total_hits": count_limit,
        "query": queue_query(f),
        "sort": [{fld: order} for fld in _SORT],
    }
    if after or before:
        body["search_after"] = _decode(after or before or "", "after" if after else "before")
    return body


def queue_page(
    gw: EsGateway,
    f: QueueFilter,
    *,
    size: int = PAGE_SIZE,
    after: str | None = None,
    before: str | None = None,
    count_limit: int = COUNT_LIMIT,
) -> QueuePage:
    """One page of the queue: the newest *size* alerts, or those just older than the
    cursor *after*, or just newer than the cursor *before*."""
    body = queue_body(f, size=size, after=after, before=before, count_limit=count_limit)
    res = gw.search(alerts_index(gw), body, action="alert queue")
    hits = res["hits"]
    rows = hits["hits"][:size]
    more = len(hits["hits"]) > size
    if before:
        rows.reverse()
    alerts = [Alert.from_doc(h["_source"]) for h in rows]
    total = hits.get("total", {"value": len(alerts), "relation": "eq"})
    # cursors are Elasticsearch's own sort values of the edge rows (exact milliseconds)
    first, last = (_cursor(rows[0]["sort"]), _cursor(rows[-1]["sort"])) if rows else (None, None)
    if before:
        older, newer = last, first if more else None
    else:
        older, newer = last if more else None, first if after else None
    return QueuePage(
        alerts=alerts, total=int(total["value"]), total_exact=total["relation"] == "eq", older=older, newer=newer
    )


def arrived_since(
    gw: EsGateway, f: QueueFilter, since: datetime, *, size: int = PAGE_SIZE, exclude: Sequence[str] = ()
) -> tuple[int, list[Alert]]:
    """Alerts matching *f* recorded after *since*, leaving out the ids in *exclude*: how
    many, and the newest *size* of them (newest first). The console's live queue polls this."""
    query = queue_query(f)
    query["bool"]["filter"].append({"range": {"soc.alert.created": {"gt": since.astimezone(UTC).isoformat()}}})
    if exclude:
        query["bool"]["must_not"] = [{"ids": {"values": list(exclude)}}]
    body = {
        "size": size,
        "_source": _SOURCE,
        "track_total_hits": True,
        "query": query,
        "sort": [{fld: "desc"} for fld in _SORT],
    }
    res = gw.search(alerts_index(gw), body, action="new alerts")
    hits = res["hits"]
    return int(hits["total"]["value"]), [Alert.from_doc(h["_source"]) for h in hits["hits"]]


def resolve_alert_id(gw: EsGateway, prefix: str) -> str:
    """The full id of the one alert whose id is or starts with *prefix* (``A-`` optional,
    any case). Raises NotFound when none matches, AmbiguousAlertId when several do."""
    given = prefix.strip()
    if not given:
        raise SocError("an alert id is required", field="ALERT_ID", hint=_LIST_HINT)
    if len(given) > 100:
        raise NotFound(f"no alert id starts with {given[:80]!r}...", hint=_LIST_HINT)
    if gw.get(alerts_index(gw), given) is not None:
        return given
    text = "A-" + (given[2:] if given[:2].upper() == "A-" else given).lower()
    body = {
        "size": 5,
        "_source": False,
        "track_total_hits": True,
        "query": {"prefix": {"soc.alert.id": text}},
        "sort": [{"soc.alert.id": "asc"}],
    }
    res = gw.search(alerts_index(gw), body, action="resolve alert id")
    ids = [str(h["_id"]) for h in res["hits"]["hits"]]
    total = int(res["hits"]["total"]["value"])
    if not ids:
        raise NotFound(f"no alert id starts with {given!r}", hint=_LIST_HINT)
    if total > 1:
        raise AmbiguousAlertId(given, ids, total)
    return ids[0]


def events_behind(
    gw: EsGateway, indices: list[str], alert: Alert, page: int = 1, size: int = 20
) -> tuple[list[dict[str, Any]], int]:
    """The stored events of the alert's entity over its span (in the detector's dataset
    *indices*), oldest first, a page of *size*; and how many there are. What the console's
    alert page and ``soc alerts show --events`` show."""
    filters: list[dict[str, Any]] = [{"term": {k: v}} for k, v in sorted(alert.entity.items())]
    filters.append({"range": {"@timestamp": {"gte": alert.start.isoformat(), "lte": alert.end.isoformat()}}})
    body = {
        "size": size,
        "from": (max(page, 1) - 1) * size,
        "track_total_hits": True,
        "query": {"bool": {"filter": filters}},
        "sort": [{"@timestamp": "asc"}],
    }
    res = gw.search(indices, body, action="events behind an alert")
    return [dict(h["_source"]) for h in res["hits"]["hits"]], int(res["hits"]["total"]["value"])


def flat_fields(doc: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """An event's fields as ``dotted.name -> text`` (lists joined with ", "), sorted by name:
    how the alert page shows a raw event, one field a line."""
    out: dict[str, str] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_fields(value, f"{name}."))
        elif isinstance(value, list):
            out[name] = ", ".join(
                json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else str(v) for v in value
            )
        else:
            out[name] = "" if value is None else str(value)
    return dict(sorted(out.items()))
