"""Follow offsets in Elasticsearch's state index, one document per followed path."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from soc.collect.models import Offset
from soc.es.client import EsGateway
from soc.es.indices import ensure_ready, state_index
from soc.vocab import iso

__all__ = ["OffsetStore"]


class OffsetStore:
    """Reads and writes ``Offset`` documents; the id is a hash of the absolute path."""

    def __init__(self, gw: EsGateway) -> None:
        self._gw = gw

    @staticmethod
    def doc_id(path: str) -> str:
        return "follow-" + hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:40]

    def load(self, path: str) -> Offset | None:
        found = self._gw.get(state_index(self._gw), self.doc_id(path))
        return Offset.from_doc(found["_source"]) if found else None

    def save(self, offset: Offset) -> None:
        ensure_ready(self._gw)
        doc = offset.to_doc() | {"updated": iso(datetime.now(UTC))}
        self._gw.put(state_index(self._gw), self.doc_id(offset.path), doc)
