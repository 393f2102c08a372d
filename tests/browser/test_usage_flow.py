"""Browser test of usage verification in real Chromium: the enterprise declares its addresses on a phone (checked as typed,
several at once, the bad one refused by name, one removed after a confirmation), the supplier sees them beside its
endpoints, and the province overrides the usage with a reason, which moves the waiting settlement on."""
from __future__ import annotations

import os

import pytest

from models import Role, SetStatus, Settlement, db
from tests.browser.conftest import DESKTOP, PHONE, login_via_form
from tests.factories import PASSWORD, make_settlement, make_user, make_voucher

SHOTS = os.environ.get("TEST_SHOTS")  # a folder: keep screenshots while developing


def _shot(pg, name):
    if SHOTS:
        pg.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


@pytest.mark.browser
def test_declare_addresses_and_override_in_the_browser(live_server, new_page):
    # rule: VER-1, VER-3, SET-5
    from playwright.sync_api import expect

    v = make_voucher()
    ent = make_user(Role.ENTERPRISE, username="ent_usage", enterprise_id=v.enterprise_id)
    sup = make_user(Role.SUPPLIER, username="sup_usage", supplier_id=v.supplier_id)
    prov = make_user(Role.PROVINCE, username="prov_usage")
    st = make_settlement(v, stage="verification", users={"enterprise": ent, "supplier": sup, "province": prov})
    vid, st_id = v.id, st.id
    db.session.commit()

    phone = new_page(PHONE)
    phone.on("dialog", lambda d: d.accept())
    login_via_form(phone, live_server.url, "ent_usage", PASSWORD)
    phone.goto(f"{live_server.url}/enterprise/vouchers/{vid}")
    expect(phone.locator(f"#voucher-{vid}-usage-status-days")).to_have_text("0 / 5 天")

    # Checked as typed: the error, then the normalised value.
    box = phone.locator(f"#voucher-{vid}-address-input")
    box.fill("58.60.0.0/16")
    expect(phone.locator(f"#voucher-{vid}-address-check")).to_contain_text("过大")
    box.fill("58.60.1.0/24\n10.0.0.1\ngz-zx-001234")
    expect(phone.locator(f"#voucher-{vid}-address-check")).to_contain_text("GZ-ZX-001234")
    expect(phone.locator(f"#voucher-{vid}-address-check")).to_contain_text("不是公网地址")
    _shot(phone, "usage-1-typed")
    phone.click(f"#voucher-{vid}-address-submit")
    results = phone.locator(f"#voucher-{vid}-address-results")
    expect(results).to_contain_text("已添加 58.60.1.0/24")
    expect(results).to_contain_text("“10.0.0.1”未添加")
    expect(phone.locator(f"#voucher-{vid}-addresses")).to_contain_text("GZ-ZX-001234")
    expect(box).to_have_value("10.0.0.1")  # the refused one, left to be corrected
    expect(phone.locator(f"#voucher-{vid}-timeline")).to_contain_text("申报企业端地址")  # out of band
    _shot(phone, "usage-2-added")

    # Remove one after the confirmation (accepted above).
    phone.locator(f"#voucher-{vid}-addresses li", has_text="GZ-ZX-001234").get_by_role("button", name="删除").click()
    expect(phone.locator(f"#voucher-{vid}-addresses")).not_to_contain_text("GZ-ZX-001234")
    expect(phone.locator(f"#voucher-{vid}-timeline")).to_contain_text("删除企业端地址")

    # The supplier sees the declared address beside its own endpoints.
    supplier = new_page(DESKTOP)
    login_via_form(supplier, live_server.url, "sup_usage", PASSWORD)
    supplier.goto(f"{live_server.url}/supplier/vouchers")
    expect(supplier.locator(f"#voucher-{vid}-usage-cell")).to_contain_text("0/5")
    supplier.goto(f"{live_server.url}/supplier/vouchers/{vid}")
    expect(supplier.locator(f"#voucher-{vid}-addresses")).to_contain_text("58.60.1.0/24")
    expect(supplier.locator(f"#voucher-{vid}-endpoints")).to_contain_text("203.0.113.5")

    # The province: a reason is required (the browser points at the empty field before asking to confirm;
    # the server's own refusal is in tests/test_usage_pages.py); then the override moves the
    # waiting settlement on.
    desk = new_page(DESKTOP)
    dialogs = []
    desk.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    login_via_form(desk, live_server.url, "prov_usage", PASSWORD)
    desk.goto(f"{live_server.url}/province/settlements/{st_id}")
    expect(desk.locator(f"#settlement-{st_id}-usage")).to_contain_text("0 / 5 天")
    desk.goto(f"{live_server.url}/province/vouchers/{vid}")
    desk.click(f"#voucher-{vid}-override-verified")
    desk.wait_for_timeout(300)
    assert dialogs == []
    assert desk.evaluate(f"document.getElementById('voucher-{vid}-override-reason').validity.valueMissing")
    desk.fill(f"#voucher-{vid}-override-reason", "现场核查：系统已上线，每日在用")
    desk.click(f"#voucher-{vid}-override-verified")
    expect(desk.locator(f"#voucher-{vid}-usage-status-override")).to_contain_text("现场核查：系统已上线，每日在用")
    _shot(desk, "usage-3-override")
    db.session.expire_all()
    assert db.session.get(Settlement, st_id).status == SetStatus.CITY_REVIEW
    db.session.rollback()
