"""Writing alerts so that re-runs and restarts never duplicate them.

The rule (also in the README):

* An alert is one *episode* of one entity (the detector's group-by values) for one
  detector. Its id is ``sha256(detector, entity, episode start)`` — deterministic.
* A match joins the entity's latest alert when it begins no later than that alert's
  last event plus the detector's window (the activity is still going on, seen again by
  an overlapping or the next window). The alert is then *extended*: start/end widen and
  its figures are recomputed by Elasticsearch over the whole span.
* Otherwise a new alert is created with ``op_type=create``, so two writers (or a
  re-run) racing on the same episode still produce one document.
* A match already inside an alert's span changes nothing: re-running any window is a no-op.
* ``suppress_for`` widens the join: an entity's new episode within that time of its alert's
  last event is folded into the alert and counted in ``suppressed`` — never dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from soc.alerts.models import Alert, AlertStatus, CloseReason, alert_id, entity_key
from soc.detection.kinds import Match
from soc.detection.models import Detector
from soc.detection.queries import episode_query
from soc.errors import ElasticsearchRequestError, NotFound, SocError
from soc.es.client import EsGateway
from soc.es.indices import alerts_index, ensure_ready
from soc.vocab import parse_time

__all__ = ["AlertStore", "Recorded", "TriageError"]


class TriageError(SocError):
    """An alert status change that the triage workflow does not allow."""


_NEXT: dict[AlertStatus, set[AlertStatus]] = {
    AlertStatus.open: {AlertStatus.acknowledged, AlertStatus.closed},
    AlertStatus.acknowledged: {AlertStatus.closed},
    AlertStatus.closed: set(),
}


@dataclass
class Recorded:
    alert: Alert
    outcome: Literal["created", "extended", "unchanged"]
    took_ms: int = 0


@dataclass
class _Figures:
    count: int
    distinct: int | None
    first: datetime
    last: datetime
    segments: list[str]
    samples: list[str] = field(default_factory=list)
    took_ms: int = 0


class AlertStore:
    def __init__(self, gw: EsGateway, *, tz: ZoneInfo | None = None, kibana_url: str | None = None) -> None:
        self._gw = gw
        self._tz = tz or ZoneInfo("UTC")
        self._kibana_url = kibana_url  # alert documents then link to their events in Discover

    def _doc(self, alert: Alert) -> dict[str, Any]:
        return alert.to_doc(kibana_url=self._kibana_url, prefix=self._gw.prefix)

    @property
    def index(self) -> str:
        return alerts_index(self._gw)

    # -- recording matches ---------------------------------------------------
    def record(self, detector: Detector, match: Match, *, indices: list[str], now: datetime) -> Recorded:
        ensure_ready(self._gw)
        for _attempt in range(5):
            current = self._latest(detector.id, match.entity)
            if current is not None:
                alert, seq_no, term = current
                joined = match.first_seen <= alert.end + detector.schedule.window
                suppressed = not joined and match.first_seen <= alert.end + (detector.suppress_for or timedelta(0))
                if joined or suppressed:
                    return self._extend(
                        detector, alert, match, seq_no, term, indices=indices, now=now, suppressed=suppressed
                    )
            created = self._create(detector, match, indices=indices, now=now)
            if created is not None:
                return created
            # someone else created this episode meanwhile: read it and extend it
            self._gw.refresh(self.index)
        raise ElasticsearchRequestError(f"could not record alert for {detector.id} {entity_key(match.entity)}")

    def _latest(self, detector_id: str, entity: dict[str, str]) -> tuple[Alert, int, int] | None:
        body = {
            "size": 1,
            "seq_no_primary_term": True,
            "query": {
                "bool": {
                    "filter": [
                        {"term": {"soc.alert.detector": detector_id}},
                        {"term": {"soc.alert.entity_key": entity_key(entity)}},
                    ]
                }
            },
            "sort": [{"soc.alert.end": "desc"}],
        }
        hits = self._gw.search(self.index, body, action="find alert episode")["hits"]["hits"]
        if not hits:
            return None
        hit = hits[0]
        return Alert.from_doc(hit["_source"]), int(hit["_seq_no"]), int(hit["_primary_term"])

    def _figures(
        self, detector: Detector, entity: dict[str, str], start: datetime, end: datetime, indices: list[str]
    ) -> _Figures:
        res = self._gw.search(indices, episode_query(detector, entity, start, end, tz=self._tz), action="alert figures")
        aggs = res.get("aggregations") or {}
        segments: list[str] = []
        for name in ("segments", "source_segments", "destination_segments"):
            for b in (aggs.get(name) or {}).get("buckets", []):
                if b["key"] not in segments:
                    segments.append(str(b["key"]))
        samples = []
        for hit in res["hits"]["hits"]:
            eid = (hit.get("_source") or {}).get("event", {}).get("id")
            samples.append(str(eid or hit["_id"]))
        first = aggs.get("first_seen", {}).get("value_as_string")
        last = aggs.get("last_seen", {}).get("value_as_string")
        return _Figures(
            count=int(res["hits"]["total"]["value"]),
            distinct=int(aggs["distinct"]["value"]) if "distinct" in aggs else None,
            first=parse_time(first) if first else start,
            last=parse_time(last) if last else end,
            segments=segments,
            samples=samples,
            took_ms=int(res.get("took", 0)),
        )

    def _reason(
        self, detector: Detector, entity: dict[str, str], count: int, distinct: int | None, match: Match
    ) -> str:
        if match.reason:
            return match.reason
        who = ", ".join(f"{k}={v}" for k, v in sorted(entity.items()))
        text = f"{detector.title.en}: {count} matching events for {who}"
        field_ = detector.distinct_field()
        if distinct is not None and field_ is not None:
            text += f", {distinct} distinct {field_}"
        return text

    def _create(self, detector: Detector, match: Match, *, indices: list[str], now: datetime) -> Recorded | None:
        fig = self._figures(detector, match.entity, match.first_seen, match.last_seen, indices)
        alert = Alert(
            id=alert_id(detector.id, match.entity, match.first_seen),
            detector=detector.id,
            title=detector.title.en,
            severity=detector.severity,
            risk_score=detector.risk_score,
            entity=match.entity,
            count=max(fig.count, match.count),
            distinct_count=fig.distinct if fig.distinct is not None else match.distinct_count,
            distinct_field=detector.distinct_field(),
            start=match.first_seen,
            end=match.last_seen,
            mitre=list(detector.mitre),
            kind=detector.kind,
            figures=dict(match.figures),
            reason=self._reason(detector, match.entity, max(fig.count, match.count), fig.distinct, match),
            segments=fig.segments,
            sample_event_ids=fig.samples,
            created=now,
            updated=now,
        )
        if not self._gw.create(self.index, alert.id, self._doc(alert), refresh=True):
            return None
        return Recorded(alert, "created", fig.took_ms)

    def _extend(
        self,
        detector: Detector,
        alert: Alert,
        match: Match,
        seq_no: int,
        term: int,
        *,
        indices: list[str],
        now: datetime,
        suppressed: bool = False,
    ) -> Recorded:
        start = min(alert.start, match.first_seen)
        end = max(alert.end, match.last_seen)
        if start == alert.start and end == alert.end:
            return Recorded(alert, "unchanged")
        fig = self._figures(detector, alert.entity, start, end, indices)
        merged = sorted(set(alert.segments) | set(fig.segments))
        updated = alert.model_copy(
            update={
                "start": start,
                "end": end,
                "count": max(fig.count, match.count),
                "distinct_count": fig.distinct,
                "segments": merged,
                "windows": alert.windows + 1,
                "suppressed": alert.suppressed + (1 if suppressed else 0),
                "figures": {**alert.figures, **match.figures},
                "reason": self._reason(detector, alert.entity, max(fig.count, match.count), fig.distinct, match),
                "updated": now,
            }
        )
        try:
            self._gw.put(self.index, alert.id, self._doc(updated), if_seq_no=seq_no, if_primary_term=term, refresh=True)
        except ElasticsearchRequestError as exc:
            if "version_conflict" not in str(exc):
                raise
            # a concurrent writer extended it first; re-read and try again
            return self.record(detector, match, indices=indices, now=now)
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
        """``open`` → ``acknowledged`` → ``closed`` (with a reason), recording who and when.

        Closing an open alert directly is allowed (a duplicate needs no acknowledgement);
        anything else out of order is refused with the allowed next states.
        """

        def change(alert: Alert) -> Alert:
            allowed = _NEXT[alert.status]
            if status not in allowed:
                raise TriageError(
                    f"alert {alert.id} is {alert.status.value}; it cannot become {status.value}",
                    hint=f"allowed next: {', '.join(s.value for s in allowed) or 'none (closed alerts stay closed)'}",
                )
            update: dict[str, Any] = {"status": status, "updated": now}
            if note:
                update["triage_note"] = note
            if status is AlertStatus.acknowledged:
                update |= {"acknowledged_by": by, "acknowledged_at": now}
            else:
                if reason is None:
                    raise TriageError(
                        "closing an alert needs a reason",
                        field="--reason",
                        hint=f"one of: {', '.join(r.value for r in CloseReason)}",
                    )
                update |= {"closed_by": by, "closed_at": now, "close_reason": reason}
            return alert.model_copy(update=update)

        return self._update(alert_id_, change)

    def set_incident(self, alert_id_: str, incident_id: str, *, now: datetime) -> None:
        def change(alert: Alert) -> Alert | None:
            if alert.incident_id == incident_id:
                return None
            return alert.model_copy(update={"incident_id": incident_id, "updated": now})

        self._update(alert_id_, change)

    def _update(self, alert_id_: str, change: Callable[[Alert], Alert | None]) -> Alert:
        """Read, change and write back one alert only if nobody changed it meanwhile
        (re-read and re-apply on a conflict); *change* returning None writes nothing."""
        for _attempt in range(5):
            found = self._gw.get(self.index, alert_id_)
            if found is None:
                raise NotFound(f"no alert {alert_id_!r}", hint="list alerts with 'soc alerts list'")
            alert = Alert.from_doc(found["_source"])
            updated = change(alert)
            if updated is None:
                return alert
            try:
                self._gw.put(
                    self.index,
                    alert.id,
                    self._doc(updated),
                    if_seq_no=int(found["_seq_no"]),
                    if_primary_term=int(found["_primary_term"]),
                    refresh=True,
                )
            except ElasticsearchRequestError as exc:
                if "version_conflict" not in str(exc):
                    raise
                continue
            return updated
        raise ElasticsearchRequestError(f"alert {alert_id_} kept changing while being updated; try again")
