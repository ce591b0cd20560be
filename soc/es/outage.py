"""One clean line per failure when Elasticsearch is away.

Two pieces:

* ``quiet_transport_logs(verbose=...)`` — the Elasticsearch client logs a warning with a
  full traceback for every retry and every node it marks dead (nine tracebacks before a CLI
  command's one ``error:`` line; hundreds a minute from the scheduler). By default those
  records are counted and dropped: the caller reports the failure once, in its own words.
  With ``verbose=True`` (``soc --verbose``) every transport record passes, tracebacks
  included. Installed on the transport loggers once; later calls only change the mode.
* ``OutageLog`` — for long-running processes (the scheduler): the first failure of an
  outage is logged once, then one summary per ``every`` while it lasts (how long, how many
  failed runs, of which jobs), then the recovery with its duration. With ``shared`` (a file
  in the data directory, ``OUTAGE_FILE``) the processes of one host that share it — several
  schedulers, the collector — log one outage once between them, not once each: the first
  to fail writes the file (under an exclusive ``flock``) and logs the error; the others log
  their first failure at DEBUG, naming who reported it; one summary per ``every`` counts the
  failures of all of them; the first to reach Elasticsearch again logs the recovery and
  removes the file. A file nobody has touched for ``stale_after`` (every process stopped
  mid-outage) starts a new outage. If the file cannot be used, each process logs alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = ["OUTAGE_FILE", "TRANSPORT_LOGGERS", "OutageLog", "quiet_transport_logs", "suppressed_transport_records"]

OUTAGE_FILE = "es-outage.json"  # in the data directory: the outage the host's soc processes share

TRANSPORT_LOGGERS = (
    "elastic_transport",
    "elastic_transport.transport",
    "elastic_transport.node_pool",
    "elastic_transport.node",
    "elasticsearch",
    "urllib3.connectionpool",
    "urllib3.connection",  # "Certificate did not match expected hostname", with the whole certificate
    "urllib3.util.retry",
    "urllib3.poolmanager",
)


class _TransportFilter(logging.Filter):
    """Drops transport records unless verbose; counts what it drops."""

    def __init__(self) -> None:
        super().__init__("soc-transport")
        self.verbose = False
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if self.verbose or record.levelno >= logging.CRITICAL:
            return True
        self.dropped += 1
        return False


_FILTER = _TransportFilter()
_INSTALL_LOCK = threading.Lock()
_installed = False


def quiet_transport_logs(*, verbose: bool | None = None) -> None:
    """Install the transport filter (once). ``verbose`` True lets every record through,
    False drops them, None keeps the current mode."""
    global _installed
    with _INSTALL_LOCK:
        if not _installed:
            for name in TRANSPORT_LOGGERS:
                logging.getLogger(name).addFilter(_FILTER)
            _installed = True
        if verbose is not None:
            _FILTER.verbose = verbose
            if verbose:  # the detail the user asked for: requests, retries and their tracebacks
                logging.getLogger("elastic_transport").setLevel(logging.DEBUG)


def suppressed_transport_records() -> int:
    """How many transport log records were dropped so far (for summaries and tests)."""
    return _FILTER.dropped


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class OutageLog:
    """Logs an Elasticsearch outage as three kinds of lines, whatever the number of jobs:

    ``Elasticsearch unreachable (detector failed-login-burst): <reason>; jobs retry with backoff``
    ``Elasticsearch still unreachable after 5m00s: 212 failed run(s) of 23 job(s); last: <reason>``
    ``Elasticsearch is back after 7m12s (260 failed run(s) of 23 job(s))``

    Thread-safe (jobs run in a pool); *now* is the injected clock; *shared* makes the
    processes that pass the same file log each outage once between them (module docstring).
    """

    def __init__(
        self,
        *,
        now: Callable[[], datetime],
        logger: logging.Logger | None = None,
        every: timedelta = timedelta(minutes=5),
        shared: Path | None = None,
        stale_after: timedelta = timedelta(minutes=30),
    ) -> None:
        self._now = now
        self._log = logger or logging.getLogger("soc.es")
        self._every = every
        self._shared = shared
        self._stale_after = stale_after
        self._me = f"{socket.gethostname()}:{os.getpid()}"
        self._lock = threading.Lock()
        self._since: datetime | None = None
        self._last_summary: datetime | None = None
        self._failures: Counter[str] = Counter()
        self._last_reason = ""

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, job: str, reason: str) -> None:
        """A job could not reach Elasticsearch."""
        with self._lock:
            now = self._now()
            self._failures[job] += 1
            self._last_reason = reason
            first = self._since is None
            since = self._since = self._since or now
            with self._shared_state() as state:
                if state is not None:
                    self._failed_shared(state, job, reason, now, first=first)
                    return
            if first:
                self._last_summary = now
                self._log.error("Elasticsearch unreachable (%s): %s; jobs retry with backoff", job, reason)
                return
            if self._last_summary is None or now - self._last_summary >= self._every:
                self._last_summary = now
                self._summary(now - since, sum(self._failures.values()), len(self._failures), reason)

    def succeeded(self) -> None:
        """A job reached Elasticsearch: if an outage was on, it is over."""
        if self._since is None:  # the common case, without taking the lock
            return
        with self._lock:
            since = self._since
            if since is None:
                return
            runs, jobs = sum(self._failures.values()), len(self._failures)
            self._since = self._last_summary = None
            self._failures.clear()
            with self._shared_state() as state:
                if state == {}:  # another process saw it back first and said so
                    self._log.debug("Elasticsearch is back (the recovery was logged by another process)")
                    return
                if state is not None:
                    since, runs, jobs = _time(state["since"]), int(state["runs"]), len(state["jobs"])
                    state.clear()  # written back as no outage: the file is removed
            back = _span(self._now() - since)
            self._log.info("Elasticsearch is back after %s (%d failed run(s) of %d job(s))", back, runs, jobs)

    # -- one outage for every process sharing the file ------------------------------------------
    def _failed_shared(self, state: dict[str, Any], job: str, reason: str, now: datetime, *, first: bool) -> None:
        fresh = bool(state) and now - _time(state["seen"]) < self._stale_after
        if not fresh:  # nobody reported this outage yet (or the file is left from a stopped one)
            state.clear()
            state.update(since=now.isoformat(), seen=now.isoformat(), summary=now.isoformat(), by=self._me,
                         runs=1, jobs=[job])  # fmt: skip
            self._log.error("Elasticsearch unreachable (%s): %s; jobs retry with backoff", job, reason)
            return
        state["seen"] = now.isoformat()
        state["runs"] = int(state["runs"]) + 1
        if job not in state["jobs"]:
            state["jobs"] = [*state["jobs"], job]
        if first:
            self._log.debug("Elasticsearch unreachable (%s): %s; already reported by %s", job, reason, state["by"])
        if now - _time(state["summary"]) >= self._every:
            state["summary"] = now.isoformat()
            self._summary(now - _time(state["since"]), int(state["runs"]), len(state["jobs"]), reason)

    @contextlib.contextmanager
    def _shared_state(self) -> Iterator[dict[str, Any] | None]:
        """The shared outage (``{}``: none) under an exclusive lock, written back (removed when
        emptied) on exit; None without a usable file."""
        if self._shared is None:
            yield None
            return
        try:
            self._shared.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._shared.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            self._log.debug("outage file %s not usable (%s): this process logs alone", self._shared, exc)
            yield None
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            state = _read(self._shared)
            before = dict(state)
            yield state
            if state != before:
                _write(self._shared, state)
        finally:
            os.close(fd)  # releases the lock

    def _summary(self, span: timedelta, runs: int, jobs: int, reason: str) -> None:
        self._log.warning(
            "Elasticsearch still unreachable after %s: %d failed run(s) of %d job(s); last: %s",
            _span(span),
            runs,
            jobs,
            reason,
        )


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _read(path: Path) -> dict[str, Any]:
    """The shared outage; ``{}`` when there is none or the file is unreadable or damaged."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        _time(data["since"]), _time(data["seen"]), _time(data["summary"]), int(data["runs"]), list(data["jobs"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return dict(data)


def _write(path: Path, state: dict[str, Any]) -> None:
    """Replace the file atomically (removed when *state* is empty); a failure only costs dedup."""
    try:
        if not state:
            path.unlink(missing_ok=True)
            return
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass
