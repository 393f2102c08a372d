"""Invoices read themselves: the QR line, the PDF text layer, photos, and what disagrees with the typed row."""
from __future__ import annotations

import datetime as dt
import sys

import pytest

from blueprints.core import invoice_read
from blueprints.core.invoice_read import QrData, Reading, mismatches, parse_qr, read
from blueprints.core.uploads import check
from tests.invoice_fixtures import invoice_pdf, invoice_photo, qr_line, unreadable_photo

NUMBER = "24442000000012345678"
DAY = dt.date(2026, 3, 5)
SELLER = "广州某某科技有限公司"
SELLER_USCC = "91440101MA5XXXXXX1"
BUYER_USCC = "91440300MA5FAKE01X"
INVOICE = dict(number=NUMBER, issued_on=DAY, seller_name=SELLER, seller_uscc=SELLER_USCC, buyer_uscc=BUYER_USCC,
               pretax_fen=10_000_000, total_fen=11_300_000, kind="31")


@pytest.fixture(scope="module")
def pdf_file() -> bytes:
    return invoice_pdf(**INVOICE)


def test_the_decoder_is_installed():
    """Not skipped when missing: without it no QR code is read anywhere."""
    import zxingcpp  # noqa: F401  (pip install -r requirements.txt)
    import pypdfium2  # noqa: F401

    assert invoice_read._decoder() is not None


# --------------------------------------------------------------------------- the QR line


@pytest.mark.parametrize("line, expected", [
    ("01,10,011001605111,80100798,64.9,20161018,85342965681116380258",
     QrData("10", "011001605111", "80100798", 6490, dt.date(2016, 10, 18), "85342965681116380258",
            "01,10,011001605111,80100798,64.9,20161018,85342965681116380258")),
    ("01,01,1200154130,03630024,94339.62,20160621,,9335,",
     QrData("01", "1200154130", "03630024", 9433962, dt.date(2016, 6, 21), "",
            "01,01,1200154130,03630024,94339.62,20160621,,9335,")),
    ("01,04,4200161350,00015045,165106.00,20160501,48114255542168294433,DBFE,",
     QrData("04", "4200161350", "00015045", 16510600, dt.date(2016, 5, 1), "48114255542168294433",
            "01,04,4200161350,00015045,165106.00,20160501,48114255542168294433,DBFE,")),
])
def test_parse_qr_reads_the_documented_examples(line, expected):
    assert parse_qr(line) == expected


def test_parse_qr_fully_digital_invoice_has_no_code_and_20_digits():
    qr = parse_qr("01,31,,24442000000012345678,100000.00,20260305,,")
    assert qr is not None
    assert (qr.kind, qr.code, qr.number, qr.pretax_fen, qr.issued_on, qr.check_code) == (
        "31", "", NUMBER, 10_000_000, DAY, "")


def test_parse_qr_is_lenient_about_trailing_commas_and_missing_optional_fields():
    assert parse_qr("01,10,011001605111,80100798,64.90,20161018,,,,").number == "80100798"
    short = parse_qr("01,04,4200161350,00015045")
    assert short is not None and short.pretax_fen is None and short.issued_on is None
    assert parse_qr(" 01,99,,12345678,1.00,20260101 \n").kind == "99"  # an unknown kind is kept and shown
    bad_fields = parse_qr("01,10,,12345678,abc,20261399,")
    assert bad_fields.pretax_fen is None and bad_fields.issued_on is None


@pytest.mark.parametrize("junk", [
    "", "hello", "https://inv-veri.chinatax.gov.cn/", "01,10", "01,10,0110,8010", "02;10;0110016051;80100798",
    "01,10,abc,80100798,64.9,20161018", "01,10,,1234567,64.9,20161018", "x" * 1000,
])
def test_parse_qr_refuses_what_is_not_an_invoice_line(junk):
    assert parse_qr(junk) is None


def test_qr_line_helper_round_trips():
    line = qr_line("80100798", 6490, dt.date(2016, 10, 18), code="011001605111")
    assert line == "01,10,011001605111,80100798,64.90,20161018,85342965681116380258,"
    assert parse_qr(line).pretax_fen == 6490


# --------------------------------------------------------------------------- reading files


def test_read_invoice_pdf_takes_qr_and_text_and_the_seller_not_the_buyer(app, pdf_file):
    # rule: SET-1
    mime, data = check("发票.pdf", pdf_file)
    r = read(data, mime)
    assert r.found and r.sources == ("qr", "text")
    assert r.qr is not None and r.qr.kind == "31" and r.qr.number == NUMBER
    assert (r.number, r.code, r.issued_on) == (NUMBER, "", DAY)
    assert r.pretax_fen == 10_000_000  # the QR: before tax
    assert r.total_fen == 11_300_000  # the text: 价税合计（小写）
    assert (r.seller_name, r.seller_uscc) == (SELLER, SELLER_USCC)
    assert mismatches(r, number=NUMBER, code="", issued_on=DAY, total_fen=11_300_000, seller_uscc=SELLER_USCC) == []


@pytest.mark.parametrize("layout", ["side", "stacked"])
def test_read_pdf_with_an_invoice_code_and_either_layout(layout):
    r = read(invoice_pdf(**{**INVOICE, "number": "80100798", "code": "044001900111", "kind": "10"}, layout=layout),
             "application/pdf")
    assert (r.number, r.code, r.qr.code) == ("80100798", "044001900111", "044001900111")
    assert (r.seller_name, r.seller_uscc) == (SELLER, SELLER_USCC)


def test_read_pdf_whose_qr_is_drawn_as_vectors():
    r = read(invoice_pdf(**INVOICE, qr="vector"), "application/pdf")
    assert r.qr is not None and r.qr.number == NUMBER and r.qr.pretax_fen == 10_000_000


def test_read_pdf_without_qr_still_reads_the_text():
    r = read(invoice_pdf(**INVOICE, qr=False), "application/pdf")
    assert r.qr is None and r.sources == ("text",)
    assert (r.number, r.issued_on, r.total_fen, r.seller_uscc) == (NUMBER, DAY, 11_300_000, SELLER_USCC)
    assert r.pretax_fen == 10_000_000  # the text's 合计 line


def test_read_pdf_text_when_the_decoder_is_missing(monkeypatch, pdf_file):
    monkeypatch.setitem(sys.modules, "zxingcpp", None)  # import zxingcpp -> ImportError
    r = read(pdf_file, "application/pdf")
    assert r.qr is None and r.sources == ("text",)
    assert (r.number, r.total_fen, r.seller_name) == (NUMBER, 11_300_000, SELLER)


@pytest.mark.parametrize("fmt, name", [("PNG", "发票.png"), ("JPEG", "发票.jpg")])
def test_read_photo_after_upload_reencoding(app, fmt, name):
    # rule: SET-1
    raw = invoice_photo(**INVOICE, fmt=fmt)
    mime, data = check(name, raw)
    assert fmt == "PNG" or data != raw  # what is stored and read is the checker's re-encoding
    r = read(data, mime)
    assert r.sources == ("qr",) and r.qr.kind == "31"
    assert (r.number, r.code, r.issued_on, r.pretax_fen, r.total_fen) == (NUMBER, "", DAY, 10_000_000, None)
    assert r.qr.check_code == "85342965681116380258"


def test_read_photo_of_an_older_invoice_with_a_code():
    r = read(invoice_photo(number="80100798", code="011001605111", issued_on=dt.date(2016, 10, 18),
                           pretax_fen=6490, kind="10", fmt="JPEG"), "image/jpeg")
    assert (r.number, r.code, r.pretax_fen) == ("80100798", "011001605111", 6490)


def test_unreadable_photo_gives_an_empty_reading(app):
    mime, data = check("photo.jpg", unreadable_photo())
    r = read(data, mime)
    assert r == Reading(qr=None) and not r.found


@pytest.mark.parametrize("data, mime", [
    (b"%PDF-1.7\n garbage \x00\xff" * 50, "application/pdf"),
    (b"", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "image/png"),
    (b"\xff\xd8\xff\xe0 not a jpeg", "image/jpeg"),
    (b"plain text", "text/plain"),
])
def test_garbage_never_raises(data, mime):
    assert read(data, mime) == Reading(qr=None)


def test_truncated_pdf_never_raises(pdf_file):
    r = read(pdf_file[: len(pdf_file) // 2], "application/pdf")
    assert isinstance(r, Reading)


# --------------------------------------------------------------------------- comparing with the typed row


def _qr_only(pretax_fen=10_000_000) -> Reading:
    qr = parse_qr(qr_line(NUMBER, pretax_fen, DAY, kind="31"))
    return invoice_read._combine(qr, {})


TYPED = dict(number=NUMBER, code="", issued_on=DAY, total_fen=11_300_000, seller_uscc=SELLER_USCC)


def test_mismatch_number_and_code_compare_digits():
    r = invoice_read._combine(parse_qr(qr_line("80100798", 6490, DAY, code="011001605111")), {})
    ok = dict(TYPED, number=" 8010 0798 ", code="0110-0160-5111", total_fen=7000)
    assert mismatches(r, **ok) == []
    assert mismatches(r, **dict(ok, number="87654321")) == ["发票号码 87654321 与发票二维码所载 80100798 不一致"]
    assert mismatches(r, **dict(ok, code="011001605112")) == [
        "发票代码 011001605112 与发票二维码所载 011001605111 不一致"]


def test_mismatch_date_and_seller_uscc():
    r = invoice_read._combine(parse_qr(qr_line(NUMBER, 10_000_000, DAY)),
                              {"seller_uscc": SELLER_USCC, "total_fen": 11_300_000})
    assert mismatches(r, **dict(TYPED, seller_uscc=SELLER_USCC.lower())) == []
    assert mismatches(r, **dict(TYPED, issued_on=dt.date(2026, 3, 6))) == [
        "开票日期 2026-03-06 与发票二维码所载 2026-03-05 不一致"]
    assert mismatches(r, **dict(TYPED, seller_uscc=BUYER_USCC)) == [
        f"销售方统一社会信用代码 {BUYER_USCC} 与发票所载 {SELLER_USCC} 不一致"]


def test_mismatch_total_against_the_text_total_is_exact():
    r = invoice_read._combine(None, {"total_fen": 11_300_000, "number": NUMBER})
    assert mismatches(r, **TYPED) == []
    assert mismatches(r, **dict(TYPED, total_fen=11_299_999)) == [
        "价税合计 ¥112,999.99 与发票所载价税合计 ¥113,000.00 不一致"]
    assert mismatches(r, **dict(TYPED, number="24442000000012345679")) == [
        f"发票号码 24442000000012345679 与发票所载 {NUMBER} 不一致"]


@pytest.mark.parametrize("typed_total, flagged", [
    (10_000_000, False),  # tax-free
    (10_600_000, False),  # 6%
    (11_300_000, False),  # 13%, the highest rate
    (9_999_999, True),    # less than the amount before tax
    (11_300_001, True),   # more than 13% on top
])
def test_mismatch_total_against_the_qr_amount_before_tax(typed_total, flagged):
    found = mismatches(_qr_only(), **dict(TYPED, total_fen=typed_total))
    if not flagged:
        assert found == []
        return
    (message,) = found
    assert "发票二维码所载金额 ¥100,000.00" in message and "不含税" in message
    assert f"价税合计 ¥{typed_total // 100:,}.{typed_total % 100:02d}" in message
    assert "¥100,000.00 至 ¥113,000.00" in message


def test_mismatch_vat_ceiling_rounds_up_to_the_fen():
    r = _qr_only(pretax_fen=6490)  # 64.90 x 1.13 = 73.337 -> 73.34
    assert mismatches(r, **dict(TYPED, total_fen=7334)) == []
    assert len(mismatches(r, **dict(TYPED, total_fen=7335))) == 1


def test_mismatch_compares_only_what_was_read_and_typed():
    assert mismatches(Reading(qr=None), **TYPED) == []
    r = _qr_only()
    assert mismatches(r, number="", code="123", issued_on=None, total_fen=None, seller_uscc="X") == []


def test_mismatch_on_a_whole_file_lists_each_figure(pdf_file):
    r = read(pdf_file, "application/pdf")
    found = mismatches(r, number="12345678", code="", issued_on=dt.date(2026, 3, 1), total_fen=10_000_000,
                       seller_uscc=BUYER_USCC)
    assert [m.split(" ")[0] for m in found] == ["发票号码", "开票日期", "销售方统一社会信用代码", "价税合计"]


def _heavy_pdf(mb: int = 3) -> bytes:
    """A tiny file whose one page decodes to megabytes of drawing instructions (a slow-read bomb)."""
    import io
    import zlib

    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, NameObject

    w = PdfWriter()
    page = w.add_blank_page(width=595, height=842)
    stream = DecodedStreamObject()
    stream.set_data(b"0 0 m 1 1 l S\n" * (mb * 1_000_000 // 14))
    stream = stream.flate_encode()
    page[NameObject("/Contents")] = w._add_object(stream)
    out = io.BytesIO()
    w.write(out)
    data = out.getvalue()
    assert len(data) < 200_000 and zlib  # small on disk
    return data


def test_a_page_with_megabytes_of_drawing_is_not_read(app):
    import time

    data = _heavy_pdf()
    started = time.monotonic()
    reading = invoice_read.read(data, "application/pdf")
    assert not reading.found and time.monotonic() - started < 2


def test_a_read_that_takes_too_long_is_given_up(monkeypatch):
    import time

    monkeypatch.setattr(invoice_read, "READ_SECONDS", 0.2)
    monkeypatch.setattr(invoice_read, "_read_pdf", lambda data: time.sleep(5))
    started = time.monotonic()
    assert not invoice_read.read(b"%PDF-1.7 slow", "application/pdf").found
    assert time.monotonic() - started < 2
