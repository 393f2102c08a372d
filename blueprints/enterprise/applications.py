"""The enterprise applies for vouchers (APP-1, APP-2, APP-7, APP-8, ELIG-9) and sees its vouchers."""
from __future__ import annotations

from flask import abort, flash, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload

from blueprints.core import amounts, audit, eligibility, paging, security, uploads
from blueprints.core import application as flow
from blueprints.core.access import get_visible_or_404
from blueprints.core.htmx import page, redirect_to
from blueprints.core.nav import register_nav, register_panel
from blueprints.core.usage_pages import statuses
from blueprints.core.workflow import actions_for
from blueprints.enterprise import bp
from blueprints.enterprise.app_forms import ApplicationForm
from models import Application, Enterprise, Role, Voucher, db

register_nav(Role.ENTERPRISE, [("申领服务券", "enterprise.application_list"), ("我的服务券", "enterprise.voucher_list")])

PER_PAGE = 20


def _panel(user) -> dict:
    rows = db.session.execute(
        db.select(Application.status, db.func.count()).where(Application.enterprise_id == user.enterprise_id)
        .group_by(Application.status)
    ).all()
    vouchers = db.session.execute(
        db.select(db.func.count(), db.func.coalesce(db.func.sum(Voucher.face_value_fen), 0))
        .where(Voucher.enterprise_id == user.enterprise_id)
    ).one()
    return {"counts": {str(s): n for s, n in rows}, "voucher_count": vouchers[0], "voucher_sum": vouchers[1],
            "cycle": flow.open_cycle()}


register_panel(Role.ENTERPRISE, "enterprise/_panel_app.html", _panel, order=20)


def _enterprise() -> Enterprise:
    return db.session.get(Enterprise, current_user.enterprise_id)


@bp.route("/applications")
def application_list():
    """The enterprise's applications with their status and next step."""
    q = (db.select(Application).where(Application.enterprise_id == current_user.enterprise_id)
         .options(joinedload(Application.supplier), joinedload(Application.catalog_item), joinedload(Application.cycle))
         .order_by(Application.id.desc()))
    pg = paging.paginate(q, per_page=PER_PAGE)
    vouchers = {v.application_id: v for v in db.session.execute(
        db.select(Voucher).where(Voucher.application_id.in_([a.id for a in pg.items]))).scalars()}
    return page("enterprise/application_list.html", block="results", pg=pg, vouchers=vouchers,
                next_step=flow.NEXT_STEP, args={})


@bp.route("/applications/new", methods=["GET", "POST"])
def application_new():
    """Eligibility before starting (ELIG-9); POST starts a draft in the open cycle."""
    e = _enterprise()
    cycle = flow.open_cycle()
    if request.method == "POST":
        try:
            a = flow.start(e, current_user)
        except flow.Refused as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return redirect_to(url_for("enterprise.application_new"))
        db.session.commit()
        return redirect_to(url_for("enterprise.application_edit", app_id=a.id))
    checks = eligibility.check(e, cycle_id=cycle.id if cycle else None)
    return page("enterprise/application_new.html", checks=checks, cycle=cycle, enterprise=e,
                can_start=cycle is not None and not eligibility.failures(checks))


def _form_page(a: Application, form: ApplicationForm, status: int = 200, error: str | None = None,
               block: str | None = None):
    version = flow.form_version(a)
    item = flow.item_in(version, form.catalog_item_id.data)
    live = _live(a, version, item, form.fee_fen, form.supplier_id.data, bool(form.related_declared.data),
                 bool(form.enterprise_fair_price.data))
    form.nonce.data = security.new_nonce()
    return page("enterprise/application_form.html", block=block, status=status, a=a, form=form, error=error,
                checks=eligibility.check(a.enterprise, a), definition=flow.cloud_fee_definition(),
                suppliers=[live["supplier"]] if live["supplier"] else [], selected_supplier=live["supplier"],
                searched=False, **live)


def _live(a, version, item, fee_fen, supplier_id, declared, fair) -> dict:
    """The htmx-refreshed part of the form: the face value preview and REL-1 commitment."""
    supplier = flow.selectable_supplier(supplier_id, a.cycle_id)
    return {
        "preview": amounts.preview(a, version, item, fee_fen), "version": version, "item": item,
        "supplier": supplier, "supplier_listed": eligibility.is_related(a.enterprise, supplier),
        "related": eligibility.is_related(a.enterprise, supplier, declared), "declared": declared, "fair": fair,
        "deadline_passed": flow.deadline_passed(a.cycle),
    }


def _upload(a: Application):
    storage = request.files.get("contract_file")
    if storage is None or not storage.filename:
        storage = request.files.get("contract_photo")
    if storage is None or not storage.filename:
        return None
    return uploads.save_upload(storage, kind="contract", owner_type="application", owner_id=a.id,
                               user_id=current_user.id)


@bp.route("/applications/<int:app_id>/edit", methods=["GET", "POST"])
def application_edit(app_id: int):
    """Fill in or correct the application; save it as a draft or submit it (once, APP-2)."""
    a = get_visible_or_404(Application, app_id)
    if a.status not in flow.EDITABLE:
        flash("该申领已提交，当前不能修改", "info")
        return redirect_to(url_for("enterprise.application_detail", app_id=a.id))
    form = ApplicationForm()
    form.set_items(flow.form_version(a))
    if request.method == "GET":
        form.fill_from(a)
        return _form_page(a, form)
    valid = form.validate()
    if request.args.get("validate"):
        return _form_page(a, form, block="form")
    if not valid:
        return _form_page(a, form, 422, error="请按提示修改后再保存")
    try:
        flow.save_draft(a, form.data_for_draft(), _upload(a), current_user)
    except uploads.UploadError as exc:
        db.session.rollback()
        form.contract_file.errors = [str(exc)]
        return _form_page(a, form, 422, error=str(exc))
    except flow.DraftRefused as exc:  # unknown/unpublished catalog item or unselectable supplier: nothing saved
        db.session.rollback()
        for name, message in exc.errors.items():
            form[name].errors = [message]
        return _form_page(a, form, 422, error=str(exc))
    if request.form.get("do") == "submit":
        return _submit(a, form)
    db.session.commit()
    flash("草稿已保存", "success")
    return redirect_to(url_for("enterprise.application_edit", app_id=a.id))


def _submit(a: Application, form: ApplicationForm):
    """Submit inside a savepoint: refused -> the draft is kept, nothing is submitted."""
    try:
        with db.session.begin_nested():
            if not security.claim_nonce(current_user.id, form.nonce.data):
                raise flow.Refused("该表单已提交过，请勿重复提交")
            flow.submit(a, current_user)
    except flow.Refused as exc:
        db.session.commit()  # the draft as entered is kept
        return _form_page(a, form, 422, error=f"草稿已保存，但还不能提交：{exc}")
    db.session.commit()
    flash("申领已提交，等待供应商确认", "success")
    return redirect_to(url_for("enterprise.application_detail", app_id=a.id))


@bp.route("/applications/<int:app_id>/preview")
def application_preview(app_id: int):
    """The face value the enterprise would get, recomputed as it types (htmx, AMT-1..3)."""
    a = get_visible_or_404(Application, app_id)
    form = ApplicationForm(formdata=request.args, meta={"csrf": False})
    version = flow.form_version(a)
    form.set_items(version)
    form.validate()
    item = flow.item_in(version, form.catalog_item_id.data)
    live = _live(a, version, item, form.fee_fen, form.supplier_id.data, bool(form.related_declared.data),
                 bool(form.enterprise_fair_price.data))
    return page("enterprise/application_form.html", block="live", a=a, form=form, **live)


@bp.route("/applications/<int:app_id>/suppliers")
def application_supplier_search(app_id: int):
    """Active search among registered suppliers that are not disqualified (ELIG-8, REL-4)."""
    a = get_visible_or_404(Application, app_id)
    selected = flow.selectable_supplier(request.args.get("supplier_id", type=int), a.cycle_id)
    found = flow.search_suppliers(request.args.get("supplier_q", ""), a.cycle_id)
    if selected is not None:
        found = [selected] + [s for s in found if s.id != selected.id]
    return page("enterprise/application_form.html", block="supplier_results", a=a, suppliers=found,
                selected_supplier=selected, searched=True)


@bp.route("/applications/<int:app_id>")
def application_detail(app_id: int):
    """One application: status, next step, return reasons, eligibility, voucher, timeline."""
    a = get_visible_or_404(Application, app_id)
    voucher = db.session.execute(db.select(Voucher).where(Voucher.application_id == a.id)).scalar_one_or_none()
    return page("application_view.html", a=a, role="enterprise", voucher=voucher,
                checks=eligibility.check(a.enterprise, a), preview=None,
                transitions=[t for t in actions_for(a, current_user) if t.action == "withdraw"],
                events=audit.timeline("application", a.id), next_step=flow.NEXT_STEP)


@bp.route("/applications/<int:app_id>/withdraw", methods=["POST"])
def application_withdraw(app_id: int):
    """Withdraw until the city approves (APP-7)."""
    a = get_visible_or_404(Application, app_id)
    flow.withdraw(a, current_user)
    db.session.commit()
    flash("申领已撤回", "success")
    return redirect_to(url_for("enterprise.application_detail", app_id=a.id))


@bp.route("/vouchers")
def voucher_list():
    """The enterprise's vouchers with their status and next step."""
    q = (db.select(Voucher).where(Voucher.enterprise_id == current_user.enterprise_id)
         .options(joinedload(Voucher.supplier), joinedload(Voucher.cycle),
                  joinedload(Voucher.application).joinedload(Application.catalog_item))
         .order_by(Voucher.id.desc()))
    pg = paging.paginate(q, per_page=PER_PAGE)
    return page("voucher_list.html", block="results", pg=pg, scope="enterprise", endpoint="enterprise.voucher_list",
                args={}, filters=None, usages=statuses(pg.items))


@bp.route("/vouchers/<int:voucher_id>")
def voucher_detail(voucher_id: int):
    """One voucher: its facts, the PDF, its settlement, its usage and declared addresses (VER-1), the timeline."""
    from blueprints.core import usage_pages

    v = get_visible_or_404(Voucher, voucher_id)
    return page("voucher_view.html", **usage_pages.voucher_context(v, "enterprise", current_user))


@bp.route("/vouchers/<int:voucher_id>/pdf")
def voucher_pdf(voucher_id: int):
    """The voucher PDF as stored at issuance (DOC-1)."""
    from blueprints.common import send_stored

    v = get_visible_or_404(Voucher, voucher_id)
    if v.pdf_file is None:
        abort(404)
    return send_stored(v.pdf_file)
