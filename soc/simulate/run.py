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

from soc.errors import SocError
from soc.es.client import EsGateway
from soc.es.ingest import index_events
from soc.network.segments import SegmentMap
from soc.simulate.baseline import JST, baseline_hour
from soc.simulate.events import EventFactory
from soc.simulate.models import SimulationReport, TruthRecord
from soc.simulate.population import build_city
from soc.simulate.scenarios import DURATION, SCENARIOS, Injected
from soc.vocab import iso

__all__ = ["generate", "simulate"]


def _plan(names: Sequence[str], start: datetime, end: datetime, seed: int) -> list[tuple[str, datetime]]:
    """Give each scenario its own slot of the range (no overlap, clear of both ends)."""
    if not names:
        return []
    margin = min(timedelta(hours=1), (end - start) / 8)
    usable = (end - start) - 2 * margin
    slot = usable / len(names)
    if slot < DURATION:
        raise SocError(
            f"{len(names)} scenario(s) need at least {len(names) * DURATION + 2 * margin} of range", field="--hours"
        )
    rng = random.Random(f"plan-{seed}")
    order = list(names)
    rng.shuffle(order)
    plan = []
    for i, name in enumerate(order):
        offset = rng.uniform(0, (slot - DURATION).total_seconds())
        at = start + margin + i * slot + timedelta(seconds=offset)
        plan.append((name, at.replace(microsecond=0)))
    return sorted(plan, key=lambda p: p[1])


def generate(
    *, end: datetime, hours: float, seed: int, scenarios: Sequence[str] | None = None
) -> tuple[Iterator[dict[str, Any]], list[TruthRecord]]:
    """All events of the range in time order (a generator) and the ground truth.

    Same seed, end and hours: the same documents in the same order.
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
    injected: list[Injected] = []
    for name, at in _plan(names, start, end, seed):
        rng = random.Random(f"scenario-{seed}-{name}")
        injected.append(SCENARIOS[name](city, at, rng, EventFactory(f"sim{seed}-{name}")))
    attack = sorted((e for inj in injected for e in inj.events), key=lambda e: (e["@timestamp"], e["event"]["id"]))

    def baseline() -> Iterator[dict[str, Any]]:
        hour = start.replace(minute=0, second=0, microsecond=0)
        seen: set[str] = set()
        day = None
        while hour < end:
            local_day = hour.astimezone(JST).date()
            if local_day != day:
                seen, day = set(), local_day
            docs = sorted(baseline_hour(city, hour, seed=seed, seen_today=seen), key=lambda e: e["@timestamp"])
            lo, hi = iso(start), iso(end)
            yield from (d for d in docs if lo <= d["@timestamp"] < hi)
            hour += timedelta(hours=1)

    merged = heapq.merge(baseline(), attack, key=lambda e: e["@timestamp"])
    return merged, [inj.truth for inj in injected]


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
) -> SimulationReport:
    """Generate and index the range; write the ground truth to *truth_path* if given."""
    began = time.perf_counter()
    docs, truth = generate(end=end, hours=hours, seed=seed, scenarios=scenarios)
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
