"""Detector definitions: YAML files validated by one strict pydantic model per kind.

A detector is data: what to match, how to group, the condition, and its declared
windows. Adding a kind means one model here, one query builder and one class in
``kinds.py`` — YAML never names Python code.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from soc.ecs import is_known_field
from soc.vocab import AttackId, Bilingual, Duration, Severity

__all__ = [
    "DETECTOR_MODELS",
    "Bilingual",
    "Condition",
    "CountCondition",
    "Detector",
    "DistinctCondition",
    "FieldMatch",
    "Schedule",
    "ThresholdDetector",
    "detector_json_schema",
]

_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,63}$"

Scalar = str | int | bool
FieldMatch = dict[str, Scalar | list[Scalar]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Schedule(_Strict):
    """Declared windows: every ``interval`` the detector evaluates ``[end - window, end)``
    where ``end`` trails the clock by ``delay`` (the allowance for late-arriving logs)."""

    interval: Duration = timedelta(minutes=5)
    window: Duration = timedelta(minutes=15)
    delay: Duration = timedelta(minutes=1)

    @model_validator(mode="after")
    def _window_covers_interval(self) -> Schedule:
        if self.interval <= timedelta(0):
            raise ValueError("interval: must be > 0")
        if self.window < self.interval:
            raise ValueError("window: must be at least the interval, or events between runs are never looked at")
        if self.delay < timedelta(0):
            raise ValueError("delay: must be >= 0")
        if timedelta(days=1) % self.interval != timedelta(0):
            raise ValueError("interval: must divide a day evenly (e.g. 1m, 5m, 15m, 1h) so windows align")
        return self


class CountCondition(_Strict):
    gte: int = Field(ge=1, description="alert when a group has at least this many matching events")


class DistinctCondition(_Strict):
    field: str
    gte: int = Field(ge=2, description="alert when a group has at least this many distinct values")


class Condition(_Strict):
    count: CountCondition | None = None
    distinct: DistinctCondition | None = None

    @model_validator(mode="after")
    def _one_at_least(self) -> Condition:
        if self.count is None and self.distinct is None:
            raise ValueError("give 'count' and/or 'distinct'")
        return self


def _check_fields(names: list[str], where: str) -> None:
    unknown = [n for n in names if not is_known_field(n)]
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)} (see soc/ecs.py for the ECS fields soc maps)")


class _DetectorBase(_Strict):
    id: Annotated[str, Field(pattern=_ID_PATTERN)]
    version: int = Field(default=1, ge=1)
    enabled: bool = True
    title: Bilingual
    description: Bilingual
    severity: Severity
    risk_score: float = Field(ge=0, le=100)
    mitre: list[AttackId] = Field(min_length=1)
    dataset: Literal["auth", "network"]
    schedule: Schedule = Schedule()
    rationale: str = Field(min_length=1, description="why this detector and these thresholds; cite references")
    false_positives: list[str] = Field(default_factory=list)
    tuning: list[str] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)

    @property
    def name(self) -> str:
        return self.title.en


class ThresholdDetector(_DetectorBase):
    """Count (and/or distinct count) of matching events per group in a window."""

    kind: Literal["threshold"]
    filter: FieldMatch = Field(description="AND across fields; a list means any of its values")
    exclude: FieldMatch = Field(default_factory=dict, description="drop events matching ANY of these")
    group_by: list[str] = Field(min_length=1, max_length=4)
    condition: Condition

    @field_validator("filter")
    @classmethod
    def _filter_not_empty(cls, value: FieldMatch) -> FieldMatch:
        if not value:
            raise ValueError("must name at least one field, or the detector would count every event")
        for field, v in value.items():
            if isinstance(v, list) and not v:
                raise ValueError(f"{field}: empty list matches nothing")
        return value

    @model_validator(mode="after")
    def _fields_known(self) -> ThresholdDetector:
        _check_fields(list(self.filter), "filter")
        _check_fields(list(self.exclude), "exclude")
        _check_fields(self.group_by, "group_by")
        if self.condition.distinct is not None:
            _check_fields([self.condition.distinct.field], "condition.distinct.field")
            if self.condition.distinct.field in self.group_by:
                raise ValueError("condition.distinct.field: cannot also be a group_by field (it would always be 1)")
        return self

    def matched_fields(self) -> list[str]:
        fields = list(self.group_by)
        if self.condition.distinct is not None:
            fields.append(self.condition.distinct.field)
        return fields


# One explicit table from `kind:` to its model; later kinds (sequence, new_term, ...) join it.
DETECTOR_MODELS: dict[str, type[ThresholdDetector]] = {"threshold": ThresholdDetector}

Detector = ThresholdDetector  # becomes a discriminated union when the second kind lands


def detector_json_schema() -> dict[str, Any]:
    """JSON Schema for editors, generated from the models (never written by hand)."""
    variants = [model.model_json_schema() for model in DETECTOR_MODELS.values()]
    return variants[0] if len(variants) == 1 else {"oneOf": variants}
