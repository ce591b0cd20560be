"""The typed contexts reports render from (no logic in templates): the CISO incident
report and the periodic SOC summary."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = [
    "BarChart",
    "BreachRow",
    "ChangeRow",
    "Chart",
    "ConclusionView",
    "CountRow",
    "DataHealthView",
    "DeadlineRow",
    "DecisionTakenRow",
    "DecisionView",
    "DefinitionChangeRow",
    "DetectorHealthView",
    "DetectorRow",
    "DetectorVolumeRow",
    "EditionView",
    "EntityCountRow",
    "EntityRow",
    "EvidenceRow",
    "FailingDetectorRow",
    "HealthRow",
    "HoldersView",
    "ImpactRow",
    "IncidentFlowView",
    "IncidentReport",
    "KpiRow",
    "KpiView",
    "LineChart",
    "NextStepRow",
    "ObligationRow",
    "OptionView",
    "PhaseRow",
    "SlaView",
    "StackedBarChart",
    "StepRow",
    "SummaryReport",
    "TechniqueRow",
    "TimelineRow",
    "TrendRow",
    "TriageView",
    "TruncationRow",
]


class _View(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OptionView(_View):
    label: str
    effect: str | None
    risk: str | None
    cost: str | None
    resident_impact: str | None
    recommended: bool
    chosen: bool


class DecisionView(_View):
    """A decision asked of a role (an approval step of the playbook)."""

    question: str
    options: list[OptionView]
    recommendation: str | None  # the recommended option's label
    decide_by: str
    sla: str  # on track / at risk / overdue, or "" when not yet ready
    ready: bool  # its predecessors are done: the question is open now
    if_no_decision: str
    owner: str
    already: list[str] = []  # what the record already says that bears on the question (declared, contained)


class ConclusionView(_View):
    """結論: the phase, what happened, what is known, not yet known, done and due."""

    phase: str
    phase_key: str  # detected / assessing / contained / recovered / closed
    lead: list[str]
    lead_text: str  # the lead as one paragraph (sentences joined as the language writes them)
    known: list[str]
    unknown: list[str]
    done: list[str]
    due: list[str]


class HoldersView(_View):
    """Who holds it: the assigned handler, the escalation tier reached, the decider."""

    handler: str
    tier: str
    decider: str


class DecisionTakenRow(_View):
    step: str
    option: str
    by: str
    at: str
    comment: str
    against_recommendation: bool


class EntityRow(_View):
    field: str
    values: list[str]


class ImpactRow(_View):
    label: str
    value: str
    basis: str  # confirmed / estimated, translated
    confirmed: bool


class TimelineRow(_View):
    time: str
    text: str


class PhaseRow(_View):
    phase: str
    state: str  # done / in progress / overdue / not started / no steps
    state_key: str
    done: int
    total: int
    detail: str


class KpiView(_View):
    label: str
    value: str


class ObligationRow(_View):
    label: str
    basis: str
    rule: str
    due: str
    status: str
    status_key: str  # pending / sent / not-required / overdue
    sent_at: str
    reference: str


class TechniqueRow(_View):
    technique: str
    name: str
    tactic: str
    alerts: int


class NextStepRow(_View):
    title: str
    phase: str
    owner: str
    due: str
    sla: str
    sla_key: str
    status: str


class ChangeRow(_View):
    text: str


class EditionView(_View):
    label: str  # 第2報 / Update 2 / 最終報
    number: int
    final: bool
    at: str
    previous_label: str | None
    previous_at: str | None
    changes_title: str
    changes: list[ChangeRow]
    recorded: bool  # False: built without the store (a preview)


class EvidenceRow(_View):
    alert_id: str
    detector: str
    entity: str
    count: int
    distinct: str
    first_seen: str
    last_seen: str
    mitre: str
    reason: str
    status: str
    figures: list[str]
    samples: list[str]


class DetectorRow(_View):
    """The essentials of a detector's query, for the appendix."""

    detector_id: str
    title: str
    kind: str
    dataset: str
    criteria: list[str]


class StepRow(_View):
    title: str
    phase: str
    owner: str
    due: str
    status: str
    sla: str
    done_at: str
    notes: list[str]
    evidence: list[str]


class DeadlineRow(_View):
    label: str
    due: str


class IncidentReport(_View):
    lang: str
    t: dict[str, str]  # the catalogue, for labels
    title: str
    subject: str  # 【P2・第1報】title
    incident_id: str
    edition: EditionView
    generated_at: str
    zone: str  # 日本時間 / Japan time, or the configured zone's name
    opened_at: str
    status: str
    status_key: str
    severity: str
    severity_key: str
    priority: str
    priority_reasons: list[str]
    risk_score: str
    conclusion: ConclusionView
    holders: HoldersView
    ask: str  # the decisions asked, in one sentence
    decisions: list[DecisionView]
    decisions_taken: list[DecisionTakenRow]
    segments: list[str]
    entities: list[EntityRow]
    impact: list[ImpactRow]
    personal_data_possible: bool
    deadlines: list[DeadlineRow]  # PPC deadlines when no obligation tracker row covers them
    phases: list[PhaseRow]
    kpis: list[KpiView]
    timeline: list[TimelineRow]
    obligations: list[ObligationRow]
    cause: list[str]
    techniques: list[TechniqueRow]
    next_steps: list[NextStepRow]
    needs: list[str]
    evidence: list[EvidenceRow]
    detectors: list[DetectorRow]
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
    head: str = ""  # the day as a column header: short (「11/23（月）」), so a week fits the page width
    counts: list[int]  # aligned with DataHealthView.datasets
    gaps: list[bool]


class DataHealthView(_View):
    datasets: list[str]
    by_dataset: bool  # a few days: one row per log source, one column per day
    rows: list[HealthRow]
    total: int
    gaps: list[str]  # "dataset: day", for days a dataset seen in the period was silent


class CountRow(_View):
    label: str
    count: int


class BreachRow(_View):
    """The escalations of one kind for one incident raised in the period: what was late and by how much."""

    incident_id: str
    incident: str  # its title
    kind: str
    what: str
    count: int  # escalations of this kind for this incident
    deadline: str  # the earliest
    late_by: str  # the worst  # deadline to done, or to the report time while outstanding
    outstanding: bool
    escalated_to: str
    raised_at: str


class SlaView(_View):
    total: int
    by_kind: list[CountRow]
    by_role: list[CountRow]  # the role each escalation went to
    breaches: list[BreachRow]  # the most pressing (outstanding first, then the latest)
    breaches_hidden: int  # rows left out of ``breaches``
    outstanding: int  # escalations whose late item is still not done
    outstanding_incidents: list[str]
    ack_on_time: int
    ack_basis: int  # incidents opened in the period whose acknowledgement is on time, late or overdue
    ack_share: str


class DefinitionChangeRow(_View):
    detector: str
    before: str
    after: str
    changed_at: str
    note: str


class FailingDetectorRow(_View):
    detector: str
    failures: int
    last_run: str
    error: str  # shortened to one line


class TruncationRow(_View):
    detector: str
    total: int
    last: int


class DetectorHealthView(_View):
    recorded: int  # run-state documents found
    changes: list[DefinitionChangeRow]
    never_run: list[str]
    failing: list[FailingDetectorRow]
    truncated: list[TruncationRow]


class TrendRow(_View):
    day: str
    alerts: int
    incidents: int


class SummaryReport(_View):
    lang: str
    t: dict[str, str]
    title: str
    zone: str
    narrative: list[str]  # what happened, then the trend against the previous period
    attention: list[str]  # what needs attention; empty: nothing
    trend_rows: list[TrendRow]
    trend_as_table: bool  # too few days for a line: a table instead
    volume_chart_shown: bool  # few detectors: the chart adds to the table; many: the table alone
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
    sla: SlaView
    detector_health: DetectorHealthView
    volume_chart: StackedBarChart
    trend_chart: LineChart
    entity_chart: BarChart
