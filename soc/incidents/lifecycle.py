"""Pure rules of an incident's life: states, priority, tiers and KPIs.

States::

    new -> triage -> declared -> contained -> eradicated -> recovered -> post-incident -> closed
    (new|triage) -> false-positive | duplicate        (false-positive|duplicate) -> triage (reopen)

A P1 may be declared straight from ``new``; an incident with nothing to eradicate
(e.g. a misdelivered letter) may go from ``contained`` to ``recovered``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from soc.errors import SocError
from soc.incidents.models import TIERS, AuditEntry, Incident, IncidentStatus, Kpis, Priority
from soc.vocab import Segment

__all__ = [
    "ACK_LIMITS",
    "TRANSITIONS",
    "IllegalTransition",
    "check_transition",
    "kpis",
    "priority_for",
    "tier_above",
    "tier_for",
    "with_audit",
]

S = IncidentStatus
TRANSITIONS: dict[IncidentStatus, tuple[IncidentStatus, ...]] = {
    S.new: (S.triage, S.declared, S.false_positive, S.duplicate),
    S.triage: (S.declared, S.false_positive, S.duplicate),
    S.declared: (S.contained,),
    S.contained: (S.eradicated, S.recovered),
    S.eradicated: (S.recovered,),
    S.recovered: (S.post_incident,),
    S.post_incident: (S.closed,),
    S.closed: (),
    S.false_positive: (S.triage,),
    S.duplicate: (S.triage,),
}

# How long an incident may wait for a human to acknowledge it, by priority.
ACK_LIMITS = {
    Priority.P1: timedelta(minutes=15),
    Priority.P2: timedelta(hours=1),
    Priority.P3: timedelta(hours=4),
    Priority.P4: timedelta(days=1),
}

# Who holds an incident when it opens: P1 goes to the CISO at once (first report within 1 h).
_TIER_BY_PRIORITY = {
    Priority.P1: "ciso",
    Priority.P2: "csirt-lead",
    Priority.P3: "csirt-handler",
    Priority.P4: "soc-operator",
}


class IllegalTransition(SocError):
    """A state change the incident life cycle does not allow."""


def check_transition(incident_id: str, current: IncidentStatus, wanted: IncidentStatus) -> None:
    allowed = TRANSITIONS[current]
    if wanted not in allowed:
        nexts = ", ".join(a.value for a in allowed) or "none (it is final)"
        raise IllegalTransition(
            f"cannot move {incident_id} from '{current.value}' to '{wanted.value}'; allowed from "
            f"'{current.value}': {nexts}",
            object_id=incident_id,
        )


def _band(risk: float) -> Priority:
    if risk >= 90:
        return Priority.P1
    if risk >= 70:
        return Priority.P2
    if risk >= 40:
        return Priority.P3
    return Priority.P4


def priority_for(
    risk_score: float,
    *,
    segments: Iterable[str] = (),
    personal_data_possible: bool = False,
    personal_data_confirmed: bool = False,
    resident_service_outage: bool = False,
    floor: str | None = None,
) -> tuple[Priority, list[str]]:
    """The priority from the risk score, raised by floors; with the reasons, in English."""
    priority = _band(risk_score)
    reasons = [f"risk score {risk_score:g} -> {priority.value}"]
    mynumber = Segment.mynumber.value in set(segments)

    def raise_to(p: Priority, why: str) -> None:
        nonlocal priority
        if p.rank > priority.rank:
            priority = p
            reasons.append(f"{why} -> at least {p.value}")

    if mynumber:
        raise_to(Priority.P2, "touches the My Number segment")
    if personal_data_possible:
        raise_to(Priority.P2, "personal data may be involved")
    if personal_data_confirmed:
        raise_to(Priority.P2, "personal data involved")
    if mynumber and personal_data_confirmed:
        raise_to(Priority.P1, "personal data in the My Number segment")
    if resident_service_outage:
        raise_to(Priority.P2, "a resident service is down")
        if mynumber or personal_data_confirmed:
            raise_to(Priority.P1, "a resident service is down and personal data is at stake")
    if floor is not None:
        raise_to(Priority(floor), "the playbook's priority floor")
    return priority, reasons


def tier_for(priority: Priority, *, resident_service_outage: bool = False) -> str:
    if priority is Priority.P1 and resident_service_outage:
        return "mayor"
    return _TIER_BY_PRIORITY[priority]


def tier_above(role: str | None) -> str:
    """The next role up the ladder; roles off the ladder escalate to the CSIRT lead."""
    if role not in TIERS:
        return "csirt-lead"
    return TIERS[min(TIERS.index(role) + 1, len(TIERS) - 1)]


def kpis(incident: Incident) -> Kpis:
    """Time to acknowledge, triage (verdict), contain and resolve, from detection."""
    start = incident.detected_at

    def since(t: object) -> timedelta | None:
        return t - start if t is not None else None  # type: ignore[operator]

    return Kpis(
        time_to_acknowledge=since(incident.acknowledged_at),
        time_to_triage=since(incident.triaged_at),
        time_to_contain=since(incident.contained_at),
        time_to_resolve=since(incident.resolved_at),
    )


def with_audit(
    incident: Incident, *, at: datetime, actor: str, action: str, detail: str = "", reason: str = ""
) -> Incident:
    """The incident with one more audit entry (and ``updated_at`` moved)."""
    entry = AuditEntry(seq=len(incident.audit) + 1, at=at, actor=actor, action=action, detail=detail, reason=reason)
    return incident.model_copy(update={"audit": [*incident.audit, entry], "updated_at": at})
