"""``soc incidents``: list, show and work incidents through their playbooks.

Every command takes ``--json`` (one JSON object on stdout) and ``--by`` (who does it,
recorded in the audit trail; default ``$SOC_ACTOR`` or the login name).
"""

from __future__ import annotations

import getpass
import os
from typing import Annotated, Any, Literal

import typer
from rich.table import Table

from soc.alerts.models import CloseReason
from soc.cli.common import cells, command, console, context, err_console, print_json, safe
from soc.cli.ids import resolve_incident
from soc.cli.playbook_view import StepView, choice_views, render_options, render_steps
from soc.errors import SocError
from soc.incidents.lifecycle import kpis
from soc.incidents.models import Incident, IncidentStatus, ObligationStatus, StepStatus
from soc.incidents.service import close_incident
from soc.incidents.store import get_incident
from soc.incidents.store import list_incidents as load_incidents
from soc.incidents.workflow import Workflow
from soc.playbooks.loader import load_playbooks
from soc.playbooks.models import Playbook
from soc.vocab import Bilingual, Severity, iso, parse_time

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)
step_app = typer.Typer(no_args_is_help=True, help="Finish or skip a step of an incident's playbook.")
app.add_typer(step_app, name="step")

AsJson = Annotated[bool, typer.Option("--json", help="print the incident as JSON")]
By = Annotated[str | None, typer.Option("--by", help="who does it (default: $SOC_ACTOR or the login name)")]
StepOpt = Annotated[str | None, typer.Option("--step", help="a step id instead of the whole incident")]
IncidentId = Annotated[str, typer.Argument(help="the incident id, or a unique prefix of it", show_default=False)]
Lang = Annotated[
    Literal["ja", "en"] | None,
    typer.Option("--lang", help="language of titles and instructions (default: report_lang)"),
]


def _actor(by: str | None) -> str:
    return by or os.environ.get("SOC_ACTOR") or getpass.getuser()


def _workflow() -> Workflow:
    ctx = context()
    return Workflow(ctx, playbooks=load_playbooks(ctx.settings.playbooks_dir))


def _id(text: str) -> str:
    """The full id of the incident *text* names (an id or a unique prefix)."""
    return resolve_incident(context(), text)


def _playbook(incident: Incident, books: list[Playbook] | None = None) -> Playbook | None:
    """The loaded playbook the incident follows, if any (from *books* when given)."""
    if incident.playbook_id is None:
        return None
    books = books if books is not None else load_playbooks(context().settings.playbooks_dir)
    return next((p for p in books if p.id == incident.playbook_id), None)


def _dump(incident: Incident) -> dict[str, Any]:
    data = incident.model_dump(mode="json")
    data["kpis"] = kpis(incident).model_dump(mode="json")
    return data


def _done(incident: Incident, as_json: bool, what: str) -> None:
    if as_json:
        print_json(_dump(incident))
    else:
        console.print(f"{safe(incident.id)}: {safe(what)} (status {incident.status.value}, {incident.priority.value})")


@app.command("list")
@command
def list_incidents(
    status: Annotated[IncidentStatus | None, typer.Option(help="only this status")] = None,
    as_json: AsJson = False,
) -> None:
    """Incidents, newest first."""
    ctx = context()
    lang = ctx.settings.report_lang
    incidents = load_incidents(ctx, status)
    if as_json:
        for i in incidents:
            print_json(_dump(i))
        return
    table = Table("id", "priority", "status", "severity", "title", "alerts", "playbook", "tier", "opened")
    for i in incidents:
        table.add_row(
            *cells(
                i.id, i.priority.value, i.status.value, i.severity.value, i.title(lang), len(i.alert_ids),
                i.playbook_id, i.tier, iso(i.opened_at),
            )
        )  # fmt: skip
    console.print(table)


@app.command("show")
@command
def show(incident_id: IncidentId, lang: Lang = None, as_json: AsJson = False) -> None:
    """One incident: the playbook's steps (titles, instructions, owners, due times, SLA state,
    evidence required, decision options), obligations, KPIs and the audit trail."""
    ctx = context()
    incident = get_incident(ctx, _id(incident_id))
    if as_json:
        print_json(_dump(incident))
        return
    tz, now = ctx.settings.tz, ctx.clock.now()
    lang = lang or ctx.settings.report_lang

    def at(t: Any) -> str:
        return t.astimezone(tz).isoformat(timespec="minutes") if t else ""

    console.print(f"[bold]{safe(incident.id)}[/] {safe(incident.title(lang))}")
    console.print(
        f"status {incident.status.value}, priority {incident.priority.value} "
        f"({safe('; '.join(incident.priority_reasons))}), "
        f"severity {incident.severity.value}, risk {incident.risk_score:g}, held by {safe(incident.tier)}"
    )
    for field, values in incident.entities.items():
        console.print(f"  {field}: {safe(', '.join(values))}")
    segments = ", ".join(incident.segments) or "-"
    console.print(f"segments: {safe(segments)}; alerts: {safe(', '.join(incident.alert_ids))}")
    console.print(f"detected {at(incident.detected_at)}; aware {at(incident.aware_at) or '-'}")
    playbook = _playbook(incident)
    if incident.steps:
        book = f"{incident.playbook_id} v{incident.playbook_version}" if incident.playbook_id else "-"
        console.print(f"\n[bold]playbook {safe(book)}[/]" + ("" if playbook else " (not loaded: no instructions)"))
        render_steps(console, incident, playbook, lang=lang, now=now, tz=tz)
    if incident.obligations:
        obl = Table("report to", "due", "status", "sent", "reference")
        for o in incident.obligations:
            obl.add_row(*cells(o.label(lang), at(o.due_at) or o.rule(lang), o.status.value, at(o.sent_at), o.reference))
        console.print(obl)
    k = kpis(incident)
    console.print(
        "KPIs: "
        + ", ".join(f"{name} {getattr(k, name) or '-'}" for name in ("time_to_acknowledge", "time_to_triage",
                                                                   "time_to_contain", "time_to_resolve"))
    )  # fmt: skip
    for e in incident.audit[-10:]:
        console.print(f"  #{e.seq} {at(e.at)} {safe(e.actor)} {safe(e.action)} {safe(e.detail)} {safe(e.reason)}")


@app.command("open")
@command
def open_incident(
    title_en: Annotated[str, typer.Option("--title-en", help="title in English")],
    title_ja: Annotated[str, typer.Option("--title-ja", help="title in Japanese")],
    playbook: Annotated[str | None, typer.Option(help="playbook id, e.g. personal-data-misdelivery")] = None,
    severity: Annotated[Severity, typer.Option()] = Severity.medium,
    risk: Annotated[float, typer.Option(help="risk score 0-100")] = 50,
    segment: Annotated[list[str] | None, typer.Option("--segment", help="affected segment (repeatable)")] = None,
    personal_data: Annotated[bool, typer.Option("--personal-data", help="personal data may be involved")] = False,
    reason: Annotated[str, typer.Option(help="how it was reported")] = "",
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Open an incident by hand (a misdelivered letter, a call from a vendor)."""
    incident = _workflow().open_manual(
        title=Bilingual(en=title_en, ja=title_ja), actor=_actor(by), playbook_id=playbook, severity=severity,
        risk_score=risk, segments=segment or [], personal_data=personal_data, reason=reason,
    )  # fmt: skip
    _done(incident, as_json, "opened")


@app.command("assign")
@command
def assign(
    incident_id: IncidentId, assignee: str, step: StepOpt = None, by: By = None, as_json: AsJson = False
) -> None:
    """Assign the incident (or one step) to a person."""
    incident = _workflow().assign(_id(incident_id), assignee, actor=_actor(by), step_id=step)
    _done(incident, as_json, f"assigned to {assignee}")


@app.command("ack")
@command
def ack(incident_id: IncidentId, step: StepOpt = None, by: By = None, as_json: AsJson = False) -> None:
    """Acknowledge the incident (a new one moves to triage) or a ready step."""
    _done(_workflow().acknowledge(_id(incident_id), actor=_actor(by), step_id=step), as_json, "acknowledged")


@step_app.command("done")
@command
def step_done(
    incident_id: IncidentId,
    step_id: str,
    note: Annotated[str, typer.Option(help="what was done")] = "",
    evidence: Annotated[list[str] | None, typer.Option("--evidence", help="link to evidence (repeatable)")] = None,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Mark a step done; the steps after it become ready."""
    incident = _workflow().complete_step(
        _id(incident_id), step_id, actor=_actor(by), note=note, evidence=evidence or []
    )
    _done(incident, as_json, f"step {step_id} done")


@step_app.command("skip")
@command
def step_skip(
    incident_id: IncidentId,
    step_id: str,
    reason: Annotated[str, typer.Option(help="why it is not needed")],
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Skip a step that is not needed; the flow goes on."""
    _done(
        _workflow().skip_step(_id(incident_id), step_id, actor=_actor(by), reason=reason),
        as_json,
        f"step {step_id} skipped",
    )


@app.command("decide")
@command
def decide(
    incident_id: IncidentId,
    step_id: Annotated[str | None, typer.Argument(help="the decision or approval step (omit to list them)")] = None,
    option: Annotated[str | None, typer.Argument(help="the option chosen (omit to list them)")] = None,
    comment: Annotated[str, typer.Option(help="why")] = "",
    lang: Lang = None,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Record the option chosen at a decision or approval step.

    Without a step, or with an option that is not one of the step's, nothing is recorded:
    the open decisions and their options (effect, risk, cost, resident impact) are listed
    and the exit status is 2."""
    ctx = context()
    wf = _workflow()
    incident = get_incident(ctx, _id(incident_id))
    lang = lang or ctx.settings.report_lang
    choices = choice_views(incident, _playbook(incident, wf.playbooks))
    wanted = next((c for c in choices if c.instance.step_id == step_id), None)
    if step_id is not None and wanted is None:
        names = ", ".join(c.instance.step_id for c in choices) or "none"
        raise SocError(
            f"{incident.id} has no decision or approval step {step_id!r}", hint=f"its decision steps: {names}"
        )
    if wanted is not None and option is not None and option in wanted.option_ids:
        decided = wf.decide(incident.id, wanted.instance.step_id, option, actor=_actor(by), comment=comment)
        _done(decided, as_json, f"{wanted.instance.step_id}: {option}")
        return
    if wanted is not None and option is not None:
        err_console.print(
            f"[bold red]error:[/] '{safe(option)}' is not an option of step {safe(step_id)}",
            soft_wrap=True,
        )
    elif option is None and wanted is not None:
        err_console.print(f"no option given for step {safe(step_id)}: nothing recorded")
    shown = [wanted] if wanted is not None else [c for c in choices if _open_choice(c)]
    if not shown:
        err_console.print(f"{safe(incident.id)} has no decision waiting")
    for view in shown:
        render_options(console, view, incident, lang=lang)
    console.print(f"decide with: soc incidents decide {safe(incident.id)} STEP OPTION --comment WHY")
    raise typer.Exit(2)


def _open_choice(view: StepView) -> bool:
    inst = view.instance
    return inst.choice is None and inst.status not in (StepStatus.done, StepStatus.skipped)


@app.command("note")
@command
def note(incident_id: IncidentId, text: str, step: StepOpt = None, by: By = None, as_json: AsJson = False) -> None:
    """Add a note to the incident (or a step)."""
    _done(_workflow().note(_id(incident_id), text, actor=_actor(by), step_id=step), as_json, "note added")


@app.command("transition")
@command
def transition(
    incident_id: IncidentId,
    to: IncidentStatus,
    reason: Annotated[str, typer.Option(help="why")],
    aware_at: Annotated[str | None, typer.Option(help="when the city became aware, ISO 8601")] = None,
    duplicate_of: Annotated[str | None, typer.Option(help="the incident this one duplicates")] = None,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Move the incident to another state (illegal moves are refused, naming the allowed ones)."""
    try:
        aware = parse_time(aware_at) if aware_at else None
    except ValueError as exc:
        raise SocError(str(exc), field="--aware-at") from exc
    original = _id(duplicate_of) if duplicate_of else None
    incident = _workflow().transition(
        _id(incident_id), to, actor=_actor(by), reason=reason, aware_at=aware, duplicate_of=original
    )
    _done(incident, as_json, f"now {to.value}")


@app.command("close")
@command
def close(
    incident_id: IncidentId,
    reason: Annotated[str, typer.Option(help="resolution")],
    verdict: Annotated[
        CloseReason,
        typer.Option(
            help="the outcome, given to every alert of the incident still open; false_positive "
            "moves the incident to false-positive"
        ),
    ] = CloseReason.true_positive,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Close an incident and its open alerts with one verdict (refused while reports are pending)."""
    done = close_incident(context(), _workflow(), _id(incident_id), by=_actor(by), verdict=verdict, reason=reason)
    if as_json:
        print_json(_dump(done.incident) | {"alerts_closed": done.alerts_closed})
        return
    what = f"closed as {verdict.value}; {len(done.alerts_closed)} alert(s) closed with that verdict"
    _done(done.incident, as_json, what)


@app.command("obligation")
@command
def obligation(
    incident_id: IncidentId,
    kind: str,
    status: Annotated[ObligationStatus, typer.Option(help="sent or not-required")],
    reference: Annotated[str | None, typer.Option(help="reference number given by the recipient")] = None,
    sent_at: Annotated[str | None, typer.Option(help="when it was sent, ISO 8601 (default now)")] = None,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Record an external report (e.g. ppc-preliminary) as sent, with its reference number."""
    when = parse_time(sent_at) if sent_at else None
    incident = _workflow().update_obligation(
        _id(incident_id), kind, actor=_actor(by), status=status, sent_at=when, reference=reference
    )
    _done(incident, as_json, f"{kind}: {status.value}")


@app.command("impact")
@command
def impact(
    incident_id: IncidentId,
    reason: Annotated[str, typer.Option(help="what triage found")],
    personal_data: Annotated[bool | None, typer.Option("--personal-data/--no-personal-data")] = None,
    outage: Annotated[bool | None, typer.Option("--outage/--no-outage", help="a resident service is down")] = None,
    malicious: Annotated[bool | None, typer.Option("--malicious/--not-malicious")] = None,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Record confirmed impact; priority floors and the reporting track follow."""
    incident = _workflow().set_impact(
        _id(incident_id), actor=_actor(by), reason=reason, personal_data_confirmed=personal_data,
        resident_service_outage=outage, malicious_act=malicious,
    )  # fmt: skip
    _done(incident, as_json, "impact recorded")
