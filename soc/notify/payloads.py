"""Pure rendering of a notification: e-mail message, Markdown and webhook JSON.

Japanese first, then English, in every format (the CISO reads Japanese; the toolkit's
operators may not). Nothing here does I/O.

Subjects and bodies carry strings from logs (user names, hosts, titles built from them), so
every format shows them as data (``soc.textsafe``): control, bidi and zero-width characters
escaped visibly everywhere; mail headers on one line (a CR/LF never fails a delivery);
Markdown, Teams and Slack text with links, HTML, emphasis and mentions escaped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from soc.notify.models import Notification
from soc.textsafe import header_value, markdown_text, one_line, slack_text, visible
from soc.vocab import Severity

__all__ = [
    "PAYLOAD_SCHEMA",
    "WEBHOOK_FORMATS",
    "email_message",
    "email_subject",
    "generic_payload",
    "markdown",
    "slack_payload",
    "teams_payload",
    "text_body",
]

PAYLOAD_SCHEMA = "soc.notification/1"

SEVERITY_JA = {Severity.low: "低", Severity.medium: "中", Severity.high: "高", Severity.critical: "緊急"}

_SLACK_HEADER_MAX = 150
_SLACK_TEXT_MAX = 3000


def email_subject(n: Notification) -> str:
    """One header line, whatever the subject holds (CR/LF and controls shown escaped)."""
    return header_value(f"[{SEVERITY_JA[n.severity]}/{n.severity.value}] {n.subject.ja} / {n.subject.en}")


def _lines(text: str, escape: Callable[[str], str]) -> str:
    """Escape *text* line by line, keeping its line breaks (CR and other controls are escaped)."""
    return "\n".join(escape(line) for line in text.split("\n"))


def _facts_ja(n: Notification) -> list[tuple[str, str]]:
    facts = [("重大度", f"{SEVERITY_JA[n.severity]} ({n.severity.value})")]
    if n.incident_id:
        facts.append(("インシデント", n.incident_id))
    if n.link:
        facts.append(("リンク", n.link))
    return facts


def _facts_en(n: Notification) -> list[tuple[str, str]]:
    facts = [("Severity", n.severity.value)]
    if n.incident_id:
        facts.append(("Incident", n.incident_id))
    if n.link:
        facts.append(("Link", n.link))
    return facts


def text_body(n: Notification) -> str:
    """Plain text: the Japanese section, then the English one."""
    ja = "\n".join(f"{k}: {one_line(v)}" for k, v in _facts_ja(n))
    en = "\n".join(f"{k}: {one_line(v)}" for k, v in _facts_en(n))
    subject_ja, subject_en = one_line(n.subject.ja), one_line(n.subject.en)
    body_ja, body_en = _lines(n.body.ja, one_line), _lines(n.body.en, one_line)
    return (
        f"{subject_ja}\n\n{body_ja}\n\n{ja}\n\n"
        f"---------- English ----------\n\n{subject_en}\n\n{body_en}\n\n{en}\n\n"
        f"-- \nsoc notification {n.key}\n"
    )


def email_message(n: Notification, *, sender: str, to: list[str], message_id: str, date: datetime) -> EmailMessage:
    """A UTF-8 message; the Japanese subject is RFC 2047-encoded when serialised."""
    msg = EmailMessage()
    msg["Subject"] = email_subject(n)
    msg["From"] = header_value(sender)
    msg["To"] = header_value(", ".join(to), limit=10_000)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = header_value(message_id)  # stable per delivery: a resend is recognisable as the same message
    msg["X-SOC-Notification-Key"] = header_value(n.key)
    if n.incident_id:
        msg["X-SOC-Incident"] = header_value(n.incident_id)
    msg.set_content(text_body(n), charset="utf-8", cte="base64")  # 7-bit safe through old relays
    return msg


_AUTOLINK = re.compile(r"https?://[^\s<>\\\x00-\x1f\x7f-\x9f]+")


def _md_fact(key: str, value: str) -> str:
    # the link is ours (an http(s) URL checked by the model): an autolink, never a [text](url),
    # and only when nothing in it could close the autolink
    shown = f"<{value}>" if _AUTOLINK.fullmatch(value) else markdown_text(value)
    return f"- **{key}**: {shown}"


def _md_body(text: str) -> str:
    """Each line escaped, kept as its own line (a trailing backslash is a hard line break)."""
    return "\\\n".join(markdown_text(line) for line in text.split("\n"))


def markdown(n: Notification) -> str:
    ja = "\n".join(_md_fact(k, v) for k, v in _facts_ja(n))
    en = "\n".join(_md_fact(k, v) for k, v in _facts_en(n))
    return (
        f"# {markdown_text(n.subject.ja)}\n\n{_md_body(n.body.ja)}\n\n{ja}\n\n---\n\n"
        f"# {markdown_text(n.subject.en)}\n\n{_md_body(n.body.en)}\n\n{en}\n\n"
        f"<!-- key: {markdown_text(n.key).replace('--', '-&#45;')} -->\n"
    )


def generic_payload(n: Notification) -> dict[str, Any]:
    """Our own schema: the notification as data, for any receiver that parses JSON."""
    return {
        "schema": PAYLOAD_SCHEMA,
        "key": n.key,
        "severity": n.severity.value,
        "incident_id": n.incident_id,
        "subject": {"ja": one_line(n.subject.ja), "en": one_line(n.subject.en)},
        "body": {"ja": visible(n.body.ja, multiline=True), "en": visible(n.body.en, multiline=True)},
        "link": n.link,
        "roles": list(n.roles),
    }


def teams_payload(n: Notification) -> dict[str, Any]:
    """A Microsoft Teams message carrying an Adaptive Card (Teams Workflows webhooks)."""
    color = "attention" if n.severity >= Severity.high else "warning" if n.severity is Severity.medium else "default"
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": markdown_text(n.subject.ja),
            "weight": "bolder",
            "size": "medium",
            "wrap": True,
            "color": color,
        },
        {"type": "TextBlock", "text": _md_body(n.body.ja), "wrap": True},
        {
            "type": "FactSet",
            "facts": [{"title": k, "value": markdown_text(v)} for k, v in _facts_ja(n) if k != "リンク"],
        },
        {"type": "TextBlock", "text": markdown_text(n.subject.en), "weight": "bolder", "wrap": True, "separator": True},
        {"type": "TextBlock", "text": _md_body(n.body.en), "wrap": True},
        {"type": "FactSet", "facts": [{"title": k, "value": markdown_text(v)} for k, v in _facts_en(n) if k != "Link"]},
    ]
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if n.link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "開く / Open", "url": n.link}]
    return {
        "type": "message",
        "summary": one_line(f"{n.subject.ja} / {n.subject.en}"),
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


def _mrkdwn(text: str) -> str:
    """Slack mrkdwn: &, < and > escaped (no link, mention or <!channel>), controls shown, lines kept."""
    return _lines(text, slack_text)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_payload(n: Notification) -> dict[str, Any]:
    """Slack-compatible (also Mattermost, Rocket.Chat): ``text`` as fallback plus ``blocks``."""
    context = f"{SEVERITY_JA[n.severity]} / {n.severity.value}" + (f" · {n.incident_id}" if n.incident_id else "")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(one_line(n.subject.ja), _SLACK_HEADER_MAX)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(_mrkdwn(n.body.ja), _SLACK_TEXT_MAX)}},
        {"type": "divider"},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": _cut(f"*{_mrkdwn(n.subject.en)}*\n{_mrkdwn(n.body.en)}", _SLACK_TEXT_MAX),
            },
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _mrkdwn(context)}]},
    ]
    if n.link:
        blocks.append(
            {
                "type": "actions",
                "elements": [{"type": "button", "text": {"type": "plain_text", "text": "開く / Open"}, "url": n.link}],
            }
        )
    return {"text": _mrkdwn(f"[{n.severity.value}] {n.subject.ja} / {n.subject.en}"), "blocks": blocks}


WEBHOOK_FORMATS: dict[str, Callable[[Notification], dict[str, Any]]] = {
    "generic": generic_payload,
    "teams": teams_payload,
    "slack": slack_payload,
}
