"""``soc simulate``: generate simulated municipal traffic with attack scenarios and index it."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from soc.cli.common import command, console, context, option_time
from soc.simulate.catalog import SCENARIOS
from soc.vocab import iso

__all__ = ["simulate"]


@command
def simulate(
    hours: Annotated[float, typer.Option(help="hours of traffic to generate")] = 24.0,
    end: Annotated[Optional[str], typer.Option(help="end of the range, ISO 8601 (default: now, to the hour)")] = None,  # noqa: UP045
    seed: Annotated[int, typer.Option(help="same seed, same documents")] = 7,
    scenario: Annotated[
        list[str] | None,
        typer.Option(
            "--scenario",
            help=f"inject only these: {', '.join(SCENARIOS)}",
        ),
    ] = None,
    baseline_only: Annotated[bool, typer.Option("--baseline-only", help="inject no attack")] = False,
    near_miss: Annotated[
        bool, typer.Option("--near-miss", help="inject each scenario's near miss instead (nothing may fire)")
    ] = False,
    history_days: Annotated[int, typer.Option(help="days of light office history before the range")] = 7,
    truth: Annotated[Optional[Path], typer.Option(help="write the ground truth here (JSON)")] = None,  # noqa: UP045
) -> None:
    """Generate simulated municipal traffic with attack scenarios and index it."""
    from soc.cli.progress import progress
    from soc.simulate.run import simulate as run_simulation

    ctx = context()
    end_at = option_time(end, "--end") if end else ctx.clock.now().replace(minute=0, second=0, microsecond=0)
    scenarios = [] if baseline_only else scenario
    with progress("simulating", unit="events") as advance:
        report = run_simulation(
            ctx.es,
            end=end_at,
            hours=hours,
            seed=seed,
            scenarios=scenarios,
            near_miss=near_miss,
            history_days=history_days,
            segments=ctx.segments,
            truth_path=truth,
            on_progress=advance,
        )
    console.print(
        f"{report.docs_written} events from {iso(end_at - timedelta(hours=hours))} to {iso(end_at)} "
        f"at {report.docs_per_second:,.0f} docs/s; {len(report.truth)} scenario(s) injected"
    )
    for rec in report.truth:
        console.print(f"  {rec.scenario}: {escape(json.dumps(rec.entities, ensure_ascii=False))}")
    if truth:
        console.print(f"ground truth written to {truth}")
