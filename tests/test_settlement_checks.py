"""The settlement's automatic checks and deadline decisions on records built in memory (SET-1, SET-2, SET-6,
DL-2, DL-3, AMT-4).

Fast on purpose: it is the test set that mutation testing (F22) runs after each change to the decision
functions of blueprints/core/settlement.py. The flows through the database are tests/test_settlement_rules.py.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from blueprints.core import settlement as s
from blueprints.core.settlement import InvoiceRow, PaymentRow
from models import Application, Cycle, Enterprise, RegStatus, SetStatus, Settlement, Supplier, Voucher, VoucherStatus

FACE = 100_000_00
SIGNED = dt.date(2026, 1, 10)
ON = dt.date(2026, 3, 1)
NAME = "广州云服务（有限）公司"
USCC = "91440101MA5CXXXX1A"


def _st():
    sup = Supplier(name=NAME, uscc=USCC)
    v = Voucher(face_value_fen=FACE, supplier=sup, application=Application(contract_signed_on=SIGNED),
                status=VoucherStatus.ISSUED)
    return Settlement(voucher=v, status=SetStatus.DRAFT)


def _inv(**kw):
    base = dict(key="inv-1", number="12345678901234567890", issued_on=dt.date(2026, 2, 1), seller_name=NAME,
                seller_uscc=USCC, total_fen=FACE, file_sha="a" * 64, has_file=True)
    return InvoiceRow(**{**base, **kw})


def _pay(**kw):
    base = dict(key="pay-1", paid_on=dt.date(2026, 2, 2), payee_name=NAME, amount_fen=FACE, has_file=True)
    return PaymentRow(**{**base, **kw})


def run(invoices=None, payments=None, acceptance=True):
    return s.checks(_st(), [_inv()] if invoices is None else invoices, [_pay()] if payments is None else payments,
                    has_acceptance=acceptance, on=ON)


def failed(result, row=None):
    return [f.text for f in result.failed if row is None or f.row == row]


@pytest.fixture(scope="module", autouse=True)
def _app(db_template, tmp_path_factory):
    """One app for the module (gettext, and the claim table that claimed_elsewhere reads; these tests only
    read it, and their keys (a made-up USCC, all-"a" file hashes) are nobody else's)."""
    import shutil

    from app import create_app
    from models import db

    if "url" in db_template:
        url = db_template["url"]
    else:
        target = tmp_path_factory.mktemp("settlement_checks") / "test.db"
        shutil.copy(db_template["path"], target)
        url = f"sqlite:///{target}"
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test", "SERVER_NAME": None})
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_a_complete_settlement_passes():
    # rule: SET-1, SET-2, SET-6
    r = run()
    assert r.passed and not r.failed, failed(r)
    assert r.invoiced_fen == FACE and r.paid_fen == FACE
    assert {f.rule for f in r.findings if f.ok} >= {"SET-1", "SET-2", "SET-6"}


def test_nothing_filed_names_each_missing_part():
    # rule: SET-1
    r = run(invoices=[], payments=[], acceptance=False)
    texts = " ".join(failed(r))
    assert "请至少添加一张发票" in texts and "请至少添加一份付款凭证" in texts and "验收报告" in texts


def test_missing_fields_are_named_by_row():
    # rule: SET-1
    r = run(invoices=[_inv(number="", has_file=False)], payments=[_pay(payee_name="", has_file=False)])
    (inv,) = [t for t in failed(r, "inv-1") if "请填写" in t]
    assert "发票号码" in inv and "发票文件" in inv and "开票日期" not in inv
    (pay,) = [t for t in failed(r, "pay-1") if "请填写" in t]
    assert "收款方名称" in pay and "付款凭证文件" in pay and "金额" not in pay


@pytest.mark.parametrize("number, code, ok", [
    ("12345678901234567890", "", True),  # 全电: 20 digits, no code
    ("12345678", "1234567890", True),  # paper: 8 digits with a 10-digit code
    ("12345678", "123456789012", True),  # ... or a 12-digit one
    ("12345678", "", False),  # paper number without its code
    ("12345678901234567890", "1234567890", False),  # 全电 with a code
    ("1234567", "1234567890", False),  # wrong length
    ("123456789012345678901", "", False),
    ("12345678", "12345678901", False),  # code of 11 digits
])
def test_invoice_number_and_code_formats(number, code, ok):
    # rule: SET-1, SET-6
    r = run(invoices=[_inv(number=number, code=code)])
    assert r.passed is ok, failed(r)


def test_only_the_suppliers_invoices_and_payments_to_it_count():
    # rule: SET-6 — the seller's USCC (any case) and the payee's name (any width, spaces or brackets)
    assert run(invoices=[_inv(seller_uscc=USCC.lower())]).passed
    r = run(invoices=[_inv(seller_uscc="91440101MA5CYYYY2B")])
    assert any("不是本券供应商" in t for t in failed(r, "inv-1"))
    for payee in ("广州云服务(有限)公司", " 广州 云服务（有限）公司", "广州云服务【有限】公司"):
        assert run(payments=[_pay(payee_name=payee)]).passed, payee
    r = run(payments=[_pay(payee_name="广州另一家公司")])
    assert any("不是本券供应商" in t for t in failed(r, "pay-1"))
    assert not s.same_name("", "") and not s.same_name("  ", "")


@pytest.mark.parametrize("field", ["invoice", "payment"])
def test_dates_from_the_contract_to_today(field):
    # rule: SET-1 — on the signing day and on the day of filing are fine; before or after is not
    def one(day):
        if field == "invoice":
            return run(invoices=[_inv(issued_on=day)])
        return run(payments=[_pay(paid_on=day)])

    assert one(SIGNED).passed and one(ON).passed
    assert not one(SIGNED - dt.timedelta(days=1)).passed
    assert not one(ON + dt.timedelta(days=1)).passed


def test_amounts_must_be_positive_and_reach_the_face_value():
    # rule: SET-1, SET-2 — one fen short of the face value is refused, the face value exactly passes
    assert any("价税合计必须大于 0" in t for t in failed(run(invoices=[_inv(total_fen=0)]), "inv-1"))
    assert any("金额必须大于 0" in t for t in failed(run(payments=[_pay(amount_fen=0)]), "pay-1"))
    assert not any("大于 0" in t for t in failed(run(invoices=[_inv(total_fen=1)], payments=[_pay(amount_fen=1)])))
    assert not run(invoices=[_inv(total_fen=-5)], payments=[_pay()]).passed
    assert not run(invoices=[_inv(total_fen=FACE - 1)]).passed
    assert not run(payments=[_pay(amount_fen=FACE - 1)]).passed
    two = [_inv(key="inv-1", number="12345678901234567891", total_fen=FACE // 2, file_sha="b" * 64),
           _inv(key="inv-2", number="12345678901234567892", total_fen=FACE - FACE // 2, file_sha="c" * 64)]
    assert run(invoices=two).passed
    assert run(invoices=[_inv(total_fen=FACE + 1)], payments=[_pay(amount_fen=FACE + 1)]).passed


def test_the_same_invoice_twice_in_one_settlement_is_flagged():
    # rule: SET-6 — same issuer + code + number, or the same file;
    # an 8-digit number under another code is another invoice
    a = _inv(key="inv-1", number="12345678", code="1234567890", total_fen=FACE // 2, file_sha="b" * 64)
    same_no = dataclasses.replace(a, key="inv-2", file_sha="c" * 64)
    same_file = dataclasses.replace(a, key="inv-2", number="87654321")
    other_code = dataclasses.replace(a, key="inv-2", code="1234567891", file_sha="c" * 64)
    assert any("同一张发票" in t for t in failed(run(invoices=[a, same_no]), "inv-2"))
    assert any("同一个发票文件" in t for t in failed(run(invoices=[a, same_file]), "inv-2"))
    assert run(invoices=[a, other_code]).passed
    assert s.claim_keys(_inv(seller_uscc="")) == ["file:" + "a" * 64]
    assert s.claim_keys(_inv(file_sha="")) == [f"no:{USCC.upper()}::12345678901234567890"]


# --------------------------------------------------------------------------- deadlines and sanctions


def _filed(status=SetStatus.DRAFT, resubmit_by=None, voucher=VoucherStatus.ISSUED):
    st = _st()
    st.status, st.resubmit_by, st.voucher.status = status, resubmit_by, voucher
    st.cycle = Cycle(settlement_deadline=ON, application_deadline=SIGNED)
    return st


def test_filing_is_open_until_the_deadline_day_or_the_resubmission_day():
    # rule: DL-2
    assert s.filing_problem(_filed(), on=ON) is None
    assert "截止" in s.filing_problem(_filed(), on=ON + dt.timedelta(days=1))
    assert "作废或已放弃" in s.filing_problem(_filed(voucher=VoucherStatus.VOID), on=ON)
    later = ON + dt.timedelta(days=5)
    returned = _filed(SetStatus.RETURNED, resubmit_by=later)
    assert s.filing_problem(returned, on=later) is None
    assert "退回后须在" in s.filing_problem(returned, on=later + dt.timedelta(days=1))
    # returned without a resubmission day (or a draft that has one): the cycle's deadline is what was missed
    for st in (_filed(SetStatus.RETURNED), _filed(SetStatus.DRAFT, resubmit_by=ON)):
        assert "本批次兑现申请已于 2026-03-01 截止" in s.filing_problem(st, on=ON + dt.timedelta(days=1))


def test_a_release_after_the_application_deadline_counts_as_void():
    # rule: DL-2
    v = Voucher(cycle=Cycle(application_deadline=SIGNED))
    assert not s.release_counts_as_void(v, on=SIGNED)
    assert s.release_counts_as_void(v, on=SIGNED + dt.timedelta(days=1))


def test_a_suspension_is_for_its_one_cycle():
    # rule: DL-3
    nxt = Cycle(id=7)
    p = s.Penalty(2, False, nxt, "")
    assert s.suspended_for(p, 7) and not s.suspended_for(p, 8) and not s.suspended_for(p, None)
    assert not s.suspended_for(s.Penalty(2, False, None, ""), 7)


@pytest.mark.parametrize("change, due", [
    ({}, True),
    ({"status": RegStatus.CITY_REVIEW}, False),
    ({"dcmm_certified": False}, False),
    ({"dcmm_file_id": None}, False),
    ({"dcmm_subsidy_received": True}, False),
])
def test_the_bonus_conditions(change, due):
    # rule: AMT-4 — approved profile, certified with the certificate on file, never subsidised for it
    e = Enterprise(status=RegStatus.APPROVED, dcmm_certified=True, dcmm_file_id=3, dcmm_subsidy_received=False)
    for k, v in change.items():
        setattr(e, k, v)
    assert s.bonus_due(e) is due
