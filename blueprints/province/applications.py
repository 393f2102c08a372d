"""The province's read-only overview of applications and vouchers, per city."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_login import current_user
from flask import request
from sqlalchemy.orm import joinedload

from blueprints.core import audit, eligibility, issuance, paging, snapshots
from blueprints.core import signals
from blueprints.core.access import get_visible_or_404
from blueprints.core.htmx import page
from blueprints.core.nav import register_nav, register_panel
from blueprints.province import bp
from blueprints.province.app_forms import ApplicationFilter, ProvinceVoucherFilter
from models import AppStatus, Application, City, Enterprise, Role, Voucher, VoucherStatus, db

register_nav(Role.PROVINCE, [("申领与服务券", "province.application_list")])

PER_PAGE = 30


def _panel_figures() -> dict:
    row = db.session.execute(
        db.select(db.func.count(Voucher.id), db.func.coalesce(db.func.sum(Voucher.face_value_fen), 0))
        .where(Voucher.status.not_in((VoucherStatus.VOID, VoucherStatus.RELEASED)))
    ).one()
    pending = db.session.execute(
        db.select(db.func.count()).where(Application.status.in_((AppStatus.SUPPLIER_REVIEW, AppStatus.CITY_REVIEW)))
    ).scalar_one()
    return {"vouchers": int(row[0]), "amount": int(row[1]), "pending": int(pending)}


def _panel(user) -> dict:
    # Sums over every voucher of the province: cached (core/snapshots.py), not re-counted per view.
    snap = snapshots.cached("province_app_panel", "all", _panel_figures)
    return dict(snap.value, as_of=snap.as_of)


register_panel(Role.PROVINCE, "province/_panel_app.html", _panel, order=30)


@dataclass
class CityName:
    code: str
    name: str


def city_summary() -> tuple[list[tuple], dt.datetime]:
    """city_summary_rows() as of the last change (or minute), for the overview page."""
    snap = snapshots.cached("province_city_summary", "all", lambda: [
        [c.code, c.name, pending, int(n or 0), int(fen or 0)] for c, pending, n, fen in city_summary_rows()])
    return [(CityName(code, name), pending, n, fen) for code, name, pending, n, fen in snap.value], snap.as_of


def city_summary_rows() -> list[tuple]:
    """Per city: applications in review, vouchers issued and their face value (two aggregate queries)."""
    apps = dict(db.session.execute(
        db.select(Application.city_code, db.func.count())
        .where(Application.status.in_((AppStatus.SUPPLIER_REVIEW, AppStatus.CITY_REVIEW)))
        .group_by(Application.city_code)).all())
    issued = {c: (n, s) for c, n, s in db.session.execute(
        db.select(Voucher.city_code, db.func.count(), db.func.sum(Voucher.face_value_fen))
        .where(Voucher.status.not_in((VoucherStatus.VOID, VoucherStatus.RELEASED))).group_by(Voucher.city_code)).all()}
    cities = db.session.execute(db.select(City).order_by(City.position)).scalars()
    return [(c, apps.get(c.code, 0), *issued.get(c.code, (0, 0))) for c in cities]


@bp.route("/applications")
def application_list():
    """All submitted applications with filters, and the per-city summary."""
    f = ApplicationFilter(request.args)
    q = (db.select(Application).where(Application.submitted_at.is_not(None))
         .options(joinedload(Application.enterprise), joinedload(Application.supplier)))
    if f.city.data:
        q = q.where(Application.city_code == f.city.data)
    if f.status.data:
        q = q.where(Application.status == f.status.data)
    if f.q.data:  # joined only to search: the plain list reads ix_application_(city_)submitted in order
        q = q.join(Application.enterprise).where(
            db.or_(Enterprise.name.contains(f.q.data.strip()), Application.contract_no.contains(f.q.data.strip())))
    pg = paging.paginate(q.order_by(Application.submitted_at.desc(), Application.id.desc()), per_page=PER_PAGE)
    summary, as_of = city_summary()
    return page("province/application_list.html", block="results", pg=pg, f=f, args=f.args(), summary=summary,
                as_of=as_of)


@bp.route("/applications/<int:app_id>")
def application_detail(app_id: int):
    """One application, read-only, with its eligibility and timeline."""
    a = get_visible_or_404(Application, app_id)
    voucher = db.session.execute(db.select(Voucher).where(Voucher.application_id == a.id)).scalar_one_or_none()
    return page("application_view.html", a=a, role="province", voucher=voucher, checks=eligibility.check(a.enterprise, a),
                events=audit.timeline("application", a.id), signals=signals.for_application(a))


@bp.route("/vouchers")
def voucher_list():
    """Every voucher, with the same filters as the cities' plus the city."""
    f = ProvinceVoucherFilter(request.args)
    stmt = issuance.voucher_select(
        city_code=f.city.data or None, q=f.q.data or "",
        cycle_id=int(f.cycle.data) if (f.cycle.data or "").isdigit() else None, status=f.status.data or "",
        pilot=bool(f.pilot.data), issued_from=f.date("issued_from"), issued_to=f.date("issued_to"))
    pg = paging.paginate(stmt, per_page=PER_PAGE)
    return page("voucher_list.html", block="results", pg=pg, scope="province", endpoint="province.voucher_list",
                args=f.args(), filters=f)


@bp.route("/vouchers/<int:voucher_id>")
def voucher_detail(voucher_id: int):
    """One voucher with its usage; the province may override the usage result (VER-3)."""
    from blueprints.core import usage_pages

    v = get_visible_or_404(Voucher, voucher_id)
    return page("voucher_view.html", **usage_pages.voucher_context(v, "province", current_user))
