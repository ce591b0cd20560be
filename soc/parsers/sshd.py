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

Pre-authentication protocol failures (CrowdSec's sshd parsers count them as failed
attempts; Filebeat leaves them unparsed) are network events, ``event.category: network``,
``event.outcome: failure``, keyed on the client address, never credential attempts: a
client that sends no or a malformed banner (``ssh-banner-exchange-failed``), offers only
algorithms the server refuses (``ssh-negotiation-failed``), stays silent until
``LoginGraceTime`` (``ssh-preauth-timeout``), corrupts the transport (bad packet length,
MAC errors: ``ssh-protocol-error``) or drops the connection before authenticating, with or
without having sent its banner (``ssh-preauth-disconnect``). Scanners, banner grabbers and exploit attempts (such as
CVE-2024-6387, which relies on many pre-auth timeouts) leave exactly these lines. Their
destination is the server that logged them (``destination.address``). The lines with no
client address (``kex_exchange_identification: …``, an old sshd's ``Bad packet length``)
are skipped.

Syslog gives no event id: an event's id is a hash of its line. Two identical lines in one
file are two events (sshd wrote it twice), as "message repeated 2 times" is: the n-th
copy of a line seen recently gets its own id, and reading the same file again gives the
same ids.

PAM's own lines (``pam_unix(sshd:auth): authentication failure; … rhost=… user=…`` and
``PAM 4 more authentication failures; …``) are failures too: where sshd logs no "Failed
password" line (PAM-only logging, old ``sshd(pam_unix)`` syslog), they are the only trace
of a brute force. Where sshd does log its own line for the same connection (same host and
pid), the PAM line restates it and carries ``unknown``, so an attempt counts once: a PAM
failure waits up to ``PAM_GRACE`` of log time for sshd's line before it counts.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from soc.parsers.common import BadLine, event_id, guarded, ip_or_none, port_or_none, put, split_user
from soc.parsers.models import Parsed, ParseResult, Skipped
from soc.vocab import iso

__all__ = ["FORMAT", "PAM_GRACE", "parse_lines", "parse_syslog_time", "syslog_header"]

FORMAT = "sshd"
_PROGRAMS = frozenset({"sshd", "sshd-session", "sshd-auth"})  # OpenSSH ≥ 9.8 logs as sshd-session
_PAM_PROGRAMS = frozenset({"sshd(pam_unix)"})  # RHEL 4 era: "sshd(pam_unix)[pid]: authentication failure; …"
PAM_GRACE = timedelta(seconds=60)
_PAM_FAILURE = re.compile(r"^(?:pam_[\w-]+\((?:sshd|sshd-session):auth\): )?authentication failure; (?P<kv>.*)$")
_PAM_MORE = re.compile(r"^PAM (?P<n>\d+) more authentication failures?; (?P<kv>.*)$")
_KV = re.compile(r"(?P<k>\w+)=(?P<v>\S*)")
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

# (pattern, category, type, action, outcome); the first match wins. A user name is the
# client's to choose and may hold " from 10.0.0.5 port 22" (sshd logs it as sent): the user
# group is greedy, so the address is the last "from … port …", the one sshd wrote.
_MESSAGES: list[tuple[re.Pattern[str], str, str, str, str]] = [
    (
        re.compile(rf"^Failed (?P<method>\S+) for (?P<invalid>invalid user )?(?P<user>.*) from {_ADDR} {_PORT}"),
        "authentication",
        "start",
        "ssh-login-failed",
        "failure",
    ),
    (
        re.compile(rf"^Accepted (?P<method>\S+) for (?P<user>.*) from {_ADDR} {_PORT}"),
        "authentication",
        "start",
        "ssh-login",
        "success",
    ),
    (
        re.compile(rf"^Invalid user (?P<user>.*) from {_ADDR}(?: {_PORT})?\s*$"),
        "authentication",
        "info",
        "ssh-invalid-user",
        "unknown",
    ),
    (
        re.compile(
            rf"^(?:error: )?maximum authentication attempts exceeded for (?P<invalid>invalid user )?"
            rf"(?P<user>.*) from {_ADDR} {_PORT}"
        ),
        "authentication",
        "info",
        "ssh-max-auth-attempts-exceeded",
        "unknown",
    ),
    (
        re.compile(rf"^Connection closed by (?:authenticating|invalid) user (?P<user>.*) {_ADDR} {_PORT}"),
        "authentication",
        "end",
        "ssh-connection-closed-preauth",
        "unknown",
    ),
    (
        re.compile(rf"^Disconnected from (?:(?:invalid|authenticating) user (?P<user>.*) ){_ADDR} {_PORT} \[preauth\]"),
        "authentication",
        "end",
        "ssh-disconnected-preauth",
        "unknown",
    ),
    (
        re.compile(rf"^Disconnected from user (?P<user>.*) {_ADDR} {_PORT}"),
        "session",
        "end",
        "ssh-disconnected",
        "success",
    ),
]
_WHO = r"(?:(?:invalid|authenticating) user (?P<user>.*) )?"
# (pattern, action); the first match wins; every one is a pre-authentication failure
_PROTOCOL: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"^banner exchange: Connection from {_ADDR} {_PORT}: (?P<reason>.+)$"), "ssh-banner-exchange-failed"),
    (
        re.compile(rf"^Bad protocol version identification (?P<reason>'.*') from {_ADDR}(?: {_PORT})?"),
        "ssh-banner-exchange-failed",
    ),
    (
        re.compile(rf"^Protocol major versions differ for {_ADDR}(?: {_PORT})?: (?P<reason>.+)$"),
        "ssh-banner-exchange-failed",
    ),
    (
        re.compile(
            rf"^(?:fatal: )?Unable to negotiate with {_WHO}{_ADDR} {_PORT}: (?P<reason>no matching .*?)(?:\.|$)"
        ),
        "ssh-negotiation-failed",
    ),
    (re.compile(rf"^(?:fatal: )?Timeout before authentication for {_ADDR} {_PORT}"), "ssh-preauth-timeout"),
    # OpenSSH >= 9.8: the listener logs it, naming the connection's both ends
    (re.compile(rf"^Timeout before authentication for connection from {_ADDR} to \S+, pid"), "ssh-preauth-timeout"),
    (
        re.compile(
            rf"^(?:ssh_dispatch_run_fatal|fatal): Connection from {_WHO}{_ADDR} {_PORT}: "
            r"(?P<reason>.+?)(?: \[preauth\])?$"
        ),
        "ssh-protocol-error",
    ),
    (re.compile(rf"^Connection (?:closed|reset) by {_ADDR} {_PORT} \[preauth\]"), "ssh-preauth-disconnect"),
    # connected and sent nothing (OpenSSH < 8 logs a TCP health check or a port scan so;
    # later versions log a bare close): not a malformed banner
    (re.compile(rf"^Did not receive identification string from {_ADDR}(?: {_PORT})?"), "ssh-preauth-disconnect"),
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


@dataclass(frozen=True)
class _Header:
    """What the syslog header says of a line."""

    at: datetime
    host: str
    program: str
    pid: str | None


def _event(message: str, header: _Header) -> dict[str, Any] | None:
    for pattern, category, etype, action, outcome in _MESSAGES:
        m = pattern.match(message)
        if m is None:
            continue
        groups = m.groupdict()
        kind = (category, etype, action, outcome)
        # sshd with UseDNS logs the client's host name instead of its address
        doc, name, ip = _skeleton(message, header, kind=kind, user=groups.get("user"), addr=groups["addr"])
        put(doc, "source.port", port_or_none(groups.get("port"), "port"))
        if groups.get("method"):
            put(doc, "system.auth.ssh.method", groups["method"])
        if groups.get("invalid"):
            doc["tags"] = ["invalid-user"]
        put(doc, "related.user", [name] if name else None)
        put(doc, "related.ip", [ip] if ip else None)
        return doc
    return None


def _protocol_event(message: str, header: _Header) -> dict[str, Any] | None:
    """A pre-authentication protocol failure keyed on its client address, or None."""
    for pattern, action in _PROTOCOL:
        m = pattern.match(message)
        if m is None:
            continue
        groups = m.groupdict()
        kind = ("network", "connection", action, "failure")
        doc, name, ip = _skeleton(message, header, kind=kind, user=groups.get("user"), addr=groups["addr"])
        doc["event"]["type"] = ["connection", "error"]
        put(doc, "source.port", port_or_none(groups.get("port"), "port"))
        put(doc, "destination.address", header.host)  # the server that logged it; its address is not in the line
        put(doc, "network.protocol", "ssh")
        put(doc, "network.transport", "tcp")
        put(doc, "error.message", groups.get("reason"))
        if message.startswith("Did not receive identification string"):
            put(doc, "system.auth.ssh.dropped_ip", ip)  # where Filebeat's grok puts it
        put(doc, "related.user", [name] if name else None)
        put(doc, "related.ip", [ip] if ip else None)
        return doc
    return None


def _source(doc: dict[str, Any], addr: str) -> str | None:
    """``source.ip`` for an address, ``source.domain`` for a host name (sshd with UseDNS,
    PAM's rhost); returns the IP. BadLine for something that looks like an address and is not."""
    ip = ip_or_none(addr)
    if ip is None and _NUMERIC.match(addr):
        raise BadLine(f"{addr!r} is not an IP address")
    if ip is not None:
        put(doc, "source.ip", ip)
    elif addr:
        put(doc, "source.address", addr)
        put(doc, "source.domain", addr.lower().lstrip("\\"))
    return ip


def _skeleton(
    message: str,
    header: _Header,
    *,
    kind: tuple[str, str, str, str],
    user: str | None,
    addr: str,
) -> tuple[dict[str, Any], str | None, str | None]:
    """The event every sshd/PAM line shares: ``(doc, user name, source ip)``; ``kind`` is
    ``(category, type, action, outcome)``."""
    category, etype, action, outcome = kind
    program, pid = header.program, header.pid
    doc: dict[str, Any] = {
        "@timestamp": iso(header.at),
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
        "host": {"name": header.host},
        "process": {"name": program},
    }
    put(doc, "process.pid", int(pid) if pid and pid.isdigit() else None)
    name, domain = split_user(user)
    put(doc, "user.name", name)
    put(doc, "user.domain", domain)
    return doc, name, _source(doc, addr)


def _pam_event(message: str, header: _Header) -> tuple[dict[str, Any], int] | None:
    """A PAM authentication failure and how many attempts it stands for, or None."""
    count = 1
    m = _PAM_FAILURE.match(message)
    if m is None:
        m = _PAM_MORE.match(message)
        if m is None:
            return None
        count = int(m["n"])
    fields: dict[str, str] = {}
    for kv in _KV.finditer(m["kv"]):  # the first of a key: "user=" comes last and its value is the client's
        fields.setdefault(kv["k"], kv["v"])
    kind = ("authentication", "start", "ssh-pam-auth-failure", "failure")
    doc, name, ip = _skeleton(message, header, kind=kind, user=fields.get("user"), addr=fields.get("rhost", ""))
    put(doc, "related.user", [name] if name else None)
    put(doc, "related.ip", [ip] if ip else None)
    return doc, count


_Pending = tuple[datetime, list[Parsed]]


class _PamTracker:
    """Decides whether a PAM failure restates an sshd "Failed …" line of the same connection.

    Keyed by (host, pid). Bounded: at most ``limit`` connections are remembered; the oldest
    pending PAM failures count as failures when the table is full.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self.now: datetime | None = None
        # connections sshd logged a failure of: when, and for which user
        self.sshd_logs: OrderedDict[tuple[str, str], tuple[datetime, str | None]] = OrderedDict()
        self.pending: OrderedDict[tuple[str, str], _Pending] = OrderedDict()

    def clock(self, at: datetime) -> None:
        self.now = at if self.now is None or at > self.now else self.now

    def hold(self, key: tuple[str, str], at: datetime, events: list[Parsed]) -> Iterator[Parsed]:
        seen = self.sshd_logs.get(key)
        if seen is not None and abs(at - seen[0]) <= PAM_GRACE * 10:
            yield from _restating(events, seen[1])
            return
        held = self.pending.setdefault(key, (at, []))
        held[1].extend(events)
        while len(self.pending) > self.limit:
            yield from self.pending.popitem(last=False)[1][1]

    def sshd_failure(self, key: tuple[str, str], at: datetime, user: str | None) -> Iterator[Parsed]:
        self.sshd_logs[key] = (at, user)
        self.sshd_logs.move_to_end(key)
        while len(self.sshd_logs) > self.limit:
            self.sshd_logs.popitem(last=False)
        held = self.pending.pop(key, None)
        if held is not None:
            yield from _restating(held[1], user)

    def due(self) -> Iterator[Parsed]:
        """PAM failures whose connection logged no sshd line within the grace period."""
        if self.now is None:
            return
        while self.pending:  # oldest first: entries are in the order they were first held
            key, (at, events) = next(iter(self.pending.items()))
            if self.now - at <= PAM_GRACE:
                return
            del self.pending[key]
            yield from events

    def flush(self) -> Iterator[Parsed]:
        for _, events in self.pending.values():
            yield from events
        self.pending.clear()


class _Copies:
    """How many events the same raw line has already stood for, among the last ``limit``
    distinct lines: the n-th copy of a line gets ids after the earlier copies' ids."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self.seen: OrderedDict[str, int] = OrderedDict()

    def first(self, raw: str, count: int) -> int:
        start = self.seen.pop(raw, 0)
        self.seen[raw] = start + count
        while len(self.seen) > self.limit:
            self.seen.popitem(last=False)
        return start


def _restating(events: list[Parsed], user: str | None) -> Iterator[Parsed]:
    """PAM failures that sshd's own "Failed …" line of the connection counts. PAM leaves out
    ``user=`` for an account that does not exist; sshd's line names it: the event gets it
    (not an authentication event without a user, reported as incomplete)."""
    for ev in events:
        ev.doc["event"]["outcome"] = "unknown"  # sshd's own line counts this attempt
        if user and not (ev.doc.get("user") or {}).get("name"):
            put(ev.doc, "user.name", user)
            put(ev.doc, "related.user", [user])
        yield ev


def _line(
    raw: str, where: str, *, tz: ZoneInfo, reference: datetime, pam: _PamTracker, copies: _Copies
) -> Iterator[ParseResult]:
    at, host, program, pid, message = syslog_header(raw, tz=tz, reference=reference)
    pam.clock(at)
    if program not in _PROGRAMS and program not in _PAM_PROGRAMS:
        yield Skipped(where, f"not sshd ({program})")
        return
    repeat = 1
    if m := _REPEATED.match(message):  # rsyslog collapses identical messages
        repeat, message = int(m["n"]), m["msg"]
    if repeat > 100_000:
        raise BadLine(f"message repeated {repeat} times: more than 100,000 is no real log")
    key = (host, pid or "")
    header = _Header(at, host, program, pid)
    pam_event = _pam_event(message, header)
    if pam_event is not None:
        doc, count = pam_event
        if count * repeat > 100_000:
            raise BadLine(f"{count * repeat} authentication failures in one line: more than 100,000 is no real log")
        total = count * repeat
        first = copies.first(raw, total)
        events = [Parsed(where, _with_id(doc, raw, first + n, last=n == total - 1), text=raw) for n in range(total)]
        yield from pam.hold(key, at, events)
        return
    event = (_event(message, header) or _protocol_event(message, header)) if program in _PROGRAMS else None
    if event is None:
        yield Skipped(where, "an sshd message soc does not read")
        return
    doc = event
    if doc["event"]["action"] == "ssh-login-failed":
        yield from pam.sshd_failure(key, at, (doc.get("user") or {}).get("name"))
    first = copies.first(raw, repeat)
    for n in range(repeat):
        yield Parsed(where, _with_id(doc, raw, first + n, last=n == repeat - 1), text=raw)


def _with_id(doc: dict[str, Any], raw: str, n: int, *, last: bool) -> dict[str, Any]:
    """The event of the n-th attempt a line stands for, with its own id (a copy but for the last)."""
    copy = doc if last else {**doc, "event": dict(doc["event"])}
    copy["event"]["id"] = event_id(FORMAT, raw, n)
    return copy


def parse_lines(lines: Iterable[str], *, source: str, tz: ZoneInfo, reference: datetime) -> Iterator[ParseResult]:
    """Read syslog lines; yield one event per sshd authentication attempt."""
    pam = _PamTracker()
    copies = _Copies()
    for lineno, line in enumerate(lines, start=1):
        raw = line.rstrip("\r\n")
        if not raw.strip():
            continue
        where = f"{source}:{lineno}"
        yield from guarded(where, _line(raw, where, tz=tz, reference=reference, pam=pam, copies=copies), raw)
        yield from pam.due()
    yield from pam.flush()
