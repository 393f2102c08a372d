"""City: the public messages and complaints the province forwarded to the city (SUP-5): the queue with the
answer deadlines and one message to answer (shared with the province: core/complaint_pages). Messages
forwarded elsewhere, or not at all, do not exist here (404)."""
from __future__ import annotations

from flask import request

from blueprints.city import bp
from blueprints.core import complaint_pages
from blueprints.core.nav import register_nav
from models import Role

register_nav(Role.CITY, [("留言与投诉", "city.complaints")])


@bp.route("/complaints")
def complaints():
    """Messages forwarded to the city: open ones first by answer deadline, with the working days left."""
    return complaint_pages.queue("city")


@bp.route("/complaints/<int:c_id>", methods=["GET", "POST"])
def complaint_detail(c_id: int):
    """One message forwarded to the city, with contact, files and timeline; while open: answer it."""
    if request.method == "POST":
        return complaint_pages.act("city", c_id)
    return complaint_pages.detail_page("city", complaint_pages.own_or_404(c_id))
