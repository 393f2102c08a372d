"""The city blueprint: every route here is for Role.CITY only (declared once, fails closed)."""
from flask import Blueprint

from blueprints.core.access import guard_blueprint
from models import Role

bp = Blueprint("city", __name__, url_prefix="/city")
guard_blueprint(bp, Role.CITY)

from blueprints.city import routes, registrations, applications, figures, settlements  # noqa: E402,F401  (registers the routes)
from blueprints.city import completion  # noqa: E402,F401  (the completion tables sent to the city)
from blueprints.city import payout  # noqa: E402,F401  (settlement lists, objections, payout)
from blueprints.city import supervision  # noqa: E402,F401  (spot checks, recoveries)
from blueprints.city import complaints  # noqa: E402,F401  (public messages forwarded to the city, SUP-5)
