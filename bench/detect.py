#!/usr/bin/env python3
"""Benchmark: every shipped detector over a day of N simulated events, at two source-IP cardinalities.

    .venv/bin/python bench/detect.py [--events 5000000] [--seed 7] [--es-url URL]
                                     [--cardinality-factor 100] [--keep] [--profile DIR]

1. Builds a city big enough for ``--events`` events in 24 h (``build_city(seed,
   staff_count=...)``, the staff count calibrated on a 450-staff day), simulates the day
   with every attack scenario and bulk-indexes it through ``soc.es.ingest.index_events``
   (segment enrichment included) under the prefix ``bench-<hex>``.
2. Indexes the same day again (the simulator is deterministic), in a parallel thread,
   into ``bench-<hex>-x<factor>`` with every ``source.ip`` remapped onto a pool
   ``factor`` times larger: each address becomes one of ``factor`` variants, chosen by a
   hash of the address and a per-event salt (the event id). Private addresses stay
   private (10/8, 172.16/12, 192.168/16), public ones keep their first octet. The
   ``soc.*segment`` fields are computed from the original address before the remap (and
   ``index_events`` keeps fields already there), so each event's segments are unchanged.
   Event count and times are identical. (The local node has no reindex module, hence the
   second pass through the simulator rather than ``_reindex``.)
3. For each cardinality, runs every detector (``backtest`` over the 24 h, ``write=True``:
   alerts go to that prefix's alerts index) in one spawned child process and prints, per
   detector and in total: events scanned per second (events of the detector's dataset
   in the range / wall), wall time, the sum of Elasticsearch ``took``, the overhead
   ratio wall / took, windows, truncations, alerts and peak RSS.

Peak RSS is the child's own ``VmHWM`` (``/proc/self/status``), reset before each detector
through ``/proc/self/clear_refs`` so each detector's figure is its own; the total is the
maximum. (``ru_maxrss`` of a process spawned by a large parent can carry the parent's
high-water mark from before ``exec``; the reset makes the figures the detector's alone.)

Figures, not assertions: see bench/RESULTS.md. Indices and index templates are deleted
afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import platform
import resource
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# measure this checkout's ``soc`` (not whichever one the venv has installed); spawned
# children inherit sys.path, so they import the same code
sys.path.insert(0, str(REPO))
END = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)  # Tuesday noon JST: a full office day inside
HOURS = 24.0
CALIBRATION_STAFF = 450

# -- the detecting child --------------------------------------------------------------


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def detect_all(es_url: str, prefix: str, profile: str | None) -> dict[str, Any]:
    """Run in a spawned child: every detector over the range; figures per detector."""
    import cProfile
    import io
    import pstats

    from soc.config import load_settings
    from soc.context import AppContext
    from soc.detection.engine import DetectionEngine
    from soc.detection.loader import load_detectors

    settings = load_settings(es_url=es_url, index_prefix=prefix, detectors_dir=REPO / "detectors")
    ctx = AppContext.from_settings(settings)
    engine = DetectionEngine(ctx)
    detectors = load_detectors(settings.detectors_dir)
    start = END - timedelta(hours=HOURS)
    rng_query = {"range": {"@timestamp": {"gte": start.isoformat(), "lt": END.isoformat()}}}
    in_range = {ds: ctx.es.count(settings.dataset_indices(ds), rng_query) for ds in ("auth", "network")}
    resettable = _reset_peak()
    baseline_kb = _status_kb("VmRSS")
    rows = []
    profiler = cProfile.Profile() if profile else None
    for d in detectors:
        _reset_peak()
        began = time.perf_counter()
        if profiler:
            profiler.enable()
        report = engine.backtest(d, start, END, write=True)
        if profiler:
            profiler.disable()
        wall = time.perf_counter() - began
        rows.append(
            {
                "id": d.id,
                "kind": d.kind,
                "dataset": d.dataset,
                "events": in_range[d.dataset],
                "wall": wall,
                "took": report.took_ms / 1000,
                "windows": report.windows,
                "truncated": report.truncated,
                "alerts": len(report.created),
                "extended": len(report.extended),
                "peak_kb": _status_kb("VmHWM"),
            }
        )
    text = ""
    if profiler:
        out = Path(profile) / f"{prefix}.prof"
        out.parent.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(out)
        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).sort_stats("cumulative").print_stats(30)
        text = f"profile written to {out}\n" + buf.getvalue()
    ctx.es.close()
    return {
        "rows": rows,
        "baseline_kb": baseline_kb,
        "resettable": resettable,
        "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "profile": text,
    }


def run_child(es_url: str, prefix: str, profile: str | None) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(detect_all, es_url, prefix, profile).result()


# -- data -----------------------------------------------------------------------------


def staff_for(events: int, seed: int) -> tuple[int, float]:
    """Staff count whose simulated day holds about *events* events (linear in staff)."""
    from soc.simulate.run import generate

    docs, _ = generate(end=END, hours=HOURS, seed=seed)
    per_staff = sum(1 for _ in docs) / CALIBRATION_STAFF
    return max(CALIBRATION_STAFF, math.ceil(events / per_staff)), per_staff


def remap_ip(ip: str, salt: int, factor: int) -> str:
    """One of *factor* variants of *ip*, picked by *salt*: private stays private, public keeps its /8."""
    if ":" in ip:
        return ip
    h = int.from_bytes(hashlib.blake2b(f"{ip}|{salt % factor}".encode(), digest_size=4).digest(), "big")
    first, second = (int(x) for x in ip.split(".", 2)[:2])
    b, c, d = (h >> 16) & 255, (h >> 8) & 255, 1 + h % 254
    if first == 10:
        return f"10.{b}.{c}.{d}"
    if first == 172 and 16 <= second < 32:
        return f"172.{16 + (b & 15)}.{c}.{d}"
    if first == 192 and second == 168:
        return f"192.168.{c}.{d}"
    return f"{first}.{b}.{c}.{d}"


def widened(docs: Iterable[dict[str, Any]], segments: Any, factor: int) -> Iterator[dict[str, Any]]:
    """The same events with source.ip remapped; segment fields computed first, from the
    original address, so ``index_events`` keeps them (it only adds absent ones)."""
    from soc.network.segments import enrich_segments

    for doc in docs:
        src = doc.get("source")
        if isinstance(src, dict) and isinstance(src.get("ip"), str):
            enrich_segments(doc, segments)
            salt = zlib.crc32(str(doc["event"].get("id", "")).encode())
            src["ip"] = remap_ip(src["ip"], salt, factor)
        yield doc


def index_days(ctx: Any, ctx_wide: Any, staff: int, seed: int, factor: int) -> list[tuple[int, float]]:
    """Simulate the day for a city of *staff* twice (deterministic: the same events) and
    index it through ``index_events`` as is into *ctx* and widened into *ctx_wide*, the
    two streams in parallel threads (one waits on Elasticsearch while the other builds
    its chunk). Returns (docs, seconds) per stream."""
    import soc.simulate.run as run_mod
    from soc.es.ingest import index_events
    from soc.simulate.population import build_city

    original = run_mod.build_city
    city = build_city(seed, staff_count=staff)
    run_mod.build_city = lambda s: city  # type: ignore[assignment]
    done = [0]
    began = time.perf_counter()
    lock = threading.Lock()

    def progress(n: int) -> None:
        with lock:
            done[0] += n
            if done[0] % 1_000_000 == 0:
                el = time.perf_counter() - began
                print(f"  … {done[0]:>10,} indexed  {el:6.0f} s  {done[0] / el:8,.0f} docs/s", flush=True)

    def one(c: Any, wide: bool) -> tuple[int, float]:
        docs, _ = run_mod.generate(end=END, hours=HOURS, seed=seed)
        stream = widened(docs, c.segments, factor) if wide else docs
        report = index_events(c.es, stream, segments=c.segments, on_progress=progress)
        if report.rejected:
            raise RuntimeError(f"{len(report.rejected)} rejected, e.g. {report.rejected[:3]}")
        return report.indexed_total, report.seconds

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(one, ctx, False), pool.submit(one, ctx_wide, True)]
            return [f.result() for f in futures]
    finally:
        run_mod.build_city = original


def distinct_sources(ctx: Any) -> int:
    start = END - timedelta(hours=HOURS)
    body = {
        "size": 0,
        "query": {"range": {"@timestamp": {"gte": start.isoformat(), "lt": END.isoformat()}}},
        "aggs": {"ips": {"cardinality": {"field": "source.ip", "precision_threshold": 40000}}},
    }
    indices = ctx.settings.dataset_indices("auth") + ctx.settings.dataset_indices("network")
    return int(ctx.es.search(indices, body)["aggregations"]["ips"]["value"])


# -- report ---------------------------------------------------------------------------


def totals(result: dict[str, Any]) -> dict[str, Any]:
    rows = result["rows"]
    return {
        "id": "TOTAL",
        "kind": "",
        "events": sum(r["events"] for r in rows),
        "wall": sum(r["wall"] for r in rows),
        "took": sum(r["took"] for r in rows),
        "windows": sum(r["windows"] for r in rows),
        "truncated": sum(r["truncated"] for r in rows),
        "alerts": sum(r["alerts"] for r in rows),
        "peak_kb": max([result["baseline_kb"], *(r["peak_kb"] for r in rows)]),
    }


def _cells(r: dict[str, Any]) -> list[str]:
    over = f"{r['wall'] / r['took']:.2f}" if r["took"] else "—"
    return [
        f"{r['events'] / r['wall']:,.0f}",
        f"{r['wall']:.2f}",
        f"{r['took']:.2f}",
        over,
        f"{r['truncated']}",
        f"{r['alerts']}",
        f"{r['peak_kb'] / 1024:.0f}",
    ]


def print_table(results: list[tuple[str, dict[str, Any]]]) -> None:
    heads = ["events/s", "wall s", "took s", "wall/took", "trunc", "alerts", "peak MB"]
    labels = [label for label, _ in results]
    cols = [f"{h} {lab}" for h in heads for lab in labels]
    print("| detector | kind | windows | " + " | ".join(cols) + " |")
    print("|---|---|---:|" + "---:|" * len(cols))
    table = [[*res["rows"], totals(res)] for _, res in results]
    for i, first in enumerate(table[0]):
        cells = [_cells(t[i]) for t in table]
        merged = [cells[k][j] for j in range(len(heads)) for k in range(len(cells))]
        name = f"**{first['id']}**" if first["id"] == "TOTAL" else first["id"]
        print(f"| {name} | {first['kind']} | {first['windows']} | " + " | ".join(merged) + " |")


def machine() -> str:
    mem_kb = next(
        int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")
    )
    return (
        f"{platform.platform()} {platform.machine()}, {os.cpu_count()} cores, {mem_kb / 2**20:.0f} GB RAM, "
        f"Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000, help="events to simulate in the 24 h")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--es-url", default="http://127.0.0.1:9200")
    parser.add_argument("--cardinality-factor", type=int, default=100, help="source.ip pool multiplier")
    parser.add_argument("--keep", action="store_true", help="keep the indices and index templates")
    parser.add_argument("--profile", metavar="DIR", help="cProfile the detecting children; stats into DIR")
    args = parser.parse_args()

    from soc.config import load_settings
    from soc.context import AppContext

    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    wide = f"{prefix}-x{args.cardinality_factor}"

    def context(p: str) -> AppContext:
        return AppContext.from_settings(
            load_settings(es_url=args.es_url, index_prefix=p, detectors_dir=REPO / "detectors")
        )

    ctx, ctx_wide = context(prefix), context(wide)
    print(f"date             {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine          {machine()}")
    print(f"elasticsearch    {ctx.es.info()['version']['number']} at {args.es_url}")
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    print(f"soc              {Path(sys.modules['soc'].__file__ or '').parent} at {head.stdout.strip() or '?'}")
    print(f"prefixes         {prefix} (as simulated), {wide} (source.ip × {args.cardinality_factor})")
    try:
        began = time.perf_counter()
        staff, per_staff = staff_for(args.events, args.seed)
        print(
            f"city             {staff:,} staff ({per_staff:.0f} events/staff/day, {time.perf_counter() - began:.1f} s)"
        )
        (docs, sec1), (docs2, sec2) = index_days(ctx, ctx_wide, staff, args.seed, args.cardinality_factor)
        print(f"indexed          {docs:,} events in {sec1:.0f} s ({docs / sec1:,.0f} docs/s) as simulated, and"
              f" {docs2:,} in {sec2:.0f} s ({docs2 / sec2:,.0f} docs/s) widened, concurrently:"
              f" {(docs + docs2) / max(sec1, sec2):,.0f} docs/s together")  # fmt: skip
        d1, d2 = distinct_sources(ctx), distinct_sources(ctx_wide)
        print(f"distinct src IPs {d1:,} → {d2:,} (×{d2 / d1:.0f}, HyperLogLog estimate) in the 24 h")

        results = []
        for label, p in (("×1", prefix), (f"×{args.cardinality_factor}", wide)):
            began = time.perf_counter()
            res = run_child(args.es_url, p, args.profile)
            tot = totals(res)
            print(
                f"detection {label:5}  {len(res['rows'])} detectors, {tot['windows']:,} windows,"
                f" wall {tot['wall']:.1f} s, took {tot['took']:.1f} s, overhead {tot['wall'] / tot['took']:.2f},"
                f" peak RSS {tot['peak_kb'] / 1024:.0f} MB (child after imports {res['baseline_kb'] / 1024:.0f} MB;"
                f" child lifetime {time.perf_counter() - began:.0f} s)",
                flush=True,
            )
            if not res["resettable"]:
                print("  (could not reset VmHWM: per-detector peaks are running maxima)")
            if res["profile"]:
                print(res["profile"])
            results.append((label, res))
        print()
        print_table(results)
    finally:
        if args.keep:
            print(f"kept indices {prefix}-*")
        else:
            ctx.es.delete_indices(f"{prefix}-*")
            for name in (prefix, wide):
                ctx.es.client.options(ignore_status=404).indices.delete_index_template(name=f"{name}-*")
        ctx.es.close()
        ctx_wide.es.close()


if __name__ == "__main__":
    main()
