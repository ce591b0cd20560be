"""The typed context a CISO incident report renders from (no logic in templates)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = [
    "DeadlineRow",
    "DecisionView",
    "EntityRow",
    "EvidenceRow",
    "IncidentReport",
    "OptionView",
    "StepRow",
    "TimelineRow",
]


class _View(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OptionView(_View):
    label: str
    effect: str | None
    risk: str | None
    recommended: bool


class DecisionView(_View):
    question: str
    options: list[OptionView]
    decide_by: str
    if_no_decision: str
    owner: str


class EntityRow(_View):
    field: str
    values: list[str]


class TimelineRow(_View):
    time: str
    text: str


class EvidenceRow(_View):
    alert_id: str
    detector: str
    entity: str
    count: int
    distinct: str
    first_seen: str
    last_seen: str
    mitre: str
    samples: list[str]


class StepRow(_View):
    title: str
    phase: str
    owner: str
    due: str
    status: str


class DeadlineRow(_View):
    label: str
    due: str


class IncidentReport(_View):
    lang: str
    t: dict[str, str]  # the catalogue, for labels
    title: str
    incident_id: str
    edition: str
    generated_at: str
    opened_at: str
    status: str
    severity: str
    severity_key: str
    risk_score: str
    bottom_line: str
    bottom_line_note: str
    decision: DecisionView | None
    segments: list[str]
    entities: list[EntityRow]
    personal_data_possible: bool
    deadlines: list[DeadlineRow]
    timeline: list[TimelineRow]
    evidence: list[EvidenceRow]
    attack: list[str]
    playbook_name: str | None
    steps: list[StepRow]
