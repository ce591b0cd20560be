"""How a threshold detector covers a range of windows: a plan chosen from a cheap first
look at the data, and the one-pass evaluation it usually picks.

Today's window semantics are the contract: the one-pass path yields, window by window,
exactly the matches one aggregation per window yields (same groups, counts, first and
last events, so the same alerts with the same ids). It gets there with less work:

1. **Estimate** (one request, one scan of the range): matching events per time slot
   (slot = gcd of window and interval, so every window is a whole number of slots), the
   distinct values per slot for a distinct condition, and the values of the first
   grouped field that reach the minimum count over the whole range.
2. **Prune**: a window whose total matching events (or Σ per-slot distinct values) is
   below the threshold cannot hold a group over it; a group whose first field stays
   below the minimum count over the range cannot either.
3. **One pass**: per (group, slot) counts, first/last events and distinct values, once,
   over the slots of the surviving windows, in time blocks sized from the estimate so
   each block is about one page (no O(pages × range) re-scans); windows are summed
   client-side as blocks arrive, and a window's accumulators are dropped once it is
   judged (memory follows the busiest window, not the range).
4. **Confirm** (distinct conditions only: distinct counts do not add up across slots):
   the Σ per-slot distinct values is an upper bound; only the (window, group) pairs
   whose bound reaches the threshold are aggregated again, per window, narrowed to
   those groups.

When the estimate counts few matching events (``fetch.FETCH_MAX_EVENTS``), step 3 reads
the events themselves instead of aggregating them (``soc.detection.kinds.fetch``: doc
values only, a point in time, one page at a time) and step 4 is not needed: the distinct
values of every (window, group) are then known exactly.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from soc.detection.kinds.base import Evaluation, KindEnv, walk_pages
from soc.detection.kinds.fetch import FETCH_MAX_EVENTS, Event, epoch_ms, fetched
from soc.detection.models import SegmentPolicyDetector, ThresholdDetector
from soc.detection.queries import GROUP_PREFIX, SLOT_KEY, group_key, plan_estimate, slots_page, threshold_page
from soc.detection.windows import Window

__all__ = ["STRATEGIES", "Plan", "evaluate_planned", "min_events", "plan_for"]

STRATEGIES = ("auto", "windows", "one-pass", "fetch")
# below this many windows one aggregation per window costs no more requests than a plan
MIN_WINDOWS = 4
# first-field values kept as candidates; above this the pass is not narrowed by them
MAX_CANDIDATES = 10_000
# events per time block of the pass: about one composite page of (group, slot) buckets
BLOCK_EVENTS = 10_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Plan:
    detector: str
    strategy: str  # "windows" (one aggregation per window), "one-pass" or "fetch" (one pass over the events)
    reason: str
    windows: int
    slot: timedelta | None = None
    events: int | None = None  # matching events in the range (the estimate)
    candidates: int | None = None  # first-field values that can reach the threshold (None: not narrowed)
    surviving: int | None = None  # windows not pruned
    blocks: int = 0
    confirmed: int = 0  # (window, group) pairs aggregated again (distinct conditions)
    fetched: int = 0  # events read (the fetch path)
    requests: int = 0
    took_ms: int = 0
    queries: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        if self.strategy == "windows":
            return f"{self.detector}: one aggregation per window ({self.windows} window(s)): {self.reason}"
        narrowed = (
            "all groups" if self.candidates is None else f"{self.candidates:,} candidate value(s) of a grouped field"
        )
        how = (
            f"{self.fetched:,} event(s) fetched"
            if self.strategy == "fetch"
            else f"{self.blocks} block(s), {self.confirmed} (window, group) pair(s) confirmed"
        )
        path = "one pass over the events" if self.strategy == "fetch" else "one pass"
        return (
            f"{self.detector}: {path} ({self.reason}); estimate: {self.events or 0:,} matching event(s) in "
            f"{self.slot} slots; {self.surviving or 0:,} of {self.windows:,} window(s) can reach the threshold, "
            f"{narrowed}; {how}; {self.requests} request(s), took {self.took_ms} ms"
        )


def min_events(detector: ThresholdDetector | SegmentPolicyDetector) -> int:
    """Events a group needs in a window before it can meet the condition (so a window
    holding fewer matching events in all cannot alert)."""
    if isinstance(detector, SegmentPolicyDetector):
        return detector.min_count
    cond = detector.condition
    return max(cond.count.gte if cond.count else 1, cond.distinct.gte if cond.distinct else 1)


def plan_for(detector: Any, windows: list[Window], strategy: str = "auto") -> Plan:
    """Which path covers *windows*; the one-pass figures are filled in as it runs."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
    n = len(windows)
    if not isinstance(detector, ThresholdDetector | SegmentPolicyDetector):
        return Plan(detector.id, "windows", f"kind {detector.kind} has no other path", n)
    if strategy == "windows":
        return Plan(detector.id, "windows", "forced (--strategy windows)", n)
    if strategy == "auto" and n < MIN_WINDOWS:
        return Plan(detector.id, "windows", f"fewer than {MIN_WINDOWS} windows: no cheaper path", n)
    interval, window = detector.schedule.interval, detector.schedule.window
    slot = timedelta(seconds=math.gcd(int(interval.total_seconds()), int(window.total_seconds())))
    if slot.total_seconds() < 1 or window.total_seconds() % 1 or interval.total_seconds() % 1:
        return Plan(detector.id, "windows", "window or interval not in whole seconds", n)
    if strategy in ("one-pass", "fetch"):
        return Plan(detector.id, strategy, f"forced (--strategy {strategy})", n, slot=slot)
    return Plan(detector.id, "one-pass", f"{n} windows", n, slot=slot)


def _at(ms: float) -> datetime:
    return _EPOCH + timedelta(milliseconds=round(ms))


class _Acc:
    """A (window, group) accumulator: count, first and last event, Σ per-slot distinct."""

    __slots__ = ("count", "dsum", "first", "key", "last", "values")

    def __init__(self, key: dict[str, Any]) -> None:
        self.key = key
        self.count = 0
        self.dsum = 0
        self.first = math.inf
        self.last = -math.inf
        self.values: set[Any] | None = None  # the distinct values themselves (fetched events)


def evaluate_planned(
    env: KindEnv,
    detector: ThresholdDetector | SegmentPolicyDetector,
    windows: list[Window],
    plan: Plan,
    on_bucket: Any,
) -> list[Evaluation]:
    """The one-pass path: the same per-window evaluations the window path gives."""
    assert plan.slot is not None
    slot_ms = plan.slot // timedelta(milliseconds=1)
    width_ms = detector.schedule.window // timedelta(milliseconds=1)
    min_count = min_events(detector)
    distinct = detector.distinct_field()
    evaluations = {w: Evaluation() for w in windows}
    head = evaluations[windows[0]]  # the plan's own requests are counted on the first window
    start, end = windows[0].start, windows[-1].end

    def ask(body: dict[str, Any], pit: bool = False) -> dict[str, Any]:
        action = f"detector {detector.id} plan"
        res = env.gw.search_pit(body, action=action) if pit else env.gw.search(env.indices, body, action=action)
        plan.requests += 1
        plan.took_ms += int(res.get("took", 0))
        head.add_answer(body, res, env.keep_queries)
        if env.keep_queries:
            plan.queries.append(body)
        return res

    # 1. estimate
    res = ask(
        plan_estimate(
            detector, start, end, slot=plan.slot, min_count=min_count, max_candidates=MAX_CANDIDATES, tz=env.tz
        )
    )
    plan.events = int(res["hits"]["total"]["value"])
    if plan.strategy == "one-pass" and env.strategy == "auto" and plan.events <= FETCH_MAX_EVENTS:
        plan.strategy = "fetch"  # few events: reading them costs less than aggregating them
        plan.reason += f"; {plan.events:,} event(s) to read, at most {FETCH_MAX_EVENTS:,}"
    aggs = res.get("aggregations") or {}
    if "slots" not in aggs:  # no index matched (nothing ingested yet): no window holds anything
        plan.surviving = 0
        return [evaluations[w] for w in windows]
    per_slot: dict[int, tuple[int, int]] = {}
    for b in aggs["slots"]["buckets"]:
        d = int(b["distinct"]["value"]) if "distinct" in b else int(b["doc_count"])
        per_slot[int(b["key"])] = (int(b["doc_count"]), d)
    # per grouped field, the values that reach the minimum count (when the answer is exact)
    narrow: dict[str, list[tuple[Any, int]]] = {}
    for i, name in enumerate(detector.group_by):
        cand = aggs[f"candidates{i}"]
        values = [(b["key"], int(b["doc_count"])) for b in cand["buckets"]]
        if int(cand.get("doc_count_error_upper_bound", 0)) == 0 and len(values) <= MAX_CANDIDATES:
            narrow[name] = values
    # the narrowest field is cut into parts (_parts); the others filter every request
    part_field = min(narrow, key=lambda f: len(narrow[f])) if narrow else None
    plan.candidates = len(narrow[part_field]) if part_field else None
    nothing = any(not v for v in narrow.values())

    # 2. prune windows that cannot hold a group over the threshold
    survivors: dict[int, Window] = {}  # by end (ms)
    if not nothing:
        for w in windows:
            lo, hi = epoch_ms(w.start), epoch_ms(w.end)
            total = dsum = 0
            for s in range(lo - lo % slot_ms, hi, slot_ms):
                c, d = per_slot.get(s, (0, 0))
                total += c
                dsum += d
            if total >= min_count and (distinct is None or dsum >= _distinct_gte(detector)):
                survivors[hi] = w
    plan.surviving = len(survivors)
    if not survivors:
        return [evaluations[w] for w in windows]

    # 3. one pass over the slots of the surviving windows, in blocks of about one page
    needed = sorted({s for e in survivors for s in range(e - width_ms, e, slot_ms)})
    accs: dict[int, dict[tuple[Any, ...], _Acc]] = defaultdict(dict)  # window end -> group -> figures
    pending = sorted(survivors)  # window ends not judged yet
    confirm: dict[Window, list[dict[str, Any]]] = {}
    if plan.strategy == "fetch":
        few = sum(per_slot.get(s, (0, 0))[0] for s in needed)
        span = (_at(needed[0]), _at(needed[-1] + slot_ms))
        keep = {f: [k for k, _ in v] for f, v in narrow.items()}
        for events, upto in fetched(env, detector, *span, estimate=few, narrow=keep, ask=ask):
            plan.fetched += len(events)
            _add_events(detector, events, survivors, accs, slot_ms, step_ms=_step_ms(detector), width_ms=width_ms)
            while pending and pending[0] <= upto:
                e = pending.pop(0)
                _judge(detector, survivors[e], accs.pop(e, {}), evaluations, confirm, on_bucket)
        for e in pending:
            _judge(detector, survivors[e], accs.pop(e, {}), evaluations, confirm, on_bucket)
        return [evaluations[w] for w in windows]
    for block_lo, block_hi in _blocks(needed, slot_ms, per_slot):
        plan.blocks += 1
        in_block = sum(per_slot.get(s, (0, 0))[0] for s in range(block_lo, block_hi, slot_ms))
        share = in_block / max(1, plan.events)
        for part in _parts(narrow[part_field] if part_field else None, share):
            keep = {f: [k for k, _ in v] for f, v in narrow.items() if f != part_field}
            if part_field is not None and part is not None:
                keep[part_field] = part
            _pass(ask, detector, plan, (block_lo, block_hi), keep, survivors, accs, env)
        # every window ending by the block's end has all its slots: judge it, drop it
        while pending and pending[0] <= block_hi:
            e = pending.pop(0)
            _judge(detector, survivors[e], accs.pop(e, {}), evaluations, confirm, on_bucket)
    for e in pending:
        _judge(detector, survivors[e], accs.pop(e, {}), evaluations, confirm, on_bucket)

    # 4. confirm distinct counts where the per-slot bound reaches the threshold
    if confirm:
        plan.confirmed = sum(len(v) for v in confirm.values())
        again = [w for w in windows if w in confirm]

        def body_for(w: Window, after: dict[str, Any] | None) -> dict[str, Any]:
            return threshold_page(detector, w, after=after, tz=env.tz, entities=confirm[w])

        for w, ev in zip(
            again, walk_pages(env, again, body_for, on_bucket, action=f"detector {detector.id}"), strict=True
        ):
            target = evaluations[w]
            target.matches += ev.matches
            target.took_ms += ev.took_ms
            target.pages += ev.pages
            target.groups += ev.groups
            target.queries += ev.queries
            plan.requests += ev.pages
            plan.took_ms += ev.took_ms
    return [evaluations[w] for w in windows]


def _pass(
    ask: Any,
    detector: ThresholdDetector | SegmentPolicyDetector,
    plan: Plan,
    block: tuple[int, int],
    narrow: dict[str, list[Any]],
    survivors: dict[int, Window],
    accs: dict[int, dict[tuple[Any, ...], _Acc]],
    env: KindEnv,
) -> None:
    """Per (group, slot) figures of one block (narrowed to those values), added to the
    accumulators of every surviving window holding the slot."""
    assert plan.slot is not None
    slot_ms = plan.slot // timedelta(milliseconds=1)
    step_ms = detector.schedule.interval // timedelta(milliseconds=1)
    width_ms = detector.schedule.window // timedelta(milliseconds=1)
    # a multi-valued field puts an event in several groups: count each group only in the
    # request whose narrowing names its value (a value in another part is counted there)
    checks = [(f"{GROUP_PREFIX}{i}", set(narrow[f])) for i, f in enumerate(detector.group_by) if f in narrow]
    after: dict[str, Any] | None = None
    while True:
        body = slots_page(detector, _at(block[0]), _at(block[1]), slot=plan.slot, narrow=narrow, after=after, tz=env.tz)
        page = ask(body)["aggregations"]["groups"]
        for b in page["buckets"]:
            key = dict(b["key"])
            if any(key[g] not in allowed for g, allowed in checks):
                continue
            s = int(key.pop(SLOT_KEY))
            ident = tuple(key.values())
            count = int(b["doc_count"])
            d = int(b["distinct"]["value"]) if "distinct" in b else 0
            first, last = float(b["first_seen"]["value"]), float(b["last_seen"]["value"])
            # the windows holding slot s end in [s + slot, s + width], on the interval grid
            e = s + slot_ms
            e += -e % step_ms
            while e <= s + width_ms:
                if e in survivors:
                    acc = accs[e].get(ident)
                    if acc is None:
                        acc = accs[e][ident] = _Acc(key)
                    acc.count += count
                    acc.dsum += d
                    acc.first = min(acc.first, first)
                    acc.last = max(acc.last, last)
                e += step_ms
        after = page.get("after_key")
        if not page["buckets"] or after is None:
            return


def _step_ms(detector: ThresholdDetector | SegmentPolicyDetector) -> int:
    return detector.schedule.interval // timedelta(milliseconds=1)


def _add_events(
    detector: ThresholdDetector | SegmentPolicyDetector,
    events: list[Event],
    survivors: dict[int, Window],
    accs: dict[int, dict[tuple[Any, ...], _Acc]],
    slot_ms: int,
    *,
    step_ms: int,
    width_ms: int,
) -> None:
    """Each fetched event added to the accumulators of every surviving window holding it,
    with its distinct values kept exactly."""
    exact = detector.distinct_field() is not None
    for ev in events:
        s = int(ev.ms) - int(ev.ms) % slot_ms
        e = s + slot_ms
        e += -e % step_ms
        while e <= s + width_ms:
            if e in survivors:
                for key in ev.keys:
                    ident = tuple(key.values())
                    acc = accs[e].get(ident)
                    if acc is None:
                        acc = accs[e][ident] = _Acc(key)
                        if exact:
                            acc.values = set()
                    acc.count += 1
                    acc.first = min(acc.first, ev.ms)
                    acc.last = max(acc.last, ev.ms)
                    if acc.values is not None:
                        acc.values.update(ev.values)
            e += step_ms


def _parts(cand_counts: list[tuple[Any, int]] | None, share: float) -> Iterator[list[Any] | None]:
    """The candidates cut so each part holds about BLOCK_EVENTS events of the block
    (*share*: the block's part of the range's events); a terms filter on a part makes
    Elasticsearch visit only that part's events, so a busy block is not re-scanned per page."""
    if cand_counts is None:
        yield None
        return
    part: list[Any] = []
    events = 0.0
    for key, count in cand_counts:
        if part and events + count * share > BLOCK_EVENTS:
            yield part
            part, events = [], 0.0
        part.append(key)
        events += count * share
    if part:
        yield part


def _distinct_gte(detector: ThresholdDetector | SegmentPolicyDetector) -> int:
    if isinstance(detector, ThresholdDetector) and detector.condition.distinct is not None:
        return detector.condition.distinct.gte
    return 0


def _blocks(needed: list[int], slot_ms: int, per_slot: dict[int, tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """Contiguous runs of needed slots, cut so each holds about BLOCK_EVENTS events."""
    lo = prev = None
    events = 0
    for s in needed:
        n = per_slot.get(s, (0, 0))[0]
        if lo is not None and (s != prev + slot_ms or events + n > BLOCK_EVENTS):  # type: ignore[operator]
            yield lo, prev + slot_ms  # type: ignore[operator]
            lo, events = None, 0
        if lo is None:
            lo = s
        events += n
        prev = s
    if lo is not None:
        yield lo, prev + slot_ms  # type: ignore[operator]


def _judge(
    detector: ThresholdDetector | SegmentPolicyDetector,
    window: Window,
    groups: dict[tuple[Any, ...], _Acc],
    evaluations: dict[Window, Evaluation],
    confirm: dict[Window, list[dict[str, Any]]],
    on_bucket: Any,
) -> None:
    """Matches of one window from its summed slots, in the composite's key order."""
    ev = evaluations[window]
    gte = _distinct_gte(detector)
    for ident in sorted(groups, key=_order):
        acc = groups[ident]
        ev.groups += 1
        if gte and acc.values is None:
            if acc.dsum >= gte and acc.count >= min_events(detector):
                confirm.setdefault(window, []).append(group_key(detector.group_by, acc.key))
            continue
        bucket = {
            "key": acc.key,
            "doc_count": acc.count,
            "first_seen": {"value": acc.first},
            "last_seen": {"value": acc.last},
        }
        if acc.values is not None:
            bucket["distinct"] = {"value": len(acc.values)}
        on_bucket(window, bucket, ev)


def _order(ident: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    return tuple((0, v) if isinstance(v, int | float) else (1, str(v)) for v in ident)
