"""Load playbooks (collect every error, then fail once) and route alerts to them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from soc.alerts.models import Alert
from soc.definitions import load_all, load_definition
from soc.playbooks.models import PLAYBOOK_MODELS, Playbook

__all__ = ["load_playbook_file", "load_playbooks", "route"]


def load_playbook_file(path: Path) -> Playbook:
    return load_definition(path, PLAYBOOK_MODELS, what="playbook", tag=None)


def load_playbooks(directory: Path) -> list[Playbook]:
    playbooks: list[Playbook] = load_all(directory, load_playbook_file, what="playbook")
    return playbooks


def route(playbooks: Sequence[Playbook], alert: Alert) -> Playbook | None:
    """The playbook for an alert, or None.

    A trigger naming the alert's detector wins over a severity-only trigger; a
    ``min_severity`` given next to ``detectors`` is a floor for those detectors too.
    Among severity-only triggers the highest floor (the most specific) wins; ties are
    broken by id, so the choice never depends on file order.
    """
    eligible = [p for p in playbooks if p.triggers.min_severity is None or alert.severity >= p.triggers.min_severity]
    by_detector = sorted((p for p in eligible if alert.detector in p.triggers.detectors), key=lambda p: p.id)
    if by_detector:
        return by_detector[0]
    by_severity = sorted(
        (p for p in eligible if not p.triggers.detectors and p.triggers.min_severity is not None),
        key=lambda p: (-p.triggers.min_severity.rank, p.id),  # type: ignore[union-attr]
    )
    return by_severity[0] if by_severity else None
