"""``[web]`` in ``soc.toml``: the console's settings that are not command-line options —
today, sign-in through OpenID Connect (``[web.oidc]``; Microsoft Entra ID for a city on
Microsoft 365)::

    [web.oidc]
    issuer = "https://login.microsoftonline.com/<tenant id>/v2.0"
    client_id = "<application (client) id>"
    redirect_uri = "https://soc.city.example/login/oidc/callback"
    # the client secret is read from the variable named here, never from the file
    client_secret_env = "SOC_OIDC_CLIENT_SECRET"
    role_claim = "roles"            # Entra app roles; "groups" for group object ids
    [web.oidc.roles]                # claim value -> soc role
    "SOC.Operator" = "operator"
    "SOC.CSIRT" = "csirt"
    "SOC.CISO" = "ciso"
    "SOC.Admin" = "admin"
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from soc.destinations import _is_loopback  # the same rule as for notification webhooks

__all__ = ["OidcSettings", "WebSettings"]

RoleName = Literal["operator", "csirt", "ciso", "admin"]
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def _https_or_loopback(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return value  # a provider on this machine (tests, a local proxy)
    raise ValueError(f"must be an https:// URL (http:// only on 127.0.0.1 or localhost): {value!r}")


class OidcSettings(BaseModel):
    """``[web.oidc]``: one OpenID Connect provider (authorization code flow with PKCE)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str  # discovery at <issuer>/.well-known/openid-configuration; ID tokens' "iss"
    client_id: str = Field(min_length=1)
    redirect_uri: str  # <console URL>/login/oidc/callback, as registered at the provider
    client_secret_env: str = "SOC_OIDC_CLIENT_SECRET"  # noqa: S105 (a variable name, not a secret)
    scopes: tuple[str, ...] = ("openid", "profile", "email")
    name_claim: str = "preferred_username"  # Entra: the user principal name
    role_claim: str = "roles"  # Entra app roles ("groups" for group object ids)
    roles: dict[str, RoleName] = Field(min_length=1)  # claim value -> soc role
    label: str = "Microsoft 365"  # the sign-in button's text
    ca_certs: Path | None = None  # extra CA bundle for the provider's TLS (verification stays on)
    leeway_seconds: int = Field(default=60, ge=0, le=600)  # clock skew allowed on exp/iat

    @field_validator("issuer", "redirect_uri")
    @classmethod
    def _secure_url(cls, value: str) -> str:
        return _https_or_loopback(value)

    @field_validator("client_secret_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError(f"must be an environment variable name like SOC_OIDC_CLIENT_SECRET: {value!r}")
        return value

    @field_validator("scopes")
    @classmethod
    def _openid(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "openid" not in value:
            raise ValueError("must include 'openid'")
        return value


class WebSettings(BaseModel):
    """``[web]``: the console."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    oidc: OidcSettings | None = None  # local accounts only while unset
