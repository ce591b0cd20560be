"""Working incidents: the commands of the CSIRT workflow and the deadline check.

Every change reads the incident with its version, applies a pure change, appends an
audit entry and writes it back only if nobody changed it meanwhile (optimistic
concurrency; a conflict re-reads and re-applies). The audit trail is append-only:
a write that would drop or alter an entry is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from soc.alerts.models import Alert
from soc.context import AppContext
from soc.errors import NotFound, SocError
from soc.es.versioned import retry_conflicts
from soc.incidents.deadlines import evaluate
from soc.incidents.lifecycle import check_transition, with_audit
from soc.incidents.models import (
    EscalationEvent,
    Evidence,
    Incident,
    IncidentStatus,
    Note,
    ObligationStatus,
    StepInstance,
    StepStatus,
)
from soc.incidents.obligations import with_obligations
from soc.incidents.service import EscalationResult, escalate, rescore, start_workflow
from soc.incidents.steps import StepError, choose, complete, instantiate, skip
from soc.incidents.store import IncidentStore, Versioned
from soc.playbooks.loader import find_playbook
from soc.playbooks.models import Playbook
from soc.vocab import Bilingual, Severity

__all__ = ["Workflow", "check_deadlines"]

_ATTEMPTS = 5
S = IncidentStatus


class Workflow:
    """The incident commands (``soc incidents ...``) and ``check_deadlines`` for the scheduler."""

    def __init__(self, ctx: AppContext, *, playbooks: Sequence[Playbook]) -> None:
        self.ctx = ctx
        self.playbooks = list(playbooks)
        self.store = IncidentStore(ctx.es)

    # -- plumbing --------------------------------------------------------------
    def _playbook(self, incident: Incident) -> Playbook | None:
        return next((p for p in self.playbooks if p.id == incident.playbook_id), None)

    def _needs_playbook(self, incident: Incident) -> Playbook:
        playbook = self._playbook(incident)
        if playbook is None:
            raise StepError(f"{incident.id} follows no loaded playbook ({incident.playbook_id or 'none'})")
        return playbook

    def _mutate(self, incident_id: str, change: Callable[[Incident, datetime], Incident]) -> Incident:
        def attempt(_n: int) -> Incident:
            incident, seq_no, term = self.store.get_versioned(incident_id)
            now = self.ctx.clock.now()
            updated = change(incident, now)
            if updated.audit[: len(incident.audit)] != incident.audit:
                raise SocError(f"the audit trail of {incident_id} is append-only", object_id=incident_id)
            self.store.save(updated, seq_no=seq_no, primary_term=term)
            return updated

        return retry_conflicts(attempt, what=f"change {incident_id}", attempts=_ATTEMPTS)

    # -- opening -------------------------------------------------------------------
    def open_from_alerts(self, alerts: Sequence[Alert]) -> EscalationResult:
        """Alerts at or above the escalation floor open or join incidents (see ``escalate``)."""
        return escalate(self.ctx, alerts, playbooks=self.playbooks)

    def open_manual(
        self,
        *,
        title: Bilingual,
        actor: str,
        playbook_id: str | None = None,
        severity: Severity = Severity.medium,
        risk_score: float = 50,
        segments: Sequence[str] = (),
        personal_data: bool = False,
        reason: str = "",
    ) -> Incident:
        """An incident reported by a person (a misdelivered letter, a lost USB stick)."""
        playbook = find_playbook(self.playbooks, playbook_id) if playbook_id else None
        now = self.ctx.clock.now()
        day = now.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y%m%d")
        incident = Incident(
            id=f"INC-{day}-m{uuid.uuid4().hex[:6]}",
            title=title,
            severity=severity,
            risk_score=risk_score,
            entities={},
            entity_values=[],
            segments=sorted(segments),
            alert_ids=[],
            detectors=[],
            detected_at=now,
            aware_at=now,  # a person reported it: the city is aware now
            first_activity=now,
            last_activity=now,
            opened_at=now,
            updated_at=now,
            playbook_id=playbook.id if playbook else None,
            playbook_version=playbook.version if playbook else None,
            steps=instantiate(playbook, now, aware_at=now) if playbook else [],
            personal_data_possible=personal_data,
            source="manual",
        )
        opened = with_audit(
            start_workflow(incident, playbook, now), at=now, actor=actor, action="open",
            detail=f"manual; playbook {playbook.id if playbook else '-'}", reason=reason,
        )  # fmt: skip
        if not self.store.create(opened):
            raise SocError(f"incident {opened.id} exists already; try again", object_id=opened.id)
        return opened

    # -- people's commands -------------------------------------------------------
    def acknowledge(self, incident_id: str, *, actor: str, step_id: str | None = None) -> Incident:
        """Take the incident (a new one moves to triage) or one ready step (it moves in progress)."""

        def change(i: Incident, now: datetime) -> Incident:
            if step_id is None:
                if i.acknowledged_at is not None:
                    return i
                i = i.model_copy(
                    update={"acknowledged_at": now, "acknowledged_by": actor, "assignee": i.assignee or actor}
                )
                i = with_audit(i, at=now, actor=actor, action="ack")
                if i.status is S.new:
                    i = self._apply_transition(i, S.triage, now, actor=actor, reason="acknowledged")
                return i
            inst = i.step(step_id)
            if inst is None or inst.ready_at is None or inst.status not in (StepStatus.pending, StepStatus.in_progress):
                raise StepError(f"step {step_id!r} of {i.id} is not ready to be acknowledged", object_id=i.id)
            upd = {"acknowledged_at": inst.acknowledged_at or now, "acknowledged_by": inst.acknowledged_by or actor,
                   "status": StepStatus.in_progress, "assignees": inst.assignees or [actor]}  # fmt: skip
            steps = [s.model_copy(update=upd) if s.step_id == step_id else s for s in i.steps]
            return with_audit(
                i.model_copy(update={"steps": steps}), at=now, actor=actor, action="step-ack", detail=step_id
            )

        return self._mutate(incident_id, change)

    def assign(self, incident_id: str, assignee: str, *, actor: str, step_id: str | None = None) -> Incident:
        def change(i: Incident, now: datetime) -> Incident:
            if step_id is None:
                i = i.model_copy(update={"assignee": assignee})
            else:
                if i.step(step_id) is None:
                    raise StepError(f"{i.id} has no step {step_id!r}", object_id=i.id)
                steps = [
                    s.model_copy(update={"assignees": sorted({*s.assignees, assignee})}) if s.step_id == step_id else s
                    for s in i.steps
                ]
                i = i.model_copy(update={"steps": steps})
            return with_audit(i, at=now, actor=actor, action="assign", detail=f"{step_id or 'incident'} -> {assignee}")

        return self._mutate(incident_id, change)

    def complete_step(
        self, incident_id: str, step_id: str, *, actor: str, note: str = "", evidence: Sequence[str] = ()
    ) -> Incident:
        def change(i: Incident, now: datetime) -> Incident:
            steps = complete(self._needs_playbook(i), i, step_id, now)
            steps = _annotate(steps, step_id, actor, now, note=note, evidence=evidence)
            return with_audit(i.model_copy(update={"steps": steps}), at=now, actor=actor, action="step-done",
                              detail=step_id, reason=note)  # fmt: skip

        return self._mutate(incident_id, change)

    def skip_step(self, incident_id: str, step_id: str, *, actor: str, reason: str) -> Incident:
        if not reason.strip():
            raise StepError("say why the step is skipped (--reason)")

        def change(i: Incident, now: datetime) -> Incident:
            steps = _annotate(
                skip(self._needs_playbook(i), i, step_id, now, actor=actor), step_id, actor, now, note=reason
            )
            return with_audit(i.model_copy(update={"steps": steps}), at=now, actor=actor, action="step-skip",
                              detail=step_id, reason=reason)  # fmt: skip

        return self._mutate(incident_id, change)

    def decide(self, incident_id: str, step_id: str, option: str, *, actor: str, comment: str = "") -> Incident:
        def change(i: Incident, now: datetime) -> Incident:
            steps = choose(self._needs_playbook(i), i, step_id, option, now, actor=actor, comment=comment)
            return with_audit(i.model_copy(update={"steps": steps}), at=now, actor=actor, action="decide",
                              detail=f"{step_id} = {option}", reason=comment)  # fmt: skip

        return self._mutate(incident_id, change)

    def note(self, incident_id: str, text: str, *, actor: str, step_id: str | None = None) -> Incident:
        def change(i: Incident, now: datetime) -> Incident:
            if step_id is not None:
                if i.step(step_id) is None:
                    raise StepError(f"{i.id} has no step {step_id!r}", object_id=i.id)
                i = i.model_copy(update={"steps": _annotate(i.steps, step_id, actor, now, note=text)})
            return with_audit(i, at=now, actor=actor, action="note", detail=step_id or "incident", reason=text)

        return self._mutate(incident_id, change)

    def transition(
        self, incident_id: str, to: IncidentStatus | str, *, actor: str, reason: str, aware_at: datetime | None = None,
        duplicate_of: str | None = None,
    ) -> Incident:  # fmt: skip
        wanted = IncidentStatus(to)

        def change(i: Incident, now: datetime) -> Incident:
            if aware_at is not None and i.aware_at is None:
                i = i.model_copy(update={"aware_at": aware_at})
            if duplicate_of is not None:
                i = i.model_copy(update={"duplicate_of": duplicate_of})
            return self._apply_transition(i, wanted, now, actor=actor, reason=reason)

        return self._mutate(incident_id, change)

    def close(self, incident_id: str, *, actor: str, reason: str) -> Incident:
        return self.transition(incident_id, S.closed, actor=actor, reason=reason)

    def set_impact(
        self, incident_id: str, *, actor: str, reason: str, personal_data_confirmed: bool | None = None,
        resident_service_outage: bool | None = None, malicious_act: bool | None = None,
    ) -> Incident:  # fmt: skip
        """Record what triage found; priority floors and the reporting track follow."""
        facts = {
            k: v
            for k, v in {
                "personal_data_confirmed": personal_data_confirmed,
                "resident_service_outage": resident_service_outage,
                "malicious_act": malicious_act,
            }.items()
            if v is not None
        }

        def change(i: Incident, now: datetime) -> Incident:
            before = i.priority
            i = rescore(i.model_copy(update=facts), self._playbook(i))
            detail = (
                ", ".join(f"{k}={v}" for k, v in facts.items()) + f"; priority {before.value} -> {i.priority.value}"
            )
            return with_audit(i, at=now, actor=actor, action="impact", detail=detail, reason=reason)

        return self._mutate(incident_id, change)

    def update_obligation(
        self, incident_id: str, kind: str, *, actor: str, status: ObligationStatus | str,
        sent_at: datetime | None = None, reference: str | None = None,
    ) -> Incident:  # fmt: skip
        new_status = ObligationStatus(status)

        def change(i: Incident, now: datetime) -> Incident:
            if not any(o.kind == kind for o in i.obligations):
                known = ", ".join(o.kind for o in i.obligations) or "none"
                raise NotFound(f"{i.id} has no reporting obligation {kind!r}", hint=f"tracked: {known}")
            sent = (sent_at or now) if new_status is ObligationStatus.sent else None
            obligations = [
                o.model_copy(update={"status": new_status, "sent_at": sent, "reference": reference or o.reference,
                                     "updated_by": actor}) if o.kind == kind else o
                for o in i.obligations
            ]  # fmt: skip
            i = i.model_copy(update={"obligations": obligations})
            return with_audit(i, at=now, actor=actor, action="obligation", detail=f"{kind} -> {new_status.value}",
                              reason=reference or "")  # fmt: skip

        return self._mutate(incident_id, change)

    def check_deadlines(self, now: datetime | None = None) -> list[EscalationEvent]:
        return check_deadlines(self.ctx, now, playbooks=self.playbooks)

    # -- transitions -----------------------------------------------------------------
    def _apply_transition(
        self, i: Incident, wanted: IncidentStatus, now: datetime, *, actor: str, reason: str
    ) -> Incident:
        check_transition(i.id, i.status, wanted)
        if wanted is S.closed:
            pending = [o.kind for o in i.obligations if o.status is ObligationStatus.pending]
            if pending:
                raise SocError(
                    f"cannot close {i.id}: reporting obligations still pending: {', '.join(pending)}",
                    object_id=i.id,
                    hint="mark each sent or not-required with 'soc incidents obligation'",
                )
        update: dict[str, object] = {"status": wanted}
        if wanted in (S.declared, S.false_positive, S.duplicate) and i.triaged_at is None:
            update["triaged_at"] = now
        if wanted is S.declared:
            update |= {"declared_at": now, "aware_at": i.aware_at or now}
        stamp = {S.contained: "contained_at", S.recovered: "resolved_at", S.closed: "closed_at"}
        if wanted in stamp:
            update[stamp[wanted]] = now
        if wanted in (S.false_positive, S.duplicate):
            update |= {"closed_at": now, "resolution": wanted.value}
        if wanted is S.triage and i.status in (S.false_positive, S.duplicate):
            update |= {"closed_at": None, "resolution": None}
        if wanted is S.closed:
            update["resolution"] = reason
        moved = i.model_copy(update=update)
        moved = moved.model_copy(update={"obligations": with_obligations(moved)})
        return with_audit(moved, at=now, actor=actor, action="transition",
                          detail=f"{i.status.value} -> {wanted.value}", reason=reason)  # fmt: skip


def _annotate(
    steps: list[StepInstance],
    step_id: str,
    actor: str,
    now: datetime,
    *,
    note: str = "",
    evidence: Sequence[str] = (),
) -> list[StepInstance]:
    out = []
    for s in steps:
        if s.step_id == step_id:
            notes = [*s.notes, Note(text=note, by=actor, at=now)] if note else s.notes
            links = [*s.evidence, *(Evidence(uri=u, by=actor, at=now) for u in evidence)]
            s = s.model_copy(update={"notes": notes, "evidence": links})
        out.append(s)
    return out


def check_deadlines(
    ctx: AppContext, now: datetime | None = None, *, playbooks: Sequence[Playbook]
) -> list[EscalationEvent]:
    """Mark SLA states and breaches of every open incident; return the escalations raised *now*.

    Idempotent and safe across restarts: raised escalations are stored on the incident and
    never raised again; a write conflict re-reads and re-evaluates the incident.
    """
    when = now or ctx.clock.now()
    store = IncidentStore(ctx.es)
    by_id = {p.id: p for p in playbooks}
    events: list[EscalationEvent] = []
    for listed in store.list_open():

        def attempt(n: int, listed: Versioned = listed) -> list[EscalationEvent]:
            incident, seq_no, term = listed if n == 0 else store.get_versioned(listed[0].id)
            updated, new = evaluate(incident, when, playbook=by_id.get(incident.playbook_id or ""))
            if updated != incident:
                store.save(updated, seq_no=seq_no, primary_term=term)
            return new if updated != incident else []

        events += retry_conflicts(attempt, what=f"deadlines of {listed[0].id}", attempts=_ATTEMPTS)
    return events
