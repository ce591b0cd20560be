"""``soc status``: each detector's health from its recorded runs (self-monitoring), and
which scheduler process owns each job (its lease: owner ``host:pid:start``, expiry)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from soc.alerts.models import AlertStatus
from soc.alerts.store import AlertStore
from soc.cli.common import command, console, context, print_json, safe
from soc.detection.health import health
from soc.detection.loader import load_detectors
from soc.detection.state import RunStateStore
from soc.runtime.leases import LeaseInfo, lease_job_for, list_leases
from soc.runtime.scheduler import CSIRT_JOB, SUMMARY_JOB
from soc.vocab import iso

__all__ = ["health", "status"]


def _lease_fields(lease: LeaseInfo | None, now: datetime) -> dict[str, Any]:
    """Who runs the job: the owner while its lease is live, else nobody (``expired``)."""
    if lease is None or lease.owner is None:
        return {"owner": None, "lease_expires": None, "lease": "free"}
    expires = lease.expires_at
    live = expires is not None and expires > now
    return {"owner": lease.owner, "lease_expires": iso(expires) if expires else None,
            "lease": "held" if live else "expired"}  # fmt: skip


def _owner_cell(row: dict[str, Any]) -> str:
    if row["owner"] is None:
        return "-"
    # the expiry's time of day is enough to read (a live lease runs for seconds, not days)
    until = f" until {row['lease_expires'][11:19]}Z" if row["lease"] == "held" else " (expired)"
    return safe(f"{row['owner']}{until}")


@command
def status(as_json: Annotated[bool, typer.Option("--json", help="one JSON object per detector")] = False) -> None:
    """Each detector's health: last run, lag behind now, Elasticsearch took, windows, errors."""
    ctx = context()
    now = ctx.clock.now()
    detectors = load_detectors(ctx.settings.detectors_dir, include_disabled=True)
    store = RunStateStore(ctx.es)
    alerts = AlertStore(ctx.es)
    leases = list_leases(ctx.es)
    rows: list[dict[str, Any]] = []
    for d in detectors:
        st = store.get(d.id)
        open_alerts = len(alerts.search(detector=d.id, status=AlertStatus.open, size=1000))
        lag = (now - st.watermark).total_seconds() if st.watermark else None
        rows.append(
            {
                "detector": d.id,
                "kind": d.kind,
                "health": health(d, st, now),
                "last_run": iso(st.last_run) if st.last_run else None,
                "lag_s": round(lag) if lag is not None else None,
                "took_ms": st.last_took_ms,
                "duration_s": st.last_duration_s,
                "windows": st.last_windows,
                "windows_covered": st.windows_covered,
                "truncated_total": st.truncated_total,
                "runs": st.runs,
                "alerts_created": st.alerts_created,
                "open_alerts": open_alerts,
                "failures": st.consecutive_failures,
                "last_error": st.last_error,
            }
            | _lease_fields(leases.get(lease_job_for(d.id, ctx.settings.scheduler.shards)), now)
        )
    if as_json:
        for row in rows:
            print_json(row)
    else:
        table = Table(
            "detector", "kind", "health", "last run", "lag", "took ms", "wall s", "runs", "open", "owner", "error"
        )
        for r in rows:
            colour = {"ok": "green", "failing": "red", "lagging": "yellow", "truncated": "yellow"}.get(r["health"], "")
            table.add_row(
                r["detector"],
                r["kind"],
                f"[{colour}]{r['health']}[/]" if colour else r["health"],
                r["last_run"] or "-",
                f"{r['lag_s']}s" if r["lag_s"] is not None else "-",
                str(r["took_ms"]),
                f"{r['duration_s']:.2f}",
                str(r["runs"]),
                str(r["open_alerts"]),
                _owner_cell(r),
                safe((r["last_error"] or "")[:60]),
            )
        console.print(table)
        jobs = Table("job", "owner")
        for job in (CSIRT_JOB, SUMMARY_JOB):
            jobs.add_row(job, _owner_cell(_lease_fields(leases.get(job), now)))
        console.print(jobs)
        if not any(r["lease"] == "held" for r in rows):
            console.print(
                "[yellow]no scheduler is running: no process holds a live lease, so no detector is being run "
                "(start one with 'soc run' or 'python scheduler.py')[/]"
            )
    if any(r["health"] == "failing" for r in rows):
        raise typer.Exit(1)
