"""Message catalogues (ja, en): the same keys in both, checked by a test."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["LANGS", "Translator", "catalog"]

LANGS = ("ja", "en")


@cache
def catalog(lang: str) -> dict[str, str]:
    if lang not in LANGS:
        raise ValueError(f"unknown report language {lang!r}; use one of {', '.join(LANGS)}")
    text = resources.files("soc.reports").joinpath("catalogs", f"{lang}.json").read_text(encoding="utf-8")
    data: dict[str, str] = json.loads(text)
    return data


class Translator:
    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._catalog = catalog(lang)

    def has(self, key: str) -> bool:
        return key in self._catalog

    def __call__(self, key: str, **params: Any) -> str:
        text = self._catalog[key]  # a missing key is a bug: fail loudly
        if not params:
            return text
        if self.lang == "en" and "(s)" in text:  # on the catalogue's text, never on a value from a log
            text = _COUNTED.sub(lambda m: _counted(m, params), text)
        return text.format(**params)


# "{n} alert(s)" with n = 1 → "{n} alert", else "{n} alerts"; the verb right after follows
# ("{n} incident(s) were opened" → "1 incident was opened").
_COUNTED = re.compile(r"\{(\w+)\} ((?:[a-z-]+ )?)([a-z]+)\(s\)(?: (are|were|have)\b)?")
_SINGULAR = {"are": "is", "were": "was", "have": "has"}


def _counted(m: re.Match[str], params: dict[str, Any]) -> str:
    name, adjective, noun, verb = m.group(1), m.group(2), m.group(3), m.group(4)
    value = params.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        return m.group(0)
    single = value == 1
    shown = f"{{{name}}} {adjective}{noun}{'' if single else 's'}"
    if verb:
        shown += " " + (_SINGULAR[verb] if single else verb)
    return shown
