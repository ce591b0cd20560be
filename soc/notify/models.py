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
import ipaddress
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from soc.errors import SocError
from soc.vocab import Bilingual, Duration, Severity

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

_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_KEY = r"^[A-Za-z0-9][A-Za-z0-9:._@/+-]{0,255}$"
MASK = "****"


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
class _DestinationBase(_Strict):
    name: Annotated[str, Field(pattern=_NAME)]
    min_severity: Severity = Severity.low
    roles: tuple[str, ...] = ()  # if given, only notifications addressed to one of these roles

    @property
    def display(self) -> str:
        """What logs and records may say about this destination (no secrets)."""
        raise NotImplementedError

    def secrets(self) -> list[str]:
        """Every secret value this destination holds, for ``scrub``."""
        return []


class SmtpDestination(_DestinationBase):
    kind: Literal["smtp"]
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(alias="from", min_length=3)
    to: list[str] = Field(min_length=1)
    timeout: float = Field(default=10.0, gt=0, le=300)
    verify_tls: bool = True
    ca_file: Path | None = None
    # sending a password over an unencrypted connection must be asked for by name
    allow_plaintext_auth: bool = False

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _safe_auth(self) -> SmtpDestination:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password, or neither")
        if self.username is not None and self.security == "none" and not self.allow_plaintext_auth:
            raise ValueError("login over an unencrypted connection: use starttls/tls or set allow_plaintext_auth")
        return self

    @property
    def display(self) -> str:
        return f"smtp {self.host}:{self.port} -> {', '.join(self.to)}"

    def secrets(self) -> list[str]:
        return [self.password.get_secret_value()] if self.password is not None else []


class WebhookDestination(_DestinationBase):
    kind: Literal["webhook"]
    url: SecretStr  # the URL of a Teams/Slack webhook is itself the credential
    format: Literal["generic", "teams", "slack"] = "generic"
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    timeout: float = Field(default=10.0, gt=0, le=300)
    verify_tls: bool = True
    ca_file: Path | None = None
    # plain http leaks the URL and headers on the wire; allowed for loopback, else by name
    allow_http: bool = False

    @model_validator(mode="after")
    def _valid_url(self) -> WebhookDestination:
        parts = urlsplit(self.url.get_secret_value())
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("url: must be an http(s) URL with a host")
        if parts.scheme == "http" and not self.allow_http and not _is_loopback(parts.hostname):
            raise ValueError("url: plain http to a non-loopback host; use https or set allow_http")
        return self

    @property
    def display(self) -> str:
        parts = urlsplit(self.url.get_secret_value())
        port = f":{parts.port}" if parts.port else ""
        return f"webhook/{self.format} {parts.scheme}://{parts.hostname}{port}/{MASK}"

    def secrets(self) -> list[str]:
        url = self.url.get_secret_value()
        parts = urlsplit(url)
        found = [url, *(v.get_secret_value() for v in self.headers.values())]
        if parts.path.strip("/"):
            found.append(parts.path)
            found += [seg for seg in parts.path.split("/") if len(seg) >= 8]
        if parts.query:
            found.append(parts.query)
            found += [kv.split("=", 1)[-1] for kv in parts.query.split("&") if len(kv.split("=", 1)[-1]) >= 4]
        if parts.password:
            found.append(parts.password)
        return found


class OutboxDestination(_DestinationBase):
    """Files in a directory: one ``.json`` and one ``.md`` per delivery (the demo's channel)."""

    kind: Literal["outbox"]
    directory: Path

    @property
    def display(self) -> str:
        return f"outbox {self.directory}"


Destination = Annotated[SmtpDestination | WebhookDestination | OutboxDestination, Field(discriminator="kind")]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


class NotifySettings(_Strict):
    """The ``[notify]`` block of the settings. No destination means the outbox in ``out_dir``."""

    destinations: list[Destination] = Field(default_factory=list)
    max_attempts: int = Field(default=8, ge=1, le=100)  # in total, over every run
    attempts_per_run: int = Field(default=3, ge=1, le=10)  # tries in one notify()/retry_pending() call
    retry_delay: Duration = timedelta(seconds=2)  # sleep before the 2nd try of a run; doubles each try
    backoff: Duration = timedelta(minutes=1)  # wait before the next run after a failed one; doubles each run
    backoff_max: Duration = timedelta(hours=1)

    @field_validator("destinations")
    @classmethod
    def _unique_names(
        cls, values: list[SmtpDestination | WebhookDestination | OutboxDestination]
    ) -> list[SmtpDestination | WebhookDestination | OutboxDestination]:
        names = [d.name for d in values]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"destination names must be unique: {', '.join(dupes)}")
        return values


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
