"""Browser test of the voucher application in real Chromium: apply on a phone, confirm, approve on a desktop, verify.

An enterprise applies on a 390x844 screen with a photo of its contract and sees the face value
preview as it types; its supplier confirms; the city officer approves on a desktop screen; the
enterprise downloads the voucher PDF, whose text holds the code, its name and the face value;
the link of the QR code opens the public verification page.
"""
from __future__ import annotations

import io
import re

import pytest

from models import AppStatus, Application, Voucher, db
from tests.browser.conftest import DESKTOP, PHONE, login_via_form
from tests.factories import PASSWORD, contract_jpeg_bytes, make_user, make_world

SHOTS = None  # set to a folder path to keep screenshots while developing


def _shot(pg, name):
    if SHOTS:
        pg.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


@pytest.mark.browser
def test_apply_on_a_phone_confirm_approve_and_verify(live_server, new_page):
    # rule: APP-1, APP-3, APP-4, APP-5, APP-8, AMT-1, DOC-1, ROLE-7
    from playwright.sync_api import expect
    from pypdf import PdfReader

    w = make_world()
    ent = make_user("enterprise", username="ent_flow", enterprise_id=w.enterprise.id)
    sup = make_user("supplier", username="sup_flow", supplier_id=w.supplier.id)
    make_user("city", username="city_flow", city_code=w.enterprise.city_code)
    ent_name, sup_name, item_id, supplier_id = w.enterprise.name, w.supplier.name, w.item.id, w.supplier.id
    assert ent.id and sup.id
    db.session.commit()  # from here on the test thread reads only, and rolls back after reading

    # 1. The enterprise, on its phone.
    phone = new_page(PHONE)
    phone.on("dialog", lambda d: d.accept())
    login_via_form(phone, live_server.url, "ent_flow", PASSWORD)
    phone.goto(f"{live_server.url}/enterprise/applications/new")
    assert phone.locator("#eligibility .check-bad").count() == 0
    phone.click("#application-start-button")
    phone.wait_for_selector("#application-form")
    phone.set_input_files("#contract_photo", files=[{"name": "IMG_0042.jpg", "mimeType": "image/jpeg",
                                                     "buffer": contract_jpeg_bytes(42)}])
    phone.fill("#contract_no", "YQ-2026-0042")
    phone.fill("#contract_signed_on", "2026-05-06")
    phone.select_option("#catalog_item_id", str(item_id))
    phone.fill("#contract_fee", "150000")
    expect(phone.locator("#app-live")).to_contain_text("¥150,000.00")
    assert "预计服务券面值" in phone.inner_text("#app-live")
    phone.fill("#supplier-q", sup_name[:6])
    phone.wait_for_selector(f"#supplier-option-{supplier_id}")
    phone.check(f"#supplier-option-{supplier_id} input")
    phone.check("#place_in_guangdong")
    phone.check("#single_fund_declared")
    phone.fill("#contract_fee", "180000")  # the preview follows the typing
    expect(phone.locator("#app-live .face-value")).to_contain_text("¥180,000.00")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _shot(phone, "1-form")
    phone.click("#application-submit")
    phone.wait_for_load_state("networkidle")
    assert "供应商确认中" in phone.inner_text("main"), phone.inner_text("main")[:800]
    a = db.session.execute(db.select(Application)).scalar_one()
    app_id, status, mime = a.id, a.status, a.contract_file.mime
    db.session.rollback()
    assert status == AppStatus.SUPPLIER_REVIEW and mime == "image/jpeg"

    # 2. The supplier confirms.
    sp = new_page(PHONE)
    sp.on("dialog", lambda d: d.accept())
    login_via_form(sp, live_server.url, "sup_flow", PASSWORD)
    sp.goto(f"{live_server.url}/supplier/applications")
    sp.click(f"#application-{app_id}-row a")
    sp.click(f"#application-{app_id}-confirm button[type=submit]")
    sp.wait_for_load_state("networkidle")
    assert "地市审核中" in sp.inner_text("main")

    # 3. The city approves on a desktop screen, the contract photo beside the figures.
    desk = new_page(DESKTOP)
    desk.on("dialog", lambda d: d.accept())
    login_via_form(desk, live_server.url, "city_flow", PASSWORD)
    desk.goto(f"{live_server.url}/city/applications")
    assert "剩 10 个工作日" in desk.inner_text(f"#application-{app_id}-row")
    desk.click(f"#application-{app_id}-row a")
    desk.wait_for_selector(f"#application-{app_id}-contract img")
    assert desk.evaluate(f"document.querySelector('#application-{app_id}-contract img').naturalWidth") > 0
    assert "¥180,000.00" in desk.inner_text(f"#application-{app_id}-issue-preview")
    _shot(desk, "2-review")
    desk.click(f"#application-{app_id}-approve button")
    desk.wait_for_load_state("networkidle")
    assert desk.locator(f"#application-{app_id}-voucher").is_visible()
    v = db.session.execute(db.select(Voucher)).scalar_one()
    voucher_id, code, face = v.id, v.code, v.face_value_fen
    db.session.rollback()
    assert face == 180_000_00

    # 4. The enterprise downloads its voucher.
    phone.goto(f"{live_server.url}/enterprise/vouchers")
    phone.click(f"#voucher-{voucher_id}-row a")
    with phone.expect_download() as dl:
        phone.click(f"#voucher-{voucher_id}-pdf")
    data = open(dl.value.path(), "rb").read()
    text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    from blueprints.core.issuance import display_code

    assert display_code(code) in text and ent_name in text and "¥180,000.00" in text

    # 5. The QR code's link opens the public page, for anyone.
    url = re.search(r"(http://127\.0\.0\.1:\d+/v/[A-Z2-7]+)", text.replace("\n", "")).group(1)
    anon = new_page(PHONE)
    anon.goto(url)
    result = anon.inner_text("#verify-result")
    assert "这是一张有效的服务券" in result and "¥180,000.00" in result and ent_name in result
    _shot(anon, "3-verify")
