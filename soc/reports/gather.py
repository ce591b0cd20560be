"""Every read a report needs, in one place: the incident, its alerts and its edition
history for an incident report; alert and event figures, incidents and detector run
states for the SOC summary. Definitions (detectors, playbooks) are passed in, loaded once
by the caller (``soc.reports.service.load_definitions``). Everything else in
``soc.reports`` but the edition store and the service is pure.
"""

from __future__ import annotations

from datetime import datetime

from soc.alerts.store import AlertStore
from soc.context import AppContext
from soc.detection.state import RunStateStore
from soc.es.indices import event_index
from soc.incidents.store import IncidentStore
from soc.reports.inputs import Definitions, ReportInputs, SummaryInputs
from soc.reports.queries import alert_summary_query, event_health_query, previous_period_query, total_hits

__all__ = ["gather_incident", "gather_summary"]


def gather_incident(ctx: AppContext, incident_id: str, definitions: Definitions) -> ReportInputs:
    """The incident, its alerts (oldest first), its playbook and its detectors."""
    incident = IncidentStore(ctx.es).get(incident_id)
    alerts = sorted(AlertStore(ctx.es).search(ids=incident.alert_ids), key=lambda a: (a.created, a.id))
    playbook = definitions.playbook(incident.playbook_id)
    if incident.playbook_id and playbook is None:
        ctx.log.warning("report has no decision section: playbook %r not found", incident.playbook_id)
    elif playbook is not None and playbook.version != incident.playbook_version:
        ctx.log.warning(
            "incident %s follows playbook %s v%s; the decision is taken from v%s",
            incident.id,
            playbook.id,
            incident.playbook_version,
            playbook.version,
        )
    wanted = set(incident.detectors)
    return ReportInputs(
        incident=incident,
        alerts=alerts,
        playbook=playbook,
        detectors=[d for d in definitions.detectors if d.id in wanted],
    )


def _event_indices(ctx: AppContext) -> list[str]:
    found: list[str] = []
    for name in sorted(ctx.settings.datasets):
        found += ctx.settings.dataset_indices(name)
    found.append(event_index(ctx.es, "other"))
    return list(dict.fromkeys(found))


def gather_summary(ctx: AppContext, *, start: datetime, end: datetime, definitions: Definitions) -> SummaryInputs:
    """Every read the summary for [start, end) needs: alert and event figures, the previous
    period's alert count, the incidents and the detectors' run states."""
    tz = ctx.settings.tz
    alerts_index = AlertStore(ctx.es).index
    alert_answer = ctx.es.search(alerts_index, alert_summary_query(start, end, tz), action="summary: alert figures")
    event_answer = ctx.es.search(_event_indices(ctx), event_health_query(start, end, tz), action="summary: events")
    previous = ctx.es.search(alerts_index, previous_period_query(start, end), action="summary: previous period")
    return SummaryInputs(
        start=start,
        end=end,
        alert_answer=alert_answer,
        event_answer=event_answer,
        previous_alerts=total_hits(previous),
        incidents=list(IncidentStore(ctx.es).list(size=10_000)),
        run_states=RunStateStore(ctx.es).all(),
        detectors=list(definitions.detectors),
        playbooks=list(definitions.playbooks),
    )
