"""What the province's and the cities' message pages share (SUP-5): the queue and one message's page.

The province sees every message, forwards one to a city, and answers any; a city sees and answers those
forwarded to it (others are a 404). The queue shows open messages first by their answer deadline, each
with the working days left (SLA-5), in a constant number of queries whatever the page holds.
"""
from __future__ import annotations

from flask import flash, request, url_for
from flask_login import current_user

from blueprints.core import complaints as core
from blueprints.core import paging, timeutil
from blueprints.core.htmx import page, redirect_to
from models import City, Complaint, db

PER_PAGE = 20


def _filters() -> dict:
    status, category = request.args.get("status", ""), request.args.get("category", "")
    return {k: v for k, v in (("status", status if status in core.STATUS_LABELS else ""),
                              ("category", category if category in core.CATEGORIES else "")) if v}


def queue(ep: str):
    """The queue page of the province (ep "province": all) or a city (ep "city": forwarded to it)."""
    args = _filters()
    city = current_user.city_code if ep == "city" else None
    pg = paging.paginate(core.queue_select(city_code=city, **args), per_page=PER_PAGE, scalars=False)
    days = timeutil.working_days_left_many([row[0].due_on for row in pg.items if row[0].status == core.OPEN])
    return page("complaint_queue.html", block="results", ep=ep, pg=pg, days=days, args=args,
                categories=core.CATEGORIES, labels=core.STATUS_LABELS)


def own_or_404(c_id: int) -> Complaint:
    from blueprints.core.access import get_visible_or_404

    return get_visible_or_404(Complaint, c_id)


def detail_page(ep: str, c: Complaint, status: int = 200, **ctx):
    ctx.setdefault("errors", {})
    ctx.setdefault("form", {})
    ctx.setdefault("error", "")
    forward = core.can_forward(c, current_user)
    cities = db.session.execute(db.select(City.code, City.name).order_by(City.position, City.code)).all() \
        if forward else []
    days = timeutil.working_days_left(c.due_on) if c.status == core.OPEN else None
    return page("complaint_view.html", status=status, ep=ep, days=days, cities=cities, can_forward=forward,
                can_answer=core.can_answer(c, current_user), min_answer=core.MIN_ANSWER, max_answer=core.MAX_ANSWER,
                **core.detail(c), **ctx)


def _upheld(value: str) -> bool | None:
    return {"1": True, "0": False}.get(value)


def act(ep: str, c_id: int):
    """The POST of a message's page: forward (province) or answer. 422 keeps what was typed; 409 when the
    message was answered (or moved) meanwhile; else 303 back to the page."""
    c = own_or_404(c_id)
    typed = {k: (request.form.get(k) or "")[:4000] for k in ("action", "city_code", "note", "answer", "upheld")}
    try:
        if typed["action"] == "forward":
            core.forward(c, current_user, typed["city_code"], typed["note"])
            done = f"已转交{db.session.get(City, c.city_code).name}办理"
        else:
            core.answer(c, current_user, typed["answer"], _upheld(typed["upheld"]))
            done = "已答复，留言人可凭受理编号查询"
        db.session.commit()
    except core.FieldErrors as exc:
        db.session.rollback()
        return detail_page(ep, own_or_404(c_id), 422, errors=exc.errors, form=typed)
    except core.AlreadyAnswered as exc:
        db.session.rollback()
        return detail_page(ep, own_or_404(c_id), 409, error=str(exc))
    except core.NotYours as exc:
        db.session.rollback()
        return detail_page(ep, own_or_404(c_id), 403, error=str(exc))
    flash(done, "success")
    return redirect_to(url_for(f"{ep}.complaint_detail", c_id=c.id))

