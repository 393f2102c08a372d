"""The province's usage-intake pages (VER-2, SUP-6): data organisations, their tokens, the list
of imports and the CSV upload (a bad file is refused whole, its rows reported by line number)."""
from __future__ import annotations

import io
import re
from pathlib import Path

from blueprints.core import usage
from models import (
    ApiToken, AuditEvent, ConnectionImport, DataOrg, RegStatus, Role, StoredFile, UsageDay, db,
)
from tests.factories import make_supplier, make_user, make_voucher

HEADER = "time,enterprise,cloud,bytes\n"


def _voucher():
    v = make_voucher()
    usage.add_address(v, "121.8.10.10", make_user(Role.PROVINCE))
    v.supplier.endpoints = ["cloud.example.com"]
    db.session.flush()
    db.session.commit()
    return v


def _csv(days=(1, 2, 3), header=HEADER, extra_rows=()) -> bytes:
    rows = [f"2025-03-{d:02d}T10:00:00+08:00,121.8.10.10,api.cloud.example.com,{1000 + d}\n" for d in days]
    return (header + "".join(rows) + "".join(extra_rows)).encode()


def _upload(c, data: bytes, name="records.csv"):
    return c.post("/province/connection-imports/upload", data={"file": (io.BytesIO(data), name)},
                  content_type="multipart/form-data")


def _count(model) -> int:
    db.session.rollback()
    return db.session.execute(db.select(db.func.count()).select_from(model)).scalar_one()


def _province(login):
    user = make_user(Role.PROVINCE)
    db.session.commit()
    return login(user), user


# --------------------------------------------------------------------------- organisations


def test_the_province_registers_an_operator(app, login):
    # rule: VER-2 -- network operators are registered by the province as organisations
    c, user = _province(login)
    assert c.get("/province/data-orgs").status_code == 200
    form = c.get("/province/data-orgs/new")
    assert form.status_code == 200 and "网络运营商" in form.get_data(as_text=True)
    r = c.post("/province/data-orgs/new", data={"kind": "operator", "name": "中国电信广东分公司", "supplier_id": ""})
    assert r.status_code == 303
    org = db.session.execute(db.select(DataOrg)).scalar_one()
    assert org.kind == "operator" and org.supplier_id is None
    assert r.headers["Location"].endswith(f"/province/data-orgs/{org.id}")
    listing = c.get("/province/data-orgs").get_data(as_text=True)
    assert "中国电信广东分公司" in listing
    ev = db.session.execute(db.select(AuditEvent).where(AuditEvent.entity_type == "data_org")).scalar_one()
    assert ev.action == "create" and ev.actor_id == user.id
    # the same name twice, or no name for an operator: the form again, 422
    assert c.post("/province/data-orgs/new", data={"kind": "operator", "name": "中国电信广东分公司"}).status_code == 422
    assert c.post("/province/data-orgs/new", data={"kind": "operator", "name": "  "}).status_code == 422
    assert _count(DataOrg) == 1


def test_a_supplier_org_is_an_approved_supplier_once(app, login):
    # rule: VER-2 -- suppliers push by API too, each as one organisation
    c, _ = _province(login)
    s = make_supplier(name="云端科技有限公司")
    pending = make_supplier(status=RegStatus.CITY_REVIEW)
    db.session.commit()
    page = c.get("/province/data-orgs/new").get_data(as_text=True)
    assert "云端科技有限公司" in page and pending.name not in page
    assert c.post("/province/data-orgs/new", data={"kind": "supplier", "supplier_id": ""}).status_code == 422
    assert c.post("/province/data-orgs/new", data={"kind": "supplier", "supplier_id": str(pending.id)}).status_code == 422
    r = c.post("/province/data-orgs/new", data={"kind": "supplier", "supplier_id": str(s.id), "name": ""})
    assert r.status_code == 303
    org = db.session.execute(db.select(DataOrg)).scalar_one()
    assert org.supplier_id == s.id and org.name == "云端科技有限公司"
    assert c.post("/province/data-orgs/new", data={"kind": "supplier", "supplier_id": str(s.id),
                                                   "name": "另一个名字"}).status_code == 422
    assert _count(DataOrg) == 1


def test_detail_of_an_unknown_org_is_404(app, login):
    c, _ = _province(login)
    assert c.get("/province/data-orgs/4242").status_code == 404
    assert c.post("/province/data-orgs/4242/tokens", data={"label": "x"}).status_code == 404
    assert c.post("/province/api-tokens/4242/revoke").status_code == 404


# --------------------------------------------------------------------------- tokens


def test_issue_and_revoke_are_on_the_audit_trail_and_the_list(app, login):
    # rule: VER-2 -- tokens issued by the province, listed with their last use, revocable
    c, user = _province(login)
    org = DataOrg(name="中国移动广东公司", kind="operator")
    db.session.add(org)
    db.session.commit()
    detail = c.get(f"/province/data-orgs/{org.id}").get_data(as_text=True)
    nonce = re.search(r'name="nonce" value="([^"]+)"', detail).group(1)
    r = c.post(f"/province/data-orgs/{org.id}/tokens", data={"label": "生产系统", "nonce": nonce})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    token = re.search(r"gdv_[A-Za-z0-9_-]{43}", html).group(0)
    assert "唯一一次" in html
    # the same form submitted twice issues one token, and the second answer does not show the first token
    again = c.post(f"/province/data-orgs/{org.id}/tokens", data={"label": "生产系统", "nonce": nonce})
    assert again.status_code == 303 and _count(ApiToken) == 1
    row = db.session.execute(db.select(ApiToken)).scalar_one()
    assert row.created_by == user.id and row.label == "生产系统" and row.revoked_at is None
    listing = c.get("/province/data-orgs").get_data(as_text=True)
    assert "中国移动广东公司" in listing and token not in listing

    r = c.post(f"/province/api-tokens/{row.id}/revoke")
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/province/data-orgs/{org.id}")
    db.session.refresh(row)
    assert row.revoked_at is not None
    assert c.post(f"/province/api-tokens/{row.id}/revoke").status_code == 303  # twice: nothing more
    actions = db.session.execute(db.select(AuditEvent.action).where(
        AuditEvent.entity_type == "data_org", AuditEvent.entity_id == org.id).order_by(AuditEvent.id)).scalars().all()
    assert actions == ["token_issue", "token_revoke"]
    detail = c.get(f"/province/data-orgs/{org.id}").get_data(as_text=True)
    assert "签发令牌" in detail and "吊销令牌" in detail and token not in detail
    assert "data-confirm" not in detail.split(f'id="token-{row.id}-row"')[1].split("</tr>")[0]  # no button once revoked


def test_a_token_label_over_100_characters_is_422(app, login):
    c, _ = _province(login)
    org = DataOrg(name="运营商", kind="operator")
    db.session.add(org)
    db.session.commit()
    assert c.post(f"/province/data-orgs/{org.id}/tokens", data={"label": "长" * 101}).status_code == 422
    assert _count(ApiToken) == 0


def test_an_operator_acting_for_the_province_uses_the_pages(app, login):
    # rule: ROLE-6 -- an operator has the province's permissions through its acting role
    op = make_user(Role.OPERATOR)
    db.session.commit()
    c = login(op)
    for url in ("/province/data-orgs", "/province/data-orgs/new", "/province/connection-imports",
                "/province/connection-imports/upload"):
        assert c.get(url).status_code == 200, url


# --------------------------------------------------------------------------- CSV upload and the list


def test_a_csv_upload_imports_and_is_listed_with_its_file(app, login):
    # rule: VER-2 -- CSV upload by the province; the file kept as evidence, visible to the province only
    v = _voucher()
    c, user = _province(login)
    assert "flask connections import" in c.get("/province/connection-imports/upload").get_data(as_text=True)
    r = _upload(c, _csv())
    assert r.status_code == 303, r.get_data(as_text=True)
    imp = db.session.execute(db.select(ConnectionImport)).scalar_one()
    assert imp.source == "csv" and imp.user_id == user.id and imp.rows == 3 and imp.matched_rows == 3
    assert imp.new_days == 3 and imp.sha256
    assert db.session.execute(db.select(db.func.count()).select_from(UsageDay).where(
        UsageDay.voucher_id == v.id)).scalar_one() == 3
    listing = c.get("/province/connection-imports")
    html = listing.get_data(as_text=True)
    assert listing.status_code == 200 and "网页上传" in html and user.display_name in html
    assert "已导入 3 条连接记录" in html  # the result, as a message on the list
    if imp.file_id:
        link = f"/files/{imp.file_id}"
        assert link in html
        got = c.get(link)
        assert got.status_code == 200 and got.data == _csv()
        city = login(make_user(Role.CITY))
        db.session.commit()
        assert city.get(link).status_code in (403, 404)
    leftovers = [p for p in Path(app.config["UPLOAD_DIR"]).rglob(".csv-*")]
    assert leftovers == []  # the temporary copy is gone

    again = _upload(c, _csv())  # the same file (SHA-256) twice is refused
    assert again.status_code == 422 and _count(ConnectionImport) == 1


def test_a_bad_csv_is_refused_whole_with_line_numbers(app, login):
    # rule: VER-2 -- malformed rows reported by line number; a file with any bad row imports nothing
    _voucher()
    c, _ = _province(login)
    files_before = _count(StoredFile)
    data = _csv(days=(1, 2), extra_rows=("not-a-date,121.8.10.10,api.cloud.example.com,5\n",
                                         "2025-03-04T10:00:00+08:00,121.8.10.10,api.cloud.example.com,12\n",
                                         "2025-03-05T10:00:00+08:00,,api.cloud.example.com,7\n"))
    r = _upload(c, data)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "未导入任何记录" in html and "行号" in html
    cells = re.findall(r'data-label="行号" class="num">(\d+)<', html)
    assert "4" in cells and "6" in cells and "5" not in cells  # the header is line 1
    assert _count(ConnectionImport) == 0 and _count(UsageDay) == 0 and _count(StoredFile) == files_before


def test_an_extra_column_refuses_the_file(app, login):
    # rule: SUP-6 -- any other column is refused: business data is never accepted
    _voucher()
    c, _ = _province(login)
    r = _upload(c, _csv(header="time,enterprise,cloud,bytes,customer_name\n"))
    assert r.status_code == 422
    assert _count(ConnectionImport) == 0 and _count(UsageDay) == 0


def test_only_csv_files_and_within_the_limit(app, login):
    c, _ = _province(login)
    assert c.post("/province/connection-imports/upload", data={}).status_code == 422
    r = _upload(c, _csv(), name="records.xlsx")
    assert r.status_code == 422 and ".csv" in r.get_data(as_text=True)
    app.config["CONNECTION_UPLOAD_BYTES"] = 64
    r = _upload(c, _csv(days=range(1, 20)))
    assert r.status_code == 413 and "flask connections import" in r.get_data(as_text=True)
    assert _count(ConnectionImport) == 0
    assert [p for p in Path(app.config["UPLOAD_DIR"]).rglob(".csv-*")] == []


def test_the_import_list_pages_newest_first(app, login):
    c, _ = _province(login)
    org = DataOrg(name="分页运营商", kind="operator")
    db.session.add(org)
    db.session.flush()
    for i in range(35):
        db.session.add(ConnectionImport(source="api", org_id=org.id, batch_id=f"batch-{i:02d}", rows=i))
    db.session.commit()
    first = c.get("/province/connection-imports").get_data(as_text=True)
    assert "batch-34" in first and "batch-00" not in first and "数据接口" in first and "分页运营商" in first
    assert first.index("batch-34") < first.index("batch-33")
    second = c.get("/province/connection-imports?page=2").get_data(as_text=True)
    assert "batch-00" in second and "batch-34" not in second
    frag = c.get("/province/connection-imports?page=2", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in frag and "batch-00" in frag


def test_the_menu_has_the_entry(app, login):
    c, _ = _province(login)
    html = c.get("/province/connection-imports").get_data(as_text=True)
    assert "上云用量核验" in html
    c.post("/lang", data={"lang": "en"})
    assert "Usage verification" in c.get("/province/connection-imports").get_data(as_text=True)


def test_others_can_write_while_an_upload_is_being_read(app, login, db_url, engine_name, monkeypatch):
    # rule: VER-2 -- reading a large file takes seconds; meanwhile every other user's writes go through
    import sqlalchemy as sa

    from blueprints.core import connections

    v = _voucher()
    c, user = _province(login)
    wrote = []
    original = connections._analyse

    def analyse_and_write_elsewhere(*args, **kwargs):
        other = sa.create_engine(db_url, connect_args={"timeout": 0} if engine_name == "sqlite" else {})
        try:
            with other.begin() as conn:
                if engine_name == "postgresql":
                    conn.execute(sa.text("SET LOCAL lock_timeout = '200ms'"))
                conn.execute(sa.text('UPDATE "user" SET display_name = :n WHERE id = :id'),
                             {"n": "另一位用户的修改", "id": user.id})
            wrote.append(True)
        finally:
            other.dispose()
        return original(*args, **kwargs)

    monkeypatch.setattr(connections, "_analyse", analyse_and_write_elsewhere)
    r = _upload(c, _csv())
    assert r.status_code == 303 and wrote == [True]
    assert _count(ConnectionImport) == 1 and usage.status(v).days == 3
