"""Enterprise and supplier profile forms (REG-1, REG-2, REG-8, DOC-3): inline and submit validation,
drafts, uploads checked by content and kept when a form comes back with errors, exact revenue."""
from __future__ import annotations

import io

import pytest

from blueprints.core import registration, timeutil
from models import AuditEvent, Enterprise, Notice, RegStatus, Role, StoredFile, Supplier, db
from tests.factories import (
    contract_jpeg_bytes, contract_pdf_bytes, enterprise_form, make_enterprise, make_supplier, make_user, make_uscc,
    registration_files, supplier_form,
)

MP = "multipart/form-data"


def new_enterprise_user(login):
    e = make_enterprise(status=RegStatus.DRAFT, uscc=None, name="", legal_rep="", established_on=None,
                        revenue_fen=None, no_violation_declared=False)
    user = make_user(Role.ENTERPRISE, enterprise_id=e.id)
    db.session.commit()
    return login(user), user, e


def new_supplier_user(login):
    s = make_supplier(status=RegStatus.DRAFT, uscc=None, name="", categories=[], endpoints=[])
    user = make_user(Role.SUPPLIER, supplier_id=s.id)
    db.session.commit()
    return login(user), user, s


def post_enterprise(c, files=True, **over):
    data = enterprise_form(**over)
    if files:
        data.update(registration_files("enterprise"))
    return c.post("/enterprise/profile/edit", data=data, content_type=MP)


def post_supplier(c, files=True, **over):
    data = supplier_form(**over)
    if files:
        data.update(registration_files("supplier"))
    return c.post("/supplier/profile/edit", data=data, content_type=MP)


# --------------------------------------------------------------------------- enterprise (REG-1)


def test_enterprise_submits_complete_profile(login):
    # rule: REG-1, REG-3, REG-7, SLA-1, DOC-3
    c, user, e = new_enterprise_user(login)
    city = make_user(Role.CITY, city_code="440100")
    db.session.commit()
    r = post_enterprise(c, revenue="1234.5", revenue_unit="wan")
    assert r.status_code == 303, r.get_data(as_text=True)[:2000]
    db.session.expire_all()
    assert e.status == RegStatus.CITY_REVIEW
    assert e.revenue_fen == 1_234_500_000  # 1234.5 万元 = 12,345,000.00 元, exactly
    assert e.city_code == "440100" and e.legal_rep == "张三" and e.no_violation_declared
    assert e.due_on == timeutil.add_working_days(timeutil.today(), 5)
    licence = db.session.get(StoredFile, e.licence_file_id)
    assert licence.mime == "application/pdf" and len(licence.sha256) == 64
    assert licence.owner_type == "enterprise" and licence.owner_id == e.id
    actions = [ev.action for ev in db.session.execute(
        db.select(AuditEvent).where(AuditEvent.entity_type == "enterprise", AuditEvent.entity_id == e.id)).scalars()]
    assert actions == ["edit", "submit"]
    # The city office is told there is something to review.
    notice = db.session.execute(db.select(Notice).where(Notice.user_id == city.id)).scalar_one()
    assert notice.title.startswith("新的企业注册")
    page = c.get("/enterprise/profile").get_data(as_text=True)
    assert "地市经信部门审核中" in page and "营业执照.pdf" in page


@pytest.mark.parametrize("text,unit,fen", [
    ("12345678.90", "yuan", 1_234_567_890),
    ("1,234,567.01", "yuan", 123_456_701),
    ("0.000001", "wan", 1),
    ("8600", "wan", 8_600_000_000),
])
def test_revenue_in_yuan_or_wan_is_stored_exactly(login, text, unit, fen):
    # rule: REG-1, AMT-5
    c, user, e = new_enterprise_user(login)
    r = post_enterprise(c, files=False, op="save", revenue=text, revenue_unit=unit)
    assert r.status_code == 303
    db.session.expire_all()
    assert e.revenue_fen == fen and e.status == RegStatus.DRAFT


@pytest.mark.parametrize("text,unit,message", [
    ("1.2345678", "wan", "金额格式不正确"),
    ("12.345", "yuan", "金额格式不正确"),
    ("-5", "yuan", "金额格式不正确"),
    ("1e9", "yuan", "金额格式不正确"),
])
def test_bad_revenue_refused_in_chinese(login, text, unit, message):
    # rule: REG-1
    c, user, e = new_enterprise_user(login)
    r = post_enterprise(c, files=False, revenue=text, revenue_unit=unit)
    assert r.status_code == 422
    assert message in r.get_data(as_text=True)
    db.session.expire_all()
    assert e.revenue_fen is None and e.status == RegStatus.DRAFT


def test_bad_uscc_check_digit_refused_and_the_rest_saved_as_draft(login):
    # rule: REG-1 -- a bad field is not saved, every well-formed one is, and the banner says which
    c, user, e = new_enterprise_user(login)
    good = make_uscc()
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    r = post_enterprise(c, uscc=bad, name="保存下来的名称")
    body = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "校验位不正确" in body
    assert bad in body  # what the user typed is still in the form, beside its error
    db.session.expire_all()
    assert e.uscc is None and e.name == "保存下来的名称" and e.status == RegStatus.DRAFT  # not submitted
    banner = body[body.index('id="form-message"'):][:400]
    assert "已保存" in banner and "名称" in banner and "未保存：统一社会信用代码" in banner


@pytest.mark.parametrize("value,message", [
    ("91440101MA5CXK8A3", "应为 18 位"),
    ("9144010IMA5CXK8A3P", "格式不正确"),
    ("", "请输入统一社会信用代码"),
])
def test_uscc_length_and_format_messages(login, value, message):
    # rule: REG-1
    c, user, e = new_enterprise_user(login)
    r = post_enterprise(c, uscc=value)
    assert r.status_code == 422 and message in r.get_data(as_text=True)


def test_enterprise_outside_guangdong_refused(login):
    # rule: REG-1, ELIG-1
    from cli import _valid_uscc

    c, user, e = new_enterprise_user(login)
    r = post_enterprise(c, uscc=_valid_uscc("91110108MA01R0WQ4"))
    assert r.status_code == 422 and "不在广东省" in r.get_data(as_text=True)


def test_city_must_be_one_of_the_21(login):
    # rule: REG-1
    c, user, e = new_enterprise_user(login)
    page = c.get("/enterprise/profile/edit").get_data(as_text=True)
    import re

    assert len(re.findall(r'<option[^>]*value="44\d{4}"', page)) == 21
    r = post_enterprise(c, city_code="110100")
    assert r.status_code == 422 and "广东省的地级以上市" in r.get_data(as_text=True)


def test_duplicate_uscc_refused_with_clear_message(login):
    # rule: REG-8
    other = make_enterprise()
    supplier = make_supplier()
    c, user, e = new_enterprise_user(login)
    r = post_enterprise(c, uscc=other.uscc)
    assert r.status_code == 422
    assert "该统一社会信用代码已注册为工业企业账号" in r.get_data(as_text=True)
    # One account of each kind: the same company may also be a supplier.
    r = post_enterprise(c, uscc=supplier.uscc)
    assert r.status_code == 303
    db.session.expire_all()
    assert e.uscc == supplier.uscc


def test_duplicate_uscc_found_only_by_the_database_is_reported_like_the_form(login, monkeypatch):
    # rule: REG-8 (a concurrent registration of the same code passes the form check)
    other = make_enterprise()
    c, user, e = new_enterprise_user(login)
    monkeypatch.setattr(registration.checks, "uscc_taken", lambda *a: False)  # where the form check and the change look it up
    r = post_enterprise(c, uscc=other.uscc)
    assert r.status_code == 422
    body = r.get_data(as_text=True)
    assert "已注册为工业企业账号" in body
    assert "已上传，保存后生效" in body  # the valid upload survived the rolled-back save
    db.session.expire_all()
    assert e.uscc is None and e.status == RegStatus.DRAFT


def test_inline_validation_returns_only_the_form_fragment(login):
    # rule: REG-1
    c, user, e = new_enterprise_user(login)
    hx = {"HX-Request": "true"}
    r = c.post("/enterprise/profile/edit?validate=uscc", data=enterprise_form(uscc="123"), headers=hx)
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in body
    assert 'id="field-uscc"' in body and "应为 18 位" in body
    r = c.post("/enterprise/profile/edit?validate=contact_phone", data=enterprise_form(contact_phone="12"), headers=hx)
    assert "请输入手机号或带区号的固定电话" in r.get_data(as_text=True)
    r = c.post("/enterprise/profile/edit?validate=uscc", data=enterprise_form(), headers=hx)
    assert "field-uscc" in r.get_data(as_text=True) and "aria-invalid" not in r.get_data(as_text=True).split(
        'id="field-uscc"')[1].split("</div>")[0]
    db.session.expire_all()
    assert e.name == "" and e.status == RegStatus.DRAFT  # validating saves nothing
    # The page wires the fields for inline validation.
    page = c.get("/enterprise/profile/edit").get_data(as_text=True)
    assert 'hx-post="/enterprise/profile/edit?validate=uscc"' in page


def test_draft_saves_what_is_there_and_submission_needs_everything(login):
    # rule: REG-1
    c, user, e = new_enterprise_user(login)
    r = c.post("/enterprise/profile/edit", data={"name": "半成品企业", "op": "save"}, content_type=MP)
    assert r.status_code == 303
    db.session.expire_all()
    assert e.name == "半成品企业" and e.status == RegStatus.DRAFT
    page = c.get("/enterprise/profile").get_data(as_text=True)
    assert "还需填写或上传" in page and "营业执照" in page
    # A draft still refuses what is filled in wrongly.
    r = c.post("/enterprise/profile/edit", data={"name": "半成品企业", "contact_phone": "12", "op": "save"},
               content_type=MP)
    assert r.status_code == 422 and "请输入手机号" in r.get_data(as_text=True)
    # Submitting an incomplete profile names every missing item.
    r = c.post("/enterprise/profile/edit", data={"name": "半成品企业", "op": "submit"}, content_type=MP)
    body = r.get_data(as_text=True)
    assert r.status_code == 422
    for message in ("请输入统一社会信用代码", "请选择注册地", "请输入成立日期", "请上传营业执照", "须作出无违规声明"):
        assert message in body
    db.session.expire_all()
    assert e.status == RegStatus.DRAFT


def test_dcmm_certificate_needed_when_dcmm_is_claimed(login):
    # rule: REG-1 (the settlement bonus relies on this fact; the bonus itself is tested with settlements)
    c, user, e = new_enterprise_user(login)
    r = post_enterprise(c, dcmm_certified="y")
    assert r.status_code == 422 and "请上传两化融合贯标评定证书" in r.get_data(as_text=True)


def test_established_date_in_future_refused(login):
    # rule: REG-1, ELIG-2
    c, user, e = new_enterprise_user(login)
    r = post_enterprise(c, established_on="2999-01-01")
    assert r.status_code == 422 and "日期不能晚于今天" in r.get_data(as_text=True)
    r = post_enterprise(c, established_on="2015/13/45")
    assert r.status_code == 422 and "日期格式不正确" in r.get_data(as_text=True)


# --------------------------------------------------------------------------- uploads (DOC-3)


def test_file_claiming_to_be_pdf_but_not_is_refused(login):
    # rule: DOC-3
    c, user, e = new_enterprise_user(login)
    data = enterprise_form()
    data["licence"] = (io.BytesIO(b"MZ\x90\x00 this is not a pdf at all" * 10), "营业执照.pdf")
    r = c.post("/enterprise/profile/edit", data=data, content_type=MP)
    body = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "文件内容与扩展名不符" in body
    db.session.expire_all()
    assert e.status == RegStatus.DRAFT and e.licence_file_id is None
    assert db.session.execute(db.select(db.func.count(StoredFile.id))).scalar_one() == 0
    # A PNG renamed to .pdf is refused the same way.
    png = io.BytesIO()
    from PIL import Image

    Image.new("RGB", (10, 10)).save(png, format="PNG")
    data["licence"] = (io.BytesIO(png.getvalue()), "营业执照.pdf")
    assert c.post("/enterprise/profile/edit", data=data, content_type=MP).status_code == 422


def test_oversized_and_wrong_type_uploads_refused(app, login):
    # rule: DOC-3
    c, user, e = new_enterprise_user(login)
    app.config["MAX_UPLOAD_BYTES"] = 2000
    data = enterprise_form()
    data["licence"] = (io.BytesIO(contract_pdf_bytes() + b"%" * 3000), "营业执照.pdf")
    r = c.post("/enterprise/profile/edit", data=data, content_type=MP)
    assert r.status_code == 422 and "文件超过" in r.get_data(as_text=True)
    data = enterprise_form()
    data["licence"] = (io.BytesIO(b"hello"), "营业执照.docx")
    r = c.post("/enterprise/profile/edit", data=data, content_type=MP)
    assert r.status_code == 422 and "只能上传 PDF、JPG 或 PNG" in r.get_data(as_text=True)


def test_phone_camera_photo_works_as_upload(login):
    # rule: DOC-3, APP-8 (phone camera)
    c, user, e = new_enterprise_user(login)
    data = enterprise_form()
    data["licence_photo"] = (io.BytesIO(contract_jpeg_bytes()), "IMG_20260930_101500.jpg")
    r = c.post("/enterprise/profile/edit", data=data, content_type=MP)
    assert r.status_code == 303
    db.session.expire_all()
    f = db.session.get(StoredFile, e.licence_file_id)
    assert f.mime == "image/jpeg" and f.original_name == "IMG_20260930_101500.jpg"
    assert e.status == RegStatus.CITY_REVIEW


def test_camera_input_offered_next_to_file_input(login):
    # rule: DOC-3
    c, user, e = new_enterprise_user(login)
    page = c.get("/enterprise/profile/edit").get_data(as_text=True)
    assert 'name="licence" accept="application/pdf,image/jpeg,image/png"' in page
    assert 'name="licence_photo" accept="image/jpeg,image/png" capture="environment"' in page
    assert 'enctype="multipart/form-data"' in page


def test_form_with_errors_keeps_the_upload_and_the_typing(login):
    # rule: DOC-3, REG-1 (nothing is lost when a form is sent with errors: the good file and the
    # well-formed fields are saved in the draft at once; the submission waits for the fix)
    c, user, e = new_enterprise_user(login)
    r = post_enterprise(c, uscc="BAD", name="保留的名称")
    body = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "保留的名称" in body and "营业执照.pdf" in body
    stored = db.session.execute(db.select(StoredFile)).scalar_one()
    db.session.expire_all()
    assert e.licence_file_id == stored.id and e.name == "保留的名称" and e.status == RegStatus.DRAFT
    # Sent again, fixed, without choosing the file again: the saved file is used.
    r = post_enterprise(c, files=False, name="保留的名称")
    assert r.status_code == 303
    db.session.expire_all()
    assert e.licence_file_id == stored.id and e.status == RegStatus.CITY_REVIEW


def test_someone_elses_file_id_cannot_be_attached(login):
    # rule: DOC-3, ROLE-8
    other = make_enterprise()
    from blueprints.core import uploads

    foreign = uploads.store_bytes(contract_pdf_bytes(), mime="application/pdf", name="x.pdf", kind="business_licence",
                                  owner_type="enterprise", owner_id=other.id, user_id=None)
    c, user, e = new_enterprise_user(login)
    r = post_enterprise(c, files=False, licence_file_id=str(foreign.id))
    assert r.status_code == 422 and "请上传营业执照" in r.get_data(as_text=True)
    db.session.expire_all()
    assert e.licence_file_id is None


def test_posted_status_or_scope_fields_are_ignored(login):
    # rule: REG-1 (R05: mass assignment)
    c, user, e = new_enterprise_user(login)
    r = post_enterprise(c, status="approved", decided_at="2026-01-01", violation_recorded="y", id="999")
    assert r.status_code == 303
    db.session.expire_all()
    assert e.status == RegStatus.CITY_REVIEW and e.decided_at is None and not e.violation_recorded


def test_profile_cannot_be_edited_while_under_review(login):
    # rule: REG-3
    c, user, e = new_enterprise_user(login)
    assert post_enterprise(c).status_code == 303
    r = c.get("/enterprise/profile/edit")
    assert r.status_code == 303
    r = post_enterprise(c, name="审核中偷偷改名")
    assert r.status_code == 303
    db.session.expire_all()
    assert e.name != "审核中偷偷改名"


def test_files_served_only_to_those_who_may_see_the_record(app, login):
    # rule: DOC-3, ROLE-8, ROLE-3
    c, user, e = new_enterprise_user(login)
    assert post_enterprise(c).status_code == 303
    db.session.expire_all()
    url = f"/files/{e.licence_file_id}"
    same_city = make_user(Role.CITY, city_code="440100")
    other_city = make_user(Role.CITY, city_code="440300")
    province = make_user(Role.PROVINCE)
    other_ent = make_user(Role.ENTERPRISE)
    supplier = make_user(Role.SUPPLIER)
    expert = make_user(Role.EXPERT)
    db.session.commit()
    assert c.get(url).status_code == 200
    assert login(same_city).get(url).status_code == 200
    assert login(province).get(url).status_code == 200
    for u in (other_city, other_ent, supplier, expert):
        assert login(u).get(url).status_code == 404, u.role
    assert app.test_client().get(url).status_code == 302  # anonymous: to the login page
    r = c.get(url)
    assert r.data.startswith(b"%PDF-") and r.headers["X-Content-Type-Options"] == "nosniff"


# --------------------------------------------------------------------------- supplier (REG-2)


def test_supplier_in_province_submits_to_its_city(login):
    # rule: REG-2, REG-4
    c, user, s = new_supplier_user(login)
    from cli import _valid_uscc

    rp = _valid_uscc("91440300MA5FPXY15")
    wrong = rp[:-1] + ("0" if rp[-1] != "0" else "1")
    r = post_supplier(c, related_parties=f"{wrong} 深圳某某科技有限公司\n")
    assert r.status_code == 422 and "第 1 行：统一社会信用代码校验位不正确" in r.get_data(as_text=True)
    r = post_supplier(c, related_parties=f"{rp} 深圳关联科技有限公司\n\n{make_uscc()}，东莞关联制造有限公司",
                      endpoints="203.0.113.0/24, Cloud.Example.CN.\n198.51.100.7\n2001:db8::/48")
    assert r.status_code == 303, r.get_data(as_text=True)[:3000]
    db.session.expire_all()
    assert s.status == RegStatus.CITY_REVIEW and s.city_code == "440100" and s.in_province
    assert s.categories == ["云基础资源", "工业SaaS"]  # catalog order
    assert s.endpoints == ["203.0.113.0/24", "cloud.example.cn", "198.51.100.7", "2001:db8::/48"]
    assert [(p.uscc, p.name) for p in s.related_parties][0] == (rp, "深圳关联科技有限公司")
    assert len(s.related_parties) == 2
    assert s.review_round == 1 and s.capability_file_id and s.licence_file_id


def test_supplier_outside_province_goes_straight_to_province(login):
    # rule: REG-2, REG-4
    from cli import _valid_uscc

    c, user, s = new_supplier_user(login)
    r = post_supplier(c, in_province="0", city_code="440100", uscc=_valid_uscc("91110108MA01R0WQ4"))
    assert r.status_code == 303
    db.session.expire_all()
    assert s.status == RegStatus.PROVINCE_REVIEW and s.city_code is None and not s.in_province


@pytest.mark.parametrize("endpoint,message", [
    ("999.1.1.1", "IP 地址不正确"),
    ("203.0.113.5/24", "主机位应为 0"),
    ("10.0.0.0/8", "网段过大"),
    ("127.0.0.1", "不能使用本机"),
    ("bad_domain!", "不是有效的 IP 地址、网段（CIDR）或域名"),
    ("localhost", "不是有效的 IP 地址、网段（CIDR）或域名"),
])
def test_bad_cloud_endpoints_refused(login, endpoint, message):
    # rule: REG-2
    c, user, s = new_supplier_user(login)
    r = post_supplier(c, endpoints=f"203.0.113.9\n{endpoint}")
    body = r.get_data(as_text=True)
    assert r.status_code == 422 and message in body
    db.session.expire_all()
    assert s.endpoints == [] and s.status == RegStatus.DRAFT


def test_endpoint_parsing_normalises():
    # rule: REG-2
    assert registration.parse_endpoints("A.Example.cn.\n203.0.113.1 203.0.113.1\n*.cdn.example.com") == [
        "a.example.cn", "203.0.113.1", "*.cdn.example.com"]
    assert registration.parse_endpoint("云.中国").endswith(".xn--fiqs8s")  # IDN as punycode
    assert registration.parse_endpoint("2001:DB8::1") == "2001:db8::1"


def test_related_party_lines_checked(login):
    # rule: REG-2, REL-1
    c, user, s = new_supplier_user(login)
    own = make_uscc()
    r = post_supplier(c, uscc=own, related_parties=f"{own} 本公司")
    assert r.status_code == 422 and "不能把本单位列为关联方" in r.get_data(as_text=True)
    r = post_supplier(c, related_parties=f"{make_uscc()}")
    assert r.status_code == 422 and "第 1 行：请在代码后写上关联方名称" in r.get_data(as_text=True)
    code = make_uscc()
    r = post_supplier(c, related_parties=f"{code} 甲\n{code} 乙")
    assert r.status_code == 422 and "第 2 行：关联方" in r.get_data(as_text=True)


def test_supplier_needs_categories_city_and_documents(login):
    # rule: REG-2
    c, user, s = new_supplier_user(login)
    data = supplier_form(categories=[], city_code="")
    r = c.post("/supplier/profile/edit", data=data, content_type=MP)
    body = r.get_data(as_text=True)
    assert r.status_code == 422
    for message in ("请至少选择一类服务", "省内供应商请选择所在地市", "请上传营业执照", "请上传服务能力说明材料"):
        assert message in body
    r = c.post("/supplier/profile/edit", data=supplier_form(categories=["不存在的类别"]), content_type=MP)
    assert "请从列表中选择服务类别" in r.get_data(as_text=True)


def test_supplier_duplicate_uscc_refused(login):
    # rule: REG-8
    other = make_supplier()
    c, user, s = new_supplier_user(login)
    r = post_supplier(c, uscc=other.uscc)
    assert r.status_code == 422 and "已注册为供应商账号" in r.get_data(as_text=True)


def test_signup_then_profile_page_guides_the_new_enterprise(client):
    # rule: ROLE-1, REG-1
    r = client.post("/signup", data={"kind": "enterprise", "username": "new_ent_1", "display_name": "陈新",
                                     "phone": "13900139000", "password": "Very-long-pass-2026",
                                     "confirm": "Very-long-pass-2026"})
    assert r.status_code in (302, 303)
    home = client.get("/enterprise/").get_data(as_text=True)
    assert 'id="panel-registration"' in home and "填写单位资料" in home
    assert client.get("/enterprise/profile/edit").status_code == 200
    assert isinstance(db.session.execute(db.select(Enterprise).order_by(Enterprise.id.desc())).scalars().first(),
                      Enterprise)
    assert db.session.execute(db.select(db.func.count(Supplier.id))).scalar_one() == 0
