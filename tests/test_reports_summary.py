"""The periodic SOC summary, the SVG charts and PDF output, against the real node."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from soc.alerts.models import Alert
from soc.clock import ManualClock
from soc.context import AppContext
from soc.detection.state import RunState, RunStateStore
from soc.es.indices import alerts_index, ensure_ready, event_index
from soc.incidents.models import EscalationEvent, Incident, IncidentStatus, StepStatus
from soc.incidents.service import escalate
from soc.incidents.store import IncidentStore
from soc.playbooks.loader import load_playbooks
from soc.reports import charts
from soc.reports.batch import write_incident_reports, write_summary_report
from soc.reports.i18n import LANGS, catalog
from soc.reports.models import SummaryReport
from soc.reports.queries import days_between
from soc.reports.render import environment, render, svg
from soc.reports.service import build_incident_report, build_summary_report
from soc.reports.summary import VOLUME_TABLE_ROWS, build_summary_from
from soc.vocab import Bilingual, iso
from tests.test_incidents import make_alert

REPO = Path(__file__).resolve().parent.parent
JST = ZoneInfo("Asia/Tokyo")
HOSTILE = "<script>alert(1)</script>"
HOSTILE_LINK = "[x](javascript:alert(2))"
HOSTILE_IMG = '<img src=x onerror="alert(3)">'
T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 10:00 JST
PERIOD = (datetime(2026, 11, 22, 15, 0, tzinfo=UTC), datetime(2026, 11, 24, 15, 0, tzinfo=UTC))  # 23-24 Nov JST
SVG = "{http://www.w3.org/2000/svg}"

needs_pdftotext = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")


# -- catalogues ----------------------------------------------------------------
def _keys_used() -> set[str]:
    """Every catalogue key the templates and the builders name literally."""
    used: set[str] = set()
    for path in (REPO / "soc" / "reports" / "templates").glob("*.j2"):
        used |= set(re.findall(r"r\.t\.(\w+)", path.read_text(encoding="utf-8")))
    for path in (REPO / "soc" / "reports").glob("*.py"):
        used |= set(re.findall(r"\bt\(\"(\w+)\"", path.read_text(encoding="utf-8")))
    return used


def test_both_catalogues_have_every_key_used() -> None:
    used = _keys_used()
    assert len(used) > 80
    for lang in LANGS:
        missing = sorted(used - set(catalog(lang)))
        assert not missing, f"{lang}.json lacks {missing}"
    en, ja = catalog("en"), catalog("ja")
    assert set(en) == set(ja), sorted(set(en) ^ set(ja))
    for key in en:  # the same placeholders in both languages
        assert set(re.findall(r"{(\w+)", en[key])) == set(re.findall(r"{(\w+)", ja[key])), key


# -- charts ----------------------------------------------------------------------
def _parse(markup: str) -> ET.Element:
    root = ET.fromstring(str(markup))  # well-formed XML or this raises
    assert root.tag == f"{SVG}svg"
    return root


def _texts(root: ET.Element) -> str:
    return " ".join("".join(e.itertext()) for e in root.iter() if e.tag in (f"{SVG}text", f"{SVG}title"))


def test_charts_are_valid_svg_and_escape_labels() -> None:
    hostile = f"{HOSTILE} & {HOSTILE_IMG} ]]> </svg>"
    made = [
        charts.hbar_chart([(hostile, 5), ("user.name=田中", 2)], title=hostile, uid="a"),
        charts.stacked_bar_chart(
            [(hostile, [1, 2, 3, 4]), ("b", [0, 0, 7, 0])], series=["Low", "Med", hostile, "Crit"], title="t", uid="b"
        ),
        charts.line_chart(["11-23", "11-24"], [(hostile, [3, 1]), ("Incidents", [1, 0])], title="trend", uid="c"),
    ]
    for markup in made:
        assert "<script" not in markup and "<img" not in markup and "</svg>" not in markup[:-6]
        root = _parse(markup)
        assert HOSTILE in _texts(root)  # shown as text, inert
        assert not [e for e in root.iter() if e.tag in (f"{SVG}script", f"{SVG}foreignObject")]
        assert not any(k.startswith("on") for e in root.iter() for k in e.attrib)


def test_charts_say_no_data_and_label_every_value() -> None:
    empty = _parse(charts.hbar_chart([], title="Alerts", uid="e", empty="データなし"))
    assert "データなし" in _texts(empty)
    assert "データなし" in _texts(_parse(charts.line_chart([], [], title="t", empty="データなし")))
    bars = _parse(charts.hbar_chart([("a", 12), ("b", 3)], title="t"))
    assert {"12", "3"} <= set(_texts(bars).split())
    stacked = _parse(charts.stacked_bar_chart([("d", [0, 30, 0, 10])], series=["L", "M", "H", "C"], title="t"))
    words = _texts(stacked).split()
    assert "30" in words and "40" in words  # a segment and the total, written on the chart
    patterns = stacked.findall(f".//{SVG}pattern")
    assert len(patterns) == 4  # series told apart by pattern, not by colour alone
    line = _parse(charts.line_chart(["1", "2", "3"], [("A", [1, 2, 3]), ("B", [3, 2, 1])], title="t"))
    dashes = {e.get("stroke-dasharray") for e in line.iter(f"{SVG}polyline")}
    assert len(dashes) == 2


def test_nice_ticks() -> None:
    assert charts.nice_ticks(0) == [0.0, 1.0]
    assert charts.nice_ticks(7) == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert charts.nice_ticks(100)[-1] >= 100


# -- the hand-built case -----------------------------------------------------------
def _put_alert(ctx: AppContext, alert: Alert, **triage: str) -> None:
    doc = alert.to_doc()
    doc["soc"]["alert"].update(triage)  # triage as the CSIRT workflow will write it
    if "status" in triage and triage["status"] == "":
        del doc["soc"]["alert"]["status"]  # an alert written before triage existed
    ctx.es.create(alerts_index(ctx.es), alert.id, doc, refresh=True)


def _events(ctx: AppContext) -> None:
    """auth: both days; vpn: only on the 23rd (a gap on the 24th)."""
    docs = []
    for n, (dataset, at) in enumerate(
        [
            ("windows.security", T0),
            ("windows.security", T0 + timedelta(hours=1)),
            ("windows.security", T0 + timedelta(days=1)),
            ("vpn.gateway", T0 + timedelta(hours=2)),
        ]
    ):
        docs.append(
            {"@timestamp": iso(at), "event": {"id": f"e{n}", "dataset": dataset, "category": ["authentication"]}}
        )
    for i, d in enumerate(docs):
        ctx.es.create(event_index(ctx.es, "auth"), f"e{i}", d, refresh=True)


@pytest.fixture
def case(ctx: AppContext) -> AppContext:
    """Four alerts in the period (MTTD 10, 20, 30, 60 min = mean 30 min), one before it;
    two incidents opened in it (at the clock's now, the 24th), one acknowledged after
    60 min and closed 3 h after detection."""
    ensure_ready(ctx.es)
    ctx.clock = ManualClock(T0 + timedelta(days=1, hours=5))

    def alert(detector: str, entity: dict[str, str], *, severity: str, start: datetime, delay_min: int) -> Alert:
        a = make_alert(detector, entity, severity=severity)
        created = start + timedelta(minutes=delay_min)
        return a.model_copy(update={"start": start, "end": start + timedelta(minutes=5), "created": created,
                                    "updated": created, "count": 10})  # fmt: skip

    attacker = {"source.ip": "203.0.113.66", "user.name": HOSTILE}
    a1 = alert("failed-login-burst", attacker, severity="high", start=T0, delay_min=10)
    a2 = alert("password-spray", {"source.ip": "203.0.113.66"}, severity="critical", start=T0, delay_min=20)
    a3 = alert("port-scan", {"source.ip": "10.0.0.9"}, severity="low", start=T0 + timedelta(days=1), delay_min=30)
    a4 = alert("port-scan", {"source.ip": "10.0.0.8"}, severity="low", start=T0 + timedelta(days=1), delay_min=60)
    before = alert("port-scan", {"source.ip": "10.0.0.7"}, severity="low", start=T0 - timedelta(days=3), delay_min=5)
    _put_alert(ctx, a1, status="acknowledged")
    _put_alert(ctx, a2, status="")
    _put_alert(ctx, a3, status="closed", close_reason="false_positive")
    _put_alert(ctx, a4, status="closed", close_reason="true_positive")
    _put_alert(ctx, before, status="closed", close_reason="benign")

    result = escalate(ctx, [a1, a2], playbooks=load_playbooks(REPO / "playbooks"))
    store = IncidentStore(ctx.es)
    (inc_id,) = result.opened
    incident, seq, term = store.get_versioned(inc_id)
    detected = incident.detected_at
    done = incident.model_copy(
        update={"aware_at": detected + timedelta(minutes=60), "status": IncidentStatus.closed,
                "updated_at": detected + timedelta(hours=3)}
    )  # fmt: skip
    store.save(done, seq_no=seq, primary_term=term)
    other = make_alert("port-scan", {"source.ip": "198.51.100.9"}, severity="high", minutes=60 * 24)
    escalate(ctx, [other], playbooks=[])
    _events(ctx)
    return ctx


def test_summary_figures_on_a_hand_checked_case(case: AppContext) -> None:
    r = build_summary_report(case, start=PERIOD[0], end=PERIOD[1], lang="en")
    assert r.alerts_total == 4 and r.events_total == 40
    by = {d.detector: (d.by_severity, d.alerts) for d in r.detectors}
    titles = {d.detector for d in r.detectors}
    assert len(titles) == 3
    scans = next(v for k, v in by.items() if "scan" in k.lower())
    assert scans == ([2, 0, 0, 0], 2)
    assert r.severity_totals == [2, 0, 1, 1]
    tr = r.triage
    assert (tr.untriaged, tr.acknowledged, tr.closed) == (1, 1, 2)
    assert (tr.true_positive, tr.false_positive, tr.benign, tr.closed_without_reason) == (1, 1, 0, 0)
    assert tr.tp_rate == "50.0%" and tr.fp_rate == "50.0%"
    assert (r.incidents.opened, r.incidents.closed, r.incidents.open_at_end) == (2, 1, 1)
    assert r.incidents.opened_by_severity == [0, 0, 1, 1]
    mttd, mtta, mttr = r.kpis
    assert mttd.value == "30 min" and mttd.basis == "4 cases"
    assert mtta.value == "about 1 hour" and mtta.basis == "1 case"
    assert mttr.value == "about 3 hours" and mttr.basis == "1 case"
    assert len(r.top_entities) == 4 and all(e.alerts == 1 and e.events == 10 for e in r.top_entities)
    assert f"account {HOSTILE}, source address 203.0.113.66" in {e.entity for e in r.top_entities}
    assert r.health.datasets == ["VPN gateway log", "Windows security log"]
    assert [row.day for row in r.health.rows] == ["Mon 23 Nov", "Tue 24 Nov"]
    assert [row.counts for row in r.health.rows] == [[1, 2], [0, 1]]
    assert r.health.gaps == ["VPN gateway log (Tue 24 Nov)"]
    # the first page says it in words: what happened, the trend, what needs attention
    assert r.narrative[0] == (
        "In this period soc raised 4 alerts (40 related events); 2 incidents were opened and 1 closed."
        " 1 remain open at the end."
    )
    assert r.narrative[1].startswith("Against the previous period of the same length, alerts went from 0 to 4 (up 4)")
    assert (
        "1 alert is not yet triaged." in r.attention and "Some logs did not arrive: VPN gateway log" in r.attention[-2]
    )
    assert r.trend_as_table and [(x.alerts, x.incidents) for x in r.trend_rows] == [(2, 0), (2, 2)]
    assert r.period == "Mon 23 Nov – Tue 24 Nov 2026"
    assert r.trend_chart.series[0][1] == [2, 2] and r.trend_chart.series[1][1] == [0, 2]


def test_summary_with_no_data_says_so(ctx: AppContext, tmp_path: Path) -> None:
    far = (datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 8, tzinfo=UTC))
    for lang in LANGS:
        t = catalog(lang)
        (html, md) = write_summary_report(ctx, start=far[0], end=far[1], out_dir=tmp_path, langs=[lang],
                                          formats=["html", "md"])  # fmt: skip
        text = html.read_text()
        for key in ("no_alerts", "no_incidents", "no_events"):
            assert t[key] in text, key
        assert t["no_data_short"] in text
        assert t["no_alerts"] in md.read_text()


@pytest.mark.parametrize("lang", LANGS)
def test_summary_html_and_markdown_keep_hostile_strings_inert(ops: AppContext, tmp_path: Path, lang: str) -> None:
    html_path, md_path = write_summary_report(
        ops, start=PERIOD[0], end=PERIOD[1], out_dir=tmp_path, langs=[lang], formats=["html", "md"]
    )
    html, md = html_path.read_text(), md_path.read_text()
    assert html_path.name == f"summary-20261123-20261124.{lang}.html"
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<svg") == 2  # volume, entities: a 2-day trend is a table, not a line
    for block in re.findall(r"<svg.*?</svg>", html, flags=re.S):
        ET.fromstring(block)
    assert "<script" not in md and "&lt;script&gt;" in md
    assert catalog(lang)["summary_title"] in html
    assert "203.0.113.66" in md
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    # an incident title; a detector's last error (English only: Japanese names its kind in words)
    sections = ("sla", "detector-health") if lang == "en" else ("sla",)
    for section in sections:
        found = re.search(rf'<section id="{section}">.*?</section>', html, flags=re.S)
        assert found and escaped in found.group(0), section
    for key in ("sla_section", "det_section")[: len(sections)]:
        tail = md.split(catalog(lang)[key], 1)[1]
        assert "&lt;script&gt;" in tail.split("\n## ", 1)[0], key


def test_markdown_neutralises_links_and_raw_html_from_logs() -> None:
    r = _summary_with_entity(HOSTILE_LINK + " " + HOSTILE_IMG + "\n| x |")
    md = render("summary", r, "md")
    assert "](javascript" not in md and "\\[x\\]\\(javascript" in md
    assert "<img" not in md and "&lt;img" in md
    assert "\n| x |" not in md
    html = render("summary", r, "html")
    assert "<img" not in html and "&lt;img" in html
    assert 'href="javascript' not in html


def _summary_with_entity(entity: str) -> SummaryReport:

    alerts = {
        "hits": {"total": {"value": 1}},
        "aggregations": {
            "entities": {"buckets": [{"key": f"user.name={entity}", "doc_count": 1, "events": {"value": 3}}]},
            "by_detector": {"buckets": [{"key": entity, "doc_count": 1, "severity": {"buckets": []}}]},
        },
    }
    return build_summary_from(
        alerts, {}, [], start=PERIOD[0], end=PERIOD[1], lang="en", tz=JST, now=PERIOD[1], detector_titles={}
    )


# -- SLA breaches, detector changes and health -----------------------------------------
def _escalation(incident: Incident, kind: str, subject: str, *, deadline: datetime, at: datetime,
                to_role: str) -> EscalationEvent:  # fmt: skip
    return EscalationEvent(
        id=f"{incident.id}:{kind}:{subject}", incident_id=incident.id, kind=kind, subject=subject, to_role=to_role,
        from_role="soc-operator", priority=incident.priority, deadline=deadline, at=at,
        message=Bilingual(en="late", ja="遅延"),
    )  # fmt: skip


@pytest.fixture
def ops(case: AppContext) -> AppContext:
    """On top of ``case``: the open incident's acknowledgement was 40 min late; the closed
    one acknowledged in time, but its first step was done 2 h after its deadline (plus an
    escalation raised before the period, not listed). Three run states: failed-login-burst
    changed v1 -> v2 in the period; port-scan failing (hostile error), changed before the
    period, with truncated results; password-spray changed after the period."""
    store = IncidentStore(case.es)
    for incident in store.list():
        incident, seq, term = store.get_versioned(incident.id)
        if incident.status is IncidentStatus.closed:
            step = incident.steps[0]
            due = T0 + timedelta(hours=2)
            steps = [step.model_copy(update={"due_at": due, "done_at": due + timedelta(hours=2),
                                             "status": StepStatus.done}), *incident.steps[1:]]  # fmt: skip
            update = {
                "ack_due_at": incident.opened_at + timedelta(minutes=15),
                "acknowledged_at": incident.opened_at + timedelta(minutes=10),
                "steps": steps,
                "escalations": [
                    _escalation(
                        incident,
                        "step-breached",
                        step.step_id,
                        deadline=due,
                        at=due + timedelta(minutes=1),
                        to_role="ciso",
                    ),
                    _escalation(
                        incident,
                        "step-ack-overdue",
                        step.step_id,
                        deadline=PERIOD[0] - timedelta(hours=2),
                        at=PERIOD[0] - timedelta(hours=1),
                        to_role="csirt-lead",
                    ),
                ],
            }
        else:
            due = incident.opened_at + timedelta(minutes=30)
            update = {
                # named in the title the summary shows (「…：アカウント <script>…」)
                "entities": {**incident.entities, "user.name": [HOSTILE]},
                "ack_due_at": due,
                "acknowledged_at": due + timedelta(minutes=40),
                "escalations": [
                    _escalation(
                        incident,
                        "incident-ack-overdue",
                        "incident",
                        deadline=due,
                        at=due + timedelta(minutes=1),
                        to_role="csirt-lead",
                    ),
                ],
            }
        store.save(incident.model_copy(update=update), seq_no=seq, primary_term=term)
    states = RunStateStore(case.es)
    states.save(RunState(detector="failed-login-burst", definition_version=2, previous_version=1,
                         definition_hash="b", definition_changed_at=T0 + timedelta(hours=3), runs=40,
                         last_run=T0 + timedelta(hours=4)))  # fmt: skip
    states.save(RunState(detector="port-scan", definition_version=3, previous_version=2, definition_hash="c",
                         definition_changed_at=PERIOD[0] - timedelta(days=2), runs=12, last_run=T0,
                         consecutive_failures=3, last_error=f"{HOSTILE}\n" + "x" * 400,
                         truncated_total=4, last_truncated=1))  # fmt: skip
    states.save(RunState(detector="password-spray", definition_version=5, previous_version=4, definition_hash="d",
                         definition_changed_at=PERIOD[1] + timedelta(hours=1), runs=3, last_run=PERIOD[1]))  # fmt: skip
    case.es.client.indices.refresh(index=f"{case.settings.index_prefix}-*")
    return case


def test_summary_lists_exactly_the_sla_breaches_with_their_lateness(ops: AppContext) -> None:
    r = build_summary_report(ops, start=PERIOD[0], end=PERIOD[1], lang="en")
    sla = r.sla
    assert sla.total == 2
    assert [(b.kind, b.late_by, b.escalated_to, b.outstanding) for b in sla.breaches] == [
        ("Step past its deadline", "about 2 hours", "CISO (deputy mayor)", False),
        ("Incident not acknowledged in time", "40 min", "CSIRT lead", False),
    ]
    step_row, ack_row = sla.breaches
    assert step_row.what.startswith("Step “") and step_row.deadline == "Mon 23 Nov 12:00"
    assert ack_row.what == "Acknowledgement of the incident" and HOSTILE in ack_row.incident
    assert {(c.label, c.count) for c in sla.by_kind} == {
        ("Step past its deadline", 1), ("Incident not acknowledged in time", 1),
    }  # fmt: skip
    assert {(c.label, c.count) for c in sla.by_role} == {("CISO (deputy mayor)", 1), ("CSIRT lead", 1)}
    assert (sla.ack_on_time, sla.ack_basis) == (1, 2) and sla.ack_share == "1 of 2 (50.0%)"
    ja = build_summary_report(ops, start=PERIOD[0], end=PERIOD[1], lang="ja").sla
    assert [b.late_by for b in ja.breaches] == ["約2時間", "40分"]
    # each incident named in the report's language: its playbook's name, or (no playbook) its
    # detector's title — never the English alert title the incident stored in both languages
    assert step_row.incident.startswith("Unauthorised login")
    assert ack_row.incident == f"Port scan of one host from one source: account {HOSTILE} (source address 198.51.100.9)"
    assert ja.breaches[0].incident.startswith("不正ログイン試行")
    assert (
        ja.breaches[1].incident
        == f"単一送信元から単一ホストへのポートスキャン：アカウント {HOSTILE}（送信元アドレス 198.51.100.9）"
    )
    assert ja.ack_share == "2件中1件（50.0%）"


def test_summary_lists_detector_changes_failures_and_truncation(ops: AppContext) -> None:
    r = build_summary_report(ops, start=PERIOD[0], end=PERIOD[1], lang="en")
    h = r.detector_health
    assert h.recorded == 3
    (change,) = h.changes  # port-scan changed before the period, password-spray after it
    assert "login" in change.detector.lower() and (change.before, change.after) == ("v1", "v2")
    assert change.changed_at == "Mon 23 Nov 13:00" and change.note == ""
    (failing,) = h.failing
    assert "scan" in failing.detector.lower() and failing.failures == 3
    assert failing.error.startswith(HOSTILE + " xxx") and failing.error.endswith("…") and len(failing.error) == 160
    assert [(x.total, x.last) for x in h.truncated] == [(4, 1)]
    assert h.never_run and not {change.detector, failing.detector} & set(h.never_run)


def test_summary_sla_and_detector_sections_say_when_empty(ctx: AppContext) -> None:
    far = (datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 8, tzinfo=UTC))
    for lang in LANGS:
        t = catalog(lang)
        r = build_summary_from(
            {}, {}, [], start=far[0], end=far[1], lang=lang, tz=JST, now=far[1], detector_titles={}
        )  # fmt: skip
        assert r.sla.total == 0 and r.detector_health.recorded == 0
        for fmt in ("html", "md"):
            text = render("summary", r, fmt)
            assert t["sla_none"].rstrip(".。") in text and t["det_none"].rstrip(".。") in text, (lang, fmt)


def test_svg_filter_is_registered_once_in_the_environment() -> None:
    env = environment()
    assert env.filters["svg"] is svg and env.autoescape is not False
    assert days_between(PERIOD[0], PERIOD[1], JST) == ["2026-11-23", "2026-11-24"]


# -- PDF ---------------------------------------------------------------------------
def _pdftotext(path: Path) -> str:
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, text=True)
    return out.stdout


@needs_pdftotext
def test_incident_pdf_has_the_japanese_title_and_the_attacker(case: AppContext, tmp_path: Path) -> None:
    incident = IncidentStore(case.es).list(status="closed")[0]
    paths = write_incident_reports(case, [incident.id], out_dir=tmp_path, langs=["ja", "en"], formats=["html", "pdf"])
    assert [p.name for p in paths] == [
        f"{incident.id}.{lang}.{fmt}" for lang in ("ja", "en") for fmt in ("html", "pdf")
    ]
    ja_pdf = paths[1]
    assert ja_pdf.read_bytes().startswith(b"%PDF-")
    text = _pdftotext(ja_pdf)
    assert "CISO向けインシデント報告書" in text
    assert "203.0.113.66" in text
    assert HOSTILE in text  # printed as text, never interpreted
    assert re.search(r"1\s*/\s*\d", text)  # page numbers in the footer
    fonts = subprocess.run(["pdffonts", str(ja_pdf)], capture_output=True, check=True, text=True).stdout
    assert "Noto-Sans-CJK-JP" in fonts and "Noto-Serif-CJK-JP" in fonts, fonts  # embedded, not a fallback
    title = build_incident_report(case, incident.id, "ja").title
    assert title.split("：")[0][:4] in text


@needs_pdftotext
def test_summary_pdf_renders_charts_and_japanese(ops: AppContext, tmp_path: Path) -> None:
    (pdf,) = write_summary_report(ops, start=PERIOD[0], end=PERIOD[1], out_dir=tmp_path, langs=["ja"], formats=["pdf"])
    text = _pdftotext(pdf)
    assert "SOC定期報告書" in text and "203.0.113.66" in text
    assert "対象別アラート件数" in text  # chart title, drawn from the inline SVG
    assert "VPN装置のログ" in text and "欠測" in text and "vpn.gateway" not in text
    flat = re.sub(r"\s+", "", text)  # table cells wrap
    assert "SLA超過とエスカレーション" in flat and "40分" in flat  # the new sections, printed
    assert "検知ルールの変更と稼働状況" in flat and "最後のエラー" in flat


def test_cli_writes_several_formats_and_languages(
    case: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from soc.cli.main import app

    for name, value in {
        "ES_URL": case.settings.es_url,
        "INDEX_PREFIX": case.settings.index_prefix,
        "DETECTORS_DIR": str(REPO / "detectors"),
        "PLAYBOOKS_DIR": str(REPO / "playbooks"),
    }.items():
        monkeypatch.setenv(f"SOC_{name}", value)  # fmt: skip
    monkeypatch.delenv("SOC_CONFIG", raising=False)
    runner = CliRunner()
    incident = IncidentStore(case.es).list(status="closed")[0]
    res = runner.invoke(app, ["report", "incident", incident.id, "--lang", "ja,en", "--format", "html,md",
                              "--out", str(tmp_path)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert {p.name for p in tmp_path.iterdir()} == {f"{incident.id}.{lg}.{f}" for lg in LANGS for f in ("html", "md")}
    res = runner.invoke(app, ["report", "summary", "--from", "2026-11-23", "--to", "2026-11-24", "--lang", "en",
                              "--format", "md", "--out", str(tmp_path)])  # fmt: skip
    assert res.exit_code == 0, res.output
    md = (tmp_path / "summary-20261123-20261124.en.md").read_text()
    assert "| 30 min |" in md and "| 4 |" in md  # MTTD and the alert total
    bad = runner.invoke(app, ["report", "summary", "--format", "docx"])
    assert bad.exit_code != 0


def test_escalations_are_one_row_per_incident_and_kind_and_never_contradict(ops: AppContext) -> None:
    """Two breached steps of one incident are one row (count 2, the worst lateness); an
    incident escalated for a late acknowledgement is never counted as acknowledged on time."""
    incidents = IncidentStore(ops.es).list()
    opened = next(i for i in incidents if i.status is IncidentStatus.closed)
    steps = opened.steps[:2]
    extra = [
        _escalation(
            opened,
            "step-breached",
            s.step_id,
            deadline=T0 + timedelta(hours=n),
            at=T0 + timedelta(hours=5),
            to_role="ciso",
        )
        for n, s in enumerate(steps, start=1)
    ]
    # acknowledged before its deadline, yet escalated for it: the record says it was late
    ack_late = _escalation(opened, "incident-ack-overdue", "incident", deadline=T0, at=T0 + timedelta(hours=1),
                           to_role="csirt-lead")  # fmt: skip
    worked = opened.model_copy(
        update={
            "escalations": [ack_late, *extra],
            "acknowledged_at": opened.opened_at,
            "ack_due_at": T0 + timedelta(days=1),
        }
    )
    r = build_summary_from(
        {}, {}, [worked], start=PERIOD[0], end=PERIOD[1], lang="ja", tz=JST, now=PERIOD[1], detector_titles={}
    )
    rows = {(b.kind, b.count) for b in r.sla.breaches}
    assert ("手順の期限超過", 2) in rows and len(r.sla.breaches) == 2  # not one row per escalation
    breached = next(b for b in r.sla.breaches if b.count == 2)
    assert breached.deadline == "11月23日（月）11時00分"  # the earliest deadline
    assert r.sla.ack_on_time == 0 and r.sla.ack_basis == 1  # no 100 % next to an acknowledgement-delay row


def test_a_week_of_forty_detectors_and_silent_log_sources_stays_short() -> None:
    """A week: the volume table names the busiest detectors and folds the rest into one
    line (figures still adding up); each silent log source is one item with its silent
    days as spans; the day columns of the log table are short enough for a week."""
    week = (datetime(2026, 11, 22, 15, tzinfo=UTC), datetime(2026, 11, 29, 15, tzinfo=UTC))
    buckets = [
        {"key": f"det-{i:02d}", "doc_count": 40 - i, "events": {"value": 10 * (40 - i)},
         "severity": {"buckets": [{"key": "medium", "doc_count": 40 - i}]}}
        for i in range(40)
    ]  # fmt: skip
    severity = {"buckets": [{"key": "medium", "doc_count": 820}]}
    alerts = {
        "hits": {"total": {"value": 820}},
        "aggregations": {"by_detector": {"buckets": buckets}, "severity": severity},
    }
    days = [f"2026-11-{d}" for d in range(23, 30)]
    counts = {"auth": [0, 5, 5, 0, 0, 0, 9], "dns": [0, 0, 0, 0, 0, 0, 3]}  # silent spans
    events = {"hits": {"total": {"value": 27}}, "aggregations": {"dataset": {"buckets": [
        {"key": name, "per_day": {"buckets": [{"key_as_string": d, "doc_count": n}
                                              for d, n in zip(days, ns, strict=True)]}}
        for name, ns in counts.items()]}}}  # fmt: skip
    for lang in LANGS:
        r = build_summary_from(
            alerts, events, [], start=week[0], end=week[1], lang=lang, tz=JST, now=week[1], detector_titles={}
        )  # fmt: skip
        assert len(r.detectors) == VOLUME_TABLE_ROWS and r.detectors[0].detector == "det-00"
        assert r.detectors[-1].detector == catalog(lang)["volume_others"].format(n=40 - VOLUME_TABLE_ROWS + 1)
        assert sum(d.alerts for d in r.detectors) == r.alerts_total == 820
        assert sum(d.events for d in r.detectors) == sum(10 * (40 - i) for i in range(40))
        assert len(r.health.gaps) == 2, r.health.gaps  # one item per log source, not one per day
        assert any(r.health.gaps[0] in a and r.health.gaps[1] in a for a in r.attention)  # page 1 names both
        if lang == "ja":
            assert "11月23日（月）、11月26日（木）〜11月28日（土）" in r.health.gaps[0], r.health.gaps
            assert "11月23日（月）〜11月28日（土）" in r.health.gaps[1]
            assert [row.head for row in r.health.rows][:2] == ["11/23（月）", "11/24（火）"]
        text = render("summary", r, "html")
        assert text.count("<tr><td>det-") == VOLUME_TABLE_ROWS - 1
