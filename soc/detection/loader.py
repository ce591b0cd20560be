"""Load every detector file, collect every error, then fail once."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from soc.definitions import definition_files, load_all, load_definition
from soc.detection.models import DETECTOR_MODELS, Detector, ExceptionItem, ValueList
from soc.errors import DefinitionError, DefinitionErrors

__all__ = ["detector_files", "load_detector_file", "load_detectors", "read_value_list"]

detector_files = definition_files


def read_value_list(path: Path) -> list[str]:
    """One value per line; blank lines and ``#`` comments ignored."""
    values = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            values.append(text)
    return values


def _fill_value_lists(detector: Detector, path: Path) -> Detector:
    if not detector.exceptions:
        return detector
    errors: list[DefinitionError] = []
    items: list[ExceptionItem] = []
    for i, item in enumerate(detector.exceptions):
        match = dict(item.match)
        for field, value in item.match.items():
            if not isinstance(value, ValueList):
                continue
            file = (path.parent / value.file).resolve()
            try:
                match[field] = value.model_copy(update={"values": read_value_list(file)})
            except OSError as exc:
                errors.append(
                    DefinitionError(
                        f"value list {file} cannot be read: {exc.strerror or exc}",
                        file=path,
                        field=f"exceptions[{i}].match.{field}.file",
                        object_id=detector.id,
                        hint="give a path relative to the detector file, one value per line",
                    )
                )
        items.append(item.model_copy(update={"match": match}))
    if errors:
        raise DefinitionErrors(errors)
    return detector.model_copy(update={"exceptions": items})


def load_detector_file(path: Path) -> Detector:
    """One detector; raises DefinitionErrors (every problem of this file) if invalid."""
    detector = cast(Detector, load_definition(path, DETECTOR_MODELS, what="detector"))
    return _fill_value_lists(detector, path)


def load_detectors(directory: Path, *, include_disabled: bool = False) -> list[Detector]:
    """Every detector under *directory*; raises DefinitionErrors listing every broken file."""
    detectors: list[Detector] = load_all(directory, load_detector_file, what="detector")
    return [d for d in detectors if d.enabled or include_disabled]
