"""``sequence``: at least N events of ``first``, then one of ``then``, for the same key
within the window (failures then a success: a brute force that worked).

Two steps, both in Elasticsearch. Per key the composite aggregation gives how many
``first`` events there were and when the last ``then`` happened; for keys that could
qualify, a count of ``first`` events *before* that last ``then`` confirms the order.
As the count before a ``then`` only grows with time, checking the last one is exact.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from soc.detection.kinds.base import Evaluation, KindEnv, Match, bucket_time, chunks, walk_pages
from soc.detection.models import SequenceDetector
from soc.detection.queries import count_query, group_key, sequence_page
from soc.detection.windows import Window
from soc.vocab import iso

__all__ = ["SequenceKind"]


class SequenceKind:
    def evaluate(self, env: KindEnv, detector: SequenceDetector, windows: list[Window]) -> list[Evaluation]:
        need = detector.first.min_count
        spread = detector.first.distinct
        candidates: dict[Window, list[tuple[dict[str, str], datetime, datetime]]] = {w: [] for w in windows}

        def on_bucket(window: Window, bucket: dict[str, Any], ev: Evaluation) -> None:
            firsts = int(bucket["first"]["doc_count"])
            thens = int(bucket["then"]["doc_count"])
            if firsts < need or thens < 1:
                return
            if spread is not None and int(bucket["first"]["distinct"]["value"]) < spread.gte:
                return
            first_at = bucket_time(bucket["first"], "at")
            then_at = bucket_time(bucket["then"], "at")
            if first_at is None or then_at is None or then_at <= first_at:
                return
            candidates[window].append((group_key(detector.group_by, bucket["key"]), first_at, then_at))

        results = walk_pages(
            env,
            windows,
            lambda w, after: sequence_page(detector, w, after=after, tz=env.tz),
            on_bucket,
            action=f"detector {detector.id}",
        )
        for window, ev in zip(windows, results, strict=True):
            for batch in chunks(candidates[window]):
                bodies = [
                    count_query(
                        detector,
                        detector.first.filter,
                        entity,
                        window.start,
                        then_at,
                        tz=env.tz,
                        distinct=spread.field if spread else None,
                    )
                    for entity, _, then_at in batch
                ]
                answers = env.gw.msearch(env.indices, bodies, action=f"detector {detector.id} confirm order")
                for (entity, first_at, then_at), body, res in zip(batch, bodies, answers, strict=True):
                    ev.add_answer(body, res, env.keep_queries)
                    before = int(res["hits"]["total"]["value"])
                    if before < need:
                        continue
                    figures: dict[str, Any] = {"before": before, "then_at": iso(then_at)}
                    what = f"{before} matching events"
                    if spread is not None:
                        distinct = int(res["aggregations"]["distinct"]["value"])
                        if distinct < spread.gte:
                            continue
                        figures["distinct_before"] = distinct
                        what = f"{before} matching events over {distinct} distinct {spread.field}"
                    who = ", ".join(f"{k}={v}" for k, v in sorted(entity.items()))
                    ev.matches.append(
                        Match(
                            entity=entity,
                            count=before + 1,
                            distinct_count=figures.get("distinct_before"),
                            first_seen=first_at,
                            last_seen=then_at,
                            figures=figures,
                            reason=f"{detector.title.en}: {what} then success at {iso(then_at)} for {who}",
                        )
                    )
        return results
