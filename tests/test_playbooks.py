"""Every shipped playbook loads and is sound; broken ones fail naming file and field, all at once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from soc.alerts.models import Alert
from soc.definitions import definition_files
from soc.errors import DefinitionErrors
from soc.playbooks.graph import topological_order
from soc.playbooks.loader import load_playbook_file, load_playbooks, route
from soc.playbooks.models import ApprovalStep, EndStep, ParallelStep, Playbook, Trigger, WaitStep
from tests.definition_checks import assert_fixture_error

REPO = Path(__file__).resolve().parent.parent
SHIPPED = definition_files(REPO / "playbooks")
INVALID = sorted((REPO / "tests/fixtures/invalid/playbooks").glob("*.yml"))
NOW = datetime(2026, 11, 24, tzinfo=UTC)

# The detectors being written now; each must lead to a playbook.
DETECTORS = {
    "unauthorised-login": [
        "failed-login-burst", "failed-login-burst-source", "password-spray", "password-spray-workstation",
        "kerberos-preauth-spray", "ntlm-failures-dc", "account-lockout-storm", "brute-force-success",
        "privileged-logon-off-hours", "new-country-logon", "new-host-logon", "impossible-travel", "vpn-logon-abroad",
        "m365-signin-spray", "password-spray-success", "failed-login-burst-workstation", "vpn-logon-failures",
    ],
    "lateral-movement": [
        "port-scan", "slow-port-scan", "host-sweep", "host-sweep-unanswered", "lateral-fan-out",
        "lateral-movement-network", "ssh-protocol-probing", "port-scan-burst",
    ],
    "malware-c2": [
        "beaconing", "beaconing-proxy", "beaconing-tls", "dns-tunnelling", "dns-txt-volume", "dns-long-names",
        "lgwan-to-internet",
    ],
    "data-exfiltration": ["large-outbound-transfer"],
    "mynumber-breach": ["mynumber-to-internet"],
    "ransomware": ["silent-log-source"],
}  # fmt: skip


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_playbook_is_sound(path: Path) -> None:
    pb = load_playbook_file(path)
    assert path.stem == pb.id
    assert pb.name.ja != pb.name.en and pb.summary.ja != pb.summary.en
    assert any(isinstance(s, EndStep) for s in pb.steps)
    # every step reachable, in an order where it follows all its predecessors
    assert sorted(topological_order(pb)) == sorted(s.id for s in pb.steps)
    for step in pb.steps:
        assert step.title.ja != step.title.en, step.id
        if isinstance(step, EndStep | ParallelStep):
            continue
        assert step.instructions.ja != step.instructions.en, step.id
        assert step.time_limit.total_seconds() > 0
        if not isinstance(step, WaitStep):
            assert step.sla.due.total_seconds() > 0
    approval = pb.approval()
    assert approval is not None and approval.owner == "ciso"
    assert isinstance(approval, ApprovalStep) and approval.if_no_decision.ja and approval.decide_by.total_seconds() > 0
    assert approval.recommendation in {o.id for o in approval.options}


def test_every_approval_option_states_effect_risk_cost_and_resident_impact() -> None:
    """The CISO weighs every option on the same four points, in both languages; list every gap."""
    gaps = []
    for path in SHIPPED:
        pb = load_playbook_file(path)
        for step in pb.steps:
            if not isinstance(step, ApprovalStep):
                continue
            for option in step.options:
                for field in ("effect", "risk", "cost", "resident_impact"):
                    text = getattr(option, field)
                    for lang in ("ja", "en"):
                        if text is None or not text(lang).strip():
                            gaps.append(f"{path.name}: {step.id}.{option.id}.{field} ({lang})")
                    if text is not None and text.ja == text.en:
                        gaps.append(f"{path.name}: {step.id}.{option.id}.{field}: ja is the en text")
    assert not gaps, "\n".join(gaps)


def test_seven_playbooks_with_unique_ids() -> None:
    ids = {p.id for p in load_playbooks(REPO / "playbooks")}
    assert len(ids) == len(SHIPPED) == 7
    assert ids == set(DETECTORS) | {"personal-data-misdelivery"}


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_playbook_names_file_and_field(path: Path) -> None:
    assert_fixture_error(path, load_playbook_file)


def test_all_broken_playbooks_reported_in_one_pass() -> None:
    with pytest.raises(DefinitionErrors) as info:
        load_playbooks(REPO / "tests/fixtures/invalid/playbooks")
    assert {e.file for e in info.value.errors} == {str(p) for p in INVALID}


def test_every_graph_problem_of_a_file_is_reported_at_once() -> None:
    path = REPO / "tests/fixtures/invalid/playbooks/many-graph-problems.yml"
    with pytest.raises(DefinitionErrors) as info:
        load_playbook_file(path)
    rendered = {e.render() for e in info.value.errors}
    assert rendered == {
        f"{path}: steps.0.sla.escalate_to: role 'boss' is not declared in roles [bad-many]",
        f"{path}: steps.1.options.1.next: 'nowhere' is not a step id [bad-many]",
        f"{path}: steps.3.next: a task step must lead to another step [bad-many]",
        f"{path}: steps: a playbook needs an 'end' step [bad-many]",
        f"{path}: steps: not reachable from the first step: dead-end [bad-many]",
        f"{path}: steps.2.next: cycle: choose -> loop -> choose (playbooks are acyclic) [bad-many]",
    }


def test_dangling_next_also_reports_what_it_orphans() -> None:
    with pytest.raises(DefinitionErrors) as info:
        load_playbook_file(REPO / "tests/fixtures/invalid/playbooks/dangling-next.yml")
    assert [(e.field, e.message) for e in info.value.errors] == [
        ("steps.0.next", "'nowhere' is not a step id"),
        ("steps", "not reachable from the first step: done"),
    ]


def _alert(detector: str, severity: str = "medium", *, risk: float = 40, segments: list[str] | None = None) -> Alert:
    return Alert(
        id="A-1", detector=detector, title="t", severity=severity, risk_score=risk, entity={"source.ip": "192.0.2.1"},
        count=1, start=NOW, end=NOW, created=NOW, updated=NOW, segments=segments or [],
    )  # fmt: skip


@pytest.mark.parametrize(("playbook_id", "detector"), [(p, d) for p, ds in DETECTORS.items() for d in ds])
def test_every_detector_routes_to_its_playbook(playbook_id: str, detector: str) -> None:
    playbooks = load_playbooks(REPO / "playbooks")
    assert route(playbooks, _alert(detector, "high")).id == playbook_id  # type: ignore[union-attr]


def test_routing_by_segment_beats_detector_and_unknown_detectors_go_nowhere() -> None:
    playbooks = load_playbooks(REPO / "playbooks")
    assert route(playbooks, _alert("password-spray")).id == "unauthorised-login"  # type: ignore[union-attr]
    # anything touching the My Number segment opens its own track, whatever the detector
    mynumber = route(playbooks, _alert("port-scan", segments=["lgwan", "mynumber"]))
    assert mynumber is not None and mynumber.id == "mynumber-breach"
    assert route(playbooks, _alert("no-such-detector", "critical")) is None
    assert route(playbooks, _alert("silent-log-source", "medium")) is None  # below the ransomware floor


def test_routing_honours_floors_and_prefers_the_highest() -> None:
    shipped = next(p for p in load_playbooks(REPO / "playbooks") if p.id == "unauthorised-login")
    assert route([shipped], _alert("password-spray", "low")) is None  # below the playbook's floor
    broad = shipped.model_copy(update={"id": "a-any-medium", "triggers": Trigger(min_severity="medium")})
    narrow = shipped.model_copy(update={"id": "z-any-high", "triggers": Trigger(min_severity="high")})
    risky = shipped.model_copy(update={"id": "m-risk", "triggers": Trigger(min_severity="high", min_risk=90)})
    candidates = [narrow, broad, shipped, risky]
    assert route(candidates, _alert("password-spray", "high")) is shipped  # detector beats severity
    assert route(candidates, _alert("port-scan", "high")) is narrow
    assert route(candidates, _alert("port-scan", "high", risk=95)) is risky
    assert route(candidates, _alert("port-scan", "medium")) is broad
    assert route(list(reversed(candidates)), _alert("port-scan", "high")) is narrow  # order-independent
    assert route(candidates, _alert("port-scan", "low")) is None


def test_json_schema_is_generated_from_the_model() -> None:
    schema = Playbook.model_json_schema()
    assert schema["additionalProperties"] is False
    kinds = {d["properties"]["kind"]["const"] for name, d in schema["$defs"].items() if name.endswith("Step")}
    assert kinds == {"task", "decision", "parallel", "approval", "notification", "wait", "report", "end"}


def test_cli_lists_shows_and_exports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from soc.cli.main import app

    monkeypatch.setenv("SOC_PLAYBOOKS_DIR", str(REPO / "playbooks"))
    monkeypatch.delenv("SOC_CONFIG", raising=False)
    cli = CliRunner()
    listed = cli.invoke(app, ["playbooks", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert len(listed.stdout.splitlines()) == 7
    shown = cli.invoke(app, ["playbooks", "show", "ransomware", "--lang", "ja"])
    assert shown.exit_code == 0 and "ランサムウェア" in shown.output
    out = tmp_path / "ransomware.cacao.json"
    exported = cli.invoke(app, ["playbooks", "export", "ransomware", "--format", "cacao", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    assert json.loads(out.read_text())["spec_version"] == "cacao-2.0"
    stdout = cli.invoke(app, ["playbooks", "export", "malware-c2"])
    assert json.loads(stdout.stdout)["type"] == "playbook"
    bad = cli.invoke(app, ["playbooks", "export", "nope", "--format", "stix"])
    assert bad.exit_code == 1 and "unknown export format 'stix'" in bad.output
    missing = cli.invoke(app, ["playbooks", "show", "nope"])
    assert missing.exit_code == 1 and "no playbook 'nope'" in missing.output


@pytest.mark.parametrize("path", sorted((REPO / "detectors").rglob("*.yml")), ids=lambda p: p.stem)
def test_every_shipped_detector_has_a_playbook_unless_it_watches_data_sources(path: Path) -> None:
    from soc.detection.loader import load_detector_file

    detector = load_detector_file(path)
    routed = route(load_playbooks(REPO / "playbooks"), _alert(detector.id, detector.severity.value))
    if "data-source-health" in detector.tags:
        assert routed is None  # a silent collector is an operations ticket, not a security incident
    else:
        assert routed is not None, f"alerts of {detector.id} would open incidents without a playbook"
