"""Real-time media: where video and voice calls go, so volume detectors can leave them out.

A one-hour Teams or Zoom meeting with video sends hundreds of megabytes to one media
relay. That is a call, not exfiltration. Sources (check them when you update this list):

* Microsoft 365 URLs and IP address ranges, "Optimize" category ID 11 (Teams media):
  https://learn.microsoft.com/en-us/microsoft-365/enterprise/urls-and-ip-address-ranges
* Zoom network firewall or proxy server settings (media on UDP 8801-8810, meeting ranges):
  https://support.zoom.com/hc/en/article?id=zm_kb&sysparm_article=KB0060548
* STUN/TURN: RFC 8489 and RFC 8656 (3478, and 3479-3481 as Teams uses them)
"""

from __future__ import annotations

__all__ = ["MEDIA_CIDRS", "MEDIA_PORT_RANGES"]

# (first, last) destination ports of real-time media relays
MEDIA_PORT_RANGES: tuple[tuple[int, int], ...] = (
    (3478, 3481),  # STUN/TURN; Teams media
    (8801, 8810),  # Zoom media
)

MEDIA_CIDRS: tuple[str, ...] = (
    # Microsoft Teams media (Microsoft 365 endpoint ID 11)
    "13.107.64.0/18",
    "52.112.0.0/14",
    "52.122.0.0/15",
    # Zoom meeting and media ranges
    "134.224.0.0/16",
    "144.195.0.0/16",
    "147.124.96.0/19",
    "149.137.0.0/17",
    "170.114.0.0/16",
    "198.251.128.0/17",
    "206.247.0.0/16",
)
