"""The foundation's browser test: an enterprise logs in on a phone and sees its Chinese home page."""
import pytest

from models import Role, db
from tests.browser.conftest import login_via_form
from tests.factories import PASSWORD, make_cycle, make_user


@pytest.mark.browser
def test_enterprise_logs_in_on_phone_and_sees_chinese_home(live_server, page):
    # rule: ROLE-1, ROLE-8
    make_user(Role.ENTERPRISE, username="ent_phone")
    make_cycle()
    db.session.commit()
    login_via_form(page, live_server.url, "ent_phone", PASSWORD)
    assert page.url.endswith("/enterprise/")
    assert page.locator("#enterprise-home").is_visible()
    assert "您好" in page.inner_text("#enterprise-home")
    assert page.locator("#cycle-deadlines").is_visible()
    # No horizontal scroll at 390 px.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    # htmx is served by the app itself and loaded.
    assert page.evaluate("typeof window.htmx") == "object"
    # The history cache holds nothing after visiting a page (R17).
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('htmx')).length") == 0


@pytest.mark.browser
def test_wrong_password_shows_chinese_error(live_server, page):
    make_user(Role.CITY, username="city_phone")
    db.session.commit()
    login_via_form(page, live_server.url, "city_phone", "wrong-password-123")
    assert "用户名或密码错误" in page.inner_text("#login-error")
