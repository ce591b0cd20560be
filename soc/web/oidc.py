"""Sign-in through OpenID Connect (``[web.oidc]``; Microsoft Entra ID for a city on
Microsoft 365): the authorization code flow with PKCE, a state and a nonce.

1. ``start()`` makes a state, a nonce and a PKCE verifier (Authlib), which the console keeps
   in a signed, short-lived cookie, and gives the provider's authorization URL.
2. The provider sends the browser back with a code and the state; ``finish()`` checks the
   state, trades the code (with the client secret and the verifier) at the token endpoint,
   and verifies the ID token: its signature against the provider's published keys (JWKS,
   fetched again once when a key is unknown), ``iss``, ``aud``, ``exp``/``iat`` and the
   nonce (joserfc, the JOSE library of Authlib's authors).
3. The account name comes from ``name_claim`` and the role from ``role_claim`` through the
   ``roles`` table; no mapped role, no sign-in. The console then records the account (no
   local password) and signs it in like a local one.

The provider is reached with TLS verification on; plain http only on loopback (tests).
Tokens and the client secret are never logged or shown.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import urllib3
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from soc.errors import ConfigError, SocError
from soc.web.roles import Role
from soc.web_settings import OidcSettings

__all__ = ["Identity", "OidcError", "OidcProvider"]

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]  # never "none" or HMAC
_ROLE_ORDER = [Role.admin, Role.ciso, Role.csirt, Role.operator]  # several mapped roles: the first here
_KEYS_REFETCH_SECONDS = 30.0


class OidcError(SocError):
    """The provider refused, or what it sent does not hold (the sign-in is refused)."""


@dataclass(frozen=True)
class Identity:
    name: str
    role: Role
    subject: str


class OidcProvider:
    def __init__(self, settings: OidcSettings, *, client_secret: str, http: urllib3.PoolManager | None = None) -> None:
        self.settings = settings
        self._secret = client_secret
        self._http = http or urllib3.PoolManager(
            cert_reqs="CERT_REQUIRED",
            ca_certs=str(settings.ca_certs) if settings.ca_certs else None,
            timeout=urllib3.Timeout(connect=5.0, read=10.0),
            retries=urllib3.Retry(total=2, backoff_factor=0.2, allowed_methods=["GET"]),
        )
        self._lock = threading.Lock()
        self._meta: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    @classmethod
    def from_settings(cls, settings: OidcSettings, env: Mapping[str, str] = os.environ) -> OidcProvider:
        secret = env.get(settings.client_secret_env, "")
        if not secret:
            raise ConfigError(
                f"OpenID Connect is configured but {settings.client_secret_env} is not set",
                field="web.oidc.client_secret_env",
                hint=f"export {settings.client_secret_env} with the client secret of the app registration",
            )
        return cls(settings, client_secret=secret)

    # -- talking to the provider -----------------------------------------------------
    def _json(self, method: str, url: str, **kw: Any) -> dict[str, Any]:
        try:
            res = self._http.request(method, url, **kw)
        except urllib3.exceptions.HTTPError as exc:
            raise OidcError(f"the identity provider is unreachable ({type(exc).__name__})") from exc
        try:
            data = json.loads(res.data)
        except ValueError as exc:
            raise OidcError(f"the identity provider answered HTTP {res.status} without JSON") from exc
        if res.status != 200 or not isinstance(data, dict):
            code = data.get("error", "") if isinstance(data, dict) else ""
            raise OidcError(f"the identity provider answered HTTP {res.status} {str(code)[:80]}".rstrip())
        return data

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (fetched once)."""
        with self._lock:
            if self._meta is None:
                meta = self._json("GET", self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration")
                if meta.get("issuer") != self.settings.issuer:
                    raise OidcError(f"the discovery document names issuer {str(meta.get('issuer'))[:200]!r}")
                for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                    if not isinstance(meta.get(key), str):
                        raise OidcError(f"the discovery document has no {key}")
                self._meta = meta
            return self._meta

    def _key_set(self, *, again: bool = False) -> KeySet:
        with self._lock:
            stale = again and time.monotonic() - self._keys_at > _KEYS_REFETCH_SECONDS
            if self._keys is None or stale:
                uri = self._meta["jwks_uri"] if self._meta else self.metadata()["jwks_uri"]
                try:
                    self._keys = KeySet.import_key_set(self._json("GET", uri))  # type: ignore[arg-type]
                except (JoseError, ValueError, KeyError, TypeError) as exc:
                    raise OidcError("the identity provider's key set (JWKS) cannot be read") from exc
                self._keys_at = time.monotonic()
            return self._keys

    # -- the flow ----------------------------------------------------------------------
    def start(self) -> tuple[str, dict[str, str]]:
        """The authorization URL to send the browser to, and the flow's secrets to keep."""
        flow = {"state": generate_token(32), "nonce": generate_token(32), "verifier": generate_token(64)}
        query = {
            "response_type": "code",
            "client_id": self.settings.client_id,
            "redirect_uri": self.settings.redirect_uri,
            "scope": " ".join(self.settings.scopes),
            "state": flow["state"],
            "nonce": flow["nonce"],
            "code_challenge": create_s256_code_challenge(flow["verifier"]),
            "code_challenge_method": "S256",
        }
        endpoint = str(self.metadata()["authorization_endpoint"])
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}", flow

    def finish(self, *, code: str, state: str, flow: dict[str, str] | None) -> Identity:
        """Check the state, trade the code, verify the ID token, map the role."""
        if not flow or not state or state != flow.get("state"):
            raise OidcError("the sign-in's state does not match (an old or forged answer)")
        if not code:
            raise OidcError("the identity provider sent no code")
        meta = self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.settings.redirect_uri,
            "client_id": self.settings.client_id,
            "code_verifier": flow["verifier"],
        }
        headers = {"Accept": "application/json"}
        methods = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        if "client_secret_post" in methods:
            form["client_secret"] = self._secret
        else:
            headers |= urllib3.make_headers(basic_auth=f"{self.settings.client_id}:{self._secret}")
        tokens = self._json("POST", str(meta["token_endpoint"]), fields=form, encode_multipart=False, headers=headers)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError("the token endpoint returned no ID token")
        return self.identity(self.verify(id_token, nonce=flow["nonce"]))

    def verify(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        """The ID token's claims once its signature, issuer, audience, times and nonce hold."""
        try:
            try:
                token = jwt.decode(id_token, self._key_set(), algorithms=ALGORITHMS)
            except JoseError:  # perhaps a key the provider rotated in: read the key set once more
                token = jwt.decode(id_token, self._key_set(again=True), algorithms=ALGORITHMS)
            jwt.JWTClaimsRegistry(
                leeway=self.settings.leeway_seconds,
                iss={"essential": True, "value": self.settings.issuer},
                aud={"essential": True, "value": self.settings.client_id},
                exp={"essential": True},
                iat={"essential": True},
                sub={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(token.claims)
        except JoseError as exc:
            raise OidcError(f"the ID token is refused: {type(exc).__name__}: {exc.description or exc.error}") from exc
        claims = dict(token.claims)
        aud = claims.get("aud")
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != self.settings.client_id:
            raise OidcError("the ID token is refused: several audiences and no matching azp")
        return claims

    def identity(self, claims: dict[str, Any]) -> Identity:
        """The account name and role the claims give (OidcError when no role is mapped)."""
        name = claims.get(self.settings.name_claim)
        if not isinstance(name, str) or not name:
            raise OidcError(f"the ID token has no {self.settings.name_claim!r} claim")
        raw = claims.get(self.settings.role_claim, [])
        values = [raw] if isinstance(raw, str) else [str(v) for v in raw] if isinstance(raw, list) else []
        mapped = {Role(self.settings.roles[v]) for v in values if v in self.settings.roles}
        role = next((r for r in _ROLE_ORDER if r in mapped), None)
        if role is None:
            raise OidcError(
                f"the account {name[:100]!r} has no soc role",
                hint=f"give it one of {', '.join(sorted(self.settings.roles))} in {self.settings.role_claim!r} "
                "at the identity provider",
            )
        return Identity(name=name, role=role, subject=str(claims.get("sub", "")))
