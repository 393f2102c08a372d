"""Routes of the supplier blueprint."""
from __future__ import annotations

from flask_login import current_user

from blueprints.supplier import bp
from blueprints.core.htmx import page
from blueprints.core.nav import panels_for, register_nav
from blueprints.public import announced_cycles
from models import Role

register_nav(Role.SUPPLIER, [("供应商首页", "supplier.home")])


@bp.route("/")
def home():
    """The supplier home page."""
    return page("supplier/home.html", cycles=announced_cycles(), user=current_user, panels=panels_for(current_user))
