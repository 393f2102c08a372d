"""The province's supervision pages: spot checks and recoveries (as the cities', for every city), pilot
units (PIL-1, PIL-4), sanctions (REL-3, SUP-4) and the suppliers' yearly issuance quotas."""
from __future__ import annotations

import datetime as dt

from flask import abort, flash, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload

from blueprints.core import paging, supervision, supervision_pages, uploads
from blueprints.core.application import Refused
from blueprints.core.htmx import page, redirect_to
from blueprints.core.money import MoneyError, parse_yuan
from blueprints.core.nav import register_nav
from blueprints.core.timeutil import today
from blueprints.province import bp
from models import Cycle, PilotUnit, RegStatus, Role, Sanction, Supplier, db

register_nav(Role.PROVINCE, [("现场核查", "province.spot_checks"), ("资金收回", "province.recoveries"),
                             ("试点单位", "province.pilots"), ("资格处理", "province.sanctions"),
                             ("供应商发放上限", "province.supplier_quotas")])
supervision_pages.register(bp, "province")

PER_PAGE = 20


def _date(text):
    try:
        return dt.date.fromisoformat((text or "").strip())
    except ValueError:
        return None


# --------------------------------------------------------------------------- pilot units


def _pilots_page(status: int = 200, **ctx):
    pg = paging.paginate(db.select(PilotUnit).options(joinedload(PilotUnit.supplier))
                         .order_by(PilotUnit.status, PilotUnit.id.desc()), per_page=PER_PAGE)
    ctx.setdefault("errors", {})
    ctx.setdefault("form", {})
    return page("supervision/pilots.html", status=status, pg=pg, **ctx)


@bp.route("/pilots")
def pilots():
    """Pilot units with their plans; select a new one."""
    return _pilots_page()


@bp.route("/pilots", methods=["POST"])
def pilot_create():
    """Select an approved supplier as a pilot unit, with its plan (and the plan file)."""
    form = request.form
    supplier = supervision_pages.find_target("supplier", form.get("supplier", ""))
    try:
        with db.session.begin_nested():
            f = request.files.get("plan_file")
            stored = uploads.save_upload(f, kind="pilot_plan", owner_type="supplier", owner_id=getattr(supplier, "id", None),
                                         user_id=current_user.id) if f and f.filename and supplier else None
            if supplier is None:
                raise supervision.FieldErrors({"supplier": "未找到该供应商（请填写统一社会信用代码或全称）"})
            supervision.select_pilot(supplier, current_user, plan_title=form.get("plan_title", ""),
                                     partners=form.get("partners", ""), targets=form.get("targets", ""),
                                     starts_on=_date(form.get("starts_on")), ends_on=_date(form.get("ends_on")),
                                     plan_file_id=stored.id if stored else None)
    except supervision.FieldErrors as exc:
        db.session.rollback()
        return _pilots_page(422, errors=exc.errors, form=form)
    except uploads.UploadError as exc:
        db.session.rollback()
        return _pilots_page(422, errors={"plan_file": str(exc)}, form=form)
    db.session.commit()
    flash(f"已遴选 {supplier.name} 为试点单位", "success")
    return redirect_to(url_for("province.pilots"))


@bp.route("/pilots/<int:p_id>/revoke", methods=["POST"])
def pilot_revoke(p_id: int):
    """PIL-4: the unit failed its plan; its customers' vouchers are unaffected."""
    p = db.session.get(PilotUnit, p_id)
    if p is None:
        abort(404)
    try:
        supervision.revoke_pilot(p, current_user, request.form.get("reason", ""))
    except Refused as exc:
        db.session.rollback()
        return _pilots_page(409 if p.status != "active" else 422, errors={f"revoke-{p_id}": str(exc)})
    db.session.commit()
    flash("已撤销试点单位称号", "success")
    return redirect_to(url_for("province.pilots"))


# --------------------------------------------------------------------------- sanctions


def _sanctions_page(status: int = 200, **ctx):
    pg = paging.paginate(db.select(Sanction).order_by(Sanction.lifted_at.is_not(None), Sanction.id.desc()),
                         per_page=PER_PAGE)
    names = {}
    for model, col in ((Supplier, "supplier_id"), (None, "enterprise_id")):
        from models import Enterprise

        m = model or Enterprise
        ids = {getattr(s, col) for s in pg.items if getattr(s, col)}
        if ids:
            names.update({(col, i): n for i, n in db.session.execute(db.select(m.id, m.name).where(m.id.in_(ids)))})
    cycles = db.session.execute(db.select(Cycle).order_by(Cycle.id.desc()).limit(12)).scalars().all()
    ctx.setdefault("errors", {})
    ctx.setdefault("form", {})
    return page("supervision/sanctions.html", status=status, pg=pg, names=names, cycles=cycles,
                kinds=supervision.SANCTIONS, **ctx)


@bp.route("/sanctions")
def sanctions():
    """Disqualifications, suspensions and cancellations, active first; impose a new one."""
    return _sanctions_page()


@bp.route("/sanctions", methods=["POST"])
def sanction_create():
    """REL-3 / SUP-4: a measure against an enterprise or a supplier, with a reason and a notice."""
    form = request.form
    party_type = form.get("party_type", "")
    party = supervision_pages.find_target(party_type, form.get("party", "")) if party_type in ("enterprise", "supplier") else None
    try:
        if party is None:
            raise supervision.FieldErrors({"party": "未找到该企业或供应商（请填写统一社会信用代码或全称）"})
        supervision.impose(current_user, kind=form.get("kind", ""), reason=form.get("reason", ""),
                           enterprise=party if party_type == "enterprise" else None,
                           supplier=party if party_type == "supplier" else None,
                           cycle_id=form.get("cycle_id", type=int))
    except supervision.FieldErrors as exc:
        db.session.rollback()
        return _sanctions_page(422, errors=exc.errors, form=form)
    db.session.commit()
    flash(f"已对 {party.name} {supervision.SANCTIONS[form['kind']]}，并已通知", "success")
    return redirect_to(url_for("province.sanctions"))


@bp.route("/sanctions/<int:s_id>/lift", methods=["POST"])
def sanction_lift(s_id: int):
    """SUP-4: lift a suspension (or a disqualification) once the party has improved."""
    s = db.session.get(Sanction, s_id)
    if s is None:
        abort(404)
    try:
        supervision.lift(s, current_user, request.form.get("reason", ""))
    except Refused as exc:
        db.session.rollback()
        return _sanctions_page(409 if s.lifted_at or s.kind == "cancel" else 422, errors={f"lift-{s_id}": str(exc)})
    db.session.commit()
    flash("已恢复资格，并已通知", "success")
    return redirect_to(url_for("province.sanctions"))


# --------------------------------------------------------------------------- supplier quotas


def _year() -> int:
    y = request.args.get("year", type=int) or request.form.get("year", type=int)
    return y if y and 2018 <= y <= 2100 else today().year


def _quotas_page(status: int = 200, **ctx):
    year = _year()
    q = db.select(Supplier).where(Supplier.status == RegStatus.APPROVED).order_by(Supplier.name, Supplier.id)
    text = (request.args.get("q") or "").strip()
    if text:
        q = q.where(db.or_(Supplier.name.contains(text), Supplier.uscc == text.upper()))
    pg = paging.paginate(q, per_page=PER_PAGE)
    ctx.setdefault("errors", {})
    return page("supervision/quotas.html", status=status, pg=pg, year=year, q=text,
                quotas=supervision.quotas_for(year, [s.id for s in pg.items]),
                default_in=supervision.default_quota(True), default_out=supervision.default_quota(False), **ctx)


@bp.route("/supplier-quotas")
def supplier_quotas():
    """Each supplier's yearly cap on face value issued through it, and the defaults per supplier type."""
    return _quotas_page()


def _amount(text: str, *, blank_ok: bool = False):
    if blank_ok and not (text or "").strip():
        return None
    return parse_yuan(text)


@bp.route("/supplier-quotas/defaults", methods=["POST"])
def supplier_quota_defaults():
    """The default yearly cap for in-province and out-of-province suppliers (blank: no cap)."""
    try:
        for key, in_province in (("default_in", True), ("default_out", False)):
            supervision.set_default_quota(current_user, in_province=in_province,
                                          amount_fen=_amount(request.form.get(key, ""), blank_ok=True),
                                          reason=request.form.get("reason", ""))
    except (supervision.FieldErrors, MoneyError) as exc:
        db.session.rollback()
        errors = exc.errors if isinstance(exc, supervision.FieldErrors) else {"amount": str(exc)}
        return _quotas_page(422, errors={f"defaults-{k}": v for k, v in errors.items()})
    db.session.commit()
    flash("已保存默认发放上限（新年度或尚未设置上限的供应商按默认值）", "success")
    return redirect_to(url_for("province.supplier_quotas", year=_year()))


@bp.route("/supplier-quotas/<int:supplier_id>", methods=["POST"])
def supplier_quota_set(supplier_id: int):
    """Adjust one supplier's cap for a year, with a reason (never below what was issued)."""
    s = db.session.get(Supplier, supplier_id)
    if s is None:
        abort(404)
    try:
        supervision.set_supplier_quota(s, _year(), current_user, _amount(request.form.get("amount", "")),
                                       request.form.get("reason", ""))
    except (supervision.FieldErrors, MoneyError) as exc:
        db.session.rollback()
        errors = exc.errors if isinstance(exc, supervision.FieldErrors) else {"amount": str(exc)}
        return _quotas_page(422, errors={f"{supplier_id}-{k}": v for k, v in errors.items()})
    db.session.commit()
    flash(f"已调整 {s.name} {_year()} 年发放上限", "success")
    return redirect_to(url_for("province.supplier_quotas", year=_year()))
