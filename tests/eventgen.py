"""Small hand-made ECS events for engine tests (the simulator covers realistic traffic)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from soc.context import AppContext
from soc.es.indices import ensure_ready, event_index
from soc.network.segments import enrich_segments
from soc.vocab import iso

_ids = itertools.count()


def auth_failure(at: datetime, user: str, source_ip: str, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@timestamp": iso(at),
        "event": {
            "id": f"t-{next(_ids)}",
            "kind": "event",
            "category": ["authentication"],
            "type": ["start"],
            "action": "logon-failed",
            "outcome": "failure",
            "code": "4625",
        },
        "user": {"name": user},
        "source": {"ip": source_ip},
        "host": {"name": "DC01"},
    }
    doc.update(extra)
    return doc


def flow(at: datetime, src: str, dst: str, port: int) -> dict[str, Any]:
    return {
        "@timestamp": iso(at),
        "event": {
            "id": f"t-{next(_ids)}",
            "kind": "event",
            "category": ["network"],
            "type": ["connection"],
            "outcome": "failure",
        },
        "source": {"ip": src},
        "destination": {"ip": dst, "port": port},
        "network": {"transport": "tcp"},
    }


def spread(start: datetime, count: int, every: timedelta) -> list[datetime]:
    return [start + i * every for i in range(count)]


def index(ctx: AppContext, docs: Iterable[dict[str, Any]], dataset: str = "auth") -> int:
    ensure_ready(ctx.es)
    idx = event_index(ctx.es, dataset)
    result = ctx.es.bulk(
        {"_index": idx, "_id": d["event"]["id"], "_source": enrich_segments(d, ctx.segments)} for d in docs
    )
    assert not result.errors, result.errors[:3]
    ctx.es.refresh(idx)
    return result.ok
