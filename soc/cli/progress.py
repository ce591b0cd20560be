"""Progress bars for long operations, on a terminal only.

``with progress("indexing", total=lines, unit="events") as advance: ... advance(n)`` draws a
rich bar on stderr with the count, the rate (``12,345 events/s``), the time spent and, when
the total is known, the time left (ETA). When stdout or stderr is not a terminal (piped into
a file, ``tee``, CI logs, tests) it draws nothing at all — not even a final line — so the
output of a piped command stays exactly what it was, and ``advance`` costs nothing.

The bar is transient: it disappears when the operation ends, leaving only the command's
own summary lines on the terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

__all__ = ["Advance", "count_lines", "on_terminal", "progress"]

Advance = Callable[[int], None]


def on_terminal() -> bool:
    """True when both stdout and stderr are terminals (a person is watching)."""
    return sys.stdout.isatty() and sys.stderr.isatty()


class _Rate(ProgressColumn):
    """``1,234 events/s`` (rich's own speed column speaks of bytes)."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} {self.unit}/s", style="progress.data.speed")


def _ignore(_n: int) -> None:
    return None


@contextmanager
def progress(
    what: str, *, total: int | None = None, unit: str = "items", enabled: bool | None = None
) -> Iterator[Advance]:
    """A bar for *what*; yields ``advance(n)``. *enabled* None: only on a terminal.

    With a *total* the bar shows the share done and the time left; without one, a pulsing
    bar with the count, the rate and the time spent."""
    if enabled is None:
        enabled = on_terminal()
    if not enabled:
        yield _ignore
        return
    columns: list[ProgressColumn | str] = [TextColumn("[progress.description]{task.description}"), BarColumn()]
    if total is not None:
        columns += [TaskProgressColumn(), MofNCompleteColumn()]
    else:
        columns += [TextColumn("{task.completed:,} " + unit)]
    columns += [_Rate(unit), TimeElapsedColumn()]
    if total is not None:
        columns += [TextColumn("ETA"), TimeRemainingColumn()]
    console = Console(stderr=True, highlight=False)
    with Progress(*columns, console=console, transient=True, refresh_per_second=5) as bar:
        task = bar.add_task(what, total=total)

        def advance(n: int) -> None:
            bar.advance(task, n)

        yield advance


def count_lines(paths: list[Path]) -> int | None:
    """Lines in *paths* (for an ETA), or None if a path is not a plain readable file."""
    total = 0
    try:
        for path in paths:
            if not path.is_file() or path.suffix in (".gz", ".bz2", ".xz", ".zst"):
                return None
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    total += chunk.count(b"\n")
    except OSError:
        return None
    return total
