"""Japanese text folded across lines: no space where a Japanese reader expects none.

YAML folds a line break inside a ``>-`` block (or a multi-line plain or quoted scalar) into
one space. Between two English words that space belongs; in Japanese text it does not
(「確認し て」 reads as a typo, 「封じ込め、 CISOに」 has a hole). ``join_folded_lines`` joins
the lines of such a string again without a space where both sides of a break are CJK
characters (kana, kanji, CJK punctuation, full-width forms) or either side is CJK
punctuation or a full-width bracket (「、」「。」「（」「）」 carry their own spacing). A
space written on one line and a fold between English words, or between an English word
and a kana or kanji, stay.

Base layer: imports nothing from soc.
"""

from __future__ import annotations

import itertools
import re
import unicodedata

__all__ = ["CJK_SPACE", "MAX_FOLDED_CHARS", "cells", "fold", "is_cjk", "join_folded_lines"]

MAX_FOLDED_CHARS = 20_000  # the longest shipped text is under 1,000 characters

# CJK symbols and punctuation (、。「」 々 〜, not the ideographic space U+3000), hiragana,
# katakana (ー included) and its phonetic extensions, CJK ideographs (extension A, the
# unified block, compatibility ideographs), full-width forms (！（）：) and half-width katakana
_CJK = "\u3001-\u303f\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff01-\uff60\uff61-\uff9f"
_ONE_CJK = re.compile(f"[{_CJK}]")
_TIGHT = "\u3001-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"  # CJK and full-width punctuation
_ONE_TIGHT = re.compile(f"[{_TIGHT}]")

CJK_SPACE = re.compile(f"(?<=[{_CJK}]) +(?=[{_CJK}])|(?<=[{_TIGHT}]) +(?=\\S)|(?<=\\S) +(?=[{_TIGHT}])")
"""A space a Japanese reader does not expect: between two CJK characters, or next to CJK
punctuation (what a folded line break leaves in Japanese text)."""


def is_cjk(char: str) -> bool:
    return _ONE_CJK.fullmatch(char) is not None


def _tight(before: str, after: str) -> bool:
    """No space between *before* and *after* (two characters on either side of a fold)."""
    if is_cjk(before) and is_cjk(after):
        return True
    return _ONE_TIGHT.fullmatch(before) is not None or _ONE_TIGHT.fullmatch(after) is not None


def join_folded_lines(folded: str, lines: list[str]) -> str:
    """*folded* (a YAML scalar whose source *lines* were folded, each break a space) with the
    breaks inside Japanese text joined without a space. A break folding did not turn
    into one space (a blank line, a more-indented line, an escape in a quoted string) is left
    as it is, and so is a string longer than ``MAX_FOLDED_CHARS`` (the work stays bounded)."""
    if len(folded) > MAX_FOLDED_CHARS:  # prose is paragraphs; a bigger string is left as it is
        return folded
    parts = [line.strip() for line in lines]
    out, at = folded, 0
    for before, after in itertools.pairwise(parts):
        if not (before and after and _tight(before[-1], after[0])):
            continue
        found = out.find(f"{before} {after}", at)
        if found >= 0:
            at = found + len(before)
            out = out[:at] + out[at + 1 :]
    return out


# line-breaking rules (kinsoku): never at the start of a line, never at its end
_NO_START = set(
    "、。，．・：；？！ー）」』】〕〉》｝〙〗〟’”ゝゞヽヾぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ々〻‐゠–〜～?!),.:;]}"
)
_NO_END = set("（「『【〔〈《｛〘〖〝‘“([{")


def cells(text: str) -> int:
    """How many terminal columns *text* takes (wide and full-width characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _units(text: str) -> list[str]:
    """*text* cut where a line may break: spaces stay as their own units, each CJK character
    is a unit, a run of other characters (an English word, a number) is one unit; kinsoku
    characters are glued to their neighbour so that no line starts or ends with them."""
    units: list[str] = []
    for m in re.finditer(f" +|[{_CJK}]|[^ {_CJK}]+", text):
        piece = m.group()
        glued = piece[0] in _NO_START or (units and units[-1][-1] in _NO_END)
        if units and glued and not piece.isspace() and not units[-1].isspace():
            units[-1] += piece
            continue
        units.append(piece)
    return units


def fold(text: str, width: int) -> list[str]:
    """*text* folded into lines of at most *width* terminal columns: English breaks at spaces,
    Japanese between any two characters but not before 、。」 nor after 「（ (kinsoku), and a
    mix (``Microsoft 365の全セッション``) fills each line instead of breaking early at its
    space. A unit longer than a line is cut. Spaces at a break are dropped."""
    width = max(width, 2)
    lines: list[str] = []
    line = ""
    for unit in _units(text):
        if unit.isspace():
            if line and cells(line) + cells(unit) < width:
                line += unit
            elif line:
                lines.append(line.rstrip())
                line = ""
            continue
        if cells(line) + cells(unit) <= width:
            line += unit
            continue
        if line.strip():
            lines.append(line.rstrip())
        line = ""
        while cells(unit) > width:  # a word longer than a line: cut it
            cut = 0
            while cut < len(unit) and cells(unit[: cut + 1]) <= width:
                cut += 1
            lines.append(unit[:cut])
            unit = unit[cut:]
        line = unit
    if line.strip() or not lines:
        lines.append(line.rstrip())
    return lines
