"""The supplier's own profile (REG-2): the enterprise blueprint's profile views
(blueprints/enterprise/profile.py), registered here for the supplier's own organisation."""
from __future__ import annotations

from blueprints.core import registration
from blueprints.core.nav import register_nav, register_panel
from blueprints.enterprise import profile as shared
from blueprints.supplier import bp
from blueprints.supplier.forms import SupplierProfileForm
from models import Role

shared.FORMS["supplier"] = (SupplierProfileForm, registration.supplier_initial)

register_nav(Role.SUPPLIER, [("单位资料", "supplier.profile_view")])
register_panel(Role.SUPPLIER, "supplier/_panel_reg.html",
               lambda user: registration.owner_panel(user.supplier, "supplier"), order=10)

for rule, view, methods in (
    ("/profile", shared.profile_view, ["GET"]),
    ("/profile/edit", shared.profile_edit, ["GET", "POST"]),
    ("/profile/change/withdraw", shared.profile_change_withdraw, ["POST"]),
):
    bp.add_url_rule(rule, endpoint=view.__name__, view_func=view, methods=methods)
