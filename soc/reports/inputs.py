"""What reports are built from: plain data, gathered once (``soc.reports.gather``) and
handed to the pure builders (``soc.reports.incident``, ``soc.reports.summary``).

Definitions (detectors and playbooks) are passed in by the caller that loaded them, never
re-read by a report. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from soc.alerts.models import Alert
from soc.incidents.models import Incident
from soc.playbooks.models import Playbook

__all__ = ["Definitions", "DetectorRun", "ReportInputs", "SummaryInputs"]


@dataclass(frozen=True)
class Definitions:
    """The detector and playbook definitions reports name things from, loaded once by the caller."""

    detectors: Sequence[Any] = ()  # every detector, disabled ones too
    playbooks: Sequence[Playbook] = ()

    def playbook(self, playbook_id: str | None) -> Playbook | None:
        return next((p for p in self.playbooks if p.id == playbook_id), None) if playbook_id else None


@dataclass(frozen=True)
class ReportInputs:
    """What one incident's report is built from (read once for every language)."""

    incident: Incident
    alerts: list[Alert]
    playbook: Playbook | None
    detectors: list[Any] = field(default_factory=list)  # the incident's detector definitions


class DetectorRun(Protocol):
    """What the summary reads of a detector's run state (``soc.detection.state.RunState``)."""

    detector: str
    runs: int
    last_run: datetime | None
    last_error: str | None
    consecutive_failures: int
    truncated_total: int
    last_truncated: int
    definition_version: int | None
    previous_version: int | None
    definition_changed_at: datetime | None


@dataclass(frozen=True)
class SummaryInputs:
    """What a summary is built from, read once for every language."""

    start: datetime
    end: datetime
    alert_answer: dict[str, Any]
    event_answer: dict[str, Any]
    previous_alerts: int
    incidents: list[Incident]
    run_states: Sequence[DetectorRun]
    detectors: Sequence[Any]  # every detector definition, disabled ones too
    playbooks: Sequence[Any] = ()  # every playbook definition (incident titles in each language)
