"""Pages stay fast as data grows: the same number of queries with 5 or 60 records, the
rows a user expects on the page, and province-wide figures served from a shared snapshot.

Each list, queue and dashboard page of each role is viewed at two data sizes; the number of SQL
statements must be equal (no query per row, no N+1 through a lazy load in a row template). The
dashboard figures (blueprints/core/snapshots.py) show their "as of" time, are not recomputed on a
second view, and are fresh after a change they show or once they are older than a minute.
"""
from __future__ import annotations

import datetime as dt
import itertools
import re
from types import SimpleNamespace

import pytest
import time_machine

from blueprints.core.timeutil import local, now, today
from models import (
    AppStatus, Application, Enterprise, FigureSnapshot, Notice, RegStatus, Role, Voucher, VoucherStatus, db,
)
from tests.factories import make_catalog, make_cycle, make_enterprise, make_supplier, make_target, make_user

GZ, SZ = "440100", "440300"
_codes = itertools.count(1)


@pytest.fixture
def world(app):
    """A published catalog, an open cycle, Guangzhou's quota, one supplier and one enterprise with users."""
    from cli import seed_cities

    seed_cities()
    catalog = make_catalog()
    cycle = make_cycle()
    make_target(GZ)
    supplier = make_supplier()
    enterprise = make_enterprise(city_code=GZ)
    db.session.commit()
    return SimpleNamespace(cycle=cycle, item=catalog.items[0], supplier=supplier, enterprise=enterprise)


def _applications(w, n: int, *, status=AppStatus.CITY_REVIEW, enterprise=None, supplier=None, voucher=False,
                  city=GZ, confirmed=True) -> list[Application]:
    """n applications (each of its own enterprise unless one is given), optionally with their vouchers."""
    out = []
    for i in range(n):
        e = enterprise or make_enterprise(city_code=city)
        s = supplier or (make_supplier() if voucher else w.supplier)  # distinct rows catch a lazy load per row
        submitted = now() - dt.timedelta(minutes=n - i)
        a = Application(enterprise_id=e.id, supplier_id=s.id, cycle_id=w.cycle.id, city_code=e.city_code,
                        catalog_version_id=w.item.version_id, catalog_item_id=w.item.id,
                        contract_no=f"HT-{next(_codes):05d}", contract_fee_fen=100_000_00, status=status,
                        submitted_at=None if status == AppStatus.DRAFT else submitted, item_amount_fen=50_000_00,
                        confirmed_at=submitted if confirmed and status != AppStatus.SUPPLIER_REVIEW else None,
                        due_on=today() + dt.timedelta(days=i % 7) if status == AppStatus.CITY_REVIEW else None,
                        return_reasons=[])
        db.session.add(a)
        db.session.flush()
        if voucher:
            db.session.add(Voucher(code=f"GDTEST{next(_codes):022d}", application_id=a.id, enterprise_id=e.id,
                                   supplier_id=s.id, cycle_id=w.cycle.id, city_code=e.city_code,
                                   face_value_fen=50_000_00, status=VoucherStatus.ISSUED, issued_at=submitted))
        out.append(a)
    db.session.commit()
    return out


def _vouchers(w, n, **kw):
    return _applications(w, n, status=AppStatus.APPROVED, voucher=True, **kw)


def _registrations(w, n):
    for _ in range(n):
        make_enterprise(city_code=GZ, status=RegStatus.CITY_REVIEW, due_on=today() + dt.timedelta(days=3))
    db.session.commit()


def _approved_enterprises(w, n):
    for _ in range(n):
        make_enterprise(city_code=GZ, decided_at=now())
    db.session.commit()


def _notices(user):
    def add(w, n):
        for i in range(n):
            db.session.add(Notice(user_id=user.id, title=f"通知{next(_codes)}", read_at=None if i % 2 else now()))
        db.session.commit()
    return add


def _mixed(w, n):
    """Records of every kind the dashboards and home pages count."""
    _vouchers(w, n)
    _applications(w, n, status=AppStatus.CITY_REVIEW)
    _registrations(w, n)


def _row_ids(body: str, kind: str) -> int:
    return len(re.findall(rf'id="{kind}-\d+-row"', body))


# (role, user scope, url, add(world, n), rows a page shows: (DOM id kind, rows per page) or a marker)
PAGES = {
    "city vouchers": (Role.CITY, {"city_code": GZ}, "/city/vouchers", _vouchers, ("voucher", 20)),
    "city queue": (Role.CITY, {"city_code": GZ}, "/city/applications", _applications, ("application", 20)),
    "city queue all": (Role.CITY, {"city_code": GZ}, "/city/applications?status=",
                       lambda w, n: (_applications(w, n), _vouchers(w, n)), ("application", 20)),
    "city registrations": (Role.CITY, {"city_code": GZ}, "/city/registrations", _registrations, ("enterprise", 20)),
    "city registrations all": (Role.CITY, {"city_code": GZ}, "/city/registrations?kind=enterprise&status=all",
                               _registrations, ("enterprise", 20)),
    "city figures": (Role.CITY, {"city_code": GZ}, "/city/figures", _mixed, 'id="city-figures-as-of"'),
    "city home": (Role.CITY, {"city_code": GZ}, "/city/", _mixed, 'id="panel-city-figures-as-of"'),
    "supplier queue": (Role.SUPPLIER, "supplier", "/supplier/applications",
                       lambda w, n: _applications(w, n, status=AppStatus.SUPPLIER_REVIEW), ("application", 20)),
    "supplier customers": (Role.SUPPLIER, "supplier", "/supplier/customers",
                           lambda w, n: _vouchers(w, n, supplier=w.supplier), ("customer", 20)),
    "supplier home": (Role.SUPPLIER, "supplier", "/supplier/",
                      lambda w, n: _applications(w, n, status=AppStatus.SUPPLIER_REVIEW), 'id="panel-applications"'),
    "enterprise applications": (Role.ENTERPRISE, "enterprise", "/enterprise/applications",
                                lambda w, n: _vouchers(w, n, enterprise=w.enterprise), ("application", 20)),
    "enterprise vouchers": (Role.ENTERPRISE, "enterprise", "/enterprise/vouchers",
                            lambda w, n: _vouchers(w, n, enterprise=w.enterprise), ("voucher", 20)),
    "enterprise home": (Role.ENTERPRISE, "enterprise", "/enterprise/",
                        lambda w, n: _vouchers(w, n, enterprise=w.enterprise), 'id="panel-applications"'),
    "province dashboard": (Role.PROVINCE, {}, "/province/dashboard", _mixed, 'id="dashboard-as-of"'),
    "province directory": (Role.PROVINCE, {}, "/province/directory", _approved_enterprises, ("enterprise", 20)),
    "province applications": (Role.PROVINCE, {}, "/province/applications", _mixed, ("application", 30)),
    "province vouchers": (Role.PROVINCE, {}, "/province/vouchers", _vouchers, ("voucher", 30)),
    "province supplier review": (Role.PROVINCE, {}, "/province/registrations",
                                 lambda w, n: [make_supplier(status=RegStatus.PROVINCE_REVIEW) for _ in range(n)]
                                 and db.session.commit(), ("supplier", 20)),
    "province home": (Role.PROVINCE, {}, "/province/", _mixed, 'id="panel-dashboard-as-of"'),
    "expert home": (Role.EXPERT, {}, "/expert/",
                    lambda w, n: [make_supplier(status=RegStatus.PROVINCE_REVIEW) for _ in range(n)]
                    and db.session.commit(), 'id="panel-expert-reviews"'),
    "notices": (Role.CITY, {"city_code": GZ}, "/notices", None, ("notice", 20)),
}


def _login(login, w, role, scope):
    if scope == "supplier":
        scope = {"supplier_id": w.supplier.id}
    elif scope == "enterprise":
        scope = {"enterprise_id": w.enterprise.id}
    user = make_user(role, **scope)
    db.session.commit()
    return login(user), user


@pytest.mark.parametrize("name", list(PAGES))
def test_queries_per_page_do_not_grow_with_the_data(world, login, count_queries, name):
    role, scope, url, add, expect = PAGES[name]
    c, user = _login(login, world, role, scope)
    add = add or _notices(user)
    assert c.get(url).status_code == 200  # warm: first-view work (e.g. creating a snapshot row) is not counted
    counts, bodies = [], []
    for n in (5, 55):  # 5, then 60 records
        add(world, n)
        with count_queries() as q:
            r = c.get(url)
        assert r.status_code == 200, name
        counts.append(q.count)
        bodies.append(r.get_data(as_text=True))
    assert counts[0] == counts[1], (name, counts)
    if isinstance(expect, tuple):
        kind, per_page = expect
        row_id = r'id="notice-\d+"' if kind == "notice" else rf'id="{kind}-\d+-row"'
        ids = [len(re.findall(row_id, b)) for b in bodies]
        # The records themselves (5, or a few more where the page also lists the world's own), one page of them.
        assert ids[0] >= 5 and ids[1] == per_page, (name, ids)
    else:
        assert all(expect in b for b in bodies), name


def test_a_long_list_counts_up_to_a_limit_and_says_so(world, login, monkeypatch):
    # The count of a long list stops at a cap ("1,000+"): a page view never counts every row.
    from blueprints.core import paging

    monkeypatch.setattr(paging, "COUNT_CAP", 30)
    c, _ = _login(login, world, Role.CITY, {"city_code": GZ})
    _vouchers(world, 45)
    body = c.get("/city/vouchers").get_data(as_text=True)
    assert "共 30+ 条" in body and "第 1 / 2+ 页" in body and "下一页" in body
    # The last page is still reachable and knows it is the last.
    body = c.get("/city/vouchers?page=3").get_data(as_text=True)
    assert _row_ids(body, "voucher") == 5 and "下一页" not in body and "上一页" in body
    monkeypatch.setattr(paging, "COUNT_CAP", 1000)
    approved = db.session.execute(db.select(db.func.count()).where(Enterprise.status == RegStatus.APPROVED)).scalar()
    c2, _ = _login(login, world, Role.PROVINCE, {})
    assert f"共 {approved} 条" in c2.get("/province/directory").get_data(as_text=True)  # below the cap: exact


# --------------------------------------------------------------------------- the shared figure snapshot


def test_dashboard_is_served_from_the_snapshot_and_says_as_of_when(world, login, count_queries):
    # rule: CYC-5
    c, _ = _login(login, world, Role.PROVINCE, {})
    _vouchers(world, 3)
    at = now().replace(microsecond=0)
    shown = f">{local(at):%H:%M:%S}</time>"  # local time (Asia/Shanghai)
    with time_machine.travel(at, tick=False):
        with count_queries() as first:
            body = c.get("/province/dashboard").get_data(as_text=True)
        assert "数据截至 <time" in body and shown in body
        assert "3 张" in body
        with count_queries() as second:
            body = c.get("/province/dashboard").get_data(as_text=True)
    # The second view reads the stored figures: no aggregate over vouchers or applications.
    assert second.count < first.count
    assert not any("sum(" in s.lower() or "group by" in s.lower() for s in second.statements)
    assert "3 张" in body and shown in body
    snap = db.session.get(FigureSnapshot, ("city_figures", f"{today().year}:all"))
    assert snap is not None and snap.refreshing_since is None and snap.payload["total"]["issued_count"] == 3


def test_dashboard_is_fresh_after_a_change_it_shows(world, login):
    # rule: CYC-5
    c, _ = _login(login, world, Role.PROVINCE, {})
    _vouchers(world, 2)
    assert "2 张" in c.get("/province/dashboard").get_data(as_text=True)
    _vouchers(world, 1)  # a new voucher: the change mark moves, the next view recomputes
    body = c.get("/province/dashboard").get_data(as_text=True)
    assert "3 张" in body and "2 张" not in body
    home = c.get("/province/").get_data(as_text=True)
    assert 'id="panel-applications-as-of"' in home and "<strong class=\"stat\">3</strong> 张" in home


def test_a_change_the_mark_cannot_see_shows_after_a_minute(world, login):
    # rule: CYC-5
    c, _ = _login(login, world, Role.PROVINCE, {})
    v = _vouchers(world, 2)[0]
    start = now()
    with time_machine.travel(start, tick=False):
        assert "2 张" in c.get("/province/dashboard").get_data(as_text=True)
        voucher = db.session.execute(db.select(Voucher).where(Voucher.application_id == v.id)).scalar_one()
        voucher.status = VoucherStatus.VOID  # changed without an audit row or a new id
        db.session.commit()
    with time_machine.travel(start + dt.timedelta(seconds=30), tick=False):
        assert "2 张" in c.get("/province/dashboard").get_data(as_text=True)  # still the stored figures
    with time_machine.travel(start + dt.timedelta(seconds=61), tick=False):
        body = c.get("/province/dashboard").get_data(as_text=True)
    assert "1 张" in body and "2 张" not in body


def test_while_one_worker_recomputes_the_others_serve_the_previous_figures(world, login):
    # rule: CYC-5
    from blueprints.core import snapshots

    c, _ = _login(login, world, Role.PROVINCE, {})
    _vouchers(world, 2)
    start = now()
    with time_machine.travel(start, tick=False):
        assert "2 张" in c.get("/province/dashboard").get_data(as_text=True)
    _vouchers(world, 1)
    # Another worker has claimed the refresh (and not finished): this one keeps the previous figures.
    db.session.execute(db.update(FigureSnapshot).values(refreshing_since=start + dt.timedelta(seconds=5)))
    db.session.commit()
    with time_machine.travel(start + dt.timedelta(seconds=10), tick=False):
        assert "2 张" in c.get("/province/dashboard").get_data(as_text=True)
    # A claim older than the refresh timeout belongs to a worker that died: it is taken over.
    later = start + dt.timedelta(seconds=5) + snapshots.REFRESH_TIMEOUT + dt.timedelta(seconds=1)
    with time_machine.travel(later, tick=False):
        assert "3 张" in c.get("/province/dashboard").get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count()).select_from(FigureSnapshot)
                              .where(FigureSnapshot.refreshing_since.is_not(None))).scalar_one() == 0


def test_a_city_sees_its_own_figures_fresh_after_a_target_change(world, login):
    # rule: CYC-3, CYC-5
    from blueprints.core import cycles

    c, _ = _login(login, world, Role.CITY, {"city_code": GZ})
    assert 'id="city-figures-as-of"' in c.get("/city/figures").get_data(as_text=True)
    admin = make_user(Role.PROVINCE)
    cycles.set_target(GZ, today().year, admin, target_enterprises=321, target_amount_fen=1_234_000_000,
                      quota_fen=1_851_000_000, reason="广州年度目标")  # audited: the change mark moves
    db.session.commit()
    assert "1,851.00万" in c.get("/city/figures").get_data(as_text=True)
    assert "1,851.00万" in c.get("/city/").get_data(as_text=True)


def test_searching_a_list_still_finds_by_enterprise_and_supplier_name(world, login):
    # The join to enterprise/supplier is made only for a search: it must still find them.
    c, _ = _login(login, world, Role.CITY, {"city_code": GZ})
    a = _vouchers(world, 3)[1]
    _applications(world, 3)
    name = a.enterprise.name
    body = c.get("/city/vouchers", query_string={"q": name}).get_data(as_text=True)
    assert _row_ids(body, "voucher") == 1 and name in body
    supplier_name = db.session.execute(
        db.select(Voucher).where(Voucher.application_id == a.id)).scalar_one().supplier.name
    assert _row_ids(c.get("/city/vouchers", query_string={"q": supplier_name}).get_data(as_text=True), "voucher") == 1
    queued = _applications(world, 1)[0]
    body = c.get("/city/applications", query_string={"q": queued.enterprise.name}).get_data(as_text=True)
    assert _row_ids(body, "application") == 1
    s, _ = _login(login, world, Role.SUPPLIER, "supplier")
    body = s.get("/supplier/applications", query_string={"q": queued.enterprise.name}).get_data(as_text=True)
    assert _row_ids(body, "application") == 1


def test_a_login_does_not_make_the_figures_stale(world, login, count_queries):
    """Logins write the audit trail but change no figure: the next view still reads the snapshot."""
    from blueprints.core import audit

    c, user = _login(login, world, Role.PROVINCE, {})
    _vouchers(world, 2)
    at = now()
    with time_machine.travel(at, tick=False):
        c.get("/province/dashboard")
        audit.record("user", user.id, "login", actor=user)
        db.session.commit()
        with count_queries() as q:
            body = c.get("/province/dashboard").get_data(as_text=True)
    assert "2 张" in body
    assert not any("group by" in s.lower() for s in q.statements)
