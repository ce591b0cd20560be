"""A stored alert or incident in the viewer's words, as the incident report writes it.

The stored record stays as it is (an alert's English ``reason``, the audit trail's English
details): these helpers write it from its structured fields (entity, figures, actions, step
ids, roles, deadlines) with the reports' own builders and catalogues, so the console and the
report say the same thing in the same words. Values from logs (user names, host names,
addresses) pass through unchanged; the templates escape them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from soc.alerts.models import Alert
from soc.incidents.models import AuditEntry, Incident
from soc.playbooks.models import Playbook
from soc.reports import sections
from soc.reports.conclusion import option_label
from soc.reports.i18n import Translator
from soc.reports.words import entity_text, field_name, when

__all__ = ["Words"]

_DEADLINE = re.compile(r"^deadline (?P<at>\S+) passed$")
_ESCALATE = re.compile(r"^(?P<kind>\S+) (?P<subject>\S+) -> (?P<role>\S+)$")
_ALERT = re.compile(r"^alert (?P<id>\S+) \((?P<detector>[^)]*)\)")
_ACTIONS = {
    "open": ("起票", "opened"), "join": ("アラート追加", "alert joined"), "ack": ("受付", "acknowledged"),
    "assign": ("割り当て", "assigned"), "step-done": ("手順完了", "step done"),
    "step-skip": ("手順省略", "step skipped"), "step-ack": ("手順の受付", "step acknowledged"),
    "decide": ("判断", "decided"), "note": ("メモ", "note"), "impact": ("影響の記録", "impact"),
    "obligation": ("報告", "report"), "transition": ("状態の変更", "status changed"),
    "escalate": ("エスカレーション", "escalated"), "tier": ("階層の変更", "tier changed"),
}  # fmt: skip
_FLOOR = re.compile(r"^severity (?P<severity>\w+) at or above the escalation floor$")


class Words:
    """The helpers a console page renders a record with, for one viewer's language."""

    def __init__(
        self, lang: str, tz: ZoneInfo, title_of: Callable[[str], str], playbook: Playbook | None = None
    ) -> None:
        self.lang = lang
        self.tz = tz
        self.t = Translator(lang)
        self.title_of = title_of
        self.playbook = playbook

    # -- alerts and entities ------------------------------------------------------------
    def entity(self, entity: Mapping[str, str]) -> str:
        """``{"source.ip": "203.0.113.5"}`` → 「送信元アドレス 203.0.113.5」."""
        return entity_text(entity, self.lang) or "—"

    def entities(self, entities: Mapping[str, list[str]]) -> str:
        """An incident's entities (each field with its values) in words."""
        sep = "、" if self.lang == "ja" else ", "
        return sep.join(entity_text({k: v}, self.lang) for k, vs in sorted(entities.items()) for v in vs) or "—"

    def field(self, field: str | None) -> str:
        """An ECS field in words: ``user.name`` → 「アカウント」."""
        return field_name(field, self.lang) if field else ""

    def action(self, action: str) -> str:
        known = _ACTIONS.get(action)
        return (known[0] if self.lang == "ja" else known[1]) if known else action

    def title(self, detector: str) -> str:
        """A detector by its title in the viewer's language."""
        return self.title_of(detector)

    def segment(self, segment: str) -> str:
        key = f"segment_{segment}"
        return self.t(key) if self.t.has(key) else segment

    def segments(self, segments: list[str]) -> str:
        return self.t("list_sep").join(self.segment(s) for s in segments)

    def reason(self, alert: Alert) -> str:
        """Why the alert fired: the detector's sentence in English, the same facts in words in Japanese."""
        return sections.alert_reason(alert, self.t, self.tz, self.title_of)

    # -- incidents ------------------------------------------------------------------------
    def priority(self, reasons: list[str]) -> str:
        return self.t("list_sep").join(sections.priority_reasons(reasons, self.t))

    def role(self, role_id: str | None) -> str:
        """A playbook role or escalation tier by its name: 「CSIRT責任者」, never ``csirt-lead``."""
        if not role_id:
            return ""
        named = self.playbook.role_name(role_id, self.lang) if self.playbook is not None else role_id
        if named == role_id and self.t.has(f"role_{role_id}"):
            return self.t(f"role_{role_id}")
        return named

    def step(self, incident: Incident, step_id: str) -> str:
        if step_id == "incident":
            return self.t("escalation_subject_incident") if self.lang == "ja" else "the incident"
        s = incident.step(step_id)
        return s.title(self.lang) if s else step_id

    def option(self, step_id: str, option_id: str) -> str:
        """A decision's chosen option by its label."""
        return option_label(self.playbook, step_id, option_id, self.lang)

    def time(self, at: datetime | None) -> str:
        return when(at, self.tz, self.lang)

    def audit(self, e: AuditEntry, incident: Incident) -> tuple[str, str]:
        """One audit entry as (what happened, why), in the viewer's words."""
        ja = self.lang == "ja"
        text = sections.audit_text(
            e.action, e.detail, "", e.actor, incident, self.t,
            lambda step_id, option: option_label(self.playbook, step_id, option, self.lang),
        )  # fmt: skip
        if text is None:
            text = self._other(e, incident)
        return text, self._why(e.reason, ja)

    def _other(self, e: AuditEntry, incident: Incident) -> str:
        ja = self.lang == "ja"
        if e.action == "escalate" and (m := _ESCALATE.match(e.detail)):
            return sections.escalation_text(m["kind"], m["subject"], m["role"], incident, self.t, self.role)
        if e.action == "tier" and " -> " in e.detail:
            before, after = e.detail.split(" -> ", 1)
            return (
                f"対応の階層：{self.role(before)} → {self.role(after)}"
                if ja
                else (f"Tier: {self.role(before)} → {self.role(after)}")
            )
        if e.action in ("open", "join"):
            m = _ALERT.match(e.detail)
            if m:
                title = self.title_of(m["detector"])
                if e.action == "open":
                    return f"アラート {m['id']}（{title}）から起票" if ja else f"Opened from alert {m['id']} ({title})"
                return f"アラート {m['id']}（{title}）を追加" if ja else f"Alert {m['id']} ({title}) joined"
            return "手動で起票" if ja else "Opened by hand"
        if e.action == "assign" and " -> " in e.detail:
            subject, who = e.detail.split(" -> ", 1)
            return (
                f"担当を割り当て：{self.step(incident, subject)} → {who}"
                if ja
                else (f"Assigned {self.step(incident, subject)} to {who}")
            )
        if e.action == "step-ack":
            return (
                f"手順を受付：{self.step(incident, e.detail)}"
                if ja
                else f"Acknowledged {self.step(incident, e.detail)}"
            )
        if e.action == "note":
            return f"メモ：{self.step(incident, e.detail)}" if ja else f"Note on {self.step(incident, e.detail)}"
        return e.detail

    def _why(self, reason: str, ja: bool) -> str:
        """A stored reason: the system's own English in words; an operator's text as written."""
        if not reason:
            return ""
        key = f"audit_reason_{reason}"
        if self.t.has(key):
            return self.t(key)
        if m := _DEADLINE.match(reason):
            try:
                at = datetime.fromisoformat(m["at"])
            except ValueError:
                return reason
            return f"期限の{self.time(at)}を過ぎた" if ja else f"deadline {self.time(at)} passed"
        if m := _FLOOR.match(reason):
            severity = {"critical": "緊急", "high": "高", "medium": "中", "low": "低"}.get(m["severity"], m["severity"])
            return f"重大度「{severity}」がエスカレーションの基準以上" if ja else reason
        return reason
