"""Alert and incident ids as users type them: the full id or any unique prefix of it.

``soc alerts show A-3f2c`` and ``soc incidents show inc-20261123-ab`` find the one alert or
incident whose id starts so (case-insensitively); a prefix that matches several is refused
with the candidates listed, one that matches none with the same "no alert 'X'" error as
before. One search per id, on the id keyword field of the index.
"""

from __future__ import annotations

from soc.context import AppContext
from soc.errors import NotFound, SocError
from soc.es.indices import alerts_index, incidents_index

__all__ = ["AmbiguousId", "resolve_alert", "resolve_alerts", "resolve_incident"]

_SHOWN = 10  # candidates listed in the error of an ambiguous prefix


class AmbiguousId(SocError):
    """A prefix that matches more than one id."""


def resolve_alert(ctx: AppContext, text: str) -> str:
    """The full id of the alert *text* names (its id or a unique prefix)."""
    return _resolve(ctx, alerts_index(ctx.es), "soc.alert.id", text, what="alert", listing="soc alerts list")


def resolve_alerts(ctx: AppContext, texts: list[str]) -> list[str]:
    return [resolve_alert(ctx, t) for t in texts]


def resolve_incident(ctx: AppContext, text: str) -> str:
    """The full id of the incident *text* names (its id or a unique prefix)."""
    return _resolve(ctx, incidents_index(ctx.es), "id", text, what="incident", listing="soc incidents list")


def _resolve(ctx: AppContext, index: str, field: str, text: str, *, what: str, listing: str) -> str:
    if not text:
        raise SocError(f"give an {what} id", hint=f"list them with '{listing}'")
    body = {
        "size": _SHOWN + 1,
        "_source": False,
        "fields": [field],
        "query": {"prefix": {field: {"value": text, "case_insensitive": True}}},
        "sort": [{field: "asc"}],
    }
    hits = ctx.es.search(index, body, action=f"find {what} {text!r}")["hits"]["hits"]
    found = [str(h["fields"][field][0]) for h in hits if h.get("fields", {}).get(field)]
    exact = [f for f in found if f.lower() == text.lower()]
    if len(exact) == 1:
        return exact[0]
    if len(found) == 1:
        return found[0]
    if not found:
        raise NotFound(f"no {what} {text!r}", hint=f"list them with '{listing}'")
    more = " …" if len(found) > _SHOWN else ""
    raise AmbiguousId(
        f"{what} id prefix {text!r} matches {'more than ' if more else ''}{min(len(found), _SHOWN)} {what}s: "
        f"{', '.join(found[:_SHOWN])}{more}",
        hint="give more characters of the id",
    )
