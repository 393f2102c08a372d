"""A city's own figures (CYC-3, CYC-4, CYC-5): its targets, quota, budgets and progress.

The city is always the officer's own (current_user.city_code); there is no parameter that
could name another city.
"""
from __future__ import annotations

from flask import request
from flask_login import current_user

from blueprints.city import bp
from blueprints.core import cycles, dashboard
from blueprints.core.htmx import page
from blueprints.core.nav import register_nav, register_panel
from blueprints.core.timeutil import today
from models import Budget, CityTarget, Role, db

register_nav(Role.CITY, [("本市指标", "city.figures_view")])


def _panel(user) -> dict:
    year = today().year
    figs, as_of = dashboard.cached_city_figures(year, city_code=user.city_code)
    return {"year": year, "row": figs.rows[0] if figs.rows else None, "as_of": as_of}


register_panel(Role.CITY, "city/_panel_dash.html", _panel, order=30)


@bp.route("/figures")
def figures_view():
    """The city's own targets, issuance quota, budgets and progress for a year."""
    code = current_user.city_code
    year = request.args.get("year", type=int) or today().year
    year = year if 2018 <= year <= 2100 else today().year
    figs, as_of = dashboard.cached_city_figures(year, city_code=code)
    targets = db.session.execute(
        db.select(CityTarget).where(CityTarget.city_code == code).order_by(CityTarget.year.desc())
    ).scalars().all()
    budgets = db.session.execute(
        db.select(Budget).where(Budget.city_code == code).order_by(Budget.period.desc(), Budget.kind)
    ).scalars().all()
    return page("city/figures_overview.html", block="results", year=year, years=dashboard.years_with_data(),
                figs=figs, as_of=as_of, row=figs.rows[0] if figs.rows else None, targets=targets, budgets=budgets,
                period_label=cycles.period_label_shown, history=cycles.figure_history(city_code=code),
                city_names=cycles.city_names())
