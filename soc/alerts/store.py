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

What the store knows of Elasticsearch figures comes through ``Evidence``, which the
detection side implements (``soc.detection.figures``): this package does not import
``soc.detection``.
"""

from __future__ import annotations

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
from soc.es.locks import hold
from soc.es.versioned import read_modify_write, retry_conflicts

__all__ = ["AlertStore", "Evidence", "Recorded", "TriageError"]

_MISSING = "list alerts with 'soc alerts list'"


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

        def attempt(_n: int) -> Recorded:
            found = self._overlapping(rule, match.entity, match.first_seen, match.last_seen)
            target = choose(rule, (a for a, _s, _t in found), match.first_seen, match.last_seen)
            if target is not None:
                return self._extend(rule, target, match, found, evidence=evidence, now=now)
            start = self.episode_start(rule, match, evidence)
            with hold(self._gw, [f"alert:{rule.detector}:{entity_key(match.entity)}"]):
                found = self._overlapping(rule, match.entity, start, match.last_seen)
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

    def _overlapping(
        self, rule: AlertRule, entity: dict[str, str], first: datetime, last: datetime
    ) -> list[tuple[Alert, int, int]]:
        """The entity's alerts whose widened span reaches ``[first, last]``, with versions."""
        body = {
            "size": 20,
            "seq_no_primary_term": True,
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
        return [(Alert.from_doc(h["_source"]), int(h["_seq_no"]), int(h["_primary_term"])) for h in hits]

    def _create(self, rule: AlertRule, match: Match, start: datetime, *, evidence: Evidence, now: datetime) -> Recorded:
        fig = evidence.figures(match.entity, start, match.last_seen)
        alert = new_alert(rule, match, start, fig, now)
        if self._gw.create(self.index, alert.id, self._doc(alert), refresh=True):
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
        self._gw.put(self.index, alert.id, self._doc(updated), if_seq_no=seq_no, if_primary_term=term, refresh=True)
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
