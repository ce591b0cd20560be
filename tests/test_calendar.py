"""The office calendar: weekends, Japanese public holidays, the year-end closure, closed
days from soc.toml — in detectors' off_hours, in the simulator, and in a demo run on any day."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from soc.calendar import BusinessCalendar, CalendarSettings, calendar_for
from soc.cli.main import app
from soc.config import Settings, load_settings
from soc.context import AppContext
from soc.detection.engine import DetectionEngine
from soc.detection.loader import load_detectors
from soc.detection.models import OffHours
from soc.detection.queries import off_hours_ranges
from soc.simulate.baseline import activity
from tests.eventgen import index

REPO = Path(__file__).resolve().parent.parent
JST = ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize(
    ("day", "reason"),
    [
        (date(2026, 11, 27), None),  # a Friday
        (date(2026, 11, 28), "weekend"),
        (date(2026, 11, 29), "weekend"),
        (date(2026, 11, 23), "holiday: Labor Thanksgiving Day"),  # 勤労感謝の日, a Monday
        (date(2026, 5, 6), "holiday: Substitute Holiday"),  # 振替休日 for Constitution Day on a Sunday
        (date(2026, 9, 22), "holiday: National Holiday"),  # 国民の休日 between two holidays
        (date(2026, 12, 28), None),  # the last working day of the year (御用納め)
        (date(2026, 12, 29), "year-end closure"),
        (date(2026, 12, 31), "year-end closure"),
        (date(2027, 1, 1), "year-end closure"),
        (date(2027, 1, 4), None),  # 御用始め, a Monday
        (date(2028, 2, 29), None),  # a leap day, a Tuesday
    ],
)
def test_a_japanese_city_office_is_closed_on(day: date, reason: str | None) -> None:
    assert BusinessCalendar().closed_reason(day) == reason


def test_closed_and_open_days_from_settings() -> None:
    cal = BusinessCalendar(
        CalendarSettings(closed_days=(date(2026, 8, 14),), open_days=(date(2026, 11, 28),), year_end_closure=False)
    )
    assert cal.closed_reason(date(2026, 8, 14)) == "closed day"
    assert cal.is_working_day(date(2026, 11, 28))  # a Saturday the office opens (an election)
    assert cal.is_working_day(date(2026, 12, 29))
    assert not BusinessCalendar(CalendarSettings(holidays="")).is_closed(date(2026, 11, 23))
    with pytest.raises(ValueError, match=r"calendar\.holidays"):
        BusinessCalendar(CalendarSettings(holidays="XX")).is_closed(date(2026, 11, 23))
    assert calendar_for(None) is calendar_for(CalendarSettings())  # built once, shared


def test_calendar_settings_from_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOC_CONFIG", raising=False)
    toml = tmp_path / "soc.toml"
    toml.write_text('[calendar]\nclosed_days = ["2026-08-14"]\nyear_end_closure = false\n', encoding="utf-8")
    settings = load_settings(toml)
    assert settings.calendar.closed_days == (date(2026, 8, 14),)
    assert not settings.calendar.year_end_closure


def test_off_hours_cover_holidays_and_the_year_end_whole() -> None:
    spec = OffHours()
    # Monday 23 November 2026 is a public holiday: the whole JST day is off hours
    start, end = datetime(2026, 11, 22, 15, tzinfo=UTC), datetime(2026, 11, 23, 15, tzinfo=UTC)
    assert off_hours_ranges(spec, start, end, JST) == [(start, end)]
    # Tuesday 24 November is a working day: 07:30-20:00 JST is business time
    start, end = datetime(2026, 11, 23, 15, tzinfo=UTC), datetime(2026, 11, 24, 15, tzinfo=UTC)
    assert off_hours_ranges(spec, start, end, JST) == [
        (start, datetime(2026, 11, 23, 22, 30, tzinfo=UTC)),
        (datetime(2026, 11, 24, 11, tzinfo=UTC), end),
    ]
    # a detector that works on holidays keeps the office hours then
    workday = OffHours(holidays=False)
    hol_start = datetime(2026, 11, 22, 15, tzinfo=UTC)
    assert len(off_hours_ranges(workday, hol_start, hol_start + timedelta(days=1), JST)) == 2
    # a closed day of soc.toml, passed on by the engine, is off hours whole
    closed = OffHours(calendar=CalendarSettings(closed_days=(date(2026, 11, 24),)))
    assert off_hours_ranges(closed, start, end, JST) == [(start, end)]


def test_the_simulated_city_rests_on_holidays_and_at_year_end() -> None:
    tuesday_10 = datetime(2026, 11, 24, 10, tzinfo=JST)
    assert activity(tuesday_10) > 0.9
    assert activity(datetime(2026, 11, 23, 10, tzinfo=JST)) < 0.05  # 勤労感謝の日
    assert activity(datetime(2026, 12, 30, 10, tzinfo=JST)) < 0.05  # year-end closure


def _privileged_logon(at: datetime, user: str) -> dict[str, object]:
    return {
        "@timestamp": at.astimezone(UTC).isoformat(),
        "event": {"id": f"pl-{user}", "kind": "event", "category": ["authentication"], "type": ["info"],
                  "action": "special-logon", "outcome": "success", "code": "4672"},
        "user": {"name": user},
        "host": {"name": "FS01"},
    }  # fmt: skip


def test_privileged_logon_on_a_holiday_morning_is_off_hours(ctx: AppContext, settings: Settings) -> None:
    """10:00 JST on a working day is business time; on a public holiday, a closed day from
    soc.toml or at the year end the same logon is outside business hours."""
    detector = next(d for d in load_detectors(REPO / "detectors") if d.id == "privileged-logon-off-hours")
    days = [date(2026, 11, 24), date(2026, 11, 23), date(2026, 11, 25), date(2026, 12, 30)]
    at_ten = [datetime.combine(d, datetime.min.time(), JST) + timedelta(hours=10) for d in days]
    index(ctx, [_privileged_logon(t, f"adm-{t.day}") for t in at_ten])
    ctx.settings = settings.model_copy(update={"calendar": CalendarSettings(closed_days=(date(2026, 11, 25),))})
    report = DetectionEngine(ctx).backtest(
        detector, datetime(2026, 11, 22, 15, tzinfo=UTC), datetime(2026, 12, 31, 15, tzinfo=UTC)
    )
    users = sorted(a.entity["user.name"] for a in report.alerts)
    assert users == ["adm-23", "adm-25", "adm-30"]


@pytest.mark.parametrize(
    "end",
    [
        "2026-11-28T18:00:00+09:00",  # a Saturday
        "2026-11-29T12:00:00+09:00",  # a Sunday
        "2026-11-23T20:00:00+09:00",  # 勤労感謝の日, a national holiday on a Monday
        "2026-12-31T23:00:00+09:00",  # New Year's Eve, in the year-end closure
    ],
)
def test_demo_passes_on_closed_days(
    end: str, settings: Settings, ctx: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`soc demo --end` on weekends, a holiday and the year end: every scenario found, no
    alert on the baseline (scored against every injected event, not one detector each)."""
    monkeypatch.setenv("SOC_ES_URL", settings.es_url)
    monkeypatch.delenv("SOC_CONFIG", raising=False)
    out = tmp_path / "demo"
    prefix = f"{settings.index_prefix}-demo"
    res = CliRunner().invoke(
        app, ["demo", "--out", str(out), "--prefix", prefix, "--end", end, "--report-formats", "md"]
    )
    ctx.es.delete_indices(f"{prefix}-*")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["detectors_missed"] == [] and summary["baseline_alerts"] == [], res.output
    assert res.exit_code == 0, res.output
    assert summary["range"]["to"].startswith(datetime.fromisoformat(end).astimezone(UTC).strftime("%Y-%m-%dT%H"))
    assert list(out.glob("*.ja.md")), "the incident reports were written"


def test_a_second_demo_on_the_same_prefix_waits_for_none_and_deletes_nothing(
    settings: Settings, ctx: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two `soc demo` runs on one cluster and prefix would reset each other's indices mid-run:
    the second is refused at once with the fix, before it deletes anything; a holder that was
    killed leaves no stale claim behind."""
    import signal
    import subprocess
    import sys

    monkeypatch.setenv("SOC_ES_URL", settings.es_url)
    monkeypatch.delenv("SOC_CONFIG", raising=False)
    prefix = f"{settings.index_prefix}-demo"
    ctx.es.client.index(index=f"{prefix}-events-keep", document={"kept": True}, refresh=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from soc.cli.demo_cmd import _claim_prefix; "
            f"h = _claim_prefix({settings.es_url!r}, {prefix!r}); print('held', flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "d"), "--prefix", prefix, "--hours", "1"])
        assert res.exit_code != 0
        assert "another soc demo is running" in res.output and "--prefix" in res.output, res.output
        assert ctx.es.client.indices.exists(index=f"{prefix}-events-keep"), "the refused demo deleted nothing"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        ctx.es.delete_indices(f"{prefix}-*")
    from soc.cli.demo_cmd import _claim_prefix

    _claim_prefix(settings.es_url, prefix).close()  # the killed holder's claim went with it
