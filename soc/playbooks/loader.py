"""Load playbooks (collect every error, then fail once) and route alerts to them."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

from soc.alerts.models import Alert
from soc.definitions import load_all, load_definition
from soc.errors import DefinitionError, DefinitionErrors, NotFound
from soc.playbooks.graph import GRAPH_PROBLEMS
from soc.playbooks.models import ESCALATION_LADDER, PLAYBOOK_MODELS, Playbook

__all__ = ["check_routes", "find_playbook", "load_playbook_file", "load_playbooks", "route", "unknown_detectors"]


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


def load_playbooks(directory: Path, *, detector_ids: Collection[str] | None = None) -> list[Playbook]:
    """Every playbook under *directory*; with *detector_ids*, a trigger naming a detector
    that does not exist is an error of its file (a typo would otherwise route nothing)."""

    def load_one(path: Path) -> Playbook:
        playbook = load_playbook_file(path)
        problems = unknown_detectors(playbook, detector_ids, file=path) if detector_ids is not None else []
        if problems:
            raise DefinitionErrors(problems)
        return playbook

    playbooks: list[Playbook] = load_all(directory, load_one, what="playbook")
    return playbooks


def _did_you_mean(name: str, known: Iterable[str], what: str) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"did you mean {close[0]!r}?" if close else f"use the id of an existing {what}"


def unknown_detectors(playbook: Playbook, detector_ids: Collection[str], *, file: Path) -> list[DefinitionError]:
    """One error per ``triggers.detectors`` entry that names no detector."""
    return [
        DefinitionError(
            f"no detector {name[:100]!r}",
            file=file,
            field=f"triggers.detectors.{i}",
            object_id=playbook.id,
            hint=_did_you_mean(name, detector_ids, "detector (soc validate lists them)"),
        )
        for i, name in enumerate(playbook.triggers.detectors)
        if name not in detector_ids
    ]


def check_routes(
    routes: Iterable[tuple[str, Sequence[str]]], playbooks: Sequence[Playbook], *, file: str
) -> list[DefinitionError]:
    """Notification routes by role (``[[notify.destinations]] roles = [...]``): each role
    must be one a playbook declares, or the destination silently never hears of an escalation."""
    known = {role.id for p in playbooks for role in p.roles} | set(ESCALATION_LADDER)
    errors = []
    for destination, roles in routes:
        for i, role in enumerate(roles):
            if role not in known:
                errors.append(
                    DefinitionError(
                        f"destination {destination!r}: no playbook has the role {role[:100]!r}",
                        file=file,
                        field=f"notify.destinations.roles.{i}",
                        hint=_did_you_mean(role, known, "playbook role"),
                    )
                )
    return errors


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
