"""The console's changes, each one call into the services the CLI uses (``AlertStore.triage``,
``Workflow``), with the signed-in account as the actor recorded in the audit trail.

Closing an incident also closes its open alerts with the verdict the handler chose: the
rule lives in ``soc.incidents.service.close_incident``, shared with ``soc incidents close``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from soc.alerts.models import Alert, AlertStatus, CloseReason
from soc.alerts.store import AlertStore
from soc.context import AppContext
from soc.errors import SocError
from soc.incidents.models import Incident, ObligationStatus
from soc.incidents.service import close_incident
from soc.incidents.store import IncidentStore
from soc.incidents.workflow import Workflow

__all__ = ["BulkOutcome", "incident_action", "triage_alerts"]

INCIDENT_ACTIONS = ("ack", "assign", "complete", "skip", "decide", "note", "transition", "obligation", "close")


@dataclass
class BulkOutcome:
    done: list[Alert]
    failed: list[tuple[str, str]]  # (alert id, reason)


def triage_alerts(
    ctx: AppContext, ids: Iterable[str], action: str, *, by: str, reason: str = "", note: str = ""
) -> BulkOutcome:
    """Acknowledge or close (``action`` ``ack`` / ``close``) each alert; one failure does not stop the rest."""
    store = AlertStore(ctx.es)
    out = BulkOutcome(done=[], failed=[])
    if action not in ("ack", "close"):
        raise SocError(f"unknown alert action {action!r}", field="action", hint="use ack or close")
    verdict = None
    if action == "close":
        try:
            verdict = CloseReason(reason)
        except ValueError as exc:
            raise SocError(
                "closing needs a verdict", field="verdict", hint=f"one of {', '.join(r.value for r in CloseReason)}"
            ) from exc
    status = AlertStatus.closed if action == "close" else AlertStatus.acknowledged
    for alert_id in dict.fromkeys(ids):
        try:
            out.done.append(
                store.triage(alert_id, status, by=by, now=ctx.clock.now(), reason=verdict, note=note or None)
            )
        except SocError as exc:
            out.failed.append((alert_id, exc.render()))
    return out


def incident_action(
    ctx: AppContext, wf: Workflow, incident_id: str, action: str, form: dict[str, str], *, by: str
) -> Incident:
    """One CSIRT action from a form: the same Workflow call as ``soc incidents <action>``."""
    step = form.get("step") or None
    if action == "ack":
        return wf.acknowledge(incident_id, actor=by, step_id=step)
    if action == "assign":
        return wf.assign(incident_id, _need(form, "assignee"), actor=by, step_id=step)
    if action == "complete":
        evidence = [e.strip() for e in form.get("evidence", "").splitlines() if e.strip()]
        return wf.complete_step(
            incident_id, _need(form, "step"), actor=by, note=form.get("note", ""), evidence=evidence
        )
    if action == "skip":
        return wf.skip_step(incident_id, _need(form, "step"), actor=by, reason=_need(form, "reason"))
    if action == "decide":
        step_id, reason = _need(form, "step"), form.get("reason", "").strip()
        inst = IncidentStore(ctx.es).get(incident_id).step(step_id)
        if inst is not None and inst.kind == "approval" and not reason:
            raise SocError(
                "a decision asked of the CISO needs a reason (the audit trail and the next report edition show it)",
                field="reason",
            )
        return wf.decide(incident_id, step_id, _need(form, "option"), actor=by, comment=reason)
    if action == "note":
        return wf.note(incident_id, _need(form, "text"), actor=by, step_id=step)
    if action == "transition":
        return wf.transition(incident_id, _need(form, "to"), actor=by, reason=_need(form, "reason"))
    if action == "obligation":
        return wf.update_obligation(
            incident_id, _need(form, "kind"), actor=by, status=ObligationStatus(_need(form, "status")),
            reference=form.get("reference") or None,
        )  # fmt: skip
    if action == "close":
        verdict, reason = _need(form, "verdict"), _need(form, "reason")
        return close_incident(ctx, wf, incident_id, by=by, verdict=verdict, reason=reason).incident
    raise SocError(f"unknown incident action {action!r}", field="action", hint=f"one of {', '.join(INCIDENT_ACTIONS)}")


def _need(form: dict[str, str], name: str) -> str:
    value = (form.get(name) or "").strip()
    if not value:
        raise SocError(f"{name} is required", field=name)
    return value
