"""Public verification of a voucher (ROLE-7, DOC-1, R48, R50)."""
from __future__ import annotations

import io

from blueprints.core import issuance
from models import Voucher, VoucherStatus, db
from tests.factories import make_application, make_world


def issued(w) -> Voucher:
    make_application(w.enterprise, w.supplier, w.cycle, stage="approved", fee_fen=88_000_00, users=w.users)
    db.session.commit()
    return db.session.execute(db.select(Voucher)).scalar_one()


def test_anyone_can_verify_a_voucher_by_its_code(app, client):
    # rule: ROLE-7, DOC-1
    w = make_world()
    v = issued(w)
    r = client.get(f"/v/{v.code}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "这是一张有效的服务券" in html and "¥88,000.00" in html and w.enterprise.name in html
    assert issuance.display_code(v.code) in html
    # Nothing private: no USCC, no contract, no supplier, no revenue, no contact.
    for private in (w.enterprise.uscc, v.application.contract_no, w.supplier.name, w.enterprise.contact_phone,
                    "合同编号", "主营业务收入"):
        assert private not in html
    # A typed code in groups, lower case or with spaces, leads to the same page.
    r = client.get("/v", query_string={"code": issuance.display_code(v.code).lower().replace("-", " ")})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/v/{v.code}")


def test_a_void_voucher_says_so(app, client):
    # rule: ROLE-7
    w = make_world()
    v = issued(w)
    db.session.execute(db.update(Voucher).where(Voucher.id == v.id).values(status=VoucherStatus.VOID))
    db.session.commit()
    html = client.get(f"/v/{v.code}").get_data(as_text=True)
    assert "已作废" in html and "这是一张有效的服务券" not in html


def test_an_unknown_code_says_so(app, client):
    # rule: ROLE-7
    r = client.get("/v/" + issuance.new_code())
    assert r.status_code == 404 and "未找到券号" in r.get_data(as_text=True)
    r = client.get("/v/not-a-code")
    assert r.status_code == 404 and "未找到券号" in r.get_data(as_text=True)
    assert client.get("/v", query_string={"code": "GD-XYZ"}).status_code == 404


def test_lookups_are_rate_limited_per_address(app):
    # rule: ROLE-7 (R50: enumeration is slowed down)
    app.config["VERIFY_LIMIT_PER_ADDRESS"] = 5
    c = app.test_client()
    codes = [c.get("/v/" + issuance.new_code()).status_code for _ in range(7)]
    assert codes[:5] == [404] * 5 and codes[5:] == [429, 429]
    assert "查询过于频繁" in c.get("/v/" + issuance.new_code()).get_data(as_text=True)
    other = app.test_client().get("/v/" + issuance.new_code(), environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert other.status_code == 404


def test_the_qr_code_on_the_pdf_points_to_the_public_page(app, login):
    # rule: DOC-1, ROLE-7
    from pypdf import PdfReader

    w = make_world()
    v = issued(w)
    pdf = login(w.ent_user).get(f"/enterprise/vouchers/{v.id}/pdf").data
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text().replace("\n", "")
    assert f"/v/{v.code}" in text
    svg = issuance.qr_svg(f"http://localhost/v/{v.code}")
    assert svg.startswith("<svg") and "path" in svg


def test_codes_as_people_type_them(app):
    # rule: DOC-1 -- 0 and 1 are read as O and I (codes never contain them); a wrong length says so
    from blueprints.core import issuance

    code = "GD" + "O" * 10 + "I" * 10 + "ABCDEF"
    assert issuance.normalize_code(code.replace("O", "0").replace("I", "1")) == code
    client = app.test_client()
    r = client.get("/v?code=GD-ABCD-EFGH")
    assert r.status_code == 404 and "您输入了 10 位" in r.get_data(as_text=True)
    r = client.get("/v?code=XX" + "A" * 26)
    assert r.status_code == 404 and "券号以 GD 开头" in r.get_data(as_text=True)
