"""Zeek ``conn.log``, ``dns.log`` and ``http.log``, as TSV (with ``#`` headers) or JSON lines.

A small city often has a Zeek sensor on a mirror port and no Beats: its flows feed the
network detectors (port scan), its DNS and HTTP logs the hunting. TSV files are read
with the separator, unset and empty markers and field names their own headers declare;
JSON lines are recognised by their fields. Other Zeek logs (ssl, files…) are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from soc.parsers.common import BadLine, event_id, ip_or_none, port_or_none, put, registered_domain
from soc.parsers.models import Parsed, ParseResult, Rejected, Skipped
from soc.vocab import iso, parse_time

__all__ = ["FORMAT", "conn_doc", "dns_doc", "http_doc", "parse_lines"]

FORMAT = "zeek"
Row = dict[str, Any]

# conn_state values where the responder answered: the connection was established
_ESTABLISHED = frozenset({"SF", "S1", "S2", "S3", "RSTO", "RSTR"})
_REFUSED = frozenset({"REJ", "S0", "RSTOS0", "RSTRH", "SH", "SHR"})


def _num(row: Row, key: str, cast: Callable[[str], float | int]) -> Any:
    value = row.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadLine(f"{key}: {value!r} is not a number")
    if isinstance(value, int | float):
        return cast(str(value)) if cast is int and isinstance(value, float) else value
    try:
        return cast(str(value))
    except ValueError:
        raise BadLine(f"{key}: {value!r} is not a number") from None


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
    return datetime.fromtimestamp(seconds, UTC)


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
    put(doc, "dns.question.registered_domain", registered_domain(name) if name else None)
    put(doc, "dns.question.type", row.get("qtype_name"))
    put(doc, "dns.response_code", rcode)
    put(doc, "dns.id", _num(row, "trans_id", int))
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
    domain = host.rsplit(":", 1)[0].lower() if isinstance(host, str) and host and not host.endswith("]") else None
    uri = row.get("uri")
    if isinstance(uri, str) and uri:
        path, _, query = uri.partition("?")
        put(doc, "url.original", uri)
        put(doc, "url.path", path)
        put(doc, "url.query", query or None)
        if domain:
            put(doc, "url.full", f"http://{host}{uri}")
    put(doc, "url.domain", domain)
    put(doc, "destination.domain", domain)
    put(doc, "http.request.method", row.get("method"))
    put(doc, "http.response.status_code", status)
    put(doc, "http.version", row.get("version"))
    put(doc, "http.request.body.bytes", _num(row, "request_body_len", int))
    put(doc, "http.response.body.bytes", _num(row, "response_body_len", int))
    put(doc, "user_agent.original", row.get("user_agent"))
    return doc


_BUILDERS: dict[str, Callable[[Row], Row]] = {"conn": conn_doc, "dns": dns_doc, "http": http_doc}


def _kind_of(row: Row) -> str | None:
    """Which log a JSON row comes from, by the fields only that log has."""
    if "conn_state" in row or "orig_bytes" in row:
        return "conn"
    if "query" in row or "qtype_name" in row or "rcode_name" in row:
        return "dns"
    if "method" in row or "uri" in row or "status_code" in row:
        return "http"
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
            header.read(raw)
            continue
        where = f"{source}:{lineno}"
        try:
            if raw.lstrip().startswith(("{", "[")):
                try:
                    row = json.loads(raw)
                except json.JSONDecodeError as exc:
                    raise BadLine(f"not valid JSON: {exc.msg} (column {exc.colno})") from None
                if not isinstance(row, dict):
                    raise BadLine(f"expected a JSON object, got {type(row).__name__}")
                kind = _kind_of(row)
            else:
                row = header.row(raw)
                kind = header.path if header.path in _BUILDERS else _kind_of(row) if header.path is None else None
            if kind is None:
                yield Skipped(where, f"zeek {header.path or 'log'} is not one soc reads")
                continue
            doc = _BUILDERS[kind](row)
        except BadLine as exc:
            yield Rejected(where, str(exc))
            continue
        doc["event"]["id"] = event_id(FORMAT, raw)
        yield Parsed(where, doc)
