"""Per-detector run state, stored in Elasticsearch (never on the detector object)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from soc.es.client import EsGateway
from soc.es.indices import ensure_ready, state_index

__all__ = ["RunState", "RunStateStore", "Settled"]


class Settled(BaseModel):
    """What a live run saw before it evaluated its windows: the detector's events per slot of
    ``[start, end)`` (counts keyed by the slot's start in epoch milliseconds, as a compact
    ``"ms:count,..."`` string) under the definition it ran. The next run re-evaluates the
    windows it already covered (the late-log allowance) only if a slot's count changed."""

    model_config = ConfigDict(extra="ignore")

    start: datetime
    end: datetime
    slot_s: int
    definition: str | None = None
    counts: str = ""

    def as_dict(self) -> dict[int, int]:
        pairs = (item.split(":", 1) for item in self.counts.split(",") if item)
        return {int(k): int(v) for k, v in pairs}

    @staticmethod
    def encode(counts: dict[int, int]) -> str:
        return ",".join(f"{k}:{v}" for k, v in sorted(counts.items()))


class RunState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    detector: str
    watermark: datetime | None = None  # end of the last fully covered live window
    last_run: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    windows_covered: int = 0
    last_took_ms: int = 0
    last_duration_s: float = 0.0
    lag_s: float | None = None
    last_windows: int = 0
    last_truncated: int = 0
    truncated_total: int = 0
    runs: int = 0
    alerts_created: int = 0
    # what the scheduler ran: a change of definition is dated, for the SOC report's "detector changes"
    definition_version: int | None = None
    definition_hash: str | None = None
    definition_changed_at: datetime | None = None
    previous_version: int | None = None
    settled: Settled | None = None  # what the last successful live run saw (see Settled)


class RunStateStore:
    def __init__(self, gw: EsGateway) -> None:
        self._gw = gw

    def _doc_id(self, detector_id: str) -> str:
        return f"detector:{detector_id}"

    def get(self, detector_id: str) -> RunState:
        found = self._gw.get(state_index(self._gw), self._doc_id(detector_id))
        if found is None:
            return RunState(detector=detector_id)
        return RunState.model_validate(found["_source"])

    def save(self, state: RunState) -> None:
        ensure_ready(self._gw)
        doc: dict[str, Any] = state.model_dump(mode="json")
        self._gw.put(state_index(self._gw), self._doc_id(state.detector), doc)

    def all(self) -> list[RunState]:
        res = self._gw.search(
            state_index(self._gw),
            # run-state documents are the ones without a "kind" (baselines share the index)
            {
                "size": 1000,
                "query": {
                    "bool": {"filter": [{"exists": {"field": "detector"}}], "must_not": [{"exists": {"field": "kind"}}]}
                },
                "sort": [{"detector": "asc"}],
            },
        )
        return [RunState.model_validate(h["_source"]) for h in res["hits"]["hits"]]
