"""Export a playbook as OASIS CACAO Security Playbooks v2.0 JSON.

Mapping (our kind -> CACAO):

* task, notification, report -> ``action`` with one ``manual`` command and a ``group``
  agent for the owner role;
* wait -> ``action`` with ``delay`` (ms) and a manual command;
* decision, approval -> ``action`` whose manual command records the chosen option in an
  ``out_args`` variable, then a ``switch-condition`` on it (when options lead apart);
* parallel -> ``parallel``; each branch's last step ends in its own ``end`` step and the
  parallel step continues ``on_completion`` to the join;
* end -> ``end``; a ``start`` step is added in front.

What CACAO has no field for — Japanese text, phase, SLA, evidence, options, obligations —
goes into ``step_extensions`` / ``playbook_extensions`` under one extension definition.
Identifiers are UUIDv4-shaped but derived from the playbook and step ids, so the same
playbook always exports to the same JSON.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from soc.playbooks.graph import branch_members
from soc.playbooks.models import (
    AnyStep,
    ApprovalStep,
    NotificationStep,
    ParallelStep,
    Playbook,
    ReportStep,
    WaitStep,
)
from soc.vocab import format_duration, iso

__all__ = ["CREATED_BY", "EXTENSION_NAME", "to_cacao"]

EXTENSION_NAME = "soc municipal CSIRT playbook"
CREATED_BY = "soc:city-csirt"

_ACTIVITY = {
    "analyse": "analyze-collected-data",
    "contain": "restrict-access",
    "eradicate": "eliminate-risk",
    "recover": "restore-capabilities",
    "notify": "deliver-content",
    "post-incident": "identify-steps",
}


def _uuid(*parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _ms(value: timedelta) -> int:
    return int(value.total_seconds() * 1000)


def _variable(step_id: str) -> str:
    return f"__{step_id.replace('-', '_')}_choice__"


class _Exporter:
    def __init__(self, pb: Playbook) -> None:
        self.pb = pb
        self.ext = f"extension-definition--{_uuid(pb.id, 'extension')}"
        self.ids: dict[str, str] = {s.id: self._id_for(s) for s in pb.steps}
        self.workflow: dict[str, dict[str, Any]] = {}
        self.variables: dict[str, dict[str, Any]] = {}
        self.agents = {r.id: f"group--{_uuid(pb.id, 'role', r.id)}" for r in pb.roles}
        self.activities: list[str] = []
        # branch tail -> the join it leads to: such edges end the branch in CACAO
        self.branch_end: dict[tuple[str, str], str] = {}
        for s in pb.steps:
            if isinstance(s, ParallelStep):
                for b in s.branches:
                    for m in branch_members(pb, b, s.next[0]):
                        self.branch_end[(m, s.next[0])] = f"end--{_uuid(pb.id, 'branch-end', s.id, b)}"

    def _id_for(self, step: AnyStep) -> str:
        kind = {"end": "end", "parallel": "parallel"}.get(step.kind, "action")
        return f"{kind}--{_uuid(self.pb.id, 'step', step.id)}"

    def _target(self, source: str, target: str) -> str:
        end = self.branch_end.get((source, target))
        if end is not None:
            self.workflow.setdefault(end, {"type": "end", "name": f"End of branch ({source})"})
            return end
        return self.ids[target]

    def _extension(self, step: AnyStep) -> dict[str, Any]:
        data: dict[str, Any] = {"soc_step_id": step.id, "soc_kind": step.kind, "title_ja": step.title.ja}
        for attr in ("phase", "owner", "audience"):
            if getattr(step, attr, None) is not None:
                data[f"{attr}_role" if attr != "phase" else "phase"] = str(getattr(step, attr))
        instructions = getattr(step, "instructions", None)
        if instructions is not None:
            data["instructions_ja"] = instructions.ja
        sla = getattr(step, "sla", None)
        if sla is not None:
            data["sla"] = {k: format_duration(v) if isinstance(v, timedelta) else v
                           for k, v in sla.model_dump().items() if v is not None}  # fmt: skip
        if getattr(step, "evidence", None):
            data["evidence_required"] = [e.model_dump() for e in step.evidence]  # type: ignore[union-attr]
        if isinstance(step, ApprovalStep):
            data |= {
                "question": step.question.model_dump(),
                "recommendation": step.recommendation,
                "if_no_decision": step.if_no_decision.model_dump(),
            }
        if getattr(step, "options", None):
            data["options"] = [o.model_dump(exclude_none=True) for o in step.options]  # type: ignore[union-attr]
        if isinstance(step, NotificationStep):
            data["recipients"] = [r.model_dump(mode="json", exclude_none=True) for r in step.recipients]
        if isinstance(step, WaitStep):
            data["counted_from"] = step.counted_from
        return {self.ext: data}

    def _action(self, step: AnyStep) -> dict[str, Any]:
        instructions = getattr(step, "instructions", None)
        activity = _ACTIVITY.get(str(getattr(step, "phase", "")), "identify-steps")
        if isinstance(step, NotificationStep):
            activity = "deliver-content"
        elif isinstance(step, ReportStep):
            activity = "compose-content"
        if activity not in self.activities:
            self.activities.append(activity)
        command = {
            "type": "manual",
            "command": instructions.en if instructions else step.title.en,
            "description": step.title.en,
            "playbook_activity": activity,
        }
        out: dict[str, Any] = {
            "type": "action",
            "name": step.title.en,
            "description": instructions.en if instructions else step.title.en,
            "commands": [command],
            "agent": self.agents[step.owner],  # type: ignore[union-attr]
            "step_extensions": self._extension(step),
        }
        if isinstance(step, WaitStep):
            out["delay"] = _ms(step.wait)
        return out

    def _step(self, step: AnyStep) -> None:
        sid = self.ids[step.id]
        if step.kind == "end":
            self.workflow[sid] = {"type": "end", "name": step.title.en, "step_extensions": self._extension(step)}
            return
        if isinstance(step, ParallelStep):
            self.workflow[sid] = {
                "type": "parallel",
                "name": step.title.en,
                "next_steps": [self.ids[b] for b in step.branches],
                "on_completion": self.ids[step.next[0]],
                "step_extensions": self._extension(step),
            }
            return
        action = self._action(step)
        targets = step.option_targets()
        if targets:
            variable = _variable(step.id)
            self.variables[variable] = {"type": "string", "description": f"option chosen at '{step.id}'"}
            action["out_args"] = [variable]
            switch_id = f"switch-condition--{_uuid(self.pb.id, 'switch', step.id)}"
            cases = {o: self._target(step.id, t) for o, t in targets.items()}
            if step.next:
                cases["default"] = self._target(step.id, step.next[0])
            self.workflow[switch_id] = {"type": "switch-condition", "name": f"{step.title.en}: choice",
                                        "switch": variable, "cases": cases}  # fmt: skip
            action["on_completion"] = switch_id
        elif len(step.next) == 1:
            action["on_completion"] = self._target(step.id, step.next[0])
        self.workflow[sid] = action

    def export(self, created: datetime) -> dict[str, Any]:
        start = f"start--{_uuid(self.pb.id, 'start')}"
        self.workflow[start] = {"type": "start", "name": "Start", "on_completion": self.ids[self.pb.start]}
        for step in self.pb.steps:
            self._step(step)
        stamp = iso(created)
        creator = f"identity--{_uuid(CREATED_BY)}"
        doc: dict[str, Any] = {
            "type": "playbook",
            "spec_version": "cacao-2.0",
            "id": f"playbook--{_uuid(self.pb.id, 'playbook')}",
            "name": self.pb.name.en,
            "description": self.pb.summary.en,
            "playbook_types": ["investigation", "mitigation", "notification"],
            "playbook_activities": self.activities,
            "created_by": creator,
            "created": stamp,
            "modified": stamp,
            "industry_sectors": ["local-government"],
            "labels": [self.pb.id, f"version-{self.pb.version}"],
            "workflow_start": start,
            "workflow": self.workflow,
            "agent_definitions": {
                self.agents[r.id]: {"type": "group", "name": r.name.en, "description": r.name.ja} for r in self.pb.roles
            },
            "extension_definitions": {
                self.ext: {
                    "type": "extension-definition",
                    "name": EXTENSION_NAME,
                    "description": "Bilingual text, phase, owner role, SLA, evidence and reporting obligations",
                    "created_by": creator,
                    "schema": "the soc playbook JSON schema (schemas/playbook.schema.json in the soc repository)",
                    "version": "1.0.0",
                }
            },
            "playbook_extensions": {
                self.ext: {
                    "soc_playbook_id": self.pb.id,
                    "soc_version": self.pb.version,
                    "name_ja": self.pb.name.ja,
                    "summary_ja": self.pb.summary.ja,
                    "triggers": self.pb.triggers.model_dump(mode="json", exclude_none=True),
                    "obligations": [o.value for o in self.pb.obligations],
                    **({"priority_floor": self.pb.priority_floor} if self.pb.priority_floor else {}),
                }
            },
        }
        if self.variables:
            doc["playbook_variables"] = self.variables
        if self.pb.priority_floor:
            doc["priority"] = {"P1": 1, "P2": 25, "P3": 50, "P4": 75}[self.pb.priority_floor]
        return doc


def to_cacao(playbook: Playbook, *, created: datetime) -> dict[str, Any]:
    """The playbook as a CACAO v2.0 document (``created`` = ``modified``: its version time)."""
    return _Exporter(playbook).export(created)
