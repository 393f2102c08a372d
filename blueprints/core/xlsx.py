"""Every spreadsheet the platform writes: one helper, openpyxl's write-only mode.

An export is a list of Sheet descriptions whose rows are any iterable (usually a generator over a
database cursor read with yield_per). Each row goes straight into the sheet's temporary XML file, so
memory stays flat however many rows there are; the old way (a normal workbook, re-reading the sheet
after each append) grew with the rows and took minutes at province scale.

The cell rules live here and nowhere else:
- a string stays text: "=HYPERLINK(...)" or "#N/A" typed by a user is never a formula or an error value;
  control characters Excel refuses are dropped instead of failing the whole export;
- Decimal is money in 元 ("#,##0.00", exact: build it with money.fen_to_decimal from integer fen);
- date -> "yyyy-mm-dd"; datetime -> local time (Asia/Shanghai), "yyyy-mm-dd hh:mm".

send() builds the file into a temporary file and returns it as the HTTP response; write_xlsx() takes any
binary file object, so a background job can write the same export to storage with a progress callback.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, BinaryIO

from blueprints.core.timeutil import LOCAL_TZ

MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MONEY_FORMAT = "#,##0.00"
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
PROGRESS_EVERY = 1000  # rows between two progress() calls: often enough for a bar, cheap to report
FETCH_ROWS = 1000  # rows fetched from the database at a time
SPOOL_BYTES = 1 << 20  # a response smaller than this never touches the disk

Progress = Callable[[int], None]

# "=" starts a formula and "#" an error value such as "#N/A": strings starting so get a text cell of their own.
_RISKY_FIRST = ("=", "#")
# Control characters an xlsx file cannot hold (openpyxl's ILLEGAL_CHARACTERS_RE; it raises on them).
_ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")


@dataclass
class Sheet:
    """One worksheet: a bold header row (none when empty), column widths in characters, the data rows."""

    title: str
    header: Sequence[str]
    widths: Sequence[float]
    rows: Iterable[Sequence[Any]]


def write_xlsx(out: BinaryIO, sheets: Iterable[Sheet], progress: Progress | None = None) -> int:
    """Write the sheets to out as an xlsx file; returns the number of data rows (headers not counted).

    progress(n_done) is called every PROGRESS_EVERY data rows and once at the end with the total.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    done = 0
    try:
        for sheet in sheets:
            ws = wb.create_sheet(sheet.title)
            # Widths and the frozen header are written before the first row: write-only mode cannot go back.
            for i, width in enumerate(sheet.widths, start=1):
                ws.column_dimensions[get_column_letter(i)].width = width
            if sheet.header:
                ws.freeze_panes = "A2"
                cells = []
                for title in sheet.header:
                    c = _text_cell(ws, title)
                    c.font = bold
                    cells.append(c)
                ws.append(cells)
            for row in sheet.rows:
                ws.append(_cells(ws, row, WriteOnlyCell))
                done += 1
                if progress is not None and done % PROGRESS_EVERY == 0:
                    progress(done)
        if not wb.worksheets:
            wb.create_sheet("Sheet1")  # an xlsx file needs one sheet
        wb.save(out)
    except BaseException:
        _discard(wb)
        raise
    if progress is not None:
        progress(done)
    return done


def stream(stmt):
    """The rows of a select, fetched FETCH_ROWS at a time (a server-side cursor on PostgreSQL), never all at once.

    Select plain columns where possible; with ORM entities, load collections with selectinload (it runs per
    batch): joinedload of a collection cannot be combined with yield_per.
    """
    from models import db

    return db.session.execute(stmt.execution_options(yield_per=FETCH_ROWS))


def send(write: Callable[[BinaryIO], Any], filename: str):
    """The HTTP response for an export: write(file) builds it into a temporary file, which is then sent.

    The file, not a bytes object, is what travels: memory stays flat and the worker sends it from disk.
    """
    from flask import send_file

    f = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        write(f)
        size = f.seek(0, os.SEEK_END)
        f.seek(0)
    except BaseException:
        f.close()
        raise
    resp = send_file(f, mimetype=MIMETYPE, as_attachment=True, download_name=filename, conditional=False,
                     etag=False)
    resp.content_length = size
    # send_file says "no-cache"; an export holds private data, so the app's own rule (no-store when
    # logged in) must decide, as for every other page.
    del resp.headers["Cache-Control"]
    return resp


# --------------------------------------------------------------------------- cells


def _cells(ws, values: Sequence[Any], new_cell) -> list:
    """Plain values where openpyxl's own typing is right; a cell of our own where it is not."""
    out = []
    for v in values:
        if isinstance(v, str):
            out.append(_text_cell(ws, v) if v.startswith(_RISKY_FIRST) or _ILLEGAL.search(v) else v)
        elif isinstance(v, Decimal):
            c = new_cell(ws, v)
            c.number_format = MONEY_FORMAT
            out.append(c)
        elif isinstance(v, dt.datetime):
            if v.tzinfo is not None:  # Excel has no time zones: show the local time users know
                v = v.astimezone(LOCAL_TZ).replace(tzinfo=None)
            c = new_cell(ws, v)
            c.number_format = DATETIME_FORMAT
            out.append(c)
        elif isinstance(v, dt.date):
            c = new_cell(ws, v)
            c.number_format = DATE_FORMAT
            out.append(c)
        else:
            out.append(v)
    return out


def _text_cell(ws, value: str):
    """A cell that is text whatever the string looks like (openpyxl makes "=..." a formula)."""
    from openpyxl.cell import WriteOnlyCell

    c = WriteOnlyCell(ws, _ILLEGAL.sub("", value))
    c.data_type = "s"
    return c


def _discard(wb) -> None:
    """A failed export leaves no temporary sheet files behind (a worker lives for thousands of requests)."""
    for ws in wb.worksheets:
        writer = getattr(ws, "_writer", None)
        path = getattr(writer, "out", None)
        if isinstance(path, str) and os.path.exists(path):
            os.remove(path)
