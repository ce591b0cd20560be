"""``silence``: a log source that sent enough over the look-back and then nothing for
``silent_for`` (data-source health: a dead collector hides every other detection)."""

from __future__ import annotations

from typing import Any

from soc.detection.kinds.base import Evaluation, KindEnv, Match, bucket_time, walk_pages
from soc.detection.models import SilenceDetector
from soc.detection.queries import group_key, silence_page
from soc.detection.windows import Window
from soc.vocab import iso

__all__ = ["SilenceKind"]


class SilenceKind:
    def evaluate(self, env: KindEnv, detector: SilenceDetector, windows: list[Window]) -> list[Evaluation]:
        def on_bucket(window: Window, bucket: dict[str, Any], ev: Evaluation) -> None:
            count = int(bucket["doc_count"])
            last = bucket_time(bucket, "last_seen")
            if last is None or count < detector.min_events or window.end - last < detector.silent_for:
                return
            entity = group_key(detector.group_by, bucket["key"])
            silent_min = int((window.end - last).total_seconds() // 60)
            who = ", ".join(f"{k}={v}" for k, v in sorted(entity.items()))
            ev.matches.append(
                Match(
                    entity=entity,
                    count=count,
                    first_seen=last,
                    last_seen=last,
                    figures={
                        "last_event": iso(last),
                        "silent_minutes_at_detection": silent_min,
                        "events_before": count,
                    },
                    reason=f"{detector.title.en}: {who} sent {count} events, then nothing since {iso(last)}",
                )
            )

        return walk_pages(
            env,
            windows,
            lambda w, after: silence_page(detector, w, after=after, tz=env.tz),
            on_bucket,
            action=f"detector {detector.id}",
        )
