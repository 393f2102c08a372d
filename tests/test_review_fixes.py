"""Defects found by the code review (each test fails without its fix).

Rules: APP-1, CAT-3, ELIG-6, ELIG-8, REL-1, REL-4, ROLE-8, REG-3, CYC-3, DOC-3 (R32).
"""
from __future__ import annotations

import datetime as dt
import io
from types import SimpleNamespace

import pytest
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import FileStorage

from blueprints.core import application as flow
from blueprints.core import cycles, eligibility, issuance, registration, uploads
from models import (
    AppStatus, Application, ContractClaim, Enterprise, RegStatus, RelatedParty, Role, StoredFile, db,
)
from tests.factories import (
    contract_pdf_bytes, make_application, make_catalog, make_enterprise, make_supplier, make_user, make_world,
)


def form_data(w, **over) -> dict:
    data = {
        "contract_no": "HT-2026-001", "contract_signed_on": "2025-06-01", "contract_fee": "150000",
        "catalog_item_id": str(w.item.id), "supplier_id": str(w.supplier.id), "place_in_guangdong": "y",
        "single_fund_declared": "y", "nonce": "nonce-1", "do": "save",
    }
    data.update(over)
    return data


def new_draft(w) -> Application:
    a = Application(enterprise_id=w.enterprise.id, cycle_id=w.cycle.id, city_code=w.enterprise.city_code,
                    status=AppStatus.DRAFT, return_reasons=[])
    db.session.add(a)
    db.session.commit()
    return a


# --------------------------------------------------------------------------- 1. catalog item / supplier ids


@pytest.mark.parametrize("field", ["catalog_item_id", "supplier_id"])
def test_unknown_item_or_supplier_id_is_a_form_error_not_a_500(login, field):
    # rule: APP-1, CAT-3, ELIG-8 (a non-existent id must not reach the FK: 422 beside that field; what else was
    # typed is kept, and the bad id is not stored)
    w = make_world()
    a = new_draft(w)
    r = login(w.ent_user).post(f"/enterprise/applications/{a.id}/edit", data=form_data(w, **{field: "999999"}))
    assert r.status_code == 422
    assert "所选" in r.get_data(as_text=True)
    db.session.expire_all()
    a = db.session.get(Application, a.id)
    assert a.contract_no == "HT-2026-001"  # the rest of the form is saved
    assert getattr(a, field) is None  # the unknown id is not
    other = "supplier_id" if field == "catalog_item_id" else "catalog_item_id"
    assert getattr(a, other) == (w.supplier.id if other == "supplier_id" else w.item.id)


def test_item_of_an_unpublished_draft_version_is_refused(login):
    # rule: CAT-3 (only the version in force; a draft item must stay deletable by the province)
    w = make_world()
    draft = make_catalog(published=False, items=(("XX-01", "草稿服务项", "生产管控", 100_000_00),))
    a = new_draft(w)
    r = login(w.ent_user).post(f"/enterprise/applications/{a.id}/edit",
                               data=form_data(w, catalog_item_id=str(draft.items[0].id)))
    assert r.status_code == 422 and "当前生效的目录版本" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Application, a.id).catalog_item_id is None
    # the service refuses it too, whatever the form did
    with pytest.raises(flow.DraftRefused) as exc:
        flow.save_draft(a, flow.DraftData(catalog_item_id=draft.items[0].id), None, w.ent_user)
    assert "catalog_item_id" in exc.value.errors


def test_disqualified_or_unapproved_supplier_is_refused(login):
    # rule: ELIG-8, REL-4 (only a selectable supplier is stored)
    w = make_world()
    bad = make_supplier(disqualified=True)
    pending = make_supplier(status=RegStatus.CITY_REVIEW)
    a = new_draft(w)
    c = login(w.ent_user)
    for s in (bad, pending):
        r = c.post(f"/enterprise/applications/{a.id}/edit", data=form_data(w, supplier_id=str(s.id)))
        assert r.status_code == 422 and "所选供应商" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Application, a.id).supplier_id is None
    r = c.post(f"/enterprise/applications/{a.id}/edit", data=form_data(w))
    assert r.status_code in (200, 204, 303)
    db.session.expire_all()
    assert db.session.get(Application, a.id).supplier_id == w.supplier.id


# --------------------------------------------------------------------------- 2. ELIG-6 contract number key


def test_contract_number_is_compared_normalised():
    # rule: ELIG-6 (NFKC, upper case, no whitespace or -_/.)
    assert eligibility.contract_key("HT-2026-01") == eligibility.contract_key("ｈｔ2026 01") == "HT202601"
    assert eligibility.contract_key(" ht_2026/01. ") == "HT202601"


def test_same_contract_written_differently_cannot_be_claimed_twice(app):
    # rule: ELIG-6 (one contract, one voucher: "HT-2026-01" and "ｈｔ2026 01" are the same number)
    w = make_world()
    make_application(w.enterprise, w.supplier, w.cycle, stage="supplier_review", contract_no="HT-2026-01",
                     users=w.users)
    other = make_enterprise()
    dup = make_application(other, w.supplier, w.cycle, stage="draft", contract_no="ｈｔ2026 01")
    assert dup.contract_no == "ｈｔ2026 01"  # displayed as typed
    with pytest.raises(flow.Refused, match="已用于另一项申领"):
        flow.submit(dup, make_user(Role.ENTERPRISE, enterprise_id=other.id))


# --------------------------------------------------------------------------- 3. REL-1 re-read at each step


def _relate(w) -> None:
    db.session.add(RelatedParty(supplier_id=w.supplier.id, uscc=w.enterprise.uscc, name=w.enterprise.name))
    db.session.flush()


def test_relation_listed_after_the_draft_is_checked_at_submit(app):
    # rule: REL-1 (the enterprise's fair-price commitment is required at submission)
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="draft", users=w.users)
    assert a.related_party is False
    _relate(w)
    with pytest.raises(flow.Refused, match="关联关系"):
        flow.submit(a, w.ent_user)


def test_relation_listed_after_submission_needs_the_supplier_commitment(app):
    # rule: REL-1 (the supplier confirms only with its fair-price commitment)
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="supplier_review", users=w.users)
    _relate(w)
    with pytest.raises(flow.Refused, match="公允"):
        flow.confirm(a, w.sup_user, fair_price=False)
    assert a.related_party is True  # flagged
    flow.confirm(a, w.sup_user, fair_price=True)
    assert a.supplier_fair_price is True and a.status == AppStatus.CITY_REVIEW


def test_relation_listed_before_approval_blocks_approval(app):
    # rule: REL-1 (the city cannot approve a related-party application without both commitments)
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="city_review", users=w.users)
    _relate(w)
    with pytest.raises(issuance.IssueRefused, match="关联关系"):
        issuance.approve(a, w.city_user)
    assert a.status == AppStatus.CITY_REVIEW


# --------------------------------------------------------------------------- 4. ROLE-8 supplier switch


def test_supplier_chosen_while_returned_cannot_see_the_application(login):
    # rule: ROLE-8 (a supplier sees an application only once it is submitted to it)
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="supplier_review", users=w.users)
    flow.return_(a, w.sup_user, ["合同编号与合同不一致"])
    other = make_supplier()
    spy = make_user(Role.SUPPLIER, supplier_id=other.id)
    db.session.commit()
    r = login(w.ent_user).post(f"/enterprise/applications/{a.id}/edit", data=form_data(w, supplier_id=str(other.id)))
    assert r.status_code in (200, 204, 303)
    db.session.expire_all()
    assert db.session.get(Application, a.id).supplier_id == other.id
    c = login(spy)
    assert c.get(f"/supplier/applications/{a.id}").status_code == 404
    assert f"/supplier/applications/{a.id}" not in c.get("/supplier/applications").get_data(as_text=True)
    # withdrawn while returned: still not the new supplier's
    a = db.session.get(Application, a.id)
    flow.withdraw(a, w.ent_user)
    db.session.commit()
    assert login(spy).get(f"/supplier/applications/{a.id}").status_code == 404


def test_supplier_sees_it_once_resubmitted_to_it(login):
    # rule: ROLE-8
    w = make_world()
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="supplier_review", users=w.users)
    flow.return_(a, w.sup_user, ["合同编号与合同不一致"])
    other = make_supplier()
    user = make_user(Role.SUPPLIER, supplier_id=other.id)
    a.supplier_id = other.id
    db.session.flush()
    flow.submit(a, w.ent_user)
    db.session.commit()
    assert login(user).get(f"/supplier/applications/{a.id}").status_code == 200
    # the returning supplier still sees an application that stays with it
    b = make_application(make_enterprise(), w.supplier, w.cycle, stage="supplier_review")
    flow.return_(b, w.sup_user, ["合同编号与合同不一致"])
    db.session.commit()
    assert login(w.sup_user).get(f"/supplier/applications/{b.id}").status_code == 200


# --------------------------------------------------------------------------- 5. bulk decide savepoints


def test_bulk_decide_reports_an_integrity_conflict_per_item(app, monkeypatch):
    # rule: REG-3 (one conflicting item does not roll back the batch)
    a = make_enterprise(status=RegStatus.CITY_REVIEW, name="甲企业有限公司")
    b = make_enterprise(status=RegStatus.CITY_REVIEW, name="乙企业有限公司")
    officer = make_user(Role.CITY, city_code="440100")
    db.session.commit()
    real = registration.decide

    def decide(obj, action, user):
        real(obj, action, user)
        if obj.id == b.id:  # a real UNIQUE conflict inside this item's savepoint
            db.session.add(Enterprise(name="冲突", uscc=a.uscc, city_code="440100"))
            db.session.flush()

    monkeypatch.setattr(registration.decisions, "decide", decide)  # bulk_decide calls decide in its own module
    with app.test_request_context():
        results = registration.bulk_decide("enterprise", [str(a.id), str(b.id)], "approve", officer)
    assert [r.ok for r in results] == [True, False]
    assert "冲突" in results[1].message
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Enterprise, a.id).status == RegStatus.APPROVED
    assert db.session.get(Enterprise, b.id).status == RegStatus.CITY_REVIEW


# --------------------------------------------------------------------------- 6. cycle year


def test_year_of_an_announced_cycle_cannot_change(app):
    # rule: CYC-3 (quotas are booked per year: an announced cycle keeps its year)
    w = make_world()
    province = make_user(Role.PROVINCE)
    c = w.cycle
    with pytest.raises(cycles.CycleError) as exc:
        cycles.update_cycle(c, province, name=c.name, year=c.year + 1, application_deadline=c.application_deadline,
                            settlement_deadline=c.settlement_deadline, verification_days=c.verification_days,
                            reason="改年度")
    assert "年度" in exc.value.errors["year"]
    assert c.year == w.target.year


def test_year_of_a_draft_cycle_with_applications_cannot_change(app):
    # rule: CYC-3
    w = make_world()
    make_application(w.enterprise, w.supplier, w.cycle, stage="draft", users=w.users)
    c = w.cycle
    c.announced_at = None
    db.session.flush()
    with pytest.raises(cycles.CycleError) as exc:
        cycles.update_cycle(c, make_user(Role.PROVINCE), name=c.name, year=c.year + 1,
                            application_deadline=c.application_deadline, settlement_deadline=c.settlement_deadline,
                            verification_days=c.verification_days)
    assert "year" in exc.value.errors


# --------------------------------------------------------------------------- 7. upload quota


def _fill(owner_type: str, owner_id: int, n: int = uploads.MAX_FILES_PER_OWNER) -> None:
    for i in range(n):
        uploads.store_bytes(contract_pdf_bytes(f"f{i}"), mime="application/pdf", name=f"{i}.pdf", kind="contract",
                            owner_type=owner_type, owner_id=owner_id, user_id=None)


def test_application_refuses_a_21st_file(login):
    # rule: DOC-3 (R32: at most 20 stored files per record)
    w = make_world()
    a = new_draft(w)
    _fill("application", a.id)
    db.session.commit()
    data = form_data(w)
    data["contract_file"] = (io.BytesIO(contract_pdf_bytes()), "合同.pdf")
    r = login(w.ent_user).post(f"/enterprise/applications/{a.id}/edit", data=data,
                               content_type="multipart/form-data")
    assert r.status_code == 422 and "已达上限" in r.get_data(as_text=True)
    n = db.session.execute(db.select(db.func.count(StoredFile.id)).where(
        StoredFile.owner_type == "application", StoredFile.owner_id == a.id)).scalar_one()
    assert n == uploads.MAX_FILES_PER_OWNER


def test_registration_refuses_a_21st_file(app):
    # rule: DOC-3 (R32)
    e = make_enterprise(status=RegStatus.DRAFT)
    user = make_user(Role.ENTERPRISE, enterprise_id=e.id)
    _fill("enterprise", e.id)
    form = {d.attr: SimpleNamespace(data="") for d in registration.docs_for("enterprise")}
    files = {"licence": FileStorage(io.BytesIO(contract_pdf_bytes()), filename="执照.pdf")}
    errors = registration.take_uploads(form, "enterprise", e, files, user)
    assert "已达上限" in errors["licence"]
    assert form["licence_file_id"].data == ""
