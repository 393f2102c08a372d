"""Browser: the province makes a new catalog version, changes a cap inline, publishes it, and an
enterprise sees the new cap on the public catalog page on a phone (CAT-1, CAT-2, CAT-3, CAT-4)."""
import re

import pytest
from playwright.sync_api import expect

from models import CatalogStatus, CatalogVersion, Role, db
from tests.browser.conftest import DESKTOP, login_via_form
from tests.factories import PASSWORD, make_catalog, make_user

ITEMS = (("SC-01", "生产数据上云", "生产管控", 200_000_00), ("JY-01", "云ERP", "经营管理", 100_000_00))


@pytest.mark.browser
def test_province_publishes_a_new_cap_and_an_enterprise_sees_it_on_a_phone(live_server, new_page):
    # rule: CAT-1, CAT-2, CAT-3, CAT-4
    make_user(Role.PROVINCE, username="prov_catalog")
    make_user(Role.ENTERPRISE, username="ent_catalog")
    make_catalog(items=ITEMS, cap_fen=500_000_00)
    db.session.commit()

    admin = new_page(DESKTOP)
    login_via_form(admin, live_server.url, "prov_catalog", PASSWORD)
    admin.goto(f"{live_server.url}/province/catalog")
    admin.click("#catalog-new")
    admin.wait_for_url(re.compile(r"/province/catalog/\d+$"))
    assert "目录第2版" in admin.inner_text("h1")

    # Inline edit: the row turns into inputs, the new cap is saved in place (no page load).
    row = admin.locator("tr", has_text="SC-01")
    row.get_by_role("link", name="编辑").click()
    cap = admin.locator("tr.editing input[name=cap]")
    cap.wait_for()
    assert cap.input_value() == "200000"
    cap.fill("260000")
    admin.locator("tr.editing").get_by_role("button", name="保存").click()
    admin.locator("tr", has_text="SC-01").get_by_text("¥260,000.00").wait_for()
    expect(admin.locator("tr.editing")).to_have_count(0)  # waits for htmx to settle the swap

    # Publish, accepting the confirmation.
    admin.once("dialog", lambda d: d.accept())
    admin.get_by_role("button", name="发布").click()
    admin.get_by_text("已发布的版本不能修改").wait_for()
    db.session.rollback()
    v2 = db.session.execute(db.select(CatalogVersion).where(CatalogVersion.number == 2)).scalar_one()
    assert v2.status == CatalogStatus.PUBLISHED
    db.session.rollback()

    # An enterprise on a phone sees the new cap.
    phone = new_page()
    login_via_form(phone, live_server.url, "ent_catalog", PASSWORD)
    phone.goto(f"{live_server.url}/catalog")
    assert phone.inner_text("#public-item-SC-01-cap") == "¥260,000.00"
    assert "现行目录：第2版" in phone.inner_text("#public-catalog")
    assert "不包括购买自动化设备或非云化软件" in phone.inner_text("#cloud-fee-definition")
    # Filter by category (htmx), still on the phone, and no horizontal scroll.
    phone.get_by_role("link", name="经营管理").click()
    phone.wait_for_url(re.compile(r"category="))
    phone.locator("#public-item-JY-01").wait_for()
    assert phone.locator("#public-item-SC-01").count() == 0
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
