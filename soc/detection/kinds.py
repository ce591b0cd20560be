"""One small class per detector kind, chosen from ``kind:`` through one explicit table."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from soc.detection.models import Detector, ThresholdDetector
from soc.detection.queries import GROUP_PREFIX, threshold_page
from soc.detection.windows import Window
from soc.es.client import EsGateway
from soc.vocab import parse_time

__all__ = ["KINDS", "DetectorKind", "Evaluation", "Match", "ThresholdKind", "kind_for"]


@dataclass(frozen=True, slots=True)
class Match:
    """One group that met the condition in one window."""

    entity: dict[str, str]
    count: int
    first_seen: datetime
    last_seen: datetime
    distinct_count: int | None = None


@dataclass
class Evaluation:
    matches: list[Match] = field(default_factory=list)
    took_ms: int = 0
    pages: int = 0
    groups: int = 0
    queries: list[dict[str, Any]] = field(default_factory=list)


class DetectorKind(Protocol):
    def evaluate(
        self, gw: EsGateway, detector: Any, windows: list[Window], *, indices: list[str], keep_queries: bool = False
    ) -> list[Evaluation]: ...


# windows whose first page goes to Elasticsearch in one _msearch request
BATCH = 24


class ThresholdKind:
    """Count and/or distinct count per group, paged through a composite aggregation.

    The first page of up to ``BATCH`` windows is fetched in one ``_msearch``; a window
    with more groups than one page holds follows its ``after_key`` on its own.
    """

    def evaluate(
        self,
        gw: EsGateway,
        detector: ThresholdDetector,
        windows: list[Window],
        *,
        indices: list[str],
        keep_queries: bool = False,
    ) -> list[Evaluation]:
        results: list[Evaluation] = []
        for start in range(0, len(windows), BATCH):
            batch = windows[start : start + BATCH]
            bodies = [threshold_page(detector, w) for w in batch]
            answers = gw.msearch(indices, bodies, action=f"detector {detector.id}")
            for window, body, answer in zip(batch, bodies, answers, strict=True):
                results.append(self._window(gw, detector, window, body, answer, indices, keep_queries))
        return results

    def _window(
        self,
        gw: EsGateway,
        detector: ThresholdDetector,
        window: Window,
        body: dict[str, Any],
        res: dict[str, Any],
        indices: list[str],
        keep_queries: bool,
    ) -> Evaluation:
        result = Evaluation()
        cond = detector.condition
        while True:
            if keep_queries:
                result.queries.append(body)
            result.took_ms += int(res.get("took", 0))
            result.pages += 1
            agg = (res.get("aggregations") or {}).get("groups") or {}
            buckets = agg.get("buckets") or []
            for bucket in buckets:
                result.groups += 1
                count = int(bucket["doc_count"])
                distinct = int(bucket["distinct"]["value"]) if "distinct" in bucket else None
                if cond.count is not None and count < cond.count.gte:
                    continue
                if cond.distinct is not None and (distinct is None or distinct < cond.distinct.gte):
                    continue
                entity = {field: str(bucket["key"][f"{GROUP_PREFIX}{i}"]) for i, field in enumerate(detector.group_by)}
                result.matches.append(
                    Match(
                        entity=entity,
                        count=count,
                        distinct_count=distinct,
                        first_seen=parse_time(bucket["first_seen"]["value_as_string"]),
                        last_seen=parse_time(bucket["last_seen"]["value_as_string"]),
                    )
                )
            after = agg.get("after_key")
            if not buckets or after is None:
                return result
            body = threshold_page(detector, window, after=after)
            res = gw.search(indices, body, action=f"detector {detector.id} window {window}")


KINDS: dict[str, DetectorKind] = {"threshold": ThresholdKind()}


def kind_for(detector: Detector) -> DetectorKind:
    return KINDS[detector.kind]
