"""What the console reads that the CLI does not: the filtered, paged alert queue, the events
behind an alert, related alerts, decisions awaiting the CISO. Read-only; every change goes
through the services in ``soc.web.actions``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from soc.alerts.models import Alert
from soc.context import AppContext
from soc.errors import SocError
from soc.es.indices import alerts_index
from soc.incidents.models import Incident, StepStatus
from soc.playbooks.models import ApprovalStep, Playbook

__all__ = [
    "PAGE_SIZE",
    "Decision",
    "QueueFilter",
    "QueuePage",
    "awaiting_decisions",
    "events_behind",
    "queue_page",
    "queue_query",
    "related_alerts",
]

PAGE_SIZE = 50
_MAX_PAGE = 10_000 // PAGE_SIZE  # from+size stays within the index's result window


@dataclass(frozen=True)
class QueueFilter:
    status: str = ""
    severity: str = ""
    detector: str = ""
    segment: str = ""
    user: str = ""
    address: str = ""
    host: str = ""
    start: datetime | None = None
    end: datetime | None = None

    def params(self) -> dict[str, str]:
        """Query-string form (for paging links and the live count)."""
        out = {k: v for k, v in self.__dict__.items() if isinstance(v, str) and v}
        if self.start:
            out["from"] = self.start.isoformat()
        if self.end:
            out["to"] = self.end.isoformat()
        return out


@dataclass
class QueuePage:
    alerts: list[Alert]
    total: int
    page: int
    pages: int
    newest: datetime | None = None
    errors: list[str] = field(default_factory=list)


def queue_query(f: QueueFilter) -> dict[str, Any]:
    """The Elasticsearch query of the queue's filters (pure)."""
    filters: list[dict[str, Any]] = []
    for value, fld in (
        (f.status, "soc.alert.status"),
        (f.severity, "soc.alert.severity"),
        (f.detector, "soc.alert.detector"),
        (f.segment, "soc.alert.segments"),
        (f.user, "related.user"),
        (f.host, "related.hosts"),
    ):
        if value:
            filters.append({"term": {fld: value}})
    if f.address:
        try:
            net = ipaddress.ip_network(f.address, strict=False)
        except ValueError as exc:
            raise SocError(f"not an IP address or network: {f.address!r}", field="address") from exc
        filters.append({"term": {"related.ip": str(net) if net.num_addresses > 1 else str(net.network_address)}})
    if f.start or f.end:
        rng: dict[str, str] = {}
        if f.start:
            rng["gte"] = f.start.isoformat()
        if f.end:
            rng["lte"] = f.end.isoformat()
        filters.append({"range": {"soc.alert.end": rng}})
    return {"bool": {"filter": filters}}


def queue_page(ctx: AppContext, f: QueueFilter, page: int = 1) -> QueuePage:
    """One page of alerts, newest first."""
    page = min(max(page, 1), _MAX_PAGE)
    body = {
        "size": PAGE_SIZE,
        "from": (page - 1) * PAGE_SIZE,
        "track_total_hits": True,
        "query": queue_query(f),
        "sort": [{"soc.alert.created": "desc"}, {"soc.alert.id": "desc"}],
    }
    res = ctx.es.search(alerts_index(ctx.es), body, action="alert queue")
    total = int(res["hits"]["total"]["value"])
    alerts = [Alert.from_doc(h["_source"]) for h in res["hits"]["hits"]]
    pages = max(1, min(_MAX_PAGE, -(-total // PAGE_SIZE)))
    return QueuePage(alerts=alerts, total=total, page=page, pages=pages, newest=alerts[0].created if alerts else None)


def count_since(ctx: AppContext, f: QueueFilter, since: datetime) -> int:
    """Alerts matching *f* recorded after *since* (the live count of the queue)."""
    query = queue_query(f)
    query["bool"]["filter"].append({"range": {"soc.alert.created": {"gt": since.isoformat()}}})
    return ctx.es.count(alerts_index(ctx.es), query)


def events_behind(
    ctx: AppContext, alert: Alert, dataset: str, page: int = 1, size: int = 20
) -> tuple[list[dict[str, Any]], int]:
    """The stored events of the alert's entity over its span, oldest first, paged."""
    filters: list[dict[str, Any]] = [{"term": {k: v}} for k, v in sorted(alert.entity.items())]
    filters.append({"range": {"@timestamp": {"gte": alert.start.isoformat(), "lte": alert.end.isoformat()}}})
    body = {
        "size": size,
        "from": (max(page, 1) - 1) * size,
        "track_total_hits": True,
        "query": {"bool": {"filter": filters}},
        "sort": [{"@timestamp": "asc"}],
    }
    res = ctx.es.search(ctx.settings.dataset_indices(dataset), body, action="events behind an alert")
    return [dict(h["_source"]) for h in res["hits"]["hits"]], int(res["hits"]["total"]["value"])


def related_alerts(ctx: AppContext, alert: Alert, size: int = 20) -> list[Alert]:
    """Other alerts sharing a value of the entity (the same address, account or host)."""
    values = sorted(set(alert.entity.values()))
    if not values:
        return []
    body: dict[str, Any] = {
        "size": size,
        "query": {
            "bool": {
                "should": [
                    {"terms": {"related.user": values}},
                    {"terms": {"related.hosts": values}},
                    {"terms": {"soc.alert.entity_key": [alert.entity_key]}},
                ],
                "minimum_should_match": 1,
                "must_not": [{"ids": {"values": [alert.id]}}],
            }
        },
        "sort": [{"soc.alert.created": "desc"}],
    }
    ips = [v for v in values if _is_ip(v)]
    if ips:
        body["query"]["bool"]["should"].append({"terms": {"related.ip": ips}})
    res = ctx.es.search(alerts_index(ctx.es), body, action="related alerts")
    return [Alert.from_doc(h["_source"]) for h in res["hits"]["hits"]]


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Decision:
    incident: Incident
    step: ApprovalStep
    due_at: datetime | None


def awaiting_decisions(incidents: list[Incident], playbooks: list[Playbook]) -> list[Decision]:
    """Approval steps that are ready and not yet decided, soonest deadline first."""
    books = {p.id: p for p in playbooks}
    out: list[Decision] = []
    for incident in incidents:
        book = books.get(incident.playbook_id or "")
        if book is None:
            continue
        for inst in incident.steps:
            if inst.kind != "approval" or inst.choice is not None or inst.ready_at is None:
                continue
            if inst.status in (StepStatus.done, StepStatus.skipped):
                continue
            step = book.step(inst.step_id)
            if isinstance(step, ApprovalStep):
                out.append(Decision(incident=incident, step=step, due_at=inst.due_at))
    return sorted(out, key=lambda d: (d.due_at is None, d.due_at.timestamp() if d.due_at else 0.0, d.incident.id))
