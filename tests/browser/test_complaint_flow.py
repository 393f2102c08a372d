# rule: SUP-5
"""Browser test of public messages in real Chromium: someone leaves a complaint about a supplier on a phone
(answering the human check by reading the question on the page) and gets the tracking number; the province
answers in its queue; the look-up by that number shows the answer."""
from __future__ import annotations

import os
import re

import pytest

from blueprints.core.timeutil import add_working_days, today
from models import Complaint, Role, db
from tests.browser.conftest import DESKTOP, PHONE, login_via_form
from tests.factories import PASSWORD, make_supplier, make_user

SHOTS = os.environ.get("TEST_SHOTS")
TEXT = "该供应商收取服务费后一直未开通云服务账号，多次联系无人处理，请核查。"


def _shot(pg, name):
    if SHOTS:
        pg.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def _sum(question: str) -> str:
    a, op, b = re.search(r"(\d+) (加|减) (\d+) 等于几", question).groups()
    return str(int(a) + int(b) if op == "加" else int(a) - int(b))


@pytest.mark.browser
def test_a_complaint_left_on_a_phone_is_answered_and_read_by_its_number(live_server, new_page):
    # rule: SUP-5, SLA-5
    from playwright.sync_api import expect

    supplier = make_supplier()
    make_user(Role.PROVINCE, username="prov_msg")
    supplier_id, supplier_name = supplier.id, supplier.name
    db.session.commit()

    # A member of the public, on a phone, from the landing page.
    phone = new_page(PHONE)
    phone.goto(live_server.url + "/")
    phone.click("#public-link-complaints")
    phone.check("#complaint-category-complaint")
    phone.select_option("#complaint-supplier", str(supplier_id))
    phone.fill("#complaint-text", TEXT)
    phone.fill("#complaint-contact", "13812345678")
    phone.fill("#complaint-check-answer", _sum(phone.locator("#complaint-check-question").inner_text()))
    _shot(phone, "complaint-1-form")
    phone.click("#complaint-submit")
    expect(phone.locator("#complaint-created")).to_contain_text("请记下受理编号，凭编号查询答复")
    number = phone.locator("#complaint-tracking-no").inner_text().strip()
    assert re.fullmatch(r"LY[A-Z2-9]{10}", number)
    expect(phone.locator("#complaint-created-due")).to_have_text(f"{add_working_days(today(), 10):%Y-%m-%d}")
    expect(phone.locator("#complaint-status")).to_have_text("办理中")
    _shot(phone, "complaint-2-tracking-no")
    c_id = db.session.execute(db.select(Complaint.id).where(Complaint.tracking_no == number)).scalar_one()
    db.session.commit()  # reads end their transaction: on SQLite it would hold the write lock

    # The province finds it at the top of its queue, with the working days left, and answers it.
    prov = new_page(DESKTOP)
    prov.on("dialog", lambda d: d.accept())
    login_via_form(prov, live_server.url, "prov_msg", PASSWORD)
    prov.goto(f"{live_server.url}/province/complaints")
    expect(prov.locator(f"#complaint-{c_id}-due")).to_contain_text("剩 10 个工作日")
    expect(prov.locator(f"#complaint-{c_id}-row")).to_contain_text(supplier_name)
    prov.click(f"#complaint-{c_id}-row a")
    expect(prov.locator(f"#complaint-{c_id}-contact")).to_contain_text("13812345678")
    prov.check("#complaint-upheld-yes")
    prov.fill("#complaint-answer-text", "经核查，投诉属实，已责令该供应商限期开通服务并退还相关费用。")
    prov.click("#complaint-answer-submit")
    expect(prov.locator(f"#complaint-{c_id}-status")).to_have_text("已答复")
    _shot(prov, "complaint-3-answered")

    # The sender looks the answer up by the number, on the phone.
    phone.goto(f"{live_server.url}/public/messages")
    phone.fill("#complaint-tracking", number)
    phone.click("#complaint-lookup button[type=submit]")
    expect(phone.locator("#complaint-status")).to_have_text("已答复")
    expect(phone.locator("#complaint-answer")).to_contain_text("已责令该供应商限期开通服务")
    expect(phone.locator("#complaint-upheld")).to_have_text("投诉成立")
    expect(phone.locator("body")).not_to_contain_text("13812345678")
    expect(phone.locator("#complaint-created")).to_have_count(0)  # the tracking number's notice was shown once
    _shot(phone, "complaint-4-lookup")
