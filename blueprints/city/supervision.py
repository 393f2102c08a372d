"""The city's spot checks (SUP-2) and recoveries (REL-2) for its own enterprises, suppliers and vouchers."""
from __future__ import annotations

from blueprints.city import bp
from blueprints.core import supervision_pages
from blueprints.core.nav import register_nav
from models import Role

register_nav(Role.CITY, [("现场核查", "city.spot_checks"), ("资金收回", "city.recoveries")])
supervision_pages.register(bp, "city")
