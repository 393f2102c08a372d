"""Approval issues the voucher: code, face value, quota, PDF, binding, lists.

Rules: APP-5, APP-6, AMT-1, AMT-2, AMT-3, AMT-5, CYC-3, DOC-1, DOC-3, ELIG-8 (re-checked at review).
"""
from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import BigInteger, inspect as sa_inspect
from sqlalchemy.exc import IntegrityError

from blueprints.core import issuance
from models import (
    AppStatus, Application, AuditEvent, CityTarget, Role, StoredFile, Voucher, VoucherStatus, db,
)
from tests.factories import make_application, make_enterprise, make_supplier, make_user, make_world

HX = {"HX-Request": "true"}


def vouchers() -> list[Voucher]:
    return list(db.session.execute(db.select(Voucher).order_by(Voucher.id)).scalars())


def test_approval_issues_the_voucher_in_the_same_transaction(app, login):
    # rule: APP-5, DOC-1, AMT-1
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", fee_fen=120_000_00, users=w.users)
    db.session.commit()
    r = login(w.city_user).post(f"/city/applications/{a.id}/approve")
    assert r.status_code == 303
    db.session.refresh(a)
    assert a.status == AppStatus.APPROVED and a.decided_at is not None
    (v,) = vouchers()
    assert re.fullmatch(r"GD[A-Z2-7]{26}", v.code)  # 16 random bytes = 128 bits
    assert v.face_value_fen == 120_000_00 and v.status == VoucherStatus.ISSUED
    assert (v.enterprise_id, v.supplier_id, v.cycle_id, v.city_code) == (a.enterprise_id, a.supplier_id, a.cycle_id,
                                                                           a.city_code)
    f = db.session.get(StoredFile, v.pdf_file_id)
    assert f.owner_type == "voucher" and f.owner_id == v.id and f.mime == "application/pdf"
    assert db.session.execute(db.select(AuditEvent).where(AuditEvent.entity_type == "voucher",
                                                          AuditEvent.entity_id == v.id)).scalar_one().action == "issue"
    assert db.session.get(CityTarget, w.target.id).issued_fen == 120_000_00
    html = login(w.ent_user).get(f"/enterprise/vouchers/{v.id}").get_data(as_text=True)
    assert issuance.display_code(v.code) in html and "¥120,000.00" in html and "办理记录" in html


def test_codes_are_unique_unguessable_and_readable():
    # rule: APP-5
    codes = {issuance.new_code() for _ in range(2000)}
    assert len(codes) == 2000
    code = next(iter(codes))
    shown = issuance.display_code(code)
    assert re.fullmatch(r"GD(-[A-Z2-7]{4}){6}-[A-Z2-7]{2}", shown)
    assert issuance.normalize_code(shown.lower().replace("-", " ")) == code
    assert issuance.normalize_code("GD-0000") is None and issuance.normalize_code("") is None


def test_earlier_submissions_are_served_first(app, login):
    # rule: AMT-2, AMT-3
    w = make_world(cap_fen=300_000_00)
    earlier = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", fee_fen=200_000_00,
                               users=w.users)
    later = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", fee_fen=200_000_00, users=w.users)
    db.session.commit()
    c = login(w.city_user)
    html = c.get(f"/city/applications/{later.id}").get_data(as_text=True)
    assert "¥100,000.00" in html  # what approval would issue now: 300,000 - 200,000 held by the earlier one
    assert c.post(f"/city/applications/{later.id}/approve").status_code == 303
    assert c.post(f"/city/applications/{earlier.id}/approve").status_code == 303
    faces = {v.application_id: v.face_value_fen for v in vouchers()}
    assert faces == {later.id: 100_000_00, earlier.id: 200_000_00}
    assert sum(faces.values()) == 300_000_00


def test_a_used_up_cap_is_refused_with_a_clear_message(app, login):
    # rule: AMT-2, AMT-3
    w = make_world(cap_fen=200_000_00)
    make_application(w.enterprise, w.supplier, w.cycle, stage="approved", fee_fen=200_000_00, users=w.users)
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", fee_fen=50_000_00, users=w.users)
    db.session.commit()
    issued_before = db.session.get(CityTarget, w.target.id).issued_fen
    c = login(w.city_user)
    assert "累计奖补上限已用完" in c.get(f"/city/applications/{a.id}").get_data(as_text=True)
    r = c.post(f"/city/applications/{a.id}/approve")
    assert r.status_code == 409
    assert "累计奖补上限 ¥200,000.00 已用完" in r.get_data(as_text=True)
    db.session.refresh(a)
    assert a.status == AppStatus.CITY_REVIEW and len(vouchers()) == 1
    assert db.session.get(CityTarget, w.target.id).issued_fen == issued_before


def test_withdrawn_and_rejected_applications_free_their_share(app, login):
    # rule: AMT-3, APP-7
    w = make_world(cap_fen=300_000_00)
    first = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", fee_fen=200_000_00, users=w.users)
    second = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", fee_fen=150_000_00,
                              users=w.users)
    third = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", fee_fen=150_000_00, users=w.users)
    db.session.commit()
    login(w.ent_user).post(f"/enterprise/applications/{first.id}/withdraw")
    login(w.city_user).post(f"/city/applications/{second.id}/reject", data={"reason": "合同不实"})
    assert login(w.city_user).post(f"/city/applications/{third.id}/approve").status_code == 303
    assert [v.face_value_fen for v in vouchers()] == [150_000_00]


def test_the_city_quota_can_never_be_exceeded(app, login):
    # rule: CYC-3
    w = make_world(quota_fen=250_000_00)
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", fee_fen=200_000_00, users=w.users)
    e2 = make_enterprise()
    b = make_application(e2, w.supplier, w.cycle, stage="city_review", fee_fen=100_000_00,
                         users={"supplier": w.sup_user, "city": w.city_user})
    db.session.commit()
    c = login(w.city_user)
    assert c.post(f"/city/applications/{a.id}/approve").status_code == 303
    r = c.post(f"/city/applications/{b.id}/approve")
    assert r.status_code == 409 and "发放额度已用完" in r.get_data(as_text=True)
    assert db.session.get(CityTarget, w.target.id).issued_fen == 200_000_00
    db.session.refresh(b)
    assert b.status == AppStatus.CITY_REVIEW
    # The CHECK constraint is the backstop even for a bare UPDATE.
    with pytest.raises(IntegrityError):
        db.session.execute(db.update(CityTarget).where(CityTarget.id == w.target.id)
                           .values(issued_fen=CityTarget.quota_fen + 1))
        db.session.flush()
    db.session.rollback()


def test_no_quota_set_means_no_issuance(app, login):
    # rule: CYC-3
    w = make_world()
    db.session.delete(w.target)
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", users=w.users)
    db.session.commit()
    r = login(w.city_user).post(f"/city/applications/{a.id}/approve")
    assert r.status_code == 409 and "尚未下达" in r.get_data(as_text=True)
    assert vouchers() == []


def test_approval_rechecks_eligibility(app, login):
    # rule: ELIG-8, ELIG-4, APP-4
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", users=w.users)
    w.enterprise.suspended_until_cycle_id = w.cycle.id
    w.enterprise.violation_recorded = True
    db.session.commit()
    c = login(w.city_user)
    html = c.get(f"/city/applications/{a.id}").get_data(as_text=True)
    assert "暂停" in html and "严重违规" in html
    r = c.post(f"/city/applications/{a.id}/approve")
    assert r.status_code == 409 and "不符合申领条件" in r.get_data(as_text=True)
    assert vouchers() == []


def test_a_voucher_is_bound_to_its_enterprise_contract_and_supplier(app, login):
    # rule: APP-6
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="approved", users=w.users)
    db.session.commit()
    (v,) = vouchers()
    before = (v.code, v.enterprise_id, v.supplier_id, v.application_id, v.face_value_fen, a.contract_no,
              a.contract_file_id, a.supplier_id)
    other_e, other_s = make_enterprise(), make_supplier()
    db.session.commit()
    hostile = {"enterprise_id": other_e.id, "supplier_id": other_s.id, "contract_no": "X-1", "face_value_fen": 1,
               "code": "GDAAAAAAAAAAAAAAAAAAAAAAAAAA", "do": "save", "contract_fee": "1"}
    responses = [
        login(w.ent_user).post(f"/enterprise/applications/{a.id}/edit", data=hostile),
        login(w.ent_user).post(f"/enterprise/applications/{a.id}/withdraw", data=hostile),
        login(w.city_user).post(f"/city/applications/{a.id}/approve", data=hostile),
        login(w.city_user).post(f"/city/applications/{a.id}/return", data=dict(hostile, other="x")),
        login(w.sup_user).post(f"/supplier/applications/{a.id}/confirm", data=hostile),
        login(w.city_user).post("/city/applications/bulk/approve", data=dict(hostile, ids=[str(a.id)])),
    ]
    assert all(r.status_code in (200, 303, 409) for r in responses)
    db.session.expire_all()
    v, a = db.session.get(Voucher, v.id), db.session.get(Application, a.id)
    assert (v.code, v.enterprise_id, v.supplier_id, v.application_id, v.face_value_fen, a.contract_no,
            a.contract_file_id, a.supplier_id) == before
    assert len(vouchers()) == 1
    # Even code cannot change the owner: the ORM refuses the UPDATE.
    v.enterprise_id = other_e.id
    with pytest.raises(issuance.FrozenField):
        db.session.flush()
    db.session.rollback()
    a = db.session.get(Application, a.id)
    a.contract_no = "HT-CHANGED"
    with pytest.raises(issuance.FrozenField):
        db.session.flush()
    db.session.rollback()


def test_voucher_pdf_is_generated_once_and_carries_the_facts(app, login):
    # rule: DOC-1, AMT-5
    from pypdf import PdfReader

    w = make_world()
    make_application(w.enterprise, w.supplier, w.cycle, stage="approved", fee_fen=123_456_78, users=w.users)
    db.session.commit()
    (v,) = vouchers()
    c = login(w.ent_user)
    r = c.get(f"/enterprise/vouchers/{v.id}/pdf")
    assert r.status_code == 200 and r.mimetype == "application/pdf" and r.data.startswith(b"%PDF-")
    assert c.get(f"/enterprise/vouchers/{v.id}/pdf").data == r.data  # served from storage, not re-rendered
    import hashlib

    assert hashlib.sha256(r.data).hexdigest() == db.session.get(StoredFile, v.pdf_file_id).sha256
    reader = PdfReader(io.BytesIO(r.data))
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4
    text = reader.pages[0].extract_text()
    assert issuance.display_code(v.code) in text
    assert w.enterprise.name in text and w.supplier.name in text
    assert "¥123,456.78" in text and "壹拾贰万叁仟肆佰伍拾陆元柒角捌分" in text
    assert w.cycle.name in text and "扫码核验" in text
    assert f"/v/{v.code}" in text.replace("\n", "")
    # Others who may see the voucher get the same file; strangers do not.
    assert login(w.city_user).get(f"/files/{v.pdf_file_id}").data == r.data
    assert login(w.sup_user).get(f"/files/{v.pdf_file_id}").status_code == 200
    assert login(make_user(Role.ENTERPRISE)).get(f"/enterprise/vouchers/{v.id}/pdf").status_code == 404
    assert login(make_user(Role.CITY, city_code="440300")).get(f"/files/{v.pdf_file_id}").status_code == 404


def test_money_is_integer_fen_everywhere():
    # rule: AMT-5
    for model, cols in ((Voucher, ["face_value_fen"]), (Application, ["contract_fee_fen", "item_amount_fen"]),
                        (CityTarget, ["quota_fen", "issued_fen"])):
        columns = sa_inspect(model).columns
        for col in cols:
            assert isinstance(columns[col].type, BigInteger)
    assert issuance.chinese_amount(20_000_000) == "贰拾万元整"
    assert issuance.chinese_amount(100_050_000) == "壹佰万零伍佰元整"
    assert issuance.chinese_amount(101_000) == "壹仟零壹拾元整"


def test_city_voucher_list_filters_and_exports_xlsx(app, login):
    # rule: AMT-5, APP-5
    from openpyxl import load_workbook

    w = make_world()
    w.supplier.is_pilot = True
    make_application(w.enterprise, w.supplier, w.cycle, stage="approved", fee_fen=100_000_50, pilot=True,
                     users=w.users)
    e2 = make_enterprise(name="另一家企业有限公司")
    make_application(e2, w.supplier, w.cycle, stage="approved", fee_fen=80_000_00,
                     users={"supplier": w.sup_user, "city": w.city_user})
    other_city = make_world(city_code="440300")
    make_application(other_city.enterprise, other_city.supplier, other_city.cycle, stage="approved",
                     users=other_city.users)
    db.session.commit()
    c = login(w.city_user)
    html = c.get("/city/vouchers").get_data(as_text=True)
    assert w.enterprise.name in html and e2.name in html and other_city.enterprise.name not in html
    only_pilot = c.get("/city/vouchers?pilot=y", headers=HX).get_data(as_text=True)
    assert "<html" not in only_pilot and w.enterprise.name in only_pilot and e2.name not in only_pilot
    found = c.get("/city/vouchers", query_string={"q": "另一家"}, headers=HX).get_data(as_text=True)
    assert e2.name in found and w.enterprise.name not in found
    r = c.get("/city/vouchers/export.xlsx?pilot=y")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    ws = load_workbook(io.BytesIO(r.data)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == "券号" and len(rows) == 2
    assert rows[1][3] == w.enterprise.name and str(rows[1][8]) == "100000.5"
    prov = login(make_user(Role.PROVINCE)).get("/province/vouchers?city=440300").get_data(as_text=True)
    assert other_city.enterprise.name in prov and w.enterprise.name not in prov


def test_every_record_has_its_timeline(app, login):
    # rule: APP-5, APP-3, APP-4
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="approved", users=w.users)
    db.session.commit()
    (v,) = vouchers()
    for user, url in ((w.ent_user, f"/enterprise/applications/{a.id}"), (w.sup_user, f"/supplier/applications/{a.id}"),
                      (w.city_user, f"/city/applications/{a.id}"), (w.city_user, f"/city/vouchers/{v.id}"),
                      (make_user(Role.PROVINCE), f"/province/vouchers/{v.id}")):
        html = login(user).get(url).get_data(as_text=True)
        assert "办理记录" in html and "供应商确认中" in html and "已通过" in html, url
