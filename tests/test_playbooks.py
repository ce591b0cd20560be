"""Every shipped playbook loads and is sound; broken ones fail naming file and field."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from soc.alerts.models import Alert
from soc.definitions import definition_files
from soc.errors import DefinitionErrors
from soc.playbooks.loader import load_playbook_file, load_playbooks, route
from soc.playbooks.models import ApprovalStep, EndStep, Playbook, Trigger
from tests.definition_checks import assert_fixture_error

REPO = Path(__file__).resolve().parent.parent
SHIPPED = definition_files(REPO / "playbooks")
INVALID = sorted((REPO / "tests/fixtures/invalid/playbooks").glob("*.yml"))
NOW = datetime(2026, 11, 24, tzinfo=UTC)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_playbook_is_sound(path: Path) -> None:
    pb = load_playbook_file(path)
    assert path.stem == pb.id
    assert any(isinstance(s, EndStep) for s in pb.steps)
    for step in pb.steps:
        assert step.title.ja != step.title.en
        if not isinstance(step, EndStep):
            assert step.instructions.ja and step.time_limit.total_seconds() > 0
    approval = pb.approval()
    assert approval is not None and approval.owner == "ciso"
    assert isinstance(approval, ApprovalStep) and approval.if_no_decision.ja


def test_shipped_playbook_ids_unique() -> None:
    assert len(load_playbooks(REPO / "playbooks")) == len(SHIPPED) >= 1


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_playbook_names_file_and_field(path: Path) -> None:
    assert_fixture_error(path, load_playbook_file)


def test_all_broken_playbooks_reported_in_one_pass() -> None:
    with pytest.raises(DefinitionErrors) as info:
        load_playbooks(REPO / "tests/fixtures/invalid/playbooks")
    assert {e.file for e in info.value.errors} == {str(p) for p in INVALID}


def _alert(detector: str, severity: str = "medium") -> Alert:
    return Alert(
        id="A-1", detector=detector, title="t", severity=severity, risk_score=40, entity={"source.ip": "192.0.2.1"},
        count=1, start=NOW, end=NOW, created=NOW, updated=NOW,
    )  # fmt: skip


def test_routing_by_detector_and_none_for_others() -> None:
    playbooks = load_playbooks(REPO / "playbooks")
    assert route(playbooks, _alert("password-spray")).id == "unauthorised-login"  # type: ignore[union-attr]
    assert route(playbooks, _alert("port-scan")) is None


def test_routing_honours_min_severity_and_prefers_the_highest_floor() -> None:
    (shipped,) = load_playbooks(REPO / "playbooks")
    assert route([shipped], _alert("password-spray", "low")) is None  # below the playbook's floor
    broad = shipped.model_copy(update={"id": "a-any-medium", "triggers": Trigger(min_severity="medium")})
    narrow = shipped.model_copy(update={"id": "z-any-high", "triggers": Trigger(min_severity="high")})
    candidates = [narrow, broad, shipped]
    assert route(candidates, _alert("password-spray", "high")) is shipped  # detector beats severity
    assert route(candidates, _alert("port-scan", "high")) is narrow
    assert route(candidates, _alert("port-scan", "medium")) is broad
    assert route(list(reversed(candidates)), _alert("port-scan", "high")) is narrow  # order-independent
    assert route(candidates, _alert("port-scan", "low")) is None


def test_json_schema_is_generated_from_the_model() -> None:
    schema = Playbook.model_json_schema()
    assert schema["additionalProperties"] is False
    assert {"task", "decision", "approval", "notification", "end"} <= {
        d["properties"]["kind"]["const"] for name, d in schema["$defs"].items() if name.endswith("Step")
    }
