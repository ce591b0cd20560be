"""What a DNS name says about itself: its registered domain, sub-domain, length and entropy.

The registered domain comes from the Public Suffix List (the ``publicsuffixlist`` package
ships a copy, read offline): ``www.city.kobe.lg.jp`` → ``kobe.lg.jp``, ``a.b.example.co.uk``
→ ``example.co.uk``, ``x.github.io`` → ``x.github.io`` (a private suffix: each site is its
own owner). The length and the Shannon entropy of the sub-domain feed the DNS tunnelling
detectors: data smuggled out in query names makes long, random-looking labels under one
domain. One pure function, used at ingest for every format and by the simulator, so both
compute the same figures.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from functools import cache

from publicsuffixlist import PublicSuffixList

__all__ = ["DnsName", "dns_name", "registered_domain", "shannon_entropy"]


@dataclass(frozen=True)
class DnsName:
    """ECS ``dns.question.*`` facts of one name, plus soc's two figures."""

    name: str  # lower-case, without the trailing dot
    registered_domain: str | None
    subdomain: str | None  # what precedes the registered domain (ECS), None when nothing does
    top_level_domain: str | None  # the public suffix (``lg.jp``, ``com``)
    length: int  # characters of ``name``
    subdomain_entropy: float  # bits per character of ``subdomain``; 0 when there is none


@cache
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def _normalise(name: str) -> str:
    return name.strip().lower().rstrip(".")


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text`` (0 for the empty string); ``aaaa`` → 0, ``abcd`` → 2."""
    if not text:
        return 0.0
    total = len(text)
    return -sum(n / total * math.log2(n / total) for n in Counter(text).values())


def registered_domain(name: str) -> str | None:
    """The registrable domain of a DNS name by the Public Suffix List, None when it has
    none (a bare suffix such as ``com`` or ``lg.jp``, a single label, an IP address)."""
    return dns_name(name).registered_domain


def dns_name(name: str) -> DnsName:
    """Every derived fact of one query name (``dns.question.name``)."""
    text = _normalise(name)
    labels = text.split(".")
    looks_like_ip = all(label.isdigit() for label in labels) or ":" in text
    if not text or looks_like_ip or any(not label for label in labels):
        return DnsName(text, None, None, None, len(text), 0.0)
    psl = _psl()
    registered = psl.privatesuffix(text)
    suffix = psl.publicsuffix(text)
    sub = text[: -len(registered) - 1] if registered and len(text) > len(registered) else None
    return DnsName(
        name=text,
        registered_domain=registered,
        subdomain=sub or None,
        top_level_domain=suffix,
        length=len(text),
        subdomain_entropy=round(shannon_entropy(sub or ""), 4),
    )
