"""The ``soc ingest --follow`` loop: find files, read a bounded batch, parse, index, save.

Each batch comes from one file and goes through the same path as ``soc ingest``
(``soc.parsers`` then ``soc.es.ingest.index_events``), so documents get the same ids:
the parsers' content hashes. That is what makes a restart safe: the saved offset moves
only after Elasticsearch acknowledged the batch, so a crash in between re-reads at most
one batch, and re-indexing it overwrites the same documents instead of doubling them.

When Elasticsearch is unreachable the batch is kept and retried with a growing pause
(1 s doubling up to ``max_backoff``); no later line is read meanwhile, so nothing is
lost and memory stays at one batch. The outage is logged through ``OutageLog`` (once, a
summary every 5 minutes, the recovery; once between the host's processes when given one
that shares the data directory's file), not once per retry.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from soc.collect.models import FollowStats
from soc.collect.offsets import OffsetStore
from soc.collect.tailer import Batch, Tail
from soc.errors import ElasticsearchRequestError, ElasticsearchUnavailable, IngestError, SocError
from soc.es.client import EsGateway
from soc.es.ingest import index_events
from soc.es.outage import OutageLog
from soc.network.segments import SegmentMap
from soc.parsers import FORMATS, PARSERS, Parsed, Rejected, Skipped, guess_format, read_head
from soc.textsafe import visible

__all__ = ["FollowOptions", "Follower", "is_rotated_name"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# names logrotate and rsyslog give old files: followed through the live file, not again
_ROTATED = re.compile(r"(\.\d+|[-.]\d{8,10}|\.gz|\.bz2|\.xz|\.zst|\.zip)$")
_GUESS_LINES = 10  # a file whose first lines fit no format is reported once, then ignored


def is_rotated_name(name: str) -> bool:
    """``auth.log.1``, ``auth.log-20261129``, ``auth.log.2.gz``: a rotated copy, not a live log."""
    return bool(_ROTATED.search(name))


@dataclass(frozen=True)
class FollowOptions:
    fmt: str = "auto"
    poll_seconds: float = 0.5
    discover_seconds: float = 2.0
    batch_lines: int = 2000
    batch_bytes: int = 4 << 20
    rotate_grace: float = 1.0
    gone_after: float = 60.0  # a deleted file read to its end is closed (its disk space freed) after this
    max_backoff: float = 30.0
    once: bool = False  # read what is there now, then return (catch-up and tests)


class _Stopped(SocError):
    """Asked to stop while waiting for Elasticsearch (caught in this module)."""


class Follower:
    """Follows ``paths`` (files, or directories searched recursively) until ``stop`` is set."""

    def __init__(
        self,
        gw: EsGateway,
        paths: Iterable[Path],
        *,
        segments: SegmentMap,
        tz: ZoneInfo,
        options: FollowOptions | None = None,
        stop: threading.Event | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_status: Callable[[FollowStats], None] | None = None,
        on_rejected: Callable[[Rejected], None] | None = None,
        outage_file: Path | None = None,  # shared with the host's other soc processes (OutageLog)
    ) -> None:
        self.options = options or FollowOptions()
        if self.options.fmt not in FORMATS:
            raise IngestError(
                f"unknown input format {self.options.fmt!r}", field="--format", hint=f"use one of: {', '.join(FORMATS)}"
            )
        self._gw = gw
        self._roots = [p.absolute() for p in paths]
        self._segments = segments
        self._tz = tz
        self._now = now
        self.stop = stop or threading.Event()
        self._on_status = on_status
        self._on_rejected = on_rejected
        self._outage = OutageLog(now=now, logger=log, shared=outage_file)
        self._offsets = OffsetStore(gw)
        self._tails: dict[Path, Tail] = {}
        self._formats: dict[Path, str | None] = {}
        self.stats = FollowStats()

    # -- the loop -----------------------------------------------------------------
    def run(self) -> FollowStats:
        next_discovery = 0.0
        try:
            while not self.stop.is_set():
                if time.monotonic() >= next_discovery:
                    self._discover()
                    next_discovery = time.monotonic() + self.options.discover_seconds
                progressed = False
                for path, tail in list(self._tails.items()):
                    if self.stop.is_set():
                        break
                    tail.poll()
                    progressed |= self._step(path, tail)
                self._refresh_stats()
                if not progressed:
                    if self.options.once and not any(t.lag() for t in self._tails.values()):
                        break
                    self.stop.wait(self.options.poll_seconds)
        except _Stopped:
            pass
        finally:
            for tail in self._tails.values():
                tail.close()
            self._refresh_stats()
        return self.stats

    def _discover(self) -> None:
        for root in self._roots:
            if root.is_dir():
                for dirpath, dirnames, filenames in os.walk(root):
                    dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                    for name in sorted(filenames):
                        if not name.startswith(".") and not is_rotated_name(name):
                            self._track(Path(dirpath) / name)
            else:
                self._track(root)  # followed even before it exists

    def _track(self, path: Path) -> None:
        if path in self._tails:
            return
        saved = self._retrying(lambda: self._offsets.load(str(path)))
        self._tails[path] = Tail(
            path, saved, rotate_grace=self.options.rotate_grace, gone_after=self.options.gone_after
        )
        log.info("following %s%s", visible(path), f" from byte {saved.position}" if saved else "")

    def _format(self, path: Path) -> str | None:
        """The format of ``path``: the one given, or guessed once from its first lines."""
        if self.options.fmt != "auto":
            return self.options.fmt
        if path in self._formats:
            return self._formats[path]
        try:
            head = read_head(path, _GUESS_LINES)
        except OSError:
            return None
        fmt = guess_format(head)
        if fmt is None and len(head) < _GUESS_LINES:
            return None  # too little to tell yet: asked again at the next poll
        if fmt is None:
            log.error(
                "%s: cannot tell the format from the first lines; the file is not followed "
                "(fix: give --format, one of %s)",
                visible(path),
                ", ".join(f for f in FORMATS if f != "auto"),
            )
        self._formats[path] = fmt
        return fmt

    def _step(self, path: Path, tail: Tail) -> bool:
        """Read, index and commit one batch of ``path``; False when it had nothing new."""
        fmt = self._format(path)
        if fmt is None:
            if path in self._formats:
                self._tails.pop(path).close()  # reported once in _format
            return False
        batch = tail.read(max_lines=self.options.batch_lines, max_bytes=self.options.batch_bytes, header=fmt == "zeek")
        if batch is None:
            return False
        self._ship(batch, fmt)
        self._retrying(lambda: self._offsets.save(batch.offset))
        return True

    # -- one batch ------------------------------------------------------------------
    def _ship(self, batch: Batch, fmt: str) -> None:
        docs: list[dict[str, Any]] = []
        sources: list[str] = []
        rejected: list[Rejected] = []
        skipped = 0
        for result in _parse(batch, fmt, tz=self._tz, reference=self._now()):
            if isinstance(result, Parsed):
                docs.append(result.doc)
                sources.append(result.source)
            elif isinstance(result, Skipped):
                skipped += 1
            else:
                rejected.append(result)
        if docs:
            report = self._retrying(lambda: index_events(self._gw, docs, segments=self._segments))
            for rej in report.rejected:
                where = rej.source
                if where.startswith("#") and where[1:].isdigit() and int(where[1:]) <= len(sources):
                    where = sources[int(where[1:]) - 1]
                rejected.append(Rejected(where, rej.reason))
            self.stats.indexed += report.indexed_total
            for index, n in report.indexed.items():
                self.stats.per_index[index] = self.stats.per_index.get(index, 0) + n
        self.stats.lines += len(batch.lines)
        self.stats.skipped += skipped
        self.stats.rejected += len(rejected)
        self.stats.batches += 1
        for rej in rejected:
            if self._on_rejected is not None:
                self._on_rejected(rej)
            else:
                log.warning("rejected %s", visible(rej))

    def _retrying(self, action: Callable[[], T]) -> T:
        """``action()``, retried with a growing pause while Elasticsearch is unreachable."""
        delay = 1.0
        while True:
            try:
                result = action()
            except (ElasticsearchUnavailable, ElasticsearchRequestError) as exc:
                if isinstance(exc, ElasticsearchRequestError) and not _transient(exc):
                    raise
                self.stats.es_down = True
                self.stats.retries += 1
                self._outage.failed("collector", exc.message)
                log.debug("Elasticsearch unavailable, retrying in %.0fs: %s", delay, exc.message)
                self._status()
                if self.stop.wait(delay):
                    raise _Stopped("stopped while Elasticsearch was unavailable") from exc
                delay = min(delay * 2, self.options.max_backoff)
                continue
            self._outage.succeeded()
            self.stats.es_down = False
            return result

    # -- status -----------------------------------------------------------------
    def _refresh_stats(self) -> None:
        self.stats.files = len(self._tails)
        self.stats.lag_bytes = sum(t.lag() for t in self._tails.values())
        self.stats.rotations = sum(t.rotations for t in self._tails.values())
        self.stats.truncations = sum(t.truncations for t in self._tails.values())
        self._status()

    def _status(self) -> None:
        if self._on_status is not None:
            self._on_status(self.stats)


def _transient(exc: ElasticsearchRequestError) -> bool:
    """429 (too many requests) and 5xx answers pass; other errors are ours to report."""
    return bool(re.search(r"HTTP (429|5\d\d)\b", exc.message))


def _parse(batch: Batch, fmt: str, *, tz: ZoneInfo, reference: datetime) -> Iterator[Any]:
    """Parse the lines of a batch; every result names ``file:line`` in that file."""
    if fmt == "ecs":
        for i, text in enumerate(batch.lines):
            where = f"{batch.name}:{batch.first_line + i}"
            if not text.strip():
                continue
            try:
                yield Parsed(where, json.loads(text))
            except json.JSONDecodeError as exc:
                yield Rejected(where, f"not valid JSON: {exc.msg} (column {exc.colno})")
        return
    lines = [*batch.header, *batch.lines] if batch.header and not batch.lines[0].startswith("#") else batch.lines
    shift = batch.first_line - 1 - (len(lines) - len(batch.lines))
    for result in PARSERS[fmt](lines, source=batch.name, tz=tz, reference=reference):
        _, _, n = result.source.rpartition(":")
        where = f"{batch.name}:{int(n) + shift}" if n.isdigit() else result.source
        if isinstance(result, Parsed):
            yield Parsed(where, result.doc)
        elif isinstance(result, Rejected):
            yield Rejected(where, result.reason)
        else:
            yield Skipped(where, result.reason)
