"""Supplier evaluation (SUP-3): yearly scorecards from platform data, the enterprises' ratings and the
province's award 广东省工业互联网优秀供应商.

scorecards(year) computes every figure with one GROUP BY query per source (vouchers, settlements,
objections, complaints, spot checks, recoveries, ratings, awards), never a query per supplier, so the
province's table and the public pages cost the same for 10 suppliers or 1,000.

What each figure means (the year is the voucher's cycle year, Cycle.year, unless said otherwise):
- customers: distinct enterprises holding a voucher issued through the supplier in the year;
- vouchers, face value: vouchers issued through it (still issued or since void; a voucher released before
  the application deadline was given back unused and is not counted, as in DL-2);
- settlements approved: its customers' settlements the city approved;
- usage verification pass rate: among its vouchers whose settlement has reached at least the supplier's
  confirmation (Settlement.confirmed_at set: waiting for usage, with the city, approved or rejected), the
  share whose usage is verified in VoucherUsage: N days of connection records (the cycle's
  verification_days) or the province's usage override "verified"; an override "not verified" is a fail.
  A settlement the province let through to the city without data (Settlement.verified_how "override")
  is not a pass unless the voucher's usage itself is verified: the rate measures proven use;
- objections upheld: distinct upheld objections against its customers' list entries;
- complaints upheld: complaints about it found justified, by the complaint's date (Beijing year);
- spot checks: checks of the supplier itself (by the check date's year) and of its customers' vouchers
  (by the voucher's cycle year), and how many of them failed; checks of an enterprise are the
  enterprise's, not attributed to a supplier;
- recoveries: count and amount recovered from its customers' vouchers;
- rating: the enterprises' average stars (one decimal) and how many rated, for settlements of the year;
- contract fee / item cap: the average over its vouchers of the contract fee as a share of the catalog
  item's cap, in % (one decimal; it can pass 100 %: the voucher covers at most the cap).

rate() and award() only flush; the route commits.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.exc import IntegrityError

from blueprints.core import audit, notices
from blueprints.core.application import Refused, link
from blueprints.core.supervision import FieldErrors
from blueprints.core.timeutil import LOCAL_TZ, today
from models import (
    Application, CatalogItem, Complaint, Cycle, ListEntry, Objection, ObjectionEntry, ObjStatus, Recovery,
    RegStatus, SetStatus, Settlement, SpotCheck, Supplier, SupplierAward, SupplierRating, Voucher, VoucherStatus,
    VoucherUsage, db,
)

AWARD_TITLE = "广东省工业互联网优秀供应商"
COMMENT_MAX = 500
FIRST_YEAR = 2018


@dataclass
class Scorecard:
    supplier_id: int
    name: str
    customers: int = 0
    vouchers: int = 0
    face_fen: int = 0
    settlements_approved: int = 0
    usage_checked: int = 0  # vouchers whose settlement reached the supplier's confirmation
    usage_verified: int = 0  # ... of which the usage is verified
    objections_upheld: int = 0
    complaints_upheld: int = 0
    spot_checks: int = 0
    spot_checks_failed: int = 0
    recoveries: int = 0
    recovered_fen: int = 0
    ratings: int = 0
    rating_avg: Decimal | None = None  # one decimal
    fee_share_pct: Decimal | None = None  # one decimal
    award: SupplierAward | None = None  # the year's award

    @property
    def pass_rate_pct(self) -> Decimal | None:
        """The usage verification pass rate in % (one decimal), None when nothing reached confirmation."""
        if not self.usage_checked:
            return None
        return _one_decimal(Decimal(self.usage_verified * 100) / self.usage_checked)


# The province's sortable columns (?sort=): a whitelist, each a Scorecard attribute or property.
SORT_COLUMNS = {
    "name": "name", "customers": "customers", "vouchers": "vouchers", "face": "face_fen",
    "approved": "settlements_approved", "pass_rate": "pass_rate_pct", "objections": "objections_upheld",
    "complaints": "complaints_upheld", "spot_checks": "spot_checks", "spot_failed": "spot_checks_failed",
    "recoveries": "recovered_fen", "rating": "rating_avg", "ratings": "ratings", "fee_share": "fee_share_pct",
}


def _one_decimal(x) -> Decimal:
    return Decimal(str(x)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def year_bounds(year: int) -> tuple[dt.datetime, dt.datetime]:
    """The Beijing calendar year as an aware [start, end) pair (times are stored in UTC)."""
    return (dt.datetime(year, 1, 1, tzinfo=LOCAL_TZ), dt.datetime(year + 1, 1, 1, tzinfo=LOCAL_TZ))


def current_year() -> int:
    return today().year


def parse_year(value) -> int:
    """A requested year within FIRST_YEAR..next year, else the current one."""
    try:
        y = int(value)
    except (TypeError, ValueError):
        return current_year()
    return y if FIRST_YEAR <= y <= current_year() + 1 else current_year()


# --------------------------------------------------------------------------- scorecards


def scorecards(year: int, supplier_ids=None) -> list[Scorecard]:
    """The scorecards of the year: of these suppliers (in the given order), or of every approved supplier
    (by name). A handful of grouped queries whatever the number of suppliers."""
    if supplier_ids is None:
        rows = db.session.execute(db.select(Supplier.id, Supplier.name).where(Supplier.status == RegStatus.APPROVED)
                                  .order_by(Supplier.name, Supplier.id)).all()
        within = lambda col: db.true()  # noqa: E731  (every supplier: no IN list of hundreds of ids)
    else:
        ids = list(dict.fromkeys(int(i) for i in supplier_ids))
        if not ids:
            return []
        names = dict(db.session.execute(db.select(Supplier.id, Supplier.name).where(Supplier.id.in_(ids))).all())
        rows = [(i, names[i]) for i in ids if i in names]
        within = lambda col: col.in_(ids)  # noqa: E731
    cards = {sid: Scorecard(supplier_id=sid, name=name) for sid, name in rows}
    if not cards:
        return []
    in_year = Cycle.year == year

    # Vouchers: customers, count, face value, contract fee against the item cap.
    share = db.case((CatalogItem.cap_fen > 0, Application.contract_fee_fen * 100.0 / CatalogItem.cap_fen))
    for sid, customers, n, face, fee_share in db.session.execute(
            db.select(Voucher.supplier_id, db.func.count(db.distinct(Voucher.enterprise_id)), db.func.count(Voucher.id),
                      db.func.coalesce(db.func.sum(Voucher.face_value_fen), 0), db.func.avg(share))
            .join(Cycle, Cycle.id == Voucher.cycle_id).join(Application, Application.id == Voucher.application_id)
            .outerjoin(CatalogItem, CatalogItem.id == Application.catalog_item_id)
            .where(in_year, Voucher.status != VoucherStatus.RELEASED, within(Voucher.supplier_id))
            .group_by(Voucher.supplier_id)):
        if sid in cards:
            c = cards[sid]
            c.customers, c.vouchers, c.face_fen = customers, n, int(face)
            c.fee_share_pct = _one_decimal(fee_share) if fee_share is not None else None

    # Settlements: approved, and the usage verification pass rate (VER-3 as usage.status() reads it).
    confirmed = Settlement.confirmed_at.is_not(None)
    verified = db.or_(VoucherUsage.override == "verified",
                      db.and_(VoucherUsage.override != "not_verified",
                              VoucherUsage.days >= db.func.coalesce(Cycle.verification_days, 5)))
    for sid, approved, checked, ok in db.session.execute(
            db.select(Settlement.supplier_id,
                      db.func.sum(db.case((Settlement.status == SetStatus.APPROVED, 1), else_=0)),
                      db.func.sum(db.case((confirmed, 1), else_=0)),
                      db.func.sum(db.case((db.and_(confirmed, verified), 1), else_=0)))
            .join(Cycle, Cycle.id == Settlement.cycle_id)
            .outerjoin(VoucherUsage, VoucherUsage.voucher_id == Settlement.voucher_id)
            .where(in_year, within(Settlement.supplier_id)).group_by(Settlement.supplier_id)):
        if sid in cards:
            c = cards[sid]
            c.settlements_approved = int(approved or 0)
            c.usage_checked, c.usage_verified = int(checked or 0), int(ok or 0)

    # Objections upheld against its customers' list entries.
    for sid, n in db.session.execute(
            db.select(Voucher.supplier_id, db.func.count(db.distinct(Objection.id)))
            .join(ObjectionEntry, ObjectionEntry.objection_id == Objection.id)
            .join(ListEntry, ListEntry.id == ObjectionEntry.entry_id).join(Voucher, Voucher.id == ListEntry.voucher_id)
            .join(Cycle, Cycle.id == Voucher.cycle_id)
            .where(Objection.status == ObjStatus.UPHELD, in_year, within(Voucher.supplier_id))
            .group_by(Voucher.supplier_id)):
        if sid in cards:
            cards[sid].objections_upheld = n

    # Complaints about it, upheld, by the complaint's (Beijing) year.
    start, end = year_bounds(year)
    for sid, n in db.session.execute(
            db.select(Complaint.supplier_id, db.func.count(Complaint.id))
            .where(Complaint.upheld.is_(True), Complaint.created_at >= start, Complaint.created_at < end,
                   Complaint.supplier_id.is_not(None), within(Complaint.supplier_id))
            .group_by(Complaint.supplier_id)):
        if sid in cards:
            cards[sid].complaints_upheld = n

    # Spot checks of the supplier (check date's year) and of its customers' vouchers (cycle year).
    target = db.case((SpotCheck.target_type == "supplier", SpotCheck.target_id), else_=Voucher.supplier_id)
    for sid, n, failed in db.session.execute(
            db.select(target, db.func.count(SpotCheck.id),
                      db.func.sum(db.case((SpotCheck.result == "fail", 1), else_=0)))
            .outerjoin(Voucher, db.and_(SpotCheck.target_type == "voucher", Voucher.id == SpotCheck.target_id))
            .outerjoin(Cycle, Cycle.id == Voucher.cycle_id)
            .where(db.or_(db.and_(SpotCheck.target_type == "supplier", SpotCheck.checked_on >= dt.date(year, 1, 1),
                                  SpotCheck.checked_on <= dt.date(year, 12, 31)),
                          db.and_(SpotCheck.target_type == "voucher", in_year)), within(target))
            .group_by(target)):
        if sid in cards:
            cards[sid].spot_checks, cards[sid].spot_checks_failed = n, int(failed or 0)

    # Recoveries from its customers' vouchers.
    for sid, n, amount in db.session.execute(
            db.select(Voucher.supplier_id, db.func.count(Recovery.id),
                      db.func.coalesce(db.func.sum(Recovery.amount_fen), 0))
            .join(Voucher, Voucher.id == Recovery.voucher_id).join(Cycle, Cycle.id == Voucher.cycle_id)
            .where(in_year, within(Voucher.supplier_id)).group_by(Voucher.supplier_id)):
        if sid in cards:
            cards[sid].recoveries, cards[sid].recovered_fen = n, int(amount)

    # The enterprises' ratings: sum and count, averaged here (exact, the same on both engines).
    for sid, n, total in db.session.execute(
            db.select(SupplierRating.supplier_id, db.func.count(SupplierRating.id), db.func.sum(SupplierRating.stars))
            .join(Settlement, Settlement.id == SupplierRating.settlement_id)
            .join(Cycle, Cycle.id == Settlement.cycle_id)
            .where(in_year, within(SupplierRating.supplier_id)).group_by(SupplierRating.supplier_id)):
        if sid in cards and n:
            cards[sid].ratings, cards[sid].rating_avg = n, _one_decimal(Decimal(int(total)) / n)

    for a in db.session.execute(db.select(SupplierAward).where(SupplierAward.year == year,
                                                               within(SupplierAward.supplier_id))).scalars():
        if a.supplier_id in cards:
            cards[a.supplier_id].award = a
    return list(cards.values())


def sort_cards(cards: list[Scorecard], sort: str, direction: str) -> list[Scorecard]:
    """Sorted by a whitelisted column; blanks (no rate, no rating) last either way; ties by name."""
    attr = SORT_COLUMNS.get(sort, "name")
    reverse = direction == "desc"
    cards = sorted(cards, key=lambda c: (c.name, c.supplier_id))
    known = [c for c in cards if getattr(c, attr) is not None]
    blank = [c for c in cards if getattr(c, attr) is None]
    return sorted(known, key=lambda c: getattr(c, attr), reverse=reverse) + blank


def awards_for(supplier_ids) -> dict[int, list[SupplierAward]]:
    """Every award of these suppliers, newest year first (one query)."""
    ids = list(supplier_ids)
    out: dict[int, list[SupplierAward]] = {i: [] for i in ids}
    if ids:
        for a in db.session.execute(db.select(SupplierAward).where(SupplierAward.supplier_id.in_(ids))
                                    .order_by(SupplierAward.year.desc())).scalars():
            out[a.supplier_id].append(a)
    return out


def award_title(year: int) -> str:
    return f"{AWARD_TITLE}（{year} 年度）"


# --------------------------------------------------------------------------- ratings


def rating_of(st: Settlement) -> SupplierRating | None:
    return db.session.execute(db.select(SupplierRating).where(SupplierRating.settlement_id == st.id)
                              ).scalar_one_or_none()


def rating_context(st: Settlement, form=None, errors=None) -> dict:
    """What the enterprise's settlement page needs for the rating box (templates/enterprise/settlement_rating.html)."""
    return {"rating": rating_of(st) if st.status == SetStatus.APPROVED else None, "rating_form": form or {},
            "rating_errors": errors or {}, "stars_choices": range(1, 6)}


def rate(st: Settlement, user, stars, comment: str) -> SupplierRating:
    """The enterprise rates its supplier once per approved settlement of its own: 1-5 stars, a comment of at
    most COMMENT_MAX characters. Refused (409) for a state problem, FieldErrors (422) for the input."""
    if getattr(user, "enterprise_id", None) != st.enterprise_id:
        raise Refused("只能评价本企业兑现申请的服务商")
    if st.status != SetStatus.APPROVED:
        raise Refused("兑现申请审核通过后才能评价服务商")
    if rating_of(st) is not None:
        raise Refused("该兑现申请已评价过服务商，不能重复评价")
    comment = (comment or "").strip()
    errors = {}
    if not isinstance(stars, int) or not 1 <= stars <= 5:
        errors["stars"] = "请选择 1 至 5 星"
    if len(comment) > COMMENT_MAX:
        errors["comment"] = f"评价内容不超过 {COMMENT_MAX} 字（现为 {len(comment)} 字）"
    if errors:
        raise FieldErrors(errors)
    r = SupplierRating(settlement_id=st.id, supplier_id=st.supplier_id, enterprise_id=st.enterprise_id, stars=stars,
                       comment=comment)
    try:
        with db.session.begin_nested():  # two tabs at once: the UNIQUE settlement_id decides
            db.session.add(r)
            db.session.flush()
    except IntegrityError:
        raise Refused("该兑现申请已评价过服务商，不能重复评价") from None
    audit.record("settlement", st.id, "supplier_rating", actor=user, reason=f"{stars} 星",
                 data={"rating_id": r.id, "supplier_id": st.supplier_id, "stars": stars, "comment": comment})
    return r


# --------------------------------------------------------------------------- awards


def award_for(supplier_id: int, year: int) -> SupplierAward | None:
    return db.session.execute(db.select(SupplierAward).where(SupplierAward.supplier_id == supplier_id,
                                                             SupplierAward.year == year)).scalar_one_or_none()


def award(supplier: Supplier, year, user, reason: str) -> SupplierAward:
    """The province awards 广东省工业互联网优秀供应商 for a year, once per supplier and year (Refused: 409),
    with a reason (FieldErrors: 422); audit-recorded, with a notice to the supplier."""
    reason = (reason or "").strip()
    errors = {}
    if supplier.status != RegStatus.APPROVED:
        errors["supplier"] = "只能授予已通过注册的供应商"
    if not isinstance(year, int) or not FIRST_YEAR <= year <= current_year():
        errors["year"] = f"请选择 {FIRST_YEAR} 至 {current_year()} 年之间的年度"
    if not reason:
        errors["reason"] = "请填写授予理由（依据的评价结果）"
    elif len(reason) > 1000:
        errors["reason"] = "授予理由不超过 1000 字"
    if errors:
        raise FieldErrors(errors)
    if award_for(supplier.id, year) is not None:
        raise Refused(f"{supplier.name} 已获 {award_title(year)}，同一年度只授予一次")
    a = SupplierAward(supplier_id=supplier.id, year=year, reason=reason, awarded_by=getattr(user, "id", None))
    try:
        with db.session.begin_nested():  # two officers at once: the UNIQUE (supplier, year) decides
            db.session.add(a)
            db.session.flush()
    except IntegrityError:
        raise Refused(f"{supplier.name} 已获 {award_title(year)}，同一年度只授予一次") from None
    audit.record("supplier", supplier.id, "award", actor=user, reason=f"{award_title(year)}：{reason}",
                 data={"award_id": a.id, "year": year})
    notices.notify_org(supplier_id=supplier.id, title=f"贵单位获评{award_title(year)}", body=reason,
                       link=link("public.supplier_detail", supplier_id=supplier.id))
    return a
