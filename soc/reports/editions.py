"""Numbered editions of an incident report (第1報, 第2報, ... 最終報).

Each render of ``soc report incident`` records the key facts of the incident as an
edition in ``{prefix}-reports``. The id is deterministic (``<incident id>-e<number>``)
and written with ``op_type=create``, so two renders can never take the same number.
A render whose facts have the same hash as the latest edition is that edition again;
``force`` records a new one anyway. Every language and format of one render share the
edition: one edition per (incident, facts), never per file.

An edition is stored with its renderings as issued (HTML and Markdown in every
language, ``renderings["ja.html"]``): a past edition reads as it was sent, never as a
re-render of today's record; its PDF is printed again from the stored HTML. This module is
pure (models and comparisons); ``soc.reports.store`` reads and writes editions.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from soc.alerts.models import Alert
from soc.incidents.models import Incident, IncidentStatus, ObligationStatus, SlaState, StepInstance, StepStatus
from soc.incidents.steps import sla_state

__all__ = ["Change", "Edition", "EditionFacts", "changes", "edition_id", "facts_of", "is_final", "overdue_at"]

_FINAL = {IncidentStatus.post_incident, IncidentStatus.closed, IncidentStatus.false_positive, IncidentStatus.duplicate}


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObligationFact(_Frozen):
    status: str
    sent_at: datetime | None = None
    reference: str | None = None


class EditionFacts(_Frozen):
    """What an edition reports: comparing two of them gives the changes."""

    status: str
    priority: str
    alert_ids: list[str]
    alert_count: int
    entities: list[str]
    segments: list[str]
    steps: dict[str, str]  # step id -> status
    decisions: dict[str, str]  # step id -> option chosen
    obligations: dict[str, ObligationFact]  # kind -> status
    personal_data_confirmed: bool = False
    resident_service_outage: bool = False
    malicious_act: bool = False
    evidence: int = 0  # pieces of evidence recorded on the steps
    assignee: str | None = None
    tier: str = ""
    aware_at: datetime | None = None
    # what was overdue when issued ("step:<id>", "obligation:<kind>", "acknowledgement"): a deadline
    # passing is news, so it makes a new edition rather than leaving the last one's "on time" standing
    overdue: list[str] = Field(default_factory=list)

    def digest(self) -> str:
        raw = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(raw.encode()).hexdigest()


class Edition(_Frozen):
    incident_id: str
    number: int = Field(ge=1)
    at: datetime
    final: bool
    hash: str
    facts: EditionFacts
    previous: EditionFacts | None = None  # the facts of edition number - 1
    previous_at: datetime | None = None
    renderings: dict[str, str] = Field(default_factory=dict)  # "<lang>.<html|md>" -> the text as issued

    def rendering(self, lang: str, fmt: str) -> str | None:
        """The text of this edition in *lang* and *fmt* as it was issued; None if not stored."""
        return self.renderings.get(f"{lang}.{fmt}")

    @property
    def doc_id(self) -> str:
        return edition_id(self.incident_id, self.number)

    def to_doc(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"previous", "previous_at"})


class Change(_Frozen):
    """One difference between two editions; ``kind`` picks the catalogue text."""

    kind: str  # alerts | status | priority | step | decision | obligation | entities | segments | impact | overdue
    subject: str = ""
    before: str = ""
    after: str = ""


def edition_id(incident_id: str, number: int) -> str:
    return f"{incident_id}-e{number:04d}"


def is_final(incident: Incident) -> bool:
    return incident.status in _FINAL


def overdue_at(incident: Incident, now: datetime) -> list[str]:
    """What is past its deadline at *now*: steps, reports (obligations) and the acknowledgement."""
    out = [
        f"step:{s.step_id}"
        for s in incident.steps
        if s.status not in (StepStatus.done, StepStatus.skipped)
        and s.ready_at is not None
        and sla_state(s, now) is SlaState.breached
    ]
    out += [
        f"obligation:{o.kind}"
        for o in incident.obligations
        if o.status is ObligationStatus.pending and o.due_at is not None and o.due_at < now
    ]
    if incident.is_open and incident.acknowledged_at is None and incident.ack_due_at and incident.ack_due_at < now:
        out.append("acknowledgement")
    return out


def facts_of(incident: Incident, alerts: list[Alert], now: datetime | None = None) -> EditionFacts:
    """The key facts of an incident as the report shows them at *now* (pure; without *now*,
    nothing is counted overdue)."""
    alert_ids = sorted({a.id for a in alerts} | set(incident.alert_ids))
    return EditionFacts(
        status=incident.status.value,
        priority=incident.priority.value,
        alert_ids=alert_ids,
        alert_count=len(alert_ids),
        entities=sorted(incident.entity_values),
        segments=sorted(incident.segments),
        steps={s.step_id: _step_fact(s) for s in incident.steps if s.kind != "end"},
        decisions={s.step_id: s.choice.option for s in incident.steps if s.choice is not None},
        obligations={
            o.kind: ObligationFact(status=o.status.value, sent_at=o.sent_at, reference=o.reference)
            for o in incident.obligations
        },
        personal_data_confirmed=incident.personal_data_confirmed,
        resident_service_outage=incident.resident_service_outage,
        malicious_act=incident.malicious_act,
        evidence=sum(len(s.evidence) for s in incident.steps),
        assignee=incident.assignee,
        tier=incident.tier,
        aware_at=incident.aware_at,
        overdue=overdue_at(incident, now) if now is not None and incident.is_open else [],
    )


def _step_fact(step: StepInstance) -> str:
    """A branch the flow did not take is "not-taken", not a step somebody skipped."""
    if step.status is StepStatus.skipped and step.skipped_by is None:
        return "not-taken"
    return step.status.value


def changes(before: EditionFacts, after: EditionFacts) -> list[Change]:
    """What changed from one edition to the next, in report order (pure)."""
    out: list[Change] = []
    new_alerts = [a for a in after.alert_ids if a not in set(before.alert_ids)]
    if new_alerts:
        out.append(Change(kind="alerts", subject=", ".join(new_alerts), after=str(len(new_alerts))))
    if before.status != after.status:
        out.append(Change(kind="status", before=before.status, after=after.status))
    if before.priority != after.priority:
        out.append(Change(kind="priority", before=before.priority, after=after.priority))
    for name in ("entities", "segments"):
        added = [v for v in getattr(after, name) if v not in set(getattr(before, name))]
        if added:
            out.append(Change(kind=name, after=", ".join(added)))
    for flag in ("personal_data_confirmed", "resident_service_outage", "malicious_act"):
        if getattr(after, flag) and not getattr(before, flag):
            out.append(Change(kind="impact", subject=flag))
    for step_id, status in after.steps.items():
        was = before.steps.get(step_id)
        finished = status in (StepStatus.done.value, StepStatus.skipped.value)
        if status != was and finished and step_id not in after.decisions:
            out.append(Change(kind="step", subject=step_id, before=was or "", after=status))
    for step_id, option in after.decisions.items():
        if before.decisions.get(step_id) != option:
            out.append(Change(kind="decision", subject=step_id, after=option))
    for kind, fact in after.obligations.items():
        was_fact = before.obligations.get(kind)
        if was_fact is None or was_fact.status != fact.status:
            out.append(
                Change(kind="obligation", subject=kind, before=was_fact.status if was_fact else "", after=fact.status)
            )
    out += [Change(kind="overdue", subject=item) for item in after.overdue if item not in set(before.overdue)]
    if after.evidence > before.evidence:
        out.append(Change(kind="evidence", after=str(after.evidence - before.evidence)))
    if after.assignee != before.assignee and after.assignee:
        out.append(Change(kind="assignee", before=before.assignee or "", after=after.assignee))
    if after.tier != before.tier and after.tier:
        out.append(Change(kind="tier", before=before.tier, after=after.tier))
    return out
