"""Report editions in ``{prefix}-reports``: numbered per incident, each stored with its
renderings as issued (see ``soc.reports.editions``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from soc.alerts.models import Alert
from soc.errors import SocError
from soc.es.client import EsGateway
from soc.es.indices import ensure_ready, reports_index
from soc.incidents.models import Incident
from soc.reports.editions import Edition, edition_id, facts_of, is_final

__all__ = ["EditionStore", "Renderer"]

_ATTEMPTS = 20
Renderer = Callable[[Edition], dict[str, str]]  # an edition -> its renderings ("<lang>.<fmt>" -> text)


class EditionStore:
    """Editions in ``{prefix}-reports``, numbered per incident."""

    def __init__(self, gw: EsGateway) -> None:
        self._gw = gw

    @property
    def index(self) -> str:
        return reports_index(self._gw)

    def get(self, incident_id: str, number: int) -> Edition | None:
        found = self._gw.get(self.index, edition_id(incident_id, number))
        return Edition.model_validate(found["_source"]) if found else None

    def latest(self, incident_id: str) -> Edition | None:
        """The highest-numbered edition (a realtime walk by id: no refresh needed)."""
        body = {
            "size": 1,
            "query": {"term": {"incident_id": incident_id}},
            "sort": [{"number": "desc"}],
        }
        self._gw.refresh(self.index)
        hits = self._gw.search(self.index, body, action="latest report edition")["hits"]["hits"]
        number = int(hits[0]["_source"]["number"]) if hits else 0
        latest = None
        while True:  # a document created since the refresh is found by id
            nxt = self.get(incident_id, number + 1)
            if nxt is None:
                break
            latest, number = nxt, number + 1
        return latest if latest is not None else (self.get(incident_id, number) if number else None)

    def all_for(self, incident_id: str) -> list[Edition]:
        """Every edition of the incident, oldest first, without their renderings."""
        self._gw.refresh(self.index)
        body = {
            "size": 1000,
            "_source": {"excludes": ["renderings"]},
            "query": {"term": {"incident_id": incident_id}},
            "sort": [{"number": "asc"}],
        }
        hits = self._gw.search(self.index, body, action="list report editions")["hits"]["hits"]
        return [Edition.model_validate(h["_source"]) for h in hits]

    def record(
        self,
        incident: Incident,
        alerts: list[Alert],
        *,
        now: datetime,
        force: bool = False,
        render: Renderer | None = None,
    ) -> Edition:
        """The edition for the incident as it is now: the latest one when nothing changed
        (unless *force*), else a new one numbered after it, stored with what *render*
        makes of it (the renderings as issued)."""
        ensure_ready(self._gw)
        facts = facts_of(incident, alerts, now)
        digest = facts.digest()
        for _attempt in range(_ATTEMPTS):
            latest = self.latest(incident.id)
            if latest is not None and latest.hash == digest and not force:
                return self._with_previous(latest)
            edition = Edition(
                incident_id=incident.id,
                number=(latest.number if latest else 0) + 1,
                at=now,
                final=is_final(incident),
                hash=digest,
                facts=facts,
            )
            edition = edition.model_copy(
                update={"previous": latest.facts if latest else None, "previous_at": latest.at if latest else None}
            )
            if render is not None:
                edition = edition.model_copy(update={"renderings": render(edition)})
            if self._gw.create(self.index, edition.doc_id, edition.to_doc(), refresh=True):
                return edition
            force = False  # somebody else took the number: theirs may be ours
        raise SocError(f"could not number a report edition for {incident.id}")

    def _with_previous(self, edition: Edition) -> Edition:
        before = self.get(edition.incident_id, edition.number - 1) if edition.number > 1 else None
        if before is None:
            return edition
        return edition.model_copy(update={"previous": before.facts, "previous_at": before.at})
