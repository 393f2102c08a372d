"""Colleagues: a manager invites, colleagues act under their own names, a manager disables them; only
signatories make the organisation's declarations and commitments (submit, confirm)."""
from __future__ import annotations

import datetime as dt
import re

import time_machine

from blueprints.core import timeutil
from models import AppStatus, AuditEvent, RegStatus, Role, TeamInvite, User, db
from tests.factories import PASSWORD, make_application, make_enterprise, make_supplier, make_user, make_world
from tests.test_application_flow import form_data, with_file
from tests.test_mail import smtp  # noqa: F401  (the real SMTP server fixture)

NEW_PASSWORD = "Colleague-pass-2026"


def _invite(c, **over):
    data = {"username": "li.si", "display_name": "李四", "phone": "13800000001", "email": "", "signatory": ""}
    data.update(over)
    return c.post("/team/invite", data={k: v for k, v in data.items() if v != ""})


def _link_token(html: str) -> str:
    m = re.search(r'<pre id="invite-link">[^<]*/invite/([A-Za-z0-9_-]+)</pre>', html)
    assert m, html[-2000:]
    return m.group(1)


def _join(app, token: str, password: str = NEW_PASSWORD):
    c = app.test_client()
    return c, c.post(f"/invite/{token}", data={"password": password, "confirm": password})


def _login_form(app, username: str, password: str):
    c = app.test_client()
    r = c.post("/login", data={"username": username, "password": password})
    return c, r


def test_a_manager_invites_a_colleague_who_sets_a_password_and_logs_in(app, login):
    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id, display_name="张三")
    db.session.commit()
    c = login(boss)
    r = _invite(c, email="lisi@example.com")
    assert r.status_code == 200
    token = _link_token(r.get_data(as_text=True))
    member = db.session.execute(db.select(User).where(User.username == "li.si")).scalar_one()
    # The account exists from the invitation on, inactive, of the same organisation, and may not sign.
    assert (member.is_active, member.enterprise_id, member.role) == (False, ent.id, Role.ENTERPRISE)
    assert (member.is_org_admin, member.is_signatory) == (False, False)
    inv = db.session.execute(db.select(TeamInvite)).scalar_one()
    assert token not in inv.token_hash and len(inv.token_hash) == 64 and inv.email == "lisi@example.com"
    # Before accepting, the colleague cannot log in.
    _, r = _login_form(app, "li.si", "anything-at-all")
    assert r.status_code == 422
    # The link names the inviter and the username; a weak password is refused and nothing changes.
    anon = app.test_client()
    page = anon.get(f"/invite/{token}").get_data(as_text=True)
    assert "张三" in page and "li.si" in page
    r = anon.post(f"/invite/{token}", data={"password": "12345678", "confirm": "12345678"})
    assert r.status_code == 422
    db.session.refresh(member)
    assert member.is_active is False
    _, r = _join(app, token)
    assert r.status_code == 303 and r.headers["Location"].endswith("/login")
    db.session.refresh(member)
    assert member.is_active is True
    # The link works once.
    assert app.test_client().get(f"/invite/{token}").status_code == 404
    mc, r = _login_form(app, "li.si", NEW_PASSWORD)
    assert r.status_code == 303
    assert mc.get("/enterprise/").status_code == 200
    acts = db.session.execute(db.select(AuditEvent.action, AuditEvent.actor_name)
                              .where(AuditEvent.entity_type == "user", AuditEvent.entity_id == member.id)
                              .order_by(AuditEvent.id)).all()
    assert [tuple(a) for a in acts[:2]] == [("team_invite", "张三"), ("team_join", "李四")]


def test_an_invitation_expires_after_seven_days(app, login):
    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    db.session.commit()
    token = _link_token(_invite(login(boss)).get_data(as_text=True))
    with time_machine.travel(timeutil.now() + dt.timedelta(days=7, minutes=1)):
        r = app.test_client().get(f"/invite/{token}")
        assert r.status_code == 404 and "已过期" in r.get_data(as_text=True)
        _, r = _join(app, token)
        assert r.status_code == 404
    member = db.session.execute(db.select(User).where(User.username == "li.si")).scalar_one()
    assert member.is_active is False


def test_a_taken_username_is_refused_beside_the_field_and_nothing_is_created(app, login):
    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    make_user(Role.SUPPLIER, username="li.si", supplier_id=make_supplier().id)
    db.session.commit()
    r = _invite(login(boss))
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "该用户名已被使用" in html and 'value="李四"' in html  # what was typed is kept
    assert db.session.execute(db.select(db.func.count(TeamInvite.id))).scalar_one() == 0


def test_only_a_manager_manages_members(app, login):
    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    clerk = make_user(Role.ENTERPRISE, enterprise_id=ent.id, is_org_admin=False, is_signatory=False)
    db.session.commit()
    c = login(clerk)
    page = c.get("/team").get_data(as_text=True)
    assert "邀请同事" not in page and boss.username in page  # a member sees who is who, without the forms
    r = _invite(c)
    assert r.status_code == 422 and "只有本单位的管理账号可以管理成员" in r.get_data(as_text=True)
    assert c.post(f"/team/{boss.id}/active", data={"active": "0"}).status_code == 409
    db.session.refresh(boss)
    assert boss.is_active is True
    assert db.session.execute(db.select(db.func.count(User.id)).where(User.username == "li.si")).scalar_one() == 0


def test_a_disabled_colleague_is_signed_out_at_once_and_cannot_log_in(app, login):
    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    clerk = make_user(Role.ENTERPRISE, enterprise_id=ent.id, is_org_admin=False, is_signatory=False)
    db.session.commit()
    cc = login(clerk)
    assert cc.get("/enterprise/").status_code == 200
    r = login(boss).post(f"/team/{clerk.id}/active", data={"active": "0"})
    assert r.status_code == 303
    db.session.refresh(clerk)
    assert clerk.is_active is False
    assert cc.get("/enterprise/").status_code in (302, 303)  # the open session ended
    _, r = _login_form(app, clerk.username, PASSWORD)
    assert r.status_code == 422
    # Re-enabled, the colleague logs in again; the timeline of the account says who did both.
    assert login(boss).post(f"/team/{clerk.id}/active", data={"active": "1"}).status_code == 303
    _, r = _login_form(app, clerk.username, PASSWORD)
    assert r.status_code == 303
    acts = db.session.execute(db.select(AuditEvent.action).where(
        AuditEvent.entity_type == "user", AuditEvent.entity_id == clerk.id,
        AuditEvent.actor_id == boss.id).order_by(AuditEvent.id)).scalars().all()
    assert acts == ["team_disable", "team_enable"]


def test_the_last_manager_and_the_last_signatory_stay(app, login):
    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    clerk = make_user(Role.ENTERPRISE, enterprise_id=ent.id, is_org_admin=False, is_signatory=False)
    db.session.commit()
    c = login(boss)
    r = c.post(f"/team/{boss.id}/active", data={"active": "0"})
    assert r.status_code == 409 and "不能停用自己的账号" in r.get_data(as_text=True)
    # boss is the only signatory: making the clerk signatory, then removing boss's signing, works;
    # removing the clerk's (now the last) does not.
    assert c.post(f"/team/{clerk.id}/roles", data={"signatory": "1"}).status_code == 303
    boss_c = c
    # boss cannot change its own flags away from managing, but the clerk's roles can be set
    r = boss_c.post(f"/team/{clerk.id}/roles", data={})
    assert r.status_code == 303  # boss is still a signatory: the clerk may lose it
    r = boss_c.post(f"/team/{clerk.id}/roles", data={"signatory": "1", "org_admin": "1"})
    assert r.status_code == 303
    cc = login(clerk)
    assert cc.post(f"/team/{boss.id}/roles", data={"org_admin": "1"}).status_code == 303  # boss no longer signs
    r = boss_c.post(f"/team/{clerk.id}/roles", data={"org_admin": "1"})
    assert r.status_code == 409 and "至少要保留一名签字人" in r.get_data(as_text=True)
    db.session.refresh(clerk)
    assert clerk.is_signatory is True


def test_members_of_another_organisation_are_not_found(app, login):
    a, b = make_enterprise(), make_enterprise()
    boss_a = make_user(Role.ENTERPRISE, enterprise_id=a.id)
    user_b = make_user(Role.ENTERPRISE, enterprise_id=b.id)
    sup = make_supplier()
    sup_user = make_user(Role.SUPPLIER, supplier_id=sup.id)
    db.session.commit()
    c = login(boss_a)
    assert c.post(f"/team/{user_b.id}/active", data={"active": "0"}).status_code == 404
    assert c.post(f"/team/{sup_user.id}/roles", data={}).status_code == 404
    page = c.get("/team").get_data(as_text=True)
    assert user_b.username not in page and sup_user.username not in page
    db.session.refresh(user_b)
    assert user_b.is_active is True


def test_a_colleague_prepares_and_only_the_signatory_submits(app, login):
    # rule: ELIG-6, REL-1 (the declaration and commitment are made by a signatory)
    w = make_world()
    clerk = make_user(Role.ENTERPRISE, enterprise_id=w.enterprise.id, display_name="王五",
                      is_org_admin=False, is_signatory=False)
    db.session.commit()
    from blueprints.core import application as flow

    a = flow.start(w.enterprise, clerk)  # the clerk opens the draft
    db.session.commit()
    cc = login(clerk)
    r = cc.post(f"/enterprise/applications/{a.id}/edit", data=with_file(form_data(w, do="submit")),
                content_type="multipart/form-data")
    assert r.status_code == 422
    assert "法定代表人或授权签字人" in r.get_data(as_text=True)
    db.session.refresh(a)
    assert a.status == AppStatus.DRAFT and a.contract_no == "HT-2026-001"  # the clerk's draft is kept
    r = login(w.ent_user).post(f"/enterprise/applications/{a.id}/edit",
                               data=form_data(w, do="submit", nonce="n-2"))
    assert r.status_code == 303, r.get_data(as_text=True)[-800:]
    db.session.refresh(a)
    assert a.status == AppStatus.SUPPLIER_REVIEW
    # Each step names the person who did it, on the enterprise's own timeline.
    html = login(w.ent_user).get(f"/enterprise/applications/{a.id}").get_data(as_text=True)
    assert "王五" in html and w.ent_user.display_name in html


def test_only_a_supplier_signatory_confirms(app, login):
    # rule: APP-3, REL-1
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="supplier_review", item=w.item)
    clerk = make_user(Role.SUPPLIER, supplier_id=w.supplier.id, is_org_admin=False, is_signatory=False)
    db.session.commit()
    r = login(clerk).post(f"/supplier/applications/{a.id}/confirm")
    assert r.status_code == 409 and "法定代表人或授权签字人" in r.get_data(as_text=True)
    db.session.refresh(a)
    assert a.status == AppStatus.SUPPLIER_REVIEW
    assert login(w.sup_user).post(f"/supplier/applications/{a.id}/confirm").status_code == 303
    db.session.refresh(a)
    assert a.status == AppStatus.CITY_REVIEW


def test_a_registration_is_submitted_by_a_signatory_only(app):
    # rule: REG-1 (the declarations on the registration are the signatory's)
    from blueprints.core import registration, workflow

    ent = make_enterprise(status=RegStatus.DRAFT)
    clerk = make_user(Role.ENTERPRISE, enterprise_id=ent.id, is_org_admin=False, is_signatory=False)
    db.session.commit()
    try:
        workflow.find(ent, "submit", clerk)
    except workflow.NotAllowed as e:
        assert "签字人" in str(e)
    else:
        raise AssertionError("a non-signatory found the submit transition")
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    assert workflow.find(ent, "submit", boss).action == "submit"
    assert registration  # imported for the table


def test_the_members_page_costs_the_same_queries_for_many_members(app, login, count_queries):
    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    db.session.commit()
    c = login(boss)
    _invite(c)
    with count_queries() as few:
        assert c.get("/team").status_code == 200
    for i in range(8):
        _invite(c, username=f"member{i}", phone=f"1380000001{i}")
    with count_queries() as many:
        assert c.get("/team").status_code == 200
    assert many.count == few.count


def test_the_invitation_link_goes_to_the_colleagues_email_after_the_commit(app, login, smtp):
    from tests.test_mail import body_of

    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id, display_name="张三")
    db.session.commit()
    r = _invite(login(boss), email="lisi@factory.example")
    token = _link_token(r.get_data(as_text=True))
    rcpt, msg = smtp.inbox.only()
    assert rcpt == ["lisi@factory.example"]
    body = body_of(msg)
    assert f"https://fwq.example.gov.cn/invite/{token}" in body and "张三" in body and "li.si" in body
    member = db.session.execute(db.select(User).where(User.username == "li.si")).scalar_one()
    assert member.email == "lisi@factory.example"
    # A renewed link is mailed too, and the old one stops working.
    r = login(boss).post(f"/team/{member.id}/renew")
    new_token = _link_token(r.get_data(as_text=True))
    assert new_token != token and len(smtp.inbox.messages) == 2
    assert app.test_client().get(f"/invite/{token}").status_code == 404
    assert app.test_client().get(f"/invite/{new_token}").status_code == 200
