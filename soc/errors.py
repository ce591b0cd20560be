"""The one exception tree of soc.

Every error a user can cause names where it comes from: the file, the field path
inside it, and the detector or playbook id, e.g.::

    detectors/auth/failed_login_burst.yml: condition.count.gte: must be > 0

Third-party errors (elasticsearch, pydantic, yaml) are translated at the boundary
and chained with ``from``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "ConfigError",
    "DefinitionError",
    "DefinitionErrors",
    "ElasticsearchBusy",
    "ElasticsearchRequestError",
    "ElasticsearchUnavailable",
    "IngestError",
    "NotFound",
    "SocError",
    "VersionConflict",
]


class SocError(Exception):
    """Root of every error raised by soc."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        field: str | None = None,
        object_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.field = field
        self.object_id = object_id
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        where = ": ".join(p for p in (self.file, self.field) if p)
        text = f"{where}: {self.message}" if where else self.message
        if self.object_id and self.object_id not in text:
            text = f"{text} [{self.object_id}]"
        if self.hint:
            text = f"{text} (fix: {self.hint})"
        return text


class ConfigError(SocError):
    """The configuration file or a SOC_* variable is invalid."""


class DefinitionError(SocError):
    """A detector or playbook file is invalid."""


class DefinitionErrors(SocError):
    """Several definition files are invalid: every error, collected in one pass."""

    def __init__(self, errors: Iterable[DefinitionError], *, loaded: Iterable[Any] = ()) -> None:
        self.errors = list(errors)
        # what did load (a directory with one broken file still has the others), so checks
        # across definitions (playbook triggers → detectors) can go on and list every error
        self.loaded = list(loaded)
        lines = "\n".join(f"  {e.render()}" for e in self.errors)
        super().__init__(f"{len(self.errors)} invalid definition(s):\n{lines}")

    def render(self) -> str:  # the message already lists every error
        return self.message


class ElasticsearchUnavailable(SocError):
    """Elasticsearch could not be reached (connection refused, timeout, TLS failure)."""


class ElasticsearchRequestError(SocError):
    """Elasticsearch answered with an error."""


class ElasticsearchBusy(ElasticsearchRequestError):
    """Elasticsearch answered 429, 502, 503 or 504 even after the client's retries: it is
    up but cannot serve now (overloaded, starting, a shard moving). Transient: long-running
    jobs treat it as an outage and retry later."""


class VersionConflict(ElasticsearchRequestError):
    """Elasticsearch answered HTTP 409: the document was changed (or created) by another
    writer since it was read. Raised by the gateway for every 409 so callers catch a class,
    never search the message; ``soc.es.versioned`` re-reads and re-applies."""


class IngestError(SocError):
    """An input file cannot be read at all (single bad documents are reported, not raised)."""


class NotFound(SocError):
    """An alert, incident, detector or playbook id does not exist."""
