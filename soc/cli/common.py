"""What every CLI command shares: building the context, printing JSON, failing clearly."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from soc.config import load_settings
from soc.context import AppContext
from soc.errors import SocError

__all__ = ["console", "context", "err_console", "fail_on_soc_error", "print_json", "state"]

# piped or captured output (make demo | tee, CI logs) gets 120 columns instead of rich's 80
_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 120
console = Console(highlight=False, soft_wrap=True, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

T = TypeVar("T")


class _State:
    """Global CLI options (set by the root callback), read by sub-commands."""

    config: Any = None
    _ctx: AppContext | None = None

    def reset(self) -> None:
        if self._ctx is not None:
            self._ctx.es.close()
        self._ctx = None


state = _State()


def context() -> AppContext:
    """The one AppContext of this CLI invocation."""
    if state._ctx is None:
        state._ctx = AppContext.from_settings(load_settings(state.config))
    return state._ctx


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")


@contextmanager
def fail_on_soc_error() -> Iterator[None]:
    """Print a soc error as one clear line on stderr and exit 1 (no traceback)."""
    try:
        yield
    except SocError as exc:
        err_console.print(f"[bold red]error:[/] {escape(exc.render())}", soft_wrap=True)
        raise typer.Exit(1) from exc


def command(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator: run a command body inside fail_on_soc_error."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        with fail_on_soc_error():
            return fn(*args, **kwargs)

    return wrapper
