"""Japanese text as users read it: a line break folded by YAML leaves no space inside Japanese
text (「確認し て」), in every shipped playbook and detector and where the CLI shows them."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from soc.cjk import CJK_SPACE, MAX_FOLDED_CHARS
from soc.cli.main import app
from soc.context import AppContext
from soc.detection.loader import load_detector_file
from soc.incidents.workflow import Workflow
from soc.playbooks.loader import load_playbook_file, load_playbooks
from soc.vocab import Bilingual
from soc.yamlio import load_yaml_text
from tests.webseed import make_alert, put_alerts

REPO = Path(__file__).resolve().parent.parent
PLAYBOOKS = sorted((REPO / "playbooks").glob("*.yml"))
DETECTORS = sorted(p for p in (REPO / "detectors").rglob("*.yml") if "value-lists" not in p.parts)


def _ja_texts(node: Any, path: str = "") -> list[tuple[str, str]]:
    """Every Japanese text of a definition, with its field path."""
    if isinstance(node, Bilingual):
        return [(path, node.ja)]
    if isinstance(node, BaseModel):
        return [t for name in type(node).model_fields for t in _ja_texts(getattr(node, name), f"{path}.{name}")]
    if isinstance(node, list | tuple):
        return [t for i, v in enumerate(node) for t in _ja_texts(v, f"{path}.{i}")]
    if isinstance(node, dict):
        return [t for k, v in node.items() for t in _ja_texts(v, f"{path}.{k}")]
    return []


def _gaps(texts: list[tuple[str, str]]) -> list[str]:
    found = [(where, text, m.start()) for where, text in texts for m in CJK_SPACE.finditer(text)]
    return [f"{where}: …{text[max(0, at - 10) : at + 10]}…" for where, text, at in found]


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_playbook_japanese_has_no_folded_spaces(path: Path) -> None:
    texts = _ja_texts(load_playbook_file(path))
    assert len(texts) > 10  # names, summary, every step's title and instructions
    assert _gaps(texts) == []


@pytest.mark.parametrize("path", DETECTORS, ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_detector_japanese_has_no_folded_spaces(path: Path) -> None:
    texts = _ja_texts(load_detector_file(path))
    assert {where for where, _ in texts} >= {".title", ".description", ".rationale"}
    assert _gaps(texts) == []


def test_folding_joins_japanese_lines_and_keeps_english_spaces() -> None:
    data = load_yaml_text(
        "folded: >-\n"
        "  アラートの根拠を確認し\n"
        "  て、アカウントを封じ込め、\n"
        "  CISOに報告します。Check the\n"
        "  evidence, then tell the CISO\n"
        "  （住民サービス）\n"
        "plain: 確認し\n"
        "  て Check\n"
        "  it\n"
        'quoted: "確認し\n'
        '  て"\n'
        "literal: |-\n"
        "  確認し\n"
        "  て\n"
        "one_line: 総務省 地方公共団体 guidance\n"
        "paragraphs: >-\n"
        "  段落\n"
        "\n"
        "  確認し\n"
        "  て\n"
    )
    assert data == {
        "folded": "アラートの根拠を確認して、アカウントを封じ込め、CISOに報告します。"
        "Check the evidence, then tell the CISO（住民サービス）",
        "plain": "確認して Check it",
        "quoted": "確認して",
        "literal": "確認し\nて",  # line breaks kept as written
        "one_line": "総務省 地方公共団体 guidance",  # a space written on one line is the author's
        "paragraphs": "段落\n確認して",
    }


def test_joining_is_bounded_for_huge_strings() -> None:
    """A definition file may be 1 MB: past MAX_FOLDED_CHARS a string keeps YAML's folding
    (the joining would be quadratic); below it, many lines are joined."""
    under = load_yaml_text("a: >-\n" + "  確認\n" * (MAX_FOLDED_CHARS // 3 - 1))["a"]
    assert " " not in under and len(under) > MAX_FOLDED_CHARS // 2
    over = load_yaml_text("a: >-\n" + "  確認\n" * MAX_FOLDED_CHARS)["a"]
    assert over == " ".join(["確認"] * MAX_FOLDED_CHARS)


def test_the_cli_shows_playbook_instructions_without_folded_spaces(cli: CliRunner, ctx: AppContext) -> None:
    """``soc incidents show --lang ja``: the step instructions of the shipped playbook as folded
    in playbooks/unauthorised-login.yml (「…確認し、」 / 「標的となった…」 on two lines)."""
    alert = make_alert("failed-login-burst", {"user.name": "s.abe", "source.ip": "198.51.100.23"})
    put_alerts(ctx, [alert])
    result = Workflow(ctx, playbooks=load_playbooks(REPO / "playbooks")).open_from_alerts([alert])
    incident_id = result.assignments[alert.id]
    shown = cli.invoke(app, ["incidents", "show", incident_id, "--lang", "ja"], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    instructions = []  # the lines under each 「手順:」, as wrapped for the terminal
    for n, line in enumerate(lines):
        if line.strip() == "手順:":
            instructions += itertools.takewhile(lambda x: x.startswith(" " * 8), lines[n + 1 :])
    assert len(instructions) > 10
    assert _gaps([("soc incidents show", line) for line in instructions]) == []
    # two breaks folded in playbooks/unauthorised-login.yml: after 「確認し、」 and before 「ないかを」
    text = "".join(line.strip() for line in instructions)
    assert "サンプルイベント）を確認し、標的となったアカウントと送信元アドレスを" in text
    assert "（メール転送ルール、新しい端末の登録、ファイルアクセス）がないかを認証ログで確認" in text
