"""``soc.alerts.queue`` against the real node: filters, newest first, cursor paging both
ways, the capped count, arrivals since a time, id prefixes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from soc.alerts.queue import (
    AmbiguousAlertId,
    QueueFilter,
    arrived_since,
    queue_body,
    queue_page,
    queue_query,
    resolve_alert_id,
)
from soc.context import AppContext
from soc.errors import NotFound, SocError
from tests.webseed import T0, make_alert, put_alerts


def test_query_of_every_filter() -> None:
    f = QueueFilter(
        status="open", severity="high", detector="port-scan", segment="lgwan", user="alice", address="10.3.0.0/16",
        host="ws-1", since=T0, until=T0 + timedelta(hours=1),
    )  # fmt: skip
    assert queue_query(f) == {
        "bool": {
            "filter": [
                {"term": {"soc.alert.status": "open"}},
                {"term": {"soc.alert.severity": "high"}},
                {"term": {"soc.alert.detector": "port-scan"}},
                {"term": {"soc.alert.segments": "lgwan"}},
                {"term": {"related.user": {"value": "alice", "case_insensitive": True}}},
                {"term": {"related.hosts": {"value": "ws-1", "case_insensitive": True}}},
                {"term": {"related.ip": "10.3.0.0/16"}},
                {"range": {"soc.alert.end": {"gte": "2026-11-27T01:00:00+00:00"}}},
                {"range": {"soc.alert.start": {"lte": "2026-11-27T02:00:00+00:00"}}},
            ]
        }
    }
    assert queue_query(QueueFilter(address="10.3.17.9/32"))["bool"]["filter"] == [{"term": {"related.ip": "10.3.17.9"}}]
    with pytest.raises(SocError, match="not an IP address"):
        queue_query(QueueFilter(address="10.3.17"))
    with pytest.raises(SocError, match=r"severity: unknown severity 'hgh' \(fix: one of low, medium, high, critical"):
        queue_query(QueueFilter(severity="hgh"))
    with pytest.raises(SocError, match="status: unknown status 'new'"):
        queue_query(QueueFilter(status="new"))


def test_body_pages_by_cursor_not_by_offset() -> None:
    body = queue_body(QueueFilter(), size=50, after="1764205200000.A-00ff")
    assert "from" not in body and body["search_after"] == [1764205200000, "A-00ff"] and body["size"] == 51
    assert body["sort"] == [{"soc.alert.created": "desc"}, {"soc.alert.id": "desc"}]
    assert queue_body(QueueFilter(), before="1.A-1")["sort"][0] == {"soc.alert.created": "asc"}
    with pytest.raises(SocError, match="not a queue cursor"):
        queue_body(QueueFilter(), after="<script>")
    with pytest.raises(SocError, match="not both"):
        queue_body(QueueFilter(), after="1.A", before="1.A")
    assert QueueFilter(user="a", since=T0).params() == {"user": "a", "since": "2026-11-27T01:00:00+00:00"}


@pytest.mark.es
def test_pages_walk_the_queue_both_ways_newest_first(ctx: AppContext) -> None:
    alerts = [make_alert("port-scan", {"source.ip": f"10.2.0.{n}"}, minutes=n) for n in range(23)]
    # four recorded within one millisecond (Elasticsearch keeps milliseconds): the id orders them
    at = T0 + timedelta(minutes=30, microseconds=123_456)
    same_ms = [
        make_alert("port-scan", {"source.ip": f"10.2.1.{n}"}, minutes=30).model_copy(
            update={"created": at + timedelta(microseconds=100 * n)}
        )
        for n in range(4)
    ]
    put_alerts(ctx, alerts + same_ms)
    newest = sorted((a.id for a in same_ms), reverse=True)  # minute 30, the newest; not by microsecond
    expected = newest + [a.id for a in sorted(alerts, key=lambda a: a.created, reverse=True)]
    f = QueueFilter()
    seen, pages, cursor = [], [], None
    while True:
        page = queue_page(ctx.es, f, size=3, after=cursor)
        pages.append(page)
        seen += [a.id for a in page.alerts]
        assert page.total == 27 and page.total_exact
        if page.older is None:
            break
        cursor = page.older
    assert seen == expected and len(pages) == 9 and pages[0].newer is None
    back = queue_page(ctx.es, f, size=3, before=pages[3].newer)  # from page 4 back to page 3
    assert [a.id for a in back.alerts] == [a.id for a in pages[2].alerts] and back.older and back.newer
    first = queue_page(ctx.es, f, size=3, before=pages[1].newer)
    assert [a.id for a in first.alerts] == expected[:3] and first.newer is None
    capped = queue_page(ctx.es, f, size=3, count_limit=10)
    assert (capped.total, capped.total_exact) == (10, False)


@pytest.mark.es
def test_filters_and_time_range_on_the_node(ctx: AppContext) -> None:
    a = make_alert("failed-login-burst", {"source.ip": "10.3.17.9", "user.name": "alice"}, minutes=0)
    b = make_alert("port-scan", {"source.ip": "10.4.0.1", "host.name": "ws-7"}, minutes=120, severity="low")
    put_alerts(ctx, [a, b])

    def ids(**kw: object) -> list[str]:
        return [x.id for x in queue_page(ctx.es, QueueFilter(**kw)).alerts]  # type: ignore[arg-type]

    assert ids() == [b.id, a.id]
    assert ids(user="alice") == ids(address="10.3.0.0/16") == ids(severity="high") == [a.id]
    assert ids(host="ws-7") == ids(host="WS-7") == ids(detector="port-scan") == [b.id]
    assert ids(user="Alice") == [a.id]  # names in any case
    assert ids(since=T0 + timedelta(minutes=60)) == [b.id]  # a's activity ended before
    assert ids(until=T0 + timedelta(minutes=60)) == [a.id]  # b's began after
    n, fresh = arrived_since(ctx.es, QueueFilter(), T0 + timedelta(minutes=60))
    assert (n, [x.id for x in fresh]) == (1, [b.id])


@pytest.mark.es
def test_resolve_alert_id_by_unique_prefix(ctx: AppContext) -> None:
    alerts = [make_alert("port-scan", {"source.ip": f"10.5.0.{n}"}, minutes=n) for n in range(40)]
    put_alerts(ctx, alerts)
    one = alerts[0].id
    assert resolve_alert_id(ctx.es, one) == one
    unique = next(one[:k] for k in range(3, len(one)) if sum(a.id.startswith(one[:k]) for a in alerts) == 1)
    assert resolve_alert_id(ctx.es, unique) == one
    assert resolve_alert_id(ctx.es, unique[2:].upper()) == one  # "A-" optional, any case
    with pytest.raises(AmbiguousAlertId, match="matches 40 alerts") as err:
        resolve_alert_id(ctx.es, "A-")
    assert len(err.value.matches) == 5 and "type more characters" in str(err.value)
    with pytest.raises(NotFound, match="no alert id starts with"):
        resolve_alert_id(ctx.es, "A-zzzz")
    with pytest.raises(NotFound):
        resolve_alert_id(ctx.es, "x" * 10_000)
