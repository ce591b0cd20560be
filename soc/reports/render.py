"""The one Jinja environment every report renders through.

* a sandboxed environment with autoescape for HTML templates; for Markdown templates
  every ``{{ … }}`` output is passed through ``md_escape`` by the environment's
  ``finalize`` hook, so no template can forget it: Markdown control characters, raw
  HTML and link syntax from logs stay inert text;
* ``StrictUndefined``: a missing value is an error, never an empty cell;
* filters are registered here and nowhere else (``md``, ``svg``, ``full``);
* a long unbroken run of characters (a 10,000-character user name from a log) is cut to
  ``RUN_SHOWN`` characters with an ellipsis and its length wherever it is printed; the
  evidence appendix prints it whole through ``full``. In HTML every run longer than
  ``BREAK_EVERY`` gets break opportunities (``<wbr>``): WeasyPrint lays out an unbreakable
  10,000-character word in a table for minutes, a broken one in a second;
* PDF is made from the HTML (``soc.reports.pdf``), never from a template of its own.
"""

from __future__ import annotations

import re
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from soc.reports import charts
from soc.reports.models import BarChart, Chart, IncidentReport, LineChart, StackedBarChart, SummaryReport
from soc.textsafe import visible

__all__ = [
    "FORMATS",
    "RUN_LIMIT",
    "TEXT_FORMATS",
    "environment",
    "md_escape",
    "render",
    "render_incident",
    "render_summary",
    "shorten_runs",
    "svg",
]

FORMATS = ("html", "pdf", "md")  # every output format; pdf is printed from the html
TEXT_FORMATS = {"html": "html.j2", "md": "md.j2"}  # format -> template suffix

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#|~>!])")
_MD_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*):(?=//)")  # a bare URL would become a link
_MD_WWW = re.compile(r"(?i)\bwww\.")
_MD_LIST = re.compile(r"^(\s*)(?:([-+])|(\d+)([.)]))(?=\s|$)")  # at a line's start: a list item
_MD_RULE = re.compile(r"^(\s*)([-=])(?=[-=\s]*$)")  # a line of - or =: a rule or a heading's underline
_MD_EMAIL = re.compile(r"(?<=[\w.+-])@(?=[\w-]+\.)")  # an e-mail address: GitHub and GitLab link it

RUN_LIMIT = 200  # an unbroken run longer than this is shortened (except through ``full``)
RUN_SHOWN = 80  # ... to this many characters, an ellipsis and its length
FULL_LINE = 64  # HTML: a run printed whole is cut into lines of this many characters
BREAK_EVERY = 30  # HTML: a break opportunity every this many characters of a run longer than this
# a run: characters a line cannot break between (not spaces, not Japanese, which breaks anywhere)
_RUN = re.compile(r"[^\s\u3000-\u30ff\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]{%d,}")
_LONG = _RUN.pattern % (RUN_LIMIT + 1)
_BREAKABLE = _RUN.pattern % (BREAK_EVERY + 1)


def shorten_runs(text: str, lang: str, *, appendix: bool = False) -> str:
    """Cut every unbroken run longer than ``RUN_LIMIT`` to ``RUN_SHOWN`` characters and
    say how long it was (and, when the report has one, that the appendix has it whole)."""

    def cut(m: re.Match[str]) -> str:
        n = f"{len(m.group(0)):,}"
        if lang == "ja":
            note = f"（全{n}文字。全文は付録）" if appendix else f"（全{n}文字）"
        else:
            note = f" ({n} characters; in full in the appendix)" if appendix else f" ({n} characters)"
        return m.group(0)[:RUN_SHOWN] + "…" + note

    return re.sub(_LONG, cut, text)


_WBR, _NEWLINE = Markup("<wbr>"), Markup("\n")


def _breakable(text: str, *, every: int = BREAK_EVERY, joint: Markup = _WBR) -> Markup:
    """*text* HTML-escaped with a break (*joint*) every *every* characters of a long run."""
    out: list[str] = []
    last = 0
    for m in re.finditer(_BREAKABLE, text):
        out.append(escape(text[last : m.start()]))
        run = m.group(0)
        out.append(joint.join(escape(run[i : i + every]) for i in range(0, len(run), every)))
        last = m.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def md_escape(value: object) -> str:
    """Make *value* inert in Markdown: escape control characters, neutralise raw HTML,
    fold newlines so a value cannot start a heading, list or table row, escape a list
    marker at its start, a value that is only ``-``/``=`` (a rule or a heading's underline),
    the ``:`` of a bare URL (``http\\://``, ``www\\.``) and the ``@`` of an e-mail address
    so no autolink is made from a log string."""
    text = str(value).replace("\r", " ").replace("\n", " ")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _MD_SCHEME.sub(r"\1\\:", text)
    text = _MD_WWW.sub(lambda m: m.group(0)[:-1] + "\\.", text)
    text = _MD_EMAIL.sub(r"\\@", text)
    text = _MD_RULE.sub(r"\1\\\2", text)
    return _MD_LIST.sub(_list_marker, text)


def _list_marker(m: re.Match[str]) -> str:
    bullet, number, dot = m.group(2), m.group(3), m.group(4)
    return m.group(1) + ("\\" + bullet if bullet else number + "\\" + dot)


def svg(chart: Chart, empty: str = "No data") -> Markup:
    """Inline SVG for a chart of the report context (texts escaped by ``charts``)."""
    if isinstance(chart, StackedBarChart):
        return charts.stacked_bar_chart(chart.rows, series=chart.series, title=chart.title, uid=chart.uid, empty=empty)
    if isinstance(chart, LineChart):
        return charts.line_chart(chart.x_labels, chart.series, title=chart.title, uid=chart.uid, empty=empty)
    if isinstance(chart, BarChart):
        return charts.hbar_chart(chart.bars, title=chart.title, uid=chart.uid, empty=empty)
    raise TypeError(f"not a chart: {type(chart).__name__}")


def _shown(value: str) -> str:
    return visible(" ".join(value.splitlines()) if "\n" in value or "\r" in value else value)


def _out(ctx: Context, text: str) -> Any:
    """Markdown-escaped in ``.md`` templates; HTML-escaped with break opportunities in HTML."""
    if ctx.name and ctx.name.endswith(".md.j2"):
        return Markup(md_escape(text))  # noqa: S704 - made inert by md_escape; Markup: "already finalised"
    return _breakable(text)


def _lang(ctx: Context) -> str:
    report = ctx.get("r")
    return str(getattr(report, "lang", "en"))


@pass_context
def _finalize(ctx: Context, value: Any) -> Any:
    """Every value a template prints: controls, bidi overrides and invisible characters
    shown as escapes (``soc.textsafe.visible``), long unbroken runs shortened, then
    Markdown-escaped in ``.md`` templates or HTML-escaped with break opportunities."""
    if isinstance(value, Markup):
        return value
    if not isinstance(value, str):
        value = str(value)
    appendix = bool(ctx.name and ctx.name.startswith("incident."))
    return _out(ctx, shorten_runs(_shown(value), _lang(ctx), appendix=appendix))


@pass_context
def _full(ctx: Context, value: Any) -> Any:
    """A value printed whole (the evidence appendix), still escaped. In HTML a long run is
    cut into lines of ``FULL_LINE`` characters (a ``pre-wrap`` span): the cheapest layout
    for WeasyPrint, which pays for every break opportunity of a run."""
    text = _shown(str(value))
    if ctx.name and ctx.name.endswith(".md.j2"):
        return _out(ctx, text)
    return Markup('<span class="full">%s</span>') % _breakable(text, every=FULL_LINE, joint=_NEWLINE)


@pass_context
def _plain(ctx: Context, value: Any) -> Markup:
    """A value where HTML cannot hold markup (the ``<title>``: a ``<wbr>`` there shows as
    text in the browser's tab): escaped, controls shown visibly, long runs shortened."""
    return escape(shorten_runs(_shown(str(value)), _lang(ctx)))


def _is_long(value: Any) -> bool:
    """Whether printing *value* shortens it (the appendix then prints it whole)."""
    return re.search(_LONG, str(value)) is not None


def environment() -> Environment:
    env = SandboxedEnvironment(
        loader=PackageLoader("soc.reports", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True),
        undefined=StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    env.filters["svg"] = svg
    env.filters["full"] = _full
    env.filters["plain"] = _plain
    env.tests["long"] = _is_long
    return env


def render(kind: str, context: IncidentReport | SummaryReport, fmt: str, *, env: Environment | None = None) -> str:
    """Render a text format (html or md) of report *kind* (``incident`` or ``summary``)."""
    if fmt not in TEXT_FORMATS:
        raise ValueError(f"unknown text format {fmt!r}; use one of {', '.join(TEXT_FORMATS)}")
    template = (env or environment()).get_template(f"{kind}.{TEXT_FORMATS[fmt]}")
    return template.render(r=context)


def render_incident(report: IncidentReport, fmt: str, *, env: Environment | None = None) -> str:
    return render("incident", report, fmt, env=env)


def render_summary(report: SummaryReport, fmt: str, *, env: Environment | None = None) -> str:
    return render("summary", report, fmt, env=env)
