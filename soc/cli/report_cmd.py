"""``soc report``: reports for the CISO (incident) and for the SOC's periodic review (summary)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from soc.cli.common import command, console, context
from soc.cli.ids import resolve_incident
from soc.cli.progress import progress
from soc.reports.batch import write_incident_reports, write_summary_report
from soc.reports.i18n import LANGS
from soc.reports.render import FORMATS
from soc.vocab import parse_time

app = typer.Typer(no_args_is_help=True)

_LANG_HELP = "ja, en or both as 'ja,en' (default: report_lang setting)"
_FORMAT_HELP = "html, pdf, md, or several as 'html,pdf,md'"


def _choices(value: str, allowed: tuple[str, ...], hint: str) -> list[str]:
    picked = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in picked if v not in allowed]
    if bad or not picked:
        raise typer.BadParameter(f"use one or more of {', '.join(allowed)} separated by commas", param_hint=hint)
    return list(dict.fromkeys(picked))


def _when(value: str, tz: ZoneInfo, *, hint: str, end_of_day: bool) -> datetime:
    """A day (``2026-11-17``, local midnight; the day after for an end) or an ISO time with a zone."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        try:
            return parse_time(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint=hint) from exc
    if end_of_day:
        day += timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=tz)


@app.command("incident")
@command
def incident(
    incident_ids: Annotated[
        list[str], typer.Argument(help="one or more incident ids (or unique prefixes), e.g. INC-20261124-3fa9c2")
    ],
    lang: Annotated[str | None, typer.Option("--lang", help=_LANG_HELP)] = None,
    fmt: Annotated[str, typer.Option("--format", help=_FORMAT_HELP)] = "html",
    out: Annotated[Path | None, typer.Option("--out", help="directory (default: out_dir setting)")] = None,
    new_edition: Annotated[
        bool, typer.Option("--new-edition", help="record a new numbered edition even if nothing changed")
    ] = False,
) -> None:
    """Render the decision-first incident report for the CISO.

    Each render is a numbered edition (第1報, 第2報, ... 最終報) recorded in Elasticsearch;
    rendering again without any change is the same edition."""
    ctx = context()
    langs = _choices(lang or ctx.settings.report_lang, LANGS, "--lang")
    formats = _choices(fmt, FORMATS, "--format")
    ids = [resolve_incident(ctx, i) for i in incident_ids]
    with progress("reports", total=len(ids), unit="incidents", enabled=None if len(ids) > 1 else False) as advance:
        paths = write_incident_reports(
            ctx, ids, langs=langs, formats=formats, out_dir=out or ctx.settings.out_dir, new_edition=new_edition,
            on_incident=lambda _i: advance(1),
        )  # fmt: skip
    for path in paths:
        console.print(str(path))


@app.command("summary")
@command
def summary(
    from_: Annotated[
        str | None, typer.Option("--from", help="first day (2026-11-17) or ISO time; default: 7 days before --to")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="last day, included (2026-11-23), or ISO time; default: now")
    ] = None,
    lang: Annotated[str | None, typer.Option("--lang", help=_LANG_HELP)] = None,
    fmt: Annotated[str, typer.Option("--format", help=_FORMAT_HELP)] = "html",
    out: Annotated[Path | None, typer.Option("--out", help="directory (default: out_dir setting)")] = None,
) -> None:
    """Render the periodic SOC summary: alert volume, triage, incidents, MTTD/MTTA/MTTR, data health."""
    ctx = context()
    tz = ctx.settings.tz
    langs = _choices(lang or ctx.settings.report_lang, LANGS, "--lang")
    formats = _choices(fmt, FORMATS, "--format")
    end = _when(to, tz, hint="--to", end_of_day=True) if to else ctx.clock.now()
    start = _when(from_, tz, hint="--from", end_of_day=False) if from_ else end - timedelta(days=7)
    if end <= start:
        raise typer.BadParameter("--to must be after --from", param_hint="--to")
    for path in write_summary_report(
        ctx, start=start, end=end, langs=langs, formats=formats, out_dir=out or ctx.settings.out_dir
    ):
        console.print(str(path))
