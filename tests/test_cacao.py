"""CACAO v2.0 export validates against the vendored OASIS JSON schemas, for every playbook."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from soc.definitions import definition_files
from soc.playbooks.cacao import to_cacao
from soc.playbooks.loader import load_playbook_file

REPO = Path(__file__).resolve().parent.parent
SCHEMAS = REPO / "tests/fixtures/cacao/schemas"
SHIPPED = definition_files(REPO / "playbooks")
WHEN = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def _schemas() -> dict[str, dict[str, Any]]:
    return {str(p.relative_to(SCHEMAS)): json.loads(p.read_text()) for p in SCHEMAS.rglob("*.json")}


@pytest.fixture(scope="module")
def registry() -> Registry:
    resources = [(s["$id"], Resource.from_contents(s, default_specification=DRAFT7)) for s in _schemas().values()]
    return Registry().with_resources(resources)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_export_validates_against_cacao_schemas(path: Path, registry: Registry) -> None:
    schemas = _schemas()
    doc = to_cacao(load_playbook_file(path), created=WHEN)
    Draft7Validator(schemas["playbook.json"], registry=registry).validate(doc)
    # 2020-12: unevaluatedProperties enforced; commands checked against manual.json (see README)
    manual = Draft202012Validator(schemas["commands/manual.json"], registry=registry)
    strict = copy.deepcopy(doc)
    for step in strict["workflow"].values():
        for command in step.get("commands", []):
            manual.validate(command)
        if "commands" in step:
            step["commands"] = [{"type": c["type"]} for c in step["commands"]]
    Draft202012Validator(schemas["playbook.json"], registry=registry).validate(strict)


def test_export_keeps_the_graph_and_is_deterministic() -> None:
    pb = load_playbook_file(REPO / "playbooks/ransomware.yml")
    doc = to_cacao(pb, created=WHEN)
    assert doc == to_cacao(pb, created=WHEN)
    steps = doc["workflow"]
    start = steps[doc["workflow_start"]]
    first = steps[start["on_completion"]]
    assert first["type"] == "action" and first["step_extensions"]
    (parallel,) = [s for s in steps.values() if s["type"] == "parallel"]
    branch_ends = {steps[b]["on_completion"] for b in parallel["next_steps"]}
    assert len(branch_ends) == 2 and all(steps[e]["type"] == "end" for e in branch_ends)  # one end per branch
    ext = next(iter(steps[parallel["on_completion"]]["step_extensions"].values()))
    assert ext["soc_kind"] == "approval" and ext["recommendation"] == "full-disconnect"
    assert doc["created"] == "2026-11-25T09:00:00.000Z" and doc["industry_sectors"] == ["local-government"]


def test_decision_becomes_a_switch_on_the_chosen_option() -> None:
    doc = to_cacao(load_playbook_file(REPO / "playbooks/unauthorised-login.yml"), created=WHEN)
    (switch,) = [s for s in doc["workflow"].values() if s["type"] == "switch-condition"]
    assert set(switch["cases"]) == {"compromised", "not-compromised"}
    assert switch["switch"] in doc["playbook_variables"]
    assert sum(s["type"] == "end" for s in doc["workflow"].values()) == 1


def test_the_schemas_do_reject_a_broken_export(registry: Registry) -> None:
    from jsonschema import ValidationError

    schemas = _schemas()
    doc = to_cacao(load_playbook_file(REPO / "playbooks/malware-c2.yml"), created=WHEN)
    action = next(s for s in doc["workflow"].values() if s["type"] == "action")
    del action["agent"]
    with pytest.raises(ValidationError, match="'agent' is a required property"):
        Draft7Validator(schemas["playbook.json"], registry=registry).validate(doc)
    doc = to_cacao(load_playbook_file(REPO / "playbooks/malware-c2.yml"), created=WHEN)
    start = doc["workflow"][doc["workflow_start"]]
    start["run_this"] = "rm -rf /"
    with pytest.raises(ValidationError, match="Unevaluated properties"):
        Draft202012Validator(schemas["playbook.json"], registry=registry).validate(doc)
