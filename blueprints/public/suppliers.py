"""The public list of registered suppliers and the services they offer (no private data)."""
from __future__ import annotations

from flask import request

from blueprints.core import registration
from blueprints.core.access import public
from blueprints.core.htmx import page
from blueprints.public import bp
from models import CATALOG_CATEGORIES


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
                categories=CATALOG_CATEGORIES, cities=registration.city_names())
