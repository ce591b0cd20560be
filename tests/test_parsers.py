"""Log parsers without Elasticsearch (exact ECS fields, rejections, time), then end to end via the CLI."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from soc.cli.main import app
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
        "source": {"ip": "10.20.1.5", "port": 50123, "domain": "pc-0123"},  # WorkstationName, lower-case
        "host": {"name": "dc01.city.local", "os": {"type": "windows"}},  # host.name as Winlogbeat wrote it
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
    assert wlb[2]["source"] == {"domain": "pc-0123"}  # IpAddress "-": no source.ip, the workstation is the key
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
        8: "neither a Winlogbeat event (winlog), an evtx record (Event.System) nor NXLog (EventID)",
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
            # the flow (start second, protocol, addresses, ports), not the line nor the sensor's uid
            "id": "zeek-"
            + hashlib.sha256(b"conn|2026-11-23T00:00:01|tcp|10.20.1.5|52344|93.184.216.34|443").hexdigest()[:32],
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
        "scheme": "http",
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
        "#path\tx509",
        "#fields\tts\tid\tcertificate.version",
        "#types\ttime\tstring\tcount",
        "1\tF1\t3",
    ]
    (result,) = PARSERS["zeek"](lines, source="x509.log", tz=TOKYO, reference=NEW_YEAR)
    assert result == Skipped("x509.log:5", "zeek x509 is not one soc reads")


# -- shared -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("www.city.kobe.lg.jp", "kobe.lg.jp"),
        ("mail.example.co.jp.", "example.co.jp"),
        ("Update.Microsoft.COM", "microsoft.com"),
        ("example.jp", "example.jp"),
        ("co.jp", None),  # a public suffix registers nothing by itself
        ("alice.github.io", "alice.github.io"),  # a private suffix: each site its own owner
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
        == {"ecs", "sshd", "windows-json", "zeek", "fortigate", "cef", "iptables", "auto"}
    )


# -- end to end, real node --------------------------------------------------------------------
@pytest.fixture
def cli(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The shared CLI fixture, with year-less syslog times read in Japan's zone."""
    monkeypatch.setenv("SOC_TIMEZONE", "Asia/Tokyo")
    return cli


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
    assert "indexed: 0\n" in again.output  # the same ids with the same content: nothing new
    assert f"already_present: {auth_total + network_total}\n" in again.output
    for name, fmt in FIXTURE_FORMATS.items():
        assert f"{FIX / name}: {fmt} (guessed): " in again.output  # the guess is printed per file
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


# -- issue 9 §2: parsers that lose nothing (Filebeat's own test logs, then the shapes it misses) --
FB = "filebeat"
FEB_2018 = datetime(2018, 3, 1, tzinfo=UTC)  # the year of Filebeat's syslog test files


def outcomes(results: list[ParseResult]) -> list[tuple[int, str, str]]:
    return [
        (int(r.source.rsplit(":", 1)[1]), r.doc["event"]["action"], r.doc["event"]["outcome"])
        for r in results
        if isinstance(r, Parsed)
    ]


def test_filebeat_test_log_fields_agree_with_filebeat() -> None:
    results = parse(f"{FB}/test.log", "sshd", tz=ZoneInfo("UTC"), reference=FEB_2018)
    by_line = docs(results)
    # test.log-expected.json: Accepted publickey for vagrant from 10.0.2.2 port 63673
    assert by_line[1]["@timestamp"] == "2018-02-21T21:54:44.000Z"
    assert (by_line[1]["user"], by_line[1]["source"]) == ({"name": "vagrant"}, {"ip": "10.0.2.2", "port": 63673})
    assert by_line[1]["system"]["auth"]["ssh"]["method"] == "publickey"
    assert by_line[3]["user"] == {"name": "test"} and by_line[3]["source"] == {"ip": "10.0.2.2"}  # no port
    assert by_line[4]["event"]["outcome"] == "failure" and by_line[4]["source"]["port"] == 29160
    assert by_line[4]["host"]["name"] == "slave22"
    assert skipped(results) == [5, 7, 8, 9, 10]  # sudo, groupadd, useradd: other programs
    # Filebeat: "Did not receive identification string from 2.125.160.217" → system.auth.ssh.dropped_ip
    assert by_line[6]["system"]["auth"]["ssh"]["dropped_ip"] == by_line[6]["source"]["ip"] == "2.125.160.217"
    assert by_line[6]["event"]["action"] == "ssh-preauth-disconnect"


def test_pam_failures_count_once_when_sshd_logs_its_own_line() -> None:
    results = parse(f"{FB}/secure-rhel7.log", "sshd", tz=ZoneInfo("UTC"), reference=FEB_2018)
    failures = [(n, action) for n, action, outcome in outcomes(results) if outcome == "failure"]
    # every counted failure is sshd's own "Failed password" line: 3 + 5 + 1 + 1 in this excerpt
    assert [n for n, _ in failures] == [1, 3, 5, 11, 13, 15, 17, 19, 27, 29]
    assert {a for _, a in failures} == {"ssh-login-failed"}
    pam = [(n, outcome) for n, action, outcome in outcomes(results) if action == "ssh-pam-auth-failure"]
    # "PAM 4 more authentication failures" stands for 4 attempts (4 events), all restated by sshd
    assert pam.count((7, "unknown")) == 4 and pam.count((21, "unknown")) == 4
    assert (9, "unknown") in pam and (23, "unknown") in pam and (25, "unknown") in pam
    ids = [r.doc["event"]["id"] for r in results if isinstance(r, Parsed)]
    assert len(ids) == len(set(ids))  # the 4 events of one line have distinct, stable ids


def test_a_pam_failure_for_an_unknown_account_takes_the_name_sshd_logs(cli: CliRunner, tmp_path: Path) -> None:
    """Debian's OpenSSH + PAM (captured here, Hydra spraying 22 names): for an account that
    does not exist PAM writes no ``user=``; sshd's "Failed password for invalid user X" of the
    same connection names it. The PAM event gets the name (one attempt still counts once),
    so `soc ingest` reports no authentication event without a user."""
    real = REPO / "tests/fixtures/real/captured-lab/hydra-spray-auth.log"
    lines = [line for line in real.read_text(encoding="utf-8").splitlines() if "sshd[24352]" in line]
    results = [r for r in PARSERS["sshd"](lines, source="s", tz=UTC, reference=NEW_YEAR) if isinstance(r, Parsed)]
    pam = [r.doc for r in results if r.doc["event"]["action"] == "ssh-pam-auth-failure"]
    assert len(pam) == 1 and " user=" not in lines[2]
    assert pam[0]["user"]["name"] == "administrator" and pam[0]["event"]["outcome"] == "unknown"
    assert pam[0]["source"]["domain"] == "localhost"
    failed = [r.doc for r in results if r.doc["event"]["action"] == "ssh-login-failed"]
    assert [d["event"]["outcome"] for d in failed] == ["failure"]
    res = cli.invoke(app, ["ingest", "--format", "sshd", str(real)])
    assert res.exit_code == 0 and "incomplete: 0\n" in res.output, res.output


def test_pam_only_logging_counts_every_failure_and_reads_host_names() -> None:
    lines = [
        "Nov 23 09:00:00 web01 sshd[100]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
        "tty=ssh ruser= rhost=scanner.example.net  user=root",
        "Nov 23 09:00:05 web01 sshd[100]: PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh "
        "ruser= rhost=scanner.example.net  user=root",
        "Nov 23 09:00:09 web01 sshd(pam_unix)[200]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh "
        "ruser= rhost=203.0.113.9  user=admin",
        "Nov 23 09:00:10 web01 sshd[300]: message repeated 3 times: [ pam_unix(sshd:auth): authentication "
        "failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.10]",
        "Nov 23 09:00:11 web01 sshd[301]: message repeated 2 times: [ Failed password for root from "
        "203.0.113.11 port 2222 ssh2]",
    ]
    results = list(PARSERS["sshd"](lines, source="auth.log", tz=TOKYO, reference=NEW_YEAR))
    # PAM failures wait up to a minute of log time for sshd's own line, so they come out later
    events = sorted((r for r in results if isinstance(r, Parsed)), key=lambda r: (r.source, r.doc["event"]["id"]))
    assert [(r.source, r.doc["event"]["outcome"]) for r in events] == [
        ("auth.log:1", "failure"),
        ("auth.log:2", "failure"),
        ("auth.log:2", "failure"),
        ("auth.log:3", "failure"),
        ("auth.log:4", "failure"),
        ("auth.log:4", "failure"),
        ("auth.log:4", "failure"),
        ("auth.log:5", "failure"),
        ("auth.log:5", "failure"),
    ]
    first = events[0].doc
    assert first["source"] == {"address": "scanner.example.net", "domain": "scanner.example.net"}
    assert first["user"] == {"name": "root"} and first["event"]["category"] == ["authentication"]
    assert events[3].doc["source"] == {"ip": "203.0.113.9"} and events[3].doc["user"] == {"name": "admin"}
    assert "user" not in events[4].doc  # no user= in the line: indexed, and counted as incomplete at ingest
    ids = [r.doc["event"]["id"] for r in events]
    assert len(set(ids)) == len(ids) == 9
    again = PARSERS["sshd"](lines, source="x", tz=TOKYO, reference=NEW_YEAR)
    assert set(ids) == {r.doc["event"]["id"] for r in again if isinstance(r, Parsed)}


def test_winlogbeat_kerberos_and_credential_validation_from_winlogbeat_golden_files() -> None:
    by_line = docs(parse(f"{FB}/winlogbeat-kerberos.ndjson", "windows-json"))
    tgt, service, preauth, ntlm = by_line[1], by_line[2], by_line[3], by_line[4]
    assert (tgt["event"]["action"], tgt["event"]["outcome"]) == ("kerberos-authentication-ticket-requested", "success")
    assert tgt["user"] == {"name": "at_adm", "domain": "TEST.SAAS"} and tgt["source"] == {"ip": "::1"}
    assert (service["event"]["code"], service["event"]["action"]) == ("4769", "kerberos-service-ticket-requested")
    assert service["user"] == {"name": "at_adm", "domain": "TEST.SAAS"}  # "at_adm@TEST.SAAS" split
    assert service["winlog"]["event_data"]["TargetUserName"] == "at_adm@TEST.SAAS"  # raw kept
    # Winlogbeat's pipeline moved IpAddress/IpPort to source.*: read from there (golden: 192.168.5.44:53366)
    assert preauth["source"] == {"ip": "192.168.5.44", "port": 53366} and preauth["event"]["outcome"] == "failure"
    assert "IpAddress" not in preauth["winlog"]["event_data"]
    assert ntlm["source"] == {"domain": "eqp01777"}  # Workstation "EQP01777": the key without an address
    assert ntlm["host"]["name"] == "DC_TEST2k12.TEST.SAAS"  # host.name as Winlogbeat wrote it


def test_nxlog_flat_json_reads_like_winlogbeat() -> None:
    nxlog = (
        '{"EventTime":"2026-11-23 09:10:00","Hostname":"DC01.city.local","Keywords":-9218868437227405312,'
        '"EventType":"AUDIT_FAILURE","SeverityValue":4,"Severity":"ERROR","EventID":4625,'
        '"SourceName":"Microsoft-Windows-Security-Auditing","Channel":"Security","RecordNumber":102345,'
        '"SubjectUserSid":"S-1-0-0","TargetUserName":"T.Suzuki","TargetDomainName":"CITY","Status":"0xc000006d",'
        '"SubStatus":"0xc000006a","LogonType":"3","WorkstationName":"\\\\\\\\PC-0123","IpAddress":"::ffff:10.20.1.5",'
        '"IpPort":"50123","EventReceivedTime":"2026-11-23 09:10:01","SourceModuleName":"eventlog",'
        '"SourceModuleType":"im_msvistalog"}'
    )
    zoned = (
        '{"EventTime":"2026-11-23T00:10:00.000000Z","Hostname":"DC01","EventID":"4776","TargetUserName":"S.Abe",'
        '"Workstation":"PC-0200","Status":"0x0"}'
    )
    results = list(PARSERS["windows-json"]([nxlog, zoned], source="nx.json", tz=TOKYO, reference=NEW_YEAR))
    flat, zoned_doc = (r.doc for r in results if isinstance(r, Parsed))
    wlb = docs(parse("winlogbeat.ndjson", "windows-json"))[1]
    for key in ("event", "user", "source"):
        same = {k: v for k, v in flat[key].items() if k not in ("id", "dataset")}
        assert same == {k: v for k, v in wlb[key].items() if k not in ("id", "dataset")}, key
    assert flat["@timestamp"] == "2026-11-23T00:10:00.000Z"  # EventTime without a zone: the configured one
    assert flat["host"]["name"] == "DC01" and flat["winlog"]["record_id"] == "102345"
    assert flat["winlog"]["event_data"]["TargetUserName"] == "T.Suzuki"
    assert "EventReceivedTime" not in flat["winlog"]["event_data"]  # NXLog's own fields are not EventData
    assert zoned_doc["@timestamp"] == "2026-11-23T00:10:00.000Z" and zoned_doc["source"] == {"domain": "pc-0200"}


def test_zeek_filebeat_json_logs() -> None:
    ssl = docs(parse(f"{FB}/ssl-json.log", "zeek"))
    assert ssl[1]["destination"] == {
        "ip": "35.199.178.4",
        "port": 9243,
        "domain": "dd625ffb4fc54735b281862aa1cd6cd4.us-west1.gcp.cloud.es.io",  # server_name
    }
    assert ssl[1]["tls"] == {  # as ssl-json.log-expected.json (commit 605a0243961d0fd1485cac64c3eebc52f6e554ae)
        "client": {"server_name": "dd625ffb4fc54735b281862aa1cd6cd4.us-west1.gcp.cloud.es.io"},
        "version": "1.2",
        "version_protocol": "tls",
        "cipher": "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "curve": "secp256r1",
        "resumed": False,
        "established": True,
        "server": {
            "subject": "CN=*.gcp.cloud.es.io,O=Elasticsearch\\, Inc.,L=Mountain View,ST=California,C=US",
            "issuer": "CN=DigiCert SHA2 Secure Server CA,O=DigiCert Inc,C=US",
        },
    }
    assert ssl[1]["event"]["dataset"] == "zeek.ssl" and ssl[1]["event"]["outcome"] == "success"
    http = docs(parse(f"{FB}/http-json.log", "zeek"))
    assert http[2]["url"]["full"] == "http://httpbin.org/ip" and http[2]["destination"]["domain"] == "httpbin.org"
    dns = docs(parse(f"{FB}/dns-json.log", "zeek"))
    # dns-json.log-expected.json (commit 6ca55d3f9b007e686898eba052361dec4d4b950b)
    assert dns[1]["dns"]["question"]["registered_domain"] == "es.io"
    assert dns[1]["event"]["duration"] == 76_967_000 and dns[1]["dns"]["resolved_ip"] == ["35.199.178.4"]
    assert dns[2]["dns"]["question"]["registered_domain"] == "_tcp.local"
    assert dns[2]["dns"]["question"]["type"] == "PTR" and dns[2]["source"]["ip"] == "fe80::4ef:15cf:769f:ff21"
    conn = docs(parse(f"{FB}/connection-json.log", "zeek"))
    assert conn[1]["event"]["duration"] == 76_967_000 and conn[1]["network"]["bytes"] == 253
    assert conn[5]["@timestamp"] == "2021-06-09T20:55:13.160Z"  # ISO 8601 ts


def test_zeek_underscore_names_read_like_dots() -> None:
    dotted = raw_line(f"{FB}/connection-json.log", 2)
    underscored = dotted.replace('"id.', '"id_')
    (a,) = PARSERS["zeek"]([dotted], source="a", tz=TOKYO, reference=NEW_YEAR)
    (b,) = PARSERS["zeek"]([underscored], source="b", tz=TOKYO, reference=NEW_YEAR)
    assert isinstance(a, Parsed) and isinstance(b, Parsed)
    assert a.doc == b.doc and b.doc["source"]["ip"] == "192.168.86.167"
    assert guess_format([underscored]) == "zeek"


def test_the_same_flow_from_two_sensors_is_one_event() -> None:
    """Two Zeek sensors name one connection with two random uids, a few milliseconds and a
    few bytes apart: one event. The same 5-tuple a minute later (NTP, a port reused) is another."""
    first = raw_line(f"{FB}/connection-json.log", 1)
    uid = json.loads(first)["uid"]
    second = (
        first.replace('"orig_bytes":75', '"orig_bytes":74')
        .replace('"ts":1547188415.857497', '"ts":1547188415.8605')
        .replace(f'"uid":"{uid}"', '"uid":"CbLsBs1Q0xq0vKeqh9"')
    )
    assert second.count("CbLsBs1Q0xq0vKeqh9") == 1
    later = first.replace('"ts":1547188415.857497', '"ts":1547188475.857497')
    a, b, c = PARSERS["zeek"]([first, second, later], source="two", tz=TOKYO, reference=NEW_YEAR)
    assert isinstance(a, Parsed) and isinstance(b, Parsed) and isinstance(c, Parsed)
    assert a.doc["event"]["id"] == b.doc["event"]["id"] and a.digest == b.digest  # one flow, two sensors
    assert c.doc["event"]["id"] != a.doc["event"]["id"]  # the same addresses a minute later
    dns_a, dns_b = (raw_line(f"{FB}/dns-json.log", n) for n in (2, 3))  # one uid per query in this file
    x, y = PARSERS["zeek"]([dns_a, dns_b], source="d", tz=TOKYO, reference=NEW_YEAR)
    assert isinstance(x, Parsed) and isinstance(y, Parsed) and x.doc["event"]["id"] != y.doc["event"]["id"]


def test_cli_two_sensors_logging_one_transfer_count_its_bytes_once(
    cli: CliRunner, ctx: AppContext, tmp_path: Path
) -> None:
    """`soc ingest --format zeek` of two sensors' conn.log (each its own uids and clock skew):
    the second file adds nothing, so volume and count detectors see each flow once."""
    header = (
        "#separator \\x09\n#path\tconn\n"
        "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\torig_bytes\tresp_bytes\tconn_state\n"
        "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tcount\tcount\tstring\n"
    )
    for sensor, (skew, prefix) in {"a": (0.0, "Ca"), "b": (0.004, "Cb")}.items():
        rows = [
            f"{1795950000.25 + i * 60 + skew:.6f}\t{prefix}{i}\t10.20.3.7\t{40000 + i}\t45.33.32.156\t443\ttcp"
            f"\t{30_000_000 - int(skew * 1000)}\t2000\tSF"
            for i in range(10)
        ]
        (tmp_path / f"{sensor}-conn.log").write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    one = cli.invoke(app, ["ingest", "--format", "zeek", str(tmp_path / "a-conn.log")])
    assert one.exit_code == 0 and "indexed: 10\n" in one.output, one.output
    two = cli.invoke(app, ["ingest", "--format", "zeek", str(tmp_path / "b-conn.log")])
    assert two.exit_code == 0, two.output
    assert "indexed: 0\n" in two.output and "already_present: 10\n" in two.output, two.output
    assert ctx.es.count(event_index(ctx.es, "network")) == 10


@pytest.mark.parametrize(
    ("method", "uri", "host", "url"),
    [
        (
            "CONNECT",
            "www.example.com:443",
            "",
            {"original": "www.example.com:443", "domain": "www.example.com", "port": 443, "scheme": "https"},
        ),
        (
            "CONNECT",
            "[2001:db8::1]:8443",
            "-",
            {"original": "[2001:db8::1]:8443", "domain": "2001:db8::1", "port": 8443},
        ),
        (
            "GET",
            "http://update.example.co.jp:8080/a/b?x=1",
            "update.example.co.jp:8080",
            {
                "original": "http://update.example.co.jp:8080/a/b?x=1",
                "full": "http://update.example.co.jp:8080/a/b?x=1",
                "scheme": "http",
                "port": 8080,
                "path": "/a/b",
                "query": "x=1",
                "domain": "update.example.co.jp",
            },
        ),
    ],
)
def test_zeek_http_connect_and_proxy_requests_give_a_correct_url(
    method: str, uri: str, host: str, url: dict[str, Any]
) -> None:
    row = {
        "ts": 1795000000.0, "uid": "Cx", "id.orig_h": "10.20.1.5", "id.orig_p": 50000, "id.resp_h": "10.20.0.8",
        "id.resp_p": 3128, "trans_depth": 1, "method": method, "host": host, "uri": uri, "status_code": 200,
    }  # fmt: skip
    (result,) = PARSERS["zeek"]([json.dumps(row)], source="proxy", tz=TOKYO, reference=NEW_YEAR)
    assert isinstance(result, Parsed)
    assert result.doc["url"] == url
    assert result.doc["destination"]["domain"] == url["domain"]


def test_evtx_odd_shapes_are_rejections_not_tracebacks() -> None:
    lines = [
        '{"Event": {"System": {"EventID": 4625, "TimeCreated": {"#attributes": "x"}}}}',
        '{"Event": {"System": {"EventID": 4625, "Provider": {"#attributes": ["x"]}, '
        '"TimeCreated": {"#attributes": {"SystemTime": "2026-11-23T00:00:00Z"}}}, "EventData": "x"}}',
        '{"Event": "x"}',
        '{"winlog": {"event_id": 4625, "event_data": []}, "@timestamp": 5}',
        '{"EventID": {"x": 1}, "EventTime": "2026-11-23 09:00:00"}',
        '{"EventID": 4625, "EventTime": "yesterday"}',
    ]
    results = list(PARSERS["windows-json"](lines, source="odd", tz=TOKYO, reference=NEW_YEAR))
    assert rejections(results) == {
        1: "Event.System.TimeCreated.#attributes.SystemTime is missing",
        3: "Event.System is missing",
        4: "@timestamp is missing",
        5: "event id None is not a number",
        6: "EventTime: not a time: 'yesterday'",
    }
    assert list(docs(results)) == [2]  # a 4625 whose EventData is a string: indexed without user (incomplete)


def test_a_pam_failure_waits_a_minute_for_sshds_own_line() -> None:
    pam = (
        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.5  user=root"
    )
    lines = [
        f"Nov 23 09:00:00 web01 sshd[10]: {pam}",
        f"Nov 23 09:00:00 web01 sshd[20]: {pam}",
        "Nov 23 09:00:03 web01 sshd[20]: Failed password for root from 203.0.113.5 port 4000 ssh2",  # restates 20
        "Nov 23 09:01:30 web01 cron[1]: (root) CMD (true)",  # 90 s later: 10's PAM failure counts on its own
    ]
    results = list(PARSERS["sshd"](lines, source="a", tz=TOKYO, reference=NEW_YEAR))
    assert [(r.source, r.doc["event"]["outcome"]) for r in results if isinstance(r, Parsed)] == [
        ("a:2", "unknown"),
        ("a:3", "failure"),
        ("a:1", "failure"),
    ]


EVENT_XML = (
    '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>'
    '<Provider Name="Microsoft-Windows-Security-Auditing" Guid="{54849625-5478-4994-a5ba-3e3b0328c30d}" />'
    '<EventID>4625</EventID><Version>0</Version><TimeCreated SystemTime="2022-04-29T12:36:01.9027913Z" />'
    "<EventRecordID>2559</EventRecordID><Channel>Security</Channel><Computer>exchange-1.mydomain.test</Computer>"
    '<Security /></System><EventData><Data Name="SubjectUserSid">S-1-0-0</Data>'
    '<Data Name="TargetUserName">Asdf</Data><Data Name="TargetDomainName">MYDOMAIN</Data>'
    '<Data Name="Status">0xc000006d</Data><Data Name="LogonType">3</Data>'
    '<Data Name="WorkstationName">DESKTOP-7QD9TN3</Data><Data Name="IpAddress">192.168.9.212</Data>'
    '<Data Name="IpPort">0</Data><Data Name="Empty" /></EventData></Event>'
)


def test_windows_event_xml_lines_read_like_evtx_json() -> None:
    doc = docs(list(PARSERS["windows-json"]([EVENT_XML], source="x", tz=TOKYO, reference=NEW_YEAR)))[1]
    assert doc["@timestamp"] == "2022-04-29T12:36:01.902Z"
    assert (doc["event"]["action"], doc["event"]["outcome"], doc["event"]["code"]) == (
        "logon-failed",
        "failure",
        "4625",
    )
    assert doc["user"] == {"name": "asdf", "domain": "MYDOMAIN"}
    assert doc["source"] == {"ip": "192.168.9.212", "domain": "desktop-7qd9tn3"}
    assert doc["host"]["name"] == "exchange-1" and doc["winlog"]["record_id"] == "2559"
    assert doc["winlog"]["event_data"]["TargetUserName"] == "Asdf" and "Empty" not in doc["winlog"]["event_data"]
    assert guess_format([EVENT_XML]) == "windows-json"


def test_hostile_event_xml_is_a_rejection() -> None:
    bomb = '<!DOCTYPE e [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><Event>&b;</Event>'
    lines = [bomb, EVENT_XML[:-10], "<Other/>", "<Event><EventData/></Event>", "<" + "<a>" * 5000]
    results = list(PARSERS["windows-json"](lines, source="x", tz=TOKYO, reference=NEW_YEAR))
    reasons = rejections(results)
    assert reasons[1] == "Event XML with a declaration (<!DOCTYPE, <!ENTITY) is not read"
    assert reasons[2].startswith("not valid Event XML")
    assert reasons[3] == "expected an <Event> element, got <Other>"
    assert reasons[4] == "Event/System is missing"
    assert reasons[5].startswith("not valid Event XML") and len(reasons) == 5


# -- issue 9 §2: sshd pre-authentication protocol failures ------------------------------------
PREAUTH = [
    "Dec  1 18:59:33 gw sshd[11]: banner exchange: Connection from 59.91.122.57 port 34388: invalid format",
    "Dec  1 18:59:33 gw sshd[12]: error: kex_exchange_identification: banner line too long",
    "Dec  1 18:59:34 gw sshd[13]: Did not receive identification string from 59.91.122.58",
    "Dec  1 18:59:34 gw sshd[14]: Bad protocol version identification 'GET / HTTP/1.1' from 59.91.122.59 port 5555",
    "Dec  1 18:59:35 gw sshd[15]: Unable to negotiate with 123.57.135.134 port 45626: no matching key exchange "
    "method found. Their offer: diffie-hellman-group1-sha1 [preauth]",
    "Dec  1 18:59:35 gw sshd[16]: Unable to negotiate with authenticating user Root 123.57.135.135 port 22: "
    "no matching host key type found. Their offer: ssh-dss [preauth]",
    "Dec  1 18:59:36 gw sshd[17]: fatal: Timeout before authentication for 192.168.9.212 port 47056",
    "Dec  1 18:59:36 gw sshd[1]: Timeout before authentication for connection from 192.168.9.214 to 10.0.0.1, pid = 9",
    "Dec  1 18:59:37 gw sshd[18]: ssh_dispatch_run_fatal: Connection from 192.168.9.213 port 48680: message "
    "authentication code incorrect [preauth]",
    "Dec  1 18:59:37 gw sshd[19]: Connection closed by 198.51.100.9 port 40000 [preauth]",
    "Dec  1 18:59:37 gw sshd[20]: Connection reset by 198.51.100.9 port 40001 [preauth]",
    "Dec  1 18:59:38 gw sshd[21]: Connection closed by authenticating user svc 198.51.100.10 port 40002 [preauth]",
    "Dec  1 18:59:38 gw sshd[22]: Bad packet length 1349676916. [preauth]",
]


def test_sshd_preauth_protocol_failures_are_network_failures_keyed_on_the_client() -> None:
    results = list(PARSERS["sshd"](PREAUTH, source="auth.log", tz=ZoneInfo("UTC"), reference=NEW_YEAR))
    by_line = docs(results)
    summary = {n: (d["event"]["action"], d["event"]["category"], d["event"]["outcome"]) for n, d in by_line.items()}
    network = (["network"], "failure")
    assert summary == {
        1: ("ssh-banner-exchange-failed", *network),
        3: ("ssh-preauth-disconnect", *network),  # connected, sent nothing: a health check or a port scan
        4: ("ssh-banner-exchange-failed", *network),
        5: ("ssh-negotiation-failed", *network),
        6: ("ssh-negotiation-failed", *network),
        7: ("ssh-preauth-timeout", *network),
        8: ("ssh-preauth-timeout", *network),
        9: ("ssh-protocol-error", *network),
        10: ("ssh-preauth-disconnect", *network),
        11: ("ssh-preauth-disconnect", *network),
        # a credential was tried: the authentication line it always was, outcome unknown
        12: ("ssh-connection-closed-preauth", ["authentication"], "unknown"),
    }
    assert skipped(results) == [2, 13]  # no client address: nothing to key a detection on
    first = by_line[1]
    assert first["source"] == {"ip": "59.91.122.57", "port": 34388}
    assert first["destination"] == {"address": "gw"}  # the server that logged it
    assert first["network"] == {"protocol": "ssh", "transport": "tcp"}
    assert first["event"]["type"] == ["connection", "error"]
    assert first["error"] == {"message": "invalid format"}
    assert "user" not in first
    assert by_line[5]["error"] == {"message": "no matching key exchange method found"}
    assert by_line[6]["user"] == {"name": "root"} and by_line[6]["source"]["ip"] == "123.57.135.135"
    assert by_line[8]["source"] == {"ip": "192.168.9.214"}  # OpenSSH >= 9.8 names no client port
    assert by_line[9]["error"] == {"message": "message authentication code incorrect"}


def test_the_simulator_writes_preauth_failures_as_the_parser_reads_them() -> None:
    parsed = docs(list(PARSERS["sshd"](PREAUTH[4:5], source="a", tz=ZoneInfo("UTC"), reference=NEW_YEAR)))[1]
    made = EventFactory("sim").ssh_protocol(
        datetime(2026, 12, 1, tzinfo=UTC),
        host="gw",
        source_ip="123.57.135.134",
        port=45626,
        action="ssh-negotiation-failed",
        reason="no matching key exchange method found",
    )
    for field in ("event.category", "event.type", "event.action", "event.outcome", "event.dataset", "source",
                  "destination", "network", "error", "host", "process.name"):  # fmt: skip
        head, *rest = field.split(".")
        got, want = parsed[head], made[head]
        for part in rest:
            got, want = got[part], want[part]
        assert got == want, field


def test_identical_syslog_lines_are_as_many_events_as_message_repeated() -> None:
    line = (
        "Jun  8 10:44:36 server sshd[3204729]: Unable to negotiate with 123.57.135.134 port 45626: no matching "
        "key exchange method found. Their offer: diffie-hellman-group1-sha1 [preauth]"
    )
    collapsed = f"Jun  8 10:44:36 server sshd[3204729]: message repeated 3 times: [ {line.split(': ', 1)[1]}]"
    written = [
        r for r in PARSERS["sshd"]([line] * 3, source="a", tz=TOKYO, reference=NEW_YEAR) if isinstance(r, Parsed)
    ]
    rsyslog = [
        r for r in PARSERS["sshd"]([collapsed], source="a", tz=TOKYO, reference=NEW_YEAR) if isinstance(r, Parsed)
    ]
    assert len(written) == len(rsyslog) == 3
    ids = [r.doc["event"]["id"] for r in written]
    assert len(set(ids)) == 3 and ids[0] == f"sshd-{hashlib.sha256(line.encode()).hexdigest()[:32]}"
    again = [r.doc["event"]["id"] for r in PARSERS["sshd"]([line] * 3, source="b", tz=TOKYO, reference=NEW_YEAR)]
    assert again == ids  # reading the file again gives the same ids: re-ingesting adds nothing


def _sshd_lines_detected(cli: CliRunner, log: Path, lines: list[str], *, indexed: int) -> list[dict[str, Any]]:
    """``soc ingest --format sshd`` of the lines (all indexed, none incomplete), then the
    alerts of ``soc detect --json`` over the night of 2026-11-22 (Tokyo)."""
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = cli.invoke(app, ["ingest", "--format", "sshd", str(log)])
    assert res.exit_code == 0, res.output
    assert f"indexed: {indexed}\n" in res.output and "incomplete: 0\n" in res.output, res.output
    det = cli.invoke(app, ["detect", "--from", "2026-11-21T17:00:00Z", "--to", "2026-11-21T19:00:00Z", "--json"])
    assert det.exit_code == 0, det.output
    return [json.loads(line) for line in det.stdout.splitlines() if line.startswith("{")]


def test_cli_ssh_protocol_probing_found_on_raw_sshd_lines_and_not_on_health_checks(
    cli: CliRunner, tmp_path: Path
) -> None:
    probe = [
        f"Nov 22 03:1{i}:0{i} sftp01 sshd[{700 + i}]: banner exchange: Connection from 203.0.113.77 port "
        f"{40000 + i}: invalid format"
        for i in range(3)
    ] + [
        "Nov 22 03:14:00 sftp01 sshd[710]: fatal: Timeout before authentication for 203.0.113.77 port 40100",
        # a load balancer's health check: a bare pre-auth close every 30 s is not probing
        *(
            f"Nov 22 03:{10 + i // 2:02d}:{(i % 2) * 30:02d} sftp01 sshd[{800 + i}]: Connection closed by "
            f"10.30.0.5 port {50000 + i} [preauth]"
            for i in range(20)
        ),
        # a legacy client fails twice, then is fixed
        *(
            f"Nov 22 03:1{i}:30 sftp01 sshd[{900 + i}]: Unable to negotiate with 10.20.1.9 port {51000 + i}: "
            "no matching host key type found. Their offer: ssh-dss [preauth]"
            for i in range(2)
        ),
    ]
    alerts = _sshd_lines_detected(cli, tmp_path / "auth.log", probe, indexed=26)
    assert {(a["detector"], json.dumps(a["entity"], sort_keys=True)) for a in alerts} == {
        ("ssh-protocol-probing", json.dumps({"source.ip": "203.0.113.77"}))
    }


def test_cli_ssh_brute_force_from_a_host_name_found_on_raw_pam_lines(cli: CliRunner, tmp_path: Path) -> None:
    """A PAM-only sshd (RHEL 4's ``sshd(pam_unix)``, reverse DNS on): eight guesses for root
    from a host name, no address anywhere, are an SSH brute force keyed on the name; three
    typos from a staff workstation are not."""
    lines = [
        f"Nov 22 03:10:{i * 5:02d} sftp01 sshd(pam_unix)[{700 + i}]: authentication failure; logname= uid=0 "
        "euid=0 tty=ssh ruser= rhost=host-77.dynamic.example-isp.net  user=root"
        for i in range(8)
    ] + [
        f"Nov 22 03:12:{i * 9:02d} sftp01 sshd(pam_unix)[{800 + i}]: authentication failure; logname= uid=0 "
        "euid=0 tty=ssh ruser= rhost=pc-ops01.city.local  user=sftpadmin"
        for i in range(3)
    ]
    alerts = _sshd_lines_detected(cli, tmp_path / "secure", lines, indexed=11)
    assert [(a["detector"], a["entity"], a["count"]) for a in alerts] == [
        ("ssh-brute-force-host-name", {"source.domain": "host-77.dynamic.example-isp.net"}, 8)
    ]


# -- issue 9 §3: a 4672 takes the logon type and source of its 4624 ---------------------------
SUNDAY = REPO / "tests" / "fixtures" / "real" / "evtx-samples" / "security-2016-07-17.jsonl"


def _specials(lines: list[str]) -> dict[str, tuple[str, str | None, str | None, str | None]]:
    """record id -> (user, logon id, logon type, source ip) of every 4672."""
    out = {}
    for r in PARSERS["windows-json"](lines, source="s", tz=TOKYO, reference=NEW_YEAR):
        if isinstance(r, Parsed) and r.doc["event"]["code"] == "4672":
            logon = r.doc["winlog"].get("logon", {})
            ip = r.doc.get("source", {}).get("ip")
            out[r.doc["winlog"]["record_id"]] = (r.doc["user"]["name"], logon.get("id"), logon.get("type"), ip)
    return out


def test_a_4672_takes_the_logon_type_and_source_of_its_4624_in_either_order() -> None:
    lines = SUNDAY.read_text(encoding="utf-8").splitlines()
    forward = _specials(lines)
    # fsir's console logon: 4624 type 2 from 127.0.0.1 (TargetLogonId 0x7304b), then its 4672
    assert forward["1342"] == ("fsir", "0x7304b", "Interactive", "127.0.0.1")
    assert forward["1302"] == ("system", "0x3e7", "Service", None)  # a service start names no address
    assert all(facts[2] is not None for facts in forward.values())  # every 4672 of the day found its logon
    assert _specials(lines[::-1]) == forward  # exported newest first: the 4672 waits for its 4624


def test_a_4672_without_its_4624_goes_out_as_it_is_and_waits_a_bounded_time() -> None:
    lines = SUNDAY.read_text(encoding="utf-8").splitlines()
    special = next(line for line in lines if '"SubjectLogonId":"0x7304b"' in line.replace(" ", ""))
    logon = next(line for line in lines if '"TargetLogonId":"0x7304b"' in line.replace(" ", ""))
    alone = _specials([special])
    assert alone == {"1342": ("fsir", "0x7304b", None, None)}
    # its 4624 more than 64 lines later is too late: the 4672 has gone out without it
    filler = [line for line in lines if '"EventID":4616' in line][:1] * 70
    assert filler, "the day has filtering-platform events to pad with"
    assert _specials([special, *filler, logon]) == alone
    # another computer's logon with the same id says nothing of this one
    other = logon.replace("WIN-03DLIIOFRRA", "OTHER-PC")
    assert _specials([other, special]) == alone


# -- issue 9 §3: one user-name convention for every format ------------------------------------
# The same failed logon of CITY\T.Suzuki, as each format writes it; every one must index
# user.name "t.suzuki" and user.domain "CITY" (the raw name stays in the format's own fields).
SAME_USER = {
    "ecs": '{"@timestamp": "2026-11-22T01:00:00Z", "event": {"id": "case-1", "category": ["authentication"], '
    '"outcome": "failure"}, "user": {"name": "CITY\\\\T.Suzuki"}, "source": {"ip": "10.20.1.5"}, '
    '"related": {"user": ["T.Suzuki"]}}',
    "sshd": "Nov 22 10:00:00 web01 sshd[1]: Failed password for CITY\\T.Suzuki from 10.20.1.5 port 5000 ssh2",
    "windows-json": '{"EventTime": "2026-11-22 10:00:00", "Hostname": "DC01", "EventID": 4625, '
    '"TargetUserName": "T.Suzuki", "TargetDomainName": "CITY", "IpAddress": "10.20.1.5", "LogonType": "3"}',
    "fortigate": 'date=2026-11-22 time=10:00:00 devname="fw01" devid="FG100F" logid="0101039426" type="event" '
    'subtype="vpn" tz="+0900" action="ssl-login-fail" remip=10.20.1.5 user="CITY\\\\T.Suzuki" '
    'reason="sslvpn_login_permission_denied"',
    "cef": "CEF:0|Vendor|Gateway|1.0|100|User login failed|5|rt=1763773200000 src=10.20.1.5 suser=CITY\\\\T.Suzuki "
    "cat=/Authentication/Login outcome=failure",
}


@pytest.mark.parametrize("fmt", sorted(SAME_USER))
def test_every_format_indexes_user_name_lower_case_with_its_domain(
    fmt: str, cli: CliRunner, ctx: AppContext, tmp_path: Path
) -> None:
    log = tmp_path / f"one.{fmt}"
    log.write_text(SAME_USER[fmt] + "\n", encoding="utf-8")
    res = cli.invoke(app, ["ingest", "--format", fmt, str(log)])
    assert res.exit_code == 0 and "indexed: 1\n" in res.output, res.output
    ctx.es.refresh(event_index(ctx.es, "auth"))
    (hit,) = ctx.es.search(event_index(ctx.es, "auth"), {"query": {"match_all": {}}})["hits"]["hits"]
    doc = hit["_source"]
    assert doc["user"]["name"] == "t.suzuki", doc
    assert doc["user"].get("domain") == "CITY", doc
    if fmt == "ecs":  # ECS input keeps the name as the producer wrote it
        assert doc["soc"]["user"]["original_name"] == "CITY\\T.Suzuki"
        assert doc["related"]["user"] == ["t.suzuki"]
    # the detectors' exclusions and group-bys see one user, whatever the source's case
    term = {"query": {"term": {"user.name": "t.suzuki"}}}
    assert ctx.es.count(event_index(ctx.es, "auth"), term["query"]) == 1


def _filebeat_ssh(at: str, ip: str, user: str, event: str, outcome: str, n: int) -> str:
    """One document shaped as Filebeat's system/auth module writes an sshd line (dotted keys)."""
    return json.dumps(
        {
            "@timestamp": at, "event.id": f"fb-{ip}-{n}", "event.action": "ssh_login",
            "event.category": ["authentication"], "event.outcome": outcome, "event.dataset": "system.auth",
            "event.type": ["authentication_failure" if outcome == "failure" else "authentication_success", "info"],
            "source.ip": ip, "user.name": user, "system.auth.ssh.event": event, "process.name": "sshd",
            "host.hostname": "sftp01",
        }
    )  # fmt: skip


def test_ssh_detectors_read_filebeat_ecs_counting_each_attempt_once(cli: CliRunner, tmp_path: Path) -> None:
    lines = []
    # 7 attempts for invalid users: Filebeat writes each twice ("Invalid user", "Failed … invalid user")
    for i in range(7):
        at = f"2026-11-22T01:00:{5 * i:02d}Z"
        lines.append(_filebeat_ssh(at, "203.0.113.90", f"Admin{i}", "Invalid", "failure", 2 * i))
        lines.append(_filebeat_ssh(at, "203.0.113.90", f"Admin{i}", "Failed", "failure", 2 * i + 1))
    # 5 attempts (10 documents) from another address: under 6 once counted once each
    for i in range(5):
        at = f"2026-11-22T01:01:{5 * i:02d}Z"
        lines.append(_filebeat_ssh(at, "203.0.113.91", "oracle", "Invalid", "failure", 2 * i))
        lines.append(_filebeat_ssh(at, "203.0.113.91", "oracle", "Failed", "failure", 2 * i + 1))
    # a busy legitimate user: successes never count
    ok = "2026-11-22T01:02:{:02d}Z"
    lines += [_filebeat_ssh(ok.format(5 * i), "10.20.1.5", "t.suzuki", "Accepted", "success", i) for i in range(9)]
    log = tmp_path / "filebeat.ndjson"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = cli.invoke(app, ["ingest", "--format", "ecs", str(log)])
    assert res.exit_code == 0 and "indexed: 33\n" in res.output, res.output
    det = cli.invoke(app, ["detect", "--from", "2026-11-22T00:30:00Z", "--to", "2026-11-22T02:00:00Z", "--json"])
    assert det.exit_code == 0, det.output
    alerts = [json.loads(line) for line in det.stdout.splitlines() if line.startswith("{")]
    for detector in ("ssh-brute-force", "ssh-slow-user-enumeration"):  # 7 attempts, 7 user names
        assert [a["entity"] for a in alerts if a["detector"] == detector] == [{"source.ip": "203.0.113.90"}]
