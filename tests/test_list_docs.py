"""The settlement list's documents (DOC-2): the PDF and the xlsx made by blueprints/core/list_docs.py from
plain rows (no database). The PDF is read back with pypdf (text through the fonts' ToUnicode maps)."""
from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from pypdf import PdfReader

from blueprints.core import list_docs
from blueprints.core.list_docs import ListHeader, ListRow
from blueprints.core.money import yuan

TITLE = "广州市2026年第1期结算清单（第 1 批）"
STATUS = "公示期：2026-12-01 至 2026-12-08"
GENERATED = dt.datetime(2026, 12, 1, 2, 5, tzinfo=dt.timezone.utc)  # 10:05 in Beijing
LONG = "广东省广州市番禺区华祥瑞丰智能装备制造科技股份有限公司第二分公司（广州）供应链管理进出口贸易研究院有限公司"
RARE = "广州市喆犇珺科技有限公司"  # 喆犇珺 are outside GB 2312: drawn from the full system font
SURNAMES = "华祥瑞丰泰鑫宏达聚源德盛恒通隆兴嘉润远航"


def header(**kw) -> ListHeader:
    return ListHeader(**{"title": TITLE, "city": "广州市", "period_label": "2026年第1期", "status_line": STATUS,
                         "generated_at": GENERATED, **kw})


def make_rows(n: int) -> list[ListRow]:
    rows = []
    for i in range(1, n + 1):
        enterprise = f"广州{SURNAMES[i % len(SURNAMES)]}{SURNAMES[i * 7 % len(SURNAMES)]}科技有限公司"
        if i == 7:
            enterprise = LONG
        elif i == 11:
            enterprise = RARE
        face = 100_000 * (i % 9 + 1) + i
        bonus = 20_000_000 if i % 13 == 0 else 0
        rows.append(ListRow(i, enterprise, f"云服务商{i % 5}有限公司", f"GZ-2026-{i:06d}", face, bonus, face + bonus,
                            i % 10 == 3))
    return rows


@pytest.fixture(scope="module")
def rows() -> list[ListRow]:
    return make_rows(120)


@pytest.fixture(scope="module")
def pdf(rows):
    calls = []
    data = list_docs.render_pdf(header(), rows, progress=lambda done, total: calls.append((done, total)))
    return {"data": data, "reader": PdfReader(io.BytesIO(data)), "calls": calls}


def texts(reader) -> list[str]:
    return [page.extract_text() for page in reader.pages]


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_header_and_page_numbers_on_every_page(pdf):
    # rule: DOC-2 -- A4, Chinese, title, city, period, status and "第 X 页 / 共 Y 页" on every page
    reader = pdf["reader"]
    pages = texts(reader)
    n = len(pages)
    assert n >= 3
    for i, text in enumerate(pages, 1):
        assert TITLE in text
        assert "地市：广州市" in text and "结算期：2026年第1期" in text and STATUS in text
        assert "生成时间：2026-12-01 10:05（北京时间）" in text  # Beijing time
        assert f"第 {i} 页 / 共 {n} 页" in text
        assert all(h in text for h in ("序号", "企业名称", "服务商名称", "服务券编号", "面值", "两化融合贯标奖补",
                                       "应付金额", "试点"))  # the column headings repeat on every page
    for page in reader.pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert (round(width), round(height)) == (842, 595)  # A4 landscape


def test_rows_in_order_with_money_and_pilot_mark(pdf, rows):
    # rule: DOC-2 -- every entry, in submission order, money as ¥1,234.56, the 试点 mark
    pages = texts(pdf["reader"])
    whole = flat("".join(pages))
    positions = [whole.find(r.voucher_code) for r in rows]
    assert -1 not in positions
    assert positions == sorted(positions)
    one_line = 0
    for r in rows:
        line = next(ln for ln in "\n".join(pages).splitlines() if r.voucher_code in ln)
        if r.enterprise in line:  # a one-line row: the whole entry on one line of text
            one_line += 1
            assert line.split()[0] == str(r.seq)
            assert f"{yuan(r.face_fen)} {yuan(r.bonus_fen)} {yuan(r.amount_fen)}" in line
            assert line.rstrip().endswith("试点") == r.pilot
    assert one_line >= len(rows) - 2
    assert "¥20,000,000.00" not in whole and "¥200,000.00" in whole  # bonuses: fen shown as 元
    assert "¥5,000.13" in whole  # row 13: face 500,013 fen


def test_totals_on_the_last_page_only(pdf, rows):
    # rule: DOC-2 -- the totals (entries, face, bonus, amount) on the last page
    pages = texts(pdf["reader"])
    assert all("合计" not in text for text in pages[:-1])
    last = pages[-1]
    pilots = sum(r.pilot for r in rows)
    assert f"合计：共 {len(rows)} 项（其中试点 {pilots} 项）" in last
    sums = [yuan(sum(r.face_fen for r in rows)), yuan(sum(r.bonus_fen for r in rows)),
            yuan(sum(r.amount_fen for r in rows))]
    assert " ".join(sums) in last


def test_long_and_rare_names_wrap_without_loss(pdf):
    # rule: DOC-2 -- long names wrap in their cell; no character is cut or lost
    whole = flat("".join(texts(pdf["reader"])))
    assert LONG in whole
    assert RARE in whole  # characters outside the common font come from the full system font


def test_a_row_taller_than_a_page_continues_rather_than_being_cut():
    # rule: DOC-2 -- never cut silently, even for absurd input
    name = "超长名称" * 400
    data = list_docs.render_pdf(header(), [ListRow(1, name, "服务商", "GZ-2026-000001", 100, 0, 100, False)])
    pages = texts(PdfReader(io.BytesIO(data)))
    assert len(pages) > 1
    assert flat("".join(pages)).count("超长名称") == 400


def test_wrapping_keeps_every_character_within_the_width():
    fonts = list_docs._Fonts()
    text = "广州（南沙）Very Long Company Name 科技发展有限公司，第二分公司。GD-ABCD-EFGH-IJKL-MNOP" * 3
    limit = 120.0
    lines = fonts.wrap(text, limit, 8)
    assert len(lines) > 3
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    for line in lines:
        assert fonts.width(line, 8) <= limit + 1e-6
        assert line[0] not in "，。）"  # no closing mark starts a line
        assert line[-1] not in "（"  # no opening mark ends one


def test_empty_list():
    # rule: DOC-2 -- a list without entries is one page saying so
    data = list_docs.render_pdf(header(status_line="草稿（未公示）"), [])
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    assert TITLE in text and "草稿（未公示）" in text
    assert "本清单没有条目" in text and "第 1 页 / 共 1 页" in text
    assert "合计：共 0 项" in text


def test_fonts_embedded_and_another_engine_reads_it(pdf):
    reader = pdf["reader"]
    fonts = reader.pages[0]["/Resources"]["/Font"]
    for ref in fonts.values():
        font = ref.get_object()
        assert "/ToUnicode" in font
        descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
        assert "/FontFile3" in descriptor or "/FontFile2" in descriptor  # embedded, never a system look-up
        assert re.match(r"/[A-Z]{6}\+", font["/BaseFont"])  # a subset
    pdfium = pytest.importorskip("pypdfium2")
    doc = pdfium.PdfDocument(pdf["data"])
    try:
        assert len(doc) == len(reader.pages)
        text = doc[0].get_textpage().get_text_range()
        assert TITLE in text
    finally:
        doc.close()


def test_progress_is_reported(pdf, rows):
    calls = pdf["calls"]
    assert calls and calls[-1] == (len(rows), len(rows))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_same_rows_same_bytes(rows):
    assert list_docs.render_pdf(header(), rows[:30]) == list_docs.render_pdf(header(), rows[:30])


def test_xlsx(rows, tmp_path):
    # rule: DOC-2 -- the same list as xlsx: the rows, exact amounts in 元, totals and a 说明 sheet
    from openpyxl import load_workbook

    rows = rows + [ListRow(121, "=HYPERLINK(\"http://x\")", "#N/A 服务商", "GZ-2026-000121", 1, 0, 1, False)]
    path = tmp_path / "list.xlsx"
    list_docs.write_xlsx(header(), rows, str(path))
    wb = load_workbook(path)
    assert wb.sheetnames == ["结算清单", "说明"]
    ws = wb["结算清单"]
    values = list(ws.iter_rows(values_only=True))
    assert values[0][0] == TITLE
    assert values[1] == ("序号", "企业名称", "服务商名称", "服务券编号", "面值（元）", "两化融合贯标奖补（元）",
                         "应付金额（元）", "试点")
    data, totals = values[2:-1], values[-1]
    assert len(data) == len(rows)
    for r, v in zip(rows, data):
        assert v[:4] == (r.seq, r.enterprise, r.supplier, r.voucher_code)
        for cell, fen in zip(v[4:7], (r.face_fen, r.bonus_fen, r.amount_fen)):
            assert Decimal(str(cell)) == Decimal(fen) / 100  # exact, in 元
        assert (v[7] == "是") == r.pilot
    formula = ws.cell(row=len(rows) + 2, column=2)
    assert formula.data_type == "s"  # a name that looks like a formula stays text
    assert ws.cell(row=3, column=5).number_format == "#,##0.00"
    assert totals[0] == "合计"
    assert Decimal(str(totals[4])) == Decimal(sum(r.face_fen for r in rows)) / 100
    assert Decimal(str(totals[5])) == Decimal(sum(r.bonus_fen for r in rows)) / 100
    assert Decimal(str(totals[6])) == Decimal(sum(r.amount_fen for r in rows)) / 100
    info = dict(wb["说明"].iter_rows(values_only=True))
    assert info["标题"] == TITLE and info["地市"] == "广州市" and info["结算期"] == "2026年第1期"
    assert info["状态"] == STATUS
    assert info["生成时间（北京时间）"] == dt.datetime(2026, 12, 1, 10, 5)
    assert info["条目数"] == len(rows) and info["其中试点条目数"] == sum(r.pilot for r in rows)


def test_xlsx_empty(tmp_path):
    from openpyxl import load_workbook

    path = tmp_path / "empty.xlsx"
    list_docs.write_xlsx(header(), [], str(path))
    values = list(load_workbook(path)["结算清单"].iter_rows(values_only=True))
    assert len(values) == 3 and values[-1][0] == "合计" and values[-1][4] == 0
