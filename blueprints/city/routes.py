"""Routes of the city blueprint."""
from __future__ import annotations

from flask_login import current_user

from blueprints.city import bp
from blueprints.core.htmx import page
from blueprints.core.nav import panels_for, register_nav
from blueprints.public import announced_cycles
from models import Role

register_nav(Role.CITY, [("工作台", "city.home")])


@bp.route("/")
def home():
    """The city home page."""
    return page("city/home.html", cycles=announced_cycles(), user=current_user, panels=panels_for(current_user))
