"""Issue 9 §3 on the parser side: a Winlogbeat 4672 read with ``--format ecs`` takes the
logon type and source of its 4624 (as ``--format windows-json`` does), and FortiGate
logons carry ``source.geo.*`` from the gateway's own ``srccountry``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from typer.testing import CliRunner

from soc.cli.main import app
from soc.context import AppContext
from soc.es.indices import event_index
from soc.parsers import Parsed, parse_file
from soc.parsers.common import put

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 29, tzinfo=UTC)


def _winlogbeat(code: str, at: str, logon_id: str, computer: str = "DC01.city.local", **extra: Any) -> dict[str, Any]:
    """A Security event as Winlogbeat's security module writes it (nested ECS; see
    elastic/beats x-pack/winlogbeat/module/security/test/testdata/ingest/*.golden.json)."""
    special = code == "4672"
    doc: dict[str, Any] = {
        "@timestamp": at,
        "event": {
            "code": code,
            "kind": "event",
            "module": "security",
            "provider": "Microsoft-Windows-Security-Auditing",
            "category": ["iam"] if special else ["authentication"],
            "type": ["admin"] if special else ["start"],
            "action": "logged-in-special" if special else "logged-in",
            "outcome": "success",
        },
        "host": {"name": computer.split(".")[0].lower()},
        "user": {"name": "adm.tanaka", "domain": "CITY"},
        "winlog": {
            "channel": "Security",
            "computer_name": computer,
            "event_id": code,
            "logon": {"id": logon_id},
            "event_data": {"SubjectLogonId" if special else "TargetLogonId": logon_id},
        },
    }
    for key, value in extra.items():  # source__ip="…" → source.ip
        put(doc, key.replace("__", "."), value)
    return doc


def _read(tmp_path: Path, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    path = tmp_path / "winlogbeat.ndjson"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    results = list(parse_file(path, "ecs", tz=TOKYO, reference=NOW))
    assert all(isinstance(r, Parsed) for r in results), results
    return [r.doc for r in results if isinstance(r, Parsed)]


def _special(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (special,) = [d for d in docs if str(d.get("event", {}).get("code")) == "4672"]
    return special


def test_an_ecs_4672_takes_the_logon_type_and_source_of_its_4624_in_either_order(tmp_path: Path) -> None:
    logon = _winlogbeat(
        "4624", "2026-11-29T18:02:11.2086661Z", "0x76a087",
        source__ip="10.20.3.4", source__domain="pc-0123", winlog__logon__type="RemoteInteractive",
    )  # fmt: skip
    special = _winlogbeat("4672", "2026-11-29T18:02:11.2086661Z", "0x76a087")
    forward = _special(_read(tmp_path, [logon, special]))
    assert forward["winlog"]["logon"] == {"id": "0x76a087", "type": "RemoteInteractive"}
    assert forward["source"] == {"ip": "10.20.3.4", "domain": "pc-0123"}
    assert forward["related"]["ip"] == ["10.20.3.4"]
    backward = _special(_read(tmp_path, [special, logon]))  # exported newest first
    assert backward["winlog"]["logon"] == forward["winlog"]["logon"] and backward["source"] == forward["source"]


def test_an_ecs_console_logon_gives_its_4672_the_type_the_off_hours_detector_excludes(tmp_path: Path) -> None:
    # Windows' own case in the logon id (0x76A087) and only the LogonType number, as a
    # Logstash-flattened Winlogbeat event (dotted keys) may carry them
    logon = {
        "@timestamp": "2026-11-29T18:02:11Z", "event.code": "4624", "host.name": "fs01",
        "winlog.computer_name": "FS01.city.local", "winlog.event_data.TargetLogonId": "0x76A087",
        "winlog.event_data.LogonType": "2", "source.ip": "127.0.0.1", "user.name": "adm.tanaka",
    }  # fmt: skip
    special = {
        "@timestamp": "2026-11-29T18:02:11Z", "event.code": "4672", "host.name": "fs01",
        "winlog.computer_name": "FS01.city.local", "winlog.logon.id": "0x76a087", "user.name": "adm.tanaka",
    }  # fmt: skip
    docs = _read(tmp_path, [logon, special])
    joined = _special(docs)
    assert joined["winlog"]["logon"]["type"] == "Interactive"
    assert joined["source"]["ip"] == "127.0.0.1"
    assert docs[0]["winlog"]["logon"] == {"id": "0x76a087", "type": "Interactive"}


def test_ecs_4672_of_another_computer_or_logon_or_time_stays_as_it_was(tmp_path: Path) -> None:
    logon = _winlogbeat("4624", "2026-11-29T18:02:11Z", "0x76a087", source__ip="10.20.3.4")
    other_pc = _winlogbeat("4672", "2026-11-29T18:02:11Z", "0x76a087", computer="FS01.city.local")
    other_id = _winlogbeat("4672", "2026-11-29T18:02:11Z", "0x99")
    later = _winlogbeat("4672", "2026-11-29T19:02:11Z", "0x76a087")  # logon ids are reused
    not_windows = {"@timestamp": "2026-11-29T18:02:12Z", "event": {"kind": "event"}, "source": {"ip": "1.2.3.9"}}
    docs = _read(tmp_path, [logon, other_pc, other_id, later, not_windows])
    assert len(docs) == 5 and not_windows in docs
    for doc in docs:
        if doc.get("event", {}).get("code") == "4672":
            assert "type" not in doc["winlog"]["logon"] and "source" not in doc, doc


def test_soc_ingest_format_ecs_indexes_the_joined_4672(cli: CliRunner, ctx: AppContext, tmp_path: Path) -> None:
    logon = _winlogbeat("4624", "2026-11-29T18:02:11Z", "0x76a087", source__ip="10.20.3.4",
                        winlog__logon__type="Network")  # fmt: skip
    special = _winlogbeat("4672", "2026-11-29T18:02:11Z", "0x76a087")
    log = tmp_path / "winlogbeat.ndjson"
    log.write_text(json.dumps(special) + "\n" + json.dumps(logon) + "\n", encoding="utf-8")
    res = cli.invoke(app, ["ingest", "--format", "ecs", str(log)])
    assert res.exit_code == 0 and "indexed: 2\n" in res.output, res.output
    index = event_index(ctx.es, "auth")
    ctx.es.refresh(index)
    query = {"query": {"bool": {"filter": [{"term": {"event.code": "4672"}}, {"term": {"winlog.logon.type": "Network"}},
                                           {"term": {"source.ip": "10.20.3.4"}}]}}}  # fmt: skip
    assert ctx.es.count(index, query["query"]) == 1


# -- geo without a database: FortiGate's own country names --------------------------------------
def _fortigate(lines: list[str], tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "fortigate.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [r.doc for r in parse_file(path, "fortigate", tz=TOKYO, reference=NOW) if isinstance(r, Parsed)]


FGT = 'date=2026-11-29 time=03:12:40 devname="fw01" devid="FG100F" tz="+0900" '
TUNNEL_UP = (
    FGT + 'logid="0101039947" type="event" subtype="vpn" action="tunnel-up" tunneltype="ssl-tunnel" '
    'remip=114.32.7.9 tunnelip=10.50.0.12 user="t.suzuki" group="SSL_VPN" srccountry="Taiwan" '
    'msg="SSL tunnel established"'
)
TRAFFIC = (
    FGT + 'logid="0000000013" type="traffic" subtype="forward" action="deny" srcip=175.45.176.3 srcport=40112 '
    'dstip=172.16.10.5 dstport=443 proto=6 srccountry="Korea, Republic of" dstcountry="Reserved" policyid=0'
)


def test_fortigate_srccountry_becomes_iso_source_geo(tmp_path: Path) -> None:
    up, deny = _fortigate([TUNNEL_UP, TRAFFIC], tmp_path)
    assert up["source"]["geo"] == {"country_iso_code": "TW", "country_name": "Taiwan, Province of China"}
    assert deny["source"]["geo"] == {"country_iso_code": "KR", "country_name": "Korea, Republic of"}
    assert "geo" not in deny["destination"]  # "Reserved": a private range, no country
    # names as FortiOS writes them, in any case; what names no country is left out
    plain = [TRAFFIC.replace("Korea, Republic of", name) for name in ("japan", "United States", "Russian Federation")]
    unknown = [TRAFFIC.replace('"Korea, Republic of"', value) for value in ('"N/A"', '""', '"Atlantis"')]
    docs = _fortigate(plain + unknown, tmp_path)
    assert [d["source"].get("geo", {}).get("country_iso_code") for d in docs] == ["JP", "US", "RU", None, None, None]


def test_vpn_logon_abroad_fires_on_a_fortigate_tunnel_from_taiwan(
    cli: CliRunner, ctx: AppContext, tmp_path: Path
) -> None:
    log = tmp_path / "vpn.log"
    log.write_text(TUNNEL_UP + "\n" + TUNNEL_UP.replace("114.32.7.9", "126.77.40.3").replace("Taiwan", "Japan") + "\n")
    res = cli.invoke(app, ["ingest", "--format", "fortigate", str(log)])
    assert res.exit_code == 0 and "indexed: 2\n" in res.output and "notice:" not in res.output, res.output
    res = cli.invoke(
        app, ["detect", "--from", "2026-11-28T18:00:00Z", "--to", "2026-11-28T19:00:00Z", "--json",
              "--detector", "vpn-logon-abroad"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    alerts = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert [(a["entity"]["source.ip"], a["entity"]["source.geo.country_iso_code"]) for a in alerts] == [
        ("114.32.7.9", "TW")
    ]


def test_ingest_notices_per_file_when_geo_detectors_have_nothing_to_work_on(
    cli: CliRunner, ctx: AppContext, tmp_path: Path
) -> None:
    public = tmp_path / "auth.log"
    public.write_text("Nov 29 10:00:00 sftp01 sshd[7]: Failed password for root from 45.33.2.1 port 4000 ssh2\n")
    internal = tmp_path / "internal.log"
    internal.write_text("Nov 29 10:00:00 sftp01 sshd[7]: Failed password for root from 10.20.1.5 port 4000 ssh2\n")
    fortigate = tmp_path / "vpn.log"
    fortigate.write_text(TUNNEL_UP + "\n")
    res = cli.invoke(app, ["ingest", "--format", "auto", str(public), str(internal), str(fortigate)])
    assert res.exit_code == 0, res.output
    notices = [line for line in res.output.splitlines() if line.startswith("notice:")]
    assert notices == [
        f"notice: {public}: 1 authentication event(s) from public addresses without source.geo: impossible-travel, "
        "new-country-logon, vpn-logon-abroad will have nothing to work on (fill source.geo.* with a GeoIP "
        'enrichment; README, "Geolocation")'
    ]
    again = cli.invoke(app, ["ingest", "--format", "sshd", "--json", str(public)])  # already there: still said
    assert json.loads(again.stdout)["notices"] == [notices[0].removeprefix("notice: ")]
