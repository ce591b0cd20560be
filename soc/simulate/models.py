"""What the simulator reports: ground truth per injected scenario, and figures."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SimulationReport", "TruthRecord"]


class TruthRecord(BaseModel):
    """One injected attack: who did it, to whom, when, and which detectors should fire."""

    model_config = ConfigDict(extra="forbid")

    scenario: str
    description: str
    entities: dict[str, str]  # ECS field -> value, exactly as written in the events
    start: datetime  # first attack event
    end: datetime  # last attack event
    expected_detectors: list[str]  # for a near miss, only its scenario's ``near_miss_fires``
    event_count: int
    near_miss: bool = False
    near_miss_of: list[str] = Field(default_factory=list)  # detectors that must NOT fire on a near miss
    event_id_prefix: str | None = None  # every injected event's ``event.id`` is ``<prefix>-<n>``

    def injected(self, event_id: str) -> bool:
        """Whether *event_id* is one of the events this scenario injected."""
        return self.event_id_prefix is not None and event_id.startswith(self.event_id_prefix + "-")


class SimulationReport(BaseModel):
    docs_written: int
    seconds: float
    truth: list[TruthRecord] = Field(default_factory=list)
    rejected: int = 0

    @property
    def docs_per_second(self) -> float:
        return self.docs_written / self.seconds if self.seconds else 0.0
