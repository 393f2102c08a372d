"""The province blueprint: every route here is for Role.PROVINCE only (declared once, fails closed)."""
from flask import Blueprint

from blueprints.core.access import guard_blueprint
from models import Role

bp = Blueprint("province", __name__, url_prefix="/province")
guard_blueprint(bp, Role.PROVINCE)

from blueprints.province import routes, registrations, calendar, catalog, cycles, dashboard, applications, users, settlements, usage  # noqa: E402,F401  (registers the routes)
from blueprints.province import usage_override, completion  # noqa: E402,F401  (the usage override, completion tables)
from blueprints.province import payout  # noqa: E402,F401  (the payout overview, escalated objections)
from blueprints.province import supervision  # noqa: E402,F401  (spot checks, recoveries, pilots, sanctions, quotas)
from blueprints.province import signals  # noqa: E402,F401  (fraud signals per city)
from blueprints.province import evaluation  # noqa: E402,F401  (supplier evaluation and awards, SUP-3)
from blueprints.province import complaints  # noqa: E402,F401  (public messages and complaints, SUP-5)
from blueprints.province import mail  # noqa: E402,F401  (the mail outbox: failed mails, retry)
