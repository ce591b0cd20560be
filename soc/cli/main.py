"""The ``soc`` command line."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Optional
from urllib.parse import urlparse

import typer
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from soc import __version__
from soc.cli import common
from soc.cli.common import command, console, context, err_console, option_time, print_json, safe
from soc.config import load_settings
from soc.errors import SocError
from soc.es.outage import quiet_transport_logs
from soc.vocab import iso

if TYPE_CHECKING:
    from typer import _click as click  # typer's own copy of click, which its groups are typed with

    from soc.es.ingest import IngestReport

# commands whose module is imported only when that command runs (or for its help): `soc
# detect` does not pay for the web console, the reports or the simulator at start-up
_LAZY: dict[str, tuple[str, str, str | None]] = {  # name -> (module, attribute, help)
    "alerts": ("soc.cli.alerts_cmd", "app", "List, show and triage alerts."),
    "incidents": ("soc.cli.incidents_cmd", "app", "List, show and work incidents."),
    "report": ("soc.cli.report_cmd", "app", "Render reports for the CISO."),
    "playbooks": ("soc.cli.playbooks_cmd", "app", "List, show and export playbooks (CACAO v2.0)."),
    "kibana": ("soc.cli.kibana_cmd", "app", "Kibana data views and the SOC dashboard (import, export)."),
    "users": ("soc.cli.users_cmd", "app", "Accounts of the web console."),
    "web": ("soc.cli.web_cmd", "web", None),
    "demo": ("soc.cli.demo_cmd", "demo", None),
    "status": ("soc.cli.status_cmd", "status", None),
    "run": ("soc.cli.run_cmd", "run", None),
    "simulate": ("soc.cli.simulate_cmd", "simulate", None),
}


def _lazy_command(name: str) -> click.Command:
    """The click command of *name* in ``_LAZY``, its module imported now."""
    import importlib

    module, attribute, help_text = _LAZY[name]
    target = getattr(importlib.import_module(module), attribute)
    cmd: click.Command
    if isinstance(target, typer.Typer):
        cmd = typer.main.get_group(target)
    else:
        one = typer.Typer()
        one.command(name)(target)
        cmd = typer.main.get_command(one)
    cmd.name = name
    if help_text is not None:
        cmd.help = help_text
    return cmd


class _LazyGroup(TyperGroup):
    """The root group: lists every command, builds a ``_LAZY`` one when it is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in _LAZY if n not in self.commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _LAZY:
            self.commands[cmd_name] = _lazy_command(cmd_name)
        return super().get_command(ctx, cmd_name)


app = typer.Typer(
    cls=_LazyGroup,
    name="soc",
    help="Detection, incident response and CISO reports on Elasticsearch.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
es_app = typer.Typer(help="Manage the local single-node Elasticsearch (for demos, tests and small sites).")
config_app = typer.Typer(help="Show the effective configuration.")
app.add_typer(es_app, name="es")
app.add_typer(config_app, name="config")


@app.callback()
def _root(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="config file (default: $SOC_CONFIG or ./soc.toml)")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log progress to stderr")] = False,
) -> None:
    common.state.config = config
    common.state.reset()
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    quiet_transport_logs(verbose=verbose)  # --verbose: every request and retry, with tracebacks


@app.command()
def version() -> None:
    """Print the soc version."""
    console.print(__version__)


# -- es --------------------------------------------------------------------------
def _local_port() -> tuple[Path, int]:
    """Data directory and port of the local node, from es_url (which must be loopback)."""
    settings = load_settings(common.state.config)
    url = urlparse(settings.es_url)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SocError(
            f"es_url points at {url.hostname}: 'soc es' manages only a local node on 127.0.0.1",
            field="es_url",
            hint="unset SOC_ES_URL (or set it to http://127.0.0.1:PORT) to use the local node",
        )
    return settings.data_dir / "es", url.port or 9200


@es_app.command("up")
@command
def es_up(
    heap: Annotated[str, typer.Option(help="JVM heap, e.g. 1g")] = "1g",
) -> None:
    """Start the local Elasticsearch node (build it from Maven artifacts on first use)."""
    from soc.es import localnode as local

    data_dir, port = _local_port()
    info = local.up(data_dir=data_dir, port=port, heap=heap)
    console.print(f"Elasticsearch {info.version} is up at {info.url} (pid {info.pid}, data {data_dir})")


@es_app.command("down")
@command
def es_down() -> None:
    """Stop the local node started by 'soc es up' (exactly that process)."""
    from soc.es import localnode as local

    data_dir, _port = _local_port()
    stopped = local.down(data_dir=data_dir)
    console.print("stopped" if stopped else "no local node was running")


@es_app.command("status")
@command
def es_status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Is the local node running, and how healthy is it?"""
    from soc.es import localnode as local

    data_dir, port = _local_port()
    info = local.status(data_dir=data_dir, port=port)
    if as_json:
        print_json(info)
    else:
        for key, value in info.items():
            console.print(f"{key}: {escape(str(value))}")


# -- config / setup / validate ----------------------------------------------------------
@config_app.command("show")
@command
def config_show() -> None:
    """Print the effective settings (secrets masked)."""
    settings = load_settings(common.state.config)
    console.print_json(json.dumps(settings.masked(), ensure_ascii=False))


@app.command()
@command
def setup() -> None:
    """Install the index templates (idempotent)."""
    from soc.es.indices import install_templates

    ctx = context()
    changed = install_templates(ctx.es)
    if changed:
        console.print(f"installed or updated {len(changed)} template(s): {', '.join(changed)}")
    else:
        console.print("templates already up to date")


@app.command()
@command
def validate() -> None:
    """Check every detector and playbook, and what refers to what; report every error at once."""
    from soc.playbooks.checks import check_definitions

    settings = load_settings(common.state.config)
    checked = check_definitions(
        settings.detectors_dir,
        settings.playbooks_dir,
        routes=[(d.name, d.roles) for d in settings.notify.destinations],
        config_file=str(common.state.config or os.environ.get("SOC_CONFIG") or "soc.toml"),
    )
    errors, detectors, playbooks = checked.errors, checked.detectors, checked.playbooks
    if errors:
        for e in errors:
            err_console.print(f"[red]✗[/] {safe(e.render())}", soft_wrap=True)
        err_console.print(f"{len(errors)} error(s)")
        raise typer.Exit(1)
    assert detectors is not None and playbooks is not None
    console.print(f"✓ {len(detectors)} detector(s) and {len(playbooks)} playbook(s) are valid")


@app.command()
@command
def schema(
    out: Annotated[Path, typer.Option(help="directory for the JSON Schema files")] = Path("schemas"),
) -> None:
    """Write JSON Schemas for detector and playbook files (for editors), generated from the models."""
    from soc.schemas import write_schemas

    for path in write_schemas(out):
        console.print(str(path))


# -- ingest / simulate ---------------------------------------------------------------
@app.command()
@command
def ingest(
    files: Annotated[
        list[Path], typer.Argument(help="log files: ECS NDJSON, or the --format given (with --follow: or directories)")
    ],
    fmt: Annotated[
        Literal["ecs", "sshd", "windows-json", "zeek", "fortigate", "cef", "iptables", "auto"],
        typer.Option(
            "--format",
            help="ecs: newline-delimited ECS JSON; sshd: OpenSSH syslog (auth.log, secure; year-less times in "
            "the configured timezone); windows-json: Winlogbeat, evtx_dump or NXLog JSON, or Event XML lines; zeek: "
            "conn/dns/http/ssl logs, TSV or JSON; fortigate: FortiGate key=value traffic, UTM and VPN/admin logon "
            "logs; cef: ArcSight Common Event Format; iptables: netfilter/UFW packet logs from the kernel log; "
            "auto: guess per file from its first lines",
        ),
    ] = "ecs",
    follow: Annotated[
        bool, typer.Option("--follow", help="keep reading files and directories as they grow (see README)")
    ] = False,
    encoding: Annotated[
        str, typer.Option(help="encoding of the files (a line that does not decode is rejected, never altered)")
    ] = "utf-8",
    rejects: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="write every rejected, conflicting and incomplete line here (NDJSON, with its reason)"),
    ] = None,
    show: Annotated[int, typer.Option(help="list at most this many lines of each problem on the console")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as one JSON object")] = False,
) -> None:
    """Bulk-load events into the right index (by event.category); account for every line.

    Each file's lines are counted as indexed, already present (loaded before), skipped
    (nothing soc reads), rejected (with FILE:LINE and the reason), conflicts (an event.id
    already indexed with other content) and incomplete (indexed without a field detection
    needs). Exit status 2 when a line was rejected or conflicted.
    """
    from contextlib import nullcontext

    from soc.cli.progress import count_lines, on_terminal, progress

    if follow:
        from soc.cli.follow_cmd import follow as follow_paths

        follow_paths(files, fmt)
        return

    from soc.es.ingest import RejectsFile, ingest_files

    ctx = context()
    shown = on_terminal() and not as_json
    with (
        RejectsFile(rejects) if rejects is not None else nullcontext() as sink,
        progress("indexing", total=count_lines(files) if shown else None, unit="lines", enabled=shown) as advance,
    ):
        report = ingest_files(
            ctx.es,
            files,
            segments=ctx.segments,
            fmt=fmt,
            tz=ctx.settings.tz,
            reference=ctx.clock.now(),
            encoding=encoding,
            on_progress=advance,
            keep=max(show, 0),
            sink=sink,
        )
    from soc.cli.ingest_notices import geo_notices

    notices = geo_notices(report, ctx.settings.detectors_dir)
    if as_json:
        print_json(report.summary() | {"rejects_file": str(rejects) if rejects else None, "notices": notices})
    else:
        _print_ingest_report(report, show=show, rejects=rejects)
        for notice in notices:
            console.print(f"notice: {safe(notice)}", soft_wrap=True)
    if report.problems["rejected"] or report.problems["conflict"]:
        raise typer.Exit(2)


def _print_ingest_report(report: IngestReport, *, show: int, rejects: Path | None) -> None:
    for f in report.files.values():
        how = "guessed" if f.guessed else "given"
        console.print(
            f"{safe(f.file)}: {f.format} ({how}): read {f.read}, indexed {f.indexed}, "
            f"already present {f.already_present}, skipped {f.skipped}, rejected {f.rejected}, "
            f"conflicts {f.conflicts}, incomplete {f.incomplete}",
            soft_wrap=True,
        )
    for key, value in report.summary().items():
        if key != "files":
            console.print(f"{key}: {safe(value)}")
    where = f" (every one in {safe(rejects)})" if rejects else " (give --rejects FILE for every one)"
    for label, items in (
        ("rejected", report.rejected),
        ("conflict", report.conflicts),
        ("incomplete", report.incomplete),
    ):
        for item in items[:show]:
            err_console.print(f"{label}: {safe(item)}", soft_wrap=True)
        if (more := report.problems[label] - min(show, len(items))) > 0:
            err_console.print(f"… and {more} more {label}{where}", soft_wrap=True)


# -- detect ------------------------------------------------------------------------
@app.command()
@command
def detect(
    start: Annotated[str, typer.Option("--from", help="start of the range, ISO 8601")],
    end: Annotated[str, typer.Option("--to", help="end of the range, ISO 8601")],
    detector: Annotated[Optional[list[str]], typer.Option("--detector", help="only these detector ids")] = None,  # noqa: UP045
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per alert on stdout")] = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="print queries and per-window figures; write nothing")
    ] = False,
    no_escalate: Annotated[bool, typer.Option("--no-escalate", help="record alerts but open no incident")] = False,
    strategy: Annotated[
        str,
        typer.Option(
            "--strategy",
            help="auto (plan per detector), windows (one aggregation per window), one-pass or fetch; same alerts",
        ),
    ] = "auto",
) -> None:
    """Backtest: evaluate detectors over a past range as sliding windows, record alerts, escalate."""
    from soc.detection.engine import DetectionEngine
    from soc.detection.kinds.one_pass import STRATEGIES
    from soc.detection.loader import load_detectors
    from soc.playbooks.loader import load_playbooks
    from soc.runtime.pipeline import Pipeline, PipelineResult

    ctx = context()
    frm, to = option_time(start, "--from"), option_time(end, "--to")
    detectors = _select(load_detectors(ctx.settings.detectors_dir), detector)
    if strategy not in STRATEGIES:
        raise SocError(f"unknown strategy {strategy!r}", field="--strategy", hint=f"one of: {', '.join(STRATEGIES)}")
    if explain:
        engine = DetectionEngine(ctx, strategy=strategy)
        for d in detectors:
            rep = engine.backtest(d, frm, to, write=False, explain=True)
            console.print(
                f"[bold]{d.id}[/] ({d.kind}): {rep.windows} window(s), took {rep.took_ms} ms in Elasticsearch"
                + (f", [yellow]{rep.truncated} candidate(s) not examined (cap)[/]" if rep.truncated else "")
            )
            for plan in rep.plans:
                console.print(f"  plan: {safe(plan.describe())}")
            console.print_json(json.dumps(rep.queries[0] if rep.queries else {}))
            for w in rep.per_window:
                if w.matches or w.groups:
                    cut = f", {w.truncated} truncated" if w.truncated else ""
                    console.print(f"  {w.window}: {w.groups} group(s), {w.matches} match(es), {w.took_ms} ms{cut}")
        return
    from soc.cli.progress import progress

    playbooks = load_playbooks(ctx.settings.playbooks_dir)
    pipeline = Pipeline(ctx, playbooks=playbooks)
    pipeline.engine.strategy = strategy
    with progress(f"detecting {iso(frm)} → {iso(to)}", total=len(detectors), unit="detectors") as advance:
        if no_escalate:
            result = PipelineResult()
            for d in detectors:
                result.absorb(pipeline.engine.backtest(d, frm, to))
                advance(1)
        else:
            result = pipeline.backtest(detectors, frm, to, on_detector=lambda _report: advance(1))
    # every alert overlapping the range, not only those this run changed: re-runs list the same alerts
    alerts = [
        a for a in pipeline.engine.alerts.search(start=frm) if a.start <= to and a.detector in {d.id for d in detectors}
    ]
    if as_json:
        for a in alerts:
            print_json(a.summary())
        return
    table = Table("detector", "windows", "new", "extended", "ES took (ms)", "wall (s)", "truncated")
    for r in result.reports:
        table.add_row(
            safe(r.detector),
            str(r.windows),
            str(len(r.created)),
            str(len(r.extended)),
            str(r.took_ms),
            f"{r.duration_s:.2f}",
            f"[yellow]{r.truncated}[/]" if r.truncated else "0",
        )
    console.print(table)
    for a in alerts:
        who = ", ".join(f"{k}={v}" for k, v in a.entity.items())
        console.print(
            f"{safe(a.id)} {a.severity.value:8} {safe(a.detector):20} {safe(who)} count={a.count} "
            f"{iso(a.start)} → {iso(a.end)}"
        )
    if result.incidents_opened:
        console.print(f"incidents opened: {safe(', '.join(result.incidents_opened))}")


def _select(detectors: list, ids: list[str] | None) -> list:  # type: ignore[type-arg]
    if not ids:
        return detectors
    known = {d.id: d for d in detectors}
    missing = [i for i in ids if i not in known]
    if missing:
        raise SocError(
            f"unknown detector id(s): {', '.join(missing)}",
            field="--detector",
            hint=f"known: {', '.join(sorted(known))}",
        )
    return [known[i] for i in ids]


def main() -> None:  # pragma: no cover - console entry
    app()
