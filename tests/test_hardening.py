"""Hardening found in review: header encoding, huge ids, proxies, spreadsheets, QR base URL."""

from openpyxl import load_workbook

from app import create_app
from models import Role, db


def test_htmx_toast_header_is_ascii(login_as):
    # A raw Chinese HX-Trigger value is refused by gunicorn and http.server (latin-1 only).
    import json

    c, _ = login_as(Role.PROVINCE)
    r = c.post("/province/users/999/active", headers={"HX-Request": "true"})
    assert r.status_code == 404
    header = r.headers["HX-Trigger"]
    assert header.isascii()  # the Chinese toast travels as JSON escapes
    assert json.loads(header)["toast"] == [{"level": "error", "message": "页面或记录不存在"}]
    for name, value in r.headers.items():
        assert value.isascii(), name


def test_flash_toast_travels_ascii_escaped(app):
    import json

    from flask import Response, flash

    from blueprints.core.htmx import flashes_to_trigger

    with app.test_request_context("/", headers={"HX-Request": "true"}):
        flash("已通过：广州明辉", "success")
        resp = flashes_to_trigger(Response("x"))
        header = resp.headers["HX-Trigger"]
        header.encode("ascii")
        assert json.loads(header)["toast"][0]["message"] == "已通过：广州明辉"


def test_huge_ids_are_404_not_500(login_as):
    c, _ = login_as(Role.CITY)
    for url in ("/files/99999999999999999999", "/files/4294967296"):
        assert c.get(url).status_code == 404


def test_province_calendar_month_out_of_range(login_as):
    # rule: SLA-4
    c, _ = login_as(Role.PROVINCE)
    for month in ("9999-12", "0001-01", "x"):
        assert c.get(f"/province/calendar?month={month}").status_code == 200


def test_proxy_headers_trusted_only_when_configured(db_url, tmp_path):
    for proxies, expected in ((0, "10.9.9.9"), (1, "203.0.113.7")):
        app = create_app({"SQLALCHEMY_DATABASE_URI": db_url, "TESTING": True, "TRUSTED_PROXIES": proxies,
                          "UPLOAD_DIR": str(tmp_path)})
        seen = {}

        @app.route("/_ip")
        def _ip():
            from flask import request

            seen["ip"] = request.remote_addr
            return "ok"

        _ip._access = frozenset({"public"})
        app.test_client().get("/_ip", headers={"X-Forwarded-For": "203.0.113.7"},
                              environ_base={"REMOTE_ADDR": "10.9.9.9"})
        assert seen["ip"] == expected


def test_spreadsheet_cells_typed_by_users_stay_text(app):
    import datetime as dt
    import tempfile
    from decimal import Decimal

    from blueprints.core import xlsx

    typed = ['=HYPERLINK("http://evil","点击")', "=1+1", "@SUM(A1)", "#N/A", "line\x0bbreak"]
    with tempfile.TemporaryFile() as f:
        xlsx.write_xlsx(f, [xlsx.Sheet("s", ["名称"] * 7, (), [typed + [Decimal("123.45"), dt.date(2026, 1, 2)]])])
        f.seek(0)
        ws = load_workbook(f).active
        row = list(ws[2])
    assert [c.data_type for c in row[:5]] == ["s"] * 5  # never a formula ("f") or an error value ("e")
    assert [c.value for c in row[:5]] == typed[:4] + ["linebreak"]  # a control character Excel refuses is dropped
    assert row[5].value == 123.45 and row[5].number_format == "#,##0.00"
    assert row[6].number_format == "yyyy-mm-dd"


def test_public_base_url_is_used_for_qr(app):
    from blueprints.core.issuance import verify_url

    app.config["PUBLIC_BASE_URL"] = "https://vouchers.example.gov.cn/"
    assert verify_url("GDX").startswith("https://vouchers.example.gov.cn/v/")
