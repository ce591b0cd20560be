"""One Elasticsearch outage, one line — across processes: several soc processes of one host
(schedulers side by side, the collector) that share the data directory's outage file log
the outage once, one summary per period and the recovery once, not once each."""

from __future__ import annotations

import json
import logging
import multiprocessing
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from soc.clock import ManualClock
from soc.es.outage import OUTAGE_FILE, OutageLog

T0 = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
PROCESSES = 4


class _Keep(logging.Handler):
    def __init__(self, sink: Any, who: int) -> None:
        super().__init__(logging.DEBUG)
        self.sink, self.who = sink, who

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.put((self.who, record.levelname, record.getMessage()))


def _worker(n: int, shared: str | None, barrier: Any, sink: Any) -> None:
    """One process: fails with every other at once, again after the summary period, then
    reaches Elasticsearch again."""
    logger = logging.getLogger(f"soc.test-shared-outage.{n}")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(_Keep(sink, n))
    outage = OutageLog(
        now=lambda: datetime.now(UTC), logger=logger, every=timedelta(seconds=1),
        shared=Path(shared) if shared else None,
    )  # fmt: skip
    barrier.wait()
    outage.failed(f"detector d{n}", "ConnectionError")
    barrier.wait()
    time.sleep(1.2)
    outage.failed(f"detector d{n}", "ConnectionError")
    barrier.wait()
    outage.succeeded()
    barrier.wait()


def _run(shared: Path | None) -> list[tuple[int, str, str]]:
    spawn = multiprocessing.get_context("spawn")
    barrier, sink = spawn.Barrier(PROCESSES), spawn.Queue()
    procs = [
        spawn.Process(target=_worker, args=(n, str(shared) if shared else None, barrier, sink))
        for n in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    lines = []
    while not sink.empty():
        lines.append(sink.get(timeout=5))
    return lines


def _at(lines: list[tuple[int, str, str]], level: str, start: str) -> list[str]:
    return [msg for _, lvl, msg in lines if lvl == level and msg.startswith(start)]


def test_processes_sharing_the_outage_file_log_one_outage_once(tmp_path: Path) -> None:
    shared = tmp_path / "data" / OUTAGE_FILE
    lines = _run(shared)
    assert len(_at(lines, "ERROR", "Elasticsearch unreachable (detector d")) == 1
    assert len(_at(lines, "DEBUG", "Elasticsearch unreachable (detector d")) == PROCESSES - 1
    assert all("already reported by" in m for m in _at(lines, "DEBUG", "Elasticsearch unreachable"))
    [summary] = _at(lines, "WARNING", "Elasticsearch still unreachable after")
    # the failures of every process so far: all of the first round, one or more of the second
    counted = re.search(rf": (\d+) failed run\(s\) of {PROCESSES} job\(s\)", summary)
    assert counted and PROCESSES < int(counted[1]) <= 2 * PROCESSES, summary
    [back] = _at(lines, "INFO", "Elasticsearch is back after")
    assert back.endswith(f"({2 * PROCESSES} failed run(s) of {PROCESSES} job(s))")
    assert not shared.exists()  # no outage on record once it is over
    # each process alone (no shared file): what the log looked like before, one outage per process
    alone = _run(None)
    assert len(_at(alone, "ERROR", "Elasticsearch unreachable")) == PROCESSES


def _log() -> tuple[logging.Logger, list[tuple[str, str]]]:
    records: list[tuple[str, str]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append((record.levelname, record.getMessage()))

    logger = logging.getLogger(f"soc.test-shared-outage.{len(logging.root.manager.loggerDict)}")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(Keep())
    return logger, records


def test_a_file_left_by_stopped_processes_does_not_hide_a_new_outage(tmp_path: Path) -> None:
    shared = tmp_path / OUTAGE_FILE
    old = T0 - timedelta(hours=5)
    shared.write_text(json.dumps({"since": old.isoformat(), "seen": old.isoformat(), "summary": old.isoformat(),
                                  "by": "gone:1", "runs": 7, "jobs": ["detector x"]}))  # fmt: skip
    clock = ManualClock(T0)
    logger, records = _log()
    outage = OutageLog(now=clock.now, logger=logger, shared=shared)
    outage.failed("detector a", "ConnectionError")
    assert records == [("ERROR", "Elasticsearch unreachable (detector a): ConnectionError; jobs retry with backoff")]
    clock.advance(timedelta(minutes=2))
    outage.succeeded()
    assert records[-1] == ("INFO", "Elasticsearch is back after 2m00s (1 failed run(s) of 1 job(s))")


def test_an_unusable_outage_file_only_costs_the_deduplication(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    damaged = tmp_path / OUTAGE_FILE
    damaged.write_text("{not json")
    for shared in (blocker / OUTAGE_FILE, damaged):
        clock = ManualClock(T0)
        logger, records = _log()
        outage = OutageLog(now=clock.now, logger=logger, shared=shared)
        outage.failed("detector a", "ConnectionError")
        clock.advance(timedelta(minutes=6))
        outage.failed("detector a", "ConnectionError")
        outage.succeeded()
        levels = [level for level, message in records if not message.startswith("outage file")]
        assert levels == ["ERROR", "WARNING", "INFO"], records
