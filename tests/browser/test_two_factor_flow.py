"""Two-factor login on a phone (R21): a city officer enrols after the password by the QR code's secret,
keeps the recovery codes, then logs in later with a code and once with a recovery code."""
import time

import pyotp
import pytest

from models import Role, db
from tests.browser.conftest import STEP, TOTP_MARGIN
from tests.factories import PASSWORD, make_user


def _password_step(pg, base, username):
    pg.goto(f"{base}/login")
    pg.fill("#username", username)
    pg.fill("#password", PASSWORD)
    pg.click("#main button[type=submit]")
    pg.wait_for_load_state("networkidle")


@pytest.mark.browser
def test_officer_enrols_then_logs_in_with_a_code_and_with_a_recovery_code(live_server, new_page):
    # R21
    make_user(Role.CITY, username="city_2fa_phone", city_code="440100")
    db.session.commit()
    base = live_server.url

    pg = new_page()  # 390x844
    _password_step(pg, base, "city_2fa_phone")
    assert pg.url.endswith("/login/enrol")
    assert pg.locator(".totp-qr svg").is_visible()
    secret = pg.get_attribute("#totp-secret", "data-secret")
    assert secret.replace(" ", "") in pg.inner_text("#totp-secret").replace(" ", "")
    pg.goto(f"{base}/city/")  # nothing else is reachable before enrolment
    assert "/login/enrol" in pg.url
    totp = pyotp.TOTP(secret)
    left = STEP - time.time() % STEP
    if left < TOTP_MARGIN:  # the code must still be this step's when the server checks it
        time.sleep(left + 0.2)
    enrol_step = int(time.time()) // STEP
    pg.fill("#code", totp.now())
    pg.click("#main button[type=submit]")
    pg.wait_for_load_state("networkidle")
    codes = pg.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    assert pg.evaluate("document.documentElement.scrollWidth") <= 390
    pg.click("#two-factor-continue")
    pg.wait_for_load_state("networkidle")
    assert pg.url.endswith("/city/")

    # Later, on another phone: password, then the code of a new 30 s step (the enrolment spent its own).
    later = new_page()
    _password_step(later, base, "city_2fa_phone")
    assert later.url.endswith("/login/code")
    while int(time.time()) // STEP == enrol_step or STEP - time.time() % STEP < TOTP_MARGIN:
        time.sleep(0.5)
    later.fill("#code", totp.now())
    later.click("#main button[type=submit]")
    later.wait_for_load_state("networkidle")
    assert later.url.endswith("/city/")
    assert later.locator("#login-error, #two-factor-error").count() == 0

    # The phone is lost: a recovery code logs in, once, and says how many are left.
    lost = new_page()
    _password_step(lost, base, "city_2fa_phone")
    lost.fill("#code", codes[0])
    lost.click("#main button[type=submit]")
    lost.wait_for_load_state("networkidle")
    assert lost.url.endswith("/city/")
    assert "还剩 9 个" in lost.inner_text("body")
    again = new_page()
    _password_step(again, base, "city_2fa_phone")
    again.fill("#code", codes[0])
    again.click("#main button[type=submit]")
    again.wait_for_load_state("networkidle")
    assert again.url.endswith("/login/code")
    assert "已使用过" in again.inner_text("#two-factor-error")
