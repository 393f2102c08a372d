"""Supplier evaluation and public scorecards: exact figures from platform data, the
enterprise's rating once per approved settlement, the province's award once per year, the sortable table,
the xlsx, the public pages, and query counts that do not grow with the suppliers.
# rule: SUP-3
"""
from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from sqlalchemy import event

from blueprints.core import evaluation
from blueprints.core.application import Refused
from blueprints.core.supervision import FieldErrors
from blueprints.core.timeutil import now, today
from models import (
    AuditEvent, Complaint, ListEntry, ListStatus, Notice, Objection, ObjectionEntry, Recovery, RegStatus, Role,
    SettlementList, SpotCheck, SupplierAward, SupplierRating, User, VoucherStatus, VoucherUsage, db,
)
from tests.factories import (
    make_cycle, make_enterprise, make_settlement, make_supplier, make_user, make_voucher, make_world,
)

Y = today().year


def _ent_user(v):
    return db.session.execute(db.select(User).where(User.enterprise_id == v.enterprise_id).order_by(User.id)
                              .limit(1)).scalar_one()


def _entry(lst, st, seq):
    e = ListEntry(list_id=lst.id, settlement_id=st.id, voucher_id=st.voucher_id, city_code=st.city_code, seq=seq,
                  submitted_at=st.submitted_at, face_fen=st.voucher.face_value_fen, bonus_fen=0,
                  amount_fen=st.voucher.face_value_fen, status="paid")
    db.session.add(e)
    db.session.flush()
    return e


def _objection(lst, status, entries, n):
    o = Objection(tracking_no=f"YYTEST{n:06d}", list_id=lst.id, city_code=lst.city_code, status=status, text="异议")
    db.session.add(o)
    db.session.flush()
    for e in entries:
        db.session.add(ObjectionEntry(objection_id=o.id, entry_id=e.id))
    return o


def _complaint(supplier, upheld, at, n):
    db.session.add(Complaint(tracking_no=f"TS{n:08d}", category="complaint", text="服务未按合同实施",
                             supplier_id=supplier.id, status="answered", due_on=today(), upheld=upheld, created_at=at))


def _check(target_type, target_id, result, on):
    db.session.add(SpotCheck(target_type=target_type, target_id=target_id, checked_on=on, inspectors="王五",
                             findings="现场核查记录", result=result))


def build():
    """Two suppliers with known figures, a third with none, and one not approved.

    A (year Y): E1 v1 item1 fee 150,000 (cap 200,000: 75 %) approved, usage verified by data, rated 5;
      E2 v2 item1 fee 100,000 (50 %) approved, let through without data (not a pass), rated 2;
      E2 v3 item2 fee 150,000 (cap 150,000: 100 %) waiting for usage (confirmed, not verified);
      E3 v4 released (not counted at all).
      Spot checks: A itself failed (this year), v1 passed, A itself last year (not counted), E1 (an
      enterprise's, not counted). Complaints: one upheld (counted), one not upheld, one upheld last year.
      Recoveries on v1: 30,000 + 5,000. Objections: one upheld on v1, v2 and B's vb1; one dismissed on
      v1; one upheld on v2.
    B (year Y): E4 vb1 item2 fee 120,000 (80 %) approved, usage override "verified", rated 4.
      (year Y-1): E4 vb2 item1 fee 100,000 (50 %).
    """
    w = make_world(cap_fen=500_000_00)
    prov = make_user(Role.PROVINCE)
    a, b = w.supplier, make_supplier()
    c, draft = make_supplier(), make_supplier(status=RegStatus.DRAFT)
    e1, e2, e3, e4 = w.enterprise, make_enterprise(), make_enterprise(), make_enterprise()
    city = {"city": w.city_user, "province": prov}

    v1 = make_voucher(e1, a, w.cycle, fee_fen=150_000_00, item=w.item, users=dict(city, enterprise=w.ent_user))
    v2 = make_voucher(e2, a, w.cycle, fee_fen=100_000_00, item=w.item, users=city)
    v3 = make_voucher(e2, a, w.cycle, fee_fen=150_000_00, item=w.item2, users=city)
    v4 = make_voucher(e3, a, w.cycle, fee_fen=90_000_00, item=w.item, users=city)
    vb1 = make_voucher(e4, b, w.cycle, fee_fen=120_000_00, item=w.item2, users=city)
    old = make_cycle(name=f"{Y - 1}年第一批", year=Y - 1)
    vb2 = make_voucher(e4, b, old, fee_fen=100_000_00, item=w.item, users=city)
    v4.status = VoucherStatus.RELEASED

    st1 = make_settlement(v1, stage="approved", users=city)
    st2 = make_settlement(v2, stage="approved", users=city)
    st3 = make_settlement(v3, stage="verification", users=city)
    stb1 = make_settlement(vb1, stage="approved", users=city)
    # Usage figures set after the settlements moved on (verified data would have moved them by itself).
    db.session.add(VoucherUsage(voucher_id=v1.id, days=5, override="", override_reason=""))
    db.session.add(VoucherUsage(voucher_id=vb1.id, days=0, override="verified", override_reason="现场核查"))
    db.session.add(VoucherUsage(voucher_id=v3.id, days=2, override="", override_reason=""))

    evaluation.rate(st1, _ent_user(v1), 5, "响应及时")
    evaluation.rate(st2, _ent_user(v2), 2, "实施拖延，私下评语")
    evaluation.rate(stb1, _ent_user(vb1), 4, "")

    _check("supplier", a.id, "fail", today())
    _check("voucher", v1.id, "pass", today())
    _check("supplier", a.id, "fail", dt.date(Y - 1, 6, 1))
    _check("enterprise", e1.id, "fail", today())
    _complaint(a, True, now(), 1)
    _complaint(a, False, now(), 2)
    _complaint(a, True, now() - dt.timedelta(days=400), 3)

    lst = SettlementList(city_code=w.enterprise.city_code, period=f"{Y}-1", seq=1, status=ListStatus.PUBLISHED)
    db.session.add(lst)
    db.session.flush()
    en1, en2, enb = _entry(lst, st1, 1), _entry(lst, st2, 2), _entry(lst, stb1, 3)
    _objection(lst, "upheld", [en1, en2, enb], 1)
    _objection(lst, "dismissed", [en1], 2)
    _objection(lst, "upheld", [en2], 3)
    db.session.add_all([Recovery(voucher_id=v1.id, entry_id=en1.id, city_code=v1.city_code, amount_fen=30_000_00,
                                 reason="不合理部分"),
                        Recovery(voucher_id=v1.id, entry_id=en1.id, city_code=v1.city_code, amount_fen=5_000_00,
                                 reason="不合理部分")])
    db.session.commit()
    from types import SimpleNamespace

    return SimpleNamespace(w=w, prov=prov, a=a, b=b, c=c, draft=draft, v=(v1, v2, v3, v4, vb1, vb2),
                           st=(st1, st2, st3, stb1))


def _cards(year=Y):
    return {card.supplier_id: card for card in evaluation.scorecards(year)}


def test_scorecards_are_exact_for_two_suppliers(app):
    # rule: SUP-3
    x = build()
    cards = _cards()
    assert set(cards) == {x.a.id, x.b.id, x.c.id}  # every approved supplier, not the draft one
    a, b, c = cards[x.a.id], cards[x.b.id], cards[x.c.id]
    assert (a.customers, a.vouchers, a.face_fen) == (2, 3, 400_000_00)
    assert a.settlements_approved == 2
    assert (a.usage_verified, a.usage_checked, a.pass_rate_pct) == (1, 3, Decimal("33.3"))
    assert a.objections_upheld == 2
    assert a.complaints_upheld == 1
    assert (a.spot_checks, a.spot_checks_failed) == (2, 1)
    assert (a.recoveries, a.recovered_fen) == (2, 35_000_00)
    assert (a.ratings, a.rating_avg) == (2, Decimal("3.5"))
    assert a.fee_share_pct == Decimal("75.0")  # (75 + 50 + 100) / 3
    assert a.award is None

    assert (b.customers, b.vouchers, b.face_fen, b.settlements_approved) == (1, 1, 120_000_00, 1)
    assert (b.usage_verified, b.usage_checked, b.pass_rate_pct) == (1, 1, Decimal("100.0"))
    assert (b.objections_upheld, b.complaints_upheld, b.spot_checks, b.recoveries) == (1, 0, 0, 0)
    assert (b.ratings, b.rating_avg, b.fee_share_pct) == (1, Decimal("4.0"), Decimal("80.0"))

    assert (c.customers, c.vouchers, c.face_fen, c.ratings) == (0, 0, 0, 0)
    assert c.pass_rate_pct is None and c.rating_avg is None and c.fee_share_pct is None

    # The year is the voucher's cycle year: last year's voucher of B is last year's figure only.
    last = _cards(Y - 1)
    lb = last[x.b.id]
    assert (lb.vouchers, lb.face_fen, lb.fee_share_pct) == (1, 100_000_00, Decimal("50.0"))
    assert (last[x.a.id].vouchers, last[x.a.id].spot_checks, last[x.a.id].complaints_upheld) == (0, 1, 1)

    # supplier_ids: those suppliers, in that order (any status), and nothing else.
    assert [s.supplier_id for s in evaluation.scorecards(Y, [x.b.id, x.a.id])] == [x.b.id, x.a.id]
    assert evaluation.scorecards(Y, []) == []


def test_scorecards_are_a_fixed_number_of_queries(app, count_queries):
    # rule: SUP-3
    x = build()
    with count_queries() as few:
        evaluation.scorecards(Y)
    for _ in range(3):
        s = make_supplier()
        make_voucher(make_enterprise(), s, x.w.cycle, fee_fen=50_000_00, item=x.w.item2,
                     users={"city": x.w.city_user})
    db.session.commit()
    with count_queries() as more:
        cards = evaluation.scorecards(Y)
    assert len(cards) == 6
    assert more.count == few.count <= 10


# --------------------------------------------------------------------------- ratings


def _approved(w, **kw):
    v = make_voucher(w.enterprise, w.supplier, w.cycle, fee_fen=100_000_00, item=w.item,
                     users={"enterprise": w.ent_user, "city": w.city_user})
    return make_settlement(v, users={"enterprise": w.ent_user, "city": w.city_user}, **kw)


def test_the_enterprise_rates_its_supplier_once_after_approval(app, login):
    # rule: SUP-3
    w = make_world()
    st = _approved(w, stage="approved")
    db.session.commit()
    c = login(w.ent_user)
    url = f"/enterprise/settlements/{st.id}/rating"
    page = c.get(f"/enterprise/settlements/{st.id}").get_data(as_text=True)
    assert f'id="settlement-{st.id}-rating"' in page and "评价服务商" in page and 'name="stars"' in page

    r = c.post(url, data={"stars": "6", "comment": "很好"})
    assert r.status_code == 422 and "很好" in r.get_data(as_text=True)
    r = c.post(url, data={"stars": "4", "comment": "长" * 501})
    assert r.status_code == 422 and "长" * 501 in r.get_data(as_text=True) and "500" in r.get_data(as_text=True)
    r = c.post(url, data={"stars": "9"}, headers={"HX-Request": "true"})  # htmx: the box alone, 422
    assert r.status_code == 422 and "<html" not in r.get_data(as_text=True)
    assert f'id="settlement-{st.id}-rating"' in r.get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count(SupplierRating.id))).scalar_one() == 0

    r = c.post(url, data={"stars": "4", "comment": "实施认真"})
    assert r.status_code == 303
    rating = db.session.execute(db.select(SupplierRating)).scalar_one()
    assert (rating.stars, rating.comment, rating.supplier_id, rating.enterprise_id) == (4, "实施认真", w.supplier.id,
                                                                                        w.enterprise.id)
    ev = db.session.execute(db.select(AuditEvent).where(AuditEvent.action == "supplier_rating")).scalar_one()
    assert (ev.entity_type, ev.entity_id, ev.data["stars"]) == ("settlement", st.id, 4)
    page = c.get(f"/enterprise/settlements/{st.id}").get_data(as_text=True)
    assert f'id="settlement-{st.id}-rating-given"' in page and "4 星" in page and 'name="stars"' not in page

    assert c.post(url, data={"stars": "5"}).status_code == 409  # once
    assert db.session.execute(db.select(db.func.count(SupplierRating.id))).scalar_one() == 1


def test_no_rating_before_approval_nor_of_someone_elses_settlement(app, login):
    # rule: SUP-3
    w = make_world()
    st = _approved(w, stage="city_review")
    db.session.commit()
    c = login(w.ent_user)
    page = c.get(f"/enterprise/settlements/{st.id}").get_data(as_text=True)
    assert f'id="settlement-{st.id}-rating"' not in page
    assert c.post(f"/enterprise/settlements/{st.id}/rating", data={"stars": "5"}).status_code == 409

    other = make_user(Role.ENTERPRISE)  # another enterprise: not even visible
    done = _approved(w, stage="approved")
    db.session.commit()
    assert login(other).post(f"/enterprise/settlements/{done.id}/rating", data={"stars": "1"}).status_code == 404
    with pytest.raises(Refused):
        evaluation.rate(done, other, 1, "")
    assert db.session.execute(db.select(db.func.count(SupplierRating.id))).scalar_one() == 0


# --------------------------------------------------------------------------- awards


def test_the_province_awards_once_per_supplier_and_year(app, login):
    # rule: SUP-3
    x = build()
    sup_user = make_user(Role.SUPPLIER, supplier_id=x.a.id)
    db.session.commit()
    c = login(x.prov)
    url = f"/province/evaluation/{x.a.id}/award"
    r = c.post(url, data={"year": str(Y), "reason": "用量核验与评价均优"})  # not confirmed
    assert r.status_code == 422 and "用量核验与评价均优" in r.get_data(as_text=True)
    assert c.post(url, data={"year": str(Y), "reason": "", "confirm": "yes"}).status_code == 422
    r = c.post(url, data={"year": str(Y), "reason": "用量核验与评价均优", "confirm": "yes"})
    assert r.status_code == 303
    a = db.session.execute(db.select(SupplierAward)).scalar_one()
    assert (a.supplier_id, a.year, a.awarded_by) == (x.a.id, Y, x.prov.id)
    ev = db.session.execute(db.select(AuditEvent).where(AuditEvent.action == "award")).scalar_one()
    assert (ev.entity_type, ev.entity_id, ev.data["year"]) == ("supplier", x.a.id, Y)
    assert db.session.execute(db.select(Notice).where(Notice.user_id == sup_user.id,
                                                      Notice.title.contains("优秀供应商"))).scalar_one()
    r = c.post(url, data={"year": str(Y), "reason": "再次授予", "confirm": "yes"})
    assert r.status_code == 409 and "同一年度只授予一次" in r.get_data(as_text=True)
    assert c.post(url, data={"year": str(Y - 1), "reason": "上年度", "confirm": "yes"}).status_code == 303
    assert c.post(url, data={"year": str(Y + 5), "reason": "未来", "confirm": "yes"}).status_code == 422
    assert c.post("/province/evaluation/999999/award", data={"year": str(Y), "reason": "x", "confirm": "yes"}
                  ).status_code == 404
    assert db.session.execute(db.select(db.func.count(SupplierAward.id))).scalar_one() == 2
    with pytest.raises(FieldErrors):
        evaluation.award(x.draft, Y, x.prov, "未通过注册")
    page = c.get(f"/province/evaluation?year={Y}").get_data(as_text=True)
    award_cell = page.split(f'id="supplier-{x.a.id}-award"')[1].split("</td>")[0]
    assert "已授予" in award_cell and "用量核验与评价均优" in award_cell


# --------------------------------------------------------------------------- the province's table


def _order(html: str, ids) -> list[int]:
    pos = {i: html.find(f'id="supplier-{i}-score"') for i in ids}
    assert all(p >= 0 for p in pos.values()), pos
    return sorted(ids, key=lambda i: pos[i])


def test_the_province_table_sorts_on_the_server(app, login):
    # rule: SUP-3
    x = build()
    c = login(x.prov)
    ids = [x.a.id, x.b.id, x.c.id]
    html = c.get(f"/province/evaluation?year={Y}&sort=vouchers&dir=desc").get_data(as_text=True)
    assert _order(html, ids) == [x.a.id, x.b.id, x.c.id]
    assert 'aria-sort="descending"' in html
    html = c.get(f"/province/evaluation?year={Y}&sort=vouchers&dir=asc").get_data(as_text=True)
    assert _order(html, ids) == [x.c.id, x.b.id, x.a.id]
    # Blanks (no rating yet) last in either direction.
    html = c.get(f"/province/evaluation?year={Y}&sort=rating&dir=desc").get_data(as_text=True)
    assert _order(html, ids) == [x.b.id, x.a.id, x.c.id]
    html = c.get(f"/province/evaluation?year={Y}&sort=rating&dir=asc").get_data(as_text=True)
    assert _order(html, ids) == [x.a.id, x.b.id, x.c.id]
    html = c.get(f"/province/evaluation?year={Y}&sort=pass_rate&dir=desc").get_data(as_text=True)
    assert _order(html, ids) == [x.b.id, x.a.id, x.c.id]
    # A column not on the whitelist is the default order (by name), never an error.
    r = c.get(f"/province/evaluation?year={Y}&sort=password_hash&dir=sideways")
    assert r.status_code == 200
    names = {x.a.id: x.a.name, x.b.id: x.b.name, x.c.id: x.c.name}
    assert _order(r.get_data(as_text=True), ids) == sorted(ids, key=lambda i: (names[i], i))
    row = html.split(f'id="supplier-{x.a.id}-score"')[1].split("</tr>")[0]
    for text in ("33.3%", "1/3", "3.5 星", "75.0%", "¥400,000.00", "¥35,000.00"):
        assert text in row, text
    # htmx: the results block only.
    r = c.get(f"/province/evaluation?year={Y}&sort=face&dir=desc", headers={"HX-Request": "true"})
    assert "<html" not in r.get_data(as_text=True) and 'id="supplier-evaluation-results"' in r.get_data(as_text=True)


def test_the_province_table_is_paginated(app, login):
    # rule: SUP-3
    prov = make_user(Role.PROVINCE)
    made = [make_supplier() for _ in range(23)]
    db.session.commit()
    c = login(prov)
    first = c.get("/province/evaluation?sort=name").get_data(as_text=True)
    second = c.get("/province/evaluation?sort=name&page=2").get_data(as_text=True)
    on = lambda html: {s.id for s in made if f'id="supplier-{s.id}-score"' in html}  # noqa: E731
    assert len(on(first)) == 20 and len(on(second)) == 3 and not on(first) & on(second)


def test_the_xlsx_has_the_pages_figures(app, login):
    # rule: SUP-3
    from openpyxl import load_workbook

    x = build()
    r = login(x.prov).get(f"/province/evaluation.xlsx?year={Y}&sort=vouchers&dir=desc")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    ws = load_workbook(io.BytesIO(r.data)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == "供应商"
    assert rows[1][:6] == (x.a.name, 2, 3, 400000, 2, 33.3)
    assert rows[1][10] == 35000 and rows[1][11] == 3.5 and rows[1][12] == 75


def _count(client, url) -> int:
    db.session.commit()
    n = [0]

    def bump(*_a, **_k):
        n[0] += 1

    event.listen(db.engine, "before_cursor_execute", bump)
    try:
        r = client.get(url)
        assert r.status_code == 200, r.get_data(as_text=True)[-800:]
    finally:
        event.remove(db.engine, "before_cursor_execute", bump)
    return n[0]


def _more_suppliers(x, n=4):
    for i in range(n):
        s = make_supplier()
        v = make_voucher(make_enterprise(), s, x.w.cycle, fee_fen=50_000_00, item=x.w.item2,
                         users={"city": x.w.city_user})
        st = make_settlement(v, stage="approved", users={"city": x.w.city_user, "province": x.prov})
        evaluation.rate(st, _ent_user(v), 3, "")
        db.session.add(SupplierAward(supplier_id=s.id, year=Y, reason="好"))
        _check("supplier", s.id, "pass", today())
    db.session.commit()


def test_the_province_and_public_pages_do_not_query_per_supplier(app, login, client):
    # rule: SUP-3
    x = build()
    db.session.add(SupplierAward(supplier_id=x.a.id, year=Y, reason="优"))
    c = login(x.prov)
    urls = [f"/province/evaluation?year={Y}&sort=rating&dir=desc", "/suppliers", f"/suppliers/{x.a.id}"]
    few = {u: _count(client if u.startswith("/suppliers") else c, u) for u in urls}
    _more_suppliers(x)
    many = {u: _count(client if u.startswith("/suppliers") else c, u) for u in urls}
    assert many == few


# --------------------------------------------------------------------------- public pages


def test_the_public_supplier_page_shows_its_figures_and_awards(app, client):
    # rule: SUP-3
    x = build()
    db.session.add(SupplierAward(supplier_id=x.a.id, year=Y, reason="内部理由"))
    db.session.add(SupplierAward(supplier_id=x.a.id, year=Y - 1, reason="内部理由"))
    db.session.commit()
    html = client.get(f"/suppliers/{x.a.id}").get_data(as_text=True)

    def dd(part):
        return re.search(rf'id="supplier-{x.a.id}-{part}">(.*?)</dd>', html, re.S).group(1)

    assert dd("customers") == "2"
    assert "3 张" in dd("vouchers") and "¥400,000.00" in dd("vouchers")
    assert "2 笔" in dd("approved")
    assert "33.3%" in dd("pass-rate")
    assert "3.5 星" in dd("rating") and "2 条评价" in dd("rating")
    assert "75.0%" in dd("fee-share")
    assert "2 件" in dd("objections") and "1 件" in dd("complaints")
    assert "2 次" in dd("spot-checks") and "不合格 1 次" in dd("spot-checks")
    assert "2 笔" in dd("recoveries") and "¥35,000.00" in dd("recoveries")
    assert f"广东省工业互联网优秀供应商 {Y}" in html and f"广东省工业互联网优秀供应商 {Y - 1}" in html
    # Ratings as average and count only: no comment, no private data, no award reasoning.
    for private in ("实施拖延", "响应及时", x.a.uscc, x.a.contact_phone, "内部理由"):
        assert private not in html
    # The list links to it and shows the award.
    listing = client.get("/suppliers").get_data(as_text=True)
    assert f'href="/suppliers/{x.a.id}"' in listing and f'id="supplier-{x.a.id}-award-{Y}"' in listing
    # Last year's figures on request; unknown, unapproved and disqualified suppliers are not shown.
    old = client.get(f"/suppliers/{x.b.id}?year={Y - 1}").get_data(as_text=True)
    assert re.search(rf'id="supplier-{x.b.id}-vouchers">1 张', old)
    assert client.get(f"/suppliers/{x.draft.id}").status_code == 404
    assert client.get("/suppliers/999999").status_code == 404
    x.c.disqualified = True
    db.session.commit()
    assert client.get(f"/suppliers/{x.c.id}").status_code == 404
