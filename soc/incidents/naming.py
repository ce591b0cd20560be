"""How an incident names what it touches, in words (ja/en): entity fields and values, and
its title.

``field_name`` turns an ECS field into words (``source.ip`` → 「送信元アドレス」),
``value_text`` writes a country code as the country's name, ``entity_text`` a whole entity
(``user.name=k.mori`` → 「アカウント k.mori」), ``target_text`` the affected accounts and
hosts in words before the addresses, and ``incident_title`` the stored title:
「不正ログイン試行への対応：アカウント k.mori（送信元アドレス 203.0.113.66）」 — never a
title that ends in an empty placeholder (「…対応：」), whatever the values are (empty,
blank, CR/LF, 10,000 characters; control characters stay data, shown escaped by every
renderer). ``shown_title`` is the title a report shows in one language: a detected incident
names what happened in that language (its playbook's name, else its detectors' titles —
the stored title of an incident without a playbook carries the alert's English title in
both languages) and whom; a reported one keeps the title a person gave it. Pure
functions, shared by the incident service (the stored title) and the reports (their
titles): one rule.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable, Mapping
from functools import cache

import pycountry

from soc.incidents.models import Incident
from soc.vocab import Bilingual

__all__ = [
    "TITLE_VALUE_CHARS",
    "UNKNOWN_DETECTION_JA",
    "entity_text",
    "field_name",
    "incident_title",
    "shown_title",
    "target_text",
    "title_text",
    "value_text",
]

TITLE_VALUE_CHARS = 80  # a value in a title is cut to this many characters (as reports cut long values)
TITLE_WHAT_CHARS = 120  # what happened (a playbook name, a detector title), bounded the same way
UNKNOWN_DETECTION_JA = "検知ルールによる検知"  # what happened, when the detector's own title is unknown
TITLE_VALUES = 3  # values of one field named in a title; more are "…"
_PEOPLE = ("user.name", "user.target.name", "host.name", "source.domain")  # named in words first
_ADDRESSES = ("source.ip", "destination.ip")

_FIELDS: dict[str, tuple[str, str]] = {
    "user.name": ("アカウント", "account"),
    "user.target.name": ("対象アカウント", "target account"),
    "source.ip": ("送信元アドレス", "source address"),
    "source.domain": ("送信元端末", "source host"),
    "destination.ip": ("通信先アドレス", "destination address"),
    "destination.domain": ("通信先ドメイン", "destination domain"),
    "destination.port": ("通信先ポート", "destination port"),
    "host.name": ("端末・サーバ", "host"),
    "source.geo.country_iso_code": ("接続元の国", "source country"),
    "dns.question.registered_domain": ("問い合わせドメイン", "queried domain"),
    "url.domain": ("アクセス先ドメイン", "web domain"),
    "process.name": ("プロセス", "process"),
    "file.name": ("ファイル", "file"),
    "event.code": ("イベント番号", "event code"),
    "event.outcome": ("結果", "outcome"),
    "event.action": ("操作", "action"),
    "event.dataset": ("ログの種類", "log source"),
    "event.category": ("イベントの分類", "event category"),
    "network.transport": ("通信プロトコル", "transport"),
    "network.bytes": ("通信量", "bytes"),
    "source.bytes": ("送信量", "bytes sent"),
    "destination.bytes": ("受信量", "bytes received"),
    "dns.question.name": ("問い合わせ名", "query name"),
    "dns.question.type": ("問い合わせの種類", "query type"),
    "winlog.event_data.LogonType": ("ログオンの種類", "logon type"),
    "winlog.logon.type": ("ログオンの種類", "logon type"),
    "observer.name": ("ログの送信元機器", "log source device"),
    "network.protocol": ("アプリケーションプロトコル", "application protocol"),
    "soc.dns.name_length": ("問い合わせ名の長さ", "query name length"),
    "soc.dns.subdomain_entropy": ("サブドメインのランダムさ", "subdomain randomness"),
    "user.domain": ("ドメイン", "domain"),
}


def field_name(field: str, lang: str) -> str:
    """An ECS field in words; an unknown field keeps its last part, humanised, in English
    and a generic 「項目」 in Japanese (so no field name reaches a Japanese reader)."""
    known = _FIELDS.get(field)
    if known:
        return known[0] if lang == "ja" else known[1]
    if lang == "ja":
        return "その他の項目"
    return field.rsplit(".", 1)[-1].replace("_", " ")


_COUNTRIES: dict[str, tuple[str, str]] = {
    "JP": ("日本", "Japan"),
    "CN": ("中国", "China"),
    "KR": ("韓国", "South Korea"),
    "KP": ("北朝鮮", "North Korea"),
    "TW": ("台湾", "Taiwan"),
    "HK": ("香港", "Hong Kong"),
    "US": ("米国", "United States"),
    "RU": ("ロシア", "Russia"),
    "DE": ("ドイツ", "Germany"),
    "FR": ("フランス", "France"),
    "GB": ("英国", "United Kingdom"),
    "NL": ("オランダ", "Netherlands"),
    "SG": ("シンガポール", "Singapore"),
    "VN": ("ベトナム", "Vietnam"),
    "IN": ("インド", "India"),
    "BR": ("ブラジル", "Brazil"),
    "UA": ("ウクライナ", "Ukraine"),
    "IR": ("イラン", "Iran"),
    "TH": ("タイ", "Thailand"),
    "ID": ("インドネシア", "Indonesia"),
    "PH": ("フィリピン", "Philippines"),
    "AU": ("オーストラリア", "Australia"),
    "CA": ("カナダ", "Canada"),
    "RO": ("ルーマニア", "Romania"),
    "BG": ("ブルガリア", "Bulgaria"),
    "PL": ("ポーランド", "Poland"),
    "TR": ("トルコ", "Turkey"),
    "SE": ("スウェーデン", "Sweden"),
    "IT": ("イタリア", "Italy"),
    "ES": ("スペイン", "Spain"),
}


def value_text(field: str, value: str, lang: str) -> str:
    """A value as a reader knows it: a country code becomes the country's name (the names
    the city's documents use for the usual ones, ISO 3166 with its Japanese translation
    from ``pycountry`` for every other, so no country is hidden behind 「その他の国」)."""
    if field.endswith("country_iso_code"):
        known = _COUNTRIES.get(value.upper())
        if known:
            return known[0] if lang == "ja" else known[1]
        iso = _iso_country(value.upper(), lang)
        if iso:
            return iso
        return "不明な国" if lang == "ja" else value
    return value


@cache
def _iso_country(code: str, lang: str) -> str | None:
    country = pycountry.countries.get(alpha_2=code) if len(code) == 2 else None
    if country is None:
        return None
    name = str(getattr(country, "common_name", None) or country.name)
    if lang != "ja":
        return name
    try:
        japanese = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["ja"])
    except OSError:
        return None
    translated = japanese.gettext(str(country.name))
    return translated if translated != country.name else None


def entity_text(entity: Mapping[str, str], lang: str, *, sep: str | None = None) -> str:
    """「アカウント k.mori、送信元アドレス 203.0.113.66」: accounts and hosts before addresses."""
    keys = sorted(entity, key=lambda k: (_PEOPLE.index(k) if k in _PEOPLE else len(_PEOPLE), k))
    joiner = sep if sep is not None else ("、" if lang == "ja" else ", ")
    return joiner.join(f"{field_name(k, lang)} {value_text(k, entity[k], lang)}" if k else entity[k] for k in keys)


def _bounded(text: str, limit: int) -> str:
    """*text* without leading and trailing blanks, cut to *limit* characters. CR, LF, other
    controls and bidi overrides are kept as data: every renderer shows them escaped
    (``soc.textsafe``), so the title still names exactly what the log said."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _title_value(value: str) -> str:
    return _bounded(value, TITLE_VALUE_CHARS)


def target_text(entities: Mapping[str, list[str]], lang: str) -> str:
    """Accounts and hosts in words first, then the addresses in brackets; "" when no value
    is worth naming (empty and blank values are skipped)."""
    sep = "、" if lang == "ja" else ", "

    def part(field: str) -> str:
        values = [_title_value(value_text(field, v, lang)) for v in entities.get(field, []) if v and v.strip()]
        if not values:
            return ""
        shown = sep.join(values[:TITLE_VALUES]) + (" …" if len(values) > TITLE_VALUES else "")
        return f"{field_name(field, lang)} {shown}"

    named = [p for p in (part(f) for f in _PEOPLE) if p]
    addresses = [p for p in (part(f) for f in _ADDRESSES) if p]
    if not named and not addresses:  # a domain, a country, a process: what the alert grouped on
        named = [p for p in (part(f) for f in sorted(entities)) if p]
    if named and addresses:
        open_, close = ("（", "）") if lang == "ja" else (" (", ")")
        return sep.join(named) + open_ + sep.join(addresses) + close
    return sep.join(named or addresses)


def title_text(what: str, entities: Mapping[str, list[str]], lang: str) -> str:
    """「<what>：<target>」, or *what* alone when nothing is worth naming; never empty."""
    what = _bounded(what, TITLE_WHAT_CHARS) or ("インシデント" if lang == "ja" else "Incident")
    target = target_text(entities, lang)
    if not target:
        return what
    return f"{what}：{target}" if lang == "ja" else f"{what}: {target}"


def incident_title(what: Bilingual, entities: Mapping[str, list[str]]) -> Bilingual:
    """The stored title of an incident in both languages (see ``title_text``)."""
    return Bilingual(en=title_text(what.en, entities, "en"), ja=title_text(what.ja, entities, "ja"))


def shown_title(
    incident: Incident, lang: str, *, playbook_name: str | None, detector_title: Callable[[str], str], sep: str
) -> str:
    """The incident's title in *lang* as reports show it (*playbook_name* in *lang*, None
    without a playbook; *detector_title* a detector id in *lang*; *sep* the list separator)."""
    if incident.source != "detection":  # a person's words
        return incident.title(lang)
    what = playbook_name or sep.join(detector_title(d) for d in incident.detectors)
    return title_text(what or incident.title(lang), incident.entities, lang)
