"""Shared assertion for broken definition fixtures: each file states its expected error."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from soc.errors import DefinitionErrors


def assert_fixture_error(path: Path, load_one: Callable[[Path], Any]) -> None:
    """*path* starts with ``# expect: <message>``; loading it must fail with an error that
    names the file and contains that message."""
    expected = re.search(r"^# expect: (.+)$", path.read_text(), re.M)
    assert expected, f"{path} lacks an '# expect:' line"
    with pytest.raises(DefinitionErrors) as info:
        load_one(path)
    rendered = [e.render() for e in info.value.errors]
    assert any(str(path) in r and expected.group(1) in r for r in rendered), rendered


def invalid_fixture_errors() -> int:
    """How many errors the library collects from every broken fixture (what the CLI must report)."""
    from soc.detection.loader import load_detectors
    from soc.playbooks.loader import load_playbooks

    fixtures = Path(__file__).parent / "fixtures" / "invalid"
    total = 0
    for load, directory in ((load_detectors, fixtures / "detectors"), (load_playbooks, fixtures / "playbooks")):
        with pytest.raises(DefinitionErrors) as info:
            load(directory)
        total += len(info.value.errors)
    return total
