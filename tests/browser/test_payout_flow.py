"""Browser test of publicity and payout in real Chromium: the city gathers and publishes a settlement list; an enterprise
objects from its phone on the public list; the city answers (not upheld); after the publicity period (time
moved on in the database) the city confirms the payout batch and records the payment; the enterprise sees 已支付."""
from __future__ import annotations

import datetime as dt
import os

import pytest

from blueprints.core.timeutil import today
from models import Budget, EntryStatus, ListEntry, Objection, Role, SettlementList, db
from tests.browser.conftest import DESKTOP, PHONE, login_via_form
from tests.factories import PASSWORD, make_settlement, make_user, make_voucher

SHOTS = os.environ.get("TEST_SHOTS")


def _shot(pg, name):
    if SHOTS:
        pg.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


@pytest.mark.browser
def test_publish_object_answer_and_pay_in_the_browser(live_server, new_page):
    # rule: PUB-1, PUB-2, PUB-4, PAY-1, PAY-2
    from playwright.sync_api import expect

    mine = make_settlement(make_voucher(fee_fen=30_000_00), stage="approved")
    other = make_settlement(make_voucher(fee_fen=20_000_00), stage="approved")
    make_user(Role.CITY, username="city_pay", city_code="440100")
    make_user(Role.ENTERPRISE, username="ent_pay", enterprise_id=mine.enterprise_id)
    db.session.add(Budget(city_code="440100", period="2026-1", kind="general", cap_fen=100_000_00, committed_fen=0))
    mine_id, other_id, name = mine.id, other.id, mine.enterprise.name
    db.session.commit()

    city = new_page(DESKTOP)
    city.on("dialog", lambda d: d.accept())
    login_via_form(city, live_server.url, "city_pay", PASSWORD)
    city.goto(f"{live_server.url}/city/payout-lists")
    expect(city.locator("#payout-unlisted")).to_have_text("2")
    city.fill("#period", "2026-1")
    city.click("#payout-list-new button[type=submit]")
    expect(city.locator("#payout-entries-results")).to_contain_text(name)
    city.fill("#days", "7")
    city.click("#payout-list-publish button[type=submit]")
    expect(city.locator("#payout-list-state")).to_have_text("公示中")
    _shot(city, "payout-1-published")
    list_id = db.session.execute(db.select(SettlementList.id)).scalar_one()
    db.session.commit()  # reads end their transaction: on SQLite it would hold the write lock

    # The enterprise, on its phone, objects to the other entry on the public list.
    phone = new_page(PHONE)
    login_via_form(phone, live_server.url, "ent_pay", PASSWORD)
    phone.goto(f"{live_server.url}/public/settlement-lists/{list_id}")
    other_entry = db.session.execute(db.select(ListEntry.id).where(ListEntry.settlement_id == other_id)).scalar_one()
    db.session.commit()
    phone.click(f"#entry-{other_entry}-object")
    phone.fill("#objection-text", "该企业的服务合同签订于申领截止之后，请核实。")
    phone.click("#objection-submit")
    expect(phone.locator("body")).to_contain_text("YY")  # the tracking number
    _shot(phone, "payout-2-objected")
    obj_id = db.session.execute(db.select(Objection.id)).scalar_one()
    db.session.commit()

    # The city answers: not upheld; the entry goes back to the queue.
    city.goto(f"{live_server.url}/city/objections")
    city.click(f"#objection-{obj_id}-row a")
    city.check("input[name=decision][value=dismissed]")
    city.fill("#answer", "经核实，合同签订于申领截止之前，异议不成立。")
    city.click("#objection-answer button[type=submit]")
    # "异议不成立" is also the radio's label: wait for the answered record (its badge, the form gone).
    expect(city.locator("#objection-answer")).to_have_count(0)
    expect(city.locator(f"#objection-{obj_id} h1")).to_contain_text("异议不成立")

    # Time moves on: the publicity period is over. The city confirms the batch and records the payment.
    lst = db.session.get(SettlementList, list_id)
    lst.publicity_ends_on = today() - dt.timedelta(days=1)
    db.session.commit()
    city.goto(f"{live_server.url}/city/payout?period=2026-1")
    expect(city.locator("#payout-queue")).to_contain_text(name)
    city.click("#payout-confirm button[type=submit]")
    expect(city.locator("body")).to_contain_text("已确认支付批次")
    entry_id = db.session.execute(db.select(ListEntry.id).where(ListEntry.settlement_id == mine_id)).scalar_one()
    db.session.commit()
    city.fill(f"#pay-{entry_id}-ref", "GZ-20261201-0001")
    city.click(f"#pay-{entry_id} button[type=submit]")
    expect(city.locator(f"#batch-entry-{entry_id}")).to_contain_text("已支付")
    _shot(city, "payout-3-paid")
    db.session.expire_all()
    assert db.session.get(ListEntry, entry_id).status == EntryStatus.PAID
    db.session.commit()

    phone.goto(f"{live_server.url}/enterprise/settlements/{mine_id}")
    expect(phone.locator(f"#settlement-{mine_id}-payout-state")).to_contain_text("已支付")
    _shot(phone, "payout-4-enterprise")
