"""Message catalogues (ja, en): the same keys in both, checked by a test."""

from __future__ import annotations

import json
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
        return text.format(**params) if params else text
