"""``beacon``: periodic connections from one source to one destination.

Step one (composite aggregation) finds the pairs with enough connections in the window;
step two asks, per candidate pair, for the occupied time slots (a ``date_histogram``
with ``min_doc_count: 1``), from which the intervals are measured. Slots closer than
``min_interval`` are one check-in (retries, bursts). A pair beacons when its intervals
vary little: their coefficient of variation (std-dev / mean) is at most ``max_cv``, or,
with ``periodicity: mad``, their median absolute deviation over the median is at most
``max_mad`` — robust to the few long gaps of a laptop asleep or a proxy outage, which
inflate a standard deviation. Jitter added by malware to look random is tolerated.

With ``prevalence``, a destination that ``max_sources`` or more hosts contact often
enough to be candidates is a service (chat or push keep-alives, update servers) and is
not examined. At most ``max_candidates`` pairs are examined per window — the busiest
first — and the rest is reported as truncated.
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


def _gaps(slot_ms: list[int], min_interval_s: float) -> list[float]:
    """Seconds between check-ins; slots closer than *min_interval_s* are one check-in."""
    checkins: list[int] = []
    for t in sorted(slot_ms):
        if not checkins or (t - checkins[-1]) / 1000 >= min_interval_s:
            checkins.append(t)
    return [(b - a) / 1000 for a, b in itertools.pairwise(checkins)]


def interval_stats(
    slot_ms: list[int], min_interval_s: float, *, robust: bool = False
) -> tuple[int, float, float] | None:
    """(check-ins, typical interval in s, spread) of occupied slots, or None: the mean and
    the coefficient of variation, or with *robust* the median and the median absolute
    deviation over the median."""
    gaps = _gaps(slot_ms, min_interval_s)
    if len(gaps) < 2:
        return None
    typical = statistics.median(gaps) if robust else statistics.fmean(gaps)
    if typical <= 0:
        return None
    if robust:
        return len(gaps) + 1, typical, statistics.median(abs(g - typical) for g in gaps) / typical
    return len(gaps) + 1, typical, statistics.pstdev(gaps) / typical


def _prevalent(detector: BeaconDetector, pairs: list[tuple[int, dict[str, str]]]) -> set[tuple[str, ...]]:
    """Destinations (the group_by values other than the source) with many candidate sources."""
    if detector.prevalence is None:
        return set()
    source = detector.prevalence.source
    sources: dict[tuple[str, ...], set[str]] = {}
    for _, entity in pairs:
        sources.setdefault(_destination(detector, entity), set()).add(entity[source])
    return {d for d, s in sources.items() if len(s) >= detector.prevalence.max_sources}


def _destination(detector: BeaconDetector, entity: dict[str, str]) -> tuple[str, ...]:
    source = detector.prevalence.source if detector.prevalence else ""
    return tuple(entity[f] for f in detector.group_by if f != source)


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
        robust = detector.periodicity == "mad"
        limit = detector.max_mad if robust else detector.max_cv
        for window, ev in zip(windows, results, strict=True):
            services = _prevalent(detector, candidates[window])
            pairs = sorted(
                (c for c in candidates[window] if _destination(detector, c[1]) not in services), key=lambda c: -c[0]
            )
            ev.truncated += max(0, len(pairs) - detector.max_candidates)
            for batch in chunks(pairs[: detector.max_candidates], 50):
                bodies = [beacon_histograms(detector, window, entity, tz=env.tz) for _, entity in batch]
                answers = env.gw.msearch(env.indices, bodies, action=f"detector {detector.id} intervals")
                for (count, entity), body, res in zip(batch, bodies, answers, strict=True):
                    ev.add_answer(body, res, env.keep_queries)
                    slots = [int(b["key"]) for b in res["aggregations"]["slots"]["buckets"]]
                    stats = interval_stats(slots, min_gap, robust=robust)
                    if stats is None:
                        continue
                    checkins, typical, spread = stats
                    if checkins < detector.min_connections or spread > limit:
                        continue
                    who = " -> ".join(entity[k] for k in detector.group_by)
                    figures: dict[str, Any] = {"checkins": checkins}
                    if robust:
                        figures |= {"median_interval_s": round(typical, 1), "mad_ratio": round(spread, 3)}
                        how = f"median {typical:.0f}s (MAD/median {spread:.2f})"
                    else:
                        figures |= {"mean_interval_s": round(typical, 1), "cv": round(spread, 3)}
                        how = f"{typical:.0f}s (cv {spread:.2f})"
                    ev.matches.append(
                        Match(
                            entity=entity,
                            count=count,
                            first_seen=datetime.fromtimestamp(min(slots) / 1000, UTC),
                            last_seen=datetime.fromtimestamp(max(slots) / 1000, UTC),
                            figures=figures,
                            reason=f"{detector.title.en}: {who} every {how} over {checkins} check-ins",
                        )
                    )
        return results
