"""The one wrapper that owns the Elasticsearch client.

Timeouts, retries, authentication and TLS are configured here; every error of the
``elasticsearch`` package is translated into ``soc.errors`` at this boundary and
chained with ``from``. Services take an ``EsGateway`` and never import the client.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import elasticsearch
import orjson
from elasticsearch import Elasticsearch, helpers

from soc.config import Settings
from soc.errors import ElasticsearchBusy, ElasticsearchRequestError, ElasticsearchUnavailable, NotFound, VersionConflict
from soc.es.outage import quiet_transport_logs
from soc.textsafe import one_line, truncate

_BULK_ANSWER = "items.*._index,items.*._id,items.*.status,items.*.error"
BULK_CHUNK_BYTES = 8 << 20  # per _bulk request: in the 5-15 MB Elasticsearch recommends

__all__ = ["BulkResult", "EsGateway", "build_client"]

log = logging.getLogger(__name__)


def build_client(settings: Settings) -> Elasticsearch:
    quiet_transport_logs()  # one clean error line per failure, not a traceback per retry
    kwargs: dict[str, Any] = {
        "request_timeout": settings.es_timeout,
        "max_retries": settings.es_max_retries,
        "retry_on_timeout": True,
    }
    if settings.es_url.startswith("https"):
        kwargs["verify_certs"] = settings.es_verify_certs
        if settings.es_ca_certs:
            kwargs["ca_certs"] = str(settings.es_ca_certs)
        if not settings.es_verify_certs:
            log.warning("TLS certificate verification is OFF for %s (es_verify_certs=false)", settings.es_url)
            kwargs["ssl_show_warn"] = False
    if settings.es_api_key is not None:
        kwargs["api_key"] = settings.es_api_key.get_secret_value()
    elif settings.es_username and settings.es_password is not None:
        kwargs["basic_auth"] = (settings.es_username, settings.es_password.get_secret_value())
    return Elasticsearch(settings.es_url, **kwargs)


@contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Turn client errors into soc errors that say what we were doing."""
    try:
        yield
    except elasticsearch.NotFoundError as exc:
        raise NotFound(f"{action}: not found ({_reason(exc)})") from exc
    except elasticsearch.SSLError as exc:
        reason = _tls_reason(exc)
        plain = "WRONG_VERSION_NUMBER" in reason  # TLS spoken to a plain-HTTP port
        raise ElasticsearchUnavailable(
            f"{action}: TLS failure talking to Elasticsearch: {reason}",
            hint="the node answers plain HTTP: use http:// in SOC_ES_URL" if plain else TLS_HINT,
        ) from exc
    except (elasticsearch.ConnectionError, elasticsearch.ConnectionTimeout) as exc:
        raise ElasticsearchUnavailable(
            f"{action}: Elasticsearch is unreachable ({type(exc).__name__})",
            hint="start it with 'soc es up' or set SOC_ES_URL",
        ) from exc
    except elasticsearch.ConflictError as exc:
        raise VersionConflict(f"{action}: HTTP 409: {_reason(exc)}") from exc
    except elasticsearch.ApiError as exc:
        busy = exc.meta.status in BUSY_STATUSES
        error = ElasticsearchBusy if busy else ElasticsearchRequestError
        raise error(f"{action}: HTTP {exc.meta.status}: {_reason(exc)}") from exc
    except elasticsearch.TransportError as exc:
        raise ElasticsearchUnavailable(f"{action}: {type(exc).__name__}: {exc}") from exc


BUSY_STATUSES = frozenset({429, 502, 503, 504})  # after the client's own retries: ElasticsearchBusy

TLS_HINT = (
    "give the CA certificate that signed the node's certificate in es_ca_certs (soc.toml) "
    "or SOC_ES_CA_CERTS; check that SOC_ES_URL names the host in the certificate"
)


_HOST_HINT = "issue it with subjectAltName=DNS:<host> or IP:<address>, the host SOC_ES_URL names"


def _tls_reason(exc: Exception) -> str:
    """The innermost reason of a TLS failure, on one line, e.g. 'certificate verify failed:
    self-signed certificate'."""
    text = " ".join(str(exc).split())
    if "no appropriate subjectAltName" in text:  # urllib3 refuses a certificate that names its host only in the CN
        return f"the certificate has no subjectAltName for the host (a CN alone is not checked): {_HOST_HINT}"
    if "No such file or directory" in text:
        return "the CA certificate file (es_ca_certs, SOC_ES_CA_CERTS) does not exist"
    found = re.search(r"certificate verify failed: [^(\]]*", text) or re.search(r"\[SSL[^]]*\] [^(\]]*", text)
    return truncate((found.group(0) if found else text or type(exc).__name__).strip(" ,;:."), 200)


def _reason(exc: elasticsearch.ApiError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    err = body.get("error")
    if isinstance(err, dict):
        root = (err.get("root_cause") or [err])[0]
        return truncate(one_line(f"{root.get('type')}: {root.get('reason')}"), 500)
    # not an Elasticsearch error body (a proxy's HTML page, plain text): its first words
    return truncate(one_line(" ".join(str(exc.message).split())), 200)


class BulkResult:
    def __init__(self) -> None:
        self.ok = 0
        self.per_index: Counter[str] = Counter()
        self.errors: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        return f"BulkResult(ok={self.ok}, errors={len(self.errors)})"


class EsGateway:
    """Index-prefix aware access to Elasticsearch."""

    def __init__(self, client: Elasticsearch, *, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self.templates_ready = False

    @classmethod
    def from_settings(cls, settings: Settings) -> EsGateway:
        return cls(build_client(settings), prefix=settings.index_prefix)

    def index_name(self, suffix: str) -> str:
        return f"{self.prefix}-{suffix}"

    # -- reads -------------------------------------------------------------
    def ping(self) -> bool:
        """Does a node answer? One quick try, no retries, and no transport log noise: a node
        that is not there yet is an expected answer (the demo then starts the local one)."""
        quiet = logging.getLogger("elastic_transport")
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)
        try:
            return bool(self.client.options(max_retries=0, request_timeout=3).ping())
        except Exception:  # noqa: BLE001 - ping answers a yes/no question
            return False
        finally:
            # a failed ping must not leave the node marked dead for the next request
            pool = self.client.transport.node_pool
            for node in pool.all():
                pool.mark_live(node)
            quiet.setLevel(level)

    def info(self) -> dict[str, Any]:
        with translate_errors("cluster info"):
            return dict(self.client.info())

    def search(self, index: str | list[str], body: Mapping[str, Any], *, action: str = "search") -> dict[str, Any]:
        with translate_errors(action):
            return dict(
                self.client.search(index=index, body=dict(body), ignore_unavailable=True, allow_no_indices=True)
            )

    def open_pit(self, index: str | list[str], *, keep_alive: str = "1m") -> str:
        """A point in time over *index*: later searches with its id see the data as now."""
        with translate_errors("open point in time"):
            res = self.client.open_point_in_time(index=index, keep_alive=keep_alive, ignore_unavailable=True)
        return str(res["id"])

    def close_pit(self, pit: str) -> None:
        with translate_errors("close point in time"):
            self.client.options(ignore_status=404).close_point_in_time(id=pit)

    def search_pit(self, body: Mapping[str, Any], *, action: str = "search") -> dict[str, Any]:
        """A search whose body names a point in time (``pit``): no index, the PIT's."""
        with translate_errors(action):
            return dict(self.client.search(body=dict(body)))

    def msearch(
        self, index: str | list[str], bodies: Sequence[Mapping[str, Any]], *, action: str = "msearch"
    ) -> list[dict[str, Any]]:
        """Several searches in one request; answers in order. A failed search raises."""
        if not bodies:
            return []
        header = {"index": index, "ignore_unavailable": True, "allow_no_indices": True}
        searches: list[Mapping[str, Any]] = []
        for body in bodies:
            searches += [header, dict(body)]
        with translate_errors(action):
            res = self.client.msearch(searches=searches)
        out = []
        for answer in res["responses"]:
            if "error" in answer:
                err = answer["error"]
                root = (err.get("root_cause") or [err])[0] if isinstance(err, dict) else {}
                raise ElasticsearchRequestError(
                    f"{action}: HTTP {answer.get('status')}: {root.get('type')}: {root.get('reason')}"
                )
            out.append(dict(answer))
        return out

    def get(self, index: str, doc_id: str) -> dict[str, Any] | None:
        """The document with its ``_seq_no``/``_primary_term``, or None. Realtime: no refresh needed."""
        try:
            with translate_errors(f"get {index}/{doc_id}"):
                return dict(self.client.get(index=index, id=doc_id))
        except NotFound:
            return None

    def mget(self, index: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The ``_source`` of each document that exists, by id (absent ids are left out)."""
        return {d["_id"]: dict(d["_source"]) for d in self.mget_docs(index, ids)}

    def mget_docs(self, index: str, ids: Sequence[str]) -> list[dict[str, Any]]:
        """The documents of *ids* that exist, in the order asked, each as ``get`` returns it
        (with ``_seq_no``/``_primary_term``), in one request. Realtime: no refresh needed."""
        if not ids:
            return []
        with translate_errors(f"mget {index}"):
            res = self.client.options(ignore_status=404).mget(index=index, ids=list(ids))
        return [dict(d) for d in res.get("docs", []) if d.get("found")]

    def count(self, index: str | list[str], query: Mapping[str, Any] | None = None) -> int:
        with translate_errors("count"):
            res = self.client.count(
                index=index, query=dict(query) if query else None, ignore_unavailable=True, allow_no_indices=True
            )
            return int(res["count"])

    # -- writes ------------------------------------------------------------
    def create(self, index: str, doc_id: str, doc: Mapping[str, Any], *, refresh: bool = False) -> bool:
        """Create a document; False if one with that id already exists (idempotent writes)."""
        try:
            with translate_errors(f"create {index}/{doc_id}"):
                self.client.create(index=index, id=doc_id, document=dict(doc), refresh=refresh)
            return True
        except VersionConflict:
            return False

    def put(
        self,
        index: str,
        doc_id: str,
        doc: Mapping[str, Any],
        *,
        if_seq_no: int | None = None,
        if_primary_term: int | None = None,
        refresh: bool = False,
    ) -> None:
        """Write a whole document, optionally only if it has not changed since it was read."""
        kwargs: dict[str, Any] = {}
        if if_seq_no is not None and if_primary_term is not None:
            kwargs = {"if_seq_no": if_seq_no, "if_primary_term": if_primary_term}
        with translate_errors(f"write {index}/{doc_id}"):
            self.client.index(index=index, id=doc_id, document=dict(doc), refresh=refresh, **kwargs)

    def put_versioned(
        self,
        index: str,
        doc_id: str,
        doc: Mapping[str, Any],
        version: tuple[int, int] | None,
    ) -> tuple[int, int]:
        """Write a whole document over *version* (``(_seq_no, _primary_term)`` as read or
        last written), or create it when *version* is None; return the new version, so the
        writer's next write can be conditional on this one (leases, fencing, delivery
        claims). A changed (or, to create, existing) document raises ``VersionConflict``."""
        if version is None:
            kwargs: dict[str, Any] = {"op_type": "create"}
        else:
            kwargs = {"if_seq_no": version[0], "if_primary_term": version[1]}
        with translate_errors(f"write {index}/{doc_id}"):
            res = self.client.index(index=index, id=doc_id, document=dict(doc), **kwargs)
        return int(res["_seq_no"]), int(res["_primary_term"])

    def refresh(self, index: str | list[str]) -> None:
        with translate_errors("refresh"):
            self.client.indices.refresh(index=index, ignore_unavailable=True, allow_no_indices=True)

    def bulk(
        self,
        actions: Iterable[dict[str, Any]],
        *,
        chunk_size: int = 2000,
        chunk_bytes: int = BULK_CHUNK_BYTES,
        on_progress: Callable[[int], None] | None = None,
        on_result: Callable[[bool, dict[str, Any]], None] | None = None,
        concurrency: int = 1,
    ) -> BulkResult:
        """Bulk-index actions; every rejected document is kept with its reason, never dropped.

        *on_result* is called once per action, in the order the actions were given, with
        ``(ok, {"index", "id", "status", "reason"})``, always in the calling thread.
        With *concurrency* > 1 the actions are still produced in the calling thread, chunk
        by chunk, while up to *concurrency* chunks are sent by worker threads (so preparing
        the next chunk overlaps Elasticsearch indexing this one); at most
        ``concurrency + 1`` chunks are held at a time. A chunk (one ``_bulk`` request) ends
        at *chunk_size* actions or at *chunk_bytes* of ``_source`` given as bytes, so memory
        stays bounded when lines are large (1 MB lines: a few per chunk, not 2,000).
        """
        result = BulkResult()

        def handle(ok: bool, item: dict[str, Any]) -> None:
            op = next(iter(item.values()))
            info = {"index": op.get("_index"), "id": op.get("_id"), "status": op.get("status")}
            if ok:
                result.ok += 1
                result.per_index[str(op.get("_index"))] += 1
            else:
                info["reason"] = _bulk_reason(op.get("error"))
                result.errors.append(info)
            if on_result is not None:
                on_result(ok, info)
            if on_progress is not None:
                on_progress(1)

        def send(chunk: Iterable[dict[str, Any]]) -> Iterable[tuple[bool, dict[str, Any]]]:
            return helpers.streaming_bulk(
                self.client,
                chunk,
                chunk_size=chunk_size,
                raise_on_error=False,
                raise_on_exception=True,
                max_retries=3,
                initial_backoff=1,
                max_chunk_bytes=chunk_bytes,
                expand_action_callback=_expand_action,  # type: ignore[arg-type]  # bytes headers: see there
                filter_path=_BULK_ANSWER,  # what handle() reads, not _version, _shards, … of every item
            )

        with translate_errors("bulk"):
            if concurrency <= 1:
                for ok, item in send(actions):
                    handle(ok, item)
                return result
            with ThreadPoolExecutor(concurrency, thread_name_prefix="soc-bulk") as pool:
                sent: deque[Future[list[tuple[bool, dict[str, Any]]]]] = deque()
                for chunk in _chunks(actions, chunk_size, chunk_bytes):
                    sent.append(pool.submit(lambda c=chunk: list(send(c))))  # type: ignore[misc]
                    while len(sent) > concurrency:
                        for ok, item in sent.popleft().result():
                            handle(ok, item)
                while sent:
                    for ok, item in sent.popleft().result():
                        handle(ok, item)
        return result

    def delete_indices(self, pattern: str) -> None:
        with translate_errors(f"delete {pattern}"):
            self.client.indices.delete(index=pattern, ignore_unavailable=True, allow_no_indices=True)

    def delete(
        self, index: str, doc_id: str, *, if_seq_no: int | None = None, if_primary_term: int | None = None
    ) -> bool:
        """Delete a document, optionally only if it has not changed since it was read;
        False if it does not exist. A changed document raises ``VersionConflict``."""
        kwargs: dict[str, Any] = {}
        if if_seq_no is not None and if_primary_term is not None:
            kwargs = {"if_seq_no": if_seq_no, "if_primary_term": if_primary_term}
        try:
            with translate_errors(f"delete {index}/{doc_id}"):
                self.client.delete(index=index, id=doc_id, refresh=True, **kwargs)
        except NotFound:
            return False
        return True

    def close(self) -> None:
        self.client.close()


def _expand_action(action: dict[str, Any]) -> tuple[Any, Any]:
    """The client's ``expand_action``, with the action line already serialised by orjson:
    the client's serializer passes bytes on as they are (its typing says a dict), and its
    ``json`` for 2,000 action lines per request was a tenth of ingest's CPU."""
    header, source = helpers.expand_action(action)
    try:
        # copied: orjson's bytes keep a 4 KB buffer each (6,000 action lines in flight: 24 MB)
        return bytes(memoryview(orjson.dumps(header))), source
    except TypeError:  # orjson.JSONEncodeError: left to the client's serializer
        return header, source


def _chunks(actions: Iterable[dict[str, Any]], size: int, max_bytes: int) -> Iterator[list[dict[str, Any]]]:
    """Lists of at most ``size`` actions whose ``_source`` bytes stay under ``max_bytes``
    (an action over it alone is a chunk of its own)."""
    chunk: list[dict[str, Any]] = []
    held = 0
    for action in actions:
        source = action.get("_source")
        held += len(source) if isinstance(source, bytes | str) else 0
        chunk.append(action)
        if len(chunk) >= size or held >= max_bytes:
            yield chunk
            chunk, held = [], 0
    if chunk:
        yield chunk


def _bulk_reason(error: Any) -> str:
    if isinstance(error, dict):
        reason = f"{error.get('type')}: {error.get('reason')}"
        cause = error.get("caused_by")
        if isinstance(cause, dict):
            reason += f" (caused by {cause.get('type')}: {cause.get('reason')})"
        return reason
    return str(error)
