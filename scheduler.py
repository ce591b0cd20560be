#!/usr/bin/env python3
"""Run the soc detection scheduler (same as ``soc run``).

Loads and validates every detector and playbook (refusing to start on any error, all
of them listed), then runs one job per detector until SIGTERM or SIGINT.
Configuration: ``soc.toml`` (or ``$SOC_CONFIG``) and ``SOC_*`` environment variables.
``SOC_REPLAY_CLOCK=<ISO time>@<epoch seconds>`` (for ``bench/faults.py`` only) runs the
scheduler on a shifted clock that reads the ISO time at that real instant.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

from soc.clock import OffsetClock
from soc.errors import SocError
from soc.runtime.service import serve


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # a stop while still loading is a clean exit too (the scheduler installs its own handlers)
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))
    replay = os.environ.get("SOC_REPLAY_CLOCK")
    try:
        serve(clock=OffsetClock.parse(replay) if replay else None)
    except SocError as exc:
        logging.getLogger("soc").error("%s", exc.render())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
