"""City: the public messages and complaints the province forwarded to the city (SUP-5): the queue with the
answer deadlines and one message to answer (shared with the province: core/complaint_pages). Messages
forwarded elsewhere, or not at all, do not exist here (404)."""
from __future__ import annotations

from flask import request

from blueprints.city import bp
from blueprints.core import complaint_pages, timeutil
from blueprints.core import complaints as core
from blueprints.core.nav import register_nav, register_panel
from models import Complaint, Role, db

register_nav(Role.CITY, [("留言与投诉", "city.complaints")])

SOON_DAYS = 2  # "due soon": an answer deadline within this many working days (today included)


def _panel(user) -> dict:
    """The home-page card: open messages forwarded to the officer's city, how many are past their answer
    deadline and how many fall due within SOON_DAYS working days. One COUNT over the queue index."""
    # rule: SUP-5
    today = timeutil.today()
    soon = timeutil.add_working_days(today, SOON_DAYS)
    due = Complaint.due_on

    def _count(cond):
        return db.func.coalesce(db.func.sum(db.case((cond, 1), else_=0)), 0)

    total, overdue, due_soon = db.session.execute(
        db.select(db.func.count(), _count(due < today), _count(db.and_(due >= today, due <= soon)))
        .where(Complaint.status == core.OPEN, Complaint.city_code == user.city_code)).one()
    return {"open": int(total), "overdue": int(overdue), "soon": int(due_soon), "soon_days": SOON_DAYS}


register_panel(Role.CITY, "city/_panel_complaints.html", _panel, order=27)


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
