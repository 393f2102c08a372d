"""The expert blueprint: every route here is for Role.EXPERT only (declared once, fails closed)."""
from flask import Blueprint

from blueprints.core.access import guard_blueprint
from models import Role

bp = Blueprint("expert", __name__, url_prefix="/expert")
guard_blueprint(bp, Role.EXPERT)

from blueprints.expert import routes, reviews  # noqa: E402,F401  (registers the routes)
