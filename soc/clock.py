"""Injected, timezone-aware clocks: services never call datetime.now() themselves."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "ManualClock", "OffsetClock", "SystemClock", "utc"]


def utc(value: datetime) -> datetime:
    """Return *value* as an aware UTC datetime; naive values are refused."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} has no timezone")
    return value.astimezone(UTC)


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class OffsetClock:
    """Real time shifted so that the real instant *real_anchor* (epoch seconds) reads as
    *anchor*: several processes given the same pair share one replayed timeline
    (``bench/faults.py`` replays a simulated day through real schedulers with it)."""

    anchor: datetime
    real_anchor: float

    def now(self) -> datetime:
        return utc(self.anchor) + (datetime.now(UTC) - datetime.fromtimestamp(self.real_anchor, UTC))

    @classmethod
    def parse(cls, spec: str) -> OffsetClock:
        """``2026-11-24T03:00:00+00:00@1764390000.5``: the anchor, then the real epoch."""
        when, sep, real = spec.partition("@")
        if not sep:
            raise ValueError(f"{spec!r}: expected <ISO time>@<epoch seconds>")
        return cls(anchor=utc(datetime.fromisoformat(when)), real_anchor=float(real))


@dataclass
class ManualClock:
    """A clock tests (and backtests) move by hand."""

    current: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta

    def set(self, value: datetime) -> None:
        self.current = utc(value)
