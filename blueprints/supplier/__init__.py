"""The supplier blueprint: every route here is for Role.SUPPLIER only (declared once, fails closed)."""
from flask import Blueprint

from blueprints.core.access import guard_blueprint
from models import Role

bp = Blueprint("supplier", __name__, url_prefix="/supplier")
guard_blueprint(bp, Role.SUPPLIER)

from blueprints.supplier import routes, profile, applications, settlements, usage  # noqa: E402,F401  (registers the routes)
