#!/usr/bin/env python3
"""Benchmark: ``soc ingest --format ecs`` against raw ``streaming_bulk`` of the same file.

    .venv/bin/python bench/ingest.py [--events 20000] [--pairs 3] [--rss 20000,200000]
        [--with-ids] [--big-lines 0] [--chunk 500] [--es-url URL] [--keep]

Writes ``--events`` simulated events (``soc.simulate``, one office day) as NDJSON once, then
runs one process per path and round, interleaved (soc, raw, raw-prepared[, raw-ids];
``--pairs`` rounds), each into a fresh index prefix whose templates exist beforehand:

- **soc**: ``.venv/bin/soc ingest --format ecs --json FILE`` — what an operator types
  (every line accounted for, ``_id`` from ``event.id``, ``create``, digest, segments, …);
- **raw**: the user's alternative — a script that imports only ``json`` and
  ``elasticsearch``, reads the same file, ``json.loads`` each line and hands it to
  ``helpers.streaming_bulk`` (auto ``_id``, routed to the same three indices by
  ``event.category``, ``chunk_size`` ``--chunk``, the client's default 500);
- **raw-prepared**: last round's baseline — the documents are read and prepared by soc
  *before* the clock starts, then ``streaming_bulk`` of them from memory;
- **raw-ids** (``--with-ids``): raw, but ``create`` with ``_id = event.id`` as soc does (what
  idempotence costs the node: an id lookup per document).

For each: whole-process wall (from the parent, interpreter start-up included), in-process
seconds (soc: its own time from the first line read to the last bulk answer and refresh;
raw: after imports, read → last answer; raw-prepared: the bulk only), docs/s, peak RSS
(``wait4``), CPU seconds of the process and of the node (the node's counts every helper's
work on a shared node), and the node's own indexing time for the run's indices
(``index_time_in_millis``: what each path costs Elasticsearch). Medians and every run, the
ratios (of the medians, and per round), a re-ingest of the same file into the last soc
prefix (every line must be "already present"), soc's peak RSS at each ``--rss`` size
(memory flat) and, with ``--big-lines N``, for N lines of 900 KB (bulk requests are cut at
8 MB, not only at 2,000 documents).
Figures, not assertions (except that every run indexes every line). Indices and templates
are removed unless ``--keep``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PYTHON = REPO / ".venv" / "bin" / "python"
SOC = REPO / ".venv" / "bin" / "soc"
END = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)  # Tuesday noon JST, as bench/detect.py


# -- children -----------------------------------------------------------------------------
def child_raw(args: argparse.Namespace) -> None:
    """The user's alternative: json.loads each line, streaming_bulk it (only json and the client)."""
    from elasticsearch import Elasticsearch, helpers

    routes: dict[str, str] = json.loads(args.routes)
    began = time.perf_counter()

    def actions() -> Any:
        with open(args.file, encoding="utf-8") as fh:
            for line in fh:
                doc = json.loads(line)
                cats = doc.get("event", {}).get("category") or []
                cats = [cats] if isinstance(cats, str) else cats
                index = next((routes[c] for c in cats if c in routes), routes["*"])
                if args.child == "raw-ids":  # what soc does: create with _id = event.id (idempotent)
                    yield {"_op_type": "create", "_index": index, "_id": doc["event"]["id"], "_source": doc}
                else:
                    yield {"_index": index, "_source": doc}

    es = Elasticsearch(args.es_url)
    ok = sum(1 for good, _ in helpers.streaming_bulk(es, actions(), chunk_size=args.chunk) if good)
    seconds = time.perf_counter() - began
    print(json.dumps({"indexed": ok, "seconds": seconds}))


def child_raw_prepared(args: argparse.Namespace) -> None:
    """Last round's baseline: soc prepares every document first; only the bulk is timed."""
    from elasticsearch import Elasticsearch, helpers

    from soc.config import load_settings
    from soc.es.ingest import prepare, route
    from soc.network.segments import SegmentMap

    routes: dict[str, str] = json.loads(args.routes)
    settings = load_settings(es_url=args.es_url)
    segments = SegmentMap(settings.segments, settings.local_breakout)
    with open(args.file, encoding="utf-8") as fh:
        docs = [prepare(json.loads(line), segments=segments) for line in fh]
    by_dataset = {"auth": routes["authentication"], "network": routes["network"], "other": routes["*"]}
    actions = [{"_index": by_dataset[route(d)], "_source": d} for d in docs]
    es = Elasticsearch(args.es_url)
    began = time.perf_counter()
    ok = sum(1 for good, _ in helpers.streaming_bulk(es, actions, chunk_size=args.chunk) if good)
    seconds = time.perf_counter() - began
    print(json.dumps({"indexed": ok, "seconds": seconds}))


# -- parent ---------------------------------------------------------------------------------
def write_events(path: Path, n: int, seed: int) -> int:
    """``n`` simulated events as NDJSON, as a producer would write them (the day repeats if short)."""
    from soc.simulate.run import generate

    written = 0
    with path.open("w", encoding="utf-8") as fh:
        day = 0
        while written < n:
            docs, _ = generate(end=END, hours=24, seed=seed + day, history_days=0)
            for d in docs:
                fh.write(json.dumps(d, ensure_ascii=False) + "\n")
                written += 1
                if written >= n:
                    break
            day += 1
    return written


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        from soc.config import load_settings
        from soc.context import AppContext

        self.args = args
        self.prefixes: list[str] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="soc-bench-ingest-"))

        def context(prefix: str) -> Any:
            self.prefixes.append(prefix)
            return AppContext.from_settings(load_settings(es_url=args.es_url, index_prefix=prefix))

        self.context = context

    def prepared_prefix(self) -> tuple[str, str]:
        """A fresh prefix with soc's templates installed, and its routes for the raw children."""
        from soc.es.indices import CATEGORY_ROUTES, EVENT_DATASETS, ensure_ready

        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        ctx = self.context(prefix)
        ensure_ready(ctx.es)
        routes = {c: f"{prefix}-{EVENT_DATASETS[d]}" for c, d in CATEGORY_ROUTES.items()}
        routes["*"] = f"{prefix}-{EVENT_DATASETS['other']}"
        ctx.es.close()
        return prefix, json.dumps(routes)

    def node_cpu(self) -> float:
        """CPU seconds the node has used so far (all of its work: other helpers' too)."""
        import urllib.request

        with urllib.request.urlopen(f"{self.args.es_url}/_nodes/_local/stats/process", timeout=30) as r:
            nodes = json.load(r)["nodes"]
        return sum(n["process"]["cpu"]["total_in_millis"] for n in nodes.values()) / 1000

    def run(self, argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str, float, float]:
        """(wall seconds, peak RSS kB, stdout, CPU seconds of the child, of the node) of one child process."""
        out = self.tmp / "child.out"
        node0 = self.node_cpu()
        began = time.perf_counter()
        with out.open("w") as fh:
            proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
            _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - began
        node = self.node_cpu() - node0
        err = proc.stderr.read().decode() if proc.stderr else ""
        code = os.waitstatus_to_exitcode(status)
        if code not in (0, 2):
            raise RuntimeError(f"{argv[:3]} failed ({code}): {err[-2000:]}")
        return wall, usage.ru_maxrss, out.read_text(), usage.ru_utime + usage.ru_stime, node

    def soc(self, path: Path, prefix: str | None = None) -> dict[str, Any]:
        prefix = prefix or self.prepared_prefix()[0]
        env = {"SOC_INDEX_PREFIX": prefix, "SOC_ES_URL": self.args.es_url}
        wall, rss, out, cpu, node = self.run([str(SOC), "ingest", "--format", "ecs", "--json", str(path)], env)
        summary = json.loads(out)
        took = self.index_seconds(prefix)
        return {"wall": wall, "rss": rss, "cpu": cpu, "node": node, "took": took, "summary": summary, "prefix": prefix}

    def raw(self, path: Path, mode: str) -> dict[str, Any]:
        prefix, routes = self.prepared_prefix()
        argv = [str(PYTHON), __file__, "--child", mode, "--file", str(path), "--routes", routes]
        argv += ["--es-url", self.args.es_url, "--chunk", str(self.args.chunk)]
        wall, rss, out, cpu, node = self.run(argv)
        took = self.index_seconds(prefix)
        return {"wall": wall, "rss": rss, "cpu": cpu, "node": node, "took": took, **json.loads(out.splitlines()[-1])}

    def index_seconds(self, prefix: str) -> float:
        """Σ ``index_time_in_millis`` of the prefix's event indices: the node's own indexing time."""
        import urllib.request

        url = f"{self.args.es_url}/{prefix}-events-*/_stats/indexing"
        with urllib.request.urlopen(url, timeout=30) as r:
            return float(json.load(r)["_all"]["primaries"]["indexing"]["index_time_in_millis"]) / 1000

    def main(self) -> None:
        import platform

        n = self.args.events
        path = self.tmp / "events.ndjson"
        written = write_events(path, n, self.args.seed)
        size = path.stat().st_size
        load = os.getloadavg()
        print(f"# bench/ingest.py — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.platform()}, "
              f"{os.cpu_count()} cores, Python {platform.python_version()}, load average "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")  # fmt: skip
        print(f"{written:,} simulated events, {size / 1e6:.1f} MB of NDJSON; {self.args.pairs} interleaved rounds "
              f"(soc, raw, raw-prepared); raw chunk_size {self.args.chunk}\n")  # fmt: skip
        rows: list[dict[str, dict[str, Any]]] = []
        for _ in range(self.args.pairs):
            row = {"soc": self.soc(path), "raw": self.raw(path, "raw"), "raw-prepared": self.raw(path, "raw-prepared")}
            if self.args.with_ids:
                row["raw-ids"] = self.raw(path, "raw-ids")
            s = row["soc"]["summary"]
            assert s["indexed"] == written and s["rejected"] == 0, s
            assert all(row[k]["indexed"] == written for k in row if k != "soc"), row
            row["soc"]["seconds"] = s["seconds"]
            rows.append(row)
            self.drop(keep_last=row["soc"]["prefix"])
        print("| path | whole process s, median (all) | in-process s, median (all) | docs/s whole | docs/s in-process"
              " | peak RSS MB | CPU s: process / node (medians) | node indexing s (median) |")  # fmt: skip
        print("|---|---|---|---:|---:|---:|---:|---:|")
        med: dict[str, tuple[float, float]] = {}
        for name, label in (
            ("soc", "`soc ingest --format ecs --json FILE`"),
            ("raw", "raw: `json.loads` each line + `streaming_bulk`"),
            ("raw-prepared", "raw-prepared: `streaming_bulk` of soc-prepared documents in memory"),
            ("raw-ids", "raw-ids: as raw, but `create` with `_id` = `event.id` (idempotent, as soc)"),
        ):
            if name not in rows[0]:
                continue
            walls = [r[name]["wall"] for r in rows]
            ins = [r[name]["seconds"] for r in rows]
            med[name] = (median(walls), median(ins))
            rss = max(r[name]["rss"] for r in rows) / 1024
            print(f"| {label} | {med[name][0]:.2f} ({', '.join(f'{w:.2f}' for w in walls)}) | {med[name][1]:.2f} "
                  f"({', '.join(f'{w:.2f}' for w in ins)}) | {written / med[name][0]:,.0f} | "
                  f"{written / med[name][1]:,.0f} | {rss:.0f} | {median(r[name]['cpu'] for r in rows):.1f} / "
                  f"{median(r[name]['node'] for r in rows):.1f} | "
                  f"{median(r[name]['took'] for r in rows):.2f} |")  # fmt: skip
        for base in [b for b in ("raw", "raw-prepared", "raw-ids") if b in rows[0]]:
            whole = [r[base]["wall"] / r["soc"]["wall"] for r in rows]
            inner = [r[base]["seconds"] / r["soc"]["seconds"] for r in rows]
            print(f"soc ÷ {base} (throughput): {med[base][0] / med['soc'][0]:.0%} whole process, "
                  f"{med[base][1] / med['soc'][1]:.0%} in-process (ratio of medians); per round "
                  f"{', '.join(f'{x:.0%}' for x in whole)} whole, {', '.join(f'{x:.0%}' for x in inner)} in-process "
                  f"(median {median(whole):.0%}, {median(inner):.0%})")  # fmt: skip
        again = self.soc(path, prefix=rows[-1]["soc"]["prefix"])
        s = again["summary"]
        print(f"re-ingest into the last soc prefix: already present {s['already_present']:,} of {written:,}, "
              f"indexed {s['indexed']}, conflicts {s['conflicts']}, {again['wall']:.2f} s whole process")  # fmt: skip
        self.drop()
        for size_n in [int(x) for x in self.args.rss.split(",") if x]:
            p = self.tmp / f"events-{size_n}.ndjson"
            write_events(p, size_n, self.args.seed)
            r = self.soc(p)
            print(f"peak RSS of soc ingest at {size_n:,} lines: {r['rss'] / 1024:.0f} MB "
                  f"({r['wall']:.1f} s, {size_n / r['wall']:,.0f} docs/s whole process)")  # fmt: skip
            assert r["summary"]["indexed"] == size_n, r["summary"]
            p.unlink()
            self.drop()
        if self.args.big_lines:
            self.big_lines(self.args.big_lines)

    def big_lines(self, n: int) -> None:
        """Peak RSS for ``n`` lines of ~900 KB (a ``message`` each): bulk chunks are cut by bytes."""
        p = self.tmp / "big.ndjson"
        pad = "x" * 900_000
        with p.open("w", encoding="utf-8") as fh:
            for i in range(n):
                doc = {"@timestamp": "2026-11-23T01:00:00.000Z", "event": {"id": f"big-{i}", "category": ["network"]},
                       "source": {"ip": "10.0.0.1"}, "destination": {"ip": "10.0.0.2"}, "message": pad}  # fmt: skip
                fh.write(json.dumps(doc) + "\n")
        r = self.soc(p)
        assert r["summary"]["indexed"] == n, r["summary"]
        print(f"peak RSS of soc ingest at {n:,} lines of 900 KB ({p.stat().st_size / 1e6:.0f} MB): "
              f"{r['rss'] / 1024:.0f} MB ({r['wall']:.1f} s)")  # fmt: skip
        p.unlink()
        self.drop()

    def drop(self, keep_last: str | None = None) -> None:
        if self.args.keep:
            return
        import urllib.request

        for prefix in [p for p in self.prefixes if p != keep_last]:
            for what in (f"{prefix}-*", f"_index_template/{prefix}-*"):
                req = urllib.request.Request(f"{self.args.es_url}/{what}", method="DELETE")
                with contextlib.suppress(OSError):
                    urllib.request.urlopen(req, timeout=60).close()
        self.prefixes = [keep_last] if keep_last else []

    def cleanup(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--pairs", type=int, default=3, help="interleaved rounds (soc, raw, raw-prepared)")
    parser.add_argument("--rss", default="20000,200000", help="line counts at which soc's peak RSS is measured")
    parser.add_argument("--big-lines", type=int, default=0, help="also: peak RSS for this many 900 KB lines")
    parser.add_argument("--chunk", type=int, default=500, help="raw streaming_bulk chunk_size (the client's default)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--es-url", default="http://127.0.0.1:9200")
    parser.add_argument("--keep", action="store_true", help="keep indices and templates")
    parser.add_argument("--with-ids", action="store_true", help="also raw with create and _id = event.id")
    parser.add_argument("--child", choices=("raw", "raw-ids", "raw-prepared"), help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--routes", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child in ("raw", "raw-ids"):
        child_raw(args)
        return
    if args.child == "raw-prepared":
        child_raw_prepared(args)
        return
    bench = Bench(args)
    try:
        bench.main()
    finally:
        bench.cleanup()


if __name__ == "__main__":
    sys.exit(main())
