"""Province: public messages and complaints (SUP-5): the queue with the answer deadlines, and one message
with its files and timeline, to forward to a city or answer (shared with the cities: core/complaint_pages)."""
from __future__ import annotations

from flask import request

from blueprints.core import complaint_pages
from blueprints.core.nav import register_nav
from blueprints.province import bp
from models import Role

register_nav(Role.PROVINCE, [("留言与投诉", "province.complaints")])


@bp.route("/complaints")
def complaints():
    """Public messages: open ones first by answer deadline, with the working days left; then the answered."""
    return complaint_pages.queue("province")


@bp.route("/complaints/<int:c_id>", methods=["GET", "POST"])
def complaint_detail(c_id: int):
    """One message with contact, files and timeline; while open: forward it to a city, or answer it."""
    if request.method == "POST":
        return complaint_pages.act("province", c_id)
    return complaint_pages.detail_page("province", complaint_pages.own_or_404(c_id))
