"""Evaluate detectors over windows and record alerts: backtests and live runs alike."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from soc.alerts.models import Alert, Match
from soc.alerts.store import AlertStore
from soc.calendar import CalendarSettings
from soc.context import AppContext
from soc.detection import queries
from soc.detection.figures import DetectorEvidence, rule_for
from soc.detection.kinds import BATCH, KindEnv, kind_for
from soc.detection.kinds.fetch import epoch_ms
from soc.detection.kinds.one_pass import min_events
from soc.detection.models import (
    BeaconDetector,
    Detector,
    SegmentPolicyDetector,
    SequenceDetector,
    ThresholdDetector,
)
from soc.detection.state import RunState, RunStateStore, Settled
from soc.detection.windows import Window, align_down, backtest_windows, live_windows

__all__ = ["Arrivals", "DetectionEngine", "RunReport", "WindowFigures", "with_calendar"]

# Kinds whose result over a window depends on that window's events only: a window already
# evaluated gives the same result again unless its events changed. (Kinds that also read
# history before the window — new terms, baselines, travel, silence — are always re-run.)
WINDOW_LOCAL = (ThresholdDetector, SequenceDetector, BeaconDetector, SegmentPolicyDetector)
# Kinds whose every alert needs a group of at least ``min_events`` matching events in the
# window: a window holding fewer in all (the arrivals histogram tells) cannot alert.
COUNTED = (ThresholdDetector, SegmentPolicyDetector)
# arrivals histograms of several detectors sent together (one _msearch per dataset)
PREFETCH_BATCH = 50


@dataclass(frozen=True)
class Arrivals:
    """A detector's matching events per *slot* of ``[start, end)`` (epoch ms -> count), as
    ``queries.arrivals_histogram`` answers; fetched for many detectors in one ``_msearch``
    (``DetectionEngine.prefetch_arrivals``) or by the run itself."""

    start: datetime
    end: datetime
    slot: timedelta
    counts: dict[int, int]


@dataclass
class WindowFigures:
    window: Window
    groups: int
    matches: int
    took_ms: int
    pages: int
    truncated: int = 0


@dataclass
class RunReport:
    detector: str
    windows: int = 0
    matches: int = 0
    created: list[Alert] = field(default_factory=list)
    extended: list[Alert] = field(default_factory=list)
    took_ms: int = 0
    duration_s: float = 0.0
    truncated: int = 0  # candidates a cap kept from being examined (never silent)
    quiet: int = 0  # windows covered without a query: too few matching events to alert (live runs)
    watermark: datetime | None = None  # live runs: the end of the last window covered, after the run
    error: str | None = None
    per_window: list[WindowFigures] = field(default_factory=list)
    queries: list[dict[str, Any]] = field(default_factory=list)
    plans: list[Any] = field(default_factory=list)  # how the windows were covered (kinds.one_pass.Plan)

    @property
    def alerts(self) -> list[Alert]:
        """Alerts new or changed in this run (latest version of each)."""
        latest: dict[str, Alert] = {}
        for a in [*self.created, *self.extended]:
            latest[a.id] = a
        return list(latest.values())


def _fingerprint(match: Match) -> tuple[Any, ...]:
    return (
        tuple(sorted(match.entity.items())),
        match.count,
        match.distinct_count,
        match.first_seen,
        match.last_seen,
        repr(sorted(match.figures.items())),
        match.reason,
    )


def with_calendar(detector: Detector, calendar: CalendarSettings) -> Detector:
    """The detector with its ``off_hours`` reading the office calendar of the settings,
    unless the detector declares a calendar of its own."""
    spec = detector.off_hours
    if spec is None or spec.calendar is not None:
        return detector
    return detector.model_copy(update={"off_hours": spec.model_copy(update={"calendar": calendar})})


class DetectionEngine:
    def __init__(self, ctx: AppContext, *, strategy: str = "auto") -> None:
        self.ctx = ctx
        self.strategy = strategy  # "auto", "windows" (one aggregation per window), "one-pass" or "fetch"
        self.tz = ZoneInfo(ctx.settings.timezone)
        self.alerts = AlertStore(ctx.es, kibana_url=ctx.settings.kibana_url)
        self.state = RunStateStore(ctx.es)
        # per detector, the matches its last live run recorded or met again: a window the
        # next run re-evaluates for late logs gives mostly the same ones (not recorded twice)
        self._recorded: dict[str, set[tuple[Any, ...]]] = {}

    def evaluate(
        self,
        detector: Detector,
        windows: list[Window],
        *,
        write: bool = True,
        explain: bool = False,
        seen: tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]] | None = None,
    ) -> RunReport:
        """Evaluate *detector* over *windows* in order; with ``write=False`` nothing is stored.
        *seen* = (matches recorded before, matches of this run): a match already in either
        (a re-evaluated window giving what it gave last time) is not recorded again."""
        detector = with_calendar(detector, self.ctx.settings.calendar)
        report = RunReport(detector=detector.id)
        began = time.perf_counter()
        indices = self.ctx.settings.dataset_indices(detector.dataset)
        env = KindEnv(self.ctx.es, indices, self.tz, keep_queries=explain, write=write, strategy=self.strategy)
        evaluations = kind_for(detector).evaluate(env, detector, windows)
        report.plans = env.plans
        rule, evidence = rule_for(detector), DetectorEvidence(self.ctx.es, detector, indices, tz=self.tz)
        try:
            for window, ev in zip(windows, evaluations, strict=True):
                report.windows += 1
                report.matches += len(ev.matches)
                report.took_ms += ev.took_ms
                report.truncated += ev.truncated
                if explain:
                    report.per_window.append(
                        WindowFigures(window, ev.groups, len(ev.matches), ev.took_ms, ev.pages, ev.truncated)
                    )
                    if not report.queries:
                        report.queries = ev.queries
                if not write:
                    continue
                for match in ev.matches:
                    if seen is not None:
                        key = _fingerprint(match)
                        known = key in seen[0] or key in seen[1]
                        seen[1].add(key)
                        if known:
                            continue  # recorded already: the same match again is a no-op for the store
                    rec = self.alerts.record(rule, match, evidence=evidence, now=self.ctx.clock.now())
                    report.took_ms += rec.took_ms
                    if rec.outcome == "created":
                        report.created.append(rec.alert)
                    elif rec.outcome == "extended":
                        report.extended.append(rec.alert)
        except BaseException:
            self.alerts.discard()  # nothing half-written, the lock let go: the run is evaluated again
            raise
        # one _bulk and one refresh per run: escalation and listings search what it wrote
        merged = self.alerts.flush()
        if merged:  # another writer created these episodes first: this run extended them
            report.extended += [a for a in report.created if a.id in merged]
            report.created = [a for a in report.created if a.id not in merged]
        report.duration_s = time.perf_counter() - began
        return report

    def backtest(
        self, detector: Detector, start: datetime, end: datetime, *, write: bool = True, explain: bool = False
    ) -> RunReport:
        """Sliding windows over a past range. The live watermark is not moved."""
        return self.evaluate(detector, backtest_windows(detector.schedule, start, end), write=write, explain=explain)

    def run_live(
        self,
        detector: Detector,
        *,
        max_windows: int = 288,
        states: RunStateStore | None = None,
        arrivals: Arrivals | None = None,
    ) -> RunReport:
        """Cover every window due since the stored watermark; resume exactly there after a
        restart or an outage (gaps are backfilled, up to *max_windows* per call). *states*
        replaces the engine's store for this run (the scheduler's batch of run states);
        *arrivals* is the detector's histogram fetched with others' (used if it spans this
        run's windows, else the run asks for its own)."""
        store = states or self.state
        seen: tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]] = (self._recorded.get(detector.id, set()), set())
        now = self.ctx.clock.now()
        state = store.get(detector.id)
        self._note_definition(state, detector, now)
        windows = live_windows(detector.schedule, watermark=state.watermark, now=now, max_windows=max_windows)
        report = RunReport(detector=detector.id)
        began = time.perf_counter()
        settled: Settled | None = None
        try:
            windows, settled, quiet = self._unless_settled(detector, windows, state, arrivals)
            report.quiet = len(quiet)
            # in chunks: one _msearch per chunk; the watermark moves after each chunk's alerts
            # are recorded (a crash inside a chunk re-evaluates it, which is idempotent)
            for i in range(0, len(windows), BATCH):
                chunk = windows[i : i + BATCH]
                busy = [w for w in chunk if w not in quiet]  # a quiet window cannot alert: no query
                if busy:
                    part = self.evaluate(detector, busy, seen=seen)
                    report.matches += part.matches
                    report.took_ms += part.took_ms
                    report.created += part.created
                    report.extended += part.extended
                    report.truncated += part.truncated
                report.windows += len(chunk)
                fresh = [w for w in chunk if state.watermark is None or w.end > state.watermark]
                state.windows_covered += len(fresh)  # late-log re-evaluations are not new coverage
                state.watermark = max(chunk[-1].end, state.watermark or chunk[-1].end)
                store.save(state)
        except Exception as exc:
            report.error = f"{type(exc).__name__}: {exc}"
            self._record_failure(store, state, now, report.error)
            raise
        report.duration_s = time.perf_counter() - began
        state.last_run = now
        state.last_success = now
        state.last_error = None
        state.consecutive_failures = 0
        state.last_took_ms = report.took_ms
        state.last_duration_s = round(report.duration_s, 3)
        state.last_windows = report.windows
        state.last_truncated = report.truncated
        state.truncated_total += report.truncated
        state.runs += 1
        state.alerts_created += len(report.created)
        state.lag_s = (now - state.watermark).total_seconds() if state.watermark else None
        state.settled = settled
        store.save(state)
        report.watermark = state.watermark
        self._recorded[detector.id] = seen[1]  # bounded: the matches of the windows of this run
        return report

    def _arrivals_span(self, detector: Detector, windows: list[Window]) -> tuple[datetime, datetime, timedelta]:
        slot = detector.schedule.interval
        return align_down(windows[0].start, slot), windows[-1].end, slot

    def prefetch_arrivals(
        self, due: Sequence[tuple[Detector, RunState]], *, max_windows: int = 288
    ) -> dict[str, Arrivals]:
        """The arrivals histograms the live runs of *due* (each with its run state) will need,
        fetched together: one ``_msearch`` per dataset and ``PREFETCH_BATCH`` detectors, an
        identical query (variants of one detector differing by threshold only) asked once.
        A histogram taken before its run is what the run itself would take, a little earlier:
        its run still evaluates (or skips as unchanged) the windows against the live index,
        and an event arriving in between differs from the snapshot, so the next run re-runs
        its window. Keyed by detector id; detectors of other kinds are left out."""
        now = self.ctx.clock.now()
        wanted: dict[tuple[str, ...], dict[str, tuple[dict[str, Any], datetime, datetime, timedelta]]] = {}
        for detector, state in due:
            if not isinstance(detector, WINDOW_LOCAL):
                continue
            windows = live_windows(detector.schedule, watermark=state.watermark, now=now, max_windows=max_windows)
            if not windows:
                continue
            start, end, slot = self._arrivals_span(detector, windows)
            body = queries.arrivals_histogram(detector, start, end, slot=slot, tz=self.tz)
            indices = tuple(self.ctx.settings.dataset_indices(detector.dataset))
            wanted.setdefault(indices, {})[detector.id] = (body, start, end, slot)
        out: dict[str, Arrivals] = {}
        for indices, asked in wanted.items():
            distinct: dict[str, dict[str, Any]] = {}
            for body, *_ in asked.values():
                distinct.setdefault(json.dumps(body, sort_keys=True, default=str), body)
            keys = list(distinct)
            answers: dict[str, dict[str, Any]] = {}
            for i in range(0, len(keys), PREFETCH_BATCH):
                part = keys[i : i + PREFETCH_BATCH]
                found = self.ctx.es.msearch(list(indices), [distinct[k] for k in part], action="late-arrival check")
                answers.update(zip(part, found, strict=True))
            for detector_id, (body, start, end, slot) in asked.items():
                res = answers[json.dumps(body, sort_keys=True, default=str)]
                out[detector_id] = Arrivals(start, end, slot, _slot_counts(res))
        return out

    def _unless_settled(
        self, detector: Detector, windows: list[Window], state: RunState, arrivals: Arrivals | None = None
    ) -> tuple[list[Window], Settled | None, set[Window]]:
        """*windows* without those a previous run already evaluated (the late-log allowance)
        when none of their events changed since: one histogram of the detector's events per
        interval over the windows' span, compared slot by slot with the one the previous
        successful run took before evaluating. A window whose slots all hold the same counts
        holds the same events (alerts' ids are deterministic, so re-running it would only
        repeat what is recorded); anything that arrived late, or was deleted, changes a count
        and the windows are re-run as before. Counting, not ``event.ingested``, decides: it
        needs no arrival stamp and no clock agreement between hosts. With a long window at a
        short interval (a beacon's 8 hours every minute) one histogram replaces dozens of
        re-evaluations per run. Also returns this run's histogram, saved once the run succeeds,
        and the windows left to run that cannot alert: a count (or segment-policy) detector's
        window holding fewer matching events in all than one group needs (``min_events``)."""
        if not windows or not isinstance(detector, WINDOW_LOCAL):
            return windows, None, set()
        start, end, slot = self._arrivals_span(detector, windows)
        if arrivals is None or (arrivals.start, arrivals.end, arrivals.slot) != (start, end, slot):
            indices = self.ctx.settings.dataset_indices(detector.dataset)
            body = queries.arrivals_histogram(detector, start, end, slot=slot, tz=self.tz)
            arrivals = Arrivals(
                start, end, slot, _slot_counts(self.ctx.es.search(indices, body, action="late-arrival check"))
            )
        counts = arrivals.counts
        snapshot = Settled(
            start=start,
            end=end,
            slot_s=int(slot.total_seconds()),
            definition=state.definition_hash,
            counts=Settled.encode(counts),
        )
        before, watermark = state.settled, state.watermark
        again = [w for w in windows if watermark is not None and w.end <= watermark]
        if again and before is not None and watermark is not None:
            lo = align_down(again[0].start, slot)
            comparable = (
                before.slot_s == snapshot.slot_s
                and before.definition == state.definition_hash
                and before.start <= lo
                and before.end >= watermark
            )
            if comparable:
                old = before.as_dict()
                lo_ms, hi_ms = epoch_ms(lo), epoch_ms(watermark)
                changed = any(counts.get(k, 0) != old.get(k, 0) for k in {*counts, *old} if lo_ms <= k < hi_ms)
                if not changed:
                    windows = [w for w in windows if w.end > watermark]
        return windows, snapshot, _quiet(detector, windows, counts, slot)

    @staticmethod
    def _note_definition(state: RunState, detector: Detector, now: datetime) -> None:
        """Date every change of the detector's definition the scheduler runs."""
        digest = hashlib.sha256(detector.model_dump_json().encode()).hexdigest()[:16]
        if state.definition_hash == digest:
            return
        if state.definition_hash is not None:
            state.previous_version = state.definition_version
        state.definition_hash = digest
        state.definition_version = detector.version
        state.definition_changed_at = now

    @staticmethod
    def _record_failure(store: RunStateStore, state: RunState, now: datetime, error: str) -> None:
        state.last_run = now
        state.last_error = error[:2000]
        state.consecutive_failures += 1
        with contextlib.suppress(Exception):  # Elasticsearch itself may be what failed
            store.save(state)


def _slot_counts(res: dict[str, Any]) -> dict[int, int]:
    buckets = res.get("aggregations", {}).get("slots", {}).get("buckets", [])
    return {int(b["key"]): int(b["doc_count"]) for b in buckets}


def _quiet(detector: Detector, windows: list[Window], counts: dict[int, int], slot: timedelta) -> set[Window]:
    """The *windows* of a count detector holding fewer matching events (the slots they
    touch, an upper bound) than one group needs to alert: evaluating them cannot alert."""
    if not isinstance(detector, COUNTED):
        return set()
    need, slot_ms = min_events(detector), slot // timedelta(milliseconds=1)
    quiet = set()
    for w in windows:
        lo, hi = epoch_ms(w.start), epoch_ms(w.end)
        if sum(counts.get(s, 0) for s in range(lo - lo % slot_ms, hi, slot_ms)) < need:
            quiet.add(w)
    return quiet
