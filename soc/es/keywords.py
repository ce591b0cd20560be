"""Keyword values longer than the index keeps are still detected.

A ``keyword`` field is mapped with ``ignore_above`` (``KEYWORD_LIMIT`` characters): a longer
value stays in ``_source`` but is left out of the index, so no term query, aggregation or
detector sees it — a 1,025-character user name would escape every brute-force rule.
(Lucene cannot index a term above 32,766 bytes at all, so raising the limit only moves the
cliff.)

So at ingest every keyword value longer than ``KEYWORD_LIMIT`` is replaced by a bounded,
normalised form: its first ``PREFIX`` characters, then ``…#`` and 16 hex digits of the
SHA-256 of the whole value, then its length (``"aaaa…#3f2c9e0d5b7a1c44(10000 chars)"``).
The same value always gives the same form, two different values (even with the same prefix)
give different forms, and the form is short enough to index: detectors group, count and
match on it like on any other name. The whole original value is kept, unindexed, under
``soc.long_values.<field>`` so nothing is lost.

Pure: no I/O. ``soc.es.ingest.prepare`` calls ``bound_keywords`` on every event.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from soc.ecs import field_type

__all__ = ["DYNAMIC_KEYWORD_LIMIT", "KEYWORD_LIMIT", "LONG_VALUES", "PREFIX", "bound_keywords", "bounded"]

KEYWORD_LIMIT = 1024  # the ignore_above of every declared keyword field (soc.es.indices)
DYNAMIC_KEYWORD_LIMIT = 4096  # the ignore_above of strings in fields no template declares
PREFIX = 256
LONG_VALUES = "long_values"  # under "soc": the original values, stored but not indexed


def bounded(value: str) -> str:
    """The indexable stand-in of a keyword value longer than ``KEYWORD_LIMIT``."""
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{value[:PREFIX]}…#{digest}({len(value)} chars)"


@functools.lru_cache(maxsize=4096)  # bounded: hostile documents bring any number of field names
def _limit(path: str) -> int | None:
    """How many characters of a string in *path* the index keeps (None: no limit)."""
    kind = field_type(path)
    if kind is None:  # unknown fields are mapped by the dynamic template as keywords
        return DYNAMIC_KEYWORD_LIMIT
    return KEYWORD_LIMIT if kind == "keyword" else None


@functools.lru_cache(maxsize=4096)  # bounded: hostile documents bring any number of field names
def _descend(path: str) -> bool:
    """Are the values under the object at *path* indexed field by field?"""
    return path not in _NOT_WALKED and field_type(path) not in {"stored", "flattened"}


_NOT_WALKED = frozenset({"message", "event.original", f"soc.{LONG_VALUES}"})
_SHORTEST_LIMIT = min(KEYWORD_LIMIT, DYNAMIC_KEYWORD_LIMIT)


def bound_keywords(doc: dict[str, Any]) -> dict[str, Any]:
    """Replace (in place) every over-long keyword value of *doc*; return *doc*."""
    originals: dict[str, Any] = {}
    _walk(doc, "", originals)
    if originals:
        soc = doc.setdefault("soc", {})
        if isinstance(soc, dict):
            soc.setdefault(LONG_VALUES, {}).update(originals)
    return doc


def _walk(node: dict[str, Any], prefix: str, originals: dict[str, Any]) -> None:
    for key, value in node.items():
        # the hot path of ingest: a short string (nearly every value) needs no field lookup
        if isinstance(value, str):
            if len(value) <= _SHORTEST_LIMIT:
                continue
        elif isinstance(value, list):
            if not any(isinstance(v, str) and len(v) > _SHORTEST_LIMIT for v in value):
                continue
        elif not isinstance(value, dict):
            continue
        path = f"{prefix}{key}"
        if path in _NOT_WALKED:
            continue
        if isinstance(value, dict):
            if _descend(path):
                _walk(value, f"{path}.", originals)
            continue
        limit = _limit(path)
        if limit is None:
            continue
        if isinstance(value, str) and len(value) > limit:
            originals[path] = value
            node[key] = bounded(value)
        elif isinstance(value, list) and any(isinstance(v, str) and len(v) > limit for v in value):
            originals[path] = list(value)
            node[key] = [bounded(v) if isinstance(v, str) and len(v) > limit else v for v in value]
