"""The supervision pages: spot checks and recoveries for cities and the province, pilot units,
sanctions and supplier quotas for the province, the public pilot list (SUP-2, REL-2, PIL-1, PIL-4, REL-3, SUP-4)."""
from __future__ import annotations

import datetime as dt
import io

from blueprints.core.timeutil import today
from models import AuditEvent, PilotUnit, Recovery, Role, Sanction, SpotCheck, SupplierQuota, db
from tests.factories import make_enterprise, make_supplier, make_user
from tests.test_supervision import _paid_voucher


def _as(login, role, **kw):
    u = make_user(role, **kw)
    db.session.commit()
    return login(u), u


def test_a_city_records_a_spot_check_and_sees_only_its_own(app, login):
    # rule: SUP-2
    e = make_enterprise(city_code="440100")
    other = make_enterprise(city_code="440300")
    db.session.commit()
    c, _ = _as(login, Role.CITY, city_code="440100")
    r = c.post("/city/spot-checks", data={"target_type": "enterprise", "target": other.uscc, "checked_on": today().isoformat(),
                                          "inspectors": "王五", "findings": "设备在用", "result": "pass"})
    assert r.status_code == 422 and "只能记录本市" in r.get_data(as_text=True)
    assert 'value="王五"' in r.get_data(as_text=True)  # what was typed stays
    r = c.post("/city/spot-checks", data={"target_type": "enterprise", "target": e.uscc, "checked_on": today().isoformat(),
                                          "inspectors": "王五、赵六", "findings": "设备在用，系统有登录记录", "result": "issues",
                                          "files": (io.BytesIO(b"not a pdf"), "x.pdf")}, content_type="multipart/form-data")
    assert r.status_code == 422 and db.session.execute(db.select(db.func.count()).select_from(SpotCheck)).scalar() == 0
    r = c.post("/city/spot-checks", data={"target_type": "enterprise", "target": e.uscc, "checked_on": today().isoformat(),
                                          "inspectors": "王五、赵六", "findings": "设备在用，系统有登录记录", "result": "issues"})
    assert r.status_code == 303
    assert e.name in c.get("/city/spot-checks").get_data(as_text=True)
    sz, _ = _as(login, Role.CITY, city_code="440300")
    assert e.name not in sz.get("/city/spot-checks").get_data(as_text=True)
    prov, _ = _as(login, Role.PROVINCE)
    assert e.name in prov.get("/province/spot-checks").get_data(as_text=True)


def test_recoveries_from_the_page_never_exceed_what_was_paid(app, login):
    # rule: REL-2
    v, entry = _paid_voucher()
    db.session.commit()
    c, _ = _as(login, Role.PROVINCE)
    too_much = f"{(entry.amount_fen + 1) / 100:.2f}"
    r = c.post("/province/recoveries", data={"voucher": v.code, "amount": too_much, "reason": "价格虚高", "finding": "审计"})
    assert r.status_code == 422 and "不能超过" in r.get_data(as_text=True)
    r = c.post("/province/recoveries", data={"voucher": v.code, "amount": "10000", "reason": "价格虚高", "finding": "审计报告"})
    assert r.status_code == 303
    rec = db.session.execute(db.select(Recovery)).scalar_one()
    assert rec.amount_fen == 10_000_00
    r = c.post(f"/province/recoveries/{rec.id}/returned", data={"returned_on": today().isoformat(), "returned_ref": "BACK-1"})
    assert r.status_code == 303
    overview = c.get("/province/payout?period=2026-1").get_data(as_text=True)  # the province's figures net it out
    assert "审计收回 ¥10,000.00" in overview
    # the voucher shows it to its enterprise
    from models import User

    eu = db.session.execute(db.select(User).where(User.enterprise_id == v.enterprise_id)).scalars().first()
    html = login(eu).get(f"/enterprise/vouchers/{v.id}").get_data(as_text=True)
    assert "资金收回" in html and "¥10,000.00" in html and "已退回" in html
    sz, _ = _as(login, Role.CITY, city_code="440300")
    assert sz.post(f"/city/recoveries/{rec.id}/returned", data={}).status_code == 404


def test_the_province_selects_and_revokes_pilots_and_the_public_sees_them(app, login):
    # rule: PIL-1, PIL-4
    s = make_supplier()
    db.session.commit()
    c, _ = _as(login, Role.PROVINCE)
    form = {"supplier": s.uscc, "plan_title": "制造业上云试点", "partners": "甲\n乙", "targets": "50 家",
            "starts_on": today().isoformat(), "ends_on": (today() + dt.timedelta(days=300)).isoformat()}
    assert c.post("/province/pilots", data=dict(form, ends_on=today().isoformat())).status_code == 422
    assert c.post("/province/pilots", data=form).status_code == 303
    p = db.session.execute(db.select(PilotUnit)).scalar_one()
    public = app.test_client().get("/public/pilots").get_data(as_text=True)
    assert s.name in public and "试点中" in public
    assert c.post(f"/province/pilots/{p.id}/revoke", data={"reason": ""}).status_code == 422
    assert c.post(f"/province/pilots/{p.id}/revoke", data={"reason": "未完成方案"}).status_code == 303
    db.session.expire_all()
    assert not s.is_pilot and "已撤销" in app.test_client().get("/public/pilots").get_data(as_text=True)


def test_the_province_suspends_and_lifts(app, login):
    # rule: SUP-4
    s = make_supplier()
    db.session.commit()
    c, _ = _as(login, Role.PROVINCE)
    assert c.post("/province/sanctions", data={"party_type": "supplier", "party": s.uscc, "kind": "suspend",
                                                "reason": ""}).status_code == 422
    assert c.post("/province/sanctions", data={"party_type": "supplier", "party": s.uscc, "kind": "suspend",
                                                "reason": "实施不力"}).status_code == 303
    sanction = db.session.execute(db.select(Sanction)).scalar_one()
    assert "生效中" in c.get("/province/sanctions").get_data(as_text=True)
    assert c.post(f"/province/sanctions/{sanction.id}/lift", data={"reason": "已整改"}).status_code == 303
    assert c.post(f"/province/sanctions/{sanction.id}/lift", data={"reason": "again"}).status_code == 409
    actions = db.session.execute(db.select(AuditEvent.action).where(AuditEvent.entity_type == "supplier",
                                                                    AuditEvent.entity_id == s.id)).scalars().all()
    assert "sanction_suspend" in actions and "sanction_lift" in actions


def test_the_province_sets_supplier_quotas(app, login):
    s = make_supplier()
    db.session.commit()
    c, _ = _as(login, Role.PROVINCE)
    page = c.get("/province/supplier-quotas").get_data(as_text=True)
    assert s.name in page and "不限" in page
    assert c.post("/province/supplier-quotas/defaults", data={"default_in": "abc", "reason": "x"}).status_code == 422
    assert c.post("/province/supplier-quotas/defaults", data={"default_in": "1000000", "default_out": "",
                                                               "reason": "2026 年默认"}).status_code == 303
    assert "¥1,000,000.00（默认）" in c.get("/province/supplier-quotas").get_data(as_text=True)
    assert c.post(f"/province/supplier-quotas/{s.id}", data={"amount": "2000000", "reason": "评价优秀"}).status_code == 303
    q = db.session.execute(db.select(SupplierQuota)).scalar_one()
    assert q.quota_fen == 2_000_000_00 and q.year == today().year


def test_a_sanctioned_supplier_is_marked_on_the_public_list(app, login):
    # rule: SUP-4, REL-3 -- where it concerns a supplier, the measure is on the public supplier list
    from blueprints.core import supervision

    s = make_supplier()
    supervision.impose(make_user(Role.PROVINCE), kind="suspend", reason="服务实施不力，限期整改", supplier=s)
    db.session.commit()
    client = app.test_client()
    listing = client.get("/suppliers").get_data(as_text=True)
    assert f'id="supplier-{s.id}-sanction-' in listing and "暂停资格" in listing
    detail = client.get(f"/suppliers/{s.id}").get_data(as_text=True)
    assert "服务实施不力" in detail
