"""Numbered editions of the incident report and the decision-first sections, built from
an incident worked through the CSIRT workflow on the real node."""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from html import escape
from pathlib import Path

import pytest

from soc.alerts.store import AlertStore
from soc.clock import ManualClock
from soc.context import AppContext
from soc.es.indices import alerts_index, ensure_ready
from soc.incidents.store import IncidentStore
from soc.incidents.workflow import Workflow
from soc.playbooks.loader import load_playbooks
from soc.reports.batch import write_incident_report, write_incident_reports
from soc.reports.gather import gather_incident
from soc.reports.i18n import catalog
from soc.reports.incident import build_report
from soc.reports.models import IncidentReport
from soc.reports.service import issue_edition, load_definitions
from soc.reports.store import EditionStore
from tests.test_incidents import T0, make_alert

REPO = Path(__file__).resolve().parent.parent
ATTACKER = "203.0.113.66"
HOSTILE = "<script>alert(1)</script>[x](javascript:alert(2))"


@pytest.fixture
def workflow(ctx: AppContext) -> Workflow:
    ctx.clock = ManualClock(T0 + timedelta(hours=1))
    return Workflow(ctx, playbooks=load_playbooks(REPO / "playbooks"))


@pytest.fixture
def incident_id(ctx: AppContext, workflow: Workflow) -> str:
    ensure_ready(ctx.es)
    burst = make_alert("failed-login-burst", {"user.name": "k.mori", "source.ip": ATTACKER})
    burst = burst.model_copy(update={"reason": f"25 failures for {HOSTILE}", "figures": {"note": HOSTILE, "rate": 5}})
    spray = make_alert("password-spray", {"source.ip": ATTACKER}, minutes=20)
    for a in (burst, spray):
        ctx.es.create(alerts_index(ctx.es), a.id, a.to_doc(), refresh=True)
    result = workflow.open_from_alerts([burst, spray])
    for a_id, i_id in result.assignments.items():
        AlertStore(ctx.es).set_incident(a_id, i_id, now=ctx.clock.now())
    return result.opened[0]


def _report(ctx: AppContext, incident_id: str, lang: str = "ja", *, force: bool = False) -> IncidentReport:
    inputs = gather_incident(ctx, incident_id, load_definitions(ctx))
    edition = issue_edition(ctx, inputs, force=force)
    return build_report(inputs, edition=edition, lang=lang, tz=ctx.settings.tz, now=ctx.clock.now())


def _later(ctx: AppContext, minutes: int) -> None:
    assert isinstance(ctx.clock, ManualClock)
    ctx.clock.advance(timedelta(minutes=minutes))


def test_page_one_sections_from_the_workflow(ctx: AppContext, incident_id: str, workflow: Workflow) -> None:
    report = _report(ctx, incident_id, "ja")
    assert report.edition.label == "第1報" and report.subject.startswith(f"【{report.priority}・第1報】")
    assert report.priority == "P2" and report.priority_reasons == ["リスクスコア70によりP2"]
    (decision,) = report.decisions  # the CISO's approval step, not yet ready
    assert not decision.ready and decision.owner == "CISO（副市長）"
    assert [o.recommended for o in decision.options] == [True, False, False]
    assert decision.recommendation == "遮断を維持し、72時間の重点監視を行う"
    impact = {row.label: row for row in report.impact}
    assert impact["送信元アドレス"].value == f"1件：{ATTACKER}" and impact["送信元アドレス"].confirmed
    assert impact["個人情報"].basis == "推定"
    phases = {p.phase: p for p in report.phases}
    assert phases["分析"].state_key == "in-progress" and phases["分析"].total == 2
    assert phases["封じ込め"].state_key == "not-started"
    assert [o.label for o in report.obligations] == ["県（情報セキュリティ担当部署）", "総務省"]
    assert {o.status_key for o in report.obligations} == {"pending"}
    assert {(x.technique, x.name) for x in report.techniques} == {("T1110", "総当たり攻撃")}
    assert report.next_steps[0].title == "アラートの確認と影響範囲の特定" and report.next_steps[0].owner == "SOC担当者"
    assert any("受付" in n for n in report.needs)  # nobody acknowledged it yet
    assert any("最初のアラートを発報" in row.text for row in report.timeline)
    assert len(report.evidence) == 2 and report.evidence[0].figures == [f"その他の数値：{HOSTILE}", "その他の数値：5"]
    assert report.detectors and "event.outcome" not in str(report.detectors)  # words, not query text, in Japanese
    en = _report(ctx, incident_id, "en")
    assert en.evidence[0].figures == [f"note: {HOSTILE}", "rate: 5"]  # an unknown figure: its key in words
    assert any("event.outcome: failure" in c for c in en.detectors[0].criteria)

    # overdue: 2 hours on, the first step (due 30 min) is breached
    _later(ctx, 120)
    late = _report(ctx, incident_id, "en")
    assert late.phases[0].state_key == "overdue"  # analyse: its first step is breached
    assert late.next_steps[0].sla_key == "breached"


def test_editions_number_changes_and_final(ctx: AppContext, incident_id: str, workflow: Workflow) -> None:
    store = EditionStore(ctx.es)
    first = _report(ctx, incident_id)
    assert first.edition.number == 1 and first.edition.label == "第1報" and first.edition.changes == []
    again = _report(ctx, incident_id)
    assert again.edition.number == 1 and len(store.all_for(incident_id)) == 1  # nothing changed: same edition

    _later(ctx, 5)
    workflow.acknowledge(incident_id, actor="k.sato")  # new -> triage
    workflow.acknowledge(incident_id, actor="k.sato", step_id="confirm-scope")
    workflow.complete_step(incident_id, "confirm-scope", actor="k.sato", note=HOSTILE, evidence=["ticket://SOC-1"])
    second = _report(ctx, incident_id)
    assert second.edition.number == 2 and second.edition.label == "第2報"
    assert second.edition.previous_label == "第1報"
    assert [c.text for c in second.edition.changes] == [
        "状態：新規 → トリアージ中",
        "手順完了：アラートの確認と影響範囲の特定",
        "証跡を1件追加",
        "対応担当者：k.sato",
    ]

    _later(ctx, 5)
    workflow.decide(incident_id, "check-compromise", "not-compromised", actor="m.tanaka", comment="no 4624")
    workflow.transition(incident_id, "declared", actor="m.tanaka", reason=HOSTILE)
    third = _report(ctx, incident_id, "en")
    assert third.edition.number == 3 and third.edition.label == "Update 3"
    assert [c.text for c in third.edition.changes] == [
        "Status: Triage → Declared",
        "Decision taken: Did any targeted account log on successfully? = No successful logon from the attacker",
    ]
    assert third.decisions_taken[0].option == "No successful logon from the attacker"
    assert _report(ctx, incident_id, force=True).edition.number == 4  # --new-edition

    for status in ("contained", "recovered", "post-incident"):
        workflow.transition(incident_id, status, actor="m.tanaka", reason="done")
    for o in IncidentStore(ctx.es).get(incident_id).obligations:
        workflow.update_obligation(incident_id, o.kind, actor="m.tanaka", status="sent", reference="PREF-1")
    workflow.close(incident_id, actor="m.tanaka", reason="resolved")
    final = _report(ctx, incident_id)
    assert final.edition.final and final.edition.label == "最終報（第5報）" and final.status_key == "closed"
    texts = [c.text for c in final.edition.changes]
    assert texts[0] == "状態：インシデント宣言済み → 完了"
    assert "県（情報セキュリティ担当部署）への報告：報告済み" in texts and "総務省への報告：報告済み" in texts
    assert final.decisions == [] and final.next_steps == [] and final.needs == []
    assert [e.number for e in store.all_for(incident_id)] == [1, 2, 3, 4, 5]


def test_one_edition_per_render_for_every_language_and_format(
    ctx: AppContext, incident_id: str, tmp_path: Path
) -> None:
    paths = write_incident_reports(ctx, [incident_id], out_dir=tmp_path, langs=("ja", "en"), formats=("html", "md"))
    assert len(paths) == 4 and len(EditionStore(ctx.es).all_for(incident_id)) == 1
    assert "第1報" in paths[0].read_text() and "First report" in paths[2].read_text()
    write_incident_report(ctx, incident_id, lang="ja", fmt="md", out_dir=tmp_path, new_edition=True)
    assert "第2報" in (tmp_path / f"{incident_id}.ja.md").read_text()


def test_concurrent_renders_never_share_a_number(ctx: AppContext, incident_id: str) -> None:
    inputs = gather_incident(ctx, incident_id, load_definitions(ctx))
    store = EditionStore(ctx.es)
    with ThreadPoolExecutor(4) as pool:
        editions = list(pool.map(lambda _: store.record(inputs.incident, inputs.alerts, now=T0, force=True), range(6)))
    numbers = [e.number for e in store.all_for(incident_id)]
    assert numbers == list(range(1, len(numbers) + 1)) and len(set(numbers)) == len(numbers)
    assert {e.number for e in editions} <= set(numbers)


def test_hostile_strings_inert_in_every_format(
    ctx: AppContext, incident_id: str, workflow: Workflow, tmp_path: Path
) -> None:
    workflow.acknowledge(incident_id, actor="k.sato", step_id="confirm-scope")
    workflow.complete_step(incident_id, "confirm-scope", actor="k.sato", note=HOSTILE, evidence=[HOSTILE])
    workflow.transition(incident_id, "declared", actor=HOSTILE, reason=HOSTILE)
    html = write_incident_report(ctx, incident_id, lang="en", fmt="html", out_dir=tmp_path).read_text()
    md = write_incident_report(ctx, incident_id, lang="ja", fmt="md", out_dir=tmp_path).read_text()
    assert "<script" not in html and html.count("&lt;script&gt;") >= 5
    assert "<script" not in md and "](javascript" not in md and "&lt;script&gt;" in md


def test_a_report_with_no_data_says_so(ctx: AppContext, workflow: Workflow, tmp_path: Path) -> None:
    from soc.vocab import Bilingual

    ensure_ready(ctx.es)
    incident = workflow.open_manual(title=Bilingual(en="Lost USB stick", ja="USBメモリの紛失"), actor="clerk")
    for lang in ("ja", "en"):
        text = write_incident_report(ctx, incident.id, lang=lang, fmt="html", out_dir=tmp_path).read_text()
        t = catalog(lang)
        for key in ("evidence_none", "phases_none", "obligations_none", "techniques_none", "decision_none"):
            assert escape(t[key], quote=False) in text, key


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext not installed")
def test_pdf_has_the_title_the_edition_and_the_attacker(ctx: AppContext, incident_id: str, tmp_path: Path) -> None:
    pytest.importorskip("weasyprint")
    pdf = write_incident_report(ctx, incident_id, lang="ja", fmt="pdf", out_dir=tmp_path)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True, text=True).stdout
    assert "CISO向けインシデント報告書" in text and "第1報" in text and ATTACKER in text
    assert "最終報（第" not in text  # an open incident: not the final edition
