"""``spike`` (a window's count against the same key's average window over a baseline)
and ``volume`` (bytes per key above a threshold or far above its own baseline).

Two steps, both in Elasticsearch: a composite aggregation gives every key's figure in
the window; only keys above the floor (``min_count`` / ``min_sum``) are then compared
with their own history, in ``_msearch`` batches. The history of quiet keys is never read.

A key with no event in its history has no baseline: ``factor`` does not apply to it
(``factor`` × nothing would flag every first transfer); only ``sum_gte`` does. The
history ends one window before the judged window, so an episode that began just
before it is not its own baseline. An
organisation-wide spike names its top contributors (``contributors``) as its entity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from soc.detection.kinds.base import Evaluation, KindEnv, Match, bucket_time, chunks, walk_pages
from soc.detection.models import SpikeDetector, VolumeDetector
from soc.detection.queries import group_key, history_query, window_totals_page
from soc.detection.windows import Window

__all__ = ["SpikeKind", "VolumeKind"]


@dataclass(frozen=True)
class _Candidate:
    entity: dict[str, str]
    count: int
    total: float
    first: datetime
    last: datetime
    contributors: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class _History:
    events: int  # how many events the baseline holds (0: no history at all)
    figure: float  # their count (spike) or sum (volume)


def _candidates(
    env: KindEnv, detector: SpikeDetector | VolumeDetector, windows: list[Window], floor: float
) -> tuple[list[Evaluation], dict[Window, list[_Candidate]]]:
    found: dict[Window, list[_Candidate]] = {w: [] for w in windows}

    def take(window: Window, bucket: dict[str, Any], entity: dict[str, str]) -> None:
        count = int(bucket["doc_count"]) if "doc_count" in bucket else int(bucket["hits"]["total"]["value"])
        total = float(bucket["total"]["value"]) if "total" in bucket else float(count)
        first, last = bucket_time(bucket, "first_seen"), bucket_time(bucket, "last_seen")
        top = tuple((str(b["key"]), int(b["doc_count"])) for b in (bucket.get("contributors") or {}).get("buckets", []))
        if total >= floor and first is not None and last is not None:
            found[window].append(_Candidate(entity, count, total, first, last, top))

    if detector.group_by:
        results = walk_pages(
            env,
            windows,
            lambda w, after: window_totals_page(detector, w, after=after, tz=env.tz),
            lambda w, bucket, ev: take(w, bucket, group_key(detector.group_by, bucket["key"])),
            action=f"detector {detector.id}",
        )
        return results, found
    results = []  # organisation-wide: one group per window, no paging
    for batch in chunks(windows):
        bodies = [window_totals_page(detector, w, tz=env.tz) for w in batch]
        for w, body, res in zip(batch, bodies, env.gw.msearch(env.indices, bodies, action=detector.id), strict=True):
            ev = Evaluation(groups=1)
            ev.add_answer(body, res, env.keep_queries)
            take(w, {**(res.get("aggregations") or {}), "hits": res["hits"]}, {})
            results.append(ev)
    return results, found


def _with_history(
    env: KindEnv,
    detector: SpikeDetector | VolumeDetector,
    window: Window,
    candidates: list[_Candidate],
    ev: Evaluation,
    baseline: Any,
) -> list[tuple[_Candidate, _History]]:
    """Each candidate with its history (empty without a baseline).

    The baseline ends one window before the window it judges: the start of the episode
    being judged (the previous, overlapping window) must not become its own history."""
    if baseline is None:
        return [(c, _History(0, 0.0)) for c in candidates]
    end = window.start - detector.schedule.window
    out: list[tuple[_Candidate, _History]] = []
    for batch in chunks(candidates):
        bodies = [history_query(detector, c.entity, end - baseline, end, tz=env.tz) for c in batch]
        answers = env.gw.msearch(env.indices, bodies, action=f"detector {detector.id} baseline")
        for c, body, res in zip(batch, bodies, answers, strict=True):
            ev.add_answer(body, res, env.keep_queries)
            aggs = res.get("aggregations") or {}
            events = int(res["hits"]["total"]["value"])
            out.append((c, _History(events, float(aggs["total"]["value"]) if "total" in aggs else float(events))))
    return out


class SpikeKind:
    def evaluate(self, env: KindEnv, detector: SpikeDetector, windows: list[Window]) -> list[Evaluation]:
        cond = detector.condition
        per = detector.baseline / detector.schedule.window
        results, found = _candidates(env, detector, windows, cond.min_count)
        for window, ev in zip(windows, results, strict=True):
            for c, history in _with_history(env, detector, window, found[window], ev, detector.baseline):
                average = history.figure / per
                if c.count < cond.factor * average:
                    continue
                scope = ", ".join(f"{k}={v}" for k, v in sorted(c.entity.items())) or "the whole organisation"
                figures: dict[str, Any] = {"window_count": c.count, "baseline_average": round(average, 2)}
                entity = c.entity
                if detector.contributors is not None and c.contributors:
                    field = detector.contributors.field
                    entity = {field: c.contributors[0][0]}
                    figures["top_contributors"] = [{field: v, "count": n} for v, n in c.contributors]
                    named = ", ".join(f"{v} ({n})" for v, n in c.contributors)
                    scope = f"the whole organisation, led by {field} {named}"
                ev.matches.append(
                    Match(
                        entity=entity,
                        count=c.count,
                        first_seen=c.first,
                        last_seen=c.last,
                        figures=figures,
                        reason=f"{detector.title.en}: {c.count} events in one window for {scope}, "
                        f"against an average of {average:.1f}",
                    )
                )
        return results


class VolumeKind:
    def evaluate(self, env: KindEnv, detector: VolumeDetector, windows: list[Window]) -> list[Evaluation]:
        cond = detector.condition
        per = cond.baseline / detector.schedule.window if cond.baseline else 0.0
        results, found = _candidates(env, detector, windows, cond.min_sum)
        for window, ev in zip(windows, results, strict=True):
            for c, history in _with_history(env, detector, window, found[window], ev, cond.baseline):
                average = history.figure / per if per else 0.0
                over_fixed = cond.sum_gte is not None and c.total >= cond.sum_gte
                # no history, no baseline: never factor x 0 (every first transfer would qualify)
                over_baseline = cond.factor is not None and history.events > 0 and c.total >= cond.factor * average
                if not (over_fixed or over_baseline):
                    continue
                who = ", ".join(f"{k}={v}" for k, v in sorted(c.entity.items()))
                ev.matches.append(
                    Match(
                        entity=c.entity,
                        count=c.count,
                        first_seen=c.first,
                        last_seen=c.last,
                        figures={"bytes": int(c.total), "baseline_average_bytes": round(average)},
                        reason=f"{detector.title.en}: {c.total / 1_000_000:.1f} MB ({detector.field}) for {who}",
                    )
                )
        return results
