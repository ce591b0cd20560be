"""The mail relay is down for a while: with the default schedule the notification still
goes out once it is back (a real aiosmtpd on 127.0.0.1 that comes up late), exactly once,
and a relay that never comes back is given up on only after an hour of tries.

The scheduler calls ``retry_pending`` every minute; the tests do the same with a manual
clock (the sleeps between the tries of one run are recorded, not slept).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from aiosmtpd.controller import Controller

from soc.clock import ManualClock
from soc.context import AppContext
from soc.es.indices import deliveries_index
from soc.notify.models import Delivery, DeliveryStatus, NotifySettings, SmtpDestination
from soc.notify.service import Notifier
from tests.peers import Mailbox, free_port
from tests.test_notify import NOW, _notification


@pytest.fixture
def relay_port() -> int:
    return free_port()  # nothing listens there yet: every try is refused


class LateRelay:
    """A real SMTP relay (aiosmtpd) on *port*, started when the test says so."""

    def __init__(self, port: int) -> None:
        self.box = Mailbox()
        self.controller = Controller(self.box, hostname="127.0.0.1", port=port)
        self.up = False

    def start(self) -> None:
        self.controller.start()
        self.up = True


@pytest.fixture
def relay(relay_port: int) -> Iterator[LateRelay]:
    late = LateRelay(relay_port)
    yield late
    if late.up:
        late.controller.stop()


def _notifier(ctx: AppContext, clock: ManualClock, port: int) -> Notifier:
    mail = SmtpDestination.model_validate(
        {"kind": "smtp", "name": "mail", "host": "127.0.0.1", "port": port, "security": "none",
         "from": "soc@city.example.lg.jp", "to": ["csirt@city.example.lg.jp"], "timeout": 5}
    )  # fmt: skip
    return Notifier(gw=ctx.es, settings=NotifySettings(destinations=[mail]), clock=clock, sleeper=lambda _s: None)


def _every_minute(
    ctx: AppContext, clock: ManualClock, notifier: Notifier, minutes: int, runs: list[tuple[datetime, Delivery]]
) -> None:
    """*minutes* scheduler ticks: one ``retry_pending`` a minute; each run that tried is kept."""
    for _ in range(minutes):
        clock.advance(timedelta(minutes=1))
        ctx.es.refresh(deliveries_index(ctx.es))
        runs += [(clock.now(), d) for d in notifier.retry_pending()]


def test_a_relay_down_for_25_minutes_gets_the_mail_once_when_it_is_back(
    ctx: AppContext, relay_port: int, relay: LateRelay
) -> None:
    clock = ManualClock(NOW)
    notifier = _notifier(ctx, clock, relay_port)
    [first] = notifier.notify(_notification())
    assert first.status is DeliveryStatus.failed and first.attempts == 3
    assert first.last_error is not None and "Connection" in first.last_error
    runs: list[tuple[datetime, Delivery]] = []
    _every_minute(ctx, clock, notifier, 25, runs)
    # backoff, not a try a minute: runs at 1, 3, 7 and 15 minutes, each of 3 refused tries
    assert [(at - NOW, d.attempts, d.status) for at, d in runs] == [
        (timedelta(minutes=m), n, DeliveryStatus.failed) for m, n in ((1, 6), (3, 9), (7, 12), (15, 15))
    ]
    box = relay.box
    relay.start()  # the relay is back at minute 25
    back = clock.now()
    _every_minute(ctx, clock, notifier, 20, runs)
    at, sent = runs[-1]
    assert sent.status is DeliveryStatus.sent and sent.attempts == 16
    assert at - back <= timedelta(minutes=15)  # delivered at most 15 min after the relay is back
    assert len(box.envelopes) == 1 and box.keys() == [_notification().key]
    # never twice: later ticks, another process's notifier, the same notification again
    _every_minute(ctx, clock, notifier, 120, runs)
    other = _notifier(ctx, clock, relay_port)
    ctx.es.refresh(deliveries_index(ctx.es))
    assert other.retry_pending() == []
    [again] = other.notify(_notification())
    assert again.status is DeliveryStatus.sent and runs[-1][1] == sent
    assert len(box.envelopes) == 1


def test_a_relay_that_never_comes_back_is_tried_for_an_hour_then_left(ctx: AppContext, relay_port: int) -> None:
    clock = ManualClock(NOW)
    notifier = _notifier(ctx, clock, relay_port)
    notifier.notify(_notification())
    runs: list[tuple[datetime, Delivery]] = []
    _every_minute(ctx, clock, notifier, 180, runs)
    minutes = [int((at - NOW).total_seconds() // 60) for at, _ in runs]
    assert minutes == [1, 3, 7, 15, 30, 45, 60]  # never more than 15 min apart once backed off
    last = runs[-1][1]
    assert last.status is DeliveryStatus.failed and last.attempts == 24 and last.next_attempt_at is None
