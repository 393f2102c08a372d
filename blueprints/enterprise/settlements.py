"""The enterprise files a settlement for an issued voucher (SET-1..3, DL-2) and may release a voucher.

The form is phone first: one card per invoice and per payment proof, rows added and removed on the
server (so nothing typed is ever lost, with or without JavaScript), files read as they are chosen,
and the automatic checks refreshed as the enterprise types (htmx GET, nothing saved).
"""
from __future__ import annotations

from flask import abort, flash, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload, selectinload

from blueprints.core import paging, security, workflow
from blueprints.core import settlement as flow
from blueprints.core import settlement_form as sform
from blueprints.core.access import get_visible_or_404
from blueprints.core.htmx import is_htmx, page, redirect_to
from blueprints.core.nav import register_nav, register_panel
from blueprints.core.timeutil import today
from blueprints.enterprise import bp
from models import Role, SetStatus, Settlement, SettlementInvoice, StoredFile, Voucher, VoucherStatus, db

register_nav(Role.ENTERPRISE, [("兑现申请", "enterprise.settlement_list")])

PER_PAGE = 20


def _panel(user) -> dict:
    """Vouchers still to be filed (with the nearest deadline) and settlements by status."""
    from models import Cycle

    unfiled = db.session.execute(
        db.select(db.func.count(Voucher.id), db.func.min(Cycle.settlement_deadline))
        .join(Cycle, Cycle.id == Voucher.cycle_id)
        .outerjoin(Settlement, Settlement.voucher_id == Voucher.id)
        .where(Voucher.enterprise_id == user.enterprise_id, Voucher.status == VoucherStatus.ISSUED,
               db.or_(Settlement.id.is_(None), Settlement.status.in_((SetStatus.DRAFT, SetStatus.RETURNED))))
    ).one()
    rows = db.session.execute(
        db.select(Settlement.status, db.func.count()).where(Settlement.enterprise_id == user.enterprise_id)
        .group_by(Settlement.status)).all()
    return {"unfiled": unfiled[0], "nearest": unfiled[1], "counts": {str(s): n for s, n in rows}, "today": today()}


register_panel(Role.ENTERPRISE, "enterprise/_panel_settlement.html", _panel, order=25)


def _load(st_id: int) -> Settlement:
    st = get_visible_or_404(Settlement, st_id)
    return st


def _context(st: Settlement, p: sform.Parsed, *, notes=(), error: str | None = None, kept=None,
             submitting: bool = False) -> dict:
    """`kept`: after a save that refused something, what it saved (sform.saved_items), for the banner that
    says what was saved and what was not (each refused field or file with its reason)."""
    checked = flow.checks(st, p.invoices, p.payments, has_acceptance=st.acceptance_file_id is not None)
    files = {f.id: f for f in _files(st)}
    row_files = {f"inv-{i.id}": files.get(i.file_id) for i in st.invoices}
    row_files.update({f"pay-{x.id}": files.get(x.file_id) for x in st.payments})
    return dict(st=st, v=st.voucher, p=p, checked=checked, row_notes=dict(notes), error=error, row_files=row_files,
                labels=flow.row_labels(st), files=files, others=flow.other_files(st),
                problem=flow.filing_problem(st), nonce=security.new_nonce(), today=today(),
                reasons_by_row=_reasons_by_row(st), problems=sform.problems(st, p), kept=kept,
                submitting=submitting)


def _files(st: Settlement) -> list[StoredFile]:
    ids = [i.file_id for i in st.invoices] + [x.file_id for x in st.payments] + [st.acceptance_file_id]
    ids = [i for i in ids if i]
    if not ids:
        return []
    return list(db.session.execute(db.select(StoredFile).where(StoredFile.id.in_(ids))).scalars())


def _reasons_by_row(st: Settlement) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in st.return_reasons or []:
        out.setdefault(item.get("row", ""), []).append(item.get("text", ""))
    return out


def _form_page(st: Settlement, p: sform.Parsed, status: int = 200, **kw):
    return page("enterprise/settlement_form.html", status=status, oob_rows=False, **_context(st, p, **kw))


@bp.route("/settlements")
def settlement_list():
    """The enterprise's settlements with status, next step and deadlines."""
    q = (db.select(Settlement).where(Settlement.enterprise_id == current_user.enterprise_id)
         .options(joinedload(Settlement.voucher), joinedload(Settlement.supplier), joinedload(Settlement.cycle))
         .order_by(Settlement.id.desc()))
    pg = paging.paginate(q, per_page=PER_PAGE)
    return page("enterprise/settlement_list.html", block="results", pg=pg, next_step=flow.NEXT_STEP, args={},
                today=today())


@bp.route("/vouchers/<int:voucher_id>/settlement", methods=["POST"])
def settlement_start(voucher_id: int):
    """Start (or open) the voucher's settlement draft."""
    v = get_visible_or_404(Voucher, voucher_id)
    try:
        st = flow.start(v, current_user)
    except flow.Refused as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect_to(url_for("enterprise.voucher_detail", voucher_id=v.id))
    db.session.commit()
    return redirect_to(url_for("enterprise.settlement_edit", st_id=st.id))


@bp.route("/settlements/<int:st_id>/edit", methods=["GET", "POST"])
def settlement_edit(st_id: int):
    """Fill in invoices, payments and material; save, add/remove rows, or submit (SET-1, SET-3)."""
    st = _load(st_id)
    if st.status not in flow.EDITABLE:
        flash("该兑现申请已提交，当前不能修改", "info")
        return redirect_to(url_for("enterprise.settlement_detail", st_id=st.id))
    if request.method == "GET":
        return _form_page(st, sform.from_stored(st))
    p = sform.parse(st, request.form)
    do = request.form.get("do", "save")
    notes = sform.save(st, p, request.files, current_user)
    sform.record_save(st, current_user)
    if do in ("add_inv", "add_pay"):
        try:
            key = sform.add_row(st, do[4:])
        except workflow.NotAllowed as exc:
            db.session.commit()
            return _form_page(st, p, 422, notes=notes, error=str(exc))
        db.session.commit()
        return redirect_to(url_for("enterprise.settlement_edit", st_id=st.id) + f"#{key}")
    if do.startswith("remove:"):
        sform.remove_row(st, do[len("remove:"):])
        db.session.commit()
        return redirect_to(url_for("enterprise.settlement_edit", st_id=st.id))
    if do.startswith("remove_file:") and do[len("remove_file:"):].isdigit():
        sform.remove_other_file(st, int(do[len("remove_file:"):]))
        db.session.commit()
        return redirect_to(url_for("enterprise.settlement_edit", st_id=st.id))
    if is_htmx() and do == "save":
        # A file chosen in the form: only the part around it (and the fields an invoice filled in) is
        # swapped in, never the whole form or a reload, so typing elsewhere meanwhile is kept.
        db.session.commit()
        resp = _form_page(st, p, 422 if p.errors else 200, notes=notes)
        resp.headers["HX-Trigger"] = '{"settlement-saved": true}'  # the checks panel refreshes itself
        return resp
    if p.errors:
        # The well-formed part is kept; the banner says what was saved and what was not, and why.
        db.session.commit()
        return _form_page(st, p, 422, notes=notes, kept=sform.saved_items(p), submitting=do == "submit")
    if do == "submit":
        return _submit(st, p, notes)
    db.session.commit()
    if notes:
        return _form_page(st, sform.from_stored(st), notes=notes)
    flash("草稿已保存", "success")
    return redirect_to(url_for("enterprise.settlement_edit", st_id=st.id))


def _submit(st: Settlement, p: sform.Parsed, notes):
    """Submit inside a savepoint: refused -> the draft as entered is kept, nothing is submitted."""
    try:
        with db.session.begin_nested():
            if not security.claim_nonce(current_user.id, request.form.get("nonce", "")):
                raise flow.Refused("该表单已提交过，请勿重复提交")
            flow.submit(st, current_user)
    except (flow.Refused, workflow.NotAllowed) as exc:
        db.session.commit()
        db.session.refresh(st)
        return _form_page(st, sform.from_stored(st), 422, notes=notes, error=f"草稿已保存，但还不能提交：{exc}")
    db.session.commit()
    flash("兑现申请已提交，等待供应商确认", "success")
    return redirect_to(url_for("enterprise.settlement_detail", st_id=st.id))


@bp.route("/settlements/<int:st_id>/check")
def settlement_check(st_id: int):
    """The automatic checks for what is typed now (htmx, nothing saved)."""
    st = _load(st_id)
    p = sform.parse(st, request.args) if st.status in flow.EDITABLE else sform.from_stored(st)
    return page("enterprise/settlement_form.html", block="checks", oob_rows=True, **_context(st, p))


@bp.route("/settlements/<int:st_id>")
def settlement_detail(st_id: int):
    """One settlement: rows, documents, checks, next step, timeline."""
    from blueprints.core import evaluation, settlement_pages

    st = _load(st_id)
    ctx = settlement_pages.view_context(st, "enterprise", current_user,
                                        actions_template="enterprise/settlement_actions.html",
                                        **evaluation.rating_context(st))  # SUP-3: rate the supplier once approved
    ctx["transitions"] = [t for t in ctx["transitions"] if t.action == "withdraw"]
    return page("settlement_view.html", **ctx)


@bp.route("/settlements/<int:st_id>/withdraw", methods=["POST"])
def settlement_withdraw(st_id: int):
    """Withdraw until the supplier confirms; the first submission time is kept."""
    st = _load(st_id)
    try:
        flow.withdraw(st, current_user)
    except (flow.Refused, workflow.NotAllowed) as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect_to(url_for("enterprise.settlement_detail", st_id=st.id))
    db.session.commit()
    flash("已撤回，可修改后重新提交", "success")
    return redirect_to(url_for("enterprise.settlement_edit", st_id=st.id))


@bp.route("/vouchers/<int:voucher_id>/release", methods=["GET", "POST"])
def voucher_release(voucher_id: int):
    """Give back an unused voucher after a confirmation page (DL-2 decision)."""
    v = get_visible_or_404(Voucher, voucher_id)
    problem = flow.release_problem(v) or (None if flow.release_allowed(current_user)
                                          else workflow.NOT_SIGNATORY_RELEASE)
    counts = flow.release_counts_as_void(v)
    if request.method == "GET" or request.form.get("confirm") != "yes":
        status = 200 if request.method == "GET" else 422
        return page("enterprise/voucher_release.html", status=status, v=v, problem=problem, counts=counts,
                    error=None if request.method == "GET" else "请勾选确认后再放弃")
    try:
        result = flow.release(v, current_user)
    except flow.Refused as exc:
        db.session.rollback()
        return page("enterprise/voucher_release.html", status=422, v=v, problem=str(exc), counts=counts, error=str(exc))
    db.session.commit()
    flash("服务券已作废（按规定计入作废次数）" if result == VoucherStatus.VOID else "服务券已放弃，面值已退回本市发放额度",
          "success")
    return redirect_to(url_for("enterprise.voucher_detail", voucher_id=v.id))
