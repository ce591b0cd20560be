"""What the console reads that the CLI does not: the events behind an alert, related
alerts, decisions awaiting the CISO (the alert queue is ``soc.alerts.queue``, shared with
``soc alerts list``). Read-only; every change goes through the services in
``soc.web.actions``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from soc.alerts.models import Alert
from soc.alerts.queue import events_behind as _events_behind
from soc.alerts.queue import flat_fields
from soc.context import AppContext
from soc.detection.health import HEALTH_ORDER, health
from soc.detection.models import Detector
from soc.detection.state import RunState, RunStateStore
from soc.es.indices import alerts_index
from soc.incidents.models import Incident, StepStatus
from soc.playbooks.models import ApprovalStep, Playbook

__all__ = [
    "EVENT_COLUMNS",
    "Decision",
    "DetectorLag",
    "alerts_by_segment",
    "awaiting_decisions",
    "detector_lags",
    "events_behind",
    "flat_fields",
    "related_alerts",
]

# the fields an event row shows at a glance (the rest are one click away)
EVENT_COLUMNS = ("event.action", "event.outcome", "source.ip", "user.name", "host.name", "destination.ip", "url.domain")


def events_behind(
    ctx: AppContext, alert: Alert, dataset: str, page: int = 1, size: int = 20
) -> tuple[list[dict[str, Any]], int]:
    """The stored events of the alert's entity over its span, oldest first, paged."""
    return _events_behind(ctx.es, ctx.settings.dataset_indices(dataset), alert, page, size)


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
            step = book.find_step(inst.step_id)
            if isinstance(step, ApprovalStep):
                out.append(Decision(incident=incident, step=step, due_at=inst.due_at))
    return sorted(out, key=lambda d: (d.due_at is None, d.due_at.timestamp() if d.due_at else 0.0, d.incident.id))


def alerts_by_segment(ctx: AppContext, start: datetime, end: datetime) -> list[tuple[str, int]]:
    """Alerts recorded in [start, end) per network segment, most first ("-": no segment).
    An alert touching two segments counts in both."""
    body: dict[str, Any] = {
        "size": 0,
        "query": {"range": {"soc.alert.created": {"gte": start.isoformat(), "lt": end.isoformat()}}},
        "aggs": {"by": {"terms": {"field": "soc.alert.segments", "size": 100, "missing": "-"}}},
    }
    res = ctx.es.search(alerts_index(ctx.es), body, action="alerts by segment")
    buckets = res.get("aggregations", {}).get("by", {}).get("buckets", [])
    return [(str(b["key"]), int(b["doc_count"])) for b in buckets]


@dataclass(frozen=True)
class DetectorLag:
    detector: Detector
    health: str  # see soc.detection.health.health
    last_run: datetime | None
    lag_s: float | None  # now minus the end of the last fully covered window
    failures: int
    error: str


def detector_lags(ctx: AppContext, detectors: list[Detector], now: datetime) -> list[DetectorLag]:
    """Each detector's health and lag from its run state, the worst first (then the most behind)."""
    states = {s.detector: s for s in RunStateStore(ctx.es).all()}
    rows = []
    for d in detectors:
        st = states.get(d.id) or RunState(detector=d.id)
        lag = (now - st.watermark).total_seconds() if st.watermark else None
        rows.append(DetectorLag(d, health(d, st, now), st.last_run, lag, st.consecutive_failures, st.last_error or ""))
    return sorted(rows, key=lambda r: (HEALTH_ORDER.index(r.health), -(r.lag_s or 0.0), r.detector.id))
