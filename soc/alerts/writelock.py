"""One detector's alert-write lock: held for a whole detection run, two writes per run, and
the detector's *recent writes* riding on it.

The alert store decides "join an alert or create one" under this lock, for every entity the
run writes, and writes the run's alerts in one ``_bulk`` before releasing it (see
``soc.alerts.store``). The lock is one document per detector, ``<prefix>-locks/alerts-<sha256
of the detector id>``, that is never deleted. Besides who holds it, it lists the alerts
written under it in the last ``RECENT_S`` seconds (id, entity key, when): the release
writes them, the next taker reads them with the lock (no extra request) and fetches an
entity's by id (realtime) before a refresh has made them searchable.

* **Taking** reads it (realtime ``get``) and writes our token and an expiry over it with a
  conditional write (``if_seq_no``/``if_primary_term``; ``op_type=create`` the first time)
  when it is released or expired — so of several takers exactly one wins. A taker that finds
  it held waits (backing off) and reads again.
* **Releasing** is one conditional write over the version we wrote: owner cleared, the run's
  writes added to the recent ones. No delete (a delete would cost a refresh and a read
  first), nothing to clean up: the next taker overwrites it. Every write of the document
  carries the recent writes on.
* A holder that crashed (SIGKILL mid-run) blocks nobody for longer than the expiry; a holder
  that stalled past it finds its version taken over when it renews or releases
  (``VersionConflict``), and its writes stay conditional (``op_type=create`` with the
  episode's id, or ``if_seq_no`` on the alert it read), so it cannot overwrite what the next
  holder wrote.

Expiry uses the wall clock, as ``soc.es.locks`` does (keep hosts' clocks in sync).
"""

from __future__ import annotations

import hashlib
import os
import random
import socket
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from soc.errors import VersionConflict
from soc.es.client import EsGateway
from soc.es.locks import TTL_S, WAIT_S, LockBusy, locks_index

__all__ = ["RECENT_MAX", "RECENT_S", "HeldLock", "lock_id", "release", "renew", "take"]

# a write older than this is searchable (the alerts index refreshes every second); kept
# with a wide margin for a loaded node whose refreshes lag
RECENT_S = 120.0
RECENT_MAX = 2000  # a run writing more refreshes the alerts index before releasing instead


@dataclass
class HeldLock:
    detector: str
    token: str
    version: tuple[int, int]
    recent: list[dict[str, Any]] = field(default_factory=list)  # {"id", "key", "at"}, the last RECENT_S seconds'
    taken: float = field(default_factory=time.monotonic)  # when taken or last renewed

    def age(self) -> float:
        return time.monotonic() - self.taken


def lock_id(detector: str) -> str:
    return "alerts-" + hashlib.sha256(detector.encode()).hexdigest()[:40]


def _doc(detector: str, token: str, ttl: float, recent: list[dict[str, Any]]) -> dict[str, Any]:
    now = time.time()
    return {
        "key": f"alerts:{detector}"[:256],
        "owner": token,
        "host": socket.gethostname()[:64],
        "pid": os.getpid(),
        "taken_at": now,
        "expires_at": now + ttl if token else 0.0,
        "alerts": recent,
    }


def _fresh(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    since = time.time() - RECENT_S
    return [e for e in entries if isinstance(e, dict) and float(e.get("at", 0)) >= since]


def take(gw: EsGateway, detector: str, *, ttl: float = TTL_S, wait: float = WAIT_S) -> HeldLock:
    """Take *detector*'s lock, waiting up to *wait* seconds (``LockBusy`` after that)."""
    index, doc_id = locks_index(gw), lock_id(detector)
    token = uuid.uuid4().hex
    deadline = time.monotonic() + wait
    pause = 0.005
    while True:
        found = gw.get(index, doc_id)
        holder = found["_source"] if found is not None else {}
        version = (int(found["_seq_no"]), int(found["_primary_term"])) if found is not None else None
        recent = _fresh(holder.get("alerts") or [])
        if found is not None and holder.get("owner") == token:
            return HeldLock(detector, token, version or (0, 0), recent)  # our write landed, its answer was lost
        if found is None or not holder.get("owner") or float(holder.get("expires_at", 0)) < time.time():
            try:
                written = gw.put_versioned(index, doc_id, _doc(detector, token, ttl, recent), version)
                return HeldLock(detector, token, written, recent)
            except VersionConflict:
                continue  # another taker won: read who holds it now
        if time.monotonic() > deadline:
            raise LockBusy(
                f"alert lock of {detector!r} held by {holder.get('host')} pid {holder.get('pid')} "
                f"for more than {wait:.0f}s",
                hint=f"if that process is gone the lock expires by itself within {ttl:.0f}s",
            )
        time.sleep(random.uniform(pause / 2, pause))
        pause = min(pause * 2, 0.1)


def renew(gw: EsGateway, held: HeldLock, *, ttl: float = TTL_S) -> None:
    """Push the expiry back; ``VersionConflict`` when the lock expired and was taken over."""
    index, doc_id = locks_index(gw), lock_id(held.detector)
    try:
        held.version = gw.put_versioned(index, doc_id, _doc(held.detector, held.token, ttl, held.recent), held.version)
    except VersionConflict:
        found = gw.get(index, doc_id)
        if found is None or found["_source"].get("owner") != held.token:
            raise
        held.version = (int(found["_seq_no"]), int(found["_primary_term"]))  # ours: the answer was lost
    held.taken = time.monotonic()


def release(gw: EsGateway, held: HeldLock, wrote: list[tuple[str, str]], *, searchable: bool = False) -> None:
    """Release, noting *wrote* (alert id, entity key) among the recent writes — or, with
    *searchable* (the caller refreshed the alerts index), forgetting them all. Unless the
    lock expired and another holder has it: then it is theirs."""
    now = time.time()
    ids = {i for i, _k in wrote}
    kept = [e for e in _fresh(held.recent) if e.get("id") not in ids]
    recent = [] if searchable else [*kept, *({"id": i, "key": k, "at": now} for i, k in wrote)]
    with suppress(VersionConflict):
        gw.put_versioned(locks_index(gw), lock_id(held.detector), _doc(held.detector, "", 0.0, recent), held.version)
