"""Write reports to files (used by ``soc report`` and ``soc demo``)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from soc.context import AppContext
from soc.reports.build import build_incident_report
from soc.reports.render import environment, render_incident

__all__ = ["write_incident_report", "write_incident_reports"]

_SUFFIX = {"html": "html", "md": "md"}


def write_incident_report(ctx: AppContext, incident_id: str, *, lang: str, fmt: str, out_dir: Path) -> Path:
    report = build_incident_report(ctx, incident_id, lang)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{incident_id}.{lang}.{_SUFFIX[fmt]}"
    path.write_text(render_incident(report, fmt, env=environment()), encoding="utf-8")
    return path


def write_incident_reports(
    ctx: AppContext,
    incident_ids: Iterable[str],
    *,
    out_dir: Path,
    langs: Iterable[str] = ("ja", "en"),
    formats: Iterable[str] = ("html",),
) -> list[Path]:
    langs, formats = list(langs), list(formats)
    return [
        write_incident_report(ctx, i, lang=lang, fmt=fmt, out_dir=out_dir)
        for i in incident_ids
        for lang in langs
        for fmt in formats
    ]
