"""The province's view of settlements: the overview per city, every city's settlements, and the
override that lets a settlement waiting for usage verification through with a recorded reason (SET-5)."""
from __future__ import annotations

from flask import flash, request, url_for
from flask_login import current_user

from blueprints.core import paging
from blueprints.core import settlement as flow
from blueprints.core import settlement_pages as pages
from blueprints.core import signals
from blueprints.core.access import get_visible_or_404
from blueprints.core.htmx import page, redirect_to
from blueprints.core.nav import register_nav
from blueprints.province import bp
from blueprints.province.settlement_forms import SettlementFilter
from models import Role, Settlement, db

register_nav(Role.PROVINCE, [("兑现与核验", "province.settlement_list")])

PER_PAGE = 30


@bp.route("/settlements/overview")
def settlement_overview():
    """Per city: settlements filed, confirmed, waiting for verification, at the city, approved, returned;
    void vouchers; approved face values and bonus."""
    rows, total = pages.overview_rows()
    return page("province/settlement_overview.html", rows=rows, total=total)


@bp.route("/settlements")
def settlement_list():
    """Every city's submitted settlements; by default those waiting for usage verification (the override queue)."""
    f = SettlementFilter(request.args)
    pg = paging.paginate(pages.settlement_select(**f.values()), per_page=PER_PAGE)
    return page("province/settlement_list.html", block="results", pg=pg, f=f, args=f.args(), cities=pages.city_names())


def _detail(st: Settlement, status: int = 200, **extra):
    return page("settlement_view.html", status=status,
                **pages.view_context(st, "province", current_user, actions_template="province/settlement_actions.html",
                                     signals=signals.for_settlement(st), **extra))


@bp.route("/settlements/<int:st_id>")
def settlement_detail(st_id: int):
    """One settlement, read-only, with the verification override while it waits."""
    return _detail(get_visible_or_404(Settlement, st_id))


@bp.route("/settlements/<int:st_id>/override", methods=["POST"])
def settlement_override(st_id: int):
    """Let a settlement through usage verification with a recorded reason (SET-5); it goes to the city."""
    st = get_visible_or_404(Settlement, st_id)
    try:
        flow.override_verification(st, current_user, request.form.get("reason", ""))
    except pages.REFUSED as exc:
        db.session.rollback()
        code, message = pages.refusal(exc)
        return _detail(st, code, **{"reason_error" if code == 422 else "error": message})
    db.session.commit()
    flash("已核定免于等待用量核验，兑现申请已转地市审核", "success")
    return redirect_to(url_for("province.settlement_detail", st_id=st.id))
