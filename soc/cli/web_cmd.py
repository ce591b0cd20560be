"""``soc web``: serve the console with uvicorn (TLS and reverse-proxy headers optional)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from soc.cli.common import command, console, context
from soc.detection.loader import load_detectors
from soc.errors import SocError
from soc.playbooks.loader import load_playbooks

__all__ = ["web"]


@command
def web(
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port")] = 8080,
    certfile: Annotated[Path | None, typer.Option("--certfile", help="TLS certificate (PEM); serves HTTPS")] = None,
    keyfile: Annotated[Path | None, typer.Option("--keyfile", help="TLS private key (PEM)")] = None,
    forwarded_allow_ips: Annotated[
        str,
        typer.Option(
            "--forwarded-allow-ips",
            help="reverse proxies whose X-Forwarded-For/-Proto are trusted (comma-separated, '*' for any)",
        ),
    ] = "127.0.0.1",
    secret_file: Annotated[
        Path | None, typer.Option("--secret-file", help="session signing key (default: <data_dir>/web-secret)")
    ] = None,
) -> None:
    """Serve the web console for the SOC operator, the CSIRT and the CISO."""
    import uvicorn

    from soc.web.app import create_app
    from soc.web.console import Console
    from soc.web.oidc import OidcProvider
    from soc.web.sessions import load_secret

    if (certfile is None) != (keyfile is None):
        raise SocError("give both --certfile and --keyfile, or neither", field="--keyfile")
    ctx = context()
    tls = certfile is not None
    behind_proxy = forwarded_allow_ips not in ("", "none")
    app = create_app(
        Console(
            ctx,
            secret=load_secret(secret_file or ctx.settings.data_dir / "web-secret"),
            playbooks=load_playbooks(ctx.settings.playbooks_dir),
            detectors=load_detectors(ctx.settings.detectors_dir),
            # behind a proxy that ends TLS, cookies are Secure when it forwards X-Forwarded-Proto: https
            secure_cookies=tls,
            oidc=OidcProvider.from_settings(ctx.settings.web.oidc) if ctx.settings.web.oidc else None,
        )
    )
    scheme = "https" if tls else "http"
    console.print(f"soc web: {scheme}://{host}:{port}/  (Ctrl-C stops)")
    uvicorn.run(
        app,
        host=host,
        port=port,
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
        proxy_headers=behind_proxy,
        forwarded_allow_ips=forwarded_allow_ips if behind_proxy else None,
        log_level="warning",
        access_log=False,
    )
