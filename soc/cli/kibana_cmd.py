"""``soc kibana``: the saved objects soc ships (data views, the SOC dashboard)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional
from urllib.parse import urlsplit

import typer
from rich.markup import escape

from soc.cli import common
from soc.cli.common import command, console, err_console
from soc.config import load_settings
from soc.errors import SocError
from soc.kibana.importer import import_objects
from soc.kibana.objects import DASHBOARD_TITLE, build_objects, to_ndjson
from soc.textsafe import visible

__all__ = ["app"]

app = typer.Typer(help="Kibana data views and the SOC dashboard.", no_args_is_help=True)


@app.command("export")
@command
def export(
    out: Annotated[Optional[Path], typer.Option("--out", help="write here instead of stdout")] = None,  # noqa: UP045
) -> None:
    """Print the saved objects (NDJSON) for the configured index prefix."""
    settings = load_settings(common.state.config)
    text = to_ndjson(build_objects(settings.index_prefix))
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {text.count(chr(10))} object(s) to {escape(str(out))}")


@app.command("import")
@command
def import_(
    url: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--url", help="Kibana's base URL (default: kibana_url from soc.toml / SOC_KIBANA_URL)"),
    ] = None,
    space: Annotated[Optional[str], typer.Option(help="Kibana space id (default: the default space)")] = None,  # noqa: UP045
    insecure: Annotated[
        bool, typer.Option("--insecure", help="do NOT verify Kibana's TLS certificate (tests only)")
    ] = False,
) -> None:
    """Create or update the data views and the dashboard in Kibana (saved-objects API, overwrite).

    Credentials are Elasticsearch's (es_api_key, or es_username/es_password): Kibana checks them
    against the same cluster. The CA is es_ca_certs.
    """
    settings = load_settings(common.state.config)
    target = url or settings.kibana_url
    if not target:
        raise SocError("no Kibana URL", field="--url", hint="give --url or set kibana_url in soc.toml")
    if insecure:
        err_console.print("[yellow]warning: Kibana's TLS certificate is NOT verified (--insecure)[/]")
    host = urlsplit(target).hostname or ""
    has_credentials = settings.es_api_key is not None or settings.es_password is not None
    if target.startswith("http://") and has_credentials and host not in ("127.0.0.1", "localhost", "::1", "kibana"):
        err_console.print(
            f"[yellow]warning: credentials go to {escape(visible(host))} over plain HTTP; use https[/]", soft_wrap=True
        )
    result = import_objects(
        target,
        to_ndjson(build_objects(settings.index_prefix)),
        space=space,
        username=settings.es_username,
        password=settings.es_password.get_secret_value() if settings.es_password else None,
        api_key=settings.es_api_key.get_secret_value() if settings.es_api_key else None,
        verify_certs=not insecure,
        ca_certs=settings.es_ca_certs,
    )
    console.print(
        f"imported {result.imported} object(s) into {escape(visible(target))}; open the dashboard '{DASHBOARD_TITLE}'"
    )
