"""``soc alerts list`` as an operator uses it: newest first, filters, cursor paging, full ids
at 80 and 120 columns, and unique id prefixes accepted by every alert command."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from soc.alerts.models import Alert
from soc.alerts.store import AlertStore
from soc.cli.main import app
from soc.config import Settings
from soc.context import AppContext
from soc.es.indices import event_index
from soc.vocab import iso
from tests.webseed import T0, make_alert, put_alerts

REPO = Path(__file__).resolve().parent.parent


def _seed(ctx: AppContext) -> list[Alert]:
    """Seven alerts, one recorded every ten minutes (the last is the newest)."""
    alerts = [
        make_alert("failed-login-burst", {"user.name": "s.abe", "source.ip": "198.51.100.23"}, minutes=0),
        make_alert("failed-login-burst", {"user.name": "t.ono", "source.ip": "198.51.100.24"}, minutes=10),
        make_alert("password-spray", {"source.ip": "10.3.17.9"}, minutes=20, severity="medium"),
        make_alert("new-host-logon", {"user.name": "s.abe", "host.name": "ws-kaikei-01"}, minutes=30, severity="low"),
        make_alert("port-scan", {"source.ip": "10.3.40.2"}, minutes=40),
        make_alert("failed-login-burst", {"user.name": "k.sato", "source.ip": "203.0.113.5"}, minutes=50),
        make_alert("password-spray", {"source.ip": "203.0.113.9"}, minutes=60, severity="critical"),
    ]
    put_alerts(ctx, alerts)
    return alerts


def _ids(cli: CliRunner, *args: str) -> list[str]:
    res = cli.invoke(app, ["alerts", "list", *args, "--json"])
    assert res.exit_code == 0, res.output
    return [json.loads(line)["id"] for line in res.stdout.splitlines()]


def test_newest_first_with_filters(cli: CliRunner, ctx: AppContext) -> None:
    alerts = _seed(ctx)
    newest_first = [a.id for a in reversed(alerts)]
    assert _ids(cli) == newest_first
    assert _ids(cli, "--user", "s.abe") == [alerts[3].id, alerts[0].id]
    assert _ids(cli, "--ip", "10.3.17.9") == [alerts[2].id]
    assert _ids(cli, "--ip", "10.3.0.0/16") == [alerts[4].id, alerts[2].id]  # a network in CIDR form
    assert _ids(cli, "--host", "ws-kaikei-01") == [alerts[3].id]
    assert _ids(cli, "--severity", "critical") == [alerts[6].id]
    assert _ids(cli, "--detector", "failed-login-burst", "--user", "t.ono") == [alerts[1].id]
    assert _ids(cli, "--status", "open") == newest_first and _ids(cli, "--status", "closed") == []
    # active since: last seen at or after; make_alert's alerts last five minutes
    since = iso(T0 + timedelta(minutes=52))
    assert _ids(cli, "--since", since) == [alerts[6].id, alerts[5].id]
    assert _ids(cli, "--until", iso(T0 + timedelta(minutes=3))) == [alerts[0].id]

    bad = cli.invoke(app, ["alerts", "list", "--ip", "10.3.17"])
    assert bad.exit_code == 1 and "not an IP address or network: '10.3.17'" in bad.output
    bad = cli.invoke(app, ["alerts", "list", "--since", "yesterday"])
    assert bad.exit_code == 1 and "--since" in bad.output and "24h" in bad.output
    recent = cli.invoke(app, ["alerts", "list", "--since", "24h", "--json"])  # T0 is days ago: none active since
    assert recent.exit_code == 0 and recent.stdout == ""


def test_since_and_until_take_every_duration_soc_reads(cli: CliRunner, ctx: AppContext) -> None:
    """--since/--until read durations as detectors do (``soc.vocab.parse_duration``): seconds,
    any case, a space before the unit; an ISO time still works and nonsense names the option."""
    alerts = _seed(ctx)
    everything = [a.id for a in reversed(alerts)]
    assert _ids(cli, "--until", "90s") == everything  # first seen at or before 90 s ago
    assert _ids(cli, "--since", "5200W") == everything  # a century back, upper-case unit
    assert _ids(cli, "--since", " 5200 w ", "--until", "30 M") == everything
    assert _ids(cli, "--since", "90s") == []  # T0 is days ago: nothing active in the last 90 s
    bad = cli.invoke(app, ["alerts", "list", "--until", "90x"])
    assert bad.exit_code == 1 and "--until" in bad.output and "not an ISO 8601 time" in bad.output


def test_cursor_paging_covers_every_alert_once(cli: CliRunner, ctx: AppContext) -> None:
    alerts = _seed(ctx)
    seen: list[str] = []
    args = ["alerts", "list", "--limit", "3"]
    pages = 0
    while True:
        res = cli.invoke(app, args, terminal_width=120)
        assert res.exit_code == 0, res.output
        pages += 1
        seen += re.findall(r"A-[0-9a-f]{20}", res.output.split("shown of")[0])
        assert "shown of 7 alert(s), newest first" in res.output
        older = [line for line in res.output.splitlines() if line.startswith("older: ")]
        if not older:
            break
        cursor = older[0].split("--after ")[1]
        args = ["alerts", "list", "--limit", "3", "--after", cursor]
    assert pages == 3 and seen == [a.id for a in reversed(alerts)]
    # back from the last page: --before gives the page newer than it
    newer = [line for line in res.output.splitlines() if line.startswith("newer: ")]
    back = _ids(cli, "--limit", "3", "--before", newer[0].split("--before ")[1])
    assert back == [a.id for a in reversed(alerts)][3:6]


def _listed(settings: Settings, columns: int) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    env |= {"SOC_ES_URL": settings.es_url, "SOC_INDEX_PREFIX": settings.index_prefix, "COLUMNS": str(columns)}
    proc = subprocess.run([str(Path(sys.executable).parent / "soc"), "alerts", "list"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_full_ids_at_80_and_120_columns(settings: Settings, ctx: AppContext) -> None:
    alerts = _seed(ctx)
    AlertStore(ctx.es).set_incident(alerts[6].id, "INC-20261127-0123abcd", now=T0)
    for columns in (80, 120, 200):
        out = _listed(settings, columns)
        lines = out.splitlines()
        for a in alerts:  # every id whole on one line, copyable
            assert any(a.id in line for line in lines), (columns, a.id, out)
        assert any("INC-20261127-0123abcd" in line for line in lines), out
        assert "7 shown of 7 alert(s), newest first" in out
    for columns in (80, 120):  # the id opens each alert's first line, which fits
        out = _listed(settings, columns)
        assert out.splitlines()[0].startswith(alerts[6].id)
        assert all(len(line) <= columns for line in out.splitlines() if line.startswith("A-"))
    wide = _listed(settings, 200)  # a table from 160 columns
    assert all(len(line) <= 200 for line in wide.splitlines())
    assert "incident" in wide.splitlines()[1]


def test_every_alert_command_takes_a_unique_prefix(cli: CliRunner, ctx: AppContext) -> None:
    alerts = _seed(ctx)
    target = alerts[4].id
    n = next(n for n in range(3, len(target)) if sum(a.id.startswith(target[:n]) for a in alerts) == 1)
    prefix = target[:n]

    shown = cli.invoke(app, ["alerts", "show", prefix.lower(), "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["id"] == target
    acked = cli.invoke(app, ["alerts", "ack", prefix, "--by", "op-1"])
    assert acked.exit_code == 0 and f"{target}: acknowledged by op-1" in acked.output
    closed = cli.invoke(app, ["alerts", "close", prefix[2:], "--reason", "benign", "--by", "op-1"])  # 'A-' optional
    assert closed.exit_code == 0 and f"{target}: closed (benign) by op-1" in closed.output

    ambiguous = cli.invoke(app, ["alerts", "show", "A-"])
    assert ambiguous.exit_code == 1 and "alert id prefix 'A-' matches 7 alerts" in ambiguous.output
    assert "type more characters of the id" in ambiguous.output
    missing = cli.invoke(app, ["alerts", "ack", "A-ffffffffffffffffffffff0"])
    assert missing.exit_code == 1 and "no alert id starts with" in missing.output


def test_show_events_prints_the_events_behind_the_alert_a_page_at_a_time(cli: CliRunner, ctx: AppContext) -> None:
    alert = make_alert("failed-login-burst", {"user.name": "s.abe", "source.ip": "198.51.100.23"})
    put_alerts(ctx, [alert])
    idx = event_index(ctx.es, "auth")
    for n in range(23):  # inside the alert's span; one more from another source
        at = (alert.start + timedelta(seconds=10 * n)).isoformat()
        doc = {"@timestamp": at, "event": {"outcome": "failure"}, "source": {"ip": "198.51.100.23"},
               "user": {"name": "s.abe"}, "message": f"try {n:02d}\nsecond line"}  # fmt: skip
        ctx.es.create(idx, f"e{n}", doc)
    ctx.es.create(idx, "other", {"@timestamp": alert.start.isoformat(), "source": {"ip": "192.0.2.1"},
                                 "user": {"name": "s.abe"}, "message": "not this one"})  # fmt: skip
    ctx.es.refresh(idx)
    first = cli.invoke(app, ["alerts", "show", alert.id[:10], "--events"])
    assert first.exit_code == 0, first.output
    assert "events behind it: 23 (showing 1-20)" in first.output
    assert "--- event 1 of 23" in first.output and "  source.ip: 198.51.100.23" in first.output
    assert "  message: try 00\\x0asecond line\n" in first.output  # a line break in a log stays on its line
    assert "try 20" not in first.output and "not this one" not in first.output
    assert f"more: soc alerts show {alert.id} --events --page 2" in first.output
    second = cli.invoke(app, ["alerts", "show", alert.id, "--events", "--page", "2", "--json"])
    data = json.loads(second.stdout)
    assert data["events_total"] == 23 and [e["message"][:6] for e in data["events"]] == ["try 20", "try 21", "try 22"]
