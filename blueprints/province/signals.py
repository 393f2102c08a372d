"""The province's list of fraud signals: per city, the applications and settlements under
the city's review, one page at a time, each with the titles of its flags.

The flags are computed for the page shown only (paginate first, then flag the page with core/signals.py's
batch functions, a fixed number of queries): the page lists every record under review and marks those with
flags, so its cost does not grow with the number of records.
"""
from __future__ import annotations

from flask import request
from sqlalchemy.orm import joinedload

from blueprints.core import paging
from blueprints.core import signals as fraud
from blueprints.core.htmx import page
from blueprints.core.nav import register_nav
from blueprints.province import bp
from blueprints.province.signal_forms import SignalFilter
from models import AppStatus, Application, City, Role, SetStatus, Settlement, db

register_nav(Role.PROVINCE, [("风险提示", "province.signals")])

PER_PAGE = 20


def _under_review(kind: str, city_code: str | None):
    """The records with the cities now, ordered per city (the province's city order), then as the city's queue."""
    model, status = ((Settlement, SetStatus.CITY_REVIEW) if kind == "settlement"
                     else (Application, AppStatus.CITY_REVIEW))
    stmt = (db.select(model).join(City, City.code == model.city_code).where(model.status == status)
            .options(joinedload(model.enterprise), joinedload(model.supplier)))
    if city_code:
        stmt = stmt.where(model.city_code == city_code)
    return stmt.order_by(City.position, model.city_code, model.due_on.is_(None), model.due_on, model.submitted_at,
                         model.id)


@bp.route("/signals", endpoint="signals")
def signal_list():
    """Records under the cities' review with their fraud signals, page by page, filtered by city."""
    f = SignalFilter(request.args)
    pg = paging.paginate(_under_review(f.kind.data, f.city.data or None), per_page=PER_PAGE)
    flag = fraud.for_settlements if f.kind.data == "settlement" else fraud.for_applications
    flags = flag(pg.items)
    cities = dict(db.session.execute(db.select(City.code, City.name)).all())
    return page("province/signal_list.html", block="results", pg=pg, f=f, args=f.args(), flags=flags, cities=cities,
                flagged=sum(1 for found in flags.values() if found))
