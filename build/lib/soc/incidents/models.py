"""Incidents: alerts grouped by entity, with a playbook's steps to work through.

This is the thin version; the CSIRT workflow (transitions, audit trail, SLAs,
approvals, notifications) builds on these models without changing them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from soc.vocab import Bilingual, Severity

__all__ = ["OPEN_STATUSES", "Incident", "IncidentStatus", "StepInstance", "StepStatus"]


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


class StepStatus(StrEnum):
    pending = "pending"
    in_progress = "in-progress"
    done = "done"
    skipped = "skipped"


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
    notes: list[str] = Field(default_factory=list)


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

    @property
    def is_open(self) -> bool:
        return self.status.value in OPEN_STATUSES
