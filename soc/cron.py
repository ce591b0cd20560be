"""Crontab lines as a type: parsed and checked where the settings are read, run by
``soc.runtime`` (base layer: imports nothing of soc).

``"0 8 * * 1"`` is Mondays at 08:00 in the given zone; 0 or 7 is Sunday, as in cron.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Annotated
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from pydantic import AfterValidator

__all__ = ["Crontab", "crontab_trigger", "previous_fire_time"]

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_LOOKBACKS = tuple(timedelta(days=d) for d in (1, 8, 32, 367, 8 * 366))


def _day(token: str) -> int:
    if token in _DAYS:
        return _DAYS.index(token)
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token)
    raise ValueError(f"day of week {token!r}: use 0-7 (0 and 7 are Sunday) or sun-sat")


def _weekdays(expr: str) -> str:
    """Crontab day-of-week (0 or 7 = Sunday) as APScheduler day names.

    APScheduler 3 reads a bare number as 0 = Monday (its issue 286), so "1" would mean
    Tuesday there; names are unambiguous.
    """
    if expr == "*":
        return "*"
    days: set[int] = set()
    for part in expr.lower().split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"day of week {part!r}: the step must be at least 1")
        if span == "*":
            low, high = 0, 6
        elif "-" in span:
            first, last = span.split("-", 1)
            low, high = _day(first), _day(last)
        else:
            low = _day(span)
            high = 6 if step_text else low
        if high < low:
            raise ValueError(f"day of week {part!r}: the range runs backwards")
        days.update(d % 7 for d in range(low, high + 1, step))
    return ",".join(_DAYS[d] for d in sorted(days))


def crontab_trigger(expr: str, tz: tzinfo) -> CronTrigger:
    """A trigger for a standard crontab line (minute hour day month weekday) in *tz*.

    Unlike cron, a line that restricts both the day of the month and the weekday fires
    only when both match.
    """
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"a crontab line has 5 fields (minute hour day month weekday), got {len(fields)}: {expr!r}")
    minute, hour, day, month, weekday = fields
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=_weekdays(weekday), timezone=tz)


def previous_fire_time(trigger: CronTrigger, now: datetime) -> datetime:
    """The latest time at or before *now* at which *trigger* fires."""
    for lookback in _LOOKBACKS:
        latest: datetime | None = None
        fire: datetime | None = trigger.get_next_fire_time(None, now - lookback)
        while fire is not None and fire <= now:
            latest = fire
            fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
        if latest is not None:
            return latest
    raise ValueError(f"{trigger} has not fired in the eight years before {now.isoformat()}")


def _valid(line: str) -> str:
    crontab_trigger(line, ZoneInfo("UTC"))
    return line


# a crontab line, checked when the settings are read: "0 8 * * 1" = Mondays 08:00
Crontab = Annotated[str, AfterValidator(_valid)]
