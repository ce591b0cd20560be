"""Definitions are bounded before they are validated (depth, alias expansion, size of every
message) and cross-checked (playbook triggers -> detectors, notification routes -> roles)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from soc.cli.main import app
from soc.detection.loader import load_detector_file, load_detectors
from soc.errors import DefinitionError, DefinitionErrors
from soc.playbooks.loader import check_routes, load_playbooks
from soc.yamlio import MAX_MESSAGE, load_yaml_text
from tests.definition_checks import assert_fixture_error

REPO = Path(__file__).resolve().parent.parent
INVALID = REPO / "tests/fixtures/invalid"
REFERENCES = INVALID / "references/playbooks"


@pytest.mark.parametrize("name", ["nested-600-deep.yml", "alias-bomb.yml"])
def test_hostile_yaml_fails_in_one_line_in_milliseconds(name: str) -> None:
    path = INVALID / "detectors" / name
    load_detector_file(REPO / "detectors/auth/failed-login-burst.yml")  # warm up: imports are not the point
    started = time.perf_counter()
    with pytest.raises(DefinitionErrors) as info:
        load_detector_file(path)
    elapsed = time.perf_counter() - started
    [error] = info.value.errors
    rendered = error.render()
    assert rendered.startswith(f"{path}: ") and "\n" not in rendered and len(rendered) < 400
    assert elapsed < 1.0, f"{elapsed:.2f}s"  # in practice a few milliseconds


def test_a_deep_file_does_not_hide_the_other_files_errors(tmp_path: Path) -> None:
    for name in ("nested-600-deep.yml", "alias-bomb.yml", "zero-count.yml", "unknown-key.yml"):
        shutil.copy(INVALID / "detectors" / name, tmp_path / name)
    with pytest.raises(DefinitionErrors) as info:
        load_detectors(tmp_path)
    assert {Path(e.file or "").name for e in info.value.errors} == {
        "nested-600-deep.yml",
        "alias-bomb.yml",
        "zero-count.yml",
        "unknown-key.yml",
    }


def test_depth_and_aliases_within_bounds_still_load() -> None:
    ok = "a: &x [1, 2, 3]\nb: [*x, *x, *x]\nc: " + "[" * 20 + "1" + "]" * 20
    data = load_yaml_text(ok)
    assert data["b"] == [[1, 2, 3]] * 3
    with pytest.raises(DefinitionError, match="more than 100000 values"):
        load_yaml_text("a: &a [" + "1, " * 999 + "1]\n" + "b: [" + ", ".join(["*a"] * 101) + "]")


def test_every_error_message_is_bounded() -> None:
    with pytest.raises(DefinitionErrors) as info:
        load_detectors(INVALID / "detectors")
    for e in info.value.errors:
        for line in e.message.splitlines():
            assert len(line) <= MAX_MESSAGE, (e.file, len(line))
    huge = next(e for e in info.value.errors if (e.file or "").endswith("huge-value.yml"))
    assert "(+19" in huge.message  # says how much was left out


# -- cross-references ---------------------------------------------------------------------------
def test_a_trigger_naming_no_detector_is_an_error_of_its_file() -> None:
    shipped = {d.id for d in load_detectors(REPO / "detectors")}
    [path] = sorted(REFERENCES.glob("*.yml"))
    assert load_playbooks(REFERENCES)  # valid on its own
    assert_fixture_error(path, lambda p: load_playbooks(p.parent, detector_ids=shipped))
    assert load_playbooks(REPO / "playbooks", detector_ids=shipped)  # every shipped trigger is a detector


def test_a_route_to_a_role_no_playbook_has_is_an_error() -> None:
    playbooks = load_playbooks(REPO / "playbooks")
    [error] = check_routes([("mail", ["ciso"]), ("pager", ["csirt-leed"])], playbooks, file="soc.toml")
    assert error.render() == (
        "soc.toml: notify.destinations.roles.0: destination 'pager': no playbook has the role 'csirt-leed' "
        "(fix: did you mean 'csirt-lead'?)"
    )


def test_validate_lists_cross_reference_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "soc.toml"
    config.write_text(
        f'[[notify.destinations]]\nkind = "outbox"\nname = "ob"\ndirectory = "{tmp_path / "ob"}"\nroles = ["mayer"]\n'
    )
    monkeypatch.setenv("SOC_DETECTORS_DIR", str(REPO / "detectors"))
    monkeypatch.setenv("SOC_PLAYBOOKS_DIR", str(REFERENCES))
    res = CliRunner().invoke(app, ["--config", str(config), "validate"])
    assert res.exit_code == 1
    assert "unknown-detector.yml: triggers.detectors.1: no detector 'failed-login-brust'" in res.output
    # the route is checked too: a playbook whose only fault is a trigger still declares its roles
    assert "destination 'ob': no playbook has the role 'mayer'" in res.output
    assert "2 error(s)" in res.output
    monkeypatch.setenv("SOC_PLAYBOOKS_DIR", str(REPO / "playbooks"))
    res = CliRunner().invoke(app, ["--config", str(config), "validate"])
    assert res.exit_code == 1
    assert f"{config}: notify.destinations.roles.0: destination 'ob': no playbook has the role 'mayer'" in res.output
    assert "did you mean 'mayor'?" in res.output and "1 error(s)" in res.output


def test_one_broken_file_hides_no_other_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A detector that does not parse, a trigger typo and a route typo: all three at once."""
    detectors, playbooks = tmp_path / "detectors", tmp_path / "playbooks"
    shutil.copytree(REPO / "detectors", detectors)
    shutil.copy(INVALID / "detectors" / "nested-600-deep.yml", detectors / "nested-600-deep.yml")
    shutil.copytree(REPO / "playbooks", playbooks)
    ransomware = playbooks / "ransomware.yml"
    ransomware.write_text(ransomware.read_text().replace("[silent-log-source]", "[silent-log-sorce]"))
    config = tmp_path / "soc.toml"
    config.write_text(
        f'[[notify.destinations]]\nkind = "outbox"\nname = "ob"\ndirectory = "{tmp_path}"\nroles = ["mayer"]\n'
    )
    monkeypatch.setenv("SOC_DETECTORS_DIR", str(detectors))
    monkeypatch.setenv("SOC_PLAYBOOKS_DIR", str(playbooks))
    res = CliRunner().invoke(app, ["--config", str(config), "validate"])
    assert res.exit_code == 1
    assert "nested-600-deep.yml: nested deeper than 32 levels" in res.output
    assert "ransomware.yml: triggers.detectors.0: no detector 'silent-log-sorce'" in res.output
    assert "destination 'ob': no playbook has the role 'mayer'" in res.output
    assert "3 error(s)" in res.output


def test_a_trigger_may_name_a_disabled_detector(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Disabling a detector a playbook names is a site's choice, not a broken definition."""
    detectors = tmp_path / "detectors"
    shutil.copytree(REPO / "detectors", detectors)
    [silent] = [p for p in detectors.rglob("*.yml") if p.read_text().startswith("id: silent-log-source\n")] or [
        p for p in detectors.rglob("*.yml") if "\nid: silent-log-source\n" in p.read_text()
    ]
    text = silent.read_text()
    assert "enabled:" not in text
    silent.write_text(text.replace("id: silent-log-source\n", "id: silent-log-source\nenabled: false\n", 1))
    monkeypatch.setenv("SOC_DETECTORS_DIR", str(detectors))
    monkeypatch.setenv("SOC_PLAYBOOKS_DIR", str(REPO / "playbooks"))
    config = tmp_path / "soc.toml"
    config.write_text("")
    res = CliRunner().invoke(app, ["--config", str(config), "validate"])
    assert res.exit_code == 0, res.output
    shipped = len(list((REPO / "detectors").rglob("*.yml")))
    assert f"✓ {shipped - 1} detector(s)" in res.output


def test_the_scheduler_accepts_and_refuses_what_validate_does(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`soc run` loads definitions through the same checks as `soc validate`: a disabled
    detector a playbook names does not stop it, a route to a role no playbook has does."""
    from soc.config import load_settings
    from soc.context import AppContext
    from soc.runtime.service import load_definitions

    detectors = tmp_path / "detectors"
    shutil.copytree(REPO / "detectors", detectors)
    [silent] = [p for p in detectors.rglob("*.yml") if "id: silent-log-source\n" in p.read_text()]
    silent.write_text(
        silent.read_text().replace("id: silent-log-source\n", "id: silent-log-source\nenabled: false\n", 1)
    )
    monkeypatch.setenv("SOC_DETECTORS_DIR", str(detectors))
    monkeypatch.setenv("SOC_PLAYBOOKS_DIR", str(REPO / "playbooks"))
    config = tmp_path / "soc.toml"
    config.write_text("")
    loaded, playbooks = load_definitions(AppContext.from_settings(load_settings(config)))
    assert "silent-log-source" not in {d.id for d in loaded}
    assert len(loaded) == len(list((REPO / "detectors").rglob("*.yml"))) - 1 and playbooks

    config.write_text(
        f'[[notify.destinations]]\nkind = "outbox"\nname = "ob"\ndirectory = "{tmp_path}"\nroles = ["mayer"]\n'
    )
    with pytest.raises(DefinitionErrors) as err:
        load_definitions(AppContext.from_settings(load_settings(config)))
    assert "destination 'ob': no playbook has the role 'mayer'" in str(err.value)
