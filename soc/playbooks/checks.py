"""Check every detector and playbook and what refers to what, listing every error at once.

One broken file never hides another's error: the checks across definitions (playbook
triggers → detectors, notification routes → playbook roles) run on whatever did load,
and a trigger may name a disabled detector (disabling one must not stop the scheduler).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from soc.detection.loader import load_detectors
from soc.detection.models import Detector
from soc.errors import DefinitionError, DefinitionErrors
from soc.playbooks.loader import check_routes, load_playbooks
from soc.playbooks.models import Playbook

__all__ = ["Definitions", "check_definitions"]


@dataclass
class Definitions:
    """What loaded (``None`` when a directory had errors) and every error found."""

    detectors: list[Detector] | None = None
    playbooks: list[Playbook] | None = None
    errors: list[DefinitionError] = field(default_factory=list)


def check_definitions(
    detectors_dir: Path,
    playbooks_dir: Path,
    *,
    routes: Iterable[tuple[str, Sequence[str]]] = (),
    config_file: str = "soc.toml",
) -> Definitions:
    out = Definitions()
    try:
        every = load_detectors(detectors_dir, include_disabled=True)
        out.detectors = [d for d in every if d.enabled]
        detector_ids = {d.id for d in every}
    except DefinitionErrors as exc:
        out.errors.extend(exc.errors)
        # a broken detector file may still be the one a trigger names: its id (or its file
        # name when the YAML did not parse) counts as known, so only the file's own error shows
        broken = {e.object_id or Path(e.file or "").stem for e in exc.errors}
        detector_ids = {d.id for d in exc.loaded} | broken
    try:
        out.playbooks = load_playbooks(playbooks_dir, detector_ids=detector_ids)
        parsed: list[Playbook] | None = out.playbooks
    except DefinitionErrors as exc:
        out.errors.extend(exc.errors)
        try:  # a playbook whose only fault is a trigger still declares its roles
            parsed = load_playbooks(playbooks_dir)
        except DefinitionErrors:
            parsed = None  # a file does not parse: the roles it declares are unknown
    if parsed is not None:
        out.errors.extend(check_routes(routes, parsed, file=config_file))
    return out
