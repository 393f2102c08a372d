"""Pagination whose cost does not grow with the table: a capped count and one page of rows.

Flask-SQLAlchemy's db.paginate() counts every matching row on every view (COUNT(*) over the
whole filtered join); for a city with 10,000 vouchers that is a scan per page view. Here the
count stops at COUNT_CAP rows (the user sees "1,000+ 条", which is honest and all a person
paging by 20 can use), runs over the narrowest select (the primary key only, no eager loads,
no ORDER BY), and the page itself is read with one row more than shown so "下一页" is right
even past the cap. Page has the attributes the pagination macro (and Flask-SQLAlchemy's
Pagination) offer: items, page, per_page, total, pages, has_prev/next, prev/next_num.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from flask import request
from sqlalchemy import Select, func, inspect, select

from models import db

COUNT_CAP = 1000
MAX_PAGE = 10_000


@dataclass
class Page:
    items: list
    page: int
    per_page: int
    total: int  # exact, or COUNT_CAP when more_than_total
    more_than_total: bool = False
    has_next: bool = False

    @property
    def total_label(self) -> str:
        return f"{self.total:,}+" if self.more_than_total else f"{self.total:,}"

    @property
    def pages(self) -> int:
        known = max(self.total, (self.page - 1) * self.per_page + len(self.items))
        return math.ceil(known / self.per_page) if known else 0

    @property
    def pages_label(self) -> str:
        return f"{self.pages:,}+" if self.more_than_total else f"{self.pages:,}"

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def page_arg(value=None) -> int:
    """The requested page number (?page=), clamped to 1..MAX_PAGE."""
    try:
        n = int(value if value is not None else request.args.get("page", 1))
    except (TypeError, ValueError):
        n = 1
    return max(1, min(n, MAX_PAGE))


def count_select(stmt: Select) -> Select:
    """stmt reduced to its entity's primary key: no eager loads, no ORDER BY (what COUNT needs)."""
    entity = stmt.column_descriptions[0]["entity"]
    pk = inspect(entity).primary_key[0]
    return stmt.with_only_columns(pk, maintain_column_froms=True).order_by(None)


def paginate(stmt: Select, *, per_page: int, page: int | None = None, count_from: Select | None = None,
             cap: int | None = None, unique: bool = True, scalars: bool = True) -> Page:
    """One page of stmt and a count capped at `cap` (default COUNT_CAP; counted from count_from,
    by default stmt's primary keys). scalars=False: the items are whole rows (entity and columns)."""
    page, cap = page_arg(page), cap or COUNT_CAP
    rows = db.session.execute(stmt.limit(per_page + 1).offset((page - 1) * per_page))
    items = list((rows.unique() if unique else rows).scalars()) if scalars else list(rows.all())
    has_next = len(items) > per_page
    items = items[:per_page]
    narrow = (count_from if count_from is not None else count_select(stmt)).limit(cap + 1).subquery()
    total = db.session.execute(select(func.count()).select_from(narrow)).scalar_one()
    return Page(items=items, page=page, per_page=per_page, total=min(total, cap), more_than_total=total > cap,
                has_next=has_next)
