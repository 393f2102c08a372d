"""The enterprise's settlement pages: start from the voucher, fill rows, read invoices, live checks,
submit, withdraw, release (SET-1..3, SET-6, DL-2)."""
from __future__ import annotations

import datetime as dt
import io

import time_machine

from blueprints.core.timeutil import LOCAL_TZ, today
from blueprints.core import settlement
from models import (
    AuditEvent, CityTarget, Role, SetStatus, Settlement, SettlementInvoice, User, Voucher, VoucherStatus, db,
)
from tests import invoice_fixtures as inv
from tests.factories import invoice_number, make_settlement, make_user, make_voucher, settlement_file_bytes


def _enterprise_client(login, v):
    user = make_user(Role.ENTERPRISE, enterprise_id=v.enterprise_id)
    db.session.commit()
    return login(user), user


def _form_for(st, **over) -> dict:
    """The posted form of a settlement as stored, with overrides by field name."""
    from blueprints.core import settlement_form

    p = settlement_form.from_stored(st)
    data = dict(p.texts)
    data.update(over)
    return data


def test_voucher_page_shows_next_step_and_days_left_then_starts_a_draft(app, login):
    # rule: SET-1
    v = make_voucher()
    c, _ = _enterprise_client(login, v)
    page = c.get(f"/enterprise/vouchers/{v.id}").get_data(as_text=True)
    days = (v.cycle.settlement_deadline - today()).days
    assert "申请兑现" in page and f"距兑现截止还有 {days} 天" in page
    r = c.post(f"/enterprise/vouchers/{v.id}/settlement")
    assert r.status_code == 303
    st = db.session.execute(db.select(Settlement).where(Settlement.voucher_id == v.id)).scalar_one()
    assert r.headers["Location"].endswith(f"/enterprise/settlements/{st.id}/edit")
    assert st.status == SetStatus.DRAFT and len(st.invoices) == 1 and len(st.payments) == 1
    # starting twice opens the same draft
    assert c.post(f"/enterprise/vouchers/{v.id}/settlement").headers["Location"].endswith(f"/{st.id}/edit")
    assert db.session.execute(db.select(db.func.count(Settlement.id))).scalar_one() == 1


def test_save_keeps_good_fields_and_refuses_bad_ones_by_name(app, login):
    # rule: SET-1
    st = make_settlement(invoices=[{"file": None}], acceptance=False)
    db.session.commit()
    c, _ = _enterprise_client(login, st.voucher)
    key = f"inv-{st.invoices[0].id}"
    pay = f"pay-{st.payments[0].id}"
    form = _form_for(st, **{f"{key}-number": "1234", f"{pay}-payee": "某某供应商有限公司", f"{pay}-amount": "12.345",
                            "do": "save"})
    r = c.post(f"/enterprise/settlements/{st.id}/edit", data=form)
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "发票号码应为 8 位或 20 位数字" in page and "金额最小单位为分" in page or "金额格式不正确" in page
    assert 'value="1234"' in page  # what was typed is shown again
    db.session.expire_all()
    st = db.session.get(Settlement, st.id)
    assert st.payments[0].payee_name == "某某供应商有限公司"  # the good field was saved
    assert st.invoices[0].number != "1234"  # the bad one was not


def test_rows_are_added_and_removed_on_the_server(app, login):
    st = make_settlement()
    db.session.commit()
    c, _ = _enterprise_client(login, st.voucher)
    r = c.post(f"/enterprise/settlements/{st.id}/edit", data=_form_for(st, do="add_inv"))
    assert r.status_code == 303
    db.session.expire_all()
    st = db.session.get(Settlement, st.id)
    assert len(st.invoices) == 2
    new = st.invoices[1]
    r = c.post(f"/enterprise/settlements/{st.id}/edit", data=_form_for(st, do=f"remove:inv-{new.id}"))
    assert r.status_code == 303
    db.session.expire_all()
    assert [i.id for i in db.session.get(Settlement, st.id).invoices] == [st.invoices[0].id]


def test_uploaded_invoice_pdf_fills_the_row_and_flags_a_disagreeing_figure(app, login):
    # rule: SET-1
    st = make_settlement(invoices=[{"number": "", "issued_on": None, "seller_name": "", "seller_uscc": "",
                                    "total_fen": None, "file": None}])
    db.session.commit()
    v = st.voucher
    c, _ = _enterprise_client(login, v)
    key = f"inv-{st.invoices[0].id}"
    number = "24442000000012345678"
    signed = v.application.contract_signed_on
    pdf = inv.invoice_pdf(number=number, issued_on=signed, seller_name=v.supplier.name, seller_uscc=v.supplier.uscc,
                          pretax_fen=v.face_value_fen * 100 // 113, total_fen=v.face_value_fen)
    form = _form_for(st, do="save")
    form[f"{key}-file"] = (io.BytesIO(pdf), "发票.pdf")
    r = c.post(f"/enterprise/settlements/{st.id}/edit", data=form, content_type="multipart/form-data")
    assert r.status_code == 200
    assert "已从发票文件识别并填入" in r.get_data(as_text=True)
    db.session.expire_all()
    row = db.session.get(SettlementInvoice, st.invoices[0].id)
    assert (row.number, row.issued_on, row.seller_uscc, row.total_fen) == (number, signed, v.supplier.uscc,
                                                                            v.face_value_fen)
    assert row.read_data and "qr" in row.read_data["sources"]
    # a typed total that disagrees with the invoice's own text is flagged beside the row
    st = db.session.get(Settlement, st.id)
    r = c.get(f"/enterprise/settlements/{st.id}/check", query_string=_form_for(st, **{f"{key}-total": "1.00"}))
    assert "价税合计" in r.get_data(as_text=True) and "不一致" in r.get_data(as_text=True)


def test_unreadable_photo_just_leaves_the_row_to_be_typed(app, login):
    st = make_settlement(invoices=[{"number": "", "file": None}])
    db.session.commit()
    c, _ = _enterprise_client(login, st.voucher)
    key = f"inv-{st.invoices[0].id}"
    form = _form_for(st, do="save")
    form[f"{key}-file"] = (io.BytesIO(inv.unreadable_photo()), "发票.jpg")
    r = c.post(f"/enterprise/settlements/{st.id}/edit", data=form, content_type="multipart/form-data")
    assert r.status_code == 303
    db.session.expire_all()
    row = db.session.get(SettlementInvoice, st.invoices[0].id)
    assert row.file_id is not None and row.number == "" and row.read_data is None


def test_live_checks_turn_green_when_the_payment_reaches_the_face_value(app, login):
    # rule: SET-2
    v = make_voucher(fee_fen=100_000_00)
    assert v.face_value_fen == 100_000_00
    st = make_settlement(v)
    db.session.commit()
    c, _ = _enterprise_client(login, v)
    pay = f"pay-{st.payments[0].id}"
    short = c.get(f"/enterprise/settlements/{st.id}/check", query_string=_form_for(st, **{pay: "", f"{pay}-amount": "99999.99"}))
    text = short.get_data(as_text=True)
    assert "付款合计 ¥99,999.99 低于服务券面值 ¥100,000.00，还差 ¥0.01" in text and "1 项未通过" in text
    ok = c.get(f"/enterprise/settlements/{st.id}/check", query_string=_form_for(st, **{f"{pay}-amount": "100000.00"}))
    assert "全部通过" in ok.get_data(as_text=True)
    # 万元 is read as such: 10 万元 = ¥100,000.00
    wan = c.get(f"/enterprise/settlements/{st.id}/check",
                query_string=_form_for(st, unit="wan", **{f"{pay}-amount": "10", f"inv-{st.invoices[0].id}-total": "10"}))
    assert "全部通过" in wan.get_data(as_text=True)


def test_submit_stamps_once_and_a_refused_submit_keeps_the_draft(app, login):
    # rule: SET-3
    v = make_voucher(fee_fen=100_000_00)
    st = make_settlement(v)
    db.session.commit()
    c, _ = _enterprise_client(login, v)
    pay = f"pay-{st.payments[0].id}"
    page = c.get(f"/enterprise/settlements/{st.id}/edit").get_data(as_text=True)
    nonce = page.split('name="nonce" value="')[1].split('"')[0]
    r = c.post(f"/enterprise/settlements/{st.id}/edit",
               data=_form_for(st, do="submit", nonce=nonce, **{f"{pay}-amount": "99999.99"}))
    assert r.status_code == 422 and "草稿已保存，但还不能提交" in r.get_data(as_text=True)
    db.session.expire_all()
    st = db.session.get(Settlement, st.id)
    assert st.status == SetStatus.DRAFT and st.submitted_at is None and st.payments[0].amount_fen == 99_999_99
    page = c.get(f"/enterprise/settlements/{st.id}/edit").get_data(as_text=True)
    nonce = page.split('name="nonce" value="')[1].split('"')[0]
    r = c.post(f"/enterprise/settlements/{st.id}/edit",
               data=_form_for(st, do="submit", nonce=nonce, **{f"{pay}-amount": "100000.00"}))
    assert r.status_code == 303, r.get_data(as_text=True)
    db.session.expire_all()
    st = db.session.get(Settlement, st.id)
    assert st.status == SetStatus.SUPPLIER_REVIEW and st.submitted_at is not None
    first = st.submitted_at
    # the same form again: refused, nothing changes
    r = c.post(f"/enterprise/settlements/{st.id}/edit", data=_form_for(st, do="submit", nonce=nonce))
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/enterprise/settlements/{st.id}")
    # withdraw, resubmit: the first time stays
    assert c.post(f"/enterprise/settlements/{st.id}/withdraw").status_code == 303
    db.session.expire_all()
    assert db.session.get(Settlement, st.id).status == SetStatus.DRAFT
    page = c.get(f"/enterprise/settlements/{st.id}/edit").get_data(as_text=True)
    nonce = page.split('name="nonce" value="')[1].split('"')[0]
    st = db.session.get(Settlement, st.id)
    assert c.post(f"/enterprise/settlements/{st.id}/edit", data=_form_for(st, do="submit", nonce=nonce)).status_code == 303
    db.session.expire_all()
    st = db.session.get(Settlement, st.id)
    assert st.status == SetStatus.SUPPLIER_REVIEW and st.submitted_at == first


def test_late_filing_is_refused_even_before_the_void_command_runs(app, login):
    # rule: DL-2
    st = make_settlement()
    db.session.commit()
    v = st.voucher
    _, user = _enterprise_client(login, v)
    late = dt.datetime.combine(v.cycle.settlement_deadline + dt.timedelta(days=1), dt.time(9), tzinfo=LOCAL_TZ)
    with time_machine.travel(late, tick=False):
        c = login(user)  # a session idle for months has expired: log in on the day
        page = c.get(f"/enterprise/settlements/{st.id}/edit").get_data(as_text=True)
        assert "不能再提交" in page
        nonce = page.split('name="nonce" value="')[1].split('"')[0]
        r = c.post(f"/enterprise/settlements/{st.id}/edit", data=_form_for(st, do="submit", nonce=nonce))
        assert r.status_code == 422 and "截止" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Settlement, st.id).status == SetStatus.DRAFT
    assert db.session.get(Voucher, v.id).status == VoucherStatus.ISSUED  # only the command voids
    # on the deadline day itself (Beijing time, late evening) it is still open
    last = dt.datetime.combine(v.cycle.settlement_deadline, dt.time(23, 50), tzinfo=LOCAL_TZ)
    with time_machine.travel(last, tick=False):
        c = login(user)
        page = c.get(f"/enterprise/settlements/{st.id}/edit").get_data(as_text=True)
        nonce = page.split('name="nonce" value="')[1].split('"')[0]
        st = db.session.get(Settlement, st.id)
        assert c.post(f"/enterprise/settlements/{st.id}/edit", data=_form_for(st, do="submit", nonce=nonce)).status_code == 303


def test_release_before_the_application_deadline_returns_the_quota(app, login):
    # rule: DL-2
    v = make_voucher()
    db.session.commit()
    c, _ = _enterprise_client(login, v)
    before = db.session.execute(db.select(CityTarget.issued_fen)).scalar_one()
    page = c.get(f"/enterprise/vouchers/{v.id}/release").get_data(as_text=True)
    assert "不计入作废次数" in page
    assert c.post(f"/enterprise/vouchers/{v.id}/release", data={}).status_code == 422  # no confirmation ticked
    assert c.post(f"/enterprise/vouchers/{v.id}/release", data={"confirm": "yes"}).status_code == 303
    db.session.expire_all()
    v = db.session.get(Voucher, v.id)
    assert v.status == VoucherStatus.RELEASED
    assert db.session.execute(db.select(CityTarget.issued_fen)).scalar_one() == before - v.face_value_fen
    assert db.session.execute(db.select(AuditEvent).where(AuditEvent.entity_type == "voucher",
                                                          AuditEvent.action == "release")).scalar_one()


def test_release_after_the_application_deadline_counts_as_void(app, login):
    # rule: DL-2
    v = make_voucher()
    db.session.commit()
    _, user = _enterprise_client(login, v)
    after = dt.datetime.combine(v.cycle.application_deadline + dt.timedelta(days=1), dt.time(10), tzinfo=LOCAL_TZ)
    with time_machine.travel(after, tick=False):
        c = login(user)
        assert "按作废处理" in c.get(f"/enterprise/vouchers/{v.id}/release").get_data(as_text=True)
        assert c.post(f"/enterprise/vouchers/{v.id}/release", data={"confirm": "yes"}).status_code == 303
    db.session.expire_all()
    assert db.session.get(Voucher, v.id).status == VoucherStatus.VOID


def test_a_submitted_settlement_cannot_be_released_or_edited(app, login):
    st = make_settlement(stage="supplier_review")
    db.session.commit()
    c, _ = _enterprise_client(login, st.voucher)
    assert "已提交兑现申请" in c.get(f"/enterprise/vouchers/{st.voucher_id}/release").get_data(as_text=True)
    assert c.post(f"/enterprise/vouchers/{st.voucher_id}/release", data={"confirm": "yes"}).status_code == 422
    r = c.post(f"/enterprise/settlements/{st.id}/edit", data={"do": "save"})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/enterprise/settlements/{st.id}")


def test_another_enterprise_gets_404(app, login):
    # rule: ROLE-8
    st = make_settlement()
    other = make_voucher()
    db.session.commit()
    c, _ = _enterprise_client(login, other)
    for url in (f"/enterprise/settlements/{st.id}", f"/enterprise/settlements/{st.id}/edit",
                f"/enterprise/settlements/{st.id}/check", f"/enterprise/vouchers/{st.voucher_id}/release"):
        assert c.get(url).status_code == 404, url
    assert c.post(f"/enterprise/vouchers/{st.voucher_id}/settlement").status_code == 404


def _with_rows(n: int):
    v = make_voucher(fee_fen=100_000_00)
    share = v.face_value_fen // n
    invoices = [{"total_fen": share + (v.face_value_fen - share * n if i == 0 else 0)} for i in range(n)]
    payments = [{"amount_fen": share + (v.face_value_fen - share * n if i == 0 else 0)} for i in range(n)]
    return make_settlement(v, invoices=invoices, payments=payments, stage="supplier_review")


def test_settlement_pages_read_a_constant_number_of_queries(app, login, count_queries):
    # One row or six: the form, the live check and the detail page cost the same number of queries.
    counts = {}
    for n in (1, 6):
        st = _with_rows(n)
        settlement.withdraw(st, db.session.execute(db.select(User).where(
            User.enterprise_id == st.enterprise_id)).scalars().first())
        db.session.commit()
        c, _ = _enterprise_client(login, st.voucher)
        got = []
        for url in (f"/enterprise/settlements/{st.id}/edit", f"/enterprise/settlements/{st.id}/check",
                    f"/enterprise/settlements/{st.id}"):
            db.session.expire_all()
            with count_queries() as q:
                assert c.get(url).status_code == 200
            got.append(q.count)
        counts[n] = got
    assert all(many <= one for one, many in zip(counts[1], counts[6])), counts  # no query per row


def test_the_home_page_shows_vouchers_to_file_and_the_nearest_deadline(app, login):
    # rule: DL-1, DL-2
    v = make_voucher()
    db.session.commit()
    c, _ = _enterprise_client(login, v)
    page = c.get("/enterprise/").get_data(as_text=True)
    assert "待提交兑现 <strong>1</strong>" in page
    assert f"最近的兑现截止日 {v.cycle.settlement_deadline:%Y-%m-%d}" in page


def test_enter_in_a_text_field_saves_rather_than_deletes_an_invoice_row(app, login):
    # The browser presses a form's first submit button on Enter: it must be the draft's save, not
    # invoice row 1's 删除这一行.
    import re

    st = make_settlement()
    db.session.commit()
    c, _ = _enterprise_client(login, st.voucher)
    page = c.get(f"/enterprise/settlements/{st.id}/edit").get_data(as_text=True)
    form = page[page.index('id="settlement-form"'):]
    form = form[:form.index("</form>")]
    first = re.search(r'<(?:button|input)\b(?=[^>]*type="submit")[^>]*>', form)
    assert first, form[:1500]
    tag = first.group(0)
    assert 'name="do"' in tag and 'value="save"' in tag and "remove" not in tag
    assert 'value="remove:' in form  # the row's delete button is there, after it
    # Pressing Enter posts what that button sends: a save, every row kept.
    n = len(st.invoices)
    r = c.post(f"/enterprise/settlements/{st.id}/edit", data=_form_for(st, do="save"))
    assert r.status_code in (200, 303)
    db.session.expire_all()
    assert len(db.session.get(Settlement, st.id).invoices) == n
