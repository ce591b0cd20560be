"""bench/faults.py as a long test (``pytest -m slow``): a simulated half day through three
real schedulers with SIGKILLs, SIGSTOPs, a misbehaving webhook and SMTP outages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_faults_bench_loses_and_duplicates_nothing(es_url: str) -> None:
    args = ["--hours", "12", "--kills", "15", "--es-url", es_url, "--timeout", "900"]
    proc = subprocess.run([sys.executable, "bench/faults.py", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=1200)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = dict(line.rsplit("  ", 1) for line in proc.stdout.splitlines() if "  " in line)
    figures = {k.strip(): v.strip() for k, v in figures.items()}
    assert figures["alerts missed / duplicated / extra (by id)"] == "0 / 0 / 0"
    assert figures["alerts missed / duplicated / extra (by detector+entity)"] == "0 / 0 / 0"
    assert figures["webhook: a notification under two keys"] == "0"
    assert figures["webhook: announcements missed / extra"] == "0 / 0"
    assert figures["smtp: announcements missed"] == "0"
    # incidents are printed, not asserted: their placement race is issue 10 section 1's
