"""The voucher application from the enterprise's form to the city's decision.

Rules: APP-1, APP-2, APP-3, APP-4, APP-7, APP-8, DL-5, REL-1, PIL-2, REL-4, SLA-2, SLA-5, ELIG-9,
DOC-3, ROLE-8. Amounts and issuance are in test_issuance.py / test_amounts.py.
"""
from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from sqlalchemy import event

from blueprints.core import timeutil
from models import (
    AppStatus, Application, AuditEvent, ContractClaim, Notice, RelatedParty, Role, StoredFile, Voucher, db,
)
from tests.factories import (
    contract_jpeg_bytes, contract_pdf_bytes, make_application, make_enterprise, make_supplier, make_user, make_world,
)

HX = {"HX-Request": "true"}


def form_data(w, **over) -> dict:
    data = {
        "contract_no": "HT-2026-001", "contract_signed_on": "2025-06-01", "contract_fee": "150000",
        "catalog_item_id": str(w.item.id), "supplier_id": str(w.supplier.id), "place_in_guangdong": "y",
        "single_fund_declared": "y", "nonce": "nonce-1", "do": "save",
    }
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def with_file(data: dict, content: bytes | None = None, name: str = "合同.pdf", field: str = "contract_file") -> dict:
    data = dict(data)
    data[field] = (io.BytesIO(content if content is not None else contract_pdf_bytes()), name)
    return data


def new_draft(w) -> Application:
    from blueprints.core import application as flow

    a = flow.start(w.enterprise, w.ent_user)
    db.session.commit()
    return a


def audit_count(entity_id: int, action: str) -> int:
    return db.session.execute(
        db.select(db.func.count(AuditEvent.id)).where(AuditEvent.entity_type == "application",
                                                      AuditEvent.entity_id == entity_id, AuditEvent.action == action)
    ).scalar_one()


# --------------------------------------------------------------------------- before starting (ELIG-9)


def test_enterprise_sees_every_eligibility_check_before_it_starts(app, login):
    # rule: ELIG-9, ELIG-1, ELIG-2, ELIG-3, ELIG-4, ELIG-8
    w = make_world()
    db.session.commit()
    r = login(w.ent_user).get("/enterprise/applications/new")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    for rule in ("ELIG-1", "ELIG-2", "ELIG-3", "ELIG-4", "ELIG-8"):
        assert rule in html
    assert "application-start-button" in html


def test_ineligible_enterprise_sees_why_and_cannot_start(app, login):
    # rule: ELIG-9, ELIG-3
    w = make_world()
    w.enterprise.revenue_fen = 900_000_000  # 900万元
    db.session.commit()
    c = login(w.ent_user)
    html = c.get("/enterprise/applications/new").get_data(as_text=True)
    assert "低于 1000 万元" in html
    assert "application-start-button" not in html
    r = c.get("/enterprise/applications/new/form")
    assert r.status_code == 303 and r.headers["Location"].endswith("/enterprise/applications/new")
    assert c.post("/enterprise/applications/new/form", data=form_data(w)).status_code == 303
    assert db.session.execute(db.select(db.func.count(Application.id))).scalar_one() == 0


def test_start_opens_a_phone_first_form(app, login):
    # rule: APP-1, APP-8
    w = make_world()
    db.session.commit()
    c = login(w.ent_user)
    r = c.get("/enterprise/applications/new/form")
    assert r.status_code == 200
    assert db.session.execute(db.select(db.func.count(Application.id))).scalar_one() == 0  # opening stores nothing
    html = r.get_data(as_text=True)
    assert 'name="viewport"' in html
    assert 'accept="application/pdf,image/jpeg,image/png"' in html  # a plain file input (camera or files)
    assert 'capture="environment"' in html  # and a direct camera button
    assert 'type="date"' in html and 'inputmode="decimal"' in html
    assert "不包括购买自动化设备或非云化软件" in html  # CAT-4 beside the amount
    assert 'id="supplier-q"' in html and 'hx-get="/enterprise/applications/new/suppliers"' in html
    assert 'id="app-live"' in html


# --------------------------------------------------------------------------- drafts, uploads, submission


def test_a_phone_photo_of_the_contract_is_accepted(app, login):
    # rule: APP-8, DOC-3
    w = make_world()
    a = new_draft(w)
    c = login(w.ent_user)
    r = c.post(f"/enterprise/applications/{a.id}/edit",
               data=with_file(form_data(w), contract_jpeg_bytes(), "IMG_2041.jpg", field="contract_photo"),
               content_type="multipart/form-data")
    assert r.status_code == 303, r.get_data(as_text=True)[-1500:]
    db.session.refresh(a)
    f = db.session.get(StoredFile, a.contract_file_id)
    assert f.mime == "image/jpeg" and len(f.sha256) == 64
    assert f.owner_type == "application" and f.owner_id == a.id
    assert a.contract_fee_fen == 150_000_00 and a.status == AppStatus.DRAFT


def test_a_file_that_is_not_what_it_claims_is_refused_and_the_rest_saved(app, login):
    # rule: DOC-3 -- only the bad file is refused; the well-formed fields are saved
    w = make_world()
    a = new_draft(w)
    r = login(w.ent_user).post(f"/enterprise/applications/{a.id}/edit",
                               data=with_file(form_data(w), b"<html>not a pdf</html>", "合同.pdf"),
                               content_type="multipart/form-data")
    assert r.status_code == 422
    assert "文件内容与扩展名不符" in r.get_data(as_text=True)
    db.session.refresh(a)
    assert a.contract_file_id is None and a.contract_no == "HT-2026-001"


def test_bad_amount_and_date_are_refused_in_chinese(app, login):
    # rule: AMT-5, APP-1
    w = make_world()
    a = new_draft(w)
    r = login(w.ent_user).post(f"/enterprise/applications/{a.id}/edit",
                               data=form_data(w, contract_fee="1e5", contract_signed_on="2099-01-01"))
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "金额格式不正确" in html and "签订日期不能晚于今天" in html


def test_submit_needs_every_part_of_the_contract(app, login):
    # rule: APP-1, ELIG-9
    w = make_world()
    a = new_draft(w)
    r = login(w.ent_user).post(f"/enterprise/applications/{a.id}/edit", data={"do": "submit", "nonce": "n"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    for msg in ("请上传合同", "请填写合同编号", "请填写合同签订日期", "请填写合同所列上云上平台费用", "请选择目录服务项",
                "请选择供应商"):
        assert msg in html
    db.session.refresh(a)
    assert a.status == AppStatus.DRAFT and a.submitted_at is None


def test_submit_stamps_time_and_records_the_standard(app, login):
    # rule: APP-1, APP-2, AMT-1, CAT-3
    w = make_world()
    a = new_draft(w)
    moment = (timeutil.now() + dt.timedelta(hours=5)).replace(microsecond=0)
    with time_machine.travel(moment, tick=False):
        c = login(w.ent_user)
        r = c.post(f"/enterprise/applications/{a.id}/edit",
                   data=with_file(form_data(w, do="submit", contract_fee="250,000.50")),
                   content_type="multipart/form-data")
    assert r.status_code == 303, r.get_data(as_text=True)[-2000:]
    db.session.refresh(a)
    assert a.status == AppStatus.SUPPLIER_REVIEW
    assert a.submitted_at == moment
    assert a.catalog_version_id == w.catalog.id
    assert a.contract_fee_fen == 250_000_50
    assert a.item_amount_fen == 200_000_00  # AMT-1: min(item cap, fee)
    assert db.session.execute(db.select(ContractClaim).where(ContractClaim.application_id == a.id)).scalar_one()
    assert db.session.execute(db.select(Notice).where(Notice.user_id == w.sup_user.id)).scalar_one()


def test_a_double_click_or_a_replay_submits_once(app, login):
    # rule: APP-2
    w = make_world()
    a = new_draft(w)
    c = login(w.ent_user)
    data = form_data(w, do="submit", nonce="same-nonce")
    first = c.post(f"/enterprise/applications/{a.id}/edit", data=with_file(data), content_type="multipart/form-data")
    second = c.post(f"/enterprise/applications/{a.id}/edit", data=with_file(data), content_type="multipart/form-data")
    assert first.status_code == 303 and second.status_code == 303
    assert audit_count(a.id, "submit") == 1
    # Returned by the supplier, then the old form replayed: the nonce is spent, nothing is submitted.
    from blueprints.core import application as flow

    flow.return_(a, w.sup_user, ["合同编号与合同不一致"])
    db.session.commit()
    replay = c.post(f"/enterprise/applications/{a.id}/edit", data=data)
    assert replay.status_code == 422 and "请勿重复提交" in replay.get_data(as_text=True)
    db.session.refresh(a)
    assert a.status == AppStatus.RETURNED and audit_count(a.id, "submit") == 1


def test_resubmission_keeps_the_first_submission_time(app, login):
    # rule: APP-2, APP-3, AMT-2
    w = make_world()
    t1 = (timeutil.now() + dt.timedelta(hours=1)).replace(microsecond=0)
    with time_machine.travel(t1, tick=False):
        a = make_application(w.enterprise, w.supplier, w.cycle, stage="supplier_review", users=w.users)
        db.session.commit()
    with time_machine.travel(t1 + dt.timedelta(days=2), tick=False):
        r = login(w.sup_user).post(f"/supplier/applications/{a.id}/return",
                                   data={"reasons": ["合同编号与合同不一致"], "other": "请补充盖章页\n请上传完整合同"})
        assert r.status_code == 303
        db.session.refresh(a)
        assert a.status == AppStatus.RETURNED
        assert a.return_reasons == ["合同编号与合同不一致", "请补充盖章页", "请上传完整合同"]
        html = login(w.ent_user).get(f"/enterprise/applications/{a.id}").get_data(as_text=True)
        assert all(x in html for x in a.return_reasons) and "application-%d-returned" % a.id in html
    with time_machine.travel(t1 + dt.timedelta(days=3), tick=False):
        r = login(w.ent_user).post(f"/enterprise/applications/{a.id}/edit",
                                   data=form_data(w, do="submit", contract_no=a.contract_no, nonce="n-2"))
    assert r.status_code == 303, r.get_data(as_text=True)[-1500:]
    db.session.refresh(a)
    assert a.status == AppStatus.SUPPLIER_REVIEW
    assert a.submitted_at == t1  # APP-2: the first submission time is kept
    assert a.return_reasons == []
    assert audit_count(a.id, "submit") == 2


def test_withdraw_until_the_city_approves(app, login):
    # rule: APP-7
    w = make_world()
    c = login(w.ent_user)
    for stage in ("draft", "supplier_review", "city_review"):
        a = make_application(w.enterprise, w.supplier, w.cycle, stage=stage, users=w.users)
        db.session.commit()
        r = c.post(f"/enterprise/applications/{a.id}/withdraw")
        assert r.status_code == 303
        db.session.refresh(a)
        assert a.status == AppStatus.WITHDRAWN
        assert db.session.execute(db.select(ContractClaim).where(ContractClaim.application_id == a.id)).first() is None
    approved = make_application(w.enterprise, w.supplier, w.cycle, stage="approved", users=w.users)
    db.session.commit()
    r = c.post(f"/enterprise/applications/{approved.id}/withdraw")
    assert r.status_code == 409
    db.session.refresh(approved)
    assert approved.status == AppStatus.APPROVED
    assert "撤回申领" not in c.get(f"/enterprise/applications/{approved.id}").get_data(as_text=True)


def test_no_submission_after_the_application_deadline(app, login):
    # rule: DL-5
    w = make_world(days_to_deadline=5)
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="draft", users=w.users)
    db.session.commit()
    with time_machine.travel(timeutil.now() + dt.timedelta(days=7), tick=False):
        c = login(w.ent_user)
        r = c.post(f"/enterprise/applications/{a.id}/edit", data=form_data(w, do="submit", contract_no=a.contract_no))
        assert r.status_code == 422
        assert "截止" in r.get_data(as_text=True) and "不能再提交" in r.get_data(as_text=True)
        db.session.refresh(a)
        assert a.status == AppStatus.DRAFT
        assert "目前没有正在受理申领的批次" in c.get("/enterprise/applications/new").get_data(as_text=True)


# --------------------------------------------------------------------------- live search and preview (htmx)


def test_supplier_search_offers_only_registered_suppliers_in_good_standing(app, login):
    # rule: ELIG-8, REL-4
    w = make_world()
    good = make_supplier(name="云擎工业互联网有限公司")
    banned = make_supplier(name="云擎被取消资格有限公司", disqualified=True)
    unregistered = make_supplier(name="云擎未注册有限公司", status="city_review")
    a = new_draft(w)
    r = login(w.ent_user).get(f"/enterprise/applications/{a.id}/suppliers?supplier_q=云擎", headers=HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in html and 'id="supplier-results"' in html
    assert good.name in html and banned.name not in html and unregistered.name not in html


def test_preview_shows_the_face_value_as_the_enterprise_types(app, login):
    # rule: AMT-1, AMT-2, AMT-3
    w = make_world(cap_fen=300_000_00)
    make_application(w.enterprise, w.supplier, w.cycle, stage="supplier_review", fee_fen=200_000_00, users=w.users)
    a = new_draft(w)
    c = login(w.ent_user)
    url = f"/enterprise/applications/{a.id}/preview"
    r = c.get(url, query_string={"catalog_item_id": w.item.id, "contract_fee": "180000"}, headers=HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in html and 'id="app-live"' in html
    assert "¥180,000.00" in html  # item amount = fee (below the item cap)
    assert "¥200,000.00" in html  # the earlier pending application holds its share
    assert "¥100,000.00" in html  # face value = 300,000 - 200,000
    r = c.get(url, query_string={"catalog_item_id": w.item.id, "contract_fee": "abc"}, headers=HX)
    assert r.status_code == 200 and "填写费用并选择目录服务项后" in r.get_data(as_text=True)


# --------------------------------------------------------------------------- related parties (REL-1)


def test_related_party_needs_both_commitments_and_is_flagged(app, login):
    # rule: REL-1
    w = make_world()
    db.session.add(RelatedParty(supplier_id=w.supplier.id, uscc=w.enterprise.uscc, name=w.enterprise.name))
    a = new_draft(w)
    c = login(w.ent_user)
    live = c.get(f"/enterprise/applications/{a.id}/preview",
                 query_string={"supplier_id": w.supplier.id}, headers=HX).get_data(as_text=True)
    assert "related-notice" in live and "fair-price-commitment" in live
    r = c.post(f"/enterprise/applications/{a.id}/edit", data=with_file(form_data(w, do="submit")),
               content_type="multipart/form-data")
    assert r.status_code == 422 and "公允" in r.get_data(as_text=True)
    r = c.post(f"/enterprise/applications/{a.id}/edit", data=form_data(w, do="submit", enterprise_fair_price="y",
                                                                       nonce="n-2"))
    assert r.status_code == 303
    db.session.refresh(a)
    assert a.related_party and a.enterprise_fair_price
    s = login(w.sup_user)
    assert "本单位承诺：合同价格为公允的市场价格" in s.get(f"/supplier/applications/{a.id}").get_data(as_text=True)
    assert s.post(f"/supplier/applications/{a.id}/confirm").status_code == 409
    db.session.refresh(a)
    assert a.status == AppStatus.SUPPLIER_REVIEW
    assert s.post(f"/supplier/applications/{a.id}/confirm", data={"fair_price": "y"}).status_code == 303
    db.session.refresh(a)
    assert a.supplier_fair_price and a.status == AppStatus.CITY_REVIEW
    queue = login(w.city_user).get("/city/applications").get_data(as_text=True)
    assert "关联交易" in queue


def test_enterprise_can_declare_the_relation_itself(app):
    # rule: REL-1
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="supplier_review", related=True, users=w.users)
    assert a.related_party and a.enterprise_fair_price


# --------------------------------------------------------------------------- supplier (APP-3, PIL-2, REL-4)


def test_supplier_confirms_and_the_city_clock_starts(app, login):
    # rule: APP-3, SLA-2
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="supplier_review", users=w.users)
    other = make_application(stage="supplier_review")  # another supplier's customer
    db.session.commit()
    c = login(w.sup_user)
    html = c.get("/supplier/applications").get_data(as_text=True)
    assert f"application-{a.id}-row" in html and f"application-{other.id}-row" not in html
    assert c.get(f"/supplier/applications/{other.id}").status_code == 404  # ROLE-8
    r = c.post(f"/supplier/applications/{a.id}/confirm")
    assert r.status_code == 303
    db.session.refresh(a)
    assert a.status == AppStatus.CITY_REVIEW
    assert a.due_on == timeutil.add_working_days(timeutil.today(), 10)
    assert db.session.execute(db.select(Notice).where(Notice.user_id == w.city_user.id)).scalars().first()


def test_supplier_return_needs_at_least_one_reason(app, login):
    # rule: APP-3
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="supplier_review", users=w.users)
    db.session.commit()
    r = login(w.sup_user).post(f"/supplier/applications/{a.id}/return", data={"other": "  "})
    assert r.status_code == 422 and "请至少列出一条退回原因" in r.get_data(as_text=True)
    db.session.refresh(a)
    assert a.status == AppStatus.SUPPLIER_REVIEW


def test_a_pilot_unit_can_mark_the_application_pilot(app, login):
    # rule: PIL-2
    w = make_world()
    w.supplier.is_pilot = True
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="supplier_review", users=w.users)
    db.session.commit()
    c = login(w.sup_user)
    assert "标记为试点" in c.get(f"/supplier/applications/{a.id}").get_data(as_text=True)
    assert c.post(f"/supplier/applications/{a.id}/confirm", data={"pilot": "y"}).status_code == 303
    db.session.refresh(a)
    assert a.pilot
    from blueprints.core import issuance

    v = issuance.approve(a, w.city_user)
    assert v.pilot


def test_a_supplier_that_is_not_a_pilot_unit_cannot_mark_pilot(app, login):
    # rule: PIL-2
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="supplier_review", users=w.users)
    db.session.commit()
    c = login(w.sup_user)
    assert "标记为试点" not in c.get(f"/supplier/applications/{a.id}").get_data(as_text=True)
    r = c.post(f"/supplier/applications/{a.id}/confirm", data={"pilot": "y"})
    assert r.status_code == 409 and "只有试点单位才能将申领标记为试点" in r.get_data(as_text=True)
    db.session.refresh(a)
    assert not a.pilot and a.status == AppStatus.SUPPLIER_REVIEW


def test_a_disqualified_supplier_cannot_confirm(app, login):
    # rule: REL-4, ELIG-8
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="supplier_review", users=w.users)
    w.supplier.disqualified = True
    db.session.commit()
    c = login(w.sup_user)
    html = c.get(f"/supplier/applications/{a.id}").get_data(as_text=True)
    assert "已被取消资格" in html and f"application-{a.id}-confirm" not in html
    r = c.post(f"/supplier/applications/{a.id}/confirm")
    assert r.status_code == 409 and "不能确认申领" in r.get_data(as_text=True)
    db.session.refresh(a)
    assert a.status == AppStatus.SUPPLIER_REVIEW


# --------------------------------------------------------------------------- city review (APP-4, SLA-2, SLA-5)


def test_city_queue_shows_working_days_left_overdue_first(app, login):
    # rule: SLA-2, SLA-5, APP-4
    w = make_world()
    apps = [make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", fee_fen=10_000_00,
                             users=w.users) for _ in range(3)]
    today = timeutil.today()
    apps[0].due_on = timeutil.add_working_days(today, 8)
    apps[1].due_on = today - dt.timedelta(days=7)  # overdue
    apps[2].due_on = timeutil.add_working_days(today, 1)
    db.session.commit()
    html = login(w.city_user).get("/city/applications").get_data(as_text=True)
    pos = [html.index(f"application-{a.id}-row") for a in (apps[1], apps[2], apps[0])]
    assert pos == sorted(pos)
    assert "超期" in html and "剩 8 个工作日" in html and "剩 1 个工作日" in html
    only = login(w.city_user).get("/city/applications?overdue=y&status=city_review", headers=HX)
    body = only.get_data(as_text=True)
    assert "<html" not in body and f"application-{apps[1].id}-row" in body
    assert f"application-{apps[0].id}-row" not in body


def test_city_sees_the_contract_beside_the_figures(app, login):
    # rule: APP-4, DOC-3, ELIG-9, ROLE-8
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", users=w.users)
    draft = make_application(w.enterprise, w.supplier, w.cycle, stage="draft", users=w.users)
    db.session.commit()
    c = login(w.city_user)
    html = c.get(f"/city/applications/{a.id}").get_data(as_text=True)
    assert f"/files/{a.contract_file_id}?inline=1" in html and "打开合同 PDF" in html
    assert a.contract_no in html and "¥150,000.00" in html
    assert f"eligibility-{a.id}" in html and "通过后将发放的服务券" in html
    assert c.get(f"/files/{a.contract_file_id}?inline=1").status_code == 200
    # Another city's officer and an unrelated enterprise see nothing.
    other_city = login(make_user(Role.CITY, city_code="440300"))
    assert other_city.get(f"/city/applications/{a.id}").status_code == 404
    assert other_city.get(f"/files/{a.contract_file_id}").status_code == 404
    assert other_city.post(f"/city/applications/{a.id}/approve").status_code == 404
    stranger = login(make_user(Role.ENTERPRISE))
    assert stranger.get(f"/files/{a.contract_file_id}").status_code == 404
    # A draft is not in the city's view at all.
    assert c.get(f"/city/applications/{draft.id}").status_code == 404


def test_city_shows_an_image_contract_inline(app, login):
    # rule: APP-4, APP-8
    w = make_world()
    from blueprints.core import uploads

    a = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", users=w.users)
    f = uploads.store_bytes(contract_jpeg_bytes(), mime="image/jpeg", name="合同.jpg", kind="contract",
                            owner_type="application", owner_id=a.id, user_id=w.ent_user.id)
    db.session.execute(db.update(Application).where(Application.id == a.id).values(contract_file_id=f.id))
    db.session.commit()
    html = login(w.city_user).get(f"/city/applications/{a.id}").get_data(as_text=True)
    assert f'<img src="/files/{f.id}?inline=1"' in html


def test_city_returns_with_a_one_time_list(app, login):
    # rule: APP-4, ELIG-9
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", users=w.users)
    db.session.commit()
    r = login(w.city_user).post(f"/city/applications/{a.id}/return",
                                data={"reasons": ["合同未单独列明上云上平台费用", "不在列表中的理由会被忽略"],
                                      "other": "请补充付款计划"})
    assert r.status_code == 303
    db.session.refresh(a)
    assert a.status == AppStatus.RETURNED and a.returned_by == "city"
    assert a.return_reasons == ["合同未单独列明上云上平台费用", "请补充付款计划"]
    notice = db.session.execute(db.select(Notice).where(Notice.user_id == w.ent_user.id)
                                .order_by(Notice.id.desc())).scalars().first()
    assert "1. 合同未单独列明上云上平台费用" in notice.body and "2. 请补充付款计划" in notice.body


def test_city_rejects_with_a_reason_and_the_contract_is_freed(app, login):
    # rule: APP-4, ELIG-6
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", users=w.users)
    db.session.commit()
    c = login(w.city_user)
    assert c.post(f"/city/applications/{a.id}/reject", data={"reason": ""}).status_code == 422
    assert c.post(f"/city/applications/{a.id}/reject", data={"reason": "合同系伪造"}).status_code == 303
    db.session.refresh(a)
    assert a.status == AppStatus.REJECTED
    assert db.session.execute(db.select(ContractClaim).where(ContractClaim.application_id == a.id)).first() is None
    assert c.post(f"/city/applications/{a.id}/approve").status_code == 409


def test_bulk_approve_reports_each_item(app, login):
    # rule: APP-4, APP-5, AMT-3
    w = make_world(cap_fen=250_000_00)
    ok = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", fee_fen=200_000_00, users=w.users)
    capped = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", fee_fen=200_000_00,
                              users=w.users)
    db.session.commit()
    c = login(w.city_user)
    r = c.post("/city/applications/bulk/approve", data={"ids": [str(ok.id), str(capped.id), "999999"]}, headers=HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in html and 'id="bulk-results"' in html
    assert "已发放 GD-" in html and "✗ 所选记录：已不存在或无权处理" in html
    assert "#999999" not in html  # a row number means nothing to the officer
    db.session.refresh(ok)
    db.session.refresh(capped)
    assert ok.status == AppStatus.APPROVED and capped.status == AppStatus.APPROVED
    faces = sorted(v.face_value_fen for v in db.session.execute(db.select(Voucher)).scalars())
    assert faces == [50_000_00, 200_000_00]  # the second got what the cap left (AMT-3)
    third = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", fee_fen=100_000_00,
                             users=w.users)
    db.session.commit()
    html = c.post("/city/applications/bulk/approve", data={"ids": [str(third.id)]}, headers=HX).get_data(as_text=True)
    assert f"bulk-result-{third.id}" in html and "累计奖补上限" in html and "已用完" in html
    db.session.refresh(third)
    assert third.status == AppStatus.CITY_REVIEW


# --------------------------------------------------------------------------- lists (no N+1)


class QueryCounter:
    def __init__(self):
        self.n = 0

    def __call__(self, *args, **kw):
        self.n += 1


def _count_queries(client, url) -> int:
    db.session.commit()  # the same starting state for every measurement (the test shares the session)
    counter = QueryCounter()
    event.listen(db.engine, "before_cursor_execute", counter)
    try:
        r = client.get(url)
        assert r.status_code == 200, (url, r.get_data(as_text=True)[-1500:])
    finally:
        event.remove(db.engine, "before_cursor_execute", counter)
    return counter.n


@pytest.mark.parametrize("who,url", [
    ("enterprise", "/enterprise/applications"), ("enterprise", "/enterprise/vouchers"),
    ("supplier", "/supplier/applications"), ("supplier", "/supplier/customers"),
    ("city", "/city/applications?status="), ("city", "/city/vouchers"),
    ("province", "/province/applications"), ("province", "/province/vouchers"),
])
def test_lists_do_not_query_per_row(app, login, who, url):
    w = make_world(cap_fen=100_000_000_00)
    users = dict(w.users, province=make_user(Role.PROVINCE))
    make_application(w.enterprise, w.supplier, w.cycle, stage="approved", fee_fen=10_000_00, users=w.users)
    db.session.commit()
    c = login(users[who])
    few = _count_queries(c, url)
    for _ in range(4):
        e = make_enterprise()
        make_application(e, w.supplier, w.cycle, stage="approved", fee_fen=10_000_00, users={
            "supplier": w.sup_user, "city": w.city_user})
        make_application(w.enterprise, w.supplier, w.cycle, stage="approved", fee_fen=10_000_00, users=w.users)
    db.session.commit()
    many = _count_queries(c, url)
    assert many <= few, f"{url}: {few} queries for 1 row, {many} for 9"


def test_a_saved_draft_shows_its_preview_when_reopened(app, login):
    # rule: AMT-1, AMT-3
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="draft", fee_fen=120_000_00, users=w.users)
    db.session.commit()
    html = login(w.ent_user).get(f"/enterprise/applications/{a.id}/edit").get_data(as_text=True)
    assert 'class="face-value">¥120,000.00' in html
    assert f'value="{w.supplier.id}" checked' in html
