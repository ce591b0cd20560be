"""Playbooks: YAML validated by one strict model; steps are a closed set of kinds.

Steps that would act on systems are descriptive: nothing in a playbook executes
commands or fetches URLs (``extra="forbid"`` rejects any such key). The graph is
checked as a whole and every problem of a file is reported at once (see
``soc.playbooks.graph``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from soc.vocab import Bilingual, Duration, Segment, Severity

__all__ = [
    "ESCALATION_LADDER",
    "PLAYBOOK_MODELS",
    "ApprovalStep",
    "BranchRecommendation",
    "DecisionStep",
    "EndStep",
    "NotificationStep",
    "ObligationKind",
    "Option",
    "ParallelStep",
    "Phase",
    "Playbook",
    "Recipient",
    "ReportStep",
    "Role",
    "Sla",
    "Step",
    "TaskStep",
    "Trigger",
    "WaitStep",
]

_ID = r"^[a-z0-9][a-z0-9-]{1,63}$"

# Roles in escalation order: a step without ``escalate_to`` escalates to the role above its owner.
ESCALATION_LADDER = ("soc-operator", "csirt-handler", "csirt-lead", "ciso", "mayor")


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


class ObligationKind(StrEnum):
    """External reports an incident may owe (tracked per incident, see soc.incidents.obligations)."""

    prefecture = "prefecture"  # 都道府県 (and through it the ministry)
    ministry = "ministry"  # 総務省
    ppc_preliminary = "ppc-preliminary"  # 個人情報保護委員会 速報
    ppc_final = "ppc-final"  # 個人情報保護委員会 確報
    police = "police"
    jlis = "jlis"  # 地方公共団体情報システム機構 (LGWAN, 住基ネット)
    vendors = "vendors"  # contracted system vendors
    residents = "residents"  # 本人通知


class Role(_Strict):
    id: Annotated[str, Field(pattern=_ID)]
    name: Bilingual


class Trigger(_Strict):
    """When the playbook is attached to an incident.

    * ``segments``: any alert touching one of these segments (the most specific: wins first);
    * ``detectors``: alerts of these detectors;
    * neither: any alert at or above ``min_severity`` / ``min_risk``;
    * ``manual``: may be chosen by hand (``soc incidents open --playbook``).

    ``min_severity`` and ``min_risk`` are floors for every rule above.
    """

    detectors: list[str] = Field(default_factory=list)
    segments: list[Segment] = Field(default_factory=list)
    min_severity: Severity | None = None
    min_risk: float | None = Field(default=None, ge=0, le=100)
    manual: bool = False

    @model_validator(mode="after")
    def _chooses_something(self) -> Trigger:
        if not (self.detectors or self.segments or self.min_severity or self.min_risk is not None or self.manual):
            raise ValueError("give detectors, segments, min_severity, min_risk or manual, or it is never chosen")
        return self


class Sla(_Strict):
    """Time limits of a step, counted from when it becomes ready (its predecessors are done)."""

    due: Duration
    acknowledge: Duration | None = None
    escalate_after: Duration | None = None
    escalate_to: str | None = None  # a role id; default: the role above the owner

    @model_validator(mode="after")
    def _ordered(self) -> Sla:
        if self.acknowledge is not None and self.acknowledge > self.due:
            raise ValueError("acknowledge: must not be longer than due")
        if self.escalate_after is not None and self.escalate_after > self.due:
            raise ValueError("escalate_after: must not be longer than due")
        return self


class Option(_Strict):
    id: Annotated[str, Field(pattern=_ID)]
    label: Bilingual
    effect: Bilingual | None = None
    risk: Bilingual | None = None
    cost: Bilingual | None = None  # staff hours, vendor cost, budget: what the choice costs the city
    resident_impact: Bilingual | None = None  # what residents notice (counters, online services)
    next: str | None = None  # where the workflow goes when this option is chosen


class Recipient(_Strict):
    name: Bilingual
    obligation: ObligationKind | None = None  # ties the notification to the incident's tracker


class _StepBase(_Strict):
    id: Annotated[str, Field(pattern=_ID)]
    title: Bilingual
    next: list[str] = Field(default_factory=list)

    def successors(self) -> list[str]:
        return list(self.next)

    def option_targets(self) -> dict[str, str]:
        """Option id -> step id: edges that are taken only when that option is chosen."""
        return {}


class _WorkStep(_StepBase):
    """A step somebody works: instructions, a phase, an owner role and time limits."""

    instructions: Bilingual
    phase: Phase
    owner: str
    sla: Sla
    evidence: list[Bilingual] = Field(default_factory=list)

    @property
    def time_limit(self) -> timedelta:
        return self.sla.due


class TaskStep(_WorkStep):
    kind: Literal["task"]


class _Choice(_WorkStep):
    options: list[Option] = Field(min_length=2)

    def successors(self) -> list[str]:
        return list(self.next) + [o.next for o in self.options if o.next]

    def option_targets(self) -> dict[str, str]:
        return {o.id: o.next for o in self.options if o.next}


class DecisionStep(_Choice):
    """A choice the owner makes; each option may lead elsewhere."""

    kind: Literal["decision"]


class BranchRecommendation(_Strict):
    """The option recommended when an earlier decision took a given branch."""

    after: Annotated[str, Field(pattern=_ID)]  # the id of an earlier decision step
    chose: Annotated[str, Field(pattern=_ID)]  # the option chosen there
    recommend: Annotated[str, Field(pattern=_ID)]  # an option of this approval


class ApprovalStep(_Choice):
    """A decision asked of a role (typically the CISO): options, a recommendation, a decide-by."""

    kind: Literal["approval"]
    question: Bilingual
    recommendation: str
    # the recommendation for a branch: the first whose earlier decision matches wins
    recommendation_by_branch: list[BranchRecommendation] = Field(default_factory=list)
    if_no_decision: Bilingual

    @model_validator(mode="after")
    def _recommendation_is_an_option(self) -> ApprovalStep:
        ids = {o.id for o in self.options}
        if self.recommendation not in ids:
            raise ValueError(f"recommendation: {self.recommendation!r} is not one of the options' ids")
        for n, b in enumerate(self.recommendation_by_branch):
            if b.recommend not in ids:
                raise ValueError(
                    f"recommendation_by_branch[{n}].recommend: {b.recommend!r} is not one of the options' ids"
                )
        return self

    def recommendation_for(self, chosen: Mapping[str, str]) -> str:
        """The option recommended given the options *chosen* so far (step id -> option id)."""
        return next(
            (b.recommend for b in self.recommendation_by_branch if chosen.get(b.after) == b.chose),
            self.recommendation,
        )

    @property
    def decide_by(self) -> timedelta:
        return self.sla.due


class NotificationStep(_WorkStep):
    kind: Literal["notification"]
    recipients: list[Recipient] = Field(min_length=1)


class ReportStep(_WorkStep):
    """Write a report (e.g. the CISO report) for a role."""

    kind: Literal["report"]
    audience: str  # role id


class WaitStep(_StepBase):
    """Wait a while before going on (e.g. monitor 72 h; the PPC final report from awareness)."""

    kind: Literal["wait"]
    instructions: Bilingual
    phase: Phase
    owner: str
    wait: Duration
    counted_from: Literal["ready", "aware_at"] = "ready"

    @property
    def time_limit(self) -> timedelta:
        return self.wait


class ParallelStep(_StepBase):
    """Branches that all must finish; each branch's last step leads to ``next`` (the join)."""

    kind: Literal["parallel"]
    branches: list[str] = Field(min_length=2)
    next: list[str] = Field(min_length=1, max_length=1)

    def successors(self) -> list[str]:
        return list(self.branches)


class EndStep(_StepBase):
    kind: Literal["end"]


AnyStep = TaskStep | DecisionStep | ApprovalStep | NotificationStep | ReportStep | WaitStep | ParallelStep | EndStep
Step = Annotated[AnyStep, Field(discriminator="kind")]
WORK_STEPS = (TaskStep, DecisionStep, ApprovalStep, NotificationStep, ReportStep)


class Playbook(_Strict):
    id: Annotated[str, Field(pattern=_ID)]
    version: int = Field(ge=1)
    name: Bilingual
    summary: Bilingual
    triggers: Trigger
    applies_to_segments: list[Segment] = Field(default_factory=list)
    priority_floor: Literal["P1", "P2", "P3", "P4"] | None = None
    obligations: list[ObligationKind] = Field(default_factory=list)  # reporting track opened with the incident
    roles: list[Role] = Field(min_length=1)
    steps: list[Step] = Field(min_length=2)

    @model_validator(mode="after")
    def _graph_is_sound(self) -> Playbook:
        from soc.playbooks.graph import GRAPH_PROBLEMS, problems

        found = problems(self)
        if found:
            raise ValueError(GRAPH_PROBLEMS + "\n".join(f"{f}: {m}" for f, m in found))
        return self

    @model_validator(mode="after")
    def _branches_name_real_choices(self) -> Playbook:
        choices = {s.id: {o.id for o in s.options} for s in self.steps if isinstance(s, _Choice)}
        for n, step in enumerate(self.steps):
            for m, b in enumerate(getattr(step, "recommendation_by_branch", [])):
                if b.chose not in choices.get(b.after, set()):
                    raise ValueError(
                        f"steps[{n}].recommendation_by_branch[{m}]: {b.after!r} is not a decision step"
                        f" with an option {b.chose!r}"
                    )
        return self

    @property
    def start(self) -> str:
        return self.steps[0].id

    def step(self, step_id: str) -> AnyStep:
        return next(s for s in self.steps if s.id == step_id)

    def find_step(self, step_id: str) -> AnyStep | None:
        """The step *step_id*, or None (an incident's step from an older version of the playbook)."""
        return next((s for s in self.steps if s.id == step_id), None)

    def approval(self) -> ApprovalStep | None:
        return next((s for s in self.steps if isinstance(s, ApprovalStep)), None)

    def role_name(self, role_id: str, lang: str) -> str:
        return next((r.name(lang) for r in self.roles if r.id == role_id), role_id)

    def time_limit(self, step_id: str) -> timedelta | None:
        return getattr(self.step(step_id), "time_limit", None)


PLAYBOOK_MODELS: dict[str, type[Playbook]] = {"playbook": Playbook}
