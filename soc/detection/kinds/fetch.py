"""Fetch, don't aggregate: when a plan's estimate finds few matching events in the range,
reading the events themselves (doc values of the fields the windows need, oldest first)
costs less than aggregating them, and the windows are summed client-side from them.

Pages come from one point in time (``_shard_doc`` the tiebreaker), so an event indexed
while the pages are read is neither missed between two pages nor read twice. When the
estimate says one page holds everything, a single search without a point in time is read
(one request is one consistent view); should it come back full after all (events arrived
since the estimate), the rest is read from a point in time opened at the last time seen.
Memory is one page at a time.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from soc.detection.kinds.base import KindEnv
from soc.detection.models import SegmentPolicyDetector, ThresholdDetector
from soc.detection.queries import FETCH_PAGE_SIZE, GROUP_PREFIX, fetch_page

__all__ = ["FETCH_MAX_EVENTS", "Event", "epoch_ms", "fetched"]

# a plan fetches the events instead of aggregating them when its estimate counts at most
# this many in the range (bench/vs_elastalert.py, "fetch or aggregate": the fetch stays
# cheaper than the one-pass aggregation up to tens of thousands of events on one node)
FETCH_MAX_EVENTS = 20_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Event:
    """What a window needs of one matching event: its time, its groups, its distinct values."""

    ms: float
    keys: list[dict[str, Any]]  # composite keys (``g0``, ``g1``, …): several when a field has several values
    values: list[Any]


Ask = Callable[[dict[str, Any], bool], dict[str, Any]]  # (body, with point in time) -> answer


def fetched(
    env: KindEnv,
    detector: ThresholdDetector | SegmentPolicyDetector,
    start: datetime,
    end: datetime,
    *,
    estimate: int,
    narrow: dict[str, list[Any]],
    ask: Ask,
    page_size: int | None = None,
) -> Iterator[tuple[list[Event], float]]:
    """Pages of the matching events of ``[start, end)``, oldest first, each with the time
    (epoch ms) before which every event has been read."""
    page_size = page_size or FETCH_PAGE_SIZE
    allowed = {f"{GROUP_PREFIX}{i}": set(narrow[f]) for i, f in enumerate(detector.group_by) if f in narrow}
    pit: str | None = env.gw.open_pit(env.indices) if estimate >= page_size // 2 else None
    after: list[Any] | None = None
    lo = start
    try:
        while True:
            body = fetch_page(detector, lo, end, narrow=narrow, pit=pit, after=after, page_size=page_size, tz=env.tz)
            res = ask(body, pit is not None)
            pit = res.get("pit_id", pit)
            hits = res["hits"]["hits"]
            events = [e for e in (_event(detector, h, allowed) for h in hits) if e is not None]
            if len(hits) < page_size:
                yield events, epoch_ms(end)
                return
            last = events[-1].ms if events else float(hits[-1]["fields"]["@timestamp"][0])
            if pit is None:  # more than the estimate: the rest from a point in time, from `last` on
                yield [e for e in events if e.ms < last], last
                pit, after, lo = env.gw.open_pit(env.indices), None, _EPOCH + timedelta(milliseconds=last)
                continue
            after = hits[-1]["sort"]
            yield events, last
    finally:
        if pit is not None:
            env.gw.close_pit(pit)


def _event(
    detector: ThresholdDetector | SegmentPolicyDetector, hit: dict[str, Any], allowed: dict[str, set[Any]]
) -> Event | None:
    """The event of one hit, its groups as the composite aggregation forms them: one per
    combination of the grouped fields' values (a value outside a narrowing is not a group
    this pass counts), none when a grouped field is missing."""
    fields = hit.get("fields") or {}
    columns = []
    for i, name in enumerate(detector.group_by):
        values = fields.get(name)
        if not values:
            return None
        ok = allowed.get(f"{GROUP_PREFIX}{i}")
        columns.append([v for v in dict.fromkeys(values) if ok is None or v in ok])
    keys = [{f"{GROUP_PREFIX}{i}": v for i, v in enumerate(combo)} for combo in itertools.product(*columns)]
    distinct = detector.distinct_field()
    return Event(float(fields["@timestamp"][0]), keys, list(fields.get(distinct, [])) if distinct else [])


def epoch_ms(t: datetime) -> int:
    """*t* in whole milliseconds since the epoch (floored), as Elasticsearch stores a date."""
    return (t - _EPOCH) // timedelta(milliseconds=1)
