"""Experts score suppliers' service capability in the province's final review (REG-4)."""
from __future__ import annotations

from flask import flash, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from blueprints.core import registration
from blueprints.core.access import get_visible_or_404
from blueprints.core.htmx import page, redirect_to
from blueprints.core.nav import register_nav, register_panel
from blueprints.expert import bp
from models import Role, Supplier, db

register_nav(Role.EXPERT, [("供应商评审", "expert.review_queue")])
register_panel(Role.EXPERT, "expert/_panel_reg.html", registration.expert_panel, order=10)


class ScoreField(IntegerField):
    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("评分须为 0 到 100 的整数") from None


class ExpertReviewForm(FlaskForm):
    score = ScoreField("服务能力评分（0–100）", [InputRequired("请填写评分"),
                                              NumberRange(0, 100, "评分须为 0 到 100 的整数")],
                       render_kw={"inputmode": "numeric", "min": 0, "max": 100})
    opinion = TextAreaField("评审意见", [DataRequired("请填写评审意见"), Length(max=4000, message="意见不能超过 4000 字")],
                            render_kw={"rows": 5})


def _ctx(s: Supplier, form) -> dict:
    """The reviewer's record context, without other experts' scores (each expert judges alone)."""
    ctx = registration.decision_context(s, current_user)
    me = current_user.id
    ctx.update(form=form, bp="expert", reviews=[r for r in ctx["reviews"] if r.expert_id == me],
               events=[ev for ev in ctx["events"] if ev.action != "expert_review" or ev.actor_id == me])
    return ctx


@bp.route("/reviews")
def review_queue():
    """Suppliers in the province's final review: those still waiting for my score first."""
    q = (request.args.get("q") or "").strip()[:100]
    todo = request.args.get("all") != "1"
    pg = db.paginate(registration.expert_select(current_user, q, todo), per_page=registration.PER_PAGE, error_out=False)
    return page("expert/review_queue.html", block="results", pg=pg, q=q, todo=todo,
                scores=registration.my_scores(current_user, pg.items), left=registration.days_left_many(
                    s.due_on for s in pg.items), cities=registration.city_names())


@bp.route("/reviews/<int:ident>", methods=["GET", "POST"])
def review_detail(ident: int):
    """A supplier's file and my score and opinion for the current round (may be revised until decided)."""
    s = get_visible_or_404(Supplier, ident)
    mine = registration.my_review(s, current_user)
    form = ExpertReviewForm(data={"score": mine.score, "opinion": mine.opinion} if mine else None)
    if form.validate_on_submit():
        registration.record_expert_review(s, current_user, form.score.data, form.opinion.data)
        db.session.commit()
        flash(f"已保存对“{s.name}”的评分", "success")
        return redirect_to(url_for("expert.review_queue"))
    return page("expert/review_detail.html", status=422 if request.method == "POST" else 200, **_ctx(s, form))
