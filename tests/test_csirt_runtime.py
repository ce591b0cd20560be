"""The CSIRT loop and the summary report as the scheduler runs them, against real peers on
127.0.0.1: the Elasticsearch node, an SMTP server (aiosmtpd) and a port nobody listens on."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from soc.clock import ManualClock
from soc.config import Settings, SummarySchedule
from soc.context import AppContext
from soc.detection.loader import load_detectors
from soc.detection.state import RunState, RunStateStore
from soc.incidents.store import IncidentStore
from soc.incidents.workflow import check_deadlines
from soc.notify.models import DeliveryStatus, NotifySettings, SmtpDestination
from soc.notify.service import Notifier
from soc.playbooks.loader import load_playbooks
from soc.playbooks.models import Playbook
from soc.runtime.csirt import CsirtDesk
from soc.runtime.pipeline import Pipeline
from soc.runtime.scheduler import DetectorScheduler
from soc.runtime.summary_job import SummaryJob, crontab_trigger, previous_fire_time
from tests.eventgen import auth_failure, index, spread
from tests.peers import Mailbox, free_port

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
TOKYO = ZoneInfo("Asia/Tokyo")
DETECTOR = "failed-login-burst"


# -- peers ---------------------------------------------------------------------------


def _smtp(name: str, port: int) -> SmtpDestination:
    return SmtpDestination.model_validate(
        {"kind": "smtp", "name": name, "host": "127.0.0.1", "port": port, "security": "none",
         "from": "soc@city.example.lg.jp", "to": ["csirt@city.example.lg.jp"], "timeout": 5}
    )  # fmt: skip


# -- helpers ---------------------------------------------------------------------------
@pytest.fixture
def playbooks() -> list[Playbook]:
    return load_playbooks(REPO / "playbooks")


def _notifier(ctx: AppContext, clock: ManualClock, *destinations: SmtpDestination) -> Notifier:
    # 8 tries: the dead destination is given up within this test's two hours (the default
    # schedule rides out an hour of ticks: tests/test_notify_relay_down.py)
    settings = NotifySettings(destinations=list(destinations), max_attempts=8)
    return Notifier(gw=ctx.es, settings=settings, clock=clock, sleeper=lambda _s: None)


def _scheduler(
    ctx: AppContext, clock: ManualClock, playbooks: list[Playbook], *destinations: SmtpDestination
) -> DetectorScheduler:
    """A (new) scheduler process: its own context, notifier and desk over the same store."""
    live = AppContext(settings=ctx.settings, es=ctx.es, clock=clock)
    detectors = [d for d in load_detectors(REPO / "detectors") if d.id == DETECTOR]
    return DetectorScheduler(
        live, detectors=detectors, playbooks=playbooks, notifier=_notifier(ctx, clock, *destinations)
    )


def _attack(ctx: AppContext) -> None:
    """40 failed logons of one account from one address: the burst detector fires once."""
    times = spread(T0 + timedelta(minutes=40), 40, timedelta(seconds=20))
    index(ctx, [auth_failure(t, "a.yamada", "203.0.113.50") for t in times])


def _refresh(ctx: AppContext) -> None:
    ctx.es.refresh(f"{ctx.settings.index_prefix}-*")


# -- the CSIRT loop ----------------------------------------------------------------------
def test_announce_escalate_and_restart_send_everything_once(
    ctx: AppContext, mailbox: tuple[Mailbox, int], playbooks: list[Playbook]
) -> None:
    box, port = mailbox
    mail, dead = _smtp("mail", port), _smtp("dead", free_port())
    _attack(ctx)
    clock = ManualClock(T0 + timedelta(hours=1, minutes=30))
    first = _scheduler(ctx, clock, playbooks, mail, dead)
    RunStateStore(ctx.es).save(RunState(detector=DETECTOR, watermark=T0))

    # a detector run opens the incident and announces it, to the live server at once
    assert first.tick(DETECTOR)
    [incident] = IncidentStore(ctx.es).list()
    opened_key = f"{incident.id}:opened"
    assert box.keys() == [opened_key]
    assert incident.id in str(box.messages()[0]["Subject"])
    assert first.notifier.get(opened_key, "mail").status is DeliveryStatus.sent  # type: ignore[union-attr]
    failed = first.notifier.get(opened_key, "dead")
    assert failed is not None and failed.status is DeliveryStatus.failed and failed.attempts == 3
    assert "ConnectionRefused" in (failed.last_error or "")

    # the next runs join nothing new and announce nothing again
    clock.advance(timedelta(minutes=5))
    assert first.tick(DETECTOR)
    _refresh(ctx)
    before_deadline = first.csirt_tick()
    assert before_deadline is not None and before_deadline.escalations == []
    assert box.keys() == [opened_key]
    # ...but the tick retried the dead destination, whose backoff (1 min) had passed
    retried = first.notifier.get(opened_key, "dead")
    assert retried is not None and retried.attempts == 6 and retried.status is DeliveryStatus.failed

    # past the acknowledgement deadline: escalated and notified exactly once
    assert incident.ack_due_at is not None
    clock.set(incident.ack_due_at + timedelta(minutes=1))
    _refresh(ctx)
    breached = first.csirt_tick()
    assert breached is not None
    kinds = [e.kind for e in breached.escalations]
    assert kinds.count("incident-ack-overdue") == 1
    ack_key = f"{incident.id}:incident-ack-overdue:incident"
    assert Counter(box.keys())[ack_key] == 1
    assert sorted(box.keys()) == sorted([opened_key, *(e.id for e in breached.escalations)])
    escalated = IncidentStore(ctx.es).get(incident.id)
    assert [a.action for a in escalated.audit].count("escalate") == len(breached.escalations)
    clock.advance(timedelta(minutes=1))
    _refresh(ctx)
    again = first.csirt_tick()
    assert again is not None and again.escalations == []
    sent_so_far = box.keys()
    assert len(sent_so_far) == 1 + len(breached.escalations)

    # a restart, later: new scheduler, notifier and desk; nothing already sent goes out again
    clock.advance(timedelta(hours=2))
    first.shutdown()  # hands its leases back
    second = _scheduler(ctx, clock, playbooks, mail, dead)
    second.lease_tick()  # what start() does first: take the leases that are free
    assert second.tick(DETECTOR)
    second.desk.announce([incident.id])
    _refresh(ctx)
    later = second.csirt_tick()
    assert later is not None
    assert box.keys()[: len(sent_so_far)] == sent_so_far
    assert sorted(box.keys()[len(sent_so_far) :]) == sorted(e.id for e in later.escalations)
    assert max(Counter(box.keys()).values()) == 1  # every notification arrived exactly once
    messages = box.messages()
    assert len({m["Message-ID"] for m in messages}) == len(messages)
    gave_up = second.notifier.get(opened_key, "dead")  # retried by every due tick, then bounded
    assert gave_up is not None and gave_up.status is DeliveryStatus.failed
    assert gave_up.attempts == 8 and gave_up.next_attempt_at is None


def test_the_tick_sends_what_a_crash_left_unsent(
    ctx: AppContext, mailbox: tuple[Mailbox, int], playbooks: list[Playbook]
) -> None:
    """The incident was opened and its escalation stored, but the process died before
    either was sent: the next tick (of a new process) sends both, once."""
    box, port = mailbox
    _attack(ctx)
    clock = ManualClock(T0 + timedelta(hours=1, minutes=30))
    live = AppContext(settings=ctx.settings, es=ctx.es, clock=clock)
    detector = next(d for d in load_detectors(REPO / "detectors") if d.id == DETECTOR)
    pipeline = Pipeline(live, playbooks=playbooks)
    state = pipeline.engine.state.get(DETECTOR)
    state.watermark = T0
    pipeline.engine.state.save(state)
    [incident_id] = pipeline.run_live(detector).incidents_opened  # not announced
    _refresh(ctx)
    incident = IncidentStore(ctx.es).get(incident_id)
    assert incident.ack_due_at is not None
    clock.set(incident.ack_due_at + timedelta(minutes=1))
    raised = check_deadlines(live, playbooks=playbooks)  # stored on the incident, never sent
    assert raised and box.keys() == []

    clock.advance(timedelta(minutes=1))
    _refresh(ctx)
    desk = CsirtDesk(live, playbooks=playbooks, notifier=_notifier(ctx, clock, _smtp("mail", port)))
    result = desk.tick()
    assert result.escalations == []  # nothing new to raise...
    assert sorted(box.keys()) == sorted([f"{incident_id}:opened", *(e.id for e in raised)])  # ...all sent
    clock.advance(timedelta(minutes=1))
    _refresh(ctx)
    assert desk.tick().deliveries == []
    assert len(box.keys()) == 1 + len(raised)


# -- the summary report ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "local_fire"),
    [
        ("0 8 * * 1", datetime(2026, 11, 23, 8, 0)),  # Monday: crontab's 1, not APScheduler's
        ("0 8 * * 0", datetime(2026, 11, 22, 8, 0)),  # Sunday
        ("0 8 * * 7", datetime(2026, 11, 22, 8, 0)),  # Sunday too
        ("30 18 * * 1-5", datetime(2026, 11, 18, 18, 30)),
        ("0 9 1 * *", datetime(2026, 12, 1, 9, 0)),
    ],
)
def test_crontab_lines_fire_at_local_time(line: str, local_fire: datetime) -> None:
    wednesday_morning = datetime(2026, 11, 18, 9, 0, tzinfo=TOKYO)
    trigger = crontab_trigger(line, TOKYO)
    assert trigger.get_next_fire_time(None, wednesday_morning) == local_fire.replace(tzinfo=TOKYO)
    assert previous_fire_time(trigger, local_fire.replace(tzinfo=TOKYO) + timedelta(seconds=5)) == (
        local_fire.replace(tzinfo=TOKYO)
    )


def _with_summary(settings: Settings, **schedule: Any) -> Settings:
    return settings.model_copy(update={"summary": SummarySchedule.model_validate(schedule)})


def test_summary_fires_mondays_0800_tokyo_writes_files_and_notifies_once(
    ctx: AppContext, mailbox: tuple[Mailbox, int], playbooks: list[Playbook]
) -> None:
    box, port = mailbox
    settings = _with_summary(ctx.settings, cron="0 8 * * 1", period="7d", langs=["ja", "en"], formats=["html", "md"])
    clock = ManualClock(datetime(2026, 11, 18, 12, 0, tzinfo=TOKYO))  # a Wednesday
    live = AppContext(settings=settings, es=ctx.es, clock=clock)
    sched = DetectorScheduler(live, detectors=[], playbooks=playbooks, notifier=_notifier(ctx, clock, _smtp("m", port)))

    # the job is registered with the cron trigger in Asia/Tokyo, next Monday 08:00 local
    sched.add_jobs()
    job = sched._scheduler.get_job("summary")
    assert job is not None and job.executor == "reports"
    assert str(job.trigger.timezone) == "Asia/Tokyo"
    next_fire = job.trigger.get_next_fire_time(None, clock.now())
    assert next_fire == datetime(2026, 11, 23, 8, 0, tzinfo=TOKYO)
    assert next_fire.astimezone(UTC) == datetime(2026, 11, 22, 23, 0, tzinfo=UTC)

    # it fires: the previous Monday-to-Sunday week, in files and in one message
    clock.set(next_fire + timedelta(seconds=3))
    assert sched.summary is not None
    run = sched.summary.run()
    assert (run.start, run.end) == (datetime(2026, 11, 16, tzinfo=TOKYO), datetime(2026, 11, 23, tzinfo=TOKYO))
    assert run.key == "summary:2026-11-15T15:00:00.000Z:2026-11-22T15:00:00.000Z"
    reports = settings.out_dir / "reports"
    names = sorted(p.name for p in reports.iterdir())
    assert names == [f"summary-20261116-20261122.{lang}.{fmt}" for lang in ("en", "ja") for fmt in ("html", "md")]
    assert [p.parent for p in run.paths] == [reports] * 4
    assert "</html>" in (reports / "summary-20261116-20261122.ja.html").read_text(encoding="utf-8")
    [message] = box.messages()
    assert box.keys() == [run.key]
    assert "2026-11-16 - 2026-11-22" in str(message["Subject"])
    body = message.get_content()
    assert all(str(p) in body for p in run.paths)

    # the same period again, and after a restart: no second message, files left alone
    clock.advance(timedelta(minutes=5))
    assert sched.summary_tick() is not None and len(box.envelopes) == 1
    sched.shutdown()
    restarted = DetectorScheduler(
        live, detectors=[], playbooks=playbooks, notifier=_notifier(ctx, clock, _smtp("m", port))
    )
    restarted.lease_tick()  # what start() does first
    rerun = restarted.summary_tick()
    assert rerun is not None and rerun.skipped and rerun.paths == []
    assert len(box.envelopes) == 1

    # a week later: the next period, its own message
    clock.advance(timedelta(days=7))
    assert restarted.summary_tick() is not None
    assert len(box.envelopes) == 2 and (reports / "summary-20261123-20261129.en.html").exists()


def test_summary_is_off_without_cron_and_rejects_bad_lines(ctx: AppContext, playbooks: list[Playbook]) -> None:
    sched = DetectorScheduler(ctx, detectors=[], playbooks=playbooks)
    assert sched.summary is None and sched.summary_tick() is None
    sched.add_jobs()
    assert sched._scheduler.get_job("summary") is None
    for bad in ("0 8 * *", "0 8 * * 8", "0 25 * * 1"):
        with pytest.raises(ValueError):
            SummaryJob(ctx, notifier=Notifier.from_context(ctx), schedule=SummarySchedule.model_construct(cron=bad))
        with pytest.raises(ValueError):
            SummarySchedule(cron=bad)
