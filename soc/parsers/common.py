"""Normalisation every parser shares, so the same fact looks the same whatever log it came from."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

from soc.network.segments import normalise_ip

__all__ = [
    "BadLine",
    "event_id",
    "ip_or_none",
    "numbered_lines",
    "port_or_none",
    "put",
    "registered_domain",
    "split_user",
]

# Second-level labels under a two-letter country code that are themselves public suffixes
# (www.city.kobe.lg.jp belongs to kobe.lg.jp, not to lg.jp). A short list instead of the
# whole Public Suffix List: it covers what a Japanese city's resolvers see most.
_SECOND_LEVEL = frozenset({"ac", "ad", "co", "ed", "go", "gr", "lg", "ne", "or", "com", "net", "org", "gov", "edu"})


class BadLine(ValueError):
    """Raised inside a parser for a line that is malformed; the message becomes the rejection."""


def event_id(fmt: str, raw: str, n: int = 0) -> str:
    """A stable id from the raw line, so re-ingesting a file indexes nothing twice.

    The line, not the file name or position: the same event copied into a rotated or
    concatenated file keeps its id. ``n`` tells apart events expanded from one line.
    """
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{fmt}-{digest}" if n == 0 else f"{fmt}-{digest}-{n}"


def split_user(raw: object) -> tuple[str | None, str | None]:
    """``"CITY\\T.Suzuki"`` → ``("t.suzuki", "CITY")``; ``"-"`` or empty → ``(None, None)``.

    Names are lower-cased because Windows and most directories compare them without case,
    and a detector that groups by ``user.name`` must not see two users in ``T.Suzuki`` and
    ``t.suzuki``.
    """
    if not isinstance(raw, str):
        return None, None
    text = raw.strip()
    if text in ("", "-"):
        return None, None
    domain: str | None = None
    if "\\" in text:
        domain, text = text.split("\\", 1)
        domain = domain or None
    return (text.lower() or None), domain


def ip_or_none(raw: object) -> str | None:
    """A canonical IP (``::ffff:10.0.0.1`` → ``10.0.0.1``), or None for ``-``, empty and non-IPs."""
    return normalise_ip(raw.strip() if isinstance(raw, str) else raw)


def port_or_none(raw: object, what: str) -> int | None:
    """A port number, None when absent (``-``, empty, 0); BadLine when out of range."""
    if raw is None or raw in ("", "-"):
        return None
    try:
        port = int(str(raw))
    except ValueError:
        raise BadLine(f"{what}: {raw!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise BadLine(f"{what}: port {port} is out of range")
    return port or None


def registered_domain(name: str) -> str | None:
    """The registrable part of a DNS name: the last two labels, or three under ``lg.jp``,
    ``co.jp`` and similar second-level suffixes (``www.city.kobe.lg.jp`` → ``kobe.lg.jp``)."""
    labels = [label for label in name.lower().rstrip(".").split(".") if label]
    if len(labels) < 2:
        return None
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def put(doc: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``doc["a"]["b"] = value`` for ``"a.b"``, skipping None so absent facts stay absent."""
    if value is None:
        return
    node = doc
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def numbered_lines(lines: Iterable[str], source: str) -> Iterator[tuple[str, str]]:
    """``(file:line, text)`` for each non-blank line, the line ending removed."""
    for lineno, line in enumerate(lines, start=1):
        raw = line.rstrip("\r\n")
        if raw.strip():
            yield f"{source}:{lineno}", raw
