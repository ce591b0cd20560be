"""``beacon``: periodic connections from one source to one destination.

Step one (composite aggregation) finds the pairs with enough connections in the window;
step two asks, per candidate pair, for the occupied time slots (a ``date_histogram``
with ``min_doc_count: 1``), from which the intervals are measured. Slots closer than
``min_interval`` are one check-in (retries, bursts). A pair beacons when its intervals
vary little: their coefficient of variation (std-dev / mean) is at most ``max_cv``, so
jitter added by malware to look random is tolerated. At most ``max_candidates`` pairs
are examined per window — the busiest first — and the rest is reported as truncated.
"""

from __future__ import annotations

import itertools
import statistics
from datetime import UTC, datetime
from typing import Any

from soc.detection.kinds.base import Evaluation, KindEnv, Match, chunks, walk_pages
from soc.detection.models import BeaconDetector
from soc.detection.queries import beacon_histograms, beacon_page, group_key
from soc.detection.windows import Window

__all__ = ["BeaconKind", "interval_stats"]


def interval_stats(slot_ms: list[int], min_interval_s: float) -> tuple[int, float, float] | None:
    """(check-ins, mean interval in s, coefficient of variation) of occupied slots, or None."""
    checkins: list[int] = []
    for t in sorted(slot_ms):
        if not checkins or (t - checkins[-1]) / 1000 >= min_interval_s:
            checkins.append(t)
    if len(checkins) < 3:
        return None
    gaps = [(b - a) / 1000 for a, b in itertools.pairwise(checkins)]
    mean = statistics.fmean(gaps)
    if mean <= 0:
        return None
    return len(checkins), mean, statistics.pstdev(gaps) / mean


class BeaconKind:
    def evaluate(self, env: KindEnv, detector: BeaconDetector, windows: list[Window]) -> list[Evaluation]:
        candidates: dict[Window, list[tuple[int, dict[str, str]]]] = {w: [] for w in windows}

        def on_bucket(window: Window, bucket: dict[str, Any], ev: Evaluation) -> None:
            count = int(bucket["doc_count"])
            if count >= detector.min_connections:
                candidates[window].append((count, group_key(detector.group_by, bucket["key"])))

        results = walk_pages(
            env,
            windows,
            lambda w, after: beacon_page(detector, w, after=after, tz=env.tz),
            on_bucket,
            action=f"detector {detector.id}",
        )
        min_gap = detector.min_interval.total_seconds()
        for window, ev in zip(windows, results, strict=True):
            pairs = sorted(candidates[window], key=lambda c: -c[0])
            ev.truncated += max(0, len(pairs) - detector.max_candidates)
            for batch in chunks(pairs[: detector.max_candidates], 50):
                bodies = [beacon_histograms(detector, window, entity, tz=env.tz) for _, entity in batch]
                answers = env.gw.msearch(env.indices, bodies, action=f"detector {detector.id} intervals")
                for (count, entity), body, res in zip(batch, bodies, answers, strict=True):
                    ev.add_answer(body, res, env.keep_queries)
                    slots = [int(b["key"]) for b in res["aggregations"]["slots"]["buckets"]]
                    stats = interval_stats(slots, min_gap)
                    if stats is None:
                        continue
                    checkins, mean, cv = stats
                    if checkins < detector.min_connections or cv > detector.max_cv:
                        continue
                    who = " -> ".join(entity[k] for k in detector.group_by)
                    ev.matches.append(
                        Match(
                            entity=entity,
                            count=count,
                            first_seen=datetime.fromtimestamp(min(slots) / 1000, UTC),
                            last_seen=datetime.fromtimestamp(max(slots) / 1000, UTC),
                            figures={"checkins": checkins, "mean_interval_s": round(mean, 1), "cv": round(cv, 3)},
                            reason=f"{detector.title.en}: {who} every {mean:.0f}s (cv {cv:.2f}) over "
                            f"{checkins} check-ins",
                        )
                    )
        return results
