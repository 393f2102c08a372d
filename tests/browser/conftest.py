"""Browser fixtures: the app served on 127.0.0.1 in a thread, driven by real Chromium.

Playwright drives Debian's /usr/bin/chromium (never a downloaded browser). A missing
browser fails the test loudly; it is never skipped. Every page records CSP violations
and console errors, and a test fails if any happened.

Data set-up happens in the test through `live_server.app` (the `app` fixture's context is
active): commit before driving the browser, and call db.session.rollback() after reading,
so the test thread never holds SQLite's write lock while the server needs it.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
STEP = 30  # seconds: one TOTP code step (blueprints/core/two_factor.STEP_SECONDS)
TOTP_MARGIN = 6  # seconds a typed code must still have left when it is typed


class LiveServer:
    def __init__(self, app):
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._thread.join(5)


@pytest.fixture
def live_server(app):
    from models import db

    db.session.commit()
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make test` (it installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


class PageProblems(list):
    pass


def _new_page(browser, viewport, problems):
    context = browser.new_context(viewport=viewport, locale="zh-CN", accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(15000)

    def on_console(msg):
        text = msg.text
        if msg.type == "error" and ("Content Security Policy" in text or "Refused to" in text):
            problems.append(text)

    pg.on("console", on_console)
    pg.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    return context, pg


@pytest.fixture
def new_page(browser, request):
    """new_page(viewport=PHONE) -> a fresh page in its own context (own cookies)."""
    problems = PageProblems()
    contexts = []

    def make(viewport=PHONE):
        ctx, pg = _new_page(browser, viewport, problems)
        contexts.append((ctx, pg))
        return pg

    yield make
    failed = getattr(request.node, "rep_call", None)
    ARTIFACTS.mkdir(exist_ok=True)
    for i, (ctx, pg) in enumerate(contexts):
        if failed is not None and failed.failed:
            try:
                pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{i}.png"), full_page=True)
            except Exception:
                pass
        ctx.close()
    assert not problems, f"browser reported CSP violations or script errors: {problems}"


@pytest.fixture
def page(new_page):
    """A phone-sized (390x844) page."""
    return new_page(PHONE)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def password_step(pg, base_url: str, username: str, password: str) -> None:
    """The login form alone: an official is left on the code (or enrolment) step."""
    pg.goto(f"{base_url}/login")
    pg.fill("#username", username)
    pg.fill("#password", password)
    pg.click("button[type=submit]")
    pg.wait_for_load_state("networkidle")


def login_via_form(pg, base_url: str, username: str, password: str) -> None:
    password_step(pg, base_url, username, password)
    pass_second_factor(pg, username)


def pass_second_factor(pg, username: str) -> None:
    """Officials (R21) after the password: enrol from the page's secret, or type the current code
    (the last step used is forgotten first: a test may log the same official in twice in 30 s)."""
    import time

    import pyotp

    from models import User, db

    if "/login/enrol" in pg.url:
        secret = pg.get_attribute("#totp-secret", "data-secret")
    elif "/login/code" in pg.url:
        user = db.session.execute(db.select(User).where(User.username == username)).scalar_one()
        user.totp_last_step = None
        secret = user.totp_secret
        db.session.commit()
    else:
        return
    # A code lives for its own 30 s step only, and the server checks it after the browser has typed and
    # sent it: on a loaded machine (2 cores, Chromium and the suite) that can take seconds. Near the end
    # of a step, wait for the next one to begin rather than post a code that may expire on its way.
    left = STEP - time.time() % STEP
    if left < TOTP_MARGIN:
        time.sleep(left + 0.2)
    pg.fill("#code", pyotp.TOTP(secret).now())
    pg.click("#main button[type=submit]")
    pg.wait_for_load_state("networkidle")
    if pg.locator("#two-factor-continue").count():  # enrolled: the recovery codes, then on
        pg.click("#two-factor-continue")
        pg.wait_for_load_state("networkidle")
