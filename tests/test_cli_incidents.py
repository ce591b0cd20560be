"""``soc incidents`` as a CSIRT handler uses it: the playbook's steps in the chosen language,
the decision options listed instead of an error, ids by unique prefix, and closing that gives
the incident's alerts its verdict."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from soc.cjk import cells, fold
from soc.cli.common import console
from soc.cli.main import app
from soc.context import AppContext
from tests.eventgen import auth_failure, index, spread

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
RANGE = ["--from", "2026-11-23T00:00:00Z", "--to", "2026-11-23T03:00:00Z"]


def _incident(cli: CliRunner, ctx: AppContext, *attackers: tuple[str, str]) -> list[dict[str, object]]:
    """Brute forces by each (user, address), detected: the incidents they opened."""
    docs = []
    for n, (user, ip) in enumerate(attackers):
        times = spread(T0 + timedelta(minutes=10 + 40 * n), 25, timedelta(seconds=12))
        docs += [auth_failure(t, user, ip) for t in times]
    index(ctx, docs)
    res = cli.invoke(app, ["detect", *RANGE, "--json"])
    assert res.exit_code == 0, res.output
    listed = cli.invoke(app, ["incidents", "list", "--json"])
    return [json.loads(line) for line in listed.stdout.splitlines()]


def _to_review(cli: CliRunner, incident_id: str) -> None:
    """Walk the incident through its life cycle to the post-incident review (closing needs it)."""
    for to in ("triage", "declared", "contained", "recovered", "post-incident"):
        res = cli.invoke(app, ["incidents", "transition", incident_id, to, "--reason", f"to {to}"])
        assert res.exit_code == 0, res.output
    shown = json.loads(cli.invoke(app, ["incidents", "show", incident_id, "--json"]).stdout)
    for o in shown["obligations"]:
        res = cli.invoke(app, ["incidents", "obligation", incident_id, o["kind"], "--status", "not-required"])
        assert res.exit_code == 0, res.output


def test_show_prints_the_playbook_steps_in_the_chosen_language(
    cli: CliRunner, ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    [incident] = _incident(cli, ctx, ("s.abe", "198.51.100.23"))
    inc_id = str(incident["id"])

    en = cli.invoke(app, ["incidents", "show", inc_id, "--lang", "en"], terminal_width=120)
    assert en.exit_code == 0, en.output
    out = en.output
    assert "Confirm the alert and its scope (confirm-scope, task) pending" in out
    assert "Check the alert's evidence (counts, first and last seen, sample events)." in out  # instructions
    assert "owner: SOC operator (soc-operator); due: 20" in out or "owner: " in out
    assert "evidence required:" in out and "List of targeted accounts and source addresses" in out
    assert "Did any targeted account log on successfully? (check-compromise, decision)" in out
    # the decision's options with what each costs, and the CISO approval's recommendation
    assert "compromised: Yes: at least one account was taken over" in out
    assert "not-compromised: No successful logon from the attacker" in out
    assert "(recommended)" in out and "if no decision:" in out
    assert "SLA on_track" in out or "SLA at_risk" in out or "SLA breached" in out

    ja = cli.invoke(app, ["incidents", "show", inc_id, "--lang", "ja"], terminal_width=120)
    assert ja.exit_code == 0, ja.output
    assert "アラートの確認と影響範囲の特定" in ja.output and "標的アカウントと送信元アドレスの一覧" in ja.output
    assert "手順:" in ja.output and "選択肢:" in ja.output and "必要な証跡:" in ja.output
    assert "Confirm the alert and its scope" not in ja.output

    # at 80 columns Japanese instructions fill each line: no early break at the space of
    # "Microsoft 365", no line opening with 、 or 。, every line within the width
    monkeypatch.setattr(console, "width", 80)  # what an 80-column terminal gives
    narrow = cli.invoke(app, ["incidents", "show", inc_id, "--lang", "ja"], terminal_width=80)
    lines = narrow.output.splitlines()
    assert "ログイン成功（4624、Microsoft 365・" in narrow.output, narrow.output
    assert not [ln for ln in lines if ln.strip()[:1] in ("、", "。", "）")]
    assert max(cells(ln) for ln in lines if ln.startswith("        ")) <= 80, [ln for ln in lines if cells(ln) > 80]

    # a unique prefix of the id, in any case, names the incident
    by_prefix = cli.invoke(app, ["incidents", "show", inc_id[:14].lower(), "--json"])
    assert by_prefix.exit_code == 0, by_prefix.output
    assert json.loads(by_prefix.stdout)["id"] == inc_id


def test_decide_lists_the_options_when_the_option_is_missing_or_wrong(cli: CliRunner, ctx: AppContext) -> None:
    [incident] = _incident(cli, ctx, ("t.ono", "198.51.100.40"))
    inc_id = str(incident["id"])

    bare = cli.invoke(app, ["incidents", "decide", inc_id, "--lang", "en"], terminal_width=120)
    assert bare.exit_code == 2
    assert "check-compromise" in bare.output and "ciso-decision" in bare.output
    assert "not-compromised: No successful logon from the attacker" in bare.output
    assert "decide with: soc incidents decide" in bare.output

    done = cli.invoke(app, ["incidents", "step", "done", inc_id, "confirm-scope", "--note", "scoped", "--by", "op"])
    assert done.exit_code == 0, done.output
    wrong = cli.invoke(app, ["incidents", "decide", inc_id, "check-compromise", "maybe", "--lang", "en"])
    assert wrong.exit_code == 2
    assert "'maybe' is not an option of step check-compromise" in wrong.output
    assert "compromised: Yes: at least one account was taken over" in wrong.output
    assert "ciso-decision" not in wrong.output  # only the step asked about

    hostile = cli.invoke(app, ["incidents", "decide", inc_id, "check-compromise", "x\x1b[2J\u202e[bold]y[/]"])
    assert hostile.exit_code == 2 and "\x1b" not in hostile.output and "\u202e" not in hostile.output
    assert "'x\\x1b[2J\\u202e[bold]y[/]' is not an option" in hostile.output

    no_step = cli.invoke(app, ["incidents", "decide", inc_id, "no-such-step", "x"])
    assert no_step.exit_code == 1 and "no decision or approval step 'no-such-step'" in no_step.output
    assert "check-compromise" in no_step.output

    shown = json.loads(cli.invoke(app, ["incidents", "show", inc_id, "--json"]).stdout)
    assert not any(s["choice"] for s in shown["steps"])  # nothing was recorded by the listings

    ok = cli.invoke(app, ["incidents", "decide", inc_id, "check-compromise", "not-compromised", "--by", "h"])
    assert ok.exit_code == 0, ok.output
    step = next(s for s in json.loads(cli.invoke(app, ["incidents", "show", inc_id, "--json"]).stdout)["steps"]
                if s["step_id"] == "check-compromise")  # fmt: skip
    assert step["choice"]["option"] == "not-compromised" and step["choice"]["by"] == "h"


def test_close_gives_the_alerts_the_verdict_and_prefixes_must_be_unique(cli: CliRunner, ctx: AppContext) -> None:
    incidents = _incident(cli, ctx, ("u.ito", "198.51.100.50"), ("k.sato", "198.51.100.51"))
    assert len(incidents) == 2
    first, second = sorted(str(i["id"]) for i in incidents)

    ambiguous = cli.invoke(app, ["incidents", "show", "INC-"])
    assert ambiguous.exit_code == 1
    assert "incident id prefix 'INC-' matches 2 incidents" in ambiguous.output
    assert first in ambiguous.output and second in ambiguous.output

    alerts = [json.loads(x) for x in cli.invoke(app, ["alerts", "list", "--json"]).stdout.splitlines()]
    mine = [a for a in alerts if a["incident_id"] == first]
    others = [a for a in alerts if a["incident_id"] != first]
    assert mine and others

    refused = cli.invoke(app, ["incidents", "close", first, "--reason", "x", "--verdict", "maybe"])
    assert refused.exit_code == 2 and "maybe" in refused.output

    _to_review(cli, first)
    closed = cli.invoke(app, ["incidents", "close", first, "--reason", "password spray, blocked", "--by", "lead"])
    assert closed.exit_code == 0, closed.output
    assert f"closed as true_positive; {len(mine)} alert(s) closed with that verdict" in closed.output
    listed = cli.invoke(app, ["alerts", "list", "--json"]).stdout.splitlines()
    after = {a["id"]: a for a in map(json.loads, listed)}
    for a in mine:
        shown = json.loads(cli.invoke(app, ["alerts", "show", a["id"], "--json"]).stdout)
        assert (shown["status"], shown["close_reason"], shown["closed_by"]) == ("closed", "true_positive", "lead")
        assert shown["triage_note"].startswith(f"{first}: password spray")
    assert all(after[a["id"]]["status"] == "open" for a in others)  # another incident's alerts are untouched

    # a close cut short after the incident changed, before its alerts: closing again finishes them
    from soc.incidents.workflow import Workflow
    from soc.playbooks.loader import load_playbooks

    Workflow(ctx, playbooks=load_playbooks(ctx.settings.playbooks_dir)).transition(
        second, "false-positive", actor="lead", reason="crashed right after this"
    )
    assert all(after[a["id"]]["status"] == "open" for a in others)
    fp = cli.invoke(app, ["incidents", "close", second, "--reason", "the vendor's scanner", "--verdict",
                          "false_positive", "--json"])  # fmt: skip
    assert fp.exit_code == 0, fp.output
    body = json.loads(fp.stdout)
    assert body["status"] == "false-positive" and sorted(body["alerts_closed"]) == sorted(a["id"] for a in others)
    again = cli.invoke(app, ["incidents", "close", second, "--reason", "again", "--verdict", "false_positive"])
    assert again.exit_code == 0 and "0 alert(s) closed with that verdict" in again.output
    audit = json.loads(cli.invoke(app, ["incidents", "show", second, "--json"]).stdout)["audit"]
    assert sum(e["action"] == "transition" for e in audit) == 1  # the state changed once


@pytest.mark.parametrize("verdict", ["benign"])
def test_the_console_closes_through_the_same_service(ctx: AppContext, cli: CliRunner, verdict: str) -> None:
    from soc.incidents.workflow import Workflow
    from soc.playbooks.loader import load_playbooks
    from soc.web.actions import incident_action

    [incident] = _incident(cli, ctx, ("m.kato", "198.51.100.60"))
    _to_review(cli, str(incident["id"]))
    wf = Workflow(ctx, playbooks=load_playbooks(ctx.settings.playbooks_dir))
    form = {"verdict": verdict, "reason": "an authorised test"}
    closed = incident_action(ctx, wf, str(incident["id"]), "close", form, by="web-lead")
    assert closed.status.value == "closed"
    alerts = [json.loads(x) for x in cli.invoke(app, ["alerts", "list", "--json"]).stdout.splitlines()]
    assert {(a["status"], a["close_reason"]) for a in alerts} == {("closed", verdict)}


@pytest.mark.parametrize(
    ("text", "width", "expected"),
    [
        ("確認し、報告してください。", 8, ["確認し、", "報告して", "くださ", "い。"]),  # 、。 never open a line
        ("遮断（UTMとEntra ID）", 10, ["遮断（UTM", "とEntra", "ID）"]),  # （ never ends a line
        ("Review the alert evidence and list", 16, ["Review the alert", "evidence and", "list"]),
        ("ab" * 12, 10, ["ababababab", "ababababab", "abab"]),  # a word longer than a line is cut
    ],
)
def test_fold_breaks_japanese_between_characters_and_english_at_spaces(
    text: str, width: int, expected: list[str]
) -> None:
    assert fold(text, width) == expected
