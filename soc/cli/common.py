"""What every CLI command shares: building the context, printing JSON, failing clearly."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from soc.config import load_settings
from soc.context import AppContext
from soc.errors import SocError
from soc.textsafe import visible
from soc.vocab import parse_time

__all__ = [
    "cells",
    "console",
    "context",
    "err_console",
    "fail_on_soc_error",
    "json_line",
    "option_time",
    "print_json",
    "safe",
    "state",
]

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


def safe(text: object, *, multiline: bool = False) -> str:
    """A string from data, ready for ``console.print``: controls, bidi and zero-width
    characters shown as escapes (``\\x1b``, ``\\u202e``) and rich markup (``[bold]``) escaped."""
    return escape(visible(text, multiline=multiline))


def cells(*values: object) -> list[str]:
    """Table cells from data: every value through ``safe`` (a rich Table reads markup too)."""
    return ["" if v is None else safe(v) for v in values]


# JSON escapes C0 controls itself; with ensure_ascii=False it leaves C1, bidi and zero-width
# characters raw. Those are written as \uXXXX: the same data for a parser, inert on a terminal.
_JSON_UNSAFE = re.compile(
    "[\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff\U000e0000-\U000e007f]"
)


def json_line(obj: Any) -> str:
    text = json.dumps(obj, ensure_ascii=False, default=str)
    return _JSON_UNSAFE.sub(lambda m: _json_escape(m.group()), text)


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # outside the BMP: a UTF-16 surrogate pair, as JSON spells it
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def print_json(obj: Any) -> None:
    sys.stdout.write(json_line(obj) + "\n")


@contextmanager
def fail_on_soc_error() -> Iterator[None]:
    """Print a soc error as one clear line on stderr and exit 1 (no traceback)."""
    try:
        yield
    except SocError as exc:
        err_console.print(f"[bold red]error:[/] {safe(exc.render(), multiline=True)}", soft_wrap=True)
        raise typer.Exit(1) from exc


def command(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator: run a command body inside fail_on_soc_error."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        with fail_on_soc_error():
            return fn(*args, **kwargs)

    return wrapper


def option_time(value: str, option: str) -> datetime:
    """The ISO 8601 time given to *option*, or a clear error naming the option."""
    try:
        return parse_time(value)
    except ValueError as exc:
        raise SocError(str(exc), field=option, hint="e.g. 2026-11-24T00:00:00+09:00 or 2026-11-23T15:00:00Z") from exc
