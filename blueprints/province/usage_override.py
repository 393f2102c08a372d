"""The province overrides a voucher's usage result either way, with a recorded reason (VER-3, SET-5)."""
from __future__ import annotations

from flask import flash, request, url_for
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from blueprints.core import usage, usage_pages
from blueprints.core.access import get_visible_or_404
from blueprints.core.application import Refused
from blueprints.core.htmx import page, redirect_to
from blueprints.core.workflow import NotAllowed
from blueprints.province import bp
from models import Voucher, db

# The form's buttons -> usage.override's decision ("" removes the override).
DECISIONS = {"verified": "verified", "not_verified": "not_verified", "clear": ""}
MAX_REASON = 1000  # the textarea's maxlength
DONE = {"verified": "已核定为已完成", "not_verified": "已核定为未完成", "": "已取消核定，恢复按连接记录判定"}


@bp.route("/vouchers/<int:voucher_id>/usage/override", methods=["POST"])
def voucher_usage_override(voucher_id: int):
    """核定为已完成 / 核定为未完成 / 取消核定, with a reason (except to cancel); a waiting settlement moves on."""
    v = get_visible_or_404(Voucher, voucher_id)
    reason = request.form.get("reason", "")
    try:
        decision = DECISIONS.get(request.form.get("decision", ""))
        if decision is None:
            raise Refused("请选择核定结论")
        if len(reason.strip()) > MAX_REASON:  # the form's maxlength; a longer one is not cut silently
            raise Refused(f"核定理由最多 {MAX_REASON} 个字")
        if decision == "" and not usage.status(v).override:  # a stale page: nothing to cancel
            raise NotAllowed("该服务券没有省级核定，无需取消")
        usage.override(v, current_user, decision, reason)
    except (Refused, NotAllowed, StaleDataError) as exc:
        db.session.rollback()
        code = 422 if isinstance(exc, Refused) else 409  # a refusal; a stale or illegal step
        message = "该服务券已被他人处理，请刷新页面" if isinstance(exc, StaleDataError) else str(exc)
        if code == 409:  # htmx does not swap a 409: the message travels as a toast
            flash(message, "error")
        ctx = usage_pages.voucher_context(v, "province", current_user, override_error=message, reason_text=reason)
        return page("voucher_view.html", block="usage", status=code, **ctx)
    db.session.commit()
    flash(DONE[decision], "success")
    return redirect_to(url_for("province.voucher_detail", voucher_id=v.id))
