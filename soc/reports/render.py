"""The one Jinja environment every report renders through.

* a sandboxed environment with autoescape for HTML templates; for Markdown templates
  every ``{{ … }}`` output is passed through ``md_escape`` by the environment's
  ``finalize`` hook, so no template can forget it: Markdown control characters, raw
  HTML and link syntax from logs stay inert text;
* ``StrictUndefined``: a missing value is an error, never an empty cell;
* filters are registered here and nowhere else (``md``, ``svg``);
* PDF is made from the HTML (``soc.reports.pdf``), never from a template of its own.
"""

from __future__ import annotations

import re
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from soc.reports import charts
from soc.reports.models import BarChart, Chart, IncidentReport, LineChart, StackedBarChart, SummaryReport
from soc.textsafe import visible

__all__ = ["FORMATS", "TEXT_FORMATS", "environment", "md_escape", "render", "render_incident", "render_summary", "svg"]

FORMATS = ("html", "pdf", "md")  # every output format; pdf is printed from the html
TEXT_FORMATS = {"html": "html.j2", "md": "md.j2"}  # format -> template suffix

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#|~>!])")
_MD_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*):(?=//)")  # a bare URL would become a link
_MD_WWW = re.compile(r"(?i)\bwww\.")
_MD_LIST = re.compile(r"^(\s*)(?:([-+])|(\d+)([.)]))(?=\s|$)")  # at a line's start: a list item


def md_escape(value: object) -> str:
    """Make *value* inert in Markdown: escape control characters, neutralise raw HTML,
    fold newlines so a value cannot start a heading, list or table row, escape a list
    marker at its start and the ``:`` of a bare URL (``http\\://``, ``www\\.``) so no
    autolink is made from a log string."""
    text = str(value).replace("\r", " ").replace("\n", " ")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _MD_SCHEME.sub(r"\1\\:", text)
    text = _MD_WWW.sub(lambda m: m.group(0)[:-1] + "\\.", text)
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


@pass_context
def _finalize(ctx: Context, value: Any) -> Any:
    """Every value a template prints: controls, bidi overrides and invisible characters
    shown as escapes (``soc.textsafe.visible``), then Markdown-escaped in ``.md`` templates
    (HTML ones are autoescaped)."""
    if isinstance(value, Markup):
        return value
    if isinstance(value, str):
        value = visible(" ".join(value.splitlines()) if "\n" in value or "\r" in value else value)
    if ctx.name and ctx.name.endswith(".md.j2"):
        return md_escape(value)
    return value


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
