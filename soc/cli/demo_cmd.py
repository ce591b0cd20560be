"""``soc demo``: the whole job end to end on simulated data (what ``make demo`` runs)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from soc.cli import common
from soc.cli.common import command, console
from soc.config import load_settings
from soc.context import AppContext
from soc.detection.loader import load_detectors
from soc.errors import ElasticsearchUnavailable, SocError
from soc.es.indices import install_templates
from soc.playbooks.loader import load_playbooks
from soc.runtime.pipeline import Pipeline
from soc.vocab import iso, parse_time

__all__ = ["demo"]


def _ensure_elasticsearch(ctx: AppContext) -> str:
    """Use the configured node; start the local one only when none is configured or answering."""
    if ctx.es.ping():
        return f"using Elasticsearch at {ctx.settings.masked()['es_url']}"
    if os.environ.get("SOC_ES_URL") or (
        "127.0.0.1" not in ctx.settings.es_url and "localhost" not in ctx.settings.es_url
    ):
        raise ElasticsearchUnavailable(
            f"Elasticsearch at {ctx.settings.masked()['es_url']} does not answer",
            hint="check SOC_ES_URL, or unset it to let the demo start a local node",
        )
    from urllib.parse import urlparse

    from soc.es import localnode as local

    port = urlparse(ctx.settings.es_url).port or 9200
    info = local.up(data_dir=ctx.settings.data_dir / "es", port=port)
    return f"started local Elasticsearch {info.version} at {info.url} (pid {info.pid})"


def _claim_prefix(es_url: str, prefix: str) -> IO[str]:
    """Refuse a second demo on the same cluster and prefix from this machine while one runs.

    Each demo resets its prefix's indices first, so two at once would delete each other's
    data mid-run. The claim is a kernel lock on a file: it goes with the process, so a demo
    that crashed or was killed never blocks the next one. Closing the file releases it.
    """
    digest = hashlib.sha256(f"{es_url}\0{prefix}".encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"soc-demo-{digest}.lock"
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise SocError(
            f"another soc demo is running with index prefix {prefix!r} on this Elasticsearch",
            field="--prefix",
            hint="wait for it to finish, or give this one its own prefix, e.g. --prefix soc-demo2",
        ) from None
    return handle


def _end_time(value: str) -> datetime:
    try:
        return parse_time(value)
    except ValueError as exc:
        raise SocError(str(exc), field="--end", hint="e.g. 2026-12-31T23:00:00+09:00 or 2026-12-31T14:00:00Z") from exc


def _agrees(alert: Any, record: Any) -> bool:
    """The alert names the scenario's entity (on every field it has) around the scenario's time."""
    slack = timedelta(hours=2)
    same = all(record.entities.get(field) == value for field, value in alert.entity.items())
    return same and alert.start <= record.end + slack and alert.end >= record.start - slack


def _stray(alerts: list[Any], truth: list[Any]) -> list[Any]:
    """Alerts that no injected attack explains: raised on the baseline.

    Scored against the ground truth of *all* injected events, not only each scenario's
    designated detector: a weekend remote-desktop logon injected for ``new-host-logon``
    is also a privileged logon outside business hours, and an alert on it is right.
    """
    attacks = [r for r in truth if not r.near_miss]

    def explained(a: Any) -> bool:
        if any(r.injected(eid) for eid in a.sample_event_ids for r in attacks):
            return True
        return any(a.detector in r.expected_detectors and _agrees(a, r) for r in attacks)

    return [a for a in alerts if not explained(a)]


@command
def demo(
    invocation: typer.Context,
    out: Annotated[Path, typer.Option(help="where reports and the summary go")] = Path("out"),
    prefix: Annotated[str, typer.Option(help="index prefix of the demo's own indices (reset first)")] = "soc-demo",
    hours: Annotated[float, typer.Option(help="hours of simulated traffic")] = 24.0,
    seed: Annotated[int, typer.Option(help="simulator seed")] = 7,
    end_at: Annotated[
        str | None,
        typer.Option("--end", help="simulate the day ending then (ISO 8601; default: now)"),
    ] = None,
    report_formats: Annotated[
        str, typer.Option("--report-formats", help="formats of the incident reports: html,pdf,md")
    ] = "html,pdf,md",
) -> None:
    """Simulate a day of municipal logs with attacks, detect, escalate and write CISO reports."""
    from soc.incidents.store import IncidentStore
    from soc.reports.batch import write_incident_reports, write_summary_report
    from soc.simulate.run import simulate

    settings = load_settings(common.state.config, index_prefix=prefix, out_dir=out)
    ctx = AppContext.from_settings(settings)
    invocation.call_on_close(_claim_prefix(settings.es_url, prefix).close)
    console.rule("[bold]soc demo")
    console.print(_ensure_elasticsearch(ctx))

    ctx.es.delete_indices(f"{prefix}-*")
    install_templates(ctx.es)
    detectors = load_detectors(settings.detectors_dir)
    playbooks = load_playbooks(settings.playbooks_dir)
    console.print(f"{len(detectors)} detector(s), {len(playbooks)} playbook(s) valid; index prefix {prefix!r} reset")

    formats = tuple(f.strip() for f in report_formats.split(",") if f.strip())
    if not formats or set(formats) - {"html", "pdf", "md"}:
        raise SocError(f"unknown report format in {report_formats!r}", field="--report-formats", hint="html,pdf,md")
    end = (_end_time(end_at) if end_at else ctx.clock.now()).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=hours)
    out.mkdir(parents=True, exist_ok=True)
    truth_path = out / "truth.json"
    sim = simulate(
        ctx.es, end=end, hours=hours, seed=seed, scenarios=None, segments=ctx.segments, truth_path=truth_path
    )
    console.print(
        f"simulated {sim.docs_written:,} events {iso(start)} → {iso(end)} at {sim.docs_per_second:,.0f} docs/s "
        f"with {len(sim.truth)} attack scenario(s)"
    )

    began = time.perf_counter()
    pipeline = Pipeline(ctx, playbooks=playbooks)
    result = pipeline.backtest(detectors, start, end)
    detect_s = time.perf_counter() - began
    alerts = pipeline.engine.alerts.search()
    took_ms = sum(r.took_ms for r in result.reports)
    windows = sum(r.windows for r in result.reports)
    console.print(
        f"detected over {hours:g} h in {detect_s:.1f} s ({windows} windows, Elasticsearch took {took_ms} ms); "
        f"{len(alerts)} alert(s), {len(result.incidents_opened)} incident(s) opened"
    )

    stray = _stray(alerts, sim.truth)
    expected_by = {d.id: [r for r in sim.truth if d.id in r.expected_detectors] for d in detectors}
    per_detector = Table("detector", "kind", "alerts", "fired on its scenario", "on baseline")
    missed: list[str] = []
    for d in detectors:
        records = expected_by[d.id]
        found = [r for r in records if any(a.detector == d.id and _agrees(a, r) for a in alerts)]
        if len(found) < len(records) or not records:
            missed.append(d.id)
        noise = sum(a.detector == d.id for a in stray)
        per_detector.add_row(
            d.id,
            d.kind,
            str(sum(a.detector == d.id for a in alerts)),
            f"[green]yes ({len(found)}/{len(records)})[/]" if records and found == records else "[red]NO[/]",
            "[green]0[/]" if not noise else f"[red]{noise}[/]",
        )
    console.print(per_detector)

    from soc.notify.service import Notifier
    from soc.runtime.csirt import CsirtDesk

    desk = CsirtDesk(ctx, playbooks=playbooks, notifier=Notifier.from_context(ctx))
    announced = desk.announce(result.incidents_opened)
    later = ctx.clock.now() + timedelta(minutes=30)
    tick = desk.tick(later)
    incidents = [IncidentStore(ctx.es).get(i) for i in result.incidents_opened]
    inc_table = Table("incident", "priority", "playbook", "first step due", "detectors")
    for i in incidents:
        due = min((st.due_at for st in i.steps if st.due_at), default=None)
        inc_table.add_row(
            i.id, i.priority.value, i.playbook_id or "-", iso(due)[:16] if due else "-", ", ".join(i.detectors)
        )
    console.print(inc_table)
    console.print(
        f"{len(announced)} notification(s) for the new incidents; 30 minutes later, nobody has acknowledged: "
        f"{len(tick.escalations)} escalation(s), {len(tick.deliveries)} more notification(s) "
        f"(outbox: {out / 'outbox'})"
    )
    for e in tick.escalations[:3]:
        console.print(f"  escalated {e.incident_id} {e.kind} -> {e.to_role}: {escape(e.message.en)}")

    paths = write_incident_reports(ctx, result.incidents_opened, out_dir=out, langs=("ja", "en"), formats=formats)
    # the SOC report covers the simulated day and the demo's own run, when its alerts were raised
    report_end = ctx.clock.now() + timedelta(hours=1)
    paths += write_summary_report(
        ctx,
        start=start,
        end=max(report_end, end),
        out_dir=out,
        langs=("ja", "en"),
        formats=tuple(f for f in formats if f != "md") or ("html",),
    )
    with (out / "alerts.ndjson").open("w", encoding="utf-8") as fh:
        for a in alerts:
            fh.write(json.dumps(a.summary(), ensure_ascii=False) + "\n")
    summary = {
        "range": {"from": iso(start), "to": iso(end)},
        "events": sim.docs_written,
        "simulator_docs_per_second": round(sim.docs_per_second),
        "detect_seconds": round(detect_s, 2),
        "elasticsearch_took_ms": took_ms,
        "alerts_per_detector": {d.id: sum(a.detector == d.id for a in alerts) for d in detectors},
        "incidents_opened": result.incidents_opened,
        "notifications": len(announced) + len(tick.deliveries),
        "escalations": [e.id for e in tick.escalations],
        "reports": [str(p) for p in paths],
        "detectors_missed": missed,
        "baseline_alerts": [a.id for a in stray],
    }
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    console.print(f"{len(paths)} report file(s) in {out}/ (incident reports ja/en HTML, PDF, Markdown; SOC summary)")
    console.print(f"summary: {out / 'summary.json'}; alerts: {out / 'alerts.ndjson'}; ground truth: {truth_path}")
    if missed or stray:
        if missed:
            console.print(f"[red]detector(s) that missed their scenario: {', '.join(missed)}[/]")
        if stray:
            console.print(f"[red]{len(stray)} alert(s) on baseline traffic[/]")
        raise typer.Exit(1)
    console.print(f"[green]all {len(detectors)} detectors fired on their scenarios and none on the baseline[/]")
