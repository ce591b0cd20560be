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
  failed runs, of which jobs), then the recovery with its duration.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

__all__ = ["TRANSPORT_LOGGERS", "OutageLog", "quiet_transport_logs", "suppressed_transport_records"]

TRANSPORT_LOGGERS = (
    "elastic_transport",
    "elastic_transport.transport",
    "elastic_transport.node_pool",
    "elastic_transport.node",
    "elasticsearch",
    "urllib3.connectionpool",
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

    Thread-safe (jobs run in a pool); *now* is the injected clock.
    """

    def __init__(
        self,
        *,
        now: Callable[[], datetime],
        logger: logging.Logger | None = None,
        every: timedelta = timedelta(minutes=5),
    ) -> None:
        self._now = now
        self._log = logger or logging.getLogger("soc.es")
        self._every = every
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
            if self._since is None:
                self._since = self._last_summary = now
                self._log.error("Elasticsearch unreachable (%s): %s; jobs retry with backoff", job, reason)
                return
            assert self._last_summary is not None
            if now - self._last_summary >= self._every:
                self._last_summary = now
                self._log.warning(
                    "Elasticsearch still unreachable after %s: %d failed run(s) of %d job(s); last: %s",
                    _span(now - self._since),
                    sum(self._failures.values()),
                    len(self._failures),
                    reason,
                )

    def succeeded(self) -> None:
        """A job reached Elasticsearch: if an outage was on, it is over."""
        if self._since is None:  # the common case, without taking the lock
            return
        with self._lock:
            if self._since is None:
                return
            self._log.info(
                "Elasticsearch is back after %s (%d failed run(s) of %d job(s))",
                _span(self._now() - self._since),
                sum(self._failures.values()),
                len(self._failures),
            )
            self._since = self._last_summary = None
            self._failures.clear()
