"""The alert store's writes, against the real node. A detector's run decides under one lock,
writes its alerts in one ``_bulk`` and names them in the lock's recent writes as it lets
the lock go (the module doc of ``soc.alerts.store``); each test here fails without the write
or the read it names.

The rule is of a kind whose episode starts at the match (no event runs): two writers with
overlapping matches then compute *different* ids, so only the lock and what the next holder
can see keep them to one alert."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from soc.alerts import store as store_module
from soc.alerts.models import Alert, AlertRule, AlertStatus, EpisodeFigures, Match, alert_id
from soc.alerts.store import AlertStore
from soc.alerts.writelock import lock_id, take
from soc.context import AppContext
from soc.errors import VersionConflict
from soc.es.indices import ensure_ready
from soc.es.locks import LockBusy, locks_index
from tests.test_identity import together

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=6)
RULE = AlertRule(detector="rate-spike", title="Rate spike", severity="high", risk_score=60, kind="spike")  # type: ignore[arg-type]
ENTITY = {"source.ip": "203.0.113.9"}


class SpanEvidence:
    """One matching event a minute over any span; no event runs (the episode starts at the
    match). *pause* stretches the decision, so that racing writers all decide first."""

    def __init__(self, pause: float = 0.0) -> None:
        self.pause = pause

    def figures(self, entity: dict[str, str], start: datetime, end: datetime) -> EpisodeFigures:
        time.sleep(self.pause)
        count = int((end - start).total_seconds() // 60) + 1
        return EpisodeFigures(count=count, distinct=None, first=start, last=end, segments=["external"])

    def runs(self, entity: dict[str, str], start: datetime, end: datetime, bucket: timedelta) -> None:
        return None


def match(first_min: int, last_min: int, entity: dict[str, str] = ENTITY) -> Match:
    return Match(
        entity=entity,
        count=25,
        first_seen=T0 + timedelta(minutes=first_min),
        last_seen=T0 + timedelta(minutes=last_min),
    )


def stored(ctx: AppContext) -> list[Alert]:
    store = AlertStore(ctx.es)
    ctx.es.refresh(store.index)
    return store.search(detector=RULE.detector)


def no_refresh(ctx: AppContext) -> None:
    """The alerts index refreshes only when asked: what a writer did not refresh stays unsearchable."""
    ensure_ready(ctx.es)  # the index template: mappings as usual
    ctx.es.client.indices.create(index=AlertStore(ctx.es).index, settings={"refresh_interval": "-1"})


def run(ctx: AppContext, *matches: Match, pause: float = 0.0) -> None:
    """One detection run's writes: its matches, then the flush."""
    store = AlertStore(ctx.es)
    for m in matches:
        store.record(RULE, m, evidence=SpanEvidence(pause), now=NOW)
    store.flush()


# -- the lock: taken for the run, let go at its end ------------------------------------------
def test_runs_at_once_on_overlapping_matches_end_with_one_alert(ctx: AppContext) -> None:
    jobs: list[Callable[[], object]] = [
        partial(run, ctx, m, pause=0.3) for m in [match(0, 10), match(5, 20), match(8, 14)]
    ]
    assert together(jobs) == []
    (alert,) = stored(ctx)  # whichever run came first, the others joined it
    assert (alert.start, alert.end) == (T0, T0 + timedelta(minutes=20))


def test_processes_at_once_end_with_one_alert(ctx: AppContext) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from soc.config import load_settings
        from soc.context import AppContext
        from soc.alerts.store import AlertStore
        from tests.test_alert_writes import RULE, NOW, SpanEvidence, match
        ctx = AppContext.from_settings(load_settings(es_url={ctx.settings.es_url!r}, index_prefix={ctx.es.prefix!r}))
        first, last = int(sys.argv[1]), int(sys.argv[2])
        store = AlertStore(ctx.es)
        while time.time() < float(sys.argv[3]):
            time.sleep(0.005)
        store.record(RULE, match(first, last), evidence=SpanEvidence(0.3), now=NOW)
        store.flush()
        """
    )
    ensure_ready(ctx.es)
    at = time.time() + 6  # every process is past its imports by then
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(a), str(b), str(at)], cwd=REPO)
        for a, b in [(0, 10), (5, 20), (12, 25)]
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    (alert,) = stored(ctx)
    assert (alert.start, alert.end) == (T0, T0 + timedelta(minutes=25))


def test_a_run_holds_the_lock_until_its_flush_and_then_lets_it_go(ctx: AppContext) -> None:
    store = AlertStore(ctx.es)
    store.record(RULE, match(0, 10), evidence=SpanEvidence(), now=NOW)
    with pytest.raises(LockBusy, match="held by"):
        take(ctx.es, RULE.detector, wait=0.3)
    store.flush()
    take(ctx.es, RULE.detector, wait=0.3)  # released: no wait for its expiry


def test_a_holder_killed_mid_run_blocks_the_next_run_only_until_its_lock_expires(ctx: AppContext) -> None:
    ensure_ready(ctx.es)
    script = textwrap.dedent(
        f"""
        import time
        from soc.config import load_settings
        from soc.context import AppContext
        from soc.alerts.writelock import take
        ctx = AppContext.from_settings(load_settings(es_url={ctx.settings.es_url!r}, index_prefix={ctx.es.prefix!r}))
        take(ctx.es, {RULE.detector!r}, ttl=3.0)
        print("held", flush=True)
        time.sleep(600)
        """
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    began = time.monotonic()
    run(ctx, match(0, 10))
    assert 0.5 < time.monotonic() - began < 30  # waited for the dead holder's expiry, not longer
    assert len(stored(ctx)) == 1


# -- the lock's recent writes: the next holder reads what every earlier one wrote ---------
def test_the_next_run_sees_the_last_runs_alert_before_any_refresh(ctx: AppContext) -> None:
    no_refresh(ctx)
    run(ctx, match(0, 10))
    run(ctx, match(5, 20))  # a later window of the same episode, another writer
    (alert,) = stored(ctx)
    assert alert.id == alert_id(RULE.detector, ENTITY, T0) and alert.end == T0 + timedelta(minutes=20)


def test_a_run_writing_more_than_the_lock_can_name_refreshes_instead(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "RECENT_MAX", 1)
    no_refresh(ctx)
    others = {"source.ip": "198.51.100.7"}
    run(ctx, match(0, 10), match(0, 10, others))  # two alerts: more than the lock names
    run(ctx, match(5, 20), match(5, 20, others))
    assert sorted((a.start, a.end) for a in stored(ctx)) == [(T0, T0 + timedelta(minutes=20))] * 2


def test_a_search_in_the_writing_process_sees_the_runs_alerts(ctx: AppContext) -> None:
    no_refresh(ctx)
    run(ctx, match(0, 10))
    assert [a.start for a in AlertStore(ctx.es).search(detector=RULE.detector)] == [T0]  # no refresh asked


# -- conditional writes: what another writer stored is joined, never overwritten ------------
def test_a_create_whose_id_another_writer_took_joins_the_stored_alert(ctx: AppContext) -> None:
    no_refresh(ctx)
    store = AlertStore(ctx.es)
    store.record(RULE, match(0, 10), evidence=SpanEvidence(), now=NOW)
    # a writer whose lock had expired stored the same episode first (unsearchable: no refresh)
    other = Alert(
        id=alert_id(RULE.detector, ENTITY, T0), detector=RULE.detector, title=RULE.title, severity="high",
        risk_score=60, entity=ENTITY, count=6, start=T0, end=T0 + timedelta(minutes=5), created=NOW, updated=NOW,
        status=AlertStatus.acknowledged,
    )  # fmt: skip
    assert ctx.es.create(store.index, other.id, other.to_doc(prefix=ctx.es.prefix))
    store.flush()
    (alert,) = stored(ctx)
    assert alert.status == AlertStatus.acknowledged and (alert.start, alert.end) == (T0, T0 + timedelta(minutes=10))


def test_a_triage_between_the_runs_read_and_its_write_is_kept(ctx: AppContext) -> None:
    run(ctx, match(0, 10))
    (first,) = stored(ctx)
    store = AlertStore(ctx.es)
    store.record(RULE, match(5, 20), evidence=SpanEvidence(), now=NOW)  # read, decided: grow it
    AlertStore(ctx.es).triage(first.id, AlertStatus.acknowledged, by="k.sato", now=NOW)
    store.flush()
    (alert,) = stored(ctx)
    assert alert.status == AlertStatus.acknowledged and alert.end == T0 + timedelta(minutes=20)


# -- a holder that stalled past its expiry ----------------------------------------------------
def test_a_run_whose_lock_was_taken_over_writes_nothing(ctx: AppContext) -> None:
    store = AlertStore(ctx.es)
    store.record(RULE, match(0, 10), evidence=SpanEvidence(), now=NOW)
    held = store._run.held
    assert held is not None
    held.taken -= 3600  # it stalled past its expiry ...
    ctx.es.put(locks_index(ctx.es), lock_id(RULE.detector), {"owner": "another", "expires_at": time.time() + 30})
    with pytest.raises(VersionConflict):  # ... and another writer took the lock over
        store.flush()
    assert stored(ctx) == []


def test_a_failed_run_writes_nothing_and_lets_the_lock_go(ctx: AppContext) -> None:
    store = AlertStore(ctx.es)
    store.record(RULE, match(0, 10), evidence=SpanEvidence(), now=NOW)
    store.discard()
    take(ctx.es, RULE.detector, wait=0.3)
    assert stored(ctx) == []


def test_a_long_run_commits_as_it_goes(ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "MAX_PENDING", 2)
    no_refresh(ctx)
    store = AlertStore(ctx.es)
    for i in range(5):
        store.record(RULE, match(0, 10, {"source.ip": f"203.0.113.{i}"}), evidence=SpanEvidence(), now=NOW)
    assert len(stored(ctx)) == 4  # two commits of two, refreshed; the fifth waits for the flush
    store.record(RULE, match(5, 20, {"source.ip": "203.0.113.0"}), evidence=SpanEvidence(), now=NOW)
    store.flush()
    alerts = stored(ctx)
    assert len(alerts) == 5 and max(a.end for a in alerts) == T0 + timedelta(minutes=20)


# -- the alerts index template ----------------------------------------------------------------
def _fields(mapping: dict[str, object], path: str = "") -> set[str]:
    out: set[str] = set()
    for name, sub in (mapping.get("properties") or {}).items():  # type: ignore[attr-defined]
        out |= {path + name} | _fields(sub, path + name + ".")
    return out


def test_an_alert_document_is_mapped_by_the_template_before_its_first_write(ctx: AppContext) -> None:
    """A field left to dynamic mapping makes the first write into every new alerts index
    wait for a cluster-state update (about 0.2 s on this node)."""
    ensure_ready(ctx.es)
    index = AlertStore(ctx.es).index
    ctx.es.client.indices.create(index=index)
    before = _fields(ctx.es.client.indices.get_mapping(index=index).body[index]["mappings"])
    rule = AlertRule(
        detector=RULE.detector, title=RULE.title, severity="high", risk_score=60, kind="threshold",  # type: ignore[arg-type]
        mitre=("T1110", "T1110.003"), distinct_field="user.name", suppress_for=timedelta(hours=1),
    )  # fmt: skip
    store = AlertStore(ctx.es)
    store.record(rule, match(0, 10), evidence=SpanEvidence(), now=NOW)
    store.record(rule, match(40, 50), evidence=SpanEvidence(), now=NOW)  # suppressed into it
    store.flush()
    after = _fields(ctx.es.client.indices.get_mapping(index=index).body[index]["mappings"])
    assert after - before == set()
