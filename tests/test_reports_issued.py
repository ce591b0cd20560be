"""Issue 11, what a reader relies on: a title that names the account and never ends in an
empty placeholder (every shipped playbook, hostile values), a PDF that renders with
10,000-character names, past editions read as they were issued (files, service, console),
and Markdown that keeps list markers and bare URLs from logs inert."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from markdown_it import MarkdownIt

from soc.alerts.store import AlertStore
from soc.clock import ManualClock
from soc.context import AppContext
from soc.es.indices import alerts_index, ensure_ready
from soc.incidents.naming import TITLE_VALUE_CHARS, incident_title
from soc.incidents.service import escalate
from soc.incidents.store import IncidentStore
from soc.incidents.workflow import Workflow
from soc.playbooks.loader import load_playbooks
from soc.reports.batch import write_incident_report
from soc.reports.render import RUN_SHOWN
from soc.reports.service import edition_text
from soc.vocab import Bilingual
from soc.web.app import create_app
from tests.test_incidents import make_alert
from tests.webseed import T0, console_for, seed

pytestmark = pytest.mark.es
REPO = Path(__file__).resolve().parent.parent
PLAYBOOKS = load_playbooks(REPO / "playbooks")
LONG = "k.mori-" + "".join(f"{i:05d}" for i in range(2000))  # 10,007 characters, no two 64-character runs alike
HOSTILE = ["", "   ", "\u202egnp.exe", "a\r\nb\x1b[2J", "<script>alert(1)</script>", LONG]


def _entity_sets(value: str) -> list[dict[str, list[str]]]:
    return [
        {"user.name": [value], "source.ip": ["203.0.113.66"]},
        {"user.name": [value]},
        {"host.name": [value], "destination.ip": ["10.20.0.5"]},
        {"source.ip": [value]},
        {},
    ]


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=lambda p: p.id)
def test_every_playbooks_title_names_the_account_and_never_ends_empty(playbook: object) -> None:
    name = playbook.name  # type: ignore[attr-defined]
    for value in HOSTILE:
        for entities in _entity_sets(value):
            title = incident_title(name, entities)
            for lang, text in (("ja", title.ja), ("en", title.en)):
                what = name.ja if lang == "ja" else name.en
                assert text.startswith(what) and text.strip(), (value[:20], entities.keys(), text[:80])
                assert not text.rstrip().endswith(("：", ":")), text[:80]
                assert len(text) < len(what) + 3 * TITLE_VALUE_CHARS + 60, len(text)
                if value.strip() and set(entities) == {"user.name", "source.ip"}:
                    word = "アカウント" if lang == "ja" else "account"
                    assert text.index(word) < text.index("203.0.113.66")  # in words before the address
                if not value.strip() and set(entities) <= {"user.name", "source.ip"} and "source.ip" not in entities:
                    assert text == what  # nothing worth naming: the playbook's name alone, no "：" after it


def _escalate(ctx: AppContext, entity: dict[str, str]) -> str:
    ensure_ready(ctx.es)
    alert = make_alert("failed-login-burst", entity)
    ctx.es.create(alerts_index(ctx.es), alert.id, alert.to_doc(), refresh=True)
    result = escalate(ctx, [alert], playbooks=PLAYBOOKS)
    for a_id, i_id in result.assignments.items():
        AlertStore(ctx.es).set_incident(a_id, i_id, now=ctx.clock.now())
    return result.assignments[alert.id]


def test_the_stored_title_names_the_account_and_bounds_a_10k_name(ctx: AppContext) -> None:
    incident = IncidentStore(ctx.es).get(_escalate(ctx, {"user.name": LONG, "source.ip": "203.0.113.66"}))
    assert incident.title.ja.startswith(incident.title.ja.split("：")[0] + "：アカウント k.mori-0000")
    assert incident.title.ja.endswith("…（送信元アドレス 203.0.113.66）") and len(incident.title.ja) < 160
    blank = IncidentStore(ctx.es).get(_escalate(ctx, {"user.name": " ", "host.name": ""}))
    assert blank.title.ja and not blank.title.ja.endswith("：") and not blank.title.en.endswith(":")
    assert isinstance(blank.title, Bilingual)


def test_a_pdf_naming_10k_character_values_renders_with_the_value_whole_in_the_appendix(
    ctx: AppContext, tmp_path: Path
) -> None:
    host = "ws-" + LONG[::-1]
    incident = _escalate(ctx, {"user.name": LONG, "host.name": host, "source.ip": "203.0.113.66"})
    html = write_incident_report(ctx, incident, lang="ja", fmt="html", out_dir=tmp_path)
    pdf = tmp_path / "report.pdf"
    # in a child process, so a layout that never ends fails the test instead of hanging it
    # (WeasyPrint laid out an unbreakable 10,000-character word in a table for minutes)
    code = "import sys; from pathlib import Path; from soc.reports.pdf import html_to_pdf; "
    code += "Path(sys.argv[2]).write_bytes(html_to_pdf(Path(sys.argv[1]).read_text()))"
    subprocess.run([sys.executable, "-c", code, str(html), str(pdf)], check=True, timeout=180)
    assert pdf.read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    bare = re.sub(r"\s", "", text)
    assert "全10,007文字。全文は付録" in bare  # shortened where it is named, and said so
    assert LONG[:RUN_SHOWN] + "…" in bare
    for value in (LONG, host):  # whole in the evidence appendix, every line of it
        assert all(value[i : i + 64] in bare for i in range(0, len(value), 64)), value[:20]


def _issue(ctx: AppContext, incident_id: str) -> tuple[str, str]:
    edition, html = edition_text(ctx, incident_id, "ja", "html")
    _, md = edition_text(ctx, incident_id, "ja", "md", number=edition.number)
    assert isinstance(html, str) and isinstance(md, str)
    return html, md


def test_a_past_edition_reads_as_it_was_issued(ctx: AppContext, tmp_path: Path) -> None:
    ctx.clock = ManualClock(T0 + timedelta(hours=1))
    incident_id = _escalate(ctx, {"user.name": "k.mori", "source.ip": "203.0.113.66"})
    first_html, first_md = _issue(ctx, incident_id)
    assert "第1報" in first_html and "第1報" in first_md
    workflow = Workflow(ctx, playbooks=PLAYBOOKS)
    ctx.clock.advance(timedelta(minutes=30))
    workflow.acknowledge(incident_id, actor="k.sato")
    workflow.acknowledge(incident_id, actor="k.sato", step_id="confirm-scope")
    workflow.complete_step(incident_id, "confirm-scope", actor="k.sato", note="標的は1アカウントと確認")
    second_html, second_md = _issue(ctx, incident_id)
    assert "第2報" in second_html and "標的は1アカウントと確認" in second_html + second_md
    # 第1報 reads as it was sent, byte for byte, in every format — not re-rendered from today's record
    for fmt, first in (("html", first_html), ("md", first_md)):
        edition, again = edition_text(ctx, incident_id, "ja", fmt, number=1)
        assert edition.number == 1 and again == first
        assert "標的は1アカウントと確認" not in again and "第2報" not in again
    _, pdf = edition_text(ctx, incident_id, "ja", "pdf", number=1)
    assert isinstance(pdf, bytes)
    (tmp_path / "e1.pdf").write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(tmp_path / "e1.pdf"), "-"], check=True, capture_output=True, text=True)
    assert "第1報" in text.stdout and "標的は1アカウントと確認" not in text.stdout
    # the files written later are the latest edition as issued, too
    assert write_incident_report(ctx, incident_id, lang="ja", fmt="md", out_dir=tmp_path).read_text() == second_md


def test_a_deadline_passing_is_a_new_edition_that_says_so(ctx: AppContext) -> None:
    ctx.clock = ManualClock(T0 + timedelta(hours=1))
    incident_id = _escalate(ctx, {"user.name": "k.mori", "source.ip": "203.0.113.66"})
    first, _ = _issue(ctx, incident_id)
    assert "第1報" in first and "期限を過ぎました" not in first
    ctx.clock.advance(timedelta(days=2))  # nobody acknowledged it: the deadline passed, the record did not change
    second, second_md = _issue(ctx, incident_id)
    assert "第2報" in second and "受付の期限を過ぎました" in second and "期限超過：" in second_md
    assert _issue(ctx, incident_id) == (second, second_md)  # nothing new since: the same edition, as issued


def test_the_console_serves_a_past_edition_as_issued(ctx: AppContext) -> None:
    from tests.test_web import sign_in

    ctx.clock = ManualClock(T0 + timedelta(hours=2))
    seeded = seed(ctx)  # its incident names a 10,000-character hostile user
    base = f"/incidents/{seeded.incident}/report"
    with TestClient(create_app(console_for(ctx)), base_url="http://testserver") as client:
        sign_in(client, "ciso")
        first = client.get(base, params={"lang": "ja"})
        assert first.status_code == 200 and "第1報" in first.text
        Workflow(ctx, playbooks=PLAYBOOKS).acknowledge(seeded.incident, actor="k.sato")
        ctx.clock.advance(timedelta(minutes=10))
        second = client.get(base, params={"lang": "ja"})
        assert "第2報" in second.text
        again = client.get(base, params={"lang": "ja", "edition": "1"})
        assert again.status_code == 200 and again.text == first.text
        md = client.get(base, params={"lang": "ja", "edition": "1", "format": "md"})
        assert "第1報" in md.text and f'{seeded.incident}-e1.ja.md"' in md.headers["content-disposition"]
        pdf = client.get(base, params={"lang": "ja", "edition": "1", "format": "pdf"})  # the 10k name, in seconds
        assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
        assert client.get(base, params={"lang": "ja", "edition": "9"}).status_code in (400, 404, 422)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_markdown_keeps_list_markers_and_bare_urls_from_logs_inert(ctx: AppContext, tmp_path: Path, lang: str) -> None:
    ensure_ready(ctx.es)
    entity = {
        "user.name": "- rm -rf /",
        "host.name": "www.evil.example/http://evil.example/x",
        "source.ip": "203.0.113.66",
    }
    alert = make_alert("failed-login-burst", entity)
    alert = alert.model_copy(update={"reason": "1. see http://evil.example/x and www.evil.example", "title": "+ x"})
    ctx.es.create(alerts_index(ctx.es), alert.id, alert.to_doc(), refresh=True)
    incident = escalate(ctx, [alert], playbooks=PLAYBOOKS).opened[0]
    md = write_incident_report(ctx, incident, lang=lang, fmt="md", out_dir=tmp_path).read_text()
    assert "http://evil" not in md and "www.evil" not in md
    html = MarkdownIt("commonmark").render(md)  # no autolink either: a bare URL's ":" and "." are escaped
    assert "rm -rf" in html and "evil.example" in html and "<a " not in html
    assert not re.search(r"<li>\s*rm -rf", html) and not re.search(r"<li>\s*see http", html)


def test_an_incident_without_a_playbook_is_titled_in_japanese_from_its_detector(ctx: AppContext) -> None:
    """No playbook routes the alert: the stored ja title is the detector's Japanese title,
    not the alert's English title (it is what the CSIRT notification, the console and the
    incident list show)."""
    ensure_ready(ctx.es)
    scan = make_alert("port-scan", {"source.ip": "198.51.100.9"})
    scan = scan.model_copy(update={"title": "Port scan of one host from one source"})
    gone = make_alert("no-such-detector", {"source.ip": "198.51.100.10"}, minutes=5)
    result = escalate(ctx, [scan, gone], playbooks=[])
    titles = {a: IncidentStore(ctx.es).get(i).title for a, i in result.assignments.items()}
    assert titles[scan.id].ja == "単一送信元から単一ホストへのポートスキャン：送信元アドレス 198.51.100.9"
    assert titles[scan.id].en == "Port scan of one host from one source: source address 198.51.100.9"
    assert titles[gone.id].ja == "検知ルールによる検知：送信元アドレス 198.51.100.10"
    assert titles[gone.id].en == "no-such-detector: source address 198.51.100.10"
