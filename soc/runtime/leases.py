"""Leases stored in Elasticsearch: several scheduler processes share the jobs.

Every job (``detector:<id>``, ``csirt``, ``summary``) has one lease document
``lease:<job>`` in the state index. A process runs a job only while it holds that
job's lease, and renews each lease it holds every ``lease_renew``:

* **Acquire** an absent lease with ``op_type=create``; take over a released one or one
  that *this process has seen unchanged* (same ``_seq_no``/``_primary_term``) for
  ``lease_ttl`` of its own monotonic clock, with a write conditional on that version.
  Expiry is judged by the observer's clock, never by comparing two hosts' wall clocks
  (the approach of Kubernetes' leader election), so clock skew between hosts cannot
  make two owners. Two processes racing for one lease: one conditional write wins.
* **Fencing token**: every change of owner adds one to the lease's ``token``.
  ``verify`` re-reads the lease and fails unless it still names this process with the
  same token. Writers of run state check it before writing *and* write only over the
  version they read (``soc.runtime.fencing``), and a new owner rewrites the run state
  when it takes a lease over: a process paused past its lease (SIGSTOP, a long GC, a
  hung VM) that wakes up cannot write with the stale lease, even if it was paused
  between its check and its write.
* **Holder side**: a lease is trusted only until ``ttl`` after the start of the request
  that last renewed it; an observer can take it over only after seeing that renewal
  and waiting ``ttl`` more, so the holder always stops first.
* **Shards**: the scheduler does not hold one lease per detector. Its detectors are split
  by a stable hash of their id into ``[scheduler] shards`` shards (default ``SHARDS``),
  and each shard (``detectors:<n>``) is one job with one lease: 1,000 detectors cost ~16
  lease renewals per ``lease_renew``, not 1,000, and still split between schedulers and
  move when one dies.
* **Sharing**: each process writes a heartbeat ``member:<owner>``; a process takes free
  leases up to its fair share (jobs / live members) and hands back (releases) what it
  holds beyond it, idle jobs first, so two or three schedulers split the detectors.
  Expired leases are taken over whatever the share: availability first, balance after.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from soc.clock import Clock, SystemClock
from soc.errors import SocError, VersionConflict
from soc.es.client import EsGateway
from soc.es.indices import ensure_ready, state_index

__all__ = [
    "SHARDS",
    "Lease",
    "LeaseInfo",
    "LeaseLost",
    "LeaseManager",
    "SyncResult",
    "detector_job",
    "lease_job_for",
    "list_leases",
    "owner_id",
    "shard_job",
    "shard_of",
]

log = logging.getLogger("soc.leases")

LEASE_KIND = "lease"
MEMBER_KIND = "member"
Monotonic = Callable[[], float]


class LeaseLost(SocError):
    """This process no longer holds the lease it was about to write under."""


def detector_job(detector_id: str) -> str:
    return f"detector:{detector_id}"


SHARDS = 16  # the default of ``[scheduler] shards``: every scheduler sharing a cluster must agree


def shard_of(detector_id: str, shards: int = SHARDS) -> int:
    """The shard of a detector: a stable hash of its id (the same in every process)."""
    return int(hashlib.sha256(detector_id.encode()).hexdigest()[:8], 16) % shards


def shard_job(shard: int) -> str:
    return f"detectors:{shard}"


def lease_job_for(detector_id: str, shards: int = SHARDS) -> str:
    """The lease a scheduler must hold to run *detector_id* (its shard's)."""
    return shard_job(shard_of(detector_id, shards))


def owner_id(started: datetime | None = None) -> str:
    """``host:pid:start`` - unique per scheduler instance (the start has microseconds)."""
    at = (started or datetime.now(UTC)).astimezone(UTC)
    return f"{socket.gethostname()}:{os.getpid()}:{at:%Y%m%dT%H%M%S.%fZ}"


@dataclass(frozen=True)
class Lease:
    """A lease this process holds: the fencing token and the version it last wrote."""

    job: str
    owner: str
    token: int
    seq_no: int
    primary_term: int
    valid_until: float  # on this process's monotonic clock


@dataclass(frozen=True)
class LeaseInfo:
    """A lease as stored (what ``soc status`` shows)."""

    job: str
    owner: str | None
    token: int
    renewed_at: datetime | None
    expires_at: datetime | None  # the holder's own estimate, for people; takeovers do not use it


@dataclass
class SyncResult:
    acquired: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    held: int = 0
    share: int = 0
    members: int = 1


@dataclass
class _Seen:
    seq_no: int
    primary_term: int
    since: float


def _lease_id(job: str) -> str:
    return f"lease:{job}"


def _member_id(owner: str) -> str:
    return f"member:{owner}"


def _parse(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def list_leases(gw: EsGateway) -> dict[str, LeaseInfo]:
    """Every lease document, by job (refreshed first: what is stored now)."""
    gw.refresh(state_index(gw))
    res = gw.search(state_index(gw), {"size": 10000, "query": {"term": {"kind": LEASE_KIND}}}, action="list leases")
    out: dict[str, LeaseInfo] = {}
    for hit in res["hits"]["hits"]:
        src = hit["_source"]
        out[src["job"]] = LeaseInfo(
            job=src["job"],
            owner=src.get("owner"),
            token=int(src.get("token", 0)),
            renewed_at=_parse(src.get("renewed_at")),
            expires_at=_parse(src.get("expires_at")),
        )
    return out


class LeaseManager:
    """The leases of one scheduler process (thread-safe)."""

    def __init__(
        self,
        gw: EsGateway,
        *,
        ttl: timedelta,
        renew: timedelta,
        owner: str | None = None,
        wall: Clock | None = None,
        monotonic: Monotonic = time.monotonic,
        on_acquired: Callable[[Lease], None] | None = None,
    ) -> None:
        self._gw = gw
        self.owner = owner or owner_id()
        self.ttl = ttl
        self.renew = renew
        self._wall = wall or SystemClock()
        self._mono = monotonic
        self.on_acquired = on_acquired
        self._held: dict[str, Lease] = {}
        self._seen: dict[str, _Seen] = {}
        self._lock = threading.RLock()

    # -- questions -------------------------------------------------------------
    def holds(self, job: str) -> bool:
        """Held and trusted by the local clock (no request)."""
        lease = self._held.get(job)
        return lease is not None and self._mono() < lease.valid_until

    def held(self) -> list[str]:
        return sorted(j for j in list(self._held) if self.holds(j))

    def verify(self, job: str) -> Lease:
        """The lease, re-read from Elasticsearch: still this process's, same token, not
        expired by the local clock. Raises ``LeaseLost`` otherwise (call it right before a
        write that only the owner may make)."""
        lease = self._held.get(job)
        if lease is None or self._mono() >= lease.valid_until:
            raise LeaseLost(f"{job}: this scheduler's lease has expired", object_id=job)
        found = self._gw.get(state_index(self._gw), _lease_id(job))
        src = found["_source"] if found else {}
        if src.get("owner") != self.owner or int(src.get("token", -1)) != lease.token:
            with self._lock:
                if self._held.get(job) is lease:
                    del self._held[job]
            raise LeaseLost(f"{job}: the lease is now held by {src.get('owner') or 'nobody'}", object_id=job)
        return lease

    # -- acquiring and renewing ---------------------------------------------------
    def ensure(self, job: str) -> bool:
        """Held, or acquired now if it was never taken (a first start). A released lease
        is left to ``sync`` and its fair share, a live one to its owner."""
        if self.holds(job):
            return True
        ensure_ready(self._gw)
        with self._lock:
            return self._step(job, may_take_free=False, may_create=True) in ("held", "acquired")

    def sync(self, jobs: Sequence[str], *, busy: Iterable[str] = ()) -> SyncResult:
        """Renew what is held, take over what expired, take free jobs up to the fair share
        and release the excess (never a job in *busy*). Called every ``renew``."""
        ensure_ready(self._gw)
        result = SyncResult()
        with self._lock:
            result.members = self._heartbeat()
            result.share = math.ceil(len(jobs) / result.members)
            was = set(self._held)
            for job in jobs:
                outcome = self._step(job, may_take_free=len(self.held()) < result.share)
                if outcome == "acquired":
                    result.acquired.append(job)
                elif job in was and outcome != "held":
                    result.lost.append(job)
            excess = len(self.held()) - result.share
            if excess > 0:
                skip = set(busy)
                # a per-owner order, so two processes over their share hand back different jobs
                order = sorted(
                    (j for j in self.held() if j not in skip),
                    key=lambda j: hashlib.sha256(f"{self.owner}\x00{j}".encode()).hexdigest(),
                )
                for job in order[:excess]:
                    if self._release(job):
                        result.released.append(job)
            result.held = len(self.held())
        for job in result.lost:
            log.warning("lost the lease of %s (another scheduler took it over)", job)
        return result

    def release_all(self) -> None:
        """Hand every lease back (a clean stop: the others take over at once)."""
        with self._lock:
            for job in list(self._held):
                try:
                    self._release(job)
                except SocError as exc:
                    log.warning("could not release %s: %s", job, exc.message)
            with contextlib.suppress(SocError):
                self._put(_member_id(self.owner), self._member_doc(left=True))

    # -- internals (called with the lock held) -------------------------------------
    def _step(self, job: str, *, may_take_free: bool, may_create: bool | None = None) -> str:
        """One look at *job*'s lease: "held" (renewed), "acquired", or "other"."""
        started = self._mono()
        index = state_index(self._gw)
        found = self._gw.get(index, _lease_id(job))
        mine = self._held.get(job)
        if found is None:
            self._held.pop(job, None)
            if not (may_take_free if may_create is None else may_create):
                return "other"
            return self._write(job, token=1, started=started)  # version None: create
        src, version = found["_source"], (int(found["_seq_no"]), int(found["_primary_term"]))
        token = int(src.get("token", 0))
        if src.get("owner") == self.owner and (mine is None or mine.token == token):
            # renewed in time: "held"; renewed after this process had stopped trusting it
            # (a slow renewal on a loaded machine): "acquired" again, fenced and restarted
            trusted = mine is not None and started < mine.valid_until
            return self._write(job, token=token, started=started, version=version, renewal=trusted)
        if mine is not None:
            del self._held[job]
        seen = self._seen.get(job)
        if seen is None or (seen.seq_no, seen.primary_term) != version:
            seen = self._seen[job] = _Seen(*version, since=started)
        unrenewed = started - seen.since >= self.ttl.total_seconds()
        if unrenewed or (src.get("owner") is None and may_take_free):
            return self._write(job, token=token + 1, started=started, version=version)
        return "other"

    def _write(
        self,
        job: str,
        *,
        token: int,
        started: float,
        version: tuple[int, int] | None = None,
        renewal: bool = False,
    ) -> str:
        now = self._wall.now()
        doc = {
            "kind": LEASE_KIND,
            "job": job,
            "owner": self.owner,
            "token": token,
            "renewed_at": now.isoformat(),
            "expires_at": (now + self.ttl).isoformat(),
        }
        try:
            seq_no, term = self._gw.put_versioned(state_index(self._gw), _lease_id(job), doc, version)
        except VersionConflict:
            self._held.pop(job, None)
            return "other"  # someone else renewed or took it in between
        lease = Lease(job, self.owner, token, seq_no, term, valid_until=started + self.ttl.total_seconds())
        self._held[job] = lease
        self._seen.pop(job, None)
        if renewal:
            return "held"
        log.info("acquired the lease of %s (token %d)", job, token)
        if self.on_acquired is not None:
            try:
                self.on_acquired(lease)  # e.g. fence the run state before the first run
            except LeaseLost as exc:  # never fenced: not used; the other jobs' renewals go on
                del self._held[job]
                log.info("%s: acquired but not fenced (%s); the next renewal tries again", job, exc.message)
                return "other"
            except BaseException:
                del self._held[job]  # not used until fenced: the next sync tries again
                raise
        return "acquired"

    def _release(self, job: str) -> bool:
        lease = self._held.pop(job, None)
        if lease is None:
            return False
        doc = {"kind": LEASE_KIND, "job": job, "owner": None, "token": lease.token, "renewed_at": None,
               "expires_at": None}  # fmt: skip
        try:
            self._gw.put_versioned(state_index(self._gw), _lease_id(job), doc, (lease.seq_no, lease.primary_term))
        except VersionConflict:
            return False  # taken over already
        log.info("released the lease of %s", job)
        return True

    def _member_doc(self, *, left: bool = False) -> dict[str, Any]:
        now = self._wall.now()
        return {"kind": MEMBER_KIND, "owner": self.owner, "renewed_at": now.isoformat(), "left": left}

    def _put(self, doc_id: str, doc: dict[str, Any]) -> None:
        self._gw.put(state_index(self._gw), doc_id, doc)

    def _heartbeat(self) -> int:
        """Write this process's heartbeat; the number of live members (for the fair share
        only: a wrong count costs balance, never safety)."""
        self._put(_member_id(self.owner), self._member_doc())
        self._gw.refresh(state_index(self._gw))
        res = self._gw.search(
            state_index(self._gw), {"size": 1000, "query": {"term": {"kind": MEMBER_KIND}}}, action="list schedulers"
        )
        horizon = self._wall.now() - max(3 * self.renew, self.ttl)
        live = {self.owner}
        for hit in res["hits"]["hits"]:
            src = hit["_source"]
            renewed = _parse(src.get("renewed_at"))
            if not src.get("left") and renewed is not None and renewed >= horizon:
                live.add(src["owner"])
        return len(live)
