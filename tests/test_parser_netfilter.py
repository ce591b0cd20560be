"""``--format iptables``: netfilter/UFW packet logs from the kernel log become network events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from soc.parsers.formats import guess_format
from soc.parsers.models import Parsed, ParseResult, Rejected, Skipped
from soc.parsers.netfilter import parse_lines

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
SCAN = (
    "Sep 30 10:09:23 scw-d95986 kernel: [19955416.516358] IN=ens2 OUT= MAC=de:1c:88:64:10:19:5e:e1:a4:3b:cf:f0:08:00 "
    "SRC=62.34.17.168 DST=10.73.140.49 LEN=44 TOS=0x00 PREC=0x00 TTL=43 ID=25313 PROTO=TCP SPT=52220 DPT=80 "
    "WINDOW=1024 RES=0x00 SYN URGP=0"
)
UFW_BLOCK = (
    "Oct 30 10:09:23 vm-1 kernel: [UFW BLOCK] IN=lo OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:08:00 SRC=127.0.0.2 "
    "DST=127.0.0.53 LEN=104 TOS=0x00 PREC=0x00 TTL=64 ID=16820 DF PROTO=TCP SPT=50616 DPT=66 LEN=84"
)


def _parse(*lines: str, tz: str = "UTC") -> list[ParseResult]:
    return list(parse_lines(lines, source="kern.log", tz=ZoneInfo(tz), reference=NOW))


def _doc(line: str, tz: str = "UTC") -> dict[str, Any]:
    (result,) = _parse(line, tz=tz)
    assert isinstance(result, Parsed), result
    return result.doc


def test_a_logged_syn_is_a_network_connection_with_addresses_ports_and_flags() -> None:
    doc = _doc(SCAN)
    assert doc["@timestamp"] == "2026-09-30T10:09:23.000Z"  # year-less syslog: this year
    assert doc["event"]["category"] == ["network"]
    assert doc["event"]["type"] == ["connection"]
    assert "outcome" not in doc["event"]  # a bare LOG rule says nothing of the verdict
    assert doc["source"] == {"ip": "62.34.17.168", "port": 52220, "packets": 1}
    assert doc["destination"] == {"ip": "10.73.140.49", "port": 80}
    assert doc["network"]["transport"] == "tcp"
    assert doc["observer"]["hostname"] == "scw-d95986"
    assert doc["observer"]["ingress"]["interface"]["name"] == "ens2"
    assert doc["iptables"]["tcp"]["flags"] == ["SYN"]
    assert doc["event"]["id"].startswith("iptables-")


def test_the_log_prefix_decides_denied_or_allowed() -> None:
    blocked = _doc(UFW_BLOCK)
    assert blocked["event"]["type"] == ["connection", "denied"]
    assert blocked["event"]["outcome"] == "failure"
    assert blocked["event"]["action"] == "[UFW BLOCK]"
    assert blocked["network"]["bytes"] == 104  # the IP length, not the TCP one written after it
    allowed = _doc(UFW_BLOCK.replace("[UFW BLOCK]", "[UFW ALLOW]"))
    assert allowed["event"]["type"] == ["connection", "allowed"]
    assert allowed["event"]["outcome"] == "success"
    dropped = _doc(SCAN.replace("] IN=", "] IPTABLES-DROP: IN="))
    assert dropped["event"]["action"] == "IPTABLES-DROP"
    assert dropped["event"]["outcome"] == "failure"


def test_ipv6_icmp_and_rfc5424_headers() -> None:
    v6 = _doc(
        "2026-11-28T23:59:59.123456+09:00 fw kernel: [UFW BLOCK] IN=eth0 OUT= "
        "SRC=2001:0db8:0000:0000:0000:0000:0000:0001 DST=2001:db8::2 LEN=80 TC=0 HOPLIMIT=57 FLOWLBL=0 "
        "PROTO=TCP SPT=40000 DPT=445 WINDOW=1024 RES=0x00 SYN URGP=0"
    )
    assert v6["source"]["ip"] == "2001:db8::1"
    assert v6["destination"]["port"] == 445
    assert v6["@timestamp"] == "2026-11-28T14:59:59.123Z"
    tcp = "PROTO=TCP SPT=52220 DPT=80 WINDOW=1024 RES=0x00 SYN URGP=0"
    icmp = _doc(SCAN.replace(tcp, "PROTO=ICMP TYPE=8 CODE=0 ID=1"))
    assert icmp["network"]["transport"] == "icmp"
    assert "port" not in icmp["destination"]


def test_year_less_times_are_read_in_the_configured_zone() -> None:
    doc = _doc(SCAN, tz="Asia/Tokyo")
    assert doc["@timestamp"] == "2026-09-30T01:09:23.000Z"


def test_other_kernel_and_program_lines_are_skipped_and_bad_addresses_rejected() -> None:
    results = _parse(
        "Oct 30 10:09:23 vm-1 kernel: [ 2.5] usb 1-1: new high-speed USB device",
        "Oct 30 10:09:23 vm-1 sshd[1]: Accepted publickey for a from 10.0.0.1 port 1 ssh2",
        SCAN.replace("SRC=62.34.17.168", "SRC=999.1.1.1"),
        "not syslog at all",
        SCAN.replace("DPT=80", "DPT=70000"),
    )
    assert [type(r) for r in results] == [Skipped, Skipped, Rejected, Rejected, Rejected]
    assert "SRC='999.1.1.1'" in str(results[2])
    assert "kern.log:3" in str(results[2])
    assert "DPT" in str(results[4])


@pytest.mark.parametrize(
    "hostile",
    ["\u202e[UFW BLOCK]\u202c ", "A" * 10_000 + " ", "x\x1b[31m "],
)
def test_hostile_prefixes_are_kept_as_text_not_interpreted(hostile: str) -> None:
    doc = _doc(SCAN.replace("] IN=", "] " + hostile + "IN="))
    assert doc["source"]["ip"] == "62.34.17.168"
    assert doc["event"]["action"] == hostile.strip()


def test_auto_guesses_iptables_only_for_a_firewall_log() -> None:
    sshd = "Oct 30 10:09:23 vm-1 sshd[1]: Failed password for root from 10.0.0.1 port 1 ssh2"
    assert guess_format([SCAN]) == "iptables"
    assert guess_format([UFW_BLOCK, "", SCAN]) == "iptables"
    assert guess_format([sshd]) == "sshd"
    # a host's whole syslog (rsyslog's per-host files) keeps its logons: read as sshd
    assert guess_format([UFW_BLOCK, sshd, SCAN]) == "sshd"
