"""Channels: one class per destination kind, each with ``send(notification) -> None``.

A channel either returns (delivered) or raises ``DeliveryError``. Every network call has
the destination's timeout; TLS uses ``ssl.create_default_context()`` with verification on
unless a destination turns it off by name. Errors of ``smtplib``/``http.client``/the OS
are translated here and their messages scrubbed of every secret the destination holds.

Every message carries its delivery's idempotency key (``delivery_id``): webhooks in an
``Idempotency-Key`` header, e-mails in the ``Message-ID`` (and ``X-SOC-Idempotency-Key``).
A failure is *ambiguous* (``DeliveryError.ambiguous``) when it happened after the request
went out - a timeout or a reset while sending it or waiting for the answer - because the
receiver may have acted on it; one before that (refused, TLS, DNS, a refused SMTP command)
is a sure failure.
"""

from __future__ import annotations

import base64
import email.generator
import email.policy
import http.client
import io
import json
import logging
import os
import re
import smtplib
import ssl
import time
import urllib.request
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from soc.clock import Clock
from soc.notify.models import (
    DeliveryError,
    Notification,
    OutboxDestination,
    SmtpDestination,
    WebhookDestination,
    delivery_id,
    message_id,
    scrub,
)
from soc.notify.payloads import WEBHOOK_FORMATS, email_message, generic_payload, markdown

__all__ = ["Channel", "OutboxChannel", "SmtpChannel", "WebhookChannel", "build_channel", "tls_context"]

log = logging.getLogger(__name__)

_MAX_RESPONSE = 64 * 1024
_RETRYABLE_HTTP = {408, 425, 429}
_USER_AGENT = "soc-notify/1"
IDEMPOTENCY_HEADER = "Idempotency-Key"


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
            message_id=message_id(notification.key, d.name),
            date=self._clock.now(),
        )
        if "X-SOC-Idempotency-Key" not in msg:
            msg["X-SOC-Idempotency-Key"] = delivery_id(notification.key, d.name)
        data_sent = False  # once DATA is under way, a lost answer leaves the outcome unknown
        try:
            smtp = self._connect()
            with smtp:
                smtp.ehlo()
                if d.security == "starttls":
                    smtp.starttls(context=self._context())
                    smtp.ehlo()
                if d.username is not None and d.password is not None:
                    smtp.login(d.username, d.password.get_secret_value())
                payload, options = _flatten(msg, smtp)
                code, resp = smtp.mail(d.sender, options)
                if code != 250:
                    raise smtplib.SMTPSenderRefused(code, resp, d.sender)
                refused = {}
                for rcpt in d.to:
                    code, resp = smtp.rcpt(rcpt)
                    if code not in (250, 251):
                        refused[rcpt] = (code, resp)
                if len(refused) == len(d.to):
                    smtp.rset()
                    raise smtplib.SMTPRecipientsRefused(refused)
                data_sent = True
                code, resp = smtp.data(payload)
                if code != 250:
                    raise smtplib.SMTPDataError(code, resp)
        except smtplib.SMTPAuthenticationError as exc:
            raise self._error(f"authentication refused (SMTP {exc.smtp_code})", retryable=False) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise self._error(f"every recipient refused: {', '.join(exc.recipients)}", retryable=False) from exc
        except smtplib.SMTPResponseException as exc:  # the server answered: it did not take the message
            reason = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
            raise self._error(f"SMTP {exc.smtp_code}: {reason}", retryable=exc.smtp_code < 500) from exc
        except (smtplib.SMTPException, OSError) as exc:  # refused, timeout, TLS failure, dropped connection
            what = f"{type(exc).__name__}: {exc}"
            if data_sent:
                what += " (after the message was sent: it may have been delivered)"
            raise self._error(what, retryable=True, ambiguous=data_sent) from exc
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

    def _error(self, message: str, *, retryable: bool, ambiguous: bool = False) -> DeliveryError:
        return _delivery_error(self.destination, message, retryable=retryable, ambiguous=ambiguous)


def _delivery_error(
    d: SmtpDestination | WebhookDestination, message: str, *, retryable: bool, ambiguous: bool
) -> DeliveryError:
    """A failed try of *d*, named by its display form, with every secret of it scrubbed."""
    text = scrub(f"{d.display}: {message}", d.secrets())
    return DeliveryError(text, destination=d.name, retryable=retryable, ambiguous=ambiguous)


def _flatten(msg: email.message.EmailMessage, smtp: smtplib.SMTP) -> tuple[bytes, list[str]]:
    """The message as ``SMTP.send_message`` would send it (SMTPUTF8 when an address needs it)."""
    international = any(not str(v).isascii() for k, v in msg.items() if k.lower() in ("from", "to", "cc", "sender"))
    policy = email.policy.SMTPUTF8 if international else email.policy.SMTP
    options = ["SMTPUTF8", "BODY=8BITMIME"] if international and smtp.has_extn("smtputf8") else []
    with io.BytesIO() as out:
        email.generator.BytesGenerator(out, policy=policy).flatten(msg, linesep="\r\n")
        return out.getvalue(), options


class WebhookChannel:
    """JSON POSTed to a URL: our generic schema, a Teams Adaptive Card or a Slack message."""

    def __init__(self, destination: WebhookDestination) -> None:
        self.destination = destination

    def send(self, notification: Notification) -> None:
        d = self.destination
        body = json.dumps(WEBHOOK_FORMATS[d.format](notification), ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": _USER_AGENT}
        headers |= {name: value.get_secret_value() for name, value in d.headers.items()}
        headers[IDEMPOTENCY_HEADER] = delivery_id(notification.key, d.name)
        conn, target, proxy_headers = self._connection()
        headers |= proxy_headers
        # Third-party exceptions here can carry the URL: ours replace them without chaining,
        # so no traceback can print the secret. Redirects are not followed (a webhook that
        # redirects is misconfigured; following it would send the body elsewhere).
        went_out = False
        try:
            try:
                conn.connect()
            except (OSError, http.client.HTTPException) as exc:  # refused, DNS, TLS, proxy: nothing sent
                raise self._error(f"{type(exc).__name__}: {exc}", retryable=True) from None
            try:
                went_out = True
                conn.request("POST", target, body=body, headers=headers)
                response = conn.getresponse()
                code = response.status
                _read_bounded(response, deadline=time.monotonic() + 2 * d.timeout)
            except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, malformed answers
                raise self._error(
                    f"{type(exc).__name__}: {exc} (after the request went out: it may have been delivered)",
                    retryable=True,
                    ambiguous=went_out,
                ) from None
        finally:
            conn.close()
        if not 200 <= code < 300:
            raise self._error(f"HTTP {code}", retryable=code >= 500 or code in _RETRYABLE_HTTP)

    def _connection(self) -> tuple[http.client.HTTPConnection, str, dict[str, str]]:
        """A connection to the URL's host (or to the proxy of the environment), the request
        target, and the headers a plain-http proxy needs."""
        d = self.destination
        url = d.url.get_secret_value()
        parts = urlsplit(url)  # scheme and host validated by WebhookDestination
        host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        proxy = urllib.request.getproxies().get(parts.scheme)
        if proxy and urllib.request.proxy_bypass(host):
            proxy = None
        tunnel_headers: dict[str, str] = {}
        if proxy:
            p = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            if p.username:
                auth = base64.b64encode(f"{unquote(p.username)}:{unquote(p.password or '')}".encode()).decode()
                tunnel_headers["Proxy-Authorization"] = f"Basic {auth}"
            connect_host, connect_port = p.hostname or "", p.port or 8080
        else:
            connect_host, connect_port = host, port
        conn: http.client.HTTPConnection
        request_headers: dict[str, str] = {}
        if parts.scheme == "https":
            context = tls_context(verify=d.verify_tls, ca_file=d.ca_file, what=f"{d.name} ({d.display})")
            conn = http.client.HTTPSConnection(connect_host, connect_port, timeout=d.timeout, context=context)
            if proxy:
                conn.set_tunnel(host, port, headers=tunnel_headers)
        else:
            conn = http.client.HTTPConnection(connect_host, connect_port, timeout=d.timeout)
            if proxy:
                target, request_headers = url, tunnel_headers  # a plain-http proxy takes the absolute URL
        return conn, target, request_headers

    def _error(self, message: str, *, retryable: bool, ambiguous: bool = False) -> DeliveryError:
        return _delivery_error(self.destination, message, retryable=retryable, ambiguous=ambiguous)


def _read_bounded(response: http.client.HTTPResponse, *, deadline: float) -> None:
    """Read (and drop) at most 64 KiB of the answer, within *deadline*: a receiver that
    trickles its answer cannot hold a try (and so the delivery's lease) for long."""
    left = _MAX_RESPONSE
    while left > 0:
        if time.monotonic() > deadline:
            raise TimeoutError("the answer took too long to read")
        chunk = response.read1(min(left, 8192))
        if not chunk:
            return
        left -= len(chunk)


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
