"""The detection abilities of issue 9 §3 on the real node, each with the case it must
catch and the look-alike it must leave alone: events keyed on a workstation name when no
address exists, domain-suffix allow-lists, a spray (distinct accounts) then a success,
beacons judged by median/MAD with prevalence, volume without history and with video
calls, and a surge that names its busiest address."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from soc.context import AppContext
from soc.detection.engine import DetectionEngine
from soc.detection.kinds.beacon import interval_stats
from soc.detection.loader import load_detector_file
from soc.detection.models import Detector
from soc.vocab import iso
from tests.eventgen import auth_failure, index, spread

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
_ids = itertools.count()


def _load(path: str, **over: object) -> Detector:
    base = load_detector_file(REPO / "detectors" / path)
    return type(base).model_validate(base.model_dump() | over)


def _event(at: datetime, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"@timestamp": iso(at), "event": {"id": f"ab-{next(_ids)}", "kind": "event"}}
    for dotted, value in fields.items():
        node = doc
        *parents, leaf = dotted.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return doc


def _run(ctx: AppContext, detector: Detector, hours: float = 2) -> list[Any]:
    engine = DetectionEngine(ctx)
    engine.backtest(detector, T0, T0 + timedelta(hours=hours))
    return engine.alerts.search(detector=detector.id)


def test_failures_without_an_address_are_keyed_on_the_workstation(ctx: AppContext) -> None:
    times = spread(T0 + timedelta(minutes=2), 15, timedelta(seconds=20))
    users = [f"u{i:02d}" for i in range(15)]
    no_ip = [
        _event(
            t,
            event__category=["authentication"],
            event__outcome="failure",
            event__code="4776",
            user__name=u,
            source__domain="kiosk-03",
        )
        for t, u in zip(times, users, strict=True)
    ]
    # the same spray from a workstation that also has an address: password-spray's business
    with_ip = [
        auth_failure(t, u, "10.20.1.9", source={"ip": "10.20.1.9", "domain": "pc-119"})
        for t, u in zip(times, users, strict=True)
    ]
    index(ctx, no_ip + with_ip)
    alerts = _run(ctx, _load("auth/password-spray-workstation.yml"))
    assert [a.entity for a in alerts] == [{"source.domain": "kiosk-03"}]
    assert alerts[0].distinct_count == 15


def test_domain_suffix_allow_list_spares_names_under_it_not_look_alikes(ctx: AppContext) -> None:
    docs = []
    for k, (src, domain) in enumerate(
        [("10.20.1.1", "wss-primary.slack.com"), ("10.20.1.2", "evilslack.com"), ("10.20.1.3", "slack.com")]
    ):
        for t in spread(T0 + timedelta(minutes=1, seconds=k), 40, timedelta(seconds=90)):
            docs.append(
                _event(
                    t,
                    event__category=["network", "web"],
                    source__ip=src,
                    url__domain=domain,
                    destination__ip="10.30.0.10",
                    destination__port=8080,
                )
            )
    index(ctx, docs, dataset="network")
    alerts = _run(ctx, _load("network/beaconing-proxy.yml", schedule={"interval": "1h", "window": "2h"}), hours=3)
    assert {a.entity["url.domain"] for a in alerts} == {"evilslack.com"}


def _failures(at: datetime, ip: str, users: list[str]) -> list[dict[str, Any]]:
    return [
        _event(at + timedelta(seconds=20 * i), event__category=["authentication"], event__outcome="failure",
               user__name=u, source__ip=ip)
        for i, u in enumerate(users)
    ]  # fmt: skip


def _success(at: datetime, ip: str, user: str) -> dict[str, Any]:
    return _event(at, event__category=["authentication"], event__outcome="success", user__name=user, source__ip=ip)


def test_spray_then_success_needs_many_accounts_before_the_success(ctx: AppContext) -> None:
    spray, guess, early = "126.10.0.1", "126.10.0.2", "126.10.0.3"
    t = T0 + timedelta(minutes=3)
    accounts = [f"user{i}" for i in range(12)]
    docs = [*_failures(t, spray, accounts), _success(t + timedelta(minutes=5), spray, "user11")]
    # one account guessed twelve times then right: brute-force-success's case, not a spray
    docs += [*_failures(t, guess, ["kato"] * 12), _success(t + timedelta(minutes=5), guess, "kato")]
    # a spray whose only success came before it
    docs += [_success(t - timedelta(minutes=1), early, "user0"), *_failures(t, early, accounts)]
    index(ctx, docs)
    alerts = _run(ctx, _load("auth/password-spray-success.yml"))
    assert [a.entity for a in alerts] == [{"source.ip": spray}]
    assert alerts[0].figures["distinct_before"] == 12


def _beacon(at: datetime, src: str, domain: str) -> dict[str, Any]:
    return _event(
        at,
        event__category=["network", "web"],
        source__ip=src,
        url__domain=domain,
        destination__ip="10.30.0.10",
        destination__port=8080,
    )


def test_robust_periodicity_keeps_a_beacon_with_long_gaps_and_prevalence_drops_a_service(ctx: AppContext) -> None:
    rng = random.Random(5)
    implant: list[datetime] = []
    t = T0 + timedelta(minutes=1)
    for k in range(40):
        if k not in (10, 11, 12, 25, 26):  # asleep twice
            implant.append(t)
        t += timedelta(seconds=600 * rng.uniform(0.85, 1.15))
    slots = [int(x.timestamp() * 1000) for x in implant]
    assert interval_stats(slots, 10)[2] > 0.3  # type: ignore[index]  # the mean/CV test would miss it
    assert interval_stats(slots, 10, robust=True)[2] < 0.2  # type: ignore[index]
    docs = [_beacon(x, "10.20.1.50", "api.c2-example.net") for x in implant]
    for h in range(6):  # six hosts keep a chat websocket alive: a service
        docs += [
            _beacon(T0 + timedelta(seconds=60 * i + h), f"10.20.2.{h}", "push.chat.example.jp") for i in range(400)
        ]
    # human browsing to one site: irregular
    x = T0
    for _ in range(60):
        x += timedelta(seconds=rng.expovariate(1 / 400))
        docs.append(_beacon(x, "10.20.1.60", "news.example.jp"))
    index(ctx, docs, dataset="network")
    alerts = _run(ctx, _load("network/beaconing-proxy.yml"), hours=8)
    assert {(a.entity["source.ip"], a.entity["url.domain"]) for a in alerts} == {("10.20.1.50", "api.c2-example.net")}
    assert 500 < alerts[0].figures["median_interval_s"] < 700
    lenient = _load("network/beaconing-proxy.yml", prevalence={"source": "source.ip", "max_sources": 7})
    ctx.es.delete_indices(DetectionEngine(ctx).alerts.index)
    assert {a.entity["url.domain"] for a in _run(ctx, lenient, hours=8)} == {
        "api.c2-example.net",
        "push.chat.example.jp",
    }


def _upload(at: datetime, src: str, dst: str, mb: int, port: int = 443) -> dict[str, Any]:
    return _event(
        at,
        event__category=["network"],
        event__outcome="success",
        source__ip=src,
        source__bytes=mb * 10**6,
        destination__ip=dst,
        destination__port=port,
        network__transport="udp" if port == 3478 else "tcp",
    )


def test_volume_without_history_is_not_factor_times_zero_and_video_calls_are_not_exfiltration(ctx: AppContext) -> None:
    t = T0 + timedelta(days=1, minutes=5)
    docs = [_upload(t + timedelta(minutes=2 * i), "10.30.4.10", "151.101.1.1", 40) for i in range(10)]  # new pair
    docs += [_upload(t + timedelta(minutes=10 * i), "10.30.3.20", "52.113.9.9", 300, port=3478) for i in range(6)]
    # a pair with a history of 1 MB an hour, then 400 MB: twenty times its own average
    docs += [_upload(T0 + timedelta(hours=h), "10.30.4.11", "151.101.2.2", 1) for h in range(20)]
    docs += [_upload(t + timedelta(minutes=2 * i), "10.30.4.11", "151.101.2.2", 40) for i in range(10)]
    index(ctx, docs, dataset="network")
    engine = DetectionEngine(ctx)
    engine.backtest(_load("network/large-outbound-transfer.yml"), t - timedelta(hours=1), t + timedelta(hours=2))
    alerts = engine.alerts.search(detector="large-outbound-transfer")
    assert [a.entity["source.ip"] for a in alerts] == ["10.30.4.11"]
    ctx.es.delete_indices(engine.alerts.index)
    engine = DetectionEngine(ctx)
    media = _load("network/large-outbound-transfer.yml", count_realtime_media=True)
    engine.backtest(media, t - timedelta(hours=1), t + timedelta(hours=2))
    assert "10.30.3.20" in {a.entity["source.ip"] for a in engine.alerts.search()}


def test_organisation_wide_surge_names_its_busiest_address(ctx: AppContext) -> None:
    t = T0 + timedelta(days=1)
    docs = [auth_failure(T0 + timedelta(minutes=30 * i), "typo", "203.0.113.10") for i in range(40)]  # history
    senders = ["45.1.1.1"] * 30 + ["77.2.2.2"] * 20 + [f"181.3.3.{i}" for i in range(150)]
    docs += [auth_failure(t + timedelta(seconds=4 * i), f"u{i}", ip) for i, ip in enumerate(senders)]
    index(ctx, docs)
    engine = DetectionEngine(ctx)
    engine.backtest(_load("auth/auth-failure-surge.yml"), t - timedelta(minutes=30), t + timedelta(hours=1))
    alerts = engine.alerts.search(detector="auth-failure-surge")
    assert alerts and {a.entity["source.ip"] for a in alerts} == {"45.1.1.1"}
    top = alerts[0].figures["top_contributors"]
    assert top[:2] == [{"source.ip": "45.1.1.1", "count": 30}, {"source.ip": "77.2.2.2", "count": 20}]
    assert "45.1.1.1 (30)" in alerts[0].reason


def test_machine_accounts_are_excepted_by_their_ending_not_by_a_dollar_inside(ctx: AppContext) -> None:
    docs = []
    for k, user in enumerate(["swdist01$", "pay$roll", "t.suzuki"]):
        for i, t in enumerate(spread(T0 + timedelta(minutes=2, seconds=k), 12, timedelta(seconds=20))):
            docs.append(
                _event(t, event__category=["authentication"], event__outcome="success", event__code="4624",
                       winlog__logon__type="Network", user__name=user, host__name=f"pc-{i:03d}",
                       source__ip="10.20.0.70")
            )  # fmt: skip
    index(ctx, docs)
    alerts = _run(ctx, _load("auth/lateral-fan-out.yml"))
    assert sorted(a.entity["user.name"] for a in alerts) == ["pay$roll", "t.suzuki"]
