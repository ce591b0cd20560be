"""FortiGate (FortiOS) key=value logs: traffic, UTM, and the event logs that record logons.

A FortiGate sends ``date=2026-11-29 time=10:04:05 devname="fw01" logid="0000000013"
type="traffic" subtype="forward" srcip=10.20.0.5 ...`` over syslog; the line may carry a
syslog header in front (RFC 3164, or the RFC 3339 prefix ``deploy/rsyslog`` writes), which
is skipped. Quoted values may contain spaces and ``\\"``.

What becomes an event:

- ``type=traffic``: a network connection (``event.category: network``), allowed, denied or
  ended, with addresses, ports, bytes, packets, NAT and interfaces;
- ``type=utm`` (IPS, anomaly, antivirus, web filter, application control): the same flow
  fields with ``event.category`` intrusion_detection (``event.kind: alert``) or web;
- ``type=event subtype=vpn``: SSL-VPN and IPsec logons (``tunnel-up`` = success,
  ``ssl-login-fail`` = failure, ``tunnel-down`` = session end) as authentication events of
  dataset ``vpn.gateway``, with ``source.ip`` the remote address, what the VPN detectors read;
- ``type=event subtype=system`` administrator logins (``action=login``) as authentication.

Other event logs (configuration changes, HA, DHCP ...) are skipped and counted.
Countries: FortiGate writes the country it resolved for each address (``srccountry``,
``dstcountry``: "Japan", "Korea, Republic of"; "Reserved" for private ranges); they become
``source.geo``/``destination.geo`` ``country_iso_code`` and ``country_name`` (ISO 3166), what
vpn-logon-abroad and new-country-logon read, with no GeoIP database.
Time: ``eventtime`` (epoch, UTC) when present, else ``date``/``time`` in the device's
``tz`` field, else in the configured zone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta, timezone
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
from soc.parsers.geo import country
from soc.parsers.models import Parsed, ParseResult, Rejected, Skipped
from soc.vocab import iso

__all__ = ["FORMAT", "looks_like", "parse_kv", "parse_lines"]

FORMAT = "fortigate"

_PAIR = re.compile(r'([A-Za-z_][\w-]*)=("(?:[^"\\]|\\.)*"|\S*)')
_START = re.compile(r"(?:^|[\s>])(?=(?:date|logver|devname|logid|eventtime)=)")
_SIGNATURE = re.compile(r"\b(?:devid|logid)=\"?\d*\"?.*\btype=|\btype=\"?(?:traffic|utm|event)\"?.*\b(?:devid|logid)=")
_UI_ADDR = re.compile(r"\((?P<ip>[0-9A-Fa-f:.]+)\)")
_TRANSPORTS = {"1": "icmp", "6": "tcp", "17": "udp", "58": "ipv6-icmp", "132": "sctp"}
_DENIED = frozenset({"deny", "denied", "block", "blocked", "dropped", "reset", "clear_session", "drop"})
_EMPTY = frozenset({"", "N/A", "n/a", "(null)", "-", "none"})


def looks_like(line: str) -> bool:
    """Is this a FortiGate key=value log line (for ``--format auto``)?"""
    return "CEF:" not in line and bool(_SIGNATURE.search(line))


def parse_kv(text: str) -> dict[str, str]:
    """``a=1 b="x y" c=`` → ``{"a": "1", "b": "x y", "c": ""}``; later duplicates are ignored."""
    out: dict[str, str] = {}
    for key, raw in _PAIR.findall(text):
        if key in out:
            continue
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        out[key] = raw
    return out


def _value(kv: dict[str, str], *keys: str) -> str | None:
    for key in keys:
        value = kv.get(key)
        if value is not None and value.strip() not in _EMPTY:
            return value.strip()
    return None


def _int(kv: dict[str, str], *keys: str) -> int | None:
    value = _value(kv, *keys)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise BadLine(f"{keys[0]}: {value!r} is not a number") from None


def _time(kv: dict[str, str], *, tz: ZoneInfo) -> datetime:
    epoch = _value(kv, "eventtime")
    if epoch is not None and epoch.isdigit():
        # FortiOS writes seconds, milliseconds, microseconds or nanoseconds depending on version
        scale = 1e9 if len(epoch) >= 18 else 1e6 if len(epoch) >= 15 else 1e3 if len(epoch) >= 12 else 1
        return datetime.fromtimestamp(int(epoch) / scale, UTC)
    date, clock = _value(kv, "date"), _value(kv, "time")
    if date is None or clock is None:
        raise BadLine("no time: neither eventtime nor date and time")
    try:
        at = datetime.strptime(f"{date} {clock}", "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise BadLine(f"date={date!r} time={clock!r} is not YYYY-MM-DD HH:MM:SS") from None
    offset = _value(kv, "tz")
    if offset and re.fullmatch(r"[+-]\d{4}", offset):
        sign = 1 if offset[0] == "+" else -1
        zone: timezone | ZoneInfo = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
    else:
        zone = tz
    return at.replace(tzinfo=zone)


def _geo(doc: dict[str, Any], kv: dict[str, str], side: str, key: str) -> None:
    """``srccountry="Japan"`` → ``source.geo.country_iso_code: JP``, ``country_name: Japan``."""
    found = country(_value(kv, key) or "")
    if found is not None:
        put(doc, f"{side}.geo.country_iso_code", found[0])
        put(doc, f"{side}.geo.country_name", found[1])


def _flow(doc: dict[str, Any], kv: dict[str, str]) -> None:
    src, dst = ip_or_none(_value(kv, "srcip", "src")), ip_or_none(_value(kv, "dstip", "dst"))
    put(doc, "source.ip", src)
    put(doc, "source.port", port_or_none(_value(kv, "srcport", "src_port"), "srcport"))
    put(doc, "destination.ip", dst)
    put(doc, "destination.port", port_or_none(_value(kv, "dstport", "dst_port"), "dstport"))
    put(doc, "source.bytes", _int(kv, "sentbyte", "sent"))
    put(doc, "destination.bytes", _int(kv, "rcvdbyte", "rcvd"))
    put(doc, "source.packets", _int(kv, "sentpkt", "sent_pkt"))
    put(doc, "destination.packets", _int(kv, "rcvdpkt", "rcvd_pkt"))
    _geo(doc, kv, "source", "srccountry")
    _geo(doc, kv, "destination", "dstcountry")
    put(doc, "source.nat.ip", ip_or_none(_value(kv, "transip", "tran_ip")))
    put(doc, "source.nat.port", port_or_none(_value(kv, "transport", "tran_port"), "transport"))
    proto = _value(kv, "proto")
    put(doc, "network.iana_number", proto)
    put(doc, "network.transport", _TRANSPORTS.get(proto or ""))
    service = _value(kv, "service")
    put(doc, "network.protocol", service.lower() if service else None)
    put(doc, "network.application", _value(kv, "app"))
    put(doc, "observer.ingress.interface.name", _value(kv, "srcintf", "src_int"))
    put(doc, "observer.egress.interface.name", _value(kv, "dstintf", "dst_int"))
    put(doc, "rule.id", _value(kv, "policyid"))
    put(doc, "rule.uuid", _value(kv, "poluuid"))
    put(doc, "event.duration", None if (d := _int(kv, "duration")) is None else d * 1_000_000_000)
    host = _value(kv, "hostname")
    put(doc, "destination.domain", host.lower() if host else None)
    put(doc, "url.domain", host.lower() if host else None)
    put(doc, "url.path", _value(kv, "url") if (_value(kv, "url") or "").startswith("/") else None)
    put(doc, "url.original", _value(kv, "url"))
    put(doc, "related.ip", sorted({ip for ip in (src, dst) if ip}) or None)


def _authentication(doc: dict[str, Any], kv: dict[str, str], subtype: str, action: str) -> bool:
    """VPN logons and administrator logins; False for other event logs (skipped)."""
    status = (_value(kv, "status") or "").lower()
    if subtype == "vpn" and action in ("tunnel-up", "ssl-login-fail", "tunnel-down", "ssl-login", "ssl-logout"):
        failed = action == "ssl-login-fail"
        ended = action in ("tunnel-down", "ssl-logout")
        doc["event"].update(
            category=["authentication"] if not ended else ["session"],
            type=["end"] if ended else ["start"],
            outcome="failure" if failed else "success",
            dataset="vpn.gateway",
        )
        put(doc, "source.ip", ip_or_none(_value(kv, "remip")))
        _geo(doc, kv, "source", "srccountry")
        put(doc, "source.nat.ip", ip_or_none(_value(kv, "tunnelip")))  # the address handed to the client
        put(doc, "network.type", _value(kv, "tunneltype"))
        name, domain = split_user(_value(kv, "user", "xauthuser"))
    elif subtype == "system" and action in ("login", "logout"):
        ui = _value(kv, "ui") or ""
        m = _UI_ADDR.search(ui)
        doc["event"].update(
            category=["authentication"] if action == "login" else ["session"],
            type=["start"] if action == "login" else ["end"],
            outcome="success" if status == "success" else "failure",
            dataset="fortinet.admin",
        )
        put(doc, "source.ip", ip_or_none(m["ip"]) if m else None)
        put(doc, "network.application", ui.split("(", 1)[0].lower() or None)
        name, domain = split_user(_value(kv, "user"))
    else:
        return False
    put(doc, "user.name", name)
    put(doc, "user.domain", domain)
    put(doc, "group.name", _value(kv, "group"))
    put(doc, "event.reason", _value(kv, "reason"))
    put(doc, "related.user", [name] if name else None)
    put(doc, "related.ip", [ip] if (ip := doc.get("source", {}).get("ip")) else None)
    return True


def _event(kv: dict[str, str], *, tz: ZoneInfo) -> dict[str, Any] | None:
    kind = (_value(kv, "type") or "").lower()
    subtype = (_value(kv, "subtype") or "").lower()
    action = (_value(kv, "action") or _value(kv, "status") or "").lower()
    doc: dict[str, Any] = {
        "@timestamp": iso(_time(kv, tz=tz)),
        "event": {"kind": "event", "module": "fortinet", "provider": f"{kind}/{subtype}".strip("/")},
        "observer": {"vendor": "Fortinet", "product": "FortiGate", "type": "firewall"},
    }
    put(doc, "event.code", _value(kv, "logid", "log_id"))
    put(doc, "event.action", action or None)
    put(doc, "message", _value(kv, "msg", "logdesc"))
    put(doc, "log.level", _value(kv, "level", "pri"))
    put(doc, "observer.name", _value(kv, "devname"))
    put(doc, "observer.serial_number", _value(kv, "devid", "device_id"))
    put(doc, "observer.hostname", _value(kv, "devname"))
    if kind == "traffic":
        denied = action in _DENIED
        ended = action in ("close", "timeout", "client-rst", "server-rst")
        doc["event"].update(
            category=["network"],
            type=["connection", "denied" if denied else "end" if ended else "allowed"],
            outcome="failure" if denied else "success",
            dataset="fortinet.firewall",
        )
        _flow(doc, kv)
        return doc
    if kind in ("utm", "anomaly", "ips", "attack", "virus", "webfilter", "app-ctrl"):
        web = subtype in ("webfilter", "app-ctrl", "ssl", "dns")
        doc["event"].update(
            kind="event" if web else "alert",
            category=["web" if subtype == "webfilter" else "network"] if web else ["intrusion_detection"],
            type=["denied"] if action in _DENIED else ["info"],
            dataset="fortinet.firewall",
        )
        put(doc, "rule.name", _value(kv, "attack", "virus", "catdesc"))
        put(doc, "vulnerability.id", _value(kv, "attackid"))
        _flow(doc, kv)
        return doc
    if kind == "event" and _authentication(doc, kv, subtype, action):
        return doc
    return None


def parse_lines(lines: Iterable[str], *, source: str, tz: ZoneInfo, reference: datetime) -> Iterator[ParseResult]:
    """Read FortiGate log lines; yield one event per traffic, UTM or logon line."""
    del reference  # FortiGate writes the year
    for where, raw in numbered_lines(lines, source):
        yield from guarded(where, _line(raw, where, tz=tz), raw)  # whatever a line holds, the next is read


def _line(raw: str, where: str, *, tz: ZoneInfo) -> Iterator[ParseResult]:
    m = _START.search(raw)
    if m is None:
        yield Rejected(where, "not a FortiGate key=value line (no date=, devname= or logid=)")
        return
    kv = parse_kv(raw[m.end() :])
    doc = _event(kv, tz=tz)  # BadLine: the line's rejection (guarded)
    if doc is None:
        yield Skipped(where, f"fortigate {kv.get('type', '?')}/{kv.get('subtype', '?')} is not one soc reads")
        return
    doc["event"]["id"] = event_id(FORMAT, raw)
    yield Parsed(where, doc)
