"""Never lose what was typed: a save with one bad file or field keeps every well-formed field and every
good file, refuses only what is wrong (reason beside it), and the banner says which is which (DOC-3, APP-1)."""
from __future__ import annotations

import re

from models import Application, StoredFile, db
from tests.factories import contract_pdf_bytes, make_world
from tests.test_application_flow import form_data, new_draft, with_file

EXE = b"MZ\x90\x00\x03\x00\x00\x00 this program cannot be run in DOS mode"


def _banner(html: str) -> str:
    m = re.search(r'id="application-form-error">([^<]*)<', html)
    return m.group(1) if m else ""


def test_bad_file_and_bad_field_are_reported_together_and_the_rest_is_saved(app, login):
    # rule: DOC-3, AMT-5 -- the file is checked even though another field has an error
    w = make_world()
    a = new_draft(w)
    r = login(w.ent_user).post(f"/enterprise/applications/{a.id}/edit",
                               data=with_file(form_data(w, contract_fee="1e5"), EXE, "合同.pdf"),
                               content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "金额格式不正确" in html and "文件内容与扩展名不符" in html
    banner = _banner(html)
    assert "已保存：" in banner and "合同编号" in banner and "目录服务项" in banner and "供应商" in banner
    assert "未保存：合同文件、上云上平台费用" in banner
    db.session.refresh(a)
    assert a.contract_no == "HT-2026-001" and a.catalog_item_id == w.item.id and a.supplier_id == w.supplier.id
    assert a.contract_fee_fen is None and a.contract_file_id is None
    assert db.session.execute(db.select(db.func.count(StoredFile.id))).scalar_one() == 0


def test_good_file_is_kept_while_a_field_is_wrong(app, login):
    # rule: DOC-3, APP-1 -- the good contract is saved with the draft; the wrong date is not
    w = make_world()
    a = new_draft(w)
    r = login(w.ent_user).post(f"/enterprise/applications/{a.id}/edit",
                               data=with_file(form_data(w, contract_signed_on="2099-01-01", do="submit")),
                               content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "签订日期不能晚于今天" in html
    assert "合同文件" in _banner(html).split("未保存")[0] and "未保存：合同签订日期" in _banner(html)
    db.session.refresh(a)
    assert a.contract_file_id is not None and a.contract_signed_on is None and a.status == "draft"  # not submitted


def test_unknown_supplier_is_not_saved_but_the_rest_is(app, login):
    # rule: ELIG-8 -- an unselectable supplier is refused on its field; nothing else is lost
    w = make_world()
    a = new_draft(w)
    r = login(w.ent_user).post(f"/enterprise/applications/{a.id}/edit", data=form_data(w, supplier_id="999999"))
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "所选供应商不存在" in html
    db.session.refresh(a)
    assert a.supplier_id is None and a.contract_no == "HT-2026-001" and a.contract_fee_fen == 15_000_000


def test_first_save_with_an_error_creates_the_draft_with_what_is_good(app, login):
    # rule: APP-1 -- the blank form's first save keeps what is good (and the next save edits that draft)
    w = make_world()
    c = login(w.ent_user)
    r = c.post("/enterprise/applications/new/form", data=with_file(form_data(w, contract_fee="abc")),
               content_type="multipart/form-data")
    assert r.status_code == 422
    a = db.session.execute(db.select(Application)).scalar_one()
    assert a.contract_no == "HT-2026-001" and a.contract_file_id is not None and a.contract_fee_fen is None
    assert f'action="/enterprise/applications/{a.id}/edit"' in r.get_data(as_text=True)


def test_first_save_with_nothing_good_creates_nothing(app, login):
    # rule: APP-1, DOC-3 -- no empty draft, and the refused file leaves nothing behind
    w = make_world()
    db.session.commit()
    r = login(w.ent_user).post("/enterprise/applications/new/form",
                               data=with_file({"contract_fee": "abc", "do": "save"}, EXE, "合同.pdf"),
                               content_type="multipart/form-data")
    assert r.status_code == 422 and "文件内容与扩展名不符" in r.get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count(Application.id))).scalar_one() == 0
    assert db.session.execute(db.select(db.func.count(StoredFile.id))).scalar_one() == 0


def test_good_pdf_is_stored_once_the_draft_commits(app, login):
    # R33 -- the stored file is named by a committed row
    w = make_world()
    a = new_draft(w)
    login(w.ent_user).post(f"/enterprise/applications/{a.id}/edit", data=with_file(form_data(w), contract_pdf_bytes("x")),
                           content_type="multipart/form-data")
    db.session.refresh(a)
    from blueprints.core import uploads

    assert uploads.path_for(a.contract_file.sha256).is_file()
