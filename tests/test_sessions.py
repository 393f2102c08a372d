"""Sessions: server-side revocation, idle and absolute timeouts, cookie flags.

Flask's session is a signed cookie, so revocation relies on the user's session_version:
a replayed copy of an old cookie must not log anyone in.
"""
from __future__ import annotations

import datetime as dt

import time_machine

from app import create_app
from models import AuditEvent, Role, User, db
from tests.factories import PASSWORD, make_user, pass_second_factor

# rule: ROLE-8 -- a revoked or expired session never reaches a role's data


def _form_login(client, username: str):
    r = client.post("/login", data={"username": username, "password": PASSWORD})
    assert r.status_code == 303, r.get_data(as_text=True)[:500]
    if "/login/" in r.headers["Location"]:  # an official: the second factor next (R21)
        user = db.session.execute(db.select(User).where(User.username == username)).scalar_one()
        r = pass_second_factor(client, user)
    return r


def _cookie_value(client, name="session") -> str:
    cookie = client.get_cookie(name)
    assert cookie is not None
    return cookie.value


def _redirected_to_login(r) -> bool:
    return r.status_code == 302 and "/login" in r.headers.get("Location", "")


def test_login_rotates_the_session_cookie(app, client):
    make_user(Role.ENTERPRISE, username="rotator")
    db.session.commit()
    client.post("/lang", data={"lang": "zh_Hans"})  # an anonymous session exists before login
    before = _cookie_value(client)
    _form_login(client, "rotator")
    after = _cookie_value(client)
    assert before != after
    # the pre-login cookie is not authenticated
    stale = app.test_client()
    stale.set_cookie("session", before)
    assert _redirected_to_login(stale.get("/enterprise/"))


def test_logout_revokes_a_captured_cookie(app, client):
    user = make_user(Role.ENTERPRISE, username="leaver")
    db.session.commit()
    _form_login(client, "leaver")
    captured = _cookie_value(client)
    thief = app.test_client()
    thief.set_cookie("session", captured)
    assert thief.get("/enterprise/").status_code == 200  # the copy works while logged in

    r = client.post("/logout")
    assert r.status_code == 303 and r.headers["Location"].endswith("/login")
    assert "您已退出登录" in client.get("/login").get_data(as_text=True)

    replay = app.test_client()
    replay.set_cookie("session", captured)
    assert _redirected_to_login(replay.get("/enterprise/"))
    assert _redirected_to_login(thief.get("/enterprise/"))
    assert db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "logout", AuditEvent.actor_id == user.id)
    ).scalar_one()


def test_logout_needs_post(login_as):
    c, _ = login_as(Role.ENTERPRISE)
    assert c.get("/logout").status_code == 405
    assert c.get("/enterprise/").status_code == 200


def test_password_change_revokes_other_sessions(app):
    make_user(Role.CITY, username="officer_pw")
    db.session.commit()
    laptop, phone = app.test_client(), app.test_client()
    _form_login(laptop, "officer_pw")
    _form_login(phone, "officer_pw")
    captured = _cookie_value(phone)
    r = laptop.post("/account/password", data={"current": PASSWORD, "password": "Green-river-2027",
                                                 "confirm": "Green-river-2027"})
    assert r.status_code == 303
    assert laptop.get("/city/").status_code == 200
    assert _redirected_to_login(phone.get("/city/"))
    replay = app.test_client()
    replay.set_cookie("session", captured)
    assert _redirected_to_login(replay.get("/city/"))


def test_disabled_user_is_logged_out(login_as):
    c, user = login_as(Role.SUPPLIER)
    assert c.get("/supplier/").status_code == 200
    user.is_active = False
    db.session.commit()
    assert _redirected_to_login(c.get("/supplier/"))


def test_idle_timeout(app, client):
    make_user(Role.PROVINCE, username="idler")
    db.session.commit()
    idle = app.config["SESSION_IDLE_MINUTES"]
    start = dt.datetime(2026, 5, 11, 1, 0, tzinfo=dt.timezone.utc)
    with time_machine.travel(start, tick=False) as traveller:
        _form_login(client, "idler")
        traveller.shift(dt.timedelta(minutes=idle - 1))
        assert client.get("/province/").status_code == 200  # activity keeps it alive
        traveller.shift(dt.timedelta(minutes=idle - 1))
        assert client.get("/province/").status_code == 200
        traveller.shift(dt.timedelta(minutes=idle + 1))
        r = client.get("/province/")
        assert _redirected_to_login(r)
        assert "next=/province/" in r.headers["Location"]
        # and it stays logged out (the session was cleared, not just refused once)
        assert _redirected_to_login(client.get("/province/"))


def test_absolute_timeout_12_hours(app, client):
    make_user(Role.PROVINCE, username="marathon")
    db.session.commit()
    assert app.permanent_session_lifetime == dt.timedelta(hours=12)
    step = dt.timedelta(minutes=app.config["SESSION_IDLE_MINUTES"] - 5)
    start = dt.datetime(2026, 5, 11, 1, 0, tzinfo=dt.timezone.utc)
    with time_machine.travel(start, tick=False) as traveller:
        _form_login(client, "marathon")
        elapsed = dt.timedelta(0)
        while elapsed + step < dt.timedelta(hours=12):
            traveller.shift(step)
            elapsed += step
            assert client.get("/province/").status_code == 200, elapsed
        traveller.shift(dt.timedelta(hours=12) - elapsed + dt.timedelta(minutes=1))
        assert _redirected_to_login(client.get("/province/"))


def test_session_cookie_flags_default(client):
    make_user(Role.ENTERPRISE, username="cookie_user")
    db.session.commit()
    r = _form_login(client, "cookie_user")
    cookies = r.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("session="))
    assert "HttpOnly" in session_cookie
    assert "SameSite=Lax" in session_cookie
    assert "Path=/" in session_cookie
    # no "remember me" cookie that would outlive a revoked session
    assert not any(c.startswith("remember_token=") for c in cookies)


def test_session_cookie_secure_host_prefix(db_url, tmp_path):
    app = create_app({
        "TESTING": True, "SQLALCHEMY_DATABASE_URI": db_url, "WTF_CSRF_ENABLED": False,
        "UPLOAD_DIR": str(tmp_path / "up"), "SECRET_KEY": "test-secret", "COOKIE_SECURE": True,
    })
    with app.app_context():
        make_user(Role.ENTERPRISE, username="secure_user")
        db.session.commit()
        client = app.test_client()
        r = client.post("/login", data={"username": "secure_user", "password": PASSWORD},
                        base_url="https://localhost")
        assert r.status_code == 303
        cookie = next(c for c in r.headers.getlist("Set-Cookie") if c.startswith("__Host-session="))
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert "Path=/" in cookie and "Domain=" not in cookie
        assert client.get("/enterprise/", base_url="https://localhost").status_code == 200
        db.session.remove()
        db.engine.dispose()


def test_session_version_in_cookie_identity(login_as):
    # a cookie carrying an older version is refused even if the user id matches
    c, user = login_as(Role.ENTERPRISE)
    user.session_version += 1
    db.session.commit()
    assert _redirected_to_login(c.get("/enterprise/"))
    assert db.session.get(User, user.id).is_active
