"""The CSIRT desk: tells people about new incidents and breached deadlines, exactly once.

It joins the incident workflow (``check_deadlines`` raises each escalation once, stored
on the incident) to the notifier (one delivery record per event and destination, never
sent twice). The scheduler calls ``tick`` every minute; detection calls ``announce``
for the incidents it opened.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from soc.context import AppContext
from soc.incidents.models import EscalationEvent, Incident, Priority
from soc.incidents.store import IncidentStore
from soc.incidents.workflow import check_deadlines
from soc.notify.models import Delivery, Notification
from soc.notify.service import Notifier
from soc.playbooks.models import Playbook
from soc.vocab import Bilingual, Severity, iso

__all__ = ["CsirtDesk", "TickResult"]

_SEVERITY_OF = {Priority.P1: Severity.critical, Priority.P2: Severity.high, Priority.P3: Severity.medium}


@dataclass
class TickResult:
    escalations: list[EscalationEvent] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)


class CsirtDesk:
    def __init__(self, ctx: AppContext, *, playbooks: Sequence[Playbook], notifier: Notifier) -> None:
        self.ctx = ctx
        self.playbooks = list(playbooks)
        self.notifier = notifier
        self.incidents = IncidentStore(ctx.es)

    def announce(self, incident_ids: Iterable[str]) -> list[Delivery]:
        """A notification per newly opened incident (key ``<id>:opened``: sent once)."""
        deliveries: list[Delivery] = []
        for incident_id in incident_ids:
            deliveries += self.notifier.notify(self._opened(self.incidents.get(incident_id)))
        return deliveries

    def tick(self, now: datetime | None = None) -> TickResult:
        """Check every open incident's deadlines; notify each new escalation; retry failed deliveries."""
        result = TickResult()
        result.escalations = check_deadlines(self.ctx, now, playbooks=self.playbooks)
        for event in result.escalations:
            result.deliveries += self.notifier.notify(self._escalated(event))
        result.deliveries += self.notifier.retry_pending()
        return result

    @staticmethod
    def _opened(i: Incident) -> Notification:
        due = f" / acknowledge by {iso(i.ack_due_at)}" if i.ack_due_at else ""
        due_ja = f" / 受付期限 {iso(i.ack_due_at)}" if i.ack_due_at else ""
        return Notification(
            key=f"{i.id}:opened",
            severity=i.severity,
            incident_id=i.id,
            subject=Bilingual(
                en=f"[{i.priority.value}] New incident {i.id}: {i.title.en}",
                ja=f"[{i.priority.value}] インシデント発生 {i.id}: {i.title.ja}",
            ),
            body=Bilingual(
                en=f"{i.title.en}\nPriority {i.priority.value} ({'; '.join(i.priority_reasons) or 'risk score'}), "
                f"held by {i.tier}{due}.\nAlerts: {', '.join(i.alert_ids)}\nPlaybook: {i.playbook_id or '-'}",
                ja=f"{i.title.ja}\n優先度 {i.priority.value}、担当 {i.tier}{due_ja}\n"
                f"アラート: {', '.join(i.alert_ids)}\nプレイブック: {i.playbook_id or '-'}",
            ),
        )

    @staticmethod
    def _escalated(e: EscalationEvent) -> Notification:
        return Notification(
            key=e.id,
            severity=_SEVERITY_OF.get(e.priority, Severity.low),
            incident_id=e.incident_id,
            roles=(e.to_role,),
            subject=Bilingual(
                en=f"[{e.priority.value}] Escalation to {e.to_role}: {e.incident_id} {e.kind}",
                ja=f"[{e.priority.value}] エスカレーション（{e.to_role}）: {e.incident_id} {e.kind}",
            ),
            body=Bilingual(
                en=f"{e.message.en}\nDeadline {iso(e.deadline)}, raised {iso(e.at)}.",
                ja=f"{e.message.ja}\n期限 {iso(e.deadline)}、発生 {iso(e.at)}",
            ),
        )
