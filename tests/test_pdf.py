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
