"""Short locks held in Elasticsearch, shared by threads, processes and machines.

A lock is one document ``<prefix>-locks/<sha256 of the key>`` created with
``op_type=create``: exactly one writer succeeds, the others wait and try again. The
document carries an expiry (wall-clock seconds, ``ttl`` after taking it), so a holder that
crashed does not block anyone for longer than that: a waiter that finds an expired lock
takes it over with a conditional write (``if_seq_no``/``if_primary_term``, so only one of
several waiters wins). Releasing deletes the document only if it is still ours.

A lock serialises *decisions* (e.g. "is there an open incident for this actor, else open
one"); the writes made under it stay versioned, so a holder that stalled past its expiry
cannot overwrite what the next holder wrote — at worst its own write fails and is retried.
Expiry uses the wall clock: hosts sharing a cluster should keep their clocks in sync
(NTP); a skew of a few seconds against the default 30 s expiry is harmless.
"""

from __future__ import annotations

import hashlib
import os
import random
import socket
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from soc.errors import SocError, VersionConflict
from soc.es.client import EsGateway

__all__ = ["LockBusy", "hold", "locks_index"]

TTL_S = 30.0
WAIT_S = 120.0


class LockBusy(SocError):
    """A lock stayed taken (and unexpired) for longer than the caller would wait."""


def locks_index(gw: EsGateway) -> str:
    return gw.index_name("locks")


def _doc_id(key: str) -> str:
    return "lock-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def _doc(key: str, token: str, ttl: float) -> dict[str, Any]:
    now = time.time()
    return {
        "key": key[:256],
        "owner": token,
        "host": socket.gethostname()[:64],
        "pid": os.getpid(),
        "taken_at": now,
        "expires_at": now + ttl,
    }


def _take(gw: EsGateway, key: str, token: str, *, ttl: float, wait: float) -> None:
    index, doc_id = locks_index(gw), _doc_id(key)
    deadline = time.monotonic() + wait
    pause = 0.005
    while True:
        if gw.create(index, doc_id, _doc(key, token, ttl)):
            return
        found = gw.get(index, doc_id)
        if found is None:
            continue  # released between our create and our read: try again at once
        if found["_source"].get("owner") == token:
            return  # our own create (or takeover): its answer was lost, the client's retry got 409
        if float(found["_source"].get("expires_at", 0)) < time.time():
            try:  # the holder crashed or stalled: take it over, unless another waiter did
                gw.put(
                    index,
                    doc_id,
                    _doc(key, token, ttl),
                    if_seq_no=int(found["_seq_no"]),
                    if_primary_term=int(found["_primary_term"]),
                )
                return
            except VersionConflict:
                continue
        if time.monotonic() > deadline:
            holder = found["_source"]
            raise LockBusy(
                f"lock {key!r} held by {holder.get('host')} pid {holder.get('pid')} for more than {wait:.0f}s",
                hint=f"if that process is gone the lock expires by itself within {ttl:.0f}s",
            )
        time.sleep(random.uniform(pause / 2, pause))
        pause = min(pause * 2, 0.1)


def _release(gw: EsGateway, key: str, token: str) -> None:
    index, doc_id = locks_index(gw), _doc_id(key)
    found = gw.get(index, doc_id)
    if found is None or found["_source"].get("owner") != token:
        return  # expired and taken over: not ours to delete
    with suppress(VersionConflict):  # taken over between the read and the delete
        gw.delete(index, doc_id, if_seq_no=int(found["_seq_no"]), if_primary_term=int(found["_primary_term"]))


@contextmanager
def hold(gw: EsGateway, keys: Sequence[str], *, ttl: float = TTL_S, wait: float = WAIT_S) -> Iterator[None]:
    """Hold the locks of every key in *keys* for the ``with`` block.

    Keys are taken in sorted order, so two holders of overlapping key sets never wait on
    each other in a cycle. Raises ``LockBusy`` after *wait* seconds.
    """
    token = uuid.uuid4().hex
    taken: list[str] = []
    try:
        for key in sorted(set(keys)):
            _take(gw, key, token, ttl=ttl, wait=wait)
            taken.append(key)
        yield
    finally:
        for key in reversed(taken):
            with suppress(SocError):  # Elasticsearch away: the lock expires by itself
                _release(gw, key, token)
