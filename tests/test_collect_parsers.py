"""FortiGate key=value and CEF readers on real samples (tests/fixtures/collect/SOURCES.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from soc.context import AppContext
from soc.es.ingest import ingest_files
from soc.parsers import PARSERS, Parsed, Rejected, Skipped, guess_format
from soc.parsers.cef import parse_extension, parse_header

FIXTURES = Path(__file__).parent / "fixtures" / "collect"
TOKYO = ZoneInfo("Asia/Tokyo")
REF = datetime(2026, 11, 29, tzinfo=UTC)


def parse(fmt: str, lines: list[str]) -> list[Any]:
    return list(PARSERS[fmt](lines, source="f", tz=TOKYO, reference=REF))


def fortigate() -> list[Any]:
    return parse("fortigate", (FIXTURES / "fortigate.log").read_text(encoding="utf-8").splitlines())


def test_every_fortigate_sample_is_an_event_a_skip_or_a_clear_rejection() -> None:
    results = fortigate()
    assert [type(r).__name__ for r in results] == ["Parsed"] * 10 + ["Skipped", "Parsed", "Rejected"]
    assert isinstance(results[10], Skipped) and "event/system" in results[10].reason
    assert isinstance(results[12], Rejected) and results[12].source == "f:13"
    assert "time='12:'" in results[12].reason or "'12:'" in results[12].reason
    ids = [r.doc["event"]["id"] for r in results if isinstance(r, Parsed)]
    assert len(set(ids)) == len(ids) and all(i.startswith("fortigate-") for i in ids)


def test_fortigate_traffic_maps_to_ecs_network_connections() -> None:
    deny, close, reset = (r.doc for r in fortigate()[:3])
    assert deny["event"]["category"] == ["network"] and deny["event"]["type"] == ["connection", "denied"]
    assert deny["event"]["outcome"] == "failure" and deny["event"]["action"] == "deny"
    # no eventtime, no tz: date and time are in the configured zone
    assert deny["@timestamp"] == "2016-06-16T01:19:23.000Z"
    assert deny["source"] == {"ip": "7.3.8.5", "port": 57727, "bytes": 0, "packets": 0,
                              "nat": {"ip": "160.242.8.82", "port": 57727}}  # fmt: skip
    assert deny["destination"]["ip"] == "7.8.9.81" and deny["destination"]["port"] == 80
    assert deny["network"]["transport"] == "tcp" and deny["rule"]["id"] == "8"
    assert deny["observer"]["name"] == "Device_Name" and deny["observer"]["ingress"]["interface"]["name"] == "internal1"
    # eventtime in nanoseconds wins over date/time (UTC epoch)
    assert close["@timestamp"] == "2019-05-13T18:45:04.815Z"
    assert close["event"]["type"] == ["connection", "end"] and close["event"]["outcome"] == "success"
    assert close["source"]["bytes"] == 412 and close["destination"]["bytes"] == 2286
    assert reset["@timestamp"] == "2019-05-16T01:03:39.000Z"  # eventtime in seconds


def test_fortigate_vpn_and_admin_logons_are_authentication_events() -> None:
    up, down, fail, admin_ok, admin_fail = (r.doc for r in fortigate()[3:8])
    assert up["event"] | {} == up["event"]
    assert up["event"]["category"] == ["authentication"] and up["event"]["outcome"] == "success"
    assert up["event"]["dataset"] == "vpn.gateway"  # what the VPN detectors select
    assert up["user"]["name"] == "my_user_name" and up["source"]["ip"] == "9.8.7.7"
    assert up["source"]["nat"]["ip"] == "1.2.4.6" and up["group"]["name"] == "SSL_VPN"
    assert down["event"]["category"] == ["session"] and down["event"]["type"] == ["end"]
    assert fail["event"]["outcome"] == "failure" and fail["source"]["ip"] == "2.4.6.8"
    assert fail["event"]["reason"] == "sslvpn_login_unknown_user" and "nat" not in fail["source"]  # tunnelip=(null)
    assert admin_ok["event"]["outcome"] == "success" and admin_ok["source"]["ip"] == "10.42.8.253"
    assert admin_ok["network"]["application"] == "https"
    assert admin_fail["event"]["outcome"] == "failure" and admin_fail["source"]["ip"] == "222.186.130.227"
    assert admin_fail["user"]["name"] == "root"


def test_fortigate_utm_lines_are_alerts_or_web_events_and_a_syslog_header_is_skipped() -> None:
    results = fortigate()
    ips, web, anomaly = results[8].doc, results[9].doc, results[11].doc
    assert ips["event"]["kind"] == "alert" and ips["event"]["category"] == ["intrusion_detection"]
    assert ips["rule"]["name"] == "Adobe.Flash.newfunction.Handling.Code.Execution"
    assert web["event"]["category"] == ["web"] and web["event"]["type"] == ["denied"]
    assert web["url"]["domain"] == "morrishittu.ddns.net" == web["destination"]["domain"]
    assert anomaly["event"]["kind"] == "alert" and anomaly["source"]["ip"] == "10.10.10.35"
    assert anomaly["@timestamp"] == "2016-03-22T10:20:46.000Z"


def test_fortigate_device_tz_field_and_quoted_values_with_spaces() -> None:
    line = (
        'date=2026-11-29 time=09:00:00 devname="fw 01" devid="FG100F" logid="0101039947" type="event" '
        'subtype="vpn" tz="+0900" action="tunnel-up" remip=203.0.113.5 user="CITY\\\\T.Suzuki" '
        'msg="SSL tunnel \\"established\\""'
    )
    (r,) = parse("fortigate", [line])
    assert isinstance(r, Parsed)
    assert r.doc["@timestamp"] == "2026-11-29T00:00:00.000Z"
    assert r.doc["observer"]["name"] == "fw 01" and r.doc["message"] == 'SSL tunnel "established"'
    assert r.doc["user"] == {"name": "t.suzuki", "domain": "CITY"}


def cef() -> list[Any]:
    return parse("cef", (FIXTURES / "cef.log").read_text(encoding="utf-8").splitlines())


def test_cef_samples() -> None:
    worm, gateway, no_time, piped, equals = cef()
    assert isinstance(worm, Parsed)
    assert worm.doc["event"]["kind"] == "alert" and worm.doc["event"]["category"] == ["intrusion_detection"]
    assert worm.doc["source"] == {"ip": "10.0.0.1", "port": 1232} and worm.doc["destination"]["ip"] == "2.1.2.2"
    assert worm.doc["observer"]["name"] == "host" and worm.doc["rule"]["name"] == "worm successfully stopped"
    assert worm.doc["@timestamp"] == "2026-09-18T23:26:10.000Z"  # RFC 3164 header: configured zone, year inferred
    assert isinstance(gateway, Parsed)
    g = gateway.doc
    assert g["@timestamp"] == "2018-09-07T05:50:39.000Z" and g["observer"]["product"] == "Web Gateway"
    assert g["user"]["name"] == "redacted" and g["http"]["request"]["method"] == "POST"
    assert g["user_agent"]["original"] == "'Foo-Bar/2018.1.7; Email:user@example.com; Guid:test='"
    assert g["event"]["category"] == ["network"] and g["destination"]["domain"] == "foo.example.com"
    assert isinstance(no_time, Rejected) and "no time" in no_time.reason
    assert isinstance(piped, Rejected) and "no time" in piped.reason
    assert isinstance(equals, Rejected)


def test_cef_header_and_extension_escapes() -> None:
    lines = (FIXTURES / "cef.log").read_text(encoding="utf-8").splitlines()
    header, rest = parse_header(lines[3])
    assert header == ["CEF:0", "secu|rity", "threatmanager|", "1.|0", "10|0", "tro|jan successfully stopped", "|10"]
    assert rest == ""
    assert parse_extension(parse_header(lines[4])[1]) == {"moo": "this =has = equals="}
    assert parse_extension("moo=this\\|has an escaped pipe a=b\\\\c") == {
        "moo": "this\\|has an escaped pipe",
        "a": "b\\c",
    }


def test_cef_through_rsyslog_takes_the_header_time_and_maps_the_flow() -> None:
    lines = (FIXTURES / "cef.log").read_text(encoding="utf-8").splitlines()
    (r,) = parse("cef", [f"2026-11-29T10:00:00.5+09:00 proxy01 {lines[2]}"])
    assert isinstance(r, Parsed)
    assert r.doc["@timestamp"] == "2026-11-29T01:00:00.500Z" and r.doc["observer"]["name"] == "proxy01"
    assert r.doc["source"] == {"ip": "10.0.0.192", "port": 11024, "domain": "source.host.name"}
    assert r.doc["destination"]["port"] == 9200 and r.doc["network"]["transport"] == "tcp"


def test_auto_recognises_both_formats_even_behind_a_syslog_header() -> None:
    assert guess_format((FIXTURES / "fortigate.log").read_text().splitlines()[:3]) == "fortigate"
    assert guess_format((FIXTURES / "cef.log").read_text().splitlines()[:3]) == "cef"
    assert (
        guess_format(["2026-11-29T10:00:00+09:00 fw01 date=2026-11-29 time=10:00:00 devid=FG1 logid=1 type=traffic"])
        == "fortigate"
    )
    assert guess_format(["Nov 29 10:00:00 srv01 sshd[1]: Failed password for root from 1.2.3.4 port 2 ssh2"]) == "sshd"


def test_ingest_indexes_fortigate_into_the_auth_and_network_indices_with_segments(ctx: AppContext) -> None:
    report = ingest_files(
        ctx.es, [FIXTURES / "fortigate.log"], segments=ctx.segments, fmt="auto", tz=TOKYO, reference=REF
    )
    assert report.indexed_total == 11 and report.skipped == 1 and len(report.rejected) == 1
    assert report.indexed[ctx.es.index_name("events-auth")] == 5
    assert report.indexed[ctx.es.index_name("events-network")] == 6
    res = ctx.es.search(ctx.es.index_name("events-network"), {"query": {"term": {"destination.ip": "195.8.215.136"}}})
    hit = res["hits"]["hits"][0]["_source"]
    assert hit["soc"]["destination_segment"] == "external"  # enriched from the segment map
