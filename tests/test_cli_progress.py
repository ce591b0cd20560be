"""Progress bars: with rate and ETA on a terminal, and not one byte of them when piped."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from soc.cli.progress import count_lines, progress
from soc.config import Settings
from soc.context import AppContext
from tests.eventgen import auth_failure, spread

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
SOC = str(Path(sys.executable).parent / "soc")


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    return env | {"SOC_ES_URL": settings.es_url, "SOC_INDEX_PREFIX": settings.index_prefix,
                  "SOC_OUT_DIR": str(settings.out_dir), "SOC_DATA_DIR": str(settings.data_dir),
                  "COLUMNS": "120", "TERM": "xterm-256color"}  # fmt: skip


def _events(path: Path, n: int) -> Path:
    times = spread(T0, n, timedelta(seconds=1))
    lines = [json.dumps(auth_failure(t, f"u{i % 50}", f"10.20.{i % 7}.{i % 200}")) for i, t in enumerate(times)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _on_a_terminal(args: list[str], env: dict[str, str], timeout: float = 180) -> str:
    """Run *args* with stdout and stderr on a pseudo-terminal; everything it drew."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env, cwd=REPO)
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


def test_ingest_piped_prints_exactly_its_summary(settings: Settings, ctx: AppContext, tmp_path: Path) -> None:
    events = _events(tmp_path / "events.ndjson", 3000)
    proc = subprocess.run([SOC, "ingest", str(events)], env=_env(settings), cwd=REPO, capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no bar, no final frame, no cursor codes
    assert proc.stdout.splitlines()[0] == (
        f"{events}: ecs (given): read 3000, indexed 3000, already present 0, skipped 0, rejected 0, "
        "conflicts 0, incomplete 0"
    )
    assert "\x1b" not in proc.stdout and "ETA" not in proc.stdout

    detect = subprocess.run([SOC, "detect", "--from", "2026-11-23T00:00:00Z", "--to", "2026-11-23T02:00:00Z",
                             "--json", "--no-escalate"], env=_env(settings), cwd=REPO, capture_output=True,
                            text=True, timeout=300, check=False)  # fmt: skip
    assert detect.returncode == 0, detect.stderr
    assert detect.stderr == ""
    assert all(json.loads(line)["id"].startswith("A-") for line in detect.stdout.splitlines())


def test_ingest_on_a_terminal_shows_a_bar_with_rate_and_eta(
    settings: Settings, ctx: AppContext, tmp_path: Path
) -> None:
    events = _events(tmp_path / "events.ndjson", 20000)
    drawn = _on_a_terminal([SOC, "ingest", str(events)], _env(settings))
    assert "read 20000, indexed 20000" in drawn, drawn[-2000:]
    assert "indexing" in drawn and "ETA" in drawn and "/20000" in drawn, drawn[-2000:]
    assert "lines/s" in drawn, drawn[-2000:]

    # a backtest over the day: a bar per detector, with the time left
    args = [SOC, "detect", "--from", "2026-11-23T00:00:00Z", "--to", "2026-11-24T00:00:00Z", "--no-escalate"]
    drawn = _on_a_terminal(args, _env(settings))
    assert "detecting 2026-11-23T00:00:00.000Z → 2026-11-24T00:00:00.000Z" in drawn, drawn[-2000:]
    assert "ETA" in drawn and "detector" in drawn, drawn[-2000:]

    # simulating: no total is known beforehand, so the count, the rate and the time spent
    args = [SOC, "simulate", "--hours", "1", "--end", "2026-11-24T03:00:00Z", "--history-days", "0", "--baseline-only"]
    drawn = _on_a_terminal(args, _env(settings))
    assert "simulating" in drawn and " events" in drawn and "0 scenario(s) injected" in drawn, drawn[-2000:]


def test_progress_draws_nothing_unless_enabled(capsys: object) -> None:
    with progress("work", total=10, enabled=False) as advance:
        advance(5)  # a no-op
    assert count_lines([REPO / "pyproject.toml"]) == (REPO / "pyproject.toml").read_text().count("\n")
    assert count_lines([REPO / "no-such-file"]) is None
