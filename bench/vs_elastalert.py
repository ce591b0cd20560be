#!/usr/bin/env python3
"""Benchmark: soc against ElastAlert 2 on the same node, the same simulated day, the same rules.

    .venv/bin/python bench/vs_elastalert.py [--events 5000000] [--pairs 3] [--seed 7]
        [--rules failed-login-burst,password-spray,port-scan] [--es-url URL]
        [--distinct 1000000] [--sparse-weeks 6] [--ingest-events 200000]
        [--skip day,bound,distinct,sparse,ingest] [--keep] [--index-only | --day-prefix PREFIX]

1. Installs ElastAlert 2 (``elastalert2==2.19.0``) in its own virtualenv,
   ``bench/.ea2-venv`` (git-ignored), unless it is there already.
2. Indexes the benchmark day (``--events`` in 24 h, the city sized as in
   ``bench/detect.py``) through ``soc.es.ingest.index_events`` under a fresh prefix.
3. Writes, per soc detector, the equivalent ElastAlert 2 rule: ``frequency`` for a count
   condition, ``cardinality`` for a distinct condition; the same filter and exclusions
   (the bool query soc builds, without its time range), the same keys (``query_key``),
   thresholds (``num_events`` = gte, ``max_cardinality`` = gte - 1), timeframe (= the
   window), ``run_every`` and ``buffer_time`` = soc's interval, ``include`` limited to the
   needed fields, ``realert: 0`` (every match written), the ``debug`` alerter, and a
   writeback index of its own (``elastalert-create-index``).
4. Runs both tools interleaved (soc, EA2, soc, EA2, ... ``--pairs`` pairs) over the same
   range, each in a fresh process, alerts deleted before every run. Each child times
   itself in-process: imports, set-up, and the detection work (soc: ``backtest`` with
   alerts written; EA2: ``handle_rule_execution`` over ``--start``/``--end``, the path
   ``elastalert --start`` takes, alerts written to its writeback index); it counts HTTP
   requests and sums Elasticsearch ``took`` (both from the client's transport, the same
   way for both tools) and reports its peak RSS (``VmHWM``). The parent times the whole
   process. Per rule: wall (median and all), detection, requests, Σ took, peak RSS,
   alerts, and the attack entities each tool found or missed (against the simulator's
   truth), with the ratios.
5. Extras: with ``--day-prefix``, where fetching stops paying (port-scan over 5 to 80
   minutes and the burst rule over the day, the pass forced to aggregate and to fetch);
   one window holding ``--distinct`` distinct source addresses; a sparse backtest
   (one failed logon every 30 minutes for ``--sparse-weeks`` weeks against one day of the
   same density); ``soc ingest --format ecs`` against raw ``streaming_bulk`` on the
   same NDJSON file.

Σ took, request counts and windows are repeatable on a shared machine; wall times are not
(say so when recording them). Figures, not assertions: see bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
EA2_VENV = BENCH / ".ea2-venv"
EA2_VERSION = "2.19.0"
SOC_PYTHON = REPO / ".venv" / "bin" / "python"
DEFAULT_RULES = ("failed-login-burst", "password-spray", "port-scan")

# -- what both children share: counting requests and took at the transport ---------------


class _Meter:
    requests = 0
    took_ms = 0

    @classmethod
    def note(cls, result: Any) -> None:
        cls.requests += 1
        body = getattr(result, "body", result)
        if isinstance(body, tuple) and len(body) == 2:  # elasticsearch-py 7: (status, data)
            body = body[1]
        # an _msearch answer's own ``took`` covers its searches (run concurrently on the node)
        if isinstance(body, dict) and isinstance(body.get("took"), int):
            cls.took_ms += body["took"]


def _meter(transport_cls: Any) -> None:
    original = transport_cls.perform_request

    def perform_request(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        _Meter.note(result)
        return result

    transport_cls.perform_request = perform_request


def _hwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


# -- the soc child (runs in the project's venv) -----------------------------------------


def soc_child(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    sys.path.insert(0, str(REPO))
    import elastic_transport

    from soc.config import load_settings
    from soc.context import AppContext
    from soc.detection.engine import DetectionEngine
    from soc.detection.loader import load_detectors
    from soc.es.indices import ensure_ready

    _meter(elastic_transport.Transport)
    t1 = time.perf_counter()
    settings = load_settings(es_url=args.es_url, index_prefix=args.prefix, detectors_dir=REPO / "detectors")
    ctx = AppContext.from_settings(settings)
    engine = DetectionEngine(ctx, strategy=args.strategy)
    ensure_ready(ctx.es)  # templates checked once per process, untimed (as EA2's writeback index is made)
    detector = next(d for d in load_detectors(settings.detectors_dir) if d.id == args.rule)
    start, end = datetime.fromisoformat(args.start), datetime.fromisoformat(args.end)
    _Meter.requests = _Meter.took_ms = 0
    t2 = time.perf_counter()
    profile = os.environ.get("VS_EA2_PROFILE")  # a file: the detection's cProfile, summarised on stderr
    if profile:
        import cProfile
        import pstats

        with cProfile.Profile() as prof:
            report = engine.backtest(detector, start, end, write=True)
        prof.dump_stats(profile)
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(15)
    else:
        report = engine.backtest(detector, start, end, write=True)
    t3 = time.perf_counter()
    return {
        "import_s": t1 - t0,
        "setup_s": t2 - t1,
        "detect_s": t3 - t2,
        "requests": _Meter.requests,
        "took_ms": _Meter.took_ms,
        "windows": report.windows,
        "plans": [p.describe() for p in report.plans],
        "entities": [a.entity for a in report.alerts],
        "alerts": len(report.alerts),
        "hwm_kb": _hwm_kb(),
    }


# -- the ElastAlert 2 child (runs in bench/.ea2-venv) -----------------------------------


def ea2_child(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    import elasticsearch.transport
    from elastalert.elastalert import ElastAlerter
    from elastalert.util import ts_to_dt

    _meter(elasticsearch.transport.Transport)
    t1 = time.perf_counter()
    client = ElastAlerter(["--config", args.config, "--rule", args.rule_file, "--start", args.start, "--end", args.end])
    _Meter.requests = _Meter.took_ms = 0
    t2 = time.perf_counter()
    hits = 0
    for rule in client.rules:
        rule["initial_starttime"] = ts_to_dt(args.start)
        client.handle_rule_execution(rule)  # what `elastalert --start --end` runs per rule
        hits += client.thread_data.cumulative_hits
    t3 = time.perf_counter()
    requests, took = _Meter.requests, _Meter.took_ms
    hwm = _hwm_kb()
    # the alerts it wrote (outside the timed part)
    wb = client.writeback_index
    client.writeback_es.indices.refresh(index=wb)
    res = client.writeback_es.search(index=wb, body={"size": 10000, "query": {"term": {"rule_name": args.rule}}})
    keys = args.keys.split(",")
    entities = []
    for hit in res["hits"]["hits"]:
        body = hit["_source"].get("match_body") or {}
        entities.append({k: str(_lookup(body, k)) for k in keys})
    return {
        "import_s": t1 - t0,
        "setup_s": t2 - t1,
        "detect_s": t3 - t2,
        "requests": requests,
        "took_ms": took,
        "hits": hits,
        "entities": entities,
        "alerts": len(entities),
        "hwm_kb": hwm,
    }


def _lookup(doc: dict[str, Any], dotted: str) -> Any:
    if dotted in doc:
        return doc[dotted]
    cur: Any = doc
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


# -- the parent -------------------------------------------------------------------------


def ensure_ea2() -> Path:
    python = EA2_VENV / "bin" / "python"
    probe = [str(python), "-c", "import importlib.metadata as m; print(m.version('elastalert2'))"]
    if python.exists() and subprocess.run(probe, capture_output=True, text=True).stdout.strip() == EA2_VERSION:
        return python
    print(f"installing elastalert2=={EA2_VERSION} into {EA2_VENV} …", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(EA2_VENV)], check=True)
    # 2.19.0 imports pytz without declaring it
    subprocess.run([str(python), "-m", "pip", "install", "-q", f"elastalert2=={EA2_VERSION}", "pytz"], check=True)
    return python


def run_child(python: Path, argv: list[str]) -> tuple[float, dict[str, Any]]:
    began = time.perf_counter()
    proc = subprocess.run([str(python), str(Path(__file__).resolve()), *argv], capture_output=True, text=True)
    wall = time.perf_counter() - began
    if proc.returncode != 0:
        raise RuntimeError(f"child {argv[:2]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    if os.environ.get("VS_EA2_PROFILE"):
        print(proc.stderr[-6000:])
    last = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1]
    return wall, json.loads(last)


def ea2_rule(detector: Any, indices: list[str]) -> dict[str, Any]:
    """The ElastAlert 2 rule equivalent to a soc threshold detector."""
    from soc.detection.queries import detector_query

    start = datetime(2000, 1, 1, tzinfo=UTC)
    query = detector_query(detector, start, start + timedelta(seconds=1))
    query["bool"]["filter"] = query["bool"]["filter"][1:]  # the time range is EA2's own
    cond = detector.condition
    minutes = {"minutes": int(detector.schedule.interval.total_seconds() // 60)}
    rule: dict[str, Any] = {
        "name": detector.id,
        "index": ",".join(indices),
        "timestamp_field": "@timestamp",
        "filter": [query],
        "query_key": list(detector.group_by) if len(detector.group_by) > 1 else detector.group_by[0],
        "timeframe": {"minutes": int(detector.schedule.window.total_seconds() // 60)},
        "run_every": minutes,
        "buffer_time": minutes,
        "realert": {"minutes": 0},
        "alert": ["debug"],
        "max_query_size": 10000,
    }
    needed = ["@timestamp", *detector.group_by]
    if cond.distinct is not None:
        rule.update(type="cardinality", cardinality_field=cond.distinct.field, max_cardinality=cond.distinct.gte - 1)
        needed.append(cond.distinct.field)
    else:
        assert cond.count is not None
        rule.update(type="frequency", num_events=cond.count.gte)
    rule["include"] = needed
    return rule


def _lowered(detector: Any) -> Any:
    """*detector* with its count or distinct threshold at 2: every window survives the
    estimate, so a pass really counts every matching event."""
    cond = detector.condition
    part = "distinct" if cond.distinct is not None else "count"
    lowered = getattr(cond, part).model_copy(update={"gte": 2})
    return detector.model_copy(update={"condition": cond.model_copy(update={part: lowered})})


def found(entities: list[dict[str, str]], truth: list[dict[str, str]]) -> tuple[int, int]:
    """How many attack entities (truth) some alert names (every alert field equal)."""
    hit = 0
    for t in truth:
        if any(e and all(t.get(k) == v for k, v in e.items()) for e in entities):
            hit += 1
    return hit, len(truth) - hit


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def machine() -> str:
    mem_kb = next(
        int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")
    )
    load = os.getloadavg()
    return (
        f"{platform.platform()}, {os.cpu_count()} cores, {mem_kb / 2**20:.0f} GB RAM, Python "
        f"{platform.python_version()}, load {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}"
    )


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        sys.path.insert(0, str(REPO))
        sys.path.insert(0, str(BENCH))
        from soc.config import load_settings
        from soc.context import AppContext

        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="vs-ea2-"))
        self.prefixes: list[str] = []

        def context(prefix: str) -> Any:
            self.prefixes.append(prefix)
            return AppContext.from_settings(
                load_settings(es_url=args.es_url, index_prefix=prefix, detectors_dir=REPO / "detectors")
            )

        self.context = context

    def cleanup(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.args.keep or not self.prefixes:
            return
        import urllib.request

        for p in self.prefixes:
            for path in (f"/{p}-*?ignore_unavailable=true", f"/_index_template/{p}-*"):
                req = urllib.request.Request(self.args.es_url + path, method="DELETE")
                try:
                    urllib.request.urlopen(req).read()
                except Exception as exc:  # noqa: BLE001 - best effort, reported
                    print(f"  (cleanup {path}: {exc})")

    # -- the day and the rules --------------------------------------------------------

    def day(self) -> None:
        import detect as day_bench  # bench/detect.py: the same END, city sizing and simulator

        from soc.detection.loader import load_detectors
        from soc.es.ingest import index_events
        from soc.simulate import run as run_mod
        from soc.simulate.population import build_city

        args = self.args
        prefix = args.day_prefix or f"bench-{uuid.uuid4().hex[:8]}"
        ctx = self.context(prefix)
        if args.day_prefix:
            self.prefixes.remove(prefix)  # someone else's: never deleted here
        end = day_bench.END
        start = end - timedelta(hours=day_bench.HOURS)
        staff, _ = day_bench.staff_for(args.events, args.seed)
        city = build_city(args.seed, staff_count=staff)
        original = run_mod.build_city
        run_mod.build_city = lambda s: city  # type: ignore[assignment]
        try:
            # the truth is computed up front; the events only when the generator is read
            docs, truth = run_mod.generate(end=end, hours=day_bench.HOURS, seed=args.seed)
            if not args.day_prefix:
                began = time.perf_counter()
                rep = index_events(ctx.es, docs, segments=ctx.segments)
                secs = time.perf_counter() - began
                print(f"day              {rep.indexed_total:,} events ({staff:,} staff), indexed in {secs:.0f} s"
                      f" ({rep.indexed_total / secs:,.0f} docs/s) under {prefix}")  # fmt: skip
            else:
                print(f"day              reusing {prefix} ({staff:,} staff)")
        finally:
            run_mod.build_city = original
        if args.index_only:
            print(f"day              kept under {prefix}: rerun with --day-prefix {prefix}")
            return
        detectors = {d.id: d for d in load_detectors(REPO / "detectors")}
        ea2_python = ensure_ea2()
        ea2_runs = 0
        rows = []
        for rid in args.rules.split(","):
            d = detectors[rid]
            indices = ctx.settings.dataset_indices(d.dataset)
            span = {"range": {"@timestamp": {"gte": start.isoformat(), "lt": end.isoformat()}}}
            in_range = ctx.es.count(indices, span)
            rule_file = self.tmp / "rules" / f"{rid}.yaml"
            rule_file.parent.mkdir(exist_ok=True)
            import yaml

            rule_file.write_text(yaml.safe_dump(ea2_rule(d, indices), sort_keys=False))
            attacks = [
                {k: v for k, v in t.entities.items() if k in d.group_by}
                for t in truth
                if rid in t.expected_detectors and not t.near_miss
            ]
            soc_argv = ["--child", "soc", "--prefix", prefix, "--rule", rid, "--start", start.isoformat(),
                        "--end", end.isoformat(), "--es-url", args.es_url, "--strategy", args.strategy]  # fmt: skip
            runs: dict[str, list[tuple[float, dict[str, Any]]]] = {"soc": [], "ea2": []}
            for _ in range(args.pairs):
                self._clear_alerts(ctx, prefix)
                runs["soc"].append(run_child(SOC_PYTHON, soc_argv))
                # a fresh writeback index per run (this node has no _delete_by_query), made untimed
                ea2_runs += 1
                ea2_cfg = self._ea2_config(prefix, f"ea2-{ea2_runs}-{uuid.uuid4().hex[:6]}")
                self._create_writeback(ea2_python, ea2_cfg)
                ea2_argv = ["--child", "ea2", "--config", str(ea2_cfg), "--rule-file", str(rule_file),
                            "--rule", rid, "--keys", ",".join(d.group_by),
                            "--start", start.isoformat(), "--end", end.isoformat()]  # fmt: skip
                runs["ea2"].append(run_child(ea2_python, ea2_argv))
            rows.append((d, in_range, attacks, runs))
            self._print_rule(d, in_range, attacks, runs)
        self._print_summary(rows)

    def _ea2_config(self, prefix: str, name: str) -> Path:
        from urllib.parse import urlparse

        import yaml

        url = urlparse(self.args.es_url)
        cfg = {
            "rules_folder": str(self.tmp / "rules"),
            "run_every": {"minutes": 5},
            "buffer_time": {"minutes": 5},
            "es_host": url.hostname,
            "es_port": url.port or 9200,
            "writeback_index": f"{prefix}-{name}",
            "alert_time_limit": {"days": 2},
            "old_query_limit": {"weeks": 520},
        }
        path = self.tmp / f"{name}-config.yaml"
        (self.tmp / "rules").mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(cfg))
        return path

    def _create_writeback(self, python: Path, cfg: Path) -> None:
        exe = python.parent / "elastalert-create-index"
        proc = subprocess.run([str(exe), "--config", str(cfg)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"elastalert-create-index failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")

    def _clear_alerts(self, ctx: Any, prefix: str) -> None:
        """soc's alerts from the run before gone, the empty index made again untimed (as
        EA2's writeback index is made by elastalert-create-index before its run), and the
        locks index made if absent (the first run would otherwise create it, timed)."""
        index = f"{prefix}-alerts"
        ctx.es.client.options(ignore_status=404).indices.delete(index=index)
        ctx.es.client.options(ignore_status=400).indices.create(index=index)  # mappings from soc's template
        ctx.es.client.options(ignore_status=400).indices.create(index=f"{prefix}-locks")

    def _print_rule(self, d: Any, in_range: int, attacks: list[dict[str, str]], runs: dict[str, Any]) -> None:
        print(f"\n### {d.id} ({'distinct' if d.condition.distinct else 'count'} per {'+'.join(d.group_by)},"
              f" {d.schedule.window}, every {d.schedule.interval}; {in_range:,} events of its dataset in the day,"
              f" {len(attacks)} attack entities)")  # fmt: skip
        print(
            "| tool | wall median s | wall all | detection median s | imports s | requests | Σ took s"
            " | peak RSS MB | alerts | attacks found / missed |"
        )
        print("|---|---:|---|---:|---:|---:|---:|---:|---:|---|")
        for tool in ("soc", "ea2"):
            rs = runs[tool]
            walls = [w for w, _ in rs]
            last = rs[-1][1]
            f, m = found(last["entities"], attacks)
            print(f"| {'soc' if tool == 'soc' else 'ElastAlert 2'} | {median(walls):.2f} | "
                  f"{', '.join(f'{w:.2f}' for w in walls)} | {median([r['detect_s'] for _, r in rs]):.2f} | "
                  f"{median([r['import_s'] for _, r in rs]):.2f} | {last['requests']:,} | "
                  f"{last['took_ms'] / 1000:.2f} | "
                  f"{max(r['hwm_kb'] for _, r in rs) / 1024:.0f} | {last['alerts']} | {f} / {m} |")  # fmt: skip

    def _print_summary(self, rows: list[Any]) -> None:
        print("\n### soc ÷ ElastAlert 2 (medians; > 1 means soc is faster or smaller)")
        print("| rule | EA2 ÷ soc, detection | EA2 ÷ soc, whole process | EA2 ÷ soc, Σ took | soc ÷ EA2, peak RSS |")
        print("|---|---:|---:|---:|---:|")
        for d, _, _, runs in rows:
            s, e = runs["soc"], runs["ea2"]
            det = median([r["detect_s"] for _, r in e]) / median([r["detect_s"] for _, r in s])
            wall = median([w for w, _ in e]) / median([w for w, _ in s])
            took = e[-1][1]["took_ms"] / max(1, s[-1][1]["took_ms"])
            rss = max(r["hwm_kb"] for _, r in s) / max(r["hwm_kb"] for _, r in e)
            print(f"| {d.id} | {det:.1f}× | {wall:.1f}× | {took:.1f}× | {rss:.2f} |")

    # -- extras ---------------------------------------------------------------------

    def distinct_window(self) -> None:
        """One 15-minute window of failed logons, each from its own source address."""
        from soc.es.ingest import index_events

        n = self.args.distinct
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        ctx = self.context(prefix)
        end = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
        start = end - timedelta(minutes=15)
        step = (end - start) / n

        def docs() -> Any:
            for i in range(n):
                yield {
                    "@timestamp": (start + i * step).isoformat().replace("+00:00", "Z"),
                    "event": {"id": f"dk-{i}", "category": ["authentication"], "outcome": "failure", "code": "4625"},
                    "source": {"ip": f"100.{64 + (i >> 16) % 64}.{(i >> 8) & 255}.{i & 255}"},
                    "user": {"name": f"user{i % 5000:04d}"},
                }

        began = time.perf_counter()
        rep = index_events(ctx.es, docs(), segments=ctx.segments)
        print(f"\n### one window, {n:,} distinct source addresses ({rep.indexed_total:,} events indexed in"
              f" {time.perf_counter() - began:.0f} s)")  # fmt: skip
        print("| tool | rule | wall s | detection s | requests | Σ took s | peak RSS MB | alerts |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        # the window [start, end) is the one ending at `end`: a backtest over (end - interval, end]
        rng = (end - timedelta(minutes=5)).isoformat(), end.isoformat()
        for rid in ("password-spray", "failed-login-burst"):
            argv = ["--child", "soc", "--prefix", prefix, "--rule", rid, "--start", rng[0], "--end", rng[1],
                    "--es-url", self.args.es_url, "--strategy", self.args.strategy]  # fmt: skip
            wall, r = run_child(SOC_PYTHON, argv)
            print(f"| soc | {rid} | {wall:.1f} | {r['detect_s']:.1f} | {r['requests']:,} | {r['took_ms'] / 1000:.1f} |"
                  f" {r['hwm_kb'] / 1024:.0f} | {r['alerts']} |")  # fmt: skip

    def fetch_bound(self) -> None:
        """Where reading the events stops paying: the same rule and ranges, the pass
        forced to aggregate (``one-pass``) and to fetch (``fetch``), in this process."""
        import detect as day_bench

        from soc.detection.engine import DetectionEngine
        from soc.detection.loader import load_detectors

        if not self.args.day_prefix:
            print("\n(fetch bound: needs --day-prefix)")
            return
        ctx = self.context(self.args.day_prefix)
        self.prefixes.remove(self.args.day_prefix)
        detectors = {d.id: d for d in load_detectors(REPO / "detectors")}
        end = day_bench.END
        print("\n### fetch or aggregate: the same range, both passes (in-process, medians of 3; thresholds"
              " lowered to 2 so no window is pruned and every matching event is counted)")  # fmt: skip
        print("| rule | range | matching events | one-pass s | fetch s | fetch ÷ one-pass |")
        print("|---|---|---:|---:|---:|---:|")
        for rid, spans in (("port-scan", (5, 10, 20)), ("failed-login-burst", (1440,))):
            d = _lowered(detectors[rid])
            for minutes in spans:
                start = end - timedelta(minutes=minutes)
                got: dict[str, list[float]] = {"one-pass": [], "fetch": []}
                events = 0
                for _ in range(3):
                    for strategy in got:
                        began = time.perf_counter()
                        rep = DetectionEngine(ctx, strategy=strategy).backtest(d, start, end, write=False)
                        got[strategy].append(time.perf_counter() - began)
                        events = rep.plans[0].events or 0
                a, f = median(got["one-pass"]), median(got["fetch"])
                print(f"| {rid} | {minutes} min | {events:,} | {a:.2f} | {f:.2f} | {f / a:.2f} |")

    def sparse(self) -> None:
        """One failed logon every 30 minutes: one day against ``--sparse-weeks`` weeks."""
        from soc.es.ingest import index_events

        weeks = self.args.sparse_weeks
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        ctx = self.context(prefix)
        end = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
        first = end - timedelta(weeks=weeks)
        n = int((end - first) / timedelta(minutes=30))

        def docs() -> Any:
            for i in range(n):
                yield {
                    "@timestamp": (first + i * timedelta(minutes=30)).isoformat().replace("+00:00", "Z"),
                    "event": {"id": f"sp-{i}", "category": ["authentication"], "outcome": "failure", "code": "4625"},
                    "source": {"ip": "198.51.100.7"},
                    "user": {"name": f"user{i % 40:02d}"},
                }

        rep = index_events(ctx.es, docs(), segments=ctx.segments)
        print(f"\n### sparse backtest: {rep.indexed_total:,} failed logons, one every 30 minutes over {weeks} weeks")
        print("| rule | range | events | windows | wall s | detection s | requests | Σ took s | peak RSS MB |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for rid in ("failed-login-burst", "password-spray"):
            got = {}
            for label, frm in (("1 day", end - timedelta(days=1)), (f"{weeks} weeks", first)):
                argv = ["--child", "soc", "--prefix", prefix, "--rule", rid, "--start", frm.isoformat(),
                        "--end", end.isoformat(), "--es-url", self.args.es_url,
                        "--strategy", self.args.strategy]  # fmt: skip
                wall, r = run_child(SOC_PYTHON, argv)
                got[label] = r
                events = int((end - frm) / timedelta(minutes=30))
                print(f"| {rid} | {label} | {events:,} | {r['windows']:,} | {wall:.1f} | {r['detect_s']:.2f} |"
                      f" {r['requests']:,} | {r['took_ms'] / 1000:.2f} | {r['hwm_kb'] / 1024:.0f} |")  # fmt: skip
            a, b = got["1 day"], got[f"{weeks} weeks"]
            print(f"| {rid} | ratio | ×{weeks * 7} | | | ×{b['detect_s'] / a['detect_s']:.1f} |"
                  f" ×{b['requests'] / max(1, a['requests']):.1f} | | |")  # fmt: skip

    def ingest(self) -> None:
        """``soc ingest --format ecs`` against raw ``streaming_bulk`` of the same file."""
        import detect as day_bench

        from soc.es.ingest import prepare
        from soc.simulate.run import generate

        n = self.args.ingest_events
        docs, _ = generate(end=day_bench.END, hours=day_bench.HOURS, seed=self.args.seed, history_days=0)
        path = self.tmp / "events.ndjson"
        ctx0 = self.context(f"bench-{uuid.uuid4().hex[:8]}")
        written = 0
        with path.open("w", encoding="utf-8") as fh:
            for d in docs:
                fh.write(json.dumps(d) + "\n")
                written += 1
                if written >= n:
                    break
        # raw streaming_bulk of the same lines (prepared the same way, so the documents match)
        from elasticsearch import helpers

        from soc.es.indices import ensure_ready
        from soc.es.ingest import route

        prepared = [prepare(json.loads(line), segments=ctx0.segments) for line in path.open(encoding="utf-8")]

        def soc_run() -> tuple[float, float, int]:
            prefix = f"bench-{uuid.uuid4().hex[:8]}"
            self.prefixes.append(prefix)
            env = {**os.environ, "SOC_INDEX_PREFIX": prefix, "SOC_ES_URL": self.args.es_url}
            began = time.perf_counter()
            proc = subprocess.run(["/usr/bin/time", "-f", "%M", str(REPO / ".venv/bin/soc"), "ingest",
                                   "--format", "ecs", str(path)], capture_output=True, text=True, env=env)  # fmt: skip
            wall = time.perf_counter() - began
            if proc.returncode != 0:
                raise RuntimeError(f"soc ingest failed: {proc.stderr[-2000:]}")
            rate = next(float(ln.split()[-1]) for ln in proc.stdout.splitlines() if "docs_per_second" in ln)
            rss = proc.stderr.strip().splitlines()[-1].split()[-1]  # peak RSS, kB
            return wall, rate, int(rss)

        def raw_run() -> float:
            ctx = self.context(f"bench-{uuid.uuid4().hex[:8]}")
            ensure_ready(ctx.es)
            actions = [{"_index": f"{ctx.settings.index_prefix}-events-{route(d)}", "_source": d} for d in prepared]
            began = time.perf_counter()
            ok = sum(1 for good, _ in helpers.streaming_bulk(ctx.es.client, actions, chunk_size=2000) if good)
            assert ok == len(prepared), (ok, len(prepared))
            return time.perf_counter() - began

        rows = []
        for _ in range(self.args.pairs):  # interleaved: the shared node's load hits both alike
            rows.append((soc_run(), raw_run()))
        soc_wall = median([r[0][0] for r in rows])
        soc_rate = median([r[0][1] for r in rows])
        raw_s = median([r[1] for r in rows])
        print(f"\n### ingest, {written:,} simulated events as NDJSON ({self.args.pairs} interleaved pairs, medians)")
        print("| path | docs | seconds (all) | docs/s | peak RSS MB |")
        print("|---|---:|---|---:|---:|")
        print(f"| `soc ingest --format ecs`, whole process | {written:,} | {soc_wall:.1f} "
              f"({', '.join(f'{r[0][0]:.1f}' for r in rows)}) | {written / soc_wall:,.0f} |"
              f" {max(r[0][2] for r in rows) / 1024:.0f} |")  # fmt: skip
        print(f"| `soc ingest --format ecs`, its own rate (read to last bulk answer) | {written:,} | "
              f"{written / soc_rate:.1f} | {soc_rate:,.0f} | |")  # fmt: skip
        print(f"| raw `streaming_bulk` (documents already prepared, in memory) | {written:,} | {raw_s:.1f} "
              f"({', '.join(f'{r[1]:.1f}' for r in rows)}) | {written / raw_s:,.0f} | |")  # fmt: skip
        print(f"soc ingest ÷ raw: {(written / soc_wall) / (written / raw_s):.0%} whole process,"
              f" {soc_rate / (written / raw_s):.0%} in-process")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000, help="events to simulate in the 24 h")
    parser.add_argument("--pairs", type=int, default=3, help="interleaved soc/EA2 runs per rule")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rules", default=",".join(DEFAULT_RULES), help="soc detector ids, comma-separated")
    parser.add_argument("--es-url", default="http://127.0.0.1:9200")
    parser.add_argument("--distinct", type=int, default=1_000_000, help="distinct keys in the one-window test")
    parser.add_argument("--sparse-weeks", type=int, default=6)
    parser.add_argument("--ingest-events", type=int, default=200_000)
    parser.add_argument("--skip", default="", help="comma-separated: day,bound,distinct,sparse,ingest")
    parser.add_argument("--keep", action="store_true", help="keep the indices")
    parser.add_argument(
        "--strategy", default="auto", help="soc's: auto, windows (one aggregation per window), one-pass"
    )
    parser.add_argument("--day-prefix", help="an index prefix holding the day already (same --events and --seed)")
    parser.add_argument("--index-only", action="store_true", help="index the day, keep it, run nothing")
    # the children
    parser.add_argument("--child", choices=["soc", "ea2"], help=argparse.SUPPRESS)
    for name in ("--prefix", "--rule", "--start", "--end", "--config", "--rule-file", "--keys"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        out = soc_child(args) if args.child == "soc" else ea2_child(args)
        print(json.dumps(out), flush=True)
        return

    if args.index_only:
        args.keep, args.skip = True, "bound,distinct,sparse,ingest"
    bench = Bench(args)
    skip = set(filter(None, args.skip.split(",")))
    print(f"date             {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine          {machine()}")
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    print(f"soc              {REPO} at {head.stdout.strip() or '?'}; ElastAlert 2 {EA2_VERSION} in {EA2_VENV}")
    try:
        if "day" not in skip:
            bench.day()
        if "bound" not in skip:
            bench.fetch_bound()
        if "distinct" not in skip:
            bench.distinct_window()
        if "sparse" not in skip:
            bench.sparse()
        if "ingest" not in skip:
            bench.ingest()
    finally:
        bench.cleanup()
    print(f"\nload at the end  {os.getloadavg()[0]:.1f}/{os.getloadavg()[1]:.1f}/{os.getloadavg()[2]:.1f}")


if __name__ == "__main__":
    main()
