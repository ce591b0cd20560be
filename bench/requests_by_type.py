#!/usr/bin/env python3
"""Where one soc backtest's time goes, by request type: the soc side of bench/vs_elastalert.py.

    .venv/bin/python bench/requests_by_type.py --day-prefix bench-XXXXXXXX [--rule failed-login-burst] [--runs 3]

Runs the detector over the benchmark day (``bench/detect.py``'s END, 24 h) indexed under
``--day-prefix`` by ``bench/vs_elastalert.py --index-only``, writing alerts under a fresh
prefix of its own (its alerts and locks indices made before the first run, untimed, and
the alerts index emptied between runs), and prints per run the wall time of the backtest
and, per request type (method and path with index and id replaced by ``*``), the count,
the summed wall time and the summed Elasticsearch ``took``. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import detect as day_bench  # noqa: E402  (bench/detect.py: the day's END and HOURS)
import elastic_transport  # noqa: E402

from soc.config import load_settings  # noqa: E402
from soc.context import AppContext  # noqa: E402
from soc.detection.engine import DetectionEngine  # noqa: E402
from soc.detection.loader import load_detectors  # noqa: E402
from soc.es.indices import ensure_ready  # noqa: E402

_stats: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0])


def _kind(method: str, target: str) -> str:
    parts = target.split("?")[0].split("/")
    return method + " " + "/".join(p if p.startswith("_") or i == 0 else "*" for i, p in enumerate(parts))


def _meter() -> None:
    original = elastic_transport.Transport.perform_request

    def perform_request(self: Any, method: str, target: str, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        result = original(self, method, target, *args, **kwargs)
        row = _stats[_kind(method, target)]
        row[0] += 1
        row[1] += time.perf_counter() - began
        body = getattr(result, "body", None)
        if isinstance(body, dict) and isinstance(body.get("took"), int):
            row[2] += body["took"]
        return result

    elastic_transport.Transport.perform_request = perform_request  # type: ignore[method-assign]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--day-prefix", required=True)
    parser.add_argument("--rule", default="failed-login-burst")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--es-url", default="http://127.0.0.1:9200")
    args = parser.parse_args()
    _meter()
    prefix = "bench-req-" + uuid.uuid4().hex[:8]
    base = load_settings(es_url=args.es_url, index_prefix=prefix, detectors_dir=REPO / "detectors")
    datasets = {name: [p.replace("{prefix}", args.day_prefix) for p in pats] for name, pats in base.datasets.items()}
    ctx = AppContext.from_settings(base.model_copy(update={"datasets": datasets}))
    detector = next(d for d in load_detectors(base.detectors_dir) if d.id == args.rule)
    end = day_bench.END
    start = end - timedelta(hours=day_bench.HOURS)
    ensure_ready(ctx.es)
    client = ctx.es.client
    client.options(ignore_status=400).indices.create(index=f"{prefix}-locks")
    try:
        for n in range(args.runs):
            client.options(ignore_status=404).indices.delete(index=f"{prefix}-alerts")
            client.options(ignore_status=400).indices.create(index=f"{prefix}-alerts")
            _stats.clear()
            began = time.perf_counter()
            report = DetectionEngine(ctx).backtest(detector, start, end)
            wall = time.perf_counter() - began
            print(f"run {n + 1}: {wall:.3f} s, {len(report.created)} created, {len(report.extended)} extended")
            for kind, (count, secs, took) in sorted(_stats.items(), key=lambda kv: -kv[1][1]):
                each = secs * 1000 / count
                print(f"  {kind:28} {int(count):3} × {each:7.1f} ms = {secs * 1000:7.1f} ms, took {took:.0f} ms")
    finally:
        client.options(ignore_status=404).indices.delete(index=f"{prefix}-*")
        client.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}-*")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
