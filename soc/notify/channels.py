"""Channels: one class per destination kind, each with ``send(notification) -> None``.

A channel either returns (delivered) or raises ``DeliveryError``. Every network call has
the destination's timeout; TLS uses ``ssl.create_default_context()`` with verification on
unless a destination turns it off by name. Errors of ``smtplib``/``urllib``/the OS are
translated here and their messages scrubbed of every secret the destination holds.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import smtplib
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Protocol

from soc.clock import Clock
from soc.notify.models import (
    DeliveryError,
    Notification,
    OutboxDestination,
    SmtpDestination,
    WebhookDestination,
    delivery_id,
    scrub,
)
from soc.notify.payloads import WEBHOOK_FORMATS, email_message, generic_payload, markdown

__all__ = ["Channel", "OutboxChannel", "SmtpChannel", "WebhookChannel", "build_channel", "tls_context"]

log = logging.getLogger(__name__)

_MAX_RESPONSE = 64 * 1024
_RETRYABLE_HTTP = {408, 425, 429}
_USER_AGENT = "soc-notify/1"


class Channel(Protocol):
    def send(self, notification: Notification) -> None: ...


def tls_context(*, verify: bool, ca_file: Path | None, what: str) -> ssl.SSLContext:
    """The system trust store (plus *ca_file*); verification off only when asked for."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    if not verify:
        log.warning("TLS certificate verification is OFF for %s (verify_tls=false)", what)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class SmtpChannel:
    """E-mail through an SMTP relay: STARTTLS (587), implicit TLS (465) or none (25, loopback relays)."""

    def __init__(self, destination: SmtpDestination, *, clock: Clock) -> None:
        self.destination = destination
        self._clock = clock

    def send(self, notification: Notification) -> None:
        d = self.destination
        msg = email_message(
            notification,
            sender=d.sender,
            to=d.to,
            message_id=f"<{delivery_id(notification.key, d.name)[:32]}@soc.notify>",
            date=self._clock.now(),
        )
        try:
            smtp = self._connect()
            with smtp:
                smtp.ehlo()
                if d.security == "starttls":
                    smtp.starttls(context=self._context())
                    smtp.ehlo()
                if d.username is not None and d.password is not None:
                    smtp.login(d.username, d.password.get_secret_value())
                refused = smtp.send_message(msg)
        except smtplib.SMTPAuthenticationError as exc:
            raise self._error(f"authentication refused (SMTP {exc.smtp_code})", retryable=False) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise self._error(f"every recipient refused: {', '.join(exc.recipients)}", retryable=False) from exc
        except smtplib.SMTPResponseException as exc:
            reason = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
            raise self._error(f"SMTP {exc.smtp_code}: {reason}", retryable=exc.smtp_code < 500) from exc
        except (smtplib.SMTPException, OSError) as exc:  # refused, timeout, TLS failure, dropped connection
            raise self._error(f"{type(exc).__name__}: {exc}", retryable=True) from exc
        if refused:
            # the others already have it: a retry would send them a duplicate
            log.warning("%s: some recipients refused: %s", d.name, ", ".join(sorted(refused)))

    def _connect(self) -> smtplib.SMTP:
        d = self.destination
        smtp: smtplib.SMTP
        if d.security == "tls":
            smtp = smtplib.SMTP_SSL(d.host, d.port, timeout=d.timeout, context=self._context())
        else:
            smtp = smtplib.SMTP(d.host, d.port, timeout=d.timeout)
        return smtp

    def _context(self) -> ssl.SSLContext:
        d = self.destination
        return tls_context(verify=d.verify_tls, ca_file=d.ca_file, what=f"{d.name} ({d.host})")

    def _error(self, message: str, *, retryable: bool) -> DeliveryError:
        d = self.destination
        text = scrub(f"{d.display}: {message}", d.secrets())
        return DeliveryError(text, destination=d.name, retryable=retryable)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook that redirects is misconfigured; following it would re-send the body elsewhere."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: object,
        code: int,
        msg: str,
        headers: object,
        newurl: str,
    ) -> None:
        return None


class WebhookChannel:
    """JSON POSTed to a URL: our generic schema, a Teams Adaptive Card or a Slack message."""

    def __init__(self, destination: WebhookDestination) -> None:
        self.destination = destination

    def send(self, notification: Notification) -> None:
        d = self.destination
        body = json.dumps(WEBHOOK_FORMATS[d.format](notification), ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": _USER_AGENT}
        headers |= {name: value.get_secret_value() for name, value in d.headers.items()}
        # the scheme is validated (http/https only) by WebhookDestination
        request = urllib.request.Request(d.url.get_secret_value(), data=body, headers=headers, method="POST")  # noqa: S310
        context = tls_context(verify=d.verify_tls, ca_file=d.ca_file, what=f"{d.name} ({d.display})")
        opener = urllib.request.build_opener(_NoRedirect(), urllib.request.HTTPSHandler(context=context))
        # Third-party exceptions here carry the URL (HTTPError.url, http.client state):
        # ours replaces them without chaining so no traceback can print the secret.
        try:
            with opener.open(request, timeout=d.timeout) as response:
                response.read(_MAX_RESPONSE)
        except urllib.error.HTTPError as exc:
            code = exc.code
            exc.close()
            retryable = code >= 500 or code in _RETRYABLE_HTTP
            raise self._error(f"HTTP {code}", retryable=retryable) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            raise self._error(f"{type(reason).__name__}: {reason}", retryable=True) from None
        except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, malformed answers
            raise self._error(f"{type(exc).__name__}: {exc}", retryable=True) from None

    def _error(self, message: str, *, retryable: bool) -> DeliveryError:
        d = self.destination
        text = scrub(f"{d.display}: {message}", d.secrets())
        return DeliveryError(text, destination=d.name, retryable=retryable)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class OutboxChannel:
    """Writes ``<key>-<id>.json`` and ``.md`` into a directory; a retry overwrites, never adds."""

    def __init__(self, destination: OutboxDestination, *, clock: Clock) -> None:
        self.destination = destination
        self._clock = clock

    def paths(self, notification: Notification) -> tuple[Path, Path]:
        stem = f"{_UNSAFE.sub('_', notification.key)}-{delivery_id(notification.key, self.destination.name)[:8]}"
        return self.destination.directory / f"{stem}.json", self.destination.directory / f"{stem}.md"

    def send(self, notification: Notification) -> None:
        json_path, md_path = self.paths(notification)
        record = generic_payload(notification) | {"written_at": self._clock.now().isoformat()}
        try:
            self.destination.directory.mkdir(parents=True, exist_ok=True)
            _write_atomic(json_path, json.dumps(record, ensure_ascii=False, indent=2) + "\n")
            _write_atomic(md_path, markdown(notification))
        except OSError as exc:
            d = self.destination
            raise DeliveryError(f"{d.display}: {exc}", destination=d.name, retryable=True) from exc


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def build_channel(destination: SmtpDestination | WebhookDestination | OutboxDestination, *, clock: Clock) -> Channel:
    """The channel for a destination, chosen by its ``kind``."""
    if isinstance(destination, SmtpDestination):
        return SmtpChannel(destination, clock=clock)
    if isinstance(destination, WebhookDestination):
        return WebhookChannel(destination)
    return OutboxChannel(destination, clock=clock)
