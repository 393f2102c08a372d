"""The public list of pilot units (PIL-1): supplier, plan, partners, period; revoked ones marked (PIL-4)."""
from __future__ import annotations

from sqlalchemy.orm import joinedload

from blueprints.core import paging
from blueprints.core.access import public
from blueprints.core.htmx import page
from blueprints.public import bp
from models import PilotUnit, db


@bp.route("/public/pilots")
@public
def pilots():
    """Pilot units, active first."""
    pg = paging.paginate(db.select(PilotUnit).options(joinedload(PilotUnit.supplier))
                         .order_by(PilotUnit.status, PilotUnit.starts_on.desc(), PilotUnit.id.desc()), per_page=30)
    return page("public/pilots.html", pg=pg)
