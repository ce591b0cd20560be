"""Strict YAML: safe loading, duplicate keys rejected, errors with file, line and column.

Bounded before anything is built: a definition file is at most ``MAX_BYTES`` long, nests at
most ``MAX_DEPTH`` levels and expands (aliases counted at their full size) to at most
``MAX_NODES`` nodes. The check walks the parser's event stream (iterative, linear in the text,
never expanding an alias), so a file nested 600 deep or a "billion laughs" alias bomb gets a
one-line error in milliseconds instead of a RecursionError or gigabytes of memory.
Every message is bounded in length (``MAX_MESSAGE``).

A string folded over several lines (a ``>-`` block, a multi-line plain or quoted scalar) is
joined without a space where the line break stands inside Japanese text (``soc.cjk``):
YAML's folding would show 「確認し て」. Spaces written on one line and the folds between
English words are kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from soc.cjk import join_folded_lines
from soc.errors import DefinitionError
from soc.textsafe import truncate

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_MESSAGE", "MAX_NODES", "load_yaml_file", "load_yaml_text", "pydantic_errors"]

MAX_BYTES = 1_000_000  # the largest shipped definition is ~10 KB
MAX_DEPTH = 32  # the deepest shipped definition nests 6 levels
MAX_NODES = 100_000  # scalars and collections after alias expansion
MAX_MESSAGE = 300  # characters of one error message (the value it quotes is cut)


class _StrictLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key].start_mark.line + 1})", mark
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _construct_str(loader: _StrictLoader, node: yaml.ScalarNode) -> str:
    """A string; one folded over lines is joined again without a space inside Japanese text."""
    value = str(loader.construct_scalar(node))
    if node.start_mark.line == node.end_mark.line or node.style == "|" or not isinstance(loader.buffer, str):
        return value
    raw = loader.buffer[node.start_mark.index : node.end_mark.index]
    if node.style == ">":
        raw = raw.partition("\n")[2]  # the lines after the header (">-")
    elif node.style in ("'", '"'):
        raw = raw[1:-1]
    return join_folded_lines(value, raw.split("\n"))


_StrictLoader.add_constructor("tag:yaml.org,2002:str", _construct_str)


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "?"


def _check_bounds(text: str, file: str | Path) -> None:
    """Depth and expanded size from the event stream, before any node is composed."""
    if len(text) > MAX_BYTES:
        raise DefinitionError(f"file too large: {len(text)} characters (limit {MAX_BYTES})", file=file)
    depth = 0
    sizes: dict[str, int] = {}  # anchor -> expanded size of its node
    stack: list[tuple[str | None, int]] = [(None, 0)]  # (anchor, size so far) per open collection
    for event in yaml.parse(text, Loader=_StrictLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise DefinitionError(
                    f"nested deeper than {MAX_DEPTH} levels ({_where(event.start_mark)})",
                    file=file,
                    hint="a definition needs a few levels; flatten the structure",
                )
            stack.append((event.anchor, 1))
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
            anchor, size = stack.pop()
        elif isinstance(event, yaml.AliasEvent):
            anchor, size = None, sizes.get(event.anchor or "", 1)
        elif isinstance(event, yaml.ScalarEvent):
            anchor, size = event.anchor, 1
        else:
            continue
        if anchor is not None:
            sizes[anchor] = size
        parent_anchor, parent_size = stack[-1]
        stack[-1] = (parent_anchor, parent_size + size)
        if parent_size + size > MAX_NODES:
            raise DefinitionError(
                f"YAML aliases expand to more than {MAX_NODES} values ({_where(event.start_mark)})",
                file=file,
                hint="an alias bomb? write the values out, or use fewer nested aliases",
            )


def load_yaml_text(text: str, *, file: str | Path = "<string>") -> Any:
    try:
        _check_bounds(text, file)
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        problem = truncate(str(exc.problem), MAX_MESSAGE)
        raise DefinitionError(f"{problem} ({_where(exc.problem_mark)})", file=file) from exc
    except yaml.YAMLError as exc:
        raise DefinitionError(truncate(f"not valid YAML: {exc}", MAX_MESSAGE), file=file) from exc
    except RecursionError as exc:  # defence in depth: _check_bounds keeps the nesting far below this
        raise DefinitionError(f"nested too deeply (limit {MAX_DEPTH} levels)", file=file) from exc


def load_yaml_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError(f"cannot read: {exc}", file=path) from exc
    return load_yaml_text(text, file=path)


def pydantic_errors(exc: Any, *, file: str | Path, object_id: str | None = None) -> list[DefinitionError]:
    """One DefinitionError per pydantic error, with the dotted field path."""
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        msg = str(err["msg"]).removeprefix("Value error, ")
        # a model-level check names its field first ("window: must be ..."): put it in the path
        head, sep, rest = msg.partition(": ")
        if sep and head.replace(".", "").replace("_", "").isalnum() and " " not in head:
            loc.append(head)
            msg = rest
        field = truncate(".".join(loc), 120)
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see the JSON schema in schemas/)"
        msg = "\n".join(truncate(line, MAX_MESSAGE) for line in msg.splitlines())  # a value is quoted cut
        out.append(DefinitionError(msg, file=file, field=field or None, object_id=object_id))
    return out
