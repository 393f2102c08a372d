"""The city reviews applications (APP-4, SLA-2, SLA-5), issues vouchers (APP-5) and lists them."""
from __future__ import annotations

from flask import flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError

from blueprints.city import bp
from blueprints.city.app_forms import QueueFilter, VoucherFilter
from blueprints.core import audit, eligibility, exports, issuance, paging, timeutil
from blueprints.core import application as flow
from blueprints.core import signals
from blueprints.core.access import can_see, get_visible_or_404
from blueprints.core.htmx import page, redirect_to
from blueprints.core.nav import register_nav, register_panel
from blueprints.core.workflow import NotAllowed
from models import AppStatus, Application, CityTarget, Enterprise, Role, Voucher, db

register_nav(Role.CITY, [("申领审核", "city.application_list"), ("已发服务券", "city.voucher_list")])

PER_PAGE = 20
BULK_MAX = 100
# The queue's order, matched by the indexes ix_application_city_order (every status) and
# ix_application_city_status_order (one status): no sort of the city's applications per view.
QUEUE_ORDER = (Application.due_on.is_(None), Application.due_on, Application.submitted_at, Application.id)


def _panel(user) -> dict:
    # Both counts in one statement (an index range of the city's pending applications).
    waiting, overdue = db.session.execute(
        db.select(db.func.count(), db.func.coalesce(db.func.sum(db.case((Application.due_on < timeutil.today(), 1),
                                                                        else_=0)), 0))
        .where(Application.city_code == user.city_code, Application.status == AppStatus.CITY_REVIEW)).one()
    return {"waiting": int(waiting), "overdue": int(overdue)}


register_panel(Role.CITY, "city/_panel_app.html", _panel, order=20)


def _queue_select(f: QueueFilter):
    q = (db.select(Application)
         .where(Application.city_code == current_user.city_code, Application.submitted_at.is_not(None),
                Application.confirmed_at.is_not(None))
         .options(joinedload(Application.enterprise), joinedload(Application.supplier),
                  joinedload(Application.catalog_item)))
    if f.status.data:
        q = q.where(Application.status == f.status.data)
    if f.overdue.data:
        q = q.where(Application.due_on < timeutil.today())
    text = (f.q.data or "").strip()
    if text:  # joined only to search, so the plain queue reads ix_application_city_order alone
        q = q.join(Application.enterprise).where(
            db.or_(Enterprise.name.contains(text), Enterprise.uscc == text, Application.contract_no.contains(text)))
    # SLA-5: the earliest due date (overdue) first, then by submission (AMT-2 order).
    return q.order_by(*QUEUE_ORDER)


def _queue_page(f: QueueFilter, results=None, status: int = 200):
    pg = paging.paginate(_queue_select(f), per_page=PER_PAGE)
    days = flow.working_days_left_many([a.due_on for a in pg.items if a.status == AppStatus.CITY_REVIEW])
    return page("city/application_list.html", block="results", status=status, pg=pg, f=f, args=f.args(), days=days,
                bulk_results=results)


@bp.route("/applications")
def application_list():
    """The review queue with working days left, overdue first; bulk approval."""
    return _queue_page(QueueFilter(request.args))


def _detail(a: Application, status: int = 200, reason_error: str | None = None, reject_error: str | None = None,
            approve_error: str | None = None):
    """The review page; a refused decision is shown beside its own form, at the page's GET address."""
    voucher = db.session.execute(db.select(Voucher).where(Voucher.application_id == a.id)).scalar_one_or_none()
    quota = db.session.execute(db.select(CityTarget).where(CityTarget.city_code == a.city_code,
                                                           CityTarget.year == a.cycle.year)).scalar_one_or_none()
    return page("application_view.html", status=status, a=a, role="city", voucher=voucher,
                checks=eligibility.check(a.enterprise, a), preview=flow.review_preview(a), quota=quota,
                days=timeutil.working_days_left(a.due_on) if a.due_on else None,
                reasons=flow.CITY_RETURN_REASONS, reason_error=reason_error, reject_error=reject_error,
                approve_error=approve_error, events=audit.timeline("application", a.id),
                signals=signals.for_application(a),
                url=url_for("city.application_detail", app_id=a.id) if status != 200 else None)


@bp.route("/applications/<int:app_id>")
def application_detail(app_id: int):
    """Review one application: the contract beside the figures, eligibility, the face value."""
    return _detail(get_visible_or_404(Application, app_id))


@bp.route("/applications/<int:app_id>/approve", methods=["GET", "POST"])
def application_approve(app_id: int):
    """Approve: the voucher is issued in the same transaction (APP-5)."""
    a = get_visible_or_404(Application, app_id)
    if request.method == "GET":
        return _to_record(a)
    try:
        v = issuance.approve(a, current_user)
    except issuance.IssueRefused as exc:
        db.session.rollback()
        return _detail(a, 409, approve_error=str(exc))
    db.session.commit()
    flash(f"已通过，服务券 {issuance.display_code(v.code)} 已发放，面值 {_yuan(v.face_value_fen)}", "success")
    return redirect_to(url_for("city.application_detail", app_id=a.id))


def _to_record(a: Application):
    """A decision's address opened with GET (a reload after a refusal, a bookmark): the record, not a 405."""
    return redirect_to(url_for("city.application_detail", app_id=a.id))


def _yuan(fen: int) -> str:
    from blueprints.core.money import yuan

    return yuan(fen)


@bp.route("/applications/<int:app_id>/return", methods=["GET", "POST"])
def application_return(app_id: int):
    """Return with a one-time list of every reason (APP-4)."""
    a = get_visible_or_404(Application, app_id)
    if request.method == "GET":
        return _to_record(a)
    reasons = flow.parse_reasons(request.form.getlist("reasons"), request.form.get("other", ""),
                                 flow.CITY_RETURN_REASONS)
    try:
        flow.return_(a, current_user, reasons)
    except flow.Refused as exc:
        db.session.rollback()
        return _detail(a, 422, reason_error=str(exc))
    db.session.commit()
    flash("已退回企业修改", "success")
    return redirect_to(url_for("city.application_detail", app_id=a.id))


@bp.route("/applications/<int:app_id>/reject", methods=["GET", "POST"])
def application_reject(app_id: int):
    """Reject with a reason; final (APP-4)."""
    a = get_visible_or_404(Application, app_id)
    if request.method == "GET":
        return _to_record(a)
    try:
        flow.reject(a, current_user, request.form.get("reason", ""))
    except flow.Refused as exc:
        db.session.rollback()
        return _detail(a, 422, reject_error=str(exc))
    db.session.commit()
    flash("已驳回", "success")
    return redirect_to(url_for("city.application_detail", app_id=a.id))


@bp.route("/applications/bulk/approve", methods=["POST"])
def application_bulk_approve():
    """Approve several; each is its own transaction and gets its own result line."""
    results = []
    for app_id in request.form.getlist("ids", type=int)[:BULK_MAX]:
        results.append(_approve_one(app_id))
    ok = sum(1 for r in results if r["ok"])
    flash(f"批量通过：成功 {ok} 项，未通过 {len(results) - ok} 项", "success" if ok == len(results) else "warning")
    return _queue_page(QueueFilter(request.args), results=results)


def _approve_one(app_id: int) -> dict:
    # One commit per item: a refusal rolls back only that item, and no lock is held across items.
    a = db.session.get(Application, app_id)
    if a is None or not can_see(current_user, a):
        return {"id": app_id, "ok": False, "name": _("所选记录"), "message": _("已不存在或无权处理")}
    name = a.enterprise.name
    try:
        v = issuance.approve(a, current_user)
        db.session.commit()
        return {"id": app_id, "ok": True, "name": name,
                "message": f"已发放 {issuance.display_code(v.code)}，面值 {_yuan(v.face_value_fen)}"}
    except (issuance.IssueRefused, NotAllowed, StaleDataError) as exc:
        db.session.rollback()
        return {"id": app_id, "ok": False, "name": name,
                "message": str(exc) if not isinstance(exc, StaleDataError) else "该申领已被他人处理"}


def _voucher_filter_values(f: VoucherFilter) -> dict:
    return dict(q=f.q.data or "", cycle_id=int(f.cycle.data) if (f.cycle.data or "").isdigit() else None,
                status=f.status.data or "", pilot=bool(f.pilot.data), issued_from=f.date("issued_from"),
                issued_to=f.date("issued_to"))


@bp.route("/vouchers")
def voucher_list():
    """Vouchers issued by this city, with filters (cycle, status, pilot, dates, search)."""
    f = VoucherFilter(request.args)
    stmt = issuance.voucher_select(city_code=current_user.city_code, **_voucher_filter_values(f))
    pg = paging.paginate(stmt, per_page=PER_PAGE)
    return page("voucher_list.html", block="results", pg=pg, scope="city", endpoint="city.voucher_list",
                args=f.args(), filters=f, export_url=url_for("city.voucher_export", **f.args()))


@bp.route("/vouchers/export.xlsx", methods=["GET", "POST"])
def voucher_export():
    """The filtered list as an xlsx file: every matching voucher; a large list becomes a background job."""
    filters = dict(city_code=current_user.city_code, **_voucher_filter_values(VoucherFilter(request.args)))
    return exports.respond("voucher_export", count=issuance.count_vouchers(**filters), params=filters,
                           user=current_user, filename="vouchers.xlsx",
                           write=lambda out: issuance.write_vouchers_xlsx(out, **filters))


@bp.route("/vouchers/<int:voucher_id>")
def voucher_detail(voucher_id: int):
    """One voucher of this city with its usage and timeline."""
    from blueprints.core import usage_pages

    v = get_visible_or_404(Voucher, voucher_id)
    return page("voucher_view.html", **usage_pages.voucher_context(v, "city", current_user))
