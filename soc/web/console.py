"""The console's shared parts: who is signed in, role checks, CSRF, rendering."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from soc.context import AppContext
from soc.detection.models import Detector
from soc.errors import SocError
from soc.playbooks.models import Playbook
from soc.textsafe import visible
from soc.vocab import localized
from soc.web import i18n
from soc.web.oidc import OidcProvider
from soc.web.record import Words
from soc.web.roles import Permission, Role, allowed
from soc.web.sessions import LoginLimiter, Session, SessionSigner
from soc.web.users import User, UserStore

__all__ = ["COOKIE", "Console", "Forbidden", "NotSignedIn", "Viewer"]

COOKIE = "soc_session"
TEMPLATES = Path(__file__).parent / "templates"
_USER_CACHE_SECONDS = 5.0


class NotSignedIn(SocError):
    """No valid session: pages redirect to the sign-in page, actions answer 401."""

    def __init__(self) -> None:
        super().__init__("sign in first")


class Forbidden(SocError):
    """Signed in, but the role may not do this (or the CSRF token is wrong)."""

    def __init__(self, key: str = "forbidden") -> None:
        super().__init__("this account's role may not do this" if key == "forbidden" else "the CSRF token is wrong")
        self.key = key


@dataclass(frozen=True)
class Viewer:
    user: User
    session: Session
    csrf: str

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def lang(self) -> str:
        return self.user.lang

    def can(self, permission: Permission | str) -> bool:
        return allowed(self.user.role, Permission(permission))


def _finalize(value: Any) -> Any:
    """Every ``{{ value }}`` passes here before autoescape: controls and bidi overrides shown as escapes."""
    if value is None:
        return ""
    if isinstance(value, Markup):
        return value
    if isinstance(value, str):
        return visible(value)
    return value


_CODE_SPAN = re.compile(r"`([^`\n]+)`")


def note_html(text: str) -> Markup:
    """A detector note as HTML: escaped (controls shown as escapes), `key` spans as <code>."""
    parts = _CODE_SPAN.split(visible(text))  # text, code, text, code, ..., text
    return Markup("").join(Markup("<code>{}</code>").format(p) if i % 2 else escape(p) for i, p in enumerate(parts))


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


class Console:
    """What every request needs: the app context, accounts, sessions, definitions, templates."""

    def __init__(
        self,
        ctx: AppContext,
        *,
        secret: bytes,
        playbooks: list[Playbook],
        detectors: list[Detector],
        secure_cookies: bool = False,
        oidc: OidcProvider | None = None,
    ) -> None:
        self.ctx = ctx
        self.users = UserStore(ctx.es)
        self.signer = SessionSigner(secret)
        self.limiter = LoginLimiter()
        self.playbooks = playbooks
        self.detectors = {d.id: d for d in detectors}
        self.secure_cookies = secure_cookies
        self.oidc = oidc  # sign-in through OpenID Connect, besides local accounts
        self.env = environment()
        self._cache: dict[str, tuple[float, User | None]] = {}

    # -- who is asking ---------------------------------------------------------
    def account(self, name: str) -> User | None:
        hit = self._cache.get(name)
        now = time.monotonic()
        if hit and now - hit[0] < _USER_CACHE_SECONDS:
            return hit[1]
        user = self.users.get(name)
        self._cache[name] = (now, user)
        return user

    def forget(self, name: str) -> None:
        self._cache.pop(name, None)

    def viewer(self, request: Request) -> Viewer | None:
        session = self.signer.read(request.cookies.get(COOKIE))
        if session is None:
            return None
        user = self.account(session.name)
        if user is None or not user.enabled:
            return None
        if user.signed_out_at is not None and session.iat <= user.signed_out_at.timestamp():
            return None  # the account signed out after this session began
        return Viewer(user=user, session=session, csrf=self.signer.csrf(session))

    def require(self, request: Request, permission: Permission | None = None) -> Viewer:
        viewer = self.viewer(request)
        if viewer is None:
            raise NotSignedIn
        if permission is not None and not viewer.can(permission):
            raise Forbidden
        return viewer

    async def form(self, request: Request, viewer: Viewer) -> dict[str, str]:
        """The submitted form once its CSRF token is checked (every state change goes through here)."""
        data = await request.form()
        form = {k: v for k, v in data.items() if isinstance(v, str)}
        if not self.signer.csrf_ok(viewer.session, form.get("csrf") or request.headers.get("x-csrf-token")):
            raise Forbidden("csrf")
        return form

    # -- rendering ---------------------------------------------------------------
    def _detector_title(self, detector: str, fallback: str, lang: str) -> str:
        d = self.detectors.get(detector)
        return d.title.ja if d is not None and lang == "ja" else d.title.en if d is not None else fallback

    def page(self, template: str, viewer: Viewer | None, status: int = 200, **values: Any) -> HTMLResponse:
        return HTMLResponse(self.fragment(template, viewer, **values), status_code=status)

    def fragment(self, template: str, viewer: Viewer | None, **values: Any) -> str:
        """*template* rendered for *viewer* (a whole page, or a part such as one queue row)."""
        lang = viewer.lang if viewer else self.ctx.settings.report_lang
        tz, now = self.ctx.settings.tz, self.ctx.clock.now()
        return self.env.get_template(template).render(
            viewer=viewer,
            lang=lang,
            t=lambda key: i18n.text(key, lang),
            when=lambda dt: i18n.natural(dt, now, tz, lang),
            stamp=lambda dt: i18n.stamp(dt, tz),
            duration=lambda seconds: i18n.duration(seconds, lang),
            event_time=lambda value: i18n.event_time(value, tz),
            local_iso=lambda dt: dt.astimezone(tz).isoformat(timespec="minutes") if dt else "",
            bi=lambda b: (b.ja if lang == "ja" else b.en) if b is not None else "",
            note=lambda n: note_html(localized(n, lang)),
            lab=lambda v: i18n.label(str(v), lang),
            dtitle=lambda a: self._detector_title(a.detector, a.title, lang),
            rec=Words(lang, tz, lambda d: self._detector_title(d, d, lang), values.get("playbook")),
            Role=Role,
            **values,
        )
