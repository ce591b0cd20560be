"""scheduler.py as an operator runs it: refuses bad definitions, stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from soc.config import Settings
from tests.definition_checks import invalid_fixture_errors

REPO = Path(__file__).resolve().parent.parent


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    env |= {"SOC_ES_URL": settings.es_url, "SOC_INDEX_PREFIX": settings.index_prefix} | extra
    return env


def test_refuses_to_start_listing_every_broken_definition(settings: Settings) -> None:
    env = _env(
        settings,
        SOC_DETECTORS_DIR=str(REPO / "tests/fixtures/invalid/detectors"),
        SOC_PLAYBOOKS_DIR=str(REPO / "tests/fixtures/invalid/playbooks"),
    )
    proc = subprocess.run([sys.executable, "scheduler.py"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert proc.returncode == 1
    assert f"{invalid_fixture_errors()} invalid definition(s)" in proc.stderr
    assert "unknown-key.yml" in proc.stderr and "unreachable.yml" in proc.stderr


def test_runs_then_stops_cleanly_on_sigterm(settings: Settings, ctx: object, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = _env(settings, SOC_OUT_DIR=str(out), SOC_SUMMARY='{"cron": "0 8 * * 1", "formats": ["md"]}')
    proc = subprocess.Popen([sys.executable, "scheduler.py"], cwd=REPO, env=env,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            lines.append(line)
            if "detector port-scan:" in line or "detector failed-login-burst:" in line:
                break  # started and ran at least one detector
        else:
            raise AssertionError("scheduler did not run a detector:\n" + "".join(lines))
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "received SIGTERM" in rest and "scheduler stopped" in rest
    started = "".join(lines)
    assert "the CSIRT job every 60s" in started and "summary on '0 8 * * 1' (Asia/Tokyo)" in started
    # the summary caught up the last Monday-to-Sunday week at start, and told the outbox
    assert len(list((out / "reports").glob("summary-*.ja.md"))) == 1
    assert len(list((out / "reports").glob("summary-*.en.md"))) == 1
    keys = [json.loads(p.read_text(encoding="utf-8"))["key"] for p in (out / "outbox").glob("*.json")]
    assert len(keys) == 1 and keys[0].startswith("summary:")


def test_sigterm_while_still_starting_is_a_clean_exit(settings: Settings) -> None:
    """bench/faults.py once saw -15: a scheduler stopped a moment after its start, while
    still importing. The operator's stop is a stop, whenever it comes."""
    proc = subprocess.Popen([sys.executable, "scheduler.py"], cwd=REPO, env=_env(settings),
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        time.sleep(0.3)  # the interpreter runs; soc's imports take about a second more
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
