"""The public list of registered suppliers and the services they offer (no private data), and each one's page
with its awards and yearly scorecard (SUP-3)."""
from __future__ import annotations

from flask import abort, request

from blueprints.core import evaluation, registration, supervision
from blueprints.core.access import public
from blueprints.core.htmx import page
from blueprints.public import bp
from models import CATALOG_CATEGORIES, RegStatus, Supplier, db


@bp.route("/suppliers")
@public
def supplier_list():
    """Registered (approved) suppliers: name, place and service categories."""
    q = (request.args.get("q") or "").strip()[:100]
    category = request.args.get("category") if request.args.get("category") in CATALOG_CATEGORIES else ""
    try:
        pg_no = max(1, min(int(request.args.get("page", 1)), 10_000))
    except ValueError:
        pg_no = 1
    pg = registration.public_suppliers(q, category, pg_no)
    return page("public/suppliers_list.html", block="results", pg=pg, q=q, category=category,
                categories=CATALOG_CATEGORIES, cities=registration.city_names(),
                awards=evaluation.awards_for([s.id for s in pg.items]),
                sanctions=supervision.public_sanctions([s.id for s in pg.items]), sanction_labels=supervision.SANCTIONS)


@bp.route("/suppliers/<int:supplier_id>")
@public
def supplier_detail(supplier_id: int):
    """One registered supplier: place, services, awards and its scorecard for the year (SUP-3)."""
    s = db.session.get(Supplier, supplier_id)
    if s is None or s.status != RegStatus.APPROVED or s.disqualified:  # the list's own rule
        abort(404)
    year = evaluation.parse_year(request.args.get("year"))
    return page("public/supplier_detail.html", s=s, year=year, card=evaluation.scorecards(year, [s.id])[0],
                awards=evaluation.awards_for([s.id])[s.id], cities=registration.city_names(),
                sanctions=supervision.public_sanctions([s.id])[s.id], sanction_labels=supervision.SANCTIONS,
                this_year=evaluation.current_year())
