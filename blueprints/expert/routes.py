"""Routes of the expert blueprint."""
from __future__ import annotations

from flask_login import current_user

from blueprints.expert import bp
from blueprints.core.htmx import page
from blueprints.core.nav import panels_for, register_nav
from blueprints.public import announced_cycles
from models import Role

register_nav(Role.EXPERT, [("专家首页", "expert.home")])


@bp.route("/")
def home():
    """The expert home page."""
    return page("expert/home.html", cycles=announced_cycles(), user=current_user, panels=panels_for(current_user))
