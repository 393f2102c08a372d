"""Review flows (REG-3..7, REG-9, ROLE-3..6, ROLE-8): who decides, returns listing every reason,
final rejections, expert scores before the province decides, changes after approval, notices."""
from __future__ import annotations

import datetime as dt
import io

import time_machine

from blueprints.core import registration, timeutil
from models import AuditEvent, ExpertReview, Notice, ProfileChange, RegStatus, Role, db
from tests.factories import (
    contract_pdf_bytes, enterprise_form, make_enterprise, make_submitted, make_user, make_uscc, supplier_form,
)

MP = "multipart/form-data"


def city_client(login, city="440100"):
    user = make_user(Role.CITY, city_code=city)
    db.session.commit()
    return login(user), user


def notices_of(user) -> list[Notice]:
    return list(db.session.execute(db.select(Notice).where(Notice.user_id == user.id).order_by(Notice.id)).scalars())


def events_of(kind: str, ident: int) -> list[AuditEvent]:
    return list(db.session.execute(db.select(AuditEvent).where(
        AuditEvent.entity_type == kind, AuditEvent.entity_id == ident).order_by(AuditEvent.id)).scalars())


def form_of(e, **over) -> dict:
    """The enterprise form filled with the facts in force, then `over`."""
    data = dict(name=e.name, uscc=e.uscc, city_code=e.city_code, legal_rep=e.legal_rep,
                established_on=e.established_on.isoformat(), revenue=str(e.revenue_fen // 100), revenue_unit="yuan",
                contact_name=e.contact_name, contact_phone=e.contact_phone)
    data.update(over)
    return enterprise_form(**data)


def decide(c, kind, ident, bp="city", **data):
    return c.post(f"/{bp}/registrations/{kind}/{ident}/decide", data=data)


# --------------------------------------------------------------------------- enterprise (REG-3)


def test_city_approves_enterprise_and_applicant_is_told(login):
    # rule: REG-3, ROLE-3, SUP-1
    e, ent_user = make_submitted("enterprise")
    c, officer = city_client(login)
    page = c.get(f"/city/registrations/enterprise/{e.id}").get_data(as_text=True)
    assert e.name in page and "营业执照" in page and 'id="approve-form"' in page and 'id="return-form"' in page
    r = decide(c, "enterprise", e.id, action="approve")
    assert r.status_code == 303
    db.session.expire_all()
    assert e.status == RegStatus.APPROVED and e.decided_at is not None and e.due_on is None
    notice = notices_of(ent_user)[-1]
    assert notice.title == "您的注册申请已审核通过" and notice.link == "/enterprise/profile"
    ent = login(ent_user)
    home = ent.get("/enterprise/").get_data(as_text=True)
    assert 'id="unread-count"' in home  # the badge in the top bar
    page = ent.get("/enterprise/profile").get_data(as_text=True)
    assert "已通过" in page and "审核通过" in page  # status and the timeline entry
    ev = events_of("enterprise", e.id)[-1]
    assert (ev.action, ev.from_state, ev.to_state, ev.actor_id, ev.body) == (
        "approve", "city_review", "approved", officer.id, "city:440100")


def test_return_lists_every_reason_next_to_its_field_and_history_is_kept(login):
    # rule: REG-5, REG-3
    e, ent_user = make_submitted("enterprise")
    c, officer = city_client(login)
    r = decide(c, "enterprise", e.id, action="return",
               reason_field=["licence", "revenue", "name"], reason_text=["营业执照照片模糊，请重新拍照", "收入与报表不符", ""])
    assert r.status_code == 303
    db.session.expire_all()
    assert e.status == RegStatus.RETURNED and e.due_on is None
    assert e.return_reasons == [
        {"field": "licence", "label": "营业执照", "text": "营业执照照片模糊，请重新拍照"},
        {"field": "revenue", "label": "上年度主营业务收入", "text": "收入与报表不符"},
    ]
    # One notice carries every reason (一次性告知).
    notice = notices_of(ent_user)[-1]
    assert "退回" in notice.title
    assert "1. 【营业执照】营业执照照片模糊" in notice.body and "2. 【上年度主营业务收入】收入与报表不符" in notice.body
    # The applicant sees the whole list, and each reason beside its field.
    ent = login(ent_user)
    form = ent.get("/enterprise/profile/edit").get_data(as_text=True)
    assert 'id="return-reasons"' in form
    assert 'id="reason-licence"' in form and 'id="reason-revenue"' in form
    assert form.index('id="reason-revenue"') < form.index('id="field-revenue"')
    assert form.index('id="reason-licence"') < form.index('id="field-licence"')
    # Fix and resubmit with a new licence photo.
    data = enterprise_form(name=e.name, uscc=e.uscc, revenue="2000", revenue_unit="wan")
    data["licence"] = (io.BytesIO(contract_pdf_bytes("清晰版")), "营业执照-清晰.pdf")
    r = ent.post("/enterprise/profile/edit", data=data, content_type=MP)
    assert r.status_code == 303
    db.session.expire_all()
    assert e.status == RegStatus.CITY_REVIEW and e.return_reasons == [] and e.revenue_fen == 2_000_000_000
    # A second return: the officer sees both returns in the record's history.
    decide(c, "enterprise", e.id, action="return", reason_field=["other"], reason_text=["缺少财务报表"])
    page = c.get(f"/city/registrations/enterprise/{e.id}").get_data(as_text=True)
    assert 'id="return-history"' in page and "（2）" in page
    assert "营业执照照片模糊" in page and "缺少财务报表" in page
    returns = [ev for ev in events_of("enterprise", e.id) if ev.action == "return"]
    assert [len(ev.data["reasons"]) for ev in returns] == [2, 1]


def test_return_without_any_reason_is_refused(login):
    # rule: REG-5
    e, _ = make_submitted("enterprise")
    c, _ = city_client(login)
    r = decide(c, "enterprise", e.id, action="return", reason_field=["name"], reason_text=["   "])
    assert r.status_code == 422 and "至少一条" in r.get_data(as_text=True)
    db.session.expire_all()
    assert e.status == RegStatus.CITY_REVIEW


def test_rejection_needs_a_reason_and_is_final(login):
    # rule: REG-6
    e, ent_user = make_submitted("enterprise")
    c, _ = city_client(login)
    r = decide(c, "enterprise", e.id, action="reject", reason="")
    assert r.status_code == 422 and "请填写驳回理由" in r.get_data(as_text=True)
    r = decide(c, "enterprise", e.id, action="reject", reason="营业执照系伪造")
    assert r.status_code == 303
    db.session.expire_all()
    assert e.status == RegStatus.REJECTED
    assert "理由：营业执照系伪造" in notices_of(ent_user)[-1].body
    # Final: no button for anyone, no edit, no second decision.
    page = c.get(f"/city/registrations/enterprise/{e.id}").get_data(as_text=True)
    assert 'id="no-actions"' in page
    assert decide(c, "enterprise", e.id, action="approve").status_code == 409
    ent = login(ent_user)
    assert ent.get("/enterprise/profile/edit").status_code == 303
    assert "营业执照系伪造" in ent.get("/enterprise/profile").get_data(as_text=True)
    db.session.expire_all()
    assert e.status == RegStatus.REJECTED


def test_applicant_and_other_roles_cannot_decide(login):
    # rule: ROLE-3, ROLE-8
    e, ent_user = make_submitted("enterprise")
    province = make_user(Role.PROVINCE)
    db.session.commit()
    r = login(ent_user).post(f"/city/registrations/enterprise/{e.id}/decide", data={"action": "approve"})
    assert r.status_code == 403
    # The province sees the enterprise but the table gives it no enterprise decision (REG-3: the city decides).
    r = login(province).post(f"/province/registrations/enterprise/{e.id}/decide", data={"action": "approve"})
    assert r.status_code == 409
    db.session.expire_all()
    assert e.status == RegStatus.CITY_REVIEW


def test_other_city_gets_404_on_items_and_files(login):
    # rule: ROLE-8, ROLE-3, DOC-3
    e, _ = make_submitted("enterprise", city_code="440100")
    s, _ = make_submitted("supplier", city_code="440100")
    c, _ = city_client(login, city="440300")
    for kind, obj in (("enterprise", e), ("supplier", s)):
        assert c.get(f"/city/registrations/{kind}/{obj.id}").status_code == 404
        assert decide(c, kind, obj.id, action="approve").status_code == 404
        assert c.get(f"/files/{obj.licence_file_id}").status_code == 404
    queue = c.get("/city/registrations").get_data(as_text=True)
    assert e.name not in queue
    assert c.get("/city/registrations?kind=supplier").get_data(as_text=True).count(s.name) == 0
    # The officer's city is taken from the account, never from the request.
    assert e.name not in c.get("/city/registrations?city=440100&status=all").get_data(as_text=True)
    db.session.expire_all()
    assert e.status == RegStatus.CITY_REVIEW and s.status == RegStatus.CITY_REVIEW


def test_operator_acting_for_a_city_reviews_like_its_officers(login):
    # rule: ROLE-6, ROLE-3
    e, _ = make_submitted("enterprise", city_code="440100")
    op = make_user(Role.OPERATOR, city_code="440100")
    db.session.commit()
    c = login(op)
    assert e.name in c.get("/city/registrations").get_data(as_text=True)
    assert decide(c, "enterprise", e.id, action="approve").status_code == 303
    ev = events_of("enterprise", e.id)[-1]
    assert ev.actor_role == "operator" and ev.body == "city:440100"


# --------------------------------------------------------------------------- supplier (REG-4)


def test_in_province_supplier_city_then_province_with_experts(login):
    # rule: REG-4, ROLE-4, ROLE-5, SLA-1
    s, sup_user = make_submitted("supplier", city_code="440300")
    c, _ = city_client(login, city="440300")
    province = make_user(Role.PROVINCE)
    expert = make_user(Role.EXPERT)
    expert2 = make_user(Role.EXPERT)
    db.session.commit()
    p, x, x2 = login(province), login(expert), login(expert2)
    # Experts see nothing while the city checks the facts.
    assert s.name not in x.get("/expert/reviews").get_data(as_text=True)
    assert x.get(f"/expert/reviews/{s.id}").status_code == 404
    page = c.get(f"/city/registrations/supplier/{s.id}").get_data(as_text=True)
    assert "基本信息属实，报省复核" in page
    assert decide(c, "supplier", s.id, action="approve").status_code == 303
    db.session.expire_all()
    assert s.status == RegStatus.PROVINCE_REVIEW
    assert s.due_on == timeutil.add_working_days(timeutil.today(), 5)
    assert "已通过地市审核" in notices_of(sup_user)[-1].title
    # The province cannot approve before an expert has scored.
    page = p.get(f"/province/registrations/supplier/{s.id}").get_data(as_text=True)
    assert 'id="approve-form"' not in page and "尚无专家评分" in page
    r = decide(p, "supplier", s.id, bp="province", action="approve")
    assert r.status_code == 409
    # Experts score (0-100) with an opinion; each sees only their own.
    assert s.name in x.get("/expert/reviews").get_data(as_text=True)
    r = x.post(f"/expert/reviews/{s.id}", data={"score": "101", "opinion": "好"})
    assert r.status_code == 422 and "评分须为 0 到 100 的整数" in r.get_data(as_text=True)
    r = x.post(f"/expert/reviews/{s.id}", data={"score": "abc", "opinion": "好"})
    assert r.status_code == 422 and "评分须为 0 到 100 的整数" in r.get_data(as_text=True)
    assert x.post(f"/expert/reviews/{s.id}", data={"score": "86", "opinion": "平台能力扎实，案例真实"}).status_code == 303
    assert x2.post(f"/expert/reviews/{s.id}", data={"score": "70", "opinion": "运维团队偏小"}).status_code == 303
    assert x.post(f"/expert/reviews/{s.id}", data={"score": "88", "opinion": "复核后上调"}).status_code == 303  # revised
    assert db.session.execute(db.select(db.func.count(ExpertReview.id))).scalar_one() == 2
    mine = x.get(f"/expert/reviews/{s.id}").get_data(as_text=True)
    assert "复核后上调" in mine and "运维团队偏小" not in mine
    assert s.name not in x.get("/expert/reviews").get_data(as_text=True)  # done: off my to-do list
    # The province decides with every score in view.
    page = p.get(f"/province/registrations/supplier/{s.id}").get_data(as_text=True)
    assert "复核后上调" in page and "运维团队偏小" in page and 'id="approve-form"' in page
    assert decide(p, "supplier", s.id, bp="province", action="approve").status_code == 303
    db.session.expire_all()
    assert s.status == RegStatus.APPROVED
    assert notices_of(sup_user)[-1].title == "您的注册申请已审核通过"
    # The supplier's own timeline does not show the experts' internal notes.
    own = login(sup_user).get("/supplier/profile").get_data(as_text=True)
    assert "运维团队偏小" not in own and "审核通过" in own


def test_out_of_province_supplier_goes_straight_to_province(login):
    # rule: REG-4
    s, _ = make_submitted("supplier", in_province=False, city_code=None)
    assert s.status == RegStatus.PROVINCE_REVIEW
    c, _ = city_client(login)
    assert c.get(f"/city/registrations/supplier/{s.id}").status_code == 404
    province = make_user(Role.PROVINCE)
    db.session.commit()
    queue = login(province).get("/province/registrations").get_data(as_text=True)
    assert s.name in queue and "省外" in queue


def test_province_return_sends_supplier_back_and_new_round_needs_new_scores(login):
    # rule: REG-4, REG-5
    s, sup_user = make_submitted("supplier", in_province=False, city_code=None)
    expert = make_user(Role.EXPERT)
    province = make_user(Role.PROVINCE)
    db.session.commit()
    registration.record_expert_review(s, expert, 60, "案例不足")
    db.session.commit()
    p = login(province)
    r = decide(p, "supplier", s.id, bp="province", action="return", reason_field=["capability_file"],
               reason_text=["请补充近两年工业客户案例"])
    assert r.status_code == 303
    db.session.expire_all()
    assert s.status == RegStatus.RETURNED and s.returned_by == "province"
    sup = login(sup_user)
    assert sup.post("/supplier/profile/edit", data=supplier_form(
        name=s.name, uscc=s.uscc, in_province="0", city_code=""), content_type=MP).status_code == 303
    db.session.expire_all()
    assert s.status == RegStatus.PROVINCE_REVIEW and s.review_round == 2
    assert decide(p, "supplier", s.id, bp="province", action="approve").status_code == 409  # round 2 unscored


# --------------------------------------------------------------------------- changes after approval (REG-9)


def test_change_after_approval_is_reviewed_and_old_facts_stay_in_force(login):
    # rule: REG-9
    e, ent_user = make_submitted("enterprise", city_code="440100")
    c, officer = city_client(login)
    assert decide(c, "enterprise", e.id, action="approve").status_code == 303
    sz_officer = make_user(Role.CITY, city_code="440300")
    db.session.commit()
    old_name, old_uscc = e.name, e.uscc
    ent = login(ent_user)
    page = ent.get("/enterprise/profile/edit").get_data(as_text=True)
    assert "变更企业登记资料" in page and old_name in page
    data = form_of(e, name="广州新名称智造有限公司", city_code="440300", op="change", contact_phone="13711112222")
    data["licence"] = (io.BytesIO(contract_pdf_bytes("新执照")), "新营业执照.pdf")
    r = ent.post("/enterprise/profile/edit", data=data, content_type=MP)
    assert r.status_code == 303
    db.session.expire_all()
    change = db.session.execute(db.select(ProfileChange)).scalar_one()
    assert change.status == RegStatus.CITY_REVIEW and change.city_code == "440100"
    assert set(change.proposed) == {"name", "city_code", "licence_file_id"}
    # The approved facts stay in force; the contact phone changed at once.
    assert e.status == RegStatus.APPROVED and e.name == old_name and e.city_code == "440100"
    assert e.contact_phone == "13711112222"
    view = ent.get("/enterprise/profile").get_data(as_text=True)
    assert "资料变更申请" in view and "广州新名称智造有限公司" in view
    assert ent.get("/enterprise/profile/edit").status_code == 303  # one change at a time
    # The same reviewers (the city in force) see it in their change queue, with the diff.
    queue = c.get("/city/registrations?kind=change").get_data(as_text=True)
    assert old_name in queue and "变更：" in queue
    detail = c.get(f"/city/registrations/change/{change.id}").get_data(as_text=True)
    assert "广州新名称智造有限公司" in detail and "深圳市" in detail and "新营业执照.pdf" in detail
    assert login(sz_officer).get(f"/city/registrations/change/{change.id}").status_code == 404
    # Returned once, fixed, approved: the values apply.
    r = decide(c, "change", change.id, action="return", reason_field=["name"], reason_text=["名称与新执照不一致"])
    assert r.status_code == 303
    form = ent.get("/enterprise/profile/edit").get_data(as_text=True)
    assert "名称与新执照不一致" in form and "广州新名称智造有限公司" in form
    data = form_of(e, name="广州新名称智造股份有限公司", city_code="440300", op="change", contact_phone="13711112222",
                   licence_file_id=str(change.proposed["licence_file_id"]))
    assert ent.post("/enterprise/profile/edit", data=data, content_type=MP).status_code == 303
    db.session.expire_all()
    assert change.status == RegStatus.CITY_REVIEW and change.proposed["name"] == "广州新名称智造股份有限公司"
    assert decide(c, "change", change.id, action="approve").status_code == 303
    db.session.expire_all()
    assert change.status == RegStatus.APPROVED
    assert e.name == "广州新名称智造股份有限公司" and e.city_code == "440300" and e.uscc == old_uscc
    assert e.licence_file_id == change.proposed["licence_file_id"]
    assert notices_of(ent_user)[-1].title == "您的资料变更已审核通过，新资料已生效"
    assert any("注册地已变更为本市" in n.title for n in notices_of(sz_officer))
    applied = [ev for ev in events_of("enterprise", e.id) if ev.action == "change_applied"][0]
    assert applied.data["before"]["name"] == old_name
    # From now on the new city is responsible.
    assert login(sz_officer).get(f"/city/registrations/enterprise/{e.id}").status_code == 200
    assert c.get(f"/city/registrations/enterprise/{e.id}").status_code == 404


def test_rejected_change_keeps_old_facts_and_withdraw_works(login):
    # rule: REG-9, REG-6
    e, ent_user = make_submitted("enterprise")
    c, _ = city_client(login)
    decide(c, "enterprise", e.id, action="approve")
    ent = login(ent_user)
    old = e.name
    data = form_of(e, name="想改的名字有限公司", op="change")
    assert ent.post("/enterprise/profile/edit", data=data, content_type=MP).status_code == 303
    change = db.session.execute(db.select(ProfileChange)).scalar_one()
    assert decide(c, "change", change.id, action="reject", reason="无更名核准通知书").status_code == 303
    db.session.expire_all()
    assert change.status == RegStatus.REJECTED and e.name == old and e.status == RegStatus.APPROVED
    assert "原登记资料继续有效" in notices_of(ent_user)[-1].title
    timeline = ent.get("/enterprise/profile").get_data(as_text=True).split('id="record-timeline"')[1]
    assert "驳回（资料变更）" in timeline and "无更名核准通知书" in timeline
    # Another change, then withdrawn by the enterprise.
    assert ent.post("/enterprise/profile/edit", data=data, content_type=MP).status_code == 303
    assert ent.post("/enterprise/profile/change/withdraw").status_code == 303
    db.session.expire_all()
    last = db.session.execute(db.select(ProfileChange).order_by(ProfileChange.id.desc())).scalars().first()
    assert last.status == RegStatus.WITHDRAWN and e.name == old


def test_change_to_a_uscc_taken_meanwhile_is_refused_at_approval(login):
    # rule: REG-9, REG-8
    e, ent_user = make_submitted("enterprise")
    c, _ = city_client(login)
    decide(c, "enterprise", e.id, action="approve")
    new_code = make_uscc()
    ent = login(ent_user)
    assert ent.post("/enterprise/profile/edit", data=form_of(e, uscc=new_code, op="change"),
                    content_type=MP).status_code == 303
    # While it is pending, nobody else can take that code either.
    other = make_enterprise(status=RegStatus.DRAFT, uscc=None)
    other_user = make_user(Role.ENTERPRISE, enterprise_id=other.id)
    db.session.commit()
    r = login(other_user).post("/enterprise/profile/edit", data=enterprise_form(uscc=new_code), content_type=MP)
    assert r.status_code == 422 and "已注册为工业企业账号" in r.get_data(as_text=True)
    # If it was taken anyway (say, directly in the database), approval refuses it.
    other.uscc = new_code
    db.session.commit()
    change = db.session.execute(db.select(ProfileChange)).scalar_one()
    assert decide(c, "change", change.id, action="approve").status_code == 409
    db.session.expire_all()
    assert e.uscc != new_code and change.status == RegStatus.CITY_REVIEW


def test_supplier_change_goes_city_then_province(login):
    # rule: REG-9, REG-4
    s, sup_user = make_submitted("supplier", city_code="440100")
    c, _ = city_client(login)
    province = make_user(Role.PROVINCE)
    expert = make_user(Role.EXPERT)
    db.session.commit()
    decide(c, "supplier", s.id, action="approve")
    registration.record_expert_review(s, expert, 90, "好")
    db.session.commit()
    p = login(province)
    assert decide(p, "supplier", s.id, bp="province", action="approve").status_code == 303
    sup = login(sup_user)
    rp = make_uscc()
    data = supplier_form(name=s.name, uscc=s.uscc, categories=["工业SaaS", "工业App"], endpoints="203.0.113.6",
                         related_parties=f"{rp} 新披露关联方有限公司", op="change")
    assert sup.post("/supplier/profile/edit", data=data, content_type=MP).status_code == 303
    db.session.expire_all()
    change = db.session.execute(db.select(ProfileChange)).scalar_one()
    assert set(change.proposed) == {"categories", "endpoints"}
    assert [p_.uscc for p_ in s.related_parties] == [rp]  # a disclosure applies at once
    assert s.categories == ["工业SaaS"]  # the reviewed facts wait
    assert decide(c, "change", change.id, action="approve").status_code == 303
    db.session.expire_all()
    assert change.status == RegStatus.PROVINCE_REVIEW
    assert change.id and decide(p, "change", change.id, bp="province", action="approve").status_code == 303
    db.session.expire_all()
    assert s.categories == ["工业SaaS", "工业App"] and s.endpoints == ["203.0.113.6"]


def test_eligibility_facts_shown_to_the_enterprise(login):
    # rule: ELIG-1, ELIG-2, ELIG-3, ELIG-4
    e, ent_user = make_submitted("enterprise", revenue_fen=500_000_000, established_on=dt.date(2015, 1, 1))
    c, _ = city_client(login)
    decide(c, "enterprise", e.id, action="approve")
    page = login(ent_user).get("/enterprise/profile").get_data(as_text=True)
    assert 'id="eligibility-facts"' in page
    assert "✓ 在广东省内注册" in page and "✓ 成立满 1 年" in page
    assert "✗ 上年度主营业务收入不低于 1000 万元" in page and "✓ 近 5 年无严重" in page


def test_resubmission_restarts_the_clock(login):
    # rule: SLA-1, REG-7
    with time_machine.travel(dt.datetime(2026, 9, 14, 2, 0, tzinfo=dt.timezone.utc), tick=False):
        e, ent_user = make_submitted("enterprise")
        db.session.commit()
        assert e.due_on == dt.date(2026, 9, 20)  # Sunday 9-20 is a make-up working day
        c, _ = city_client(login)
        decide(c, "enterprise", e.id, action="return", reason_field=["other"], reason_text=["补材料"])
    with time_machine.travel(dt.datetime(2026, 9, 24, 2, 0, tzinfo=dt.timezone.utc), tick=False):
        ent = login(ent_user)
        data = form_of(e)
        assert ent.post("/enterprise/profile/edit", data=data, content_type=MP).status_code == 303
        db.session.expire_all()
        # 9-25..27 Mid-autumn, 9-28/29/30, 10-1..7 National Day, 10-8, 10-9: five working days.
        assert e.due_on == dt.date(2026, 10, 9)


def test_notices_reach_all_users_of_the_applicant(login):
    # rule: REG-3, REG-5
    e, ent_user = make_submitted("enterprise")
    second = make_user(Role.ENTERPRISE, enterprise_id=e.id)
    other = make_user(Role.ENTERPRISE)
    c, _ = city_client(login)
    decide(c, "enterprise", e.id, action="approve")
    assert notices_of(second) and notices_of(ent_user) and not notices_of(other)
