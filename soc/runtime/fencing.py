"""Run state that only the current lease holder can write (see soc/runtime/leases.py).

The detection engine reads a detector's run state (its watermark) at the start of a run
and saves it after each chunk of windows. Through this store every save

1. re-reads the detector's lease and fails with ``LeaseLost`` unless this process still
   holds it with the same fencing token, and
2. writes only over the version it read (``if_seq_no``/``if_primary_term``), and fails
   with ``LeaseLost`` if anyone wrote in between.

A process that takes a lease over rewrites the run state at once (``fence``), which
changes its version: a previous owner that was paused between its check (1) and its
write (2) then fails at (2). The stored document names the writer (``lease_owner``,
``lease_token``), which ``soc status`` and the tests read.
"""

from __future__ import annotations

from typing import Any

from soc.detection.state import RunState, RunStateStore
from soc.errors import VersionConflict
from soc.es.client import EsGateway
from soc.es.indices import ensure_ready, state_index
from soc.runtime.leases import Lease, LeaseLost, LeaseManager, detector_job

__all__ = ["FencedRunStateStore"]

FENCE_TRIES = 3


class FencedRunStateStore(RunStateStore):
    def __init__(self, gw: EsGateway, *, leases: LeaseManager) -> None:
        super().__init__(gw)
        self._leases = leases
        self._versions: dict[str, tuple[int, int]] = {}

    def get(self, detector_id: str) -> RunState:
        found = self._gw.get(state_index(self._gw), self._doc_id(detector_id))
        if found is None:
            self._versions.pop(detector_id, None)
            return RunState(detector=detector_id)
        self._versions[detector_id] = (int(found["_seq_no"]), int(found["_primary_term"]))
        return RunState.model_validate(found["_source"])

    def save(self, state: RunState) -> None:
        lease = self._leases.verify(detector_job(state.detector))
        ensure_ready(self._gw)
        self._write(state.model_dump(mode="json"), state.detector, lease, self._versions.get(state.detector))

    def fence(self, lease: Lease) -> None:
        """Rewrite the run state of a detector whose lease this process has just acquired,
        so any write prepared under an older lease fails (a no-op for other jobs)."""
        prefix = detector_job("")
        if not lease.job.startswith(prefix):
            return
        detector_id = lease.job[len(prefix) :]
        for attempt in range(FENCE_TRIES):
            found = self._gw.get(state_index(self._gw), self._doc_id(detector_id))
            if found is None:
                doc: dict[str, Any] = RunState(detector=detector_id).model_dump(mode="json")
                version = None
            else:
                doc, version = dict(found["_source"]), (int(found["_seq_no"]), int(found["_primary_term"]))
            try:
                self._write(doc, detector_id, lease, version)
                return
            except LeaseLost:
                # the previous owner saved between our read and our write (it had checked
                # its lease just before we took it): read its save and fence over it
                if attempt == FENCE_TRIES - 1:
                    raise

    def _write(self, doc: dict[str, Any], detector_id: str, lease: Lease, version: tuple[int, int] | None) -> None:
        doc = doc | {"lease_owner": lease.owner, "lease_token": lease.token}
        try:
            self._versions[detector_id] = self._gw.put_versioned(
                state_index(self._gw), self._doc_id(detector_id), doc, version
            )
        except VersionConflict as exc:
            self._versions.pop(detector_id, None)
            found = self._gw.get(state_index(self._gw), self._doc_id(detector_id))
            if found is not None and found["_source"] == doc:
                # our own write: it took effect, its answer was lost and the client's retry
                # met the version it had just made (a reset after the request went out)
                self._versions[detector_id] = (int(found["_seq_no"]), int(found["_primary_term"]))
                return
            raise LeaseLost(
                f"{lease.job}: the run state was written by another scheduler since it was read",
                object_id=lease.job,
            ) from exc
