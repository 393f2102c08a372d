"""The second factor of logins (R21): enrolment, the code step, recovery codes, remembered devices, the
province's reset, and the optional second factor of enterprises and suppliers.

Each test walks the real routes (password step, then code step) and asserts where the user lands.
"""
from __future__ import annotations

import datetime as dt
import re

import pyotp
import time_machine

from models import AuditEvent, Notice, RateEvent, RecoveryCode, Role, TrustedDevice, User, db
from tests.factories import PASSWORD, TOTP_SECRET, enrol_totp, make_user, pass_second_factor, totp_code

T0 = dt.datetime(2026, 6, 1, 2, 0, 5, tzinfo=dt.timezone.utc)  # 5 s into a 30 s step


def _password(client, username, addr="198.51.100.9"):
    return client.post("/login", data={"username": username, "password": PASSWORD}, environ_base={"REMOTE_ADDR": addr})


def _events(action):
    return db.session.execute(db.select(AuditEvent).where(AuditEvent.action == action)).scalars().all()


def test_official_enrols_after_the_password_and_sees_recovery_codes_once(app, client):
    # R21 -- QR code drawn locally, secret confirmed by a code, 10 recovery codes shown once and stored hashed
    officer = make_user(Role.CITY, username="officer_new")
    db.session.commit()
    r = _password(client, "officer_new")
    assert r.headers["Location"] == "/login/enrol"
    assert client.get("/city/").headers["Location"].startswith("/login/enrol")
    page = client.get("/login/enrol").get_data(as_text=True)
    assert "<svg" in page and "启用两步验证" in page
    secret = re.search(r'data-secret="([A-Z2-7]+)"', page).group(1)
    assert secret in client.get("/login/enrol").get_data(as_text=True)  # a reload shows the same secret
    cookie = client.get_cookie("session").value  # signed, not encrypted: anyone holding it can read it
    held = app.session_interface.get_signing_serializer(app).loads(cookie)
    assert secret not in repr(held) and "totp_setup" in held
    wrong = client.post("/login/enrol", data={"code": "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"})
    assert wrong.status_code == 422 and "验证码不正确" in wrong.get_data(as_text=True)
    r = client.post("/login/enrol", data={"code": pyotp.TOTP(secret).now()})
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "离开本页后将无法再次查看" in body
    codes = re.findall(r"<li><code>([a-z0-9-]{19})</code></li>", body)
    assert len(codes) == 10 and len(set(codes)) == 10
    db.session.expire_all()
    officer = db.session.get(User, officer.id)
    assert officer.totp_secret == secret and officer.totp_enabled_at is not None
    stored = db.session.execute(db.select(RecoveryCode.code_hash).where(RecoveryCode.user_id == officer.id)).scalars().all()
    assert len(stored) == 10 and not set(codes) & set(stored) and all(len(h) == 64 for h in stored)
    assert _events("two_factor_enrol")[0].actor_id == officer.id
    assert client.get("/city/").status_code == 200
    # the codes are not shown again anywhere
    assert codes[0] not in client.get("/account/two-factor").get_data(as_text=True)


def test_a_code_works_once_and_only_in_its_own_step(app):
    # R21 -- accepted once (the last step is stored) and lives 30 s at most
    officer = enrol_totp(make_user(Role.PROVINCE, username="admin_2fa"))
    db.session.commit()
    with time_machine.travel(T0, tick=False) as traveller:
        laptop = app.test_client()
        assert _password(laptop, "admin_2fa").headers["Location"] == "/login/code"
        for stale in (totp_code(steps_ahead=-1), totp_code(steps_ahead=1)):
            assert laptop.post("/login/code", data={"code": stale}).status_code == 422
        code = totp_code()
        r = laptop.post("/login/code", data={"code": code})
        assert r.status_code == 303 and r.headers["Location"] == "/province/"
        assert laptop.get("/province/").status_code == 200
        phone = app.test_client()  # someone who saw the code uses it again within its 30 s
        _password(phone, "admin_2fa")
        again = phone.post("/login/code", data={"code": code})
        assert again.status_code == 422 and "已使用过" in again.get_data(as_text=True)
        assert phone.get("/province/").headers["Location"].startswith("/login/code")
        traveller.shift(dt.timedelta(seconds=30))
        assert phone.post("/login/code", data={"code": totp_code()}).status_code == 303
    db.session.expire_all()
    assert db.session.get(User, officer.id).totp_last_step == int(T0.timestamp()) // 30 + 1
    assert [e.data for e in _events("second_factor")] == [{"method": "totp"}, {"method": "totp"}]


def test_a_recovery_code_logs_in_once(app, client):
    # R21 -- recovery codes stand in for the phone, each once
    make_user(Role.EXPERT, username="expert_2fa")
    db.session.commit()
    _password(client, "expert_2fa")
    secret = re.search(r'data-secret="([A-Z2-7]+)"', client.get("/login/enrol").get_data(as_text=True)).group(1)
    codes = re.findall(r"<li><code>([a-z0-9-]{19})</code></li>",
                       client.post("/login/enrol", data={"code": pyotp.TOTP(secret).now()}).get_data(as_text=True))
    client.post("/logout")
    c = app.test_client()
    _password(c, "expert_2fa")
    r = c.post("/login/code", data={"code": codes[3].upper().replace("-", " ")}, follow_redirects=True)
    assert r.status_code == 200 and "还剩 9 个" in r.get_data(as_text=True)
    assert c.get("/expert/").status_code == 200
    c2 = app.test_client()
    _password(c2, "expert_2fa")
    assert c2.post("/login/code", data={"code": codes[3]}).status_code == 422
    assert [e.data for e in _events("second_factor")] == [{"method": "recovery"}]


def test_wrong_codes_are_limited_like_passwords(app, client):
    # R21, R24 -- five wrong codes, then even the right one is refused for the window
    enrol_totp(make_user(Role.CITY, username="guessed"))
    db.session.commit()
    _password(client, "guessed")
    limit = app.config["LOGIN_LIMIT_PER_ACCOUNT"]
    right = totp_code()
    wrong = "123456" if right != "123456" else "654321"
    for _ in range(limit):
        assert client.post("/login/code", data={"code": wrong}).status_code == 422
    r = client.post("/login/code", data={"code": right})
    assert r.status_code == 429 and "尝试次数过多" in r.get_data(as_text=True)
    assert client.get("/city/").headers["Location"].startswith("/login/code")


def test_a_remembered_device_skips_the_code_for_30_days_until_a_reset(app, login):
    # R21 -- "remember this device": 30 days, this user only, forgotten when the province resets the factor
    officer = enrol_totp(make_user(Role.CITY, username="remembered"))
    enrol_totp(make_user(Role.CITY, username="colleague"))
    admin = make_user(Role.PROVINCE)
    db.session.commit()
    with time_machine.travel(T0, tick=False) as traveller:
        c = app.test_client()
        _password(c, "remembered")
        r = c.post("/login/code", data={"code": totp_code(), "remember": "y"})
        assert r.status_code == 303 and "mfa_device=" in r.headers.get("Set-Cookie", "")
        c.post("/logout")
        traveller.shift(dt.timedelta(days=29))
        assert _password(c, "remembered").headers["Location"] == "/city/"
        c.post("/logout")
        assert _password(c, "colleague").headers["Location"] == "/login/code"  # the cookie is not theirs
        c.post("/logout")
        traveller.shift(dt.timedelta(days=2))
        assert _password(c, "remembered").headers["Location"] == "/login/code"  # 31 days: asked again
        c.post("/login/code", data={"code": totp_code(), "remember": "y"})
        c.post("/logout")
        assert _password(c, "remembered").headers["Location"] == "/city/"
        r = login(admin).post(f"/province/users/{officer.id}/two-factor/reset")
        assert r.status_code == 303
        c.post("/logout")
        assert _password(c, "remembered").headers["Location"] == "/login/enrol"
    assert db.session.execute(db.select(TrustedDevice).where(TrustedDevice.user_id == officer.id)).first() is None


def test_province_resets_a_second_factor_recorded_and_sessions_end(app, login):
    # R21 -- a lost phone: the province resets it; the audit trail says who; the officer enrols anew
    admin = make_user(Role.PROVINCE)
    officer = make_user(Role.CITY, username="lost_phone")
    db.session.commit()
    oc = app.test_client()
    _password(oc, "lost_phone")
    pass_second_factor(oc, officer)
    assert oc.get("/city/").status_code == 200
    ac = login(admin)
    listing = ac.get("/province/users").get_data(as_text=True)
    assert f"user-{officer.id}-reset-2fa" in listing and "已启用两步验证" in listing
    assert ac.post(f"/province/users/{admin.id}/two-factor/reset").status_code == 303  # not one's own
    r = ac.post(f"/province/users/{officer.id}/two-factor/reset")
    assert r.status_code == 303
    db.session.expire_all()
    officer = db.session.get(User, officer.id)
    assert officer.totp_secret is None
    assert db.session.execute(db.select(RecoveryCode).where(RecoveryCode.user_id == officer.id)).first() is None
    ev = _events("two_factor_reset")
    assert len(ev) == 1 and ev[0].actor_id == admin.id and ev[0].entity_id == officer.id and ev[0].body == "province"
    assert oc.get("/city/").headers["Location"].startswith("/login?")  # the officer's session ended
    c = app.test_client()
    assert _password(c, "lost_phone").headers["Location"] == "/login/enrol"
    assert f"user-{officer.id}-reset-2fa" not in ac.get("/province/users?q=lost_phone").get_data(as_text=True)
    city = login(make_user(Role.CITY))
    assert city.post(f"/province/users/{officer.id}/two-factor/reset").status_code == 403
    told = db.session.execute(db.select(Notice).where(Notice.user_id == officer.id)).scalars().all()
    assert [n.title for n in told] == ["您账号的两步验证已由省级管理员重置"]
    ent = enrol_totp(make_user(Role.ENTERPRISE, username="ent_own_factor"))
    db.session.commit()
    assert ac.post(f"/province/users/{ent.id}/two-factor/reset").status_code == 303
    db.session.expire_all()
    assert db.session.get(User, ent.id).totp_secret == TOTP_SECRET  # an organisation's own factor is its own
    assert len(_events("two_factor_reset")) == 1


def test_enterprise_may_turn_it_on_and_off(app, client):
    # R21 -- optional for enterprises and suppliers, from their account page
    ent = make_user(Role.ENTERPRISE, username="ent_2fa")
    db.session.commit()
    assert _password(client, "ent_2fa").headers["Location"] == "/enterprise/"
    assert "两步验证未启用" in client.get("/account/two-factor").get_data(as_text=True)
    page = client.get("/login/enrol").get_data(as_text=True)
    assert "工作人员账号必须" not in page
    secret = re.search(r'data-secret="([A-Z2-7]+)"', page).group(1)
    assert client.post("/login/enrol", data={"code": pyotp.TOTP(secret).now()}).status_code == 200
    client.post("/logout")
    assert _password(client, "ent_2fa").headers["Location"] == "/login/code"
    assert client.get("/enterprise/").headers["Location"].startswith("/login/code")
    pass_second_factor(client, db.session.get(User, ent.id))
    ent = db.session.get(User, ent.id)
    ent.totp_last_step = None
    db.session.commit()
    assert client.post("/account/two-factor/off", data={"code": "12345"}).status_code == 422
    assert client.post("/account/two-factor/off", data={"code": totp_code(secret)}).status_code == 303
    db.session.expire_all()
    assert db.session.get(User, ent.id).totp_secret is None and _events("two_factor_off")
    client.post("/logout")
    assert _password(client, "ent_2fa").headers["Location"] == "/enterprise/"


def test_officials_cannot_turn_it_off_and_renew_recovery_codes_with_a_code(app, client):
    # R21
    officer = enrol_totp(make_user(Role.OPERATOR, username="op_2fa"))
    db.session.commit()
    _password(client, "op_2fa")
    pass_second_factor(client, officer)
    assert "关闭两步验证" not in client.get("/account/two-factor").get_data(as_text=True)
    db.session.get(User, officer.id).totp_last_step = None
    db.session.commit()
    client.post("/account/two-factor/off", data={"code": totp_code()})
    db.session.expire_all()
    assert db.session.get(User, officer.id).totp_secret == TOTP_SECRET
    r = client.post("/account/two-factor/recovery-codes", data={"code": totp_code()})
    codes = re.findall(r"<li><code>([a-z0-9-]{19})</code></li>", r.get_data(as_text=True))
    assert r.status_code == 200 and len(codes) == 10 and _events("recovery_codes_renew")


def test_password_change_keeps_the_second_factor_of_the_session(app, client):
    # R21 -- the new session of a password change does not fall back to the code step
    officer = enrol_totp(make_user(Role.CITY, username="pw_2fa"))
    db.session.commit()
    _password(client, "pw_2fa")
    pass_second_factor(client, officer)
    r = client.post("/account/password", data={"current": PASSWORD, "password": "Green-river-2027",
                                               "confirm": "Green-river-2027"})
    assert r.status_code == 303 and client.get("/city/").status_code == 200


def test_half_open_session_shows_only_the_way_out(app, client):
    # R21 -- the code page of a half-open session shows no menu but logout, and logout works
    enrol_totp(make_user(Role.PROVINCE, username="half_open"))
    db.session.commit()
    _password(client, "half_open")
    page = client.get("/login/code").get_data(as_text=True)
    assert "退出登录" in page and "/province/users" not in page and "消息通知" not in page
    assert client.post("/logout").status_code == 303
    assert client.get("/login/code").headers["Location"].startswith("/login?")


def test_totp_required_can_be_turned_off_for_a_local_demo(app, client):
    # R21 -- TOTP_REQUIRED=0 (local demo only): an official without a second factor logs straight in
    app.config["TOTP_REQUIRED"] = False
    make_user(Role.CITY, username="demo_officer")
    db.session.commit()
    assert _password(client, "demo_officer").headers["Location"] == "/city/"


def test_account_page_codes_are_counted_before_the_check_and_say_how_long_to_wait(app, client):
    # R21, R24 -- confirming an account-page action spends tries like the login code step; an empty code
    # says so; a right code gives back the try it was counted as
    officer = enrol_totp(make_user(Role.OPERATOR, username="op_tries"))
    db.session.commit()
    _password(client, "op_tries")
    pass_second_factor(client, officer)
    keys = (f"2fa:user:{officer.id}", "2fa:addr:127.0.0.1")

    def counted():
        db.session.expire_all()
        return db.session.execute(db.select(db.func.count(RateEvent.id)).where(RateEvent.key.in_(keys))).scalar_one()

    base = counted()
    r = client.post("/account/two-factor/recovery-codes", data={"code": ""})
    assert r.status_code == 422 and "请输入验证码" in r.get_data(as_text=True) and counted() == base
    db.session.get(User, officer.id).totp_last_step = None
    db.session.commit()
    assert client.post("/account/two-factor/recovery-codes", data={"code": totp_code()}).status_code == 200
    assert counted() == base  # the right code's own rows were taken back
    limit = app.config["LOGIN_LIMIT_PER_ACCOUNT"]
    for _ in range(limit):
        assert client.post("/account/two-factor/recovery-codes", data={"code": "000000"}).status_code == 422
    r = client.post("/account/two-factor/recovery-codes", data={"code": "000000"})
    window = app.config["LOGIN_WINDOW_MINUTES"]
    assert r.status_code == 429 and f"尝试次数过多，请 {window} 分钟后再试" in r.get_data(as_text=True)
    assert counted() == base + 2 * limit  # the refused try was not counted


def test_a_password_change_forgets_remembered_devices_and_code_failures(app, client):
    # R21, R23 -- after a new password (a suspected theft) no remembered browser skips the code
    officer = enrol_totp(make_user(Role.CITY, username="changes_pw"))
    db.session.commit()
    _password(client, "changes_pw")
    officer.totp_last_step = None
    db.session.commit()
    r = client.post("/login/code", data={"code": totp_code(), "remember": "y"})
    assert r.status_code == 303 and "mfa_device=" in r.headers.get("Set-Cookie", "")
    other = app.test_client()
    _password(other, "changes_pw", addr="203.0.113.66")
    other.post("/login/code", data={"code": "000000" if totp_code() != "000000" else "111111"})
    assert db.session.execute(db.select(db.func.count(RateEvent.id))
                              .where(RateEvent.key == f"2fa:day:{officer.id}")).scalar_one() == 1
    r = client.post("/account/password", data={"current": PASSWORD, "password": "Another-harbour-2027",
                                               "confirm": "Another-harbour-2027"})
    assert r.status_code in (302, 303)
    db.session.expire_all()
    assert db.session.execute(db.select(TrustedDevice).where(TrustedDevice.user_id == officer.id)).first() is None
    assert db.session.execute(db.select(RateEvent.id).where(RateEvent.key.in_(
        [f"2fa:day:{officer.id}", f"2fa:user:{officer.id}"]))).first() is None
    client.post("/logout")
    r = client.post("/login", data={"username": "changes_pw", "password": "Another-harbour-2027"},
                    environ_base={"REMOTE_ADDR": "198.51.100.9"})
    assert r.headers["Location"] == "/login/code"  # the remembered device no longer skips the code


def test_guessing_codes_is_not_reset_by_the_owner_and_the_owner_is_told(app):
    # R21, R24 -- someone with the password guesses codes from one address; the owner's good login from
    # another address takes back only its own try, and the owner hears of the guessing once
    officer = enrol_totp(make_user(Role.CITY, username="guessed_at"))
    db.session.commit()
    limit = app.config["LOGIN_LIMIT_PER_ACCOUNT"]
    thief, owner = app.test_client(), app.test_client()
    _password(thief, "guessed_at", addr="203.0.113.7")
    wrong = "000000" if totp_code() != "000000" else "111111"
    for _ in range(limit - 1):
        assert thief.post("/login/code", data={"code": wrong}, environ_base={"REMOTE_ADDR": "203.0.113.7"}).status_code == 422
    _password(owner, "guessed_at")
    pass_second_factor(owner, db.session.get(User, officer.id))
    assert owner.get("/city/").status_code == 200
    assert thief.post("/login/code", data={"code": wrong}, environ_base={"REMOTE_ADDR": "203.0.113.7"}).status_code == 422
    r = thief.post("/login/code", data={"code": wrong}, environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert r.status_code == 429  # the owner's success did not hand the thief fresh tries
    titles = db.session.execute(db.select(Notice.title).where(Notice.user_id == officer.id)).scalars().all()
    assert titles == ["有人用正确的密码登录您的账号，但多次输错了两步验证码"]


def test_wrong_codes_have_a_daily_cap_per_account(app):
    # R24 -- besides the window limits, an account takes at most TOTP_FAILURES_PER_DAY wrong codes a day
    app.config.update(TOTP_FAILURES_PER_DAY=3, LOGIN_LIMIT_PER_ACCOUNT=50, LOGIN_LIMIT_PER_ADDRESS=50)
    enrol_totp(make_user(Role.CITY, username="daily_cap"))
    db.session.commit()
    c = app.test_client()
    _password(c, "daily_cap")
    wrong = "000000" if totp_code() != "000000" else "111111"
    assert [c.post("/login/code", data={"code": wrong}).status_code for _ in range(4)] == [422, 422, 422, 429]


def test_a_province_reset_lifts_the_daily_cap_so_the_official_can_enrol_again(app, login):
    # R21, R24 -- someone with the password spent the day's wrong codes; the owner cannot log in; the
    # province resets the second factor, and enrolling anew is not refused by the old count
    app.config.update(TOTP_FAILURES_PER_DAY=3, LOGIN_LIMIT_PER_ACCOUNT=50, LOGIN_LIMIT_PER_ADDRESS=50)
    officer = enrol_totp(make_user(Role.CITY, username="capped_out"))
    admin = make_user(Role.PROVINCE)
    db.session.commit()
    thief = app.test_client()
    _password(thief, "capped_out", addr="203.0.113.8")
    wrong = "000000" if totp_code() != "000000" else "111111"
    for _ in range(3):
        thief.post("/login/code", data={"code": wrong}, environ_base={"REMOTE_ADDR": "203.0.113.8"})
    owner = app.test_client()
    _password(owner, "capped_out")
    officer.totp_last_step = None
    db.session.commit()
    assert owner.post("/login/code", data={"code": totp_code()}).status_code == 429
    told = db.session.execute(db.select(Notice.body).where(Notice.user_id == officer.id)).scalars().all()
    assert any("联系省级管理员" in b for b in told)
    assert login(admin).post(f"/province/users/{officer.id}/two-factor/reset").status_code == 303
    again = app.test_client()
    _password(again, "capped_out")
    secret = re.search(r'data-secret="([A-Z2-7]+)"', again.get("/login/enrol").get_data(as_text=True)).group(1)
    assert again.post("/login/enrol", data={"code": pyotp.TOTP(secret).now()}).status_code == 200


def test_an_enrolment_confirmed_twice_keeps_the_first_and_its_codes(app, client):
    # R21 -- a double submit (or a second tab) of the enrolment: the second finds the account enrolled (it
    # reads the row afresh under a lock) and changes nothing, so the codes the user saw stay the only ones
    from blueprints.core import two_factor as tf

    officer = make_user(Role.CITY, username="double_enrol")
    db.session.commit()
    _password(client, "double_enrol")
    secret = re.search(r'data-secret="([A-Z2-7]+)"', client.get("/login/enrol").get_data(as_text=True)).group(1)
    stale = db.session.get(User, officer.id)
    assert stale.totp_secret is None  # what the second request loaded before the first one committed
    first = client.post("/login/enrol", data={"code": pyotp.TOTP(secret).now()})
    shown = re.findall(r"<li><code>([a-z0-9-]{19})</code></li>", first.get_data(as_text=True))
    stored = db.session.execute(db.select(RecoveryCode.code_hash).where(RecoveryCode.user_id == officer.id)).scalars().all()
    assert first.status_code == 200 and len(shown) == len(stored) == 10
    with app.test_request_context():
        assert tf.enrol(stale, "B" * 32, tf.current_step()) is None
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(User, officer.id).totp_secret == secret
    after = db.session.execute(db.select(RecoveryCode.code_hash).where(RecoveryCode.user_id == officer.id)).scalars().all()
    assert sorted(after) == sorted(stored)


def test_the_code_step_shows_no_unread_count_until_the_code_is_given(app, client):
    # R21 -- a half-open session learns nothing of the account beyond the way out
    from blueprints.core.notices import notify_users

    officer = make_user(Role.CITY, username="officer_badge")
    enrol_totp(officer)
    notify_users([officer.id], "有新的申领待审核")
    db.session.commit()
    assert _password(client, "officer_badge").headers["Location"].startswith("/login/code")
    page = client.get("/login/code").get_data(as_text=True)
    assert 'id="unread-count"' not in page and "有新的申领待审核" not in page
    pass_second_factor(client, officer)
    assert 'id="unread-count"' in client.get("/city/").get_data(as_text=True)
