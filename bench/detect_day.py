#!/usr/bin/env python3
"""Benchmark: simulate a day, then run every detector over it; print the figures.

    .venv/bin/python bench/detect_day.py [--hours 24] [--seed 7] [--es-url URL]

Prints: events indexed and the simulator's docs/s; for detection, windows evaluated,
wall time, the sum of Elasticsearch's own ``took``, our overhead ratio (wall / took),
events scanned per second and the peak RSS of this process. Uses its own index prefix
and deletes it afterwards. Figures, not assertions: see bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import resource
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from soc.config import load_settings
from soc.context import AppContext
from soc.detection.engine import DetectionEngine
from soc.detection.loader import load_detectors
from soc.simulate.run import simulate

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--es-url", default="http://127.0.0.1:9200")
    args = parser.parse_args()

    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    settings = load_settings(es_url=args.es_url, index_prefix=prefix, detectors_dir=REPO / "detectors")
    ctx = AppContext.from_settings(settings)
    end = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)  # Tuesday noon JST: a full office day inside
    start = end - timedelta(hours=args.hours)
    try:
        sim = simulate(ctx.es, end=end, hours=args.hours, seed=args.seed, segments=ctx.segments)
        print(f"machine          {platform.node()} {platform.machine()} python {platform.python_version()}")
        print(f"elasticsearch    {ctx.es.info()['version']['number']} at {args.es_url}")
        print(f"events indexed   {sim.docs_written:,}")
        print(f"simulator        {sim.docs_per_second:,.0f} docs/s ({sim.seconds:.1f} s, generation + bulk indexing)")

        engine = DetectionEngine(ctx)
        detectors = load_detectors(settings.detectors_dir)
        scanned = sum(ctx.es.count(settings.dataset_indices(d.dataset)) for d in detectors)
        began = time.perf_counter()
        took = windows = 0
        for d in detectors:
            report = engine.backtest(d, start, end)
            took += report.took_ms
            windows += report.windows
            print(f"  {d.id:20} {report.windows:4} windows  {report.duration_s:6.2f} s  took {report.took_ms:6} ms  "
                  f"alerts {len(report.created)}")  # fmt: skip
        wall = time.perf_counter() - began
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"detection        {len(detectors)} detectors, {windows} windows over {args.hours:g} h in {wall:.2f} s")
        print(f"es took (sum)    {took / 1000:.2f} s;  overhead wall/took = {wall / (took / 1000):.2f}")
        print(f"events scanned   {scanned:,} ({scanned / wall:,.0f} events/s of wall time; each event is seen by"
              " window/interval windows)")  # fmt: skip
        print(f"peak RSS         {rss_mb:.0f} MB (this process)")
    finally:
        ctx.es.delete_indices(f"{prefix}-*")
        ctx.es.client.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}-*")


if __name__ == "__main__":
    main()
