"""The CSIRT desk: tells people about new incidents and breached deadlines, exactly once.

It joins the incident workflow (``check_deadlines`` raises each escalation once, stored
on the incident) to the notifier (one delivery record per event and destination, never
sent twice). The scheduler calls ``tick`` every minute; detection calls ``announce``
for the incidents it opened.

An escalation is stored on its incident before it is sent, and an announcement may fail
after its incident was stored: ``tick`` therefore also sends what recent open incidents
should have sent but have no delivery record for (``catch_up``), so a crash or an outage
between the two delays a message but never loses it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from soc.context import AppContext
from soc.es.indices import deliveries_index, ensure_ready
from soc.incidents.models import EscalationEvent, Incident, Priority
from soc.incidents.store import IncidentStore
from soc.incidents.workflow import check_deadlines
from soc.notify.models import Delivery, Notification, delivery_id, routes_to
from soc.notify.service import AnyDestination, Notifier
from soc.playbooks.models import Playbook
from soc.vocab import Bilingual, Severity, iso

__all__ = ["CATCH_UP", "CsirtDesk", "TickResult"]

log = logging.getLogger("soc.csirt")

# how far back ``tick`` looks for announcements and escalations that were never sent
CATCH_UP = timedelta(days=1)

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
        """Check every open incident's deadlines; notify each new escalation; send what was
        left unsent; retry failed deliveries."""
        when = now or self.ctx.clock.now()
        result = TickResult()
        result.escalations = check_deadlines(self.ctx, when, playbooks=self.playbooks)
        for event in result.escalations:
            result.deliveries += self.notifier.notify(self._escalated(event))
        result.deliveries += self.catch_up(when, skip={e.id for e in result.escalations})
        result.deliveries += self.notifier.retry_pending()
        return result

    def catch_up(self, now: datetime, *, skip: Iterable[str] = (), within: timedelta = CATCH_UP) -> list[Delivery]:
        """Send the announcements and escalations of open incidents since ``now - within``
        to every routed destination that has no delivery record of them (keys in *skip*
        were just sent by the caller). One realtime multi-get finds the missing records."""
        since, done = now - within, set(skip)
        due: list[tuple[Notification, AnyDestination]] = []
        for incident, _seq_no, _term in self.incidents.list_open():
            wanted = [self._opened(incident)] if incident.opened_at >= since else []
            wanted += [self._escalated(e) for e in incident.escalations if e.at >= since]
            due += [(n, d) for n in wanted if n.key not in done for d in self.notifier.destinations if routes_to(d, n)]
        if not due:
            return []
        ensure_ready(self.ctx.es)
        recorded = self.ctx.es.mget(deliveries_index(self.ctx.es), [delivery_id(n.key, d.name) for n, d in due])
        missing: dict[str, tuple[Notification, list[AnyDestination]]] = {}
        for n, d in due:
            if delivery_id(n.key, d.name) not in recorded:
                missing.setdefault(n.key, (n, []))[1].append(d)
        deliveries: list[Delivery] = []
        for notification, destinations in missing.values():
            log.info("%s: never sent to %s; sending now", notification.key, ", ".join(d.name for d in destinations))
            deliveries += self.notifier.notify(notification, destinations=destinations)
        return deliveries

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
