"""The completion tables the province sent to this city (VER-4, DOC-2), with their PDF and xlsx files."""
from __future__ import annotations

from flask_login import current_user

from blueprints.city import bp
from blueprints.core import completion, paging
from blueprints.core.htmx import page
from blueprints.core.nav import register_nav
from models import Role

register_nav(Role.CITY, [("完成情况表", "city.completion_tables")])

PER_PAGE = 20


@bp.route("/completion-tables")
def completion_tables():
    """The tables sent to this city, newest first, with their downloads."""
    pg = paging.paginate(completion.sent_to(current_user.city_code), per_page=PER_PAGE)
    return page("city/completion_tables.html", block="results", pg=pg, title=completion.TITLE)
