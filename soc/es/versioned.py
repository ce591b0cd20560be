"""Versioned read-modify-write: the one way soc changes a document other writers may change.

Read the document with its ``_seq_no``/``_primary_term``, apply a pure change, write it
back only if nobody wrote in between (``if_seq_no``/``if_primary_term``); on
``VersionConflict`` (HTTP 409) read again and re-apply. A change returning ``None`` writes
nothing. Callers never look at error text.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from soc.errors import NotFound, VersionConflict
from soc.es.client import EsGateway

__all__ = ["ATTEMPTS", "read_modify_write", "retry_conflicts"]

T = TypeVar("T")
M = TypeVar("M")

ATTEMPTS = 8


def retry_conflicts(attempt: Callable[[int], T], *, what: str, attempts: int = ATTEMPTS) -> T:
    """Call ``attempt(n)`` (n = 0, 1, ...) until it returns without a ``VersionConflict``.

    Between tries it sleeps a few random milliseconds so that writers racing on one
    document do not collide again in lock step. The last conflict is re-raised, chained.
    """
    for n in range(attempts):
        try:
            return attempt(n)
        except VersionConflict as exc:
            if n == attempts - 1:
                raise VersionConflict(
                    f"{what}: changed by another writer {attempts} times in a row", hint="try again"
                ) from exc
            time.sleep(random.uniform(0.002, 0.02) * (n + 1))
    raise AssertionError("unreachable")  # pragma: no cover - attempts >= 1


def read_modify_write(
    gw: EsGateway,
    index: str,
    doc_id: str,
    *,
    load: Callable[[dict[str, Any]], M],
    dump: Callable[[M], dict[str, Any]],
    change: Callable[[M], M | None],
    missing: str | None = None,
    refresh: bool = True,
    attempts: int = ATTEMPTS,
) -> M:
    """Apply *change* to the document *doc_id* of *index* and return what is stored after.

    *load*/*dump* convert between ``_source`` and the model. *missing* is the hint of the
    ``NotFound`` raised when the document does not exist.
    """

    def once(_n: int) -> M:
        found = gw.get(index, doc_id)
        if found is None:
            raise NotFound(f"no document {doc_id!r} in {index}", object_id=doc_id, hint=missing)
        current = load(found["_source"])
        updated = change(current)
        if updated is None:
            return current
        gw.put(
            index,
            doc_id,
            dump(updated),
            if_seq_no=int(found["_seq_no"]),
            if_primary_term=int(found["_primary_term"]),
            refresh=refresh,
        )
        return updated

    return retry_conflicts(once, what=f"update {index}/{doc_id}", attempts=attempts)
