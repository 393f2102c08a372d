"""What the settlement pages of the supplier, the city and the province read.

view_context() gives templates/settlement_view.html everything it shows for one settlement (every
role's detail page uses it); settlement_select() is the list filter shared by the city's queue, its
xlsx export (write_settlements_xlsx, also run as a background job) and the province's list;
overview_rows() is the province's per-city overview in one grouped query.
"""
from __future__ import annotations

from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError

from blueprints.core import audit, timeutil, workflow, xlsx
from blueprints.core import settlement as flow
from blueprints.core.issuance import display_code, normalize_code
from blueprints.core.money import fen_to_decimal
from models import City, Enterprise, SetStatus, Settlement, StoredFile, Supplier, Voucher, VoucherStatus, db


# --------------------------------------------------------------------------- one settlement


def events(st: Settlement) -> list:
    """The settlement's timeline together with its voucher's own events (issue, void, release) and, once
    listed, its list entries' (held, released, removed, paid) and their lists' (published)."""
    from models import ListEntry

    found = audit.timeline("settlement", st.id) + audit.timeline("voucher", st.voucher_id)
    for entry_id, list_id in db.session.execute(db.select(ListEntry.id, ListEntry.list_id).where(
            ListEntry.settlement_id == st.id)).all():
        found += audit.timeline("list_entry", entry_id)
        found += [e for e in audit.timeline("settlement_list", list_id) if e.action == "publish"]
    return sorted(found, key=lambda e: e.id)


def view_context(st: Settlement, role: str, user=None, *, actions_template: str | None = None, **extra) -> dict:
    """The context of settlement_view.html: the record, its checks, row labels, timeline, what the user
    may do (`can`: action -> Transition) and, at the city, the working days left (SLA-3)."""
    can = {t.action: t for t in workflow.actions_for(st, user)} if user is not None else {}
    days = (timeutil.working_days_left(st.due_on)
            if st.status == SetStatus.CITY_REVIEW and st.due_on is not None else None)
    ctx = dict(st=st, role=role, checked=flow.check_stored(st), labels=flow.row_labels(st), events=events(st),
               next_step=flow.NEXT_STEP, others=flow.other_files(st), days=days, can=can,
               actions_template=actions_template, transitions=list(can.values()), error=None, reason_error=None,
               row_texts={}, return_form_id=f"settlement-{st.id}-return" if "return" in can else None,
               usage=_waiting_usage(st), place=_payout_place(st))
    ids = [i.file_id for i in st.invoices if i.file_id] + [p.file_id for p in st.payments if p.file_id]
    ctx["file_mimes"] = dict(db.session.execute(
        db.select(StoredFile.id, StoredFile.mime).where(StoredFile.id.in_(ids))).all()) if ids else {}
    ctx.update(extra)
    return ctx


def _payout_place(st: Settlement):
    """PAY-2, PUB-4: where an approved settlement stands: on a list in publicity, held by an objection, its
    place in the city's payout queue (by the payout's own allocation), committed or paid; else None."""
    if st.status != SetStatus.APPROVED:
        return None
    from blueprints.core import payout

    entry = payout.live_entry(st.id)
    return payout.place_of(entry) if entry is not None else "unlisted"


def _waiting_usage(st: Settlement):
    """SET-5: why a settlement waits, for everyone who sees it: its voucher's usage (VER-3) while it is
    in verification, else None."""
    if st.status != SetStatus.VERIFICATION:
        return None
    from blueprints.core import usage

    return usage.status(st.voucher)


# What a decision route catches: a refusal (422), an illegal or stale step (409).
REFUSED = (flow.Refused, workflow.NotAllowed, StaleDataError)


def refusal(exc: Exception) -> tuple[int, str]:
    """The status and message for one of REFUSED."""
    if isinstance(exc, StaleDataError):
        return 409, "该兑现申请已被他人处理，请刷新页面"
    return (422 if isinstance(exc, flow.Refused) else 409), str(exc)


def row_reasons(form) -> dict[str, str]:
    """The reasons typed beside the rows: form fields reason-inv-<id> / reason-pay-<id> -> {"inv-<id>": text}."""
    return {k[len("reason-"):]: v for k, v in form.items() if k.startswith(("reason-inv-", "reason-pay-"))}


# --------------------------------------------------------------------------- lists


def settlement_select(*, city_code: str | None = None, status: str = "", cycle_id: int | None = None, q: str = ""):
    """Submitted settlements with the list filters, ordered as the city's queue: the earliest review
    deadline (overdue) first, then by first submission (SET-3)."""
    stmt = (db.select(Settlement).where(Settlement.submitted_at.is_not(None), Settlement.status != SetStatus.DRAFT)
            .options(joinedload(Settlement.enterprise), joinedload(Settlement.supplier),
                     joinedload(Settlement.voucher)))
    if city_code:
        stmt = stmt.where(Settlement.city_code == city_code)
    if status:
        stmt = stmt.where(Settlement.status == status)
    if cycle_id:
        stmt = stmt.where(Settlement.cycle_id == cycle_id)
    q = (q or "").strip()
    if q:  # joined only to search, so the plain queue reads ix_settlement_city_queue alone
        code = normalize_code(q)
        stmt = (stmt.join(Enterprise, Enterprise.id == Settlement.enterprise_id)
                .join(Voucher, Voucher.id == Settlement.voucher_id)
                .where(db.or_(Enterprise.name.contains(q), Enterprise.uscc == q, Voucher.code == (code or q))))
    return stmt.order_by(Settlement.due_on.is_(None), Settlement.due_on, Settlement.submitted_at, Settlement.id)


def count_settlements(**filters) -> int:
    from blueprints.core.paging import count_select

    ids = count_select(settlement_select(**filters)).subquery()
    return db.session.execute(db.select(db.func.count()).select_from(ids)).scalar_one()


XLSX_HEADER = ("券号", "企业", "统一社会信用代码", "供应商", "面值（元）", "发票合计", "付款合计", "贯标奖补", "状态",
               "首次提交时间", "转地市时间", "审核期限", "决定时间")
XLSX_WIDTHS = (38, 30, 22, 30, 14, 14, 14, 12, 14, 18, 18, 12, 18)


def _export_select(**filters):
    """Plain columns, one row per settlement, in the list's order with the list's own WHERE clause."""
    stmt = (db.select(Voucher.code, Enterprise.name.label("enterprise"), Enterprise.uscc,
                      Supplier.name.label("supplier"), Voucher.face_value_fen, Settlement.invoiced_fen,
                      Settlement.paid_fen, Settlement.bonus_fen, Settlement.status, Settlement.submitted_at,
                      Settlement.reached_city_at, Settlement.due_on, Settlement.decided_at)
            .select_from(Settlement).join(Enterprise, Enterprise.id == Settlement.enterprise_id)
            .join(Supplier, Supplier.id == Settlement.supplier_id).join(Voucher, Voucher.id == Settlement.voucher_id))
    listed = settlement_select(**filters)
    if listed.whereclause is not None:
        stmt = stmt.where(listed.whereclause)
    return stmt.order_by(Settlement.due_on.is_(None), Settlement.due_on, Settlement.submitted_at, Settlement.id)


def write_settlements_xlsx(out, *, progress=None, **filters) -> int:
    """Every settlement matching the filters (settlement_select's keywords) as an xlsx file; amounts are
    exact decimals in 元. Returns the number of rows."""
    def rows():
        for r in xlsx.stream(_export_select(**filters)):
            yield (display_code(r.code), r.enterprise, r.uscc, r.supplier, fen_to_decimal(r.face_value_fen),
                   fen_to_decimal(r.invoiced_fen or 0), fen_to_decimal(r.paid_fen or 0),
                   fen_to_decimal(r.bonus_fen or 0), workflow.STATUS_LABELS.get(r.status, r.status),
                   r.submitted_at, r.reached_city_at, r.due_on, r.decided_at)

    return xlsx.write_xlsx(out, [xlsx.Sheet("兑现申请", XLSX_HEADER, XLSX_WIDTHS, rows())], progress)


def export_filters(params: dict) -> dict:
    """A background job's recorded filters (without the job's own "_" keys)."""
    return {k: v for k, v in params.items() if not k.startswith("_")}


# --------------------------------------------------------------------------- the province's overview

OVERVIEW_FIELDS = ("filed", "confirmed", "verification", "city_review", "approved", "returned", "void",
                   "approved_fen", "bonus_fen")


def overview_rows() -> tuple[list[tuple[City, dict]], dict]:
    """Per city: settlements filed, confirmed by the supplier, waiting for usage verification, at the
    city, approved, returned; void vouchers; approved face values and the AMT-4 bonus. One grouped
    query over the vouchers (each has at most one settlement), plus the city names."""
    S, V = Settlement, Voucher

    def n(cond):
        return db.func.coalesce(db.func.sum(db.case((cond, 1), else_=0)), 0)

    def fen(cond, col):
        return db.func.coalesce(db.func.sum(db.case((cond, col), else_=0)), 0)

    approved = S.status == SetStatus.APPROVED
    stmt = (db.select(V.city_code, n(S.submitted_at.is_not(None)), n(S.confirmed_at.is_not(None)),
                      n(S.status == SetStatus.VERIFICATION), n(S.status == SetStatus.CITY_REVIEW), n(approved),
                      n(S.status == SetStatus.RETURNED), n(V.status == VoucherStatus.VOID),
                      fen(approved, V.face_value_fen), fen(approved, S.bonus_fen))
            .select_from(V).outerjoin(S, S.voucher_id == V.id).group_by(V.city_code))
    by_city = {row[0]: dict(zip(OVERVIEW_FIELDS, (int(x) for x in row[1:]))) for row in db.session.execute(stmt)}
    zero = dict.fromkeys(OVERVIEW_FIELDS, 0)
    cities = db.session.execute(db.select(City).order_by(City.position, City.code)).scalars().all()
    rows = [(c, by_city.get(c.code, zero)) for c in cities]
    total = {k: sum(r[k] for _, r in rows) for k in OVERVIEW_FIELDS}
    return rows, total


def city_names() -> dict[str, str]:
    return dict(db.session.execute(db.select(City.code, City.name)).all())
