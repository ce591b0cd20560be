"""``new_term``: a value (or combination) never seen for a key within the history.

Sightings come from composite aggregations; the baseline of what was seen is persisted
(``soc.detection.baseline``), seeded once over the history before the first window and
extended by every window, so restarts never rebuild it. A pair is new in a window if
the baseline has never seen it, saw it last longer ago than the history, or first saw
it less than a window ago (the same first appearance, seen by an overlapping window —
the alert is then extended, not duplicated).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from soc.detection.baseline import BaselineStore, Sighting
from soc.detection.kinds.base import Evaluation, KindEnv, Match, bucket_time, walk_pages
from soc.detection.models import NewTermDetector
from soc.detection.queries import group_key, new_term_page
from soc.detection.windows import Window
from soc.vocab import parse_time

__all__ = ["NewTermKind"]

Pair = tuple[dict[str, str], Sighting, int]


class NewTermKind:
    def evaluate(self, env: KindEnv, detector: NewTermDetector, windows: list[Window]) -> list[Evaluation]:
        if not windows:
            return []
        store = BaselineStore(env.gw, detector.id, write=env.write)
        earliest, seed_took, covered_from, covered_until = self._seed(env, store, detector, windows[0].start)
        fields = detector.group_fields()
        pairs: dict[Window, list[Pair]] = {w: [] for w in windows}

        def on_bucket(window: Window, bucket: dict[str, Any], ev: Evaluation) -> None:
            first, last = bucket_time(bucket, "first_seen"), bucket_time(bucket, "last_seen")
            if first is not None and last is not None:
                pairs[window].append(
                    (group_key(fields, bucket["key"]), Sighting(first, last), int(bucket["doc_count"]))
                )

        results = walk_pages(
            env,
            windows,
            lambda w, after: new_term_page(detector, w.start, w.end, after=after, tz=env.tz),
            on_bucket,
            action=f"detector {detector.id}",
        )
        if results:
            results[0].took_ms += seed_took
        known: dict[str, Sighting] = {}
        for window, ev in zip(windows, results, strict=True):
            found = pairs[window]
            missing = [p for p, _, _ in found if store.doc_id(p) not in known]
            known.update(store.lookup(missing))
            if found and earliest is None:
                earliest = min(s.first_seen for _, s, _ in found)
            learning = earliest is None or window.start - earliest < detector.learn_for
            for pair, seen, count in found:
                old = known.get(store.doc_id(pair))
                if learning or not self._is_new(detector, window, old):
                    continue
                first = min(seen.first_seen, old.first_seen) if old else seen.first_seen
                key = ", ".join(f"{k}={pair[k]}" for k in detector.group_by)
                term = ", ".join(f"{k}={pair[k]}" for k in detector.terms)
                ev.matches.append(
                    Match(
                        entity=pair,
                        count=count,
                        first_seen=first,
                        last_seen=seen.last_seen,
                        figures={"new_term": {k: pair[k] for k in detector.terms}},
                        reason=f"{detector.title.en}: {term} not seen for {key} in the previous "
                        f"{int(detector.history.total_seconds() // 86400)} day(s)",
                    )
                )
            store.remember([(p, s) for p, s, _ in found], known)
        # once per call: a crash before this only means the next call re-learns windows
        # whose sightings are already stored (idempotent), never that one is skipped
        store.save_meta(
            covered_from=covered_from,
            covered_until=max(windows[-1].end, covered_until),
            earliest=earliest,
        )
        return results

    @staticmethod
    def _is_new(detector: NewTermDetector, window: Window, old: Sighting | None) -> bool:
        if old is None:
            return True
        if old.first_seen >= window.start - detector.schedule.window:
            return True
        return old.last_seen < window.start - detector.history

    def _seed(
        self, env: KindEnv, store: BaselineStore, detector: NewTermDetector, first_start: datetime
    ) -> tuple[datetime | None, int, datetime, datetime]:
        """Learn the history before *first_start* that the baseline does not cover yet;
        returns the earliest data seen, Elasticsearch's took and the range now covered."""
        want_from = first_start - detector.history
        meta = store.meta()
        earliest = parse_time(meta["earliest"]) if meta and meta.get("earliest") else None
        if meta is None:
            gaps = [(want_from, first_start)]
            covered_from, covered_until = want_from, first_start
        else:
            covered_from, covered_until = parse_time(meta["covered_from"]), parse_time(meta["covered_until"])
            gaps = []
            if want_from < covered_from:
                gaps.append((want_from, min(covered_from, first_start)))
            if covered_until < first_start:
                gaps.append((max(covered_until, want_from), first_start))
        took = 0
        fields = detector.group_fields()
        for lo, hi in gaps:
            if hi - lo <= timedelta(0):
                continue
            after: dict[str, Any] | None = None
            while True:
                res = env.gw.search(
                    env.indices, new_term_page(detector, lo, hi, after=after, tz=env.tz), action=f"learn {detector.id}"
                )
                took += int(res.get("took", 0))
                agg = (res.get("aggregations") or {}).get("groups") or {}
                buckets = agg.get("buckets") or []
                sightings: list[tuple[dict[str, str], Sighting]] = []
                for b in buckets:
                    first, last = bucket_time(b, "first_seen"), bucket_time(b, "last_seen")
                    if first is None or last is None:
                        continue
                    sightings.append((group_key(fields, b["key"]), Sighting(first, last)))
                    earliest = first if earliest is None else min(earliest, first)
                known = store.lookup([p for p, _ in sightings])
                store.remember(sightings, known)
                after = agg.get("after_key")
                if not buckets or after is None:
                    break
        covered_from, covered_until = min(covered_from, want_from), max(covered_until, first_start)
        store.save_meta(covered_from=covered_from, covered_until=covered_until, earliest=earliest)
        return earliest, took, covered_from, covered_until
