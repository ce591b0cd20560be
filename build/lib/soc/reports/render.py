"""The one Jinja environment every report renders through.

* autoescape for HTML templates; for Markdown templates every ``{{ … }}`` output is
  passed through ``md_escape`` by the environment's ``finalize`` hook, so no template
  can forget it: Markdown control characters, raw HTML and link syntax from logs stay
  inert text;
* ``StrictUndefined``: a missing value is an error, never an empty cell;
* filters are registered here and nowhere else.
"""

from __future__ import annotations

import re
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup

from soc.reports.models import IncidentReport

__all__ = ["FORMATS", "environment", "md_escape", "render_incident"]

FORMATS = {"html": "incident.html.j2", "md": "incident.md.j2"}

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#|~>])")


def md_escape(value: object) -> str:
    """Make *value* inert in Markdown: escape control characters, neutralise raw HTML,
    fold newlines so a value cannot start a heading, list or table row."""
    text = str(value).replace("\r", " ").replace("\n", " ")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


@pass_context
def _finalize(ctx: Context, value: Any) -> Any:
    if ctx.name and ctx.name.endswith(".md.j2") and not isinstance(value, Markup):
        return md_escape(value)
    return value


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("soc.reports", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True),
        undefined=StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    return env


def render_incident(report: IncidentReport, fmt: str, *, env: Environment | None = None) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    template = (env or environment()).get_template(FORMATS[fmt])
    return template.render(r=report)
