"""The province's payout pages: the overview per city and period, its xlsx, and the decision on
objections the cities escalated (CYC-4, PIL-3, PAY-1, PAY-3, PAY-4, PUB-3, PUB-4)."""
from __future__ import annotations

import datetime as dt
import io
import re
from types import SimpleNamespace

import pytest
from openpyxl import load_workbook

from blueprints.core import payout, uploads
from blueprints.core.money import fen_to_decimal
from blueprints.core.timeutil import now, today
from blueprints.province.payout import overview
from models import (
    AuditEvent, Budget, City, EntryStatus, ListEntry, Objection, ObjStatus, Role, SetStatus, SettlementList, db,
)
from tests.factories import make_enterprise, make_settlement, make_user, make_voucher

GZ, SZ = "440100", "440300"
Y = 100  # fen per yuan


def _approved(amount_yuan: int, *, pilot=False, city=GZ):
    v = make_voucher(enterprise=make_enterprise(city_code=city), fee_fen=amount_yuan * Y)
    v.pilot = pilot
    st = make_settlement(v, stage="approved")
    db.session.commit()
    return st


def _budget(period: str, city: str, general=0, pilot=0):
    for kind, cap in (("general", general), ("pilot", pilot)):
        if cap:
            db.session.add(Budget(city_code=city, period=period, kind=kind, cap_fen=cap * Y, committed_fen=0))
    db.session.commit()


def _list(city_user, period: str, *, over=True) -> SettlementList:
    lst = payout.create_list(city_user.city_code, period, city_user)
    payout.publish(lst, city_user, 7)
    if over:  # time moved on: the publicity period has passed
        lst.publicity_ends_on = today() - dt.timedelta(days=1)
    db.session.commit()
    return lst


def _over(lst):
    lst.publicity_ends_on = today() - dt.timedelta(days=1)
    db.session.commit()


def _entry(st) -> ListEntry:
    return db.session.execute(db.select(ListEntry).where(ListEntry.settlement_id == st.id)).scalar_one()


def _confirm(city_user, period):
    alloc, _ = payout.propose(city_user.city_code, period)
    batch = payout.confirm(city_user.city_code, period, city_user, payout.fingerprint(alloc))
    db.session.commit()
    return batch


def _objection(lst, entries, *, escalate=True, city_user=None):
    obj = payout.raise_objection(lst, payout.ObjectionInput([e.id for e in entries], "该企业未实际使用云服务，发票与合同不符。"),
                                 user=make_user(Role.SUPPLIER))
    if escalate:
        payout.city_answer(obj, city_user, "escalate", "涉及技术认定，需专家现场核查。")
    db.session.commit()
    return obj


@pytest.fixture
def world(app):
    """Two cities. Guangzhou: two settlements on a 2026-1 list (40,000; 30,000), a 2026-2 list of a pilot
    15,000, 20,000, 8,000 and 5,000 (under an objection, escalated); budgets 2026-1 general 10,000 and 2026-2
    general 50,000 + pilot fund 20,000. The 2026-2 batch pays 15,000 (pilot) and 40,000 (carried over, first);
    30,000 does not fit, so it, 20,000 and 8,000 wait; the 40,000 is recorded as paid.
    Shenzhen: a 2026-2 list of 10,000 and 25,000 against a general budget of 30,000: 10,000 committed, unpaid."""
    gz, sz = make_user(Role.CITY, city_code=GZ), make_user(Role.CITY, city_code=SZ)
    db.session.commit()
    g1, g1b = _approved(40_000), _approved(30_000)
    _budget("2026-1", GZ, general=10_000)
    _list(gz, "2026-1")
    assert payout.propose(GZ, "2026-1")[0].paid == ()  # 40,000 does not fit 10,000: both carry over
    g2, g3, g4, g5 = _approved(15_000, pilot=True), _approved(20_000), _approved(8_000), _approved(5_000)
    lst2 = _list(gz, "2026-2", over=False)
    obj = _objection(lst2, [_entry(g5)], city_user=gz)
    _over(lst2)
    _budget("2026-2", GZ, general=50_000, pilot=20_000)
    _confirm(gz, "2026-2")
    payout.record_payment(_entry(g1), gz, today(), "GZ-0001")
    db.session.commit()
    s1, s2 = _approved(10_000, city=SZ), _approved(25_000, city=SZ)
    _budget("2026-2", SZ, general=30_000)
    _list(sz, "2026-2")
    _confirm(sz, "2026-2")
    return SimpleNamespace(gz=gz, sz=sz, obj=obj, g=[g1, g1b, g2, g3, g4, g5], s=[s1, s2])


GZ_2026_2 = dict(general_cap=50_000 * Y, pilot_cap=20_000 * Y, general_committed=40_000 * Y,
                 pilot_committed=15_000 * Y, paid_count=1, paid_fen=40_000 * Y, unpaid_count=1, unpaid_fen=15_000 * Y,
                 waiting_count=3, waiting_fen=58_000 * Y, carried_count=1, carried_fen=30_000 * Y,
                 held_count=1, held_fen=5_000 * Y, recovered_fen=0, net_paid_fen=40_000 * Y)
SZ_2026_2 = dict(general_cap=30_000 * Y, pilot_cap=0, general_committed=10_000 * Y, pilot_committed=0,
                 paid_count=0, paid_fen=0, unpaid_count=1, unpaid_fen=10_000 * Y, waiting_count=1,
                 waiting_fen=25_000 * Y, carried_count=0, carried_fen=0, held_count=0, held_fen=0,
                 recovered_fen=0, net_paid_fen=0)


def test_the_overview_figures_are_exact(world):
    # rule: CYC-4, PIL-3 -- budgets and pilot fund per city; rule: PAY-1 -- committed and paid;
    # rule: PAY-3, PAY-4 -- waiting, and carried over from earlier periods; rule: PUB-4 -- held
    rows, total = overview("2026-2")
    by_code = {c.code: r for c, r in rows}
    assert [c.code for c, _ in rows] == list(db.session.execute(
        db.select(City.code).order_by(City.position, City.code)).scalars())  # all 21, in City order
    assert len(rows) == 21
    assert by_code[GZ] == GZ_2026_2
    assert by_code[SZ] == SZ_2026_2
    assert all(not any(r.values()) for code, r in by_code.items() if code not in (GZ, SZ))
    assert total == {k: GZ_2026_2[k] + SZ_2026_2[k] for k in GZ_2026_2}
    # committed = paid + committed-not-paid, fund by fund, as the budget rows say
    for r in (by_code[GZ], by_code[SZ]):
        assert r["general_committed"] + r["pilot_committed"] == r["paid_fen"] + r["unpaid_fen"]
    # waiting is exactly what payout.payable() would offer the city's next batch
    for code in (GZ, SZ):
        waiting = [e for e, _ in db.session.execute(payout.payable(code)).all()]
        assert (len(waiting), sum(e.amount_fen for e in waiting)) == (
            by_code[code]["waiting_count"], by_code[code]["waiting_fen"])
    # rule: PAY-4 -- carried over is relative to the period viewed: nothing was listed before 2026-1
    earlier = {c.code: r for c, r in overview("2026-1")[0]}[GZ]
    assert (earlier["general_cap"], earlier["general_committed"], earlier["paid_count"]) == (10_000 * Y, 0, 0)
    assert (earlier["waiting_count"], earlier["carried_count"], earlier["held_count"]) == (3, 0, 1)


def _cell(html: str, cell_id: str) -> str:
    m = re.search(rf'id="{cell_id}"[^>]*>(.*?)</td>', html, re.S)
    assert m, cell_id
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", m.group(1))).strip()


def test_the_overview_page_shows_the_figures_and_a_bar_per_fund(world, login):
    # rule: CYC-4, PIL-3, PAY-4, PUB-4
    c = login(make_user(Role.PROVINCE))
    db.session.commit()
    r = c.get("/province/payout")  # the latest period with a budget
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'value="2026-2" selected' in html and 'value="2026-1"' in html
    assert _cell(html, "payout-440100-general").startswith("¥40,000.00 / ¥50,000.00")
    assert _cell(html, "payout-440100-pilot").startswith("¥15,000.00 / ¥20,000.00")
    assert _cell(html, "payout-440100-paid") == "1 笔 ¥40,000.00"
    assert _cell(html, "payout-440100-unpaid") == "1 笔 ¥15,000.00"
    assert _cell(html, "payout-440100-waiting") == "3 笔 ¥58,000.00"
    assert _cell(html, "payout-440100-carried") == "1 笔 ¥30,000.00"
    assert _cell(html, "payout-440100-held") == "1 笔 ¥5,000.00"
    assert _cell(html, "payout-440300-waiting") == "1 笔 ¥25,000.00"
    assert _cell(html, "payout-total-paid") == "1 笔 ¥40,000.00"
    assert _cell(html, "payout-total-waiting") == "4 笔 ¥83,000.00"
    assert '<progress max="5000000" value="4000000"' in html  # drawn without style attributes (CSP)
    assert html.count('id="payout-') >= 21 and "payout-440300-pilot" in html
    # another period; htmx gets the results block alone
    r = c.get("/province/payout?period=2026-1", headers={"HX-Request": "true"})
    frag = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in frag and 'id="payout-overview-results"' in frag
    assert _cell(frag, "payout-440100-carried") == "0 笔 ¥0.00"
    assert c.get("/province/payout?period=bogus").status_code == 200  # falls back to the default


def test_the_overview_without_any_period_is_an_empty_state(app, login):
    c = login(make_user(Role.PROVINCE))
    db.session.commit()
    html = c.get("/province/payout").get_data(as_text=True)
    assert "尚未下达任何结算期的兑付预算" in html
    assert c.get("/province/payout.xlsx").status_code == 404


def test_the_xlsx_has_the_same_figures(world, login):
    # rule: CYC-4, PIL-3, PAY-1, PAY-4
    c = login(make_user(Role.PROVINCE))
    db.session.commit()
    r = c.get("/province/payout.xlsx?period=2026-2")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    ws = load_workbook(io.BytesIO(r.data)).worksheets[0]
    rows = [list(row) for row in ws.iter_rows(values_only=True)]
    header = rows[0]
    names = dict(db.session.execute(db.select(City.code, City.name)).all())
    by_name = {row[0]: dict(zip(header, row)) for row in rows[1:] if row and row[0]}
    assert len([n for n in by_name if n in names.values()]) == 21
    for code, want in ((GZ, GZ_2026_2), (SZ, SZ_2026_2)):
        got = by_name[names[code]]
        assert got["一般预算（元）"] == fen_to_decimal(want["general_cap"])
        assert got["试点资金已核拨（元）"] == fen_to_decimal(want["pilot_committed"])
        assert (got["已支付（笔）"], got["已支付（元）"]) == (want["paid_count"], fen_to_decimal(want["paid_fen"]))
        assert got["已核拨未支付（元）"] == fen_to_decimal(want["unpaid_fen"])
        assert (got["待支付（笔）"], got["待支付（元）"]) == (want["waiting_count"], fen_to_decimal(want["waiting_fen"]))
        assert (got["其中上期顺延（笔）"], got["其中上期顺延（元）"]) == (want["carried_count"],
                                                                     fen_to_decimal(want["carried_fen"]))
        assert (got["异议暂缓（笔）"], got["异议暂缓（元）"]) == (want["held_count"], fen_to_decimal(want["held_fen"]))
    assert by_name["全省合计"]["待支付（元）"] == fen_to_decimal(83_000 * Y)


def _queries(q) -> int:
    """Statements run, transaction control (SQLite's explicit BEGIN) not counted, as core/querycount.py does."""
    return sum(1 for s in q.statements if not s.lstrip()[:9].upper().startswith(("BEGIN", "COMMIT", "ROLLBACK",
                                                                                  "SAVEPOINT", "RELEASE")))


def test_queries_do_not_grow_with_cities_or_entries(app, login, count_queries):
    # rule: CYC-4 -- a handful of grouped queries, never one per city or per entry
    gz = make_user(Role.CITY, city_code=GZ)
    c = login(make_user(Role.PROVINCE))
    db.session.commit()
    _approved(10_000)
    _budget("2026-1", GZ, general=100_000)
    _list(gz, "2026-1")
    assert c.get("/province/payout").status_code == 200  # warm
    counts = []
    for step in range(2):
        if step:  # more cities with budgets, lists, commitments and payments; more entries
            for code in ("440200", "440300", "440400"):
                officer = make_user(Role.CITY, city_code=code)
                db.session.commit()
                _approved(5_000, city=code), _approved(6_000, city=code)
                _budget("2026-1", code, general=8_000, pilot=1_000)
                _list(officer, "2026-1")
                _confirm(officer, "2026-1")
        for url in ("/province/payout", "/province/payout.xlsx"):
            with count_queries() as q:
                assert c.get(url).status_code == 200
            counts.append(_queries(q))
    assert counts[0] == counts[2] and counts[1] == counts[3], counts


# --------------------------------------------------------------------------- objections


def _escalated(amount=10_000):
    city = make_user(Role.CITY, city_code=GZ)
    db.session.commit()
    st = _approved(amount)
    lst = _list(city, "2026-1", over=False)
    e = _entry(st)
    obj = _objection(lst, [e], city_user=city)
    return SimpleNamespace(city=city, st=st, lst=lst, e=e, obj=obj)


def test_the_queue_shows_escalated_objections_first(app, login, count_queries):
    # rule: PUB-3
    c = login(make_user(Role.PROVINCE))
    db.session.commit()
    assert "没有地市提交省级处理的异议" in c.get("/province/objections").get_data(as_text=True)
    first = _escalated()
    first.obj.escalated_at = now() - dt.timedelta(days=16)
    db.session.commit()
    prov = make_user(Role.PROVINCE)
    payout.province_decide(first.obj, prov, ObjStatus.DISMISSED, "经核实，服务在用。")
    db.session.commit()
    with count_queries() as q1:
        assert c.get("/province/objections").status_code == 200
    second = _escalated()
    third = _escalated()
    second.obj.escalated_at = now() - dt.timedelta(days=15)
    db.session.commit()
    with count_queries() as q2:
        r = c.get("/province/objections")
    assert _queries(q1) == _queries(q2)
    html = r.get_data(as_text=True)
    order = [int(m) for m in re.findall(r'id="objection-(\d+)-row"', html)]
    assert order == [second.obj.id, third.obj.id, first.obj.id]  # waiting (oldest first), then decided
    assert second.obj.tracking_no in html and second.lst.title in html
    assert "已等待 15 天" in html and "due-over" in html and "已等待 0 天" in html
    assert "异议不成立" in html
    # an objection the city still holds is not the province's
    _objection(second.lst, [second.e], escalate=False)
    assert len(re.findall(r'id="objection-(\d+)-row"', c.get("/province/objections").get_data(as_text=True))) == 3


def test_the_province_upholds_an_escalated_objection(app, login):
    # rule: PUB-3 -- with the experts' on-site check; the entry comes off, the settlement goes back to the city
    w = _escalated()
    f = uploads.store_bytes(b"%PDF-1.4 material", mime="application/pdf", name="现场照片.pdf", kind="objection",
                            owner_type="objection", owner_id=w.obj.id, user_id=None)
    w.obj.file_ids = [f.id]
    db.session.commit()
    c = login(make_user(Role.PROVINCE))
    db.session.commit()
    html = c.get(f"/province/objections/{w.obj.id}").get_data(as_text=True)
    assert "发票与合同不符" in html and "需专家现场核查" in html and w.st.enterprise.name in html
    assert f"/files/{f.id}" in html and "data-confirm=" in html and 'value="upheld"' in html
    timeline = html.split('class="timeline"')[1]
    assert "提出异议" in timeline and "提交省级处理" in timeline and "地市处理中 → 省级处理中" in timeline and "需专家现场核查" in timeline
    assert c.get(f"/files/{f.id}").status_code == 200
    r = c.post(f"/province/objections/{w.obj.id}", data={
        "decision": "upheld", "answer": "专家现场核查：服务未部署。", "site_check_on": today().isoformat(),
        "findings": "机房无相关设备，系统无登录记录。"})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/province/objections/{w.obj.id}")
    db.session.expire_all()
    assert w.obj.status == ObjStatus.UPHELD and w.obj.site_check_on == today()
    assert w.obj.site_check_findings == "机房无相关设备，系统无登录记录。"
    assert w.e.status == EntryStatus.REMOVED and w.st.status == SetStatus.CITY_REVIEW
    html = c.get(f"/province/objections/{w.obj.id}").get_data(as_text=True)
    assert "机房无相关设备" in html and 'id="objection-decision"' not in html
    # decided: a second decision is refused
    r = c.post(f"/province/objections/{w.obj.id}", data={"decision": "dismissed", "answer": "不成立"})
    assert r.status_code == 409 and "不在省级处理中" in r.get_data(as_text=True)
    assert db.session.get(Objection, w.obj.id).status == ObjStatus.UPHELD


def test_the_province_dismisses_an_escalated_objection(app, login):
    # rule: PUB-3, PUB-4 -- dismissed, the entry is released into the payout queue
    w = _escalated()
    c = login(make_user(Role.PROVINCE))
    db.session.commit()
    r = c.post(f"/province/objections/{w.obj.id}", data={"decision": "dismissed", "answer": "经核实，服务在用，发票真实。"},
               headers={"HX-Request": "true"})
    assert r.status_code == 204 and r.headers["HX-Redirect"].endswith(f"/province/objections/{w.obj.id}")
    db.session.expire_all()
    assert w.obj.status == ObjStatus.DISMISSED and w.e.status == EntryStatus.LISTED
    assert w.st.status == SetStatus.APPROVED
    assert db.session.execute(db.select(AuditEvent.action).where(
        AuditEvent.entity_type == "list_entry", AuditEvent.entity_id == w.e.id).order_by(
        AuditEvent.id.desc()).limit(1)).scalar_one() == "unhold"


def test_a_bad_decision_is_refused_and_keeps_what_was_typed(app, login):
    # rule: PUB-3
    w = _escalated()
    c = login(make_user(Role.PROVINCE))
    db.session.commit()
    url = f"/province/objections/{w.obj.id}"
    r = c.post(url, data={"decision": "upheld", "answer": "  ", "site_check_on": today().isoformat(),
                          "findings": "机房无设备"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "请填写处理结论的说明" in html
    assert 'value="upheld" required checked' in html and "机房无设备</textarea>" in html
    assert f'value="{today().isoformat()}"' in html
    r = c.post(url, data={"decision": "upheld", "answer": "成立", "site_check_on": today().isoformat()})
    assert r.status_code == 422 and "请填写现场核查的发现" in r.get_data(as_text=True)
    r = c.post(url, data={"decision": "upheld", "answer": "成立", "site_check_on": "2026-13-45", "findings": "x"})
    assert r.status_code == 422 and "日期格式不正确" in r.get_data(as_text=True)
    r = c.post(url, data={"decision": "upheld", "answer": "成立", "findings": "没有日期的发现"})
    assert r.status_code == 422 and "请填写现场核查日期" in r.get_data(as_text=True)
    r = c.post(url, data={"decision": "", "answer": "成立"})
    assert r.status_code == 422 and "请选择处理结论" in r.get_data(as_text=True)
    db.session.expire_all()
    assert w.obj.status == ObjStatus.ESCALATED and w.e.status == EntryStatus.HELD


def test_an_objection_still_with_the_city_gets_a_409_and_unknown_ones_404(app, login):
    # rule: PUB-3 -- the province decides only what the city escalated
    city = make_user(Role.CITY, city_code=GZ)
    db.session.commit()
    st = _approved(10_000)
    lst = _list(city, "2026-1", over=False)
    obj = _objection(lst, [_entry(st)], escalate=False)
    c = login(make_user(Role.PROVINCE))
    db.session.commit()
    html = c.get(f"/province/objections/{obj.id}").get_data(as_text=True)
    assert 'id="objection-decision"' not in html  # no form: nothing for the province to decide
    r = c.post(f"/province/objections/{obj.id}", data={"decision": "upheld", "answer": "成立"})
    assert r.status_code == 409
    assert c.get("/province/objections/999999").status_code == 404
    assert c.post("/province/objections/999999", data={"decision": "upheld", "answer": "x"}).status_code == 404
