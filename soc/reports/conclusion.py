"""The 結論 (bottom line) and "who holds it", written from the incident's current record.

The phase comes from the status (detected → assessing → contained → recovered → closed);
what is *known* comes from decisions taken, impact recorded and steps done; what is *not
yet known* from the analysis decisions still open; what was *done* from containment steps,
the status stamps and the reports sent. Nothing here is said unless the record says it.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from soc.incidents.models import Incident, IncidentStatus, ObligationStatus, StepStatus
from soc.incidents.obligations import RULES
from soc.playbooks.models import ApprovalStep, DecisionStep, ObligationKind, Playbook
from soc.reports.i18n import Translator
from soc.reports.models import ConclusionView, HoldersView
from soc.reports.words import until, when

__all__ = ["conclusion", "holders", "option_label", "phase_of"]

S = IncidentStatus
_CLOSED = (S.closed, S.false_positive, S.duplicate)


def phase_of(incident: Incident) -> str:
    """detected (nobody took it yet) → assessing → contained → recovered → closed."""
    if incident.status in _CLOSED:
        return "closed"
    if incident.status in (S.recovered, S.post_incident):
        return "recovered"
    if incident.status in (S.contained, S.eradicated):
        return "contained"
    if incident.status is S.new and incident.acknowledged_at is None:
        return "detected"
    return "assessing"


def option_label(playbook: Playbook | None, step_id: str, option_id: str, lang: str) -> str:
    """The label of an option of a decision or approval step; its id when unknown."""
    if playbook is None:
        return option_id
    step = playbook.find_step(step_id)
    option = next((o for o in getattr(step, "options", []) if o.id == option_id), None)
    return option.label(lang) if option is not None else option_id


def conclusion(
    incident: Incident,
    *,
    playbook: Playbook | None,
    what: str,
    target: str,
    alerts: int,
    events: int,
    t: Translator,
    tz: ZoneInfo,
) -> ConclusionView:
    lang = t.lang

    def at(x: datetime | None) -> str:
        return when(x, tz, lang)

    phase = phase_of(incident)
    same_minute = at(incident.first_activity) == at(incident.last_activity)
    lead = [
        t(
            "concl_detected_at" if same_minute else "concl_detected",
            first=at(incident.first_activity),
            last=until(incident.first_activity, incident.last_activity, tz, lang),
            target=target,
            what=what,
            alerts=alerts,
            events=events,
        )
    ]
    if phase == "detected":
        lead.append(t("concl_phase_detected"))
    elif phase == "assessing":
        if incident.status is S.declared:
            lead.append(t("concl_phase_declared", at=at(incident.declared_at)))
        else:
            lead.append(t("concl_phase_assessing", who=incident.acknowledged_by or incident.assignee or "—"))
    elif phase == "contained":
        lead.append(t("concl_phase_contained", at=at(incident.contained_at)))
    elif phase == "recovered":
        lead.append(t("concl_phase_recovered", at=at(incident.resolved_at)))
    elif incident.status is S.false_positive:
        lead.append(t("concl_phase_false_positive", at=at(incident.closed_at)))
    elif incident.status is S.duplicate:
        lead.append(t("concl_phase_duplicate", at=at(incident.closed_at), of=incident.duplicate_of or "—"))
    else:
        lead.append(t("concl_phase_closed", at=at(incident.closed_at)))
    if phase == "closed" and incident.resolution and incident.resolution.strip():
        lead.append(t("concl_closed_resolution", why=incident.resolution.strip()))

    known: list[str] = []
    for inst in incident.steps:
        if inst.choice is None:
            continue
        c = inst.choice
        text = t(
            "concl_decided",
            at=at(c.at),
            by=c.by,
            step=inst.title(lang),
            option=option_label(playbook, inst.step_id, c.option, lang),
        )
        known.append(text + (t("concl_because", why=c.comment) if c.comment.strip() else t("concl_period")))
    if incident.personal_data_confirmed:
        known.append(t("concl_personal_confirmed"))
    if incident.resident_service_outage:
        known.append(t("concl_outage"))
    if incident.malicious_act:
        known.append(t("concl_malicious"))

    unknown: list[str] = []
    if phase in ("detected", "assessing"):
        for inst in incident.steps:
            defn = playbook.find_step(inst.step_id) if playbook is not None else None
            if isinstance(defn, DecisionStep) and inst.status not in (StepStatus.done, StepStatus.skipped):
                unknown.append(t("concl_open_question", step=inst.title(lang)))
        if incident.personal_data_possible and not incident.personal_data_confirmed:
            unknown.append(t("concl_personal_possible"))

    done: list[str] = []
    contain = [s for s in incident.steps if s.phase == "contain" and s.status is StepStatus.done and s.kind == "task"]
    for s in contain:
        done.append(t("concl_step_done", step=s.title(lang), at=at(s.done_at), by=_doer(incident, s.step_id)))
    for s in incident.steps:  # a step a person chose to skip is an outcome too (a branch not taken is not)
        if s.status is StepStatus.skipped and s.skipped_by is not None:
            why = s.notes[-1].text if s.notes else "—"
            done.append(t("concl_step_skipped", step=s.title(lang), at=at(s.done_at), by=s.skipped_by, why=why))
    evidence = sum(len(s.evidence) for s in incident.steps)
    if evidence:
        done.append(t("concl_evidence", n=evidence))

    def said(key: str, kind: str, **params: str) -> str:
        """The sentence for one report; a kind whose label does not fit the general
        sentence (「個人情報保護委員会：速報へ報告」) has its own."""
        return t(f"{key}_{kind}", **params) if t.has(f"{key}_{kind}") else t(key, **params)

    for o in incident.obligations:
        if o.status is ObligationStatus.sent:
            ref = t("concl_reference", ref=o.reference) if o.reference else ""
            done.append(said("concl_sent", o.kind, label=o.label(lang), at=at(o.sent_at), ref=ref))
        elif o.status is ObligationStatus.not_required:
            done.append(said("concl_not_required", o.kind, label=o.label(lang)))

    due: list[str] = []
    for o in incident.obligations:
        if o.status is not ObligationStatus.pending:
            continue
        if o.due_at is not None:
            due.append(said("concl_due", o.kind, label=o.label(lang), due=at(o.due_at)))
        elif not _fixed_deadline(o.kind):  # residents, police, vendors: the rule, never a clock
            due.append(t("concl_due_rule", label=o.label(lang), rule=o.rule(lang)))
        elif incident.aware_at is None:
            due.append(said("concl_due_on_awareness", o.kind, label=o.label(lang)))
    lead_text = ("" if lang == "ja" else " ").join(lead)
    return ConclusionView(phase=t(f"concl_phase_name_{phase}"), phase_key=phase, lead=lead, lead_text=lead_text,
                          known=known, unknown=unknown, done=done, due=due)  # fmt: skip


def _fixed_deadline(kind: str) -> bool:
    """Whether the obligation tracker's rule counts a deadline from awareness."""
    try:
        return RULES[ObligationKind(kind)].within is not None
    except ValueError:
        return False


def _doer(incident: Incident, step_id: str) -> str:
    """Who completed a step, from the audit trail (the last completion of it)."""
    actors = [e.actor for e in incident.audit if e.action == "step-done" and e.detail == step_id]
    return actors[-1] if actors else "—"


def holders(
    incident: Incident, playbook: Playbook | None, t: Translator, role: Callable[[str | None], str]
) -> HoldersView:
    """The handler assigned, the escalation tier reached and who decides (never the tier as a person)."""
    decider = "—"
    if playbook is not None:
        for inst in incident.steps:
            defn = playbook.find_step(inst.step_id)
            if not isinstance(defn, ApprovalStep):
                continue
            if inst.choice is not None:
                decider = t("holder_decided_by", who=inst.choice.by, role=role(defn.owner))
            elif inst.status not in (StepStatus.done, StepStatus.skipped):
                decider = role(defn.owner)
                break
    return HoldersView(
        handler=incident.assignee or t("holder_unassigned"),
        tier=role(incident.tier),
        decider=decider,
    )
