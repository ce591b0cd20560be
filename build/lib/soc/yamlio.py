"""Strict YAML: safe loading, duplicate keys rejected, errors with file, line and column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from soc.errors import DefinitionError

__all__ = ["load_yaml_file", "load_yaml_text", "pydantic_errors"]


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


def load_yaml_text(text: str, *, file: str | Path = "<string>") -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        raise DefinitionError(f"{exc.problem} ({where})", file=file) from exc
    except yaml.YAMLError as exc:
        raise DefinitionError(f"not valid YAML: {exc}", file=file) from exc


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
        field = ".".join(loc)
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see the JSON schema in schemas/)"
        out.append(DefinitionError(msg, file=file, field=field or None, object_id=object_id))
    return out
