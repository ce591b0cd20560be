"""Signed session cookies, CSRF tokens and the sign-in rate limit (no server-side state but
the limiter's counters; the account is re-read on every request, so disabling it takes effect
at once).

A cookie is ``base64(json{name, sid, exp}).hmac``; the CSRF token is an HMAC of the session
id, so it changes with every sign-in and cannot be forged without the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LoginLimiter", "Session", "SessionSigner", "load_secret"]

SESSION_SECONDS = 8 * 3600


def load_secret(path: Path) -> bytes:
    """The signing key kept in *path* (created 0600 with 32 random bytes the first time)."""
    if path.exists():
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.hex())
    return key


@dataclass(frozen=True)
class Session:
    name: str
    sid: str
    exp: float
    iat: float  # when it was issued (a cookie from before ``iat`` was recorded: exp - SESSION_SECONDS)


class SessionSigner:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, data: bytes) -> str:
        return hmac.new(self._secret, data, hashlib.sha256).hexdigest()

    def issue(self, name: str, *, now: float | None = None) -> str:
        at = now or time.time()
        body = json.dumps({"name": name, "sid": secrets.token_hex(16), "exp": at + SESSION_SECONDS, "iat": at}).encode()
        data = base64.urlsafe_b64encode(body)
        return f"{data.decode()}.{self._mac(data)}"

    def read(self, cookie: str | None, *, now: float | None = None) -> Session | None:
        if not cookie or "." not in cookie:
            return None
        data, mac = cookie.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac(data.encode())):
            return None
        try:
            body = json.loads(base64.urlsafe_b64decode(data.encode()))
            exp = float(body["exp"])
            session = Session(str(body["name"]), str(body["sid"]), exp, float(body.get("iat", exp - SESSION_SECONDS)))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.exp > (now or time.time()) else None

    def seal(self, payload: dict[str, str], *, seconds: float, now: float | None = None) -> str:
        """*payload* signed, expiring after *seconds* (the OpenID Connect flow's state cookie)."""
        body = json.dumps({"p": payload, "exp": (now or time.time()) + seconds}).encode()
        data = base64.urlsafe_b64encode(body)
        return f"{data.decode()}.{self._mac(b'seal:' + data)}"

    def unseal(self, text: str | None, *, now: float | None = None) -> dict[str, str] | None:
        """The payload of a :meth:`seal` value if the signature holds and it has not expired."""
        if not text or "." not in text:
            return None
        data, mac = text.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac(b"seal:" + data.encode())):
            return None
        try:
            body = json.loads(base64.urlsafe_b64decode(data.encode()))
            payload = {str(k): str(v) for k, v in dict(body["p"]).items()}
            exp = float(body["exp"])
        except (ValueError, KeyError, TypeError):
            return None
        return payload if exp > (now or time.time()) else None

    def csrf(self, session: Session) -> str:
        return self._mac(b"csrf:" + session.sid.encode())

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf(session), token or "")


class LoginLimiter:
    """At most *attempts* failed sign-ins per account and per client address in *window* seconds."""

    def __init__(self, attempts: int = 5, window: float = 300.0) -> None:
        self.attempts, self.window = attempts, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def blocked(self, *keys: str, now: float | None = None) -> bool:
        t = now or time.monotonic()
        with self._lock:
            return any(len(self._recent(k, t)) >= self.attempts for k in keys)

    def failed(self, *keys: str, now: float | None = None) -> None:
        t = now or time.monotonic()
        with self._lock:
            for k in keys:
                self._recent(k, t).append(t)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for k in keys:
                self._failures.pop(k, None)
