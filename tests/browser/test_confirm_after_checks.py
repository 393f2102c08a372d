"""Browser tests of what a first-time user met: an irreversible act asks "确认？" only once the browser's
own checks pass (static/app.js), and the enterprise's application form makes no htmx console errors."""
from __future__ import annotations

import pytest

from blueprints.core import complaints as core
from models import Complaint, Role, db
from tests.browser.conftest import DESKTOP, PHONE, login_via_form
from tests.factories import PASSWORD, make_user, make_world


@pytest.mark.browser
def test_the_complaint_answer_is_checked_before_the_confirmation(live_server, new_page):
    # rule: SUP-5
    from playwright.sync_api import expect

    make_world()  # the city and its calendar
    c = core.create(core.ComplaintInput(category="consult", text="请问服务券申领需要准备哪些合同材料？"))
    c.city_code = "440100"
    make_user(Role.CITY, username="city_answer", city_code="440100")
    c_id = c.id
    db.session.commit()

    desk = new_page(DESKTOP)
    dialogs = []

    def on_dialog(d):
        dialogs.append(d.message)
        d.accept()

    desk.on("dialog", on_dialog)
    login_via_form(desk, live_server.url, "city_answer", PASSWORD)
    desk.goto(f"{live_server.url}/city/complaints/{c_id}")

    # The empty answer: no question asked, the field is pointed out, nothing is sent.
    desk.click("#complaint-answer-submit")
    desk.wait_for_timeout(300)
    assert dialogs == []
    assert desk.evaluate("document.getElementById('complaint-answer-text').matches(':invalid')")
    assert desk.evaluate("document.getElementById('complaint-answer-text').validity.valueMissing")
    expect(desk.locator(f"#complaint-{c_id}-status")).to_have_text("办理中")

    # A filled answer: asked once, then answered.
    desk.fill("#complaint-answer-text", "请准备已签订的合同原件照片或扫描件，以及合同编号和签订日期。")
    desk.click("#complaint-answer-submit")
    expect(desk.locator(f"#complaint-{c_id}-status")).to_have_text("已答复")
    assert len(dialogs) == 1 and "答复后不能修改" in dialogs[0]
    status = db.session.execute(db.select(Complaint.status).where(Complaint.id == c_id)).scalar_one()
    db.session.rollback()
    assert status == core.ANSWERED


@pytest.mark.browser
def test_a_confirmed_novalidate_form_is_checked_first_too(live_server, new_page):
    # The province's usage override asks only with a reason typed; removing the override needs none.
    from tests.factories import make_voucher

    w = make_world()
    v = make_voucher(w.enterprise, w.supplier, w.cycle, users=w.users)
    make_user(Role.PROVINCE, username="prov_override")
    v_id = v.id
    db.session.commit()

    desk = new_page(DESKTOP)
    dialogs = []
    desk.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    login_via_form(desk, live_server.url, "prov_override", PASSWORD)
    desk.goto(f"{live_server.url}/province/vouchers/{v_id}")
    desk.click(f"#voucher-{v_id}-override-verified")
    desk.wait_for_timeout(300)
    assert dialogs == []
    assert desk.evaluate(f"document.getElementById('voucher-{v_id}-override-reason').validity.valueMissing")
    desk.fill(f"#voucher-{v_id}-override-reason", "现场核查：企业已使用云服务满三个月。")
    desk.click(f"#voucher-{v_id}-override-verified")
    desk.wait_for_selector(f"#voucher-{v_id}-override-clear")
    assert len(dialogs) == 1


@pytest.mark.browser
def test_the_application_form_makes_no_htmx_include_errors(live_server, new_page):
    # rule: APP-1
    from playwright.sync_api import expect

    w = make_world()
    make_user("enterprise", username="ent_console", enterprise_id=w.enterprise.id)
    item_id = w.item.id
    db.session.commit()

    phone = new_page(PHONE)
    errors = []
    phone.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    login_via_form(phone, live_server.url, "ent_console", PASSWORD)
    phone.goto(f"{live_server.url}/enterprise/applications/new")
    phone.click("#application-start-button")
    phone.wait_for_selector("#application-form")
    phone.fill("#contract_no", "YQ-2026-0007")
    phone.select_option("#catalog_item_id", str(item_id))
    phone.fill("#contract_fee", "150000")
    expect(phone.locator("#app-live")).to_contain_text("¥150,000.00")
    phone.fill("#supplier-q", "没有这家供应商")  # searched before any supplier is chosen
    expect(phone.locator("#supplier-results")).to_contain_text("没有找到匹配的已注册供应商")
    phone.wait_for_load_state("networkidle")
    assert not [e for e in errors if "hx-include" in e or "returned no matches" in e], errors
