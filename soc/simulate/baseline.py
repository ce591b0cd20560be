"""Normal traffic of the city, one hour at a time (deterministic per seed and hour).

Weekdays follow the municipal office day in JST (08:30-17:15, a lunch dip, some
overtime); nights and weekends carry only servers, backups and mail. Benign failures
(typing mistakes) exist but stay far below every shipped detector's threshold:
at most two per logon (three at the VPN portal), and at most two distinct failing accounts per 15 minutes
behind the shared internet egress address.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from soc.calendar import calendar_for
from soc.simulate.events import EventFactory
from soc.simulate.population import CITY_LOCATION, SERVERS, City, Staff

__all__ = ["activity", "baseline_hour", "history_day"]

JST = ZoneInfo("Asia/Tokyo")
OFFICE_CALENDAR = calendar_for(None)  # the simulated city keeps a Japanese office calendar

SITES = [
    "www.city.example.lg.jp",
    "www.soumu.go.jp",
    "www.pref.example.lg.jp",
    "www.nhk.or.jp",
    "www.jma.go.jp",
    "www.e-gov.go.jp",
    "news.yahoo.co.jp",
    "www.google.com",
    "www.digital.go.jp",
]
INTERNAL_NAMES = ["fs01.city.local", "gw01.city.local", "dc01.city.local", "dc02.city.local", "print01.city.local"]
CLOUD_NAMES = [
    "outlook.office365.com",
    "login.microsoftonline.com",
    "city.sharepoint.com",
    "teams.microsoft.com",
    "zoom.us",
]


def activity(at: datetime) -> float:
    """Share of staff at work at this instant (0..1), by the JST office day."""
    local = at.astimezone(JST)
    if OFFICE_CALENDAR.is_closed(local.date()):  # weekends, holidays, the year-end closure
        return 0.01
    minutes = local.hour * 60 + local.minute
    if minutes < 8 * 60 or minutes >= 21 * 60:
        return 0.0
    if minutes < 8 * 60 + 30:
        return 0.3
    if 12 * 60 <= minutes < 13 * 60:
        return 0.5
    if minutes < 17 * 60 + 15:
        return 0.95
    return 0.15 if minutes < 19 * 60 else 0.05


def _public_ip(rng: random.Random, *, first_octets: tuple[int, ...]) -> str:
    return f"{rng.choice(first_octets)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _at(hour: datetime, rng: random.Random) -> datetime:
    return hour + timedelta(seconds=rng.uniform(0, 3600))


def _staff_hour(
    ev: EventFactory,
    city: City,
    s: Staff,
    hour: datetime,
    rng: random.Random,
    first: bool,
    egress_failures: dict[int, set[str]],
) -> Iterator[dict[str, Any]]:
    src = s.vpn_ip if s.teleworker and rng.random() < 0.2 else s.ip
    dc_name, dc_ip = rng.choice(sorted(city.dcs.items()))
    if first:
        t = hour + timedelta(seconds=rng.uniform(0, 1800))
        if src == s.vpn_ip:
            # some mornings the VPN password is mistyped once to three times first; an rng
            # of its own, so the rest of the day draws what it drew before these existed
            typo = random.Random(f"vpn-typo-{s.login}-{t.isoformat()}")
            if typo.random() < 0.08:
                tries = typo.choice([1, 1, 2, 3])
                for k in range(tries):
                    yield ev.vpn_logon(
                        t - timedelta(minutes=2, seconds=15 * (tries - k)),
                        user=s.login,
                        source_ip=s.home_ip,
                        country="JP",
                        success=False,
                        assigned_ip=None,
                        location=s.home_location,
                    )
            yield ev.vpn_logon(
                t - timedelta(minutes=2),
                user=s.login,
                source_ip=s.home_ip,
                country="JP",
                success=True,
                assigned_ip=s.vpn_ip,
                location=s.home_location,
            )
        if rng.random() < 0.04:  # a typo at the logon screen: Kerberos pre-auth fails once or twice
            for k in range(rng.choice([1, 1, 2])):
                yield ev.windows(
                    t - timedelta(seconds=20 * (k + 1)),
                    "4771",
                    user=s.login,
                    host=dc_name,
                    host_ip=dc_ip,
                    source_ip=src,
                    status="0x18",
                )
        yield ev.windows(t, "4768", user=s.login, host=dc_name, host_ip=dc_ip, source_ip=src)
        yield ev.windows(
            t + timedelta(seconds=2), "4624", user=s.login, host=dc_name, host_ip=dc_ip, source_ip=src, logon_type="3"
        )
    # file server and groupware sessions
    for _ in range(rng.randint(1, 3)):
        yield ev.windows(
            _at(hour, rng), "4624", user=s.login, host="FS01", host_ip=city.file_server, source_ip=src, logon_type="3"
        )
    if rng.random() < 0.1:
        yield ev.windows(
            _at(hour, rng), "4776", user=s.login, host=dc_name, host_ip=dc_ip, source_ip=None, workstation=s.workstation
        )
    # Microsoft 365 through local breakout: the city's egress address
    if first or rng.random() < 0.3:
        t = _at(hour, rng)
        bucket = int((t - hour).total_seconds() // 900)
        failing = egress_failures.setdefault(bucket, set())
        if rng.random() < 0.03 and len(failing) < 2:
            failing.add(s.login)
            yield ev.m365_signin(
                t - timedelta(seconds=15),
                upn=s.upn,
                source_ip=city.egress_ip,
                country="JP",
                success=False,
                location=CITY_LOCATION,
            )
        yield ev.m365_signin(t, upn=s.upn, source_ip=city.egress_ip, country="JP", success=True, location=CITY_LOCATION)
    # firewall flows
    for _ in range(rng.randint(12, 26)):
        t = _at(hour, rng)
        r = rng.random()
        if r < 0.35:
            dst, port = city.file_server, 445
        elif r < 0.55:
            dst, port = dc_ip, rng.choice([88, 389, 445, 135, 53])
        elif r < 0.72:
            dst, port = city.groupware, 443
        elif r < 0.88:
            dst, port = rng.choice(city.m365_ips + city.zoom_ips), 443
        elif r < 0.99:
            dst, port = city.virtual_browser, 443
        else:  # a misconfigured app trying public DNS: denied at the boundary
            yield ev.flow(t, src=src, dst="8.8.8.8", port=53, transport="udp", allowed=False, observer="UTM-LGWAN")
            continue
        out_b = int(rng.lognormvariate(8, 1.2))
        yield ev.flow(
            t,
            src=src,
            dst=dst,
            port=port,
            bytes_out=out_b,
            bytes_in=int(out_b * rng.uniform(1, 20)),
            observer="UTM-LGWAN",
        )
    for _ in range(rng.randint(5, 12)):
        name = rng.choice(INTERNAL_NAMES + CLOUD_NAMES)
        yield ev.dns(_at(hour, rng), src=src, server=city.dns_server, name=name)
    # My Number systems: only to their own servers
    if s.mynumber_terminal and rng.random() < 0.6:
        t = _at(hour, rng)
        if first:
            yield ev.windows(
                t - timedelta(seconds=30),
                "4624",
                user=s.login,
                host="MN-DC01",
                host_ip=city.mynumber_dc,
                source_ip=s.mynumber_terminal,
                logon_type="2",
            )
        for _ in range(rng.randint(3, 8)):
            yield ev.flow(
                _at(hour, rng),
                src=s.mynumber_terminal,
                dst=city.mynumber_app,
                port=443,
                bytes_out=int(rng.lognormvariate(7, 1)),
                bytes_in=int(rng.lognormvariate(9, 1)),
                observer="UTM-MYNUMBER",
            )


def logon_id(*parts: str) -> str:
    """A Windows logon id (``0x3a7f21``), the same for the same parts on every run."""
    return f"0x{zlib.crc32('|'.join(parts).encode()) & 0xFFFFFF:x}"


def admin_logon(
    ev: EventFactory, at: datetime, account: str, server: str, source_ip: str, logon_type: str = "10"
) -> list[dict[str, Any]]:
    """An administrator's logon to a server: 4624 (remote desktop, type 10, unless told)
    and its 4672, which carries the logon's type and source as the parsers join them."""
    ip = SERVERS[server]
    lid = logon_id(account, server, at.isoformat())
    logon = {"user": account, "host": server, "host_ip": ip, "logon_type": logon_type, "logon_id": lid}
    return [
        ev.windows(at, "4624", source_ip=source_ip, **logon),
        ev.windows(at + timedelta(milliseconds=20), "4672", source_ip=source_ip, **logon),
    ]


def _servers_hour(
    ev: EventFactory, city: City, hour: datetime, rng: random.Random, active: int
) -> Iterator[dict[str, Any]]:
    local = hour.astimezone(JST)
    # LGWAN infrastructure chatter through the LGWAN firewall, day and night
    for _ in range(rng.randint(10, 16)):
        yield ev.flow(
            _at(hour, rng),
            src=city.groupware,
            dst=city.dns_server,
            port=53,
            transport="udp",
            bytes_out=80,
            bytes_in=160,
            observer="UTM-LGWAN",
        )
    # the antivirus manager polls its vendor every 3 minutes: a benign beacon (allow-listed)
    for k in range(20):
        yield ev.flow(
            hour + timedelta(minutes=3 * k, seconds=17 + rng.uniform(-1, 1)),
            src=city.av_manager,
            dst=city.av_vendor,
            port=443,
            bytes_out=900,
            bytes_in=2400,
            observer="UTM-INET",
        )
    # domain controller replication and health
    for _ in range(12):
        yield ev.flow(
            _at(hour, rng),
            src=city.dcs["DC01"],
            dst=city.dcs["DC02"],
            port=rng.choice([135, 389, 445]),
            bytes_out=int(rng.lognormvariate(9, 1)),
            bytes_in=int(rng.lognormvariate(9, 1)),
        )
    yield ev.windows(
        _at(hour, rng),
        "4624",
        user="svc-monitor",
        host="DC01",
        host_ip=city.dcs["DC01"],
        source_ip="10.20.0.60",
        logon_type="3",
    )
    # application server talks to its database
    for _ in range(rng.randint(20, 40)):
        yield ev.flow(
            _at(hour, rng),
            src=city.mynumber_app,
            dst=city.mynumber_db,
            port=1521,
            bytes_out=int(rng.lognormvariate(8, 1)),
            bytes_in=int(rng.lognormvariate(10, 1)),
            observer="UTM-MYNUMBER",
        )
    # nightly backup of the file server
    if 1 <= local.hour < 4:
        backup_logon = logon_id("svc-backup", "FS01", hour.isoformat())
        yield ev.windows(
            hour + timedelta(minutes=1),
            "4624",
            user="svc-backup",
            host="FS01",
            host_ip=city.file_server,
            source_ip=city.backup_server,
            logon_type="3",
            logon_id=backup_logon,
        )
        # the backup account holds backup privileges: Windows logs a special logon (4672)
        yield ev.windows(
            hour + timedelta(minutes=1, milliseconds=30),
            "4672",
            user="svc-backup",
            host="FS01",
            host_ip=city.file_server,
            source_ip=city.backup_server,
            logon_type="3",
            logon_id=backup_logon,
        )
        for _ in range(60):
            yield ev.flow(
                _at(hour, rng),
                src=city.backup_server,
                dst=city.file_server,
                port=445,
                bytes_out=int(rng.lognormvariate(9, 1)),
                bytes_in=int(rng.lognormvariate(15, 1)),
            )
    # inbound mail to the relay in the internet-connected segment, all day
    for _ in range(rng.randint(20, 45)):
        sender = _public_ip(rng, first_octets=(27, 49, 61, 133, 202, 210))
        yield ev.flow(
            _at(hour, rng),
            src=sender,
            dst=city.mail_relay,
            port=25,
            bytes_out=int(rng.lognormvariate(10, 1)),
            bytes_in=300,
            observer="UTM-INET",
        )
    # web browsing leaves through the proxy in the internet-connected segment
    for _ in range(active * 3):
        site = rng.choice(SITES)
        t = _at(hour, rng)
        yield ev.dns(t, src=city.proxy, server="10.30.0.53", name=site)
        dst = _public_ip(rng, first_octets=(23, 104, 142, 151, 157, 172))
        yield ev.flow(
            t + timedelta(milliseconds=40),
            src=city.proxy,
            dst=dst,
            port=rng.choice([443, 443, 443, 80]),
            bytes_out=int(rng.lognormvariate(7, 1)),
            bytes_in=int(rng.lognormvariate(11, 1.5)),
            observer="UTM-INET",
        )


SFTP_BALANCER = "10.30.0.5"  # the load balancer in front of the internet-facing SFTP server
_PROBES = (
    ("ssh-negotiation-failed", "no matching key exchange method found"),
    ("ssh-banner-exchange-failed", "invalid format"),
    ("ssh-preauth-timeout", None),
)


def _sftp_hour(ev: EventFactory, hour: datetime, rng: random.Random) -> Iterator[dict[str, Any]]:
    """What the internet-facing SFTP server's sshd logs before anyone authenticates: the
    load balancer's health check every 5 minutes (connects, leaves) and the internet's
    background noise, a stray probe or two from addresses that never come back."""
    for k in range(12):
        at = hour + timedelta(minutes=5 * k, seconds=3)
        port = 40000 + k
        yield ev.ssh_protocol(at, host="sftp01", source_ip=SFTP_BALANCER, port=port, action="ssh-preauth-disconnect")
    for _ in range(rng.randint(0, 2)):
        prober = _public_ip(rng, first_octets=(80, 92, 185, 193))
        for _ in range(rng.randint(1, 2)):
            action, reason = rng.choice(_PROBES)
            port = rng.randrange(30000, 60000)
            yield ev.ssh_protocol(
                _at(hour, rng), host="sftp01", source_ip=prober, port=port, action=action, reason=reason
            )


def baseline_hour(city: City, hour: datetime, *, seed: int, seen_today: set[str]) -> Iterator[dict[str, Any]]:
    """Every normal event of ``[hour, hour + 1h)``; *seen_today* tracks who already logged on."""
    rng = random.Random(f"baseline-{seed}-{int(hour.timestamp())}")
    ev = EventFactory(f"sim{seed}-{int(hour.timestamp())}")
    share = max(activity(hour), activity(hour + timedelta(minutes=30)))
    active = [s for s in city.staff if rng.random() < share]
    egress_failures: dict[int, set[str]] = {}
    for s in active:
        first = s.login not in seen_today
        seen_today.add(s.login)
        yield from _staff_hour(ev, city, s, hour, rng, first, egress_failures)
    working = {s.login for s in active}
    for adm in city.admins:
        if adm.staff.login in working and activity(hour) > 0.5 and rng.random() < 0.4:
            yield from admin_logon(ev, _at(hour, rng), adm.account, rng.choice(adm.servers), adm.staff.ip)
    yield from _servers_hour(ev, city, hour, rng, len(active))
    yield from _sftp_hour(ev, hour, rng)


def history_day(city: City, day_start: datetime, *, seed: int) -> list[dict[str, Any]]:
    """A light trace of one earlier office day: what ``new_term`` detectors learn from.

    Every member of staff signs in to Microsoft 365 from the city, teleworkers connect
    from home over the VPN, and administrators log on to each server they manage.
    """
    rng = random.Random(f"history-{seed}-{int(day_start.timestamp())}")
    ev = EventFactory(f"sim{seed}-h{int(day_start.timestamp())}")
    office = day_start.astimezone(JST).replace(hour=8, minute=30, second=0, microsecond=0)
    if OFFICE_CALENDAR.is_closed(office.date()):
        return []
    docs: list[dict[str, Any]] = []
    for s in city.staff:
        t = office + timedelta(seconds=rng.uniform(0, 8 * 3600))
        docs.append(
            ev.m365_signin(t, upn=s.upn, source_ip=city.egress_ip, country="JP", success=True, location=CITY_LOCATION)
        )
        if s.teleworker:
            docs.append(
                ev.vpn_logon(
                    t + timedelta(hours=1),
                    user=s.login,
                    source_ip=s.home_ip,
                    country="JP",
                    success=True,
                    assigned_ip=s.vpn_ip,
                    location=s.home_location,
                )
            )
    for adm in city.admins:
        for server in adm.servers:
            docs += admin_logon(
                ev, office + timedelta(seconds=rng.uniform(0, 8 * 3600)), adm.account, server, adm.staff.ip
            )
    return sorted(docs, key=lambda d: d["@timestamp"])
