"""Province opens and disables staff accounts (ROLE-3, ROLE-4, ROLE-5, ROLE-6)."""
from models import AuditEvent, Role, User, db
from tests.factories import make_user


def test_province_opens_city_officer_account(login_as):
    # rule: ROLE-3, ROLE-4
    c, admin = login_as(Role.PROVINCE)
    r = c.post("/province/users/new", data={"username": "sz_officer", "display_name": "深圳市经信局",
                                             "role": "city", "city_code": "440300", "password": "Strong-pass-991"})
    assert r.status_code == 303
    u = db.session.execute(db.select(User).where(User.username == "sz_officer")).scalar_one()
    assert u.acting_role == Role.CITY and u.city_code == "440300"
    ev = db.session.execute(db.select(AuditEvent).where(AuditEvent.entity_type == "user", AuditEvent.entity_id == u.id)).scalar_one()
    assert ev.actor_id == admin.id and ev.body == "province"


def test_city_account_needs_a_city_and_nothing_is_saved(login_as):
    c, _ = login_as(Role.PROVINCE)
    r = c.post("/province/users/new", data={"username": "nocity", "display_name": "x", "role": "city",
                                             "city_code": "", "password": "Strong-pass-991"})
    assert r.status_code == 422
    assert "地市账号必须选择所属地市" in r.get_data(as_text=True)
    assert db.session.execute(db.select(User).where(User.username == "nocity")).first() is None


def test_operator_for_city_acts_as_city(login_as):
    # rule: ROLE-6
    c, _ = login_as(Role.PROVINCE)
    r = c.post("/province/users/new", data={"username": "op_sz", "display_name": "第三方", "role": "operator",
                                             "city_code": "440300", "password": "Strong-pass-991"})
    assert r.status_code == 303
    op = db.session.execute(db.select(User).where(User.username == "op_sz")).scalar_one()
    assert op.acting_role == Role.CITY and op.body == "city:440300"


def test_disabling_ends_sessions(login_as, login):
    # rule: ROLE-4
    c, _ = login_as(Role.PROVINCE)
    officer = make_user(Role.CITY, city_code="440300")
    db.session.commit()
    oc = login(officer)
    assert oc.get("/city/").status_code == 200
    r = c.post(f"/province/users/{officer.id}/active")
    assert r.status_code == 303
    resp = oc.get("/city/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_user_list_search_and_pagination(login_as):
    c, _ = login_as(Role.PROVINCE)
    for i in range(30):
        make_user(Role.EXPERT, username=f"expert_{i:02d}")
    db.session.commit()
    r = c.get("/province/users?role=expert")
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "下一页" in body and "共 30 条" in body
    r = c.get("/province/users?q=expert_07", headers={"HX-Request": "true"})
    body = r.get_data(as_text=True)
    assert "<html" not in body and 'id="user-results"' in body and "expert_07" in body and "expert_08" not in body


def test_timeline_shows_the_body_an_operator_acted_for(app, login):
    # rule: ROLE-6, SUP-1
    from flask import render_template_string

    from blueprints.core import audit
    from tests.factories import make_enterprise

    op = make_user(Role.OPERATOR, city_code="440100")
    e = make_enterprise()
    audit.record("enterprise", e.id, "approve", actor=op, from_state="city_review", to_state="approved")
    db.session.commit()
    with app.test_request_context():
        html = render_template_string(
            '{% from "_macros/ui.html" import timeline %}{{ timeline(events) }}',
            events=audit.timeline("enterprise", e.id),
        )
    assert "第三方机构 · 代广州市" in html and op.display_name in html


def test_opening_a_notice_marks_it_read_and_follows_its_link(login_as, login):
    from blueprints.core.notices import notify_users
    from models import Notice

    c, user = login_as(Role.ENTERPRISE)
    other = make_user(Role.ENTERPRISE)
    notify_users([user.id], "您的注册已通过", link="/enterprise/")
    notify_users([other.id], "别人的消息", link="/enterprise/")
    db.session.commit()
    mine = db.session.execute(db.select(Notice).where(Notice.user_id == user.id)).scalar_one()
    theirs = db.session.execute(db.select(Notice).where(Notice.user_id == other.id)).scalar_one()
    assert "未读" in c.get("/notices").get_data(as_text=True)
    r = c.post(f"/notices/{mine.id}/open")
    assert r.status_code == 303 and r.headers["Location"].endswith("/enterprise/")
    db.session.expire_all()
    assert mine.read_at is not None
    assert c.post(f"/notices/{theirs.id}/open").status_code == 404  # rule: ROLE-8
