"""Accounts and roles: sign-up, login, rate limits, password storage and change, redirects, language.

Every test goes through the real routes and asserts what a user notices: status codes,
where they land, the Chinese messages, and the rows that were (or were not) saved.
"""
from __future__ import annotations

import re

import pytest

from blueprints.core import security
from models import AuditEvent, Enterprise, RateEvent, Role, Supplier, User, db
from tests.factories import PASSWORD, make_user, pass_second_factor

GOOD_PASSWORD = "Blue-harbour-2026"


def _signup_data(**kw) -> dict:
    data = {
        "kind": "enterprise",
        "username": "acme_gz",
        "display_name": "张经理",
        "phone": "13800138001",
        "password": GOOD_PASSWORD,
        "confirm": GOOD_PASSWORD,
    }
    data.update(kw)
    return data


def _counts() -> tuple[int, int, int]:
    return tuple(
        db.session.execute(db.select(db.func.count()).select_from(m)).scalar_one() for m in (User, Enterprise, Supplier)
    )


def _login(client, username, password, next_=None):
    url = "/login" + (f"?next={next_}" if next_ is not None else "")
    return client.post(url, data={"username": username, "password": password})


# --------------------------------------------------------------------------- sign-up


@pytest.mark.parametrize(
    "kind, home, model, fk",
    [("enterprise", "/enterprise/", Enterprise, "enterprise_id"), ("supplier", "/supplier/", Supplier, "supplier_id")],
)
def test_signup_creates_account_and_empty_profile_and_logs_in(client, kind, home, model, fk):
    # rule: ROLE-1, ROLE-2 -- enterprises and suppliers sign themselves up; the profile starts empty
    r = client.post("/signup", data=_signup_data(kind=kind, username=f"new_{kind}"))
    assert r.status_code == 303
    assert r.headers["Location"].endswith(home)
    user = db.session.execute(db.select(User).where(User.username == f"new_{kind}")).scalar_one()
    assert user.role == kind
    assert user.password_hash.startswith("$argon2id$")
    org = db.session.get(model, getattr(user, fk))
    assert org is not None and org.status == "draft" and org.name == "" and org.uscc is None
    assert org.contact_name == "张经理" and org.contact_phone == "13800138001"
    # logged in right away: the home page of the role opens
    page = client.get(home)
    assert page.status_code == 200
    assert "注册成功" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "override, message",
    [
        ({"username": ""}, "请输入用户名"),
        ({"username": "ab"}, "用户名 3 到 32 个字符"),
        ({"username": "张三"}, "用户名只能包含字母"),
        ({"phone": "12345"}, "请输入 11 位手机号"),
        ({"display_name": ""}, "请输入联系人姓名"),
        ({"password": "short", "confirm": "short"}, "密码至少 10 个字符"),
        ({"confirm": "something-else-2026"}, "两次输入的密码不一致"),
        ({"password": "1234567890", "confirm": "1234567890"}, "密码过于常见"),
        ({"password": "acme_gz-2026!", "confirm": "acme_gz-2026!"}, "包含用户名"),
        ({"password": "aaaaaaaaaaaa", "confirm": "aaaaaaaaaaaa"}, "密码过于简单"),
    ],
)
def test_signup_bad_input_is_422_in_chinese_and_saves_nothing(client, override, message):
    # rule: ROLE-1
    before = _counts()
    r = client.post("/signup", data=_signup_data(**override))
    assert r.status_code == 422
    assert message in r.get_data(as_text=True)
    assert _counts() == before
    assert client.get("/enterprise/").status_code == 302  # not logged in


def test_signup_duplicate_username_refused(client):
    # rule: ROLE-1
    make_user(Role.ENTERPRISE, username="taken_name")
    db.session.commit()
    before = _counts()
    r = client.post("/signup", data=_signup_data(username="taken_name"))
    assert r.status_code == 422
    assert "该用户名已被使用" in r.get_data(as_text=True)
    assert _counts() == before


def test_signups_from_one_address_are_limited_with_a_reason_and_the_typing_kept(app, monkeypatch):
    # R24 -- an address that signs up too many accounts in an hour is told why and for how long
    from blueprints import auth
    monkeypatch.setattr(auth, "SIGNUP_LIMIT_PER_ADDRESS", 2)
    for i in range(2):
        c = app.test_client()
        assert c.post("/signup", data=_signup_data(username=f"burst_{i}")).status_code == 303
    before = _counts()
    r = app.test_client().post("/signup", data=_signup_data(username="burst_third", display_name="王小姐"))
    html = r.get_data(as_text=True)
    assert r.status_code == 429
    assert re.search(r"从这个网络地址注册的账号过多，请 \d+ 分钟后再试", html)
    assert 'value="burst_third"' in html and 'value="王小姐"' in html  # nothing typed is lost
    assert _counts() == before
    other = app.test_client().post("/signup", data=_signup_data(username="elsewhere"),
                                   environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other.status_code == 303  # another address is not affected


def test_signup_inline_validation_returns_only_the_field(client):
    r = client.post("/signup?validate=username", data=_signup_data(username="ab"), headers={"HX-Request": "true"})
    assert r.status_code == 200
    body = r.get_data(as_text=True)
    assert "<html" not in body and 'id="field-username"' in body and "用户名 3 到 32 个字符" in body
    assert db.session.execute(db.select(db.func.count(User.id))).scalar_one() == 0


# --------------------------------------------------------------------------- login per role


@pytest.mark.parametrize(
    "role, scope, home, body",
    [
        (Role.ENTERPRISE, {}, "/enterprise/", "enterprise:"),  # rule: ROLE-1
        (Role.SUPPLIER, {}, "/supplier/", "supplier:"),  # rule: ROLE-2
        (Role.CITY, {"city_code": "440300"}, "/city/", "city:440300"),  # rule: ROLE-3
        (Role.PROVINCE, {}, "/province/", "province"),  # rule: ROLE-4
        (Role.EXPERT, {}, "/expert/", "province"),  # rule: ROLE-5
        (Role.OPERATOR, {}, "/province/", "province"),  # rule: ROLE-6 (acting for the province)
        (Role.OPERATOR, {"city_code": "440600"}, "/city/", "city:440600"),  # rule: ROLE-6 (acting for Foshan)
    ],
)
def test_each_role_logs_in_and_lands_on_its_own_home(client, role, scope, home, body):
    # rule: ROLE-1, ROLE-2, ROLE-3, ROLE-4, ROLE-5, ROLE-6
    user = make_user(role, username="someone", **scope)
    db.session.commit()
    assert user.body.startswith(body)
    r = _login(client, "someone", PASSWORD)
    assert r.status_code == 303
    if role not in (Role.ENTERPRISE, Role.SUPPLIER):  # R21: officials pass a second factor first
        assert r.headers["Location"].startswith("/login/enrol")
        assert client.get(home).status_code == 302
        r = pass_second_factor(client, user)
    assert r.headers["Location"].endswith(home)
    page = client.get(home)
    assert page.status_code == 200
    assert f"您好，{user.display_name}" in page.get_data(as_text=True)
    # the login itself is in the audit trail with the actor and the body acted for
    ev = db.session.execute(db.select(AuditEvent).where(AuditEvent.action == "login")).scalar_one()
    assert ev.actor_id == user.id and ev.body == user.body


def test_scope_fields_of_each_role(app):
    # rule: ROLE-1, ROLE-2, ROLE-3, ROLE-4, ROLE-5, ROLE-6
    ent = make_user(Role.ENTERPRISE)
    sup = make_user(Role.SUPPLIER)
    city = make_user(Role.CITY, city_code="441900")
    op_city = make_user(Role.OPERATOR, city_code="441900")
    op_prov = make_user(Role.OPERATOR)
    assert ent.enterprise_id and ent.acting_role == Role.ENTERPRISE
    assert sup.supplier_id and sup.acting_role == Role.SUPPLIER
    assert city.city_code == "441900" and city.acting_role == Role.CITY and city.body == "city:441900"
    assert op_city.acting_role == Role.CITY and op_city.body == "city:441900"
    assert op_prov.acting_role == Role.PROVINCE and op_prov.body == "province"


@pytest.mark.parametrize(
    "role, scope, forbidden",
    [
        (Role.ENTERPRISE, {}, ["/supplier/", "/city/", "/province/", "/expert/"]),
        (Role.SUPPLIER, {}, ["/enterprise/", "/city/", "/province/", "/expert/"]),
        (Role.CITY, {}, ["/enterprise/", "/supplier/", "/province/", "/expert/"]),
        (Role.EXPERT, {}, ["/enterprise/", "/supplier/", "/city/", "/province/"]),
        (Role.OPERATOR, {"city_code": "440100"}, ["/province/", "/enterprise/", "/expert/"]),
        (Role.OPERATOR, {}, ["/city/", "/enterprise/", "/expert/"]),
    ],
)
def test_other_roles_home_pages_are_403(login_as, role, scope, forbidden):
    # rule: ROLE-8 -- a role never opens another role's pages (with and without htmx)
    c, _ = login_as(role, **scope)
    for url in forbidden:
        for headers in ({}, {"HX-Request": "true"}):
            r = c.get(url, headers=headers)
            assert r.status_code == 403, (url, headers)
            assert "您好" not in r.get_data(as_text=True)


def test_public_pages_need_no_login(app, client):
    # rule: ROLE-7 -- the public pages open without an account
    for url in ("/", "/login", "/signup", "/healthz"):
        r = client.get(url)
        assert r.status_code == 200, url
    from blueprints.core.access import PUBLIC, declaration

    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.arguments or "GET" not in rule.methods or rule.endpoint == "static":
            continue
        if PUBLIC not in (declaration(rule.endpoint) or ()):
            continue
        r = client.get(rule.rule)
        assert r.status_code < 400, (rule.rule, r.status_code)
        assert "/login" not in r.headers.get("Location", ""), rule.rule
        checked += 1
    assert checked >= 4


# --------------------------------------------------------------------------- login


def test_login_failure_is_generic(client):
    # rule: ROLE-1 -- an unknown user and a wrong password look the same (no enumeration)
    make_user(Role.ENTERPRISE, username="real_user")
    db.session.commit()
    wrong = _login(client, "real_user", "Wrong-pass-2026")
    unknown = _login(client, "nobody_here", "Wrong-pass-2026")
    for r in (wrong, unknown):
        assert r.status_code == 422
        assert "用户名或密码错误" in r.get_data(as_text=True)
    assert client.get("/enterprise/").status_code == 302


def test_login_disabled_user_refused(client):
    make_user(Role.ENTERPRISE, username="gone_user", is_active=False)
    db.session.commit()
    r = _login(client, "gone_user", PASSWORD)
    assert r.status_code == 422 and "用户名或密码错误" in r.get_data(as_text=True)


def test_login_rate_limited_per_account(app, client):
    # R24: five wrong passwords from one address slow that address down for the account, not the owner elsewhere
    make_user(Role.ENTERPRISE, username="target")
    db.session.commit()
    limit = app.config["LOGIN_LIMIT_PER_ACCOUNT"]
    assert limit == 5
    for _ in range(limit):
        assert _login(client, "target", "Wrong-pass-2026").status_code == 422
    # the right password does not help from the guessing address
    r = _login(client, "target", PASSWORD)
    assert r.status_code == 429
    assert "尝试次数过多" in r.get_data(as_text=True)
    assert client.get("/enterprise/").status_code == 302
    # the owner at another address is not locked out by it (soft lock, not a hard lockout)
    r = app.test_client().post("/login", data={"username": "target", "password": PASSWORD},
                               environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert r.status_code == 303
    # another account is not locked by it
    make_user(Role.ENTERPRISE, username="bystander")
    db.session.commit()
    assert _login(app.test_client(), "bystander", PASSWORD).status_code == 303


def test_login_rate_limit_window_passes(app, client):
    import datetime as dt

    import time_machine

    make_user(Role.ENTERPRISE, username="patient")
    db.session.commit()
    for _ in range(5):
        _login(client, "patient", "Wrong-pass-2026")
    assert _login(client, "patient", PASSWORD).status_code == 429
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=app.config["LOGIN_WINDOW_MINUTES"] + 1)
    with time_machine.travel(later, tick=False):
        assert _login(client, "patient", PASSWORD).status_code == 303
    # success clears the account's counter for that address
    assert db.session.execute(
        db.select(db.func.count(RateEvent.id)).where(RateEvent.key.like("login:user:patient:addr:%"))
    ).scalar_one() == 0


def test_login_rate_limited_per_address(app):
    app.config["LOGIN_LIMIT_PER_ADDRESS"] = 3
    make_user(Role.ENTERPRISE, username="victim")
    db.session.commit()
    attacker = app.test_client()
    for i in range(3):  # three different accounts from one address
        r = attacker.post("/login", data={"username": f"guess{i}", "password": "Wrong-pass-2026"},
                          environ_base={"REMOTE_ADDR": "203.0.113.66"})
        assert r.status_code == 422
    r = attacker.post("/login", data={"username": "victim", "password": PASSWORD},
                      environ_base={"REMOTE_ADDR": "203.0.113.66"})
    assert r.status_code == 429
    # the real user from another address still gets in
    r = app.test_client().post("/login", data={"username": "victim", "password": PASSWORD},
                               environ_base={"REMOTE_ADDR": "203.0.113.10"})
    assert r.status_code == 303


def test_password_hash_is_argon2id_above_owasp_floor(client):
    # parse the PHC string: $argon2id$v=19$m=...,t=...,p=...$salt$hash
    client.post("/signup", data=_signup_data(username="phc_user"))
    stored = db.session.execute(db.select(User.password_hash).where(User.username == "phc_user")).scalar_one()
    m = re.fullmatch(r"\$argon2id\$v=(\d+)\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+", stored)
    assert m, stored
    version, mem, t, p = (int(x) for x in m.groups())
    assert version == 19 and mem >= 19456 and t >= 2 and p >= 1
    assert GOOD_PASSWORD not in stored
    assert security.verify_password(stored, GOOD_PASSWORD)
    assert not security.verify_password(stored, GOOD_PASSWORD.upper())  # no case folding


def test_old_hash_is_upgraded_on_login(client):
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    user = make_user(Role.ENTERPRISE, username="legacy")
    user.password_hash = weak
    db.session.commit()
    assert _login(client, "legacy", PASSWORD).status_code == 303
    db.session.refresh(user)
    assert user.password_hash != weak and not security.needs_rehash(user.password_hash)


# --------------------------------------------------------------------------- password change


def test_password_change_needs_current_password(login_as):
    c, user = login_as(Role.ENTERPRISE)
    old_hash = user.password_hash
    r = c.post("/account/password", data={"current": "Not-my-pass-2026", "password": GOOD_PASSWORD,
                                          "confirm": GOOD_PASSWORD})
    assert r.status_code == 422
    assert "当前密码不正确" in r.get_data(as_text=True)
    db.session.refresh(user)
    assert user.password_hash == old_hash


def test_password_change_weak_new_password_refused(login_as):
    c, user = login_as(Role.ENTERPRISE)
    r = c.post("/account/password", data={"current": PASSWORD, "password": "password1", "confirm": "password1"})
    assert r.status_code == 422
    assert "密码至少 10 个字符" in r.get_data(as_text=True)


def test_password_change_revokes_other_sessions(app, client):
    user = make_user(Role.SUPPLIER, username="changer")
    db.session.commit()
    other_device = app.test_client()
    assert _login(client, "changer", PASSWORD).status_code == 303
    assert _login(other_device, "changer", PASSWORD).status_code == 303
    assert other_device.get("/supplier/").status_code == 200
    r = client.post("/account/password", data={"current": PASSWORD, "password": GOOD_PASSWORD,
                                               "confirm": GOOD_PASSWORD})
    assert r.status_code == 303
    # this device stays logged in, the other is signed out
    assert client.get("/supplier/").status_code == 200
    r = other_device.get("/supplier/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    # the new password works, the old one not
    db.session.expire_all()
    assert _login(app.test_client(), "changer", PASSWORD).status_code == 422
    assert _login(app.test_client(), "changer", GOOD_PASSWORD).status_code == 303
    assert db.session.execute(
        db.select(AuditEvent).where(AuditEvent.action == "password_change", AuditEvent.actor_id == user.id)
    ).scalar_one()


# --------------------------------------------------------------------------- redirects


@pytest.mark.parametrize(
    "target",
    ["//evil.tld", "https://evil.tld", "/\\evil.tld", "javascript:alert(1)", "%2F%2Fevil.tld", "\\\\evil",
     "http:evil.tld", "/\t/evil.tld", "///evil.tld", " //evil.tld"],
)
def test_login_next_open_redirect_lands_on_home(client, target):
    make_user(Role.ENTERPRISE, username="redirected")
    db.session.commit()
    r = client.post("/login", query_string={"next": target}, data={"username": "redirected", "password": PASSWORD})
    assert r.status_code == 303
    location = r.headers["Location"]
    assert location in ("/enterprise/", "http://localhost/enterprise/"), location
    assert "evil" not in location


def test_login_next_internal_path_is_kept(client):
    make_user(Role.ENTERPRISE, username="deep_link")
    db.session.commit()
    r = client.get("/notices?page=2")
    assert r.status_code == 302
    assert "next=" in r.headers["Location"]
    r = client.post("/login", query_string={"next": "/notices?page=2"},
                    data={"username": "deep_link", "password": PASSWORD})
    assert r.status_code == 303 and r.headers["Location"].endswith("/notices?page=2")


def test_logged_in_user_on_login_page_goes_home(login_as):
    c, _ = login_as(Role.CITY)
    r = c.get("/login")
    assert r.status_code == 302 and r.headers["Location"].endswith("/city/")


# --------------------------------------------------------------------------- language


def test_language_switch_to_english(client):
    assert '<html lang="zh-Hans">' in client.get("/").get_data(as_text=True)
    r = client.post("/lang", data={"lang": "en", "next": "/login"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/login")
    assert '<html lang="en">' in client.get("/login").get_data(as_text=True)
    client.post("/lang", data={"lang": "zh_Hans"})
    assert '<html lang="zh-Hans">' in client.get("/").get_data(as_text=True)


def test_language_switch_kept_on_the_account(login_as):
    c, user = login_as(Role.ENTERPRISE)
    r = c.post("/lang", data={"lang": "en", "next": "//evil.tld"})
    assert r.status_code == 303 and "evil" not in r.headers["Location"]
    db.session.refresh(user)
    assert user.locale == "en"
    assert '<html lang="en">' in c.get("/enterprise/").get_data(as_text=True)


def test_language_switch_ignores_unknown_locale(client):
    client.post("/lang", data={"lang": "xx"})
    assert '<html lang="zh-Hans">' in client.get("/").get_data(as_text=True)
