"""What a log parser yields for each line: an event, a line it chose to skip, or a rejection.

Three outcomes rather than "event or exception" because a log file is mostly lines we do
not care about (cron, other sshd chatter, Windows event ids no detector reads): those are
counted, not reported, while a line that *should* parse and does not is reported with its
file and line so the operator can fix the shipper, and the rest of the file still loads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

__all__ = ["ParseResult", "Parsed", "Parser", "Rejected", "Skipped"]


@dataclass(frozen=True)
class Rejected:
    """A line or document that cannot be indexed; ``source`` is ``file:line`` (or ``#n``)."""

    source: str  # file:line, or #n for documents from memory
    reason: str
    text: str | None = field(default=None, compare=False)  # the line as read, for --rejects

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass(frozen=True)
class Skipped:
    """A well-formed line that carries nothing soc reads (counted, never an error)."""

    source: str
    reason: str


@dataclass(frozen=True)
class Parsed:
    """One ECS event (nested objects, ``event.id`` set) read from ``source`` (``file:line``).

    ``digest`` says what makes two events with one ``event.id`` the same event; None means
    their whole content (a Zeek record names its flow by ``uid``: the same flow seen by two
    sensors is one event, however their byte counts differ).
    """

    source: str
    doc: dict[str, Any]
    digest: str | None = None
    text: str | None = field(default=None, compare=False, repr=False)  # the raw line, for reports


ParseResult = Parsed | Skipped | Rejected


class Parser(Protocol):
    """A pure function from the lines of one file to results, one or more per non-blank line.

    ``source`` names the file in every result; ``tz`` is the zone of timestamps that carry
    none (RFC 3164 syslog); ``reference`` is "now", to infer the year syslog leaves out.
    """

    def __call__(
        self, lines: Iterable[str], *, source: str, tz: ZoneInfo, reference: datetime
    ) -> Iterator[ParseResult]: ...
