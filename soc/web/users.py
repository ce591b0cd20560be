"""Console accounts in Elasticsearch (``<prefix>-users``): name, role, argon2 hash, enabled."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pydantic import BaseModel, ConfigDict

from soc.errors import NotFound, SocError
from soc.es.client import EsGateway, translate_errors
from soc.web.roles import Role

__all__ = ["User", "UserStore", "valid_name"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_HASHER = PasswordHasher()
MIN_PASSWORD = 10
# the password hash of an account that signs in through OpenID Connect: no password matches it
EXTERNAL = "!oidc"


def valid_name(name: str) -> str:
    if not _NAME.match(name):
        raise SocError(
            f"invalid account name {name!r}",
            field="NAME",
            hint="use 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit",
        )
    return name


class User(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    role: Role
    password_hash: str
    enabled: bool = True
    lang: str = "ja"
    created: datetime
    signed_out_at: datetime | None = None  # sessions issued before this no longer count (sign-out)

    @property
    def external(self) -> bool:
        """Signed in through OpenID Connect (no local password)."""
        return self.password_hash == EXTERNAL


class UserStore:
    def __init__(self, gw: EsGateway, *, hasher: PasswordHasher = _HASHER) -> None:
        self._gw = gw
        self._hasher = hasher  # argon2id with the library's (RFC 9106) defaults; verify reads a hash's own

    @property
    def index(self) -> str:
        return self._gw.index_name("users")

    def ensure_index(self) -> None:
        with translate_errors(f"create {self.index}"):
            if not self._gw.client.indices.exists(index=self.index):
                self._gw.client.options(ignore_status=400).indices.create(
                    index=self.index,
                    mappings={
                        "dynamic": "strict",
                        "properties": {
                            "name": {"type": "keyword"},
                            "role": {"type": "keyword"},
                            "password_hash": {"type": "keyword", "index": False},
                            "enabled": {"type": "boolean"},
                            "lang": {"type": "keyword"},
                            "created": {"type": "date"},
                            "signed_out_at": {"type": "date"},
                        },
                    },
                )
            else:  # an index made before sign-out was recorded: add the field (a no-op when there)
                self._gw.client.indices.put_mapping(index=self.index, properties={"signed_out_at": {"type": "date"}})

    def add(self, name: str, role: Role, password: str, *, now: datetime, lang: str = "ja") -> User:
        valid_name(name)
        if len(password) < MIN_PASSWORD:
            raise SocError(f"the password must have at least {MIN_PASSWORD} characters", field="password")
        self.ensure_index()
        user = User(name=name, role=role, password_hash=self._hasher.hash(password), lang=lang, created=now)
        if not self._gw.create(self.index, name, user.model_dump(mode="json"), refresh=True):
            raise SocError(f"account {name!r} exists already", hint="pick another name, or 'soc users disable' it")
        return user

    def external(self, name: str, role: Role, *, now: datetime, lang: str = "ja") -> User:
        """The account of someone the identity provider signed in: created on the first
        sign-in, its role kept as the provider says. A local account of that name is refused."""
        valid_name(name)
        self.ensure_index()
        user = self.get(name)
        if user is None:
            user = User(name=name, role=role, password_hash=EXTERNAL, lang=lang, created=now)
            if self._gw.create(self.index, name, user.model_dump(mode="json"), refresh=True):
                return user
            user = self.get(name)  # signed in twice at once
            if user is None:
                raise NotFound(f"no account {name!r}")
        if user.password_hash != EXTERNAL:
            raise SocError(
                f"account {name!r} is a local account", hint="sign in with its password, or rename one of the two"
            )
        return user if user.role == role else self._update(name, role=role)

    def get(self, name: str) -> User | None:
        found = self._gw.get(self.index, name)
        return User.model_validate(found["_source"]) if found else None

    def list(self) -> list[User]:
        res = self._gw.search(self.index, {"size": 1000, "sort": [{"name": "asc"}]}, action="list users")
        return [User.model_validate(h["_source"]) for h in res["hits"]["hits"]]

    def _update(self, name: str, **changes: Any) -> User:
        user = self.get(name)
        if user is None:
            raise NotFound(f"no account {name!r}", hint="list accounts with 'soc users list'")
        updated = user.model_copy(update=changes)
        self._gw.put(self.index, name, updated.model_dump(mode="json"), refresh=True)
        return updated

    def disable(self, name: str) -> User:
        return self._update(name, enabled=False)

    def set_lang(self, name: str, lang: str) -> User:
        return self._update(name, lang=lang)

    def sign_out(self, name: str, at: datetime) -> User:
        """End every session of the account issued up to *at* (the cookie alone no longer signs in)."""
        self.ensure_index()
        return self._update(name, signed_out_at=at)

    def authenticate(self, name: str, password: str) -> User | None:
        """The enabled account if the password matches, else None (same work either way)."""
        user = self.get(name) if _NAME.match(name) else None
        if user is None:
            self._hasher.hash(password)  # spend the same time as for a real account
            return None
        try:
            self._hasher.verify(user.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return user if user.enabled else None
