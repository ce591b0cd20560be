"""Hostile strings from logs are data: shown escaped on the terminal and in every
notification, never breaking a mail header, never hiding an attacker from detection.

Against the real Elasticsearch node and a real SMTP server (aiosmtpd) on 127.0.0.1.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from soc.cli.common import json_line
from soc.cli.main import app
from soc.clock import ManualClock
from soc.context import AppContext
from soc.detection.loader import load_detectors
from soc.es.keywords import KEYWORD_LIMIT, bound_keywords, bounded
from soc.incidents.store import IncidentStore
from soc.notify.models import Notification, NotifySettings, OutboxDestination, SmtpDestination
from soc.notify.payloads import email_message, generic_payload, markdown, slack_payload, teams_payload, text_body
from soc.notify.service import Notifier
from soc.playbooks.loader import load_playbooks
from soc.runtime.csirt import CsirtDesk
from soc.runtime.pipeline import Pipeline
from soc.textsafe import header_value, markdown_text, slack_text, visible
from soc.vocab import Bilingual, Severity, iso
from tests.eventgen import auth_failure, index, spread
from tests.peers import Mailbox

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)

# clears the screen, retitles the window, hides text, reverses "gnp.exe", rich markup, CSI in C1
HOSTILE = "adm\x1b[2J\x1b]0;pwned\x07in\u202egnp.exe\u200b[bold red]x[/]\x9b31m"
RAW = ["\x1b", "\x07", "\u202e", "\u200b", "\x9b"]
SHOWN = ["\\x1b[2J", "\\x1b]0;pwned\\x07", "\\u202egnp.exe", "\\u200b", "\\x9b31m"]


# -- the one function -------------------------------------------------------------------
def test_visible_escapes_controls_bidi_and_invisibles_and_nothing_else() -> None:
    assert visible("山田 太郎 s.abe@city.example.lg.jp") == "山田 太郎 s.abe@city.example.lg.jp"
    assert visible("admin\u202egnp.exe") == "admin\\u202egnp.exe"
    assert visible("a\r\nb\tc") == "a\\x0d\\x0ab\\x09c"
    assert visible("a\nb\tc", multiline=True) == "a\nb\tc"
    assert visible("\u2066x\u2069\ufeff\u00ad\x7f\x85") == "\\u2066x\\u2069\\ufeff\\xad\\x7f\\x85"
    assert visible("\ud800") == "\\ud800"  # a lone surrogate cannot be written to a terminal
    # an attacker cannot fake one of our escapes: a literal backslash before x1b is doubled
    assert visible("\\x1b") == "\\\\x1b" and visible("\x1b") == "\\x1b"
    assert visible("C:\\Users\\abe") == "C:\\Users\\abe"


def test_json_output_keeps_the_data_and_escapes_what_a_terminal_would_obey() -> None:
    value = {"user": "adm\u202egnp.exe \x9b2J \U000e0041 \ud800 山田"}
    line = json_line(value)
    assert json.loads(line) == value
    assert line.isascii() is False and "山田" in line  # Japanese stays readable
    assert not any(ch in line for ch in ["\u202e", "\x9b", "\U000e0041", "\ud800"])


def test_markup_escapes_for_markdown_teams_and_slack() -> None:
    md = markdown_text("[x](javascript:alert(1)) <script>alert(1)</script> @here **b**")
    assert "](" not in md.replace("\\](", "").replace("\\(", "") and "<script>" not in md
    assert md.startswith("\\[x\\]\\(javascript:alert\\(1\\)\\)") and "&lt;script&gt;" in md
    assert "\\@here" in md and "\\*\\*b\\*\\*" in md
    assert markdown_text("1. item") == "1\\. item" and markdown_text("- item") == "\\- item"
    sl = slack_text("<!channel> <https://evil.example|click> @here a&b")
    assert "<" not in sl and ">" not in sl and "&lt;!channel&gt;" in sl and "a&amp;b" in sl
    assert "@here" not in sl
    assert header_value("Subject\r\nBcc: x@evil.example") == "Subject\\x0d\\x0aBcc: x@evil.example"
    assert len(header_value("x" * 5000)) <= 900


# -- notifications ----------------------------------------------------------------------
def _hostile_notification() -> Notification:
    return Notification(
        key="INC-20261123-ab12cd:opened",
        severity=Severity.high,
        incident_id="INC-20261123-ab12cd",
        subject=Bilingual(
            ja="不正ログイン victim\r\nBcc: attacker@evil.example\u202e",
            en="Login burst [x](javascript:alert(1)) <!channel> @here victim\r\nX-Evil: 1",
        ),
        body=Bilingual(
            ja=f"ユーザー {HOSTILE}\n<script>alert(1)</script>",
            en=f"user {HOSTILE}\n[click](javascript:alert(1)) <!here> @channel",
        ),
        link="https://soc.example.lg.jp/incidents/INC-20261123-ab12cd",
    )


def _no_raw(text: str) -> None:
    assert not any(ch in text for ch in [*RAW, "\r"]), repr(text)


def test_every_notification_format_shows_hostile_text_as_data(tmp_path: Path) -> None:
    n = _hostile_notification()
    body = text_body(n)
    _no_raw(body)
    assert "\\u202egnp.exe" in body and "\\x1b[2J" in body

    md = markdown(n)
    _no_raw(md)
    assert "](javascript" not in md and "<script>" not in md and "<!channel>" not in md
    assert "\\@here" in md and "\\@channel" in md
    assert "<https://soc.example.lg.jp/incidents/INC-20261123-ab12cd>" in md  # our own link stays a link

    card = json.dumps(teams_payload(n), ensure_ascii=False)
    _no_raw(json.loads(card)["summary"])
    texts = [b.get("text", "") for b in teams_payload(n)["attachments"][0]["content"]["body"]]
    for t in texts:
        _no_raw(t)
        assert "](javascript" not in t and "<script>" not in t
    slack = slack_payload(n)
    for t in [slack["text"], *(json.dumps(b, ensure_ascii=False) for b in slack["blocks"])]:
        assert "<!channel>" not in t and "<!here>" not in t and "<script>" not in t and "\u202e" not in t
    tricky = n.model_copy(update={"link": "https://soc.example.lg.jp/>[x](javascript:alert(1))"})
    assert "](javascript" not in markdown(tricky) and "<https://soc.example.lg.jp/>" not in markdown(tricky)
    generic = generic_payload(n)
    _no_raw(generic["subject"]["en"])
    _no_raw(generic["body"]["en"].replace("\n", ""))


def _smtp(port: int) -> SmtpDestination:
    return SmtpDestination.model_validate(
        {"kind": "smtp", "name": "mail", "host": "127.0.0.1", "port": port, "security": "none",
         "from": "soc@city.example.lg.jp", "to": ["csirt@city.example.lg.jp"], "timeout": 5}
    )  # fmt: skip


def test_a_crlf_user_name_cannot_silence_its_incident_mail(ctx: AppContext, mailbox: tuple[Mailbox, int]) -> None:
    """The attacker names the account 'victim\\r\\nBcc: …': the incident is opened, announced,
    and the mail arrives, with the name escaped on one header line and no extra header."""
    box, port = mailbox
    user = "victim\r\nBcc: attacker@evil.example\r\n\r\nfake body\u202e"
    index(
        ctx,
        [auth_failure(t, user, "203.0.113.50") for t in spread(T0 + timedelta(minutes=10), 40, timedelta(seconds=7))],
    )
    clock = ManualClock(T0 + timedelta(hours=1))
    live = AppContext(settings=ctx.settings, es=ctx.es, clock=clock)
    playbooks = load_playbooks(REPO / "playbooks")
    detectors = [d for d in load_detectors(REPO / "detectors") if d.id == "failed-login-burst"]
    result = Pipeline(live, playbooks=playbooks).backtest(detectors, T0, T0 + timedelta(hours=1))
    [incident_id] = result.incidents_opened
    incident = IncidentStore(ctx.es).get(incident_id)
    notifier = Notifier(
        gw=ctx.es, settings=NotifySettings(destinations=[_smtp(port)]), clock=clock, sleeper=lambda _s: None
    )
    [delivery] = CsirtDesk(live, playbooks=playbooks, notifier=notifier).announce([incident_id])
    assert delivery.status.value == "sent", delivery.last_error
    [envelope] = box.envelopes
    assert envelope.rcpt_tos == ["csirt@city.example.lg.jp"]  # no Bcc smuggled in
    [msg] = box.messages()
    assert msg["Bcc"] is None and len(msg.get_all("Subject") or []) == 1
    subject = str(msg["Subject"])
    assert incident_id in subject and "\r" not in subject and "\n" not in subject
    assert "victim\r\nBcc" in incident.title.en  # the title names the account...
    assert "victim\\x0d\\x0aBcc: attacker@evil.example" in subject  # ...shown escaped
    content = msg.get_content()
    assert "\u202e" not in content and "\r\n\r\nfake body" not in content


def test_outbox_files_are_escaped(ctx: AppContext, tmp_path: Path) -> None:
    outbox = OutboxDestination.model_validate({"kind": "outbox", "name": "outbox", "directory": tmp_path / "ob"})
    notifier = Notifier(
        gw=ctx.es, settings=NotifySettings(destinations=[outbox]), clock=ManualClock(T0), sleeper=lambda _s: None
    )
    [delivery] = notifier.notify(_hostile_notification())
    assert delivery.status.value == "sent"
    written = [p.read_text(encoding="utf-8") for p in (tmp_path / "ob").rglob("*") if p.is_file()]
    assert written
    for text in written:
        assert not any(ch in text for ch in RAW)
    assert any("](javascript" not in t and "\\u202egnp.exe" in t for t in written)


def test_email_message_never_raises_on_a_hostile_header() -> None:
    n = _hostile_notification()
    msg = email_message(
        n, sender="soc@city.example.lg.jp", to=["a@b.example"], message_id="<x@y>", date=T0
    )  # would raise ValueError without sanitising
    raw = msg.as_bytes()
    head = raw.split(b"\n\n", 1)[0]
    assert b"\nBcc:" not in head and b"\nX-Evil:" not in head


# -- the terminal ---------------------------------------------------------------------------
def _ndjson(path: Path, docs: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    return path


def _assert_shown_not_obeyed(output: str, *, exact: bool = True, expected: list[str] = SHOWN) -> None:
    assert not any(ch in output for ch in RAW), repr(output)
    if exact:  # outside tables (where a cell may wrap) every escape is there in one piece
        for shown in expected:
            assert shown in output, (shown, output)
        assert "[bold red]x[/]" in output  # rich markup from data is printed, not applied


def test_cli_shows_hostile_names_escaped(cli: CliRunner, ctx: AppContext, tmp_path: Path) -> None:
    times = spread(T0 + timedelta(minutes=10), 30, timedelta(seconds=9))
    events = _ndjson(tmp_path / "events.ndjson", [auth_failure(t, HOSTILE, "198.51.100.7") for t in times])
    assert cli.invoke(app, ["ingest", str(events)]).exit_code == 0

    # ingest lower-cases user.name as every format does ("\x1b[2J" becomes "\x1b[2j", still an escape)
    lowered = [s.lower() for s in SHOWN]
    detect = cli.invoke(app, ["detect", "--from", iso(T0), "--to", iso(T0 + timedelta(hours=1))])
    assert detect.exit_code == 0, detect.output
    _assert_shown_not_obeyed(detect.output, expected=lowered)

    listed = cli.invoke(app, ["alerts", "list"])
    assert listed.exit_code == 0 and "1 alert(s)" in listed.output
    _assert_shown_not_obeyed(listed.output, exact=False)
    as_json = cli.invoke(app, ["alerts", "list", "--json"])
    _assert_shown_not_obeyed(as_json.stdout, exact=False)
    [alert] = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert alert["entity"]["user.name"] == HOSTILE.lower()  # JSON carries the data exactly
    shown = cli.invoke(app, ["alerts", "show", alert["id"]])
    _assert_shown_not_obeyed(shown.output, expected=lowered)

    incidents = cli.invoke(app, ["incidents", "list"])
    assert incidents.exit_code == 0
    _assert_shown_not_obeyed(incidents.output, exact=False)
    shown_incident = cli.invoke(app, ["incidents", "show", alert["incident_id"]])
    assert shown_incident.exit_code == 0
    _assert_shown_not_obeyed(shown_incident.output, expected=lowered)
    status = cli.invoke(app, ["status"])
    _assert_shown_not_obeyed(status.output, exact=False)

    missing = cli.invoke(app, ["alerts", "show", "nope\x1b[2J\u202e"])
    assert missing.exit_code == 1
    assert "\x1b" not in missing.output and "\u202e" not in missing.output


# -- long keyword values ------------------------------------------------------------------------
def test_bounded_form_is_stable_distinct_and_indexable() -> None:
    a, b = "a" * 10_000, "a" * 9_999 + "b"
    assert bounded(a) == bounded(a) != bounded(b)
    assert len(bounded(a)) < KEYWORD_LIMIT and bounded(a).startswith("a" * 200)
    doc: dict[str, Any] = {"user": {"name": a}, "message": "m" * 5000, "related": {"user": ["x", b]}}
    bound_keywords(doc)
    assert doc["user"]["name"] == bounded(a) and doc["message"] == "m" * 5000
    assert doc["related"]["user"] == ["x", bounded(b)]
    assert doc["soc"]["long_values"] == {"user.name": a, "related.user": ["x", b]}  # nothing lost


def test_a_brute_force_by_a_10k_character_user_name_is_alerted(cli: CliRunner, ctx: AppContext, tmp_path: Path) -> None:
    long_a, long_b = "a" * 10_000, "a" * 9_999 + "b"  # same 1,024-character prefix, two accounts
    times = spread(T0 + timedelta(minutes=10), 30, timedelta(seconds=9))
    docs = [auth_failure(t, user, "198.51.100.9") for user in (long_a, long_b) for t in times]
    assert cli.invoke(app, ["ingest", str(_ndjson(tmp_path / "long.ndjson", docs))]).exit_code == 0
    res = cli.invoke(app, ["detect", "--from", iso(T0), "--to", iso(T0 + timedelta(hours=1)), "--json"])
    assert res.exit_code == 0, res.output
    alerts = [json.loads(line) for line in res.stdout.splitlines()]
    burst = sorted((a for a in alerts if a["detector"] == "failed-login-burst"), key=lambda a: a["entity"]["user.name"])
    assert [a["entity"]["user.name"] for a in burst] == sorted([bounded(long_a), bounded(long_b)])
    assert all(a["count"] == 30 for a in burst)
    # the whole name is kept with the events
    hits = ctx.es.search(
        f"{ctx.settings.index_prefix}-events-*", {"size": 1, "query": {"term": {"user.name": bounded(long_a)}}}
    )
    [hit] = hits["hits"]["hits"]
    assert hit["_source"]["soc"]["long_values"]["user.name"] == long_a
    assert re.fullmatch(r"a{256}…#[0-9a-f]{16}\(10000 chars\)", bounded(long_a))


# -- log injection through a user name ------------------------------------------------------------
def test_a_user_name_holding_from_and_port_cannot_move_the_attack_to_another_address(
    cli: CliRunner, ctx: AppContext, tmp_path: Path
) -> None:
    """sshd logs the name the client sent, spaces and all: a guesser on 203.0.113.7 trying
    "x from 10.0.0.5 port 22 ssh2" must be seen on 203.0.113.7 (sshd's own, last "from … port"),
    never on the internal 10.0.0.5 it names; PAM's "user=" (last, the client's) cannot bring a
    second "rhost=" either."""
    fake = "10.0.0.5"
    lines = [
        f"Nov 23 09:{m:02d}:{s:02d} web1 sshd[{100 + m}]: Failed password for invalid user "
        f"x from {fake} port 22 ssh2 from 203.0.113.7 port {40000 + s} ssh2"
        for m in range(10, 12)
        for s in range(0, 60, 5)
    ] + [
        f"Nov 23 09:20:{s:02d} web1 sshd[{300 + s}]: pam_unix(sshd:auth): authentication failure; logname= uid=0 "
        f"euid=0 tty=ssh ruser= rhost=203.0.113.7  user=x rhost={fake}"
        for s in range(0, 60, 10)
    ]
    log = tmp_path / "auth.log"
    log.write_text("\n".join(lines) + "\n")
    res = cli.invoke(app, ["ingest", "--format", "sshd", str(log)])
    assert res.exit_code == 0, res.output
    ctx.es.refresh(f"{ctx.settings.index_prefix}-events-*")
    found = ctx.es.search(
        f"{ctx.settings.index_prefix}-events-*",
        {"size": 0, "aggs": {"ip": {"terms": {"field": "source.ip"}}, "user": {"terms": {"field": "user.name"}}}},
    )
    assert [b["key"] for b in found["aggregations"]["ip"]["buckets"]] == ["203.0.113.7"]
    assert {b["key"] for b in found["aggregations"]["user"]["buckets"]} == {"x", f"x from {fake} port 22 ssh2"}
