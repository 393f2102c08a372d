"""Uploads: PDF, JPEG or PNG only, checked by content, size-limited, stored by SHA-256 (DOC-3),
and served only to those who may see the record they belong to (ROLE-8).
"""
from __future__ import annotations

import hashlib
import io
import os
import stat
import zlib
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject
from werkzeug.datastructures import FileStorage

from blueprints.core.uploads import UploadError, check, read_bytes, save_upload, store_bytes
from models import RegStatus, Role, StoredFile, db
from tests.factories import make_enterprise, make_user

# rule: DOC-3


# --------------------------------------------------------------------------- sample files


def _pdf(mutate=None) -> bytes:
    w = PdfWriter()
    page = w.add_blank_page(595, 842)
    if mutate:
        mutate(w, page)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def _weasy_pdf() -> bytes:
    from weasyprint import HTML

    return HTML(string="<p>合同 Contract 2026</p>").write_pdf()


def _png(size=(40, 30), color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def _jpeg_with_exif(orientation: int | None = None) -> bytes:
    img = Image.new("RGB", (64, 32), (20, 120, 220))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0131] = "tracking-software 1.0"  # Software
    if orientation:
        exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes(), quality=90)
    return buf.getvalue()


def _with_js(w, page):
    from pypdf.actions import JavaScript

    w.add_open_action(JavaScript("app.alert('hi');"))


def _with_names_js(w, page):
    js = DictionaryObject({NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert(1)")})
    tree = DictionaryObject({NameObject("/Names"): ArrayObject([TextStringObject("a"), w._add_object(js)])})
    w._root_object[NameObject("/Names")] = DictionaryObject({NameObject("/JavaScript"): w._add_object(tree)})


def _with_open_action(w, page):
    w._root_object[NameObject("/OpenAction")] = ArrayObject([page.indirect_reference, NameObject("/Fit")])


def _with_page_aa(w, page):
    page[NameObject("/AA")] = DictionaryObject()


def _with_launch(w, page):
    action = DictionaryObject({NameObject("/S"): NameObject("/Launch"), NameObject("/F"): TextStringObject("calc.exe")})
    page[NameObject("/Annots")] = ArrayObject([w._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/Link"),
        NameObject("/Rect"): ArrayObject([]), NameObject("/A"): action}))])


def _with_attachment(w, page):
    w.add_attachment("payload.exe", b"MZ\x90\x00")


def _encrypted(w, page):
    w.encrypt("secret")


def _with_file_annotation(w, page):
    # an embedded executable reached through a page annotation, not the catalog's /Names (F6)
    from pypdf.generic import DecodedStreamObject

    payload = DecodedStreamObject()
    payload.set_data(b"MZ\x90\x00")
    payload[NameObject("/Type")] = NameObject("/EmbeddedFile")
    spec = DictionaryObject({NameObject("/Type"): NameObject("/Filespec"), NameObject("/F"): TextStringObject("a.exe"),
                             NameObject("/EF"): DictionaryObject({NameObject("/F"): w._add_object(payload)})})
    page[NameObject("/Annots")] = ArrayObject([w._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/FileAttachment"),
        NameObject("/Rect"): ArrayObject([]), NameObject("/FS"): w._add_object(spec)}))])


def _with_stream(w, page):
    from pypdf.generic import DecodedStreamObject

    stream = DecodedStreamObject()
    stream.set_data(b"q Q")
    w._root_object[NameObject("/Extra")] = w._add_object(stream)


def _unterminated_stream() -> bytes:
    # an object read only by the active-content walk, whose stream has no end marker (found by F17)
    data = _pdf(_with_stream)
    assert data.count(b"endstream") == 1
    return data.replace(b"/Length 3", b"/Length 9").replace(b"endstream", b"endstrXam")


def _with_rich_media(w, page):
    page[NameObject("/Annots")] = ArrayObject([w._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/RichMedia"),
        NameObject("/Rect"): ArrayObject([])}))])


def _upload(name: str, data: bytes, **kw) -> StoredFile:
    kw.setdefault("kind", "contract")
    kw.setdefault("owner_type", "enterprise")
    kw.setdefault("owner_id", 1)
    kw.setdefault("user_id", None)
    return save_upload(FileStorage(stream=io.BytesIO(data), filename=name), **kw)


def _stored_files(app) -> list[Path]:
    root = Path(app.config["UPLOAD_DIR"])
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# --------------------------------------------------------------------------- accepted


@pytest.mark.parametrize("name, maker, mime", [
    ("合同.pdf", _pdf, "application/pdf"),
    ("contract.PDF", _weasy_pdf, "application/pdf"),
    ("photo.png", _png, "image/png"),
    ("scan.jpg", _jpeg_with_exif, "image/jpeg"),
    ("scan.jpeg", _jpeg_with_exif, "image/jpeg"),
])
def test_real_files_are_accepted_and_stored_by_sha256(app, name, maker, mime):
    data = maker()
    f = _upload(name, data)
    db.session.commit()
    assert f.mime == mime and f.original_name == name
    stored = read_bytes(f)
    assert f.sha256 == hashlib.sha256(stored).hexdigest() and f.size == len(stored)
    path = Path(app.config["UPLOAD_DIR"]) / f.sha256[:2] / f.sha256
    assert path.is_file() and path.read_bytes() == stored
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert _stored_files(app) == [path]  # no temp file left behind
    if mime == "application/pdf":
        assert stored == data  # PDFs are kept byte for byte


def test_images_are_reencoded_without_exif(app):
    data = _jpeg_with_exif()
    assert b"SecretCam" in data
    f = _upload("photo.jpg", data)
    stored = read_bytes(f)
    assert b"SecretCam" not in stored and b"tracking-software" not in stored
    with Image.open(io.BytesIO(stored)) as img:
        assert img.format == "JPEG" and img.size == (64, 32)
        assert not dict(img.getexif())


def test_phone_photo_is_turned_upright(app):
    f = _upload("phone.jpg", _jpeg_with_exif(orientation=6))  # rotated 90°: 64x32 shows as 32x64
    with Image.open(io.BytesIO(read_bytes(f))) as img:
        assert img.size == (32, 64)


def test_jpeg_comment_is_dropped_on_reencoding(app):
    # R28, F6: a script in a JPEG comment segment is not written back by the re-encoding
    buf = io.BytesIO()
    Image.new("RGB", (32, 16), (1, 2, 3)).save(buf, "JPEG", comment=b"<?php system($_GET['c']); ?>")
    assert b"<?php" in buf.getvalue()
    f = _upload("comment.jpg", buf.getvalue())
    assert b"<?php" not in read_bytes(f)


def test_png_polyglot_tail_is_dropped(app):
    data = _png() + b"<html><script>alert(1)</script></html>PK\x03\x04"
    f = _upload("x.png", data)
    stored = read_bytes(f)
    assert b"<script>" not in stored and b"PK\x03\x04" not in stored
    assert stored.startswith(b"\x89PNG\r\n\x1a\n")


def test_same_file_twice_is_stored_once(app):
    data = _pdf()
    a = _upload("a.pdf", data)
    b = _upload("b.pdf", data)
    assert a.sha256 == b.sha256 and a.id != b.id
    assert len(_stored_files(app)) == 1


@pytest.mark.parametrize("name, kept", [
    ("../../etc/passwd.pdf", "passwd.pdf"),
    ("C:\\Users\\王\\合同.pdf", "合同.pdf"),
    ("/abs/path/x.pdf", "x.pdf"),
])
def test_original_name_is_reduced_to_a_base_name(app, name, kept):
    f = _upload(name, _pdf())
    assert f.original_name == kept
    assert all(p.resolve().is_relative_to(Path(app.config["UPLOAD_DIR"]).resolve()) for p in _stored_files(app))


# --------------------------------------------------------------------------- refused


REFUSED = [
    ("contract.docx", lambda: _pdf(), "只能上传 PDF、JPG 或 PNG 文件"),
    ("contract.exe", lambda: b"MZ\x90\x00", "只能上传"),
    ("noext", lambda: _pdf(), "只能上传"),
    ("contract.pdf.exe", lambda: _pdf(), "只能上传"),
    ("text.pdf", lambda: "这是一份合同，不是 PDF。".encode(), "文件内容与扩展名不符"),
    ("late.pdf", lambda: b"\n" + _pdf(), "文件内容与扩展名不符"),
    ("late2.pdf", lambda: b"    %PDF-1.7\n" + _pdf()[9:], "文件内容与扩展名不符"),
    ("page.pdf", lambda: b"<html><body>hi</body></html>" + _pdf(), "文件内容与扩展名不符"),
    ("js.pdf", lambda: _pdf(_with_js), "PDF 含有脚本"),
    ("names-js.pdf", lambda: _pdf(_with_names_js), "PDF 含有脚本"),
    ("open.pdf", lambda: _pdf(_with_open_action), "PDF 含有脚本"),
    ("aa.pdf", lambda: _pdf(_with_page_aa), "PDF 含有脚本"),
    ("launch.pdf", lambda: _pdf(_with_launch), "PDF 含有脚本"),
    ("attach.pdf", lambda: _pdf(_with_attachment), "PDF 含有脚本"),
    ("annot-file.pdf", lambda: _pdf(_with_file_annotation), "PDF 含有脚本"),  # R28, F6
    ("rich-media.pdf", lambda: _pdf(_with_rich_media), "PDF 含有脚本"),  # R28, F6
    ("locked.pdf", lambda: _pdf(_encrypted), "PDF 文件已加密"),
    ("broken.pdf", lambda: b"%PDF-1.7\n%garbage without objects\n%%EOF", "文件不是有效的 PDF"),
    ("broken-object.pdf", _unterminated_stream, "文件不是有效的 PDF"),  # F17: was a crash
    ("half.pdf", lambda: _pdf()[:200], "PDF"),
    ("truncated.png", lambda: _png((200, 200))[:60], "文件不是有效的图片"),
    ("truncated.jpg", lambda: _jpeg_with_exif()[:300], "文件不是有效的图片"),
    ("empty.pdf", lambda: b"", "文件为空"),
    ("vector.png", lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
     "文件内容与扩展名不符"),
    ("png-as.jpg", lambda: _png(), "文件内容与扩展名不符"),
    ("jpg-as.png", lambda: _jpeg_with_exif(), "文件内容与扩展名不符"),
    ("gif.png", lambda: b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "文件内容与扩展名不符"),
]


@pytest.mark.parametrize("name, maker, message", REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_uploads_leave_nothing_behind(app, name, maker, message):
    with pytest.raises(UploadError) as info:
        _upload(name, maker())
    assert message in str(info.value)
    db.session.commit()
    assert db.session.execute(db.select(db.func.count(StoredFile.id))).scalar_one() == 0
    assert _stored_files(app) == []


def test_no_file_chosen(app):
    with pytest.raises(UploadError, match="请选择文件"):
        save_upload(FileStorage(stream=io.BytesIO(b""), filename=""), kind="x", owner_type="enterprise",
                    owner_id=1, user_id=None)


def test_over_the_size_limit(app):
    app.config["MAX_UPLOAD_BYTES"] = 2048
    noisy = Image.frombytes("RGB", (64, 64), os.urandom(64 * 64 * 3))
    buf = io.BytesIO()
    noisy.save(buf, "PNG")
    big = buf.getvalue()
    assert len(big) > 2048
    with pytest.raises(UploadError, match="文件超过"):
        _upload("big.png", big)
    assert _stored_files(app) == []
    small = _png((8, 8))
    assert len(small) < 2048
    assert _upload("small.png", small).size > 0


def test_request_body_over_max_content_length_is_413(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    r = client.post("/login", data={"username": "x", "password": "y" * 4096})
    assert r.status_code == 413
    assert "上传的内容过大" in r.get_data(as_text=True)


def test_check_ignores_the_client_content_type(app):
    # the declared type plays no part: only the name's extension and the bytes
    storage = FileStorage(stream=io.BytesIO(b"%PDF-not really"), filename="x.pdf", content_type="application/pdf")
    with pytest.raises(UploadError):
        save_upload(storage, kind="x", owner_type="enterprise", owner_id=1, user_id=None)
    mime, _ = check("x.png", _png())
    assert mime == "image/png"


def test_decompression_bomb_refused(app):
    buf = io.BytesIO()
    Image.new("1", (10000, 10000)).save(buf, "PNG")  # 100 Mpx, a few KB on disk
    with pytest.raises(UploadError, match="图片尺寸过大"):
        _upload("bomb.png", buf.getvalue())


# --------------------------------------------------------------------------- who may download


def test_file_of_an_enterprise_is_served_only_to_those_who_may_see_it(app, login_as):
    # rule: ROLE-8 -- another organisation or another city gets 404, never the bytes
    e = make_enterprise(status=RegStatus.CITY_REVIEW, city_code="440100")
    owner = make_user(Role.ENTERPRISE, enterprise_id=e.id)
    f = store_bytes(_png(), mime="image/png", name="营业执照.png", kind="license", owner_type="enterprise",
                    owner_id=e.id, user_id=owner.id)
    db.session.commit()
    url = f"/files/{f.id}"
    body = read_bytes(f)

    def client_for(role, **scope):
        c, _ = login_as(role, **scope)
        return c

    from tests.conftest import _login  # noqa: PLC0415

    own = app.test_client()
    _login(own, owner)
    allowed = {
        "owner": own,
        "city officer of the same city": client_for(Role.CITY, city_code="440100"),
        "operator for the same city": client_for(Role.OPERATOR, city_code="440100"),
        "province": client_for(Role.PROVINCE),
        "operator for the province": client_for(Role.OPERATOR),
    }
    denied = {
        "another enterprise": client_for(Role.ENTERPRISE),
        "a supplier": client_for(Role.SUPPLIER),
        "another city": client_for(Role.CITY, city_code="440300"),
        "operator for another city": client_for(Role.OPERATOR, city_code="440300"),
        "an expert": client_for(Role.EXPERT),
    }
    for who, c in allowed.items():
        r = c.get(url)
        assert r.status_code == 200, who
        assert r.data == body, who
    for who, c in denied.items():
        for headers in ({}, {"HX-Request": "true"}):
            r = c.get(url, headers=headers)
            assert r.status_code in (403, 404), who
            assert body not in r.data, who
    anon = app.test_client().get(url)
    assert anon.status_code == 302 and "/login" in anon.headers["Location"]


def test_draft_enterprise_file_hidden_from_its_city(app, login_as):
    # a draft profile is not yet submitted: the city does not see it or its files
    e = make_enterprise(status=RegStatus.DRAFT, city_code="440100")
    f = store_bytes(_png(), mime="image/png", name="x.png", kind="license", owner_type="enterprise",
                    owner_id=e.id, user_id=None)
    db.session.commit()
    c, _ = login_as(Role.CITY, city_code="440100")
    assert c.get(f"/files/{f.id}").status_code == 404


def test_file_without_a_known_owner_is_never_served(app, login_as):
    # rule: ROLE-8 -- fails closed: an unknown owner type or a missing owner means 404 for everyone
    orphan = store_bytes(_png(), mime="image/png", name="x.png", kind="x", owner_type="nobody_knows",
                         owner_id=1, user_id=None)
    missing = store_bytes(_pdf(), mime="application/pdf", name="y.pdf", kind="x", owner_type="enterprise",
                          owner_id=987654, user_id=None)
    db.session.commit()
    c, _ = login_as(Role.PROVINCE)
    assert c.get(f"/files/{orphan.id}").status_code == 404
    assert c.get(f"/files/{missing.id}").status_code == 404
    assert c.get("/files/123456789").status_code == 404


def test_inline_preview_keeps_the_sandbox(app, login_as):
    c, user = login_as(Role.ENTERPRISE)
    f = store_bytes(_png(), mime="image/png", name="x.png", kind="x", owner_type="enterprise",
                    owner_id=user.enterprise_id, user_id=user.id)
    db.session.commit()
    r = c.get(f"/files/{f.id}?inline=1")
    assert r.status_code == 200 and r.headers["Content-Disposition"].startswith("inline;")
    assert "sandbox" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"


# --------------------------------------------------------------------------- PDF tails, deflate bombs, names (R28, R29, R30)


def _pdf_with_stream(payload: bytes) -> bytes:
    """A one-page PDF carrying `payload` as a /FlateDecode stream object, written as is."""
    from pypdf.generic import NumberObject, StreamObject

    w = PdfWriter()
    w.add_blank_page(595, 842)
    stream = StreamObject()
    stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    stream[NameObject("/Length")] = NumberObject(len(payload))
    stream._data = payload
    w._root_object[NameObject("/Extra")] = w._add_object(stream)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def _deflate_zeros(n: int) -> bytes:
    z = zlib.compressobj(9)
    block = b"\0" * (1 << 20)
    out = [z.compress(block) for _ in range(n // len(block))]
    return b"".join(out) + z.flush()


@pytest.mark.parametrize("tail", [
    b"<html><script>alert(1)</script></html>",
    b"PK\x03\x04 a zip file appended",
    b"\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",  # a half-written incremental update
])
def test_data_after_the_last_eof_is_cut(app, tail):
    # R28: a polyglot tail after the PDF's end is not kept
    good = _pdf()
    assert good.rstrip().endswith(b"%%EOF")
    f = _upload("tail.pdf", good + tail)
    stored = read_bytes(f)
    assert stored == good and tail not in stored
    assert f.size == len(good) and f.sha256 == hashlib.sha256(good).hexdigest()


def test_pdf_without_an_end_marker_is_refused(app):
    # R27: a PDF cut short (no %%EOF) is not a whole file
    with pytest.raises(UploadError, match="文件不是有效的 PDF"):
        _upload("cut.pdf", _pdf().replace(b"%%EOF", b"%%EOX"))
    assert _stored_files(app) == []


def test_deflate_bomb_is_refused_quickly_without_inflating_it_all(app):
    # R29: a 200 MB stream packed into ~200 KB is refused after inflating at most the bound, in small
    # steps (peak memory stays far below the stream's size)
    import time
    import tracemalloc

    data = _pdf_with_stream(_deflate_zeros(200 * 1024 * 1024))
    assert len(data) < 1024 * 1024
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(UploadError, match="解压后过大"):
            _upload("bomb.pdf", data)
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 5, elapsed
    assert peak < 16 * 1024 * 1024, peak
    assert _stored_files(app) == []


def test_a_twice_deflated_bomb_is_refused(app):
    # R29, F6: /Filter [/FlateDecode /FlateDecode]: the outer level inflates to 200 KB of deflate data, the
    # inner one to 200 MB; every level is inflated in turn, bounded
    data = _pdf_with_stream(zlib.compress(_deflate_zeros(200 * 1024 * 1024), 9))
    assert len(data) < 64 * 1024
    with pytest.raises(UploadError, match="解压后过大"):
        _upload("bomb2.pdf", data)
    assert _stored_files(app) == []


def test_a_twice_deflated_ordinary_stream_is_accepted(app):
    # R29: nesting alone is not refused
    data = _pdf_with_stream(zlib.compress(zlib.compress(b"BT /F1 12 Tf (ok) Tj ET" * 100)))
    assert _upload("nested.pdf", data).size == len(data)


def test_a_bound_stream_is_accepted_and_the_bound_is_configurable(app):
    # R29: an ordinary compressed stream passes; the same stream over a lowered bound does not
    data = _pdf_with_stream(_deflate_zeros(2 * 1024 * 1024))
    assert _upload("fine.pdf", data).size == len(data)
    app.config["MAX_PDF_STREAM_BYTES"] = 1024 * 1024
    with pytest.raises(UploadError, match="解压后过大"):
        _upload("over.pdf", data)


def test_many_streams_together_are_bounded(app):
    # R29: ten streams each under the per-stream bound, together over the total bound
    from pypdf.generic import NumberObject, StreamObject

    app.config["MAX_PDF_STREAM_BYTES"] = 4 * 1024 * 1024
    app.config["MAX_PDF_INFLATED_BYTES"] = 8 * 1024 * 1024
    payload = _deflate_zeros(2 * 1024 * 1024)
    w = PdfWriter()
    w.add_blank_page(595, 842)
    for i in range(5):
        stream = StreamObject()
        stream[NameObject("/Filter")] = NameObject("/FlateDecode")
        stream[NameObject("/Length")] = NumberObject(len(payload))
        stream._data = payload
        w._root_object[NameObject(f"/Extra{i}")] = w._add_object(stream)
    buf = io.BytesIO()
    w.write(buf)
    with pytest.raises(UploadError, match="解压后过大"):
        _upload("many.pdf", buf.getvalue())


BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
        "\u200e", "\u200f", "\u061c"]


@pytest.mark.parametrize("name, kept", [
    ("发票\u202egnp.pdf", "发票gnp.pdf"),  # would show as 发票fdp.png
    ("合同" + "".join(BIDI) + ".pdf", "合同.pdf"),
    ("a\x00b\x07c\x1b[31m\n\r\t.pdf", "abc[31m.pdf"),
    ("zero\u200bwidth\ufeff.pdf", "zerowidth.pdf"),
    ("line\u2028break\u2029.pdf", "linebreak.pdf"),
])
def test_control_and_bidi_characters_are_stripped_from_stored_names(app, name, kept):
    # R30: the user's file name is kept only as clean metadata
    f = _upload(name, _pdf())
    assert f.original_name == kept
    assert not any(c in f.original_name for c in BIDI)


def test_a_right_to_left_override_cannot_hide_an_executable(app):
    # R27, R30: "合同\u202efdp.exe" reads as 合同exe.pdf; its real extension decides
    with pytest.raises(UploadError, match="只能上传"):
        _upload("合同\u202efdp.exe", _pdf())


def test_safe_filename_edge_cases():
    # R30
    from blueprints.core.uploads import safe_filename

    assert safe_filename("\u202e") == "" and safe_filename("..") == "" and safe_filename(None) == ""
    assert safe_filename("C:\\x\\..\\名单.pdf") == "名单.pdf"
    long = "合" * 300 + ".pdf"
    assert len(safe_filename(long)) == 200 and safe_filename(long).endswith(".pdf")
