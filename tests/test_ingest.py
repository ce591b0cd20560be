"""Ingest against the real node: routing, normalisation, every rejection with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from soc.context import AppContext
from soc.errors import IngestError
from soc.es.indices import event_index
from soc.es.ingest import ingest_files, route

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
    assert flow["soc"] == {"source_segment": "mynumber", "destination_segment": "external", "segment": "mynumber"}
    assert ctx.es.count(event_index(ctx.es, "other")) == 1


def test_reingesting_does_not_duplicate(ctx: AppContext) -> None:
    ingest_files(ctx.es, [FIXTURE], segments=ctx.segments)
    again = ingest_files(ctx.es, [FIXTURE], segments=ctx.segments)
    assert again.indexed_total == 4
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
