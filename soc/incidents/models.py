"""Incidents: alerts grouped by entity, with a playbook's steps to work through.

The CSIRT workflow adds to the first version without changing its fields: priority,
an append-only audit trail, step instances with SLA state and approvals, escalations
(persisted, so each is raised once) and the reporting-obligations tracker.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from soc.vocab import Bilingual, Severity

__all__ = [
    "OPEN_STATUSES",
    "TIERS",
    "AuditEntry",
    "Choice",
    "EscalationEvent",
    "Evidence",
    "Incident",
    "IncidentStatus",
    "Kpis",
    "Note",
    "Obligation",
    "ObligationStatus",
    "Priority",
    "SlaState",
    "StepInstance",
    "StepStatus",
]


class IncidentStatus(StrEnum):
    new = "new"
    triage = "triage"
    declared = "declared"
    contained = "contained"
    eradicated = "eradicated"
    recovered = "recovered"
    post_incident = "post-incident"
    closed = "closed"
    false_positive = "false-positive"
    duplicate = "duplicate"


OPEN_STATUSES = [s.value for s in IncidentStatus if s not in {"closed", "false-positive", "duplicate"}]

# Escalation tiers, lowest first: SOC -> CSIRT handler -> CSIRT lead -> CISO -> mayor.
TIERS = ("soc-operator", "csirt-handler", "csirt-lead", "ciso", "mayor")


class Priority(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"

    @property
    def rank(self) -> int:
        """4 for P1 (most urgent) down to 1 for P4."""
        return 5 - int(self.value[1])


class StepStatus(StrEnum):
    pending = "pending"
    in_progress = "in-progress"
    done = "done"
    skipped = "skipped"


class SlaState(StrEnum):
    on_track = "on_track"
    at_risk = "at_risk"
    breached = "breached"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Note(_Record):
    text: str
    by: str = "unknown"
    at: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        return {"text": value} if isinstance(value, str) else value


class Evidence(_Record):
    uri: str
    description: str = ""
    by: str
    at: datetime


class Choice(_Record):
    """Who chose which option of a decision or approval, when and why."""

    option: str
    by: str
    at: datetime
    comment: str = ""
    recommended: str | None = None


class StepInstance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step_id: str
    kind: str
    phase: str | None
    owner: str | None
    title: Bilingual
    due_at: datetime | None
    status: StepStatus = StepStatus.pending
    done_at: datetime | None = None
    notes: list[Note] = Field(default_factory=list)
    # -- workflow (all optional: documents from the first version still load) --
    ready_at: datetime | None = None  # its predecessors are done: the clocks start
    ack_due_at: datetime | None = None
    escalate_at: datetime | None = None
    escalate_to: str | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    assignees: list[str] = Field(default_factory=list)
    sla: SlaState = SlaState.on_track
    breached_at: datetime | None = None
    choice: Choice | None = None
    skipped_by: str | None = None  # set when a person skipped it (the flow goes on); None: branch not taken
    evidence: list[Evidence] = Field(default_factory=list)
    evidence_required: list[Bilingual] = Field(default_factory=list)


class AuditEntry(_Record):
    """One change: who, when, what, why. The trail is append-only (checked on every save)."""

    seq: int
    at: datetime
    actor: str
    action: str
    detail: str = ""
    reason: str = ""


class ObligationStatus(StrEnum):
    pending = "pending"
    sent = "sent"
    not_required = "not-required"


class Obligation(_Record):
    kind: str  # soc.playbooks.models.ObligationKind
    label: Bilingual
    basis: str
    rule: Bilingual  # how the deadline is counted
    due_at: datetime | None = None  # None: no fixed deadline, or aware_at not set yet
    hard_due_at: datetime | None = None
    status: ObligationStatus = ObligationStatus.pending
    sent_at: datetime | None = None
    reference: str | None = None
    updated_by: str | None = None
    overdue_at: datetime | None = None  # when it was found overdue and escalated


class EscalationEvent(_Record):
    """What the notifier sends. ``id`` is deterministic: each is raised exactly once."""

    id: str
    incident_id: str
    kind: str  # incident-ack-overdue | step-ack-overdue | step-escalation | step-breached | obligation-overdue
    subject: str  # the step id, obligation kind or "incident"
    to_role: str
    from_role: str | None
    priority: Priority
    deadline: datetime
    at: datetime
    message: Bilingual


class Kpis(_Record):
    """Durations from detection (``detected_at``); None until the milestone is reached."""

    time_to_acknowledge: timedelta | None
    time_to_triage: timedelta | None
    time_to_contain: timedelta | None
    time_to_resolve: timedelta | None


class Incident(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    title: Bilingual
    status: IncidentStatus = IncidentStatus.new
    severity: Severity
    risk_score: float
    entities: dict[str, list[str]]  # ECS field -> values seen in its alerts
    entity_values: list[str]  # the values incidents are grouped by (actors, not targets)
    segments: list[str] = Field(default_factory=list)
    alert_ids: list[str]
    detectors: list[str]
    mitre: list[str] = Field(default_factory=list)
    detected_at: datetime  # when soc first raised an alert for it
    aware_at: datetime | None = None  # when a human confirmed it: starts the legal clocks
    first_activity: datetime
    last_activity: datetime
    opened_at: datetime
    updated_at: datetime
    playbook_id: str | None = None
    playbook_version: int | None = None
    steps: list[StepInstance] = Field(default_factory=list)
    personal_data_possible: bool = False
    source: str = "detection"  # or "manual"
    # -- workflow --------------------------------------------------------------
    priority: Priority = Priority.P4
    priority_reasons: list[str] = Field(default_factory=list)
    personal_data_confirmed: bool = False
    resident_service_outage: bool = False
    malicious_act: bool = False  # PPC final report: 60 days instead of 30
    tier: str = "soc-operator"  # who holds it now (TIERS)
    assignee: str | None = None
    ack_due_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    triaged_at: datetime | None = None
    declared_at: datetime | None = None
    contained_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    resolution: str | None = None
    duplicate_of: str | None = None
    obligations: list[Obligation] = Field(default_factory=list)
    escalations: list[EscalationEvent] = Field(default_factory=list)
    audit: list[AuditEntry] = Field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status.value in OPEN_STATUSES

    def step(self, step_id: str) -> StepInstance | None:
        return next((s for s in self.steps if s.step_id == step_id), None)
