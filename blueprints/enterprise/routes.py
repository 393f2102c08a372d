"""Routes of the enterprise blueprint."""
from __future__ import annotations

from flask_login import current_user

from blueprints.enterprise import bp
from blueprints.core.htmx import page
from blueprints.core.nav import panels_for, register_nav
from blueprints.public import announced_cycles
from models import Role

register_nav(Role.ENTERPRISE, [("企业首页", "enterprise.home")])


@bp.route("/")
def home():
    """The enterprise home page."""
    return page("enterprise/home.html", cycles=announced_cycles(), user=current_user, panels=panels_for(current_user))
