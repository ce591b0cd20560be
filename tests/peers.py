"""Real peers on 127.0.0.1 shared by the notification tests: a free port, an SMTP mailbox
and a scriptable webhook receiver."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections import deque
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["HttpPeer", "Mailbox", "free_port", "self_signed_cert"]


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1 (openssl), trusted by nothing until named as a CA file."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted"

    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(e.original_content, policy=email.policy.default) for e in self.envelopes]

    def keys(self) -> list[str]:
        return [str(m["X-SOC-Notification-Key"]).strip() for m in self.messages()]


class HttpPeer:
    """A webhook receiver on 127.0.0.1 (stdlib ``http.server`` in a thread) that keeps
    every request it *read* and then behaves as scripted, one behaviour per request
    (then ``ok``): ``ok`` (200), ``500``, ``late`` (200 after ``late_by`` seconds, past
    the client's timeout), ``hang`` (no answer until ``release``), ``reset`` (a TCP reset
    instead of an answer). It dedups nothing: the tests count the idempotency keys."""

    def __init__(self, *, late_by: float = 2.0, tls: tuple[Path, Path] | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: deque[str] = deque()
        self.late_by = late_by
        self.released = threading.Event()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with peer._lock:
                    peer.requests.append({"headers": dict(self.headers), "json": json.loads(body)})
                    behaviour = peer.script.popleft() if peer.script else "ok"
                    peer.in_flight += 1
                    peer.max_in_flight = max(peer.max_in_flight, peer.in_flight)
                try:
                    if behaviour == "reset":
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        self.close_connection = True
                        self.connection.close()
                        return
                    if behaviour == "late":
                        time.sleep(peer.late_by)
                    elif behaviour == "hang":
                        peer.released.wait(30)
                    status = 500 if behaviour == "500" else 200
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the client gave up first
                finally:
                    with peer._lock:
                        peer.in_flight -= 1

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}/hook"

    def keys(self) -> list[str]:
        return [r["headers"].get("Idempotency-Key", "") for r in self.requests]

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
