#!/usr/bin/env python3
"""Benchmark: the live scheduler with many detectors at a 1-minute interval (issue 14).

    .venv/bin/python bench/detect_many.py [--detectors 1000] [--minutes 5] [--workers 4]
        [--es-url URL] [--keep] [--exclude-kinds beacon] [--batch-threads 4]

1. Indexes the last 24 hours of the simulated city (``soc.simulate``) under a fresh prefix.
2. Generates ``--detectors`` variants of the shipped, enabled detectors (``<id>-v<n>``,
   every kind, each with ``schedule.interval`` = 1 minute and its own thresholds nudged
   up by ``n mod 3``), so no two are the same query.
3. Runs the real scheduler (``soc.runtime.scheduler.DetectorScheduler``: detectors in
   shards, one lease and one apscheduler job per shard, fenced run state read and saved
   per shard, ``Pipeline.run_live`` for each due detector, one escalation per shard tick)
   in this process for ``--minutes`` minutes, and records every detector run.
4. Prints the lag of every run after the first ``--warmup`` minutes (default 1; warm-up:
   leases taken, first runs; with 2, also each brand-new detector's second run, which
   evaluates the windows of its late-log allowance that its first run, covering only the
   latest window, never did — a one-off per new detector: a restarted scheduler resumes
   from stored watermarks and arrivals snapshots and does not pay it again): from its
   shard job's scheduled fire time to the end of the detector's run (the wait for a free
   worker, the runs before it in the shard, and its own run), p50 / p95 / p99 / max, with
   runs per minute, requests by type, Σ ``took``, fires apscheduler missed, detectors that
   got fewer runs than minutes, and peak RSS.
   Target (issue 14): p99 < 10 s.

Figures, not assertions: see bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def variants(detectors: list[Any], n: int) -> list[Any]:
    """*n* distinct detectors at a 1-minute interval, cycling through the shipped ones."""
    out = []
    for i in range(n):
        base = detectors[i % len(detectors)]
        schedule = base.schedule.model_copy(update={"interval": timedelta(minutes=1)})
        update: dict[str, Any] = {"id": f"{base.id}-v{i}", "schedule": schedule}
        cond = getattr(base, "condition", None)
        if cond is not None and getattr(cond, "count", None) is not None and i % 3:
            update["condition"] = cond.model_copy(
                update={"count": cond.count.model_copy(update={"gte": cond.count.gte + i % 3})}
            )
        out.append(base.model_copy(update=update))
    return out


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detectors", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="minutes not counted at the start (default 1; see step 4)"
    )
    parser.add_argument("--workers", type=int, default=4, help="detector threads (the scheduler's default: 4)")
    parser.add_argument("--es-url", default="http://127.0.0.1:9200")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--batch-threads", type=int, default=4, help="detectors of one shard run at a time (default 4)")
    parser.add_argument("--exclude-kinds", default="", help="kinds left out of the variants, e.g. beacon")
    args = parser.parse_args()

    import elastic_transport
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED

    from soc.config import load_settings
    from soc.context import AppContext
    from soc.detection.loader import load_detectors
    from soc.playbooks.loader import load_playbooks
    from soc.runtime.scheduler import DetectorScheduler, lease_job_for
    from soc.simulate.run import simulate

    logging.basicConfig(level=logging.WARNING)
    meter = {"requests": 0, "took_ms": 0}
    by_kind: Counter[str] = Counter()  # requests by method and API, after the warm-up
    original = elastic_transport.Transport.perform_request
    warm_at = [float("inf")]

    def perform_request(self: Any, method: str, target: str, *a: Any, **kw: Any) -> Any:
        result = original(self, method, target, *a, **kw)
        meter["requests"] += 1
        if time.time() >= warm_at[0]:
            api = next((p for p in reversed(target.split("?")[0].split("/")) if p.startswith("_")), "other")
            index = target.split("?")[0].split("/")[1].rsplit("-", 1)[-1] if target.count("/") > 1 else ""
            by_kind[f"{method} {index}/{api}"] += 1
        body = getattr(result, "body", None)
        if isinstance(body, dict) and isinstance(body.get("took"), int):
            meter["took_ms"] += body["took"]
        return result

    elastic_transport.Transport.perform_request = perform_request  # type: ignore[method-assign]

    prefix = f"bench-many-{uuid.uuid4().hex[:8]}"
    settings = load_settings(es_url=args.es_url, index_prefix=prefix, detectors_dir=REPO / "detectors")
    ctx = AppContext.from_settings(settings)
    print(f"date             {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    load = os.getloadavg()
    print(f"machine          {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()},"
          f" load {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}")  # fmt: skip
    began = time.perf_counter()
    now = datetime.now(UTC)
    simulate(ctx.es, end=now, hours=24, seed=7, segments=ctx.segments, history_days=0)
    ctx.es.refresh(f"{prefix}-*")
    print(f"events           the last 24 hours of the simulated city indexed in {time.perf_counter() - began:.0f} s")

    left_out = {k for k in args.exclude_kinds.split(",") if k}
    shipped = [d for d in load_detectors(settings.detectors_dir) if d.kind not in left_out]
    detectors = variants(shipped, args.detectors)
    kinds: dict[str, int] = {}
    for d in detectors:
        kinds[d.kind] = kinds.get(d.kind, 0) + 1
    mix = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    print(f"detectors        {len(detectors):,} variants of {len(shipped)} shipped ({mix}), every 1 min")
    playbooks = load_playbooks(settings.playbooks_dir, detector_ids=None)
    sched = DetectorScheduler(
        ctx, detectors=detectors, playbooks=playbooks, workers=args.workers, batch_threads=args.batch_threads
    )

    runs: list[tuple[float, str, float, float, int, int]] = []  # (wall done, detector, lag s, run s, windows, quiet)
    missed_fires: list[str] = []
    lock = threading.Lock()
    took_by_kind: Counter[str] = Counter()  # ES took (ms) of the runs' own queries, by kind
    run_live = sched.pipeline.run_live
    # runs of each shard job's current execution: (wall done, detector, run s, windows, quiet)
    pending: dict[str, list[tuple[datetime, str, float, int, int]]] = {}

    def timed(detector: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        result = run_live(detector, **kwargs)
        windows = sum(r.windows for r in result.reports)
        quiet = sum(r.quiet for r in result.reports)
        took_by_kind[detector.kind] += sum(r.took_ms for r in result.reports)
        with lock:
            pending.setdefault(lease_job_for(detector.id), []).append(
                (datetime.now(UTC), detector.id, time.perf_counter() - t0, windows, quiet)
            )
        return result

    def on_event(event: Any) -> None:
        if event.job_id not in jobs:
            return
        if event.code == EVENT_JOB_MISSED:
            with lock:
                missed_fires.append(event.job_id)
            return
        with lock:  # the shard's execution is over: each of its runs' lag from the shard's fire time
            for done, detector_id, run_s, windows, quiet in pending.pop(event.job_id, []):
                lag = (done - event.scheduled_run_time).total_seconds()
                runs.append((done.timestamp(), detector_id, lag, run_s, windows, quiet))

    jobs = {lease_job_for(d.id) for d in detectors}
    ids = {d.id for d in detectors}
    sched.pipeline.run_live = timed  # type: ignore[method-assign]
    sched._scheduler.add_listener(on_event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    started = time.time()
    warm_at[0] = started + args.warmup * 60
    sched.start()
    try:
        time.sleep(args.minutes * 60)
    finally:
        sched.shutdown(wait=True)
    warm = started + args.warmup * 60
    steady = [r for r in runs if r[0] >= warm]
    lags = [r[2] for r in steady]
    span_min = (time.time() - warm) / 60
    per_job: dict[str, int] = {}
    for r in steady:
        per_job[r[1]] = per_job.get(r[1], 0) + 1
    starved = sum(1 for j in ids if per_job.get(j, 0) < int(span_min) - 1)
    print(f"\n### {len(detectors):,} detectors at 1 min in {len(jobs)} shards, {args.workers} worker threads"
          f" x {args.batch_threads} per shard,"
          f" {args.minutes:g} min"
          f" (first {args.warmup:g} min = warm-up, not counted)")  # fmt: skip
    print("lag = from the run's scheduled fire time to the end of the run (queueing + the run itself)")
    print("| runs | runs/min | lag p50 s | p95 s | p99 s | max s | run p50 s | windows/run | requests/run |"
          " quiet/run | Σ took s | fires missed | detectors short of runs | peak RSS MB |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {len(steady):,} | {len(steady) / span_min:,.0f} | {pct(lags, 50):.1f} | {pct(lags, 95):.1f} |"
          f" {pct(lags, 99):.1f} | {max(lags, default=float('nan')):.1f} | {pct([r[3] for r in steady], 50):.2f} |"
          f" {statistics.mean([r[4] for r in steady]) if steady else 0:.1f} |"
          f" {meter['requests'] / max(1, len(runs)):.1f} |"
          f" {statistics.mean([r[5] for r in steady]) if steady else 0:.1f} |"
          f" {meter['took_ms'] / 1000:.1f} | {len(missed_fires)} |"
          f" {starved} | {_hwm_mb():.0f} |")  # fmt: skip
    total = sum(by_kind.values())
    top = ", ".join(f"{k} {v / span_min:,.0f}/min ({v / total:.0%})" for k, v in by_kind.most_common(10))
    print(f"requests after the warm-up: {total:,} ({total / span_min:,.0f}/min): {top}")
    kind_of = {d.id: d.kind for d in detectors}
    by_kind_s: Counter[str] = Counter()
    for r in steady:
        by_kind_s[kind_of[r[1]]] += r[3]
    busy = sum(by_kind_s.values())
    print(f"run time after the warm-up: {busy:,.0f} s ({busy / span_min:,.0f} s/min, {args.workers} workers): "
          + ", ".join(f"{k} {v:,.0f} s ({v / busy:.0%})" for k, v in by_kind_s.most_common()))  # fmt: skip
    took = sum(took_by_kind.values()) or 1
    print("ES took of the runs' queries (whole bench): "
          + ", ".join(f"{k} {v / 1000:,.0f} s ({v / took:.0%})" for k, v in took_by_kind.most_common()))  # fmt: skip
    load = os.getloadavg()
    print(f"load at the end  {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}")
    print(f"target p99 < 10 s: {'met' if pct(lags, 99) < 10 else 'NOT met'}")
    if not args.keep:
        ctx.es.delete_indices(f"{prefix}-*")
        ctx.es.client.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}-*")


if __name__ == "__main__":
    main()
