"""Incidents in Elasticsearch: create once, update with optimistic concurrency."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from soc.context import AppContext
from soc.errors import NotFound
from soc.es.client import EsGateway
from soc.es.indices import ensure_ready, incidents_index
from soc.incidents.models import OPEN_STATUSES, Incident, IncidentStatus

__all__ = ["IncidentStore", "Versioned", "get_incident", "list_incidents"]

Versioned = tuple[Incident, int, int]  # the incident, its _seq_no and _primary_term


class IncidentStore:
    def __init__(self, gw: EsGateway) -> None:
        self._gw = gw

    @property
    def index(self) -> str:
        return incidents_index(self._gw)

    def create(self, incident: Incident) -> bool:
        ensure_ready(self._gw)
        return self._gw.create(self.index, incident.id, incident.model_dump(mode="json"), refresh=True)

    def save(self, incident: Incident, *, seq_no: int, primary_term: int) -> None:
        self._gw.put(
            self.index,
            incident.id,
            incident.model_dump(mode="json"),
            if_seq_no=seq_no,
            if_primary_term=primary_term,
            refresh=True,
        )

    def get_versioned(self, incident_id: str) -> Versioned:
        found = self._gw.get(self.index, incident_id)
        if found is None:
            raise NotFound(f"no incident {incident_id!r}", hint="list incidents with 'soc incidents list'")
        return Incident.model_validate(found["_source"]), int(found["_seq_no"]), int(found["_primary_term"])

    def get(self, incident_id: str) -> Incident:
        return self.get_versioned(incident_id)[0]

    def find_open_by_values(self, values: Iterable[str]) -> Versioned | None:
        """The most recently active open incident sharing any of *values*."""
        wanted = sorted(set(values))
        if not wanted:
            return None
        body = {
            "size": 1,
            "seq_no_primary_term": True,
            "query": {"bool": {"filter": [{"terms": {"entity_values": wanted}}, {"terms": {"status": OPEN_STATUSES}}]}},
            "sort": [{"updated_at": "desc"}, {"id": "asc"}],
        }
        hits = self._gw.search(self.index, body, action="find open incident")["hits"]["hits"]
        if not hits:
            return None
        h = hits[0]
        return Incident.model_validate(h["_source"]), int(h["_seq_no"]), int(h["_primary_term"])

    def list_open(self, *, size: int = 1000) -> list[Versioned]:
        """Every open incident with its version, oldest first (for the deadline check)."""
        body = {
            "size": size,
            "seq_no_primary_term": True,
            "query": {"terms": {"status": OPEN_STATUSES}},
            "sort": [{"opened_at": "asc"}, {"id": "asc"}],
        }
        hits = self._gw.search(self.index, body, action="list open incidents")["hits"]["hits"]
        return [(Incident.model_validate(h["_source"]), int(h["_seq_no"]), int(h["_primary_term"])) for h in hits]

    def list(self, *, status: IncidentStatus | str | None = None, size: int = 1000) -> list[Incident]:
        if status is not None:
            status = IncidentStatus(status)  # an unknown status is an error, not an empty list
        query: dict[str, Any] = {"term": {"status": status.value}} if status else {"match_all": {}}
        body = {"size": size, "query": query, "sort": [{"opened_at": "desc"}, {"id": "asc"}]}
        res = self._gw.search(self.index, body, action="list incidents")
        return [Incident.model_validate(h["_source"]) for h in res["hits"]["hits"]]


def list_incidents(ctx: AppContext, status: IncidentStatus | str | None = None) -> list[Incident]:
    """Incidents, most recently opened first; only those in *status* if given."""
    return IncidentStore(ctx.es).list(status=status)


def get_incident(ctx: AppContext, incident_id: str) -> Incident:
    """One incident; raises NotFound naming the id."""
    return IncidentStore(ctx.es).get(incident_id)
