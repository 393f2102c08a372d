"""Payout decisions without a database: the queue place, publicity dates, objection and payment checks
(PUB-1, PUB-2, PAY-1..5).

Fast on purpose: with the allocation tests of tests/test_payout_core.py it is the test set that mutation
testing (F22) runs after each change to the decision functions of blueprints/core/payout.py.
"""
from __future__ import annotations

import datetime as dt

import pytest

from blueprints.core import payout
from blueprints.core.payout import Item, ObjectionInput, allocate
from blueprints.core.timeutil import today
from models import EntryStatus, ListEntry, ListStatus, PayoutBatch, SettlementList

W = 10_000 * 100  # ¥10,000 in fen


def test_the_queue_place_counts_the_amount_ahead_and_the_fund():
    # rule: PAY-2, PAY-3, PAY-5 — what the settlement page shows: position, amount ahead, which fund pays
    items = [Item(1, 3 * W, True, False, (1,)), Item(2, 5 * W, False, False, (2,)), Item(3, 4 * W, False, False, (3,))]
    a = allocate(items, general_left=6 * W, pilot_left=3 * W)
    assert a.pilot_fen == 3 * W and a.general_fen == 5 * W
    assert a.place_of(1) == (1, 0, "pilot")
    assert a.place_of(2) == (2, 3 * W, "general")
    assert a.place_of(3) == (3, 8 * W, None)  # waits: the general budget has 1 left
    assert a.place_of(99) is None


def test_an_allocation_refuses_duplicates_and_non_positive_amounts():
    # rule: PAY-6 — one entry is never paid twice; amounts are positive fen
    with pytest.raises(ValueError):
        allocate([Item(1, W), Item(1, W)], general_left=10 * W, pilot_left=0)
    with pytest.raises(ValueError):
        allocate([Item(1, 0)], general_left=10 * W, pilot_left=0)
    a = allocate([Item(1, 1)], general_left=1, pilot_left=0)  # one fen that fits exactly is paid
    assert [i.id for i, _ in a.paid] == [1] and a.general_left == 0


def test_carried_pilot_items_go_first_in_the_pilot_queue():
    # rule: PAY-4, PAY-5 — a carried-over pilot entry is served before a newer one, by the pilot fund
    items = [Item(1, 2 * W, True, False, (1,)), Item(2, 2 * W, True, True, (2,))]
    a = allocate(items, general_left=0, pilot_left=2 * W)
    assert [(i.id, f) for i, f in a.paid] == [(2, "pilot")]
    assert [i.id for i in a.waiting] == [1]


def test_publicity_runs_to_the_end_of_its_last_day():
    # rule: PUB-1 — objections until the last day of publicity included; payout from the day after
    last = dt.date(2026, 5, 10)
    lst = SettlementList(status=ListStatus.PUBLISHED, publicity_ends_on=last)
    assert payout.in_publicity(lst, on=last) and not payout.publicity_over(lst, on=last)
    assert payout.in_publicity(lst, on=last - dt.timedelta(days=1))
    nxt = last + dt.timedelta(days=1)
    assert not payout.in_publicity(lst, on=nxt) and payout.publicity_over(lst, on=nxt)
    for draft in (SettlementList(status=ListStatus.DRAFT, publicity_ends_on=last),
                  SettlementList(status=ListStatus.PUBLISHED, publicity_ends_on=None)):
        assert not payout.in_publicity(draft, on=last) and not payout.publicity_over(draft, on=nxt)


def _err(lst, *, text="所列企业并未实际使用该云服务，请核实。", name="张三", contact="13800138000", public=True,
         entries=()):
    return payout.check_objection(lst, ObjectionInput(list(entries), text, contact_name=name, contact=contact),
                                  public=public)


def test_objection_fields_are_checked(app):
    # rule: PUB-2 — facts of at least 10 characters, at most 2000; the public leaves a name and a phone or email
    lst = SettlementList(id=10**9, status=ListStatus.PUBLISHED, publicity_ends_on=today())
    assert set(_err(lst)) == {"entries"}  # nothing chosen
    assert "entries" in _err(lst, entries=[10**9])  # not an entry of this list
    assert "text" not in _err(lst, text="一二三四五六七八九十")  # exactly 10
    assert "text" in _err(lst, text=" 一二三四五六七八九 ")
    assert "text" not in _err(lst, text="字" * 2000)
    assert "text" in _err(lst, text="字" * 2001)
    for ok in ("13800138000", "138 0013 8000", "020-12345678", "a@b.cn"):
        assert "contact" not in _err(lst, contact=ok), ok
    assert "contact" in _err(lst, contact="12345")
    assert "contact_name" in _err(lst, name="  ")
    assert set(_err(lst, name="", contact="", public=False)) == {"entries"}  # a logged-in user is known
    over = SettlementList(id=10**9, status=ListStatus.PUBLISHED, publicity_ends_on=today() - dt.timedelta(days=1))
    assert "" in _err(over) and "" not in _err(lst)


def test_payment_checks(app):
    # rule: PAY-1 — a committed entry, a date from the batch's day (Beijing time) to today, a bank reference
    confirmed = dt.datetime(2026, 3, 1, 20, 0, tzinfo=dt.timezone.utc)  # 2 March in Beijing
    e = ListEntry(status=EntryStatus.COMMITTED, batch=PayoutBatch(confirmed_at=confirmed))
    assert payout.payment_problems(e, dt.date(2026, 3, 2), "BANK-0001") == {}
    assert payout.payment_problems(e, today(), "BANK-0001") == {}
    assert set(payout.payment_problems(e, dt.date(2026, 3, 1), "BANK-0001")) == {"paid_on"}
    assert set(payout.payment_problems(e, today() + dt.timedelta(days=1), "BANK-0001")) == {"paid_on"}
    assert set(payout.payment_problems(e, None, "BANK-0001")) == {"paid_on"}
    assert set(payout.payment_problems(e, today(), "x")) == {"bank_ref"}
    assert set(payout.payment_problems(e, today(), "")) == {"bank_ref"}
    no_batch = ListEntry(status=EntryStatus.COMMITTED, batch=None)
    assert payout.payment_problems(no_batch, dt.date(2020, 1, 1), "BANK-0001") == {}
    paid = ListEntry(status=EntryStatus.PAID, batch=None)
    assert set(payout.payment_problems(paid, today(), "BANK-0001")) == {""}
