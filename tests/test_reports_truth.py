"""Reports tell the truth of the incident: every statement comes from the current record.

Each test works a real incident on the real node through the CSIRT workflow, changes one
kind of fact (a decision, a step outcome, evidence, containment, an obligation, the
phase, who holds it), renders the next edition in Japanese and English and checks that
the edition says so — in the report's context and in the rendered text.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from datetime import timedelta
from html import escape
from pathlib import Path

import pytest

from soc.clock import ManualClock
from soc.context import AppContext
from soc.incidents import obligations
from soc.incidents.store import IncidentStore
from soc.incidents.workflow import Workflow
from soc.playbooks.models import ObligationKind
from soc.reports.batch import write_incident_report, write_summary_report
from soc.reports.gather import gather_incident
from soc.reports.incident import build_report
from soc.reports.models import IncidentReport
from soc.reports.service import issue_edition, load_definitions
from soc.vocab import Bilingual
from tests import test_reports_editions as editions
from tests.test_reports_summary import PERIOD, case, ops  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parent.parent
workflow = editions.workflow  # the same incident as the editions tests: two alerts, one attacker
incident_id = editions.incident_id
COMPROMISED_JA = "あり：少なくとも1つのアカウントが乗っ取られた"
COMPROMISED_EN = "Yes: at least one account was taken over"
DECLARE_JA = "インシデントとして宣言し、県と総務省へ報告する"
DECLARE_EN = "Declare an incident and report to the prefecture and the ministry"
MONITOR_JA = "遮断を維持し、72時間の重点監視を行う"


class Edition:
    """One issued edition in both languages: the contexts and the texts as issued."""

    def __init__(self, ctx: AppContext, incident_id: str) -> None:
        inputs = gather_incident(ctx, incident_id, load_definitions(ctx))
        edition = issue_edition(ctx, inputs)
        now = ctx.clock.now()
        self.ja, self.en = (
            build_report(inputs, edition=edition, lang=lang, tz=ctx.settings.tz, now=now) for lang in ("ja", "en")
        )
        # what was issued: the renderings stored with the edition, not a re-render
        self.text = {
            lang: f"{edition.rendering(lang, 'html')}\n{edition.rendering(lang, 'md')}" for lang in ("ja", "en")
        }
        self.html_ja = edition.rendering("ja", "html") or ""
        assert all(edition.rendering(lang, fmt) for lang in ("ja", "en") for fmt in ("html", "md"))

    def says(self, lang: str, *phrases: str) -> bool:
        html_and_md = self.text[lang]
        return all(escape(p, quote=False) in html_and_md or p in html_and_md for p in phrases)


def _later(ctx: AppContext, minutes: int) -> None:
    assert isinstance(ctx.clock, ManualClock)
    ctx.clock.advance(timedelta(minutes=minutes))


def _take_and_scope(workflow: Workflow, incident_id: str) -> None:
    workflow.acknowledge(incident_id, actor="k.sato")
    workflow.acknowledge(incident_id, actor="k.sato", step_id="confirm-scope")
    workflow.complete_step(incident_id, "confirm-scope", actor="k.sato", note="標的は1アカウント")


def _lines(r: IncidentReport) -> str:
    c = r.conclusion
    return "\n".join([*c.lead, *c.known, *c.unknown, *c.done, *c.due])


def test_a_decision_taken_is_stated_with_its_label_who_when_and_why(
    ctx: AppContext, workflow: Workflow, incident_id: str
) -> None:
    first = Edition(ctx, incident_id)
    assert "「標的アカウントへのログイン成功の有無の確認」の結論はまだ出ていません。" in first.ja.conclusion.unknown
    assert "“Did any targeted account log on successfully?” is not yet answered." in first.en.conclusion.unknown
    assert first.ja.decisions[0].recommendation == MONITOR_JA

    _take_and_scope(workflow, incident_id)
    _later(ctx, 30)
    workflow.decide(incident_id, "check-compromise", "compromised", actor="m.tanaka", comment="4624の成功を確認")
    second = Edition(ctx, incident_id)
    assert second.ja.edition.number == 2
    decided = "11月23日（月）11時30分、m.tanakaが「標的アカウントへのログイン成功の有無の確認」について"
    assert second.says("ja", decided, f"「{COMPROMISED_JA}」と判断しました（理由：4624の成功を確認）。")
    assert second.says("en", "On Mon 23 Nov 11:30, m.tanaka decided", f"“{COMPROMISED_EN}”", "(why: 4624の成功を確認)")
    assert second.ja.conclusion.unknown == [] and second.en.conclusion.unknown == []  # no longer "not yet known"
    assert not second.says("ja", "まだ確認できていません")
    # the recommendation is the playbook's for the branch taken: report, not only monitor
    assert second.ja.decisions[0].recommendation == DECLARE_JA
    assert second.en.decisions[0].recommendation == DECLARE_EN
    assert [o.recommended for o in second.ja.decisions[0].options] == [False, True, False]
    # the timeline names the option by its label, never by its id
    assert second.says("ja", f"= {COMPROMISED_JA}") and not second.says("ja", "= compromised")


def test_step_outcomes_evidence_and_containment_are_stated(
    ctx: AppContext, workflow: Workflow, incident_id: str
) -> None:
    _take_and_scope(workflow, incident_id)
    workflow.decide(incident_id, "check-compromise", "compromised", actor="m.tanaka")
    workflow.transition(incident_id, "declared", actor="m.tanaka", reason="乗っ取りを確認")
    before = Edition(ctx, incident_id)
    assert before.ja.conclusion.phase_key == "assessing" and before.ja.conclusion.done == []
    assert before.says("ja", "11月23日（月）11時00分にインシデントとして宣言し、CSIRTが対応しています。")

    _later(ctx, 40)
    workflow.complete_step(
        incident_id, "contain-accounts", actor="m.tanaka", note="無効化", evidence=["ad://disable/k.mori"]
    )
    evidence = Edition(ctx, incident_id)
    assert evidence.says("ja", "11月23日（月）11時40分、「侵害されたアカウントの封じ込め」を完了しました（m.tanaka）。")
    assert evidence.says("en", "On Mon 23 Nov 11:40, “Contain the compromised accounts” was completed (m.tanaka).")
    assert evidence.says("ja", "証跡を1件記録しています（付録参照）。", "ad://disable/k.mori")
    assert evidence.says("en", "1 piece of evidence recorded", "ad://disable/k.mori")
    assert "証跡を1件追加" in [c.text for c in evidence.ja.edition.changes]

    workflow.complete_step(incident_id, "block-source", actor="m.tanaka", evidence=["utm://rule/4411"])
    workflow.transition(incident_id, "contained", actor="m.tanaka", reason="遮断を確認")
    contained = Edition(ctx, incident_id)
    assert contained.ja.conclusion.phase_key == "contained" and contained.ja.conclusion.phase == "封じ込め済み"
    assert contained.says("ja", "11月23日（月）11時40分に封じ込めを完了しました。", "「攻撃元の遮断」を完了しました")
    assert contained.says("en", "It was contained on Mon 23 Nov 11:40.", "evidence recorded")
    assert contained.ja.conclusion.done[-1] == "証跡を2件記録しています（付録参照）。"


def test_a_skipped_step_is_stated_as_skipped_never_as_done(
    ctx: AppContext, workflow: Workflow, incident_id: str
) -> None:
    _take_and_scope(workflow, incident_id)
    workflow.decide(incident_id, "check-compromise", "compromised", actor="m.tanaka")
    _later(ctx, 10)
    workflow.skip_step(incident_id, "contain-accounts", actor="m.tanaka", reason="既に無効化済み")
    skipped = Edition(ctx, incident_id)
    said = "11月23日（月）11時10分、「侵害されたアカウントの封じ込め」を省略しました"
    said += "（m.tanaka、理由：既に無効化済み）。"
    assert said in skipped.ja.conclusion.done
    assert skipped.says("en", "“Contain the compromised accounts” was skipped (m.tanaka; why: 既に無効化済み).")
    assert not skipped.says("ja", "「侵害されたアカウントの封じ込め」を完了しました")
    workflow.complete_step(incident_id, "block-source", actor="m.tanaka")
    phase = next(p for p in Edition(ctx, incident_id).ja.phases if p.phase == "封じ込め")
    assert "省略1" in phase.state, phase
    assert all(
        "封じ込め」は省略" in p.detail or "侵害されたアカウントの封じ込め（" not in p.detail
        for p in Edition(ctx, incident_id).ja.phases
    )


def test_obligations_due_and_sent_are_stated(ctx: AppContext, workflow: Workflow, incident_id: str) -> None:
    _take_and_scope(workflow, incident_id)
    workflow.transition(incident_id, "declared", actor="m.tanaka", reason="乗っ取りを確認")
    declared = Edition(ctx, incident_id)
    assert declared.says("ja", "県（情報セキュリティ担当部署）への報告期限は11月24日（火）11時00分です。")
    assert declared.says("en", "The report to Prefecture (information security department) is due Tue 24 Nov 11:00.")

    workflow.set_impact(incident_id, actor="m.tanaka", reason="氏名を含むメールを確認", personal_data_confirmed=True)
    personal = Edition(ctx, incident_id)
    assert personal.says("ja", "個人情報が関係していることを確認しました。", "個人情報保護委員会への速報の期限は")
    assert not personal.says("ja", "：速報への報告期限")  # a label inside a sentence that does not fit it
    assert personal.says("en", "Personal data is confirmed to be involved.")
    # the legal basis is named in Japanese, never "APPI Art. 68"
    assert personal.says("ja", "個人情報の保護に関する法律 第68条") and not personal.says("ja", "APPI")
    assert personal.says("en", "APPI Art. 68")

    _later(ctx, 60)
    workflow.update_obligation(incident_id, "prefecture", actor="m.tanaka", status="sent", reference="PREF-1")
    sent = Edition(ctx, incident_id)
    assert sent.says("ja", "11月23日（月）12時00分、県（情報セキュリティ担当部署）へ報告しました（受付番号 PREF-1）。")
    assert sent.says(
        "en", "On Mon 23 Nov 12:00, reported to Prefecture (information security department) (reference PREF-1)."
    )
    assert not any("県（情報セキュリティ担当部署）への報告期限" in d for d in sent.ja.conclusion.due)

    workflow.update_obligation(incident_id, "ppc-preliminary", actor="m.tanaka", status="sent", reference="PPC-1")
    workflow.update_obligation(incident_id, "residents", actor="m.tanaka", status="sent")
    ppc = Edition(ctx, incident_id)
    assert ppc.says("ja", "12時00分、個人情報保護委員会へ速報を提出しました（受付番号 PPC-1）。")
    assert ppc.says("ja", "12時00分、本人（住民）へ通知しました。") and not ppc.says("ja", "通知へ報告しました")
    assert ppc.says(
        "en", "the preliminary report went to the Personal Information Protection Commission (reference PPC-1)"
    )
    assert ppc.says("en", "the residents concerned were notified.")
    # the timeline and the changes since the previous edition name them the same way
    assert "個人情報保護委員会への速報：報告済み" in [c.text for c in ppc.ja.edition.changes]
    assert ppc.says("ja", "本人（住民）への通知：報告済み（m.tanaka）") and not ppc.says("ja", "：速報への報告")
    assert ppc.says("en", "Preliminary report to the Personal Information Protection Commission: sent (m.tanaka)")


def test_the_conclusion_follows_the_phase_to_closed(ctx: AppContext, workflow: Workflow, incident_id: str) -> None:
    phases = [Edition(ctx, incident_id).ja.conclusion.phase_key]
    _take_and_scope(workflow, incident_id)
    phases.append(Edition(ctx, incident_id).ja.conclusion.phase_key)
    for status in ("declared", "contained", "recovered", "post-incident"):
        workflow.transition(incident_id, status, actor="m.tanaka", reason="確認済み")
        phases.append(Edition(ctx, incident_id).ja.conclusion.phase_key)
    for o in IncidentStore(ctx.es).get(incident_id).obligations:
        workflow.update_obligation(incident_id, o.kind, actor="m.tanaka", status="not-required")
    workflow.close(incident_id, actor="m.tanaka", reason="解決")
    final = Edition(ctx, incident_id)
    phases.append(final.ja.conclusion.phase_key)
    assert phases == ["detected", "assessing", "assessing", "contained", "recovered", "recovered", "closed"]
    assert final.ja.edition.final and final.says("ja", "に対応を終えました。", "への報告は不要と判断しました。")
    assert final.says("ja", "終結時の記録：「解決」。") and final.says("en", "Recorded at closing: “解決”.")
    assert final.says("en", "The response ended on") and final.ja.conclusion.unknown == []
    assert final.ja.decisions == [] and final.ja.ask == "現時点でご判断いただく事項はありません。"


def test_who_holds_it_is_the_handler_the_tier_and_the_decider(
    ctx: AppContext, workflow: Workflow, incident_id: str
) -> None:
    first = Edition(ctx, incident_id)
    assert first.ja.holders.handler == "未割当" and first.en.holders.handler == "unassigned"
    assert first.ja.holders.decider == "CISO（副市長）"
    _later(ctx, 60 * 24 * 3)  # nobody acted for three days: escalations climb the tiers
    workflow.check_deadlines()
    late = Edition(ctx, incident_id)
    assert IncidentStore(ctx.es).get(incident_id).tier == "ciso"
    assert late.ja.holders.tier == "CISO（副市長）" and late.ja.holders.handler == "未割当"  # a tier, not a person
    assert late.says("ja", "エスカレーション段階：CISO（副市長）") and not late.says("ja", "現在の担当")
    assert late.says("en", "Escalated to: CISO (deputy mayor)", "Handler: <strong>unassigned</strong>")
    workflow.assign(incident_id, "k.sato", actor="m.tanaka")
    assigned = Edition(ctx, incident_id)
    assert assigned.ja.holders.handler == "k.sato" and assigned.says("ja", "対応担当者：<strong>k.sato</strong>")
    assert "対応担当者：k.sato" in [c.text for c in assigned.ja.edition.changes]


def test_ppc_deadlines_have_one_source(
    ctx: AppContext, workflow: Workflow, incident_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report's PPC deadlines and the obligation tracker read the same rule."""
    workflow.transition(incident_id, "declared", actor="m.tanaka", reason="確認")
    workflow.set_impact(incident_id, actor="m.tanaka", reason="確認", personal_data_confirmed=True)
    incident = IncidentStore(ctx.es).get(incident_id)
    tracked = {o.kind: o.due_at for o in incident.obligations}
    aware = incident.aware_at
    assert aware is not None
    within = obligations.RULES[ObligationKind.ppc_final].within
    assert within is not None and tracked["ppc-final"] == aware + within
    # the fallback table (no tracker rows yet) follows a changed rule too
    rule = obligations.RULES[ObligationKind.ppc_final]
    monkeypatch.setitem(
        obligations.RULES,
        ObligationKind.ppc_final,
        dataclasses.replace(
            rule, within=timedelta(days=31), rule=Bilingual(en="within 31 days of awareness", ja="認知から31日以内")
        ),
    )
    bare = incident.model_copy(update={"obligations": [], "personal_data_possible": True})
    from soc.reports.incident import build_from

    report = build_from(bare, [], lang="ja", tz=ctx.settings.tz, now=ctx.clock.now(), detector_titles={}, playbook=None)
    final = next(d for d in report.deadlines if "確報" in d.label)
    assert final.due.startswith("2026年12月24日（木）")  # 23 Nov + 31 days
    assert final.label == "確報（認知から31日以内）"  # the rule's words too, not a second copy of "30日"


def test_a_branch_recommendation_must_name_real_options() -> None:
    import yaml
    from pydantic import ValidationError

    from soc.playbooks.models import Playbook

    raw = yaml.safe_load((REPO / "playbooks" / "unauthorised-login.yml").read_text(encoding="utf-8"))
    approval = next(s for s in raw["steps"] if s["kind"] == "approval")
    playbook = Playbook.model_validate(raw)
    step = playbook.step(approval["id"])
    assert step.recommendation_for({}) == "contain-and-monitor"  # type: ignore[union-attr]
    assert step.recommendation_for({"check-compromise": "compromised"}) == "declare-and-report"  # type: ignore[union-attr]
    for bad, message in (
        ({"after": "check-compromise", "chose": "compromised", "recommend": "nope"}, "is not one of the options"),
        ({"after": "check-compromise", "chose": "maybe", "recommend": "declare-and-report"}, "with an option 'maybe'"),
        ({"after": "block-source", "chose": "compromised", "recommend": "declare-and-report"}, "not a decision step"),
    ):
        approval["recommendation_by_branch"] = [bad]
        with pytest.raises(ValidationError, match=message):
            Playbook.model_validate(raw)


def _pdf_pages(path: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", "-layout", str(path), "-"], capture_output=True, check=True)
    return [re.sub(r"\s+", "", page) for page in text.stdout.decode().split("\f") if page.strip()]


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_page_one_holds_the_conclusion_the_decision_impact_and_status_and_nothing_else(
    ctx: AppContext, workflow: Workflow, incident_id: str, tmp_path: Path
) -> None:
    pytest.importorskip("weasyprint")
    _take_and_scope(workflow, incident_id)
    workflow.decide(incident_id, "check-compromise", "compromised", actor="m.tanaka", comment="4624の成功を確認")
    workflow.transition(incident_id, "declared", actor="m.tanaka", reason="乗っ取りを確認")
    pdf = write_incident_report(ctx, incident_id, lang="ja", fmt="pdf", out_dir=tmp_path)
    first, *rest = _pdf_pages(pdf)
    for heading in (
        "結論",
        "判明していること",
        "ご判断いただきたい事項",
        "期限までに判断がない場合",
        "影響",
        "段階別の対応状況",
    ):
        assert heading in first, heading
    assert "事後対応" in first  # the last row of the status table: no row orphaned onto page 2
    assert rest and rest[0].startswith("優先度と判定理由")  # the detail starts on page 2
    assert "判/断/者" not in first and "判断者" in first


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_summary_fits_in_about_four_pages(ops: AppContext, tmp_path: Path) -> None:  # noqa: F811
    pytest.importorskip("weasyprint")
    (pdf,) = write_summary_report(ops, start=PERIOD[0], end=PERIOD[1], out_dir=tmp_path, langs=["ja"], formats=["pdf"])
    pages = _pdf_pages(pdf)
    assert len(pages) <= 4, len(pages)
    assert pages[0].startswith("SOC定期報告書") and "概況" in pages[0] and "対応が必要な事項" in pages[0]


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_page_one_still_holds_the_status_when_personal_data_adds_four_report_deadlines(
    ctx: AppContext, workflow: Workflow, incident_id: str, tmp_path: Path, lang: str
) -> None:
    """Declared with personal data confirmed, the 結論 lists four report deadlines: page 1
    is laid out tighter rather than pushing the status table onto an otherwise empty page 2."""
    pytest.importorskip("weasyprint")
    _take_and_scope(workflow, incident_id)
    workflow.decide(incident_id, "check-compromise", "compromised", actor="m.tanaka", comment="4624の成功を確認")
    workflow.transition(incident_id, "declared", actor="m.tanaka", reason="乗っ取りを確認")
    workflow.set_impact(incident_id, actor="m.tanaka", reason="住民の氏名と住所", personal_data_confirmed=True)
    report = Edition(ctx, incident_id)
    assert len(getattr(report, lang).conclusion.due) >= 4
    pdf = write_incident_report(ctx, incident_id, lang=lang, fmt="pdf", out_dir=tmp_path)
    first, second, *_ = _pdf_pages(pdf)
    ja = lang == "ja"
    last_row, detail = ("事後対応", "優先度と判定理由") if ja else ("Post-incident", "Priorityanditsrationale")
    assert last_row in first, "the status table left page 1"
    assert re.sub(r"\W", "", second).lower().startswith(re.sub(r"\W", "", detail).lower())
    assert len(second) > 400, "page 2 is nearly empty"


def test_one_incident_worked_to_closed_reads_true_at_every_edition(
    ctx: AppContext, workflow: Workflow, incident_id: str
) -> None:
    """The whole path a CISO sees: acknowledged and assigned, scoped with evidence, decided
    (a real option), declared with personal data, contained, the CISO's decision, reports
    sent, a step skipped, closed. Each edition, in ja and en, says what the record says —
    and never what it no longer says — with no stray English in the Japanese one."""
    from tests.test_reports_japanese import latin_words

    names = {"k.mori", "k.sato", "m.tanaka", "y.honda", "PREF-9", "MIC-9", "PPC-9", "PPC-10", "ticket://SOC-1",
             "utm://rule/7", "ad://disable/k.mori", incident_id, editions.ATTACKER}  # fmt: skip
    names |= {"script", "alert", "x", "j", "avascript:alert"}  # the hostile string the fixture's alert carries
    seen: list[Edition] = []

    def edition() -> Edition:
        e = Edition(ctx, incident_id)
        assert e.ja.edition.number == len(seen) + 1, "every step is news: a new edition"
        stray = latin_words(e.html_ja, names | {row.alert_id for row in e.ja.evidence})
        assert not stray, f"edition {len(seen) + 1}: English in the Japanese report: {stray}"
        seen.append(e)
        return e

    first = edition()
    assert first.ja.conclusion.phase_key == "detected" and first.ja.holders.handler == "未割当"

    workflow.acknowledge(incident_id, actor="k.sato")
    workflow.assign(incident_id, "k.sato", actor="k.sato")
    taken = edition()
    assert taken.says("ja", "k.satoが受付し、CSIRTが事実関係を確認しています。", "対応担当者：<strong>k.sato</strong>")
    assert taken.says("en", "k.sato acknowledged it; the CSIRT is establishing the facts.")

    workflow.acknowledge(incident_id, actor="k.sato", step_id="confirm-scope")
    workflow.complete_step(incident_id, "confirm-scope", actor="k.sato", note="標的は1件", evidence=["ticket://SOC-1"])
    scoped = edition()
    assert scoped.says("ja", "証跡を1件記録しています（付録参照）。", "ticket://SOC-1")
    assert scoped.ja.conclusion.unknown == ["「標的アカウントへのログイン成功の有無の確認」の結論はまだ出ていません。"]

    _later(ctx, 20)
    workflow.decide(incident_id, "check-compromise", "compromised", actor="m.tanaka", comment="4624を確認")
    decided = edition()
    assert decided.says(
        "ja", f"m.tanakaが「標的アカウントへのログイン成功の有無の確認」について「{COMPROMISED_JA}」と判断"
    )
    assert decided.says("en", f"m.tanaka decided “{COMPROMISED_EN}”")
    assert decided.ja.conclusion.unknown == [] and decided.ja.decisions[0].recommendation == DECLARE_JA

    workflow.transition(incident_id, "declared", actor="m.tanaka", reason="乗っ取り")
    workflow.set_impact(incident_id, actor="m.tanaka", reason="住民の氏名", personal_data_confirmed=True)
    declared = edition()
    assert declared.says("ja", "インシデントとして宣言し", "個人情報が関係していることを確認しました。")
    assert declared.says("ja", "個人情報保護委員会への速報の期限は") and declared.says(
        "en", "Personal data is confirmed"
    )
    # the CISO's question still proposes declaring: the report says it is already done
    (asked,) = declared.ja.decisions
    assert asked.already and asked.already[0].endswith("にインシデントとして宣言済み")
    assert declared.says("ja", "記録済みの事実：") and declared.says("en", "Already on record: declared an incident on")
    # a report with no fixed deadline is stated with its rule, never as a clock from awareness
    assert "本人（住民）への通知：状況に応じて速やかに。" in declared.ja.conclusion.due
    assert "Residents concerned (notice to the person): as soon as practicable." in declared.en.conclusion.due
    assert not declared.says("ja", "通知への報告期限")

    _later(ctx, 30)
    workflow.complete_step(incident_id, "contain-accounts", actor="k.sato", evidence=["ad://disable/k.mori"])
    workflow.complete_step(incident_id, "block-source", actor="k.sato", evidence=["utm://rule/7"])
    workflow.transition(incident_id, "contained", actor="m.tanaka", reason="遮断済み")
    contained = edition()
    assert contained.ja.conclusion.phase == "封じ込め済み"
    assert contained.says(
        "ja", "「侵害されたアカウントの封じ込め」を完了しました（k.sato）。", "「攻撃元の遮断」を完了しました"
    )
    assert contained.says("en", "“Block the source” was completed (k.sato).", "It was contained on")

    workflow.decide(incident_id, "ciso-decision", "declare-and-report", actor="y.honda", comment="報告する")
    for kind, ref in (("prefecture", "PREF-9"), ("ministry", "MIC-9"), ("ppc-preliminary", "PPC-9")):
        workflow.update_obligation(incident_id, kind, actor="m.tanaka", status="sent", reference=ref)
    ciso = edition()
    assert ciso.says(
        "ja", f"y.hondaが「対応方針と外部報告の判断」について「{DECLARE_JA}」と判断しました（理由：報告する）。"
    )
    assert ciso.ja.holders.decider.startswith("y.honda") and ciso.ja.decisions == []
    assert ciso.says("ja", "県（情報セキュリティ担当部署）へ報告しました（受付番号 PREF-9）。")
    assert ciso.says("ja", "個人情報保護委員会へ速報を提出しました（受付番号 PPC-9）。")
    assert ciso.says("en", "the preliminary report went to the Personal Information Protection Commission")

    workflow.complete_step(incident_id, "notify", actor="m.tanaka")
    workflow.skip_step(incident_id, "monitor", actor="m.tanaka", reason="無効化済み")
    workflow.transition(incident_id, "recovered", actor="m.tanaka", reason="再発行済み")
    recovered = edition()
    assert recovered.ja.conclusion.phase_key == "recovered"
    assert recovered.says(
        "ja", "「対象アカウントと攻撃元の72時間の重点監視」を省略しました（m.tanaka、理由：無効化済み）。"
    )
    assert any("省略" in p.state for p in recovered.ja.phases if p.phase == "復旧")

    for kind in ("ppc-final", "residents"):
        workflow.update_obligation(incident_id, kind, actor="m.tanaka", status="sent", reference="PPC-10")
    workflow.complete_step(incident_id, "ciso-report", actor="m.tanaka")
    workflow.complete_step(incident_id, "review", actor="m.tanaka")
    workflow.transition(incident_id, "post-incident", actor="m.tanaka", reason="振り返り")
    workflow.close(incident_id, actor="m.tanaka", reason="対応と報告を完了")
    final = edition()
    assert final.ja.edition.final and final.ja.edition.label.startswith("最終報")
    c = final.ja.conclusion
    assert final.says("ja", "に対応を終えました。", "終結時の記録：「対応と報告を完了」。")
    assert any(COMPROMISED_JA in k for k in c.known) and any(DECLARE_JA in k for k in c.known)
    assert "個人情報が関係していることを確認しました。" in c.known
    assert any("「侵害されたアカウントの封じ込め」を完了しました" in d for d in c.done)
    assert any("個人情報保護委員会へ確報を提出しました" in d for d in c.done) and c.due == [] and c.unknown == []
    assert final.says("en", "The response ended on", "Recorded at closing: “対応と報告を完了”.")
    assert [p.state_key for p in final.ja.phases] == ["done"] * len(final.ja.phases)
