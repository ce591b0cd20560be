"""Shared vocabulary: severities, segments, ATT&CK ids and durations."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

__all__ = [
    "ATTACK_ID_RE",
    "AttackId",
    "Bilingual",
    "Duration",
    "Note",
    "Segment",
    "Severity",
    "format_duration",
    "iso",
    "localized",
    "parse_duration",
    "parse_time",
]


class Severity(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    @property
    def ecs_number(self) -> int:
        """ECS ``event.severity`` is numeric: 21/47/73/99 as in Elastic Security."""
        return {"low": 21, "medium": 47, "high": 73, "critical": 99}[self.value]

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank >= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank > other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank <= other.rank

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank


_SEVERITY_RANK = {Severity.low: 1, Severity.medium: 2, Severity.high: 3, Severity.critical: 4}


class Segment(StrEnum):
    """Network segments of the Japanese municipal three-layer separation model."""

    mynumber = "mynumber"  # マイナンバー利用事務系
    lgwan = "lgwan"  # LGWAN接続系
    internet = "internet"  # インターネット接続系 (the city's internet-connected segment)
    dmz = "dmz"
    telework = "telework"  # dedicated telework terminals behind the VPN
    cloud = "cloud"  # Government Cloud and sanctioned SaaS
    external = "external"  # anything outside every mapped CIDR: the public internet


_DURATION_RE = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d|w)\s*$")
_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}


def parse_duration(value: object) -> timedelta:
    """Parse ``30s``, ``5m``, ``2h``, ``1d``, ``1w`` (or pass a timedelta through)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration like '5m', got {value!r}")
    m = _DURATION_RE.match(value)
    if not m:
        raise ValueError(f"expected a duration like '30s', '5m', '2h' or '1d', got {value!r}")
    return int(m.group(1)) * _UNITS[m.group(2)]


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": r"^\d+(ms|s|m|h|d|w)$", "description": "a duration such as 30s, 5m, 2h, 1d, 1w"}
    ),
]

ATTACK_ID_RE = re.compile(r"^T\d{4}(\.\d{3})?$")


def _check_attack_id(value: object) -> str:
    if not isinstance(value, str) or not ATTACK_ID_RE.match(value):
        raise ValueError(f"not an ATT&CK technique id like 'T1110' or 'T1110.003': {value!r}")
    return value


AttackId = Annotated[str, BeforeValidator(_check_attack_id)]


def parse_time(value: str) -> datetime:
    """Parse an ISO 8601 time; a value without a zone is refused (say Z or +09:00)."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not an ISO 8601 time: {value!r}") from exc
    if parsed.tzinfo is None:
        raise ValueError(f"time {value!r} has no zone: add 'Z' or an offset such as '+09:00'")
    return parsed.astimezone(UTC)


def iso(value: datetime) -> str:
    """UTC ISO 8601 with millisecond precision and a Z, as stored in Elasticsearch."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class Bilingual(BaseModel):
    """Text every user-facing definition carries in both languages."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    en: str = Field(min_length=1)
    ja: str = Field(min_length=1)

    def __call__(self, lang: str) -> str:
        return self.ja if lang == "ja" else self.en


Note = Annotated[str, Field(min_length=1)] | Bilingual
"""A detector's prose (rationale, a false positive, a tuning note): ``{en, ja}`` as shipped
detectors write it, or one plain string (a site's own detector) shown as written in both."""


def localized(note: Note, lang: str) -> str:
    """*note* in *lang*: a plain string is the same in every language."""
    return note if isinstance(note, str) else note(lang)
