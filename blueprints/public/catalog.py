"""Public pages: the catalog in force (CAT-1, CAT-4) and cycle announcements (DL-1).

Anyone, logged in or not, reads the version in force by category with its caps, on a phone.
"""
from __future__ import annotations

from flask import request

from blueprints.core import catalog, cycles
from blueprints.core.access import public
from blueprints.core.htmx import page
from blueprints.core.nav import register_nav, register_panel
from blueprints.public import bp
from models import Role

register_nav(Role.ENTERPRISE, [("服务目录", "public.catalog_index")])
register_nav(Role.SUPPLIER, [("服务目录", "public.catalog_index")])
register_panel(Role.ENTERPRISE, "enterprise/_panel_cat.html",
               lambda user: {"version": catalog.version_in_force()}, order=40)


@bp.route("/catalog")
@public
def catalog_index():
    """The catalog version in force, by category, with caps and the cloud-fee definition."""
    version = catalog.version_in_force()
    groups = catalog.items_by_category(version)
    chosen = request.args.get("category", "")
    shown = [(c, items) for c, items in groups if not chosen or c == chosen]
    return page("public/catalog_index.html", block="results", version=version, categories=[c for c, _ in groups],
                groups=shown, chosen=chosen, definition=catalog.CLOUD_FEE_DEFINITION)


@bp.route("/cycles")
@public
def cycle_notices():
    """Announced cycles with their deadlines and every announced change (CYC-2, DL-1)."""
    from blueprints.public import announced_cycles

    return page("public/cycle_notices.html", cycles=announced_cycles(), notices=cycles.notices())
