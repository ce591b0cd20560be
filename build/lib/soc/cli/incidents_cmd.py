"""``soc incidents``: list and show incidents."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from soc.cli.common import command, console, context, print_json
from soc.incidents.models import IncidentStatus
from soc.incidents.store import get_incident
from soc.incidents.store import list_incidents as load_incidents
from soc.vocab import iso

app = typer.Typer(no_args_is_help=True)


@app.command("list")
@command
def list_incidents(
    status: Annotated[IncidentStatus | None, typer.Option(help="only this status")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Incidents, newest first."""
    ctx = context()
    lang = ctx.settings.report_lang
    incidents = load_incidents(ctx, status)
    if as_json:
        for i in incidents:
            print_json(i.model_dump(mode="json"))
        return
    table = Table("id", "status", "severity", "title", "alerts", "playbook", "opened")
    for i in incidents:
        table.add_row(
            i.id, i.status.value, i.severity.value, escape(i.title(lang)), str(len(i.alert_ids)),
            i.playbook_id or "", iso(i.opened_at),
        )  # fmt: skip
    console.print(table)


@app.command("show")
@command
def show(incident_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One incident with its playbook steps."""
    ctx = context()
    incident = get_incident(ctx, incident_id)
    if as_json:
        print_json(incident.model_dump(mode="json"))
        return
    tz = ctx.settings.tz
    console.print(f"[bold]{escape(incident.id)}[/] {escape(incident.title(ctx.settings.report_lang))}")
    console.print(f"status {incident.status.value}, severity {incident.severity.value}, risk {incident.risk_score:g}")
    for field, values in incident.entities.items():
        console.print(f"  {field}: {escape(', '.join(values))}")
    console.print(f"segments: {', '.join(incident.segments) or '-'}; alerts: {escape(', '.join(incident.alert_ids))}")
    table = Table("step", "phase", "owner", "due", "status")
    for s in incident.steps:
        due = s.due_at.astimezone(tz).isoformat(timespec="minutes") if s.due_at else ""
        table.add_row(s.step_id, s.phase or "", s.owner or "", due, s.status.value)
    console.print(table)
