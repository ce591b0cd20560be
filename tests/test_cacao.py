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
from referencing.jsonschema import DRAFT7, DRAFT202012

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


@pytest.fixture(scope="module")
def strict() -> Registry:
    """The same files read as draft 2020-12, whatever they declare (see the README)."""
    return Registry().with_resources([(s["$id"], DRAFT202012.create_resource(s)) for s in _as_2020().values()])


def _as_2020() -> dict[str, dict[str, Any]]:
    # jsonschema picks the validator of every referenced file from its "$schema": restate it
    return {k: {**v, "$schema": "https://json-schema.org/draft/2020-12/schema"} for k, v in _schemas().items()}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_export_validates_against_cacao_schemas(path: Path, registry: Registry, strict: Registry) -> None:
    schemas = _schemas()
    doc = to_cacao(load_playbook_file(path), created=WHEN)
    Draft7Validator(schemas["playbook.json"], registry=registry).validate(doc)
    # 2020-12: unevaluatedProperties enforced; commands checked against manual.json (see README)
    manual = Draft7Validator(schemas["commands/manual.json"], registry=registry)
    allowed = {"type", "command", "command_b64", "description", "version", "playbook_activity", "external_references"}
    stripped = copy.deepcopy(doc)
    for step in stripped["workflow"].values():
        for command in step.get("commands", []):
            manual.validate(command)
            assert command["type"] == "manual" and "command" in command and set(command) <= allowed
        if "commands" in step:
            step["commands"] = [{"type": c["type"]} for c in step["commands"]]
    Draft202012Validator(_as_2020()["playbook.json"], registry=strict).validate(stripped)


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


def test_the_schemas_do_reject_a_broken_export(registry: Registry, strict: Registry) -> None:
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
        Draft202012Validator(_as_2020()["playbook.json"], registry=strict).validate(doc)
