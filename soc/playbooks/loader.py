"""Load playbooks (collect every error, then fail once) and route alerts to them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from soc.alerts.models import Alert
from soc.definitions import load_all, load_definition
from soc.errors import DefinitionError, DefinitionErrors, NotFound
from soc.playbooks.graph import GRAPH_PROBLEMS
from soc.playbooks.models import PLAYBOOK_MODELS, Playbook

__all__ = ["find_playbook", "load_playbook_file", "load_playbooks", "route"]


def load_playbook_file(path: Path) -> Playbook:
    """One playbook; DefinitionErrors lists every problem of the file, graph problems one by one."""
    try:
        return load_definition(path, PLAYBOOK_MODELS, what="playbook", tag=None)
    except DefinitionErrors as exc:
        raise DefinitionErrors([part for e in exc.errors for part in _split(e)]) from exc


def _split(error: DefinitionError) -> list[DefinitionError]:
    if GRAPH_PROBLEMS not in error.message:
        return [error]
    out = []
    for line in error.message.split(GRAPH_PROBLEMS, 1)[1].splitlines():
        field, _, message = line.partition(": ")
        out.append(DefinitionError(message, file=error.file, field=field, object_id=error.object_id))
    return out


def load_playbooks(directory: Path) -> list[Playbook]:
    playbooks: list[Playbook] = load_all(directory, load_playbook_file, what="playbook")
    return playbooks


def find_playbook(playbooks: Sequence[Playbook], playbook_id: str) -> Playbook:
    found = next((p for p in playbooks if p.id == playbook_id), None)
    if found is None:
        raise NotFound(f"no playbook {playbook_id!r}", hint=f"known: {', '.join(sorted(p.id for p in playbooks))}")
    return found


def _passes_floors(p: Playbook, alert: Alert) -> bool:
    t = p.triggers
    if t.min_severity is not None and alert.severity < t.min_severity:
        return False
    return t.min_risk is None or alert.risk_score >= t.min_risk


def route(playbooks: Sequence[Playbook], alert: Alert) -> Playbook | None:
    """The playbook for an alert, or None.

    Most specific first: a trigger naming a segment the alert touches (the My Number
    segment opens its own track whatever the detector), then one naming the alert's
    detector, then severity/risk-only triggers (the highest floor wins). ``min_severity``
    and ``min_risk`` are floors for every kind of trigger. Ties are broken by id, so the
    choice never depends on file order.
    """
    eligible = sorted((p for p in playbooks if _passes_floors(p, alert)), key=lambda p: p.id)
    by_segment = [p for p in eligible if set(p.triggers.segments) & set(alert.segments)]
    if by_segment:
        return by_segment[0]
    by_detector = [p for p in eligible if alert.detector in p.triggers.detectors]
    if by_detector:
        return by_detector[0]
    by_floor = sorted(
        (
            p
            for p in eligible
            if not p.triggers.detectors
            and not p.triggers.segments
            and (p.triggers.min_severity is not None or p.triggers.min_risk is not None)
        ),
        key=lambda p: (
            -(p.triggers.min_severity.rank if p.triggers.min_severity else 0),
            -(p.triggers.min_risk or 0),
            p.id,
        ),
    )
    return by_floor[0] if by_floor else None
