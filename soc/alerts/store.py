"""Alerts in Elasticsearch: recorded so that re-runs, restarts and concurrent writers never
duplicate them (the rules are in ``soc.alerts.episodes``; also in the README, "Alerts never
duplicate").

* A match joins the alert whose widened span it overlaps.
* Otherwise the episode's canonical start is looked up and the alert is created with the id
  derived from that start. Two writers evaluating different windows of one episode — the
  live scheduler and a ``soc detect`` backtest — therefore end with one alert, whichever
  came first.
* A match already inside an alert's span changes nothing: re-running any window is a no-op.

**One lock and one ``_bulk`` per detection run.** The first ``record()`` of a run takes the
detector's write lock (``soc.alerts.writelock``: one document per detector, two writes per
run); every decision of the run is made under it, against what is searchable, what the
lock's *recent writes* name (alerts written under it in the last two minutes, read by id,
realtime: they may not be searchable yet) and what the run itself decided so far (kept in
memory). ``flush()`` — called once at the end of a run — writes the run's new and grown
alerts in one ``_bulk`` (``op_type=create`` with the episode's id for a new alert,
``if_seq_no``/``if_primary_term`` of the version read for a grown one), then releases the
lock with those alerts added to its recent writes: the next holder, in any thread or
process, sees every alert written before it. A holder killed between its ``_bulk`` and its
release leaves alerts the index's one-second refresh makes searchable long before its lock
expires (30 s), and a run reads the episode's id directly (realtime) before it creates an
alert, so even one no search shows yet is extended — and reported so — not created. A
``_bulk`` item refused with 409 (an alert changed by triage since it was
read, or an id written by a writer whose lock had expired) is read again, the run's matches
for it are re-applied over the stored one, and it is written again.

Writes do not wait for a refresh: a search of this store refreshes the alerts index first
when this process wrote alerts since its last refresh, so escalation and ``soc detect``
output list what the run wrote; other processes see them within the index's one-second
refresh.

A long run commits (``flush()``) every ``HOLD_S`` seconds or ``MAX_PENDING`` alerts and
takes the lock again on its next match, so no run holds it for long. The store's per-run
state is per thread: the scheduler's worker threads share one store.

What the store knows of Elasticsearch figures comes through ``Evidence``, which the
detection side implements (``soc.detection.figures``): this package does not import
``soc.detection``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from soc.alerts.episodes import LOOKBACK_STEP, MAX_LOOKBACK, Run, choose, extended, new_alert, run_start, span_after
from soc.alerts.models import (
    Alert,
    AlertRule,
    AlertStatus,
    CloseReason,
    EpisodeFigures,
    Match,
    alert_id,
    entity_key,
)
from soc.alerts.triage import TriageError, triaged, with_incident
from soc.alerts.writelock import RECENT_MAX, HeldLock, release, renew, take
from soc.errors import NotFound, SocError, VersionConflict
from soc.es.client import EsGateway
from soc.es.indices import alerts_index, ensure_ready
from soc.es.locks import TTL_S
from soc.es.versioned import ATTEMPTS, read_modify_write

__all__ = ["AlertStore", "Evidence", "Recorded", "TriageError"]

_MISSING = "list alerts with 'soc alerts list'"
HOLD_S = 10.0  # a run commits and lets the lock go after holding it this long (expiry: TTL_S)
MAX_PENDING = 500  # ... or after deciding this many alerts

_PAGE = 50  # an entity's alerts read at once (more: each match's range is searched)
_unrefreshed: set[str] = set()  # alert indices this process wrote to since it last refreshed them


class Evidence(Protocol):
    """What Elasticsearch says about one detector's events for one entity."""

    def figures(self, entity: dict[str, str], start: datetime, end: datetime) -> EpisodeFigures:
        """Count, distinct count, segments and samples over ``[start, end]``."""
        ...

    def runs(self, entity: dict[str, str], start: datetime, end: datetime, bucket: timedelta) -> list[Run] | None:
        """First/last matching event per *bucket* over ``[start, end]``, or None when
        the detector's kind has no event runs (its episode starts at the match)."""
        ...


@dataclass
class Recorded:
    alert: Alert
    outcome: Literal["created", "extended", "unchanged"]
    took_ms: int = 0


Version = tuple[int, int]


@dataclass
class _Pending:
    """An alert as this run will write it: created (*version* None) or grown from the
    stored *version*, with the matches folded in (re-applied if the write conflicts)."""

    rule: AlertRule
    evidence: Evidence
    alert: Alert
    version: Version | None
    matches: list[tuple[Match, datetime]] = field(default_factory=list)


@dataclass
class _RunState:
    held: HeldLock | None = None
    pending: dict[str, _Pending] = field(default_factory=dict)
    versions: dict[str, Version] = field(default_factory=dict)  # of the alerts read: writes are conditional on them
    # (detector, entity key) -> (from, its stored alerts ending then or later), while the lock is held
    known: dict[tuple[str, str], tuple[datetime, dict[str, Alert]]] = field(default_factory=dict)


class AlertStore:
    def __init__(self, gw: EsGateway, *, kibana_url: str | None = None) -> None:
        self._gw = gw
        self._kibana_url = kibana_url  # alert documents then link to their events in Discover
        self._local = threading.local()  # one _RunState per thread

    @property
    def index(self) -> str:
        return alerts_index(self._gw)

    def _doc(self, alert: Alert) -> dict[str, Any]:
        """The stored document of *alert* (every write goes through here)."""
        return alert.to_doc(kibana_url=self._kibana_url, prefix=self._gw.prefix)

    @property
    def _run(self) -> _RunState:
        state: _RunState | None = getattr(self._local, "run", None)
        if state is None:
            state = self._local.run = _RunState()
        return state

    # -- recording matches ---------------------------------------------------
    def record(self, rule: AlertRule, match: Match, *, evidence: Evidence, now: datetime) -> Recorded:
        """Join *match* to its episode's alert or create that alert (see the module doc).
        Written by the next ``flush()``."""
        ensure_ready(self._gw)
        run = self._run
        if run.held is not None and (
            run.held.detector != rule.detector or run.held.age() > HOLD_S or len(run.pending) >= MAX_PENDING
        ):
            self.flush()
        if run.held is None:
            run.held = take(self._gw, rule.detector)
        found = self._overlapping(rule, match.entity, match.first_seen, match.last_seen)
        target = choose(rule, found, match.first_seen, match.last_seen)
        if target is None:
            start = self.episode_start(rule, match, evidence)
            found = self._overlapping(rule, match.entity, start, match.last_seen)
            target = choose(rule, found, start, match.last_seen)
            if target is None:
                target = self._written_meanwhile(rule, match, start)
            if target is None:
                fig = evidence.figures(match.entity, start, match.last_seen)
                alert = new_alert(rule, match, start, fig, now)
                run.pending[alert.id] = _Pending(rule, evidence, alert, None, [(match, now)])
                return Recorded(alert, "created", fig.took_ms)
        return self._extend(rule, target, match, evidence=evidence, now=now)

    def _written_meanwhile(self, rule: AlertRule, match: Match, start: datetime) -> Alert | None:
        """The episode's alert if another writer already wrote it where no search shows it
        yet (not refreshed, and not named by the lock's recent writes: a holder that died
        between its ``_bulk`` and its release, or one whose lock expired): one realtime get
        by the id the episode start gives, so this run reports it extended, not created."""
        found = self._gw.get(self.index, alert_id(rule.detector, match.entity, start))
        if found is None:
            return None
        self._run.versions[found["_id"]] = (int(found["_seq_no"]), int(found["_primary_term"]))
        return Alert.from_doc(found["_source"])

    def episode_start(self, rule: AlertRule, match: Match, evidence: Evidence) -> datetime:
        """The first event of the unbroken run of matching events holding the match's first."""
        start = match.first_seen
        while match.first_seen - start < MAX_LOOKBACK:
            since = start - LOOKBACK_STEP
            runs = evidence.runs(match.entity, since, start, rule.allowance)
            if runs is None:
                return match.first_seen
            start, more = run_start(start, runs, rule.allowance, since=since)
            if not more:
                break
        return start

    def flush(self) -> set[str]:
        """Write what this thread's run decided (one ``_bulk``), make it searchable (one
        refresh), then release the run's lock.

        Returns the ids of the alerts this run recorded as ``created`` that another writer
        had created meanwhile (its lock expired under it): they were merged into that
        writer's alert, so a run report should count them extended, not new."""
        run = self._run
        pending, run.pending = run.pending, {}
        run.versions.clear()
        run.known.clear()
        wrote: list[tuple[str, str]] = []
        merged: set[str] = set()
        searchable = False
        try:
            if pending:
                merged = self._write(pending, run.held)
                _unrefreshed.add(self.index)
                wrote = [(p.alert.id, entity_key(p.alert.entity)) for p in pending.values()]
                if run.held is not None and len(run.held.recent) + len(wrote) > RECENT_MAX:
                    self.refresh()  # too many to note: make them all searchable instead
                    searchable = True
        finally:
            held, run.held = run.held, None
            if held is not None:
                with suppress(SocError):  # Elasticsearch away: the lock expires by itself
                    release(self._gw, held, wrote, searchable=searchable)
        return merged

    def refresh(self) -> None:
        """Make every alert written so far searchable (one refresh of the alerts index)."""
        _unrefreshed.discard(self.index)
        self._gw.refresh(self.index)

    def discard(self) -> None:
        """Forget what this thread's run decided and release its lock (the run failed: it
        is evaluated again, which is idempotent)."""
        self._run.pending.clear()
        self.flush()  # nothing pending: nothing merged

    def _overlapping(self, rule: AlertRule, entity: dict[str, str], first: datetime, last: datetime) -> list[Alert]:
        """The entity's alerts whose widened span reaches ``[first, last]``: the stored ones
        (``_stored``) as this run has changed them, and the ones this run created.

        The first look at an entity in a run reads its alerts from well before the match
        on, and the run keeps them while it holds the lock (nobody else changes a span of
        this detector's alerts meanwhile): its later matches of that entity, and the
        episode start of this one, need no search."""
        key = entity_key(entity)
        lo, hi = first - rule.allowance, last + rule.allowance
        run = self._run
        known = run.known.get((rule.detector, key))
        if known is not None and lo >= known[0]:
            stored = known[1]
        else:
            since = lo - MAX_LOOKBACK - LOOKBACK_STEP  # the furthest an episode start walks back
            wide = self._stored(rule.detector, key, since, None)
            if wide is not None:
                run.known[(rule.detector, key)] = (since, wide)
                stored = wide
            else:  # more than a page from there on: this match's range only
                stored = self._stored(rule.detector, key, lo, hi) or {}
        found = dict(stored)
        for p in run.pending.values():
            if p.alert.detector == rule.detector and entity_key(p.alert.entity) == key:
                found[p.alert.id] = p.alert
        fitting = [a for a in found.values() if a.start <= hi and a.end >= lo]
        return sorted(fitting, key=lambda a: (a.start, a.id))[:20]

    def _stored(self, detector: str, key: str, lo: datetime, hi: datetime | None) -> dict[str, Alert] | None:
        """The entity's stored alerts ending at or after *lo* (and starting by *hi*): the
        searchable ones and those the lock's recent writes name (read by id, realtime),
        with their versions noted. Without *hi*, None when they fill more than a page."""
        filters: list[dict[str, Any]] = [
            {"term": {"soc.alert.detector": detector}},
            {"term": {"soc.alert.entity_key": key}},
            {"range": {"soc.alert.end": {"gte": lo.isoformat()}}},
        ]
        if hi is not None:
            filters.append({"range": {"soc.alert.start": {"lte": hi.isoformat()}}})
        body = {
            "size": 20 if hi is not None else _PAGE,
            "query": {"bool": {"filter": filters}},
            "sort": [{"soc.alert.start": "asc"}, {"soc.alert.id": "asc"}],
            "seq_no_primary_term": True,
        }
        hits = self._gw.search(self.index, body, action="find alert episode")["hits"]["hits"]
        if hi is None and len(hits) >= _PAGE:
            return None
        held = self._run.held
        noted = [str(e["id"]) for e in (held.recent if held else []) if e.get("key") == key]
        hits += self._gw.mget_docs(self.index, [i for i in noted if i not in {h["_id"] for h in hits}])
        self._run.versions.update({h["_id"]: (int(h["_seq_no"]), int(h["_primary_term"])) for h in hits})
        return {h["_id"]: Alert.from_doc(h["_source"]) for h in hits}

    def _extend(self, rule: AlertRule, alert: Alert, match: Match, *, evidence: Evidence, now: datetime) -> Recorded:
        span = span_after(alert, match)
        if span is None:
            return Recorded(alert, "unchanged")
        fig = evidence.figures(alert.entity, *span)
        updated = extended(rule, alert, match, fig, now)
        pending = self._run.pending.get(alert.id)
        if pending is None:
            pending = self._run.pending[alert.id] = _Pending(rule, evidence, updated, self._run.versions[alert.id])
        pending.alert = updated
        pending.matches.append((match, now))
        return Recorded(updated, "extended", fig.took_ms)

    # -- writing a run's alerts ----------------------------------------------
    def _write(self, pending: dict[str, _Pending], held: HeldLock | None) -> set[str]:
        """One ``_bulk`` for *pending*; items refused with 409 are re-applied over the
        stored alert and written again. Returns the ids whose create found the alert there."""
        merged: set[str] = set()
        for _attempt in range(ATTEMPTS):
            if held is not None and held.age() > TTL_S / 2:
                renew(self._gw, held)  # VersionConflict: it expired and was taken over; the run fails
            actions = [self._action(p) for p in pending.values()]
            result = self._gw.bulk(actions, chunk_size=max(len(actions), 1))
            refused = [e for e in result.errors if e.get("status") != 409]
            if refused:
                first = refused[0]
                raise SocError(f"alert {first.get('id')} not written: {first.get('reason')}", hint="see the node's log")
            merged |= {str(e["id"]) for e in result.errors if pending[str(e["id"])].version is None}
            again = [self._replayed(pending[str(e["id"])]) for e in result.errors]
            pending = {p.alert.id: p for p in again if p is not None}
            if not pending:
                return merged
        raise VersionConflict("alerts changed by another writer while being written, again and again", hint="try again")

    def _action(self, p: _Pending) -> dict[str, Any]:
        action: dict[str, Any] = {"_index": self.index, "_id": p.alert.id, "_source": self._doc(p.alert)}
        if p.version is None:
            return action | {"_op_type": "create"}
        return action | {"_op_type": "index", "if_seq_no": p.version[0], "if_primary_term": p.version[1]}

    def _replayed(self, p: _Pending) -> _Pending | None:
        """*p*'s matches applied over the alert as stored now (None: nothing left to write)."""
        found = self._gw.get(self.index, p.alert.id)
        if found is None:  # an alert we grew was deleted meanwhile: write ours whole
            return _Pending(p.rule, p.evidence, p.alert, None, p.matches)
        alert, changed = Alert.from_doc(found["_source"]), False
        for match, now in p.matches:
            span = span_after(alert, match)
            if span is not None:
                alert, changed = extended(p.rule, alert, match, p.evidence.figures(alert.entity, *span), now), True
        version = (int(found["_seq_no"]), int(found["_primary_term"]))
        return _Pending(p.rule, p.evidence, alert, version, p.matches) if changed else None

    # -- reading and triage --------------------------------------------------
    def get(self, alert_id_: str) -> Alert:
        found = self._gw.get(self.index, alert_id_)
        if found is None:
            raise NotFound(f"no alert {alert_id_!r}", hint="list alerts with 'soc detect --json' or 'soc alerts list'")
        return Alert.from_doc(found["_source"])

    def search(
        self,
        *,
        detector: str | None = None,
        status: AlertStatus | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        ids: Iterable[str] | None = None,
        severities: Iterable[str] | None = None,
        unassigned: bool = False,
        size: int = 10_000,
    ) -> list[Alert]:
        filters: list[dict[str, Any]] = []
        must_not: list[dict[str, Any]] = []
        if unassigned:
            must_not.append({"exists": {"field": "soc.alert.incident_id"}})
        if severities is not None:
            filters.append({"terms": {"soc.alert.severity": list(severities)}})
        if detector:
            filters.append({"term": {"soc.alert.detector": detector}})
        if status:
            filters.append({"term": {"soc.alert.status": status.value}})
        if start or end:
            rng: dict[str, Any] = {}
            if start:
                rng["gte"] = start.isoformat()
            if end:
                rng["lte"] = end.isoformat()
            filters.append({"range": {"soc.alert.end": rng}})
        if ids is not None:
            filters.append({"ids": {"values": list(ids)}})
        body = {
            "size": size,
            "query": {"bool": {"filter": filters, "must_not": must_not}},
            "sort": [{"soc.alert.start": "asc"}, {"soc.alert.id": "asc"}],
        }
        if self.index in _unrefreshed:
            self.refresh()
        res = self._gw.search(self.index, body, action="list alerts")
        return [Alert.from_doc(h["_source"]) for h in res["hits"]["hits"]]

    def triage(
        self,
        alert_id_: str,
        status: AlertStatus,
        *,
        by: str,
        now: datetime,
        reason: CloseReason | None = None,
        note: str | None = None,
    ) -> Alert:
        """Apply the triage rules (``soc.alerts.triage``) to the stored alert, versioned."""
        return self._update(alert_id_, lambda a: triaged(a, status, by=by, now=now, reason=reason, note=note))

    def set_incident(self, alert_id_: str, incident_id: str, *, now: datetime) -> None:
        self._update(alert_id_, lambda a: with_incident(a, incident_id, now=now))

    def _update(self, alert_id_: str, change: Callable[[Alert], Alert | None]) -> Alert:
        try:
            return read_modify_write(
                self._gw, self.index, alert_id_, load=Alert.from_doc, dump=self._doc, change=change, missing=_MISSING
            )
        except NotFound as exc:
            raise NotFound(f"no alert {alert_id_!r}", hint=_MISSING) from exc
