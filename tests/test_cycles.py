"""Cycles and their announced deadlines (CYC-1, CYC-2, DL-1)."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from blueprints.core import cycles
from blueprints.core.timeutil import today
from models import AuditEvent, Cycle, CycleNotice, Role, db
from tests.factories import make_cycle, make_user

HX = {"HX-Request": "true"}


def _days(n: int) -> str:
    return (today() + dt.timedelta(days=n)).isoformat()


def _form(app_days=45, settle_days=200, **kw) -> dict:
    data = {"name": "2026年第二批", "year": str(today().year), "application_deadline": _days(app_days),
            "settlement_deadline": _days(settle_days), "verification_days": "5"}
    data.update(kw)
    return data


@pytest.fixture
def province(login_as):
    return login_as(Role.PROVINCE)


def _only_cycle() -> Cycle:
    return db.session.execute(db.select(Cycle)).scalar_one()


def test_create_a_cycle_with_two_deadlines(province):
    # rule: CYC-1
    c, user = province
    r = c.post("/province/cycles/new", data=_form())
    assert r.status_code == 303
    cycle = _only_cycle()
    assert (cycle.status, cycle.announced_at) == ("draft", None)
    assert cycle.application_deadline == today() + dt.timedelta(days=45)
    assert cycle.settlement_deadline == today() + dt.timedelta(days=200)
    assert r.headers["Location"].endswith(f"/province/cycles/{cycle.id}")
    body = c.get(f"/province/cycles/{cycle.id}").get_data(as_text=True)
    assert "2026年第二批" in body and "尚未公布" in body and "在平台公布" in body and "办理记录" in body
    assert "2026年第二批" in c.get("/province/cycles").get_data(as_text=True)
    ev = db.session.execute(db.select(AuditEvent).where(AuditEvent.entity_type == "cycle")).scalar_one()
    assert (ev.action, ev.actor_id) == ("create", user.id)


def test_a_29_day_deadline_is_refused_with_the_earliest_allowed_date(province):
    # rule: CYC-2
    c, _ = province
    earliest = (today() + dt.timedelta(days=30)).isoformat()
    r = c.post("/province/cycles/new", data=_form(app_days=29, announce="y"), headers=HX)
    body = r.get_data(as_text=True)
    assert r.status_code == 422 and "<html" not in body and 'id="cycle-form"' in body
    assert f"申领截止日期须在公布之日起至少30天后：今天公布，最早可设为 {earliest}" in body
    r = c.post("/province/cycles/new", data=_form(app_days=60, settle_days=29))
    assert r.status_code == 422
    assert f"兑现截止日期须在公布之日起至少30天后：今天公布，最早可设为 {earliest}" in r.get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count(Cycle.id))).scalar_one() == 0
    # 30 days is enough, and the cycle is announced at once.
    r = c.post("/province/cycles/new", data=_form(app_days=30, settle_days=31, announce="y"))
    assert r.status_code == 303
    cycle = _only_cycle()
    assert cycle.status == "announced" and cycle.announced_at is not None
    notice = db.session.execute(db.select(CycleNotice)).scalar_one()
    assert (notice.kind, notice.application_deadline) == ("announce", today() + dt.timedelta(days=30))


def test_core_rule_counts_from_the_announcement_day():
    # rule: CYC-2
    on = dt.date(2026, 3, 1)
    assert cycles.earliest_deadline(on) == dt.date(2026, 3, 31)
    problems = cycles.deadline_problems(None, {"application_deadline": dt.date(2026, 3, 30),
                                               "settlement_deadline": dt.date(2026, 3, 31)}, on=on)
    assert set(problems) == {"application_deadline"} and "2026-03-31" in problems["application_deadline"]


def test_settlement_deadline_must_follow_the_application_deadline(province):
    # rule: CYC-1
    c, _ = province
    r = c.post("/province/cycles/new", data=_form(app_days=60, settle_days=60))
    assert r.status_code == 422 and "兑现截止日期须晚于申领截止日期" in r.get_data(as_text=True)


def test_inline_validation_of_a_deadline(province):
    # rule: CYC-2
    c, _ = province
    r = c.post("/province/cycles/new?validate=application_deadline", data=_form(app_days=10), headers=HX)
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in body and 'id="field-application_deadline"' in body
    assert "最早可设为" in body
    assert db.session.execute(db.select(db.func.count(Cycle.id))).scalar_one() == 0


def test_announcing_a_draft_needs_30_days_notice_from_the_announcement(app, login):
    # rule: CYC-2, DL-1
    admin = make_user(Role.PROVINCE)
    db.session.commit()
    with time_machine.travel(dt.datetime(2027, 3, 1, 2, 0, tzinfo=dt.timezone.utc), tick=False):
        c = login(admin)
        assert c.post("/province/cycles/new", data=_form(app_days=40, settle_days=120)).status_code == 303
    cycle = _only_cycle()
    assert cycle.application_deadline == dt.date(2027, 4, 10)
    # 15 days later the application deadline is only 25 days away: it cannot be announced.
    with time_machine.travel(dt.datetime(2027, 3, 16, 2, 0, tzinfo=dt.timezone.utc), tick=False):
        c = login(admin)
        r = c.post(f"/province/cycles/{cycle.id}/transition", data={"action": "announce"})
        assert r.status_code == 303 and r.headers["Location"].endswith(f"/province/cycles/{cycle.id}/edit")
        db.session.expire_all()
        assert db.session.get(Cycle, cycle.id).announced_at is None
        body = c.get(r.headers["Location"]).get_data(as_text=True)
        assert "不能公布" in body and "2027-04-15" in body
        # Moved to 2027-04-15 it can be announced.
        assert c.post(f"/province/cycles/{cycle.id}/edit", data=_form(
            application_deadline="2027-04-15", settlement_deadline="2027-07-01")).status_code == 303
        assert c.post(f"/province/cycles/{cycle.id}/transition", data={"action": "announce"}).status_code == 303
        db.session.expire_all()
        cycle = db.session.get(Cycle, cycle.id)
        assert cycle.status == "announced" and cycle.announced_at.date() == dt.date(2027, 3, 16)
        # Announcing twice is a 409.
        assert c.post(f"/province/cycles/{cycle.id}/transition", data={"action": "announce"}).status_code == 409


def test_moving_an_announced_deadline(province):
    # rule: CYC-2, DL-1
    c, user = province
    cycle = make_cycle(days_to_deadline=40)  # announced today
    db.session.commit()
    old_app = cycle.application_deadline
    # Later: always allowed, with a reason; the change is announced.
    r = c.post(f"/province/cycles/{cycle.id}/edit", data=_form(app_days=50, settle_days=220, name=cycle.name))
    assert r.status_code == 422 and "已公布的批次，变更须填写理由" in r.get_data(as_text=True)
    r = c.post(f"/province/cycles/{cycle.id}/edit",
               data=_form(app_days=50, settle_days=220, name=cycle.name, reason="应企业要求延长申领时间"))
    assert r.status_code == 303
    notice = db.session.execute(db.select(CycleNotice).where(CycleNotice.kind == "change")).scalar_one()
    assert notice.previous_application_deadline == old_app
    assert notice.application_deadline == today() + dt.timedelta(days=50)
    assert notice.reason == "应企业要求延长申领时间"
    # Earlier, with less than 30 days' notice: refused, nothing changed.
    r = c.post(f"/province/cycles/{cycle.id}/edit",
               data=_form(app_days=29, settle_days=220, name=cycle.name, reason="提前"), headers=HX)
    body = r.get_data(as_text=True)
    assert r.status_code == 422 and "<html" not in body
    assert f"提前申领截止日期须提前30天公告：今天变更，最早可设为 {_days(30)}" in body
    db.session.expire_all()
    assert db.session.get(Cycle, cycle.id).application_deadline == today() + dt.timedelta(days=50)
    # Earlier with exactly 30 days' notice: allowed.
    r = c.post(f"/province/cycles/{cycle.id}/edit",
               data=_form(app_days=30, settle_days=220, name=cycle.name, reason="资金安排提前"))
    assert r.status_code == 303
    assert db.session.execute(db.select(db.func.count(CycleNotice.id)).where(
        CycleNotice.kind == "change")).scalar_one() == 2
    reasons = [e.reason for e in db.session.execute(db.select(AuditEvent).where(
        AuditEvent.entity_type == "cycle", AuditEvent.action == "edit")).scalars()]
    assert reasons == ["应企业要求延长申领时间", "资金安排提前"]
    page = c.get(f"/province/cycles/{cycle.id}").get_data(as_text=True)
    assert f"修改：申领截止日期 {_days(50)} → {_days(30)}" in page and "资金安排提前" in page


def test_moving_earlier_counts_30_days_from_the_change_not_the_announcement(app):
    # rule: CYC-2
    admin = make_user(Role.PROVINCE)
    with time_machine.travel(dt.datetime(2027, 1, 5, 2, 0, tzinfo=dt.timezone.utc), tick=False):
        cycle = cycles.create_cycle(admin, name="一批", year=2027, application_deadline=dt.date(2027, 6, 30),
                                    settlement_deadline=dt.date(2027, 12, 31), announce_now=True)
        db.session.commit()
    with time_machine.travel(dt.datetime(2027, 5, 20, 2, 0, tzinfo=dt.timezone.utc), tick=False):
        with pytest.raises(cycles.CycleError) as err:
            cycles.update_cycle(cycle, admin, name="一批", year=2027, application_deadline=dt.date(2027, 6, 18),
                                settlement_deadline=dt.date(2027, 12, 31), verification_days=5, reason="提前")
        assert "最早可设为 2027-06-19" in err.value.errors["application_deadline"]
        assert cycle.application_deadline == dt.date(2027, 6, 30)  # nothing half-changed
        cycles.update_cycle(cycle, admin, name="一批", year=2027, application_deadline=dt.date(2027, 6, 19),
                            settlement_deadline=dt.date(2027, 12, 31), verification_days=5, reason="提前")
        db.session.commit()
    assert cycle.application_deadline == dt.date(2027, 6, 19)


def test_announced_deadlines_show_on_every_home_page_with_days_left(app, login_as, client):
    # rule: DL-1, CYC-1
    make_cycle(name="已公布批次", days_to_deadline=45)
    make_cycle(name="草稿批次", status="draft", announced_at=None, days_to_deadline=50)
    db.session.commit()
    pages = {"/": client}
    for role, url in ((Role.ENTERPRISE, "/enterprise/"), (Role.SUPPLIER, "/supplier/"), (Role.CITY, "/city/"),
                      (Role.PROVINCE, "/province/"), (Role.EXPERT, "/expert/")):
        c, _ = login_as(role)
        pages[url] = c
    for url, c in pages.items():
        r = c.get(url)
        assert r.status_code == 200, url
        body = r.get_data(as_text=True)
        assert 'id="cycle-deadlines"' in body, url
        assert "已公布批次" in body and "还有 45 天" in body and "还有 225 天" in body, url
        assert "草稿批次" not in body, url


def test_public_announcements_page_lists_changes_with_reasons(app, client):
    # rule: DL-1, CYC-2
    admin = make_user(Role.PROVINCE)
    cycle = cycles.create_cycle(admin, name="公示批次", year=today().year,
                                application_deadline=today() + dt.timedelta(days=40),
                                settlement_deadline=today() + dt.timedelta(days=200), announce_now=True)
    cycles.update_cycle(cycle, admin, name="公示批次", year=today().year,
                        application_deadline=today() + dt.timedelta(days=60),
                        settlement_deadline=today() + dt.timedelta(days=200), verification_days=5, reason="延长申领期")
    cycles.create_cycle(admin, name="未公布批次", year=today().year,
                        application_deadline=today() + dt.timedelta(days=40),
                        settlement_deadline=today() + dt.timedelta(days=200))
    db.session.commit()
    body = client.get("/cycles").get_data(as_text=True)
    assert "公示批次" in body and "未公布批次" not in body
    assert f"申领截止 {_days(40)} → <strong>{_days(60)}</strong>" in body and "延长申领期" in body
    assert "批次公告与截止日期变更记录" in client.get("/").get_data(as_text=True)


def test_only_the_province_manages_cycles(login_as):
    # rule: CYC-1, ROLE-8
    cycle = make_cycle(status="draft", announced_at=None)
    db.session.commit()
    for role in (Role.CITY, Role.ENTERPRISE, Role.SUPPLIER, Role.EXPERT):
        c, _ = login_as(role)
        assert c.post("/province/cycles/new", data=_form()).status_code == 403
        assert c.post(f"/province/cycles/{cycle.id}/transition", data={"action": "announce"}).status_code == 403
    assert db.session.execute(db.select(db.func.count(Cycle.id))).scalar_one() == 1


def test_the_settlement_review_time_is_set_and_announced_with_the_cycle(province, client):
    # rule: SLA-3
    c, _ = province
    r = c.post("/province/cycles/new", data=_form(settlement_review_days="0"))
    assert r.status_code == 422 and "审核时限须在 1 至 60 个工作日之间" in r.get_data(as_text=True)
    assert db.session.execute(db.select(Cycle)).first() is None
    assert c.post("/province/cycles/new", data=_form(settlement_review_days="7", announce="y")).status_code == 303
    cycle = _only_cycle()
    assert cycle.settlement_review_days == 7
    assert "7 个工作日" in c.get(f"/province/cycles/{cycle.id}").get_data(as_text=True)
    assert "地市兑现审核 7 个工作日" in client.get("/").get_data(as_text=True)
    # left out of the form, it stays 10 for a new cycle and unchanged on an edit
    assert c.post(f"/province/cycles/{cycle.id}/edit", data=_form(name="改名", reason="更名")).status_code == 303
    db.session.expire_all()
    assert _only_cycle().settlement_review_days == 7
