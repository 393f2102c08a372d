"""Invoices read themselves: the QR code and the PDF text layer of an uploaded VAT invoice (SET-1).

What is read is what the uploader's file says, never proof: it pre-fills the invoice row and each typed figure
that disagrees with it is flagged (mismatches), for a person to look at.

- QR code (shared/INVOICE-QR.md): one comma line, 01,<kind>,<code>,<number>,<amount before tax>,<YYYYMMDD>,
  <check code>[,<internal>]. Decoded with zxing-cpp (a maintained PyPI wheel, 2 MB, no system library, no
  numpy). On 144 harsh synthetic photos (2-6 px modules, 0-20° turned, blurred, JPEG 70) it read 36, ZBar
  (pyzbar + libzbar0) 22, OpenCV's QRCodeDetectorAruco 23 and QRCodeDetector 8, at 4 ms a photo against
  27-54 ms. It is imported lazily; without it, read() still returns the PDF text.
- PDF: the text layer of the first two pages (pypdf) gives the number, date, 价税合计 and the SELLER's name and
  USCC; the QR comes from the images embedded in those pages, and when none holds one (some issuers draw the
  QR as vectors) from the first page rendered by pypdfium2.
- Images (JPEG/PNG photos): downscaled to at most 2,400 px on the long side before decoding; a photo with no
  readable QR gives an empty Reading and the row is simply typed.

The QR amount is BEFORE tax (不含税金额); what is typed is 价税合计 (total with tax): see mismatches().
"""
from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import re
import signal
import threading
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from blueprints.core.money import yuan

log = logging.getLogger(__name__)

MAX_PDF_PAGES_READ = 2
MAX_IMAGES_PER_PAGE = 12
MAX_SIDE = 2400  # long side a photo is decoded at
MAX_PIXELS = 60_000_000  # refuse to decode anything bigger (uploads already cap photos at 40 MP)
RENDER_DPI = 200  # a page rendered for a vector-drawn QR: ~5 px per module for a 2 cm code
MAX_CONTENT_BYTES = 2_000_000  # a page's decoded drawing instructions; an invoice page has a few KB
READ_SECONDS = 5.0  # a reading that takes longer is given up (the row is typed by hand)
MAX_VAT_PERCENT = 13  # the highest VAT rate: 价税合计 <= 不含税金额 x 1.13


# --------------------------------------------------------------------------- the QR line


@dataclass(frozen=True)
class QrData:
    kind: str  # field 2: "01" 专票, "04" 普票, "10" 电子普票, "31"/"32" 数电…; unknown codes kept as read
    code: str  # 发票代码, "" when absent (全电发票)
    number: str  # 发票号码, 8 or 20 digits
    pretax_fen: int | None  # field 5: the amount BEFORE tax
    issued_on: dt.date | None
    check_code: str  # 校验码
    raw: str


_DIGITS = re.compile(r"\d+")


def _fen(text: str) -> int | None:
    s = text.strip().replace("¥", "").replace("￥", "").replace(",", "")
    if not re.fullmatch(r"-?\d{1,13}(\.\d{1,2})?", s):
        return None
    try:
        return int(Decimal(s) * 100)
    except InvalidOperation:  # pragma: no cover - the pattern rules it out
        return None


def _ymd(text: str) -> dt.date | None:
    if not re.fullmatch(r"\d{8}", text):
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def parse_qr(text: str) -> QrData | None:
    """The fields of an invoice QR line, or None when the text is not one.

    Lenient where real codes vary (trailing comma, missing check code or internal value, spaces, an unknown
    kind) and strict where a wrong reading would mislead: the version must be 01-09, the number 8 or 20 digits
    (other lengths up to 20 are kept), the code empty or digits; an amount or date that does not parse is None.
    """
    if not text or len(text) > 400:
        return None
    raw = text.strip().lstrip("\ufeff")
    fields = [f.strip() for f in raw.split(",")]
    while fields and fields[-1] == "":
        fields.pop()
    if len(fields) < 4 or not re.fullmatch(r"0\d", fields[0]):
        return None
    kind, code, number = fields[1], fields[2], fields[3]
    if not re.fullmatch(r"[0-9A-Za-z]{1,4}", kind) or not re.fullmatch(r"\d{0,12}", code):
        return None
    if not re.fullmatch(r"\d{8,20}", number):
        return None
    pretax = _fen(fields[4]) if len(fields) > 4 and fields[4] else None
    issued = _ymd(fields[5]) if len(fields) > 5 else None
    check = fields[6] if len(fields) > 6 and re.fullmatch(r"[0-9A-Za-z]{1,40}", fields[6]) else ""
    return QrData(kind=kind, code=code, number=number, pretax_fen=pretax, issued_on=issued, check_code=check,
                  raw=raw)


# --------------------------------------------------------------------------- what was read


@dataclass(frozen=True)
class Reading:
    qr: QrData | None
    number: str = ""
    code: str = ""
    issued_on: dt.date | None = None
    pretax_fen: int | None = None  # from the QR (or the text's 合计 line)
    total_fen: int | None = None  # 价税合计 from the PDF text layer
    seller_name: str = ""
    seller_uscc: str = ""
    sources: tuple[str, ...] = ()  # "qr", "text"

    @property
    def found(self) -> bool:
        return bool(self.qr or self.number or self.code or self.issued_on or self.pretax_fen is not None
                    or self.total_fen is not None or self.seller_name or self.seller_uscc)


EMPTY = Reading(qr=None)


# --------------------------------------------------------------------------- the text layer

_SP = r"[\s\u3000]*"  # spaces, full-width spaces and line breaks between a label and its value
_COLON = rf"{_SP}[:：]?{_SP}"
_RE_NUMBER = re.compile(rf"发{_SP}票{_SP}号{_SP}码{_COLON}(\d{{8,20}})")
_RE_CODE = re.compile(rf"发{_SP}票{_SP}代{_SP}码{_COLON}(\d{{10,12}})")
_RE_DATE = re.compile(rf"开{_SP}票{_SP}日{_SP}期{_COLON}(\d{{4}}){_SP}(?:年|-|/|\.){_SP}(\d{{1,2}}){_SP}"
                      rf"(?:月|-|/|\.){_SP}(\d{{1,2}})")
_AMOUNT = r"(-?[\d,]+\.\d{2})"
_RE_TOTAL = re.compile(rf"[(（]{_SP}小{_SP}写{_SP}[)）]{_COLON}[¥￥]?{_SP}{_AMOUNT}")
_RE_TOTAL_LOOSE = re.compile(rf"价{_SP}税{_SP}合{_SP}计[^¥￥\d]{{0,80}}?[¥￥]{_SP}{_AMOUNT}")
_RE_PRETAX = re.compile(rf"(?<!税){_SP}合{_SP}计{_SP}[¥￥]{_SP}{_AMOUNT}")
# A name ends at a space or the next label (text layers often glue them); 项目名称 is not a party.
_LABELS = r"统一社会信用代码|纳税人识别号|地\s*址|开户行|电\s*话|名\s*称|销售方|购买方|销方|购方"
_RE_NAME = re.compile(rf"(?<![目务])名{_SP}称{_SP}[:：]{_SP}(.+?)(?=[\s\u3000]|{_LABELS}|$)")
_RE_USCC = re.compile(rf"(?:统一社会信用代码{_SP}/?{_SP}纳税人识别号|统一社会信用代码|纳税人识别号)"
                      rf"{_COLON}([0-9A-Z]{{15,20}})")
_RE_SELLER = re.compile(r"销\s*售\s*方|销方|^销$", re.M)  # "销\n售\n方": labels set vertically
_RE_BUYER = re.compile(r"购\s*买\s*方|购方|^购$", re.M)


def _party_of(pos: int, sellers: list[int], buyers: list[int]) -> str:
    """'s' or 'b' for the nearest party label before pos, '' when none."""
    s = max((p for p in sellers if p < pos), default=-1)
    b = max((p for p in buyers if p < pos), default=-1)
    if s < 0 and b < 0:
        return ""
    return "s" if s > b else "b"


def _seller(matches: list[re.Match], sellers: list[int], buyers: list[int]) -> str:
    """The seller's value among the 名称 (or USCC) values of both parties.

    Marked by the nearest 销售方/购买方 label before each value when those tell them apart; otherwise (the
    labels of a side-by-side layout both come before both values) the buyer comes first, the seller second.
    """
    if not matches:
        return ""
    parties = [_party_of(m.start(), sellers, buyers) for m in matches]
    if "s" in parties and "b" in parties:
        return matches[parties.index("s")].group(1)
    if len(matches) >= 2:
        return matches[1].group(1)
    return matches[0].group(1) if parties[0] == "s" else ""


def parse_text(text: str) -> dict:
    """Fields found in an invoice's text layer (keys only for what was found)."""
    out: dict = {}
    if not text:
        return out
    if m := _RE_NUMBER.search(text):
        out["number"] = m.group(1)
    if m := _RE_CODE.search(text):
        out["code"] = m.group(1)
    if m := _RE_DATE.search(text):
        try:
            out["issued_on"] = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            pass
    if (m := _RE_TOTAL.search(text) or _RE_TOTAL_LOOSE.search(text)) and (fen := _fen(m.group(1))) is not None:
        out["total_fen"] = fen
    if (m := _RE_PRETAX.search(text)) and (fen := _fen(m.group(1))) is not None:
        out["pretax_fen"] = fen
    sellers = [m.start() for m in _RE_SELLER.finditer(text)]
    buyers = [m.start() for m in _RE_BUYER.finditer(text)]
    name = _seller(list(_RE_NAME.finditer(text)), sellers, buyers).strip("：: ")
    if name:
        out["seller_name"] = name[:200]
    uscc = _seller(list(_RE_USCC.finditer(text)), sellers, buyers)
    if uscc:
        out["seller_uscc"] = uscc.upper()
    return out


# --------------------------------------------------------------------------- decoding


def _decoder():
    """zxingcpp, or None when it is not installed (the PDF text is still read)."""
    try:
        import zxingcpp
    except ImportError:
        log.warning("zxing-cpp is not installed: invoice QR codes are not read")
        return None
    return zxingcpp


def _fit(img):
    """The image in a mode the decoder takes, at most MAX_SIDE on the long side."""
    from PIL import Image

    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB") if img.mode in ("RGBA", "P", "CMYK", "LA") else img.convert("L")
    if max(img.size) > MAX_SIDE:
        img = img.copy()
        img.thumbnail((MAX_SIDE, MAX_SIDE), Image.LANCZOS)
    return img


def _qr_in(img) -> QrData | None:
    """The first invoice QR line in a PIL image (None when there is none, or no decoder)."""
    zx = _decoder()
    if zx is None or min(img.size) < 21:
        return None
    img = _fit(img)
    try:
        found = zx.read_barcodes(img, formats=zx.BarcodeFormat.QRCode)
    except Exception:  # noqa: BLE001 - a decoder error is "no QR"
        log.info("QR decoder failed on a %sx%s image", *img.size, exc_info=True)
        return None
    for barcode in found:
        qr = parse_qr(barcode.text)
        if qr is not None:
            return qr
    return None


def _open_image(data: bytes):
    from PIL import Image, ImageOps

    img = Image.open(io.BytesIO(data))
    if img.width * img.height > MAX_PIXELS:
        raise ValueError("image too large")
    if img.format == "JPEG":
        img.draft("RGB", (MAX_SIDE, MAX_SIDE))  # decode at 1/2, 1/4 or 1/8 scale: fast on 12 MP photos
    img.load()
    return ImageOps.exif_transpose(img)


def _read_image(data: bytes) -> Reading:
    qr = _qr_in(_open_image(data))
    return _combine(qr, {})


def _xobject(page, key):
    """The image XObject behind a pypdf image key ("/Im1", or a list through nested forms); None for inline."""
    obj = page
    for name in key if isinstance(key, (list, tuple)) else [key]:
        if name.startswith("~"):  # an inline image: tiny by nature, never a QR worth reading
            return None
        obj = obj["/Resources"].get_object()["/XObject"].get_object()[name].get_object()
    return obj


def _pdf_images(page):
    """The images placed on a page (PIL), skipping tiny and huge ones, at most MAX_IMAGES_PER_PAGE."""
    images = page.images
    for key in list(images.keys())[:MAX_IMAGES_PER_PAGE]:
        try:
            xobj = _xobject(page, key)
            if xobj is None:
                continue
            w, h = int(xobj.get("/Width", 0)), int(xobj.get("/Height", 0))
            if w < 21 or h < 21 or w * h > MAX_PIXELS:
                continue
            yield images[key].image
        except Exception:  # noqa: BLE001 - one broken image does not stop the others
            log.info("skipped an unreadable image in an invoice PDF", exc_info=True)


def _render_qr(data: bytes, pages: int) -> QrData | None:
    """Render the first pages with pdfium and look for the QR there (vector-drawn codes)."""
    try:
        import pypdfium2 as pdfium
    except ImportError:
        return None
    doc = pdfium.PdfDocument(data)
    try:
        for index in range(min(pages, len(doc))):
            page = doc[index]
            w, h = page.get_size()
            scale = min(RENDER_DPI / 72, MAX_SIDE / max(w, h, 1))
            qr = _qr_in(page.render(scale=scale, grayscale=True).to_pil())
            if qr is not None:
                return qr
    finally:
        doc.close()
    return None


def _content_size(page) -> int:
    """The decoded size of a page's content stream(s)."""
    try:
        contents = page.get_contents()
        return len(contents.get_data()) if contents is not None else 0
    except Exception:  # noqa: BLE001
        return MAX_CONTENT_BYTES + 1


class _TooSlow(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Stop a read that takes longer than `seconds` (SIGALRM: only in the main thread, which is where
    gunicorn's sync workers serve requests; elsewhere the size limits alone bound the work)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def stop(signum, frame):
        raise _TooSlow()

    import time

    previous = signal.signal(signal.SIGALRM, stop)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:  # someone else's alarm (a watchdog) was pending: put back what is left of it
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 0.001))


def _read_pdf(data: bytes) -> Reading:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        return EMPTY
    pages = [reader.pages[i] for i in range(min(MAX_PDF_PAGES_READ, len(reader.pages)))]
    text_parts = []
    qr = None
    for page in pages:
        if _content_size(page) > MAX_CONTENT_BYTES:
            return EMPTY  # an invoice page is a few KB of drawing; megabytes are not worth reading (time)
        try:
            text_parts.append(page.extract_text() or "")
        except Exception:  # noqa: BLE001
            log.info("no text layer read from an invoice PDF page", exc_info=True)
        if qr is None and _decoder() is not None:
            for img in _pdf_images(page):
                if (qr := _qr_in(img)) is not None:
                    break
    if qr is None and _decoder() is not None:
        try:
            qr = _render_qr(data, len(pages))
        except Exception:  # noqa: BLE001
            log.info("could not render an invoice PDF page", exc_info=True)
    return _combine(qr, parse_text("\n".join(text_parts)))


def _combine(qr: QrData | None, text: dict) -> Reading:
    """One Reading: the QR's own fields first, the text for the rest."""
    sources = tuple(s for s, present in (("qr", qr is not None), ("text", bool(text))) if present)
    q = qr or QrData(kind="", code="", number="", pretax_fen=None, issued_on=None, check_code="", raw="")
    return Reading(
        qr=qr,
        number=q.number or text.get("number", ""),
        code=q.code or text.get("code", ""),
        issued_on=q.issued_on or text.get("issued_on"),
        pretax_fen=q.pretax_fen if q.pretax_fen is not None else text.get("pretax_fen"),
        total_fen=text.get("total_fen"),
        seller_name=text.get("seller_name", ""),
        seller_uscc=text.get("seller_uscc", ""),
        sources=sources,
    )


def read(data: bytes, mime: str) -> Reading:
    """What an invoice file (PDF, JPEG or PNG) says about itself. Never raises; an empty Reading when nothing
    is readable. Bounded: photos are decoded at most MAX_SIDE px wide, PDFs on their first two pages."""
    try:
        if not data:
            return EMPTY
        with _time_limit(READ_SECONDS):
            if mime == "application/pdf" or (not mime and data.startswith(b"%PDF-")):
                return _read_pdf(data)
            if mime in ("image/jpeg", "image/png") or (not mime and data[:4] in (b"\xff\xd8\xff\xe0", b"\x89PNG")):
                return _read_image(data)
        return EMPTY
    except (Exception, _TooSlow):  # noqa: BLE001 - a file that cannot be read is just typed by hand
        log.info("invoice file not readable (%s, %d bytes)", mime, len(data or b""), exc_info=True)
        return EMPTY


# --------------------------------------------------------------------------- comparing with what was typed


def _digits(text: str | None) -> str:
    return "".join(_DIGITS.findall(text or ""))


def _where(reading: Reading, field: str) -> str:
    """Which part of the file a figure came from, for the message."""
    qr = reading.qr
    if qr is not None and getattr(qr, field, None) == getattr(reading, field) and getattr(qr, field) not in ("", None):
        return "发票二维码所载"
    return "发票所载"


def _with_max_vat(pretax_fen: int) -> int:
    """pretax x (1 + 13%), rounded up to the fen (away from zero for a negative, red-letter invoice)."""
    n = pretax_fen * (100 + MAX_VAT_PERCENT)
    return -(-n // 100) if n >= 0 else n // 100


def mismatches(reading: Reading, *, number: str, code: str, issued_on, total_fen, seller_uscc: str) -> list[str]:
    """One Chinese message per typed figure that disagrees with what the invoice file says.

    Only what the reading has is compared, and only what was typed (an empty field is left to the
    "required" checks). Number and code compare their digits; the date exactly; the USCC upper-cased.
    The amount: with the text layer's 价税合计, the typed total must equal it; with only the QR's amount
    (before tax), the typed 价税合计 must lie between it and it x 1.13 rounded up (VAT at most 13%).
    """
    out: list[str] = []
    typed = _digits(number)
    if reading.number and typed and typed != _digits(reading.number):
        out.append(f"发票号码 {typed} 与{_where(reading, 'number')} {reading.number} 不一致")
    typed = _digits(code)
    if reading.code and typed and typed != _digits(reading.code):
        out.append(f"发票代码 {typed} 与{_where(reading, 'code')} {reading.code} 不一致")
    if reading.issued_on and issued_on and issued_on != reading.issued_on:
        out.append(f"开票日期 {issued_on:%Y-%m-%d} 与{_where(reading, 'issued_on')} {reading.issued_on:%Y-%m-%d} 不一致")
    typed = re.sub(r"\s", "", seller_uscc or "").upper()
    if reading.seller_uscc and typed and typed != reading.seller_uscc.upper():
        out.append(f"销售方统一社会信用代码 {typed} 与发票所载 {reading.seller_uscc.upper()} 不一致")
    if total_fen is not None:
        if reading.total_fen is not None:
            if total_fen != reading.total_fen:
                out.append(f"价税合计 {yuan(total_fen)} 与发票所载价税合计 {yuan(reading.total_fen)} 不一致")
        elif reading.pretax_fen is not None:
            low, high = sorted((reading.pretax_fen, _with_max_vat(reading.pretax_fen)))
            if not low <= total_fen <= high:
                from_qr = _where(reading, "pretax_fen") == "发票二维码所载"
                said = (f"发票二维码所载金额 {yuan(reading.pretax_fen)} 不符：二维码金额为不含税金额，" if from_qr
                        else f"发票所载不含税金额 {yuan(reading.pretax_fen)} 不符：")
                out.append(f"价税合计 {yuan(total_fen)} 与{said}价税合计应在 {yuan(low)} 至 {yuan(high)} 之间"
                           f"（税率不超过 {MAX_VAT_PERCENT}%）")
    return out
