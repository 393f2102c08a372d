"""The PDF helper: Chinese text with an embedded font, extractable; no URL is ever fetched.

The template is templates/pdf/_selftest.html (test-only).
"""
from __future__ import annotations

import io
import shutil
import socket
import subprocess

import pytest
from PIL import Image
from pypdf import PdfReader

from blueprints.core import pdf

TEXT = "工业企业上云上平台服务券兑现申请"


def _render(**ctx) -> bytes:
    ctx.setdefault("text", TEXT)
    ctx.setdefault("amount_fen", 123456)
    ctx.setdefault("img", None)
    ctx.setdefault("stylesheet", None)
    return pdf.render_pdf("pdf/_selftest.html", **ctx)


def _fonts(reader: PdfReader) -> list:
    out = []
    for page in reader.pages:
        fonts = page["/Resources"].get_object().get("/Font", {})
        for ref in fonts.get_object().values():
            font = ref.get_object()
            if font.get("/Subtype") == "/Type0":
                font = font["/DescendantFonts"][0].get_object()
            out.append(font)
    return out


def _images(reader: PdfReader) -> int:
    count = 0
    for page in reader.pages:
        xobjects = page["/Resources"].get_object().get("/XObject", {})
        for ref in xobjects.get_object().values():
            if ref.get_object().get("/Subtype") == "/Image":
                count += 1
    return count


def test_chinese_text_is_extractable_and_the_font_embedded(app):
    with app.test_request_context():
        data = _render()
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    text = reader.pages[0].extract_text()
    assert TEXT in text.replace(" ", "").replace("\n", "")
    assert "广东省工业互联网应用服务平台" in text.replace(" ", "")
    assert "¥1,234.56" in text
    fonts = _fonts(reader)
    assert fonts
    for font in fonts:
        descriptor = font["/FontDescriptor"].get_object()
        assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")), font.get("/BaseFont")
    names = " ".join(str(f.get("/BaseFont")) for f in fonts)
    assert "CJK" in names or "WenQuanYi" in names or "SC" in names, names


@pytest.mark.skipif(not shutil.which("pdffonts") or not shutil.which("pdftotext"), reason="poppler-utils")
def test_poppler_agrees(app, tmp_path):
    with app.test_request_context():
        data = _render()
    path = tmp_path / "selftest.pdf"
    path.write_bytes(data)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    rows = fonts.splitlines()[2:]
    assert rows
    for row in rows:
        cols = row.split()
        emb, sub, uni = cols[-5], cols[-4], cols[-3]
        assert (emb, uni) == ("yes", "yes"), row
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert TEXT in text.replace(" ", "")


def test_user_text_is_escaped_not_markup(app):
    with app.test_request_context():
        data = _render(text='<img src="http://example.com/x.png">王<b>五</b>')
    reader = PdfReader(io.BytesIO(data))
    assert _images(reader) == 0
    assert "<b>五</b>" in reader.pages[0].extract_text().replace(" ", "")


def test_renders_outside_a_request(app):
    # a CLI command or a background job can render a PDF too
    data = _render()
    assert data.startswith(b"%PDF-")


@pytest.fixture
def no_network(monkeypatch):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_remote_and_local_urls_are_never_fetched(app, tmp_path, no_network):
    secret_png = tmp_path / "secret.png"
    Image.new("RGB", (30, 30), (255, 0, 0)).save(secret_png)
    secret_css = tmp_path / "leak.css"
    secret_css.write_text('h1::after { content: "泄露的样式"; }', encoding="utf-8")
    for img, css in [
        ("http://example.com/x.png", "https://example.com/x.css"),
        ("file:///etc/passwd", "file:///etc/passwd"),
        (secret_png.as_uri(), secret_css.as_uri()),
        ("//example.com/y.png", "/static/app.css"),
    ]:
        with app.test_request_context():
            try:
                data = _render(img=img, stylesheet=css)
            except pdf.BlockedFetch:
                continue  # refusing the whole document is also acceptable
        reader = PdfReader(io.BytesIO(data))
        assert _images(reader) == 0, img
        assert "泄露" not in reader.pages[0].extract_text()
        assert TEXT in reader.pages[0].extract_text().replace(" ", "").replace("\n", "")
    assert no_network == []


@pytest.mark.parametrize("url", ["http://example.com/x.png", "file:///etc/passwd", "data:text/plain,hi",
                                 "https://127.0.0.1/"])
def test_fetcher_refuses_every_url(url, no_network):
    fetcher = pdf._make_fetcher()
    with pytest.raises(pdf.BlockedFetch):
        fetcher(url)
    assert no_network == []


def test_sha256_helper():
    assert pdf.sha256(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def _poppler(data: bytes, tmp_path, name: str) -> tuple[list[tuple[str, str, str, str]], str]:
    """pdffonts rows as (name, emb, sub, uni) and pdftotext's text, as a reader of the file would see them."""
    path = tmp_path / name
    path.write_bytes(data)
    listing = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    rows = [(cols[0], cols[-5], cols[-4], cols[-3]) for cols in (row.split() for row in listing.splitlines()[2:])]
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return rows, text


def test_voucher_embeds_a_real_chinese_font_and_the_holders_name(app, tmp_path):
    # rule: DOC-1 -- the holder's Chinese name is printed in an embedded font (never boxes), and a
    # character outside the common-characters cut (堃, 𠮷) comes from the full Noto Sans CJK SC.
    from blueprints.core import issuance
    from models import Voucher, db
    from tests.factories import make_application, make_world

    w = make_world()
    make_application(w.enterprise, w.supplier, w.cycle, stage="approved", users=w.users)
    db.session.commit()
    v = db.session.execute(db.select(Voucher)).scalar_one()
    common = issuance.render_voucher_pdf(v)
    rows, text = _poppler(common, tmp_path, "common.pdf")
    assert w.enterprise.name in text.replace(" ", "")
    assert rows and all((emb, sub, uni) == ("yes", "yes", "yes") for _, emb, sub, uni in rows), rows
    names = {name.split("+", 1)[1] for name, *_ in rows}
    assert names == {"Noto-Sans-CJK-SC-Common", "Noto-Sans-CJK-SC-Common-Bold"}  # regular and a real bold
    assert len(common) < 150_000  # the full font's subset made every voucher ~310 KB

    w.enterprise.name = "广州堃𠮷精密制造有限公司"
    rare = issuance.render_voucher_pdf(v)
    rows, text = _poppler(rare, tmp_path, "rare.pdf")
    assert "广州堃𠮷精密制造有限公司" in text.replace(" ", "")
    assert all((emb, uni) == ("yes", "yes") for _, emb, _, uni in rows), rows
    assert "Noto-Sans-CJK-SC" in {name.split("+", 1)[1] for name, *_ in rows}


def test_common_font_is_built_once_from_the_system_font(tmp_path):
    from fontTools.ttLib import TTFont

    paths = pdf.build_fonts(tmp_path)
    assert [p.name for p in paths] == [pdf.font_path(400, tmp_path).name, pdf.font_path(700, tmp_path).name]
    stamps = [p.stat().st_mtime_ns for p in paths]
    assert pdf.build_fonts(tmp_path) == paths and [p.stat().st_mtime_ns for p in paths] == stamps
    font = TTFont(paths[0], lazy=True)
    cmap = font.getBestCmap()
    assert all(ord(ch) in cmap for ch in "广东省工业和信息化厅服务券壹贰叁肆伍陆柒捌玖拾佰仟万亿元整¥，。（）A-z0")
    assert len(font.getGlyphOrder()) < 10_000  # small ids: each document's subset stays cheap
