"""The enterprise rates its supplier once its settlement is approved (SUP-3): 1-5 stars and a comment, once
per settlement; the public sees only the average and the count, never the comment."""
from __future__ import annotations

from flask import flash, request, url_for
from flask_login import current_user

from blueprints.core import evaluation, settlement_pages
from blueprints.core.access import get_visible_or_404
from blueprints.core.application import Refused
from blueprints.core.htmx import page, redirect_to, wants_fragment
from blueprints.enterprise import bp
from models import Settlement, db


def _stars(text) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def _again(st: Settlement, status: int, form, errors):
    """The rating box alone (htmx), or the settlement page with it, keeping what was typed."""
    box = evaluation.rating_context(st, form=form, errors=errors)
    if wants_fragment():
        return page("enterprise/settlement_rating.html", status=status, st=st, role="enterprise", **box)
    ctx = settlement_pages.view_context(st, "enterprise", current_user,
                                        actions_template="enterprise/settlement_actions.html", **box)
    ctx["transitions"] = [t for t in ctx["transitions"] if t.action == "withdraw"]
    return page("settlement_view.html", status=status, **ctx)


@bp.route("/settlements/<int:st_id>/rating", methods=["POST"])
def settlement_rating(st_id: int):
    """Rate the supplier of an approved settlement of one's own (once)."""
    st = get_visible_or_404(Settlement, st_id)
    form = {"stars": request.form.get("stars", ""), "comment": request.form.get("comment", "")}
    try:
        evaluation.rate(st, current_user, _stars(form["stars"]), form["comment"])
    except evaluation.FieldErrors as exc:
        db.session.rollback()
        return _again(st, 422, form, exc.errors)
    except Refused as exc:
        db.session.rollback()
        if wants_fragment():  # a 409 is not swapped in: the message travels as a toast
            flash(str(exc), "error")
        return _again(st, 409, form, {"rating": str(exc)})
    db.session.commit()
    flash("感谢您的评价，已记录", "success")
    return redirect_to(url_for("enterprise.settlement_detail", st_id=st.id))
