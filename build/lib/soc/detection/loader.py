"""Load every detector file, collect every error, then fail once."""

from __future__ import annotations

from pathlib import Path

from soc.definitions import definition_files, load_all, load_definition
from soc.detection.models import DETECTOR_MODELS, Detector

__all__ = ["detector_files", "load_detector_file", "load_detectors"]

detector_files = definition_files


def load_detector_file(path: Path) -> Detector:
    """One detector; raises DefinitionErrors (every problem of this file) if invalid."""
    return load_definition(path, DETECTOR_MODELS, what="detector")


def load_detectors(directory: Path, *, include_disabled: bool = False) -> list[Detector]:
    """Every detector under *directory*; raises DefinitionErrors listing every broken file."""
    detectors: list[Detector] = load_all(directory, load_detector_file, what="detector")
    return [d for d in detectors if d.enabled or include_disabled]
