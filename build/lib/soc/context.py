"""The one context built by the CLI and scheduler.py and passed down to services."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property

from soc.clock import Clock, SystemClock
from soc.config import Settings
from soc.es.client import EsGateway
from soc.network.segments import SegmentMap

__all__ = ["AppContext"]


@dataclass
class AppContext:
    settings: Settings
    es: EsGateway
    clock: Clock = field(default_factory=SystemClock)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("soc"))

    @cached_property
    def segments(self) -> SegmentMap:
        return SegmentMap(self.settings.segments, self.settings.local_breakout)

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock | None = None) -> AppContext:
        return cls(settings=settings, es=EsGateway.from_settings(settings), clock=clock or SystemClock())
