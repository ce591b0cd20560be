"""Attacks seen in network logs: discovery, command and control, exfiltration, segment breaches."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from soc.simulate.events import EventFactory
from soc.simulate.population import City
from soc.simulate.scenarios import Attack, Slot, spread

__all__ = [
    "beaconing",
    "dns_tunnelling",
    "host_sweep",
    "large_outbound_transfer",
    "lgwan_to_internet",
    "mynumber_to_internet",
    "port_scan",
    "silent_log_source",
]


def port_scan(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """A compromised workstation probes the file server on 200 ports within five minutes (near miss: 40)."""
    attacker = rng.choice(city.staff)
    ports = rng.sample(range(1, 10000), 40 if near else 200)
    events = []
    for i, port in enumerate(ports):
        allowed = port in (135, 139, 445)
        events.append(
            ev.flow(
                slot.at + timedelta(seconds=i * 1.5),
                src=attacker.ip,
                dst=city.file_server,
                port=port,
                allowed=allowed,
                bytes_out=60,
                bytes_in=60 if allowed else 0,
                observer="UTM-LGWAN",
            )
        )
    return Attack(
        events,
        {"source.ip": attacker.ip, "destination.ip": city.file_server},
        f"workstation {attacker.workstation} scans the file server on {len(ports)} ports",
    )


def host_sweep(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """A workstation looks for remote desktop on 60 other workstations (near miss: 25)."""
    attacker = rng.choice(city.staff)
    targets = rng.sample([s for s in city.staff if s != attacker], 25 if near else 60)
    events = [
        ev.flow(t, src=attacker.ip, dst=s.ip, port=3389, allowed=False, bytes_out=60, observer="UTM-LGWAN")
        for s, t in zip(targets, spread(slot.at, len(targets), 4, rng, 1), strict=True)
    ]
    return Attack(
        events,
        {"source.ip": attacker.ip, "destination.port": "3389"},
        f"{attacker.workstation} sweeps {len(targets)} hosts for RDP",
    )


def beaconing(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """The virtual-browser server calls a command-and-control address every minute (±8 % jitter)
    for 100 minutes. Near miss: the same number of connections at random intervals."""
    c2 = f"45.{rng.randrange(60, 90)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    t = slot.at
    events = []
    for _ in range(100):
        events.append(
            ev.flow(
                t,
                src=city.virtual_browser,
                dst=c2,
                port=443,
                bytes_out=int(rng.uniform(300, 700)),
                bytes_in=int(rng.uniform(200, 400)),
                observer="UTM-INET",
            )
        )
        gap = rng.expovariate(1 / 60) if near else 60 * rng.uniform(0.92, 1.08)
        t += timedelta(seconds=max(gap, 1.0))
    return Attack(
        events,
        {"source.ip": city.virtual_browser, "destination.ip": c2},
        f"{city.virtual_browser} beacons to {c2}:443 every ~60 s",
    )


def large_outbound_transfer(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """A terminal in the internet-connected segment uploads 2.4 GB to a file-sharing host (near miss: 120 MB)."""
    src = f"10.30.2.{rng.randrange(10, 200)}"
    dst = f"151.101.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    size = 3_000_000 if near else 60_000_000
    events = [
        ev.flow(
            t,
            src=src,
            dst=dst,
            port=443,
            bytes_out=int(size * rng.uniform(0.9, 1.1)),
            bytes_in=40_000,
            observer="UTM-INET",
        )
        for t in sorted(slot.at + timedelta(seconds=rng.uniform(0, 1600)) for _ in range(40))
    ]
    total = sum(e["source"]["bytes"] for e in events)
    return Attack(
        events, {"source.ip": src, "destination.ip": dst}, f"{src} sends {total / 1e6:.0f} MB to {dst} in 27 minutes"
    )


def dns_tunnelling(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """A workstation sends data out as long random sub-domains of one domain (near miss: 40 names)."""
    attacker = rng.choice(city.staff)
    domain = f"{rng.choice(['cdn-sync', 'telemetry', 'upd'])}{rng.randrange(100, 999)}.net"
    n = 40 if near else 220
    events = [
        ev.dns(t, src=attacker.ip, server=city.dns_server, name=f"{rng.getrandbits(160):040x}.t.{domain}")
        for t in spread(slot.at, n, 600 / n, rng, 1)
    ]
    return Attack(
        events,
        {"source.ip": attacker.ip, "dns.question.registered_domain": domain},
        f"{n} unique sub-domains of {domain} queried by {attacker.workstation}",
    )


def mynumber_to_internet(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """A My Number terminal tries to reach the internet (blocked, but it must never even try).

    Near miss: the terminal talks to its own application server, as it should.
    """
    terminal = f"10.10.1.{rng.randrange(1, 250)}"
    dst = city.mynumber_app if near else f"142.250.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    events = [
        ev.flow(t, src=terminal, dst=dst, port=443, allowed=near, bytes_out=200, observer="UTM-MYNUMBER")
        for t in spread(slot.at, 6, 30, rng)
    ]
    return Attack(
        events, {"source.ip": terminal, "destination.ip": dst}, f"My Number terminal {terminal} connects to {dst}"
    )


def lgwan_to_internet(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """An LGWAN workstation reaches an internet address directly, outside the sanctioned local
    breakout (near miss: Microsoft 365, which is local breakout)."""
    ws = rng.choice(city.staff)
    dst = rng.choice(city.m365_ips) if near else f"93.184.{rng.randrange(200, 220)}.{rng.randrange(1, 255)}"
    events = [
        ev.flow(t, src=ws.ip, dst=dst, port=443, bytes_out=1500, bytes_in=9000, observer="UTM-LGWAN")
        for t in spread(slot.at, 10, 30, rng)
    ]
    return Attack(events, {"source.ip": ws.ip, "destination.ip": dst}, f"LGWAN workstation {ws.ip} connects to {dst}")


def silent_log_source(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """A branch-office firewall stops logging at ``slot.at`` (near miss: a 40-minute gap, then it resumes)."""
    name = f"UTM-BRANCH-{rng.randrange(1, 99):02d}"
    net = rng.randrange(100, 200)
    start = max(slot.range_start, slot.at - timedelta(hours=10))
    stop = slot.at
    resume = slot.at + timedelta(minutes=40) if near else None
    events = []
    t: datetime = start
    while t < slot.range_end:
        if t < stop or (resume is not None and t >= resume):
            events.append(
                ev.flow(
                    t,
                    src=f"10.20.{net}.{rng.randrange(10, 60)}",
                    dst=city.file_server,
                    port=445,
                    bytes_out=900,
                    bytes_in=4000,
                    observer=name,
                )
            )
        elif resume is None:
            break
        t += timedelta(seconds=rng.uniform(20, 60))
    return Attack(events, {"observer.name": name}, f"firewall {name} stops sending logs at {stop.isoformat()}")
