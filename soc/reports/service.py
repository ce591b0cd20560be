"""Reports that act: load the definitions once, issue an incident report's edition and
serve it as issued, build the SOC summary.

The shape of ``soc.reports``:

* ``gather`` reads Elasticsearch once per report (definitions are passed in);
* ``incident``, ``summary`` and their section builders are pure: every statement a
  report makes is derived there (checked by the ``reports-pure`` import contract);
* ``render`` (HTML, Markdown) and ``pdf`` are the one rendering layer;
* ``store`` keeps the editions, each with its renderings as issued;
* this module and ``batch`` (files) are the only callers of all of them.
"""

from __future__ import annotations

from datetime import datetime

from soc.context import AppContext
from soc.detection.loader import load_detectors
from soc.errors import DefinitionErrors, SocError
from soc.playbooks.loader import load_playbooks
from soc.reports.editions import Edition
from soc.reports.gather import gather_incident, gather_summary
from soc.reports.i18n import LANGS
from soc.reports.incident import build_report
from soc.reports.inputs import Definitions, ReportInputs
from soc.reports.models import IncidentReport, SummaryReport
from soc.reports.pdf import html_to_pdf
from soc.reports.render import TEXT_FORMATS, environment, render
from soc.reports.store import EditionStore
from soc.reports.summary import build_summary

__all__ = [
    "build_incident_report",
    "build_summary_report",
    "edition_text",
    "issue_edition",
    "load_definitions",
]


def load_definitions(ctx: AppContext) -> Definitions:
    """Every detector (disabled ones too) and playbook; a set that does not load is left
    out with a warning (the report then shows ids, or no decision section)."""
    try:
        detectors = list(load_detectors(ctx.settings.detectors_dir, include_disabled=True))
    except DefinitionErrors as exc:
        ctx.log.warning("report shows detector ids, not titles: %s", exc.render())
        detectors = []
    try:
        playbooks = list(load_playbooks(ctx.settings.playbooks_dir))
    except DefinitionErrors as exc:
        ctx.log.warning("report has no decision section: the playbooks do not load: %s", exc.render())
        playbooks = []
    return Definitions(detectors=detectors, playbooks=playbooks)


def _renderings(inputs: ReportInputs, edition: Edition, ctx: AppContext, now: datetime) -> dict[str, str]:
    env = environment()
    out: dict[str, str] = {}
    for lang in LANGS:
        report = build_report(inputs, edition=edition, lang=lang, tz=ctx.settings.tz, now=now)
        for fmt in TEXT_FORMATS:
            out[f"{lang}.{fmt}"] = render("incident", report, fmt, env=env)
    return out


def issue_edition(ctx: AppContext, inputs: ReportInputs, *, force: bool = False) -> Edition:
    """The edition of the incident as it is now — the latest one when nothing changed (unless
    *force*), else a new one — with its renderings as issued (stored with a new edition).
    An edition recorded before renderings were stored is rendered from today's record."""
    now = ctx.clock.now()
    edition = EditionStore(ctx.es).record(
        inputs.incident,
        inputs.alerts,
        now=now,
        force=force,
        render=lambda e: _renderings(inputs, e, ctx, now),
    )
    if not edition.renderings:
        edition = edition.model_copy(update={"renderings": _renderings(inputs, edition, ctx, now)})
    return edition


def build_incident_report(
    ctx: AppContext,
    incident_id: str,
    lang: str,
    *,
    new_edition: bool = False,
    definitions: Definitions | None = None,
) -> IncidentReport:
    """Issue the incident's edition (see ``issue_edition``) and return its typed context in *lang*."""
    inputs = gather_incident(ctx, incident_id, definitions or load_definitions(ctx))
    edition = issue_edition(ctx, inputs, force=new_edition)
    return build_report(inputs, edition=edition, lang=lang, tz=ctx.settings.tz, now=ctx.clock.now())


def edition_text(
    ctx: AppContext,
    incident_id: str,
    lang: str,
    fmt: str,
    *,
    number: int | None = None,
    definitions: Definitions | None = None,
) -> tuple[Edition, str | bytes]:
    """Edition *number* of the incident's report as it was issued (HTML or Markdown text,
    or the PDF printed from its stored HTML); without *number*, the edition issued now."""
    if lang not in LANGS:
        raise SocError(f"unknown report language {lang!r}", field="lang", hint=" or ".join(LANGS))
    if fmt not in (*TEXT_FORMATS, "pdf"):
        raise SocError(f"unknown report format {fmt!r}", field="format", hint="html, md or pdf")
    if number is None:
        edition = issue_edition(ctx, gather_incident(ctx, incident_id, definitions or load_definitions(ctx)))
    else:
        found = EditionStore(ctx.es).get(incident_id, number)
        if found is None:
            raise SocError(f"{incident_id} has no edition {number}", field="edition")
        edition = found
    text = edition.rendering(lang, "html" if fmt == "pdf" else fmt)
    if text is None:
        raise SocError(
            f"edition {number} of {incident_id} was issued before renderings were stored",
            field="edition",
            hint="issue a new edition: soc report incident --new-edition",
        )
    return edition, html_to_pdf(text) if fmt == "pdf" else text


def build_summary_report(
    ctx: AppContext, *, start: datetime, end: datetime, lang: str, definitions: Definitions | None = None
) -> SummaryReport:
    """The SOC summary for [start, end) in *lang*, read from Elasticsearch."""
    inputs = gather_summary(ctx, start=start, end=end, definitions=definitions or load_definitions(ctx))
    return build_summary(inputs, lang=lang, tz=ctx.settings.tz, now=ctx.clock.now())
