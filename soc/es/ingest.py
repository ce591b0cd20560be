"""Bulk-load ECS events into the right index; every line is accounted for.

Files are either ECS NDJSON or one of the log formats ``soc.parsers`` reads (OpenSSH
syslog, Windows events as JSON, Zeek), chosen by ``fmt`` or guessed per file with "auto".
Documents are validated and normalised one by one (``@timestamp`` parsed to UTC, IPs
canonical, segment fields added from the segment map, DNS names measured), routed by
``event.category`` and created with ``_id = event.id`` (or a hash of the content), so
loading the same file twice adds nothing.

Every line ends in exactly one count of its file: ``indexed`` (new), ``already present``
(the same event was indexed before), ``conflict`` (its ``event.id`` is indexed with other
content: the first one is kept, this one reported), ``rejected`` (with file:line and the
reason: malformed, undecodable, out of range, refused by Elasticsearch) or ``skipped`` (a
well-formed line no detector reads). Indexed events that lack a field their category needs
(an authentication without user or source, a flow without addresses) are also counted as
``incomplete``. No exception inside one line loses the rest of its file.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import json
import math
import re
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from soc.errors import IngestError, SocError
from soc.es.client import EsGateway
from soc.es.indices import CATEGORY_ROUTES, EVENT_DATASETS, ensure_ready
from soc.es.keywords import DYNAMIC_KEYWORD_LIMIT, KEYWORD_LIMIT, bound_keywords
from soc.network.dns import dns_name
from soc.network.segments import SegmentMap, enrich_segments, normalise_ip
from soc.parsers import FORMATS, Parsed, ParseResult, Rejected, Skipped, guess_format, parse_file, read_head
from soc.parsers.common import MAX_DEPTH, BadLine, check_depth, normalise_user_names
from soc.parsers.geo import lacks_geo
from soc.textsafe import truncate
from soc.vocab import iso, parse_time

__all__ = [
    "FORMATS",
    "PROBLEMS",
    "DocumentError",
    "FileReport",
    "IngestReport",
    "Rejected",
    "RejectsFile",
    "incomplete_reason",
    "index_events",
    "ingest_files",
    "prepare",
    "route",
]

_IP_FIELDS = ("source", "destination", "client", "server")
BULK_CONCURRENCY = 2  # bulk requests in flight (bench/vs_elastalert.py, ingest)
_LOOKUP_BATCH = 500  # 409 answers resolved (already present or conflict) per mget
_MEMORY = "(memory)"


class DocumentError(SocError, ValueError):
    """One document cannot be indexed; the message says why."""


@dataclass
class FileReport:
    """What became of one file's lines."""

    file: str
    format: str
    guessed: bool = False
    read: int = 0
    skipped: int = 0
    indexed: int = 0
    already_present: int = 0
    conflicts: int = 0
    rejected: int = 0
    incomplete: int = 0
    without_geo: int = 0  # authentication events from public addresses with no source.geo (a notice)

    def summary(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.format,
            "guessed": self.guessed,
            "read": self.read,
            "indexed": self.indexed,
            "already_present": self.already_present,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "conflicts": self.conflicts,
            "incomplete": self.incomplete,
        }


PROBLEMS = ("rejected", "conflict", "incomplete")
ProblemSink = Callable[[str, Rejected], None]


@dataclass
class IngestReport:
    """Counts, and the problem lines: every one goes to ``sink`` as it is found (``--rejects``);
    the lists keep the first ``keep`` of each kind (all when None) and ``problems`` counts them all."""

    read: int = 0
    skipped: int = 0  # lines of a log format that carry nothing soc reads
    indexed: Counter[str] = field(default_factory=Counter)  # new documents, per index
    already_present: int = 0  # the same event (same id, same content) was indexed before
    rejected: list[Rejected] = field(default_factory=list)
    conflicts: list[Rejected] = field(default_factory=list)  # same event.id, other content: not indexed
    incomplete: list[Rejected] = field(default_factory=list)  # indexed, but without a field detection needs
    problems: Counter[str] = field(default_factory=Counter)  # kind (PROBLEMS) -> how many
    files: dict[str, FileReport] = field(default_factory=dict)
    seconds: float = 0.0
    keep: int | None = None
    sink: ProblemSink | None = field(default=None, repr=False)

    def add(self, kind: str, item: Rejected) -> None:
        """Count one problem line of ``kind`` (one of PROBLEMS), keep it if there is room, pass it on."""
        self.problems[kind] += 1
        kept = {"rejected": self.rejected, "conflict": self.conflicts, "incomplete": self.incomplete}[kind]
        if self.keep is None or len(kept) < self.keep:
            kept.append(item)
        if self.sink is not None:
            self.sink(kind, item)

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
            "already_present": self.already_present,
            "rejected": self.problems["rejected"],
            "conflicts": self.problems["conflict"],
            "incomplete": self.problems["incomplete"],
            "per_index": dict(sorted(self.indexed.items())),
            "docs_per_second": round(self.docs_per_second),
            "seconds": round(self.seconds, 3),  # from the first line read to the last bulk answer
            "files": [f.summary() for f in self.files.values()],
        }


def _categories(doc: dict[str, Any]) -> list[str]:
    event = doc.get("event")
    categories = event.get("category") if isinstance(event, dict) else None
    if isinstance(categories, str):
        return [categories]
    return [c for c in categories if isinstance(c, str)] if isinstance(categories, list) else []


def route(doc: dict[str, Any], categories: list[str] | None = None) -> str:
    """The dataset of an event: the first ``event.category`` with a route, else "other"."""
    for cat in _categories(doc) if categories is None else categories:
        if cat in CATEGORY_ROUTES:
            return CATEGORY_ROUTES[cat]
    return "other"


def _get(doc: dict[str, Any], dotted: str) -> Any:
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def incomplete_reason(doc: dict[str, Any], categories: list[str] | None = None) -> str | None:
    """Why detection cannot use this event fully, or None: an authentication needs a user
    and a source (address or host name), a network event a source and a destination."""
    categories = _categories(doc) if categories is None else categories
    missing: list[str] = []
    if "authentication" in categories:
        if not _get(doc, "user.name"):
            missing.append("user.name")
        if not any(_get(doc, f) for f in ("source.ip", "source.domain", "source.address")):
            missing.append("a source (source.ip or source.domain)")
        if missing:
            return f"authentication event without {' and '.join(missing)}"
    if "network" in categories:
        if not any(_get(doc, f) for f in ("source.ip", "source.address")):
            missing.append("source.ip")
        if not any(_get(doc, f) for f in ("destination.ip", "destination.address", "destination.domain", "url.domain")):
            missing.append("a destination (destination.ip or destination.domain)")
        if missing:
            return f"network event without {' and '.join(missing)}"
    return None


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


def _ip_value(value: Any, where: str) -> Any:
    """A canonical IP, or a list of them (ECS allows arrays); a non-IP string is left for
    Elasticsearch to reject with its reason."""
    if isinstance(value, str):
        return normalise_ip(value) or value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [normalise_ip(v) or v for v in value]
    raise DocumentError(f"{where} must be an IP address or a list of them, got {json.dumps(value)[:80]}")


def _check_event(event: dict[str, Any]) -> None:
    for name in ("category", "type"):
        value = event.get(name)
        if value is None or isinstance(value, str):
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise DocumentError(
                f"event.{name} must be a string or a list of strings (ECS), got {json.dumps(value)[:80]}"
            )


def _measure_dns(doc: dict[str, Any]) -> None:
    """``dns.question.registered_domain`` / ``subdomain`` / ``top_level_domain`` from the
    Public Suffix List, and ``soc.dns.name_length`` / ``soc.dns.subdomain_entropy``."""
    question = _get(doc, "dns.question")
    name = question.get("name") if isinstance(question, dict) else None
    if not isinstance(name, str) or not name or not isinstance(question, dict):
        return
    facts = dns_name(name)
    for key, value in (
        ("registered_domain", facts.registered_domain),
        ("subdomain", facts.subdomain),
        ("top_level_domain", facts.top_level_domain),
    ):
        if value is not None:
            question[key] = value
    soc = doc.setdefault("soc", {})
    if isinstance(soc, dict):
        soc["dns"] = {"name_length": facts.length, "subdomain_entropy": facts.subdomain_entropy}


_CANONICAL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")  # what iso() writes


@functools.lru_cache(maxsize=4)
def _iso_once(now: datetime) -> str:
    """``iso(now)`` of one ingest run's fixed time, computed once, not per event."""
    return iso(now)


def _source_bytes(doc: dict[str, Any]) -> bytes | dict[str, Any]:
    """The document serialised for ``_bulk`` with orjson (the client then sends the bytes
    as they are); a document orjson refuses (a lone surrogate from a hostile line) is left
    to the client's own serializer."""
    try:
        data = orjson.dumps(doc)
    except TypeError:  # orjson.JSONEncodeError
        return doc
    # orjson writes an infinite or NaN float as null; json writes what Elasticsearch then
    # rejects with its reason, as before (a null is rare: only then is the document walked)
    if b"null" in data and _has_non_finite(doc):
        return doc
    # copied to its size: orjson's bytes keep their whole write buffer (4 KB for a 500-byte
    # event, 32 KB for 3 KB) and up to 6,000 documents are in flight (peak RSS of
    # `soc ingest` at 20,000 lines: 135 MB before the copies, 100 MB after)
    return bytes(memoryview(data))


def _has_non_finite(node: Any) -> bool:
    if isinstance(node, float):
        return not math.isfinite(node)
    if isinstance(node, dict):
        return any(_has_non_finite(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_non_finite(v) for v in node)
    return False


# a string holding a dot and followed by ":" is a key, in orjson's compact output, unless a
# string holds an escaped quote (then every document is walked: rare, and never wrong)
_DOTTED_KEY = re.compile(rb'\.[^"]*":')
_SHORTEST_LIMIT = min(KEYWORD_LIMIT, DYNAMIC_KEYWORD_LIMIT)  # below it bound_keywords changes nothing


def _shape(doc: dict[str, Any]) -> tuple[bool, bool, bool]:
    """``(dotted keys?, nested deeper than MAX_DEPTH?, a string over the keyword limit?)``,
    each answer "maybe" (True) or "certainly not" (False), from one orjson serialisation:
    no key holds a dot, fewer brackets than MAX_DEPTH cannot nest deeper, and no string
    has more characters than its bytes between two quotes (an escaped quote: walk). The
    common ECS event (no dotted key, no long value) then skips three walks of the whole
    document."""
    try:
        data = orjson.dumps(doc)
    except TypeError:  # a lone surrogate, an integer beyond 64 bits, 255+ levels: walk it all
        return True, True, True
    return (
        b'\\"' in data or _DOTTED_KEY.search(data) is not None,
        data.count(b"{") + data.count(b"[") > MAX_DEPTH,
        len(data) > _SHORTEST_LIMIT and (b'\\"' in data or max(map(len, data.split(b'"'))) > _SHORTEST_LIMIT),
    )


def prepare(doc: Any, *, segments: SegmentMap, now: datetime | None = None) -> dict[str, Any]:
    """Validate and normalise one event (in place), or raise DocumentError saying why not."""
    if not isinstance(doc, dict):
        raise DocumentError(f"expected a JSON object, got {type(doc).__name__}")
    dotted, deep, long = _shape(doc)
    if dotted or deep:
        try:
            # once, after "a.b.c…" keys are expanded (they nest too); a document deep enough to
            # exhaust the expansion's recursion is refused below with the same reason
            doc = _expand_dotted(doc) if dotted else doc
            check_depth(doc)
        except BadLine as exc:
            raise DocumentError(str(exc)) from None
        except RecursionError:
            raise DocumentError(f"nested deeper than {MAX_DEPTH} levels") from None
    ts = doc.get("@timestamp")
    if ts is None:
        raise DocumentError("@timestamp is missing (every event needs its time, ISO 8601 with a zone)")
    if not isinstance(ts, str):
        raise DocumentError(f"@timestamp must be an ISO 8601 string, got {json.dumps(ts)[:80]}")
    try:
        parsed = parse_time(ts)
    except (ValueError, OverflowError) as exc:
        raise DocumentError(f"@timestamp: {exc}") from exc
    if not _CANONICAL_TIME.fullmatch(ts):  # most producers write it so already: kept as is
        try:
            doc["@timestamp"] = iso(parsed)
        except (ValueError, OverflowError) as exc:
            raise DocumentError(f"@timestamp: {exc}") from exc
    arrays: dict[str, list[Any]] = {}
    for parent in _IP_FIELDS:
        node = doc.get(parent)
        if isinstance(node, dict) and node.get("ip") is not None:
            node["ip"] = _ip_value(node["ip"], f"{parent}.ip")
            if isinstance(node["ip"], list):  # segments are read from the first address
                arrays[parent] = node["ip"]
                node["ip"] = next(iter(node["ip"]), None)
    event = doc.setdefault("event", {})
    if not isinstance(event, dict):
        raise DocumentError("event must be an object")
    _check_event(event)
    event.setdefault("kind", "event")
    event["ingested"] = _iso_once(now) if now is not None else iso(datetime.now(UTC))
    _measure_dns(doc)  # before bounding: the length of the name as it was
    normalise_user_names(doc)  # user.name lower-case whatever the format (detectors group by it)
    # the values prepare adds or rewrites are no longer than the ones _shape measured
    ready: dict[str, Any] = enrich_segments(bound_keywords(doc) if long else doc, segments)
    for parent, ips in arrays.items():
        ready[parent]["ip"] = ips
    return ready


def content_digest(doc: dict[str, Any]) -> str:
    """What an event says, without what ingest adds (``event.ingested``, ``soc.*``): two
    lines with one ``event.id`` and the same digest are the same event.

    The SHA-256 of the content serialised by orjson with sorted keys (what orjson refuses,
    or writes differently — non-finite floats — by ``json``). Documents indexed by an
    earlier soc hold another digest form: ``_sort_existing`` then digests their stored
    ``_source`` the same way, so a re-ingest still says "already present"."""
    event = doc.get("event")
    content = {k: v for k, v in doc.items() if k not in ("event", "soc")}
    if isinstance(event, dict):
        content["event"] = {k: v for k, v in event.items() if k != "ingested"}
    try:
        data = orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson.JSONEncodeError
        data = b""
    if not data or (b"null" in data and _has_non_finite(content)):
        data = json.dumps(content, sort_keys=True, default=str).encode()
    return hashlib.sha256(data).hexdigest()[:32]


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


@dataclass
class _Sent:
    """An action sent and not yet answered: where it came from and what it says."""

    file: FileReport
    source: str
    digest: str
    incomplete: str | None  # why detection cannot use it fully, counted once it is indexed
    text: str | None  # the raw line, for the rejects file


def _index(
    gw: EsGateway,
    items: Iterable[tuple[FileReport, ParseResult]],
    *,
    segments: SegmentMap,
    on_progress: Callable[[int], None] | None,
    op_type: str = "create",
    keep: int | None = None,
    sink: ProblemSink | None = None,
) -> IngestReport:
    ensure_ready(gw)
    report = IngestReport(keep=keep, sink=sink)
    # actions sent and not yet answered, by _id (bounded by the bulk chunk size; keyed by id
    # rather than by position because retried documents are answered out of order)
    in_flight: dict[str, deque[_Sent]] = defaultdict(deque)
    existing: list[tuple[_Sent, str, str]] = []  # (sent, index, id) answered 409: already there
    now = datetime.now(UTC)
    indices = {dataset: gw.index_name(suffix) for dataset, suffix in EVENT_DATASETS.items()}
    began = time.perf_counter()

    def reject(fr: FileReport, source: str, reason: str, text: str | None) -> None:
        fr.rejected += 1
        report.add("rejected", Rejected(source, reason, text))

    def action(fr: FileReport, result: Parsed) -> dict[str, Any] | None:
        try:
            doc = prepare(result.doc, segments=segments, now=now)
            doc_id = _doc_id(doc)
            # a digest tells a re-ingest from a conflict; "index" (the simulator's own events) needs none
            digest = result.digest or (content_digest(doc) if op_type == "create" else "")
            categories = _categories(doc)
            index = indices[route(doc, categories)]
        except DocumentError as exc:
            reject(fr, result.source, str(exc), result.text)
            return None
        except RecursionError:
            reject(fr, result.source, "nested too deep", result.text)
            return None
        except Exception as exc:  # noqa: BLE001 - one hostile document must not end the file
            why = f"cannot index this document ({type(exc).__name__}: {str(exc)[:200]})"
            reject(fr, result.source, why, result.text)
            return None
        if digest:
            digest = doc.setdefault("soc", {})["digest"] = hashlib.sha256(digest.encode()).hexdigest()[:32]
        fr.without_geo += "authentication" in categories and lacks_geo(doc)
        sent = _Sent(fr, result.source, digest, incomplete_reason(doc, categories), result.text)
        in_flight[doc_id].append(sent)
        return {"_op_type": op_type, "_index": index, "_id": doc_id, "_source": _source_bytes(doc)}

    def actions() -> Iterator[dict[str, Any]]:
        for fr, result in items:
            report.read += 1
            fr.read += 1
            if isinstance(result, Skipped):
                report.skipped += 1
                fr.skipped += 1
            elif isinstance(result, Rejected):
                reject(fr, result.source, result.reason, result.text)
            elif (act := action(fr, result)) is not None:
                yield act

    def on_result(ok: bool, info: dict[str, Any]) -> None:
        doc_id = str(info["id"])
        queue = in_flight[doc_id]
        sent = queue.popleft() if queue else None
        if not queue:
            in_flight.pop(doc_id, None)
        if sent is None:
            return
        if ok:
            sent.file.indexed += 1
            if sent.incomplete is not None:
                sent.file.incomplete += 1
                report.add("incomplete", Rejected(sent.source, sent.incomplete, sent.text))
        elif info.get("status") == 409:
            existing.append((sent, str(info["index"]), doc_id))
            if len(existing) >= _LOOKUP_BATCH:  # bounded: a re-ingest of a huge file holds one batch
                _sort_existing(gw, existing, report)
                existing.clear()
        else:
            reject(sent.file, sent.source, f"rejected by Elasticsearch: {_bounded_reason(info['reason'])}", sent.text)

    # two chunks in flight: the next chunk is read and prepared while Elasticsearch indexes one
    result = gw.bulk(actions(), on_progress=on_progress, on_result=on_result, concurrency=BULK_CONCURRENCY)
    report.indexed.update(result.per_index)
    _sort_existing(gw, existing, report)
    if report.indexed:
        gw.refresh(list(report.indexed))
    report.seconds = time.perf_counter() - began
    return report


def _sort_existing(gw: EsGateway, existing: list[tuple[_Sent, str, str]], report: IngestReport) -> None:
    """Tell a re-ingest (same content: already present) from a conflict (other content)."""
    by_index: dict[str, list[tuple[_Sent, str]]] = defaultdict(list)
    for sent, index, doc_id in existing:
        by_index[index].append((sent, doc_id))
    for index, entries in by_index.items():
        for start in range(0, len(entries), _LOOKUP_BATCH):
            chunk = entries[start : start + _LOOKUP_BATCH]
            stored = gw.mget(index, list(dict.fromkeys(doc_id for _, doc_id in chunk)))
            for sent, doc_id in chunk:
                source = stored.get(doc_id)
                soc = source.get("soc") if source else None
                digest = soc.get("digest") if isinstance(soc, dict) else None
                if source is not None and digest != sent.digest:
                    # indexed by an earlier soc (another digest form, or none): what it says
                    digest = hashlib.sha256(content_digest(source).encode()).hexdigest()[:32]
                if digest == sent.digest:
                    sent.file.already_present += 1
                    report.already_present += 1
                else:
                    sent.file.conflicts += 1
                    why = (
                        f"event.id {doc_id!r} is already indexed with other content; "
                        "the first one is kept and this one was not indexed"
                    )
                    report.add("conflict", Rejected(sent.source, why, sent.text))


def index_events(
    gw: EsGateway,
    docs: Iterable[dict[str, Any]],
    *,
    segments: SegmentMap,
    on_progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Index events from memory (the simulator's path: its own events, rewritten in place)."""
    fr = FileReport(_MEMORY, "ecs")
    report = _index(
        gw,
        ((fr, Parsed(f"#{i + 1}", d)) for i, d in enumerate(docs)),
        segments=segments,
        on_progress=on_progress,
        op_type="index",
    )
    report.files[fr.file] = fr
    return report


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
    encoding: str = "utf-8",
    on_progress: Callable[[int], None] | None = None,
    keep: int | None = None,
    sink: ProblemSink | None = None,
) -> IngestReport:
    """Load log files (ECS NDJSON by default); every line is counted in its file's report.

    ``tz`` is the zone of syslog times that carry none (default UTC); ``reference`` is the
    "now" that decides their year (default: the current time); ``encoding`` is the files'
    (a line that does not decode is rejected, never altered).
    """
    if fmt not in FORMATS:
        raise IngestError(f"unknown input format {fmt!r}", field="--format", hint=f"use one of: {', '.join(FORMATS)}")
    hint = "e.g. utf-8, cp932, euc-jp (one where a line ends with the byte 0x0A)"
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise IngestError(f"unknown encoding {encoding!r}", field="--encoding", hint=hint) from None
    if "\n".encode(encoding) != b"\n":
        raise IngestError(f"encoding {encoding!r} is not read line by line", field="--encoding", hint=hint)
    files = list(paths)
    for p in files:
        if not p.is_file():
            raise IngestError("file not found", file=p)
    formats = _formats(files, fmt)
    zone = tz or ZoneInfo("UTC")
    ref = reference or datetime.now(UTC)
    reports = {p: FileReport(str(p), formats[p], guessed=fmt == "auto") for p in files}
    items = (
        (reports[p], result)
        for p in files
        for result in parse_file(p, formats[p], tz=zone, reference=ref, encoding=encoding)
    )
    report = _index(gw, items, segments=segments, on_progress=on_progress, keep=keep, sink=sink)
    report.files = {str(p): fr for p, fr in reports.items()}
    return report


class RejectsFile:
    """A problem sink writing every problem line as NDJSON as it is found: ``kind``
    (rejected, conflict, incomplete), ``file``, ``line``, ``reason`` and ``text`` (the line
    as read, undecodable bytes as ``\\xNN``). Nothing is held in memory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = 0
        self._fh = path.open("w", encoding="utf-8")

    def __call__(self, kind: str, item: Rejected) -> None:
        name, _, number = item.source.rpartition(":")
        located = bool(name) and number.isdigit()
        record = {
            "kind": kind,
            "file": name if located else item.source,
            "line": int(number) if located else None,
            "reason": item.reason,
            "text": item.text,
        }
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.written += 1

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> RejectsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_LONG_TOKEN = re.compile(r"(\S{48})\S{16,}")


def _bounded_reason(reason: object) -> str:
    """Elasticsearch's reason for refusing a document, bounded: it quotes the offending
    value (a 400-digit number, a 10,000-character name) once or twice, and a reason is read
    on a console line and kept in ``--rejects``. Long tokens are cut, then the whole."""
    return truncate(_LONG_TOKEN.sub(r"\1…", " ".join(str(reason).split())), 400)
