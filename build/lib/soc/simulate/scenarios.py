"""Named attack scenarios, each returning its events and its ground truth.

One explicit table maps a scenario name to its generator. Every generator receives its
own random stream and start time, so adding a scenario never shifts the others.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from soc.simulate.events import EventFactory
from soc.simulate.models import TruthRecord
from soc.simulate.population import City

__all__ = ["DURATION", "SCENARIOS", "Injected"]


@dataclass
class Injected:
    events: list[dict[str, Any]]
    truth: TruthRecord


ScenarioFn = Callable[[City, datetime, random.Random, EventFactory], Injected]

# longest span of any scenario; the orchestrator keeps scenarios this far from the range ends
DURATION = timedelta(minutes=30)


def _truth(
    name: str, description: str, entities: dict[str, str], events: list[dict[str, Any]], expected: list[str]
) -> TruthRecord:
    times = sorted(e["@timestamp"] for e in events)
    return TruthRecord(
        scenario=name,
        description=description,
        entities=entities,
        start=times[0],
        end=times[-1],
        expected_detectors=expected,
        event_count=len(events),
    )


def failed_login_burst(city: City, start: datetime, rng: random.Random, ev: EventFactory) -> Injected:
    """A compromised LGWAN workstation guesses one colleague's password over SMB (4625, type 3)."""
    attacker, victim = rng.sample(city.staff, 2)
    events = [
        ev.windows(
            start + timedelta(seconds=i * 10 + rng.uniform(0, 3)),
            "4625",
            user=victim.login,
            host="DC01",
            host_ip=city.dcs["DC01"],
            source_ip=attacker.ip,
            logon_type="3",
            status="0xC000006D",
        )
        for i in range(60)
    ]
    return Injected(
        events,
        _truth(
            "failed-login-burst",
            f"60 failed network logons for {victim.login} from workstation {attacker.workstation}",
            {"user.name": victim.login, "source.ip": attacker.ip},
            events,
            ["failed-login-burst"],
        ),
    )


def password_spray(city: City, start: datetime, rng: random.Random, ev: EventFactory) -> Injected:
    """One foreign address tries a common password against 40 staff accounts in Microsoft 365."""
    ip = f"185.{rng.randrange(100, 200)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    targets = rng.sample(city.staff, 40)
    events = []
    for i, s in enumerate(targets):
        t = start + timedelta(seconds=i * 28 + rng.uniform(0, 5))
        for k in range(rng.choice([1, 2])):
            events.append(
                ev.m365_signin(t + timedelta(seconds=k * 3), upn=s.upn, source_ip=ip, country="NL", success=False)
            )
    return Injected(
        events,
        _truth(
            "password-spray",
            f"Microsoft 365 password spray from {ip} against 40 accounts",
            {"source.ip": ip},
            events,
            ["password-spray"],
        ),
    )


def brute_force_success(city: City, start: datetime, rng: random.Random, ev: EventFactory) -> Injected:
    """30 failed VPN logons for one teleworker from abroad, then a success: a likely compromise."""
    victim = rng.choice([s for s in city.staff if s.teleworker])
    ip = f"103.{rng.randrange(10, 250)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    events = [
        ev.vpn_logon(
            start + timedelta(seconds=i * 15 + rng.uniform(0, 4)),
            user=victim.login,
            source_ip=ip,
            country="CN",
            success=False,
            assigned_ip=None,
        )
        for i in range(30)
    ]
    events.append(
        ev.vpn_logon(
            start + timedelta(seconds=30 * 15 + 20),
            user=victim.login,
            source_ip=ip,
            country="CN",
            success=True,
            assigned_ip=victim.vpn_ip,
        )
    )
    return Injected(
        events,
        _truth(
            "brute-force-success",
            f"VPN brute force against {victim.login} from {ip} that ends in a successful logon",
            {"user.name": victim.login, "source.ip": ip},
            events,
            ["failed-login-burst", "brute-force-success"],
        ),
    )


def port_scan(city: City, start: datetime, rng: random.Random, ev: EventFactory) -> Injected:
    """A compromised workstation probes the file server on 200 ports within five minutes."""
    attacker = rng.choice(city.staff)
    ports = rng.sample(range(1, 10000), 200)
    events = []
    for i, port in enumerate(ports):
        allowed = port in (135, 139, 445)
        events.append(
            ev.flow(
                start + timedelta(seconds=i * 1.5),
                src=attacker.ip,
                dst=city.file_server,
                port=port,
                allowed=allowed,
                bytes_out=60,
                bytes_in=0 if not allowed else 60,
                observer="UTM-LGWAN",
            )
        )
    return Injected(
        events,
        _truth(
            "port-scan",
            f"workstation {attacker.workstation} scans the file server on 200 ports",
            {"source.ip": attacker.ip, "destination.ip": city.file_server},
            events,
            ["port-scan"],
        ),
    )


SCENARIOS: dict[str, ScenarioFn] = {
    "failed-login-burst": failed_login_burst,
    "password-spray": password_spray,
    "brute-force-success": brute_force_success,
    "port-scan": port_scan,
}
