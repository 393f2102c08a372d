"""Settlement core, at the service level: filing and checks (SET-1..3, SET-6), supplier
confirmation (SET-4), the usage-verification gate (SET-5, SLA-3), city review, the 两化融合 bonus (AMT-4),
void vouchers, releases and penalties (DL-2, DL-3, DL-4, AMT-3, ELIG-8) and the workflow table.

Everything runs through blueprints/core/settlement.py and settlement_form.py as the routes call them;
the routes themselves are tested elsewhere.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from werkzeug.datastructures import MultiDict

from blueprints.core import amounts, eligibility, money, settlement, settlement_form, timeutil, uploads, workflow
from blueprints.core.application import Refused
from blueprints.core.timeutil import today
from models import (
    AuditEvent, BonusGrant, CityTarget, InvoiceClaim, Notice, RegStatus, Role, SetStatus, Settlement, Voucher,
    VoucherStatus, db,
)
from tests.factories import (
    contract_pdf_bytes, make_application, make_cycle, make_enterprise, make_settlement, make_supplier, make_user,
    make_voucher, make_world,
)

BJ = ZoneInfo("Asia/Shanghai")
SIGNED = dt.date(2025, 1, 10)  # make_application's contract date


def at(day: dt.date, hour: int = 10, minute: int = 0, second: int = 0) -> dt.datetime:
    """A Beijing-time moment on `day`."""
    return dt.datetime.combine(day, dt.time(hour, minute, second), tzinfo=BJ)


def travel(moment: dt.datetime):
    return time_machine.travel(moment, tick=False)


def world(**kw):
    w = make_world(**kw)
    w.prov_user = make_user(Role.PROVINCE)
    w.users = dict(w.users, province=w.prov_user)
    return w


def actors(w, enterprise=None) -> dict:
    """The users to act as for a voucher of `enterprise` (w.enterprise when None)."""
    users = {"supplier": w.sup_user, "province": w.prov_user}
    if enterprise is None or enterprise.id == w.enterprise.id:
        users["enterprise"] = w.ent_user
    if enterprise is None or enterprise.city_code == w.city_user.city_code:
        users["city"] = w.city_user  # else the factories make an officer of the enterprise's city
    return users


def voucher_of(w, enterprise=None, **kw) -> Voucher:
    """An issued voucher of `enterprise` (w.enterprise when None) with w's supplier in w's cycle."""
    e = enterprise or w.enterprise
    return make_voucher(e, w.supplier, w.cycle, users=actors(w, e), **kw)


def settle(w, enterprise=None, stage="draft", v=None, **kw) -> Settlement:
    v = v or voucher_of(w, enterprise)
    return make_settlement(v, stage=stage, users=actors(w, v.enterprise), **kw)


def ent_user_of(st_or_v):
    from models import User

    return db.session.execute(db.select(User).where(User.enterprise_id == st_or_v.enterprise_id)
                              .order_by(User.id).limit(1)).scalar_one()


def retype(st: Settlement, user, unit: str = "yuan", **texts) -> settlement_form.Parsed:
    """Post the enterprise's form again with some fields changed (field names as the form's: inv_3_total ->
    inv-3-total), through settlement_form.parse/save, as the edit route does."""
    form = MultiDict(settlement_form.from_stored(st).texts)
    form["unit"] = unit
    if unit == "wan":  # the stored amounts were shown in 元; a 万元 form shows them in 万元
        for name in list(form):
            if name.endswith(("-total", "-amount")) and form[name]:
                form[name] = settlement_form.amount_text(money.parse_yuan(form[name]), "wan")
    for name, value in texts.items():
        form[name.replace("_", "-", 2)] = value
    p = settlement_form.parse(st, form)
    settlement_form.save(st, p, {}, user)
    return p


def failed_texts(st: Settlement, on: dt.date | None = None) -> list[str]:
    return [f.text for f in settlement.check_stored(st, on=on).failed]


def audit_rows(entity: str, entity_id: int, action: str | None = None) -> list[AuditEvent]:
    q = db.select(AuditEvent).where(AuditEvent.entity_type == entity, AuditEvent.entity_id == entity_id)
    if action:
        q = q.where(AuditEvent.action == action)
    return db.session.execute(q.order_by(AuditEvent.id)).scalars().all()


def notices_of(user, contains: str = "") -> list[Notice]:
    q = db.select(Notice).where(Notice.user_id == user.id)
    if contains:
        q = q.where(Notice.title.contains(contains))
    return db.session.execute(q).scalars().all()


def claims_of(st: Settlement) -> set[str]:
    return set(db.session.execute(db.select(InvoiceClaim.key).where(InvoiceClaim.settlement_id == st.id)).scalars())


def submit_refused(st: Settlement, user) -> str:
    """Submit as the route does (inside a savepoint); returns the refusal's message."""
    with pytest.raises(Refused) as exc:
        with db.session.begin_nested():
            settlement.submit(st, user)
    return str(exc.value)


# --------------------------------------------------------------------------- SET-1, SET-3: filing


def test_a_draft_lists_every_missing_field_by_row(app):
    # rule: SET-1
    w = world()
    st = settle(w, invoices=[
        {"number": "", "issued_on": None, "seller_name": "", "seller_uscc": "", "total_fen": None, "file": None},
        {"file": None},
    ], payments=[{"paid_on": None, "payee_name": "", "amount_fen": None, "file": None}, {}], acceptance=False)
    texts = failed_texts(st)
    first, second = st.invoices
    assert "发票第 1 行：请填写发票号码、开票日期、销售方名称、销售方统一社会信用代码、价税合计、发票文件" in texts
    assert f"发票第 2 行（{second.number}）：请填写发票文件" in texts
    assert "付款凭证第 1 行：请填写付款日期、收款方名称、金额、付款凭证文件" in texts
    assert not any(t.startswith("付款凭证第 2 行") for t in texts)
    assert "请上传服务实施验收报告（双方签章）" in texts
    by_row = settlement.check_stored(st)
    assert by_row.for_row(f"inv-{first.id}") and by_row.for_row(f"pay-{st.payments[0].id}")
    assert not by_row.for_row(f"pay-{st.payments[1].id}")
    # Submission is refused while any check fails, and says which.
    message = submit_refused(st, w.ent_user)
    assert "发票第 1 行：请填写发票号码" in message and "付款凭证第 1 行" in message
    assert st.status == SetStatus.DRAFT and st.submitted_at is None
    assert claims_of(st) == set()


def test_filing_is_open_until_the_end_of_the_deadline_day_beijing_time(app):
    # rule: SET-1, DL-2
    w = world()
    deadline = w.cycle.settlement_deadline
    on_time, late = settle(w), settle(w, make_enterprise())
    db.session.commit()
    # 00:00:30 the next day in Beijing is still the deadline day in UTC: refused all the same.
    with travel(at(deadline + dt.timedelta(days=1), 0, 0, 30)):
        assert settlement.filing_problem(late) is not None
        message = submit_refused(late, ent_user_of(late))
        assert f"{deadline:%Y-%m-%d} 截止" in message
        assert late.status == SetStatus.DRAFT and late.submitted_at is None
    # 23:59:59 on the deadline day (15:59:59 UTC) it is accepted.
    with travel(at(deadline, 23, 59, 59)):
        assert settlement.filing_problem(on_time) is None
        settlement.submit(on_time, w.ent_user)
    assert on_time.status == SetStatus.SUPPLIER_REVIEW


def test_no_new_settlement_can_be_started_after_the_deadline(app):
    # rule: SET-1, DL-2
    w = world()
    v = voucher_of(w)
    db.session.commit()
    with travel(at(w.cycle.settlement_deadline + dt.timedelta(days=1), 9)):
        with pytest.raises(Refused, match="截止"):
            settlement.start(v, w.ent_user)
    assert db.session.execute(db.select(db.func.count(Settlement.id))).scalar_one() == 0


def test_submission_time_is_stamped_once_and_kept_across_withdraw_and_return(app):
    # rule: SET-3
    w = world()
    st = settle(w)
    db.session.commit()
    t1 = (timeutil.now() + dt.timedelta(hours=1)).replace(microsecond=0)
    with travel(t1):
        settlement.submit(st, w.ent_user)
        db.session.commit()
    assert st.submitted_at == t1 and st.last_submitted_at == t1
    # Submitting again is refused and changes nothing (a double click, a replayed form).
    with travel(t1 + dt.timedelta(minutes=1)):
        with pytest.raises(workflow.NotAllowed):
            settlement.submit(st, w.ent_user)
    db.session.rollback()
    db.session.refresh(st)
    assert st.submitted_at == t1 and st.last_submitted_at == t1 and st.status == SetStatus.SUPPLIER_REVIEW
    assert len(audit_rows("settlement", st.id, "submit")) == 1
    # Withdrawn and resubmitted: the first time stays.
    with travel(t1 + dt.timedelta(hours=2)):
        settlement.withdraw(st, w.ent_user)
        assert st.status == SetStatus.DRAFT and claims_of(st) == set()
        db.session.commit()
    t3 = t1 + dt.timedelta(hours=3)
    with travel(t3):
        settlement.submit(st, w.ent_user)
        db.session.commit()
    db.session.refresh(st)
    assert st.submitted_at == t1 and st.last_submitted_at == t3
    # Returned by the supplier and resubmitted: the first time stays.
    with travel(t1 + dt.timedelta(days=1)):
        settlement.supplier_return(st, w.sup_user, [settlement.SUPPLIER_RETURN_REASONS[0]], "", {})
        db.session.commit()
    t5 = t1 + dt.timedelta(days=2)
    with travel(t5):
        settlement.submit(st, w.ent_user)
        db.session.commit()
    db.session.refresh(st)
    assert st.status == SetStatus.SUPPLIER_REVIEW and st.submitted_at == t1 and st.last_submitted_at == t5
    submits = audit_rows("settlement", st.id, "submit")
    assert [e.data["resubmitted"] for e in submits] == [False, True, True]


# --------------------------------------------------------------------------- SET-2: totals


def test_payments_one_fen_short_of_the_face_value_are_refused(app):
    # rule: SET-2
    w = world()
    v = voucher_of(w, fee_fen=100_000_00)
    assert v.face_value_fen == 10_000_000
    st = settle(w, v=v, payments=[{"amount_fen": 50_000_00}, {"amount_fen": 49_999_99}])
    message = submit_refused(st, w.ent_user)
    assert "付款合计 ¥99,999.99 低于服务券面值 ¥100,000.00，还差 ¥0.01" in message
    assert st.status == SetStatus.DRAFT
    # The enterprise corrects the second payment to 4.999999 万元... still one fen short; then 5 万元.
    second = f"pay_{st.payments[1].id}_amount"
    p = retype(st, w.ent_user, unit="wan", **{second: "4.999999"})
    assert not p.errors and st.payments[1].amount_fen == 49_999_99
    assert any("还差 ¥0.01" in t for t in failed_texts(st))
    retype(st, w.ent_user, unit="wan", **{second: "5"})
    assert st.payments[1].amount_fen == 50_000_00
    assert failed_texts(st) == []
    settlement.submit(st, w.ent_user)
    assert st.status == SetStatus.SUPPLIER_REVIEW and st.paid_fen == 10_000_000 == st.invoiced_fen


def test_invoices_one_fen_short_of_the_face_value_are_refused(app):
    # rule: SET-2
    w = world()
    v = voucher_of(w, fee_fen=100_000_00)
    st = settle(w, v=v, invoices=[{"total_fen": 60_000_00}, {"total_fen": 39_999_99}])
    message = submit_refused(st, w.ent_user)
    assert "发票价税合计 ¥99,999.99 低于服务券面值 ¥100,000.00，还差 ¥0.01" in message
    retype(st, w.ent_user, **{f"inv_{st.invoices[1].id}_total": "40,000.00"})
    assert st.invoices[1].total_fen == 40_000_00 and failed_texts(st) == []
    settlement.submit(st, w.ent_user)
    assert st.status == SetStatus.SUPPLIER_REVIEW and st.invoiced_fen == 10_000_000


def test_more_than_the_face_value_passes(app):
    # rule: SET-2
    w = world()
    st = settle(w, v=voucher_of(w, fee_fen=100_000_00), invoices=[{"total_fen": 120_000_00}],
                payments=[{"amount_fen": 120_000_00}])
    settlement.submit(st, w.ent_user)
    assert st.invoiced_fen == st.paid_fen == 120_000_00


# --------------------------------------------------------------------------- SET-6: the automatic checks


def test_an_invoice_from_another_company_is_refused_naming_it(app):
    # rule: SET-6
    w = world()
    other = make_supplier()
    st = settle(w, invoices=[{}, {"number": "12345678", "seller_uscc": other.uscc, "seller_name": other.name}])
    texts = failed_texts(st)
    assert len(texts) == 1
    assert texts[0].startswith("发票第 2 行（12345678）：开票方统一社会信用代码 " + other.uscc)
    assert w.supplier.uscc in texts[0] and w.supplier.name in texts[0]
    assert "12345678" in submit_refused(st, w.ent_user)
    assert st.status == SetStatus.DRAFT and claims_of(st) == set()


def test_payee_names_ignore_spaces_width_and_bracket_forms(app):
    # rule: SET-6
    w = world()
    w.supplier.name = "广州ABC云服务（广东）有限公司"
    same = ["广州ABC云服务(广东)有限公司", " 广州 ABC 云服务 （广东） 有限公司 ", "广州ＡＢＣ云服务（广东）有限公司",
            "广州abc云服务【广东】有限公司", "广州ABC云服务\u3000(广东)有限公司"]
    for name in same:
        assert settlement.same_name(name, w.supplier.name), name
    for name in ("广州ABC云服务（深圳）有限公司", "广州ABC云服务有限公司", "广州ABD云服务（广东）有限公司", ""):
        assert not settlement.same_name(name, w.supplier.name), name
    st = settle(w, payments=[{"payee_name": "广州ＡＢＣ云服务(广东)有限公司", "amount_fen": 100_000_00},
                             {"payee_name": "广州ABC云服务（深圳）有限公司", "amount_fen": 50_000_00}])
    checked = settlement.check_stored(st)
    assert not checked.for_row(f"pay-{st.payments[0].id}")
    bad = checked.for_row(f"pay-{st.payments[1].id}")
    assert len(bad) == 1 and "付款凭证第 2 行：收款方“广州ABC云服务（深圳）有限公司”不是本券供应商" in bad[0].text
    # The row blocks submission.
    assert "收款方" in submit_refused(st, w.ent_user)


def test_invoice_and_payment_dates_against_the_contract_and_today(app):
    # rule: SET-6, SET-1
    w = world()
    day_before = SIGNED - dt.timedelta(days=1)
    tomorrow = today() + dt.timedelta(days=1)
    st = settle(w, invoices=[{"issued_on": day_before, "total_fen": 75_000_00},
                             {"issued_on": tomorrow, "total_fen": 75_000_00}],
                payments=[{"paid_on": day_before}])
    texts = failed_texts(st)
    n1, n2 = st.invoices[0].number, st.invoices[1].number
    assert f"发票第 1 行（{n1}）：开票日期 {day_before:%Y-%m-%d} 早于合同签订日期 2025-01-10" in texts
    assert f"发票第 2 行（{n2}）：开票日期 {tomorrow:%Y-%m-%d} 晚于今天" in texts
    assert f"付款凭证第 1 行：付款日期 {day_before:%Y-%m-%d} 早于合同签订日期 2025-01-10" in texts
    assert len(texts) == 3
    # The contract date itself and today are fine.
    retype(st, w.ent_user, **{f"inv_{st.invoices[0].id}_date": SIGNED.isoformat(),
                              f"inv_{st.invoices[1].id}_date": today().isoformat(),
                              f"pay_{st.payments[0].id}_date": SIGNED.isoformat()})
    assert failed_texts(st) == []
    settlement.submit(st, w.ent_user)
    assert st.status == SetStatus.SUPPLIER_REVIEW


def test_the_same_invoice_cannot_back_a_second_settlement(app):
    # rule: SET-6
    w = world()
    first = settle(w, invoices=[{"number": "44556677"}], stage="supplier_review")
    assert claims_of(first) == {f"no:{w.supplier.uscc}:4400261130:44556677", f"file:{first.invoices[0].file.sha256}"}
    # Another enterprise's voucher, the same invoice (issuer USCC + number) with another file.
    second = settle(w, make_enterprise(), invoices=[{"number": "44556677"}])
    shown = failed_texts(second)  # shown while the enterprise types, before it submits
    assert any("发票 44556677已用于另一份兑现申请" in t for t in shown)
    message = submit_refused(second, ent_user_of(second))
    assert "44556677" in message and "已用于另一份兑现申请" in message
    assert second.status == SetStatus.DRAFT and claims_of(second) == set()
    # Once the first is withdrawn its invoices are free again.
    settlement.withdraw(first, w.ent_user)
    assert claims_of(first) == set() and failed_texts(second) == []
    settlement.submit(second, ent_user_of(second))
    assert second.status == SetStatus.SUPPLIER_REVIEW
    assert "44556677" in submit_refused(first, w.ent_user)


def test_the_same_invoice_file_cannot_back_a_second_settlement(app):
    # rule: SET-6
    w = world()
    data = contract_pdf_bytes("同一张发票的扫描件")
    first = settle(w, invoices=[{"file": data}], stage="supplier_review")
    second = settle(w, make_enterprise(), invoices=[{"file": data}])  # another number, the same bytes
    assert first.invoices[0].number != second.invoices[0].number
    assert any("该发票文件已用于另一份兑现申请" in t for t in failed_texts(second))
    assert "已用于另一份兑现申请" in submit_refused(second, ent_user_of(second))
    assert claims_of(second) == set()


def test_the_same_invoice_number_from_another_issuer_is_another_invoice(app):
    # rule: SET-6
    w = world()
    settle(w, invoices=[{"number": "44556677"}], stage="supplier_review")
    supplier2 = make_supplier()
    w2 = type(w)(**vars(w))
    w2.supplier, w2.sup_user = supplier2, make_user(Role.SUPPLIER, supplier_id=supplier2.id)
    other = settle(w2, make_enterprise(), invoices=[{"number": "44556677"}])
    assert failed_texts(other) == []
    settlement.submit(other, ent_user_of(other))
    assert other.status == SetStatus.SUPPLIER_REVIEW


def test_duplicate_rows_within_one_settlement_are_flagged(app):
    # rule: SET-6
    w = world()
    data = contract_pdf_bytes("重复的文件")
    st = settle(w, invoices=[{"number": "11112222", "total_fen": 80_000_00},
                             {"number": "11112222", "total_fen": 80_000_00},
                             {"file": data, "total_fen": 10_000_00}, {"file": data, "total_fen": 10_000_00}])
    rows = settlement.check_stored(st)
    assert not rows.for_row(f"inv-{st.invoices[0].id}")
    dup = rows.for_row(f"inv-{st.invoices[1].id}")
    assert [f.text for f in dup] == ["发票第 2 行（11112222）：与发票第 1 行（11112222）是同一张发票，请删除重复的一行"]
    same_file = rows.for_row(f"inv-{st.invoices[3].id}")
    assert len(same_file) == 1 and "是同一个发票文件" in same_file[0].text and "发票第 3 行" in same_file[0].text
    assert "同一张发票" in submit_refused(st, w.ent_user)
    # Removing the duplicate rows clears it.
    for key in [f"inv-{st.invoices[1].id}", f"inv-{st.invoices[2].id}"]:
        assert settlement_form.remove_row(st, key)
    retype(st, w.ent_user, **{f"inv_{st.invoices[0].id}_total": "150000"})
    assert failed_texts(st) == []


def test_invoice_number_and_code_formats(app):
    # rule: SET-1
    w = world()
    st = settle(w)
    inv = st.invoices[0]
    p = retype(st, w.ent_user, **{f"inv_{inv.id}_number": "1234567", f"inv_{inv.id}_code": "123"})
    assert p.errors == {f"inv-{inv.id}-number": "发票号码应为 8 位或 20 位数字",
                        f"inv-{inv.id}-code": "发票代码应为 10 位或 12 位数字；全电发票没有代码，可不填"}
    assert len(inv.number) == 8 and inv.code == "4400261130"  # the malformed text is not stored
    retype(st, w.ent_user, **{f"inv_{inv.id}_number": "2644 0000 0000 1234 5678", f"inv_{inv.id}_code": "044001900111"})
    assert inv.number == "26440000000012345678" and inv.code == "044001900111"
    # rule: SET-6 — an invoice is issuer + code + number: a 20-digit 全电 number has no code ...
    assert failed_texts(st) == [f"发票第 1 行（26440000000012345678）：20 位号码的全电发票没有发票代码，请清空发票代码"]
    retype(st, w.ent_user, **{f"inv_{inv.id}_number": "26440000000012345678", f"inv_{inv.id}_code": ""})
    assert failed_texts(st) == []
    # ... and an 8-digit one needs its code (else one paper invoice could be claimed twice, with and without it)
    retype(st, w.ent_user, **{f"inv_{inv.id}_number": "12345678", f"inv_{inv.id}_code": ""})
    assert failed_texts(st) == ["发票第 1 行（12345678）：8 位号码的发票须填写发票代码（10 或 12 位，印在发票右上角）"]


# --------------------------------------------------------------------------- SET-4: the supplier


def test_supplier_confirm_moves_to_the_usage_gate(app):
    # rule: SET-4, SET-5
    w = world()
    st = settle(w, stage="supplier_review")
    assert notices_of(w.sup_user, "待您确认")
    other_supplier_user = make_user(Role.SUPPLIER)
    with pytest.raises(workflow.NotAllowed):
        settlement.supplier_confirm(st, other_supplier_user)
    settlement.supplier_confirm(st, w.sup_user)
    assert st.status == SetStatus.VERIFICATION and st.confirmed_at is not None
    assert notices_of(w.ent_user, "供应商已确认")
    # No withdrawal once confirmed.
    with pytest.raises(workflow.NotAllowed):
        settlement.withdraw(st, w.ent_user)


def test_supplier_return_keeps_row_reasons_and_gives_five_working_days(app):
    # rule: SET-4, DL-2
    with travel(at(dt.date(2026, 12, 7), 10)):  # a Monday
        w = world()
        st = settle(w, stage="supplier_review")
        inv, pay = st.invoices[0], st.payments[0]
        assert claims_of(st)
        with pytest.raises(Refused, match="退回原因"):
            settlement.supplier_return(st, w.sup_user, [], "  ", {f"inv-{inv.id}": " "})
        settlement.supplier_return(
            st, w.sup_user, [settlement.SUPPLIER_RETURN_REASONS[2], "不在清单里的原因"], "请补充验收报告签章页",
            {f"inv-{inv.id}": "发票号码与本单位开票记录不符", f"pay-{pay.id}": "付款日期有误", "inv-999999": "别人的行"})
    assert st.status == SetStatus.RETURNED and st.returned_by == "supplier"
    assert st.return_reasons == [
        {"row": "", "text": settlement.SUPPLIER_RETURN_REASONS[2]},
        {"row": "", "text": "请补充验收报告签章页"},
        {"row": f"inv-{inv.id}", "text": "发票号码与本单位开票记录不符"},
        {"row": f"pay-{pay.id}", "text": "付款日期有误"},
    ]
    assert st.resubmit_by == dt.date(2026, 12, 14)  # 5 working days after the return
    assert claims_of(st) == set()  # the enterprise may replace the invoices
    got = notices_of(w.ent_user, "退回了您的兑现申请")
    assert len(got) == 1 and f"{st.filing_deadline:%Y-%m-%d}" in got[0].title  # the later of deadline and +5 days
    assert f"发票第 1 行（{inv.number}）：发票号码与本单位开票记录不符" in got[0].body
    assert "付款凭证第 1 行：付款日期有误" in got[0].body
    row = audit_rows("settlement", st.id, "return")[-1]
    assert row.data["reasons"] == st.return_reasons
    # The returned settlement is editable again.
    retype(st, w.ent_user, **{f"pay_{pay.id}_account": "6222020200001234567"})
    assert pay.payee_account == "6222020200001234567"


# --------------------------------------------------------------------------- SET-5, SLA-3: the usage gate


def test_a_confirmed_settlement_waits_for_usage_verification(app):
    # rule: SET-5
    w = world()
    st = settle(w, stage="verification")
    assert settlement.usage_verified(st) is False
    assert settlement.advance_verified(st) is False
    assert st.status == SetStatus.VERIFICATION and st.due_on is None
    # The city cannot act on it yet.
    assert workflow.actions_for(st, w.city_user) == []
    with pytest.raises(workflow.NotAllowed):
        settlement.approve(st, w.city_user)


def test_only_the_province_overrides_verification_with_a_reason(app):
    # rule: SET-5, SLA-3
    with travel(at(dt.date(2026, 12, 7), 10)):  # a Monday
        w = world()
        w.cycle.settlement_review_days = 3
        st = settle(w, stage="verification")
        for user in (w.city_user, w.sup_user, w.ent_user, make_user(Role.EXPERT)):
            with pytest.raises(workflow.NotAllowed):
                settlement.override_verification(st, user, "现场核查通过")
        for reason in ("", "   "):
            with pytest.raises(Refused, match="核定理由"):
                settlement.override_verification(st, w.prov_user, reason)
        assert st.status == SetStatus.VERIFICATION
        settlement.override_verification(st, w.prov_user, "  现场核查：已实施，用量属实  ")
    assert st.status == SetStatus.CITY_REVIEW and st.verified_how == "override"
    assert st.due_on == dt.date(2026, 12, 10)  # 3 working days: the cycle's setting applies
    assert st.reached_city_at is not None
    row = audit_rows("settlement", st.id, "override")[-1]
    assert row.reason == "现场核查：已实施，用量属实" and row.actor_id == w.prov_user.id
    assert notices_of(w.city_user, "待审核") and notices_of(w.ent_user, "已转地市审核")


def test_the_review_time_defaults_to_ten_working_days(app):
    # rule: SLA-3
    with travel(at(dt.date(2026, 12, 7), 10)):
        w = world()
        assert w.cycle.settlement_review_days == 10
        st = settle(w, stage="city_review")
    assert st.due_on == dt.date(2026, 12, 21)


# --------------------------------------------------------------------------- SET-6: the city


def test_the_city_approves_only_while_every_check_passes(app):
    # rule: SET-6
    w = world()
    st = settle(w, stage="city_review")
    name = w.supplier.name
    w.supplier.name = "改名后的云服务有限公司"  # the payee no longer is the supplier
    with pytest.raises(Refused, match="自动检查未通过"):
        settlement.approve(st, w.city_user)
    assert st.status == SetStatus.CITY_REVIEW
    w.supplier.name = name
    with pytest.raises(workflow.NotAllowed):
        settlement.approve(st, make_user(Role.CITY, city_code="440300"))
    settlement.approve(st, w.city_user)
    assert st.status == SetStatus.APPROVED and st.decided_at is not None and st.due_on is None
    assert claims_of(st)  # an approved settlement keeps its invoices
    assert notices_of(w.ent_user, "已通过地市审核") and notices_of(w.sup_user, "已通过地市审核")


def test_the_city_returns_with_reasons(app):
    # rule: SET-6, DL-2
    w = world()
    st = settle(w, stage="city_review")
    with pytest.raises(Refused):
        settlement.city_return(st, w.city_user, [], "", {})
    settlement.city_return(st, w.city_user, [settlement.CITY_RETURN_REASONS[1]], "",
                           {f"inv-{st.invoices[0].id}": "发票扫描件不清晰"})
    assert st.status == SetStatus.RETURNED and st.returned_by == "city" and st.due_on is None
    assert st.resubmit_by == timeutil.add_working_days(today(), 5)
    assert claims_of(st) == set()
    assert notices_of(w.ent_user, "地市经信部门退回了您的兑现申请")
    assert notices_of(w.sup_user, "地市退回了客户的兑现申请")  # the supplier will be asked again
    assert st.confirmed_at is None and st.verified_at is None and st.reached_city_at is None
    # Resubmitted, it goes back to the supplier first.
    settlement.submit(st, w.ent_user)
    assert st.status == SetStatus.SUPPLIER_REVIEW and st.return_reasons == [] and st.resubmit_by is None


def test_a_rejection_voids_the_voucher_at_once(app):
    # rule: SET-6, DL-2
    w = world()
    st = settle(w, stage="city_review")
    v = st.voucher
    with pytest.raises(Refused, match="驳回理由"):
        settlement.reject(st, w.city_user, " ")
    with pytest.raises(workflow.NotAllowed):
        settlement.reject(st, w.prov_user, "发票系伪造")
    settlement.reject(st, w.city_user, "发票系伪造")
    assert st.status == SetStatus.REJECTED
    assert v.status == VoucherStatus.VOID and v.ended_at is not None and "发票系伪造" in v.end_reason
    row = audit_rows("voucher", v.id, "void")
    assert len(row) == 1 and row[0].from_state == "issued" and row[0].to_state == "void"
    assert row[0].actor_id == w.city_user.id
    assert notices_of(w.ent_user, "服务券已作废") and notices_of(w.sup_user, "被驳回")
    assert claims_of(st)  # false material: its invoices stay claimed
    assert settlement.penalty(w.enterprise.id).void_count == 1
    assert workflow.actions_for(st, w.ent_user) == []


def test_bulk_approve_reports_each_item(app):
    # rule: SET-6
    w = world()
    good = settle(w, stage="city_review")
    bad = settle(w, make_enterprise(), stage="city_review")
    bad.payments[0].amount_fen = 1_00  # changed behind the checks: no longer enough
    far = settle(w, make_enterprise(city_code="440300"), stage="city_review")
    results = settlement.bulk_approve([good.id, bad.id, far.id, 999_999], w.city_user)
    assert [(r[0], r[2]) for r in results] == [(good.id, True), (bad.id, False), (far.id, False), (999_999, False)]
    assert "付款合计" in results[1][3] and results[2][3] == "不存在或无权处理"
    assert good.status == SetStatus.APPROVED and bad.status == SetStatus.CITY_REVIEW
    assert far.status == SetStatus.CITY_REVIEW


# --------------------------------------------------------------------------- the workflow table


EXPECTED_ACTIONS = {
    SetStatus.DRAFT: {"enterprise": {"submit"}},
    SetStatus.SUPPLIER_REVIEW: {"enterprise": {"withdraw"}, "supplier": {"confirm", "return"}},
    SetStatus.VERIFICATION: {"province": {"override"}},
    SetStatus.CITY_REVIEW: {"city": {"approve", "return", "reject"}, "city_operator": {"approve", "return", "reject"}},
    SetStatus.RETURNED: {"enterprise": {"submit"}},
    SetStatus.APPROVED: {},
    SetStatus.REJECTED: {},
}


def test_the_workflow_table_role_by_role_and_row_scope(app):
    # rule: SET-1, SET-3, SET-4, SET-5, SET-6
    w = world()
    people = {
        "supplier": w.sup_user, "city": w.city_user, "province": w.prov_user,
        "expert": make_user(Role.EXPERT),
        "city_operator": make_user(Role.OPERATOR, city_code="440100"),
        "other_enterprise": w.ent_user,
        "other_supplier": make_user(Role.SUPPLIER),
        "other_city": make_user(Role.CITY, city_code="440300"),
        "province_operator": make_user(Role.OPERATOR),
    }
    made = {}
    for stage in ("draft", "supplier_review", "verification", "city_review", "approved"):
        made[stage] = settle(w, make_enterprise(), stage=stage)
    returned = settle(w, make_enterprise(), stage="supplier_review")
    settlement.supplier_return(returned, w.sup_user, [settlement.SUPPLIER_RETURN_REASONS[0]], "", {})
    rejected = settle(w, make_enterprise(), stage="city_review")
    settlement.reject(rejected, w.city_user, "材料虚假")
    made["returned"], made["rejected"] = returned, rejected
    assert {st.status for st in made.values()} == set(EXPECTED_ACTIONS)
    for st in made.values():
        users = dict(people, enterprise=ent_user_of(st))
        expected = EXPECTED_ACTIONS[st.status]
        if "province" in expected:  # an operator with no city acts for the province
            expected = dict(expected, province_operator=expected["province"])
        for who, user in users.items():
            got = {t.action for t in workflow.actions_for(st, user)}
            assert got == expected.get(who, set()), (st.status, who, got)
    # Every transition of the table lands where the table says.
    targets = {(t.source, t.action): t.target for t in workflow.SETTLEMENT}
    assert targets == {
        ("draft", "submit"): "supplier_review", ("returned", "submit"): "supplier_review",
        ("supplier_review", "withdraw"): "draft", ("supplier_review", "confirm"): "verification",
        ("supplier_review", "return"): "returned", ("verification", "override"): "city_review",
        ("city_review", "approve"): "approved", ("city_review", "return"): "returned",
        ("city_review", "reject"): "rejected",
    }


# --------------------------------------------------------------------------- AMT-4: the bonus


def certified(e, *, subsidy=False, with_file=True):
    e.dcmm_certified = True
    e.dcmm_subsidy_received = subsidy
    if with_file:
        e.dcmm_file_id = uploads.store_bytes(contract_pdf_bytes("两化融合贯标证书"), mime="application/pdf",
                                             name="贯标证书.pdf", kind="dcmm_file", owner_type="enterprise",
                                             owner_id=e.id, user_id=None).id
    db.session.flush()
    return e


def test_the_bonus_comes_once_with_the_first_approved_settlement(app):
    # rule: AMT-4
    w = world()
    certified(w.enterprise)
    first = settle(w, stage="city_review")
    second = settle(w, stage="city_review")
    assert settlement.bonus_due(w.enterprise)
    settlement.approve(first, w.city_user)
    assert first.bonus_fen == 20_000_000
    grant = db.session.execute(db.select(BonusGrant)).scalar_one()
    assert (grant.enterprise_id, grant.settlement_id, grant.amount_fen) == (w.enterprise.id, first.id, 20_000_000)
    assert audit_rows("settlement", first.id, "approve")[-1].data["bonus_fen"] == 20_000_000
    assert any("贯标奖补 ¥200,000.00" in n.body for n in notices_of(w.ent_user, "已通过地市审核"))
    settlement.approve(second, w.city_user)
    assert second.status == SetStatus.APPROVED and second.bonus_fen == 0
    assert db.session.execute(db.select(db.func.count(BonusGrant.id))).scalar_one() == 1


@pytest.mark.parametrize("case", ["subsidy_received", "no_certificate_file", "not_certified"])
def test_no_bonus_without_the_conditions(app, case):
    # rule: AMT-4
    w = world()
    if case == "subsidy_received":
        certified(w.enterprise, subsidy=True)
    elif case == "no_certificate_file":
        certified(w.enterprise, with_file=False)
    st = settle(w, stage="approved")
    assert st.status == SetStatus.APPROVED and st.bonus_fen == 0
    assert db.session.execute(db.select(db.func.count(BonusGrant.id))).scalar_one() == 0


def test_the_bonus_needs_an_approved_profile(app):
    # rule: AMT-4
    w = world()
    certified(w.enterprise)
    st = settle(w, stage="city_review")
    w.enterprise.status = RegStatus.RETURNED  # sent back for correction: not an approved profile now
    assert not settlement.bonus_due(w.enterprise)
    settlement.approve(st, w.city_user)
    assert st.status == SetStatus.APPROVED and st.bonus_fen == 0


# --------------------------------------------------------------------------- DL-2: void vouchers


def test_void_expired_voids_what_was_not_filed_in_time(app):
    # rule: DL-2
    w = world()
    deadline = w.cycle.settlement_deadline
    e_none, e_draft, e_late, e_sub, e_ver, e_ret = (make_enterprise() for _ in range(6))
    v_none = voucher_of(w, e_none)
    st_draft = settle(w, e_draft)
    st_late = settle(w, e_late, stage="supplier_review")  # returned early, never resubmitted
    settlement.supplier_return(st_late, w.sup_user, [settlement.SUPPLIER_RETURN_REASONS[0]], "", {})
    st_sub = settle(w, e_sub, stage="supplier_review")
    st_ver = settle(w, e_ver, stage="verification")
    st_ret = settle(w, e_ret, stage="supplier_review")
    db.session.commit()
    with travel(at(deadline, 16)):  # returned on the deadline day: 5 working days from then
        settlement.supplier_return(st_ret, w.sup_user, [settlement.SUPPLIER_RETURN_REASONS[0]], "", {})
        db.session.commit()
    assert st_ret.resubmit_by > deadline + dt.timedelta(days=1)
    # Up to the deadline nothing is void.
    assert settlement.void_expired(on=deadline) == 0
    day_after = deadline + dt.timedelta(days=1)
    assert settlement.void_expired(on=day_after) == 3
    db.session.expire_all()
    voided = {v_none.id, st_draft.voucher_id, st_late.voucher_id}
    for vid in voided:
        v = db.session.get(Voucher, vid)
        assert v.status == VoucherStatus.VOID and v.ended_at is not None and "服务券作废" in v.end_reason
        assert len(audit_rows("voucher", vid, "void")) == 1
        assert len(notices_of(ent_user_of(v), "服务券已作废")) == 1
    assert "退回后未在" in db.session.get(Voucher, st_late.voucher_id).end_reason
    for st in (st_sub, st_ver, st_ret):
        assert db.session.get(Voucher, st.voucher_id).status == VoucherStatus.ISSUED
    # Idempotent: nothing more is voided, no extra audit rows or notices.
    audits = db.session.execute(db.select(db.func.count(AuditEvent.id))).scalar_one()
    notes = db.session.execute(db.select(db.func.count(Notice.id))).scalar_one()
    assert settlement.void_expired(on=day_after) == 0
    assert db.session.execute(db.select(db.func.count(AuditEvent.id))).scalar_one() == audits
    assert db.session.execute(db.select(db.func.count(Notice.id))).scalar_one() == notes
    # The late return is void only after its own resubmission day.
    assert settlement.void_expired(on=st_ret.resubmit_by) == 0
    assert settlement.void_expired(on=st_ret.resubmit_by + dt.timedelta(days=1)) == 1
    db.session.expire_all()
    assert db.session.get(Voucher, st_ret.voucher_id).status == VoucherStatus.VOID
    assert db.session.get(Voucher, st_sub.voucher_id).status == VoucherStatus.ISSUED


def test_a_return_may_be_resubmitted_past_the_deadline_within_five_working_days(app):
    # rule: DL-2, SET-3
    w = world()
    deadline = w.cycle.settlement_deadline
    in_time = settle(w, stage="supplier_review")
    too_late = settle(w, make_enterprise(), stage="supplier_review")
    db.session.commit()
    with travel(at(deadline, 11)):
        for st in (in_time, too_late):
            settlement.supplier_return(st, w.sup_user, [settlement.SUPPLIER_RETURN_REASONS[1]], "", {})
        db.session.commit()
    by = in_time.resubmit_by
    assert by == timeutil.add_working_days(deadline, 5) and by > deadline
    with travel(at(by, 23, 59, 59)):  # the last day, past the cycle's deadline
        assert settlement.filing_problem(in_time) is None
        settlement.submit(in_time, w.ent_user)
        db.session.commit()
    assert in_time.status == SetStatus.SUPPLIER_REVIEW
    with travel(at(by + dt.timedelta(days=1), 0, 0, 30)):
        message = submit_refused(too_late, ent_user_of(too_late))
        assert "已逾期" in message and f"{by:%Y-%m-%d}" in message
        # Even before the sweep has run: a late filing is refused on its own.
        assert db.session.get(Voucher, too_late.voucher_id).status == VoucherStatus.ISSUED
    assert too_late.status == SetStatus.RETURNED


def test_the_void_expired_command(app):
    # rule: DL-2
    w = world()
    voucher_of(w)
    voucher_of(w, make_enterprise())
    settle(w, make_enterprise(), stage="supplier_review")
    db.session.commit()
    day_after = w.cycle.settlement_deadline + dt.timedelta(days=1)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["vouchers", "void-expired", "--on", day_after.isoformat()])
    assert result.exit_code != 0 and "in the future" in result.output  # never void what is still in time
    assert db.session.execute(db.select(db.func.count()).where(Voucher.status == VoucherStatus.VOID)).scalar_one() == 0
    morning = dt.datetime.combine(day_after, dt.time(0, 10), tzinfo=timeutil.LOCAL_TZ)
    with time_machine.travel(morning, tick=False):
        result = runner.invoke(args=["vouchers", "void-expired"])
        assert result.exit_code == 0, result.output
        assert "voided 2 vouchers" in result.output
        result = runner.invoke(args=["vouchers", "void-expired", "--on", day_after.isoformat()])
        assert "voided 0 vouchers" in result.output
    db.session.expire_all()
    statuses = sorted(db.session.execute(db.select(Voucher.status)).scalars())
    assert statuses == ["issued", "void", "void"]


# --------------------------------------------------------------------------- release instead of void


def test_a_release_before_the_application_deadline_returns_the_quota(app):
    # rule: DL-2, CYC-3, AMT-3
    w = world()
    v = voucher_of(w)
    st = settle(w, v=v)  # a draft may be given up with its voucher
    face = v.face_value_fen
    target = db.session.execute(db.select(CityTarget)).scalar_one()
    db.session.refresh(target)  # issuance adds to issued_fen in SQL
    issued_before = target.issued_fen
    assert amounts.issued_sum(w.enterprise.id, w.cycle.id) == face and issued_before >= face
    assert settlement.release(v, w.ent_user) == VoucherStatus.RELEASED
    db.session.flush()
    db.session.refresh(target)
    assert v.status == VoucherStatus.RELEASED and v.ended_at is not None
    assert target.issued_fen == issued_before - face
    assert amounts.issued_sum(w.enterprise.id, w.cycle.id) == 0
    assert settlement.penalty(w.enterprise.id).void_count == 0
    assert len(audit_rows("voucher", v.id, "release")) == 1
    # the draft stays with its files and timeline (never deleted: its id is never handed to another), and
    # can no longer be filed
    assert db.session.get(Settlement, st.id).status == SetStatus.DRAFT
    assert "已作废或已放弃" in settlement.filing_problem(st)
    with pytest.raises(Refused):
        settlement.release(v, w.ent_user)


def test_a_release_after_the_application_deadline_counts_as_void(app):
    # rule: DL-2, DL-3
    w = world()
    v = voucher_of(w)
    target = db.session.execute(db.select(CityTarget)).scalar_one()
    db.session.refresh(target)  # issuance adds to issued_fen in SQL
    issued_before = target.issued_fen
    db.session.commit()
    with travel(at(w.cycle.application_deadline + dt.timedelta(days=1), 9)):
        assert settlement.release(v, w.ent_user) == VoucherStatus.VOID
        db.session.commit()
    db.session.refresh(target)
    assert v.status == VoucherStatus.VOID and target.issued_fen == issued_before
    assert len(audit_rows("voucher", v.id, "void")) == 1
    assert settlement.penalty(w.enterprise.id).void_count == 1
    assert amounts.issued_sum(w.enterprise.id, w.cycle.id) == 0


def test_a_submitted_settlement_cannot_be_released(app):
    # rule: DL-2
    w = world()
    st = settle(w, stage="supplier_review")
    with pytest.raises(Refused, match="已提交"):
        settlement.release(st.voucher, w.ent_user)
    settlement.withdraw(st, w.ent_user)  # a withdrawn draft was filed once: still not
    with pytest.raises(Refused):
        settlement.release(st.voucher, w.ent_user)
    assert st.voucher.status == VoucherStatus.ISSUED


# --------------------------------------------------------------------------- AMT-3, DL-3, DL-4


def test_a_void_voucher_frees_its_share_of_the_cumulative_cap(app):
    # rule: AMT-3, DL-2
    w = world(cap_fen=400_000_00)
    first = voucher_of(w, fee_fen=200_000_00)
    voucher_of(w, fee_fen=200_000_00)
    assert amounts.issued_sum(w.enterprise.id, w.cycle.id) == 400_000_00
    st = settle(w, v=first, stage="city_review")
    settlement.reject(st, w.city_user, "付款凭证系伪造")
    assert amounts.issued_sum(w.enterprise.id, w.cycle.id) == 200_000_00
    # The freed share can be issued again.
    a = make_application(w.enterprise, w.supplier, w.cycle, stage="approved", fee_fen=200_000_00, users=w.users)
    v3 = db.session.execute(db.select(Voucher).where(Voucher.application_id == a.id)).scalar_one()
    assert v3.face_value_fen == 200_000_00
    assert amounts.issued_sum(w.enterprise.id, w.cycle.id) == 400_000_00


def _cycles_after(w):
    d = w.cycle.settlement_deadline
    nxt = make_cycle(name="2027年第一批", application_deadline=d + dt.timedelta(days=30),
                     settlement_deadline=d + dt.timedelta(days=200))
    later = make_cycle(name="2027年第二批", application_deadline=d + dt.timedelta(days=400),
                       settlement_deadline=d + dt.timedelta(days=600))
    return nxt, later


def _elig8(e, cycle_id):
    return next(c for c in eligibility.check(e, cycle_id=cycle_id) if c.rule == "ELIG-8")


def test_two_void_vouchers_suspend_the_next_cycle_only(app):
    # rule: DL-3, ELIG-8, DL-2
    w = world()
    voucher_of(w)
    voucher_of(w)
    nxt, later = _cycles_after(w)
    db.session.commit()
    with travel(at(w.cycle.settlement_deadline + dt.timedelta(days=1), 1)):
        assert settlement.void_expired() == 2
    db.session.expire_all()
    pen = settlement.penalty(w.enterprise.id)
    assert pen.void_count == 2 and not pen.disqualified and pen.suspended_cycle.id == nxt.id
    check = _elig8(w.enterprise, nxt.id)
    assert check.ok is False
    assert "2027年第一批" in check.reason and f"{nxt.application_deadline:%Y-%m-%d}" in check.reason
    assert not eligibility.all_passed(eligibility.check(w.enterprise, cycle_id=nxt.id))
    assert _elig8(w.enterprise, later.id).ok is True
    assert _elig8(make_enterprise(), nxt.id).ok is True


def test_one_void_voucher_is_only_a_warning(app):
    # rule: DL-3, ELIG-8
    w = world()
    st = settle(w, stage="city_review")
    nxt, _ = _cycles_after(w)
    settlement.reject(st, w.city_user, "材料虚假")
    check = _elig8(w.enterprise, nxt.id)
    assert check.ok is True and "1 张" in check.reason


def test_three_void_vouchers_disqualify_for_good(app):
    # rule: DL-4, ELIG-8, DL-2
    w = world()
    for _ in range(3):
        voucher_of(w)
    nxt, later = _cycles_after(w)
    db.session.commit()
    with travel(at(w.cycle.settlement_deadline + dt.timedelta(days=1), 1)):
        assert settlement.void_expired() == 3
    db.session.expire_all()
    assert settlement.penalty(w.enterprise.id).disqualified
    for cycle in (nxt, later):
        check = _elig8(w.enterprise, cycle.id)
        assert check.ok is False and "取消" in check.reason
    assert _elig8(w.enterprise, None).ok is False


def test_released_vouchers_do_not_count_for_penalties(app):
    # rule: DL-3, DL-2
    w = world()
    for _ in range(3):
        settlement.release(voucher_of(w), w.ent_user)
    nxt, _ = _cycles_after(w)
    assert settlement.penalty(w.enterprise.id).void_count == 0
    assert _elig8(w.enterprise, nxt.id).ok is True


def test_the_bonus_is_only_on_the_first_approved_settlement(app):
    # rule: AMT-4
    w = world()
    first = settle(w, stage="approved")  # approved before the certificate was in the profile: no bonus
    assert first.bonus_fen == 0
    certified(w.enterprise)
    second = settle(w, stage="approved")
    assert second.bonus_fen == 0 and db.session.execute(db.select(db.func.count(BonusGrant.id))).scalar_one() == 0


def test_a_paper_invoice_number_is_one_invoice_per_invoice_code(app):
    # rule: SET-6
    w = world()
    first = settle(w, invoices=[{"number": "00015045", "code": "4200161350"}], stage="supplier_review")
    second = settle(w, make_enterprise(), invoices=[{"number": "00015045", "code": "4200161351"}])
    assert not any("已用于另一份兑现申请" in t for t in failed_texts(second))
    settlement.submit(second, ent_user_of(second))
    assert second.status == SetStatus.SUPPLIER_REVIEW and first.status == SetStatus.SUPPLIER_REVIEW
    third = settle(w, make_enterprise(), invoices=[{"number": "00015045", "code": "4200161350"}])
    assert any("发票 00015045已用于另一份兑现申请" in t for t in failed_texts(third))


def test_the_void_sweep_reads_the_settlement_again_after_locking_the_voucher(app, monkeypatch):
    # rule: DL-2 — a submission that commits between the sweep's read and its lock is filed in time
    w = world()
    filed = settle(w, stage="supplier_review")
    unfiled = voucher_of(w)
    ids = [filed.voucher_id, unfiled.id]  # what a read before the submission committed would list

    def query(on=None):
        return db.select(Voucher).where(Voucher.id.in_(ids)).order_by(Voucher.id)

    monkeypatch.setattr(settlement, "expired_vouchers", query)
    day_after = filed.cycle.settlement_deadline + dt.timedelta(days=1)
    assert settlement.void_expired(on=day_after) == 1
    db.session.expire_all()
    assert db.session.get(Voucher, filed.voucher_id).status == VoucherStatus.ISSUED
    assert db.session.get(Voucher, unfiled.id).status == VoucherStatus.VOID
