"""The supplier confirms its customers' settlements or returns them with every reason at once (SET-4)."""
from __future__ import annotations

from flask import flash, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload

from blueprints.core import paging
from blueprints.core import settlement as flow
from blueprints.core.access import get_visible_or_404
from blueprints.core.htmx import page, redirect_to
from blueprints.core.issuance import normalize_code
from blueprints.core.nav import register_nav, register_panel
from blueprints.core.settlement_pages import REFUSED, refusal, row_reasons, view_context
from blueprints.supplier import bp
from blueprints.supplier.settlement_forms import SettlementFilter
from models import Enterprise, Role, SetStatus, Settlement, Voucher, db

register_nav(Role.SUPPLIER, [("客户兑现确认", "supplier.settlement_list")])

PER_PAGE = 20


def _panel(user) -> dict:
    waiting = db.session.execute(
        db.select(db.func.count()).where(Settlement.supplier_id == user.supplier_id,
                                         Settlement.status == SetStatus.SUPPLIER_REVIEW)).scalar_one()
    return {"waiting": waiting}


register_panel(Role.SUPPLIER, "supplier/_panel_settlement.html", _panel, order=25)


@bp.route("/settlements")
def settlement_list():
    """Customers' submitted settlements: waiting for confirmation first, then by first submission."""
    f = SettlementFilter(request.args)
    q = (db.select(Settlement)
         .where(Settlement.supplier_id == current_user.supplier_id, Settlement.submitted_at.is_not(None),
                Settlement.status != SetStatus.DRAFT)
         .options(joinedload(Settlement.enterprise), joinedload(Settlement.voucher)))
    if f.status.data:
        q = q.where(Settlement.status == f.status.data)
    text = (f.q.data or "").strip()
    if text:  # joined only to search
        q = (q.join(Enterprise, Enterprise.id == Settlement.enterprise_id).join(Voucher, Voucher.id == Settlement.voucher_id)
             .where(db.or_(Enterprise.name.contains(text), Voucher.code == (normalize_code(text) or text))))
    waiting_last = Settlement.status != SetStatus.SUPPLIER_REVIEW
    pg = paging.paginate(q.order_by(waiting_last, Settlement.submitted_at, Settlement.id), per_page=PER_PAGE)
    return page("supplier/settlement_list.html", block="results", pg=pg, f=f, args=f.args())


def _detail(st: Settlement, status: int = 200, **extra):
    return page("settlement_view.html", status=status,
                **view_context(st, "supplier", current_user, actions_template="supplier/settlement_actions.html",
                               reasons=flow.SUPPLIER_RETURN_REASONS, **extra))


def _refused(st: Settlement, exc: Exception, field: str = "error", **extra):
    """Roll back and show the page again with why: 422 for a refusal, 409 for a stale or illegal step."""
    db.session.rollback()
    code, message = refusal(exc)
    # A stale or illegal step hides the form the field belongs to: say it above the actions.
    return _detail(st, code, **{field if code == 422 else "error": message}, **extra)


@bp.route("/settlements/<int:st_id>")
def settlement_detail(st_id: int):
    """One customer settlement: invoices and payments with their files and checks, to confirm or return."""
    return _detail(get_visible_or_404(Settlement, st_id))


@bp.route("/settlements/<int:st_id>/confirm", methods=["POST"])
def settlement_confirm(st_id: int):
    """Confirm that the invoices and payments are real (SET-4); then the usage gate (SET-5)."""
    st = get_visible_or_404(Settlement, st_id)
    try:
        flow.supplier_confirm(st, current_user)
    except REFUSED as exc:
        return _refused(st, exc)
    db.session.commit()
    flash("已确认发票和付款属实，兑现申请进入用量核验", "success")
    return redirect_to(url_for("supplier.settlement_detail", st_id=st.id))


@bp.route("/settlements/<int:st_id>/return", methods=["POST"])
def settlement_return(st_id: int):
    """Return to the enterprise with every reason at once, each row's beside it (SET-4, 一次性告知)."""
    st = get_visible_or_404(Settlement, st_id)
    ticked, other, rows = request.form.getlist("reasons"), request.form.get("other", ""), row_reasons(request.form)
    try:
        flow.supplier_return(st, current_user, ticked, other, rows)
    except REFUSED as exc:
        return _refused(st, exc, field="reason_error", ticked=ticked, other_text=other, row_texts=rows)
    db.session.commit()
    flash("已退回企业修改，退回原因已通知企业", "success")
    return redirect_to(url_for("supplier.settlement_detail", st_id=st.id))
