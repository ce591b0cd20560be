"""``create_app``: the console's routes. Each route checks the role (``Console.require``),
checks the CSRF token of every change (``Console.form``) and calls one service."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from soc.alerts.models import CloseReason
from soc.alerts.queue import PAGE_SIZE, QueueFilter, arrived_since, queue_page, resolve_alert_id
from soc.alerts.store import AlertStore
from soc.attack import technique_name
from soc.errors import NotFound, SocError
from soc.incidents.models import OPEN_STATUSES, IncidentStatus
from soc.incidents.steps import sla_state
from soc.incidents.store import IncidentStore
from soc.incidents.workflow import Workflow
from soc.reports.inputs import Definitions
from soc.reports.render import svg
from soc.reports.service import build_summary_report, edition_text
from soc.reports.store import EditionStore
from soc.vocab import Segment, Severity, parse_time
from soc.web import reads
from soc.web.actions import incident_action, triage_alerts
from soc.web.console import COOKIE, Console, Forbidden, NotSignedIn
from soc.web.i18n import LANGS
from soc.web.oidc import OidcError
from soc.web.roles import PERMISSIONS, Permission, Role

__all__ = ["ROUTES", "create_app"]

STATIC = Path(__file__).parent / "static"
LOGIN_COOKIE = "soc_login"
OIDC_COOKIE = "soc_oidc"  # the OpenID Connect flow's state, nonce and PKCE verifier, signed
OIDC_SECONDS = 600
log = logging.getLogger("soc.web")
SSE_INTERVAL = 1.0  # how often an open queue asks for new alerts (the live target is < 2 s)
LIVE_ROWS = 20  # at most this many arrived alerts are sent as rows; the count covers all
# an alert's "created" is taken a moment before it is written (its figures are computed in
# between): the first page's stream looks back this far, leaving out the rows it shows
LIVE_GRACE = timedelta(minutes=2)

# (method, path, permission or None for "any signed-in account"); the README table and the
# route x role test read this list. Only /login, /login/oidc[/callback] and /healthz (and
# static files) are public.
ROUTES: list[tuple[str, str, Permission | None]] = [
    ("GET", "/", None),
    ("POST", "/logout", None),
    ("POST", "/lang", None),
    ("GET", "/alerts", Permission.alerts_read),
    ("GET", "/alerts/live", Permission.alerts_read),
    ("GET", "/alerts/{alert_id}", Permission.alerts_read),
    ("POST", "/alerts/triage", Permission.alerts_triage),
    ("GET", "/incidents", Permission.incidents_read),
    ("GET", "/incidents/{incident_id}", Permission.incidents_read),
    ("POST", "/incidents/{incident_id}/{action}", Permission.incidents_work),
    ("GET", "/incidents/{incident_id}/report", Permission.reports),
    ("GET", "/ciso", Permission.decisions),
    ("GET", "/overview", Permission.overview),
]

_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_REPORT_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"


def _time(value: str | None, name: str, tz: tzinfo = UTC) -> datetime | None:
    """A time typed in a form: ISO 8601, with a zone or in the configured timezone *tz*
    (``2026-11-29`` and ``2026-11-29T09:00`` are the city's midnight and nine o'clock)."""
    if not value:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        try:
            local = datetime.fromisoformat(value.strip())
        except ValueError:
            raise SocError(str(exc), field=name, hint="e.g. 2026-11-29 or 2026-11-29T09:00") from exc
        if local.tzinfo is not None:
            raise SocError(str(exc), field=name) from exc
        return local.replace(tzinfo=tz).astimezone(UTC)


def _int(value: str | None, default: int) -> int:
    try:
        return max(1, int(value or default))
    except ValueError:
        return default


def create_app(console: Console) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = console
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    c = console

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for k, v in _HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, _exc: NotSignedIn) -> Response:
        if request.method == "GET" and "text/event-stream" not in request.headers.get("accept", ""):
            return RedirectResponse("/login", status_code=303)
        return JSONResponse({"error": "sign in first"}, status_code=401)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        viewer = c.viewer(request)
        return c.page("error.html", viewer, status=403, message_key=exc.key, message="")

    @app.exception_handler(SocError)
    async def soc_error(request: Request, exc: SocError) -> Response:
        viewer = c.viewer(request)
        status = 404 if isinstance(exc, NotFound) else 400
        return c.page("error.html", viewer, status=status, message_key="", message=exc.render())

    # -- public ------------------------------------------------------------------
    @app.get("/healthz")
    def healthz() -> JSONResponse:
        ok = c.ctx.es.ping()
        return JSONResponse({"status": "ok" if ok else "elasticsearch unreachable"}, status_code=200 if ok else 503)

    @app.get("/login")
    def login_form(request: Request) -> HTMLResponse:
        token = secrets.token_hex(16)
        response = c.page("login.html", None, token=token, error="", detail="", oidc_label=_oidc_label(c))
        _cookie(response, LOGIN_COOKIE, token, _secure(c, request), max_age=600)
        return response

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        name, password = str(form.get("name", "")), str(form.get("password", ""))
        token = str(form.get("token", ""))
        if not token or not secrets.compare_digest(token, request.cookies.get(LOGIN_COOKIE, "")):
            raise Forbidden("csrf")
        client = request.client.host if request.client else "-"
        keys = (f"user:{name}", f"addr:{client}")
        if c.limiter.blocked(*keys):
            return _login_again(c, request, "rate_limited", 429)
        user = await run_in_threadpool(c.users.authenticate, name, password)
        if user is None:
            c.limiter.failed(*keys)
            return _login_again(c, request, "bad_login", 401)
        c.limiter.succeeded(*keys)
        c.forget(user.name)
        response = RedirectResponse("/", status_code=303)
        _cookie(response, COOKIE, c.signer.issue(user.name), _secure(c, request))
        response.delete_cookie(LOGIN_COOKIE)
        return response

    @app.get("/login/oidc")
    def oidc_start(request: Request) -> Response:
        if c.oidc is None:
            raise NotFound("sign-in through OpenID Connect is not configured", hint="[web.oidc] in soc.toml")
        try:
            url, flow = c.oidc.start()
        except OidcError as exc:
            log.warning("OpenID Connect: %s", exc.render())
            return _login_again(c, request, "oidc_refused", 502, exc.render())
        response = RedirectResponse(url, status_code=303)
        # Lax, not Strict: the provider's redirect back is a cross-site navigation
        response.set_cookie(
            OIDC_COOKIE, c.signer.seal(flow, seconds=OIDC_SECONDS), max_age=OIDC_SECONDS, httponly=True,
            secure=_secure(c, request), samesite="lax", path="/login/oidc",
        )  # fmt: skip
        return response

    @app.get("/login/oidc/callback")
    async def oidc_callback(request: Request) -> Response:
        if c.oidc is None:
            raise NotFound("sign-in through OpenID Connect is not configured", hint="[web.oidc] in soc.toml")
        q = request.query_params
        flow = c.signer.unseal(request.cookies.get(OIDC_COOKIE))
        key = f"addr:{request.client.host if request.client else '-'}"
        if c.limiter.blocked(key):
            return _login_again(c, request, "rate_limited", 429)
        try:
            if q.get("error"):
                raise OidcError(f"the identity provider refused: {q.get('error', '')[:80]}")
            oidc = c.oidc
            code, state = q.get("code", ""), q.get("state", "")
            who = await run_in_threadpool(lambda: oidc.finish(code=code, state=state, flow=flow))
            now = c.ctx.clock.now()
            user = await run_in_threadpool(
                lambda: c.users.external(who.name, who.role, now=now, lang=c.ctx.settings.report_lang)
            )
            if not user.enabled:
                raise OidcError(f"the account {user.name!r} is disabled", hint="'soc users' as an admin")
        except SocError as exc:
            c.limiter.failed(key)
            log.warning("OpenID Connect sign-in refused: %s", exc.render())
            response = _login_again(c, request, "oidc_refused", 401, exc.render())
            response.delete_cookie(OIDC_COOKIE, path="/login/oidc")
            return response
        c.limiter.succeeded(key)
        c.forget(user.name)
        response = c.page("signed_in.html", None)
        _cookie(response, COOKIE, c.signer.issue(user.name), _secure(c, request))
        response.delete_cookie(OIDC_COOKIE, path="/login/oidc")
        return response

    # -- any account ---------------------------------------------------------------
    @app.get("/")
    def home(request: Request) -> Response:
        viewer = c.require(request)
        start = {Role.operator: "/alerts", Role.csirt: "/incidents", Role.ciso: "/ciso"}.get(viewer.user.role)
        return RedirectResponse(start or "/overview", status_code=303)

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        viewer = c.require(request)
        await c.form(request, viewer)
        # the cookie is signed, not stored: signing out records the time, and every session of
        # the account issued before it stops working (a copied cookie too), on every device
        await run_in_threadpool(c.users.sign_out, viewer.name, datetime.now(UTC))
        c.forget(viewer.name)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.post("/lang")
    async def set_lang(request: Request) -> Response:
        viewer = c.require(request)
        form = await c.form(request, viewer)
        lang = form.get("lang", "")
        if lang not in LANGS:
            raise SocError(f"unknown language {lang!r}", field="lang", hint="ja or en")
        c.users.set_lang(viewer.name, lang)
        c.forget(viewer.name)
        back = form.get("back", "/")
        return RedirectResponse(back if back.startswith("/") and not back.startswith("//") else "/", status_code=303)

    # -- alerts --------------------------------------------------------------------
    def queue_filter(request: Request) -> QueueFilter:
        q, tz = request.query_params, c.ctx.settings.tz
        return QueueFilter(
            status=q.get("status", ""), severity=q.get("severity", ""), detector=q.get("detector", ""),
            segment=q.get("segment", ""), user=q.get("user", ""), address=q.get("address", ""),
            host=q.get("host", ""), since=_time(q.get("since"), "since", tz), until=_time(q.get("until"), "until", tz),
        )  # fmt: skip

    @app.get("/alerts")
    def alert_queue(request: Request) -> HTMLResponse:
        viewer = c.require(request, Permission.alerts_read)
        f = queue_filter(request)
        q = request.query_params
        after, before = q.get("after") or None, q.get("before") or None
        result = queue_page(c.ctx.es, f, after=after, before=before)
        # the page number is only shown: paging follows cursors, so page 100 costs what page 1 does
        number = _int(q.get("page"), 1) if result.newer else 1
        now = c.ctx.clock.now()
        known = [a.id for a in result.alerts if a.created > now - LIVE_GRACE] if result.newer is None else []
        return c.page(
            "queue.html", viewer, f=f, result=result, params=f.params(), loaded_at=now.isoformat(), known=known,
            number=number, pages=-(-result.total // PAGE_SIZE) if result.total_exact else None,
            severities=[s.value for s in Severity], statuses=["open", "acknowledged", "closed"],
            detectors=sorted(c.detectors), verdicts=[r.value for r in CloseReason],
            segments=[s.value for s in Segment],
        )  # fmt: skip

    @app.get("/alerts/live")
    async def alert_live(request: Request) -> StreamingResponse:
        """Server-sent events for an open queue page: ``{"new": n, "rows": [{"id", "html"}]}``
        each time the number of alerts matching the page's filters recorded after ``loaded``
        (when the page was served) changes; ``rows`` are the newest of them rendered as queue
        rows (with ``rows=1``, which the first page asks for)."""
        viewer = c.require(request, Permission.alerts_read)
        f = queue_filter(request)
        loaded = _time(request.query_params.get("loaded"), "loaded") or c.ctx.clock.now()
        with_rows = request.query_params.get("rows") == "1"
        # the first page: alerts written after it was served, even if their "created" is a
        # moment earlier, and none of those it shows (``known``)
        shown = request.query_params.get("known", "").split()[:PAGE_SIZE] if with_rows else []
        known = [k for k in shown if len(k) <= 100]
        since = loaded - LIVE_GRACE if with_rows else loaded

        def poll() -> tuple[int, list[dict[str, str]]]:
            n, fresh = arrived_since(c.ctx.es, f, since, size=LIVE_ROWS if with_rows else 0, exclude=known)
            return n, [{"id": a.id, "html": c.fragment("_alert_row.html", viewer, a=a)} for a in fresh]

        async def stream() -> AsyncIterator[str]:
            last = -1
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                n, rows = await run_in_threadpool(poll)
                if n != last:
                    yield f"data: {json.dumps({'new': n, 'rows': rows})}\n\n"
                    last = n
                await asyncio.sleep(SSE_INTERVAL)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})

    @app.get("/alerts/{alert_id}")
    def alert_detail(request: Request, alert_id: str) -> HTMLResponse:
        viewer = c.require(request, Permission.alerts_read)
        alert = AlertStore(c.ctx.es).get(resolve_alert_id(c.ctx.es, alert_id))
        detector = c.detectors.get(alert.detector)
        try:
            epage = max(1, int(request.query_params.get("events", "1")))
        except ValueError:
            epage = 1
        events: list[dict[str, str]] = []
        n_events = 0
        if detector is not None:
            docs, n_events = reads.events_behind(c.ctx, alert, detector.dataset, epage)
            events = [reads.flat_fields(d) for d in docs]
        incident = None
        if alert.incident_id:
            try:
                incident = IncidentStore(c.ctx.es).get(alert.incident_id)
            except NotFound:
                incident = None
        return c.page(
            "alert.html", viewer, alert=alert, detector=detector, events=events, n_events=n_events, epage=epage,
            related=reads.related_alerts(c.ctx, alert), incident=incident, verdicts=[r.value for r in CloseReason],
            attack=[(m, technique_name(m, viewer.lang)) for m in alert.mitre],
            columns=reads.EVENT_COLUMNS,
        )  # fmt: skip

    @app.post("/alerts/triage")
    async def alert_triage(request: Request) -> Response:
        viewer = c.require(request, Permission.alerts_triage)
        form = await c.form(request, viewer)
        data = await request.form()
        ids = [str(v) for v in data.getlist("id") if str(v)]
        if not ids:
            raise SocError("select at least one alert", field="id")
        outcome = await run_in_threadpool(
            triage_alerts, c.ctx, ids, form.get("action", ""), by=viewer.name,
            reason=form.get("verdict", ""), note=form.get("note", ""),
        )  # fmt: skip
        if outcome.failed:
            raise SocError("; ".join(f"{i}: {why}" for i, why in outcome.failed))
        back = form.get("back", "/alerts")
        return RedirectResponse(back if back.startswith("/") and not back.startswith("//") else "/alerts", 303)

    # -- incidents -----------------------------------------------------------------
    def workflow() -> Workflow:
        return Workflow(c.ctx, playbooks=c.playbooks)

    @app.get("/incidents")
    def incident_list(request: Request) -> HTMLResponse:
        viewer = c.require(request, Permission.incidents_read)
        status = request.query_params.get("status", "open")
        incidents = IncidentStore(c.ctx.es).list(size=1000)
        if status == "open":
            incidents = [i for i in incidents if i.status.value in OPEN_STATUSES]
        elif status:
            incidents = [i for i in incidents if i.status.value == status]
        far = c.ctx.clock.now() + timedelta(days=36500)
        incidents.sort(key=lambda i: (-i.priority.rank, _next_due(i) or far, i.id))
        return c.page(
            "incidents.html", viewer, incidents=incidents, current=status, next_due=_next_due, now=c.ctx.clock.now(),
            statuses=["open", *[s.value for s in IncidentStatus]],
        )  # fmt: skip

    @app.get("/incidents/{incident_id}")
    def incident_page(request: Request, incident_id: str) -> HTMLResponse:
        viewer = c.require(request, Permission.incidents_read)
        incident = IncidentStore(c.ctx.es).get(incident_id)
        playbook = next((p for p in c.playbooks if p.id == incident.playbook_id), None)
        now = c.ctx.clock.now()
        steps = [
            (s, playbook.find_step(s.step_id) if playbook else None, sla_state(s, now).value if s.ready_at else "")
            for s in incident.steps
        ]
        editions = EditionStore(c.ctx.es).all_for(incident.id) if viewer.can(Permission.reports) else []
        alerts = AlertStore(c.ctx.es).search(ids=incident.alert_ids, size=max(1, len(incident.alert_ids)))
        # every alert closed as a false positive: the page offers that as the incident's closure
        all_fp = bool(alerts) and all(a.close_reason is CloseReason.false_positive for a in alerts)
        return c.page(
            "incident.html", viewer, incident=incident, playbook=playbook, steps=steps, editions=editions,
            statuses=[s.value for s in IncidentStatus], verdicts=[r.value for r in CloseReason], alerts=alerts,
            all_fp=all_fp and incident.status.value in OPEN_STATUSES,
        )  # fmt: skip

    @app.post("/incidents/{incident_id}/{action}")
    async def incident_act(request: Request, incident_id: str, action: str) -> Response:
        viewer = c.require(request)
        form = await c.form(request, viewer)
        needed = Permission.incidents_work
        if action == "decide":
            inst = next(
                (s for s in IncidentStore(c.ctx.es).get(incident_id).steps if s.step_id == form.get("step")), None
            )
            if inst is not None and inst.kind == "approval":
                needed = Permission.decisions
        if not viewer.can(needed):
            raise Forbidden
        try:
            await run_in_threadpool(incident_action, c.ctx, workflow(), incident_id, action, form, by=viewer.name)
        except ValueError as exc:
            raise SocError(str(exc), field="to") from exc
        back = form.get("back") or f"/incidents/{incident_id}"
        return RedirectResponse(back if back.startswith("/") and not back.startswith("//") else "/", 303)

    @app.get("/incidents/{incident_id}/report")
    def incident_report(request: Request, incident_id: str) -> Response:
        viewer = c.require(request, Permission.reports)
        lang = request.query_params.get("lang", viewer.lang)
        if lang not in LANGS:
            raise SocError(f"unknown language {lang!r}", field="lang", hint="ja or en")
        # the edition issued now, or ?edition=N as it was issued (its stored rendering)
        number = request.query_params.get("edition", "")
        fmt = request.query_params.get("format", "html")
        defs = Definitions(detectors=list(c.detectors.values()), playbooks=c.playbooks)
        edition, body = edition_text(c.ctx, incident_id, lang, fmt, number=int(number) if number.isdigit() else None,
                                     definitions=defs)  # fmt: skip
        if fmt in ("pdf", "md"):
            return Response(
                body, media_type="application/pdf" if fmt == "pdf" else "text/markdown; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{incident_id}-e{edition.number}.{lang}.{fmt}"'
                         if number else f'attachment; filename="{incident_id}.{lang}.{fmt}"'},
            )  # fmt: skip
        return HTMLResponse(body, headers={"Content-Security-Policy": _REPORT_CSP, "X-Frame-Options": "SAMEORIGIN"})

    # -- CISO and overview ---------------------------------------------------------
    @app.get("/ciso")
    def ciso(request: Request) -> HTMLResponse:
        viewer = c.require(request, Permission.decisions)
        incidents = IncidentStore(c.ctx.es).list(size=1000)
        waiting = reads.awaiting_decisions(incidents, c.playbooks)
        decided = [(i, s) for i in incidents for s in i.steps if s.kind == "approval" and s.choice is not None]
        decided.sort(key=lambda p: p[1].choice.at if p[1].choice else c.ctx.clock.now(), reverse=True)
        # every incident's report, open ones first (by priority), then those closed in the last 30 days
        recent = c.ctx.clock.now() - timedelta(days=30)
        reported = [i for i in incidents if i.status.value in OPEN_STATUSES or (i.closed_at or i.opened_at) >= recent]
        reported.sort(key=lambda i: (i.status.value not in OPEN_STATUSES, -i.priority.rank, i.id))
        return c.page("ciso.html", viewer, waiting=waiting, decided=decided[:50], reported=reported[:200])

    @app.get("/overview")
    def overview(request: Request) -> HTMLResponse:
        """The SOC summary's figures for the last ``days`` days, or for ``since``..``until``."""
        viewer = c.require(request, Permission.overview)
        q, tz = request.query_params, c.ctx.settings.tz
        try:
            days = max(1, min(90, int(q.get("days", "7"))))
        except ValueError:
            days = 7
        now = c.ctx.clock.now()
        since, until = _time(q.get("since"), "since", tz), _time(q.get("until"), "until", tz)
        end = until or now
        start = since or end - timedelta(days=days)
        if start >= end:
            raise SocError("the period's start must be before its end", field="since")
        if end - start > timedelta(days=366):
            raise SocError("a period of at most a year", field="since", hint="a later 'since' or an earlier 'until'")
        report = build_summary_report(c.ctx, start=start, end=end, lang=viewer.lang)
        return c.page(
            "overview.html", viewer, report=report, days=days, since=since, until=until, svg=svg,
            segments=reads.alerts_by_segment(c.ctx, start, end),
            lags=reads.detector_lags(c.ctx, list(c.detectors.values()), now),
        )  # fmt: skip

    return app


def _next_due(incident: Any) -> datetime | None:
    dues = [
        s.due_at for s in incident.steps if s.due_at and s.status.value in ("pending", "in-progress") and s.ready_at
    ]
    dues += [o.due_at for o in incident.obligations if o.due_at and o.status.value == "pending"]
    if incident.ack_due_at and incident.status.value == "new":
        dues.append(incident.ack_due_at)
    return min(dues) if dues else None


def _secure(c: Console, request: Request) -> bool:
    """Secure cookies when served over TLS, directly or behind a trusted proxy that says https."""
    return c.secure_cookies or request.url.scheme == "https"


def _oidc_label(c: Console) -> str:
    return c.oidc.settings.label if c.oidc else ""


def _login_again(c: Console, request: Request, key: str, status: int, detail: str = "") -> HTMLResponse:
    token = secrets.token_hex(16)
    response = c.page(
        "login.html", None, status=status, token=token, error=key, detail=detail, oidc_label=_oidc_label(c)
    )
    _cookie(response, LOGIN_COOKIE, token, _secure(c, request), max_age=600)
    return response


def _cookie(response: Response, name: str, value: str, secure: bool, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, secure=secure, samesite="strict", path="/")


def route_table() -> str:
    """The route x role matrix as a Markdown table (the README shows it; a test keeps them equal)."""
    roles = list(Role)
    lines = ["| route | " + " | ".join(r.value for r in roles) + " |", "|---|" + "---|" * len(roles)]
    public = "`GET /login`, `POST /login`, `GET /login/oidc`, `GET /login/oidc/callback`, `GET /healthz`"
    lines.append(f"| {public} | " + " | ".join("public" for _ in roles) + " |")
    for method, path, permission in ROUTES:
        marks = ["yes" if permission is None or r in PERMISSIONS[permission] else "—" for r in roles]
        lines.append(f"| `{method} {path}` | " + " | ".join(marks) + " |")
        if path == "/incidents/{incident_id}/{action}":  # deciding an approval step is the CISO's
            marks = ["yes" if r in PERMISSIONS[Permission.decisions] else "—" for r in roles]
            route = f"`{method} /incidents/{{incident_id}}/decide` (an approval step)"
            lines.append(f"| {route} | " + " | ".join(marks) + " |")
    return "\n".join(lines)
