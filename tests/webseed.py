"""Data and accounts for the web console tests (TestClient and browser)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher

from soc.alerts.models import Alert, alert_id
from soc.alerts.store import AlertStore
from soc.context import AppContext
from soc.detection.loader import load_detectors
from soc.es.indices import alerts_index, ensure_ready
from soc.incidents.workflow import Workflow
from soc.playbooks.loader import load_playbooks
from soc.web.console import Console
from soc.web.roles import Role
from soc.web.users import UserStore

# test accounts: argon2id at its lowest cost (the console verifies any hash with the hash's own parameters)
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
ROLES = [r.value for r in Role]
# a user name from a log: markup, template syntax, a Markdown link, terminal escapes, a bidi override, 10k characters
HOSTILE = (
    "<script>alert(1)</script>{{7*7}}[x](javascript:alert(2))\x1b[2J\u202egnp.exe<img src=x onerror=alert(3)>"
    + "A" * 10_000
)


def make_alert(detector: str, entity: dict[str, str], *, minutes: int = 0, severity: str = "high") -> Alert:
    start = T0 + timedelta(minutes=minutes)
    return Alert(
        id=alert_id(detector, entity, start), detector=detector, title=detector, severity=severity, risk_score=70,
        entity=entity, count=25, start=start, end=start + timedelta(minutes=5), mitre=["T1110.001"],
        reason=f"25 failed logins for {entity}", segments=["external"], created=start, updated=start,
    )  # fmt: skip


def put_alerts(ctx: AppContext, alerts: list[Alert]) -> None:
    ensure_ready(ctx.es)
    for a in alerts:
        ctx.es.create(alerts_index(ctx.es), a.id, a.to_doc())
    ctx.es.refresh(alerts_index(ctx.es))


@dataclass
class Seeded:
    hostile_alert: str
    plain_alert: str
    incident: str


def seed(ctx: AppContext) -> Seeded:
    """Two alerts (one naming a hostile user) escalated into one incident; an account per role."""
    hostile = make_alert("failed-login-burst", {"source.ip": "203.0.113.66", "user.name": HOSTILE})
    plain = make_alert("password-spray", {"source.ip": "203.0.113.66"}, minutes=30)
    put_alerts(ctx, [hostile, plain])
    wf = Workflow(ctx, playbooks=load_playbooks(REPO / "playbooks"))
    result = wf.open_from_alerts([hostile, plain])
    store = AlertStore(ctx.es)
    for aid, iid in result.assignments.items():
        store.set_incident(aid, iid, now=ctx.clock.now())
    users = UserStore(ctx.es, hasher=CHEAP_HASHER)
    for role in Role:
        users.add(role.value, role, PASSWORD, now=ctx.clock.now(), lang="en")
    return Seeded(hostile_alert=hostile.id, plain_alert=plain.id, incident=result.assignments[hostile.id])


def console_for(ctx: AppContext, *, secure: bool = False) -> Console:
    return Console(
        ctx,
        secret=b"k" * 32,
        playbooks=load_playbooks(REPO / "playbooks"),
        detectors=load_detectors(REPO / "detectors"),
        secure_cookies=secure,
    )
