"""``soc report``: reports for the CISO."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from soc.cli.common import command, console, context
from soc.reports.batch import write_incident_report

app = typer.Typer(no_args_is_help=True)


@app.command("incident")
@command
def incident(
    incident_id: Annotated[str, typer.Argument(help="incident id, e.g. INC-20261124-3fa9c2")],
    lang: Annotated[str | None, typer.Option("--lang", help="ja or en (default: report_lang setting)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="html or md")] = "html",
    out: Annotated[Path | None, typer.Option("--out", help="directory (default: out_dir setting)")] = None,
) -> None:
    """Render the decision-first incident report for the CISO."""
    ctx = context()
    language = lang or ctx.settings.report_lang
    if language not in ("ja", "en"):
        raise typer.BadParameter("use ja or en", param_hint="--lang")
    if fmt not in ("html", "md"):
        raise typer.BadParameter("use html or md", param_hint="--format")
    path = write_incident_report(ctx, incident_id, lang=language, fmt=fmt, out_dir=out or ctx.settings.out_dir)
    console.print(str(path))
