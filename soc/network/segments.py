"""Which municipal network segment an address belongs to (longest-prefix match)."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from typing import Any

from soc.config import LocalBreakout, SegmentRule
from soc.vocab import Segment

__all__ = ["SegmentMap", "enrich_segments", "normalise_ip"]

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address


def normalise_ip(value: object) -> str | None:
    """Return a canonical IP string (``::ffff:1.2.3.4`` → ``1.2.3.4``) or None if not an IP."""
    if not isinstance(value, str) or not value:
        return None
    return _normalise(value)


@functools.lru_cache(maxsize=65536)
def _normalise(value: str) -> str | None:
    try:
        addr = ipaddress.ip_address(value.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return str(addr)


class SegmentMap:
    def __init__(self, rules: Iterable[SegmentRule], breakout: LocalBreakout | None = None) -> None:
        nets: list[tuple[IPNet, Segment]] = [(ipaddress.ip_network(r.cidr, strict=False), r.segment) for r in rules]
        # longest prefix first, so a /24 inside a /16 wins
        self._nets = sorted(nets, key=lambda item: item[0].prefixlen, reverse=True)
        self._breakout = [ipaddress.ip_network(c, strict=False) for c in (breakout.cidrs if breakout else [])]
        self._breakout_domains = [d.lower().lstrip(".") for d in (breakout.domains if breakout else [])]
        self._cache: dict[str, Segment | None] = {}

    def classify(self, ip: str | None) -> Segment | None:
        """The segment of *ip*; ``external`` for addresses outside every CIDR; None if not an IP."""
        if ip is None:
            return None
        if ip in self._cache:
            return self._cache[ip]
        if len(self._cache) >= 100_000:  # bounded: addresses repeat, but not forever
            self._cache.clear()
        found = self._cache[ip] = self._classify(ip)
        return found

    def _classify(self, ip: str) -> Segment | None:
        norm = normalise_ip(ip)
        if norm is None:
            return None
        addr = ipaddress.ip_address(norm)
        for net, segment in self._nets:
            if addr.version == net.version and addr in net:
                return segment
        if addr.is_private or addr.is_loopback or addr.is_link_local:
            return None  # an internal address we have no map for: unknown, not "internet"
        return Segment.external

    def is_local_breakout(self, ip: str | None = None, domain: str | None = None) -> bool:
        norm = normalise_ip(ip)
        if norm is not None:
            addr = ipaddress.ip_address(norm)
            if any(addr.version == n.version and addr in n for n in self._breakout):
                return True
        if domain:
            d = domain.lower().rstrip(".")
            return any(d == b or d.endswith("." + b) for b in self._breakout_domains)
        return False


def _get(doc: dict[str, Any], dotted: str) -> Any:
    cur: Any = doc
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return None
        if dotted in cur:  # flattened key
            return cur[dotted]
        cur = cur.get(part)
    return cur


def enrich_segments(doc: dict[str, Any], segments: SegmentMap) -> dict[str, Any]:
    """Add ``soc.source_segment`` / ``soc.destination_segment`` / ``soc.segment`` when absent.

    ``soc.segment`` is where the event happened: the host for authentication events
    (the logged-on machine), the source for network flows.
    """
    soc = doc.setdefault("soc", {})
    if not isinstance(soc, dict):
        return doc
    src = segments.classify(_get(doc, "source.ip"))
    dst = segments.classify(_get(doc, "destination.ip"))
    host_ips = _get(doc, "host.ip")
    host_ip = host_ips[0] if isinstance(host_ips, list) and host_ips else host_ips
    host = segments.classify(host_ip if isinstance(host_ip, str) else None)
    if src and "source_segment" not in soc:
        soc["source_segment"] = src.value
    if dst and "destination_segment" not in soc:
        soc["destination_segment"] = dst.value
    if dst and "local_breakout" not in soc and src in (Segment.lgwan, Segment.telework):
        domain = _get(doc, "destination.domain") or _get(doc, "url.domain")
        if segments.is_local_breakout(_get(doc, "destination.ip"), domain if isinstance(domain, str) else None):
            soc["local_breakout"] = True
    if "segment" not in soc:
        where = host or src or dst
        if where:
            soc["segment"] = where.value
    if not soc:
        doc.pop("soc")
    return doc
