"""Invoice files for tests: the QR line, an e-invoice PDF with a real Chinese text layer, and phone-like photos.

Made here, not shipped: every figure is the caller's, so a test states exactly what the file says.
The PDF is rendered by WeasyPrint with the project's CJK font setup (blueprints/core/pdf.py), its QR code a
segno PNG embedded as a data URI top-left (or drawn as vectors, as some issuers' PDFs are). The photo is drawn
with Pillow: the QR on an off-white sheet with paper noise and pen strokes, turned ~3°, mildly blurred.
"""
from __future__ import annotations

import datetime as dt
import html
import io
import random

import segno
from PIL import Image, ImageDraw, ImageFilter

_CAPITAL = "（大写金额）"  # the amount in words is not read; a placeholder keeps the line's shape
BUYER_NAME = "某某制造有限公司"
BUYER_USCC = "91440300MA5FAKE01X"
CHECK_CODE = "85342965681116380258"


def _yuan_plain(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def qr_line(number: str, pretax_fen: int, issued_on: dt.date, code: str = "", kind: str = "10",
            check_code: str = CHECK_CODE) -> str:
    """The comma line an invoice's QR code holds (see shared/INVOICE-QR.md), with the usual trailing comma."""
    return f"01,{kind},{code},{number},{_yuan_plain(pretax_fen)},{issued_on:%Y%m%d},{check_code},"


def _qr(number, pretax_fen, issued_on, code, kind):
    return segno.make(qr_line(number, pretax_fen, issued_on, code=code, kind=kind), error="m", micro=False)


# --------------------------------------------------------------------------- PDF


def _write_pdf(page_html: str) -> bytes:
    """WeasyPrint with the project's fonts; unlike the app's documents, data: URIs (our QR image) may load."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    from blueprints.core import pdf

    class DataOnly(URLFetcher):
        def fetch(self, url, headers=None):
            if url.startswith("data:"):
                return super().fetch(url, headers)
            raise pdf.BlockedFetch(url[:80])

    font_config, stylesheets = pdf._font_setup()
    return HTML(string=page_html, base_url=None, url_fetcher=DataOnly()).write_pdf(
        stylesheets=stylesheets, font_config=font_config)


def invoice_pdf(*, number: str, code: str = "", issued_on: dt.date, seller_name: str, seller_uscc: str,
                buyer_name: str = BUYER_NAME, buyer_uscc: str = BUYER_USCC, pretax_fen: int, total_fen: int,
                qr: bool | str = True, kind: str = "10", layout: str = "side") -> bytes:
    """A one-page e-invoice PDF (A5 landscape, like a 全电发票).

    qr: True (a PNG image), "vector" (drawn as SVG paths, no image), or False (no QR code).
    layout: "side" puts 购买方 and 销售方 side by side, as 全电发票 do; "stacked" puts the buyer above the seller.
    """
    from blueprints.core import pdf

    e = html.escape
    tax_fen = total_fen - pretax_fen
    if qr == "vector":
        qr_html = _qr(number, pretax_fen, issued_on, code, kind).svg_inline(scale=3, border=2)
    elif qr:
        qr_html = f'<img src="{_qr(number, pretax_fen, issued_on, code, kind).png_data_uri(scale=3, border=2)}">'
    else:
        qr_html = ""
    code_line = f"<div>发票代码：{e(code)}</div>" if code else ""
    buyer = f"<div class='party'><b>购买方信息</b><p>名称：{e(buyer_name)}</p><p>统一社会信用代码/纳税人识别号：{e(buyer_uscc)}</p></div>"
    seller = f"<div class='party'><b>销售方信息</b><p>名称：{e(seller_name)}</p><p>统一社会信用代码/纳税人识别号：{e(seller_uscc)}</p></div>"
    parties = (f"<div class='side'>{buyer}{seller}</div>" if layout == "side" else f"{buyer}{seller}")
    page_html = f"""<html style="font-family: {pdf.PDF_FONT_FAMILY}; font-size: 9pt"><head><style>
      @page {{ size: A5 landscape; margin: 10mm }}
      .head {{ display: flex; justify-content: space-between; align-items: flex-start }}
      .side {{ display: flex }} .party {{ flex: 1; border: 1px solid #a33; padding: 2mm; margin: 1mm }}
      p {{ margin: 1mm 0 }} h1 {{ font-size: 14pt; color: #a33; margin: 0 }}
    </style></head><body>
      <div class="head"><div class="qr">{qr_html}</div><h1>电子发票（普通发票）</h1>
        <div>{code_line}<div>发票号码：{e(number)}</div><div>开票日期：{issued_on.year}年{issued_on.month:02d}月{issued_on.day:02d}日</div></div>
      </div>
      {parties}
      <p>项目名称：*信息技术服务*工业互联网平台服务　金额 {_yuan_plain(pretax_fen)}　税率 {'6%' if tax_fen else '免税'}　税额 {_yuan_plain(tax_fen)}</p>
      <p>合　计　¥{_yuan_plain(pretax_fen)}　¥{_yuan_plain(tax_fen)}</p>
      <p>价税合计（大写）　{_CAPITAL}　（小写）¥{_yuan_plain(total_fen)}</p>
      <p>备注：上云上平台服务券兑现　开票人：张三</p>
    </body></html>"""
    return _write_pdf(page_html)


# --------------------------------------------------------------------------- photos


def _paper(size: tuple[int, int], seed: int) -> Image.Image:
    """An off-white, unevenly lit sheet with grain and a few pen strokes (no text)."""
    rnd = random.Random(seed)
    w, h = size
    # Uneven light (a gradient) with seeded grain, then a warm paper tint: the same picture every run.
    light = Image.linear_gradient("L").resize((w, h)).point(lambda v: 222 + v * 22 // 255)
    sheet = Image.blend(light, Image.frombytes("L", (w, h), rnd.randbytes(w * h)), 0.06)
    sheet = Image.merge("RGB", (sheet, sheet.point(lambda v: v - 3), sheet.point(lambda v: v - 9)))
    draw = ImageDraw.Draw(sheet)
    for _ in range(30):
        x, y = rnd.randrange(w), rnd.randrange(h)
        tone = rnd.randrange(150, 205)
        draw.line((x, y, x + rnd.randrange(-120, 120), y + rnd.randrange(-6, 6)), fill=(tone, tone, tone + 10),
                  width=rnd.choice((1, 2)))
    return sheet


def invoice_photo(*, number: str, code: str = "", issued_on: dt.date, pretax_fen: int, kind: str = "10",
                  fmt: str = "PNG", seed: int = 7, **_ignored) -> bytes:
    """A phone-photo-like picture of an invoice's top-left corner: its QR code among paper noise.

    Accepts the same keywords as invoice_pdf (seller, buyer and total are not drawn: a photo has no text
    layer and nothing here reads handwriting). fmt: "PNG" or "JPEG".
    """
    size = (1200, 900)
    sheet = _paper(size, seed)
    png = io.BytesIO()
    _qr(number, pretax_fen, issued_on, code, kind).save(png, kind="png", scale=5, border=0)
    modules = Image.open(png).convert("L").point(lambda v: 255 - v)  # the dark modules, as a mask
    sheet.paste((38, 36, 44), (120, 130), modules)  # printed on the paper itself: its quiet zone is paper
    draw = ImageDraw.Draw(sheet)
    draw.rectangle((90, 100, 1130, 830), outline=(170, 60, 60), width=3)  # the invoice's red frame
    photo = sheet.rotate(3, resample=Image.BICUBIC, fillcolor=(120, 118, 112))
    photo = photo.filter(ImageFilter.GaussianBlur(1.1))
    out = io.BytesIO()
    if fmt.upper() == "JPEG":
        photo.save(out, "JPEG", quality=82)
    else:
        photo.save(out, "PNG")
    return out.getvalue()


def unreadable_photo(fmt: str = "JPEG") -> bytes:
    """A plain photo of paper with no QR code on it."""
    photo = _paper((1000, 750), 3).rotate(2, resample=Image.BICUBIC, fillcolor=(120, 118, 112))
    photo = photo.filter(ImageFilter.GaussianBlur(1.0))
    out = io.BytesIO()
    photo.save(out, fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return out.getvalue()
