"""Ingest against the real node: routing, normalisation, every rejection with its reason."""

from __future__ import annotations

import copy
import hashlib
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from soc.cli.main import app
from soc.context import AppContext
from soc.errors import IngestError
from soc.es import ingest as ingest_module
from soc.es.indices import ensure_ready, event_index
from soc.es.ingest import DocumentError, RejectsFile, ingest_files, prepare, route
from soc.network.segments import SegmentMap

FIXTURE = Path(__file__).parent / "fixtures" / "ingest" / "mixed.ndjson"


def test_good_lines_indexed_bad_lines_reported_with_line_and_reason(ctx: AppContext) -> None:
    report = ingest_files(ctx.es, [FIXTURE], segments=ctx.segments)
    assert report.read == 9
    assert report.indexed_total == 4
    reasons = {r.source.rsplit(":", 1)[1]: r.reason for r in report.rejected}
    assert set(reasons) == {"5", "6", "7", "8", "9"}
    assert "@timestamp is missing" in reasons["5"]
    assert "rejected by Elasticsearch" in reasons["6"] and "source.ip" in reasons["6"]
    assert "has no zone" in reasons["7"]
    assert "not valid JSON" in reasons["8"]
    assert "expected a JSON object" in reasons["9"]
    assert all(r.source.startswith(str(FIXTURE)) for r in report.rejected)

    auth = ctx.es.search(event_index(ctx.es, "auth"), {"query": {"match_all": {}}, "sort": ["@timestamp"]})
    docs = [h["_source"] for h in auth["hits"]["hits"]]
    assert [d["user"]["name"] for d in docs] == ["t.suzuki", "k.sato"]  # authentication and iam route to auth
    assert docs[0]["source"]["ip"] == "10.20.1.5"  # ::ffff: prefix normalised
    assert docs[0]["soc"]["segment"] == "lgwan"
    net = ctx.es.search(event_index(ctx.es, "network"), {"query": {"match_all": {}}})["hits"]["hits"]
    (flow,) = [h["_source"] for h in net]
    assert flow["@timestamp"] == "2026-11-23T01:00:01.000Z"  # stored in UTC
    segments = {k: v for k, v in flow["soc"].items() if k != "digest"}
    assert segments == {"source_segment": "mynumber", "destination_segment": "external", "segment": "mynumber"}
    assert ctx.es.count(event_index(ctx.es, "other")) == 1


def test_reingesting_does_not_duplicate(ctx: AppContext) -> None:
    ingest_files(ctx.es, [FIXTURE], segments=ctx.segments)
    again = ingest_files(ctx.es, [FIXTURE], segments=ctx.segments)
    assert (again.indexed_total, again.already_present, len(again.conflicts)) == (0, 4, 0)  # nothing new
    assert len(again.rejected) == 5  # the bad lines are still bad
    total = sum(ctx.es.count(event_index(ctx.es, ds)) for ds in ("auth", "network", "other"))
    assert total == 4  # the line without event.id too: its id is a hash of its content


def test_unknown_format_and_missing_file(ctx: AppContext, tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="unknown input format 'syslog'"):
        ingest_files(ctx.es, [FIXTURE], segments=ctx.segments, fmt="syslog")
    with pytest.raises(IngestError, match="file not found"):
        ingest_files(ctx.es, [tmp_path / "nope.ndjson"], segments=ctx.segments)


@pytest.mark.parametrize(
    ("doc", "dataset"),
    [
        ({"event": {"category": ["authentication"]}}, "auth"),
        ({"event": {"category": "network"}}, "network"),
        ({"event": {"category": ["process", "network"]}}, "network"),
        ({"event": {"category": ["file"]}}, "other"),
        ({}, "other"),
    ],
)
def test_route(doc: dict[str, object], dataset: str) -> None:
    assert route(doc) == dataset


# -- issue 10 §5: one line never loses a file ---------------------------------------------------
GOOD = (
    '{"@timestamp": "2026-11-23T01:00:00Z", "event": {"category": ["authentication"]}, '
    '"user": {"name": "u%d"}, "source": {"ip": "10.20.1.%d"}}'
)


def _file(tmp_path: Path, name: str, lines: list[str | bytes]) -> Path:
    path = tmp_path / name
    path.write_bytes(b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines))
    return path


def test_hostile_ecs_shapes_are_line_rejections_and_ecs_arrays_are_accepted(ctx: AppContext, tmp_path: Path) -> None:
    lines: list[str | bytes] = [
        GOOD % (1, 1),
        '{"@timestamp": "2026-11-23T01:00:00Z", "event": {"category": ["network", "web"]}, '
        '"source": {"ip": ["10.20.1.5", "::ffff:10.20.1.6"]}, "destination": {"ip": "93.184.216.34"}}',
        '{"@timestamp": "2026-11-23T01:00:00Z", "event": {"category": 5}}',
        "[" * 1000 + "]" * 1000,
        '{"a": ' * 1000 + "1" + "}" * 1000,
        '{"@timestamp": "2026-11-23T01:00:00Z", "event": {"duration": NaN}}',
        b'{"@timestamp": "2026-11-23T01:00:00Z", "user": {"name": "\xff\xfe"}}',
        '{"@timestamp": "2026-11-23T01:00:00Z", "source": {"ip": {"v": 4}}}',
        '{"@timestamp": "+999999-01-01T00:00:00Z"}',
        '{"@timestamp": "2026-11-23T01:00:00Z", "' + ".".join(["a"] * 2000) + '": 1}',  # dotted keys nest too
        GOOD % (2, 2),
    ]
    path = _file(tmp_path, "hostile.ndjson", lines)
    report = ingest_files(ctx.es, [path], segments=ctx.segments)
    reasons = {int(r.source.rsplit(":", 1)[1]): r.reason for r in report.rejected}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert reasons[10] == "nested deeper than 32 levels"
    assert reasons[3] == "event.category must be a string or a list of strings (ECS), got 5"
    assert reasons[4] == reasons[5] == "nested deeper than 32 levels"
    assert "NaN" in reasons[6]
    assert reasons[7].startswith("not valid utf-8 at byte 58 of the line")
    assert "source.ip must be an IP address or a list of them" in reasons[8]
    assert reasons[9].startswith("@timestamp:")
    assert report.indexed_total == 3 and report.files[str(path)].indexed == 3
    net = ctx.es.search(event_index(ctx.es, "network"), {"query": {"term": {"source.ip": "10.20.1.6"}}})
    (flow,) = [h["_source"] for h in net["hits"]["hits"]]
    assert flow["source"]["ip"] == ["10.20.1.5", "10.20.1.6"]  # an array, each address canonical
    assert flow["event"]["category"] == ["network", "web"]


def test_encoding_option_reads_what_utf8_rejects(ctx: AppContext, tmp_path: Path) -> None:
    line = (
        '{"@timestamp": "2026-11-23T01:00:00Z", "event": {"category": "authentication"}, '
        '"user": {"name": "鈴木"}, "source": {"ip": "10.0.0.1"}}'
    )
    path = _file(tmp_path, "sjis.ndjson", [line.encode("cp932")])
    assert len(ingest_files(ctx.es, [path], segments=ctx.segments).rejected) == 1  # never silently replaced
    report = ingest_files(ctx.es, [path], segments=ctx.segments, encoding="cp932")
    assert (report.indexed_total, report.rejected) == (1, [])
    (hit,) = ctx.es.search(event_index(ctx.es, "auth"), {"query": {"match_all": {}}})["hits"]["hits"]
    assert hit["_source"]["user"]["name"] == "鈴木"
    with pytest.raises(IngestError, match="unknown encoding"):
        ingest_files(ctx.es, [path], segments=ctx.segments, encoding="klingon")
    with pytest.raises(IngestError, match="'utf-16' is not read line by line"):
        ingest_files(ctx.es, [path], segments=ctx.segments, encoding="utf-16")


def test_a_repeated_event_id_with_other_content_is_a_conflict(ctx: AppContext, tmp_path: Path) -> None:
    one = (
        '{"@timestamp": "2026-11-23T01:00:00Z", "event": {"id": "e-1", "category": "authentication"}, '
        '"user": {"name": "%s"}, "source": {"ip": "10.0.0.1"}}'
    )
    path = _file(tmp_path, "dup.ndjson", [one % "a", one % "a", one % "b"])
    with RejectsFile(tmp_path / "rejects.ndjson") as sink:
        report = ingest_files(ctx.es, [path], segments=ctx.segments, sink=sink)
    (record,) = [json.loads(x) for x in (tmp_path / "rejects.ndjson").read_text(encoding="utf-8").splitlines()]
    assert (record["kind"], record["line"], record["text"]) == ("conflict", 3, one % "b")  # the line as read
    assert (report.indexed_total, report.already_present, len(report.conflicts)) == (1, 1, 1)
    assert report.conflicts[0].source == f"{path}:3" and "e-1" in report.conflicts[0].reason
    (hit,) = ctx.es.search(event_index(ctx.es, "auth"), {"query": {"match_all": {}}})["hits"]["hits"]
    assert hit["_source"]["user"]["name"] == "a"  # the first one is kept, not overwritten


def test_zeek_and_evtx_out_of_range_values_are_rejections(ctx: AppContext, tmp_path: Path) -> None:
    conn = (
        '{"ts": %s, "uid": "C%d", "id.orig_h": "10.0.0.1", "id.orig_p": 5000, "id.resp_h": "10.0.0.2", '
        '"id.resp_p": 445, "proto": "tcp", "conn_state": "S0", "duration": %s}'
    )
    zeek = _file(
        tmp_path,
        "conn.json",
        [
            conn % ("1795000000.5", 1, "1.5"),
            conn % ("1e300", 2, "1"),
            conn % ('"inf"', 3, "1"),
            conn % ('"nan"', 4, "1"),
            conn % ("1795000000.5", 5, "1e300"),
            conn % ('"-1e999"', 6, "1"),
            conn % ("1795000000.5", 7, "Infinity"),
        ],
    )
    evtx = _file(
        tmp_path,
        "evtx.jsonl",
        [
            '{"Event": {"System": {"EventID": 4625, "TimeCreated": {"#attributes": "2026-11-23T00:00:00Z"}}}}',
            '{"Event": {"System": {"EventID": 4625, '
            '"TimeCreated": {"#attributes": {"SystemTime": "2026-11-23T00:00:00Z"}}}, '
            '"EventData": {"Data": [{"#attributes": "TargetUserName", "#text": "x"}, "junk", 5]}}}',
        ],
    )
    report = ingest_files(ctx.es, [zeek, evtx], segments=ctx.segments, fmt="auto")
    reasons = {r.source: r.reason for r in report.rejected}
    assert set(reasons) == {f"{zeek}:{n}" for n in range(2, 8)} | {f"{evtx}:1"}
    assert "ts" in reasons[f"{zeek}:2"] and "out of range" in reasons[f"{zeek}:2"]
    assert "duration" in reasons[f"{zeek}:5"]
    assert "SystemTime is missing" in reasons[f"{evtx}:1"]
    assert report.indexed_total == 2  # the good flow, and the 4625 whose odd EventData items are ignored
    assert report.files[str(evtx)].incomplete == 1  # no user, no source: indexed and counted


def test_cli_rejects_file_lists_every_line_and_console_lists_the_first(
    cli: CliRunner, ctx: AppContext, tmp_path: Path
) -> None:
    bad = [f'{{"broken {i}' for i in range(30)]
    path = _file(tmp_path, "many.ndjson", [GOOD % (1, 1), *bad, b"\xff"])
    out = tmp_path / "rejects.ndjson"
    res = cli.invoke(app, ["ingest", str(path), "--rejects", str(out), "--show", "5"])
    assert res.exit_code == 2
    assert res.output.count(f"rejected: {path}:") == 5
    assert f"… and 26 more rejected (every one in {out})" in res.output.replace("\n", "")
    records = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 31 and {r["kind"] for r in records} == {"rejected"}
    assert records[0] == {
        "kind": "rejected",
        "file": str(path),
        "line": 2,
        "reason": "not valid JSON: Unterminated string starting at (column 2)",
        "text": '{"broken 0',
    }
    assert records[-1]["text"] == "\\xff" and records[-1]["line"] == 32

    again = cli.invoke(app, ["ingest", str(path), "--json"])
    summary = json.loads(again.stdout)
    assert (summary["indexed"], summary["already_present"], summary["rejected"]) == (0, 1, 31)
    assert summary["files"] == [
        {
            "file": str(path),
            "format": "ecs",
            "guessed": False,
            "read": 32,
            "indexed": 0,
            "already_present": 1,
            "skipped": 0,
            "rejected": 31,
            "conflicts": 0,
            "incomplete": 0,
        }
    ]


def test_dns_name_facts_are_computed_at_ingest_for_ecs(ctx: AppContext, tmp_path: Path) -> None:
    line = (
        '{"@timestamp": "2026-11-23T01:00:00Z", "event": {"category": "network"}, "source": {"ip": "10.0.0.1"}, '
        '"destination": {"ip": "10.0.0.53"}, "dns": {"question": {"name": "%s", "registered_domain": "wrong.example"}}}'
    )
    path = _file(tmp_path, "dns.ndjson", [line % "aGVsbG8.x9.evil.co.uk.", line % "www.city.kobe.lg.jp"])
    ingest_files(ctx.es, [path], segments=ctx.segments)
    hits = ctx.es.search(
        event_index(ctx.es, "network"), {"query": {"match_all": {}}, "sort": [{"soc.dns.name_length": "desc"}]}
    )
    first, second = (h["_source"] for h in hits["hits"]["hits"])
    assert first["dns"]["question"]["registered_domain"] == "evil.co.uk"  # the Public Suffix List decides
    assert first["dns"]["question"]["subdomain"] == "agvsbg8.x9"
    assert first["soc"]["dns"]["name_length"] == len("aghvbg8.x9.evil.co.uk")
    assert first["soc"]["dns"]["subdomain_entropy"] > 2.5
    assert second["dns"]["question"]["registered_domain"] == "kobe.lg.jp"
    # "www.city": w three times in 8 characters, then . c i t y once each
    entropy = -(3 / 8 * math.log2(3 / 8) + 5 / 8 * math.log2(1 / 8))
    assert second["soc"]["dns"] == {"name_length": 19, "subdomain_entropy": round(entropy, 4)}
    n = ctx.es.count(event_index(ctx.es, "network"), {"range": {"soc.dns.subdomain_entropy": {"gt": 2.5}}})
    assert n == 1  # mapped as a number: detectors can range over it
    mapping = ctx.es.client.indices.get_mapping(index=event_index(ctx.es, "network"))
    (props,) = (m["mappings"]["properties"] for m in mapping.body.values())
    assert props["soc"]["properties"]["dns"]["properties"] == {
        "name_length": {"type": "long"},
        "subdomain_entropy": {"type": "double"},
    }  # from the template, not guessed
    assert props["dns"]["properties"]["question"]["properties"]["subdomain"]["type"] == "keyword"


def test_incomplete_events_are_indexed_and_counted_per_file(ctx: AppContext, tmp_path: Path) -> None:
    auth = _file(
        tmp_path,
        "auth.log",
        [
            "Nov 23 09:00:00 web01 sshd[100]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
            "tty=ssh ruser= rhost=203.0.113.10",  # no user=
            "Nov 23 09:00:01 web01 sshd[101]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
            "tty=ssh ruser= rhost=  user=root",  # no rhost
            "Nov 23 09:00:02 web01 sshd[102]: Failed password for root from 203.0.113.10 port 22 ssh2",
        ],
    )
    flows = _file(
        tmp_path,
        "flows.ndjson",
        ['{"@timestamp": "2026-11-23T01:00:00Z", "event": {"category": "network"}, "source": {"ip": "10.0.0.1"}}'],
    )
    report = ingest_files(ctx.es, [auth, flows], segments=ctx.segments, fmt="auto")
    assert report.indexed_total == 4 and not report.rejected
    assert (report.files[str(auth)].incomplete, report.files[str(flows)].incomplete) == (2, 1)
    reasons = {r.source: r.reason for r in report.incomplete}
    assert reasons == {
        f"{auth}:1": "authentication event without user.name",
        f"{auth}:2": "authentication event without a source (source.ip or source.domain)",
        f"{flows}:1": "network event without a destination (destination.ip or destination.domain)",
    }
    assert report.files[str(auth)].format == "sshd" and report.files[str(auth)].guessed


def test_cli_shows_hostile_rejection_reasons_escaped(cli: CliRunner, ctx: AppContext, tmp_path: Path) -> None:
    evil = '{"@timestamp": "2026-11-23T01:00:00Z", "source": {"ip": "\\u001b]0;pwned\\u0007\\u202e"}}'
    path = _file(tmp_path, "evil\u202e.ndjson", [evil])
    res = cli.invoke(app, ["ingest", str(path)])
    assert res.exit_code == 2
    assert "\x1b" not in res.output and "\u202e" not in res.output  # shown, never obeyed
    assert "\\x1b]0;pwned\\x07\\u202e" in res.output and "rejected by Elasticsearch" in res.output


def _legacy_digest(doc: dict[str, Any]) -> str:
    """``soc.digest`` as soc wrote it before 2026-11-29: ``json.dumps`` of the content, hashed twice."""
    content = {k: v for k, v in doc.items() if k not in ("event", "soc")}
    content["event"] = {k: v for k, v in doc["event"].items() if k != "ingested"}
    inner = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return hashlib.sha256(inner.encode()).hexdigest()[:32]


def test_events_indexed_by_an_earlier_soc_are_already_present_not_conflicts(ctx: AppContext, tmp_path: Path) -> None:
    line = (
        '{"@timestamp": "2026-11-23T01:00:00.000Z", "event": {"id": "%s", "category": "authentication"}, '
        '"user": {"name": "%s"}, "source": {"ip": "10.0.0.1"}, "message": "ログオン失敗 \\u202e"}'
    )
    same_old, same_none, other = line % ("e-old", "a"), line % ("e-none", "b"), line % ("e-other", "c")
    ensure_ready(ctx.es)
    index = event_index(ctx.es, "auth")
    for text, digest in ((same_old, "legacy"), (same_none, None), (line % ("e-other", "d"), "legacy")):
        doc = prepare(json.loads(text), segments=ctx.segments)
        if digest == "legacy":
            doc.setdefault("soc", {})["digest"] = _legacy_digest(doc)  # the form an earlier soc stored
        assert ctx.es.create(index, doc["event"]["id"], doc)
    path = _file(tmp_path, "again.ndjson", [same_old, same_none, other])
    report = ingest_files(ctx.es, [path], segments=ctx.segments)
    assert (report.indexed_total, report.already_present, len(report.conflicts)) == (0, 2, 1)
    assert report.conflicts[0].source.endswith(":3")  # e-other says "c" here, "d" in the index


@pytest.mark.parametrize(
    "doc",
    [
        {"@timestamp": "2026-11-23T01:00:00Z", "source.ip": "::ffff:10.0.0.1", "event": {"category": "network"}},
        {"@timestamp": "2026-11-23T01:00:00Z", "source": {"geo.country_iso_code": "JP"}, "user": {"name": "A\\B"}},
        {"@timestamp": "2026-11-23T01:00:00Z", "a": [{"b.c": 1}], "message": "x" * 5000},
        {"@timestamp": "2026-11-23T01:00:00Z", "user": {"name": "u" * 1500}, "dns": {"question": {"name": "a.b.jp"}}},
        {"@timestamp": "2026-11-23T01:00:00Z", "note": 'a "key.like": value', "tags": ["t" * 1100]},
        {"@timestamp": "2026-11-23T01:00:00Z", "x": "\ud800", "user.name": "Lone"},
        {"@timestamp": "2026-11-23T01:00:00Z", "big": 2**70, "url.domain": "e.jp"},
        {"@timestamp": "2026-11-23T01:00:00Z", "user": {"name": "y" * 1000}, "host": {"name": "z" * 1000}},
        {"@timestamp": "2026-11-23T01:00:00Z", "user": {"name": 'q"' * 600}},
        {"@timestamp": "2026-11-23T01:00:00Z", "user": {"name": "İ" * 600}, "host": {"name": "\n" * 1100}},
    ],
)
def test_prepare_fast_path_gives_the_same_document_as_the_full_walk(
    doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    segments = SegmentMap([])
    now = datetime(2026, 11, 29, tzinfo=UTC)
    fast = prepare(copy.deepcopy(doc), segments=segments, now=now)
    monkeypatch.setattr(ingest_module, "_shape", lambda _doc: (True, True, True))
    assert fast == prepare(copy.deepcopy(doc), segments=segments, now=now)


def test_prepare_refuses_deep_nesting_reached_through_dotted_keys() -> None:
    deep = {"@timestamp": "2026-11-23T01:00:00Z", ".".join(["k"] * 40): 1}
    with pytest.raises(DocumentError, match="nested deeper than 32 levels"):
        prepare(deep, segments=SegmentMap([]))


def test_bulk_requests_are_cut_by_bytes_as_well_as_by_count() -> None:
    from soc.es.client import _chunks

    actions = [{"_id": str(i), "_source": b"x" * size} for i, size in enumerate([400, 400, 300, 900, 10, 10, 10])]
    sizes = [[a["_id"] for a in chunk] for chunk in _chunks(actions, 3, 1000)]
    assert sizes == [["0", "1", "2"], ["3", "4", "5"], ["6"]]  # cut at 3 actions (and at 1,100 bytes)
    assert [len(c) for c in _chunks(actions, 2000, 500)] == [2, 2, 3]  # cut where 500 bytes are reached
