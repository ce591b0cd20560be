"""``Notifier``: every delivery recorded in Elasticsearch, sent once, retried with backoff.

For each (notification key, destination) there is exactly one document in
``{prefix}-deliveries`` with id ``sha256(key, destination)``:

1. it is created with ``op_type=create`` *before* anything is sent (status ``pending``);
   a second ``notify`` of the same key - another call, a re-run, a restarted process -
   finds it and never sends a ``sent`` delivery again;
2. whoever sends holds a *lease* (``lease_until``), taken with ``if_seq_no`` so two
   processes never send the same delivery at the same time;
3. one run tries ``attempts_per_run`` times with exponential sleeps (``retry_delay``),
   then the record becomes ``sent`` or ``failed`` with ``next_attempt_at`` doubling from
   ``backoff``; ``retry_pending()`` (called by the scheduler every minute) retries the
   due ones until ``max_attempts``.

Delivery is at least once: if the process dies between the channel accepting the
message and the record saying ``sent``, the lease expires and the message is sent
again (e-mails keep the same Message-ID so clients can fold them).

Destinations are sent to concurrently, each in its own thread with its own timeouts:
one failing destination neither delays nor cancels the others. Records, logs and
errors carry ``Destination.display`` and scrubbed messages, never a secret.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from soc.clock import Clock
from soc.errors import ElasticsearchRequestError
from soc.es.client import EsGateway
from soc.es.indices import deliveries_index, ensure_ready
from soc.notify.channels import Channel, build_channel
from soc.notify.models import (
    Delivery,
    DeliveryError,
    DeliveryStatus,
    Notification,
    NotifySettings,
    OutboxDestination,
    SmtpDestination,
    WebhookDestination,
    delivery_id,
    routes_to,
    scrub,
)

if TYPE_CHECKING:
    from soc.context import AppContext

__all__ = ["ChannelFactory", "Notifier", "Sleeper"]

log = logging.getLogger(__name__)

AnyDestination = SmtpDestination | WebhookDestination | OutboxDestination
Sleeper = Callable[[float], None]
ChannelFactory = Callable[..., Channel]

_MAX_WORKERS = 8
_RETRY_BATCH = 200
_LEASE_MARGIN = timedelta(seconds=60)


class Notifier:
    """Sends notifications to destinations and keeps one delivery record per pair."""

    def __init__(
        self,
        *,
        gw: EsGateway,
        settings: NotifySettings,
        clock: Clock,
        sleeper: Sleeper = time.sleep,
        channel_factory: ChannelFactory = build_channel,
    ) -> None:
        self._gw = gw
        self._settings = settings
        self._clock = clock
        self._sleep = sleeper
        self._channel_factory = channel_factory
        self._destinations: dict[str, AnyDestination] = {d.name: d for d in settings.destinations}

    @classmethod
    def from_context(cls, ctx: AppContext, *, sleeper: Sleeper = time.sleep) -> Notifier:
        """The notifier of the running app; without configured destinations, the outbox in ``out_dir``."""
        settings = ctx.settings.notify
        if not settings.destinations:
            outbox = OutboxDestination(kind="outbox", name="outbox", directory=ctx.settings.out_dir / "outbox")
            settings = settings.model_copy(update={"destinations": [outbox]})
        return cls(gw=ctx.es, settings=settings, clock=ctx.clock, sleeper=sleeper)

    @property
    def destinations(self) -> list[AnyDestination]:
        return list(self._destinations.values())

    # -- public API --------------------------------------------------------
    def notify(
        self, notification: Notification, *, destinations: Sequence[AnyDestination] | None = None
    ) -> list[Delivery]:
        """Deliver *notification* to every routed destination (or exactly *destinations*).

        Returns one record per destination, in order: ``sent`` (now or earlier),
        ``failed`` (to be retried by ``retry_pending``) or ``pending`` (another process
        holds it). Raises only if Elasticsearch fails, after every destination has run.
        """
        if destinations is None:
            targets = [d for d in self._destinations.values() if routes_to(d, notification)]
        else:
            targets = list(destinations)
            for d in targets:
                self._destinations.setdefault(d.name, d)
        if not targets:
            log.info("notification %s (%s): no destination routed", notification.key, notification.severity.value)
            return []
        ensure_ready(self._gw)
        return self._run([partial(self._deliver_new, notification, d) for d in targets])

    def retry_pending(self) -> list[Delivery]:
        """Retry every due ``pending``/``failed`` delivery (for the scheduler, every minute)."""
        ensure_ready(self._gw)
        now = self._clock.now()
        res = self._gw.search(
            deliveries_index(self._gw),
            {
                "size": _RETRY_BATCH,
                "seq_no_primary_term": True,
                "sort": [{"next_attempt_at": "asc"}],
                "query": {
                    "bool": {
                        "filter": [
                            {"terms": {"status": [DeliveryStatus.pending.value, DeliveryStatus.failed.value]}},
                            {"range": {"next_attempt_at": {"lte": now.isoformat()}}},
                            {"range": {"attempts": {"lt": self._settings.max_attempts}}},
                        ],
                        "must_not": [{"range": {"lease_until": {"gt": now.isoformat()}}}],
                    }
                },
            },
            action="find due deliveries",
        )
        jobs: list[Callable[[], Delivery]] = []
        for hit in res["hits"]["hits"]:
            record = Delivery.model_validate(hit["_source"])
            destination = self._destinations.get(record.destination)
            if destination is None:
                log.warning(
                    "delivery %s of %s: destination %r is not configured any more; left %s",
                    record.id[:12],
                    record.key,
                    record.destination,
                    record.status.value,
                )
                continue
            claimed = self._claim(record, hit["_seq_no"], hit["_primary_term"], destination)
            if claimed is not None:
                jobs.append(partial(self._attempt, claimed, destination))
        return self._run(jobs) if jobs else []

    def get(self, key: str, destination: str) -> Delivery | None:
        """The delivery record of *key* to the destination named *destination*."""
        found = self._gw.get(deliveries_index(self._gw), delivery_id(key, destination))
        return Delivery.model_validate(found["_source"]) if found else None

    def deliveries(self, *, incident_id: str, size: int = 500) -> list[Delivery]:
        """Every delivery for an incident, oldest first (for the timeline and the CISO report)."""
        res = self._gw.search(
            deliveries_index(self._gw),
            {"size": size, "query": {"term": {"incident_id": incident_id}}, "sort": [{"created_at": "asc"}]},
            action="list deliveries",
        )
        return [Delivery.model_validate(h["_source"]) for h in res["hits"]["hits"]]

    # -- one delivery --------------------------------------------------------
    def _deliver_new(self, notification: Notification, destination: AnyDestination) -> Delivery:
        index = deliveries_index(self._gw)
        now = self._clock.now()
        record = Delivery(
            id=delivery_id(notification.key, destination.name),
            key=notification.key,
            destination=destination.name,
            channel=destination.kind,
            target=destination.display,
            incident_id=notification.incident_id,
            severity=notification.severity,
            status=DeliveryStatus.pending,
            created_at=now,
            updated_at=now,
            next_attempt_at=now,
            lease_until=now + self._lease(destination),  # the creator holds it
            notification=notification,
        )
        if self._gw.create(index, record.id, _doc(record)):
            return self._attempt(record, destination)
        found = self._gw.get(index, record.id)
        if found is None:  # deleted in between: nothing sensible to do but report it
            raise ElasticsearchRequestError(f"delivery {record.id[:12]} vanished while being read")
        current = Delivery.model_validate(found["_source"])
        if current.status is DeliveryStatus.sent:
            log.info("%s -> %s: already sent at %s", current.key, destination.name, current.sent_at)
            return current
        if not self._due(current, now):
            log.info(
                "%s -> %s: %s, next attempt %s",
                current.key,
                destination.name,
                current.status.value,
                current.next_attempt_at,
            )
            return current
        claimed = self._claim(current, found["_seq_no"], found["_primary_term"], destination)
        return self._attempt(claimed, destination) if claimed is not None else current

    def _due(self, record: Delivery, now: datetime) -> bool:
        return (
            record.status is not DeliveryStatus.sent
            and record.next_attempt_at is not None
            and record.next_attempt_at <= now
            and (record.lease_until is None or record.lease_until <= now)
            and record.attempts < self._settings.max_attempts
        )

    def _claim(self, record: Delivery, seq_no: int, primary_term: int, destination: AnyDestination) -> Delivery | None:
        """Take the lease on *record* unless another process changed it since it was read."""
        now = self._clock.now()
        claimed = record.model_copy(update={"lease_until": now + self._lease(destination), "updated_at": now})
        try:
            self._gw.put(
                deliveries_index(self._gw), record.id, _doc(claimed), if_seq_no=seq_no, if_primary_term=primary_term
            )
        except ElasticsearchRequestError as exc:
            if "version_conflict" in str(exc):
                log.info("%s -> %s: taken by another sender", record.key, record.destination)
                return None
            raise
        return claimed

    def _attempt(self, record: Delivery, destination: AnyDestination) -> Delivery:
        """One run: up to ``attempts_per_run`` tries with exponential sleeps; saves every outcome."""
        s = self._settings
        secrets = destination.secrets()
        channel = self._channel_factory(destination, clock=self._clock)
        tries = 0
        while True:
            tries += 1
            now = self._clock.now()
            record = record.model_copy(
                update={"attempts": record.attempts + 1, "last_attempt_at": now, "updated_at": now}
            )
            try:
                channel.send(record.notification)
            except Exception as exc:  # noqa: BLE001 - any failure of a channel is this destination's failure only
                error = scrub(str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}", secrets)
                retryable = exc.retryable if isinstance(exc, DeliveryError) else True
                exhausted = record.attempts >= s.max_attempts
                if exhausted or not retryable or tries >= s.attempts_per_run:
                    next_at = None if exhausted else now + self._backoff(record.attempts)
                    record = record.model_copy(
                        update={
                            "status": DeliveryStatus.failed,
                            "last_error": error,
                            "next_attempt_at": next_at,
                            "lease_until": None,
                        }
                    )
                    self._save(record)
                    log.warning(
                        "%s -> %s failed (attempt %d/%d): %s; %s",
                        record.key,
                        destination.name,
                        record.attempts,
                        s.max_attempts,
                        error,
                        f"next attempt at {next_at.isoformat()}" if next_at else "giving up",
                    )
                    return record
                delay = min(s.retry_delay * (1 << (tries - 1)), s.backoff_max)
                record = record.model_copy(update={"last_error": error})
                self._save(record)
                log.info("%s -> %s: %s; retrying in %s", record.key, destination.name, error, delay)
                self._sleep(delay.total_seconds())
                continue
            record = record.model_copy(
                update={
                    "status": DeliveryStatus.sent,
                    "sent_at": now,
                    "updated_at": self._clock.now(),
                    "next_attempt_at": None,
                    "lease_until": None,
                }
            )
            self._save(record)
            log.info(
                "%s -> %s: sent (attempt %d) via %s", record.key, destination.name, record.attempts, destination.display
            )
            return record

    # -- helpers -------------------------------------------------------------
    def _backoff(self, attempts: int) -> timedelta:
        runs = max(1, math.ceil(attempts / self._settings.attempts_per_run))
        return min(self._settings.backoff * (1 << (runs - 1)), self._settings.backoff_max)

    def _lease(self, destination: AnyDestination) -> timedelta:
        """Longer than one run can take: tries x (connect + session timeouts) + the sleeps between them."""
        s = self._settings
        timeout = timedelta(seconds=getattr(destination, "timeout", 10.0))
        sleeps = sum((min(s.retry_delay * (1 << i), s.backoff_max) for i in range(s.attempts_per_run - 1)), timedelta())
        return s.attempts_per_run * (4 * timeout) + sleeps + _LEASE_MARGIN

    def _save(self, record: Delivery) -> None:
        self._gw.put(deliveries_index(self._gw), record.id, _doc(record))

    def _run(self, jobs: Sequence[Callable[[], Delivery]]) -> list[Delivery]:
        """Run *jobs* concurrently; results in order. An Elasticsearch error is raised after all finished."""
        with ThreadPoolExecutor(max_workers=min(_MAX_WORKERS, len(jobs)), thread_name_prefix="soc-notify") as pool:
            futures = [pool.submit(job) for job in jobs]
        results: list[Delivery] = []
        first_error: BaseException | None = None
        for future in futures:
            error = future.exception()
            if error is None:
                results.append(future.result())
            elif first_error is None:
                first_error = error
        if first_error is not None:
            raise first_error
        return results


def _doc(record: Delivery) -> dict[str, Any]:
    return record.model_dump(mode="json")
