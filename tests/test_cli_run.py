"""``soc run`` in the foreground: each new alert and incident at once, one status line per
cycle, nothing with ``-q``, and no terminal codes when piped."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from soc.cli.run_cmd import RunMonitor
from soc.clock import ManualClock
from soc.config import Settings
from soc.context import AppContext
from soc.detection.loader import load_detectors
from soc.detection.state import RunState, RunStateStore
from soc.playbooks.loader import load_playbooks
from soc.runtime.scheduler import DetectorScheduler
from tests.eventgen import auth_failure, index, spread

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
HOSTILE = "s.abe\x1b[2J\u202e[bold]x[/]"


def test_monitor_prints_each_new_alert_and_incident_and_a_status_line_per_cycle(ctx: AppContext) -> None:
    index(
        ctx,
        [
            auth_failure(t, HOSTILE, "198.51.100.23")
            for t in spread(T0 + timedelta(minutes=5), 25, timedelta(seconds=12))
        ],
    )
    live = AppContext(settings=ctx.settings, es=ctx.es, clock=ManualClock(T0 + timedelta(minutes=31)))
    detectors = [d for d in load_detectors(REPO / "detectors") if d.id == "failed-login-burst"]
    RunStateStore(ctx.es).save(RunState(detector="failed-login-burst", watermark=T0))
    out = io.StringIO()
    monitor = RunMonitor(Console(file=out, width=100, highlight=False))
    sched = DetectorScheduler(live, detectors=detectors, playbooks=load_playbooks(REPO / "playbooks"), observer=monitor)
    try:
        assert sched.tick("failed-login-burst")
        assert sched.csirt_tick() is not None
        assert sched.tick("failed-login-burst")  # nothing new: no alert line, and the next cycle says so
        sched.csirt_tick()
    finally:
        sched.shutdown()
    lines = out.getvalue().splitlines()
    [alert_line] = [x for x in lines if x.startswith("alert ")]
    [incident_line] = [x for x in lines if x.startswith("incident ")]
    cycles = [x for x in lines if " cycle: " in x]
    assert "high" in alert_line or "medium" in alert_line
    assert "failed-login-burst" in alert_line and "source.ip=198.51.100.23" in alert_line and "count=25" in alert_line
    assert "\\x1b[2J\\u202e[bold]x[/]" in alert_line  # the hostile name shown, not obeyed
    assert incident_line.startswith("incident INC-20261123-") and " opened (alert A-" in incident_line
    assert len(cycles) == 2 and len(lines) == 4  # one line per cycle: no wrapping at 100 columns either
    assert "1 detector run(s), 0 not run, lag ≤ " in cycles[0]
    assert "1 new alert(s), 0 extended, 1 incident(s) opened" in cycles[0]
    assert "0 new alert(s), 0 extended, 0 incident(s) opened" in cycles[1]
    assert lines.index(alert_line) < lines.index(cycles[0])  # alerts as they come, the summary after
    assert not any(ch in out.getvalue() for ch in "\x1b\u202e")


def _run(settings: Settings, *args: str, until: str) -> tuple[str, str]:
    """``soc run`` piped, stopped with SIGTERM once *until* appeared (on stdout, else on the
    log) or after 90 s."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    env |= {"SOC_ES_URL": settings.es_url, "SOC_INDEX_PREFIX": settings.index_prefix,
            "SOC_OUT_DIR": str(settings.out_dir), "SOC_DATA_DIR": str(settings.data_dir)}  # fmt: skip
    soc = str(Path(sys.executable).parent / "soc")
    proc = subprocess.Popen([soc, "-v", "run", *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    seen: list[str] = []
    try:
        stream = proc.stderr if "-q" in args else proc.stdout
        assert stream is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = stream.readline()
            seen.append(line)
            if until in line or not line:
                break
        time.sleep(3)  # a quiet run has had its first cycle too
        proc.send_signal(signal.SIGTERM)
        stdout, log = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    if "-q" in args:
        log = "".join(seen) + log
    else:
        stdout = "".join(seen) + stdout
    assert proc.returncode == 0, log
    return stdout, log


def test_soc_run_piped_prints_plain_status_lines_and_q_silences_them(settings: Settings, ctx: AppContext) -> None:
    stdout, log = _run(settings, until=" cycle: ")
    assert " cycle: " in stdout and "detector run(s)" in stdout, (stdout, log)
    assert "\x1b" not in stdout and "\x1b" not in log  # no colour or cursor codes when piped
    quiet, log = _run(settings, "-q", until="scheduler ")
    assert quiet == "" and "scheduler stopped" in log
