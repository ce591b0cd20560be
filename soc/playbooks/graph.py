"""The step graph of a playbook: every problem at once, edges, and an order to plan in.

Pure functions over a ``Playbook``; the model calls ``problems`` when it validates.
An edge ``(from, to, option)`` is taken always (``option=None``) or only when that
option of a decision or approval is chosen. A parallel step's edges go to its
branches; the branches' last steps lead to the join (the parallel step's ``next``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from soc.playbooks.models import Playbook

__all__ = ["GRAPH_PROBLEMS", "Edge", "branch_members", "edges", "predecessors", "problems", "topological_order"]

GRAPH_PROBLEMS = "graph problems:\n"  # the loader splits this message into one error per line


class Edge(NamedTuple):
    source: str
    target: str
    option: str | None


def edges(pb: Playbook) -> Iterator[Edge]:
    for step in pb.steps:
        if step.kind == "parallel":
            for b in step.branches:
                yield Edge(step.id, b, None)
            continue
        for target in step.next:
            yield Edge(step.id, target, None)
        for option, target in step.option_targets().items():
            yield Edge(step.id, target, option)


def predecessors(pb: Playbook) -> dict[str, list[Edge]]:
    incoming: dict[str, list[Edge]] = {s.id: [] for s in pb.steps}
    for e in edges(pb):
        incoming.setdefault(e.target, []).append(e)
    return incoming


def topological_order(pb: Playbook) -> list[str]:
    """Step ids so that every step comes after all its predecessors (the graph is acyclic)."""
    incoming = {k: len(v) for k, v in predecessors(pb).items()}
    out: dict[str, list[str]] = {s.id: [] for s in pb.steps}
    for e in edges(pb):
        out[e.source].append(e.target)
    ready = [s.id for s in pb.steps if incoming[s.id] == 0]
    order: list[str] = []
    while ready:
        current = ready.pop(0)
        order.append(current)
        for t in out[current]:
            incoming[t] -= 1
            if incoming[t] == 0:
                ready.append(t)
    return order


def branch_members(pb: Playbook, branch: str, join: str) -> list[str]:
    """Steps of one parallel branch: reachable from *branch* without passing the join."""
    by_id = {s.id: s for s in pb.steps}
    seen: list[str] = []
    todo = [branch]
    while todo:
        current = todo.pop()
        if current in seen or current == join or current not in by_id:
            continue
        seen.append(current)
        todo.extend(by_id[current].successors())
    return seen


def problems(pb: Playbook) -> list[tuple[str, str]]:
    """Every structural problem as ``(field path, message)``, in file order."""
    found: list[tuple[str, str]] = []
    ids = [s.id for s in pb.steps]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        found.append(("steps", f"duplicate step id(s) {', '.join(dupes)}"))
    known = set(ids)
    roles = {r.id for r in pb.roles}
    for index, step in enumerate(pb.steps):
        where = f"steps.{index}"
        for attr in ("owner", "audience"):
            role = getattr(step, attr, None)
            if role is not None and role not in roles:
                found.append((f"{where}.{attr}", f"role {role!r} is not declared in roles"))
        sla = getattr(step, "sla", None)
        if sla is not None and sla.escalate_to is not None and sla.escalate_to not in roles:
            found.append((f"{where}.sla.escalate_to", f"role {sla.escalate_to!r} is not declared in roles"))
        for target in step.next:
            if target not in known:
                found.append((f"{where}.next", f"{target!r} is not a step id"))
        for j, option in enumerate(getattr(step, "options", [])):
            if option.next is not None and option.next not in known:
                found.append((f"{where}.options.{j}.next", f"{option.next!r} is not a step id"))
        for target in getattr(step, "branches", []):
            if target not in known:
                found.append((f"{where}.branches", f"{target!r} is not a step id"))
        if step.kind == "end" and step.next:
            found.append((f"{where}.next", "an end step leads nowhere: remove next"))
        elif step.kind in ("decision", "approval") and not step.next:
            missing = [o.id for o in getattr(step, "options", []) if o.next is None]
            if missing:
                found.append((f"{where}.next", f"options {', '.join(missing)} lead nowhere: give them next"))
        elif step.kind != "end" and not step.successors():
            found.append((f"{where}.next", f"a {step.kind} step must lead to another step"))
    if not any(s.kind == "end" for s in pb.steps):
        found.append(("steps", "a playbook needs an 'end' step"))
    if pb.steps and pb.steps[0].kind == "end":
        found.append(("steps.0", "the first step starts the workflow: it cannot be an end step"))
    found += _reachability(pb)
    found += _cycles(pb)
    found += _joins(pb)
    return found


def _reachability(pb: Playbook) -> list[tuple[str, str]]:
    by_id = {s.id: s for s in pb.steps}
    reachable: set[str] = set()
    todo = [pb.steps[0].id] if pb.steps else []
    while todo:
        current = todo.pop()
        if current in reachable or current not in by_id:
            continue
        reachable.add(current)
        todo.extend(by_id[current].successors())
    unreachable = [s.id for s in pb.steps if s.id not in reachable]
    return [("steps", f"not reachable from the first step: {', '.join(unreachable)}")] if unreachable else []


def _cycles(pb: Playbook) -> list[tuple[str, str]]:
    by_id = {s.id: s for s in pb.steps}
    index = {s.id: i for i, s in enumerate(pb.steps)}
    state: dict[str, int] = {}  # 1 on the path, 2 finished
    found: list[tuple[str, str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in by_id[node].successors():
            if nxt not in by_id:
                continue
            if state.get(nxt) == 1:
                loop = [*path[path.index(nxt) :], node, nxt] if nxt in path else [node, nxt]
                found.append((f"steps.{index[node]}.next", f"cycle: {' -> '.join(loop)} (playbooks are acyclic)"))
            elif nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for s in pb.steps:
        if s.id not in state:
            visit(s.id, [])
    return found


def _joins(pb: Playbook) -> list[tuple[str, str]]:
    by_id = {s.id: s for s in pb.steps}
    found: list[tuple[str, str]] = []
    for index, step in enumerate(pb.steps):
        if step.kind != "parallel" or not step.next or step.next[0] not in by_id:
            continue
        join = step.next[0]
        for branch in getattr(step, "branches", []):
            members = branch_members(pb, branch, join)
            if branch in by_id and not any(join in by_id[m].successors() for m in members):
                found.append((f"steps.{index}.branches", f"branch {branch!r} never reaches the join {join!r}"))
    return found
