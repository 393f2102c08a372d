"""The city reviews settlements (SET-6, SLA-3): the queue with working days left, approve, return with every
reason, reject (the voucher becomes void), bulk approval with per-item results, and the xlsx export."""
from __future__ import annotations

from flask import flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from blueprints.city import bp
from blueprints.city.settlement_forms import SettlementFilter
from blueprints.core import exports, paging, timeutil
from blueprints.core import settlement as flow
from blueprints.core import settlement_pages as pages
from blueprints.core import signals
from blueprints.core.access import get_visible_or_404
from blueprints.core.htmx import page, redirect_to
from blueprints.core.money import yuan
from blueprints.core.nav import register_nav, register_panel
from blueprints.core.registration.queues import UNNAMED_ENTERPRISE
from models import Role, SetStatus, Settlement, db

register_nav(Role.CITY, [("兑现审核", "city.settlement_list")])

PER_PAGE = 20
BULK_MAX = 100


def _panel(user) -> dict:
    waiting, overdue = db.session.execute(
        db.select(db.func.count(), db.func.coalesce(db.func.sum(db.case((Settlement.due_on < timeutil.today(), 1),
                                                                        else_=0)), 0))
        .where(Settlement.city_code == user.city_code, Settlement.status == SetStatus.CITY_REVIEW)).one()
    return {"waiting": int(waiting), "overdue": int(overdue)}


register_panel(Role.CITY, "city/_panel_settlement.html", _panel, order=25)


def _filters(f: SettlementFilter) -> dict:
    return dict(city_code=current_user.city_code, **f.values())


def _queue_page(f: SettlementFilter, results=None, status: int = 200):
    pg = paging.paginate(pages.settlement_select(**_filters(f)), per_page=PER_PAGE)
    days = timeutil.working_days_left_many([s.due_on for s in pg.items if s.status == SetStatus.CITY_REVIEW])
    return page("city/settlement_list.html", block="results", status=status, pg=pg, f=f, args=f.args(), days=days,
                bulk_results=results, export_url=url_for("city.settlement_export", **f.args()))


@bp.route("/settlements")
def settlement_list():
    """The settlement review queue: working days left, overdue first; bulk approval."""
    return _queue_page(SettlementFilter(request.args))


def _unnamed(ok: bool, message: str) -> str:
    """A result row without an enterprise name: a settlement no longer there (or not this officer's; the
    flow says so in its message), else an enterprise whose name was left empty. Never a row number."""
    if not ok and message == "不存在或无权处理":  # settlement.bulk_approve's word for a settlement not found
        return _("所选记录")
    return str(UNNAMED_ENTERPRISE)


@bp.route("/settlements/bulk/approve", methods=["POST"])
def settlement_bulk_approve():
    """Approve several settlements; each item gets its own result line."""
    ids = request.form.getlist("ids", type=int)[:BULK_MAX]
    results = [{"id": sid, "name": name or _unnamed(ok, message), "ok": ok, "message": message}
               for sid, name, ok, message in flow.bulk_approve(ids, current_user)]
    db.session.commit()
    ok = sum(1 for r in results if r["ok"])
    flash(f"批量通过：成功 {ok} 项，未通过 {len(results) - ok} 项", "success" if ok == len(results) else "warning")
    return _queue_page(SettlementFilter(request.args), results=results)


def _detail(st: Settlement, status: int = 200, **extra):
    # A refusal is shown at the record's own address: a reload shows the record, never a 405.
    return page("settlement_view.html", status=status,
                url=url_for("city.settlement_detail", st_id=st.id) if status != 200 else None,
                **pages.view_context(st, "city", current_user, actions_template="city/settlement_actions.html",
                                     reasons=flow.CITY_RETURN_REASONS, signals=signals.for_settlement(st), **extra))


def _refused(st: Settlement, exc: Exception, field: str = "error", **extra):
    """Roll back and show the page again with why: 422 for a refusal, 409 for a stale or illegal step."""
    db.session.rollback()
    code, message = pages.refusal(exc)
    # A stale or illegal step hides the form the field belongs to: say it above the actions.
    return _detail(st, code, **{field if code == 422 else "error": message}, **extra)


@bp.route("/settlements/<int:st_id>")
def settlement_detail(st_id: int):
    """Review one settlement: the documents beside the figures and the automatic checks."""
    return _detail(get_visible_or_404(Settlement, st_id))


@bp.route("/settlements/<int:st_id>/approve", methods=["GET", "POST"])
def settlement_approve(st_id: int):
    """Approve (SET-6); the AMT-4 bonus is recorded on the enterprise's first approved settlement."""
    st = get_visible_or_404(Settlement, st_id)
    if request.method == "GET":  # a reload after a refusal, a bookmark: the record
        return redirect_to(url_for("city.settlement_detail", st_id=st.id))
    try:
        flow.approve(st, current_user)
    except pages.REFUSED as exc:
        return _refused(st, exc)
    db.session.commit()
    flash("审核通过，已列入本市结算清单" + (f"（含贯标奖补 {yuan(st.bonus_fen)}）" if st.bonus_fen else ""),
          "success")
    return redirect_to(url_for("city.settlement_detail", st_id=st.id))


@bp.route("/settlements/<int:st_id>/return", methods=["GET", "POST"])
def settlement_return(st_id: int):
    """Return with every reason at once, each row's beside it (SET-6); resubmission within 5 working days."""
    st = get_visible_or_404(Settlement, st_id)
    if request.method == "GET":  # a reload after a refusal, a bookmark: the record
        return redirect_to(url_for("city.settlement_detail", st_id=st.id))
    ticked, other, rows = request.form.getlist("reasons"), request.form.get("other", ""), pages.row_reasons(request.form)
    try:
        flow.city_return(st, current_user, ticked, other, rows)
    except pages.REFUSED as exc:
        return _refused(st, exc, field="reason_error", ticked=ticked, other_text=other, row_texts=rows)
    db.session.commit()
    flash("已退回企业修改，退回原因已通知企业", "success")
    return redirect_to(url_for("city.settlement_detail", st_id=st.id))


@bp.route("/settlements/<int:st_id>/reject", methods=["GET", "POST"])
def settlement_reject(st_id: int):
    """Reject for false material: final, the voucher becomes void at once (SET-6, DL-2..4)."""
    st = get_visible_or_404(Settlement, st_id)
    if request.method == "GET":  # a reload after a refusal, a bookmark: the record
        return redirect_to(url_for("city.settlement_detail", st_id=st.id))
    try:
        flow.reject(st, current_user, request.form.get("reason", ""))
    except pages.REFUSED as exc:
        return _refused(st, exc, field="reject_error")
    db.session.commit()
    flash("已驳回，该服务券已作废", "success")
    return redirect_to(url_for("city.settlement_detail", st_id=st.id))


@bp.route("/settlements/export.xlsx", methods=["GET", "POST"])
def settlement_export():
    """The city's settlements with the list's filters as an xlsx file (a large one becomes a background job)."""
    filters = _filters(SettlementFilter(request.args))
    return exports.respond("settlement_export", count=pages.count_settlements(**filters), params=filters,
                           user=current_user, filename="settlements.xlsx",
                           write=lambda out: pages.write_settlements_xlsx(out, **filters))
