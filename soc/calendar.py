"""The office calendar: which days a municipal office is closed.

A Japanese city office is closed on Saturdays and Sundays, on national public holidays
(国民の祝日, including substitute holidays, from the maintained ``holidays`` package) and
over the year-end closure from 29 December to 3 January (年末年始の休日, set by each
municipality's ordinance), plus any extra closed days the city declares in ``soc.toml``::

    [calendar]
    holidays = "JP"              # country of the public holidays; "" for none
    year_end_closure = true      # 12/29 - 1/3
    closed_days = ["2026-08-14"] # e.g. an office-wide closure
    open_days = []               # a Saturday the office opens (an election day, say)

Detectors with ``off_hours`` treat a closed day as outside business hours all day, and the
simulator gives closed days the traffic of a weekend.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cached_property, lru_cache

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BusinessCalendar", "CalendarSettings", "calendar_for", "closed_reason"]

_YEAR_END = ((12, 29), (12, 30), (12, 31), (1, 1), (1, 2), (1, 3))


class CalendarSettings(BaseModel):
    """``[calendar]`` in ``soc.toml``: the days the office is closed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    holidays: str = Field(default="JP", description="ISO country code of the public holidays; empty for none")
    year_end_closure: bool = Field(default=True, description="closed from 29 December to 3 January")
    closed_days: tuple[date, ...] = Field(default=(), description="extra days the office is closed")
    open_days: tuple[date, ...] = Field(default=(), description="days the office opens although closed otherwise")


class BusinessCalendar:
    """Answers "is the office closed on this day?" and why; pure and cheap to call."""

    def __init__(self, settings: CalendarSettings | None = None) -> None:
        self.settings = settings or CalendarSettings()

    @cached_property
    def _holidays(self) -> object | None:
        if not self.settings.holidays:
            return None
        import holidays  # imported on first use: the package loads every country's tables

        try:
            return holidays.country_holidays(self.settings.holidays.upper())
        except NotImplementedError as exc:  # an unknown country code
            raise ValueError(
                f"calendar.holidays: no public-holiday calendar for {self.settings.holidays!r}; "
                "use an ISO country code such as 'JP', or '' for none"
            ) from exc

    def holiday_name(self, day: date) -> str | None:
        table = self._holidays
        return table.get(day) if table is not None else None  # type: ignore[attr-defined]

    def closed_reason(self, day: date, *, weekends: bool = True, holidays: bool = True) -> str | None:
        """Why the office is closed on *day* ("weekend", "holiday: …", "year-end closure",
        "closed day"), or None on a working day."""
        if day in self.settings.open_days:
            return None
        if weekends and day.weekday() >= 5:
            return "weekend"
        if not holidays:
            return None
        if day in self.settings.closed_days:
            return "closed day"
        if self.settings.year_end_closure and (day.month, day.day) in _YEAR_END:
            return "year-end closure"
        name = self.holiday_name(day)
        return f"holiday: {name}" if name else None

    def is_closed(self, day: date, *, weekends: bool = True, holidays: bool = True) -> bool:
        return self.closed_reason(day, weekends=weekends, holidays=holidays) is not None

    def is_working_day(self, day: date) -> bool:
        return not self.is_closed(day)

    def working_days(self, start: date, end: date) -> list[date]:
        """The working days in ``[start, end]``."""
        out: list[date] = []
        day = start
        while day <= end:
            if self.is_working_day(day):
                out.append(day)
            day += timedelta(days=1)
        return out


def calendar_for(settings: CalendarSettings | None = None) -> BusinessCalendar:
    """One calendar per settings value (the holiday tables are built once, then shared)."""
    return _calendar(settings or CalendarSettings())


@lru_cache(maxsize=32)
def _calendar(settings: CalendarSettings) -> BusinessCalendar:
    return BusinessCalendar(settings)


def closed_reason(day: date, settings: CalendarSettings | None = None) -> str | None:
    """Why the office of *settings* (default: a Japanese city) is closed on *day*, or None."""
    return calendar_for(settings).closed_reason(day)
