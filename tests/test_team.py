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
    # A success answers with the members page showing the link once (see test_the_invitation_link_...).
    return c.post("/team/invite", data={k: v for k, v in data.items() if v != ""}, follow_redirects=True)


def _link_token(html: str) -> str:
    m = re.search(r'<input type="text" id="invite-link" value="[^"]*/invite/([A-Za-z0-9_-]+)"', html)
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


def test_after_an_invitation_the_form_below_the_link_is_blank(app, login):
    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    db.session.commit()
    r = _invite(login(boss))
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    _link_token(html)  # the one-time link is shown
    form = html[html.index('id="team-invite"'):]
    # the colleague just invited is not typed in again for a second invitation
    assert 'value="li.si"' not in form and 'value="李四"' not in form and 'value="13800000001"' not in form


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
    r = login(boss).post(f"/team/{member.id}/renew", follow_redirects=True)
    new_token = _link_token(r.get_data(as_text=True))
    assert new_token != token and len(smtp.inbox.messages) == 2
    assert app.test_client().get(f"/invite/{token}").status_code == 404
    assert app.test_client().get(f"/invite/{new_token}").status_code == 200


# ---------------------------------------------------------------------- issue #13: the security review


def _elsewhere(stmt) -> None:
    """A change another request commits while this one runs (between its reads and its lock).
    PostgreSQL: really from another connection. SQLite: the running transaction holds the write lock
    from its BEGIN IMMEDIATE, so the change goes in through it, unseen by the objects already loaded."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(stmt)
    else:
        db.session.execute(stmt, execution_options={"synchronize_session": False})


def test_two_managers_removing_each_others_rights_at_once_leave_one(app, login, monkeypatch):
    # B's request has loaded B (acting) and A (the member) when A's request, committed first, takes
    # B's manager rights away: B's change, read again after the lock, is refused; A stays a manager.
    from blueprints.core import team

    ent = make_enterprise()
    a = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    b = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    db.session.commit()
    a_id, b_id = a.id, b.id
    loaded = team.member_or_none

    def load_then_a_demotes_b(user, member_id):
        member = loaded(user, member_id)
        member.is_org_admin  # noqa: B018  (loaded before the lock, as in a real request)
        user.is_org_admin  # noqa: B018
        _elsewhere(db.update(User).where(User.id == b_id).values(is_org_admin=False))
        return member

    monkeypatch.setattr(team, "member_or_none", load_then_a_demotes_b)
    r = login(b).post(f"/team/{a_id}/roles", data={"signatory": "1"})
    assert r.status_code == 409 and "只有本单位的管理账号可以管理成员" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, a_id).is_org_admin is True
    managers = db.session.execute(db.select(db.func.count(User.id)).where(
        User.enterprise_id == ent.id, User.is_org_admin.is_(True), User.is_active.is_(True))).scalar_one()
    assert managers >= 1


def test_a_manager_disabled_meanwhile_cannot_change_members(app, login, monkeypatch):
    # The acting manager is read again after the lock: disabled in the meantime, it changes nothing.
    from blueprints.core import team

    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    clerk = make_user(Role.ENTERPRISE, enterprise_id=ent.id, is_org_admin=False, is_signatory=False)
    db.session.commit()
    boss_id, clerk_id = boss.id, clerk.id
    loaded = team.member_or_none

    def load_then_disable_boss(user, member_id):
        member = loaded(user, member_id)
        user.is_active  # noqa: B018
        _elsewhere(db.update(User).where(User.id == boss_id).values(is_active=False))
        return member

    c = login(boss)
    monkeypatch.setattr(team, "member_or_none", load_then_disable_boss)
    r = c.post(f"/team/{clerk_id}/roles", data={"signatory": "1", "org_admin": "1"})
    assert r.status_code == 409
    db.session.expire_all()
    assert db.session.get(User, clerk_id).is_org_admin is False


def test_the_last_active_signatory_cannot_be_disabled(app, login):
    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id, is_signatory=False)
    signer = make_user(Role.ENTERPRISE, enterprise_id=ent.id, is_org_admin=False, display_name="王签字")
    db.session.commit()
    c = login(boss)
    r = c.post(f"/team/{signer.id}/active", data={"active": "0"})
    assert r.status_code == 409 and "本单位至少要保留一名签字人" in r.get_data(as_text=True)
    db.session.refresh(signer)
    assert signer.is_active is True
    # With a second signatory, the first may be disabled.
    other = make_user(Role.ENTERPRISE, enterprise_id=ent.id, is_org_admin=False)
    db.session.commit()
    assert c.post(f"/team/{signer.id}/active", data={"active": "0"}).status_code == 303
    db.session.refresh(signer)
    assert signer.is_active is False and other.is_active is True


def _outbox_bodies() -> list[str]:
    from tests.test_mail import outbox

    return [m.body for m in outbox() if m.kind == "invite"]


def test_a_manager_revokes_an_invitation_and_its_link_stops_working(app, login, smtp):
    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id, display_name="张三")
    clerk = make_user(Role.ENTERPRISE, enterprise_id=ent.id, is_org_admin=False)
    db.session.commit()
    c = login(boss)
    token = _link_token(_invite(c, email="lisi@factory.example").get_data(as_text=True))
    member = db.session.execute(db.select(User).where(User.username == "li.si")).scalar_one()
    page = c.get("/team").get_data(as_text=True)
    assert f'id="member-{member.id}-revoke"' in page and "撤销邀请" in page
    # Only a manager revokes.
    assert login(clerk).post(f"/team/{member.id}/revoke").status_code == 409
    assert app.test_client().get(f"/invite/{token}").status_code == 200
    r = c.post(f"/team/{member.id}/revoke")
    assert r.status_code == 303
    assert app.test_client().get(f"/invite/{token}").status_code == 404
    _, r = _join(app, token)
    assert r.status_code == 404 and "已使用或已过期" in r.get_data(as_text=True)
    db.session.expire_all()
    member = db.session.get(User, member.id)
    assert (member.is_active, member.password_hash) == (False, "!")
    page = c.get("/team").get_data(as_text=True)
    row = page[page.index(f'id="member-{member.id}"'):]
    row = row[:row.index("</tr>")]
    assert "邀请已撤销" in row and "撤销邀请" not in row and "重新生成邀请链接" not in row
    # Revoked is final: no new link, no enabling, no second revocation.
    r = c.post(f"/team/{member.id}/renew")
    assert r.status_code == 409 and "该邀请已撤销" in r.get_data(as_text=True)
    r = c.post(f"/team/{member.id}/active", data={"active": "1"})
    assert r.status_code == 409 and "该邀请已撤销" in r.get_data(as_text=True)
    assert c.post(f"/team/{member.id}/revoke").status_code == 409
    db.session.expire_all()
    assert db.session.get(User, member.id).is_active is False
    acts = db.session.execute(db.select(AuditEvent.action, AuditEvent.actor_name).where(
        AuditEvent.entity_type == "user", AuditEvent.entity_id == member.id).order_by(AuditEvent.id)).all()
    assert [tuple(a) for a in acts] == [("team_invite", "张三"), ("team_invite_revoke", "张三")]
    # The queued mail no longer holds the link.
    bodies = _outbox_bodies()
    assert len(bodies) == 1 and token not in bodies[0] and "（该邀请链接已失效）" in bodies[0]


def test_an_accepted_invitation_cannot_be_revoked(app, login):
    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    db.session.commit()
    c = login(boss)
    token = _link_token(_invite(c).get_data(as_text=True))
    assert _join(app, token)[1].status_code == 303
    member = db.session.execute(db.select(User).where(User.username == "li.si")).scalar_one()
    r = c.post(f"/team/{member.id}/revoke")
    assert r.status_code == 409 and "已接受邀请" in r.get_data(as_text=True)
    db.session.refresh(member)
    assert member.is_active is True


def test_of_two_acceptances_at_the_same_moment_one_wins(app, monkeypatch):
    # The loser opened the link while it was open; the winner's acceptance commits before the
    # loser's: the loser is told the link was used and its password is not set.
    from blueprints.core import team, timeutil as tu

    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    db.session.commit()
    token = team.invite(boss, username="li.si", display_name="李四", phone="13800000001")
    db.session.commit()
    opened = team.open_invite

    def open_then_accepted_elsewhere(t):
        inv = opened(t)
        if inv is not None:
            inv.user.username  # noqa: B018
            _elsewhere(db.update(TeamInvite).where(TeamInvite.id == inv.id).values(accepted_at=tu.now()))
        return inv

    monkeypatch.setattr(team, "open_invite", open_then_accepted_elsewhere)
    _, r = _join(app, token)
    assert r.status_code == 404 and "已使用" in r.get_data(as_text=True)
    db.session.expire_all()
    member = db.session.execute(db.select(User).where(User.username == "li.si")).scalar_one()
    assert member.password_hash == "!"  # the loser's password was not written over the winner's
    assert db.session.execute(db.select(db.func.count(AuditEvent.id)).where(
        AuditEvent.action == "team_join")).scalar_one() == 0


def test_the_invitation_mails_lose_their_link_once_renewed_sent_and_accepted(app, login, smtp, monkeypatch):
    from blueprints.core import mail
    from tests.test_mail import body_of

    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    db.session.commit()
    c = login(boss)
    monkeypatch.setattr(mail, "kick", lambda: None)  # the mails wait in the outbox until send_pending below
    old = _link_token(_invite(c, email="lisi@factory.example").get_data(as_text=True))
    assert any(old in b for b in _outbox_bodies())  # the mail carries the link until it is sent
    member = db.session.execute(db.select(User).where(User.username == "li.si")).scalar_one()
    new = _link_token(c.post(f"/team/{member.id}/renew", follow_redirects=True).get_data(as_text=True))
    bodies = _outbox_bodies()
    assert len(bodies) == 2 and old not in bodies[0] and "（该邀请链接已失效）" in bodies[0] and new in bodies[1]
    # What was sent carried the real link; once sent, the stored copy no longer does (mail.py).
    assert mail.send_pending().sent == 2
    assert len(smtp.inbox.messages) == 2 and new in body_of(smtp.inbox.messages[-1][1])
    assert old not in body_of(smtp.inbox.messages[0][1])  # the renewed-away link never left
    bodies = _outbox_bodies()
    assert all(new not in b and "（该邀请链接已失效）" in b for b in bodies)
    assert _join(app, new)[1].status_code == 303
    bodies = _outbox_bodies()
    assert all(old not in b and new not in b and "/invite/" not in b for b in bodies)


def test_the_invitation_e_mail_is_checked_like_the_account_page(app, login):
    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    db.session.commit()
    c = login(boss)
    for bad in ("李四@example.com", "li.si@example..com", "li,si@example.com"):
        r = _invite(c, email=bad)
        assert r.status_code == 422 and "请输入有效的电子邮箱地址，例如 name@example.com" in r.get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count(TeamInvite.id))).scalar_one() == 0
    assert _invite(c, email=" li.si@example.com ").status_code == 200
    assert db.session.execute(db.select(TeamInvite.email)).scalar_one() == "li.si@example.com"


def test_only_a_signatory_gives_a_voucher_up(app, login):
    # Giving up is irreversible and may count against the enterprise (DL-2): a signatory's act.
    from tests.factories import make_voucher
    from models import Voucher, VoucherStatus

    v = make_voucher()
    clerk = make_user(Role.ENTERPRISE, enterprise_id=v.enterprise_id, is_org_admin=False, is_signatory=False)
    signer = make_user(Role.ENTERPRISE, enterprise_id=v.enterprise_id, is_org_admin=False)
    db.session.commit()
    cc = login(clerk)
    page = cc.get(f"/enterprise/vouchers/{v.id}/release").get_data(as_text=True)
    assert "放弃服务券须由本单位的法定代表人或授权签字人完成" in page and 'id="release-submit"' not in page
    r = cc.post(f"/enterprise/vouchers/{v.id}/release", data={"confirm": "yes"})
    assert r.status_code == 422 and "放弃服务券须由本单位的法定代表人或授权签字人完成" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Voucher, v.id).status == VoucherStatus.ISSUED
    assert login(signer).post(f"/enterprise/vouchers/{v.id}/release", data={"confirm": "yes"}).status_code == 303
    db.session.expire_all()
    assert db.session.get(Voucher, v.id).status == VoucherStatus.RELEASED


def _session_of(app, c) -> dict:
    cookie = c.get_cookie("session")  # signed, not encrypted: anyone holding it can read it
    return app.session_interface.get_signing_serializer(app).loads(cookie.value) if cookie else {}


def _assert_shown_once_and_not_kept(app, c, r, token: str) -> None:
    """The answer to the POST itself shows the link, not cached, naming /team as its address (a reload is
    a GET of /team); the session cookie never holds the token; the members page does not show it again."""
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    html = r.get_data(as_text=True)
    assert html.count(token) == 1 and 'data-replace-url="/team"' in html
    assert token not in repr(_session_of(app, c)) and "/invite/" not in repr(_session_of(app, c))
    again = c.get("/team").get_data(as_text=True)
    assert 'id="invite-link"' not in again and token not in again
    assert token not in repr(_session_of(app, c))


def test_the_invitation_link_is_shown_once_and_never_kept_in_the_session_cookie(app, login):
    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    db.session.commit()
    c = login(boss)
    r = c.post("/team/invite", data={"username": "li.si", "display_name": "李四", "phone": "13800000001"})
    token = _link_token(r.get_data(as_text=True))
    _assert_shown_once_and_not_kept(app, c, r, token)
    # The reload (a GET of /team) made no second invitation; the link works.
    assert db.session.execute(db.select(db.func.count(TeamInvite.id))).scalar_one() == 1
    assert app.test_client().get(f"/invite/{token}").status_code == 200


def test_a_renewed_link_is_shown_once_and_a_reload_makes_no_other(app, login):
    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    db.session.commit()
    c = login(boss)
    old = _link_token(_invite(c).get_data(as_text=True))
    member = db.session.execute(db.select(User).where(User.username == "li.si")).scalar_one()
    hash_before = db.session.execute(db.select(TeamInvite.token_hash)).scalar_one()
    r = c.post(f"/team/{member.id}/renew")
    page = r.get_data(as_text=True)
    new = _link_token(page)
    assert new != old and "原链接已失效" in page and 'id="invite-link-copy"' in page and "复制链接" in page
    _assert_shown_once_and_not_kept(app, c, r, new)
    db.session.expire_all()
    assert db.session.execute(db.select(TeamInvite.token_hash)).scalar_one() != hash_before
    # The reload made no other link: the new one still works, the old one not.
    assert app.test_client().get(f"/invite/{new}").status_code == 200
    assert app.test_client().get(f"/invite/{old}").status_code == 404
    renewals = db.session.execute(db.select(db.func.count(AuditEvent.id)).where(
        AuditEvent.action == "team_invite_renew")).scalar_one()
    assert renewals == 1
    # htmx: the same page, its address replaced by /team.
    r = c.post(f"/team/{member.id}/renew", headers={"HX-Request": "true"})
    assert r.status_code == 200 and r.headers["HX-Replace-Url"] == "/team"
    newer = _link_token(r.get_data(as_text=True))
    assert newer not in (old, new) and newer not in repr(_session_of(app, c))


def test_a_revoked_username_can_be_invited_again(app, login):
    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id, display_name="张三")
    db.session.commit()
    c = login(boss)
    old = _link_token(_invite(c).get_data(as_text=True))
    first = db.session.execute(db.select(User).where(User.username == "li.si")).scalar_one()
    assert c.post(f"/team/{first.id}/revoke").status_code == 303
    r = c.post("/team/invite", data={"username": "li.si", "display_name": "李四", "phone": "13800000001"})
    assert r.status_code == 200, r.get_data(as_text=True)[-1500:]
    token = _link_token(r.get_data(as_text=True))
    db.session.expire_all()
    second = db.session.execute(db.select(User).where(User.username == "li.si")).scalar_one()
    assert second.id != first.id
    # The revoked account keeps its row, under a name no form accepts; the audit trail has the original.
    revoked = db.session.get(User, first.id)
    assert revoked.username != "li.si" and "~" in revoked.username and revoked.is_active is False
    acts = db.session.execute(db.select(AuditEvent.action, AuditEvent.data).where(
        AuditEvent.entity_type == "user", AuditEvent.entity_id == first.id).order_by(AuditEvent.id)).all()
    assert [a for a, _ in acts] == ["team_invite", "team_invite_revoke"] and acts[1][1]["username"] == "li.si"
    # The members page lists both: the revoked one under its original name, the new one open.
    page = c.get("/team").get_data(as_text=True)
    row = page[page.index(f'id="member-{first.id}"'):]
    row = row[:row.index("</tr>")]
    assert "邀请已撤销" in row and ">li.si<" in row and "~" not in row
    row = page[page.index(f'id="member-{second.id}"'):]
    row = row[:row.index("</tr>")]
    assert "已邀请，待接受" in row and ">li.si<" in row
    # The new link works, the old one not; the new colleague joins and logs in as li.si.
    assert app.test_client().get(f"/invite/{old}").status_code == 404
    assert _join(app, token)[1].status_code == 303
    _, r = _login_form(app, "li.si", NEW_PASSWORD)
    assert r.status_code == 303
    # The reserved name cannot be signed up for or invited.
    r = c.post("/team/invite", data={"username": revoked.username, "display_name": "某", "phone": "13800000002"})
    assert r.status_code == 422 and "用户名只能包含字母、数字、点、下划线和连字符" in r.get_data(as_text=True)


def test_an_english_speaking_managers_invitation_mail_is_in_english(app, login, smtp):
    # The invite form has no language choice: the colleague's account takes the inviting manager's
    # language, and the mail is written in it.
    from tests.test_mail import body_of

    ent = make_enterprise(name="Acme Foundry Ltd")
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id, display_name="Zhang San", locale="en")
    db.session.commit()
    c = login(boss)
    token = _link_token(_invite(c, display_name="Li Si", email="lisi@factory.example").get_data(as_text=True))
    member = db.session.execute(db.select(User).where(User.username == "li.si")).scalar_one()
    assert member.locale == "en"
    _, msg = smtp.inbox.only()
    subject, body = str(msg["Subject"]), body_of(msg)
    assert subject == ("[Guangdong Industrial Internet Application Service Platform] "
                       "You are invited to join the Guangdong Industrial Internet Application Service Platform")
    assert ("Zhang San invites you to join Acme Foundry Ltd with the username li.si. "
            "Open the link below within 7 days to set your password.") in body
    assert f"https://fwq.example.gov.cn/invite/{token}" in body
    assert not re.search(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]", subject + body), body
    # A Chinese-speaking manager's colleague still gets Chinese.
    boss.locale = "zh_Hans"
    db.session.commit()
    _invite(login(boss), username="wang.wu", display_name="王五", phone="13800000002", email="ww@factory.example")
    _, msg = smtp.inbox.messages[-1]
    assert "邀请您加入广东省工业互联网应用服务平台" in str(msg["Subject"])
    assert "Zhang San 邀请您以 wang.wu 的用户名加入 Acme Foundry Ltd。请在 7 天内打开下面的链接设置密码。" in body_of(msg)


def test_prune_blanks_the_link_of_invitation_mails_that_no_longer_need_it(app, login, smtp, monkeypatch):
    from blueprints.core import mail
    from models import MailOutbox, MailStatus

    ent = make_enterprise()
    boss = make_user(Role.ENTERPRISE, enterprise_id=ent.id)
    db.session.commit()
    c = login(boss)
    monkeypatch.setattr(mail, "kick", lambda: None)  # the mails wait in the outbox: nothing sends them
    tokens = {}
    for name, phone in (("open", "13800000001"), ("expired", "13800000002"), ("failed", "13800000003"),
                        ("english", "13800000004"), ("accepted", "13800000005"), ("revoked", "13800000006")):
        tokens[name] = _link_token(_invite(c, username=name, phone=phone,
                                           email=f"{name}@factory.example").get_data(as_text=True))
    users = {u.username: u for u in db.session.execute(db.select(User).where(User.username.in_(tokens))).scalars()}
    # Two invitations ran out (one for an English-speaking colleague); one mail failed for good.
    db.session.execute(db.update(TeamInvite).where(TeamInvite.user_id.in_(
        [users["expired"].id, users["english"].id])).values(expires_at=timeutil.now() - dt.timedelta(minutes=1)))
    db.session.execute(db.update(User).where(User.id == users["english"].id).values(locale="en"))
    db.session.execute(db.update(MailOutbox).where(MailOutbox.user_id == users["failed"].id)
                       .values(status=MailStatus.FAILED, attempts=3))
    # Accepted and revoked ones whose mails were left with the link (as rows written before this sweep were).
    db.session.execute(db.update(TeamInvite).where(TeamInvite.user_id == users["accepted"].id)
                       .values(accepted_at=timeutil.now()))
    db.session.execute(db.update(TeamInvite).where(TeamInvite.user_id == users["revoked"].id)
                       .values(token_hash="revoked-" + "0" * 56))
    db.session.commit()

    def body(name):
        db.session.expire_all()
        return db.session.execute(db.select(MailOutbox.body).where(MailOutbox.user_id == users[name].id)).scalar_one()

    result = app.test_cli_runner().invoke(args=["prune"])
    assert result.exit_code == 0 and "blanked the link in 5 invitation mails" in result.output
    for name in ("expired", "failed", "accepted", "revoked"):
        assert tokens[name] not in body(name) and "/invite/" not in body(name) and "（该邀请链接已失效）" in body(name)
    assert tokens["english"] not in body("english") and "(this invitation link is no longer valid)" in body("english")
    # The open invitation's mail, still to be sent, keeps its working link.
    assert tokens["open"] in body("open")
    # Run again: nothing more to do.
    assert "blanked the link in 0 invitation mails" in app.test_cli_runner().invoke(args=["prune"]).output
    assert tokens["open"] in body("open")
