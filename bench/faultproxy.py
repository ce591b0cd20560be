#!/usr/bin/env python3
"""A fault-injecting HTTP proxy on 127.0.0.1, put between soc and Elasticsearch.

It relays HTTP/1.1 requests (keep-alive, ``Content-Length`` or chunked bodies, ``HEAD``)
to one upstream node and, on a seeded schedule, answers some of them itself instead:

* ``429``    — "Too Many Requests" with an Elasticsearch-shaped error body, not forwarded;
* ``503``    — "Service Unavailable", not forwarded;
* ``latency``— forwarded after a random pause (``latency`` range, seconds);
* ``reset``  — a TCP reset instead of forwarding;
* ``reset-after`` — forwarded, and then a TCP reset instead of the answer: the request
  took effect but the client cannot know (the fault that tests idempotent writes).

An outage: ``down()`` closes the listening socket (new connections are refused) and
resets every open connection until ``up()``. An upstream that is itself down shows as a
reset of each connection.

The schedule is a ``random.Random(seed)`` drawing one fault per request with the given
rates, so a run's sequence of decisions is reproducible (which request meets which
decision depends on the clients' timing). ``script`` forces the next decisions, as the
webhook receiver of ``tests/peers.py`` does. The proxy runs its own event loop in a
thread: usable from synchronous code, benches and tests alike.

    proxy = FaultProxy("http://127.0.0.1:9200", seed=7, rates={"429": 0.05, "reset": 0.02})
    with proxy:                      # start ... close
        settings = load_settings(es_url=proxy.url)
        proxy.down(); ...; proxy.up()
        print(proxy.counts)

Also runnable on its own: ``bench/faultproxy.py --upstream http://127.0.0.1:9200
--port 9299 --seed 7 --rate 429=0.05 --rate reset=0.02`` (prints the counts every 10 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import socket
import struct
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

__all__ = ["DEFAULT_RATES", "FAULTS", "FaultProxy"]

FAULTS = ("429", "503", "latency", "reset", "reset-after")
# per request: every client meets each fault often, and the client's 3 retries usually
# absorb it (a run that still fails backs off and resumes): bench/faults.py's default
DEFAULT_RATES = {"429": 0.02, "503": 0.02, "latency": 0.03, "reset": 0.01, "reset-after": 0.01}
_REASONS = {429: "Too Many Requests", 503: "Service Unavailable"}
_ERROR_TYPES = {429: "es_rejected_execution_exception", 503: "unavailable_shards_exception"}


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        *,
        seed: int = 0,
        rates: Mapping[str, float] | None = None,
        latency: tuple[float, float] = (0.1, 1.0),
        port: int = 0,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"upstream must be an http:// URL, not {upstream!r}")
        self.upstream = (parts.hostname, parts.port or 80)
        self.latency = latency
        self.script: deque[str] = deque()  # forced next decisions (then the seeded schedule)
        self.counts: Counter[str] = Counter()  # decisions taken, plus "requests" and "outages"
        self._rng = random.Random(seed)
        self._rates: dict[str, float] = {}
        self.set_rates(rates or {})
        self._port = port
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="faultproxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    # -- control (from any thread) ---------------------------------------------
    def set_rates(self, rates: Mapping[str, float]) -> None:
        """Replace the fault rates (probability per request of each fault; the rest is forwarded)."""
        unknown = set(rates) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault(s) {sorted(unknown)}; known: {', '.join(FAULTS)}")
        if sum(rates.values()) > 1:
            raise ValueError("the fault rates add up to more than 1")
        self._rates = dict(rates)

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def is_down(self) -> bool:
        return self._server is None

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def down(self) -> None:
        """An outage: refuse new connections and reset the open ones."""
        self._call(self._down())

    def up(self) -> None:
        """The end of an outage: listen again on the same port."""
        self._call(self._listen())

    def close(self) -> None:
        if self._thread.is_alive():
            self._call(self._down(count=False))
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    # -- inside the loop ---------------------------------------------------------
    async def _listen(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self._port, reuse_address=True)
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def _down(self, *, count: bool = True) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
            if count:
                with self._lock:
                    self.counts["outages"] += 1
        for writer in list(self._clients):
            _reset(writer)

    def _decide(self) -> str:
        with self._lock:
            self.counts["requests"] += 1
            if self.script:
                fault = self.script.popleft()
            else:
                draw, fault = self._rng.random(), "forward"
                for name, rate in self._rates.items():
                    if draw < rate:
                        fault = name
                        break
                    draw -= rate
            self.counts[fault] += 1
            return fault

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return  # the client closed its connection
                request = head + await _read_body(reader, head, method="", status=0)
                fault = self._decide()
                if fault in ("429", "503"):
                    writer.write(_error_response(int(fault)))
                    await writer.drain()
                    continue
                if fault == "reset":
                    _reset(writer)
                    return
                if fault == "latency":
                    with self._lock:
                        pause = self._rng.uniform(*self.latency)
                    await asyncio.sleep(pause)
                if upstream is None:
                    try:
                        upstream = await asyncio.open_connection(*self.upstream)
                    except OSError:
                        _reset(writer)  # the node itself is down
                        return
                up_reader, up_writer = upstream
                up_writer.write(request)
                await up_writer.drain()
                answer = await up_reader.readuntil(b"\r\n\r\n")
                status = int(answer.split(b" ", 2)[1])
                answer += await _read_body(up_reader, answer, method=_method(head), status=status)
                if fault == "reset-after":
                    _reset(writer)
                    return
                writer.write(answer)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError):
            _reset(writer)
        finally:
            self._clients.discard(writer)
            if upstream is not None:
                upstream[1].close()
            if not writer.is_closing():
                writer.close()


def _method(head: bytes) -> str:
    return head.split(b" ", 1)[0].decode("ascii", "replace").upper()


def _headers(head: bytes) -> dict[str, str]:
    out = {}
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            out[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return out


async def _read_body(reader: asyncio.StreamReader, head: bytes, *, method: str, status: int) -> bytes:
    """The body that follows *head*, as it was on the wire (a request when status is 0)."""
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return b""
    headers = _headers(head)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raw = bytearray()
        while True:
            line = await reader.readuntil(b"\r\n")
            raw += line
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while True:  # trailers, then the empty line
                    trailer = await reader.readuntil(b"\r\n")
                    raw += trailer
                    if trailer == b"\r\n":
                        return bytes(raw)
            raw += await reader.readexactly(size + 2)
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    return b"" if status == 0 else await reader.read()  # a response delimited by the close


def _error_response(status: int) -> bytes:
    kind = _ERROR_TYPES[status]
    reason = f"injected by faultproxy: {_REASONS[status].lower()}"
    body = json.dumps(
        {"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason}, "status": status}
    ).encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\ncontent-type: application/json\r\n"
        f"x-elastic-product: Elasticsearch\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0), not a polite FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", default="http://127.0.0.1:9200")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rate", action="append", default=[], metavar="FAULT=P", help=f"one of {', '.join(FAULTS)}")
    args = parser.parse_args()
    rates = {name: float(p) for name, _, p in (r.partition("=") for r in args.rate)}
    with FaultProxy(args.upstream, seed=args.seed, rates=rates, port=args.port) as proxy:
        print(f"proxy {proxy.url} -> {args.upstream}, seed {args.seed}, rates {rates}", flush=True)
        try:
            while True:
                time.sleep(10)
                print(dict(proxy.counts), flush=True)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
