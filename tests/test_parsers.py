"""Log parsers without Elasticsearch (exact ECS fields, rejections, time), then end to end via the CLI."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from soc.cli.main import app
from soc.config import Settings
from soc.context import AppContext
from soc.errors import IngestError
from soc.es.indices import event_index
from soc.es.ingest import ingest_files
from soc.parsers import FORMATS, PARSERS, Parsed, ParseResult, Rejected, Skipped, guess_format, parse_file, read_head
from soc.parsers.common import registered_domain, split_user
from soc.parsers.sshd import parse_syslog_time
from soc.parsers.windows import EVENTS
from soc.simulate.events import WINDOWS_ACTIONS, EventFactory

REPO = Path(__file__).resolve().parent.parent
FIX = Path(__file__).parent / "fixtures" / "parsers"
TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YEAR = datetime(2027, 1, 2, 12, 0, tzinfo=TOKYO)  # read two days after the turn of the year


def parse(name: str, fmt: str, *, tz: ZoneInfo = TOKYO, reference: datetime = NEW_YEAR) -> list[ParseResult]:
    return list(parse_file(FIX / name, fmt, tz=tz, reference=reference))


def docs(results: list[ParseResult]) -> dict[int, dict[str, Any]]:
    """Parsed documents by line number (the last one for a line that expands to several)."""
    return {int(r.source.rsplit(":", 1)[1]): r.doc for r in results if isinstance(r, Parsed)}


def rejections(results: list[ParseResult]) -> dict[int, str]:
    return {int(r.source.rsplit(":", 1)[1]): r.reason for r in results if isinstance(r, Rejected)}


def skipped(results: list[ParseResult]) -> list[int]:
    return [int(r.source.rsplit(":", 1)[1]) for r in results if isinstance(r, Skipped)]


def raw_line(name: str, lineno: int) -> str:
    return (FIX / name).read_text(encoding="utf-8").splitlines()[lineno - 1]


def line_id(fmt: str, name: str, lineno: int) -> str:
    return f"{fmt}-" + hashlib.sha256(raw_line(name, lineno).encode()).hexdigest()[:32]


# -- OpenSSH syslog ---------------------------------------------------------------------------
def test_sshd_failed_password_for_invalid_user_exact_fields() -> None:
    results = parse("auth.log", "sshd")
    assert docs(results)[1] == {
        "@timestamp": "2026-12-31T14:59:58.000Z",  # Dec 31 23:59:58 in Tokyo, the year before the reference
        "message": "Failed password for invalid user admin from 203.0.113.45 port 51122 ssh2",
        "event": {
            "id": line_id("sshd", "auth.log", 1),
            "kind": "event",
            "category": ["authentication"],
            "type": ["start"],
            "action": "ssh-login-failed",
            "outcome": "failure",
            "dataset": "system.auth",
            "module": "system",
            "provider": "sshd",
        },
        "host": {"name": "web01"},
        "process": {"name": "sshd", "pid": 2101},
        "user": {"name": "admin"},
        "source": {"ip": "203.0.113.45", "port": 51122},
        "system": {"auth": {"ssh": {"method": "password"}}},
        "tags": ["invalid-user"],
        "related": {"user": ["admin"], "ip": ["203.0.113.45"]},
    }


def test_sshd_actions_outcomes_and_skips() -> None:
    results = parse("auth.log", "sshd")
    by_line = docs(results)
    summary = {n: (d["event"]["category"][0], d["event"]["action"], d["event"]["outcome"]) for n, d in by_line.items()}
    assert summary == {
        1: ("authentication", "ssh-login-failed", "failure"),
        2: ("authentication", "ssh-invalid-user", "unknown"),  # restates line 1's attempt: not a second failure
        3: ("authentication", "ssh-login-failed", "failure"),
        5: ("authentication", "ssh-max-auth-attempts-exceeded", "unknown"),
        7: ("authentication", "ssh-login", "success"),
        9: ("authentication", "ssh-connection-closed-preauth", "unknown"),
        11: ("session", "ssh-disconnected", "success"),
        12: ("authentication", "ssh-login-failed", "failure"),
    }
    assert by_line[2]["user"] == {"name": "oracle"}  # lower-cased
    assert by_line[7]["user"] == {"name": "t.suzuki"}
    assert by_line[7]["system"]["auth"]["ssh"]["method"] == "publickey"
    assert skipped(results) == [4, 6, 8]  # CRON, "Disconnecting …", pam_unix
    # "message repeated 2 times" is two failures, with two different ids
    repeated = [r for r in results if isinstance(r, Parsed) and r.source.endswith(":12")]
    assert len(repeated) == 2
    assert repeated[0].doc["event"]["id"] != repeated[1].doc["event"]["id"]
    assert repeated[0].doc["source"] == {"ip": "203.0.113.46", "port": 51200}


def test_sshd_rejections_name_file_line_and_reason() -> None:
    results = parse("auth.log", "sshd")
    assert all(r.source.startswith(f"{FIX / 'auth.log'}:") for r in results if isinstance(r, Rejected))
    reasons = rejections(results)
    assert set(reasons) == {13, 14, 15, 16, 17}
    assert reasons[13] == "unknown month 'Foo'"
    assert reasons[14].startswith("impossible time Feb 30 10:00:00 in 2026")
    assert reasons[15] == "'10.0.0.999' is not an IP address"
    assert reasons[16].startswith("not a syslog line")
    assert reasons[17] == "port: port 70000 is out of range"
    assert str(next(r for r in results if isinstance(r, Rejected))) == f"{FIX / 'auth.log'}:13: unknown month 'Foo'"


def test_sshd_secure_iso_rfc5424_ipv4_mapped_and_domain_prefix() -> None:
    results = parse("secure", "sshd")
    by_line = docs(results)
    assert by_line[1]["@timestamp"] == "2026-11-23T00:00:01.123Z"  # rsyslog high precision, +09:00
    assert by_line[1]["user"] == {"name": "k.sato", "domain": "CITY"}  # CITY\K.Sato
    assert by_line[1]["source"] == {"ip": "10.20.1.7", "port": 50111}  # ::ffff:10.20.1.7
    assert by_line[3]["@timestamp"] == "2026-11-23T00:01:00.500Z"  # RFC 5424
    assert by_line[3]["process"] == {"name": "sshd", "pid": 881}
    assert by_line[4]["event"]["outcome"] == "failure" and by_line[4]["source"]["ip"] == "192.0.2.10"
    assert by_line[5]["event"]["action"] == "ssh-disconnected-preauth"
    assert by_line[8]["@timestamp"] == "2026-11-23T00:06:00.250Z"  # ISO without a zone: read in Tokyo
    assert skipped(results) == [6, 7]
    reasons = rejections(results)
    assert set(reasons) == {9, 10}
    assert "not an ISO 8601 time" in reasons[9]
    assert reasons[10] == "'::ffff:10.0.0.300' is not an IP address"


@pytest.mark.parametrize(
    ("month", "reference", "expected_year"),
    [
        ("Dec", datetime(2027, 1, 2, 12, 0, tzinfo=TOKYO), 2026),  # December read in January: last year
        ("Jan", datetime(2027, 1, 2, 12, 0, tzinfo=TOKYO), 2027),
        ("Jan", datetime(2026, 12, 31, 12, 0, tzinfo=TOKYO), 2026),  # not a future January
        ("Nov", datetime(2026, 11, 30, tzinfo=TOKYO), 2026),
        # 16:00 UTC on Dec 31 is already January 1 in Tokyo: the year is decided in the log's zone
        ("Dec", datetime(2026, 12, 31, 16, 0, tzinfo=UTC), 2026),
        ("Jan", datetime(2026, 12, 31, 16, 0, tzinfo=UTC), 2027),
    ],
)
def test_year_inference(month: str, reference: datetime, expected_year: int) -> None:
    assert parse_syslog_time(month, "1", "00:00:00", tz=TOKYO, reference=reference).year == expected_year


def test_timezone_of_year_less_lines() -> None:
    tokyo = docs(parse("auth.log", "sshd", tz=TOKYO))[3]["@timestamp"]
    utc = docs(parse("auth.log", "sshd", tz=ZoneInfo("UTC")))[3]["@timestamp"]
    assert tokyo == "2026-12-31T15:00:01.000Z"  # Jan 1 00:00:01 +09:00
    assert utc == "2027-01-01T00:00:01.000Z"
    # a zone with daylight saving time: the offset of the date, not of the reference
    ny = parse_syslog_time("Jul", "4", "12:00:00", tz=ZoneInfo("America/New_York"), reference=NEW_YEAR)
    assert ny.utcoffset() is not None and ny.utcoffset().total_seconds() == -4 * 3600  # type: ignore[union-attr]


def test_leap_day_depends_on_the_inferred_year() -> None:
    ok = parse_syslog_time("Feb", "29", "10:00:00", tz=TOKYO, reference=datetime(2028, 3, 1, tzinfo=TOKYO))
    assert ok.year == 2028
    with pytest.raises(ValueError, match="impossible time Feb 29"):
        parse_syslog_time("Feb", "29", "10:00:00", tz=TOKYO, reference=datetime(2027, 3, 1, tzinfo=TOKYO))


# -- Windows ----------------------------------------------------------------------------------
def test_winlogbeat_4625_exact_fields() -> None:
    doc = docs(parse("winlogbeat.ndjson", "windows-json"))[1]
    assert doc == {
        "@timestamp": "2026-11-23T00:10:00.123Z",
        "event": {
            "id": line_id("windows-json", "winlogbeat.ndjson", 1),
            "kind": "event",
            "category": ["authentication"],
            "type": ["start"],
            "action": "logon-failed",
            "outcome": "failure",
            "code": "4625",
            "provider": "Microsoft-Windows-Security-Auditing",
            "module": "windows",
            "dataset": "windows.security",
        },
        "user": {"name": "t.suzuki", "domain": "CITY"},
        "source": {"ip": "10.20.1.5", "port": 50123},
        "host": {"name": "DC01", "os": {"type": "windows"}},
        "winlog": {
            "event_id": "4625",
            "channel": "Security",
            "computer_name": "DC01.city.local",
            "record_id": "102345",
            "logon": {"type": "Network"},
            "event_data": {
                "SubjectUserSid": "S-1-0-0",
                "TargetUserName": "T.Suzuki",
                "TargetDomainName": "CITY",
                "Status": "0xc000006d",
                "SubStatus": "0xc000006a",
                "LogonType": "3",
                "WorkstationName": "PC-0123",
                "IpAddress": "10.20.1.5",
                "IpPort": "50123",
                "LogonProcessName": "NtLmSsp ",
                "AuthenticationPackageName": "NTLM",
            },
        },
        "related": {"user": ["t.suzuki"], "ip": ["10.20.1.5"]},
    }


def test_windows_matches_the_simulator_shape() -> None:
    """The parsed evtx 4625 carries every field EventFactory.windows gives the same facts."""
    parsed = docs(parse("evtx.jsonl", "windows-json"))[1]
    simulated = EventFactory("sim").windows(
        datetime(2026, 11, 23, 0, 20, tzinfo=UTC),
        "4625",
        user="administrator",
        host="DC02",
        host_ip="10.20.0.11",
        source_ip="203.0.113.77",
        logon_type="3",
        status="0xc000006d",
        workstation="KALI",
    )

    def flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out

    sim, got = flat(simulated), flat(parsed)
    # event_data keeps what Windows wrote (the case of the name); the simulator invents ids, host IPs and domains
    differ_by_design = {"event.id", "host.ip", "user.domain", "winlog.computer_name", "winlog.event_data.SubStatus"}
    differ_by_design.add("winlog.event_data.TargetUserName")
    for key, value in sim.items():
        if key in differ_by_design or key == "@timestamp":
            continue
        assert got.get(key) == value, key
    assert got["winlog.computer_name"] == "DC02.city.local"
    assert "user.domain" not in got  # TargetDomainName is empty in this event
    assert got["winlog.event_data.TargetUserName"] == "Administrator"


def test_windows_event_table_agrees_with_the_simulator() -> None:
    for code, (category, action, _outcome) in WINDOWS_ACTIONS.items():
        assert (EVENTS[code].category, EVENTS[code].action) == (category, action), code
    assert {"4624", "4625", "4648", "4768", "4771", "4776", "4740", "4672"} <= set(EVENTS)


def test_windows_fields_per_event_id() -> None:
    wlb = docs(parse("winlogbeat.ndjson", "windows-json"))
    assert "source" not in wlb[2]  # IpAddress "-": no source.ip
    assert wlb[2]["winlog"]["logon"] == {"type": "Interactive"}  # LogonType given as the number 2
    assert wlb[2]["winlog"]["event_data"]["LogonType"] == "2"
    assert (wlb[3]["event"]["action"], wlb[3]["event"]["outcome"]) == ("credential-validated", "failure")
    assert wlb[3]["user"] == {"name": "s.abe"}
    assert wlb[4]["user"] == {"name": "s.abe", "domain": "CITY"}  # not PC-0200, the caller's computer
    assert wlb[4]["event"]["category"] == ["iam"]
    assert wlb[9]["user"] == {"name": "adm.tanaka", "domain": "CITY"}  # 4672: the subject, DOMAIN\ stripped
    evtx = docs(parse("evtx.jsonl", "windows-json"))
    assert evtx[2]["event"]["outcome"] == "success" and evtx[2]["source"] == {"ip": "10.20.3.4", "port": 49812}
    assert evtx[2]["winlog"]["event_data"]["IpAddress"] == "10.20.3.4"
    assert evtx[3]["event"]["outcome"] == "failure" and evtx[3]["user"] == {"name": "m.ito"}
    assert evtx[4]["user"] == {"name": "m.ito", "domain": "CITY", "target": {"name": "adm.ito"}}
    assert evtx[5]["event"]["code"] == "4624"  # EventID with Qualifiers
    assert evtx[5]["winlog"]["logon"] == {"type": "RemoteInteractive"}
    assert "port" not in evtx[1]["source"]  # IpPort 0


def test_windows_rejections_and_skips() -> None:
    wlb = parse("winlogbeat.ndjson", "windows-json")
    assert skipped(wlb) == [5]  # 4634 logoff
    assert rejections(wlb) == {
        6: "not valid JSON: Expecting value (column 97)",
        7: "@timestamp is missing",
        8: "neither a Winlogbeat event (winlog) nor an evtx record (Event.System)",
    }
    evtx = parse("evtx.jsonl", "windows-json")
    assert skipped(evtx) == [6]
    assert rejections(evtx) == {
        7: "event id 'abc' is not a number",
        8: "Event.System.TimeCreated.#attributes.SystemTime is missing",
        9: "not valid JSON: Expecting value (column 1)",
    }


# -- Zeek -------------------------------------------------------------------------------------
def test_zeek_conn_tsv_exact_fields() -> None:
    results = parse("conn.log", "zeek")
    by_line = docs(results)
    assert by_line[9] == {
        "@timestamp": "2026-11-23T00:00:01.123Z",
        "event": {
            "id": line_id("zeek", "conn.log", 9),
            "kind": "event",
            "category": ["network"],
            "type": ["connection"],
            "action": "network-flow",
            "outcome": "success",
            "dataset": "zeek.conn",
            "module": "zeek",
            "duration": 12_503_211_000,
        },
        "source": {"ip": "10.20.1.5", "port": 52344, "bytes": 1520, "packets": 20},
        "destination": {"ip": "93.184.216.34", "port": 443, "bytes": 48211, "packets": 40},
        "network": {"transport": "tcp", "protocol": "ssl", "bytes": 49731},
        "related": {"ip": ["10.20.1.5", "93.184.216.34"]},
        "zeek": {"session_id": "CkQ3aB1xYz2", "connection": {"state": "SF", "history": "ShADadFf"}},
    }
    s0 = by_line[10]
    assert s0["source"] == {"ip": "192.0.2.66", "port": 41000, "packets": 1}  # ::ffff: stripped, "-" bytes absent
    assert s0["event"]["outcome"] == "failure" and "duration" not in s0["event"]
    assert "protocol" not in s0["network"]
    assert by_line[13]["zeek"]["connection"]["state"] == "REJ" and by_line[13]["event"]["outcome"] == "failure"
    assert rejections(results) == {
        11: "5 fields where the #fields header declares 21",
        14: "ts: 'yesterday' is not a number",
        15: "id.orig_h: '10.20.1.500' is not an IP address",
    }


def test_zeek_dns_json() -> None:
    results = parse("dns.log", "zeek")
    by_line = docs(results)
    assert by_line[1]["dns"] == {
        "question": {"name": "www.city.kobe.lg.jp", "registered_domain": "kobe.lg.jp", "type": "A"},
        "response_code": "NOERROR",
        "id": 4711,
        "resolved_ip": ["203.0.113.80"],
    }
    assert by_line[1]["@timestamp"] == "2026-11-23T00:00:20.501Z"
    assert by_line[1]["destination"] == {"ip": "10.20.0.53", "port": 53}
    assert by_line[1]["network"] == {"transport": "udp", "protocol": "dns"}
    assert by_line[2]["@timestamp"] == "2026-11-23T00:00:21.000Z"  # ISO 8601 ts
    assert by_line[2]["source"]["ip"] == "10.20.1.9"
    assert by_line[2]["dns"]["question"]["registered_domain"] == "example.co.jp"
    assert by_line[3]["event"]["outcome"] == "failure"  # NXDOMAIN
    reasons = rejections(results)
    assert set(reasons) == {4, 5, 6, 7}
    assert reasons[4].startswith("not valid JSON")
    assert reasons[5] == "id.orig_h: 'not-an-ip' is not an IP address"
    assert reasons[6] == "ts is missing"
    assert reasons[7] == "expected a JSON object, got list"


def test_zeek_http_tsv() -> None:
    results = parse("http.log", "zeek")
    by_line = docs(results)
    first = by_line[9]
    assert first["url"] == {
        "original": "/kurashi/index.html?lang=ja",
        "path": "/kurashi/index.html",
        "query": "lang=ja",
        "full": "http://www.city.kobe.lg.jp/kurashi/index.html?lang=ja",
        "domain": "www.city.kobe.lg.jp",
    }
    assert first["http"] == {
        "request": {"method": "GET", "body": {"bytes": 0}},
        "response": {"status_code": 200, "body": {"bytes": 5123}},
        "version": "1.1",
    }
    assert first["user_agent"]["original"].startswith("Mozilla/5.0 (Windows NT 10.0")
    assert first["source"]["ip"] == "10.20.1.5"
    assert first["event"]["category"] == ["network", "web"]
    assert by_line[10]["url"]["domain"] == "update.example.co.jp"  # the :8080 of Host dropped
    assert by_line[10]["event"]["outcome"] == "failure"  # 403
    assert "domain" not in by_line[12]["url"] and "user_agent" not in by_line[12]
    assert by_line[12]["event"]["outcome"] == "unknown"
    assert rejections(results) == {11: "id.orig_p: port -1 is out of range", 13: "status_code: 'abc' is not a number"}


def test_zeek_tsv_other_logs_are_skipped() -> None:
    lines = [
        "#separator \\x09",
        "#path\tssl",
        "#fields\tts\tuid\tid.orig_h",
        "#types\ttime\tstring\taddr",
        "1\tC1\t10.0.0.1",
    ]
    (result,) = PARSERS["zeek"](lines, source="ssl.log", tz=TOKYO, reference=NEW_YEAR)
    assert result == Skipped("ssl.log:5", "zeek ssl is not one soc reads")


# -- shared -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("www.city.kobe.lg.jp", "kobe.lg.jp"),
        ("mail.example.co.jp.", "example.co.jp"),
        ("Update.Microsoft.COM", "microsoft.com"),
        ("example.jp", "example.jp"),
        ("co.jp", "co.jp"),
        ("www.example.co.uk", "example.co.uk"),
        ("www.example.com.au", "example.com.au"),
        ("a.b.example.com", "example.com"),
        ("localhost", None),
    ],
)
def test_registered_domain(name: str, expected: str | None) -> None:
    assert registered_domain(name) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("CITY\\T.Suzuki", ("t.suzuki", "CITY")),
        ("Administrator", ("administrator", None)),
        ("DC01$", ("dc01$", None)),
        ("-", (None, None)),
        ("", (None, None)),
        (None, (None, None)),
    ],
)
def test_split_user(raw: object, expected: tuple[str | None, str | None]) -> None:
    assert split_user(raw) == expected


def test_ids_are_stable_and_distinct() -> None:
    for name, fmt in FIXTURE_FORMATS.items():
        first = [r.doc["event"]["id"] for r in parse(name, fmt) if isinstance(r, Parsed)]
        later = parse(name, fmt, reference=datetime(2027, 6, 1, tzinfo=TOKYO))
        again = [r.doc["event"]["id"] for r in later if isinstance(r, Parsed)]
        assert first == again, name
        assert len(set(first)) == len(first), name
        assert all(re.fullmatch(rf"{fmt}-[0-9a-f]{{32}}(-\d+)?", i) for i in first), name


FIXTURE_FORMATS = {
    "auth.log": "sshd",
    "secure": "sshd",
    "winlogbeat.ndjson": "windows-json",
    "evtx.jsonl": "windows-json",
    "conn.log": "zeek",
    "dns.log": "zeek",
    "http.log": "zeek",
}


@pytest.mark.parametrize(("name", "fmt"), FIXTURE_FORMATS.items())
def test_guess_format_of_every_fixture(name: str, fmt: str) -> None:
    assert guess_format(read_head(FIX / name)) == fmt


def test_guess_format_ecs_and_unknown() -> None:
    assert guess_format(read_head(Path(__file__).parent / "fixtures" / "ingest" / "mixed.ndjson")) == "ecs"
    assert guess_format(["", "{broken", '{"Event": {"System": {}}}']) == "windows-json"  # first lines may be bad
    assert guess_format(["hello world", "second line"]) is None


def test_cli_format_choices_match_the_table() -> None:
    import inspect

    from soc.cli.main import ingest

    annotation = inspect.signature(ingest, eval_str=True).parameters["fmt"].annotation
    assert (
        set(get_args(get_args(annotation)[0]))
        == set(FORMATS)
        == {"ecs", "sshd", "windows-json", "zeek", "fortigate", "cef", "auto"}
    )


# -- end to end, real node --------------------------------------------------------------------
@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SOC_ES_URL", settings.es_url)
    monkeypatch.setenv("SOC_INDEX_PREFIX", settings.index_prefix)
    monkeypatch.setenv("SOC_DETECTORS_DIR", str(REPO / "detectors"))
    monkeypatch.setenv("SOC_PLAYBOOKS_DIR", str(REPO / "playbooks"))
    monkeypatch.setenv("SOC_OUT_DIR", str(settings.out_dir))
    monkeypatch.setenv("SOC_TIMEZONE", "Asia/Tokyo")
    monkeypatch.delenv("SOC_CONFIG", raising=False)
    return CliRunner()


# file -> (documents indexed into events-auth, into events-network, lines skipped, lines rejected)
EXPECTED = {
    "auth.log": (9, 0, 3, 5),
    "secure": (6, 0, 2, 2),
    "winlogbeat.ndjson": (5, 0, 1, 3),
    "evtx.jsonl": (5, 0, 1, 3),
    "conn.log": (0, 4, 0, 3),
    "dns.log": (0, 3, 0, 4),
    "http.log": (0, 3, 0, 2),
}


def test_cli_ingests_every_format_and_reingesting_adds_nothing(cli: CliRunner, ctx: AppContext) -> None:
    def counts() -> tuple[int, int, int]:
        return tuple(ctx.es.count(event_index(ctx.es, ds)) for ds in ("auth", "network", "other"))  # type: ignore[return-value]

    auth_total = network_total = 0
    for name, (auth, network, n_skipped, n_rejected) in EXPECTED.items():
        res = cli.invoke(app, ["ingest", "--format", FIXTURE_FORMATS[name], str(FIX / name)])
        assert res.exit_code == 2, res.output  # rejected lines make the exit status 2
        assert f"indexed: {auth + network}\n" in res.output, (name, res.output)
        assert f"skipped: {n_skipped}\n" in res.output, (name, res.output)
        assert res.output.count(f"rejected: {FIX / name}:") == n_rejected, (name, res.output)
        auth_total += auth
        network_total += network
        assert counts() == (auth_total, network_total, 0), name

    again = cli.invoke(app, ["ingest", "--format", "auto", *(str(FIX / n) for n in EXPECTED)])
    assert again.exit_code == 2, again.output
    assert f"indexed: {auth_total + network_total}\n" in again.output  # the same ids, overwritten
    assert counts() == (auth_total, network_total, 0)

    hits = ctx.es.search(
        event_index(ctx.es, "auth"), {"query": {"term": {"event.code": "4625"}}, "sort": ["@timestamp"]}
    )["hits"]["hits"]
    assert [h["_source"]["user"]["name"] for h in hits] == ["t.suzuki", "administrator"]
    assert hits[0]["_id"] == line_id("windows-json", "winlogbeat.ndjson", 1)


def test_cli_refuses_an_unknown_format(cli: CliRunner) -> None:
    res = cli.invoke(app, ["ingest", "--format", "syslog", str(FIX / "auth.log")])
    assert res.exit_code == 2
    assert "syslog" in res.output and "sshd" in res.output


def test_auto_names_every_file_it_cannot_guess(ctx: AppContext, tmp_path: Path) -> None:
    odd = tmp_path / "notes.txt"
    odd.write_text("shopping list\nmilk\n", encoding="utf-8")
    with pytest.raises(IngestError, match=r"cannot tell the format of .*notes\.txt"):
        ingest_files(ctx.es, [FIX / "auth.log", odd], segments=ctx.segments, fmt="auto")
    assert ctx.es.count(event_index(ctx.es, "auth")) == 0  # nothing indexed before failing
