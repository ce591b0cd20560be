"""Notifications as exactly once as each channel allows: idempotency keys, "maybe sent",
one try in flight per delivery across processes. Real peers on 127.0.0.1: a webhook
receiver that answers late, hangs, answers 500 or resets, and an aiosmtpd server that
goes down or loses its answer after the message was sent."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from soc.clock import ManualClock
from soc.context import AppContext
from soc.es.indices import deliveries_index
from soc.notify.models import (
    Delivery,
    DeliveryStatus,
    Notification,
    NotifySettings,
    SmtpDestination,
    WebhookDestination,
    delivery_id,
    message_id,
)
from soc.notify.service import Notifier
from soc.vocab import Bilingual, Severity
from tests.peers import HttpPeer, Mailbox, free_port, self_signed_cert

NOW = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
KEY = "INC-20261129-aa11bb:opened"


def _notification() -> Notification:
    return Notification(
        key=KEY,
        severity=Severity.high,
        incident_id="INC-20261129-aa11bb",
        subject=Bilingual(ja="インシデント発生", en="New incident"),
        body=Bilingual(ja="不審なログオン", en="Suspicious logons"),
    )


def _hook(url: str, timeout: float = 0.5) -> WebhookDestination:
    return WebhookDestination.model_validate({"kind": "webhook", "name": "hook", "url": url, "timeout": timeout})


def _notifier(ctx: AppContext, clock: ManualClock, *destinations: Any, **policy: Any) -> Notifier:
    settings = NotifySettings(destinations=list(destinations), **({"attempts_per_run": 1} | policy))
    return Notifier(gw=ctx.es, settings=settings, clock=clock, sleeper=lambda _s: None)


def _stored(ctx: AppContext, destination: str = "hook") -> Delivery:
    found = ctx.es.get(deliveries_index(ctx.es), delivery_id(KEY, destination))
    assert found is not None
    return Delivery.model_validate(found["_source"])


def _later(ctx: AppContext, clock: ManualClock, by: timedelta = timedelta(minutes=2)) -> None:
    clock.advance(by)
    ctx.es.refresh(deliveries_index(ctx.es))


def _sending(notifier: Notifier, peer: HttpPeer) -> tuple[threading.Thread, list[Delivery]]:
    """Start ``notify`` in a thread of its own; return once its first try reached the peer."""
    results: list[Delivery] = []
    sender = threading.Thread(target=lambda: results.extend(notifier.notify(_notification())))
    sender.start()
    deadline = time.monotonic() + 10
    while not peer.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(peer.requests) == 1
    return sender, results


@pytest.fixture
def peer() -> Iterator[HttpPeer]:
    p = HttpPeer(late_by=1.5)
    yield p
    p.close()


@pytest.mark.parametrize("behaviour", ["late", "hang", "reset"])
def test_a_lost_answer_is_maybe_sent_and_the_retry_carries_the_same_key(
    ctx: AppContext, peer: HttpPeer, behaviour: str
) -> None:
    peer.script.append(behaviour)
    clock = ManualClock(NOW)
    notifier = _notifier(ctx, clock, _hook(peer.url))
    [first] = notifier.notify(_notification())
    assert first.status is DeliveryStatus.maybe_sent and first.ambiguous_attempts == 1
    assert "may have been delivered" in (first.last_error or "")
    assert first.idempotency_key == delivery_id(KEY, "hook") and first.in_flight_since is None
    assert len(peer.requests) == 1  # the receiver did get it
    _later(ctx, clock)
    [again] = notifier.retry_pending()
    assert again.status is DeliveryStatus.sent and again.attempts == 2
    assert peer.keys() == [delivery_id(KEY, "hook")] * 2  # a receiver that dedups keeps one
    assert _stored(ctx).status is DeliveryStatus.sent


def test_a_500_or_a_refused_connection_is_a_sure_failure(ctx: AppContext, peer: HttpPeer) -> None:
    peer.script.append("500")
    clock = ManualClock(NOW)
    [failed] = _notifier(ctx, clock, _hook(peer.url)).notify(_notification())
    assert failed.status is DeliveryStatus.failed and failed.ambiguous_attempts == 0
    assert "HTTP 500" in (failed.last_error or "")
    _later(ctx, clock)
    [sent] = _notifier(ctx, clock, _hook(peer.url)).retry_pending()
    assert sent.status is DeliveryStatus.sent and peer.keys() == [delivery_id(KEY, "hook")] * 2

    nobody = _hook(f"http://127.0.0.1:{free_port()}/hook").model_copy(update={"name": "nobody"})
    [refused] = _notifier(ctx, clock, nobody).notify(_notification())
    assert refused.status is DeliveryStatus.failed and refused.ambiguous_attempts == 0
    assert "ConnectionRefusedError" in (refused.last_error or "")


def test_giving_up_after_a_try_that_may_have_delivered_says_maybe_sent(ctx: AppContext, peer: HttpPeer) -> None:
    """bench/faults.py: late, 500, late, ..., and the 8th try a 500: the receiver had it
    (several times), so the final record is maybe_sent, not failed (which invites a resend)."""
    peer.script.extend(["late", "500"])
    clock = ManualClock(NOW)
    [first] = _notifier(ctx, clock, _hook(peer.url), max_attempts=2).notify(_notification())
    assert first.status is DeliveryStatus.maybe_sent
    _later(ctx, clock)
    [last] = _notifier(ctx, clock, _hook(peer.url), max_attempts=2).retry_pending()
    assert last.status is DeliveryStatus.maybe_sent and last.next_attempt_at is None  # given up
    assert "HTTP 500" in (last.last_error or "") and last.ambiguous_attempts == 1
    assert _stored(ctx).status is DeliveryStatus.maybe_sent
    _later(ctx, clock)
    assert _notifier(ctx, clock, _hook(peer.url), max_attempts=2).retry_pending() == []  # never again
    assert peer.keys() == [delivery_id(KEY, "hook")] * 2

    peer.script.extend(["500", "500"])  # only sure failures: failed, as before
    other = _notification().model_copy(update={"key": KEY + ":other"})
    notifier = _notifier(ctx, clock, _hook(peer.url), max_attempts=2, attempts_per_run=2)
    [failed] = notifier.notify(other)
    assert failed.status is DeliveryStatus.failed and failed.next_attempt_at is None


def test_one_try_in_flight_per_delivery_across_processes(ctx: AppContext, peer: HttpPeer) -> None:
    peer.script.append("hang")
    clock = ManualClock(NOW)
    sender, results = _sending(_notifier(ctx, clock, _hook(peer.url, timeout=3)), peer)
    others = [_notifier(ctx, clock, _hook(peer.url, timeout=3)) for _ in range(3)]  # other processes
    for other in others:
        [held] = other.notify(_notification())
        assert held.status is DeliveryStatus.pending and held.in_flight_since is not None
        ctx.es.refresh(deliveries_index(ctx.es))
        assert other.retry_pending() == []
    sender.join(20)
    assert [r.status for r in results] == [DeliveryStatus.maybe_sent]
    assert len(peer.requests) == 1 and peer.max_in_flight == 1


def test_a_sender_paused_mid_try_is_superseded_and_cannot_overwrite(ctx: AppContext, peer: HttpPeer) -> None:
    """The first sender's try is on the wire when it stalls past its lease (a SIGSTOP, a
    hung VM): another finds the try in flight, records "maybe sent" and retries with the
    same key; the stalled one's late outcome is dropped, not written over the record."""
    peer.script.append("hang")
    clock = ManualClock(NOW)
    sender, results = _sending(_notifier(ctx, clock, _hook(peer.url, timeout=5)), peer)
    _later(ctx, clock, timedelta(minutes=5))  # its lease (4 x timeout + 60 s) ran out
    [taken] = _notifier(ctx, clock, _hook(peer.url, timeout=5)).retry_pending()
    assert taken.status is DeliveryStatus.sent and taken.attempts == 2 and taken.ambiguous_attempts == 1
    sender.join(20)
    assert [r.status for r in results] == [DeliveryStatus.sent]  # it reports the record as the other left it
    stored = _stored(ctx)
    assert stored.status is DeliveryStatus.sent and stored.attempts == 2 and stored.last_error is not None
    assert "never finished" in stored.last_error
    assert peer.keys() == [delivery_id(KEY, "hook")] * 2


def test_a_last_try_that_never_finished_is_recorded_maybe_sent_not_retried(ctx: AppContext, peer: HttpPeer) -> None:
    peer.script.append("hang")
    clock = ManualClock(NOW)
    sender, _ = _sending(_notifier(ctx, clock, _hook(peer.url, timeout=3), max_attempts=1), peer)
    _later(ctx, clock, timedelta(minutes=5))
    other = _notifier(ctx, clock, _hook(peer.url, timeout=3), max_attempts=1)
    [final] = other.retry_pending()
    assert final.status is DeliveryStatus.maybe_sent and final.next_attempt_at is None and final.lease_until is None
    sender.join(20)
    _later(ctx, clock, timedelta(days=1))
    assert other.retry_pending() == [] and len(peer.requests) == 1
    assert _stored(ctx).status is DeliveryStatus.maybe_sent


def test_https_webhook_verifies_the_certificate_before_sending_anything(ctx: AppContext, tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    peer = HttpPeer(tls=(cert, key))
    try:
        clock = ManualClock(NOW)
        untrusted = _hook(peer.url, timeout=5)
        [refused] = _notifier(ctx, clock, untrusted).notify(_notification())
        assert refused.status is DeliveryStatus.failed and refused.ambiguous_attempts == 0
        assert "CERTIFICATE_VERIFY_FAILED" in (refused.last_error or "") and peer.requests == []
        trusted = untrusted.model_copy(update={"name": "trusted", "ca_file": cert})
        [sent] = _notifier(ctx, clock, trusted).notify(_notification())
        assert sent.status is DeliveryStatus.sent and peer.keys() == [delivery_id(KEY, "trusted")]
    finally:
        peer.close()


# -- SMTP -------------------------------------------------------------------------------------
class SlowMailbox(Mailbox):
    """Keeps the message, then answers the end of DATA only after *delay* (once)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        delay, self.delay = self.delay, 0.0
        await asyncio.sleep(delay)
        return "250 Message accepted"


def _mail(port: int, timeout: float = 5) -> SmtpDestination:
    return SmtpDestination.model_validate(
        {"kind": "smtp", "name": "mail", "host": "127.0.0.1", "port": port, "security": "none",
         "from": "soc@city.example.lg.jp", "to": ["csirt@city.example.lg.jp"], "timeout": timeout}
    )  # fmt: skip


def test_smtp_server_down_then_up_is_a_sure_failure_then_one_mail(ctx: AppContext) -> None:
    port, box, clock = free_port(), Mailbox(), ManualClock(NOW)
    [down] = _notifier(ctx, clock, _mail(port)).notify(_notification())
    assert down.status is DeliveryStatus.failed and down.ambiguous_attempts == 0
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        _later(ctx, clock)
        [sent] = _notifier(ctx, clock, _mail(port)).retry_pending()
    finally:
        controller.stop()
    assert sent.status is DeliveryStatus.sent and sent.attempts == 2
    [message] = box.messages()
    assert message["Message-ID"] == message_id(KEY, "mail")
    assert str(message["X-SOC-Idempotency-Key"]).strip() == delivery_id(KEY, "mail")  # folded: 64 characters


def test_smtp_answer_lost_after_data_is_maybe_sent_and_resent_with_the_same_message_id(ctx: AppContext) -> None:
    port, box, clock = free_port(), SlowMailbox(delay=2.0), ManualClock(NOW)
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        [first] = _notifier(ctx, clock, _mail(port, timeout=0.5)).notify(_notification())
        assert first.status is DeliveryStatus.maybe_sent and first.ambiguous_attempts == 1
        _later(ctx, clock)
        [again] = _notifier(ctx, clock, _mail(port, timeout=5)).retry_pending()
        assert again.status is DeliveryStatus.sent
        time.sleep(2.0)  # the first DATA is kept by the server once its sleep ends
    finally:
        controller.stop()
    ids = {str(m["Message-ID"]) for m in box.messages()}
    assert len(box.envelopes) == 2 and ids == {message_id(KEY, "mail")}  # a client folds them into one
