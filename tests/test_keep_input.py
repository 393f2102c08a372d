"""Never lose what was typed: a save with one bad file or field keeps every well-formed field and every
good file, refuses only what is wrong (reason beside it), and the banner says which is which (DOC-3, APP-1)."""
from __future__ import annotations

import io
import re

from models import Application, Role, SetStatus, Settlement, StoredFile, db
from tests.factories import contract_pdf_bytes, make_settlement, make_user, make_world
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


# --------------------------------------------------------------------------- settlement filing


def _save_result(html: str) -> str:
    """The settlement form's "saved / not saved" banner as text."""
    m = re.search(r'<div class="error-summary" id="settlement-save-result".*?</div>', html, re.S)
    return re.sub(r"<[^>]+>", "", m.group(0)) if m else ""


def _settlement_post(st, files: dict, **over):
    from blueprints.core import settlement_form

    data = dict(settlement_form.from_stored(st).texts, do="save")
    data.update(over)
    for name, (content, filename) in files.items():
        data[name] = (io.BytesIO(content), filename)
    return data


def test_settlement_save_says_which_files_were_saved_and_which_refused_and_why(app, login):
    # rule: SET-1, DOC-3 -- one good invoice, one bad one, a good payment proof and a wrong invoice number:
    # the good files and fields are stored, the bad file and field are not, and the banner names each
    st = make_settlement(invoices=[{"file": None}, {"file": None}], payments=[{"file": None}], acceptance=False)
    db.session.commit()
    inv1, inv2 = (f"inv-{i.id}" for i in st.invoices)
    pay = f"pay-{st.payments[0].id}"
    user = make_user(Role.ENTERPRISE, enterprise_id=st.enterprise_id)
    db.session.commit()
    data = _settlement_post(st, {f"{inv1}-file": (contract_pdf_bytes("甲"), "发票甲.pdf"),
                                 f"{inv2}-file": (EXE, "病毒.pdf"),
                                 f"{pay}-file": (contract_pdf_bytes("回单"), "回单.pdf")},
                            **{f"{inv1}-number": "1234", f"{pay}-payee": "某某供应商有限公司"})
    r = login(user).post(f"/enterprise/settlements/{st.id}/edit", data=data, content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    banner = _save_result(html)
    assert "已保存：发票 1 张、付款凭证 1 份、其余填写内容" in banner
    assert re.search(r"发票第 2 行[^\n]*的文件“病毒.pdf”：文件内容与扩展名不符", banner)
    assert re.search(r"发票第 1 行[^\n]*的发票号码：发票号码应为 8 位或 20 位数字", banner)
    assert "发票甲.pdf" not in banner.split("未保存")[1]  # the good file is not among the refused
    assert 'value="1234"' in html and 'id="err-' + f'{inv2}-file"' in html  # typed text kept, reason beside the file
    db.session.expire_all()
    st = db.session.get(Settlement, st.id)
    files = db.session.execute(db.select(StoredFile).where(
        StoredFile.owner_type == "settlement", StoredFile.owner_id == st.id).order_by(StoredFile.id)).scalars().all()
    assert [(f.kind, f.original_name) for f in files] == [("invoice", "发票甲.pdf"), ("payment_proof", "回单.pdf")]
    assert st.invoices[0].file_id == files[0].id and st.invoices[1].file_id is None
    assert st.payments[0].file_id == files[1].id and st.payments[0].payee_name == "某某供应商有限公司"
    assert st.invoices[0].number != "1234" and st.status == SetStatus.DRAFT


def test_settlement_save_with_only_a_bad_file_says_nothing_new_was_saved_in_english_too(app, login):
    # rule: SET-1, DOC-3 -- the banner reads in the user's language; the refused file is still named
    st = make_settlement(invoices=[{"file": None}], acceptance=False)
    user = make_user(Role.ENTERPRISE, enterprise_id=st.enterprise_id)
    user.locale = "en"
    db.session.commit()
    data = _settlement_post(st, {"acceptance_file": (EXE, "验收.pdf")})
    for k in list(data):  # nothing typed either
        if k.startswith(("inv-", "pay-")):
            data[k] = ""
    r = login(user).post(f"/enterprise/settlements/{st.id}/edit", data=data, content_type="multipart/form-data")
    banner = _save_result(r.get_data(as_text=True))
    assert r.status_code == 422
    assert "Nothing new to save." in banner and "Not saved (1):" in banner
    assert "Acceptance report: file “验收.pdf”" in banner
    assert db.session.execute(db.select(db.func.count(StoredFile.id)).where(
        StoredFile.kind == "acceptance_report")).scalar_one() == 0


# --------------------------------------------------------------------------- public objection


def test_objection_reports_a_bad_file_together_with_the_field_errors_and_keeps_what_was_typed(app, client):
    # rule: PUB-2, DOC-3 -- one pass: a too-short text and a bad file are named in the same answer; every
    # typed value stays on the form; nothing is stored (no objection, no file, the entry is not held)
    from models import EntryStatus, Objection
    from tests.test_payout_public import _approved, _city, _entries, _list, _objection_url

    city = _city()
    _approved()
    lst = _list(city)
    (e,) = _entries(lst)
    form = {"entry": [str(e.id)], "text": "太短了", "contact_name": "王先生", "contact": "13800138000",
            "files": [(io.BytesIO(contract_pdf_bytes("好")), "说明.pdf"), (io.BytesIO(EXE), "病毒.pdf")]}
    r = client.post(_objection_url(lst), data=form, content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    summary = re.search(r'<div class="error-summary" id="objection-errors".*?</div>', html, re.S).group(0)
    assert "至少 10 个字" in summary and "“病毒.pdf”：文件内容与扩展名不符" in summary and "说明.pdf" not in summary
    assert 'href="#objection-text"' in summary and 'href="#objection-files"' in summary
    assert "太短了</textarea>" in html and 'value="王先生"' in html and 'value="13800138000"' in html
    assert re.search(rf'value="{e.id}" checked', html)
    assert db.session.execute(db.select(db.func.count(Objection.id))).scalar_one() == 0
    assert db.session.execute(db.select(db.func.count(StoredFile.id)).where(
        StoredFile.kind == "objection_material")).scalar_one() == 0
    db.session.refresh(e)
    assert e.status == EntryStatus.LISTED
