"""Security headers on every kind of response, and templates that need no inline script (R15, R16)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from blueprints.core.uploads import store_bytes
from models import RegStatus, Role, db
from tests.factories import make_enterprise

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def _csp(resp) -> dict[str, list[str]]:
    header = resp.headers["Content-Security-Policy"]
    out = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def _assert_common_headers(resp) -> None:
    h = resp.headers
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] in ("strict-origin-when-cross-origin", "same-origin", "strict-origin")
    hsts = h["Strict-Transport-Security"]
    max_age = int(re.search(r"max-age=(\d+)", hsts).group(1))
    assert max_age >= 31536000 and "includeSubDomains" in hsts
    assert "Content-Security-Policy" in h
    header = h["Content-Security-Policy"]
    assert "'unsafe-inline'" not in header and "'unsafe-eval'" not in header


def _assert_page_csp(resp) -> None:
    csp = _csp(resp)
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    for directive, sources in csp.items():
        for src in sources:
            assert not src.startswith(("http:", "https:", "*")), (directive, src)


def test_headers_on_a_200_page(client):
    r = client.get("/login")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html") and "charset=utf-8" in r.headers["Content-Type"]
    _assert_common_headers(r)
    _assert_page_csp(r)


def test_headers_on_404(client):
    r = client.get("/definitely-not-here")
    assert r.status_code == 404
    assert "页面或记录不存在" in r.get_data(as_text=True)
    _assert_common_headers(r)
    _assert_page_csp(r)


def test_headers_on_403_and_authenticated_pages_not_cached(login_as):
    c, _ = login_as(Role.SUPPLIER)
    r = c.get("/province/")
    assert r.status_code == 403
    _assert_common_headers(r)
    _assert_page_csp(r)
    r = c.get("/supplier/")
    assert r.status_code == 200
    _assert_common_headers(r)
    assert "no-store" in r.headers["Cache-Control"]


def test_headers_on_htmx_error_and_redirect(client):
    r = client.get("/enterprise/", headers={"HX-Request": "true"})
    assert r.status_code == 204
    _assert_common_headers(r)
    r = client.get("/nope", headers={"HX-Request": "true"})
    assert r.status_code == 404
    _assert_common_headers(r)


def test_headers_on_a_file_download(login_as):
    # rule: ROLE-8 -- a file is served only to those who may see its record, and never rendered
    c, user = login_as(Role.ENTERPRISE)
    f = store_bytes(b"%PDF-1.4 fake but stored", mime="application/pdf", name="营业执照 副本.pdf",
                    kind="license", owner_type="enterprise", owner_id=user.enterprise_id, user_id=user.id)
    db.session.commit()
    r = c.get(f"/files/{f.id}")
    assert r.status_code == 200
    assert r.data == b"%PDF-1.4 fake but stored"
    assert r.mimetype == "application/pdf"
    _assert_common_headers(r)
    csp = _csp(r)
    assert "sandbox" in csp
    cd = r.headers["Content-Disposition"]
    assert cd.startswith("attachment;")
    assert "filename*=UTF-8''%E8%90%A5%E4%B8%9A%E6%89%A7%E7%85%A7%20%E5%89%AF%E6%9C%AC.pdf" in cd
    assert "private" in r.headers["Cache-Control"] and "no-store" in r.headers["Cache-Control"]


def test_file_name_cannot_inject_headers(login_as):
    c, user = login_as(Role.ENTERPRISE)
    f = store_bytes(b"\x89PNG\r\n\x1a\nxx", mime="image/png", name='a"\r\nSet-Cookie: x=1;.png', kind="photo",
                    owner_type="enterprise", owner_id=user.enterprise_id, user_id=user.id)
    db.session.commit()
    r = c.get(f"/files/{f.id}")
    assert r.status_code == 200
    assert "Set-Cookie: x" not in str(r.headers)
    assert not any(v.startswith("x=1") for v in r.headers.getlist("Set-Cookie"))
    assert '"' not in r.headers["Content-Disposition"]


# --------------------------------------------------------------------------- templates


def _templates() -> list[Path]:
    files = sorted(TEMPLATES.rglob("*.html"))
    assert len(files) >= 10
    return files


@pytest.mark.parametrize("path", _templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_template_loads_nothing_from_another_origin(path):
    text = path.read_text(encoding="utf-8")
    offenders = re.findall(r"""\b(?:src|href|action|srcset|poster|data)\s*=\s*["']?\s*(?:https?:)?//""", text, re.I)
    assert not offenders, offenders
    assert not re.search(r"@import\s+url\(\s*['\"]?(?:https?:)?//", text, re.I)
    assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", text, re.I)


@pytest.mark.parametrize("path", _templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_template_has_no_inline_script_style_or_handlers(path):
    text = path.read_text(encoding="utf-8")
    rel = path.relative_to(TEMPLATES).as_posix()
    for m in re.finditer(r"<script\b([^>]*)>(.*?)</script\s*>", text, re.I | re.S):
        assert "src=" in m.group(1) and not m.group(2).strip(), f"inline <script> in {rel}"
    assert not re.search(r"<[a-z][^>]*\son[a-z]+\s*=", text, re.I), f"on*= handler in {rel}"
    assert not re.search(r"\shx-on[:\-]", text, re.I), f"hx-on in {rel}"
    assert not re.search(r"\bjavascript:", text, re.I), f"javascript: URL in {rel}"
    if not rel.startswith("pdf/"):  # PDF templates are rendered by WeasyPrint, not a browser
        assert not re.search(r"<[a-z][^>]*\sstyle\s*=", text, re.I), f"style= attribute in {rel}"
        assert not re.search(r"<style\b", text, re.I), f"<style> element in {rel}"


def test_rendered_pages_have_no_inline_script(client, login_as):
    make_enterprise(status=RegStatus.APPROVED)
    db.session.commit()
    pages = [client.get(u) for u in ("/", "/login", "/signup")]
    c, _ = login_as(Role.ENTERPRISE)
    pages.append(c.get("/enterprise/"))
    for r in pages:
        html = r.get_data(as_text=True)
        for m in re.finditer(r"<script\b([^>]*)>(.*?)</script\s*>", html, re.I | re.S):
            assert "src=" in m.group(1) and not m.group(2).strip()
            src = re.search(r'src="([^"]+)"', m.group(1)).group(1)
            assert src.startswith("/static/")
        assert not re.search(r"<[a-z][^>]*\s(?:on[a-z]+|style)\s*=", html, re.I)
