"""Reviewer queues (SLA-1, SLA-5, ROLE-3, ROLE-8): days left, overdue first, search, filters and
pagination in the URL, bulk approve with a per-item result, no query per row; the province
directory with its xlsx export; the public supplier list; home-page panels."""
from __future__ import annotations

import datetime as dt
import io
import json
import re

import time_machine
from openpyxl import load_workbook

from blueprints.core import registration, timeutil
from models import ProfileChange, RegStatus, Role, db
from tests.factories import make_enterprise, make_submitted, make_supplier, make_user

HX = {"HX-Request": "true"}


def at(y, m, d):
    """10:00 in Guangzhou on that day."""
    return time_machine.travel(dt.datetime(y, m, d, 2, 0, tzinfo=dt.timezone.utc), tick=False)


def pending(city="440100", due=None, **kw):
    """An enterprise waiting for its city, with a chosen deadline."""
    e = make_enterprise(status=RegStatus.CITY_REVIEW, city_code=city, **kw)
    e.due_on = due
    return e


def row_order(html: str, prefix: str = "enterprise") -> list[int]:
    return [int(x) for x in re.findall(rf'id="{prefix}-(\d+)-row"', html)]


def test_queue_shows_working_days_left_and_overdue_first(login):
    # rule: SLA-5, SLA-1, REG-7
    with at(2026, 10, 12):
        late = pending(due=dt.date(2026, 10, 9), name="超期企业有限公司")        # due Friday, today Monday
        soon = pending(due=dt.date(2026, 10, 13), name="明天到期企业有限公司")
        today_ = pending(due=dt.date(2026, 10, 12), name="今日到期企业有限公司")
        later = pending(due=dt.date(2026, 10, 16), name="宽裕企业有限公司")
        officer = make_user(Role.CITY, city_code="440100")
        db.session.commit()
        html = login(officer).get("/city/registrations").get_data(as_text=True)
    assert row_order(html) == [late.id, today_.id, soon.id, later.id]
    # 10-09 (Fri) -> 10-12 (Mon): Saturday 10-10 is a make-up working day, so two working days late.
    assert "超期 2 个工作日" in html
    assert "今日到期" in html and "剩 1 个工作日" in html and "剩 4 个工作日" in html
    assert 'class="reg-overdue"' in html


def test_days_left_for_many_matches_the_single_count(app):
    # rule: SLA-1, SLA-4
    on = dt.date(2026, 9, 30)
    dues = [on + dt.timedelta(days=i) for i in range(-20, 25)]
    many = registration.days_left_many(dues, on=on)
    assert all(many[d] == timeutil.working_days_left(d, on=on) for d in dues)
    assert many[dt.date(2026, 10, 13)] == 5  # 10-08, 10-09, 10-10 (make-up Saturday), 10-12, 10-13


def test_search_filters_and_pagination_live_in_the_url(login):
    # rule: SLA-5, ROLE-3
    target = pending(due=dt.date(2026, 12, 1), name="佛山顺和陶瓷科技有限公司")
    for i in range(23):
        pending(due=dt.date(2026, 12, 2), name=f"批量企业{i:02d}有限公司")
    approved = make_enterprise(status=RegStatus.APPROVED, name="已通过的企业有限公司")
    officer = make_user(Role.CITY, city_code="440100")
    db.session.commit()
    c = login(officer)
    html = c.get("/city/registrations?q=顺和").get_data(as_text=True)
    assert row_order(html) == [target.id]
    html = c.get(f"/city/registrations?q={target.uscc[-8:].lower()}").get_data(as_text=True)
    assert row_order(html) == [target.id]
    assert approved.name not in c.get("/city/registrations").get_data(as_text=True)
    html = c.get("/city/registrations?status=approved").get_data(as_text=True)
    assert row_order(html) == [approved.id]
    page1 = c.get("/city/registrations?q=批量").get_data(as_text=True)
    assert len(row_order(page1)) == 20 and "第 1 / 2 页" in page1
    assert "/city/registrations?kind=enterprise&amp;q=%E6%89%B9%E9%87%8F&amp;status=pending&amp;page=2" in page1
    page2 = c.get("/city/registrations?q=批量&page=2").get_data(as_text=True)
    assert len(row_order(page2)) == 3
    # htmx: only the results block comes back; the URL is pushed by the form.
    r = c.get("/city/registrations?q=顺和", headers=HX)
    body = r.get_data(as_text=True)
    assert "<html" not in body and 'id="reg-results"' in body and row_order(body) == [target.id]
    assert "HX-Request" in r.headers["Vary"]
    full = c.get("/city/registrations").get_data(as_text=True)
    assert 'hx-push-url="true"' in full and 'hx-target="#reg-results"' in full
    # A nonsense filter falls back to the defaults instead of failing.
    assert c.get("/city/registrations?status=bogus&kind=bogus&page=x").status_code == 200


def test_overdue_filter(login):
    # rule: SLA-5
    with at(2026, 11, 20):
        late = pending(due=dt.date(2026, 11, 18))
        pending(due=dt.date(2026, 11, 25))
        officer = make_user(Role.CITY, city_code="440100")
        db.session.commit()
        html = login(officer).get("/city/registrations?overdue=1").get_data(as_text=True)
    assert row_order(html) == [late.id]


def test_bulk_approve_reports_each_item(login):
    # rule: REG-3, ROLE-8, SLA-5
    a = pending(due=dt.date(2026, 12, 1), name="甲企业有限公司")
    b = pending(due=dt.date(2026, 12, 1), name="乙企业有限公司")
    done = make_enterprise(status=RegStatus.REJECTED, name="已驳回企业有限公司")
    foreign = pending(city="440300", due=dt.date(2026, 12, 1), name="深圳企业有限公司")
    officer = make_user(Role.CITY, city_code="440100")
    db.session.commit()
    c = login(officer)
    html = c.get("/city/registrations").get_data(as_text=True)
    assert 'name="ids"' in html and 'data-select-all="ids"' in html and 'id="bulk-form"' in html
    ids = [str(a.id), str(b.id), str(done.id), str(foreign.id), "abc"]
    r = c.post("/city/registrations/bulk/approve", data={"kind": "enterprise", "ids": ids}, headers=HX)
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in body and 'id="bulk-results"' in body
    assert f'id="bulk-{a.id}"' in body and "✓ 甲企业有限公司：已通过" in body and "✓ 乙企业有限公司：已通过" in body
    assert "✗ 已驳回企业有限公司：当前状态下不能执行该操作" in body
    assert f'id="bulk-{foreign.id}">✗ 所选记录：已不存在或无权处理' in body
    assert 'id="bulk-abc">✗ 所选记录：已不存在或无权处理' in body
    assert f"#{foreign.id}" not in body and "#abc" not in body  # never a row number
    toasts = [t["message"] for t in json.loads(r.headers["HX-Trigger"])["toast"]]
    assert toasts[0] == "批量通过：成功 2 项，未通过 3 项" and len(toasts) == 4
    db.session.expire_all()
    assert (a.status, b.status, done.status, foreign.status) == (
        RegStatus.APPROVED, RegStatus.APPROVED, RegStatus.REJECTED, RegStatus.CITY_REVIEW)
    # Nothing ticked: said so, not silently ignored.
    r = c.post("/city/registrations/bulk/approve", data={"kind": "enterprise"}, headers=HX)
    assert "请先勾选" in json.dumps(json.loads(r.headers["HX-Trigger"]), ensure_ascii=False)


def test_province_bulk_approve_needs_expert_scores_item_by_item(login):
    # rule: REG-4
    s1, _ = make_submitted("supplier", in_province=False, city_code=None)
    s2, _ = make_submitted("supplier", in_province=False, city_code=None)
    expert = make_user(Role.EXPERT)
    province = make_user(Role.PROVINCE)
    db.session.commit()
    registration.record_expert_review(s1, expert, 80, "合格")
    db.session.commit()
    r = login(province).post("/province/registrations/bulk/approve",
                             data={"kind": "supplier", "ids": [str(s1.id), str(s2.id)]})
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" in body  # without htmx: the whole page with the result list
    assert f"✓ {s1.name}：已通过" in body and f"✗ {s2.name}：“{s2.name}”尚无专家评分" in body
    db.session.expire_all()
    assert s1.status == RegStatus.APPROVED and s2.status == RegStatus.PROVINCE_REVIEW


def test_queue_queries_do_not_grow_with_rows(login, count_queries):
    # rule: SLA-5 (R: no query per row)
    officer = make_user(Role.CITY, city_code="440100")
    province = make_user(Role.PROVINCE)
    db.session.commit()
    c, p = login(officer), login(province)

    def measure():
        with count_queries() as q1:
            c.get("/city/registrations")
        with count_queries() as q2:
            c.get("/city/registrations?kind=change&status=all")
        with count_queries() as q3:
            p.get("/province/directory?kind=supplier")
        with count_queries() as q4:
            c.get("/suppliers")
        return q1.count, q2.count, q3.count, q4.count

    def add(n):
        for i in range(n):
            pending(due=dt.date(2026, 12, 1) + dt.timedelta(days=i))
            make_supplier(status=RegStatus.APPROVED, related_parties=[])
            owner = make_enterprise()
            db.session.add(ProfileChange(enterprise_id=owner.id, city_code="440100", status=RegStatus.CITY_REVIEW,
                                         submitted_at=timeutil.now(), due_on=dt.date(2026, 12, 3),
                                         proposed={"name": f"新名称{i}", "revenue_fen": 1}, previous={}))
        db.session.commit()

    add(2)
    small = measure()
    add(12)
    big = measure()
    assert big == small, (small, big)
    html = c.get("/city/registrations?kind=change&status=all").get_data(as_text=True)
    assert len(row_order(html, "change")) == 14 and "变更：名称、上年度主营业务收入" in html


def test_province_queue_and_directory_by_city(login):
    # rule: ROLE-4, REG-4
    gz, _ = make_submitted("supplier", city_code="440100")
    sz, _ = make_submitted("supplier", city_code="440300")
    for s in (gz, sz):
        s.status = RegStatus.PROVINCE_REVIEW
    province = make_user(Role.PROVINCE)
    db.session.commit()
    p = login(province)
    html = p.get("/province/registrations").get_data(as_text=True)
    assert row_order(html, "supplier") == [gz.id, sz.id] or row_order(html, "supplier") == [sz.id, gz.id]
    html = p.get("/province/registrations?city=440300").get_data(as_text=True)
    assert row_order(html, "supplier") == [sz.id]


def test_directory_lists_registered_and_exports_xlsx(login):
    # rule: ROLE-4, REG-1, REG-2, AMT-5
    e1 = make_enterprise(name="=HYPERLINK(\"http://evil\")有限公司", revenue_fen=1_234_567_891, decided_at=timeutil.now())
    e2 = make_enterprise(city_code="440300", name="深圳登记企业有限公司", decided_at=timeutil.now())
    draft = make_enterprise(status=RegStatus.CITY_REVIEW, name="审核中企业有限公司")
    s = make_supplier(name="登记供应商有限公司", categories=["工业SaaS", "工业App"], endpoints=["203.0.113.0/24"])
    province = make_user(Role.PROVINCE)
    db.session.commit()
    p = login(province)
    html = p.get("/province/directory").get_data(as_text=True)
    assert e2.name in html and draft.name not in html and "¥12,345,678.91" in html
    html = p.get("/province/directory?city=440300").get_data(as_text=True)
    assert e2.name in html and "HYPERLINK" not in html
    r = p.get("/province/directory/export")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    ws = load_workbook(io.BytesIO(r.data)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:3] == ("企业名称", "统一社会信用代码", "注册地")
    by_name = {row[0]: row for row in rows[1:]}
    assert set(by_name) == {e1.name, e2.name}
    assert str(by_name[e1.name][5]) == "12345678.91"  # exact, in yuan
    cell = next(c for c in ws["A"] if c.value == e1.name)
    assert cell.data_type == "s"  # a name starting with "=" is text, never a formula
    r = p.get("/province/directory/export?kind=supplier")
    rows = list(load_workbook(io.BytesIO(r.data)).active.iter_rows(values_only=True))
    assert rows[1][0] == s.name and rows[1][4] == "工业SaaS、工业App" and rows[1][5] == "203.0.113.0/24"
    # Only the province has the directory.
    officer = make_user(Role.CITY, city_code="440100")
    db.session.commit()
    assert login(officer).get("/province/directory/export").status_code == 403


def test_public_supplier_list_shows_categories_not_private_data(client):
    # rule: ROLE-7, REG-2
    s = make_supplier(name="公开供应商有限公司", categories=["工业SaaS", "研发设计"], endpoints=["198.51.100.77"],
                      contact_phone="13912345678")
    make_supplier(name="审核中供应商有限公司", status=RegStatus.PROVINCE_REVIEW)
    make_supplier(name="被取消资格供应商有限公司", disqualified=True)
    out = make_supplier(name="省外供应商有限公司", in_province=False, categories=["工业App"])
    db.session.commit()
    html = client.get("/suppliers").get_data(as_text=True)
    assert s.name in html and out.name in html and "工业SaaS" in html and "广东省外" in html
    assert "审核中供应商" not in html and "被取消资格" not in html
    for private in (s.uscc, "198.51.100.77", "13912345678"):
        assert private not in html
    html = client.get("/suppliers?category=工业App").get_data(as_text=True)
    assert out.name in html and s.name not in html
    r = client.get("/suppliers?q=公开", headers=HX)
    assert "<html" not in r.get_data(as_text=True) and s.name in r.get_data(as_text=True)


def test_home_panels_show_queue_counts_and_status(login):
    # rule: SLA-5, REG-4
    with at(2026, 11, 20):
        pending(due=dt.date(2026, 11, 18))
        pending(due=dt.date(2026, 11, 27))
        s, _ = make_submitted("supplier", in_province=False, city_code=None)
        officer = make_user(Role.CITY, city_code="440100")
        province = make_user(Role.PROVINCE)
        expert = make_user(Role.EXPERT)
        db.session.commit()
        home = login(officer).get("/city/").get_data(as_text=True)
        assert 'id="panel-registration-queue"' in home and 'id="count-enterprise"' in home
        block = home.split('id="count-enterprise"')[1].split("</a>")[0]
        assert '<span class="stat">2</span>' in block and "超期 1 件" in block
        assert "注册审核" in home  # menu entry
        home = login(province).get("/province/").get_data(as_text=True)
        assert 'id="count-supplier"' in home and "工作日历" in home and "注册名录" in home
        home = login(expert).get("/expert/").get_data(as_text=True)
        assert 'id="panel-expert-reviews"' in home and '<span class="stat">1</span>' in home
