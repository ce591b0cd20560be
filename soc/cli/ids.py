"""Incident ids as users type them: the full id or any unique prefix of it.

``soc incidents show inc-20261123-ab`` finds the one incident whose id starts so (in any
case); a prefix that matches several is refused with the candidates listed, one that
matches none with the "no incident 'X'" error. One search per id, on the id keyword
field. (Alert ids: ``soc.alerts.queue.resolve_alert_id``, shared with the console.)
"""

from __future__ import annotations

from soc.context import AppContext
from soc.errors import NotFound, SocError
from soc.es.indices import incidents_index

__all__ = ["AmbiguousIncidentId", "resolve_incident"]

_SHOWN = 10  # candidates listed in the error of an ambiguous prefix
_LIST_HINT = "list incidents with 'soc incidents list'"


class AmbiguousIncidentId(SocError):
    """A prefix that matches more than one incident."""


def resolve_incident(ctx: AppContext, text: str) -> str:
    """The full id of the incident *text* names (its id or a unique prefix)."""
    if not text:
        raise SocError("an incident id is required", hint=_LIST_HINT)
    body = {
        "size": _SHOWN + 1,
        "_source": False,
        "fields": ["id"],
        "query": {"prefix": {"id": {"value": text, "case_insensitive": True}}},
        "sort": [{"id": "asc"}],  # an id sorts before every longer id it is a prefix of
    }
    hits = ctx.es.search(incidents_index(ctx.es), body, action="resolve incident id")["hits"]["hits"]
    found = [str(h["fields"]["id"][0]) for h in hits if h.get("fields", {}).get("id")]
    if not found:
        raise NotFound(f"no incident {text!r}", hint=_LIST_HINT)
    if len(found) == 1 or found[0].lower() == text.lower():
        return found[0]
    shown = ", ".join(found[:_SHOWN]) + (" …" if len(found) > _SHOWN else "")
    count = f"more than {_SHOWN}" if len(found) > _SHOWN else str(len(found))
    raise AmbiguousIncidentId(
        f"incident id prefix {text!r} matches {count} incidents: {shown}", hint="give more characters of the id"
    )
