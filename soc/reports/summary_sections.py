"""Pure builders of two sections of the periodic SOC summary.

* **SLA breaches and escalations**, from ``Incident.escalations``: every escalation
  raised in the period (its ``at``), counted by kind and by the role it went to, with
  how late the late item was — from its deadline to when it was done (acknowledged,
  done, sent), or to the report time while it is still outstanding — and the share of
  incidents acknowledged within their deadline (``ack_due_at`` vs ``acknowledged_at``).
* **Detector changes and health**, from the run-state documents the scheduler writes
  (``soc.reports.inputs.DetectorRun``): definitions changed in the period, detectors never
  run, detectors failing, truncated results.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from soc.incidents.models import EscalationEvent, Incident, ObligationStatus, StepStatus
from soc.reports.i18n import Translator
from soc.reports.inputs import DetectorRun
from soc.reports.models import (
    BreachRow,
    CountRow,
    DefinitionChangeRow,
    DetectorHealthView,
    FailingDetectorRow,
    SlaView,
    TruncationRow,
)
from soc.reports.sections import fmt
from soc.reports.words import about, obligation_subject

__all__ = ["ERROR_CHARS", "ESCALATION_KINDS", "detector_health_view", "shorten", "sla_view"]

# the kinds soc.incidents.deadlines raises, in the order the report lists them
ESCALATION_KINDS = (
    "incident-ack-overdue",
    "step-ack-overdue",
    "step-escalation",
    "step-breached",
    "obligation-overdue",
)
BREACH_ROWS = 6  # rows of the escalation table; the rest is counted
ERROR_CHARS = 160  # a failing detector's last error is cut to this many characters


def _role(role_id: str, t: Translator) -> str:
    return t(f"role_{role_id}") if t.has(f"role_{role_id}") else role_id


def _kind(kind: str, t: Translator) -> str:
    key = "sla_kind_" + kind.replace("-", "_")
    return t(key) if t.has(key) else kind


def _what_and_done(event: EscalationEvent, incident: Incident, t: Translator) -> tuple[str, datetime | None, bool]:
    """What was late (in words), when it was done (None: not done) and whether it is still outstanding."""
    if event.kind == "incident-ack-overdue":
        done = incident.acknowledged_at
        return t("sla_what_incident_ack"), done, done is None and incident.is_open
    if event.kind == "obligation-overdue":
        ob = next((o for o in incident.obligations if o.kind == event.subject), None)
        if ob is None:
            return event.subject, None, False
        what = t(
            "sla_what_obligation", label=ob.label(t.lang), subject=obligation_subject(ob.kind, ob.label(t.lang), t)
        )
        return what, ob.sent_at, ob.status is ObligationStatus.pending
    step = incident.step(event.subject)
    title = step.title(t.lang) if step is not None else event.subject
    if step is None:
        return t("sla_what_step", step=title), None, False
    if event.kind == "step-ack-overdue":
        done = step.acknowledged_at
        return t("sla_what_step_ack", step=title), done, done is None and incident.is_open
    finished = step.status in (StepStatus.done, StepStatus.skipped)
    return t("sla_what_step", step=title), step.done_at, not finished and incident.is_open


def _closed_time(incident: Incident) -> datetime:
    return incident.closed_at or incident.updated_at


def sla_view(
    incidents: Sequence[Incident],
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    t: Translator,
    tz: ZoneInfo,
    title: Callable[[Incident], str],
) -> SlaView:
    """The escalations raised in [start, end) and the on-time acknowledgement share
    (*title*: an incident's title in the report's language)."""
    found = sorted(
        ((e, i) for i in incidents for e in i.escalations if start <= e.at < end),
        key=lambda pair: (pair[0].deadline, pair[0].incident_id, pair[0].kind, pair[0].subject),
    )
    # one row per incident and kind: how many, the earliest deadline, the worst lateness
    grouped: dict[tuple[str, str], list[tuple[EscalationEvent, Incident]]] = {}
    for event, incident in found:
        grouped.setdefault((incident.id, event.kind), []).append((event, incident))
    rows: list[tuple[bool, timedelta, BreachRow]] = []
    for (_, kind), pairs in grouped.items():
        incident = pairs[0][1]
        whats: list[str] = []
        worst = timedelta(0)
        outstanding = False
        for event, _inc in pairs:
            what, done, still = _what_and_done(event, incident, t)
            until = done or (now if still or incident.is_open else _closed_time(incident))
            worst = max(worst, until - event.deadline)
            outstanding = outstanding or still
            if what not in whats:
                whats.append(what)
        late = about(worst, t.lang)
        first, last = pairs[0][0], pairs[-1][0]
        rows.append(
            (
                outstanding,
                worst,
                BreachRow(
                    incident_id=incident.id,
                    incident=title(incident),
                    kind=_kind(kind, t),
                    what=t("list_sep").join(whats[:3]) + (t("and_more", n=len(whats) - 3) if len(whats) > 3 else ""),
                    count=len(pairs),
                    deadline=fmt(first.deadline, tz, t.lang),
                    late_by=t("sla_late_outstanding", late=late) if outstanding else late,
                    outstanding=outstanding,
                    escalated_to=_role(last.to_role, t),
                    raised_at=fmt(last.at, tz, t.lang),
                ),
            )
        )
    # the report lists the BREACH_ROWS most pressing (outstanding first, then the latest), in deadline order
    shown = {id(row) for _, _, row in sorted(rows, key=lambda r: (not r[0], -r[1]))[:BREACH_ROWS]}
    kinds = Counter(e.kind for e, _ in found)
    order = [k for k in ESCALATION_KINDS if kinds[k]] + sorted(k for k in kinds if k not in ESCALATION_KINDS)
    roles = Counter(e.to_role for e, _ in found)

    cutoff = min(end, now)
    on_time = late_acks = 0
    for i in incidents:
        escalated = any(e.kind == "incident-ack-overdue" for e in i.escalations)
        due_inside = i.ack_due_at is not None and start <= i.ack_due_at < end
        if i.ack_due_at is None or not (start <= i.opened_at < end or due_inside):
            continue
        if i.acknowledged_at is not None and i.acknowledged_at <= i.ack_due_at and not escalated:
            on_time += 1
        elif escalated or i.acknowledged_at is not None or i.ack_due_at < cutoff:
            late_acks += 1  # acknowledged late, escalated, or the deadline passed unacknowledged
    basis = on_time + late_acks
    share = f"{on_time / basis:.1%}" if basis else "—"
    return SlaView(
        total=len(found),
        by_kind=[CountRow(label=_kind(k, t), count=kinds[k]) for k in order],
        by_role=[CountRow(label=_role(r, t), count=n) for r, n in sorted(roles.items(), key=lambda x: (-x[1], x[0]))],
        breaches=[row for _, _, row in rows if id(row) in shown],
        breaches_hidden=len(rows) - len(shown),
        outstanding=sum(row.count for still, _, row in rows if still),
        outstanding_incidents=list(dict.fromkeys(row.incident_id for still, _, row in rows if still)),
        ack_on_time=on_time,
        ack_basis=basis,
        ack_share=t("sla_ack_share_value", on_time=on_time, n=basis, rate=share) if basis else t("no_data_short"),
    )


def shorten(text: str, limit: int = ERROR_CHARS) -> str:
    """One line, at most *limit* characters (an ellipsis marks the cut)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _error_text(error: str, t: Translator) -> str:
    """The last error, one line. Japanese: its kind in words (the message itself is English,
    kept in the English edition)."""
    if t.lang != "ja":
        return shorten(error)
    lower = error.lower()
    for needle, key in (("timeout", "det_error_timeout"), ("timed out", "det_error_timeout"),
                        ("connect", "det_error_connection"), ("unavailable", "det_error_connection"),
                        ("index_not_found", "det_error_index"), ("no such index", "det_error_index")):  # fmt: skip
        if needle in lower:
            return t(key)
    return t("det_error_other")


def detector_health_view(
    states: Sequence[DetectorRun],
    *,
    start: datetime,
    end: datetime,
    t: Translator,
    tz: ZoneInfo,
    title: Callable[[str], str],
    enabled: Sequence[str] | None = None,
    alerted: set[str] | frozenset[str] = frozenset(),
) -> DetectorHealthView:
    """Definitions changed in [start, end), detectors never run, failing, truncated.

    *enabled* are the ids of the enabled detector definitions: one with no run state at
    all has never run. Without it, only recorded states with no run are listed."""
    by_id = {s.detector: s for s in states}

    def version(v: int | None) -> str:
        return t("det_version", v=v) if v is not None else "—"

    changes = []
    for s in sorted(states, key=lambda s: (s.definition_changed_at or start, s.detector)):
        if s.definition_changed_at is None or not start <= s.definition_changed_at < end:
            continue
        if s.previous_version is None:
            note = t("det_first_recorded")
        elif s.previous_version == s.definition_version:
            note = t("det_same_version")
        else:
            note = ""
        changes.append(
            DefinitionChangeRow(
                detector=title(s.detector),
                before=version(s.previous_version),
                after=version(s.definition_version),
                changed_at=fmt(s.definition_changed_at, tz, t.lang),
                note=note,
            )
        )
    never = {s.detector for s in states if s.runs == 0 and s.last_run is None}
    never |= {d for d in enabled or () if d not in by_id}
    never -= set(alerted)  # a detector that raised an alert in the period has run
    failing = [
        FailingDetectorRow(
            detector=title(s.detector),
            failures=s.consecutive_failures,
            last_run=fmt(s.last_run, tz, t.lang),
            error=_error_text(s.last_error, t) if s.last_error else "—",
        )
        for s in sorted(states, key=lambda s: (-s.consecutive_failures, s.detector))
        if s.consecutive_failures > 0
    ]
    truncated = [
        TruncationRow(detector=title(s.detector), total=s.truncated_total, last=s.last_truncated)
        for s in sorted(states, key=lambda s: (-s.truncated_total, s.detector))
        if s.truncated_total > 0 or s.last_truncated > 0
    ]
    return DetectorHealthView(
        recorded=len(states),
        changes=changes,
        never_run=sorted(title(d) for d in never),
        failing=failing,
        truncated=truncated,
    )
