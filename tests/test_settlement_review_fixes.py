"""What the settlement review found, each pinned by a test: drafts and removed files stay the enterprise's,
a save never lands on a submitted settlement, misread invoice data is not pre-filled, bulk approval
isolates a concurrently decided item, a released voucher's draft is kept."""
from __future__ import annotations

import io

import pytest
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.datastructures import FileStorage, MultiDict

from blueprints.core import invoice_read, settlement, settlement_form
from blueprints.core.access import can_see
from models import Role, SetStatus, Settlement, StoredFile, User, db
from tests.factories import make_settlement, make_user, make_voucher, settlement_file_bytes


def _owner(st) -> User:
    return db.session.execute(db.select(User).where(User.enterprise_id == st.enterprise_id)).scalars().first()


def test_a_withdrawn_settlement_is_the_enterprises_alone_again(app, login):
    # rule: ROLE-8, SET-4
    st = make_settlement(stage="supplier_review")
    sup = make_user(Role.SUPPLIER, supplier_id=st.supplier_id)
    city = make_user(Role.CITY, city_code=st.city_code)
    assert can_see(sup, st) and can_see(city, st)
    settlement.withdraw(st, _owner(st))
    f = settlement_form._store(st, FileStorage(io.BytesIO(settlement_file_bytes("补充")), "补充.pdf"),
                               "settlement_other", _owner(st), "other_file", settlement_form.Parsed())
    db.session.commit()
    assert st.status == SetStatus.DRAFT and st.submitted_at is not None
    assert not can_see(sup, st) and not can_see(city, st) and not can_see(sup, f)
    assert login(sup).get(f"/supplier/settlements/{st.id}").status_code == 404
    assert f"settlement-{st.id}-row" not in login(sup).get("/supplier/settlements").get_data(as_text=True)
    assert can_see(_owner(st), st) and can_see(_owner(st), f)


def test_removed_material_is_not_served_to_reviewers(app):
    # rule: ROLE-8, DOC-3
    st = make_settlement()
    owner = _owner(st)
    f = settlement_form._store(st, FileStorage(io.BytesIO(settlement_file_bytes("旧材料")), "旧材料.pdf"),
                               "settlement_other", owner, "other_file", settlement_form.Parsed())
    settlement_form.remove_other_file(st, f.id)
    settlement.submit(st, owner)
    sup = make_user(Role.SUPPLIER, supplier_id=st.supplier_id)
    assert can_see(sup, st) and not can_see(sup, f)
    assert can_see(sup, db.session.get(StoredFile, st.acceptance_file_id))


def test_a_save_never_lands_on_a_settlement_submitted_meanwhile(app):
    # rule: SET-3 — the settlement row is updated (version checked) by every save
    st = make_settlement()
    owner = _owner(st)
    p = settlement_form.from_stored(st)
    db.session.execute(db.update(Settlement).where(Settlement.id == st.id)
                       .values(version=Settlement.version + 1, status=SetStatus.SUPPLIER_REVIEW)
                       .execution_options(synchronize_session=False))  # another request submitted it
    with pytest.raises(StaleDataError):
        settlement_form.save(st, p, {}, owner)
        db.session.flush()
    db.session.rollback()


def test_misread_invoice_data_is_not_pre_filled(app, monkeypatch):
    # rule: SET-1
    st = make_settlement(invoices=[{"number": "", "code": "", "seller_uscc": "", "file": None}])
    inv = st.invoices[0]
    reading = invoice_read.Reading(qr=None, number="123", code="4400261130", seller_uscc="91440300MA5G8ABCDE12",
                                   seller_name="某公司", sources=("text",))
    monkeypatch.setattr(invoice_read, "read", lambda data, mime: reading)
    form = MultiDict(settlement_form.from_stored(st).texts)
    p = settlement_form.parse(st, form)
    files = {f"inv-{inv.id}-file": FileStorage(io.BytesIO(settlement_file_bytes("发票")), "发票.pdf")}
    notes = settlement_form.save(st, p, files, _owner(st))
    db.session.flush()
    assert inv.number == "" and inv.seller_uscc == ""  # 3 digits, 20 characters: left to be typed
    assert inv.code == "4400261130" and p.prefilled == {f"inv-{inv.id}-code"}
    assert notes and "发票代码" in notes[0][1]


def test_bulk_approve_reports_an_item_decided_concurrently_and_keeps_the_others(app, monkeypatch):
    # rule: SET-6
    a = make_settlement(stage="city_review")
    b = make_settlement(make_voucher(), stage="city_review")
    city = make_user(Role.CITY, city_code=a.city_code)
    real = settlement.approve

    def approve(st, user):
        if st.id == a.id:
            raise StaleDataError("decided in another request")
        return real(st, user)

    monkeypatch.setattr(settlement, "approve", approve)
    results = settlement.bulk_approve([a.id, b.id], city)
    assert [(sid, ok) for sid, _, ok, _ in results] == [(a.id, False), (b.id, True)]
    assert "他人同时处理" in results[0][3]
    assert b.status == SetStatus.APPROVED


def test_a_disqualified_supplier_cannot_confirm_a_settlement(app):
    # rule: REL-4, SET-4
    st = make_settlement(stage="supplier_review")
    sup = make_user(Role.SUPPLIER, supplier_id=st.supplier_id)
    st.supplier.disqualified_until_cycle_id = st.cycle_id
    with pytest.raises(settlement.Refused, match="取消资格"):
        settlement.supplier_confirm(st, sup)
    assert st.status == SetStatus.SUPPLIER_REVIEW
    st.supplier.disqualified_until_cycle_id = None
    settlement.supplier_confirm(st, sup)
    assert st.status == SetStatus.VERIFICATION
