"""The alert: one ongoing activity of one entity, found by one detector; the match a
detector yields; what the store needs to know of a detector (``AlertRule``) and the figures
Elasticsearch computes over an episode. No Elasticsearch access here."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from soc.attack import TACTIC_IDS, TACTIC_NAMES, technique_name, technique_tactic
from soc.kibana.links import discover_url
from soc.vocab import Severity, iso

__all__ = [
    "Alert",
    "AlertRule",
    "AlertStatus",
    "CloseReason",
    "EpisodeFigures",
    "Match",
    "alert_id",
    "entity_key",
]


@dataclass(frozen=True, slots=True)
class Match:
    """One entity that met the condition in one window."""

    entity: dict[str, str]
    count: int
    first_seen: datetime
    last_seen: datetime
    distinct_count: int | None = None
    figures: dict[str, Any] = field(default_factory=dict)  # kind-specific evidence (interval, bytes, km/h)
    reason: str | None = None  # kind-specific sentence; the store writes a generic one otherwise


@dataclass(frozen=True, slots=True)
class AlertRule:
    """What an alert takes from its detector (built by ``soc.detection``, which ``alerts``
    does not import)."""

    detector: str
    title: str
    severity: Severity
    risk_score: float
    kind: str
    mitre: tuple[str, ...] = ()
    distinct_field: str | None = None
    # a match within this time of an alert's span is the same episode (the detector's window)
    join_gap: timedelta = timedelta(minutes=15)
    # an episode after a longer quiet gap, but within this, is folded in and counted as suppressed
    suppress_for: timedelta | None = None

    @property
    def allowance(self) -> timedelta:
        """How far an alert's span is widened on each side when a match looks for its alert."""
        return max(self.join_gap, self.suppress_for or timedelta(0))


@dataclass(frozen=True, slots=True)
class EpisodeFigures:
    """What Elasticsearch says about one entity's events over an alert's span."""

    count: int
    distinct: int | None
    first: datetime
    last: datetime
    segments: list[str]
    samples: list[str] = field(default_factory=list)
    reason: str = ""
    took_ms: int = 0


class AlertStatus(StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    closed = "closed"


class CloseReason(StrEnum):
    true_positive = "true_positive"
    false_positive = "false_positive"
    benign = "benign"  # real activity, authorised or harmless (a scanner, a test)
    duplicate = "duplicate"


def entity_key(entity: dict[str, str]) -> str:
    """Canonical text of an entity: ``source.ip=1.2.3.4|user.name=alice`` (fields sorted)."""
    return "|".join(f"{k}={entity[k]}" for k in sorted(entity))


def alert_id(detector: str, entity: dict[str, str], episode_start: datetime) -> str:
    """Deterministic alert id: the same detector, entity and episode start always give the same id."""
    raw = json.dumps([detector, entity_key(entity), iso(episode_start)], ensure_ascii=False)
    return "A-" + hashlib.sha256(raw.encode()).hexdigest()[:20]


class Alert(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    detector: str
    title: str
    severity: Severity
    risk_score: float = Field(ge=0, le=100)
    entity: dict[str, str]
    count: int
    distinct_count: int | None = None
    distinct_field: str | None = None
    start: datetime  # first matching event
    end: datetime  # last matching event
    mitre: list[str] = Field(default_factory=list)
    reason: str = ""
    segments: list[str] = Field(default_factory=list)
    sample_event_ids: list[str] = Field(default_factory=list)
    windows: int = 1  # how many detection windows saw this activity
    suppressed: int = 0  # later episodes folded into this alert by the detector's suppress_for
    figures: dict[str, Any] = Field(default_factory=dict)  # kind-specific evidence (interval, bytes, km/h)
    kind: str = "threshold"
    status: AlertStatus = AlertStatus.open
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    closed_by: str | None = None
    closed_at: datetime | None = None
    close_reason: CloseReason | None = None
    triage_note: str | None = None
    incident_id: str | None = None
    created: datetime
    updated: datetime

    @property
    def entity_key(self) -> str:
        return entity_key(self.entity)

    def summary(self) -> dict[str, Any]:
        """The ``soc detect --json`` line."""
        out: dict[str, Any] = {
            "id": self.id,
            "detector": self.detector,
            "severity": self.severity.value,
            "risk_score": self.risk_score,
            "entity": self.entity,
            "count": self.count,
            "start": iso(self.start),
            "end": iso(self.end),
            "mitre": self.mitre,
            "status": self.status.value,
            "reason": self.reason,
        }
        if self.figures:
            out["figures"] = self.figures
        if self.suppressed:
            out["suppressed"] = self.suppressed
        if self.close_reason:
            out["close_reason"] = self.close_reason.value
        if self.distinct_count is not None:
            out["distinct_count"] = self.distinct_count
            out["distinct_field"] = self.distinct_field
        if self.incident_id:
            out["incident_id"] = self.incident_id
        return out

    # -- Elasticsearch document (ECS, readable in Kibana as is) ----------------
    def to_doc(self, *, kibana_url: str | None = None, prefix: str = "soc") -> dict[str, Any]:
        """The ECS document; with ``kibana_url``, ``event.url`` opens the alert's events in Discover."""
        related_ip = [v for k, v in self.entity.items() if k.endswith(".ip")]
        related_user = [v for k, v in self.entity.items() if k.endswith("user.name")]
        related_hosts = [v for k, v in self.entity.items() if k.endswith("host.name")]
        techniques = sorted({m.split(".")[0] for m in self.mitre})
        tactics = sorted({t for m in self.mitre if (t := technique_tactic(m))})
        doc: dict[str, Any] = {
            "@timestamp": iso(self.created),
            "event": {
                "kind": "alert",
                "category": ["intrusion_detection"],
                "type": ["info"],  # ECS: intrusion_detection allows allowed, denied, info
                "severity": self.severity.ecs_number,
                "risk_score": self.risk_score,
                "reason": self.reason,
                "start": iso(self.start),
                "end": iso(self.end),
                "duration": int((self.end - self.start).total_seconds() * 1e9),
            },
            "rule": {"id": self.detector, "name": self.title, "ruleset": "soc", "category": self.kind},
            "threat": {
                "framework": "MITRE ATT&CK",
                "tactic": {
                    "name": [TACTIC_NAMES.get(t, t) for t in tactics],
                    "id": [TACTIC_IDS[t] for t in tactics if t in TACTIC_IDS],
                },
                "technique": {
                    "id": techniques,
                    "name": [technique_name(t, "en") for t in techniques],
                    "reference": [f"https://attack.mitre.org/techniques/{t}/" for t in techniques],
                    "subtechnique": {"id": [m for m in self.mitre if "." in m]},
                },
            },
            "related": {"ip": related_ip, "user": related_user, "hosts": related_hosts},
            "soc": {"alert": self.model_dump(mode="json") | {"entity_key": self.entity_key}},
        }
        if kibana_url:
            url = discover_url(kibana_url, prefix=prefix, entity=self.entity, start=self.start, end=self.end)
            doc["event"]["url"] = url
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Alert:
        data = dict(doc["soc"]["alert"])
        data.pop("entity_key", None)
        return cls.model_validate(data)
