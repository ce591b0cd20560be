#!/usr/bin/env python3
"""Run the soc detection scheduler (same as ``soc run``).

Loads and validates every detector and playbook (refusing to start on any error, all
of them listed), then runs one job per detector until SIGTERM or SIGINT.
Configuration: ``soc.toml`` (or ``$SOC_CONFIG``) and ``SOC_*`` environment variables.
``SOC_REPLAY_CLOCK=<ISO time>@<epoch seconds>`` (for ``bench/faults.py`` only) runs the
scheduler on a shifted clock that reads the ISO time at that real instant.
"""

from __future__ import annotations

import signal
import sys

# A stop while still starting is a clean exit: installed before the imports below, which
# take about a second (a SIGTERM then used to end the process with -15, as seen by
# bench/faults.py); the scheduler installs its own handlers once it runs.
signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))

import logging  # noqa: E402
import os  # noqa: E402

from soc.clock import OffsetClock  # noqa: E402
from soc.errors import SocError  # noqa: E402
from soc.runtime.service import serve  # noqa: E402


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    replay = os.environ.get("SOC_REPLAY_CLOCK")
    try:
        serve(clock=OffsetClock.parse(replay) if replay else None)
    except SocError as exc:
        logging.getLogger("soc").error("%s", exc.render())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
