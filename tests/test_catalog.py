"""Catalog versions (CAT-1, CAT-2, CAT-3, CAT-4): drafts, inline editing, publication, diff, xlsx."""
from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from openpyxl import Workbook, load_workbook

from blueprints.core import catalog
from blueprints.core.timeutil import now
from models import (
    AppStatus, Application, AuditEvent, CatalogItem, CatalogStatus, CatalogVersion, Role, db,
)
from tests.factories import make_catalog, make_cycle, make_enterprise, make_user

HX = {"HX-Request": "true"}


def _audit_count(entity_id=None) -> int:
    q = db.select(db.func.count(AuditEvent.id)).where(AuditEvent.entity_type == "catalog_version")
    if entity_id is not None:
        q = q.where(AuditEvent.entity_id == entity_id)
    return db.session.execute(q).scalar_one()


def _item(version_id: int, code: str) -> CatalogItem:
    return db.session.execute(
        db.select(CatalogItem).where(CatalogItem.version_id == version_id, CatalogItem.code == code)
    ).scalar_one()


def _item_form(**kw) -> dict:
    data = {"code": "YF-09", "name": "云端仿真设计", "category": "研发设计", "description": "按合同核定", "cap": "120000"}
    data.update(kw)
    return data


@pytest.fixture
def province(login_as):
    return login_as(Role.PROVINCE)


ITEMS = (("SC-01", "生产数据上云", "生产管控", 200_000_00), ("JY-01", "云ERP", "经营管理", 100_000_00),
         ("YF-01", "云端研发", "研发设计", 150_000_00))


# --------------------------------------------------------------------------- drafts and editing (CAT-1)


def test_new_version_copies_the_latest_into_a_draft(province):
    # rule: CAT-1, CAT-2
    c, user = province
    v1 = make_catalog(items=ITEMS, cap_fen=500_000_00)
    db.session.commit()
    r = c.post("/province/catalog/new")
    assert r.status_code == 303
    draft = db.session.execute(db.select(CatalogVersion).where(CatalogVersion.number == 2)).scalar_one()
    assert draft.status == CatalogStatus.DRAFT and draft.published_at is None
    assert [(i.code, i.name, i.category, i.cap_fen) for i in draft.items] == [
        (i.code, i.name, i.category, i.cap_fen) for i in v1.items]
    assert draft.cumulative_cap_fen == 500_000_00
    assert r.headers["Location"].endswith(f"/province/catalog/{draft.id}")
    page = c.get(f"/province/catalog/{draft.id}").get_data(as_text=True)
    assert "目录第2版" in page and "草稿" in page and "发布" in page
    # A second "new version" while the draft exists goes back to that draft, no second draft.
    r = c.post("/province/catalog/new")
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/province/catalog/{draft.id}")
    assert db.session.execute(db.select(db.func.count(CatalogVersion.id))).scalar_one() == 2
    ev = db.session.execute(db.select(AuditEvent).where(AuditEvent.entity_type == "catalog_version",
                                                        AuditEvent.action == "create")).scalar_one()
    assert ev.actor_id == user.id and ev.data["copied_from"] == 1


def test_first_version_starts_empty(province):
    # rule: CAT-1
    c, _ = province
    r = c.post("/province/catalog/new")
    assert r.status_code == 303
    v = db.session.execute(db.select(CatalogVersion)).scalar_one()
    assert v.number == 1 and v.items == []
    body = c.get(f"/province/catalog/{v.id}").get_data(as_text=True)
    assert "还没有条目" in body and "目录没有条目" in body


def test_inline_edit_of_an_item_with_htmx(province):
    # rule: CAT-1
    c, _ = province
    v = make_catalog(items=ITEMS, published=False)
    db.session.commit()
    item = _item(v.id, "SC-01")
    r = c.get(f"/province/catalog/{v.id}/items/{item.id}/edit", headers=HX)
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in body
    assert f'id="catalog-item-{item.id}-row"' in body and 'value="200000"' in body
    r = c.post(f"/province/catalog/{v.id}/items/{item.id}", headers=HX,
               data=_item_form(code="SC-01", name="生产数据上云（升级）", category="生产管控", description="",
                              cap="250000.50"))
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in body
    assert f'id="catalog-item-{item.id}-row"' in body and "¥250,000.50" in body and "生产数据上云（升级）" in body
    db.session.expire_all()
    assert _item(v.id, "SC-01").cap_fen == 250_000_50
    ev = db.session.execute(db.select(AuditEvent).where(AuditEvent.action == "item_edit")).scalar_one()
    assert ev.data["changed"]["cap_fen"] == [200_000_00, 250_000_50]
    assert set(ev.data["changed"]) == {"cap_fen", "name"}
    page = c.get(f"/province/catalog/{v.id}").get_data(as_text=True)
    assert "修改条目 SC-01：名称 生产数据上云 → 生产数据上云（升级）；补助上限 ¥200,000.00 → ¥250,000.50" in page


def test_inline_edit_refuses_bad_input_with_422_and_changes_nothing(province):
    # rule: CAT-1
    c, _ = province
    v = make_catalog(items=ITEMS, published=False)
    db.session.commit()
    item = _item(v.id, "SC-01")
    before = _audit_count()
    for data, message in [
        (_item_form(code="SC-01", cap="-5"), "金额格式不正确"),
        (_item_form(code="SC-01", cap="0"), "补助上限须大于 0"),
        (_item_form(code="SC-01", cap="1.234"), "金额格式不正确"),
        (_item_form(code="SC-01", name=""), "请填写名称"),
        (_item_form(code="JY-01"), "编码 JY-01 在本版本中已存在"),
        (_item_form(code="SC-01", category="不存在的类别"), "Not a valid choice"),
    ]:
        r = c.post(f"/province/catalog/{v.id}/items/{item.id}", headers=HX, data=data)
        body = r.get_data(as_text=True)
        assert r.status_code == 422, data
        assert "<html" not in body and f'id="catalog-item-{item.id}-row"' in body
        assert message in body or message == "Not a valid choice", (message, body)
        assert 'aria-invalid="true"' in body
    db.session.expire_all()
    assert _item(v.id, "SC-01").cap_fen == 200_000_00
    assert _audit_count() == before


def test_add_remove_and_reorder_items(province):
    # rule: CAT-1
    c, _ = province
    v = make_catalog(items=ITEMS, published=False)
    db.session.commit()
    r = c.post(f"/province/catalog/{v.id}/items", headers=HX, data=_item_form())
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in body and f'id="catalog-{v.id}-items"' in body
    assert "YF-09" in body and "¥120,000.00" in body
    r = c.post(f"/province/catalog/{v.id}/items", headers=HX, data=_item_form(code="YF-09"))
    assert r.status_code == 422 and "已存在" in r.get_data(as_text=True)
    r = c.post(f"/province/catalog/{v.id}/items", headers=HX, data=_item_form(code="", cap=""))
    text = r.get_data(as_text=True)
    assert r.status_code == 422 and "请填写编码" in text and "请填写补助上限" in text

    def order():
        db.session.expire_all()
        return [i.code for i in db.session.get(CatalogVersion, v.id).items]

    assert order() == ["SC-01", "JY-01", "YF-01", "YF-09"]
    yf09 = _item(v.id, "YF-09")
    r = c.post(f"/province/catalog/{v.id}/items/{yf09.id}/move", headers=HX, data={"direction": "up"})
    assert r.status_code == 200
    assert order() == ["SC-01", "JY-01", "YF-09", "YF-01"]
    sc01 = _item(v.id, "SC-01")
    c.post(f"/province/catalog/{v.id}/items/{sc01.id}/move", headers=HX, data={"direction": "up"})  # already first
    assert order() == ["SC-01", "JY-01", "YF-09", "YF-01"]
    c.post(f"/province/catalog/{v.id}/items/{sc01.id}/move", data={"direction": "down"})
    assert order() == ["JY-01", "SC-01", "YF-09", "YF-01"]
    r = c.post(f"/province/catalog/{v.id}/items/{_item(v.id, 'JY-01').id}/delete", headers=HX)
    assert r.status_code == 200 and "JY-01" not in r.get_data(as_text=True)
    assert order() == ["SC-01", "YF-09", "YF-01"]
    actions = [a for a, in db.session.execute(
        db.select(AuditEvent.action).where(AuditEvent.entity_type == "catalog_version").order_by(AuditEvent.id))]
    assert actions == ["item_add", "item_move", "item_move", "item_remove"]


def test_cumulative_cap_and_title_of_a_draft(province):
    # rule: CAT-1
    c, _ = province
    v = make_catalog(items=ITEMS, published=False, cap_fen=0)
    db.session.commit()
    r = c.post(f"/province/catalog/{v.id}/settings", headers=HX, data={"title": "2027年目录", "cumulative_cap": "abc"})
    assert r.status_code == 422 and "金额格式不正确" in r.get_data(as_text=True)
    r = c.post(f"/province/catalog/{v.id}/settings", headers=HX, data={"title": "2027年目录", "cumulative_cap": "600000"})
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in body and f'id="catalog-{v.id}-header"' in body
    db.session.expire_all()
    v = db.session.get(CatalogVersion, v.id)
    assert (v.title, v.cumulative_cap_fen) == ("2027年目录", 600_000_00)


# --------------------------------------------------------------------------- publication (CAT-2)


def test_publish_makes_the_version_in_force_and_read_only(province):
    # rule: CAT-2, CAT-3
    c, user = province
    old = make_catalog(items=ITEMS, published_at=now() - dt.timedelta(days=30))
    v = make_catalog(items=ITEMS, published=False)
    db.session.commit()
    page = c.get(f"/province/catalog/{v.id}").get_data(as_text=True)
    assert "发布后该版本立即生效且不能再修改" in page  # the confirmation the browser asks
    r = c.post(f"/province/catalog/{v.id}/transition", data={"action": "publish"})
    assert r.status_code == 303
    db.session.expire_all()
    v = db.session.get(CatalogVersion, v.id)
    assert v.status == CatalogStatus.PUBLISHED and v.published_at is not None
    assert catalog.version_in_force().id == v.id != old.id
    ev = db.session.execute(db.select(AuditEvent).where(AuditEvent.action == "publish")).scalar_one()
    assert (ev.from_state, ev.to_state, ev.actor_id) == ("draft", "published", user.id)
    page = c.get(f"/province/catalog/{v.id}").get_data(as_text=True)
    assert "已发布的版本不能修改" in page and "删除草稿" not in page and "编辑</a>" not in page


def test_publish_is_refused_while_the_draft_has_problems(province):
    # rule: CAT-1, CAT-2
    c, _ = province
    v = make_catalog(items=ITEMS, published=False, cap_fen=100_000_00)  # SC-01 and YF-01 exceed it
    db.session.commit()
    r = c.post(f"/province/catalog/{v.id}/transition", data={"action": "publish"})
    assert r.status_code == 422
    assert "补助上限超过累计上限：SC-01、YF-01" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(CatalogVersion, v.id).status == CatalogStatus.DRAFT


def _mutations(v: CatalogVersion, item: CatalogItem) -> list[tuple[str, dict]]:
    return [
        (f"/province/catalog/{v.id}/settings", {"title": "改", "cumulative_cap": "1"}),
        (f"/province/catalog/{v.id}/items", _item_form()),
        (f"/province/catalog/{v.id}/items/{item.id}", _item_form(code=item.code, cap="1")),
        (f"/province/catalog/{v.id}/items/{item.id}/delete", {}),
        (f"/province/catalog/{v.id}/items/{item.id}/move", {"direction": "down"}),
        (f"/province/catalog/{v.id}/transition", {"action": "publish"}),
        (f"/province/catalog/{v.id}/delete", {}),
    ]


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_a_published_version_refuses_every_change_even_by_direct_post(province, htmx):
    # rule: CAT-2
    c, _ = province
    v = make_catalog(items=ITEMS, cap_fen=500_000_00)
    db.session.commit()
    item = v.items[0]
    snapshot = [(i.id, i.code, i.name, i.cap_fen, i.position) for i in v.items]
    audit_before = _audit_count()
    for url, data in _mutations(v, item):
        r = c.post(url, data=data, headers=HX if htmx else {})
        assert r.status_code == 409, url
        if htmx:
            assert "已发布的版本不能修改" in json.loads(r.headers["HX-Trigger"])["toast"][0]["message"]
        else:
            assert "目录第1版已发布，已发布的版本不能修改" in r.get_data(as_text=True)
    r = c.get(f"/province/catalog/{v.id}/items/{item.id}/edit", headers=HX)
    assert r.status_code == 409
    db.session.expire_all()
    v = db.session.get(CatalogVersion, v.id)
    assert [(i.id, i.code, i.name, i.cap_fen, i.position) for i in v.items] == snapshot
    assert (v.title, v.cumulative_cap_fen, v.status) == ("目录第1版", 500_000_00, CatalogStatus.PUBLISHED)
    assert _audit_count() == audit_before


def test_core_refuses_changes_to_a_published_version(app):
    # rule: CAT-2
    v = make_catalog(items=ITEMS)
    db.session.commit()
    from blueprints.core.workflow import NotAllowed

    with pytest.raises(NotAllowed, match="已发布"):
        catalog.update_item(v.id, v.items[0].id, None, code="SC-01", name="x", category="生产管控",
                            description="", cap_fen=1)
    with pytest.raises(NotAllowed):
        catalog.publish(v.id, None)


def test_deleting_a_draft(province):
    # rule: CAT-2
    c, _ = province
    v = make_catalog(items=ITEMS, published=False)
    db.session.commit()
    assert c.post(f"/province/catalog/{v.id}/delete").status_code == 303
    assert db.session.execute(db.select(db.func.count(CatalogItem.id))).scalar_one() == 0
    assert db.session.execute(db.select(db.func.count(CatalogVersion.id))).scalar_one() == 0


# --------------------------------------------------------------------------- diff (CAT-2)


def test_diff_shows_added_removed_and_changed_items(province):
    # rule: CAT-2
    c, _ = province
    a = make_catalog(items=ITEMS, cap_fen=500_000_00)
    b = make_catalog(items=(("SC-01", "生产数据上云", "生产管控", 300_000_00),      # cap changed
                            ("YF-01", "云端协同研发", "研发设计", 150_000_00),      # name changed
                            ("SA-01", "工业SaaS订阅", "工业SaaS", 120_000_00)),      # added; JY-01 removed
                     cap_fen=600_000_00, published=False)
    db.session.commit()
    d = catalog.diff(a, b)
    assert [r.code for r in d.of("added")] == ["SA-01"]
    assert [r.code for r in d.of("removed")] == ["JY-01"]
    assert {r.code: r.changed for r in d.of("changed")} == {"SC-01": {"cap_fen"}, "YF-01": {"name"}}
    assert d.cap_changed
    r = c.get(f"/province/catalog/diff?a={a.id}&b={b.id}")
    body = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "新增 <strong>1</strong> 项，删除 <strong>1</strong> 项，修改 <strong>2</strong> 项" in body
    assert "¥500,000.00 → <strong>¥600,000.00</strong>" in body
    row = body[body.index('id="diff-SC-01"'):body.index('id="diff-YF-01"')]
    assert "¥200,000.00" in row and "¥300,000.00" in row and "修改" in row
    assert 'class="diff-removed" id="diff-JY-01"' in body and 'class="diff-added" id="diff-SA-01"' in body
    # htmx: only the result block
    r = c.get(f"/province/catalog/diff?a={b.id}&b={a.id}", headers=HX)
    body = r.get_data(as_text=True)
    assert "<html" not in body and 'id="catalog-diff-result"' in body
    assert 'class="diff-added" id="diff-JY-01"' in body  # reversed direction


def test_diff_of_identical_versions_reports_no_changes(app):
    # rule: CAT-2
    a = make_catalog(items=ITEMS)
    b = make_catalog(items=ITEMS, published=False)
    d = catalog.diff(a, b)
    assert not d.of("added") and not d.of("removed") and not d.of("changed") and not d.cap_changed
    assert len(d.of("same")) == 3


# --------------------------------------------------------------------------- xlsx (CAT-2)


def _xlsx(rows, header=catalog.XLSX_HEADER) -> bytes:
    wb = Workbook()
    ws = wb.active
    if header:
        ws.append(list(header))
    for row in rows:
        ws.append(list(row))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _import(c, data: bytes, **kw):
    form = {"title": "2027年目录", "cumulative_cap": "500000", "file": (io.BytesIO(data), "catalog.xlsx")}
    form.update(kw)
    return c.post("/province/catalog/import", data=form, content_type="multipart/form-data")


def test_import_a_draft_from_xlsx(province):
    # rule: CAT-1, CAT-2
    c, _ = province
    r = _import(c, _xlsx([("YF-01", "云端研发", "研发设计", "说明", 150000),
                          ("SC-01", "生产数据上云", "生产管控", None, 200000.5),
                          (None, None, None, None, None),  # blank rows are skipped
                          ("JY-01", "云ERP", "经营管理", "", "100,000.00")]))
    assert r.status_code == 303
    v = db.session.execute(db.select(CatalogVersion)).scalar_one()
    assert v.status == CatalogStatus.DRAFT and v.title == "2027年目录" and v.cumulative_cap_fen == 500_000_00
    assert [(i.code, i.cap_fen, i.position) for i in v.items] == [
        ("YF-01", 150_000_00, 0), ("SC-01", 200_000_50, 1), ("JY-01", 100_000_00, 2)]
    ev = db.session.execute(db.select(AuditEvent).where(AuditEvent.action == "import")).scalar_one()
    assert ev.data == {"items": 3}


def test_a_bad_xlsx_row_is_reported_by_line_and_nothing_is_imported(province):
    # rule: CAT-2
    c, _ = province
    data = _xlsx([
        ("YF-01", "云端研发", "研发设计", "", 150000),
        ("SC-01", "", "生产管控", "", 200000),          # line 3: no name
        ("JY-01", "云ERP", "卖菜", "", 100000),           # line 4: unknown category
        ("YF-01", "重复", "研发设计", "", "十万"),         # line 5: duplicate code, bad amount
        ("PT-01", "平台接入", "工业互联网平台", "", -3),   # line 6: negative amount
    ])
    before = _audit_count()
    r = _import(c, data)
    body = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "未导入任何条目" in body
    assert "第 3 行：名称不能为空" in body
    assert "第 4 行：类别“卖菜”不在目录类别中" in body
    assert "第 5 行：编码 YF-01 与第 2 行重复；补助上限：金额格式不正确" in body
    assert "第 6 行：补助上限：金额格式不正确" in body
    assert "第 2 行：" not in body  # the good row is not reported
    assert db.session.execute(db.select(db.func.count(CatalogVersion.id))).scalar_one() == 0
    assert db.session.execute(db.select(db.func.count(CatalogItem.id))).scalar_one() == 0
    assert _audit_count() == before


@pytest.mark.parametrize("data, message", [
    (b"", "请选择要导入的 xlsx 文件"),
    (b"%PDF-1.4 not a workbook", "文件不是 xlsx 表格"),
    (b"PK\x03\x04 broken zip", "文件不是有效的 xlsx 表格"),
    (_xlsx([("YF-01", "云端研发", "研发设计", "", 1)], header=("a", "b")), "第 1 行应为表头"),
    (_xlsx([], header=catalog.XLSX_HEADER), "表格中没有条目"),
])
def test_import_refuses_files_that_are_not_a_catalog(province, data, message):
    # rule: CAT-2
    c, _ = province
    r = _import(c, data)
    assert r.status_code == 422 and message in r.get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count(CatalogVersion.id))).scalar_one() == 0


def test_import_is_refused_while_a_draft_exists(province):
    # rule: CAT-2
    c, _ = province
    make_catalog(items=ITEMS, published=False)
    db.session.commit()
    r = _import(c, _xlsx([("YF-01", "云端研发", "研发设计", "", 1000)]))
    assert r.status_code == 422 and "已有草稿（目录第1版）" in r.get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count(CatalogVersion.id))).scalar_one() == 1


def test_export_any_version_and_import_it_back(province):
    # rule: CAT-2
    c, _ = province
    v = make_catalog(items=ITEMS + (("JC-01", "公有云资源", "云基础资源", 80_000_55),), cap_fen=500_000_00)
    db.session.commit()
    r = c.get(f"/province/catalog/{v.id}/export.xlsx")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    wb = load_workbook(io.BytesIO(r.data))
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    assert rows[0] == catalog.XLSX_HEADER
    assert [row[0] for row in rows[1:]] == ["SC-01", "JY-01", "YF-01", "JC-01"]
    r = _import(c, r.data)
    assert r.status_code == 303
    new = db.session.execute(db.select(CatalogVersion).where(CatalogVersion.number == 2)).scalar_one()
    assert [(i.code, i.name, i.category, i.cap_fen) for i in new.items] == [
        (i.code, i.name, i.category, i.cap_fen) for i in v.items]
    assert not catalog.diff(v, new).of("changed")


# --------------------------------------------------------------------------- which version applies (CAT-3)


def test_an_application_submitted_before_a_publication_keeps_the_old_standard(app):
    # rule: CAT-3
    admin = make_user(Role.PROVINCE)
    t0 = now()
    v1 = make_catalog(items=(("SC-01", "生产数据上云", "生产管控", 200_000_00),), published_at=t0 - dt.timedelta(days=20))
    enterprise = make_enterprise()
    cycle = make_cycle()
    submitted = t0 - dt.timedelta(days=3)
    early = Application(enterprise_id=enterprise.id, cycle_id=cycle.id, city_code=enterprise.city_code,
                        status=AppStatus.CITY_REVIEW, submitted_at=submitted,
                        catalog_version_id=catalog.version_in_force(submitted).id)
    db.session.add(early)
    v2 = make_catalog(items=(("SC-01", "生产数据上云", "生产管控", 300_000_00),), published=False)
    db.session.commit()
    catalog.publish(v2.id, admin)  # published now, after the early application was submitted
    db.session.commit()
    late_at = now() + dt.timedelta(seconds=1)
    late = Application(enterprise_id=enterprise.id, cycle_id=cycle.id, city_code=enterprise.city_code,
                       status=AppStatus.CITY_REVIEW, submitted_at=late_at,
                       catalog_version_id=catalog.version_in_force(late_at).id)
    db.session.add(late)
    db.session.commit()
    db.session.expire_all()
    early = db.session.get(Application, early.id)
    assert catalog.version_in_force(early.submitted_at).id == v1.id == early.catalog_version_id
    assert catalog.version_in_force(late.submitted_at).id == v2.id == late.catalog_version_id
    assert catalog.version_in_force(t0 - dt.timedelta(days=30)) is None  # before any publication
    # A draft never applies, whatever its number.
    make_catalog(items=ITEMS, published=False)
    db.session.commit()
    assert catalog.version_in_force(now() + dt.timedelta(days=1)).id == v2.id


def test_version_in_force_prefers_the_latest_publication(app):
    # rule: CAT-3
    t = now()
    make_catalog(items=ITEMS, published_at=t - dt.timedelta(days=10))
    v2 = make_catalog(items=ITEMS, published_at=t - dt.timedelta(days=5))
    assert catalog.version_in_force(t).id == v2.id
    assert catalog.version_in_force(t - dt.timedelta(days=7)).number == 1


# --------------------------------------------------------------------------- public page (CAT-1, CAT-4)


def test_public_catalog_shows_the_version_in_force_by_category_with_caps(client):
    # rule: CAT-1, CAT-3, CAT-4
    make_catalog(items=(("OLD-1", "旧条目", "研发设计", 1_00),), published_at=now() - dt.timedelta(days=9))
    make_catalog(items=ITEMS, cap_fen=500_000_00, published_at=now() - dt.timedelta(days=1))
    make_catalog(items=(("NEW-1", "草稿条目", "研发设计", 1_00),), published=False)
    db.session.commit()
    r = client.get("/catalog")
    body = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "现行目录：第2版" in body and "¥500,000.00" in body
    assert "OLD-1" not in body and "NEW-1" not in body
    assert 'id="public-item-SC-01-cap">¥200,000.00' in body
    # categories in the catalog's standard order: 研发设计 before 生产管控 before 经营管理
    assert body.index('id="category-研发设计"') < body.index('id="category-生产管控"') < body.index('id="category-经营管理"')
    assert catalog.CLOUD_FEE_DEFINITION in body
    assert "不包括购买自动化设备或非云化软件" in catalog.CLOUD_FEE_DEFINITION
    # Filter by category with htmx: only the results block.
    r = client.get("/catalog?category=经营管理", headers=HX)
    body = r.get_data(as_text=True)
    assert "<html" not in body and 'id="catalog-results"' in body and "JY-01" in body and "SC-01" not in body


def test_public_catalog_before_any_publication(client):
    # rule: CAT-1, CAT-4
    r = client.get("/catalog")
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "目录尚未发布" in body and catalog.CLOUD_FEE_DEFINITION in body


def test_enterprise_home_points_to_the_catalog(login_as):
    # rule: CAT-1
    make_catalog(items=ITEMS, cap_fen=500_000_00)
    c, _ = login_as(Role.ENTERPRISE)
    body = c.get("/enterprise/").get_data(as_text=True)
    assert 'id="panel-catalog"' in body and "现行目录第1版" in body and "¥500,000.00" in body


def test_only_the_province_edits_the_catalog(login_as):
    # rule: CAT-1, ROLE-8
    v = make_catalog(items=ITEMS, published=False)
    db.session.commit()
    for role in (Role.CITY, Role.ENTERPRISE, Role.SUPPLIER, Role.EXPERT):
        c, _ = login_as(role)
        assert c.post(f"/province/catalog/{v.id}/items", data=_item_form()).status_code == 403
        assert c.post(f"/province/catalog/{v.id}/transition", data={"action": "publish"}).status_code == 403
    c, _ = login_as(Role.OPERATOR)  # an operator without a city acts for the province (ROLE-6)
    assert c.post(f"/province/catalog/{v.id}/items", data=_item_form()).status_code == 303
    ev = db.session.execute(db.select(AuditEvent).where(AuditEvent.action == "item_add")).scalar_one()
    assert ev.body == "province"


def test_catalog_list_and_detail_pages(province):
    # rule: CAT-1, SUP-1
    c, _ = province
    v1 = make_catalog(items=ITEMS)
    make_catalog(items=ITEMS, published=False)
    db.session.commit()
    body = c.get("/province/catalog").get_data(as_text=True)
    assert "第1版" in body and "现行" in body and "继续编辑草稿（第2版）" in body and "比较版本" in body
    body = c.get(f"/province/catalog/{v1.id}").get_data(as_text=True)
    assert "办理记录" in body and "导出表格" in body
    assert c.get("/province/catalog/999999").status_code == 404
    home = c.get("/province/").get_data(as_text=True)
    assert 'id="panel-catalog"' in home and "服务目录" in home


def test_a_version_number_taken_concurrently_is_a_409_not_a_500(province, monkeypatch):
    # rule: CAT-2
    c, _ = province
    make_catalog(items=ITEMS)
    db.session.commit()
    # As if another admin's request created the same number between our read and our write.
    monkeypatch.setattr(catalog, "latest_version", lambda: None)
    r = c.post("/province/catalog/new")
    assert r.status_code == 409 and "刚被他人修改" in r.get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count(CatalogVersion.id))).scalar_one() == 1


def test_a_publication_that_lands_first_is_seen_by_a_later_edit(app):
    # rule: CAT-2
    # The edit reads the version under a row lock and refreshes it: an earlier read that still says
    # "draft" (a publication committed since) does not let the edit through.
    v = make_catalog(items=ITEMS, published=False)
    db.session.commit()
    v = db.session.get(CatalogVersion, v.id)
    assert v.status == CatalogStatus.DRAFT  # loaded before the publication
    db.session.execute(db.text("UPDATE catalog_version SET status = 'published' WHERE id = :id"), {"id": v.id})
    from blueprints.core.workflow import NotAllowed

    with pytest.raises(NotAllowed, match="已发布"):
        catalog.update_item(v.id, v.items[0].id, None, code="SC-01", name="x", category="生产管控",
                            description="", cap_fen=1)
    db.session.rollback()


def test_inline_editing_also_works_without_javascript(province):
    # rule: CAT-1
    c, _ = province
    v = make_catalog(items=ITEMS, published=False)
    db.session.commit()
    item = _item(v.id, "JY-01")
    body = c.get(f"/province/catalog/{v.id}/items/{item.id}/edit").get_data(as_text=True)
    assert "<html" in body and 'class="editing"' in body and f'form="catalog-item-{item.id}-form"' in body
    r = c.post(f"/province/catalog/{v.id}/items/{item.id}", data=_item_form(code="JY-01", cap="abc"))
    assert r.status_code == 422 and "<html" in r.get_data(as_text=True) and "金额格式不正确" in r.get_data(as_text=True)
    r = c.post(f"/province/catalog/{v.id}/items/{item.id}", data=_item_form(code="JY-01", cap="90000"))
    assert r.status_code == 303
    assert _item(v.id, "JY-01").cap_fen == 90_000_00
