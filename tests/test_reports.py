"""The CISO report: both languages complete, every section, hostile strings inert."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from soc.alerts.models import Alert
from soc.alerts.store import AlertStore
from soc.context import AppContext
from soc.es.indices import alerts_index, ensure_ready
from soc.incidents.models import Incident
from soc.incidents.service import escalate
from soc.playbooks.loader import load_playbooks
from soc.reports.batch import write_incident_report
from soc.reports.i18n import LANGS, catalog
from soc.reports.incident import build_from
from soc.reports.render import environment, md_escape, render_incident
from soc.vocab import Bilingual
from tests.test_incidents import make_alert

REPO = Path(__file__).resolve().parent.parent
HOSTILE_USER = "<script>alert(1)</script>"
HOSTILE_LINK = "[click](javascript:alert(2))"


def test_catalogues_have_the_same_keys_and_no_empty_text() -> None:
    en, ja = catalog("en"), catalog("ja")
    assert set(en) == set(ja), set(en) ^ set(ja)
    assert all(v.strip() for v in [*en.values(), *ja.values()])
    assert not set(en) & set(dir(dict)), "a key that is a dict method name cannot be used as r.t.<key>"


def test_every_status_severity_phase_and_segment_is_translated() -> None:
    from soc.incidents.models import IncidentStatus, StepStatus
    from soc.playbooks.models import Phase
    from soc.vocab import Segment, Severity

    for lang in LANGS:
        keys = set(catalog(lang))
        assert {f"status_{s.value}" for s in IncidentStatus} <= keys
        assert {f"severity_{s.value}" for s in Severity} <= keys
        assert {f"step_{s.value}" for s in StepStatus} <= keys
        assert {f"phase_{p.value}" for p in Phase} <= keys
        assert {f"segment_{s.value}" for s in Segment} <= keys


@pytest.fixture
def incident_id(ctx: AppContext) -> str:
    ensure_ready(ctx.es)
    alerts = [
        make_alert("failed-login-burst", {"user.name": HOSTILE_USER, "source.ip": "203.0.113.66"}),
        make_alert("password-spray", {"source.ip": "203.0.113.66"}, minutes=20),
    ]
    for a in alerts:
        ctx.es.create(alerts_index(ctx.es), a.id, a.to_doc(), refresh=True)
    result = escalate(ctx, alerts, playbooks=load_playbooks(REPO / "playbooks"))
    for a_id, i_id in result.assignments.items():
        AlertStore(ctx.es).set_incident(a_id, i_id, now=datetime.now(UTC))
    return result.opened[0]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("fmt", ["html", "md"])
def test_report_renders_every_section(ctx: AppContext, incident_id: str, tmp_path: Path, lang: str, fmt: str) -> None:
    text = write_incident_report(ctx, incident_id, lang=lang, fmt=fmt, out_dir=tmp_path).read_text()
    t = catalog(lang)
    for key in (
        "bottom_line", "decisions_requested", "priority_section", "impact", "response_status", "timeline",
        "obligations", "cause", "next_steps", "needs", "appendix", "evidence",
    ):  # fmt: skip
        assert md_escape(t[key]) in text or t[key] in text, key
    assert incident_id in text
    assert "203.0.113.66" in text
    assert "T1110" in text
    if lang == "ja":
        assert "CISO向けインシデント報告書" in text and "推奨" in text and "不正ログイン試行" in text
        assert "Unauthorised login" not in text
    assert "<script>" not in text
    # the decision table shows the playbook's cost and resident impact, not "not stated"
    cost = "72時間の重点監視：職員約12時間" if lang == "ja" else "SOC monitoring for 72 hours: about 12 staff hours"
    assert cost in text and t["not_stated"] not in text


def test_hostile_strings_are_inert_in_html(ctx: AppContext, incident_id: str, tmp_path: Path) -> None:
    html = write_incident_report(ctx, incident_id, lang="en", fmt="html", out_dir=tmp_path).read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html


def test_markdown_escaping_neutralises_html_and_links() -> None:
    out = md_escape(HOSTILE_USER + " " + HOSTILE_LINK + "\n# heading")
    assert "<" not in out and ">" not in out
    assert "](" not in out and "\\[click\\]" in out
    assert "\n" not in out and "\\# heading" in out


def test_hostile_strings_are_inert_in_markdown(ctx: AppContext, incident_id: str, tmp_path: Path) -> None:
    md = write_incident_report(ctx, incident_id, lang="ja", fmt="md", out_dir=tmp_path).read_text()
    assert "<script>" not in md and "&lt;script&gt;" in md


def test_templates_are_package_data() -> None:
    names = {p.name for p in resources.files("soc.reports").joinpath("templates").iterdir()}
    assert {"incident.html.j2", "incident.md.j2"} <= names
    json.loads(resources.files("soc.reports").joinpath("catalogs", "ja.json").read_text(encoding="utf-8"))


def test_personal_data_deadlines_when_my_number_involved(ctx: AppContext, tmp_path: Path) -> None:
    ensure_ready(ctx.es)
    alert = make_alert("port-scan", {"source.ip": "10.10.1.4", "destination.ip": "10.10.0.11"}, segments=["mynumber"])
    ctx.es.create(alerts_index(ctx.es), alert.id, alert.to_doc(), refresh=True)
    inc = escalate(ctx, [alert], playbooks=[]).opened[0]
    html = write_incident_report(ctx, inc, lang="ja", fmt="html", out_dir=tmp_path).read_text()
    assert "個人情報保護委員会" in html and "マイナンバー利用事務系" in html
    assert catalog("ja")["deadline_starts_on_awareness"] in html


def _mynumber_incident(*, aware_at: datetime | None) -> tuple[Incident, Alert]:
    alert = make_alert("port-scan", {"source.ip": "10.10.1.4"}, segments=["mynumber"])
    alert = alert.model_copy(update={"title": "Port scan"})  # alert titles are English
    at = alert.created
    incident = Incident(
        id="INC-20261123-abcdef", title=Bilingual(en="Port scan: 10.10.1.4", ja="Port scan：10.10.1.4"),
        severity=alert.severity, risk_score=alert.risk_score, entities={"source.ip": ["10.10.1.4"]},
        entity_values=["10.10.1.4"], segments=["mynumber"], alert_ids=[alert.id], detectors=["port-scan"],
        detected_at=at, aware_at=aware_at, first_activity=alert.start, last_activity=alert.end, opened_at=at,
        updated_at=at, personal_data_possible=True,
    )  # fmt: skip
    return incident, alert


def test_ppc_deadlines_count_from_awareness() -> None:
    aware = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # 12:00 JST
    incident, alert = _mynumber_incident(aware_at=aware)
    report = build_from(
        incident, [alert], lang="ja", tz=ZoneInfo("Asia/Tokyo"), now=aware, detector_titles={}, playbook=None
    )
    preliminary, final = (d.due for d in report.deadlines)
    # from the obligation tracker's rules, dates as people write them; the year shows when it turns
    assert preliminary == "11月26日（木）12時00分 〜 11月28日（土）12時00分"
    assert "2026年12月23日（水）12時00分" in final and "2027年1月22日（金）12時00分" in final
    assert any(row.text == catalog("ja")["timeline_aware"] for row in report.timeline)


def test_ja_title_uses_the_japanese_detector_title_when_no_playbook() -> None:
    incident, alert = _mynumber_incident(aware_at=None)
    report = build_from(
        incident, [alert], lang="ja", tz=ZoneInfo("Asia/Tokyo"), now=incident.opened_at,
        detector_titles={"port-scan": "ポートスキャン"}, playbook=None,
    )  # fmt: skip
    assert report.title == "ポートスキャン：送信元アドレス 10.10.1.4"
    assert {d.due for d in report.deadlines} == {catalog("ja")["deadline_starts_on_awareness"]}


@pytest.mark.parametrize(
    "value",
    [
        "- rm -rf /", "+ 1", "1. first", "3) third", "see http://evil.example/x", "www.evil.example now",
        "---", "===", " - - -", "k.nakajima@city.example.lg.jp", "mailto:x@evil.example", "HTTPS://evil.example",
    ],
)  # fmt: skip
def test_markdown_escaping_keeps_list_markers_and_bare_urls_from_logs_inert(value: str) -> None:
    markdown_it = pytest.importorskip("markdown_it")
    escaped = md_escape(value)
    for doc in (f"{escaped}\n", f"前の行\n{escaped}\n", f"| a |\n|---|\n| {escaped} |\n"):
        html = markdown_it.MarkdownIt("commonmark").enable("table").render(doc)
        assert "<li>" not in html and "<a " not in html and "<h" not in html and "<hr" not in html, (doc, html)
    html = markdown_it.MarkdownIt("commonmark").render(f"{escaped}\n")
    assert html.startswith("<p>")
    # no autolink either (GitHub and GitLab link bare URLs, www. and e-mail addresses)
    assert not re.search(r"(?i)https?://|www\.|\w@[\w-]+\.", escaped), escaped


def test_markdown_escaping_leaves_ordinary_numbers_alone() -> None:
    assert md_escape("2.50") == "2.50" and md_escape("-5") == "-5" and md_escape("11月23日") == "11月23日"


def test_a_title_names_the_account_in_words_and_never_ends_empty() -> None:
    incident, alert = _mynumber_incident(aware_at=None)
    named = incident.model_copy(update={"entities": {"source.ip": ["10.10.1.4"], "user.name": ["k.mori"]}})
    bare = incident.model_copy(update={"entities": {}})
    cases = (
        ("ja", "ポートスキャン：アカウント k.mori（送信元アドレス 10.10.1.4）", "ポートスキャン"),
        ("en", "Port scan: account k.mori (source address 10.10.1.4)", "Port scan"),
    )
    for lang, account, nothing in cases:
        titles = {"port-scan": "ポートスキャン" if lang == "ja" else "Port scan"}
        build = [build_from(i, [alert], lang=lang, tz=ZoneInfo("Asia/Tokyo"), now=i.opened_at,
                            detector_titles=titles, playbook=None) for i in (named, bare)]  # fmt: skip
        assert [r.title for r in build] == [account, nothing]


def test_bidi_overrides_and_controls_from_logs_are_shown_not_obeyed(ctx: AppContext, tmp_path: Path) -> None:
    ensure_ready(ctx.es)
    sneaky = "admin\u202egnp.exe\x1b[31m"
    alert = make_alert("failed-login-burst", {"user.name": sneaky, "source.ip": "203.0.113.9"})
    ctx.es.create(alerts_index(ctx.es), alert.id, alert.to_doc(), refresh=True)
    inc = escalate(ctx, [alert], playbooks=load_playbooks(REPO / "playbooks")).opened[0]
    for fmt in ("html", "md"):
        for lang in LANGS:
            text = write_incident_report(ctx, inc, lang=lang, fmt=fmt, out_dir=tmp_path).read_text()
            assert "\u202e" not in text and "\x1b" not in text, (fmt, lang)
            assert "u202egnp.exe" in text


def test_times_and_their_label_follow_the_configured_timezone() -> None:
    incident, alert = _mynumber_incident(aware_at=None)
    for tz, label, first in ((ZoneInfo("Asia/Tokyo"), "日本時間", "11月23日（月）10時00分"),
                             (ZoneInfo("UTC"), "協定世界時", "11月23日（月）1時00分")):  # fmt: skip
        r = build_from(incident, [alert], lang="ja", tz=tz, now=incident.opened_at, detector_titles={}, playbook=None)
        assert r.zone == label and r.conclusion.lead[0].startswith(first)
        assert label in render_incident(r, "html")


def test_every_country_code_is_named_in_both_languages() -> None:
    """A country outside the usual list is named from ISO 3166 (with its Japanese name),
    never hidden behind 「その他の国」; a code that is no country says so."""
    from soc.incidents.naming import value_text

    field = "source.geo.country_iso_code"
    japanese = ["中国", "メキシコ", "エジプト", "ナイジェリア"]
    assert [value_text(field, c, "ja") for c in ("CN", "MX", "EG", "ng")] == japanese
    assert [value_text(field, c, "en") for c in ("CN", "MX", "EG", "ng")] == ["China", "Mexico", "Egypt", "Nigeria"]
    assert value_text(field, "ZZ", "ja") == "不明な国" and value_text(field, "ZZ", "en") == "ZZ"


def test_english_counts_read_as_english() -> None:
    """「1 alert(s)」 is system output: a count in an English sentence takes its noun's
    number (and the verb after it), and a value from a log is never changed."""
    from soc.reports.i18n import Translator

    t = Translator("en")
    one = t("concl_detected", first="a", last="b", what="3 file(s) are", target="x", alerts=1, events=40)
    assert one.endswith("(1 alert, 40 events).") and "“3 file(s) are”" in one
    assert t("narr_untriaged", n=1) == "1 alert is not yet triaged."
    assert t("narr_untriaged", n=2) == "2 alerts are not yet triaged."
    assert t("concl_evidence", n=1).startswith("1 piece of evidence")
    assert "(s)" in Translator("en")._catalog["concl_evidence"]  # the catalogue keeps one form for both


def test_the_html_title_holds_no_markup(ctx: AppContext, incident_id: str, tmp_path: Path) -> None:
    """The browser shows a ``<title>`` as text: break opportunities (``<wbr>``) or tags
    there would appear literally in the tab."""
    page = environment().from_string("<title>{{ v | plain }}</title><p>{{ v }}</p>")
    out = page.render(v="a" * 70 + "\u202e<b>")
    title, body = out.split("</title>")
    assert "<wbr>" in body and "<wbr>" not in title
    assert title == "<title>" + "a" * 70 + "\\u202e&lt;b&gt;"
    for lang in LANGS:
        html = write_incident_report(ctx, incident_id, lang=lang, fmt="html", out_dir=tmp_path).read_text()
        shown = html.split("<title>", 1)[1].split("</title>", 1)[0]
        assert "<" not in shown and incident_id in shown
