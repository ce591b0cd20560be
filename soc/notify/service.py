"""``Notifier``: every delivery recorded in Elasticsearch, sent once, retried with backoff.

For each (notification key, destination) there is exactly one document in
``{prefix}-deliveries`` with id ``sha256(key, destination)`` - also the delivery's
*idempotency key*, carried by every try (webhook ``Idempotency-Key`` header, e-mail
``Message-ID``), so a receiver can drop repeats:

1. it is created with ``op_type=create`` *before* anything is sent (status ``pending``);
   a second ``notify`` of the same key - another call, a re-run, a restarted process -
   finds it and never sends a ``sent`` delivery again;
2. whoever sends holds a *lease* (``lease_until``). Every write of the record is
   versioned (``if_seq_no``/``if_primary_term`` of the previous one): the claim, the
   renewal *before each try* (which also marks the try in flight), the outcome. A
   sender whose write conflicts has lost the record to another and stops, so at most one
   try per delivery is in flight across processes (a lease outlasts one try);
3. one run tries ``attempts_per_run`` times with exponential sleeps (``retry_delay``),
   then the record becomes ``sent``, ``failed`` (surely not delivered) or ``maybe_sent``
   (the request went out and its answer was lost, or a claimer found a try that never
   finished: its process died or was paused) with ``next_attempt_at`` doubling from
   ``backoff``; ``retry_pending()`` (called by the scheduler every minute) retries the
   due ones until ``max_attempts``, with the same idempotency key.

What each channel then guarantees is in the README ("Notifications: what is guaranteed").

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
from soc.errors import ElasticsearchRequestError, VersionConflict
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
_DUE = (DeliveryStatus.pending, DeliveryStatus.failed, DeliveryStatus.maybe_sent)
Version = tuple[int, int]  # (_seq_no, _primary_term) of the record as last written


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
        """Retry every due ``pending``/``failed``/``maybe_sent`` delivery (for the scheduler,
        every minute). A last try that never finished is recorded ``maybe_sent``, not retried."""
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
                            {"terms": {"status": [s.value for s in _DUE]}},
                            {"range": {"next_attempt_at": {"lte": now.isoformat()}}},
                        ],
                        "should": [
                            {"range": {"attempts": {"lt": self._settings.max_attempts}}},
                            {"exists": {"field": "in_flight_since"}},  # its sender died: say so
                        ],
                        "minimum_should_match": 1,
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
            claimed = self._claim(record, (hit["_seq_no"], hit["_primary_term"]), destination)
            if claimed is None:
                continue
            if claimed[0].attempts >= self._settings.max_attempts:
                jobs.append(partial(self._give_up, *claimed))
            else:
                jobs.append(partial(self._attempt, *claimed, destination))
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
            idempotency_key=delivery_id(notification.key, destination.name),
            notification=notification,
        )
        created = self._write(record, None)
        if created is not None:
            return self._attempt(record, created, destination)
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
        claimed = self._claim(current, (found["_seq_no"], found["_primary_term"]), destination)
        return self._attempt(*claimed, destination) if claimed is not None else current

    def _due(self, record: Delivery, now: datetime) -> bool:
        return (
            record.status is not DeliveryStatus.sent
            and record.next_attempt_at is not None
            and record.next_attempt_at <= now
            and (record.lease_until is None or record.lease_until <= now)
            and record.attempts < self._settings.max_attempts
        )

    def _claim(
        self, record: Delivery, version: Version, destination: AnyDestination
    ) -> tuple[Delivery, Version] | None:
        """Take the lease on *record* unless another process changed it since it was read.
        A try found still in flight (its sender died or was paused past the lease) is
        recorded as ``maybe_sent``: it may have reached the receiver."""
        now = self._clock.now()
        update: dict[str, Any] = {"lease_until": now + self._lease(destination), "updated_at": now}
        if record.in_flight_since is not None:
            update |= {
                "status": DeliveryStatus.maybe_sent,
                "in_flight_since": None,
                "ambiguous_attempts": record.ambiguous_attempts + 1,
                "last_error": f"try {record.attempts} (started {record.in_flight_since.isoformat()}) never "
                "finished: its sender stopped or lost the lease; it may have been delivered",
            }
            log.warning("%s -> %s: %s", record.key, record.destination, update["last_error"])
        claimed = record.model_copy(update=update)
        written = self._write(claimed, version)
        if written is None:
            log.info("%s -> %s: taken by another sender", record.key, record.destination)
            return None
        return claimed, written

    def _attempt(self, record: Delivery, version: Version, destination: AnyDestination) -> Delivery:
        """One run: up to ``attempts_per_run`` tries with exponential sleeps; saves every
        outcome. Before each try the record is renewed and marked in flight; if another
        sender took it meanwhile, this run stops without sending."""
        s = self._settings
        secrets = destination.secrets()
        channel = self._channel_factory(destination, clock=self._clock)
        tries = 0
        while True:
            tries += 1
            now = self._clock.now()
            record = record.model_copy(
                update={
                    "attempts": record.attempts + 1,
                    "last_attempt_at": now,
                    "updated_at": now,
                    "in_flight_since": now,
                    "lease_until": now + self._lease(destination),
                }
            )
            renewed = self._write(record, version)
            if renewed is None:
                return self._lost(record, "before a try")
            version = renewed
            try:
                channel.send(record.notification)
            except Exception as exc:  # noqa: BLE001 - any failure of a channel is this destination's failure only
                error = scrub(str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}", secrets)
                retryable = exc.retryable if isinstance(exc, DeliveryError) else True
                ambiguous = isinstance(exc, DeliveryError) and exc.ambiguous
                exhausted = record.attempts >= s.max_attempts
                # giving up after a sure failure while an earlier try may have delivered: the
                # receiver may have it, so the record says so (not "failed", which invites a resend)
                ambiguous_before = exhausted and record.ambiguous_attempts > 0
                status = DeliveryStatus.maybe_sent if ambiguous or ambiguous_before else DeliveryStatus.failed
                outcome = {
                    "status": status,
                    "last_error": error,
                    "in_flight_since": None,
                    "ambiguous_attempts": record.ambiguous_attempts + int(ambiguous),
                    "updated_at": self._clock.now(),
                }
                if exhausted or not retryable or tries >= s.attempts_per_run:
                    next_at = None if exhausted else now + self._backoff(record.attempts)
                    record = record.model_copy(update=outcome | {"next_attempt_at": next_at, "lease_until": None})
                    if self._write(record, version) is None:
                        return self._lost(record, "after a try")
                    log.warning(
                        "%s -> %s %s (attempt %d/%d): %s; %s",
                        record.key,
                        destination.name,
                        "may have been sent"
                        if ambiguous
                        else "failed" + (" (an earlier try may have been delivered)" if ambiguous_before else ""),
                        record.attempts,
                        s.max_attempts,
                        error,
                        f"next attempt at {next_at.isoformat()}" if next_at else "giving up",
                    )
                    return record
                delay = min(s.retry_delay * (1 << (tries - 1)), s.backoff_max)
                record = record.model_copy(
                    update=outcome | {"lease_until": self._clock.now() + delay + self._lease(destination)}
                )
                written = self._write(record, version)
                if written is None:
                    return self._lost(record, "after a try")
                version = written
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
                    "in_flight_since": None,
                }
            )
            if self._write(record, version) is None:
                return self._lost(record, "after it was sent")
            log.info(
                "%s -> %s: sent (attempt %d) via %s", record.key, destination.name, record.attempts, destination.display
            )
            return record

    def _give_up(self, record: Delivery, version: Version) -> Delivery:
        """No try left: keep what is known (``maybe_sent`` or ``failed``), retry no more."""
        final = record.model_copy(update={"next_attempt_at": None, "lease_until": None})
        if self._write(final, version) is None:
            return self._lost(final, "while giving up")
        log.warning("%s -> %s: %s after %d tries; giving up", record.key, record.destination, record.status.value,
                    record.attempts)  # fmt: skip
        return final

    def _lost(self, record: Delivery, when: str) -> Delivery:
        """Another sender took *record* over (this one was too slow or paused): leave it."""
        log.warning(
            "%s -> %s: another sender took the delivery over %s; leaving it to that sender",
            record.key,
            record.destination,
            when,
        )
        found = self._gw.get(deliveries_index(self._gw), record.id)
        return Delivery.model_validate(found["_source"]) if found else record

    # -- helpers -------------------------------------------------------------
    def _backoff(self, attempts: int) -> timedelta:
        runs = max(1, math.ceil(attempts / self._settings.attempts_per_run))
        return min(self._settings.backoff * (1 << (runs - 1)), self._settings.backoff_max)

    def _lease(self, destination: AnyDestination) -> timedelta:
        """Longer than one try can take (connect, send, answer, each with its timeout);
        renewed before every try."""
        timeout = timedelta(seconds=getattr(destination, "timeout", 10.0))
        return 4 * timeout + _LEASE_MARGIN

    def _write(self, record: Delivery, version: Version | None) -> Version | None:
        """Write *record* over *version* (None: create it); None if another writer was first."""
        try:
            return self._gw.put_versioned(deliveries_index(self._gw), record.id, _doc(record), version)
        except VersionConflict:
            return None

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
