"""PDF documents with WeasyPrint, in-process, with a real Simplified-Chinese font.

Templates live in templates/pdf/ with their print CSS inlined from a template file (not
passed as a variable, which autoescape would break). Fonts come from the system
(fonts-noto-cjk, installed by the setup). Images such as QR codes are inline SVG.
The URL fetcher refuses every URL, so user text that reaches a template can never
make WeasyPrint fetch a URL or read a local file (R49).
"""
from __future__ import annotations

import hashlib

from flask import render_template

PDF_FONT_FAMILY = '"Noto Sans CJK SC", "Noto Sans SC", "WenQuanYi Micro Hei", sans-serif'


class BlockedFetch(Exception):
    pass


def _make_fetcher():
    from weasyprint.urls import URLFetcher

    class NoFetch(URLFetcher):
        def fetch(self, url, headers=None):
            # A plain Exception: WeasyPrint drops the resource and renders the rest.
            # (FatalURLFetchingError is a BaseException that escapes Flask's error handling.)
            raise BlockedFetch(f"blocked fetch: {url[:80]}")

    return NoFetch()


def render_pdf(template: str, **ctx) -> bytes:
    from weasyprint import HTML

    html = render_template(template, **ctx)
    return HTML(string=html, base_url=None, url_fetcher=_make_fetcher()).write_pdf()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
