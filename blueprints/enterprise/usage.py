"""The enterprise declares its enterprise-side addresses on a voucher (VER-1) and watches its usage (VER-3)."""
from __future__ import annotations

from flask import flash, request, url_for
from flask_login import current_user

from blueprints.core import usage, usage_pages
from blueprints.core.access import get_visible_or_404
from blueprints.core.htmx import page, redirect_to, wants_fragment
from blueprints.enterprise import bp
from models import Voucher, db


def _usage_box(v: Voucher, status: int = 200, **extra):
    """The 上云用量 box (htmx, with the timeline out of band) or the whole voucher page."""
    ctx = usage_pages.voucher_context(v, "enterprise", current_user, oob=True, **extra)
    return page("voucher_view.html", block=["usage", "timeline"], status=status, **ctx)


def _refused(v: Voucher, problem: str):
    """Editing is closed (the settlement is approved, the voucher void or released): 409 with why."""
    db.session.rollback()
    flash(problem, "error")
    return _usage_box(v, 409)


@bp.route("/vouchers/<int:voucher_id>/addresses", methods=["POST"])
def voucher_address_add(voucher_id: int):
    """Declare one or more enterprise-side addresses or line numbers; the bad ones are refused by name."""
    v = get_visible_or_404(Voucher, voucher_id)
    problem = usage.addresses_editable(v)
    if problem:
        return _refused(v, problem)
    results = usage_pages.add_entries(v, request.form.get("addresses", ""), current_user)
    if not results:
        results = [{"entry": "", "ok": False, "message": "请填写地址或专线号"}]
    db.session.commit()
    bad = [r for r in results if not r["ok"]]
    if not bad and not wants_fragment():
        flash(f"已添加 {len(results)} 个地址或专线号", "success")
        return redirect_to(url_for("enterprise.voucher_detail", voucher_id=v.id))
    return _usage_box(v, 422 if len(bad) == len(results) else 200, results=results,
                      retry_text="\n".join(r["entry"] for r in bad))


@bp.route("/vouchers/<int:voucher_id>/addresses/<int:address_id>/remove", methods=["POST"])
def voucher_address_remove(voucher_id: int, address_id: int):
    """Remove a declared address (until the settlement is approved); on the voucher's timeline."""
    v = get_visible_or_404(Voucher, voucher_id)
    problem = usage.addresses_editable(v)
    if problem:
        return _refused(v, problem)
    removed = usage.remove_address(v, address_id, current_user)
    db.session.commit()
    flash("地址已删除" if removed else "该地址已删除", "success" if removed else "info")
    if not wants_fragment():
        return redirect_to(url_for("enterprise.voucher_detail", voucher_id=v.id))
    return _usage_box(v)


@bp.route("/vouchers/<int:voucher_id>/addresses/check")
def voucher_address_check(voucher_id: int):
    """Inline validation as typed (htmx): each entry's normalised value or why it is refused; saves nothing."""
    v = get_visible_or_404(Voucher, voucher_id)
    checked = usage_pages.check_entries(v, request.args.get("addresses", ""))
    # The block needs only the voucher; a plain GET (no htmx) gets the whole page around it.
    ctx = {"v": v} if wants_fragment() else usage_pages.voucher_context(v, "enterprise", current_user)
    return page("voucher_view.html", block="address_check", **{**ctx, "checked": checked})
