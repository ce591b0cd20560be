"""Pure deadline evaluation: mark SLA states and breaches, raise each escalation once.

``evaluate(incident, now)`` returns the changed incident and the escalation events that
are *new*: an event's id is deterministic (incident, kind, subject) and every raised
event is kept in ``incident.escalations``, so evaluating again — or after a restart,
from the stored incident — raises nothing twice.
"""

from __future__ import annotations

from datetime import datetime

from soc.incidents.lifecycle import tier_above, with_audit
from soc.incidents.models import (
    TIERS,
    EscalationEvent,
    Incident,
    ObligationStatus,
    SlaState,
    StepInstance,
    StepStatus,
)
from soc.incidents.steps import advance, sla_state
from soc.playbooks.models import Playbook
from soc.vocab import Bilingual

__all__ = ["ACTOR", "evaluate"]

ACTOR = "soc-deadlines"


def _event(
    incident: Incident, kind: str, subject: str, *, to_role: str, from_role: str | None, deadline: datetime,
    now: datetime, en: str, ja: str,
) -> EscalationEvent:  # fmt: skip
    return EscalationEvent(
        id=f"{incident.id}:{kind}:{subject}",
        incident_id=incident.id,
        kind=kind,
        subject=subject,
        to_role=to_role,
        from_role=from_role,
        priority=incident.priority,
        deadline=deadline,
        at=now,
        message=Bilingual(en=en, ja=ja),
    )


def _step_events(incident: Incident, inst: StepInstance, now: datetime) -> list[EscalationEvent]:
    out = []
    title_en, title_ja = inst.title.en, inst.title.ja
    to = inst.escalate_to or tier_above(inst.owner)
    if inst.ack_due_at and inst.acknowledged_at is None and now > inst.ack_due_at:
        out.append(_event(
            incident, "step-ack-overdue", inst.step_id, to_role=to, from_role=inst.owner, deadline=inst.ack_due_at,
            now=now, en=f"{incident.id}: nobody acknowledged step '{title_en}'",
            ja=f"{incident.id}：手順「{title_ja}」の受付がされていません",
        ))  # fmt: skip
    if inst.escalate_at and now > inst.escalate_at:
        out.append(_event(
            incident, "step-escalation", inst.step_id, to_role=to, from_role=inst.owner, deadline=inst.escalate_at,
            now=now, en=f"{incident.id}: step '{title_en}' is not done; escalated",
            ja=f"{incident.id}：手順「{title_ja}」が完了していないためエスカレーションします",
        ))  # fmt: skip
    if inst.due_at and now > inst.due_at:
        out.append(_event(
            incident, "step-breached", inst.step_id, to_role=tier_above(to), from_role=to, deadline=inst.due_at,
            now=now, en=f"{incident.id}: step '{title_en}' missed its deadline",
            ja=f"{incident.id}：手順「{title_ja}」が期限を超過しました",
        ))  # fmt: skip
    return out


def _candidates(incident: Incident, now: datetime) -> list[EscalationEvent]:
    events: list[EscalationEvent] = []
    if incident.is_open and incident.acknowledged_at is None and incident.ack_due_at and now > incident.ack_due_at:
        events.append(_event(
            incident, "incident-ack-overdue", "incident", to_role=tier_above(incident.tier), from_role=incident.tier,
            deadline=incident.ack_due_at, now=now,
            en=f"{incident.id} ({incident.priority.value}) has not been acknowledged",
            ja=f"{incident.id}（{incident.priority.value}）が受付されていません",
        ))  # fmt: skip
    if incident.is_open:
        for inst in incident.steps:
            if inst.ready_at is not None and inst.status in (StepStatus.pending, StepStatus.in_progress):
                events += _step_events(incident, inst, now)
    for ob in incident.obligations:
        if ob.status is ObligationStatus.pending and ob.due_at and now > ob.due_at:
            events.append(_event(
                incident, "obligation-overdue", ob.kind, to_role="ciso", from_role=incident.tier, deadline=ob.due_at,
                now=now, en=f"{incident.id}: report to {ob.label.en} is overdue",
                ja=f"{incident.id}：{ob.label.ja}への報告期限を過ぎています",
            ))  # fmt: skip
    return events


def _mark(incident: Incident, now: datetime, playbook: Playbook | None) -> Incident:
    """SLA states, breaches, finished waits and overdue obligations (idempotent)."""
    steps = []
    waits_done = False
    for inst in incident.steps:
        active = inst.ready_at is not None and inst.status in (StepStatus.pending, StepStatus.in_progress)
        if active and inst.kind == "wait" and inst.due_at and now >= inst.due_at:
            inst = inst.model_copy(update={"status": StepStatus.done, "done_at": inst.due_at})
            waits_done = True
        elif active:
            state = sla_state(inst, now)
            update: dict[str, object] = {"sla": state}
            if state is SlaState.breached and inst.breached_at is None:
                update["breached_at"] = inst.due_at
            inst = inst.model_copy(update=update)
        steps.append(inst)
    if waits_done and playbook is not None:
        steps = advance(playbook, steps, now, aware_at=incident.aware_at)
    obligations = [
        o.model_copy(update={"overdue_at": now})
        if o.status is ObligationStatus.pending and o.due_at and now > o.due_at and o.overdue_at is None
        else o
        for o in incident.obligations
    ]
    return incident.model_copy(update={"steps": steps, "obligations": obligations})


def evaluate(
    incident: Incident, now: datetime, *, playbook: Playbook | None = None
) -> tuple[Incident, list[EscalationEvent]]:
    marked = _mark(incident, now, playbook)
    seen = {e.id for e in incident.escalations}
    new = [e for e in _candidates(marked, now) if e.id not in seen]
    if marked == incident and not new:
        return incident, []
    tier = marked.tier
    for e in new:
        if e.to_role in TIERS and tier in TIERS and TIERS.index(e.to_role) > TIERS.index(tier):
            tier = e.to_role
        marked = with_audit(
            marked, at=now, actor=ACTOR, action="escalate", detail=f"{e.kind} {e.subject} -> {e.to_role}",
            reason=f"deadline {e.deadline.isoformat()} passed",
        )  # fmt: skip
    if marked.tier != tier:
        marked = with_audit(marked, at=now, actor=ACTOR, action="tier", detail=f"{marked.tier} -> {tier}")
    return marked.model_copy(update={"escalations": [*incident.escalations, *new], "tier": tier}), new
