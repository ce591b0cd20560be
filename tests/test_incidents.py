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
from soc.incidents.service import correlation_key, escalate, incident_id_for
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
    assert [a.action for a in incident.audit] == ["open", "join"]
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


def test_incident_id_uses_the_jst_day_it_opens_and_the_correlation_key() -> None:
    late_utc = T0 + timedelta(hours=15)  # 16:00Z = 01:00 JST the next day
    key = correlation_key(make_alert("password-spray", {"source.ip": "198.51.100.9", "destination.ip": "10.0.0.1"}))
    assert key == "198.51.100.9"
    assert incident_id_for(key, late_utc).startswith("INC-20261124-")
    assert incident_id_for(key, late_utc) == incident_id_for(key, late_utc + timedelta(minutes=5))
    assert incident_id_for(key, late_utc, 2) == incident_id_for(key, late_utc) + "-2"
    assert incident_id_for("198.51.100.10", late_utc) != incident_id_for(key, late_utc)


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


# -- the CSIRT workflow ---------------------------------------------------------------------
from soc.errors import SocError  # noqa: E402
from soc.incidents.deadlines import evaluate  # noqa: E402
from soc.incidents.lifecycle import IllegalTransition, kpis, priority_for  # noqa: E402
from soc.incidents.models import ObligationStatus, Priority, SlaState, StepStatus  # noqa: E402
from soc.incidents.service import _open  # noqa: E402
from soc.incidents.steps import StepError, instantiate  # noqa: E402
from soc.incidents.workflow import Workflow, check_deadlines  # noqa: E402
from soc.playbooks.loader import find_playbook  # noqa: E402
from soc.vocab import Bilingual  # noqa: E402

PLAYBOOKS = load_playbooks(REPO / "playbooks")


def _workflow(ctx: AppContext, at: datetime) -> tuple[Workflow, ManualClock]:
    clock = ManualClock(at)
    ctx.clock = clock
    return Workflow(ctx, playbooks=PLAYBOOKS), clock


def _open_spray(wf: Workflow, ip: str = "198.51.100.40") -> str:
    result = wf.open_from_alerts([make_alert("password-spray", {"source.ip": ip})])
    return result.opened[0]


def test_priority_from_risk_with_floors() -> None:
    assert priority_for(30)[0] is Priority.P4 and priority_for(55)[0] is Priority.P3
    assert priority_for(75)[0] is Priority.P2 and priority_for(95)[0] is Priority.P1
    p, reasons = priority_for(30, segments=["mynumber"])
    assert p is Priority.P2 and "touches the My Number segment -> at least P2" in reasons
    assert priority_for(30, segments=["mynumber"], personal_data_confirmed=True)[0] is Priority.P1
    assert priority_for(30, personal_data_possible=True)[0] is Priority.P2
    assert priority_for(30, resident_service_outage=True)[0] is Priority.P2
    assert priority_for(30, resident_service_outage=True, personal_data_confirmed=True)[0] is Priority.P1
    assert priority_for(30, floor="P1")[0] is Priority.P1
    assert priority_for(95, floor="P3")[0] is Priority.P1  # a floor never lowers


def test_due_times_follow_the_graph_not_the_file() -> None:
    pb = find_playbook(PLAYBOOKS, "lateral-movement")
    steps = instantiate(pb, T0)
    due = {s.step_id: s.due_at for s in steps}
    assert due["identify-source"] == T0 + timedelta(hours=1) and steps[0].ready_at == T0
    assert due["assess"] == T0 + timedelta(hours=3)
    # the approval waits for the longer branch (isolate 1 h + foothold 1 d), not for the file order
    branches = T0 + timedelta(hours=3)  # the earliest the branches can start: after 'assess'
    assert due["find-foothold"] == branches + timedelta(hours=1) + timedelta(days=1)
    assert due["reset-credentials"] == branches + timedelta(hours=2)
    assert due["ciso-decision"] == branches + timedelta(days=1, hours=1) + timedelta(hours=4)


def test_working_the_steps_with_a_decision_and_a_parallel_join(ctx: AppContext) -> None:
    wf, clock = _workflow(ctx, T0)
    incident = wf.open_manual(
        title=Bilingual(en="Scan from a staff PC", ja="職員端末からのスキャン"), actor="sato",
        playbook_id="lateral-movement", risk_score=60,
    )  # fmt: skip
    iid = incident.id
    with pytest.raises(StepError, match=r"'assess' of .* is not ready"):
        wf.decide(iid, "assess", "malicious", actor="sato")
    clock.advance(timedelta(minutes=20))
    wf.complete_step(iid, "identify-source", actor="sato", evidence=["https://kibana/app/discover#/q1"])
    with pytest.raises(StepError, match="'maybe' is not an option of step 'assess'; options: malicious, benign"):
        wf.decide(iid, "assess", "maybe", actor="ito")
    clock.advance(timedelta(minutes=40))
    inc = wf.decide(iid, "assess", "malicious", actor="ito", comment="admin logons from a staff PC")
    by_id = {s.step_id: s for s in inc.steps}
    assert by_id["fix-config"].status is StepStatus.skipped  # the branch not taken
    assert by_id["contain"].status is StepStatus.done  # parallel: done once its branches are ready
    assert by_id["isolate-host"].ready_at == by_id["reset-credentials"].ready_at == T0 + timedelta(hours=1)
    assert by_id["assess"].choice is not None and by_id["assess"].choice.by == "ito"
    for step in ("isolate-host", "reset-credentials"):
        wf.complete_step(iid, step, actor="ito")
    inc = IncidentStore(ctx.es).get(iid)
    assert inc.step("ciso-decision").ready_at is None  # type: ignore[union-attr]  # the join waits for find-foothold
    clock.advance(timedelta(hours=5))
    inc = wf.complete_step(iid, "find-foothold", actor="ito", note="mail attachment")
    decision = inc.step("ciso-decision")
    assert decision is not None and decision.ready_at == clock.now()
    assert decision.due_at == clock.now() + timedelta(hours=4)
    assert inc.step("identify-source").evidence[0].uri.endswith("q1")  # type: ignore[union-attr]


def test_illegal_transitions_are_refused_naming_both_states(ctx: AppContext) -> None:
    wf, _clock = _workflow(ctx, T0)
    iid = _open_spray(wf)
    with pytest.raises(IllegalTransition) as info:
        wf.transition(iid, "contained", actor="sato", reason="too fast")
    assert str(info.value) == (
        f"cannot move {iid} from 'new' to 'contained'; allowed from 'new': triage, declared, false-positive, duplicate"
    )
    wf.transition(iid, "false-positive", actor="sato", reason="authorised test")
    with pytest.raises(
        IllegalTransition, match="from 'false-positive' to 'closed'; allowed from 'false-positive': triage"
    ):
        wf.close(iid, actor="sato", reason="done")
    assert IncidentStore(ctx.es).get(iid).status is IncidentStatus.false_positive


def test_deadlines_breach_and_escalate_exactly_once_across_restarts(ctx: AppContext) -> None:
    wf, clock = _workflow(ctx, T0 + timedelta(hours=1))
    iid = _open_spray(wf)
    opened = IncidentStore(ctx.es).get(iid)
    assert opened.priority is Priority.P2 and opened.tier == "csirt-lead"  # risk 70
    assert opened.ack_due_at == clock.now() + timedelta(hours=1)
    assert wf.check_deadlines() == []
    clock.advance(timedelta(minutes=16))  # confirm-scope: acknowledge within 15 m
    events = wf.check_deadlines()
    assert [(e.kind, e.subject, e.to_role) for e in events] == [("step-ack-overdue", "confirm-scope", "csirt-handler")]
    assert wf.check_deadlines() == []  # idempotent
    clock.advance(timedelta(minutes=15))  # 31 m: escalate_after 20 m and due 30 m passed
    events = wf.check_deadlines()
    assert [(e.kind, e.to_role) for e in events] == [
        ("step-escalation", "csirt-handler"),
        ("step-breached", "csirt-lead"),
    ]
    breached = IncidentStore(ctx.es).get(iid).step("confirm-scope")
    assert breached is not None and breached.sla is SlaState.breached
    assert breached.breached_at == T0 + timedelta(hours=1, minutes=30)
    # a restart: a fresh service and context read the persisted state and raise nothing again
    fresh = AppContext.from_settings(ctx.settings, clock=ManualClock(clock.now() + timedelta(minutes=5)))
    try:
        assert check_deadlines(fresh, playbooks=PLAYBOOKS) == []
        assert Workflow(fresh, playbooks=PLAYBOOKS).check_deadlines() == []
    finally:
        fresh.es.close()
    clock.advance(timedelta(minutes=30))  # the incident itself was never acknowledged (P2: 1 h)
    (event,) = wf.check_deadlines()
    assert (event.kind, event.to_role) == ("incident-ack-overdue", "ciso")
    assert event.id == f"{iid}:incident-ack-overdue:incident" and event.deadline == opened.ack_due_at
    stored = IncidentStore(ctx.es).get(iid)
    assert len(stored.escalations) == 4 and len({e.id for e in stored.escalations}) == 4
    assert stored.tier == "ciso" and [a.action for a in stored.audit].count("escalate") == 4


def test_pure_evaluation_is_idempotent() -> None:
    pb = find_playbook(PLAYBOOKS, "ransomware")

    incident = _open(_StubCtx(T0), make_alert("silent-log-source", {"host.name": "fs01"}), pb)  # type: ignore[arg-type]
    later = T0 + timedelta(hours=3)
    once, events = evaluate(incident, later, playbook=pb)
    twice, again = evaluate(once, later, playbook=pb)
    assert events and again == [] and twice == once
    assert incident.priority is Priority.P1 and incident.tier == "ciso"  # the ransomware floor


class _StubCtx:
    def __init__(self, at: datetime) -> None:
        self.clock = ManualClock(at)


def test_my_number_incident_opens_the_ppc_track_counted_from_awareness(ctx: AppContext) -> None:
    wf, clock = _workflow(ctx, T0)
    alert = make_alert("mynumber-to-internet", {"source.ip": "10.10.1.7"}, segments=["mynumber", "external"])
    iid = wf.open_from_alerts([alert]).opened[0]
    incident = IncidentStore(ctx.es).get(iid)
    assert incident.playbook_id == "mynumber-breach" and incident.priority is Priority.P2
    kinds = {o.kind: o for o in incident.obligations}
    assert {"ppc-preliminary", "ppc-final", "residents", "prefecture", "ministry", "jlis"} <= set(kinds)
    assert kinds["ppc-preliminary"].due_at is None  # the legal clock starts on awareness
    aware = T0 + timedelta(hours=2)
    clock.set(aware + timedelta(minutes=5))
    wf.transition(iid, "declared", actor="lead", reason="traffic confirmed", aware_at=aware)
    kinds = {o.kind: o for o in IncidentStore(ctx.es).get(iid).obligations}
    assert kinds["ppc-preliminary"].due_at == aware + timedelta(days=3)
    assert kinds["ppc-preliminary"].hard_due_at == aware + timedelta(days=5)
    assert kinds["ppc-final"].due_at == aware + timedelta(days=30)
    wf.set_impact(iid, actor="lead", reason="attacker exfiltrated on purpose", malicious_act=True,
                  personal_data_confirmed=True)  # fmt: skip
    after = IncidentStore(ctx.es).get(iid)
    assert after.priority is Priority.P1 and {o.kind: o for o in after.obligations}[
        "ppc-final"
    ].due_at == aware + timedelta(days=60)
    assert "police" in {o.kind for o in after.obligations}
    wf.update_obligation(iid, "ppc-preliminary", actor="privacy", status="sent", reference="PPC-2026-0042")
    clock.set(aware + timedelta(days=3, hours=1))
    events = wf.check_deadlines()
    overdue = {e.subject for e in events if e.kind == "obligation-overdue"}
    assert "ppc-preliminary" not in overdue and {"prefecture", "ministry", "jlis"} <= overdue
    assert all(e.to_role == "ciso" for e in events if e.kind == "obligation-overdue")
    with pytest.raises(SocError, match="reporting obligations still pending"):
        Workflow(ctx, playbooks=PLAYBOOKS)._apply_transition(
            IncidentStore(ctx.es).get(iid).model_copy(update={"status": IncidentStatus.post_incident}),
            IncidentStatus.closed, clock.now(), actor="lead", reason="x",
        )  # fmt: skip
    sent = {o.kind: o for o in IncidentStore(ctx.es).get(iid).obligations}["ppc-preliminary"]
    assert sent.status is ObligationStatus.sent and sent.reference == "PPC-2026-0042" and sent.sent_at is not None


def test_audit_trail_and_kpis_on_a_hand_checked_case(ctx: AppContext) -> None:
    # detected 01:00 (alert created), opened 01:02; ack 01:10, declared 01:40, contained 03:00, recovered 1 day later
    wf, clock = _workflow(ctx, T0 + timedelta(minutes=2))
    iid = _open_spray(wf, "198.51.100.41")
    for minutes, action in [
        (10, lambda: wf.acknowledge(iid, actor="soc-kato")),
        (25, lambda: wf.note(iid, "spray from one VPS", actor="soc-kato", step_id="confirm-scope")),
        (30, lambda: wf.assign(iid, "handler-ito", actor="lead-mori")),
        (40, lambda: wf.transition(iid, "declared", actor="lead-mori", reason="one account logged on")),
        (180, lambda: wf.transition(iid, "contained", actor="handler-ito", reason="account disabled")),
        (24 * 60 + 60, lambda: wf.transition(iid, "recovered", actor="handler-ito", reason="password reset, MFA")),
    ]:
        clock.set(T0 + timedelta(minutes=minutes))
        action()
    incident = IncidentStore(ctx.es).get(iid)
    trail = [(e.seq, e.actor, e.action, e.detail) for e in incident.audit]
    assert trail == [
        (1, "soc", "open", f"alert {incident.alert_ids[0]} (password-spray); playbook unauthorised-login"),
        (2, "soc-kato", "ack", ""),
        (3, "soc-kato", "transition", "new -> triage"),
        (4, "soc-kato", "note", "confirm-scope"),
        (5, "lead-mori", "assign", "incident -> handler-ito"),
        (6, "lead-mori", "transition", "triage -> declared"),
        (7, "handler-ito", "transition", "declared -> contained"),
        (8, "handler-ito", "transition", "contained -> recovered"),
    ]
    assert incident.audit[5].reason == "one account logged on" and incident.audit[5].at == T0 + timedelta(minutes=40)
    assert incident.aware_at == T0 + timedelta(minutes=40) and incident.detected_at == T0
    k = kpis(incident)
    assert k.time_to_acknowledge == timedelta(minutes=10)
    assert k.time_to_triage == timedelta(minutes=40)
    assert k.time_to_contain == timedelta(hours=3)
    assert k.time_to_resolve == timedelta(days=1, hours=1)


def test_cli_works_an_incident_with_json_output(ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from soc.cli.main import app

    for key, value in {
        "SOC_ES_URL": ctx.settings.es_url, "SOC_INDEX_PREFIX": ctx.settings.index_prefix,
        "SOC_PLAYBOOKS_DIR": str(REPO / "playbooks"), "SOC_DETECTORS_DIR": str(REPO / "detectors"),
        "SOC_ACTOR": "cli-user",
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SOC_CONFIG", raising=False)
    cli = CliRunner()

    def run(*args: str) -> dict:  # type: ignore[type-arg]
        res = cli.invoke(app, [*args, "--json"])
        assert res.exit_code == 0, res.output
        return json.loads(res.stdout.splitlines()[-1])  # type: ignore[no-any-return]

    opened = run("incidents", "open", "--title-en", "Letter sent to the wrong address", "--title-ja", "通知書の誤送付",
                 "--playbook", "personal-data-misdelivery", "--personal-data")  # fmt: skip
    iid = opened["id"]
    assert opened["priority"] == "P2" and opened["aware_at"] and opened["steps"][0]["ready_at"]
    assert run("incidents", "ack", iid)["status"] == "triage"
    assert run("incidents", "ack", iid, "--step", "record-facts")["steps"][0]["status"] == "in-progress"
    done = run("incidents", "step", "done", iid, "record-facts", "--note", "2 residents", "--evidence", "doc://1")
    assert done["steps"][0]["status"] == "done" and done["steps"][0]["evidence"][0]["by"] == "cli-user"
    run("incidents", "step", "skip", iid, "recover", "--reason", "letter already returned")
    decided = run("incidents", "decide", iid, "assess", "not-reportable", "--comment", "2 people, no sensitive data")
    steps = {s["step_id"]: s for s in decided["steps"]}
    assert steps["report-ppc"]["status"] == "skipped" and steps["notify-residents"]["ready_at"]
    run("incidents", "note", iid, "called both residents")
    run("incidents", "assign", iid, "privacy-kudo", "--step", "notify-residents")
    shown = run("incidents", "show", iid)
    assert shown["kpis"]["time_to_acknowledge"] is not None and shown["audit"][-1]["actor"] == "cli-user"
    bad = cli.invoke(app, ["incidents", "transition", iid, "closed", "--reason", "x"])
    assert bad.exit_code == 1 and "allowed from 'triage': declared, false-positive, duplicate" in bad.output
    listed = cli.invoke(app, ["incidents", "list", "--json"])
    assert [json.loads(x)["id"] for x in listed.stdout.splitlines()] == [iid]
