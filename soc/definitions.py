"""Loading a directory of YAML definitions (detectors, playbooks): strict, collect-then-fail."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from soc.errors import DefinitionError, DefinitionErrors
from soc.textsafe import truncate
from soc.yamlio import load_yaml_file, pydantic_errors

__all__ = ["definition_files", "load_all", "load_definition"]


class _HasId(Protocol):
    id: str


M = TypeVar("M", bound=BaseModel)


def definition_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.suffix in {".yml", ".yaml"} and p.is_file())


def load_definition(path: Path, models: Mapping[str, type[M]], *, what: str, tag: str | None = "kind") -> M:
    """Parse one file and validate it with the model its *tag* key names (``tag=None``: the only model).

    Raises DefinitionErrors with every problem of this file, each naming file and field.
    """
    try:
        data = load_yaml_file(path)
    except DefinitionError as exc:
        raise DefinitionErrors([exc]) from exc
    if not isinstance(data, dict):
        raise DefinitionErrors([DefinitionError(f"a {what} file must be a mapping of keys to values", file=path)])
    object_id = data.get("id") if isinstance(data.get("id"), str) else None
    if tag is None:
        model = next(iter(models.values()))
    else:
        value = data.get(tag)
        model = models.get(value) if isinstance(value, str) else None  # type: ignore[assignment]
        if model is None:
            raise DefinitionErrors(
                [
                    DefinitionError(
                        f"unknown {what} {tag} {truncate(repr(value), 100)}",
                        file=path,
                        field=tag,
                        object_id=object_id,
                        hint=f"use one of: {', '.join(sorted(models))}",
                    )
                ]
            )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise DefinitionErrors(pydantic_errors(exc, file=path, object_id=object_id)) from exc


def load_all(directory: Path, load_one: Callable[[Path], Any], *, what: str) -> list[Any]:
    """Every definition under *directory*; one DefinitionErrors listing every broken file."""
    if not directory.is_dir():
        raise DefinitionErrors([DefinitionError(f"{what} directory not found", file=directory)])
    loaded: list[Any] = []
    errors: list[DefinitionError] = []
    seen: dict[str, Path] = {}
    for path in definition_files(directory):
        try:
            item = load_one(path)
        except DefinitionErrors as exc:
            errors.extend(exc.errors)
            continue
        if item.id in seen:
            errors.append(DefinitionError(f"duplicate {what} id (also in {seen[item.id]})", file=path, field="id"))
            continue
        seen[item.id] = path
        loaded.append(item)
    if errors:
        raise DefinitionErrors(errors, loaded=loaded)
    return loaded
