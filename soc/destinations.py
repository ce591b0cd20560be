"""Notification destinations and the ``[notify]`` block of the settings: configuration
types only, in the base layer so that ``soc.config`` can read them without importing
``soc.notify`` (which sends to them and re-exports these names).

Destinations are data, picked by ``kind:`` (``smtp``, ``webhook``, ``outbox``). Every
secret they hold (SMTP password, webhook URL, header values) is a ``SecretStr``; what
may be shown in logs, records and errors is ``Destination.display``.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from soc.vocab import Duration, Severity

__all__ = [
    "MASK",
    "Destination",
    "NotifySettings",
    "OutboxDestination",
    "SmtpDestination",
    "WebhookDestination",
]

_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"
MASK = "****"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class NotifySettings(_Strict):
    """The ``[notify]`` block of the settings. No destination means the outbox in ``out_dir``."""

    destinations: list[Destination] = Field(default_factory=list)
    # the defaults ride out a relay or receiver down for an hour: runs of 3 tries at 0, 1, 3,
    # 7, 15, 30, 45 and 60 min (README "Notifications: when a destination is down")
    max_attempts: int = Field(default=24, ge=1, le=100)  # in total, over every run
    attempts_per_run: int = Field(default=3, ge=1, le=10)  # tries in one notify()/retry_pending() call
    retry_delay: Duration = timedelta(seconds=2)  # sleep before the 2nd try of a run; doubles each try
    backoff: Duration = timedelta(minutes=1)  # wait before the next run after a failed one; doubles each run
    backoff_max: Duration = timedelta(minutes=15)  # once back, a destination waits at most this long

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
