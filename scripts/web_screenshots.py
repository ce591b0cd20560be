"""Screenshots of the console in Japanese from a real run: ``soc web`` (uvicorn) on the demo's
data and Debian's headless Chromium. Run after ``make demo``:

    .venv/bin/python scripts/web_screenshots.py [--prefix soc-demo] [--out docs/img]

To show a decision awaiting the CISO, the P1/P2 incident with an approval step is first
worked up to that step through the same Workflow calls as the console (as "csirt-demo").
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from soc.config import load_settings  # noqa: E402
from soc.context import AppContext  # noqa: E402
from soc.incidents.models import StepStatus  # noqa: E402
from soc.incidents.workflow import Workflow  # noqa: E402
from soc.playbooks.loader import load_playbooks  # noqa: E402
from soc.playbooks.models import ApprovalStep, DecisionStep  # noqa: E402
from tests.browser import chromium  # noqa: E402
from tests.peers import free_port  # noqa: E402


def to_approval(ctx: AppContext) -> str | None:
    """Work the most urgent incident whose playbook asks the CISO up to that approval."""
    playbooks = load_playbooks(REPO / "playbooks")
    wf = Workflow(ctx, playbooks=playbooks)
    books = {p.id: p for p in playbooks}
    for incident in sorted(wf.store.list(), key=lambda i: (-i.priority.rank, i.id)):
        book = books.get(incident.playbook_id or "")
        if book is None or book.approval is None:
            continue
        wf.acknowledge(incident.id, actor="csirt-demo")
        for _ in range(20):
            current = wf.store.get(incident.id)
            ready = [
                s for s in current.steps if s.ready_at and s.status in (StepStatus.pending, StepStatus.in_progress)
            ]
            if not ready or any(s.kind == "approval" for s in ready):
                break
            step = ready[0]
            defn = book.step(step.step_id)
            if isinstance(defn, DecisionStep):
                wf.decide(incident.id, step.step_id, defn.options[-1].id, actor="csirt-demo", comment="確認済み")
            elif not isinstance(defn, ApprovalStep):
                wf.complete_step(incident.id, step.step_id, actor="csirt-demo", note="対応済み")
        return incident.id
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prefix", default=os.environ.get("DEMO_PREFIX", "soc-demo"))
    ap.add_argument("--user", default="demo")
    ap.add_argument("--password", default="soc-demo-console")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    args = ap.parse_args()
    ctx = AppContext.from_settings(load_settings(index_prefix=args.prefix))
    incident = to_approval(ctx)
    port = free_port()
    env = {**os.environ, "SOC_INDEX_PREFIX": args.prefix}
    soc = REPO / ".venv" / "bin" / "soc"
    server = subprocess.Popen([str(soc), "web", "--port", str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)  # noqa: S310 - our own loopback server
                break
            except OSError:
                time.sleep(0.2)
        args.out.mkdir(parents=True, exist_ok=True)
        with chromium() as driver:
            driver.set_window_size(1400, 900)
            driver.get(base + "/login")
            driver.find_element(By.ID, "name").send_keys(args.user)
            driver.find_element(By.ID, "password").send_keys(args.password)
            driver.find_element(By.ID, "sign-in").click()
            WebDriverWait(driver, 30).until(lambda d: not d.current_url.endswith("/login"))  # argon2 takes a moment
            if driver.find_element(By.TAG_NAME, "html").get_attribute("lang") != "ja":  # the account reads English
                driver.find_element(By.ID, "lang-switch").click()
                WebDriverWait(driver, 30).until(
                    lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ja"
                )
            shots = [("web-queue-ja.png", "/alerts"), ("web-ciso-ja.png", "/ciso")]
            shots.append(("web-overview-ja.png", "/overview"))
            if incident:
                shots.insert(1, ("web-incident-ja.png", f"/incidents/{incident}"))
            for name, path in shots:
                driver.get(base + path)
                time.sleep(1.0)
                driver.save_screenshot(str(args.out / name))
                print(args.out / name)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
