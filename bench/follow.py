#!/usr/bin/env python3
"""Benchmark: ``soc ingest --follow`` on one big auth.log — throughput and flat memory.

    .venv/bin/python bench/follow.py [--mb 1024] [--failed-every 50] [--es-url URL] [--keep]

Writes a syslog file of ``--mb`` megabytes (mostly CRON lines, which the sshd reader skips,
and one ``Failed password`` line every ``--failed-every`` lines, which it indexes), then
follows it once to its end with the real follower (``FollowOptions(once=True)``) into a
fresh ``bench-follow-<hex>`` prefix, sampling the process's resident memory every 0.5 s.
Prints lines/s, events indexed, and RSS at 10 %, 50 % and 100 % of the file with the peak
(``VmHWM``): memory stays at the size of one batch whatever the file size.

Figures, not assertions. Indices, templates and the file are removed unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from soc.collect.follower import Follower, FollowOptions
from soc.config import load_settings
from soc.context import AppContext


def rss_mb(key: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def write_log(path: Path, megabytes: int, failed_every: int) -> int:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    target = megabytes * 1024 * 1024
    written = lines = 0
    with path.open("w", encoding="utf-8") as fh:
        while written < target:
            chunk = []
            for _ in range(10_000):
                at = start + timedelta(seconds=lines // 20)
                stamp = f"{at:%b} {at.day:>2} {at:%H:%M:%S}"
                if lines % failed_every == 0:
                    msg = (
                        f"srv01 sshd[{1000 + lines % 9000}]: Failed password for user{lines % 97} "
                        f"from 203.0.113.{lines % 250} port {10000 + lines % 50000} ssh2"
                    )
                else:
                    msg = f"srv01 CRON[{lines % 30000}]: pam_unix(cron:session): session opened for user root #{lines}"
                chunk.append(f"{stamp} {msg}\n")
                lines += 1
            text = "".join(chunk)
            fh.write(text)
            written += len(text)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=1024)
    ap.add_argument("--failed-every", type=int, default=50)
    ap.add_argument("--es-url", default=os.environ.get("SOC_ES_URL", "http://127.0.0.1:9200"))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    prefix = "bench-follow-" + uuid.uuid4().hex[:8]
    settings = load_settings(es_url=args.es_url, index_prefix=prefix)
    ctx = AppContext.from_settings(settings)
    workdir = Path(tempfile.mkdtemp(prefix="soc-bench-follow-"))
    log = workdir / "auth.log"
    t0 = time.perf_counter()
    total_lines = write_log(log, args.mb, args.failed_every)
    size = log.stat().st_size
    print(f"wrote {size / 2**20:,.0f} MB, {total_lines:,} lines in {time.perf_counter() - t0:.0f} s to {log}")

    samples: list[tuple[float, float]] = []  # (fraction of the file read, RSS MB)
    follower = Follower(
        ctx.es,
        [log],
        segments=ctx.segments,
        tz=ZoneInfo("Asia/Tokyo"),
        options=FollowOptions(fmt="sshd", once=True, poll_seconds=0.1),
        now=lambda: datetime(2026, 11, 29, tzinfo=UTC),
    )
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            read = size - follower.stats.lag_bytes if follower.stats.files else 0
            samples.append((read / size, rss_mb()))

    sampler = threading.Thread(target=sample, daemon=True)
    began = time.perf_counter()
    sampler.start()
    try:
        stats = follower.run()
    finally:
        done.set()
        sampler.join()
    wall = time.perf_counter() - began

    def at(fraction: float) -> str:
        found = [mb for f, mb in samples if f >= fraction]
        return f"{found[0]:.0f} MB" if found else "n/a"

    print(f"lines {stats.lines:,} in {wall:.1f} s = {stats.lines / wall:,.0f} lines/s; indexed {stats.indexed:,}, "
          f"skipped {stats.skipped:,}, rejected {stats.rejected:,}, batches {stats.batches:,}")  # fmt: skip
    print(f"RSS at 10% {at(0.1)}, 50% {at(0.5)}, 100% {at(0.99)}; peak (VmHWM) {rss_mb('VmHWM'):.0f} MB")
    if not args.keep:
        ctx.es.client.options(ignore_status=404).indices.delete(index=f"{prefix}-*", expand_wildcards="all")
        ctx.es.client.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}-*")
        log.unlink()
        workdir.rmdir()
    ctx.es.close()


if __name__ == "__main__":
    main()
