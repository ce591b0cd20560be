"""Notification layer against real peers on 127.0.0.1: an SMTP server (aiosmtpd), an HTTP
receiver (http.server) and the real Elasticsearch node for the delivery records."""

from __future__ import annotations

import json
import logging
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from soc.clock import ManualClock
from soc.config import load_settings
from soc.context import AppContext
from soc.es.indices import deliveries_index, install_templates
from soc.notify.models import (
    Delivery,
    DeliveryStatus,
    Notification,
    NotifySettings,
    OutboxDestination,
    SmtpDestination,
    WebhookDestination,
    delivery_id,
    notification_key,
    routes_to,
    scrub,
)
from soc.notify.payloads import email_message, slack_payload, teams_payload
from soc.notify.service import Notifier
from soc.vocab import Bilingual, Severity
from tests.peers import Mailbox, free_port, self_signed_cert

NOW = datetime(2026, 11, 18, 1, 0, tzinfo=UTC)


def _notification(key: str = "INC-20261118-ab12cd:step:contain:breach", **kw: Any) -> Notification:
    fields: dict[str, Any] = {
        "key": key,
        "severity": Severity.high,
        "incident_id": "INC-20261118-ab12cd",
        "subject": Bilingual(ja="封じ込め手順の期限超過", en="Containment step overdue"),
        "body": Bilingual(
            ja="LGWAN接続系の端末で不審なログオンが続いています。封じ込めの判断をお願いします。",
            en="Suspicious logons continue on an LGWAN host. A containment decision is needed.",
        ),
        "link": "https://soc.example.lg.jp/incidents/INC-20261118-ab12cd",
        "roles": ("csirt-lead",),
    }
    return Notification(**(fields | kw))


# -- peers ----------------------------------------------------------------------


class SmtpPeer:
    def __init__(self, controller: Controller, sink: Mailbox) -> None:
        self.controller = controller
        self.sink = sink
        self.port = int(controller.port)


@pytest.fixture
def smtp() -> Iterator[SmtpPeer]:
    sink = Mailbox()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield SmtpPeer(controller, sink)
    controller.stop()


USER, PASSWORD = "csirt-bot", "pw-S3CRET-smtp"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself


@pytest.fixture
def smtp_auth() -> Iterator[SmtpPeer]:
    sink = Mailbox()
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=_authenticator,
        auth_required=True,
        auth_require_tls=False,  # loopback only
    )
    controller.start()
    yield SmtpPeer(controller, sink)
    controller.stop()


class Receiver:
    """An HTTP server that records every POST and answers the scripted statuses (then 200)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: deque[int] = deque()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
                status = receiver.statuses.popleft() if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


# -- helpers ---------------------------------------------------------------------
@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def sleeps() -> list[float]:
    return []


def _smtp(peer: SmtpPeer, **kw: Any) -> SmtpDestination:
    fields: dict[str, Any] = {
        "kind": "smtp",
        "name": "mail",
        "host": "127.0.0.1",
        "port": peer.port,
        "security": "none",
        "from": "soc@city.example.lg.jp",
        "to": ["csirt@city.example.lg.jp", "ciso@city.example.lg.jp"],
        "timeout": 5,
    }
    return SmtpDestination.model_validate(fields | kw)


def _hook(url: str, **kw: Any) -> WebhookDestination:
    return WebhookDestination.model_validate({"kind": "webhook", "name": "hook", "url": url, "timeout": 5} | kw)


def _outbox(tmp_path: Path, **kw: Any) -> OutboxDestination:
    return OutboxDestination.model_validate({"kind": "outbox", "name": "outbox", "directory": tmp_path / "ob"} | kw)


def _notifier(ctx: AppContext, clock: ManualClock, sleeps: list[float], *destinations: Any, **policy: Any) -> Notifier:
    settings = NotifySettings(destinations=list(destinations), **policy)
    return Notifier(gw=ctx.es, settings=settings, clock=clock, sleeper=sleeps.append)


def _records(ctx: AppContext) -> list[dict[str, Any]]:
    index = deliveries_index(ctx.es)
    ctx.es.refresh(index)
    return [h["_source"] for h in ctx.es.search(index, {"size": 100})["hits"]["hits"]]


def _by_name(deliveries: list[Delivery]) -> dict[str, Delivery]:
    return {d.destination: d for d in deliveries}


# -- pure --------------------------------------------------------------------------
def test_payloads_are_bilingual_and_well_formed() -> None:
    n = _notification(body=Bilingual(ja="<b>危険</b> & 対応", en="a < b & c"))
    slack = slack_payload(n)
    assert "封じ込め手順の期限超過" in slack["text"] and "Containment step overdue" in slack["text"]
    assert slack["blocks"][0]["type"] == "header"
    assert slack["blocks"][1]["text"]["text"] == "&lt;b&gt;危険&lt;/b&gt; &amp; 対応"
    assert slack["blocks"][-1]["elements"][0]["url"] == n.link
    teams = teams_payload(n)
    card = teams["attachments"][0]["content"]
    assert teams["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["type"] == "AdaptiveCard" and card["actions"][0]["url"] == n.link
    texts = [b.get("text") for b in card["body"]]
    assert "封じ込め手順の期限超過" in texts and "Containment step overdue" in texts
    raw = email_message(n, sender="a@example.org", to=["b@example.org"], message_id="<x@y>", date=NOW).as_bytes()
    assert raw.isascii()  # subject RFC 2047-encoded, body base64: safe through any relay
    assert b"=?utf-8?" in raw


def test_routing_by_severity_and_role(tmp_path: Path) -> None:
    everyone = _outbox(tmp_path, name="all")
    high = _outbox(tmp_path, name="high", min_severity="high")
    ciso = _outbox(tmp_path, name="ciso", roles=["ciso"])
    low = _notification(severity=Severity.low, roles=())
    assert [d.name for d in (everyone, high, ciso) if routes_to(d, low)] == ["all"]
    crit = _notification(severity=Severity.critical, roles=("ciso",))
    assert [d.name for d in (everyone, high, ciso) if routes_to(d, crit)] == ["all", "high", "ciso"]
    assert delivery_id(crit.key, "all") != delivery_id(crit.key, "high")
    assert notification_key("INC-1", "step", "contain") == "INC-1:step:contain"


def test_destination_validation_refuses_unsafe_configs() -> None:
    with pytest.raises(ValueError, match="unencrypted"):
        SmtpDestination.model_validate(
            {"kind": "smtp", "name": "m", "host": "mail.example", "security": "none", "from": "a@b.c", "to": ["x@y.z"]}
            | {"username": "u", "password": "p"}
        )
    with pytest.raises(ValueError, match="plain http"):
        _hook("http://hooks.example.com/x")
    with pytest.raises(ValueError, match="unique"):
        NotifySettings(destinations=[_hook("https://a.example/x"), _hook("https://b.example/y")])


def test_scrub_masks_secrets_and_query_strings() -> None:
    d = _hook("https://hooks.example.com/workflows/ABCDEF123456?sig=QQQ&sv=1", headers={"X-Key": "hdr-secret"})
    text = scrub("failed https://hooks.example.com/workflows/ABCDEF123456?sig=QQQ&sv=1 key hdr-secret", d.secrets())
    assert "ABCDEF123456" not in text and "QQQ" not in text and "hdr-secret" not in text
    assert "ABCDEF" not in d.display and d.display.startswith("webhook/generic https://hooks.example.com")
    assert scrub("see http://x.example/a?token=abc", []) == "see http://x.example/a?****"


# -- SMTP ----------------------------------------------------------------------------
def test_smtp_delivers_bilingual_message(ctx: AppContext, smtp: SmtpPeer, clock: ManualClock) -> None:
    notifier = _notifier(ctx, clock, [], _smtp(smtp))
    [delivery] = notifier.notify(_notification())
    assert delivery.status is DeliveryStatus.sent and delivery.attempts == 1
    [envelope] = smtp.sink.envelopes
    assert envelope.mail_from == "soc@city.example.lg.jp"
    assert envelope.rcpt_tos == ["csirt@city.example.lg.jp", "ciso@city.example.lg.jp"]
    raw = envelope.original_content
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n", 1)[0]  # Japanese subject encoded, not raw 8-bit
    [msg] = smtp.sink.messages()
    assert msg["Subject"] == "[高/high] 封じ込め手順の期限超過 / Containment step overdue"
    assert msg["Message-ID"] == f"<{delivery.id[:32]}@soc.notify>"
    body = msg.get_content()
    assert "不審なログオン" in body and "Suspicious logons continue" in body
    assert body.index("不審なログオン") < body.index("Suspicious logons")
    assert "INC-20261118-ab12cd" in body


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_login(ctx: AppContext, smtp_auth: SmtpPeer, clock: ManualClock, sleeps: list[float]) -> None:
    good = _smtp(smtp_auth, name="good", username=USER, password=PASSWORD, allow_plaintext_auth=True)
    bad = _smtp(smtp_auth, name="bad", username=USER, password="wrong-S3CRET", allow_plaintext_auth=True)
    anonymous = _smtp(smtp_auth, name="anonymous")
    result = _by_name(_notifier(ctx, clock, sleeps, good, bad, anonymous).notify(_notification()))
    assert result["good"].status is DeliveryStatus.sent
    assert len(smtp_auth.sink.envelopes) == 1
    # a refused login is not retried at once (it cannot get better), but later by retry_pending
    assert result["bad"].status is DeliveryStatus.failed and result["bad"].attempts == 1
    assert "authentication refused (SMTP 535)" in (result["bad"].last_error or "")
    assert "wrong-S3CRET" not in (result["bad"].last_error or "")
    assert result["bad"].next_attempt_at == NOW + timedelta(minutes=1)
    assert result["anonymous"].status is DeliveryStatus.failed
    assert "530" in (result["anonymous"].last_error or "")  # authentication required


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_starttls_verifies_the_certificate(
    ctx: AppContext, clock: ManualClock, sleeps: list[float], tmp_path: Path
) -> None:
    import ssl

    try:
        cert, key = self_signed_cert(tmp_path)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("openssl cannot make a test certificate here")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    sink = Mailbox()
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=server_tls,
        require_starttls=True,
        authenticator=_authenticator,
        auth_required=True,
    )
    controller.start()
    try:
        peer = SmtpPeer(controller, sink)
        trusted = _smtp(peer, name="trusted", security="starttls", ca_file=cert, username=USER, password=PASSWORD)
        untrusted = _smtp(peer, name="untrusted", security="starttls", username=USER, password=PASSWORD)
        result = _by_name(_notifier(ctx, clock, sleeps, trusted, untrusted).notify(_notification()))
    finally:
        controller.stop()
    assert result["trusted"].status is DeliveryStatus.sent
    assert result["untrusted"].status is DeliveryStatus.failed
    assert "CERTIFICATE_VERIFY_FAILED" in (result["untrusted"].last_error or "")
    assert len(sink.envelopes) == 1


# -- webhooks ----------------------------------------------------------------------------
def test_webhook_formats(ctx: AppContext, receiver: Receiver, clock: ManualClock) -> None:
    destinations = [
        _hook(f"{receiver.base}/generic", name="generic", headers={"Authorization": "Bearer tok"}),
        _hook(f"{receiver.base}/teams", name="teams", format="teams"),
        _hook(f"{receiver.base}/slack", name="slack", format="slack"),
    ]
    result = _notifier(ctx, clock, [], *destinations).notify(_notification())
    assert [d.status for d in result] == [DeliveryStatus.sent] * 3
    got = {r["path"]: r for r in receiver.requests}
    generic = got["/generic"]
    assert generic["headers"]["Authorization"] == "Bearer tok"
    assert generic["headers"]["Content-Type"] == "application/json; charset=utf-8"
    assert generic["json"]["schema"] == "soc.notification/1"
    assert generic["json"]["subject"] == {"ja": "封じ込め手順の期限超過", "en": "Containment step overdue"}
    assert generic["json"]["incident_id"] == "INC-20261118-ab12cd" and generic["json"]["severity"] == "high"
    assert got["/teams"]["json"]["attachments"][0]["content"]["type"] == "AdaptiveCard"
    assert "blocks" in got["/slack"]["json"] and "封じ込め" in got["/slack"]["json"]["text"]


def test_webhook_500_twice_then_200_is_retried(
    ctx: AppContext, receiver: Receiver, clock: ManualClock, sleeps: list[float]
) -> None:
    receiver.statuses.extend([500, 500])
    [delivery] = _notifier(ctx, clock, sleeps, _hook(f"{receiver.base}/h")).notify(_notification())
    assert delivery.status is DeliveryStatus.sent and delivery.attempts == 3
    assert len(receiver.requests) == 3
    assert sleeps == [2.0, 4.0]  # exponential, through the injected sleeper
    [record] = _records(ctx)
    assert record["status"] == "sent" and record["attempts"] == 3 and record["sent_at"]


def test_a_dead_destination_does_not_stop_the_others(
    ctx: AppContext, smtp: SmtpPeer, clock: ManualClock, sleeps: list[float], tmp_path: Path
) -> None:
    dead = _hook(f"http://127.0.0.1:{free_port()}/hook", name="dead")
    outbox = _outbox(tmp_path)
    result = _by_name(_notifier(ctx, clock, sleeps, dead, _smtp(smtp), outbox).notify(_notification()))
    assert result["dead"].status is DeliveryStatus.failed and result["dead"].attempts == 3
    assert "ConnectionRefusedError" in (result["dead"].last_error or "")
    assert result["mail"].status is DeliveryStatus.sent and len(smtp.sink.envelopes) == 1
    assert result["outbox"].status is DeliveryStatus.sent
    files = sorted(p.suffix for p in (tmp_path / "ob").iterdir())
    assert files == [".json", ".md"]
    [json_file] = (tmp_path / "ob").glob("*.json")
    assert json.loads(json_file.read_text(encoding="utf-8"))["key"] == _notification().key
    statuses = {r["destination"]: r["status"] for r in _records(ctx)}
    assert statuses == {"dead": "failed", "mail": "sent", "outbox": "sent"}


def test_no_duplicates_after_restart(
    ctx: AppContext, smtp: SmtpPeer, receiver: Receiver, clock: ManualClock, sleeps: list[float], tmp_path: Path
) -> None:
    destinations = (_smtp(smtp), _hook(f"{receiver.base}/h"), _outbox(tmp_path))
    first = _notifier(ctx, clock, sleeps, *destinations).notify(_notification())
    clock.advance(timedelta(minutes=5))
    again = _notifier(ctx, clock, sleeps, *destinations)  # a new process, same key
    second = again.notify(_notification())
    assert [d.status for d in first] == [d.status for d in second] == [DeliveryStatus.sent] * 3
    assert [d.attempts for d in second] == [1, 1, 1]
    assert len(smtp.sink.envelopes) == 1 and len(receiver.requests) == 1
    assert len(list((tmp_path / "ob").iterdir())) == 2
    ctx.es.refresh(deliveries_index(ctx.es))
    assert again.retry_pending() == []
    assert len(_records(ctx)) == 3
    assert sorted(d.destination for d in again.deliveries(incident_id="INC-20261118-ab12cd")) == [
        "hook",
        "mail",
        "outbox",
    ]


def test_retry_pending_after_backoff(
    ctx: AppContext, receiver: Receiver, clock: ManualClock, sleeps: list[float]
) -> None:
    receiver.statuses.extend([503, 503, 503])
    notifier = _notifier(ctx, clock, sleeps, _hook(f"{receiver.base}/h"))
    [failed] = notifier.notify(_notification())
    assert failed.status is DeliveryStatus.failed and failed.attempts == 3
    assert failed.last_error is not None and "HTTP 503" in failed.last_error
    assert failed.next_attempt_at == NOW + timedelta(minutes=1)
    ctx.es.refresh(deliveries_index(ctx.es))
    assert notifier.retry_pending() == []  # not due yet
    clock.advance(timedelta(seconds=61))
    restarted = _notifier(ctx, clock, sleeps, _hook(f"{receiver.base}/h"))
    [retried] = restarted.retry_pending()
    assert retried.status is DeliveryStatus.sent and retried.attempts == 4
    ctx.es.refresh(deliveries_index(ctx.es))
    assert restarted.retry_pending() == []
    assert len(receiver.requests) == 4


def test_attempts_are_bounded(ctx: AppContext, receiver: Receiver, clock: ManualClock, sleeps: list[float]) -> None:
    receiver.statuses.extend([500] * 10)
    notifier = _notifier(ctx, clock, sleeps, _hook(f"{receiver.base}/h"), max_attempts=3, attempts_per_run=2)
    [first] = notifier.notify(_notification())
    assert first.attempts == 2 and first.next_attempt_at == NOW + timedelta(minutes=1)
    clock.advance(timedelta(minutes=2))
    ctx.es.refresh(deliveries_index(ctx.es))
    [last] = notifier.retry_pending()
    assert last.status is DeliveryStatus.failed and last.attempts == 3 and last.next_attempt_at is None
    clock.advance(timedelta(days=1))
    ctx.es.refresh(deliveries_index(ctx.es))
    assert notifier.retry_pending() == []
    assert len(receiver.requests) == 3


def test_a_leased_delivery_is_left_to_its_sender(ctx: AppContext, receiver: Receiver, clock: ManualClock) -> None:
    hook = _hook(f"{receiver.base}/h")
    n = _notification()
    held = Delivery(
        id=delivery_id(n.key, hook.name),
        key=n.key,
        destination=hook.name,
        channel="webhook",
        target=hook.display,
        severity=n.severity,
        created_at=NOW,
        updated_at=NOW,
        next_attempt_at=NOW,
        lease_until=NOW + timedelta(minutes=5),  # another process is sending it
        notification=n,
    )
    install_templates(ctx.es)
    assert ctx.es.create(deliveries_index(ctx.es), held.id, held.model_dump(mode="json"), refresh=True)
    notifier = _notifier(ctx, clock, [], hook)
    [result] = notifier.notify(n)
    assert result.status is DeliveryStatus.pending and receiver.requests == []
    assert notifier.retry_pending() == []
    clock.advance(timedelta(minutes=6))  # the other process died: its lease expired
    [taken] = notifier.retry_pending()
    assert taken.status is DeliveryStatus.sent and len(receiver.requests) == 1


# -- secrets ------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_secrets_stay_out_of_records_logs_and_errors(
    ctx: AppContext,
    smtp_auth: SmtpPeer,
    receiver: Receiver,
    clock: ManualClock,
    sleeps: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = ["pw-S3CRET-wrong", "TOKEN-S3CRET-path", "S3CRET-query", "Bearer S3CRET-header"]
    receiver.statuses.extend([500] * 3)
    destinations = [
        _smtp(smtp_auth, username=USER, password="pw-S3CRET-wrong", allow_plaintext_auth=True),
        _hook(
            f"{receiver.base}/hooks/TOKEN-S3CRET-path?sig=S3CRET-query",
            headers={"Authorization": "Bearer S3CRET-header"},
        ),
        _hook(f"http://127.0.0.1:{free_port()}/hooks/TOKEN-S3CRET-path?sig=S3CRET-query", name="dead"),
    ]
    result = _notifier(ctx, clock, sleeps, *destinations).notify(_notification())
    assert [d.status for d in result] == [DeliveryStatus.failed] * 3
    assert receiver.requests[0]["headers"]["Authorization"] == "Bearer S3CRET-header"  # it was really used
    stored = json.dumps(_records(ctx), ensure_ascii=False)
    shown = [stored, caplog.text, *(d.model_dump_json() for d in result)]
    for secret in secrets:
        for text in shown:
            assert secret not in text
    settings = load_settings(
        es_url=ctx.settings.es_url, notify={"destinations": [d.model_dump() for d in destinations]}
    )
    masked = json.dumps(settings.masked())
    assert not any(s in masked for s in secrets)


def test_deliveries_template_is_stable(ctx: AppContext) -> None:
    install_templates(ctx.es)
    assert install_templates(ctx.es) == []  # the stored mapping equals ours: no rewrite on every start


def test_from_context_defaults_to_the_outbox(ctx: AppContext, clock: ManualClock) -> None:
    ctx.clock = clock
    notifier = Notifier.from_context(ctx)
    [delivery] = notifier.notify(_notification())
    assert delivery.status is DeliveryStatus.sent and delivery.channel == "outbox"
    assert len(list((ctx.settings.out_dir / "outbox").glob("*.md"))) == 1
