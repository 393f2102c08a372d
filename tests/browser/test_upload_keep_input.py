"""Never lose what was typed, in Chromium on a phone (390x844): an enterprise saves its profile draft
with one good file and one bad one (an .exe renamed .pdf); every well-formed field and the good file
are saved, only the bad file is refused, with its reason beside it, and the banner says which is which
(REG-1, DOC-3, R27)."""
from __future__ import annotations

import pytest

from models import Enterprise, RegStatus, Role, db
from tests.browser.conftest import PHONE, login_via_form
from tests.factories import PASSWORD, contract_pdf_bytes, make_enterprise, make_user, make_uscc


@pytest.mark.browser
def test_profile_draft_keeps_fields_and_good_file_and_names_the_bad_one(live_server, new_page, tmp_path):
    # rule: REG-1, DOC-3 -- R27 (type by content), never lose what was typed
    e = make_enterprise(status=RegStatus.DRAFT, uscc=None, name="", legal_rep="", established_on=None,
                        revenue_fen=None, no_violation_declared=False, dcmm_certified=False)
    make_user(Role.ENTERPRISE, username="keep_input_ent", enterprise_id=e.id)
    e_id = e.id
    db.session.commit()  # and read nothing more until the end: the server needs SQLite's write lock
    good = tmp_path / "营业执照.pdf"
    good.write_bytes(contract_pdf_bytes("营业执照"))
    bad = tmp_path / "贯标证书.pdf"
    bad.write_bytes(b"MZ\x90\x00\x03\x00\x00\x00 this program cannot be run in DOS mode")
    uscc = make_uscc()
    base = live_server.url

    pg = new_page(PHONE)
    login_via_form(pg, base, "keep_input_ent", PASSWORD)
    pg.goto(f"{base}/enterprise/profile/edit")
    pg.fill("#name", "广州不丢内容制造有限公司")
    pg.fill("#uscc", uscc)
    pg.select_option("#city_code", "440100")
    pg.fill("#legal_rep", "周敏")
    pg.fill("#contact_name", "周敏")
    pg.fill("#contact_phone", "13900139001")
    pg.check("#dcmm_certified")
    pg.set_input_files("#licence", str(good))
    pg.set_input_files("#dcmm_file", str(bad))
    pg.click("#save-draft")

    # The bad file is refused beside its field, with the reason; the banner names what was and was not saved.
    pg.locator("#err-dcmm_file").wait_for()
    assert "文件内容与扩展名不符" in pg.inner_text("#err-dcmm_file")
    assert pg.locator("#field-dcmm_file").is_visible()
    banner = pg.inner_text("#form-message")
    assert "已保存" in banner and "名称" in banner and "营业执照" in banner
    assert "未保存" in banner and "两化融合贯标评定证书" in banner
    assert pg.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # Coming back later: the typed fields and the good file are there.
    pg.goto(f"{base}/enterprise/profile/edit")
    assert pg.input_value("#name") == "广州不丢内容制造有限公司"
    assert pg.input_value("#uscc") == uscc
    assert pg.input_value("#contact_phone") == "13900139001"
    assert "营业执照.pdf" in pg.inner_text("#licence-current")
    assert pg.locator("#dcmm_file-current").count() == 0  # the bad file was never kept

    db.session.expire_all()
    stored = db.session.get(Enterprise, e_id)
    assert stored.name == "广州不丢内容制造有限公司" and stored.licence_file_id is not None
    assert stored.dcmm_file_id is None and stored.status == RegStatus.DRAFT
