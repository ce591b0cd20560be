"""Escalation against the real node: grouping, idempotence, the severity floor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from soc.alerts.models import Alert, alert_id
from soc.clock import ManualClock
from soc.context import AppContext
from soc.errors import NotFound
from soc.incidents.models import IncidentStatus
from soc.incidents.service import escalate, incident_id_for
from soc.incidents.store import IncidentStore, get_incident, list_incidents
from soc.playbooks.loader import load_playbooks

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def make_alert(detector: str, entity: dict[str, str], *, severity: str = "high", minutes: int = 0,
               segments: list[str] | None = None) -> Alert:  # fmt: skip
    start = T0 + timedelta(minutes=minutes)
    return Alert(
        id=alert_id(detector, entity, start), detector=detector, title=detector, severity=severity, risk_score=70,
        entity=entity, count=25, start=start, end=start + timedelta(minutes=5), mitre=["T1110"],
        segments=segments or ["external"], created=start, updated=start,
    )  # fmt: skip


def test_alerts_sharing_an_actor_form_one_incident_with_playbook(ctx: AppContext) -> None:
    ctx.clock = ManualClock(T0 + timedelta(hours=1))
    playbooks = load_playbooks(REPO / "playbooks")
    spray = make_alert("password-spray", {"source.ip": "198.51.100.5"})
    burst = make_alert("failed-login-burst", {"source.ip": "198.51.100.5", "user.name": "t.ito"}, minutes=30)
    other = make_alert("failed-login-burst", {"source.ip": "198.51.100.77", "user.name": "k.mori"}, minutes=40)
    result = escalate(ctx, [spray, burst, other], playbooks=playbooks)
    assert len(result.opened) == 2
    assert result.assignments[spray.id] == result.assignments[burst.id] != result.assignments[other.id]
    incident = IncidentStore(ctx.es).get(result.assignments[spray.id])
    assert incident.alert_ids == [spray.id, burst.id]
    assert incident.entities == {"source.ip": ["198.51.100.5"], "user.name": ["t.ito"]}
    assert incident.playbook_id == "unauthorised-login" and incident.status.value == "new"
    assert incident.aware_at is None and incident.detected_at == spray.created
    dues = [s.due_at for s in incident.steps if s.due_at]
    assert dues == sorted(dues) and dues[0] == ctx.clock.now() + timedelta(minutes=30)
    assert incident.id.startswith("INC-20261123-")


def test_escalation_twice_changes_nothing(ctx: AppContext) -> None:
    playbooks = load_playbooks(REPO / "playbooks")
    alerts = [make_alert("password-spray", {"source.ip": "198.51.100.6"})]
    first = escalate(ctx, alerts, playbooks=playbooks)
    before = IncidentStore(ctx.es).list()
    second = escalate(ctx, alerts, playbooks=playbooks)
    assert second.opened == [] and second.assignments == first.assignments
    assert IncidentStore(ctx.es).list() == before


def test_below_threshold_alert_opens_nothing(ctx: AppContext) -> None:
    result = escalate(ctx, [make_alert("port-scan", {"source.ip": "10.20.0.9"}, severity="low")],
                      playbooks=load_playbooks(REPO / "playbooks"))  # fmt: skip
    assert result.below_threshold == 1 and result.opened == [] and IncidentStore(ctx.es).list() == []


def test_my_number_segment_flags_personal_data(ctx: AppContext) -> None:
    alert = make_alert("port-scan", {"source.ip": "10.10.1.4", "destination.ip": "10.10.0.11"},
                       segments=["mynumber"])  # fmt: skip
    result = escalate(ctx, [alert], playbooks=load_playbooks(REPO / "playbooks"))
    incident = IncidentStore(ctx.es).get(result.opened[0])
    assert incident.personal_data_possible and incident.entity_values == ["10.10.1.4"]


def test_alert_already_in_an_incident_is_left_alone(ctx: AppContext) -> None:
    alert = make_alert("password-spray", {"source.ip": "198.51.100.8"}).model_copy(update={"incident_id": "INC-X"})
    result = escalate(ctx, [alert], playbooks=load_playbooks(REPO / "playbooks"))
    assert result.already_assigned == 1 and result.assignments == {} and list_incidents(ctx) == []


def test_incident_id_uses_the_jst_day_of_the_first_alert() -> None:
    late_utc = make_alert("password-spray", {"source.ip": "198.51.100.9"}, minutes=15 * 60)  # 16:00Z = 01:00 JST
    assert incident_id_for(late_utc).startswith("INC-20261124-")
    assert incident_id_for(late_utc) == incident_id_for(late_utc.model_copy())


def test_joining_keeps_the_earliest_detection_and_status_filter(ctx: AppContext) -> None:
    playbooks = load_playbooks(REPO / "playbooks")
    first = make_alert("password-spray", {"source.ip": "198.51.100.10"})
    late_seen = make_alert("failed-login-burst", {"source.ip": "198.51.100.10", "user.name": "a.sato"}, minutes=5)
    late_seen = late_seen.model_copy(update={"created": T0 - timedelta(minutes=1)})
    result = escalate(ctx, [first, late_seen], playbooks=playbooks)
    (incident_id,) = set(result.assignments.values())
    incident = get_incident(ctx, incident_id)
    assert incident.detected_at == T0 - timedelta(minutes=1)
    assert [i.id for i in list_incidents(ctx, status="new")] == [incident_id]
    assert list_incidents(ctx, status=IncidentStatus.closed) == []


def test_unknown_incident_is_a_clear_not_found(ctx: AppContext) -> None:
    with pytest.raises(NotFound, match="no incident 'INC-NOPE'"):
        get_incident(ctx, "INC-NOPE")
