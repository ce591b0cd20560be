"""Attacks on authentication: guessing, spraying, lockouts, stolen credentials in use."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from soc.simulate.baseline import admin_logon
from soc.simulate.events import EventFactory
from soc.simulate.population import CITY_LOCATION, SERVERS, City
from soc.simulate.scenarios import Attack, Slot, evening_time, night_time, office_time, spread

__all__ = [
    "account_lockout_storm",
    "auth_failure_surge",
    "brute_force_success",
    "failed_login_burst",
    "failed_login_burst_source",
    "failed_login_burst_workstation",
    "failed_login_unknown_account",
    "impossible_travel",
    "kerberos_brute_force",
    "kerberos_preauth_spray",
    "lateral_fan_out",
    "m365_signin_spray",
    "new_country_logon",
    "new_host_logon",
    "ntlm_failures_dc",
    "password_spray",
    "password_spray_success",
    "password_spray_workstation",
    "privileged_logon_off_hours",
    "ssh_brute_force",
    "ssh_protocol_probing",
    "ssh_slow_user_enumeration",
    "vpn_logon_abroad",
    "vpn_password_spray",
]

DC = ("DC01", SERVERS["DC01"])
SWDIST = "10.20.0.70"  # the software-deployment server; its machine account is swdist01$
SFTP_HOST = "sftp01"  # the internet-facing file-exchange server (sshd) in the DMZ
SEOUL, AMSTERDAM, BEIJING, TAIPEI, OSAKA = (
    (37.57, 126.98),
    (52.37, 4.90),
    (39.90, 116.40),
    (25.03, 121.56),
    (34.69, 135.50),
)


def _foreign_ip(rng: random.Random, first: int) -> str:
    return f"{first}.{rng.randrange(10, 250)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def failed_login_burst(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """A compromised LGWAN workstation guesses one colleague's password over SMB (4625, type 3)."""
    attacker, victim = rng.sample(city.staff, 2)
    n = 15 if near else 60
    events = [
        ev.windows(
            t,
            "4625",
            user=victim.login,
            host=DC[0],
            host_ip=DC[1],
            source_ip=attacker.ip,
            logon_type="3",
            status="0xC000006D",
        )
        for t in spread(slot.at, n, 10, rng)
    ]
    return Attack(
        events,
        {"user.name": victim.login, "source.ip": attacker.ip},
        f"{n} failed network logons for {victim.login} from workstation {attacker.workstation}",
    )


def failed_login_burst_source(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """One foreign address hammers the VPN gateway: many failures over a handful of accounts."""
    ip = _foreign_ip(rng, 91)
    victims = rng.sample(city.staff, 8)
    n = 80 if near else 130
    events = [
        ev.vpn_logon(t, user=victims[i % 8].login, source_ip=ip, country="RU", success=False, assigned_ip=None)
        for i, t in enumerate(spread(slot.at, n, 4.5, rng, 1.0))
    ]
    return Attack(events, {"source.ip": ip}, f"{n} failed VPN logons over 8 accounts from {ip}")


def password_spray(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """A compromised workstation tries one password against many accounts over SMB (4625)."""
    attacker = rng.choice(city.staff)
    victims = rng.sample([s for s in city.staff if s != attacker], 8 if near else 25)
    events = [
        ev.windows(
            t,
            "4625",
            user=v.login,
            host=DC[0],
            host_ip=DC[1],
            source_ip=attacker.ip,
            logon_type="3",
            status="0xC000006D",
        )
        for v, t in zip(victims, spread(slot.at, len(victims), 20, rng), strict=True)
    ]
    return Attack(
        events,
        {"source.ip": attacker.ip},
        f"password spray over SMB from {attacker.workstation} against {len(victims)} accounts",
    )


def password_spray_workstation(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """NTLM spray seen only as 4776 on the DC: no source address, just the workstation name."""
    attacker = rng.choice(city.staff)
    victims = rng.sample(city.staff, 8 if near else 20)
    events = [
        ev.windows(
            t,
            "4776",
            user=v.login,
            host=DC[0],
            host_ip=DC[1],
            source_ip=None,
            outcome="failure",
            status="0xC000006A",
            workstation=attacker.workstation,
        )
        for v, t in zip(victims, spread(slot.at, len(victims), 25, rng), strict=True)
    ]
    return Attack(
        events,
        {"source.domain": attacker.workstation.lower()},
        f"NTLM password spray from workstation {attacker.workstation} against {len(victims)} accounts",
    )


def failed_login_burst_workstation(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """Someone at a shared counter terminal guesses a colleague's password at the console
    (4625, logon type 2): the events carry the workstation name but no source address.
    Near miss: a dozen failures (a forgotten password, a stuck key)."""
    terminal, victim = rng.sample(city.staff, 2)
    n = 12 if near else 35
    events = [
        ev.windows(
            t,
            "4625",
            user=victim.login,
            host=terminal.workstation,
            host_ip=terminal.ip,
            source_ip=None,
            logon_type="2",
            status="0xC000006D",
            workstation=terminal.workstation,
        )
        for t in spread(slot.at, n, 20, rng)
    ]
    return Attack(
        events,
        {"source.domain": terminal.workstation.lower(), "user.name": victim.login},
        f"{n} failed console logons for {victim.login} at workstation {terminal.workstation}",
    )


def password_spray_success(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """A Japanese residential proxy sprays one password at the VPN gateway over many
    accounts, an account every 15 s (a burst at the gateway), then one account gets in.
    Near miss: 8 accounts, one try a minute (under the spray and burst thresholds)."""
    ip = f"126.{rng.randrange(10, 250)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    victims = rng.sample([s for s in city.staff if s.teleworker], 8 if near else 24)
    events: list[dict[str, Any]] = []
    times = spread(slot.at, len(victims), 60 if near else 15, rng, 5)
    for v, t in zip(victims, times, strict=True):
        for k in range(1 if near else rng.choice([1, 2])):
            events.append(
                ev.vpn_logon(
                    t + timedelta(seconds=4 * k),
                    user=v.login,
                    source_ip=ip,
                    country="JP",
                    success=False,
                    assigned_ip=None,
                )
            )
    winner = victims[-1]
    events.append(
        ev.vpn_logon(
            times[-1] + timedelta(seconds=60),
            user=winner.login,
            source_ip=ip,
            country="JP",
            success=True,
            assigned_ip=winner.vpn_ip,
        )
    )
    return Attack(
        events,
        {"source.ip": ip},
        f"VPN password spray from {ip} over {len(victims)} accounts, then {winner.login} logs on",
    )


def vpn_password_spray(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """A rented server abroad sprays the SSL-VPN portal the way FortiGate logs show it: nine
    failures in half a minute, over five names and three the gateway does not know (logged
    without a user): too few names for the spray rule, too few tries for the volume rules.

    Near miss: two teleworkers sharing a home router both mistype their passwords (five
    failures in two minutes from one Japanese address), then both get in."""
    if near:
        pair = rng.sample([s for s in city.staff if s.teleworker], 2)
        ip, country = pair[0].home_ip, "JP"
        events = [
            ev.vpn_logon(t, user=pair[i % 2].login, source_ip=ip, country=country, success=False, assigned_ip=None)
            for i, t in enumerate(spread(slot.at, 5, 20, rng, 4))
        ]
        events += [
            ev.vpn_logon(
                slot.at + timedelta(seconds=130 + 10 * i),
                user=s.login,
                source_ip=ip,
                country=country,
                success=True,
                assigned_ip=s.vpn_ip,
            )
            for i, s in enumerate(pair)
        ]
        return Attack(events, {"source.ip": ip}, f"two teleworkers behind {ip} mistype five times, then log on")
    ip = _foreign_ip(rng, 193)
    known = [s.login for s in rng.sample(city.staff, 3)]
    names: list[str | None] = [None, *known, None, "admin", "vpnuser", None, known[0]]
    events = [
        ev.vpn_logon(t, user=name, source_ip=ip, country="NL", success=False, assigned_ip=None)
        for name, t in zip(names, spread(slot.at, len(names), 3, rng, 1.5), strict=True)
    ]
    return Attack(events, {"source.ip": ip}, f"SSL-VPN spray from {ip}: {len(names)} failures, 5 names and unknown")


def kerberos_preauth_spray(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """A Kerberos spray from one address (kerbrute): wrong passwords of real accounts fail
    pre-authentication (4771, 0x18) and guessed names fail the ticket request (4768, 0x6)."""
    attacker = rng.choice(city.staff)
    victims = rng.sample(city.staff, 8 if near else 20)
    events = []
    for i, (v, t) in enumerate(zip(victims, spread(slot.at, len(victims), 20, rng), strict=True)):
        if i % 2:
            guessed = f"{v.login.split('.')[-1]}.admin"  # a name that does not exist
            events.append(
                ev.windows(
                    t,
                    "4768",
                    user=guessed,
                    host=DC[0],
                    host_ip=DC[1],
                    source_ip=attacker.ip,
                    outcome="failure",
                    status="0x6",
                )
            )
        else:
            events.append(
                ev.windows(t, "4771", user=v.login, host=DC[0], host_ip=DC[1], source_ip=attacker.ip, status="0x18")
            )
    return Attack(
        events,
        {"source.ip": attacker.ip},
        f"Kerberos pre-auth spray from {attacker.ip} against {len(victims)} accounts",
    )


def kerberos_brute_force(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """Kerberos pre-authentication failures for one account, again and again."""
    attacker, victim = rng.sample(city.staff, 2)
    n = 15 if near else 40
    events = [
        ev.windows(t, "4771", user=victim.login, host=DC[0], host_ip=DC[1], source_ip=attacker.ip, status="0x18")
        for t in spread(slot.at, n, 12, rng)
    ]
    return Attack(events, {"user.name": victim.login}, f"{n} Kerberos pre-auth failures for {victim.login}")


def ntlm_failures_dc(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """NTLM credential validation failures (4776) for one account on a domain controller."""
    attacker, victim = rng.sample(city.staff, 2)
    n = 15 if near else 40
    events = [
        ev.windows(
            t,
            "4776",
            user=victim.login,
            host=DC[0],
            host_ip=DC[1],
            source_ip=None,
            outcome="failure",
            status="0xC000006A",
            workstation=attacker.workstation,
        )
        for t in spread(slot.at, n, 12, rng)
    ]
    return Attack(
        events,
        {"user.name": victim.login, "source.domain": attacker.workstation.lower()},
        f"{n} NTLM failures for {victim.login} on {DC[0]} from workstation {attacker.workstation}",
    )


def account_lockout_storm(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """Many accounts locked out within minutes (4740 on the PDC emulator)."""
    victims = rng.sample(city.staff, 4 if near else 8)
    events = [
        ev.windows(t, "4740", user=v.login, host=DC[0], host_ip=DC[1], source_ip=None)
        for v, t in zip(victims, spread(slot.at, len(victims), 60, rng, 20), strict=True)
    ]
    return Attack(events, {"host.name": DC[0]}, f"{len(victims)} accounts locked out on {DC[0]}")


def brute_force_success(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """At night, VPN failures for one teleworker from abroad, then a success: a likely compromise.

    Near miss: a teleworker mistypes four times at home, then gets in.
    """
    victim = rng.choice([s for s in city.staff if s.teleworker])
    start = night_time(slot, rng)
    if near:
        ip, country, loc, n = victim.home_ip, "JP", victim.home_location, 4
    else:
        ip, country, loc, n = _foreign_ip(rng, 103), "CN", BEIJING, 30
    events: list[dict[str, Any]] = [
        ev.vpn_logon(t, user=victim.login, source_ip=ip, country=country, success=False, assigned_ip=None, location=loc)
        for t in spread(start, n, 15, rng, 4)
    ]
    events.append(
        ev.vpn_logon(
            start + timedelta(seconds=n * 15 + 20),
            user=victim.login,
            source_ip=ip,
            country=country,
            success=True,
            assigned_ip=victim.vpn_ip,
            location=loc,
        )
    )
    return Attack(
        events,
        {"user.name": victim.login, "source.ip": ip, "source.geo.country_iso_code": country},
        f"VPN brute force against {victim.login} from {ip} ({country}) that ends in a successful logon",
    )


def privileged_logon_off_hours(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """An administrative account logs on to one of its servers by remote desktop at 3 a.m.

    Near miss: the same logon at 19:xx, inside business hours; the administrator at the
    server's own console at night (an interactive logon: someone in the server room); the
    server's machine account (``NAME$``) logging on to a domain controller at night."""
    adm = rng.choice(city.admins)
    server = rng.choice(adm.servers)
    at = evening_time(slot, rng) if near else night_time(slot, rng)
    events = admin_logon(ev, at, adm.account, server, adm.staff.ip)
    if near:
        night = night_time(slot, rng)
        events += admin_logon(ev, night, adm.account, server, "127.0.0.1", logon_type="2")
        # the server's machine account logs on to a domain controller (network logon, privileges)
        machine = f"{server.lower()}$"
        events += [
            ev.windows(night, code, user=machine, host="DC01", host_ip=city.dcs["DC01"], source_ip=SERVERS[server],
                       logon_type="3", logon_id="0x5f3e1")
            for code in ("4624", "4672")
        ]  # fmt: skip
    return Attack(
        events,
        {"user.name": adm.account, "host.name": server},
        f"{adm.account} logs on to {server} at {at.isoformat()}",
    )


def new_country_logon(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """A Microsoft 365 sign-in from Korea, at night, for an account never used abroad.

    Near miss: the account signed in from Korea a few days earlier (a business trip),
    so the country is already known.
    """
    victim = rng.choice(city.staff)
    at = night_time(slot, rng)
    ip = _foreign_ip(rng, 175)
    events = []
    if near:
        events.append(
            ev.m365_signin(
                slot.range_start - timedelta(days=3),
                upn=victim.upn,
                source_ip=ip,
                country="KR",
                success=True,
                location=SEOUL,
            )
        )
    events.append(ev.m365_signin(at, upn=victim.upn, source_ip=ip, country="KR", success=True, location=SEOUL))
    return Attack(
        events,
        {"user.name": victim.upn, "source.geo.country_iso_code": "KR"},
        f"first Microsoft 365 sign-in of {victim.upn} from Korea",
    )


def new_host_logon(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """An administrative account logs on to a server it has never managed (near miss: its own)."""
    adm = rng.choice(city.admins)
    others = [s for s in SERVERS if s not in adm.servers]
    server = rng.choice(adm.servers) if near else rng.choice(others)
    events = admin_logon(ev, office_time(slot, rng), adm.account, server, adm.staff.ip)
    return Attack(
        events,
        {"user.name": adm.account, "host.name": server},
        f"first remote-desktop logon of {adm.account} to {server}",
    )


def impossible_travel(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """Signed in from the city, then 40 minutes later from Amsterdam (near miss: from Osaka)."""
    victim = rng.choice(city.staff)
    t = office_time(slot, rng)
    far_ip = "88.159.12.7" if not near else "60.34.120.9"
    country, loc = ("JP", OSAKA) if near else ("NL", AMSTERDAM)
    events = [
        ev.m365_signin(t, upn=victim.upn, source_ip=city.egress_ip, country="JP", success=True, location=CITY_LOCATION),
        ev.m365_signin(
            t + timedelta(minutes=40), upn=victim.upn, source_ip=far_ip, country=country, success=True, location=loc
        ),
    ]
    entities = {"user.name": victim.upn}
    if not near:
        entities["source.geo.country_iso_code"] = "NL"
    return Attack(events, entities, f"{victim.upn} signs in from the city and from {country} 40 minutes apart")


def vpn_logon_abroad(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """A teleworker's account connects to the VPN from Taiwan at night (near miss: a new Japanese ISP)."""
    victim = rng.choice([s for s in city.staff if s.teleworker])
    at = night_time(slot, rng)
    if near:
        ip, country, loc = "126.77.40.3", "JP", victim.home_location
    else:
        ip, country, loc = _foreign_ip(rng, 114), "TW", TAIPEI
    events = [
        ev.vpn_logon(
            at, user=victim.login, source_ip=ip, country=country, success=True, assigned_ip=victim.vpn_ip, location=loc
        )
    ]
    return Attack(
        events,
        {"user.name": victim.login, "source.ip": ip, "source.geo.country_iso_code": country},
        f"VPN logon of {victim.login} from {country} ({ip})",
    )


def m365_signin_spray(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """One foreign address tries a common password against many staff accounts in Microsoft 365."""
    ip = _foreign_ip(rng, 185)
    targets = rng.sample(city.staff, 8 if near else 40)
    events = []
    for s, t in zip(targets, spread(slot.at, len(targets), 28, rng, 5), strict=True):
        for k in range(rng.choice([1, 2])):
            events.append(
                ev.m365_signin(t + timedelta(seconds=k * 3), upn=s.upn, source_ip=ip, country="NL", success=False)
            )
    return Attack(events, {"source.ip": ip}, f"Microsoft 365 password spray from {ip} against {len(targets)} accounts")


def auth_failure_surge(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """Credential stuffing from a botnet: 55 addresses, most with only a few tries, together a
    surge. One address (the botnet's best-connected node) sends 40 tries at six leaked
    accounts, more than any single brute force the night may hold at the same time: the
    alert names it."""
    n = 110 if near else 220
    ips = [_foreign_ip(rng, rng.choice([45, 77, 181, 190, 200])) for _ in range(55)]
    busiest = 40 if not near else 5
    senders = [ips[0]] * busiest + [ips[1 + i % (len(ips) - 1)] for i in range(n - busiest)]
    rng.shuffle(senders)
    # the busy node retries the six leaked accounts it holds (password variants), not a spray
    leaked = rng.sample(city.staff, 6)
    events = []
    for ip, t in zip(senders, spread(slot.at, n, 600 / n, rng, 1.0), strict=True):
        events.append(
            ev.m365_signin(
                t,
                upn=rng.choice(leaked if ip == ips[0] else city.staff).upn,
                source_ip=ip,
                country=rng.choice(["US", "BR", "DE", "VN"]),
                success=False,
            )
        )
    return Attack(
        events,
        {"source.ip": ips[0]},
        f"{n} Microsoft 365 sign-in failures from {len(ips)} addresses in 10 minutes, most from {ips[0]}",
    )


def lateral_fan_out(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """One account logs on over the network to many workstations in minutes.

    Near miss: the account reaches 7, and the software-deployment server's own machine
    account (``swdist01$``) reaches 16 in an inventory run, as computer accounts do."""
    attacker, victim = rng.sample(city.staff, 2)
    hosts = rng.sample([s for s in city.staff if s not in (attacker, victim)], 7 if near else 16)
    events = [
        ev.windows(
            t, "4624", user=victim.login, host=h.workstation, host_ip=h.ip, source_ip=attacker.ip, logon_type="3"
        )
        for h, t in zip(hosts, spread(slot.at, len(hosts), 30, rng), strict=True)
    ]
    if near:
        inventory = rng.sample(city.staff, 16)
        events += [
            ev.windows(t, "4624", user="swdist01$", host=h.workstation, host_ip=h.ip, source_ip=SWDIST, logon_type="3")
            for h, t in zip(inventory, spread(slot.at, len(inventory), 20, rng), strict=True)
        ]
    return Attack(
        events,
        {"user.name": victim.login},
        f"{victim.login} logs on to {len(hosts)} workstations from {attacker.workstation}",
    )


def ssh_brute_force(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """A foreign address guesses root and admin on the internet-facing SFTP server, a few
    tries per connection (near miss: a teleworking administrator mistypes three times in
    one connection, then gets in)."""
    ip = _foreign_ip(rng, 45)
    events: list[dict[str, Any]] = []
    if near:
        times = spread(slot.at, 4, 20, rng)
        port = rng.randrange(40000, 60000)
        for t in times[:3]:
            events.append(
                ev.ssh_auth(t, host=SFTP_HOST, user="sftpadmin", source_ip=ip, port=port, action="ssh-login-failed")
            )
        events.append(
            ev.ssh_auth(
                times[2], host=SFTP_HOST, user="sftpadmin", source_ip=ip, port=port, action="ssh-disconnected-preauth"
            )
        )
        events.append(
            ev.ssh_auth(times[3], host=SFTP_HOST, user="sftpadmin", source_ip=ip, port=port + 1, action="ssh-login")
        )
        return Attack(events, {"source.ip": ip}, f"three mistyped SSH passwords then a logon from {ip}")
    for i, t in enumerate(spread(slot.at, 24, 12, rng)):
        port = 30000 + i // 3  # three tries per connection, then sshd drops it
        if i % 2:
            events.append(
                ev.ssh_auth(t, host=SFTP_HOST, user="admin", source_ip=ip, port=port, action="ssh-invalid-user")
            )
            events.append(
                ev.ssh_auth(
                    t, host=SFTP_HOST, user="admin", source_ip=ip, port=port, action="ssh-login-failed", invalid=True
                )
            )
        else:
            events.append(
                ev.ssh_auth(t, host=SFTP_HOST, user="root", source_ip=ip, port=port, action="ssh-login-failed")
            )
        if i % 3 == 2:
            events.append(
                ev.ssh_auth(t, host=SFTP_HOST, user="root", source_ip=ip, port=port, action="ssh-disconnected-preauth")
            )
    return Attack(events, {"source.ip": ip}, f"24 SSH password guesses for root and admin in 5 minutes from {ip}")


def ssh_protocol_probing(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """A foreign scanner fingerprints the SFTP server: garbage banners, legacy-only key
    exchanges and connections left to time out, nine in five minutes, and no password.

    Near miss: the partner's old SFTP client fails the key exchange three times before its
    operator fixes it, and a load balancer's health check opens and closes a connection
    every 30 s (a bare pre-auth close, not counted)."""
    ip = _foreign_ip(rng, 61 if near else 59)
    events: list[dict[str, Any]] = []
    if near:
        for t in spread(slot.at, 3, 60, rng):
            events.append(
                ev.ssh_protocol(
                    t,
                    host=SFTP_HOST,
                    source_ip=ip,
                    port=rng.randrange(40000, 60000),
                    action="ssh-negotiation-failed",
                    reason="no matching host key type found",
                )
            )
        for t in spread(slot.at, 30, 30, rng, 1):
            events.append(
                ev.ssh_protocol(
                    t, host=SFTP_HOST, source_ip=ip, port=rng.randrange(40000, 60000), action="ssh-preauth-disconnect"
                )
            )
        return Attack(events, {"source.ip": ip}, f"three failed SSH key exchanges and health checks from {ip}")
    kinds = [
        ("ssh-banner-exchange-failed", "invalid format"),
        ("ssh-negotiation-failed", "no matching key exchange method found"),
        ("ssh-preauth-timeout", None),
    ]
    for i, t in enumerate(spread(slot.at, 9, 33, rng)):
        action, reason = kinds[i % 3]
        events.append(
            ev.ssh_protocol(
                t, host=SFTP_HOST, source_ip=ip, port=rng.randrange(30000, 60000), action=action, reason=reason
            )
        )
    return Attack(events, {"source.ip": ip}, f"nine pre-authentication SSH failures in five minutes from {ip}")


def _pam_failure(ev: EventFactory, at: datetime, *, user: str, rhost: str) -> dict[str, Any]:
    """A ``pam_unix(sshd:auth): authentication failure; … rhost=NAME user=…`` line as
    ``soc ingest --format sshd`` indexes it: the host name in source.domain, no address."""
    doc = ev.ssh_auth(
        at, host=SFTP_HOST, user=user, source_ip="192.0.2.1", port=0, action="ssh-login-failed"
    )  # replaced below
    doc["event"]["action"] = "ssh-pam-auth-failure"
    doc["source"] = {"address": rhost, "domain": rhost}
    doc["related"] = {"user": [user]}
    return doc


def ssh_brute_force_host_name(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """The SFTP server logs through PAM only, with reverse DNS on (rhost is a host name,
    sshd writes no address): an internet host guesses root 12 times in three minutes
    (near miss: an administrator's workstation mistypes three times)."""
    if near:
        rhost = "pc-ops01.city.local"
        events = [_pam_failure(ev, t, user="sftpadmin", rhost=rhost) for t in spread(slot.at, 3, 2, rng)]
        return Attack(events, {"source.domain": rhost}, f"three mistyped SSH passwords from {rhost} (PAM only)")
    rhost = f"host-{rng.randrange(1, 254)}-{rng.randrange(1, 254)}.dynamic.example-isp.net"
    events = [_pam_failure(ev, t, user="root", rhost=rhost) for t in spread(slot.at, 12, 15, rng)]
    return Attack(events, {"source.domain": rhost}, f"12 SSH password guesses for root from {rhost} (PAM only)")


def ssh_slow_user_enumeration(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """A foreign address tries one invalid user every 20-25 minutes on the SFTP server, under
    every rate limit (near miss: three user names over two hours, as a partner who forgot
    which account name the city gave it)."""
    ip = _foreign_ip(rng, 103)
    users = ["oracle", "postgres", "test"] if near else ["root", "oracle", "postgres", "test", "guest"]
    events: list[dict[str, Any]] = []
    at = slot.at
    for user in users:
        port = rng.randrange(40000, 60000)
        events.append(ev.ssh_auth(at, host=SFTP_HOST, user=user, source_ip=ip, port=port, action="ssh-invalid-user"))
        events.append(
            ev.ssh_auth(at, host=SFTP_HOST, user=user, source_ip=ip, port=port, action="ssh-login-failed", invalid=True)
        )
        at += timedelta(minutes=rng.uniform(20, 25))
    return Attack(events, {"source.ip": ip}, f"{len(users)} invalid SSH users, one every 20-25 minutes, from {ip}")


def failed_login_unknown_account(city: City, slot: Slot, rng: random.Random, ev: EventFactory, near: bool) -> Attack:
    """A compromised workstation tries account names that do not exist on the file server
    (4625, SubStatus 0xC0000064), a guess every few seconds (near miss: a member of staff
    mistypes their own user name three times)."""
    attacker = rng.choice(city.staff)
    server = ("FS01", SERVERS["FS01"])
    names = [attacker.login + "x"] * 3 if near else ["administrator1", "admin", "test", "user", "guest2", "backup"] * 2
    events = [
        ev.windows(
            t,
            "4625",
            user=name,
            host=server[0],
            host_ip=server[1],
            source_ip=attacker.ip,
            logon_type="3",
            status="0xC000006D",
            sub_status="0xC0000064",
        )
        for name, t in zip(names, spread(slot.at, len(names), 8 if near else 4, rng), strict=True)
    ]
    return Attack(
        events,
        {"source.ip": attacker.ip},
        f"{len(names)} logons for accounts that do not exist from workstation {attacker.workstation}",
    )
