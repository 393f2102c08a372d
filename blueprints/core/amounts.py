"""Voucher amounts (AMT-1..3, AMT-5): integer fen, exact, earlier submissions first.

AMT-1  item amount = min(item cap of the catalog version, cloud fee in the contract)
AMT-3  face value  = min(item amount, cumulative cap - face values already issued to the
       enterprise in the cycle - item amounts of its still-pending applications submitted
       earlier); zero or less means the cap is used up.

The pure functions hold the arithmetic; preview() gathers the sums from the database for the
form (what the enterprise would get if approved now) and for the city's review page.
issuance.py calls the same functions under its per-enterprise lock.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from models import AppStatus, Application, CatalogItem, CatalogVersion, Voucher, VoucherStatus, db

# Submitted and neither decided nor withdrawn: these hold their place in the queue (AMT-2).
PENDING = (AppStatus.SUPPLIER_REVIEW, AppStatus.CITY_REVIEW, AppStatus.RETURNED)


def item_amount(item_cap_fen: int, fee_fen: int) -> int:
    """AMT-1."""
    return min(int(item_cap_fen), int(fee_fen))


def face_value(item_amount_fen: int, cumulative_cap_fen: int, issued_fen: int, earlier_pending_fen: int) -> int:
    """AMT-3. May be zero or negative: then nothing can be issued."""
    return min(int(item_amount_fen), int(cumulative_cap_fen) - int(issued_fen) - int(earlier_pending_fen))


def issued_sum(enterprise_id: int, cycle_id: int) -> int:
    """Face values issued to the enterprise in the cycle; a void or released voucher frees its share."""
    return int(
        db.session.execute(
            db.select(db.func.coalesce(db.func.sum(Voucher.face_value_fen), 0)).where(
                Voucher.enterprise_id == enterprise_id, Voucher.cycle_id == cycle_id,
                Voucher.status.not_in((VoucherStatus.VOID, VoucherStatus.RELEASED)),
            )
        ).scalar_one()
    )


def earlier_pending_sum(enterprise_id: int, cycle_id: int, application: Application | None) -> int:
    """Item amounts of the enterprise's pending applications submitted before `application`.

    For an application not yet submitted every pending one is earlier. Ties on the
    timestamp are broken by id, so the order is total.
    """
    q = db.select(db.func.coalesce(db.func.sum(Application.item_amount_fen), 0)).where(
        Application.enterprise_id == enterprise_id, Application.cycle_id == cycle_id,
        Application.status.in_(PENDING), Application.submitted_at.is_not(None),
    )
    if application is not None and application.id is not None:
        q = q.where(Application.id != application.id)
        if application.submitted_at is not None:
            t: dt.datetime = application.submitted_at
            q = q.where(db.or_(Application.submitted_at < t,
                               db.and_(Application.submitted_at == t, Application.id < application.id)))
    return int(db.session.execute(q).scalar_one())


@dataclass(frozen=True)
class Preview:
    item_cap_fen: int | None
    fee_fen: int | None
    item_amount_fen: int | None
    cumulative_cap_fen: int
    issued_fen: int
    pending_fen: int
    left_fen: int  # cumulative cap left for this application
    face_value_fen: int | None  # what would be issued now (never negative here)

    @property
    def used_up(self) -> bool:
        return self.left_fen <= 0

    @property
    def limited_by_cap(self) -> bool:
        return self.item_amount_fen is not None and self.face_value_fen is not None and \
            self.face_value_fen < self.item_amount_fen


def preview(application: Application, version: CatalogVersion | None, item: CatalogItem | None,
            fee_fen: int | None) -> Preview:
    """The amounts for `application` with the given item and fee, as if approved now."""
    cap = int(version.cumulative_cap_fen) if version is not None else 0
    issued = issued_sum(application.enterprise_id, application.cycle_id)
    pending = earlier_pending_sum(application.enterprise_id, application.cycle_id, application)
    left = cap - issued - pending
    amount = item_amount(item.cap_fen, fee_fen) if item is not None and fee_fen is not None else None
    face = max(0, face_value(amount, cap, issued, pending)) if amount is not None else None
    return Preview(
        item_cap_fen=item.cap_fen if item is not None else None, fee_fen=fee_fen, item_amount_fen=amount,
        cumulative_cap_fen=cap, issued_fen=issued, pending_fen=pending, left_fen=left, face_value_fen=face,
    )
