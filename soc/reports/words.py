"""How reports write times, durations, fields and countries: as people write them.

``when`` gives 「11月29日（日）2時57分」 in Japanese and "Sun 29 Nov 02:57" in English, in
the configured zone; ``about`` gives 「約4時間」 / "about 4 hours"; ``field_name`` turns an
ECS field into words (``source.ip`` → 「送信元アドレス」) and ``entity_text`` a whole entity
(``user.name=k.mori`` → 「アカウント k.mori」); ``value_text`` writes a country code as
the country's name (these three come from ``soc.incidents.naming``, which the stored
incident title uses too). Pure functions: no I/O.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from soc.incidents.naming import entity_text, field_name, value_text
from soc.reports.i18n import Translator

__all__ = [
    "about",
    "dataset_name",
    "entity_key_text",
    "entity_text",
    "field_name",
    "obligation_subject",
    "until",
    "value_text",
    "when",
    "zone_label",
]

_WEEKDAYS_JA = "月火水木金土日"
_WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def when(t: datetime | None, tz: ZoneInfo, lang: str, *, year: bool = False) -> str:
    """A time in the configured zone, to the minute; a dash for no time."""
    if t is None:
        return "—"
    x = t.astimezone(tz)
    if lang == "ja":
        y = f"{x.year}年" if year else ""
        return f"{y}{x.month}月{x.day}日（{_WEEKDAYS_JA[x.weekday()]}）{x.hour}時{x.minute:02d}分"
    y = f" {x.year}" if year else ""
    return f"{_WEEKDAYS_EN[x.weekday()]} {x.day} {_MONTHS_EN[x.month - 1]}{y} {x.hour:02d}:{x.minute:02d}"


def until(start: datetime | None, end: datetime | None, tz: ZoneInfo, lang: str) -> str:
    """The end of a span that began at *start*: only the time when it is the same day."""
    if start is None or end is None or start.astimezone(tz).date() != end.astimezone(tz).date():
        return when(end, tz, lang)
    x = end.astimezone(tz)
    return f"{x.hour}時{x.minute:02d}分" if lang == "ja" else f"{x.hour:02d}:{x.minute:02d}"


def zone_label(tz: ZoneInfo, lang: str) -> str:
    """「日本時間」 for Asia/Tokyo, else the zone's name (both languages)."""
    if tz.key == "Asia/Tokyo":
        return "日本時間" if lang == "ja" else "Japan time"
    if tz.key in ("UTC", "Etc/UTC"):
        return "協定世界時" if lang == "ja" else "UTC"
    return tz.key


def about(delta: timedelta | None, lang: str) -> str:
    """A rounded duration: 「約4時間」, 「約25分」, 「約3日」 / "about 4 hours"."""
    if delta is None:
        return "—"
    minutes = max(0, round(delta.total_seconds() / 60))
    ja = lang == "ja"
    if minutes < 1:
        return "1分未満" if ja else "under a minute"
    if minutes < 60:
        return f"{minutes}分" if ja else f"{minutes} min"
    hours = round(minutes / 60)
    if minutes < 48 * 60:
        return f"約{hours}時間" if ja else f"about {hours} hour{'s' if hours != 1 else ''}"
    days = round(minutes / (24 * 60))
    return f"約{days}日" if ja else f"about {days} days"


_DATASETS: dict[str, tuple[str, str]] = {
    "windows.security": ("Windowsセキュリティログ", "Windows security log"),
    "system.auth": ("サーバの認証ログ", "server authentication log"),
    "vpn.gateway": ("VPN装置のログ", "VPN gateway log"),
    "azure.signinlogs": ("Microsoft 365のサインインログ", "Microsoft 365 sign-in log"),
    "firewall.traffic": ("ファイアウォールの通信ログ", "firewall traffic log"),
    "dns": ("DNSログ", "DNS log"),
    "proxy": ("プロキシのログ", "proxy log"),
    "zeek.conn": ("ネットワーク監視（Zeek）の通信ログ", "Zeek connection log"),
    "zeek.dns": ("ネットワーク監視（Zeek）のDNSログ", "Zeek DNS log"),
    "zeek.ssl": ("ネットワーク監視（Zeek）の暗号化通信ログ", "Zeek TLS log"),
    "zeek.http": ("ネットワーク監視（Zeek）のHTTPログ", "Zeek HTTP log"),
    "fortigate": ("FortiGateのログ", "FortiGate log"),
}


def dataset_name(dataset: str, lang: str) -> str:
    """A log source (``event.dataset``) in words; an unknown one keeps its name in English
    and is described as 「その他のログ」 in Japanese."""
    known = _DATASETS.get(dataset) or _DATASETS.get(dataset.split(".", 1)[0])
    if known:
        return known[0] if lang == "ja" else known[1]
    return "その他のログ" if lang == "ja" else dataset


def entity_key_text(key: str, lang: str) -> str:
    """An alert's entity key (``source.ip=…|user.name=…``) in words."""
    pairs: dict[str, str] = {}
    for part in key.split("|"):
        field, _, value = part.partition("=")
        pairs[field if value else ""] = value or field
    return entity_text(pairs, lang)


def obligation_subject(kind: str, label: str, t: Translator) -> str:
    """What an external report is, as a sentence's subject: 「県（情報セキュリティ担当部署）への
    報告」, but 「個人情報保護委員会への速報」 and 「本人（住民）への通知」 where the label does not fit
    「…への報告」."""
    key = f"subject_{kind}"
    return t(key) if t.has(key) else t("subject_report", label=label)
