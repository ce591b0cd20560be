"""The episode policy: which alert a match belongs to, and where an episode starts. Pure.

An alert is one *episode* of one entity (the detector's group-by values) for one detector.

* **Joining.** A match joins the alert whose span, widened on both sides by the rule's
  allowance (the detector's window, or its ``suppress_for`` if longer), overlaps the
  match's ``[first_seen, last_seen]`` — whatever other alerts the entity has. Re-running an
  old window therefore finds the old episode's alert (or makes a new one), and never
  stretches a newer alert backwards over a quiet gap. When several alerts qualify, the one
  the match overlaps most closely wins (smallest gap, then earliest start, then id).
* **Suppression.** A match separated from its alert by more than the window but no more
  than ``suppress_for`` is folded in and counted in ``suppressed`` — never dropped.
* **Canonical episode start.** The id of a new alert is ``sha256(detector, entity, start)``
  where *start* is the first event of the entity's unbroken run of matching events that
  contains the match's first event: walking back from it, each earlier event at most the
  allowance before the next belongs to the run (at most ``MAX_LOOKBACK`` back). This
  depends only on the events, not on which window saw the episode first, so the live
  scheduler and a ``soc detect`` backtest evaluating different windows of one episode
  compute the same id and end with one alert (``op_type=create`` lets only one write it).
  Kinds whose match is not a run of events (a rate, an absence, a pair of events in the
  middle of ordinary activity) start at the match; which kinds walk back is decided by the
  detection side (``soc.detection.figures.RUN_KINDS``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from soc.alerts.models import Alert, AlertRule, EpisodeFigures, Match, alert_id

__all__ = [
    "LOOKBACK_STEP",
    "MAX_LOOKBACK",
    "Run",
    "choose",
    "extended",
    "gap_to",
    "new_alert",
    "reason_for",
    "run_start",
    "span_after",
]

# how far back the canonical start is looked for, and how much one query covers
LOOKBACK_STEP = timedelta(days=1)
MAX_LOOKBACK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Run:
    """Earliest and latest matching event of one time bucket (no wider than the allowance)."""

    first: datetime
    last: datetime


def gap_to(alert: Alert, first: datetime, last: datetime) -> timedelta:
    """Quiet time between *alert*'s span and ``[first, last]`` (zero when they overlap)."""
    if last < alert.start:
        return alert.start - last
    if first > alert.end:
        return first - alert.end
    return timedelta(0)


def choose(rule: AlertRule, candidates: Iterable[Alert], first: datetime, last: datetime) -> Alert | None:
    """The alert ``[first, last]`` belongs to: its widened span overlaps; closest first."""
    allowance = rule.allowance
    fitting = [a for a in candidates if gap_to(a, first, last) <= allowance]
    if not fitting:
        return None
    return min(fitting, key=lambda a: (gap_to(a, first, last), a.start, a.id))


def run_start(
    first_seen: datetime, runs: Sequence[Run], allowance: timedelta, *, since: datetime
) -> tuple[datetime, bool]:
    """Walk back from *first_seen* over *runs*, the buckets of matching events in
    ``[since, first_seen]`` (each no wider than *allowance*, so no gap hides inside one).

    Returns the run's first event and whether the run may go on before *since* (the
    caller then looks further back).
    """
    start = first_seen
    for run in sorted(runs, key=lambda r: r.first, reverse=True):
        if run.first >= start:
            continue  # at or after the current start: already part of it
        if start - run.last > allowance:
            return start, False
        start = run.first
    return start, start - since <= allowance


def reason_for(rule: AlertRule, entity: dict[str, str], count: int, distinct: int | None, match: Match) -> str:
    """The alert's one-sentence reason: the kind's own if it wrote one, else a generic one."""
    if match.reason:
        return match.reason
    who = ", ".join(f"{k}={v}" for k, v in sorted(entity.items()))
    text = f"{rule.title}: {count} matching events for {who}"
    if distinct is not None and rule.distinct_field is not None:
        text += f", {distinct} distinct {rule.distinct_field}"
    return text


def new_alert(rule: AlertRule, match: Match, start: datetime, fig: EpisodeFigures, now: datetime) -> Alert:
    """A new alert for the episode of *match* beginning at the canonical *start*."""
    count = max(fig.count, match.count)
    distinct = fig.distinct if fig.distinct is not None else match.distinct_count
    return Alert(
        id=alert_id(rule.detector, match.entity, start),
        detector=rule.detector,
        title=rule.title,
        severity=rule.severity,
        risk_score=rule.risk_score,
        entity=match.entity,
        count=count,
        distinct_count=distinct,
        distinct_field=rule.distinct_field,
        start=start,
        end=max(match.last_seen, start),
        mitre=list(rule.mitre),
        kind=rule.kind,
        figures=dict(match.figures),
        reason=reason_for(rule, match.entity, count, fig.distinct, match),
        segments=fig.segments,
        sample_event_ids=fig.samples,
        created=now,
        updated=now,
    )


def span_after(alert: Alert, match: Match) -> tuple[datetime, datetime] | None:
    """The alert's span once *match* is in it, or None when the match changes nothing."""
    start = min(alert.start, match.first_seen)
    end = max(alert.end, match.last_seen)
    if start == alert.start and end == alert.end:
        return None
    return start, end


def extended(rule: AlertRule, alert: Alert, match: Match, fig: EpisodeFigures, now: datetime) -> Alert:
    """*alert* grown to take *match* in, with the figures recomputed over its new span."""
    start = min(alert.start, match.first_seen)
    end = max(alert.end, match.last_seen)
    suppressed = gap_to(alert, match.first_seen, match.last_seen) > rule.join_gap
    count = max(fig.count, match.count)
    return alert.model_copy(
        update={
            "start": start,
            "end": end,
            "count": count,
            "distinct_count": fig.distinct,
            "segments": sorted(set(alert.segments) | set(fig.segments)),
            "windows": alert.windows + 1,
            "suppressed": alert.suppressed + (1 if suppressed else 0),
            "figures": {**alert.figures, **match.figures},
            "reason": reason_for(rule, alert.entity, count, fig.distinct, match),
            "updated": now,
        }
    )
