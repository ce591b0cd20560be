"""Normalisation every parser shares, so the same fact looks the same whatever log it came from."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

import orjson

from soc.errors import SocError
from soc.network.dns import registered_domain
from soc.network.segments import normalise_ip
from soc.parsers.models import Rejected

__all__ = [
    "MAX_DEPTH",
    "BadLine",
    "check_depth",
    "event_id",
    "finite",
    "guarded",
    "ip_or_none",
    "load_json_object",
    "normalise_user_names",
    "numbered_lines",
    "port_or_none",
    "put",
    "registered_domain",
    "split_user",
]

MAX_DEPTH = 32  # nesting deeper than this is no log record (Elasticsearch maps at most 20 levels)


class BadLine(SocError, ValueError):
    """Raised inside a parser for a line that is malformed; the message becomes the rejection."""


def _no_constant(name: str) -> Any:
    raise BadLine(f"{name} is not a number JSON allows")


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """BadLine when objects or arrays nest deeper than ``limit`` (iterative: no recursion).

    Level by level, holding only the containers: a scalar is looked at once."""
    level = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            raise BadLine(f"nested deeper than {limit} levels")
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, dict | list)
        ]


_UNREAD = object()
_LONG_DIGITS = re.compile(r"(?a)\d{19}")  # ASCII digits: a JSON number has no others (twice as fast)


def load_json_object(text: str) -> dict[str, Any]:
    """One JSON object from a line, bounded: BadLine for invalid JSON, NaN/Infinity, nesting
    deeper than MAX_DEPTH, or a value that is not an object."""
    obj: Any = _UNREAD
    if not _LONG_DIGITS.search(text):
        # orjson first (the hot path of ingest); what it refuses (lone surrogates, numbers
        # beyond a double, bad JSON) and integers of 19+ digits (which it would read as
        # floats) are read by json, so what is accepted, its values and the messages are json's
        with contextlib.suppress(orjson.JSONDecodeError):
            obj = orjson.loads(text)
    try:
        if obj is _UNREAD:
            obj = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise BadLine(f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise BadLine(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # int() of a 5,000-digit number
        raise BadLine(f"not valid JSON: {exc}") from None
    if text.count("{") + text.count("[") > MAX_DEPTH:  # fewer brackets cannot nest deeper
        check_depth(obj)
    if not isinstance(obj, dict):
        raise BadLine(f"expected a JSON object, got {type(obj).__name__}")
    return obj


def finite(value: float, what: str, *, low: float, high: float) -> float:
    """``value`` when it is a finite number within ``[low, high]``, else BadLine naming ``what``."""
    if not math.isfinite(value) or not low <= value <= high:
        raise BadLine(f"{what}: {value!r} is out of range ({low:g} to {high:g})")
    return value


def guarded(where: str, results: Iterator[Any], raw: str | None = None) -> Iterator[Any]:
    """The results of one line's parsing; an unexpected exception becomes that line's rejection.

    A parser's own BadLine carries a message written for the operator; anything else (a
    shape no one foresaw) is still the line's fault, never the file's: it is reported with
    the exception's type so the parser can be fixed, and the next line is read.
    """
    try:
        done = list(results)
    except BadLine as exc:
        yield Rejected(where, str(exc), raw)
    except RecursionError:
        yield Rejected(where, f"nested deeper than {MAX_DEPTH} levels", raw)
    except Exception as exc:  # noqa: BLE001 - one hostile line must not end the file
        yield Rejected(where, f"cannot read this line ({type(exc).__name__}: {str(exc)[:200]})", raw)
    else:
        for result in done:
            yield replace(result, text=raw) if isinstance(result, Rejected) and result.text is None else result


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


def normalise_user_names(doc: dict[str, Any]) -> None:
    """``user.name`` and ``user.target.name`` as every parser writes them (lower-case, a
    ``DOMAIN\\`` prefix moved to ``user.domain``), in place, for documents that arrive as
    ECS (``soc ingest --format ecs``, the simulator). The name as the producer wrote it is
    kept in ``soc.user.original_name`` when it differs, as the parsers keep it in their
    raw fields (``winlog.event_data.*``, ``message``). ``-`` and empty names are left as
    they are."""
    user = doc.get("user")
    if not isinstance(user, dict):
        return
    original = user.get("name")
    name, domain = split_user(original)
    if isinstance(original, str) and name is not None and name != original:
        user["name"] = name
        if domain and not user.get("domain"):
            user["domain"] = domain
        soc = doc.setdefault("soc", {})
        if isinstance(soc, dict) and isinstance(soc.setdefault("user", {}), dict):
            soc["user"]["original_name"] = original
    target = user.get("target")
    if isinstance(target, dict) and isinstance(target.get("name"), str):
        target_name = split_user(target["name"])[0]
        if target_name is not None:
            target["name"] = target_name
    related = doc.get("related")
    if isinstance(related, dict) and isinstance(related.get("user"), list):
        related["user"] = [split_user(u)[0] or u if isinstance(u, str) else u for u in related["user"]]


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
