"""The province dashboard (CYC-5): progress to the scheme's targets and figures per city.

Figures come from blueprints/core/dashboard.py (aggregate queries only); charts are inline
SVG drawn on the server; the same figures download as xlsx.
"""
from __future__ import annotations

from flask import flash, request, url_for
from flask_login import current_user

from blueprints.core import dashboard, xlsx
from blueprints.core.htmx import page, redirect_to
from blueprints.core.nav import register_nav, register_panel
from blueprints.core.timeutil import today
from blueprints.province import bp
from blueprints.province.forms import SchemeTargetsForm
from models import Role, db

register_nav(Role.PROVINCE, [("数据看板", "province.dashboard_view")])


def _panel(user) -> dict:
    progress, as_of = dashboard.cached_scheme_progress()
    return {"progress": progress, "as_of": as_of}


register_panel(Role.PROVINCE, "province/_panel_dash.html", _panel, order=10)


def _year() -> int:
    year = request.args.get("year", type=int) or today().year
    return year if 2018 <= year <= 2100 else today().year


def _targets_form(formdata=None) -> SchemeTargetsForm:
    t = dashboard.scheme_targets()
    return SchemeTargetsForm(formdata=formdata, enterprises=t["scheme.target_enterprises"],
                             suppliers=t["scheme.target_suppliers"], platforms=t["scheme.target_platforms"])


def _page(year: int, form=None, status: int = 200, block=None):
    # Cached figures (core/snapshots.py): a view never re-aggregates the province; the page says when from.
    figs, as_of = dashboard.cached_city_figures(year)
    progress, progress_as_of = dashboard.cached_scheme_progress()
    return page("province/dashboard_overview.html", block=block, status=status, year=year, figs=figs,
                progress=progress, as_of=min(as_of, progress_as_of), years=dashboard.years_with_data(),
                form=form or _targets_form(),
                charts=[dashboard.progress_chart(progress), dashboard.quota_chart(figs),
                        dashboard.vouchers_chart(figs)])


@bp.route("/dashboard")
def dashboard_view():
    """Progress to the scheme's targets, and per city: registrations, vouchers, quota, budget, overdue."""
    return _page(_year(), block="results")


@bp.route("/dashboard.xlsx")
def dashboard_export():
    """The dashboard's figures for a year as an xlsx workbook."""
    year = _year()
    figs, progress = dashboard.city_figures(year), dashboard.scheme_progress()
    return xlsx.send(lambda out: dashboard.write_figures_xlsx(out, figs, progress), f"dashboard-{year}.xlsx")


@bp.route("/dashboard/targets", methods=["POST"])
def dashboard_targets():
    """Change the scheme's targets (10,000 enterprises, 200 suppliers, 20 platforms by default)."""
    form = _targets_form(request.form)
    if not form.validate():
        return _page(_year(), form=form, status=422)
    dashboard.set_scheme_targets({"scheme.target_enterprises": form.enterprises.data,
                                  "scheme.target_suppliers": form.suppliers.data,
                                  "scheme.target_platforms": form.platforms.data}, current_user, form.reason.data)
    db.session.commit()
    flash("已保存目标", "success")
    return redirect_to(url_for("province.dashboard_view"))
