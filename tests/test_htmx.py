"""htmx behaviour of the foundation: session-expired redirects, toasts, Vary, error toasts."""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from models import Notice, Role, db
from tests.factories import PASSWORD, make_user

HX = {"HX-Request": "true"}


def _toasts(r) -> list[dict]:
    trigger = json.loads(r.headers["HX-Trigger"])
    return trigger["toast"]


def test_anonymous_htmx_request_gets_hx_redirect_to_login(client):
    # rule: ROLE-8 -- never swap a protected fragment (or a login page) into a table cell
    r = client.get("/notices?page=2", headers={**HX, "HX-Current-URL": "http://localhost/enterprise/?tab=apps"})
    assert r.status_code == 204
    assert r.get_data() == b""
    target = urlsplit(r.headers["HX-Redirect"])
    assert target.path == "/login"
    assert parse_qs(target.query)["next"] == ["/enterprise/?tab=apps"]


def test_anonymous_htmx_without_current_url(client):
    r = client.post("/notices/read", headers=HX)
    assert r.status_code == 204
    assert r.headers["HX-Redirect"].startswith("/login")


def test_anonymous_htmx_current_url_is_reduced_to_a_safe_path(client):
    # rule: ROLE-8 -- the next= taken from HX-Current-URL never points to another origin
    r = client.get("/enterprise/", headers={**HX, "HX-Current-URL": "https://evil.tld/x?y=1"})
    assert r.status_code == 204
    assert parse_qs(urlsplit(r.headers["HX-Redirect"]).query)["next"] == ["/x?y=1"]
    r = client.get("/enterprise/", headers={**HX, "HX-Current-URL": "https://evil.tld//evil.tld/x"})
    assert r.status_code == 204 and r.headers["HX-Redirect"] == "/login"


def test_anonymous_full_page_request_redirects_with_next(client):
    r = client.get("/enterprise/?tab=apps")
    assert r.status_code == 302
    target = urlsplit(r.headers["Location"])
    assert target.path == "/login" and parse_qs(target.query)["next"] == ["/enterprise/?tab=apps"]


def test_idle_expired_session_on_htmx_request_redirects(app, client):
    import datetime as dt

    import time_machine

    make_user(Role.ENTERPRISE, username="htmx_idle")
    db.session.commit()
    start = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.timezone.utc)
    with time_machine.travel(start, tick=False) as t:
        assert client.post("/login", data={"username": "htmx_idle", "password": PASSWORD}).status_code == 303
        t.shift(dt.timedelta(minutes=app.config["SESSION_IDLE_MINUTES"] + 1))
        r = client.get("/notices", headers={**HX, "HX-Current-URL": "http://localhost/notices"})
        assert r.status_code == 204
        assert r.headers["HX-Redirect"].startswith("/login?next=")


def test_flash_messages_become_an_hx_trigger_toast(client):
    # sign-up through htmx: 204 + HX-Redirect, the flash waits for the next response
    r = client.post("/signup", data={"kind": "enterprise", "username": "hx_signup", "display_name": "周工",
                                     "phone": "13800138009", "password": "Red-lantern-2026",
                                     "confirm": "Red-lantern-2026"}, headers=HX)
    assert r.status_code == 204
    assert r.headers["HX-Redirect"] == "/enterprise/"
    assert "HX-Trigger" not in r.headers
    # the next htmx fragment carries it as a toast, not as page HTML
    r = client.get("/notices", headers=HX)
    assert r.status_code == 200
    body = r.get_data(as_text=True)
    assert "<html" not in body and 'id="notice-results"' in body
    toasts = _toasts(r)
    assert toasts == [{"level": "success", "message": "注册成功。请填写并提交单位资料，审核通过后即可办理业务。"}]
    # consumed: it is not shown twice
    assert "HX-Trigger" not in client.get("/notices", headers=HX).headers


def test_flash_on_full_page_is_rendered_inline(login_as):
    c, _ = login_as(Role.ENTERPRISE)
    c.post("/account/password", data={"current": PASSWORD, "password": "Tall-bamboo-2026",
                                      "confirm": "Tall-bamboo-2026"})
    body = c.get("/enterprise/").get_data(as_text=True)
    assert "密码已修改" in body and 'class="flash flash-success"' in body


def test_htmx_logout_redirects_and_ends_session(login_as):
    c, _ = login_as(Role.SUPPLIER)
    r = c.post("/logout", headers=HX)
    assert r.status_code == 204 and r.headers["HX-Redirect"] == "/login"
    assert "HX-Request" in r.headers["Vary"]
    assert c.get("/supplier/").status_code == 302


def test_responses_vary_on_hx_request(login_as):
    c, user = login_as(Role.ENTERPRISE)
    db.session.add(Notice(user_id=user.id, title="您的注册已通过"))
    db.session.commit()
    full = c.get("/notices")
    frag = c.get("/notices", headers=HX)
    for r in (full, frag):
        assert r.status_code == 200
        assert "HX-Request" in r.headers["Vary"]
    assert "<html" in full.get_data(as_text=True)
    body = frag.get_data(as_text=True)
    assert "<html" not in body and "您的注册已通过" in body and 'id="notice-results"' in body
    # a boosted request or a history restore always gets the full page
    for extra in ({"HX-Boosted": "true"}, {"HX-History-Restore-Request": "true"}):
        assert "<html" in c.get("/notices", headers={**HX, **extra}).get_data(as_text=True)


def test_htmx_403_is_a_toast_not_a_page(login_as):
    c, _ = login_as(Role.ENTERPRISE)
    r = c.get("/province/", headers=HX)
    assert r.status_code == 403
    assert "<html" not in r.get_data(as_text=True)
    assert _toasts(r) == [{"level": "error", "message": "您没有权限访问该页面或执行该操作"}]
    assert r.headers["HX-Reswap"] == "none"
    # without htmx: the full Chinese error page
    full = c.get("/province/")
    assert full.status_code == 403 and "<html" in full.get_data(as_text=True)
    assert "您没有权限访问该页面或执行该操作" in full.get_data(as_text=True)


def test_htmx_404_and_405_are_toasts(login_as):
    c, _ = login_as(Role.CITY)
    r = c.get("/files/987654", headers=HX)
    assert r.status_code == 404 and "<html" not in r.get_data(as_text=True)
    assert _toasts(r)[0]["message"] == "页面或记录不存在"
    r = c.get("/no-such-page", headers=HX)
    assert r.status_code == 404 and _toasts(r)[0]["level"] == "error"
    r = c.get("/logout", headers=HX)
    assert r.status_code == 405 and _toasts(r)[0]["message"] == "不支持该请求方式"


def test_htmx_login_error_is_422_and_swappable(client):
    make_user(Role.ENTERPRISE, username="hx_login")
    db.session.commit()
    r = client.post("/login", data={"username": "hx_login", "password": "Wrong-pass-2026"}, headers=HX)
    assert r.status_code == 422
    assert "用户名或密码错误" in r.get_data(as_text=True)
    assert 'id="login-error"' in r.get_data(as_text=True)
