"""Pages anyone may open without logging in (ROLE-7): the landing page and health check."""
from __future__ import annotations

from flask import Blueprint, jsonify, redirect, url_for
from flask_login import current_user

from blueprints.core.access import public
from blueprints.core.htmx import page
from models import Cycle, db

bp = Blueprint("public", __name__)


def announced_cycles() -> list[Cycle]:
    """Cycles whose deadlines have been announced (DL-1), newest first."""
    return list(
        db.session.execute(
            db.select(Cycle).where(Cycle.announced_at.is_not(None)).order_by(Cycle.application_deadline.desc()).limit(5)
        ).scalars()
    )


@bp.route("/")
@public
def index():
    """The landing page; a logged-in user goes to the home page of the role."""
    if current_user.is_authenticated:
        from blueprints.core.nav import home_endpoint

        return redirect(url_for(home_endpoint(current_user)))
    return page("public/index.html", cycles=announced_cycles())


@bp.route("/healthz")
@public
def healthz():
    """Liveness and database check for the process manager."""
    db.session.execute(db.text("SELECT 1"))
    return jsonify(status="ok")


from blueprints.public import suppliers, catalog, verify, lists  # noqa: E402,F401  (registers the routes)
from blueprints.public import pilots  # noqa: E402,F401  (the public list of pilot units)
from blueprints.public import complaints  # noqa: E402,F401  (messages and complaints, SUP-5)
