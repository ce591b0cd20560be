"""Write reports to files (used by ``soc report``, ``soc demo`` and the summary job).

An incident is read once and its edition issued once per call (``soc.reports.service``):
every language and format of one call is that edition, written as it was issued (its
stored HTML and Markdown; the PDF printed from the stored HTML). A summary is read once
and built once per language; its HTML is rendered once and, when PDF is wanted, printed
from that same HTML.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path

from soc.context import AppContext
from soc.reports.gather import gather_incident, gather_summary
from soc.reports.i18n import LANGS
from soc.reports.inputs import Definitions
from soc.reports.models import IncidentReport, SummaryReport
from soc.reports.pdf import html_to_pdf
from soc.reports.render import FORMATS, environment, render
from soc.reports.service import issue_edition, load_definitions
from soc.reports.summary import build_summary

__all__ = [
    "summary_stem",
    "write_incident_report",
    "write_incident_reports",
    "write_report_files",
    "write_summary_report",
]


def _check(langs: list[str], formats: list[str]) -> None:
    for lang in langs:
        if lang not in LANGS:
            raise ValueError(f"unknown report language {lang!r}; use one of {', '.join(LANGS)}")
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")


def write_report_files(
    kind: str, context: IncidentReport | SummaryReport, *, stem: str, formats: Iterable[str], out_dir: Path
) -> list[Path]:
    """Write ``<stem>.<lang>.<ext>`` for every format of one built report."""
    formats = list(dict.fromkeys(formats))
    _check([context.lang], formats)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = environment()
    paths: list[Path] = []
    html = render(kind, context, "html", env=env) if {"html", "pdf"} & set(formats) else ""
    for fmt in formats:
        path = out_dir / f"{stem}.{context.lang}.{fmt}"
        if fmt == "pdf":
            path.write_bytes(html_to_pdf(html))
        else:
            path.write_text(html if fmt == "html" else render(kind, context, fmt, env=env), encoding="utf-8")
        paths.append(path)
    return paths


def write_incident_report(
    ctx: AppContext, incident_id: str, *, lang: str, fmt: str, out_dir: Path, new_edition: bool = False
) -> Path:
    """One incident report in one language and one format (html, pdf or md)."""
    return write_incident_reports(
        ctx, [incident_id], out_dir=out_dir, langs=[lang], formats=[fmt], new_edition=new_edition
    )[0]


def write_incident_reports(
    ctx: AppContext,
    incident_ids: Iterable[str],
    *,
    out_dir: Path,
    langs: Iterable[str] = ("ja", "en"),
    formats: Iterable[str] = ("html",),
    new_edition: bool = False,
    definitions: Definitions | None = None,
    on_incident: Callable[[str], None] | None = None,  # progress: called after each incident
) -> list[Path]:
    """Every incident in every language and format: ``<out_dir>/<incident id>.<lang>.<fmt>``.

    Issues one edition per incident (a new one only if its facts changed since the
    latest, or *new_edition*); every file of the incident is that edition as issued. The
    definitions are read once for all incidents (or passed in)."""
    langs, formats = list(langs), list(formats)
    _check(langs, formats)
    defs = definitions if definitions is not None else load_definitions(ctx)
    paths: list[Path] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for incident_id in incident_ids:
        edition = issue_edition(ctx, gather_incident(ctx, incident_id, defs), force=new_edition)
        for lang in langs:
            for fmt in formats:
                path = out_dir / f"{incident_id}.{lang}.{fmt}"
                html = edition.rendering(lang, "html") or ""
                if fmt == "pdf":
                    path.write_bytes(html_to_pdf(html))
                else:
                    path.write_text(edition.rendering(lang, fmt) or "", encoding="utf-8")
                paths.append(path)
        if on_incident is not None:
            on_incident(incident_id)
    return paths


def summary_stem(start: datetime, end: datetime, ctx: AppContext) -> str:
    """``summary-20261117-20261123``: the first and last local day of [start, end)."""
    tz = ctx.settings.tz
    last = end - timedelta(microseconds=1)
    return f"summary-{start.astimezone(tz):%Y%m%d}-{last.astimezone(tz):%Y%m%d}"


def write_summary_report(
    ctx: AppContext,
    *,
    start: datetime,
    end: datetime,
    out_dir: Path,
    langs: Iterable[str] = ("ja", "en"),
    formats: Iterable[str] = ("html",),
    definitions: Definitions | None = None,
) -> list[Path]:
    """The SOC summary for [start, end) in every language and format:
    ``<out_dir>/summary-<from>-<to>.<lang>.<fmt>``; everything is read once for all languages."""
    langs, formats = list(langs), list(formats)
    _check(langs, formats)
    if end <= start:
        raise ValueError(f"the period ends ({end.isoformat()}) before it starts ({start.isoformat()})")
    defs = definitions if definitions is not None else load_definitions(ctx)
    inputs = gather_summary(ctx, start=start, end=end, definitions=defs)
    paths: list[Path] = []
    for lang in langs:
        report = build_summary(inputs, lang=lang, tz=ctx.settings.tz, now=ctx.clock.now())
        stem = summary_stem(start, end, ctx)
        paths += write_report_files("summary", report, stem=stem, formats=formats, out_dir=out_dir)
    return paths
