#!/usr/bin/env python3
"""Fault injection: replay a simulated day through real scheduler processes, kill them at
random, and compare what they produced with a clean backtest.

    .venv/bin/python bench/faults.py [--hours 24] [--seed 7] [--schedulers 3] [--kills 50]
                                     [--outages 5] [--node-restarts 1] [--max-windows 12]
                                     [--es-url URL] [--record]

0. Starts an Elasticsearch node of its own on a free port (``soc es up``'s launcher, data
   in a temporary directory), unless ``--es-url`` names one (then no node restart: the
   shared node on :9200 is never stopped).
1. Simulates ``--hours`` of a city's logs ending Tuesday 2026-11-24 03:00 UTC (noon JST)
   into an events prefix.
2. Clean: one process backtests every detector over the day (and escalates) in its own
   prefix - the reference.
3. Faulty: ``--schedulers`` ``scheduler.py`` processes on a replayed clock
   (``SOC_REPLAY_CLOCK``: the day's end is "now" when they start) share a third prefix
   through leases (ttl 4 s, renew 1 s), each run covering at most ``--max-windows``
   windows, all starting from a watermark at the day's start. They reach Elasticsearch
   only through ``bench/faultproxy.py`` on 127.0.0.1, which answers some requests 429 or
   503, delays some, and resets some connections before or after forwarding them
   (``--proxy-rates``). Meanwhile: a SIGKILL of a random scheduler every 1-4 s (a new one
   is started in its place) until ``--kills``, now and then a SIGSTOP past the lease then
   SIGCONT; ``--outages`` Elasticsearch outages of 5-20 s (the proxy refuses every
   connection and resets the open ones) and ``--node-restarts`` real ones (the bench's
   own node stopped, then started again on the same data); a webhook receiver on
   127.0.0.1 answering at random late / 500 / hanging / with a reset, and an SMTP server
   (aiosmtpd) that goes down for 5-20 s now and then (``--smtp-outage-seconds``; the
   notification retries here: 20 tries, 1 s, then 10 s backoff doubling to 1 min).
4. When every detector's watermark has passed the day's end, the schedulers are stopped,
   the deliveries drained (what the CSIRT job does on its next ticks) and the clean run
   recomputed over exactly the windows the faulty run covered.
5. Prints missed / duplicated / extra for alerts, incidents and deliveries, and the webhook
   repeats (same idempotency key) and any repeat under another key; what the proxy did;
   and what the schedulers logged (tracebacks; outage lines: first failure, summaries,
   recovery). ``--record`` appends the figures to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.faultproxy import DEFAULT_RATES, FAULTS, FaultProxy  # noqa: E402
from soc.clock import ManualClock  # noqa: E402
from soc.config import Settings, load_settings  # noqa: E402
from soc.context import AppContext  # noqa: E402
from soc.detection.loader import load_detectors  # noqa: E402
from soc.detection.state import RunState, RunStateStore  # noqa: E402
from soc.errors import SocError  # noqa: E402
from soc.es import localnode  # noqa: E402
from soc.es.indices import alerts_index, deliveries_index, incidents_index  # noqa: E402
from soc.notify.service import Notifier  # noqa: E402
from soc.playbooks.loader import load_playbooks  # noqa: E402
from soc.runtime.csirt import CsirtDesk  # noqa: E402
from soc.runtime.pipeline import Pipeline, PipelineResult  # noqa: E402
from soc.simulate.run import simulate  # noqa: E402
from tests.peers import HttpPeer, Mailbox, free_port  # noqa: E402

END = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
TTL, RENEW = 4, 1
BEHAVIOURS = ["ok", "ok", "ok", "late", "500", "hang", "reset"]


@dataclass
class Faults:
    kills: int = 0
    stops: int = 0
    smtp_outages: int = 0
    outages: int = 0  # the proxy refusing every connection
    restarts: int = 0  # the bench's own node stopped and started again
    outage_seconds: float = 0.0
    started: int = 0
    logs: list[Path] = field(default_factory=list)


def _settings(prefix: str, events: str, **extra: Any) -> Settings:
    datasets = {"auth": [f"{events}-events-auth*"], "network": [f"{events}-events-network*"]}
    return load_settings(index_prefix=prefix, datasets=datasets, detectors_dir=REPO / "detectors", **extra)


def _search_all(ctx: AppContext, index: str) -> list[dict[str, Any]]:
    ctx.es.refresh(index)
    res = ctx.es.search(index, {"size": 10000, "query": {"match_all": {}}})
    return [h["_source"] for h in res["hits"]["hits"]]


def _alerts(ctx: AppContext) -> dict[str, tuple[str, str]]:
    out = {}
    for src in _search_all(ctx, alerts_index(ctx.es)):
        alert = src["soc"]["alert"]
        out[alert["id"]] = (alert["detector"], src["soc"]["alert"].get("entity_key") or json.dumps(alert["entity"]))
    return out


def _incidents(ctx: AppContext) -> dict[str, frozenset[str]]:
    return {src["id"]: frozenset(src.get("alert_ids", [])) for src in _search_all(ctx, incidents_index(ctx.es))}


def _compare(clean: Counter[Any], live: Counter[Any]) -> tuple[int, int, int]:
    """(missed, duplicated, extra) of *live* against *clean* (multisets)."""
    missed = sum(n for k, n in clean.items() if k not in live)
    extra = sum(n for k, n in live.items() if k not in clean)
    duplicated = sum(live[k] - clean[k] for k in live if k in clean and live[k] > clean[k])
    return missed, duplicated, extra


@dataclass
class Node:
    """Where the bench's indices live: its own node (restartable) or one given by --es-url."""

    url: str
    data_dir: Path | None = None  # set: our own node, which we may stop and start
    port: int = 0
    heap: str = "1g"

    @classmethod
    def start_own(cls, work: Path, heap: str) -> Node:
        data_dir, port = work / "es", free_port()
        info = localnode.up(data_dir=data_dir, port=port, heap=heap)
        return cls(url=info.url, data_dir=data_dir, port=port, heap=heap)

    def restart(self, pause: float) -> float:
        """Stop the node, wait *pause* seconds, start it on the same data; the seconds it was away."""
        assert self.data_dir is not None
        began = time.monotonic()
        localnode.down(data_dir=self.data_dir)
        time.sleep(pause)
        localnode.up(data_dir=self.data_dir, port=self.port, heap=self.heap)
        return time.monotonic() - began

    def stop(self) -> None:
        if self.data_dir is not None:
            localnode.down(data_dir=self.data_dir)


def _parse_rates(text: str) -> dict[str, float]:
    rates = {name.strip(): float(p) for name, _, p in (part.partition("=") for part in text.split(",") if part)}
    unknown = set(rates) - set(FAULTS)
    if unknown:
        raise SystemExit(f"--proxy-rates: unknown fault(s) {sorted(unknown)}; known: {', '.join(FAULTS)}")
    return rates


def _log_figures(logs: list[Path]) -> dict[str, str]:
    """What the schedulers told their operators: tracebacks, and the outage lines."""
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in logs if p.exists())
    return {
        "scheduler logs: tracebacks": str(text.count("Traceback (most recent call last)")),
        "scheduler logs: outage first / still / back lines": " / ".join(
            str(text.count(s))
            for s in ("Elasticsearch unreachable (", "Elasticsearch still unreachable", "Elasticsearch is back")
        ),
        "scheduler logs: lines": str(text.count("\n")),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--schedulers", type=int, default=3)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--outages", type=int, default=5, help="the proxy refuses every connection for 5-20 s")
    parser.add_argument("--node-restarts", type=int, default=1, help="the bench's own node stopped and started")
    parser.add_argument("--outage-seconds", type=float, nargs=2, default=(5.0, 20.0), metavar=("MIN", "MAX"))
    parser.add_argument("--smtp-outage-seconds", type=float, nargs=2, default=(5.0, 20.0), metavar=("MIN", "MAX"),
                        help="each SMTP outage lasts this long")  # fmt: skip
    parser.add_argument("--proxy-rates", type=_parse_rates, default=DEFAULT_RATES,
                        help="fault=probability per request, comma-separated (%(default)s)")  # fmt: skip
    parser.add_argument("--scenarios", help="comma-separated simulator scenarios (default: all; short runs need few)")
    parser.add_argument("--max-windows", type=int, default=12)
    parser.add_argument("--timeout", type=float, default=1800, help="give up after this many seconds")
    parser.add_argument("--es-url", help="use this node instead of one of the bench's own (no node restart then)")
    parser.add_argument("--heap", default="1g", help="heap of the bench's own node")
    parser.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    args = parser.parse_args()
    args.load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if args.es_url and args.node_restarts:
        print("--es-url given: that node is never stopped (--node-restarts 0)")
        args.node_restarts = 0
    rng = random.Random(args.seed)
    run = uuid.uuid4().hex[:8]
    events, clean_prefix, live_prefix = f"faults-{run}-ev", f"faults-{run}-clean", f"faults-{run}-live"
    start = END - timedelta(hours=args.hours)
    work = Path(tempfile.mkdtemp(prefix="soc-faults-"))
    began = time.monotonic()
    node = Node(url=args.es_url) if args.es_url else Node.start_own(work, args.heap)
    print(f"Elasticsearch     {node.url}" + (" (the bench's own node)" if node.data_dir else ""), flush=True)
    proxy = FaultProxy(node.url, seed=args.seed, rates=args.proxy_rates).start()
    hook, box = HttpPeer(late_by=3.0), Mailbox()
    smtp_port = free_port()
    smtp: Controller | None = Controller(box, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    destinations = [
        {"kind": "webhook", "name": "hook", "url": hook.url, "timeout": 1.5},
        {"kind": "smtp", "name": "mail", "host": "127.0.0.1", "port": smtp_port, "security": "none",
         "from": "soc@city.example.lg.jp", "to": ["csirt@city.example.lg.jp"], "timeout": 2},
    ]  # fmt: skip
    # retries compressed like the day (1 s, 10 s backoff) and 20 tries: SMTP is down about a third
    # of the time here, and 8 tries (the default) spanning ~1 min then sometimes all meet an
    # outage: a delivery given up and recorded "failed", by design but not what this measures
    notify = {"destinations": destinations, "retry_delay": "1s", "backoff": "10s", "backoff_max": "1m",
              "max_attempts": 20}  # fmt: skip
    # the bench itself talks to the node directly; only the schedulers go through the proxy
    base = load_settings(es_url=node.url, index_prefix=events)
    ev_ctx = AppContext.from_settings(base)
    live = _settings(live_prefix, events, es_url=node.url, out_dir=work / "out", notify=notify)
    clean = _settings(clean_prefix, events, es_url=node.url, out_dir=work / "clean")
    live_ctx, clean_ctx = AppContext.from_settings(live), AppContext.from_settings(clean)
    detectors = load_detectors(REPO / "detectors")
    playbooks = load_playbooks(REPO / "playbooks")
    procs: list[subprocess.Popen[bytes]] = []
    faults = Faults()
    try:
        scenarios = args.scenarios.split(",") if args.scenarios else None
        sim = simulate(
            ev_ctx.es, end=END, hours=args.hours, seed=args.seed, segments=ev_ctx.segments, scenarios=scenarios
        )
        print(f"events indexed    {sim.docs_written:,} ({args.hours:g} h ending {END.isoformat()}, seed {args.seed})")
        for d in detectors:  # the faulty run resumes from the day's start, as after a long outage
            RunStateStore(live_ctx.es).save(RunState(detector=d.id, watermark=start))

        lag = max(d.schedule.delay for d in detectors) + timedelta(minutes=1)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")} | {
            "SOC_ES_URL": proxy.url,
            "SOC_INDEX_PREFIX": live_prefix,
            "SOC_DATASETS": json.dumps(live.datasets),
            "SOC_OUT_DIR": str(work / "out"),
            "SOC_NOTIFY": json.dumps(notify),
            "SOC_SCHEDULER": json.dumps(
                {"lease_ttl": f"{TTL}s", "lease_renew": f"{RENEW}s", "max_windows_per_run": args.max_windows}
            ),
            # "now" when they start: the day's end, late enough for every detector's delay
            "SOC_REPLAY_CLOCK": f"{(END + lag).isoformat()}@{time.time()}",
        }

        def spawn() -> subprocess.Popen[bytes]:
            log = work / f"scheduler-{faults.started}.log"
            faults.started += 1
            faults.logs.append(log)
            with log.open("wb") as out:
                return subprocess.Popen([sys.executable, "scheduler.py"], cwd=REPO, env=env, stderr=out)

        replay_began = time.monotonic()
        procs += [spawn() for _ in range(args.schedulers)]
        states = RunStateStore(live_ctx.es)

        def behind() -> int:
            try:
                return sum(1 for d in detectors if (states.get(d.id).watermark or start) < END)
            except SocError:  # the bench's own node is being restarted
                return len(detectors)

        outage_until: float | None = None
        smtp_back_at = 0.0
        restart_after = [args.kills * (i + 1) // (args.node_restarts + 1) for i in range(args.node_restarts)]
        while (
            behind()
            or faults.kills < args.kills
            or faults.outages < args.outages
            or faults.restarts < args.node_restarts
            or outage_until is not None
        ):
            if time.monotonic() - replay_began > args.timeout:
                raise TimeoutError(f"still {behind()} detector(s) behind after {args.timeout:.0f} s")
            time.sleep(rng.uniform(1, 4))
            hook.script.extend(rng.choice(BEHAVIOURS) for _ in range(3))
            if outage_until is not None and time.monotonic() >= outage_until:
                proxy.up()  # the outage is over
                outage_until = None
            elif outage_until is None and faults.outages < args.outages and rng.random() < 0.12:
                proxy.down()
                length = rng.uniform(*args.outage_seconds)
                outage_until = time.monotonic() + length
                faults.outages += 1
                faults.outage_seconds += length
            if restart_after and faults.kills >= restart_after[0] and outage_until is None:
                restart_after.pop(0)
                if smtp is None:  # the restart blocks this loop: an SMTP outage must not last through it
                    smtp = Controller(box, hostname="127.0.0.1", port=smtp_port)
                    smtp.start()
                faults.outage_seconds += node.restart(pause=rng.uniform(*args.outage_seconds))
                faults.restarts += 1
            alive = [p for p in procs if p.poll() is None]
            if faults.kills < args.kills and alive:
                victim = rng.choice(alive)
                if rng.random() < 0.1:  # paused past its lease, then woken up
                    victim.send_signal(signal.SIGSTOP)
                    time.sleep(TTL + 2 * RENEW)
                    victim.send_signal(signal.SIGCONT)
                    faults.stops += 1
                else:
                    victim.kill()
                    victim.wait(10)
                    faults.kills += 1
                    procs.append(spawn())
            if smtp is not None and rng.random() < 0.15:
                smtp.stop()
                smtp = None
                smtp_back_at = time.monotonic() + rng.uniform(*args.smtp_outage_seconds)
                faults.smtp_outages += 1
            elif smtp is None and time.monotonic() >= smtp_back_at:
                smtp = Controller(box, hostname="127.0.0.1", port=smtp_port)
                smtp.start()
        replay_seconds = time.monotonic() - replay_began
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        codes = [p.wait(120) for p in procs if p.returncode is None or p.returncode == 0]
        if smtp is None:
            smtp = Controller(box, hostname="127.0.0.1", port=smtp_port)
            smtp.start()
        hook.script.clear()

        # drain: what the next detector tick (escalating what a kill left unescalated) and the
        # CSIRT job's next ticks (announcements never sent, retries) do
        later = ManualClock(datetime.now(UTC) + timedelta(days=3))
        drain_ctx = AppContext(settings=live, es=live_ctx.es, clock=later)
        Pipeline(drain_ctx, playbooks=playbooks).escalate_pending(PipelineResult())
        notifier = Notifier(gw=live_ctx.es, settings=live.notify, clock=later, sleeper=lambda _s: None)
        desk = CsirtDesk(drain_ctx, playbooks=playbooks, notifier=notifier)
        drained = len(desk.catch_up(later.now(), within=timedelta(days=30)))
        for _ in range(20):
            live_ctx.es.refresh(deliveries_index(live_ctx.es))
            retried = notifier.retry_pending()
            drained += len(retried)
            if not retried:
                break
            later.advance(timedelta(hours=2))

        # the clean reference over exactly the windows the faulty run covered
        pipeline = Pipeline(clean_ctx, playbooks=playbooks)
        for d in detectors:
            covered = states.get(d.id).watermark or END
            pipeline.engine.backtest(d, start, covered)
        pipeline.escalate_pending(PipelineResult())

        clean_alerts, live_alerts = _alerts(clean_ctx), _alerts(live_ctx)
        alert_figures = _compare(Counter(clean_alerts), Counter(live_alerts))
        episode_figures = _compare(Counter(clean_alerts.values()), Counter(live_alerts.values()))
        clean_incidents, live_incidents = _incidents(clean_ctx), _incidents(live_ctx)
        incident_figures = _compare(Counter(clean_incidents.values()), Counter(live_incidents.values()))
        in_two = sum(n - 1 for n in Counter(a for i in live_incidents.values() for a in i).values() if n > 1)

        records = _search_all(live_ctx, deliveries_index(live_ctx.es))
        by_id = {r["id"]: r for r in records}
        posts = Counter(hook.keys())
        expected = {f"{i}:opened" for i in live_incidents}  # one announcement per incident
        hook_keys = [by_id[k]["key"] for k in posts if k in by_id]
        mail_keys = [str(m["X-SOC-Notification-Key"]).strip() for m in box.messages()]
        mail_ids = Counter(str(m["Message-ID"]) for m in box.messages())
        figures = {
            "hours": args.hours,
            "schedulers": args.schedulers,
            "processes started": faults.started,
            "SIGKILLs": faults.kills,
            "SIGSTOP past the lease": faults.stops,
            "Elasticsearch outages: proxy refusing / node restarted": f"{faults.outages} / {faults.restarts}",
            "Elasticsearch outages: total time": f"{faults.outage_seconds:.0f} s",
            "proxy: requests / 429 / 503 / latency / reset / reset-after": " / ".join(
                str(proxy.counts[k]) for k in ("requests", *FAULTS)
            ),
            "SMTP outages": faults.smtp_outages,
            "replay wall time": f"{replay_seconds:.0f} s",
            "alerts clean / live": f"{len(clean_alerts)} / {len(live_alerts)}",
            "alerts missed / duplicated / extra (by id)": " / ".join(map(str, alert_figures)),
            "alerts missed / duplicated / extra (by detector+entity)": " / ".join(map(str, episode_figures)),
            "incidents clean / live": f"{len(clean_incidents)} / {len(live_incidents)}",
            "incidents missed / duplicated / extra (by alert set)": " / ".join(map(str, incident_figures)),
            "alerts in two incidents": in_two,
            "webhook: keys received / posts": f"{len(posts)} / {sum(posts.values())}",
            "webhook: repeats with the same key": sum(n - 1 for n in posts.values() if n > 1),
            "webhook: a notification under two keys": len(hook_keys) - len(set(hook_keys)),
            "webhook: announcements missed / extra": f"{len(expected - set(hook_keys))} / "
            f"{len({k for k in hook_keys if k.endswith(':opened')} - expected)}",
            "smtp: Message-IDs / messages": f"{len(mail_ids)} / {sum(mail_ids.values())}",
            "smtp: announcements missed": len(expected - set(mail_keys)),
            "deliveries sent / maybe_sent / failed": " / ".join(
                str(sum(1 for r in records if r["status"] == s)) for s in ("sent", "maybe_sent", "failed")
            ),
            "sent by the final drain": drained,
            "scheduler exit codes on SIGTERM": ",".join(str(c) for c in codes),
            **_log_figures(faults.logs),
            "bench wall time": f"{time.monotonic() - began:.0f} s",
            "load average at the end (1 / 5 / 15 min)": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
        }
        width = max(len(k) for k in figures)
        for k, v in figures.items():
            print(f"{k:{width}}  {v}")
        if args.record:
            _record(figures, args)
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
        hook.close()
        proxy.close()
        if smtp is not None:
            smtp.stop()
        if node.data_dir is not None:
            node.stop()
            shutil.rmtree(node.data_dir, ignore_errors=True)
        else:
            for ctx in (ev_ctx, live_ctx, clean_ctx):
                client = ctx.es.client
                client.options(ignore_status=404).indices.delete(index=f"{ctx.settings.index_prefix}-*")
                client.options(ignore_status=404).indices.delete_index_template(name=f"{ctx.settings.index_prefix}-*")
        print(f"scheduler logs in {work}")


def _record(figures: dict[str, Any], args: argparse.Namespace) -> None:
    lines = [
        "",
        f"### bench/faults.py, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"{platform.node()} ({os.cpu_count()} cores), Python {platform.python_version()}, "
        f"`bench/faults.py --hours {args.hours:g} --seed {args.seed} --schedulers {args.schedulers} "
        f"--kills {args.kills} --outages {args.outages} --node-restarts {args.node_restarts} "
        f"--max-windows {args.max_windows}`, load average before the run {args.load_before}:",
        "",
        "| figure | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in figures.items()),
        "",
    ]
    with (REPO / "bench" / "RESULTS.md").open("a", encoding="utf-8") as out:
        out.write("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
