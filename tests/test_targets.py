"""City targets, issuance quotas (CYC-3), payout budgets and pilot funds (CYC-4)."""
from __future__ import annotations

import re

import pytest

from blueprints.core import cycles
from blueprints.core.timeutil import today
from models import AuditEvent, Budget, CityTarget, Role, db
from tests.factories import make_target, make_user

HX = {"HX-Request": "true"}
GZ, SZ = "440100", "440300"


@pytest.fixture
def province(login_as):
    return login_as(Role.PROVINCE)


def _target(city=GZ, year=None) -> CityTarget | None:
    db.session.expire_all()
    return db.session.execute(db.select(CityTarget).where(
        CityTarget.city_code == city, CityTarget.year == (year or today().year))).scalar_one_or_none()


def _post_target(c, quota_wan: str, target_wan="1000", reason="年度计划下达", headers=None, city=GZ):
    return c.post(f"/province/targets/{today().year}/{city}", headers=headers or {},
                  data={"target_enterprises": "300", "target_amount": target_wan, "quota": quota_wan, "reason": reason})


@pytest.mark.parametrize("quota", ["900", "2100", "999.99", "2000.01"])
def test_a_quota_outside_1_to_2_times_the_target_is_refused(province, quota):
    # rule: CYC-3
    c, _ = province
    r = _post_target(c, quota, headers=HX)
    body = r.get_data(as_text=True)
    assert r.status_code == 422 and "<html" not in body and f'id="target-{GZ}-row"' in body
    assert "发放额度须为目标金额的1至2倍，即 ¥10,000,000.00 至 ¥20,000,000.00 之间" in body
    assert _target() is None
    assert db.session.execute(db.select(db.func.count(AuditEvent.id)).where(
        AuditEvent.entity_type == "city_target")).scalar_one() == 0


@pytest.mark.parametrize("quota, fen", [("1000", 10_000_000_00), ("1500", 15_000_000_00), ("2000", 20_000_000_00)])
def test_a_quota_from_1_to_2_times_the_target_is_accepted_and_audited(province, quota, fen):
    # rule: CYC-3, SUP-1
    c, user = province
    r = _post_target(c, quota, headers=HX)
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in body and f'id="target-{GZ}-row"' in body
    t = _target()
    assert (t.target_enterprises, t.target_amount_fen, t.quota_fen, t.issued_fen) == (300, 10_000_000_00, fen, 0)
    ev = db.session.execute(db.select(AuditEvent).where(AuditEvent.entity_type == "city_target")).scalar_one()
    assert (ev.entity_id, ev.reason, ev.actor_id) == (t.id, "年度计划下达", user.id)
    assert ev.data["after"]["quota_fen"] == fen and ev.data["before"] is None


def test_core_quota_rule():
    # rule: CYC-3
    assert cycles.quota_problem(100, 90) and cycles.quota_problem(100, 210)
    assert cycles.quota_problem(100, 100) is None and cycles.quota_problem(100, 200) is None


def test_changing_a_target_needs_a_reason_and_keeps_the_history(province):
    # rule: CYC-3
    c, _ = province
    assert _post_target(c, "1500").status_code == 303
    r = _post_target(c, "1800", reason="")
    assert r.status_code == 422 and "请填写调整理由" in r.get_data(as_text=True)
    assert _target().quota_fen == 15_000_000_00
    assert _post_target(c, "1800", reason="追加额度").status_code == 303
    assert _target().quota_fen == 18_000_000_00
    events = db.session.execute(db.select(AuditEvent).where(
        AuditEvent.entity_type == "city_target").order_by(AuditEvent.id)).scalars().all()
    assert [e.reason for e in events] == ["年度计划下达", "追加额度"]
    assert events[1].data["before"]["quota_fen"] == 15_000_000_00
    page = c.get("/province/targets").get_data(as_text=True)
    assert "追加额度" in page and "广州市" in page and "1,800.00万" in page


def test_a_quota_cannot_fall_below_what_was_issued(province):
    # rule: CYC-3
    c, _ = province
    t = make_target(GZ, target_fen=1_000_000_00, quota_fen=1_500_000_00)
    t.issued_fen = 1_200_000_00
    db.session.commit()
    r = _post_target(c, "110", target_wan="100")
    assert r.status_code == 422 and "发放额度不能低于本年度已发放的 ¥1,200,000.00" in r.get_data(as_text=True)
    assert _target().quota_fen == 1_500_000_00


def test_targets_page_lists_every_city_and_edits_inline(province):
    # rule: CYC-3
    c, _ = province
    make_target(SZ)
    db.session.commit()
    body = c.get("/province/targets").get_data(as_text=True)
    assert len(re.findall(r'id="target-\d{6}-row"', body)) == 21 and "未设置" in body
    r = c.get(f"/province/targets/{today().year}/{GZ}", headers=HX)
    assert r.status_code == 200 and "<html" not in r.get_data(as_text=True)
    assert 'name="reason"' in r.get_data(as_text=True)
    assert c.get(f"/province/targets/{today().year}/{GZ}").status_code == 200  # full page without htmx
    assert c.get(f"/province/targets/{today().year}/999999").status_code == 404
    r = c.get(f"/province/targets?year={today().year + 1}", headers=HX)
    body = r.get_data(as_text=True)
    assert "<html" not in body and 'id="target-results"' in body and "15,000.00万" not in body


# --------------------------------------------------------------------------- budgets (CYC-4)


def _post_budget(c, general, pilot, reason="第一期资金下达", period=None, headers=None, city=GZ):
    period = period or f"{today().year}-1"
    return c.post(f"/province/budgets/{period}/{city}", headers=headers or {},
                  data={"general": general, "pilot": pilot, "reason": reason})


def _budgets(city=GZ) -> dict:
    db.session.expire_all()
    return {b.kind: b for b in db.session.execute(db.select(Budget).where(Budget.city_code == city)).scalars()}


def test_payout_budget_and_pilot_fund_per_period(province):
    # rule: CYC-4, PIL-3
    c, user = province
    r = _post_budget(c, "800", "200", headers=HX)
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in body and f'id="budget-{GZ}-row"' in body
    b = _budgets()
    assert (b["general"].cap_fen, b["pilot"].cap_fen) == (8_000_000_00, 2_000_000_00)
    assert b["general"].period == f"{today().year}-1"
    events = db.session.execute(db.select(AuditEvent).where(AuditEvent.entity_type == "budget")).scalars().all()
    assert {(e.data["kind"], e.data["after"], e.reason) for e in events} == {
        ("general", 8_000_000_00, "第一期资金下达"), ("pilot", 2_000_000_00, "第一期资金下达")}
    # A second period is separate.
    assert _post_budget(c, "300", "0", period=f"{today().year}-2").status_code == 303
    assert db.session.execute(db.select(db.func.count(Budget.id))).scalar_one() == 3  # no empty pilot row


def test_budget_changes_need_a_reason_and_never_fall_below_what_is_committed(province):
    # rule: CYC-4
    c, _ = province
    assert _post_budget(c, "800", "200").status_code == 303
    b = _budgets()["general"]
    b.committed_fen = 5_000_000_00
    db.session.commit()
    r = _post_budget(c, "900", "200", reason="")
    assert r.status_code == 422 and "请填写调整理由" in r.get_data(as_text=True)
    r = _post_budget(c, "400", "200", reason="压减")
    assert r.status_code == 422 and "兑付预算不能低于已使用的 ¥5,000,000.00" in r.get_data(as_text=True)
    r = _post_budget(c, "abc", "200", reason="压减")
    assert r.status_code == 422 and "金额格式不正确" in r.get_data(as_text=True)
    assert _budgets()["general"].cap_fen == 8_000_000_00
    assert _post_budget(c, "600", "200", reason="调减").status_code == 303
    assert _budgets()["general"].cap_fen == 6_000_000_00
    page = c.get("/province/budgets").get_data(as_text=True)
    assert "调减" in page and body_has_city_rows(page)


def body_has_city_rows(body: str) -> bool:
    return len(re.findall(r'id="budget-\d{6}-row"', body)) == 21


def test_budget_period_must_be_well_formed(province):
    # rule: CYC-4
    c, _ = province
    assert _post_budget(c, "1", "0", period="2026-13").status_code == 404
    assert _post_budget(c, "1", "0", period="nonsense").status_code == 404
    assert db.session.execute(db.select(db.func.count(Budget.id))).scalar_one() == 0


# --------------------------------------------------------------------------- a city sees its own figures


def test_a_city_sees_its_own_figures_and_no_other_citys(app, login_as):
    # rule: CYC-3, CYC-4, ROLE-8
    admin = make_user(Role.PROVINCE)
    year = today().year
    cycles.set_target(GZ, year, admin, target_enterprises=321, target_amount_fen=1_234_000_000,
                      quota_fen=1_851_000_000, reason="广州年度目标")
    cycles.set_target(SZ, year, admin, target_enterprises=654, target_amount_fen=9_876_000_000,
                      quota_fen=19_752_000_000, reason="深圳年度目标")
    cycles.set_budgets(GZ, f"{year}-1", admin, caps={"general": 777_000_000, "pilot": 55_000_000}, reason="广州预算")
    cycles.set_budgets(SZ, f"{year}-1", admin, caps={"general": 888_000_000, "pilot": 66_000_000}, reason="深圳预算")
    db.session.commit()
    c, _ = login_as(Role.CITY, city_code=GZ)
    for url in ("/city/figures", f"/city/figures?city_code={SZ}&city={SZ}"):
        body = c.get(url).get_data(as_text=True)
        assert "广州市" in body and "321" in body and "1,851.00万" in body and "777.00万" in body and "广州预算" in body
        assert "深圳" not in body and "654" not in body and "19,752.00万" not in body and "888.00万" not in body
    home = c.get("/city/").get_data(as_text=True)
    assert 'id="panel-city-figures"' in home and "1,851.00万" in home
    # Another city's officer sees only its own.
    c2, _ = login_as(Role.CITY, city_code=SZ)
    body = c2.get("/city/figures").get_data(as_text=True)
    assert "19,752.00万" in body and "1,851.00万" not in body and "广州预算" not in body
    # Neither can reach the province's pages.
    assert c.get("/province/targets").status_code == 403
    assert c.post(f"/province/targets/{year}/{GZ}", data={"target_enterprises": "1", "target_amount": "1",
                                                          "quota": "2", "reason": "x"}).status_code == 403
