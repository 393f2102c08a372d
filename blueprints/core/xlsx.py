"""Spreadsheet rows that are safe to open: user text stays text, never a formula."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal


def append_row(ws, values) -> None:
    """Append values; strings are forced to text ("=HYPERLINK(...)" typed by a user stays inert)."""
    ws.append(list(values))
    for cell in ws[ws.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"
        elif isinstance(cell.value, Decimal):
            cell.number_format = "#,##0.00"
        elif isinstance(cell.value, dt.date):
            cell.number_format = "yyyy-mm-dd"
