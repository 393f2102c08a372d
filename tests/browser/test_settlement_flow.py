"""Browser test of settlement in real Chromium: settlement from a phone to the city's approval.

On a 390x844 screen the enterprise files a settlement with two invoice photos (their QR codes fill the rows)
and a payment proof, sees the failing payment-total check turn green as it corrects the amount, and submits;
the supplier confirms; the province overrides the usage verification with a reason; the city officer approves
on a desktop screen.
"""
from __future__ import annotations

import os

import pytest

from models import Role, SetStatus, Settlement, db
from tests import invoice_fixtures as inv
from tests.browser.conftest import DESKTOP, PHONE, login_via_form
from tests.factories import PASSWORD, contract_jpeg_bytes, make_user, make_voucher


SHOTS = os.environ.get("TEST_SHOTS")  # a folder: keep screenshots while developing


def _shot(pg, name):
    if SHOTS:
        pg.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def _photo(name: str, data: bytes, mime: str = "image/png") -> dict:
    return {"name": name, "mimeType": mime, "buffer": data}


@pytest.mark.browser
def test_file_on_a_phone_confirm_override_and_approve(live_server, new_page):
    # rule: SET-1, SET-2, SET-3, SET-4, SET-5, SET-6
    from playwright.sync_api import expect

    v = make_voucher(fee_fen=100_000_00)
    make_user(Role.ENTERPRISE, username="ent_settle", enterprise_id=v.enterprise_id)
    make_user(Role.SUPPLIER, username="sup_settle", supplier_id=v.supplier_id)
    make_user(Role.PROVINCE, username="prov_settle")
    make_user(Role.CITY, username="city_settle", city_code=v.city_code)
    voucher_id, signed = v.id, v.application.contract_signed_on
    sup_name, sup_uscc, face = v.supplier.name, v.supplier.uscc, v.face_value_fen
    assert face == 100_000_00
    db.session.commit()

    # 1. The enterprise, on its phone, from the voucher page.
    phone = new_page(PHONE)
    phone.on("dialog", lambda d: d.accept())
    login_via_form(phone, live_server.url, "ent_settle", PASSWORD)
    phone.goto(f"{live_server.url}/enterprise/vouchers/{voucher_id}")
    assert "距兑现截止还有" in phone.inner_text("#voucher-next-step")
    phone.click("#voucher-settle")
    phone.wait_for_selector("#settlement-form")
    st = db.session.execute(db.select(Settlement)).scalar_one()
    st_id, inv1, pay1 = st.id, f"inv-{st.invoices[0].id}", f"pay-{st.payments[0].id}"
    db.session.rollback()

    # The first invoice photo: choosing it uploads and reads it; its QR code fills number and date.
    photo1 = inv.invoice_photo(number="44001234", code="4400161350", issued_on=signed, pretax_fen=4_424_779,
                               kind="04", seed=11)
    phone.set_input_files(f"#{inv1}-file", files=[_photo("IMG_1001.png", photo1)])
    expect(phone.locator(f"#{inv1}-number")).to_have_value("44001234")
    expect(phone.locator(f"#{inv1}-date")).to_have_value(signed.isoformat())
    phone.fill(f"#{inv1}-seller_name", sup_name)
    phone.fill(f"#{inv1}-seller_uscc", sup_uscc)
    phone.fill(f"#{inv1}-total", "50000")

    # A second invoice card, then its photo.
    phone.click("#add-invoice")
    phone.wait_for_load_state("networkidle")
    st = db.session.get(Settlement, st_id)
    inv2 = f"inv-{st.invoices[1].id}"
    db.session.rollback()
    expect(phone.locator(f"#{inv1}-total")).to_have_value("50000.00")  # the first card was kept
    photo2 = inv.invoice_photo(number="44001235", code="4400161350", issued_on=signed, pretax_fen=4_424_779,
                               kind="04", seed=12)
    phone.set_input_files(f"#{inv2}-file", files=[_photo("IMG_1002.png", photo2)])
    expect(phone.locator(f"#{inv2}-number")).to_have_value("44001235")
    phone.fill(f"#{inv2}-seller_name", sup_name)
    phone.fill(f"#{inv2}-seller_uscc", sup_uscc)
    phone.fill(f"#{inv2}-total", "50000")

    # The payment proof, one fen short: the total check fails, then turns green once corrected.
    phone.set_input_files(f"#{pay1}-file", files=[_photo("回单.jpg", contract_jpeg_bytes(77), "image/jpeg")])
    phone.fill(f"#{pay1}-date", signed.isoformat())
    phone.fill(f"#{pay1}-payee", sup_name.replace("有限公司", " 有限公司"))  # spaces do not matter
    phone.fill(f"#{pay1}-amount", "99999.99")
    paid_check = phone.locator("#settlement-check-list li", has_text="付款合计")
    expect(paid_check).to_have_class("check-bad")
    expect(paid_check).to_contain_text("还差 ¥0.01")
    phone.fill(f"#{pay1}-amount", "100000")
    expect(paid_check).to_have_class("check-ok")
    expect(phone.locator("#checks-bar")).to_contain_text("1 项检查未通过")  # the acceptance report is missing
    phone.set_input_files("#acceptance_file", files=[_photo("验收报告.jpg", contract_jpeg_bytes(78), "image/jpeg")])
    expect(phone.locator("#checks-bar")).to_contain_text("检查全部通过")  # beside the submit button
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _shot(phone, "1-form")
    phone.click("#settlement-submit")
    phone.wait_for_load_state("networkidle")
    assert "供应商确认中" in phone.inner_text("main"), phone.inner_text("main")[:800]
    st = db.session.get(Settlement, st_id)
    status, invoices, paid, submitted = st.status, [(i.number, i.total_fen) for i in st.invoices], st.paid_fen, st.submitted_at
    db.session.rollback()
    assert status == SetStatus.SUPPLIER_REVIEW and submitted is not None
    assert invoices == [("44001234", 50_000_00), ("44001235", 50_000_00)] and paid == 100_000_00

    # 2. The supplier confirms, on its phone.
    sp = new_page(PHONE)
    sp.on("dialog", lambda d: d.accept())
    login_via_form(sp, live_server.url, "sup_settle", PASSWORD)
    sp.goto(f"{live_server.url}/supplier/settlements")
    sp.click(f"#settlement-{st_id}-row a")
    _shot(sp, "2-supplier")
    sp.click(f"#settlement-{st_id}-confirm button[type=submit]")
    sp.wait_for_load_state("networkidle")
    assert "等待用量核验" in sp.inner_text("main")

    # 3. The province lets it through with a recorded reason.
    prov = new_page(DESKTOP)
    prov.on("dialog", lambda d: d.accept())
    login_via_form(prov, live_server.url, "prov_settle", PASSWORD)
    prov.goto(f"{live_server.url}/province/settlements")
    prov.click(f"#settlement-{st_id}-row a")
    prov.fill(f"#settlement-{st_id}-override-reason", "现场核查：服务已上线使用")
    prov.click(f"#settlement-{st_id}-override button[type=submit]")
    prov.wait_for_load_state("networkidle")
    assert "地市审核中" in prov.inner_text("main")

    # 4. The city approves on a desktop screen, the documents beside the figures.
    desk = new_page(DESKTOP)
    desk.on("dialog", lambda d: d.accept())
    login_via_form(desk, live_server.url, "city_settle", PASSWORD)
    desk.goto(f"{live_server.url}/city/settlements")
    assert "剩 10 个工作日" in desk.inner_text(f"#settlement-{st_id}-row")
    desk.click(f"#settlement-{st_id}-row a")
    assert desk.locator(f"#settlement-{st_id}-{inv1} a").count() >= 1
    _shot(desk, "3-city")
    desk.click(f"#settlement-{st_id}-approve button[type=submit]")
    desk.wait_for_load_state("networkidle")
    assert "已通过" in desk.inner_text(f"#settlement-{st_id}-status")
    st = db.session.get(Settlement, st_id)
    final = st.status
    db.session.rollback()
    assert final == SetStatus.APPROVED

    # The enterprise sees the decision.
    phone.goto(f"{live_server.url}/enterprise/settlements/{st_id}")
    assert "已通过" in phone.inner_text("main")
    _shot(phone, "4-enterprise-done")
