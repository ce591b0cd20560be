"""``spike`` (a window's count against the same key's average window over a baseline)
and ``volume`` (bytes per key above a threshold or far above its own baseline).

Both ask Elasticsearch for the window's figure and the baseline's figure of every key in
one composite aggregation (two ``filter`` sub-aggregations over one time range).
"""

from __future__ import annotations

from typing import Any

from soc.detection.kinds.base import Evaluation, KindEnv, Match, bucket_time, walk_pages
from soc.detection.models import SpikeDetector, VolumeDetector
from soc.detection.queries import baseline_page, group_key
from soc.detection.windows import Window

__all__ = ["SpikeKind", "VolumeKind"]


def _windows_in(detector: SpikeDetector | VolumeDetector) -> float:
    span = detector.baseline if isinstance(detector, SpikeDetector) else detector.condition.baseline
    return span / detector.schedule.window if span else 0.0


def _evaluate(
    env: KindEnv, detector: SpikeDetector | VolumeDetector, windows: list[Window], judge: Any
) -> list[Evaluation]:
    baseline = detector.baseline if isinstance(detector, SpikeDetector) else detector.condition.baseline
    if detector.group_by:
        return walk_pages(
            env,
            windows,
            lambda w, after: baseline_page(detector, w, baseline, after=after, tz=env.tz),
            lambda w, bucket, ev: judge(w, bucket, group_key(detector.group_by, bucket["key"]), ev),
            action=f"detector {detector.id}",
        )
    results: list[Evaluation] = []  # organisation-wide: one group, no paging
    bodies = [baseline_page(detector, w, baseline, tz=env.tz) for w in windows]
    for i in range(0, len(bodies), 24):
        answers = env.gw.msearch(env.indices, bodies[i : i + 24], action=f"detector {detector.id}")
        for w, body, res in zip(windows[i : i + 24], bodies[i : i + 24], answers, strict=True):
            ev = Evaluation()
            ev.add_answer(body, res, env.keep_queries)
            ev.groups = 1
            judge(w, res.get("aggregations") or {}, {}, ev)
            results.append(ev)
    return results


class SpikeKind:
    def evaluate(self, env: KindEnv, detector: SpikeDetector, windows: list[Window]) -> list[Evaluation]:
        per = _windows_in(detector)
        cond = detector.condition

        def judge(w: Window, bucket: dict[str, Any], entity: dict[str, str], ev: Evaluation) -> None:
            current = int(bucket["current"]["doc_count"])
            history = int((bucket.get("history") or {}).get("doc_count", 0))
            average = history / per if per else 0.0
            if current < cond.min_count or current < cond.factor * average:
                return
            first, last = bucket_time(bucket["current"], "first_seen"), bucket_time(bucket["current"], "last_seen")
            if first is None or last is None:
                return
            scope = ", ".join(f"{k}={v}" for k, v in sorted(entity.items())) or "the whole organisation"
            ev.matches.append(
                Match(
                    entity=entity,
                    count=current,
                    first_seen=first,
                    last_seen=last,
                    figures={"window_count": current, "baseline_average": round(average, 2)},
                    reason=f"{detector.title.en}: {current} events in one window for {scope}, "
                    f"against an average of {average:.1f}",
                )
            )

        return _evaluate(env, detector, windows, judge)


class VolumeKind:
    def evaluate(self, env: KindEnv, detector: VolumeDetector, windows: list[Window]) -> list[Evaluation]:
        per = _windows_in(detector)
        cond = detector.condition

        def judge(w: Window, bucket: dict[str, Any], entity: dict[str, str], ev: Evaluation) -> None:
            total = int(bucket["current"]["total"]["value"])
            history = float((bucket.get("history") or {}).get("total", {}).get("value", 0.0))
            average = history / per if per else 0.0
            if total < cond.min_sum:
                return
            over_fixed = cond.sum_gte is not None and total >= cond.sum_gte
            over_baseline = cond.factor is not None and total >= cond.factor * max(average, 1.0)
            if not (over_fixed or over_baseline):
                return
            first, last = bucket_time(bucket["current"], "first_seen"), bucket_time(bucket["current"], "last_seen")
            if first is None or last is None:
                return
            who = ", ".join(f"{k}={v}" for k, v in sorted(entity.items()))
            ev.matches.append(
                Match(
                    entity=entity,
                    count=int(bucket["current"]["doc_count"]),
                    first_seen=first,
                    last_seen=last,
                    figures={"bytes": total, "baseline_average_bytes": round(average)},
                    reason=f"{detector.title.en}: {total / 1_000_000:.1f} MB ({detector.field}) for {who}",
                )
            )

        return _evaluate(env, detector, windows, judge)
