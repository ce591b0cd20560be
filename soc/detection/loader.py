"""Load every detector file, collect every error, then fail once."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from soc.detection.models import DETECTOR_MODELS, Detector
from soc.errors import DefinitionError, DefinitionErrors
from soc.yamlio import load_yaml_file, pydantic_errors

__all__ = ["detector_files", "load_detector_file", "load_detectors"]


def detector_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.suffix in {".yml", ".yaml"} and p.is_file())


def load_detector_file(path: Path) -> Detector:
    """One detector; raises DefinitionErrors (every problem of this file) if invalid."""
    try:
        data = load_yaml_file(path)
    except DefinitionError as exc:
        raise DefinitionErrors([exc]) from exc
    if not isinstance(data, dict):
        raise DefinitionErrors([DefinitionError("a detector file must be a mapping of keys to values", file=path)])
    object_id = data.get("id") if isinstance(data.get("id"), str) else None
    kind = data.get("kind")
    model = DETECTOR_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise DefinitionErrors(
            [
                DefinitionError(
                    f"unknown detector kind {kind!r}",
                    file=path,
                    field="kind",
                    object_id=object_id,
                    hint=f"use one of: {', '.join(sorted(DETECTOR_MODELS))}",
                )
            ]
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise DefinitionErrors(pydantic_errors(exc, file=path, object_id=object_id)) from exc


def load_detectors(directory: Path, *, include_disabled: bool = False) -> list[Detector]:
    """Every detector under *directory*; raises DefinitionErrors listing every broken file."""
    if not directory.is_dir():
        raise DefinitionErrors([DefinitionError("detector directory not found", file=directory)])
    detectors: list[Detector] = []
    errors: list[DefinitionError] = []
    seen: dict[str, Path] = {}
    for path in detector_files(directory):
        try:
            detector = load_detector_file(path)
        except DefinitionErrors as exc:
            errors.extend(exc.errors)
            continue
        if detector.id in seen:
            errors.append(
                DefinitionError(f"duplicate detector id (also in {seen[detector.id]})", file=path, field="id")
            )
            continue
        seen[detector.id] = path
        if detector.enabled or include_disabled:
            detectors.append(detector)
    if errors:
        raise DefinitionErrors(errors)
    return detectors
