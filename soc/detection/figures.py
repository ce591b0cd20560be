"""The detection side of recording an alert: what the alert takes from its detector
(``rule_for``) and the figures Elasticsearch computes for an episode (``DetectorEvidence``,
the ``soc.alerts.store.Evidence`` of one detector). Queries come from ``queries.py``."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from soc.alerts.episodes import Run
from soc.alerts.models import AlertRule, EpisodeFigures
from soc.detection.models import Detector
from soc.detection.queries import episode_query, episode_runs_query
from soc.es.client import EsGateway
from soc.vocab import parse_time

__all__ = ["RUN_KINDS", "DetectorEvidence", "rule_for"]

# kinds whose episode is a run of the entity's matching events (failures, flows to one
# peer, a new term): the canonical start is the run's first event. Other kinds match a
# statistic of a window (a rate, a volume, an absence) or a pair of events in the middle of
# the entity's ordinary activity (a sequence, an impossible journey): walking back over the
# entity's events would reach the start of all its traffic, so their episode starts at the
# match (the lock in the store still keeps concurrent writers to one alert).
RUN_KINDS = frozenset({"threshold", "segment_policy", "beacon", "new_term"})


def rule_for(detector: Detector) -> AlertRule:
    return AlertRule(
        detector=detector.id,
        title=detector.title.en,
        severity=detector.severity,
        risk_score=detector.risk_score,
        kind=detector.kind,
        mitre=tuple(detector.mitre),
        distinct_field=detector.distinct_field(),
        join_gap=detector.schedule.window,
        suppress_for=detector.suppress_for,
    )


class DetectorEvidence:
    """Elasticsearch figures of *detector*'s events over *indices*."""

    def __init__(self, gw: EsGateway, detector: Detector, indices: list[str], *, tz: ZoneInfo) -> None:
        self._gw = gw
        self._detector = detector
        self._indices = indices
        self._tz = tz

    def figures(self, entity: dict[str, str], start: datetime, end: datetime) -> EpisodeFigures:
        body = episode_query(self._detector, entity, start, end, tz=self._tz)
        res = self._gw.search(self._indices, body, action="alert figures")
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
        return EpisodeFigures(
            count=int(res["hits"]["total"]["value"]),
            distinct=int(aggs["distinct"]["value"]) if "distinct" in aggs else None,
            first=parse_time(first) if first else start,
            last=parse_time(last) if last else end,
            segments=segments,
            samples=samples,
            took_ms=int(res.get("took", 0)),
        )

    def runs(self, entity: dict[str, str], start: datetime, end: datetime, bucket: timedelta) -> list[Run] | None:
        if self._detector.kind not in RUN_KINDS:
            return None
        body = episode_runs_query(self._detector, entity, start, end, bucket, tz=self._tz)
        res = self._gw.search(self._indices, body, action="alert episode start")
        buckets = ((res.get("aggregations") or {}).get("runs") or {}).get("buckets", [])
        return [
            Run(parse_time(b["first_seen"]["value_as_string"]), parse_time(b["last_seen"]["value_as_string"]))
            for b in buckets
            if b.get("first_seen", {}).get("value_as_string")
        ]
