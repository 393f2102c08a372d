"""Voucher amounts (issue #5): AMT-1, AMT-2, AMT-3, AMT-5.

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
