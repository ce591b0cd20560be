"""Playbooks: YAML validated by one strict model; steps are a closed set of kinds.

Steps that would act on systems are descriptive: nothing in a playbook executes
commands or fetches URLs. Later kinds (parallel, wait, report) join ``Step``.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from soc.vocab import Bilingual, Duration, Segment, Severity

__all__ = [
    "PLAYBOOK_MODELS",
    "ApprovalStep",
    "DecisionStep",
    "EndStep",
    "NotificationStep",
    "Option",
    "Phase",
    "Playbook",
    "Role",
    "Step",
    "TaskStep",
    "Trigger",
]

_ID = r"^[a-z0-9][a-z0-9-]{1,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Phase(StrEnum):
    """NIST SP 800-61r3 / CSF 2.0 response phases."""

    analyse = "analyse"
    contain = "contain"
    eradicate = "eradicate"
    recover = "recover"
    notify = "notify"
    post_incident = "post-incident"


class Role(_Strict):
    id: Annotated[str, Field(pattern=_ID)]
    name: Bilingual


class Trigger(_Strict):
    # When the playbook is attached: alerts of these detectors (at or above
    # min_severity if given), or, without detectors, any alert at or above it.
    detectors: list[str] = Field(default_factory=list)
    min_severity: Severity | None = None

    @model_validator(mode="after")
    def _chooses_something(self) -> Trigger:
        if not self.detectors and self.min_severity is None:
            raise ValueError("give detectors and/or min_severity, or the playbook is never chosen")
        return self


class Option(_Strict):
    id: Annotated[str, Field(pattern=_ID)]
    label: Bilingual
    effect: Bilingual | None = None
    risk: Bilingual | None = None
    next: str | None = None


class _StepBase(_Strict):
    id: Annotated[str, Field(pattern=_ID)]
    title: Bilingual
    instructions: Bilingual
    phase: Phase
    owner: str
    time_limit: Duration
    evidence: list[Bilingual] = Field(default_factory=list)
    next: list[str] = Field(default_factory=list)

    def successors(self) -> list[str]:
        return list(self.next)


class TaskStep(_StepBase):
    kind: Literal["task"]


class DecisionStep(_StepBase):
    """A choice the owner makes; each option may lead elsewhere."""

    kind: Literal["decision"]
    options: list[Option] = Field(min_length=2)

    def successors(self) -> list[str]:
        return list(self.next) + [o.next for o in self.options if o.next]


class ApprovalStep(_StepBase):
    """A decision asked of a role (typically the CISO), with options and a recommendation."""

    kind: Literal["approval"]
    question: Bilingual
    options: list[Option] = Field(min_length=2)
    recommendation: str
    if_no_decision: Bilingual

    @model_validator(mode="after")
    def _recommendation_is_an_option(self) -> ApprovalStep:
        if self.recommendation not in {o.id for o in self.options}:
            raise ValueError(f"recommendation: {self.recommendation!r} is not one of the options' ids")
        return self

    def successors(self) -> list[str]:
        return list(self.next) + [o.next for o in self.options if o.next]


class NotificationStep(_StepBase):
    kind: Literal["notification"]
    recipients: list[Bilingual] = Field(min_length=1)


class EndStep(_Strict):
    kind: Literal["end"]
    id: Annotated[str, Field(pattern=_ID)]
    title: Bilingual

    def successors(self) -> list[str]:
        return []


Step = Annotated[TaskStep | DecisionStep | ApprovalStep | NotificationStep | EndStep, Field(discriminator="kind")]


class Playbook(_Strict):
    id: Annotated[str, Field(pattern=_ID)]
    version: int = Field(ge=1)
    name: Bilingual
    summary: Bilingual
    triggers: Trigger
    applies_to_segments: list[Segment] = Field(default_factory=list)
    roles: list[Role] = Field(min_length=1)
    steps: list[Step] = Field(min_length=2)

    @model_validator(mode="after")
    def _graph_is_sound(self) -> Playbook:
        ids = [s.id for s in self.steps]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"steps: duplicate step id(s) {', '.join(dupes)}")
        roles = {r.id for r in self.roles}
        by_id = {s.id: s for s in self.steps}
        for index, step in enumerate(self.steps):
            owner = getattr(step, "owner", None)
            if owner is not None and owner not in roles:
                raise ValueError(f"steps.{index}.owner: role {owner!r} is not declared in roles")
            for target in step.successors():
                if target not in by_id:
                    raise ValueError(f"steps.{index}.next: {target!r} is not a step id")
        reachable, todo = set(), [self.steps[0].id]
        while todo:
            current = todo.pop()
            if current in reachable:
                continue
            reachable.add(current)
            todo.extend(by_id[current].successors())
        unreachable = [i for i in ids if i not in reachable]
        if unreachable:
            raise ValueError(f"steps: not reachable from the first step: {', '.join(unreachable)}")
        if not any(isinstance(s, EndStep) for s in self.steps):
            raise ValueError("steps: a playbook needs an 'end' step")
        return self

    def step(self, step_id: str) -> TaskStep | DecisionStep | ApprovalStep | NotificationStep | EndStep:
        return next(s for s in self.steps if s.id == step_id)

    def approval(self) -> ApprovalStep | None:
        return next((s for s in self.steps if isinstance(s, ApprovalStep)), None)

    def role_name(self, role_id: str, lang: str) -> str:
        return next((r.name(lang) for r in self.roles if r.id == role_id), role_id)

    def time_limit(self, step_id: str) -> timedelta | None:
        return getattr(self.step(step_id), "time_limit", None)


PLAYBOOK_MODELS: dict[str, type[Playbook]] = {"playbook": Playbook}
