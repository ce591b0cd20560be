"""Named attack scenarios, each with its ground truth and a near miss.

One explicit table maps a scenario name to its generator, the detectors that must fire
on it, and how it is placed. Every generator receives its own random stream and slot,
so adding a scenario never shifts the others. With ``near_miss=True`` a generator
produces the same activity just below what its detectors look for (fewer attempts,
a known value, a shorter gap): nothing may fire on it, except the detectors a scenario
names in ``near_miss_fires`` (its near miss is below its own detectors but still what
those catch: 80 failed VPN logons in six minutes are not 100, yet a burst all the same).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from soc.simulate.events import EventFactory
from soc.simulate.population import City

__all__ = ["DURATION", "Attack", "Scenario", "Slot", "evening_time", "night_time", "office_time"]

# longest span of an exclusive scenario; the planner gives each one a slot this long
DURATION = timedelta(minutes=30)


@dataclass(frozen=True)
class Slot:
    """Where a scenario may put its events: from ``at``, inside the simulated range."""

    at: datetime
    range_start: datetime
    range_end: datetime
    # the spans of the exclusive scenarios around it: a scenario that picks its own hour
    # (night, evening, office) keeps out of them, or its events would add to their counts
    busy: tuple[tuple[datetime, datetime], ...] = ()


@dataclass
class Attack:
    events: list[dict[str, Any]]
    entities: dict[str, str]  # ECS field -> value, exactly as written in the events
    description: str


ScenarioFn = Callable[[City, Slot, random.Random, EventFactory, bool], Attack]


@dataclass(frozen=True)
class Scenario:
    fn: ScenarioFn
    detectors: tuple[str, ...]  # must fire on the attack (and on nothing of the near miss)
    span: timedelta = DURATION
    exclusive: bool = True  # needs a slot of its own: its counts could add to a neighbour's
    near_miss_fires: tuple[str, ...] = ()  # of ``detectors``, those that must fire on the near miss too


def _local_time(slot: Slot, rng: random.Random, hours: tuple[float, float], *, working_day: bool = True) -> datetime:
    """A time at JST hours within ``hours`` (on a working day if asked), inside the range (an
    hour clear of its ends), on the day nearest ``slot.at``, clear of ``slot.busy`` where the
    hours leave room; ``slot.at`` if no such time exists."""
    from soc.simulate.baseline import JST, OFFICE_CALENDAR

    lo_bound, hi_bound = slot.range_start + timedelta(hours=1), slot.range_end - timedelta(hours=1)
    spans = []
    day = (slot.range_start - timedelta(days=1)).astimezone(JST).date()
    while day <= slot.range_end.astimezone(JST).date():
        midnight = datetime.combine(day, datetime.min.time(), tzinfo=JST)
        lo = max(midnight + timedelta(hours=hours[0]), lo_bound)
        hi = min(midnight + timedelta(hours=hours[1]), hi_bound)
        if (not working_day or OFFICE_CALENDAR.is_working_day(day)) and lo < hi:
            spans.append((lo, hi))
        day += timedelta(days=1)
    if not spans:
        return slot.at
    lo, hi = min(spans, key=lambda s: abs(s[0] - slot.at))
    first = (lo + (hi - lo) * rng.random()).replace(microsecond=0)
    at = first
    for _ in range(20):
        if not any(b0 - DURATION < at < b1 + DURATION for b0, b1 in slot.busy):  # events may precede it
            return at
        at = (lo + (hi - lo) * rng.random()).replace(microsecond=0)
    return first  # the hours are all taken: overlap rather than leave the range


def night_time(slot: Slot, rng: random.Random) -> datetime:
    """Between 01:00 and 04:30 JST on any day, when nobody works and no admin logs on."""
    return _local_time(slot, rng, (1.0, 4.5), working_day=False)


def evening_time(slot: Slot, rng: random.Random) -> datetime:
    """Between 19:00 and 19:50 JST: late, but still inside business hours."""
    return _local_time(slot, rng, (19.0, 19.8))


def office_time(slot: Slot, rng: random.Random) -> datetime:
    """Between 09:30 and 16:00 JST on a weekday."""
    return _local_time(slot, rng, (9.5, 16.0))


def spread(start: datetime, n: int, step_s: float, rng: random.Random, jitter_s: float = 3.0) -> list[datetime]:
    return [start + timedelta(seconds=i * step_s + rng.uniform(0, jitter_s)) for i in range(n)]
