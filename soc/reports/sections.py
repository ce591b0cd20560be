"""Pure builders of the incident report's sections: impact, response status per phase,
timeline, obligations, ATT&CK, next steps, needs, changes since the previous edition
and the evidence appendix. Each returns view rows; an empty list means "no data",
which the templates say in words."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from soc.alerts.models import Alert
from soc.attack import technique_name, technique_tactic
from soc.incidents.lifecycle import kpis
from soc.incidents.models import Incident, Obligation, ObligationStatus, SlaState, StepInstance, StepStatus
from soc.incidents.obligations import basis_text
from soc.incidents.steps import sla_state
from soc.playbooks.models import Phase
from soc.reports.editions import Change
from soc.reports.i18n import Translator
from soc.reports.models import (
    ChangeRow,
    DetectorRow,
    EvidenceRow,
    ImpactRow,
    KpiView,
    NextStepRow,
    ObligationRow,
    PhaseRow,
    TechniqueRow,
    TimelineRow,
)
from soc.reports.words import about, entity_text, field_name, obligation_subject, until, value_text, when
from soc.vocab import format_duration

__all__ = [
    "alert_reason",
    "audit_text",
    "change_rows",
    "detector_rows",
    "duration_text",
    "escalation_text",
    "evidence_rows",
    "fmt",
    "impact_rows",
    "kpi_views",
    "next_step_rows",
    "obligation_rows",
    "phase_rows",
    "priority_reasons",
    "technique_rows",
    "timeline_rows",
]

_FINISHED = (StepStatus.done, StepStatus.skipped)


def fmt(t: datetime | None, tz: ZoneInfo, lang: str) -> str:
    """A time in the configured zone as people write it (see ``words.when``); a dash for none."""
    return when(t, tz, lang)


def duration_text(delta: timedelta | None, t: Translator) -> str:
    if delta is None:
        return "—"
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return t("duration_minutes", m=minutes)
    hours, m = divmod(minutes, 60)
    if hours < 48:
        return t("duration_hours", h=hours, m=m)
    days, h = divmod(hours, 24)
    return t("duration_days", d=days, h=h)


def _translated(t: Translator, key: str, fallback: str) -> str:
    return t(key) if t.has(key) else fallback


# -- priority -----------------------------------------------------------------------
_RISK_REASON = re.compile(r"^risk score (?P<score>[0-9.]+) -> (?P<p>P[1-4])$")
_FLOOR_REASON = re.compile(r"^(?P<why>.+) -> at least (?P<p>P[1-4])$")
_WHY_KEYS = {
    "touches the My Number segment": "why_mynumber",
    "personal data may be involved": "why_personal_possible",
    "personal data involved": "why_personal_confirmed",
    "personal data in the My Number segment": "why_personal_mynumber",
    "a resident service is down": "why_outage",
    "a resident service is down and personal data is at stake": "why_outage_personal",
    "the playbook's priority floor": "why_floor",
}


def priority_reasons(reasons: list[str], t: Translator) -> list[str]:
    """The reasons ``priority_for`` recorded (English), in the report's language."""
    out = []
    for reason in reasons:
        if m := _RISK_REASON.match(reason):
            out.append(t("why_risk", score=m["score"], priority=m["p"]))
        elif (m := _FLOOR_REASON.match(reason)) and m["why"] in _WHY_KEYS:
            out.append(t("why_floor_to", why=t(_WHY_KEYS[m["why"]]), priority=m["p"]))
        else:
            out.append(reason)
    return out


# -- impact ---------------------------------------------------------------------------
def impact_rows(
    incident: Incident, alerts: list[Alert], t: Translator, segment_name: Callable[[str], str]
) -> list[ImpactRow]:
    confirmed, estimated = t("basis_confirmed"), t("basis_estimated")
    sep = t("list_sep")
    rows = [
        ImpactRow(
            label=t("impact_segments"),
            value=sep.join(segment_name(s) for s in incident.segments) or t("segments_none"),
            basis=confirmed if incident.segments else estimated,
            confirmed=bool(incident.segments),
        )
    ]
    for field, key in (
        ("user.name", "impact_accounts"),
        ("host.name", "impact_hosts"),
        ("destination.ip", "impact_destinations"),
        ("source.ip", "impact_sources"),
        ("source.geo.country_iso_code", "impact_countries"),
    ):
        values = [value_text(field, v, t.lang) for v in incident.entities.get(field, [])]
        if values:
            rows.append(
                ImpactRow(
                    label=t(key),
                    value=t("n_items", n=len(values))
                    + t("colon")
                    + sep.join(values[:8])
                    + (" …" if len(values) > 8 else ""),
                    basis=confirmed,
                    confirmed=True,
                )
            )
    if incident.personal_data_confirmed:
        rows.append(
            ImpactRow(label=t("personal_data"), value=t("personal_data_confirmed"), basis=confirmed, confirmed=True)
        )
    elif incident.personal_data_possible:
        rows.append(
            ImpactRow(label=t("personal_data"), value=t("personal_data_possible"), basis=estimated, confirmed=False)
        )
    else:
        rows.append(
            ImpactRow(
                label=t("personal_data"), value=t("personal_data_not_indicated"), basis=estimated, confirmed=False
            )
        )
    rows.append(
        ImpactRow(
            label=t("impact_services"),
            value=t("service_outage") if incident.resident_service_outage else t("service_no_outage"),
            basis=confirmed if incident.resident_service_outage else estimated,
            confirmed=incident.resident_service_outage,
        )
    )
    return rows


# -- response status --------------------------------------------------------------------
def _overdue(s: StepInstance, now: datetime) -> bool:
    return s.status not in _FINISHED and sla_state(s, now) is SlaState.breached


def phase_rows(incident: Incident, now: datetime, t: Translator, tz: ZoneInfo) -> list[PhaseRow]:
    """One row per NIST phase that has steps: done / in progress / overdue / not started."""
    rows = []
    for phase in Phase:
        steps = [s for s in incident.steps if s.phase == phase.value and s.kind != "end"]
        if not steps:
            continue
        live = [s for s in steps if not (s.status is StepStatus.skipped and s.skipped_by is None)]
        done = [s for s in live if s.status in _FINISHED]
        if any(_overdue(s, now) for s in live):
            key = "overdue"
        elif live and len(done) == len(live):
            key = "done"
        elif any(s.ready_at is not None or s.status is StepStatus.in_progress for s in live if s not in done):
            key = "in-progress"
        else:
            key = "not-started"
        if key == "done":
            last = max(done, key=lambda s: s.done_at or now)
            at = fmt(last.done_at, tz, t.lang)
            if last.status is StepStatus.skipped:  # a step a person skipped is never shown as done
                why = last.notes[-1].text if last.notes else "—"
                detail = t("phase_detail_skipped", step=last.title(t.lang), at=at, by=last.skipped_by or "—", why=why)
            else:
                detail = t("phase_detail_done", step=last.title(t.lang), at=at)
        else:
            open_steps = [s for s in live if s not in done]
            first = min(open_steps, key=lambda s: s.due_at or datetime.max.replace(tzinfo=tz))
            detail = t("phase_detail_open", step=first.title(t.lang), due=fmt(first.due_at, tz, t.lang))
        skipped = sum(s.status is StepStatus.skipped for s in live)
        rows.append(
            PhaseRow(
                phase=t(f"phase_{phase.value}"),
                state=t(f"phase_state_{key}") + (t("phase_state_skipped", n=skipped) if skipped else ""),
                state_key=key,
                done=len(done),
                total=len(live),
                detail=detail,
            )
        )
    return rows


def kpi_views(incident: Incident, t: Translator) -> list[KpiView]:
    k = kpis(incident)
    return [
        KpiView(label=t("kpi_time_to_acknowledge"), value=about(k.time_to_acknowledge, t.lang)),
        KpiView(label=t("kpi_time_to_triage"), value=about(k.time_to_triage, t.lang)),
        KpiView(label=t("kpi_time_to_contain"), value=about(k.time_to_contain, t.lang)),
        KpiView(label=t("kpi_time_to_resolve"), value=about(k.time_to_resolve, t.lang)),
    ]


def next_step_rows(
    incident: Incident, now: datetime, t: Translator, tz: ZoneInfo, role: Callable[[str | None], str]
) -> list[NextStepRow]:
    """Open steps, ready ones first by due time."""
    open_steps = [s for s in incident.steps if s.kind != "end" and s.status not in _FINISHED]
    open_steps.sort(key=lambda s: (s.ready_at is None, s.due_at or datetime.max.replace(tzinfo=tz)))
    rows = []
    for s in open_steps[:8]:
        state = sla_state(s, now) if s.ready_at is not None else None
        owner = role(s.owner) + (t("lp") + t("list_sep").join(s.assignees) + t("rp") if s.assignees else "")
        rows.append(
            NextStepRow(
                title=s.title(t.lang),
                phase=t(f"phase_{s.phase}") if s.phase else t("phase_none"),
                owner=owner,
                due=fmt(s.due_at, tz, t.lang) if s.due_at else t("due_when_ready"),
                sla=t(f"sla_{state.value}") if state else t("sla_waiting"),
                sla_key=state.value if state else "waiting",
                status=t(f"step_{s.status.value}"),
            )
        )
    return rows


# -- timeline ------------------------------------------------------------------------
def timeline_rows(
    incident: Incident,
    alerts: list[Alert],
    t: Translator,
    tz: ZoneInfo,
    title_of: Callable[[str], str],
    role: Callable[[str | None], str],
    option_text: Callable[[str, str], str],
) -> list[TimelineRow]:
    rows: list[tuple[datetime, int, str]] = [(incident.first_activity, 0, t("timeline_first_activity"))]
    for a in alerts[:20]:
        entity = entity_text(a.entity, t.lang)
        rows.append((a.created, 1, t("timeline_alert", detector=title_of(a.detector), entity=entity, count=a.count)))
    if len(alerts) > 20:
        rows.append((alerts[-1].created, 1, t("timeline_more_alerts", n=len(alerts) - 20)))
    rows.append((incident.detected_at, 2, t("timeline_detected")))
    if incident.aware_at:
        rows.append((incident.aware_at, 3, t("timeline_aware")))
    steps = {s.step_id: s for s in incident.steps}
    for e in incident.audit:
        text = _audit_text(e.action, e.detail, e.reason, e.actor, t, steps, incident.obligations, option_text)
        if text:
            rows.append((e.at, 4, text))
    for esc in incident.escalations:
        rows.append((esc.at, 5, escalation_text(esc.kind, esc.subject, esc.to_role, incident, t, role)))
    rows.sort(key=lambda r: (r[0], r[1]))
    return [TimelineRow(time=fmt(when, tz, t.lang), text=text) for when, _, text in rows]


def escalation_text(
    kind: str, subject: str, to_role: str, incident: Incident, t: Translator, role: Callable[[str | None], str]
) -> str:
    """「CSIRT責任者へエスカレーション：インシデントの受付（期限内にインシデントの受付がなかった）」."""
    steps = {s.step_id: s for s in incident.steps}
    return t(
        "timeline_escalation",
        kind=_translated(t, f"escalation_{kind}", kind),
        role=role(to_role),
        subject=_subject(subject, t, steps, incident.obligations),
    )


def audit_text(
    action: str, detail: str, reason: str, actor: str, incident: Incident, t: Translator,
    option_text: Callable[[str, str], str],
) -> str | None:  # fmt: skip
    """One audit entry as the report's timeline writes it; None for entries the timeline
    leaves out (opening, joins, notes, assignments, escalations, tier changes)."""
    steps = {s.step_id: s for s in incident.steps}
    return _audit_text(action, detail, reason, actor, t, steps, incident.obligations, option_text)


def _audit_text(
    action: str,
    detail: str,
    reason: str,
    actor: str,
    t: Translator,
    steps: dict[str, StepInstance],
    obligations: list[Obligation],
    option_text: Callable[[str, str], str],
) -> str | None:
    reason = _translated(t, f"audit_reason_{reason}", reason) if reason else ""
    why = t("timeline_reason", reason=reason) if reason else ""

    def step_title(step_id: str) -> str:
        s = steps.get(step_id)
        return s.title(t.lang) if s else step_id

    if action == "transition" and " -> " in detail:
        before, after = detail.split(" -> ", 1)
        return (
            t(
                "timeline_transition",
                before=_translated(t, f"status_{before}", before),
                after=_translated(t, f"status_{after}", after),
                actor=actor,
            )
            + why
        )
    if action == "ack":
        return t("timeline_ack", actor=actor)
    if action == "step-done":
        return t("timeline_step_done", step=step_title(detail), actor=actor)
    if action == "step-skip":
        return t("timeline_step_skipped", step=step_title(detail), actor=actor) + why
    if action == "decide" and " = " in detail:
        step_id, option = detail.split(" = ", 1)
        return t("timeline_decided", step=step_title(step_id), option=option_text(step_id, option), actor=actor) + why
    if action == "obligation" and " -> " in detail:
        kind, status = detail.split(" -> ", 1)
        label = next((o.label(t.lang) for o in obligations if o.kind == kind), kind)
        subject = obligation_subject(kind, label, t)
        status_text = _translated(t, f"obligation_{status}", status)
        return t("timeline_obligation", kind=label, subject=subject, status=status_text, actor=actor)
    if action == "impact":
        return t("timeline_impact", detail=_impact_text(detail, t), actor=actor) + why
    return None  # open, join, notes, assignments: not for the CISO's timeline


def _subject(subject: str, t: Translator, steps: dict[str, StepInstance], obligations: list[Obligation]) -> str:
    """What an escalation is about, in words: a step's title, a report's recipient, the incident."""
    if subject == "incident":
        return t("escalation_subject_incident")
    if subject in steps:
        return steps[subject].title(t.lang)
    return next((o.label(t.lang) for o in obligations if o.kind == subject), subject)


_IMPACT_FACTS = ("personal_data_confirmed", "resident_service_outage", "malicious_act")
_PRIORITY_CHANGE = re.compile(r"priority (P[1-4]) -> (P[1-4])")


def _impact_text(detail: str, t: Translator) -> str:
    """``personal_data_confirmed=True; priority P3 -> P2`` in words."""
    parts = []
    for fact in _IMPACT_FACTS:
        for value in ("True", "False"):
            if f"{fact}={value}" in detail:
                parts.append(t(f"impact_fact_{fact}_{value.lower()}"))
    if m := _PRIORITY_CHANGE.search(detail):
        parts.append(t("change_priority", before=m[1], after=m[2]))
    return t("list_sep").join(parts) or "—"


# -- obligations ---------------------------------------------------------------------
def obligation_rows(incident: Incident, now: datetime, t: Translator, tz: ZoneInfo) -> list[ObligationRow]:
    rows = []
    for o in incident.obligations:
        key = o.status.value
        if o.status is ObligationStatus.pending and o.due_at is not None and now > o.due_at:
            key = "overdue"
        if o.due_at is None:
            due = t("deadline_starts_on_awareness") if incident.aware_at is None and o.rule else t("due_none")
            if incident.aware_at is not None:
                due = t("due_none")
        else:
            due = fmt(o.due_at, tz, t.lang) + (
                t("due_hard", at=fmt(o.hard_due_at, tz, t.lang)) if o.hard_due_at else ""
            )
        rows.append(
            ObligationRow(
                label=o.label(t.lang),
                basis=basis_text(o.kind, o.basis, t.lang),
                rule=o.rule(t.lang),
                due=due,
                status=t(f"obligation_{key}"),
                status_key=key,
                sent_at=fmt(o.sent_at, tz, t.lang),
                reference=o.reference or "—",
            )
        )
    return rows


# -- cause and ATT&CK ------------------------------------------------------------------
def technique_rows(incident: Incident, alerts: list[Alert], t: Translator) -> list[TechniqueRow]:
    ids = sorted(set(incident.mitre) | {m for a in alerts for m in a.mitre})
    rows = []
    for tech in ids:
        tactic = technique_tactic(tech)
        rows.append(
            TechniqueRow(
                technique=tech,
                name=technique_name(tech, t.lang),
                tactic=_translated(t, f"tactic_{tactic}", tactic) if tactic else "—",
                alerts=sum(tech in a.mitre for a in alerts),
            )
        )
    return rows


# -- changes since the previous edition --------------------------------------------------
def change_rows(
    found: list[Change],
    t: Translator,
    step_title: Callable[[str], str],
    option_label: Callable[[str, str], str],
    obligation_label: Callable[[str], str] = str,
    role: Callable[[str], str] = str,
) -> list[ChangeRow]:
    def status(v: str) -> str:
        return _translated(t, f"status_{v}", v) if v else "—"

    out = []
    for c in found:
        if c.kind == "alerts":
            text = t("change_alerts", n=c.after, ids=c.subject)
        elif c.kind == "status":
            text = t("change_status", before=status(c.before), after=status(c.after))
        elif c.kind == "priority":
            text = t("change_priority", before=c.before, after=c.after)
        elif c.kind in ("entities", "segments"):
            text = t(f"change_{c.kind}", values=c.after)
        elif c.kind == "impact":
            text = t(f"change_{c.subject}")
        elif c.kind == "evidence":
            text = t("change_evidence", n=c.after)
        elif c.kind == "assignee":
            text = t("change_assignee", who=c.after)
        elif c.kind == "tier":
            text = t("change_tier", role=role(c.after))
        elif c.kind == "step":
            text = t(f"change_step_{c.after}", step=step_title(c.subject))
        elif c.kind == "decision":
            text = t("change_decision", step=step_title(c.subject), option=option_label(c.subject, c.after))
        elif c.kind == "obligation":
            text = t(
                "change_obligation",
                kind=obligation_label(c.subject),
                subject=obligation_subject(c.subject, obligation_label(c.subject), t),
                status=_translated(t, f"obligation_{c.after}", c.after),
            )
        elif c.kind == "overdue":
            what, _, name = c.subject.partition(":")
            if what == "step":
                text = t("change_overdue_step", step=step_title(name))
            elif what == "obligation":
                label = obligation_label(name)
                text = t("change_overdue_obligation", kind=label, subject=obligation_subject(name, label, t))
            else:
                text = t("change_overdue_ack")
        else:
            text = f"{c.kind}: {c.subject} {c.before} -> {c.after}"
        out.append(ChangeRow(text=text))
    return out


# -- appendix ----------------------------------------------------------------------------
def _figure(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


# What each detector kind records on an alert (``Match.figures``), in words in both
# languages; a key not named here is shown by its words in English and as 「その他の数値」
# in Japanese (a figure name never reaches a Japanese reader).
_FIGURES: dict[str, tuple[str, str]] = {
    "window_count": ("期間内の件数", "events in the window"),
    "baseline_average": ("平常時の平均件数", "usual average"),
    "top_contributors": ("件数の多い送信元", "largest contributors"),
    "bytes": ("通信量（バイト）", "bytes"),
    "baseline_average_bytes": ("平常時の平均通信量（バイト）", "usual average bytes"),
    "checkins": ("定期通信の回数", "check-ins"),
    "mean_interval_s": ("平均間隔（秒）", "mean interval (s)"),
    "median_interval_s": ("間隔の中央値（秒）", "median interval (s)"),
    "cv": ("間隔のばらつき（変動係数）", "interval spread (coefficient of variation)"),
    "mad_ratio": ("間隔のばらつき（中央絶対偏差÷中央値）", "interval spread (MAD / median)"),
    "new_term": ("初めて見た組み合わせ", "first seen"),
    "before": ("先行する失敗の件数", "failures before"),
    "distinct_before": ("先行する失敗の異なる値の数", "distinct values before"),
    "then_at": ("成功の日時", "success at"),
    "speed_kmh": ("移動速度（時速km）", "speed (km/h)"),
    "distance_km": ("距離（km）", "distance (km)"),
    "from": ("移動元", "from"),
    "to": ("移動先", "to"),
    "last_event": ("最後にログを受信した日時", "last event"),
    "last_seen": ("最後にログを受信した日時", "last event"),
    "silent_minutes_at_detection": ("検知時点でログが途絶えていた時間（分）", "silent for (min) at detection"),
    "silent_for": ("ログが途絶えている時間", "silent for"),
    "events_before": ("途絶える前の件数", "events before"),
}
_PLACE_KEYS = {"lat": ("緯度", "latitude"), "lon": ("経度", "longitude"), "at": ("日時", "at")}


def _figure_value(value: Any, t: Translator, tz: ZoneInfo) -> str:
    """A figure's value in words: a time as people write it, a place as latitude,
    longitude and time, contributors as 「値（件数）」, an entity in words."""
    lang = t.lang
    sep = "、" if lang == "ja" else ", "
    if isinstance(value, str) and re.match(r"^\d{4}-\d\d-\d\dT", value):
        try:
            return fmt(datetime.fromisoformat(value), tz, lang)
        except ValueError:
            return value
    if isinstance(value, dict) and value and set(value) <= set(_PLACE_KEYS):
        return sep.join(f"{_PLACE_KEYS[k][lang != 'ja']} {_figure_value(v, t, tz)}" for k, v in value.items())
    if isinstance(value, dict):
        return entity_text({str(k): str(v) for k, v in value.items()}, lang)
    if isinstance(value, list):
        parts = []
        for item in value:
            if isinstance(item, dict) and "count" in item:
                rest = {str(k): str(v) for k, v in item.items() if k != "count"}
                n, who = _figure(item["count"]), entity_text(rest, lang)
                parts.append(f"{who}（{n}件）" if lang == "ja" else f"{who} ({n})")
            else:
                parts.append(_figure_value(item, t, tz))
        return sep.join(parts)
    if value is None:
        return "—"
    return _figure(value)


def _figure_text(key: str, value: Any, t: Translator, tz: ZoneInfo) -> str:
    known = _FIGURES.get(key)
    if t.lang == "ja":
        label = known[0] if known else "その他の数値"
        return f"{label}：{_figure_value(value, t, tz)}"
    label = known[1] if known else key.replace("_", " ")
    return f"{label}: {_figure_value(value, t, tz)}"


def alert_reason(a: Alert, t: Translator, tz: ZoneInfo, title_of: Callable[[str], str]) -> str:
    """Why the alert fired, as the report's appendix writes it (see ``_reason``)."""
    return _reason(a, t, tz, title_of)


def _reason(a: Alert, t: Translator, tz: ZoneInfo, title_of: Callable[[str], str]) -> str:
    """Why the alert fired. English: the detector's own sentence. Japanese: the same facts
    written from the alert's fields (the detector's sentence is English)."""
    if t.lang != "ja":
        return a.reason or "—"
    text = t(
        "alert_reason_text",
        detector=title_of(a.detector),
        entity=entity_text(a.entity, t.lang) or "—",
        start=fmt(a.start, tz, t.lang),
        end=until(a.start, a.end, tz, t.lang),
        count=a.count,
    )
    if a.distinct_count is not None and a.distinct_field:
        text += t("alert_reason_distinct", field=field_name(a.distinct_field, t.lang), n=a.distinct_count)
    return text


def evidence_rows(
    alerts: list[Alert], t: Translator, tz: ZoneInfo, title_of: Callable[[str], str]
) -> list[EvidenceRow]:
    rows = []
    for a in alerts:
        status = t(f"alert_{a.status.value}")
        if a.close_reason is not None:
            status += t("lp") + t(f"reason_{a.close_reason.value}") + t("rp")
        distinct = "—"
        if a.distinct_count is not None:
            distinct = f"{a.distinct_count}（{field_name(a.distinct_field or '', t.lang)}）"
        rows.append(
            EvidenceRow(
                alert_id=a.id,
                detector=title_of(a.detector),
                entity=entity_text(a.entity, t.lang),
                count=a.count,
                distinct=distinct,
                first_seen=fmt(a.start, tz, t.lang),
                last_seen=fmt(a.end, tz, t.lang),
                mitre=", ".join(a.mitre),
                reason=_reason(a, t, tz, title_of),
                status=status,
                figures=[_figure_text(k, v, t, tz) for k, v in sorted(a.figures.items())],
                samples=a.sample_event_ids[:5],
            )
        )
    return rows


def _match_text(match: dict[str, Any], negate: bool = False) -> list[str]:
    out = []
    for field, value in sorted(match.items()):
        if isinstance(value, list):
            shown = " | ".join(str(v) for v in value[:6]) + (" | …" if len(value) > 6 else "")
        elif hasattr(value, "model_dump"):
            shown = " ".join(f"{k} {v}" for k, v in value.model_dump(exclude_none=True).items())
        else:
            shown = str(value)
        out.append(f"{'NOT ' if negate else ''}{field}: {shown}")
    return out


def detector_rows(detectors: list[Any], t: Translator) -> list[DetectorRow]:
    """Kind, dataset, filter, grouping, condition and window of each detector, as text."""
    rows = []
    for d in detectors:
        if t.lang == "ja":  # the query's expressions are English field names: describe it instead
            criteria = [d.description("ja").strip()]
            if d.group_fields():
                fields = t("list_sep").join(dict.fromkeys(field_name(f, "ja") for f in d.group_fields()))
                criteria.append(t("criteria_group_by", fields=fields))
            criteria.append(
                t("criteria_window", window=about(d.schedule.window, "ja"), interval=about(d.schedule.interval, "ja"))
            )
            rows.append(DetectorRow(detector_id=d.id, title=d.title("ja"), kind="", dataset="", criteria=criteria))
            continue
        criteria = _match_text(dict(d.filter)) + _match_text(dict(d.exclude), negate=True)
        if d.group_fields():
            criteria.append(t("criteria_group_by", fields=", ".join(d.group_fields())))
        for name in ("condition", "first", "then", "spike", "history", "beacon", "volume"):
            value = getattr(d, name, None)
            if value is None:
                continue
            dumped = value.model_dump(mode="json", exclude_none=True) if hasattr(value, "model_dump") else value
            criteria.append(f"{name}: {_compact(dumped)}")
        criteria.append(
            t(
                "criteria_window",
                window=format_duration(d.schedule.window),
                interval=format_duration(d.schedule.interval),
            )
        )
        rows.append(
            DetectorRow(detector_id=d.id, title=d.title(t.lang), kind=d.kind, dataset=d.dataset, criteria=criteria)
        )
    return rows


def _compact(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_compact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_compact(v) for v in value[:6]) + (", …" if len(value) > 6 else "") + "]"
    if isinstance(value, timedelta):
        return format_duration(value)
    return str(value)
