"""Triage rules for alerts (the alert's counterpart of ``soc.incidents.lifecycle``). Pure.

``open`` → ``acknowledged`` → ``closed`` (with a reason), recording who and when. Closing an
open alert directly is allowed (a duplicate needs no acknowledgement); anything else out of
order is refused with the allowed next states.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from soc.alerts.models import Alert, AlertStatus, CloseReason
from soc.errors import SocError

__all__ = ["NEXT", "TriageError", "triaged", "with_incident"]


class TriageError(SocError):
    """An alert status change that the triage workflow does not allow."""


NEXT: dict[AlertStatus, frozenset[AlertStatus]] = {
    AlertStatus.open: frozenset({AlertStatus.acknowledged, AlertStatus.closed}),
    AlertStatus.acknowledged: frozenset({AlertStatus.closed}),
    AlertStatus.closed: frozenset(),
}


def triaged(
    alert: Alert,
    status: AlertStatus,
    *,
    by: str,
    now: datetime,
    reason: CloseReason | None = None,
    note: str | None = None,
) -> Alert:
    """*alert* moved to *status*, or ``TriageError`` naming the allowed next states."""
    allowed = NEXT[alert.status]
    if status not in allowed:
        names = ", ".join(sorted(s.value for s in allowed))
        raise TriageError(
            f"alert {alert.id} is {alert.status.value}; it cannot become {status.value}",
            hint=f"allowed next: {names or 'none (closed alerts stay closed)'}",
        )
    update: dict[str, Any] = {"status": status, "updated": now}
    if note:
        update["triage_note"] = note
    if status is AlertStatus.acknowledged:
        update |= {"acknowledged_by": by, "acknowledged_at": now}
    else:
        if reason is None:
            raise TriageError(
                "closing an alert needs a reason",
                field="--reason",
                hint=f"one of: {', '.join(r.value for r in CloseReason)}",
            )
        update |= {"closed_by": by, "closed_at": now, "close_reason": reason}
    return alert.model_copy(update=update)


def with_incident(alert: Alert, incident_id: str, *, now: datetime) -> Alert | None:
    """*alert* placed in *incident_id*, or None when it is there already."""
    if alert.incident_id == incident_id:
        return None
    return alert.model_copy(update={"incident_id": incident_id, "updated": now})
