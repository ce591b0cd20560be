"""Country facts without a GeoIP database: what a log already says, and what is missing.

FortiGate resolves the country of each address itself and writes its English name
(``srccountry="Korea, Republic of"``, ``"Reserved"`` for private ranges). ``country``
turns such a name into the ISO 3166 code and name the geo detectors read
(``source.geo.country_iso_code``), from the ISO 3166 tables of the ``pycountry`` package.
No other format carries a country: there a GeoIP enrichment has to fill ``source.geo.*``
(the README, "Geolocation"), and ``lacks_geo`` lets ``soc ingest`` say per file when it did not.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

__all__ = ["country", "lacks_geo"]


@lru_cache(maxsize=1024)
def country(name: str) -> tuple[str, str] | None:
    """``"Japan"`` → ``("JP", "Japan")``: the ISO 3166-1 alpha-2 code and ISO short name of a
    country named as ISO writes it (name, official or common name, or a two- or three-letter
    code; any case). None for what names no country ("Reserved", "N/A", "")."""
    text = name.strip()
    if not text:
        return None
    import pycountry  # here: its tables take 0.1 s to load, and only FortiGate files need them

    try:
        found = pycountry.countries.lookup(text)
    except LookupError:
        return None
    return str(found.alpha_2), str(found.name)


def lacks_geo(doc: dict[str, Any]) -> bool:
    """An authentication event from a public address with no ``source.geo.country_iso_code``:
    the detectors that compare countries and places cannot see it."""
    event = doc.get("event")
    categories = event.get("category") if isinstance(event, dict) else None
    if categories != "authentication" and not (isinstance(categories, list) and "authentication" in categories):
        return False
    source = doc.get("source")
    if not isinstance(source, dict):
        return False
    geo = source.get("geo")
    if isinstance(geo, dict) and geo.get("country_iso_code"):
        return False
    ip = source.get("ip")
    ip = ip[0] if isinstance(ip, list) and ip else ip
    return isinstance(ip, str) and _public(ip)


@lru_cache(maxsize=65536)
def _public(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_global
    except ValueError:
        return False
