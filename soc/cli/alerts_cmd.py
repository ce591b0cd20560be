"""``soc alerts list|show|ack|close``: triage, recording who and when."""

from __future__ import annotations

import getpass
import os
from typing import Annotated, Optional

import typer
from rich.table import Table

from soc.alerts.models import Alert, AlertStatus, CloseReason
from soc.alerts.store import AlertStore
from soc.cli.common import cells, command, console, context, print_json, safe
from soc.vocab import iso

__all__ = ["app"]

app = typer.Typer(help="List, show and triage alerts.", no_args_is_help=True)


def operator() -> str:
    """Who is acting: ``SOC_ACTOR`` if set, else the login name."""
    return os.environ.get("SOC_ACTOR") or getpass.getuser()


By = Annotated[str, typer.Option("--by", help="who acts (default: $SOC_ACTOR or your login)", default_factory=operator)]
Json = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _store() -> AlertStore:
    return AlertStore(context().es)


def _who(a: Alert) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(a.entity.items())) or "(organisation)"


@app.command("list")
@command
def list_alerts(
    detector: Annotated[Optional[str], typer.Option(help="only this detector")] = None,  # noqa: UP045
    status: Annotated[Optional[AlertStatus], typer.Option(help="only alerts in this state")] = None,  # noqa: UP045
    as_json: Json = False,
) -> None:
    """List alerts, oldest first."""
    alerts = _store().search(detector=detector, status=status)
    if as_json:
        for a in alerts:
            print_json(a.summary())
        return
    table = Table("id", "status", "severity", "detector", "entity", "count", "start", "end", "incident")
    for a in alerts:
        table.add_row(
            *cells(
                a.id, a.status.value, a.severity.value, a.detector, _who(a), a.count, iso(a.start), iso(a.end),
                a.incident_id,
            )
        )  # fmt: skip
    console.print(table)
    console.print(f"{len(alerts)} alert(s)")


@app.command("show")
@command
def show(alert_id: str, as_json: Json = False) -> None:
    """Show one alert with its evidence."""
    alert = _store().get(alert_id)
    data = alert.model_dump(mode="json")
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        if value not in (None, [], {}):
            console.print(f"[bold]{key}[/]: {safe(value)}")


@app.command("ack")
@command
def ack(
    alert_ids: Annotated[list[str], typer.Argument(help="one or more alert ids")],
    by: By,
    note: Annotated[Optional[str], typer.Option(help="why, or what you are checking")] = None,  # noqa: UP045
    as_json: Json = False,
) -> None:
    """Acknowledge alerts: someone is looking at them."""
    ctx = context()
    for alert_id in alert_ids:
        a = _store().triage(alert_id, AlertStatus.acknowledged, by=by, now=ctx.clock.now(), note=note)
        _report(a, as_json)


@app.command("close")
@command
def close(
    alert_ids: Annotated[list[str], typer.Argument(help="one or more alert ids")],
    reason: Annotated[CloseReason, typer.Option("--reason", help="the verdict")],
    by: By,
    note: Annotated[Optional[str], typer.Option(help="what was found")] = None,  # noqa: UP045
    as_json: Json = False,
) -> None:
    """Close alerts with a verdict: true_positive, false_positive, benign or duplicate."""
    ctx = context()
    for alert_id in alert_ids:
        a = _store().triage(alert_id, AlertStatus.closed, by=by, now=ctx.clock.now(), reason=reason, note=note)
        _report(a, as_json)


def _report(a: Alert, as_json: bool) -> None:
    if as_json:
        print_json(a.summary() | {"by": a.closed_by or a.acknowledged_by})
    else:
        verdict = f" ({a.close_reason.value})" if a.close_reason else ""
        console.print(f"{safe(a.id)}: {a.status.value}{verdict} by {safe(a.closed_by or a.acknowledged_by or '')}")
