"""The console in Japanese reads as Japanese, in the reports' words; in English it reads well.

Incidents are worked on the real node (acknowledgement, a decision, a transition, impact,
a skipped step, escalations of every kind, an overdue report, a foreign country, detector
figures: the same record the Japanese-report test uses), then every page an operator, a
CSIRT member and the CISO read is rendered for a ``ja`` account and its visible text is
searched for Latin words: only names from the record (accounts, addresses, ids) and the
terms of the reports' glossary may stay in Latin letters.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from soc.alerts.store import AlertStore
from soc.context import AppContext
from soc.detection.loader import load_detectors
from soc.playbooks.loader import load_playbooks
from soc.web.app import create_app
from soc.web.roles import Role
from soc.web.users import UserStore
from tests.test_detector_definitions import NOTE_TERMS
from tests.test_reports_japanese import _Text, latin_words, worked  # noqa: F401  (fixture)
from tests.webseed import CHEAP_HASHER, PASSWORD, REPO, console_for

pytestmark = pytest.mark.es

NAMES = {"k.mori", "t.ito", "k.sato", "m.tanaka", "clerk", "soc-deadlines", "PREF-1", "ja", "en", "ticket://SOC-1"}
# the console's own Latin words: the language switch, the report links' format names
CONSOLE = {"English", "HTML", "PDF", "ja", "en", "CSV"}


def visible(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return "\n".join(parser.parts)


def _without_rationale(html: str) -> str:
    """The page without the detector's rationale and tuning notes: their text comes from
    the detector YAML, made bilingual by other work; this test checks the rest of the page."""
    return re.sub(r"<h2>(検知の根拠|Rationale)</h2>.*?(?=<h2>(元のイベント|Events behind it))", "", html, flags=re.S)


def _pages(client: TestClient, alert_ids: list[str], incident_ids: list[str]) -> dict[str, str]:
    paths = ["/alerts", "/incidents", "/incidents?status=", "/ciso", "/overview"]
    paths += [f"/alerts/{a}" for a in alert_ids] + [f"/incidents/{i}" for i in incident_ids]
    pages = {}
    for p in paths:
        r = client.get(p)
        assert r.status_code == 200, (p, r.text[:300])
        pages[p] = r.text
    return pages


def _sign_in(client: TestClient, name: str) -> None:
    token = re.search(r'name="token" value="([0-9a-f]+)"', client.get("/login").text)
    assert token
    r = client.post(
        "/login", data={"name": name, "password": PASSWORD, "token": token.group(1)}, follow_redirects=False
    )
    assert r.status_code == 303, r.text


@pytest.fixture
def client(ctx: AppContext, worked: list[str]) -> TestClient:  # noqa: F811
    users = UserStore(ctx.es, hasher=CHEAP_HASHER)
    users.add("ja", Role.admin, PASSWORD, now=ctx.clock.now(), lang="ja")
    users.add("en", Role.admin, PASSWORD, now=ctx.clock.now(), lang="en")
    return TestClient(create_app(console_for(ctx)), base_url="http://testserver")


def test_japanese_console_pages_have_no_stray_english(ctx: AppContext, worked: list[str], client: TestClient) -> None:  # noqa: F811
    alerts = [a.id for a in AlertStore(ctx.es).search(size=50)]
    assert len(alerts) == 3
    with client:
        _sign_in(client, "ja")
        pages = _pages(client, alerts, worked)
    # detector ids stay as ids (in <code>, next to the title): what an operator types at `soc`
    detector_ids = {d.id for d in load_detectors(REPO / "detectors")}
    # step and option ids likewise (in <code>, next to their titles); "soc" is the system's own actor
    playbook_ids = {
        x
        for p in load_playbooks(REPO / "playbooks")
        for s in p.steps
        for x in [s.id, *(o.id for o in getattr(s, "options", []))]
    } | {r.id for p in load_playbooks(REPO / "playbooks") for r in p.roles}  # role ids, after the role's name
    names = NAMES | CONSOLE | set(worked) | detector_ids | playbook_ids | {"soc"}
    names |= NOTE_TERMS  # products and tools the detector notes name (the notes are Japanese now)
    for path, html in pages.items():
        html = re.sub(r"<code>[^<]*</code>", "", html)  # a YAML key or value the note tells the operator to set
        html = html.replace("（soc report incident）", "")  # a playbook's instructions name the command
        stray = latin_words(html, names)
        assert not stray, f"{path}: English on a Japanese page: {stray}"
        assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", visible(html)), f"{path}: an ISO time"
    first = visible(pages[f"/incidents/{worked[0]}"])
    # the lead and the audit trail in the reports' words: the tier by name, reasons and deadlines in words
    assert "リスクスコア70によりP2" in first and "risk score" not in first
    assert "対応の階層：CSIRT責任者 → CISO（副市長）" in first
    assert "CISO（副市長）へエスカレーション：攻撃元の遮断（手順が期限を超過した）" in first
    assert "期限の11月23日（月）13時00分を過ぎた" in first
    assert "判断：標的アカウントへのログイン成功の有無の確認 = あり" in first
    abroad = next(visible(h) for p, h in pages.items() if p.startswith("/alerts/") and "t.ito" in h)
    assert "接続元の国 中国" in abroad and "アカウント t.ito" in abroad
    assert "インターネット（庁外）" in abroad


def test_english_console_pages_read_well(ctx: AppContext, worked: list[str], client: TestClient) -> None:  # noqa: F811
    alerts = [a.id for a in AlertStore(ctx.es).search(size=50)]
    with client:
        _sign_in(client, "en")
        pages = {p: visible(_without_rationale(h)) for p, h in _pages(client, alerts, worked).items()}
    for path, text in pages.items():
        assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", text), f"{path}: an ISO time"
        assert "source.geo.country_iso_code" not in text and "user.name=" not in text, path
    first = pages[f"/incidents/{worked[0]}"]
    assert "risk score 70 -> P2" not in first and "P2 (" in first
    assert "Tier: CSIRT lead → CISO (deputy mayor)" in first
    assert re.search(r"deadline \w{3} 23 Nov 13:00 passed", first), "the deadline as people write it"
    abroad = next(t for p, t in pages.items() if p.startswith("/alerts/") and "t.ito" in t)
    assert "VPN logon from a new country CN for t.ito" in abroad  # the detector's own sentence, as the report shows
    assert "China" in abroad and "external" not in abroad
