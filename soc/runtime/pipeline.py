"""Detection hands new alerts to escalation: the same path for backtests and live runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from soc.alerts.models import Alert
from soc.context import AppContext
from soc.detection.engine import Arrivals, DetectionEngine, RunReport
from soc.detection.models import Detector
from soc.detection.state import RunStateStore
from soc.incidents.service import escalate
from soc.playbooks.models import Playbook
from soc.vocab import Severity

__all__ = ["Pipeline", "PipelineResult"]


@dataclass
class PipelineResult:
    reports: list[RunReport] = field(default_factory=list)
    incidents_opened: list[str] = field(default_factory=list)
    incidents_joined: list[str] = field(default_factory=list)
    alerts: dict[str, Alert] = field(default_factory=dict)  # latest version of every alert touched

    def absorb(self, report: RunReport) -> None:
        self.reports.append(report)
        for alert in report.alerts:
            self.alerts[alert.id] = alert


class Pipeline:
    def __init__(self, ctx: AppContext, *, playbooks: Sequence[Playbook]) -> None:
        self.ctx = ctx
        self.engine = DetectionEngine(ctx)
        self.playbooks = list(playbooks)

    def escalate_pending(self, result: PipelineResult) -> None:
        """Open or join incidents for every alert at or above the escalation severity that
        has none yet. Reading them from the store (not from this run) means an alert whose
        escalation was interrupted (crash, outage) is escalated by the next run."""
        floor = self.ctx.settings.escalation_min_severity
        wanted = [s.value for s in Severity if s >= floor]
        pending = self.engine.alerts.search(unassigned=True, severities=wanted)
        if not pending:
            return
        outcome = escalate(self.ctx, pending, playbooks=self.playbooks)
        now = self.ctx.clock.now()
        for alert_id, incident_id in outcome.assignments.items():
            self.engine.alerts.set_incident(alert_id, incident_id, now=now)
            if alert_id in result.alerts:
                result.alerts[alert_id] = result.alerts[alert_id].model_copy(update={"incident_id": incident_id})
        result.incidents_opened += [i for i in outcome.opened if i not in result.incidents_opened]
        result.incidents_joined += [i for i in outcome.joined if i not in result.incidents_joined]

    def backtest(
        self,
        detectors: Sequence[Detector],
        start: datetime,
        end: datetime,
        *,
        on_detector: Callable[[RunReport], None] | None = None,  # progress: called after each detector
    ) -> PipelineResult:
        result = PipelineResult()
        for detector in detectors:
            report = self.engine.backtest(detector, start, end)
            result.absorb(report)
            if on_detector is not None:
                on_detector(report)
        self.escalate_pending(result)
        return result

    def run_live(
        self,
        detector: Detector,
        *,
        max_windows: int = 288,
        states: RunStateStore | None = None,  # the scheduler's batch of run states
        escalate: bool = True,  # False: the caller escalates once for a batch of runs
        arrivals: Arrivals | None = None,  # its histogram, fetched with the batch's (DetectionEngine.prefetch_arrivals)
    ) -> PipelineResult:
        result = PipelineResult()
        report = self.engine.run_live(detector, max_windows=max_windows, states=states, arrivals=arrivals)
        result.absorb(report)
        if escalate:
            self.escalate_pending(result)
        return result
