"""Escalation: alerts at or above the configured severity open or join incidents.

Grouping: an alert joins the open incident that shares one of its *actor* values
(every entity field except ``destination.*``: the source address, the account, the
host), else it opens a new incident with the playbook routed to its detector.

Concurrency: placement is serialised per correlation key — each actor value of the alert
is a lock held in Elasticsearch (``soc.es.locks``: create-if-absent with an expiry, taken
in sorted order) — so N threads or processes escalating one actor at once open exactly
one incident; the others find it and join. The incident id is derived from the key (the
alert's sorted actor values) and the JST day it is opened, never from which alert won:
``INC-<day>-<8 hex of the key>``, then ``-2``, ``-3`` when the same actor gets another
incident that day after the first was closed. Creation uses ``op_type=create``, updates
are conditional on the version read (a conflict re-reads and re-applies).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from soc.alerts.models import Alert, AlertStatus, CloseReason
from soc.alerts.store import AlertStore
from soc.context import AppContext
from soc.detection.loader import load_detectors
from soc.errors import DefinitionErrors, SocError
from soc.es.locks import hold
from soc.es.versioned import retry_conflicts
from soc.incidents import naming
from soc.incidents.lifecycle import ACK_LIMITS, priority_for, tier_for, with_audit
from soc.incidents.models import Incident, IncidentStatus
from soc.incidents.obligations import with_obligations
from soc.incidents.steps import instantiate
from soc.incidents.store import IncidentStore
from soc.playbooks.loader import route
from soc.playbooks.models import Playbook
from soc.vocab import Bilingual, Segment, Severity

if TYPE_CHECKING:
    from soc.incidents.workflow import Workflow

__all__ = [
    "SYSTEM_ACTOR",
    "ClosedIncident",
    "EscalationResult",
    "close_incident",
    "correlation_key",
    "escalate",
    "grouping_values",
    "incident_id_for",
    "rescore",
    "start_workflow",
]

SYSTEM_ACTOR = "soc"

# Incident ids carry the JST calendar day whatever the display timezone is, so the
# same first alert gives the same id on every installation.
_ID_ZONE = ZoneInfo("Asia/Tokyo")
_MAX_ATTEMPTS = 5


@dataclass
class EscalationResult:
    assignments: dict[str, str] = field(default_factory=dict)  # alert id -> incident id
    opened: list[str] = field(default_factory=list)
    joined: list[str] = field(default_factory=list)
    below_threshold: int = 0
    already_assigned: int = 0  # alerts that carried an incident_id: left alone


def grouping_values(alert: Alert) -> list[str]:
    return sorted({v for k, v in alert.entity.items() if not k.startswith("destination.")})


def correlation_key(alert: Alert) -> str:
    """The alert's actor values, sorted: what incident placement is serialised on (an alert
    naming no actor, only destinations, is a key of its own: its id)."""
    return "|".join(grouping_values(alert)) or alert.id


def incident_id_for(key: str, opened_at: datetime, n: int = 1) -> str:
    """``INC-<JST day opened>-<8 hex of the correlation key>`` (``-<n>`` from the second
    incident of one key on one day): the same key on the same day gives the same id,
    whichever alert opened it."""
    day = opened_at.astimezone(_ID_ZONE).strftime("%Y%m%d")
    base = f"INC-{day}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
    return base if n == 1 else f"{base}-{n}"


def _title(ctx: AppContext, alert: Alert, playbook: Playbook | None) -> Bilingual:
    """What happened and to whom, in words (``soc.incidents.naming.incident_title``): the
    playbook's name, else the detector's own title in each language (never the alert's
    English title stored as the Japanese one)."""
    what = playbook.name if playbook is not None else _detector_title(ctx, alert)
    return naming.incident_title(what, {k: [v] for k, v in alert.entity.items() if not k.startswith("destination.")})


def _detector_title(ctx: AppContext, alert: Alert) -> Bilingual:
    """The alert's detector title in ja and en, read from the detector definitions; a
    generic Japanese phrase when the detector is gone or its file does not load."""
    try:
        found = next((d.title for d in load_detectors(ctx.settings.detectors_dir, include_disabled=True)
                      if d.id == alert.detector), None)  # fmt: skip
    except (DefinitionErrors, OSError) as exc:
        ctx.log.warning("incident title without the detector's Japanese title: %s", exc)
        found = None
    return found if found is not None else Bilingual(en=alert.title, ja=naming.UNKNOWN_DETECTION_JA)


def _open(ctx: AppContext, alert: Alert, playbook: Playbook | None, *, n: int = 1) -> Incident:
    now = ctx.clock.now()
    entities = {k: [v] for k, v in sorted(alert.entity.items())}
    incident = Incident(
        id=incident_id_for(correlation_key(alert), now, n),
        title=_title(ctx, alert, playbook),
        severity=alert.severity,
        risk_score=alert.risk_score,
        entities=entities,
        entity_values=grouping_values(alert),
        segments=sorted(alert.segments),
        alert_ids=[alert.id],
        detectors=[alert.detector],
        mitre=list(alert.mitre),
        detected_at=alert.created,
        first_activity=alert.start,
        last_activity=alert.end,
        opened_at=now,
        updated_at=now,
        playbook_id=playbook.id if playbook else None,
        playbook_version=playbook.version if playbook else None,
        steps=instantiate(playbook, now) if playbook else [],
        personal_data_possible=Segment.mynumber.value in alert.segments,
    )
    opened = start_workflow(incident, playbook, now)
    return with_audit(
        opened, at=now, actor=SYSTEM_ACTOR, action="open",
        detail=f"alert {alert.id} ({alert.detector}); playbook {playbook.id if playbook else '-'}",
        reason=f"severity {alert.severity.value} at or above the escalation floor",
    )  # fmt: skip


def start_workflow(incident: Incident, playbook: Playbook | None, now: datetime) -> Incident:
    """Priority, tier, acknowledgement deadline and reporting track of a new incident."""
    rescored = rescore(incident, playbook)
    return rescored.model_copy(
        update={
            "tier": tier_for(rescored.priority, resident_service_outage=rescored.resident_service_outage),
            "ack_due_at": now + ACK_LIMITS[rescored.priority],
        }
    )


def rescore(incident: Incident, playbook: Playbook | None) -> Incident:
    """Priority (never lowered automatically) and obligations after the facts changed."""
    priority, reasons = priority_for(
        incident.risk_score,
        segments=incident.segments,
        personal_data_possible=incident.personal_data_possible,
        personal_data_confirmed=incident.personal_data_confirmed,
        resident_service_outage=incident.resident_service_outage,
        floor=playbook.priority_floor if playbook else None,
    )
    if incident.audit and incident.priority.rank > priority.rank:
        priority, reasons = incident.priority, incident.priority_reasons
    updated = incident.model_copy(update={"priority": priority, "priority_reasons": reasons})
    declared = [k.value for k in playbook.obligations] if playbook else []
    return updated.model_copy(update={"obligations": with_obligations(updated, declared)})


def _join(incident: Incident, alert: Alert, ctx: AppContext, playbooks: Sequence[Playbook] = ()) -> Incident:
    entities = {k: list(v) for k, v in incident.entities.items()}
    for k, v in alert.entity.items():
        if v not in entities.setdefault(k, []):
            entities[k].append(v)
    segments = sorted(set(incident.segments) | set(alert.segments))
    joined = incident.model_copy(
        update={
            "entities": entities,
            "entity_values": sorted(set(incident.entity_values) | set(grouping_values(alert))),
            "segments": segments,
            "alert_ids": [*incident.alert_ids, alert.id],
            "detectors": sorted(set(incident.detectors) | {alert.detector}),
            "mitre": sorted(set(incident.mitre) | set(alert.mitre)),
            "severity": max(incident.severity, alert.severity, key=lambda s: s.rank),
            "risk_score": max(incident.risk_score, alert.risk_score),
            "detected_at": min(incident.detected_at, alert.created),
            "first_activity": min(incident.first_activity, alert.start),
            "last_activity": max(incident.last_activity, alert.end),
            "updated_at": ctx.clock.now(),
            "personal_data_possible": incident.personal_data_possible or Segment.mynumber.value in segments,
        }
    )
    playbook = next((p for p in playbooks if p.id == incident.playbook_id), None)
    joined = rescore(joined, playbook)
    return with_audit(
        joined, at=ctx.clock.now(), actor=SYSTEM_ACTOR, action="join", detail=f"alert {alert.id} ({alert.detector})"
    )


def escalate(ctx: AppContext, alerts: Sequence[Alert], *, playbooks: Sequence[Playbook]) -> EscalationResult:
    """Open or join incidents for every alert at or above the escalation severity that
    has no ``incident_id`` yet. The caller persists ``incident_id`` on the alerts from
    ``result.assignments``; this function never writes alert documents."""
    store = IncidentStore(ctx.es)
    floor: Severity = ctx.settings.escalation_min_severity
    result = EscalationResult()
    for alert in sorted(alerts, key=lambda a: (a.start, a.id)):
        if alert.severity < floor:
            result.below_threshold += 1
            continue
        if alert.incident_id:
            result.already_assigned += 1
            continue
        result.assignments[alert.id] = _place(ctx, store, alert, playbooks, result)
    return result


def _place(
    ctx: AppContext, store: IncidentStore, alert: Alert, playbooks: Sequence[Playbook], result: EscalationResult
) -> str:
    """Join the open incident sharing an actor value, else open one; the incident id."""
    values = grouping_values(alert)
    with hold(ctx.es, [f"incident:{v}" for v in values]):
        found = store.find_open_by_values(values)
        if found is not None:
            return _join_found(ctx, store, found[0].id, alert, playbooks, result)
        playbook = route(playbooks, alert)
        for n in range(1, _MAX_ATTEMPTS * 20):
            new = _open(ctx, alert, playbook, n=n)
            if store.create(new):
                result.opened.append(new.id)
                return new.id
            # the id is taken: a re-run (the alert is in it), an incident of this key
            # opened without the lock (join it), or one closed earlier today (next n)
            existing = store.get(new.id)
            if alert.id in existing.alert_ids:
                return existing.id
            if existing.is_open and set(existing.entity_values) & set(values):
                return _join_found(ctx, store, existing.id, alert, playbooks, result)
    raise SocError(
        f"could not place alert {alert.id} in an incident",
        object_id=alert.id,
        hint="too many incidents of this actor today; close or merge some and re-run",
    )


def _join_found(
    ctx: AppContext,
    store: IncidentStore,
    incident_id: str,
    alert: Alert,
    playbooks: Sequence[Playbook],
    result: EscalationResult,
) -> str:
    """Add *alert* to the incident *incident_id* (versioned: a concurrent change re-reads)."""

    def attempt(_n: int) -> str:
        incident, seq_no, term = store.get_versioned(incident_id)
        if alert.id not in incident.alert_ids:
            store.save(_join(incident, alert, ctx, playbooks), seq_no=seq_no, primary_term=term)
            if incident.id not in result.joined and incident.id not in result.opened:
                result.joined.append(incident.id)
        return incident.id

    return retry_conflicts(attempt, what=f"join alert {alert.id} to {incident_id}")


# -- closing -------------------------------------------------------------------------


@dataclass
class ClosedIncident:
    incident: Incident
    verdict: CloseReason
    alerts_closed: list[str] = field(default_factory=list)  # alert ids this close gave the verdict


def close_incident(
    ctx: AppContext, wf: Workflow, incident_id: str, *, by: str, verdict: CloseReason | str, reason: str
) -> ClosedIncident:
    """Close the incident and give its still-open alerts the same verdict (the one way to
    close an incident: ``soc incidents close`` and the console both call this).

    A ``false_positive`` verdict moves the incident to ``false-positive``, any other to
    ``closed`` (refused, naming the allowed moves, where the lifecycle forbids it). Alerts
    closed before keep their own verdict; each alert closed here records *by* and a note
    naming the incident and the reason. Closing again is harmless and finishes the alerts
    of a close cut short (a crash between the incident's change and its alerts').
    """
    try:
        closing = CloseReason(verdict)
    except ValueError as exc:
        raise SocError(
            f"unknown verdict {verdict!r}",
            field="verdict",
            hint=f"one of {', '.join(r.value for r in CloseReason)}",
        ) from exc
    to = IncidentStatus.false_positive if closing is CloseReason.false_positive else IncidentStatus.closed
    incident = wf.store.get(incident_id)
    if incident.status is not to:  # already there: a close cut short before its alerts were done; finish them
        incident = wf.transition(incident_id, to, actor=by, reason=reason)
    store = AlertStore(ctx.es)
    done = ClosedIncident(incident=incident, verdict=closing)
    if not incident.alert_ids:
        return done
    for alert in store.search(ids=incident.alert_ids, size=len(incident.alert_ids)):
        if alert.status is not AlertStatus.closed:
            note = f"{incident.id}: {reason}"
            store.triage(alert.id, AlertStatus.closed, by=by, now=ctx.clock.now(), reason=closing, note=note)
            done.alerts_closed.append(alert.id)
    return done
