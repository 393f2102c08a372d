"""Supervision core: pilot units, spot checks, recoveries, sanctions, supplier quotas
(PIL-1, PIL-4, SUP-2, REL-2, REL-3, SUP-4)."""
from __future__ import annotations

import datetime as dt

import pytest

from blueprints.core import eligibility, payout, supervision
from blueprints.core.application import Refused
from blueprints.core.timeutil import today
from models import (
    AppStatus, Application, AuditEvent, Budget, Cycle, ListEntry, Role, Setting, SupplierQuota, Voucher, db,
)
from tests.factories import make_application, make_enterprise, make_settlement, make_supplier, make_user, make_voucher, make_world
from tests.test_issuance_concurrency import run_parallel

D = dt.date


def _pilot(s, prov):
    return supervision.select_pilot(s, prov, plan_title="智能制造上云试点", partners="甲公司\n乙公司", targets="服务 50 家企业",
                                    starts_on=today(), ends_on=today() + dt.timedelta(days=365), plan_file_id=None)


def test_the_province_selects_and_revokes_a_pilot_unit(app):
    # rule: PIL-1, PIL-4
    prov = make_user(Role.PROVINCE)
    s = make_supplier()
    v = make_voucher(supplier=s)
    v.pilot = True
    p = _pilot(s, prov)
    assert s.is_pilot and p.status == "active"
    with pytest.raises(supervision.FieldErrors):  # once is enough
        _pilot(s, prov)
    with pytest.raises(Refused):
        supervision.revoke_pilot(p, prov, "")
    supervision.revoke_pilot(p, prov, "未完成试点方案：服务企业数不足")
    assert not s.is_pilot and p.status == "revoked"
    assert v.pilot  # the customers' existing pilot vouchers are unaffected
    with pytest.raises(supervision.FieldErrors, match="不能再申报试点"):
        _pilot(s, prov)


def test_only_approved_suppliers_become_pilot_units(app):
    # rule: PIL-1
    from models import RegStatus

    with pytest.raises(supervision.FieldErrors):
        _pilot(make_supplier(status=RegStatus.CITY_REVIEW), make_user(Role.PROVINCE))


def test_a_city_records_spot_checks_on_its_own_targets_only(app):
    # rule: SUP-2
    gz = make_user(Role.CITY, city_code="440100")
    sz = make_user(Role.CITY, city_code="440300")
    e = make_enterprise(city_code="440100")
    with pytest.raises(supervision.FieldErrors, match="本市"):
        supervision.record_spot_check(sz, target_type="enterprise", target_id=e.id, checked_on=today(),
                                      inspectors="王五", findings="现场核查设备在用", result="pass")
    c = supervision.record_spot_check(gz, target_type="enterprise", target_id=e.id, checked_on=today(),
                                      inspectors="王五、赵六", findings="现场核查设备在用，系统有登录记录", result="pass")
    assert c.target_city == "440100" and c.city_code == "440100"
    ev = db.session.execute(db.select(AuditEvent).where(AuditEvent.entity_type == "enterprise",
                                                        AuditEvent.entity_id == e.id,
                                                        AuditEvent.action == "spot_check")).scalar_one()
    assert "合格" in ev.reason  # on the target's timeline
    with pytest.raises(supervision.FieldErrors) as bad:
        supervision.record_spot_check(gz, target_type="enterprise", target_id=e.id,
                                      checked_on=today() + dt.timedelta(days=1), inspectors="", findings="", result="x")
    assert set(bad.value.errors) == {"checked_on", "inspectors", "findings", "result"}


def _paid_voucher():
    st = make_settlement(make_voucher(fee_fen=100_000_00), stage="approved")
    city = make_user(Role.CITY)
    db.session.add(Budget(city_code="440100", period="2026-1", kind="general", cap_fen=10_000_000_00, committed_fen=0))
    lst = payout.create_list("440100", "2026-1", city)
    payout.publish(lst, city, 7)
    lst.publicity_ends_on = today() - dt.timedelta(days=1)
    payout.confirm("440100", "2026-1", city, payout.fingerprint(payout.propose("440100", "2026-1")[0]))
    entry = db.session.execute(db.select(ListEntry)).scalar_one()
    payout.record_payment(entry, city, today(), "REF-0001")
    return st.voucher, entry


def test_a_recovery_never_exceeds_what_was_paid(app):
    # rule: REL-2
    prov = make_user(Role.PROVINCE)
    unpaid = make_voucher()
    with pytest.raises(Refused, match="尚未支付"):
        supervision.record_recovery(unpaid, prov, amount_fen=100, reason="不合理", finding="审计")
    v, entry = _paid_voucher()
    supervision.record_recovery(v, prov, amount_fen=entry.amount_fen - 100_00, reason="合同价格明显高于市场价",
                                finding="审计报告第 3 条")
    with pytest.raises(supervision.FieldErrors, match="不能超过"):
        supervision.record_recovery(v, prov, amount_fen=100_01, reason="再收回", finding="审计")
    r = supervision.record_recovery(v, prov, amount_fen=100_00, reason="剩余部分", finding="审计")
    assert supervision.recovered_fen(v.id) == entry.amount_fen
    supervision.recovery_returned(r, prov, today(), "BACK-01")
    with pytest.raises(Refused):
        supervision.recovery_returned(r, prov, today(), "BACK-02")


def test_a_disqualified_supplier_is_out_for_this_and_the_next_cycle_only(app):
    # rule: REL-3
    prov = make_user(Role.PROVINCE)
    s = make_supplier()
    c1, c2, c3 = (Cycle(name=f"第{i}批", year=2026, status="announced", application_deadline=D(2026, 6, i),
                        settlement_deadline=D(2026, 12, i)) for i in (1, 2, 3))
    db.session.add_all([c1, c2])
    db.session.flush()
    supervision.impose(prov, kind="disqualify", reason="隐瞒与客户的关联关系", supplier=s, cycle_id=c1.id)
    assert "取消资格" in eligibility.supplier_problem(s, c1.id)
    assert "取消资格" in eligibility.supplier_problem(s, c2.id)
    db.session.add(c3)
    db.session.flush()
    assert eligibility.supplier_problem(s, c3.id) is None  # the one after is free again


def test_suspension_lasts_until_lifted_and_cancellation_is_final(app):
    # rule: SUP-4
    prov = make_user(Role.PROVINCE)
    e = make_enterprise()
    s = make_supplier()
    sus = supervision.impose(prov, kind="suspend", reason="服务实施不力", supplier=s)
    assert "暂停" in eligibility.supplier_problem(s, None)
    supervision.lift(sus, prov, "已完成整改")
    assert eligibility.supplier_problem(s, None) is None
    can = supervision.impose(prov, kind="cancel", reason="伪造发票骗取补贴", enterprise=e)
    checks = {c.rule: c for c in eligibility.check(e, None)}
    assert checks["ELIG-8"].ok is False and "骗补" in checks["ELIG-8"].reason
    with pytest.raises(Refused, match="不能解除"):
        supervision.lift(can, prov, "申诉")
    with pytest.raises(supervision.FieldErrors):
        supervision.impose(prov, kind="disqualify", reason="x", enterprise=e, cycle_id=None)


def test_the_supplier_quota_comes_from_the_default_and_can_be_adjusted(app):
    prov = make_user(Role.PROVINCE)
    s = make_supplier()
    assert supervision.take_supplier_quota(s, 2026, 10**9) is None  # no default: no cap
    supervision.set_default_quota(prov, in_province=True, amount_fen=200_000_00, reason="2026 年省内供应商默认上限")
    s2 = make_supplier()
    assert supervision.take_supplier_quota(s2, 2026, 150_000_00) is None
    msg = supervision.take_supplier_quota(s2, 2026, 60_000_00)
    assert msg and "发放上限已用完" in msg
    with pytest.raises(supervision.FieldErrors, match="不能低于"):
        supervision.set_supplier_quota(s2, 2026, prov, 100_000_00, "评价后下调")
    supervision.set_supplier_quota(s2, 2026, prov, 300_000_00, "评价优秀，上调")
    assert supervision.take_supplier_quota(s2, 2026, 60_000_00) is None


def test_parallel_approvals_never_exceed_the_supplier_quota(app, login, engine_name):
    # rule: CYC-3 -- the supplier's yearly cap holds like the city quota, on both engines
    w = make_world(quota_fen=10_000_000_00)
    db.session.add(Setting(key=supervision.QUOTA_SETTING[True], value=str(250_000_00)))
    apps = [make_application(make_enterprise(), w.supplier, w.cycle, stage="city_review", fee_fen=100_000_00,
                             users={"supplier": w.sup_user, "city": w.city_user}) for _ in range(6)]
    db.session.commit()
    codes = run_parallel([(login(w.city_user), f"/city/applications/{a.id}/approve") for a in apps])
    assert sorted(codes) == [303] * 2 + [409] * 4, codes
    q = db.session.execute(db.select(SupplierQuota)).scalar_one()
    faces = db.session.execute(db.select(Voucher.face_value_fen)).scalars().all()
    assert q.issued_fen == sum(faces) == 200_000_00 <= q.quota_fen
    assert db.session.execute(db.select(db.func.count()).where(
        Application.status == AppStatus.APPROVED)).scalar() == 2
