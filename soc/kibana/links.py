"""A Discover link from an alert to the events behind it.

Kibana keeps Discover's state in the URL fragment as Rison. Every value that came from a
log (user names, host names, addresses) is escaped three times on its way: as a KQL
string (``\\`` and ``"``), as a Rison string (``!`` and ``'``), and percent-encoded, so a
hostile user name cannot change the query, the state or the URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from urllib.parse import quote

from soc.vocab import iso

__all__ = ["discover_url", "events_data_view_id", "kql_equals", "rison_string"]

_MARGIN = timedelta(minutes=1)  # events at the edges of the alert stay in view


def events_data_view_id(prefix: str) -> str:
    """The id of the data view over every events index (see ``soc.kibana.objects``)."""
    return f"{prefix}-events"


def kql_equals(field: str, value: str) -> str:
    """``field:"value"`` with the value escaped for KQL."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{field}:"{escaped}"'


def rison_string(text: str) -> str:
    """A Rison string literal: always quoted, ``!`` and ``'`` escaped with ``!``."""
    return "'" + text.replace("!", "!!").replace("'", "!'") + "'"


def discover_url(kibana_url: str, *, prefix: str, entity: Mapping[str, str], start: datetime, end: datetime) -> str:
    """Discover, on the events data view, filtered to the alert's entity and time span."""
    query = " and ".join(kql_equals(k, v) for k, v in sorted(entity.items()))
    g = f"(time:(from:{rison_string(iso(start - _MARGIN))},to:{rison_string(iso(end + _MARGIN))}))"
    a = f"(index:{rison_string(events_data_view_id(prefix))},query:(language:kuery,query:{rison_string(query)}))"
    safe = "()',:!*-._~"
    return f"{kibana_url.rstrip('/')}/app/discover#/?_g={quote(g, safe=safe)}&_a={quote(a, safe=safe)}"
