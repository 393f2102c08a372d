"""Cycles, targets, quotas and budgets for the province (CYC-1..4, DL-1).

Rules live in blueprints/core/cycles.py; these routes parse forms and pick responses.
"""
from __future__ import annotations

from flask import abort, flash, request, url_for
from flask_login import current_user

from blueprints.core import audit, cycles, workflow
from blueprints.core.access import get_visible_or_404
from blueprints.core.htmx import is_htmx, page, redirect_to
from blueprints.core.nav import register_nav
from blueprints.core.timeutil import today
from blueprints.core.workflow import NotAllowed
from blueprints.province import bp
from blueprints.province.forms import BudgetForm, CycleForm, TargetForm
from models import Budget, City, CityTarget, Cycle, CycleNotice, Role, db

register_nav(Role.PROVINCE, [("批次与截止日期", "province.cycle_list"), ("目标与发放额度", "province.target_list"),
                             ("兑付预算与试点资金", "province.budget_list")])


def _apply_errors(form, errors: dict[str, str]) -> None:
    fields = list(form)
    for name, message in errors.items():
        field = form._fields.get(name) or fields[0]
        if message not in field.errors:
            field.errors = [*field.errors, message]


def _form_page(form, cycle=None, status=200, block=None):
    return page("province/cycle_form.html", block=block, status=status, form=form, cycle=cycle,
                earliest=cycles.earliest_deadline())


def _validate(form, cycle) -> bool:
    ok = form.validate()
    problems = cycles.deadline_problems(cycle, {
        "application_deadline": form.application_deadline.data, "settlement_deadline": form.settlement_deadline.data})
    for name, message in problems.items():
        if message not in getattr(form, name).errors:
            getattr(form, name).errors.append(message)
    return ok and not problems


# --------------------------------------------------------------------------- cycles


@bp.route("/cycles")
def cycle_list():
    """Every cycle with its deadlines and days left (CYC-1)."""
    return page("province/cycle_list.html", cycles=cycles.cycles_newest_first(), today=today())


@bp.route("/cycles/new", methods=["GET", "POST"])
def cycle_create():
    """Open a cycle; optionally announce it at once (30 days' notice, CYC-2)."""
    form = CycleForm(formdata=request.form if request.method == "POST" else None, year=today().year)
    if request.method == "GET":
        return _form_page(form)
    if request.args.get("validate"):
        _validate(form, None)
        return _form_page(form, block="form")
    if not _validate(form, None):
        return _form_page(form, status=422, block="form")
    try:
        cycle = cycles.create_cycle(current_user, name=form.name.data, year=form.year.data,
                                    application_deadline=form.application_deadline.data,
                                    settlement_deadline=form.settlement_deadline.data,
                                    verification_days=form.verification_days.data, announce_now=form.announce.data,
                                    settlement_review_days=form.settlement_review_days.data or 10)
    except cycles.CycleError as exc:
        db.session.rollback()
        _apply_errors(form, exc.errors)
        return _form_page(form, status=422, block="form")
    db.session.commit()
    flash("批次已创建" + ("并已在平台公布" if cycle.announced_at else "（尚未公布）"), "success")
    return redirect_to(url_for("province.cycle_detail", cycle_id=cycle.id))


@bp.route("/cycles/<int:cycle_id>")
def cycle_detail(cycle_id: int):
    """A cycle: deadlines, announcements and changes, and its history."""
    cycle = get_visible_or_404(Cycle, cycle_id)
    notices = db.session.execute(
        db.select(CycleNotice).where(CycleNotice.cycle_id == cycle.id).order_by(CycleNotice.id.desc())
    ).scalars().all()
    return page("province/cycle_detail.html", cycle=cycle, notices=notices, today=today(),
                transitions=workflow.actions_for(cycle, current_user),
                events=[(ev, cycles.describe(ev)) for ev in audit.timeline(cycles.ENTITY, cycle.id)])


@bp.route("/cycles/<int:cycle_id>/edit", methods=["GET", "POST"])
def cycle_edit(cycle_id: int):
    """Edit a cycle; an announced deadline moves earlier only with 30 days' notice (CYC-2)."""
    q = db.select(Cycle).where(Cycle.id == cycle_id)
    cycle = db.session.execute(q.with_for_update() if request.method == "POST" else q).scalar_one_or_none()
    if cycle is None:
        abort(404)
    form = CycleForm(formdata=request.form if request.method == "POST" else None, obj=cycle)
    if request.method == "GET":
        return _form_page(form, cycle)
    if request.args.get("validate"):
        _validate(form, cycle)
        return _form_page(form, cycle, block="form")
    if not _validate(form, cycle):
        return _form_page(form, cycle, status=422, block="form")
    try:
        cycles.update_cycle(cycle, current_user, name=form.name.data, year=form.year.data,
                            application_deadline=form.application_deadline.data,
                            settlement_deadline=form.settlement_deadline.data,
                            verification_days=form.verification_days.data, reason=form.reason.data,
                            settlement_review_days=form.settlement_review_days.data)
    except cycles.CycleError as exc:
        db.session.rollback()
        _apply_errors(form, exc.errors)
        return _form_page(form, db.session.get(Cycle, cycle_id), status=422, block="form")
    db.session.commit()
    flash("已保存" + ("，变更已在平台公告" if cycle.announced_at else ""), "success")
    return redirect_to(url_for("province.cycle_detail", cycle_id=cycle.id))


@bp.route("/cycles/<int:cycle_id>/transition", methods=["POST"])
def cycle_transition(cycle_id: int):
    """Announce a draft cycle's deadlines on the platform (CYC-2, DL-1)."""
    cycle = get_visible_or_404(Cycle, cycle_id)
    if request.form.get("action") != "announce":
        raise NotAllowed("当前状态下不能执行该操作")
    workflow.find(cycle, "announce", current_user)  # 409 when already announced
    try:
        cycles.announce(cycle, current_user)
    except cycles.CycleError as exc:
        db.session.rollback()
        flash("不能公布：" + str(exc), "error")
        return redirect_to(url_for("province.cycle_edit", cycle_id=cycle_id))
    db.session.commit()
    flash("已在平台公布，各角色首页均显示截止日期", "success")
    return redirect_to(url_for("province.cycle_detail", cycle_id=cycle.id))


# --------------------------------------------------------------------------- targets and quotas (CYC-3)


def _year_arg() -> int:
    year = request.args.get("year", type=int) or today().year
    return year if 2018 <= year <= 2100 else today().year


def _target_rows(year: int):
    cities = db.session.execute(db.select(City).order_by(City.position)).scalars().all()
    targets = {t.city_code: t for t in db.session.execute(
        db.select(CityTarget).where(CityTarget.year == year)).scalars()}
    return [(c, targets.get(c.code)) for c in cities]


def _year_or_404(year: int) -> int:
    if not 2018 <= year <= 2100:
        abort(404)
    return year


def _city(code: str) -> City:
    city = db.session.get(City, code)
    if city is None:
        abort(404)
    return city


@bp.route("/targets")
def target_list():
    """Per city and year: the target (enterprises, amount) and the issuance quota (CYC-3)."""
    year = _year_arg()
    return page("province/target_list.html", block="results", year=year, rows=_target_rows(year),
                history=cycles.figure_history(), city_names=cycles.city_names())


@bp.route("/targets/<int:year>/<city_code>", methods=["GET", "POST"])
def target_edit(year: int, city_code: str):
    """Set a city's target and quota inline; the quota must be 1 to 2 times the target amount."""
    year, city = _year_or_404(year), _city(city_code)
    target = db.session.execute(db.select(CityTarget).where(
        CityTarget.city_code == city.code, CityTarget.year == year)).scalar_one_or_none()
    data = {} if target is None else dict(target_enterprises=target.target_enterprises,
                                          target_amount=target.target_amount_fen, quota=target.quota_fen)
    form = TargetForm(formdata=request.form if request.method == "POST" else None, **data)
    ctx = dict(year=year, city=city, target=target)
    if request.method == "GET":
        return page("province/target_row_edit.html", form=form, **ctx) if is_htmx() else page(
            "province/target_edit.html", form=form, **ctx)
    if form.validate():
        try:
            target = cycles.set_target(city.code, year, current_user, target_enterprises=form.target_enterprises.data,
                                       target_amount_fen=form.target_amount.data, quota_fen=form.quota.data,
                                       reason=form.reason.data)
        except cycles.CycleError as exc:
            db.session.rollback()
            _apply_errors(form, exc.errors)
        else:
            db.session.commit()
            flash(f"已保存{city.name}{year}年目标与发放额度", "success")
            if is_htmx():
                return page("province/target_row.html", year=year, city=city, target=target)
            return redirect_to(url_for("province.target_list", year=year))
    template = "province/target_row_edit.html" if is_htmx() else "province/target_edit.html"
    return page(template, status=422, form=form, **ctx)


@bp.route("/targets/<int:year>/<city_code>/row")
def target_row(year: int, city_code: str):
    """One city's target as a table row (cancelling an inline edit)."""
    year, city = _year_or_404(year), _city(city_code)
    target = db.session.execute(db.select(CityTarget).where(
        CityTarget.city_code == city.code, CityTarget.year == year)).scalar_one_or_none()
    if not is_htmx():  # a table row: without htmx, the targets page (R02)
        return redirect_to(url_for("province.target_list", year=year))
    return page("province/target_row.html", year=year, city=city, target=target)


# --------------------------------------------------------------------------- budgets (CYC-4)


def _period_arg() -> str:
    return cycles.parse_period(request.args.get("period")) or f"{today().year}-1"


def _budget_rows(period: str):
    cities = db.session.execute(db.select(City).order_by(City.position)).scalars().all()
    budgets: dict[str, dict[str, Budget]] = {}
    for b in db.session.execute(db.select(Budget).where(Budget.period == period)).scalars():
        budgets.setdefault(b.city_code, {})[b.kind] = b
    return [(c, budgets.get(c.code, {})) for c in cities]


def _periods() -> list[str]:
    found = set(db.session.execute(db.select(Budget.period).distinct()).scalars())
    found.add(f"{today().year}-1")
    return sorted(found, reverse=True)


@bp.route("/budgets")
def budget_list():
    """Per city and settlement period: the payout budget and the pilot fund (CYC-4, PIL-3)."""
    period = _period_arg()
    return page("province/budget_list.html", block="results", period=period, periods=_periods(),
                label=cycles.period_label_shown(period), rows=_budget_rows(period), history=cycles.figure_history(),
                city_names=cycles.city_names())


@bp.route("/budgets/<period>/<city_code>", methods=["GET", "POST"])
def budget_edit(period: str, city_code: str):
    """Set a city's payout budget and pilot fund for a period, with a reason."""
    city = _city(city_code)
    if cycles.parse_period(period) != period:
        abort(404)
    current = {b.kind: b for b in db.session.execute(
        db.select(Budget).where(Budget.city_code == city.code, Budget.period == period)).scalars()}
    data = {k: (current[k].cap_fen if k in current else 0) for k in ("general", "pilot")}
    form = BudgetForm(formdata=request.form if request.method == "POST" else None, **data)
    ctx = dict(period=period, label=cycles.period_label_shown(period), city=city)
    if request.method == "GET":
        return page("province/budget_row_edit.html" if is_htmx() else "province/budget_edit.html", form=form,
                    budgets=current, **ctx)
    if form.validate():
        try:
            current = cycles.set_budgets(city.code, period, current_user, reason=form.reason.data,
                                         caps={"general": form.general.data, "pilot": form.pilot.data})
        except cycles.CycleError as exc:
            db.session.rollback()
            _apply_errors(form, exc.errors)
        else:
            db.session.commit()
            flash(f"已保存{city.name}{cycles.period_label(period)}预算", "success")
            if is_htmx():
                return page("province/budget_row.html", budgets=current, **ctx)
            return redirect_to(url_for("province.budget_list", period=period))
    template = "province/budget_row_edit.html" if is_htmx() else "province/budget_edit.html"
    return page(template, status=422, form=form, budgets=current, **ctx)


@bp.route("/budgets/<period>/<city_code>/row")
def budget_row(period: str, city_code: str):
    """One city's budgets as a table row (cancelling an inline edit)."""
    city = _city(city_code)
    current = {b.kind: b for b in db.session.execute(
        db.select(Budget).where(Budget.city_code == city.code, Budget.period == period)).scalars()}
    if not is_htmx():  # a table row: without htmx, the budgets page (R02)
        return redirect_to(url_for("province.budget_list", period=period))
    return page("province/budget_row.html", period=period, label=cycles.period_label_shown(period), city=city,
                budgets=current)
