"""The enterprise blueprint: every route here is for Role.ENTERPRISE only (declared once, fails closed)."""
from flask import Blueprint

from blueprints.core.access import guard_blueprint
from models import Role

bp = Blueprint("enterprise", __name__, url_prefix="/enterprise")
guard_blueprint(bp, Role.ENTERPRISE)

from blueprints.enterprise import routes, profile, applications, settlements, usage  # noqa: E402,F401  (registers the routes)
from blueprints.enterprise import rating  # noqa: E402,F401  (the enterprise rates its supplier, SUP-3)
