"""ArcSight Common Event Format (CEF), as many UTMs, proxies and firewalls emit it.

``CEF:0|Vendor|Product|Version|SignatureID|Name|Severity|key=value key=value ...`` after
an optional syslog header (RFC 3164, or the RFC 3339 prefix ``deploy/rsyslog`` writes).
In the header ``\\|`` and ``\\\\`` are escapes; in the extension a value runs up to the
next `` key=``, and ``\\=``, ``\\\\``, ``\\n`` and ``\\r`` are escapes.

Mapping to ECS: ``src``/``dst``/``spt``/``dpt``/``proto`` (and their long names) to the
flow; ``suser``/``duser`` to ``user.name``; ``act``, ``outcome``, ``cat`` to the event. The
category is chosen from what the event says: a logon (``suser`` or ``duser`` with a name or
category about login/logon/auth) is ``authentication``; a high severity or a name about an
attack, worm, virus or intrusion is ``intrusion_detection`` (``event.kind: alert``); any
other event with addresses is ``network``. The time is ``rt`` (epoch milliseconds or
``MMM dd yyyy HH:mm:ss``), else ``end``/``start``, else the syslog header's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from soc.parsers.common import (
    BadLine,
    event_id,
    guarded,
    ip_or_none,
    numbered_lines,
    port_or_none,
    put,
    split_user,
)
from soc.parsers.models import Parsed, ParseResult, Rejected, Skipped
from soc.parsers.sshd import parse_syslog_time
from soc.vocab import iso, parse_time

__all__ = ["FORMAT", "looks_like", "parse_extension", "parse_header", "parse_lines"]

FORMAT = "cef"

_CEF = re.compile(r"CEF: ?\d+\|")  # rsyslog takes "CEF:" for a tag and may add a space after it
_KEY = re.compile(r"(?:^|(?<=\s))([A-Za-z_][\w.\[\]-]*)=")
_ISO_PREFIX = re.compile(r"^(?:<\d{1,3}>)?(?:1 )?(?P<ts>\d{4}-\d{2}-\d{2}T\S+) (?P<host>\S+) ")
_BSD_PREFIX = re.compile(
    r"^(?:<\d{1,3}>)?(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?P<time>\d\d:\d\d:\d\d) (?P<host>\S+) "
)
_CEF_TIME_FORMATS = ("%b %d %Y %H:%M:%S", "%b %d %Y %H:%M:%S.%f", "%b %d %H:%M:%S")
_LOGON = re.compile(r"log ?[io]n|sign ?in|auth", re.IGNORECASE)
_ATTACK = re.compile(r"attack|worm|trojan|virus|malware|intrusion|exploit|ips\b|anomaly", re.IGNORECASE)
_FAIL = re.compile(r"fail|denied|deny|block|reject|invalid|bad password", re.IGNORECASE)
_TRANSPORTS = {"1": "icmp", "6": "tcp", "17": "udp", "58": "ipv6-icmp"}

# CEF key (short and long names) -> ECS field
_FIELDS = {
    ("src", "sourceAddress"): "source.ip",
    ("dst", "destinationAddress"): "destination.ip",
    ("shost", "sourceHostName"): "source.domain",
    ("dhost", "destinationHostName"): "destination.domain",
    ("smac", "sourceMacAddress"): "source.mac",
    ("dmac", "destinationMacAddress"): "destination.mac",
    ("sourceTranslatedAddress",): "source.nat.ip",
    ("dvchost", "deviceHostName"): "observer.hostname",
    ("dvc", "deviceAddress"): "observer.ip",
    ("deviceExternalId",): "observer.serial_number",
    ("deviceInboundInterface",): "observer.ingress.interface.name",
    ("deviceOutboundInterface",): "observer.egress.interface.name",
    ("request",): "url.original",
    ("requestMethod",): "http.request.method",
    ("requestClientApplication",): "user_agent.original",
    ("app", "applicationProtocol"): "network.protocol",
    ("msg", "message"): "message",
    ("cat", "deviceEventCategory"): "event.provider",
    ("reason",): "event.reason",
}
_INTS = {
    ("spt", "sourcePort"): "source.port",
    ("dpt", "destinationPort"): "destination.port",
    ("sourceTranslatedPort",): "source.nat.port",
    ("out", "bytesOut"): "source.bytes",
    ("in", "bytesIn"): "destination.bytes",
}


def looks_like(line: str) -> bool:
    """Is this a CEF line, with or without a syslog header (for ``--format auto``)?"""
    return bool(_CEF.search(line[:512]))


def parse_header(text: str) -> tuple[list[str], str]:
    """``CEF:0|a|b\\|c|...|ext`` → (the seven header fields, the extension)."""
    fields: list[str] = []
    buf: list[str] = []
    i = 0
    text = re.sub(r"^CEF: ", "CEF:", text)
    while i < len(text) and len(fields) < 7:
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in "|\\":
            buf.append(text[i + 1])
            i += 2
            continue
        if c == "|":
            fields.append("".join(buf))
            buf = []
        else:
            buf.append(c)
        i += 1
    if len(fields) < 7:
        raise BadLine(f"a CEF header has 7 fields separated by '|', this one has {len(fields) + 1}")
    return fields, text[i:]


def _unescape(value: str) -> str:
    return re.sub(r"\\([=\\nr])", lambda m: {"n": "\n", "r": "\r"}.get(m[1], m[1]), value)


def parse_extension(text: str) -> dict[str, str]:
    """``src=1.2.3.4 msg=a b\\=c`` → ``{"src": "1.2.3.4", "msg": "a b=c"}`` (first key wins)."""
    out: dict[str, str] = {}
    keys = [m for m in _KEY.finditer(text) if m.start() == 0 or text[m.start() - 1] != "\\"]
    for n, m in enumerate(keys):
        end = keys[n + 1].start() if n + 1 < len(keys) else len(text)
        key = m[1]
        if key not in out:
            out[key] = _unescape(text[m.end() : end].strip())
    return out


def _get(ext: dict[str, str], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = ext.get(key)
        if value not in (None, "", "N/A", "-"):
            return value
    return None


def _cef_time(value: str, *, tz: ZoneInfo, reference: datetime) -> datetime:
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / (1000 if len(value) > 11 else 1), UTC)
    text, zone = value, tz
    parts = value.rsplit(" ", 1)
    if len(parts) == 2 and not parts[1][:1].isdigit():
        try:
            text, zone = parts[0], ZoneInfo(parts[1])
        except (KeyError, ValueError):
            text = parts[0] if parts[1] in ("UTC", "GMT", "Z") else value
    for fmt in _CEF_TIME_FORMATS:
        try:
            at = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if "%Y" not in fmt:
            return parse_syslog_time(text[:3], text[4:6].strip(), text[7:15], tz=zone, reference=reference)
        return at.replace(tzinfo=zone)
    try:
        return parse_time(value)
    except ValueError:
        raise BadLine(f"rt: {value!r} is not epoch milliseconds, 'MMM dd yyyy HH:mm:ss' or ISO 8601") from None


def _header_time(prefix: str, *, tz: ZoneInfo, reference: datetime) -> tuple[datetime | None, str | None]:
    if m := _ISO_PREFIX.match(prefix):
        try:
            return parse_time(m["ts"]), m["host"]
        except ValueError:
            return None, m["host"]
    if m := _BSD_PREFIX.match(prefix):
        return parse_syslog_time(m["mon"], m["day"], m["time"], tz=tz, reference=reference), m["host"]
    return None, None


def _event(prefix: str, header: list[str], ext: dict[str, str], *, tz: ZoneInfo, reference: datetime) -> dict[str, Any]:
    _version, vendor, product, version, signature, name, severity = header
    logged_at, host = _header_time(prefix, tz=tz, reference=reference)
    stamp = _get(ext, ("rt", "deviceReceiptTime", "end", "start"))
    at = _cef_time(stamp, tz=tz, reference=reference) if stamp else logged_at
    if at is None:
        raise BadLine("no time: the event has no rt, end or start, and no syslog header in front")
    doc: dict[str, Any] = {
        "@timestamp": iso(at),
        "event": {"kind": "event", "module": "cef", "code": signature, "dataset": f"cef.{product.lower() or 'event'}"},
        "observer": {"vendor": vendor, "product": product, "version": version},
    }
    put(doc, "observer.name", host)
    put(doc, "rule.name", name or None)
    try:
        put(doc, "event.severity", int(severity))
    except ValueError:
        put(doc, "log.level", severity or None)
    for keys, dotted in _FIELDS.items():
        value = _get(ext, keys)
        if value is not None:
            put(doc, dotted, ip_or_none(value) or value if dotted.endswith(".ip") else value)
    for keys, dotted in _INTS.items():
        value = _get(ext, keys)
        if value is not None:
            if dotted.endswith("port"):
                put(doc, dotted, port_or_none(value, keys[0]))
            elif value.isdigit():
                put(doc, dotted, int(value))
    for ip_field in ("source.ip", "destination.ip", "source.nat.ip", "observer.ip"):
        parent, _, leaf = ip_field.rpartition(".")
        node = doc
        for part in parent.split("."):
            node = node.get(part, {})
        if leaf in node and ip_or_none(node[leaf]) is None:
            raise BadLine(f"{ip_field}: {node[leaf]!r} is not an IP address")
    proto = _get(ext, ("proto", "transportProtocol"))
    if proto:
        put(doc, "network.transport", _TRANSPORTS.get(proto, proto.lower()))
    action = _get(ext, ("act", "deviceAction"))
    put(doc, "event.action", action.lower() if action else None)
    user, domain = split_user(_get(ext, ("suser", "sourceUserName", "duser", "destinationUserName")))
    put(doc, "user.name", user)
    put(doc, "user.domain", domain)
    outcome_text = " ".join(x for x in (_get(ext, ("outcome", "eventOutcome")), action, name) if x)
    category = _get(ext, ("cat", "deviceEventCategory")) or ""
    failed = bool(_FAIL.search(outcome_text))
    if user and (_LOGON.search(name) or _LOGON.search(category)):
        doc["event"].update(category=["authentication"], type=["start"], outcome="failure" if failed else "success")
    elif _ATTACK.search(f"{name} {category}") or (severity.isdigit() and int(severity) >= 7):
        doc["event"].update(kind="alert", category=["intrusion_detection"], type=["info"])
    elif "source" in doc or "destination" in doc:
        doc["event"].update(
            category=["network"],
            type=["connection", "denied" if failed else "allowed"],
            outcome="failure" if failed else "success",
        )
    ips = sorted({doc.get(p, {}).get("ip") for p in ("source", "destination")} - {None})
    put(doc, "related.ip", ips or None)
    put(doc, "related.user", [user] if user else None)
    return doc


def parse_lines(lines: Iterable[str], *, source: str, tz: ZoneInfo, reference: datetime) -> Iterator[ParseResult]:
    """Read CEF lines; yield one event per line that has a time and something soc reads."""
    for where, raw in numbered_lines(lines, source):
        yield from guarded(where, _line(raw, where, tz=tz, reference=reference), raw)  # the next line is read


def _line(raw: str, where: str, *, tz: ZoneInfo, reference: datetime) -> Iterator[ParseResult]:
    m = _CEF.search(raw)
    if m is None:
        yield Rejected(where, "not a CEF line (no 'CEF:0|')")
        return
    header, extension = parse_header(raw[m.start() :])  # BadLine: the line's rejection (guarded)
    doc = _event(raw[: m.start()], header, parse_extension(extension), tz=tz, reference=reference)
    if "category" not in doc["event"]:
        yield Skipped(where, "a CEF event with no addresses, user or attack: nothing soc reads")
        return
    doc["event"]["id"] = event_id(FORMAT, raw)
    yield Parsed(where, doc)
