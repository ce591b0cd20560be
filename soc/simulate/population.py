"""The simulated city: ~450 staff, their workstations, servers and network, from a seed."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from faker import Faker

__all__ = ["CITY_LOCATION", "DOMAIN", "SERVERS", "UPN_SUFFIX", "Admin", "City", "Staff", "build_city"]

# where the city is (its internet egress geolocates here): a Kanto-region city
CITY_LOCATION = (35.861, 139.645)
# servers staff and administrators log on to: name -> address
SERVERS = {
    "DC01": "10.20.0.10",
    "DC02": "10.20.0.11",
    "FS01": "10.20.0.20",
    "GW01": "10.20.0.30",
    "BK01": "10.20.0.40",
    "MN-APP01": "10.10.0.10",
    "MN-DB01": "10.10.0.11",
}

DOMAIN = "CITY"
UPN_SUFFIX = "city.example.lg.jp"

DEPARTMENTS = [
    ("総務課", "soumu"),
    ("財政課", "zaisei"),
    ("税務課", "zeimu"),
    ("市民課", "shimin"),
    ("福祉課", "fukushi"),
    ("子育て支援課", "kosodate"),
    ("健康推進課", "kenkou"),
    ("環境課", "kankyou"),
    ("建設課", "kensetsu"),
    ("上下水道課", "suidou"),
    ("教育総務課", "kyouiku"),
    ("情報政策課", "jouhou"),
]
# departments whose staff also work on the My Number (individual number) systems
MYNUMBER_DEPARTMENTS = {"税務課", "市民課", "福祉課"}


@dataclass(frozen=True)
class Staff:
    login: str  # AD sAMAccountName, e.g. t.suzuki
    display_name: str
    department: str
    workstation: str
    ip: str  # LGWAN workstation address
    teleworker: bool
    home_ip: str  # a Japanese consumer ISP address, for VPN logons
    vpn_ip: str  # address in the VPN pool while teleworking
    mynumber_terminal: str | None  # address of the My Number terminal they use, if any
    home_location: tuple[float, float] = CITY_LOCATION  # where their home connection geolocates

    @property
    def upn(self) -> str:
        return f"{self.login}@{UPN_SUFFIX}"


@dataclass(frozen=True)
class Admin:
    """A separate administrative account of an IT staff member, and the servers it manages."""

    account: str  # e.g. adm-t.suzuki
    staff: Staff
    servers: tuple[str, ...]  # names in SERVERS


@dataclass(frozen=True)
class City:
    staff: list[Staff]
    admins: list[Admin] = field(default_factory=list)
    dcs: dict[str, str] = field(default_factory=lambda: {"DC01": "10.20.0.10", "DC02": "10.20.0.11"})
    file_server: str = "10.20.0.20"
    groupware: str = "10.20.0.30"
    backup_server: str = "10.20.0.40"
    dns_server: str = "10.20.0.53"
    mynumber_dc: str = "10.10.0.5"
    mynumber_app: str = "10.10.0.10"
    mynumber_db: str = "10.10.0.11"
    virtual_browser: str = "10.30.0.50"  # screen-transfer browsing into the internet segment
    proxy: str = "10.30.0.10"
    mail_relay: str = "10.30.0.20"
    vpn_gateway: str = "172.16.10.5"
    egress_ip: str = "203.0.113.10"  # the city's internet egress (local breakout NAT)
    m365_ips: tuple[str, ...] = ("52.96.12.34", "52.97.145.2", "40.99.10.5", "13.107.136.9")
    zoom_ips: tuple[str, ...] = ("170.114.10.20", "170.114.52.7")
    av_manager: str = "10.30.0.70"  # antivirus management server: polls its vendor every 10 minutes
    av_vendor: str = "104.18.20.35"


def _romanise(fake: Faker) -> tuple[str, str, str]:
    last_kanji, first_kanji = fake.last_name(), fake.first_name()
    return fake.last_romanized_name().lower(), fake.first_romanized_name().lower(), f"{last_kanji} {first_kanji}"


def _home_ip(rng: random.Random) -> str:
    # Japanese consumer ISP ranges (NTT OCN, SoftBank, KDDI) - data only, never contacted
    first = rng.choice([126, 153, 180, 111, 60, 114])
    return f"{first}.{rng.randrange(1, 255)}.{rng.randrange(0, 256)}.{rng.randrange(1, 255)}"


def build_city(seed: int, staff_count: int = 450) -> City:
    rng = random.Random(f"city-{seed}")
    fake = Faker("ja_JP")
    fake.seed_instance(seed)
    staff: list[Staff] = []
    used: set[str] = set()
    mn_terminal = 0
    for i in range(staff_count):
        last, first, display = _romanise(fake)
        login = f"{first[0]}.{last}"
        n = 2
        while login in used:
            login = f"{first[0]}.{last}{n}"
            n += 1
        used.add(login)
        dept = DEPARTMENTS[rng.randrange(len(DEPARTMENTS))][0]
        terminal = None
        if dept in MYNUMBER_DEPARTMENTS and rng.random() < 0.5:
            mn_terminal += 1
            terminal = f"10.10.1.{mn_terminal % 250 + 1}"
        staff.append(
            Staff(
                login=login,
                display_name=display,
                department=dept,
                workstation=f"LG-PC-{i + 1:04d}",
                ip=f"10.20.{1 + i // 200}.{10 + i % 200}",
                teleworker=rng.random() < 0.12,
                home_ip=_home_ip(rng),
                vpn_ip=f"10.50.{i // 200}.{10 + i % 200}",
                mynumber_terminal=terminal,
                home_location=(
                    CITY_LOCATION[0] + rng.uniform(-0.25, 0.25),
                    CITY_LOCATION[1] + rng.uniform(-0.25, 0.25),
                ),
            )
        )
    # four IT staff hold administrative accounts, each for two or three of the LGWAN servers
    it_staff = [s for s in staff if s.department == "情報政策課"][:4] or staff[:4]
    lgwan_servers = ["DC01", "DC02", "FS01", "GW01", "BK01"]
    admins = [
        Admin(account=f"adm-{s.login}", staff=s, servers=tuple(rng.sample(lgwan_servers, rng.choice([2, 3]))))
        for s in it_staff
    ]
    return City(staff=staff, admins=admins)
