"""Hostile-input fuzzer (issue 10 §5): ≥ 10,000 generated lines per format, fixed seed.

Each file mixes valid lines (with hostile but legal content: control characters, bidi
overrides, 10,000-character names, Japanese) and broken ones of every shape users meet
(undecodable bytes, JSON nested 1,000 deep, NaN, truncated records, out-of-range numbers,
odd shapes, over-long lines). Through the real ingest path into the real node: no
exception, every valid line indexed exactly once, every broken line reported by its number.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from soc.context import AppContext
from soc.es.indices import event_index
from soc.es.ingest import ingest_files
from soc.parsers.formats import MAX_LINE

SEED = 20261129
LINES = 10_000
Line = str | bytes

HOSTILE_NAMES = [
    "t.suzuki",
    "鈴木太郎",
    "admin\u202egnp.exe",  # bidi override
    "ro\u200bot",  # zero-width space
    "\x1b[2Jclear",  # terminal escape
    "x" * 10_000,
    'quote"back\\slash',
    "tab\tname",
    "nul\x00byte",
    "line\u2028sep",
]


def _ip(rng: random.Random) -> str:
    return rng.choice([f"10.20.{rng.randrange(256)}.{rng.randrange(1, 255)}", f"2001:db8::{rng.randrange(1, 65535):x}"])


def _nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def _common_bad(rng: random.Random, valid: str) -> Line:
    """Broken in a way every JSON format shares."""
    shape = rng.randrange(201) // 40  # 0-4 alike; 5 (a line over 1 MiB) once in 201
    if shape == 0:
        return valid.encode()[: rng.randrange(1, 20)] + b"\xff\xfe\x80" + valid.encode()[20:]  # not UTF-8
    if shape == 1:
        return _nested(rng.choice([40, 1000, 5000]))
    if shape == 2:
        return valid[: rng.randrange(1, len(valid) - 1)]  # a truncated object is never valid JSON
    if shape == 3:
        return valid[:-1] + ', "n": NaN}'
    if shape == 4:
        return json.dumps([json.loads(valid)])  # an array, not an object
    return valid.replace("{", "{" + '"pad": "' + "x" * (MAX_LINE + 10) + '", ', 1)  # over the line limit


# -- generators: (line, valid) ------------------------------------------------------------------
def ecs_line(rng: random.Random, i: int, good: bool) -> Line:
    doc = {
        "@timestamp": f"2026-11-{rng.randrange(1, 29):02d}T{rng.randrange(24):02d}:00:00Z",
        "event": {"category": rng.choice([["authentication"], "network", ["network", "web"]]), "outcome": "failure"},
        "user": {"name": rng.choice(HOSTILE_NAMES)},
        "source": {"ip": _ip(rng) if rng.random() < 0.8 else [_ip(rng), _ip(rng)]},  # ECS allows arrays
        "destination": {"ip": _ip(rng)},
        "labels": {"n": str(i)},
    }
    valid = json.dumps(doc, ensure_ascii=rng.random() < 0.5)
    if good:
        return valid
    bad = rng.randrange(5)
    if bad == 0:
        doc["event"]["category"] = rng.choice([5, {"a": 1}, [1, 2]])  # type: ignore[index]
    elif bad == 1:
        del doc["@timestamp"]
    elif bad == 2:
        doc["@timestamp"] = rng.choice(["yesterday", "2026-11-23T10:00:00", "+99999-01-01T00:00:00Z"])
    elif bad == 3:
        doc["source"] = {"ip": {"v": 4}}
    else:
        return _common_bad(rng, valid)
    return json.dumps(doc)


def sshd_line(rng: random.Random, i: int, good: bool) -> Line:
    user = rng.choice(HOSTILE_NAMES).replace("\n", " ")
    head = f"Nov {rng.randrange(1, 29):2d} {rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
    valid = (
        f"{head} web{i % 7} sshd[{i}]: Failed password for {user} from {_ip(rng)} port {rng.randrange(1, 65535)} ssh2"
    )
    if good:
        return valid
    bad = rng.randrange(6)
    if bad == 0:
        return valid.encode()[:30] + b"\xc3\x28" + valid.encode()[30:]
    if bad == 1:
        return "~" + "".join(chr(rng.randrange(32, 0x3000)) for _ in range(rng.randrange(1, 200)))
    if bad == 2:
        return valid.replace("Nov", "Feb", 1).replace(head[4:6], "30", 1)  # 30 February
    if bad == 3:
        return f"{head} web1 sshd[{i}]: Failed password for root from 999.{i % 256}.1.1 port 22 ssh2"
    if bad == 4:
        return f"{head} web1 sshd[{i}]: Failed password for root from 10.0.0.1 port {70000 + i} ssh2"
    message = "Failed password for root from 10.0.0.1 port 22 ssh2"
    return f"{head} web1 sshd[{i}]: message repeated {10**9 + i} times: [ {message}]"


def windows_line(rng: random.Random, i: int, good: bool) -> Line:
    user = rng.choice(HOSTILE_NAMES)
    data = {"TargetUserName": user, "TargetDomainName": "CITY", "Status": "0xc000006d", "LogonType": "3",
            "IpAddress": f"::ffff:{_ip(rng)}" if rng.random() < 0.3 else _ip(rng), "IpPort": "50123",
            "WorkstationName": f"PC-{i:05d}"}  # fmt: skip
    shape = rng.randrange(4)
    if shape == 3:  # Event XML, one <Event> per line (XML 1.0 allows no C0 controls: those names are JSON-only)
        data["TargetUserName"] = rng.choice([n for n in HOSTILE_NAMES if n.isprintable() or "\t" in n])
        items = "".join(f'<Data Name="{k}">{escape(v)}</Data>' for k, v in data.items())
        valid = (
            '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><EventID>4625</EventID>'
            f'<TimeCreated SystemTime="2026-11-23T00:30:00.1234567Z" /><EventRecordID>{i}</EventRecordID>'
            f"<Computer>DC04.city.local</Computer></System><EventData>{items}</EventData></Event>"
        )
        if good:
            return valid
        return rng.choice(
            [valid[: rng.randrange(1, len(valid) - 1)], "<!DOCTYPE x>" + valid, valid.encode()[:50] + b"\xff"]
        )
    if shape == 0:
        obj: dict[str, object] = {
            "@timestamp": "2026-11-23T00:10:00.123Z",
            "host": {"name": "dc01.city.local"},
            "winlog": {"event_id": "4625", "computer_name": "DC01.city.local", "record_id": i, "event_data": data},
        }
    elif shape == 1:
        obj = {
            "Event": {
                "System": {"EventID": 4625, "EventRecordID": i, "Computer": "DC02.city.local",
                           "TimeCreated": {"#attributes": {"SystemTime": "2026-11-23T00:20:00.654321Z"}}},
                "EventData": data,
            }
        }  # fmt: skip
    else:
        obj = {"EventTime": "2026-11-23 09:10:00", "Hostname": "DC03", "EventID": 4625, "RecordNumber": i, **data}
    valid = json.dumps(obj, ensure_ascii=rng.random() < 0.5)
    if good:
        return valid
    bad = rng.randrange(5)
    if bad == 0:
        return valid.replace('"4625"', '"abc"').replace(": 4625", ': "abc"')
    if bad == 1:
        return json.dumps({"Event": {"System": {"EventID": 4625, "TimeCreated": {"#attributes": "2026-11-23"}}}})
    if bad == 2:
        return json.dumps({"Event": rng.choice(["x", [], 5]), "n": i})
    if bad == 3:
        return json.dumps({"EventID": 4625, "EventTime": "garbage", "n": i})
    return _common_bad(rng, valid)


def zeek_line(rng: random.Random, i: int, good: bool) -> Line:
    row: dict[str, object] = {
        "ts": 1795000000 + i + rng.random(),
        "uid": f"C{i:08d}",
        "id.orig_h": _ip(rng),
        "id.orig_p": rng.randrange(1024, 65535),
        "id.resp_h": _ip(rng),
        "id.resp_p": rng.choice([22, 53, 443, 445, 3389]),
        "proto": "tcp",
        "conn_state": rng.choice(["SF", "S0", "REJ", "OTH"]),
        "duration": rng.random() * 100,
        "orig_bytes": rng.randrange(10**6),
        "resp_bytes": rng.randrange(10**6),
    }
    if rng.random() < 0.3:  # exporters that cannot write dots in names
        row = {k.replace("id.", "id_"): v for k, v in row.items()}
    valid = json.dumps(row)
    if good:
        return valid
    bad = rng.randrange(6)
    if bad == 0:
        return valid.replace(
            f'"ts": {row["ts"]}', rng.choice(['"ts": 1e300', '"ts": "inf"', '"ts": "nan"', '"ts": -1'])
        )
    if bad == 1:
        return valid.replace(f'"duration": {row["duration"]}', rng.choice(['"duration": 1e300', '"duration": "-inf"']))
    if bad == 2:
        return valid.replace('"orig_bytes": ', '"orig_bytes": 1e30, "x": ')
    if bad == 3:
        key = "id.orig_p" if "id.orig_p" in row else "id_orig_p"
        return valid.replace(f'"{key}": {row[key]}', f'"{key}": -5')
    if bad == 4:
        key = "id.resp_h" if "id.resp_h" in row else "id_resp_h"
        return valid.replace(f'"{key}": "{row[key]}"', f'"{key}": "999.0.0.{i % 256}"')
    return _common_bad(rng, valid)


# -- key=value and syslog formats: FortiGate, CEF, netfilter ------------------------------------
# names a key=value record can carry (a quote or "=" would end the value: another record)
KV_NAMES = [n for n in HOSTILE_NAMES if not set(n) & set('"=\\\t\x00')]


def _line_bad(rng: random.Random, valid: str) -> Line | None:
    """Broken in a way every line format shares (None: pick a format's own)."""
    shape = rng.randrange(101)
    if shape < 15:
        return valid.encode()[:25] + b"\xff\xfe\x80" + valid.encode()[25:]  # not UTF-8
    if shape == 100:
        return valid + " x=" + "y" * (MAX_LINE + 10)  # over the line limit
    return None


def _kv_pick(rng: random.Random, good: bool, valid: str, shapes: list[Callable[[], Line]]) -> Line:
    """*valid* when good, else one broken shape: a shared one now and then, else the format's own."""
    if good:
        return valid
    common = _line_bad(rng, valid)
    return common if common is not None else rng.choice(shapes)()


def fortigate_line(rng: random.Random, i: int, good: bool) -> Line:
    day, clock = rng.randrange(1, 29), f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
    valid = (
        f'date=2026-11-{day:02d} time={clock} devname="FGT-{i % 3}" logid="0000000013" type="traffic" '
        f'subtype="forward" level="notice" vd="root" srcip={_ip(rng)} srcport={rng.randrange(1024, 65535)} '
        f"dstip={_ip(rng)} dstport={rng.choice([22, 443, 3389])} sessionid={i} proto=6 "
        f'action="{rng.choice(["deny", "close", "accept"])}" policyid=8 service="HTTPS" '
        f"sentbyte={rng.randrange(10**6)} rcvdbyte={rng.randrange(10**6)} duration={rng.randrange(600)} "
        f'user="{rng.choice(KV_NAMES)}"'
    )
    noise = "".join(chr(rng.randrange(32, 0x3000)) for _ in range(rng.randrange(1, 200))).replace("=", "")
    return _kv_pick(
        rng,
        good,
        valid,
        [
            lambda: valid.replace(" srcport=", f" srcport={70000 + i} x=", 1),
            lambda: valid.replace(f"date=2026-11-{day:02d}", "date=2026-02-30", 1),
            lambda: valid.replace(" sentbyte=", " sentbyte=1e300 x=", 1),
            lambda: f"{valid} eventtime={'9' * rng.randrange(25, 60)}",  # past any clock: OverflowError inside
            lambda: "~" + noise,
        ],
    )


def cef_line(rng: random.Random, i: int, good: bool) -> Line:
    rt = 1795000000000 + i * 1000
    valid = (
        f"Nov 20 10:19:23 fw{i % 3} CEF:0|Vendor|UTM|1.0|100|blocked|{rng.randrange(11)}|rt={rt} src={_ip(rng)} "
        f"spt={rng.randrange(1024, 65535)} dst={_ip(rng)} dpt={rng.choice([22, 443])} suser={rng.choice(KV_NAMES)} "
        f"act={rng.choice(['blocked', 'allowed'])}"
    )
    return _kv_pick(
        rng,
        good,
        valid,
        [
            lambda: valid.replace(" src=", f" src=999.{i % 256}.1.1 x=", 1),
            lambda: valid.replace(" spt=", f" spt={70000 + i} x=", 1),
            lambda: valid.replace(f"rt={rt}", f"rt={'9' * rng.randrange(25, 60)}", 1),  # OverflowError inside
            lambda: valid.replace(f"rt={rt}", "rt=yesterday", 1),
            lambda: f"Nov 20 10:19:23 fw1 CEF:0|Vendor|UTM|{i}",  # a header of 4 fields, not 7
        ],
    )


def iptables_line(rng: random.Random, i: int, good: bool) -> Line:
    ip6 = rng.random() < 0.2
    src = f"2001:db8::{rng.randrange(1, 65535):x}" if ip6 else f"198.51.100.{rng.randrange(1, 255)}"
    dst = "2001:db8::1" if ip6 else "10.1.2.3"
    head = f"Nov {rng.randrange(1, 29):2d} {rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
    valid = (
        f"{head} fw1 kernel: [{i}.5] [UFW {rng.choice(['BLOCK', 'ALLOW'])}] IN=eth0 OUT= MAC=aa SRC={src} DST={dst} "
        f"LEN=44 TOS=0x00 PREC=0x00 TTL=43 ID={i} PROTO=TCP SPT={rng.randrange(1024, 65535)} "
        f"DPT={rng.choice([22, 80, 445])} WINDOW=1024 RES=0x00 SYN URGP=0"
    )
    return _kv_pick(
        rng,
        good,
        valid,
        [
            lambda: valid.replace(f"SRC={src}", f"SRC=999.{i % 256}.1.1", 1),
            lambda: valid.replace(" SPT=", f" SPT={70000 + i} X=", 1),
            lambda: valid.replace(" DPT=", f" DPT={'9' * 30} X=", 1),
            lambda: valid.replace(head[:6], "Feb 30", 1),
        ],
    )


GENERATORS: dict[str, Callable[[random.Random, int, bool], Line]] = {
    "ecs": ecs_line,
    "sshd": sshd_line,
    "windows-json": windows_line,
    "zeek": zeek_line,
    "fortigate": fortigate_line,
    "cef": cef_line,
    "iptables": iptables_line,
}


def _write(path: Path, fmt: str) -> tuple[set[int], set[int]]:
    """Write LINES lines; return (valid line numbers, broken line numbers)."""
    rng = random.Random(f"{SEED}-{fmt}")
    good_lines: set[int] = set()
    bad_lines: set[int] = set()
    with path.open("wb") as fh:
        for lineno in range(1, LINES + 1):
            good = rng.random() < 0.6
            line = GENERATORS[fmt](rng, lineno, good)
            fh.write((line if isinstance(line, bytes) else line.encode()) + b"\n")
            (good_lines if good else bad_lines).add(lineno)
    return good_lines, bad_lines


@pytest.mark.parametrize("fmt", list(GENERATORS))
def test_fuzzed_file_every_valid_line_indexed_once_every_bad_line_reported(
    ctx: AppContext, tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"fuzz-{fmt}.log"
    good, bad = _write(path, fmt)
    assert len(good) + len(bad) == LINES and len(bad) > 3_000

    report = ingest_files(ctx.es, [path], segments=ctx.segments, fmt=fmt)  # no exception, whatever the input

    rejected = {int(r.source.rsplit(":", 1)[1]) for r in report.rejected}
    assert rejected == bad, sorted(rejected ^ bad)[:10]
    assert len(report.rejected) == len(bad)  # one reason per broken line
    assert all(r.reason and "Traceback" not in r.reason for r in report.rejected)
    assert report.indexed_total == len(good) and report.skipped == 0 and not report.conflicts
    (fr,) = report.files.values()
    assert fr.read == fr.indexed + fr.already_present + fr.skipped + fr.rejected + fr.conflicts == LINES
    stored = sum(ctx.es.count(event_index(ctx.es, ds)) for ds in ("auth", "network", "other"))
    assert stored == len(good)

    again = ingest_files(ctx.es, [path], segments=ctx.segments, fmt=fmt)  # a re-ingest adds nothing
    assert (again.indexed_total, again.already_present, len(again.rejected)) == (0, len(good), len(bad))
