"""What every detector kind shares: the match it yields, the per-window figures, and
walking composite-aggregation pages (the first page of many windows per ``_msearch``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from soc.alerts.models import Match
from soc.detection.windows import Window
from soc.errors import SocError
from soc.es.client import EsGateway

__all__ = [
    "BATCH",
    "DetectorKind",
    "Evaluation",
    "KindEnv",
    "Match",
    "TooManyPages",
    "bucket_time",
    "chunks",
    "walk_pages",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# windows (or candidates) whose query goes to Elasticsearch in one _msearch request
BATCH = 24

T = TypeVar("T")


@dataclass
class Evaluation:
    matches: list[Match] = field(default_factory=list)
    took_ms: int = 0
    pages: int = 0
    groups: int = 0
    truncated: int = 0  # candidates not examined because a cap was hit (reported, never silent)
    queries: list[dict[str, Any]] = field(default_factory=list)

    def add_answer(self, body: dict[str, Any], res: dict[str, Any], keep: bool) -> None:
        if keep:
            self.queries.append(body)
        self.took_ms += int(res.get("took", 0))
        self.pages += 1


@dataclass
class KindEnv:
    """What a kind needs besides the detector: where to search and how."""

    gw: EsGateway
    indices: list[str]
    tz: ZoneInfo
    keep_queries: bool = False
    write: bool = True  # False for --explain: nothing persisted (new-term baselines included)
    strategy: str = "auto"  # "windows" forces one aggregation per window (soc.detection.kinds.one_pass)
    plans: list[Any] = field(default_factory=list)  # the plans made (soc.detection.kinds.one_pass.Plan), for --explain


class DetectorKind(Protocol):
    def evaluate(self, env: KindEnv, detector: Any, windows: list[Window]) -> list[Evaluation]: ...


def chunks(items: Sequence[T], size: int = BATCH) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def bucket_time(bucket: dict[str, Any], name: str) -> datetime | None:
    """A ``min``/``max`` of ``@timestamp`` as an aware datetime (from its epoch value: no string parsing)."""
    value = (bucket.get(name) or {}).get("value")
    return None if value is None else _EPOCH + timedelta(milliseconds=round(float(value)))


PageBody = Callable[[Window, dict[str, Any] | None], dict[str, Any]]
OnBucket = Callable[[Window, dict[str, Any], Evaluation], None]


class TooManyPages(SocError):
    """A window needs more pages than the caller allowed (it has a cheaper path for that)."""


def walk_pages(
    env: KindEnv,
    windows: list[Window],
    body_for: PageBody,
    on_bucket: OnBucket,
    *,
    action: str,
    max_rounds: int | None = None,
) -> list[Evaluation]:
    """Run the composite aggregation ``groups`` of every window to its last page.

    Up to ``BATCH`` windows go to Elasticsearch together: their first pages in one
    ``_msearch``, then the next pages of those that have more, again in one ``_msearch``,
    round after round. Requests grow with the number of pages of the busiest window, not
    with the number of windows times pages.
    """
    results: list[Evaluation] = []
    for batch in chunks(windows):
        evaluations = {w: Evaluation() for w in batch}
        pending = [(w, body_for(w, None)) for w in batch]
        rounds = 0
        while pending:
            rounds += 1
            if max_rounds is not None and rounds > max_rounds:
                raise TooManyPages(f"{action}: more than {max_rounds} page(s) of groups in a window")
            answers = env.gw.msearch(env.indices, [body for _, body in pending], action=action)
            following: list[tuple[Window, dict[str, Any]]] = []
            for (window, body), res in zip(pending, answers, strict=True):
                ev = evaluations[window]
                ev.add_answer(body, res, env.keep_queries)
                agg = (res.get("aggregations") or {}).get("groups") or {}
                buckets = agg.get("buckets") or []
                for bucket in buckets:
                    ev.groups += 1
                    on_bucket(window, bucket, ev)
                after = agg.get("after_key")
                if buckets and after is not None:
                    following.append((window, body_for(window, after)))
            pending = following
        results.extend(evaluations[w] for w in batch)
    return results
