"""A small OpenID Connect provider for the console's sign-in tests, served on 127.0.0.1:
discovery, JWKS, an authorization endpoint that signs in ``user`` at once, and a token
endpoint that checks the client secret, the single-use code, the redirect URI and PKCE,
then returns an ID token signed with RS256 (joserfc). ``tamper`` makes the next ID tokens
wrong in one way (a forged signature, another issuer or audience, expired, another nonce);
``interactive`` shows a page with a link back instead of redirecting at once, so that the
way back starts on the provider's site, as after a sign-in at Entra ID."""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "soc-console"
CLIENT_SECRET = "test-client-secret-0123456789"


class TestProvider:
    __test__ = False  # not a pytest class

    def __init__(self, redirect_uri: str) -> None:
        self.redirect_uri = redirect_uri
        self.issuer = ""  # set once served
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
        self.forger = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
        self.user: dict[str, Any] = {"sub": "0001", "preferred_username": "k.sato@city.example", "roles": ["SOC.CSIRT"]}
        self.tamper = ""
        self.codes: dict[str, dict[str, str]] = {}
        self.token_requests = 0
        self.interactive = False  # a page the user acts on (as at Entra ID) instead of an immediate redirect
        self.app = self._app()

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": nonce}
        claims |= self.user
        key = self.key
        if self.tamper == "signature":
            key = self.forger  # same kid, another private key
        elif self.tamper == "issuer":
            claims["iss"] = "https://login.example.invalid/other-tenant/v2.0"
        elif self.tamper == "audience":
            claims["aud"] = "another-app"
        elif self.tamper == "expired":
            claims |= {"iat": now - 3600, "exp": now - 1800}
        elif self.tamper == "nonce":
            claims["nonce"] = "a-nonce-from-another-sign-in"
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        def discovery() -> dict[str, Any]:
            return {
                "issuer": self.issuer,
                "authorization_endpoint": self.issuer + "/authorize",
                "token_endpoint": self.issuer + "/token",
                "jwks_uri": self.issuer + "/jwks",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
                "code_challenge_methods_supported": ["S256"],
            }

        @app.get("/jwks")
        def jwks() -> dict[str, Any]:
            return {"keys": [self.key.as_dict(private=False)]}

        @app.get("/authorize")
        def authorize(request: Request) -> Any:
            q = request.query_params
            if (q.get("client_id"), q.get("redirect_uri"), q.get("response_type")) != (
                CLIENT_ID,
                self.redirect_uri,
                "code",
            ):
                return JSONResponse({"error": "invalid_request"}, status_code=400)
            if q.get("code_challenge_method") != "S256" or not q.get("code_challenge") or not q.get("nonce"):
                return JSONResponse({"error": "invalid_request"}, status_code=400)
            code = secrets.token_urlsafe(16)
            self.codes[code] = {"nonce": q["nonce"], "challenge": q["code_challenge"]}
            back = f"{self.redirect_uri}?{urlencode({'code': code, 'state': q.get('state', '')})}"
            if self.interactive:  # the navigation back then starts on the provider's site
                return HTMLResponse(f'<p><a id="continue-to-app" href="{html.escape(back)}">Continue</a></p>')
            return RedirectResponse(back, status_code=302)

        @app.post("/token")
        async def token(request: Request) -> JSONResponse:
            self.token_requests += 1
            form = await request.form()
            f = {k: str(v) for k, v in form.items()}
            if (f.get("client_id"), f.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            grant = self.codes.pop(f.get("code", ""), None)  # a code is good once
            if grant is None or f.get("redirect_uri") != self.redirect_uri:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            digest = hashlib.sha256(f.get("code_verifier", "").encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
                return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, status_code=400)
            return JSONResponse(
                {
                    "access_token": secrets.token_urlsafe(16),
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "id_token": self.id_token(grant["nonce"]),
                }
            )

        return app
