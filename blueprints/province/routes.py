"""Routes of the province blueprint."""
from __future__ import annotations

from flask_login import current_user

from blueprints.province import bp
from blueprints.core.htmx import page
from blueprints.core.nav import panels_for, register_nav
from blueprints.public import announced_cycles
from models import Role

register_nav(Role.PROVINCE, [("工作台", "province.home")])


@bp.route("/")
def home():
    """The province home page."""
    return page("province/home.html", cycles=announced_cycles(), user=current_user, panels=panels_for(current_user))
