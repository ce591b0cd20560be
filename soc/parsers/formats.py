"""The one table from ``--format`` name to parser, and the guess behind ``--format auto``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import islice
from pathlib import Path
from zoneinfo import ZoneInfo

from soc.parsers import cef, fortigate, sshd, windows, zeek
from soc.parsers.models import Parser, ParseResult

__all__ = ["FORMATS", "PARSERS", "guess_format", "parse_file", "read_head"]

PARSERS: dict[str, Parser] = {
    sshd.FORMAT: sshd.parse_lines,
    windows.FORMAT: windows.parse_lines,
    zeek.FORMAT: zeek.parse_lines,
    fortigate.FORMAT: fortigate.parse_lines,
    cef.FORMAT: cef.parse_lines,
}
# every --format choice: "ecs" (the NDJSON soc reads natively), the parsers, and "auto"
FORMATS = ("ecs", *PARSERS, "auto")
_HEAD = 10


def guess_format(head: Iterable[str]) -> str | None:
    """The format of a file from its first non-empty lines, or None when nothing fits.

    Decided by the first line that says something: a Zeek ``#`` header, a JSON object
    whose keys name its producer, or a syslog line.
    """
    for line in head:
        text = line.strip()
        if not text:
            continue
        if text.startswith(("#separator", "#fields", "#path")):
            return zeek.FORMAT
        if cef.looks_like(text):  # before sshd: CEF and FortiGate often arrive behind a syslog header
            return cef.FORMAT
        if fortigate.looks_like(text):
            return fortigate.FORMAT
        if text.startswith("{"):
            try:
                obj = json.loads(text)
            except json.JSONDecodeError:
                continue  # a malformed first line must not hide the well-formed second
            if not isinstance(obj, dict):
                continue
            if "Event" in obj or "winlog" in obj or "winlog.event_id" in obj:
                return windows.FORMAT
            if "id.orig_h" in obj or ("uid" in obj and "ts" in obj):
                return zeek.FORMAT
            return "ecs"
        try:
            sshd.syslog_header(text, tz=ZoneInfo("UTC"), reference=datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC")))
        except ValueError:
            continue
        return sshd.FORMAT
    return None


def read_head(path: Path, n: int = _HEAD) -> list[str]:
    """The first ``n`` non-empty lines of a file, for ``guess_format``."""
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        return list(islice((line for line in fh if line.strip()), n))


def parse_file(path: Path, fmt: str, *, tz: ZoneInfo, reference: datetime) -> Iterator[ParseResult]:
    """Stream one file through the parser of ``fmt`` (a key of PARSERS)."""
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        yield from PARSERS[fmt](fh, source=str(path), tz=tz, reference=reference)
