"""A Japanese report is written in Japanese: no stray English, times as people write them.

Every incident-report and summary section is rendered in Japanese from incidents worked
on the real node (escalations, personal data, obligations, a skipped step, a foreign
country, detector figures) and the visible text is searched for Latin words. Only what
is a name, not a word, may stay in Latin letters: the incident and alert ids, IP
addresses, the host and account names of the record, ATT&CK ids, evidence references,
and the few terms Japanese government documents themselves write in Latin letters.
"""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from soc.alerts.store import AlertStore
from soc.clock import ManualClock
from soc.context import AppContext
from soc.es.indices import alerts_index, ensure_ready
from soc.incidents.store import IncidentStore
from soc.incidents.workflow import Workflow
from soc.playbooks.loader import load_playbooks
from soc.reports.batch import write_incident_report, write_summary_report
from soc.vocab import Bilingual
from tests.test_incidents import make_alert
from tests.test_reports_summary import PERIOD, case, ops  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parent.parent

# Terms Japanese municipal documents write in Latin letters (organisations, products,
# protocols), the priority labels, and the ATT&CK name.
GLOSSARY = {
    "CISO", "CSIRT", "SOC", "LGWAN", "DMZ", "VPN", "UTM", "MFA", "PC", "USB", "DNS", "HTTP", "HTTPS", "TLS",
    "Microsoft", "Entra", "ID", "Windows", "Active", "Directory", "Kerberos", "NTLM", "Zoom", "RDP", "SMB",
    "SSH", "ATT&CK", "P1", "P2", "P3", "P4", "IP", "UTC", "MTTD", "MTTA", "MTTR", "SLA", "OS", "C2", "ISP",
    "FortiGate", "Zeek", "Sysmon", "PowerShell", "J-LIS", "km", "Web", "SNI", "TXT", "NULL", "TXT/NULL", "PAM",
}  # fmt: skip
_ID = re.compile(
    r"^(INC-\d{8}-[0-9a-z]+|A-[0-9a-f]+|T\d{4}(\.\d{3})?|\d{1,3}(\.\d{1,3}){3}|[a-z]+://\S+|e\d+|[0-9a-f-]{8,})$"
)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9._:/&'@-]*[A-Za-z0-9]|[A-Za-z]")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skip += tag in ("style", "script", "title")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("style", "script", "title")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def latin_words(html: str, names: set[str]) -> list[str]:
    """Latin words in the visible text that are neither a name of the record nor a known term."""
    parser = _Text()
    parser.feed(html)
    text = "\n".join(parser.parts)
    return sorted(
        {w for w in _WORD.findall(text) if w not in GLOSSARY and w not in names and not _ID.match(w.rstrip("."))}
    )


@pytest.fixture
def worked(ctx: AppContext) -> list[str]:
    """Three incidents: one worked through decisions, escalations and reports; one from
    abroad with detector figures; one a person reported, with no playbook."""
    ensure_ready(ctx.es)
    ctx.clock = ManualClock(make_alert("x", {}).created + timedelta(hours=1))
    workflow = Workflow(ctx, playbooks=load_playbooks(REPO / "playbooks"))
    burst = make_alert("failed-login-burst", {"user.name": "k.mori", "source.ip": "203.0.113.66"})
    spray = make_alert("password-spray", {"source.ip": "203.0.113.66"}, minutes=20)
    abroad = make_alert("vpn-logon-abroad", {"user.name": "t.ito", "source.geo.country_iso_code": "CN"}, minutes=30)
    abroad = abroad.model_copy(
        update={
            "figures": {"new_term": {"source.geo.country_iso_code": "CN"}, "window_count": 3},
            "distinct_count": 2,
            "distinct_field": "source.ip",
            "reason": "VPN logon from a new country CN for t.ito",
        }
    )
    for a in (burst, spray, abroad):
        ctx.es.create(alerts_index(ctx.es), a.id, a.to_doc(), refresh=True)
    result = workflow.open_from_alerts([burst, spray, abroad])
    for a_id, i_id in result.assignments.items():
        AlertStore(ctx.es).set_incident(a_id, i_id, now=ctx.clock.now())
    first = result.assignments[burst.id]
    workflow.acknowledge(first, actor="k.sato")
    workflow.acknowledge(first, actor="k.sato", step_id="confirm-scope")
    workflow.complete_step(
        first, "confirm-scope", actor="k.sato", note="標的は1アカウント", evidence=["ticket://SOC-1"]
    )
    workflow.decide(first, "check-compromise", "compromised", actor="m.tanaka", comment="ログイン成功を確認")
    workflow.transition(first, "declared", actor="m.tanaka", reason="乗っ取りを確認")
    workflow.set_impact(first, actor="m.tanaka", reason="氏名を確認", personal_data_confirmed=True, malicious_act=True)
    workflow.skip_step(first, "contain-accounts", actor="m.tanaka", reason="既に無効化済み")
    assert isinstance(ctx.clock, ManualClock)
    ctx.clock.advance(timedelta(days=2))
    workflow.check_deadlines()  # escalations of every kind, overdue reports
    workflow.update_obligation(first, "prefecture", actor="m.tanaka", status="sent", reference="PREF-1")
    manual = workflow.open_manual(
        title=Bilingual(en="Misdelivered letter", ja="通知書の誤送付"),
        actor="clerk",
        playbook_id="personal-data-misdelivery",
        personal_data=True,
        segments=["mynumber"],
    )
    return [first, result.assignments[abroad.id], manual.id]


def test_japanese_incident_reports_have_no_stray_english(ctx: AppContext, worked: list[str], tmp_path: Path) -> None:
    names = {"k.mori", "t.ito", "k.sato", "m.tanaka", "clerk", "soc-deadlines", "PREF-1"}
    for incident_id in worked:
        html = write_incident_report(ctx, incident_id, lang="ja", fmt="html", out_dir=tmp_path).read_text()
        stray = latin_words(html, names | {incident_id})
        assert not stray, f"{incident_id}: English in the Japanese report: {stray}"
        assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", html), "an ISO time in the Japanese report"
        assert not re.search(r"<th>\s*</th>", html), "a blank label (an empty cell pair in the impact table)"
    first = write_incident_report(ctx, worked[0], lang="ja", fmt="html", out_dir=tmp_path).read_text()
    assert "個人情報の保護に関する法律 第68条" in first and "APPI" not in first
    abroad = write_incident_report(ctx, worked[1], lang="ja", fmt="html", out_dir=tmp_path).read_text()
    assert "接続元の国 中国" in abroad and "source.geo.country_iso_code" not in abroad


def test_japanese_summary_has_no_stray_english(ops: AppContext, tmp_path: Path) -> None:  # noqa: F811
    (html,) = write_summary_report(
        ops, start=PERIOD[0], end=PERIOD[1], out_dir=tmp_path, langs=["ja"], formats=["html"]
    )
    incidents = {i.id for i in IncidentStore(ops.es).list()}
    names = {"&lt;script&gt;alert(1)&lt;/script&gt;", "script", "alert"} | incidents  # a hostile user name
    stray = latin_words(html.read_text(), names)
    assert not stray, "English in the Japanese summary: " + " ".join(stray)


def test_the_latin_word_check_finds_english() -> None:
    html = "<p>状態：acknowledged、source.geo.country_iso_code CN、INC-20261123-abcdef、203.0.113.66、T1110</p>"
    assert latin_words(html, set()) == ["CN", "acknowledged", "source.geo.country_iso_code"]


# The figures each detector kind records on an alert (soc/detection/kinds/*), as stored.
KIND_FIGURES: dict[str, dict[str, object]] = {
    "spike": {
        "window_count": 220, "baseline_average": 0.5,
        "top_contributors": [{"source.ip": "45.183.238.148", "count": 40}, {"source.ip": "45.54.169.204", "count": 4}],
    },
    "volume": {"bytes": 2_400_250_378, "baseline_average_bytes": 1200},
    "beacon-cv": {"checkins": 100, "mean_interval_s": 60.0, "cv": 0.05},
    "beacon-mad": {"checkins": 31, "median_interval_s": 589.5, "mad_ratio": 0.1},
    "new_term": {"new_term": {"source.geo.country_iso_code": "NL"}},
    "sequence": {"before": 42, "then_at": "2026-11-28T21:58:29.000Z", "distinct_before": 24},
    "travel": {
        "distance_km": 9269, "speed_kmh": 13904,
        "from": {"lat": 35.861, "lon": 139.645, "at": "2026-11-28T21:58:29.000Z"},
        "to": {"lat": 52.37, "lon": 4.9, "at": "2026-11-28T22:38:29.000Z"},
    },
    "silence": {"last_event": "2026-11-29T08:27:00.000Z", "silent_minutes_at_detection": 62, "events_before": 446},
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(KIND_FIGURES))
def test_detector_figures_in_the_appendix_are_in_words(kind: str) -> None:
    """The appendix names every figure a detector kind records, in words, with times as
    people write them: never 「その他の数値」, a figure's key, a Python list or an ISO time."""
    from zoneinfo import ZoneInfo

    from soc.reports.i18n import Translator
    from soc.reports.sections import evidence_rows

    alert = make_alert("impossible-travel", {"user.name": "k.nakajima"})
    alert = alert.model_copy(update={"figures": KIND_FIGURES[kind]})
    tz = ZoneInfo("Asia/Tokyo")
    (ja,) = evidence_rows([alert], Translator("ja"), tz, lambda d: "移動不可能な2地点からのサインイン")
    (en,) = evidence_rows([alert], Translator("en"), tz, lambda d: "Impossible travel")
    shown_ja, shown_en = "\n".join(ja.figures), "\n".join(en.figures)
    assert len(ja.figures) == len(KIND_FIGURES[kind])
    assert "その他" not in shown_ja and "[{" not in shown_ja + shown_en and "'" not in shown_ja + shown_en
    assert not re.search(r"\d{4}-\d\d-\d\dT", shown_ja + shown_en)
    assert not latin_words(f"<p>{shown_ja}</p>", {"k.nakajima", "45.183.238.148", "45.54.169.204"})
    assert not any(k in shown_en for k in KIND_FIGURES[kind] if "_" in k), shown_en
    if kind == "travel":
        assert "移動元：緯度 35.86、経度 139.65、日時 11月29日（日）6時58分" in shown_ja
    if kind == "spike":
        top = "件数の多い送信元：送信元アドレス 45.183.238.148（40件）、送信元アドレス 45.54.169.204（4件）"
        assert top in shown_ja


def test_english_report_text_has_no_japanese_brackets() -> None:
    """The brackets around a close reason are the report language's (「（真陽性）」 / " (True positive)")."""
    from zoneinfo import ZoneInfo

    from soc.alerts.models import AlertStatus, CloseReason
    from soc.reports.i18n import Translator
    from soc.reports.sections import evidence_rows

    alert = make_alert("failed-login-burst", {"user.name": "k.mori"})
    alert = alert.model_copy(update={"status": AlertStatus.closed, "close_reason": CloseReason.true_positive})
    tz = ZoneInfo("Asia/Tokyo")
    (en,) = evidence_rows([alert], Translator("en"), tz, lambda d: d)
    (ja,) = evidence_rows([alert], Translator("ja"), tz, lambda d: d)
    assert en.status == "closed (True positive)" and ja.status.endswith("（真陽性）"), (en.status, ja.status)
