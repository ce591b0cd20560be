"""OpenSSH authentication lines from syslog (``/var/log/auth.log``, ``/var/log/secure``).

Three timestamp shapes are read: RFC 3164 (``Nov 23 09:00:01``, no year and no zone: the
zone is the configured one and the year is inferred from a reference time), RFC 5424 and
the ISO 8601 prefix of rsyslog's high-precision template.

Only the lines that record a credential being tried carry ``event.outcome`` success or
failure ("Failed password", "Accepted publickey"). The lines around them ("Invalid user",
"maximum authentication attempts exceeded", "Connection closed by authenticating user",
"Disconnected from") restate an attempt already logged, so they carry ``unknown``:
otherwise every failed password for an invalid user would count twice in the failure
detectors. Everything else (other programs, other sshd messages) is skipped and counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from soc.parsers.common import BadLine, event_id, ip_or_none, port_or_none, put, split_user
from soc.parsers.models import Parsed, ParseResult, Rejected, Skipped
from soc.vocab import iso

__all__ = ["FORMAT", "parse_lines", "parse_syslog_time", "syslog_header"]

FORMAT = "sshd"
_PROGRAMS = frozenset({"sshd", "sshd-session", "sshd-auth"})  # OpenSSH ≥ 9.8 logs as sshd-session
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, start=1)}

_RFC3164 = re.compile(
    r"^(?:<\d{1,3}>)?(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?P<time>\d{2}:\d{2}:\d{2}) "
    r"(?P<host>\S+) (?P<prog>[^\s:\[]+)(?:\[(?P<pid>\d+)\])?: ?(?P<msg>.*)$"
)
_ISO = re.compile(
    r"^(?:<\d{1,3}>)?(?P<ts>\d{4}-\d{2}-\d{2}T\S+) (?P<host>\S+) "
    r"(?P<prog>[^\s:\[]+)(?:\[(?P<pid>\d+)\])?: ?(?P<msg>.*)$"
)
_RFC5424 = re.compile(
    r"^<\d{1,3}>1 (?P<ts>\S+) (?P<host>\S+) (?P<prog>\S+) (?P<pid>\S+) \S+ (?:-|(?:\[.*?\])+) ?(?P<msg>.*)$"
)

_ADDR = r"(?P<addr>\S+)"
_PORT = r"port (?P<port>\d+)"
_REPEATED = re.compile(r"^message repeated (?P<n>\d+) times: \[ ?(?P<msg>.*?) ?\]$")

# (pattern, category, type, action, outcome); the first match wins
_MESSAGES: list[tuple[re.Pattern[str], str, str, str, str]] = [
    (
        re.compile(rf"^Failed (?P<method>\S+) for (?P<invalid>invalid user )?(?P<user>.*?) from {_ADDR} {_PORT}"),
        "authentication",
        "start",
        "ssh-login-failed",
        "failure",
    ),
    (
        re.compile(rf"^Accepted (?P<method>\S+) for (?P<user>.*?) from {_ADDR} {_PORT}"),
        "authentication",
        "start",
        "ssh-login",
        "success",
    ),
    (
        re.compile(rf"^Invalid user (?P<user>.*?) from {_ADDR}(?: {_PORT})?\s*$"),
        "authentication",
        "info",
        "ssh-invalid-user",
        "unknown",
    ),
    (
        re.compile(
            rf"^(?:error: )?maximum authentication attempts exceeded for (?P<invalid>invalid user )?"
            rf"(?P<user>.*?) from {_ADDR} {_PORT}"
        ),
        "authentication",
        "info",
        "ssh-max-auth-attempts-exceeded",
        "unknown",
    ),
    (
        re.compile(rf"^Connection closed by (?:authenticating|invalid) user (?P<user>.*?) {_ADDR} {_PORT}"),
        "authentication",
        "end",
        "ssh-connection-closed-preauth",
        "unknown",
    ),
    (
        re.compile(
            rf"^Disconnected from (?:(?:invalid|authenticating) user (?P<user>.*?) ){_ADDR} {_PORT} \[preauth\]"
        ),
        "authentication",
        "end",
        "ssh-disconnected-preauth",
        "unknown",
    ),
    (
        re.compile(rf"^Disconnected from user (?P<user>.*?) {_ADDR} {_PORT}"),
        "session",
        "end",
        "ssh-disconnected",
        "success",
    ),
]
_NUMERIC = re.compile(r"^[\d.]+$|^[0-9a-fA-F:]*:[0-9a-fA-F:.]*$")  # looks like an address, is not one


def parse_syslog_time(month: str, day: str, clock: str, *, tz: ZoneInfo, reference: datetime) -> datetime:
    """An RFC 3164 time in ``tz``. The year is the reference's, unless the month is later
    than the reference month: then the line was written last year (a December line read
    on 2 January)."""
    mon = _MONTHS.get(month)
    if mon is None:
        raise BadLine(f"unknown month {month!r}")
    ref = reference.astimezone(tz)
    year = ref.year - 1 if mon > ref.month else ref.year
    hh, mm, ss = (int(x) for x in clock.split(":"))
    try:
        return datetime(year, mon, int(day), hh, mm, ss, tzinfo=tz)
    except ValueError as exc:
        raise BadLine(f"impossible time {month} {day} {clock} in {year}: {exc}") from None


def _iso_time(text: str, tz: ZoneInfo) -> datetime:
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise BadLine(f"not an ISO 8601 time: {text!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


def syslog_header(line: str, *, tz: ZoneInfo, reference: datetime) -> tuple[datetime, str, str, str | None, str]:
    """``(time, host, program, pid, message)`` of a syslog line, or BadLine."""
    if m := _RFC3164.match(line):
        at = parse_syslog_time(m["mon"], m["day"], m["time"], tz=tz, reference=reference)
        return at, m["host"], m["prog"], m["pid"], m["msg"]
    for pattern in (_RFC5424, _ISO):
        if m := pattern.match(line):
            pid = m["pid"] if m["pid"] not in (None, "-") else None
            return _iso_time(m["ts"], tz), m["host"], m["prog"], pid, m["msg"]
    raise BadLine("not a syslog line: expected 'Mon DD HH:MM:SS host prog[pid]: …', RFC 5424 or an ISO 8601 time")


def _event(message: str, *, at: datetime, host: str, program: str, pid: str | None) -> dict[str, Any] | None:
    for pattern, category, etype, action, outcome in _MESSAGES:
        m = pattern.match(message)
        if m is None:
            continue
        groups = m.groupdict()
        doc: dict[str, Any] = {
            "@timestamp": iso(at),
            "message": message,
            "event": {
                "kind": "event",
                "category": [category],
                "type": [etype],
                "action": action,
                "outcome": outcome,
                "dataset": "system.auth",
                "module": "system",
                "provider": program,
            },
            "host": {"name": host},
            "process": {"name": program},
        }
        put(doc, "process.pid", int(pid) if pid and pid.isdigit() else None)
        name, domain = split_user(groups.get("user"))
        put(doc, "user.name", name)
        put(doc, "user.domain", domain)
        addr = groups["addr"]
        ip = ip_or_none(addr)
        if ip is None and _NUMERIC.match(addr):
            raise BadLine(f"{addr!r} is not an IP address")
        if ip is not None:
            put(doc, "source.ip", ip)
        else:  # sshd with UseDNS logs the client's host name instead
            put(doc, "source.address", addr)
            put(doc, "source.domain", addr.lower())
        put(doc, "source.port", port_or_none(groups.get("port"), "port"))
        if groups.get("method"):
            put(doc, "system.auth.ssh.method", groups["method"])
        if groups.get("invalid"):
            doc["tags"] = ["invalid-user"]
        put(doc, "related.user", [name] if name else None)
        put(doc, "related.ip", [ip] if ip else None)
        return doc
    return None


def parse_lines(lines: Iterable[str], *, source: str, tz: ZoneInfo, reference: datetime) -> Iterator[ParseResult]:
    """Read syslog lines; yield one event per sshd authentication line."""
    for lineno, line in enumerate(lines, start=1):
        raw = line.rstrip("\r\n")
        if not raw.strip():
            continue
        where = f"{source}:{lineno}"
        try:
            at, host, program, pid, message = syslog_header(raw, tz=tz, reference=reference)
            if program not in _PROGRAMS:
                yield Skipped(where, f"not sshd ({program})")
                continue
            repeat = 1
            if m := _REPEATED.match(message):  # rsyslog collapses identical messages
                repeat, message = int(m["n"]), m["msg"]
            doc = _event(message, at=at, host=host, program=program, pid=pid)
        except BadLine as exc:
            yield Rejected(where, str(exc))
            continue
        if doc is None:
            yield Skipped(where, "an sshd message soc does not read")
            continue
        for n in range(repeat):
            copy = doc if n == repeat - 1 else {**doc, "event": dict(doc["event"])}
            copy["event"]["id"] = event_id(FORMAT, raw, n)
            yield Parsed(where, copy)
