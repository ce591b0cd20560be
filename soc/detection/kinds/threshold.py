"""``threshold`` (count and/or distinct count per group) and ``segment_policy`` (flows
between segments the policy forbids: a threshold over a derived filter)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from soc.detection.kinds.base import Evaluation, KindEnv, Match, TooManyPages, bucket_time, walk_pages
from soc.detection.kinds.one_pass import evaluate_planned, plan_for
from soc.detection.models import SegmentPolicyDetector, ThresholdDetector
from soc.detection.queries import PAGE_SIZE, group_key, threshold_page
from soc.detection.windows import Window

__all__ = ["SegmentPolicyKind", "ThresholdKind"]

# pages of groups one window may take before the one-pass path is cheaper (no re-scan per page)
ESCAPE_AFTER_PAGES = 2


class ThresholdKind:
    def evaluate(self, env: KindEnv, detector: ThresholdDetector, windows: list[Window]) -> list[Evaluation]:
        cond = detector.condition

        def on_bucket(window: Window, bucket: dict[str, Any], ev: Evaluation) -> None:
            count = int(bucket["doc_count"])
            distinct = int(bucket["distinct"]["value"]) if "distinct" in bucket else None
            if cond.count is not None and count < cond.count.gte:
                return
            if cond.distinct is not None and (distinct is None or distinct < cond.distinct.gte):
                return
            ev.matches.append(_match(detector, bucket, count, distinct))

        return _planned_or_walk(env, detector, windows, on_bucket)


class SegmentPolicyKind:
    def evaluate(self, env: KindEnv, detector: SegmentPolicyDetector, windows: list[Window]) -> list[Evaluation]:
        def on_bucket(window: Window, bucket: dict[str, Any], ev: Evaluation) -> None:
            count = int(bucket["doc_count"])
            if count >= detector.min_count:
                m = _match(detector, bucket, count, None)
                froms = "/".join(s.value for s in detector.from_segments)
                tos = "/".join(s.value for s in detector.to_segments)
                who = ", ".join(f"{k}={v}" for k, v in sorted(m.entity.items()))
                ev.matches.append(replace(m, reason=f"{detector.title.en}: {count} flow(s) {froms} -> {tos} {who}"))

        return _planned_or_walk(env, detector, windows, on_bucket)


def _planned_or_walk(
    env: KindEnv,
    detector: ThresholdDetector | SegmentPolicyDetector,
    windows: list[Window],
    on_bucket: Callable[[Window, dict[str, Any], Evaluation], None],
) -> list[Evaluation]:
    """The plan's path: one pass over the range, or one aggregation per window."""
    plan = plan_for(detector, windows, env.strategy)
    env.plans.append(plan)
    if plan.strategy in ("one-pass", "fetch"):
        return evaluate_planned(env, detector, windows, plan, on_bucket)
    if env.strategy == "windows":
        return _walk(env, detector, windows, on_bucket)
    try:  # a few windows: one aggregation each, unless one of them holds too many groups to page through
        return _walk(env, detector, windows, on_bucket, max_rounds=ESCAPE_AFTER_PAGES)
    except TooManyPages:
        plan = plan_for(detector, windows, "one-pass")
        plan.reason = f"a window holds more than {ESCAPE_AFTER_PAGES * PAGE_SIZE:,} groups"
        env.plans[-1] = plan
        return evaluate_planned(env, detector, windows, plan, on_bucket)


def _walk(
    env: KindEnv,
    detector: ThresholdDetector | SegmentPolicyDetector,
    windows: list[Window],
    on_bucket: Callable[[Window, dict[str, Any], Evaluation], None],
    *,
    max_rounds: int | None = None,
) -> list[Evaluation]:
    return walk_pages(
        env,
        windows,
        lambda w, after: threshold_page(detector, w, after=after, tz=env.tz),
        on_bucket,
        action=f"detector {detector.id}",
        max_rounds=max_rounds,
    )


def _match(
    detector: ThresholdDetector | SegmentPolicyDetector, bucket: dict[str, Any], count: int, distinct: int | None
) -> Match:
    first, last = bucket_time(bucket, "first_seen"), bucket_time(bucket, "last_seen")
    assert first is not None and last is not None  # a bucket has at least one event
    return Match(
        entity=group_key(detector.group_by, bucket["key"]),
        count=count,
        distinct_count=distinct,
        first_seen=first,
        last_seen=last,
    )
