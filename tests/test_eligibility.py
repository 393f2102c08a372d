"""Eligibility (ELIG-1..9): one function, every check with its reason; the same contract only once."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.exc import IntegrityError

from blueprints.core import application as flow
from blueprints.core import eligibility
from blueprints.core.timeutil import today
from models import AppStatus, ContractClaim, Setting, db
from tests.factories import contract_pdf_bytes, make_application, make_supplier, make_world


def by_rule(checks, rule):
    return [c for c in checks if c.rule == rule]


def test_a_good_application_passes_every_check(app):
    # rule: ELIG-1, ELIG-2, ELIG-3, ELIG-4, ELIG-5, ELIG-6, ELIG-7, ELIG-8, ELIG-9
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="draft", users=w.users)
    checks = eligibility.check(w.enterprise, a)
    assert {c.rule for c in checks} == {f"ELIG-{i}" for i in (1, 2, 3, 4, 5, 6, 7, 8)}
    assert eligibility.all_passed(checks), [c for c in checks if c.ok is not True]
    assert all(c.reason for c in checks)


def test_before_the_contract_is_entered_its_checks_are_pending(app):
    # rule: ELIG-9
    w = make_world()
    a = flow.start(w.enterprise, w.ent_user)
    checks = eligibility.check(w.enterprise, a)
    assert by_rule(checks, "ELIG-5")[0].ok is None and "请填写合同签订日期" in by_rule(checks, "ELIG-5")[0].reason
    assert not eligibility.failures(checks)
    assert not eligibility.all_passed(checks)


@pytest.mark.parametrize("change,rule,reason", [
    ({"status": "city_review"}, "ELIG-1", "尚未通过地市审核"),
    ({"established_on": "recent"}, "ELIG-2", "才满 1 年"),
    ({"established_on": None}, "ELIG-2", "没有成立日期"),
    ({"revenue_fen": 999_999_999}, "ELIG-3", "低于 1000 万元"),
    ({"revenue_fen": None}, "ELIG-3", "没有上年度主营业务收入"),
    ({"no_violation_declared": False}, "ELIG-4", "尚未声明"),
    ({"violation_recorded": True}, "ELIG-4", "已记录"),
    ({"disqualified": True}, "ELIG-8", "已被取消"),
    ({"suspended_until_cycle_id": "this"}, "ELIG-8", "暂停"),
])
def test_each_enterprise_check_fails_with_its_reason(app, change, rule, reason):
    # rule: ELIG-1, ELIG-2, ELIG-3, ELIG-4, ELIG-8, ELIG-9
    w = make_world()
    for field, value in change.items():
        if value == "recent":
            value = today() - dt.timedelta(days=200)
        if value == "this":
            value = w.cycle.id
        setattr(w.enterprise, field, value)
    checks = eligibility.check(w.enterprise, cycle_id=w.cycle.id)
    failed = eligibility.failures(checks)
    assert [c.rule for c in failed] == [rule]
    assert reason in failed[0].reason


def test_one_full_year_is_counted_to_the_day(app):
    # rule: ELIG-2
    w = make_world()
    w.enterprise.established_on = today().replace(year=today().year - 1)
    assert by_rule(eligibility.check(w.enterprise), "ELIG-2")[0].ok is True
    w.enterprise.established_on = today().replace(year=today().year - 1) + dt.timedelta(days=1)
    assert by_rule(eligibility.check(w.enterprise), "ELIG-2")[0].ok is False


def test_revenue_of_exactly_ten_million_passes(app):
    # rule: ELIG-3
    w = make_world()
    w.enterprise.revenue_fen = 10_000_000_00
    assert by_rule(eligibility.check(w.enterprise), "ELIG-3")[0].ok is True


def test_suspension_ends_after_its_cycle(app):
    # rule: ELIG-8
    w = make_world()
    w.enterprise.suspended_until_cycle_id = w.cycle.id - 1
    assert by_rule(eligibility.check(w.enterprise, cycle_id=w.cycle.id), "ELIG-8")[0].ok is True


def test_contract_must_be_signed_after_the_setting_date(app):
    # rule: ELIG-5
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="draft", signed_on=dt.date(2018, 3, 20),
                         users=w.users)
    c = by_rule(eligibility.check(w.enterprise, a), "ELIG-5")[0]
    assert c.ok is False and "2018-03-20" in c.reason
    a.contract_signed_on = dt.date(2018, 3, 21)
    assert by_rule(eligibility.check(w.enterprise, a), "ELIG-5")[0].ok is True
    db.session.add(Setting(key=eligibility.CONTRACT_AFTER_SETTING, value="2019-01-01"))
    assert by_rule(eligibility.check(w.enterprise, a), "ELIG-5")[0].ok is False


def test_place_of_implementation_must_be_in_guangdong(app):
    # rule: ELIG-7
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="draft", users=w.users)
    a.place_in_guangdong = False
    c = by_rule(eligibility.check(w.enterprise, a), "ELIG-7")[0]
    assert c.ok is None and "请确认项目实施地点在广东省内" in c.reason  # a declaration not yet made
    with pytest.raises(flow.Refused, match="广东省内"):
        flow.submit(a, w.ent_user)


def test_single_fund_declaration_is_required_to_submit(app):
    # rule: ELIG-6
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="draft", users=w.users)
    a.single_fund_declared = False
    with pytest.raises(flow.Refused, match="只申请本项专项资金"):
        flow.submit(a, w.ent_user)


def test_the_chosen_supplier_must_be_registered_and_not_disqualified(app):
    # rule: ELIG-8, REL-4
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="draft", users=w.users)
    w.supplier.disqualified_until_cycle_id = w.cycle.id
    c = by_rule(eligibility.check(w.enterprise, a), "ELIG-8")
    assert [x.ok for x in c] == [True, False] and "本批次被取消资格" in c[1].reason
    with pytest.raises(flow.Refused, match="取消资格"):
        flow.submit(a, w.ent_user)


def test_the_same_contract_number_with_the_same_supplier_backs_one_application(app, login):
    # rule: ELIG-6
    w = make_world()
    first = make_application(w.enterprise, w.supplier, w.cycle, stage="supplier_review", contract_no="HT-7",
                             users=w.users)
    second = make_application(w.enterprise, w.supplier, w.cycle, stage="draft", contract_no="HT-7", users=w.users)
    db.session.commit()
    reason = by_rule(eligibility.check(w.enterprise, second), "ELIG-6")[0].reason
    assert "合同编号“HT-7”（同一供应商）已用于另一项申领" in reason  # the number, not the file, is the clash
    # the first stands on its own claim: that is no conflict with itself (the city's review page)
    assert by_rule(eligibility.check(w.enterprise, first), "ELIG-6")[0].ok is True
    r = login(w.ent_user).post(f"/enterprise/applications/{second.id}/edit", data={
        "contract_no": "HT-7", "contract_signed_on": "2025-01-10", "contract_fee": "150000",
        "catalog_item_id": str(w.item.id), "supplier_id": str(w.supplier.id), "place_in_guangdong": "y",
        "single_fund_declared": "y", "nonce": "x", "do": "submit"})
    assert r.status_code == 422 and "一份合同只能申领一张服务券" in r.get_data(as_text=True)
    db.session.refresh(second)
    assert second.status == AppStatus.DRAFT
    # The same number with another supplier is another contract.
    other = make_supplier()
    third = make_application(w.enterprise, other, w.cycle, stage="supplier_review", contract_no="HT-7",
                             users=w.users)
    assert third.status == AppStatus.SUPPLIER_REVIEW
    # Withdrawing the first frees its contract.
    flow.withdraw(first, w.ent_user)
    flow.submit(second, w.ent_user)
    assert second.status == AppStatus.SUPPLIER_REVIEW


def test_the_same_file_backs_one_application(app):
    # rule: ELIG-6, DOC-3
    w = make_world()
    pdf = contract_pdf_bytes("同一份合同")
    make_application(w.enterprise, w.supplier, w.cycle, stage="supplier_review", file_bytes=pdf, users=w.users)
    other = make_supplier()
    dup = make_application(w.enterprise, other, w.cycle, stage="draft", file_bytes=pdf, users=w.users)
    with pytest.raises(flow.Refused, match="同一份合同文件"):
        flow.submit(dup, w.ent_user)


def test_the_database_refuses_a_second_claim_even_without_the_check(app):
    # rule: ELIG-6 (race-free: two concurrent submissions cannot both pass a prior read)
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="supplier_review", contract_no="HT-9",
                         users=w.users)
    b = make_application(w.enterprise, w.supplier, w.cycle, stage="draft", contract_no="HT-10", users=w.users)
    db.session.commit()
    sha = db.session.execute(db.select(ContractClaim.file_sha256).where(ContractClaim.application_id == a.id)
                             ).scalar_one()
    db.session.add(ContractClaim(application_id=b.id, supplier_id=w.supplier.id,
                                 contract_no=eligibility.contract_key("HT-9"),  # claims store the normalised key
                                 file_sha256="0" * 64))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
    db.session.add(ContractClaim(application_id=b.id, supplier_id=w.supplier.id, contract_no="HT-11",
                                 file_sha256=sha))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


@pytest.mark.parametrize("city_code", ["110000", None])
def test_an_approved_enterprise_outside_the_guangdong_cities_fails_elig_1(app, city_code):
    # rule: ELIG-1 -- approval alone is not enough: the registered city must be one of Guangdong's 21
    w = make_world()
    assert by_rule(eligibility.check(w.enterprise), "ELIG-1")[0].ok is True
    with db.session.no_autoflush:
        w.enterprise.city_code = city_code
        c = by_rule(eligibility.check(w.enterprise), "ELIG-1")[0]
    assert c.ok is False and "不在广东省" in c.reason
    db.session.rollback()


def test_established_on_29_february_is_a_full_year_on_1_march(app):
    # rule: ELIG-2 -- 2025 has no 29 February: the first full year ends with 28 February, so 1 March counts
    import time_machine

    w = make_world()
    w.enterprise.established_on = dt.date(2024, 2, 29)
    shanghai_noon = dt.timezone(dt.timedelta(hours=8))
    with time_machine.travel(dt.datetime(2025, 2, 28, 12, 0, tzinfo=shanghai_noon), tick=False):
        c = by_rule(eligibility.check(w.enterprise), "ELIG-2")[0]
        assert c.ok is False and "2025-03-01 起才满 1 年" in c.reason
    with time_machine.travel(dt.datetime(2025, 3, 1, 12, 0, tzinfo=shanghai_noon), tick=False):
        assert by_rule(eligibility.check(w.enterprise), "ELIG-2")[0].ok is True


@pytest.mark.parametrize("change, reason", [
    ({"status": "city_review"}, "尚未完成注册审核"),
    ({"status": "returned"}, "尚未完成注册审核"),
    ({"disqualified": True}, "已被取消资格"),
])
def test_an_unapproved_or_disqualified_supplier_fails_elig_8(app, change, reason):
    # rule: ELIG-8, REL-4 -- the chosen supplier must be approved and never disqualified
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="draft", users=w.users)
    assert by_rule(eligibility.check(w.enterprise, a), "ELIG-8")[1].ok is True
    for field, value in change.items():
        setattr(w.supplier, field, value)
    c = by_rule(eligibility.check(w.enterprise, a), "ELIG-8")[1]
    assert c.ok is False and reason in c.reason and w.supplier.name in c.reason
    assert eligibility.supplier_problem(w.supplier, w.cycle.id) == c.reason
    with pytest.raises(flow.Refused):
        flow.submit(a, w.ent_user)


def test_a_supplier_disqualified_for_an_earlier_cycle_passes_elig_8(app):
    # rule: ELIG-8, REL-4 -- a disqualification up to an earlier cycle has ended
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="draft", users=w.users)
    w.supplier.disqualified_until_cycle_id = w.cycle.id - 1
    assert by_rule(eligibility.check(w.enterprise, a), "ELIG-8")[1].ok is True
    assert eligibility.supplier_problem(None, w.cycle.id) == "尚未选择供应商"


def test_related_when_declared_or_listed_by_this_supplier(app):
    # rule: REL-1 — the enterprise declares it, or this supplier lists the enterprise's USCC among its related parties
    from models import RelatedParty

    w = make_world()
    other = make_supplier()
    assert not eligibility.is_related(w.enterprise, w.supplier)
    assert eligibility.is_related(w.enterprise, w.supplier, declared=True)
    assert eligibility.is_related(w.enterprise, None, declared=True)
    assert not eligibility.is_related(w.enterprise, None)
    db.session.add(RelatedParty(supplier_id=other.id, uscc=w.enterprise.uscc, name=w.enterprise.name))
    db.session.add(RelatedParty(supplier_id=w.supplier.id, uscc="91440101MA5XXXXX9Z", name="另一家企业"))
    db.session.flush()
    assert not eligibility.is_related(w.enterprise, w.supplier)  # another supplier's list, another USCC
    assert eligibility.is_related(w.enterprise, other)
    w.enterprise.uscc = ""  # no USCC on file: nothing to match
    assert not eligibility.is_related(w.enterprise, other)


def test_contract_numbers_compare_in_one_form():
    # rule: ELIG-6 — full-width, case, spaces and separators do not make another contract
    assert eligibility.contract_key("HT-2026/01") == eligibility.contract_key("ｈｔ2026 01") == "HT202601"
    assert eligibility.contract_key(None) == eligibility.contract_key("") == ""


def test_two_void_vouchers_suspend_the_one_next_cycle(app, monkeypatch):
    # rule: DL-3, ELIG-8 — the penalty's suspended cycle fails ELIG-8 with its reason; any other cycle passes,
    # with the warning shown
    from blueprints.core import settlement
    from models import Cycle

    w = make_world()
    text = "已有 2 张服务券作废，暂停“下一批次”的申领资格"
    monkeypatch.setattr(settlement, "penalty", lambda eid: settlement.Penalty(2, False, Cycle(id=w.cycle.id), text))
    c = by_rule(eligibility.check(w.enterprise, cycle_id=w.cycle.id), "ELIG-8")[0]
    assert c.ok is False and c.reason == text
    c = by_rule(eligibility.check(w.enterprise, cycle_id=w.cycle.id + 1), "ELIG-8")[0]
    assert c.ok is True and text in c.reason


@pytest.mark.parametrize("voids, text, reason", [
    (0, "", "申领资格正常"),
    (1, "", "本批次申领资格正常（已有 1 张服务券作废，累计 2 张将暂停下一批次申领）"),
])
def test_a_void_voucher_is_a_warning_on_elig_8(app, monkeypatch, voids, text, reason):
    # rule: DL-3, ELIG-8 — one void voucher still passes, and the enterprise is told what a second one means
    from blueprints.core import settlement

    w = make_world()
    monkeypatch.setattr(settlement, "penalty", lambda eid: settlement.Penalty(voids, False, None, text))
    c = by_rule(eligibility.check(w.enterprise, cycle_id=w.cycle.id), "ELIG-8")[0]
    assert c.ok is True and c.reason == reason


def test_three_void_vouchers_disqualify(app, monkeypatch):
    # rule: DL-4, ELIG-8 — the penalty's disqualification fails ELIG-8 in every cycle, with its reason
    from blueprints.core import settlement

    w = make_world()
    text = "已有 3 张服务券作废，申领资格已被取消"
    monkeypatch.setattr(settlement, "penalty", lambda eid: settlement.Penalty(3, True, None, text))
    for cycle_id in (w.cycle.id, w.cycle.id + 1, None):
        c = by_rule(eligibility.check(w.enterprise, cycle_id=cycle_id), "ELIG-8")[0]
        assert c.ok is False and c.reason == text
