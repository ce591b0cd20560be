"""The typed contexts reports render from (no logic in templates): the CISO incident
report and the periodic SOC summary."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = [
    "BarChart",
    "Chart",
    "DataHealthView",
    "DeadlineRow",
    "DecisionView",
    "DetectorVolumeRow",
    "EntityCountRow",
    "EntityRow",
    "EvidenceRow",
    "HealthRow",
    "IncidentFlowView",
    "IncidentReport",
    "KpiRow",
    "LineChart",
    "OptionView",
    "StackedBarChart",
    "StepRow",
    "SummaryReport",
    "TimelineRow",
    "TriageView",
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


# -- periodic SOC summary ------------------------------------------------------
class BarChart(_View):
    """Horizontal bars (rendered by ``charts.hbar_chart``)."""

    uid: str
    title: str
    bars: list[tuple[str, int]]


class StackedBarChart(_View):
    """Stacked horizontal bars (rendered by ``charts.stacked_bar_chart``)."""

    uid: str
    title: str
    series: list[str]
    rows: list[tuple[str, list[int]]]


class LineChart(_View):
    """Lines over days (rendered by ``charts.line_chart``)."""

    uid: str
    title: str
    x_labels: list[str]
    series: list[tuple[str, list[int]]]


Chart = BarChart | StackedBarChart | LineChart


class DetectorVolumeRow(_View):
    detector: str
    by_severity: list[int]  # aligned with SummaryReport.severity_labels
    alerts: int
    events: int


class TriageView(_View):
    alerts: int
    untriaged: int  # open, or no status at all
    acknowledged: int
    closed: int
    true_positive: int
    false_positive: int
    benign: int
    duplicate: int
    closed_without_reason: int
    tp_rate: str  # of closed alerts with a reason
    fp_rate: str


class IncidentFlowView(_View):
    opened: int
    closed: int
    open_at_end: int
    opened_by_severity: list[int]  # aligned with SummaryReport.severity_labels


class KpiRow(_View):
    label: str
    value: str
    basis: str
    definition: str


class EntityCountRow(_View):
    entity: str
    alerts: int
    events: int


class HealthRow(_View):
    day: str
    counts: list[int]  # aligned with DataHealthView.datasets
    gaps: list[bool]


class DataHealthView(_View):
    datasets: list[str]
    rows: list[HealthRow]
    total: int
    gaps: list[str]  # "dataset: day", for days a dataset seen in the period was silent


class SummaryReport(_View):
    lang: str
    t: dict[str, str]
    title: str
    period: str
    period_from: str
    period_to: str
    generated_at: str
    severity_labels: list[str]
    alerts_total: int
    events_total: int
    detectors: list[DetectorVolumeRow]
    severity_totals: list[int]
    triage: TriageView
    incidents: IncidentFlowView
    kpis: list[KpiRow]
    top_entities: list[EntityCountRow]
    health: DataHealthView
    volume_chart: StackedBarChart
    trend_chart: LineChart
    entity_chart: BarChart
