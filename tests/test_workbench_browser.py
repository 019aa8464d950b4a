"""The workbench page in a real Chromium (Debian's chromium + chromium-driver, driven by selenium), against a real
`rail serve` subprocess: sign in, register and fund a bank on the page, send payments through the API as a bank
would, find them in the list, read their traces (pacs.008 and pacs.002, XML and JSON side by side, the reason
of a rejection in words), make a simulated bank go down and see a payment end AB05, see a participant's own
payments only, render a hostile remittance text as text, read at 390 px, reset. Each page's screenshot is
taken; a run writes them to a scratch directory, so running the tests leaves the checkout as it was. To refresh
the ones docs/workbench.md shows, run with RAIL_SCREENSHOTS_DIR=docs/screenshots and commit what changed.

The tests run in order and share one rail and one browser (starting each costs seconds); each says what state
it leaves.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from faults import ADMIN, RailProcess

from rail import iso20022 as iso
from rail.scheme import default_scheme

REPO = Path(__file__).resolve().parents[1]
# docs/screenshots only when asked (RAIL_SCREENSHOTS_DIR): a test run must not rewrite tracked files
SCREENSHOTS = Path(
    os.environ.get("RAIL_SCREENSHOTS_DIR") or Path(tempfile.gettempdir()) / "rail-workbench-screenshots"
)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
CREDITOR_TIMEOUT_MS = 800  # a bank that is down ends a payment AB05 this soon
WAIT_S = 10
SHOT_HEIGHT_MAX = 2_400
HOSTILE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="needs Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver; "
        ".ci/run installs both): apt-get install chromium chromium-driver",
    ),
]
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the test extra: pip install -e '.[test]'")
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

# ---- the rail, a bank talking to it, the browser -----------------------------------------------------------


class Rail:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def call(self, method: str, path: str, token: str, body: bytes | dict | None = None,
             content_type: str = "application/json", headers: dict | None = None) -> tuple[int, object]:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {token}", "Content-Type": content_type, **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                status, raw = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode()

    def pay(self, token: str, debtor: str, creditor: str, creditor_iban: str, remittance: str | None = None,
            paisa: int = 250_000) -> str:
        """A pacs.008 as the debtor agent's system would send it, answered at its final status (Prefer: wait)."""
        bank = default_scheme().bank(creditor)
        payee = next((c for c in bank.customers if c.iban == creditor_iban), None) if bank else None
        uetr = str(uuid.uuid4())
        stamp = uuid.uuid4().hex[:12].upper()
        message = iso.credit_transfer(
            msg_id=f"{debtor}M{stamp}", tx_id=f"{debtor}T{stamp}", end_to_end_id=f"E2E-{stamp}", uetr=uetr,
            amount_paisa=paisa, debtor_agent=debtor, debtor_name="Ali Raza",
            debtor_iban=iso.make_pk_iban(debtor[:4], "0000001234567890"), creditor_agent=creditor,
            creditor_name=payee.name if payee else "Sana Khan", creditor_iban=creditor_iban,
            remittance_info=remittance, at=dt.datetime.now(dt.UTC),
        )
        status, answer = self.call("POST", "/v1/messages", token, iso.encode(message, iso.XML), "application/xml",
                                   {"Prefer": "wait=10"})
        assert status in (200, 422), (status, answer)
        return uetr


def ordinary_iban(bic: str) -> str:
    return next(c.iban for c in default_scheme().bank(bic).customers if c.behaviour == "accept")


@pytest.fixture(scope="module")
def rail(tmp_path_factory):
    serve = RailProcess(tmp_path_factory.mktemp("workbench") / "data", "--creditor-timeout-ms", str(CREDITOR_TIMEOUT_MS))
    serve.start()
    try:
        line = ""
        while "workbench:" not in line:  # `rail serve` says where the page is
            line = serve.process.stdout.readline()
            assert line, serve.stop()
        yield Rail(line.split("workbench: ")[1].split()[0])
    finally:
        serve.stop()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--hide-scrollbars", "--disable-background-networking",
                     "--disable-component-update", "--no-first-run", "--lang=en-GB"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def state() -> dict:
    """What one test leaves the next (tokens, UETRs)."""
    return {}


def wait_for(driver, condition, what: str):
    return WebDriverWait(driver, WAIT_S, poll_frequency=0.05).until(lambda d: condition(d), message=what)


def element(driver, css: str):
    return wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, css) and d.find_element(By.CSS_SELECTOR, css),
                    f"no element {css!r} on {driver.current_url}")


def text_of(driver, css: str) -> str:
    return element(driver, css).text


def go(driver, rail: Rail, route: str) -> None:
    driver.get(f"{rail.url}/{route}")


def screenshot(driver, name: str) -> None:
    """The whole page (up to SHOT_HEIGHT_MAX px) as SCREENSHOTS/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.execute_script("document.getElementById('toast').textContent = ''")  # a passing notice hides a control
    width = driver.execute_script("return document.documentElement.clientWidth")
    height = min(driver.execute_script("return document.documentElement.scrollHeight"), SHOT_HEIGHT_MAX)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
    (SCREENSHOTS / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))


def nothing_wider_than_the_window(driver) -> list[str]:
    return driver.execute_script("""
        const out = [];
        if (document.documentElement.scrollWidth > window.innerWidth + 1) out.push('page scrolls sideways');
        for (const el of document.querySelectorAll('main *')) {
          const box = el.getBoundingClientRect();
          if (box.width && box.right > window.innerWidth + 1 && !el.closest('pre, details:not([open])'))
            out.push(el.tagName + '.' + el.className + ' ' + (el.textContent || '').slice(0, 40));
        }
        return out.slice(0, 5);""")


def script_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE" and e["source"] != "network"]


def sign_in(driver, rail: Rail, token: str) -> None:
    go(driver, rail, "#/signin")
    field = element(driver, "input[name=token]")
    field.clear()
    field.send_keys(token, Keys.ENTER)
    wait_for(driver, lambda d: "#/overview" in d.current_url and d.find_elements(By.CSS_SELECTOR, "#who-text"),
             "signed in")


# ---- the pages ---------------------------------------------------------------------------------------------


def test_sign_in_keeps_the_token_out_of_urls_and_storage(rail, browser):
    go(browser, rail, "")
    element(browser, "input[name=token][type=password]")
    screenshot(browser, "signin")
    element(browser, "input[name=token]").send_keys("not-a-token", Keys.ENTER)
    assert "knows no such token" in text_of(browser, ".error")
    sign_in(browser, rail, ADMIN)
    assert "operator" in text_of(browser, "#who-text")
    assert ADMIN not in browser.current_url
    assert browser.execute_script("return window.localStorage.length") == 0 and not browser.get_cookies()
    assert ADMIN not in browser.execute_script("return document.documentElement.outerHTML")
    assert script_errors(browser) == []


def test_the_overview_shows_the_rail_live(rail, browser):
    go(browser, rail, "#/overview")
    element(browser, "#overview svg.chart")
    wait_for(browser, lambda d: "MEZNPKKA" in d.find_element(By.CSS_SELECTOR, "[data-table=balances]").text,
             "each participant's balance")
    assert text_of(browser, "#queue") != "–"
    screenshot(browser, "overview")
    assert script_errors(browser) == []


def test_register_and_fund_a_bank_on_the_participants_page(rail, browser, state):
    go(browser, rail, "#/participants")
    form = element(browser, "form[aria-label='Register a participant']")
    form.find_element(By.NAME, "bic").send_keys("TESTPKKA")
    form.find_element(By.NAME, "name").send_keys("Test Bank")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    state["token"] = token = text_of(browser, "#issued-token code")
    assert token.startswith("rail_")
    assert rail.call("GET", "/v1/balance", token)[0] == 200  # the token shown is the bank's
    fund = element(browser, "form[aria-label='Fund a settlement account']")
    wait_for(browser, lambda d: "TESTPKKA" in fund.find_element(By.NAME, "bic").text, "TESTPKKA listed")
    Select(fund.find_element(By.NAME, "bic")).select_by_value("TESTPKKA")
    fund.find_element(By.NAME, "amount").send_keys("1,000,000.50")
    fund.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(browser, lambda d: "posted balance now Rs 1,000,000.50" in fund.text, "funded")
    assert rail.call("GET", "/v1/balance", token)[1]["posted_paisa"] == 100_000_050
    wait_for(browser, lambda d: "TESTPKKA" in d.find_element(By.CSS_SELECTOR, "[data-table=participants]").text,
             "TESTPKKA in the table")
    screenshot(browser, "participants")


def test_a_payment_is_found_and_its_trace_shows_both_messages_and_the_reason_in_words(rail, browser, state):
    token = state["token"]
    state["settled"] = rail.pay(token, "TESTPKKA", "MEZNPKKA", ordinary_iban("MEZNPKKA"), remittance=HOSTILE)
    state["rejected"] = rejected = rail.pay(token, "TESTPKKA", "MEZNPKKA", iso.make_pk_iban("MEZN", "0005000000000004"))
    go(browser, rail, "#/payments")
    element(browser, "input[name=q]").send_keys(rejected, Keys.ENTER)
    wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "[data-table=payments] tbody tr")) == 1,
             "the search finds one payment")
    row = element(browser, "[data-table=payments] tbody tr")
    assert "RJCT" in row.text and "AC04" in row.text
    row.find_element(By.LINK_TEXT, rejected).click()
    assert "AC04" in text_of(browser, "#reason-title")
    assert "closed" in text_of(browser, "#reason-text").lower()
    types = {a.get_attribute("data-msg-type")[:8] for a in browser.find_elements(By.CSS_SELECTOR, "article.message")}
    assert {"pacs.008", "pacs.002"} <= types
    first = element(browser, "article.message")
    wait_for(browser, lambda d: first.find_elements(By.CSS_SELECTOR, "pre[data-rendering=json]"), "both renderings")
    assert "<FIToFICstmrCdtTrf>" in first.find_element(By.CSS_SELECTOR, "pre[data-rendering=xml]").text
    assert '"FIToFICstmrCdtTrf"' in first.find_element(By.CSS_SELECTOR, "pre[data-rendering=json]").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.sequence g.arrow")) >= 2
    screenshot(browser, "payment-rejected")


def test_the_timeline_is_usable_from_the_keyboard_and_curl_carries_no_token(rail, browser, state):
    arrows = browser.find_elements(By.CSS_SELECTOR, "svg.sequence g.arrow")
    arrows[-1].send_keys(Keys.ENTER)
    focused = browser.execute_script("return document.activeElement.id")
    assert focused.startswith("message-"), focused
    browser.execute_script("navigator.clipboard.writeText = () => Promise.reject(new Error('no clipboard'))")
    element(browser, "#payment .actions button").click()
    command = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#payment textarea.curl").get_attribute(
        "value"), "the curl command")
    assert "$TOKEN" in command and state["token"] not in command and ADMIN not in command
    assert f"/v1/payments/{state['rejected']}/messages" in command


def test_a_hostile_remittance_text_is_shown_as_text(rail, browser, state):
    go(browser, rail, f"#/payments/{state['settled']}")
    wait_for(browser, lambda d: "window.pwned = 1" in " ".join(
        p.text for p in d.find_elements(By.CSS_SELECTOR, "pre[data-rendering=json]")), "the remittance text")
    assert browser.execute_script("return window.pwned") is None
    assert not browser.find_elements(By.CSS_SELECTOR, "main script, main img")
    json_text = " ".join(p.text for p in browser.find_elements(By.CSS_SELECTOR, "pre[data-rendering=json]"))
    assert '<script>window.pwned = 1</script><img src=x onerror=\\"window.pwned = 2\\">' in json_text
    xml_text = " ".join(p.text for p in browser.find_elements(By.CSS_SELECTOR, "pre[data-rendering=xml]"))
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in xml_text
    assert script_errors(browser) == []


def test_a_bank_set_down_on_the_page_ends_a_payment_ab05_and_the_page_says_why(rail, browser, state):
    go(browser, rail, "#/participants")
    form = element(browser, "form[aria-label='Make a simulated bank misbehave for a while']")
    Select(form.find_element(By.NAME, "bic")).select_by_value("ALFHPKKA")
    Select(form.find_element(By.NAME, "mode")).select_by_value("down")
    seconds = form.find_element(By.NAME, "for_s")
    seconds.clear()
    seconds.send_keys("30")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    assert "ALFHPKKA is now down" in text_of(browser, "#behaviour-outcome")
    wait_for(browser, lambda d: "down" in d.find_element(By.CSS_SELECTOR, "[data-behaviour=ALFHPKKA]").text,
             "the table shows it down")
    uetr = rail.pay(state["token"], "TESTPKKA", "ALFHPKKA", ordinary_iban("ALFHPKKA"))
    go(browser, rail, f"#/payments/{uetr}")
    wait_for(browser, lambda d: d.find_element(By.ID, "payment").get_attribute("data-status") == "RJCT", "RJCT")
    assert "AB05" in text_of(browser, "#reason-title")
    assert "timeout" in text_of(browser, "#reason-text").lower()
    screenshot(browser, "payment-ab05")
    assert rail.call("POST", "/admin/participants/ALFHPKKA/behaviour", ADMIN, {"mode": "normal", "for_s": 1})[0] == 200


def test_the_pages_read_at_390_px_without_sideways_scrolling(rail, browser, state):
    browser.set_window_size(390, 844)
    try:
        for route, ready, name in ((f"#/payments/{state['rejected']}", "#reason", "payment-390"),
                                   ("#/payments", "[data-table=payments]", "payments-390"),
                                   ("#/overview", "#overview svg.chart", None),
                                   ("#/participants", "[data-table=participants]", None)):
            go(browser, rail, route)
            element(browser, ready)
            time.sleep(0.2)  # charts are drawn at the width measured after layout
            assert nothing_wider_than_the_window(browser) == [], route
            if name:
                screenshot(browser, name)
    finally:
        browser.set_window_size(1280, 900)


def test_a_participant_sees_only_its_own_payments(rail, browser, state):
    status, issued = rail.call("POST", "/admin/participants", ADMIN, {"bic": "SCNDPKKA", "name": "Second Bank"})
    assert status == 201
    rail.call("POST", "/admin/liquidity", ADMIN, {"bic": "SCNDPKKA", "amount": 10_000_000, "direction": "in"})
    other = rail.pay(issued["token"], "SCNDPKKA", "HABBPKKA", ordinary_iban("HABBPKKA"))
    go(browser, rail, "#/payments")
    screenshot(browser, "payments")
    element(browser, "#sign-out").click()
    sign_in(browser, rail, state["token"])
    assert "TESTPKKA" in text_of(browser, "#who-text")
    assert not browser.find_element(By.CSS_SELECTOR, "a[href='#/participants']").is_displayed()
    go(browser, rail, "#/payments")
    rows = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-table=payments] tbody tr"), "rows")
    assert all("TESTPKKA" in row.text for row in rows) and len(rows) >= 3
    assert other not in text_of(browser, "[data-table=payments]")
    go(browser, rail, f"#/payments/{other}")
    assert text_of(browser, "#view .error")  # not among its payments: 404, said on the page
    go(browser, rail, "#/overview")
    assert text_of(browser, "#posted").startswith("Rs ")
    go(browser, rail, "#/webhook")
    assert "No delivery yet" in text_of(browser, "#deliveries")
    element(browser, "#view .actions button").click()  # a test event, without a callback URL: said why
    assert text_of(browser, "#view .error")
    screenshot(browser, "webhook")
    element(browser, "#sign-out").click()


def test_reset_asks_first_and_keeps_the_tokens_when_asked(rail, browser, state):
    sign_in(browser, rail, ADMIN)
    go(browser, rail, "#/reset")
    assert element(browser, "#keep-tokens").is_selected()
    element(browser, "button.danger").click()
    dialog = element(browser, "dialog[open]")
    assert "cannot be undone" in dialog.text
    screenshot(browser, "reset")
    dialog.find_element(By.ID, "confirm-reset").click()
    assert "reset" in text_of(browser, "#reset-outcome").lower()
    assert rail.call("GET", "/v1/balance", state["token"])[0] == 200  # kept, as asked
    go(browser, rail, "#/payments")
    assert "No payment yet" in text_of(browser, "#payments-count")
    assert script_errors(browser) == []
