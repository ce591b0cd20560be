"""Orchestration: baseline hour by hour, scenarios at seeded times, indexed in bulk."""

from __future__ import annotations

import heapq
import json
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from soc.detection.windows import align_up
from soc.errors import SocError
from soc.es.client import EsGateway
from soc.es.ingest import index_events
from soc.network.segments import SegmentMap
from soc.simulate.baseline import JST, baseline_hour, history_day
from soc.simulate.catalog import SCENARIOS
from soc.simulate.events import EventFactory
from soc.simulate.models import SimulationReport, TruthRecord
from soc.simulate.population import City, build_city
from soc.simulate.scenarios import Slot
from soc.vocab import iso

__all__ = ["generate", "simulate"]


_GRID = timedelta(minutes=15)  # every shipped interval divides it: a boundary for all detectors
_SPILL = timedelta(minutes=15)  # how far an hour's baseline events may reach into the previous hour


def _plan(
    names: Sequence[str], start: datetime, end: datetime, seed: int, *, straddle: bool
) -> list[tuple[str, datetime]]:
    """Give each exclusive scenario its own slot of the range (no overlap, clear of both
    ends); loose ones go anywhere. With *straddle*, each exclusive attack is centred on a
    window boundary, so no single aligned window holds all of it."""
    margin = min(timedelta(hours=1), (end - start) / 8)
    usable = (end - start) - 2 * margin
    rng = random.Random(f"plan-{seed}")
    exclusive = [n for n in names if SCENARIOS[n].exclusive]
    rng.shuffle(exclusive)
    plan: list[tuple[str, datetime]] = []
    if exclusive:
        slot = usable / len(exclusive)
        need = max(SCENARIOS[n].span for n in exclusive) + (_GRID if straddle else timedelta(0))
        if slot < need:
            raise SocError(
                f"{len(exclusive)} scenario(s) need at least {len(exclusive) * need + 2 * margin} of range",
                field="--hours",
            )
        for i, name in enumerate(exclusive):
            span = SCENARIOS[name].span
            slot_start = start + margin + i * slot
            if straddle:
                at = align_up(slot_start + span / 2, _GRID) - span / 2
            else:
                at = slot_start + timedelta(seconds=rng.uniform(0, (slot - span).total_seconds()))
            plan.append((name, at.replace(microsecond=0)))
    for name in names:
        if not SCENARIOS[name].exclusive:
            span = min(SCENARIOS[name].span, usable)
            at = start + margin + timedelta(seconds=rng.uniform(0, (usable - span).total_seconds()))
            plan.append((name, at.replace(microsecond=0)))
    return sorted(plan, key=lambda p: p[1])


def _inject(
    name: str,
    at: datetime,
    start: datetime,
    end: datetime,
    seed: int,
    city: City,
    *,
    near_miss: bool,
    busy: tuple[tuple[datetime, datetime], ...] = (),
) -> tuple[list[dict[str, Any]], TruthRecord]:
    scenario = SCENARIOS[name]
    variant = "near" if near_miss else "attack"
    rng = random.Random(f"scenario-{seed}-{name}-{variant}")
    factory = EventFactory(f"sim{seed}-{name}-{variant}")
    attack = scenario.fn(city, Slot(at, start, end, busy), rng, factory, near_miss)
    inside = sorted(e["@timestamp"] for e in attack.events if iso(start) <= e["@timestamp"] < iso(end))
    times = inside or sorted(e["@timestamp"] for e in attack.events)
    truth = TruthRecord(
        scenario=name,
        description=("near miss: " if near_miss else "") + attack.description,
        entities=attack.entities,
        start=times[0],
        end=times[-1],
        expected_detectors=list(scenario.near_miss_fires if near_miss else scenario.detectors),
        event_count=len(attack.events),
        near_miss=near_miss,
        near_miss_of=[d for d in scenario.detectors if d not in scenario.near_miss_fires] if near_miss else [],
        event_id_prefix=factory.prefix,
    )
    return attack.events, truth


def generate(
    *,
    end: datetime,
    hours: float,
    seed: int,
    scenarios: Sequence[str] | None = None,
    near_miss: bool = False,
    straddle: bool = False,
    history_days: int = 7,
) -> tuple[Iterator[dict[str, Any]], list[TruthRecord]]:
    """All events of the range in time order (a generator) and the ground truth.

    Same arguments: the same documents in the same order. *history_days* of light
    office activity before the range give ``new_term`` detectors something to know.
    """
    end = end.astimezone(UTC)
    start = end - timedelta(hours=hours)
    names = list(SCENARIOS) if scenarios is None else list(scenarios)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise SocError(
            f"unknown scenario(s): {', '.join(unknown)}", field="--scenario", hint=f"known: {', '.join(SCENARIOS)}"
        )
    city = build_city(seed)
    events: list[dict[str, Any]] = []
    truth: list[TruthRecord] = []
    plan = _plan(names, start, end, seed, straddle=straddle)
    slots = [(name, at, at + SCENARIOS[name].span) for name, at in plan if SCENARIOS[name].exclusive]
    for name, at in plan:
        busy = tuple((b0, b1) for other, b0, b1 in slots if other != name)
        docs, record = _inject(name, at, start, end, seed, city, near_miss=near_miss, busy=busy)
        events += docs
        truth.append(record)
    attack = sorted(events, key=lambda e: (e["@timestamp"], e["event"]["id"]))

    def history() -> Iterator[dict[str, Any]]:
        first = start.astimezone(JST).replace(hour=0, minute=0, second=0, microsecond=0)
        for k in range(history_days, 0, -1):
            yield from history_day(city, first - timedelta(days=k), seed=seed)

    def baseline() -> Iterator[dict[str, Any]]:
        # an hour's events may spill a few minutes into its neighbours (a VPN logon just
        # before the first sign-in), so they pass through a heap and leave in time order
        hour = start.replace(minute=0, second=0, microsecond=0)
        seen: set[str] = set()
        day = None
        lo, hi = iso(start), iso(end)
        pending: list[tuple[str, int, dict[str, Any]]] = []
        n = 0
        while hour < end:
            local_day = hour.astimezone(JST).date()
            if local_day != day:
                seen, day = set(), local_day
            for d in baseline_hour(city, hour, seed=seed, seen_today=seen):
                if lo <= d["@timestamp"] < hi:
                    heapq.heappush(pending, (d["@timestamp"], n, d))
                    n += 1
            hour += timedelta(hours=1)
            safe = iso(hour - _SPILL)
            while pending and pending[0][0] < safe:
                yield heapq.heappop(pending)[2]
        while pending:
            yield heapq.heappop(pending)[2]

    merged = heapq.merge(history(), baseline(), attack, key=lambda e: e["@timestamp"])
    return merged, truth


def simulate(
    gw: EsGateway,
    *,
    end: datetime,
    hours: float,
    seed: int,
    scenarios: Sequence[str] | None = None,
    segments: SegmentMap,
    truth_path: Path | None = None,
    on_progress: Callable[[int], None] | None = None,
    near_miss: bool = False,
    straddle: bool = False,
    history_days: int = 7,
) -> SimulationReport:
    """Generate and index the range; write the ground truth to *truth_path* if given."""
    began = time.perf_counter()
    docs, truth = generate(
        end=end,
        hours=hours,
        seed=seed,
        scenarios=scenarios,
        near_miss=near_miss,
        straddle=straddle,
        history_days=history_days,
    )
    report = index_events(gw, docs, segments=segments, on_progress=on_progress)
    if report.rejected:
        sample = "; ".join(str(r) for r in report.rejected[:3])
        raise SocError(f"{len(report.rejected)} simulated event(s) were rejected: {sample}")
    if truth_path is not None:
        write_truth(truth, truth_path)
    return SimulationReport(docs_written=report.indexed_total, seconds=time.perf_counter() - began, truth=truth)


def write_truth(truth: Iterable[TruthRecord], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = [t.model_dump(mode="json") for t in truth]
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
