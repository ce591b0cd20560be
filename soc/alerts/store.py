"""Alerts in Elasticsearch: recorded so that re-runs, restarts and concurrent writers never
duplicate them (the rules are in ``soc.alerts.episodes``; also in the README, "Alerts never
duplicate").

* A match joins the alert whose widened span it overlaps (a versioned write: a concurrent
  change is re-read and re-applied).
* Otherwise the episode's canonical start is looked up and, under a lock on
  ``(detector, entity)`` held in Elasticsearch (``soc.es.locks``), the store looks again
  and then creates the alert with ``op_type=create`` and the id derived from that start.
  Two writers evaluating different windows of one episode — the live scheduler and a
  ``soc detect`` backtest — therefore end with one alert, whichever came first.
* A match already inside an alert's span changes nothing: re-running any window is a no-op.

Writes do not wait for a refresh. The store reads its own writes by id (a realtime ``get``
sees a document the moment it is written): it remembers what it wrote since its last
``flush()``, and, for other writers, every create or extend is noted in the entity's
*recent writes* document (``<prefix>-locks/recent-…``, read by id under the lock), so the
decision "join or create" always sees an alert written a moment ago by anyone. Searches see
alerts only after a refresh: ``flush()`` (one refresh, called once per detection run) makes
a run's alerts visible to what reads them next (escalation, ``soc detect`` output).

What the store knows of Elasticsearch figures comes through ``Evidence``, which the
detection side implements (``soc.detection.figures``): this package does not import
``soc.detection``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from soc.alerts.episodes import LOOKBACK_STEP, MAX_LOOKBACK, Run, choose, extended, new_alert, run_start, span_after
from soc.alerts.models import Alert, AlertRule, AlertStatus, CloseReason, EpisodeFigures, Match, entity_key
from soc.alerts.triage import TriageError, triaged, with_incident
from soc.errors import NotFound, VersionConflict
from soc.es.client import EsGateway
from soc.es.indices import alerts_index, ensure_ready
from soc.es.locks import hold, locks_index
from soc.es.versioned import read_modify_write, retry_conflicts

__all__ = ["AlertStore", "Evidence", "Recorded", "TriageError"]

_MISSING = "list alerts with 'soc alerts list'"
# a write older than this is searchable (the alerts index refreshes every second); kept
# with a wide margin for a loaded node whose refreshes lag
RECENT_S = 120.0
RECENT_MAX = 50


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


class AlertStore:
    def __init__(self, gw: EsGateway, *, kibana_url: str | None = None) -> None:
        self._gw = gw
        self._kibana_url = kibana_url  # alert documents then link to their events in Discover
        self._unrefreshed: dict[tuple[str, str], set[str]] = {}  # (detector, entity) -> ids written since flush()
        # (detector, entity) -> the recent-writes document's version and entries as last read or written
        self._recent_seen: dict[tuple[str, str], tuple[tuple[int, int] | None, list[dict[str, Any]]]] = {}

    @property
    def index(self) -> str:
        return alerts_index(self._gw)

    def _doc(self, alert: Alert) -> dict[str, Any]:
        """The stored document of *alert* (every write goes through here)."""
        return alert.to_doc(kibana_url=self._kibana_url, prefix=self._gw.prefix)

    # -- recording matches ---------------------------------------------------
    def record(self, rule: AlertRule, match: Match, *, evidence: Evidence, now: datetime) -> Recorded:
        """Join *match* to its episode's alert or create that alert (see the module doc)."""
        ensure_ready(self._gw)

        def attempt(n: int) -> Recorded:
            # after a conflict, another writer was at it a moment ago: take its writes in
            found = self._overlapping(rule, match.entity, match.first_seen, match.last_seen, others=n > 0)
            target = choose(rule, (a for a, _s, _t in found), match.first_seen, match.last_seen)
            if target is not None:
                return self._extend(rule, target, match, found, evidence=evidence, now=now)
            start = self.episode_start(rule, match, evidence)
            with hold(self._gw, [f"alert:{rule.detector}:{entity_key(match.entity)}"]):
                found = self._overlapping(rule, match.entity, start, match.last_seen, others=True)
                target = choose(rule, (a for a, _s, _t in found), start, match.last_seen)
                if target is not None:
                    return self._extend(rule, target, match, found, evidence=evidence, now=now)
                return self._create(rule, match, start, evidence=evidence, now=now)

        return retry_conflicts(attempt, what=f"record alert {rule.detector} {entity_key(match.entity)}")

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

    def flush(self) -> None:
        """Make the alerts written since the last flush searchable (one refresh)."""
        if self._unrefreshed:
            self._gw.refresh(self.index)
            self._unrefreshed.clear()
            self._recent_seen.clear()  # bounded: one run's entities

    def _overlapping(
        self, rule: AlertRule, entity: dict[str, str], first: datetime, last: datetime, *, others: bool = False
    ) -> list[tuple[Alert, int, int]]:
        """The entity's alerts whose widened span reaches ``[first, last]``, with versions.

        A search finds what is refreshed; what this store wrote since (and, with *others*,
        what any writer wrote recently) is read by id, realtime, and filtered here."""
        key = (rule.detector, entity_key(entity))
        body = {
            "size": 20,
            "_source": False,
            "query": {
                "bool": {
                    "filter": [
                        {"term": {"soc.alert.detector": rule.detector}},
                        {"term": {"soc.alert.entity_key": entity_key(entity)}},
                        {"range": {"soc.alert.start": {"lte": (last + rule.allowance).isoformat()}}},
                        {"range": {"soc.alert.end": {"gte": (first - rule.allowance).isoformat()}}},
                    ]
                }
            },
            "sort": [{"soc.alert.start": "asc"}, {"soc.alert.id": "asc"}],
        }
        hits = self._gw.search(self.index, body, action="find alert episode")["hits"]["hits"]
        ids = [h["_id"] for h in hits]
        ids += sorted(self._unrefreshed.get(key, set()) - set(ids))
        if others:
            ids += [i for i in self._recent(key)[0] if i not in ids]
        lo, hi = first - rule.allowance, last + rule.allowance
        found = [v for v in self._read_versions(ids) if v[0].start <= hi and v[0].end >= lo]
        return sorted(found, key=lambda v: (v[0].start, v[0].id))[:20]

    def _read_versions(self, ids: list[str]) -> list[tuple[Alert, int, int]]:
        """The alerts of *ids* as stored now (realtime, one request), with ``_seq_no``/``_primary_term``."""
        docs = self._gw.mget_docs(self.index, ids)
        return [(Alert.from_doc(d["_source"]), int(d["_seq_no"]), int(d["_primary_term"])) for d in docs]

    # -- what was written a moment ago, by anyone -----------------------------
    @staticmethod
    def _recent_id(key: tuple[str, str]) -> str:
        return "recent-" + hashlib.sha256("\x1f".join(key).encode()).hexdigest()[:40]

    def _recent(self, key: tuple[str, str]) -> tuple[list[str], tuple[int, int] | None, list[dict[str, Any]]]:
        """Ids of the entity's alerts written in the last ``RECENT_S`` seconds, the
        document's version and its entries."""
        found = self._gw.get(locks_index(self._gw), self._recent_id(key))
        if found is None:
            self._recent_seen[key] = (None, [])
            return [], None, []
        since = time.time() - RECENT_S
        entries = [e for e in found["_source"].get("alerts", []) if float(e.get("at", 0)) >= since]
        version = (int(found["_seq_no"]), int(found["_primary_term"]))
        self._recent_seen[key] = (version, entries)
        return [str(e["id"]) for e in entries], version, entries

    def _wrote(self, rule: AlertRule, alert: Alert) -> None:
        """Note a write: in this store until the next flush, and for other writers in the
        entity's recent-writes document (versioned; a concurrent note is re-read)."""
        key = (rule.detector, entity_key(alert.entity))
        self._unrefreshed.setdefault(key, set()).add(alert.id)

        def note(n: int) -> None:
            # the version this store last read or wrote, if any (a stale one conflicts: read again)
            known = self._recent_seen.get(key) if n == 0 else None
            version, entries = known if known is not None else self._recent(key)[1:]
            since = time.time() - RECENT_S
            kept = [e for e in entries if e.get("id") != alert.id and float(e.get("at", 0)) >= since]
            noted: list[dict[str, Any]] = [*kept[-(RECENT_MAX - 1) :], {"id": alert.id, "at": time.time()}]
            doc = {"key": "\x1f".join(key)[:256], "alerts": noted}
            written = self._gw.put_versioned(locks_index(self._gw), self._recent_id(key), doc, version)
            self._recent_seen[key] = (written, noted)

        retry_conflicts(note, what=f"note alert {alert.id}")

    def _create(self, rule: AlertRule, match: Match, start: datetime, *, evidence: Evidence, now: datetime) -> Recorded:
        fig = evidence.figures(match.entity, start, match.last_seen)
        alert = new_alert(rule, match, start, fig, now)
        if self._gw.create(self.index, alert.id, self._doc(alert)):
            self._wrote(rule, alert)
            return Recorded(alert, "created", fig.took_ms)
        # the id exists: written by a writer without the lock, or the episode was
        # re-opened: take the stored one in (a realtime get, no refresh needed)
        found = self._gw.get(self.index, alert.id)
        if found is None:
            raise VersionConflict(f"alert {alert.id} vanished while being created")
        stored = (Alert.from_doc(found["_source"]), int(found["_seq_no"]), int(found["_primary_term"]))
        return self._extend(rule, stored[0], match, [stored], evidence=evidence, now=now)

    def _extend(
        self,
        rule: AlertRule,
        alert: Alert,
        match: Match,
        versions: list[tuple[Alert, int, int]],
        *,
        evidence: Evidence,
        now: datetime,
    ) -> Recorded:
        span = span_after(alert, match)
        if span is None:
            return Recorded(alert, "unchanged")
        _a, seq_no, term = next(v for v in versions if v[0].id == alert.id)
        fig = evidence.figures(alert.entity, *span)
        updated = extended(rule, alert, match, fig, now)
        # a concurrent writer changed it first: VersionConflict, and record() tries again
        self._gw.put(self.index, alert.id, self._doc(updated), if_seq_no=seq_no, if_primary_term=term)
        self._wrote(rule, updated)
        return Recorded(updated, "extended", fig.took_ms)

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
