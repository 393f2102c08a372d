"""What the province's and the cities' supervision pages share: spot checks (SUP-2) and recoveries (REL-2).

A city sees and records checks and recoveries for its own enterprises, suppliers and vouchers; the
province for all. Targets are typed as people know them: a credit code (USCC) for an enterprise or a
supplier, the voucher code for a voucher.
"""
from __future__ import annotations

import datetime as dt

from flask import request
from flask_login import current_user

from blueprints.core import paging, supervision, uploads
from blueprints.core.issuance import normalize_code
from blueprints.core.money import MoneyError, parse_yuan
from models import Enterprise, Recovery, SpotCheck, Supplier, Voucher, db

PER_PAGE = 20


def _city() -> str | None:
    return current_user.city_code if str(current_user.acting_role) == "city" else None


def find_target(kind: str, text: str):
    text = (text or "").strip()
    if kind == "voucher":
        code = normalize_code(text)
        return db.session.execute(db.select(Voucher).where(Voucher.code == code)).scalar_one_or_none() if code else None
    model = {"enterprise": Enterprise, "supplier": Supplier}.get(kind)
    if model is None or not text:
        return None
    return db.session.execute(db.select(model).where(db.or_(model.uscc == text.upper(), model.name == text))
                              ).scalars().first()


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat((text or "").strip())
    except ValueError:
        return None


def checks_select():
    q = db.select(SpotCheck).order_by(SpotCheck.checked_on.desc(), SpotCheck.id.desc())
    city = _city()
    if city is not None:
        q = q.where(SpotCheck.target_city == city)
    result = request.args.get("result", "")
    if result in supervision.RESULTS:
        q = q.where(SpotCheck.result == result)
    return q


def target_names(checks) -> dict:
    """(type, id) -> a display name, for a page of checks: one query per target type."""
    out = {}
    for kind, model, col in (("enterprise", Enterprise, Enterprise.name), ("supplier", Supplier, Supplier.name),
                             ("voucher", Voucher, Voucher.code)):
        ids = {c.target_id for c in checks if c.target_type == kind}
        if ids:
            out.update({(kind, i): n for i, n in db.session.execute(db.select(model.id, col).where(model.id.in_(ids)))})
    return out


def checks_context(**extra) -> dict:
    pg = paging.paginate(checks_select(), per_page=PER_PAGE)
    ctx = dict(pg=pg, names=target_names(pg.items), results=supervision.RESULTS, targets=supervision.TARGETS,
               errors={}, form={}, result_filter=request.args.get("result", ""))
    ctx.update(extra)
    return ctx


def create_check():
    """The POST of the spot-check form: (SpotCheck, None) or (None, errors) with nothing saved."""
    form = request.form
    kind = form.get("target_type", "")
    target = find_target(kind, form.get("target", ""))
    files = [f for f in request.files.getlist("files") if f and f.filename][:5]
    try:
        with db.session.begin_nested():
            stored = [uploads.save_upload(f, kind="spot_check_file", owner_type="spot_check", owner_id=None,
                                          user_id=current_user.id) for f in files]
            c = supervision.record_spot_check(current_user, target_type=kind, target_id=getattr(target, "id", None),
                                              checked_on=_date(form.get("checked_on")), inspectors=form.get("inspectors", ""),
                                              findings=form.get("findings", ""), result=form.get("result", ""),
                                              file_ids=[f.id for f in stored])
            for f in stored:
                f.owner_id = c.id
        return c, None
    except supervision.FieldErrors as exc:
        return None, exc.errors
    except uploads.UploadError as exc:
        return None, {"files": str(exc)}


def recoveries_select():
    q = db.select(Recovery, Voucher.code, Enterprise.name).join(Voucher, Voucher.id == Recovery.voucher_id).join(
        Enterprise, Enterprise.id == Voucher.enterprise_id).order_by(Recovery.id.desc())
    city = _city()
    if city is not None:
        q = q.where(Recovery.city_code == city)
    return q


def recoveries_context(**extra) -> dict:
    pg = paging.paginate(recoveries_select(), per_page=PER_PAGE, scalars=False)
    totals = db.session.execute(db.select(db.func.count(), db.func.coalesce(db.func.sum(Recovery.amount_fen), 0),
                                          db.func.coalesce(db.func.sum(db.case((Recovery.returned_on.is_not(None),
                                                                                Recovery.amount_fen), else_=0)), 0))
                                .where(*([Recovery.city_code == _city()] if _city() else []))).one()
    ctx = dict(pg=pg, totals=totals, errors={}, form={})
    ctx.update(extra)
    return ctx


def create_recovery():
    form = request.form
    v = find_target("voucher", form.get("voucher", ""))
    if v is None or (_city() is not None and v.city_code != _city()):
        return None, {"voucher": "未找到该服务券（请填写本市已支付服务券的券号）"}
    try:
        amount = parse_yuan(form.get("amount", ""))
    except MoneyError as exc:
        return None, {"amount": str(exc)}
    check_id = form.get("spot_check_id", type=int)
    try:
        with db.session.begin_nested():
            r = supervision.record_recovery(v, current_user, amount_fen=amount, reason=form.get("reason", ""),
                                            finding=form.get("finding", ""), spot_check_id=check_id)
        return r, None
    except supervision.FieldErrors as exc:
        return None, exc.errors
    except supervision.Refused as exc:
        return None, {"voucher": str(exc)}


def own_recovery(r_id: int) -> Recovery | None:
    r = db.session.get(Recovery, r_id)
    if r is None or (_city() is not None and r.city_code != _city()):
        return None
    return r


def mark_returned(r: Recovery):
    try:
        supervision.recovery_returned(r, current_user, _date(request.form.get("returned_on")),
                                      request.form.get("returned_ref", ""))
        return None
    except supervision.FieldErrors as exc:
        return exc.errors
    except supervision.Refused as exc:
        return {"": str(exc)}


def register(bp, ep: str) -> None:
    """The five routes of spot checks and recoveries on the city's or the province's blueprint (`ep`)."""
    from flask import abort, flash, url_for

    from blueprints.core.htmx import page, redirect_to

    def spot_checks():
        """Spot checks in scope, newest first; the form to record one."""
        return page("supervision/spot_checks.html", ep=ep, **checks_context())

    def spot_check_create():
        """Record a spot check; nothing is saved when a field or a file is refused (422)."""
        c, errors = create_check()
        if errors:
            db.session.rollback()
            return page("supervision/spot_checks.html", status=422, ep=ep,
                        **checks_context(errors=errors, form=request.form))
        db.session.commit()
        flash("已保存核查记录", "success")
        return redirect_to(url_for(f"{ep}.spot_checks"))

    def recoveries():
        """Recoveries in scope; the form to record one."""
        return page("supervision/recoveries.html", ep=ep, **recoveries_context())

    def recovery_create():
        """Record a recovery on a paid voucher (never more than paid and not yet recovered)."""
        r, errors = create_recovery()
        if errors:
            db.session.rollback()
            return page("supervision/recoveries.html", status=422, ep=ep,
                        **recoveries_context(errors=errors, form=request.form))
        db.session.commit()
        flash("已登记资金收回，企业和供应商已收到通知", "success")
        return redirect_to(url_for(f"{ep}.recoveries"))

    def recovery_returned(r_id: int):
        """Record that recovered money came back (date, bank reference)."""
        r = own_recovery(r_id)
        if r is None:
            abort(404)
        errors = mark_returned(r)
        if errors:
            db.session.rollback()
            return page("supervision/recoveries.html", status=409 if "" in errors else 422, ep=ep,
                        **recoveries_context(errors=errors))
        db.session.commit()
        flash("已登记退回", "success")
        return redirect_to(url_for(f"{ep}.recoveries"))

    bp.add_url_rule("/spot-checks", "spot_checks", spot_checks)
    bp.add_url_rule("/spot-checks", "spot_check_create", spot_check_create, methods=["POST"])
    bp.add_url_rule("/recoveries", "recoveries", recoveries)
    bp.add_url_rule("/recoveries", "recovery_create", recovery_create, methods=["POST"])
    bp.add_url_rule("/recoveries/<int:r_id>/returned", "recovery_returned", recovery_returned, methods=["POST"])
