"""The city's pages for settlement lists, objections and payout, and the settlement page's
place in the queue for the enterprise and the supplier (PUB-1..4, PAY-1..7, DOC-2)."""
from __future__ import annotations

import datetime as dt
import io
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from openpyxl import Workbook

from blueprints.core import payout
from blueprints.core.timeutil import today
from models import (
    Budget, EntryStatus, Job, ListEntry, ListStatus, ObjStatus, PayoutBatch, Role, SettlementList, User, db,
)
from tests.factories import make_settlement, make_user, make_voucher


def _approved(amount_yuan: int, *, pilot=False):
    v = make_voucher(fee_fen=amount_yuan * 100)
    v.pilot = pilot
    st = make_settlement(v, stage="approved")
    db.session.commit()
    return st


def _budget(period="2026-1", general=0, pilot=0, city="440100"):
    for kind, cap in (("general", general), ("pilot", pilot)):
        if cap:
            db.session.add(Budget(city_code=city, period=period, kind=kind, cap_fen=cap * 100, committed_fen=0))
    db.session.commit()


def _city(login, city_code="440100"):
    u = make_user(Role.CITY, city_code=city_code)
    db.session.commit()
    return login(u), u


def _confirmed_batch(login):
    """Guangzhou's 2026-1 list published, its publicity over, and the payout batch confirmed."""
    c, officer = _city(login)
    lst = payout.create_list("440100", "2026-1", officer)
    payout.publish(lst, officer, 7)
    db.session.commit()
    _over(lst)
    batch = payout.confirm("440100", "2026-1", officer, payout.fingerprint(payout.propose("440100", "2026-1")[0]))
    db.session.commit()
    return c, officer, batch


def _over(lst):
    lst = db.session.get(SettlementList, lst.id)
    lst.publicity_ends_on = today() - dt.timedelta(days=1)
    db.session.commit()


def test_the_city_gathers_publishes_and_pays_a_list(app, login):
    # rule: DOC-2, PUB-1, PAY-1, PAY-2
    a, b = _approved(30_000), _approved(20_000)
    _budget(general=40_000)
    c, officer = _city(login)
    page = c.get("/city/payout-lists")
    assert page.status_code == 200 and "待列入清单的已通过兑现申请" in page.get_data(as_text=True)
    r = c.post("/city/payout-lists", data={"period": "2026-1"})
    assert r.status_code == 303
    lst = db.session.execute(db.select(SettlementList)).scalar_one()
    html = c.get(f"/city/payout-lists/{lst.id}").get_data(as_text=True)
    assert a.enterprise.name in html and b.enterprise.name in html and "发布公示" in html
    assert c.post(f"/city/payout-lists/{lst.id}/act", data={"action": "publish", "days": "5"}).status_code == 422
    assert c.post(f"/city/payout-lists/{lst.id}/act", data={"action": "publish", "days": "7"}).status_code == 303
    db.session.expire_all()
    assert lst.status == ListStatus.PUBLISHED and lst.publicity_ends_on == today() + dt.timedelta(days=7)
    # during publicity nothing is payable
    assert "没有待支付的条目" in c.get("/city/payout?period=2026-1").get_data(as_text=True)
    _over(lst)
    html = c.get("/city/payout?period=2026-1").get_data(as_text=True)
    assert "本次支付 1 项" in html and "超出预算余额，顺延" in html
    fp = payout.fingerprint(payout.propose("440100", "2026-1")[0])
    r = c.post("/city/payout/confirm", data={"period": "2026-1", "fingerprint": fp})
    assert r.status_code == 303
    batch = db.session.execute(db.select(PayoutBatch)).scalar_one()
    entry = db.session.execute(db.select(ListEntry).where(ListEntry.batch_id == batch.id)).scalar_one()
    assert entry.settlement_id == a.id and entry.status == EntryStatus.COMMITTED
    # a second confirm of the same proposal (a double click) is refused: the queue changed
    assert c.post("/city/payout/confirm", data={"period": "2026-1", "fingerprint": fp}).status_code in (409, 422)
    r = c.post(f"/city/list-entries/{entry.id}/pay", data={"paid_on": today().isoformat(), "bank_ref": ""})
    assert r.status_code == 422 and "银行流水号" in r.get_data(as_text=True)
    r = c.post(f"/city/list-entries/{entry.id}/pay", data={"paid_on": today().isoformat(), "bank_ref": "GZ-20261201-01"})
    assert r.status_code == 303
    db.session.expire_all()
    assert entry.status == EntryStatus.PAID and entry.bank_ref == "GZ-20261201-01"
    assert db.session.get(Budget, entry.budget_id).committed_fen == entry.amount_fen


def test_payments_from_an_xlsx_file_all_or_nothing(app, login):
    # rule: PAY-1
    sts = [_approved(10_000), _approved(10_000)]
    _budget(general=100_000)
    c, officer, batch = _confirmed_batch(login)

    def book(rows):
        wb = Workbook()
        ws = wb.active
        ws.append(["服务券编号", "支付日期", "银行流水号"])
        for r in rows:
            ws.append(r)
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()

    codes = [st.voucher.code for st in sts]
    bad = book([[codes[0], today(), "REF-0001"], [codes[1], today() + dt.timedelta(days=3), "REF-0002"]])
    r = c.post(f"/city/payout/batches/{batch.id}/payments", data={"file": (io.BytesIO(bad), "pay.xlsx")},
               content_type="multipart/form-data")
    assert r.status_code == 422 and "第 3 行" in r.get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count()).select_from(ListEntry).where(
        ListEntry.status == EntryStatus.PAID)).scalar_one() == 0  # nothing half-saved
    good = book([[codes[0], today(), "REF-0001"], [codes[1], today().isoformat(), "REF-0002"]])
    r = c.post(f"/city/payout/batches/{batch.id}/payments", data={"file": (io.BytesIO(good), "pay.xlsx")},
               content_type="multipart/form-data")
    assert r.status_code == 303
    assert db.session.execute(db.select(db.func.count()).select_from(ListEntry).where(
        ListEntry.status == EntryStatus.PAID)).scalar_one() == 2


def test_the_city_answers_an_objection(app, login):
    # rule: PUB-2, PUB-3
    st = _approved(10_000)
    c, officer = _city(login)
    lst = payout.create_list("440100", "2026-1", officer)
    payout.publish(lst, officer, 7)
    (e,) = db.session.execute(db.select(ListEntry)).scalars().all()
    obj = payout.raise_objection(lst, payout.ObjectionInput([e.id], "该企业与供应商存在关联关系，请核实。"),
                                 user=make_user(Role.SUPPLIER))
    db.session.commit()
    queue = c.get("/city/objections").get_data(as_text=True)
    assert obj.tracking_no in queue and "公示期剩 7 天" in queue
    page = c.get(f"/city/objections/{obj.id}").get_data(as_text=True)
    assert "关联关系" in page and "提交省级处理" in page
    r = c.post(f"/city/objections/{obj.id}", data={"decision": "dismissed", "answer": ""})
    assert r.status_code == 422 and 'value="dismissed" required checked' in r.get_data(as_text=True)
    r = c.post(f"/city/objections/{obj.id}", data={"decision": "escalate", "answer": "需专家现场核查"})
    assert r.status_code == 303
    db.session.expire_all()
    assert obj.status == ObjStatus.ESCALATED and e.status == EntryStatus.HELD
    r = c.post(f"/city/objections/{obj.id}", data={"decision": "dismissed", "answer": "不成立"})
    assert r.status_code == 409  # with the province now
    other, _ = _city(login, "440300")
    assert other.get(f"/city/objections/{obj.id}").status_code == 404
    assert other.get(f"/city/payout-lists/{lst.id}").status_code == 404


def test_the_enterprise_sees_its_place_in_the_queue(app, login):
    # rule: PAY-2, PAY-3, PUB-4 -- the same answer as the payout
    first, second = _approved(30_000), _approved(20_000)
    _budget(general=40_000)
    officer = make_user(Role.CITY)
    lst = payout.create_list("440100", "2026-1", officer)
    payout.publish(lst, officer, 7)
    db.session.commit()
    ent = db.session.execute(db.select(User).where(User.enterprise_id == second.enterprise_id)).scalars().first()
    ec = login(ent)
    html = ec.get(f"/enterprise/settlements/{second.id}").get_data(as_text=True)
    assert "公示中" in html and str(lst.publicity_ends_on) in html
    _over(lst)
    html = ec.get(f"/enterprise/settlements/{second.id}").get_data(as_text=True)
    assert "第 <strong>2</strong> 位" in html and "前面待付 ¥30,000.00" in html and "本期预算不足" in html
    sup = db.session.execute(db.select(User).where(User.supplier_id == first.supplier_id)).scalars().first()
    html = login(sup).get(f"/supplier/settlements/{first.id}").get_data(as_text=True)
    assert "第 <strong>1</strong> 位" in html and "预计在本期支付" in html


def test_documents_are_made_by_a_job(app, login):
    # rule: DOC-2
    _approved(10_000)
    c, officer = _city(login)
    lst = payout.create_list("440100", "2026-1", officer)
    db.session.commit()
    r = c.post(f"/city/payout-lists/{lst.id}/documents")
    assert r.status_code == 303 and "/jobs/" in r.headers["Location"]
    job = db.session.execute(db.select(Job)).scalar_one()
    from blueprints.core import jobs

    jobs.execute(job.id)
    db.session.expire_all()
    lst = db.session.get(SettlementList, lst.id)
    assert job.status == "done" and lst.pdf_file_id and lst.xlsx_file_id
    assert c.get(f"/files/{lst.pdf_file_id}").status_code == 200


def test_parallel_confirms_never_overspend_or_pay_twice(app, login, engine_name):
    # rule: PAY-6 -- one officer's double click and a second officer, at the same moment
    for amount in (30_000, 20_000, 10_000):
        _approved(amount)
    _budget(general=45_000)
    officer = make_user(Role.CITY)
    lst = payout.create_list("440100", "2026-1", officer)
    payout.publish(lst, officer, 7)
    db.session.commit()
    _over(lst)
    fp = payout.fingerprint(payout.propose("440100", "2026-1")[0])
    clients = [login(officer), login(officer), _city(login)[0], _city(login)[0]]
    db.session.commit()
    db.session.close()
    barrier = threading.Barrier(len(clients))

    def go(c):
        barrier.wait()
        return c.post("/city/payout/confirm", data={"period": "2026-1", "fingerprint": fp}).status_code

    with ThreadPoolExecutor(len(clients)) as pool:
        codes = list(pool.map(go, clients))
    assert sorted(codes) == [303, 409, 409, 409], codes
    b = db.session.execute(db.select(Budget)).scalar_one()
    committed = db.session.execute(db.select(ListEntry).where(ListEntry.status == EntryStatus.COMMITTED)).scalars().all()
    assert b.committed_fen == sum(e.amount_fen for e in committed) == 30_000_00
    assert db.session.execute(db.select(db.func.count()).select_from(PayoutBatch)).scalar_one() == 1


def test_a_batch_line_names_its_confirmation_time_once(app, login):
    import re

    from blueprints.core.timeutil import local

    _approved(10_000)
    _budget(general=100_000)
    c, officer, batch = _confirmed_batch(login)
    html = c.get("/city/payout?period=2026-1").get_data(as_text=True)
    m = re.search(rf'<li><a href="[^"]*/city/payout/batches/{batch.id}">.*?</li>', html)
    assert m, html[-1500:]
    line = m.group(0)
    at = local(batch.confirmed_at).strftime("%Y-%m-%d %H:%M")
    assert line.count(at) == 1 and f"确认于 {at}" in line and "：1 项，¥10,000.00" in line
