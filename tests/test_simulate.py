"""The simulator: deterministic per seed, ground truth true to the data, quiet baseline."""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from soc.context import AppContext
from soc.simulate.catalog import SCENARIOS
from soc.simulate.run import generate, simulate

END = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)  # Thursday noon JST (23 November is a holiday)


def _digest(seed: int, hours: float = 6) -> str:
    docs, _ = generate(end=END, hours=hours, seed=seed, scenarios=["password-spray", "beaconing"], history_days=2)
    h = hashlib.sha256()
    for d in docs:
        h.update(json.dumps(d, sort_keys=True).encode())
    return h.hexdigest()


def test_same_seed_same_documents_other_seed_other_documents() -> None:
    assert _digest(7) == _digest(7)
    assert _digest(7) != _digest(8)


@pytest.fixture(scope="module")
def day() -> tuple[list[dict[str, Any]], list[Any]]:
    docs, truth = generate(end=END, hours=24, seed=7)
    return list(docs), truth


def test_volume_and_sources(day: tuple[list[dict[str, Any]], list[Any]]) -> None:
    everything, _ = day
    times = [d["@timestamp"] for d in everything]
    assert times == sorted(times)
    history = [d for d in everything if d["@timestamp"] < "2026-11-25T03:00"]
    docs = [d for d in everything if d["@timestamp"] >= "2026-11-25T03:00"]
    # a week of light office history (sign-ins, VPN, admin logons) precedes the day
    assert history and {d["event"]["dataset"] for d in history} <= {
        "azure.signinlogs",
        "vpn.gateway",
        "windows.security",
    }
    assert 120_000 <= len(docs) <= 400_000
    datasets = Counter(d["event"]["dataset"] for d in docs)
    assert {"windows.security", "azure.signinlogs", "vpn.gateway", "firewall.traffic", "dns"} <= set(datasets)
    codes = {d["event"].get("code") for d in docs}
    assert {"4624", "4768", "4771", "4776", "4625"} <= codes
    assert len({d["event"]["id"] for d in docs}) == len(docs)
    assert docs[-1]["@timestamp"] < "2026-11-26T03:00"


def _ts(d: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(d["@timestamp"].replace("Z", "+00:00"))


def _max_in_window(times: list[datetime], window: timedelta) -> int:
    times.sort()
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_baseline_stays_below_every_detector_threshold() -> None:
    docs, truth = generate(end=END, hours=24, seed=7, scenarios=[])
    assert truth == []
    fails_per_pair: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    failing_users: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    ports: dict[tuple[str, str], list[tuple[datetime, int]]] = defaultdict(list)
    for d in docs:
        ev, src = d["event"], d.get("source", {}).get("ip")
        if "authentication" in ev["category"] and ev["outcome"] == "failure" and src:
            fails_per_pair[(d["user"]["name"], src)].append(_ts(d))
            failing_users[src].append((_ts(d), d["user"]["name"]))
        if "network" in ev["category"] and "port" in d.get("destination", {}):
            ports[(src, d["destination"]["ip"])].append((_ts(d), d["destination"]["port"]))
    assert max(_max_in_window(list(v), timedelta(minutes=10)) for v in fails_per_pair.values()) <= 5
    for events in failing_users.values():
        events.sort()
        for t, _ in events:
            assert len({u for t2, u in events if t <= t2 < t + timedelta(minutes=15)}) <= 4
    for events in ports.values():
        events.sort()
        lo = 0
        for hi, (t, _) in enumerate(events):
            while t - events[lo][0] >= timedelta(minutes=10):
                lo += 1
            assert len({p for _, p in events[lo : hi + 1]}) <= 10


def test_ground_truth_matches_what_was_written(ctx: AppContext, tmp_path) -> None:
    truth_file = tmp_path / "truth.json"
    report = simulate(ctx.es, end=END, hours=24, seed=7, segments=ctx.segments, truth_path=truth_file)
    assert report.docs_written > 100_000 and report.docs_per_second > 0
    written = json.loads(truth_file.read_text())
    assert [t["scenario"] for t in written] == [t.scenario for t in report.truth]
    assert {t.scenario for t in report.truth} == set(SCENARIOS)
    for rec in report.truth:
        query = {
            "bool": {
                "filter": [
                    {"range": {"@timestamp": {"gte": rec.start.isoformat(), "lte": rec.end.isoformat()}}},
                    *[{"term": {field: value}} for field, value in rec.entities.items()],
                ]
            }
        }
        body = {
            "size": 0,
            "query": query,
            "aggs": {"first": {"min": {"field": "@timestamp"}}, "last": {"max": {"field": "@timestamp"}}},
        }
        res = ctx.es.search(f"{ctx.es.prefix}-events-*", body)
        # the entities named by the truth are in the data, inside the attack's time span
        assert res["hits"]["total"]["value"] >= 1, rec.scenario
        first = datetime.fromisoformat(res["aggregations"]["first"]["value_as_string"].replace("Z", "+00:00"))
        last = datetime.fromisoformat(res["aggregations"]["last"]["value_as_string"].replace("Z", "+00:00"))
        assert rec.start <= first <= last <= rec.end, rec.scenario


def test_a_scenario_that_picks_its_own_night_keeps_out_of_the_exclusive_slots() -> None:
    """A night-time brute force placed on top of a credential-stuffing surge would become the
    surge's busiest address: scenarios that choose their hour avoid the others' slots."""
    import random

    from soc.simulate.scenarios import DURATION, Slot, night_time

    start = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)  # 12:00 JST
    end = start + timedelta(hours=24)
    night = (datetime(2026, 11, 28, 16, 0, tzinfo=UTC), datetime(2026, 11, 28, 19, 30, tzinfo=UTC))  # 01:00-04:30 JST
    busy = ((night[0] + timedelta(minutes=30), night[0] + timedelta(minutes=60)),)
    for seed in range(50):
        at = night_time(Slot(start + timedelta(hours=14), start, end, busy), random.Random(seed))
        assert night[0] <= at < night[1]
        assert not any(b0 - DURATION < at < b1 + DURATION for b0, b1 in busy), (seed, at)
    # every hour of the night taken: the scenario still happens, overlapping
    full = ((night[0] - timedelta(hours=1), night[1]),)
    assert night[0] <= night_time(Slot(start + timedelta(hours=14), start, end, full), random.Random(1)) < night[1]
