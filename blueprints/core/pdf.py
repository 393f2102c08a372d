"""PDF documents with WeasyPrint, in-process, with a real Simplified-Chinese font.

Templates live in templates/pdf/ with their print CSS inlined from a template file (not
passed as a variable, which autoescape would break). Images such as QR codes are inline SVG.
The document's URL fetcher refuses every URL, so user text that reaches a template can never
make WeasyPrint fetch a URL or read a local file (R49); only the @font-face sheet made here may
read its own two font files.

Fonts (owned here). The system's Noto Sans CJK (fonts-noto-cjk) is one 19 MB collection of
65,535 glyphs per weight; WeasyPrint subsets the face it uses for every document, keeping the
glyph ids, and with ids up to ~45,000 for common hanzi that cost ~75 ms, a 520 KB font per
weight and hundreds of MB of churn in the worker. So the PDFs use "Noto Sans CJK SC Common":
the same SC design (regular and bold) cut down to GB 2312 plus Latin and punctuation, 7,845
glyphs and ~1.9 MB per weight, built once from the system font by build_fonts() (scripts/setup.sh,
or on first use) into static/vendor/fonts/ (git-ignored, never committed). A character outside
it (a rare hanzi in a company name) falls back to the full system Noto Sans CJK SC: same look,
only that document pays the slow subset. The font configuration and its @font-face sheet are
made once per thread and reused, and freed heap is given back to the OS after each render.
"""
from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import hashlib
import logging
import os
import shutil
import threading
import weakref
from pathlib import Path

from flask import render_template

log = logging.getLogger(__name__)

COMMON_FAMILY = "Noto Sans CJK SC Common"
PDF_FONT_FAMILY = f'"{COMMON_FAMILY}", "Noto Sans CJK SC", "Noto Sans SC", "WenQuanYi Micro Hei", sans-serif'
FONT_DIR = Path(__file__).resolve().parents[2] / "static" / "vendor" / "fonts"
# Bump when the recipe below changes: the file name carries it, so an old build is never reused.
_FONT_RECIPE = 1
FONT_WEIGHTS = {400: "Regular", 700: "Bold"}
_SYSTEM_FONT_DIRS = ("/usr/share/fonts/opentype/noto", "/usr/share/fonts")


class BlockedFetch(Exception):
    pass


def _make_fetcher(allowed: frozenset[str] = frozenset()):
    from weasyprint.urls import URLFetcher

    class NoFetch(URLFetcher):
        def fetch(self, url, headers=None):
            if url in allowed:  # only our own font files, for the @font-face sheet
                return super().fetch(url, headers)
            # A plain Exception: WeasyPrint drops the resource and renders the rest.
            # (FatalURLFetchingError is a BaseException that escapes Flask's error handling.)
            raise BlockedFetch(f"blocked fetch: {url[:80]}")

    return NoFetch()


# --------------------------------------------------------------------------- the common-characters font


def font_path(weight: int, font_dir: Path = FONT_DIR) -> Path:
    return font_dir / f"NotoSansCJKsc-Common-v{_FONT_RECIPE}-{FONT_WEIGHTS[weight]}.otf"


def _common_codepoints() -> list[tuple[int, int]]:
    """GB 2312 (6,763 hanzi and its symbols) plus Latin, punctuation and full-width forms, as ranges."""
    points = set()
    for hi in range(0xA1, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                points.add(ord(bytes((hi, lo)).decode("gb2312")))
            except UnicodeDecodeError:
                pass
    ranges = [(0x20, 0x7E), (0xA0, 0x24F), (0x2000, 0x206F), (0x20A0, 0x20CF), (0x2100, 0x218F),
              (0x2460, 0x24FF), (0x3000, 0x303F), (0xFF00, 0xFFEF)]
    ranges += [(p, p) for p in sorted(points)]
    return ranges


def _system_face(weight: int) -> tuple[Path, int] | None:
    """The system's Noto Sans CJK collection of this weight and the index of its SC face."""
    from fontTools.ttLib import TTCollection

    name = f"NotoSansCJK-{FONT_WEIGHTS[weight]}.ttc"
    for base in map(Path, _SYSTEM_FONT_DIRS):
        if not base.is_dir():
            continue
        for path in (base / name, *base.rglob(name)):
            if path.is_file():
                collection = TTCollection(str(path), lazy=True)
                for index, face in enumerate(collection.fonts):
                    if face["name"].getDebugName(1) == "Noto Sans CJK SC":
                        return path, index
    return None


def _hb_subset(source: Path, index: int, ranges: list[tuple[int, int]]) -> bytes:
    """Subset one face with HarfBuzz (libharfbuzz-subset0): ~0.1 s where fontTools takes a minute.

    Glyphs are renumbered compactly (that is the point); only the features used to shape
    horizontal Chinese and Latin text are kept (vertical and other-locale forms would pull in
    thousands of glyphs).
    """
    hb = ctypes.CDLL(ctypes.util.find_library("harfbuzz") or "libharfbuzz.so.0")
    hbs = ctypes.CDLL(ctypes.util.find_library("harfbuzz-subset") or "libharfbuzz-subset.so.0")
    vp, u32 = ctypes.c_void_p, ctypes.c_uint32
    for lib, fn, res, args in (
        (hb, "hb_blob_create_from_file", vp, [ctypes.c_char_p]),
        (hb, "hb_face_create", vp, [vp, ctypes.c_uint]),
        (hb, "hb_face_reference_blob", vp, [vp]),
        (hb, "hb_blob_get_data", ctypes.POINTER(ctypes.c_char), [vp, ctypes.POINTER(ctypes.c_uint)]),
        (hb, "hb_set_add_range", None, [vp, u32, u32]),
        (hb, "hb_set_add", None, [vp, u32]),
        (hb, "hb_set_clear", None, [vp]),
        (hb, "hb_tag_from_string", u32, [ctypes.c_char_p, ctypes.c_int]),
        (hb, "hb_blob_destroy", None, [vp]),
        (hb, "hb_face_destroy", None, [vp]),
        (hbs, "hb_subset_input_create_or_fail", vp, []),
        (hbs, "hb_subset_input_unicode_set", vp, [vp]),
        (hbs, "hb_subset_input_set", vp, [vp, ctypes.c_int]),
        (hbs, "hb_subset_input_destroy", None, [vp]),
        (hbs, "hb_subset_or_fail", vp, [vp, vp]),
    ):
        getattr(lib, fn).restype = res
        getattr(lib, fn).argtypes = args
    layout_feature_tag_set = 6  # HB_SUBSET_SETS_LAYOUT_FEATURE_TAG
    blob = hb.hb_blob_create_from_file(str(source).encode())
    face = hb.hb_face_create(blob, index)
    request = hbs.hb_subset_input_create_or_fail()
    unicodes = hbs.hb_subset_input_unicode_set(request)
    for first, last in ranges:
        hb.hb_set_add_range(unicodes, first, last)
    features = hbs.hb_subset_input_set(request, layout_feature_tag_set)
    hb.hb_set_clear(features)
    for tag in (b"kern", b"liga", b"ccmp", b"calt", b"mark", b"mkmk", b"rlig"):
        hb.hb_set_add(features, hb.hb_tag_from_string(tag, 4))
    subset = hbs.hb_subset_or_fail(face, request)
    try:
        if not subset:
            raise RuntimeError(f"HarfBuzz could not subset {source}")
        out_blob = hb.hb_face_reference_blob(subset)
        length = ctypes.c_uint()
        data = hb.hb_blob_get_data(out_blob, ctypes.byref(length))
        content = ctypes.string_at(data, length.value)
        hb.hb_blob_destroy(out_blob)
        return content
    finally:
        if subset:
            hb.hb_face_destroy(subset)
        hbs.hb_subset_input_destroy(request)
        hb.hb_face_destroy(face)
        hb.hb_blob_destroy(blob)


def build_fonts(font_dir: Path = FONT_DIR) -> list[Path]:
    """Build the common-characters fonts from the system's Noto Sans CJK once (idempotent).

    Written to a temporary name and renamed, so workers building at the same time never see
    half a file. Raises when the system font or HarfBuzz-subset is missing.
    """
    font_dir.mkdir(parents=True, exist_ok=True)
    built = []
    ranges = None
    for weight in FONT_WEIGHTS:
        target = font_path(weight, font_dir)
        if not target.exists():
            face = _system_face(weight)
            if face is None:
                raise FileNotFoundError(
                    f"Noto Sans CJK {FONT_WEIGHTS[weight]} not found (apt-get install fonts-noto-cjk)")
            ranges = ranges or _common_codepoints()
            content = _hb_subset(*face, ranges)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(content)
            os.replace(tmp, target)
        built.append(target)
    return built


# --------------------------------------------------------------------------- rendering


_local = threading.local()  # pango's font map is not thread-safe: one configuration per thread
_configs: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _remove_font_copies() -> None:
    # A FontConfiguration deletes its copies of the @font-face files in __del__, which for one kept
    # until interpreter exit runs after shutil is torn down ("Exception ignored ... NoneType").
    for font_config in list(_configs):
        if font_config._folder:
            shutil.rmtree(font_config._folder, ignore_errors=True)
            font_config._folder = None


def _font_setup():
    """(FontConfiguration, [CSS]) for this thread, made once: the fonts are loaded a single time."""
    setup = getattr(_local, "setup", None)
    if setup is not None:
        return setup
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

    font_config = FontConfiguration()
    _configs.add(font_config)
    stylesheets = []
    try:
        paths = build_fonts()
    except Exception as exc:  # the documents still render, with the system font: slower, same look
        log.warning("PDF common font unavailable, using the full system font (%s)", exc)
        paths = []
    if paths:
        urls = {weight: path.as_uri() for weight, path in zip(FONT_WEIGHTS, paths)}
        rules = "".join(
            f'@font-face {{ font-family: "{COMMON_FAMILY}"; src: url("{url}"); font-weight: {weight}; }}'
            for weight, url in urls.items()
        )
        stylesheets.append(CSS(string=rules, font_config=font_config,
                               url_fetcher=_make_fetcher(frozenset(urls.values()))))
    _local.setup = (font_config, stylesheets)
    return _local.setup


try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
except OSError:  # not glibc: nothing to trim
    _libc = None


def _release_memory() -> None:
    """Hand the heap WeasyPrint freed back to the OS: glibc keeps it otherwise, and a worker that
    rendered a document needing the full system font stayed tens of MB larger for good."""
    trim = getattr(_libc, "malloc_trim", None) if _libc else None
    if trim is not None:
        trim(0)


def _write_pdf(html: str) -> bytes:
    from weasyprint import HTML

    font_config, stylesheets = _font_setup()
    try:
        return HTML(string=html, base_url=None, url_fetcher=_make_fetcher()).write_pdf(
            stylesheets=stylesheets, font_config=font_config)
    finally:
        _release_memory()


def render_pdf(template: str, **ctx) -> bytes:
    return _write_pdf(render_template(template, **ctx))


def warm_up() -> None:
    """Import WeasyPrint and load the fonts now (~0.6 s) so the first voucher of a worker is not slow.

    Meant for a worker's start (gunicorn post_fork), not for the request path.
    """
    _write_pdf(f"<html style='font-family: {PDF_FONT_FAMILY}'><p>广东省服务券 GD-0</p>"
               '<p style="font-weight: 700">广东省服务券 GD-0</p></html>')


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
