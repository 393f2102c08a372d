"""Publicity and payout: the allocation function on its own, then lists, objections, payout
batches and payments through blueprints/core/payout.py (PUB-1..4, PAY-1..7, PIL-3)."""
from __future__ import annotations

import datetime as dt

import pytest

from blueprints.core import payout, settlement
from blueprints.core.application import Refused
from blueprints.core.payout import Item, allocate
from blueprints.core.timeutil import today
from blueprints.core.workflow import NotAllowed
from models import (
    AuditEvent, Budget, EntryStatus, ListEntry, ListStatus, Notice, ObjStatus, Role, SetStatus, db,
)
from tests.factories import make_settlement, make_user, make_voucher

W = 10_000 * 100  # ¥10,000 in fen


def _items(*specs):
    """(amount in ¥10,000 units, pilot, carried) in submission order."""
    return [Item(n, a * W, p, c, (n,)) for n, (a, p, c) in enumerate(specs, 1)]


# --------------------------------------------------------------------------- the allocation (pure)


def test_the_issues_example():
    # rule: PAY-2, PAY-3, PAY-4, PAY-5, PIL-3 -- pilot fund 60,000, general 300,000; entries in submission
    # order 100,000; 50,000 (pilot); 120,000 (pilot); 90,000; 30,000
    items = _items((10, False, False), (5, True, False), (12, True, False), (9, False, False), (3, False, False))
    a = allocate(items, general_left=30 * W, pilot_left=6 * W)
    assert [(i.id, f) for i, f in a.paid] == [(2, "pilot"), (3, "general"), (1, "general")]
    assert [i.id for i in a.waiting] == [4, 5]  # the fourth does not fit: it and the fifth wait
    assert (a.pilot_left, a.general_left) == (1 * W, 8 * W)
    # next period, with the same budgets again: the carried-over ones come first, in their order
    nxt = allocate([Item(4, 9 * W, False, True, (4,)), Item(5, 3 * W, False, True, (5,)),
                    Item(6, 1 * W, False, False, (0,))], general_left=30 * W, pilot_left=6 * W)
    assert [i.id for i, _ in nxt.paid] == [4, 5, 6]


@pytest.mark.parametrize("specs, general, pilot, paid, waiting", [
    # rule: PAY-3 -- strictly in order: a small later entry never skips a big earlier one
    ([(5, False, False), (1, False, False)], 4, 0, [], [1, 2]),
    # rule: PAY-4 -- carried-over entries come first, even if submitted later
    ([(3, False, False), (3, False, True)], 3, 0, [(2, "general")], [1]),
    # rule: PAY-5 -- a pilot entry the fund cannot cover goes ahead of carried-over general entries
    ([(3, False, True), (4, True, False)], 4, 1, [(2, "general")], [1]),
    # rule: PAY-5 -- the pilot fund stops at the first pilot entry it cannot cover (no skipping)
    ([(5, True, False), (1, True, False)], 0, 4, [], [1, 2]),
    # rule: PAY-5 -- never split between funds: 5 does not come from 3 (pilot) + 2 (general)
    ([(5, True, False)], 2, 3, [], [1]),
    # exact fits are paid
    ([(2, True, False), (3, False, False)], 3, 2, [(1, "pilot"), (2, "general")], []),
    # nothing to pay
    ([], 10, 10, [], []),
])
def test_allocation_table(specs, general, pilot, paid, waiting):
    a = allocate(_items(*specs), general_left=general * W, pilot_left=pilot * W)
    assert [(i.id, f) for i, f in a.paid] == paid
    assert [i.id for i in a.waiting] == waiting


def test_allocation_property():
    # rule: PAY-3, PAY-5, PAY-6 -- never over budget, never out of order, never split, never paid twice
    from hypothesis import given, settings
    from hypothesis import strategies as st

    spec = st.tuples(st.integers(1, 50), st.booleans(), st.booleans())

    @settings(max_examples=300, deadline=None)
    @given(st.lists(spec, max_size=30), st.integers(0, 400), st.integers(0, 200))
    def check(specs, general, pilot):
        items = _items(*specs)
        a = allocate(items, general_left=general * W, pilot_left=pilot * W)
        ids = [i.id for i, _ in a.paid]
        assert len(ids) == len(set(ids))  # never twice
        assert sorted(ids + [i.id for i in a.waiting]) == [i.id for i in items]  # everyone paid or waiting
        assert a.pilot_fen <= pilot * W and a.general_fen <= general * W  # never over budget
        assert a.pilot_left == pilot * W - a.pilot_fen and a.general_left == general * W - a.general_fen
        pilots = sorted((i for i in items if i.pilot), key=lambda i: (not i.carried, i.order))
        from_pilot = [i for i, f in a.paid if f == "pilot"]
        assert from_pilot == pilots[:len(from_pilot)]  # the pilot fund serves a prefix of the pilot queue
        general_queue = pilots[len(from_pilot):] + sorted((i for i in items if not i.pilot),
                                                          key=lambda i: (not i.carried, i.order))
        from_general = [i for i, f in a.paid if f == "general"]
        assert from_general == general_queue[:len(from_general)]  # a prefix: nobody skips ahead
        assert list(a.waiting) == general_queue[len(from_general):]
        if a.waiting:  # the first waiting one truly did not fit
            assert a.waiting[0].amount > a.general_left

    check()


# --------------------------------------------------------------------------- helpers


def _approved(amount_yuan: int, *, pilot=False, city=None):
    v = make_voucher(fee_fen=amount_yuan * 100)
    if pilot:
        v.pilot = True
    st = make_settlement(v, stage="approved")
    db.session.commit()
    return st


def _budgets(period: str, general_yuan: int, pilot_yuan: int = 0, city="440100"):
    for kind, cap in (("general", general_yuan), ("pilot", pilot_yuan)):
        if cap:
            db.session.add(Budget(city_code=city, period=period, kind=kind, cap_fen=cap * 100, committed_fen=0))
    db.session.commit()


def _published(city_user, days=7, *, over=True):
    lst = payout.create_list("440100", "2026-1", city_user)
    payout.publish(lst, city_user, days)
    if over:  # time moved on: the publicity period has passed
        lst.publicity_ends_on = today() - dt.timedelta(days=1)
    db.session.commit()
    return lst


def _entries(lst):
    return db.session.execute(db.select(ListEntry).where(ListEntry.list_id == lst.id)
                              .order_by(ListEntry.seq)).scalars().all()


# --------------------------------------------------------------------------- lists and publicity


def test_a_list_gathers_approved_settlements_in_submission_order(app):
    # rule: DOC-2, PUB-1, PAY-7
    a = _approved(100_000)
    b = _approved(50_000)
    a.submitted_at, b.submitted_at = b.submitted_at, a.submitted_at  # b was filed first
    b.bonus_fen = 200_000_00
    db.session.commit()
    city = make_user(Role.CITY)
    lst = payout.create_list("440100", "2026-1", city)
    rows = _entries(lst)
    assert [e.settlement_id for e in rows] == [b.id, a.id]
    assert rows[0].amount_fen == b.voucher.face_value_fen + 200_000_00  # the bonus is paid with it
    assert lst.entries_count == 2 and lst.total_fen == sum(e.amount_fen for e in rows)
    with pytest.raises(Refused):  # nothing left to list
        payout.create_list("440100", "2026-1", city)
    assert lst.status == ListStatus.DRAFT


def test_publicity_is_at_least_seven_full_days(app):
    # rule: PUB-1
    _approved(10_000)
    city = make_user(Role.CITY)
    lst = payout.create_list("440100", "2026-1", city)
    with pytest.raises(Refused):
        payout.publish(lst, city, 6)
    payout.publish(lst, city, 7)
    assert lst.publicity_ends_on == today() + dt.timedelta(days=7)
    assert payout.in_publicity(lst) and not payout.publicity_over(lst)
    assert payout.in_publicity(lst, on=lst.publicity_ends_on)  # the seventh day is still publicity
    assert payout.publicity_over(lst, on=lst.publicity_ends_on + dt.timedelta(days=1))
    _budgets("2026-1", 1_000_000)
    alloc, _ = payout.propose("440100", "2026-1")
    assert alloc.paid == ()  # not payable during publicity


def test_only_the_city_publishes_its_own_list(app):
    # rule: PUB-1
    _approved(10_000)
    city = make_user(Role.CITY)
    lst = payout.create_list("440100", "2026-1", city)
    for who in (make_user(Role.CITY, city_code="440300"), make_user(Role.PROVINCE), make_user(Role.ENTERPRISE)):
        with pytest.raises(NotAllowed):
            payout.publish(lst, who, 7)
    payout.publish(lst, city, 10)
    assert lst.status == ListStatus.PUBLISHED and lst.publicity_days == 10


def test_a_discarded_draft_frees_its_settlements(app):
    st = _approved(10_000)
    city = make_user(Role.CITY)
    lst = payout.create_list("440100", "2026-1", city)
    payout.discard_list(lst, city)
    again = payout.create_list("440100", "2026-1", city)
    assert [e.settlement_id for e in _entries(again)] == [st.id] and again.seq == 2


# --------------------------------------------------------------------------- objections


def test_an_entry_under_objection_is_held_while_the_rest_is_paid(app):
    # rule: PUB-2, PUB-4, PAY-1
    a, b, c = _approved(30_000), _approved(20_000), _approved(10_000)
    city = make_user(Role.CITY)
    _budgets("2026-1", 1_000_000)
    lst = _published(city, over=False)
    ea, eb, ec = _entries(lst)
    objector = make_user(Role.SUPPLIER)
    obj = payout.raise_objection(lst, payout.ObjectionInput([eb.id], "该企业未实际使用云服务，发票与合同不符。"),
                                 user=objector)
    assert obj.tracking_no.startswith("YY") and eb.status == EntryStatus.HELD
    lst.publicity_ends_on = today() - dt.timedelta(days=1)
    db.session.commit()
    alloc, _ = payout.propose("440100", "2026-1")
    assert [i.id for i, _ in alloc.paid] == [ea.id, ec.id]  # the held one is skipped, the rest is paid
    payout.confirm("440100", "2026-1", city, payout.fingerprint(alloc))
    db.session.commit()
    # dismissed: released into the next batch, in its original place
    payout.city_answer(obj, city, ObjStatus.DISMISSED, "经核实，服务在用，发票真实。")
    db.session.commit()
    assert eb.status == EntryStatus.LISTED
    assert db.session.execute(db.select(Notice).where(Notice.title.like("您的异议已处理%"))).scalars().first()
    alloc, _ = payout.propose("440100", "2026-1")
    assert [i.id for i, _ in alloc.paid] == [eb.id]


def test_a_dismissed_objection_keeps_the_original_place(app):
    # rule: PUB-4, PAY-2 -- released, it is again ahead of everything submitted after it
    first, second = _approved(30_000), _approved(20_000)
    city = make_user(Role.CITY)
    _budgets("2026-1", 30_000)  # room for the first only
    lst = _published(city, over=False)
    e1, e2 = _entries(lst)
    obj = payout.raise_objection(lst, payout.ObjectionInput([e1.id], "发票号码与另一张服务券重复，请核实。"),
                                 user=make_user(Role.ENTERPRISE))
    lst.publicity_ends_on = today() - dt.timedelta(days=1)
    db.session.commit()
    alloc, _ = payout.propose("440100", "2026-1")
    assert [i.id for i, _ in alloc.paid] == [e2.id]  # while the first is held, the second would be paid
    payout.city_answer(obj, city, ObjStatus.DISMISSED, "经核实发票不重复。")
    alloc, _ = payout.propose("440100", "2026-1")
    assert [i.id for i, _ in alloc.paid] == [e1.id] and [i.id for i in alloc.waiting] == [e2.id]


def test_an_upheld_objection_takes_the_entry_off_and_back_to_the_city(app):
    # rule: PUB-2, PUB-3 -- escalated to the province, which records an on-site check
    st = _approved(10_000)
    city = make_user(Role.CITY)
    prov = make_user(Role.PROVINCE)
    lst = _published(city, over=False)
    (e,) = _entries(lst)
    obj = payout.raise_objection(lst, payout.ObjectionInput([e.id], "现场没有任何上云设备，系统从未登录使用。",
                                                            contact_name="王先生", contact="13800138000"))
    assert obj.raised_by is None and obj.contact == "13800138000"
    with pytest.raises(NotAllowed):  # the province does not answer for the city
        payout.city_answer(obj, prov, ObjStatus.UPHELD, "成立")
    payout.city_answer(obj, city, "escalate", "涉及技术认定，需专家现场核查。")
    assert obj.status == ObjStatus.ESCALATED and e.status == EntryStatus.HELD
    with pytest.raises(NotAllowed):  # now the city no longer decides
        payout.province_decide(obj, city, ObjStatus.UPHELD, "成立")
    with pytest.raises(Refused):  # an on-site check needs its findings
        payout.province_decide(obj, prov, ObjStatus.UPHELD, "成立", site_check_on=today())
    payout.province_decide(obj, prov, ObjStatus.UPHELD, "专家现场核查：服务未部署。", site_check_on=today(),
                           findings="机房无相关设备，系统无登录记录。")
    db.session.commit()
    assert obj.status == ObjStatus.UPHELD and e.status == EntryStatus.REMOVED
    assert st.status == SetStatus.CITY_REVIEW and st.due_on is not None
    actions = db.session.execute(db.select(AuditEvent.action).where(
        AuditEvent.entity_type == "list_entry", AuditEvent.entity_id == e.id).order_by(AuditEvent.id)).scalars().all()
    assert actions == ["hold", "remove"]
    settlement.reject(st, city, "材料虚假：服务未部署")  # the city may then reject it
    assert st.status == SetStatus.REJECTED


def test_objections_only_during_publicity_and_with_a_reachable_contact(app):
    # rule: PUB-2
    _approved(10_000)
    city = make_user(Role.CITY)
    lst = _published(city, over=False)
    (e,) = _entries(lst)
    errors = payout.check_objection(lst, payout.ObjectionInput([e.id], "太短", contact_name="", contact="abc"),
                                    public=True)
    assert set(errors) == {"text", "contact_name", "contact"}
    lst.publicity_ends_on = today() - dt.timedelta(days=1)
    with pytest.raises(Refused, match="不在公示期内"):
        payout.raise_objection(lst, payout.ObjectionInput([e.id], "公示期之后提出的异议内容足够长。"),
                               user=make_user(Role.ENTERPRISE))


# --------------------------------------------------------------------------- payout and payments


def test_confirm_commits_the_budget_and_refuses_a_stale_proposal(app):
    # rule: PAY-1, PAY-6
    _approved(30_000), _approved(20_000)
    city = make_user(Role.CITY)
    _budgets("2026-1", 40_000)
    _published(city)
    alloc, _ = payout.propose("440100", "2026-1")
    with pytest.raises(payout.Stale):
        payout.confirm("440100", "2026-1", city, "999:g")
    db.session.rollback()
    batch = payout.confirm("440100", "2026-1", city, payout.fingerprint(alloc))
    db.session.commit()
    b = db.session.execute(db.select(Budget).where(Budget.kind == "general")).scalar_one()
    assert b.committed_fen == 30_000_00 and batch.entries_count == 1 and batch.waiting_count == 1
    with pytest.raises(Refused):  # the same batch again: nothing fits any more
        payout.confirm("440100", "2026-1", city, payout.fingerprint(alloc))


def test_a_payment_is_recorded_once_and_notified(app):
    # rule: PAY-1
    st = _approved(10_000)
    city = make_user(Role.CITY)
    _budgets("2026-1", 40_000)
    _published(city)
    alloc, _ = payout.propose("440100", "2026-1")
    payout.confirm("440100", "2026-1", city, payout.fingerprint(alloc))
    db.session.commit()
    (e,) = db.session.execute(db.select(ListEntry)).scalars().all()
    with pytest.raises(Refused):
        payout.record_payment(e, city, today() + dt.timedelta(days=1), "BANK-0001")
    with pytest.raises(Refused):
        payout.record_payment(e, city, today(), "x")
    with pytest.raises(NotAllowed):
        payout.record_payment(e, make_user(Role.CITY, city_code="440300"), today(), "BANK-0001")
    payout.record_payment(e, city, today(), "BANK-0001")
    db.session.commit()
    assert e.status == EntryStatus.PAID and e.bank_ref == "BANK-0001"
    with pytest.raises(Refused):
        payout.record_payment(e, city, today(), "BANK-0002")
    titles = db.session.execute(db.select(Notice.title)).scalars().all()
    assert "服务券兑现款已支付" in titles and "客户的服务券兑现款已支付" in titles
    assert payout.place_of(e).state == "paid" and st.status == SetStatus.APPROVED


def test_the_place_in_the_queue_is_the_payouts_answer(app):
    # rule: PAY-2, PAY-3 -- the settlement page's position comes from the same allocation
    a, b, c = _approved(30_000), _approved(20_000), _approved(10_000)
    city = make_user(Role.CITY)
    _budgets("2026-1", 45_000)
    lst = _published(city)
    ea, eb, ec = _entries(lst)
    pa, pb, pc = (payout.place_of(e) for e in (ea, eb, ec))
    assert (pa.position, pa.ahead_fen, pa.fits) == (1, 0, True)
    assert (pb.position, pb.ahead_fen, pb.fits) == (2, 30_000_00, False)  # 20,000 > 15,000 left after the first
    assert (pc.position, pc.fits) == (3, False)  # strictly in order: waits behind the second
    assert pa.general_left == 45_000_00
    alloc, _ = payout.propose("440100", "2026-1")
    assert [i.id for i, _ in alloc.paid] == [e.id for e, p in zip((ea, eb, ec), (pa, pb, pc)) if p.fits]


def test_unpaid_entries_carry_over_into_the_next_period_first(app):
    # rule: PAY-4
    old = _approved(30_000)
    city = make_user(Role.CITY)
    _budgets("2026-1", 10_000)
    _published(city)
    assert payout.propose("440100", "2026-1")[0].paid == ()
    new = _approved(5_000)
    new.submitted_at = old.submitted_at - dt.timedelta(days=1)  # filed earlier, listed later
    db.session.commit()
    lst2 = payout.create_list("440100", "2026-2", city)
    payout.publish(lst2, city, 7)
    lst2.publicity_ends_on = today() - dt.timedelta(days=1)
    _budgets("2026-2", 30_000)
    alloc, _ = payout.propose("440100", "2026-2")
    paid_settlements = [db.session.get(ListEntry, i.id).settlement_id for i, _ in alloc.paid]
    assert paid_settlements == [old.id]  # carried over comes first; 5,000 no longer fits after 30,000


def test_the_city_cannot_approve_a_voucher_the_province_found_unused(app):
    # rule: VER-3, SET-6 -- an override to "not completed" after the settlement reached the city blocks approval
    from blueprints.core import usage

    st = make_settlement(stage="city_review")
    usage.override(st.voucher, make_user(Role.PROVINCE), "not_verified", "现场核查：服务未部署")
    with pytest.raises(Refused, match="上云用量未完成"):
        settlement.approve(st, make_user(Role.CITY))
    assert st.status == SetStatus.CITY_REVIEW
