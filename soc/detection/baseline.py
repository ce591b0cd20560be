"""What a ``new_term`` detector has already seen, persisted in the state index.

One document per (detector, key, term) with its first and last sighting. It is learnt
by Elasticsearch aggregations: seeded once over the detector's history, then extended
by every window evaluated, so a restart continues from it and never rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from soc.errors import ElasticsearchRequestError
from soc.es.client import EsGateway
from soc.es.indices import ensure_ready, state_index
from soc.vocab import iso, parse_time

__all__ = ["LAST_SEEN_STEP", "BaselineStore", "Sighting"]

# "last seen" is written when it moves by at least this much: it only decides whether a value
# has gone stale after the detector's history (days), so a day's precision is plenty
LAST_SEEN_STEP = timedelta(days=1)


@dataclass
class Sighting:
    first_seen: datetime
    last_seen: datetime


class BaselineStore:
    """Sightings of one detector; with ``write=False`` changes stay in memory (``--explain``)."""

    def __init__(self, gw: EsGateway, detector_id: str, *, write: bool = True) -> None:
        self._gw = gw
        self.detector_id = detector_id
        self.write = write
        self._overlay: dict[str, Sighting] = {}
        self._meta_overlay: dict[str, Any] | None = None
        self._stored: dict[str, Sighting] = {}  # what Elasticsearch holds, as far as this store knows

    def doc_id(self, pair: dict[str, str]) -> str:
        raw = json.dumps([self.detector_id, sorted(pair.items())], ensure_ascii=False)
        return f"baseline:{self.detector_id}:" + hashlib.sha256(raw.encode()).hexdigest()[:32]

    @property
    def _meta_id(self) -> str:
        return f"baseline-meta:{self.detector_id}"

    def meta(self) -> dict[str, Any] | None:
        """``{"covered_from", "covered_until", "earliest"}`` of what was learnt, or None."""
        if self._meta_overlay is not None:
            return self._meta_overlay
        found = self._gw.get(state_index(self._gw), self._meta_id)
        return dict(found["_source"]) if found else None

    def save_meta(self, *, covered_from: datetime, covered_until: datetime, earliest: datetime | None) -> None:
        doc = {
            "kind": "baseline-meta",
            "detector": self.detector_id,
            "covered_from": iso(covered_from),
            "covered_until": iso(covered_until),
            "earliest": iso(earliest) if earliest else None,
        }
        if not self.write:
            self._meta_overlay = doc
            return
        ensure_ready(self._gw)
        self._gw.put(state_index(self._gw), self._meta_id, doc)

    def lookup(self, pairs: list[dict[str, str]]) -> dict[str, Sighting]:
        ids = [self.doc_id(p) for p in pairs]
        found: dict[str, Sighting] = {}
        for i in range(0, len(ids), 1000):
            chunk = ids[i : i + 1000]
            for doc_id, src in self._gw.mget(state_index(self._gw), chunk).items():
                found[doc_id] = Sighting(parse_time(src["first_seen"]), parse_time(src["last_seen"]))
                self._stored[doc_id] = found[doc_id]
        for doc_id in ids:
            if doc_id in self._overlay:
                found[doc_id] = self._overlay[doc_id]
        return found

    def remember(self, sightings: Iterable[tuple[dict[str, str], Sighting]], known: dict[str, Sighting]) -> int:
        """Merge sightings into the baseline (earliest first, latest last); returns documents written."""
        actions: list[dict[str, Any]] = []
        index = state_index(self._gw)
        for pair, s in sightings:
            doc_id = self.doc_id(pair)
            old = known.get(doc_id) or self._overlay.get(doc_id)
            merged = Sighting(min(s.first_seen, old.first_seen), max(s.last_seen, old.last_seen)) if old else s
            if old and merged.first_seen == old.first_seen and merged.last_seen == old.last_seen:
                continue
            known[doc_id] = merged
            if not self.write:
                self._overlay[doc_id] = merged
                continue
            stored = self._stored.get(doc_id)
            if (
                stored
                and stored.first_seen == merged.first_seen
                and merged.last_seen - stored.last_seen < LAST_SEEN_STEP
            ):
                continue  # only "last seen" moved, and by little: not worth a write every window
            self._stored[doc_id] = merged
            actions.append(
                {
                    "_op_type": "index",
                    "_index": index,
                    "_id": doc_id,
                    "_source": {
                        "kind": "baseline",
                        "detector": self.detector_id,
                        "pair": [f"{k}={v}" for k, v in sorted(pair.items())],
                        "first_seen": iso(merged.first_seen),
                        "last_seen": iso(merged.last_seen),
                    },
                }
            )
        if actions:
            ensure_ready(self._gw)
            result = self._gw.bulk(actions)
            if result.errors:
                raise ElasticsearchRequestError(
                    f"baseline of {self.detector_id}: {len(result.errors)} write(s) failed: {result.errors[0]}"
                )
        return len(actions)
