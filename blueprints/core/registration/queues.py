"""Reviewer queues (own city only, overdue first: SLA-5), their counts, bulk results and the experts' list."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import lazy_gettext
from sqlalchemy import or_
from sqlalchemy.orm import selectinload

from blueprints.core import timeutil
from blueprints.core.registration.changes import change_summary
from blueprints.core.registration.common import KIND_LABELS, KIND_MODELS, PER_PAGE, R
from blueprints.core.registration.fields import city_names
from blueprints.core.registration.validators import city_choices
from blueprints.core.registration.workdays import calendar_warning, days_left_many
from models import Enterprise, ExpertReview, ProfileChange, Role, Supplier, db


# --------------------------------------------------------------------------- queues


STATUS_FILTERS = [
    ("pending", "待审核"), ("city_review", "地市审核中"), ("province_review", "省级复核中"),
    ("returned", "已退回"), ("approved", "已通过"), ("rejected", "已驳回"), ("all", "全部"),
]
QUEUE_KINDS = {Role.CITY: ("enterprise", "supplier", "change"), Role.PROVINCE: ("supplier", "change")}


@dataclass
class QueueArgs:
    kind: str
    q: str = ""
    status: str = "pending"
    city: str = ""
    overdue: bool = False
    page: int = 1

    def url_args(self, **over) -> dict:
        d = {"kind": self.kind, "q": self.q, "status": self.status, "city": self.city,
             "overdue": "1" if self.overdue else "", "page": self.page}
        d.update(over)
        return {k: v for k, v in d.items() if v not in ("", None, 1) or k == "kind"}


def parse_queue_args(args, role: Role, kinds=None) -> QueueArgs:
    kinds = kinds or QUEUE_KINDS[role]
    kind = args.get("kind") if args.get("kind") in kinds else kinds[0]
    status = args.get("status") if args.get("status") in dict(STATUS_FILTERS) else "pending"
    try:
        page = max(1, min(int(args.get("page", 1)), 10_000))
    except ValueError:
        page = 1
    city = args.get("city", "") if role == Role.PROVINCE else ""
    return QueueArgs(kind=kind, q=(args.get("q") or "").strip()[:100], status=status, city=city[:6],
                     overdue=args.get("overdue") == "1", page=page)


def _pending_status(role: Role) -> str:
    return R.CITY_REVIEW if role == Role.CITY else R.PROVINCE_REVIEW


def _like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _scope(kind: str, user):
    """The rows of `kind` a reviewer may see (ROLE-3, ROLE-8), as where-clauses."""
    role = user.acting_role
    if kind == "enterprise":
        conds = [Enterprise.status != R.DRAFT]
        if role == Role.CITY:
            conds.append(Enterprise.city_code == user.city_code)
        return conds
    if kind == "supplier":
        conds = [Supplier.status != R.DRAFT]
        if role == Role.CITY:
            conds += [Supplier.in_province.is_(True), Supplier.city_code == user.city_code]
        return conds
    conds = [ProfileChange.submitted_at.is_not(None)]
    if role == Role.CITY:
        conds.append(ProfileChange.city_code == user.city_code)
    return conds


def queue_select(qa: QueueArgs, user):
    model = KIND_MODELS[qa.kind]
    stmt = db.select(model).where(*_scope(qa.kind, user))
    status = _pending_status(user.acting_role) if qa.status == "pending" else qa.status
    if status != "all":
        stmt = stmt.where(model.status == status)
    if qa.overdue:
        stmt = stmt.where(model.due_on < timeutil.today())
    if qa.kind == "change":
        stmt = stmt.outerjoin(Enterprise, ProfileChange.enterprise_id == Enterprise.id).outerjoin(
            Supplier, ProfileChange.supplier_id == Supplier.id)
        stmt = stmt.options(selectinload(ProfileChange.enterprise), selectinload(ProfileChange.supplier))
        name_cols = (Enterprise.name, Enterprise.uscc, Supplier.name, Supplier.uscc)
        city_col = ProfileChange.city_code
    else:
        name_cols = (model.name, model.uscc)
        city_col = model.city_code
    if qa.q:
        pat = _like(qa.q)
        stmt = stmt.where(or_(*(c.ilike(pat, escape="\\") for c in name_cols)))
    if qa.city:
        stmt = stmt.where(city_col == qa.city)
    return stmt.order_by(model.due_on.is_(None), model.due_on, model.submitted_at, model.id)


@dataclass
class QueueRow:
    kind: str
    obj: object
    name: str
    uscc: str
    city: str
    status: str
    submitted_at: dt.datetime | None
    due_on: dt.date | None
    days_left: int | None
    note: str = ""


def queue_rows(kind: str, items) -> list[QueueRow]:
    cities = city_names()
    left = days_left_many(i.due_on for i in items)
    rows = []
    for i in items:
        owner = i.owner if kind == "change" else i
        note = ""
        if kind == "change":
            note = "变更：" + change_summary(i)
        elif kind == "supplier":
            note = "省内" if i.in_province else "省外"
        rows.append(QueueRow(kind, i, owner.name or "（未填写名称）", owner.uscc or "", cities.get(i.city_code or "", "—"),
                             i.status, i.submitted_at, i.due_on, left.get(i.due_on), note))
    return rows


def queue_context(qa: QueueArgs, user, bulk: list | None = None) -> dict:
    from blueprints.core import paging

    pg = paging.paginate(queue_select(qa, user), page=qa.page, per_page=PER_PAGE)
    return {
        "qa": qa, "pg": pg, "rows": queue_rows(qa.kind, pg.items), "bulk": bulk,
        "counts": queue_counts(user), "kinds": QUEUE_KINDS[user.acting_role], "kind_labels": KIND_LABELS,
        "status_filters": STATUS_FILTERS, "pending_status": _pending_status(user.acting_role),
        "city_choices": city_choices() if user.acting_role == Role.PROVINCE else [],
        "warning": calendar_warning() if user.acting_role == Role.PROVINCE else None,  # the province acts on it
    }


# What stands for an organisation whose name was left empty, in lists and mails: words, never a row number.
# Lazy: rendered in the reader's language when shown (a digest mail in its recipient's).
UNNAMED_ENTERPRISE = lazy_gettext("（未填写名称的企业）")
UNNAMED_SUPPLIER = lazy_gettext("（未填写名称的供应商）")


def display_name(obj):
    org = obj.owner if isinstance(obj, ProfileChange) else obj
    return org.name or (UNNAMED_SUPPLIER if isinstance(org, Supplier) else UNNAMED_ENTERPRISE)


def bulk_messages(results: list) -> list[tuple[str, str]]:
    """Toasts for a bulk action: a summary, then one line per failure (never fail silently)."""
    if not results:
        return [("warning", "请先勾选要处理的项目")]
    failed = [r for r in results if not r.ok]
    out = [("success" if not failed else "warning",
            f"批量通过：成功 {len(results) - len(failed)} 项，未通过 {len(failed)} 项")]
    out += [("error", f"{r.name}：{r.message}") for r in failed]
    return out


def queue_counts(user) -> dict[str, dict[str, int]]:
    """Per kind: items waiting for this reviewer and how many of them are overdue (SLA-5)."""
    role = user.acting_role
    kinds = QUEUE_KINDS.get(role, ())
    if not kinds:
        return {}
    # One statement for every kind (each count an index range of the pending status): this runs
    # on the queue page and on the home page, so it costs one round trip, not two per kind.
    counts = []
    for kind in kinds:
        model = KIND_MODELS[kind]
        base = db.select(db.func.count(model.id)).where(*_scope(kind, user), model.status == _pending_status(role))
        counts += [base.scalar_subquery(), base.where(model.due_on < timeutil.today()).scalar_subquery()]
    values = db.session.execute(db.select(*counts)).one()
    return {kind: {"pending": int(values[2 * i] or 0), "overdue": int(values[2 * i + 1] or 0)}
            for i, kind in enumerate(kinds)}


def expert_select(user, q: str = "", todo: bool = True):
    mine = db.select(ExpertReview.id).where(
        ExpertReview.supplier_id == Supplier.id, ExpertReview.round == Supplier.review_round,
        ExpertReview.expert_id == user.id).exists()
    stmt = db.select(Supplier).where(Supplier.status == R.PROVINCE_REVIEW)
    if todo:
        stmt = stmt.where(~mine)
    if q:
        stmt = stmt.where(or_(Supplier.name.ilike(_like(q), escape="\\"), Supplier.uscc.ilike(_like(q), escape="\\")))
    return stmt.order_by(Supplier.due_on.is_(None), Supplier.due_on, Supplier.id)


def my_scores(user, suppliers) -> dict[int, int]:
    by_round = {s.id: s.review_round for s in suppliers}
    if not by_round:
        return {}
    rows = db.session.execute(
        db.select(ExpertReview.supplier_id, ExpertReview.round, ExpertReview.score)
        .where(ExpertReview.expert_id == user.id, ExpertReview.supplier_id.in_(by_round))
    ).all()
    return {sid: score for sid, rnd, score in rows if by_round.get(sid) == rnd}
