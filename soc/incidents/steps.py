"""Pure step logic: instances of a playbook's steps, readiness along the graph, due times.

A step becomes *ready* when every edge into it is resolved (its source is done or
skipped) and at least one of them is *live* (the source was done — or skipped by a
person — and, for a decision, the chosen option leads here). When all its edges are
resolved and none is live, the step is on a branch not taken and is skipped
automatically. Parallel and end steps complete as soon as they are ready.

Due times follow the graph, not the file: a ready step is due ``ready_at + sla.due``;
a step not ready yet is planned from the latest planned finish of its predecessors
(so a join after two parallel branches waits for the longer one).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from soc.errors import SocError
from soc.incidents.lifecycle import tier_above
from soc.incidents.models import Choice, Incident, SlaState, StepInstance, StepStatus
from soc.playbooks.graph import predecessors, topological_order
from soc.playbooks.models import AnyStep, ApprovalStep, DecisionStep, Playbook, WaitStep

__all__ = [
    "AT_RISK_SHARE",
    "StepError",
    "advance",
    "choose",
    "chosen_options",
    "complete",
    "instantiate",
    "skip",
    "sla_state",
]

AT_RISK_SHARE = 0.25  # a step is at risk in the last quarter of its time


class StepError(SocError):
    """A step command that does not fit the step's kind or state."""


def _duration(step: AnyStep) -> timedelta:
    if isinstance(step, WaitStep):
        return step.wait
    sla = getattr(step, "sla", None)
    return sla.due if sla is not None else timedelta(0)


def instantiate(playbook: Playbook, now: datetime, *, aware_at: datetime | None = None) -> list[StepInstance]:
    steps = [
        StepInstance(
            step_id=s.id,
            kind=s.kind,
            phase=getattr(s, "phase", None),
            owner=getattr(s, "owner", None),
            title=s.title,
            due_at=None,
            evidence_required=list(getattr(s, "evidence", [])),
        )
        for s in playbook.steps
    ]
    return advance(playbook, steps, now, aware_at=aware_at)


def _index(steps: list[StepInstance]) -> dict[str, StepInstance]:
    return {s.step_id: s for s in steps}


def _live(source: StepInstance, option: str | None) -> bool:
    if source.status is StepStatus.done:
        return option is None or (source.choice is not None and source.choice.option == option)
    return source.status is StepStatus.skipped and source.skipped_by is not None and option is None


def _make_ready(defn: AnyStep, inst: StepInstance, now: datetime, aware_at: datetime | None) -> StepInstance:
    due = now + _duration(defn)
    if isinstance(defn, WaitStep) and defn.counted_from == "aware_at" and aware_at is not None:
        due = max(now, aware_at + defn.wait)
    update: dict[str, object] = {"ready_at": now, "due_at": due}
    sla = getattr(defn, "sla", None)
    if sla is not None:
        update["ack_due_at"] = now + sla.acknowledge if sla.acknowledge else None
        update["escalate_at"] = now + sla.escalate_after if sla.escalate_after else None
        update["escalate_to"] = sla.escalate_to or tier_above(getattr(defn, "owner", None))
    if defn.kind in ("parallel", "end"):
        update |= {"status": StepStatus.done, "done_at": now, "due_at": None}
    return inst.model_copy(update=update)


def advance(
    playbook: Playbook, steps: list[StepInstance], now: datetime, *, aware_at: datetime | None = None
) -> list[StepInstance]:
    """Mark newly ready steps (and skip branches not taken) until nothing changes; re-plan dues."""
    by_id = _index(steps)
    incoming = predecessors(playbook)
    order = topological_order(playbook)
    changed = True
    while changed:
        changed = False
        for step_id in order:
            inst = by_id[step_id]
            if inst.status is not StepStatus.pending or inst.ready_at is not None:
                continue
            edges = incoming[step_id]
            if edges and not all(by_id[e.source].status in (StepStatus.done, StepStatus.skipped) for e in edges):
                continue
            if not edges or any(_live(by_id[e.source], e.option) for e in edges):
                by_id[step_id] = _make_ready(playbook.step(step_id), inst, now, aware_at)
            else:
                by_id[step_id] = inst.model_copy(update={"status": StepStatus.skipped, "due_at": None})
            changed = True
    planned = _plan(playbook, by_id, now, aware_at)
    return [planned[s.id] for s in playbook.steps]


def _plan(
    playbook: Playbook, by_id: dict[str, StepInstance], now: datetime, aware_at: datetime | None
) -> dict[str, StepInstance]:
    """Planned due times of steps not ready yet: the latest planned finish of their predecessors."""
    incoming = predecessors(playbook)
    finish: dict[str, datetime] = {}
    out = dict(by_id)
    for step_id in topological_order(playbook):
        inst = out[step_id]
        if inst.status is StepStatus.skipped:
            continue
        if inst.status is StepStatus.done:
            finish[step_id] = inst.done_at or now
            continue
        if inst.ready_at is not None:
            finish[step_id] = inst.due_at or inst.ready_at
            continue
        starts = [finish[e.source] for e in incoming[step_id] if e.source in finish]
        start = max(starts, default=now)
        defn = playbook.step(step_id)
        due = start + _duration(defn)
        if isinstance(defn, WaitStep) and defn.counted_from == "aware_at" and aware_at is not None:
            due = max(start, aware_at + defn.wait)
        finish[step_id] = due
        out[step_id] = inst.model_copy(update={"due_at": None if defn.kind in ("parallel", "end") else due})
    return out


def _active(incident: Incident, step_id: str) -> StepInstance:
    inst = incident.step(step_id)
    if inst is None:
        known = ", ".join(s.step_id for s in incident.steps)
        raise StepError(f"{incident.id} has no step {step_id!r}", object_id=incident.id, hint=f"steps: {known}")
    if inst.status in (StepStatus.done, StepStatus.skipped):
        raise StepError(f"step {step_id!r} of {incident.id} is already {inst.status.value}", object_id=incident.id)
    if inst.ready_at is None:
        raise StepError(
            f"step {step_id!r} of {incident.id} is not ready: the steps before it are not done",
            object_id=incident.id,
            hint="finish or skip the earlier steps first ('soc incidents show')",
        )
    return inst


def chosen_options(incident: Incident) -> dict[str, str]:
    """Step id -> the option chosen there, for every decision taken so far."""
    return {s.step_id: s.choice.option for s in incident.steps if s.choice is not None}


def _replace(incident: Incident, inst: StepInstance) -> list[StepInstance]:
    return [inst if s.step_id == inst.step_id else s for s in incident.steps]


def _missed(inst: StepInstance, now: datetime) -> dict[str, object]:
    if inst.due_at is not None and now > inst.due_at:
        return {"sla": SlaState.breached, "breached_at": inst.breached_at or inst.due_at}
    return {}


def complete(playbook: Playbook, incident: Incident, step_id: str, now: datetime) -> list[StepInstance]:
    inst = _active(incident, step_id)
    if isinstance(playbook.step(step_id), DecisionStep | ApprovalStep):
        raise StepError(
            f"step {step_id!r} is a {inst.kind}: record the choice with 'soc incidents decide'", object_id=incident.id
        )
    done = inst.model_copy(update={"status": StepStatus.done, "done_at": now, **_missed(inst, now)})
    return advance(playbook, _replace(incident, done), now, aware_at=incident.aware_at)


def skip(playbook: Playbook, incident: Incident, step_id: str, now: datetime, *, actor: str) -> list[StepInstance]:
    inst = _active(incident, step_id)
    if isinstance(playbook.step(step_id), DecisionStep | ApprovalStep):
        raise StepError(f"step {step_id!r} is a {inst.kind} and cannot be skipped: decide it", object_id=incident.id)
    skipped = inst.model_copy(update={"status": StepStatus.skipped, "done_at": now, "skipped_by": actor})
    return advance(playbook, _replace(incident, skipped), now, aware_at=incident.aware_at)


def choose(
    playbook: Playbook, incident: Incident, step_id: str, option: str, now: datetime, *, actor: str, comment: str
) -> list[StepInstance]:
    inst = _active(incident, step_id)
    defn = playbook.step(step_id)
    if not isinstance(defn, DecisionStep | ApprovalStep):
        raise StepError(f"step {step_id!r} is a {inst.kind}, not a decision or approval", object_id=incident.id)
    ids = [o.id for o in defn.options]
    if option not in ids:
        raise StepError(f"{option!r} is not an option of step {step_id!r}; options: {', '.join(ids)}")
    choice = Choice(
        option=option,
        by=actor,
        at=now,
        comment=comment,
        recommended=defn.recommendation_for(chosen_options(incident)) if isinstance(defn, ApprovalStep) else None,
    )
    done = inst.model_copy(update={"status": StepStatus.done, "done_at": now, "choice": choice, **_missed(inst, now)})
    return advance(playbook, _replace(incident, done), now, aware_at=incident.aware_at)


def sla_state(inst: StepInstance, now: datetime) -> SlaState:
    """on_track / at_risk (last quarter of its time) / breached; finished steps keep theirs."""
    if inst.breached_at is not None:
        return SlaState.breached
    if inst.status in (StepStatus.done, StepStatus.skipped) or inst.ready_at is None or inst.due_at is None:
        return inst.sla
    if now > inst.due_at:
        return SlaState.breached
    if now >= inst.due_at - (inst.due_at - inst.ready_at) * AT_RISK_SHARE:
        return SlaState.at_risk
    return SlaState.on_track
