"""``soc web`` as an administrator deploys it, the real command in a subprocess on 127.0.0.1:
HTTPS with ``--certfile/--keyfile``, and behind a reverse proxy: X-Forwarded-Proto and
X-Forwarded-For are believed from the proxies ``--forwarded-allow-ips`` names and from no one
else (the session cookie's Secure flag and the per-address sign-in limit depend on them)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from soc.cli.main import app as cli_app
from soc.config import Settings
from soc.context import AppContext
from soc.web.roles import Role
from soc.web.users import UserStore
from tests.peers import free_port
from tests.webseed import CHEAP_HASHER, PASSWORD, REPO

pytestmark = pytest.mark.es


def _certificate(tmp: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "soc test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    certfile, keyfile = tmp / "cert.pem", tmp / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return certfile, keyfile


@contextmanager
def soc_web(settings: Settings, tmp: Path, *args: str, scheme: str = "http", verify: object = True) -> Iterator[str]:
    """``soc web --port P *args`` running; its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    env |= {"SOC_ES_URL": settings.es_url, "SOC_INDEX_PREFIX": settings.index_prefix}
    cmd = [
        str(Path(sys.executable).parent / "soc"),
        "web",
        "--port",
        str(port),
        "--secret-file",
        str(tmp / "key"),
        *args,
    ]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                if httpx.get(f"{url}/healthz", verify=verify, timeout=2).status_code == 200:  # type: ignore[arg-type]
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "soc web did not answer in 60 s"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _accounts(ctx: AppContext) -> None:
    users = UserStore(ctx.es, hasher=CHEAP_HASHER)
    users.add("operator", Role.operator, PASSWORD, now=ctx.clock.now(), lang="en")


def _sign_in(client: httpx.Client, url: str, name: str, password: str, headers: dict[str, str]) -> httpx.Response:
    page = client.get(f"{url}/login", headers=headers)
    token = re.search(r'name="token" value="([0-9a-f]+)"', page.text)
    assert token, page.text[:300]
    form = {"name": name, "password": password, "token": token.group(1)}
    return client.post(f"{url}/login", data=form, headers=headers)


def test_https_with_certfile_and_keyfile(settings: Settings, ctx: AppContext, tmp_path: Path) -> None:
    _accounts(ctx)
    certfile, keyfile = _certificate(tmp_path)
    trust = ssl.create_default_context(cafile=str(certfile))  # the test's own CA: verification stays on
    with soc_web(settings, tmp_path, "--certfile", str(certfile), "--keyfile", str(keyfile),
                 scheme="https", verify=trust) as url:  # fmt: skip
        with httpx.Client(verify=trust) as client:
            r = _sign_in(client, url, "operator", PASSWORD, {})
            assert r.status_code == 303 and r.headers["location"] == "/"
            cookie = r.headers["set-cookie"]
            assert "soc_session=" in cookie and "Secure" in cookie and "HttpOnly" in cookie
            assert "samesite=strict" in cookie.lower()
            assert client.get(f"{url}/alerts").status_code == 200
        with pytest.raises(httpx.TransportError):  # plain HTTP on the TLS port is not served
            httpx.get(url.replace("https:", "http:") + "/healthz", timeout=5)
    bad = subprocess.run([str(Path(sys.executable).parent / "soc"), "web", "--certfile", str(certfile)],
                         cwd=REPO, capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert bad.returncode != 0 and "give both --certfile and --keyfile" in bad.stdout + bad.stderr


def test_forwarded_headers_are_believed_from_a_trusted_proxy_only(
    settings: Settings, ctx: AppContext, tmp_path: Path
) -> None:
    _accounts(ctx)
    https = {"x-forwarded-proto": "https"}
    with soc_web(settings, tmp_path, "--forwarded-allow-ips", "127.0.0.1") as url:
        with httpx.Client() as client:  # the proxy ended TLS and says so
            assert "Secure" in client.get(f"{url}/login", headers=https).headers["set-cookie"]
            assert "Secure" not in client.get(f"{url}/login").headers["set-cookie"]
        # the sign-in limit counts each client address the proxy forwards, not the proxy's own
        for n in range(5):
            with httpx.Client() as client:
                r = _sign_in(client, url, f"guess{n}", "wrong", {"x-forwarded-for": "198.51.100.7"})
                assert r.status_code == 401
        with httpx.Client() as client:
            r = _sign_in(client, url, "someone", "wrong", {"x-forwarded-for": "198.51.100.7"})
            assert r.status_code == 429  # that address is blocked
            r = _sign_in(client, url, "operator", PASSWORD, {"x-forwarded-for": "203.0.113.8"})
            assert r.status_code == 303  # another person behind the same proxy is not
    with soc_web(settings, tmp_path, "--forwarded-allow-ips", "192.0.2.1") as url:  # a proxy that is not us
        with httpx.Client() as client:
            assert "Secure" not in client.get(f"{url}/login", headers=https).headers["set-cookie"]
        for n in range(5):  # a client cannot dodge the limit by claiming other addresses
            with httpx.Client() as client:
                r = _sign_in(client, url, f"guess{n}", "wrong", {"x-forwarded-for": f"198.51.100.{n}"})
                assert r.status_code == 401
        with httpx.Client() as client:
            r = _sign_in(client, url, "someone", "wrong", {"x-forwarded-for": "203.0.113.99"})
            assert r.status_code == 429


def test_compose_console_service_runs_soc_web_with_options_it_has() -> None:
    """docker-compose.yml's console: the command's options exist in ``soc web``, its named volumes
    are declared, its port is published on loopback only and matches ``--port``."""
    raw = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    console = raw["services"]["console"]
    command = console["command"]
    assert command[:2] == ["soc", "web"]
    options = [c for c in command if c.startswith("--")]
    helptext = CliRunner().invoke(cli_app, ["web", "--help"], terminal_width=200).output
    assert options and all(o in helptext for o in options), (options, helptext)
    port = command[command.index("--port") + 1]
    assert console["ports"] == [f"127.0.0.1:{port}:{port}"]
    named = {v.split(":")[0] for v in console["volumes"] if not v.startswith((".", "$", "/"))}
    assert named and named <= set(raw["volumes"]), named
    assert raw["services"]["console"]["depends_on"]["elasticsearch"]["condition"] == "service_healthy"
