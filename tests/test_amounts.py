"""Voucher amounts: AMT-1, AMT-2, AMT-3, AMT-5.

The property test drives the real service functions (submit, withdraw, approve) over random
sequences and compares every face value with a plain model of AMT-3.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blueprints.core import amounts, issuance
from blueprints.core import application as flow
from blueprints.core.workflow import NotAllowed
from models import AppStatus, CityTarget, Role, Voucher, db
from tests.factories import (
    make_application, make_catalog, make_cycle, make_enterprise, make_supplier, make_target, make_user, make_world,
)


def test_item_amount_is_the_smaller_of_cap_and_fee():
    # rule: AMT-1
    assert amounts.item_amount(200_000_00, 150_000_01) == 150_000_01
    assert amounts.item_amount(200_000_00, 250_000_00) == 200_000_00


def test_face_value_formula():
    # rule: AMT-3
    assert amounts.face_value(200_000_00, 500_000_00, 0, 0) == 200_000_00
    assert amounts.face_value(200_000_00, 500_000_00, 250_000_00, 100_000_00) == 150_000_00
    assert amounts.face_value(200_000_00, 500_000_00, 400_000_00, 100_000_00) == 0
    assert amounts.face_value(1, 100, 99, 5) == -4  # used up: nothing can be issued


def test_amounts_are_exact_integers():
    # rule: AMT-5
    for args in ((123_456_78, 987_654_32, 1, 3), (1, 2, 0, 0)):
        assert isinstance(amounts.face_value(*args), int)
    p = amounts.Preview(1, 1, 1, 1, 0, 0, 1, 1)
    assert all(isinstance(getattr(p, f), int) for f in ("item_amount_fen", "left_fen", "face_value_fen"))


def test_preview_counts_issued_and_earlier_pending_only(app):
    # rule: AMT-2, AMT-3
    w = make_world(cap_fen=500_000_00)
    make_application(w.enterprise, w.supplier, w.cycle, stage="approved", fee_fen=120_000_00, users=w.users)
    earlier = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", fee_fen=100_000_00,
                               users=w.users)
    make_application(w.enterprise, w.supplier, w.cycle, stage="draft", fee_fen=90_000_00, users=w.users)  # not held
    me = make_application(w.enterprise, w.supplier, w.cycle, stage="supplier_review", fee_fen=200_000_00,
                          users=w.users)
    later = make_application(w.enterprise, w.supplier, w.cycle, stage="supplier_review", fee_fen=50_000_00,
                             users=w.users)
    other_cycle = make_cycle(name="另一批次")
    make_application(w.enterprise, w.supplier, other_cycle, stage="city_review", fee_fen=100_000_00, users=w.users)
    p = flow.review_preview(me)
    assert (p.issued_fen, p.pending_fen, p.left_fen) == (120_000_00, 100_000_00, 280_000_00)
    assert p.face_value_fen == 200_000_00
    # The later one counts the earlier pending "me" as well.
    assert flow.review_preview(later).pending_fen == 300_000_00
    assert earlier.status == AppStatus.CITY_REVIEW


ops = st.lists(
    st.one_of(
        st.tuples(st.just("apply"), st.integers(min_value=1, max_value=300_000_00)),
        st.tuples(st.just("withdraw"), st.integers(min_value=0, max_value=20)),
        st.tuples(st.just("approve"), st.integers(min_value=0, max_value=20)),
    ),
    min_size=1, max_size=14,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(cap_yuan=st.integers(min_value=50_000, max_value=600_000), steps=ops)
def test_random_sequences_never_exceed_the_cap_and_serve_earlier_first(app, monkeypatch, cap_yuan, steps):
    # rule: AMT-3, AMT-2, AMT-1, APP-7, AMT-5
    monkeypatch.setattr(issuance, "render_voucher_pdf", lambda v: b"%PDF-1.4 stub")
    cap = cap_yuan * 100
    make_catalog(cap_fen=cap, items=(("SC-01", "生产数据上云", "生产管控", 200_000_00),))
    cycle, e, supplier = make_cycle(name="性质测试批次"), make_enterprise(), make_supplier()
    if db.session.execute(db.select(CityTarget).where(CityTarget.city_code == e.city_code,
                                                      CityTarget.year == cycle.year)).first() is None:
        make_target(city_code=e.city_code, year=cycle.year, quota_fen=10**12, target_fen=10**11)
    db.session.commit()
    users = {"enterprise": make_user(Role.ENTERPRISE, enterprise_id=e.id),
             "supplier": make_user(Role.SUPPLIER, supplier_id=supplier.id), "city": make_user(Role.CITY)}
    model: list[dict] = []  # in submission order: {"a", "item", "state", "face"}

    def issued() -> int:
        return sum(m["face"] for m in model if m["state"] == "approved")

    def pending_before(i: int) -> int:
        return sum(m["item"] for m in model[:i] if m["state"] == "pending")

    for op, arg in steps:
        if op == "apply":
            a = make_application(e, supplier, cycle, stage="city_review", fee_fen=arg, users=users)
            db.session.commit()
            model.append({"a": a, "item": min(200_000_00, arg), "state": "pending", "face": 0})
            assert a.item_amount_fen == model[-1]["item"]  # AMT-1
            continue
        if not model:
            continue
        i = arg % len(model)
        m = model[i]
        if op == "withdraw":
            if m["state"] != "pending":
                with pytest.raises(NotAllowed):
                    flow.withdraw(m["a"], users["enterprise"])
                db.session.rollback()
                continue
            flow.withdraw(m["a"], users["enterprise"])
            db.session.commit()
            m["state"] = "withdrawn"
            continue
        # approve
        if m["state"] != "pending":
            with pytest.raises(NotAllowed):
                issuance.approve(m["a"], users["city"])
            db.session.rollback()
            continue
        expected = min(m["item"], cap - issued() - pending_before(i))
        before = {j: min(x["item"], cap - issued() - pending_before(j))
                  for j, x in enumerate(model) if x["state"] == "pending" and j < i}
        if expected <= 0:
            with pytest.raises(issuance.IssueRefused):
                issuance.approve(m["a"], users["city"])
            db.session.rollback()
            continue
        v = issuance.approve(m["a"], users["city"])
        db.session.commit()
        assert v.face_value_fen == expected and isinstance(v.face_value_fen, int)
        m["state"], m["face"] = "approved", expected
        # Earlier pending applications lost nothing to this later one (served first).
        for j, could in before.items():
            assert min(model[j]["item"], cap - issued() - pending_before(j)) >= could
        total = db.session.execute(db.select(db.func.sum(Voucher.face_value_fen))
                                   .where(Voucher.enterprise_id == e.id)).scalar_one()
        assert total == issued() <= cap
    db.session.rollback()


def test_earlier_means_submitted_earlier_not_created_earlier(app):
    # rule: AMT-2 -- the queue follows the submission time, whatever order the applications were created in;
    # on the same instant the older record (lower id) goes first, so the order is total
    import datetime as dt

    w = make_world(cap_fen=500_000_00)
    first_made = make_application(w.enterprise, w.supplier, w.cycle, stage="supplier_review", fee_fen=110_000_00,
                                  users=w.users)
    second_made = make_application(w.enterprise, w.supplier, w.cycle, stage="supplier_review", fee_fen=70_000_00,
                                   users=w.users)
    tie = make_application(w.enterprise, w.supplier, w.cycle, stage="supplier_review", fee_fen=30_000_00,
                           users=w.users)
    t0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.timezone.utc)
    first_made.submitted_at = t0 + dt.timedelta(hours=2)  # created first, submitted last
    second_made.submitted_at = t0
    tie.submitted_at = t0  # the same instant as second_made, created after it
    db.session.commit()
    assert first_made.id < second_made.id < tie.id

    def earlier(a):
        return amounts.earlier_pending_sum(w.enterprise.id, w.cycle.id, a)

    assert earlier(second_made) == 0  # nothing before it: not the one created earlier, not its twin
    assert earlier(tie) == 70_000_00  # its twin of the same instant, created before it
    assert earlier(first_made) == 70_000_00 + 30_000_00  # both, though both were created after it
    assert earlier(None) == 210_000_00  # not yet submitted: every pending one is earlier
    # the preview shows the same queue
    assert flow.review_preview(first_made).pending_fen == 100_000_00
    assert flow.review_preview(second_made).pending_fen == 0


def test_preview_of_a_used_up_cap(app):
    # rule: AMT-3 -- the cumulative cap is used up exactly: nothing left, nothing would be issued, the form says
    # the cap (not the item) limits the amount
    w = make_world(cap_fen=300_000_00)
    make_application(w.enterprise, w.supplier, w.cycle, stage="approved", fee_fen=200_000_00, users=w.users)
    make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", fee_fen=100_000_00, users=w.users)
    me = make_application(w.enterprise, w.supplier, w.cycle, stage="draft", fee_fen=80_000_00, users=w.users)
    db.session.commit()
    p = amounts.preview(me, w.catalog, w.item, 80_000_00)
    assert (p.issued_fen, p.pending_fen, p.left_fen) == (200_000_00, 100_000_00, 0)
    assert p.item_amount_fen == 80_000_00 and p.face_value_fen == 0  # never negative
    assert p.used_up and p.limited_by_cap


def test_preview_limited_by_cap_only_when_the_cap_cuts_the_amount(app):
    # rule: AMT-3, AMT-1 -- a part of the item amount (cap cuts it), the whole of it (it does not), no item yet
    w = make_world(cap_fen=300_000_00)
    make_application(w.enterprise, w.supplier, w.cycle, stage="approved", fee_fen=200_000_00, users=w.users)
    me = make_application(w.enterprise, w.supplier, w.cycle, stage="draft", fee_fen=150_000_00, users=w.users)
    db.session.commit()
    cut = amounts.preview(me, w.catalog, w.item, 150_000_00)
    assert (cut.left_fen, cut.item_amount_fen, cut.face_value_fen) == (100_000_00, 150_000_00, 100_000_00)
    assert cut.limited_by_cap and not cut.used_up
    whole = amounts.preview(me, w.catalog, w.item, 100_000_00)  # exactly what is left: the cap does not cut it
    assert whole.face_value_fen == whole.item_amount_fen == 100_000_00
    assert not whole.limited_by_cap and not whole.used_up
    capped_item = amounts.preview(me, w.catalog, w.item, 250_000_00)  # AMT-1: the item cap, then the cumulative cap
    assert capped_item.item_amount_fen == 200_000_00 and capped_item.face_value_fen == 100_000_00
    for item, fee in ((None, 100_000_00), (w.item, None)):  # nothing chosen yet: no amounts, nothing limited
        p = amounts.preview(me, w.catalog, item, fee)
        assert p.item_amount_fen is None and p.face_value_fen is None
        assert not p.limited_by_cap and p.left_fen == 100_000_00
    none = amounts.preview(me, None, w.item, 100_000_00)  # no catalog in force: no cap at all
    assert none.cumulative_cap_fen == 0 and none.used_up and none.face_value_fen == 0


def test_void_and_released_vouchers_free_their_share(app):
    # rule: AMT-3 -- only vouchers still held count against the cumulative cap
    w = make_world(cap_fen=500_000_00)
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="approved", fee_fen=120_000_00, users=w.users)
    b = make_application(w.enterprise, w.supplier, w.cycle, stage="approved", fee_fen=60_000_00, users=w.users)
    db.session.commit()
    assert amounts.issued_sum(w.enterprise.id, w.cycle.id) == 180_000_00
    va = db.session.execute(db.select(Voucher).where(Voucher.application_id == a.id)).scalar_one()
    vb = db.session.execute(db.select(Voucher).where(Voucher.application_id == b.id)).scalar_one()
    va.status, vb.status = "void", "released"
    db.session.commit()
    assert amounts.issued_sum(w.enterprise.id, w.cycle.id) == 0
    vb.status = "issued"
    db.session.commit()
    assert amounts.issued_sum(w.enterprise.id, w.cycle.id) == 60_000_00
    assert amounts.issued_sum(w.enterprise.id, make_cycle(name="另一批次").id) == 0
