"""One clean line per failure: when Elasticsearch is away (a real closed port) or its TLS
certificate is not trusted (a real TLS server with a self-signed certificate on 127.0.0.1),
the CLI prints one ``error:`` line and no transport traceback; ``--verbose`` shows the
detail; the scheduler logs an outage (refused connections, or a 429/503 storm through
bench/faultproxy.py) once, a summary while it lasts, then the recovery."""

from __future__ import annotations

import logging
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from bench.faultproxy import FaultProxy
from soc.clock import ManualClock
from soc.config import Settings, load_settings
from soc.context import AppContext
from soc.detection.loader import load_detectors
from soc.es.client import EsGateway, build_client
from soc.es.outage import OutageLog, quiet_transport_logs
from soc.playbooks.loader import load_playbooks
from soc.runtime.scheduler import DetectorScheduler
from tests.peers import free_port

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)
SOC = [str(Path(sys.executable).parent / "soc")]


def _soc(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")} | {"SOC_INDEX_PREFIX": "quiet"} | env
    return subprocess.run([*SOC, *args], env=full, capture_output=True, text=True, timeout=120, check=False, cwd=REPO)


def _one_clean_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, proc
    assert "Traceback" not in proc.stderr and "elastic_transport" not in proc.stderr, proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


# -- a closed port ---------------------------------------------------------------------
@pytest.mark.parametrize("command", [["alerts", "list"], ["incidents", "list"], ["status"], ["setup"]])
def test_every_command_fails_in_one_line_when_elasticsearch_is_away(command: list[str]) -> None:
    line = _one_clean_line(_soc(*command, SOC_ES_URL=f"http://127.0.0.1:{free_port()}"))
    assert "Elasticsearch is unreachable" in line and "soc es up" in line


def test_verbose_shows_the_transport_detail() -> None:
    proc = _soc("--verbose", "alerts", "list", SOC_ES_URL=f"http://127.0.0.1:{free_port()}")
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "Connection refused" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")


# -- a TLS server whose certificate we do not trust --------------------------------------
@pytest.fixture(params=["san"])
def tls_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[int, Path]]:
    """A TLS server on 127.0.0.1 with a self-signed certificate: with a subjectAltName for
    its address ("san"), or naming it only in the CN ("cn-only", as old internal CAs do)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    san = ("-addext", "subjectAltName=IP:127.0.0.1") if request.param == "san" else ()
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"),
            *san,
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1]), cert
    server.shutdown()
    server.server_close()


def test_an_untrusted_certificate_names_the_ca_setting(tls_server: tuple[int, Path]) -> None:
    port, cert = tls_server
    line = _one_clean_line(_soc("alerts", "list", SOC_ES_URL=f"https://127.0.0.1:{port}"))
    assert "certificate verify failed: self-signed certificate" in line
    assert "es_ca_certs" in line and "SOC_ES_CA_CERTS" in line and "soc es up" not in line
    # with the CA given, TLS passes: the (non-Elasticsearch) server's answer is the one line
    trusted = _one_clean_line(_soc("alerts", "list", SOC_ES_URL=f"https://127.0.0.1:{port}", SOC_ES_CA_CERTS=str(cert)))
    assert "HTTP 501" in trusted and "certificate" not in trusted


@pytest.mark.parametrize("tls_server", ["cn-only"], indirect=True)
def test_a_certificate_without_the_host_is_one_line_naming_the_fix(tls_server: tuple[int, Path]) -> None:
    """The CA is right but the certificate names 127.0.0.1 only in its CN: urllib3 logs a
    warning with the whole certificate on each try unless soc keeps it for --verbose."""
    port, cert = tls_server
    line = _one_clean_line(_soc("alerts", "list", SOC_ES_URL=f"https://127.0.0.1:{port}", SOC_ES_CA_CERTS=str(cert)))
    assert "no subjectAltName for the host" in line and "subjectAltName=DNS:<host> or IP:<address>" in line
    missing = _one_clean_line(
        _soc("alerts", "list", SOC_ES_URL=f"https://127.0.0.1:{port}", SOC_ES_CA_CERTS=str(cert) + ".missing")
    )
    assert "the CA certificate file (es_ca_certs, SOC_ES_CA_CERTS) does not exist" in missing


def test_tls_to_a_plain_http_port_says_so(settings: Settings) -> None:
    plain = settings.es_url.replace("http://", "https://")
    line = _one_clean_line(_soc("alerts", "list", SOC_ES_URL=plain))
    assert "use http://" in line


# -- the scheduler through an outage ---------------------------------------------------------
@pytest.mark.parametrize("fault", ["refused", "busy"])
def test_the_scheduler_logs_an_outage_once_then_summaries_then_the_recovery(
    settings: Settings, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    """Through bench/faultproxy.py: Elasticsearch away (the port refuses connections, as a
    stopped node's does) or answering 429/503 to every request (a storm past the client's
    retries): either way one outage, told in one line, summaries, then its end."""
    quiet_transport_logs(verbose=False)
    proxy = FaultProxy(settings.es_url).start()
    live = load_settings(es_url=proxy.url, index_prefix=settings.index_prefix, es_max_retries=1, es_timeout=3)
    clock = ManualClock(T0)
    ctx = AppContext(settings=live, es=EsGateway(build_client(live), prefix=live.index_prefix), clock=clock)
    detectors = load_detectors(REPO / "detectors")[:6]
    sched = DetectorScheduler(ctx, detectors=detectors, playbooks=load_playbooks(REPO / "playbooks"))
    try:
        for d in detectors:
            assert sched.tick(d.id)
        if fault == "refused":
            proxy.down()
        else:
            proxy.set_rates({"429": 0.5, "503": 0.5})
        caplog.clear()
        caplog.set_level(logging.INFO)
        attempts = 0
        for _minute in range(20):  # 20 minutes of outage, every job tried every minute
            clock.advance(timedelta(minutes=1))
            for h in [*sched._health.values(), sched._csirt_health]:
                h.retry_at = None  # no backoff here: the worst case for the log
            for d in detectors:
                assert sched.tick(d.id) is False
                attempts += 1
            sched.csirt_tick()
            attempts += 1
        during = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert attempts == 140
        assert not any(r.exc_info for r in caplog.records), "a transport traceback reached the log"
        assert not any(r.name.startswith(("elastic_transport", "urllib3")) for r in caplog.records)
        messages = [r.getMessage() for r in during]
        assert sum("Elasticsearch unreachable" in m for m in messages) == 1, messages
        assert fault == "refused" or any("HTTP 429" in m or "HTTP 503" in m for m in messages), messages
        summaries = [m for m in messages if "still unreachable" in m]
        assert len(summaries) == 3, messages  # every 5 minutes of 20 (at 5, 10, 15 after the first failure)
        assert "of 7 job(s)" in summaries[-1]
        assert len(messages) == 4, messages

        caplog.clear()
        if fault == "refused":
            proxy.up()
        else:
            proxy.set_rates({})
        clock.advance(timedelta(minutes=1))
        for h in [*sched._health.values(), sched._csirt_health]:
            h.retry_at = None
        for d in detectors:
            assert sched.tick(d.id)
        back = [r.getMessage() for r in caplog.records if "Elasticsearch is back" in r.getMessage()]
        assert len(back) == 1 and "after 20m" in back[0] and "140 failed run(s) of 7 job(s)" in back[0], back
        assert not any("recovered after" in r.getMessage() for r in caplog.records)  # no line per job
    finally:
        proxy.close()
        ctx.es.close()
        cleanup = EsGateway(build_client(settings), prefix=settings.index_prefix)
        cleanup.client.options(ignore_status=404).indices.delete(
            index=f"{settings.index_prefix}-*", expand_wildcards="all"
        )
        cleanup.client.options(ignore_status=404).indices.delete_index_template(name=f"{settings.index_prefix}-*")
        cleanup.close()


def test_outage_log_is_quiet_when_all_is_well() -> None:
    clock = ManualClock(T0)
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("soc.test-outage")
    logger.addHandler(Keep())
    logger.setLevel(logging.INFO)
    outage = OutageLog(now=clock.now, logger=logger, every=timedelta(minutes=5))
    outage.succeeded()
    assert records == [] and not outage.down
    outage.failed("detector a", "ConnectionError")
    outage.failed("detector b", "ConnectionError")
    assert outage.down and len(records) == 1
    clock.advance(timedelta(minutes=65))
    outage.failed("detector a", "ConnectionError")
    assert records[-1].startswith("Elasticsearch still unreachable after 1h05m00s: 3 failed run(s) of 2 job(s)")
    outage.succeeded()
    outage.succeeded()
    assert records[-1] == "Elasticsearch is back after 1h05m00s (3 failed run(s) of 2 job(s))" and len(records) == 3
