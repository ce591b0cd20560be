"""Wiring for the long-running service (``scheduler.py`` and ``soc run``): detectors, the
CSIRT desk and the summary report share one context and one notifier."""

from __future__ import annotations

import logging
from pathlib import Path

from soc.clock import Clock
from soc.config import load_settings
from soc.context import AppContext
from soc.errors import DefinitionErrors
from soc.notify.service import Notifier
from soc.playbooks.checks import check_definitions
from soc.runtime.scheduler import DetectorScheduler, SchedulerObserver

__all__ = ["load_definitions", "serve"]

log = logging.getLogger("soc.service")


def load_definitions(ctx: AppContext) -> tuple[list, list]:  # type: ignore[type-arg]
    """Load every detector and playbook and check what refers to what (playbook triggers,
    notification routes) exactly as ``soc validate`` does; raise one DefinitionErrors
    listing all problems."""
    settings = ctx.settings
    checked = check_definitions(
        settings.detectors_dir,
        settings.playbooks_dir,
        routes=[(d.name, d.roles) for d in settings.notify.destinations],
    )
    if checked.errors or checked.detectors is None or checked.playbooks is None:
        raise DefinitionErrors(checked.errors)
    return checked.detectors, checked.playbooks


def serve(config: Path | None = None, *, clock: Clock | None = None, observer: SchedulerObserver | None = None) -> None:
    """Validate everything, refuse to start on any error, then run until SIGTERM/SIGINT."""
    settings = load_settings(config)
    ctx = AppContext.from_settings(settings, clock=clock)
    detectors, playbooks = load_definitions(ctx)
    log.info(
        "loaded %d detector(s) and %d playbook(s); Elasticsearch at %s, index prefix %r",
        len(detectors),
        len(playbooks),
        settings.masked()["es_url"],
        settings.index_prefix,
    )
    notifier = Notifier.from_context(ctx)
    log.info("notifications to: %s", "; ".join(d.display for d in notifier.destinations))
    if not ctx.es.ping():
        log.warning("Elasticsearch is not reachable yet; detectors will retry with backoff")
    DetectorScheduler(
        ctx,
        detectors=detectors,
        playbooks=playbooks,
        notifier=notifier,
        max_windows_per_run=settings.scheduler.max_windows_per_run,
        shards=settings.scheduler.shards,
        observer=observer,
    ).run_forever()
