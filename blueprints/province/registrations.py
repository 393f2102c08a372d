"""The province's registration work: supplier final review with the experts' scores (REG-4),
supplier changes (REG-9), and the directory of registered enterprises and suppliers with an
xlsx export. The queue, record and decision views are the city's (blueprints/city/registrations.py),
registered here for the province's own scope.
"""
from __future__ import annotations

from flask import request
from flask_login import current_user

from blueprints.city import registrations as review
from blueprints.core import exports, paging, registration
from blueprints.core.htmx import page
from blueprints.core.nav import register_nav, register_panel
from blueprints.core.timeutil import today
from blueprints.province import bp
from models import Role

register_nav(Role.PROVINCE, [("供应商复核", "province.registration_queue"), ("注册名录", "province.directory")])
register_panel(Role.PROVINCE, "province/_panel_reg.html", registration.reviewer_panel, order=10)

for rule, view, methods in (
    ("/registrations", review.registration_queue, ["GET"]),
    ("/registrations/<kind>/<int:ident>", review.registration_detail, ["GET"]),
    ("/registrations/<kind>/<int:ident>/decide", review.registration_decide, ["GET", "POST"]),
    ("/registrations/bulk/approve", review.registration_bulk_approve, ["POST"]),
    ("/registrations/reason-row", review.registration_reason_row, ["GET"]),
):
    bp.add_url_rule(rule, endpoint=view.__name__, view_func=view, methods=methods)


@bp.route("/directory")
def directory():
    """Registered (approved) enterprises or suppliers, searchable by name, USCC and city."""
    args = registration.directory_args(request.args)
    stmt = registration.directory_select(args["kind"], args["q"], args["city"])
    pg = paging.paginate(stmt, page=args["page"], per_page=registration.PER_PAGE)
    return page("province/registration_directory.html", block="results", pg=pg, args=args,
                cities=registration.city_names(), city_choices=registration.city_choices())


@bp.route("/directory/export", methods=["GET", "POST"])
def directory_export():
    """The same list as an xlsx file (every matching row, not one page); a large one becomes a background job."""
    args = registration.directory_args(request.args)
    params = {"kind": args["kind"], "q": args["q"], "city": args["city"]}
    name = f"{'enterprises' if args['kind'] == 'enterprise' else 'suppliers'}-{today():%Y%m%d}.xlsx"
    return exports.respond("directory_export", count=registration.count_directory(**params), params=params,
                           user=current_user, filename=name,
                           write=lambda out: registration.write_directory_xlsx(out, **params))
