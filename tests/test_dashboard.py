"""The province dashboard (CYC-5): scheme progress, per-city figures, SVG charts, xlsx, query count."""
from __future__ import annotations

import datetime as dt
import io
import itertools
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import event

from blueprints.core import dashboard
from blueprints.core.timeutil import now, today
from models import (
    AppStatus, Application, AuditEvent, Budget, RegStatus, Role, Setting, Voucher, VoucherStatus, db,
)
from tests.factories import make_cycle, make_enterprise, make_supplier, make_target

GZ, SZ, FS = "440100", "440300", "440600"
_codes = itertools.count(1)


@pytest.fixture
def province(login_as):
    return login_as(Role.PROVINCE)


def _application(enterprise, cycle, *, status=AppStatus.CITY_REVIEW, amount=100_000_00, due_on=None,
                 submitted=True, supplier=None) -> Application:
    a = Application(enterprise_id=enterprise.id, cycle_id=cycle.id, city_code=enterprise.city_code, status=status,
                    submitted_at=now() if submitted else None, item_amount_fen=amount, due_on=due_on,
                    supplier_id=supplier.id if supplier else None)
    db.session.add(a)
    db.session.flush()
    return a


def _voucher(application, supplier, face, status=VoucherStatus.ISSUED) -> Voucher:
    v = Voucher(code=f"V-TEST-{next(_codes):06d}", application_id=application.id,
                enterprise_id=application.enterprise_id, supplier_id=supplier.id, cycle_id=application.cycle_id,
                city_code=application.city_code, face_value_fen=face, status=status)
    db.session.add(v)
    db.session.flush()
    return v


def _city_world(city_code: str, cycle, supplier, *, n: int = 1):
    """For one city, n times: an approved enterprise with an issued voucher, one with a void voucher,
    one pending application (overdue), an overdue registration and one in time."""
    yesterday, tomorrow = today() - dt.timedelta(days=1), today() + dt.timedelta(days=1)
    for _ in range(n):
        e1 = make_enterprise(city_code=city_code)
        a1 = _application(e1, cycle, status=AppStatus.APPROVED, amount=200_000_00, supplier=supplier)
        _voucher(a1, supplier, 150_000_00)
        e2 = make_enterprise(city_code=city_code)
        a2 = _application(e2, cycle, status=AppStatus.APPROVED, amount=50_000_00, supplier=supplier)
        _voucher(a2, supplier, 50_000_00, status=VoucherStatus.VOID)
        _application(e2, cycle, status=AppStatus.CITY_REVIEW, amount=80_000_00, due_on=yesterday)
        _application(e1, cycle, status=AppStatus.DRAFT, amount=10_000_00, submitted=False)
        make_enterprise(city_code=city_code, status=RegStatus.CITY_REVIEW, due_on=yesterday)
        make_enterprise(city_code=city_code, status=RegStatus.CITY_REVIEW, due_on=tomorrow)
        make_enterprise(city_code=city_code, status=RegStatus.DRAFT)


def _world():
    cycle = make_cycle()
    platform = make_supplier(categories=["工业互联网平台", "工业SaaS"])
    make_supplier(categories=["工业SaaS"])
    make_supplier(status=RegStatus.CITY_REVIEW, city_code=SZ, due_on=today() - dt.timedelta(days=2))
    make_supplier(status=RegStatus.PROVINCE_REVIEW, due_on=today() - dt.timedelta(days=2),
                  categories=["工业互联网平台"])
    _city_world(GZ, cycle, platform)
    t = make_target(GZ, target_fen=1_000_000_00, quota_fen=1_500_000_00)
    t.issued_fen = 150_000_00
    db.session.add(Budget(city_code=GZ, period=f"{today().year}-1", kind="general", cap_fen=900_000_00,
                          committed_fen=100_000_00))
    db.session.add(Budget(city_code=GZ, period=f"{today().year}-1", kind="pilot", cap_fen=200_000_00))
    db.session.add(Budget(city_code=GZ, period=f"{today().year - 1}-1", kind="general", cap_fen=1))  # other year
    db.session.flush()
    return cycle, platform


def test_figures_per_city_from_aggregates(app):
    # rule: CYC-5
    _world()
    figs = dashboard.city_figures(today().year)
    assert len(figs.rows) == 21
    gz = next(r for r in figs.rows if r.code == GZ)
    assert (gz.reg_submitted, gz.reg_approved, gz.reg_in_review, gz.reg_overdue) == (4, 2, 2, 1)
    assert (gz.app_count, gz.app_fen, gz.app_overdue) == (3, 330_000_00, 1)
    assert (gz.issued_count, gz.issued_fen) == (1, 150_000_00)  # the void voucher does not count
    assert (gz.settled_count, gz.paid_count, gz.paid_fen) == (0, 0, 0)  # later issues
    assert (gz.target_amount_fen, gz.quota_fen, gz.quota_used_fen) == (1_000_000_00, 1_500_000_00, 150_000_00)
    assert (gz.budget_fen, gz.budget_used_fen, gz.pilot_fen) == (900_000_00, 100_000_00, 200_000_00)
    assert gz.quota_percent == 10.0
    sz = next(r for r in figs.rows if r.code == SZ)
    assert (sz.reg_submitted, sz.reg_in_review, sz.reg_overdue, sz.app_count) == (0, 0, 1, 0)  # a supplier
    assert figs.province_overdue == 1
    assert figs.total.reg_overdue == 2 and figs.total.issued_fen == 150_000_00
    # Another year has none of this year's vouchers or budgets.
    other = dashboard.city_figures(today().year - 1)
    assert other.total.issued_count == 0 and other.total.budget_fen == 1
    # A city's own figures
    own = dashboard.city_figures(today().year, city_code=SZ)
    assert [r.code for r in own.rows] == [SZ] and own.total.app_count == 0


def test_settled_and_paid_follow_voucher_statuses(app, monkeypatch):
    # rule: CYC-5
    cycle, platform = _world()
    e = make_enterprise(city_code=FS)
    _voucher(_application(e, cycle, status=AppStatus.APPROVED, supplier=platform), platform, 70_000_00,
             status="paid")
    figs = dashboard.city_figures(today().year)
    fs = next(r for r in figs.rows if r.code == FS)
    assert (fs.issued_count, fs.settled_count, fs.settled_fen) == (1, 1, 70_000_00)
    assert (fs.paid_count, fs.paid_fen) == (1, 70_000_00)


def test_scheme_progress_and_editable_targets(province):
    # rule: CYC-5
    c, user = province
    _world()
    db.session.commit()
    progress = {p.key: p for p in dashboard.scheme_progress()}
    assert progress["scheme.target_enterprises"].actual == 1  # one enterprise holds a valid voucher
    assert progress["scheme.target_enterprises"].target == 10_000
    assert (progress["scheme.target_suppliers"].actual, progress["scheme.target_suppliers"].target) == (2, 200)
    assert (progress["scheme.target_platforms"].actual, progress["scheme.target_platforms"].target) == (1, 20)
    r = c.post("/province/dashboard/targets", data={"enterprises": "12000", "suppliers": "0", "platforms": "25",
                                                     "reason": "省政府调整目标"})
    assert r.status_code == 422 and "目标数须为正整数" in r.get_data(as_text=True)
    r = c.post("/province/dashboard/targets", data={"enterprises": "12000", "suppliers": "200", "platforms": "25",
                                                     "reason": ""})
    assert r.status_code == 422 and "请填写调整理由" in r.get_data(as_text=True)
    r = c.post("/province/dashboard/targets", data={"enterprises": "12000", "suppliers": "200", "platforms": "25",
                                                     "reason": "省政府调整目标"})
    assert r.status_code == 303
    assert db.session.get(Setting, "scheme.target_enterprises").value == "12000"
    assert db.session.get(Setting, "scheme.target_suppliers") is None  # unchanged stays default
    ev = db.session.execute(db.select(AuditEvent).where(AuditEvent.entity_type == "setting")).scalar_one()
    assert ev.reason == "省政府调整目标" and ev.data["changed"] == {
        "scheme.target_enterprises": [10000, 12000], "scheme.target_platforms": [20, 25]}
    body = c.get("/province/dashboard").get_data(as_text=True)
    assert "/ 目标 12,000" in body and "/ 目标 25" in body  # each figure says what it is
    home = c.get("/province/").get_data(as_text=True)
    assert 'id="panel-dashboard"' in home and "12,000" in home


def test_dashboard_page_table_and_svg_charts(province):
    # rule: CYC-5
    c, _ = province
    _world()
    db.session.commit()
    r = c.get("/province/dashboard")
    body = r.get_data(as_text=True)
    assert r.status_code == 200
    assert body.count("<svg class=\"chart-svg\"") == 3
    assert 'id="chart-progress"' in body and 'id="chart-quota"' in body and 'id="chart-vouchers"' in body
    assert " style=" not in body and "<script>" not in body  # CSP: no inline styles or scripts
    assert re.search(r'<rect x="[\d.]+" y="\d+" width="[\d.]+" height="18" rx="3" class="chart-done">', body)
    row = body[body.index('id="figures-440100"'):body.index('id="figures-440200"')]
    assert "4 / 2 / 2" in row and "3 件 <small>33.00万</small>" in row and "1 张 <small>15.00万</small>" in row
    assert "15.00万 / 150.00万 <small>10.0%</small>" in row and "注册 1 · 申领 1" in row
    assert 'id="figures-total"' in body and "省级供应商复核 1 件" in body
    # htmx year switch answers only the results block
    r = c.get(f"/province/dashboard?year={today().year - 1}", headers={"HX-Request": "true"})
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in body and 'id="dashboard-results"' in body
    assert "1 张 <small>15.00万</small>" not in body


def test_dashboard_xlsx(province):
    # rule: CYC-5
    c, _ = province
    _world()
    db.session.commit()
    r = c.get(f"/province/dashboard.xlsx?year={today().year}")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    wb = load_workbook(io.BytesIO(r.data))
    ws = wb.worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    header = rows[0]
    gz = next(row for row in rows if row[0] == "广州市")
    assert gz[header.index("发放（张）")] == 1
    assert gz[header.index("发放金额（元）")] == 150000
    assert gz[header.index("申领金额（元）")] == 330000
    assert gz[header.index("发放额度（元）")] == 1500000
    assert rows[22][0] == "合计"
    assert [row[0] for row in wb["目标进度"].iter_rows(values_only=True)][1:] == ["上云企业", "供应商", "工业互联网平台"]


def _count_queries(fn) -> int:
    counter = {"n": 0}

    def before(conn, cursor, statement, parameters, context, executemany):
        counter["n"] += 1

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
    return counter["n"]


def test_query_count_does_not_grow_with_cities_or_rows(province):
    # rule: CYC-5
    c, _ = province
    cycle, platform = _world()
    db.session.commit()
    small = _count_queries(lambda: c.get("/province/dashboard"))
    small_xlsx = _count_queries(lambda: c.get("/province/dashboard.xlsx"))
    for code in (SZ, FS, "440400", "441900", "442000"):
        _city_world(code, cycle, platform, n=3)
        make_target(code)
        db.session.add(Budget(city_code=code, period=f"{today().year}-2", kind="general", cap_fen=10))
    _city_world(GZ, cycle, platform, n=5)
    db.session.commit()
    big = _count_queries(lambda: c.get("/province/dashboard"))
    big_xlsx = _count_queries(lambda: c.get("/province/dashboard.xlsx"))
    assert big == small and big_xlsx == small_xlsx
    # A view after a change recomputes the figures and stores them for every worker (claim and
    # store: core/snapshots.py); a second view reads the stored figures in a few queries.
    assert small <= 31, small  # 31: the REL-2 netting query (payout.paid_net_of_recoveries) joined the figures
    assert _count_queries(lambda: c.get("/province/dashboard")) <= 10
    # The figures themselves are a handful of aggregate queries.
    assert _count_queries(lambda: dashboard.city_figures(today().year)) <= 8


def test_only_the_province_sees_the_dashboard(login_as):
    # rule: CYC-5, ROLE-8
    for role in (Role.CITY, Role.ENTERPRISE, Role.SUPPLIER, Role.EXPERT):
        c, _ = login_as(role)
        assert c.get("/province/dashboard").status_code == 403
        assert c.get("/province/dashboard.xlsx").status_code == 403
