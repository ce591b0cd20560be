"""``soc playbooks``: list, show and export playbooks (CACAO v2.0)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from soc.cli.common import command, console, print_json
from soc.clock import SystemClock
from soc.config import load_settings
from soc.errors import SocError
from soc.playbooks.cacao import to_cacao
from soc.playbooks.loader import find_playbook, load_playbooks
from soc.vocab import format_duration

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)


def _playbooks() -> list:  # type: ignore[type-arg]
    from soc.cli import common

    return load_playbooks(load_settings(common.state.config).playbooks_dir)


@app.command("list")
@command
def list_playbooks(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every playbook with what triggers it."""
    playbooks = _playbooks()
    if as_json:
        for p in playbooks:
            print_json({"id": p.id, "version": p.version, "name": p.name.model_dump(),
                        "triggers": p.triggers.model_dump(mode="json"), "steps": len(p.steps)})  # fmt: skip
        return
    table = Table("id", "version", "name", "detectors", "segments", "steps")
    for p in playbooks:
        t = p.triggers
        table.add_row(p.id, str(p.version), escape(p.name.en), ", ".join(t.detectors) or ("manual" if t.manual else ""),
                      ", ".join(t.segments), str(len(p.steps)))  # fmt: skip
    console.print(table)


@app.command("show")
@command
def show(
    playbook_id: str,
    lang: Annotated[str, typer.Option(help="ja or en")] = "en",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One playbook, step by step."""
    pb = find_playbook(_playbooks(), playbook_id)
    if as_json:
        print_json(pb.model_dump(mode="json"))
        return
    console.print(f"[bold]{escape(pb.id)}[/] v{pb.version}: {escape(pb.name(lang))}")
    console.print(escape(pb.summary(lang)))
    table = Table("step", "kind", "phase", "owner", "due", "next")
    for s in pb.steps:
        sla = getattr(s, "sla", None)
        due = format_duration(sla.due) if sla else format_duration(s.wait) if s.kind == "wait" else ""
        nxt = ", ".join(s.successors()) + (f" (join {s.next[0]})" if s.kind == "parallel" else "")
        table.add_row(s.id, s.kind, str(getattr(s, "phase", "") or ""), getattr(s, "owner", "") or "", due, nxt)
    console.print(table)


@app.command("export")
@command
def export(
    playbook_id: str,
    fmt: Annotated[str, typer.Option("--format", help="cacao (OASIS CACAO v2.0 JSON)")] = "cacao",
    out: Annotated[Path | None, typer.Option(help="write to this file (default: stdout)")] = None,
) -> None:
    """Export a playbook in an interchange format."""
    if fmt != "cacao":
        raise SocError(f"unknown export format {fmt!r}", field="--format", hint="use --format cacao")
    pb = find_playbook(_playbooks(), playbook_id)
    doc = to_cacao(pb, created=SystemClock().now())
    text = json.dumps(doc, ensure_ascii=False, indent=2)
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        out.write_text(text + "\n", encoding="utf-8")
        console.print(f"wrote {out}")
