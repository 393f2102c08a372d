"""Registration end to end in Chromium on a phone screen (390x844): an enterprise signs up and
registers with a file upload, the city officer returns it with two reasons, the enterprise fixes
and resubmits, the officer approves (REG-1, REG-3, REG-5, DOC-3, SLA-1)."""
from __future__ import annotations

import pytest

from models import Enterprise, RegStatus, Role, User, db
from tests.browser.conftest import PHONE, login_via_form
from tests.factories import PASSWORD, contract_jpeg_bytes, contract_pdf_bytes, make_user, make_uscc


def no_horizontal_scroll(pg) -> bool:
    return pg.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


@pytest.mark.browser
def test_enterprise_registers_on_phone_and_city_returns_then_approves(live_server, new_page, tmp_path):
    # rule: REG-1, REG-3, REG-5, DOC-3, SLA-1, APP-8
    officer = make_user(Role.CITY, username="city_gz_browser", city_code="440100")
    officer_name = officer.display_name
    db.session.commit()  # and read nothing more until the end: the server needs SQLite's write lock
    licence = tmp_path / "营业执照.pdf"
    licence.write_bytes(contract_pdf_bytes("营业执照"))
    photo = tmp_path / "IMG_0001.jpg"
    photo.write_bytes(contract_jpeg_bytes())
    uscc = make_uscc()
    base = live_server.url

    # 1. Sign up on a phone.
    ent = new_page(PHONE)
    ent.goto(f"{base}/signup")
    ent.fill("#username", "phone_ent")
    ent.fill("#display_name", "陈新")
    ent.fill("#phone", "13900139000")
    ent.fill("#confirm", "Phone-pass-2026x")
    # Password last, submitted with Enter (inline validation only swaps the error area, so the
    # typed password survives either way).
    ent.fill("#password", "Phone-pass-2026x")
    ent.press("#password", "Enter")
    ent.wait_for_url(f"{base}/enterprise/")
    assert ent.locator("#panel-registration").is_visible()

    # 2. Fill in the profile; a bad USCC is flagged while typing (htmx inline validation).
    ent.click("#panel-registration a.btn-primary")
    ent.wait_for_url(f"{base}/enterprise/profile/edit")
    assert no_horizontal_scroll(ent)
    ent.fill("#name", "广州手机注册制造有限公司")
    ent.fill("#uscc", uscc[:-1] + ("0" if uscc[-1] != "0" else "1"))
    ent.press("#uscc", "Tab")  # leaving the field validates it
    ent.locator("#field-uscc .error").wait_for()
    assert "校验位不正确" in ent.inner_text("#field-uscc")
    ent.fill("#uscc", uscc)
    ent.press("#uscc", "Tab")
    ent.locator("#field-uscc .error").wait_for(state="detached")
    ent.select_option("#city_code", "440100")
    ent.fill("#legal_rep", "陈新")
    ent.fill("#established_on", "2015-06-30")
    ent.fill("#revenue", "1500")
    ent.check("#no_violation_declared")
    ent.set_input_files("#licence", str(licence))
    ent.click("#submit-profile")
    ent.wait_for_url(f"{base}/enterprise/profile")
    assert "地市经信部门审核中" in ent.inner_text("#enterprise-profile")
    assert "营业执照.pdf" in ent.content()

    # 3. The city officer returns it with two reasons.
    off = new_page(PHONE)
    off.on("dialog", lambda d: d.accept())
    login_via_form(off, base, "city_gz_browser", PASSWORD)
    off.goto(f"{base}/city/registrations")
    assert no_horizontal_scroll(off)
    off.click("text=广州手机注册制造有限公司")
    off.locator("#return-form").wait_for()
    rows = off.locator("#return-form .reg-reason-row")
    rows.nth(0).locator("select").select_option("licence")
    rows.nth(0).locator("input").fill("营业执照须加盖公章后重新上传")
    rows.nth(1).locator("select").select_option("revenue")
    rows.nth(1).locator("input").fill("收入应与上年度财务报表一致")
    off.click("#add-reason")  # one more row via htmx, left empty (ignored)
    off.locator("#return-form .reg-reason-row").nth(3).wait_for()
    off.click("#return-form button[value=return]")
    off.wait_for_url(f"{base}/city/registrations?kind=enterprise")

    # 4. The enterprise sees both reasons next to their fields, fixes them and resubmits (camera photo).
    ent.goto(f"{base}/enterprise/profile")
    assert ent.locator("#unread-count").is_visible()
    assert "营业执照须加盖公章" in ent.inner_text("#return-reasons")
    ent.click("#edit-profile")
    assert "收入应与上年度财务报表一致" in ent.inner_text("#reason-revenue")
    assert "营业执照须加盖公章" in ent.inner_text("#reason-licence")
    assert ent.input_value("#name") == "广州手机注册制造有限公司"  # nothing was lost
    ent.fill("#revenue", "1620.5")
    ent.set_input_files("#licence_photo", str(photo))
    ent.click("#submit-profile")
    ent.wait_for_url(f"{base}/enterprise/profile")
    assert "地市经信部门审核中" in ent.inner_text("#enterprise-profile")

    # 5. The officer approves (confirming the dialog).
    off.goto(f"{base}/city/registrations")
    off.click("text=广州手机注册制造有限公司")
    assert "营业执照须加盖公章" in off.inner_text("#return-history")
    off.click("#approve-form button")
    off.wait_for_url(f"{base}/city/registrations?kind=enterprise")

    ent.goto(f"{base}/enterprise/profile")
    assert "已通过" in ent.inner_text("#profile-status")
    assert officer_name in ent.inner_text("#record-timeline")

    db.session.rollback()
    user = db.session.execute(db.select(User).where(User.username == "phone_ent")).scalar_one()
    e = db.session.get(Enterprise, user.enterprise_id)
    assert e.status == RegStatus.APPROVED and e.revenue_fen == 1_620_500_000 and e.uscc == uscc
    db.session.rollback()
