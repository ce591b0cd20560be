"""Bulk-load ECS events into the right index; every rejected document is reported.

Files are either ECS NDJSON or one of the log formats ``soc.parsers`` reads (OpenSSH
syslog, Windows events as JSON, Zeek), chosen by ``fmt`` or guessed per file with "auto".
Documents are validated and normalised one by one (``@timestamp`` parsed to UTC, IPs
canonical, segment fields added from the segment map), routed by ``event.category``
and indexed with ``_id = event.id`` when present, so loading the same file twice does
not duplicate events. Files are streamed, never read whole; a document Elasticsearch
refuses (say, ``source.ip: "not-an-ip"``) is reported with its file and line.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from soc.errors import IngestError, SocError
from soc.es.client import EsGateway
from soc.es.indices import CATEGORY_ROUTES, EVENT_DATASETS, ensure_ready
from soc.es.keywords import bound_keywords
from soc.network.segments import SegmentMap, enrich_segments, normalise_ip
from soc.parsers import FORMATS, Parsed, Rejected, Skipped, guess_format, parse_file, read_head
from soc.vocab import iso, parse_time

__all__ = ["FORMATS", "DocumentError", "IngestReport", "Rejected", "index_events", "ingest_files", "prepare", "route"]

_IP_FIELDS = ("source", "destination", "client", "server")


class DocumentError(SocError, ValueError):
    """One document cannot be indexed; the message says why."""


@dataclass
class IngestReport:
    read: int = 0
    skipped: int = 0  # lines of a log format that carry nothing soc reads
    indexed: Counter[str] = field(default_factory=Counter)
    rejected: list[Rejected] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def indexed_total(self) -> int:
        return sum(self.indexed.values())

    @property
    def docs_per_second(self) -> float:
        return self.indexed_total / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "skipped": self.skipped,
            "indexed": self.indexed_total,
            "per_index": dict(sorted(self.indexed.items())),
            "rejected": len(self.rejected),
            "docs_per_second": round(self.docs_per_second),
        }


def route(doc: dict[str, Any]) -> str:
    """The dataset of an event: the first ``event.category`` with a route, else "other"."""
    event = doc.get("event")
    categories = event.get("category") if isinstance(event, dict) else None
    if isinstance(categories, str):
        categories = [categories]
    for cat in categories or []:
        if isinstance(cat, str) and cat in CATEGORY_ROUTES:
            return CATEGORY_ROUTES[cat]
    return "other"


def _expand_dotted(doc: dict[str, Any]) -> dict[str, Any]:
    """``{"source.ip": x}`` → ``{"source": {"ip": x}}`` (ECS producers emit both shapes).

    Works in place and rebuilds only the levels that have dotted keys: most events have none.
    """
    for key, value in doc.items():
        if isinstance(value, dict):
            doc[key] = _expand_dotted(value)
    dotted = [k for k in doc if "." in k and k != "@timestamp"]
    if not dotted:
        return doc
    out = {k: v for k, v in doc.items() if k not in dotted}
    for key in dotted:
        head, rest = key.split(".", 1)
        value = _expand_dotted({rest: doc[key]})
        existing = out.get(head)
        if isinstance(existing, dict):
            _merge(existing, value)
        elif head in out:
            raise DocumentError(f"field {head!r} is given twice, as a value and as an object")
        else:
            out[head] = value
    return out


def _merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for k, v in other.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


def prepare(doc: Any, *, segments: SegmentMap, now: datetime | None = None) -> dict[str, Any]:
    """Validate and normalise one event (in place), or raise DocumentError saying why not."""
    if not isinstance(doc, dict):
        raise DocumentError(f"expected a JSON object, got {type(doc).__name__}")
    doc = _expand_dotted(doc)
    ts = doc.get("@timestamp")
    if ts is None:
        raise DocumentError("@timestamp is missing (every event needs its time, ISO 8601 with a zone)")
    if not isinstance(ts, str):
        raise DocumentError(f"@timestamp must be an ISO 8601 string, got {ts!r}")
    try:
        doc["@timestamp"] = iso(parse_time(ts))
    except ValueError as exc:
        raise DocumentError(f"@timestamp: {exc}") from exc
    for parent in _IP_FIELDS:
        node = doc.get(parent)
        if isinstance(node, dict) and isinstance(node.get("ip"), str):
            node["ip"] = normalise_ip(node["ip"]) or node["ip"]  # a non-IP is left for ES to reject
    event = doc.setdefault("event", {})
    if not isinstance(event, dict):
        raise DocumentError("event must be an object")
    event.setdefault("kind", "event")
    event["ingested"] = iso(now or datetime.now(UTC))
    return enrich_segments(bound_keywords(doc), segments)


def _doc_id(doc: dict[str, Any]) -> str:
    """``event.id`` when the producer gave one, else a hash of the content: either way,
    loading the same events twice does not duplicate them."""
    event_id = doc["event"].get("id")
    if isinstance(event_id, str) and event_id:
        return event_id
    content = {k: v for k, v in doc.items() if k != "event"} | {
        "event": {k: v for k, v in doc["event"].items() if k != "ingested"}
    }
    return "h-" + hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:32]


class _BadLine:
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _index(
    gw: EsGateway,
    items: Iterable[tuple[str, Any]],
    *,
    segments: SegmentMap,
    on_progress: Callable[[int], None] | None,
) -> IngestReport:
    ensure_ready(gw)
    report = IngestReport()
    # sources of the actions sent and not yet answered, by _id (bounded by the bulk chunk size;
    # keyed by id rather than by position because retried documents are answered out of order)
    in_flight: dict[str, deque[str]] = defaultdict(deque)
    now = datetime.now(UTC)
    began = time.perf_counter()

    def actions() -> Iterator[dict[str, Any]]:
        for source, raw in items:
            report.read += 1
            if isinstance(raw, Skipped):
                report.skipped += 1
                continue
            if isinstance(raw, _BadLine):
                report.rejected.append(Rejected(source, raw.reason))
                continue
            try:
                doc = prepare(raw, segments=segments, now=now)
            except DocumentError as exc:
                report.rejected.append(Rejected(source, str(exc)))
                continue
            action: dict[str, Any] = {"_index": gw.index_name(EVENT_DATASETS[route(doc)]), "_source": doc}
            action["_id"] = _doc_id(doc)
            in_flight[action["_id"]].append(source)
            yield action

    def on_result(ok: bool, info: dict[str, Any]) -> None:
        queue = in_flight[str(info["id"])]
        source = queue.popleft() if queue else f"id {info['id']}"
        if not queue:
            in_flight.pop(str(info["id"]), None)
        if not ok:
            report.rejected.append(Rejected(source, f"rejected by Elasticsearch: {info['reason']}"))

    result = gw.bulk(actions(), on_progress=on_progress, on_result=on_result)
    report.indexed.update(result.per_index)
    if report.indexed:
        gw.refresh(list(report.indexed))
    report.seconds = time.perf_counter() - began
    return report


def index_events(
    gw: EsGateway,
    docs: Iterable[dict[str, Any]],
    *,
    segments: SegmentMap,
    on_progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Index events from memory (the simulator's path)."""
    return _index(gw, ((f"#{i + 1}", d) for i, d in enumerate(docs)), segments=segments, on_progress=on_progress)


def _read_ndjson(path: Path) -> Iterator[tuple[str, Any]]:
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            text = line.strip()
            if not text:
                continue
            try:
                yield f"{path}:{lineno}", json.loads(text)
            except json.JSONDecodeError as exc:
                yield f"{path}:{lineno}", _BadLine(f"not valid JSON: {exc.msg} (column {exc.colno})")


def _read_parsed(path: Path, fmt: str, *, tz: ZoneInfo, reference: datetime) -> Iterator[tuple[str, Any]]:
    for result in parse_file(path, fmt, tz=tz, reference=reference):
        if isinstance(result, Parsed):
            yield result.source, result.doc
        elif isinstance(result, Rejected):
            yield result.source, _BadLine(result.reason)
        else:
            yield result.source, result


def _formats(files: list[Path], fmt: str) -> dict[Path, str]:
    """The format of every file, guessed per file for "auto"; every unguessable file in one error."""
    if fmt != "auto":
        return dict.fromkeys(files, fmt)
    found = {p: guess_format(read_head(p)) for p in files}
    unknown = [str(p) for p, f in found.items() if f is None]
    if unknown:
        raise IngestError(
            f"cannot tell the format of {', '.join(unknown)} from the first lines",
            field="--format",
            hint=f"give one of: {', '.join(f for f in FORMATS if f != 'auto')}",
        )
    return {p: f for p, f in found.items() if f is not None}


def ingest_files(
    gw: EsGateway,
    paths: Iterable[Path],
    *,
    segments: SegmentMap,
    fmt: str = "ecs",
    tz: ZoneInfo | None = None,
    reference: datetime | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Load log files (ECS NDJSON by default); bad lines are reported with file:line and reason.

    ``tz`` is the zone of syslog times that carry none (default UTC); ``reference`` is the
    "now" that decides their year (default: the current time).
    """
    if fmt not in FORMATS:
        raise IngestError(f"unknown input format {fmt!r}", field="--format", hint=f"use one of: {', '.join(FORMATS)}")
    files = list(paths)
    for p in files:
        if not p.is_file():
            raise IngestError("file not found", file=p)
    formats = _formats(files, fmt)
    zone = tz or ZoneInfo("UTC")
    ref = reference or datetime.now(UTC)
    items = (
        item
        for p in files
        for item in (_read_ndjson(p) if formats[p] == "ecs" else _read_parsed(p, formats[p], tz=zone, reference=ref))
    )
    return _index(gw, items, segments=segments, on_progress=on_progress)
