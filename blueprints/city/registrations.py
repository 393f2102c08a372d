"""Review queue and record pages for registrations and profile changes (REG-3..6, REG-9, SLA-1, SLA-5).

The same views serve the province blueprint (blueprints/province/registrations.py registers
them there too): links use request.blueprint and the rows come from the reviewer's own
scope (current_user.acting_role), so a city officer sees only its city's items (ROLE-3, ROLE-8).
"""
from __future__ import annotations

from flask import abort, flash, request, url_for
from flask_login import current_user

from blueprints.city import bp
from blueprints.core import registration
from blueprints.core.htmx import page, redirect_to, wants_fragment
from blueprints.core.nav import register_nav, register_panel
from blueprints.core.workflow import NotAllowed
from models import Role, db

QUEUE_TPL = "province/reg_queue.html"
DETAIL_TPL = "province/reg_detail.html"

register_nav(Role.CITY, [("注册审核", "city.registration_queue")])
register_panel(Role.CITY, "city/_panel_reg.html", registration.reviewer_panel, order=10)


def _detail_ctx(obj, **extra) -> dict:
    ctx = registration.decision_context(obj, current_user)
    ctx.update(bp=request.blueprint, decision_error="", decision_action="")
    ctx.update(extra)
    return ctx


@bp.route("/registrations")
def registration_queue():
    """Items waiting for this reviewer, overdue first (SLA-5); search and filters live in the URL."""
    qa = registration.parse_queue_args(request.args, current_user.acting_role)
    return page(QUEUE_TPL, block="results", bp=request.blueprint, **registration.queue_context(qa, current_user))


@bp.route("/registrations/<kind>/<int:ident>")
def registration_detail(kind: str, ident: int):
    """One registration or change: facts, documents, returns, decision buttons, timeline."""
    obj = registration.load(kind, ident)
    return page(DETAIL_TPL, **_detail_ctx(obj))


@bp.route("/registrations/<kind>/<int:ident>/decide", methods=["GET", "POST"])
def registration_decide(kind: str, ident: int):
    """Approve, return with every reason at once (REG-5) or reject with a reason (REG-6)."""
    obj = registration.load(kind, ident)
    if request.method == "GET":  # a reload after a refusal, a bookmark: the record, never a 405
        return redirect_to(url_for(f"{request.blueprint}.registration_detail", kind=kind, ident=ident))
    action = request.form.get("action", "")
    try:
        reasons = registration.parse_reasons(registration.owner_kind(obj), request.form.getlist("reason_field"),
                                             request.form.getlist("reason_text"))
        registration.decide(obj, action, current_user, reasons, request.form.get("reason", ""))
    except (registration.DecisionError, NotAllowed) as exc:
        db.session.rollback()
        # Beside the form that was sent, at the record's own address (a reload shows the record).
        return page(DETAIL_TPL, status=422 if isinstance(exc, registration.DecisionError) else 409,
                    url=url_for(f"{request.blueprint}.registration_detail", kind=kind, ident=ident),
                    **_detail_ctx(obj, decision_error=str(exc), decision_action=action))
    db.session.commit()
    flash(f"{registration.ACTION_LABELS.get(action, action)}：{registration.display_name(obj)}", "success")
    return redirect_to(url_for(f"{request.blueprint}.registration_queue", kind=kind))


@bp.route("/registrations/bulk/approve", methods=["POST"])
def registration_bulk_approve():
    """Approve every ticked item; each succeeds or fails on its own and the result is listed."""
    qa = registration.parse_queue_args(request.form, current_user.acting_role)
    results = registration.bulk_decide(qa.kind, request.form.getlist("ids"), "approve", current_user)
    db.session.commit()
    for level, message in registration.bulk_messages(results):
        flash(message, level)
    return page(QUEUE_TPL, block="results", bp=request.blueprint,
                **registration.queue_context(qa, current_user, bulk=results))


@bp.route("/registrations/reason-row")
def registration_reason_row():
    """One more (field, reason) row for the return form (htmx)."""
    fields = registration.REASON_FIELDS.get(request.args.get("kind", ""))
    if fields is None:
        abort(404)
    if not wants_fragment():  # a row of the return form: without htmx, the queue (R02)
        return redirect_to(url_for(f"{request.blueprint}.registration_queue"))
    return page("province/reg_reason_row.html", reason_fields=fields)
