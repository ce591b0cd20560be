"""An incident's playbook on the terminal: each step with its title and instructions in the
chosen language, owner, due time, SLA state, evidence required and, for decisions and
approvals, the options with their effect, risk, cost and resident impact.

Used by ``soc incidents show`` (every step) and ``soc incidents decide`` (the options of a
decision when none, or a wrong one, was given). Every string goes through ``safe``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from rich.console import Console
from rich.text import Text

from soc.cjk import fold
from soc.cli.common import safe
from soc.incidents.models import Incident, StepInstance, StepStatus
from soc.incidents.steps import chosen_options, sla_state
from soc.playbooks.models import AnyStep, ApprovalStep, DecisionStep, Playbook
from soc.textsafe import visible

__all__ = ["StepView", "choice_views", "render_options", "render_steps"]

_LABELS = {
    "en": {
        "owner": "owner", "assignees": "assigned to", "due": "due", "waiting": "not started (earlier steps first)",
        "sla": "SLA", "instructions": "instructions", "evidence": "evidence required", "options": "options",
        "effect": "effect", "risk": "risk", "cost": "cost", "resident_impact": "resident impact",
        "recommended": "recommended", "chosen": "chosen", "question": "question", "if_no_decision": "if no decision",
        "evidence_given": "evidence",
    },
    "ja": {
        "owner": "担当", "assignees": "割当", "due": "期限", "waiting": "未開始（前の手順の完了後）",
        "sla": "SLA", "instructions": "手順", "evidence": "必要な証跡", "options": "選択肢",
        "effect": "効果", "risk": "リスク", "cost": "費用", "resident_impact": "住民への影響",
        "recommended": "推奨", "chosen": "決定", "question": "判断事項", "if_no_decision": "期限までに判断がない場合",
        "evidence_given": "証跡",
    },
}  # fmt: skip


@dataclass(frozen=True)
class StepView:
    """A step of an incident (its state) with the playbook's definition of it, if loaded."""

    instance: StepInstance
    definition: AnyStep | None

    @property
    def option_ids(self) -> list[str]:
        d = self.definition
        return [o.id for o in d.options] if isinstance(d, DecisionStep | ApprovalStep) else []


def _wrapped(console: Console, text: str, indent: int) -> None:
    """*text* (shown escaped) folded to the console's width, every line indented: Japanese lines
    break between characters (kinsoku rules kept), not early at a space (``soc.cjk.fold``)."""
    for line in fold(visible(text), max(20, console.width - indent)):
        console.print(Text(" " * indent + line), soft_wrap=True)


def _label(lang: str, key: str) -> str:
    return _LABELS["ja" if lang == "ja" else "en"][key]


def _definition(playbook: Playbook | None, step_id: str) -> AnyStep | None:
    return playbook.find_step(step_id) if playbook is not None else None


def choice_views(incident: Incident, playbook: Playbook | None) -> list[StepView]:
    """The incident's decision and approval steps, each with its definition."""
    views = [StepView(inst, _definition(playbook, inst.step_id)) for inst in incident.steps]
    return [v for v in views if v.option_ids]


def render_steps(
    console: Console, incident: Incident, playbook: Playbook | None, *, lang: str, now: datetime, tz: tzinfo
) -> None:
    """Every step, in the playbook's order: finished ones on one line, the others in full."""

    def at(t: datetime | None) -> str:
        return t.astimezone(tz).isoformat(timespec="minutes") if t else ""

    for n, inst in enumerate(incident.steps, 1):
        view = StepView(inst, _definition(playbook, inst.step_id))
        state = sla_state(inst, now).value if inst.ready_at else ""
        head = (
            f"{n:>2}. [bold]{safe(inst.title(lang))}[/] ({safe(inst.step_id)}, {safe(inst.kind)}) {inst.status.value}"
        )
        if state:
            head += f", {_label(lang, 'sla')} {state}"
        console.print(head)
        if inst.choice is not None:
            c = inst.choice
            chosen = f"{safe(c.option)} by {safe(c.by)} {at(c.at)} {safe(c.comment)}".rstrip()
            console.print(f"      {_label(lang, 'chosen')}: {chosen}")
        for ev in inst.evidence:
            console.print(f"      {_label(lang, 'evidence_given')}: {safe(ev.uri)} {safe(ev.description)}".rstrip())
        if inst.status in (StepStatus.done, StepStatus.skipped):
            continue
        if inst.owner is None and inst.due_at is None:  # an end or a parallel join: nothing to do there
            continue
        owner = inst.owner or ""
        if playbook is not None and owner:
            owner = f"{playbook.role_name(owner, lang)} ({owner})"
        due = at(inst.due_at) if inst.ready_at else _label(lang, "waiting")
        line = f"      {_label(lang, 'owner')}: {safe(owner or '-')}; {_label(lang, 'due')}: {safe(due or '-')}"
        if inst.assignees:
            line += f"; {_label(lang, 'assignees')}: {safe(', '.join(inst.assignees))}"
        console.print(line)
        instructions = getattr(view.definition, "instructions", None)
        if instructions is not None:
            console.print(f"      {_label(lang, 'instructions')}:")
            for text in instructions(lang).strip().splitlines():
                _wrapped(console, text, 8)
        required = inst.evidence_required or getattr(view.definition, "evidence", [])
        if required:
            console.print(f"      {_label(lang, 'evidence')}:")
            for item in required:
                console.print(f"        - {safe(item(lang))}")
        if view.option_ids and inst.choice is None:
            _options(console, view, incident, lang=lang, indent="      ")


def render_options(console: Console, view: StepView, incident: Incident, *, lang: str) -> None:
    """One decision or approval step and its options (for ``soc incidents decide``)."""
    inst = view.instance
    console.print(f"[bold]{safe(inst.step_id)}[/]: {safe(inst.title(lang))} ({inst.status.value})")
    _options(console, view, incident, lang=lang, indent="  ")


def _hanging(console: Console, indent: str, head: str, text: str, *, bold: bool = False) -> None:
    """``head: text`` folded to the console's width (``soc.cjk.fold``), the lines after the
    first indented two more; *head* in bold when asked. Both are shown escaped."""
    first, *rest = fold(f"{visible(head)}: {visible(text)}", max(20, console.width - len(indent) - 2))
    line = Text(indent)
    if bold:
        name, _, after = first.partition(": ")
        line.append(name, style="bold")
        line.append(": " + after)
    else:
        line.append(first)
    console.print(line, soft_wrap=True)
    for more in rest:
        console.print(Text(f"{indent}  {more}"), soft_wrap=True)


def _options(console: Console, view: StepView, incident: Incident, *, lang: str, indent: str) -> None:
    d = view.definition
    if not isinstance(d, DecisionStep | ApprovalStep):
        return
    recommended = d.recommendation_for(chosen_options(incident)) if isinstance(d, ApprovalStep) else None
    if isinstance(d, ApprovalStep):
        _hanging(console, indent, _label(lang, "question"), d.question(lang))
    console.print(f"{indent}{_label(lang, 'options')}:")
    for o in d.options:
        mark = f" ({_label(lang, 'recommended')})" if o.id == recommended else ""
        _hanging(console, f"{indent}  ", o.id, o.label(lang) + mark, bold=True)
        for key in ("effect", "risk", "cost", "resident_impact"):
            text = getattr(o, key)
            if text is not None:
                _hanging(console, f"{indent}      ", _label(lang, key), text(lang))
    if isinstance(d, ApprovalStep):
        _hanging(console, indent, _label(lang, "if_no_decision"), d.if_no_decision(lang))
