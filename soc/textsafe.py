"""Hostile strings are data: show them, never obey them.

Every string that came from a log (a user name, a host, a file name, a title built from
them) may carry terminal escapes, bidi overrides, zero-width characters or CR/LF. This
module is the one place that makes such a string safe to *show*:

* ``visible(text)`` — control characters (C0, DEL, C1, ESC), bidi controls, zero-width and
  other invisible format characters, line/paragraph separators and lone surrogates become
  visible escapes (``\\x1b``, ``\\u202e``); a backslash that starts such an escape is doubled,
  so the output is unambiguous. Newline and tab are kept when ``multiline=True``.
* ``header_value(text)`` — one line for a mail or HTTP header: CR, LF and every other
  control become visible escapes, so a header never breaks (and a delivery never fails).
* ``markdown_text(text)`` / ``slack_text(text)`` — inline text for Markdown (Teams) and
  Slack mrkdwn: links, emphasis, HTML and mentions (``<!channel>``, ``@here``) are escaped.

Base layer: imports nothing from soc. Reports (``soc/reports``) call ``visible`` on
log-derived strings before their own HTML/Markdown escaping.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "header_value",
    "markdown_text",
    "one_line",
    "slack_text",
    "truncate",
    "visible",
]

# bidi embeddings/overrides/isolates and marks, zero-width characters, the BOM, the word
# joiner and invisible operators, the Mongolian vowel separator, the Hangul fillers and
# interlinear annotation marks: none is meant to be seen, all can disguise a name.
_INVISIBLE = frozenset(
    [
        *range(0x200B, 0x2010),  # ZWSP, ZWNJ, ZWJ, LRM, RLM
        *range(0x2028, 0x202F),  # LS, PS, LRE, RLE, PDF, LRO, RLO
        *range(0x2060, 0x2070),  # word joiner, invisible operators, LRI, RLI, FSI, PDI, ...
        0x00AD,  # soft hyphen
        0x034F,  # combining grapheme joiner
        0x061C,  # Arabic letter mark
        0x115F,
        0x1160,
        0x3164,
        0xFFA0,  # Hangul fillers
        0x180E,  # Mongolian vowel separator
        0xFEFF,  # BOM / zero-width no-break space
        *range(0xFFF9, 0xFFFC),  # interlinear annotation
    ]
)


def _needs_escape(ch: str, *, multiline: bool) -> bool:
    code = ord(ch)
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return not (multiline and ch in "\n\t")
    if code in _INVISIBLE or 0xD800 <= code <= 0xDFFF:
        return True
    # any other format (Cf) character or unassigned/private code point in the tag block
    return unicodedata.category(ch) == "Cf"


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


_ESCAPE_LIKE = re.compile(r"\\(?=x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4})")


def visible(text: object, *, multiline: bool = False) -> str:
    """*text* with every control, bidi and invisible character shown as an escape.

    ``visible("admin\\u202egnp.exe")`` -> ``'admin\\\\u202egnp.exe'`` (shows ``admin\\u202egnp.exe``).
    A literal backslash followed by ``x41`` or ``u202e`` is doubled so an attacker cannot
    write text that looks like one of our escapes. Plain text comes back unchanged.
    """
    s = text if isinstance(text, str) else str(text)
    if s.isascii() and s.isprintable() and "\\" not in s:
        return s  # fast path: the common case
    s = _ESCAPE_LIKE.sub(r"\\\\", s)
    return "".join(_escape(ch) if _needs_escape(ch, multiline=multiline) else ch for ch in s)


def one_line(text: object) -> str:
    """``visible`` without newlines: for table cells, log lines and titles."""
    return visible(text, multiline=False)


def header_value(text: object, *, limit: int = 900) -> str:
    """A safe single-line header value: no CR/LF or other control, bounded in length.

    Never raises: a hostile subject is shown escaped, so the mail is still sent.
    """
    return truncate(one_line(text), limit)


def truncate(text: str, limit: int) -> str:
    """*text* cut to at most *limit* characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    note = f"… (+{len(text) - limit} chars)"
    return text[: max(0, limit - len(note))] + note


# Markdown (CommonMark as Teams renders it): backslash-escape every ASCII punctuation that
# can start markup, and HTML-escape what a renderer might take as a tag or entity.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#!|~])")
_MD_LINE_START = re.compile(r"^(\d+(?=[.)])|[-+>=])")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
_MENTION = re.compile(r"@(?=(here|channel|everyone|all)\b)", re.IGNORECASE)


def markdown_text(text: object) -> str:
    """Inline Markdown that shows *text* literally: no link, image, emphasis, HTML or mention."""
    s = one_line(text)
    s = "".join(_HTML.get(ch, ch) for ch in s)
    s = _MD_SPECIAL.sub(r"\\\1", s)
    s = _MD_LINE_START.sub(lambda m: "\\" + m.group(0) if not m.group(0).isdigit() else m.group(0) + "\\", s)
    return _MENTION.sub(r"\\@", s)  # "\\@here" renders as "@here" and mentions no one


def slack_text(text: object) -> str:
    """Slack mrkdwn text that shows *text* literally.

    Slack reads ``<...>`` as links and mentions (``<!channel>``, ``<@U123>``,
    ``<javascript:x|click>``) and ``&`` entities; it asks for exactly these three escapes.
    ``@here``/``@channel`` typed as plain words are neutralised too, and emphasis marks are
    shown as they are (a zero-width joiner would be invisible, so we avoid it).
    """
    s = one_line(text)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MENTION.sub("@ ", s)
