"""``soc detect --strategy`` and the plan in ``--explain``, as a user types them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from soc.cli.main import app
from soc.context import AppContext
from tests.eventgen import auth_failure, index, spread

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
RANGE = ["--from", "2026-11-23T00:00:00Z", "--to", "2026-11-23T03:00:00Z", "--detector", "failed-login-burst"]


def test_explain_prints_the_plan_and_both_strategies_give_the_same_alerts(cli: CliRunner, ctx: AppContext) -> None:
    index(ctx, [auth_failure(t, "k.ito", "203.0.113.50") for t in spread(T0, 30, timedelta(seconds=20))])
    explained = cli.invoke(app, ["detect", *RANGE, "--explain"])
    assert explained.exit_code == 0, explained.output
    # 30 events: read, not aggregated
    assert "plan: failed-login-burst: one pass over the events (36 windows; 30 event(s) to read" in explained.output
    assert "30 event(s) fetched" in explained.output
    assert "of 36 window(s) can reach the threshold" in explained.output
    forced = cli.invoke(app, ["detect", *RANGE, "--explain", "--strategy", "windows"])
    assert "one aggregation per window (36 window(s)): forced" in forced.output

    seen = []
    for strategy in ("windows", "one-pass", "fetch"):
        ctx.es.client.options(ignore_status=404).indices.delete(index=f"{ctx.settings.index_prefix}-alerts")
        res = cli.invoke(app, ["detect", *RANGE, "--json", "--no-escalate", "--strategy", strategy])
        assert res.exit_code == 0, res.output
        seen.append(sorted((a["id"], a["count"]) for a in map(json.loads, res.stdout.splitlines())))
    assert seen[0] == seen[1] == seen[2] and [c for _, c in seen[0]] == [30]


def test_an_unknown_strategy_is_refused_with_the_choices(cli: CliRunner) -> None:
    res = cli.invoke(app, ["detect", *RANGE, "--strategy", "fastest"])
    assert res.exit_code != 0
    assert "--strategy" in res.output and "one-pass" in res.output and "fetch" in res.output
