"""The one table from ``--format`` name to parser, the guess behind ``--format auto``, and
the strict reading of a file's lines (an undecodable line is that line's rejection)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

from soc.parsers import cef, fortigate, netfilter, sshd, windows, zeek
from soc.parsers.common import guarded, load_json_object
from soc.parsers.models import Parsed, Parser, ParseResult, Rejected

__all__ = ["FORMATS", "MAX_LINE", "PARSERS", "guess_format", "parse_ecs", "parse_file", "read_head", "read_lines"]

PARSERS: dict[str, Parser] = {
    sshd.FORMAT: sshd.parse_lines,
    windows.FORMAT: windows.parse_lines,
    zeek.FORMAT: zeek.parse_lines,
    fortigate.FORMAT: fortigate.parse_lines,
    cef.FORMAT: cef.parse_lines,
    netfilter.FORMAT: netfilter.parse_lines,
}
# every --format choice: "ecs" (the NDJSON soc reads natively), the parsers, and "auto"
FORMATS = ("ecs", *PARSERS, "auto")
_HEAD = 10
MAX_LINE = 1 << 20  # bytes: a longer "line" is a binary or runaway file, not a log record


def guess_format(head: Iterable[str]) -> str | None:
    """The format of a file from its first non-empty lines, or None when nothing fits.

    Decided by the first line that says something: a Zeek ``#`` header, a JSON object
    whose keys name its producer, or a syslog line (netfilter packet logs only when every
    line of the head is one: a syslog file that mixes them with sshd is read as sshd).
    """
    lines = [line.strip() for line in head if line.strip()]
    for text in lines:
        if text.startswith(("#separator", "#fields", "#path")):
            return zeek.FORMAT
        if text.startswith("<Event"):
            return windows.FORMAT
        if cef.looks_like(text):  # before sshd: CEF and FortiGate often arrive behind a syslog header
            return cef.FORMAT
        if fortigate.looks_like(text):
            return fortigate.FORMAT
        if netfilter.looks_like(text) and all(map(netfilter.looks_like, lines)):
            return netfilter.FORMAT  # a firewall log; a syslog file that mixes in sshd stays sshd's
        if text.startswith("{"):
            try:
                obj = json.loads(text)
            except json.JSONDecodeError:
                continue  # a malformed first line must not hide the well-formed second
            if not isinstance(obj, dict):
                continue
            if "Event" in obj or "winlog" in obj or "winlog.event_id" in obj or "EventID" in obj:
                return windows.FORMAT
            if "id.orig_h" in obj or "id_orig_h" in obj or ("uid" in obj and "ts" in obj):
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


def _raw_lines(fh: BinaryIO) -> Iterator[tuple[bytes, bool]]:
    """The file's lines as ``(bytes, too_long)``; a line longer than MAX_LINE is cut there
    and the rest of it skipped."""
    while True:
        data = fh.readline(MAX_LINE + 1)
        if not data:
            return
        if len(data) > MAX_LINE and not data.endswith(b"\n"):
            while (more := fh.readline(MAX_LINE)) and not more.endswith(b"\n"):
                pass
            yield data, True
            continue
        yield data, False


def _shown(data: bytes) -> str:
    """A line as it can be shown: undecodable bytes as ``\\xNN``, at most 64 KiB."""
    return data.rstrip(b"\r\n")[:65536].decode("utf-8", "backslashreplace")


def read_lines(path: Path, *, encoding: str, bad: list[Rejected]) -> Iterator[str]:
    """Every line of ``path`` decoded strictly; a line that does not decode (or is longer
    than MAX_LINE) is appended to ``bad`` as that line's rejection and read as an empty
    line, so the parser's line numbers stay the file's. A UTF-8 byte-order mark is dropped."""
    with path.open("rb") as fh:
        for lineno, (data, too_long) in enumerate(_raw_lines(fh), start=1):
            if too_long:
                bad.append(Rejected(f"{path}:{lineno}", f"line longer than {MAX_LINE:,} bytes", _shown(data[:200])))
                yield "\n"
                continue
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError as exc:
                reason = (
                    f"not valid {encoding} at byte {exc.start + 1} of the line "
                    "(give --encoding if the file is written in another one, e.g. cp932)"
                )
                bad.append(Rejected(f"{path}:{lineno}", reason, _shown(data)))
                yield "\n"
                continue
            yield text.removeprefix("\ufeff") if lineno == 1 else text


def parse_ecs(lines: Iterable[str], *, source: str) -> Iterator[ParseResult]:
    """ECS NDJSON: one bounded JSON object per line (validated at ingest by ``prepare``); a
    Winlogbeat 4672 gets the logon type and source of its 4624, as from ``windows-json``."""
    return windows.join_ecs_logons(_ecs_lines(lines, source=source))


def _ecs_lines(lines: Iterable[str], *, source: str) -> Iterator[ParseResult]:
    for lineno, line in enumerate(lines, start=1):
        text = line.strip()
        if text:
            where = f"{source}:{lineno}"
            try:  # the hot path of ``soc ingest``: one call per good line
                result = Parsed(where, load_json_object(text), text=text)
            except Exception:  # noqa: BLE001 - read again through the guard, for its message
                yield from guarded(where, _ecs_line(text, where), text)
                continue
            yield result


def _ecs_line(text: str, where: str) -> Iterator[ParseResult]:
    yield Parsed(where, load_json_object(text), text=text)


def parse_file(
    path: Path, fmt: str, *, tz: ZoneInfo, reference: datetime, encoding: str = "utf-8"
) -> Iterator[ParseResult]:
    """Stream one file through the parser of ``fmt`` (a key of PARSERS, or "ecs").

    Lines that do not decode are rejected in their place; should a parser fail outside its
    per-line guard, the failure is reported at the file and what was read stays read.
    """
    bad: list[Rejected] = []
    lines = read_lines(path, encoding=encoding, bad=bad)
    if fmt == "ecs":
        results = parse_ecs(lines, source=str(path))
    else:
        results = PARSERS[fmt](lines, source=str(path), tz=tz, reference=reference)
    try:
        for result in results:
            if bad:
                yield from bad
                bad.clear()
            yield result
    except Exception as exc:  # noqa: BLE001 - a parser bug must not lose what was read
        reason = f"reading stopped ({type(exc).__name__}: {str(exc)[:200]}); the lines after it were not read"
        yield Rejected(str(path), reason)
    yield from bad
