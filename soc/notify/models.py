"""Notifications, where they go, and the delivery records kept in Elasticsearch.

A ``Notification`` is *what happened*, with a deterministic ``key``: the same event
always has the same key, so a delivery (key, destination) is made at most once however
often the caller, the scheduler or a restarted process asks for it.

Destinations are data, picked by ``kind:`` (``smtp``, ``webhook``, ``outbox``). Every
secret they hold (SMTP password, webhook URL, header values) is a ``SecretStr``; what
may be shown in logs, records and errors is ``Destination.display`` and text passed
through ``scrub``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from soc.destinations import (
    MASK,
    Destination,
    NotifySettings,
    OutboxDestination,
    SmtpDestination,
    WebhookDestination,
)
from soc.errors import SocError
from soc.vocab import Bilingual, Severity

__all__ = [
    "Delivery",
    "DeliveryError",
    "DeliveryStatus",
    "Destination",
    "Notification",
    "NotifySettings",
    "OutboxDestination",
    "SmtpDestination",
    "WebhookDestination",
    "delivery_id",
    "message_id",
    "notification_key",
    "routes_to",
    "scrub",
]

_KEY = r"^[A-Za-z0-9][A-Za-z0-9:._@/+-]{0,255}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Notification(_Strict):
    """One event to tell people about, in Japanese and English."""

    key: Annotated[str, Field(pattern=_KEY)]  # e.g. "INC-20261118-ab12cd:step:contain:breach"
    severity: Severity
    subject: Bilingual
    body: Bilingual
    incident_id: str | None = None
    link: str | None = None
    roles: tuple[str, ...] = ()  # audience, e.g. ("csirt-lead", "ciso"); empty = everyone routed by severity

    @field_validator("link")
    @classmethod
    def _http_link(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in {"http", "https"}:
            raise ValueError("must be an http(s) URL")
        return value


def notification_key(incident_id: str, *parts: str) -> str:
    """``notification_key("INC-1", "step", "contain", "breach")`` -> ``"INC-1:step:contain:breach"``."""
    return ":".join([incident_id, *parts])


def delivery_id(key: str, destination: str) -> str:
    """The Elasticsearch id of the delivery of *key* to *destination*: one per pair, ever.
    It is also the delivery's idempotency key (``Idempotency-Key`` header, ``Message-ID``)."""
    return hashlib.sha256(f"{key}\x00{destination}".encode()).hexdigest()


def message_id(key: str, destination: str) -> str:
    """The e-mail ``Message-ID`` of a delivery: the same for every try, so clients fold repeats."""
    return f"<{delivery_id(key, destination)[:32]}@soc.notify>"


# -- destinations -------------------------------------------------------------
def routes_to(
    destination: SmtpDestination | WebhookDestination | OutboxDestination, notification: Notification
) -> bool:
    """Whether *destination* should receive *notification* (severity floor, then roles)."""
    if notification.severity < destination.min_severity:
        return False
    if destination.roles:
        return bool(set(destination.roles) & set(notification.roles))
    return True


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of a secret (longest first) and any URL query string."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return _QUERY.sub(r"\1?" + MASK, text)


_QUERY = re.compile(r"(https?://[^\s?#'\"]*)\?[^\s#'\"]*")


# -- delivery records ----------------------------------------------------------
class DeliveryStatus(StrEnum):
    pending = "pending"  # recorded, not yet sent (or being sent)
    sent = "sent"  # delivered: never sent again
    failed = "failed"  # the last try surely did not deliver; retried at next_attempt_at unless exhausted
    # the last try may have delivered (timeout or reset after the request went out, or its
    # process stopped mid-try): retried like a failure, with the same idempotency key
    maybe_sent = "maybe_sent"


class Delivery(BaseModel):
    """One notification to one destination, as stored in ``{prefix}-deliveries``."""

    model_config = ConfigDict(extra="ignore")

    id: str
    key: str
    destination: str
    channel: str
    target: str  # Destination.display: never a secret
    incident_id: str | None = None
    severity: Severity
    status: DeliveryStatus = DeliveryStatus.pending
    attempts: int = 0
    created_at: datetime
    updated_at: datetime
    last_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    next_attempt_at: datetime | None = None  # None once sent or once attempts are exhausted
    lease_until: datetime | None = None  # a sender holds the record until then
    # set while a try is on the wire: found set by another sender once the lease ran out,
    # it means that try's outcome is unknown (its process died or was paused): maybe sent
    in_flight_since: datetime | None = None
    idempotency_key: str | None = None  # sent as Idempotency-Key / in the Message-ID: one per delivery
    ambiguous_attempts: int = 0  # tries whose outcome is unknown (each may have delivered)
    last_error: str | None = None
    notification: Notification


class DeliveryError(SocError):
    """A channel could not deliver. The message never contains a secret.

    ``retryable`` is False when trying again at once cannot help (authentication refused,
    recipient rejected, HTTP 4xx other than 408/429); the scheduler still retries later.
    ``ambiguous`` is True when the request went out and its answer was lost (a timeout or
    a reset while waiting for it): the receiver may have the message.
    """

    def __init__(self, message: str, *, destination: str, retryable: bool = True, ambiguous: bool = False) -> None:
        self.destination = destination
        self.retryable = retryable
        self.ambiguous = ambiguous
        super().__init__(message, object_id=destination)
