"""Read the complete lines of one log file, following it across rotation and restarts.

A ``Tail`` owns one path. It reads whole lines only (a line still being written stays
unread until its newline arrives), at most a bounded batch at a time, so memory does
not grow with the file. Between batches ``poll`` looks at the path again:

- a new inode at the path (logrotate's rename, or delete and recreate): the old file is
  read to its end first, then the new one from its start;
- the file shrank below our position, or its first line changed (copy-truncate, then
  refilled): read again from the start;
- a saved ``Offset`` (restart): resume at its position if device, inode and first line
  still match; if the path has a new inode, look for the old inode in the same
  directory (``auth.log.1``) and finish it first.

The position of a batch is returned with the batch: the caller saves it only once the
batch is safely indexed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from soc.collect.models import Offset
from soc.textsafe import visible

__all__ = ["HEAD_BYTES", "MAX_LINE_BYTES", "Batch", "Tail", "head_hash"]

log = logging.getLogger(__name__)

HEAD_BYTES = 1024  # the first line identifies a file; longer first lines are cut here
MAX_LINE_BYTES = 1 << 20  # a longer line is cut into pieces of this size, never held whole


def head_hash(fd: int) -> str:
    """A hash of the first line of an open file, or "" while that line is incomplete."""
    data = os.pread(fd, HEAD_BYTES, 0)
    end = data.find(b"\n")
    if end < 0:
        if len(data) < HEAD_BYTES:
            return ""
        end = HEAD_BYTES
    return hashlib.sha256(data[:end]).hexdigest()[:32]


@dataclass(frozen=True)
class Batch:
    """Lines read from one file; ``first_line`` is the number of ``lines[0]`` in that file."""

    name: str  # the file the lines came from (a rotated file keeps its new name)
    lines: list[str]
    first_line: int
    offset: Offset  # save this once the batch is indexed
    header: tuple[str, ...] = ()  # the file's leading "#" lines (a Zeek TSV header)


class _Open:
    """One open file: its handle, identity and read position."""

    def __init__(self, fh: BinaryIO, name: str, position: int, line: int) -> None:
        self.fh = fh
        st = os.fstat(fh.fileno())
        self.device, self.inode = st.st_dev, st.st_ino
        self.name = name
        self.position = position
        self.line = line
        self.head = head_hash(fh.fileno())
        self.size_seen = -1
        fh.seek(position)

    @property
    def identity(self) -> tuple[int, int]:
        return self.device, self.inode

    def size(self) -> int:
        return os.fstat(self.fh.fileno()).st_size


class Tail:
    """Follows one path; see the module docstring for what it survives."""

    def __init__(
        self, path: Path, saved: Offset | None = None, *, rotate_grace: float = 1.0, gone_after: float = 60.0
    ) -> None:
        self.path = path
        self.rotate_grace = rotate_grace
        self.gone_after = gone_after  # a missing path's file, read to its end, is closed after this
        self.rotations = 0
        self.truncations = 0
        self._saved = saved
        self._cur: _Open | None = None
        self._next_pending = False  # the path holds a newer file, read after the current one ends
        self._eof_since: float | None = None
        self._gone_since: float | None = None  # since when the path is missing (deleted or renamed away)

    # -- looking at the path -------------------------------------------------------
    def poll(self) -> None:
        """Notice rotation and truncation since the last look."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        if st is None:
            self._gone_since = self._gone_since or time.monotonic()
        else:
            self._gone_since = None
        if self._cur is None:
            if st is not None:
                self._first_open()
            return
        cur = self._cur
        if st is not None and (st.st_dev, st.st_ino) != cur.identity:
            if not self._next_pending:
                log.info("%s was rotated; finishing the old file first", visible(self.path))
            self._next_pending = True
            return
        size = cur.size()
        if size == cur.size_seen:
            return
        cur.size_seen = size
        if size < cur.position or (cur.head and cur.position and head_hash(cur.fh.fileno()) != cur.head):
            log.info("%s was truncated; reading it again from the start", visible(cur.name))
            self.truncations += 1
            cur.position, cur.line = 0, 0
            cur.head = head_hash(cur.fh.fileno())
            cur.fh.seek(0)

    def _first_open(self) -> None:
        saved, self._saved = self._saved, None
        fh = self.path.open("rb")
        st = os.fstat(fh.fileno())
        if saved is None:
            self._cur = _Open(fh, str(self.path), 0, 0)
            return
        if (st.st_dev, st.st_ino) == (saved.device, saved.inode):
            if st.st_size >= saved.position and (not saved.head or head_hash(fh.fileno()) == saved.head):
                self._cur = _Open(fh, str(self.path), saved.position, saved.line)
            else:
                log.info("%s was truncated while we were stopped; reading it from the start", visible(self.path))
                self.truncations += 1
                self._cur = _Open(fh, str(self.path), 0, 0)
            return
        old = _find_inode(self.path.parent, saved)
        if old is None:
            if saved.position:
                log.warning(
                    "%s was rotated while we were stopped and the old file is gone; "
                    "lines after byte %d of it were not read",
                    visible(self.path),
                    saved.position,
                )
            self._cur = _Open(fh, str(self.path), 0, 0)
            return
        fh.close()
        log.info("%s was rotated while we were stopped; finishing %s first", visible(self.path), visible(old))
        self.rotations += 1
        self._cur = _Open(old.open("rb"), str(old), saved.position, saved.line)
        self._next_pending = True

    def _switch(self) -> None:
        assert self._cur is not None
        self._cur.fh.close()
        self._cur = None
        self._next_pending = False
        self._eof_since = None
        self.rotations += 1
        if self.path.exists():
            self._cur = _Open(self.path.open("rb"), str(self.path), 0, 0)

    # -- reading ----------------------------------------------------------------
    def read(self, *, max_lines: int, max_bytes: int, header: bool = False) -> Batch | None:
        """Up to ``max_lines`` complete lines (or ``max_bytes``); None when nothing is new.

        ``header``: also return the file's leading ``#`` lines (Zeek TSV needs them)."""
        cur = self._cur
        if cur is None:
            return None
        first_line = cur.line + 1
        lines: list[str] = []
        nbytes = 0
        while len(lines) < max_lines and nbytes < max_bytes:
            raw = cur.fh.readline(MAX_LINE_BYTES)
            if not raw:
                break
            if not raw.endswith(b"\n") and len(raw) < MAX_LINE_BYTES and not self._next_pending:
                cur.fh.seek(cur.position)  # the writer is mid-line: wait for the rest
                break
            cur.position += len(raw)
            cur.line += 1
            nbytes += len(raw)
            if not cur.head:
                cur.head = head_hash(cur.fh.fileno())
            lines.append(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
        if lines:
            self._eof_since = None
            return Batch(cur.name, lines, first_line, self._offset(cur), self._header(cur) if header else ())
        now = time.monotonic()
        if self._next_pending:
            if self._eof_since is None:
                self._eof_since = now
            if now - self._eof_since >= self.rotate_grace:
                self._switch()  # the writer has moved on to the new file
                return self.read(max_lines=max_lines, max_bytes=max_bytes, header=header)
        elif self._gone_since is not None and now - self._gone_since >= self.gone_after:
            # deleted (or renamed with no successor yet) and read to its end: let it go, so a
            # deleted file's disk space is freed; a file created later is read from its start
            log.info("%s is gone and was read to its end; closing it", visible(cur.name))
            self.close()
        return None

    def _offset(self, cur: _Open) -> Offset:
        return Offset(str(self.path), cur.device, cur.inode, cur.position, cur.line, cur.head)

    @staticmethod
    def _header(cur: _Open) -> tuple[str, ...]:
        """Leading ``#`` lines (Zeek TSV): a batch from mid-file needs them to be parsed."""
        data = os.pread(cur.fh.fileno(), 65536, 0)
        if not data.startswith(b"#"):
            return ()
        out = []
        for raw in data.split(b"\n")[:-1]:
            if not raw.startswith(b"#"):
                break
            out.append(raw.decode("utf-8", errors="replace").rstrip("\r"))
        return tuple(out)

    def lag(self) -> int:
        """Bytes written and not yet read (the current file, plus the next one if rotated)."""
        cur = self._cur
        behind = max(cur.size() - cur.position, 0) if cur else 0
        if self._next_pending or cur is None:
            with contextlib.suppress(FileNotFoundError):
                behind += self.path.stat().st_size
        return behind

    def close(self) -> None:
        if self._cur is not None:
            self._cur.fh.close()
            self._cur = None


def _find_inode(directory: Path, saved: Offset) -> Path | None:
    """The file in ``directory`` that is the one ``saved`` was read from (renamed by rotation)."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return None
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) != (saved.device, saved.inode) or not entry.is_file(follow_symlinks=False):
            continue
        with open(entry.path, "rb") as fh:
            if saved.head and head_hash(fh.fileno()) != saved.head:
                return None  # the inode was reused by another file
        return Path(entry.path)
    return None
