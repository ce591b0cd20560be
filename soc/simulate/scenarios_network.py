"""Attacks seen in network logs: discovery, command and control, exfiltration, segment breaches."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from soc.simulate.events import EventFactory
from soc.simulate.population import City
from soc.simulate.scenarios import Attack, Slot, spread

__all__ = [
    "beaconing",
    "beaconing_proxy",
    "dns_long_names",
    "dns_tunnelling",
    "dns_txt_c2",
    "host_sweep",
    "host_sweep_internet",
    "large_outbound_transfer",
    "lateral_movement_network",
    "lgwan_to_internet",
    "mynumber_to_internet",
    "port_scan",
    "port_scan_burst",
    "silent_log_source",
    "slow_port_scan",
]

JUMP_HOST = "10.20.0.45"  # the IT jump server (detectors/value-lists/jump-hosts.txt)


def port_scan(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """A compromised workstation probes the file server on 200 ports within five minutes
    (near miss: 40 ports over ten minutes, a few a minute)."""
    attacker = rng.choice(city.staff)
    ports = rng.sample(range(1, 10000), 40 if near else 200)
    step = 15.0 if near else 1.5
    events = []
    for i, port in enumerate(ports):
        allowed = port in (135, 139, 445)
        events.append(
            ev.flow(
                slot.at + timedelta(seconds=i * step),
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
    if near:
        events += _video_call(city, slot, rng, ev)
    return Attack(
        events, {"source.ip": src, "destination.ip": dst}, f"{src} sends {total / 1e6:.0f} MB to {dst} in 27 minutes"
    )


def _video_call(city: City, slot: Slot, rng: random.Random, ev: EventFactory) -> list[dict[str, Any]]:
    """Benign look-alikes: an hour-long Teams video meeting (1.2 GB of media to a Teams
    relay over UDP 3478, one firewall session per media stream) and a first upload of
    400 MB to a new address (no history to compare with)."""
    room = f"10.30.3.{rng.randrange(10, 200)}"
    relay = f"52.113.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    events = [
        ev.flow(
            slot.at + timedelta(minutes=10 * i),
            src=room,
            dst=relay,
            port=3478,
            transport="udp",
            bytes_out=200_000_000,
            bytes_in=200_000_000,
            observer="UTM-INET",
        )
        for i in range(6)
    ]
    uploader = f"10.30.4.{rng.randrange(10, 200)}"
    target = f"151.101.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    events += [
        ev.flow(
            slot.at + timedelta(minutes=2 * i),
            src=uploader,
            dst=target,
            port=443,
            bytes_out=40_000_000,
            bytes_in=20_000,
            observer="UTM-INET",
        )
        for i in range(10)
    ]
    return events


def dns_tunnelling(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """A workstation sends data out as long random sub-domains of one domain: 220 names of
    40 hex characters in ten minutes, which dns-long-names sees too.

    Near miss: a page pulls 40 numbered image hosts of one CDN (``img17.cdn…``): many
    unique names, under the unique-name count, and short words rather than random labels."""
    attacker = rng.choice(city.staff)
    domain = f"{rng.choice(['cdn-sync', 'telemetry', 'upd'])}{rng.randrange(100, 999)}.net"
    n = 40 if near else 220
    if near:
        names = [f"img{i}.cdn.{domain}" for i in range(n)]
    else:
        names = [f"{rng.getrandbits(160):040x}.t.{domain}" for _ in range(n)]
    events = [
        ev.dns(t, src=attacker.ip, server=city.dns_server, name=name)
        for t, name in zip(spread(slot.at, n, 600 / n, rng, 1), names, strict=True)
    ]
    what = "numbered CDN hosts" if near else "unique random sub-domains"
    return Attack(
        events,
        {"source.ip": attacker.ip, "dns.question.registered_domain": domain},
        f"{n} {what} of {domain} queried by {attacker.workstation}",
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


def slow_port_scan(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """A workstation probes the groupware server on 150 ports, one every ~100 s, over four
    hours: never more than six ports in ten minutes (near miss: 30 ports)."""
    attacker = rng.choice(city.staff)
    ports = rng.sample(range(1, 20000), 30 if near else 150)
    step = 4 * 3600 / len(ports)
    events = [
        ev.flow(
            slot.at + timedelta(seconds=i * step + rng.uniform(0, 20)),
            src=attacker.ip,
            dst=city.groupware,
            port=port,
            allowed=port in (80, 443),
            bytes_out=60,
            observer="UTM-LGWAN",
        )
        for i, port in enumerate(ports)
    ]
    return Attack(
        events,
        {"source.ip": attacker.ip, "destination.ip": city.groupware},
        f"workstation {attacker.workstation} scans the groupware server slowly on {len(ports)} ports over 4 hours",
    )


def host_sweep_internet(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """A compromised server in the internet-connected segment sweeps internet addresses for
    SSH; almost nobody answers (near miss: 20 addresses)."""
    src = f"10.30.2.{rng.randrange(10, 200)}"
    n = 20 if near else 80
    events = []
    for t in spread(slot.at, n, 5, rng, 1):
        dst = f"{rng.choice([45, 91, 103, 185])}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        answered = rng.random() < 0.05
        events.append(
            ev.flow(
                t,
                src=src,
                dst=dst,
                port=22,
                allowed=answered,
                bytes_out=60,
                bytes_in=200 if answered else 0,
                observer="UTM-INET",
            )
        )
    return Attack(
        events,
        {"source.ip": src, "destination.port": "22"},
        f"{src} sweeps {n} internet addresses for SSH",
    )


def lateral_movement_network(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """A compromised workstation reaches five colleagues' workstations over WinRM and SMB
    (with RPC) in a few minutes. Near miss: the IT jump server administers eight servers
    and workstations the same way (allow-listed)."""
    attacker = rng.choice(city.staff)
    src = JUMP_HOST if near else attacker.ip
    targets = rng.sample([s for s in city.staff if s != attacker], 8 if near else 5)
    events = []
    t = slot.at
    for target in targets:
        for port in rng.choice([(5985,), (135, 445), (3389,)]):
            t += timedelta(seconds=rng.uniform(10, 40))
            events.append(
                ev.flow(t, src=src, dst=target.ip, port=port, bytes_out=4000, bytes_in=9000, observer="UTM-LGWAN")
            )
    who = "the IT jump server" if near else f"workstation {attacker.workstation}"
    return Attack(
        events,
        {"source.ip": src},
        f"{who} opens remote-management sessions (WinRM, SMB/RPC, RDP) to {len(targets)} hosts",
    )


def dns_txt_c2(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """An implant polls its commands as TXT records of a handful of names under one domain,
    every ~10 s for 15 minutes (near miss: 25 TXT look-ups, as SPF/DKIM checks make)."""
    attacker = rng.choice(city.staff)
    domain = f"{rng.choice(['metrics', 'status', 'sync'])}-{rng.randrange(100, 999)}.org"
    names = [f"{label}.{domain}" for label in ("cmd", "poll", "cfg")]
    n = 25 if near else 90
    events = [
        ev.dns(t, src=attacker.ip, server=city.dns_server, name=rng.choice(names), qtype="TXT")
        for t in spread(slot.at, n, 900 / n, rng, 2)
    ]
    return Attack(
        events,
        {"source.ip": attacker.ip, "dns.question.registered_domain": domain},
        f"{attacker.workstation} asks {n} TXT records of {domain} in 15 minutes",
    )


def dns_long_names(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """Slow exfiltration in long random labels (base32, 60 characters): 45 names in 15
    minutes, under the unique-name count of dns-tunnelling (near miss: 12 names)."""
    attacker = rng.choice(city.staff)
    domain = f"{rng.choice(['cloud-cdn', 'img-cache', 'edge'])}{rng.randrange(100, 999)}.com"
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    n = 12 if near else 45
    events = [
        ev.dns(
            t,
            src=attacker.ip,
            server=city.dns_server,
            name=f"{''.join(rng.choice(alphabet) for _ in range(60))}.{domain}",
            qtype="A",
        )
        for t in spread(slot.at, n, 900 / n, rng, 2)
    ]
    return Attack(
        events,
        {"source.ip": attacker.ip, "dns.question.registered_domain": domain},
        f"{attacker.workstation} sends {n} long random names under {domain} in 15 minutes",
    )


def _proxy(ev: EventFactory, at: datetime, *, src: str, proxy: str, domain: str) -> list[dict[str, Any]]:
    """An HTTPS request through the forward proxy as a Zeek sensor in front of it logs it:
    the CONNECT in http.log (category web, the requested host in url.domain) and the TLS
    handshake inside the tunnel in ssl.log (the server name in destination.domain) —
    beaconing-proxy reads the first, beaconing-tls the second. The simulated city has no
    such sensor all day, so no observer: it must not look like a log source going silent
    when the scenario ends."""
    http = ev.flow(at, src=src, dst=proxy, port=8080, bytes_out=600, bytes_in=1200)
    del http["observer"]
    http["event"].update(category=["network", "web"], dataset="zeek.http")
    http["url"] = {"domain": domain, "original": f"{domain}:443", "port": 443}
    http["destination"]["domain"] = domain
    tls = ev.flow(at + timedelta(milliseconds=40), src=src, dst=proxy, port=8080, bytes_out=0, bytes_in=0)
    del tls["observer"]
    tls["event"].update(dataset="zeek.ssl", action="tls-handshake", type=["protocol"])
    tls["destination"]["domain"] = domain
    return [http, tls]


def beaconing_proxy(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """An implant on a workstation checks in through the proxy every ~10 minutes (±20 %)
    for six hours; the laptop sleeps twice, which leaves two long gaps.

    Near miss: the city's chat service keeps a websocket alive from twelve workstations
    every 60 s (a service many hosts talk to: prevalence), and one workstation's Slack
    keep-alive every 30 s (an allow-listed domain suffix)."""
    events: list[dict[str, Any]] = []
    if near:
        chat = "push.chat-service.example.jp"
        for s in rng.sample(city.staff, 12):
            t = slot.at + timedelta(seconds=rng.uniform(0, 60))
            while t < slot.at + timedelta(hours=6):
                events.extend(_proxy(ev, t, src=s.ip, proxy=city.proxy, domain=chat))
                t += timedelta(seconds=60 * rng.uniform(0.97, 1.03))
        s = rng.choice(city.staff)
        t = slot.at
        while t < slot.at + timedelta(hours=6):
            events.extend(_proxy(ev, t, src=s.ip, proxy=city.proxy, domain="wss-primary.slack.com"))
            t += timedelta(seconds=30 * rng.uniform(0.95, 1.05))
        return Attack(events, {"url.domain": chat}, "chat and Slack websocket keep-alives through the proxy")
    victim = rng.choice(city.staff)
    domain = f"api.{rng.choice(['cdn-metrics', 'updatecheck', 'telemetry-hub'])}{rng.randrange(10, 99)}.net"
    t = slot.at
    k = 0
    while t < slot.at + timedelta(hours=6):
        if k not in (9, 10, 11, 22, 23):  # asleep: five check-ins missed
            events.extend(_proxy(ev, t, src=victim.ip, proxy=city.proxy, domain=domain))
        t += timedelta(seconds=600 * rng.uniform(0.8, 1.2))
        k += 1
    return Attack(
        events,
        {"source.ip": victim.ip, "url.domain": domain, "destination.domain": domain},
        f"{victim.workstation} checks in with {domain} through the proxy every ~10 minutes",
    )


_COMMON_PORTS = (21, 22, 23, 25, 53, 80, 110, 111, 135, 139, 143, 443, 445, 993, 995, 1433, 1723, 3306, 3389, 5900,
                 8080, 8443)  # fmt: skip


def port_scan_burst(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """An internet address probes the mail relay on 20 common service ports within two
    seconds; the firewall lets only SMTP through (near miss: 10 ports)."""
    src = f"{rng.choice([45, 91, 103, 185])}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    ports = rng.sample(_COMMON_PORTS, 10 if near else 20)
    events = [
        ev.flow(
            slot.at + timedelta(milliseconds=100 * i),
            src=src,
            dst=city.mail_relay,
            port=port,
            allowed=port == 25,
            bytes_out=60,
            bytes_in=60 if port == 25 else 0,
            observer="UTM-INET",
        )
        for i, port in enumerate(ports)
    ]
    return Attack(
        events,
        {"source.ip": src, "destination.ip": city.mail_relay},
        f"{src} probes the mail relay on {len(ports)} service ports within seconds",
    )
