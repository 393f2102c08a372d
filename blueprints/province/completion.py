"""The province generates each city's completion table (企业“上云上平台”完成情况表, VER-4, DOC-2) and sends it."""
from __future__ import annotations

from flask import abort, current_app, flash, request, url_for
from flask_login import current_user

from blueprints.core import completion, jobs
from blueprints.core.access import get_visible_or_404
from blueprints.core.application import Refused
from blueprints.core.htmx import page, redirect_to
from blueprints.core.nav import register_nav
from blueprints.province import bp
from models import City, CompletionTable, Cycle, Role, Voucher, db

register_nav(Role.PROVINCE, [("完成情况表", "province.completion_tables")])


def _cycle(cycle_id) -> Cycle | None:
    """The cycle asked for, else the newest one that has vouchers, else the newest."""
    if cycle_id:
        c = db.session.get(Cycle, cycle_id)
        if c is None:
            abort(404)
        return c
    newest = db.session.execute(db.select(db.func.max(Voucher.cycle_id))).scalar()
    if newest is not None:
        return db.session.get(Cycle, newest)
    return db.session.execute(db.select(Cycle).order_by(Cycle.id.desc()).limit(1)).scalar_one_or_none()


def _posted_cycle() -> Cycle:
    """The cycle a form names (never a default: a POST acts on the cycle its page showed), else 404."""
    cycle_id = request.form.get("cycle_id", type=int)
    cycle = db.session.get(Cycle, cycle_id) if cycle_id else None
    if cycle is None:
        abort(404)
    return cycle


def _page(cycle: Cycle | None, status: int = 200, error: str | None = None):
    cycles = db.session.execute(db.select(Cycle).order_by(Cycle.id.desc())).scalars().all()
    cities = db.session.execute(db.select(City).order_by(City.position, City.code)).scalars().all()
    counts = completion.cities_with_vouchers(cycle.id) if cycle else {}
    latest = completion.latest(cycle.id) if cycle else {}
    unsent = [t for t in latest.values() if t.sent_at is None]
    return page("province/completion_tables.html", block="tables", status=status, cycle=cycle, cycles=cycles,
                cities=cities, counts=counts, latest=latest, unsent=unsent, error=error, title=completion.TITLE)


@bp.route("/completion-tables")
def completion_tables():
    """Per cycle, each city's latest completion table with its figures, downloads and generate/send buttons."""
    return _page(_cycle(request.args.get("cycle", type=int)))


@bp.route("/completion-tables/generate", methods=["POST"])
def completion_generate():
    """Generate one city's table, or every city's ("all", a background job with progress)."""
    cycle = _posted_cycle()
    city = request.form.get("city", "")
    counts = completion.cities_with_vouchers(cycle.id)
    if city != "all" and db.session.get(City, city) is None:
        return _page(cycle, 422, "请选择地市")
    codes = sorted(counts) if city == "all" else [city]
    if not codes:
        return _page(cycle, 422, "该批次还没有服务券，无需生成完成情况表")
    if city == "all" or counts.get(city, 0) > current_app.config.get("COMPLETION_JOB_ROWS", completion.JOB_ROWS):
        try:
            job = completion.start_job(cycle, codes, current_user)
        except jobs.TooManyJobs as exc:
            return _page(cycle, 429, str(exc))
        return redirect_to(url_for("common.job_detail", job_id=job.id))
    t = completion.generate(cycle, city, current_user)
    db.session.commit()
    flash(f"已生成完成情况表：共 {t.rows} 张服务券，已完成 {t.completed} 张", "success")
    return redirect_to(url_for("province.completion_tables", cycle=cycle.id))


@bp.route("/completion-tables/<int:table_id>/send", methods=["POST"])
def completion_send(table_id: int):
    """Send one table to its city: it appears on the city's page, with a notice."""
    t = get_visible_or_404(CompletionTable, table_id)
    try:
        completion.send(t, current_user)
    except Refused as exc:
        db.session.rollback()
        return _page(t.cycle, 409, str(exc))
    db.session.commit()
    flash("已下发到地市", "success")
    return redirect_to(url_for("province.completion_tables", cycle=t.cycle_id))


@bp.route("/completion-tables/send-all", methods=["POST"])
def completion_send_all():
    """Send every city's latest table of the cycle that has not been sent yet."""
    cycle = _posted_cycle()
    unsent = [t for t in completion.latest(cycle.id).values() if t.sent_at is None]
    for t in unsent:
        completion.send(t, current_user)
    db.session.commit()
    flash(f"已下发 {len(unsent)} 个地市的完成情况表" if unsent else "没有待下发的完成情况表", "success" if unsent else "info")
    return redirect_to(url_for("province.completion_tables", cycle=cycle.id))
