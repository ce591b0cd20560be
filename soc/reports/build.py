"""Build the typed report context for one incident from Elasticsearch."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from soc.alerts.models import Alert
from soc.alerts.store import AlertStore
from soc.context import AppContext
from soc.detection.loader import load_detectors
from soc.errors import DefinitionErrors
from soc.incidents.models import Incident
from soc.incidents.store import IncidentStore
from soc.playbooks.loader import load_playbooks
from soc.playbooks.models import ApprovalStep, Playbook
from soc.reports.i18n import Translator, catalog
from soc.reports.models import (
    DeadlineRow,
    DecisionView,
    EntityRow,
    EvidenceRow,
    IncidentReport,
    OptionView,
    StepRow,
    TimelineRow,
)

__all__ = ["build_from", "build_incident_report", "detector_titles"]

# Personal Information Protection Commission reports, in days from awareness (aware_at)
PPC_PRELIMINARY_DAYS = (3, 5)  # "promptly": about 3 to 5 days
PPC_FINAL_DAYS = 30
PPC_FINAL_MALICIOUS_DAYS = 60  # when the leak may stem from a malicious act


def _fmt(t: datetime | None, tz: ZoneInfo) -> str:
    return t.astimezone(tz).isoformat(timespec="seconds") if t else "—"


def detector_titles(ctx: AppContext, lang: str) -> dict[str, str]:
    """Detector id -> title in *lang*; ids are shown instead when the definitions do not load."""
    try:
        return {d.id: d.title(lang) for d in load_detectors(ctx.settings.detectors_dir, include_disabled=True)}
    except DefinitionErrors as exc:
        ctx.log.warning("report shows detector ids, not titles: %s", exc.render())
        return {}


def _playbook(ctx: AppContext, incident: Incident) -> Playbook | None:
    if not incident.playbook_id:
        return None
    try:
        found = next((p for p in load_playbooks(ctx.settings.playbooks_dir) if p.id == incident.playbook_id), None)
    except DefinitionErrors as exc:
        ctx.log.warning("report has no decision section: the playbooks do not load: %s", exc.render())
        return None
    if found is None:
        ctx.log.warning("report has no decision section: playbook %r not found", incident.playbook_id)
    elif found.version != incident.playbook_version:
        ctx.log.warning(
            "incident %s follows playbook %s v%s; the decision is taken from v%s",
            incident.id, found.id, incident.playbook_version, found.version,
        )  # fmt: skip
    return found


def build_incident_report(ctx: AppContext, incident_id: str, lang: str) -> IncidentReport:
    """The typed report context for one incident and its alerts (read from Elasticsearch)."""
    incident = IncidentStore(ctx.es).get(incident_id)
    alerts = AlertStore(ctx.es).search(ids=incident.alert_ids)
    return build_from(
        incident,
        alerts,
        lang=lang,
        tz=ctx.settings.tz,
        now=ctx.clock.now(),
        detector_titles=detector_titles(ctx, lang),
        playbook=_playbook(ctx, incident),
    )


def _decision(step: ApprovalStep, incident: Incident, playbook: Playbook, lang: str, tz: ZoneInfo) -> DecisionView:
    due = next((s.due_at for s in incident.steps if s.step_id == step.id), None)
    return DecisionView(
        question=step.question(lang),
        options=[
            OptionView(
                label=o.label(lang),
                effect=o.effect(lang) if o.effect else None,
                risk=o.risk(lang) if o.risk else None,
                recommended=o.id == step.recommendation,
            )
            for o in step.options
        ],
        decide_by=_fmt(due, tz),
        if_no_decision=step.if_no_decision(lang),
        owner=playbook.role_name(step.owner, lang),
    )


def build_from(
    incident: Incident,
    alerts: list[Alert],
    *,
    lang: str,
    tz: ZoneInfo,
    now: datetime,
    detector_titles: dict[str, str],
    playbook: Playbook | None,
) -> IncidentReport:
    """Pure: the report context from an incident, its alerts and definitions."""
    t = Translator(lang)
    title_of = {d: detector_titles.get(d, d) for d in incident.detectors}
    sep = "、" if lang == "ja" else ", "
    entities_text = sep.join(incident.entity_values)
    events = sum(a.count for a in alerts)
    bottom = t(
        "bottom_line_text",
        detectors=sep.join(title_of[d] for d in incident.detectors),
        entities=entities_text,
        first=_fmt(incident.first_activity, tz),
        last=_fmt(incident.last_activity, tz),
        alerts=len(alerts),
        events=events,
        status=t(f"status_{incident.status.value}"),
    )
    timeline = [
        (incident.first_activity, t("timeline_first_activity")),
        *[
            (
                a.start,
                t(
                    "timeline_alert",
                    detector=detector_titles.get(a.detector, a.detector),
                    entity=sep.join(f"{k}={v}" for k, v in sorted(a.entity.items())),
                    count=a.count,
                ),
            )
            for a in alerts
        ],
        (incident.last_activity, t("timeline_last_activity")),
        (incident.detected_at, t("timeline_detected")),
        (incident.opened_at, t("timeline_opened")),
        *([(incident.aware_at, t("timeline_aware"))] if incident.aware_at else []),
    ]
    timeline.sort(key=lambda row: row[0])
    deadlines = _ppc_deadlines(incident, t, tz) if incident.personal_data_possible else []
    approval = playbook.approval() if playbook else None
    steps = []
    for s in incident.steps:
        if s.kind == "end":
            continue
        steps.append(
            StepRow(
                title=s.title(lang),
                phase=t(f"phase_{s.phase}") if s.phase else t("phase_none"),
                owner=playbook.role_name(s.owner, lang) if playbook and s.owner else (s.owner or "—"),
                due=_fmt(s.due_at, tz),
                status=t(f"step_{s.status.value}"),
            )
        )
    return IncidentReport(
        lang=lang,
        t=catalog(lang),
        title=_title(incident, t, title_of, entities_text, lang),
        incident_id=incident.id,
        edition=t("edition"),
        generated_at=_fmt(now, tz),
        opened_at=_fmt(incident.opened_at, tz),
        status=t(f"status_{incident.status.value}"),
        severity=t(f"severity_{incident.severity.value}"),
        severity_key=incident.severity.value,
        risk_score=f"{incident.risk_score:g}",
        bottom_line=bottom,
        bottom_line_note=t("bottom_line_compromise_unknown"),
        decision=_decision(approval, incident, playbook, lang, tz) if approval and playbook else None,
        segments=[t(f"segment_{s}") if f"segment_{s}" in catalog(lang) else s for s in incident.segments],
        entities=[EntityRow(field=k, values=v) for k, v in sorted(incident.entities.items())],
        personal_data_possible=incident.personal_data_possible,
        deadlines=deadlines,
        timeline=[TimelineRow(time=_fmt(when, tz), text=text) for when, text in timeline],
        evidence=[
            EvidenceRow(
                alert_id=a.id,
                detector=detector_titles.get(a.detector, a.detector),
                entity=sep.join(f"{k}={v}" for k, v in sorted(a.entity.items())),
                count=a.count,
                distinct=f"{a.distinct_count} ({a.distinct_field})" if a.distinct_count is not None else "—",
                first_seen=_fmt(a.start, tz),
                last_seen=_fmt(a.end, tz),
                mitre=", ".join(a.mitre),
                samples=a.sample_event_ids[:5],
            )
            for a in alerts
        ],
        attack=incident.mitre,
        playbook_name=playbook.name(lang) if playbook else None,
        steps=steps,
    )


def _title(incident: Incident, t: Translator, title_of: dict[str, str], entities: str, lang: str) -> str:
    """An incident opened without a playbook was titled from the alert's English title:
    rebuild it from the detector titles in the report's language."""
    if incident.playbook_id or incident.source != "detection":
        return incident.title(lang)
    sep = "、" if lang == "ja" else ", "
    return t("title_detected", detectors=sep.join(title_of.values()), entities=entities)


def _ppc_deadlines(incident: Incident, t: Translator, tz: ZoneInfo) -> list[DeadlineRow]:
    """PPC preliminary (about 3-5 days) and final (30 days; 60 for a malicious act)
    reports, counted from awareness; until aware_at is set, say when the clock starts."""
    aware = incident.aware_at
    if aware is None:
        pending = t("deadline_starts_on_awareness")
        return [
            DeadlineRow(label=t("deadline_preliminary"), due=pending),
            DeadlineRow(label=t("deadline_final"), due=pending),
        ]

    def day(n: int) -> str:
        return _fmt(aware + timedelta(days=n), tz)

    first, last = PPC_PRELIMINARY_DAYS
    return [
        DeadlineRow(label=t("deadline_preliminary"), due=t("deadline_window", start=day(first), end=day(last))),
        DeadlineRow(
            label=t("deadline_final"),
            due=t(
                "deadline_final_due",
                normal=day(PPC_FINAL_DAYS),
                malicious=day(PPC_FINAL_MALICIOUS_DAYS),
            ),
        ),
    ]
