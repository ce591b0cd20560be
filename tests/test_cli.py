"""The CLI as users type it: validate, config show, detect --json, alerts, incidents, report."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from soc.cli.main import app
from soc.config import Settings
from soc.context import AppContext
from soc.detection.loader import detector_files
from tests.definition_checks import invalid_fixture_errors
from tests.eventgen import auth_failure, index, spread

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


def test_validate_ok_and_broken(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    ok = cli.invoke(app, ["validate"])
    assert ok.exit_code == 0, ok.output
    shipped = f"{len(detector_files(REPO / 'detectors'))} detector(s) and {len(detector_files(REPO / 'playbooks'))}"
    assert f"{shipped} playbook(s) are valid" in ok.output
    monkeypatch.setenv("SOC_DETECTORS_DIR", str(REPO / "tests/fixtures/invalid/detectors"))
    monkeypatch.setenv("SOC_PLAYBOOKS_DIR", str(REPO / "tests/fixtures/invalid/playbooks"))
    bad = cli.invoke(app, ["validate"])
    assert bad.exit_code == 1
    assert "unknown-field.yml: group_by: unknown field(s) user.nmae" in bad.output
    assert "dangling-next.yml: steps.0.next" in bad.output
    assert f"{invalid_fixture_errors()} error(s)" in bad.output


def test_config_show_masks_secrets(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOC_ES_PASSWORD", "s3cret-value")
    monkeypatch.setenv("SOC_ES_API_KEY", "api-key-value")
    res = cli.invoke(app, ["config", "show"])
    assert res.exit_code == 0
    assert "s3cret-value" not in res.output and "api-key-value" not in res.output and "****" in res.output


def test_detect_json_then_incidents_and_report(cli: CliRunner, ctx: AppContext, settings: Settings) -> None:
    attack = spread(T0 + timedelta(minutes=10), 25, timedelta(seconds=12))
    index(ctx, [auth_failure(t, "s.abe", "198.51.100.23") for t in attack])
    args = ["detect", "--from", "2026-11-23T09:00:00+09:00", "--to", "2026-11-23T01:00:00Z", "--json"]
    res = cli.invoke(app, args)
    assert res.exit_code == 0, res.output
    (line,) = [json.loads(x) for x in res.stdout.splitlines()]
    assert line["detector"] == "failed-login-burst"
    assert line["entity"] == {"user.name": "s.abe", "source.ip": "198.51.100.23"}
    assert line["count"] == 25 and line["severity"] == "medium" and line["mitre"] == ["T1110", "T1110.001"]
    assert line["start"] == "2026-11-23T00:10:00.000Z" and line["end"] == "2026-11-23T00:14:48.000Z"
    assert {"id", "risk_score", "incident_id"} <= set(line)

    again = cli.invoke(app, args)  # re-running the same window: same alert, nothing new
    assert [json.loads(x)["id"] for x in again.stdout.splitlines()] == [line["id"]]

    inc = cli.invoke(app, ["incidents", "list", "--json"])
    (incident,) = [json.loads(x) for x in inc.stdout.splitlines()]
    assert incident["id"] == line["incident_id"] and incident["playbook_id"] == "unauthorised-login"
    shown = cli.invoke(app, ["incidents", "show", incident["id"]])
    assert "confirm-scope" in shown.output

    rep = cli.invoke(app, ["report", "incident", incident["id"], "--lang", "ja", "--format", "html"])
    assert rep.exit_code == 0, rep.output
    path = Path(rep.stdout.strip())
    assert path.parent == settings.out_dir and "CISO向けインシデント報告書" in path.read_text()


def test_bad_time_and_unknown_ids_are_clear_errors(cli: CliRunner) -> None:
    res = cli.invoke(app, ["detect", "--from", "2026-11-23T00:00:00", "--to", "2026-11-24T00:00:00Z"])
    assert res.exit_code == 1 and "--from" in res.output and "has no zone" in res.output
    res = cli.invoke(app, ["incidents", "show", "INC-NOPE"])
    assert res.exit_code == 1 and "no incident 'INC-NOPE'" in res.output
    res = cli.invoke(
        app, ["detect", "--from", "2026-11-23T00:00:00Z", "--to", "2026-11-23T01:00:00Z", "--detector", "nope"]
    )
    assert res.exit_code == 1 and "unknown detector id(s): nope" in res.output


def test_es_up_refuses_a_remote_url(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOC_ES_URL", "https://es.city.example:9200")
    res = cli.invoke(app, ["es", "up"])
    assert res.exit_code == 1 and "manages only a local node" in res.output


def test_simulate_help_names_every_scenario() -> None:
    from soc.simulate.catalog import SCENARIOS

    out = CliRunner().invoke(app, ["simulate", "--help"], terminal_width=200).output
    assert all(name in out for name in SCENARIOS)


def test_alert_triage_and_status_through_the_cli(
    cli: CliRunner, ctx: AppContext, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    index(ctx, [auth_failure(t, "t.ono", "10.20.1.44") for t in spread(T0, 25, timedelta(seconds=12))])
    cli.invoke(app, ["detect", "--from", "2026-11-23T00:00:00Z", "--to", "2026-11-23T01:00:00Z", "--no-escalate"])
    (alert,) = [json.loads(x) for x in cli.invoke(app, ["alerts", "list", "--json"]).stdout.splitlines()]
    assert alert["status"] == "open"

    monkeypatch.setenv("SOC_ACTOR", "operator-7")
    ack = cli.invoke(app, ["alerts", "ack", alert["id"], "--note", "looking"])
    assert ack.exit_code == 0 and "acknowledged by operator-7" in ack.output
    refused = cli.invoke(app, ["alerts", "close", alert["id"]])
    assert refused.exit_code != 0 and "--reason" in refused.output
    closed = cli.invoke(app, ["alerts", "close", alert["id"], "--reason", "benign", "--by", "lead", "--json"])
    assert json.loads(closed.stdout)["close_reason"] == "benign"
    again = cli.invoke(app, ["alerts", "ack", alert["id"]])
    assert again.exit_code == 1 and "allowed next: none" in again.output
    shown = json.loads(cli.invoke(app, ["alerts", "show", alert["id"], "--json"]).stdout)
    assert (shown["acknowledged_by"], shown["closed_by"], shown["triage_note"]) == ("operator-7", "lead", "looking")
    assert cli.invoke(app, ["alerts", "list", "--status", "open", "--json"]).stdout == ""

    # a backtest moves no watermark: every detector has never run live
    status = [json.loads(x) for x in cli.invoke(app, ["status", "--json"]).stdout.splitlines()]
    assert len(status) == len(detector_files(REPO / "detectors"))
    assert {s["health"] for s in status} == {"never run"}
    assert "no scheduler is running" in " ".join(cli.invoke(app, ["status"]).stdout.split())
