"""``soc alerts list|show|ack|close``: triage, recording who and when."""

from __future__ import annotations

import getpass
import os
import shlex
from datetime import datetime
from typing import Annotated, Optional

import typer
from rich.table import Column, Table

from soc.alerts.models import Alert, AlertStatus, CloseReason
from soc.alerts.queue import PAGE_SIZE, QueueFilter, events_behind, flat_fields, queue_page, resolve_alert_id
from soc.alerts.store import AlertStore
from soc.cli.common import cells, command, console, context, print_json, safe
from soc.detection.loader import load_detectors
from soc.errors import SocError
from soc.vocab import Severity, parse_duration, parse_time

__all__ = ["app"]

app = typer.Typer(help="List, show and triage alerts.", no_args_is_help=True)


def operator() -> str:
    """Who is acting: ``SOC_ACTOR`` if set, else the login name."""
    return os.environ.get("SOC_ACTOR") or getpass.getuser()


By = Annotated[str, typer.Option("--by", help="who acts (default: $SOC_ACTOR or your login)", default_factory=operator)]
Json = Annotated[bool, typer.Option("--json", help="machine-readable output")]


AlertId = Annotated[str, typer.Argument(help="the alert id, or a unique prefix of it", show_default=False)]


def _store() -> AlertStore:
    return AlertStore(context().es)


def _id(text: str) -> str:
    """The full id of the alert *text* names (an id or a unique prefix, ``A-`` optional)."""
    return resolve_alert_id(context().es, text)


def _who(a: Alert) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(a.entity.items())) or "(organisation)"


EVENTS_PAGE = 20  # events a page of ``soc alerts show --events``
_WIDE = 160  # from this many columns a table; below, each alert on two lines (ids in full either way)


def _when(value: str | None, option: str) -> datetime | None:
    """A duration before now (``24h``, ``30m``, ``7d``, ``2w``, as ``soc.vocab.parse_duration``
    reads it) or an ISO 8601 time with a zone."""
    if not value:
        return None
    text = value.strip()
    try:
        return context().clock.now() - parse_duration(text.lower())
    except ValueError:
        pass
    try:
        return parse_time(text)
    except ValueError as exc:
        raise SocError(str(exc), field=option, hint="e.g. 24h, 7d or 2026-11-23T09:00:00+09:00") from exc


@app.command("list")
@command
def list_alerts(
    status: Annotated[Optional[AlertStatus], typer.Option(help="only alerts in this state")] = None,  # noqa: UP045
    severity: Annotated[Optional[Severity], typer.Option(help="only this severity")] = None,  # noqa: UP045
    detector: Annotated[Optional[str], typer.Option(help="only this detector")] = None,  # noqa: UP045
    user: Annotated[Optional[str], typer.Option(help="only alerts naming this account")] = None,  # noqa: UP045
    ip: Annotated[Optional[str], typer.Option(help="only alerts naming this address or network (CIDR)")] = None,  # noqa: UP045
    host: Annotated[Optional[str], typer.Option(help="only alerts naming this host")] = None,  # noqa: UP045
    segment: Annotated[Optional[str], typer.Option(help="only alerts in this network segment")] = None,  # noqa: UP045
    since: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="active since: 24h, 7d or an ISO 8601 time (last seen at or after it)"),
    ] = None,
    until: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="active until: an ISO 8601 time or 24h (first seen at or before it)"),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=9_999, help="alerts per page (at most 9,999)")] = PAGE_SIZE,
    after: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="the page older than this cursor (printed under each page)"),
    ] = None,
    before: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="the page newer than this cursor (printed under each page)"),
    ] = None,
    ids: Annotated[bool, typer.Option("--ids", help="print only the alert ids, one per line")] = False,
    as_json: Json = False,
) -> None:
    """List alerts, newest recorded first, a page at a time (the console's queue).

    Each page ends with how many alerts match and the command for the next (older) page.

    Ids are printed in full at any width; any command taking an alert id accepts a unique prefix of it."""
    ctx = context()
    f = QueueFilter(
        status=status.value if status else "", severity=severity.value if severity else "", detector=detector or "",
        segment=segment or "", user=user or "", address=ip or "", host=host or "",
        since=_when(since, "--since"), until=_when(until, "--until"),
    )  # fmt: skip
    page = queue_page(ctx.es, f, size=limit, after=after, before=before)
    if as_json:
        for a in page.alerts:
            print_json(a.summary())
        return
    if ids:
        for a in page.alerts:
            console.print(safe(a.id), soft_wrap=True)
        return
    if console.width >= _WIDE:
        _table(page.alerts)
    else:
        _lines(page.alerts)
    total = f"{page.total}" if page.total_exact else f"at least {page.total}"
    console.print(f"{len(page.alerts)} shown of {total} alert(s), newest first")
    given = {"--status": status and status.value, "--severity": severity and severity.value, "--detector": detector,
             "--user": user, "--ip": ip, "--host": host, "--segment": segment, "--since": since, "--until": until,
             "--limit": str(limit) if limit != PAGE_SIZE else None}  # fmt: skip
    again = "soc alerts list" + "".join(f" {k} {shlex.quote(v)}" for k, v in given.items() if v)
    if page.older:
        console.print(f"older: {safe(again)} --after {page.older}", soft_wrap=True)
    if page.newer:
        console.print(f"newer: {safe(again)} --before {page.newer}", soft_wrap=True)


def _table(alerts: list[Alert]) -> None:
    table = Table(
        Column("id", no_wrap=True, min_width=22), "status", "severity", "detector", Column("entity", overflow="fold"),
        "count", "last seen", Column("incident", no_wrap=True, min_width=21),
    )  # fmt: skip
    for a in alerts:
        table.add_row(
            *cells(a.id, a.status.value, a.severity.value, a.detector, _who(a), a.count, _local(a.end), a.incident_id)
        )
    console.print(table)


def _lines(alerts: list[Alert]) -> None:
    """Two lines per alert: the ids (in full) first, then what it is about."""
    for a in alerts:
        incident = f"  {safe(a.incident_id)}" if a.incident_id else ""
        console.print(f"[bold]{safe(a.id)}[/]  {a.severity.value}  {a.status.value}{incident}", soft_wrap=True)
        console.print(
            f"  {safe(a.detector)}  {safe(_who(a))}  count={a.count}  last seen {_local(a.end)}", soft_wrap=True
        )


def _local(t: datetime) -> str:
    return t.astimezone(context().settings.tz).strftime("%Y-%m-%d %H:%M")


@app.command("show")
@command
def show(
    alert_id: AlertId,
    as_json: Json = False,
    events: Annotated[
        bool, typer.Option("--events", help="also the stored events behind it, oldest first (20 a page)")
    ] = False,
    page: Annotated[int, typer.Option("--page", min=1, help="which page of --events")] = 1,
) -> None:
    """Show one alert with its evidence (and with --events the log events behind it)."""
    alert = _store().get(_id(alert_id))
    data = alert.model_dump(mode="json")
    docs: list[dict[str, object]] = []
    total = 0
    if events:
        ctx = context()
        detector = next((d for d in load_detectors(ctx.settings.detectors_dir) if d.id == alert.detector), None)
        if detector is None:
            raise SocError(
                f"detector {alert.detector!r} is not loaded: its dataset (where the events are) is unknown",
                field="detector", hint="check detectors_dir in soc.toml",
            )  # fmt: skip
        indices = ctx.settings.dataset_indices(detector.dataset)
        docs, total = events_behind(ctx.es, indices, alert, page, EVENTS_PAGE)
    if as_json:
        print_json(data | ({"events": docs, "events_total": total, "events_page": page} if events else {}))
        return
    for key, value in data.items():
        if value not in (None, [], {}):
            console.print(f"[bold]{key}[/]: {safe(value)}")
    if not events:
        return
    first = (page - 1) * EVENTS_PAGE
    console.print(f"[bold]events behind it[/]: {total} (showing {first + 1 if docs else 0}-{first + len(docs)})")
    for n, doc in enumerate(docs, first + 1):
        console.print(f"--- event {n} of {total}")
        for key, value in flat_fields(doc).items():
            console.print(f"  {safe(key)}: {safe(value)}")
    if first + len(docs) < total:
        console.print(f"more: soc alerts show {alert.id} --events --page {page + 1}")


@app.command("ack")
@command
def ack(
    alert_ids: Annotated[list[str], typer.Argument(help="one or more alert ids, or unique prefixes of them")],
    by: By,
    note: Annotated[Optional[str], typer.Option(help="why, or what you are checking")] = None,  # noqa: UP045
    as_json: Json = False,
) -> None:
    """Acknowledge alerts: someone is looking at them."""
    ctx = context()
    for alert_id in [_id(i) for i in alert_ids]:
        a = _store().triage(alert_id, AlertStatus.acknowledged, by=by, now=ctx.clock.now(), note=note)
        _report(a, as_json)


@app.command("close")
@command
def close(
    alert_ids: Annotated[list[str], typer.Argument(help="one or more alert ids, or unique prefixes of them")],
    reason: Annotated[CloseReason, typer.Option("--reason", help="the verdict")],
    by: By,
    note: Annotated[Optional[str], typer.Option(help="what was found")] = None,  # noqa: UP045
    as_json: Json = False,
) -> None:
    """Close alerts with a verdict: true_positive, false_positive, benign or duplicate."""
    ctx = context()
    for alert_id in [_id(i) for i in alert_ids]:
        a = _store().triage(alert_id, AlertStatus.closed, by=by, now=ctx.clock.now(), reason=reason, note=note)
        _report(a, as_json)


def _report(a: Alert, as_json: bool) -> None:
    if as_json:
        print_json(a.summary() | {"by": a.closed_by or a.acknowledged_by})
    else:
        verdict = f" ({a.close_reason.value})" if a.close_reason else ""
        console.print(f"{safe(a.id)}: {a.status.value}{verdict} by {safe(a.closed_by or a.acknowledged_by or '')}")
