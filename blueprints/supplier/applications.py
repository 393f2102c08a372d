"""The supplier confirms its customers' applications (APP-3, REL-1, PIL-2, REL-4) and sees its customers."""
from __future__ import annotations

from flask import flash, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload

from blueprints.core import audit, eligibility, paging
from blueprints.core import application as flow
from blueprints.core.access import get_visible_or_404, supplier_applications_clause
from blueprints.core.htmx import page, redirect_to
from blueprints.core.nav import register_nav, register_panel
from blueprints.supplier import bp
from blueprints.supplier.app_forms import QueueFilter
from models import APPLICATION_WAITING_LAST, AppStatus, Application, Enterprise, Role, Voucher, db

register_nav(Role.SUPPLIER, [("客户申领确认", "supplier.application_list"), ("我的客户", "supplier.customer_list")])

PER_PAGE = 20


def _panel(user) -> dict:
    waiting = db.session.execute(
        db.select(db.func.count()).where(Application.supplier_id == user.supplier_id,
                                         Application.status == AppStatus.SUPPLIER_REVIEW)
    ).scalar_one()
    return {"waiting": waiting}


register_panel(Role.SUPPLIER, "supplier/_panel_app.html", _panel, order=20)


@bp.route("/applications")
def application_list():
    """The queue of customers' applications: waiting for confirmation first (oldest first)."""
    f = QueueFilter(request.args)
    q = (db.select(Application)
         .where(supplier_applications_clause(current_user.supplier_id))  # ROLE-8
         .options(joinedload(Application.enterprise), joinedload(Application.catalog_item)))
    if f.status.data:
        q = q.where(Application.status == f.status.data)
    if f.q.data:  # joined only to search: the plain queue reads ix_application_supplier_order alone
        q = q.join(Application.enterprise).where(
            db.or_(Enterprise.name.contains(f.q.data.strip()), Application.contract_no.contains(f.q.data.strip())))
    # Waiting for confirmation first (false sorts before true), then oldest first; the same
    # expression as the index, written as a literal so SQLite matches it.
    pg = paging.paginate(q.order_by(APPLICATION_WAITING_LAST, Application.submitted_at, Application.id),
                         per_page=PER_PAGE)
    return page("supplier/application_list.html", block="results", pg=pg, f=f, args=f.args())


def _detail(a: Application, status: int = 200, reason_error: str | None = None):
    voucher = db.session.execute(db.select(Voucher).where(Voucher.application_id == a.id)).scalar_one_or_none()
    problem = eligibility.supplier_problem(a.supplier, a.cycle_id)
    return page("application_view.html", status=status, a=a, role="supplier", voucher=voucher, checks=None,
                problem=problem, reasons=flow.SUPPLIER_RETURN_REASONS, reason_error=reason_error,
                events=audit.timeline("application", a.id))


@bp.route("/applications/<int:app_id>")
def application_detail(app_id: int):
    """One customer application with the contract, to confirm or return."""
    return _detail(get_visible_or_404(Application, app_id))


@bp.route("/applications/<int:app_id>/confirm", methods=["POST"])
def application_confirm(app_id: int):
    """Confirm the contract is real and the figures right (APP-3); REL-1 commitment; PIL-2 mark."""
    a = get_visible_or_404(Application, app_id)
    try:
        flow.confirm(a, current_user, pilot=request.form.get("pilot") == "y",
                     fair_price=request.form.get("fair_price") == "y")
    except flow.Refused as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return _detail(a, 409)
    db.session.commit()
    flash("已确认，申领已提交地市审核", "success")
    return redirect_to(url_for("supplier.application_detail", app_id=a.id))


@bp.route("/applications/<int:app_id>/return", methods=["POST"])
def application_return(app_id: int):
    """Return to the enterprise with every reason at once (APP-3)."""
    a = get_visible_or_404(Application, app_id)
    reasons = flow.parse_reasons(request.form.getlist("reasons"), request.form.get("other", ""),
                                 flow.SUPPLIER_RETURN_REASONS)
    try:
        flow.return_(a, current_user, reasons)
    except flow.Refused as exc:
        db.session.rollback()
        return _detail(a, 422, reason_error=str(exc))
    db.session.commit()
    flash("已退回企业修改", "success")
    return redirect_to(url_for("supplier.application_detail", app_id=a.id))


@bp.route("/customers")
def customer_list():
    """The supplier's customers: enterprises with applications naming it, with their vouchers."""
    f = QueueFilter(request.args)
    mine = db.select(Application.enterprise_id).where(supplier_applications_clause(current_user.supplier_id))
    q = db.select(Enterprise).where(Enterprise.id.in_(mine)).options(joinedload(Enterprise.city))
    if f.q.data:
        q = q.where(Enterprise.name.contains(f.q.data.strip()))
    pg = paging.paginate(q.order_by(Enterprise.name, Enterprise.id), per_page=PER_PAGE)
    ids = [e.id for e in pg.items]
    apps = dict(db.session.execute(
        db.select(Application.enterprise_id, db.func.count()).where(
            Application.enterprise_id.in_(ids), supplier_applications_clause(current_user.supplier_id),
            ).group_by(Application.enterprise_id)).all())
    issued = {e: (n, s) for e, n, s in db.session.execute(
        db.select(Voucher.enterprise_id, db.func.count(), db.func.sum(Voucher.face_value_fen)).where(
            Voucher.enterprise_id.in_(ids), Voucher.supplier_id == current_user.supplier_id)
        .group_by(Voucher.enterprise_id)).all()}
    return page("supplier/app_customers.html", block="results", pg=pg, f=f, args=f.args(), apps=apps, issued=issued)


@bp.route("/vouchers/<int:voucher_id>")
def voucher_detail(voucher_id: int):
    """A voucher issued to one of the supplier's customers, with its usage and the declared addresses."""
    from blueprints.core import usage_pages

    v = get_visible_or_404(Voucher, voucher_id)
    return page("voucher_view.html", **usage_pages.voucher_context(v, "supplier", current_user))
