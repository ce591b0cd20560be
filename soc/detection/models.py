"""Detector definitions: YAML files validated by one strict pydantic model per kind.

A detector is data: what to match, how to group, the condition, and its declared
windows. Adding a kind means one model here, one query builder in ``queries.py`` and
one class in ``kinds/`` — YAML never names Python code.
"""

from __future__ import annotations

from datetime import time, timedelta
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from soc.calendar import CalendarSettings
from soc.ecs import field_type, is_known_field
from soc.vocab import AttackId, Bilingual, Duration, Note, Segment, Severity

__all__ = [
    "DETECTOR_MODELS",
    "BeaconDetector",
    "Bilingual",
    "Condition",
    "Contributors",
    "CountCondition",
    "Detector",
    "DistinctCondition",
    "ExceptionItem",
    "FieldMatch",
    "ImpossibleTravelDetector",
    "NewTermDetector",
    "OffHours",
    "Prevalence",
    "Range",
    "Schedule",
    "SegmentPolicyDetector",
    "SequenceDetector",
    "SequenceStep",
    "SilenceDetector",
    "SpikeDetector",
    "Suffixes",
    "ThresholdDetector",
    "ValueList",
    "VolumeDetector",
    "detector_json_schema",
    "kind_of",
]

_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,63}$"

Scalar = str | int | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Strict):
    """A numeric range on one field, e.g. ``{gte: 50}``."""

    gte: float | None = None
    gt: float | None = None
    lte: float | None = None
    lt: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Range:
        if all(v is None for v in (self.gte, self.gt, self.lte, self.lt)):
            raise ValueError("give at least one of gte, gt, lte, lt")
        return self


# ``{field: value}`` is a term, ``{field: [a, b]}`` any of them, ``{field: {gte: 1}}`` a range.
# IP fields take CIDRs (``10.20.0.0/16``) as values.
FieldMatch = dict[str, Scalar | list[Scalar] | Range]


class ValueList(_Strict):
    """A value-list file (one value per line, ``#`` comments), relative to the detector file."""

    file: str = Field(min_length=1)
    values: list[str] = Field(default_factory=list, description="filled in by the loader from the file")


class Suffixes(_Strict):
    """Domain suffixes: ``{suffix: [slack.com]}`` matches ``slack.com`` and every name
    under it (``wss-primary.slack.com``), never ``evilslack.com``."""

    suffix: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")]] = Field(min_length=1)


class EndsWith(_Strict):
    """Values ending with one of these strings: ``{ends_with: [$]}`` matches the Windows
    machine accounts (``ws-0123$``), whatever the name before the ``$``."""

    ends_with: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(min_length=1)


class ExceptionItem(_Strict):
    """One allow-list entry: every field must match (AND); a detector's entries combine with OR.

    Events matching an exception never count towards a detection.
    """

    reason: str | None = None
    match: dict[str, Scalar | list[Scalar] | ValueList | Suffixes | EndsWith] = Field(min_length=1)

    @model_validator(mode="after")
    def _suffixes_on_keywords(self) -> ExceptionItem:
        for field, value in self.match.items():
            if isinstance(value, Suffixes) and field_type(field) != "keyword":
                raise ValueError(f"match.{field}: domain suffixes need a keyword field such as url.domain")
            if isinstance(value, EndsWith) and field_type(field) != "keyword":
                raise ValueError(f"match.{field}: ends_with needs a keyword field such as user.name")
        return self


class OffHours(_Strict):
    """Only events outside business hours in the configured timezone; with ``weekends`` and
    ``holidays`` (both on by default) also all day on days the office is closed: weekends,
    public holidays, the year-end closure and the extra closed days of ``[calendar]`` in
    ``soc.toml``. ``calendar`` is filled from the settings when the detector runs; a
    detector may set its own (a site that works on national holidays, say)."""

    start: time = time(7, 30)
    end: time = time(20, 0)
    weekends: bool = True
    holidays: bool = True
    calendar: CalendarSettings | None = None

    @model_validator(mode="after")
    def _order(self) -> OffHours:
        if self.end <= self.start:
            raise ValueError("end: must be after start")
        return self


class Schedule(_Strict):
    """Declared windows: every ``interval`` the detector evaluates ``[end - window, end)``
    where ``end`` trails the clock by ``delay``; live runs also re-evaluate the windows
    of the last ``allowance`` so logs that arrive late are still seen."""

    interval: Duration = timedelta(minutes=5)
    window: Duration = timedelta(minutes=15)
    delay: Duration = timedelta(minutes=1)
    allowance: Duration = Field(
        default=timedelta(minutes=10), description="how late a log may arrive and still be detected"
    )

    @model_validator(mode="after")
    def _window_covers_interval(self) -> Schedule:
        if self.interval <= timedelta(0):
            raise ValueError("interval: must be > 0")
        if self.window < self.interval:
            raise ValueError("window: must be at least the interval, or events between runs are never looked at")
        if self.delay < timedelta(0):
            raise ValueError("delay: must be >= 0")
        if self.allowance < timedelta(0):
            raise ValueError("allowance: must be >= 0")
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


def _check_match(match: FieldMatch, where: str) -> None:
    _check_fields(list(match), where)
    for field, v in match.items():
        if isinstance(v, list) and not v:
            raise ValueError(f"{where}.{field}: empty list matches nothing")
        if isinstance(v, Range) and field_type(field) not in {"long", "double", "float", "date", "integer"}:
            raise ValueError(f"{where}.{field}: a range needs a numeric or date field")


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
    filter: FieldMatch = Field(default_factory=dict, description="AND across fields; a list means any of its values")
    exclude: FieldMatch = Field(default_factory=dict, description="drop events matching ANY of these")
    exceptions: list[ExceptionItem] = Field(
        default_factory=list, description="allow-list: AND within an item, OR across items"
    )
    missing: list[str] = Field(
        default_factory=list,
        description="count only events WITHOUT these fields (e.g. source.ip: key on the workstation instead)",
    )
    off_hours: OffHours | None = None
    suppress_for: Duration | None = Field(
        default=None, description="fold new episodes of the same entity into its alert for this long"
    )
    rationale: Note = Field(
        description="why this detector and these thresholds; cite references. {en, ja}, or one string shown in both",
    )
    false_positives: list[Note] = Field(default_factory=list, description="each {en, ja}, or one string")
    tuning: list[Note] = Field(default_factory=list, description="each {en, ja}, or one string")
    references: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)

    @property
    def name(self) -> str:
        return self.title.en

    @model_validator(mode="after")
    def _base_fields_known(self) -> _DetectorBase:
        _check_match(self.filter, "filter")
        _check_match(self.exclude, "exclude")
        for i, item in enumerate(self.exceptions):
            _check_fields(list(item.match), f"exceptions[{i}].match")
        _check_fields(self.group_fields(), "group_by")
        _check_fields(self.missing, "missing")
        clash = set(self.missing) & set(self.matched_fields())
        if clash:
            raise ValueError(f"missing: {', '.join(sorted(clash))} is also grouped or counted, so nothing would match")
        return self

    def group_fields(self) -> list[str]:
        """The fields whose values name an alert's entity."""
        return list(getattr(self, "group_by", []))

    def matched_fields(self) -> list[str]:
        """Fields every counted event must have (composite aggregations skip missing keys)."""
        return self.group_fields()

    def distinct_field(self) -> str | None:
        return None


class ThresholdDetector(_DetectorBase):
    """Count (and/or distinct count) of matching events per group in a window."""

    kind: Literal["threshold"]
    group_by: list[str] = Field(min_length=1, max_length=4)
    condition: Condition

    @field_validator("filter")
    @classmethod
    def _filter_not_empty(cls, value: FieldMatch) -> FieldMatch:
        if not value:
            raise ValueError("must name at least one field, or the detector would count every event")
        return value

    @model_validator(mode="after")
    def _fields_known(self) -> ThresholdDetector:
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

    def distinct_field(self) -> str | None:
        return self.condition.distinct.field if self.condition.distinct else None


class SequenceStep(_Strict):
    filter: FieldMatch = Field(min_length=1)
    min_count: int = Field(default=1, ge=1)
    distinct: DistinctCondition | None = Field(
        default=None, description="and at least this many distinct values of a field (a spray, not a guess)"
    )


class SequenceDetector(_DetectorBase):
    """At least ``first.min_count`` events of ``first``, then one of ``then``, for the same
    key within the window (brute force followed by a success)."""

    kind: Literal["sequence"]
    group_by: list[str] = Field(min_length=1, max_length=4)
    first: SequenceStep
    then: SequenceStep

    @model_validator(mode="after")
    def _steps_known(self) -> SequenceDetector:
        _check_match(self.first.filter, "first.filter")
        _check_match(self.then.filter, "then.filter")
        if self.then.distinct is not None:
            raise ValueError("then.distinct: only the first step counts distinct values")
        if self.first.distinct is not None:
            _check_fields([self.first.distinct.field], "first.distinct.field")
            if self.first.distinct.field in self.group_by:
                raise ValueError("first.distinct.field: cannot also be a group_by field (it would always be 1)")
        return self


class NewTermDetector(_DetectorBase):
    """A value (or combination) of ``terms`` never seen for the key in ``history``.

    The history is learnt by Elasticsearch aggregations and persisted in the baseline
    index; restarts continue from it."""

    kind: Literal["new_term"]
    group_by: list[str] = Field(min_length=1, max_length=3)
    terms: list[str] = Field(min_length=1, max_length=2)
    history: Duration = Field(description="how far back a value counts as known")
    learn_for: Duration = Field(
        default=timedelta(days=1), description="stay silent until the baseline holds at least this much data"
    )

    @model_validator(mode="after")
    def _history(self) -> NewTermDetector:
        _check_fields(self.terms, "terms")
        if self.history < self.schedule.window:
            raise ValueError("history: must be at least the window")
        if set(self.terms) & set(self.group_by):
            raise ValueError("terms: cannot also be group_by fields")
        return self

    def group_fields(self) -> list[str]:
        return [*self.group_by, *self.terms]


class SpikeCondition(_Strict):
    min_count: int = Field(ge=1, description="never alert below this many events in a window")
    factor: float = Field(gt=1, description="alert when the window holds this many times the baseline average")


class Contributors(_Strict):
    """Name the biggest contributors of an organisation-wide spike as its entity."""

    field: str
    top: int = Field(default=3, ge=1, le=10)


class SpikeDetector(_DetectorBase):
    """A window against the same key's average window over ``baseline`` (org-wide if no group_by)."""

    kind: Literal["spike"]
    group_by: list[str] = Field(default_factory=list, max_length=3)
    baseline: Duration
    condition: SpikeCondition
    contributors: Contributors | None = Field(
        default=None, description="organisation-wide only: the field whose top values become the alert's entity"
    )

    @model_validator(mode="after")
    def _baseline_long(self) -> SpikeDetector:
        if self.baseline < 2 * self.schedule.window:
            raise ValueError("baseline: must be at least two windows long")
        if self.contributors is not None:
            if self.group_by:
                raise ValueError("contributors: only for organisation-wide spikes (no group_by)")
            _check_fields([self.contributors.field], "contributors.field")
        return self


class SilenceDetector(_DetectorBase):
    """A log source (``group_by``) that sent at least ``min_events`` over ``lookback`` and
    nothing for ``silent_for``."""

    kind: Literal["silence"]
    group_by: list[str] = Field(min_length=1, max_length=2)
    lookback: Duration
    silent_for: Duration
    min_events: int = Field(default=50, ge=1)

    @model_validator(mode="after")
    def _spans(self) -> SilenceDetector:
        if self.silent_for >= self.lookback:
            raise ValueError("silent_for: must be shorter than lookback")
        return self


class Prevalence(_Strict):
    """A destination that many sources contact often enough to be candidates is a service
    (a push or chat keep-alive, an update server), not one implant's C2."""

    source: str = Field(default="source.ip", description="the group_by field naming the talking host")
    max_sources: int = Field(ge=2, description="a destination with this many candidate sources is not reported")


class BeaconDetector(_DetectorBase):
    """Regular connections from one source to one destination: many connections whose
    intervals vary little. ``periodicity: cv`` measures std-dev / mean (at most ``max_cv``);
    ``periodicity: mad`` measures the median absolute deviation / median (at most
    ``max_mad``), which a few long pauses or bursts (a laptop asleep, a retry) do not move."""

    kind: Literal["beacon"]
    group_by: list[str] = Field(min_length=1, max_length=3)
    min_connections: int = Field(default=20, ge=4)
    periodicity: Literal["cv", "mad"] = "cv"
    max_cv: float = Field(default=0.3, gt=0, le=2, description="std-dev / mean of the intervals")
    max_mad: float = Field(default=0.1, gt=0, le=1, description="median absolute deviation / median of the intervals")
    prevalence: Prevalence | None = None
    min_interval: Duration = timedelta(seconds=10)
    resolution: Duration = Field(default=timedelta(seconds=1), description="time resolution of the intervals")
    max_candidates: int = Field(default=2000, ge=1, description="pairs examined per window (truncation is reported)")

    @model_validator(mode="after")
    def _prevalence_source(self) -> BeaconDetector:
        if self.prevalence is not None:
            if self.prevalence.source not in self.group_by:
                raise ValueError("prevalence.source: must be one of the group_by fields")
            if len(self.group_by) < 2:
                raise ValueError("prevalence: needs a destination in group_by besides the source")
        return self


class VolumeCondition(_Strict):
    sum_gte: int | None = Field(default=None, ge=1, description="alert at this many bytes in a window")
    factor: float | None = Field(default=None, gt=1, description="or at this many times the key's own baseline")
    baseline: Duration | None = None
    min_sum: int = Field(default=1, ge=1, description="never alert below this many bytes")

    @model_validator(mode="after")
    def _some(self) -> VolumeCondition:
        if self.sum_gte is None and self.factor is None:
            raise ValueError("give sum_gte and/or factor")
        if (self.factor is None) != (self.baseline is None):
            raise ValueError("factor and baseline go together")
        return self


class VolumeDetector(_DetectorBase):
    """Bytes (the sum of ``field``) per key above a threshold or far above its own baseline.

    A key with no history is judged by ``sum_gte`` only (never ``factor`` × nothing), and
    real-time media (STUN/TURN, Teams and Zoom media ranges: video calls) is left out
    unless ``count_realtime_media: true``."""

    kind: Literal["volume"]
    group_by: list[str] = Field(min_length=1, max_length=3)
    field: str = "source.bytes"
    condition: VolumeCondition
    count_realtime_media: bool = Field(
        default=False, description="count real-time media (STUN/TURN ports, Teams/Zoom media ranges) too"
    )

    @model_validator(mode="after")
    def _field_numeric(self) -> VolumeDetector:
        if field_type(self.field) != "long":
            raise ValueError(f"field: {self.field} is not a numeric ECS field")
        return self


class SegmentPolicyDetector(_DetectorBase):
    """Flows from ``from_segments`` to ``to_segments`` that the segment policy forbids,
    except sanctioned local-breakout destinations when ``allow_local_breakout``."""

    kind: Literal["segment_policy"]
    group_by: list[str] = Field(default_factory=lambda: ["source.ip", "destination.ip"], min_length=1, max_length=3)
    from_segments: list[Segment] = Field(min_length=1)
    to_segments: list[Segment] = Field(min_length=1)
    allow_local_breakout: bool = False
    min_count: int = Field(default=1, ge=1)


class ImpossibleTravelDetector(_DetectorBase):
    """Successive sign-ins of one key from places too far apart for the time between them."""

    kind: Literal["impossible_travel"]
    group_by: list[str] = Field(default_factory=lambda: ["user.name"], min_length=1, max_length=2)
    location_field: str = "source.geo.location"
    max_speed_kmh: float = Field(default=900, gt=0)
    min_distance_km: float = Field(default=500, gt=0)

    @model_validator(mode="after")
    def _geo(self) -> ImpossibleTravelDetector:
        if field_type(self.location_field) != "geo_point":
            raise ValueError(f"location_field: {self.location_field} is not a geo_point field")
        return self

    def matched_fields(self) -> list[str]:
        return [*self.group_by, self.location_field]


Detector = Annotated[
    ThresholdDetector
    | SequenceDetector
    | NewTermDetector
    | SpikeDetector
    | SilenceDetector
    | BeaconDetector
    | VolumeDetector
    | SegmentPolicyDetector
    | ImpossibleTravelDetector,
    Field(discriminator="kind"),
]


def kind_of(model: type[BaseModel]) -> str:
    """The ``kind:`` a detector model accepts (its ``Literal``)."""
    (kind,) = get_args(model.model_fields["kind"].annotation)
    return str(kind)


# `kind:` -> model, read from the union above (the one list of models); the evaluator of
# each kind is tied to its model in soc.detection.kinds.REGISTRY
DETECTOR_MODELS: dict[str, type[_DetectorBase]] = {kind_of(m): m for m in get_args(get_args(Detector)[0])}


def detector_json_schema() -> dict[str, Any]:
    """JSON Schema for editors, generated from the models (never written by hand)."""
    schema: dict[str, Any] = TypeAdapter(Detector).json_schema()
    schema["title"] = "soc detector"
    return schema
