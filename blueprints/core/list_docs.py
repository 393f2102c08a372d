"""The settlement list (结算清单, DOC-2) as a PDF and an xlsx file, made from plain rows: no database, no Flask.

render_pdf(header, rows) -> bytes: A4 landscape, Simplified Chinese, on every page the title, city, period,
status line and generation time (Beijing time), the column headings and "第 X 页 / 共 Y 页"; the rows in the
order given; money as ¥1,234.56; the 试点 mark; on the last page only, the totals (entries, face, bonus, amount).
write_xlsx(header, rows, path): the same list as a streamed (write-only) workbook.

Why this PDF is not laid out by WeasyPrint. Measured on the project's 2-core machine (WeasyPrint 70, 500 rows
of the list's 8 cells): a fixed <table> 3.0 s of layout + 0.8 s of writing; the rows as blocks with floated
cells 3.0 + 0.9 s, inline-blocks 4.4 + 1.1 s, flex 11.3 + 0.8 s, absolutely placed cells 6.6 + 1.8 s; even one
text line per row (columns made with tabs) 1.3 s per 500 rows. WeasyPrint spends about 1 ms per text box in
Python whatever the layout, so 5,000 rows × 8 cells is some 40 s of CPU, which no chunking or pair of worker
processes brings to the 5 s goal. The list is a grid of fixed columns, so it is laid out here, in a
few hundred lines, in one process:

- text is measured with the advance widths of the same font files the WeasyPrint documents use
  (pdf.build_fonts(): Noto Sans CJK SC cut to GB 2312, regular and bold), looked up through HarfBuzz; a
  character outside them (a rare hanzi in a company name) comes from the full system Noto Sans CJK SC;
- each cell is wrapped to its column (CJK between any two characters, never a closing mark at a line start
  nor an opening one at a line end; Latin at spaces and after hyphens, a word longer than the column anywhere),
  so no text is ever cut or overflows its cell;
- every row's height is known before anything is drawn, so the pages are cut exactly, the totals are kept
  with the last page and "共 Y 页" is known when each page is drawn (a row taller than a page, impossible
  with real names, continues on the next page rather than being cut);
- the PDF is written with pydyf (WeasyPrint's own PDF writer) the way WeasyPrint embeds fonts: a Type 0 font
  over a CIDFontType0 with the font program as FontFile3/OpenType, subset once per document by HarfBuzz
  keeping glyph ids (Identity-H), with a ToUnicode map so the text can be searched, copied and tested.

5,000 rows: 0.8 s and 65 MB peak in a fresh process, 280 pages, 1 MB (scripts/bench/settlement_list.py).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import hashlib
import io
import logging
import re
import threading
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path

from blueprints.core.money import fen_to_decimal, yuan
from blueprints.core.timeutil import LOCAL_TZ

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ListRow:
    seq: int  # 序号 (submission order)
    enterprise: str  # 企业名称
    supplier: str  # 服务商名称
    voucher_code: str  # 服务券编号 as displayed
    face_fen: int  # 面值
    bonus_fen: int  # 两化融合贯标奖补 (0 if none, AMT-4)
    amount_fen: int  # 应付金额 = face + bonus (PAY-7)
    pilot: bool  # 试点


@dataclass(frozen=True)
class ListHeader:
    title: str  # e.g. "广州市2026年第1期结算清单（第 1 批）"
    city: str
    period_label: str  # "2026年第1期"
    status_line: str  # "公示期：2026-12-01 至 2026-12-08" or "草稿（未公示）"
    generated_at: dt.datetime  # aware; shown in Beijing time


# --------------------------------------------------------------------------- page geometry (points)

PAGE_W, PAGE_H = 841.89, 595.28  # A4 landscape
BODY_SIZE, LINE = 8.0, 10.5  # table text and its line pitch
PAD_X, PAD_Y = 3.0, 2.6  # cell padding
TITLE_SIZE, TITLE_LINE = 14.0, 19.0
META_SIZE, META_LINE = 8.5, 12.0
FOOT_SIZE = 8.0
NOTE_SIZE, NOTE_LINE = 7.5, 10.0
MARGIN_TOP, MARGIN_BOTTOM = 24.0, 34.0  # the footer sits in the bottom margin
FOOT_BASELINE = PAGE_H - 16.0  # from the top
GRID_GRAY, HEAD_GRAY, TOTAL_GRAY, NOTE_GRAY = 0.55, 0.92, 0.96, 0.3
EMPTY_TEXT = "本清单没有条目"
NOTE_TEXT = ("说明：按结算提交顺序排列；应付金额 = 面值 + 两化融合贯标奖补；金额单位为元。"
             "标“试点”的条目优先从试点资金支付。")


@dataclass(frozen=True)
class _Col:
    heading: str
    width: float
    align: str  # "l", "r" or "c"


COLUMNS = (
    _Col("序号", 34, "c"),
    _Col("企业名称", 200, "l"),
    _Col("服务商名称", 160, "l"),
    _Col("服务券编号", 118, "l"),
    _Col("面值", 78, "r"),
    _Col("两化融合贯标奖补", 78, "r"),
    _Col("应付金额", 84, "r"),
    _Col("试点", 34, "c"),
)
TABLE_W = sum(c.width for c in COLUMNS)
LEFT = (PAGE_W - TABLE_W) / 2
EDGES = [LEFT + sum(c.width for c in COLUMNS[:i]) for i in range(len(COLUMNS) + 1)]
MERGED = 4  # the totals' label spans the first four columns
PROGRESS_EVERY = 250  # rows between two progress() calls

# --------------------------------------------------------------------------- HarfBuzz (ctypes)

_lock = threading.RLock()
_hb_lib = None


class _HB:
    """The few HarfBuzz calls used here: nominal glyphs and advances, and subsetting (libharfbuzz-subset,
    optional: without it fontTools subsets, slower)."""

    def __init__(self):
        vp, u32 = ctypes.c_void_p, ctypes.c_uint32
        hb = _cdll("harfbuzz")
        for fn, res, args in (
            ("hb_blob_create_from_file", vp, [ctypes.c_char_p]),
            ("hb_face_create", vp, [vp, ctypes.c_uint]),
            ("hb_face_get_upem", ctypes.c_uint, [vp]),
            ("hb_face_get_glyph_count", ctypes.c_uint, [vp]),
            ("hb_font_create", vp, [vp]),
            ("hb_font_make_immutable", None, [vp]),
            ("hb_font_get_nominal_glyph", ctypes.c_int, [vp, u32, ctypes.POINTER(u32)]),
            ("hb_font_get_glyph_h_advance", ctypes.c_int32, [vp, u32]),
            ("hb_face_reference_blob", vp, [vp]),
            ("hb_blob_get_data", ctypes.POINTER(ctypes.c_char), [vp, ctypes.POINTER(ctypes.c_uint)]),
            ("hb_blob_destroy", None, [vp]),
            ("hb_face_destroy", None, [vp]),
            ("hb_set_add", None, [vp, u32]),
            ("hb_tag_from_string", u32, [ctypes.c_char_p, ctypes.c_int]),
        ):
            getattr(hb, fn).restype = res
            getattr(hb, fn).argtypes = args
        self.hb = hb
        try:
            hbs = _cdll("harfbuzz-subset")
            for fn, res, args in (
                ("hb_subset_input_create_or_fail", vp, []),
                ("hb_subset_input_glyph_set", vp, [vp]),
                ("hb_subset_input_set", vp, [vp, ctypes.c_int]),
                ("hb_subset_input_set_flags", None, [vp, ctypes.c_uint]),
                ("hb_subset_input_destroy", None, [vp]),
                ("hb_subset_or_fail", vp, [vp, vp]),
            ):
                getattr(hbs, fn).restype = res
                getattr(hbs, fn).argtypes = args
            self.hbs = hbs
        except (OSError, AttributeError):
            log.warning("libharfbuzz-subset missing: settlement list fonts are subset by fontTools (slower)")
            self.hbs = None


def _cdll(name: str):
    """The library by its usual soname first: ctypes.util.find_library runs ldconfig in a child process."""
    try:
        return ctypes.CDLL(f"lib{name}.so.0")
    except OSError:
        found = ctypes.util.find_library(name)
        if not found:
            raise
        return ctypes.CDLL(found)


def _hb() -> _HB:
    global _hb_lib
    if _hb_lib is None:
        with _lock:
            if _hb_lib is None:
                _hb_lib = _HB()
    return _hb_lib


# HarfBuzz subset flags and sets (hb-subset.h), as WeasyPrint subsets its fonts.
_RETAIN_GIDS, _NO_HINTING, _DESUBROUTINIZE, _PASSTHROUGH = 0x2, 0x1, 0x4, 0x20
_DROP_TABLE_TAG = 3
_DROP_TABLES = (b"BASE", b"DSIG", b"EBDT", b"EBLC", b"EBSC", b"GPOS", b"GSUB", b"JSTF", b"LTSH", b"PCLT", b"SVG ")


class _Face:
    """One font face (a file, or a face of a .ttc collection), opened once per process: HarfBuzz maps the
    file and answers glyph and advance look-ups; fontTools reads only the small tables the PDF needs."""

    def __init__(self, path: Path, index: int = 0):
        from fontTools.ttLib import TTFont

        self.path, self.index = Path(path), index
        h = _hb()
        blob = h.hb.hb_blob_create_from_file(str(self.path).encode())
        self._face = h.hb.hb_face_create(blob, index)
        h.hb.hb_blob_destroy(blob)  # the face keeps its own reference
        if not h.hb.hb_face_get_glyph_count(self._face):
            raise OSError(f"cannot read font {self.path}")
        self._font = h.hb.hb_font_create(self._face)
        h.hb.hb_font_make_immutable(self._font)
        self.upem = h.hb.hb_face_get_upem(self._face) or 1000
        tt = TTFont(str(self.path), fontNumber=index, lazy=True)
        self.cff = tt.sfntVersion == "OTTO"
        head, hhea, os2 = tt["head"], tt["hhea"], tt["OS/2"]
        k = 1000 / self.upem
        self.bbox = [round(v * k) for v in (head.xMin, head.yMin, head.xMax, head.yMax)]
        self.ascent, self.descent = round(hhea.ascent * k), round(hhea.descent * k)
        self.cap_height = round((getattr(os2, "sCapHeight", 0) or hhea.ascent) * k)
        self.ps_name = re.sub(r"[^A-Za-z0-9-]", "-", tt["name"].getDebugName(6) or self.path.stem)
        tt.close()

    def glyph(self, ch: str) -> tuple[int, float] | None:
        """(glyph id, advance in 1/1000 em) of a character, or None when the face lacks it."""
        h = _hb().hb
        out = ctypes.c_uint32()  # one per call: a face is shared by every thread of the process
        if not h.hb_font_get_nominal_glyph(self._font, ord(ch), ctypes.byref(out)):
            return None
        gid = out.value
        return gid, h.hb_font_get_glyph_h_advance(self._font, gid) * 1000 / self.upem

    def advance(self, gid: int) -> float:
        return _hb().hb.hb_font_get_glyph_h_advance(self._font, gid) * 1000 / self.upem

    def subset(self, gids: set[int]) -> bytes:
        """The font program with only these glyphs, glyph ids kept (as WeasyPrint does)."""
        h = _hb()
        if h.hbs is not None:
            request = h.hbs.hb_subset_input_create_or_fail()
            try:
                glyphs = h.hbs.hb_subset_input_glyph_set(request)
                for gid in sorted(gids | {0}):
                    h.hb.hb_set_add(glyphs, gid)
                drop = h.hbs.hb_subset_input_set(request, _DROP_TABLE_TAG)
                for tag in _DROP_TABLES:
                    h.hb.hb_set_add(drop, h.hb.hb_tag_from_string(tag, 4))
                h.hbs.hb_subset_input_set_flags(request, _RETAIN_GIDS | _PASSTHROUGH | _DESUBROUTINIZE | _NO_HINTING)
                face = h.hbs.hb_subset_or_fail(self._face, request)
                if face:
                    try:
                        blob = h.hb.hb_face_reference_blob(face)
                        length = ctypes.c_uint()
                        data = h.hb.hb_blob_get_data(blob, ctypes.byref(length))
                        content = ctypes.string_at(data, length.value)
                        h.hb.hb_blob_destroy(blob)
                    finally:
                        h.hb.hb_face_destroy(face)
                    if content:
                        return content
            finally:
                h.hbs.hb_subset_input_destroy(request)
        from fontTools import subset
        from fontTools.ttLib import TTFont

        options = subset.Options(retain_gids=True, passthrough_tables=True, ignore_missing_glyphs=True,
                                 hinting=False, desubroutinize=True, notdef_outline=True)
        options.drop_tables += ["GSUB", "GPOS", "SVG"]
        font = TTFont(str(self.path), fontNumber=self.index)
        subsetter = subset.Subsetter(options)
        subsetter.populate(gids=sorted(gids | {0}))
        subsetter.subset(font)
        out = io.BytesIO()
        font.save(out)
        return out.getvalue()


_faces: dict[tuple[str, int], _Face | None] = {}


def _face(path: Path, index: int = 0) -> _Face | None:
    key = (str(path), index)
    if key not in _faces:
        with _lock:
            if key not in _faces:
                try:
                    _faces[key] = _Face(path, index)
                except Exception as exc:  # noqa: BLE001 - a missing or broken font: try the next one
                    log.warning("settlement list: font %s unusable (%s)", path, exc)
                    _faces[key] = None
    return _faces[key]


_chains: dict[int, list[_Face]] = {}


def _chain(weight: int) -> list[_Face]:
    """The faces to draw text of this weight with, best first: the project's common-characters font
    (pdf.build_fonts), then the full system Noto Sans CJK SC, then the regular weight's faces.
    Found once per process (a chain without the common font is looked for again next time)."""
    from blueprints.core import pdf

    if weight in _chains:
        return _chains[weight]
    faces = []
    try:
        pdf.build_fonts()
        faces.append(_face(pdf.font_path(weight)))
    except Exception as exc:  # noqa: BLE001 - the full system font still serves
        log.warning("settlement list: common font unavailable (%s)", exc)
    try:
        system = pdf._system_face(weight)
    except Exception:  # noqa: BLE001
        system = None
    if system is not None:
        faces.append(_face(*system))
    if weight != 400:
        faces += _chain(400)
    faces = list(dict.fromkeys(f for f in faces if f is not None))
    if not faces:
        raise RuntimeError("没有可用的中文字体（需要 fonts-noto-cjk）")
    if faces[0].path == pdf.font_path(weight):
        _chains[weight] = faces
    return faces


# --------------------------------------------------------------------------- text: measuring and wrapping

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0\u2028\u2029]+")
_NO_START = frozenset("，。、；：！？）】》」』〕〉〗｝”’…—～·,.;:!?)]}%‰℃・ー")
_NO_END = frozenset("（【《「『〔〈〖｛“‘([{¥￥$")


def clean(text) -> str:
    """One line of text: control characters dropped, runs of spaces and newlines made one space."""
    return _SPACES.sub(" ", _CONTROL.sub(" ", str(text if text is not None else ""))).strip()


def _wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in "WF"


class _Fonts:
    """The fonts of one document: which face draws each character, and the glyphs used (to subset)."""

    def __init__(self):
        self.chains = {False: _chain(400), True: _chain(700)}
        self.cache: dict[bool, dict[str, tuple[_Face, int, float]]] = {False: {}, True: {}}
        self.used: dict[_Face, dict[int, str]] = {}
        self.names: dict[_Face, str] = {}
        self.missing: set[str] = set()

    def lookup(self, ch: str, bold: bool) -> tuple[_Face, int, float]:
        cache = self.cache[bold]
        hit = cache.get(ch)
        if hit is None:
            for face in self.chains[bold]:
                g = face.glyph(ch)
                if g is not None:
                    hit = (face, g[0], g[1])
                    break
            else:
                face = self.chains[bold][0]
                if unicodedata.category(ch) in ("Mn", "Me", "Cf", "Cs", "Co", "Cn") and ch != "\ufffd":
                    hit = (face, -1, 0.0)  # a mark or format character no font has: not drawn
                else:
                    hit = (face, 0, face.advance(0))  # .notdef: a visible box, never a silent gap
                    self.missing.add(ch)
            cache[ch] = hit
        return hit

    def advances(self, text: str, size: float, bold: bool = False) -> list[float]:
        cache = self.cache[bold]
        k = size / 1000
        return [(cache.get(ch) or self.lookup(ch, bold))[2] * k for ch in text]

    def width(self, text: str, size: float, bold: bool = False) -> float:
        return sum(self.advances(text, size, bold))

    def wrap(self, text: str, limit: float, size: float, bold: bool = False) -> list[str]:
        """Lines of text no wider than limit (points); a single character wider than limit stays whole."""
        if not text:
            return [""]
        adv = self.advances(text, size, bold)
        if sum(adv) <= limit:
            return [text]
        lines, n = [], len(text)
        start, width, brk, i = 0, 0.0, -1, 0
        while i < n:
            ch = text[i]
            if i > start and _breakable(text[i - 1], ch):
                brk = i
            if ch == " ":  # a space may hang past the edge: it is dropped at a break
                width += adv[i]
                i += 1
                continue
            if width + adv[i] > limit and i > start:
                cut = brk if brk > start else i
                lines.append(text[start:cut].rstrip(" "))
                start = cut
                while start < n and text[start] == " ":
                    start += 1
                width, brk = sum(adv[start:i]), -1
                i = max(i, start)
                continue
            width += adv[i]
            i += 1
        if start < n:
            lines.append(text[start:].rstrip(" "))
        return lines or [""]

    def name_of(self, face: _Face) -> str:
        name = self.names.get(face)
        if name is None:
            name = self.names[face] = f"F{len(self.names) + 1}"
            self.used[face] = {}
        return name


def _breakable(prev: str, ch: str) -> bool:
    """May a line end between prev and ch?"""
    if ch in _NO_START or prev in _NO_END or ch == " ":
        return False
    if prev == " ":
        return True
    if _wide(prev) or _wide(ch):
        return True
    return prev in "-/_" and ch.isalnum()


# --------------------------------------------------------------------------- drawing


def _f(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


class _Page:
    """The operators of one page: graphics first, then the text in one BT … ET."""

    def __init__(self, fonts: _Fonts):
        self.fonts = fonts
        self.fills: list[str] = []  # backgrounds
        self.gfx: list[str] = []  # grid lines
        self.txt: list[str] = []
        self._tf = None

    def text(self, x: float, top: float, s: str, size: float, bold: bool = False, gray: float = 0.0) -> None:
        """s with its em box's top at `top` (from the page's top), starting at x."""
        if not s:
            return
        baseline = PAGE_H - (top + 0.88 * size)
        fonts = self.fonts
        cache = fonts.cache[bold]
        k = size / 1000
        if gray:
            self.txt.append(f"{_f(gray)} g")
        run_face, run, run_x = None, [], x
        for ch in s:
            face, gid, adv = cache.get(ch) or fonts.lookup(ch, bold)
            if gid < 0:
                continue
            if face is not run_face:
                self._flush(run_face, run, run_x, baseline, size)
                run_face, run, run_x = face, [], x
            run.append((gid, ch))
            x += adv * k
        self._flush(run_face, run, run_x, baseline, size)
        if gray:
            self.txt.append("0 g")

    def _flush(self, face, run, x, baseline, size) -> None:
        if not run:
            return
        name = self.fonts.name_of(face)
        used = self.fonts.used[face]
        for gid, ch in run:
            if gid not in used:
                used[gid] = ch
        if self._tf != (name, size):
            self._tf = (name, size)
            self.txt.append(f"/{name} {_f(size)} Tf")
        self.txt.append(f"1 0 0 1 {_f(x)} {_f(baseline)} Tm <{''.join(f'{g:04x}' for g, _ in run)}> Tj")

    def aligned(self, left: float, right: float, top: float, s: str, size: float, align: str,
                bold: bool = False) -> None:
        if align == "l":
            x = left
        else:
            w = self.fonts.width(s, size, bold)
            x = right - w if align == "r" else (left + right - w) / 2
        self.text(x, top, s, size, bold)

    def hline(self, x1: float, x2: float, y: float) -> None:
        self.gfx.append(f"{_f(x1)} {_f(PAGE_H - y)} m {_f(x2)} {_f(PAGE_H - y)} l")

    def vline(self, x: float, y1: float, y2: float) -> None:
        self.gfx.append(f"{_f(x)} {_f(PAGE_H - y1)} m {_f(x)} {_f(PAGE_H - y2)} l")

    def fill(self, x: float, y: float, w: float, h: float, gray: float) -> None:
        self.fills.append(f"{_f(gray)} g {_f(x)} {_f(PAGE_H - y - h)} {_f(w)} {_f(h)} re f 0 g")

    def content(self) -> bytes:
        """Backgrounds, then the grid stroked once, then the text."""
        ops = self.fills + ["q", f"0.5 w {_f(GRID_GRAY)} G"] + self.gfx + ["S", "Q", "BT"] + self.txt + ["ET"]
        return "\n".join(ops).encode("ascii")


# --------------------------------------------------------------------------- layout


@dataclass
class _Piece:
    """A row (or, for a row taller than a page, part of one) as it is placed on a page."""

    seq_text: str
    cells: list[list[str]]  # lines per column
    height: float
    pilot: bool = False


def _cells(row: ListRow) -> list[str]:
    return [str(row.seq), clean(row.enterprise), clean(row.supplier), clean(row.voucher_code),
            yuan(row.face_fen), yuan(row.bonus_fen), yuan(row.amount_fen), "试点" if row.pilot else ""]


def _row_height(lines: int) -> float:
    return lines * LINE + 2 * PAD_Y


class _Layout:
    def __init__(self, header: ListHeader, rows: list[ListRow], fonts: _Fonts):
        self.header, self.rows, self.fonts = header, rows, fonts
        width = TABLE_W
        self.title_lines = fonts.wrap(clean(header.title), width, TITLE_SIZE, bold=True)
        when = header.generated_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
        left = "　　".join(x for x in (f"地市：{clean(header.city)}", f"结算期：{clean(header.period_label)}",
                                       clean(header.status_line)) if x)
        right = f"生成时间：{when}（北京时间）"
        if fonts.width(left, META_SIZE) + fonts.width(right, META_SIZE) + 3 * META_SIZE <= width:
            self.meta = [(left, right)]
        else:
            self.meta = [(line, "") for line in fonts.wrap(left, width, META_SIZE)] + [("", right)]
        self.table_top = MARGIN_TOP + len(self.title_lines) * TITLE_LINE + 2 + len(self.meta) * META_LINE + 4
        self.head_cells = [fonts.wrap(c.heading, c.width - 2 * PAD_X, BODY_SIZE, bold=True) for c in COLUMNS]
        self.head_h = _row_height(max(len(c) for c in self.head_cells))
        self.body_top = self.table_top + self.head_h
        self.bottom = PAGE_H - MARGIN_BOTTOM
        self.room = self.bottom - self.body_top  # for rows on every page
        # The totals: a row, then the note under the table.
        pilots = sum(1 for r in rows if r.pilot)
        self.total_label = f"合计：共 {len(rows)} 项" + (f"（其中试点 {pilots} 项）" if pilots else "")
        self.totals = [yuan(sum(r.face_fen for r in rows)), yuan(sum(r.bonus_fen for r in rows)),
                       yuan(sum(r.amount_fen for r in rows))]
        label_w = EDGES[MERGED] - EDGES[0] - 2 * PAD_X
        self.total_cells = [fonts.wrap(self.total_label, label_w, BODY_SIZE, bold=True)] + [
            fonts.wrap(t, COLUMNS[MERGED + i].width - 2 * PAD_X, BODY_SIZE, bold=True)
            for i, t in enumerate(self.totals)]
        self.total_h = _row_height(max(len(c) for c in self.total_cells))
        self.note_lines = fonts.wrap(NOTE_TEXT, TABLE_W, NOTE_SIZE)
        self.end_h = self.total_h + 4 + len(self.note_lines) * NOTE_LINE

    def pieces(self, row: ListRow) -> list[_Piece]:
        fonts = self.fonts
        cells = [fonts.wrap(text, col.width - 2 * PAD_X, BODY_SIZE) for text, col in zip(_cells(row), COLUMNS)]
        n = max(len(c) for c in cells)
        fit = max(1, int((self.room - 2 * PAD_Y) // LINE))
        if n <= fit:
            return [_Piece(str(row.seq), cells, _row_height(n), row.pilot)]
        out = []  # a row taller than a whole page: continued on the next page, never cut
        for k in range(0, n, fit):
            part = [c[k:k + fit] for c in cells]
            part[0] = [str(row.seq)] if k == 0 else ["（续）"]
            out.append(_Piece(part[0][0], part, _row_height(max(len(c) for c in part)), row.pilot))
        return out

    def paginate(self, progress=None) -> list[list[_Piece]]:
        pages: list[list[_Piece]] = [[]]
        used = 0.0
        total = len(self.rows)
        for i, row in enumerate(self.rows, 1):
            for piece in self.pieces(row):
                if used + piece.height > self.room and pages[-1]:
                    pages.append([])
                    used = 0.0
                pages[-1].append(piece)
                used += piece.height
            if progress is not None and i % PROGRESS_EVERY == 0:
                progress(i // 2, total)  # measuring is about half the work
        if not self.rows:
            pages[-1].append(_Piece("", [[EMPTY_TEXT]] + [[""]] * (len(COLUMNS) - 1), _row_height(1)))
            used = _row_height(1)
        if used + self.end_h > self.room:  # the totals stay with the last row(s)
            last = pages[-1]
            if len(last) > 1 and last[-1].height + self.end_h <= self.room:
                pages.append([last.pop()])
            else:
                pages.append([])
        return pages

    def draw(self, page: _Page, pieces: list[_Piece], number: int, count: int, last: bool) -> None:
        fonts = self.fonts
        top = MARGIN_TOP
        for line in self.title_lines:
            page.aligned(LEFT, LEFT + TABLE_W, top + (TITLE_LINE - TITLE_SIZE) / 2, line, TITLE_SIZE, "c", bold=True)
            top += TITLE_LINE
        top += 2
        for left, right in self.meta:
            page.text(LEFT, top + (META_LINE - META_SIZE) / 2, left, META_SIZE)
            page.aligned(LEFT, LEFT + TABLE_W, top + (META_LINE - META_SIZE) / 2, right, META_SIZE, "r")
            top += META_LINE
        # Column headings.
        y = self.table_top
        page.fill(LEFT, y, TABLE_W, self.head_h, HEAD_GRAY)
        self._cells(page, y, self.head_h, self.head_cells, EDGES, ["c"] * len(COLUMNS), bold=True)
        page.hline(LEFT, LEFT + TABLE_W, y)
        y += self.head_h
        page.hline(LEFT, LEFT + TABLE_W, y)
        aligns = [c.align for c in COLUMNS]
        empty = not self.rows
        for piece in pieces:
            if empty:
                page.aligned(LEFT, LEFT + TABLE_W, y + PAD_Y + (LINE - BODY_SIZE) / 2, EMPTY_TEXT, BODY_SIZE, "c")
            else:
                self._cells(page, y, piece.height, piece.cells, EDGES, aligns)
            y += piece.height
            page.hline(LEFT, LEFT + TABLE_W, y)
        for x in EDGES:
            page.vline(x, self.table_top, y if not empty or x in (EDGES[0], EDGES[-1]) else self.body_top)
        if last:
            edges = [EDGES[0]] + EDGES[MERGED:]
            page.fill(LEFT, y, TABLE_W, self.total_h, TOTAL_GRAY)
            self._cells(page, y, self.total_h, self.total_cells, edges, ["r"] * len(self.total_cells), bold=True)
            for x in edges:
                page.vline(x, y, y + self.total_h)
            y += self.total_h
            page.hline(LEFT, LEFT + TABLE_W, y)
            y += 4
            for line in self.note_lines:
                page.text(LEFT, y + (NOTE_LINE - NOTE_SIZE) / 2, line, NOTE_SIZE, gray=NOTE_GRAY)
                y += NOTE_LINE
        foot = f"第 {number} 页 / 共 {count} 页"
        page.text((PAGE_W - fonts.width(foot, FOOT_SIZE)) / 2, FOOT_BASELINE - 0.88 * FOOT_SIZE, foot, FOOT_SIZE)

    def _cells(self, page: _Page, y: float, height: float, cells, edges, aligns, bold=False) -> None:
        for k, lines in enumerate(cells):
            left, right = edges[k] + PAD_X, edges[k + 1] - PAD_X
            top = y + (height - len(lines) * LINE) / 2 + (LINE - BODY_SIZE) / 2
            for line in lines:
                page.aligned(left, right, top, line, BODY_SIZE, aligns[k], bold)
                top += LINE


# --------------------------------------------------------------------------- the PDF file


def render_pdf(header: ListHeader, rows: list[ListRow], progress=None) -> bytes:
    """The list as a PDF (see the module's docstring). progress(done_rows, total_rows) now and then."""
    import pydyf

    rows = list(rows)
    total = len(rows)
    fonts = _Fonts()
    layout = _Layout(header, rows, fonts)
    pages = layout.paginate(progress)
    pdf = pydyf.PDF()
    font_refs = pydyf.Dictionary()
    resources = pydyf.Dictionary({"Font": font_refs})
    pdf.add_object(resources)
    done, reported = 0, 0
    for number, pieces in enumerate(pages, 1):
        page = _Page(fonts)
        layout.draw(page, pieces, number, len(pages), number == len(pages))
        content = page.content()
        stream = pydyf.Stream([zlib.compress(content, 6)], pydyf.Dictionary({"Filter": "/FlateDecode"}))
        pdf.add_object(stream)
        pdf.add_page(pydyf.Dictionary({
            "Type": "/Page",
            "MediaBox": pydyf.Array([0, 0, PAGE_W, PAGE_H]),
            "Contents": stream.reference,
            "Resources": resources.reference,
        }))
        done += sum(1 for p in pieces if p.seq_text and p.seq_text != "（续）")
        if progress is not None and done - reported >= PROGRESS_EVERY:
            reported = done
            progress(total // 2 + done // 2, total)
    for face, name in fonts.names.items():
        font_refs[name] = _embed(pdf, face, fonts.used[face])
    if fonts.missing:
        log.warning("settlement list: no font has %s", "".join(sorted(fonts.missing))[:40])
    when = header.generated_at.astimezone(LOCAL_TZ)
    pdf.info["Title"] = pydyf.String(clean(header.title))
    pdf.info["Creator"] = pydyf.String("上云上平台")
    pdf.info["Producer"] = pydyf.String(f"pydyf {pydyf.__version__}")
    pdf.info["CreationDate"] = pydyf.String(when.strftime("D:%Y%m%d%H%M%S+08'00'"))
    pdf.catalog["Lang"] = pydyf.String("zh-CN")
    out = io.BytesIO()
    identifier = hashlib.md5(clean(header.title).encode(), usedforsecurity=False).hexdigest().encode()  # an id, not a secret
    pdf.write(out, version=b"1.7", identifier=identifier, compress=True)
    if progress is not None:
        progress(total, total)
    return out.getvalue()


def _embed(pdf, face: _Face, used: dict[int, str]):
    """A Type 0 font for the glyphs used of one face, as WeasyPrint writes its fonts."""
    import pydyf

    program = face.subset(set(used))
    tag = "".join(chr(65 + b % 26) for b in hashlib.sha256(repr(sorted(used)).encode()).digest()[:6])
    if face.cff:
        file_key, extra, subtype = "FontFile3", pydyf.Dictionary({"Subtype": "/OpenType"}), "/CIDFontType0"
    else:
        file_key, extra, subtype = "FontFile2", pydyf.Dictionary({"Length1": len(program)}), "/CIDFontType2"
    font_file = pydyf.Stream([program], extra, compress=True)
    pdf.add_object(font_file)
    descriptor = pydyf.Dictionary({
        "Type": "/FontDescriptor",
        "FontName": f"/{tag}+{face.ps_name}",
        "Flags": 4,  # symbolic
        "FontBBox": pydyf.Array(face.bbox),
        "ItalicAngle": 0,
        "Ascent": face.ascent,
        "Descent": face.descent,
        "CapHeight": face.cap_height,
        "StemV": 80,
        file_key: font_file.reference,
    })
    pdf.add_object(descriptor)
    widths = pydyf.Array()
    gids = sorted(used)
    run = None
    for i, gid in enumerate(gids):
        if i == 0 or gid != gids[i - 1] + 1:
            run = pydyf.Array()
            widths += [gid, run]
        run.append(round(face.advance(gid)))
    cid_font = pydyf.Dictionary({
        "Type": "/Font",
        "Subtype": subtype,
        "BaseFont": f"/{tag}+{face.ps_name}",
        "CIDSystemInfo": pydyf.Dictionary({"Registry": pydyf.String("Adobe"), "Ordering": pydyf.String("Identity"),
                                           "Supplement": 0}),
        "CIDToGIDMap": "/Identity",
        "W": widths,
        "FontDescriptor": descriptor.reference,
    })
    pdf.add_object(cid_font)
    cmap = ["/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
            "/CMapName /Adobe-Identity-UCS def", "/CMapType 2 def",
            "1 begincodespacerange", "<0000> <ffff>", "endcodespacerange"]
    mapped = [(gid, ch) for gid, ch in sorted(used.items()) if gid != 0]
    for k in range(0, len(mapped), 100):
        batch = mapped[k:k + 100]
        cmap.append(f"{len(batch)} beginbfchar")
        cmap += [f"<{gid:04x}> <{ch.encode('utf-16-be').hex()}>" for gid, ch in batch]
        cmap.append("endbfchar")
    cmap += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    to_unicode = pydyf.Stream(["\n".join(cmap).encode("ascii")], compress=True)
    pdf.add_object(to_unicode)
    font = pydyf.Dictionary({
        "Type": "/Font",
        "Subtype": "/Type0",
        "BaseFont": f"/{tag}+{face.ps_name}",
        "Encoding": "/Identity-H",
        "DescendantFonts": pydyf.Array([cid_font.reference]),
        "ToUnicode": to_unicode.reference,
    })
    pdf.add_object(font)
    return font.reference


# --------------------------------------------------------------------------- the xlsx file

XLSX_HEADER = ("序号", "企业名称", "服务商名称", "服务券编号", "面值（元）", "两化融合贯标奖补（元）", "应付金额（元）", "试点")
XLSX_WIDTHS = (8, 44, 36, 38, 16, 22, 16, 8)


def write_xlsx(header: ListHeader, rows: list[ListRow], path: str) -> None:
    """The list as an xlsx file, streamed (openpyxl write-only): sheet 结算清单 (a title row, the headings, a
    row per entry with exact amounts in 元, a totals row) and sheet 说明 (what the list is, counts, sums)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    from blueprints.core import xlsx

    rows = list(rows)
    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    try:
        ws = wb.create_sheet("结算清单")
        for i, width in enumerate(XLSX_WIDTHS, start=1):
            ws.column_dimensions[get_column_letter(i)].width = width
        ws.freeze_panes = "A3"
        title = xlsx._text_cell(ws, clean(header.title))
        title.font = Font(bold=True, size=14)
        ws.append([title])
        heads = []
        for text in XLSX_HEADER:
            c = xlsx._text_cell(ws, text)
            c.font = bold
            heads.append(c)
        ws.append(heads)
        face = bonus = amount = pilots = 0
        for r in rows:
            cells = xlsx._cells(ws, [r.seq, clean(r.enterprise), clean(r.supplier), clean(r.voucher_code),
                                     fen_to_decimal(r.face_fen), fen_to_decimal(r.bonus_fen),
                                     fen_to_decimal(r.amount_fen), "是" if r.pilot else ""], WriteOnlyCell)
            for k in (1, 2):  # long names wrap in their cells
                c = cells[k] if not isinstance(cells[k], str) else xlsx._text_cell(ws, cells[k])
                c.alignment = wrap
                cells[k] = c
            ws.append(cells)
            face, bonus, amount = face + r.face_fen, bonus + r.bonus_fen, amount + r.amount_fen
            pilots += bool(r.pilot)
        label = f"共 {len(rows)} 项" + (f"（其中试点 {pilots} 项）" if pilots else "")
        totals = xlsx._cells(ws, ["合计", label, "", "", fen_to_decimal(face), fen_to_decimal(bonus),
                                  fen_to_decimal(amount), pilots], WriteOnlyCell)
        for k, c in enumerate(totals):
            if isinstance(c, str) or isinstance(c, int):
                c = xlsx._text_cell(ws, c) if isinstance(c, str) else WriteOnlyCell(ws, c)
            c.font = bold
            totals[k] = c
        ws.append(totals)

        info = wb.create_sheet("说明")
        info.column_dimensions["A"].width = 22
        info.column_dimensions["B"].width = 60
        for key, value in (
            ("标题", clean(header.title)),
            ("地市", clean(header.city)),
            ("结算期", clean(header.period_label)),
            ("状态", clean(header.status_line)),
            ("生成时间（北京时间）", header.generated_at.replace(second=0, microsecond=0)),
            ("条目数", len(rows)),
            ("其中试点条目数", pilots),
            ("面值合计（元）", fen_to_decimal(face)),
            ("两化融合贯标奖补合计（元）", fen_to_decimal(bonus)),
            ("应付金额合计（元）", fen_to_decimal(amount)),
            ("说明", NOTE_TEXT.removeprefix("说明：")),
        ):
            k = xlsx._text_cell(info, key)
            k.font = bold
            info.append([k] + xlsx._cells(info, [value], WriteOnlyCell))
        wb.save(path)
    except BaseException:
        xlsx._discard(wb)
        raise

