"""Sign-in through OpenID Connect, end to end against a real provider on 127.0.0.1
(``tests/oidc_idp.py``: discovery, JWKS, authorize, token; RS256 ID tokens): the console
redirects with state, nonce and PKCE, trades the code over HTTP, verifies the ID token and
maps the role claim. Forged, foreign, expired and replayed answers are refused; local
accounts keep working."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from soc.clock import ManualClock
from soc.config import load_settings
from soc.context import AppContext
from soc.errors import ConfigError
from soc.web.app import create_app
from soc.web.oidc import OidcProvider
from soc.web.roles import Role
from soc.web.users import EXTERNAL, UserStore
from soc.web_settings import OidcSettings
from tests.browser import chromium, have_chromium, served
from tests.oidc_idp import CLIENT_ID, CLIENT_SECRET, TestProvider
from tests.webseed import PASSWORD, T0, console_for, seed

pytestmark = pytest.mark.es

CALLBACK = "http://localhost/login/oidc/callback"
ROLES = {"SOC.Operator": "operator", "SOC.CSIRT": "csirt", "SOC.CISO": "ciso", "SOC.Admin": "admin"}


@pytest.fixture(scope="module")
def provider() -> Iterator[TestProvider]:
    idp = TestProvider(CALLBACK)
    with served(idp.app) as url:
        idp.issuer = url
        yield idp


@pytest.fixture
def idp(provider: TestProvider) -> TestProvider:
    provider.tamper = ""
    provider.user = {"sub": "0001", "preferred_username": "k.sato@city.example", "roles": ["SOC.CSIRT"]}
    return provider


@pytest.fixture
def client(ctx: AppContext, idp: TestProvider) -> Iterator[TestClient]:
    ctx.clock = ManualClock(T0 + timedelta(hours=2))
    seed(ctx)
    console = console_for(ctx)
    settings = OidcSettings(issuer=idp.issuer, client_id=CLIENT_ID, redirect_uri=CALLBACK, roles=ROLES)  # type: ignore[arg-type]
    console.oidc = OidcProvider(settings, client_secret=CLIENT_SECRET)
    with TestClient(create_app(console), base_url="http://localhost") as c:
        yield c


def through_provider(client: TestClient, idp: TestProvider) -> str:
    """Start at the console, pass the provider; the callback URL the browser is sent to."""
    start = client.get("/login/oidc", follow_redirects=False)
    assert start.status_code == 303
    location = start.headers["location"]
    assert location.startswith(idp.issuer + "/authorize?") and "code_challenge_method=S256" in location
    with httpx.Client(timeout=10) as browser:
        answer = browser.get(location, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    callback = answer.headers["location"]
    assert callback.startswith(CALLBACK + "?")
    return callback.removeprefix("http://localhost")


def signed_in_as(client: TestClient) -> str | None:
    r = client.get("/", follow_redirects=False)
    return None if r.headers["location"] == "/login" else r.headers["location"]


def test_sign_in_maps_the_role_claim(ctx: AppContext, client: TestClient, idp: TestProvider) -> None:
    assert 'href="/login/oidc"' in client.get("/login").text  # the button, beside the password form
    done = client.get(through_provider(client, idp), follow_redirects=False)
    assert done.status_code == 200 and 'http-equiv="refresh" content="0;url=/"' in done.text
    assert signed_in_as(client) == "/incidents"  # csirt's start page
    user = UserStore(ctx.es).get("k.sato@city.example")
    assert user is not None and (user.role, user.password_hash, user.external) == (Role.csirt, EXTERNAL, True)
    # no password opens an account the provider signs in
    assert UserStore(ctx.es).authenticate("k.sato@city.example", EXTERNAL) is None
    # the provider's word on the role wins at the next sign-in; several mapped roles: the strongest
    idp.user["roles"] = ["SOC.Operator", "SOC.CISO", "Unrelated.Group"]
    client.cookies.clear()
    client.get(through_provider(client, idp))
    assert signed_in_as(client) == "/ciso"
    assert UserStore(ctx.es).get("k.sato@city.example").role == Role.ciso  # type: ignore[union-attr]


@pytest.mark.parametrize("tamper", ["signature", "issuer", "audience", "expired", "nonce"])
def test_a_bad_id_token_is_refused(client: TestClient, idp: TestProvider, tamper: str) -> None:
    idp.tamper = tamper
    done = client.get(through_provider(client, idp), follow_redirects=False)
    assert done.status_code == 401 and "refused" in done.text
    assert "soc_session" not in done.headers.get("set-cookie", "")
    assert signed_in_as(client) is None


def test_state_is_checked_and_an_answer_is_good_once(client: TestClient, idp: TestProvider) -> None:
    forged = re.sub(r"state=[^&]+", "state=forged", through_provider(client, idp))
    assert client.get(forged).status_code == 401  # another state (and that sign-in is over)
    callback = through_provider(client, idp)
    with TestClient(client.app, base_url="http://localhost") as stranger:  # no flow cookie: not its sign-in
        assert stranger.get(callback).status_code == 401
    requests = idp.token_requests
    assert client.get(callback, follow_redirects=False).status_code == 200
    assert idp.token_requests == requests + 1  # refused answers never reached the token endpoint
    client.cookies.delete("soc_session")
    assert client.get(callback).status_code == 401  # replayed: the flow cookie is gone


def test_no_mapped_role_or_a_local_name_is_refused(ctx: AppContext, client: TestClient, idp: TestProvider) -> None:
    idp.user["roles"] = ["Everyone"]
    done = client.get(through_provider(client, idp))
    assert done.status_code == 401 and "has no soc role" in done.text
    idp.user |= {"roles": ["SOC.Admin"], "preferred_username": "operator"}  # a local account's name
    done = client.get(through_provider(client, idp))
    assert done.status_code == 401 and "is a local account" in done.text
    assert UserStore(ctx.es).get("operator").role == Role.operator  # type: ignore[union-attr]
    assert signed_in_as(client) is None


def test_local_accounts_keep_working(client: TestClient) -> None:
    token = re.search(r'name="token" value="([0-9a-f]+)"', client.get("/login").text)
    assert token
    form = {"name": "operator", "password": PASSWORD, "token": token.group(1)}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303
    assert signed_in_as(client) == "/alerts"


def test_oidc_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="must be an https:// URL"):
        OidcSettings(issuer="http://idp.example/", client_id="x", redirect_uri=CALLBACK, roles=ROLES)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="roles"):
        OidcSettings(issuer="https://idp.example/", client_id="x", redirect_uri=CALLBACK, roles={"A": "root"})  # type: ignore[dict-item]
    toml = tmp_path / "soc.toml"
    toml.write_text(
        '[web.oidc]\nissuer = "https://login.microsoftonline.com/0000/v2.0"\nclient_id = "abc"\n'
        'redirect_uri = "https://soc.city.example/login/oidc/callback"\n[web.oidc.roles]\n"SOC.CISO" = "ciso"\n',
        encoding="utf-8",
    )
    oidc = load_settings(toml).web.oidc
    assert oidc is not None and oidc.roles == {"SOC.CISO": "ciso"} and oidc.role_claim == "roles"
    with pytest.raises(ConfigError, match="SOC_OIDC_CLIENT_SECRET is not set"):
        OidcProvider.from_settings(oidc, env={})


@pytest.mark.skipif(not have_chromium(), reason="needs Debian's chromium and chromium-driver (make deps)")
def test_browser_signs_in_through_a_provider_on_another_site(ctx: AppContext) -> None:
    """Real Chromium: the provider (``localhost``) is another site than the console
    (``127.0.0.1``), so its redirect back is a cross-site navigation that carries no
    SameSite=Strict cookie: the flow cookie (Lax) must arrive and the session must hold."""
    ctx.clock = ManualClock(T0 + timedelta(hours=2))
    seed(ctx)
    console = console_for(ctx)
    idp = TestProvider("")
    with served(idp.app) as idp_url, served(create_app(console)) as url, chromium() as driver:
        idp.issuer = idp_url.replace("127.0.0.1", "localhost")
        idp.redirect_uri = url + "/login/oidc/callback"
        idp.user = {"sub": "0002", "preferred_username": "m.tanaka@city.example", "roles": ["SOC.Operator"]}
        settings = OidcSettings(issuer=idp.issuer, client_id=CLIENT_ID, redirect_uri=idp.redirect_uri, roles=ROLES)  # type: ignore[arg-type]
        console.oidc = OidcProvider(settings, client_secret=CLIENT_SECRET)
        driver.get(url + "/login")
        idp.interactive = True
        driver.find_element(By.ID, "sign-in-oidc").click()
        WebDriverWait(driver, 20).until(ec.element_to_be_clickable((By.ID, "continue-to-app"))).click()
        WebDriverWait(driver, 20).until(ec.presence_of_element_located((By.ID, "sign-out")))
        assert driver.current_url == url + "/alerts"  # the operator's start page, signed in
        assert "m.tanaka@city.example" in driver.find_element(By.TAG_NAME, "body").text
