"""The console in a real headless Chromium against ``soc web``'s app served by uvicorn and the
real Elasticsearch node: each role signs in, an operator acknowledges an alert that arrived
live, a CSIRT handler works an incident to closed, the CISO decides, forbidden actions are
refused, a hostile user name stays inert."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from soc.alerts.models import AlertStatus
from soc.alerts.store import AlertStore
from soc.clock import ManualClock
from soc.context import AppContext
from soc.incidents.store import IncidentStore
from soc.web.app import create_app
from tests.browser import chromium, have_chromium, replaced, served
from tests.webseed import PASSWORD, T0, Seeded, console_for, make_alert, put_alerts, seed

pytestmark = [
    pytest.mark.es,
    pytest.mark.skipif(not have_chromium(), reason="needs Debian's chromium and chromium-driver (make deps)"),
]


@pytest.fixture
def site(ctx: AppContext) -> Iterator[tuple[str, Seeded]]:
    ctx.clock = ManualClock(T0 + timedelta(hours=2))
    seeded = seed(ctx)
    with served(create_app(console_for(ctx))) as url:
        yield url, seeded


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    with chromium() as driver:
        yield driver


def wait(driver: webdriver.Chrome, seconds: float = 10) -> WebDriverWait[webdriver.Chrome]:
    return WebDriverWait(driver, seconds)


def sign_in(driver: webdriver.Chrome, url: str, name: str) -> None:
    driver.delete_all_cookies()
    driver.get(url + "/login")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()
    wait(driver).until(ec.presence_of_element_located((By.ID, "sign-out")))


def no_dialog(driver: webdriver.Chrome) -> None:
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert  # noqa: B018 - raises when no script opened a dialog


def test_each_role_signs_in_and_forbidden_actions_are_refused(
    site: tuple[str, Seeded], browser: webdriver.Chrome
) -> None:
    url, s = site
    landing = {"operator": "/alerts", "csirt": "/incidents", "ciso": "/ciso", "admin": "/overview"}
    for role, path in landing.items():
        sign_in(browser, url, role)
        assert browser.current_url == url + path, role
        links = {e.get_attribute("id") for e in browser.find_elements(By.CSS_SELECTOR, "nav.top a")}
        assert ("nav-ciso" in links) == (role in ("ciso", "admin")), role
        assert ("nav-alerts" in links) == (role != "ciso"), role
    sign_in(browser, url, "operator")
    browser.get(url + "/ciso")
    assert "You may not do this" in browser.find_element(By.ID, "error").text
    browser.get(url + f"/incidents/{s.incident}")
    assert not browser.find_elements(By.ID, "incident-ack")  # no work forms for an operator
    # a forged post from the operator's page (the form a CSIRT would see) is refused by the server
    browser.execute_script(
        "var f=document.createElement('form');f.method='post';f.action=arguments[0];"
        "var c=document.createElement('input');c.name='csrf';c.value=document.querySelector('input[name=csrf]').value;"
        "f.appendChild(c);document.body.appendChild(f);f.submit();",
        f"/incidents/{s.incident}/ack",
    )
    wait(browser).until(ec.presence_of_element_located((By.ID, "error")))
    assert "You may not do this" in browser.find_element(By.ID, "error").text


def test_hostile_user_name_stays_inert(site: tuple[str, Seeded], browser: webdriver.Chrome) -> None:
    url, s = site
    sign_in(browser, url, "admin")
    for path in ["/alerts", f"/alerts/{s.hostile_alert}", f"/incidents/{s.incident}"]:
        browser.get(url + path)
        no_dialog(browser)
        body = browser.find_element(By.TAG_NAME, "body").text
        assert "<script>alert(1)</script>{{7*7}}[x](javascript:alert(2))\\x1b[2J\\u202egnp.exe<img" in body, path
        assert not browser.find_elements(By.CSS_SELECTOR, "main img, main script"), path


def test_operator_acknowledges_an_alert_that_arrived_live(
    ctx: AppContext, site: tuple[str, Seeded], browser: webdriver.Chrome
) -> None:
    url, _s = site
    sign_in(browser, url, "operator")
    assert browser.current_url == url + "/alerts"
    title = browser.title
    live = make_alert("port-scan", {"source.ip": "10.20.30.40"}, minutes=600, severity="medium")
    put_alerts(ctx, [live])
    # the row appears at the top of the open page, without a reload, and the tab title counts it
    row = wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, f'tr.arrived[data-id="{live.id}"]')))
    first = browser.find_element(By.CSS_SELECTOR, "table.alerts tbody tr")
    assert first.get_attribute("data-id") == live.id
    assert browser.find_element(By.ID, "live-count").text == "1"
    assert browser.title == f"(1) {title}"
    quiet = make_alert("port-scan", {"source.ip": "10.20.30.41"}, minutes=601, severity="low")
    put_alerts(ctx, [quiet])  # also arrives, and is counted too
    wait(browser).until(lambda b: b.title == f"(2) {title}")
    box = row.find_element(By.CSS_SELECTOR, "input.pick")
    box.click()
    browser.find_element(By.ID, "note").send_keys("checking with the network team")
    ack = browser.find_element(By.ID, "bulk-ack")
    ack.click()
    wait(browser).until(replaced(ack))
    row = wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-id="{live.id}"] td.status')))
    assert row.text == "acknowledged"
    stored = AlertStore(ctx.es).get(live.id)
    assert (stored.status, stored.acknowledged_by) == (AlertStatus.acknowledged, "operator")


def _post_form(driver: webdriver.Chrome, css: str, fields: dict[str, str]) -> None:
    form = driver.find_element(By.CSS_SELECTOR, css)
    for name, value in fields.items():
        el = form.find_element(By.NAME, name)
        if el.tag_name == "select":
            Select(el).select_by_value(value)
        else:
            el.clear()
            el.send_keys(value)
    form.find_element(By.TAG_NAME, "button").click()
    wait(driver).until(replaced(form))


def test_csirt_works_an_incident_to_closed_and_the_ciso_decides(
    ctx: AppContext, site: tuple[str, Seeded], browser: webdriver.Chrome
) -> None:
    url, s = site
    page = f"{url}/incidents/{s.incident}"
    sign_in(browser, url, "csirt")
    browser.get(page)
    browser.find_element(By.ID, "incident-ack").click()
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "incident-status"), "triage"))
    _post_form(browser, "#step-confirm-scope form.complete", {"evidence": "https://wiki.city.example/case/1"})
    _post_form(browser, "#step-check-compromise form.decide", {"option": "not-compromised", "reason": "MFA held"})
    _post_form(browser, "#step-block-source form.complete", {"note": "blocked at the firewall"})
    assert not browser.find_elements(By.CSS_SELECTOR, "#step-ciso-decision form.decide")  # the CISO's to take

    sign_in(browser, url, "ciso")
    decision = browser.find_element(By.ID, f"decision-{s.incident}-ciso-decision")
    assert "★" in decision.text
    decision.find_element(By.CSS_SELECTOR, 'input[value="declare-and-report"]').click()
    decision.find_element(By.CLASS_NAME, "decide-reason").send_keys("住民への周知が必要")
    decision.find_element(By.CLASS_NAME, "decide-btn").click()
    wait(browser).until(ec.presence_of_element_located((By.ID, "no-decisions")))

    sign_in(browser, url, "csirt")
    browser.get(page)
    for to in ("declared", "contained", "recovered", "post-incident"):
        _post_form(browser, "form[action$='/transition']", {"to": to, "reason": f"now {to}"})
        assert browser.find_element(By.ID, "incident-status").text == to
    while browser.find_elements(By.CSS_SELECTOR, "form.obligation"):
        _post_form(browser, "form.obligation", {"status": "sent", "reference": "R-1"})
    _post_form(browser, "form[action$='/close']", {"verdict": "true_positive", "reason": "contained, reported"})
    assert browser.find_element(By.ID, "incident-status").text == "closed"
    incident = IncidentStore(ctx.es).get(s.incident)
    step = incident.step("ciso-decision")
    assert step and step.choice and (step.choice.by, step.choice.comment) == ("ciso", "住民への周知が必要")
    assert {e.actor for e in incident.audit if e.action not in ("open", "join")} == {"csirt", "ciso"}
    for aid in incident.alert_ids:
        assert AlertStore(ctx.es).get(aid).close_reason == "true_positive"


def test_copy_button_puts_the_full_alert_id_on_the_clipboard(
    site: tuple[str, Seeded], browser: webdriver.Chrome
) -> None:
    url, s = site
    sign_in(browser, url, "operator")
    browser.get(url + "/alerts")
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-id="{s.plain_alert}"]')
    button = row.find_element(By.CSS_SELECTOR, "button.copy")
    button.click()
    wait(browser).until(lambda _d: "copied" in (button.get_attribute("class") or ""))
    box = browser.find_element(By.NAME, "user")  # paste it where an operator would
    box.click()
    box.send_keys(Keys.CONTROL, "v")
    wait(browser).until(lambda _d: box.get_attribute("value") == s.plain_alert)
