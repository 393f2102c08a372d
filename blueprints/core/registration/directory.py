"""The province directory with its xlsx export, and the public supplier list."""
from __future__ import annotations

from sqlalchemy import or_
from sqlalchemy.orm import selectinload

from blueprints.core import timeutil
from blueprints.core.paging import Page
from blueprints.core.registration.common import PER_PAGE, R
from blueprints.core.registration.fields import city_names
from blueprints.core.registration.queues import _like
from models import Enterprise, Supplier, db


# --------------------------------------------------------------------------- directory and public list


def directory_args(args) -> dict:
    try:
        page = max(1, min(int(args.get("page", 1)), 10_000))
    except ValueError:
        page = 1
    return {"kind": "supplier" if args.get("kind") == "supplier" else "enterprise",
            "q": (args.get("q") or "").strip()[:100], "city": (args.get("city") or "")[:6], "page": page}


def directory_select(kind: str, q: str = "", city: str = ""):
    model = Enterprise if kind == "enterprise" else Supplier
    stmt = db.select(model).where(model.status == R.APPROVED)
    if q:
        stmt = stmt.where(or_(model.name.ilike(_like(q), escape="\\"), model.uscc.ilike(_like(q), escape="\\")))
    if city:
        stmt = stmt.where(model.city_code == city)
    if kind == "supplier":
        stmt = stmt.options(selectinload(Supplier.related_parties))
    return stmt.order_by(model.city_code, model.name, model.id)


DIRECTORY_COLUMNS = {
    "enterprise": ["企业名称", "统一社会信用代码", "注册地", "法定代表人", "成立日期", "上年度主营业务收入（元）",
                   "两化融合贯标", "已获贯标奖补", "联系人", "联系电话", "电子邮箱", "通过日期"],
    "supplier": ["供应商名称", "统一社会信用代码", "省内/省外", "所在地市", "服务类别", "云服务地址", "关联方",
                 "联系人", "联系电话", "电子邮箱", "通过日期"],
}


DIRECTORY_WIDTHS = {
    "enterprise": (34, 22, 10, 12, 14, 22, 12, 12, 10, 16, 22, 12),
    "supplier": (34, 22, 10, 10, 22, 22, 34, 10, 16, 22, 12),
}


def count_directory(kind: str, q: str = "", city: str = "") -> int:
    """How many rows the directory export holds for these filters: the directory's own query, counted."""
    from blueprints.core.paging import count_select

    ids = count_select(directory_select(kind, q, city)).subquery()
    return db.session.execute(db.select(db.func.count()).select_from(ids)).scalar_one()


def write_directory_xlsx(out, kind: str, q: str = "", city: str = "", progress=None) -> int:
    """The province's export of registered enterprises or suppliers (every row matching the directory's
    filters) as an xlsx file written to out; returns the number of rows. progress as in xlsx.write_xlsx."""
    from blueprints.core import xlsx
    from blueprints.core.money import fen_to_decimal

    cities = city_names()

    def rows():
        # ORM rows read FETCH_ROWS at a time; a supplier's related parties come by selectinload, per batch.
        for r in xlsx.stream(directory_select(kind, q, city)).scalars():
            decided = timeutil.local(r.decided_at).date() if r.decided_at else None
            if kind == "enterprise":
                yield (r.name, r.uscc, cities.get(r.city_code or "", ""), r.legal_rep, r.established_on,
                       fen_to_decimal(r.revenue_fen) if r.revenue_fen is not None else None,
                       "是" if r.dcmm_certified else "否", "是" if r.dcmm_subsidy_received else "否",
                       r.contact_name, r.contact_phone, r.contact_email, decided)
            else:
                yield (r.name, r.uscc, "省内" if r.in_province else "省外", cities.get(r.city_code or "", ""),
                       "、".join(r.categories or []), "\n".join(r.endpoints or []),
                       "\n".join(f"{p.uscc} {p.name}" for p in r.related_parties),
                       r.contact_name, r.contact_phone, r.contact_email, decided)

    title = "登记企业" if kind == "enterprise" else "登记供应商"
    sheet = xlsx.Sheet(title, DIRECTORY_COLUMNS[kind], DIRECTORY_WIDTHS[kind], rows())
    return xlsx.write_xlsx(out, [sheet], progress)


def public_suppliers(q: str = "", category: str = "", page: int = 1) -> Page:
    """Registered suppliers for the public: name, place and categories only (no private data)."""
    stmt = db.select(Supplier.id, Supplier.name, Supplier.in_province, Supplier.city_code, Supplier.categories).where(
        Supplier.status == R.APPROVED, Supplier.disqualified.is_(False))
    if q:
        stmt = stmt.where(Supplier.name.ilike(_like(q), escape="\\"))
    rows = db.session.execute(stmt.order_by(Supplier.name, Supplier.id)).all()
    if category:
        # JSON-array membership is filtered here: a few hundred suppliers, one portable query.
        rows = [r for r in rows if category in (r.categories or [])]
    start = (page - 1) * PER_PAGE
    return Page(rows[start:start + PER_PAGE], page, PER_PAGE, len(rows), has_next=start + PER_PAGE < len(rows))
