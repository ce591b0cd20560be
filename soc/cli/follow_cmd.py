"""``soc ingest --follow PATH…``: index log files as they grow, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from rich.markup import escape

from soc.cli.common import console, context, err_console
from soc.collect.follower import Follower, FollowOptions
from soc.collect.models import FollowStats
from soc.es.outage import OUTAGE_FILE
from soc.parsers import Rejected
from soc.textsafe import truncate, visible

__all__ = ["follow", "status_line"]


def status_line(stats: FollowStats, *, lines_per_second: float) -> str:
    """The one status line: throughput, bytes not yet read, what was refused."""
    state = "  [Elasticsearch down: retrying]" if stats.es_down else ""
    return (
        f"{lines_per_second:,.0f} lines/s  lag {_bytes(stats.lag_bytes)} in {stats.files} file(s)  "
        f"indexed {stats.indexed:,}  rejected {stats.rejected:,}{state}"
    )


def _bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"  # pragma: no cover


class _StatusPrinter:
    """Rewrites one terminal line at most once a second; silent when stderr is not a terminal."""

    def __init__(self) -> None:
        self.live = sys.stderr.isatty()
        self._last = time.monotonic()
        self._lines = 0
        self._rate = 0.0

    def __call__(self, stats: FollowStats) -> None:
        now = time.monotonic()
        if now - self._last < 1.0:
            return
        self._rate = (stats.lines - self._lines) / (now - self._last)
        self._last, self._lines = now, stats.lines
        if self.live:
            sys.stderr.write("\r\x1b[K" + status_line(stats, lines_per_second=self._rate))
            sys.stderr.flush()

    def clear(self) -> None:
        if self.live:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def follow(paths: list[Path], fmt: str) -> FollowStats:
    """Follow ``paths`` with the CLI's context until SIGTERM/SIGINT; print a summary at the end."""
    ctx = context()
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    printer = _StatusPrinter()

    def _on_rejected(rej: Rejected) -> None:
        printer.clear()
        err_console.print(f"rejected: {escape(visible(truncate(str(rej), 2000)))}", soft_wrap=True)

    follower = Follower(
        ctx.es,
        paths,
        segments=ctx.segments,
        tz=ctx.settings.tz,
        options=FollowOptions(fmt=fmt),
        stop=stop,
        now=ctx.clock.now,
        on_status=printer,
        on_rejected=_on_rejected,
        outage_file=ctx.settings.data_dir / OUTAGE_FILE,
    )
    err_console.print(f"following {len(paths)} path(s); stop with Ctrl-C or SIGTERM", markup=False)
    try:
        stats = follower.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        printer.clear()
    for key, value in stats.summary().items():
        console.print(f"{key}: {value}", markup=False)
    return stats
