"""A detector's health from its recorded run state: what ``soc status`` and the console's
overview show for each detector."""

from __future__ import annotations

from datetime import datetime, timedelta

from soc.detection.models import Detector
from soc.detection.state import RunState

__all__ = ["HEALTH_ORDER", "health"]

# worst first: how a list of detectors is sorted for the person who must act on it
HEALTH_ORDER = ("failing", "lagging", "never run", "truncated", "ok", "disabled")


def health(detector: Detector, state: RunState, now: datetime) -> str:
    """``ok``, ``lagging`` (behind by more than two intervals plus the delay), ``failing``,
    ``truncated`` (a cap kept candidates from being examined), ``disabled`` or ``never run``."""
    if not detector.enabled:
        return "disabled"
    if state.last_run is None:
        return "never run"
    if state.consecutive_failures:
        return "failing"
    sched = detector.schedule
    if state.watermark is None or now - state.watermark > 2 * sched.interval + sched.delay + timedelta(minutes=1):
        return "lagging"
    if state.last_truncated:
        return "truncated"
    return "ok"
