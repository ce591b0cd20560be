"""``soc users add|list|disable``: the web console's local accounts."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from soc.cli.common import cells, command, console, context, print_json
from soc.errors import SocError
from soc.web.roles import Role
from soc.web.users import UserStore

__all__ = ["app"]

app = typer.Typer(help="Accounts of the web console (soc web).", no_args_is_help=True)


def _password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise SocError("no password given", field="password", hint="type it at the prompt or pipe it on stdin")
    return password


@app.command("add")
@command
def add(
    name: Annotated[str, typer.Argument(help="account name (letters, digits, . _ @ -)")],
    role: Annotated[Role, typer.Option("--role", help="operator, csirt, ciso or admin")],
    lang: Annotated[str, typer.Option("--lang", help="console language: ja or en")] = "ja",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
    exist_ok: Annotated[bool, typer.Option("--exist-ok", help="an existing account is left as it is")] = False,
) -> None:
    """Create an account; the password is prompted (or read from stdin) and stored as an argon2 hash."""
    if lang not in ("ja", "en"):
        raise SocError(f"unknown language {lang!r}", field="--lang", hint="ja or en")
    ctx = context()
    store = UserStore(ctx.es)
    password = _password(password_stdin)
    if exist_ok and store.get(name) is not None:
        console.print(f"account {name} exists already (left as it is)")
        return
    user = store.add(name, role, password, now=ctx.clock.now(), lang=lang)
    console.print(f"account {user.name} ({user.role.value}) created")


@app.command("list")
@command
def list_users(as_json: Annotated[bool, typer.Option("--json", help="one JSON object per account")] = False) -> None:
    """Accounts with their role, whether they may sign in and how (never the hashes)."""
    users = UserStore(context().es).list()
    if as_json:
        for u in users:
            sign_in = "oidc" if u.external else "password"
            print_json({"name": u.name, "role": u.role.value, "enabled": u.enabled, "lang": u.lang, "sign_in": sign_in})
        return
    table = Table("name", "role", "enabled", "lang", "sign-in", "created")
    for u in users:
        how = "OpenID Connect" if u.external else "password"
        table.add_row(*cells(u.name, u.role.value, "yes" if u.enabled else "no", u.lang, how, u.created.isoformat()))
    console.print(table)


@app.command("disable")
@command
def disable(name: str) -> None:
    """Stop an account from signing in (its sessions end at the next request)."""
    UserStore(context().es).disable(name)
    console.print(f"account {name} disabled")
