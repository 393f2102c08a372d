"""The enterprise applies for vouchers (APP-1, APP-2, APP-7, APP-8, ELIG-9) and sees its vouchers."""
from __future__ import annotations

from flask import abort, flash, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import joinedload

from blueprints.core import amounts, audit, eligibility, paging, security, uploads
from blueprints.core import application as flow
from blueprints.core.access import get_visible_or_404
from blueprints.core.htmx import is_htmx, page, redirect_to, wants_fragment
from blueprints.core.nav import register_nav, register_panel
from blueprints.core.usage_pages import statuses
from blueprints.core.workflow import actions_for
from blueprints.enterprise import bp
from blueprints.enterprise.app_forms import ApplicationForm
from models import Application, Enterprise, RegStatus, Role, Voucher, db

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
            "cycle": flow.open_cycle(),
            # Until the registration is approved, finishing it is the main action, not applying.
            "registered": user.enterprise is not None and user.enterprise.status == RegStatus.APPROVED}


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


# Where each failing check of the enterprise itself is put right (ELIG-9): no dead end.
FIX_LINKS = {
    "ELIG-1": ("enterprise.profile_view", _l("完成或修改企业注册资料")),
    "ELIG-2": ("enterprise.profile_view", _l("核对企业资料中的成立日期")),
    "ELIG-3": ("enterprise.profile_view", _l("核对企业资料中的主营业务收入")),
    "ELIG-4": ("enterprise.profile_view", _l("在企业资料中作出无违规声明")),
}


@bp.route("/applications/new")
def application_new():
    """Eligibility before starting (ELIG-9); each failing check links to where it is put right."""
    e = _enterprise()
    cycle = flow.open_cycle()
    checks = eligibility.check(e, cycle_id=cycle.id if cycle else None)
    fixes = {c.rule: (url_for(FIX_LINKS[c.rule][0]), str(FIX_LINKS[c.rule][1]))
             for c in checks if c.ok is False and c.rule in FIX_LINKS}
    in_review = e.status in (RegStatus.CITY_REVIEW, RegStatus.PROVINCE_REVIEW)  # nothing to correct: wait
    if in_review and "ELIG-1" in fixes:
        fixes["ELIG-1"] = (fixes["ELIG-1"][0], str(_l("查看注册审核进度")))
    return page("enterprise/application_new.html", checks=checks, cycle=cycle, enterprise=e, fixes=fixes,
                in_review=in_review,
                can_start=cycle is not None and not eligibility.failures(checks))


def _unsaved():
    """The blank form's application (nothing stored), or a redirect to the eligibility page."""
    try:
        return flow.unsaved(_enterprise()), None
    except flow.Refused as exc:
        flash(str(exc), "error")
        return None, redirect_to(url_for("enterprise.application_new"))


@bp.route("/applications/new/form", methods=["GET", "POST"])
def application_form_new():
    """The blank application form: the draft is created by its first save, never by opening it (APP-1)."""
    a, refused = _unsaved()
    if refused is not None:
        return refused
    form = ApplicationForm()
    form.set_items(flow.form_version(a))
    if request.method == "GET":
        return _form_page(a, form)
    form.validate()
    if request.args.get("validate"):
        return _form_page(a, form, block="form")
    return _save(a, form)


def _form_page(a: Application, form: ApplicationForm, status: int = 200, error: str | None = None,
               block: str | None = None):
    version = flow.form_version(a)
    item = flow.item_in(version, form.catalog_item_id.data)
    live = _live(a, version, item, form.fee_fen, form.supplier_id.data, bool(form.related_declared.data),
                 bool(form.enterprise_fair_price.data))
    form.nonce.data = security.new_nonce()
    # A form sent back once its draft exists: the address becomes the draft's (a reload never makes a second one).
    own = url_for("enterprise.application_edit", app_id=a.id) if a.id and request.method == "POST" else None
    return page("enterprise/application_form.html", block=block, status=status, a=a, form=form, error=error,
                url=own, checks=eligibility.check(a.enterprise, a), definition=flow.cloud_fee_definition(),
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
    form.validate()
    if request.args.get("validate"):
        return _form_page(a, form, block="form")
    return _save(a, form)


def _save(a: Application, form: ApplicationForm):
    """Save every well-formed field and a good contract file; refuse only what is wrong, each reason
    beside its field (a bad file is checked and named even when other fields have errors), and say
    in the banner what was saved and what was not. A new form's draft is created here, by a save that
    keeps something; a save that keeps nothing creates nothing."""
    if getattr(getattr(form, "csrf_token", None), "errors", None):
        return _form_page(a, form, 422, error="页面已过期，请刷新后重新填写")
    for name, message in flow.draft_choice_errors(
            a, None if form.catalog_item_id.errors else form.catalog_item_id.data,
            None if form.supplier_id.errors else form.supplier_id.data).items():
        form[name].errors = [message]  # an unknown item or supplier is not saved, the rest is
    data, saved, refused = form.draft_keeping(a)
    new = a.id is None
    if new:
        a = flow.start(a.enterprise, current_user)
    stored = None
    try:
        stored = _upload(a)
    except uploads.UploadError as exc:
        form.contract_file.errors = [str(exc)]
    if stored is not None:
        saved.insert(0, "合同文件")
    elif form.contract_file.errors:
        refused.insert(0, "合同文件")
    if new and not saved:
        db.session.rollback()  # nothing to keep: no empty draft is created
        a, refused_page = _unsaved()
        if refused_page is not None:
            return refused_page
        return _form_page(a, form, 422, error="没有保存任何内容：请按提示修改标红的项目")
    flow.save_draft(a, data, stored, current_user)
    if refused:
        db.session.commit()  # the well-formed part is kept
        error = (f"已保存：{'、'.join(saved)}。" if saved else "没有新的内容可保存。") + \
            f"未保存：{'、'.join(refused)}（原因见各项下方），请修改后再保存" + \
            ("，然后提交" if request.form.get("do") == "submit" else "")
        resp = _form_page(a, form, 422, error=error)
        if new and is_htmx():  # the address of the draft now stored, for the next save and a reload
            resp.headers["HX-Replace-Url"] = url_for("enterprise.application_edit", app_id=a.id)
        return resp
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


def _form_fragment(app_id: int | None, render):
    """A fragment of the application form (the saved draft's, or the blank form's when app_id is None);
    without htmx the form itself (R02)."""
    if app_id is None:
        a, refused = _unsaved()
        if refused is not None:
            return refused
        form_url = url_for("enterprise.application_form_new")
    else:
        a = get_visible_or_404(Application, app_id)
        form_url = url_for("enterprise.application_edit", app_id=a.id)
    if not wants_fragment():
        return redirect_to(form_url)
    return render(a)


@bp.route("/applications/<int:app_id>/preview")
def application_preview(app_id: int):
    """The face value the enterprise would get, recomputed as it types (htmx, AMT-1..3)."""
    return _form_fragment(app_id, _preview)


@bp.route("/applications/new/preview")
def application_new_preview():
    """The face value preview of the blank form (nothing stored yet)."""
    return _form_fragment(None, _preview)


def _preview(a: Application):
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
    return _form_fragment(app_id, _supplier_search)


@bp.route("/applications/new/suppliers")
def application_new_supplier_search():
    """The supplier search of the blank form (nothing stored yet)."""
    return _form_fragment(None, _supplier_search)


def _supplier_search(a: Application):
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


@bp.route("/applications/<int:app_id>/delete", methods=["POST"])
def application_delete(app_id: int):
    """Delete a draft the enterprise does not want (asked to confirm first; the audit trail records it)."""
    a = get_visible_or_404(Application, app_id)
    try:
        flow.discard_draft(a, current_user)
    except flow.Refused as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect_to(url_for("enterprise.application_detail", app_id=app_id))
    db.session.commit()
    flash("草稿已删除", "success")
    return redirect_to(url_for("enterprise.application_list"))


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
