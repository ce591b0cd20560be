"""Linux netfilter packet logs: what iptables/nftables ``LOG`` rules and UFW write to the kernel log.

A logged packet arrives through syslog (``/var/log/kern.log``, ``/var/log/ufw.log``, or
``/var/log/messages``) as::

    Sep 30 10:09:23 fw1 kernel: [19955416.516358] [UFW BLOCK] IN=ens2 OUT= MAC=… SRC=62.34.17.168
    DST=10.73.140.49 LEN=44 TOS=0x00 PREC=0x00 TTL=43 ID=25313 PROTO=TCP SPT=52220 DPT=80
    WINDOW=1024 RES=0x00 SYN URGP=0

(one line). The syslog header is read as the ``sshd`` format reads it (RFC 3164 with the
year inferred, RFC 5424, rsyslog's ISO 8601); the kernel's uptime stamp ``[…]`` is ignored;
the free text before ``IN=`` is the rule's log prefix.

Each packet becomes one ``network`` event (``event.type`` connection), with addresses,
ports, transport, interfaces and the prefix as ``event.action``. A prefix that says the
packet was blocked (``BLOCK``, ``DROP``, ``DENY``, ``REJECT``) makes it ``denied`` with
``event.outcome: failure``; ``ALLOW``/``ACCEPT`` makes it ``allowed``. Without a telling
prefix the packet is only "logged" (``event.type`` connection, no outcome): a ``LOG`` rule
usually sits in front of the drop, but soc does not guess. Kernel lines that are not
packet logs (no ``SRC=``/``DST=``) are skipped and counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from soc.parsers.common import BadLine, event_id, guarded, ip_or_none, port_or_none, put
from soc.parsers.models import Parsed, ParseResult, Skipped
from soc.parsers.sshd import syslog_header
from soc.vocab import iso

__all__ = ["FORMAT", "looks_like", "parse_lines"]

FORMAT = "iptables"

_PACKET = re.compile(r"(?:^|\s)IN=\S*\s+OUT=\S*\s.*\bSRC=\S+\s+DST=\S+")
_UPTIME = re.compile(r"^\[\s*\d+\.\d+\]\s*")
_PAIR = re.compile(r"\b([A-Z]+)=(\S*)")
_FLAGS = frozenset({"CWR", "ECE", "URG", "ACK", "PSH", "RST", "SYN", "FIN"})
_DENIED = re.compile(r"block|drop|deny|denied|reject", re.IGNORECASE)
_ALLOWED = re.compile(r"allow|accept", re.IGNORECASE)
_TRANSPORTS = {"TCP": ("tcp", "6"), "UDP": ("udp", "17"), "ICMP": ("icmp", "1"), "ICMPV6": ("ipv6-icmp", "58")}


def looks_like(line: str) -> bool:
    """Is this a netfilter packet log line (for ``--format auto``)?"""
    return " kernel:" in line and bool(_PACKET.search(line))


def _fields(text: str) -> tuple[dict[str, str], list[str]]:
    """``KEY=value`` pairs (first wins) and the bare TCP flag words of a packet log."""
    pairs: dict[str, str] = {}
    for key, value in _PAIR.findall(text):
        pairs.setdefault(key, value)
    flags = [word for word in text.split() if word in _FLAGS]
    return pairs, flags


def _event(message: str, at: datetime, host: str) -> dict[str, Any] | None:
    body = _UPTIME.sub("", message)
    start = re.search(r"(?:^|\s)IN=", body)
    if start is None or not _PACKET.search(body):
        return None
    prefix = body[: start.start()].strip().strip(":").strip() or None
    pairs, flags = _fields(body[start.start() :])
    src, dst = ip_or_none(pairs.get("SRC")), ip_or_none(pairs.get("DST"))
    if src is None or dst is None:
        raise BadLine(f"SRC={pairs.get('SRC')!r} DST={pairs.get('DST')!r}: not IP addresses")
    denied = bool(prefix and _DENIED.search(prefix))
    allowed = bool(prefix and not denied and _ALLOWED.search(prefix))
    doc: dict[str, Any] = {
        "@timestamp": iso(at),
        "event": {
            "kind": "event",
            "module": "iptables",
            "dataset": "iptables.log",
            "category": ["network"],
            "type": ["connection", "denied"] if denied else ["connection", "allowed"] if allowed else ["connection"],
        },
        "observer": {"type": "firewall", "product": "netfilter", "hostname": host},
    }
    put(doc, "event.outcome", "failure" if denied else "success" if allowed else None)
    put(doc, "event.action", prefix)
    put(doc, "source.ip", src)
    put(doc, "destination.ip", dst)
    put(doc, "source.port", port_or_none(pairs.get("SPT"), "SPT"))
    put(doc, "destination.port", port_or_none(pairs.get("DPT"), "DPT"))
    proto = pairs.get("PROTO", "").upper()
    transport, number = _TRANSPORTS.get(proto, (proto.lower() or None, proto if proto.isdigit() else None))
    put(doc, "network.transport", transport)
    put(doc, "network.iana_number", number)
    put(doc, "network.bytes", int(pairs["LEN"]) if pairs.get("LEN", "").isdigit() else None)
    put(doc, "source.packets", 1)
    put(doc, "observer.ingress.interface.name", pairs.get("IN") or None)
    put(doc, "observer.egress.interface.name", pairs.get("OUT") or None)
    put(doc, "iptables.tcp.flags", flags or None)
    put(doc, "related.ip", sorted({src, dst}))
    return doc


def _line(raw: str, where: str, *, tz: ZoneInfo, reference: datetime) -> Iterator[ParseResult]:
    at, host, program, _pid, message = syslog_header(raw, tz=tz, reference=reference)
    doc = _event(message, at, host) if program == "kernel" else None
    if doc is None:
        yield Skipped(where, f"{program}: not a netfilter packet log (no IN= … SRC= DST=)")
        return
    doc["event"]["id"] = event_id(FORMAT, raw)
    yield Parsed(where, doc, text=raw)


def parse_lines(lines: Iterable[str], *, source: str, tz: ZoneInfo, reference: datetime) -> Iterator[ParseResult]:
    """Read kernel log lines; yield one network event per logged packet."""
    for lineno, line in enumerate(lines, start=1):
        raw = line.rstrip("\r\n")
        if raw.strip():
            where = f"{source}:{lineno}"
            yield from guarded(where, _line(raw, where, tz=tz, reference=reference), raw)
