"""Run state that only the current lease holder can write (see soc/runtime/leases.py).

The detection engine reads a detector's run state (its watermark) at the start of a run
and saves it after the run. Through this store every save

1. re-reads the lease of the detector's job (its shard, see ``lease_job_for``) and fails
   with ``LeaseLost`` unless this process still holds it with the same fencing token, and
2. writes only over the version it read (``if_seq_no``/``if_primary_term``), and fails
   with ``LeaseLost`` if anyone wrote in between.

A process that takes a lease over rewrites the run state of every detector of that job at
once (``fence``), which changes their versions: a previous owner that was paused between
its check (1) and its write (2) then fails at (2). The stored documents name the writer
(``lease_owner``, ``lease_token``), which ``soc status`` and the tests read.

The scheduler reads and saves the run states of a shard's detectors together: one
``_mget`` and one ``_bulk`` (each item conditional on its own version), one lease check
per shard, whatever the number of detectors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from soc.detection.state import RunState, RunStateStore
from soc.errors import ElasticsearchBusy, ElasticsearchRequestError
from soc.es.client import BUSY_STATUSES, EsGateway, translate_errors
from soc.es.indices import ensure_ready, state_index
from soc.runtime.leases import Lease, LeaseLost, LeaseManager, detector_job

__all__ = ["FencedRunStateStore"]

FENCE_TRIES = 3
Version = tuple[int, int]


def _own_detector(job: str) -> list[str]:
    """The detectors of a per-detector job (``detector:<id>``); none for other jobs."""
    prefix = detector_job("")
    return [job[len(prefix) :]] if job.startswith(prefix) else []


class FencedRunStateStore(RunStateStore):
    def __init__(
        self,
        gw: EsGateway,
        *,
        leases: LeaseManager,
        job_of: Callable[[str], str] = detector_job,
        members: Callable[[str], Sequence[str]] = _own_detector,
    ) -> None:
        super().__init__(gw)
        self._leases = leases
        self._job_of = job_of  # detector id -> the lease that guards its run state
        self._members = members  # lease job -> the detectors whose run state it guards
        self._versions: dict[str, Version] = {}

    def get(self, detector_id: str) -> RunState:
        return self.get_many([detector_id])[detector_id]

    def get_many(self, detector_ids: Sequence[str]) -> dict[str, RunState]:
        """The run state of each detector (a fresh one if none is stored), in one request."""
        found = {
            d["_id"]: d for d in self._gw.mget_docs(state_index(self._gw), [self._doc_id(i) for i in detector_ids])
        }
        out: dict[str, RunState] = {}
        for detector_id in detector_ids:
            doc = found.get(self._doc_id(detector_id))
            if doc is None:
                self._versions.pop(detector_id, None)
                out[detector_id] = RunState(detector=detector_id)
            else:
                self._versions[detector_id] = (int(doc["_seq_no"]), int(doc["_primary_term"]))
                out[detector_id] = RunState.model_validate(doc["_source"])
        return out

    def save(self, state: RunState) -> None:
        self.save_many([state])

    def save_many(self, states: Iterable[RunState]) -> None:
        """Save run states read through this store: one lease check per job, one ``_bulk``.
        Raises ``LeaseLost`` if a lease is gone or any state was written by someone else
        since it was read (the others are saved)."""
        states = list(states)
        if not states:
            return
        leases: dict[str, Lease] = {}
        for state in states:
            job = self._job_of(state.detector)
            if job not in leases:
                leases[job] = self._leases.verify(job)
        ensure_ready(self._gw)
        docs = {s.detector: (s.model_dump(mode="json"), leases[self._job_of(s.detector)]) for s in states}
        lost = self._write(docs, {i: self._versions.get(i) for i in docs})
        if lost:
            jobs = sorted({self._job_of(i) for i in lost})
            raise LeaseLost(
                f"{', '.join(jobs)}: the run state of {', '.join(sorted(lost))} was written by another scheduler"
                " since it was read",
                object_id=jobs[0],
            )

    def fence(self, lease: Lease) -> None:
        """Rewrite the run state of every detector of a job whose lease this process has
        just acquired, so any write prepared under an older lease fails."""
        pending = list(self._members(lease.job))
        for _attempt in range(FENCE_TRIES):
            if not pending:
                return
            found = {d["_id"]: d for d in self._gw.mget_docs(state_index(self._gw), [self._doc_id(i) for i in pending])}
            docs: dict[str, tuple[dict[str, Any], Lease]] = {}
            versions: dict[str, Version | None] = {}
            for detector_id in pending:
                doc = found.get(self._doc_id(detector_id))
                if doc is None:
                    docs[detector_id] = (RunState(detector=detector_id).model_dump(mode="json"), lease)
                    versions[detector_id] = None
                else:
                    docs[detector_id] = (dict(doc["_source"]), lease)
                    versions[detector_id] = (int(doc["_seq_no"]), int(doc["_primary_term"]))
            ensure_ready(self._gw)
            # a previous owner that saved between our read and our write (it had checked its
            # lease just before we took it): read its save and fence over it
            pending = sorted(self._write(docs, versions))
        if pending:
            raise LeaseLost(f"{lease.job}: its run state keeps changing under another scheduler", object_id=lease.job)

    def _write(self, docs: dict[str, tuple[dict[str, Any], Lease]], versions: dict[str, Version | None]) -> set[str]:
        """One ``_bulk``, each document over its version (created when None); the ids
        written by someone else in between (their version is forgotten)."""
        index = state_index(self._gw)
        ops: list[dict[str, Any]] = []
        written: dict[str, dict[str, Any]] = {}
        for detector_id, (doc, lease) in docs.items():
            written[detector_id] = doc | {"lease_owner": lease.owner, "lease_token": lease.token}
            version = versions.get(detector_id)
            meta: dict[str, Any] = {"_index": index, "_id": self._doc_id(detector_id)}
            if version is None:
                ops.append({"create": meta})
            else:
                ops.append({"index": meta | {"if_seq_no": version[0], "if_primary_term": version[1]}})
            ops.append(written[detector_id])
        with translate_errors("save run state"):
            res = self._gw.client.bulk(operations=ops)
        conflicts: list[str] = []
        for detector_id, item in zip(docs, res["items"], strict=True):
            answer = next(iter(item.values()))
            status = int(answer.get("status", 500))
            if status < 300:
                self._versions[detector_id] = (int(answer["_seq_no"]), int(answer["_primary_term"]))
            elif status == 409:
                conflicts.append(detector_id)
            else:
                self._versions.pop(detector_id, None)
                error = ElasticsearchBusy if status in BUSY_STATUSES else ElasticsearchRequestError
                raise error(f"save run state of {detector_id}: HTTP {status}: {answer.get('error')}")
        lost: set[str] = set()
        if conflicts:
            again = {d["_id"]: d for d in self._gw.mget_docs(index, [self._doc_id(i) for i in conflicts])}
            for detector_id in conflicts:
                found = again.get(self._doc_id(detector_id))
                if found is not None and found["_source"] == written[detector_id]:
                    # our own write: it took effect, its answer was lost and the client's retry
                    # met the version it had just made (a reset after the request went out)
                    self._versions[detector_id] = (int(found["_seq_no"]), int(found["_primary_term"]))
                else:
                    self._versions.pop(detector_id, None)
                    lost.add(detector_id)
        return lost
