"""Build the typed context of the CISO incident report, decision first (pure: no I/O).

``build_report`` makes the report of one incident in one language from its gathered
inputs (``soc.reports.gather``) and the edition being issued (``soc.reports.store``);
``build_from`` is the same from the parts. Every statement is derived here from the
incident's current record, through the section builders of ``soc.reports.sections`` and
``soc.reports.conclusion``: the truth rules live in these modules and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from soc.alerts.models import Alert
from soc.incidents.models import Incident, ObligationStatus, SlaState, StepInstance, StepStatus
from soc.incidents.naming import field_name, shown_title, target_text
from soc.incidents.obligations import RULES, due_dates
from soc.incidents.steps import chosen_options, sla_state
from soc.playbooks.models import ApprovalStep, DecisionStep, ObligationKind, Playbook
from soc.reports import sections as sec
from soc.reports.conclusion import conclusion, holders, option_label
from soc.reports.editions import Edition, changes, is_final
from soc.reports.i18n import Translator, catalog
from soc.reports.inputs import ReportInputs
from soc.reports.models import (
    DeadlineRow,
    DecisionTakenRow,
    DecisionView,
    EditionView,
    EntityRow,
    IncidentReport,
    OptionView,
    StepRow,
)
from soc.reports.words import obligation_subject, when, zone_label

__all__ = ["build_from", "build_report", "edition_label"]

_FINISHED = (StepStatus.done, StepStatus.skipped)


def build_report(
    inputs: ReportInputs, *, edition: Edition | None, lang: str, tz: ZoneInfo, now: datetime
) -> IncidentReport:
    return build_from(
        inputs.incident,
        inputs.alerts,
        lang=lang,
        tz=tz,
        now=now,
        detector_titles={d.id: d.title(lang) for d in inputs.detectors},
        playbook=inputs.playbook,
        edition=edition,
        detectors=inputs.detectors,
    )


def edition_label(number: int, final: bool, t: Translator) -> str:
    return t("edition_final", n=number) if final else t("edition_n", n=number) if number > 1 else t("edition_first")


def _edition_view(
    edition: Edition | None,
    incident: Incident,
    t: Translator,
    tz: ZoneInfo,
    now: datetime,
    step_title: Callable[[str], str],
    option_label: Callable[[str, str], str],
) -> EditionView:
    if edition is None:  # a preview: not recorded
        final = is_final(incident)
        return EditionView(
            label=edition_label(1, final, t),
            number=1,
            final=final,
            at=sec.fmt(now, tz, t.lang),
            previous_label=None,
            previous_at=None,
            changes_title="",
            changes=[],
            recorded=False,
        )
    prev = edition.previous
    found = changes(prev, edition.facts) if prev is not None else []
    previous_label = edition_label(edition.number - 1, False, t) if prev is not None else None
    previous_at = sec.fmt(edition.previous_at, tz, t.lang) if edition.previous_at else None
    return EditionView(
        label=edition_label(edition.number, edition.final, t),
        number=edition.number,
        final=edition.final,
        at=sec.fmt(edition.at, tz, t.lang),
        previous_label=previous_label,
        previous_at=previous_at,
        changes_title=t("changes_since", label=previous_label, at=previous_at or "—") if previous_label else "",
        changes=sec.change_rows(
            found,
            t,
            step_title,
            option_label,
            lambda kind: next((o.label(t.lang) for o in incident.obligations if o.kind == kind), kind),
            lambda role_id: t(f"role_{role_id}") if t.has(f"role_{role_id}") else role_id,
        ),
        recorded=True,
    )


def _already(incident: Incident, t: Translator, tz: ZoneInfo) -> list[str]:
    """Facts of the record a decision must not be read against: the CSIRT declared the
    incident or contained it before the question is put (an option may propose either)."""
    out = []
    if incident.declared_at is not None:
        out.append(t("decision_already_declared", at=sec.fmt(incident.declared_at, tz, t.lang)))
    if incident.contained_at is not None:
        out.append(t("decision_already_contained", at=sec.fmt(incident.contained_at, tz, t.lang)))
    return out


def _decision(
    step: ApprovalStep,
    inst: StepInstance,
    playbook: Playbook,
    t: Translator,
    tz: ZoneInfo,
    now: datetime,
    recommendation: str,
) -> DecisionView:
    lang = t.lang
    ready = inst.ready_at is not None
    recommended = next((o for o in step.options if o.id == recommendation), None)
    state = sla_state(inst, now) if ready else None
    return DecisionView(
        question=step.question(lang),
        options=[
            OptionView(
                label=o.label(lang),
                effect=o.effect(lang) if o.effect else None,
                risk=o.risk(lang) if o.risk else None,
                cost=o.cost(lang) if o.cost else None,
                resident_impact=o.resident_impact(lang) if o.resident_impact else None,
                recommended=o.id == recommendation,
                chosen=inst.choice is not None and inst.choice.option == o.id,
            )
            for o in step.options
        ],
        recommendation=recommended.label(lang) if recommended else None,
        decide_by=sec.fmt(inst.due_at, tz, t.lang)
        if inst.due_at
        else t("decide_by_when_ready", after=sec.duration_text(step.decide_by, t)),
        sla=t(f"sla_{state.value}") if state else "",
        ready=ready,
        if_no_decision=step.if_no_decision(lang),
        owner=playbook.role_name(step.owner, lang),
    )


def _decisions(
    incident: Incident, playbook: Playbook | None, t: Translator, tz: ZoneInfo, now: datetime
) -> tuple[list[DecisionView], list[DecisionTakenRow]]:
    if playbook is None:
        return [], []
    asked: list[DecisionView] = []
    taken: list[DecisionTakenRow] = []
    for inst in incident.steps:
        step = playbook.find_step(inst.step_id)
        if not isinstance(step, ApprovalStep | DecisionStep):
            continue
        if inst.choice is not None:
            option = next((o for o in step.options if o.id == inst.choice.option), None)
            recommended = inst.choice.recommended or (step.recommendation if isinstance(step, ApprovalStep) else None)
            taken.append(
                DecisionTakenRow(
                    step=inst.title(t.lang),
                    option=option.label(t.lang) if option else inst.choice.option,
                    by=inst.choice.by,
                    at=sec.fmt(inst.choice.at, tz, t.lang),
                    comment=inst.choice.comment or "—",
                    against_recommendation=recommended is not None and recommended != inst.choice.option,
                )
            )
        elif (
            isinstance(step, ApprovalStep)
            and inst.status not in (StepStatus.done, StepStatus.skipped)
            and incident.is_open
        ):
            view = _decision(step, inst, playbook, t, tz, now, step.recommendation_for(chosen_options(incident)))
            asked.append(view.model_copy(update={"already": _already(incident, t, tz)}))
    return asked, taken


def _needs(
    incident: Incident, decisions: list[DecisionView], t: Translator, tz: ZoneInfo, now: datetime, role: Any
) -> list[str]:
    out = [t("need_decision", owner=d.owner, question=d.question, due=d.decide_by) for d in decisions if d.ready]
    for s in incident.steps:
        if s.status not in _FINISHED and s.ready_at is not None and sla_state(s, now) is SlaState.breached:
            out.append(
                t("need_overdue_step", step=s.title(t.lang), owner=role(s.owner), due=sec.fmt(s.due_at, tz, t.lang))
            )
    for o in incident.obligations:
        if o.status is ObligationStatus.pending and o.due_at is not None and o.due_at - now < timedelta(days=2):
            subject = obligation_subject(o.kind, o.label(t.lang), t)
            out.append(t("need_obligation", label=o.label(t.lang), subject=subject, due=sec.fmt(o.due_at, tz, t.lang)))
    if incident.is_open and incident.acknowledged_at is None:
        out.append(t("need_acknowledge", tier=role(incident.tier), due=sec.fmt(incident.ack_due_at, tz, t.lang)))
    return out


def build_from(
    incident: Incident,
    alerts: list[Alert],
    *,
    lang: str,
    tz: ZoneInfo,
    now: datetime,
    detector_titles: dict[str, str],
    playbook: Playbook | None,
    edition: Edition | None = None,
    detectors: list[Any] | None = None,
) -> IncidentReport:
    """Pure: the report context from an incident, its alerts, definitions and edition."""
    t = Translator(lang)
    cat = catalog(lang)
    sep = t("list_sep")

    def title_of(detector: str) -> str:
        return detector_titles.get(detector, detector)

    def role(role_id: str | None) -> str:
        if role_id is None:
            return "—"
        named = playbook.role_name(role_id, lang) if playbook is not None else role_id
        if named == role_id and t.has(f"role_{role_id}"):
            return t(f"role_{role_id}")
        return named

    def step_title(step_id: str) -> str:
        inst = incident.step(step_id)
        return inst.title(lang) if inst else step_id

    def segment_name(s: str) -> str:
        return t(f"segment_{s}") if t.has(f"segment_{s}") else s

    def option_text(step_id: str, option_id: str) -> str:
        return option_label(playbook, step_id, option_id, lang)

    events = sum(a.count for a in alerts)
    edition_view = _edition_view(edition, incident, t, tz, now, step_title, option_text)
    decisions, taken = _decisions(incident, playbook, t, tz, now)
    status = t(f"status_{incident.status.value}")
    named = target_text(incident.entities, lang)
    target = named or t("target_unknown")
    book = playbook.name(lang) if playbook is not None else None
    title = shown_title(incident, lang, playbook_name=book, detector_title=title_of, sep=sep)
    ready = [d for d in decisions if d.ready]
    if ready:
        ask = t("bottom_line_ask", n=len(ready), due=ready[0].decide_by)
    elif decisions:
        ask = t("bottom_line_ask_later", n=len(decisions))
    else:
        ask = t("bottom_line_no_ask")
    has_ppc = any(o.kind.startswith("ppc") for o in incident.obligations)
    deadlines = _ppc_deadlines(incident, t, tz) if incident.personal_data_possible and not has_ppc else []
    return IncidentReport(
        lang=lang,
        t=cat,
        title=title,
        subject=t("subject", priority=incident.priority.value, edition=edition_view.label, title=title),
        incident_id=incident.id,
        edition=edition_view,
        generated_at=sec.fmt(now, tz, t.lang),
        zone=zone_label(tz, lang),
        opened_at=sec.fmt(incident.opened_at, tz, t.lang),
        status=status,
        status_key=incident.status.value,
        severity=t(f"severity_{incident.severity.value}"),
        severity_key=incident.severity.value,
        priority=incident.priority.value,
        priority_reasons=sec.priority_reasons(incident.priority_reasons, t),
        risk_score=f"{incident.risk_score:g}",
        conclusion=conclusion(
            incident,
            playbook=playbook,
            what=t("quote_sep").join(title_of(d) for d in incident.detectors) or book or "—",
            target=target,
            alerts=len(alerts),
            events=events,
            t=t,
            tz=tz,
        ),
        holders=holders(incident, playbook, t, role),
        ask=ask,
        decisions=decisions,
        decisions_taken=taken,
        segments=[segment_name(s) for s in incident.segments],
        entities=[EntityRow(field=field_name(k, lang), values=v) for k, v in sorted(incident.entities.items())],
        impact=sec.impact_rows(incident, alerts, t, segment_name),
        personal_data_possible=incident.personal_data_possible,
        deadlines=deadlines,
        phases=sec.phase_rows(incident, now, t, tz),
        kpis=sec.kpi_views(incident, t),
        timeline=sec.timeline_rows(incident, alerts, t, tz, title_of, role, option_text),
        obligations=sec.obligation_rows(incident, now, t, tz),
        cause=_cause(incident, detectors or [], lang),
        techniques=sec.technique_rows(incident, alerts, t),
        next_steps=sec.next_step_rows(incident, now, t, tz, role) if incident.is_open else [],
        needs=_needs(incident, decisions, t, tz, now, role) if incident.is_open else [],
        evidence=sec.evidence_rows(alerts, t, tz, title_of),
        detectors=sec.detector_rows(detectors or [], t),
        attack=sorted(set(incident.mitre) | {m for a in alerts for m in a.mitre}),
        playbook_name=playbook.name(lang) if playbook else None,
        steps=[_step_row(s, t, tz, role) for s in incident.steps if s.kind != "end"],
    )


def _step_row(s: StepInstance, t: Translator, tz: ZoneInfo, role: Any) -> StepRow:
    return StepRow(
        title=s.title(t.lang),
        phase=t(f"phase_{s.phase}") if s.phase else t("phase_none"),
        owner=role(s.owner),
        due=sec.fmt(s.due_at, tz, t.lang),
        status=t(f"step_{s.status.value}"),
        sla=t(f"sla_{s.sla.value}") if s.ready_at is not None else "—",
        done_at=sec.fmt(s.done_at, tz, t.lang),
        notes=[n.text for n in s.notes],
        evidence=[e.uri + (f" ({e.description})" if e.description else "") for e in s.evidence],
    )


def _cause(incident: Incident, detectors: list[Any], lang: str) -> list[str]:
    """What the detectors that fired look for (their description), in *lang*."""
    wanted = set(incident.detectors)
    return [d.description(lang).strip() for d in detectors if d.id in wanted]


def _ppc_deadlines(incident: Incident, t: Translator, tz: ZoneInfo) -> list[DeadlineRow]:
    """PPC preliminary and final reports, counted from awareness by the obligation tracker's
    own rules (``soc.incidents.obligations.RULES``); until aware_at is set, say when the clock starts."""
    aware = incident.aware_at
    # the rule each deadline follows, in words, from the tracker's rules (never a second copy)
    preliminary = t("deadline_preliminary", rule=RULES[ObligationKind.ppc_preliminary].rule(t.lang))
    final = t("deadline_final", rule=RULES[ObligationKind.ppc_final].rule(t.lang))
    if aware is None:
        pending = t("deadline_starts_on_awareness")
        return [
            DeadlineRow(label=preliminary, due=pending),
            DeadlineRow(label=final, due=pending),
        ]
    lang = t.lang
    first, hard = due_dates(ObligationKind.ppc_preliminary, aware, malicious=incident.malicious_act)
    normal, _ = due_dates(ObligationKind.ppc_final, aware, malicious=False)
    malicious, _ = due_dates(ObligationKind.ppc_final, aware, malicious=True)

    def day(x: datetime | None, dates: tuple[datetime | None, ...]) -> str:
        turns = any(d is not None and d.astimezone(tz).year != aware.astimezone(tz).year for d in dates)
        return when(x, tz, lang, year=turns)

    return [
        DeadlineRow(
            label=preliminary,
            due=t("deadline_window", start=day(first, (first, hard)), end=day(hard, (first, hard))),
        ),
        DeadlineRow(
            label=final,
            due=t(
                "deadline_final_due",
                normal=day(normal, (normal, malicious)),
                malicious=day(malicious, (normal, malicious)),
            ),
        ),
    ]
