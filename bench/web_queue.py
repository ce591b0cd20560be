#!/usr/bin/env python3
"""Benchmark: the console's alert queue with 100 k alerts and 1 k incidents.

    .venv/bin/python bench/web_queue.py [--alerts 100000] [--incidents 1000] [--pages 60] [--keep]

1. Bulk-indexes ``--alerts`` alerts (30 detectors, 5,000 source addresses, 800 accounts,
   every status and severity, spread over 30 days) and ``--incidents`` incidents (copies of
   one incident opened by the real escalation) under the prefix ``bench-web-<hex>``.
2. Server time per queue page, measured in-process through the ASGI app (``TestClient``,
   signed in as an operator): the first page, a deep page, and pages filtered by status,
   severity, user, address (one and a /16), host and a time range; p50 and p95 over
   ``--pages`` requests each. Target: p95 < 200 ms.
3. Live: ``soc web``'s app served by uvicorn on 127.0.0.1, the live stream of the queue
   opened; an alert is recorded and the time until the stream reports it is measured,
   ten times. Target: < 2 s.

Figures, not assertions. Indices are deleted afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import html
import json
import random
import re
import sys
import time
import urllib.parse
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx2 as httpx  # noqa: E402  (the dev dependency behind Starlette's test client)
from fastapi.testclient import TestClient  # noqa: E402

from soc.alerts.models import Alert, AlertStatus, CloseReason, alert_id  # noqa: E402
from soc.config import load_settings  # noqa: E402
from soc.context import AppContext  # noqa: E402
from soc.es.indices import alerts_index, ensure_ready, incidents_index  # noqa: E402
from soc.incidents.workflow import Workflow  # noqa: E402
from soc.playbooks.loader import load_playbooks  # noqa: E402
from soc.vocab import Severity  # noqa: E402
from soc.web.app import create_app  # noqa: E402
from tests.browser import served  # noqa: E402
from tests.webseed import CHEAP_HASHER, PASSWORD, console_for  # noqa: E402

NOW = datetime.now(UTC).replace(microsecond=0)
SEVERITIES = ["low", "medium", "high", "critical"]


def synthetic_alert(n: int, rng: random.Random) -> Alert:
    detector = f"bench-detector-{n % 30:02d}"
    entity = {"source.ip": f"10.{rng.randrange(20)}.{rng.randrange(250)}.{rng.randrange(1, 250)}"}
    if n % 3 == 0:
        entity["user.name"] = f"user{rng.randrange(800):03d}"
    if n % 5 == 0:
        entity["host.name"] = f"ws-{rng.randrange(600):03d}"
    start = NOW - timedelta(days=30) + timedelta(seconds=rng.randrange(30 * 86400 - 3600))  # created before now
    status = rng.choice(list(AlertStatus))
    return Alert(
        id=alert_id(detector, entity, start), detector=detector, title=detector, severity=rng.choice(SEVERITIES),
        risk_score=rng.randrange(20, 95), entity=entity, count=rng.randrange(5, 500), start=start,
        end=start + timedelta(minutes=rng.randrange(1, 120)), mitre=["T1110.001"], reason="bench",
        segments=[rng.choice(["internal", "external", "lgwan", "mynumber"])], status=status,
        close_reason=CloseReason.benign if status is AlertStatus.closed else None,
        created=start + timedelta(minutes=5), updated=start + timedelta(minutes=5),
    )  # fmt: skip


def index_alerts(ctx: AppContext, n: int) -> list[Alert]:
    rng = random.Random(7)
    alerts = [synthetic_alert(i, rng) for i in range(n)]
    index = alerts_index(ctx.es)
    ctx.es.bulk({"_op_type": "index", "_index": index, "_id": a.id, "_source": a.to_doc()} for a in alerts)
    ctx.es.refresh(index)
    return alerts


def index_incidents(ctx: AppContext, alerts: list[Alert], n: int) -> None:
    wf = Workflow(ctx, playbooks=load_playbooks(REPO / "playbooks"))
    seed = alerts[0].model_copy(update={"severity": Severity.high, "incident_id": None, "detector": "password-spray"})
    opened = wf.open_from_alerts([seed])
    template = wf.store.get(next(iter(opened.assignments.values())))
    docs = []
    for i in range(1, n):
        copy = template.model_copy(update={"id": f"INC-BENCH-{i:05d}", "alert_ids": [alerts[i].id]})
        docs.append({"_op_type": "index", "_index": incidents_index(ctx.es), "_id": copy.id,
                     "_source": json.loads(copy.model_dump_json())})  # fmt: skip
    ctx.es.bulk(docs)
    ctx.es.refresh(incidents_index(ctx.es))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def sign_in(client: Any) -> None:
    token = re.search(r'name="token" value="([0-9a-f]+)"', client.get("/login").text)
    assert token
    client.post("/login", data={"name": "operator", "password": PASSWORD, "token": token.group(1)})


def deep_page(client: Any, depth: int) -> dict[str, str]:
    """The query of page *depth*, reached as an operator does: following "Next" links."""
    params: dict[str, str] = {}
    for _ in range(depth - 1):
        found = re.search(r'href="/alerts\?([^"]+)" id="next-page"', client.get("/alerts", params=params).text)
        assert found, "fewer pages than asked for"
        params = dict(urllib.parse.parse_qsl(html.unescape(found.group(1))))
    return params


def queue_times(ctx: AppContext, pages: int) -> None:
    cases: dict[str, dict[str, str]] = {
        "first page": {},
        "page 100": {},
        "status=open": {"status": "open"},
        "severity=critical": {"severity": "critical"},
        "user": {"user": "user042"},
        "address": {"address": "10.3.17.9"},
        "address /16": {"address": "10.3.0.0/16"},
        "host": {"host": "ws-123"},
        "last 24 h": {"since": (NOW - timedelta(days=1)).isoformat()},
    }
    with TestClient(create_app(console_for(ctx))) as client:
        sign_in(client)
        cases["page 100"] = deep_page(client, 100)
        print(f"{'queue page':<20} {'p50 ms':>8} {'p95 ms':>8} {'rows':>6}")
        for name, params in cases.items():
            times = []
            rows = 0
            for _ in range(pages):
                t = time.perf_counter()
                r = client.get("/alerts", params=params)
                times.append((time.perf_counter() - t) * 1000)
                rows = r.text.count('class="pick"')
                assert r.status_code == 200
            print(f"{name:<20} {pct(times, 0.5):8.1f} {pct(times, 0.95):8.1f} {rows:6d}")


def live_latency(ctx: AppContext, rounds: int) -> None:
    rng = random.Random()  # fresh ids on every run (a --prefix run reuses the indices)
    with served(create_app(console_for(ctx))) as url, httpx.Client(base_url=url, timeout=30) as client:
        sign_in(client)
        delays = []
        shown: list[str] = []  # alerts of earlier rounds: on the page a fresh load shows (the stream looks back 2 min)
        for i in range(rounds):
            since = datetime.now(UTC).isoformat()
            params = {"loaded": since, "rows": "1", "known": " ".join(shown)}
            with client.stream("GET", "/alerts/live", params=params) as stream:
                lines = stream.iter_lines()
                next(lines)  # retry:
                first = next(line for line in lines if line.startswith("data:"))
                assert json.loads(first[5:])["new"] == 0, first
                alert = synthetic_alert(10_000_000 + i, rng).model_copy(update={"created": datetime.now(UTC)})
                t = time.perf_counter()
                ctx.es.create(alerts_index(ctx.es), alert.id, alert.to_doc(), refresh=True)
                seen = next(line for line in lines if line.startswith("data:"))
                delays.append(time.perf_counter() - t)
                data = json.loads(seen[5:])
                assert data["new"] == 1 and data["rows"][0]["id"] == alert.id, seen
                shown.append(alert.id)
        print(f"live: recorded -> shown in the open queue: p50 {pct(delays, 0.5):.2f} s, max {max(delays):.2f} s "
              f"over {rounds} alerts")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description="console queue benchmark")
    ap.add_argument("--alerts", type=int, default=100_000)
    ap.add_argument("--incidents", type=int, default=1_000)
    ap.add_argument("--pages", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--keep", action="store_true", help="keep the indices (reuse them with --prefix)")
    ap.add_argument("--prefix", help="reuse the indices a --keep run left under this prefix")
    args = ap.parse_args()
    prefix = args.prefix or "bench-web-" + uuid.uuid4().hex[:8]
    ctx = AppContext.from_settings(load_settings(index_prefix=prefix))
    keep = args.keep or bool(args.prefix)
    try:
        if not args.prefix:
            ensure_ready(ctx.es)
            t = time.perf_counter()
            alerts = index_alerts(ctx, args.alerts)
            index_incidents(ctx, alerts, args.incidents)
            from soc.web.users import UserStore

            UserStore(ctx.es, hasher=CHEAP_HASHER).add("operator", "operator", PASSWORD, now=NOW)  # type: ignore[arg-type]
            print(f"indexed {args.alerts:,} alerts and {args.incidents:,} incidents in {time.perf_counter() - t:.0f} s "
                  f"(prefix {prefix})")  # fmt: skip
        print(f"{ctx.es.count(alerts_index(ctx.es)):,} alerts, {ctx.es.count(incidents_index(ctx.es)):,} incidents")
        queue_times(ctx, args.pages)
        live_latency(ctx, args.rounds)
    finally:
        if not keep:
            ctx.es.delete_indices(f"{prefix}-*")
        ctx.es.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
