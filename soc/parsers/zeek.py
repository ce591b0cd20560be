"""Zeek ``conn.log``, ``dns.log``, ``http.log`` and ``ssl.log``, as TSV (with ``#`` headers) or JSON lines.

A small city often has a Zeek sensor on a mirror port and no Beats: its flows feed the
network detectors (port scan), its DNS and HTTP logs the hunting. TSV files are read
with the separator, unset and empty markers and field names their own headers declare;
JSON lines are recognised by ``_path`` or by their fields, with Zeek's dotted names
(``id.orig_h``) or the underscores some exporters write (``id_orig_h``). Other Zeek logs
(files, x509…) are skipped.

A record's ``event.id`` comes from its log, the connection's addresses, ports and protocol,
the second it started in, and the fields that tell apart the records of one connection (a
DNS transaction, an HTTP request's depth): the same flow seen by two sensors (each gives it
its own ``uid``, a timestamp a few milliseconds apart and its own byte counts) or shipped
twice is one event, not two. Only a record without addresses falls back to its ``uid``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from soc.parsers.common import (
    BadLine,
    event_id,
    finite,
    guarded,
    ip_or_none,
    load_json_object,
    port_or_none,
    put,
    registered_domain,
)
from soc.parsers.models import Parsed, ParseResult, Skipped
from soc.vocab import iso, parse_time

__all__ = ["FORMAT", "conn_doc", "dns_doc", "http_doc", "parse_lines", "ssl_doc"]

FORMAT = "zeek"
Row = dict[str, Any]

# conn_state values where the responder answered: the connection was established
_ESTABLISHED = frozenset({"SF", "S1", "S2", "S3", "RSTO", "RSTR"})
_REFUSED = frozenset({"REJ", "S0", "RSTOS0", "RSTRH", "SH", "SHR"})


_MAX_COUNT = 2**63 - 1  # Elasticsearch's long
_MAX_SECONDS = 4102444800.0  # 2100-01-01: a Zeek ts past it is a broken sensor clock, not a log
_MAX_DURATION = 366 * 86400.0  # a connection longer than a year is a broken record


def _num(row: Row, key: str, cast: Callable[[str], float | int]) -> Any:
    """A number of the row, bounded: non-finite floats and counts beyond a long are BadLine."""
    value = row.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadLine(f"{key}: {value!r} is not a number")
    try:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError
        number = cast(str(int(value)) if cast is int and isinstance(value, float) else str(value))
    except (ValueError, OverflowError):
        raise BadLine(f"{key}: {str(value)[:40]!r} is not a number") from None
    if isinstance(number, float):
        finite(number, key, low=-_MAX_COUNT, high=_MAX_COUNT)
    elif not -_MAX_COUNT <= number <= _MAX_COUNT:
        raise BadLine(f"{key}: {number} is out of range")
    return number


def _ts(row: Row) -> datetime:
    value = row.get("ts")
    if isinstance(value, str) and "T" in value:  # JSON logs written with ISO 8601 timestamps
        try:
            return parse_time(value)
        except ValueError as exc:
            raise BadLine(f"ts: {exc}") from None
    seconds = _num(row, "ts", float)
    if seconds is None:
        raise BadLine("ts is missing")
    return datetime.fromtimestamp(finite(seconds, "ts", low=0, high=_MAX_SECONDS), UTC)


def _ip(row: Row, key: str) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    ip = ip_or_none(value)
    if ip is None:
        raise BadLine(f"{key}: {value!r} is not an IP address")
    return ip


def _base(row: Row, dataset: str, *, category: list[str], types: list[str], action: str, outcome: str) -> Row:
    doc: Row = {
        "@timestamp": iso(_ts(row)),
        "event": {
            "kind": "event",
            "category": category,
            "type": types,
            "action": action,
            "outcome": outcome,
            "dataset": f"zeek.{dataset}",
            "module": "zeek",
        },
    }
    src, dst = _ip(row, "id.orig_h"), _ip(row, "id.resp_h")
    put(doc, "source.ip", src)
    put(doc, "source.port", port_or_none(row.get("id.orig_p"), "id.orig_p"))
    put(doc, "destination.ip", dst)
    put(doc, "destination.port", port_or_none(row.get("id.resp_p"), "id.resp_p"))
    put(doc, "related.ip", [ip for ip in dict.fromkeys((src, dst)) if ip] or None)
    put(doc, "zeek.session_id", row.get("uid"))
    return doc


def conn_doc(row: Row) -> Row:
    """A network flow; ``event.outcome`` says whether the responder answered (conn_state)."""
    state = row.get("conn_state")
    outcome = "success" if state in _ESTABLISHED else "failure" if state in _REFUSED else "unknown"
    doc = _base(row, "conn", category=["network"], types=["connection"], action="network-flow", outcome=outcome)
    out, back = _num(row, "orig_bytes", int), _num(row, "resp_bytes", int)
    put(doc, "source.bytes", out)
    put(doc, "destination.bytes", back)
    put(doc, "source.packets", _num(row, "orig_pkts", int))
    put(doc, "destination.packets", _num(row, "resp_pkts", int))
    put(doc, "network.transport", row.get("proto"))
    service = row.get("service")
    put(doc, "network.protocol", service.split(",")[0] if isinstance(service, str) and service else None)
    put(doc, "network.bytes", out + back if out is not None and back is not None else None)
    duration = _num(row, "duration", float)
    if duration is not None:
        finite(duration, "duration", low=0, high=_MAX_DURATION)
    put(doc, "event.duration", round(duration * 1e9) if duration is not None else None)  # ECS: nanoseconds
    put(doc, "zeek.connection.state", state)
    put(doc, "zeek.connection.history", row.get("history"))
    return doc


def dns_doc(row: Row) -> Row:
    """A DNS query with its registered domain (``www.city.kobe.lg.jp`` → ``kobe.lg.jp``)."""
    rcode = row.get("rcode_name")
    outcome = "unknown" if rcode is None else "success" if rcode == "NOERROR" else "failure"
    doc = _base(row, "dns", category=["network"], types=["protocol"], action="dns-query", outcome=outcome)
    put(doc, "network.transport", row.get("proto"))
    put(doc, "network.protocol", "dns")
    query = row.get("query")
    name = query.lower().rstrip(".") if isinstance(query, str) and query else None
    put(doc, "dns.question.name", name)
    put(doc, "dns.question.registered_domain", registered_domain(name) if name else None)  # again at ingest
    put(doc, "dns.question.type", row.get("qtype_name"))
    put(doc, "dns.response_code", rcode)
    put(doc, "dns.id", _num(row, "trans_id", int))
    rtt = _num(row, "rtt", float)
    if rtt is not None:  # ECS: nanoseconds, as Filebeat writes it
        put(doc, "event.duration", round(finite(rtt, "rtt", low=0, high=_MAX_DURATION) * 1e9))
    answers = row.get("answers")
    if isinstance(answers, list):
        put(doc, "dns.resolved_ip", [ip for a in answers if (ip := ip_or_none(a))] or None)
    return doc


def http_doc(row: Row) -> Row:
    """An HTTP request: ``url.*``, method, status, user agent; 4xx/5xx are failures."""
    status = _num(row, "status_code", int)
    outcome = "unknown" if status is None else "success" if status < 400 else "failure"
    doc = _base(row, "http", category=["network", "web"], types=["protocol"], action="http-request", outcome=outcome)
    put(doc, "network.transport", "tcp")
    put(doc, "network.protocol", "http")
    host = row.get("host")
    domain = _host_name(host) if isinstance(host, str) else None
    uri = row.get("uri")
    method = row.get("method")
    if isinstance(uri, str) and uri:
        put(doc, "url.original", uri)
        if isinstance(method, str) and method.upper() == "CONNECT":  # a proxy tunnel: uri is "host:port"
            target = urlsplit(f"//{uri}")
            domain = _host_name(uri) or domain
            put(doc, "url.port", _port_of(target))
            put(doc, "url.scheme", "https" if _port_of(target) == 443 else None)
        elif uri.lower().startswith(("http://", "https://")):  # a request to a proxy: the absolute URL
            target = urlsplit(uri)
            domain = (target.hostname or "").lower() or domain
            put(doc, "url.full", uri)
            put(doc, "url.scheme", target.scheme.lower())
            put(doc, "url.port", _port_of(target))
            put(doc, "url.path", target.path or "/")
            put(doc, "url.query", target.query or None)
        else:
            path, _, query = uri.partition("?")
            put(doc, "url.path", path)
            put(doc, "url.query", query or None)
            if domain:
                put(doc, "url.full", f"http://{host}{uri}")
                put(doc, "url.scheme", "http")
    put(doc, "url.domain", domain)
    put(doc, "destination.domain", domain)
    put(doc, "http.request.method", row.get("method"))
    put(doc, "http.response.status_code", status)
    put(doc, "http.version", row.get("version"))
    put(doc, "http.request.body.bytes", _num(row, "request_body_len", int))
    put(doc, "http.response.body.bytes", _num(row, "response_body_len", int))
    put(doc, "user_agent.original", row.get("user_agent"))
    return doc


def _host_name(text: str) -> str | None:
    """The host of ``host`` or ``host:port`` (``[::1]:8080`` too), lower-case; None when empty."""
    try:
        name = urlsplit(f"//{text.strip()}").hostname
    except ValueError:
        return None
    return name.lower().rstrip(".") or None if name else None


def _port_of(target: Any) -> int | None:
    try:
        port = target.port
    except ValueError:
        raise BadLine(f"url port of {target.geturl()[:80]!r} is out of range") from None
    return int(port) if port is not None else None


_TLS_VERSION = re.compile(r"^(?P<protocol>TLS|SSL|DTLS)v(?P<major>\d)(?P<minor>\d)?$")


def ssl_doc(row: Row) -> Row:
    """A TLS handshake: the server name (SNI) is the flow's ``destination.domain``.

    ``event.type`` is ``protocol`` only (Filebeat adds ``connection``): conn.log already
    carries the connection, and a flow must not count twice in the network detectors."""
    established = row.get("established")
    outcome = "unknown" if established is None else "success" if established in (True, "T") else "failure"
    doc = _base(row, "ssl", category=["network"], types=["protocol"], action="tls-handshake", outcome=outcome)
    put(doc, "network.transport", "tcp")
    put(doc, "network.protocol", "tls")
    server = row.get("server_name")
    name = server.strip().lower().rstrip(".") if isinstance(server, str) and server.strip() else None
    put(doc, "destination.domain", name)
    put(doc, "tls.client.server_name", name)
    version = row.get("version")
    if isinstance(version, str) and (m := _TLS_VERSION.match(version)):  # "TLSv12" → "1.2", as ECS
        put(doc, "tls.version", f"{m['major']}.{m['minor'] or 0}")
        put(doc, "tls.version_protocol", m["protocol"].lower())
    put(doc, "tls.cipher", row.get("cipher"))
    put(doc, "tls.curve", row.get("curve"))
    put(doc, "tls.resumed", row.get("resumed") if isinstance(row.get("resumed"), bool) else None)
    put(doc, "tls.server.subject", row.get("subject"))
    put(doc, "tls.server.issuer", row.get("issuer"))
    if established is not None:
        put(doc, "tls.established", established in (True, "T"))
    put(doc, "tls.client.ja3", row.get("ja3"))
    put(doc, "tls.server.ja3s", row.get("ja3s"))
    return doc


_BUILDERS: dict[str, Callable[[Row], Row]] = {"conn": conn_doc, "dns": dns_doc, "http": http_doc, "ssl": ssl_doc}
# what tells apart the records of one connection (uid) in each log
_IDENTITY: dict[str, tuple[str, ...]] = {
    "conn": (),
    "dns": ("trans_id", "query", "qtype_name"),
    "http": ("trans_depth",),
    "ssl": (),
}


def _underscored(row: Row) -> Row:
    """``id_orig_h`` → ``id.orig_h``: exporters that cannot write dots in names use underscores."""
    if not any(k.startswith("id_") for k in row):
        return row
    return {("id." + k[3:] if k.startswith("id_") and "id." + k[3:] not in row else k): v for k, v in row.items()}


def _kind_of(row: Row) -> str | None:
    """Which log a JSON row comes from: its ``_path``, else the fields only that log has."""
    path = row.get("_path")
    if isinstance(path, str):
        return path if path in _BUILDERS else None
    if "conn_state" in row or "orig_bytes" in row:
        return "conn"
    if "query" in row or "qtype_name" in row or "rcode_name" in row:
        return "dns"
    if "method" in row or "uri" in row or "status_code" in row:
        return "http"
    if "server_name" in row or "cipher" in row or "established" in row:
        return "ssl"
    return None


@dataclass
class _Header:
    """What the ``#`` lines of a TSV log declared so far."""

    separator: str = "\t"
    set_separator: str = ","
    empty: str = "(empty)"
    unset: str = "-"
    path: str | None = None
    fields: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)

    def read(self, line: str) -> None:
        if line.startswith("#separator"):
            value = line[len("#separator") :].strip()
            self.separator = value.encode("ascii", "replace").decode("unicode_escape") or "\t"
            return
        name, _, value = line[1:].partition(self.separator)
        if name == "set_separator":
            self.set_separator = value
        elif name == "empty_field":
            self.empty = value
        elif name == "unset_field":
            self.unset = value
        elif name == "path":
            self.path = value
        elif name == "fields":
            self.fields = value.split(self.separator)
        elif name == "types":
            self.types = value.split(self.separator)

    def row(self, line: str) -> Row:
        if not self.fields:
            raise BadLine("a data line before the #fields header")
        values = line.split(self.separator)
        if len(values) != len(self.fields):
            raise BadLine(f"{len(values)} fields where the #fields header declares {len(self.fields)}")
        types = self.types if len(self.types) == len(self.fields) else [""] * len(self.fields)
        row: Row = {}
        for name, kind, value in zip(self.fields, types, values, strict=True):
            if value == self.unset:
                continue
            if kind.startswith(("set[", "vector[")):
                row[name] = [] if value == self.empty else value.split(self.set_separator)
            elif kind == "bool":
                row[name] = value == "T"
            else:
                row[name] = "" if value == self.empty else value
        return row


# what two sensors agree on about one connection (the uid is each sensor's own random name)
_FLOW = ("proto", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p")


def _record_id(kind: str, row: Row, raw: str, timestamp: str) -> tuple[str, str | None]:
    """``(event.id, digest)``: from the connection's addresses, ports and start second, and
    what tells apart the records of one connection; a second copy of the record, from this
    sensor or another, is the same event whatever else differs (uid, milliseconds, bytes).

    Two records of one 5-tuple in the same second are one connection (Zeek itself keys
    connections on the 5-tuple). A record without addresses is keyed on its uid, and one
    without a uid either on its raw line.
    """
    if row.get("id.orig_h") and row.get("id.resp_h"):
        flow = [timestamp[:19], *(str(row.get(f, "")) for f in _FLOW)]
    else:
        uid = row.get("uid")
        if not isinstance(uid, str) or not uid:
            return event_id(FORMAT, raw), None
        flow = [uid]
    key = "|".join([kind, *flow, *(str(row.get(f, "")) for f in _IDENTITY[kind])])
    return event_id(FORMAT, key), key


def _header_line(raw: str, header: _Header) -> Iterator[ParseResult]:
    header.read(raw)
    yield from ()


def _line(raw: str, where: str, header: _Header) -> Iterator[ParseResult]:
    if raw.lstrip().startswith(("{", "[")):
        row = _underscored(load_json_object(raw))
        kind = _kind_of(row)
    else:
        row = header.row(raw)
        kind = header.path if header.path in _BUILDERS else _kind_of(row) if header.path is None else None
    if kind is None:
        yield Skipped(where, f"zeek {header.path or row.get('_path') or 'log'} is not one soc reads")
        return
    doc = _BUILDERS[kind](row)
    doc["event"]["id"], digest = _record_id(kind, row, raw, str(doc["@timestamp"]))
    yield Parsed(where, doc, digest, text=raw)


def parse_lines(lines: Iterable[str], *, source: str, tz: ZoneInfo, reference: datetime) -> Iterator[ParseResult]:
    """Read one Zeek log file, TSV or JSON lines; ``tz``/``reference`` are unused (Zeek
    writes epoch seconds or ISO 8601 in UTC)."""
    del tz, reference
    header = _Header()
    for lineno, line in enumerate(lines, start=1):
        raw = line.rstrip("\r\n")
        if not raw.strip():
            continue
        if raw.startswith("#"):
            yield from guarded(f"{source}:{lineno}", _header_line(raw, header), raw)
            continue
        yield from guarded(f"{source}:{lineno}", _line(raw, f"{source}:{lineno}", header), raw)
